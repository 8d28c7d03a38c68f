"""Agent kinds the lead can delegate to. Each kind is one module in this package.

A module here defines ``AGENT: AgentKind``: its name, a line the lead reads to choose it,
its system prompt (a file in ``resources/prompts``), and its connector's tools. Modules are
found by name, so adding a kind means adding one module.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from connectors.base import Tool


@dataclass(frozen=True)
class AgentKind:
    """A kind of sub-agent.

    Attributes:
        name: What the lead calls it in ``delegate`` (``"spreadsheet"``).
        description: One or two sentences for the lead: what this agent can do.
        prompt: The file name of its system prompt in ``resources/prompts``.
        tools: Its connector's tools; the only tools it can call.
    """

    name: str
    description: str
    prompt: str
    tools: tuple[Tool[Any], ...]
    on_mission_end: Callable[[str], Awaitable[None]] | None = None
    """Releases what the connector holds for a mission (a browser context), given its id."""

    @property
    def system_prompt(self) -> str:
        """The system prompt's text."""
        return prompt_text(self.prompt)

    def tool(self, name: str) -> Tool[Any] | None:
        """The tool of that name, or None."""
        return next((t for t in self.tools if t.name == name), None)


def prompt_text(name: str) -> str:
    """Reads a prompt file from ``resources/prompts``."""
    return resources.files("resources").joinpath("prompts", name).read_text(encoding="utf-8")


@cache
def registry() -> dict[str, AgentKind]:
    """Every agent kind, by name, found among this package's modules."""
    kinds: dict[str, AgentKind] = {}
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        kind = getattr(module, "AGENT", None)
        if isinstance(kind, AgentKind):
            kinds[kind.name] = kind
    return kinds


def find_tool(name: str) -> Tool[Any] | None:
    """The tool of that name in any agent kind, or None."""
    for kind in registry().values():
        found = kind.tool(name)
        if found is not None:
            return found
    return None
