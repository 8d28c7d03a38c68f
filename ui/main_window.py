"""The main window: missions, the selected mission's chat, plan and audit, and the approvals.

Everything the window shows comes from the engine's events (live) or the journal (read in a
worker thread); everything it asks goes through the :class:`~ui.bridge.Bridge`. The GUI
thread never waits for the engine, the network or the disk.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QByteArray,
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSettings,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence, QPainter, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QSystemTrayIcon,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

# The window imports only what it needs to draw itself: the engine's heavier modules (the
# journal's SQLAlchemy, pydantic, the keyring) load on the engine thread, off the cold start.
from app.errors import EngineError
from app.paths import Paths
from ui.approval import ApprovalCard, ApprovalPane
from ui.audit import AuditView
from ui.chat import ChatInput, ChatView
from ui.plan import PlanView
from ui.widgets import app_icon, is_dark

if TYPE_CHECKING:
    from app.engine import Engine, RuleKind
    from app.gate import Decision
    from app.journal import Event, Journal, ProposedAction, Rule
    from app.settings import Settings
    from ui.bridge import Bridge
    from ui.rules_dialog import RulesDialog
    from ui.settings_dialog import SettingsDialog
    from ui.welcome import WelcomeDialog

log = logging.getLogger(__name__)

STATUS_WORDS = {
    "running": "● Running",
    "done": "✓ Done",
    "failed": "✕ Failed",
    "cancelled": "■ Stopped",
    "interrupted": "‖ Interrupted",
}
NEW_MISSION_TEXT = "Say what you want done; the agents plan it and ask you before changing anything."
DEMO_TEXT = (
    "Demo: a scripted model plays the agents on made-up invoices, emails and a supplier portal "
    "served on this computer. Approve, edit or reject the cards on the right as you would for "
    "real; nothing leaves this computer. Add your API key in Settings for your own missions."
)
CLOSE_QUESTION = "Missions are still running. Quit and pause them, or keep the window open?"
QUIT_QUESTION = "Missions are still running. Quit and pause them?"
PAUSE_NOTE = (
    "Paused missions keep their place and the cards waiting for you, and carry on by "
    "themselves when you open Ensemble again."
)
BACKGROUND_TITLE = "Ensemble keeps working in the background"
ROLE_MISSION = Qt.ItemDataRole.UserRole + 10
ROLE_LINE = Qt.ItemDataRole.UserRole + 11
ROLE_STATUS = Qt.ItemDataRole.UserRole + 12


def aware(at: datetime) -> datetime:
    """SQLite gives back naive datetimes; the journal writes UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def cost_text(cost: float | None) -> str:
    """``"$0.42"``, ``"< $0.01"``, or empty when the price is unknown."""
    if cost is None:
        return ""
    return "< $0.01" if 0 < cost < 0.01 else f"${cost:,.2f}"


def _estimate(model: str, data: dict[str, Any]) -> float | None:
    try:
        from app.pricing import estimate_cost
    except ImportError:  # The pricing module is optional: without it, no cost is shown.
        return None
    return estimate_cost(
        model,
        int(data.get("input_tokens", 0) or 0),
        int(data.get("output_tokens", 0) or 0),
        int(data.get("cache_read_tokens", 0) or 0),
        int(data.get("cache_write_tokens", 0) or 0),
    )


def _title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 80 else line[:77] + "…"


@dataclass
class MissionInfo:
    """What the missions list shows of a mission."""

    id: str
    title: str
    status: str
    started_at: datetime
    tokens: int = 0
    cost: float | None = None
    model: str = ""
    waiting_question: bool = False
    demo: bool = False  # the demo mission (app/demo.py): a scripted model, made-up files

    def line(self) -> str:
        """The second line of its list entry."""
        parts = [
            STATUS_WORDS.get(self.status, self.status),
            self.started_at.astimezone().strftime("%d %b %H:%M"),
        ]
        if self.tokens:
            parts.append(f"{self.tokens:,} tokens")
        if self.cost is not None and self.tokens:
            parts.append(cost_text(self.cost))
        if self.waiting_question:
            parts.insert(0, "? Question for you")
        return " · ".join(parts)


class _MissionDelegate(QStyledItemDelegate):
    """Two lines per mission: its title, and its status, start time, tokens and cost."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        height = option.fontMetrics.height()
        return QSize(200, int(height * 2.6) + 12)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        title, line = opt.text, str(index.data(ROLE_LINE) or "")
        opt.text = ""
        style = opt.widget.style() if opt.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        rect: QRect = opt.rect.adjusted(10, 6, -10, -6)
        painter.save()
        font = opt.font
        font.setBold(True)
        painter.setFont(font)
        if selected:
            painter.setPen(opt.palette.highlightedText().color())
        metrics = painter.fontMetrics()
        painter.drawText(
            rect.adjusted(0, 0, 0, -rect.height() // 2),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            metrics.elidedText(title, Qt.TextElideMode.ElideRight, rect.width()),
        )
        font.setBold(False)
        painter.setFont(font)
        colour = opt.palette.highlightedText().color() if selected else opt.palette.placeholderText().color()
        painter.setPen(colour)
        painter.drawText(
            rect.adjusted(0, rect.height() // 2, 0, 0),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            painter.fontMetrics().elidedText(line, Qt.TextElideMode.ElideRight, rect.width()),
        )
        painter.restore()


def _api_key() -> str | None:
    """The API key in use (reads the keyring: call it off the GUI thread)."""
    from app import secrets

    return secrets.api_key()


def _is_expected(error: object) -> bool:
    """Whether an error is one the engine raises for a person to read (not a bug)."""
    from app.gate import GateError

    return isinstance(error, (EngineError, GateError))


async def _save_settings(engine: Engine, settings: Settings, key: str | None) -> str | None:
    """On the engine's loop: uses and stores new settings, and the key. Returns a note."""
    from app import secrets

    engine.settings = settings
    await asyncio.to_thread(settings.save, engine.paths.settings)
    if key is None:
        return None
    try:
        await asyncio.to_thread(secrets.set_secret, secrets.API_KEY_ENTRY, key)
    except secrets.SecretError as exc:
        # Without a keyring the key still works for this session, from the environment.
        os.environ["ANTHROPIC_API_KEY"] = key
        return f"{exc} The key is used until Ensemble closes."
    return None


class MainWindow(QMainWindow):
    """Ensemble's window.

    Args:
        bridge: The engine's bridge, started or not (the window starts it).
        workspaces: Folders granted for this session (``ensemble --workspace DIR``), on top
            of the settings' folders.
        paths: Where the window keeps its geometry; by default :meth:`Paths.default`.
        check_key: Welcome a newcomer with no API key: offer the demo or the settings.
        demo: Start the demo mission as soon as the engine is up (``ensemble demo``).

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
    ) -> None:
        super().__init__()
        self.bridge = bridge
        self.setObjectName("mainWindow")
        self.setWindowTitle("Ensemble")
        self.setWindowIcon(app_icon())
        self.setAccessibleName("Ensemble")
        self._paths = paths or Paths.default()
        self._session_workspaces = [Path(w).expanduser().resolve() for w in workspaces or []]
        self._check_key = check_key
        self._demo_on_start = demo
        self.welcome_dialog: WelcomeDialog | None = None
        self._settings: Settings | None = None
        self._missions: dict[str, MissionInfo] = {}
        self._items: dict[str, QListWidgetItem] = {}
        self._shown: str | None = None
        self._loaded_upto: int | None = None  # None while the shown mission is loading
        self._buffer: list[Event] = []
        self.settings_dialog: SettingsDialog | None = None
        self.rules_dialog: RulesDialog | None = None
        self._resuming: str | None = None
        self.notifications: list[str] = []
        self._engine_ready = False
        self._quitting = False  # Quit was confirmed (or code closes the window): close for good
        self._shut_down = False

        self._build()
        self._build_shortcuts()
        self.tray_menu = self._build_tray_menu()
        self._tray = self._build_tray()
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
        bar.addWidget(tagline, 1)
        self.new_button = QPushButton("+ New mission")
        self.new_button.setObjectName("newMissionButton")
        self.new_button.setAccessibleName("New mission")
        self.new_button.setToolTip("Start a new mission (Ctrl+N)")
        self.new_button.setProperty("role", "accent")
        self.new_button.clicked.connect(self.on_new_mission_clicked)
        bar.addWidget(self.new_button)
        self.settings_button = QPushButton("Settings")
        self.settings_button.setObjectName("settingsButton")
        self.settings_button.setAccessibleName("Settings")
        self.settings_button.setToolTip("API key, model, folders and limits (Ctrl+,)")
        self.settings_button.clicked.connect(self.on_settings_clicked)
        bar.addWidget(self.settings_button)
        self.demo_button = QPushButton("Demo")
        self.demo_button.setObjectName("demoButton")
        self.demo_button.setAccessibleName("Run the demo mission")
        self.demo_button.setToolTip(
            "Run a demo mission on made-up data with a scripted model: no API key needed"
        )
        self.demo_button.clicked.connect(self.start_demo)
        bar.addWidget(self.demo_button)
        self.rules_button = QPushButton("Rules")
        self.rules_button.setObjectName("rulesButton")
        self.rules_button.setAccessibleName("Rules")
        self.rules_button.setToolTip("The standing decisions that approve or reject actions for you")
        self.rules_button.clicked.connect(self.on_rules_clicked)
        bar.addWidget(self.rules_button)
        self.stop_button = QPushButton("■ Stop all")
        self.stop_button.setObjectName("stopAllButton")
        self.stop_button.setAccessibleName("Stop all agents")
        self.stop_button.setToolTip(
            "Stop every running agent now; actions waiting for you are rejected (Ctrl+Shift+S)"
        )
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.on_stop_clicked)
        bar.addWidget(self.stop_button)
        outer.addWidget(top)

        self.error_banner = QLabel()
        self.error_banner.setObjectName("errorBanner")
        self.error_banner.setAccessibleName("Problem")
        self.error_banner.setWordWrap(True)
        self.error_banner.hide()
        outer.addWidget(self.error_banner)
        self.demo_banner = QLabel(DEMO_TEXT)
        self.demo_banner.setObjectName("demoBanner")
        self.demo_banner.setAccessibleName("This is a demo")
        self.demo_banner.setWordWrap(True)
        self.demo_banner.hide()
        outer.addWidget(self.demo_banner)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setHandleWidth(1)

        # Missions.
        missions = QWidget()
        missions.setObjectName("missionsPanel")
        ml = QVBoxLayout(missions)
        ml.setContentsMargins(0, 10, 0, 0)
        ml.setSpacing(4)
        heading = QLabel("Missions")
        heading.setObjectName("paneTitle")
        heading.setAccessibleName("Missions")
        heading.setContentsMargins(12, 0, 12, 4)
        ml.addWidget(heading)
        self.mission_list = QListWidget()
        self.mission_list.setObjectName("missionList")
        self.mission_list.setAccessibleName("Missions")
        self.mission_list.setItemDelegate(_MissionDelegate(self.mission_list))
        self.mission_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.mission_list.currentItemChanged.connect(self.on_mission_selected)
        ml.addWidget(self.mission_list, 1)
        self.missions_empty = QLabel("Your missions will be listed here.")
        self.missions_empty.setObjectName("missionsEmpty")
        self.missions_empty.setAccessibleName("No missions yet")
        self.missions_empty.setProperty("muted", True)
        self.missions_empty.setWordWrap(True)
        self.missions_empty.setContentsMargins(12, 0, 12, 12)
        ml.addWidget(self.missions_empty)
        self.splitter.addWidget(missions)

        # The conversation.
        centre = QWidget()
        centre.setObjectName("conversationPanel")
        cl = QVBoxLayout(centre)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        header = QWidget()
        hl = QVBoxLayout(header)
        hl.setContentsMargins(16, 12, 16, 8)
        hl.setSpacing(2)
        self.mission_header = QLabel("New mission")
        self.mission_header.setObjectName("missionHeader")
        self.mission_header.setAccessibleName("Mission")
        self.mission_header.setWordWrap(True)
        title_row = QHBoxLayout()
        title_row.setSpacing(8)
        title_row.addWidget(self.mission_header, 1)
        self.resume_button = QPushButton("▶ Resume")
        self.resume_button.setObjectName("resumeButton")
        self.resume_button.setAccessibleName("Resume mission")
        self.resume_button.setToolTip(
            "Continue this interrupted mission where it stopped; nothing that finished runs again"
        )
        self.resume_button.setProperty("role", "accent")
        self.resume_button.hide()
        self.resume_button.clicked.connect(self.on_resume_clicked)
        title_row.addWidget(self.resume_button, 0, Qt.AlignmentFlag.AlignTop)
        hl.addLayout(title_row)
        self.mission_status = QLabel(
            "Say what you want done; the agents will plan it and ask before changing anything."
        )
        self.mission_status.setObjectName("missionStatus")
        self.mission_status.setAccessibleName("Mission status")
        # One line: its text changes with every model call, and must not re-lay out the chat.
        self.mission_status.setWordWrap(False)
        self.mission_status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        hl.addWidget(self.mission_status)
        cl.addWidget(header)
        self.chat_view = ChatView()
        cl.addWidget(self.chat_view, 1)
        composer = QWidget()
        composer.setObjectName("composer")
        col = QVBoxLayout(composer)
        col.setContentsMargins(12, 8, 12, 12)
        col.setSpacing(6)
        folders = QHBoxLayout()
        self.folders_label = QLabel()
        self.folders_label.setObjectName("workspaceLabel")
        self.folders_label.setAccessibleName("Folders the agents may use")
        self.folders_label.setProperty("muted", True)
        self.folders_label.setWordWrap(True)
        folders.addWidget(self.folders_label, 1)
        self.folder_button = QPushButton("Add folder…")
        self.folder_button.setObjectName("addFolderButton")
        self.folder_button.setAccessibleName("Add a folder the agents may use")
        self.folder_button.setProperty("role", "link")
        self.folder_button.clicked.connect(self.on_add_folder_clicked)
        folders.addWidget(self.folder_button)
        col.addLayout(folders)
        row = QHBoxLayout()
        self.chat_input = ChatInput()
        self.chat_input.submitted.connect(self.on_send_clicked)
        row.addWidget(self.chat_input, 1)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("sendButton")
        self.send_button.setAccessibleName("Send")
        self.send_button.setProperty("role", "accent")
        self.send_button.setToolTip("Send (Enter or Ctrl+Enter; Shift+Enter for a new line)")
        self.send_button.setMinimumHeight(40)
        self.send_button.clicked.connect(self.on_send_clicked)
        row.addWidget(self.send_button, 0, Qt.AlignmentFlag.AlignBottom)
        col.addLayout(row)
        cl.addWidget(composer)
        self.splitter.addWidget(centre)

        # Plan and audit.
        self.tabs = QTabWidget()
        self.tabs.setObjectName("missionTabs")
        self.tabs.setAccessibleName("Plan and audit")
        self.tabs.setDocumentMode(True)
        self.plan_view = PlanView()
        self.audit_view = AuditView()
        self.audit_view.undo_requested.connect(self.on_undo_requested)
        self.audit_view.exported.connect(lambda path: self.audit_view.show_status(f"Saved {path}"))
        self.audit_view.export_failed.connect(self.audit_view.show_status)
        self.tabs.addTab(self.plan_view, "Plan")
        self.tabs.addTab(self.audit_view, "Audit")
        self.splitter.addWidget(self.tabs)

        # Approvals.
        self.approval_pane = ApprovalPane(self.mission_title)
        self.approval_pane.card_added.connect(self.on_card_added)
        self.approval_pane.count_changed.connect(self.on_pending_count_changed)
        self.splitter.addWidget(self.approval_pane)

        # Small minimums, so that the window fits a small laptop screen.
        for widget, width in ((missions, 170), (centre, 280), (self.tabs, 220), (self.approval_pane, 260)):
            widget.setMinimumWidth(width)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setStretchFactor(2, 3)
        self.splitter.setStretchFactor(3, 2)
        self.splitter.setSizes([240, 400, 520, 400])
        outer.addWidget(self.splitter, 1)
        self.setCentralWidget(root)
        self.statusBar().setObjectName("statusBar")
        self.statusBar().setAccessibleName("Status")
        self.statusBar().showMessage("Starting the engine…")
        self._update_composer()

    def _build_shortcuts(self) -> None:
        for keys, slot, name in (
            ("Ctrl+Return", self.on_send_clicked, "Send"),
            ("Ctrl+Enter", self.on_send_clicked, "Send"),
            ("Ctrl+Shift+A", self.on_approve_first, "Approve the first card"),
            ("Ctrl+Shift+R", self.on_reject_first, "Reject the first card"),
            ("Ctrl+Shift+S", self.on_stop_clicked, "Stop all"),
            ("Ctrl+N", self.on_new_mission_clicked, "New mission"),
            ("Ctrl+,", self.on_settings_clicked, "Settings"),
            ("Ctrl+Q", self.request_quit, "Quit"),
        ):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setObjectName(f"shortcut {name}")
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(slot)

    def _build_tray_menu(self) -> QMenu:
        # Built even without a system tray, so that what it would show can be checked.
        menu = QMenu(self)
        menu.setObjectName("trayMenu")
        menu.aboutToShow.connect(self.refresh_tray_menu)
        self.refresh_tray_menu(menu)
        return menu

    def _build_tray(self) -> QSystemTrayIcon | None:
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return None
        tray = QSystemTrayIcon(app_icon(), self)
        tray.setToolTip("Ensemble")
        tray.setContextMenu(self.tray_menu)
        tray.activated.connect(self.on_tray_activated)
        tray.show()
        return tray

    def on_tray_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.bring_to_front()

    def refresh_tray_menu(self, menu: QMenu | None = None) -> None:
        """Fills the tray's menu: one entry per mission running or waiting, Show, Quit."""
        menu = menu or self.tray_menu
        if menu.isVisible():
            return  # never under the person's pointer; it is filled again before it opens
        menu.clear()
        waiting: dict[str, int] = {}
        for card in self.approval_pane.cards:
            waiting[card.mission_id] = waiting.get(card.mission_id, 0) + 1
        for info in self.busy_missions():
            if waiting.get(info.id):
                state = f"{waiting[info.id]} waiting for you"
            elif info.waiting_question:
                state = "a question for you"
            else:
                state = "running"
            title = info.title if len(info.title) <= 48 else info.title[:47] + "…"
            action = QAction(f"{title} — {state}", menu)
            action.setData(info.id)
            action.triggered.connect(
                lambda _checked=False, mission_id=info.id: self.show_from_tray(mission_id)
            )
            menu.addAction(action)
        if menu.actions():
            menu.addSeparator()
        show = QAction("Show Ensemble", menu)
        show.setObjectName("trayShowAction")
        show.triggered.connect(self.bring_to_front)
        menu.addAction(show)
        quit_action = QAction("Quit", menu)
        quit_action.setObjectName("trayQuitAction")
        quit_action.triggered.connect(self.request_quit)
        menu.addAction(quit_action)

    def show_from_tray(self, mission_id: str | None = None) -> None:
        """Shows the window, on a mission if one is given."""
        self.bring_to_front()
        if mission_id is not None and mission_id in self._missions and mission_id != self._shown:
            self.show_mission(mission_id)

    def bring_to_front(self) -> None:
        """Shows and raises the window."""
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def busy_missions(self) -> list[MissionInfo]:
        """The missions running or with a card waiting for the person, newest first."""
        waiting = {card.mission_id for card in self.approval_pane.cards}
        busy = [m for m in self._missions.values() if m.status == "running" or m.id in waiting]
        return sorted(busy, key=lambda m: m.started_at, reverse=True)

    # Geometry --------------------------------------------------------------------------------

    def _window_settings(self) -> QSettings:
        # A small INI file next to settings.json, so that ENSEMBLE_HOME keeps tests and
        # portable installs separate from the person's own window layout.
        return QSettings(str(self._paths.config_dir / "window.ini"), QSettings.Format.IniFormat)

    def _restore_geometry(self) -> None:
        store = self._window_settings()
        geometry = store.value("geometry")
        if isinstance(geometry, QByteArray) and self.restoreGeometry(geometry):
            pass
        else:
            self.resize(1500, 920)
        splitter = store.value("splitter")
        if isinstance(splitter, QByteArray):
            self.splitter.restoreState(splitter)

    def save_geometry(self) -> None:
        """Remembers the window's size, position and panes."""
        store = self._window_settings()
        store.setValue("geometry", self.saveGeometry())
        store.setValue("splitter", self.splitter.saveState())
        store.sync()

    # Closing and quitting -------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        # The close button (a spontaneous event: the window manager's) keeps missions going:
        # in the tray, or the person is asked. Code closing the window (Quit once confirmed,
        # the session ending, a script) quits at once. Either way nothing is cancelled.
        if not self._quitting and event.spontaneous() and not self._close_button_quits():
            event.ignore()
            return
        first = not self._shut_down
        self.shut_down()
        super().closeEvent(event)
        if first:
            self.closed.emit()

    def _close_button_quits(self) -> bool:
        busy = self.busy_missions()
        if not busy:
            return True
        if self._tray is not None and QSystemTrayIcon.isSystemTrayAvailable():
            self.hide_to_tray()
            return False
        return self.confirm_quit(CLOSE_QUESTION, busy)

    def hide_to_tray(self) -> None:
        """Hides the window; Ensemble keeps working, in the tray (said once)."""
        self.save_geometry()
        self.hide()
        self.refresh_tray_menu()
        store = self._window_settings()
        if not store.value("backgroundExplained", False, type=bool):
            store.setValue("backgroundExplained", True)
            store.sync()
            count = len(self.busy_missions())
            self._notify(
                BACKGROUND_TITLE,
                f"{count} mission{'s are' if count != 1 else ' is'} running or waiting for you. "
                "Click the Ensemble icon to open the window; Quit in its menu pauses them.",
            )
        self.hidden_to_tray.emit()

    def confirm_quit(self, question: str, busy: list[MissionInfo]) -> bool:
        """Asks whether to quit while missions run; returns whether the person said so."""
        box = QMessageBox(QMessageBox.Icon.Question, "Quit Ensemble?", question, parent=self)
        box.setObjectName("quitQuestion")
        titles = "\n".join(f"• {m.title}" for m in busy[:8])
        more = f"\n…and {len(busy) - 8} more" if len(busy) > 8 else ""
        box.setInformativeText(f"{titles}{more}\n\n{PAUSE_NOTE}")
        pause = box.addButton("Pause and quit", QMessageBox.ButtonRole.AcceptRole)
        pause.setObjectName("pauseAndQuitButton")
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        cancel.setObjectName("cancelQuitButton")
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        self.quit_asked.emit(box)
        box.exec()
        answer = box.clickedButton() is pause
        box.deleteLater()
        return answer

    def request_quit(self) -> bool:
        """Quit (the tray's menu, Ctrl+Q): asks first if missions run, then pauses them all and
        closes for good. Returns whether it did."""
        busy = self.busy_missions()
        if busy and not self.confirm_quit(QUIT_QUESTION, busy):
            return False
        self._quitting = True
        self.close()
        return True

    def shut_down(self) -> None:
        """Pauses every running mission (they resume at the next start) and stops the engine."""
        if self._shut_down:
            return
        self._shut_down = True
        self._quitting = True
        self.save_geometry()
        if self._tray is not None:
            self._tray.hide()
        self.bridge.shutdown(pause=True)

    # The engine ------------------------------------------------------------------------------

    def on_engine_started(self) -> None:
        self._engine_ready = True
        self.statusBar().showMessage("Ready.", 4000)
        self.bridge.call(lambda e: e.settings, self.on_settings_loaded, what="read the settings")
        self.bridge.query(_load_missions, self._on_first_missions_loaded, what="list the missions")
        self.bridge.call(_pending_actions, self.on_pending_loaded, what="list the waiting actions")
        if self._demo_on_start:
            self._demo_on_start = False
            self.start_demo()
        elif self._check_key:
            self.bridge.call(lambda _e: asyncio.to_thread(_api_key), self.on_key_checked, what="read the key")

    def on_engine_failed(self, message: str) -> None:
        self.show_error(f"Ensemble's engine could not start: {message}")
        self.statusBar().showMessage("The engine is not running.")

    def on_call_failed(self, what: str, error: object) -> None:
        if _is_expected(error):
            text = str(error)
        else:
            text = f"{type(error).__name__}: {error}"
            if isinstance(error, BaseException):
                log.error("Could not %s", what, exc_info=error)
        self.show_error(f"Could not {what}. {text}")

    def show_error(self, message: str) -> None:
        """Shows a problem at the top of the window; the next action clears it."""
        self.error_banner.setText(message)
        self.error_banner.show()

    def clear_error(self) -> None:
        """Hides the problem banner."""
        self.error_banner.hide()

    def on_settings_loaded(self, settings: Settings) -> None:
        self._settings = settings
        self._update_composer()

    def on_key_checked(self, key: str | None) -> None:
        if not key:
            self.open_welcome()

    def open_welcome(self) -> WelcomeDialog:
        """Welcomes a newcomer who has no API key: the demo, or the settings (window-modal)."""
        from ui.welcome import WelcomeDialog

        if self.welcome_dialog is not None and self.welcome_dialog.isVisible():
            return self.welcome_dialog
        dialog = WelcomeDialog(self)
        dialog.demo_requested.connect(self.start_demo)
        dialog.key_requested.connect(lambda: self.open_settings(first_run=True, key=None))
        self.welcome_dialog = dialog
        dialog.open()
        self.welcome_opened.emit(dialog)
        return dialog

    def start_demo(self) -> None:
        """Starts the demo mission (scripted model, made-up data) and shows it."""
        self.clear_error()
        self.statusBar().showMessage("Starting the demo…", 4000)
        self.bridge.call(lambda e: e.start_demo(), self.on_mission_started, what="start the demo")

    def _on_first_missions_loaded(self, rows: list[tuple[Any, float | None, str]]) -> None:
        self.on_missions_loaded(rows)
        # Once the list shows them (so that their events find them): the missions the last
        # quit paused carry on, their cards as they were. A crash's are left to the person.
        self.bridge.call(
            lambda e: e.resume_paused(), self.on_paused_resumed, what="resume the paused missions"
        )

    def on_paused_resumed(self, outcomes: list[tuple[str, str | None]]) -> None:
        resumed = [mission_id for mission_id, why in outcomes if why is None]
        failed = [(mission_id, why) for mission_id, why in outcomes if why is not None]
        if failed:
            self.show_error(
                " ".join(f"Could not resume “{self.mission_title(m)}”: {why}" for m, why in failed)
            )
        if resumed:
            n = len(resumed)
            self.statusBar().showMessage(
                f"Resumed {n} mission{'s' if n != 1 else ''} paused when Ensemble was closed.", 8000
            )
            if self._shown is None and resumed[-1] in self._missions:
                self.show_mission(resumed[-1])
        self.paused_resumed.emit(resumed)

    def on_missions_loaded(self, rows: list[tuple[Any, float | None, str]]) -> None:
        for mission, cost, model in reversed(rows):
            if mission.id in self._missions:
                continue
            info = MissionInfo(
                id=mission.id,
                title=mission.title,
                status=mission.status,
                started_at=aware(mission.started_at),
                tokens=mission.tokens,
                cost=cost,
                model=model,
                demo="demo" in json.loads(mission.options_json or "{}"),
            )
            self._missions[mission.id] = info
            self._add_item(info, at_top=False)
        self._sort_missions()

    def on_pending_loaded(self, actions: list[ProposedAction]) -> None:
        import json

        for action in actions:
            self.approval_pane.add_action(
                action_id=action.id,
                mission_id=action.mission_id,
                agent=action.agent,
                tool=action.tool,
                effect=action.effect,
                arguments=json.loads(action.arguments_json),
                preview=json.loads(action.preview_json),
                notice=action.notice,
            )

    # Missions list ---------------------------------------------------------------------------

    def mission_title(self, mission_id: str) -> str:
        """A mission's title, for cards."""
        info = self._missions.get(mission_id)
        return info.title if info else f"mission {mission_id}"

    def mission_info(self, mission_id: str) -> MissionInfo | None:
        """What the list knows of a mission."""
        return self._missions.get(mission_id)

    def _add_item(self, info: MissionInfo, *, at_top: bool) -> None:
        item = QListWidgetItem(info.title)
        item.setData(ROLE_MISSION, info.id)
        if at_top:
            self.mission_list.insertItem(0, item)
        else:
            self.mission_list.addItem(item)
        self._items[info.id] = item
        self._refresh_item(info)
        self.missions_empty.hide()

    def _refresh_item(self, info: MissionInfo) -> None:
        item = self._items.get(info.id)
        if item is None:
            return
        line = info.line()
        item.setText(info.title)
        item.setData(ROLE_LINE, line)
        item.setData(ROLE_STATUS, info.status)
        item.setToolTip(f"{info.title}\n{line}")
        item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{info.title}. {line}")

    def _sort_missions(self) -> None:
        order = sorted(self._missions.values(), key=lambda m: m.started_at, reverse=True)
        current = self._shown
        self.mission_list.blockSignals(True)
        for info in order:
            item = self._items[info.id]
            self.mission_list.takeItem(self.mission_list.row(item))
            self.mission_list.addItem(item)
        if current and current in self._items:
            self.mission_list.setCurrentItem(self._items[current])
        self.mission_list.blockSignals(False)
        self.missions_empty.setVisible(not self._missions)

    def _update_missions(self, events: list[Event]) -> None:
        dirty: set[str] = set()
        for event in events:
            if not event.mission_id or event.kind == "text_delta":
                continue
            info = self._missions.get(event.mission_id)
            if event.kind == "mission_started":
                if info is None:
                    info = MissionInfo(
                        id=event.mission_id,
                        title=_title(str(event.data.get("text", event.summary))),
                        status="running",
                        started_at=aware(event.at),
                        model=str(event.data.get("model", "")),
                        demo=bool(event.data.get("demo")),
                    )
                    self._missions[info.id] = info
                    self._add_item(info, at_top=True)
                continue
            if info is None:
                continue
            if event.kind == "model_call":
                info.tokens = int(event.data.get("mission_tokens", info.tokens) or info.tokens)
                cost = _estimate(str(event.data.get("model", info.model)), event.data)
                if cost is not None:
                    info.cost = (info.cost or 0.0) + cost
            elif event.kind == "mission_finished":
                info.status = str(event.data.get("status", "done"))
                info.waiting_question = False
                if not self.isVisible() and not self._quitting:
                    # In the tray: the person would not know otherwise.
                    word = STATUS_WORDS.get(info.status, info.status).split(" ", 1)[-1]
                    self._notify(f"Mission {word.lower()}", info.title)
            elif event.kind in ("mission_continued", "mission_resumed"):
                info.status = "running"
            elif event.kind == "question_asked":
                info.waiting_question = True
                self._notify("The lead agent has a question", str(event.data.get("question", event.summary)))
            elif event.kind == "question_answered":
                info.waiting_question = False
            else:
                continue
            dirty.add(info.id)
        for mission_id in dirty:
            self._refresh_item(self._missions[mission_id])
        if dirty:
            self._update_stop()
            if self._shown in dirty:
                self._update_header()

    def _update_stop(self) -> None:
        running = any(m.status == "running" for m in self._missions.values())
        self.stop_button.setEnabled(running or bool(self.approval_pane.cards))
        self.refresh_tray_menu()

    # Showing a mission -----------------------------------------------------------------------

    def on_new_mission_clicked(self) -> None:
        self.mission_list.blockSignals(True)
        self.mission_list.setCurrentRow(-1)
        self.mission_list.clearSelection()
        self.mission_list.blockSignals(False)
        self.show_mission(None)
        self.chat_input.setFocus()

    def on_mission_selected(self, current: QListWidgetItem | None, _previous: object = None) -> None:
        mission_id = current.data(ROLE_MISSION) if current is not None else None
        if mission_id != self._shown:
            self.show_mission(mission_id)

    def show_mission(self, mission_id: str | None) -> None:
        """Shows a mission's chat, plan and audit (None: a new mission)."""
        self._shown = mission_id
        self._buffer = []
        self.plan_view.clear()
        self.chat_view.clear()
        self.audit_view.clear(mission_id or "")
        if mission_id is None:
            self._loaded_upto = 0
            self._update_header()
            self._update_composer()
            return
        item = self._items.get(mission_id)
        if item is not None and self.mission_list.currentItem() is not item:
            self.mission_list.blockSignals(True)
            self.mission_list.setCurrentItem(item)
            self.mission_list.blockSignals(False)
        self._loaded_upto = None
        self._update_header()
        self._update_composer()
        self.bridge.query(
            lambda journal: _load_events(journal, mission_id),
            lambda events: self.on_mission_loaded(mission_id, events),
            what="read the mission",
        )

    def on_mission_loaded(self, mission_id: str, events: list[Event]) -> None:
        if mission_id != self._shown:
            return
        upto = max((e.audit_id or 0 for e in events), default=0)
        later = [e for e in self._buffer if e.audit_id is not None and e.audit_id > upto]
        self._buffer = []
        self._loaded_upto = upto
        self._apply_shown(events + later)
        self.mission_shown.emit(mission_id)

    def _apply_shown(self, events: list[Event]) -> None:
        self.plan_view.apply(events)
        self.chat_view.apply(events)
        self.audit_view.apply(events)

    def _update_header(self) -> None:
        info = self._missions.get(self._shown or "")
        self.demo_banner.setVisible(info is not None and info.demo)
        if info is None:
            self.mission_header.setText("New mission")
            self.mission_status.setText(NEW_MISSION_TEXT)
            self.resume_button.hide()
            return
        self.mission_header.setText(info.title)
        self.mission_status.setText(info.line())
        interrupted = info.status == "interrupted"
        self.resume_button.setVisible(interrupted)
        self.resume_button.setEnabled(interrupted and self._resuming != info.id)
        self._update_composer()

    def _update_composer(self) -> None:
        info = self._missions.get(self._shown or "")
        demo = info is not None and info.demo
        self.chat_input.setEnabled(not demo)
        self.send_button.setEnabled(not demo)
        if info is None:
            text = "Describe a new mission, e.g. “Mark every overdue invoice in invoices.xlsx as overdue”"
        elif demo:
            text = "The demo's scripted model takes no follow-ups: start a new mission for your own work."
        elif info.waiting_question:
            text = "Answer the lead agent's question…"
        elif info.status == "running":
            text = "Add something for the lead agent; it reads it at its next step…"
        else:
            text = "Continue this mission with a new request…"
        self.chat_input.setPlaceholderText(text)
        folders = self.workspaces()
        self.folder_button.setVisible(not demo)
        if demo:
            self.folders_label.setText("The demo works on its own made-up files (demo-workspace).")
            self.folders_label.setToolTip(str(self._paths.data_dir / "demo-workspace"))
        elif folders:
            names = ", ".join(f.name or str(f) for f in folders)
            self.folders_label.setText(f"Agents may use: {names}")
            self.folders_label.setToolTip("\n".join(str(f) for f in folders))
        else:
            self.folders_label.setText("No folder chosen yet: add the folder with your files.")
            self.folders_label.setToolTip("")

    def workspaces(self) -> list[Path]:
        """The folders a new mission may use: this session's and the settings'."""
        folders = list(self._session_workspaces)
        if self._settings is not None:
            folders += [Path(w).expanduser() for w in self._settings.workspaces]
        return list(dict.fromkeys(folders))

    def on_add_folder_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A folder the agents may use")
        if folder:
            self.grant_folder(Path(folder))

    def grant_folder(self, folder: Path) -> None:
        """Lets missions started from now on in this session use ``folder``."""
        folder = folder.expanduser().resolve()
        if folder not in self._session_workspaces:
            self._session_workspaces.append(folder)
        self._update_composer()

    # Events ------------------------------------------------------------------------------------

    def on_events_received(self, events: list[Event]) -> None:
        try:
            self._on_events(events)
        except Exception:  # The window must survive any event it cannot draw; logged.
            log.exception("Could not show %d events", len(events))

    def _on_events(self, events: list[Event]) -> None:
        self._update_missions(events)
        decided = {str(e.data.get("action_id")) for e in events if e.kind == "action_decided"}
        for event in events:
            if event.kind == "action_proposed":
                action_id = str(event.data.get("action_id"))
                if action_id not in decided:
                    self.approval_pane.add_event(event.data, event.mission_id, self._agent_of(event))
            elif event.kind == "action_decided":
                self.approval_pane.remove_action(str(event.data.get("action_id")))
        if self._shown is None:
            return
        mine = [e for e in events if e.mission_id == self._shown]
        if not mine:
            return
        if self._loaded_upto is None:
            self._buffer.extend(e for e in mine if e.audit_id is not None)
            return
        self._apply_shown(mine)

    def _agent_of(self, event: Event) -> str:
        summary = event.summary
        return summary.split(" proposes:", 1)[0] if " proposes:" in summary else "An"

    # Approvals ---------------------------------------------------------------------------------

    def on_card_added(self, card: ApprovalCard) -> None:
        card.approved.connect(self.on_card_approved)
        card.edited.connect(self.on_card_edited)
        card.rejected.connect(self.on_card_rejected)
        card.approve_all_requested.connect(self.on_card_approve_all)
        self.card_shown.emit(card.action_id)
        if self.in_background():
            self._notify("An agent needs your approval", str(card.preview.get("summary", card.tool)))

    def on_pending_count_changed(self, count: int) -> None:
        self.setWindowTitle(f"Ensemble ({count} waiting)" if count else "Ensemble")
        if self._tray is not None:
            self._tray.setToolTip(f"Ensemble: {count} waiting for you" if count else "Ensemble")
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            app.setBadgeNumber(count)
        self._update_stop()

    def in_background(self) -> bool:
        """Whether the person is looking elsewhere (the window is not the active one)."""
        return not self.isActiveWindow()

    def _notify(self, title: str, text: str) -> None:
        if not self.in_background():
            return
        self.notifications.append(f"{title}: {text}")
        if self._tray is not None and QSystemTrayIcon.supportsMessages():
            self._tray.showMessage(title, text, app_icon(), 8000)
        self.notified.emit(f"{title}: {text}")

    def _decide(self, card: ApprovalCard, decision: Decision, what: str) -> None:
        self.clear_error()
        action_id = card.action_id

        def failed(error: BaseException) -> None:
            live = self.approval_pane.card(action_id)
            if live is not None:
                live.show_error(str(error) if _is_expected(error) else f"{type(error).__name__}: {error}")

        self.bridge.call(lambda e: e.decide(action_id, decision), None, what=what, on_error=failed)

    def on_card_approved(self, action_id: str) -> None:
        card = self.approval_pane.card(action_id)
        if card is not None:
            from app.gate import Decision

            self._decide(card, Decision.approve(), "approve the action")

    def on_card_edited(self, action_id: str, arguments: dict[str, Any]) -> None:
        card = self.approval_pane.card(action_id)
        if card is not None:
            from app.gate import Decision

            self._decide(card, Decision.edit(arguments), "approve the edited action")

    def on_card_rejected(self, action_id: str, reason: str | None) -> None:
        card = self.approval_pane.card(action_id)
        if card is not None:
            from app.gate import Decision

            self._decide(card, Decision.reject(reason), "reject the action")

    def on_card_approve_all(self, action_id: str) -> None:
        card = self.approval_pane.card(action_id)
        if card is None:
            return
        mission_id, tool = card.mission_id, card.tool
        description = f"Approve every {tool} in this mission"

        def failed(error: BaseException) -> None:
            live = self.approval_pane.card(action_id)
            if live is not None:
                live.show_error(str(error))

        self.bridge.call(
            lambda e: e.add_rule("approve_all", mission_id=mission_id, tool=tool, description=description),
            lambda _rule: self.statusBar().showMessage(f"Rule added: {description}.", 6000),
            what="add the rule",
            on_error=failed,
        )

    def on_approve_first(self) -> None:
        cards = self.approval_pane.cards
        if cards:
            cards[0].on_approve_clicked()

    def on_reject_first(self) -> None:
        cards = self.approval_pane.cards
        if not cards:
            return
        card = cards[0]
        if card.reason_row.isVisible():
            card.on_confirm_reject_clicked()
        else:
            card.on_reject_clicked()

    # Sending -----------------------------------------------------------------------------------

    def on_send_clicked(self) -> None:
        text = self.chat_input.toPlainText().strip()
        if not text:
            return
        self.clear_error()
        mission_id = self._shown
        if mission_id is None:
            folders = self.workspaces()
            if not folders:
                folder = QFileDialog.getExistingDirectory(
                    self, "Which folder holds the files the agents may use?"
                )
                if not folder:
                    self.show_error("Choose a folder first: agents only work on files in folders you grant.")
                    return
                self.grant_folder(Path(folder))
                folders = self.workspaces()
            self.chat_input.clear()
            self.bridge.call(
                lambda e: e.start_mission(text, workspaces=folders),
                self.on_mission_started,
                what="start the mission",
                on_error=lambda _exc: self._restore_input(text),
            )
            return
        self.chat_input.clear()
        self.bridge.call(
            lambda e: e.send_message(mission_id, text),
            None,
            what="send the message",
            on_error=lambda _exc: self._restore_input(text),
        )

    def _restore_input(self, text: str) -> None:
        if not self.chat_input.toPlainText():
            self.chat_input.setPlainText(text)

    def on_mission_started(self, mission_id: str) -> None:
        self.show_mission(mission_id)

    # Stop, undo, settings ------------------------------------------------------------------------

    def on_stop_clicked(self) -> None:
        self.stop_button.setEnabled(False)
        self.statusBar().showMessage("Stopping every agent…")
        self.bridge.call(lambda e: e.cancel_all(), self.on_stopped, what="stop the agents")

    def on_stopped(self, count: int) -> None:
        self.statusBar().showMessage(
            f"Stopped {count} mission{'s' if count != 1 else ''}." if count else "Nothing was running.", 6000
        )
        self._update_stop()

    def on_undo_requested(self, action_id: str) -> None:
        self.bridge.call(
            lambda e: e.undo(action_id),
            self.audit_view.show_status,
            what="undo the change",
            on_error=lambda exc: self.audit_view.show_status(f"Could not undo: {exc}"),
        )

    def on_resume_clicked(self) -> None:
        """Continues the shown mission, if it is interrupted (the engine resumes it)."""
        info = self._missions.get(self._shown or "")
        if info is None or info.status != "interrupted" or self._resuming is not None:
            return
        mission_id = info.id
        self._resuming = mission_id
        self.resume_button.setEnabled(False)
        self.clear_error()

        def done(_result: object) -> None:
            self._resuming = None
            self.statusBar().showMessage("Resumed the mission.", 4000)
            self._update_header()

        def failed(_error: BaseException) -> None:
            self._resuming = None
            self._update_header()

        self.bridge.call(lambda e: e.resume(mission_id), done, what="resume the mission", on_error=failed)

    # Rules -----------------------------------------------------------------------------------

    def on_rules_clicked(self) -> None:
        self.open_rules()

    def open_rules(self) -> RulesDialog:
        """Opens the rules (window-modal, without blocking); returns the dialog."""
        if self.rules_dialog is not None and self.rules_dialog.isVisible():
            return self.rules_dialog
        from ui.rules_dialog import RulesDialog

        info = self._missions.get(self._shown or "")
        dialog = RulesDialog(
            mission_id=info.id if info else None, mission_title=info.title if info else "", parent=self
        )
        dialog.remove_requested.connect(self.on_rule_remove_requested)
        dialog.add_requested.connect(self.on_rule_add_requested)
        self.rules_dialog = dialog
        dialog.open()
        self._reload_rules()
        self.rules_opened.emit(dialog)
        return dialog

    def _reload_rules(self) -> None:
        self.bridge.query(lambda journal: journal.all_rules(), self.on_rules_loaded, what="list the rules")

    def on_rules_loaded(self, rules: list[Rule]) -> None:
        if self.rules_dialog is not None:
            self.rules_dialog.set_rules(rules)

    def on_rule_remove_requested(self, rule_id: str) -> None:
        self.bridge.call(
            lambda e: e.remove_rule(rule_id),
            lambda _rule: self._reload_rules(),
            what="remove the rule",
            on_error=lambda _exc: self._reload_rules(),
        )

    def on_rule_add_requested(
        self, kind: str, tool: str | None, where: dict[str, str] | None, mission_id: str | None
    ) -> None:
        dialog = self.rules_dialog
        rule_kind: RuleKind = "reject_all" if kind == "reject_all" else "approve_all"

        def done(_rule: object) -> None:
            if dialog is not None:
                dialog.on_added()
            self._reload_rules()

        def failed(exc: BaseException) -> None:
            if dialog is not None:
                dialog.show_add_error(str(exc))

        self.bridge.call(
            lambda e: e.add_rule(rule_kind, mission_id=mission_id, tool=tool, where=where),
            done,
            what="add the rule",
            on_error=failed,
        )

    def on_settings_clicked(self) -> None:
        self.bridge.call(
            lambda _e: asyncio.to_thread(_api_key),
            lambda key: self.open_settings(first_run=False, key=key),
            what="read the key",
        )

    def open_settings(self, *, first_run: bool, key: str | None) -> SettingsDialog | None:
        """Opens the settings (window-modal, without blocking); returns the dialog."""
        if self._settings is None:
            from app.settings import Settings

            settings = Settings()
        else:
            settings = self._settings
        if self.settings_dialog is not None and self.settings_dialog.isVisible():
            return self.settings_dialog
        from ui.settings_dialog import SettingsDialog, key_hint

        dialog = SettingsDialog(
            settings,
            key_hint=key_hint(key),
            key_from_env=bool(os.environ.get("ANTHROPIC_API_KEY")),
            first_run=first_run,
            parent=self,
        )
        dialog.saved.connect(self.on_settings_saved)
        self.settings_dialog = dialog
        dialog.open()
        self.settings_opened.emit(dialog)
        return dialog

    def on_settings_saved(self, settings: Settings, key: str | None) -> None:
        self._settings = settings
        self._update_composer()
        self.bridge.call(
            lambda e: _save_settings(e, settings, key),
            lambda note: (
                self.show_error(note) if note else self.statusBar().showMessage("Settings saved.", 4000)
            ),
            what="save the settings",
        )

    def on_settings_stored(self, note: str | None) -> None:
        if note:
            self.show_error(note)
        else:
            self.statusBar().showMessage("Settings saved.", 4000)

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


# Journal reads, run in a worker thread ------------------------------------------------------------


def _load_missions(journal: Journal) -> list[tuple[Any, float | None, str]]:
    rows = []
    for mission in journal.missions():
        cost: float | None = None
        model = ""
        for call in journal.model_calls(mission.id):
            model = call.model
            part = _estimate(
                call.model,
                {
                    "input_tokens": call.input_tokens,
                    "output_tokens": call.output_tokens,
                    "cache_read_tokens": call.cache_read_tokens,
                    "cache_write_tokens": call.cache_write_tokens,
                },
            )
            if part is not None:
                cost = (cost or 0.0) + part
        rows.append((mission, cost, model))
    return rows


def _load_events(journal: Journal, mission_id: str) -> list[Event]:
    from app.journal import Event

    return [
        Event(
            kind=e.kind,
            mission_id=e.mission_id,
            task_id=e.task_id,
            summary=e.summary,
            data=e.data,
            at=aware(e.at),
            audit_id=e.id,
        )
        for e in journal.events(mission_id)
    ]


def _pending_actions(engine: Engine) -> list[ProposedAction]:
    return list(engine.pending_actions())
