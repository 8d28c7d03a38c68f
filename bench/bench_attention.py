"""Attention benchmark: decisions asked of the person per mission.

Runs, against the scripted model on 127.0.0.1 in a private ENSEMBLE_HOME, with a "person"
who answers every question the way the window lets them (a batch card in one decision, a lone
card in one), and prints for each mission the decisions asked (a batch decided at once counts
as one), the cards they covered, and the decisions the same mission would have asked one card
at a time:

1. The demo mission (``ensemble demo``): three reminders drafted in one turn, three notes
   written in the workbook in one turn.
2. A twelve-draft mission: an email agent drafts twelve reminders in one turn (goal: at most
   2 batch decisions for the twelve drafts).

Each line ends with PASS or MISS against its goal.

Usage: python bench/bench_attention.py
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.api import ActionProposed, AnyEvent, DecisionSummary
    from app.engine import Engine

TWELVE = "Draft the twelve payment reminders to bob@example.test"


class Person:
    """Decides a turn's cards as the window shows them: a batch at once, a lone card alone."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.held: dict[str, list[ActionProposed]] = {}
        self.loop = asyncio.get_running_loop()

    def on_event(self, event: AnyEvent) -> None:
        from app.api import ActionProposed

        if not isinstance(event, ActionProposed):
            return
        if event.batch is None or event.batch_size <= 1:
            self.loop.call_soon(self._decide, [event])
            return
        batch = self.held.setdefault(event.batch, [])
        batch.append(event)
        if len(batch) >= event.batch_size:
            self.loop.call_soon(self._decide, self.held.pop(event.batch))

    def _decide(self, events: list[ActionProposed]) -> None:
        from app.api import ActionInfo, batches
        from app.engine import Decision

        waiting = {a.id for a in self.engine.waiting()}
        for group in batches(ActionInfo.proposed(e) for e in events if e.action_id in waiting):
            if len(group) == 1:
                self.engine.decide(group[0].id, Decision.approve())
            else:
                self.engine.decide_batch([(a.id, Decision.approve()) for a in group])


async def demo_mission() -> DecisionSummary:
    from app.engine import Engine

    engine = Engine()
    person = Person(engine)
    engine.subscribe_events(person.on_event)
    try:
        outcome = await engine.wait(engine.start_demo())
        assert outcome.status == "done", outcome.result
        return engine.decision_summary(outcome.mission_id)
    finally:
        await engine.close()


async def twelve_drafts(folder: Path) -> DecisionSummary:
    from app.api import MissionSpec
    from app.engine import Engine
    from app.testing.scripted_model import ScriptedModel, text, tool_call, tool_calls

    model = ScriptedModel()
    model.add(
        TWELVE,
        tool_call(
            "delegate", {"tasks": [{"id": "drafts", "agent": "email", "instructions": "DRAFT-TASK: twelve"}]}
        ),
        text("The reminders are in Drafts."),
    )
    calls: list[tuple[str, dict[str, Any]]] = [
        (
            "email_draft",
            {"to": ["bob@example.test"], "subject": f"Reminder {n}", "body": f"Invoice {n} is due."},
        )
        for n in range(1, 13)
    ]
    model.add("DRAFT-TASK", tool_calls(*calls), text("Saved the twelve drafts."))
    model.start()
    options = {
        "email": {
            "account": {
                "name": "bench",
                "kind": "maildir",
                "address": "me@bench.example",
                "path": str(folder / "mail"),
            }
        },
        "endpoint": {"base_url": model.base_url, "model": "bench", "api_key": "bench", "max_retries": 0},
    }
    engine = Engine()
    person = Person(engine)
    engine.subscribe_events(person.on_event)
    try:
        mission_id = engine.start(
            MissionSpec(instruction=TWELVE, workspaces=[str(folder)], approval="ask", options=options)
        )
        outcome = await engine.wait(mission_id)
        assert outcome.status == "done", outcome.result
        return engine.decision_summary(outcome.mission_id)
    finally:
        await engine.close()
        model.stop()


def line(name: str, summary: DecisionSummary, goal: int | None) -> str:
    verdict = "" if goal is None else ("  PASS" if summary.asked <= goal else "  MISS")
    target = "" if goal is None else f" (goal <= {goal})"
    return (
        f"{name}: decisions asked: {summary.asked}{target}, for {summary.by_person} cards "
        f"(batch decisions: {summary.batches}); one card at a time it was: {summary.by_person}; "
        f"by rules: {summary.by_rule}{verdict}"
    )


async def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        os.environ["ENSEMBLE_HOME"] = home
        demo = await demo_mission()
        folder = Path(home) / "twelve"
        folder.mkdir()
        twelve = await twelve_drafts(folder)
    print(line("1. Demo mission", demo, None))
    print(line("2. Twelve-draft mission", twelve, 2))


if __name__ == "__main__":
    asyncio.run(main())
