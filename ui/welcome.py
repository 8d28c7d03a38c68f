"""The welcome shown on a first run without an API key: try the demo, or add a key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

WELCOME_TEXT = (
    "<h2>Welcome to Ensemble</h2>"
    "<p>Ensemble runs a team of AI agents on your spreadsheets, email and websites. Every email "
    "sent, form submitted or workbook changed waits for your approval first.</p>"
    "<p>The agents think with Anthropic's Claude, so your own missions need an Anthropic API key "
    "(from console.anthropic.com). It stays in your system's keyring.</p>"
    "<p><b>No key yet?</b> Try the demo: a scripted model plays the agents on made-up invoices, "
    "emails and a supplier portal on this computer. You approve each step as you would for real, "
    "and nothing leaves this computer.</p>"
)


class WelcomeDialog(QDialog):
    """Offers the demo or the settings to a newcomer who has no API key.

    Signals:
        demo_requested(): The person chose the demo.
        key_requested(): The person chose to add their API key.
    """

    demo_requested = Signal()
    key_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcomeDialog")
        self.setAccessibleName("Welcome")
        self.setWindowTitle("Welcome to Ensemble")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(22, 18, 22, 16)
        layout.setSpacing(14)
        note = QLabel(WELCOME_TEXT)
        note.setObjectName("welcomeText")
        note.setAccessibleName("About Ensemble")
        note.setTextFormat(Qt.TextFormat.RichText)
        note.setWordWrap(True)
        layout.addWidget(note)

        buttons = QHBoxLayout()
        later = QPushButton("Not now")
        later.setObjectName("welcomeLaterButton")
        later.setAccessibleName("Not now")
        later.clicked.connect(self.reject)
        buttons.addWidget(later)
        buttons.addStretch(1)
        self.key_button = QPushButton("Add my API key…")
        self.key_button.setObjectName("addKeyButton")
        self.key_button.setAccessibleName("Add my API key")
        self.key_button.clicked.connect(self._on_key_clicked)
        buttons.addWidget(self.key_button)
        self.demo_button = QPushButton("▶ Try the demo")
        self.demo_button.setObjectName("tryDemoButton")
        self.demo_button.setAccessibleName("Try the demo")
        self.demo_button.setProperty("role", "accent")
        self.demo_button.setDefault(True)
        self.demo_button.clicked.connect(self._on_demo_clicked)
        buttons.addWidget(self.demo_button)
        layout.addLayout(buttons)
        self.demo_button.setFocus()

    def _on_demo_clicked(self) -> None:
        self.accept()
        self.demo_requested.emit()

    def _on_key_clicked(self) -> None:
        self.accept()
        self.key_requested.emit()
