"""What a newcomer's walk through the window at 1024x700 found cut off (issue 17):

- the audit's "Undo anyway" box, shown in a short pane, had its words cut at their top and
  bottom: the pane squeezed every part below its height instead of scrolling;
- the plan's line of what an agent writes now ran past the pane's right edge the first time
  it was shown (its text was cut to the width of a label never laid out yet).
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QApplication

from app import api
from ui.audit import AuditView
from ui.plan import PlanView

if TYPE_CHECKING:
    from pathlib import Path

    from pytestqt.qtbot import QtBot


def test_the_undo_anyway_box_keeps_its_words_whole_in_a_short_pane(qtbot: QtBot) -> None:
    view = AuditView()
    qtbot.addWidget(view)
    view.resize(230, 400)  # the audit tab at 1024x700 (or at a larger scale): narrow and short
    view.show()
    qtbot.waitExposed(view)
    least = view.minimumSizeHint().height()
    view._offer_undo_anyway("a1")  # what an undo the engine refused because the file changed shows
    QApplication.processEvents()
    QApplication.processEvents()
    # The box takes the room there is: it never makes the pane (so the window) taller.
    assert view.height() == 400
    assert view.minimumSizeHint().height() <= max(least, 400)
    label = view.undo_anyway_label
    assert label.isVisible()
    assert "will be lost" in label.text()
    need = label.heightForWidth(label.width())
    assert label.height() >= need, f"the warning is cut: {label.height()} px of the {need} it needs"
    for button in (view.undo_anyway_button, view.keep_button):
        assert button.height() >= button.minimumSizeHint().height(), button.text()
    # Short of room, the box scrolls (never sideways), and its "Undo anyway" is in sight.
    scroll = view.undo_anyway_scroll
    viewport = scroll.viewport()
    button = view.undo_anyway_button

    def in_sight() -> None:
        top = button.mapTo(viewport, button.rect().topLeft()).y()
        assert top >= 0
        assert top + button.height() <= viewport.height()

    qtbot.waitUntil(in_sight)
    assert not scroll.horizontalScrollBar().isVisible()
    assert view.undo_anyway_box.isVisible()


def test_the_line_of_what_an_agent_writes_fits_the_plan_the_first_time_it_shows(qtbot: QtBot) -> None:
    plan = PlanView()
    qtbot.addWidget(plan)
    plan.resize(210, 400)  # the plan's pane at 1024x700
    plan.show()
    qtbot.waitExposed(plan)
    at = datetime.now(UTC)
    plan.apply(
        [
            api.typed("mission_started", "m1", {"text": "Mark and remind"}, at=at),
            api.typed(
                "task_started",
                "m1",
                {"key": "mail", "agent": "email", "instructions": "Draft a reminder"},
                task_id="t1",
                at=at,
            ),
            api.typed(
                "text_delta", "m1", {"text": "Drafted the reminder to Acme about INV-1."}, task_id="t1", at=at
            ),
        ]
    )
    plan.on_activity_due()
    QApplication.processEvents()
    label = plan.activity
    assert label.isVisible()
    text = label.text()
    assert text.startswith("Email agent is writing"), text
    margins = label.contentsMargins()
    room = label.width() - margins.left() - margins.right()
    assert label.fontMetrics().horizontalAdvance(text) <= room, (text, room)
    # Within the plan's pane, not a label that pushed it wider than it is.
    assert label.mapTo(plan, QPoint(label.width(), 0)).x() <= plan.width()
    assert plan.width() == 210, "the line made the plan wider than its pane"
    assert "…" in text, "its start is cut with …"
    assert text.endswith("1."), "the end of what it writes shows"
    assert "Drafted the reminder to Acme about INV-1." in label.toolTip()

    # Wider, more of it shows (from the next text streamed on).
    plan.resize(600, 400)
    QApplication.processEvents()
    plan.on_activity_due()
    assert label.text().endswith("Drafted the reminder to Acme about INV-1.")


def test_a_tool_result_in_the_audit_card_is_in_words_and_its_json_only_under_show_raw(
    qtbot: QtBot,
) -> None:
    at = datetime.now(UTC)
    read = {"tool": "sheet_read", "tool_call_id": "c1", "agent": "spreadsheet"}
    write = {"tool": "sheet_write", "tool_call_id": "c2", "agent": "spreadsheet"}
    outside = (
        '<external_content source="workbook invoices.xlsx">\n'
        '{"sheet": "Invoices", "range": "A1:E3", "rows": [["Invoice", "Status"], ["INV-1", "open"]]}\n'
        "</external_content>"
    )
    edited = (
        "The person edited the arguments before approving; what ran was "
        '{"path":"invoices.xlsx","sheet":"Invoices","range":"E2","values":[["overdue"]],"in_reply_to":null}. '
        'Result: {"path": "/home/ada/invoices.xlsx", "range": "E2:E2", "cells_written": 1}'
    )
    rows = [
        ("mission_started", "Mission started: Mark INV-1", None, {"text": "Mark INV-1"}),
        ("tool_result", "Read a workbook: done", "t1", {**read, "result": outside, "is_error": False}),
        ("tool_result", "Change a workbook: done", "t1", {**write, "result": edited, "is_error": False}),
        (
            "tool_result",
            "Change a workbook: done",
            "t1",
            {**write, "result": "Plain words.", "is_error": False},
        ),
    ]
    events = [
        api.typed(kind, "m1", data, task_id=task, summary=summary, audit_id=n, at=at)
        for n, (kind, summary, task, data) in enumerate(rows, start=1)
    ]
    view = AuditView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    view.apply(events)
    results = []
    for event in events[1:]:
        assert view.select_event(lambda e, ev=event: e is ev)
        results.append(view.detail_card.fields["Result"])
        view.raw_toggle.click()  # the raw JSON keeps every byte
        assert isinstance(event, api.ToolResultEvent)
        assert event.result in json.loads(view.detail.toPlainText())["data"].values()
        view.raw_toggle.click()
    for shown in results:
        for code in ('{"', '":', "external_content", "cells_written", "in_reply_to", "null", "_"):
            assert code not in shown, (code, shown)
    assert results[0] == "Sheet: Invoices\nRange: A1:E3\nRows: 2 rows"
    assert results[1].splitlines()[0] == "Carried out as you changed it before approving."
    assert "Cells written: 1" in results[1]
    assert results[2] == "Plain words."
    # The heading does not say the kind twice.
    assert view.select_event(lambda e: e.kind == "mission_started")
    assert not view.detail_card.heading.text().startswith("Mission started: Mission started")


def test_without_a_password_store_the_assistant_itself_says_the_key_was_not_kept(
    qtbot: QtBot, workspace: Path
) -> None:
    import keyring
    import keyring.backends.fail

    from ui.app import create_application
    from ui.bridge import Bridge
    from ui.main_window import MainWindow

    keyring.set_keyring(keyring.backends.fail.Keyring())  # the conftest fixture puts its own back
    create_application()
    window = MainWindow(Bridge(), workspaces=[workspace], check_key=True)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.welcome_dialog is not None, timeout=60_000)
    dialog = window.welcome_dialog
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible, timeout=15_000)
    dialog.next_button.click()
    qtbot.keyClicks(dialog.key_input, "sk-ant-no-store-4321")  # type: ignore[no-untyped-call]
    dialog.next_button.click()
    assert dialog.current() == 2
    qtbot.waitUntil(dialog.key_problem.isVisible, timeout=15_000)
    said = dialog.key_problem.text()
    assert "password store" in said, said
    assert "until Ensemble closes" in said, said
    for jargon in ("pypi", "http", "keyrings.alt", "backend", "package"):
        assert jargon not in said, said
    assert dialog.key_note.text().startswith("Not stored:")
    assert "4321" in dialog.key_note.text()
    window.close()


def test_the_lead_s_message_in_the_audit_has_no_markdown_stars(
    qtbot: QtBot,
) -> None:
    at = datetime.now(UTC)
    events = [
        api.typed(
            "chat_message",
            "m1",
            {"text": "INV-1 is **marked**."},
            summary="INV-1 is **marked**.",
            audit_id=1,
            at=at,
        ),
        api.typed(
            "tool_called",
            "m1",
            {"tool_call_id": "c1", "tool": "delegate", "title": "Hand out tasks", "arguments": {"tasks": []}},
            summary="Lead: Hand out tasks",
            audit_id=2,
            at=at,
        ),
    ]
    view = AuditView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    view.apply(events)
    assert view.select_event(lambda e: e.kind == "chat_message")
    assert view.detail_card.heading.text() == "Message: INV-1 is marked."
