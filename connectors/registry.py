"""The registry of agent kinds: each connector package declares one, and the engine finds it.

A package under ``connectors/`` that defines ``AGENT: AgentKind`` in its ``__init__`` is an
agent kind the lead can delegate to. Adding a kind (a calendar agent, say) is adding that
package, its prompt file in ``resources/prompts`` and its tests: nothing in the engine or the
window names it.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from pydantic import BaseModel

    from connectors.base import PreviewDetail, Tool


@dataclass(frozen=True)
class AgentKind:
    """A kind of sub-agent, declared by its connector package.

    Attributes:
        name: What the lead calls it in ``delegate`` (``"spreadsheet"``).
        description: One or two sentences for the lead: what this agent can do.
        prompt: The file name of its system prompt in ``resources/prompts``.
        tools: Its tools; the only tools it can call.
        on_mission_end: Releases what the connector holds for a mission (a browser context,
            mailbox connections), given the mission's id.
        previews: The typed preview details its tools render, one model per kind (a client
            maps each kind to a widget and falls back to a generic one for any other).
        settings: Its section of the settings file, as a pydantic model, if it has one.
        account: The account type it works with (an email account), if any.
    """

    name: str
    description: str
    prompt: str
    tools: tuple[Tool[Any], ...]
    on_mission_end: Callable[[str], Awaitable[None]] | None = None
    previews: tuple[type[PreviewDetail], ...] = field(default=())
    settings: type[BaseModel] | None = None
    account: type[BaseModel] | None = None

    def tool(self, name: str) -> Tool[Any] | None:
        """The tool of that name, or None."""
        return next((t for t in self.tools if t.name == name), None)


@cache
def registry() -> dict[str, AgentKind]:
    """Every agent kind, by name, found among the ``connectors`` packages."""
    import connectors

    kinds: dict[str, AgentKind] = {}
    for module_info in pkgutil.iter_modules(connectors.__path__):
        if module_info.name.startswith("_") or module_info.name in ("base", "registry"):
            continue
        module = importlib.import_module(f"connectors.{module_info.name}")
        kind = getattr(module, "AGENT", None)
        if isinstance(kind, AgentKind):
            kinds[kind.name] = kind
    return dict(sorted(kinds.items()))


def find_tool(name: str) -> Tool[Any] | None:
    """The tool of that name in any agent kind, or None."""
    for kind in registry().values():
        found = kind.tool(name)
        if found is not None:
            return found
    return None


def preview_model(kind: str) -> type[PreviewDetail]:
    """The model of a preview kind, declared by some agent kind; the generic one if none is.

    Args:
        kind: The preview's kind, as a :class:`~connectors.base.Preview` carries it.
    """
    from connectors.base import GenericDetail, TextDetail

    if kind == TextDetail.kind:
        return TextDetail
    for agent in registry().values():
        for model in agent.previews:
            if model.kind == kind:
                return model
    return GenericDetail
