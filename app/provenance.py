"""Where the values of an external action came from: the person, or content from outside.

Text from web pages, email bodies and attachments reaches the model inside
``<external_content>`` markers (see :func:`connectors.base.untrusted`). A stranger's text can
ask the model to send something to the stranger's address. So before an external action is
decided, its addresses and hosts are looked up: one that appears in outside content but in
none of the trusted sources (the mission, the person's messages, and tool results outside
the markers, such as message headers, the account's own address or the workspace's files)
was learned only from a stranger, and the action goes to the person, whatever the rules say.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from app.journal import Journal

_EMAIL = re.compile(r"[\w.+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_URL_HOST = re.compile(r"(?i)\b(?:https?|ftp)://([^/\s:?#\"'<>]+)")
_BLOCK = re.compile(r"<external_content\b[^>]*>(.*?)</external_content>", re.DOTALL)


def entities(text: str) -> set[str]:
    """The email addresses and URL hosts in a text, lower-cased."""
    found = {m.group(0).lower().rstrip(".") for m in _EMAIL.finditer(text)}
    found |= {m.group(1).lower().rstrip(".") for m in _URL_HOST.finditer(text)}
    return found


def _leaves(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)


@dataclass(frozen=True)
class Suspicion:
    """Values of an action that only outside content supplied, and the sentence that says so."""

    values: tuple[str, ...]

    @property
    def reason(self) -> str:
        """What the approval card says."""
        listed = ", ".join(self.values)
        return (
            f"{listed} appears only in content from outside (an email or a web page), not in "
            "anything you wrote or chose, so Ensemble asks you, whatever the rules say."
        )


def check(journal: Journal, mission_id: str, arguments: dict[str, Any]) -> Suspicion | None:
    """Looks up where an external action's addresses and hosts came from.

    Args:
        journal: The journal, for the mission's text, chat and tool results.
        mission_id: The mission.
        arguments: The action's arguments.

    Returns:
        A :class:`Suspicion` when some value was learned only from outside content, else None.
    """
    wanted = set().union(*(entities(leaf) for leaf in _leaves(arguments)))
    if not wanted:
        return None
    trusted: set[str] = set()
    untrusted: set[str] = set()
    mission = journal.mission(mission_id)
    if mission is not None:
        trusted |= entities(mission.text)
    for message in journal.chat(mission_id):
        if message.role == "user":
            trusted |= entities(message.text)
    for call in journal.tool_calls(mission_id):
        # The lead's own tools carry agents' words (a sub-agent's summary may repeat what a
        # page said), never a source: the person's answers to ask_user are in the chat.
        if not call.result or call.agent == "lead":
            continue
        text = _decoded(call.result)
        for block in _BLOCK.finditer(text):
            untrusted |= entities(block.group(1))
        trusted |= entities(_BLOCK.sub(" ", text))
    learned_outside = sorted(v for v in wanted if v in untrusted and v not in trusted)
    return Suspicion(tuple(learned_outside)) if learned_outside else None


def _decoded(result: str) -> str:
    """A tool result as text: JSON results are decoded so escaped markers are found too."""
    try:
        value = json.loads(result)
    except ValueError:
        return result
    return "\n".join(_leaves(value)) if isinstance(value, (dict, list)) else result
