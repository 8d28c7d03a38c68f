"""Decisions made in another process than the one whose mission waits for them.

``ensemble service`` runs scheduled missions with no window; their cards wait in that
process's gate. ``ensemble decide`` (or any other process) leaves the person's decision in the
journal's ``decisionrequest`` table, and the process that runs the mission takes it within a
second (:meth:`app.engine.Engine.take_requested_decisions`), through its gate, as if the person
had clicked: the gate's checks and its audit are the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import col, select

from app.journal import DecisionRequest, utcnow

if TYPE_CHECKING:
    from app.journal import Journal


def leave(journal: Journal, action_id: str, kind: str, reason: str | None) -> None:
    """Records a decision for the process that runs the action's mission to take."""
    journal.add(DecisionRequest(action_id=action_id, kind=kind, reason=reason))


def take(journal: Journal, action_ids: list[str]) -> list[DecisionRequest]:
    """The decisions left for these actions and not taken yet, oldest first; marks them taken."""
    if not action_ids:
        return []
    with journal.session() as session:
        rows = list(
            session.exec(
                select(DecisionRequest)
                .where(
                    col(DecisionRequest.action_id).in_(action_ids), col(DecisionRequest.taken_at).is_(None)
                )
                .order_by(col(DecisionRequest.id))
            ).all()
        )
        for row in rows:
            row.taken_at = utcnow()
            session.add(row)
    return rows
