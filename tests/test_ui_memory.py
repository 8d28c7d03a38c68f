"""The Memory pane, offscreen, on the real engine and its journal: opened from the window's
Memory button, it lists what is remembered, adds, changes and forgets items, says in words why
a secret is refused, names every control, and fits a 1024 by 700 window."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QAbstractButton, QComboBox, QLineEdit, QPushButton, QTableWidget, QWidget
from test_ui import WAIT, click, engine_result, keys, open_window

from ui.memory import ALL_MISSIONS, MemoryDialog

if TYPE_CHECKING:
    from pathlib import Path

    from pytestqt.qtbot import QtBot

    from app.testing.scripted_model import ScriptedModel
    from ui.main_window import MainWindow


def _window(qtbot: QtBot, workspace: Path) -> MainWindow:
    win = open_window(qtbot, [workspace])
    qtbot.waitUntil(lambda: win.bridge.engine is not None and win._engine_ready, timeout=WAIT)
    return win


def open_pane(qtbot: QtBot, window: MainWindow) -> MemoryDialog:
    memory_button = window.findChild(QPushButton, "memoryButton")
    assert memory_button is not None
    assert memory_button.accessibleName() == "Memory"
    click(qtbot, memory_button)
    qtbot.waitUntil(lambda: window.findChild(MemoryDialog, "memoryDialog") is not None, timeout=WAIT)
    dialog = window.findChild(MemoryDialog, "memoryDialog")
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible, timeout=WAIT)
    return dialog


def texts(qtbot: QtBot, window: MainWindow) -> list[tuple[str, str | None]]:
    return [(i.text, i.workspace) for i in engine_result(qtbot, window, lambda e: e.list_memory())]


def test_the_pane_adds_changes_and_forgets_items_kept_by_the_engine(
    qtbot: QtBot, scripted: ScriptedModel, workspace: Path, tmp_path: Path
) -> None:
    del scripted  # the engine needs a model to start; the pane never asks it
    window = _window(qtbot, workspace)
    try:
        engine_result(qtbot, window, lambda e: e.add_memory("Invoices live in Finance/2026"))
        dialog = open_pane(qtbot, window)
        table = dialog.findChild(QTableWidget, "memoryTable")
        assert table is not None
        qtbot.waitUntil(lambda: table.rowCount() == 1, timeout=WAIT)
        assert [table.item(0, c).text() for c in range(3)] == [
            "Invoices live in Finance/2026",
            "for all missions",
            "you added it",
        ]
        edit = dialog.findChild(QPushButton, "editMemoryButton")
        forget = dialog.findChild(QPushButton, "removeMemoryButton")
        save = dialog.findChild(QPushButton, "saveMemoryButton")
        text_input = dialog.findChild(QLineEdit, "memoryTextInput")
        scope = dialog.findChild(QComboBox, "memoryScopeCombo")
        assert edit is not None
        assert forget is not None
        assert save is not None
        assert text_input is not None
        assert scope is not None
        assert not edit.isEnabled()
        assert not forget.isEnabled()
        assert not save.isEnabled()

        # Add one for this workspace's missions.
        assert scope.currentText() == ALL_MISSIONS
        scope.setCurrentIndex(scope.findData(str(workspace)))
        keys(qtbot, text_input, "Sign emails as Ana")
        click(qtbot, save)
        qtbot.waitUntil(lambda: table.rowCount() == 2, timeout=WAIT)
        assert text_input.text() == ""
        assert ("Sign emails as Ana", str(workspace.resolve())) in texts(qtbot, window)
        assert table.item(0, 0).text() == "Sign emails as Ana"
        assert table.item(0, 1).text().startswith("for missions in workspace")

        # A secret is refused, in words, and nothing is kept.
        scope.setCurrentIndex(0)
        keys(qtbot, text_input, "My password is hunter2")
        click(qtbot, save)
        error = dialog.error_label
        qtbot.waitUntil(error.isVisible, timeout=WAIT)
        assert "never keeps secrets" in error.text()
        assert len(texts(qtbot, window)) == 2
        text_input.clear()

        # Change the first one.
        table.selectRow(1)
        assert edit.isEnabled()
        assert forget.isEnabled()
        click(qtbot, edit)
        assert text_input.text() == "Invoices live in Finance/2026"
        assert save.text() == "Save change"
        text_input.setText("Invoices live in Finance/2027")
        click(qtbot, save)
        qtbot.waitUntil(lambda: table.item(0, 0).text() == "Invoices live in Finance/2027", timeout=WAIT)
        assert save.text() == "Remember"
        assert sorted(t for t, _w in texts(qtbot, window)) == [
            "Invoices live in Finance/2027",
            "Sign emails as Ana",
        ]

        # Forget the other.
        table.selectRow(1)
        assert table.item(1, 0).text() == "Sign emails as Ana"
        click(qtbot, forget)
        qtbot.waitUntil(lambda: table.rowCount() == 1, timeout=WAIT)
        assert texts(qtbot, window) == [("Invoices live in Finance/2027", None)]

        # Clicking Memory again keeps the same pane.
        memory_button = window.findChild(QPushButton, "memoryButton")
        assert memory_button is not None
        window.on_memory_clicked()
        assert window.findChildren(MemoryDialog) == [dialog]
        dialog.close()
    finally:
        window.close()


def test_every_control_has_a_name_and_the_pane_fits_a_small_window(
    qtbot: QtBot, scripted: ScriptedModel, workspace: Path
) -> None:
    del scripted
    window = _window(qtbot, workspace)
    try:
        window.resize(1024, 700)
        qtbot.waitUntil(lambda: window.width() <= 1024 and window.height() <= 700, timeout=WAIT)
        dialog = open_pane(qtbot, window)
        qtbot.waitUntil(lambda: not dialog.empty_label.isHidden(), timeout=WAIT)
        assert dialog.width() <= 1024
        assert dialog.height() <= 700
        focusable: list[QWidget] = [
            *dialog.findChildren(QAbstractButton),
            *dialog.findChildren(QLineEdit),
            *dialog.findChildren(QComboBox),
            *dialog.findChildren(QTableWidget),
        ]
        for widget in focusable:
            if widget.isVisible():
                assert widget.accessibleName() or (isinstance(widget, QAbstractButton) and widget.text()), (
                    widget.objectName()
                )
        # Everything the person needs is on screen at once (nothing cut at the bottom).
        for name in ("memoryTextInput", "saveMemoryButton", "memoryScopeCombo"):
            widget = dialog.findChild(QWidget, name)
            assert widget is not None, name
            assert widget.isVisible(), name
            bottom = widget.mapTo(dialog, widget.rect().bottomLeft()).y()
            assert bottom <= dialog.height(), name
        dialog.close()
    finally:
        window.close()
