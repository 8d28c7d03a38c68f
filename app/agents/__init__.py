"""The engine's view of the agent kinds: the connectors' registry and the prompts' text.

Each kind is declared by its connector package (see :mod:`connectors.registry`); its system
prompt is a file in ``resources/prompts``.
"""

from __future__ import annotations

from importlib import resources

from connectors.registry import AgentKind, find_tool, registry

__all__ = ["AgentKind", "find_tool", "prompt_text", "registry", "system_prompt"]


def prompt_text(name: str) -> str:
    """Reads a prompt file from ``resources/prompts``."""
    return resources.files("resources").joinpath("prompts", name).read_text(encoding="utf-8")


def system_prompt(kind: AgentKind) -> str:
    """An agent kind's system prompt."""
    return prompt_text(kind.prompt)
