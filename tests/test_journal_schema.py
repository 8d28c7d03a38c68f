"""The journal's bad days: a fresh home opened by three processes at once, an old journal, a
damaged one. Before, three processes on a fresh ENSEMBLE_HOME raced in ``create_all`` (one in
three rounds died with "table already exists"), and a damaged journal printed a 122-line
SQLAlchemy traceback."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from app import _schema, cli
from app.journal import Journal, Mission

if TYPE_CHECKING:
    from pathlib import Path


def test_a_fresh_journal_has_exactly_the_models_tables(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    with journal.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": _schema.VERSION_TABLE})
        assert context.get_current_revision() == _schema.HEAD
        differences = compare_metadata(context, SQLModel.metadata)
    journal.close()
    assert differences == []


def test_a_journal_from_before_revisions_is_upgraded_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    connection = sqlite3.connect(path)
    for statement in _schema._INITIAL:
        connection.execute(statement)
    connection.execute(
        "INSERT INTO mission (id, title, text, status, workspaces_json, options_json, lead_messages_json, "
        "tokens, started_at) VALUES ('m_old', 'Old', 'An old mission', 'done', '[]', '{}', '[]', 0, "
        "'2026-11-01 10:00:00')"
    )
    connection.commit()
    connection.close()
    journal = Journal(path)
    try:
        assert journal.recovered is None
        assert [m.id for m in journal.missions()] == ["m_old"]
        assert journal.vouched("m_old") == []
    finally:
        journal.close()


def _damage(path: Path, how: str) -> bytes:
    if how == "garbage":
        path.write_bytes(b"this is not a database at all" * 100)
    else:
        journal = Journal(path)
        for n in range(300):
            journal.add(Mission(id=f"m{n}", title="t", text="x" * 500))
        journal.close()
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    return path.read_bytes()


@pytest.mark.parametrize("how", ["garbage", "truncated"])
def test_a_damaged_journal_is_moved_aside_never_deleted(tmp_path: Path, how: str) -> None:
    path = tmp_path / "journal.sqlite3"
    damaged = _damage(path, how)
    journal = Journal(path)
    try:
        assert journal.recovered is not None
        assert journal.recovered.read_bytes() == damaged
        journal.add(Mission(id="new", title="t", text="a fresh start"))
        assert [m.id for m in journal.missions()] == ["new"]
    finally:
        journal.close()


def test_the_command_line_says_the_journal_was_damaged_in_words(
    ensemble_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ensemble_home.mkdir(parents=True, exist_ok=True)
    (ensemble_home / "journal.sqlite3").write_bytes(b"\x00garbage" * 64)
    assert cli.main(["missions"]) == 0
    err = capsys.readouterr().err
    assert "was damaged and could not be read" in err
    assert "Traceback" not in err
    assert len(list(ensemble_home.glob("journal.sqlite3.damaged-*"))) == 1


def test_three_processes_opening_a_fresh_home_at_once_all_succeed(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        go = Path(sys.argv[2])
        while not go.exists():
            time.sleep(0.001)
        from app.journal import Journal
        Journal(Path(sys.argv[1])).close()
        """
    )
    for round_ in range(4):
        folder = tmp_path / f"home{round_}"
        go = tmp_path / f"go{round_}"
        env = {**os.environ, "PYTHONPATH": os.getcwd()}
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", script, str(folder / "journal.sqlite3"), str(go)],
                env=env,
                stderr=subprocess.PIPE,
            )
            for _ in range(3)
        ]
        # Each process is importing and waiting for the signal; all start at once.
        go.touch()
        for process in processes:
            _out, err = process.communicate(timeout=60)
            assert process.returncode == 0, err.decode()


def test_conversations_of_an_older_journal_become_rows_and_resume_as_they_were(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    lead = [
        {"role": "user", "content": "Log the payments"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "tu1", "name": "delegate", "input": {}}],
        },
    ]
    task = [
        {"role": "user", "content": "PAY-ACME: append"},
        {"role": "assistant", "content": [{"type": "text", "text": "Appended — done."}]},
    ]
    connection = sqlite3.connect(path)
    for statement in _schema._INITIAL:
        connection.execute(statement)
    connection.execute(
        "INSERT INTO mission (id, title, text, status, workspaces_json, options_json, lead_messages_json, "
        "tokens, started_at) VALUES ('m_old', 'Old', 'Log the payments', 'interrupted', '[]', '{}', ?, 0, "
        "'2026-11-01 10:00:00')",
        (json.dumps(lead),),
    )
    connection.execute(
        "INSERT INTO task (id, mission_id, key, delegation_id, agent, instructions, depends_on_json, status, "
        "turns, tokens, messages_json, created_at) VALUES ('t_old', 'm_old', 'acme', 'tu1', 'spreadsheet', "
        "'PAY-ACME: append', '[]', 'running', 1, 0, ?, '2026-11-01 10:00:01')",
        (json.dumps(task, ensure_ascii=False),),
    )
    connection.commit()
    connection.close()

    journal = Journal(path)
    try:
        assert journal.conversation("m_old") == lead
        assert journal.conversation("m_old", "t_old") == task
        assert journal.conversation("m_old").saved == (2, 1)
    finally:
        journal.close()
    connection = sqlite3.connect(path)
    try:
        mission_columns = {row[1] for row in connection.execute("PRAGMA table_info(mission)")}
        task_columns = {row[1] for row in connection.execute("PRAGMA table_info(task)")}
    finally:
        connection.close()
    assert "lead_messages_json" not in mission_columns
    assert "messages_json" not in task_columns
