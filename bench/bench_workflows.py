"""Workflow benchmark: a re-run from a saved plan against the first run it was saved from,
each figure printed with PASS or MISS against its goal.

Runs against the scripted model on 127.0.0.1 with a fixed delay per reply and the real API's
caching rule (a cached prompt prefix is readable only after the response that wrote it), in a
private ENSEMBLE_HOME, at default settings. The first run is realistic: the lead reads the
workbook through a spreadsheet agent, then hands the open invoices to an email agent for the
reminders (two delegations, each after the lead read the results before it), then answers.
The mission is saved as a workflow with the month as its parameter, and run again for another
month: the re-run starts from the saved plan, so the lead's two planning calls are skipped.
Both are measured in the same run (after a warm-up mission: imports, files), and printed:

1. Input tokens (uncached, cache writes and cache reads) of the re-run divided by the first
   run's (goal <= 0.50).
2. Wall time of the re-run divided by the first run's (goal <= 0.70).

Usage: python bench/bench_workflows.py [--delay SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench_engine import make_workspace, verdict

from app.api import ProposedParam, WorkflowParam
from app.engine import Engine
from app.settings import Settings
from app.testing.scripted_model import Conversation, ScriptedModel, text, tool_call

if TYPE_CHECKING:
    from collections.abc import Callable

    from app.journal import ModelCall

INSTRUCTION = "Send a payment reminder to every customer whose {month} invoice in data.xlsx is still open"


def read_task(month: str) -> dict[str, object]:
    return {
        "id": "read",
        "agent": "spreadsheet",
        "instructions": (
            f"READ-TASK: In data.xlsx, sheet Data, find the invoices of {month} that are still open. "
            "List each one with its customer, amount and row."
        ),
    }


def email_task(month: str) -> dict[str, object]:
    return {
        "id": "remind",
        "agent": "email",
        "instructions": (
            f"REMIND-TASK: Write a short, polite payment reminder for each open invoice of {month} "
            "listed in the result you receive: who it is for, the amount and the invoice's row."
        ),
        "depends_on": [],
    }


def script(model: ScriptedModel) -> None:
    """The first run's lead (two delegations, then the answer), a re-run's lead (the answer
    after the saved plan's results), and the two sub-agents both runs share."""
    model.add(
        "invoice in data.xlsx is still open",
        tool_call("delegate", {"tasks": [read_task("2026-11")]}),
        tool_call("delegate", {"tasks": [email_task("2026-11")]}),
        text("Reminders are written for the three open invoices of November."),
    )
    model.add("READ-TASK:", tool_call("sheet_read", {"path": "data.xlsx", "range": "A1:D40"}), text(OPEN))
    model.add("REMIND-TASK:", text(REMINDERS))


def script_rerun(model: ScriptedModel, month: str) -> None:
    """A re-run's lead: its first request already holds the plan's results (turn 1)."""
    rerun = Conversation(
        f"{month} invoice",
        [text("A planning call that must not happen."), text(f"Reminders are written for {month}.")],
    )
    model.conversations.insert(0, rerun)


OPEN = (
    "Open invoices: row 3 (customer row 3, 13.5), row 17 (customer row 17, 433.5) and row 29 "
    "(customer row 29, 1261.5)."
)
REMINDERS = "\n\n".join(
    f"To customer row {r}: Dear customer, our invoice of {r * r * 1.5:.2f} is still open. "
    "We would be grateful if you could pay it within ten days. Kind regards."
    for r in (3, 17, 29)
)


def inputs(calls: list[ModelCall]) -> int:
    """Every input token of a mission's calls: uncached, cache writes and cache reads."""
    return sum(c.input_tokens + c.cache_read_tokens + c.cache_write_tokens for c in calls)


async def timed(engine: Engine, start: Callable[[], str]) -> tuple[float, str]:
    """Starts a mission, waits for it; returns its wall time and id."""
    begun = time.perf_counter()
    mission_id = start()
    outcome = await engine.wait(mission_id)
    if outcome.status != "done":
        raise SystemExit(f"The benchmark mission failed: {outcome.result}")
    return time.perf_counter() - begun, mission_id


async def main(delay: float) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        ScriptedModel(delay=delay, cache_rule="after_response") as model,
    ):
        os.environ.update(
            ENSEMBLE_HOME=str(Path(tmp) / "home"),
            ANTHROPIC_BASE_URL=model.base_url,
            ANTHROPIC_API_KEY="bench",
        )
        workspace = make_workspace(Path(tmp))
        script(model)
        engine = Engine(settings=Settings())
        try:
            # A warm-up with other words: imports and files, so neither measured run pays them.
            warm = INSTRUCTION.replace("{month}", "2026-10")
            await timed(engine, lambda: engine.start_mission(warm, workspaces=[workspace]))
            model.clear_cache()
            first_text = INSTRUCTION.replace("{month}", "2026-11")
            first_wall, first_id = await timed(
                engine, lambda: engine.start_mission(first_text, workspaces=[workspace])
            )
            month = WorkflowParam(name="month", default="2026-11", description="The month to chase")
            engine.save_mission_as_workflow(
                first_id, "Payment reminders", [ProposedParam(param=month, value="2026-11")]
            )
            script_rerun(model, "2026-12")
            model.clear_cache()
            again_wall, again_id = await timed(
                engine, lambda: engine.run_workflow("Payment reminders", {"month": "2026-12"})
            )
            first_calls = engine.journal.model_calls(first_id)
            again_calls = engine.journal.model_calls(again_id)
            run = engine.workflow_run_of(again_id)
        finally:
            await engine.close()
    if model.failures:
        raise SystemExit(f"The scripted model could not answer: {model.failures}")
    tokens = inputs(again_calls) / inputs(first_calls)
    wall = again_wall / first_wall
    print(
        f"Scripted model delay per reply: {delay * 1000:.0f} ms; real caching rule (a prefix is "
        "readable after the response that wrote it); default settings"
    )
    print(
        f"First run: {len(first_calls)} model calls, {inputs(first_calls):,} input tokens, "
        f"{first_wall:.3f} s. Re-run from the saved plan ({run.plan if run else '?'}): "
        f"{len(again_calls)} model calls, {inputs(again_calls):,} input tokens, {again_wall:.3f} s."
    )
    for label, calls in (("first run", first_calls), ("re-run", again_calls)):
        per_agent: dict[str, list[int]] = {}
        for call in calls:
            per_agent.setdefault(call.agent, []).append(inputs([call]))
        parts = "; ".join(f"{agent} {sum(v):,} in {len(v)} call(s)" for agent, v in per_agent.items())
        print(f"   Input tokens of the {label} by agent: {parts}")
    print(f"1. Input tokens, re-run / first run: {tokens:.2f} (goal <= 0.50) {verdict(tokens <= 0.50)}")
    print(f"2. Wall time, re-run / first run: {wall:.2f} (goal <= 0.70) {verdict(wall <= 0.70)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--delay", type=float, default=0.25, help="seconds per scripted reply")
    asyncio.run(main(parser.parse_args().delay))
