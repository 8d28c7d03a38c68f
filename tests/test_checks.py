"""The lead checks each task's result: a checking turn with read-only tools reads the workbook
back, a contradiction is retried once and then put to the person, and the audit and the lead's
final report carry what was verified. Real workbooks, a real journal; only the model is scripted."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import openpyxl

from app.api.events import TaskChecked
from app.engine import Engine, MissionOutcome
from app.gate import Decision
from app.orchestrator._check import RETRY_NOTE
from app.settings import Settings
from app.testing.scripted_model import CHECK_TOOL, ScriptedModel, check_verdict, text, tool_call
from connectors.base import outside_text
from connectors.registry import registry

if TYPE_CHECKING:
    from pathlib import Path

    from app.journal import Event

TASK = "SET-TASK: in invoices.xlsx, sheet Invoices, set D2 to 42."
READ_D2 = tool_call("sheet_read", {"path": "invoices.xlsx", "sheet": "Invoices", "range": "D2"})


def delegate() -> Any:
    return tool_call("delegate", {"tasks": [{"id": "set", "agent": "spreadsheet", "instructions": TASK}]})


def write_d2(value: int) -> Any:
    return tool_call(
        "sheet_write", {"path": "invoices.xlsx", "sheet": "Invoices", "range": "D2", "values": [[value]]}
    )


def last_results(request: dict[str, Any]) -> list[dict[str, Any]]:
    content = request["messages"][-1]["content"]
    return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]


def d2_as_read(request: dict[str, Any]) -> Any:
    """The value of D2 in the check's own read of the workbook (its last tool result)."""
    (result,) = last_results(request)
    data = json.loads(outside_text(result["content"]))
    return data["rows"][0][0]


def verdict_from_the_workbook(request: dict[str, Any]) -> Any:
    """The scripted checker's verdict, computed from what its read really returned."""
    value = d2_as_read(request)
    evidence = [f"invoices.xlsx, Invoices!D2 = {value}"]
    if value == 42:
        return check_verdict(True, "D2 holds 42, as asked and as reported.", evidence)
    return check_verdict(False, f"The report says D2 is 42, but D2 holds {value}.", evidence)


def delegate_result(request: dict[str, Any]) -> dict[str, Any]:
    (result,) = last_results(request)
    outcome: dict[str, Any] = json.loads(result["content"])["tasks"][0]
    return outcome


def approve_everything(engine: Engine) -> list[Event]:
    seen: list[Event] = []
    loop = asyncio.get_running_loop()

    def on_event(event: Event) -> None:
        seen.append(event)
        if event.kind == "action_proposed":
            loop.call_soon(engine.decide, event.data["action_id"], Decision.approve())

    engine.subscribe(on_event)
    return seen


def checking_requests(scripted: ScriptedModel) -> list[dict[str, Any]]:
    return [r for r in scripted.requests if any(t["name"] == CHECK_TOOL for t in r.get("tools", []))]


def checks(engine: Engine, mission_id: str) -> list[TaskChecked]:
    return [e for e in engine.mission_events(mission_id) if isinstance(e, TaskChecked)]


def d2(workspace: Path) -> Any:
    return openpyxl.load_workbook(workspace / "invoices.xlsx")["Invoices"]["D2"].value


async def run(engine: Engine, mission: str, workspace: Path) -> MissionOutcome:
    try:
        return await engine.run_mission(mission, workspaces=[workspace])
    finally:
        await engine.close()


async def test_a_result_the_workbook_contradicts_is_retried_once_then_put_to_the_person(
    scripted: ScriptedModel, workspace: Path
) -> None:
    seen: dict[str, Any] = {}

    def after_the_finding(request: dict[str, Any]) -> Any:
        seen["retry"] = json.dumps(request["messages"][-1]["content"])
        return write_d2(41)  # the agent gets it wrong again

    def report(request: dict[str, Any]) -> Any:
        seen["outcome"] = delegate_result(request)
        return text("I could not set D2 to 42.")

    scripted.add("Set INV-1", delegate(), report)
    scripted.add("SET-TASK", write_d2(41), text("Wrote 42 to D2."), after_the_finding, text("D2 is 42 now."))
    scripted.add_check("SET-TASK", READ_D2, verdict_from_the_workbook)
    engine = Engine(settings=Settings())
    events = approve_everything(engine)
    loop = asyncio.get_running_loop()
    engine.subscribe(
        lambda e: (
            loop.call_soon(engine.answer, e.mission_id, "Leave it as it is.")
            if e.kind == "question_asked"
            else None
        )
    )

    outcome = await run(engine, "Set INV-1's amount to 42", workspace)

    assert not scripted.failures
    assert d2(workspace) == 41
    found = checks(engine, outcome.mission_id)
    assert [(c.verdict, c.attempt) for c in found] == [("failed", 1), ("failed", 2)]
    assert all(c.evidence == ["invoices.xlsx, Invoices!D2 = 41"] and c.tokens > 0 for c in found)
    # Each check read the workbook itself, with a read tool, journaled under the task.
    reads = [c for c in engine.journal.tool_calls(outcome.mission_id) if c.agent == "check"]
    assert [(c.tool, c.effect, c.task_id is not None) for c in reads] == [("sheet_read", "read", True)] * 2
    # One retry, with the finding and its evidence.
    assert RETRY_NOTE in seen["retry"]
    assert "D2 holds 41" in seen["retry"]
    assert "Invoices!D2 = 41" in seen["retry"]
    assert len(checking_requests(scripted)) == 4  # two checks of two turns, no third try
    # Then the person, with the evidence, once.
    questions = [e for e in events if e.kind == "question_asked"]
    assert len(questions) == 1
    assert "“set”" in questions[0].data["question"]
    assert "Invoices!D2 = 41" in questions[0].data["question"]
    # The task failed with the evidence and the person's answer; the lead heard all of it.
    (task,) = engine.journal.tasks(outcome.mission_id)
    assert task.status == "failed"
    assert "Invoices!D2 = 41" in (task.reason or "")
    assert "Leave it as it is." in (task.reason or "")
    assert seen["outcome"]["status"] == "failed"
    assert seen["outcome"]["check"]["verdict"] == "failed"
    assert "Leave it as it is." in seen["outcome"]["reason"]
    # The mission does not report done silently.
    assert outcome.status == "done"
    assert "Not everything was done" in (outcome.result or "")
    assert "Invoices!D2 = 41" in (outcome.result or "")


async def test_a_passing_check_is_audited_with_its_evidence_and_the_report_says_what_was_verified(
    scripted: ScriptedModel, workspace: Path
) -> None:
    def report(request: dict[str, Any]) -> Any:
        check = delegate_result(request)["check"]
        return text(f"D2 is set to 42. Verified: {check['findings']} ({'; '.join(check['evidence'])})")

    scripted.add("Set INV-1", delegate(), report)
    scripted.add("SET-TASK", write_d2(42), text("Wrote 42 to D2."))
    scripted.add_check("SET-TASK", READ_D2, verdict_from_the_workbook)
    engine = Engine(settings=Settings())
    approve_everything(engine)

    outcome = await run(engine, "Set INV-1's amount to 42", workspace)

    assert not scripted.failures
    assert outcome.status == "done"
    assert d2(workspace) == 42
    (check,) = checks(engine, outcome.mission_id)
    assert (check.verdict, check.attempt, check.key, check.agent) == ("passed", 1, "set", "spreadsheet")
    assert check.evidence == ["invoices.xlsx, Invoices!D2 = 42"]
    assert check.tokens > 0
    assert "Checked task set" in check.summary
    assert outcome.result == (
        "D2 is set to 42. Verified: D2 holds 42, as asked and as reported. (invoices.xlsx, Invoices!D2 = 42)"
    )
    # The checking turn: the task's read tools and its verdict, the task and its report (as
    # outside content), and nothing of the mission or of other tasks.
    first, _second = checking_requests(scripted)
    reads = {t.name for t in registry()["spreadsheet"].tools if t.effect == "read"}
    assert {t["name"] for t in first["tools"]} == reads | {CHECK_TOOL}
    prompt = json.dumps(first["messages"])
    assert len(first["messages"]) == 1
    assert TASK in prompt
    assert "Wrote 42 to D2." in prompt
    assert "external_content" in prompt
    assert "Set INV-1" not in prompt


async def test_with_checks_off_no_checking_turn_runs(scripted: ScriptedModel, workspace: Path) -> None:
    seen: dict[str, Any] = {}

    def report(request: dict[str, Any]) -> Any:
        seen["outcome"] = delegate_result(request)
        return text("Done.")

    scripted.add("Set INV-1", delegate(), report)
    scripted.add("SET-TASK", write_d2(41), text("Wrote 42 to D2."))
    scripted.add_check("SET-TASK", READ_D2, verdict_from_the_workbook)
    engine = Engine(settings=Settings(checks=False))
    approve_everything(engine)

    outcome = await run(engine, "Set INV-1's amount to 42", workspace)

    assert outcome.status == "done"
    assert checking_requests(scripted) == []
    assert checks(engine, outcome.mission_id) == []
    assert seen["outcome"]["status"] == "done"
    assert "check" not in seen["outcome"]


async def test_a_task_that_only_read_is_not_checked_and_the_audit_says_why(
    scripted: ScriptedModel, workspace: Path
) -> None:
    scripted.add(
        "Read INV-1",
        tool_call(
            "delegate",
            {"tasks": [{"id": "read", "agent": "spreadsheet", "instructions": "READ-TASK: read D2"}]},
        ),
        text("D2 holds 1200.5."),
    )
    scripted.add("READ-TASK", READ_D2, text("D2 holds 1200.5."))
    engine = Engine(settings=Settings())

    outcome = await run(engine, "Read INV-1's amount", workspace)

    assert outcome.status == "done"
    assert checking_requests(scripted) == []
    (check,) = checks(engine, outcome.mission_id)
    assert (check.verdict, check.tokens) == ("skipped", 0)
    assert "only read" in check.findings


async def test_the_demo_mission_verifies_its_writes_and_says_so() -> None:
    engine = Engine(settings=Settings())
    loop = asyncio.get_running_loop()
    # The demo proposes remembering its signature: a card only a person decides.
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
        found = {c.key: c for c in checks(engine, mission_id)}
    finally:
        await engine.close()

    assert outcome.status == "done", outcome.result
    assert {k: c.verdict for k, c in found.items()} == {
        "overdue": "skipped",
        "contacts": "skipped",
        "drafts": "passed",
        "mark": "passed",
    }
    assert len(found["drafts"].evidence) == 3
    assert all("Reminder drafted" in line for line in found["mark"].evidence)
    assert "Verified: The 3 reminders are in the Drafts folder." in (outcome.result or "")
    assert "Verified: Column H notes the reminder on the 3 rows written." in (outcome.result or "")
