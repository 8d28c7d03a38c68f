"""Undo this mission… in the window, offscreen: a real mission (scripted model, real engine on
its own thread, real files) writes a workbook and creates a document; the person opens the
dialog from the finished mission, reads what will be undone and what a file changed since
would lose, undoes what is safe, then undoes anyway."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import openpyxl
import pytest
from send2trash import plat_other  # type: ignore[import-untyped]
from test_ui import WAIT, click, open_window

from app.testing.scripted_model import ScriptedModel, text, tool_call

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from pytestqt.qtbot import QtBot

    from ui.main_window import MainWindow
    from ui.rollback_dialog import RollbackDialog

MISSION = "Close INV-4 and write summary.docx"


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
def window(qtbot: QtBot, scripted: ScriptedModel, workspace: Path, trash_dir: Path) -> Iterator[MainWindow]:
    win = open_window(qtbot, [workspace])
    qtbot.waitUntil(lambda: win.bridge.engine is not None and win._engine_ready, timeout=WAIT)
    yield win
    win.close()


def script(model: ScriptedModel) -> None:
    tasks: list[dict[str, Any]] = [
        {"id": "book", "agent": "spreadsheet", "instructions": "BOOK-TASK: close INV-4"},
        {"id": "docs", "agent": "documents", "instructions": "DOCS-TASK: summary", "depends_on": ["book"]},
    ]
    model.add(MISSION, tool_call("delegate", {"tasks": tasks}), text("All done."))
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
            "doc_create",
            {"path": "summary.docx", "blocks": [{"type": "paragraph", "text": "INV-4 is paid."}]},
        ),
        text("Wrote it."),
    )


def test_undo_this_mission_shows_the_plan_undoes_what_is_safe_then_undoes_anyway(
    qtbot: QtBot, window: MainWindow, scripted: ScriptedModel, workspace: Path, trash_dir: Path
) -> None:
    script(scripted)
    book = workspace / "invoices.xlsx"
    before = book.read_bytes()
    done: list[Any] = []
    window.bridge.call(
        lambda engine: engine.run_mission(MISSION, workspaces=[workspace], approve="all"),
        done.append,
        what="run the mission",
    )
    qtbot.waitUntil(lambda: bool(done), timeout=3 * WAIT)
    mission_id = done[0].mission_id
    assert done[0].status == "done"
    # Another program changes the workbook after the mission wrote it.
    other = openpyxl.load_workbook(book)
    other["Invoices"]["B2"] = "Edited by hand"
    other.save(book)
    other.close()
    edited = book.read_bytes()

    missions = window.missions
    qtbot.waitUntil(lambda: mission_id in missions.shown_ids(), timeout=WAIT)
    missions.list.setCurrentRow(missions.shown_ids().index(mission_id))
    view = window.view
    qtbot.waitUntil(lambda: view.mission_id == mission_id, timeout=WAIT)
    qtbot.waitUntil(lambda: view.undo_mission_button.isVisible(), timeout=WAIT)
    assert view.undo_mission_button.text() == "Undo this mission…"

    click(qtbot, view.undo_mission_button)
    dialog: RollbackDialog | None = view.rollback_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=WAIT)
    assert dialog.isVisible()
    assert dialog.steps_box.isVisible()
    assert "Move summary.docx, which the mission created, to the trash" in dialog.steps_text.text()
    assert "invoices.xlsx" not in dialog.steps_text.text()  # changed since: not among the safe ones
    assert dialog.changed_box.isVisible()
    changed = dialog.changed_text.text()
    assert "Put invoices.xlsx back as it was before" in changed
    assert "Edited by hand" in changed  # what undoing anyway would lose
    assert not dialog.limits_box.isVisible()  # nothing sent: everything can be undone
    assert dialog.undo_button.text() == "Undo 1 change"
    assert dialog.anyway_button.isVisible()
    assert "1 change will be taken back" in dialog.status.text()

    click(qtbot, dialog.undo_button)
    qtbot.waitUntil(lambda: dialog.report is not None and dialog.undo_button.text() == "Undo", timeout=WAIT)
    assert not (workspace / "summary.docx").exists()
    assert book.read_bytes() == edited  # left alone
    assert "left alone (changed since)" in dialog.status.text()
    assert "Left alone: invoices.xlsx was changed after the mission wrote it" in dialog.result_text.text()
    assert not dialog.undo_button.isEnabled()  # nothing safe is left
    assert dialog.anyway_button.isEnabled()

    click(qtbot, dialog.anyway_button)
    qtbot.waitUntil(lambda: dialog.plan is not None and dialog.plan.nothing_to_do, timeout=WAIT)
    assert book.read_bytes() == before
    assert (trash_dir / "files" / "invoices.xlsx").read_bytes() == edited
    assert dialog.status.text() == "Undid 1 change."
    assert not dialog.anyway_button.isVisible()
    click(qtbot, dialog.close_button)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT)
