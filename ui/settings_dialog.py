"""The settings: API key, model, workspace folders, concurrency and token budget.

The dialog only edits values; the window stores them off the GUI thread (the key in the
system keyring, never on disk; the rest in ``settings.json``). The key is never shown back
in full: only its last four characters.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.secrets import redact
from app.settings import DEFAULT_MODEL, Settings

MODELS = [DEFAULT_MODEL, "claude-opus-4-5", "claude-sonnet-4-5", "claude-haiku-4-5"]

FIRST_RUN_TEXT = (
    "Welcome! Ensemble's agents think with Anthropic's Claude models, so Ensemble needs an "
    "Anthropic API key to work. You can create one at console.anthropic.com under "
    "“API keys”; it starts with “sk-ant-”. Paste it below: it is kept in your system's "
    "keyring, never in a file, and only its last four characters are ever shown again."
)


class SettingsDialog(QDialog):
    """Edits the settings and the API key.

    Args:
        settings: The settings in use.
        key_hint: The stored key, redacted, or None when there is none.
        key_from_env: Whether ``ANTHROPIC_API_KEY`` is set (it is used before the keyring).
        first_run: Show the plain explanation of why a key is needed.

    Signals:
        saved(object, object): The new :class:`Settings`, and the new key (None: unchanged).
    """

    saved = Signal(object, object)

    def __init__(
        self,
        settings: Settings,
        *,
        key_hint: str | None,
        key_from_env: bool = False,
        first_run: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("settingsDialog")
        self.setAccessibleName("Settings")
        self.setWindowTitle("Ensemble settings")
        self.setMinimumWidth(560)
        self._settings = settings
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        layout.setContentsMargins(20, 18, 20, 16)

        self.first_run_note = QLabel(FIRST_RUN_TEXT)
        self.first_run_note.setObjectName("firstRunNote")
        self.first_run_note.setAccessibleName("Why Ensemble needs a key")
        self.first_run_note.setWordWrap(True)
        self.first_run_note.setVisible(first_run)
        layout.addWidget(self.first_run_note)

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setHorizontalSpacing(14)
        form.setVerticalSpacing(10)

        self.key_input = QLineEdit()
        self.key_input.setObjectName("apiKeyInput")
        self.key_input.setAccessibleName("Anthropic API key")
        self.key_input.setEchoMode(QLineEdit.EchoMode.Password)
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
        key_note = QLabel(note)
        key_note.setProperty("muted", True)
        key_note.setAccessibleName(note)
        key_box.addWidget(key_note)
        form.addRow("API key:", key_box)

        self.model_input = QComboBox()
        self.model_input.setObjectName("modelInput")
        self.model_input.setAccessibleName("Model")
        self.model_input.setEditable(True)
        for name in dict.fromkeys([settings.model, *MODELS]):
            self.model_input.addItem(name)
        self.model_input.setCurrentText(settings.model)
        form.addRow("Model:", self.model_input)

        folders = QVBoxLayout()
        self.workspace_list = QListWidget()
        self.workspace_list.setObjectName("workspaceList")
        self.workspace_list.setAccessibleName("Folders the agents may use")
        self.workspace_list.addItems(settings.workspaces)
        self.workspace_list.setMaximumHeight(110)
        folders.addWidget(self.workspace_list)
        folder_buttons = QHBoxLayout()
        add = QPushButton("Add folder…")
        add.setObjectName("addWorkspaceButton")
        add.setAccessibleName("Add a folder")
        add.clicked.connect(self.on_add_folder_clicked)
        remove = QPushButton("Remove")
        remove.setObjectName("removeWorkspaceButton")
        remove.setAccessibleName("Remove the selected folder")
        remove.clicked.connect(self.on_remove_folder_clicked)
        folder_buttons.addWidget(add)
        folder_buttons.addWidget(remove)
        folder_buttons.addStretch(1)
        folders.addLayout(folder_buttons)
        hint = QLabel("Agents can read and (with your approval) change files in these folders only.")
        hint.setProperty("muted", True)
        hint.setWordWrap(True)
        hint.setAccessibleName(hint.text())
        folders.addWidget(hint)
        form.addRow("Workspace folders:", folders)

        self.concurrency_input = QSpinBox()
        self.concurrency_input.setObjectName("concurrencyInput")
        self.concurrency_input.setAccessibleName("Tasks that run at once")
        self.concurrency_input.setRange(1, 32)
        self.concurrency_input.setValue(settings.max_concurrency)
        self.concurrency_input.setSuffix(" at once")
        self.concurrency_input.setToolTip(Settings.model_fields["max_concurrency"].description or "")
        form.addRow("Parallel tasks:", self.concurrency_input)

        self.budget_input = QSpinBox()
        self.budget_input.setObjectName("tokenBudgetInput")
        self.budget_input.setAccessibleName("Token budget per mission")
        self.budget_input.setRange(1_000, 2_000_000_000)
        self.budget_input.setSingleStep(100_000)
        self.budget_input.setGroupSeparatorShown(True)
        self.budget_input.setValue(min(settings.token_budget, 2_000_000_000))
        self.budget_input.setSuffix(" tokens")
        form.addRow("Budget per mission:", self.budget_input)

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
        login_note = QLabel(
            "So that scheduled and triggered workflows run without you opening Ensemble: it "
            "waits in the tray."
            if autostart.supported()
            else "Not available on this system."
        )
        login_note.setProperty("muted", True)
        login_note.setWordWrap(True)
        login_note.setAccessibleName(login_note.text())
        login.addWidget(login_note)
        form.addRow("At login:", login)
        layout.addLayout(form)

        self.error_label = QLabel()
        self.error_label.setObjectName("settingsError")
        self.error_label.setAccessibleName("Problem with the settings")
        self.error_label.setWordWrap(True)
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
        if first_run:
            self.key_input.setFocus()

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
        """The settings as edited."""
        return self._settings.model_copy(
            update={
                "model": self.model_input.currentText().strip() or DEFAULT_MODEL,
                "max_concurrency": self.concurrency_input.value(),
                "token_budget": self.budget_input.value(),
                "workspaces": [
                    self.workspace_list.item(i).text() for i in range(self.workspace_list.count())
                ],
            }
        )

    def on_save_clicked(self) -> None:
        key = self.key_input.text().strip() or None
        if key is not None and (len(key) < 8 or any(c.isspace() for c in key)):
            self.error_label.setText(
                "That does not look like an API key: it should be one long word, like sk-ant-…."
            )
            self.error_label.show()
            return
        if self._first_run and key is None:
            self.error_label.setText("Paste your Anthropic API key first: Ensemble cannot work without one.")
            self.error_label.show()
            return
        if not self.apply_start_at_login():
            return
        self.saved.emit(self.settings(), key)
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
            self.error_label.setText(f"Could not change “Start at login”: {exc.strerror or exc}.")
            self.error_label.show()
            return False
        self._autostart_was = wanted
        return True


def key_hint(key: str | None) -> str | None:
    """The stored key as the dialog may show it."""
    return redact(key) if key else None
