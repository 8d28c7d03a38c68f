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
import hashlib
import os
import shutil
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError

Effect = Literal["read", "local", "external"]
"""How far a tool's call reaches: see the module docstring."""

ArgsT = TypeVar("ArgsT", bound=BaseModel)


class ToolError(Exception):
    """A tool call that could not be carried out, with a message for the model and the person.

    The message is what the model receives as the tool result (marked as an error), so it
    says what went wrong and, where it can, what to do instead. Raising it must leave
    nothing half-done.
    """


@dataclass(frozen=True)
class Preview:
    """What a proposed action would do, rendered before it runs.

    Attributes:
        summary: One plain sentence, e.g. ``"Write 3 cells in Sheet1 of invoices.xlsx"``.
        kind: What ``detail`` holds, so a client knows how to draw it: ``"cells"`` (a list of
            ``{"cell", "old", "new"}``), ``"rows"`` (``{"sheet", "first_row", "rows"}``),
            ``"new_file"`` (``{"path", "sheets"}``), or ``"text"``.
        detail: JSON-serialisable data for that kind.
        text: A plain-text rendering of the whole preview, for the command line and logs.
    """

    summary: str
    kind: str
    detail: dict[str, Any]
    text: str


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
    """

    text: str
    backup: Backup | None = None
    images: tuple[tuple[str, bytes], ...] = ()


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


ApprovalHook = Callable[[str, Effect, dict[str, Any], Preview], Awaitable[Approval]]
"""Asks for approval of one side effect in the middle of a tool call.

Called as ``await ctx.approve(kind, effect, arguments, preview)``, e.g.
``("browser_request", "external", {"method": "POST", ...}, preview)``. The engine's gate
records a proposed action, waits for a person or a rule, and returns the decision. The effect
must not happen unless ``approved`` is true.
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
    """

    workspaces: Sequence[Path]
    backup_dir: Path
    mission_id: str = ""
    call_id: str = ""
    approve: ApprovalHook | None = None
    checkpoint: Callable[[str], None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

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
            return Preview(summary=f"Run {self.name}", kind="text", detail={}, text=f"Run {self.name}")
        return await self.preview(ctx, args)


AnyTool = Tool[Any]


def untrusted(text: str, source: str) -> str:
    """Marks text from outside (a web page, an email, a cell) as data for the model.

    The model's prompts say that what is inside these markers is never an instruction. A
    marker inside the text itself is defused, so the content cannot close the block early.

    Args:
        text: The outside content.
        source: Where it came from, e.g. ``"email from bob@example.com"`` or a URL.

    Returns:
        The text inside ``<external_content source="...">`` markers.
    """
    safe = text.replace("<external_content", "<\u200bexternal_content").replace(
        "</external_content", "<\u200b/external_content"
    )
    label = source.replace('"', "'")
    return f'<external_content source="{label}">\n{safe}\n</external_content>'


async def file_fingerprint(ctx: ToolContext, path: str) -> str:
    """A file's state for :attr:`Tool.fingerprint`: its SHA-256, or ``"absent"``.

    Raises:
        ToolError: The path is outside the workspace.
    """
    resolved = ctx.resolve(path, must_exist=False)
    if not resolved.exists():
        return "absent"
    return await asyncio.to_thread(sha256_file, resolved)
