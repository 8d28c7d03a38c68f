"""Cards a screen reader tells apart, a rule form without leftovers, an audit that fits.

- Every control of an approval card is named after what the card is about ("Approve: Send
  “Reminder…” to robert.stone@…"), so that two cards' Approve buttons never sound the same;
  the visible text stays "Approve". So are the preview's tables and the edit form's fields.
- The Rules dialog greys out the comparison and the value while the condition is "always"
  (there is nothing to compare), says why, and gives them back for a field; "is anyone at" is
  offered only for addresses.
- The audit's table fits its pane at 1024x700: compact time and kind, the summary cut with
  "…" (whole in its tooltip), no sideways scroll bar; the card of the selected event wraps.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

# Before any QApplication exists: offscreen, on a screen big enough for the window.
_SCREEN = Path(tempfile.gettempdir()) / "ensemble-test-polish-screen.json"
_SCREEN.write_text(
    json.dumps(
        {"screens": [{"name": "big", "x": 0, "y": 0, "width": 1920, "height": 1200, "logicalDpi": 96}]}
    ),
    encoding="utf-8",
)
os.environ.setdefault("QT_QPA_PLATFORM", f"offscreen:configfile={_SCREEN}")

from typing import TYPE_CHECKING, Any  # noqa: E402

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QAbstractButton,
    QApplication,
    QLabel,
    QLineEdit,
    QTableWidget,
    QWidget,
)
from test_ui_layout import audit_events, email_action, workbook_action  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pytestqt.qtbot import QtBot

    from ui.main_window import MainWindow

import pytest  # noqa: E402


def test_two_cards_name_their_buttons_after_what_they_are_about(qtbot: QtBot) -> None:
    from ui.approval import ApprovalCard

    email, sheet = email_action(), workbook_action()
    cards = []
    for action in (email, sheet):
        card = ApprovalCard(action, mission_title="Reminders")
        qtbot.addWidget(card)
        card.show()
        cards.append(card)
    first, second = cards
    for card, action in ((first, email), (second, sheet)):
        summary = action.preview.summary
        # The visible words stay short; what a screen reader says names the card.
        assert card.approve_button.text() == "Approve"
        assert card.approve_button.accessibleName() == f"Approve: {summary}"
        assert card.edit_button.accessibleName() == f"Edit: {summary}"
        assert card.reject_button.accessibleName() == f"Reject: {summary}"
        assert summary in card.approve_all_button.accessibleName()
        assert summary in card.confirm_reject_button.accessibleName()
        assert summary in card.reason_input.accessibleName()
        assert summary in card.accessibleName()
        assert summary in card.accessibleDescription()
        assert "Reminders" in card.accessibleDescription()
    for button in ("approve_button", "edit_button", "reject_button", "approve_all_button"):
        assert getattr(first, button).accessibleName() != getattr(second, button).accessibleName()

    # The preview's table of cells, and the edit form's fields, are named after the card too.
    table = second.preview_view.findChild(QTableWidget, "cellsPreview")
    assert table is not None
    assert sheet.preview.summary in table.accessibleName()
    assert second.preview_view.accessibleName().count(sheet.preview.summary) == 1

    first.on_edit_clicked()
    assert first.approve_button.accessibleName() == f"Approve with edits: {email.preview.summary}"
    assert first.edit_button.accessibleName() == f"Cancel edit: {email.preview.summary}"
    assert first.editor is not None
    # Recipients are chips; the box to type another address is named after the card.
    chips = first.editor.findChild(QWidget, "field_to")
    assert chips is not None
    to = chips.findChild(QLineEdit, "addressInput")
    subject = first.editor.findChild(QLineEdit, "field_subject")
    assert to is not None
    assert subject is not None
    assert to.accessibleName().startswith("To")
    assert email.preview.summary in to.accessibleName()
    assert subject.accessibleName() != to.accessibleName()
    # Closing the form gives the buttons their names back, with the summary once.
    first.on_edit_clicked()
    assert first.approve_button.accessibleName() == f"Approve: {email.preview.summary}"
    second.on_edit_clicked()
    second.on_edit_clicked()
    assert table.accessibleName().count(sheet.preview.summary) == 1

    # Every control that takes the focus says which card it belongs to.
    for card, action in ((first, email), (second, sheet)):
        card.on_reject_clicked()
        for widget in [card, *card.findChildren(QWidget)]:
            if widget.focusPolicy() == Qt.FocusPolicy.NoFocus or not widget.isVisible():
                continue
            if isinstance(widget, QLabel):
                continue  # selectable text says itself
            assert action.preview.summary in widget.accessibleName(), (widget.objectName(), type(widget))


def test_the_rule_form_greys_out_the_value_when_the_condition_is_always(qtbot: QtBot) -> None:
    from ui.rules_dialog import NO_VALUE, RulesDialog

    dialog = RulesDialog(mission_id=None)
    qtbot.addWidget(dialog)
    dialog.show()
    tool, field, match, value = (
        dialog.tool_combo,
        dialog.field_combo,
        dialog.match_combo,
        dialog.condition_input,
    )
    note = dialog.no_condition_note

    tool.setCurrentIndex(tool.findData("email_send"))
    field.setCurrentIndex(field.findData(None))
    assert field.currentText() == "always (no condition)"
    assert not value.isEnabled()
    assert not match.isEnabled()
    assert value.placeholderText() == NO_VALUE
    assert note.isVisible()
    assert "always" in note.text()
    assert "no value" in note.text()
    assert value.toolTip()

    # A part of the action to compare: the value comes back, with an example of what to type.
    field.setCurrentIndex(field.findData("to"))
    assert value.isEnabled()
    assert match.isEnabled()
    assert not note.isVisible()
    assert match.currentData() == "anyone_at"
    assert value.placeholderText() == "e.g. example.com"
    qtbot.keyClicks(value, "example.com")  # type: ignore[no-untyped-call]
    assert dialog.sentence_label.text() == (
        "Always allow sending an email when the recipients are anyone at example.com"
    )

    # Back to "always": the typed value is kept for later but plays no part in the rule.
    field.setCurrentIndex(field.findData(None))
    assert not value.isEnabled()
    assert dialog.sentence_label.text() == "Always allow sending an email"
    with qtbot.waitSignal(dialog.add_requested, timeout=5_000) as added:
        dialog.add_button.click()
    assert added.args == ["approve_all", "email_send", None, None]

    # A problem shown goes as soon as the rule is changed; one scope is no choice.
    field.setCurrentIndex(field.findData("subject"))
    value.clear()
    dialog.on_added()
    dialog.add_button.click()
    assert dialog.add_error.isVisible()
    qtbot.keyClicks(value, "Invoice")  # type: ignore[no-untyped-call]
    assert not dialog.add_error.isVisible()
    assert not dialog.scope_combo.isEnabled()
    assert dialog.scope_combo.toolTip()

    # "Is anyone at" is for addresses only: for a file it is greyed out and not kept.
    dialog.on_added()
    tool.setCurrentIndex(tool.findData("sheet_write"))
    field.setCurrentIndex(field.findData("path"))
    assert match.currentData() != "anyone_at"
    model: Any = match.model()
    assert not model.item(match.findData("anyone_at")).isEnabled()
    assert value.placeholderText() == "e.g. invoices.xlsx"

    # Any action has no parts to choose: "always" is its only condition, said in a tooltip.
    tool.setCurrentIndex(tool.findData(None))
    assert field.count() == 1
    assert not field.isEnabled()
    assert field.toolTip()
    assert not value.isEnabled()


@pytest.fixture
def window(qtbot: QtBot, workspace: Path) -> Iterator[MainWindow]:
    """The real window with no engine (the audit is filled by hand)."""
    from ui.app import create_application
    from ui.bridge import Bridge
    from ui.main_window import MainWindow

    create_application()
    win = MainWindow(Bridge(), workspaces=[workspace], check_key=False)
    win._engine_requested = True  # no engine, no model: nothing here needs one
    qtbot.addWidget(win)
    yield win
    win.shut_down()


def test_the_audit_fits_1024x700_without_a_sideways_scroll_bar(qtbot: QtBot, window: MainWindow) -> None:
    audit = window.audit_view
    audit.apply(audit_events())
    window.tabs.setCurrentWidget(audit)
    window.resize(1024, 700)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: audit.model.rowCount() == len(audit.events), timeout=5_000)
    QApplication.processEvents()

    table = audit.table
    assert not table.horizontalScrollBar().isVisible()
    assert table.horizontalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAlwaysOff
    header = table.horizontalHeader()
    assert header.length() <= table.viewport().width()
    assert header.sectionViewportPosition(2) + header.sectionSize(2) <= table.viewport().width()
    # The summary is the column that stretches (the kind gives way to it in a narrow pane);
    # cut short, it is whole in its tooltip.
    assert table.columnWidth(2) >= table.viewport().width() // 2
    for row in range(audit.proxy.rowCount()):
        index = audit.proxy.index(row, 2)
        assert index.data(Qt.ItemDataRole.ToolTipRole) == index.data()
        assert audit.proxy.index(row, 1).data(Qt.ItemDataRole.ToolTipRole)

    # The buttons keep their words; the card of the selected event wraps, nothing cut.
    for button in audit.findChildren(QAbstractButton):
        if button.isVisible():
            assert button.sizeHint().width() <= button.width(), button.text()
    assert audit.select_event(lambda e: e.kind == "action_executed")
    card = audit.detail_card
    viewport = audit.detail_scroll.viewport()
    assert card.fields["Preview"].startswith("Write 3 cells")

    def cut() -> list[str]:
        problems = []
        for label in card.findChildren(QLabel):
            if not label.isVisible() or not label.text():
                continue
            right = label.mapTo(viewport, label.rect().topRight()).x()
            if right > viewport.width():
                problems.append(f"{label.text()} ends at {right}, room {viewport.width()}")
            if label.wordWrap() and label.heightForWidth(label.width()) > label.height() + 1:
                problems.append(f"{label.text()} is cut at the bottom")
        return problems

    # Once laid out (a label's height follows its wrapped text on the next layout pass).
    qtbot.waitUntil(lambda: cut() == [], timeout=5_000)
    assert not audit.detail_scroll.horizontalScrollBar().isVisible()
    assert audit.detail_scroll.height() >= 120  # room to read the card, not a slit
