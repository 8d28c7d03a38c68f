"""An IMAP mailbox through imapclient: one connection per mission and account, reconnected once
when the server drops it, every failure turned into a clear :class:`ToolError`.

Search runs on the server (``UID SEARCH``); the summaries of the matching page are fetched in
batches of :data:`FETCH_BATCH` UIDs with one ``UID FETCH`` each, asking for the few header
fields a summary shows, the body structure (for ``has_attachments``) and the first bytes of
the text (for the snippet), never whole messages.
"""

from __future__ import annotations

import email
import imaplib
import ssl
import threading
from typing import TYPE_CHECKING, Any, TypeVar

from imapclient import IMAPClient  # type: ignore[import-untyped]
from imapclient.exceptions import LoginError  # type: ignore[import-untyped]

from connectors.base import ToolError
from connectors.email._message import quick_headers, quick_snippet
from connectors.email._store import (
    MAX_MESSAGE_BYTES,
    PENDING,
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
    from collections.abc import Callable

    from connectors.email._account import EmailAccount

T = TypeVar("T")

FETCH_BATCH = 500
"""UIDs per FETCH command when summarising search results."""
SNIPPET_BYTES = 2048
"""How much of each message's text a search fetches to make its snippet."""
TIMEOUT = 30.0
"""Seconds before a silent server is given up."""

_HEADER_FIELDS = b"FROM TO CC SUBJECT DATE MESSAGE-ID CONTENT-TYPE CONTENT-TRANSFER-ENCODING"
SUMMARY_ITEMS = [
    b"FLAGS",
    b"BODYSTRUCTURE",
    b"BODY.PEEK[HEADER.FIELDS (" + _HEADER_FIELDS + b")]",
    b"BODY.PEEK[TEXT]<0.%d>" % SNIPPET_BYTES,
]
"""What a search fetches per message (the benchmark's raw baseline fetches the same)."""

_ROLE_FLAGS = {b"\\Drafts": "drafts", b"\\Sent": "sent", b"\\Trash": "trash", b"\\Junk": "junk"}
_ROLE_NAMES = {
    "drafts": ("Drafts", "INBOX.Drafts", "Draft"),
    "sent": ("Sent", "INBOX.Sent", "Sent Items", "Sent Messages", "Sent Mail"),
}
# imaplib raises these when the connection breaks; all are worth one reconnection.
_CONNECTION_LOST = (imaplib.IMAP4.abort, OSError, EOFError)


def _decode(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


_ATTACHMENT_WORDS = frozenset({b"attachment", b"ATTACHMENT", b"Attachment"})
_NAME_WORDS = frozenset({b"name", b"NAME", b"Name", b"filename", b"FILENAME", b"Filename"})


def _has_attachment(structure: object) -> bool:
    """Whether a BODYSTRUCTURE has a part marked as an attachment or carrying a file name.

    It runs for every search result, so it walks the nested tuples with a stack, not recursion.
    """
    stack = [structure]
    seen = 0
    while stack:
        node = stack.pop()
        seen += 1
        if not isinstance(node, tuple | list) or seen > 2000:
            continue
        if node and isinstance(node[0], bytes) and node[0] in _ATTACHMENT_WORDS:
            return True
        for item in node:
            if isinstance(item, tuple | list):
                stack.append(item)
            elif isinstance(item, bytes) and item in _NAME_WORDS:
                return True
    return False


class ImapStore:
    """A mailbox on an IMAP server; see :class:`connectors.email._store.Store`.

    Args:
        account: Where the server is and who logs in.
        password: The account's password (held in memory only).
    """

    def __init__(self, account: EmailAccount, password: str) -> None:
        self.account = account
        self._password = password
        self._client: Any = None
        self._selected: tuple[str, int] | None = None
        self._roles: dict[str, str] | None = None
        self._permanent: dict[str, tuple[bytes, ...]] = {}
        self._lock = threading.Lock()

    # Connection ---------------------------------------------------------------------------

    def _connect(self) -> Any:
        account = self.account
        where = f"{account.imap_host}:{account.imap_port}"
        if not account.imap_host:
            raise ToolError(f"The account '{account.name}' has no IMAP server set.")
        context = ssl.create_default_context()
        try:
            client = IMAPClient(
                account.imap_host,
                port=account.imap_port,
                ssl=account.security == "tls",
                ssl_context=context if account.security == "tls" else None,
                timeout=TIMEOUT,
            )
        except (OSError, imaplib.IMAP4.error) as exc:
            raise ToolError(f"Cannot reach the IMAP server {where}: {exc}.") from exc
        try:
            if account.security == "starttls":
                client.starttls(context)
            client.login(account.user or account.address, self._password)
        except LoginError as exc:
            _logout(client)
            raise ToolError(
                f"The IMAP server {where} refused the login of '{account.user or account.address}': "
                f"{_decode(exc)}. Check the password (Gmail and Outlook need an app password)."
            ) from exc
        except (OSError, imaplib.IMAP4.error) as exc:
            _logout(client)
            raise ToolError(f"Cannot log in to the IMAP server {where}: {exc}.") from exc
        return client

    def _run(self, fn: Callable[[Any], T], *, retry: bool = True) -> T:
        """Runs ``fn(client)`` under the lock, reconnecting once if the connection was lost.

        Args:
            fn: The IMAP work.
            retry: Whether running it again after a lost connection is safe (not for APPEND,
                which could store a message twice).
        """
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._client is None:
                        self._client = self._connect()
                        self._selected = None
                    return fn(self._client)
                except _CONNECTION_LOST as exc:
                    self._drop()
                    if attempt == 2 or not retry:
                        raise ToolError(
                            f"The connection to the IMAP server {self.account.imap_host} was lost "
                            f"({type(exc).__name__}: {exc}), and reconnecting did not help. Nothing was "
                            "changed by this call; try again later."
                            if retry
                            else f"The connection to the IMAP server {self.account.imap_host} was lost "
                            f"({exc}) during the call; it may or may not have been carried out."
                        ) from exc
                except imaplib.IMAP4.error as exc:
                    raise ToolError(f"The IMAP server said: {_decode(exc)}") from exc
            raise AssertionError("unreachable")

    def _drop(self) -> None:
        client, self._client, self._selected = self._client, None, None
        if client is not None:
            _logout(client)

    def close(self) -> None:
        """Logs out."""
        with self._lock:
            self._drop()

    # Folders -------------------------------------------------------------------------------

    def _select(self, client: Any, folder: str) -> int:
        """Selects a folder; returns its UIDVALIDITY."""
        if self._selected is not None and self._selected[0] == folder:
            return self._selected[1]
        try:
            info = client.select_folder(folder)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as exc:
            names = ", ".join(f["name"] for f in self._folders(client))
            raise ToolError(
                f"There is no folder '{folder}' ({_decode(exc)}). The folders are: {names}."
            ) from exc
        validity = int(info.get(b"UIDVALIDITY", 0))
        self._selected = (folder, validity)
        self._permanent[folder] = tuple(info.get(b"PERMANENTFLAGS", ()))
        return validity

    def _folders(self, client: Any) -> list[dict[str, Any]]:
        found = []
        for flags, _delimiter, name in client.list_folders():
            if b"\\Noselect" in flags or b"\\NonExistent" in flags:
                continue
            role = next((r for f, r in _ROLE_FLAGS.items() if f in flags), None)
            if name.upper() == "INBOX":
                role = "inbox"
            found.append({"name": name, "role": role})
        return found

    def folders(self) -> list[dict[str, Any]]:
        return self._run(self._folders)

    def _role_folder(self, client: Any, role: Role) -> str:
        if self._roles is None:
            self._roles = {f["role"]: f["name"] for f in reversed(self._folders(client)) if f["role"]}
        if role in self._roles:
            return self._roles[role]
        names = {f["name"].lower(): f["name"] for f in self._folders(client)}
        for candidate in _ROLE_NAMES[role]:
            if candidate.lower() in names:
                self._roles[role] = names[candidate.lower()]
                return self._roles[role]
        # No such folder: create the usual one, as mail programs do.
        name = _ROLE_NAMES[role][0]
        client.create_folder(name)
        self._roles[role] = name
        return name

    def _uid(self, client: Any, message_id: str) -> tuple[str, int]:
        folder, validity, uid = split_id(message_id)
        if not uid.isdigit() or not validity.isdigit():
            raise ToolError(f"'{message_id}' is not an id of this IMAP account; search again.")
        current = self._select(client, folder)
        if current != int(validity):
            raise ToolError(
                f"The folder '{folder}' was renumbered by the server since '{message_id}' was found; "
                "search again to get current ids."
            )
        return folder, int(uid)

    # Reading -------------------------------------------------------------------------------

    def search(self, folder: str, criteria: Criteria, offset: int, limit: int) -> Page:
        def work(client: Any) -> Page:
            validity = self._select(client, folder)
            query = _criteria(criteria)
            charset = "UTF-8" if any(isinstance(q, str) and not q.isascii() for q in query) else None
            uids = sorted(client.search(query, charset=charset), reverse=True)
            page = uids[offset : offset + limit]
            summaries: list[dict[str, Any]] = []
            for start in range(0, len(page), FETCH_BATCH):
                batch = page[start : start + FETCH_BATCH]
                fetched = client.fetch(batch, SUMMARY_ITEMS)
                summaries.extend(
                    _summary(folder, validity, uid, fetched[uid]) for uid in batch if uid in fetched
                )
            return Page(total=len(uids), messages=summaries)

        return self._run(work)

    def fetch(self, message_id: str) -> bytes:
        def work(client: Any) -> bytes:
            folder, uid = self._uid(client, message_id)
            sizes = client.fetch([uid], [b"RFC822.SIZE"])
            if uid not in sizes:
                raise ToolError(f"There is no message '{message_id}' in '{folder}' (deleted or moved?).")
            size = int(sizes[uid].get(b"RFC822.SIZE", 0))
            if size > MAX_MESSAGE_BYTES:
                raise ToolError(
                    f"Message '{message_id}' is {size / 1e6:.1f} MB, more than the "
                    f"{MAX_MESSAGE_BYTES / 1e6:.0f} MB Ensemble reads."
                )
            data = client.fetch([uid], [b"BODY.PEEK[]"]).get(uid, {})
            raw = data.get(b"BODY[]")
            if not isinstance(raw, bytes):
                raise ToolError(f"The server sent no content for message '{message_id}'.")
            return raw

        return self._run(work)

    def sent_state(self, rfc_message_id: str) -> SentState:
        def work(client: Any) -> SentState:
            folder = self._role_folder(client, "sent")
            self._select(client, folder)
            uids = client.search(["HEADER", "Message-ID", rfc_message_id])
            if not uids:
                # Without our keyword a copy could not have been marked pending before the
                # send, so "no copy" would prove nothing.
                return "absent" if self._keywords(folder) else "unknown"
            flags = client.get_flags(uids)
            return "pending" if any(PENDING in f for f in flags.values()) else "sent"

        return self._run(work)

    def _keywords(self, folder: str) -> bool:
        """Whether a selected folder keeps keywords of our own (PERMANENTFLAGS has ``\\*``)."""
        return b"\\*" in self._permanent.get(folder, ())

    def store_pending(self, raw: bytes) -> str:
        def work(client: Any) -> str:
            folder = self._role_folder(client, "sent")
            self._select(client, folder)
            flags = [b"\\Seen", PENDING] if self._keywords(folder) else [b"\\Seen"]
            client.append(folder, raw, flags=flags)
            return folder

        return self._run(work, retry=False)

    def clear_pending(self, rfc_message_id: str) -> None:
        def work(client: Any) -> None:
            self._select(client, self._role_folder(client, "sent"))
            uids = client.search(["HEADER", "Message-ID", rfc_message_id])
            if uids:
                client.remove_flags(uids, [PENDING])

        # Removing a keyword twice is harmless, so a lost connection may be retried.
        self._run(work)

    def discard_pending(self, rfc_message_id: str) -> None:
        def work(client: Any) -> None:
            self._select(client, self._role_folder(client, "sent"))
            uids = client.search(["HEADER", "Message-ID", rfc_message_id, "KEYWORD", PENDING.decode()])
            if uids:
                client.delete_messages(uids)
                client.uid_expunge(uids) if client.has_capability("UIDPLUS") else client.expunge()

        self._run(work, retry=False)

    def contains(self, role: Role, rfc_message_id: str) -> bool:
        def work(client: Any) -> bool:
            self._select(client, self._role_folder(client, role))
            return bool(client.search(["HEADER", "Message-ID", rfc_message_id]))

        return self._run(work)

    def wrote_to(self, addresses: list[str]) -> set[str]:
        def work(client: Any) -> set[str]:
            self._select(client, self._role_folder(client, "sent"))
            found: set[str] = set()
            for address in addresses:
                # SEARCH TO matches a substring: the newest matches' headers are read to be sure.
                uids = sorted(client.search(["OR", "TO", address, "OR", "CC", address, "BCC", address]))
                if not uids:
                    continue
                fetched = client.fetch(uids[-20:], [b"BODY.PEEK[HEADER.FIELDS (TO CC BCC)]"])
                for data in fetched.values():
                    raw = next((v for k, v in data.items() if k.startswith(b"BODY[HEADER")), b"")
                    if isinstance(raw, bytes) and address in recipients(email.message_from_bytes(raw)):
                        found.add(address)
                        break
            return found

        return self._run(work)

    def state(self, message_id: str) -> MessageState:
        def work(client: Any) -> MessageState:
            folder, uid = self._uid(client, message_id)
            data = client.fetch([uid], [b"FLAGS", _MESSAGE_ID_ITEM]).get(uid)
            if data is None:
                raise ToolError(f"There is no message '{message_id}' in '{folder}' (deleted or moved?).")
            flags = data.get(b"FLAGS", ())
            return MessageState(_message_id_of(data), b"\\Seen" in flags, b"\\Flagged" in flags)

        return self._run(work)

    def find(self, folder: str, rfc_message_id: str) -> str | None:
        def work(client: Any) -> str | None:
            validity = self._select(client, folder)
            charset = None if rfc_message_id.isascii() else "UTF-8"
            # SEARCH HEADER matches a substring: the candidates' headers are read to be sure.
            uids = sorted(client.search(["HEADER", "Message-ID", rfc_message_id], charset=charset))
            if not uids:
                return None
            fetched = client.fetch(uids[-20:], [_MESSAGE_ID_ITEM])
            for uid in reversed(uids[-20:]):
                data = fetched.get(uid)
                if data is not None and _message_id_of(data) == rfc_message_id:
                    return f"{folder}:{validity}:{uid}"
            return None

        return self._run(work)

    # Writing -------------------------------------------------------------------------------

    def append(self, role: Role, raw: bytes) -> str:
        flags = [b"\\Draft"] if role == "drafts" else [b"\\Seen"]

        def work(client: Any) -> str:
            folder = self._role_folder(client, role)
            client.append(folder, raw, flags=flags)
            return folder

        return self._run(work, retry=False)

    def move(self, message_id: str, folder: str) -> None:
        def work(client: Any) -> None:
            source, uid = self._uid(client, message_id)
            if not client.folder_exists(folder):
                names = ", ".join(f["name"] for f in self._folders(client))
                raise ToolError(f"There is no folder '{folder}'. The folders are: {names}.")
            if source == folder:
                return
            if client.has_capability("MOVE"):
                client.move([uid], folder)
            else:
                client.copy([uid], folder)
                client.delete_messages([uid])
                client.uid_expunge([uid]) if client.has_capability("UIDPLUS") else client.expunge()

        self._run(work, retry=False)

    def mark(self, message_id: str, seen: bool | None, flagged: bool | None) -> None:
        def work(client: Any) -> None:
            _folder, uid = self._uid(client, message_id)
            for flag, value in ((b"\\Seen", seen), (b"\\Flagged", flagged)):
                if value is True:
                    client.add_flags([uid], [flag])
                elif value is False:
                    client.remove_flags([uid], [flag])

        # Setting a flag twice is harmless, so a lost connection may be retried.
        self._run(work)


def _logout(client: Any) -> None:
    try:
        client.logout()
    except (*_CONNECTION_LOST, imaplib.IMAP4.error):
        try:
            client.shutdown()
        except (*_CONNECTION_LOST, imaplib.IMAP4.error):
            return


def _criteria(criteria: Criteria) -> list[Any]:
    query: list[Any] = []
    for key, value in (
        ("FROM", criteria.from_),
        ("TO", criteria.to),
        ("SUBJECT", criteria.subject),
        ("TEXT", criteria.text),
    ):
        if value:
            query += [key, value]
    if criteria.since:
        query += ["SINCE", criteria.since]
    if criteria.before:
        query += ["BEFORE", criteria.before]
    if criteria.unseen is True:
        query.append("UNSEEN")
    elif criteria.unseen is False:
        query.append("SEEN")
    return query or ["ALL"]


def _item(data: dict[bytes, Any], prefix: bytes) -> bytes:
    for key, value in data.items():
        if key.startswith(prefix):
            return value if isinstance(value, bytes) else b""
    return b""


_MESSAGE_ID_ITEM = b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"


def _message_id_of(data: dict[bytes, Any]) -> str | None:
    """The ``Message-ID`` of a message whose :data:`_MESSAGE_ID_ITEM` was fetched, or None."""
    return rfc_id(quick_headers(_item(data, b"BODY[HEADER")).get("message-id", ""))


def _summary(folder: str, validity: int, uid: int, data: dict[bytes, Any]) -> dict[str, Any]:
    head = _item(data, b"BODY[HEADER")
    text = _item(data, b"BODY[TEXT]")
    fields = quick_headers(head)
    flags = data.get(b"FLAGS", ())
    return {
        "id": f"{folder}:{validity}:{uid}",
        "folder": folder,
        "from": fields.get("from", ""),
        "to": fields.get("to", ""),
        "cc": fields.get("cc", ""),
        "subject": fields.get("subject", ""),
        "date": iso_date(fields.get("date", "")),
        "snippet": quick_snippet(fields, head, text),
        "has_attachments": _has_attachment(data.get(b"BODYSTRUCTURE")),
        "seen": b"\\Seen" in flags,
        "flagged": b"\\Flagged" in flags,
    }
