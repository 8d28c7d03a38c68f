"""A decision made in another process than the one whose mission waits for it: ``ensemble
decide`` while ``ensemble service`` runs a scheduled mission with no window. The decision goes
through the journal to the owning process's gate, which takes it as if the person had clicked."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import openpyxl
import pytest

from app.engine import Engine
from app.errors import EngineError
from app.testing.scripted_model import ScriptedModel, text, tool_call

if TYPE_CHECKING:
    from pathlib import Path

    from app.journal import Event


def _mission(scripted: ScriptedModel) -> None:
    scripted.add(
        "Mark INV-1",
        tool_call(
            "delegate",
            {
                "tasks": [
                    {"id": "mark", "agent": "spreadsheet", "instructions": "MARK-TASK: set E2 to overdue"}
                ]
            },
        ),
        text("INV-1 is marked overdue."),
    )
    write: Any = tool_call(
        "sheet_write", {"path": "invoices.xlsx", "sheet": "Invoices", "range": "E2", "values": [["overdue"]]}
    )
    scripted.add("MARK-TASK", write, text("Wrote E2."))


async def _proposed(engine: Engine) -> str:
    found: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def on_event(event: Event) -> None:
        if event.kind == "action_proposed" and not found.done():
            found.set_result(str(event.data["action_id"]))

    engine.subscribe(on_event)
    return await asyncio.wait_for(found, 30)


async def test_a_decision_left_by_another_engine_is_taken_by_the_one_running_the_mission(
    scripted: ScriptedModel, workspace: Path
) -> None:
    _mission(scripted)
    owner = Engine()  # ensemble service
    other = Engine()  # ensemble decide, in its own process: its gate has no waiting card
    taker = asyncio.create_task(owner.take_requested_decisions(interval=0.05))
    try:
        proposed = asyncio.ensure_future(_proposed(owner))
        mission_id = owner.start_mission("Mark INV-1 as overdue", workspaces=[workspace])
        action_id = await proposed
        said = other.request_decision(action_id, approve=True)
        assert "within a second" in said
        outcome = await asyncio.wait_for(owner.wait(mission_id), 30)
    finally:
        taker.cancel()
        await other.close()
        await owner.close()
    assert outcome.status == "done", outcome.result
    assert openpyxl.load_workbook(workspace / "invoices.xlsx")["Invoices"]["E2"].value == "overdue"


async def test_a_decision_for_a_mission_no_process_runs_is_refused_in_words(
    scripted: ScriptedModel, workspace: Path
) -> None:
    _mission(scripted)
    engine = Engine()
    proposed = asyncio.ensure_future(_proposed(engine))
    mission_id = engine.start_mission("Mark INV-1 as overdue", workspaces=[workspace])
    action_id = await proposed
    await engine.close(pause=True)  # the process that ran it is gone; the card stays pending
    later = Engine()
    try:
        with pytest.raises(EngineError, match=f"ensemble resume {mission_id}"):
            later.request_decision(action_id, approve=True)
        with pytest.raises(EngineError, match="no action"):
            later.request_decision("a_nothing", approve=False)
    finally:
        await later.close()
