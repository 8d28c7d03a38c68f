"""The first window and the mission's header on a small screen, offscreen, without an engine:
the first window fits the screen's free area (a restored one is brought back inside it), the
header's buttons show their whole words, the title wraps at its full height, the folder hint
follows the files attached, the message box holds its placeholder, and a mission's title is
the person's words, not the paths of the files attached."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

_SCREEN = Path(tempfile.gettempdir()) / "ensemble-test-header-fit-screen.json"
_SCREEN.write_text(
    json.dumps(
        {"screens": [{"name": "small", "x": 0, "y": 0, "width": 1024, "height": 700, "logicalDpi": 96}]}
    ),
    encoding="utf-8",
)
os.environ.setdefault("QT_QPA_PLATFORM", f"offscreen:configfile={_SCREEN}")

from typing import TYPE_CHECKING  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import QRect, QSize  # noqa: E402
from PySide6.QtGui import QTextDocument  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.engine import _title  # noqa: E402
from ui.app import create_application  # noqa: E402
from ui.attachments import message_text  # noqa: E402
from ui.bridge import Bridge  # noqa: E402
from ui.main_window import DEFAULT_SIZE, MainWindow, first_size  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pytestqt.qtbot import QtBot


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MainWindow]:
    monkeypatch.setenv("ENSEMBLE_HOME", str(tmp_path / "home"))
    create_application()
    win = MainWindow(Bridge(), workspaces=[], check_key=False)
    win._engine_requested = True  # no engine: the window alone
    qtbot.addWidget(win)
    yield win
    win.close()
    if not win.bridge.loop.is_running():
        win.bridge.loop.close()  # never started: its sockets closed here, not by the collector


def test_the_first_size_is_bounded_by_the_free_area_of_the_screen() -> None:
    assert first_size(QRect(0, 0, 3600, 2400)) == QSize(*DEFAULT_SIZE)
    small = first_size(QRect(0, 0, 1024, 700))
    assert small.width() <= 1024
    assert small.height() <= 700
    # 1536x1050 at 150 %: 1024x700 of logical pixels, the same bound.
    assert first_size(QRect(0, 30, 1024, 670)).height() <= 670


def test_the_first_window_and_a_restored_one_fit_the_screen(qtbot: QtBot, window: MainWindow) -> None:
    area = window._available()
    assert area.contains(window.geometry()) or (
        window.width() <= max(area.width(), window.minimumWidth())
        and window.height() <= max(area.height(), window.minimumHeight())
    )
    assert window.width() <= max(area.width(), window.minimumWidth())
    assert window.height() <= max(area.height(), window.minimumHeight())
    # A size remembered from a bigger screen, placed off it: back inside.
    window.setGeometry(area.right() - 100, area.bottom() - 100, area.width() + 900, area.height() + 600)
    window._fit_on_screen()
    assert window.width() <= max(area.width(), window.minimumWidth())
    assert window.height() <= max(area.height(), window.minimumHeight())
    assert window.x() >= area.left()
    assert window.y() >= area.top()
    if window.width() <= area.width():
        assert window.geometry().right() <= area.right()


def test_the_header_buttons_show_their_words_and_the_title_its_lines(
    qtbot: QtBot, window: MainWindow
) -> None:
    window.resize(1024, 700)
    window.show()
    qtbot.waitExposed(window)
    view = window.view
    view.header.setText(
        "Mark every overdue invoice in invoices.xlsx as overdue and write to each supplier about it"
    )
    view.save_workflow_button.show()
    view.undo_mission_button.show()
    QApplication.processEvents()
    for button in (view.save_workflow_button, view.undo_mission_button):
        assert button.isVisible()
        assert button.width() >= button.sizeHint().width(), button.text()
    header = view.header
    assert header.height() >= header.heightForWidth(header.width()), "the title is cut"
    # The title ends above the status line.
    assert (
        header.mapTo(window, header.rect().bottomLeft()).y()
        < view.status.mapTo(window, view.status.rect().topLeft()).y()
    )


def test_the_folder_hint_follows_the_files_attached(qtbot: QtBot, window: MainWindow, tmp_path: Path) -> None:
    window.show()
    view = window.view
    assert "No folder chosen yet" in view.folders_label.text()
    files = tmp_path / "files"
    files.mkdir()
    (files / "invoices.xlsx").write_bytes(b"x")
    view.attach_paths([str(files / "invoices.xlsx")])
    assert "No folder chosen yet" not in view.folders_label.text()
    assert "files" in view.folders_label.text()
    view.attachments.clear()
    assert "No folder chosen yet" in view.folders_label.text()


def test_the_message_box_holds_its_placeholder(qtbot: QtBot, window: MainWindow) -> None:
    for size in ((1024, 700), (1600, 1000)):
        window.resize(*size)
        window.show()
        QApplication.processEvents()
        box = window.view.chat_input
        document = QTextDocument()
        document.setDefaultFont(box.font())
        document.setDocumentMargin(box.document().documentMargin())
        document.setPlainText(box.placeholderText())
        document.setTextWidth(box.viewport().width())
        assert document.size().height() <= box.viewport().height(), size


def test_a_mission_title_is_the_persons_words_without_the_paths() -> None:
    message = message_text("Mark the overdue invoices", [Path("/home/ann/work/invoices.xlsx")])
    assert "/home/ann/work/invoices.xlsx" in message  # the agents still get the path
    assert _title(message) == "Mark the overdue invoices"
    only_files = message_text("", [Path("/home/ann/work/invoices.xlsx"), Path("/tmp/report.pdf")])
    assert _title(only_files) == "invoices.xlsx, report.pdf"
    assert _title("Fix   the\nleaking tap") == "Fix the leaking tap"


def test_a_narrow_screen_shows_the_cards_beside_the_chat_or_the_plan_and_fits(
    qtbot: QtBot, window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1024x700 at 150 % is 683x467 logical pixels: the four panes at their least widths (and
    the top bar's buttons in one line) would put the cards off-screen."""
    window.show()
    qtbot.waitExposed(window)
    assert not window.compact
    assert window.missions_toggle.isHidden()
    assert window.plan_toggle.isHidden()
    wide = window.minimumSizeHint().width()
    assert wide > 683  # what did not fit

    monkeypatch.setattr(window, "_available", lambda: QRect(0, 0, 683, 467))
    window._check_compact()
    assert window.compact
    QApplication.processEvents()
    missions, centre, tabs, cards = window._panes
    # The cards and the chat, the missions on demand, the plan and audit in the chat's place.
    assert cards.isVisibleTo(window)
    assert centre.isVisibleTo(window)
    assert not missions.isVisibleTo(window)
    assert not tabs.isVisibleTo(window)
    assert window.minimumSizeHint().width() <= 683
    window.resize(683, 467)
    QApplication.processEvents()
    assert window.width() <= 683
    assert cards.geometry().right() <= window.splitter.width()
    for button in (window.new_button, window.stop_button, window.missions_toggle, window.plan_toggle):
        assert window.rect().contains(button.mapTo(window, button.rect().bottomRight())), button.text()

    window.plan_toggle.click()
    assert tabs.isVisibleTo(window)
    assert not centre.isVisibleTo(window)
    window.missions_toggle.click()
    assert missions.isVisibleTo(window)
    assert window.minimumSizeHint().width() <= 683
    window.plan_toggle.click()
    assert centre.isVisibleTo(window)
    assert not tabs.isVisibleTo(window)

    # A wide screen again: the four panes, no toggles.
    monkeypatch.setattr(window, "_available", lambda: QRect(0, 0, 1600, 1000))
    window.resize(1200, 700)
    window._check_compact()
    assert not window.compact
    assert all(pane.isVisibleTo(window) for pane in window._panes)
    assert window.missions_toggle.isHidden()
    assert window.plan_toggle.isHidden()
