"""The one error base every client catches, kept light so the command line loads fast.

Every failure the engine, its connectors or its settings report to a person derives from
:class:`EnsembleError`, and its message is written for that person: what went wrong and what
to do. The command line prints it; the window shows it. A client catches this one class, never
a list of modules' own exceptions.
"""

from __future__ import annotations


class EnsembleError(Exception):
    """Something Ensemble cannot do, with a message a person can act on."""


class EngineError(EnsembleError):
    """A request the engine cannot carry out (unknown mission, nothing to undo…)."""
