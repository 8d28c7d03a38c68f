"""Finding and tidying missions in the window (issue 17), offscreen, with the real engine on its
own thread and a real journal: the person types in the missions pane's search field, renames
a mission with F2, archives one and finds it again with "Show archived", and deletes one after
a confirmation that keeps its audit unless ticked otherwise."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

# Before any QApplication exists: offscreen, on a screen as big as a desktop's.
_SCREEN = Path(tempfile.gettempdir()) / "ensemble-test-missions-manage-screen.json"
_SCREEN.write_text(
    json.dumps(
        {"screens": [{"name": "test", "x": 0, "y": 0, "width": 1920, "height": 1200, "logicalDpi": 96}]}
    ),
    encoding="utf-8",
)
os.environ.setdefault("QT_QPA_PLATFORM", f"offscreen:configfile={_SCREEN}")

from datetime import UTC, datetime, timedelta  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QCheckBox, QLineEdit, QMenu, QMessageBox, QPushButton, QWidget  # noqa: E402
from test_ui import WAIT, click, keys, open_window  # noqa: E402

from app.journal import Journal, Mission  # noqa: E402
from ui.missions_list import DELETE_AUDIT_TEXT, PAGE_SIZE, ROLE_LINE, MissionsList  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pytestqt.qtbot import QtBot

    from ui.main_window import MainWindow

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
MISSIONS = [
    ("m_invoices", "Invoices for March", "Mark the overdue invoices"),
    ("m_plumber", "Call the plumber", "Find a plumber's number in my emails"),
    ("m_rent", "Pay the rent", "Draft the March rent transfer"),
    ("m_report", "Weekly report", "Write the weekly report"),
]


def journal() -> Journal:
    return Journal(Path(os.environ["ENSEMBLE_HOME"]) / "journal.sqlite3")


def add_missions(*missions: Mission) -> None:
    book = journal()
    book.add(*missions)
    for mission in missions:
        book.audit(mission.id, "mission_started", f"Mission started: {mission.title}", text=mission.text)
    book.close()


def every_mission() -> list[Mission]:
    return [
        Mission(id=mid, title=title, text=text, status="done", started_at=START + timedelta(minutes=n))
        for n, (mid, title, text) in enumerate(MISSIONS)
    ]


@pytest.fixture
def window(qtbot: QtBot, workspace: Path) -> Iterator[MainWindow]:
    add_missions(*every_mission())
    win = open_window(qtbot, [workspace])
    # The first start imports the engine: slow on a busy machine.
    qtbot.waitUntil(lambda: win._engine_ready and len(win.missions.rows) == len(MISSIONS), timeout=4 * WAIT)
    win.activateWindow()
    yield win
    win.close()


def shown(missions: MissionsList) -> list[str]:
    return missions.shown_ids()


def select(qtbot: QtBot, missions: MissionsList, mission_id: str) -> None:
    missions.list.setFocus()
    missions.list.setCurrentRow(shown(missions).index(mission_id))
    qtbot.waitUntil(lambda: missions.list.hasFocus(), timeout=WAIT)


def press(qtbot: QtBot, widget: QWidget, key: Qt.Key, modifier: Qt.KeyboardModifier | None = None) -> None:
    if modifier is None:
        qtbot.keyClick(widget, key)  # type: ignore[no-untyped-call]
    else:
        qtbot.keyClick(widget, key, modifier)  # type: ignore[no-untyped-call]


def test_typing_in_the_search_field_filters_the_list_and_esc_brings_everything_back(
    qtbot: QtBot, window: MainWindow
) -> None:
    missions = window.missions
    assert shown(missions) == ["m_report", "m_rent", "m_plumber", "m_invoices"]
    # Ctrl+F puts the keyboard in the search field, wherever it was.
    window.chat_input.setFocus()
    press(qtbot, window.chat_input, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: missions.search.hasFocus(), timeout=WAIT)

    keys(qtbot, missions.search, "march")
    # Matched in the title ("Invoices for March") or only in what was asked ("…March rent…").
    qtbot.waitUntil(lambda: shown(missions) == ["m_rent", "m_invoices"], timeout=WAIT)
    assert set(missions.rows) == {m[0] for m in MISSIONS}  # the window still knows them all
    missions.search.selectAll()
    keys(qtbot, missions.search, "no mission says this")
    qtbot.waitUntil(lambda: shown(missions) == [], timeout=WAIT)
    assert missions.empty.isVisible()
    assert missions.empty.text() == "No missions match “no mission says this”."

    press(qtbot, missions.search, Qt.Key.Key_Escape)
    assert missions.search.text() == ""
    qtbot.waitUntil(lambda: len(shown(missions)) == len(MISSIONS), timeout=WAIT)
    assert not missions.empty.isVisible()
    # Esc in an empty field, or Down, leaves it for the list.
    press(qtbot, missions.search, Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: missions.list.hasFocus(), timeout=WAIT)
    assert missions.list.currentRow() == 0


def test_a_search_goes_on_past_its_first_page_when_scrolled(qtbot: QtBot, workspace: Path) -> None:
    total = 2 * PAGE_SIZE + 20
    add_missions(
        *(
            Mission(
                id=f"m_{n:05d}",
                title=f"Mission {n}",
                text="an even one" if n % 2 == 0 else "an odd one",
                status="done",
                started_at=START + timedelta(minutes=n),
            )
            for n in range(total)
        )
    )
    win = open_window(qtbot, [workspace])
    missions = win.missions
    qtbot.waitUntil(lambda: win._engine_ready and len(shown(missions)) == PAGE_SIZE, timeout=WAIT)
    keys(qtbot, missions.search, "EVEN")
    qtbot.waitUntil(lambda: shown(missions)[:1] == [f"m_{total - 2:05d}"], timeout=WAIT)
    assert len(shown(missions)) == PAGE_SIZE
    assert missions.has_more
    with qtbot.waitSignal(missions.more_wanted, timeout=WAIT) as asked:
        missions.list.scrollToBottom()
    assert asked.args == [PAGE_SIZE]
    evens = [f"m_{n:05d}" for n in reversed(range(0, total, 2))]
    qtbot.waitUntil(lambda: shown(missions) == evens, timeout=WAIT)
    assert not missions.has_more
    win.close()


def rename_editor(qtbot: QtBot, missions: MissionsList) -> QLineEdit:
    """The title's editor F2 opened (not one an earlier rename closed)."""

    def editors() -> list[QLineEdit]:
        found = missions.list.findChildren(QLineEdit, "missionRenameEditor")
        return [e for e in found if e.isVisible()]

    qtbot.waitUntil(lambda: len(editors()) == 1, timeout=WAIT)
    return editors()[0]


def test_f2_renames_a_mission_in_place(qtbot: QtBot, window: MainWindow) -> None:
    missions = window.missions
    select(qtbot, missions, "m_plumber")
    qtbot.waitUntil(lambda: window.view.mission_id == "m_plumber", timeout=WAIT)
    press(qtbot, missions.list, Qt.Key.Key_F2)
    editor = rename_editor(qtbot, missions)
    assert editor.accessibleName() == "New name of the mission"
    assert editor.text() == "Call the plumber"
    editor.selectAll()
    keys(qtbot, editor, "Fix the leaking tap")
    press(qtbot, editor, Qt.Key.Key_Return)

    item = missions.list.item(shown(missions).index("m_plumber"))
    qtbot.waitUntil(lambda: item.text() == "Fix the leaking tap", timeout=WAIT)
    assert window.mission_header.text() == "Fix the leaking tap"  # the mission shown says so too
    engine = window.bridge.engine
    assert engine is not None

    def stored() -> None:
        info = engine.mission_info("m_plumber")
        assert info is not None
        assert info.title == "Fix the leaking tap"

    qtbot.waitUntil(stored, timeout=WAIT)
    # Esc while renaming leaves the name as it was.
    press(qtbot, missions.list, Qt.Key.Key_F2)
    editor = rename_editor(qtbot, missions)
    keys(qtbot, editor, "something else")
    press(qtbot, editor, Qt.Key.Key_Escape)
    assert item.text() == "Fix the leaking tap"


def confirm_box(qtbot: QtBot, missions: MissionsList) -> QMessageBox:
    qtbot.waitUntil(
        lambda: missions.confirm_box is not None and missions.confirm_box.isVisible(), timeout=WAIT
    )
    box = missions.confirm_box
    assert box is not None
    return box


def test_the_delete_key_asks_first_and_keeps_the_audit_unless_ticked(
    qtbot: QtBot, window: MainWindow
) -> None:
    missions = window.missions
    engine = window.bridge.engine
    assert engine is not None
    select(qtbot, missions, "m_rent")
    qtbot.waitUntil(lambda: window.view.mission_id == "m_rent", timeout=WAIT)

    # "Keep it" changes nothing.
    press(qtbot, missions.list, Qt.Key.Key_Delete)
    box = confirm_box(qtbot, missions)
    click(qtbot, box.findChild(QPushButton, "cancelDeleteButton"))
    qtbot.waitUntil(lambda: missions.confirm_box is None, timeout=WAIT)
    assert "m_rent" in shown(missions)

    press(qtbot, missions.list, Qt.Key.Key_Delete)
    box = confirm_box(qtbot, missions)
    check = box.findChild(QCheckBox, "deleteAuditCheck")
    assert check is not None
    assert check.text() == DELETE_AUDIT_TEXT
    assert check.accessibleName() == DELETE_AUDIT_TEXT
    assert not check.isChecked()  # the audit is kept unless the person says otherwise
    assert box.text() == "Delete “Pay the rent”?"
    assert "is kept" in box.informativeText()
    with qtbot.waitSignal(missions.deleted, timeout=WAIT):
        click(qtbot, box.findChild(QPushButton, "confirmDeleteButton"))
    assert "m_rent" not in shown(missions)
    assert "m_rent" not in missions.rows
    # The next mission is shown in its place, and the keyboard stays in the list.
    qtbot.waitUntil(lambda: window.view.mission_id == "m_plumber", timeout=WAIT)
    assert missions.list.currentItem().data(Qt.ItemDataRole.UserRole + 10) == "m_plumber"
    # Its audit is still there (ensemble audit reads it), nothing else of it.
    assert [e.kind for e in engine.mission_events("m_rent")][-1] == "mission_deleted"
    assert engine.list_missions(archived=None, search="rent") == []

    # Ticked: its audit goes too. (The offscreen platform gives the window back its activation
    # only when asked; the keyboard's place in it is the list's.)
    window.activateWindow()
    qtbot.waitUntil(lambda: missions.list.hasFocus(), timeout=WAIT)
    press(qtbot, missions.list, Qt.Key.Key_Delete)
    box = confirm_box(qtbot, missions)
    box.findChild(QCheckBox, "deleteAuditCheck").setChecked(True)
    with qtbot.waitSignal(missions.deleted, timeout=WAIT) as gone:
        click(qtbot, box.findChild(QPushButton, "confirmDeleteButton"))
    assert gone.args == ["m_plumber"]
    assert engine.mission_events("m_plumber") == []
    assert engine.mission_info("m_plumber") is None


def test_archive_hides_a_mission_until_show_archived_is_ticked(qtbot: QtBot, window: MainWindow) -> None:
    missions = window.missions
    engine = window.bridge.engine
    assert engine is not None
    select(qtbot, missions, "m_report")
    menu = missions.context_menu()  # what a right click or the menu key opens
    assert isinstance(menu, QMenu)
    assert [a.text() for a in menu.actions()] == ["Rename…", "Archive", "Delete…"]
    assert menu.accessibleName() == "What to do with “Weekly report”"
    menu.actions()[1].trigger()
    qtbot.waitUntil(lambda: "m_report" not in shown(missions), timeout=WAIT)
    info = engine.mission_info("m_report")
    assert info is not None
    assert info.archived

    click(qtbot, missions.show_archived)
    qtbot.waitUntil(lambda: "m_report" in shown(missions), timeout=WAIT)
    item = missions.list.item(shown(missions).index("m_report"))
    assert str(item.data(ROLE_LINE)).startswith("Archived · ")
    # With the archived ones shown, a search finds them too.
    keys(qtbot, missions.search, "weekly")
    qtbot.waitUntil(lambda: shown(missions) == ["m_report"], timeout=WAIT)

    select(qtbot, missions, "m_report")
    assert missions.archive_action.text() == "Unarchive"
    missions.archive_action.trigger()
    item = missions.list.item(0)
    qtbot.waitUntil(lambda: not str(item.data(ROLE_LINE)).startswith("Archived"), timeout=WAIT)
    click(qtbot, missions.show_archived)
    missions.search.clear()
    qtbot.waitUntil(lambda: len(shown(missions)) == len(MISSIONS), timeout=WAIT)


def test_a_running_mission_is_not_deleted_and_the_person_is_told_why(qtbot: QtBot, workspace: Path) -> None:
    add_missions(
        Mission(id="m_busy", title="Busy", text="still going", status="running", owner_pid=os.getpid())
    )
    win = open_window(qtbot, [workspace])
    missions = win.missions
    qtbot.waitUntil(lambda: win._engine_ready and shown(missions) == ["m_busy"], timeout=WAIT)
    win.activateWindow()
    select(qtbot, missions, "m_busy")
    press(qtbot, missions.list, Qt.Key.Key_Delete)
    box = confirm_box(qtbot, missions)
    assert box.objectName() == "missionRunningBox"
    assert box.text() == "“Busy” is still running. Stop it first, then delete it."
    win.close()


def test_every_new_control_has_a_name_and_fits_the_pane(qtbot: QtBot, window: MainWindow) -> None:
    missions = window.missions
    window.resize(1024, 700)
    assert missions.search.accessibleName() == "Search missions"
    assert missions.search.placeholderText() == "Search missions"
    assert missions.show_archived.accessibleName() == "Show archived missions"
    assert missions.list.accessibleName() == "Missions"
    for action in (missions.rename_action, missions.archive_action, missions.delete_action):
        assert action.text()
    assert missions.rename_action.shortcut().toString() == "F2"
    assert missions.delete_action.shortcut().toString() == "Del"
    qtbot.waitUntil(lambda: missions.panel.width() > 0, timeout=WAIT)
    for control in (missions.search, missions.show_archived):
        assert control.isVisible()
        right = control.mapTo(missions.panel, control.rect().topRight()).x()
        assert right <= missions.panel.width()
    assert missions.show_archived.width() >= missions.show_archived.sizeHint().width()
