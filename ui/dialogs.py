"""The window's dialogs: the settings (and the API key), the rules, and the welcome.

Each dialog only shows and asks; this controller makes the engine calls off the GUI thread
(:meth:`app.engine.Engine.update_settings`, the rules through the facade, the key in the
system keyring) and hands the dialogs what changed.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QDialog

from app.errors import EnsembleError

if TYPE_CHECKING:
    from app.api import RuleInfo
    from app.engine import Engine, RuleKind
    from app.settings import Settings
    from ui.bridge import Bridge
    from ui.main_window import MainWindow
    from ui.mission_view import MissionView
    from ui.missions_list import MissionsList
    from ui.rules_dialog import RulesDialog
    from ui.settings_dialog import SettingsDialog
    from ui.welcome import WelcomeDialog


FIRST_RUN_DONE = "welcome/firstRunDone"
"""In the window's settings: the first-run assistant was finished or closed (not shown at start)."""


def api_key() -> str | None:
    """The API key in use (reads the keyring: call it off the GUI thread)."""
    from app import secrets

    return secrets.api_key()


async def _save_settings(engine: Engine, settings: Settings, key: str | None) -> str | None:
    """On the engine's loop: uses and stores new settings, and the key. Returns a note."""
    await asyncio.to_thread(engine.update_settings, settings)
    if key is None:
        return None
    return await _store_key(key)


async def _store_key(key: str) -> str | None:
    """On the engine's loop: stores the key in the keyring. Returns a note if it could not."""
    from app import secrets

    try:
        await asyncio.to_thread(secrets.set_secret, secrets.API_KEY_ENTRY, key)
    except EnsembleError as exc:
        # Without a keyring the key still works for this session, from the environment.
        os.environ["ANTHROPIC_API_KEY"] = key
        return f"{exc} The key is used until Ensemble closes."
    return None


class Dialogs(QObject):
    """Opens the settings, rules and welcome dialogs (window-modal, never blocking) and carries
    out what the person asks in them.

    Args:
        window: The main window (their parent).
        bridge: The engine.
        view: The mission shown (its settings; "this mission" for a rule).
        missions: The missions list (the shown mission's title).

    Signals:
        settings_opened(object): The settings dialog was opened.
        welcome_opened(object): The first-run assistant (welcome) was opened.
        rules_opened(object): The rules dialog was opened.
    """

    settings_opened = Signal(object)
    welcome_opened = Signal(object)
    rules_opened = Signal(object)

    def __init__(self, window: MainWindow, bridge: Bridge, view: MissionView, missions: MissionsList) -> None:
        super().__init__(window)
        self._window = window
        self._bridge = bridge
        self._view = view
        self._missions = missions
        self.settings_dialog: SettingsDialog | None = None
        self.rules_dialog: RulesDialog | None = None
        self.welcome_dialog: WelcomeDialog | None = None

    # Settings and the key ------------------------------------------------------------------------

    def check_key(self) -> None:
        """On a first run, welcomes a newcomer who has no API key with the first-run assistant."""
        if self.first_run_done():
            return
        self._bridge.call(lambda _e: asyncio.to_thread(api_key), self.on_key_checked, what="read the key")

    def on_key_checked(self, key: str | None) -> None:
        if not key and not self.first_run_done():
            self.open_welcome()

    def on_settings_clicked(self) -> None:
        self._bridge.call(
            lambda _e: asyncio.to_thread(api_key),
            lambda key: self.open_settings(first_run=False, key=key),
            what="read the key",
        )

    def open_settings(self, *, first_run: bool, key: str | None) -> SettingsDialog | None:
        """Opens the settings (window-modal, without blocking); returns the dialog."""
        if self.settings_dialog is not None and self.settings_dialog.isVisible():
            return self.settings_dialog
        from app.settings import Settings
        from ui.settings_dialog import SettingsDialog, key_hint

        dialog = SettingsDialog(
            self._view.settings or Settings(),
            key_hint=key_hint(key),
            key_from_env=bool(os.environ.get("ANTHROPIC_API_KEY")),
            first_run=first_run,
            parent=self._window,
        )
        dialog.saved.connect(self.on_settings_saved)
        dialog.welcome_requested.connect(self.on_welcome_requested)
        self.settings_dialog = dialog
        dialog.open()
        self.settings_opened.emit(dialog)
        return dialog

    def on_settings_saved(self, settings: Settings, key: str | None) -> None:
        self._view.set_settings(settings)
        if key:  # Send works at once (without a keyring, the key is used from the environment)
            self._view.set_has_key(True)
        self._bridge.call(
            lambda e: _save_settings(e, settings, key),
            self.on_settings_stored,
            what="save the settings",
        )

    def on_settings_stored(self, note: str | None) -> None:
        if note:
            self._window.show_error(note)
        else:
            self._window.statusBar().showMessage("Settings saved.", 4000)

    # The first-run assistant ---------------------------------------------------------------------

    def first_run_done(self) -> bool:
        """Whether the first-run assistant was finished or closed (in the window's settings)."""
        return str(self._window.window_settings().value(FIRST_RUN_DONE, False)).lower() == "true"

    def set_first_run_done(self, done: bool = True) -> None:
        """Remembers (in the window's settings) that the first-run assistant was seen."""
        store = self._window.window_settings()
        store.setValue(FIRST_RUN_DONE, done)
        store.sync()

    def on_welcome_requested(self) -> None:
        """ "Show the welcome again" (Settings): the assistant, knowing whether a key is stored."""
        self._bridge.call(lambda _e: asyncio.to_thread(api_key), self.open_welcome, what="read the key")

    def open_welcome(self, key: str | None = None) -> WelcomeDialog:
        """Opens the first-run assistant (window-modal, without blocking): welcome, key, one
        account, a first mission (or the demo). Once it closes, whichever way, it is not shown
        again at start.

        Args:
            key: The stored key, if any (only its redacted form is shown).
        """
        if self.welcome_dialog is not None and self.welcome_dialog.isVisible():
            return self.welcome_dialog
        from ui.settings_dialog import key_hint
        from ui.welcome import WelcomeDialog

        settings = self._view.settings
        dialog = WelcomeDialog(
            key_hint=key_hint(key),
            accounts=list(settings.accounts) if settings is not None else [],
            bridge=self._bridge,
            parent=self._window,
        )
        dialog.demo_requested.connect(self._window.start_demo)
        dialog.key_entered.connect(self.on_welcome_key)
        dialog.mission_chosen.connect(self.fill_composer)
        dialog.accounts_changed.connect(self.on_welcome_accounts)
        dialog.finished.connect(self.on_welcome_finished)
        self.welcome_dialog = dialog
        dialog.open()
        self.welcome_opened.emit(dialog)
        return dialog

    def on_welcome_key(self, key: str) -> None:
        """The assistant's key: stored the way the settings store it; Send works at once."""
        self._view.set_has_key(True)
        self._bridge.call(lambda _e: _store_key(key), self.on_key_stored, what="save the key")

    def on_key_stored(self, note: str | None) -> None:
        if note:
            self._window.show_error(note)
            if self.welcome_dialog is not None and self.welcome_dialog.isVisible():
                self.welcome_dialog.show_key_problem(note)  # the banner is behind it
        else:
            self._window.statusBar().showMessage("Key saved.", 4000)

    def on_welcome_accounts(self, accounts: list[Any]) -> None:
        """The assistant's account step changed the accounts (the engine has stored them)."""
        settings = self._view.settings
        if settings is not None:
            self._view.set_settings(settings.model_copy(update={"accounts": list(accounts)}))

    def fill_composer(self, text: str) -> None:
        """Puts a mission in a new mission's message box, ready to edit and send."""
        self._window.on_new_mission_clicked()
        box = self._view.chat_input
        box.setPlainText(text)
        box.moveCursor(QTextCursor.MoveOperation.End)
        box.setFocus()

    def on_welcome_finished(self, result: int) -> None:
        self.set_first_run_done()
        if result != QDialog.DialogCode.Accepted.value:
            self._window.statusBar().showMessage(
                "You can open the welcome again from Settings (General page).", 8000
            )

    # Rules ---------------------------------------------------------------------------------------

    def open_rules(self) -> RulesDialog:
        """Opens the rules (window-modal, without blocking); returns the dialog."""
        if self.rules_dialog is not None and self.rules_dialog.isVisible():
            return self.rules_dialog
        from ui.rules_dialog import RulesDialog

        row = self._missions.get(self._view.mission_id or "")
        dialog = RulesDialog(
            mission_id=row.id if row else None, mission_title=row.title if row else "", parent=self._window
        )
        dialog.remove_requested.connect(self.on_rule_remove_requested)
        dialog.add_requested.connect(self.on_rule_add_requested)
        self.rules_dialog = dialog
        dialog.open()
        self.reload_rules()
        self.rules_opened.emit(dialog)
        return dialog

    def reload_rules(self) -> None:
        self._bridge.read(lambda e: e.list_rules(), self.on_rules_loaded, what="list the rules")

    def on_rules_loaded(self, rules: list[RuleInfo]) -> None:
        if self.rules_dialog is not None:
            self.rules_dialog.set_rules(rules)

    def on_rule_remove_requested(self, rule_id: str) -> None:
        self._bridge.call(
            lambda e: e.remove_rule(rule_id),
            lambda _rule: self.reload_rules(),
            what="remove the rule",
            on_error=lambda _exc: self.reload_rules(),
        )

    def on_rule_add_requested(
        self, kind: str, tool: str | None, where: dict[str, str] | None, mission_id: str | None
    ) -> None:
        dialog = self.rules_dialog
        rule_kind: RuleKind = "reject_all" if kind == "reject_all" else "approve_all"

        def done(_rule: object) -> None:
            if dialog is not None:
                dialog.on_added()
            self.reload_rules()

        def failed(exc: BaseException) -> None:
            if dialog is not None:
                dialog.show_add_error(str(exc))

        # The sentence the person built in the dialog is what every list of rules shows.
        description = (dialog.new_rule_sentence or None) if dialog is not None else None
        self._bridge.call(
            lambda e: e.add_rule(
                rule_kind, mission_id=mission_id, tool=tool, where=where, description=description
            ),
            done,
            what="add the rule",
            on_error=failed,
        )
