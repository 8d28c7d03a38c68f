"""Screenshots of the real window under Xvfb, saved as test artifacts for a person to look at.

The test starts Xvfb on a free display and runs this same file as a script, with
``DISPLAY`` set and ``QT_QPA_PLATFORM=xcb``, so the window is drawn by the real X11 platform
plugin rather than offscreen. The scripted model runs in the test process; the window's
engine reaches it over 127.0.0.1, as in every other test. The script assigns two missions,
and saves, once the second one's card is shown:

- ``test-artifacts/main-window-first-start.png`` (the window as a new user first sees it),

- ``test-artifacts/main-window-pending-card.png`` (the window, light palette),
- ``test-artifacts/main-window-pending-card-1024x700.png`` (the same on a small laptop screen),
- ``test-artifacts/main-window-pending-card-dark.png`` (the same, dark palette),
- ``test-artifacts/main-window-audit.png`` (the audit tab of the first mission),
- ``test-artifacts/settings-first-run.png`` (the settings as a new user first sees them),
- ``test-artifacts/screen-pending-card.png`` (the whole X screen).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _xvfb import xvfb

from app.testing.scripted_model import ScriptedModel, text, tool_call

if TYPE_CHECKING:
    from collections.abc import Iterator

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
NAMES = [
    "main-window-first-start.png",
    "main-window-pending-card.png",
    "main-window-pending-card-1024x700.png",
    "main-window-pending-card-dark.png",
    "main-window-audit.png",
    "settings-first-run.png",
    "screen-pending-card.png",
]


@pytest.fixture
def xvfb_display() -> Iterator[str]:
    """A private X display from Xvfb, on a display number Xvfb picks itself."""
    with xvfb("1600x1000") as display:
        yield display


@pytest.mark.slow
def test_screenshots_of_the_main_window_with_a_pending_card(
    xvfb_display: str, scripted: ScriptedModel, workspace: Path
) -> None:
    script_missions(scripted)
    ARTIFACTS.mkdir(exist_ok=True)
    for name in NAMES:
        (ARTIFACTS / name).unlink(missing_ok=True)
    env = dict(os.environ, DISPLAY=xvfb_display, QT_QPA_PLATFORM="xcb")
    result = subprocess.run(
        [sys.executable, __file__, str(workspace), str(ARTIFACTS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    for name in NAMES:
        shot = ARTIFACTS / name
        assert shot.is_file(), f"{name} was not saved; stderr: {result.stderr[-2000:]}"
        assert shot.stat().st_size > 10_000, name


def script_missions(scripted: ScriptedModel) -> None:
    """The model's side of the two missions the screenshots show."""

    def delegate(*tasks: dict[str, Any]) -> Any:
        return tool_call("delegate", {"tasks": list(tasks)})

    def task(id_: str, instructions: str, depends_on: list[str] | None = None) -> dict[str, Any]:
        return {
            "id": id_,
            "agent": "spreadsheet",
            "instructions": instructions,
            "depends_on": depends_on or [],
        }

    scripted.add(
        "Check which invoices",
        delegate(task("read", "SHOT-READ: read the invoices and list the overdue ones")),
        text(
            "I read **invoices.xlsx**. Two invoices are past due:\n\n"
            "| Invoice | Customer | Due |\n|---|---|---|\n| INV-1 | Acme | 1 Sep 2026 |\n"
            "| INV-4 | Umbrella | 20 Aug 2026 |\n\nShall I mark them as overdue?"
        ),
    )
    scripted.add(
        "SHOT-READ",
        tool_call("sheet_read", {"path": "invoices.xlsx", "sheet": "Invoices"}),
        text("INV-1 and INV-4 are past due."),
    )
    scripted.add(
        "Mark INV-1 and INV-4",
        delegate(
            task("mark", "SHOT-MARK: set the status of INV-1 and INV-4 to overdue"),
            task("note", "SHOT-NOTE: add a note row", depends_on=["mark"]),
        ),
        text("Done."),
    )
    scripted.add(
        "SHOT-MARK",
        tool_call("sheet_read", {"path": "invoices.xlsx", "sheet": "Invoices", "range": "A1:E5"}),
        tool_call(
            "sheet_write",
            {
                "path": "invoices.xlsx",
                "sheet": "Invoices",
                "range": "E2:E5",
                "values": [["overdue"], ["open"], ["paid"], ["overdue"]],
            },
        ),
        text("Marked."),
    )
    scripted.add("SHOT-NOTE", text("Noted."))


# The script run under Xvfb ------------------------------------------------------------------


def _run_window(workspace: Path, out: Path) -> int:  # pragma: no cover - runs in a subprocess
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QColor, QGuiApplication, QPalette

    from ui.app import create_application
    from ui.bridge import Bridge
    from ui.main_window import MainWindow
    from ui.widgets import style_sheet

    app = create_application()
    window = MainWindow(Bridge(), workspaces=[workspace], check_key=False)
    window.resize(1560, 940)
    window.show()
    state: dict[str, Any] = {"step": "start", "code": 1}

    def fail(message: str) -> None:
        print(message, file=sys.stderr)  # noqa: T201
        state["code"] = 2
        app.quit()

    def send(message: str) -> None:
        window.chat_input.setPlainText(message)
        window.send_button.click()

    def grab(name: str) -> None:
        app.processEvents()
        if not window.grab().save(str(out / name)):
            fail(f"could not save {name}")

    def dark() -> None:
        palette = QPalette()
        for role, colour in (
            (QPalette.ColorRole.Window, "#1b1e24"),
            (QPalette.ColorRole.WindowText, "#e6e9ef"),
            (QPalette.ColorRole.Base, "#15171c"),
            (QPalette.ColorRole.AlternateBase, "#1f232a"),
            (QPalette.ColorRole.Text, "#e6e9ef"),
            (QPalette.ColorRole.Button, "#262a33"),
            (QPalette.ColorRole.ButtonText, "#e6e9ef"),
            (QPalette.ColorRole.Highlight, "#5b7cfa"),
            (QPalette.ColorRole.HighlightedText, "#ffffff"),
            (QPalette.ColorRole.PlaceholderText, "#8d96a6"),
        ):
            palette.setColor(role, QColor(colour))
        app.setPalette(palette)
        app.setStyleSheet(style_sheet(True))

    def tick() -> None:
        step = state["step"]
        cards = window.approval_pane.cards
        if step == "start" and window._engine_ready and window.workspaces():
            grab("main-window-first-start.png")
            send("Check which invoices in invoices.xlsx are past due")
            state["step"] = "first"
        elif step == "first":
            first = window.mission_info(window._shown or "")
            if first is not None and first.status == "done":
                window.on_new_mission_clicked()
                send("Mark INV-1 and INV-4 as overdue in invoices.xlsx")
                state["step"] = "second"
        elif step == "second" and cards and cards[0].isVisible():
            state["step"] = "settle"
            QTimer.singleShot(400, shoot)

    def shoot() -> None:
        grab("main-window-pending-card.png")
        screen = QGuiApplication.primaryScreen()
        if not screen.grabWindow(0).save(str(out / "screen-pending-card.png")):
            fail("could not save the screen")
        # The same card on a small laptop screen: it wraps, it never needs a sideways scroll.
        window.resize(1024, 700)
        QTimer.singleShot(300, small)

    def small() -> None:
        grab("main-window-pending-card-1024x700.png")
        window.resize(1560, 940)
        # The audit of the first mission.
        first = window.mission_list.item(1)
        window.mission_list.setCurrentItem(first)
        window.tabs.setCurrentWidget(window.audit_view)
        window.mission_shown.connect(on_shown)

    def on_shown(_mission_id: str) -> None:
        window.mission_shown.disconnect(on_shown)
        QTimer.singleShot(200, after_audit)

    def after_audit() -> None:
        grab("main-window-audit.png")
        window.tabs.setCurrentWidget(window.plan_view)
        window.mission_list.setCurrentItem(window.mission_list.item(0))
        QTimer.singleShot(300, settings)

    def settings() -> None:
        dialog = window.open_settings(first_run=True, key=None)
        assert dialog is not None
        QTimer.singleShot(300, lambda: save_settings(dialog))

    def save_settings(dialog: Any) -> None:
        app.processEvents()
        if not dialog.grab().save(str(out / "settings-first-run.png")):
            fail("could not save the settings")
        dialog.reject()
        dark()
        QTimer.singleShot(400, finish)

    def finish() -> None:
        grab("main-window-pending-card-dark.png")
        state["code"] = 0
        window.close()
        app.quit()

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(50)
    QTimer.singleShot(60_000, lambda: fail(f"timed out at step {state['step']}"))
    app.exec()
    return int(state["code"])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_run_window(Path(sys.argv[1]), Path(sys.argv[2])))
