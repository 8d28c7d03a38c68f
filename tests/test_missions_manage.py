"""Missions the person renames, archives and deletes (issue 17): the engine, the journal, the
command line's read-only list and audit, and a journal from before archiving existed.

Missions run for real against the scripted model; deleting one keeps its audit (the record of
what was done, and so its undo) unless the person asks for that to go too."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import TYPE_CHECKING, Any

import openpyxl
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from app import _schema, cli
from app.engine import Engine
from app.errors import EngineError
from app.journal import Journal, Mission
from app.reader import JournalReader
from app.testing.scripted_model import ScriptedModel, text, tool_call

if TYPE_CHECKING:
    from pathlib import Path

MISSION = "Mark INV-1 overdue in the workbook"


def script_mark(model: ScriptedModel, words: str = MISSION) -> None:
    model.add(
        words,
        tool_call(
            "delegate",
            {"tasks": [{"id": "mark", "agent": "spreadsheet", "instructions": "MARK-MANAGE: set E2"}]},
        ),
        text("INV-1 is marked overdue."),
    )
    model.add(
        "MARK-MANAGE",
        tool_call(
            "sheet_write",
            {"path": "invoices.xlsx", "sheet": "Invoices", "range": "E2", "values": [["overdue"]]},
        ),
        text("Wrote E2."),
    )


def run_done(workspace: Path, words: str = MISSION) -> str:
    """Runs a mission to its end with every action approved; returns its id."""

    async def go() -> str:
        engine = Engine()
        try:
            outcome = await engine.run_mission(words, workspaces=[workspace], approve="all")
        finally:
            await engine.close()
        assert outcome.status == "done", outcome.result
        return outcome.mission_id

    return asyncio.run(go())


def with_engine(fn: Any) -> Any:
    """Calls ``fn(engine)`` with a fresh engine, closed afterwards (as the command line does)."""

    async def go() -> Any:
        engine = Engine()
        try:
            result = fn(engine)
            return await result if asyncio.iscoroutine(result) else result
        finally:
            await engine.close()

    return asyncio.run(go())


def listed(archived: bool | None = False, search: str | None = None) -> list[str]:
    return with_engine(lambda e: [m.id for m in e.list_missions(archived=archived, search=search)])


def cli_out(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_renamed_mission_keeps_its_new_title_everywhere_and_the_audit_says_so(
    scripted: ScriptedModel, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script_mark(scripted)
    mission_id = run_done(workspace)

    info = with_engine(lambda e: e.rename_mission(mission_id[:8], "  Invoices:\n the overdue one  "))
    assert info.id == mission_id
    assert info.title == "Invoices: the overdue one"  # one line, as a title is shown
    assert with_engine(lambda e: e.mission_info(mission_id)).title == "Invoices: the overdue one"
    renamed = [e for e in with_engine(lambda e: e.mission_events(mission_id)) if e.kind == "mission_renamed"]
    assert [e.summary for e in renamed] == [f"Renamed from “{MISSION}” to “Invoices: the overdue one”"]
    # The new name is found by search, and the command line's list shows it.
    assert listed(search="OVERDUE ONE") == [mission_id]
    code, out, _err = cli_out(capsys, "missions")
    assert code == 0
    assert "Invoices: the overdue one" in out

    with pytest.raises(EngineError, match="cannot be empty"):
        with_engine(lambda e: e.rename_mission(mission_id, " \n "))
    with pytest.raises(EngineError, match="There is no mission m_nothing"):
        with_engine(lambda e: e.rename_mission("m_nothing", "x"))

    code, out, _err = cli_out(capsys, "mission", "rename", mission_id, "By the command line")
    assert code == 0
    assert out.strip() == f"Renamed {mission_id}: By the command line"


def test_an_archived_mission_leaves_the_lists_until_asked_for_and_comes_back(
    scripted: ScriptedModel, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script_mark(scripted)
    script_mark(scripted, "Another mission about INV-1")
    first = run_done(workspace)
    second = run_done(workspace, "Another mission about INV-1")

    info = with_engine(lambda e: e.archive_mission(first))
    assert info.archived
    assert listed() == [second]
    assert listed(archived=True) == [first]
    assert listed(archived=None) == [second, first]
    assert listed(archived=None, search="mark inv-1") == [first]

    # The command line's read-only list: the archived one only with --archived, marked.
    code, out, _err = cli_out(capsys, "missions")
    assert code == 0
    assert first not in out
    assert second in out
    code, out, _err = cli_out(capsys, "missions", "--archived")
    line = next(line for line in out.splitlines() if line.startswith(first))
    assert f"[archived] {MISSION}" in line
    code, out, _err = cli_out(capsys, "missions", "--json", "--archived")
    assert '"archived": true' in out
    with JournalReader(cli_paths_journal()) as reader:
        assert [m.id for m in reader.list_missions()] == [second]
        assert [m.id for m in reader.list_missions(archived=True)] == [first]

    # Its audit stays as it was, and says it was archived.
    code, out, _err = cli_out(capsys, "audit", first)
    assert code == 0
    assert "mission_archived" in out

    code, out, _err = cli_out(capsys, "mission", "unarchive", first)
    assert code == 0
    assert "back in the missions list" in out
    assert listed() == [second, first]
    code, out, _err = cli_out(capsys, "mission", "archive", second)
    assert code == 0
    assert listed() == [first]


def cli_paths_journal() -> Path:
    from app.paths import Paths

    return Paths.default().journal


def test_deleting_keeps_the_audit_and_the_undo_but_not_the_conversation(
    scripted: ScriptedModel, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script_mark(scripted)
    mission_id = run_done(workspace)
    book = workspace / "invoices.xlsx"
    assert openpyxl.load_workbook(book)["Invoices"]["E2"].value == "overdue"
    code, before, _err = cli_out(capsys, "audit", mission_id)
    assert code == 0

    said = with_engine(lambda e: e.delete_mission(mission_id))
    assert said == f"Deleted “{MISSION}”. Its audit (the record of what was done) is kept."
    assert listed(archived=None) == []
    code, out, _err = cli_out(capsys, "missions")
    assert mission_id not in out

    journal = Journal(cli_paths_journal())
    try:
        assert journal.chat(mission_id) == []
        assert journal.conversation(mission_id) == []
        assert journal.tasks(mission_id) == []
        assert journal.tool_calls(mission_id) == []
        kept = journal.events(mission_id)
        assert kept[-1].kind == "mission_deleted"
        executed = [e.data["action_id"] for e in kept if e.kind == "action_executed"]
        assert len(executed) == 1
        assert journal.action(executed[0]) is not None
    finally:
        journal.close()

    # `ensemble audit` reads it as before, with the deletion at its end.
    code, after, _err = cli_out(capsys, "audit", mission_id)
    assert code == 0
    assert after.startswith(before.rstrip("\n"))
    assert "mission_deleted" in after.splitlines()[-1]
    # Its change can still be undone: the backup is kept with the audit.
    with_engine(lambda e: e.undo(executed[0]))
    assert openpyxl.load_workbook(book)["Invoices"]["E2"].value == "open"

    # Once deleted, there is nothing left to rename, archive or delete.
    for manage in (
        lambda e: e.rename_mission(mission_id, "x"),
        lambda e: e.archive_mission(mission_id),
        lambda e: e.delete_mission(mission_id),
    ):
        with pytest.raises(EngineError, match="There is no mission"):
            with_engine(manage)


def test_deleting_with_its_audit_leaves_nothing_of_the_mission(
    scripted: ScriptedModel, workspace: Path, capsys: pytest.CaptureFixture[str], ensemble_home: Path
) -> None:
    script_mark(scripted)
    script_mark(scripted, "Another mission about INV-1")
    gone = run_done(workspace)
    kept = run_done(workspace, "Another mission about INV-1")
    backups = ensemble_home / "backups" / gone
    assert backups.is_dir()
    assert any(backups.iterdir())

    code, out, err = cli_out(capsys, "mission", "delete", gone, "--forget-audit")
    assert code == 0, err
    assert out.strip() == f"Deleted “{MISSION}” and its audit."
    assert not backups.exists()
    assert (ensemble_home / "backups" / kept).is_dir()
    code, _out, err = cli_out(capsys, "audit", gone)
    assert code == 1
    assert f"There is no mission {gone}" in err

    db = sqlite3.connect(cli_paths_journal())
    try:
        tables = [
            row[0]
            for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if row[0] != _schema.VERSION_TABLE
        ]
        for table in tables:
            columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            column = "id" if table == "mission" else "mission_id"
            if column in columns:
                count = db.execute(f"SELECT count(*) FROM {table} WHERE {column} = ?", (gone,)).fetchone()[0]
                assert count == 0, table
        assert db.execute("SELECT count(*) FROM auditevent WHERE mission_id = ?", (kept,)).fetchone()[0] > 0
    finally:
        db.close()

    # The other mission is untouched, and deleting through the command line keeps the audit.
    code, out, _err = cli_out(capsys, "mission", "delete", kept[:9])
    assert code == 0
    assert f"ensemble audit {kept}" in out
    code, out, _err = cli_out(capsys, "audit", kept)
    assert code == 0


async def test_a_running_mission_is_neither_archived_nor_deleted_but_may_be_renamed(
    scripted: ScriptedModel, workspace: Path
) -> None:
    script_mark(scripted)
    engine = Engine()
    proposed = asyncio.Event()
    engine.subscribe(lambda event: proposed.set() if event.kind == "action_proposed" else None)
    try:
        mission_id = engine.start_mission(MISSION, workspaces=[workspace])
        await asyncio.wait_for(proposed.wait(), 30)
        assert engine.is_running(mission_id)
        with pytest.raises(EngineError, match=r"“.*” is still running\. Stop it first, then archive it\."):
            engine.archive_mission(mission_id)
        with pytest.raises(EngineError, match=r"is still running\. Stop it first, then delete it\."):
            engine.delete_mission(mission_id, keep_audit=False)
        assert engine.rename_mission(mission_id, "Renamed while it runs").title == "Renamed while it runs"
        assert [m.id for m in engine.list_missions()] == [mission_id]
        await engine.cancel(mission_id)
        # Its run did not write its old title back when it ended.
        info = engine.mission_info(mission_id)
        assert info is not None
        assert (info.status, info.title) == ("cancelled", "Renamed while it runs")
        assert engine.archive_mission(mission_id).archived
        assert engine.delete_mission(mission_id).startswith("Deleted “Renamed while it runs”.")
    finally:
        await engine.close()


def test_a_mission_another_process_runs_is_refused_in_words(ensemble_home: Path) -> None:
    import os
    import subprocess
    import sys

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        journal = Journal(cli_paths_journal())
        journal.add(Mission(id="m_elsewhere", title="Elsewhere", text="t", owner_pid=sleeper.pid))
        journal.close()
        assert sleeper.pid != os.getpid()
        with pytest.raises(EngineError, match="still running in another Ensemble window or terminal"):
            with_engine(lambda e: e.delete_mission("m_elsewhere"))
    finally:
        sleeper.kill()
        sleeper.wait()


def test_deleting_an_interrupted_mission_stops_it_for_good(ensemble_home: Path) -> None:
    journal = Journal(cli_paths_journal())
    journal.add(Mission(id="m_paused", title="Paused", text="t", status="interrupted"))
    journal.close()
    with_engine(lambda e: e.delete_mission("m_paused"))
    with pytest.raises(EngineError, match="cancelled, not interrupted"):
        with_engine(lambda e: e.resume("m_paused"))


def _journal_at_0005(path: Path) -> None:
    """A journal as Ensemble made it before archiving existed (schema 0005), with a mission."""
    journal = Journal(path)
    journal.add(Mission(id="m_old", title="Old", text="An old mission", status="done"))
    journal.close()
    db = sqlite3.connect(path)
    try:
        db.execute("ALTER TABLE mission DROP COLUMN archived")
        db.execute("ALTER TABLE mission DROP COLUMN deleted_at")
        db.execute("DROP TABLE memory")  # revision 0007 came after
        db.execute(f"UPDATE {_schema.VERSION_TABLE} SET version_num = '0005_workflows'")
        db.commit()
        assert {row[1] for row in db.execute("PRAGMA table_info(mission)")}.isdisjoint(
            {"archived", "deleted_at"}
        )
    finally:
        db.close()


def test_a_0005_journal_is_migrated_and_keeps_its_missions(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    _journal_at_0005(path)
    journal = Journal(path)
    try:
        with journal.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"version_table": _schema.VERSION_TABLE})
            assert context.get_current_revision() == _schema.HEAD
            assert compare_metadata(context, SQLModel.metadata) == []
        [old] = journal.missions()
        assert (old.id, old.title, old.archived, old.deleted_at) == ("m_old", "Old", False, None)
        assert journal.archive_mission("m_old") is not None
        assert journal.missions() == []
        assert [m.id for m in journal.missions(archived=True)] == ["m_old"]
    finally:
        journal.close()


def test_the_command_line_reads_a_0005_journal_after_migrating_it(
    ensemble_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ensemble_home.mkdir(parents=True, exist_ok=True)
    _journal_at_0005(cli_paths_journal())
    code, out, err = cli_out(capsys, "missions")
    assert code == 0, err
    assert "m_old" in out
    assert "Old" in out
