"""Cards that fit their pane, forms a person can read, rules as sentences, undo that explains.

The layout checks render the real main window with three waiting cards (an email to send, a
workbook write of 30 cells, a form submitted on a site) at 1024x700 and 1600x1000, at
``QT_SCALE_FACTOR`` 1, 1.5 and 2. A scale factor is fixed when Qt starts, so each one runs
this file as a script in its own process (offscreen), which prints every problem it finds
as JSON and saves a screenshot of the window per size into ``test-artifacts/``
(``cards-1024x700@1.5x.png``…) for a person to look at.

A problem is a visible button, label or field that is not entirely inside its scroll area's
viewport horizontally (the card would need a sideways scroll bar it does not have), a button
narrower than its text needs (elided), a word-wrapped label too short for its text, or a
table of cell values whose last column ("After") is not in sight.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PySide6.QtWidgets import QLineEdit, QPlainTextEdit, QPushButton, QWidget

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from app.api import ActionInfo
    from app.testing.scripted_model import ScriptedModel
    from ui.main_window import MainWindow

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
SIZES = ((1024, 700), (1600, 1000))
SCALES = ("1", "1.5", "2")
WAIT = 15_000
START = 90_000  # ms: the engine's first start imports the SDK, slow on a busy machine

# Before any QApplication exists: offscreen, on a screen big enough for 1600x1000 at twice
# the scale, so that no window is clamped to the screen.
_SCREEN = Path(tempfile.gettempdir()) / "ensemble-test-layout-screen.json"
_SCREEN.write_text(
    json.dumps(
        {"screens": [{"name": "big", "x": 0, "y": 0, "width": 3600, "height": 2400, "logicalDpi": 96}]}
    ),
    encoding="utf-8",
)
os.environ.setdefault("QT_QPA_PLATFORM", f"offscreen:configfile={_SCREEN}")


# The three cards -------------------------------------------------------------------------------


def email_action() -> ActionInfo:
    """An email to send, with a long subject, two recipients and an unbreakable link."""
    from app.api import ActionInfo

    to = ["Robert Stone <robert.stone@accounts-payable.example.com>", "billing@umbrella-corporation.example"]
    body = (
        "Dear Robert,\n\nOur records show that invoice INV-1 for 1,250.00 EUR, due on 1 September "
        "2026, is still open. You can pay it at https://payments.example.com/invoices/INV-1?"
        "customer=acme-industrial-supplies&reference=2026-09-01-reminder-first\n\nKind regards,\nAda"
    )
    detail = {
        "from": "ada@example.org",
        "to": to,
        "cc": ["accounting-team-shared-inbox@example.org"],
        "bcc": [],
        "subject": "Reminder: invoice INV-1 (1,250.00 EUR) was due on 1 September 2026",
        "body": body,
        "attachments": [{"name": "INV-1-acme-industrial-supplies-september-2026.pdf"}],
        "message_id": "<20260902.1234@ensemble.example.org>",
    }
    arguments = {
        "to": to,
        "subject": detail["subject"],
        "body": body,
        "cc": detail["cc"],
        "bcc": None,
        "attachments": ["INV-1-acme-industrial-supplies-september-2026.pdf"],
        "in_reply_to": None,
        "message_id": "<20260902.1234@ensemble.example.org>",
        "date": "Wed, 02 Sep 2026 10:00:00 +0000",
    }
    return ActionInfo(
        id="a-email",
        mission_id="m1",
        agent="email",
        tool="email_send",
        effect="external",
        status="pending",
        arguments=arguments,
        preview={
            "summary": "Send “Reminder: invoice INV-1” to robert.stone@accounts-payable.example.com",
            "kind": "email",
            "detail": detail,
            "text": body,
        },
        notice=(
            "billing@umbrella-corporation.example appears only in content from outside (an email "
            "or a web page): nobody vouched for it."
        ),
        created_at=datetime.now(UTC),
    )


def workbook_action(count: int = 30) -> ActionInfo:
    """A workbook write of ``count`` cells (column E, from row 2), some with long values."""
    from app.api import ActionInfo

    cells = [
        {
            "cell": f"E{row}",
            "old": "open" if row % 3 else "awaiting confirmation from the customer's accounts department",
            "new": "overdue" if row % 2 else "paid in full on 2026-09-01, reference PAY-2026-09-01-000123",
        }
        for row in range(2, 2 + count)
    ]
    return ActionInfo(
        id="a-sheet",
        mission_id="m1",
        agent="spreadsheet",
        tool="sheet_write",
        effect="local",
        status="pending",
        arguments={
            "path": "invoices.xlsx",
            "sheet": "Invoices",
            "range": f"E2:E{1 + count}",
            "values": [[c["new"]] for c in cells],
        },
        preview={
            "summary": f"Write {count} cells in invoices.xlsx, sheet Invoices (E2:E{1 + count})",
            "kind": "cells",
            "detail": {
                "path": "/home/ada/Documents/Accounting/2026/customer-invoices-and-reminders.xlsx",
                "sheet": "Invoices",
                "range": f"E2:E{1 + count}",
                "cells": cells,
                "notes": ['Cell E7 holds a formula (=IF(D7>0,"open","paid")) that will be replaced.'],
            },
            "text": "",
        },
        created_at=datetime.now(UTC),
    )


def browser_action() -> ActionInfo:
    """A form post on a site, with a long address and a screenshot wider than the pane."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtGui import QColor, QImage

    from app.api import ActionInfo

    image = QImage(1280, 800, QImage.Format.Format_RGB32)
    image.fill(QColor("#dde4f0"))
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    import base64

    shot = base64.b64encode(bytes(data.data())).decode()
    url = (
        "http://127.0.0.1:8765/portal/customers/acme-industrial-supplies/contact-requests/new?source=reminder"
    )
    fields = [["name", "Ada Lovelace"], ["message", "Please confirm the payment date of invoice INV-1."]]
    return ActionInfo(
        id="a-browser",
        mission_id="m1",
        agent="browser",
        tool="browser_request",
        effect="external",
        status="pending",
        arguments={
            "method": "POST",
            "url": url,
            "fields": fields,
            "body": "",
            "page_url": url,
            "element": "",
        },
        preview={
            "summary": f"Send POST {url}",
            "kind": "http_request",
            "detail": {
                "method": "POST",
                "url": url,
                "fields": fields,
                "body": "",
                "page_url": url,
                "element": "button 'Send the request to the customer's accounts department'",
                "screenshot_png_base64": shot,
            },
            "text": "POST",
        },
        created_at=datetime.now(UTC),
    )


# What counts as clipped --------------------------------------------------------------------------


def layout_problems(root: Any, where: str) -> list[str]:
    """Every visible control under ``root`` that is cut off, elided or out of sight sideways.

    Args:
        root: A widget inside a scroll area (an approval card).
        where: Names the situation in the messages (size, scale, card).
    """
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractScrollArea,
        QComboBox,
        QLabel,
        QScrollArea,
        QTableWidget,
        QWidget,
    )

    scroll = root.parentWidget()
    while scroll is not None and not isinstance(scroll, QScrollArea):
        scroll = scroll.parentWidget()
    assert scroll is not None, f"{where}: {root.objectName()} is in no scroll area"
    viewport = scroll.viewport()
    problems: list[str] = []
    kinds = (QAbstractButton, QLabel, QLineEdit, QAbstractScrollArea, QComboBox)
    widgets = [root, *root.findChildren(QWidget)]
    for widget in widgets:
        if not isinstance(widget, (*kinds, type(root))) or not widget.isVisibleTo(scroll):
            continue
        if any(isinstance(a, QAbstractScrollArea) and a is not widget for a in _ancestors(widget, root)):
            continue  # inside a table or a text box: that one scrolls its own content
        name = f"{where}: {type(widget).__name__} {widget.objectName() or widget.accessibleName()!r}"
        left = widget.mapTo(viewport, QPoint(0, 0)).x()
        if left < 0 or left + widget.width() > viewport.width():
            problems.append(f"{name} spans x {left}..{left + widget.width()}, viewport {viewport.width()}")
        if isinstance(widget, QAbstractButton) and widget.sizeHint().width() > widget.width():
            problems.append(f"{name} is {widget.width()} wide, its text needs {widget.sizeHint().width()}")
        if widget is root and widget.minimumSizeHint().width() > viewport.width():
            problems.append(f"{name} needs {widget.minimumSizeHint().width()}, viewport {viewport.width()}")
        if isinstance(widget, QLabel) and widget.text():
            if widget.wordWrap():
                if widget.heightForWidth(widget.width()) > widget.height():
                    problems.append(f"{name} is too short for its wrapped text")
                if widget.minimumSizeHint().width() > widget.width():
                    problems.append(f"{name} is narrower than its longest word")
            elif widget.sizeHint().width() > widget.width():
                problems.append(
                    f"{name} is {widget.width()} wide, its text needs {widget.sizeHint().width()}"
                )
        if isinstance(widget, QTableWidget) and widget.objectName() in ("cellsPreview", "cellsEditor"):
            header = widget.horizontalHeader()
            if header.length() > widget.viewport().width() or header.sectionSize(2) < 40:
                problems.append(f"{name}: its After column is not in sight")
    return problems


def _ancestors(widget: Any, root: Any) -> list[Any]:
    found = []
    parent = widget.parentWidget()
    while parent is not None and parent is not root:
        found.append(parent)
        parent = parent.parentWidget()
    return found


# The script each scale factor runs ------------------------------------------------------------


def _render(out: Path, scale: str) -> int:  # pragma: no cover - runs in a subprocess
    from PySide6.QtWidgets import QApplication

    from ui.app import create_application
    from ui.bridge import Bridge
    from ui.main_window import MainWindow

    app = create_application()
    workspace = Path(tempfile.mkdtemp(prefix="ensemble-layout-"))
    window = MainWindow(Bridge(), workspaces=[workspace], check_key=False)
    # The cards are added by hand: no engine (and no model) is needed to draw them.
    window._engine_requested = True
    problems: list[str] = []
    for action in (email_action(), workbook_action(), browser_action()):
        window.approval_pane.add(action)
    for width, height in SIZES:
        window.resize(width, height)
        window.show()
        for _ in range(3):
            app.processEvents()
        where = f"{width}x{height}@{scale}x"
        problems += _check_cards(window, app, where)
        window.approval_pane._scroll.verticalScrollBar().setValue(0)
        app.processEvents()
        if not window.grab().save(str(out / f"cards-{where}.png")):
            problems.append(f"{where}: could not save the screenshot")
        # Every card from top to bottom, as the pane would show them scrolled.
        cards = window.approval_pane._scroll.widget()
        if not cards.grab().save(str(out / f"cards-{where}-all-cards.png")):
            problems.append(f"{where}: could not save the cards")
        # The edit forms: the workbook's cells and the email's fields.
        for card in window.approval_pane.cards:
            if card.tool in ("sheet_write", "email_send"):
                card.on_edit_clicked()
                for _ in range(3):
                    app.processEvents()
                problems += _check_cards(window, app, f"{where} editing {card.tool}")
                window.approval_pane._scroll.ensureWidgetVisible(card)
                app.processEvents()
                if card.tool == "sheet_write":
                    editor = card.editor.cell_editor() if card.editor else None
                    if editor is not None:
                        window.approval_pane._scroll.ensureWidgetVisible(editor)
                        app.processEvents()
                    if not window.grab().save(str(out / f"cards-{where}-editing-workbook.png")):
                        problems.append(f"{where}: could not save the editing screenshot")
                card.on_edit_clicked()
                app.processEvents()
    print(json.dumps(problems))  # noqa: T201 - the test reads the problems from standard output
    window.shut_down()
    QApplication.processEvents()
    return 0


def _check_cards(window: MainWindow, app: Any, where: str) -> list[str]:  # pragma: no cover
    problems: list[str] = []
    scroll = window.approval_pane._scroll
    for card in window.approval_pane.cards:
        scroll.ensureWidgetVisible(card)
        app.processEvents()
        problems += layout_problems(card, f"{where} {card.tool}")
    return problems


# The tests --------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("scale", SCALES)
def test_cards_fit_their_pane_at_every_size_and_scale(scale: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    names = [f"cards-{w}x{h}@{scale}x.png" for w, h in SIZES]
    for name in names:
        (ARTIFACTS / name).unlink(missing_ok=True)
    env = dict(
        os.environ,
        QT_SCALE_FACTOR=scale,
        QT_QPA_PLATFORM=f"offscreen:configfile={_SCREEN}",
        QT_ENABLE_HIGHDPI_SCALING="1",
    )
    result = subprocess.run(
        [sys.executable, __file__, str(ARTIFACTS), scale],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    problems = json.loads(result.stdout.strip().splitlines()[-1])
    assert problems == [], "\n".join(problems)
    for name in names:
        shot = ARTIFACTS / name
        assert shot.is_file(), name
        assert shot.stat().st_size > 5_000, name


def test_the_audit_buttons_keep_their_text_in_a_narrow_pane(qtbot: QtBot) -> None:
    from PySide6.QtWidgets import QApplication

    from ui.audit import AuditView

    view = AuditView()
    qtbot.addWidget(view)
    view.resize(230, 500)  # the tab's smallest width in the window
    view.show()
    qtbot.waitExposed(view)
    QApplication.processEvents()
    for button in (view.undo_button, view.export_json_button, view.export_csv_button):
        assert button.sizeHint().width() <= button.width(), button.text()
        right = button.mapTo(view, button.rect().topRight()).x()
        assert right < view.width(), button.text()
    # Narrow: the three buttons take two lines instead of cutting their words.
    tops = {b.mapTo(view, b.rect().topLeft()).y() for b in (view.undo_button, view.export_csv_button)}
    assert len(tops) == 2


# Plain language ---------------------------------------------------------------------------------


def test_a_card_says_what_the_action_does_not_its_tool_id(qtbot: QtBot) -> None:
    from PySide6.QtWidgets import QLabel

    from app.api import ActionProposed, typed
    from ui.approval import ApprovalCard

    expected = {
        "email_send": "Send an email",
        "sheet_write": "Change a workbook",
        "browser_request": "Submit a form on a site",
    }
    for action in (email_action(), workbook_action(), browser_action()):
        assert action.title == expected[action.tool]
        card = ApprovalCard(action, mission_title="Reminders")
        qtbot.addWidget(card)
        card.show()
        heading = card.findChild(QLabel, "cardTitle")
        assert heading is not None
        assert heading.text() == expected[action.tool]
        shown = " ".join(label.text() for label in card.findChildren(QLabel) if label.isVisible())
        assert action.tool not in shown
        assert action.tool not in card.approve_all_button.toolTip()

    # The contract carries the title; an event journaled before titles existed gets one too.
    event = typed(
        "action_proposed",
        "m1",
        {"action_id": "a1", "agent": "email", "tool": "email_draft", "effect": "local"},
    )
    assert isinstance(event, ActionProposed)
    assert event.title == "Save an email draft"
    assert typed("action_proposed", "m1", {"action_id": "a2", "tool": "calendar_book"}).title == (
        "Calendar book"
    )


def test_the_email_edit_form_shows_what_a_person_knows(qtbot: QtBot) -> None:
    from ui.approval import ApprovalCard

    action = email_action()
    card = ApprovalCard(action, mission_title="Reminders")
    qtbot.addWidget(card)
    card.show()
    card.on_edit_clicked()
    editor = card.editor
    assert editor is not None
    for fixed in ("message_id", "date", "in_reply_to"):
        assert editor.findChild(QWidget, f"field_{fixed}") is None, fixed
    from ui.previews import ChipsEditor

    # No field holds a JSON list: recipients are chips, one per address.
    for box in editor.findChildren(QPlainTextEdit):
        if box.isVisibleTo(editor):
            assert not box.toPlainText().lstrip().startswith("["), box.objectName()
    for line in editor.findChildren(QLineEdit):
        assert not line.text().startswith("["), line.objectName()
    to = editor.findChild(ChipsEditor, "field_to")
    assert to is not None
    assert [chip.text for chip in to.chips] == [
        "Robert Stone <robert.stone@accounts-payable.example.com>",
        "billing@umbrella-corporation.example",
    ]
    assert to.isVisibleTo(editor)
    subject = editor.findChild(QLineEdit, "field_subject")
    body = editor.findChild(QPlainTextEdit, "field_body")
    assert subject is not None
    assert body is not None
    assert editor.arguments() == action.arguments

    to.set_values([])
    to.input.setText('"Stone, Robert" <robert.stone@example.com>; ada@example.org,')
    subject.setText("Reminder: INV-1")
    edited = editor.arguments()
    assert edited["to"] == ['"Stone, Robert" <robert.stone@example.com>', "ada@example.org"]
    assert edited["subject"] == "Reminder: INV-1"
    # What Ensemble fixed when it was proposed stays exactly as proposed.
    for fixed in ("message_id", "date", "in_reply_to"):
        assert edited[fixed] == action.arguments[fixed]
    with qtbot.waitSignal(card.edited, timeout=WAIT) as signal:
        card.on_approve_clicked()
    assert signal.args == ["a-email", edited]

    # A person never edits JSON: there is no raw editor, nor a button for one.
    assert editor.findChild(QPlainTextEdit, "rawArgumentsEditor") is None
    assert not [b for b in card.findChildren(QPushButton) if "JSON" in b.text()]


# Rules as sentences -------------------------------------------------------------------------------


def test_a_rule_is_written_and_read_as_a_sentence(qtbot: QtBot) -> None:
    from PySide6.QtWidgets import QComboBox, QLabel

    from ui.rules_dialog import RulesDialog

    dialog = RulesDialog(mission_id=None)
    qtbot.addWidget(dialog)
    dialog.show()
    tool = dialog.findChild(QComboBox, "ruleToolCombo")
    field = dialog.findChild(QComboBox, "ruleFieldCombo")
    match = dialog.findChild(QComboBox, "ruleMatchCombo")
    value = dialog.findChild(QLineEdit, "ruleConditionInput")
    said = dialog.findChild(QLabel, "ruleSentence")
    assert tool is not None
    assert field is not None
    assert match is not None
    assert value is not None
    assert said is not None
    titles = [tool.itemText(i) for i in range(tool.count())]
    assert "sending an email" in titles
    assert "submitting a form on a site" in titles
    assert not [t for t in titles if "_" in t]  # no tool ids

    tool.setCurrentIndex(tool.findText("sending an email"))
    fields = [field.itemText(i) for i in range(field.count())]
    assert "the recipients" in fields
    assert not [f for f in fields if "message" in f and "id" in f]
    field.setCurrentIndex(field.findData("to"))
    match.setCurrentIndex(match.findData("anyone_at"))
    qtbot.keyClicks(value, "example.com")  # type: ignore[no-untyped-call]
    assert said.text() == "Always allow sending an email when the recipients are anyone at example.com"

    with qtbot.waitSignal(dialog.add_requested, timeout=WAIT) as added:
        dialog.add_button.click()
    # Stored as the command line would store it.
    assert added.args == ["approve_all", "email_send", {"to": "*@example.com"}, None]
    assert dialog.new_rule_sentence == said.text()


@pytest.fixture
def window(qtbot: QtBot, scripted: ScriptedModel, workspace: Path) -> Any:
    from ui.app import create_application
    from ui.bridge import Bridge
    from ui.main_window import MainWindow

    create_application()
    win = MainWindow(Bridge(), workspaces=[workspace], check_key=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.bridge.engine is not None and win._engine_ready, timeout=START)
    yield win
    win.close()


def engine_result(qtbot: QtBot, window: MainWindow, fn: Any) -> Any:
    results: list[Any] = []
    window.bridge.call(fn, results.append, what="test")
    qtbot.waitUntil(lambda: results != [], timeout=WAIT)
    return results[0]


def test_a_rule_added_in_the_window_keeps_its_sentence_and_its_stored_form(
    qtbot: QtBot, window: MainWindow
) -> None:
    from PySide6.QtWidgets import QComboBox, QTableWidget

    with qtbot.waitSignal(window.rules_opened, timeout=WAIT) as opened:
        window.dialogs.open_rules()
    dialog = opened.args[0]
    tool = dialog.findChild(QComboBox, "ruleToolCombo")
    field = dialog.findChild(QComboBox, "ruleFieldCombo")
    match = dialog.findChild(QComboBox, "ruleMatchCombo")
    kind = dialog.findChild(QComboBox, "ruleKindCombo")
    kind.setCurrentIndex(kind.findData("reject_all"))
    tool.setCurrentIndex(tool.findData("browser_request"))
    field.setCurrentIndex(field.findData("url"))
    match.setCurrentIndex(match.findData("contains"))
    qtbot.keyClicks(dialog.condition_input, "bank.example.com")  # type: ignore[no-untyped-call]
    dialog.add_button.click()
    table = dialog.findChild(QTableWidget, "rulesTable")
    qtbot.waitUntil(lambda: table.rowCount() == 1, timeout=WAIT)
    sentence = "Never allow submitting a form on a site when the address contains bank.example.com"
    assert table.item(0, 0).text() == sentence
    [rule] = engine_result(qtbot, window, lambda e: e.journal.all_rules())
    assert (rule.kind, rule.tool, rule.mission_id) == ("reject_all", "browser_request", None)
    assert json.loads(rule.conditions_json) == {"url": "*bank.example.com*"}
    assert rule.description == sentence
    dialog.close()


# The audit -------------------------------------------------------------------------------------


def test_undo_of_a_changed_file_offers_undo_anyway_and_a_later_success_clears_the_banner(
    qtbot: QtBot, window: MainWindow, scripted: ScriptedModel, workspace: Path
) -> None:
    import openpyxl

    from app.testing.scripted_model import text, tool_call

    book = workspace / "invoices.xlsx"
    before = openpyxl.load_workbook(book)["Invoices"]["E2"].value
    scripted.add(
        "Mark INV-1",
        tool_call(
            "delegate",
            {"tasks": [{"id": "m", "agent": "spreadsheet", "instructions": "MARK-TASK", "depends_on": []}]},
        ),
        text("Done."),
    )
    scripted.add(
        "MARK-TASK",
        tool_call(
            "sheet_write",
            {"path": "invoices.xlsx", "sheet": "Invoices", "range": "E2", "values": [["overdue"]]},
        ),
        text("Marked."),
    )
    window.chat_input.setPlainText("Mark INV-1 as overdue")
    window.send_button.click()
    qtbot.waitUntil(lambda: len(window.approval_pane.cards) == 1, timeout=WAIT)
    window.approval_pane.cards[0].approve_button.click()
    audit = window.audit_view
    window.tabs.setCurrentWidget(audit)
    qtbot.waitUntil(lambda: "mission_finished" in [e.kind for e in audit.events], timeout=WAIT)

    # The readable card of the carried-out write, and its raw JSON on demand.
    assert audit.select_event(lambda e: e.kind == "action_executed")
    card = audit.detail_card
    assert card.fields["Who"] == "The spreadsheet agent"
    assert card.fields["What"] == "Change a workbook"
    assert card.fields["Decision"] == "Approved by you"
    assert card.fields["Result"].startswith("Carried out")
    assert audit.detail_scroll.isVisible()
    audit.raw_toggle.click()
    assert audit.detail.isVisible()
    assert json.loads(audit.detail.toPlainText())["kind"] == "action_executed"
    audit.raw_toggle.click()
    assert audit.detail_scroll.isVisible()

    # Someone changes the workbook after Ensemble wrote it.
    changed = openpyxl.load_workbook(book)
    changed["Invoices"]["A9"] = "a note typed by hand"
    changed.save(book)
    window.show_error("Could not do something earlier.")  # a problem from before, still shown

    with qtbot.waitSignal(audit.undo_finished, timeout=WAIT) as refused:
        audit.undo_button.click()
    assert refused.args[1] is False
    assert audit.undo_offered
    assert audit.undo_anyway_box.isVisible()
    warning = audit.undo_anyway_label.text()
    assert "invoices.xlsx" in warning
    assert "will be lost" in warning
    assert "--force" not in audit.status.text() + warning
    assert openpyxl.load_workbook(book)["Invoices"]["A9"].value == "a note typed by hand"
    ARTIFACTS.mkdir(exist_ok=True)
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.width() == 1024, timeout=WAIT)
    assert window.grab().save(str(ARTIFACTS / "audit-undo-anyway-1024x700.png"))

    with qtbot.waitSignal(audit.undo_finished, timeout=WAIT) as done:
        audit.undo_anyway_button.click()
    assert done.args[1] is True
    restored = openpyxl.load_workbook(book)["Invoices"]
    assert restored["E2"].value == before
    assert restored["A9"].value is None  # the later change is gone, as the warning said
    assert "Restored" in audit.status.text()
    assert not audit.undo_anyway_box.isVisible()
    assert not window.error_banner.isVisible()
    qtbot.waitUntil(lambda: "action_undone" in [e.kind for e in audit.events], timeout=WAIT)
    assert not audit.undo_button.isEnabled()


# The other screens at every size and scale ------------------------------------------------------
#
# The audit (with a long summary and the card of the selected event), the Rules dialog (with a
# rule and its form, a condition chosen and "always"), every page of the Settings and the
# Workflows pane, drawn like the cards above: in a process per scale factor, at 1024x700 and
# 1600x1000, with a screenshot of each into ``test-artifacts/`` (``screens-1024x700@2x-audit.png``…).


def audit_events() -> list[Any]:
    """A mission's audit: a workbook write proposed, approved and carried out, a read, and an
    email with a long subject rejected with a reason."""
    from app.api import typed

    email = email_action()
    sheet = workbook_action(3)
    rows: list[tuple[str, dict[str, Any], str]] = [
        ("mission_started", {"text": "Send reminders for every overdue invoice"}, "Mission started"),
        (
            "task_started",
            {"agent": "spreadsheet"},
            "The spreadsheet agent started: find the overdue invoices",
        ),
        (
            "tool_called",
            {"tool": "sheet_read", "tool_call_id": "c1", "arguments": {"path": "invoices.xlsx"}},
            "Read invoices.xlsx, sheet Invoices, every row of the table of customer invoices",
        ),
        (
            "action_proposed",
            {
                "action_id": sheet.id,
                "agent": "spreadsheet",
                "tool": sheet.tool,
                "effect": "local",
                "arguments": sheet.arguments,
                "preview": sheet.preview.model_dump(mode="json"),
            },
            f"Proposed: {sheet.preview.summary}",
        ),
        (
            "action_decided",
            {"action_id": sheet.id, "decision": "approve", "decided_by": "person"},
            "Approved",
        ),
        ("action_executed", {"action_id": sheet.id, "undoable": True}, f"Done: {sheet.preview.summary}"),
        (
            "action_proposed",
            {
                "action_id": email.id,
                "agent": "email",
                "tool": email.tool,
                "effect": "external",
                "arguments": email.arguments,
                "preview": email.preview.model_dump(mode="json"),
                "warning": email.notice,
            },
            f"Proposed: {email.preview.summary}",
        ),
        (
            "action_decided",
            {
                "action_id": email.id,
                "decision": "reject",
                "decided_by": "person",
                "reason": "Robert already paid on Friday; check last week's bank statement first.",
            },
            "Rejected",
        ),
        ("mission_finished", {"status": "done", "result": "Marked 3 invoices."}, "Mission ended: done"),
    ]
    return [
        typed(kind, "m1", data, summary=summary, audit_id=index)
        for index, (kind, data, summary) in enumerate(rows, start=1)
    ]


def workflow_infos() -> tuple[list[Any], list[Any]]:
    """Two workflows (one weekly, one with a long description and parameters) and a run."""
    from app.api import Schedule, WorkflowInfo, WorkflowParam, WorkflowRunInfo, WorkflowSpec

    now = datetime.now(UTC)
    chase = WorkflowSpec(
        name="Chase overdue invoices",
        description="Every Monday and Thursday, remind each customer whose invoice is past due, politely.",
        instruction="Mark every invoice in invoices.xlsx past due on {date} as overdue and remind them.",
        params=[WorkflowParam(name="date", type="date", description="The day the invoices are due by")],
        workspaces=["/home/ada/Documents/Accounting/2026/customer-invoices-and-reminders"],
        schedule=Schedule(kind="weekly", days=["mon", "thu"], at="09:00"),
    )
    run = WorkflowRunInfo(
        id="r1",
        workflow=chase.name,
        version=2,
        mission_id="m1",
        reason="manual",
        params={"date": "2026-11-01"},
        status="done",
        started_at=now,
        finished_at=now,
        changes=3,
        tokens=12_345,
        cost=0.04,
    )
    filing = WorkflowSpec(
        name="File incoming supplier invoices from the accounts payable mailbox",
        description="When a supplier emails an invoice, add it to the book and file the PDF.",
        instruction="Add the invoice in {email} to invoices.xlsx and file its PDF.",
        params=[WorkflowParam(name="email", type="email", description="The email that arrived")],
    )
    infos = [
        WorkflowInfo(
            id="w1",
            name=chase.name,
            version=2,
            description=chase.description,
            spec=chase,
            schedule="Every Monday and Thursday at 09:00",
            last_run=run,
            runs=1,
            created_at=now,
            updated_at=now,
        ),
        WorkflowInfo(
            id="w2",
            name=filing.name,
            version=1,
            description=filing.description,
            spec=filing,
            created_at=now,
            updated_at=now,
        ),
    ]
    return infos, [run]


def screen_problems(root: Any, where: str) -> list[str]:
    """Every visible control under ``root`` (a pane or a dialog) that is cut off.

    A control inside a scroll area must be inside its viewport sideways (the area scrolls up
    and down only); any other must be inside ``root``, both ways. A button must be as wide as
    its text, a label as wide (and a wrapped one as tall) as its text, and no list, table or
    scroll area may show a sideways scroll bar. Tables, lists and text boxes scroll their own
    content, so what is inside them is not looked at.

    Args:
        root: The pane or dialog.
        where: Names the situation in the messages (size, scale, screen).
    """
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractScrollArea,
        QAbstractSpinBox,
        QComboBox,
        QLabel,
        QScrollArea,
        QTabBar,
    )

    problems: list[str] = []
    kinds = (QAbstractButton, QLabel, QLineEdit, QComboBox, QAbstractSpinBox, QAbstractScrollArea)
    for widget in [root, *root.findChildren(QWidget)]:
        if not isinstance(widget, kinds) or not widget.isVisible():
            continue
        chain = _ancestors(widget, root)
        if any(isinstance(a, (QComboBox, QAbstractSpinBox, QTabBar)) for a in chain):
            continue  # a box's own line edit or list, a tab bar's arrows
        if any(isinstance(a, QAbstractScrollArea) and not isinstance(a, QScrollArea) for a in chain):
            continue  # inside a table, a list or a text box: they scroll their own content
        name = f"{where}: {type(widget).__name__} {widget.objectName() or widget.accessibleName()!r}"
        scroll = next((a for a in chain if isinstance(a, QScrollArea)), None)
        clip = scroll.viewport() if scroll is not None else root
        corner = widget.mapTo(clip, QPoint(0, 0))
        if widget is not root and (corner.x() < 0 or corner.x() + widget.width() > clip.width() + 1):
            problems.append(
                f"{name} spans x {corner.x()}..{corner.x() + widget.width()}, room {clip.width()}"
            )
        if widget is not root and scroll is None and corner.y() + widget.height() > clip.height() + 1:
            problems.append(f"{name} ends at y {corner.y() + widget.height()}, room {clip.height()}")
        if isinstance(widget, QAbstractButton) and widget.sizeHint().width() > widget.width():
            problems.append(f"{name} is {widget.width()} wide, its text needs {widget.sizeHint().width()}")
        if isinstance(widget, QAbstractScrollArea) and widget.horizontalScrollBar().isVisible():
            problems.append(f"{name} scrolls sideways")
        if isinstance(widget, QLabel) and widget.text():
            if widget.wordWrap():
                if widget.heightForWidth(widget.width()) > widget.height() + 1:
                    problems.append(f"{name} is too short for its wrapped text")
            elif widget.sizeHint().width() > widget.width():
                problems.append(
                    f"{name} is {widget.width()} wide, its text needs {widget.sizeHint().width()}"
                )
    return problems


def _render_screens(out: Path, scale: str) -> int:  # pragma: no cover - runs in a subprocess
    from PySide6.QtWidgets import QApplication, QComboBox

    from app.api import RuleInfo
    from ui.app import create_application
    from ui.bridge import Bridge
    from ui.main_window import MainWindow

    app = create_application()
    workspace = Path(tempfile.mkdtemp(prefix="ensemble-layout-"))
    window = MainWindow(Bridge(), workspaces=[workspace], check_key=False)
    window._engine_requested = True  # no engine: every screen is filled by hand
    problems: list[str] = []

    def settle() -> None:
        for _ in range(4):
            app.processEvents()

    def shot(widget: Any, name: str) -> None:
        if not widget.grab().save(str(out / f"screens-{name}.png")):
            problems.append(f"{name}: could not save the screenshot")

    def fit(dialog: Any, width: int, height: int) -> None:
        """A dialog as it opens on a screen of this size (at most that, less a margin)."""
        dialog.resize(min(dialog.width(), width - 40), min(dialog.height(), height - 60))
        settle()
        if dialog.width() > width - 40 or dialog.height() > height - 60:
            problems.append(f"{where}: {dialog.objectName()} is {dialog.width()}x{dialog.height()}")

    infos, runs = workflow_infos()
    audit = window.audit_view
    audit.apply(audit_events())
    window.tabs.setCurrentWidget(audit)
    rules = [
        RuleInfo(
            id="r1",
            kind="approve_all",
            tool="email_send",
            where={"to": "*@accounts-payable.example.com"},
            description="Always allow sending an email when the recipients are anyone at "
            "accounts-payable.example.com",
        ),
        RuleInfo(
            id="r2",
            kind="reject_all",
            tool="browser_request",
            mission_id="m1",
            description="Never allow submitting a form on a site when the address contains bank.example.com",
        ),
    ]
    for width, height in SIZES:
        where = f"{width}x{height}@{scale}x"
        window.show_missions()
        window.resize(width, height)
        window.show()
        settle()

        # The audit, its table and the card of a carried-out write, then of a long email.
        for kind in ("action_executed", "action_decided"):
            audit.select_event(lambda e, kind=kind: e.kind == kind)
            settle()
            problems += screen_problems(audit, f"{where} audit ({kind})")
            header = audit.table.horizontalHeader()
            if header.length() > audit.table.viewport().width():
                problems.append(f"{where} audit: its columns need {header.length()}")
        shot(window, f"{where}-audit")

        # The Rules dialog: the form with a condition, then with "always".
        rules_dialog = window.dialogs.open_rules()
        rules_dialog.set_rules(rules)
        fit(rules_dialog, width, height)
        tool = rules_dialog.findChild(QComboBox, "ruleToolCombo")
        tool.setCurrentIndex(tool.findData("email_send"))
        field = rules_dialog.field_combo
        field.setCurrentIndex(field.findData("to"))
        settle()
        problems += screen_problems(rules_dialog, f"{where} rules")
        shot(rules_dialog, f"{where}-rules")
        field.setCurrentIndex(field.findData(None))
        settle()
        problems += screen_problems(rules_dialog, f"{where} rules (always)")
        rules_dialog.close()

        # Every page of the Settings (the Accounts page with a server and with a folder).
        settings = window.dialogs.open_settings(first_run=False, key=None)
        assert settings is not None
        fit(settings, width, height)
        for index in range(settings.tabs.count()):
            settings.tabs.setCurrentIndex(index)
            settle()
            page = settings.tabs.tabText(index).lower()
            problems += screen_problems(settings, f"{where} settings {page}")
            shot(settings, f"{where}-settings-{page}")
            if settings.tabs.widget(index).widget() is settings.accounts_page:
                settings.accounts_page.choose_provider("A folder on this computer (Maildir or mbox)")
                settle()
                problems += screen_problems(settings, f"{where} settings {page} (local mail)")
                settings.accounts_page.choose_provider("Gmail")
        settings.reject()

        # The Workflows pane with two workflows and a run.
        window.show_workflows()
        window.workflows.on_loaded(infos)
        window.workflows.pane.show_history(runs)
        settle()
        problems += screen_problems(window.workflows.pane, f"{where} workflows")
        shot(window, f"{where}-workflows")
    print(json.dumps(problems))  # noqa: T201 - the test reads the problems from standard output
    window.shut_down()
    QApplication.processEvents()
    return 0


@pytest.mark.slow
@pytest.mark.parametrize("scale", SCALES)
def test_the_audit_rules_settings_and_workflows_fit_at_every_size_and_scale(scale: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    names = [f"screens-{w}x{h}@{scale}x-{s}.png" for w, h in SIZES for s in ("audit", "rules", "workflows")]
    for name in names:
        (ARTIFACTS / name).unlink(missing_ok=True)
    env = dict(
        os.environ,
        QT_SCALE_FACTOR=scale,
        QT_QPA_PLATFORM=f"offscreen:configfile={_SCREEN}",
        QT_ENABLE_HIGHDPI_SCALING="1",
    )
    result = subprocess.run(
        [sys.executable, __file__, str(ARTIFACTS), scale, "screens"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    problems = json.loads(result.stdout.strip().splitlines()[-1])
    assert problems == [], "\n".join(problems)
    for name in names:
        shot = ARTIFACTS / name
        assert shot.is_file(), name
        assert shot.stat().st_size > 5_000, name


def test_the_audit_table_fits_its_pane_without_a_sideways_scroll_bar(qtbot: QtBot) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from ui.audit import AuditView

    view = AuditView()
    qtbot.addWidget(view)
    view.apply(audit_events())
    view.show()
    qtbot.waitExposed(view)
    for width in (230, 260, 400, 900):
        view.resize(width, 600)
        QApplication.processEvents()
        table = view.table
        assert table.horizontalHeader().length() <= table.viewport().width(), width
        assert not table.horizontalScrollBar().isVisible(), width
        summary = table.columnWidth(2)
        assert summary >= table.viewport().width() // 3, width  # the long column keeps room
        # The kind of event gives way to the summary when the pane is narrow.
        assert table.isColumnHidden(1) == (width < 300), width
    # The long summary is cut with "…" in its cell and whole in its tooltip.
    long = next(e for e in view.events if e.kind == "tool_called")
    row = [e.audit_id for e in view.events].index(long.audit_id)
    assert view.proxy.index(row, 2).data(Qt.ItemDataRole.ToolTipRole) == long.summary
    assert table.textElideMode() == Qt.TextElideMode.ElideRight
    # The card of a tool call names it in words, not by its id.
    assert view.select_event(lambda e: e.kind == "tool_called")
    assert view.detail_card.fields["What"] == "Sheet read"


if __name__ == "__main__" and sys.argv[3:] == ["screens"]:  # pragma: no cover
    sys.exit(_render_screens(Path(sys.argv[1]), sys.argv[2]))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_render(Path(sys.argv[1]), sys.argv[2]))
