"""The ``ensemble`` command line, run as a real process against the scripted model."""

from __future__ import annotations

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
    assert "rejected by the person: INV-4 was paid yesterday" in readable.stdout


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
