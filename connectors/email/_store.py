"""What the email tools need from a mailbox, whatever holds it: an IMAP server or local files.

Every method blocks; the tools call them with :func:`asyncio.to_thread`. Every failure is a
:class:`~connectors.base.ToolError` with a message a person can act on.

Message ids are stable and self-describing text:

- IMAP: ``"FOLDER:UIDVALIDITY:UID"``, e.g. ``"INBOX:1795321753:42"``. The folder's
  UIDVALIDITY is checked on every use, so an id never silently points at another message
  after the server renumbered the folder.
- Local (Maildir, mbox): ``"FOLDER:local:KEY"``, the key being the Maildir file's unique
  name or the message's position in the mbox file.

A folder name may itself contain ``:``; ids are split from the right.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from connectors.base import ToolError, normalise_address

if TYPE_CHECKING:
    from email.message import Message

Role = Literal["drafts", "sent"]

SentState = Literal["absent", "pending", "sent", "unknown"]
"""See :meth:`Store.sent_state`."""

PENDING = b"$EnsemblePending"
"""The IMAP keyword on a Sent copy stored before its message was handed to SMTP."""
"""A special folder the tools write into."""

MAX_MESSAGE_BYTES = 50 * 1024 * 1024
"""email_read refuses bigger messages (a mailbox export, a video) with a clear error."""


@dataclass(frozen=True)
class Criteria:
    """What email_search looks for; every field that is set must match."""

    from_: str | None = None
    to: str | None = None
    subject: str | None = None
    text: str | None = None
    since: dt.date | None = None
    before: dt.date | None = None
    unseen: bool | None = None


@dataclass(frozen=True)
class Page:
    """One page of search results, newest first."""

    total: int
    messages: list[dict[str, Any]]


@dataclass(frozen=True)
class MessageState:
    """What a move or a flag change needs to know to be taken back.

    Attributes:
        rfc_message_id: The message's ``Message-ID`` header (``<unique@domain>``), by which it
            is found again in another folder; None when it has none.
        seen: Whether it is marked read.
        flagged: Whether it is flagged.
    """

    rfc_message_id: str | None
    seen: bool
    flagged: bool


class Store(Protocol):
    """A mailbox the tools can read and write."""

    def folders(self) -> list[dict[str, Any]]:
        """``[{"name", "role"}]``; role is ``inbox``, ``drafts``, ``sent``, ``trash`` or None."""
        ...

    def search(self, folder: str, criteria: Criteria, offset: int, limit: int) -> Page:
        """Matching messages' summaries: id, folder, from, to, cc, subject, date, snippet..."""
        ...

    def fetch(self, message_id: str) -> bytes:
        """A message's bytes."""
        ...

    def append(self, role: Role, raw: bytes) -> str:
        """Stores a message in the Drafts or Sent folder; returns the folder's name."""
        ...

    def sent_state(self, rfc_message_id: str) -> SentState:
        """Where a message stands in the Sent folder, by its ``Message-ID``.

        ``absent``: no copy; ``pending``: a copy stored before sending whose send was never
        confirmed (it may or may not have left); ``sent``: a confirmed copy. A store that
        cannot mark a copy pending says ``unknown`` instead of ``absent``.
        """
        ...

    def store_pending(self, raw: bytes) -> str:
        """Stores a copy in the Sent folder marked pending, before sending; returns the folder."""
        ...

    def clear_pending(self, rfc_message_id: str) -> None:
        """Marks the Sent copy of a message as sent (its send was confirmed)."""
        ...

    def discard_pending(self, rfc_message_id: str) -> None:
        """Removes the pending Sent copy of a message that surely was not sent."""
        ...

    def contains(self, role: Role, rfc_message_id: str) -> bool:
        """Whether the Drafts or Sent folder holds a message with this ``Message-ID``."""
        ...

    def wrote_to(self, addresses: list[str]) -> set[str]:
        """Which of these (normalised) addresses a message in the Sent folder went to (To, Cc, Bcc)."""
        ...

    def state(self, message_id: str) -> MessageState:
        """A message's ``Message-ID`` header and flags."""
        ...

    def find(self, folder: str, rfc_message_id: str) -> str | None:
        """The id of a message in that folder with this ``Message-ID`` header, or None.

        When several carry it, the most recently added one.
        """
        ...

    def move(self, message_id: str, folder: str) -> None:
        """Moves a message to another folder."""
        ...

    def mark(self, message_id: str, seen: bool | None, flagged: bool | None) -> None:
        """Sets or clears the seen and flagged flags."""
        ...

    def close(self) -> None:
        """Releases the connection or files."""
        ...


def recipients(headers: Message) -> set[str]:
    """The normalised addresses a message's To, Cc and Bcc headers name."""
    values = [str(v) for name in ("to", "cc", "bcc") for v in headers.get_all(name, [])]
    found = {normalise_address(address) for _name, address in email.utils.getaddresses(values)}
    return {a for a in found if a}


def rfc_id(value: str) -> str | None:
    """A ``Message-ID`` header's value as compared: its ``<...>`` part, else the bare text, or None."""
    found = re.search(r"<[^<>\s]+>", value)
    if found:
        return found.group(0)
    return " ".join(value.split()) or None


def split_id(message_id: str) -> tuple[str, str, str]:
    """``"FOLDER:VALIDITY:KEY"`` as its three parts.

    Raises:
        ToolError: The text is not an id from email_search or email_read.
    """
    folder, sep1, rest = message_id.rpartition(":")
    folder2, sep2, validity = folder.rpartition(":")
    if not (sep1 and sep2 and folder2 and rest and validity):
        raise ToolError(
            f"'{message_id}' is not a message id. Use an id exactly as email_search or email_read "
            "returned it, such as 'INBOX:1795321753:42'."
        )
    return folder2, validity, rest


_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}
_RFC_DATE = re.compile(
    r"^\s*(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{2}):(\d{2})(?::(\d{2}))?\s+([+-])(\d{2})(\d{2})"
)


def iso_date(value: str) -> str:
    """A Date header as ISO 8601 when it can be read, else as it was.

    The usual form (``Mon, 02 Nov 2026 10:00:00 +0000``) is converted directly, because a
    search converts the dates of every result; anything else goes through :mod:`email.utils`.
    """
    found = _RFC_DATE.match(value)
    if found is not None:
        day, month, year, hour, minute, second, sign, tz_hour, tz_minute = found.groups()
        number = _MONTHS.get(month.lower())
        try:
            valid = number is not None and bool(
                dt.datetime(int(year), number, int(day), int(hour), int(minute))
            )
        except ValueError:
            valid = False
        if valid:
            return (
                f"{year}-{number:02d}-{int(day):02d}T{hour}:{minute}:{second or '00'}"
                f"{sign}{tz_hour}:{tz_minute}"
            )
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return value
    return parsed.isoformat() if parsed is not None else value
