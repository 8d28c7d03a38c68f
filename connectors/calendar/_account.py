"""A CalDAV account as the calendar tools see it: the server's address and the login name.

Like an email account (:mod:`connectors.email._account`), it is stored in the settings
without its password; the engine's side hands the mission's chosen account to the tools in
``ToolContext.extra["calendar"]["account"]``, and the password is read from the system
keyring (entry ``account:<name>``) only when the tools log in.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import keyring
from keyring.errors import KeyringError
from pydantic import ConfigDict, Field, ValidationError, field_validator

from connectors.base import ToolContext, ToolError
from connectors.email import KEYRING_SERVICE, keyring_entry
from connectors.registry import Account


class CalDavAccount(Account):
    """One CalDAV account (Nextcloud, Radicale, Fastmail, iCloud…), without its password.

    Attributes:
        name: The person's name for it ("home").
        kind: Always ``caldav``: how the settings file tells it from other accounts.
        url: The server's CalDAV address, e.g. ``https://cloud.example.com/remote.php/dav``.
        user: The login name; empty for a server that asks for none.
        default: Whether missions use it when none is named.
    """

    model_config = ConfigDict(extra="forbid")

    label: ClassVar[str] = "calendar"

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    kind: Literal["caldav"] = "caldav"
    url: str = Field(min_length=8)
    user: str = ""
    default: bool = False

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")) or any(c.isspace() for c in value):
            raise ValueError(f"a CalDAV address starts with https:// (or http://); got '{value}'")
        return value

    def needs_password(self) -> bool:
        """A server logged in to with a user name needs a password."""
        return bool(self.user)

    def where(self) -> str:
        """The server and the login, for ``ensemble account list``."""
        who = f"CalDAV as {self.user}" if self.user else "CalDAV (no login)"
        return f"{who:<30} {self.url}"

    def check(self, password: str) -> list[str]:
        """Logs in and lists the calendars, changing nothing."""
        from connectors.calendar._caldav import Server

        server = Server(self, password)
        names = ", ".join(server.calendar_names()) or "none yet"
        return [f"CalDAV {self.url}: logged in; calendars {names}."]


def caldav_account(ctx: ToolContext, data: dict[str, Any] | None = None) -> tuple[CalDavAccount, str] | None:
    """The mission's CalDAV account and its password, or None when the mission has none.

    Args:
        ctx: The call's context; the account is ``ctx.extra["calendar"]["account"]``.
        data: An account's settings to use instead (an undo keeps the one it changed).

    Raises:
        ToolError: The account's settings are unusable, or its password cannot be read.
    """
    if data is None:
        options: Any = ctx.extra.get("calendar")
        data = options.get("account") if isinstance(options, dict) else None
        if not isinstance(data, dict):
            return None
    try:
        account = CalDavAccount.model_validate(data)
    except ValidationError as exc:
        raise ToolError(f"The calendar account's settings cannot be used: {exc}") from exc
    if not account.needs_password():
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
            f"No password of the calendar account '{account.name}' is in the system keyring. The person "
            "can remove the account and add it again with its password in Settings, Accounts."
        )
    return account, password
