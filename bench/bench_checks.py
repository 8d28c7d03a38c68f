"""Checking benchmark: what the lead's checks of its tasks' results cost in tokens, printed with
PASS or MISS against its goal.

Runs the demo mission (read the workbook, read the supplier portal, draft three reminders,
note them in the workbook: four tasks, two of which change something) on its scripted model, in
a private ENSEMBLE_HOME, at default settings, every card approved by rule, twice in the same
run: with checks (``Settings.checks``, the default) and without. With checks, the two tasks
that changed something are each checked by a checking turn that reads back what the task did
(the Drafts folder, the workbook's reminder column) and then gives its verdict, as a model
would; the two tasks that only read are not checked. The demo's script holds those checking
turns (:func:`app.demo.demo_model`): their verdicts are computed from what the reads really
return. Prints:

1. Tokens of the mission (every model call's input, cache and output tokens) with checks
   divided by without (goal <= 1.20), with each check's verdict and tokens.

Usage: python bench/bench_checks.py
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_engine import verdict

from app import demo
from app.api.events import TaskChecked
from app.engine import Engine
from app.gate import Decision
from app.settings import Settings

if TYPE_CHECKING:
    import datetime as dt

    from app.testing.scripted_model import ScriptedModel

GOAL = 1.20


def without_delay(make: Any) -> Any:
    """The demo's script as it ships (its checking turns included), answering at once."""

    def demo_model(portal: str, workbook: Path, today: dt.date) -> ScriptedModel:
        model: ScriptedModel = make(portal, workbook, today)
        model.delay = 0.0
        return model

    return demo_model


async def run_demo(checks: bool) -> tuple[int, str, list[TaskChecked]]:
    """Runs the demo mission once; returns its tokens, status and checks."""
    engine = Engine(settings=Settings(checks=checks))
    # The demo proposes remembering its signature, a card no rule decides: the person approves
    # it here, once (the warm-up run); later runs remember it and do not ask again.
    loop = asyncio.get_running_loop()
    engine.subscribe(
        lambda e: (
            loop.call_soon(engine.decide, str(e.data["action_id"]), Decision.approve())
            if e.kind == "action_proposed" and e.data.get("tool") == "remember"
            else None
        )
    )
    try:
        mission_id = engine.start_demo(approve="all")
        outcome = await engine.wait(mission_id)
        mission = engine.journal.mission(mission_id)
        assert mission is not None
        found = [e for e in engine.mission_events(mission_id) if isinstance(e, TaskChecked)]
        return mission.tokens, outcome.status, found
    finally:
        await engine.close()


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(ENSEMBLE_HOME=str(Path(tmp) / "home"))
        demo.demo_model = without_delay(demo.demo_model)  # type: ignore[assignment]
        await run_demo(checks=False)  # warm-up: imports, the browser, files
        without, status_off, _ = await run_demo(checks=False)
        with_, status_on, found = await run_demo(checks=True)
    print("The demo mission, with and without the lead's checks")
    print(f"  without checks: {without:,} tokens ({status_off})")
    print(f"  with checks:    {with_:,} tokens ({status_on})")
    for check in found:
        print(f"    {check.key}: {check.verdict}, {check.tokens:,} tokens; {check.findings}")
        for line in check.evidence:
            print(f"      - {line}")
    ratio = with_ / without
    ok = ratio <= GOAL and status_on == status_off == "done"
    print(f"1. Tokens with checks / without: {ratio:.3f} (goal <= {GOAL:.2f}) {verdict(ok)}")


if __name__ == "__main__":
    asyncio.run(main())
