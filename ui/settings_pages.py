"""The settings' pages beyond the key and the folders: Accounts, Browser and Model.

Each page is a plain widget the settings dialog (:mod:`ui.settings_dialog`) puts in a tab that
scrolls vertically. The Browser and Model pages only edit values, saved with the dialog's
Save. The Accounts page acts at once, through the engine (:class:`ui.bridge.Bridge`, off the
GUI thread): adding an account stores its password in the system's password store, which may
take a moment or ask the person to unlock it, and its test logs in to real servers.

Nothing here shows a setting's key, a tool id or a library's message: each problem is said in
words, with what to do.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.errors import EnsembleError
from app.settings import DEFAULT_MODEL, Settings
from ui.widgets import WrapLabel, button_row, muted, named_button, wrapping_form

if TYPE_CHECKING:
    from collections.abc import Callable

    from app.engine import Engine
    from ui.bridge import Bridge

Security = Literal["tls", "starttls", "none"]

NO_ENGINE = "This works once Ensemble has started; close the settings and open them again in a moment."


# Doing things in the engine ------------------------------------------------------------------


def engine_task(
    bridge: Bridge | None,
    work: Callable[[Engine], Any],
    done: Callable[[Any], object],
    failed: Callable[[str], object],
    *,
    what: str,
) -> None:
    """Runs ``work(engine)`` in a worker thread of the engine's loop (awaiting what it returns
    if that is awaitable); ``done`` gets the result, or ``failed`` the problem in words, on the
    GUI thread.

    An :class:`~app.errors.EnsembleError` (a problem the person can fix) goes to ``failed``
    only, not to the window's error banner; anything else is a bug, reported as such.

    Args:
        bridge: The engine's bridge; None before the window has one (``failed`` is called).
        work: Gets the engine.
        done: Gets the result.
        failed: Gets the sentence that says what went wrong.
        what: What is being done, in words ("add the account"), for a bug's report.
    """
    if bridge is None:
        failed(NO_ENGINE)
        return

    async def attempt(engine: Engine) -> tuple[bool, Any]:
        try:
            result = await asyncio.to_thread(work, engine)
            if inspect.isawaitable(result):
                result = await result
        except EnsembleError as exc:
            return False, str(exc)
        return True, result

    def back(outcome: tuple[bool, Any]) -> None:
        ok, value = outcome
        if ok:
            done(value)
        else:
            failed(str(value))

    bridge.call(attempt, back, what=what)


def _line(name: str, accessible: str, placeholder: str = "") -> QLineEdit:
    edit = QLineEdit()
    edit.setObjectName(name)
    edit.setAccessibleName(accessible)
    edit.setPlaceholderText(placeholder)
    edit.setMinimumWidth(80)
    return edit


def _form() -> QFormLayout:
    form = wrapping_form()
    form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
    form.setHorizontalSpacing(12)
    form.setVerticalSpacing(8)
    return form


def _narrow(combo: QComboBox) -> QComboBox:
    """A combo box that may be narrower than its longest item (it shows it when opened)."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(12)
    combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return combo


# Accounts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    """A mail provider's servers, filled in when the person chooses it.

    Attributes:
        name: The provider as the person knows it.
        imap_host, imap_port, smtp_host, smtp_port: Its servers.
        security: How the incoming (IMAP) server is reached.
        smtp_security: How the outgoing (SMTP) server is reached.
        note: What the person should know (an app password…).
        local: A mail folder or file on this computer rather than a provider.
    """

    name: str
    imap_host: str = ""
    imap_port: int = 993
    smtp_host: str = ""
    smtp_port: int = 465
    security: Security = "tls"
    smtp_security: Security = "tls"
    note: str = ""
    local: bool = False


OTHER = "Other (type the servers)"
LOCAL = "A folder on this computer (Maildir or mbox)"

PRESETS: tuple[Preset, ...] = (
    Preset(
        "Gmail",
        "imap.gmail.com",
        993,
        "smtp.gmail.com",
        465,
        note=(
            "Gmail needs an app password, not your usual one: turn on 2-Step Verification in "
            "your Google account, then create an app password (Security, “App passwords”) and "
            "type it below."
        ),
    ),
    Preset(
        "Outlook or Microsoft 365",
        "outlook.office365.com",
        993,
        "smtp.office365.com",
        587,
        smtp_security="starttls",
        note=(
            "With two-step sign-in, create an app password in your Microsoft account's security "
            "settings and type it below. Some organisations turn this kind of access off: ask "
            "your administrator if the test fails."
        ),
    ),
    Preset(
        "Yahoo Mail",
        "imap.mail.yahoo.com",
        993,
        "smtp.mail.yahoo.com",
        465,
        note=(
            "Yahoo needs an app password: create one in your Yahoo account's security settings "
            "(“Generate app password”) and type it below."
        ),
    ),
    Preset(
        "iCloud Mail",
        "imap.mail.me.com",
        993,
        "smtp.mail.me.com",
        587,
        smtp_security="starttls",
        note=(
            "iCloud needs an app-specific password: create one at appleid.apple.com (Sign-In "
            "and Security, “App-Specific Passwords”) and type it below."
        ),
    ),
    Preset(
        "Fastmail",
        "imap.fastmail.com",
        993,
        "smtp.fastmail.com",
        465,
        note=(
            "Fastmail needs an app password: create one in Fastmail's settings (Privacy & "
            "Security, “App passwords”) and type it below."
        ),
    ),
    Preset(
        OTHER,
        note=(
            "Type your provider's incoming (IMAP) and outgoing (SMTP) servers: its help pages "
            "list them, often under “IMAP settings”."
        ),
    ),
    Preset(
        LOCAL,
        local=True,
        note=(
            "Mail kept in files on this computer (by Thunderbird, mutt, a backup…): a Maildir "
            "folder (with cur, new and tmp inside) or an mbox file. Nothing is sent from it: a "
            "sent message is kept in its Sent folder."
        ),
    ),
)

SECURITY_WORDS: tuple[tuple[Security, str], ...] = (
    ("tls", "Encrypted from the start (SSL/TLS)"),
    ("starttls", "Encrypted after connecting (STARTTLS)"),
    ("none", "Not encrypted (a server on this computer only)"),
)


def account_name(text: str, address: str = "") -> str:
    """The short name the person typed as an account's name may be (spaces become dashes,
    other signs are dropped); from the address's provider when nothing was typed."""
    name = re.sub(r"\s+", "-", text.strip())
    name = re.sub(r"[^A-Za-z0-9._-]", "", name)
    if not name and "@" in address:
        name = re.sub(r"[^A-Za-z0-9._-]", "", address.rpartition("@")[2].split(".")[0])
    return name


def account_line(account: Any) -> str:
    """One account as the list shows it: its name, where it is, what it is for, and whether it
    is the default for that."""
    kind = str(getattr(account, "kind", ""))
    if kind == "caldav":
        where = str(getattr(account, "url", ""))
        what = "calendar"
    elif kind in ("maildir", "mbox"):
        where = f"{getattr(account, 'address', '')}, mail in {getattr(account, 'path', '')}"
        what = "email on this computer"
    else:
        where = str(getattr(account, "address", ""))
        what = "email"
    default = f", used by default for {'the calendar' if kind == 'caldav' else 'email'}"
    return f"{account.name} — {where} ({what}{default if account.default else ''})"


class AccountsPage(QWidget):
    """Email and calendar accounts: the list (test, use by default, remove) and the forms that
    add one. Every change is made at once, through the engine.

    Args:
        accounts: The accounts in the settings now.
        bridge: The engine; None disables what needs it.

    Signals:
        accounts_changed(list): The accounts as they are now, after an add, removal or new default.
    """

    accounts_changed = Signal(list)

    def __init__(self, accounts: list[Any], bridge: Bridge | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("accountsPage")
        self.setAccessibleName("Accounts")
        self._bridge = bridge
        self.accounts: list[Any] = list(accounts)
        self.confirm_box: QMessageBox | None = None
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        layout.addWidget(
            muted(
                "The email and calendar accounts the agents may use. Passwords are kept in your "
                "system's password store, never in a file. Changes on this page are made at once."
            )
        )

        # The list
        self.account_list = QListWidget()
        self.account_list.setObjectName("accountList")
        self.account_list.setAccessibleName("Your accounts")
        self.account_list.setWordWrap(True)
        self.account_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.account_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.account_list.setMinimumHeight(70)
        self.account_list.setMaximumHeight(140)
        self.account_list.currentRowChanged.connect(self._on_selection_changed)
        layout.addWidget(self.account_list)
        self.empty_note = muted("No accounts yet: add one below.", "noAccountsNote")
        layout.addWidget(self.empty_note)
        self.test_button = named_button("Test", "testAccountButton", "Test the selected account")
        self.test_button.clicked.connect(self.on_test_clicked)
        self.default_button = named_button(
            "Use by default", "defaultAccountButton", "Use the selected account by default"
        )
        self.default_button.clicked.connect(self.on_default_clicked)
        self.remove_button = named_button("Remove…", "removeAccountButton", "Remove the selected account")
        self.remove_button.clicked.connect(self.on_remove_clicked)
        self.list_buttons = button_row(
            self.test_button, self.default_button, self.remove_button, name="accountButtons"
        )
        layout.addWidget(self.list_buttons)

        self.busy = QProgressBar()
        self.busy.setObjectName("accountBusy")
        self.busy.setAccessibleName("Working on the account")
        self.busy.setRange(0, 0)
        self.busy.setTextVisible(False)
        self.busy.setMaximumHeight(6)
        self.busy.hide()
        layout.addWidget(self.busy)
        self.status = WrapLabel()
        self.status.setObjectName("accountStatus")
        self.status.setAccessibleName("What happened with the account")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.hide()
        layout.addWidget(self.status)

        layout.addWidget(self._email_form())
        layout.addWidget(self._calendar_form())
        layout.addStretch(1)

        if bridge is None:
            for button in (self.add_email_button, self.add_calendar_button, self.test_button):
                button.setEnabled(False)
            self.default_button.setEnabled(False)
            self.remove_button.setEnabled(False)
            self.show_status(NO_ENGINE, problem=True)
        self.show_accounts(self.accounts)
        self.on_provider_changed(self.provider_input.currentIndex())

    # The forms ---------------------------------------------------------------------------------

    def _email_form(self) -> QGroupBox:
        box = QGroupBox("Add an email account")
        box.setObjectName("emailAccountForm")
        box.setAccessibleName("Add an email account")
        outer = QVBoxLayout(box)
        form = _form()
        self.provider_input = _narrow(QComboBox())
        self.provider_input.setObjectName("providerInput")
        self.provider_input.setAccessibleName("Email provider")
        for preset in PRESETS:
            self.provider_input.addItem(preset.name)
        self.provider_input.currentIndexChanged.connect(self.on_provider_changed)
        form.addRow("Provider:", self.provider_input)
        self.preset_note = muted(PRESETS[0].note, "providerNote")
        form.addRow(self.preset_note)

        self.email_name_input = _line("emailAccountNameInput", "Account name", "work")
        form.addRow("Name:", self.email_name_input)
        self.address_input = _line("emailAddressInput", "Email address", "ada@example.com")
        form.addRow("Email address:", self.address_input)

        self.user_label = QLabel("Login name:")
        self.user_input = _line("emailUserInput", "Login name", "The same as the address")
        form.addRow(self.user_label, self.user_input)
        self.password_label = QLabel("Password:")
        self.password_input = _line("emailPasswordInput", "Email password")
        self.password_input.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow(self.password_label, self.password_input)

        self.servers = QWidget()
        self.servers.setObjectName("emailServers")
        servers = _form()
        servers.setContentsMargins(0, 0, 0, 0)
        self.imap_host_input = _line("imapHostInput", "Incoming mail server (IMAP)", "imap.example.com")
        self.imap_port_input = self._port("imapPortInput", "Incoming mail server's port")
        servers.addRow("Incoming (IMAP):", self._host_row(self.imap_host_input, self.imap_port_input))
        self.imap_security_input = self._security("imapSecurityInput", "Incoming server's encryption")
        servers.addRow("Its encryption:", self.imap_security_input)
        self.smtp_host_input = _line("smtpHostInput", "Outgoing mail server (SMTP)", "smtp.example.com")
        self.smtp_port_input = self._port("smtpPortInput", "Outgoing mail server's port")
        servers.addRow("Outgoing (SMTP):", self._host_row(self.smtp_host_input, self.smtp_port_input))
        self.smtp_security_input = self._security("smtpSecurityInput", "Outgoing server's encryption")
        servers.addRow("Its encryption:", self.smtp_security_input)
        self.servers.setLayout(servers)
        form.addRow(self.servers)

        self.local = QWidget()
        self.local.setObjectName("localMail")
        local = _form()
        local.setContentsMargins(0, 0, 0, 0)
        self.local_format_input = _narrow(QComboBox())
        self.local_format_input.setObjectName("localFormatInput")
        self.local_format_input.setAccessibleName("How the mail is kept")
        self.local_format_input.addItem("A Maildir folder", "maildir")
        self.local_format_input.addItem("An mbox file", "mbox")
        local.addRow("Kept as:", self.local_format_input)
        self.local_path_input = _line("localPathInput", "Mail folder or file", "/home/you/Mail")
        browse = named_button("Browse…", "browseMailButton", "Choose the mail folder or file")
        browse.clicked.connect(self.on_browse_mail_clicked)
        path_row = QWidget()
        path_layout = QHBoxLayout(path_row)
        path_layout.setContentsMargins(0, 0, 0, 0)
        path_layout.addWidget(self.local_path_input, 1)
        path_layout.addWidget(browse)
        browse.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
        local.addRow("Where:", path_row)
        self.local.setLayout(local)
        form.addRow(self.local)
        outer.addLayout(form)

        self.add_email_button = named_button(
            "Add and test", "addEmailAccountButton", "Add and test the email account"
        )
        self.add_email_button.setProperty("role", "accent")
        self.add_email_button.clicked.connect(self.on_add_email_clicked)
        outer.addWidget(button_row(self.add_email_button))
        return box

    def _calendar_form(self) -> QGroupBox:
        box = QGroupBox("Add a calendar (CalDAV)")
        box.setObjectName("calendarAccountForm")
        box.setAccessibleName("Add a calendar account")
        outer = QVBoxLayout(box)
        outer.addWidget(
            muted(
                "Nextcloud, Fastmail, iCloud, Radicale and most calendar servers speak CalDAV: "
                "their help pages give the address to use."
            )
        )
        form = _form()
        self.calendar_name_input = _line("calendarNameInput", "Calendar account name", "home")
        form.addRow("Name:", self.calendar_name_input)
        self.calendar_url_input = _line(
            "calendarUrlInput", "Calendar server's address", "https://cloud.example.com/remote.php/dav"
        )
        form.addRow("Server address:", self.calendar_url_input)
        self.calendar_user_input = _line("calendarUserInput", "Calendar login name", "ada")
        form.addRow("Login name:", self.calendar_user_input)
        self.calendar_password_input = _line("calendarPasswordInput", "Calendar password")
        self.calendar_password_input.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("Password:", self.calendar_password_input)
        outer.addLayout(form)
        self.add_calendar_button = named_button(
            "Add and test", "addCalendarAccountButton", "Add and test the calendar account"
        )
        self.add_calendar_button.setProperty("role", "accent")
        self.add_calendar_button.clicked.connect(self.on_add_calendar_clicked)
        outer.addWidget(button_row(self.add_calendar_button))
        return box

    @staticmethod
    def _port(name: str, accessible: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setObjectName(name)
        spin.setAccessibleName(accessible)
        spin.setRange(1, 65535)
        spin.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
        return spin

    @staticmethod
    def _security(name: str, accessible: str) -> QComboBox:
        combo = _narrow(QComboBox())
        combo.setObjectName(name)
        combo.setAccessibleName(accessible)
        for value, words in SECURITY_WORDS:
            combo.addItem(words, value)
        return combo

    @staticmethod
    def _host_row(host: QLineEdit, port: QSpinBox) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(host, 1)
        colon = QLabel("port")
        colon.setAccessibleName("port")
        layout.addWidget(colon)
        layout.addWidget(port)
        return row

    def preset(self) -> Preset:
        """The provider chosen."""
        return PRESETS[max(0, self.provider_input.currentIndex())]

    def choose_provider(self, name: str) -> None:
        """Chooses a provider by its name (as listed), filling its servers in."""
        index = self.provider_input.findText(name)
        if index < 0:
            raise ValueError(name)
        self.provider_input.setCurrentIndex(index)

    def on_provider_changed(self, index: int) -> None:
        preset = PRESETS[max(0, index)]
        self.preset_note.setText(preset.note)
        self.preset_note.setAccessibleName(preset.note[:120])
        self.servers.setVisible(not preset.local)
        self.local.setVisible(preset.local)
        for widget in (self.user_label, self.user_input, self.password_label, self.password_input):
            widget.setVisible(not preset.local)
        if preset.local:
            return
        self.imap_host_input.setText(preset.imap_host)
        self.imap_port_input.setValue(preset.imap_port)
        self.smtp_host_input.setText(preset.smtp_host)
        self.smtp_port_input.setValue(preset.smtp_port)
        self.imap_security_input.setCurrentIndex(self.imap_security_input.findData(preset.security))
        self.smtp_security_input.setCurrentIndex(self.smtp_security_input.findData(preset.smtp_security))

    def on_browse_mail_clicked(self) -> None:
        if self.local_format_input.currentData() == "maildir":
            path = QFileDialog.getExistingDirectory(self, "The Maildir folder")
        else:
            path, _ = QFileDialog.getOpenFileName(self, "The mbox file")
        if path:
            self.local_path_input.setText(path)

    # The list ----------------------------------------------------------------------------------

    def show_accounts(self, accounts: list[Any]) -> None:
        """Shows these accounts (keeping the selection by name where it can)."""
        chosen = self.selected()
        self.accounts = list(accounts)
        self.account_list.clear()
        for account in self.accounts:
            item = QListWidgetItem(account_line(account))
            item.setData(Qt.ItemDataRole.UserRole, account.name)
            self.account_list.addItem(item)
            if account.name == chosen:
                self.account_list.setCurrentItem(item)
        if self.account_list.currentRow() < 0 and self.accounts:
            self.account_list.setCurrentRow(0)
        self.empty_note.setVisible(not self.accounts)
        self.account_list.setVisible(bool(self.accounts))
        self.list_buttons.setVisible(bool(self.accounts))
        self._on_selection_changed()

    def selected(self) -> str | None:
        """The name of the selected account, if any."""
        item = self.account_list.currentItem()
        return str(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None

    def select(self, name: str) -> None:
        """Selects the account of that name."""
        for row in range(self.account_list.count()):
            if self.account_list.item(row).data(Qt.ItemDataRole.UserRole) == name:
                self.account_list.setCurrentRow(row)

    def _on_selection_changed(self, _row: int = -1) -> None:
        name = self.selected()
        chosen = next((a for a in self.accounts if a.name == name), None)
        usable = chosen is not None and self._bridge is not None
        self.test_button.setEnabled(usable)
        self.remove_button.setEnabled(usable)
        self.default_button.setEnabled(usable and chosen is not None and not chosen.default)

    def reload(self) -> None:
        """Reads the accounts from the engine again (the settings on disk are the truth)."""
        engine_task(
            self._bridge,
            lambda e: list(e.settings.accounts),
            self._on_reloaded,
            lambda text: self.show_status(text, problem=True),
            what="read the accounts",
        )

    def _on_reloaded(self, accounts: list[Any]) -> None:
        self.show_accounts(accounts)
        self.accounts_changed.emit(list(accounts))

    def show_status(self, text: str, *, problem: bool = False, busy: bool = False) -> None:
        """Says what happened (or is happening) with an account."""
        self.status.setText(text)
        self.status.setProperty("problem", problem)
        self.status.setStyleSheet("color: #c92a2a;" if problem else "")
        self.status.setAccessibleName(text[:120] or "What happened with the account")
        self.status.setVisible(bool(text))
        self.busy.setVisible(busy)
        for button in (self.add_email_button, self.add_calendar_button):
            button.setEnabled(not busy and self._bridge is not None)

    # Adding ------------------------------------------------------------------------------------

    def email_fields(self) -> tuple[dict[str, Any], str | None]:
        """The email account the form describes, and its password.

        Raises:
            ValueError: Something is missing; the message says what, in words.
        """
        preset = self.preset()
        address = self.address_input.text().strip()
        if "@" not in address:
            raise ValueError("Type the email address, such as ada@example.com.")
        name = account_name(self.email_name_input.text(), address)
        if not name:
            raise ValueError("Give the account a short name, such as work.")
        fields: dict[str, Any] = {"name": name, "address": address, "default": False}
        if preset.local:
            path = self.local_path_input.text().strip()
            if not path:
                raise ValueError("Choose the mail folder or file on this computer (Browse…).")
            return fields | {"kind": self.local_format_input.currentData(), "path": path}, None
        password = self.password_input.text()
        if not password:
            raise ValueError("Type the account's password" + (" (the app password)." if preset.note else "."))
        imap, smtp = self.imap_host_input.text().strip(), self.smtp_host_input.text().strip()
        if not imap or not smtp:
            raise ValueError("Type both servers: the incoming (IMAP) and the outgoing (SMTP) one.")
        security = str(self.imap_security_input.currentData())
        smtp_security = str(self.smtp_security_input.currentData())
        return fields | {
            "kind": "imap",
            "user": self.user_input.text().strip() or address,
            "imap_host": imap,
            "imap_port": self.imap_port_input.value(),
            "smtp_host": smtp,
            "smtp_port": self.smtp_port_input.value(),
            "security": security,
            "smtp_security": smtp_security if smtp_security != security else None,
        }, password

    def calendar_fields(self) -> tuple[dict[str, Any], str | None]:
        """The calendar account the form describes, and its password.

        Raises:
            ValueError: Something is missing; the message says what, in words.
        """
        url = self.calendar_url_input.text().strip()
        if not url:
            raise ValueError("Type the calendar server's address, which starts with https://.")
        if "://" not in url:
            url = "https://" + url
        name = account_name(self.calendar_name_input.text()) or "calendar"
        user = self.calendar_user_input.text().strip()
        password = self.calendar_password_input.text()
        if user and not password:
            raise ValueError("Type the calendar's password (or leave the login name empty if it needs none).")
        fields = {"name": name, "kind": "caldav", "url": url, "user": user, "default": False}
        return fields, password or None

    def on_add_email_clicked(self) -> None:
        try:
            fields, password = self.email_fields()
        except ValueError as exc:
            self.show_status(str(exc), problem=True)
            return
        # Everything that belongs to the account just added is cleared (the servers stay, for a
        # second account at the same provider), so the form does not look half filled in.
        self.add(
            fields,
            password,
            clear=(
                self.password_input,
                self.email_name_input,
                self.address_input,
                self.user_input,
                self.local_path_input,
            ),
        )

    def on_add_calendar_clicked(self) -> None:
        try:
            fields, password = self.calendar_fields()
        except ValueError as exc:
            self.show_status(str(exc), problem=True)
            return
        self.add(
            fields,
            password,
            clear=(self.calendar_password_input, self.calendar_name_input, self.calendar_user_input),
        )

    def add(self, fields: dict[str, Any], password: str | None, *, clear: tuple[QLineEdit, ...] = ()) -> None:
        """Adds an account through the engine, then tests it, saying how each step went."""
        name = str(fields["name"])
        self.show_status(f"Adding the account '{name}'…", busy=True)

        def added(sentence: str) -> None:
            for edit in clear:
                edit.clear()
            self.reload()
            self.test(name, before=sentence)

        engine_task(
            self._bridge,
            lambda e: e.add_account(fields, password),
            added,
            lambda text: self.show_status(text, problem=True),
            what="add the account",
        )

    # Testing, defaults, removing -----------------------------------------------------------------

    def on_test_clicked(self) -> None:
        name = self.selected()
        if name:
            self.test(name)

    def test(self, name: str, *, before: str = "") -> None:
        """Logs in to an account's servers (through the engine), saying how it went."""
        lead = f"{before} " if before else ""
        self.show_status(f"{lead}Testing the connection of '{name}'…", busy=True)
        engine_task(
            self._bridge,
            lambda e: e.test_account(name),
            lambda lines: self.show_status(f"{lead}The test worked. " + " ".join(lines)),
            lambda text: self.show_status(
                f"{lead}The test did not work: {text} You can remove the account and add it again "
                "with other details.",
                problem=True,
            ),
            what="test the account",
        )

    def on_default_clicked(self) -> None:
        name = self.selected()
        if not name:
            return

        def done(_none: None) -> None:
            self.reload()
            self.show_status(f"'{name}' is now used by default.")

        engine_task(
            self._bridge,
            lambda e: e.set_default_account(name),
            done,
            lambda text: self.show_status(text, problem=True),
            what="choose the default account",
        )

    def on_remove_clicked(self) -> None:
        name = self.selected()
        if not name:
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Remove the account",
            f"Remove the account '{name}' and its stored password? Missions can no longer use it; "
            "your mail and calendars themselves are not touched.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setObjectName("removeAccountConfirm")
        box.setAccessibleName("Remove the account?")
        yes = box.button(QMessageBox.StandardButton.Yes)
        yes.setText("Remove")
        yes.setObjectName("confirmRemoveAccountButton")
        yes.setAccessibleName(f"Remove the account {name}")
        box.button(QMessageBox.StandardButton.Cancel).setAccessibleName("Keep the account")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.accepted.connect(lambda: self.remove(name))
        self.confirm_box = box
        box.open()

    def remove(self, name: str) -> None:
        """Removes an account (and its password) through the engine."""
        self.show_status(f"Removing '{name}'…", busy=True)

        def done(_none: None) -> None:
            self.reload()
            self.show_status(f"Removed the account '{name}' and its password.")

        engine_task(
            self._bridge,
            lambda e: e.remove_account(name),
            done,
            lambda text: self.show_status(text, problem=True),
            what="remove the account",
        )


# Browser -------------------------------------------------------------------------------------

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def parse_site(text: str) -> tuple[str, str]:
    """A site the browser may open, from what the person typed: its host name (and port, if
    one was given), and a note when the text was changed (a web address cut to its site).

    Args:
        text: ``portal.example.com``, ``https://portal.example.com/login``, ``localhost:8000``…

    Returns:
        The site (``portal.example.com``) and a note ("" when taken as typed).

    Raises:
        ValueError: It is not a site; the message says what to type, in words.
    """
    raw = text.strip()
    if not raw:
        raise ValueError("Type a site's name, such as portal.example.com.")
    if any(c.isspace() for c in raw):
        raise ValueError(f"“{raw}” has spaces in it: type one site's name, such as portal.example.com.")
    if "@" in raw and "://" not in raw:
        raise ValueError(f"“{raw}” is an email address: type a site's name, such as example.com.")
    note = ""
    candidate = raw if "://" in raw else "http://" + raw
    try:
        parts = urlsplit(candidate)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"“{raw}” is not a site's name: type one such as portal.example.com.") from exc
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"“{raw}” is not a web site: type a name such as portal.example.com.")
    if host.startswith("*."):
        host = host[2:]
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise ValueError(f"“{raw}” is not a site's name: type one such as portal.example.com.") from exc
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.split(".")
        if not all(_LABEL.match(label) for label in labels) or (len(labels) < 2 and host != "localhost"):
            raise ValueError(
                f"“{raw}” is not a site's name: type one such as example.com or portal.example.com."
            ) from None
    site = f"{host}:{port}" if port is not None else host
    if site != raw.lower().rstrip("."):
        note = (
            f"Kept the site's name, {site}: a site is allowed as a whole (with its pages and its "
            "subdomains), not page by page."
        )
    return site, note


class BrowserPage(QWidget):
    """The browser agent's settings: the sites it may open, the browser program, whether it
    keeps a profile (and the logins in it) between missions, whether its window shows.

    Args:
        section: The settings' browser section as stored (``settings.sections["browser"]``).
        bridge: The engine, for "Find it"; None disables it.
        profile_folder: Where a kept profile lives when the person turns it on.
    """

    def __init__(
        self,
        section: dict[str, Any],
        bridge: Bridge | None,
        *,
        profile_folder: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("browserPage")
        self.setAccessibleName("Browser")
        self._bridge = bridge
        self._section = dict(section)
        self._profile_folder = str(section.get("profile_dir") or profile_folder)
        layout = QVBoxLayout(self)
        layout.setSpacing(12)

        sites = QGroupBox("Sites the browser may open")
        sites.setObjectName("allowedSitesBox")
        sites.setAccessibleName("Sites the browser may open")
        sites_layout = QVBoxLayout(sites)
        sites_layout.addWidget(
            muted(
                "A site also allows its subdomains (example.com allows portal.example.com). A "
                "mission may add its own. Any other site opens only after you approve it; with "
                "no site listed, each new site asks you first."
            )
        )
        self.site_list = QListWidget()
        self.site_list.setObjectName("allowedSitesList")
        self.site_list.setAccessibleName("Sites the browser may open")
        self.site_list.setMinimumHeight(70)
        self.site_list.setMaximumHeight(120)
        self.site_list.addItems([str(s) for s in section.get("allowed_domains") or []])
        sites_layout.addWidget(self.site_list)
        self.site_input = _line("siteInput", "A site to allow", "portal.example.com")
        self.site_input.returnPressed.connect(self.on_add_site_clicked)
        sites_layout.addWidget(self.site_input)
        add = named_button("Add site", "addSiteButton", "Add the site")
        add.clicked.connect(self.on_add_site_clicked)
        remove = named_button("Remove", "removeSiteButton", "Remove the selected site")
        remove.clicked.connect(self.on_remove_site_clicked)
        sites_layout.addWidget(button_row(add, remove))
        self.site_note = muted("", "siteNote")
        self.site_note.hide()
        sites_layout.addWidget(self.site_note)
        layout.addWidget(sites)

        program = QGroupBox("The browser program")
        program.setObjectName("browserProgramBox")
        program.setAccessibleName("The browser program")
        program_layout = QVBoxLayout(program)
        program_layout.addWidget(
            muted(
                "Chrome or Chromium. Leave it empty and Ensemble uses its own copy if it has one, "
                "else the one installed on this computer."
            )
        )
        self.path_input = _line("browserPathInput", "Browser program", "/usr/bin/chromium")
        self.path_input.setText(str(section.get("executable_path") or ""))
        program_layout.addWidget(self.path_input)
        browse = named_button("Browse…", "browseBrowserButton", "Choose the browser program")
        browse.clicked.connect(self.on_browse_clicked)
        self.find_button = named_button("Find it", "findBrowserButton", "Find a browser on this computer")
        self.find_button.clicked.connect(self.on_find_clicked)
        self.find_button.setEnabled(bridge is not None)
        program_layout.addWidget(button_row(browse, self.find_button))
        self.path_note = muted("", "browserPathNote")
        self.path_note.hide()
        program_layout.addWidget(self.path_note)
        layout.addWidget(program)

        self.profile_input = QCheckBox("Keep the browser's profile between missions")
        self.profile_input.setObjectName("persistentProfileInput")
        self.profile_input.setAccessibleName("Keep the browser's profile between missions")
        self.profile_input.setChecked(bool(section.get("profile_dir")))
        layout.addWidget(self.profile_input)
        layout.addWidget(
            muted(
                "Sites you log in to stay logged in, for the next missions (one mission at a time "
                f"uses it). It is kept in {self._profile_folder}. Off: each mission starts with "
                "a fresh browser that forgets everything when it ends."
            )
        )
        self.show_input = QCheckBox("Show the browser's window while it works")
        self.show_input.setObjectName("showBrowserInput")
        self.show_input.setAccessibleName("Show the browser's window while it works")
        self.show_input.setChecked(not bool(section.get("headless", True)))
        layout.addWidget(self.show_input)
        layout.addStretch(1)

    def sites(self) -> list[str]:
        """The sites listed, in order."""
        return [self.site_list.item(i).text() for i in range(self.site_list.count())]

    def add_site(self, text: str) -> bool:
        """Adds a site from what the person typed, saying what was kept or what is wrong.

        Returns:
            Whether the text was a site (added now, or listed already).
        """
        try:
            site, note = parse_site(text)
        except ValueError as exc:
            self._note(str(exc), problem=True)
            return False
        if site in self.sites():
            self._note(f"{site} is listed already.")
        else:
            self.site_list.addItem(site)
            self._note(note)
        self.site_input.clear()
        return True

    def _note(self, text: str, *, problem: bool = False) -> None:
        self.site_note.setText(text)
        self.site_note.setAccessibleName(text[:120] or "About the site")
        self.site_note.setStyleSheet("color: #c92a2a;" if problem else "")
        self.site_note.setVisible(bool(text))

    def on_add_site_clicked(self) -> None:
        self.add_site(self.site_input.text())

    def on_remove_site_clicked(self) -> None:
        for item in self.site_list.selectedItems():
            self.site_list.takeItem(self.site_list.row(item))

    def on_browse_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "The browser program (Chrome or Chromium)")
        if path:
            self.path_input.setText(path)

    def on_find_clicked(self) -> None:
        self._path_note("Looking for Chrome or Chromium on this computer…")
        self.find_button.setEnabled(False)

        def failed(text: str) -> None:
            self._path_note(text, problem=True)
            self.find_button.setEnabled(True)

        engine_task(
            self._bridge,
            lambda e: e.find_browser(),
            self.on_found,
            failed,
            what="look for a browser",
        )

    def on_found(self, path: str | None) -> None:
        """Fills the browser program in with what "Find it" found, or says nothing was."""
        self.find_button.setEnabled(self._bridge is not None)
        if path:
            self.path_input.setText(path)
            self._path_note(f"Found {path}.")
        else:
            self._path_note(
                "No Chrome or Chromium was found on this computer. Install Chromium (on Debian "
                "or Ubuntu: the “chromium” package), then press Find it again.",
                problem=True,
            )

    def _path_note(self, text: str, *, problem: bool = False) -> None:
        self.path_note.setText(text)
        self.path_note.setAccessibleName(text[:120] or "About the browser program")
        self.path_note.setStyleSheet("color: #c92a2a;" if problem else "")
        self.path_note.setVisible(bool(text))

    def section(self) -> dict[str, Any]:
        """The browser section as edited (what the page does not show is kept as it was).

        Raises:
            ValueError: A site typed and not added is not a site, or the browser program
                does not exist; in words.
        """
        pending = self.site_input.text().strip()
        if pending and not self.add_site(pending):
            raise ValueError(self.site_note.text())
        path = self.path_input.text().strip()
        if path:
            from pathlib import Path

            if not Path(path).expanduser().is_file():
                raise ValueError(
                    f"The browser program {path} does not exist. Choose it with Browse…, press "
                    "Find it, or leave it empty."
                )
        return {
            **self._section,
            "allowed_domains": self.sites(),
            "executable_path": path or None,
            "profile_dir": self._profile_folder if self.profile_input.isChecked() else None,
            "headless": not self.show_input.isChecked(),
        }


# Model ---------------------------------------------------------------------------------------

MODELS: tuple[tuple[str, str], ...] = (
    (DEFAULT_MODEL, "Ensemble's default"),
    ("claude-sonnet-4-5", "Balanced: capable and quick"),
    ("claude-opus-4-1", "The most capable, slower and dearer"),
    ("claude-haiku-4-5", "The fastest and cheapest"),
)


class ModelPage(QWidget):
    """The model the agents think with, the tokens a mission may spend, and how many tasks run
    at once.

    Args:
        settings: The settings in use.
    """

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelPage")
        self.setAccessibleName("Model")
        self._budget = settings.token_budget
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        form = _form()

        self.model_input = _narrow(QComboBox())
        self.model_input.setObjectName("modelInput")
        self.model_input.setAccessibleName("Model")
        self.model_input.setEditable(True)
        notes = dict(MODELS)
        for name in dict.fromkeys([settings.model, *notes]):
            self.model_input.addItem(name)
        self.model_input.setCurrentText(settings.model)
        form.addRow("Model:", self.model_input)
        self.model_note = muted("", "modelNote")
        self.model_input.currentTextChanged.connect(self._on_model_changed)
        form.addRow(self.model_note)
        self._on_model_changed(settings.model)

        self.budget_input = QSpinBox()
        self.budget_input.setObjectName("tokenBudgetInput")
        self.budget_input.setAccessibleName("Token budget per mission, in thousands of tokens")
        self.budget_input.setRange(1, 2_000_000)
        self.budget_input.setSingleStep(100)
        self.budget_input.setGroupSeparatorShown(True)
        self.budget_input.setValue(min(max(1, round(settings.token_budget / 1000)), 2_000_000))
        self.budget_input.setSuffix(" thousand tokens")
        form.addRow("Budget per mission:", self.budget_input)
        form.addRow(
            muted(
                "What one mission may spend in all, across every agent; it stops and tells you "
                "when it reaches it. A mission that reads a few files and writes a few emails "
                "uses some hundred thousand."
            )
        )

        self.concurrency_input = QSpinBox()
        self.concurrency_input.setObjectName("concurrencyInput")
        self.concurrency_input.setAccessibleName("Tasks that run at once")
        self.concurrency_input.setRange(1, 32)
        self.concurrency_input.setValue(settings.max_concurrency)
        self.concurrency_input.setSuffix(" at once")
        self.concurrency_input.setToolTip(Settings.model_fields["max_concurrency"].description or "")
        form.addRow("Parallel tasks:", self.concurrency_input)
        form.addRow(
            muted(
                "The most tasks of one mission that work at the same time. Ensemble runs fewer "
                "by itself while the service says it is busy."
            )
        )
        layout.addLayout(form)
        layout.addStretch(1)

    def _on_model_changed(self, name: str) -> None:
        note = dict(MODELS).get(name.strip(), "A model you typed: its name as Anthropic gives it.")
        self.model_note.setText(note)
        self.model_note.setAccessibleName(note)

    def model(self) -> str:
        """The model chosen (the default when the box is empty)."""
        return self.model_input.currentText().strip() or DEFAULT_MODEL

    def token_budget(self) -> int:
        """The token budget, in tokens (unchanged when the person left the box as it was)."""
        thousands = self.budget_input.value()
        if thousands == min(max(1, round(self._budget / 1000)), 2_000_000):
            return self._budget
        return thousands * 1000


# Where missions run (the Temporal backend) -----------------------------------------------------


class TeamPage(QWidget):
    """Where missions run: on this computer (the default) or on the team's Temporal cluster,
    whose workers hold the accounts and the API key (see docs/temporal.md).

    Args:
        settings: The settings in use.
    """

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("teamPage")
        self.setAccessibleName("Where missions run")
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        layout.addWidget(
            WrapLabel(
                "Missions run on this computer unless your team runs Ensemble on a Temporal "
                "cluster. There, missions go on while this computer sleeps, and anyone on the team "
                "can approve their actions."
            )
        )
        form = _form()
        self.backend_input = _narrow(QComboBox())
        self.backend_input.setObjectName("backendInput")
        self.backend_input.setAccessibleName("Where missions run")
        self.backend_input.addItem("On this computer", "embedded")
        self.backend_input.addItem("On my team's Temporal cluster", "temporal")
        self.backend_input.setCurrentIndex(1 if settings.backend == "temporal" else 0)
        form.addRow("Missions run:", self.backend_input)

        cluster = settings.temporal
        self.address_input = QLineEdit(cluster.address)
        self.address_input.setObjectName("temporalAddressInput")
        self.address_input.setAccessibleName("The cluster's address, host and port")
        self.address_input.setPlaceholderText("temporal.example.com:7233")
        form.addRow("Cluster address:", self.address_input)
        self.namespace_input = QLineEdit(cluster.namespace)
        self.namespace_input.setObjectName("temporalNamespaceInput")
        self.namespace_input.setAccessibleName("Namespace")
        form.addRow("Namespace:", self.namespace_input)
        self.queue_input = QLineEdit(cluster.task_queue)
        self.queue_input.setObjectName("temporalQueueInput")
        self.queue_input.setAccessibleName("Task queue of the team's workers")
        form.addRow("Task queue:", self.queue_input)
        self.tls_input = QCheckBox("Connect securely (TLS)")
        self.tls_input.setObjectName("temporalTlsInput")
        self.tls_input.setAccessibleName("Connect to the cluster with TLS")
        self.tls_input.setChecked(cluster.tls)
        form.addRow("", self.tls_input)
        layout.addLayout(form)
        self.cluster_note = muted(
            "Ask whoever runs the cluster for these. The team's workers (ensemble worker) hold the "
            "accounts' passwords and the API key; nothing secret is sent from here. An API key for "
            "the cluster itself is read from ENSEMBLE_TEMPORAL_API_KEY. New missions use the "
            "change; running ones stay where they are.",
            "clusterNote",
        )
        layout.addWidget(self.cluster_note)
        layout.addStretch(1)
        self.backend_input.currentIndexChanged.connect(self._on_backend_changed)
        self._on_backend_changed()

    def _on_backend_changed(self) -> None:
        on_cluster = self.backend_input.currentData() == "temporal"
        for widget in (self.address_input, self.namespace_input, self.queue_input, self.tls_input):
            widget.setEnabled(on_cluster)

    def changes(self) -> dict[str, Any]:
        """The ``backend`` and ``temporal`` settings as edited.

        Raises:
            ValueError: The cluster is chosen but its address is not ``HOST:PORT``.
        """
        from app.settings import TemporalSettings

        backend = str(self.backend_input.currentData())
        address = self.address_input.text().strip()
        host, _, port = address.rpartition(":")
        if backend == "temporal" and (not host or not port.isdigit() or not 0 < int(port) < 65536):
            raise ValueError(
                "The cluster's address should be its host and port, like temporal.example.com:7233."
            )
        cluster = TemporalSettings(
            address=address or "127.0.0.1:7233",
            namespace=self.namespace_input.text().strip() or "default",
            task_queue=self.queue_input.text().strip() or "ensemble",
            tls=self.tls_input.isChecked(),
        )
        return {"backend": backend, "temporal": cluster}
