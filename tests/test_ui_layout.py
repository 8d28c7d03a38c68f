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
    # No field holds a JSON list: recipients are one line of addresses.
    for box in editor.findChildren(QPlainTextEdit):
        if box.isVisibleTo(editor):
            assert not box.toPlainText().lstrip().startswith("["), box.objectName()
    for line in editor.findChildren(QLineEdit):
        assert not line.text().startswith("["), line.objectName()
    to = editor.findChild(QLineEdit, "field_to")
    assert to is not None
    assert (
        to.text()
        == "Robert Stone <robert.stone@accounts-payable.example.com>, billing@umbrella-corporation.example"
    )
    assert to.isVisibleTo(editor)
    subject = editor.findChild(QLineEdit, "field_subject")
    body = editor.findChild(QPlainTextEdit, "field_body")
    assert subject is not None
    assert body is not None
    assert editor.arguments() == action.arguments

    to.setText('"Stone, Robert" <robert.stone@example.com>; ada@example.org,')
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

    # The raw JSON is still there for everything else, Message-ID included.
    card2 = ApprovalCard(action, mission_title="Reminders")
    qtbot.addWidget(card2)
    card2.on_edit_clicked()
    assert card2.editor is not None
    toggle = card2.editor.findChild(QPushButton, "rawJsonToggle")
    assert toggle is not None
    toggle.click()
    raw = card2.editor.findChild(QPlainTextEdit, "rawArgumentsEditor")
    assert raw is not None
    assert json.loads(raw.toPlainText())["message_id"] == action.arguments["message_id"]


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_render(Path(sys.argv[1]), sys.argv[2]))
