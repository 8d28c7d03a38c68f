"""The mission shown: its header, chat and composer (the centre), its plan and audit (the tabs).

A mission is shown from the engine's typed audit (:meth:`app.engine.Engine.mission_events`,
read in a worker thread), then kept live by the events of the batches that follow; events
that arrive while it loads wait, so that nothing is shown twice or lost.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut, QTextDocument
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

from ui.attachments import (
    AttachmentsRow,
    DropOverlay,
    FileDrops,
    Outcome,
    copy_into_mission,
    for_new_mission,
    message_text,
    sort_paths,
    tilde,
)
from ui.audit import AuditView
from ui.chat import ChatInput, ChatView
from ui.plan import PlanView
from ui.widgets import WrapLabel, button_row

if TYPE_CHECKING:
    from collections.abc import Iterable

    from app.api import AnyEvent
    from app.engine import Engine
    from app.paths import Paths
    from app.settings import Settings
    from ui.bridge import Bridge
    from ui.main_window import MainWindow
    from ui.missions_list import MissionsList
    from ui.rollback_dialog import RollbackDialog

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


INPUT_HEIGHT = 76
"""The message box's usual height (ui/chat.py's ChatInput), grown for a long placeholder."""
ATTACH_SHORTCUT = "Ctrl+O"
"""Attach files… (Ctrl+Shift+A approves the first card)."""
NO_KEY_TEXT = (
    "Send needs an Anthropic API key: the agents think with Anthropic's model. Set up your key, "
    "or try the demo, which needs none."
)
QUEUED_TEXT = "Ensemble is still starting: your message goes as soon as it is ready."


def _has_key() -> bool:
    """Whether the model can be reached with a key (reads the keyring: call it off the GUI thread)."""
    import os

    from app import secrets

    try:
        return bool(secrets.api_key() or os.environ.get("ANTHROPIC_AUTH_TOKEN"))
    except secrets.SecretError:
        return False  # no keyring: the settings say what to do


async def _copy_and_send(engine: Engine, mission_id: str, text: str, files: list[Path]) -> tuple[str, str]:
    """On the engine's loop: copies the attached files into the mission's first folder (in a
    worker thread: they may be big) and sends the message naming them. Returns the message
    sent and what the chat says of the files."""
    info = await asyncio.to_thread(engine.mission_info, mission_id)
    folders = info.workspaces if info is not None else []
    outcome = await asyncio.to_thread(copy_into_mission, files, folders)
    message = message_text(text, outcome.files)
    engine.send_message(mission_id, message)
    return message, outcome.note


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
        self._paths = paths
        self._session_workspaces = [Path(w).expanduser().resolve() for w in workspaces]
        self.settings: Settings | None = None
        self.mission_id: str | None = None
        self._loaded_upto: int | None = 0  # None while the shown mission is loading
        self._buffer: list[AnyEvent] = []
        self._resuming: str | None = None
        self._has_key: bool | None = None  # None: not known yet (the engine is starting)
        self._key_asked = False
        self._queued = False  # Send was pressed while the engine was starting
        self._mission_folders: dict[str, list[Path]] = {}  # each shown mission's, from its start
        bridge.engine_failed.connect(self.on_engine_failed)
        # Why an interrupted mission cannot resume (None: it can), as the engine said.
        self._resume_why: dict[str, str | None] = {}
        self._resume_asked: set[str] = set()
        self._resume_ask: dict[str, int] = {}  # the latest question per mission, so a stale answer is dropped
        self._resume_asks = 0

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
        # Wrapped at its own (bold, larger) font's width, its height following its lines: a
        # plain word-wrapped QLabel was laid out too short (cut at its top and bottom).
        self.header = WrapLabel("New mission")
        self.header.setObjectName("missionHeader")
        self.header.setAccessibleName("Mission")
        self.header.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
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
        # Under the title, not beside it: in a narrow pane a long title and the button squeezed
        # each other (the button's words cut, the title clipped); the button's words never give way.
        self.save_workflow_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.save_workflow_button.hide()
        self.save_workflow_button.clicked.connect(
            lambda: self.save_workflow_requested.emit(self.mission_id) if self.mission_id else None
        )
        self.undo_mission_button = QPushButton("Undo this mission…")
        self.undo_mission_button.setObjectName("undoMissionButton")
        self.undo_mission_button.setAccessibleName("Undo this mission")
        self.undo_mission_button.setToolTip("Take back this mission's changes: see what will be undone first")
        self.undo_mission_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.undo_mission_button.hide()
        self.undo_mission_button.clicked.connect(self.open_rollback)
        self.rollback_dialog: RollbackDialog | None = None
        hl.addLayout(title_row)
        # Wraps rather than being cut at the pane's edge (its whole text is also its tooltip
        # and accessible description). It changes at most once per model call, and its height
        # only when its number of lines does, so the chat below is seldom laid out again.
        self.status = WrapLabel()
        self.status.setObjectName("missionStatus")
        self.status.setAccessibleName("Mission status")
        self.set_status_line(NEW_MISSION_TEXT)
        hl.addWidget(self.status)
        self.resume_note = QLabel()
        self.resume_note.setObjectName("resumeNote")
        self.resume_note.setAccessibleName("Why this mission cannot resume")
        self.resume_note.setProperty("muted", True)
        self.resume_note.setWordWrap(True)
        self.resume_note.hide()
        hl.addWidget(self.resume_note)
        # Each button at its full width (never "ave as workflow"): the second goes under the
        # first when the pane is too narrow for both.
        self.mission_actions = button_row(
            self.save_workflow_button, self.undo_mission_button, name="missionActions"
        )
        hl.addWidget(self.mission_actions)
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
        self.attachments = AttachmentsRow()
        self.attachments.changed.connect(self.update_composer)
        layout.addWidget(self.attachments)
        row = QHBoxLayout()
        self.chat_input = ChatInput()
        self.chat_input.submitted.connect(self.on_send_clicked)
        row.addWidget(self.chat_input, 1)
        self.chat_input.viewport().installEventFilter(self)
        buttons = QVBoxLayout()
        buttons.setSpacing(4)
        self.attach_button = QPushButton("Attach…")  # no 📎: many fonts lack it (a box instead)
        self.attach_button.setObjectName("attachButton")
        self.attach_button.setAccessibleName("Attach files")
        self.attach_button.setToolTip(
            f"Attach files to the message ({ATTACH_SHORTCUT}), or drop them on the chat"
        )
        self.attach_button.clicked.connect(self.on_attach_clicked)
        buttons.addWidget(self.attach_button)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("sendButton")
        self.send_button.setAccessibleName("Send")
        self.send_button.setProperty("role", "accent")
        self.send_button.setToolTip("Send (Enter or Ctrl+Enter; Shift+Enter for a new line)")
        self.send_button.setMinimumHeight(40)
        self.send_button.clicked.connect(self.on_send_clicked)
        buttons.addWidget(self.send_button)
        row.addLayout(buttons)
        layout.addLayout(row)
        layout.addWidget(self._build_send_hint())
        # Files dropped on the chat or the composer are attached; the chat shows where to drop.
        self.drop_overlay = DropOverlay(self.chat_view)
        self.drops = FileDrops(self.drop_overlay, self)
        self.drops.watch(self.chat_view, self.chat_view.browser, self.chat_input, composer)
        self.drops.dropped.connect(self.attach_paths)
        shortcut = QShortcut(QKeySequence(ATTACH_SHORTCUT), self._window)
        shortcut.setObjectName("shortcut Attach files")
        shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
        shortcut.activated.connect(self.on_attach_shortcut)
        return composer

    def _build_send_hint(self) -> QWidget:
        """Below the composer: why Send is off (no key), with the ways on; or that a message waits."""
        self.send_hint = QWidget()
        self.send_hint.setObjectName("sendHint")
        self.send_hint.setAccessibleName("Why Send is not available")
        layout = QVBoxLayout(self.send_hint)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.send_hint_label = WrapLabel()
        self.send_hint_label.setObjectName("sendHintText")
        self.send_hint_label.setAccessibleName("Why Send is not available")
        self.send_hint_label.setProperty("muted", True)
        layout.addWidget(self.send_hint_label)
        self.key_button = QPushButton("Set up the key…")
        self.key_button.setObjectName("setUpKeyButton")
        self.key_button.setAccessibleName("Set up the API key")
        self.key_button.setToolTip("Open the settings to paste your Anthropic API key")
        self.key_button.setProperty("role", "link")
        self.key_button.clicked.connect(self._window.on_settings_clicked)
        self.try_demo_button = QPushButton("Try the demo")
        self.try_demo_button.setObjectName("tryDemoHintButton")
        self.try_demo_button.setAccessibleName("Try the demo")
        self.try_demo_button.setToolTip("A demo mission on made-up data with a scripted model: no key needed")
        self.try_demo_button.setProperty("role", "link")
        self.try_demo_button.clicked.connect(self._window.start_demo)
        self.key_buttons = button_row(self.key_button, self.try_demo_button, name="sendHintButtons")
        layout.addWidget(self.key_buttons)
        self.send_hint.hide()
        return self.send_hint

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

    # Showing a mission ---------------------------------------------------------------------------

    def show(self, mission_id: str | None) -> None:
        """Shows a mission's chat, plan and audit (None: a new mission)."""
        self.mission_id = mission_id
        self._buffer = []
        if mission_id is not None:  # asked again each time: a folder may have come back
            self._resume_why.pop(mission_id, None)
            self._resume_asked.discard(mission_id)  # an answer on its way is stale
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
        row = self._missions.get(mission_id)
        if row is not None and row.status == "interrupted":
            self.plan_view.mark_paused()
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
        from app import api

        started = [e for e in events if isinstance(e, api.MissionStarted)]
        for event in started:
            self._mission_folders[event.mission_id] = [Path(w) for w in event.workspaces]
        if started:
            self.update_composer()
        self.plan_view.apply(events)
        self.chat_view.apply(events)
        self.audit_view.apply(events)

    def update_header(self) -> None:
        """Shows the mission's title, status line, and Resume if it is interrupted."""
        row = self._missions.get(self.mission_id or "")
        self.demo_banner.setVisible(row is not None and row.demo)
        if row is None:
            self.header.setText("New mission")
            self.set_status_line(NEW_MISSION_TEXT)
            self.resume_button.hide()
            self.resume_note.hide()
            self.save_workflow_button.hide()
            self.undo_mission_button.hide()
            return
        self.header.setText(row.title)
        self.set_status_line(row.line())
        interrupted = row.status == "interrupted"
        if not interrupted:
            self._resume_why.pop(row.id, None)
        elif self._loaded_upto is not None:
            self.plan_view.mark_paused()
        why = self._resume_blocker(row.id) if interrupted else None
        self.resume_button.setVisible(interrupted)
        self.resume_button.setEnabled(interrupted and why is None and self._resuming != row.id)
        self.resume_button.setToolTip(
            f"It cannot resume: {why}"
            if why
            else "Continue this interrupted mission where it stopped; nothing that finished runs again"
        )
        self.resume_note.setText(f"It cannot resume: {why}" if why else "")
        self.resume_note.setVisible(bool(why))
        self.save_workflow_button.setVisible(row.status == "done" and not row.demo)
        self.undo_mission_button.setVisible(row.status in ("done", "failed", "cancelled"))
        self.update_composer()

    def open_rollback(self) -> None:
        """Undo this mission…: opens the dialog that shows what will be undone, then does it."""
        if not self.mission_id:
            return
        from ui.rollback_dialog import RollbackDialog

        if self.rollback_dialog is not None:
            self.rollback_dialog.close()
        self.rollback_dialog = RollbackDialog(
            self._bridge, self.mission_id, self._missions.title(self.mission_id), self._window
        )
        self.rollback_dialog.open()

    def set_status_line(self, text: str) -> None:
        """Shows what the mission is doing under its title (wrapped, never cut), with the whole
        text as its tooltip and accessible description."""
        if text == self.status.text():
            return
        self.status.setText(text)
        self.status.setToolTip(text)
        self.status.setAccessibleDescription(text)

    # The composer --------------------------------------------------------------------------------

    def update_composer(self) -> None:
        """Says what the message box does now, and which folders a new mission may use."""
        row = self._missions.get(self.mission_id or "")
        demo = row is not None and row.demo
        no_key = self._has_key is False and not demo
        self.chat_input.setEnabled(not demo)
        self.chat_input.setReadOnly(self._queued)
        self.send_button.setEnabled(not demo and not no_key and not self._queued)
        self.attach_button.setEnabled(not demo and not self._queued)
        self.drops.enabled = not demo and not self._queued
        self.send_hint_label.setText(NO_KEY_TEXT if no_key else QUEUED_TEXT if self._queued else "")
        self.key_buttons.setVisible(no_key)
        self.send_hint.setVisible(no_key or self._queued)
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
        if text != self.chat_input.placeholderText():
            self.chat_input.setPlaceholderText(text)
            self._fit_input()
        # A mission shown: the folders it got; a new one: those it would get, with the folders
        # of the files attached (see for_new_mission).
        if row is not None:
            folders = self._mission_folders.get(row.id) or self.workspaces()
        else:
            folders = self.workspaces()
            folders += for_new_mission(self.attachments.files(), folders).added
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

    def _fit_input(self) -> None:
        """Makes the message box tall enough for its placeholder wrapped at its width (a
        narrow chat cut its last line), never shorter than its usual three lines."""
        box = self.chat_input
        document = QTextDocument()
        document.setDefaultFont(box.font())
        document.setDocumentMargin(box.document().documentMargin())
        document.setPlainText(box.placeholderText())
        document.setTextWidth(max(1, box.viewport().width()))
        frame = box.height() - box.viewport().height()
        height = min(max(INPUT_HEIGHT, int(document.size().height()) + frame + 2), 3 * INPUT_HEIGHT)
        if height != box.height():
            box.setFixedHeight(height)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.chat_input.viewport() and event.type() == QEvent.Type.Resize:
            self._fit_input()
        return False

    def set_settings(self, settings: Settings) -> None:
        """The settings in use (their folders are offered to new missions); the first time (the
        engine is up), whether there is a key is asked too."""
        self.settings = settings
        if not self._key_asked:
            self._key_asked = True
            self._bridge.call(lambda _e: asyncio.to_thread(_has_key), self.set_has_key, what="read the key")
        self.update_composer()
        self._send_queued()

    def set_has_key(self, has_key: bool) -> None:
        """Whether the model has a key: without one, Send is off and the hint says why."""
        self._has_key = has_key
        self.update_composer()
        self._send_queued()

    def on_engine_failed(self, _message: str) -> None:
        """The engine could not start: a message that waited for it stays in the box, editable."""
        if self._queued:
            self._queued = False
            self.update_composer()

    # Attaching files -------------------------------------------------------------------------

    def on_attach_shortcut(self) -> None:
        if self.centre.isVisible() and self.attach_button.isEnabled():
            self.on_attach_clicked()

    def on_attach_clicked(self) -> None:
        """Attach files…: the files chosen in the file dialog go with the next message."""
        paths, _filter = QFileDialog.getOpenFileNames(self._window, "Attach files to the message")
        if paths:
            self.attach_paths(paths)
        self.chat_input.setFocus()

    def attach_paths(self, paths: list[str]) -> None:
        """Attaches files (chosen or dropped) to the next message, and says what could not be.

        A folder is added to a new mission's folders (as "Add folder…" does); a mission that
        exists cannot take another folder.
        """
        if not self.attach_button.isEnabled():
            return
        files, folders, problems = sort_paths(paths)
        for folder in folders:
            if self.mission_id is None:
                self.grant_folder(folder)
                self._window.statusBar().showMessage(
                    f"Added the folder {tilde(folder)}: the agents may use it in new missions.", 6000
                )
            else:
                problems.append(
                    f"{folder.name} is a folder: this mission's folders cannot change, so attach "
                    "the files in it instead (or start a new mission with it)."
                )
        self.attachments.say(" ".join(problems))
        if files:
            self.attachments.add_files(files)

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
        """Starts a mission with the message, or sends it to the mission shown; with the files
        attached: a new mission gets their folders, a mission that exists copies of them.

        While the engine starts, the message waits (the box shows it) and goes once it is up.
        """
        text = self.chat_input.toPlainText().strip()
        files = self.attachments.files()
        if (not text and not files) or self._queued:
            return
        row = self._missions.get(self.mission_id or "")
        if (row is not None and row.demo) or self._has_key is False:
            return
        if self.settings is None or self._has_key is None:
            self._queued = True
            self.update_composer()
            return
        self._window.clear_error()
        mission_id = self.mission_id
        if mission_id is None:
            folders = self.workspaces()
            outcome = for_new_mission(files, folders) if files else Outcome()
            if not folders and not outcome.added:
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
            message = message_text(text, outcome.files)
            if outcome.note:
                self.chat_view.add_note(message, outcome.note)
            folders = folders + outcome.added
            self.chat_input.clear()
            self.attachments.clear()
            self._bridge.call(
                lambda e: _start(e, message, folders),
                self.show,
                what="start the mission",
                on_error=lambda _exc: self._restore_input(text, files),
            )
            return
        self.chat_input.clear()
        self.attachments.clear()
        if not files:
            self._bridge.call(
                lambda e: e.send_message(mission_id, text),
                None,
                what="send the message",
                on_error=lambda _exc: self._restore_input(text, files),
            )
            return
        count = f"{len(files)} file{'s' if len(files) != 1 else ''}"
        self._window.statusBar().showMessage(f"Copying {count} into the mission's folder…", 4000)
        self._bridge.call(
            lambda e: _copy_and_send(e, mission_id, text, files),
            lambda sent: self.chat_view.add_note(*sent) if sent[1] else None,
            what="attach the files",
            on_error=lambda _exc: self._restore_input(text, files),
        )

    def _send_queued(self) -> None:
        """Sends the message that waited for the engine, once it is up and the key is known."""
        if not self._queued or self.settings is None or self._has_key is None:
            return
        self._queued = False
        self.update_composer()
        if self._has_key:
            self.on_send_clicked()

    def _restore_input(self, text: str, files: list[Path] | None = None) -> None:
        if not self.chat_input.toPlainText():
            self.chat_input.setPlainText(text)
        if files and not self.attachments.files():
            self.attachments.add_files(files)

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
            self._resume_why.pop(mission_id, None)  # ask why, to say it beside the button
            self.update_header()

        self._bridge.call(lambda e: e.resume(mission_id), done, what="resume the mission", on_error=failed)

    def _resume_blocker(self, mission_id: str) -> str | None:
        """Why an interrupted mission cannot resume, as far as known (asks the engine once)."""
        if mission_id in self._resume_why:
            return self._resume_why[mission_id]
        if mission_id not in self._resume_asked:
            self._resume_asked.add(mission_id)
            self._resume_asks += 1
            ask = self._resume_ask[mission_id] = self._resume_asks

            def answered(why: str | None) -> None:
                if self._resume_ask.get(mission_id) != ask:
                    return  # asked again since (the mission was shown again): a stale answer
                self._resume_asked.discard(mission_id)
                self._resume_why[mission_id] = why
                if mission_id == self.mission_id:
                    self.update_header()

            self._bridge.call(
                lambda e: e.can_resume(mission_id),
                answered,
                what="check whether the mission can resume",
                on_error=lambda _error: self._resume_asked.discard(mission_id),
            )
        return None  # Resume stays offered until the engine says otherwise
