"""Undo this mission's result, in words: each change once, what cannot be undone not repeated
under "What was done" (the dialog lists it in its own section); the dialog fits a 1024 by 700
screen at 150 %."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, cast

# Alone, this file needs a platform; after tests/test_ui.py it keeps the one set there.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QRect
from PySide6.QtGui import QGuiApplication

from app.api import RollbackLimit, RollbackReport, RollbackResult
from ui.rollback_dialog import report_text

if TYPE_CHECKING:
    import pytest
    from pytestqt.qtbot import QtBot

    from ui.bridge import Bridge


def test_the_report_lists_each_change_once_and_not_what_cannot_be_undone() -> None:
    report = RollbackReport(
        mission_id="m1",
        title="Demo",
        results=[
            RollbackResult(
                action_id="a1",
                what="Write 1 cell",
                outcome="undone",
                message="Restored invoices.xlsx as it was before the change to Invoices!H12.",
            ),
            RollbackResult(
                action_id="a2", what="Write 1 cell", outcome="refused", message="notes.txt was changed."
            ),
        ],
        cannot_undo=[
            RollbackLimit(action_id="a3", what="Save draft", why="The draft stays in your Drafts folder.")
        ],
    )

    said = report_text(report).splitlines()

    assert said[:2] == [
        "• Undone: Restored invoices.xlsx as it was before the change to Invoices!H12.",
        "• Left alone: notes.txt was changed.",
    ]
    assert "Undo anyway" in said[2]
    assert not any("Drafts" in line or "cannot be undone" in line for line in said)


def test_a_report_with_no_change_says_its_summary() -> None:
    report = RollbackReport(mission_id="m1", title="Demo")
    assert report_text(report) == "Nothing was left to undo."


class _Screen:
    def availableGeometry(self) -> QRect:
        return QRect(0, 0, 682, 466)  # 1024 by 700 at 150 %


class _Bridge:
    def call(self, *_args: Any, **_kwargs: Any) -> None:
        """The plan is never read: the dialog's size is what is tested."""


def test_the_dialog_fits_a_small_scaled_screen(qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    from ui.rollback_dialog import RollbackDialog

    monkeypatch.setattr(QGuiApplication, "primaryScreen", staticmethod(lambda: _Screen()))
    dialog = RollbackDialog(cast("Bridge", _Bridge()), "m1", "Demo")
    qtbot.addWidget(dialog)
    assert dialog.width() <= 682 - 40
    assert dialog.height() <= 466 - 60
    assert dialog.minimumWidth() <= 682 - 40
