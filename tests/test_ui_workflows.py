"""The Workflows pane end to end, offscreen: the real engine on its own thread, the scripted
model over HTTP, the real journal. The tests click and type as a person would: save a
finished mission as a workflow, run it with other values from its form, schedule it, close
the window (Ensemble stays in the tray for its schedules), and get a notification when an
unattended run needs the person."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

# Before any QApplication exists: offscreen, on a screen as big as a desktop's.
_SCREEN = Path(tempfile.gettempdir()) / "ensemble-test-workflows-screen.json"
_SCREEN.write_text(
    json.dumps(
        {"screens": [{"name": "test", "x": 0, "y": 0, "width": 1920, "height": 1200, "logicalDpi": 96}]}
    ),
    encoding="utf-8",
)
os.environ.setdefault("QT_QPA_PLATFORM", f"offscreen:configfile={_SCREEN}")

import asyncio  # noqa: E402
import inspect  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import QDate, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QApplication,
    QDateEdit,
    QDoubleSpinBox,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSystemTrayIcon,
    QWidget,
)
from test_ui import WAIT, click, delegate, keys, send, task, write  # noqa: E402

from app.api import ProposedParam, Schedule, WorkflowParam, WorkflowSpec  # noqa: E402
from app.testing.scripted_model import ScriptedModel, text, tool_call  # noqa: E402
from ui.app import create_application  # noqa: E402
from ui.bridge import Bridge  # noqa: E402
from ui.main_window import BACKGROUND_TITLE, MainWindow  # noqa: E402
from ui.widgets import app_icon  # noqa: E402
from ui.workflow_dialogs import (  # noqa: E402
    CATCH_UP_ONCE,
    ParamField,
    RunDialog,
    SaveAsWorkflowDialog,
    ScheduleDialog,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from pytestqt.qtbot import QtBot

    from app.engine import Engine

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def open_window(qtbot: QtBot, workspace: Path, *, schedules: bool = False) -> MainWindow:
    create_application()
    window = MainWindow(Bridge(), workspaces=[workspace], check_key=False, schedules=schedules)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window._engine_ready and window.workspaces() != [], timeout=WAIT)
    return window


@pytest.fixture
def window(qtbot: QtBot, scripted: ScriptedModel, workspace: Path) -> Iterator[MainWindow]:
    win = open_window(qtbot, workspace)
    yield win
    win.close()


def on_engine(window: MainWindow, fn: Callable[[Engine], Any]) -> Any:
    """Runs ``fn(engine)`` on the engine's loop and returns its result (the test's setup)."""

    async def run() -> Any:
        engine = window.bridge.engine
        assert engine is not None
        result = fn(engine)
        if inspect.isawaitable(result):
            result = await result
        return result

    return asyncio.run_coroutine_threadsafe(run(), window.bridge.loop).result(WAIT / 1000)


def invoices_workflow(workspace: Path, **changes: Any) -> WorkflowSpec:
    data: dict[str, Any] = {
        "name": "Chase overdue invoices",
        "description": "Find the open invoices of a month and mark them overdue.",
        "instruction": (
            "Chase the invoices of {month} over {amount} EUR listed in {book}; save to {folder}. {note}"
        ),
        "params": [
            WorkflowParam(
                name="month", type="date", default="2026-11-01", description="The first day of the month"
            ),
            WorkflowParam(
                name="amount", type="number", default="12.5", description="Only invoices above this"
            ),
            WorkflowParam(
                name="book", type="file", default=str(workspace / "invoices.xlsx"), description="The book"
            ),
            WorkflowParam(name="folder", type="folder", default=str(workspace), description="Where to save"),
            WorkflowParam(name="note", type="text", default="Be polite.", description="Anything else"),
        ],
        "workspaces": [str(workspace)],
    }
    data.update(changes)
    return WorkflowSpec.model_validate(data)


def wait_listed(qtbot: QtBot, window: MainWindow, names: list[str]) -> None:
    qtbot.waitUntil(lambda: window.workflows.pane.names() == names, timeout=WAIT)


def opened_dialog(qtbot: QtBot, window: MainWindow, button: QPushButton) -> Any:
    with qtbot.waitSignal(window.workflows.dialog_opened, timeout=WAIT) as opened:
        click(qtbot, button)
    return opened.args[0]


# The pane ---------------------------------------------------------------------------------------


def test_the_pane_lists_the_workflows_with_how_they_run(
    qtbot: QtBot, window: MainWindow, workspace: Path
) -> None:
    on_engine(window, lambda e: e.save_workflow(invoices_workflow(workspace)))
    on_engine(
        window,
        lambda e: e.save_workflow(WorkflowSpec(name="Weekly report", instruction="Summarise the week.")),
    )
    on_engine(
        window,
        lambda e: e.set_schedule("Weekly report", Schedule(kind="weekly", days=["mon"], at="08:30")),
    )
    assert not window.workflows.pane.isVisible()

    click(qtbot, window.workflows_button)

    assert window.workflows.pane.isVisible()
    assert not window.splitter.isVisible()
    wait_listed(qtbot, window, ["Chase overdue invoices", "Weekly report"])
    pane = window.workflows.pane
    entries = [pane.list.item(i).text() for i in range(pane.list.count())]
    assert entries[0].splitlines()[1:] == ["Runs when you start it", "Not run yet"]
    assert entries[1].splitlines()[1] == "Every Monday at 08:30"
    assert entries[1].splitlines()[2].startswith("Next: Mon ")
    assert pane.title.text() == "Chase overdue invoices"
    assert "month (date, usually 2026-11-01): The first day of the month" in pane.params.text()
    qtbot.waitUntil(
        lambda: pane.history.count() == 1 and pane.history.item(0).text() == "No runs yet.", timeout=WAIT
    )

    pane.list.setCurrentRow(1)
    assert pane.title.text() == "Weekly report"
    assert pane.when.text().startswith("Every Monday at 08:30. Next run: Mon ")
    assert pane.schedule_button.text() == "Schedule… ✓"
    # Back to the missions, by the button or Escape.
    click(qtbot, pane.back_button)
    assert window.splitter.isVisible()
    assert not window.workflows_button.isChecked()


def test_the_run_form_builds_a_widget_per_type_and_runs_with_the_values_typed(
    qtbot: QtBot, window: MainWindow, scripted: ScriptedModel, workspace: Path
) -> None:
    scripted.add("Chase the invoices of 2026-12-01 over 40.0 EUR", text("Chased them."))
    on_engine(window, lambda e: e.save_workflow(invoices_workflow(workspace)))
    window.show_workflows()
    wait_listed(qtbot, window, ["Chase overdue invoices"])

    dialog = opened_dialog(qtbot, window, window.workflows.pane.run_button)

    assert isinstance(dialog, RunDialog)
    fields = {name: field.input for name, field in dialog.fields.items()}
    assert isinstance(fields["month"], QDateEdit)
    assert fields["month"].date() == QDate(2026, 11, 1)
    assert isinstance(fields["amount"], QDoubleSpinBox)
    assert fields["amount"].value() == 12.5
    assert isinstance(fields["book"], QLineEdit)
    assert fields["book"].text() == str(workspace / "invoices.xlsx")
    assert dialog.fields["book"].browse_button is not None
    assert dialog.fields["folder"].browse_button is not None
    assert isinstance(fields["note"], QLineEdit)
    assert dialog.fields["note"].browse_button is None
    help_text = dialog.findChild(QWidget, "paramHelp_month")
    assert help_text is not None
    assert help_text.text() == "The first day of the month"  # type: ignore[attr-defined]
    assert "of 2026-11-01 over 12.5 EUR" in dialog.preview.text()

    fields["month"].setDate(QDate(2026, 12, 1))
    fields["amount"].setValue(40)
    note = fields["note"]
    note.clear()
    keys(qtbot, note, "Copy the boss.")
    assert "of 2026-12-01 over 40.0 EUR" in dialog.preview.text()
    with qtbot.waitSignal(window.mission_shown, timeout=WAIT) as shown:
        click(qtbot, dialog.run_button)

    mission_id = shown.args[0]
    assert window.splitter.isVisible()
    assert window.view.mission_id == mission_id
    qtbot.waitUntil(lambda: window.mission_info(mission_id).status == "done", timeout=WAIT)  # type: ignore[union-attr]
    first = scripted.requests[0]
    asked = json.dumps(first["messages"][0])
    assert "Chase the invoices of 2026-12-01 over 40.0 EUR" in asked
    assert "Copy the boss." in asked
    assert window.workflows.run_of(mission_id) is not None
    assert not window.workflows.run_of(mission_id).unattended  # type: ignore[union-attr]
    [run] = on_engine(window, lambda e: e.workflow_runs("Chase overdue invoices"))
    assert run.mission_id == mission_id
    assert run.params["month"] == "2026-12-01"


def test_a_number_keeps_whole_numbers_whole(qtbot: QtBot) -> None:
    create_application()
    field = ParamField(WorkflowParam(name="count", type="number", default="3"))
    qtbot.addWidget(field)
    assert isinstance(field.input, QDoubleSpinBox)
    assert field.value() == "3"
    field.input.setValue(7)
    assert field.value() == "7"


# The schedule -----------------------------------------------------------------------------------


def test_the_schedule_dialog_makes_a_weekly_schedule_and_says_it_in_words(
    qtbot: QtBot, window: MainWindow, workspace: Path
) -> None:
    on_engine(window, lambda e: e.save_workflow(invoices_workflow(workspace)))
    window.show_workflows()
    wait_listed(qtbot, window, ["Chase overdue invoices"])

    dialog = opened_dialog(qtbot, window, window.workflows.pane.schedule_button)

    assert isinstance(dialog, ScheduleDialog)
    assert dialog.catch_up_once.isChecked()
    assert dialog.catch_up_once.text() == CATCH_UP_ONCE
    dialog.kind_input.setCurrentIndex(dialog.kind_input.findData("weekly"))
    assert not dialog.save_button.isEnabled()  # no day chosen yet
    assert "days" in dialog.preview.text()
    click(qtbot, dialog.day_boxes["mon"])
    click(qtbot, dialog.day_boxes["thu"])
    dialog.time_input.setTime(dialog.time_input.time().fromString("09:00", "HH:mm"))

    assert dialog.schedule() == Schedule(kind="weekly", days=["mon", "thu"], at="09:00", catch_up="once")
    assert dialog.preview.text() == "Every Monday and Thursday at 09:00"
    next_text = dialog.next_label.text()
    assert next_text.startswith(("Next run: Monday", "Next run: Thursday"))
    assert next_text.endswith("at 09:00.")
    with qtbot.waitSignal(window.workflows.saved, timeout=WAIT) as saved:
        click(qtbot, dialog.save_button)

    assert saved.args[0].schedule == "Every Monday and Thursday at 09:00"
    info = on_engine(window, lambda e: e.workflow_info("Chase overdue invoices"))
    assert info.spec.schedule == Schedule(kind="weekly", days=["mon", "thu"], at="09:00")
    pane = window.workflows.pane
    assert pane.message.text() == (
        "“Chase overdue invoices” now runs by itself: Every Monday and Thursday at 09:00."
    )
    qtbot.waitUntil(lambda: "Every Monday and Thursday at 09:00" in pane.when.text(), timeout=WAIT)
    qtbot.waitUntil(lambda: "Every Monday and Thursday at 09:00" in pane.list.item(0).text(), timeout=WAIT)


def test_a_schedule_the_engine_refuses_says_why_in_the_dialog(
    qtbot: QtBot, window: MainWindow, workspace: Path
) -> None:
    needs = invoices_workflow(workspace, params=[WorkflowParam(name="month", type="text")])
    on_engine(window, lambda e: e.save_workflow(needs))
    window.show_workflows()
    wait_listed(qtbot, window, ["Chase overdue invoices"])
    dialog = opened_dialog(qtbot, window, window.workflows.pane.schedule_button)
    dialog.kind_input.setCurrentIndex(dialog.kind_input.findData("daily"))

    click(qtbot, dialog.save_button)

    qtbot.waitUntil(dialog.error_label.isVisible, timeout=WAIT)
    assert "month" in dialog.error_label.text()
    assert dialog.isVisible()
    assert not window.error_banner.isVisible()


# Save as workflow ---------------------------------------------------------------------------------


def test_save_as_workflow_from_a_finished_mission_with_a_proposed_value(
    qtbot: QtBot, window: MainWindow, scripted: ScriptedModel
) -> None:
    proposal = tool_call(
        "propose_parameters",
        {
            "params": [
                {"name": "month", "type": "text", "description": "The month to chase", "value": "2026-11"}
            ]
        },
    )
    scripted.add("Answer with the propose_parameters tool", proposal)
    scripted.add("Chase the invoices of 2026-11", text("Chased."))
    send(qtbot, window, "Chase the invoices of 2026-11")
    qtbot.waitUntil(lambda: window.view.mission_id is not None, timeout=WAIT)
    mission_id = window.view.mission_id
    assert mission_id is not None
    qtbot.waitUntil(lambda: window.mission_info(mission_id).status == "done", timeout=WAIT)  # type: ignore[union-attr]
    button = window.view.save_workflow_button
    qtbot.waitUntil(button.isVisible, timeout=WAIT)

    dialog = opened_dialog(qtbot, window, button)

    assert isinstance(dialog, SaveAsWorkflowDialog)
    qtbot.waitUntil(lambda: not dialog.busy.isVisible(), timeout=WAIT)
    assert dialog.params.rows() == [
        {
            "Name": "month",
            "Value in this mission": "2026-11",
            "Type": "text",
            "What it is": "The month to chase",
        }
    ]
    qtbot.waitUntil(lambda: dialog.instruction_label.text() == "Chase the invoices of 2026-11", timeout=WAIT)
    # The suggested name is the mission's title with the value made a blank: not "… of 2026-11",
    # which would name every later run after the first one's month.
    assert dialog.name_input.text() == "Chase the invoices of {month}"
    dialog.name_input.setText("Monthly chase")
    with qtbot.waitSignal(window.workflows.saved, timeout=WAIT):
        click(qtbot, dialog.save_button)

    info = on_engine(window, lambda e: e.workflow_info("Monthly chase"))
    assert "{month}" in info.spec.instruction
    assert "2026-11" not in info.spec.instruction
    assert [(p.name, p.default) for p in info.spec.params] == [("month", "2026-11")]
    # The window shows the new workflow in its pane.
    assert window.workflows.pane.isVisible()
    wait_listed(qtbot, window, ["Monthly chase"])
    assert window.workflows.pane.selected_name() == "Monthly chase"


# Closing and notifications ------------------------------------------------------------------------


def fake_tray(window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    """Offscreen has no system tray: give the window an icon as if it had one."""
    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    monkeypatch.setattr(window, "_tray", QSystemTrayIcon(app_icon(), window))


def press_close_button(window: MainWindow) -> None:
    from PySide6.QtGui import QCloseEvent

    handle = window.windowHandle()
    assert handle is not None
    QApplication.sendEvent(handle, QCloseEvent())


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # offscreen: no window manager
def test_closing_with_a_scheduled_workflow_keeps_ensemble_in_the_tray(
    qtbot: QtBot, scripted: ScriptedModel, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    win = open_window(qtbot, workspace, schedules=True)
    qtbot.waitUntil(lambda: win.workflows.owns_schedules, timeout=WAIT)
    on_engine(win, lambda e: e.save_workflow(invoices_workflow(workspace)))
    fake_tray(win, monkeypatch)
    assert win.busy_missions() == []
    # Without a schedule, closing quits as before: nothing would run in the tray.
    assert not win.workflows.keeps_running()

    win.show_workflows()
    wait_listed(qtbot, win, ["Chase overdue invoices"])
    dialog = opened_dialog(qtbot, win, win.workflows.pane.schedule_button)
    dialog.kind_input.setCurrentIndex(dialog.kind_input.findData("daily"))
    with qtbot.waitSignal(win.workflows.loaded, timeout=WAIT):
        click(qtbot, dialog.save_button)
    assert win.workflows.keeps_running()

    with qtbot.waitSignal(win.hidden_to_tray, timeout=WAIT):
        press_close_button(win)

    assert not win.isVisible()
    assert win.bridge._thread.is_alive()
    assert on_engine(win, lambda e: e.owns_schedules)
    [note] = [n for n in win.notifications if n.startswith(BACKGROUND_TITLE)]
    assert "scheduled workflows run from here" in note
    # Quit (the tray's menu) closes for good, and lets the schedules go.
    with qtbot.waitSignal(win.closed, timeout=WAIT):
        assert win.request_quit()
    assert not win.bridge._thread.is_alive()


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # offscreen: no window manager
def test_closing_without_a_tray_while_workflows_are_scheduled_asks_and_can_minimise(
    qtbot: QtBot, scripted: ScriptedModel, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, with no tray to wait in, the close button quit at once and the schedules
    stopped without a word."""
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: False))
    win = open_window(qtbot, workspace, schedules=True)
    qtbot.waitUntil(lambda: win.workflows.owns_schedules, timeout=WAIT)
    spec = invoices_workflow(workspace, schedule=Schedule(kind="daily", at="09:00"))
    on_engine(win, lambda e: e.save_workflow(spec))
    win.show_workflows()
    wait_listed(qtbot, win, ["Chase overdue invoices"])
    qtbot.waitUntil(win.workflows.keeps_running, timeout=WAIT)
    asked: list[str] = []

    def answer(box: QMessageBox, name: str) -> None:
        asked.append(box.text())
        button = box.findChild(QPushButton, name)
        assert button is not None
        QTimer.singleShot(0, button.click)

    win.tray.quit_asked.connect(lambda box: answer(box, "minimiseButton"))
    press_close_button(win)
    assert asked
    assert "run only while Ensemble is open" in asked[0]
    assert win.bridge._thread.is_alive()
    assert on_engine(win, lambda e: e.owns_schedules)

    win.tray.quit_asked.disconnect()
    win.tray.quit_asked.connect(lambda box: answer(box, "quitButton"))
    with qtbot.waitSignal(win.closed, timeout=WAIT):
        press_close_button(win)
    assert not win.bridge._thread.is_alive()


def test_a_second_window_says_calmly_who_runs_the_schedules(
    qtbot: QtBot, scripted: ScriptedModel, workspace: Path
) -> None:
    first = open_window(qtbot, workspace, schedules=True)
    qtbot.waitUntil(lambda: first.workflows.owns_schedules, timeout=WAIT)

    states: list[tuple[bool, str]] = []
    second = MainWindow(Bridge(), workspaces=[workspace], check_key=False, schedules=True)
    second.workflows.schedules_state.connect(lambda owns, who: states.append((owns, who)))
    qtbot.addWidget(second)
    second.show()
    qtbot.waitUntil(lambda: bool(states), timeout=WAIT)

    [(owns, who)] = states
    assert not owns
    assert "window" in who
    second.show_workflows()
    note = second.workflows.pane.owner_note
    assert note.isVisible()
    assert "Scheduled and triggered workflows run there" in note.text()
    assert not second.error_banner.isVisible()
    second.close()
    first.close()


@pytest.mark.qt_log_ignore("This plugin does not support raise")
def test_an_unattended_run_waiting_for_the_person_notifies_and_the_notification_opens_its_card(
    qtbot: QtBot,
    window: MainWindow,
    scripted: ScriptedModel,
    workspace: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scripted.add(
        "Mark INV-1", delegate(task("mark", "MARK-TASK: set E2 to overdue")), text("INV-1 is **marked**.")
    )
    scripted.add("MARK-TASK", write("E2", [["overdue"]]), text("Wrote E2."))
    spec = WorkflowSpec(name="Mark overdue", instruction="Mark INV-1 as overdue", workspaces=[str(workspace)])
    on_engine(window, lambda e: e.save_workflow(spec))
    # The person is elsewhere: the window is hidden in the tray.
    fake_tray(window, monkeypatch)
    window.hide()

    with qtbot.waitSignal(
        window.notified,
        timeout=WAIT,
        check_params_cb=lambda n: n.startswith("Workflow “Mark overdue” needs you"),
    ) as notified:
        mission_id = on_engine(window, lambda e: e.run_workflow("Mark overdue", reason="schedule"))

    assert (
        notified.args[0]
        == "Workflow “Mark overdue” needs you: " + window.approval_pane.cards[0].preview.summary
    )
    assert window.tray.last_notified == mission_id
    run = window.workflows.run_of(mission_id)
    assert run is not None
    assert run.unattended

    # Clicking the notification shows the window on that mission, its card focused.
    window.tray.on_message_clicked()
    assert window.isVisible()
    assert window.view.mission_id == mission_id
    assert window.splitter.isVisible()
    [card] = window.approval_pane.cards
    assert card.mission_id == mission_id

    # Approved, the run finishes: said too, by the workflow's name, while the person looks away.
    monkeypatch.setattr(window, "in_background", lambda: True)
    with qtbot.waitSignal(
        window.notified,
        timeout=WAIT,
        check_params_cb=lambda n: n.startswith("Workflow “Mark overdue” finished"),
    ):
        click(qtbot, card.findChild(QPushButton, "approveButton"))  # type: ignore[arg-type]


# How it looks ---------------------------------------------------------------------------------------


def test_the_pane_fits_1024x700_and_its_screenshot_is_saved(
    qtbot: QtBot, window: MainWindow, scripted: ScriptedModel, workspace: Path
) -> None:
    scripted.add("Chase the invoices of 2026-11-01", text("Chased."))
    on_engine(window, lambda e: e.save_workflow(invoices_workflow(workspace)))
    on_engine(
        window,
        lambda e: e.set_schedule(
            "Chase overdue invoices", Schedule(kind="weekly", days=["mon", "thu"], at="09:00")
        ),
    )
    weekly = WorkflowSpec(
        name="File incoming supplier invoices",
        description="When a supplier emails an invoice, add it to the book and file the PDF.",
        instruction="Add the invoice in {email} to invoices.xlsx and file its PDF.",
        params=[WorkflowParam(name="email", type="email", description="The email that arrived")],
        workspaces=[str(workspace)],
    )
    on_engine(window, lambda e: e.save_workflow(weekly))
    on_engine(window, lambda e: e.run_workflow("Chase overdue invoices"))
    window.resize(1024, 700)
    window.show_workflows("Chase overdue invoices")
    pane = window.workflows.pane
    qtbot.waitUntil(
        lambda: pane.history.count() == 1 and "Run by hand" in pane.history.item(0).text(), timeout=WAIT
    )
    qtbot.waitUntil(lambda: "✓ Done" in pane.history.item(0).text(), timeout=WAIT)
    window.workflows.refresh()
    qtbot.waitUntil(lambda: "Last: ✓ Done" in pane.list.item(0).text(), timeout=WAIT)
    QApplication.processEvents()

    problems = clipped(pane)
    ARTIFACTS.mkdir(exist_ok=True)
    assert window.grab().save(str(ARTIFACTS / "workflows-pane-1024x700.png"))
    assert problems == []


def clipped(root: QWidget) -> list[str]:
    """Visible buttons narrower than their text, and widgets outside their scroll area's
    viewport (or the pane) sideways."""
    problems: list[str] = []
    for button in root.findChildren(QPushButton):
        if not button.isVisible():
            continue
        if button.width() < button.sizeHint().width():
            problems.append(
                f"{button.objectName()} is squeezed ({button.width()} < {button.sizeHint().width()})"
            )
        top_left = button.mapTo(root, button.rect().topLeft())
        if top_left.x() < 0 or top_left.x() + button.width() > root.width():
            problems.append(f"{button.objectName()} is outside the pane")
    for scroll in root.findChildren(QScrollArea):
        viewport, inner = scroll.viewport(), scroll.widget()
        if inner is None:
            continue
        for child in inner.findChildren(QWidget):
            if not child.isVisible() or child.width() == 0:
                continue
            left = child.mapTo(viewport, child.rect().topLeft()).x()
            if left < 0 or left + child.width() > viewport.width() + 1:
                problems.append(f"{child.objectName() or type(child).__name__} is clipped sideways")
    return problems


def test_the_window_is_keyboard_reachable_to_the_pane(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.keyClick(
        window, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )  # type: ignore[no-untyped-call]
    assert window.workflows.pane.isVisible()
    qtbot.keyClick(window.workflows.pane.list, Qt.Key.Key_Escape)  # type: ignore[no-untyped-call]
    assert window.splitter.isVisible()


# Managing workflows ---------------------------------------------------------------------------------


def test_export_import_rename_duplicate_and_delete_from_the_pane(
    qtbot: QtBot, window: MainWindow, workspace: Path, tmp_path: Path
) -> None:
    on_engine(window, lambda e: e.save_workflow(invoices_workflow(workspace)))
    window.show_workflows()
    wait_listed(qtbot, window, ["Chase overdue invoices"])
    controller = window.workflows
    exported = tmp_path / "shared.yaml"

    controller.export_to("Chase overdue invoices", exported)
    qtbot.waitUntil(lambda: "Exported" in controller.pane.message.text(), timeout=WAIT)
    assert WorkflowSpec.from_yaml(exported.read_text(encoding="utf-8")).name == "Chase overdue invoices"

    # The same name exists: the person is asked, and keeps both.
    with qtbot.waitSignal(controller.dialog_opened, timeout=WAIT) as asked:
        controller.import_from(exported)
    question = asked.args[0]
    keep_both = question.findChild(QPushButton, "importKeepBothButton")
    assert keep_both is not None
    keep_both.click()
    wait_listed(qtbot, window, ["Chase overdue invoices", "Chase overdue invoices (imported)"])

    rename = controller.ask_rename("Chase overdue invoices (imported)")
    rename.setTextValue("Chase invoices, shared copy")
    rename.accept()
    wait_listed(qtbot, window, ["Chase invoices, shared copy", "Chase overdue invoices"])

    duplicate = controller.ask_duplicate("Chase overdue invoices")
    duplicate.accept()
    wait_listed(
        qtbot,
        window,
        ["Chase invoices, shared copy", "Chase overdue invoices", "Chase overdue invoices (copy)"],
    )

    delete = controller.ask_delete("Chase invoices, shared copy")
    confirm = delete.findChild(QPushButton, "confirmDeleteWorkflowButton")
    assert confirm is not None
    confirm.click()
    wait_listed(qtbot, window, ["Chase overdue invoices", "Chase overdue invoices (copy)"])
    assert not window.error_banner.isVisible()


def test_start_at_login_writes_and_removes_the_autostart_entry(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app import autostart
    from app.settings import Settings
    from ui.settings_dialog import SettingsDialog

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    create_application()
    dialog = SettingsDialog(Settings(), key_hint="…abcd")
    qtbot.addWidget(dialog)
    assert not dialog.start_at_login_input.isChecked()

    dialog.start_at_login_input.setChecked(True)
    with qtbot.waitSignal(dialog.saved, timeout=WAIT):
        dialog.on_save_clicked()
    assert autostart.is_enabled()

    again = SettingsDialog(Settings(), key_hint="…abcd")
    qtbot.addWidget(again)
    assert again.start_at_login_input.isChecked()
    again.start_at_login_input.setChecked(False)
    again.on_save_clicked()
    assert not autostart.is_enabled()


def test_a_typed_name_is_kept_when_the_proposals_arrive(qtbot: QtBot) -> None:
    create_application()
    dialog = SaveAsWorkflowDialog("m_1", "Chase the invoices of 2026-11", None)
    qtbot.addWidget(dialog)
    dialog.name_input.clear()
    keys(qtbot, dialog.name_input, "Monthly chase")
    month = WorkflowParam(name="month", description="The month")
    dialog.set_proposals([ProposedParam(param=month, value="2026-11")])
    assert dialog.name_input.text() == "Monthly chase"


# The command line, as a person reads it ----------------------------------------------------------


def test_importing_a_taken_name_says_both_ways_out_and_a_schedule_it_brings(
    workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    def cli(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    shared = tmp_path / "shared.yaml"
    spec = invoices_workflow(workspace, schedule=Schedule(kind="weekly", days=["mon"], at="09:00"))
    shared.write_text(spec.to_yaml(), encoding="utf-8")

    code, out, err = cli("workflow", "import", str(shared))
    assert code == 0, err
    assert "It runs by itself: Every Monday at 09:00." in out
    assert 'ensemble workflow unschedule "Chase overdue invoices"' in out

    code, _, err = cli("workflow", "import", str(shared))
    assert code == 1
    assert err == (
        "ensemble: A workflow named “Chase overdue invoices” already exists. Import it under another "
        "name with --name NEW_NAME, or replace it (as a new version) with --replace.\n"
    )
    code, out, err = cli("workflow", "import", str(shared), "--replace")
    assert code == 0, err


def test_the_service_says_which_workflow_started_and_finished_in_plain_words(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import datetime as dt
    from types import SimpleNamespace

    from app.api import MissionFinished, WorkflowRunStarted
    from app.commands_workflow import _Report

    now = dt.datetime.now(dt.UTC)
    run = SimpleNamespace(workflow="Chase soon")
    engine: Any = SimpleNamespace(workflow_run_of=lambda mission_id: run if mission_id == "m_1" else None)
    loop = asyncio.new_event_loop()
    report = _Report(engine, loop)
    report.on_event(
        WorkflowRunStarted(
            mission_id="m_1",
            at=now,
            workflow="Chase soon",
            version=2,
            run_id="wr_1",
            reason="schedule",
            plan="planned",
            unattended=True,
        )
    )
    report.on_event(MissionFinished(mission_id="m_1", at=now, status="done", result="They are **marked**."))
    report.on_event(MissionFinished(mission_id="m_2", at=now, status="failed", error="No key."))

    loop.close()
    lines = [line.split("  ", 1)[1] for line in capsys.readouterr().out.splitlines()]
    assert lines == [
        "▶ “Chase soon” started on schedule (version 2, the lead plans it): mission m_1",
        "■ “Chase soon” (mission m_1) done: They are marked.",
        "■ Mission m_2 failed: No key.",
    ]


def test_a_run_waiting_for_the_person_is_marked_with_a_glyph_every_font_has() -> None:
    import datetime as dt

    from app.api import WorkflowRunInfo
    from ui.workflows import run_line

    run = WorkflowRunInfo(
        id="wr_1",
        workflow="Chase",
        version=1,
        mission_id="m_1",
        reason="schedule",
        status="running",
        started_at=dt.datetime(2026, 12, 2, 18, 10, tzinfo=dt.UTC),
        waiting=1,
    )
    assert run_line(run).startswith("◆ 1 waiting for you · ")
    assert run_line(run).endswith(" · On schedule")


def test_the_selected_workflow_stays_readable_when_its_list_has_the_focus(
    qtbot: QtBot, window: MainWindow, workspace: Path
) -> None:
    """Before, the focus ring on list items made Qt draw the selected item without its
    selection colour: white text on white, a blank box."""
    on_engine(window, lambda e: e.save_workflow(invoices_workflow(workspace)))
    window.show_workflows()
    wait_listed(qtbot, window, ["Chase overdue invoices"])
    listing = window.workflows.pane.list
    listing.setCurrentRow(0)
    listing.setFocus()
    qtbot.waitUntil(listing.hasFocus, timeout=WAIT)
    item = listing.item(0)
    assert item is not None
    rect = listing.visualItemRect(item)
    image = listing.viewport().grab(rect).toImage()
    colours = {image.pixelColor(x, y).name() for x in range(image.width()) for y in range(image.height())}
    base = listing.palette().base().color().name()
    # The selection's colour fills the item, and its text is drawn on it in another colour.
    assert listing.palette().highlight().color().name() in colours
    assert len(colours - {base}) >= 2
