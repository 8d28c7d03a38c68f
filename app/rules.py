"""Rules a person can read: standing decisions on proposed actions.

A rule allows (``approve_all``) or denies (``reject_all``) the actions of one tool, or of
every tool, optionally only where arguments match shell-style patterns (``to`` matches
``*@example.com``), for one mission or for all. A deny beats an allow. Each rule reads as a
sentence, e.g. "Always allow sending email where to matches *@example.com".
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Iterable


class Rule(Protocol):
    """What deciding needs of a rule: the journal's row (:class:`app.journal.Rule`), or the
    Temporal workflow's copy of it (:mod:`app.temporal`), which has no journal."""

    @property
    def kind(self) -> str: ...
    @property
    def mission_id(self) -> str | None: ...
    @property
    def tool(self) -> str | None: ...
    @property
    def conditions_json(self) -> str: ...


class ProposedAction(Protocol):
    """What deciding needs of a proposed action (the journal's row, or the workflow's card)."""

    @property
    def mission_id(self) -> str: ...
    @property
    def tool(self) -> str: ...
    @property
    def arguments_json(self) -> str: ...
    @property
    def edited_arguments_json(self) -> str | None: ...


RuleT = TypeVar("RuleT", bound=Rule)

RULE_VERBS = {"approve_all": "Always allow", "reject_all": "Never allow"}

_WHAT = {
    None: "any action",
    "sheet_write": "writes to workbooks",
    "sheet_append_rows": "adding rows to workbooks",
    "sheet_create": "creating workbooks",
    "email_send": "sending email",
    "email_draft": "saving email drafts",
    "email_move": "moving email",
    "email_mark": "marking email",
    "email_save_attachment": "saving email attachments",
    "browser_request": "submissions on web pages",
    "browser_download": "downloads from web pages",
    "browser_visit": "visits to new web sites",
}


def describe(kind: str, tool: str | None, where: dict[str, str], mission_id: str | None) -> str:
    """The sentence a person reads for a rule.

    Args:
        kind: ``approve_all`` or ``reject_all``.
        tool: The tool it covers, or None for every tool.
        where: Argument name → pattern; every one must match.
        mission_id: The mission it is limited to, or None.
    """
    what = _WHAT.get(tool, f"{tool} actions")
    text = f"{RULE_VERBS.get(kind, kind)} {what}"
    if where:
        text += " where " + " and ".join(f"{arg} matches {pattern}" for arg, pattern in where.items())
    if mission_id:
        text += " in this mission"
    return text


def conditions(rule: Rule) -> dict[str, str]:
    """A rule's argument patterns."""
    value: dict[str, str] = json.loads(rule.conditions_json or "{}")
    return value


@lru_cache(maxsize=4096)
def _patterns(conditions_json: str) -> tuple[tuple[str, str], ...]:
    """A rule's argument patterns, lower-cased, decoded once per distinct text: the gate matches
    every rule that may apply before each decision."""
    value: dict[str, str] = json.loads(conditions_json or "{}")
    return tuple((name, str(pattern).lower()) for name, pattern in value.items())


def _values(arguments: dict[str, Any], name: str) -> list[str] | None:
    value = arguments.get(name)
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    return [str(item) for item in items]


def matches(rule: Rule, action: ProposedAction) -> bool:
    """Whether a rule covers an action: its mission, its tool and every pattern.

    A list argument (several recipients) matches an allow only if every item matches, and a
    deny if any item does, so a rule never lets through more than it says.
    """
    return _covers(rule, action, None)


def _arguments(action: ProposedAction) -> dict[str, Any]:
    """The arguments an action would run with (the person's edit, if any)."""
    arguments: dict[str, Any] = json.loads(action.edited_arguments_json or action.arguments_json)
    return arguments


def _covers(rule: Rule, action: ProposedAction, arguments: dict[str, Any] | None) -> bool:
    """:func:`matches`, with the action's arguments decoded once by the caller (or here)."""
    if rule.kind not in RULE_VERBS:
        return False
    if rule.mission_id is not None and rule.mission_id != action.mission_id:
        return False
    if rule.tool is not None and rule.tool != action.tool:
        return False
    patterns = _patterns(rule.conditions_json)
    if not patterns:
        return True
    if arguments is None:
        arguments = _arguments(action)
    for name, pattern in patterns:
        values = _values(arguments, name)
        if not values:
            return False
        hits = [fnmatchcase(v.lower(), pattern) for v in values]
        if not (any(hits) if rule.kind == "reject_all" else all(hits)):
            return False
    return True


def deciding_rule(rules: Iterable[RuleT], action: ProposedAction) -> RuleT | None:
    """The rule that decides an action: a matching deny first, else a matching allow.

    The rules are in order (a mission's own, then every mission's, each by age): the first
    matching deny wins, else the first matching allow. The action's arguments are decoded
    once, however many rules there are.
    """
    arguments = _arguments(action)
    allow: RuleT | None = None
    for rule in rules:
        if rule.kind == "reject_all":
            if _covers(rule, action, arguments):
                return rule
        elif allow is None and _covers(rule, action, arguments):
            allow = rule
    return allow
