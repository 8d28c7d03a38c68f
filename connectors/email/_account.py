"""An email account as the tools see it: where its mail is, and how to reach its servers.

The engine side (``app/accounts.py``) stores accounts in the settings and hands the tools
one account per mission in ``ToolContext.extra["email"]`` as ``{"account": {...}}``. Mission
options are journaled (to resume a mission), so they never hold the password: the tools read
it from the system keyring (service :data:`KEYRING_SERVICE`, entry ``account:<name>``) when
they log in, and it goes nowhere else.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import keyring
from keyring.errors import KeyringError
from pydantic import ConfigDict, Field, ValidationError

from connectors.base import ToolContext, ToolError
from connectors.registry import Account

KEYRING_SERVICE = "ensemble"
"""The keyring service of every Ensemble secret; the same as ``app.secrets.SERVICE``."""

Security = Literal["tls", "starttls", "none"]
"""``tls``: TLS from the first byte (IMAPS 993, SMTPS 465); ``starttls``: plain, then upgraded
(IMAP 143, submission 587); ``none``: no encryption, for a server on this machine only."""

AccountKind = Literal["imap", "maildir", "mbox"]
"""``imap``: a mail server (IMAP to read, SMTP to send); ``maildir`` and ``mbox``: local
mail files, read in place, where sending only appends to a local Sent folder."""


class EmailAccount(Account):
    """One email account, without its password.

    Attributes:
        name: The person's name for it ("work").
        kind: See :data:`AccountKind`.
        address: The address mail is sent from.
        user: The login name (often the address).
        imap_host, imap_port, smtp_host, smtp_port: The servers, for ``imap`` accounts.
        security: See :data:`Security`.
        smtp_security: The SMTP server's, when it differs from the IMAP server's (Outlook and
            iCloud: IMAP over TLS on 993, SMTP with STARTTLS on 587); None: ``security``.
        path: The Maildir folder, or the mbox file or folder of mbox files, for local accounts.
        auth: ``password`` today; room for ``oauth2`` later.
        default: Whether ``ensemble run`` uses it when no account is named.
    """

    model_config = ConfigDict(extra="forbid")

    label: ClassVar[str] = "email"

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    kind: AccountKind = "imap"
    address: str = Field(min_length=3, pattern=r"^[^@\s<>]+@[^@\s<>]+$")
    user: str = ""
    imap_host: str = ""
    imap_port: int = Field(default=993, ge=1, le=65535)
    smtp_host: str = ""
    smtp_port: int = Field(default=465, ge=1, le=65535)
    security: Security = "tls"
    smtp_security: Security | None = None
    path: str = ""
    auth: Literal["password"] = "password"
    default: bool = False

    @property
    def smtp_mode(self) -> Security:
        """How the SMTP server is reached: ``smtp_security``, else ``security``."""
        return self.smtp_security or self.security

    @property
    def domain(self) -> str:
        """The domain of the sending address, for Message-IDs."""
        return self.address.rpartition("@")[2]

    def needs_password(self) -> bool:
        """Only a mail server needs one; local mail files are opened in place."""
        return self.kind == "imap"

    def where(self) -> str:
        """The address and the servers (or the local files), for ``ensemble account list``."""
        security = self.security if self.smtp_mode == self.security else f"{self.security} / {self.smtp_mode}"
        place = (
            f"{self.imap_host}:{self.imap_port} / {self.smtp_host}:{self.smtp_port} ({security})"
            if self.kind == "imap"
            else f"{self.kind} {self.path}"
        )
        return f"{self.address:<30} {place}"

    def check(self, password: str) -> list[str]:
        """Logs in to IMAP and SMTP (or opens the local files), changing nothing."""
        from connectors.email import check_account

        return check_account(self, password)


def keyring_entry(name: str) -> str:
    """The keyring entry that holds an account's password."""
    return f"account:{name}"


def account_from(ctx: ToolContext) -> tuple[EmailAccount, str]:
    """The mission's email account, from ``ctx.extra["email"]``, and its password, from the keyring.

    Returns:
        The account, and its password ("" for a local account, or when none is stored).

    Raises:
        ToolError: No account was chosen for this mission, or its settings are unusable.
    """
    options: Any = ctx.extra.get("email")
    if not isinstance(options, dict) or not isinstance(options.get("account"), dict):
        raise ToolError(
            "No email account is set up for this mission. The person can add one in Settings, "
            "Accounts (or with 'ensemble account add') and choose it for the mission."
        )
    try:
        account = EmailAccount.model_validate(options["account"])
    except ValidationError as exc:
        raise ToolError(f"The email account's settings cannot be used: {exc}") from exc
    if account.kind != "imap":
        return account, ""
    try:
        password = keyring.get_password(KEYRING_SERVICE, keyring_entry(account.name))
    except KeyringError as exc:
        raise ToolError(
            f"Ensemble could not reach the system's password store (the keyring) to read the password "
            f"of '{account.name}'. The person should check that a password store such as GNOME "
            "Keyring or KWallet is running and unlocked."
        ) from exc
    if not password:
        raise ToolError(
            f"No password of the email account '{account.name}' is in the system keyring. The person can "
            "remove the account and add it again with its password in Settings, Accounts."
        )
    return account, password
