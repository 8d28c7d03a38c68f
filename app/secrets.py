"""Secrets in the operating system's keyring (service ``ensemble``), never on disk or in logs."""

from __future__ import annotations

import logging
import os

import keyring
from keyring.errors import KeyringError

from app.errors import EnsembleError

SERVICE = "ensemble"
API_KEY_ENTRY = "anthropic-api-key"

log = logging.getLogger(__name__)

PASSWORD_STORE_HELP = (
    "On Linux a password store such as GNOME Keyring or KWallet keeps them, and most desktops "
    "start one when you log in: log in to such a desktop (or install one and start it, and "
    "unlock it if it asks), then try again."
)
"""What to do when the system's password store cannot be reached, in words for a person."""


def unreachable(consequence: str) -> str:
    """The sentence that says the system's password store could not be reached, and what to do.

    It never quotes the keyring library's own message (a package name and a web address that
    mean nothing to a person): that goes to the log.

    Args:
        consequence: What did not happen, after "so" ("the key was not saved").
    """
    return (
        f"Ensemble could not reach your system's password store (the keyring), so {consequence}. "
        f"{PASSWORD_STORE_HELP}"
    )


class SecretError(EnsembleError):
    """The keyring could not be read or written; the message says what to do."""


def get_secret(name: str) -> str | None:
    """Reads a secret from the keyring.

    Args:
        name: The entry, e.g. ``"anthropic-api-key"``.

    Returns:
        The secret, or None when the keyring has none or no keyring is available.
    """
    try:
        value: str | None = keyring.get_password(SERVICE, name)
    except KeyringError:
        return None
    return value or None


def set_secret(name: str, value: str) -> None:
    """Stores a secret in the keyring.

    Raises:
        SecretError: No usable keyring backend (e.g. no Secret Service running).
    """
    try:
        keyring.set_password(SERVICE, name, value)
    except KeyringError as exc:
        log.warning("The keyring could not store %s: %s", name, exc)
        raise SecretError(unreachable("nothing could be kept in it")) from exc


def delete_secret(name: str) -> None:
    """Removes a secret from the keyring; a missing one is not an error."""
    try:
        keyring.delete_password(SERVICE, name)
    except KeyringError:
        return


def api_key() -> str | None:
    """The Anthropic API key: ``ANTHROPIC_API_KEY`` if set, else the keyring's entry."""
    return os.environ.get("ANTHROPIC_API_KEY") or get_secret(API_KEY_ENTRY)


def redact(secret: str) -> str:
    """Shows a secret the way settings may display it: only its last four characters."""
    if len(secret) <= 8:
        return "•" * len(secret)
    return "•" * 8 + secret[-4:]
