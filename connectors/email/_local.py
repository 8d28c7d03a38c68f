"""A local mailbox: a Maildir folder, or mbox files as Thunderbird keeps them, read in place.

A Maildir account's ``path`` is the Maildir (with ``cur``, ``new``, ``tmp``); its INBOX is
that folder and its other folders are Maildir++ subfolders (``.Sent``). An mbox account's
``path`` is either a folder of mbox files (Thunderbird's ``Local Folders``: ``Inbox``,
``Sent``, ``Drafts``; ``.msf`` index files are skipped) or one mbox file, which is the INBOX,
with Drafts and Sent kept beside it as ``NAME.Drafts`` and ``NAME.Sent``.

Nothing is sent from a local account: "sending" stores the message in its Sent folder.
Searching reads every message of the folder, which is fine for a person's local archive.
"""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import email.utils
import mailbox
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.base import ToolError
from connectors.email._message import MessageError, header_text, parse_bytes, parse_message
from connectors.email._store import (
    MAX_MESSAGE_BYTES,
    Criteria,
    MessageState,
    Page,
    Role,
    SentState,
    iso_date,
    recipients,
    rfc_id,
    split_id,
)

if TYPE_CHECKING:
    from email.message import Message

    from connectors.email._account import EmailAccount

_ROLE_NAMES: dict[str, str] = {"drafts": "Drafts", "sent": "Sent"}
_HEADERS = email.parser.BytesHeaderParser(policy=email.policy.compat32)
"""Reads only a message's header block, to find a message by its Message-ID."""


class LocalStore:
    """A Maildir or mbox mailbox on disk; see :class:`connectors.email._store.Store`."""

    def __init__(self, account: EmailAccount) -> None:
        self.account = account
        self.path = Path(account.path).expanduser()
        self._lock = threading.Lock()
        if not self.path.exists():
            raise ToolError(f"The local mailbox {self.path} of account '{account.name}' does not exist.")
        if account.kind == "maildir" and not (self.path / "cur").is_dir():
            raise ToolError(f"{self.path} is not a Maildir folder (it has no 'cur' folder).")

    # Folders -------------------------------------------------------------------------------

    def _mbox_files(self) -> dict[str, Path]:
        if self.path.is_file():
            files = {"INBOX": self.path}
            for role in _ROLE_NAMES.values():
                sibling = self.path.with_name(f"{self.path.name}.{role}")
                if sibling.is_file():
                    files[role] = sibling
            return files
        files = {}
        for child in sorted(self.path.iterdir()):
            if child.is_file() and not child.name.startswith(".") and child.suffix != ".msf":
                files["INBOX" if child.name.lower() == "inbox" else child.name] = child
        return files

    def _names(self) -> list[str]:
        if self.account.kind == "maildir":
            return ["INBOX", *sorted(mailbox.Maildir(self.path, create=False).list_folders())]
        return list(self._mbox_files())

    def _open(self, folder: str, *, create: bool = False) -> mailbox.Mailbox[Any]:
        if self.account.kind == "maildir":
            root = mailbox.Maildir(self.path, create=False)
            if folder.upper() == "INBOX":
                return root
            if folder in root.list_folders():
                return root.get_folder(folder)
            if create:
                return root.add_folder(folder)
        else:
            files = self._mbox_files()
            key = "INBOX" if folder.upper() == "INBOX" else folder
            if key in files:
                return mailbox.mbox(files[key], create=False)
            if create:
                target = (
                    self.path.with_name(f"{self.path.name}.{folder}")
                    if self.path.is_file()
                    else self.path / folder
                )
                return mailbox.mbox(target, create=True)
        raise ToolError(f"There is no folder '{folder}'. The folders are: {', '.join(self._names())}.")

    def folders(self) -> list[dict[str, Any]]:
        roles = {"inbox": "inbox", "drafts": "drafts", "sent": "sent", "trash": "trash"}
        return [{"name": name, "role": roles.get(name.lower())} for name in self._names()]

    # Reading -------------------------------------------------------------------------------

    def search(self, folder: str, criteria: Criteria, offset: int, limit: int) -> Page:
        with self._lock:
            box = self._open(folder)
            found: list[tuple[dt.datetime, str, Message, bytes, set[str]]] = []
            box.lock()
            try:
                for key in box.keys():
                    raw = box.get_bytes(key)
                    try:
                        message = parse_bytes(raw)
                    except MessageError:
                        continue
                    flags = _flags(box.get_message(key))
                    if _matches(message, raw, flags, criteria):
                        found.append((_date(message), str(key), message, raw, flags))
            finally:
                box.unlock()
                box.close()
        found.sort(key=lambda item: item[0], reverse=True)
        page = []
        for _when, key, message, raw, flags in found[offset : offset + limit]:
            try:
                parsed = parse_message(raw, max_body_chars=200)
                text, attachments = " ".join(parsed.body.split())[:200], bool(parsed.attachments)
            except MessageError:
                text, attachments = "", False
            page.append(
                {
                    "id": f"{folder}:local:{key}",
                    "folder": folder,
                    "from": header_text(message, "from"),
                    "to": header_text(message, "to"),
                    "cc": header_text(message, "cc"),
                    "subject": header_text(message, "subject"),
                    "date": iso_date(header_text(message, "date")),
                    "snippet": text,
                    "has_attachments": attachments,
                    "seen": "seen" in flags,
                    "flagged": "flagged" in flags,
                }
            )
        return Page(total=len(found), messages=page)

    def _locate(self, message_id: str) -> tuple[str, mailbox.Mailbox[Any], Any]:
        folder, kind, key = split_id(message_id)
        if kind != "local":
            raise ToolError(f"'{message_id}' is not an id of this local account; search again.")
        box = self._open(folder)
        real_key: Any = int(key) if self.account.kind == "mbox" and key.isdigit() else key
        if real_key not in box:
            box.close()
            raise ToolError(f"There is no message '{message_id}' in '{folder}' (deleted or moved?).")
        return folder, box, real_key

    def fetch(self, message_id: str) -> bytes:
        with self._lock:
            _folder, box, key = self._locate(message_id)
            try:
                raw = box.get_bytes(key)
            finally:
                box.close()
        if len(raw) > MAX_MESSAGE_BYTES:
            raise ToolError(f"Message '{message_id}' is {len(raw) / 1e6:.1f} MB, too big to read.")
        return raw

    def sent_state(self, rfc_message_id: str) -> SentState:
        # A local account "sends" by storing the copy, in one step: there is no pending state.
        return "sent" if self.contains("sent", rfc_message_id) else "absent"

    def store_pending(self, raw: bytes) -> str:
        return self.append("sent", raw)

    def clear_pending(self, rfc_message_id: str) -> None:
        return None

    def discard_pending(self, rfc_message_id: str) -> None:
        return None

    def contains(self, role: Role, rfc_message_id: str) -> bool:
        with self._lock:
            try:
                box = self._open(_ROLE_NAMES[role])
            except ToolError:
                return False
            try:
                return any(
                    rfc_message_id in header_text(parse_bytes(box.get_bytes(k)), "message-id")
                    for k in box.keys()
                )
            finally:
                box.close()

    def wrote_to(self, addresses: list[str]) -> set[str]:
        wanted = set(addresses)
        found: set[str] = set()
        with self._lock:
            try:
                box = self._open(_ROLE_NAMES["sent"])
            except ToolError:
                return found
            try:
                for key in box.keys():
                    try:
                        found |= wanted & recipients(parse_bytes(box.get_bytes(key)))
                    except MessageError:
                        continue
                    if found == wanted:
                        break
            finally:
                box.close()
        return found

    def state(self, message_id: str) -> MessageState:
        with self._lock:
            _folder, box, key = self._locate(message_id)
            try:
                message = box.get_message(key)
            finally:
                box.close()
        flags = _flags(message)
        return MessageState(rfc_id(header_text(message, "message-id")), "seen" in flags, "flagged" in flags)

    def find(self, folder: str, rfc_message_id: str) -> str | None:
        found: str | None = None
        with self._lock:
            box = self._open(folder)
            try:
                for key in box.keys():
                    headers = _HEADERS.parsebytes(box.get_bytes(key))
                    if rfc_id(header_text(headers, "message-id")) == rfc_message_id:
                        found = f"{folder}:local:{key}"  # the last one, in an mbox the newest
            finally:
                box.close()
        return found

    # Writing -------------------------------------------------------------------------------

    def append(self, role: Role, raw: bytes) -> str:
        folder = _ROLE_NAMES[role]
        with self._lock:
            box = self._open(folder, create=True)
            message: mailbox.Message = (
                mailbox.MaildirMessage(raw) if self.account.kind == "maildir" else mailbox.mboxMessage(raw)
            )
            _set_flags(message, seen=True, draft=role == "drafts")
            box.lock()
            try:
                box.add(message)
                box.flush()
            finally:
                box.unlock()
                box.close()
        return folder

    def move(self, message_id: str, folder: str) -> None:
        with self._lock:
            source, box, key = self._locate(message_id)
            if source == folder:
                box.close()
                return
            target = self._open(folder)
            box.lock()
            target.lock()
            try:
                target.add(box.get_message(key))
                target.flush()
                box.remove(key)
                box.flush()
            finally:
                target.unlock()
                box.unlock()
                target.close()
                box.close()

    def mark(self, message_id: str, seen: bool | None, flagged: bool | None) -> None:
        with self._lock:
            _folder, box, key = self._locate(message_id)
            box.lock()
            try:
                message = box.get_message(key)
                _set_flags(message, seen=seen, flagged=flagged)
                box[key] = message
                box.flush()
            finally:
                box.unlock()
                box.close()

    def close(self) -> None:
        """Nothing is held open between calls."""


def _flags(message: Any) -> set[str]:
    flags: set[str] = set()
    if isinstance(message, mailbox.MaildirMessage):
        letters = message.get_flags()
        if "S" in letters:
            flags.add("seen")
        if "F" in letters:
            flags.add("flagged")
    elif isinstance(message, mailbox.mboxMessage):
        letters = message.get_flags()
        if "R" in letters:
            flags.add("seen")
        if "F" in letters:
            flags.add("flagged")
    return flags


def _set_flags(
    message: Any, *, seen: bool | None = None, flagged: bool | None = None, draft: bool = False
) -> None:
    if isinstance(message, mailbox.MaildirMessage):
        letters = {"seen": "S", "flagged": "F"}
        if draft:
            message.add_flag("D")
        if seen is not None:
            message.set_subdir("cur")
    elif isinstance(message, mailbox.mboxMessage):
        letters = {"seen": "R", "flagged": "F"}
    else:
        return
    for name, value in (("seen", seen), ("flagged", flagged)):
        if value is True:
            message.add_flag(letters[name])
        elif value is False:
            message.remove_flag(letters[name])


def _date(message: Message) -> dt.datetime:
    try:
        parsed = email.utils.parsedate_to_datetime(header_text(message, "date"))
    except (TypeError, ValueError, IndexError):
        parsed = None
    if parsed is None:
        return dt.datetime.min.replace(tzinfo=dt.UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _matches(message: Message, raw: bytes, flags: set[str], criteria: Criteria) -> bool:
    def has(header: str, needle: str | None) -> bool:
        return needle is None or needle.lower() in header.lower()

    if not has(header_text(message, "from"), criteria.from_):
        return False
    if not has(header_text(message, "to") + " " + header_text(message, "cc"), criteria.to):
        return False
    if not has(header_text(message, "subject"), criteria.subject):
        return False
    if criteria.unseen is not None and (("seen" not in flags) != criteria.unseen):
        return False
    if criteria.since or criteria.before:
        day = _date(message).date()
        if criteria.since and day < criteria.since:
            return False
        if criteria.before and day >= criteria.before:
            return False
    if criteria.text:
        try:
            parsed = parse_message(raw)
        except MessageError:
            return False
        haystack = " ".join([*parsed.headers.values(), parsed.body]).lower()
        if criteria.text.lower() not in haystack:
            return False
    return True
