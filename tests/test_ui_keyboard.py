"""The window for a person who uses the keyboard or a screen reader, and what it looks like.

- Every control that can take the keyboard focus on the main screens (the window with a card
  waiting, the audit, Settings on each page, the rules, the Workflows pane and its Run and
  Schedule forms) has a name a screen reader can say.
- Tab walks the window in reading order (top bar, missions, composer, cards), and the
  shortcuts do what their tooltips say, with the focus landing where the person works next.
- Screenshots of each main screen at 1024x700, drawn by the real X11 platform plugin under
  Xvfb, are saved into ``test-artifacts/screens-*.png`` for a person to look at.

The window runs with the real engine and the scripted model, as in tests/test_ui.py.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

# Before any QApplication exists: offscreen (unless the screenshots' run chose X11), on a
# screen as big as a desktop's.
_SCREEN = Path(tempfile.gettempdir()) / "ensemble-test-keyboard-screen.json"
_SCREEN.write_text(
    json.dumps(
        {"screens": [{"name": "test", "x": 0, "y": 0, "width": 1920, "height": 1200, "logicalDpi": 96}]}
    ),
    encoding="utf-8",
)
os.environ.setdefault("QT_QPA_PLATFORM", f"offscreen:configfile={_SCREEN}")

import subprocess  # noqa: E402
import sys  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

import pytest  # noqa: E402
from _xvfb import xvfb  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLabel,
    QTabBar,
    QWidget,
)
from test_ui import WAIT, delegate, send, task, wait_card, write  # noqa: E402
from test_ui_workflows import invoices_workflow, on_engine, wait_listed  # noqa: E402

from app.testing.scripted_model import ScriptedModel, text  # noqa: E402
from ui.app import create_application  # noqa: E402
from ui.bridge import Bridge  # noqa: E402
from ui.main_window import MainWindow  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pytestqt.qtbot import QtBot

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def open_window(qtbot: QtBot, workspace: Path) -> MainWindow:
    create_application()
    window = MainWindow(Bridge(), workspaces=[workspace], check_key=False)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window._engine_ready and window.workspaces() != [], timeout=4 * WAIT)
    return window


@pytest.fixture
def window(qtbot: QtBot, scripted: ScriptedModel, workspace: Path) -> Iterator[MainWindow]:
    win = open_window(qtbot, workspace)
    yield win
    win.close()


def script_two_writes(scripted: ScriptedModel) -> None:
    """A mission whose two tasks each propose a workbook write: two cards."""
    scripted.add(
        "Mark two invoices",
        delegate(task("one", "ONE-TASK: mark E2"), task("two", "TWO-TASK: mark E3")),
        text("Both marked."),
    )
    scripted.add("ONE-TASK", write("E2", [["overdue"]]), text("Wrote E2."))
    scripted.add("TWO-TASK", write("E3", [["overdue"]]), text("Wrote E3."))


# Accessible names -----------------------------------------------------------------------------------


def _buddied(widget: QWidget) -> bool:
    """Whether a label names ``widget`` (``QLabel.setBuddy``, as QFormLayout's rows do)."""
    window = widget.window()
    return any(label.buddy() is widget and label.text().strip() for label in window.findChildren(QLabel))


def _named(widget: QWidget) -> bool:
    name = widget.accessibleName().strip()
    if name:
        return name != widget.objectName()  # an object name ("cellsPreview") is no name for a person
    if isinstance(widget, QAbstractButton) and widget.text().replace("&", "").strip():
        return True  # Qt names a button by its text
    if isinstance(widget, QTabBar):
        return all(widget.tabText(i).strip() for i in range(widget.count()))
    return _buddied(widget)


def focusable(root: QWidget) -> list[QWidget]:
    """The visible, enabled widgets under ``root`` (and itself) that can take the focus."""
    return [
        widget
        for widget in [root, *root.findChildren(QWidget)]
        if widget.focusPolicy() != Qt.FocusPolicy.NoFocus and widget.isVisible() and widget.isEnabled()
    ]


def unnamed(root: QWidget) -> list[str]:
    """The visible, enabled widgets under ``root`` that take the focus but have no name a screen
    reader could say (no accessible name, no text for a button, no buddy label)."""
    problems: list[str] = []
    for widget in focusable(root):
        owner = widget
        parent = widget.parentWidget()
        # A spin box's or an editable combo box's line edit speaks for its owner (its focus proxy).
        if parent is not None and (
            parent.focusProxy() is widget or isinstance(parent, (QAbstractSpinBox, QComboBox))
        ):
            owner = parent
        if not _named(owner):
            where = owner.parentWidget()
            problems.append(
                f"{type(owner).__name__} {owner.objectName()!r} in "
                f"{type(where).__name__ if where else '-'} {where.objectName() if where else ''!r}"
            )
    return sorted(set(problems))


def test_every_control_of_the_window_the_audit_settings_and_rules_has_a_name(
    qtbot: QtBot, window: MainWindow, scripted: ScriptedModel
) -> None:
    script_two_writes(scripted)
    send(qtbot, window, "Mark two invoices")
    wait_card(qtbot, window, 2)
    problems: dict[str, list[str]] = {}
    assert len(focusable(window)) > 15  # the walk sees the window's controls
    problems["window"] = unnamed(window)
    card = window.approval_pane.cards[0]
    card.edit_button.click()
    QApplication.processEvents()
    problems["card's edit form"] = unnamed(window)
    card.edit_button.click()

    window.tabs.setCurrentWidget(window.audit_view)
    audit = window.audit_view
    qtbot.waitUntil(lambda: audit.table.model().rowCount() > 0, timeout=WAIT)
    audit.table.selectRow(audit.table.model().rowCount() - 1)
    QApplication.processEvents()
    problems["audit"] = unnamed(window)
    audit.raw_toggle.setChecked(True)
    QApplication.processEvents()
    problems["audit, raw"] = unnamed(window)
    audit.raw_toggle.setChecked(False)

    dialog = window.open_settings(first_run=False, key=None)
    assert dialog is not None
    for index in range(dialog.tabs.count()):
        dialog.tabs.setCurrentIndex(index)
        QApplication.processEvents()
        problems[f"settings {dialog.tabs.tabText(index)}"] = unnamed(dialog)
    # Each email provider's form (the servers', a local mailbox's).
    titles = [dialog.tabs.tabText(index).replace("&", "") for index in range(dialog.tabs.count())]
    dialog.tabs.setCurrentIndex(titles.index("Accounts"))
    providers = dialog.findChild(QComboBox, "providerInput")
    assert providers is not None
    for index in range(providers.count()):
        providers.setCurrentIndex(index)
        QApplication.processEvents()
        problems[f"settings Accounts, {providers.itemText(index)}"] = unnamed(dialog)
    dialog.reject()

    rules = window.dialogs.open_rules()
    QApplication.processEvents()
    problems["rules"] = unnamed(rules)
    rules.reject()
    assert {screen: names for screen, names in problems.items() if names} == {}


def test_every_control_of_the_workflows_pane_and_its_forms_has_a_name(
    qtbot: QtBot, window: MainWindow, workspace: Path
) -> None:
    on_engine(window, lambda e: e.save_workflow(invoices_workflow(workspace)))
    window.show_workflows()
    wait_listed(qtbot, window, ["Chase overdue invoices"])
    problems: dict[str, list[str]] = {"pane": unnamed(window)}

    with qtbot.waitSignal(window.workflows.dialog_opened, timeout=WAIT) as opened:
        window.workflows.pane.run_button.click()
    run: Any = opened.args[0]
    QApplication.processEvents()
    problems["run"] = unnamed(run)
    run.reject()

    with qtbot.waitSignal(window.workflows.dialog_opened, timeout=WAIT) as opened:
        window.workflows.pane.schedule_button.click()
    schedule: Any = opened.args[0]
    assert schedule.kind_input.count() > 1
    for index in range(schedule.kind_input.count()):
        schedule.kind_input.setCurrentIndex(index)
        QApplication.processEvents()
        problems[f"schedule {schedule.kind_input.itemText(index)}"] = unnamed(schedule)
    schedule.reject()

    with qtbot.waitSignal(window.workflows.dialog_opened, timeout=WAIT) as opened:
        window.workflows.pane.trigger_button.click()
    trigger: Any = opened.args[0]
    for choice in (trigger.email_choice, trigger.file_choice):
        choice.setChecked(True)
        QApplication.processEvents()
        problems[f"trigger {choice.text()}"] = unnamed(trigger)
    trigger.reject()
    assert {screen: names for screen, names in problems.items() if names} == {}


# The keyboard ---------------------------------------------------------------------------------------


def press(
    qtbot: QtBot, window: MainWindow, key: Qt.Key, modifiers: Any = Qt.KeyboardModifier.NoModifier
) -> None:
    """Presses a key where the keyboard focus is (the window, when nothing has it)."""
    target = window.focusWidget() or window
    qtbot.keyClick(target, key, modifiers)  # type: ignore[no-untyped-call]


CTRL = Qt.KeyboardModifier.ControlModifier
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


def tab_walk(qtbot: QtBot, window: MainWindow, start: QWidget, key: Qt.Key, limit: int = 80) -> list[QWidget]:
    """The widgets Tab (or Shift+Tab) visits from ``start`` until it comes back to it."""
    start.setFocus(Qt.FocusReason.TabFocusReason)
    assert window.focusWidget() is start
    seen: list[QWidget] = [start]
    for _ in range(limit):
        press(qtbot, window, key)
        focused = window.focusWidget()
        assert focused is not None
        if focused is start:
            return seen
        seen.append(focused)
    pytest.fail(
        "Tab never came back to where it started (a keyboard trap?): "
        + ", ".join(w.objectName() or type(w).__name__ for w in seen[-12:])
    )


def test_tab_walks_the_window_in_reading_order_and_back_again(
    qtbot: QtBot, window: MainWindow, scripted: ScriptedModel
) -> None:
    script_two_writes(scripted)
    window.activateWindow()
    send(qtbot, window, "Mark two invoices")
    first, second = wait_card(qtbot, window, 1), wait_card(qtbot, window, 2)

    forward = tab_walk(qtbot, window, window.new_button, Qt.Key.Key_Tab)

    landmarks = [
        window.new_button,
        window.settings_button,
        window.workflows_button,
        window.missions.search,
        window.mission_list,
        window.chat_input,
        window.send_button,
        window.view.tabs.tabBar(),
        first.approve_button,
        first.reject_button,
        second.approve_button,
    ]
    for landmark in landmarks:
        assert landmark in forward, f"Tab never reaches {landmark.objectName() or landmark.accessibleName()}"
    positions = [forward.index(landmark) for landmark in landmarks]
    assert positions == sorted(positions), [w.objectName() for w in forward]
    # Every stop is something a person can see and use.
    assert all(w.isVisible() and w.isEnabled() for w in forward)
    # Shift+Tab walks the same stops the other way.
    backward = tab_walk(qtbot, window, window.new_button, Qt.Key.Key_Backtab)
    assert backward == [forward[0], *reversed(forward[1:])]


def test_the_shortcuts_and_where_the_focus_lands(
    qtbot: QtBot, window: MainWindow, scripted: ScriptedModel
) -> None:
    script_two_writes(scripted)
    window.activateWindow()
    send(qtbot, window, "Mark two invoices")
    first, second = wait_card(qtbot, window, 1), wait_card(qtbot, window, 2)
    mission_id = first.mission_id

    # Ctrl+F: the missions' search field.
    window.chat_input.setFocus()
    press(qtbot, window, Qt.Key.Key_F, CTRL)
    assert window.focusWidget() is window.missions.search

    # Ctrl+N: a new mission, the keyboard in its message box.
    window.mission_list.setFocus()
    press(qtbot, window, Qt.Key.Key_N, CTRL)
    assert window.view.mission_id is None
    assert window.focusWidget() is window.chat_input

    # Ctrl+Shift+W: the Workflows pane, its list focused; Esc: back to the missions, the focus on
    # something the person can see.
    press(qtbot, window, Qt.Key.Key_W, CTRL_SHIFT)
    assert window.workflows.pane.isVisible()
    assert window.focusWidget() is window.workflows.pane.list
    press(qtbot, window, Qt.Key.Key_Escape)
    assert window.splitter.isVisible()
    assert not window.workflows_button.isChecked()
    focused = window.focusWidget()
    assert focused is not None
    assert focused.isVisible(), focused.objectName()
    # Ctrl+Shift+W again toggles the pane off as well.
    press(qtbot, window, Qt.Key.Key_W, CTRL_SHIFT)
    assert window.workflows.pane.isVisible()
    press(qtbot, window, Qt.Key.Key_W, CTRL_SHIFT)
    assert window.splitter.isVisible()

    # Ctrl+,: the settings; Esc closes them and the keyboard is back in the window.
    with qtbot.waitSignal(window.settings_opened, timeout=WAIT) as opened:
        press(qtbot, window, Qt.Key.Key_Comma, CTRL)
    settings = opened.args[0]
    qtbot.waitUntil(settings.isVisible, timeout=WAIT)
    qtbot.keyClick(settings.focusWidget() or settings, Qt.Key.Key_Escape)  # type: ignore[no-untyped-call]
    qtbot.waitUntil(lambda: not settings.isVisible(), timeout=WAIT)
    # (A window manager gives the window back its activation; the offscreen platform does not.)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT)

    # Ctrl+Shift+A with the focus in the first card (not on its Approve): it is approved and the
    # focus goes to the next card's Approve.
    first.edit_button.setFocus(Qt.FocusReason.TabFocusReason)
    press(qtbot, window, Qt.Key.Key_A, CTRL_SHIFT)
    qtbot.waitUntil(lambda: window.approval_pane.card(first.action_id) is None, timeout=WAIT)
    qtbot.waitUntil(lambda: window.focusWidget() is second.approve_button, timeout=WAIT)

    # Ctrl+Shift+R from the message box: the reason field of the card; Cancel (by keyboard)
    # leaves the focus on the card's Reject, not lost.
    window.chat_input.setFocus()
    press(qtbot, window, Qt.Key.Key_R, CTRL_SHIFT)
    assert second.reason_row.isVisible()
    assert window.focusWidget() is second.reason_input
    press(qtbot, window, Qt.Key.Key_Tab)  # to Reject
    press(qtbot, window, Qt.Key.Key_Tab)  # to Cancel
    assert window.focusWidget() is second.findChild(QWidget, "cancelRejectButton")
    press(qtbot, window, Qt.Key.Key_Space)
    assert not second.reason_row.isVisible()
    assert window.focusWidget() is second.reject_button

    # Again, with a reason and Enter: rejected, and with no card left the focus goes to the
    # message box.
    press(qtbot, window, Qt.Key.Key_R, CTRL_SHIFT)
    assert window.focusWidget() is second.reason_input
    qtbot.keyClicks(second.reason_input, "Not E3")  # type: ignore[no-untyped-call]
    press(qtbot, window, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not window.approval_pane.cards, timeout=WAIT)
    qtbot.waitUntil(lambda: window.focusWidget() is window.chat_input, timeout=WAIT)

    def finished() -> None:
        row = window.mission_info(mission_id or "")
        assert row is not None
        assert row.status == "done"

    qtbot.waitUntil(finished, timeout=WAIT)


# Screenshots of each main screen ---------------------------------------------------------------------

SCREENS_ENV = "ENSEMBLE_SCREENS_DIR"
"""Set (to a folder) only in the run under Xvfb that draws the screens."""
SCREENS = [
    "screens-empty-window.png",
    "screens-mission-chat-plan.png",
    "screens-waiting-card.png",
    "screens-card-edit-form.png",
    "screens-audit.png",
    "screens-settings-general.png",
    "screens-settings-accounts.png",
    "screens-settings-browser.png",
    "screens-settings-model.png",
    "screens-rules.png",
    "screens-workflows-pane.png",
    "screens-workflow-run-form.png",
]


@pytest.fixture
def small_xvfb() -> Iterator[str]:
    """A private X display of 1024x700 (a small laptop's screen), on a number Xvfb picks."""
    with xvfb("1024x700") as display:
        yield display


@pytest.mark.slow
def test_screenshots_of_each_main_screen_at_1024x700(small_xvfb: str) -> None:
    if os.environ.get(SCREENS_ENV):
        pytest.skip("This is the run under Xvfb itself.")
    ARTIFACTS.mkdir(exist_ok=True)
    for name in SCREENS:
        (ARTIFACTS / name).unlink(missing_ok=True)
    env = dict(os.environ, DISPLAY=small_xvfb, QT_QPA_PLATFORM="xcb", **{SCREENS_ENV: str(ARTIFACTS)})
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{__file__}::test_draw_the_main_screens",
        ],
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    for name in SCREENS:
        shot = ARTIFACTS / name
        assert shot.is_file(), f"{name} was not saved: {result.stdout[-2000:]}"
        assert shot.stat().st_size > 5_000, name


def _draw_the_main_screens(qtbot: QtBot, scripted: ScriptedModel, workspace: Path) -> None:
    """Draws each main screen at 1024x700 into the folder ``ENSEMBLE_SCREENS_DIR`` names (a
    test only in the run the test above starts under Xvfb)."""
    out = Path(os.environ[SCREENS_ENV])

    def save(widget: QWidget, name: str) -> None:
        QApplication.processEvents()
        assert widget.grab().save(str(out / name)), name

    scripted.add(
        "Check which invoices",
        delegate(task("read", "SHOT-READ: read the invoices and list the overdue ones")),
        text(
            "I read **invoices.xlsx**. Two invoices are past due:\n\n"
            "| Invoice | Customer | Due |\n|---|---|---|\n| INV-1 | Acme | 1 Sep 2026 |\n"
            "| INV-4 | Umbrella | 20 Aug 2026 |\n\nShall I mark them as overdue?"
        ),
    )
    from app.testing.scripted_model import tool_call

    scripted.add(
        "SHOT-READ",
        tool_call("sheet_read", {"path": "invoices.xlsx", "sheet": "Invoices"}),
        text("INV-1 and INV-4 are past due."),
    )
    script_two_writes(scripted)
    window = open_window(qtbot, workspace)
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.width() == 1024, timeout=WAIT)
    save(window, "screens-empty-window.png")

    # A finished mission: its chat and its plan.
    send(qtbot, window, "Check which invoices in invoices.xlsx are past due")
    qtbot.waitUntil(lambda: window.view.mission_id is not None, timeout=WAIT)
    done = window.view.mission_id or ""
    qtbot.waitUntil(lambda: getattr(window.mission_info(done), "status", "") == "done", timeout=WAIT)
    qtbot.waitUntil(lambda: any("Shall I mark them" in m for m in window.chat_view.messages), timeout=WAIT)
    save(window, "screens-mission-chat-plan.png")

    # A mission with two cards waiting; the first one's edit form.
    window.on_new_mission_clicked()
    send(qtbot, window, "Mark two invoices")
    card = wait_card(qtbot, window, 2)
    card = window.approval_pane.cards[0]
    save(window, "screens-waiting-card.png")
    card.edit_button.click()
    save(window, "screens-card-edit-form.png")
    card.edit_button.click()

    # The audit of the finished mission, its last event selected.
    window.view.show(done)
    qtbot.waitUntil(lambda: window.view.mission_id == done, timeout=WAIT)
    window.tabs.setCurrentWidget(window.audit_view)
    audit = window.audit_view
    qtbot.waitUntil(lambda: audit.table.model().rowCount() > 3, timeout=WAIT)
    audit.table.selectRow(audit.table.model().rowCount() - 1)
    save(window, "screens-audit.png")
    window.tabs.setCurrentWidget(window.plan_view)

    # The settings, each page.
    settings = window.open_settings(first_run=False, key=None)
    assert settings is not None
    qtbot.waitUntil(settings.isVisible, timeout=WAIT)
    for index in range(settings.tabs.count()):
        settings.tabs.setCurrentIndex(index)
        save(settings, f"screens-settings-{settings.tabs.tabText(index).lower().replace('&', '')}.png")
    settings.reject()

    rules = window.dialogs.open_rules()
    qtbot.waitUntil(rules.isVisible, timeout=WAIT)
    save(rules, "screens-rules.png")
    rules.reject()

    # The Workflows pane, with a workflow run once, and its run form.
    on_engine(window, lambda e: e.save_workflow(invoices_workflow(workspace)))
    window.show_workflows()
    wait_listed(qtbot, window, ["Chase overdue invoices"])
    save(window, "screens-workflows-pane.png")
    with qtbot.waitSignal(window.workflows.dialog_opened, timeout=WAIT) as opened:
        window.workflows.pane.run_button.click()
    run = opened.args[0]
    qtbot.waitUntil(run.isVisible, timeout=WAIT)
    save(run, "screens-workflow-run-form.png")
    run.reject()
    window.close()


if os.environ.get(SCREENS_ENV):
    test_draw_the_main_screens = _draw_the_main_screens
