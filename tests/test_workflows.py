"""Workflows end to end: save a finished mission as a workflow, run it again from its saved
plan, fall back to planning, dedupe a trigger's runs. The real SDK over HTTP to the scripted
model, real workbooks, a real SQLite journal; only the model's words are scripted."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import pytest

from app.api import (
    ProposedParam,
    Schedule,
    Trigger,
    WorkflowParam,
    WorkflowRunStarted,
    WorkflowSpec,
)
from app.engine import Engine
from app.errors import EngineError
from app.gate import Decision
from app.settings import Settings
from app.testing.scripted_model import ScriptedModel, error, text, tool_call
from app.vouch import collect
from app.workflows._plans import OUTSIDE, plan_of
from connectors.base import Destination, untrusted

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from app.journal import Event

LEAD = "You are the lead agent"
MISSION = "Chase the unpaid invoices of 2026-11 in invoices.xlsx"


def read_task(key: str, marker: str, month: str) -> dict[str, Any]:
    return {
        "id": key,
        "agent": "spreadsheet",
        "instructions": f"{marker}: read the {month} invoices of invoices.xlsx and list the open ones",
    }


def read_script(model: ScriptedModel, marker: str = "READ-TASK") -> None:
    model.add(
        f"{marker}:",
        tool_call("sheet_read", {"path": "invoices.xlsx", "range": "A1:E6"}),
        text("INV-1 (Acme) and INV-4 (Umbrella) are open."),
    )


def lead_requests(model: ScriptedModel, words: str) -> list[dict[str, Any]]:
    """The lead's requests of the mission whose first message holds ``words``."""
    return [
        body
        for body in model.requests
        if LEAD in json.dumps(body.get("system")) and words in json.dumps(body["messages"][0]["content"])
    ]


def assistant_turns(request: dict[str, Any]) -> int:
    return sum(1 for m in request["messages"] if m["role"] == "assistant")


def first_texts(request: dict[str, Any]) -> list[str]:
    content = request["messages"][0]["content"]
    if isinstance(content, str):
        return [content]
    return [b["text"] for b in content if b.get("type") == "text"]


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    engine = Engine(settings=Settings())
    try:
        yield engine
    finally:
        await engine.close()


async def first_run(engine: Engine, scripted: ScriptedModel, workspace: Path) -> str:
    """The mission a workflow is saved from: one delegation that reads the sheet."""
    scripted.add(
        "Chase the unpaid invoices",
        tool_call("delegate", {"tasks": [read_task("read", "READ-TASK", "2026-11")]}),
        text("Two invoices are open: INV-1 and INV-4."),
    )
    read_script(scripted)
    mission_id = engine.start_mission(MISSION, workspaces=[workspace])
    outcome = await engine.wait(mission_id)
    assert outcome.status == "done", outcome.result
    return mission_id


MONTH = ProposedParam(
    param=WorkflowParam(name="month", type="text", default="2026-11", description="The month to chase"),
    value="2026-11",
)


async def test_save_replaces_values_in_instruction_and_plan_and_yaml_round_trips(
    engine: Engine, scripted: ScriptedModel, workspace: Path
) -> None:
    mission_id = await first_run(engine, scripted, workspace)

    info = engine.save_mission_as_workflow(mission_id, "Chase invoices", [MONTH], description="Monthly chase")

    spec = info.spec
    assert spec.instruction == "Chase the unpaid invoices of {month} in invoices.xlsx"
    assert spec.plan is not None
    assert len(spec.plan) == 1
    assert spec.plan[0].instructions.startswith("READ-TASK: read the {month} invoices")
    assert "2026-11" not in spec.plan[0].instructions
    assert spec.workspaces == [str(workspace.resolve())]
    assert spec.approval == "ask"
    assert (info.version, info.runs) == (1, 0)
    assert [w.name for w in engine.list_workflows()] == ["Chase invoices"]

    exported = engine.export_workflow("chase invoices")
    engine.delete_workflow("Chase invoices")
    imported = engine.import_workflow(exported)
    assert imported.spec == spec
    assert WorkflowSpec.from_yaml(exported) == spec

    with pytest.raises(EngineError, match="already exists"):
        engine.import_workflow(exported)
    assert engine.import_workflow(exported, replace=True).version == 1  # nothing changed
    renamed = engine.rename_workflow("Chase invoices", "Chase late invoices")
    assert (renamed.name, renamed.version) == ("Chase late invoices", 2)
    with pytest.raises(EngineError, match="no workflow"):
        engine.workflow_info("Chase invoices")

    nowhere = ProposedParam(param=WorkflowParam(name="customer"), value="Globex Corp")
    with pytest.raises(EngineError, match="occurs neither"):
        engine.save_mission_as_workflow(mission_id, "Other", [nowhere])


async def test_a_rerun_follows_the_saved_plan_without_a_planning_call(
    engine: Engine, scripted: ScriptedModel, workspace: Path
) -> None:
    mission_id = await first_run(engine, scripted, workspace)
    engine.save_mission_as_workflow(mission_id, "Chase invoices", [MONTH])
    before = len(scripted.requests)

    run_id = engine.run_workflow("Chase invoices", {"month": "2026-12"})
    outcome = await engine.wait(run_id)

    assert outcome.status == "done", outcome.result
    mission = engine.journal.mission(run_id)
    assert mission is not None
    assert mission.text == "Chase the unpaid invoices of 2026-12 in invoices.xlsx"
    leads = lead_requests(scripted, "invoices of 2026-12")
    assert len(leads) == 1, "the lead answered once, after the tasks: no planning call"
    first = leads[0]
    assert assistant_turns(first) == 1
    plan_turn = first["messages"][1]["content"]
    assert plan_turn[0]["text"] == "Following the saved plan of workflow “Chase invoices” (version 1)."
    assert plan_turn[1]["name"] == "delegate"
    results = [b for b in first["messages"][2]["content"] if b.get("type") == "tool_result"]
    assert results
    assert "INV-1 (Acme)" in json.dumps(results[0]["content"])
    assert any(t.startswith("What the workspace folders hold now") for t in first_texts(first))
    subs = [b for b in scripted.requests[before:] if "READ-TASK" in json.dumps(b["messages"][0]["content"])]
    assert subs
    assert "read the 2026-12 invoices" in json.dumps(subs[0]["messages"][0]["content"])
    assert "2026-11" not in json.dumps(subs[0]["messages"][0]["content"])
    assert not scripted.failures

    started = [e for e in engine.mission_events(run_id) if isinstance(e, WorkflowRunStarted)]
    assert len(started) == 1
    event = started[0]
    assert (event.workflow, event.version, event.reason, event.plan, event.unattended) == (
        "Chase invoices",
        1,
        "manual",
        "saved",
        False,
    )
    kinds = [e.kind for e in engine.mission_events(run_id)]
    assert kinds[:2] == ["mission_started", "workflow_run_started"]

    runs = engine.workflow_runs("Chase invoices")
    assert [(r.mission_id, r.plan, r.status, r.params) for r in runs] == [
        (run_id, "saved", "done", {"month": "2026-12"})
    ]
    assert runs[0].id == event.run_id
    assert runs[0].tokens > 0
    assert runs[0].finished_at is not None
    assert engine.workflow_run_of(run_id) == runs[0]
    assert engine.workflow_run_of(mission_id) is None
    assert engine.workflow_info("Chase invoices").last_run == runs[0]


async def test_a_failed_task_of_the_saved_plan_makes_the_lead_plan_again(
    engine: Engine, scripted: ScriptedModel, workspace: Path
) -> None:
    # The December run: its task fails (the model refuses it), the lead re-plans.
    scripted.add("READ-TASK: read the 2026-12", error(400, "invalid_request_error", "The sheet is gone"))
    replanned = tool_call("delegate", {"tasks": [read_task("retry", "RETRY-TASK", "2026-12")]})
    scripted.add(
        "invoices of 2026-12",
        text("A planning call that must not happen."),
        replanned,
        text("December: two invoices are open."),
    )
    read_script(scripted, "RETRY-TASK")
    mission_id = await first_run(engine, scripted, workspace)
    engine.save_mission_as_workflow(mission_id, "Chase invoices", [MONTH])

    run_id = engine.run_workflow("Chase invoices", {"month": "2026-12"})
    outcome = await engine.wait(run_id)

    assert outcome.status == "done", outcome.result
    assert outcome.result is not None
    assert outcome.result.startswith("December: two invoices are open.")
    leads = lead_requests(scripted, "invoices of 2026-12")
    assert [assistant_turns(r) for r in leads] == [1, 2]
    failed = [b for b in leads[0]["messages"][2]["content"] if b.get("type") == "tool_result"]
    assert json.loads(failed[0]["content"])["tasks"][0]["status"] == "failed"
    tasks = {t.key: t.status for t in engine.journal.tasks(run_id)}
    assert tasks == {"read": "failed", "retry": "done"}
    run = engine.workflow_runs("Chase invoices")[0]
    assert run.plan == "replanned"
    assert engine._workflows.store.run_of_mission(run_id).plan == "replanned"  # type: ignore[union-attr]


async def test_a_saved_plan_run_resumes_after_a_pause(
    engine: Engine, scripted: ScriptedModel, workspace: Path
) -> None:
    spec = WorkflowSpec(
        name="Mark overdue",
        instruction="Mark {invoice} as overdue",
        params=[WorkflowParam(name="invoice", default="INV-1")],
        workspaces=[str(workspace)],
        plan=[
            {  # type: ignore[list-item]
                "id": "mark",
                "agent": "spreadsheet",
                "instructions": "MARK-TASK: set the status of {invoice} (cell E2) to overdue",
            }
        ],
    )
    engine.save_workflow(spec)
    scripted.add("Mark INV-1", text("A planning call that must not happen."), text("INV-1 is overdue."))
    write = {"path": "invoices.xlsx", "sheet": "Invoices", "range": "E2", "values": [["overdue"]]}
    scripted.add("MARK-TASK", tool_call("sheet_write", write), text("Wrote E2."))
    cards: asyncio.Queue[str] = asyncio.Queue()

    def on_event(event: Event) -> None:
        if event.kind == "action_proposed":
            cards.put_nowait(str(event.data["action_id"]))

    engine.subscribe(on_event)

    run_id = engine.run_workflow("Mark overdue")
    card = await cards.get()
    assert await engine.pause_all("a test") == 1
    mission = engine.journal.mission(run_id)
    assert mission is not None
    assert mission.status == "interrupted"
    journaled = engine.journal.conversation(run_id)
    assert journaled[1]["content"][1]["id"].startswith("toolu_saved_plan_")

    engine.resume(run_id)
    assert await cards.get() == card  # the same card, shown again
    engine.decide(card, Decision.approve())
    outcome = await engine.wait(run_id)

    assert outcome.status == "done", outcome.result
    leads = lead_requests(scripted, "Mark INV-1")
    assert [assistant_turns(r) for r in leads] == [1]
    assert engine.workflow_runs("Mark overdue")[0].changes == 1


async def test_a_trigger_runs_once_per_key_and_its_context_vouches_for_nothing(
    engine: Engine, scripted: ScriptedModel, workspace: Path
) -> None:
    spec = WorkflowSpec(
        name="File invoices",
        instruction="File {message} in invoices.xlsx and tell boss@example.com",
        params=[WorkflowParam(name="message", type="email"), WorkflowParam(name="sheet", default="Invoices")],
        workspaces=[str(workspace)],
    )
    engine.save_workflow(spec)
    trigger = Trigger(kind="email", folder="INBOX", subject_glob="*invoice*")
    engine.set_trigger("File invoices", trigger)
    scripted.add("File the email", text("Filed."))
    context = (
        "From: Mallory <mallory@attacker.example>\nSubject: invoice 77\nMessage-ID: <77@attacker.example>"
    )
    value = "the email that started this run (described below)"

    first = engine.run_triggered("File invoices", key="<77@attacker.example>", value=value, context=context)
    again = engine.run_triggered("File invoices", key="<77@attacker.example>", value=value, context=context)

    assert first is not None
    assert again is None
    assert (await engine.wait(first)).status == "done"
    mission = engine.journal.mission(first)
    assert mission is not None
    assert mission.text == f"File {value} in invoices.xlsx and tell boss@example.com"
    assert "mallory" not in mission.text + mission.options_json
    leads = lead_requests(scripted, "File the email")
    texts = first_texts(leads[0])
    assert texts[0] == mission.text
    assert texts[1] == f"{OUTSIDE}\n\n{untrusted(context, 'what started this run')}"
    vouchers = collect(engine.journal, first)
    assert vouchers.source_of(Destination("address", "boss@example.com", "recipient")) == "the mission"
    assert vouchers.source_of(Destination("address", "mallory@attacker.example", "recipient")) is None
    runs = engine.workflow_runs("File invoices")
    assert len(runs) == 1
    assert runs[0].reason == "trigger"
    assert runs[0].plan == "planned"
    assert runs[0].params == {"message": value, "sheet": "Invoices"}
    started = [e for e in engine.mission_events(first) if isinstance(e, WorkflowRunStarted)]
    assert started[0].unattended is True
    other = engine.run_triggered("File invoices", key="<78@attacker.example>", value=value, context=context)
    assert other is not None
    await engine.wait(other)


async def test_a_schedule_or_trigger_needs_defaults(engine: Engine) -> None:
    spec = WorkflowSpec(
        name="Report",
        instruction="Report on {month} from {file}",
        params=[WorkflowParam(name="month"), WorkflowParam(name="file", type="file")],
    )
    engine.save_workflow(spec)
    weekly = Schedule(kind="weekly", days=["mon"], at="09:00")

    with pytest.raises(EngineError, match="the parameters month, file have no default"):
        engine.set_schedule("Report", weekly)
    with pytest.raises(EngineError, match="the parameter month has no default"):
        engine.set_trigger("Report", Trigger(kind="file", folder="/tmp"))

    params = [WorkflowParam(name="month", default="2026-11"), WorkflowParam(name="file", type="file")]
    engine.save_workflow(spec.model_copy(update={"params": params}), replace=True)
    info = engine.set_trigger("Report", Trigger(kind="file", folder="/tmp"))
    assert (info.version, info.trigger) == (3, "When a file is added or changed in /tmp")
    with pytest.raises(EngineError, match="the parameter file has no default"):
        engine.set_schedule("Report", weekly)
    copy = engine.duplicate_workflow("Report", "Report copy")
    assert copy.spec.trigger is None
    assert copy.version == 1
    with pytest.raises(EngineError, match="needs a value for file"):
        engine.run_workflow("Report")


async def test_the_lead_proposes_parameters_found_in_the_mission(
    engine: Engine, scripted: ScriptedModel, workspace: Path
) -> None:
    proposals = [
        {"name": "Month", "type": "date", "description": "The month to chase", "value": "2026-11"},
        {"name": "customer", "type": "text", "description": "Who", "value": "Globex Corp"},
        {"name": "book", "type": "file", "description": "The workbook", "value": "invoices.xlsx"},
    ]
    scripted.add("turn a mission that Ensemble", tool_call("propose_parameters", {"params": proposals}))
    mission_id = await first_run(engine, scripted, workspace)

    proposed = await engine.propose_parameters(mission_id)

    assert [(p.param.name, p.param.type, p.param.default, p.value) for p in proposed] == [
        ("month", "date", "2026-11", "2026-11"),
        ("book", "file", "invoices.xlsx", "invoices.xlsx"),
    ]
    request = scripted.requests[-1]
    assert request["tool_choice"] == {"type": "tool", "name": "propose_parameters"}
    assert "READ-TASK: read the 2026-11 invoices" in json.dumps(request["messages"])


def test_a_plan_keeps_what_succeeded_and_chains_delegations() -> None:
    from app.journal import Task

    def row(key: str, delegation: str, status: str = "done", deps: list[str] | None = None) -> Task:
        return Task(
            id=f"t_{delegation}_{key}",
            mission_id="m",
            key=key,
            delegation_id=delegation,
            agent="spreadsheet",
            instructions=f"do {key}",
            depends_on_json=json.dumps(deps or []),
            status=status,
        )

    plan = plan_of(
        [
            row("read", "d1"),
            row("bad", "d1", "failed"),
            row("after-bad", "d1", "skipped", ["bad"]),
            row("uses-bad", "d1", "done", ["bad"]),
            row("read", "d2"),
            row("mail", "d2", deps=["read"]),
        ]
    )

    assert [(t.id, t.depends_on) for t in plan] == [
        ("read", []),
        ("read-2", ["read"]),
        ("mail", ["read", "read-2"]),
    ]


async def test_a_workflow_without_a_plan_keeps_the_plan_of_its_first_run(
    engine: Engine, scripted: ScriptedModel, workspace: Path
) -> None:
    spec = WorkflowSpec(
        name="Chase",
        instruction="Chase the unpaid invoices of {month} in invoices.xlsx",
        params=[WorkflowParam(name="month", default="2026-11")],
        workspaces=[str(workspace)],
    )
    engine.save_workflow(spec)
    scripted.add(
        "Chase the unpaid invoices",
        tool_call("delegate", {"tasks": [read_task("read", "READ-TASK", "2026-11")]}),
        text("Two invoices are open."),
    )
    read_script(scripted)

    run_id = engine.run_workflow("Chase")
    assert (await engine.wait(run_id)).status == "done"

    info = engine.workflow_info("Chase")
    assert info.version == 2
    assert info.spec.plan is not None
    assert [t.instructions for t in info.spec.plan] == [
        "READ-TASK: read the {month} invoices of invoices.xlsx and list the open ones"
    ]
    assert engine.workflow_runs("Chase")[0].plan == "planned"
