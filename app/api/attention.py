"""The person's attention: similar cards as one batch, ordered by consequence, and what was asked.

A mission that drafts twelve emails in one turn proposes twelve similar actions at once. A
client (the window, the command line) shows them as one batch: the waiting actions of one
mission with the same tool (:func:`batches`), the batches and their items ordered by
consequence (what reaches outside before what changes files here; what cannot be taken back
first), each with a one-line summary of what it does (:func:`batch_summary`). The person
decides a batch in one step (:meth:`app.engine.Engine.decide_batch`); the audit records each
decision with who took it, how long it waited (``seconds``) and the batch it was part of, and
:func:`decision_summary` counts what a mission asked of the person.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from app.api.events import AnyEvent
    from app.api.models import ActionInfo

_RANK = {"external": 0, "local": 1}
"""Lower first: what reaches outside (cannot be taken back) before what changes files here."""


def consequence_rank(effect: str) -> int:
    """How early an action of this effect is shown: 0 for ``external``, 1 for ``local``."""
    return _RANK.get(effect, 2)


def batches(actions: Iterable[ActionInfo]) -> list[list[ActionInfo]]:
    """The waiting actions as batches: one per mission and tool, ordered by consequence.

    Args:
        actions: Waiting actions, in the order they were proposed.

    Returns:
        Lists of actions (one list per mission and tool; a list of one is a lone card).
        Batches that reach outside or must be confirmed by the person come first, then the
        rest in the order they were first proposed; within a batch, the proposal order (the
        order the agent asked for them, the order they will run).
    """
    groups: dict[tuple[str, str], list[ActionInfo]] = {}
    for action in actions:
        groups.setdefault((action.mission_id, action.tool), []).append(action)
    ordered = list(groups.values())
    ordered.sort(key=lambda group: consequence_rank(group[0].effect))
    return ordered


def batch_summary(actions: Sequence[ActionInfo], *, shown: int = 3) -> str:
    """One line saying what a batch does, e.g. ``Draft an email (12): To a@x: Invoice; …``.

    Args:
        actions: The batch's actions (one tool).
        shown: How many of their own summaries to name before "and N more".
    """
    if not actions:
        return ""
    title = actions[0].title or actions[0].tool
    # Actions whose own summaries are the same ("Write 1 cell in Invoices of invoices.xlsx")
    # are named once, with how many and where each goes, rather than repeated word for word.
    alike: dict[str, list[ActionInfo]] = {}
    for action in actions:
        alike.setdefault(action.preview.summary or action.title, []).append(action)
    names = [_alike(name, group) for name, group in list(alike.items())[:shown]]
    more = len(actions) - sum(len(group) for group in list(alike.values())[:shown])
    text = "; ".join(names) + (f"; and {more} more" if more > 0 else "")
    return f"{title} ({len(actions)}): {text}" if len(actions) > 1 else f"{title}: {text}"


def _alike(name: str, group: Sequence[ActionInfo]) -> str:
    """One summary that several actions share: "…, 3 times (H8, H10, H12)"."""
    said = _clip(name, 60)
    if len(group) == 1:
        return said
    places = [a.arguments.get("range") for a in group]
    where = ", ".join(str(p) for p in places[:6]) + (", …" if len(places) > 6 else "")
    shown = f" ({where})" if all(isinstance(p, str) and p for p in places) else ""
    return f"{said}, {len(group)} times{shown}"


def _clip(text: str, size: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 1] + "…"


_STOPPED = "stopped by user"
"""The reason the engine gives the cards a stopped mission leaves undecided."""


class DecisionSummary(BaseModel):
    """What a mission asked of the person.

    Attributes:
        asked: The decisions the person took: one per lone card, one per batch decided at
            once (however many actions it held).
        by_person: The actions the person decided.
        by_rule: The actions a rule decided without asking.
        batches: The batch decisions among ``asked``.
        seconds: The person's time to decide, summed over ``asked`` (for a batch, its
            longest wait: the cards waited together).
    """

    model_config = ConfigDict(frozen=True)

    asked: int = 0
    by_person: int = 0
    by_rule: int = 0
    batches: int = 0
    seconds: float = 0.0


def decision_summary(events: Iterable[AnyEvent]) -> DecisionSummary:
    """Counts a mission's decisions from its audit (its ``action_decided`` events)."""
    from app.api.events import ActionDecided

    by_person = by_rule = 0
    waits: dict[str, float] = {}  # one decision (a batch's id, or a lone action's) -> seconds
    in_batch: set[str] = set()
    for event in events:
        if not isinstance(event, ActionDecided):
            continue
        if event.decided_by != "person":
            by_rule += 1
            continue
        if event.reason == _STOPPED:
            continue  # rejected by Stop, not asked
        by_person += 1
        batch = getattr(event, "batch", None)
        key = str(batch) if batch else event.action_id
        if batch:
            in_batch.add(key)
        seconds = float(getattr(event, "seconds", None) or 0.0)
        waits[key] = max(waits.get(key, 0.0), seconds)
    return DecisionSummary(
        asked=len(waits),
        by_person=by_person,
        by_rule=by_rule,
        batches=len(in_batch),
        seconds=round(sum(waits.values()), 3),
    )


SUGGEST_AFTER = 5
"""Identical approvals by the person in one mission after which a rule is offered."""


def rule_target(effect: str, arguments: dict[str, Any]) -> str | None:
    """What a rule offered after identical approvals would be about: the workspace file a
    ``local`` action changes (its ``path``), or None. Never a destination: an address or a
    site may come from a tool result, and a rule must not vouch for it."""
    path = arguments.get("path")
    if effect != "local" or not isinstance(path, str) or not path.strip():
        return None
    return path
