"""The loop detector stops an agent going round in circles, never one doing real work.

Before, the third identical call anywhere in a task stopped it, so reading the same range
between writes (or ``browser_snapshot {}`` on three pages) failed the task. A loop is the same
call giving the same result, with no other call in between, three times in a row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.engine import Engine
from app.settings import Settings
from app.testing.scripted_model import ScriptedModel, text, tool_call

if TYPE_CHECKING:
    from pathlib import Path

READ = {"path": "invoices.xlsx", "sheet": "Invoices", "range": "E2:E3"}


def write(value: str) -> dict[str, object]:
    return {"path": "invoices.xlsx", "sheet": "Invoices", "range": "E2", "values": [[value]]}


async def run(scripted: ScriptedModel, workspace: Path, mission: str, *steps: object) -> tuple[str, str]:
    scripted.add(
        mission,
        tool_call(
            "delegate",
            {"tasks": [{"id": "t", "agent": "spreadsheet", "instructions": f"LOOP-TASK {len(mission)}"}]},
        ),
        text("Finished."),
    )
    scripted.add(f"LOOP-TASK {len(mission)}", *steps, text("All done."))  # type: ignore[arg-type]
    engine = Engine(settings=Settings())
    try:
        outcome = await engine.run_mission(mission, workspaces=[workspace], approve="all")
        (task,) = engine.journal.tasks(outcome.mission_id)
    finally:
        await engine.close()
    assert outcome.status == "done", outcome.result
    return task.status, task.reason or ""


async def test_reading_the_same_range_between_writes_is_work(
    scripted: ScriptedModel, workspace: Path
) -> None:
    status, reason = await run(
        scripted,
        workspace,
        "Update the statuses",
        tool_call("sheet_read", READ),
        tool_call("sheet_write", write("late")),
        tool_call("sheet_read", READ),
        tool_call("sheet_write", write("chased")),
        tool_call("sheet_read", READ),
        tool_call("sheet_read", {**READ, "range": "A1:E6"}),
        tool_call("sheet_read", READ),
    )
    assert status == "done", reason


async def test_the_same_call_with_the_same_result_three_times_in_a_row_is_a_loop(
    scripted: ScriptedModel, workspace: Path
) -> None:
    status, reason = await run(
        scripted,
        workspace,
        "Look at the statuses again",
        tool_call("sheet_read", READ),
        tool_call("sheet_read", READ),
        tool_call("sheet_read", READ),
        tool_call("sheet_read", READ),
    )
    assert status == "failed"
    assert "3 times in a row" in reason
