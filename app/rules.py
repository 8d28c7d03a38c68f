"""Rules a person can read: standing decisions on proposed actions.

A rule allows (``approve_all``) or denies (``reject_all``) the actions of one tool, or of
every tool, optionally only where arguments match shell-style patterns (``to`` matches
``*@example.com``), for one mission or for all. A deny beats an allow. Each rule reads as a
sentence, e.g. "Always allow sending email where to matches *@example.com".
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from app.journal import ProposedAction, Rule

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
    if rule.kind not in RULE_VERBS:
        return False
    if rule.mission_id is not None and rule.mission_id != action.mission_id:
        return False
    if rule.tool is not None and rule.tool != action.tool:
        return False
    arguments: dict[str, Any] = json.loads(action.edited_arguments_json or action.arguments_json)
    for name, pattern in conditions(rule).items():
        values = _values(arguments, name)
        if not values:
            return False
        hits = [fnmatchcase(v.lower(), pattern.lower()) for v in values]
        if not (any(hits) if rule.kind == "reject_all" else all(hits)):
            return False
    return True


def deciding_rule(rules: Iterable[Rule], action: ProposedAction) -> Rule | None:
    """The rule that decides an action: a matching deny first, else a matching allow."""
    matching = [rule for rule in rules if matches(rule, action)]
    denies = [rule for rule in matching if rule.kind == "reject_all"]
    chosen = denies or matching
    return chosen[0] if chosen else None
