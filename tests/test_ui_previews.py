"""Every preview kind the agents declare gets its own widget, from the kind's real model."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import pytest

# Alone, this file needs a platform; after tests/test_ui.py it keeps the one set there.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QLabel, QPlainTextEdit, QTableWidget, QTextEdit, QWidget

from app.api import ActionPreview
from connectors.registry import registry
from ui.previews import preview_widget

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

CASES: dict[str, tuple[dict[str, Any], type[QWidget], str, str]] = {
    "document_diff": (
        {
            "path": "/w/report.docx",
            "diff": [
                "--- before",
                "+++ after",
                "@@ -1,2 +1,2 @@",
                " # Report",
                "-Sales fell.",
                "+Sales rose.",
            ],
            "added": 1,
            "removed": 1,
        },
        QTextEdit,
        "documentDiff",
        "Sales rose.",
    ),
    "file_operation": (
        {"operation": "move", "source": "/w/a.txt", "target": "/w/old/a.txt", "size": 2048},
        QLabel,
        "fileTarget",
        "/w/old/a.txt",
    ),
    "sheet_structure": (
        {
            "path": "/w/invoices.xlsx",
            "sheet": "Invoices",
            "operation": "insert_rows",
            "where": "5",
            "count": 1,
            "formulas": [{"cell": "E20", "old": "=SUM(B2:B10)", "new": "=SUM(B2:B11)"}],
        },
        QTableWidget,
        "structureFormulas",
        "=SUM(B2:B11)",
    ),
    "pdf": (
        {
            "operation": "merge",
            "files": [{"path": "/w/all.pdf", "pages": 7, "sources": ["/w/a.pdf", "/w/b.pdf"]}],
        },
        QTableWidget,
        "pdfFiles",
        "all.pdf",
    ),
    "pdf_form": (
        {"path": "/w/form.pdf", "fields": [{"name": "Name", "type": "text", "old": "", "new": "Ada"}]},
        QTableWidget,
        "pdfFormFields",
        "Ada",
    ),
    "deck_outline": (
        {"path": "/w/deck.pptx", "slides": [{"number": 1, "title": "Totals", "bullets": ["North: 12"]}]},
        QPlainTextEdit,
        "deckOutline",
        "North: 12",
    ),
    "calendar_event": (
        {
            "action": "update",
            "summary": "Budget review",
            "start": "2026-12-08T10:00:00+01:00",
            "end": "2026-12-08T11:00:00+01:00",
            "attendees": ["bob@example.org"],
            "before": {"start": "2026-12-07T10:00:00+01:00"},
        },
        QLabel,
        "event_start",
        "Mon 7 Dec 2026, 10:00 → Tue 8 Dec 2026, 10:00",
    ),
    "calendar_invite": (
        {
            "from": "me@example.org",
            "to": ["bob@example.org"],
            "subject": "Invitation: Budget",
            "summary": "Budget",
        },
        QLabel,
        "invite_to",
        "bob@example.org",
    ),
}


def _text(widget: QWidget) -> str:
    if isinstance(widget, QLabel):
        return widget.text()
    if isinstance(widget, QTextEdit):
        return widget.toPlainText()
    if isinstance(widget, QPlainTextEdit):
        return widget.toPlainText()
    assert isinstance(widget, QTableWidget)
    return " ".join(
        item.text()
        for r in range(widget.rowCount())
        for c in range(widget.columnCount())
        if (item := widget.item(r, c)) is not None
    )


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_new_kind_has_its_tailored_widget(qtbot: QtBot, kind: str) -> None:
    detail, cls, name, shown = CASES[kind]
    preview = ActionPreview.model_validate({"summary": kind, "kind": kind, "text": kind, "detail": detail})

    assert preview.typed, f"{kind}: the detail does not fit its agent's model"
    widget = preview_widget(preview)
    qtbot.addWidget(widget)
    child = widget.findChild(cls, name)
    assert child is not None, f"{kind}: no {name}"
    assert shown in _text(child)
    assert widget.findChild(QTableWidget, "detailTable") is None


def test_every_declared_kind_is_covered_here_or_by_the_window_tests() -> None:
    declared = {model.kind for agent in registry().values() for model in agent.previews}
    older = {"cells", "rows", "new_file", "email", "http_request", "download"}
    assert declared <= older | set(CASES)


def test_the_qt_binding_leaves_none_alone(qtbot: QtBot) -> None:
    # PySide6 6.12.0 took a reference from None on each call that returns nothing; on
    # Python 3.11 a long session then aborted with "none_dealloc". pyproject.toml keeps it out.
    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(1000):
        label.setText("x")
        label.setToolTip("y")
    assert abs(sys.getrefcount(None) - before) < 50
