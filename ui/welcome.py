"""The first-run assistant: four short steps that take a newcomer from nothing to a first mission.

1. Welcome: what Ensemble does, and "Try the demo first" (no key needed).
2. The API key: pasted (masked), checked for its shape only, and stored the way the settings
   store it (the system keyring); it may be skipped.
3. One account (optional): the Accounts page of the settings (:class:`ui.settings_pages.AccountsPage`,
   email with presets, a mail folder on this computer, or a calendar), or "Later".
4. A first mission: examples that fill the message box; Finish.

The assistant only asks; the window's :class:`ui.dialogs.Dialogs` stores the key and fills the
message box, and remembers that the first run is done once the assistant closes, whichever way.
Enter moves to the next step, Esc closes it (it can be opened again from Settings). Every step
scrolls vertically, so that it fits a small screen at any scaling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.secrets import redact
from ui.settings_pages import AccountsPage
from ui.widgets import WrapLabel, button_row, fit_button, muted, named_button, scrolling

if TYPE_CHECKING:
    from ui.bridge import Bridge

__all__ = [
    "CLOSE_NOTE",
    "EXAMPLE_MISSIONS",
    "KEY_HELP",
    "KEY_URL",
    "STEPS",
    "WELCOME_TEXT",
    "WelcomeDialog",
    "key_problem",
]

WELCOME_TEXT = (
    "<h2>Welcome to Ensemble</h2>"
    "<p>Ensemble runs a team of AI agents on your spreadsheets, email and websites. Every email "
    "sent, form submitted or workbook changed waits for your approval first.</p>"
    "<p>The agents think with Anthropic's Claude, so your own missions need an Anthropic API key. "
    "The next steps set it up, then (if you like) one email account, then your first mission: "
    "a few minutes in all.</p>"
    "<p><b>Just looking?</b> Try the demo first: a scripted model plays the agents on made-up "
    "invoices, emails and a supplier portal on this computer. You approve each step as you would "
    "for real, no key is needed, and nothing leaves this computer.</p>"
)

KEY_URL = "https://console.anthropic.com/settings/keys"
"""Where an Anthropic API key is created."""

KEY_HELP = (
    "Sign in (or sign up) at console.anthropic.com, open “API keys” and choose “Create key”. "
    "Copy the key, which starts with “sk-ant-”, and paste it below. Anthropic bills what the "
    "agents use to that account, separately from a Claude subscription."
)

CLOSE_NOTE = "Esc closes this assistant. You can open it again from Settings (General page)."

STEPS = ("Welcome", "Your API key", "One account", "Your first mission")
"""The steps' titles, in order."""

EXAMPLE_MISSIONS: tuple[tuple[str, str], ...] = (
    (
        "Overdue invoices",
        "Mark every overdue invoice in invoices.xlsx as overdue and total what is still owed.",
    ),
    (
        "Answer my email",
        "Read this week's unread email, sum up each one in a line, and draft replies to the urgent "
        "ones for me to check.",
    ),
    (
        "Tidy a spreadsheet",
        "In my spreadsheet, find duplicate rows and empty cells in required columns, and list what "
        "you would fix before changing anything.",
    ),
    (
        "Prepare a meeting",
        "Look at my calendar for next week and draft an agenda email for each meeting's attendees.",
    ),
)
"""Example first missions: a short title (the button) and the mission put in the message box."""


def key_problem(key: str) -> str | None:
    """What is wrong with the shape of a pasted API key (None: it looks like one).

    Only the shape is checked (one long word): whether Anthropic accepts the key is seen at
    the first mission.

    Args:
        key: The key as pasted, stripped.
    """
    if len(key) < 8 or any(c.isspace() for c in key):
        return "That does not look like an API key: it should be one long word, like sk-ant-…."
    return None


def _button(text: str, name: str, accessible: str) -> QPushButton:
    button = named_button(text, name, accessible)
    fit_button(button)
    return button


class WelcomeDialog(QDialog):
    """The first-run assistant (window-modal): welcome, key, one account, a first mission.

    Args:
        key_hint: The stored key, redacted, or None when there is none.
        accounts: The accounts in the settings now (for the account step).
        bridge: The engine, for the account step (None: that step says it needs the engine).
        parent: The window it belongs to.

    Signals:
        demo_requested(): The person chose the demo (the assistant has closed).
        key_entered(str): A key of the right shape was typed: store it.
        mission_chosen(str): An example mission was chosen (the assistant has closed): put it
            in the message box.
        accounts_changed(list): The account step added, removed or changed an account.
    """

    demo_requested = Signal()
    key_entered = Signal(str)
    mission_chosen = Signal(str)
    accounts_changed = Signal(list)

    def __init__(
        self,
        *,
        key_hint: str | None = None,
        accounts: list[Any] | None = None,
        bridge: Bridge | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("welcomeDialog")
        self.setAccessibleName("Welcome to Ensemble")
        self.setWindowTitle("Welcome to Ensemble")
        self._key_hint = key_hint
        self.chosen_mission: str | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 14, 18, 12)
        layout.setSpacing(10)

        self.step_label = QLabel()
        self.step_label.setObjectName("welcomeStepLabel")
        self.step_label.setWordWrap(True)
        layout.addWidget(self.step_label)

        self.steps = QStackedWidget()
        self.steps.setObjectName("welcomeSteps")
        self.steps.setAccessibleName("The assistant's steps")
        self.accounts_page = AccountsPage(list(accounts or []), bridge)
        self.accounts_page.accounts_changed.connect(self.accounts_changed)
        for page, name in (
            (self._welcome_step(), "welcomeStepScroll"),
            (self._key_step(), "keyStepScroll"),
            (self._account_step(), "accountStepScroll"),
            (self._mission_step(), "missionStepScroll"),
        ):
            self.steps.addWidget(scrolling(page, name, margins=(4, 4, 12, 4)))
        layout.addWidget(self.steps, 1)

        # A key that could not be kept (no password store): said here, on whatever step the
        # person is, not only in the window's banner behind the assistant.
        self.key_problem = WrapLabel()
        self.key_problem.setObjectName("welcomeKeyProblem")
        self.key_problem.setAccessibleName("The key could not be kept")
        self.key_problem.setStyleSheet("color: #c92a2a;")
        self.key_problem.hide()
        layout.addWidget(self.key_problem)
        close_note = muted(CLOSE_NOTE, "welcomeCloseNote")
        layout.addWidget(close_note)

        self.back_button = _button("Back", "welcomeBackButton", "Back to the previous step")
        self.back_button.clicked.connect(self.go_back)
        self.skip_button = _button("Skip for now", "welcomeSkipButton", "Skip this step")
        self.skip_button.clicked.connect(self.skip)
        self.next_button = _button("Next", "welcomeNextButton", "Next step")
        self.next_button.setProperty("role", "accent")
        self.next_button.setDefault(True)  # Enter: the next step
        self.next_button.clicked.connect(self.go_next)
        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        buttons.addWidget(self.back_button)
        buttons.addStretch(1)
        buttons.addWidget(self.skip_button)
        buttons.addWidget(self.next_button)
        layout.addLayout(buttons)

        if bridge is not None:
            # The accounts as the engine has them now (the window's copy may be older).
            self.accounts_page.reload()
        self.fit()
        self.go_to(0)

    # The steps -----------------------------------------------------------------------------------

    def _welcome_step(self) -> QWidget:
        page = QWidget()
        page.setObjectName("welcomeStep")
        page.setAccessibleName(STEPS[0])
        layout = QVBoxLayout(page)
        layout.setSpacing(12)
        note = QLabel(WELCOME_TEXT)
        note.setObjectName("welcomeText")
        note.setAccessibleName("What Ensemble does")
        note.setTextFormat(Qt.TextFormat.RichText)
        note.setWordWrap(True)
        layout.addWidget(note)
        self.demo_button = _button("▶ Try the demo first", "tryDemoButton", "Try the demo first")
        self.demo_button.setToolTip("A demo mission on made-up data with a scripted model: no key needed")
        self.demo_button.clicked.connect(self._on_demo_clicked)
        layout.addWidget(button_row(self.demo_button, name="welcomeDemoRow"))
        layout.addStretch(1)
        return page

    def _key_step(self) -> QWidget:
        page = QWidget()
        page.setObjectName("keyStep")
        page.setAccessibleName(STEPS[1])
        layout = QVBoxLayout(page)
        layout.setSpacing(10)
        intro = WrapLabel(
            "Ensemble's agents think with Anthropic's Claude models, so your own missions need an "
            "Anthropic API key. It is kept in your system's password store (the keyring), never in "
            "a file, and only its last four characters are ever shown again."
        )
        intro.setObjectName("keyIntro")
        intro.setAccessibleName("Why Ensemble needs a key")
        layout.addWidget(intro)
        where = QLabel(f'<a href="{KEY_URL}">Where do I get one?</a>')
        where.setObjectName("keyWhereLink")
        where.setAccessibleName("Where do I get one? Opens console.anthropic.com in your browser")
        where.setTextFormat(Qt.TextFormat.RichText)
        where.setOpenExternalLinks(True)
        where.setTextInteractionFlags(
            Qt.TextInteractionFlag.LinksAccessibleByMouse | Qt.TextInteractionFlag.LinksAccessibleByKeyboard
        )
        layout.addWidget(where)
        layout.addWidget(muted(KEY_HELP, "keyHelp"))

        self.key_input = QLineEdit()
        self.key_input.setObjectName("welcomeKeyInput")
        self.key_input.setAccessibleName("Anthropic API key")
        self.key_input.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_input.setMinimumWidth(80)
        layout.addWidget(self.key_input)
        self.show_key_input = QCheckBox("Show the key")
        self.show_key_input.setObjectName("showKeyInput")
        self.show_key_input.setAccessibleName("Show the key as typed")
        self.show_key_input.toggled.connect(self._on_show_key_toggled)
        layout.addWidget(self.show_key_input)
        self.key_error = WrapLabel()
        self.key_error.setObjectName("welcomeKeyError")
        self.key_error.setAccessibleName("Problem with the key")
        self.key_error.setStyleSheet("color: #c92a2a;")
        self.key_error.hide()
        layout.addWidget(self.key_error)
        self.key_input.textEdited.connect(lambda _text: self.key_error.hide())
        self.key_note = muted("", "welcomeKeyNote")
        layout.addWidget(self.key_note)
        self._show_key_hint()
        layout.addStretch(1)
        return page

    def _account_step(self) -> QWidget:
        page = QWidget()
        page.setObjectName("accountStep")
        page.setAccessibleName(STEPS[2])
        layout = QVBoxLayout(page)
        layout.setSpacing(10)
        intro = WrapLabel(
            "Optional: add one email account (choose your provider and its servers are filled in), "
            "a mail folder on this computer, or a calendar, so that agents can read and prepare mail "
            "for you. Every email they would send still waits for your approval. Or choose Later: "
            "Settings has the same page."
        )
        intro.setObjectName("accountIntro")
        intro.setAccessibleName("About adding an account")
        layout.addWidget(intro)
        self.accounts_page.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.accounts_page)
        return page

    def _mission_step(self) -> QWidget:
        page = QWidget()
        page.setObjectName("missionStep")
        page.setAccessibleName(STEPS[3])
        layout = QVBoxLayout(page)
        layout.setSpacing(8)
        intro = WrapLabel(
            "Tell the agents what you want done, in plain words. Choose an example to put it in the "
            "message box, change it as you like and press Send; or press Finish and write your own."
        )
        intro.setObjectName("missionIntro")
        intro.setAccessibleName("About your first mission")
        layout.addWidget(intro)
        self.no_key_note = muted(
            "Without a key, Send stays off until you add one (Settings); the demo needs none.",
            "welcomeNoKeyNote",
        )
        layout.addWidget(self.no_key_note)
        self.example_buttons: list[QPushButton] = []
        for index, (title, mission) in enumerate(EXAMPLE_MISSIONS):
            button = _button(title, f"exampleMission{index}", f"Use the example: {title}")
            button.setToolTip(mission)
            button.clicked.connect(lambda _checked=False, text=mission: self.choose_mission(text))
            self.example_buttons.append(button)
            layout.addWidget(button_row(button, name=f"exampleMissionRow{index}"))
            example = muted(mission, f"exampleMissionText{index}")
            example.setContentsMargins(12, 0, 0, 6)
            layout.addWidget(example)
        layout.addStretch(1)
        return page

    # Moving between steps --------------------------------------------------------------------------

    def current(self) -> int:
        """The step shown (0: welcome … 3: the first mission)."""
        return self.steps.currentIndex()

    def go_to(self, index: int) -> None:
        """Shows a step, with its buttons and the focus on its first control."""
        index = max(0, min(index, len(STEPS) - 1))
        self.steps.setCurrentIndex(index)
        title = f"Step {index + 1} of {len(STEPS)}: {STEPS[index]}"
        self.step_label.setText(f"<b>{title}</b>")
        self.step_label.setAccessibleName(title)
        self.back_button.setVisible(index > 0)
        self.skip_button.setVisible(index in (1, 2))
        self.skip_button.setText("Later" if index == 2 else "Skip for now")
        self.skip_button.setAccessibleName("Add an account later" if index == 2 else "Skip the key for now")
        last = index == len(STEPS) - 1
        self.next_button.setText("Finish" if last else "Next")
        self.next_button.setAccessibleName("Finish the assistant" if last else "Next step")
        self.no_key_note.setVisible(self._key_hint is None)
        focus: QWidget = {
            0: self.next_button,
            1: self.key_input,
            2: self.accounts_page.provider_input,
            3: self.next_button,  # Enter: Finish; Tab reaches the examples
        }[index]
        focus.setFocus()

    def go_next(self) -> None:
        """Next (Enter): stores a key typed in the key step first; Finish on the last step."""
        index = self.current()
        if index == 1 and not self._take_key():
            return
        if index == len(STEPS) - 1:
            self.accept()
            return
        self.go_to(index + 1)

    def go_back(self) -> None:
        """The previous step."""
        self.go_to(self.current() - 1)

    def skip(self) -> None:
        """Skips the key or the account step (a key typed but not taken is forgotten)."""
        if self.current() == 1:
            self.key_input.clear()
            self.key_error.hide()
        self.go_to(self.current() + 1)

    def choose_mission(self, text: str) -> None:
        """Puts an example mission in the message box and closes the assistant."""
        self.chosen_mission = text
        self.accept()
        self.mission_chosen.emit(text)

    # The key -----------------------------------------------------------------------------------

    def _take_key(self) -> bool:
        """Hands a typed key on if its shape is right; False (the problem shown) if it is not."""
        key = self.key_input.text().strip()
        if not key:
            return True  # nothing typed: the same as Skip (or the stored key is kept)
        problem = key_problem(key)
        if problem is not None:
            self.key_error.setText(problem)
            self.key_error.setAccessibleName(problem)
            self.key_error.show()
            self.key_input.setFocus()
            return False
        self.key_error.hide()
        self.key_input.clear()
        self._key_hint = redact(key)
        self._show_key_hint(saved=True)
        self.key_entered.emit(key)
        return True

    def show_key_problem(self, note: str) -> None:
        """Says that the key taken could not be stored (``note``: why, and that it is used until
        Ensemble closes), on the step shown now and on the key step."""
        self.key_problem.setText(note)
        self.key_problem.setAccessibleDescription(note)
        self.key_problem.show()
        if self._key_hint is not None:
            self.key_note.setText(f"Not stored: {self._key_hint} is used until Ensemble closes.")
            self.key_note.setAccessibleName(self.key_note.text())

    def _show_key_hint(self, *, saved: bool = False) -> None:
        if self._key_hint is None:
            self.key_input.setPlaceholderText("sk-ant-…")
            self.key_note.setText("No key is stored yet. You can skip this and add it later in Settings.")
        else:
            self.key_input.setPlaceholderText(f"Stored: {self._key_hint} (type a new key to replace it)")
            self.key_note.setText(
                f"Saved: {self._key_hint}." if saved else f"A key is stored already: {self._key_hint}."
            )
        self.key_note.setAccessibleName(self.key_note.text())

    def _on_show_key_toggled(self, shown: bool) -> None:
        self.key_input.setEchoMode(QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password)

    # Closing -----------------------------------------------------------------------------------

    def _on_demo_clicked(self) -> None:
        self.accept()
        self.demo_requested.emit()

    # Size --------------------------------------------------------------------------------------

    def fit(self, room: QSize | None = None) -> None:
        """A size that fits the room (the window it belongs to, or else the screen): each step
        scrolls when it is small.

        Args:
            room: The space to fit in; by default the parent window's, within its screen's.
        """
        self.setMinimumSize(320, 280)
        if room is None:
            parent = self.parentWidget()
            screen = parent.screen() if parent is not None else QGuiApplication.primaryScreen()
            available = screen.availableGeometry().size() if screen is not None else QSize(1024, 700)
            room = available
            if parent is not None and parent.isVisible():
                room = room.boundedTo(parent.window().size())
        self.resize(max(320, min(680, room.width() - 40)), max(280, min(620, room.height() - 40)))
