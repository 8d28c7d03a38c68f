"""Crash safety: ``ensemble run`` killed with SIGKILL at points of a mission, then resumed.

The scripted model keeps running in this process across the kill, and answers by turn, so
the resumed process gets the replies that come next. Rows are *appended*, which is not
idempotent: a repeated action would show as a duplicated row.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import openpyxl
import pytest

from app.testing.scripted_model import ScriptedModel, text, tool_call

if TYPE_CHECKING:
    from pathlib import Path

MISSION = "Log the two payments"


def script(model: ScriptedModel) -> None:
    tasks = [
        {"id": "acme", "agent": "spreadsheet", "instructions": "PAY-ACME: append the Acme payment"},
        {"id": "globex", "agent": "spreadsheet", "instructions": "PAY-GLOBEX: append the Globex payment"},
    ]
    model.add(MISSION, tool_call("delegate", {"tasks": tasks}), text("Both payments are logged."))
    for key, who, amount in (("PAY-ACME", "Acme", 1200.5), ("PAY-GLOBEX", "Globex", 300)):
        model.add(
            key,
            tool_call("sheet_read", {"path": "payments.xlsx", "sheet": "Payments"}),
            tool_call(
                "sheet_append_rows",
                {"path": "payments.xlsx", "sheet": "Payments", "rows": [[who, amount]]},
            ),
            text(f"Appended {who}."),
        )


def payments(path: Path) -> list[list[Any]]:
    sheet = openpyxl.load_workbook(path)["Payments"]
    return [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]


def spawn(*args: str, approve: str = "all") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args, "--approve", approve, "--json"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_until(marker: str, *args: str, approve: str = "all") -> list[str]:
    """Runs the command and kills it with SIGKILL as soon as a line containing marker appears."""
    process = spawn(*args, approve=approve)
    assert process.stdout is not None
    seen: list[str] = []
    for line in process.stdout:
        seen.append(line)
        if marker in line:
            process.kill()
            break
    process.wait(timeout=60)
    stderr = process.stderr.read() if process.stderr else ""
    if process.stdout:
        process.stdout.close()
    if process.stderr:
        process.stderr.close()
    assert process.returncode == -9, f"the mission ended before {marker!r}:\n{''.join(seen)}{stderr}"
    return seen


def finish(mission_id: str, approve: str = "all") -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "resume", mission_id, "--approve", approve, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def mission_id() -> str:
    listed = subprocess.run(
        [sys.executable, "-m", "app.cli", "missions", "--json"], capture_output=True, text=True, check=True
    )
    missions = json.loads(listed.stdout)
    assert missions[0]["status"] == "interrupted"
    return str(missions[0]["mission_id"])


@pytest.fixture
def payments_book(workspace: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Payments"
    sheet.append(["Customer", "Amount"])
    path = workspace / "payments.xlsx"
    book.save(path)
    return path


@pytest.mark.parametrize(
    "marker",
    [
        "▶ Task acme",  # sub-agents just started
        "· Add rows to a workbook",  # an append is being proposed
        "Done: Append",  # one append was carried out, the other may be on its way
        "■ Task",  # one task finished
    ],
)
def test_a_killed_mission_resumes_and_appends_each_row_exactly_once(
    scripted: ScriptedModel, workspace: Path, payments_book: Path, marker: str, ensemble_home: Path
) -> None:
    script(scripted)
    run_until(marker, "run", MISSION, "-w", str(workspace))

    result = finish(mission_id())

    assert result["status"] == "done", result
    assert result["result"] == "Both payments are logged."
    assert sorted(payments(payments_book), key=str) == [["Acme", 1200.5], ["Globex", 300]]


def test_a_pending_proposal_reappears_after_a_kill_and_waits_for_the_person(
    scripted: ScriptedModel, workspace: Path, payments_book: Path
) -> None:
    script(scripted)
    run_until("? Proposed action", "run", MISSION, "-w", str(workspace), approve="ask")
    interrupted = mission_id()

    audit_before = json.loads(
        subprocess.run(
            [sys.executable, "-m", "app.cli", "audit", interrupted, "--json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    first_proposal = next(e["data"]["action_id"] for e in audit_before if e["kind"] == "action_proposed")

    # Resumed with every remaining decision "no": nothing may be written.
    result = finish(interrupted, approve="none")

    assert result["status"] == "done"
    assert payments(payments_book) == []
    audit = json.loads(
        subprocess.run(
            [sys.executable, "-m", "app.cli", "audit", interrupted, "--json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    proposed = [e["data"]["action_id"] for e in audit if e["kind"] == "action_proposed"]
    assert proposed.count(first_proposal) == 2, "the same proposal is shown again, not a new one"
    assert any(e["kind"] == "mission_resumed" for e in audit)


def test_resume_refuses_a_mission_that_is_not_interrupted(scripted: ScriptedModel, workspace: Path) -> None:
    scripted.add("Quick", text("Done."))
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "run", "Quick", "-w", str(workspace), "--json"],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ,
    )
    finished_id = json.loads(done.stdout.strip().splitlines()[-1])["mission_id"]
    again = subprocess.run(
        [sys.executable, "-m", "app.cli", "resume", finished_id], capture_output=True, text=True, check=False
    )
    assert again.returncode == 1
    assert "not interrupted" in again.stderr
