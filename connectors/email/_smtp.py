"""Sending through SMTP with :mod:`smtplib` (run in a thread by the tools).

``tls`` connects with TLS from the start (port 465), ``starttls`` upgrades a plain
connection (port 587), and ``none`` sends in the clear, for a server on this machine. The
login is made when the server offers AUTH; every failure becomes a :class:`ToolError` that
says whether the message left.
"""

from __future__ import annotations

import smtplib
import ssl
from typing import TYPE_CHECKING

from connectors.base import ToolError

if TYPE_CHECKING:
    from email.message import EmailMessage

    from connectors.email._account import EmailAccount

TIMEOUT = 60.0


class Uncertain(ToolError):
    """The connection broke while the message was being handed over: it may have been sent."""


def send(account: EmailAccount, password: str, message: EmailMessage, recipients: list[str]) -> list[str]:
    """Sends ``message`` to ``recipients`` (To, Cc and Bcc) from the account's address.

    Returns:
        The recipients the server refused while it accepted the others (usually none).

    Raises:
        Uncertain: The connection broke while the message was being handed over, so it may
            or may not have been delivered.
        ToolError: The server cannot be reached, refused the login, or refused the message or
            every recipient; in each case the message was not sent.
    """
    where = f"{account.smtp_host}:{account.smtp_port}"
    if not account.smtp_host:
        raise ToolError(f"The account '{account.name}' has no SMTP server set; nothing was sent.")
    context = ssl.create_default_context()
    try:
        client: smtplib.SMTP = (
            smtplib.SMTP_SSL(account.smtp_host, account.smtp_port, timeout=TIMEOUT, context=context)
            if account.smtp_mode == "tls"
            else smtplib.SMTP(account.smtp_host, account.smtp_port, timeout=TIMEOUT)
        )
    except (OSError, smtplib.SMTPException) as exc:
        raise ToolError(f"Cannot reach the SMTP server {where}: {exc}. Nothing was sent.") from exc
    try:
        with client:
            client.ehlo()
            if account.smtp_mode == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if password and client.has_extn("auth"):
                client.login(account.user or account.address, password)
            refused = client.send_message(message, from_addr=account.address, to_addrs=recipients)
    except smtplib.SMTPAuthenticationError as exc:
        raise ToolError(
            f"The SMTP server {where} refused the login: {exc.smtp_code} {exc.smtp_error!r}. "
            "Check the password (Gmail and Outlook need an app password). Nothing was sent."
        ) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise ToolError(
            f"The SMTP server refused every recipient: {exc.recipients}. Nothing was sent."
        ) from exc
    except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused, smtplib.SMTPHeloError) as exc:
        raise ToolError(f"The SMTP server {where} refused the message: {exc}. It was not sent.") from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise Uncertain(
            f"The connection to {where} broke while the message was being handed over ({exc}), so it may "
            "or may not have been delivered. Its copy in Sent is marked pending; ask the person before "
            "sending it again."
        ) from exc
    return sorted(refused)


def check(account: EmailAccount, password: str) -> str:
    """Connects and logs in to the SMTP server without sending anything.

    Returns:
        A sentence saying what worked.

    Raises:
        ToolError: The server cannot be reached or refused the login.
    """
    where = f"{account.smtp_host}:{account.smtp_port}"
    if not account.smtp_host:
        raise ToolError(f"The account '{account.name}' has no SMTP server set.")
    context = ssl.create_default_context()
    try:
        client: smtplib.SMTP = (
            smtplib.SMTP_SSL(account.smtp_host, account.smtp_port, timeout=TIMEOUT, context=context)
            if account.smtp_mode == "tls"
            else smtplib.SMTP(account.smtp_host, account.smtp_port, timeout=TIMEOUT)
        )
        with client:
            client.ehlo()
            if account.smtp_mode == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if password and client.has_extn("auth"):
                client.login(account.user or account.address, password)
                return f"SMTP {where}: logged in."
            return f"SMTP {where}: connected (the server asks for no login)."
    except smtplib.SMTPAuthenticationError as exc:
        raise ToolError(
            f"The SMTP server {where} refused the login: {exc.smtp_code} {exc.smtp_error!r}. "
            "Check the password (Gmail and Outlook need an app password)."
        ) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise ToolError(f"Cannot use the SMTP server {where}: {exc}.") from exc
