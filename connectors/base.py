"""What every tool an agent can call is made of: its declaration, its effect, its preview.

A tool is a typed async function plus a declaration in one place: a name, a description
for the model, a pydantic model of its arguments (whose JSON schema is what the model
sees), and an *effect*:

- ``read``: looks at data and changes nothing.
- ``local``: changes the person's own data, reversibly (a workbook in the workspace,
  a draft). It can be undone from the backup it leaves.
- ``external``: reaches another person or system and cannot be taken back.

The engine's approval gate holds every ``local`` and ``external`` call until a person or a
rule decides; this module knows nothing of the gate. Connectors still refuse by themselves
what is out of scope, such as a path outside the workspace.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import ipaddress
import os
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar
from urllib.parse import urlsplit

from filelock import FileLock, Timeout
from pydantic import BaseModel, ConfigDict, ValidationError

from app.errors import EnsembleError

Effect = Literal["read", "local", "external"]
"""How far a tool's call reaches: see the module docstring."""

ArgsT = TypeVar("ArgsT", bound=BaseModel)


class ToolError(EnsembleError):
    """A tool call that could not be carried out, with a message for the model and the person.

    The message is what the model receives as the tool result (marked as an error), so it
    says what went wrong and, where it can, what to do instead. Raising it must leave
    nothing half-done.
    """


DestinationKind = Literal["address", "host"]
"""An email address, or a host name (or IP address) on the network."""


@dataclass(frozen=True)
class Destination:
    """Somewhere an action's data goes: a recipient, a site, or a link in outgoing content.

    Before an action is decided the gate asks where each destination came from: only one the
    person named (or already corresponds with) may be decided by a rule.

    Attributes:
        kind: ``address`` or ``host``.
        value: Normalised: an address lower-cased without display name, quotes or brackets
            (``bob@example.com``); a host lower-cased without port, user or trailing dot
            (``portal.example.com``, ``127.0.0.2``).
        role: What it is to the action, in words for the card: ``"recipient"``, ``"site"``
            (a page opened or a request sent there), ``"link"`` (a link in the content).
    """

    kind: DestinationKind
    value: str
    role: str = "recipient"

    @property
    def label(self) -> str:
        """How the card names it, e.g. ``"the address bob@example.com"``."""
        what = {"address": "the address", "host": "the site"}[self.kind]
        if self.role == "link":
            what = "a link to"
        return f"{what} {self.value}"


def normalise_address(text: str) -> str | None:
    """An email address as the gate compares it, or None if the text holds none.

    Display names, angle brackets, quotes and case are stripped: ``"'Bob' <Bob@Example.com>"``
    and ``"'bob@example.com'"`` both give ``bob@example.com``.
    """
    _name, address = email.utils.parseaddr(text.strip())
    address = (address or text).strip().strip("'\"`<>()[]{} \t\r\n").rstrip(".,;:")
    local, at, domain = address.rpartition("@")
    local = local.strip("'\"` ")
    domain = domain.strip("'\"` ").rstrip(".")
    if not at or not local or not domain or any(c.isspace() for c in local + domain):
        return None
    return f"{local}@{domain}".lower()


def normalise_host(text: str) -> str | None:
    """A host as the gate compares it (lower-case, no port, user or trailing dot), or None.

    Accepts a bare host (``Example.COM.``), ``host:port`` or a URL with or without a scheme.
    """
    value = text.strip().strip("'\"`<>()[] ")
    if not value:
        return None
    if "://" not in value:
        value = "//" + value
    try:
        host = urlsplit(value).hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.lower().rstrip(".")
    return host or None


_FILE_SUFFIXES = frozenset(
    "7z avi bak bmp csv doc docm docx eml exe gif gz htm html ics ini jpeg jpg js json log md "
    "mbox mov mp3 mp4 msg odp ods odt pdf png ppt pptx py rar rtf svg tar tif tiff tmp txt vcf "
    "wav webp xls xlsb xlsm xlsx xml yaml yml zip".split()
)
"""Name endings that make ``invoices.xlsx`` a file name, not a site."""
_SCHEME_URL = re.compile(r"(?i)\b[a-z][a-z0-9+.-]{1,15}://[^\s<>\"'`]+")
_BARE_HOST = re.compile(
    r"(?i)(?<![\w@.-])((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,23}|"
    r"\d{1,3}(?:\.\d{1,3}){3})(?::\d{1,5})?(?=[/?#:\s\"'<>),;]|\.(?:\s|$)|$)"
)
_ADDRESS = re.compile(r"[\w.+'%-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def link_hosts(text: str) -> set[str]:
    """The hosts of the links in a text, with or without a scheme (``evil.example/x?y``).

    A bare name counts when it looks like a host: labels joined by dots ending in a
    top-level name that is not a common file ending (``invoices.xlsx`` is a file), or an IPv4
    address. Hosts of email addresses are not links.
    """
    found: set[str] = set()
    for match in _SCHEME_URL.finditer(text):
        host = normalise_host(match.group(0))
        if host:
            found.add(host)
    without_addresses = _ADDRESS.sub(" ", _SCHEME_URL.sub(" ", text))
    for match in _BARE_HOST.finditer(without_addresses):
        name = match.group(1).lower().rstrip(".")
        if name[0].isdigit() and name.replace(".", "").isdigit():
            try:
                ipaddress.ip_address(name)
            except ValueError:
                continue
        elif name.rsplit(".", 1)[-1] in _FILE_SUFFIXES:
            continue
        found.add(name)
    return found


def addresses_in(text: str) -> set[str]:
    """The email addresses written in a text, normalised."""
    found = set()
    for match in _ADDRESS.finditer(text):
        address = normalise_address(match.group(0))
        if address:
            found.add(address)
    return found


def host_matches(host: str, vouched: str) -> bool:
    """Whether ``host`` is ``vouched`` or one of its subdomains (``a.example.com`` of ``example.com``)."""
    return host == vouched or host.endswith("." + vouched)


class PreviewDetail(BaseModel):
    """What a preview shows, typed by its kind: each connector declares one model per kind.

    A subclass sets :attr:`kind` (the name a client maps to a widget) and declares its
    fields; fields it does not declare are kept too (``extra="allow"``), so a client that
    does not know a kind still shows everything (its generic view lists every field).

    Attributes:
        kind: The preview's kind, e.g. ``"cells"``; a class variable, not a field.
    """

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True, serialize_by_alias=True)

    kind: ClassVar[str] = "generic"

    def to_json(self) -> dict[str, Any]:
        """The detail as JSON-serialisable data (the form the journal and events carry)."""
        return self.model_dump(mode="json", by_alias=True)


class TextDetail(PreviewDetail):
    """A preview best read as its text; any fields it has are shown beside it."""

    kind: ClassVar[str] = "text"


class GenericDetail(PreviewDetail):
    """A preview of a kind no client knows, or one whose data does not fit its kind's model."""

    kind: ClassVar[str] = "generic"


@dataclass(frozen=True)
class Preview:
    """What a proposed action would do, rendered before it runs.

    Attributes:
        summary: One plain sentence, e.g. ``"Write 3 cells in Sheet1 of invoices.xlsx"``.
        detail: The typed data for its kind (see :class:`PreviewDetail`), drawn by a client.
        text: A plain-text rendering of the whole preview, for the command line and logs.
    """

    summary: str
    detail: PreviewDetail
    text: str

    @property
    def kind(self) -> str:
        """The preview's kind: what :attr:`detail` holds (``"cells"``, ``"email"``…)."""
        return self.detail.kind

    def to_json(self) -> dict[str, Any]:
        """``{"summary", "kind", "detail", "text"}``: the form events and the journal carry."""
        return {
            "summary": self.summary,
            "kind": self.kind,
            "detail": self.detail.to_json(),
            "text": self.text,
        }


@dataclass(frozen=True)
class Backup:
    """How to undo a local write: the file's bytes before it, and a fingerprint after it.

    Attributes:
        path: The file that was written, absolute.
        backup_path: A copy of its bytes before the write, or None when the write created it.
        sha256_after: The SHA-256 hex digest of the file right after the write, so an undo
            can tell whether somebody changed it since.
    """

    path: Path
    backup_path: Path | None
    sha256_after: str

    def to_json(self) -> dict[str, Any]:
        """Returns the backup as JSON-serialisable data, for the journal."""
        return {
            "path": str(self.path),
            "backup_path": str(self.backup_path) if self.backup_path else None,
            "sha256_after": self.sha256_after,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Backup:
        """Builds a backup from what :meth:`to_json` returned."""
        backup_path = data.get("backup_path")
        return cls(
            path=Path(data["path"]),
            backup_path=Path(backup_path) if backup_path else None,
            sha256_after=str(data["sha256_after"]),
        )


@dataclass(frozen=True)
class ToolOutput:
    """The result of a tool call.

    Attributes:
        text: What the model receives as the tool result (JSON text for data).
        backup: For a ``local`` write, how to undo it; None otherwise.
        images: Images the model should see with the text, as ``(media_type, bytes)``
            pairs, e.g. ``("image/png", b"...")`` for a screenshot. Not journaled.
        undo: For a ``local`` change that is not a file (a message moved to another
            folder), what the tool's :attr:`Tool.undo` needs to take it back, as
            JSON-serialisable data (journaled); None otherwise.
        written: What a ``local`` write worked out while it ran that its
            :attr:`Tool.readback` needs (the rows an append reached); not journaled, not
            shown to the model.
    """

    text: str
    backup: Backup | None = None
    images: tuple[tuple[str, bytes], ...] = ()
    undo: dict[str, Any] | None = None
    written: dict[str, Any] | None = None


@dataclass(frozen=True)
class WriteCheck:
    """What reading a local write back found: the result compared with what was approved.

    A check that could not run (the server did not answer) says so in :attr:`not_checked`; it
    is never a pass.

    Attributes:
        checked: What was read back and compared, in words ("3 cells in Sheet1 of invoices.xlsx").
        differences: Each difference found, in words ("B2 holds 99, not 42 as approved"); empty
            when everything agrees.
        not_checked: Why it could not be read back, or None when it was.
    """

    checked: str
    differences: tuple[str, ...] = ()
    not_checked: str | None = None

    @property
    def ok(self) -> bool:
        """Whether it was read back and everything agreed."""
        return self.not_checked is None and not self.differences

    @property
    def outcome(self) -> Literal["passed", "differs", "not_checked"]:
        """``passed``, ``differs`` (the action fails), or ``not_checked``."""
        if self.not_checked is not None:
            return "not_checked"
        return "differs" if self.differences else "passed"

    def words(self) -> str:
        """The check in one or more sentences for a person."""
        if self.not_checked is not None:
            return f"Not checked ({self.checked}): {self.not_checked}"
        if not self.differences:
            return f"Checked {self.checked}: as approved."
        shown = list(self.differences[:MAX_SHOWN_DIFFERENCES])
        more = len(self.differences) - len(shown)
        tail = f" … and {more:,} more." if more > 0 else ""
        found = "; ".join(shown)
        return f"Read back {self.checked}: {found}.{tail}"


MAX_SHOWN_DIFFERENCES = 20
"""The most differences a check lists in words (the rest are counted)."""
MAX_CHECKED_DIFFERENCES = 200
"""The most differences a check keeps: cost grows with the write, not the file."""


def quoted(text: str, limit: int = 80) -> str:
    """A text quoted for a difference in words, cut to ``limit`` characters."""
    one = text.replace("\n", " ")
    return f"\u201c{one if len(one) <= limit else one[: limit - 1] + '…'}\u201d"


def text_difference(what: str, expected: str, found: str, unit: str = "line") -> str | None:
    """Where a text read back first differs from the approved one, in words; None if equal.

    Args:
        what: What the text is, e.g. ``"notes.txt"``.
        expected: The approved text (line endings as ``\\n``).
        found: The text read back.
        unit: What one line is to a person (``"line"``, ``"paragraph"``).

    Returns:
        E.g. ``'line 3 of notes.txt reads “Total 90”, not “Total 100” as approved'``.
    """
    if expected == found:
        return None
    want, got = expected.split("\n"), found.split("\n")
    for number, (a, b) in enumerate(zip(want, got, strict=False), start=1):
        if a != b:
            return f"{unit} {number} of {what} reads {quoted(b)}, not {quoted(a)} as approved"
    if len(got) > len(want):
        return f"{what} has more than was approved, from {unit} {len(want) + 1}: {quoted(got[len(want)])}"
    return (
        f"{what} ends at {unit} {len(got)}, without the approved {unit} {len(got) + 1}: "
        f"{quoted(want[len(got)])}"
    )


_LATEST_WRITES: dict[Path, str] = {}
"""Per file, the fingerprint of the last write this process made to it (see :func:`note_written`)."""
_MAX_LATEST = 4096
_LATEST_GUARD = threading.Lock()


def note_written(backup: Backup) -> Backup:
    """Remembers the latest write of this process to a file (called under the file's lock).

    Returns:
        The backup, unchanged.
    """
    with _LATEST_GUARD:
        _LATEST_WRITES.pop(backup.path, None)
        _LATEST_WRITES[backup.path] = backup.sha256_after
        while len(_LATEST_WRITES) > _MAX_LATEST:
            del _LATEST_WRITES[next(iter(_LATEST_WRITES))]
    return backup


def written_since(backup: Backup) -> bool:
    """Whether another write of this process (another approved action) replaced the file after
    this one, and the file still holds what that write left. Blocking (hashes the file).

    A read-back that then differs is not this action's failure: it is reported as not checked.
    """
    with _LATEST_GUARD:
        latest = _LATEST_WRITES.get(backup.path)
    if latest is None or latest == backup.sha256_after or not backup.path.exists():
        return False
    try:
        return sha256_file(backup.path) == latest
    except OSError:
        return False


def file_bytes_check(backup: Backup) -> WriteCheck:
    """The check of a whole-file write: does the file still hold exactly the bytes written?

    Blocking (it reads the file once). Used for local writes whose tool declares no
    :attr:`Tool.readback` of its own.

    Args:
        backup: What the write recorded (its ``sha256_after``).

    Returns:
        The check; a difference when the file is gone or its bytes are not those written.
    """
    what = f"the bytes of {backup.path.name}"
    if not backup.path.exists():
        return WriteCheck(what, (f"{backup.path.name} is not there any more",))
    try:
        now = sha256_file(backup.path)
    except OSError as exc:
        return WriteCheck(what, not_checked=f"{backup.path.name} could not be read: {exc.strerror or exc}")
    if now != backup.sha256_after:
        return WriteCheck(
            what,
            (
                f"{backup.path.name} does not hold the bytes Ensemble wrote: something else changed it "
                "after the write",
            ),
        )
    return WriteCheck(what)


@dataclass(frozen=True)
class Approval:
    """The decision on a side effect a tool asked about while it ran (see :attr:`ToolContext.approve`).

    Attributes:
        action_id: The proposed action recorded in the journal.
        approved: Whether the effect may happen.
        arguments: The arguments as approved (edited by the person, or as proposed).
        reason: Why it was rejected, for the model.
    """

    action_id: str
    approved: bool
    arguments: dict[str, Any]
    reason: str | None = None


ApprovalHook = Callable[[str, Effect, dict[str, Any], Preview, Sequence[Destination]], Awaitable[Approval]]
"""Asks for approval of one side effect in the middle of a tool call.

Called as ``await ctx.approve(kind, effect, arguments, preview, destinations)``, e.g.
``("browser_request", "external", {"method": "POST", ...}, preview, [Destination("host",
"portal.example")])``. The engine's gate records a proposed action, checks where each
destination came from, waits for a person or a rule, and returns the decision. The effect
must not happen unless ``approved`` is true.
"""

VouchHook = Callable[[Destination], bool]
"""Tells whether the person vouched for a destination in this mission (see :class:`Destination`).

Set by the gate on :attr:`ToolContext.vouches`. A connector uses it to hold only what goes
somewhere new, such as a page navigation to a host nobody named.
"""


@dataclass
class ToolContext:
    """What a tool call may touch, set by the mission that runs it.

    Attributes:
        workspaces: Folders the person granted to this mission; file tools refuse any path
            outside them. Resolved to absolute paths.
        backup_dir: Where local writes keep a copy of what they overwrite.
        mission_id: The mission the call belongs to (for per-mission state such as a
            browser context); empty outside a mission.
        call_id: The model's id of the tool call being run (its ``tool_use`` id).
        checkpoint: Set while an approved action runs. A tool with a
            :attr:`Tool.fingerprint` calls it with the fingerprint of what it is about to
            change, right before the change and while nothing else can change it; the gate
            journals it, so that after a crash the fingerprint tells whether the change
            happened. May be called from a worker thread.
        approve: For tools whose side effects are only known while they run (a browser
            click that submits a form): asks the gate about each one. Set by the gate for
            every call; None outside the engine.
        extra: Per-mission settings for connectors, such as the email account or the
            browser's allowed domains, keyed by connector name.
        vouches: Whether the person vouched for a destination in this mission; set by the
            gate for every call. None outside the engine: nothing is vouched for.
    """

    workspaces: Sequence[Path]
    backup_dir: Path
    mission_id: str = ""
    call_id: str = ""
    approve: ApprovalHook | None = None
    checkpoint: Callable[[str], None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    vouches: VouchHook | None = None

    def is_vouched(self, destination: Destination) -> bool:
        """Whether the person vouched for a destination (False outside the engine)."""
        return self.vouches is not None and self.vouches(destination)

    def resolve(self, path: str, *, must_exist: bool = True) -> Path:
        """Resolves a path the model gave against the workspace folders.

        A relative path is taken inside the first workspace folder. Symbolic links are
        followed before the check, so a link cannot lead outside.

        Args:
            path: Absolute, or relative to the first workspace folder.
            must_exist: Whether a missing file is an error.

        Returns:
            The absolute, resolved path.

        Raises:
            ToolError: No workspace is granted, the path is outside every workspace folder,
                or it does not exist while ``must_exist`` is set.
        """
        if not self.workspaces:
            raise ToolError("No workspace folder is granted to this mission, so no file can be used.")
        roots = [Path(w).resolve() for w in self.workspaces]
        candidate = Path(os.path.expanduser(path))
        if not candidate.is_absolute():
            candidate = roots[0] / candidate
        resolved = candidate.resolve()
        if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
            granted = ", ".join(str(r) for r in roots)
            raise ToolError(f"'{path}' is outside the workspace folders granted to this mission ({granted}).")
        if must_exist and not resolved.exists():
            raise ToolError(f"There is no file '{path}' in the workspace.")
        if must_exist and resolved.is_dir():
            raise ToolError(f"'{path}' is a folder, not a file.")
        return resolved

    def back_up(self, path: Path) -> Path | None:
        """Copies a file's current bytes into the backup folder before it is overwritten.

        Args:
            path: The absolute path about to be written.

        Returns:
            The copy's path, or None when the file does not exist yet.
        """
        if not path.exists():
            return None
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        target = self.backup_dir / f"{uuid.uuid4().hex}{path.suffix}"
        shutil.copy2(path, target)
        return target


def sha256_file(path: Path) -> str:
    """Returns the SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def restore(backup: Backup, *, force: bool = False) -> str:
    """Undoes a local write from its backup, byte for byte.

    Args:
        backup: What the write recorded.
        force: Restore even if the file changed since the write.

    Returns:
        A sentence saying what was restored.

    Raises:
        ToolError: The file changed since the write (and ``force`` is not set), or the
            backup copy is gone.
    """
    if backup.path.exists() and not force and sha256_file(backup.path) != backup.sha256_after:
        raise ToolError(
            f"{backup.path} has changed since Ensemble wrote it; undoing would lose those "
            "changes. Use --force to restore the earlier version anyway."
        )
    if backup.backup_path is None:
        if backup.path.exists():
            backup.path.unlink()
        return f"Removed {backup.path}, which the action had created."
    if not backup.backup_path.exists():
        raise ToolError(f"The backup of {backup.path} ({backup.backup_path}) is missing.")
    tmp = backup.path.with_name(f".{backup.path.name}.ensemble-undo")
    shutil.copy2(backup.backup_path, tmp)
    os.replace(tmp, backup.path)
    return f"Restored {backup.path} to its state before the action."


RunFn = Callable[[ToolContext, ArgsT], Awaitable[ToolOutput]]
PrepareFn = Callable[[ToolContext, ArgsT], Awaitable[ArgsT]]
ConfirmFn = Callable[[ToolContext, ArgsT], Awaitable["bool | None"]]
FingerprintFn = Callable[[ToolContext, ArgsT], Awaitable[str]]
PreviewFn = Callable[[ToolContext, ArgsT], Awaitable[Preview]]
DestinationsFn = Callable[[ArgsT], list[Destination]]
UndoFn = Callable[[ToolContext, dict[str, Any]], Awaitable[str]]
KnownFn = Callable[[ToolContext, ArgsT, list[Destination]], Awaitable[dict[str, str]]]
ReadbackFn = Callable[[ToolContext, ArgsT, ToolOutput], Awaitable[WriteCheck]]
"""Reads a local write back through the connector: ``await readback(ctx, approved_args, output)``."""


@dataclass(frozen=True)
class Tool(Generic[ArgsT]):
    """A tool an agent can call.

    Attributes:
        name: The name the model calls it by, e.g. ``"sheet_write"``.
        description: What it does, for the model.
        effect: ``read``, ``local`` or ``external``.
        args_model: The pydantic model of its arguments; its JSON schema is the tool's
            ``input_schema``.
        run: Carries out the call. Raises :class:`ToolError` for anything the model or the
            person should hear about.
        preview: Renders what the call would do without doing it. Required for ``local``
            and ``external`` tools.
        prepare: Fixes values before the call is proposed, so that what is approved is
            exactly what runs (an email's ``Message-ID``). It is given the model's (or the
            person's edited) arguments and returns them completed; it must keep values that
            are already set.
        confirm_outcome: After a crash, tells whether an action that had started really
            happened: True if it did, False if it surely did not (so it may run again), None
            if it cannot tell. Without it, or on None, the person is asked.
        fingerprint: The state of what the action changes (for a file, its SHA-256). The tool
            reports it through :attr:`ToolContext.checkpoint` right before changing anything;
            after a crash, no checkpoint means nothing changed, an equal fingerprint that the
            change did not happen, a different one that it did. Used when
            ``confirm_outcome`` is unset.
        destinations: Where the call's data goes (recipients, and the hosts of links in
            outgoing content), for the gate's check of where each came from. Declared by
            every tool that reaches, or prepares to reach, someone else.
        known: The connector's own evidence that the person already deals with some of
            those destinations (a correspondent found in the account's Sent folder): given
            the destinations the person has not named, returns ``{value: "why"}`` for those
            it vouches for.
        undo: Takes back a change the tool made that is not a file, from the data its
            :attr:`ToolOutput.undo` returned; returns a sentence saying what was restored.
            Raises :class:`ToolError` when it cannot (the message was moved again since).
        title: What it does for a person, as a short verb phrase ("Send an email"), shown on
            approval cards and in rules instead of its name; see :func:`tool_title`.
        readback: For a ``local`` tool, reads what it wrote back through the connector after
            it ran (the cells, the paragraphs, the event as the server keeps it) and compares
            it with the approved arguments; cost grows with what was written. Raises
            :class:`ToolError` when it cannot read (reported as not checked). Without it, a
            write that left a :class:`Backup` is checked by its file's bytes
            (:func:`file_bytes_check`).
    """

    name: str
    description: str
    effect: Effect
    args_model: type[ArgsT]
    run: RunFn[ArgsT]
    preview: PreviewFn[ArgsT] | None = None
    prepare: PrepareFn[ArgsT] | None = None
    confirm_outcome: ConfirmFn[ArgsT] | None = None
    fingerprint: FingerprintFn[ArgsT] | None = None
    destinations: DestinationsFn[ArgsT] | None = None
    known: KnownFn[ArgsT] | None = None
    undo: UndoFn | None = None
    title: str = ""
    readback: ReadbackFn[ArgsT] | None = None

    def __post_init__(self) -> None:
        if self.effect != "read" and self.preview is None:
            raise ValueError(f"Tool {self.name} has effect {self.effect!r} but no preview.")

    @property
    def input_schema(self) -> dict[str, Any]:
        """The JSON schema of the arguments, as the Messages API takes it."""
        return self.args_model.model_json_schema()

    def to_api(self) -> dict[str, Any]:
        """The tool's declaration for the Messages API ``tools`` list."""
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema}

    def parse(self, arguments: object) -> ArgsT:
        """Validates the model's arguments.

        Args:
            arguments: The ``input`` of a ``tool_use`` block (normally a dict).

        Returns:
            The validated arguments.

        Raises:
            ToolError: The arguments do not fit the schema; the message lists each problem.
        """
        try:
            return self.args_model.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}" for err in exc.errors()
            )
            raise ToolError(f"Wrong arguments for {self.name}: {problems}.") from exc

    async def render_preview(self, ctx: ToolContext, args: ArgsT) -> Preview:
        """Renders what the call would do; see :attr:`preview`."""
        if self.preview is None:
            return Preview(summary=f"Run {self.name}", detail=TextDetail(), text=f"Run {self.name}")
        return await self.preview(ctx, args)


def tool_title(name: str, title: str = "") -> str:
    """What an action does, for a person: its declared title, or else its name in words.

    Args:
        name: The tool's (or approval kind's) name, e.g. ``"sheet_write"``.
        title: Its declared :attr:`Tool.title`, if any.

    Returns:
        ``title`` when set, else the name humanised: ``"sheet_write"`` gives "Sheet write".
    """
    if title.strip():
        return title.strip()
    words = " ".join(part for part in re.split(r"[_\-\s]+", name) if part)
    return words[:1].upper() + words[1:] if words else "An action"


AnyTool = Tool[Any]


_MARKER = re.compile(r"(?i)<(?=\s*/?\s*external_content)")


def defuse(text: str) -> str:
    """Makes a text unable to open or close an ``<external_content>`` marker.

    Every ``<`` that would start such a tag (in any case, with any spacing) becomes ``&lt;``.
    """
    return _MARKER.sub("&lt;", text)


def untrusted(text: str, source: str) -> str:
    """Marks text from outside (a web page, an email, a cell) as data for the model.

    The model's prompts say that what is inside these markers is never an instruction.
    Neither the text nor the label can close or forge the marker: tags are defused in both,
    and the label loses quotes, angle brackets and line breaks. The gate's safety does not
    depend on the marker (it checks where each destination came from); the marker tells the
    model where the text came from.

    Args:
        text: The outside content.
        source: Where it came from, e.g. ``"email from bob@example.com"`` or a URL.

    Returns:
        The text inside ``<external_content source="...">`` markers.
    """
    label = re.sub(r"[\x00-\x1f\x7f\"<>`]+", " ", source).strip()[:300]
    return f'<external_content source="{label}">\n{defuse(text)}\n</external_content>'


_BLOCK = re.compile(r'\A<external_content source="[^"]*">\n(.*)\n</external_content>\Z', re.DOTALL)


def outside_text(text: str) -> str:
    """The content of a result that :func:`untrusted` wrapped whole (for tests and tools)."""
    match = _BLOCK.match(text)
    return match.group(1) if match else text


TEMP_SUFFIX = ".ensemble-tmp"
"""The ending of the temporary file a write saves beside its target before replacing it."""

_THREAD_LOCKS: dict[Path, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def _lock_file(path: Path) -> Path:
    """Where the cross-process lock of a file lives: one per file, in the system's temp folder,
    so that every Ensemble process of the person (another window, the command line) sees it."""
    folder = Path(tempfile.gettempdir()) / f"ensemble-locks-{os.getuid() if hasattr(os, 'getuid') else 0}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / (hashlib.sha256(str(path).encode()).hexdigest()[:32] + ".lock")


@contextmanager
def write_lock(path: Path, *, timeout: float = 30.0) -> Iterator[None]:
    """Holds a file for one write, against other threads and other processes.

    Held from reading the file's state (its fingerprint) to the atomic replace, so that no
    other writer's change can be lost in between.

    Args:
        path: The file, absolute and resolved.
        timeout: Seconds to wait for another writer.

    Raises:
        ToolError: Another process kept the file for longer than ``timeout``.
    """
    with _THREAD_LOCKS_GUARD:
        thread_lock = _THREAD_LOCKS.setdefault(path, threading.Lock())
    with thread_lock:
        lock = FileLock(str(_lock_file(path)), timeout=timeout)
        try:
            lock.acquire()
        except Timeout as exc:
            raise ToolError(
                f"{path.name} is being changed by another Ensemble window or command and was not free "
                f"within {timeout:g} seconds; nothing was changed. Try again when it has finished."
            ) from exc
        try:
            yield
        finally:
            lock.release()


def clean_leftovers(folder: Path) -> list[Path]:
    """Removes temporary files that a write killed half-way left in a folder (and below it).

    A temporary file whose target another process is writing right now is left alone.

    Returns:
        The files removed.
    """
    removed = []
    for temp in folder.rglob(f".*{TEMP_SUFFIX}"):
        stem = temp.name[1 : -len(TEMP_SUFFIX)]
        target = temp.with_name(stem.rsplit(".", 1)[0])  # ".NAME.RANDOM.ensemble-tmp"
        lock = FileLock(str(_lock_file(target.resolve())), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            continue  # being written now
        try:
            temp.unlink(missing_ok=True)
            removed.append(temp)
        except OSError:
            continue
        finally:
            lock.release()
    return removed


async def file_fingerprint(ctx: ToolContext, path: str) -> str:
    """A file's state for :attr:`Tool.fingerprint`: its SHA-256, or ``"absent"``.

    Raises:
        ToolError: The path is outside the workspace.
    """
    resolved = ctx.resolve(path, must_exist=False)
    if not resolved.exists():
        return "absent"
    return await asyncio.to_thread(sha256_file, resolved)


def commit_file(
    ctx: ToolContext, shown: str, render: Callable[[bytes | None], bytes], *, creating: bool = False
) -> Backup:
    """Writes a whole file the way every local write does, so that it can be undone byte for byte.

    Under the file's cross-process lock: reads its bytes, renders the new bytes, writes them
    beside it, backs the old bytes up (and checks the backup holds exactly what was read),
    reports the fingerprint to :attr:`ToolContext.checkpoint`, then replaces the file
    atomically. On any failure the temporary file and the backup are removed and the file
    is as it was. Blocking: call it from a worker thread (``asyncio.to_thread``).

    Args:
        ctx: The call's context (workspace, backup folder, checkpoint).
        shown: The path as the model gave it, relative to the workspace.
        render: Given the file's current bytes (None when creating), returns its new bytes.
            It may raise :class:`ToolError` to refuse; nothing is written then.
        creating: The file must not exist yet (and must still not exist at the replace).

    Returns:
        The backup to undo the write with (its ``backup_path`` is None when it created the file).

    Raises:
        ToolError: The path is outside the workspace, the file exists when creating or is
            missing when not, ``render`` refused, or the file changed while it was written.
    """
    path = ctx.resolve(shown, must_exist=not creating)
    with write_lock(path):
        if creating and path.exists():
            raise ToolError(f"'{path.name}' already exists; choose another name or edit it instead.")
        original = None if creating else path.read_bytes()
        data = render(original)
        handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
        temp = Path(temp_name)
        backup_path: Path | None = None
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            if original is None:
                _still_absent(path)
            else:
                backup_path = ctx.back_up(path)
                _backup_holds(path, backup_path, original)
                os.chmod(temp, path.stat().st_mode & 0o7777)
            if ctx.checkpoint is not None:
                # Journaled before the replace, under the file's lock: after a crash, the file
                # still matching this fingerprint means the write did not happen.
                ctx.checkpoint("absent" if original is None else hashlib.sha256(original).hexdigest())
            os.replace(temp, path)
        except BaseException:
            # Cleans up whatever the failure was (KeyboardInterrupt included), then goes on.
            temp.unlink(missing_ok=True)
            if backup_path is not None:
                backup_path.unlink(missing_ok=True)
            raise
        return note_written(Backup(path=path, backup_path=backup_path, sha256_after=sha256_file(path)))


def _still_absent(path: Path) -> None:
    if path.exists():
        raise ToolError(f"'{path.name}' appeared while it was being created; nothing was written.")


def _backup_holds(path: Path, backup_path: Path | None, original: bytes) -> None:
    if backup_path is None or backup_path.read_bytes() != original:
        raise ToolError(
            f"'{path.name}' changed on disk while it was being written; nothing was written. "
            "Read it again and retry."
        )


_A = TypeVar("_A")
_R = TypeVar("_R")


def in_thread(fn: Callable[[ToolContext, _A], _R]) -> Callable[[ToolContext, _A], Awaitable[_R]]:
    """A blocking tool function (a run, a preview, a fingerprint) as the async one a Tool takes.

    Args:
        fn: Called as ``fn(ctx, args)`` in a worker thread, so file and library work never
            blocks the engine's event loop.
    """

    async def run(ctx: ToolContext, args: _A) -> _R:
        return await asyncio.to_thread(fn, ctx, args)

    return run
