"""The audit in words: every kind of event has a label, and a mission's rows name tools by
their titles, never by their ids (even for a journal written before titles were recorded)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import asyncio
import typing
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from app import api
from app.api import events
from app.gate import ApprovalGate, CallSite, Decision
from app.journal import Event, Journal, Mission
from connectors.base import Preview, TextDetail, Tool, ToolContext, ToolOutput
from ui.app import create_application
from ui.audit import KIND_WORDS, AuditView, kind_words

if TYPE_CHECKING:
    from pathlib import Path

    from pytestqt.qtbot import QtBot

TOOL_IDS = ("sheet_write", "email_send", "delegate", "ask_user", "browser_request", "sheet_read")


def _kinds() -> list[str]:
    union = typing.get_args(events.KnownEvent)[0]
    return [str(model.model_fields["kind"].default) for model in typing.get_args(union)]


def test_every_kind_of_event_has_a_label_in_words() -> None:
    kinds = _kinds()
    assert len(kinds) > 20
    for kind in kinds:
        assert kind in KIND_WORDS, kind
        label = kind_words(kind)
        assert label, kind
        assert label != kind, kind
        assert "_" not in label, kind


def _event(kind: str, summary: str, audit_id: int, task_id: str | None = None, **data: Any) -> api.AnyEvent:
    return api.typed(kind, "m1", data, task_id=task_id, summary=summary, audit_id=audit_id)


def _mission() -> list[api.AnyEvent]:
    """A mission's events as an older journal has them: summaries that name tool ids."""
    cells = {"path": "invoices.xlsx", "sheet": "Invoices", "range": "B2", "values": [[42]]}
    mail = {"to": ["bob@example.test"], "subject": "Invoices", "body": "Attached."}
    rows: list[tuple[str, str, str | None, dict[str, Any]]] = [
        ("mission_started", "Fill in the invoices", None, {"text": "Fill in the invoices"}),
        ("tool_called", "lead called delegate (read)", None, {"tool_call_id": "c1", "tool": "delegate"}),
        ("task_started", "spreadsheet: fill B2", "t1", {"key": "a", "agent": "spreadsheet"}),
        (
            "tool_called",
            "spreadsheet called sheet_write (local)",
            "t1",
            {"tool_call_id": "c2", "tool": "sheet_write", "effect": "local", "arguments": cells},
        ),
        (
            "action_proposed",
            "spreadsheet proposes: Write 42 to B2",
            "t1",
            {"action_id": "a1", "agent": "spreadsheet", "tool": "sheet_write", "arguments": cells},
        ),
        (
            "action_decided",
            "sheet_write approved by the person",
            "t1",
            {"action_id": "a1", "decision": "approve", "decided_by": "person"},
        ),
        (
            "write_checked",
            "Checked 1 cell in Invoices of invoices.xlsx: as approved.",
            "t1",
            {"action_id": "a1", "tool": "sheet_write", "outcome": "passed", "ok": True},
        ),
        ("action_executed", "Done: Write 42 to B2", "t1", {"action_id": "a1", "undoable": True}),
        ("tool_result", "sheet_write returned", "t1", {"tool_call_id": "c2", "tool": "sheet_write"}),
        (
            "tool_called",
            "email called email_send (external)",
            "t2",
            {"tool_call_id": "c3", "tool": "email_send", "effect": "external", "arguments": mail},
        ),
        (
            "action_proposed",
            "email proposes: Send “Invoices” to bob@example.test",
            "t2",
            {"action_id": "a2", "agent": "email", "tool": "email_send", "arguments": mail},
        ),
        (
            "action_decided",
            "email_send rejected by the person: not yet",
            "t2",
            {"action_id": "a2", "decision": "reject", "decided_by": "person", "reason": "not yet"},
        ),
        (
            "tool_result",
            "email_send failed: Rejected by the person",
            "t2",
            {
                "tool_call_id": "c3",
                "tool": "email_send",
                "is_error": True,
                "result": "Rejected by the person",
            },
        ),
        (
            "action_failed",
            "sheet_write failed: the file is open in another program",
            "t1",
            {"action_id": "a1", "error": "The file is open in another program"},
        ),
        (
            "rule_suggested",
            "You approved 3 times: Change a workbook (sheet_write). Always allow it in this mission?",
            None,
            {"tool": "sheet_write", "target": "invoices.xlsx", "count": 3},
        ),
        ("tool_called", "lead called ask_user (read)", None, {"tool_call_id": "c4", "tool": "ask_user"}),
        ("tool_result", "delegate returned", None, {"tool_call_id": "c1", "tool": "delegate"}),
        ("mission_finished", "Mission done", None, {"status": "done"}),
    ]
    return [
        _event(kind, summary, i + 1, task_id, **data) for i, (kind, summary, task_id, data) in enumerate(rows)
    ]


def test_the_audit_rows_name_no_tool_id(qtbot: QtBot) -> None:
    create_application()
    view = AuditView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    mission = _mission()
    view.apply(mission)
    model = view.model
    assert model.rowCount() == len(mission)
    rows = [
        [str(model.index(r, c).data() or "") for c in range(model.columnCount())]
        for r in range(model.rowCount())
    ]
    for row in rows:
        for text in row:
            for tool in TOOL_IDS:
                assert tool not in text, (tool, row)
            assert "_" not in text, row
    summaries = [row[2] for row in rows]
    assert "Spreadsheet agent: Change a workbook · invoices.xlsx" in summaries
    assert "Change a workbook: approved by you" in summaries
    assert "Change a workbook: done" in summaries
    assert any(s.startswith("Lead: ") for s in summaries)
    # The selected event's card names it in words too, and puts the outcome before the check.
    for event in mission:
        assert view.select_event(lambda e, ev=event: e is ev)
        card = view.detail_card
        shown = [card.heading.text(), *card.fields.values()]
        for text in shown:
            for tool in TOOL_IDS:
                assert tool not in text, (tool, text)
    assert view.select_event(lambda e: e.kind == "action_executed")
    result = view.detail_card.fields["Result"]
    assert result.startswith("Carried out")
    assert result.splitlines()[-1] == "Checked 1 cell in Invoices of invoices.xlsx: as approved."
    assert view.export_json_button.text() == "Export…"


class _SendArgs(BaseModel):
    to: str
    body: str


async def test_the_gate_summarises_a_call_by_its_title_not_its_id(tmp_path: Path) -> None:
    async def run(_ctx: ToolContext, args: _SendArgs) -> ToolOutput:
        return ToolOutput(f"sent to {args.to}")

    async def preview(_ctx: ToolContext, args: _SendArgs) -> Preview:
        return Preview(summary=f"Send to {args.to}", detail=TextDetail(), text=args.body)

    tool = Tool(
        name="email_send",
        title="Send an email",
        description="d",
        effect="external",
        args_model=_SendArgs,
        run=run,
        preview=preview,
    )
    journal = Journal(tmp_path / "j.sqlite3")
    journal.add(Mission(id="m", title="t", text="t"))
    gate = ApprovalGate(journal)
    loop = asyncio.get_running_loop()
    seen: list[Event] = []

    def on_event(event: Event) -> None:
        seen.append(event)
        if event.kind == "action_proposed":
            loop.call_soon(gate.decide, event.data["action_id"], Decision.approve())

    journal.subscribe(on_event)
    ctx = ToolContext(workspaces=[tmp_path], backup_dir=tmp_path / "b")
    result = await gate.call(
        tool, "tu1", {"to": "bob@example.test", "body": "Hi"}, ctx, CallSite("m", "t1", "email")
    )
    assert result.text == "sent to bob@example.test"
    summaries = {e.kind: e.summary for e in seen}
    assert summaries["tool_called"] == "Email agent: Send an email"
    assert summaries["action_decided"] == "Send an email: approved by you"
    assert summaries["tool_result"] == "Send an email: done"
    for summary in summaries.values():
        assert "email_send" not in summary, summary
    journal.close()
