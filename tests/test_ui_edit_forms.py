"""Edit forms show what a person knows: recipients as chips, never JSON; the value being
edited in a workbook table is shown whole."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QLineEdit, QTableWidget
from test_ui_layout import email_action, workbook_action
from test_ui_previews import CASES

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from app.api import ActionInfo
    from ui.approval import ApprovalCard
    from ui.previews import ChipsEditor


def card_for(qtbot: QtBot, action: ActionInfo) -> ApprovalCard:
    from ui.approval import ApprovalCard

    card = ApprovalCard(action, mission_title="Reminders")
    qtbot.addWidget(card)
    card.resize(700, 600)
    card.show()
    card.on_edit_clicked()
    assert card.editor is not None
    return card


def chips_of(card: ApprovalCard, key: str = "to") -> ChipsEditor:
    from ui.previews import ChipsEditor

    assert card.editor is not None
    chips = card.editor.findChild(ChipsEditor, f"field_{key}")
    assert chips is not None
    return chips


def test_recipients_are_chips_that_type_paste_and_backspace(qtbot: QtBot) -> None:
    action = email_action()
    card = card_for(qtbot, action)
    chips = chips_of(card)
    proposed = action.arguments["to"]
    assert [chip.text for chip in chips.chips] == proposed
    assert card.editor is not None
    assert card.editor.arguments() == action.arguments
    names = [chip.remove_button.accessibleName() for chip in chips.chips]
    assert names[0].startswith(f"To: {proposed[0]}, remove")

    # Typing then a comma (or Enter) makes a chip.
    qtbot.keyClicks(chips.input, "ann@example.com,")
    assert [chip.text for chip in chips.chips] == [*proposed, "ann@example.com"]
    assert chips.input.text() == ""
    qtbot.keyClicks(chips.input, "bob@example.org")
    qtbot.keyClick(chips.input, Qt.Key.Key_Return)
    assert chips.values() == [*proposed, "ann@example.com", "bob@example.org"]
    # A space after a whole address commits it too.
    qtbot.keyClicks(chips.input, "cy@example.net ")
    assert chips.chips[-1].text == "cy@example.net"
    qtbot.keyClick(chips.input, Qt.Key.Key_Backspace)
    # Backspace in the empty box removes the last chip.
    qtbot.keyClick(chips.input, Qt.Key.Key_Backspace)
    assert chips.values() == [*proposed, "ann@example.com"]
    # A name with a comma in quotes stays one chip; pasting two addresses makes two chips.
    chips.input.setText('"Stone, Robert" <robert.stone@example.com>; ada@example.org')
    assert chips.values()[-2:] == ['"Stone, Robert" <robert.stone@example.com>', "ada@example.org"]
    # ✕ removes that chip.
    chips.chips[0].remove_button.click()
    edited = card.editor.arguments()
    assert edited["to"] == [
        *proposed[1:],
        "ann@example.com",
        '"Stone, Robert" <robert.stone@example.com>',
        "ada@example.org",
    ]
    for fixed in ("message_id", "date", "in_reply_to"):
        assert edited[fixed] == action.arguments[fixed]
    with qtbot.waitSignal(card.edited, timeout=5000) as signal:
        card.on_approve_clicked()
    assert signal.args == ["a-email", edited]


def test_an_invalid_address_is_a_red_chip_that_blocks_approving(qtbot: QtBot) -> None:
    card = card_for(qtbot, email_action())
    chips = chips_of(card)
    qtbot.keyClicks(chips.input, "ann.example.com;")
    bad = chips.chips[-1]
    assert bad.property("invalid") is True
    assert "no @" in bad.toolTip()
    assert "not an address" in bad.accessibleName()
    card.on_approve_clicked()
    assert "ann.example.com" in card.error_label.text()
    assert "not an email address" in card.error_label.text()
    assert "{" not in card.error_label.text()


def test_chips_wrap_in_a_narrow_pane(qtbot: QtBot) -> None:
    card = card_for(qtbot, email_action())
    chips = chips_of(card)
    card.resize(420, 700)
    qtbot.waitUntil(lambda: chips.width() <= 420)
    for widget in [*chips.chips, chips.input]:
        assert widget.geometry().right() < chips.width(), widget.objectName()
    # On more than one line: they wrapped rather than being cut.
    assert len({widget.geometry().y() for widget in [*chips.chips, chips.input]}) > 1
    # A long "Name <address>" is shortened on the chip, whole in its tooltip and name.
    first = chips.chips[0]
    assert first.toolTip() == email_action().arguments["to"][0]
    assert email_action().arguments["to"][0] in first.remove_button.accessibleName()


def all_actions() -> list[ActionInfo]:
    from app.api import ActionInfo

    actions = [email_action(), workbook_action(4)]
    for kind, (detail, *_rest) in CASES.items():
        arguments: dict[str, Any] = {
            "path": "report.docx",
            "headers": {"Accept": "text/html"},
            "rows": [["a", 1], ["b", 2]],
            "count": 2,
            "to": ["ann@example.com"],
        }
        actions.append(
            ActionInfo(
                id=f"a-{kind}",
                mission_id="m1",
                agent="any",
                tool=f"{kind}_tool",
                effect="local",
                status="pending",
                arguments=arguments,
                preview={"summary": kind, "kind": kind, "text": kind, "detail": detail},
                created_at=datetime.now(UTC),
            )
        )
    return actions


@pytest.mark.parametrize("index", range(len(all_actions())))
def test_no_edit_form_offers_json(qtbot: QtBot, index: int) -> None:
    action = all_actions()[index]
    card = card_for(qtbot, action)
    assert card.editor is not None
    for button in card.findChildren(QAbstractButton):
        assert "JSON" not in button.text().upper(), button.objectName()
        assert "JSON" not in button.accessibleName().upper(), button.objectName()
    for line in card.editor.findChildren(QLineEdit):
        assert not line.text().lstrip().startswith(("[", "{")), line.objectName()
    # What the form cannot edit stays exactly as proposed.
    assert card.editor.arguments() == action.arguments


def test_the_after_cell_shows_the_whole_typed_value(qtbot: QtBot) -> None:
    card = card_for(qtbot, workbook_action(4))
    assert card.editor is not None
    table = card.editor.findChild(QTableWidget, "cellsEditor")
    assert table is not None
    item = table.item(0, 2)
    assert item is not None
    typed = "overdue since 2026-09-01, reminder sent twice"
    item.setText(typed)
    needed = table.fontMetrics().horizontalAdvance(typed)
    qtbot.waitUntil(lambda: table.columnWidth(2) >= needed)
    assert card.editor.arguments()["values"][0] == [typed]
