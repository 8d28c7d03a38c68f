"""Attaching files to a message, offscreen: the real engine on its own thread, the scripted
model over HTTP, real files. Files come from the file dialog (its seam monkeypatched) or are
dropped on the chat as a file manager drops them (file URLs in the drag's data); a new mission
gets their folders, a mission that exists gets copies (never overwriting); Send waits for a key
or the demo, and a message typed while the engine starts goes once it is up."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

_SCREEN = Path(tempfile.gettempdir()) / "ensemble-test-attachments-screen.json"
_SCREEN.write_text(
    json.dumps(
        {"screens": [{"name": "test", "x": 0, "y": 0, "width": 1920, "height": 1200, "logicalDpi": 96}]}
    ),
    encoding="utf-8",
)
os.environ.setdefault("QT_QPA_PLATFORM", f"offscreen:configfile={_SCREEN}")

from typing import TYPE_CHECKING, Any  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QDropEvent  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QAbstractButton,
    QApplication,
    QFileDialog,
    QLabel,
    QPushButton,
    QWidget,
)
from test_ui import WAIT, click, keys  # noqa: E402

from app import secrets  # noqa: E402
from app.testing.scripted_model import ScriptedModel, text  # noqa: E402
from ui.app import create_application  # noqa: E402
from ui.attachments import (  # noqa: E402
    AttachmentChip,
    copy_into_mission,
    for_new_mission,
    free_name,
    message_text,
    size_text,
)
from ui.bridge import Bridge  # noqa: E402
from ui.main_window import MainWindow  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from pytestqt.qtbot import QtBot

    from app.engine import Engine


START = 90_000  # ms: the engine's first start imports the SDK, slow on a busy machine


def open_window(qtbot: QtBot, workspaces: list[Path], *, wait: bool = True) -> MainWindow:
    create_application()
    window = MainWindow(Bridge(), workspaces=workspaces, check_key=False)
    qtbot.addWidget(window)
    window.show()
    if wait:
        qtbot.waitUntil(lambda: window._engine_ready and window.view.settings is not None, timeout=START)
    return window


@pytest.fixture
def window(qtbot: QtBot, scripted: ScriptedModel, workspace: Path) -> Iterator[MainWindow]:
    win = open_window(qtbot, [workspace])
    qtbot.waitUntil(lambda: win.view._has_key is True, timeout=WAIT)
    yield win
    win.close()


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A folder outside the workspace, with a report in it."""
    folder = tmp_path / "Documents" / "invoices"
    folder.mkdir(parents=True)
    (folder / "report.txt").write_text("the new report", encoding="utf-8")
    return folder


def engine_result(qtbot: QtBot, window: MainWindow, fn: Callable[[Engine], Any]) -> Any:
    results: list[Any] = []
    window.bridge.call(fn, results.append, what="test")
    qtbot.waitUntil(lambda: results != [], timeout=WAIT)
    return results[0]


def chips(window: MainWindow) -> list[AttachmentChip]:
    return [c for c in window.view.attachments.findChildren(AttachmentChip) if c.isVisibleTo(window)]


def drag_files(widget: QWidget, paths: list[Path]) -> tuple[QDragEnterEvent, QDropEvent, QMimeData]:
    """A file manager's drag of ``paths`` onto ``widget``: its data, the enter and the drop."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    at = widget.rect().center()
    actions = Qt.DropAction.CopyAction | Qt.DropAction.MoveAction
    enter = QDragEnterEvent(at, actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    drop = QDropEvent(QPointF(at), actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    return enter, drop, mime


def wait_done(qtbot: QtBot, window: MainWindow) -> str:
    qtbot.waitUntil(lambda: window.view.mission_id is not None, timeout=WAIT)
    mission_id = window.view.mission_id
    assert mission_id is not None

    def done() -> None:
        row = window.mission_info(mission_id)
        assert row is not None
        assert row.status == "done"

    qtbot.waitUntil(done, timeout=WAIT)
    return mission_id


# Where the files go (no window) -------------------------------------------------------------------


def test_a_new_mission_gets_the_folders_of_files_outside_its_own(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    inside = work / "sub" / "a.xlsx"
    inside.write_bytes(b"x")
    other = tmp_path / "other"
    other.mkdir()
    first, second = other / "b.pdf", other / "c.pdf"
    first.write_bytes(b"x")
    second.write_bytes(b"x")

    outcome = for_new_mission([inside, first, second], [work])

    assert outcome.added == [other]
    assert outcome.files == [inside, first, second]
    assert outcome.lines == [
        f"a.xlsx is already in {work}",
        f"Added the folder {other} to this mission (for b.pdf, c.pdf)",
    ]
    assert message_text("Check them", outcome.files).splitlines()[-1] == f"Attached: {second}"


def test_copies_never_overwrite_and_keep_the_name_when_free(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "report.pdf").write_bytes(b"old")
    (work / "report (2).pdf").write_bytes(b"older")
    source = tmp_path / "report.pdf"
    source.write_bytes(b"new" * 100_000)
    fresh = tmp_path / "notes.txt"
    fresh.write_text("notes", encoding="utf-8")

    outcome = copy_into_mission([source, fresh, work / "report.pdf"], [work])

    assert outcome.files == [work / "report (3).pdf", work / "notes.txt", work / "report.pdf"]
    assert (work / "report.pdf").read_bytes() == b"old"
    assert (work / "report (2).pdf").read_bytes() == b"older"
    assert (work / "report (3).pdf").read_bytes() == source.read_bytes()
    assert outcome.lines == [
        f"Copied report.pdf into {work} as report (3).pdf",
        f"Copied notes.txt into {work}",
        f"report.pdf is already in {work}",
    ]
    assert free_name(work, "notes.txt") == work / "notes (2).txt"
    assert size_text(512) == "512 bytes"
    assert size_text(1_234_567) == "1.2 MB"


# In the window --------------------------------------------------------------------------------------


def test_files_are_attached_from_the_dialog_and_by_dropping_them_on_the_chat(
    qtbot: QtBot, window: MainWindow, elsewhere: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = window.view
    report = elsewhere / "report.txt"
    big = elsewhere / "big.bin"
    with big.open("wb") as out:  # sparse: big, and never read
        out.truncate(3_000_000_000)
    asked: list[str] = []

    def choose(_parent: object, caption: str, *_args: object, **_kwargs: object) -> tuple[list[str], str]:
        asked.append(caption)
        return [str(report), str(big)], ""

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(choose))
    attach = window.findChild(QPushButton, "attachButton")
    assert attach is view.attach_button
    assert attach.accessibleName() == "Attach files"
    assert "Ctrl+O" in attach.toolTip()
    click(qtbot, attach)
    assert asked
    assert [c.attachment.path for c in chips(window)] == [report, big]
    labels = [c.label.text() for c in chips(window)]
    assert labels == ["report.txt · 14 bytes", "big.bin · 3.0 GB"]
    assert chips(window)[0].accessibleName() == "Attached file report.txt, 14 bytes"

    # The keyboard reaches each chip's remove button; Space removes the file.
    remove = chips(window)[1].remove_button
    assert remove.accessibleName() == "Remove big.bin"
    assert remove.focusPolicy() & Qt.FocusPolicy.TabFocus
    remove.setFocus()
    qtbot.keyClick(remove, Qt.Key.Key_Space)  # type: ignore[no-untyped-call]
    qtbot.waitUntil(lambda: len(chips(window)) == 1, timeout=WAIT)

    # Dropped on the chat, as a file manager drops them: the highlight shows while dragging.
    (tmp_path / "notes.txt").write_text("notes", encoding="utf-8")
    target = window.chat_view.browser.viewport()
    enter, drop, _mime = drag_files(target, [tmp_path / "notes.txt", tmp_path / "gone.txt"])
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    assert view.drop_overlay.isVisible()
    assert "Drop" in view.drop_overlay.text()
    QApplication.sendEvent(target, drop)
    assert drop.isAccepted()
    assert not view.drop_overlay.isVisible()
    assert [c.attachment.path.name for c in chips(window)] == ["report.txt", "notes.txt"]
    assert "gone.txt does not exist" in view.attachments.note.text()

    # A drag that leaves hides the highlight; text dragged in is the box's own business.
    enter, _drop, _mime = drag_files(window.chat_input.viewport(), [report])
    QApplication.sendEvent(window.chat_input.viewport(), enter)
    assert view.drop_overlay.isVisible()
    QApplication.sendEvent(window.chat_input.viewport(), QDragLeaveEvent())
    assert not view.drop_overlay.isVisible()
    words = QMimeData()
    words.setText("just words")
    text_enter = QDragEnterEvent(
        QPoint(5, 5),
        Qt.DropAction.CopyAction,
        words,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window.chat_input.viewport(), text_enter)
    assert not view.drop_overlay.isVisible()

    # A folder dropped on a new mission is a folder the agents may use.
    enter, drop, _mime = drag_files(window.chat_view, [elsewhere])
    QApplication.sendEvent(window.chat_view, enter)
    QApplication.sendEvent(window.chat_view, drop)
    assert elsewhere.resolve() in window.workspaces()
    assert len(chips(window)) == 2


def test_a_new_mission_gets_the_folder_of_a_file_from_elsewhere(
    qtbot: QtBot, window: MainWindow, scripted: ScriptedModel, workspace: Path, elsewhere: Path
) -> None:
    scripted.add("Summarise the report", text("The report is summarised."))
    window.view.attach_paths([str(elsewhere / "report.txt")])
    window.chat_input.setFocus()
    keys(qtbot, window.chat_input, "Summarise the report")
    click(qtbot, window.send_button)
    assert chips(window) == []
    mission_id = wait_done(qtbot, window)

    info = engine_result(qtbot, window, lambda e: e.mission_info(mission_id))
    assert str(elsewhere.resolve()) in info.workspaces
    assert str(workspace.resolve()) in info.workspaces
    assert f"Attached: {elsewhere.resolve() / 'report.txt'}" in info.text
    first = scripted.requests[0]["messages"][0]["content"]
    assert f"Attached: {elsewhere.resolve() / 'report.txt'}" in json.dumps(first)
    qtbot.waitUntil(
        lambda: any("Added the folder" in m and "invoices" in m for m in window.chat_view.messages),
        timeout=WAIT,
    )
    # The note comes right after the person's message, and stays when the mission is shown again.
    messages = window.chat_view.messages
    index = next(i for i, m in enumerate(messages) if "Added the folder" in m)
    assert "Summarise the report" in messages[index - 1]
    # The chat names the file; its whole path is for the agents.
    assert "Attached: report.txt" in messages[index - 1]
    assert str(elsewhere.resolve()) not in messages[index - 1]
    with qtbot.waitSignal(window.mission_shown, timeout=WAIT):
        window.show_mission(mission_id)
    assert any("Added the folder" in m for m in window.chat_view.messages)
    window.close()


def test_a_file_sent_to_an_ended_mission_is_copied_into_its_folder_without_overwriting(
    qtbot: QtBot, window: MainWindow, scripted: ScriptedModel, workspace: Path, elsewhere: Path
) -> None:
    scripted.add("Summarise the invoices", text("Summarised."), text("Read the new report."))
    (workspace / "report.txt").write_text("the old report", encoding="utf-8")
    window.chat_input.setFocus()
    keys(qtbot, window.chat_input, "Summarise the invoices")
    click(qtbot, window.send_button)
    mission_id = wait_done(qtbot, window)

    window.view.attach_paths([str(elsewhere / "report.txt")])
    keys(qtbot, window.chat_input, "Also read this one")
    click(qtbot, window.send_button)
    copy = workspace.resolve() / "report (2).txt"
    qtbot.waitUntil(lambda: any("Copied report.txt" in m for m in window.chat_view.messages), timeout=WAIT)
    qtbot.waitUntil(lambda: len(scripted.requests) >= 2, timeout=WAIT)
    assert copy.read_text(encoding="utf-8") == "the new report"
    assert (workspace / "report.txt").read_text(encoding="utf-8") == "the old report"
    assert (elsewhere / "report.txt").exists(), "the original stays where it was"
    note = next(m for m in window.chat_view.messages if "Copied report.txt" in m)
    assert "report (2).txt" in note
    assert f"Attached: {copy}" in json.dumps(scripted.requests[1]["messages"])
    info = engine_result(qtbot, window, lambda e: e.mission_info(mission_id))
    assert info.workspaces == [str(workspace.resolve())], "a mission's folders do not change"

    # A folder cannot join a mission that exists: the person is told why.
    window.view.attach_paths([str(elsewhere)])
    assert "cannot change" in window.view.attachments.note.text()
    assert chips(window) == []


def test_send_waits_for_a_key_with_a_hint_and_works_once_the_key_is_saved(
    qtbot: QtBot, workspace: Path, memory_keyring: Any
) -> None:
    window = open_window(qtbot, [workspace])
    view = window.view
    qtbot.waitUntil(lambda: view._has_key is False, timeout=WAIT)
    assert view.send_hint.isVisible()
    assert not window.send_button.isEnabled()
    assert window.chat_input.isEnabled(), "typing is fine; only sending waits"
    assert "API key" in view.send_hint_label.text()
    for button in (view.key_button, view.try_demo_button):
        assert button.isVisible()
        assert button.accessibleName()
    keys(qtbot, window.chat_input, "Summarise the invoices")
    window.view.on_send_clicked()  # Enter or Ctrl+Enter: nothing goes
    assert window.chat_input.toPlainText() == "Summarise the invoices"
    assert window.view.mission_id is None

    with qtbot.waitSignal(window.settings_opened, timeout=WAIT) as opened:
        click(qtbot, view.key_button)
    dialog = opened.args[0]
    keys(qtbot, dialog.key_input, "sk-ant-new-key-1234")
    click(qtbot, dialog.findChild(QPushButton, "saveSettingsButton"))
    assert window.send_button.isEnabled(), "Send works at once"
    assert not view.send_hint.isVisible()
    qtbot.waitUntil(lambda: secrets.get_secret(secrets.API_KEY_ENTRY) == "sk-ant-new-key-1234", timeout=WAIT)
    window.close()


def test_the_hint_offers_the_demo(qtbot: QtBot, memory_keyring: Any) -> None:
    window = open_window(qtbot, [])
    qtbot.waitUntil(window.view.send_hint.isVisible, timeout=WAIT)
    with qtbot.waitSignal(window.mission_shown, timeout=WAIT):
        click(qtbot, window.view.try_demo_button)
    assert window.demo_banner.isVisible()
    assert not window.view.send_hint.isVisible(), "the demo is on: nothing to explain"
    assert not window.view.attach_button.isEnabled(), "the demo takes no follow-ups"
    engine_result(qtbot, window, lambda e: e.cancel_all())
    window.close()


def test_a_mission_typed_while_the_engine_starts_goes_once_it_is_up(
    qtbot: QtBot, scripted: ScriptedModel, workspace: Path
) -> None:
    scripted.add("Summarise the invoices", text("Summarised."))
    window = open_window(qtbot, [workspace], wait=False)
    assert window.view.settings is None, "the engine is still starting"
    window.chat_input.setFocus()
    keys(qtbot, window.chat_input, "Summarise the invoices")
    qtbot.keyClick(window.chat_input, Qt.Key.Key_Return)  # type: ignore[no-untyped-call]
    assert window.view.send_hint.isVisible()
    assert "still starting" in window.view.send_hint_label.text()
    assert window.chat_input.isReadOnly()
    qtbot.waitUntil(lambda: window.view.mission_id is not None, timeout=START)
    mission_id = wait_done(qtbot, window)
    assert not window.view.send_hint.isVisible()
    assert not window.chat_input.isReadOnly()
    assert window.chat_input.toPlainText() == ""
    assert window.mission_info(mission_id) is not None
    window.close()


def test_every_new_control_is_named_and_fits_at_1024x700(
    qtbot: QtBot, workspace: Path, memory_keyring: Any, elsewhere: Path
) -> None:
    window = open_window(qtbot, [workspace])
    view = window.view
    qtbot.waitUntil(view.send_hint.isVisible, timeout=WAIT)
    long_name = elsewhere / ("a rather long name for a quarterly report of invoices " * 2 + ".pdf")
    long_name.write_bytes(b"x" * 2048)
    view.attach_paths([str(elsewhere / "report.txt"), str(long_name), str(elsewhere / "missing.pdf")])
    window.resize(1024, 700)
    qtbot.waitUntil(lambda: window.width() == 1024 and window.height() == 700, timeout=WAIT)
    qtbot.waitUntil(lambda: view.attach_button.width() >= view.attach_button.sizeHint().width(), timeout=WAIT)
    QApplication.processEvents()

    centre = view.centre
    new: list[QWidget] = [
        view.attach_button,
        view.attachments,
        view.attachments.note,
        view.send_hint,
        view.send_hint_label,
        view.key_button,
        view.try_demo_button,
        *chips(window),
        *(c.remove_button for c in chips(window)),
        *(c.label for c in chips(window)),
    ]
    problems: list[str] = []
    for widget in new:
        name = widget.objectName()
        if not widget.accessibleName():
            problems.append(f"{name} has no accessible name")
        if not widget.isVisible():
            problems.append(f"{name} is not visible")
            continue
        left = widget.mapTo(centre, QPoint(0, 0))
        if left.x() < 0 or left.x() + widget.width() > centre.width():
            problems.append(f"{name} spans x {left.x()}..{left.x() + widget.width()}, pane {centre.width()}")
        if left.y() < 0 or left.y() + widget.height() > centre.height():
            problems.append(
                f"{name} spans y {left.y()}..{left.y() + widget.height()}, pane {centre.height()}"
            )
        if isinstance(widget, QAbstractButton) and widget.sizeHint().width() > widget.width():
            problems.append(f"{name} is {widget.width()} wide, its text needs {widget.sizeHint().width()}")
        if (
            isinstance(widget, QLabel)
            and widget.wordWrap()
            and widget.heightForWidth(widget.width()) > widget.height()
        ):
            problems.append(f"{name} is too short for its text")
    assert problems == []
    assert view.drop_overlay.accessibleName()
    window.close()
