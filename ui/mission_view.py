"""The mission shown: its header, chat and composer (the centre), its plan and audit (the tabs).

A mission is shown from the engine's typed audit (:meth:`app.engine.Engine.mission_events`,
read in a worker thread), then kept live by the events of the batches that follow; events
that arrive while it loads wait, so that nothing is shown twice or lost.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ui.audit import AuditView
from ui.chat import ChatInput, ChatView
from ui.missions_list import PAGE_SIZE
from ui.plan import PlanView

if TYPE_CHECKING:
    from collections.abc import Iterable

    from app.api import AnyEvent
    from app.engine import Engine
    from app.paths import Paths
    from app.settings import Settings
    from ui.bridge import Bridge
    from ui.main_window import MainWindow
    from ui.missions_list import MissionsList

NEW_MISSION_TEXT = "Say what you want done; the agents plan it and ask you before changing anything."
DEMO_TEXT = (
    "Demo: a scripted model plays the agents on made-up invoices, emails and a supplier portal "
    "served on this computer. Approve, edit or reject the cards on the right as you would for "
    "real; nothing leaves this computer. Add your API key in Settings for your own missions."
)


def _start(engine: Engine, text: str, folders: list[Path]) -> str:
    """On the engine's loop: starts a mission from the person's words and folders."""
    from app.api import MissionSpec

    return engine.start(MissionSpec.of(instruction=text, workspaces=[str(f) for f in folders]))


class MissionView(QObject):
    """The controller of the mission shown: :attr:`centre` (header, chat, composer), :attr:`tabs`
    (plan, audit) and :attr:`demo_banner`, which the window lays out.

    Args:
        window: The main window, for its problem banner and status bar.
        bridge: The engine.
        missions: The missions list, for what it knows of the mission shown.
        paths: Where the demo's folder is.
        workspaces: Folders granted for this session (``ensemble --workspace DIR``).

    Signals:
        shown(str): The mission shown was loaded from the journal and is live.
        save_workflow_requested(str): "Save as workflow…" was clicked on this finished mission.
    """

    shown = Signal(str)
    save_workflow_requested = Signal(str)

    def __init__(
        self,
        window: MainWindow,
        bridge: Bridge,
        missions: MissionsList,
        *,
        paths: Paths,
        workspaces: list[Path],
    ) -> None:
        super().__init__(window)
        self._window = window
        self._bridge = bridge
        self._missions = missions
        missions.more_wanted.connect(self.on_more_missions_wanted)
        self._paths = paths
        self._session_workspaces = [Path(w).expanduser().resolve() for w in workspaces]
        self.settings: Settings | None = None
        self.mission_id: str | None = None
        self._loaded_upto: int | None = 0  # None while the shown mission is loading
        self._buffer: list[AnyEvent] = []
        self._resuming: str | None = None

        self.demo_banner = QLabel(DEMO_TEXT)
        self.demo_banner.setObjectName("demoBanner")
        self.demo_banner.setAccessibleName("This is a demo")
        self.demo_banner.setWordWrap(True)
        self.demo_banner.hide()
        self.centre = self._build_centre()
        self.tabs = self._build_tabs()
        self.update_composer()

    # Building ------------------------------------------------------------------------------------

    def _build_centre(self) -> QWidget:
        centre = QWidget()
        centre.setObjectName("conversationPanel")
        layout = QVBoxLayout(centre)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        header = QWidget()
        hl = QVBoxLayout(header)
        hl.setContentsMargins(16, 12, 16, 8)
        hl.setSpacing(2)
        self.header = QLabel("New mission")
        self.header.setObjectName("missionHeader")
        self.header.setAccessibleName("Mission")
        self.header.setWordWrap(True)
        title_row = QHBoxLayout()
        title_row.setSpacing(8)
        title_row.addWidget(self.header, 1)
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
        self.save_workflow_button = QPushButton("Save as workflow…")
        self.save_workflow_button.setObjectName("saveAsWorkflowButton")
        self.save_workflow_button.setAccessibleName("Save as workflow")
        self.save_workflow_button.setToolTip(
            "Save this mission to run it again: with other values, on a schedule, or when something arrives"
        )
        self.save_workflow_button.hide()
        self.save_workflow_button.clicked.connect(
            lambda: self.save_workflow_requested.emit(self.mission_id) if self.mission_id else None
        )
        title_row.addWidget(self.save_workflow_button, 0, Qt.AlignmentFlag.AlignTop)
        hl.addLayout(title_row)
        self.status = QLabel(NEW_MISSION_TEXT)
        self.status.setObjectName("missionStatus")
        self.status.setAccessibleName("Mission status")
        # One line: its text changes with every model call, and must not re-lay out the chat.
        self.status.setWordWrap(False)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        hl.addWidget(self.status)
        layout.addWidget(header)
        self.chat_view = ChatView()
        layout.addWidget(self.chat_view, 1)
        layout.addWidget(self._build_composer())
        return centre

    def _build_composer(self) -> QWidget:
        composer = QWidget()
        composer.setObjectName("composer")
        layout = QVBoxLayout(composer)
        layout.setContentsMargins(12, 8, 12, 12)
        layout.setSpacing(6)
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
        layout.addLayout(folders)
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
        layout.addLayout(row)
        return composer

    def _build_tabs(self) -> QTabWidget:
        tabs = QTabWidget()
        tabs.setObjectName("missionTabs")
        tabs.setAccessibleName("Plan and audit")
        tabs.setDocumentMode(True)
        self.plan_view = PlanView()
        self.audit_view = AuditView()
        self.audit_view.attach(self._bridge)
        self.audit_view.exported.connect(lambda path: self.audit_view.show_status(f"Saved {path}"))
        self.audit_view.export_failed.connect(self.audit_view.show_status)
        tabs.addTab(self.plan_view, "Plan")
        tabs.addTab(self.audit_view, "Audit")
        return tabs

    def on_more_missions_wanted(self, offset: int) -> None:
        """The missions list was scrolled to its end: its next page, read in a worker thread."""
        self._bridge.read(
            lambda e: e.list_missions(limit=PAGE_SIZE, offset=offset),
            self._missions.load,
            what="list more missions",
        )

    # Showing a mission ---------------------------------------------------------------------------

    def show(self, mission_id: str | None) -> None:
        """Shows a mission's chat, plan and audit (None: a new mission)."""
        self.mission_id = mission_id
        self._buffer = []
        self.plan_view.clear()
        self.chat_view.clear()
        self.audit_view.clear(mission_id or "")
        self._missions.select(mission_id)
        self._loaded_upto = 0 if mission_id is None else None
        self.update_header()
        self.update_composer()
        if mission_id is None:
            return
        self._bridge.read(
            lambda e: e.mission_events(mission_id),
            lambda events: self.on_loaded(mission_id, events),
            what="read the mission",
        )

    def on_loaded(self, mission_id: str, events: list[AnyEvent]) -> None:
        if mission_id != self.mission_id:
            return
        upto = max((e.audit_id or 0 for e in events), default=0)
        later = [e for e in self._buffer if e.audit_id is not None and e.audit_id > upto]
        self._buffer = []
        self._loaded_upto = upto
        self._show(events + later)
        self.shown.emit(mission_id)

    def apply(self, events: Iterable[AnyEvent]) -> None:
        """Shows the events of the mission shown among a batch (they wait while it loads)."""
        if self.mission_id is None:
            return
        mine = [e for e in events if e.mission_id == self.mission_id]
        if not mine:
            return
        if self._loaded_upto is None:
            self._buffer.extend(e for e in mine if e.audit_id is not None)
            return
        self._show(mine)

    def _show(self, events: list[AnyEvent]) -> None:
        self.plan_view.apply(events)
        self.chat_view.apply(events)
        self.audit_view.apply(events)

    def update_header(self) -> None:
        """Shows the mission's title, status line, and Resume if it is interrupted."""
        row = self._missions.get(self.mission_id or "")
        self.demo_banner.setVisible(row is not None and row.demo)
        if row is None:
            self.header.setText("New mission")
            self.status.setText(NEW_MISSION_TEXT)
            self.resume_button.hide()
            self.save_workflow_button.hide()
            return
        self.header.setText(row.title)
        self.status.setText(row.line())
        interrupted = row.status == "interrupted"
        self.resume_button.setVisible(interrupted)
        self.resume_button.setEnabled(interrupted and self._resuming != row.id)
        self.save_workflow_button.setVisible(row.status == "done" and not row.demo)
        self.update_composer()

    # The composer --------------------------------------------------------------------------------

    def update_composer(self) -> None:
        """Says what the message box does now, and which folders a new mission may use."""
        row = self._missions.get(self.mission_id or "")
        demo = row is not None and row.demo
        self.chat_input.setEnabled(not demo)
        self.send_button.setEnabled(not demo)
        if row is None:
            text = "Describe a new mission, e.g. “Mark every overdue invoice in invoices.xlsx as overdue”"
        elif demo:
            text = "The demo's scripted model takes no follow-ups: start a new mission for your own work."
        elif row.waiting_question:
            text = "Answer the lead agent's question…"
        elif row.status == "running":
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

    def set_settings(self, settings: Settings) -> None:
        """The settings in use (their folders are offered to new missions)."""
        self.settings = settings
        self.update_composer()

    def workspaces(self) -> list[Path]:
        """The folders a new mission may use: this session's and the settings'."""
        folders = list(self._session_workspaces)
        if self.settings is not None:
            folders += [Path(w).expanduser() for w in self.settings.workspaces]
        return list(dict.fromkeys(folders))

    def on_add_folder_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self._window, "A folder the agents may use")
        if folder:
            self.grant_folder(Path(folder))

    def grant_folder(self, folder: Path) -> None:
        """Lets missions started from now on in this session use ``folder``."""
        folder = folder.expanduser().resolve()
        if folder not in self._session_workspaces:
            self._session_workspaces.append(folder)
        self.update_composer()

    def on_send_clicked(self) -> None:
        """Starts a mission with the message, or sends it to the mission shown."""
        text = self.chat_input.toPlainText().strip()
        if not text:
            return
        self._window.clear_error()
        mission_id = self.mission_id
        if mission_id is None:
            folders = self.workspaces()
            if not folders:
                folder = QFileDialog.getExistingDirectory(
                    self._window, "Which folder holds the files the agents may use?"
                )
                if not folder:
                    self._window.show_error(
                        "Choose a folder first: agents only work on files in folders you grant."
                    )
                    return
                self.grant_folder(Path(folder))
                folders = self.workspaces()
            self.chat_input.clear()
            self._bridge.call(
                lambda e: _start(e, text, folders),
                self.show,
                what="start the mission",
                on_error=lambda _exc: self._restore_input(text),
            )
            return
        self.chat_input.clear()
        self._bridge.call(
            lambda e: e.send_message(mission_id, text),
            None,
            what="send the message",
            on_error=lambda _exc: self._restore_input(text),
        )

    def _restore_input(self, text: str) -> None:
        if not self.chat_input.toPlainText():
            self.chat_input.setPlainText(text)

    # Resume and undo -----------------------------------------------------------------------------

    def on_resume_clicked(self) -> None:
        """Continues the shown mission, if it is interrupted (the engine resumes it)."""
        row = self._missions.get(self.mission_id or "")
        if row is None or row.status != "interrupted" or self._resuming is not None:
            return
        mission_id = row.id
        self._resuming = mission_id
        self.resume_button.setEnabled(False)
        self._window.clear_error()

        def done(_result: object) -> None:
            self._resuming = None
            self._window.statusBar().showMessage("Resumed the mission.", 4000)
            self.update_header()

        def failed(_error: BaseException) -> None:
            self._resuming = None
            self.update_header()

        self._bridge.call(lambda e: e.resume(mission_id), done, what="resume the mission", on_error=failed)
