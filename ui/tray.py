"""The system tray, notifications, and closing: Ensemble keeps working while missions run.

The close button (the window manager's) never stops a mission: with a tray the window hides
there, without one the person is asked. While this window runs workflows' schedules or
triggers, the close button also hides it to the tray, even with no mission running, so that
they fire; a workflow's unattended run that waits for the person, finishes or fails says so in
a notification, and clicking it shows the window on that mission and its card. Quit (the
tray's menu, Ctrl+Q) asks first while missions run, then the window pauses them all and closes
for good; the next start resumes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QMessageBox, QSystemTrayIcon

from ui.notify import DesktopNotifier
from ui.widgets import app_icon

if TYPE_CHECKING:
    from ui.approval_controller import ApprovalController
    from ui.main_window import MainWindow
    from ui.missions_list import MissionRow, MissionsList
    from ui.workflows import WorkflowsController

CLOSE_QUESTION = "Missions are still running. Quit and pause them, or keep the window open?"
QUIT_QUESTION = "Missions are still running. Quit and pause them?"
PAUSE_NOTE = (
    "Paused missions keep their place and the cards waiting for you, and carry on by "
    "themselves when you open Ensemble again."
)
BACKGROUND_TITLE = "Ensemble keeps working in the background"
SCHEDULES_QUESTION = "Your workflows run only while Ensemble is open. Minimise the window instead?"
SCHEDULES_NOTE = (
    "This desktop has no tray to keep Ensemble in. If you quit, a scheduled workflow whose "
    "time passes meanwhile runs once the next time you open Ensemble (or is skipped, as its "
    "schedule says)."
)
APPROVAL_TITLE = "An agent needs your approval"


class TrayController(QObject):
    """The tray's icon (:attr:`icon`, None without a system tray) and menu (:attr:`menu`),
    the desktop notifications, and what closing and quitting do.

    Args:
        window: The main window.
        missions: The missions list (which missions run).
        approvals: The approvals (which missions wait for the person).
        workflows: The workflows (which missions are their runs; whether schedules run here).

    Signals:
        notified(str): A desktop notification was shown (or would have been, with no tray).
        quit_asked(object): The person is asked whether to quit while missions run (the
            :class:`QMessageBox`, about to be shown).
        hidden_to_tray(): The close button hid the window; Ensemble runs on in the tray.
    """

    notified = Signal(str)
    quit_asked = Signal(object)
    hidden_to_tray = Signal()

    def __init__(
        self,
        window: MainWindow,
        missions: MissionsList,
        approvals: ApprovalController,
        workflows: WorkflowsController | None = None,
    ) -> None:
        super().__init__(window)
        self._window = window
        self._missions = missions
        self._approvals = approvals
        self._workflows = workflows
        self.notifications: list[str] = []
        self.last_notified: str | None = None  # the mission the latest notification is about
        self.quitting = False  # Quit was confirmed (or code closes the window): close for good
        # The menu is built even without a system tray, so that what it would show can be checked.
        self.menu = QMenu(window)
        self.menu.setObjectName("trayMenu")
        self.menu.aboutToShow.connect(self.refresh_menu)
        self.refresh_menu()
        self.icon: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.icon = QSystemTrayIcon(app_icon(), window)
            self.icon.setToolTip("Ensemble")
            self.icon.setContextMenu(self.menu)
            self.icon.activated.connect(self.on_activated)
            self.icon.messageClicked.connect(self.on_message_clicked)
            self.icon.show()
        # The desktop's own notification service when the session has one; else the tray's balloon.
        self.desktop = DesktopNotifier(self)
        self.desktop.activated.connect(self.show_mission)
        self.desktop.failed.connect(lambda title, text, _mission: self._balloon(title, text))

    def busy_missions(self) -> list[MissionRow]:
        """The missions running or with a card waiting for the person, newest first."""
        return self._missions.busy(set(self._approvals.waiting_missions()))

    # The tray ----------------------------------------------------------------------------------

    def on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self._window.bring_to_front()

    def refresh_menu(self) -> None:
        """Fills the tray's menu: one entry per mission running or waiting, Show, Quit."""
        menu = self.menu
        if menu.isVisible():
            return  # never under the person's pointer; it is filled again before it opens
        menu.clear()
        waiting = self._approvals.waiting_missions()
        for row in self.busy_missions():
            if waiting.get(row.id):
                state = f"{waiting[row.id]} waiting for you"
            elif row.waiting_question:
                state = "a question for you"
            else:
                state = "running"
            title = row.title if len(row.title) <= 48 else row.title[:47] + "…"
            action = QAction(f"{title} — {state}", menu)
            action.setData(row.id)
            action.triggered.connect(
                lambda _checked=False, mission_id=row.id: self._window.show_from_tray(mission_id)
            )
            menu.addAction(action)
        if menu.actions():
            menu.addSeparator()
        show = QAction("Show Ensemble", menu)
        show.setObjectName("trayShowAction")
        show.triggered.connect(self._window.bring_to_front)
        menu.addAction(show)
        quit_action = QAction("Quit", menu)
        quit_action.setObjectName("trayQuitAction")
        quit_action.triggered.connect(self.request_quit)
        menu.addAction(quit_action)

    def set_waiting(self, count: int) -> None:
        """Says in the tray's tooltip how many actions wait for the person."""
        if self.icon is not None:
            self.icon.setToolTip(f"Ensemble: {count} waiting for you" if count else "Ensemble")

    def notify(self, title: str, text: str, *, mission_id: str | None = None) -> None:
        """A desktop notification, only while the person looks elsewhere; clicking it shows
        ``mission_id``'s mission (and its cards), if one is given.

        It goes to the desktop's notification service (:class:`ui.notify.DesktopNotifier`)
        when the session has one, else to the tray's balloon; either way it is recorded in
        :attr:`notifications`."""
        if not self._window.in_background():
            return
        self.last_notified = mission_id
        self.notifications.append(f"{title}: {text}")
        if not self.desktop.send(title, text, mission_id=mission_id):
            self._balloon(title, text)
        self.notified.emit(f"{title}: {text}")

    def _balloon(self, title: str, text: str) -> None:
        """The tray's own message: without a desktop notification service, or when it failed."""
        if self.icon is not None and QSystemTrayIcon.supportsMessages():
            self.icon.showMessage(title, text, app_icon(), 8000)

    def notify_waiting(self, mission_id: str, summary: str) -> None:
        """Says that an action waits for the person: "Workflow “X” needs you: …" when the
        mission is a workflow's unattended run (a schedule, catch-up or trigger started it)."""
        run = self._workflows.run_of(mission_id) if self._workflows is not None else None
        if run is not None and run.unattended:
            self.notify(f"Workflow “{run.workflow}” needs you", summary, mission_id=mission_id)
        else:
            self.notify(APPROVAL_TITLE, summary, mission_id=mission_id)

    def on_message_clicked(self) -> None:
        """The latest notification was clicked: the window, on its mission and first card."""
        self.show_mission(self.last_notified)

    def show_mission(self, mission_id: str | None) -> None:
        """Shows the window on a mission, with keyboard focus on its first waiting card."""
        self._window.show_from_tray(mission_id)
        if mission_id is None:
            return
        for card in self._approvals.pane.cards:
            if card.mission_id == mission_id:
                self._approvals.pane.focus_card(card)
                break

    # Closing and quitting ----------------------------------------------------------------------

    def close_button_quits(self) -> bool:
        """What the close button does: True to quit now; False if the window hid to the tray or
        the person chose to keep it open."""
        busy = self.busy_missions()
        scheduled = self._workflows is not None and self._workflows.keeps_running()
        if not busy and not scheduled:
            return True
        if self.icon is not None and QSystemTrayIcon.isSystemTrayAvailable():
            self.hide_to_tray()
            return False
        if not busy:
            # No tray to wait in: the workflows run only while the window is open.
            return self.confirm_quit_schedules()
        return self.confirm_quit(CLOSE_QUESTION, busy)

    def confirm_quit_schedules(self) -> bool:
        """Asks, when there is no tray to keep Ensemble in, whether to quit although workflows
        are scheduled, or to minimise the window; returns whether to quit."""
        window = self._window
        box = QMessageBox(QMessageBox.Icon.Question, "Quit Ensemble?", SCHEDULES_QUESTION, parent=window)
        box.setObjectName("quitSchedulesQuestion")
        box.setInformativeText(SCHEDULES_NOTE)
        minimise = box.addButton("Minimise", QMessageBox.ButtonRole.RejectRole)
        minimise.setObjectName("minimiseButton")
        quit_button = box.addButton("Quit", QMessageBox.ButtonRole.AcceptRole)
        quit_button.setObjectName("quitButton")
        box.setDefaultButton(minimise)
        box.setEscapeButton(minimise)
        self.quit_asked.emit(box)
        box.exec()
        answer = box.clickedButton() is quit_button
        box.deleteLater()
        if not answer:
            self._window.showMinimized()
        return answer

    def hide_to_tray(self) -> None:
        """Hides the window; Ensemble keeps working, in the tray (said once)."""
        window = self._window
        window.save_geometry()
        window.hide()
        self.refresh_menu()
        store = window.window_settings()
        if not store.value("backgroundExplained", False, type=bool):
            store.setValue("backgroundExplained", True)
            store.sync()
            count = len(self.busy_missions())
            if count:
                text = (
                    f"{count} mission{'s are' if count != 1 else ' is'} running or waiting for you. "
                    "Click the Ensemble icon to open the window; Quit in its menu pauses them."
                )
            else:
                text = (
                    "Your scheduled workflows run from here, and tell you when they need you. "
                    "Click the Ensemble icon to open the window; Quit in its menu stops them until "
                    "the next start."
                )
            self.notify(BACKGROUND_TITLE, text)
        self.hidden_to_tray.emit()

    def confirm_quit(self, question: str, busy: list[MissionRow]) -> bool:
        """Asks whether to quit while missions run; returns whether the person said so."""
        box = QMessageBox(QMessageBox.Icon.Question, "Quit Ensemble?", question, parent=self._window)
        box.setObjectName("quitQuestion")
        titles = "\n".join(f"• {row.title}" for row in busy[:8])
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
        """Quit (the tray's menu, Ctrl+Q): asks first if missions run, then closes the window for
        good (which pauses them all). Returns whether it did."""
        busy = self.busy_missions()
        if busy and not self.confirm_quit(QUIT_QUESTION, busy):
            return False
        self.quitting = True
        self._window.close()
        return True

    def hide(self) -> None:
        """Takes the icon out of the tray, for good."""
        self.quitting = True
        if self.icon is not None:
            self.icon.hide()
