"""The engine end to end: the real SDK over HTTP to the scripted model, real workbooks, a real
SQLite journal. Only the model's words are scripted."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import TYPE_CHECKING, Any

import openpyxl
import pytest

from app.engine import Engine, MissionOutcome
from app.gate import Decision
from app.settings import Settings
from app.testing.scripted_model import ScriptedModel, error, text, tool_call

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from app.journal import Event

LEAD = "You are the lead agent"


def delegate(*tasks: dict[str, Any]) -> Any:
    return tool_call("delegate", {"tasks": list(tasks)})


def task(id_: str, instructions: str, depends_on: list[str] | None = None) -> dict[str, Any]:
    return {"id": id_, "agent": "spreadsheet", "instructions": instructions, "depends_on": depends_on or []}


def write(range_: str, values: list[list[Any]], sheet: str = "Invoices") -> Any:
    return tool_call(
        "sheet_write", {"path": "invoices.xlsx", "sheet": sheet, "range": range_, "values": values}
    )


def make_engine(**settings: Any) -> Engine:
    return Engine(settings=Settings(**settings))


def decide_with(engine: Engine, choose: Callable[[Event], Decision]) -> list[Event]:
    """Decides every proposed action as it arrives, the way a person at the window would."""
    seen: list[Event] = []
    loop = asyncio.get_running_loop()

    def on_event(event: Event) -> None:
        if event.kind == "action_proposed":
            seen.append(event)
            loop.call_soon(engine.decide, event.data["action_id"], choose(event))

    engine.subscribe(on_event)
    return seen


def tool_results(request: dict[str, Any]) -> list[dict[str, Any]]:
    last = request["messages"][-1]
    return [b for b in last["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]


def cell(path: Path, ref: str, sheet: str = "Invoices") -> Any:
    return openpyxl.load_workbook(path)[sheet][ref].value


async def run(engine: Engine, mission: str, workspace: Path, **kw: Any) -> MissionOutcome:
    try:
        return await engine.run_mission(mission, workspaces=[workspace], **kw)
    finally:
        await engine.close()


async def test_approved_write_changes_exactly_the_approved_cells(
    scripted: ScriptedModel, workspace: Path
) -> None:
    scripted.add(
        "Mark INV-1", delegate(task("mark", "MARK-TASK: set E2 to overdue")), text("INV-1 is marked overdue.")
    )
    scripted.add("MARK-TASK", write("E2", [["overdue"]]), text("Wrote E2."))
    book = workspace / "invoices.xlsx"
    before = openpyxl.load_workbook(book)
    engine = make_engine()
    proposals = decide_with(engine, lambda _e: Decision.approve())

    outcome = await run(engine, "Mark INV-1 as overdue", workspace)

    assert outcome.status == "done", outcome.result
    assert outcome.result == "INV-1 is marked overdue."
    assert len(proposals) == 1
    preview = proposals[0].data["preview"]
    assert preview["kind"] == "cells"
    assert preview["detail"]["cells"] == [{"cell": "E2", "old": "open", "new": "overdue"}]
    after = openpyxl.load_workbook(book)
    for name in before.sheetnames:
        for row_before, row_after in zip(before[name].iter_rows(), after[name].iter_rows(), strict=True):
            for c0, c1 in zip(row_before, row_after, strict=True):
                expected = "overdue" if (name, c0.coordinate) == ("Invoices", "E2") else c0.value
                assert c1.value == expected, (name, c0.coordinate)
                assert c1.number_format == c0.number_format
                assert c1.font.b == c0.font.b
    assert after["Invoices"]["D6"].value == "=SUM(D2:D5)"


async def test_rejected_action_changes_nothing_and_the_reason_reaches_the_model(
    scripted: ScriptedModel, workspace: Path
) -> None:
    seen: dict[str, Any] = {}

    def after_rejection(request: dict[str, Any]) -> Any:
        seen["result"] = tool_results(request)[0]
        return text("The person rejected the write.")

    scripted.add(
        "Zero the total", delegate(task("zero", "ZERO-TASK: set D2 to 0")), text("Nothing was changed.")
    )
    scripted.add("ZERO-TASK", write("D2", [[0]]), after_rejection)
    book = workspace / "invoices.xlsx"
    original = book.read_bytes()
    engine = make_engine()
    decide_with(engine, lambda _e: Decision.reject("amounts are final"))

    outcome = await run(engine, "Zero the total", workspace)

    assert outcome.status == "done"
    assert book.read_bytes() == original
    assert seen["result"]["is_error"] is True
    assert "Rejected by the person: amounts are final" in seen["result"]["content"]
    action = engine.journal.actions(outcome.mission_id)[0]
    assert (action.status, action.decided_by, action.reason) == ("rejected", "person", "amounts are final")


async def test_edited_approval_writes_the_edited_values(scripted: ScriptedModel, workspace: Path) -> None:
    scripted.add("Raise INV-2", delegate(task("raise", "RAISE-TASK: set D3 to 350")), text("Done."))
    scripted.add("RAISE-TASK", write("D3", [[350]]), text("Wrote D3."))
    engine = make_engine()
    edited = {"path": "invoices.xlsx", "sheet": "Invoices", "range": "D3", "values": [[333]]}
    decide_with(engine, lambda _e: Decision.edit(edited))

    outcome = await run(engine, "Raise INV-2", workspace)

    assert outcome.status == "done"
    assert cell(workspace / "invoices.xlsx", "D3") == 333
    action = engine.journal.actions(outcome.mission_id)[0]
    assert action.decision == "edit"
    assert json.loads(action.edited_arguments_json or "{}")["values"] == [[333]]
    assert json.loads(action.preview_json)["detail"]["cells"] == [{"cell": "D3", "old": 300, "new": 333}]


async def test_undo_restores_the_workbook_byte_for_byte(scripted: ScriptedModel, workspace: Path) -> None:
    scripted.add("Close INV-4", delegate(task("close", "CLOSE-TASK: set E5 to paid")), text("Done."))
    scripted.add("CLOSE-TASK", write("E5", [["paid"]]), text("Wrote E5."))
    book = workspace / "invoices.xlsx"
    original = book.read_bytes()
    engine = make_engine()
    decide_with(engine, lambda _e: Decision.approve())
    outcome = await engine.run_mission("Close INV-4", workspaces=[workspace])
    assert cell(book, "E5") == "paid"
    action = engine.journal.actions(outcome.mission_id)[0]

    message = await engine.undo(action.id)
    await engine.close()

    assert "Restored" in message
    assert book.read_bytes() == original
    assert engine.journal.action(action.id).status == "undone"  # type: ignore[union-attr]


async def test_independent_tasks_overlap_and_results_reach_dependent_tasks(
    scripted: ScriptedModel, workspace: Path
) -> None:
    """Three independent reads run at once; a fourth task gets their results."""
    scripted.delay = 0.3
    received: dict[str, str] = {}

    def summarise(request: dict[str, Any]) -> Any:
        content = request["messages"][0]["content"]
        received["prompt"] = content if isinstance(content, str) else content[0]["text"]
        return text("SUMMARY: three customers are overdue")

    lead_final: dict[str, Any] = {}

    def finish(request: dict[str, Any]) -> Any:
        lead_final["outcomes"] = json.loads(tool_results(request)[0]["content"])
        return text("All done.")

    scripted.add(
        "Survey the invoices",
        delegate(
            task("a", "READ-A: list the sheets"),
            task("b", "READ-B: read the invoices"),
            task("c", "READ-C: read the notes"),
            task("d", "SUMMARISE-D: summarise", depends_on=["a", "b", "c"]),
        ),
        finish,
    )
    for key, answer in (
        ("READ-A", "RESULT-A sheets"),
        ("READ-B", "RESULT-B rows"),
        ("READ-C", "RESULT-C note"),
    ):
        scripted.add(key, tool_call("sheet_list", {"path": "invoices.xlsx"}), text(answer))
    scripted.add("SUMMARISE-D", summarise)
    engine = make_engine(max_concurrency=4)

    outcome = await run(engine, "Survey the invoices", workspace)

    assert outcome.status == "done", outcome.result
    assert scripted.max_in_flight >= 3
    tasks = {t.key: t for t in engine.journal.tasks(outcome.mission_id)}
    reads = [tasks[k] for k in "abc"]
    assert max(t.started_at for t in reads) < min(t.finished_at for t in reads)  # type: ignore[type-var]
    assert tasks["d"].started_at >= max(t.finished_at for t in reads)  # type: ignore[operator,type-var]
    for expected in ("RESULT-A sheets", "RESULT-B rows", "RESULT-C note"):
        assert expected in received["prompt"]
    statuses = {o["id"]: (o["status"], o.get("result")) for o in lead_final["outcomes"]["tasks"]}
    assert statuses["d"] == ("done", "SUMMARY: three customers are overdue")


async def test_concurrency_limit_is_respected(scripted: ScriptedModel, workspace: Path) -> None:
    scripted.delay = 0.1
    scripted.add("Four reads", delegate(*(task(k, f"LIMIT-{k}: read") for k in "abcd")), text("ok"))
    for k in "abcd":
        scripted.add(f"LIMIT-{k}", text(f"read {k}"))
    outcome = await run(make_engine(max_concurrency=2), "Four reads", workspace)
    assert outcome.status == "done"
    assert scripted.max_in_flight == 2


async def test_approve_none_rule_leaves_files_unchanged_and_is_audited(
    scripted: ScriptedModel, workspace: Path
) -> None:
    scripted.add("Clear statuses", delegate(task("clear", "CLEAR-TASK: clear column E")), text("Could not."))
    scripted.add(
        "CLEAR-TASK",
        write("E2:E5", [[None], [None], [None], [None]]),
        tool_call("sheet_append_rows", {"path": "invoices.xlsx", "sheet": "Invoices", "rows": [["x"]]}),
        text("Both writes were rejected."),
    )
    book = workspace / "invoices.xlsx"
    original = book.read_bytes()
    engine = make_engine()

    outcome = await run(engine, "Clear statuses", workspace, approve="none")

    assert outcome.status == "done"
    assert book.read_bytes() == original
    actions = engine.journal.actions(outcome.mission_id)
    assert [a.status for a in actions] == ["rejected", "rejected"]
    assert all(a.decided_by and a.decided_by.startswith("rule:") for a in actions)
    kinds = [e.kind for e in engine.journal.events(outcome.mission_id)]
    for kind in (
        "mission_started",
        "rule_added",
        "task_started",
        "tool_called",
        "action_proposed",
        "action_decided",
        "tool_result",
        "model_call",
        "task_finished",
        "mission_finished",
    ):
        assert kind in kinds


async def test_ask_user_puts_the_question_in_the_chat_and_returns_the_answer(
    scripted: ScriptedModel, workspace: Path
) -> None:
    def after_answer(request: dict[str, Any]) -> Any:
        result = tool_results(request)[0]
        return text(f"You said {json.loads(result['content'])['answer']}.")

    scripted.add(
        "Which sheet", tool_call("ask_user", {"question": "Which sheet should I use?"}), after_answer
    )
    engine = make_engine()
    loop = asyncio.get_running_loop()
    engine.subscribe(
        lambda e: loop.call_soon(engine.answer, e.mission_id, "Notes") if e.kind == "question_asked" else None
    )

    outcome = await run(engine, "Which sheet is best?", workspace)

    assert (outcome.status, outcome.result) == ("done", "You said Notes.")
    chat = [(m.role, m.kind, m.text) for m in engine.journal.chat(outcome.mission_id)]
    assert chat == [
        ("user", "message", "Which sheet is best?"),
        ("assistant", "question", "Which sheet should I use?"),
        ("user", "answer", "Notes"),
        ("assistant", "message", "You said Notes."),
    ]


async def test_bad_tool_calls_become_clear_tool_errors(
    scripted: ScriptedModel, workspace: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.xlsx"
    outside.write_bytes((workspace / "invoices.xlsx").read_bytes())
    errors: list[str] = []

    def collect(request: dict[str, Any]) -> None:
        for result in tool_results(request) if request["messages"][-1]["role"] == "user" else []:
            if result.get("is_error"):
                errors.append(result["content"])

    scripted.on_request(lambda r: collect(r))
    scripted.add(
        "Try bad calls",
        delegate(task("bad", "BAD-TASK: misbehave"), {"id": "x", "agent": "fax", "instructions": "y"}),
        delegate(task("bad", "BAD-TASK: misbehave")),
        text("Reported the errors."),
    )
    scripted.add(
        "BAD-TASK",
        tool_call("sheet_write", {"path": "invoices.xlsx", "sheet": "Invoices", "range": "A1"}),
        tool_call("sheet_read", {"path": str(outside)}),
        tool_call("sheet_read", {"path": "invoices.xlsx", "sheet": "Nope"}),
        tool_call("no_such_tool", {}),
        text("Everything failed."),
    )
    book = workspace / "invoices.xlsx"
    original = book.read_bytes()
    engine = make_engine()

    outcome = await run(engine, "Try bad calls", workspace)

    assert outcome.status == "done"
    assert book.read_bytes() == original
    assert any("'fax'" in e and "does not exist" in e for e in errors)
    assert any("Wrong arguments for sheet_write" in e and "values" in e for e in errors)
    assert any("outside the workspace" in e for e in errors)
    assert any("Nope" in e for e in errors)
    assert any("no tool named 'no_such_tool'" in e for e in errors)
    assert engine.journal.actions(outcome.mission_id) == []


async def test_turn_limit_ends_the_task_and_the_lead_decides(
    scripted: ScriptedModel, workspace: Path
) -> None:
    got: dict[str, Any] = {}

    def lead_sees(request: dict[str, Any]) -> Any:
        got["outcome"] = json.loads(tool_results(request)[0]["content"])["tasks"][0]
        return text("The task ran out of turns.")

    scripted.add("Loop forever", delegate(task("loop", "LOOP-TASK: read forever")), lead_sees)
    scripted.add("LOOP-TASK", *(tool_call("sheet_list", {"path": "invoices.xlsx"}) for _ in range(5)))
    outcome = await run(make_engine(max_turns=2), "Loop forever", workspace)
    assert outcome.status == "done"
    assert got["outcome"]["status"] == "failed"
    assert "limit of 2 turns" in got["outcome"]["reason"]


async def test_token_budget_ends_the_mission_with_a_clear_message(
    scripted: ScriptedModel, workspace: Path
) -> None:
    scripted.add("Spend a lot", delegate(task("t", "BUDGET-TASK: read")), text("never reached"))
    scripted.add(
        "BUDGET-TASK",
        *(tool_call("sheet_read", {"path": "invoices.xlsx", "range": f"A{i}"}) for i in range(1, 31)),
    )
    engine = make_engine(token_budget=5000)
    outcome = await run(engine, "Spend a lot", workspace)
    assert outcome.status == "failed"
    assert "token budget is used up" in (outcome.result or "")
    [only] = engine.journal.tasks(outcome.mission_id)
    assert only.status == "failed"
    assert "token budget" in (only.reason or "")


async def test_missing_key_fails_the_mission_with_a_clear_message(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    engine = make_engine()
    outcome = await run(engine, "Anything", workspace)
    assert outcome.status == "failed"
    assert "No Anthropic API key" in (outcome.result or "")
    assert engine.journal.mission(outcome.mission_id).error == outcome.result  # type: ignore[union-attr]


async def test_key_from_the_keyring_is_used(
    scripted: ScriptedModel, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app import secrets

    monkeypatch.delenv("ANTHROPIC_API_KEY")
    secrets.set_secret(secrets.API_KEY_ENTRY, "sk-ant-test")
    scripted.add("Say hi", text("Hi."))
    outcome = await run(make_engine(), "Say hi", workspace)
    assert (outcome.status, outcome.result) == ("done", "Hi.")
    assert scripted.request_headers[0]["authorization"] == "Bearer sk-ant-test"


async def test_wrong_key_fails_the_mission_with_a_clear_message(
    scripted: ScriptedModel, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-wrong")
    outcome = await run(make_engine(), "Anything", workspace)
    assert outcome.status == "failed"
    assert "did not accept the API key" in (outcome.result or "")


async def test_overloaded_api_pauses_the_mission_after_the_sdk_retries(
    scripted: ScriptedModel, workspace: Path
) -> None:
    scripted.add("Busy", error(529, "overloaded_error", "Overloaded"))
    outcome = await run(make_engine(api_max_retries=1), "Busy day", workspace)
    assert outcome.status == "interrupted"
    assert "overloaded" in (outcome.result or "")
    assert f"ensemble resume {outcome.mission_id}" in (outcome.result or "")
    assert len(scripted.requests) == 2


async def test_a_paused_mission_resumes_where_it_stopped_without_repeating_actions(
    scripted: ScriptedModel, workspace: Path
) -> None:
    scripted.add(
        "Two appends", delegate(task("a", "APPEND-A: append"), task("b", "APPEND-B: append")), text("Done.")
    )
    append = tool_call("sheet_append_rows", {"path": "invoices.xlsx", "sheet": "Notes", "rows": [["from A"]]})
    scripted.add("APPEND-A", append, text("A appended."))
    flaky = scripted.add(
        "APPEND-B",
        tool_call("sheet_append_rows", {"path": "invoices.xlsx", "sheet": "Notes", "rows": [["from B"]]}),
        error(529, "overloaded_error", "Overloaded"),
    )
    engine = make_engine(api_max_retries=0, max_concurrency=1)
    paused = await engine.run_mission("Two appends", workspaces=[workspace], approve="all")
    assert paused.status == "interrupted"

    flaky.replies[1] = text("B appended.")  # the service is back
    engine.resume(paused.mission_id)
    outcome = await engine.wait(paused.mission_id)
    await engine.close()

    assert (outcome.status, outcome.result) == ("done", "Done.")
    notes = openpyxl.load_workbook(workspace / "invoices.xlsx")["Notes"]
    assert [row[0].value for row in notes.iter_rows()] == ["Keep this note", "from A", "from B"]
    assert [t.status for t in engine.journal.tasks(paused.mission_id)] == ["done", "done"]


async def test_unreachable_api_pauses_with_a_clear_message(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")  # The base URL is a closed local port.
    outcome = await run(make_engine(api_max_retries=0), "Anything", workspace)
    assert outcome.status == "interrupted"
    assert "Could not reach" in (outcome.result or "")


async def test_stop_rejects_pending_actions_and_cancels_the_mission(
    scripted: ScriptedModel, workspace: Path
) -> None:
    scripted.add("Stop me", delegate(task("w", "STOP-TASK: write")), text("never"))
    scripted.add("STOP-TASK", write("A1", [["x"]]), text("never"))
    book = workspace / "invoices.xlsx"
    original = book.read_bytes()
    engine = make_engine()
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task[bool]] = []
    engine.subscribe(
        lambda e: (
            stopping.append(loop.create_task(engine.cancel(e.mission_id)))
            if e.kind == "action_proposed"
            else None
        )
    )

    outcome = await run(engine, "Stop me", workspace)

    assert outcome.status == "cancelled"
    assert book.read_bytes() == original
    [action] = engine.journal.actions(outcome.mission_id)
    assert (action.status, action.reason) == ("rejected", "stopped by user")
    assert [t.status for t in engine.journal.tasks(outcome.mission_id)] == ["cancelled"]


async def test_journal_is_sqlite_in_wal_mode_with_usage_and_cache_reads(
    scripted: ScriptedModel, workspace: Path, ensemble_home: Path
) -> None:
    scripted.add("Two steps", delegate(task("r", "CACHE-TASK: read")), text("Done."))
    scripted.add("CACHE-TASK", tool_call("sheet_list", {"path": "invoices.xlsx"}), text("Two sheets."))
    engine = make_engine()
    outcome = await run(engine, "Two steps", workspace)
    assert outcome.status == "done"

    with sqlite3.connect(ensemble_home / "journal.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        calls = db.execute(
            "SELECT agent, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens FROM modelcall "
            "WHERE mission_id = ? ORDER BY id",
            (outcome.mission_id,),
        ).fetchall()
    assert [c[0] for c in calls] == ["lead", "spreadsheet", "spreadsheet", "lead"]
    assert all(c[2] > 0 for c in calls)
    assert calls[-1][3] > 0, "the lead's second call reads its prefix from the cache"
    mission = engine.journal.mission(outcome.mission_id)
    assert mission is not None
    assert mission.tokens == sum(sum(c[1:]) for c in calls)
    # Every request marks the system prompt, the tools and the newest message for caching.
    request = scripted.requests[-1]
    assert request["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert request["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert request["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert request["stream"] is True


async def test_secrets_never_reach_the_journal(
    scripted: ScriptedModel, workspace: Path, ensemble_home: Path
) -> None:
    scripted.add("Hello", text("Hello."))
    await run(make_engine(), "Hello", workspace)
    for file in ensemble_home.rglob("*"):
        if file.is_file():
            assert b"sk-ant-test" not in file.read_bytes(), file


async def test_a_follow_up_message_continues_a_finished_mission(
    scripted: ScriptedModel, workspace: Path
) -> None:
    seen: dict[str, Any] = {}

    def follow_up(request: dict[str, Any]) -> Any:
        seen["messages"] = request["messages"]
        return text("Also done.")

    scripted.add("First part", text("First part done."), follow_up)
    engine = make_engine()
    first = await engine.run_mission("First part", workspaces=[workspace])
    assert first.result == "First part done."

    engine.send_message(first.mission_id, "Now the second part")
    second = await engine.wait(first.mission_id)
    await engine.close()

    assert (second.status, second.result) == ("done", "Also done.")
    assert [m["role"] for m in seen["messages"]] == ["user", "assistant", "user"]
    assert seen["messages"][-1]["content"][-1]["text"] == "Now the second part"
    chat = [(m.role, m.text) for m in engine.journal.chat(first.mission_id)]
    assert chat[-2:] == [("user", "Now the second part"), ("assistant", "Also done.")]


async def test_a_message_sent_while_running_reaches_the_lead_at_its_next_turn(
    scripted: ScriptedModel, workspace: Path
) -> None:
    seen: dict[str, Any] = {}

    def lead_after_task(request: dict[str, Any]) -> Any:
        seen["last"] = request["messages"][-1]["content"]
        return text("Noted.")

    scripted.add("Busy lead", delegate(task("w", "WAIT-TASK: write")), lead_after_task)
    scripted.add("WAIT-TASK", write("A1", [["x"]]), text("Written."))
    engine = make_engine()
    loop = asyncio.get_running_loop()

    def on_event(event: Event) -> None:
        if event.kind == "action_proposed":
            engine.send_message(event.mission_id, "Use the Notes sheet next time")
            loop.call_soon(engine.decide, event.data["action_id"], Decision.approve())

    engine.subscribe(on_event)
    outcome = await run(engine, "Busy lead", workspace)

    assert outcome.status == "done"
    texts = [b.get("text") for b in seen["last"] if b["type"] == "text"]
    assert texts == ["The person wrote in the chat: Use the Notes sheet next time"]


async def test_a_rule_added_while_actions_wait_decides_them_and_later_ones(
    scripted: ScriptedModel, workspace: Path
) -> None:
    scripted.add("Two writes", delegate(task("w", "RULE-TASK: write twice")), text("Done."))
    scripted.add("RULE-TASK", write("A1", [["one"]]), write("A2", [["two"]]), text("Wrote both."))
    engine = make_engine()
    loop = asyncio.get_running_loop()
    pending_seen: list[list[str]] = []

    def on_event(event: Event) -> None:
        if event.kind == "action_proposed" and not pending_seen:

            def add() -> None:
                pending_seen.append([a.id for a in engine.pending_actions()])
                engine.add_rule(
                    "approve_all",
                    mission_id=event.mission_id,
                    tool="sheet_write",
                    description="Approve writes",
                )

            loop.call_soon(add)

    engine.subscribe(on_event)
    outcome = await run(engine, "Two writes", workspace)

    assert outcome.status == "done"
    assert len(pending_seen[0]) == 1
    assert (cell(workspace / "invoices.xlsx", "A1"), cell(workspace / "invoices.xlsx", "A2")) == (
        "one",
        "two",
    )
    actions = engine.journal.actions(outcome.mission_id)
    assert [a.decided_by.split(" ", 1)[1] for a in actions if a.decided_by] == ["(Approve writes)"] * 2
    assert engine.pending_actions() == []


def test_cost_estimate_follows_the_model_family() -> None:
    from app.pricing import estimate_cost

    cost = estimate_cost("claude-sonnet-5", 1_000_000, 1_000_000, 1_000_000, 1_000_000)
    assert cost == pytest.approx(3 + 15 + 0.3 + 3.75)
    assert estimate_cost("someone-elses-model", 1, 1, 1, 1) is None


async def test_an_agent_repeating_the_same_call_is_stopped(scripted: ScriptedModel, workspace: Path) -> None:
    got: dict[str, Any] = {}

    def lead_sees(request: dict[str, Any]) -> Any:
        got["outcome"] = json.loads(tool_results(request)[0]["content"])["tasks"][0]
        return text("The agent looped.")

    scripted.add("Repeat", delegate(task("rep", "REPEAT-TASK: read")), lead_sees)
    scripted.add("REPEAT-TASK", *(tool_call("sheet_list", {"path": "invoices.xlsx"}) for _ in range(5)))
    engine = make_engine()
    outcome = await run(engine, "Repeat yourself", workspace)
    assert outcome.status == "done"
    assert got["outcome"]["status"] == "failed"
    assert "same arguments 3 times" in got["outcome"]["reason"]
    # The third call runs (its result tells whether anything changed); then the agent stops.
    assert len([c for c in engine.journal.tool_calls(outcome.mission_id) if c.tool == "sheet_list"]) == 3
