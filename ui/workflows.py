"""The Workflows pane: missions saved to run again, by hand, on a schedule or when something
arrives; and its controller, which makes the engine calls (through :class:`~ui.bridge.Bridge`,
off the GUI thread) and keeps the pane current.

The pane lists the workflows (name, what it does, its schedule or trigger in words, its next
run, its last run) and, for the one selected, its details, what can be done with it (Run…,
Schedule…, Trigger…, Edit…, Duplicate…, Rename…, Export…, Delete…) and its history; a run
opens its mission in the window. The dialogs are in :mod:`ui.workflow_dialogs`.

The controller also knows which missions are runs of a workflow (from the engine's
``WorkflowRunStarted`` events), for the tray's notifications, and whether this window runs the
schedules (:meth:`WorkflowsController.start_schedules`): if another process does, the pane
says which, calmly.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.errors import EnsembleError
from ui.bridge import error_text
from ui.missions_list import STATUS_WORDS, cost_text
from ui.widgets import WrapLabel, button_row, empty_state, named_button

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Iterable

    from app.api import (
        AnyEvent,
        ProposedParam,
        Schedule,
        Trigger,
        WorkflowInfo,
        WorkflowRunInfo,
        WorkflowSpec,
    )
    from app.engine import Engine
    from ui.bridge import Bridge
    from ui.main_window import MainWindow
    from ui.workflow_dialogs import EditDialog, RunDialog, SaveAsWorkflowDialog, ScheduleDialog, TriggerDialog

log = logging.getLogger(__name__)

REASON_WORDS = {
    "manual": "Run by hand",
    "schedule": "On schedule",
    "catch_up": "Caught up after a missed time",
    "trigger": "Started by something that arrived",
}
PLAN_WORDS = {
    "saved": "followed its saved plan",
    "planned": "planned afresh",
    "replanned": "saved plan, then planned again",
}
ROLE_NAME = Qt.ItemDataRole.UserRole + 20
ROLE_MISSION = Qt.ItemDataRole.UserRole + 21

EMPTY_TITLE = "No workflows yet"
EMPTY_TEXT = (
    "A workflow is a mission saved to run again: with other values, on a schedule, or when an "
    "email or a file arrives. Finish a mission, then choose “Save as workflow…” above its chat; "
    "or write one with “New workflow…”, or import a workflow file someone shared."
)
INTRO = "Missions saved to run again: by hand, on a schedule, or when an email or a file arrives."


@dataclass(frozen=True)
class RunOf:
    """What the window knows of a mission that is a workflow's run."""

    workflow: str
    unattended: bool


def short_time(when: dt.datetime | None) -> str:
    """A time as a list shows it: "Mon 17 Nov 09:00"."""
    if when is None:
        return ""
    return when.astimezone().strftime("%a %d %b %H:%M")


def how_it_runs(info: WorkflowInfo) -> str:
    """A workflow's schedule or trigger in words, or that it runs by hand."""
    if info.schedule:
        return info.schedule
    if info.trigger:
        return info.trigger
    return "Runs when you start it"


def run_line(run: WorkflowRunInfo) -> str:
    """A run's first line: status, when, why."""
    status = STATUS_WORDS.get(run.status, run.status)
    if run.waiting:
        # ◆ as the plan marks an action waiting; ⏸ is missing from common fonts (a box).
        status = f"◆ {run.waiting} waiting for you"
    return f"{status} · {short_time(run.started_at)} · {REASON_WORDS.get(run.reason, run.reason)}"


def run_details(run: WorkflowRunInfo) -> str:
    """A run's second line: its plan, changes, tokens and cost."""
    parts = [PLAN_WORDS.get(run.plan, run.plan).capitalize()]
    parts.append(f"{run.changes} change{'s' if run.changes != 1 else ''}")
    if run.tokens:
        parts.append(f"{run.tokens:,} tokens")
    cost = cost_text(run.cost)
    if cost and run.tokens:
        parts.append(cost)
    values = ", ".join(f"{k} = {v}" for k, v in run.params.items())
    if values:
        parts.append(values if len(values) <= 80 else values[:79] + "…")
    return " · ".join(parts)


def next_time(info: WorkflowInfo) -> dt.datetime | None:
    """When a workflow runs next: as the schedules' owner noted it, else from its schedule."""
    if info.next_run_at is not None or info.spec.schedule is None:
        return info.next_run_at
    from ui.workflow_dialogs import next_run

    try:
        return next_run(info.spec.schedule)
    except (ValueError, LookupError):
        return None


def workflow_lines(info: WorkflowInfo) -> str:
    """A workflow's entry in the list: its name, how it runs, its next and last runs."""
    lines = [info.name, how_it_runs(info)]
    status: list[str] = []
    upcoming = next_time(info)
    if upcoming is not None:
        status.append(f"Next: {short_time(upcoming)}")
    if info.last_run is not None:
        word = STATUS_WORDS.get(info.last_run.status, info.last_run.status)
        status.append(f"Last: {word} {short_time(info.last_run.started_at)}")
    elif not status:
        status.append("Not run yet")
    lines.append(" · ".join(status))
    return "\n".join(lines)


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("paneTitle")
    label.setAccessibleName(text)
    return label


class WorkflowsPane(QWidget):
    """The Workflows pane's widgets: what the controller fills and listens to."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("workflowsPane")
        self.setAccessibleName("Workflows")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 12, 16, 12)
        outer.setSpacing(8)

        head = QHBoxLayout()
        head.setSpacing(10)
        self.back_button = named_button(
            "← Missions", "workflowsBackButton", "Back to the missions", "Back to the missions (Esc)"
        )
        head.addWidget(self.back_button, 0, Qt.AlignmentFlag.AlignTop)
        title_box = QVBoxLayout()
        title_box.setSpacing(2)
        title = QLabel("Workflows")
        title.setObjectName("missionHeader")
        title.setAccessibleName("Workflows")
        title_box.addWidget(title)
        intro = WrapLabel(INTRO)
        intro.setProperty("muted", True)
        intro.setAccessibleName(INTRO)
        title_box.addWidget(intro)
        head.addLayout(title_box, 1)
        self.new_button = named_button(
            "+ New workflow…", "newWorkflowButton", "New workflow", "Write a workflow from scratch"
        )
        self.new_button.setProperty("role", "accent")
        self.import_button = named_button(
            "Import…",
            "importWorkflowButton",
            "Import a workflow",
            "Import a workflow file someone shared (YAML)",
        )
        head.addWidget(button_row(self.new_button, self.import_button, name="workflowsHeadButtons"), 0)
        outer.addLayout(head)

        self.owner_note = WrapLabel()
        self.owner_note.setObjectName("schedulesOwnerNote")
        self.owner_note.setAccessibleName("Who runs the schedules")
        self.owner_note.setStyleSheet(
            "padding: 8px 10px; border-radius: 6px; background: palette(alternate-base);"
        )
        self.owner_note.hide()
        outer.addWidget(self.owner_note)
        self.message = WrapLabel()
        self.message.setObjectName("workflowsMessage")
        self.message.setAccessibleName("Workflows message")
        self.message.hide()
        outer.addWidget(self.message)

        self.stack = QStackedWidget()
        self.empty = empty_state(EMPTY_TITLE, EMPTY_TEXT, name="workflowsEmpty")
        self.stack.addWidget(self.empty)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("workflowsSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.list = QListWidget()
        self.list.setObjectName("workflowList")
        self.list.setAccessibleName("Workflows")
        self.list.setWordWrap(True)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setSpacing(2)
        self.list.setMinimumWidth(220)
        self.list.setStyleSheet("QListWidget#workflowList::item { padding: 6px 6px; }")
        self.splitter.addWidget(self.list)
        self.splitter.addWidget(self._build_details())
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([320, 640])
        self.stack.addWidget(self.splitter)
        outer.addWidget(self.stack, 1)

    def _build_details(self) -> QWidget:
        body = QWidget()
        body.setObjectName("workflowDetails")
        layout = QVBoxLayout(body)
        layout.setContentsMargins(12, 0, 8, 8)
        layout.setSpacing(6)
        self.title = WrapLabel()
        self.title.setObjectName("workflowTitle")
        self.title.setAccessibleName("Workflow")
        self.title.setStyleSheet("font-size: 13pt; font-weight: 600;")
        layout.addWidget(self.title)
        self.description = WrapLabel()
        self.description.setObjectName("workflowDescriptionText")
        self.description.setAccessibleName("What it does")
        layout.addWidget(self.description)
        self.when = WrapLabel()
        self.when.setObjectName("workflowWhen")
        self.when.setAccessibleName("When it runs")
        self.when.setProperty("muted", True)
        layout.addWidget(self.when)

        self.run_button = named_button(
            "▶ Run…", "runWorkflowButton", "Run the workflow", "Run it now, with values you choose"
        )
        self.run_button.setProperty("role", "accent")
        self.schedule_button = named_button(
            "Schedule…", "scheduleWorkflowButton", "Schedule", "Run it by itself at set times"
        )
        self.trigger_button = named_button(
            "Trigger…", "triggerWorkflowButton", "Trigger", "Run it by itself when an email or a file arrives"
        )
        self.edit_button = named_button(
            "Edit…", "editWorkflowButton", "Edit", "Change its name, instruction or values"
        )
        self.duplicate_button = named_button(
            "Duplicate…", "duplicateWorkflowButton", "Duplicate", "Make a copy of it"
        )
        self.rename_button = named_button("Rename…", "renameWorkflowButton", "Rename")
        self.export_button = named_button(
            "Export…", "exportWorkflowButton", "Export", "Save it as a file to share (YAML)"
        )
        self.delete_button = named_button("Delete…", "deleteWorkflowButton", "Delete", "Delete the workflow")
        self.buttons = button_row(
            self.run_button,
            self.schedule_button,
            self.trigger_button,
            self.edit_button,
            self.duplicate_button,
            self.rename_button,
            self.export_button,
            self.delete_button,
            name="workflowButtons",
        )
        layout.addWidget(self.buttons)

        layout.addWidget(_heading("What the agents are asked"))
        self.instruction = WrapLabel()
        self.instruction.setObjectName("workflowInstructionText")
        self.instruction.setAccessibleName("What the agents are asked")
        self.instruction.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.instruction)
        self.params = WrapLabel()
        self.params.setObjectName("workflowParamsText")
        self.params.setAccessibleName("Values that change")
        layout.addWidget(self.params)
        self.plan = WrapLabel()
        self.plan.setObjectName("workflowPlanText")
        self.plan.setAccessibleName("Its plan")
        self.plan.setProperty("muted", True)
        layout.addWidget(self.plan)

        layout.addWidget(_heading("History"))
        self.history = QListWidget()
        self.history.setObjectName("workflowHistory")
        self.history.setAccessibleName("Runs of the workflow; open one to see its mission")
        self.history.setWordWrap(True)
        self.history.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.history.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.history.setMinimumHeight(150)
        self.history.setStyleSheet("QListWidget#workflowHistory::item { padding: 4px 4px; }")
        layout.addWidget(self.history, 1)
        self.history_hint = WrapLabel(
            "Double-click a run (or press Enter) to open its mission and its audit."
        )
        self.history_hint.setProperty("muted", True)
        layout.addWidget(self.history_hint)

        scroll = QScrollArea()
        scroll.setObjectName("workflowDetailsScroll")
        scroll.setAccessibleName("The workflow's details")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(body)
        scroll.setMinimumWidth(300)
        return scroll

    # Filling ---------------------------------------------------------------------------------

    def set_workflows(self, infos: list[WorkflowInfo], selected: str | None) -> None:
        """Lists ``infos``, keeping ``selected`` selected (else the first)."""
        self.list.blockSignals(True)
        self.list.clear()
        for info in infos:
            item = QListWidgetItem(workflow_lines(info))
            item.setData(ROLE_NAME, info.name)
            item.setToolTip(info.description or info.name)
            self.list.addItem(item)
        self.list.blockSignals(False)
        self.stack.setCurrentWidget(self.splitter if infos else self.empty)
        names = [info.name for info in infos]
        if not names:
            return
        row = names.index(selected) if selected in names else 0
        self.list.setCurrentRow(row)

    def names(self) -> list[str]:
        """The workflows listed, in order."""
        return [str(self.list.item(i).data(ROLE_NAME)) for i in range(self.list.count())]

    def selected_name(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None else str(item.data(ROLE_NAME))

    def show_workflow(self, info: WorkflowInfo) -> None:
        """Shows a workflow's details (its history comes with :meth:`show_history`)."""
        spec = info.spec
        self.title.setText(info.name)
        self.description.setText(info.description or "No description.")
        self.description.setProperty("muted", not info.description)
        when = [how_it_runs(info) + "."]
        upcoming = next_time(info)
        if upcoming is not None:
            when.append(f"Next run: {short_time(upcoming)}.")
        if info.last_run is not None:
            word = STATUS_WORDS.get(info.last_run.status, info.last_run.status)
            when.append(f"Last run: {word}, {short_time(info.last_run.started_at)}.")
        when.append(f"Version {info.version}; {info.runs} run{'s' if info.runs != 1 else ''}.")
        self.when.setText(" ".join(when))
        self.instruction.setText(spec.instruction)
        if spec.params:
            lines = ["Values that change:"]
            for param in spec.params:
                default = f", usually {param.default}" if param.default else ", no default: asked at each run"
                about = f": {param.description}" if param.description else ""
                lines.append(f"• {param.name} ({param.type}{default}){about}")
            self.params.setText("\n".join(lines))
        else:
            self.params.setText("No values change: it runs the same every time.")
        self.plan.setText(
            f"Saved plan: {len(spec.plan)} task{'s' if len(spec.plan) != 1 else ''}, reused by every run."
            if spec.plan
            else "No saved plan yet: the lead agent plans its first run."
        )
        self.schedule_button.setText("Schedule… ✓" if spec.schedule else "Schedule…")
        self.trigger_button.setText("Trigger… ✓" if spec.trigger else "Trigger…")

    def show_history(self, runs: list[WorkflowRunInfo]) -> None:
        """Lists a workflow's runs, newest first."""
        self.history.clear()
        for run in runs:
            item = QListWidgetItem(f"{run_line(run)}\n{run_details(run)}")
            item.setData(ROLE_MISSION, run.mission_id)
            item.setToolTip("Double-click to open this run's mission")
            self.history.addItem(item)
        if not runs:
            item = QListWidgetItem("No runs yet.")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.history.addItem(item)

    def say(self, text: str, *, problem: bool = False) -> None:
        """A line above the list: what was done, or a problem (empty: hides it)."""
        self.message.setText(text)
        self.message.setStyleSheet("color: #c92a2a; font-weight: 600;" if problem else "")
        self.message.setVisible(bool(text))


class WorkflowsController(QObject):
    """The Workflows pane (:attr:`pane`) and what its buttons do, through the engine.

    Args:
        window: The main window (dialogs' parent; it shows a run's mission).
        bridge: The engine.

    Signals:
        loaded(list): The workflows were listed (their :class:`~app.api.WorkflowInfo`).
        history_loaded(str, list): A workflow's runs were listed (its name, the runs).
        dialog_opened(object): A dialog was opened (the dialog).
        mission_requested(str): Show this mission in the window (a run, a history entry).
        saved(object): A workflow was saved (its :class:`~app.api.WorkflowInfo`).
        schedules_state(bool, str): Whether this window runs the schedules, and if not who does.
    """

    loaded = Signal(list)
    history_loaded = Signal(str, list)
    dialog_opened = Signal(object)
    mission_requested = Signal(str)
    saved = Signal(object)
    schedules_state = Signal(bool, str)

    def __init__(self, window: MainWindow, bridge: Bridge) -> None:
        super().__init__(window)
        self._window = window
        self._bridge = bridge
        self.pane = WorkflowsPane()
        self.infos: dict[str, WorkflowInfo] = {}
        self.runs: dict[str, RunOf] = {}
        self.owns_schedules = False
        self.dialog: QDialog | None = None
        self._refresh = QTimer(self)
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(250)
        self._refresh.timeout.connect(self.refresh)

        pane = self.pane
        pane.list.currentItemChanged.connect(lambda _now, _before: self.on_selected())
        pane.history.itemActivated.connect(self.on_run_activated)
        pane.new_button.clicked.connect(self.open_new)
        pane.import_button.clicked.connect(self.on_import_clicked)
        pane.run_button.clicked.connect(lambda: self._with_selected(self.open_run))
        pane.schedule_button.clicked.connect(lambda: self._with_selected(self.open_schedule))
        pane.trigger_button.clicked.connect(lambda: self._with_selected(self.open_trigger))
        pane.edit_button.clicked.connect(lambda: self._with_selected(self.open_edit))
        pane.duplicate_button.clicked.connect(lambda: self._with_selected(self.ask_duplicate))
        pane.rename_button.clicked.connect(lambda: self._with_selected(self.ask_rename))
        pane.export_button.clicked.connect(lambda: self._with_selected(self.on_export_clicked))
        pane.delete_button.clicked.connect(lambda: self._with_selected(self.ask_delete))

    # What the window asks ----------------------------------------------------------------------

    def run_of(self, mission_id: str) -> RunOf | None:
        """The workflow a mission is a run of, if it is one (seen since the window started)."""
        return self.runs.get(mission_id)

    def keeps_running(self) -> bool:
        """Whether closing the window should leave Ensemble running in the tray: this window
        runs the schedules, and some workflow has a schedule or a trigger."""
        return self.owns_schedules and any(
            info.spec.schedule is not None or info.spec.trigger is not None for info in self.infos.values()
        )

    def on_engine_started(self, *, schedules: bool) -> None:
        """The engine is up: list the workflows, and run the schedules if asked."""
        self.refresh()
        if schedules:
            self.start_schedules()

    def start_schedules(self) -> None:
        """Runs the schedules and triggers from this window, unless another process does (the
        pane then says which)."""

        async def start(engine: Engine) -> str | None:
            from app.api import SchedulesOwnedElsewhere

            try:
                await engine.start_schedules(owner="window")
            except SchedulesOwnedElsewhere as exc:
                return str(exc)
            return None

        self._bridge.call(start, self.on_schedules_started, what="start the workflows' schedules")

    def stop_schedules(self, timeout: float = 5.0) -> None:
        """Stops running the schedules here (the window is closing for good), so that another
        process may take them at once; waits at most ``timeout`` seconds."""
        engine = self._bridge.engine
        if not self.owns_schedules or engine is None or not self._bridge.loop.is_running():
            return
        self.owns_schedules = False
        future = asyncio.run_coroutine_threadsafe(engine.stop_schedules(), self._bridge.loop)
        try:
            future.result(timeout)
        except Exception:  # Closing must go on whatever happened; logged.
            log.exception("The schedules did not stop")

    def on_schedules_started(self, elsewhere: str | None) -> None:
        self.owns_schedules = elsewhere is None
        if elsewhere:
            self.pane.owner_note.setText(
                f"{elsewhere} Scheduled and triggered workflows run there, and their cards "
                "wait there; you can still run them by hand here."
            )
            self.pane.owner_note.show()
        else:
            self.pane.owner_note.hide()
        self.schedules_state.emit(self.owns_schedules, elsewhere or "")

    def apply(self, events: Iterable[AnyEvent]) -> None:
        """Notes the runs of workflows among a batch of events; refreshes the list when one
        starts or ends."""
        from app import api

        changed = False
        for event in events:
            if isinstance(event, api.WorkflowRunStarted):
                self.runs[event.mission_id] = RunOf(event.workflow, event.unattended)
                changed = True
            elif isinstance(event, api.MissionFinished) and event.mission_id in self.runs:
                changed = True
        if changed:
            self._refresh.start()

    # Listing ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Lists the workflows again (read in a worker thread)."""
        self._bridge.read(lambda e: e.list_workflows(), self.on_loaded, what="list the workflows")

    def on_loaded(self, infos: list[WorkflowInfo]) -> None:
        self.infos = {info.name: info for info in infos}
        self.pane.set_workflows(infos, self.pane.selected_name())
        self.on_selected()
        self.loaded.emit(infos)

    def select(self, name: str) -> None:
        """Selects a workflow in the list."""
        names = self.pane.names()
        if name in names:
            self.pane.list.setCurrentRow(names.index(name))

    def on_selected(self) -> None:
        name = self.pane.selected_name()
        info = self.infos.get(name or "")
        if info is None:
            return
        self.pane.show_workflow(info)
        self._bridge.read(
            lambda e: e.workflow_runs(info.name, limit=50),
            lambda runs: self.on_history(info.name, runs),
            what="read the workflow's history",
        )

    def on_history(self, name: str, runs: list[WorkflowRunInfo]) -> None:
        if name == self.pane.selected_name():
            self.pane.show_history(runs)
        self.history_loaded.emit(name, runs)

    def on_run_activated(self, item: QListWidgetItem) -> None:
        mission_id = item.data(ROLE_MISSION)
        if mission_id:
            self.mission_requested.emit(str(mission_id))

    def _with_selected(self, fn: Callable[[str], object]) -> None:
        name = self.pane.selected_name()
        if name is not None and name in self.infos:
            fn(name)

    def _open(self, dialog: QDialog) -> None:
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.close()
        self.dialog = dialog
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _r, d=dialog: self._closed(d))
        dialog.open()
        self.dialog_opened.emit(dialog)

    def _closed(self, dialog: QDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None

    def _failed(self, dialog: Any, what: str) -> Callable[[BaseException], None]:
        """An error handler that shows the engine's sentence in ``dialog`` (or the pane)."""

        def show(error: BaseException) -> None:
            message = error_text(error)
            if dialog is not None and hasattr(dialog, "show_error") and dialog.isVisible():
                dialog.show_error(message)
            else:
                self.pane.say(f"Could not {what}. {message}", problem=True)

        return show

    def _call(
        self,
        fn: Callable[[Engine], Any],
        on_done: Callable[[Any], object],
        *,
        what: str,
        dialog: QDialog | None = None,
    ) -> None:
        """An engine call whose failure is shown in the dialog or the pane (never a box)."""

        async def guarded(engine: Engine) -> tuple[bool, Any]:
            try:
                result = fn(engine)
                if asyncio.iscoroutine(result):
                    result = await result
            except Exception as exc:  # noqa: BLE001 - shown where the person is looking
                return False, exc
            return True, result

        def done(outcome: tuple[bool, Any]) -> None:
            ok, value = outcome
            if ok:
                on_done(value)
            else:
                if not isinstance(value, EnsembleError):
                    log.error("Could not %s", what, exc_info=value)
                self._failed(dialog, what)(value)

        self.pane.say("")
        self._bridge.call(guarded, done, what=what)

    # Running ---------------------------------------------------------------------------------

    def open_run(self, name: str) -> RunDialog:
        """Opens the run form of a workflow."""
        from ui.workflow_dialogs import RunDialog

        dialog = RunDialog(self.infos[name].spec, self._window)
        dialog.run_requested.connect(lambda values: self.run(name, values, dialog))
        self._open(dialog)
        return dialog

    def run(self, name: str, values: dict[str, str], dialog: QDialog | None = None) -> None:
        """Starts a run with these values; the window shows its mission."""

        def started(mission_id: str) -> None:
            if dialog is not None:
                dialog.accept()
            self._refresh.start()
            self.mission_requested.emit(mission_id)

        self._call(
            lambda e: e.run_workflow(name, dict(values)), started, what="run the workflow", dialog=dialog
        )

    # Schedule and trigger ------------------------------------------------------------------------

    def open_schedule(self, name: str) -> ScheduleDialog:
        """Opens a workflow's schedule."""
        from ui.workflow_dialogs import ScheduleDialog

        dialog = ScheduleDialog(name, self.infos[name].spec.schedule, self._window)
        dialog.saved.connect(lambda schedule: self.set_schedule(name, schedule, dialog))
        self._open(dialog)
        return dialog

    def set_schedule(self, name: str, schedule: Schedule | None, dialog: QDialog | None = None) -> None:
        def done(info: WorkflowInfo) -> None:
            if dialog is not None:
                dialog.accept()
            said = (
                f"“{info.name}” now runs by itself: {info.schedule}."
                if info.schedule
                else f"“{info.name}” now runs only when you start it."
            )
            self._after_save(info, said)

        self._call(lambda e: e.set_schedule(name, schedule), done, what="save the schedule", dialog=dialog)

    def open_trigger(self, name: str) -> TriggerDialog:
        """Opens a workflow's trigger."""
        from ui.workflow_dialogs import TriggerDialog

        dialog = TriggerDialog(self.infos[name].spec, self._window)
        dialog.saved.connect(lambda trigger: self.set_trigger(name, trigger, dialog))
        self._open(dialog)
        return dialog

    def set_trigger(self, name: str, trigger: Trigger | None, dialog: QDialog | None = None) -> None:
        def done(info: WorkflowInfo) -> None:
            if dialog is not None:
                dialog.accept()
            self._after_save(info, f"“{info.name}”: {info.trigger or 'no trigger'}.")

        self._call(lambda e: e.set_trigger(name, trigger), done, what="save the trigger", dialog=dialog)

    # Editing -----------------------------------------------------------------------------------

    def open_edit(self, name: str) -> EditDialog:
        """Opens a workflow's editor."""
        from ui.workflow_dialogs import EditDialog

        dialog = EditDialog(self.infos[name].spec, parent=self._window)
        dialog.saved.connect(lambda spec: self.save_edit(name, spec, dialog))
        self._open(dialog)
        return dialog

    def open_new(self) -> EditDialog:
        """Opens an empty editor, for a workflow written from scratch."""
        from ui.workflow_dialogs import EditDialog

        folders = [str(f) for f in self._window.workspaces()]
        dialog = EditDialog(None, folders=folders, parent=self._window)
        dialog.saved.connect(lambda spec: self.save_edit(None, spec, dialog))
        self._open(dialog)
        return dialog

    def save_edit(self, name: str | None, spec: WorkflowSpec, dialog: QDialog | None = None) -> None:
        """Saves an edited workflow (a new version; renamed first if its name changed), or a new one."""

        def save(engine: Engine) -> WorkflowInfo:
            if name is not None and spec.name != name:
                engine.rename_workflow(name, spec.name)
            return engine.save_workflow(spec, replace=name is not None)

        def done(info: WorkflowInfo) -> None:
            if dialog is not None:
                dialog.accept()
            self._after_save(info, f"Saved “{info.name}”.")

        self._call(save, done, what="save the workflow", dialog=dialog)

    def _after_save(self, info: WorkflowInfo, message: str) -> None:
        self.infos[info.name] = info
        self.pane.say(message)
        self.saved.emit(info)
        self._bridge.read(
            lambda e: e.list_workflows(),
            lambda infos: self._reload(infos, info.name),
            what="list the workflows",
        )

    def _reload(self, infos: list[WorkflowInfo], name: str) -> None:
        self.infos = {info.name: info for info in infos}
        self.pane.set_workflows(infos, name)
        self.on_selected()
        self.loaded.emit(infos)

    def _ask_text(self, title: str, label: str, text: str, on_ok: Callable[[str], None]) -> QInputDialog:
        dialog = QInputDialog(self._window)
        dialog.setObjectName("workflowNameDialog")
        dialog.setWindowTitle(title)
        dialog.setLabelText(label)
        dialog.setTextValue(text)
        dialog.setOkButtonText(title.split(" ", 1)[0])
        dialog.textValueSelected.connect(
            lambda value: on_ok(" ".join(value.split())) if value.strip() else None
        )
        edit = dialog.findChild(QLineEdit)
        if edit is not None:
            edit.setAccessibleName(label.rstrip(":"))
        self._open(dialog)
        return dialog

    def ask_rename(self, name: str) -> QInputDialog:
        """Asks for a workflow's new name, then renames it."""
        return self._ask_text(
            "Rename workflow", f"New name for “{name}”:", name, lambda new: self.rename(name, new)
        )

    def rename(self, name: str, new_name: str) -> None:
        if new_name == name:
            return
        self._call(
            lambda e: e.rename_workflow(name, new_name),
            lambda info: self._after_save(info, f"Renamed “{name}” to “{info.name}”."),
            what="rename the workflow",
        )

    def ask_duplicate(self, name: str) -> QInputDialog:
        """Asks for the copy's name, then duplicates the workflow."""
        return self._ask_text(
            "Duplicate workflow", "Name of the copy:", f"{name} (copy)", lambda new: self.duplicate(name, new)
        )

    def duplicate(self, name: str, new_name: str) -> None:
        self._call(
            lambda e: e.duplicate_workflow(name, new_name),
            lambda info: self._after_save(info, f"Made “{info.name}”, a copy of “{name}”."),
            what="duplicate the workflow",
        )

    def ask_delete(self, name: str) -> QMessageBox:
        """Asks before deleting a workflow (its past runs' missions and audits stay)."""
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Delete workflow?",
            f"Delete the workflow “{name}”?",
            parent=self._window,
        )
        box.setObjectName("deleteWorkflowQuestion")
        box.setInformativeText(
            "Its schedule and trigger stop. The missions it already ran, and their audits, stay."
        )
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        delete.setObjectName("confirmDeleteWorkflowButton")
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        cancel.setObjectName("cancelDeleteWorkflowButton")
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        box.buttonClicked.connect(lambda button: self.delete(name) if button is delete else None)
        self._open(box)
        return box

    def delete(self, name: str) -> None:
        def done(_none: object) -> None:
            self.infos.pop(name, None)
            self.pane.say(f"Deleted “{name}”.")
            self.refresh()

        self._call(lambda e: e.delete_workflow(name), done, what="delete the workflow")

    # Export and import ---------------------------------------------------------------------------

    def on_export_clicked(self, name: str) -> None:
        suggested = str(Path.home() / f"{name}.yaml")
        path, _ = QFileDialog.getSaveFileName(
            self._window, f"Export “{name}”", suggested, "Workflow files (*.yaml *.yml)"
        )
        if path:
            self.export_to(name, Path(path))

    def export_to(self, name: str, path: Path) -> None:
        """Writes a workflow to ``path`` as YAML (the file written off the GUI thread)."""

        async def export(engine: Engine) -> Path:
            text = engine.export_workflow(name)
            await asyncio.to_thread(path.write_text, text, encoding="utf-8")
            return path

        self._call(export, lambda p: self.pane.say(f"Exported “{name}” to {p}."), what="export the workflow")

    def on_import_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self._window,
            "Import a workflow",
            str(Path.home()),
            "Workflow files (*.yaml *.yml);;All files (*)",
        )
        if path:
            self.import_from(Path(path))

    def import_from(self, path: Path, *, name: str | None = None, replace: bool = False) -> None:
        """Imports the workflow in ``path``; if one with its name exists, asks whether to
        replace it or keep both."""

        async def read(_engine: Engine) -> tuple[str, str]:
            from app.api import WorkflowSpec

            text = await asyncio.to_thread(path.read_text, encoding="utf-8")
            return text, WorkflowSpec.from_yaml(text).name

        def got(found: tuple[str, str]) -> None:
            text, spec_name = found
            target = name or spec_name
            if target in self.infos and not replace:
                self.ask_import_conflict(path, target)
                return
            self._call(
                lambda e: e.import_workflow(text, name=name, replace=replace),
                lambda info: self._after_save(info, f"Imported “{info.name}”."),
                what="import the workflow",
            )

        self._call(read, got, what="read the workflow file")

    def ask_import_conflict(self, path: Path, name: str) -> QMessageBox:
        """A workflow named like the imported one exists: replace it, keep both, or cancel."""
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Import workflow",
            f"You already have a workflow named “{name}”.",
            parent=self._window,
        )
        box.setObjectName("importConflictQuestion")
        box.setInformativeText("Replace it with the imported one (as a new version), or keep both?")
        replace = box.addButton("Replace it", QMessageBox.ButtonRole.AcceptRole)
        replace.setObjectName("importReplaceButton")
        both = box.addButton("Keep both", QMessageBox.ButtonRole.AcceptRole)
        both.setObjectName("importKeepBothButton")
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(both)
        box.setEscapeButton(cancel)
        copy = self._free_name(f"{name} (imported)")

        def chosen(button: object) -> None:
            if button is replace:
                self.import_from(path, name=name, replace=True)
            elif button is both:
                self.import_from(path, name=copy)

        box.buttonClicked.connect(chosen)
        self._open(box)
        return box

    def _free_name(self, name: str) -> str:
        found, count = name, 2
        while found in self.infos:
            found, count = f"{name} {count}", count + 1
        return found

    # Saving a mission as a workflow ------------------------------------------------------------

    def open_save_mission(self, mission_id: str, title: str) -> SaveAsWorkflowDialog:
        """Saves a finished mission as a workflow: opens the form at once, busy while the lead
        proposes the values that could change (an engine call in the background)."""
        from ui.workflow_dialogs import SaveAsWorkflowDialog

        dialog = SaveAsWorkflowDialog(mission_id, title, None, self._window)
        dialog.save_requested.connect(
            lambda name, description, params: self.save_mission(mission_id, name, description, params, dialog)
        )
        self._open(dialog)

        def spec_read(spec: Any) -> None:
            if spec is not None and dialog.isVisible():
                dialog.set_instruction(spec.instruction)

        self._bridge.read(lambda e: e.spec_of(mission_id), spec_read, what="read the mission")

        async def propose(engine: Engine) -> tuple[bool, Any]:
            try:
                return True, await engine.propose_parameters(mission_id)
            except Exception as exc:  # noqa: BLE001 - the person adds the values by hand
                return False, exc

        def proposed(outcome: tuple[bool, Any]) -> None:
            if not dialog.isVisible():
                return
            ok, value = outcome
            if ok:
                dialog.set_proposals(value)
            else:
                dialog.proposal_failed(error_text(value))

        self._bridge.call(propose, proposed, what="suggest the workflow's values")
        return dialog

    def save_mission(
        self,
        mission_id: str,
        name: str,
        description: str,
        params: list[ProposedParam],
        dialog: QDialog | None = None,
    ) -> None:
        """Saves the mission as a workflow with these values replaced by parameters."""

        def done(info: WorkflowInfo) -> None:
            if dialog is not None:
                dialog.accept()
            self._after_save(info, f"Saved “{info.name}” as a workflow. Run it again from here.")
            self._window.show_workflows(info.name)

        self._call(
            lambda e: e.save_mission_as_workflow(mission_id, name, list(params), description=description),
            done,
            what="save the workflow",
            dialog=dialog,
        )
