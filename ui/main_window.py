"""The main window: the missions, the mission shown (chat, plan, audit), and the approvals.

The window composes its panes' controllers and routes to them what the engine says:

- :class:`~ui.missions_list.MissionsList`: the missions pane;
- :class:`~ui.mission_view.MissionView`: the mission shown, its composer, plan and audit;
- :class:`~ui.approval_controller.ApprovalController`: the cards waiting for the person;
- :class:`~ui.tray.TrayController`: the tray, notifications, closing and quitting;
- :class:`~ui.dialogs.Dialogs`: the settings, rules and welcome dialogs.

Everything the window shows comes from the engine's typed events (live) or its read models
(read in a worker thread); everything it asks goes through the :class:`~ui.bridge.Bridge`.
The GUI thread never waits for the engine, the network or the disk.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QEvent, QRect, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QGuiApplication, QKeySequence, QResizeEvent, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)

# The window imports only what it needs to draw itself: the engine's heavier modules (the
# journal's SQLAlchemy, pydantic, the keyring) load on the engine thread, off the cold start.
from app.errors import EnsembleError
from app.paths import Paths
from ui.approval_controller import ApprovalController
from ui.bridge import error_text
from ui.dialogs import Dialogs
from ui.mission_view import DEMO_TEXT, NEW_MISSION_TEXT, MissionView
from ui.missions_list import STATUS_WORDS, MissionRow, MissionsList, cost_text
from ui.tray import BACKGROUND_TITLE, CLOSE_QUESTION, PAUSE_NOTE, QUIT_QUESTION, TrayController
from ui.widgets import app_icon, button_row, is_dark
from ui.workflows import WorkflowsController

if TYPE_CHECKING:
    from pathlib import Path

    from app.api import AnyEvent, MissionInfo
    from ui.bridge import Bridge
    from ui.settings_dialog import SettingsDialog
    from ui.welcome import WelcomeDialog

log = logging.getLogger(__name__)

DEFAULT_PANES = (240, 400, 520, 400)
PANE_MINIMUMS = (170, 280, 220, 260)
"""The panes' least widths (missions, chat, plan and audit, cards), in logical pixels."""
COMPACT_BELOW = 960
"""A screen (or window) narrower than this, in logical pixels (1024 px at 150 % or 200 %
scaling), shows the chat or the plan and audit beside the cards, and the missions on demand:
the four panes at their least widths would not fit."""
COMPACT_MINIMUMS = (150, 240, 240, 240)
"""The first widths of the missions, the chat, the plan and the cards (fitted to the window)."""
DEFAULT_SIZE = (1500, 920)
"""The first window's size on a screen big enough for it."""


def first_size(available: QRect) -> QSize:
    """The first window's size: :data:`DEFAULT_SIZE`, at most 90 % of the screen's free area.

    Args:
        available: The screen's available geometry (without panels and docks).

    Returns:
        The size to open the window at.
    """
    size = QSize(*DEFAULT_SIZE)
    if available.isEmpty():
        return size
    return size.boundedTo(QSize(available.width() * 9 // 10, available.height() * 9 // 10))


__all__ = [
    "BACKGROUND_TITLE",
    "CLOSE_QUESTION",
    "DEMO_TEXT",
    "NEW_MISSION_TEXT",
    "PAUSE_NOTE",
    "QUIT_QUESTION",
    "STATUS_WORDS",
    "MainWindow",
    "MissionRow",
    "cost_text",
]


class MainWindow(QMainWindow):
    """Ensemble's window.

    Args:
        bridge: The engine's bridge, started or not (the window starts it, and owns it).
        workspaces: Folders granted for this session (``ensemble --workspace DIR``), on top
            of the settings' folders.
        paths: Where the window keeps its geometry; by default :meth:`Paths.default`.
        check_key: Welcome a newcomer with no API key: offer the demo or the settings.
        demo: Start the demo mission as soon as the engine is up (``ensemble demo``).
        schedules: Run the workflows' schedules and triggers from this window once the engine
            is up (unless another process runs them): ``ensemble`` does; tests choose.

    Signals:
        mission_shown(str): The mission shown was loaded from the journal and is live.
        card_shown(str): An action's card was added to the approval pane.
        notified(str): A desktop notification was shown (or would have been, with no tray).
        settings_opened(object): The settings dialog was opened.
        welcome_opened(object): The welcome (no API key yet) was opened.
        rules_opened(object): The rules dialog was opened.
        quit_asked(object): The person is asked whether to quit while missions run (the
            :class:`QMessageBox`, about to be shown; its buttons are ``pauseAndQuitButton``
            and ``cancelQuitButton``).
        hidden_to_tray(): The close button hid the window; Ensemble runs on in the tray.
        closed(): The window closed for good: the engine paused its missions and stopped.
        paused_resumed(list): Missions the last quit paused were resumed at this start
            (their ids).
    """

    mission_shown = Signal(str)
    card_shown = Signal(str)
    notified = Signal(str)
    settings_opened = Signal(object)
    welcome_opened = Signal(object)
    rules_opened = Signal(object)
    quit_asked = Signal(object)
    hidden_to_tray = Signal()
    closed = Signal()
    paused_resumed = Signal(list)

    def __init__(
        self,
        bridge: Bridge,
        *,
        workspaces: list[Path] | None = None,
        paths: Paths | None = None,
        check_key: bool = True,
        demo: bool = False,
        schedules: bool = False,
    ) -> None:
        super().__init__()
        # The window owns its bridge: they go together, on the GUI thread (never as garbage a
        # worker thread happens to collect, which would destroy a QObject off its thread).
        bridge.setParent(self)
        self.bridge = bridge
        self.setObjectName("mainWindow")
        self.setWindowTitle("Ensemble")
        self.setWindowIcon(app_icon())
        self.setAccessibleName("Ensemble")
        self._paths = paths or Paths.default()
        self._check_key = check_key
        self._demo_on_start = demo
        self._schedules = schedules
        self._engine_ready = False
        self._shut_down = False

        # The panes' controllers.
        self.missions = MissionsList(self, bridge)  # it searches and pages through the bridge
        self.view = MissionView(
            self, bridge, self.missions, paths=self._paths, workspaces=list(workspaces or [])
        )
        self.approvals = ApprovalController(self, bridge, self.missions.title)
        self.workflows = WorkflowsController(self, bridge)
        self.tray = TrayController(self, self.missions, self.approvals, self.workflows)
        self.dialogs = Dialogs(self, bridge, self.view, self.missions)
        # Their widgets, by the names tests and accessibility tools know.
        self.mission_list = self.missions.list
        self.missions_empty = self.missions.empty
        self.demo_banner = self.view.demo_banner
        self.mission_header = self.view.header
        self.mission_status = self.view.status
        self.resume_button = self.view.resume_button
        self.chat_view = self.view.chat_view
        self.chat_input = self.view.chat_input
        self.send_button = self.view.send_button
        self.folders_label = self.view.folders_label
        self.folder_button = self.view.folder_button
        self.tabs = self.view.tabs
        self.plan_view = self.view.plan_view
        self.audit_view = self.view.audit_view
        self.approval_pane = self.approvals.pane
        self.tray_menu = self.tray.menu

        self._build()
        self._build_shortcuts()
        self._connect()
        self._restore_geometry()

        bridge.engine_started.connect(self.on_engine_started)
        bridge.engine_failed.connect(self.on_engine_failed)
        bridge.events_received.connect(self.on_events_received)
        bridge.call_failed.connect(self.on_call_failed)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            # However the application ends, the running missions are paused, not lost.
            app.aboutToQuit.connect(self.shut_down)
        # The engine starts once the window is on screen: its imports (the anthropic SDK,
        # SQLAlchemy) would otherwise compete with the window's first paint for the GIL.
        self._engine_requested = False
        QTimer.singleShot(0, self._start_engine)

    def _start_engine(self) -> None:
        if self._engine_requested:
            return
        self._engine_requested = True
        if not self.bridge.loop.is_running() and self.bridge.engine is None:
            self.bridge.start()

    # Building --------------------------------------------------------------------------------

    def _build(self) -> None:
        root = QWidget()
        root.setObjectName("root")
        outer = QVBoxLayout(root)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self._build_top_bar())
        self.error_banner = QLabel()
        self.error_banner.setObjectName("errorBanner")
        self.error_banner.setAccessibleName("Problem")
        self.error_banner.setWordWrap(True)
        self.error_banner.hide()
        outer.addWidget(self.error_banner)
        outer.addWidget(self.demo_banner)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setHandleWidth(1)
        # Small minimums, so that the window fits a small laptop screen.
        self._panes = (self.missions.panel, self.view.centre, self.view.tabs, self.approvals.pane)
        for index, (pane, width, stretch) in enumerate(
            zip(self._panes, PANE_MINIMUMS, (0, 2, 3, 2), strict=True)
        ):
            self.splitter.addWidget(pane)
            pane.setMinimumWidth(width)
            self.splitter.setStretchFactor(index, stretch)
        self.compact = False
        self.splitter.setSizes(list(DEFAULT_PANES))
        # The missions (the splitter) or the Workflows pane, one at a time.
        self.pages = QStackedWidget()
        self.pages.setObjectName("mainPages")
        self.pages.addWidget(self.splitter)
        self.pages.addWidget(self.workflows.pane)
        outer.addWidget(self.pages, 1)
        self.setCentralWidget(root)
        self.statusBar().setObjectName("statusBar")
        self.statusBar().setAccessibleName("Status")
        self.statusBar().showMessage("Starting the engine…")

    def _build_top_bar(self) -> QWidget:
        top = QWidget()
        top.setObjectName("topBar")
        bar = QHBoxLayout(top)
        bar.setContentsMargins(16, 10, 16, 10)
        bar.setSpacing(10)
        name = QLabel("Ensemble")
        name.setObjectName("appTitle")
        name.setAccessibleName("Ensemble")
        bar.addWidget(name)
        tagline = QLabel("A team of AI agents. Nothing changes without your approval.")
        tagline.setObjectName("appSubtitle")
        tagline.setAccessibleName(tagline.text())
        tagline.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        tagline.setWordWrap(True)  # on a small screen it takes two lines rather than lose its end
        bar.addWidget(tagline, 1)
        self.tagline = tagline
        buttons: list[QPushButton] = []

        def button(text: str, name: str, accessible: str, tip: str) -> QPushButton:
            made = QPushButton(text)
            made.setObjectName(name)
            made.setAccessibleName(accessible)
            made.setToolTip(tip)
            buttons.append(made)
            return made

        # On a narrow screen (see COMPACT_BELOW) the missions are shown on demand, and the
        # chat or the plan and audit beside the cards.
        self.missions_toggle = button(
            "Missions", "missionsToggle", "Show the missions", "Show or hide the list of missions"
        )
        self.missions_toggle.setCheckable(True)
        self.missions_toggle.toggled.connect(lambda _on: self._show_compact_panes())
        self.plan_toggle = button(
            "Plan and audit",
            "planToggle",
            "Show the plan and audit instead of the chat",
            "Show the plan and the audit in place of the chat; click again for the chat",
        )
        self.plan_toggle.setCheckable(True)
        self.plan_toggle.toggled.connect(lambda _on: self._show_compact_panes())

        self.new_button = button(
            "+ New mission", "newMissionButton", "New mission", "Start a new mission (Ctrl+N)"
        )
        self.new_button.setProperty("role", "accent")
        self.new_button.clicked.connect(self.on_new_mission_clicked)
        self.settings_button = button(
            "Settings", "settingsButton", "Settings", "API key, model, folders and limits (Ctrl+,)"
        )
        self.settings_button.clicked.connect(self.on_settings_clicked)
        self.demo_button = button(
            "Demo",
            "demoButton",
            "Run the demo mission",
            "Run a demo mission on made-up data with a scripted model: no API key needed",
        )
        self.demo_button.clicked.connect(self.start_demo)
        self.rules_button = button(
            "Rules", "rulesButton", "Rules", "The standing decisions that approve or reject actions for you"
        )
        self.rules_button.clicked.connect(self.on_rules_clicked)
        self.memory_button = button(
            "Memory", "memoryButton", "Memory", "What the lead remembers for you: facts and preferences"
        )
        self.memory_button.clicked.connect(self.on_memory_clicked)
        self.workflows_button = button(
            "Workflows",
            "workflowsButton",
            "Workflows",
            "Missions saved to run again, on a schedule or when something arrives (Ctrl+Shift+W)",
        )
        self.workflows_button.setCheckable(True)
        self.workflows_button.clicked.connect(self.on_workflows_clicked)
        self.stop_button = button(
            "■ Stop all",
            "stopAllButton",
            "Stop all agents",
            "Stop every running agent now; actions waiting for you are rejected (Ctrl+Shift+S)",
        )
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.on_stop_clicked)
        self.missions_toggle.hide()
        self.plan_toggle.hide()
        # The buttons wrap onto a second line rather than widen the window past the screen.
        row = button_row(*buttons, name="topButtons")
        bar.addWidget(row)
        return top

    def _build_shortcuts(self) -> None:
        for keys, slot, name in (
            ("Ctrl+Return", self.view.on_send_clicked, "Send"),
            ("Ctrl+Enter", self.view.on_send_clicked, "Send"),
            ("Ctrl+Shift+A", self.on_approve_first, "Approve the first card"),
            ("Ctrl+Shift+R", self.on_reject_first, "Reject the first card"),
            ("Ctrl+Shift+S", self.on_stop_clicked, "Stop all"),
            ("Ctrl+N", self.on_new_mission_clicked, "New mission"),
            ("Ctrl+,", self.on_settings_clicked, "Settings"),
            ("Ctrl+Q", self.request_quit, "Quit"),
            ("Ctrl+Shift+W", self.on_workflows_clicked, "Workflows"),
        ):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setObjectName(f"shortcut {name}")
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(slot)

    def _connect(self) -> None:
        self.missions.selected.connect(self.view.show)
        self.missions.changed.connect(self.on_missions_changed)
        self.missions.finished.connect(self.on_mission_finished)
        self.missions.question_asked.connect(
            lambda row, question: self.notify("The lead agent has a question", question, mission_id=row.id)
        )
        self.view.shown.connect(self.mission_shown)
        self.approvals.card_shown.connect(self.card_shown)
        self.approvals.pane.count_changed.connect(self.on_pending_count_changed)
        self.tray.notified.connect(self.notified)
        self.tray.quit_asked.connect(self.quit_asked)
        self.tray.hidden_to_tray.connect(self.hidden_to_tray)
        self.dialogs.settings_opened.connect(self.settings_opened)
        self.dialogs.welcome_opened.connect(self.welcome_opened)
        self.dialogs.rules_opened.connect(self.rules_opened)
        self.workflows.mission_requested.connect(self.show_run)
        self.workflows.pane.back_button.clicked.connect(self.show_missions)
        back = QShortcut(QKeySequence("Escape"), self.workflows.pane)
        back.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        back.activated.connect(self.show_missions)
        self.view.save_workflow_requested.connect(self.on_save_as_workflow)

    # What the panes' controllers hold, by the names the window has always had -----------------

    @property
    def _shown(self) -> str | None:
        return self.view.mission_id

    @property
    def _missions(self) -> dict[str, MissionRow]:
        return self.missions.rows

    @property
    def _tray(self) -> QSystemTrayIcon | None:
        return self.tray.icon

    @_tray.setter
    def _tray(self, icon: QSystemTrayIcon | None) -> None:
        self.tray.icon = icon

    @property
    def notifications(self) -> list[str]:
        """The desktop notifications shown so far, as ``"title: text"``."""
        return self.tray.notifications

    @property
    def welcome_dialog(self) -> WelcomeDialog | None:
        return self.dialogs.welcome_dialog

    def mission_info(self, mission_id: str) -> MissionRow | None:
        """What the missions list knows of a mission."""
        return self.missions.get(mission_id)

    def workspaces(self) -> list[Path]:
        """The folders a new mission may use: this session's and the settings'."""
        return self.view.workspaces()

    def show_mission(self, mission_id: str | None) -> None:
        """Shows a mission's chat, plan and audit (None: a new mission)."""
        self.view.show(mission_id)

    def busy_missions(self) -> list[MissionRow]:
        """The missions running or with a card waiting for the person, newest first."""
        return self.tray.busy_missions()

    def open_settings(self, *, first_run: bool, key: str | None) -> SettingsDialog | None:
        """Opens the settings (window-modal, without blocking); returns the dialog."""
        return self.dialogs.open_settings(first_run=first_run, key=key)

    def request_quit(self) -> bool:
        """Quit (the tray's menu, Ctrl+Q): asks first if missions run, then pauses them all and
        closes for good. Returns whether it did."""
        return self.tray.request_quit()

    # The top bar and shortcuts -------------------------------------------------------------------

    def on_new_mission_clicked(self) -> None:
        self.show_missions()
        self.view.show(None)
        self.chat_input.setFocus()

    def on_settings_clicked(self) -> None:
        self.dialogs.on_settings_clicked()

    # Workflows -----------------------------------------------------------------------------------

    def on_workflows_clicked(self) -> None:
        if self.pages.currentWidget() is self.workflows.pane:
            self.show_missions()
        else:
            self.show_workflows()

    def show_workflows(self, name: str | None = None) -> None:
        """Shows the Workflows pane (on a workflow, if one is given) instead of the missions."""
        self.pages.setCurrentWidget(self.workflows.pane)
        self.workflows_button.setChecked(True)
        if name is not None:
            self.workflows.select(name)
        elif self._engine_ready:
            self.workflows.refresh()
        self.workflows.pane.list.setFocus()

    def show_missions(self) -> None:
        """Shows the missions, the mission shown and the cards (leaving the Workflows pane)."""
        self.pages.setCurrentWidget(self.splitter)
        self.workflows_button.setChecked(False)

    def show_run(self, mission_id: str) -> None:
        """Shows a workflow run's mission (just started, or from a workflow's history)."""
        self.show_missions()
        self.view.show(mission_id)

    def on_save_as_workflow(self, mission_id: str) -> None:
        """Save as workflow… on a finished mission: the form, busy while the lead proposes."""
        self.workflows.open_save_mission(mission_id, self.missions.title(mission_id))

    def on_rules_clicked(self) -> None:
        self.dialogs.open_rules()

    def on_memory_clicked(self) -> None:
        from ui.memory import open_memory

        open_memory(self, self.bridge, self.workspaces())

    def on_approve_first(self) -> None:
        self.approvals.approve_first()

    def on_reject_first(self) -> None:
        self.approvals.reject_first()

    def start_demo(self) -> None:
        """Starts the demo mission (scripted model, made-up data) and shows it."""
        self.clear_error()
        self.statusBar().showMessage("Starting the demo…", 4000)
        self.bridge.call(lambda e: e.start_demo(), self.view.show, what="start the demo")

    def on_stop_clicked(self) -> None:
        self.stop_button.setEnabled(False)
        self.statusBar().showMessage("Stopping every agent…")
        self.bridge.call(lambda e: e.cancel_all(), self.on_stopped, what="stop the agents")

    def on_stopped(self, count: int) -> None:
        self.statusBar().showMessage(
            f"Stopped {count} mission{'s' if count != 1 else ''}." if count else "Nothing was running.", 6000
        )
        self._update_stop()

    def _update_stop(self) -> None:
        self.stop_button.setEnabled(self.missions.any_running() or bool(self.approval_pane.cards))
        self.tray.refresh_menu()

    # The engine ----------------------------------------------------------------------------------

    def on_engine_started(self) -> None:
        self._engine_ready = True
        self.statusBar().showMessage("Ready.", 4000)
        self.bridge.call(lambda e: e.settings, self.view.set_settings, what="read the settings")
        self.bridge.call(lambda e: e.recovery_note, self.on_recovery_note, what="open the journal")
        self.bridge.read(lambda e: e.list_missions(), self.on_first_missions_loaded, what="list the missions")
        self.workflows.on_engine_started(schedules=self._schedules)
        if self._demo_on_start:
            self._demo_on_start = False
            self.start_demo()
        elif self._check_key:
            self.dialogs.check_key()

    def on_engine_failed(self, message: str) -> None:
        self.show_error(f"Ensemble's engine could not start: {message}")
        self.statusBar().showMessage("The engine is not running.")

    def on_recovery_note(self, note: str | None) -> None:
        if note:
            self.show_error(note)

    def on_first_missions_loaded(self, infos: list[MissionInfo]) -> None:
        self.missions.load(infos)
        # Once the list knows the missions (the cards name them): the cards waiting for the
        # person, then the missions the last quit paused carry on, their cards as they were. A
        # crash's are left to the person.
        # On the engine's loop, not in a thread: what waits is the gate's own state, not the disk.
        self.bridge.call(lambda e: e.waiting(), self.approvals.load, what="list the waiting actions")
        self.bridge.call(
            lambda e: e.resume_paused(), self.on_paused_resumed, what="resume the paused missions"
        )

    def on_paused_resumed(self, outcomes: list[tuple[str, str | None]]) -> None:
        resumed = [mission_id for mission_id, why in outcomes if why is None]
        failed = [(mission_id, why) for mission_id, why in outcomes if why is not None]
        if failed:
            self.show_error(
                " ".join(f"Could not resume “{self.missions.title(m)}”: {why}" for m, why in failed)
            )
        if resumed:
            n = len(resumed)
            self.statusBar().showMessage(
                f"Resumed {n} mission{'s' if n != 1 else ''} paused when Ensemble was closed.", 8000
            )
            if self.view.mission_id is None and self.missions.get(resumed[-1]) is not None:
                self.view.show(resumed[-1])
        self.paused_resumed.emit(resumed)

    def on_call_failed(self, what: str, error: object) -> None:
        if isinstance(error, BaseException) and not isinstance(error, EnsembleError):
            log.error("Could not %s", what, exc_info=error)
        self.show_error(f"Could not {what}. {error_text(error)}")

    def show_error(self, message: str) -> None:
        """Shows a problem at the top of the window; the next action clears it."""
        self.error_banner.setText(message)
        self.error_banner.show()

    def clear_error(self) -> None:
        """Hides the problem banner."""
        self.error_banner.hide()

    # Events ----------------------------------------------------------------------------------------

    def on_events_received(self, events: list[AnyEvent]) -> None:
        try:
            self.missions.apply(events)
            self.approvals.apply(events)
            self.view.apply(events)
            self.workflows.apply(events)
        except Exception:  # The window must survive any event it cannot draw; logged.
            log.exception("Could not show %d events", len(events))

    def on_missions_changed(self, mission_ids: list[str]) -> None:
        self._update_stop()
        if self.view.mission_id in mission_ids:
            self.view.update_header()

    def on_mission_finished(self, row: MissionRow) -> None:
        run = self.workflows.run_of(row.id)
        if run is not None and not self.tray.quitting:
            # A workflow's run: said whenever the person looks elsewhere, by the workflow's name.
            word = STATUS_WORDS.get(row.status, row.status).split(" ", 1)[-1].lower()
            word = "finished" if row.status == "done" else word
            self.tray.notify(f"Workflow “{run.workflow}” {word}", row.title, mission_id=row.id)
            return
        if row.status != "cancelled" and not self.tray.quitting:
            # Said whenever the person looks elsewhere (another window, the tray); a mission the
            # person stopped needs no word. Clicking it shows the mission.
            word = STATUS_WORDS.get(row.status, row.status).split(" ", 1)[-1]
            self.notify(f"Mission {word.lower()}", row.title, mission_id=row.id)

    def on_pending_count_changed(self, count: int) -> None:
        self.setWindowTitle(f"Ensemble ({count} waiting)" if count else "Ensemble")
        self.tray.set_waiting(count)
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            app.setBadgeNumber(count)
        self._update_stop()

    # Notifications and the tray ------------------------------------------------------------------

    def in_background(self) -> bool:
        """Whether the person is looking elsewhere (the window is not the active one)."""
        return not self.isActiveWindow()

    def notify(self, title: str, text: str, *, mission_id: str | None = None) -> None:
        """A desktop notification, if the person is looking elsewhere; clicking it shows
        ``mission_id``'s mission, if one is given."""
        self.tray.notify(title, text, mission_id=mission_id)

    def notify_waiting(self, mission_id: str, summary: str) -> None:
        """A desktop notification that an action waits for the person (by its workflow's name
        when the mission is a workflow's unattended run)."""
        self.tray.notify_waiting(mission_id, summary)

    def show_from_tray(self, mission_id: str | None = None) -> None:
        """Shows the window, on a mission if one is given."""
        self.bring_to_front()
        if mission_id is not None:
            self.show_missions()
        if mission_id is not None and self.missions.get(mission_id) and mission_id != self.view.mission_id:
            self.view.show(mission_id)

    def bring_to_front(self) -> None:
        """Shows and raises the window."""
        self.showNormal()
        self.raise_()
        self.activateWindow()

    # Geometry --------------------------------------------------------------------------------------

    def window_settings(self) -> QSettings:
        """The window's own settings: a small INI file next to settings.json, so that
        ENSEMBLE_HOME keeps tests and portable installs apart from the person's own layout."""
        return QSettings(str(self._paths.config_dir / "window.ini"), QSettings.Format.IniFormat)

    def _restore_geometry(self) -> None:
        store = self.window_settings()
        geometry = store.value("geometry")
        if not (isinstance(geometry, QByteArray) and self.restoreGeometry(geometry)):
            self.resize(first_size(self._available()))
        self._check_compact()
        self._fit_on_screen()
        splitter = store.value("splitter")
        restored = isinstance(splitter, QByteArray) and self.splitter.restoreState(splitter)
        # Each screen's own pane sizes over the last ones saved (see ui/layout_memory.py); on
        # a screen with none, the first sizes fitted to the window, no pane under its minimum.
        from ui.layout_memory import SplitterMemory

        defaults = None if restored else {"mainSplitter": list(DEFAULT_PANES)}
        self.layout_memory = SplitterMemory(self, [self.splitter], self.window_settings, defaults=defaults)
        self.layout_memory.restore()

    def _available(self) -> QRect:
        """The screen's area free of panels and docks (the primary screen's before the window shows)."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        return screen.availableGeometry() if screen is not None else QRect(0, 0, *DEFAULT_SIZE)

    def set_compact(self, compact: bool) -> None:
        """Switches the narrow layout on or off (see :data:`COMPACT_BELOW`): the missions are
        shown on demand, and the chat or the plan and audit beside the cards, with the panes'
        least widths lowered so that what is shown fits."""
        if compact == self.compact:
            return
        self.compact = compact
        for pane, width in zip(self._panes, COMPACT_MINIMUMS if compact else PANE_MINIMUMS, strict=True):
            pane.setMinimumWidth(width)
        self.missions_toggle.setVisible(compact)
        self.plan_toggle.setVisible(compact)
        self.tagline.setVisible(not compact)
        self._show_compact_panes()

    def _show_compact_panes(self) -> None:
        missions, centre, tabs, _cards = self._panes
        if not self.compact:
            for pane in self._panes:
                pane.show()
            return
        missions.setVisible(self.missions_toggle.isChecked())
        centre.setVisible(not self.plan_toggle.isChecked())
        tabs.setVisible(self.plan_toggle.isChecked())
        # The window's least size follows the panes shown, now (not after the next layout pass).
        for widget in (self.splitter, self.pages, self.centralWidget()):
            if widget is None:
                continue
            inner = widget.layout()
            if inner is not None:
                inner.activate()
            widget.updateGeometry()
        layout = self.layout()
        if layout is not None:
            layout.invalidate()
            layout.activate()

    def _check_compact(self) -> None:
        area = self._available()
        narrow = not area.isEmpty() and area.width() < COMPACT_BELOW
        self.set_compact(narrow or (self.isVisible() and self.width() < COMPACT_BELOW))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._check_compact()

    def _fit_on_screen(self) -> None:
        """Keeps the window (a restored one too) no larger than the screen's free area and
        inside it: a size saved on a bigger screen would put Send and the cards off-screen."""
        area = self._available()
        if area.isEmpty():
            return
        geometry = self.geometry()
        size = geometry.size().boundedTo(area.size())
        x = min(max(geometry.x(), area.left()), area.left() + area.width() - size.width())
        y = min(max(geometry.y(), area.top()), area.top() + area.height() - size.height())
        if size != geometry.size():
            self.resize(size)
        if (x, y) != (geometry.x(), geometry.y()):
            self.move(x, y)

    def save_geometry(self) -> None:
        """Remembers the window's size, position and panes."""
        store = self.window_settings()
        store.setValue("geometry", self.saveGeometry())
        store.setValue("splitter", self.splitter.saveState())
        store.sync()
        self.layout_memory.save()

    # Closing ---------------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        # The close button (a spontaneous event: the window manager's) keeps missions going:
        # in the tray, or the person is asked. Code closing the window (Quit once confirmed,
        # the session ending, a script) quits at once. Either way nothing is cancelled.
        if not self.tray.quitting and event.spontaneous() and not self.tray.close_button_quits():
            event.ignore()
            return
        first = not self._shut_down
        self.shut_down()
        super().closeEvent(event)
        if first:
            self.closed.emit()

    def shut_down(self) -> None:
        """Pauses every running mission (they resume at the next start) and stops the engine."""
        if self._shut_down:
            return
        self._shut_down = True
        self.save_geometry()
        self.tray.hide()
        self.workflows.stop_schedules()
        self.bridge.shutdown(pause=True)

    # Palette ---------------------------------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            from ui.widgets import style_sheet

            app = QApplication.instance()
            if isinstance(app, QApplication):
                sheet = style_sheet(is_dark())
                if app.styleSheet() != sheet and app.property("ensembleStyled"):
                    app.setStyleSheet(sheet)
        super().changeEvent(event)
