"""Email accounts: kept in the settings without their passwords, which live in the keyring.

An account is a :class:`connectors.email.EmailAccount` in ``settings.json`` (``accounts``);
its password is the keyring entry ``account:<name>``. Before a mission, :func:`mission_options`
turns the chosen account into the options the email tools read from
``ToolContext.extra["email"]``. Those options are journaled with the mission (so that it can
be resumed), so they never hold the password: the tools read it from the keyring when they
log in.

Gmail and Outlook refuse an account's normal password over IMAP and SMTP when two-step
verification is on: create an *app password* in the account's security settings and store
that. (``auth`` leaves room for OAuth2 later.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app import secrets
from app.errors import EnsembleError
from app.settings import Settings
from connectors.base import ToolError
from connectors.email import EmailAccount, check_account, keyring_entry

if TYPE_CHECKING:
    from pathlib import Path


class AccountError(EnsembleError):
    """An account that cannot be added, found or used; the message says what to do."""


def secret_entry(name: str) -> str:
    """The keyring entry that holds an account's password (``account:<name>``)."""
    return keyring_entry(name)


def parse_server(value: str, what: str) -> tuple[str, int]:
    """``"HOST:PORT"`` as its parts.

    Raises:
        AccountError: The text is not a host and a port.
    """
    host, sep, port = value.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise AccountError(
            f"The {what} server must be written HOST:PORT, e.g. imap.example.com:993; got '{value}'."
        )
    return host.strip("[]"), int(port)


def add_account(settings_path: Path, account: EmailAccount, password: str | None) -> Settings:
    """Adds an account to the settings file and its password to the keyring.

    The first account becomes the default; marking a new one default unmarks the others.

    Raises:
        AccountError: An account of that name exists already.
    """
    settings = Settings.load(settings_path)
    if any(a.name == account.name for a in settings.accounts):
        raise AccountError(f"There is an account named '{account.name}' already; remove it first.")
    others = settings.accounts
    if account.default or not others:
        account = account.model_copy(update={"default": True})
        others = [a.model_copy(update={"default": False}) for a in others]
    if password:
        secrets.set_secret(secret_entry(account.name), password)
    updated = settings.model_copy(update={"accounts": [*others, account]})
    updated.save(settings_path)
    return updated


def remove_account(settings_path: Path, name: str) -> None:
    """Removes an account from the settings and its password from the keyring.

    Raises:
        AccountError: There is no such account.
    """
    settings = Settings.load(settings_path)
    find(settings, name)
    rest = [a for a in settings.accounts if a.name != name]
    if rest and not any(a.default for a in rest):
        rest[0] = rest[0].model_copy(update={"default": True})
    settings.model_copy(update={"accounts": rest}).save(settings_path)
    secrets.delete_secret(secret_entry(name))


def find(settings: Settings, name: str) -> EmailAccount:
    """The account of that name.

    Raises:
        AccountError: There is none; the message lists the accounts there are.
    """
    for account in settings.accounts:
        if account.name == name:
            return account
    names = ", ".join(a.name for a in settings.accounts) or "none yet"
    raise AccountError(f"There is no email account '{name}' (accounts: {names}).")


def choose(settings: Settings, name: str | None = None) -> EmailAccount | None:
    """The account a mission uses: the named one, else the default, else the only one.

    Returns:
        The account, or None when there is none to choose without a name.

    Raises:
        AccountError: A name was given and no account has it.
    """
    if name is not None:
        return find(settings, name)
    marked = [a for a in settings.accounts if a.default]
    if marked:
        return marked[0]
    return settings.accounts[0] if len(settings.accounts) == 1 else None


def mission_options(account: EmailAccount | None) -> dict[str, Any]:
    """The per-mission options that give the email tools this account (``{}`` for None).

    They hold no secret: the tools read the password from the keyring.
    """
    if account is None:
        return {}
    return {"email": {"account": account.model_dump(mode="json")}}


def test_connection(account: EmailAccount) -> list[str]:
    """Logs in to the account's servers with its stored password, changing nothing.

    Returns:
        One sentence per server saying what worked.

    Raises:
        AccountError: What failed, and what to check.
    """
    password = secrets.get_secret(secret_entry(account.name))
    if account.kind == "imap" and not password:
        raise AccountError(
            f"No password is stored for '{account.name}'. Add the account again with --password-stdin."
        )
    try:
        return check_account(account, password or "")
    except ToolError as exc:
        raise AccountError(str(exc)) from exc
