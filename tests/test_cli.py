"""The ``ensemble`` command line, run as a real process against the scripted model."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from app.testing.scripted_model import ScriptedModel, text, tool_call

MISSION = "Mark INV-1 and INV-4 overdue"


def script_overdue(model: ScriptedModel) -> None:
    model.add(
        MISSION,
        tool_call(
            "delegate",
            {"tasks": [{"id": "mark", "agent": "spreadsheet", "instructions": "MARK-CLI: set E2 and E5"}]},
        ),
        text("Marked what was approved."),
    )
    model.add(
        "MARK-CLI",
        tool_call("sheet_read", {"path": "invoices.xlsx", "sheet": "Invoices", "range": "A1:E5"}),
        tool_call(
            "sheet_write",
            {"path": "invoices.xlsx", "sheet": "Invoices", "range": "E2", "values": [["overdue"]]},
        ),
        tool_call(
            "sheet_write",
            {"path": "invoices.xlsx", "sheet": "Invoices", "range": "E5", "values": [["overdue"]]},
        ),
        text("Done."),
    )


def ensemble(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


def last_json(output: str) -> Any:
    return json.loads(output.strip().splitlines()[-1])


def statuses(path: Path) -> list[Any]:
    sheet = openpyxl.load_workbook(path)["Invoices"]
    return [sheet[f"E{r}"].value for r in range(2, 6)]


def test_run_approve_all_writes_and_prints_json(scripted: ScriptedModel, workspace: Path) -> None:
    script_overdue(scripted)
    done = ensemble("run", MISSION, "--workspace", str(workspace), "--approve", "all", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    result = last_json(done.stdout)
    assert result["status"] == "done"
    assert result["result"] == "Marked what was approved."
    assert result["mission_id"].startswith("m_")
    assert statuses(workspace / "invoices.xlsx") == ["overdue", "open", "paid", "overdue"]
    assert "Proposed action" in done.stdout
    assert "E2: open → overdue" in done.stdout


def test_run_approve_none_leaves_every_file_unchanged(scripted: ScriptedModel, workspace: Path) -> None:
    script_overdue(scripted)
    book = workspace / "invoices.xlsx"
    original = book.read_bytes()
    done = ensemble("run", MISSION, "--workspace", str(workspace), "--approve", "none", "--json")
    assert done.returncode == 0, done.stderr
    assert book.read_bytes() == original
    assert sorted(p.name for p in workspace.iterdir()) == ["invoices.xlsx"]


def test_run_ask_takes_one_decision_line_per_action(scripted: ScriptedModel, workspace: Path) -> None:
    script_overdue(scripted)
    done = ensemble("run", MISSION, "-w", str(workspace), "--json", stdin="a\nr INV-4 was paid yesterday\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert statuses(workspace / "invoices.xlsx") == ["overdue", "open", "paid", "open"]
    mission_id = last_json(done.stdout)["mission_id"]

    audit = ensemble("audit", mission_id, "--json")
    assert audit.returncode == 0, audit.stderr
    events = json.loads(audit.stdout)
    decided = [e["data"] for e in events if e["kind"] == "action_decided"]
    assert [(d["decision"], d["decided_by"], d["reason"]) for d in decided] == [
        ("approve", "person", None),
        ("reject", "person", "INV-4 was paid yesterday"),
    ]
    calls = [e["data"] for e in events if e["kind"] == "tool_called"]
    assert [(c["tool"], c["effect"]) for c in calls] == [
        ("delegate", "read"),
        ("sheet_read", "read"),
        ("sheet_write", "local"),
        ("sheet_write", "local"),
    ]
    assert any(e["kind"] == "model_call" and e["data"]["output_tokens"] > 0 for e in events)
    assert events[-1]["kind"] == "mission_finished"
    assert all(e["mission_id"] == mission_id and e["id"] == e["audit_id"] for e in events)

    readable = ensemble("audit", mission_id)
    assert "Change a workbook: rejected by you: INV-4 was paid yesterday" in readable.stdout


def test_run_ask_with_closed_stdin_rejects(scripted: ScriptedModel, workspace: Path) -> None:
    script_overdue(scripted)
    original = (workspace / "invoices.xlsx").read_bytes()
    done = ensemble("run", MISSION, "-w", str(workspace), "--json")
    assert done.returncode == 0, done.stderr
    assert (workspace / "invoices.xlsx").read_bytes() == original


def test_missions_lists_newest_first_and_undo_restores(scripted: ScriptedModel, workspace: Path) -> None:
    script_overdue(scripted)
    book = workspace / "invoices.xlsx"
    original = book.read_bytes()
    first = last_json(ensemble("run", MISSION, "-w", str(workspace), "--approve", "none", "--json").stdout)
    second = last_json(ensemble("run", MISSION, "-w", str(workspace), "--approve", "all", "--json").stdout)

    listed = json.loads(ensemble("missions", "--json").stdout)
    assert [m["mission_id"] for m in listed] == [second["mission_id"], first["mission_id"]]
    assert set(listed[0]) == {"mission_id", "status", "title", "started_at", "tokens"}
    assert listed[0]["tokens"] > 0
    assert listed[0]["status"] == "done"

    def page(*args: str) -> list[str]:
        return [m["mission_id"] for m in json.loads(ensemble("missions", "--json", *args).stdout)]

    assert page("--limit", "1") == [second["mission_id"]]
    assert page("--limit", "1", "--offset", "1") == [first["mission_id"]]
    assert page("--search", "inv-1 AND") == [second["mission_id"], first["mission_id"]]
    assert page("--search", "no mission says this") == []
    refused = ensemble("missions", "--limit", "-1")
    assert refused.returncode == 2
    assert "below zero" in refused.stderr

    events = json.loads(ensemble("audit", second["mission_id"], "--json").stdout)
    executed = [e["data"]["action_id"] for e in events if e["kind"] == "action_executed"]
    assert len(executed) == 2
    for action_id in reversed(executed):
        undone = ensemble("undo", action_id)
        assert undone.returncode == 0, undone.stderr
    assert book.read_bytes() == original
    again = ensemble("undo", executed[0])
    assert again.returncode == 1
    assert "already undone" in again.stderr


def test_missing_key_exits_non_zero_with_a_clear_message(workspace: Path) -> None:
    done = ensemble("run", "Anything", "-w", str(workspace), "--json")
    assert done.returncode == 1
    result = last_json(done.stdout)
    assert result["status"] == "failed"
    assert "No Anthropic API key" in result["result"]
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["audit", "m_nope"], "There is no mission m_nope"),
        (["undo", "a_nope"], "There is no action a_nope"),
        (["run", "x", "-w", "/no/such/folder"], "does not exist"),
    ],
)
def test_bad_input_gets_a_clear_error(args: list[str], message: str) -> None:
    done = ensemble(*args, env={"ANTHROPIC_API_KEY": "sk-ant-test"})
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_demo_runs_headless_through_all_three_agents(tmp_path: Path) -> None:
    done = ensemble("demo", "--headless", "--approve", "all", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    result = last_json(done.stdout)
    assert result["status"] == "done"
    assert "3 invoices are overdue" in result["result"]
    for agent in ("(spreadsheet)", "(browser)", "(email)"):
        assert agent in done.stdout
    home = Path(os.environ["ENSEMBLE_HOME"])
    drafts = list((home / "demo-workspace" / "mail" / ".Drafts" / "new").iterdir()) + list(
        (home / "demo-workspace" / "mail" / ".Drafts" / "cur").iterdir()
    )
    assert len(drafts) == 3
    marks = openpyxl.load_workbook(home / "demo-workspace" / "invoices.xlsx")["Invoices"]
    reminded = {marks[f"A{r}"].value for r in range(3, 15) if marks[f"H{r}"].value}
    assert reminded == {"INV-1041", "INV-1043", "INV-1045"}


@pytest.mark.parametrize(
    ("args", "hint"), [((), "ensemble run --help"), (("demo",), "ensemble demo --headless")]
)
def test_without_a_display_the_window_commands_point_to_the_command_line(
    args: tuple[str, ...], hint: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "no display" in done.stderr
    assert hint in done.stderr
    assert "Traceback" not in done.stderr


# The read-only commands ----------------------------------------------------------------------

HEAVY = ("anthropic", "alembic", "sqlalchemy", "sqlmodel", "connectors", "app.engine", "app.journal")
"""What a command that only reads the journal must not import (the engine's whole stack)."""


def imported_by(*args: str) -> tuple[str, list[str]]:
    """Runs ``ensemble ARGS`` in a fresh interpreter; its output, and the heavy modules it loaded."""
    script = (
        "import contextlib, io, json, sys\n"
        "from app.cli import main\n"
        "out = io.StringIO()\n"
        f"with contextlib.redirect_stdout(out): main({list(args)!r})\n"
        "heavy = sorted({m.split('.')[0] if not m.startswith('app.') else m for m in sys.modules\n"
        f"    if m.split('.')[0] in {HEAVY!r} or m in {HEAVY!r}}})\n"
        "print(json.dumps([out.getvalue(), heavy]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    output, heavy = json.loads(done.stdout.strip().splitlines()[-1])
    return output, heavy


def fill_journal(home: Path) -> tuple[list[str], str]:
    """Missions (one of them left ``running`` by a process that is gone), audit events and rules,
    written through the journal as the engine writes them; returns the mission ids, newest first,
    and the rule kept in force."""
    from datetime import UTC, datetime, timedelta

    from app.journal import Journal, Mission, Rule

    journal = Journal(home / "journal.sqlite3")
    start = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    ids = []
    try:
        for n in range(12):
            mission = Mission(
                id=f"m_{n:012d}",
                title=f"Mission {n}: déjà vu",
                text=f"Check invoice INV-{n}",
                status="running" if n == 3 else "done",
                owner_pid=2**22 + 12345 if n == 3 else None,  # no such process
                tokens=n * 1_234,
                started_at=start + timedelta(minutes=n, microseconds=0 if n % 2 else 250_000),
            )
            journal.add(mission)
            journal.audit(
                mission.id, "mission_started", f"Mission started: {mission.title}", text=mission.text
            )
            journal.audit(mission.id, "tool_called", "sheet_read", tool="sheet_read", arguments={"a": n})
            ids.append(mission.id)
        kept = Rule(
            id="r_kept",
            kind="approve_all",
            tool="email_send",
            conditions_json='{"to": "*@x.example"}',
            description="Always allow sending email where to matches *@x.example",
        )
        retired = Rule(id="r_gone", kind="reject_all", mission_id=ids[0], description="Reject", active=False)
        journal.add(kept, retired)
    finally:
        journal.close()
    return list(reversed(ids)), kept.id


def test_read_only_commands_load_nothing_of_the_engine_and_print_what_it_would(ensemble_home: Path) -> None:
    newest_first, rule_id = fill_journal(ensemble_home)

    output, heavy = imported_by("missions", "--json", "--limit", "5", "--offset", "1")
    assert heavy == []
    listed = json.loads(output)
    assert [m["mission_id"] for m in listed] == newest_first[1:6]
    assert listed[0] == {
        "mission_id": newest_first[1],
        "status": "done",
        "title": "Mission 10: déjà vu",
        "started_at": "2026-03-01T09:40:00.250000+00:00",
        "tokens": 12_340,
    }
    assert listed[1]["started_at"] == "2026-03-01T09:39:00+00:00"
    # Its process is gone: the engine would mark it interrupted on opening, and the list says so.
    crashed = json.loads(imported_by("missions", "--json", "--search", "inv-3")[0])
    assert [(m["mission_id"], m["status"]) for m in crashed] == [("m_000000000003", "interrupted")]

    output, heavy = imported_by("rules", "list", "--json")
    assert heavy == []
    assert json.loads(output) == [
        {
            "rule_id": rule_id,
            "kind": "approve_all",
            "tool": "email_send",
            "where": {"to": "*@x.example"},
            "mission_id": None,
            "description": "Always allow sending email where to matches *@x.example",
        }
    ]

    output, heavy = imported_by("audit", "m_000000000000", "--json")
    # The audit's events are the contract's typed events (app.api), but no engine is started.
    for module in ("anthropic", "alembic", "sqlalchemy", "app.engine", "app.journal"):
        assert module not in heavy
    events = json.loads(output)
    assert [e["kind"] for e in events] == ["mission_started", "tool_called"]
    assert events[1]["data"]["arguments"] == {"a": 0}
    assert events[0]["id"] == events[0]["audit_id"]

    # The same answers as the engine's read models, byte for byte.
    import asyncio

    from app.engine import Engine

    engine = Engine()
    try:
        expected = [
            {
                "mission_id": m.id,
                "status": m.status,
                "title": m.title,
                "started_at": m.started_at.isoformat(),
                "tokens": m.tokens,
            }
            for m in engine.list_missions(limit=5, offset=1)
        ]
    finally:
        asyncio.run(engine.close())
    assert ensemble("missions", "--json", "--limit", "5", "--offset", "1").stdout == (
        json.dumps(expected, ensure_ascii=False) + "\n"
    )


def test_a_journal_from_an_older_version_is_migrated_before_it_is_read(ensemble_home: Path) -> None:
    import sqlite3

    from app import _schema

    ensemble_home.mkdir(parents=True, exist_ok=True)
    path = ensemble_home / "journal.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        # A journal made before revisions existed: the first tables, no version recorded.
        for statement in _schema._INITIAL:
            db.execute(statement)
        db.execute(
            "INSERT INTO mission (id, title, text, status, workspaces_json, options_json, "
            "lead_messages_json, tokens, started_at) VALUES "
            "('m_old', 'Old one', 'From long ago', 'done', '[]', '{}', '[]', 7, '2025-05-01 08:00:00.000000')"
        )
    done = ensemble("missions", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        {
            "mission_id": "m_old",
            "status": "done",
            "title": "Old one",
            "started_at": "2025-05-01T08:00:00+00:00",
            "tokens": 7,
        }
    ]
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchone() == (_schema.HEAD,)
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'ix_rule_in_force'").fetchone()


def test_listing_on_a_fresh_home_creates_nothing(ensemble_home: Path) -> None:
    assert json.loads(ensemble("missions", "--json").stdout) == []
    assert json.loads(ensemble("rules", "list", "--json").stdout) == []
    assert not (ensemble_home / "journal.sqlite3").exists()


def test_a_tool_call_s_progress_line_is_in_words() -> None:
    """The terminal shows what a call does and what it is about, never its tool id or JSON
    (the audit keeps the arguments)."""
    from app.api import typed
    from app.commands import _progress_line

    event = typed(
        "tool_called",
        "m-1",
        {
            "tool": "sheet_write",
            "title": "Change a workbook",
            "arguments": {"path": "/srv/finance/invoices.xlsx", "range": "E2", "values": [["overdue"]]},
        },
    )
    line = _progress_line(event)
    assert line == "  · Change a workbook · invoices.xlsx"
    untitled = typed("tool_called", "m-1", {"tool": "email_send", "arguments": {"to": ["bob@example.com"]}})
    assert _progress_line(untitled) == "  · Send an email"
