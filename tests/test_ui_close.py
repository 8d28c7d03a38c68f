"""Closing the window never loses a mission: the close button keeps Ensemble working (in the
tray, or it asks first), and quitting pauses the running missions, which the next start
resumes with their cards as they were. Offscreen, against the real engine on its own thread
and the scripted model over HTTP; the close button is the window manager's (a spontaneous
close event), and the question is answered by clicking its buttons."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton, QSystemTrayIcon
from test_ui import WAIT, button, cell, click, delegate, open_window, send, task, wait_card, write

from app.engine import RESUMES_ON_START
from app.journal import Journal
from app.paths import Paths
from app.testing.scripted_model import ScriptedModel, error, text
from ui.app import create_application
from ui.bridge import Bridge
from ui.main_window import BACKGROUND_TITLE, CLOSE_QUESTION, QUIT_QUESTION, MainWindow
from ui.widgets import app_icon

if TYPE_CHECKING:
    from pathlib import Path

    from pytestqt.qtbot import QtBot


def ready(qtbot: QtBot, window: MainWindow) -> MainWindow:
    qtbot.waitUntil(lambda: window._engine_ready and window.workspaces() != [], timeout=WAIT)
    return window


def press_close_button(window: MainWindow) -> None:
    """What the title bar's close button does: the window manager's (spontaneous) close event."""
    handle = window.windowHandle()
    assert handle is not None
    QApplication.sendEvent(handle, QCloseEvent())


def answer_with(window: MainWindow, button_name: str) -> list[str]:
    """Answers the quit question, when it comes, by clicking a button; returns the questions."""
    asked: list[str] = []

    def on_asked(box: QMessageBox) -> None:
        asked.append(box.text())
        choice = box.findChild(QPushButton, button_name)
        assert choice is not None, button_name
        QTimer.singleShot(0, choice.click)  # once the box is up and waiting

    window.quit_asked.connect(on_asked)
    return asked


def journal() -> Journal:
    return Journal(Paths.default().journal)


def script_one_write(scripted: ScriptedModel) -> None:
    scripted.add(
        "Mark INV-1", delegate(task("mark", "MARK-TASK: set E2 to overdue")), text("INV-1 is **marked**.")
    )
    scripted.add("MARK-TASK", write("E2", [["overdue"]]), text("Wrote E2."))


def test_closing_with_a_card_waiting_pauses_the_mission_and_reopening_brings_the_same_card_back(
    qtbot: QtBot, scripted: ScriptedModel, workspace: Path
) -> None:
    script_one_write(scripted)
    book = workspace / "invoices.xlsx"
    first = ready(qtbot, open_window(qtbot, [workspace]))
    send(qtbot, first, "Mark INV-1 as overdue")
    card = wait_card(qtbot, first)
    action_id, mission_id = card.action_id, card.mission_id
    assert [m.id for m in first.busy_missions()] == [mission_id]

    # No system tray offscreen: the close button asks, and "Pause and quit" quits.
    asked = answer_with(first, "pauseAndQuitButton")
    with qtbot.waitSignal(first.closed, timeout=WAIT):
        press_close_button(first)
    assert asked == [CLOSE_QUESTION]
    assert not first.isVisible()
    assert not first.bridge._thread.is_alive()

    # Paused, not cancelled: the card is still pending, nothing was rejected or stopped.
    store = journal()
    try:
        mission = store.mission(mission_id)
        assert mission is not None
        assert mission.status == "interrupted"
        assert (mission.error or "").endswith(RESUMES_ON_START)
        assert "Ensemble was closed" in (mission.error or "")
        [action] = store.actions(mission_id)
        assert (action.id, action.status, action.decision) == (action_id, "pending", None)
        assert [t.status for t in store.tasks(mission_id)] == ["running"]
    finally:
        store.close()
    assert cell(book, "E2") == "open"

    # The next start resumes it by itself: the same card, with the same action id.
    second = open_window(qtbot, [workspace])
    with qtbot.waitSignal(second.paused_resumed, timeout=WAIT) as resumed:
        pass
    assert resumed.args == [[mission_id]]
    again = wait_card(qtbot, second)
    assert (again.action_id, again.mission_id) == (action_id, mission_id)
    assert again.arguments["range"] == "E2"
    assert second._shown == mission_id
    info = second.mission_info(mission_id)
    assert info is not None
    assert info.status == "running"
    assert not second.resume_button.isVisible()

    click(qtbot, button(again, "approveButton"))
    qtbot.waitUntil(lambda: second.mission_info(mission_id).status == "done", timeout=WAIT)  # type: ignore[union-attr]
    assert cell(book, "E2") == "overdue"
    qtbot.waitUntil(lambda: any("INV-1 is **marked**." in m for m in second.chat_view.messages), timeout=WAIT)
    engine = second.bridge.engine
    assert engine is not None
    [action] = engine.journal.actions(mission_id)
    assert (action.id, action.status) == (action_id, "executed")
    kinds = [e.kind for e in engine.journal.events(mission_id)]
    assert "action_decided" in kinds
    assert kinds.count("mission_resumed") == 1
    second.close()


def test_closing_with_nothing_running_quits_without_asking(
    qtbot: QtBot, scripted: ScriptedModel, workspace: Path
) -> None:
    scripted.add("Say hello", text("Hello."))
    win = ready(qtbot, open_window(qtbot, [workspace]))
    send(qtbot, win, "Say hello")
    qtbot.waitUntil(lambda: any(m.status == "done" for m in win._missions.values()), timeout=WAIT)
    assert win.busy_missions() == []
    asked = answer_with(win, "cancelQuitButton")

    with qtbot.waitSignal(win.closed, timeout=WAIT):
        press_close_button(win)

    assert asked == []
    assert not win.isVisible()
    assert not win.bridge._thread.is_alive()


def test_cancel_keeps_the_window_open_and_the_mission_waiting(
    qtbot: QtBot, scripted: ScriptedModel, workspace: Path
) -> None:
    script_one_write(scripted)
    win = ready(qtbot, open_window(qtbot, [workspace]))
    send(qtbot, win, "Mark INV-1 as overdue")
    card = wait_card(qtbot, win)
    asked = answer_with(win, "cancelQuitButton")
    closed: list[bool] = []
    win.closed.connect(lambda: closed.append(True))

    press_close_button(win)

    assert asked == [CLOSE_QUESTION]
    assert closed == []
    assert win.isVisible()
    assert win.bridge._thread.is_alive()
    assert win.approval_pane.cards == [card]
    click(qtbot, button(card, "approveButton"))
    qtbot.waitUntil(lambda: win.mission_info(card.mission_id).status == "done", timeout=WAIT)  # type: ignore[union-attr]
    assert cell(workspace / "invoices.xlsx", "E2") == "overdue"
    win.close()


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # offscreen: no window manager
def test_with_a_tray_the_close_button_hides_to_it_and_its_quit_asks_then_pauses(
    qtbot: QtBot, scripted: ScriptedModel, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script_one_write(scripted)
    win = ready(qtbot, open_window(qtbot, [workspace]))
    # Offscreen has no system tray: give the window an icon as if it had one.
    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    monkeypatch.setattr(win, "_tray", QSystemTrayIcon(app_icon(), win))
    send(qtbot, win, "Mark INV-1 as overdue")
    card = wait_card(qtbot, win)
    mission_id = card.mission_id
    asked = answer_with(win, "pauseAndQuitButton")

    with qtbot.waitSignal(win.hidden_to_tray, timeout=WAIT):
        press_close_button(win)
    assert not win.isVisible()
    assert win.bridge._thread.is_alive()
    assert asked == []
    assert [n for n in win.notifications if n.startswith(BACKGROUND_TITLE)] != []
    entries = [a for a in win.tray_menu.actions() if not a.isSeparator()]
    texts = [a.text() for a in entries]
    assert texts[0].startswith("Mark INV-1 as overdue")
    assert texts[0].endswith("1 waiting for you")
    assert texts[1:] == ["Show Ensemble", "Quit"]

    # The mission's entry opens the window on it.
    win.on_new_mission_clicked()
    entries[0].trigger()
    assert win.isVisible()
    assert win._shown == mission_id
    # Closing again hides again; the tray message was said once.
    with qtbot.waitSignal(win.hidden_to_tray, timeout=WAIT):
        press_close_button(win)
    assert len([n for n in win.notifications if n.startswith(BACKGROUND_TITLE)]) == 1

    # Quit asks, then pauses the mission (its card stays pending) and closes for good.
    quit_action = next(a for a in win.tray_menu.actions() if a.text() == "Quit")
    with qtbot.waitSignal(win.closed, timeout=WAIT):
        quit_action.trigger()
    assert asked == [QUIT_QUESTION]
    assert not win.bridge._thread.is_alive()
    store = journal()
    try:
        mission = store.mission(mission_id)
        assert mission is not None
        assert mission.status == "interrupted"
        assert [a.status for a in store.actions(mission_id)] == ["pending"]
    finally:
        store.close()


def test_a_mission_a_fault_interrupted_is_not_resumed_by_itself(
    qtbot: QtBot, scripted: ScriptedModel, workspace: Path
) -> None:
    from app.settings import Settings

    scripted.add("Summarise the invoices", error(529, "overloaded_error", "x"))
    create_application()
    first = MainWindow(Bridge(settings=Settings(api_max_retries=0)), workspaces=[workspace], check_key=False)
    qtbot.addWidget(first)
    first.show()
    ready(qtbot, first)
    send(qtbot, first, "Summarise the invoices")
    qtbot.waitUntil(lambda: any(m.status == "interrupted" for m in first._missions.values()), timeout=WAIT)
    [mission_id] = list(first._missions)
    with qtbot.waitSignal(first.closed, timeout=WAIT):
        press_close_button(first)  # nothing runs: no question

    second = open_window(qtbot, [workspace])
    with qtbot.waitSignal(second.paused_resumed, timeout=WAIT) as resumed:
        pass
    assert resumed.args == [[]]
    info = second.mission_info(mission_id)
    assert info is not None
    assert info.status == "interrupted"
    second.show_mission(mission_id)
    assert second.resume_button.isVisible()
    second.close()


def test_a_window_closed_before_its_engine_started_leaves_no_loop_open(qtbot: QtBot) -> None:
    """A window shut down before it asked for its engine (its thread never started) closes the
    engine's loop too: left open, its two sockets were reported by a later, unrelated test."""
    create_application()
    bridge = Bridge()
    assert not bridge.loop.is_closed()
    bridge.shutdown()
    assert bridge.loop.is_closed()
