"""The settings, in pages: General (the API key, the workspace folders, start at login),
Accounts (email and calendars), Browser (allowed sites, the browser program, its profile),
Model (the model, the budget, parallel tasks) and Team (where missions run: here, or on the
team's Temporal cluster).

The dialog edits values; the window stores them off the GUI thread (the key in the system
keyring, never on disk; the rest in ``settings.json``) when the person presses Save. The
Accounts page is the exception: an account is added, tested or removed at once, through the
engine (see :mod:`ui.settings_pages`). The key is never shown back in full: only its last four
characters. Each page scrolls vertically, so that the dialog fits a small screen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLineEdit,
    QListWidget,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.paths import Paths
from app.secrets import redact
from ui.settings_pages import AccountsPage, BrowserPage, ModelPage, TeamPage
from ui.widgets import WrapLabel, button_row, muted, scrolling

if TYPE_CHECKING:
    from PySide6.QtWidgets import QComboBox, QSpinBox

    from app.settings import Settings
    from ui.bridge import Bridge

__all__ = ["FIRST_RUN_TEXT", "SettingsDialog", "key_hint"]

FIRST_RUN_TEXT = (
    "Welcome! Ensemble's agents think with Anthropic's Claude models, so Ensemble needs an "
    "Anthropic API key to work. You can create one at console.anthropic.com under "
    "“API keys”; it starts with “sk-ant-”. Paste it below: it is kept in your system's "
    "keyring, never in a file, and only its last four characters are ever shown again."
)


class SettingsDialog(QDialog):
    """Edits the settings and the API key, in pages (tabs).

    Args:
        settings: The settings in use.
        key_hint: The stored key, redacted, or None when there is none.
        key_from_env: Whether ``ANTHROPIC_API_KEY`` is set (it is used before the keyring).
        first_run: Show the plain explanation of why a key is needed.
        bridge: The engine, for the accounts and "Find it"; by default the parent window's
            (``parent.bridge``), if it has one.
        parent: The window it belongs to.

    Signals:
        saved(object, object): The new :class:`Settings`, and the new key (None: unchanged).
        welcome_requested(): "Show the welcome again": the dialog closed (unsaved) to open the
            first-run assistant.
    """

    saved = Signal(object, object)
    welcome_requested = Signal()

    def __init__(
        self,
        settings: Settings,
        *,
        key_hint: str | None,
        key_from_env: bool = False,
        first_run: bool = False,
        bridge: Bridge | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("settingsDialog")
        self.setAccessibleName("Settings")
        self.setWindowTitle("Ensemble settings")
        self._settings = settings
        if bridge is None:
            found: Any = getattr(parent, "bridge", None)
            bridge = found if hasattr(found, "call") else None
        self._bridge = bridge
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.setContentsMargins(16, 14, 16, 12)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("settingsTabs")
        self.tabs.setAccessibleName("Settings pages")
        self.tabs.setUsesScrollButtons(True)
        self.general_page = self._general_page(settings, key_hint, key_from_env, first_run)
        self.accounts_page = AccountsPage(list(settings.accounts), bridge)
        self.accounts_page.accounts_changed.connect(self._on_accounts_changed)
        self.browser_page = BrowserPage(
            dict(settings.sections.get("browser") or {}),
            bridge,
            profile_folder=str(Paths.default().data_dir / "browser-profile"),
        )
        self.model_page = ModelPage(settings)
        self.team_page = TeamPage(settings)
        for page, title, name in (
            (self.general_page, "General", "generalScroll"),
            (self.accounts_page, "Accounts", "accountsScroll"),
            (self.browser_page, "Browser", "browserScroll"),
            (self.model_page, "Model", "modelScroll"),
            (self.team_page, "Team", "teamScroll"),
        ):
            index = self.tabs.addTab(scrolling(page, name, margins=(4, 8, 12, 8)), title)
            self.tabs.setTabToolTip(index, page.accessibleName())
        layout.addWidget(self.tabs, 1)
        # The Model page's controls, under the names the dialog has always had.
        self.model_input: QComboBox = self.model_page.model_input
        self.concurrency_input: QSpinBox = self.model_page.concurrency_input
        self.budget_input: QSpinBox = self.model_page.budget_input

        self.error_label = WrapLabel()
        self.error_label.setObjectName("settingsError")
        self.error_label.setAccessibleName("Problem with the settings")
        self.error_label.hide()
        layout.addWidget(self.error_label)

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.setObjectName("settingsButtons")
        save = buttons.button(QDialogButtonBox.StandardButton.Save)
        save.setObjectName("saveSettingsButton")
        save.setAccessibleName("Save settings")
        save.setProperty("role", "accent")
        cancel = buttons.button(QDialogButtonBox.StandardButton.Cancel)
        cancel.setObjectName("cancelSettingsButton")
        cancel.setAccessibleName("Cancel")
        buttons.accepted.connect(self.on_save_clicked)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._first_run = first_run and not key_hint
        self._fit_screen()
        if first_run:
            self.key_input.setFocus()
        if bridge is not None:
            # The accounts as the engine has them now (the window's copy may be older).
            self.accounts_page.reload()

    def _fit_screen(self) -> None:
        """A size that fits the screen (the pages scroll when it is small)."""
        self.setMinimumSize(320, 280)
        parent = self.parentWidget()
        screen = parent.screen() if parent is not None else QGuiApplication.primaryScreen()
        if screen is None:
            self.resize(720, 640)
            return
        room = screen.availableGeometry()
        self.resize(min(720, room.width() - 40), min(660, room.height() - 60))

    def _general_page(
        self, settings: Settings, key_hint: str | None, key_from_env: bool, first_run: bool
    ) -> QWidget:
        page = QWidget()
        page.setObjectName("generalPage")
        page.setAccessibleName("General")
        layout = QVBoxLayout(page)
        layout.setSpacing(12)

        self.first_run_note = WrapLabel(FIRST_RUN_TEXT)
        self.first_run_note.setObjectName("firstRunNote")
        self.first_run_note.setAccessibleName("Why Ensemble needs a key")
        self.first_run_note.setVisible(first_run)
        layout.addWidget(self.first_run_note)

        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setHorizontalSpacing(14)
        form.setVerticalSpacing(10)

        self.key_input = QLineEdit()
        self.key_input.setObjectName("apiKeyInput")
        self.key_input.setAccessibleName("Anthropic API key")
        self.key_input.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_input.setMinimumWidth(80)
        self.key_input.setPlaceholderText(
            f"Stored: {key_hint} (type a new key to replace it)" if key_hint else "sk-ant-…"
        )
        key_box = QVBoxLayout()
        key_box.setSpacing(2)
        key_box.addWidget(self.key_input)
        note = (
            "ANTHROPIC_API_KEY is set in the environment and is used first."
            if key_from_env
            else "Kept in the system keyring; leave empty to keep the stored key."
        )
        key_box.addWidget(muted(note))
        form.addRow("API key:", key_box)

        folders = QVBoxLayout()
        self.workspace_list = QListWidget()
        self.workspace_list.setObjectName("workspaceList")
        self.workspace_list.setAccessibleName("Folders the agents may use")
        self.workspace_list.addItems(settings.workspaces)
        self.workspace_list.setMaximumHeight(110)
        folders.addWidget(self.workspace_list)
        add = QPushButton("Add folder…")
        add.setObjectName("addWorkspaceButton")
        add.setAccessibleName("Add a folder")
        add.clicked.connect(self.on_add_folder_clicked)
        remove = QPushButton("Remove")
        remove.setObjectName("removeWorkspaceButton")
        remove.setAccessibleName("Remove the selected folder")
        remove.clicked.connect(self.on_remove_folder_clicked)
        folders.addWidget(button_row(add, remove))
        folders.addWidget(
            muted("Agents can read and (with your approval) change files in these folders only.")
        )
        form.addRow("Workspace folders:", folders)

        from app import autostart

        self._autostart_was = autostart.supported() and autostart.is_enabled()
        login = QVBoxLayout()
        login.setSpacing(2)
        self.start_at_login_input = QCheckBox("Start Ensemble when I log in")
        self.start_at_login_input.setObjectName("startAtLoginInput")
        self.start_at_login_input.setAccessibleName("Start Ensemble when I log in")
        self.start_at_login_input.setChecked(self._autostart_was)
        self.start_at_login_input.setEnabled(autostart.supported())
        login.addWidget(self.start_at_login_input)
        login.addWidget(
            muted(
                "So that scheduled and triggered workflows run without you opening Ensemble: it "
                "waits in the tray."
                if autostart.supported()
                else "Not available on this system."
            )
        )
        form.addRow("At login:", login)
        layout.addLayout(form)
        # The first-run assistant (key, one account, a first mission), shown once at start.
        self.welcome_button = QPushButton("Show the welcome again")
        self.welcome_button.setObjectName("showWelcomeButton")
        self.welcome_button.setAccessibleName("Show the welcome assistant again")
        self.welcome_button.setToolTip("Closes the settings (unsaved) and opens the first-run assistant")
        self.welcome_button.clicked.connect(self._on_welcome_clicked)
        layout.addWidget(button_row(self.welcome_button, name="welcomeRow"))
        layout.addStretch(1)
        return page

    def _on_welcome_clicked(self) -> None:
        self.reject()
        self.welcome_requested.emit()

    def _on_accounts_changed(self, accounts: list[Any]) -> None:
        self._settings = self._settings.model_copy(update={"accounts": list(accounts)})

    def on_add_folder_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A folder the agents may use")
        if folder:
            self.add_folder(folder)

    def add_folder(self, folder: str) -> None:
        """Adds a workspace folder (once)."""
        existing = {self.workspace_list.item(i).text() for i in range(self.workspace_list.count())}
        if folder not in existing:
            self.workspace_list.addItem(folder)

    def on_remove_folder_clicked(self) -> None:
        for item in self.workspace_list.selectedItems():
            self.workspace_list.takeItem(self.workspace_list.row(item))

    def settings(self) -> Settings:
        """The settings as edited.

        Raises:
            ValueError: The Browser page holds something unusable; the message says what.
        """
        return self._settings.model_copy(
            update={
                "model": self.model_page.model(),
                "max_concurrency": self.concurrency_input.value(),
                "token_budget": self.model_page.token_budget(),
                "workspaces": [
                    self.workspace_list.item(i).text() for i in range(self.workspace_list.count())
                ],
                "accounts": list(self.accounts_page.accounts),
                "sections": {**self._settings.sections, "browser": self.browser_page.section()},
                **self.team_page.changes(),
            }
        )

    def show_error(self, text: str, page: QWidget | None = None) -> None:
        """Shows a problem under the pages (and the page it is on)."""
        if page is not None:
            for index in range(self.tabs.count()):
                scroll = self.tabs.widget(index)
                if isinstance(scroll, QScrollArea) and scroll.widget() is page:
                    self.tabs.setCurrentIndex(index)
        self.error_label.setText(text)
        self.error_label.setAccessibleName(text[:120])
        self.error_label.show()

    def on_save_clicked(self) -> None:
        key = self.key_input.text().strip() or None
        if key is not None and (len(key) < 8 or any(c.isspace() for c in key)):
            self.show_error(
                "That does not look like an API key: it should be one long word, like sk-ant-….",
                self.general_page,
            )
            return
        if self._first_run and key is None:
            self.show_error(
                "Paste your Anthropic API key first: Ensemble cannot work without one.", self.general_page
            )
            return
        try:
            self.team_page.changes()
        except ValueError as exc:
            self.show_error(str(exc), self.team_page)
            return
        try:
            settings = self.settings()
        except ValueError as exc:
            self.show_error(str(exc), self.browser_page)
            return
        if not self.apply_start_at_login():
            return
        self.saved.emit(settings, key)
        self.accept()

    def apply_start_at_login(self) -> bool:
        """Adds or removes the login entry if "Start at login" changed; False (with the reason
        shown) if it could not be written."""
        from app import autostart

        wanted = self.start_at_login_input.isChecked()
        if wanted == self._autostart_was:
            return True
        try:
            if wanted:
                autostart.enable()
            else:
                autostart.disable()
        except OSError as exc:
            self.show_error(f"Could not change “Start at login”: {exc.strerror or exc}.", self.general_page)
            return False
        self._autostart_was = wanted
        return True


def key_hint(key: str | None) -> str | None:
    """The stored key as the dialog may show it."""
    return redact(key) if key else None
