"""The batch card (offscreen): twelve similar cards of one mission as one card with twelve
previews; approve all, edit one, reject some with reasons, reject all; ordered by consequence."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

# Alone, this file needs a platform; after tests/test_ui.py it keeps the one set there.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication, QLineEdit

from app.api import ActionInfo
from ui.approval import ApprovalCard, ApprovalPane
from ui.batch_card import BatchCard, batch_of

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot


def draft(n: int, mission: str = "m1", tool: str = "email_draft", effect: str = "local") -> ActionInfo:
    subject = f"Reminder {n:02d}"
    return ActionInfo(
        id=f"a{mission}{tool}{n}",
        mission_id=mission,
        agent="email",
        tool=tool,
        title="Save an email draft" if tool == "email_draft" else "",
        effect=effect,
        status="pending",
        arguments={"to": ["bob@example.test"], "subject": subject, "body": f"{subject}: please pay."},
        preview={
            "summary": f'Save draft "{subject}"',
            "kind": "email",
            "detail": {"to": ["bob@example.test"], "subject": subject, "body": f"{subject}: please pay."},
            "text": f"Subject: {subject}",
        },
        created_at=datetime.now(UTC),
    )


def pane_with(qtbot: QtBot, actions: list[ActionInfo]) -> ApprovalPane:
    pane = ApprovalPane(lambda _m: "Reminders")
    qtbot.addWidget(pane)
    pane.resize(480, 900)
    pane.show()
    for action in actions:
        pane.add(action)
    return pane


def listed(pane: ApprovalPane) -> list[Any]:
    """What the pane lists, top to bottom: batch cards and lone cards."""
    QApplication.processEvents()  # a card added to a shown list is shown by a queued call
    layout = pane._list
    widgets = [layout.itemAt(i).widget() for i in range(layout.count())]
    return [w for w in widgets if isinstance(w, (BatchCard, ApprovalCard)) and not w.isHidden()]


def test_twelve_drafts_are_one_card_with_twelve_previews(qtbot: QtBot) -> None:
    pane = pane_with(qtbot, [draft(n) for n in range(1, 13)])
    (batch,) = listed(pane)
    assert isinstance(batch, BatchCard)
    assert len(batch.members) == 12
    assert all(card.preview_view.isVisible() for card in batch.members)
    assert [c.arguments["subject"] for c in batch.members] == [f"Reminder {n:02d}" for n in range(1, 13)]
    assert batch.summary_label.text().startswith('Save an email draft (12): Save draft "Reminder 01"')
    assert batch.summary_label.text().endswith("and 9 more")
    assert batch.approve_all_button.text() == "Approve all 12"
    assert batch.accessibleName().startswith("Batch of 12 proposed actions")
    assert len(pane.cards) == 12  # each action keeps its own card (and its own buttons)


def test_approve_all_with_one_edited_and_two_rejected_is_one_decision(qtbot: QtBot) -> None:
    pane = pane_with(qtbot, [draft(n) for n in range(1, 13)])
    (batch,) = listed(pane)
    members = batch.members
    # Edit one: its card's own edit form.
    members[3].on_edit_clicked()
    assert members[3].editor is not None
    subject = members[3].editor.findChild(QLineEdit, "field_subject")
    assert subject is not None
    subject.setText("Reminder 04 (edited)")
    # Reject some, with reasons.
    for index, reason in ((1, "Bob paid this one"), (8, "duplicate")):
        members[index].on_reject_clicked()
        members[index].reason_input.setText(reason)

    with qtbot.waitSignal(batch.decided, timeout=2000) as decided:
        qtbot.mouseClick(batch.approve_all_button, qtbot_left())
    items = decided.args[0]
    assert len(items) == 12
    kinds = [(kind, reason) for _id, kind, _args, reason in items]
    assert kinds[1] == ("reject", "Bob paid this one")
    assert kinds[8] == ("reject", "duplicate")
    assert kinds[3][0] == "edit"
    assert items[3][2]["subject"] == "Reminder 04 (edited)"
    assert {k for i, (k, _r) in enumerate(kinds) if i not in (1, 3, 8)} == {"approve"}
    assert [i[0] for i in items] == [m.action_id for m in members]  # in the turn's order
    assert not batch.approve_all_button.isEnabled()  # busy until the engine answers
    batch.show_error("The engine said no.")
    assert batch.approve_all_button.isEnabled()
    assert batch.error_label.text() == "The engine said no."


def test_reject_all_with_a_reason(qtbot: QtBot) -> None:
    pane = pane_with(qtbot, [draft(n) for n in range(1, 4)])
    (batch,) = listed(pane)
    batch.on_reject_all_clicked()
    batch.reason_input.setText("not this week")
    with qtbot.waitSignal(batch.decided, timeout=2000) as decided:
        batch.on_confirm_reject_all_clicked()
    assert [(k, r) for _i, k, _a, r in decided.args[0]] == [("reject", "not this week")] * 3


def test_decided_cards_leave_the_batch_and_the_last_one_stands_alone(qtbot: QtBot) -> None:
    actions = [draft(n) for n in range(1, 4)]
    pane = pane_with(qtbot, actions)
    (batch,) = listed(pane)
    pane.remove(actions[0].id)
    assert len(batch.members) == 2
    assert batch.approve_all_button.text() == "Approve all 2"
    pane.remove(actions[1].id)
    (alone,) = listed(pane)
    assert isinstance(alone, ApprovalCard)
    assert alone.action_id == actions[2].id
    assert batch_of(alone) is None
    pane.remove(actions[2].id)
    assert listed(pane) == []


def test_cards_are_ordered_by_consequence_and_batched_per_mission_and_tool(qtbot: QtBot) -> None:
    local = [draft(n) for n in (1, 2)]
    other_mission = draft(3, mission="m2")
    sends = [draft(n, tool="email_send", effect="external") for n in (4, 5)]
    pane = pane_with(qtbot, [*local, other_mission, *sends])
    shown = listed(pane)
    # What reaches outside (cannot be taken back) first; one mission's drafts are one batch,
    # another mission's draft is a card of its own.
    assert [type(w).__name__ for w in shown] == ["BatchCard", "BatchCard", "ApprovalCard"]
    assert shown[0].key == ("m1", "email_send")
    assert shown[1].key == ("m1", "email_draft")
    assert shown[2].mission_id == "m2"


def qtbot_left() -> Any:
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


def test_a_suggested_rule_is_a_bar_that_adds_nothing_without_a_yes(qtbot: QtBot) -> None:
    from ui.batch_card import RuleSuggestionBar

    said_yes: list[bool] = []
    bar = RuleSuggestionBar("You approved 5 times: Write cells (invoices.xlsx). Always allow it?")
    qtbot.addWidget(bar)
    bar.accepted.connect(lambda: said_yes.append(True))
    bar.show()
    bar.dismiss_button.click()
    assert said_yes == []
    assert not bar.isVisible()

    again = RuleSuggestionBar("Always allow?")
    qtbot.addWidget(again)
    again.accepted.connect(lambda: said_yes.append(True))
    again.show()
    again.allow_button.click()
    assert said_yes == [True]
    assert not again.isVisible()


def test_in_the_window_a_turn_of_twelve_writes_is_one_batch_decided_once(
    qtbot: QtBot, scripted: Any, workspace: Any
) -> None:
    """The real window and engine: twelve writes in one turn arrive as one batch card; one
    edited, two rejected with reasons, Approve all: exactly the approved values are written."""
    import openpyxl
    from test_ui import WAIT, delegate, engine_result, open_window, send, task, wait_status, write

    from app.testing.scripted_model import text, tool_calls

    rows = list(range(2, 14))
    scripted.add("Note twelve checks", delegate(task("notes", "NOTES-TASK: twelve notes")), text("Done."))
    writes = [write(f"F{r}", [[f"checked {r}"]]).content[0] for r in rows]
    scripted.add(
        "NOTES-TASK",
        tool_calls(*((w["name"], w["input"]) for w in writes)),
        text("Wrote the approved notes."),
    )
    window = open_window(qtbot, [workspace])
    try:
        qtbot.waitUntil(lambda: window.workspaces() != [] and window._engine_ready, timeout=WAIT)
        send(qtbot, window, "Note twelve checks")
        qtbot.waitUntil(lambda: len(window.approval_pane.cards) == 12, timeout=WAIT)
        (batch,) = listed(window.approval_pane)
        assert isinstance(batch, BatchCard)
        members = batch.members
        members[0].on_edit_clicked()
        assert members[0].editor is not None
        table = members[0].editor.cell_editor()
        assert table is not None
        after = table.item(0, 2)
        assert after is not None
        after.setText("edited")
        for index in (5, 6):
            members[index].on_reject_clicked()
            members[index].reason_input.setText("not this row")
        qtbot.mouseClick(batch.approve_all_button, qtbot_left())
        mission_id = wait_status(qtbot, window, "done")
        qtbot.waitUntil(lambda: window.approval_pane.cards == [], timeout=WAIT)
        summary = engine_result(qtbot, window, lambda e: e.decision_summary(mission_id))
        assert (summary.asked, summary.batches, summary.by_person) == (1, 1, 12)
    finally:
        window.close()
    sheet = openpyxl.load_workbook(workspace / "invoices.xlsx")["Invoices"]
    written = [sheet[f"F{r}"].value for r in rows]
    assert written == ["edited"] + [f"checked {r}" for r in rows[1:5]] + [None, None] + [
        f"checked {r}" for r in rows[7:]
    ]
