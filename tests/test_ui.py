"""The window end to end, offscreen: the real engine on its own thread, the real SDK talking
HTTP to the scripted model, real workbooks. Only the model's words are scripted; the test
clicks and types as a person would, and waits for what the window shows."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openpyxl
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QWidget,
)

from app import secrets
from app.testing.scripted_model import ScriptedModel, text, tool_call
from ui.app import create_application
from ui.bridge import Bridge
from ui.main_window import MainWindow
from ui.plan import call_status

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pytestqt.qtbot import QtBot

    from ui.approval import ApprovalCard

# Before any QApplication exists (pytest-qt creates it lazily, after collection): offscreen,
# on a screen as big as a desktop's, so that geometry is not clamped to the default 800x800.
_SCREEN = Path(tempfile.gettempdir()) / "ensemble-test-offscreen-screen.json"
_SCREEN.write_text(
    json.dumps(
        {"screens": [{"name": "test", "x": 0, "y": 0, "width": 1920, "height": 1200, "logicalDpi": 96}]}
    ),
    encoding="utf-8",
)
os.environ.setdefault("QT_QPA_PLATFORM", f"offscreen:configfile={_SCREEN}")

WAIT = 15_000  # ms: generous for a slow CI machine; waits end as soon as the state is reached


def delegate(*tasks: dict[str, Any]) -> Any:
    return tool_call("delegate", {"tasks": list(tasks)})


def task(id_: str, instructions: str) -> dict[str, Any]:
    return {"id": id_, "agent": "spreadsheet", "instructions": instructions, "depends_on": []}


def write(range_: str, values: list[list[Any]]) -> Any:
    return tool_call(
        "sheet_write", {"path": "invoices.xlsx", "sheet": "Invoices", "range": range_, "values": values}
    )


def cell(book: Path, ref: str) -> Any:
    return openpyxl.load_workbook(book)["Invoices"][ref].value


def open_window(qtbot: QtBot, workspaces: list[Path], *, check_key: bool = False) -> MainWindow:
    create_application()
    window = MainWindow(Bridge(), workspaces=workspaces, check_key=check_key)
    qtbot.addWidget(window)
    window.show()
    return window


@pytest.fixture
def window(qtbot: QtBot, scripted: ScriptedModel, workspace: Path) -> Iterator[MainWindow]:
    win = open_window(qtbot, [workspace])
    qtbot.waitUntil(lambda: win.stop_button is not None and win.bridge.engine is not None, timeout=WAIT)
    qtbot.waitUntil(lambda: win.workspaces() != [] and win._engine_ready, timeout=WAIT)
    yield win
    win.close()


def send(qtbot: QtBot, window: MainWindow, message: str) -> None:
    send_input = window.findChild(QPlainTextEdit, "chatInput")
    assert send_input is window.chat_input
    send_input.setFocus()
    keys(qtbot, send_input, message)
    button = window.findChild(QPushButton, "sendButton")
    assert button is not None
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]


def wait_card(qtbot: QtBot, window: MainWindow, count: int = 1) -> ApprovalCard:
    qtbot.waitUntil(lambda: len(window.approval_pane.cards) >= count, timeout=WAIT)
    card = window.approval_pane.cards[count - 1]
    qtbot.waitUntil(card.isVisible, timeout=WAIT)
    return card


def wait_status(qtbot: QtBot, window: MainWindow, status: str) -> str:
    qtbot.waitUntil(lambda: window._shown is not None, timeout=WAIT)
    mission_id = window._shown
    assert mission_id is not None

    def reached() -> None:
        info = window.mission_info(mission_id)
        assert info is not None
        assert info.status == status

    qtbot.waitUntil(reached, timeout=WAIT)
    return mission_id


def keys(qtbot: QtBot, widget: QWidget, typed: str) -> None:
    qtbot.keyClicks(widget, typed)  # type: ignore[no-untyped-call]


def button(card: QWidget, name: str) -> QPushButton:
    found = card.findChild(QPushButton, name)
    assert found is not None, name
    return found


def click(qtbot: QtBot, widget: QAbstractButton) -> None:
    assert widget.isVisible(), widget.objectName()
    assert widget.isEnabled(), widget.objectName()
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]


# The main flows -------------------------------------------------------------------------------


def test_typed_mission_runs_its_card_appears_and_approve_writes_the_workbook(
    qtbot: QtBot, window: MainWindow, scripted: ScriptedModel, workspace: Path
) -> None:
    scripted.add(
        "Mark INV-1", delegate(task("mark", "MARK-TASK: set E2 to overdue")), text("INV-1 is **marked**.")
    )
    scripted.add("MARK-TASK", write("E2", [["overdue"]]), text("Wrote E2."))
    book = workspace / "invoices.xlsx"

    send(qtbot, window, "Mark INV-1 as overdue")
    card = wait_card(qtbot, window)

    assert window.chat_input.toPlainText() == ""
    assert card.findChild(QTableWidget, "cellsPreview") is not None
    table = card.findChild(QTableWidget, "cellsPreview")
    assert table is not None
    assert [table.item(0, c).text() for c in range(3)] == ["E2", "open", "overdue"]  # type: ignore[union-attr]
    assert "spreadsheet agent" in card.findChild(QWidget, "cardOrigin").text()  # type: ignore[union-attr]
    assert "Mark INV-1 as overdue" in card.findChild(QWidget, "cardOrigin").text()  # type: ignore[union-attr]
    assert window.approval_pane.count_badge.text() == "1"
    assert "1 waiting" in window.windowTitle()
    assert cell(book, "E2") == "open"
    plan_tasks = [item.text(0) for item in window.plan_view.task_items()]
    assert any("MARK-TASK" in t for t in plan_tasks)

    click(qtbot, button(card, "approveButton"))
    mission_id = wait_status(qtbot, window, "done")

    assert cell(book, "E2") == "overdue"
    assert window.approval_pane.cards == []
    assert window.approval_pane.count_badge.text() == "0"
    qtbot.waitUntil(lambda: any("INV-1 is **marked**." in m for m in window.chat_view.messages), timeout=WAIT)
    info = window.mission_info(mission_id)
    assert info is not None
    assert info.tokens > 0
    mark = next(i for i in window.plan_view.task_items() if "MARK-TASK" in i.text(0))
    assert mark.text(2) == "✓ Done"
    assert mark.childCount() == 1
    call = mark.child(0)
    assert call is not None
    assert call.text(0).startswith("✓ Change a workbook · invoices.xlsx (Invoices)")
    assert call_status(call) == "done"


def test_reject_leaves_the_workbook_unchanged_and_both_decisions_are_in_the_audit(
    qtbot: QtBot, window: MainWindow, scripted: ScriptedModel, workspace: Path, tmp_path: Path
) -> None:
    scripted.add(
        "Fix two",
        delegate(task("one", "ONE-TASK: set E2"), task("two", "TWO-TASK: set D3")),
        text("One approved, one rejected."),
    )
    scripted.add("ONE-TASK", write("E2", [["overdue"]]), text("Wrote E2."))
    scripted.add("TWO-TASK", write("D3", [[0]]), text("D3 was rejected."))
    book = workspace / "invoices.xlsx"

    send(qtbot, window, "Fix two things")
    wait_card(qtbot, window, 2)
    cards = {c.arguments["range"]: c for c in window.approval_pane.cards}
    click(qtbot, button(cards["D3"], "rejectButton"))
    reason = cards["D3"].findChild(QLineEdit, "rejectReasonInput")
    assert reason is not None
    assert reason.isVisible()
    keys(qtbot, reason, "amounts are final")
    click(qtbot, button(cards["D3"], "confirmRejectButton"))
    click(qtbot, button(cards["E2"], "approveButton"))
    mission_id = wait_status(qtbot, window, "done")

    assert cell(book, "E2") == "overdue"
    assert cell(book, "D3") == 300
    audit = window.audit_view
    qtbot.waitUntil(lambda: "mission_finished" in [e.kind for e in audit.events], timeout=WAIT)
    decided = [e for e in audit.events if e.kind == "action_decided"]
    assert sorted(e.decision for e in decided) == ["approve", "reject"]
    assert any(e.reason == "amounts are final" for e in decided)

    # Filter, then export everything as JSON and CSV.
    window.tabs.setCurrentWidget(audit)
    audit.kind_filter.setCurrentIndex(audit.kind_filter.findData("action_"))
    assert set(audit.visible_kinds()) <= {"action_proposed", "action_decided", "action_executed"}
    assert audit.visible_kinds().count("action_decided") == 2
    audit.search.setText("amounts are final")
    assert audit.visible_kinds() == ["action_decided"]
    audit.search.clear()
    with qtbot.waitSignal(audit.exported, timeout=WAIT):
        audit.export(tmp_path / "audit.json", "json")
    exported = json.loads((tmp_path / "audit.json").read_text(encoding="utf-8"))
    assert [e["kind"] for e in exported] == [e.kind for e in audit.events]
    assert all(e["kind"] != "text_delta" for e in exported)
    with qtbot.waitSignal(audit.exported, timeout=WAIT):
        audit.export(tmp_path / "audit.csv", "csv")
    with (tmp_path / "audit.csv").open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == len(exported)
    assert sum(r["kind"] == "action_decided" for r in rows) == 2

    # Undo the approved write from the audit.
    audit.kind_filter.setCurrentIndex(0)
    assert audit.select_event(lambda e: e.kind == "action_executed")
    undo = audit.findChild(QPushButton, "undoButton")
    assert undo is not None
    assert undo.isEnabled()
    click(qtbot, undo)
    qtbot.waitUntil(lambda: "Restored" in audit.status.text(), timeout=WAIT)
    assert cell(book, "E2") == "open"
    qtbot.waitUntil(lambda: "action_undone" in [e.kind for e in audit.events], timeout=WAIT)
    assert mission_id


def test_edit_writes_the_edited_value(
    qtbot: QtBot, window: MainWindow, scripted: ScriptedModel, workspace: Path
) -> None:
    scripted.add("Raise INV-2", delegate(task("raise", "RAISE-TASK: set D3 to 350")), text("Done."))
    scripted.add("RAISE-TASK", write("D3", [[350]]), text("Wrote D3."))

    send(qtbot, window, "Raise INV-2")
    card = wait_card(qtbot, window)
    click(qtbot, button(card, "editButton"))
    assert card.editor is not None
    table = card.editor.cell_editor()
    assert table is not None
    assert table.isVisible()
    after = table.item(0, 2)
    assert after is not None
    assert after.text() == "350"
    after.setText("333")
    assert button(card, "approveButton").text() == "Approve with edits"
    click(qtbot, button(card, "approveButton"))
    wait_status(qtbot, window, "done")

    assert cell(workspace / "invoices.xlsx", "D3") == 333


def test_edit_the_after_cell_in_the_form_never_json(
    qtbot: QtBot, window: MainWindow, scripted: ScriptedModel, workspace: Path
) -> None:
    scripted.add("Note it", delegate(task("note", "NOTE-TASK: write a note")), text("Done."))
    scripted.add("NOTE-TASK", write("E4", [["late"]]), text("Wrote E4."))

    send(qtbot, window, "Note it")
    card = wait_card(qtbot, window)
    click(qtbot, button(card, "editButton"))
    assert card.editor is not None
    # No JSON for a person: the form is the only way to edit.
    assert card.editor.findChild(QPlainTextEdit, "rawArgumentsEditor") is None
    assert not [b for b in card.findChildren(QPushButton) if "JSON" in b.text()]
    table = card.editor.cell_editor()
    assert table is not None
    item = table.item(0, 2)
    assert item is not None
    item.setText("written off")
    click(qtbot, button(card, "approveButton"))
    wait_status(qtbot, window, "done")

    assert cell(workspace / "invoices.xlsx", "E4") == "written off"


def test_approve_all_like_this_adds_a_rule_for_the_mission(
    qtbot: QtBot, window: MainWindow, scripted: ScriptedModel, workspace: Path
) -> None:
    scripted.add("Mark all", delegate(task("all", "ALL-TASK: mark two")), text("Done."))
    scripted.add("ALL-TASK", write("E2", [["overdue"]]), write("E5", [["overdue"]]), text("Both."))

    send(qtbot, window, "Mark all overdue")
    card = wait_card(qtbot, window)
    click(qtbot, button(card, "approveAllLikeThisButton"))
    mission_id = wait_status(qtbot, window, "done")

    book = workspace / "invoices.xlsx"
    assert (cell(book, "E2"), cell(book, "E5")) == ("overdue", "overdue")
    assert window.approval_pane.cards == []
    qtbot.waitUntil(lambda: window.mission_info(mission_id) is not None, timeout=WAIT)


def test_stop_halts_every_mission_and_rejects_the_pending_cards(
    qtbot: QtBot, window: MainWindow, scripted: ScriptedModel, workspace: Path
) -> None:
    scripted.add("First stop", delegate(task("a", "STOP-A: write")), text("never"))
    scripted.add("STOP-A", write("A1", [["x"]]), text("never"))
    scripted.add("Second stop", delegate(task("b", "STOP-B: write")), text("never"))
    scripted.add("STOP-B", write("B1", [["y"]]), text("never"))
    book = workspace / "invoices.xlsx"
    original = book.read_bytes()

    send(qtbot, window, "First stop")
    wait_card(qtbot, window, 1)
    window.on_new_mission_clicked()
    send(qtbot, window, "Second stop")
    wait_card(qtbot, window, 2)
    stop = window.findChild(QPushButton, "stopAllButton")
    assert stop is not None
    assert stop.isEnabled()
    click(qtbot, stop)

    qtbot.waitUntil(lambda: window.approval_pane.cards == [], timeout=WAIT)
    qtbot.waitUntil(
        lambda: sorted(m.status for m in window._missions.values()) == ["cancelled", "cancelled"],
        timeout=WAIT,
    )
    assert book.read_bytes() == original
    engine = window.bridge.engine
    assert engine is not None
    actions = [a for m in window._missions for a in engine.journal.actions(m)]
    assert [(a.status, a.reason) for a in actions] == [("rejected", "stopped by user")] * 2
    assert not stop.isEnabled()


def test_the_stop_shortcut_and_the_approve_shortcut(
    qtbot: QtBot, window: MainWindow, scripted: ScriptedModel, workspace: Path
) -> None:
    scripted.add("Shortcut", delegate(task("s", "SHORT-TASK: write")), text("Done."))
    scripted.add("SHORT-TASK", write("E3", [["paid!"]]), text("Wrote."))
    window.activateWindow()
    send(qtbot, window, "Shortcut mission")
    wait_card(qtbot, window)
    window.on_approve_first()  # what Ctrl+Shift+A triggers
    wait_status(qtbot, window, "done")
    assert cell(workspace / "invoices.xlsx", "E3") == "paid!"
    shortcuts = {s.key().toString() for s in window.findChildren(type(_shortcut(window)))}
    assert {"Ctrl+Return", "Ctrl+Shift+A", "Ctrl+Shift+R", "Ctrl+Shift+S"} <= shortcuts


def _shortcut(window: MainWindow) -> Any:
    from PySide6.QtGui import QShortcut

    return QShortcut(window)


def test_follow_up_and_answers_go_through_the_chat(
    qtbot: QtBot, window: MainWindow, scripted: ScriptedModel
) -> None:
    def after_answer(request: dict[str, Any]) -> Any:
        result = request["messages"][-1]["content"][0]
        return text(f"You chose {json.loads(result['content'])['answer']}.")

    scripted.add(
        "Which sheet",
        tool_call("ask_user", {"question": "Which sheet should I use?"}),
        after_answer,
        text("Follow-up handled."),
    )
    send(qtbot, window, "Which sheet is best?")
    qtbot.waitUntil(
        lambda: any("Which sheet should I use?" in m for m in window.chat_view.messages), timeout=WAIT
    )
    mission_id = window._shown
    assert mission_id is not None
    qtbot.waitUntil(lambda: window.mission_info(mission_id).waiting_question, timeout=WAIT)  # type: ignore[union-attr]
    assert "Answer" in window.chat_input.placeholderText()
    send(qtbot, window, "Notes")
    wait_status(qtbot, window, "done")
    qtbot.waitUntil(lambda: any("You chose Notes." in m for m in window.chat_view.messages), timeout=WAIT)

    send(qtbot, window, "And now?")
    qtbot.waitUntil(lambda: any("Follow-up handled." in m for m in window.chat_view.messages), timeout=WAIT)
    assert any(m.startswith("**You**") and "And now?" in m for m in window.chat_view.messages)


def test_the_window_survives_the_engine_raising(
    qtbot: QtBot, window: MainWindow, scripted: ScriptedModel, workspace: Path
) -> None:
    scripted.add("Survive", delegate(task("s", "SURVIVE-TASK: write")), text("Done."))
    scripted.add("SURVIVE-TASK", write("E2", [["overdue"]]), text("Wrote."))
    engine = window.bridge.engine
    assert engine is not None
    real_decide = engine.decide

    def broken(*_args: Any, **_kw: Any) -> Any:
        raise RuntimeError("the engine broke")

    send(qtbot, window, "Survive this")
    card = wait_card(qtbot, window)
    engine.decide = broken  # type: ignore[method-assign]
    click(qtbot, button(card, "approveButton"))
    qtbot.waitUntil(lambda: "the engine broke" in card.error_label.text(), timeout=WAIT)
    assert window.error_banner.isVisible()
    assert "the engine broke" in window.error_banner.text()
    assert button(card, "approveButton").isEnabled()

    engine.decide = real_decide  # type: ignore[method-assign]
    click(qtbot, button(card, "approveButton"))
    wait_status(qtbot, window, "done")
    assert cell(workspace / "invoices.xlsx", "E2") == "overdue"


def test_a_broken_settings_file_is_reported_and_the_window_stays_up(
    qtbot: QtBot, ensemble_home: Path, workspace: Path
) -> None:
    ensemble_home.mkdir(parents=True, exist_ok=True)
    (ensemble_home / "settings.json").write_text("{ broken", encoding="utf-8")
    win = open_window(qtbot, [workspace])
    qtbot.waitUntil(win.error_banner.isVisible, timeout=WAIT)
    assert "settings file" in win.error_banner.text()
    assert win.isVisible()
    win.close()


def test_first_run_without_a_key_opens_the_settings_with_an_explanation(
    qtbot: QtBot, workspace: Path, memory_keyring: Any
) -> None:
    # (The first-run assistant takes a key too: tests/test_ui_first_run.py.)
    win = open_window(qtbot, [workspace])
    qtbot.waitUntil(lambda: win.bridge.engine is not None and win._engine_ready, timeout=WAIT)
    with qtbot.waitSignal(win.settings_opened, timeout=WAIT) as opened:
        win.open_settings(first_run=True, key=None)
    dialog = opened.args[0]
    assert dialog.objectName() == "settingsDialog"
    assert dialog.first_run_note.isVisible()
    assert "API key" in dialog.first_run_note.text()
    click(qtbot, dialog.findChild(QPushButton, "saveSettingsButton"))
    assert dialog.isVisible(), "a first run cannot save without a key"
    keys(qtbot, dialog.key_input, "sk-ant-new-key-1234")
    dialog.concurrency_input.setValue(3)
    click(qtbot, dialog.findChild(QPushButton, "saveSettingsButton"))
    qtbot.waitUntil(lambda: secrets.get_secret(secrets.API_KEY_ENTRY) == "sk-ant-new-key-1234", timeout=WAIT)
    qtbot.waitUntil(lambda: win.bridge.engine is not None and win.bridge.engine.settings.max_concurrency == 3)
    assert dialog.key_input.echoMode() == QLineEdit.EchoMode.Password

    with qtbot.waitSignal(win.settings_opened, timeout=WAIT) as reopened:
        win.on_settings_clicked()
    again = reopened.args[0]
    assert "1234" in again.key_input.placeholderText()
    assert "sk-ant-new" not in again.key_input.placeholderText()
    assert not again.first_run_note.isVisible()
    win.close()


def test_stable_object_names_and_accessible_names(qtbot: QtBot, window: MainWindow) -> None:
    for name in (
        "missionList",
        "chatInput",
        "sendButton",
        "planView",
        "approvalPane",
        "stopAllButton",
        "auditView",
    ):
        widget = window.findChild(QWidget, name)
        assert widget is not None, name
        assert widget.accessibleName(), name
    for widget in window.findChildren(QWidget):
        if not widget.objectName() or widget.objectName().startswith("qt_"):
            continue  # Qt's own parts (a line edit's clear button, a tab bar's arrows).
        if isinstance(widget, (QAbstractButton, QLineEdit, QPlainTextEdit)) or widget.objectName() in (
            "missionList",
            "planView",
            "auditView",
        ):
            assert widget.accessibleName(), (type(widget).__name__, widget.objectName())


def test_geometry_is_restored(qtbot: QtBot, scripted: ScriptedModel, workspace: Path) -> None:
    first = open_window(qtbot, [workspace])
    # A size that fits the screen these tests got (another test file may have made the
    # application first, on the offscreen platform's smaller default screen).
    screen = first.screen().availableGeometry()
    first.resize(min(1111, screen.width() - 40), min(777, screen.height() - 40))
    size = (first.width(), first.height())  # the window's least size may be more
    assert size != (1024, 700)  # not its first size
    first.close()
    second = open_window(qtbot, [workspace])
    assert (second.width(), second.height()) == size
    second.close()


def test_a_notification_when_a_card_arrives_in_the_background(
    qtbot: QtBot, window: MainWindow, scripted: ScriptedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted.add("Background", delegate(task("bg", "BG-TASK: write")), text("Done."))
    scripted.add("BG-TASK", write("E2", [["x"]]), text("Wrote."))
    # Another application has the focus (offscreen, no window can really lose it).
    monkeypatch.setattr(window, "in_background", lambda: True)
    with qtbot.waitSignal(window.notified, timeout=WAIT) as note:
        send(qtbot, window, "Background work")
    assert "needs your approval" in note.args[0]
    assert window.notifications == [note.args[0]]
    assert window.windowTitle() == "Ensemble (1 waiting)"


def test_the_entry_refuses_a_missing_workspace_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ui.app import main

    assert main(["--workspace", str(tmp_path / "nope")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_previews_of_every_kind_render_and_the_generic_form_edits_the_arguments(qtbot: QtBot) -> None:
    from app.api import ActionPreview
    from ui.previews import ArgumentsEditor, preview_widget

    previews = [
        {
            "summary": "Send",
            "kind": "email",
            "text": "",
            "detail": {
                "from": "me@example.org",
                "to": ["you@example.org"],
                "cc": [],
                "bcc": [],
                "subject": "Hi",
                "body": "Hello there",
                "attachments": [{"name": "a.pdf"}],
            },
        },
        {
            "summary": "Submit",
            "kind": "http_request",
            "text": "POST",
            "detail": {
                "method": "POST",
                "url": "http://127.0.0.1/form",
                "fields": {"name": "Ada"},
                "body": "name=Ada",
                "page_url": "http://127.0.0.1/",
                "element": "button#send",
                "screenshot_png_base64": "bm90IGEgcG5n",
            },
        },
        {
            "summary": "Rows",
            "kind": "rows",
            "text": "",
            "detail": {"sheet": "S", "first_row": 7, "rows": [[1, 2]]},
        },
        {"summary": "New", "kind": "new_file", "text": "t", "detail": {"path": "/w/n.xlsx", "sheets": ["A"]}},
        {"summary": "Odd", "kind": "calendar_event", "text": "Lunch", "detail": {"when": "noon", "n": 2}},
        {"summary": "Broken", "kind": "cells", "text": "x", "detail": {"cells": "not a list"}},
    ]
    for preview in previews:
        widget = preview_widget(ActionPreview.model_validate(preview))
        qtbot.addWidget(widget)
        assert widget.objectName() == "previewView"

    arguments = {
        "to": "you@example.org",
        "count": 2,
        "ratio": 0.5,
        "urgent": False,
        "tags": ["a"],
        "note": None,
    }
    editor = ArgumentsEditor(arguments, ActionPreview(kind="email"))
    qtbot.addWidget(editor)
    assert editor.arguments() == arguments
    to = editor.findChild(QLineEdit, "field_to")
    count = editor.findChild(QLineEdit, "field_count")
    assert to is not None
    assert count is not None
    to.setText("them@example.org")
    count.setText("3")
    assert editor.arguments() == {**arguments, "to": "them@example.org", "count": 3}
    count.setText("three")
    with pytest.raises(ValueError, match="whole number"):
        editor.arguments()


def test_each_preview_kind_gets_its_widget_and_an_unknown_one_keeps_every_field(qtbot: QtBot) -> None:
    from app.api import ActionPreview
    from ui.previews import preview_widget

    download = ActionPreview.model_validate(
        {
            "summary": "Download the file behind e12",
            "kind": "download",
            "text": "Download",
            "detail": {
                "ref": "e12",
                "element": "link 'Statement.pdf'",
                "save_as": "statement.pdf",
                "page_url": "http://127.0.0.1/account",
            },
        }
    )
    assert download.typed
    widget = preview_widget(download)
    qtbot.addWidget(widget)
    save_as = widget.findChild(QLabel, "downloadSaveAs")
    assert save_as is not None
    assert save_as.text() == "statement.pdf"
    page = widget.findChild(QLabel, "downloadPage")
    assert page is not None
    assert page.text() == "http://127.0.0.1/account"

    # A kind no agent declared, and a detail that does not fit its kind's model: each is
    # drawn generically with every field it carries.
    for kind, detail in (
        ("hologram_call", {"when": "Tuesday 12:00", "attendees": ["bob@example.org"], "room": "4B"}),
        ("cells", {"cells": "not a list", "path": "/w/a.xlsx"}),
    ):
        preview = ActionPreview.model_validate({"summary": "Odd", "kind": kind, "text": "", "detail": detail})
        assert not preview.typed
        widget = preview_widget(preview)
        qtbot.addWidget(widget)
        table = widget.findChild(QTableWidget, "detailTable")
        assert table is not None
        shown = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
        assert set(shown) == set(detail)
        assert shown["path" if kind == "cells" else "room"] == ("/w/a.xlsx" if kind == "cells" else "4B")


def test_a_card_says_why_the_person_is_asked(qtbot: QtBot) -> None:
    from app.api import ActionInfo
    from ui.approval import ApprovalCard as Card

    why = "thief@evil.example appears only in content from outside (an email or a web page)."
    card = Card(
        ActionInfo(
            id="a1",
            mission_id="m1",
            agent="email",
            tool="email_send",
            effect="external",
            status="pending",
            arguments={"to": ["thief@evil.example"]},
            preview={"summary": "Send to thief@evil.example", "kind": "text", "detail": {}, "text": "hi"},
            notice=why,
            created_at=datetime.now(UTC),
        ),
        mission_title="Reply",
    )
    qtbot.addWidget(card)
    card.show()
    assert card.notice_label.isVisible()
    assert card.notice_label.text() == why
    plain = Card(
        ActionInfo(
            id="a2",
            mission_id="m1",
            agent="email",
            tool="email_send",
            effect="external",
            status="pending",
            arguments={},
            preview={"summary": "Send", "kind": "text", "detail": {}, "text": ""},
            created_at=datetime.now(UTC),
        ),
        mission_title="Reply",
    )
    qtbot.addWidget(plain)
    plain.show()
    assert not plain.notice_label.isVisible()


# Resuming and rules ---------------------------------------------------------------------------


def engine_result(qtbot: QtBot, window: MainWindow, fn: Any) -> Any:
    """Runs ``fn(engine)`` on the engine's loop (as the window does) and waits for its result."""
    results: list[Any] = []
    window.bridge.call(fn, results.append, what="test")
    qtbot.waitUntil(lambda: results != [], timeout=WAIT)
    return results[0]


def active_rules(qtbot: QtBot, window: MainWindow) -> list[Any]:
    return list(engine_result(qtbot, window, lambda e: e.journal.all_rules()))


def test_an_interrupted_mission_shows_resume_and_resuming_runs_it_to_done(
    qtbot: QtBot, scripted: ScriptedModel, workspace: Path
) -> None:
    from app.settings import Settings
    from app.testing.scripted_model import error

    lead = scripted.add("Summarise the invoices", error(529, "overloaded_error", "x"))
    create_application()
    win = MainWindow(Bridge(settings=Settings(api_max_retries=0)), workspaces=[workspace], check_key=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win._engine_ready, timeout=WAIT)
    resume = win.findChild(QPushButton, "resumeButton")
    assert resume is win.resume_button
    assert resume.accessibleName() == "Resume mission"
    assert not resume.isVisible()

    send(qtbot, win, "Summarise the invoices")
    mission_id = wait_status(qtbot, win, "interrupted")
    qtbot.waitUntil(resume.isVisible, timeout=WAIT)
    assert "Interrupted" in win.mission_info(mission_id).line()  # type: ignore[union-attr]

    lead.replies[:] = [text("The invoices are **summarised**.")]
    click(qtbot, resume)
    wait_status(qtbot, win, "done")
    assert not resume.isVisible()
    qtbot.waitUntil(lambda: any("**summarised**" in m for m in win.chat_view.messages), timeout=WAIT)
    kinds = [e.kind for e in engine_result(qtbot, win, lambda e: e.journal.events(mission_id))]
    assert "mission_resumed" in kinds
    win.close()


def open_rules(qtbot: QtBot, window: MainWindow) -> Any:
    rules_button = window.findChild(QPushButton, "rulesButton")
    assert rules_button is not None
    with qtbot.waitSignal(window.rules_opened, timeout=WAIT) as opened:
        click(qtbot, rules_button)
    dialog = opened.args[0]
    assert dialog.objectName() == "rulesDialog"
    return dialog


def test_the_rules_dialog_lists_a_rule_and_remove_deactivates_it(qtbot: QtBot, window: MainWindow) -> None:
    sentence = "Approve every sheet_write without asking."
    rule = engine_result(
        qtbot,
        window,
        lambda e: e.add_rule("approve_all", mission_id=None, tool="sheet_write", description=sentence),
    )
    dialog = open_rules(qtbot, window)
    table = dialog.findChild(QTableWidget, "rulesTable")
    assert table is not None
    qtbot.waitUntil(lambda: table.rowCount() == 1, timeout=WAIT)
    assert table.item(0, 0).text() == sentence
    assert table.item(0, 1).text() == "All missions"
    assert not dialog.empty_label.isVisible()

    remove = table.cellWidget(0, 2)
    assert isinstance(remove, QPushButton)
    click(qtbot, remove)
    qtbot.waitUntil(lambda: table.rowCount() == 0, timeout=WAIT)
    assert dialog.empty_label.isVisible()
    assert [r.id for r in active_rules(qtbot, window)] == []
    assert rule.id
    dialog.close()


def test_adding_a_rule_in_the_dialog_creates_it(qtbot: QtBot, window: MainWindow) -> None:
    from PySide6.QtWidgets import QComboBox

    dialog = open_rules(qtbot, window)
    kind = dialog.findChild(QComboBox, "ruleKindCombo")
    tool = dialog.findChild(QComboBox, "ruleToolCombo")
    condition = dialog.findChild(QLineEdit, "ruleConditionInput")
    assert kind is not None
    assert tool is not None
    assert condition is not None
    kind.setCurrentIndex(kind.findData("reject_all"))
    tool.setCurrentIndex(tool.findText("email_send"))
    assert tool.findText("any") >= 0

    # "Always" takes no value: the condition is chosen from the lists, then typed.
    field = dialog.findChild(QComboBox, "ruleFieldCombo")
    match = dialog.findChild(QComboBox, "ruleMatchCombo")
    field.setCurrentIndex(field.findData("to"))
    match.setCurrentIndex(match.findData("pattern"))
    click(qtbot, button(dialog, "addRuleButton"))  # no value: refused, nothing added
    assert dialog.add_error.isVisible()

    keys(qtbot, condition, "*@evil.example")
    click(qtbot, button(dialog, "addRuleButton"))
    table = dialog.findChild(QTableWidget, "rulesTable")
    assert table is not None
    qtbot.waitUntil(lambda: table.rowCount() == 1, timeout=WAIT)
    assert not dialog.add_error.isVisible()
    assert table.item(0, 1).text() == "All missions"
    [rule] = active_rules(qtbot, window)
    assert rule.kind == "reject_all"
    assert rule.tool == "email_send"
    assert rule.mission_id is None
    assert json.loads(rule.conditions_json) == {"to": "*@evil.example"}
    assert table.item(0, 0).text() == rule.description
    dialog.close()


def _approve_cards_until_done(qtbot: QtBot, window: MainWindow, mission_id: str) -> int:
    """Clicks Approve on each card as it appears, until the mission is done; returns how many."""
    approved = 0

    def settled() -> None:
        nonlocal approved
        for card in list(window.approval_pane.cards):
            if card.isVisible() and card.approve_button.isEnabled():
                click(qtbot, card.approve_button)
                approved += 1
        info = window.mission_info(mission_id)
        assert info is not None
        assert info.status == "done"

    qtbot.waitUntil(settled, timeout=60_000)
    return approved


def test_a_newcomer_without_a_key_is_offered_the_demo_and_it_runs_with_approvals(
    qtbot: QtBot, memory_keyring: Any, ensemble_home: Path
) -> None:
    win = open_window(qtbot, [], check_key=True)
    with qtbot.waitSignal(win.welcome_opened, timeout=WAIT) as welcomed:
        pass
    welcome = welcomed.args[0]
    assert "demo" in welcome.findChild(QPushButton, "tryDemoButton").text().lower()
    with qtbot.waitSignal(win.mission_shown, timeout=WAIT) as shown:
        click(qtbot, welcome.findChild(QPushButton, "tryDemoButton"))
    mission_id = shown.args[0]
    qtbot.waitUntil(lambda: win.demo_banner.isVisible(), timeout=WAIT)
    assert "scripted model" in win.demo_banner.text()
    assert win.mission_header.text().startswith("[Demo]")
    assert not win.chat_input.isEnabled(), "the scripted model takes no follow-ups"

    # Six actions, and the card to remember the signature (only a person decides it).
    assert _approve_cards_until_done(qtbot, win, mission_id) == 7
    book = openpyxl.load_workbook(ensemble_home / "demo-workspace" / "invoices.xlsx")["Invoices"]
    assert sum(1 for row in book.iter_rows(min_row=3, values_only=True) if row[7]) == 3

    # A new mission of one's own hides the demo's banner and opens the composer again.
    click(qtbot, win.new_button)
    assert not win.demo_banner.isVisible()
    assert win.chat_input.isEnabled()
    win.close()


def test_ensemble_demo_opens_the_window_on_the_running_demo(qtbot: QtBot, memory_keyring: Any) -> None:
    from ui.app import create_window

    create_application()
    win = create_window(demo=True)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.mission_shown, timeout=WAIT) as shown:
        win.show()
    card = wait_card(qtbot, win)
    assert win.welcome_dialog is None, "no welcome: the person asked for the demo"
    assert win.demo_banner.isVisible()
    assert card.isVisible()
    assert win.mission_info(shown.args[0]) is not None
    win.close()


# Long missions and long lists ------------------------------------------------------------------


def test_a_mission_of_many_calls_opens_with_every_call_row_spanning_the_plan(qtbot: QtBot) -> None:
    from app import api
    from ui.plan import PlanView

    create_application()
    view = PlanView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    at = datetime.now(UTC)
    events: list[Any] = [
        api.typed("mission_started", "m1", {"text": "Read it all"}, at=at),
        api.typed(
            "task_started",
            "m1",
            {"key": "t1", "agent": "spreadsheet", "instructions": "read"},
            task_id="t1",
            at=at,
        ),
    ]
    for n in range(300):
        arguments = {"path": "a.xlsx", "range": f"A{n}"}
        data = {"tool": "sheet_read", "tool_call_id": f"c{n}", "arguments": arguments, "agent": "spreadsheet"}
        events.append(api.typed("tool_called", "m1", {**data, "effect": "read"}, task_id="t1", at=at))
        if n % 3:
            result = {"tool": "sheet_read", "tool_call_id": f"c{n}", "result": "ok", "is_error": n % 3 == 2}
            events.append(api.typed("tool_result", "m1", result, task_id="t1", at=at))
    view.apply(events)  # as the mission's journal is replayed: one batch
    task_row = view.task_item("t1")
    assert task_row is not None
    calls = [task_row.child(i) for i in range(task_row.childCount())]
    assert len(calls) == 300
    assert all(call.isFirstColumnSpanned() for call in calls)
    assert [call_status(call) for call in calls[:3]] == ["running", "done", "error"]
    assert calls[5].text(0).endswith("Read a workbook · a.xlsx")
    # A call that arrives live, in a later batch, spans too.
    live = {"tool": "sheet_read", "tool_call_id": "late", "arguments": {}, "agent": "spreadsheet"}
    view.apply([api.typed("tool_called", "m1", {**live, "effect": "read"}, task_id="t1", at=at)])
    assert task_row.childCount() == 301
    assert task_row.child(300).isFirstColumnSpanned()


def test_the_missions_list_scrolls_on_past_its_first_page(
    qtbot: QtBot, scripted: ScriptedModel, workspace: Path
) -> None:
    from datetime import timedelta

    from app.journal import Journal, Mission
    from ui.missions_list import PAGE_SIZE

    home = Path(os.environ["ENSEMBLE_HOME"])
    journal = Journal(home / "journal.sqlite3")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    total = 2 * PAGE_SIZE + 37
    journal.add(
        *(
            Mission(
                id=f"m_{n:05d}",
                title=f"Mission {n}",
                text="t",
                status="done",
                started_at=start + timedelta(minutes=n),
            )
            for n in range(total)
        )
    )
    journal.close()
    win = open_window(qtbot, [workspace])
    missions = win.missions
    qtbot.waitUntil(lambda: len(missions.rows) == PAGE_SIZE, timeout=WAIT)
    assert missions.has_more
    for expected in (2 * PAGE_SIZE, total):
        with qtbot.waitSignal(missions.more_wanted, timeout=WAIT) as asked:
            missions.list.scrollToBottom()
        assert asked.args == [len(missions.rows)]
        qtbot.waitUntil(lambda expected=expected: len(missions.rows) == expected, timeout=WAIT)
    assert not missions.has_more  # the last page was short: nothing more is asked for
    shown = [missions.list.item(i).data(Qt.ItemDataRole.UserRole + 10) for i in range(missions.list.count())]
    assert shown == [f"m_{n:05d}" for n in reversed(range(total))]  # newest first, each once
    win.close()
