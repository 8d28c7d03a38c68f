"""Accounts of every kind: kept in the settings without their passwords, which live in the keyring.

An account type is a connector's declaration: an agent kind's ``account`` (a subclass of
:class:`connectors.registry.Account`, such as the email connector's ``EmailAccount`` or the
calendar's ``CalDavAccount``). This module names no kind: it finds the types through the
registry. Every account is in ``settings.json`` (``accounts``), told apart by its ``kind``
field; its password is the keyring entry ``account:<name>`` (names are unique across types).

Before a mission, :func:`fill_mission_options` gives each agent kind its account (the one the
mission names, else the kind's default, else its only one) in the options the tools read
from ``ToolContext.extra[kind]["account"]``. Those options are journaled with the mission (so
that it can be resumed), so they never hold the password: the tools read it from the keyring
when they log in.

Gmail and Outlook refuse an account's normal password over IMAP and SMTP when two-step
verification is on: create an *app password* in the account's security settings and store
that.
"""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from app import secrets
from app.errors import EnsembleError
from app.settings import Settings
from connectors.base import ToolError
from connectors.registry import Account, registry

if TYPE_CHECKING:
    from pathlib import Path


class AccountError(EnsembleError):
    """An account that cannot be added, found or used; the message says what to do."""


def secret_entry(name: str) -> str:
    """The keyring entry that holds an account's password (``account:<name>``)."""
    return f"account:{name}"


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


def account_types() -> dict[str, type[Account]]:
    """Every account type, by the name of the agent kind that declares it."""
    return {name: kind.account for name, kind in registry().items() if kind.account is not None}


def _kinds_of(model: type[Account]) -> tuple[object, ...]:
    """The values of a type's ``kind`` field (its ``Literal``'s), or ``()``."""
    field = model.model_fields.get("kind")
    return typing.get_args(field.annotation) if field is not None else ()


def parse_account(data: Account | dict[str, Any]) -> Account:
    """An account of the type its ``kind`` says (a dict without one is tried against each type).

    Raises:
        AccountError: No type takes it; the message says why for the closest one.
    """
    if isinstance(data, Account):
        return data
    if not isinstance(data, dict):
        raise AccountError(f"An account must be a JSON object; got {type(data).__name__}.")
    types = list(account_types().values())
    kind = data.get("kind")
    candidates = [t for t in types if kind is None or kind in _kinds_of(t)]
    if not candidates:
        known = ", ".join(str(k) for t in types for k in _kinds_of(t))
        raise AccountError(
            f"The account '{data.get('name', '?')}' has an unknown kind '{kind}' (kinds: {known})."
        )
    problems: list[ValidationError] = []
    for model in candidates:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            problems.append(exc)
    raise AccountError(f"The account cannot be used: {problems[0]}")


def kind_of(account: Account) -> str:
    """The name of the agent kind whose type the account is (``"email"``).

    Raises:
        AccountError: No agent kind declares its type.
    """
    for name, model in account_types().items():
        if isinstance(account, model):
            return name
    raise AccountError(f"No agent kind works with accounts of type {type(account).__name__}.")


def add_account(settings_path: Path, account: Account, password: str | None) -> Settings:
    """Adds an account to the settings file and its password to the keyring.

    The first account of its kind becomes that kind's default; marking a new one default
    unmarks the others of its kind.

    Raises:
        AccountError: An account of that name exists already (of any kind).
    """
    settings = Settings.load(settings_path)
    if any(a.name == account.name for a in settings.accounts):
        raise AccountError(f"There is an account named '{account.name}' already; remove it first.")
    kind = kind_of(account)
    same = [a for a in settings.accounts if kind_of(a) == kind]
    others = list(settings.accounts)
    if account.default or not same:
        account = account.model_copy(update={"default": True})
        others = [a.model_copy(update={"default": False}) if kind_of(a) == kind else a for a in others]
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
    kind = kind_of(find(settings, name))
    rest = [a for a in settings.accounts if a.name != name]
    same = [i for i, a in enumerate(rest) if kind_of(a) == kind]
    if same and not any(rest[i].default for i in same):
        rest[same[0]] = rest[same[0]].model_copy(update={"default": True})
    settings.model_copy(update={"accounts": rest}).save(settings_path)
    secrets.delete_secret(secret_entry(name))


def find(settings: Settings, name: str, kind: str | None = None) -> Account:
    """The account of that name (of that agent kind, if given).

    Raises:
        AccountError: There is none; the message lists the accounts there are.
    """
    for account in settings.accounts:
        if account.name == name and (kind is None or kind_of(account) == kind):
            return account
    types = account_types()
    kinds = [kind] if kind else sorted({kind_of(a) for a in settings.accounts}) or sorted(types)
    labels = [types[k].label if k in types else k for k in kinds]
    names = ", ".join(a.name for a in settings.accounts) or "none yet"
    missing = " and ".join(f"no {label} account '{name}'" for label in labels) or f"no account '{name}'"
    raise AccountError(f"There is {missing} (accounts: {names}).")


def choose(settings: Settings, name: str | None = None, kind: str | None = None) -> Account | None:
    """The account a mission uses: the named one, else the default, else the only one.

    Args:
        settings: The settings.
        name: The account the mission names, if any.
        kind: Only accounts of this agent kind; None: accounts of every kind.

    Returns:
        The account, or None when there is none to choose without a name.

    Raises:
        AccountError: A name was given and no account (of that kind) has it.
    """
    if name is not None:
        return find(settings, name, kind)
    listed = [a for a in settings.accounts if kind is None or kind_of(a) == kind]
    marked = [a for a in listed if a.default]
    if marked:
        return marked[0]
    return listed[0] if len(listed) == 1 else None


def mission_options(account: Account | None) -> dict[str, Any]:
    """The per-mission options that give one account to its agent kind (``{}`` for None):
    ``{kind: {"account": {...}}}``.

    They hold no secret: the tools read the password from the keyring.
    """
    if account is None:
        return {}
    return {kind_of(account): {"account": account.model_dump(mode="json")}}


def fill_mission_options(options: dict[str, Any], settings: Settings, name: str | None = None) -> None:
    """Gives each agent kind that has accounts its account for a mission, in place.

    A kind whose options already name an account keeps it (a resumed mission, the demo).
    The named account goes to its kind; every other kind gets its default (or only) one.

    Args:
        options: The mission's options, by kind; a kind's dict is replaced, never changed.
        settings: The settings holding the accounts.
        name: The account the mission names (``ensemble run --account``), if any.

    Raises:
        AccountError: A name was given and no account has it.
    """
    named = find(settings, name) if name is not None else None
    named_kind = kind_of(named) if named is not None else None
    for kind in account_types():
        account = named if kind == named_kind else choose(settings, kind=kind)
        section = options.get(kind)
        if account is None or (isinstance(section, dict) and section.get("account")):
            continue
        base = section if isinstance(section, dict) else {}
        options[kind] = {**base, "account": account.model_dump(mode="json")}


def test_connection(account: Account) -> list[str]:
    """Logs in to the account's servers with its stored password, changing nothing.

    Returns:
        One sentence per server saying what worked.

    Raises:
        AccountError: What failed, and what to check.
    """
    password = secrets.get_secret(secret_entry(account.name))
    if account.needs_password() and not password:
        raise AccountError(
            f"No password is stored for '{account.name}': remove the account and add it again with "
            "its password."
        )
    try:
        return account.check(password or "")
    except ToolError as exc:
        raise AccountError(str(exc)) from exc
