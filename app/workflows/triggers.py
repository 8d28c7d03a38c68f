"""Triggers: the watchers that start a workflow's run when an email or a file arrives.

:class:`TriggerWatchers` keeps one watcher thread per workflow that has a
:class:`~app.api.workflows.Trigger`; whoever runs the schedules (``Schedules`` in
:mod:`app.workflows.service`) starts it, calls :meth:`TriggerWatchers.reload` when the
workflows change, and stops it.

- **Email, IMAP account**: the folder is opened read-only (``EXAMINE``); the first time, its
  ``UIDVALIDITY`` and highest UID are recorded as the baseline, so the messages already there
  never start a run, while those that arrive while Ensemble is off do at the next start. Then
  the watcher waits in ``IDLE`` (checked every ``idle_seconds``, re-issued well within RFC
  2177's 29 minutes), or polls (``NOOP`` and ``UID SEARCH``) every ``poll_seconds`` when the
  server has no ``IDLE`` or it fails. Each new message's headers are read (``BODY.PEEK``: it
  stays unread) and matched against the trigger's sender and subject patterns.
- **Email, local Maildir or mbox account**: the folder is read again when ``watchdog`` sees a
  change in it, and every ``poll_seconds`` anyway; messages are told apart by their Maildir
  key (mbox: their ``Message-ID``).
- **Files**: a ``watchdog`` observer on the folder (not its subfolders). A file that is
  created, changed or moved in is started on once it has stayed the same size and time for
  ``settle_seconds`` (a file being copied starts one run, when the copy is done). Hidden
  files, temporary files (``~``, ``.tmp``, ``.part``, ``.crdownload``…) and Ensemble's own
  temporary files never start one. The baseline is the folder's files (name, time, size) when
  the trigger was set; what changed while Ensemble was off starts a run at the next start.

A run starts through :meth:`Engine.run_triggered` on the engine's loop, with a key naming the
email (account, folder, UIDVALIDITY, UID) or the file (path, time, size) so the same one never
runs twice, a neutral phrase as the trigger's parameter (:data:`EMAIL_VALUE`,
:data:`FILE_VALUE`) and, as outside context, what arrived (sender, subject, Message-ID, how
the email agent opens it; the file's path, size and time).

A watcher never stops the engine: a server that is down, a folder that is missing or a
password that is refused is logged and tried again later (from :data:`RETRY_FIRST` seconds,
doubling up to :data:`RETRY_MAX`). Passwords are read from the keyring when logging in and
are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.header
import email.parser
import email.policy
import email.utils
import fnmatch
import imaplib
import inspect
import logging
import os
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from watchdog.events import FileSystemEvent, FileSystemEventHandler

from app import accounts, secrets
from app.api.workflows import Trigger, WorkflowSpec
from connectors.base import TEMP_SUFFIX

if TYPE_CHECKING:
    import mailbox
    from collections.abc import Callable, Sequence

    from app.settings import Settings
    from connectors.email import EmailAccount

log = logging.getLogger(__name__)

EMAIL_VALUE = "the email that started this run (described below)"
"""What an email trigger's parameter holds: the email itself is described in the context."""
FILE_VALUE = "the file that started this run (described below)"
"""What a file trigger's parameter holds: the file itself is described in the context."""

RETRY_FIRST = 2.0
"""Seconds before a watcher that failed tries again; doubled at each failure."""
RETRY_MAX = 300.0
"""The longest wait between two tries."""
IDLE_MAX = 25 * 60.0
"""The longest one IDLE lasts: RFC 2177 has servers end it after 29 minutes."""
IMAP_TIMEOUT = 30.0
"""Seconds before a silent IMAP server is given up (outside IDLE)."""
RUN_TIMEOUT = 120.0
"""Seconds a watcher waits for the engine's loop to start a run."""
FETCH_BATCH = 50
"""New messages whose headers one FETCH reads."""
_HEADER_ITEM = b"BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)]"
_SKIPPED_SUFFIXES = (
    "~",
    ".tmp",
    ".temp",
    ".part",
    ".partial",
    ".crdownload",
    ".download",
    ".swp",
    TEMP_SUFFIX,
    ".ensemble-undo",
)
_CONNECTION_ERRORS = (OSError, EOFError, imaplib.IMAP4.error)


class TriggerEngine(Protocol):
    """What the watchers need of the engine (:class:`app.engine.Engine` has it)."""

    settings: Settings

    def run_triggered(self, name: str, *, key: str, value: str, context: str) -> str | None:
        """Starts a trigger's run (None: that key ran already)."""
        ...


class TriggerStore(Protocol):
    """What the watchers need of the workflows' store (:class:`app.workflows.store.WorkflowStore`)."""

    def triggered(self) -> Sequence[Any]:
        """The workflow rows (``id``, ``name``, ``spec_json``) that have a trigger."""
        ...

    def trigger_state(self, workflow_id: str) -> dict[str, Any]:
        """What a workflow's trigger recorded ({} at first)."""
        ...

    def set_trigger_state(self, workflow_id: str, state: dict[str, Any]) -> None:
        """Records what a workflow's trigger has seen."""
        ...


class LoopGone(RuntimeError):
    """The engine's loop is closed: the watchers have nothing to start runs on."""


class TriggerWatchers:
    """The watchers of every workflow that has a trigger.

    Args:
        engine: The engine whose :meth:`run_triggered` starts the runs (called on ``loop``) and
            whose ``settings`` hold the email accounts.
        store: The workflows' store: which workflows have triggers, and each trigger's state.
        loop: The engine's loop; by default the loop :meth:`start` runs on.
        poll_seconds: How often a mailbox without IMAP IDLE, a local mailbox and a watched
            folder are read again whatever the notifications say.
        idle_seconds: How long one IMAP IDLE waits before it is renewed (and the folder
            searched again, in case a notification was lost).
        settle_seconds: How long a file must stay unchanged before it starts a run.
        probe: Called from the watchers' threads with (workflow name, what happened) at
            each step (``ready``, ``seen NAME``, ``started KEY``, ``ran already KEY``, ``error
            TEXT``): for the service's log and for tests.
    """

    def __init__(
        self,
        engine: TriggerEngine,
        store: TriggerStore,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        poll_seconds: float = 60.0,
        idle_seconds: float = 60.0,
        settle_seconds: float = 1.0,
        probe: Callable[[str, str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.store = store
        self.loop = loop
        self.poll_seconds = poll_seconds
        self.idle_seconds = idle_seconds
        self.settle_seconds = settle_seconds
        self.probe = probe
        self._watchers: dict[str, _Watcher] = {}
        self._lock = asyncio.Lock()
        self._started = False

    @property
    def watching(self) -> dict[str, str]:
        """Workflow name → its trigger in words, for every workflow being watched."""
        return {w.workflow: w.trigger.describe() for w in self._watchers.values()}

    def watcher(self, workflow_id: str) -> _Watcher | None:
        """The watcher of a workflow, by its id (None when it has none)."""
        return self._watchers.get(workflow_id)

    async def start(self) -> None:
        """Starts a watcher for each workflow that has a trigger (on the engine's loop)."""
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
        self._started = True
        await self.reload()

    async def reload(self) -> None:
        """Starts watchers for new triggers, stops those of removed ones, and restarts those
        whose workflow was renamed or whose trigger changed."""
        async with self._lock:
            if not self._started:
                return
            wanted = await asyncio.to_thread(self._wanted)
            stopping = [
                watcher
                for workflow_id, watcher in self._watchers.items()
                if wanted.get(workflow_id) != (watcher.workflow, watcher.trigger)
            ]
            for watcher in stopping:
                del self._watchers[watcher.workflow_id]
                watcher.stop()
            await asyncio.to_thread(_join, stopping)
            for workflow_id, (name, trigger) in wanted.items():
                if workflow_id not in self._watchers:
                    watcher = _watcher_for(self, workflow_id, name, trigger)
                    self._watchers[workflow_id] = watcher
                    watcher.start()
                    log.info("Watching for workflow “%s”: %s", name, trigger.describe())

    async def stop(self) -> None:
        """Stops every watcher and waits for their threads to end."""
        async with self._lock:
            self._started = False
            stopping = list(self._watchers.values())
            self._watchers.clear()
            for watcher in stopping:
                watcher.stop()
            await asyncio.to_thread(_join, stopping)

    def _wanted(self) -> dict[str, tuple[str, Trigger]]:
        wanted: dict[str, tuple[str, Trigger]] = {}
        for row in self.store.triggered():
            try:
                spec = WorkflowSpec.model_validate_json(row.spec_json)
            except ValueError as exc:
                log.warning("The workflow “%s” cannot be read; its trigger is not watched: %s", row.name, exc)
                continue
            trigger = spec.trigger
            if trigger is None:
                continue
            if trigger.kind == "email" and trigger.account is None and spec.account:
                # The run works in the workflow's account: the email is watched there too.
                trigger = trigger.model_copy(update={"account": spec.account})
            wanted[str(row.id)] = (str(row.name), trigger)
        return wanted

    # Called from the watchers' threads ---------------------------------------------------------

    def _tell(self, workflow: str, what: str) -> None:
        if self.probe is not None:
            try:
                self.probe(workflow, what)
            except Exception:  # a probe's failure must not stop a watcher
                log.exception("A trigger probe failed")

    def _run(self, workflow: str, *, key: str, value: str, context: str) -> str | None:
        """Starts a run on the engine's loop and waits for its mission id (None: ran already).

        Raises:
            LoopGone: The engine's loop is closed.
            TimeoutError: The loop did not start it within :data:`RUN_TIMEOUT`.
            EngineError: The engine refused (the workflow is gone, a parameter is missing…).
        """
        loop = self.loop
        if loop is None or loop.is_closed():
            raise LoopGone("the engine's loop is not running")

        async def call() -> str | None:
            started: Any = self.engine.run_triggered(workflow, key=key, value=value, context=context)
            if inspect.isawaitable(started):
                started = await started
            return None if started is None else str(started)

        try:
            future = asyncio.run_coroutine_threadsafe(call(), loop)
        except RuntimeError as exc:  # closed between the check and the call
            raise LoopGone(str(exc)) from exc
        try:
            return future.result(timeout=RUN_TIMEOUT)
        except TimeoutError:
            future.cancel()
            raise


def _join(watchers: list[_Watcher]) -> None:
    for watcher in watchers:
        watcher.join(timeout=IMAP_TIMEOUT + 5)
        if watcher.is_alive():
            log.warning("The trigger watcher of “%s” did not stop in time", watcher.workflow)


def _watcher_for(owner: TriggerWatchers, workflow_id: str, name: str, trigger: Trigger) -> _Watcher:
    if trigger.kind == "file":
        return FileWatcher(owner, workflow_id, name, trigger)
    return EmailWatcher(owner, workflow_id, name, trigger)


class _Watcher(threading.Thread):
    """One workflow's trigger, watched in a thread of its own that survives every failure."""

    def __init__(self, owner: TriggerWatchers, workflow_id: str, workflow: str, trigger: Trigger) -> None:
        super().__init__(name=f"trigger {workflow}", daemon=True)
        self.owner = owner
        self.workflow_id = workflow_id
        self.workflow = workflow
        self.trigger = trigger
        self.stopping = threading.Event()
        self.ready = threading.Event()
        """Set once the baseline is taken and the watching has begun (again after a failure)."""
        self.problem: str | None = None
        """What went wrong last, until it works again."""

    def run(self) -> None:
        delay = RETRY_FIRST
        while not self.stopping.is_set():
            self.ready.clear()
            try:
                self.watch()
            except LoopGone:
                log.info("The trigger of workflow “%s” stops: the engine's loop is closed", self.workflow)
                break
            except Exception as exc:  # noqa: BLE001 - a watcher must outlive any failure
                if self.stopping.is_set():
                    break
                if self.ready.is_set():
                    delay = RETRY_FIRST  # it had worked: start the waits afresh
                self.problem = _words(exc)
                log.warning(
                    "The trigger of workflow “%s” failed (%s); trying again in %.0f s",
                    self.workflow,
                    self.problem,
                    delay,
                )
                self.owner._tell(self.workflow, f"error {self.problem}")
            if self.stopping.wait(delay):
                break
            delay = min(delay * 2, RETRY_MAX)

    def watch(self) -> None:
        """Watches until :meth:`stop` (returns) or a failure (raises)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Asks the thread to end soon (:meth:`join` waits for it)."""
        self.stopping.set()
        self.interrupt()

    def interrupt(self) -> None:
        """Wakes the thread from a wait that :attr:`stopping` alone does not end."""

    def _is_ready(self) -> None:
        if not self.ready.is_set():
            self.ready.set()
            self.problem = None
            self.owner._tell(self.workflow, "ready")

    def _state(self) -> dict[str, Any]:
        return dict(self.owner.store.trigger_state(self.workflow_id))

    def _save(self, state: dict[str, Any]) -> None:
        self.owner.store.set_trigger_state(self.workflow_id, state)

    def _start_run(self, key: str, value: str, context: str) -> None:
        """Starts one run; a refusal is logged, never raised (the watching goes on)."""
        try:
            mission_id = self.owner._run(self.workflow, key=key, value=value, context=context)
        except LoopGone:
            raise
        except Exception as exc:  # noqa: BLE001 - one run that cannot start must not stop the watching
            log.warning("Workflow “%s” could not start on %s: %s", self.workflow, key, _words(exc))
            self.owner._tell(self.workflow, f"refused {key}: {_words(exc)}")
            return
        if mission_id is None:
            log.info("Workflow “%s” already ran for %s", self.workflow, key)
            self.owner._tell(self.workflow, f"ran already {key}")
        else:
            log.info("Workflow “%s” started (mission %s) by %s", self.workflow, mission_id, key)
            self.owner._tell(self.workflow, f"started {key}")


# ---------------------------------------------------------------------------------------------
# Email
# ---------------------------------------------------------------------------------------------


class EmailWatcher(_Watcher):
    """A mail folder: over IMAP (IDLE, else polling) or in a local Maildir or mbox."""

    def __init__(self, owner: TriggerWatchers, workflow_id: str, workflow: str, trigger: Trigger) -> None:
        super().__init__(owner, workflow_id, workflow, trigger)
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._wake = threading.Event()

    def interrupt(self) -> None:
        self._wake.set()
        with self._client_lock:
            client = self._client
        if client is not None:
            # Ends a blocking IDLE wait at once: the socket reads end of file.
            with contextlib.suppress(OSError, AttributeError):
                client.socket().shutdown(socket.SHUT_RDWR)

    def watch(self) -> None:
        account = self._account()
        if account.kind == "imap":
            self._watch_imap(account)
        else:
            self._watch_local(account)

    def _account(self) -> EmailAccount:
        from connectors.email import EmailAccount

        settings = self.owner.engine.settings
        name = self.trigger.account
        try:
            found = accounts.choose(settings, name, kind="email")
        except accounts.AccountError as exc:
            raise LookupError(str(exc)) from exc
        if not isinstance(found, EmailAccount):
            raise LookupError(  # noqa: TRY004 - no account, rather than a wrong type
                "No email account is set up (or several are, and none is the default): the trigger "
                "needs one; add it in Settings, Accounts (or ensemble account add), or name it in "
                "the trigger."
            )
        return found

    def _matches(self, sender: str, subject: str) -> bool:
        trigger = self.trigger
        if trigger.from_glob:
            pattern = trigger.from_glob.lower()
            candidates = [address.lower() for _, address in email.utils.getaddresses([sender]) if address]
            if not any(fnmatch.fnmatchcase(c, pattern) for c in [*candidates, sender.lower()]):
                return False
        return not trigger.subject_glob or fnmatch.fnmatchcase(subject.lower(), trigger.subject_glob.lower())

    # IMAP ------------------------------------------------------------------------------------

    def _watch_imap(self, account: EmailAccount) -> None:
        folder = self.trigger.folder
        where = f"imap:{account.user or account.address}@{account.imap_host}:{account.imap_port}/{folder}"
        client = _imap_login(account)
        with self._client_lock:
            self._client = client
        try:
            if self.stopping.is_set():
                return
            info = client.select_folder(folder, readonly=True)
            validity = int(info.get(b"UIDVALIDITY", 0))
            state = self._state()
            if state.get("watch") != where or state.get("uidvalidity") != validity:
                if state.get("watch") == where:
                    log.warning(
                        "The folder %s of workflow “%s” was renumbered by the server (UIDVALIDITY); "
                        "the messages there now count as seen",
                        folder,
                        self.workflow,
                    )
                state = {"watch": where, "uidvalidity": validity, "last_uid": _highest_uid(client, info)}
                self._save(state)
            idle = client.has_capability("IDLE")
            while not self.stopping.is_set():
                self._imap_new(client, account, folder, validity, state)
                if self.stopping.is_set():
                    return
                if idle:
                    try:
                        client.idle()
                    except imaplib.IMAP4.abort:
                        raise
                    except imaplib.IMAP4.error as exc:
                        log.info(
                            "IDLE failed on %s (%s); polling every %.0f s",
                            where,
                            exc,
                            self.owner.poll_seconds,
                        )
                        idle = False
                        continue
                    self._is_ready()
                    try:
                        client.idle_check(timeout=min(self.owner.idle_seconds, IDLE_MAX))
                    finally:
                        if not self.stopping.is_set():
                            client.idle_done()
                else:
                    self._is_ready()
                    if self.stopping.wait(self.owner.poll_seconds):
                        return
                    client.noop()
        finally:
            with self._client_lock:
                self._client = None
            _logout(client)

    def _imap_new(
        self, client: Any, account: EmailAccount, folder: str, validity: int, state: dict[str, Any]
    ) -> None:
        last = int(state.get("last_uid", 0))
        uids = sorted(u for u in client.search(["UID", f"{last + 1}:*"]) if u > last)
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            fetched = client.fetch(batch, [_HEADER_ITEM])
            for uid in batch:
                if self.stopping.is_set():
                    return
                data = fetched.get(uid, {})
                head = next((v for k, v in data.items() if k.startswith(b"BODY[HEADER")), b"")
                fields = _headers(head if isinstance(head, bytes) else b"")
                self.owner._tell(self.workflow, f"seen {folder}:{validity}:{uid}")
                if self._matches(fields["from"], fields["subject"]):
                    self._start_run(
                        f"email:{account.name}:{folder}:{validity}:{uid}",
                        EMAIL_VALUE,
                        _email_context(
                            account.name,
                            folder,
                            fields,
                            f"UID {uid} (UIDVALIDITY {validity})",
                            f"{folder}:{validity}:{uid}",
                        ),
                    )
                state["last_uid"] = uid
                self._save(state)

    # Local mail files -------------------------------------------------------------------------

    def _watch_local(self, account: EmailAccount) -> None:
        from watchdog.observers import Observer

        from connectors.email._local import LocalStore

        folder = self.trigger.folder
        store = LocalStore(account)  # checks that the mailbox is there
        where = f"{account.kind}:{store.path}/{folder}"
        state = self._state()
        first = state.get("watch") != where
        seen: set[str] = set() if first else set(state.get("seen", []))
        observer = Observer()
        handler = _Wake(self._wake)
        for place in _local_places(store.path, account.kind, folder):
            if place.is_dir():
                observer.schedule(handler, str(place), recursive=False)
        observer.start()
        try:
            signature: tuple[int, int] | None = None
            while not self.stopping.is_set():
                self._wake.clear()
                box = store._open(folder)  # the connector's own folder naming
                try:
                    if account.kind == "mbox":
                        file = getattr(box, "_path", None)
                        now = _stat(Path(file)) if isinstance(file, str) else None
                        if now is None or now != signature:
                            signature = now
                            seen = self._local_new(box, account, folder, where, seen, first)
                    else:
                        seen = self._local_new(box, account, folder, where, seen, first)
                finally:
                    box.close()
                if first:
                    first = False
                self._save({"watch": where, "seen": sorted(seen)})
                self._is_ready()
                self._wake.wait(self.owner.poll_seconds)
        finally:
            observer.stop()
            observer.join(timeout=5)

    def _local_new(
        self,
        box: mailbox.Mailbox[Any],
        account: EmailAccount,
        folder: str,
        where: str,
        seen: set[str],
        first: bool,
    ) -> set[str]:
        """Starts runs for the messages not in ``seen`` (none the first time); returns the
        messages seen now (those still there)."""
        present: set[str] = set()
        for key in list(box.keys()):
            if self.stopping.is_set():
                return seen
            raw_head = _local_head(box, key)
            fields = _headers(raw_head)
            ident = (
                str(key) if account.kind == "maildir" else (fields["message-id"] or f"{len(raw_head)}:{key}")
            )
            present.add(ident)
            if first or ident in seen:
                continue
            self.owner._tell(self.workflow, f"seen {folder}:local:{key}")
            if self._matches(fields["from"], fields["subject"]):
                self._start_run(
                    f"email:{account.name}:{folder}:local:{ident}",
                    EMAIL_VALUE,
                    _email_context(
                        account.name, folder, fields, f"local message {key}", f"{folder}:local:{key}"
                    ),
                )
            seen = {*seen, ident}
            self._save({"watch": where, "seen": sorted(seen)})
        return present


class _Wake(FileSystemEventHandler):
    """A watchdog handler that only wakes a waiting thread."""

    def __init__(self, wake: threading.Event) -> None:
        super().__init__()
        self.wake = wake

    def dispatch(self, event: FileSystemEvent) -> None:
        self.wake.set()


def _local_places(root: Path, kind: str, folder: str) -> list[Path]:
    """Where changes to a local folder show: a Maildir's ``new`` and ``cur``; an mbox's folder."""
    if kind == "maildir":
        base = root if folder.upper() == "INBOX" else root / f".{folder}"
        return [base / "new", base / "cur"]
    return [root.parent if root.is_file() else root]


def _local_head(box: mailbox.Mailbox[Any], key: Any) -> bytes:
    """A local message's header block (without reading the rest of a Maildir file)."""
    try:
        handle = box.get_file(key)
    except (KeyError, OSError):
        return b""
    try:
        lines: list[bytes] = []
        size = 0
        for line in handle:
            if line in (b"\n", b"\r\n") or size > 256_000:
                break
            lines.append(line)
            size += len(line)
        return b"".join(lines)
    finally:
        handle.close()


def _imap_login(account: EmailAccount) -> Any:
    """A logged-in IMAP connection (the password from the keyring, used here only)."""
    from imapclient import IMAPClient  # type: ignore[import-untyped]

    if not account.imap_host:
        raise LookupError(f"The account '{account.name}' has no IMAP server set.")
    password = secrets.get_secret(accounts.secret_entry(account.name))
    if not password:
        raise LookupError(
            f"No password of the email account '{account.name}' is in the system's password store; "
            "remove the account and add it again in Settings, Accounts (or ensemble account add)."
        )
    context = ssl.create_default_context()
    client = IMAPClient(
        account.imap_host,
        port=account.imap_port,
        ssl=account.security == "tls",
        ssl_context=context if account.security == "tls" else None,
        timeout=IMAP_TIMEOUT,
    )
    try:
        if account.security == "starttls":
            client.starttls(context)
        client.login(account.user or account.address, password)
    except BaseException:
        # Any failure (a refused login, the watcher stopped mid-way): the connection is closed,
        # not leaked, and the same error goes on to the watcher's retry.
        _logout(client)
        raise
    return client


def _logout(client: Any) -> None:
    try:
        client.logout()
    except (*_CONNECTION_ERRORS, AttributeError):
        with contextlib.suppress(*_CONNECTION_ERRORS, AttributeError):
            client.shutdown()


def _highest_uid(client: Any, info: dict[bytes, Any]) -> int:
    """The highest UID in the selected folder now (0 when it is empty)."""
    if b"UIDNEXT" in info:
        return max(int(info[b"UIDNEXT"]) - 1, 0)
    if not int(info.get(b"EXISTS", 0)):
        return 0
    found = client.search(["UID", "*"])
    return max((int(u) for u in found), default=0)


def _decoded(value: str) -> str:
    try:
        text = str(email.header.make_header(email.header.decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        text = value
    return " ".join(text.split())


def _headers(head: bytes) -> dict[str, str]:
    """From, To, Subject, Date and Message-ID of a header block, readable, one line each."""
    message = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)
    fields = {}
    for name in ("from", "to", "subject", "date", "message-id"):
        values = message.get_all(name) or []
        fields[name] = ", ".join(_decoded(str(v)) for v in values)[:500]
    return fields


def _email_context(account: str, folder: str, fields: dict[str, str], number: str, message_id: str) -> str:
    """What the lead is told of the email that started a run (outside content)."""
    return "\n".join(
        [
            "The email that started this run:",
            f"Account: {account}",
            f"Folder: {folder}",
            f"From: {fields['from']}",
            f"To: {fields['to']}",
            f"Subject: {fields['subject']}",
            f"Date: {fields['date']}",
            f"Message-ID: {fields['message-id'] or '(none)'}",
            f"Message: {number}",
            f"An email agent opens it with email_read and the id “{message_id}” (or finds it with "
            f"email_search in the folder “{folder}”).",
        ]
    )


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


class FileWatcher(_Watcher):
    """A folder (not its subfolders): new or changed files, once each is stable."""

    def __init__(self, owner: TriggerWatchers, workflow_id: str, workflow: str, trigger: Trigger) -> None:
        super().__init__(owner, workflow_id, workflow, trigger)
        self.folder = Path(trigger.folder).expanduser().resolve()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._touched: set[str] = set()  # names the observer reported since the last look

    def interrupt(self) -> None:
        self._wake.set()

    def wanted(self, name: str) -> bool:
        """Whether a file of that name may start a run."""
        lower = name.lower()
        if name.startswith((".", "~$")) or lower.endswith(_SKIPPED_SUFFIXES):
            return False
        return not self.trigger.glob or fnmatch.fnmatchcase(lower, self.trigger.glob.lower())

    def notice(self, path: str) -> None:
        """Called by the observer: a file of the folder was created, changed or moved in."""
        where = Path(path)
        if where.parent != self.folder or not self.wanted(where.name):
            return
        with self._lock:
            self._touched.add(where.name)
        self._wake.set()

    def _listing(self) -> dict[str, tuple[int, int]]:
        found: dict[str, tuple[int, int]] = {}
        with os.scandir(self.folder) as entries:
            for entry in entries:
                if not self.wanted(entry.name):
                    continue
                try:
                    if entry.is_file():
                        info = entry.stat()
                        found[entry.name] = (info.st_mtime_ns, info.st_size)
                except OSError:
                    continue
        return found

    def watch(self) -> None:
        from watchdog.observers import Observer

        if not self.folder.is_dir():
            raise FileNotFoundError(f"The watched folder {self.folder} does not exist")
        where = f"file:{self.folder}"
        state = self._state()
        files: dict[str, tuple[int, int]]
        if state.get("watch") != where:
            files = self._listing()
            self._save({"watch": where, "files": {n: list(v) for n, v in files.items()}})
            pending: dict[str, tuple[tuple[int, int] | None, float]] = {}
        else:
            files = {n: (int(v[0]), int(v[1])) for n, v in dict(state.get("files", {})).items()}
            now = time.monotonic()
            listing = self._listing()
            pending = {n: (None, now) for n, v in listing.items() if files.get(n) != v}
            pending.update({n: (None, now) for n in files if n not in listing})
        observer = Observer()
        observer.schedule(_FileEvents(self), str(self.folder), recursive=False)
        observer.start()
        try:
            self._is_ready()
            last_scan = time.monotonic()
            settle = self.owner.settle_seconds
            while not self.stopping.is_set():
                tick = max(settle / 4, 0.02) if pending else self.owner.poll_seconds
                self._wake.wait(tick)
                self._wake.clear()
                if self.stopping.is_set():
                    return
                if not observer.is_alive() or not self.folder.is_dir():
                    raise FileNotFoundError(f"The watched folder {self.folder} went away")
                now = time.monotonic()
                with self._lock:
                    touched, self._touched = self._touched, set()
                for name in touched:
                    seen = pending.get(name)
                    pending[name] = (seen[0] if seen else None, now)
                    self.owner._tell(self.workflow, f"seen {name}")
                if now - last_scan >= self.owner.poll_seconds:
                    # A fallback for lost notifications (network folders): compare with the record.
                    last_scan = now
                    listing = self._listing()
                    for name in {*listing, *files}:
                        if listing.get(name) != files.get(name) and name not in pending:
                            pending[name] = (None, now)
                for name, (last, since) in list(pending.items()):
                    current = _stat(self.folder / name)
                    if current is None:
                        del pending[name]
                        if files.pop(name, None) is not None:
                            self._record(where, files)
                    elif current != last:
                        pending[name] = (current, now)  # changed: wait for it to settle
                    elif now - since >= settle:
                        del pending[name]
                        if files.get(name) != current:
                            files[name] = current
                            self._fire(name, current)
                            self._record(where, files)
        finally:
            observer.stop()
            observer.join(timeout=5)

    def _record(self, where: str, files: dict[str, tuple[int, int]]) -> None:
        self._save({"watch": where, "files": {n: list(v) for n, v in files.items()}})

    def _fire(self, name: str, current: tuple[int, int]) -> None:
        mtime_ns, size = current
        path = self.folder / name
        when = dt.datetime.fromtimestamp(mtime_ns / 1e9).astimezone()
        context = "\n".join(
            [
                "The file that started this run:",
                f"Path: {path}",
                f"Name: {name}",
                f"Size: {size:,} bytes",
                f"Modified: {when.isoformat(timespec='seconds')}",
            ]
        )
        self._start_run(f"file:{path}:{mtime_ns}:{size}", FILE_VALUE, context)


class _FileEvents(FileSystemEventHandler):
    """A watchdog handler that hands a :class:`FileWatcher` the names of the files that changed."""

    def __init__(self, watcher: FileWatcher) -> None:
        super().__init__()
        self.watcher = watcher

    def dispatch(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type in ("opened", "closed_no_write", "attrib"):
            return
        for path in (event.src_path, event.dest_path):
            if path:
                self.watcher.notice(os.fsdecode(path))


def _stat(path: Path) -> tuple[int, int] | None:
    """A regular file's (mtime_ns, size), or None when it is not (or no longer) there."""
    try:
        info = path.stat()
    except OSError:
        return None
    if not path.is_file():
        return None
    return info.st_mtime_ns, info.st_size


def _words(exc: BaseException) -> str:
    """An error in a few words for the log (no secret is ever in these)."""
    first = exc.args[0] if len(exc.args) == 1 else None
    text = first.decode("utf-8", "replace") if isinstance(first, bytes) else str(exc)
    text = " ".join(text.split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "…"
