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
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from connectors.base import PreviewDetail, Tool


class Account(BaseModel):
    """An account a connector works with (a mailbox, a CalDAV server), without its password.

    An agent kind declares its account type as a subclass (:attr:`AgentKind.account`); the
    engine's side stores every account in the settings, the password in the system keyring
    (entry ``account:<name>``), and hands each kind its chosen account in the mission's
    options (``ToolContext.extra[kind]["account"]``), never naming the kind itself.

    A subclass declares the fields ``name`` (unique among all accounts) and ``default``
    (``bool``), and a ``kind`` field whose ``Literal`` values no other account type uses: the
    settings file tells the types apart by it.

    Attributes:
        label: How messages name the type (``"email"``, ``"calendar"``).
    """

    label: ClassVar[str] = "account"

    if TYPE_CHECKING:
        # Declared by every subclass as pydantic fields; here only for the type checker.
        name: str
        default: bool

    def needs_password(self) -> bool:
        """Whether it logs in with a password from the keyring (a local mailbox does not)."""
        return True

    def where(self) -> str:
        """Where it is, in one line for ``ensemble account list`` (``"imap.example.com:993 ..."``)."""
        return ""

    def check(self, password: str) -> list[str]:
        """Logs in (or opens its files) and changes nothing; blocking.

        Args:
            password: Its password from the keyring ("" when none is needed).

        Returns:
            One sentence per server saying what worked.

        Raises:
            connectors.base.ToolError: What failed, and what to check.
        """
        raise NotImplementedError(f"{type(self).__name__} does not say how to test it.")


@dataclass(frozen=True)
class HeldAction:
    """A kind of action a tool proposes from inside its call, not a tool of its own (the
    browser holds a page's form post as a ``browser_request``).

    Attributes:
        name: The action's kind, as cards and rules name it (``"browser_request"``).
        title: What it does for a person, a short verb phrase ("Submit a form on a site").
        effect: ``local`` or ``external``.
        fields: The names of its arguments a rule may match (``"url"``).
    """

    name: str
    title: str
    effect: str
    fields: tuple[str, ...] = ()


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
        account: The account type it works with (an email account), if any: see
            :class:`Account`.
        held: The kinds of action its tools propose from inside a call: see :class:`HeldAction`.
    """

    name: str
    description: str
    prompt: str
    tools: tuple[Tool[Any], ...]
    on_mission_end: Callable[[str], Awaitable[None]] | None = None
    previews: tuple[type[PreviewDetail], ...] = field(default=())
    settings: type[BaseModel] | None = None
    account: type[Account] | None = None
    held: tuple[HeldAction, ...] = field(default=())

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


def action_title(name: str) -> str:
    """What an action of that tool (or held kind) does, for a person: its declared title, or
    its name in words (:func:`connectors.base.tool_title`)."""
    from connectors.base import tool_title

    found = find_tool(name)
    if found is not None:
        return tool_title(name, found.title)
    held = next((h for k in registry().values() for h in k.held if h.name == name), None)
    return tool_title(name, held.title if held is not None else "")


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
