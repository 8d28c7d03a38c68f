"""Checked results: every local write is read back through its connector after it runs and
compared with what was approved; a difference fails the action, in words, and the audit shows
each check. Real files, a real journal, a real CalDAV server (Radicale); tools run through the
approval gate with the person's decisions given on the proposal events."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import docx
import keyring
import openpyxl
import pytest
from _radicale import CalDavServer
from caldav.davclient import DAVClient

from app import api
from app.gate import ApprovalGate, CallSite, Decision, ToolResult
from app.journal import Event, Journal, Mission, ProposedAction
from connectors.base import Backup, ToolContext, restore, sha256_file
from connectors.calendar import TOOLS as CALENDAR_TOOLS
from connectors.calendar import CalDavAccount, WorkingHours
from connectors.documents import TOOLS as DOCUMENT_TOOLS
from connectors.email import KEYRING_SERVICE, keyring_entry
from connectors.spreadsheet import TOOLS as SHEET_TOOLS

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

TOOL = {t.name: t for t in [*SHEET_TOOLS, *DOCUMENT_TOOLS, *CALENDAR_TOOLS]}
CALDAV_PASSWORD = "cal-pw-Secret77"


class Desk:
    """A gate over a real journal, whose person approves every proposal (or as ``decide`` says)."""

    def __init__(self, tmp_path: Path, workspace: Path, **extra: Any) -> None:
        self.journal = Journal(tmp_path / "journal.sqlite3")
        self.journal.add(Mission(id="m", title="t", text="t"))
        self.gate = ApprovalGate(self.journal)
        self.ctx = ToolContext(
            workspaces=[workspace], backup_dir=tmp_path / "backups", mission_id="m", extra=dict(extra)
        )
        self.decide: dict[str, Decision] = {}
        """Per tool, the person's decision (approve when not named)."""
        self.proposed: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()

        def on_event(event: Event) -> None:
            if event.kind == "action_proposed":
                self.proposed.append(event.data)
                decision = self.decide.get(event.data["tool"], Decision.approve())
                loop.call_soon(self.gate.decide, event.data["action_id"], decision, TOOL[event.data["tool"]])

        self.journal.subscribe(on_event)
        self.calls = 0

    async def call(self, tool: str, **arguments: Any) -> ToolResult:
        self.calls += 1
        site = CallSite("m", "t1", "agent")
        return await self.gate.call(TOOL[tool], f"tu{self.calls}", arguments, self.ctx, site)

    def checks(self) -> list[api.WriteChecked]:
        found = []
        for row in self.journal.events("m"):
            event = api.typed(row.kind, row.mission_id, row.data, summary=row.summary, at=row.at)
            if isinstance(event, api.WriteChecked):
                found.append(event)
        return found

    def action(self) -> ProposedAction:
        return self.journal.actions("m")[-1]


@pytest.fixture
async def desk(tmp_path: Path, workspace: Path) -> AsyncIterator[Desk]:
    made = Desk(tmp_path, workspace)
    yield made
    made.journal.close()


def another_program_writes(path: Path, cell: str, value: object) -> None:
    """Changes a workbook as Excel would: opened, one cell set, saved whole."""
    book = openpyxl.load_workbook(path)
    book["Invoices"][cell] = value
    book.save(path)


# ---------------------------------------------------------------------------------------------
# Workbooks
# ---------------------------------------------------------------------------------------------


async def test_a_workbook_write_is_read_back_and_the_audit_shows_the_check(
    desk: Desk, workspace: Path
) -> None:
    result = await desk.call(
        "sheet_write", path="invoices.xlsx", sheet="invoices", range="E2", values=[["paid", "=D2*2"]]
    )
    assert not result.is_error, result.text
    assert "Not read back" not in result.text
    (check,) = desk.checks()
    assert check.outcome == "passed"
    assert check.ok
    assert check.checked == "2 cells in Invoices of invoices.xlsx"
    assert check.differences == []
    assert check.action_id == desk.action().id
    assert check.summary == "Checked 2 cells in Invoices of invoices.xlsx: as approved."
    assert desk.action().status == "executed"
    # The formula is compared by its text: it has no calculated value in the file.
    assert openpyxl.load_workbook(workspace / "invoices.xlsx")["Invoices"]["F2"].value == "=D2*2"
    # The check comes before the action is reported carried out.
    kinds = [row.kind for row in desk.journal.events("m")]
    assert kinds.index("write_checked") < kinds.index("action_executed")


async def test_appended_rows_and_a_new_workbook_are_read_back_where_they_went(desk: Desk) -> None:
    appended = await desk.call(
        "sheet_append_rows",
        path="invoices.xlsx",
        sheet="Invoices",
        rows=[["INV-5", "Hooli", "2026-11-02", 12]],
    )
    assert not appended.is_error, appended.text
    created = await desk.call(
        "sheet_create", path="new.xlsx", sheets=["Plan", "Empty"], rows={"Plan": [["a", 1.5, True, None]]}
    )
    assert not created.is_error, created.text
    csv = await desk.call("sheet_create", path="list.csv", sheets=["list"], rows={"list": [["007", 3, True]]})
    assert not csv.is_error, csv.text
    assert [(c.checked, c.outcome) for c in desk.checks()] == [
        ("4 cells in Invoices of invoices.xlsx", "passed"),
        ("4 cells in 2 sheets of new.xlsx", "passed"),
        ("3 cells in list of list.csv", "passed"),
    ]


async def test_a_file_changed_under_the_write_fails_the_action_with_the_difference(
    desk: Desk, workspace: Path
) -> None:
    book = workspace / "invoices.xlsx"
    before = book.read_bytes()
    seen: list[str] = []

    def meanwhile(action: ProposedAction) -> None:
        seen.append(action.tool)
        another_program_writes(book, "D3", 99)

    desk.gate.before_readback = meanwhile
    result = await desk.call("sheet_write", path="invoices.xlsx", sheet="Invoices", range="D3", values=[[42]])

    assert seen == ["sheet_write"]
    assert result.is_error
    assert "D3 on Invoices holds 99, not 42 as approved" in result.text
    assert "can be undone" in result.text
    action = desk.action()
    assert action.status == "failed"
    assert action.result is not None
    assert "holds 99, not 42" in action.result
    (check,) = desk.checks()
    assert check.outcome == "differs"
    assert not check.ok
    assert check.differences == ["D3 on Invoices holds 99, not 42 as approved"]
    failed = [
        api.typed(r.kind, r.mission_id, r.data, summary=r.summary, at=r.at)
        for r in desk.journal.events("m")
        if r.kind == "action_failed"
    ]
    assert len(failed) == 1
    assert isinstance(failed[0], api.ActionFailed)
    assert failed[0].undoable
    # The backup is kept: the file can be taken back to what it was before the action.
    assert action.backup_json is not None
    backup = Backup.from_json(json.loads(action.backup_json))
    restore(backup, force=True)  # changed since the write, so only with force
    assert book.read_bytes() == before


async def test_only_the_rows_written_are_unpacked_and_they_are_read_right(
    desk: Desk, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sheet's XML is unpacked in small pieces, so the written rows fall across several."""
    from connectors.spreadsheet import _readback

    monkeypatch.setattr(_readback, "_PIECE", 48)
    book = workspace / "invoices.xlsx"
    block = [["INV-2b", "Globex", "2026-12-02", 301.5, "=D3*2"], ["INV-3b", "Initech", None, 76, "paid"]]
    assert not (
        await desk.call("sheet_write", path="invoices.xlsx", sheet="Invoices", range="A3", values=block)
    ).is_error
    rows = [["INV-9", "Hooli", "2027-01-05", 5]]
    assert not (
        await desk.call("sheet_append_rows", path="invoices.xlsx", sheet="Invoices", rows=rows)
    ).is_error
    desk.gate.before_readback = lambda _action: another_program_writes(book, "B4", "Someone else")
    result = await desk.call(
        "sheet_write", path="invoices.xlsx", sheet="Invoices", range="B3:B4", values=[["X"], ["Y"]]
    )
    assert [(c.checked, c.outcome) for c in desk.checks()] == [
        ("10 cells in Invoices of invoices.xlsx", "passed"),
        ("4 cells in Invoices of invoices.xlsx", "passed"),
        ("2 cells in Invoices of invoices.xlsx", "differs"),
    ]
    assert desk.checks()[-1].differences == ["B4 on Invoices holds Someone else, not Y as approved"]
    assert result.is_error


async def test_an_edited_approval_is_checked_against_the_edited_value(desk: Desk, workspace: Path) -> None:
    book = workspace / "invoices.xlsx"
    desk.decide["sheet_write"] = Decision.edit({"values": [[43]]})
    assert not (
        await desk.call("sheet_write", path="invoices.xlsx", sheet="Invoices", range="D3", values=[[42]])
    ).is_error
    assert openpyxl.load_workbook(book)["Invoices"]["D3"].value == 43
    assert desk.checks()[-1].outcome == "passed"

    # Something puts the proposed value back between the write and the check: it is the
    # edited value that was approved, so that is a difference.
    desk.gate.before_readback = lambda _action: another_program_writes(book, "D4", 42)
    result = await desk.call("sheet_write", path="invoices.xlsx", sheet="Invoices", range="D4", values=[[42]])
    assert result.is_error
    assert "D4 on Invoices holds 42, not 43 as approved" in result.text


async def test_another_approved_write_in_between_is_not_taken_for_a_failure(desk: Desk) -> None:
    """Two tasks writing one workbook: the later write lands before the earlier one is read back."""
    from connectors.spreadsheet import SheetWriteArgs
    from connectors.spreadsheet._write import _commit, _write_plan

    later = SheetWriteArgs(path="invoices.xlsx", sheet="Invoices", range="E2", values=[["by the other task"]])

    def meanwhile(_action: ProposedAction) -> None:
        _commit(desk.ctx, later.path, lambda fast: _write_plan(desk.ctx, later, fast), creating=False)

    desk.gate.before_readback = meanwhile
    result = await desk.call(
        "sheet_write", path="invoices.xlsx", sheet="Invoices", range="E2", values=[["mine"]]
    )
    (check,) = desk.checks()
    assert check.outcome == "not_checked"
    assert check.reason == "another approved change wrote invoices.xlsx right after this one"
    assert not result.is_error
    assert desk.action().status == "executed"


async def test_a_write_whose_file_vanished_is_not_a_pass(desk: Desk, workspace: Path) -> None:
    desk.gate.before_readback = lambda _action: (workspace / "invoices.xlsx").unlink()
    result = await desk.call(
        "sheet_write", path="invoices.xlsx", sheet="Invoices", range="E2", values=[["x"]]
    )
    (check,) = desk.checks()
    assert check.outcome == "not_checked"
    assert not check.ok
    assert check.reason is not None
    assert "invoices.xlsx" in check.reason
    assert "Not read back to check it" in result.text


# ---------------------------------------------------------------------------------------------
# Documents and text files
# ---------------------------------------------------------------------------------------------


async def test_a_document_and_a_text_file_are_read_back(desk: Desk, workspace: Path) -> None:
    blocks = [
        {"type": "heading", "text": "Report", "level": 1},
        {"type": "paragraph", "text": "All invoices are paid."},
        {"type": "bullets", "items": ["Acme", "Globex"]},
        {"type": "table", "rows": [["Who", "Amount"], ["Acme", "1200"]]},
    ]
    assert not (await desk.call("doc_create", path="report.docx", blocks=blocks)).is_error
    edit = [{"op": "replace", "find": "paid", "replace": "settled"}]
    assert not (await desk.call("doc_edit", path="report.docx", operations=edit)).is_error
    assert not (await desk.call("files_write_text", path="notes.txt", text="one\ntwo")).is_error
    assert not (await desk.call("files_write_text", path="notes.txt", text="three", mode="append")).is_error
    assert [(c.tool, c.checked, c.outcome) for c in desk.checks()] == [
        ("doc_create", "the text of report.docx", "passed"),
        ("doc_edit", "the text of report.docx", "passed"),
        ("files_write_text", "the text of notes.txt", "passed"),
        ("files_write_text", "the text appended to notes.txt", "passed"),
    ]


async def test_a_document_changed_under_the_edit_fails_with_the_paragraph(
    desk: Desk, workspace: Path
) -> None:
    path = workspace / "memo.docx"
    assert not (
        await desk.call("doc_create", path="memo.docx", blocks=[{"type": "paragraph", "text": "Pay 100"}])
    ).is_error

    def meanwhile(_action: ProposedAction) -> None:
        document = docx.Document(str(path))
        document.paragraphs[0].runs[0].text = "Pay 900"
        document.save(str(path))

    desk.gate.before_readback = meanwhile
    result = await desk.call(
        "doc_edit", path="memo.docx", operations=[{"op": "replace", "find": "100", "replace": "200"}]
    )
    assert result.is_error
    assert "paragraph 1 of the text of memo.docx reads “Pay 900”, not “Pay 200” as approved" in result.text


async def test_a_whole_file_write_without_its_own_read_back_is_checked_by_its_bytes(
    desk: Desk, workspace: Path
) -> None:
    result = await desk.call("sheet_insert_rows", path="invoices.xlsx", sheet="Invoices", before_row=3)
    assert not result.is_error, result.text
    (check,) = desk.checks()
    assert (check.checked, check.outcome) == ("the bytes of invoices.xlsx", "passed")
    backup = Backup.from_json(json.loads(desk.action().backup_json or "{}"))
    assert sha256_file(workspace / "invoices.xlsx") == backup.sha256_after


# ---------------------------------------------------------------------------------------------
# A calendar on a real CalDAV server
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def caldav_server() -> Iterator[CalDavServer]:
    with CalDavServer({"alice": CALDAV_PASSWORD}) as server:
        client = DAVClient(url=server.url, username="alice", password=CALDAV_PASSWORD)
        client.principal().make_calendar(name="Work")  # type: ignore[no-untyped-call]
        yield server


def calendar_options(server: CalDavServer) -> dict[str, Any]:
    keyring.set_password(KEYRING_SERVICE, keyring_entry("home"), CALDAV_PASSWORD)
    account = CalDavAccount(name="home", url=server.url, user="alice")
    hours = WorkingHours.model_validate({"time_zone": "Europe/Berlin"}).model_dump(mode="json")
    return {"account": account.model_dump(mode="json"), "hours": hours}


async def test_calendar_events_are_read_back_from_the_server(
    caldav_server: CalDavServer, tmp_path: Path, workspace: Path
) -> None:
    desk = Desk(tmp_path, workspace, calendar=calendar_options(caldav_server))
    created = await desk.call(
        "calendar_create_event",
        calendar="Work",
        summary="Budget",
        start="2027-02-01T09:00",
        end="2027-02-01T10:30",
        location="Room 1",
        attendees=["bob@example.com"],
    )
    assert not created.is_error, created.text
    uid = desk.proposed[0]["arguments"]["uid"]
    # The person moves it to another room before approving: that is what is checked.
    desk.decide["calendar_update_event"] = Decision.edit({"location": "Room 9"})
    updated = await desk.call("calendar_update_event", calendar="Work", uid=uid, location="Room 7")
    assert not updated.is_error, updated.text
    assert "LOCATION:Room 9" in caldav_server.calendar_files("alice")[0].read_text()

    # Another program renames it on the server between the change and the check.
    def meanwhile(_action: ProposedAction) -> None:
        (stored,) = caldav_server.calendar_files("alice")
        stored.write_text(stored.read_text().replace("SUMMARY:Budget", "SUMMARY:Lunch"))

    desk.gate.before_readback = meanwhile
    moved = await desk.call("calendar_update_event", calendar="Work", uid=uid, end="2027-02-01T11:00")
    assert moved.is_error
    assert "its title is “Lunch”, not “Budget” as approved" in moved.text

    # The server stops answering before the check: not checked, never a pass.
    desk.gate.before_readback = lambda _action: caldav_server.stop()
    deleted = await desk.call("calendar_delete_event", calendar="Work", uid=uid)
    assert [(c.tool, c.outcome) for c in desk.checks()] == [
        ("calendar_create_event", "passed"),
        ("calendar_update_event", "passed"),
        ("calendar_update_event", "differs"),
        ("calendar_delete_event", "not_checked"),
    ]
    assert desk.checks()[0].checked == "the event “Budget” in Work"
    assert "Not read back to check it" in deleted.text
    desk.journal.close()
