"""The first-run assistant: key, one account, a first mission (or the demo), shown once.

The flows run the real window and engine, offscreen, with the in-memory keyring of
``conftest.py``; a second window on the same ``ENSEMBLE_HOME`` is the next launch. The layout
checks draw the assistant on its own (no engine is needed to draw it), at 1024x700, and at
``QT_SCALE_FACTOR`` 1.5 in a process of its own (a scale factor is fixed when Qt starts).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# Before any QApplication exists: offscreen, on a screen as big as a desktop's.
_SCREEN = Path(tempfile.gettempdir()) / "ensemble-test-first-run-screen.json"
_SCREEN.write_text(
    json.dumps(
        {"screens": [{"name": "test", "x": 0, "y": 0, "width": 1920, "height": 1200, "logicalDpi": 96}]}
    ),
    encoding="utf-8",
)
os.environ.setdefault("QT_QPA_PLATFORM", f"offscreen:configfile={_SCREEN}")

from PySide6.QtCore import QPoint, Qt  # noqa: E402 - after the platform is chosen
from PySide6.QtWidgets import (  # noqa: E402
    QAbstractButton,
    QAbstractItemView,
    QAbstractScrollArea,
    QAbstractSpinBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QScrollArea,
    QWidget,
)

from app import secrets  # noqa: E402

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from ui.main_window import MainWindow
    from ui.welcome import WelcomeDialog

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
WAIT = 15_000
START = 60_000  # ms: the engine's first start imports the SDK, slow on a busy machine


def open_window(qtbot: QtBot, workspaces: list[Path]) -> MainWindow:
    from ui.app import create_application
    from ui.bridge import Bridge
    from ui.main_window import MainWindow

    create_application()
    window = MainWindow(Bridge(), workspaces=workspaces, check_key=True)
    qtbot.addWidget(window)
    window.show()
    return window


def settle(qtbot: QtBot, window: MainWindow) -> None:
    """Waits for one call through the engine's loop, queued after everything asked at start."""
    answered: list[object] = []
    window.bridge.call(lambda _e: None, answered.append, what="wait")
    qtbot.waitUntil(lambda: answered != [], timeout=WAIT)


def assistant(qtbot: QtBot, window: MainWindow) -> WelcomeDialog:
    qtbot.waitUntil(lambda: window.welcome_dialog is not None, timeout=START)
    dialog = window.welcome_dialog
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible, timeout=WAIT)
    return dialog


def click(qtbot: QtBot, widget: QAbstractButton) -> None:
    assert widget.isVisible(), widget.objectName()
    assert widget.isEnabled(), widget.objectName()
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]


def enter(qtbot: QtBot, widget: QWidget) -> None:
    qtbot.keyClick(widget, Qt.Key.Key_Return)  # type: ignore[no-untyped-call]


# The flows --------------------------------------------------------------------------------------


def test_the_assistant_walks_a_newcomer_to_a_first_mission_and_is_not_shown_again(
    qtbot: QtBot, workspace: Path, memory_keyring: Any
) -> None:
    from ui.welcome import EXAMPLE_MISSIONS

    win = open_window(qtbot, [workspace])
    dialog = assistant(qtbot, win)
    assert dialog.current() == 0
    assert dialog.demo_button.isVisible()
    enter(qtbot, dialog.next_button)  # Enter: the next step
    assert dialog.current() == 1
    assert dialog.key_input.hasFocus() or dialog.focusWidget() is dialog.key_input
    assert dialog.key_input.echoMode() == QLineEdit.EchoMode.Password
    assert "Where do I get one?" in dialog.findChild(QLabel, "keyWhereLink").text()

    qtbot.keyClicks(dialog.key_input, "not a key")  # type: ignore[no-untyped-call]
    enter(qtbot, dialog.key_input)
    assert dialog.current() == 1, "a key of the wrong shape is not taken"
    assert dialog.key_error.isVisible()
    assert "sk-ant-" in dialog.key_error.text()
    assert secrets.get_secret(secrets.API_KEY_ENTRY) is None

    dialog.key_input.clear()
    qtbot.keyClicks(dialog.key_input, "sk-ant-first-run-5678")  # type: ignore[no-untyped-call]
    enter(qtbot, dialog.key_input)
    assert dialog.current() == 2
    assert not dialog.key_error.isVisible()
    qtbot.waitUntil(
        lambda: secrets.get_secret(secrets.API_KEY_ENTRY) == "sk-ant-first-run-5678", timeout=WAIT
    )
    assert win.view._has_key is True
    assert not any("sk-ant-first" in label.text() for label in dialog.findChildren(QLabel))

    # The account step is the settings' Accounts page, with its presets: "Later" skips it.
    assert dialog.accounts_page.provider_input.count() > 2
    assert dialog.skip_button.text() == "Later"
    click(qtbot, dialog.skip_button)
    assert dialog.current() == 3
    assert not dialog.no_key_note.isVisible(), "a key was stored: Send will work"
    title, mission = EXAMPLE_MISSIONS[0]
    assert dialog.example_buttons[0].text() == title
    click(qtbot, dialog.example_buttons[0])
    assert not dialog.isVisible()
    assert win.chat_input.toPlainText() == mission
    assert win.view.mission_id is None, "a new mission, ready to send"
    assert win.send_button.isEnabled()
    assert win.dialogs.first_run_done()
    win.close()

    # The next launch, even without the key: the assistant is not shown again.
    secrets.delete_secret(secrets.API_KEY_ENTRY)
    again = open_window(qtbot, [workspace])
    qtbot.waitUntil(lambda: again._engine_ready, timeout=START)
    qtbot.waitUntil(lambda: again.view._has_key is False, timeout=WAIT)
    settle(qtbot, again)
    assert again.welcome_dialog is None
    again.close()


def test_esc_closes_the_assistant_for_good_and_settings_can_show_it_again(
    qtbot: QtBot, workspace: Path, memory_keyring: Any
) -> None:
    win = open_window(qtbot, [workspace])
    dialog = assistant(qtbot, win)
    assert "open it again from Settings" in dialog.findChild(QLabel, "welcomeCloseNote").text()
    enter(qtbot, dialog.next_button)
    assert dialog.current() == 1
    qtbot.keyClick(dialog.key_input, Qt.Key.Key_Escape)  # type: ignore[no-untyped-call]
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT)
    assert win.dialogs.first_run_done()
    assert "Settings" in win.statusBar().currentMessage()
    assert secrets.get_secret(secrets.API_KEY_ENTRY) is None
    win.close()

    again = open_window(qtbot, [workspace])
    qtbot.waitUntil(lambda: again._engine_ready, timeout=START)
    qtbot.waitUntil(lambda: again.view._has_key is False, timeout=WAIT)
    settle(qtbot, again)
    assert again.welcome_dialog is None, "closed once, not shown at the next launch"

    # Settings, General page, "Show the welcome again" opens it, on demand.
    with qtbot.waitSignal(again.settings_opened, timeout=WAIT) as opened:
        again.on_settings_clicked()
    settings = opened.args[0]
    with qtbot.waitSignal(again.welcome_opened, timeout=WAIT) as welcomed:
        click(qtbot, settings.welcome_button)
    assert not settings.isVisible()
    shown = welcomed.args[0]
    assert shown.isVisible()
    assert shown.current() == 0
    shown.reject()
    again.close()


def test_try_the_demo_closes_the_assistant_and_starts_the_demo(
    qtbot: QtBot, memory_keyring: Any, ensemble_home: Path
) -> None:
    win = open_window(qtbot, [])
    dialog = assistant(qtbot, win)
    with qtbot.waitSignal(win.mission_shown, timeout=WAIT):
        click(qtbot, dialog.demo_button)
    assert not dialog.isVisible()
    qtbot.waitUntil(win.demo_banner.isVisible, timeout=WAIT)
    assert win.mission_header.text().startswith("[Demo]")
    assert win.dialogs.first_run_done()
    win.close()


# Accessibility and size ------------------------------------------------------------------------

_CONTROLS = (QAbstractButton, QLineEdit, QComboBox, QAbstractSpinBox, QAbstractItemView, QScrollArea)


def unnamed_controls(root: QWidget) -> list[str]:
    """Every control under ``root`` without an accessible name (a combo box's or a spin box's
    own parts excepted: they are named by their owner)."""
    missing = []
    for widget in root.findChildren(QWidget):
        if not isinstance(widget, _CONTROLS):
            continue
        owner = widget.parentWidget()
        if isinstance(owner, (QComboBox, QAbstractSpinBox)) or (
            owner is not None and isinstance(owner.parentWidget(), QComboBox)
        ):
            continue
        if not widget.accessibleName().strip():
            missing.append(f"{type(widget).__name__} {widget.objectName()!r}")
    return missing


def clipped(dialog: WelcomeDialog, where: str) -> list[str]:
    """The visible controls of the step shown that are cut off sideways or elided, and the
    dialog's own buttons if they do not fit."""
    scroll = dialog.steps.currentWidget()
    assert isinstance(scroll, QScrollArea)
    viewport = scroll.viewport()
    problems: list[str] = []
    page = scroll.widget()
    kinds = (QAbstractButton, QLabel, QLineEdit, QComboBox)
    for widget in [page, *page.findChildren(QWidget)]:
        if not isinstance(widget, (*kinds, type(page))) or not widget.isVisibleTo(scroll):
            continue
        parent = widget.parentWidget()
        inner = False
        while parent is not None and parent is not page:
            inner = inner or isinstance(parent, (QAbstractScrollArea, QComboBox))
            parent = parent.parentWidget()
        if inner:
            continue
        name = f"{where}: {type(widget).__name__} {widget.objectName() or widget.accessibleName()!r}"
        left = widget.mapTo(viewport, QPoint(0, 0)).x()
        if left < 0 or left + widget.width() > viewport.width():
            problems.append(f"{name} spans x {left}..{left + widget.width()}, viewport {viewport.width()}")
        if isinstance(widget, QAbstractButton) and widget.sizeHint().width() > widget.width():
            problems.append(f"{name} is {widget.width()} wide, its text needs {widget.sizeHint().width()}")
        if isinstance(widget, QLabel) and widget.text() and widget.wordWrap():
            if widget.heightForWidth(widget.width()) > widget.height():
                problems.append(f"{name} is too short for its wrapped text")
    for button in (dialog.back_button, dialog.skip_button, dialog.next_button):
        if not button.isVisible():
            continue
        left = button.mapTo(dialog, QPoint(0, 0)).x()
        if left < 0 or left + button.width() > dialog.width() or button.sizeHint().width() > button.width():
            problems.append(f"{where}: the {button.text()} button does not fit")
    return problems


def walk(dialog: WelcomeDialog, app: Any, where: str, shots: Path | None = None) -> list[str]:
    """Every step of the assistant, checked (and saved as a picture, if ``shots`` is given)."""
    from ui.welcome import STEPS

    problems: list[str] = []
    for index in range(len(STEPS)):
        dialog.go_to(index)
        for _ in range(3):
            app.processEvents()
        problems += clipped(dialog, f"{where} step {index + 1}")
        if shots is not None and not dialog.grab().save(
            str(shots / f"first-run-step{index + 1}-{where}.png")
        ):
            problems.append(f"{where}: could not save step {index + 1}")
    return problems


def test_every_control_of_the_assistant_has_an_accessible_name_and_it_fits_1024x700(
    qtbot: QtBot,
) -> None:
    from ui.app import create_application
    from ui.welcome import WelcomeDialog

    app = create_application()
    window = QWidget()
    qtbot.addWidget(window)
    window.resize(1024, 700)
    window.show()
    dialog = WelcomeDialog(parent=window)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.width() <= 1024
    assert dialog.height() <= 700
    assert unnamed_controls(dialog) == []
    assert walk(dialog, app, "1024x700") == []
    # Smaller still (a window half a small screen wide): the steps scroll, nothing is cut off.
    dialog.resize(420, 360)
    assert walk(dialog, app, "420x360") == []
    dialog.reject()


def _render(out: Path, scale: str) -> int:  # pragma: no cover - runs in a subprocess
    from PySide6.QtWidgets import QApplication

    from ui.app import create_application
    from ui.welcome import WelcomeDialog

    app = create_application()
    window = QWidget()
    window.resize(1024, 700)
    window.show()
    dialog = WelcomeDialog(parent=window)
    dialog.show()
    app.processEvents()
    problems = []
    if dialog.width() > 1024 or dialog.height() > 700:
        problems.append(f"the assistant is {dialog.width()}x{dialog.height()}, larger than the window")
    problems += unnamed_controls(dialog)
    problems += walk(dialog, app, f"1024x700@{scale}x", out)
    print(json.dumps(problems))  # noqa: T201 - the test reads the problems from standard output
    dialog.close()
    window.close()
    QApplication.processEvents()
    return 0


@pytest.mark.slow
def test_the_assistant_fits_1024x700_at_150_percent() -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    env = dict(
        os.environ,
        QT_SCALE_FACTOR="1.5",
        QT_QPA_PLATFORM=f"offscreen:configfile={_SCREEN}",
        QT_ENABLE_HIGHDPI_SCALING="1",
    )
    result = subprocess.run(
        [sys.executable, __file__, str(ARTIFACTS), "1.5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    problems = json.loads(result.stdout.strip().splitlines()[-1])
    assert problems == [], "\n".join(problems)
    assert (ARTIFACTS / "first-run-step3-1024x700@1.5x.png").is_file()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_render(Path(sys.argv[1]), sys.argv[2]))
