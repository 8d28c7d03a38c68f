"""Interrupted missions shown as paused, Resume only where it can work, the keyboard focus after
each decision, and notifications through the desktop's service (or the tray without one).

The window runs offscreen with the real engine and the scripted model, as in tests/test_ui.py.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from PySide6.QtCore import Qt

from app.testing.scripted_model import ScriptedModel, error, text, tool_call
from ui.app import create_application
from ui.bridge import Bridge
from ui.main_window import MainWindow
from ui.notify import SIGNATURE, DesktopNotifier, notify_arguments
from ui.plan import COL_STATUS, COL_TASK, COL_TIME, TASK_STATUS, PlanView

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from pytestqt.qtbot import QtBot

WAIT = 15_000


def delegate(*tasks: dict[str, Any]) -> Any:
    return tool_call("delegate", {"tasks": list(tasks)})


def task(id_: str, instructions: str) -> dict[str, Any]:
    return {"id": id_, "agent": "spreadsheet", "instructions": instructions, "depends_on": []}


def write(range_: str, values: list[list[Any]]) -> Any:
    return tool_call(
        "sheet_write", {"path": "invoices.xlsx", "sheet": "Invoices", "range": range_, "values": values}
    )


def open_window(qtbot: QtBot, workspaces: list[Path]) -> MainWindow:
    from app.settings import Settings

    create_application()
    win = MainWindow(Bridge(settings=Settings(api_max_retries=0)), workspaces=workspaces, check_key=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win._engine_ready and win.workspaces() != [], timeout=2 * WAIT)
    return win


@pytest.fixture
def window(qtbot: QtBot, scripted: ScriptedModel, workspace: Path) -> Iterator[MainWindow]:
    win = open_window(qtbot, [workspace])
    yield win
    win.close()


def send(qtbot: QtBot, window: MainWindow, message: str) -> str:
    """Types a new mission and sends it; returns its id once it is shown."""
    window.chat_input.setFocus()
    qtbot.keyClicks(window.chat_input, message)  # type: ignore[no-untyped-call]
    qtbot.waitUntil(window.send_button.isEnabled, timeout=WAIT)  # once the key is known
    qtbot.mouseClick(window.send_button, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]
    qtbot.waitUntil(lambda: window.view.mission_id is not None, timeout=WAIT)
    mission_id = window.view.mission_id
    assert mission_id is not None
    return mission_id


def wait_status(qtbot: QtBot, window: MainWindow, mission_id: str, status: str) -> None:
    def reached() -> None:
        row = window.mission_info(mission_id)
        assert row is not None
        assert row.status == status

    qtbot.waitUntil(reached, timeout=WAIT)


def status_of(plan: PlanView, instructions: str) -> str:
    """The status shown for the task whose instructions begin with ``instructions``."""
    for item in plan.task_items():
        if item.text(COL_TASK).startswith(instructions):
            return item.text(COL_STATUS)
    return ""


# Interrupted missions ----------------------------------------------------------------------------


def test_a_plan_whose_mission_was_cut_off_shows_its_tasks_paused_and_stops_its_timer(qtbot: QtBot) -> None:
    from app import api

    plan = PlanView()
    qtbot.addWidget(plan)
    start = datetime.now(UTC) - timedelta(minutes=2)
    plan.apply(
        [
            api.MissionStarted(mission_id="m", at=start, text="Mark the invoices"),
            api.TaskStarted(mission_id="m", task_id="t1", at=start, key="t1", agent="spreadsheet"),
            api.TaskStarted(mission_id="m", task_id="t2", at=start, key="t2", agent="spreadsheet"),
            api.TaskFinished(mission_id="m", task_id="t2", at=start + timedelta(seconds=5), status="done"),
        ]
    )
    assert plan.task_status("t1") == TASK_STATUS["running"]
    assert plan.ticking()

    # The process that ran it died: no event says so, the journal's status does.
    plan.mark_paused()
    assert plan.task_status("t1") == TASK_STATUS["paused"]
    assert plan.task_status("__lead__") == TASK_STATUS["paused"]
    assert plan.task_status("t2") == TASK_STATUS["done"]
    assert not plan.ticking()
    item = plan.task_item("t1")
    assert item is not None
    frozen = item.text(COL_TIME)
    plan.on_tick()  # a tick that came anyway changes nothing
    assert item.text(COL_TIME) == frozen
    assert not plan.ticking()

    # Resumed: the lead runs again, the paused task waits for it, and the times count again.
    plan.apply([api.MissionResumed(mission_id="m", at=datetime.now(UTC))])
    assert plan.task_status("t1") == TASK_STATUS["pending"]
    assert plan.ticking()
    plan.apply(
        [
            api.TaskStarted(
                mission_id="m",
                task_id="t1",
                at=datetime.now(UTC),
                key="t1",
                agent="spreadsheet",
                resumed=True,
            )
        ]
    )
    assert plan.task_status("t1") == TASK_STATUS["running"]


def test_a_paused_mission_shows_paused_tasks_and_resume_is_disabled_once_its_folder_is_gone(
    qtbot: QtBot, scripted: ScriptedModel, tmp_path: Path
) -> None:
    folder = tmp_path / "papers"
    folder.mkdir()
    scripted.add("Sort the papers", delegate(task("sort", "SORT-TASK: sort them")), text("Sorted."))
    scripted.add("SORT-TASK", error(529, "overloaded_error", "Overloaded"))
    win = open_window(qtbot, [folder])
    mission_id = send(qtbot, win, "Sort the papers")
    wait_status(qtbot, win, mission_id, "interrupted")
    plan = win.plan_view
    qtbot.waitUntil(lambda: status_of(plan, "SORT-TASK") == TASK_STATUS["paused"], timeout=WAIT)
    assert plan.task_status("__lead__") == TASK_STATUS["paused"]
    assert not plan.ticking()
    qtbot.waitUntil(win.resume_button.isVisible, timeout=WAIT)
    assert win.resume_button.isEnabled()
    assert not win.view.resume_note.isVisible()

    # The folder it works in is deleted: shown again, Resume says why it cannot work.
    shutil.rmtree(folder)
    win.view.show(mission_id)
    qtbot.waitUntil(lambda: not win.resume_button.isEnabled(), timeout=WAIT)
    assert win.resume_button.isVisible()
    note = win.view.resume_note
    qtbot.waitUntil(note.isVisible, timeout=WAIT)
    assert "no longer exists" in note.text()
    assert str(folder) in note.text()
    assert "It cannot resume" in win.resume_button.toolTip()
    qtbot.waitUntil(lambda: status_of(plan, "SORT-TASK") == TASK_STATUS["paused"], timeout=WAIT)
    assert not plan.ticking()
    win.close()


# The keyboard focus after a decision -------------------------------------------------------------


def test_focus_moves_to_the_next_card_then_to_the_composer(
    qtbot: QtBot, window: MainWindow, scripted: ScriptedModel
) -> None:
    scripted.add(
        "Mark two invoices",
        delegate(task("one", "ONE-TASK: mark E2"), task("two", "TWO-TASK: mark E3")),
        text("Both marked."),
    )
    scripted.add("ONE-TASK", write("E2", [["overdue"]]), text("Wrote E2."))
    scripted.add("TWO-TASK", write("E3", [["overdue"]]), text("Wrote E3."))
    window.activateWindow()
    mission_id = send(qtbot, window, "Mark two invoices")
    pane = window.approval_pane
    qtbot.waitUntil(lambda: len(pane.cards) == 2 and all(c.isVisible() for c in pane.cards), timeout=WAIT)
    first, second = pane.cards

    first.approve_button.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.keyClick(first.approve_button, Qt.Key.Key_Space)  # type: ignore[no-untyped-call]
    qtbot.waitUntil(lambda: pane.card(first.action_id) is None, timeout=WAIT)
    qtbot.waitUntil(lambda: window.focusWidget() is second.approve_button, timeout=WAIT)
    if window.isActiveWindow():  # the ring follows the focus (only an active window has it)
        assert second.property("focusWithin") is True

    qtbot.keyClick(second.approve_button, Qt.Key.Key_Space)  # type: ignore[no-untyped-call]
    qtbot.waitUntil(lambda: not pane.cards, timeout=WAIT)
    qtbot.waitUntil(lambda: window.focusWidget() is window.chat_input, timeout=WAIT)
    wait_status(qtbot, window, mission_id, "done")


def test_the_style_sheet_rings_the_focus_in_two_pixels() -> None:
    from ui.widgets import style_sheet

    sheet = style_sheet(False)
    for selector in (
        "QPushButton:focus",
        "QLineEdit:focus",
        "#missionList:focus",
        '#approvalCard[focusWithin="true"]',
    ):
        rule = sheet[sheet.index(selector) :].split("}", 1)[0]
        assert "2px solid" in rule, selector
    assert "QAbstractItemView { outline: 0; }" in sheet  # no faint dotted box


# Notifications -----------------------------------------------------------------------------------


def test_the_notify_call_is_built_in_the_types_the_desktop_expects() -> None:
    arguments = notify_arguments("Mission done: Mark <all>", "Marked 3 & sent", replaces_id=7)
    assert SIGNATURE == "susssasa{sv}i"
    app_name, replaces, icon, summary, body, actions, hints, timeout = arguments
    assert (app_name, replaces, icon) == ("Ensemble", 7, "ensemble")
    assert summary == "Mission done: Mark <all>"
    assert body == "Marked 3 &amp; sent"  # the body reads markup: escaped
    assert actions == ["default", "Show"]
    assert hints["urgency"] == ("y", 1)
    assert isinstance(timeout, int)
    assert notify_arguments("t", "b", replaces_id=-3)[1] == 0


def test_without_a_notification_service_the_tray_says_it_and_it_is_recorded(
    qtbot: QtBot, window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    assert not DesktopNotifier(check=False).send("x", "y")
    assert not window.tray.desktop.available  # offscreen tests have no session bus
    balloons: list[tuple[str, str]] = []
    monkeypatch.setattr(window.tray, "_balloon", lambda title, body: balloons.append((title, body)))
    monkeypatch.setattr(window, "in_background", lambda: True)
    with qtbot.waitSignal(window.notified, timeout=WAIT):
        window.notify("An agent needs your approval", "Write E2", mission_id="m1")
    assert window.notifications == ["An agent needs your approval: Write E2"]
    assert balloons == [("An agent needs your approval", "Write E2")]
    assert window.tray.last_notified == "m1"


def test_a_mission_that_finishes_or_fails_while_the_window_is_not_active_is_notified(
    qtbot: QtBot, window: MainWindow, scripted: ScriptedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted.add("Say hello", text("Hello."))
    scripted.add("Break it", error(400, "invalid_request_error", "Bad request"))
    monkeypatch.setattr(window, "in_background", lambda: True)
    with qtbot.waitSignal(
        window.notified, timeout=WAIT, check_params_cb=lambda n: n.startswith("Mission done")
    ) as note:
        done = send(qtbot, window, "Say hello")
    assert note.args[0] == "Mission done: Say hello"
    assert window.tray.last_notified == done

    window.view.show(None)
    with qtbot.waitSignal(
        window.notified, timeout=WAIT, check_params_cb=lambda n: n.startswith("Mission failed")
    ) as note:
        failed = send(qtbot, window, "Break it")
    assert note.args[0] == "Mission failed: Break it"
    assert window.tray.last_notified == failed
