"""Managers over managers: the lead hands a part of a mission to a sub-lead, which plans its own
tasks under the same gate, budget and checks, two levels at most. Real workbooks, a real
journal; only the model is scripted."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import openpyxl

from app.api.events import TaskChecked
from app.engine import Engine
from app.gate import Decision
from app.settings import Settings
from app.testing.scripted_model import ScriptedModel, text, tool_call

if TYPE_CHECKING:
    from pathlib import Path

    from app.journal import Event


def mark(row: int) -> Any:
    return tool_call(
        "sheet_write",
        {"path": "invoices.xlsx", "sheet": "Invoices", "range": f"E{row}", "values": [["overdue"]]},
    )


def results(request: dict[str, Any]) -> list[dict[str, Any]]:
    content = request["messages"][-1]["content"]
    return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]


async def test_a_sub_lead_plans_and_runs_two_sub_tasks_under_the_same_gate_and_checks(
    scripted: ScriptedModel, workspace: Path
) -> None:
    seen: dict[str, Any] = {}

    def refused_then_plan(request: dict[str, Any]) -> Any:
        seen["refusal"] = results(request)[0]
        return tool_call(
            "delegate",
            {
                "tasks": [
                    {
                        "id": "a",
                        "agent": "spreadsheet",
                        "instructions": "SUB-A: set E2 of invoices.xlsx to overdue",
                    },
                    {
                        "id": "b",
                        "agent": "spreadsheet",
                        "instructions": "SUB-B: set E5 of invoices.xlsx to overdue",
                    },
                ]
            },
        )

    def sub_report(request: dict[str, Any]) -> Any:
        seen["sub_outcomes"] = json.loads(results(request)[0]["content"])["tasks"]
        return text("INV-1 and INV-4 are marked overdue; both checks passed.")

    def lead_report(request: dict[str, Any]) -> Any:
        seen["lead_outcomes"] = json.loads(results(request)[0]["content"])["tasks"]
        return text("Done: the sub-lead marked INV-1 and INV-4.")

    scripted.add(
        "Mark the late invoices",
        tool_call(
            "delegate",
            {
                "tasks": [
                    {"id": "part", "agent": "lead", "instructions": "PART: mark INV-1 and INV-4 as overdue"}
                ]
            },
        ),
        lead_report,
    )
    scripted.add(
        "PART:",
        # Two levels at most: a sub-lead's sub-lead is refused, and the sub-lead plans again.
        tool_call("delegate", {"tasks": [{"id": "deeper", "agent": "lead", "instructions": "x"}]}),
        refused_then_plan,
        sub_report,
    )
    scripted.add("SUB-A:", mark(2), text("Wrote overdue to E2."))
    scripted.add("SUB-B:", mark(5), text("Wrote overdue to E5."))
    engine = Engine(settings=Settings(max_concurrency=1))  # the sub-lead holds no place
    cards: list[Event] = []
    loop = asyncio.get_running_loop()

    def on_event(event: Event) -> None:
        if event.kind == "action_proposed":
            cards.append(event)
            loop.call_soon(engine.decide, event.data["action_id"], Decision.approve())

    engine.subscribe(on_event)
    try:
        outcome = await engine.run_mission("Mark the late invoices", workspaces=[workspace])
    finally:
        await engine.close()

    assert not scripted.failures
    assert outcome.status == "done", outcome.result
    assert outcome.result == "Done: the sub-lead marked INV-1 and INV-4."
    sheet = openpyxl.load_workbook(workspace / "invoices.xlsx")["Invoices"]
    assert [sheet["E2"].value, sheet["E5"].value] == ["overdue", "overdue"]
    # The same gate: each sub-task's write was a card the person approved.
    assert sorted(c.data["tool"] for c in cards) == ["sheet_write", "sheet_write"]
    assert seen["refusal"]["is_error"] is True
    assert "cannot hand tasks to another sub-lead" in seen["refusal"]["content"]
    # The journal: the sub-lead's task, and its two tasks under its own delegation.
    tasks = {t.key: t for t in engine.journal.tasks(outcome.mission_id)}
    assert set(tasks) == {"part", "a", "b"}
    assert tasks["part"].agent == "lead"
    assert all(t.status == "done" for t in tasks.values())
    assert tasks["a"].delegation_id == tasks["b"].delegation_id != tasks["part"].delegation_id
    sub_delegation = engine.journal.tool_call_for(outcome.mission_id, tasks["a"].delegation_id)
    assert sub_delegation is not None
    assert sub_delegation.task_id == tasks["part"].id
    # The same checks: each sub-task was checked, and the sub-lead heard the verdicts.
    checked = [e for e in engine.mission_events(outcome.mission_id) if isinstance(e, TaskChecked)]
    assert sorted((c.key, c.verdict) for c in checked) == [("a", "passed"), ("b", "passed")]
    assert [o["check"]["verdict"] for o in seen["sub_outcomes"]] == ["passed", "passed"]
    assert seen["lead_outcomes"][0]["result"] == "INV-1 and INV-4 are marked overdue; both checks passed."
    # The same budget: the sub-lead's and its tasks' tokens are the mission's.
    mission = engine.journal.mission(outcome.mission_id)
    assert mission is not None
    assert mission.tokens == sum(
        c.input_tokens + c.output_tokens + c.cache_read_tokens + c.cache_write_tokens
        for c in engine.journal.model_calls(outcome.mission_id)
    )
    assert {c.agent for c in engine.journal.model_calls(outcome.mission_id)} >= {
        "lead",
        "spreadsheet",
        "check",
    }
