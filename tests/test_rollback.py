"""Rolling a whole mission back: a real mission (scripted model over HTTP, real journal, real
files, a real Dovecot) writes a workbook, edits and creates documents, moves an email and sends
one; ``Engine.undo_mission`` (and ``ensemble undo --mission``) takes every local change back."""

from __future__ import annotations

import asyncio
import email
import io
import json
import os
from email import policy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docx
import keyring
import openpyxl
import pytest
from _dovecot import MailServer
from imapclient import IMAPClient
from send2trash import plat_other  # type: ignore[import-untyped]

from app import cli
from app.api import MissionRolledBack
from app.engine import Engine, EngineError
from app.settings import Settings
from app.testing.scripted_model import ScriptedModel, text, tool_call
from connectors.base import ToolContext, outside_text
from connectors.email import KEYRING_SERVICE, TOOLS, close_mission, keyring_entry

if TYPE_CHECKING:
    from collections.abc import Iterator

    from app.api import AnyEvent

pytestmark = [
    pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning"),
]

USERS = {"alice": "alice-pw", "bob": "bob-pw"}
MISSION = (
    "Close INV-4, finalise report.docx, write summary.docx, archive Bob's note and tell bob@example.test"
)


@pytest.fixture
def trash_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private freedesktop trash, so tests never fill the real one."""
    data = tmp_path / "home" / ".local" / "share"
    data.mkdir(parents=True)
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    monkeypatch.setattr(plat_other, "XDG_DATA_HOME", os.fsencode(data))
    monkeypatch.setattr(plat_other, "HOMETRASH_B", os.fsencode(data / "Trash"))
    monkeypatch.setattr(plat_other, "HOMETRASH", str(data / "Trash"))
    return data / "Trash"


@pytest.fixture
def mail() -> Iterator[MailServer]:
    with MailServer(USERS) as server:
        yield server


def account(server: MailServer) -> dict[str, Any]:
    keyring.set_password(KEYRING_SERVICE, keyring_entry("alice"), USERS["alice"])
    return {
        "account": {
            "name": "alice",
            "kind": "imap",
            "address": "alice@example.test",
            "user": "alice",
            "imap_host": "127.0.0.1",
            "imap_port": server.imap_port,
            "smtp_host": "127.0.0.1",
            "smtp_port": server.smtp_port,
            "security": "none",
        }
    }


def message_ids(server: MailServer, user: str, folder: str) -> list[str]:
    client = IMAPClient("127.0.0.1", port=server.imap_port, ssl=False, timeout=10)
    client.login(user, USERS[user])
    try:
        client.select_folder(folder, readonly=True)
        uids = client.search("ALL")
        fetched = client.fetch(uids, [b"BODY.PEEK[]"]) if uids else {}
        return [
            str(email.message_from_bytes(fetched[u][b"BODY[]"], policy=policy.default)["Message-ID"])  # type: ignore[misc]
            for u in sorted(fetched)
        ]
    finally:
        client.logout()


def make_report(workspace: Path) -> Path:
    document = docx.Document()
    document.add_heading("Quarterly report", level=1)
    document.add_paragraph("Status: DRAFT")
    document.add_paragraph("Revenue grew.")
    path = workspace / "report.docx"
    document.save(str(path))
    return path


def script(model: ScriptedModel, mission: str, *, email_id: str | None) -> None:
    # The documents task waits for the workbook's: the writes happen in a known order.
    tasks: list[dict[str, Any]] = [
        {"id": "book", "agent": "spreadsheet", "instructions": "BOOK-TASK: close INV-4"},
        {
            "id": "docs",
            "agent": "documents",
            "instructions": "DOCS-TASK: finalise the report",
            "depends_on": ["book"],
        },
    ]
    if email_id is not None:
        tasks.append({"id": "mail", "agent": "email", "instructions": "MAIL-TASK: archive and tell Bob"})
    model.add(mission, tool_call("delegate", {"tasks": tasks}), text("All done."))
    model.add(
        "BOOK-TASK",
        tool_call(
            "sheet_write", {"path": "invoices.xlsx", "sheet": "Invoices", "range": "E5", "values": [["paid"]]}
        ),
        text("Wrote E5."),
    )
    model.add(
        "DOCS-TASK",
        tool_call(
            "doc_edit",
            {"path": "report.docx", "operations": [{"op": "replace", "find": "DRAFT", "replace": "FINAL"}]},
        ),
        tool_call(
            "doc_create",
            {"path": "summary.docx", "blocks": [{"type": "paragraph", "text": "INV-4 is paid."}]},
        ),
        text("Wrote them."),
    )
    if email_id is not None:
        model.add(
            "MAIL-TASK",
            tool_call("email_move", {"id": email_id, "folder": "Archive"}),
            tool_call(
                "email_send", {"to": ["bob@example.test"], "subject": "INV-4", "body": "INV-4 is paid."}
            ),
            text("Archived and told Bob."),
        )


async def find_note(server: MailServer, workspace: Path, tmp_path: Path, options: dict[str, Any]) -> str:
    """The id of Bob's note in alice's INBOX, as email_search gives it."""
    ctx = ToolContext(workspaces=[workspace], backup_dir=tmp_path / "b", mission_id="m_find", extra=options)
    search = next(t for t in TOOLS if t.name == "email_search")
    output = await search.run(ctx, search.parse({"subject": "Note"}))
    await close_mission("m_find")

    return str(json.loads(outside_text(output.text))["messages"][0]["id"])


async def run_mission(
    scripted: ScriptedModel, workspace: Path, options: dict[str, Any], *, email_id: str | None
) -> tuple[Engine, str]:
    script(scripted, MISSION, email_id=email_id)
    engine = Engine(settings=Settings())
    outcome = await engine.run_mission(MISSION, workspaces=[workspace], approve="all", options=options)
    assert outcome.status == "done", outcome.result
    return engine, outcome.mission_id


def cell(path: Path, ref: str) -> Any:
    book = openpyxl.load_workbook(path)
    try:
        return book["Invoices"][ref].value
    finally:
        book.close()


async def test_a_mission_is_rolled_back_byte_for_byte_and_a_second_run_does_nothing(
    scripted: ScriptedModel,
    mail: MailServer,
    workspace: Path,
    tmp_path: Path,
    trash_dir: Path,
) -> None:
    mail.deliver(
        "alice@example.test",
        b"From: bob@example.test\r\nTo: alice@example.test\r\nSubject: Note\r\n"
        b"Message-ID: <note@example.test>\r\n\r\nArchive me.\r\n",
    )
    client = IMAPClient("127.0.0.1", port=mail.imap_port, ssl=False, timeout=10)
    client.login("alice", USERS["alice"])
    client.create_folder("Archive")
    client.logout()
    options = {"email": account(mail)}
    note = await find_note(mail, workspace, tmp_path, options)
    book, report = workspace / "invoices.xlsx", make_report(workspace)
    book_before, report_before = book.read_bytes(), report.read_bytes()

    engine, mission_id = await run_mission(scripted, workspace, options, email_id=note)
    try:
        assert cell(book, "E5") == "paid"
        assert "FINAL" in "\n".join(p.text for p in docx.Document(str(report)).paragraphs)
        assert (workspace / "summary.docx").exists()
        assert message_ids(mail, "alice", "Archive") == ["<note@example.test>"]
        assert len(message_ids(mail, "bob", "INBOX")) == 1

        plan = engine.rollback_plan(mission_id)
        assert plan.refusal is None
        assert len(plan.steps) == 4
        assert not plan.changed
        words = "\n".join(plan.lines())
        assert "Put invoices.xlsx back as it was before" in words
        assert "Move summary.docx, which the mission created, to the trash" in words
        assert "Move the message back from 'Archive' to 'INBOX'" in words
        # The file writes are taken back newest first.
        file_steps = [s.target.rsplit("/", 1)[-1] for s in plan.steps if s.target and "/" in s.target]
        assert file_steps == ["summary.docx", "report.docx", "invoices.xlsx"]
        (sent,) = plan.cannot_undo
        assert "cannot be called back" in sent.why
        assert "bob@example.test" in sent.what or "INV-4" in sent.what

        events: list[AnyEvent] = []
        engine.subscribe_events(events.append)
        result = await engine.undo_mission(mission_id)

        assert result.complete, result.lines()
        assert len(result.of_outcome("undone")) == 4
        assert book.read_bytes() == book_before
        assert report.read_bytes() == report_before
        assert not (workspace / "summary.docx").exists()
        assert [p.name for p in (trash_dir / "files").iterdir()] == ["summary.docx"]
        assert sorted(message_ids(mail, "alice", "INBOX")) == ["<note@example.test>"]
        assert message_ids(mail, "alice", "Archive") == []
        assert [r.what for r in result.cannot_undo] == [sent.what]
        assert any("cannot be undone" in line for line in result.lines())
        (rolled,) = [e for e in events if isinstance(e, MissionRolledBack)]
        assert sorted(rolled.undone) == sorted(s.action_id for s in plan.steps)
        assert rolled.cannot_undo == [sent.action_id]
        assert rolled.complete
        undone = [e for e in engine.journal.events(mission_id) if e.kind == "action_undone"]
        assert len(undone) == 4
        assert all(a.status == "undone" for a in engine.journal.actions(mission_id) if a.effect == "local")

        again = await engine.undo_mission(mission_id)

        assert again.results == []
        assert again.summary.startswith("Nothing was left to undo")
        assert book.read_bytes() == book_before
        assert engine.rollback_plan(mission_id).already_undone == 4
    finally:
        await engine.close()


async def test_a_file_changed_since_is_refused_with_what_would_be_lost_then_undone_anyway(
    scripted: ScriptedModel, workspace: Path, trash_dir: Path
) -> None:
    book, report = workspace / "invoices.xlsx", make_report(workspace)
    book_before, report_before = book.read_bytes(), report.read_bytes()
    engine, mission_id = await run_mission(scripted, workspace, {}, email_id=None)
    try:
        # Another program changes the workbook after the mission wrote it.
        other = openpyxl.load_workbook(book)
        other["Invoices"]["B2"] = "Edited by hand"
        other.save(book)
        other.close()
        edited = book.read_bytes()

        plan = engine.rollback_plan(mission_id)
        (changed,) = plan.changed
        assert changed.target is not None
        assert changed.target.endswith("invoices.xlsx")
        lost = "\n".join(changed.would_lose)
        assert "Edited by hand" in lost
        assert "trash" in lost
        assert "Undoing anyway puts back the version from before the mission" in "\n".join(plan.lines())

        first = await engine.undo_mission(mission_id)

        (refused,) = first.of_outcome("refused")
        assert refused.action_id == changed.action_id
        assert "Edited by hand" in refused.message
        assert len(first.of_outcome("undone")) == 2
        assert not first.complete
        assert book.read_bytes() == edited  # left alone
        assert report.read_bytes() == report_before
        assert engine.journal.action(changed.action_id).status == "executed"  # type: ignore[union-attr]

        forced = await engine.undo_mission(mission_id, force=True)

        assert [r.action_id for r in forced.results] == [changed.action_id]  # only what was left
        assert forced.complete
        assert forced.forced
        assert book.read_bytes() == book_before
        trashed = trash_dir / "files" / "invoices.xlsx"
        assert trashed.read_bytes() == edited  # the person's later version is in the trash
    finally:
        await engine.close()


async def test_a_running_mission_is_refused_in_words(scripted: ScriptedModel, workspace: Path) -> None:
    make_report(workspace)
    script(scripted, MISSION, email_id=None)
    engine = Engine(settings=Settings())
    proposed = asyncio.Event()
    engine.subscribe(lambda e: proposed.set() if e.kind == "action_proposed" else None)
    mission_id = engine.start_mission(MISSION, workspaces=[workspace])
    try:
        await asyncio.wait_for(proposed.wait(), 30)
        plan = engine.rollback_plan(mission_id)
        assert plan.refusal is not None
        assert "still running" in plan.refusal
        assert plan.lines() == [plan.refusal]
        with pytest.raises(EngineError, match=r"still running\. Stop it first"):
            await engine.undo_mission(mission_id)
    finally:
        await engine.cancel(mission_id)
        await engine.close()


def test_the_command_line_shows_the_plan_and_undoes_with_yes(
    scripted: ScriptedModel,
    workspace: Path,
    trash_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    book, report = workspace / "invoices.xlsx", make_report(workspace)
    book_before, report_before = book.read_bytes(), report.read_bytes()

    async def mission() -> str:
        engine, mission_id = await run_mission(scripted, workspace, {}, email_id=None)
        await engine.close()
        return mission_id

    mission_id = asyncio.run(mission())
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    assert cli.main(["undo", "--mission", mission_id]) != 0
    said = capsys.readouterr().out
    assert "Put invoices.xlsx back as it was before" in said
    assert "Nothing was undone." in said
    assert cell(book, "E5") == "paid"

    code = cli.main(["undo", "--mission", mission_id, "--yes"])

    said = capsys.readouterr().out
    assert code == 0, said
    assert "Undid 3 changes." in said
    assert "Undone: Restored" in said
    assert book.read_bytes() == book_before
    assert report.read_bytes() == report_before
    assert not (workspace / "summary.docx").exists()

    assert cli.main(["undo", "--mission", mission_id, "--yes"]) == 0
    assert "Every change" in capsys.readouterr().out


async def test_a_step_that_fails_leaves_the_others_done_and_a_second_run_tries_only_it(
    scripted: ScriptedModel, workspace: Path, trash_dir: Path
) -> None:
    book, report = workspace / "invoices.xlsx", make_report(workspace)
    book_before = book.read_bytes()
    engine, mission_id = await run_mission(scripted, workspace, {}, email_id=None)
    try:
        (edit,) = [a for a in engine.journal.actions(mission_id) if a.tool == "doc_edit"]
        # The copy of report.docx from before the mission is lost (a disk clean-up, say).
        Path(json.loads(edit.backup_json or "{}")["backup_path"]).unlink()
        finished = report.read_bytes()

        first = await engine.undo_mission(mission_id)

        (failed,) = first.of_outcome("failed")
        assert failed.action_id == edit.id
        assert "is missing" in failed.message
        assert len(first.of_outcome("undone")) == 2  # the workbook and the new document
        assert book.read_bytes() == book_before
        assert report.read_bytes() == finished  # untouched
        assert any("Run the undo again later" in line for line in first.lines())
        (event,) = [e for e in engine.journal.events(mission_id) if e.kind == "mission_rolled_back"]
        assert event.data["failed"] == [edit.id]
        assert event.data["complete"] is False

        second = await engine.undo_mission(mission_id)

        assert [r.action_id for r in second.results] == [edit.id]  # only what is left
        assert second.results[0].outcome == "failed"
    finally:
        await engine.close()


async def test_a_write_whose_read_back_differed_is_rolled_back_with_the_rest(
    scripted: ScriptedModel, workspace: Path, trash_dir: Path
) -> None:
    """A write that failed its read-back was carried out: undoing the mission takes it back too."""
    book, report = workspace / "invoices.xlsx", make_report(workspace)
    book_before, report_before = book.read_bytes(), report.read_bytes()
    script(scripted, MISSION, email_id=None)
    engine = Engine(settings=Settings())

    def another_program(action: Any) -> None:
        # Another program changes the workbook between the write and its read-back.
        if action.tool == "sheet_write":
            other = openpyxl.load_workbook(book)
            other["Invoices"]["E5"] = "changed under it"
            other.save(book)
            other.close()

    engine.gate.before_readback = another_program
    try:
        outcome = await engine.run_mission(MISSION, workspaces=[workspace], approve="all")
        (write,) = [a for a in engine.journal.actions(outcome.mission_id) if a.tool == "sheet_write"]
        assert write.status == "failed"
        assert write.backup_json is not None
        assert book.read_bytes() != book_before

        plan = engine.rollback_plan(outcome.mission_id)
        assert write.id in [s.action_id for s in plan.steps]
        # The other program's version is not the one the write left: it is a change since.
        assert write.id in [s.action_id for s in plan.changed]

        first = await engine.undo_mission(outcome.mission_id)
        (refused,) = first.of_outcome("refused")
        assert refused.action_id == write.id
        assert report.read_bytes() == report_before

        forced = await engine.undo_mission(outcome.mission_id, force=True)
        assert [r.action_id for r in forced.of_outcome("undone")] == [write.id]
        assert book.read_bytes() == book_before
        assert engine.journal.action(write.id).status == "undone"  # type: ignore[union-attr]
        assert (trash_dir / "files" / "invoices.xlsx").exists()  # the other program's version
    finally:
        await engine.close()


async def test_a_write_whose_read_back_differed_by_its_own_doing_is_undone_without_force(
    scripted: ScriptedModel, workspace: Path, trash_dir: Path
) -> None:
    """A failed read-back with the file as the write left it: nothing changed since, so no force."""
    book, report = workspace / "invoices.xlsx", make_report(workspace)
    book_before = book.read_bytes()
    script(scripted, MISSION, email_id=None)
    engine = Engine(settings=Settings())
    engine.gate.before_readback = lambda _action: None
    try:
        outcome = await engine.run_mission(MISSION, workspaces=[workspace], approve="all")
        (write,) = [a for a in engine.journal.actions(outcome.mission_id) if a.tool == "sheet_write"]
        assert write.status == "executed"
        # As the gate journals a write whose read-back differed (the file as the write left it).
        engine.journal.update(write, status="failed")

        result = await engine.undo_mission(outcome.mission_id)

        assert result.complete, result.lines()
        assert write.id in [r.action_id for r in result.of_outcome("undone")]
        assert book.read_bytes() == book_before
        assert report.exists()
    finally:
        await engine.close()
