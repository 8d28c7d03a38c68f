"""Errors the engine reports to its clients, kept light so the command line loads fast."""

from __future__ import annotations


class EngineError(Exception):
    """A request the engine cannot carry out (unknown mission, nothing to undo…)."""
