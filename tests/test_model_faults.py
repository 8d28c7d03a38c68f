"""A broken model reply is never carried out: it is asked for again, or the mission pauses.

The scripted model breaks its answers on the wire as a bad network or a proxy would: a stream
cut off at several points, a tool call's input that is not JSON, a stream without its stop,
an HTML page or garbage with status 200. Before, a stream cut in the middle of a
``sheet_write`` ran the truncated input (2 of 6 cells) and the mission said ``done``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

import openpyxl
import pytest

from app.engine import Engine
from app.settings import Settings
from app.testing.scripted_model import FaultKind, Reply, ScriptedModel, fault, text, tool_call

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

MISSION = "Fill the totals of invoices.xlsx"
CELLS = [["t1", "t2"], ["t3", "t4"], ["t5", "t6"]]
WRITE = {"path": "invoices.xlsx", "sheet": "Invoices", "range": "F2:G4", "values": CELLS}


def script(model: ScriptedModel, write: Reply) -> None:
    model.add(
        MISSION,
        tool_call("delegate", {"tasks": [{"id": "w", "agent": "spreadsheet", "instructions": "FAULT-TASK"}]}),
        text("Done."),
    )
    model.add("FAULT-TASK", write, text("Wrote the totals."))


def written(workspace: Path) -> list[Any]:
    book = openpyxl.load_workbook(workspace / "invoices.xlsx")
    sheet = book["Invoices"]
    return [sheet[f"{c}{r}"].value for r in (2, 3, 4) for c in "FG"]


BROKEN: list[tuple[FaultKind, int]] = [
    ("cut", 3),  # after the tool_use block starts
    ("cut", 5),  # in the middle of its input
    ("cut", 7),  # after the input, before message_delta
    ("invalid_json", 0),
    ("no_stop", 0),
    ("html", 0),
    ("garbage", 0),
]


@pytest.mark.parametrize(("kind", "after"), BROKEN, ids=[f"{k}-{a}" for k, a in BROKEN])
async def test_a_reply_that_stays_broken_pauses_the_mission_and_runs_nothing(
    scripted: ScriptedModel, workspace: Path, kind: FaultKind, after: int
) -> None:
    script(scripted, fault(tool_call("sheet_write", WRITE), kind, after=after))
    engine = Engine(settings=Settings(api_max_retries=1))
    try:
        outcome = await engine.run_mission(MISSION, workspaces=[workspace], approve="all")
        calls = engine.journal.tool_calls(outcome.mission_id)
        tasks = engine.journal.tasks(outcome.mission_id)
    finally:
        await engine.close()
    assert outcome.status == "interrupted", outcome.result
    assert "incomplete or broken reply" in (outcome.result or "")
    assert written(workspace) == [None] * 6
    assert [c.tool for c in calls] == ["delegate"]
    assert all(t.status != "done" for t in tasks)


@pytest.mark.parametrize("kind", ["cut", "invalid_json", "html"])
async def test_a_reply_broken_once_is_asked_for_again_and_runs_whole_once(
    scripted: ScriptedModel, workspace: Path, kind: FaultKind
) -> None:
    script(scripted, fault(tool_call("sheet_write", WRITE), kind, after=5, times=1))
    engine = Engine(settings=Settings(api_max_retries=1))
    try:
        outcome = await engine.run_mission(MISSION, workspaces=[workspace], approve="all")
        executed = [a for a in engine.journal.actions(outcome.mission_id) if a.status == "executed"]
    finally:
        await engine.close()
    assert outcome.status == "done", outcome.result
    assert written(workspace) == [v for row in CELLS for v in row]
    assert [a.tool for a in executed] == ["sheet_write"]


@pytest.fixture
def full_workspace(workspace: Path, tmp_path: Path) -> Iterator[Path]:
    """The workspace on a tiny tmpfs that is full but for a few bytes (needs root to mount)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder = tmp_path / "full"
    folder.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)], check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    try:
        shutil.copy2(workspace / "invoices.xlsx", folder / "invoices.xlsx")
        with contextlib.suppress(OSError), (folder / "filler").open("wb") as filler:
            while True:
                filler.write(b"\0" * 4096)
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


async def test_an_action_that_fails_unexpectedly_ends_failed_and_the_mission_says_so(
    scripted: ScriptedModel, full_workspace: Path
) -> None:
    """A write on a full disk raises OSError inside the tool: before, it stayed "executing"."""
    script(scripted, tool_call("sheet_write", WRITE))
    engine = Engine(settings=Settings(api_max_retries=0))
    try:
        outcome = await engine.run_mission(MISSION, workspaces=[full_workspace], approve="all")
        (action,) = engine.journal.actions(outcome.mission_id)
    finally:
        await engine.close()
    assert action.status == "failed"
    assert "No space left on device" in (action.result or "")
    assert outcome.status == "done"
    assert "Not everything was done" in (outcome.result or "")
    assert "Failed: Write" in (outcome.result or "")
