"""Rolling a whole mission back: every local change it made, taken back newest first.

:func:`plan` says, before anything is done, what undoing a mission would take back (each
carried-out local action, newest first), what cannot be taken back and why (an email sent, a
form submitted, an action whose outcome is unknown), and which files were changed after the
mission wrote them, with what undoing them anyway would lose. :func:`run` carries the plan out:

- a file written by the mission is put back byte for byte from the backup its write left
  (a write that failed its read-back too: it was carried out and changed the file);
  a file the mission created goes to the system trash (never deleted for good);
- a file changed since is left alone unless ``force``; then its later version goes to the
  trash first, so that even "undo anyway" loses nothing for good;
- a change that is not a file (a message moved, an event added) is taken back by its tool's
  own undo, through :meth:`app.engine.Engine.undo`: the message goes back to its folder, the
  event the mission added is deleted.

Each step is journaled as it is done (the action becomes ``undone``, with an
``action_undone`` event), so a step that fails leaves the others done and running the rollback
again only tries what is left. The rollback itself ends with a ``mission_rolled_back`` event.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import logging
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.api.models import RollbackLimit, RollbackPlan, RollbackReport, RollbackResult, RollbackStep
from app.errors import EngineError, EnsembleError
from connectors.base import Backup, ToolError, restore, sha256_file

if TYPE_CHECKING:
    from app.engine import Engine
    from app.journal import Mission, ProposedAction

log = logging.getLogger(__name__)

MAX_LOST_LINES = 8
"""The most lines "what would be lost" shows for one file; a last line counts the rest."""

MAX_COMPARED_BYTES = 32 * 1024 * 1024
"""Files bigger than this are not read to say what differs: their size and time are told."""

_SENT_WORDS = {
    "email_send": "An email that was sent cannot be called back.",
    "calendar_invite": "An invitation that was sent cannot be called back.",
}
_NO_UNDO_WORDS = {
    "email_draft": "The draft stays in your Drafts folder; delete it there if you do not want it.",
    "remember": "It stays in your memory, which is yours to keep: change or remove it under Memory.",
}


@dataclass(frozen=True)
class _Step:
    """One change to take back: an action with a file backup, or with its tool's undo data."""

    action: ProposedAction
    what: str
    backup: Backup | None  # a file's write
    tool_undo: dict[str, Any] | None  # anything else

    @property
    def file(self) -> Path | None:
        return self.backup.path if self.backup is not None else None


def _what(action: ProposedAction) -> str:
    """What an action did, in words: its card's summary."""
    try:
        summary = json.loads(action.preview_json or "{}").get("summary")
    except ValueError:
        summary = None
    return str(summary or action.tool.replace("_", " "))


def _order(action: ProposedAction) -> datetime:
    moment = action.executed_at or action.created_at
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _sorted(engine: Engine, mission: Mission) -> tuple[list[_Step], list[RollbackLimit], int]:
    """The mission's changes to take back (newest first), what cannot be, and how many were."""
    steps: list[_Step] = []
    limits: list[RollbackLimit] = []
    undone = 0
    for action in engine.journal.actions(mission.id):
        what = _what(action)
        if action.status == "undone":
            undone += 1
        elif action.status == "executing":
            limits.append(
                RollbackLimit(
                    action_id=action.id,
                    what=what,
                    why=(
                        "Ensemble stopped while doing it, so it is not known whether it happened; "
                        "check it by hand."
                    ),
                )
            )
        elif action.status == "failed" and action.backup_json and action.effect != "external":
            # A write carried out whose read-back differed: it did change the file (its
            # backup was kept for this), so it is taken back with the rest.
            _add_step(steps, action, what)
            continue
        elif action.status != "executed":
            continue  # rejected, failed before changing anything, or never decided
        elif action.effect == "external":
            why = _SENT_WORDS.get(action.tool)
            if why is None and action.tool.startswith("browser"):
                why = "What was sent to a site (a form, a request) cannot be taken back."
            limits.append(
                RollbackLimit(
                    action_id=action.id,
                    what=what,
                    why=why or "It reached another person or system and cannot be taken back.",
                )
            )
        elif not action.backup_json:
            why = _NO_UNDO_WORDS.get(action.tool, "Ensemble kept no way to take it back; change it by hand.")
            limits.append(RollbackLimit(action_id=action.id, what=what, why=why))
        else:
            _add_step(steps, action, what)
    steps.sort(key=lambda s: _order(s.action), reverse=True)
    return steps, limits, undone


def _add_step(steps: list[_Step], action: ProposedAction, what: str) -> None:
    """Adds the step that takes back an action with a backup (a file's copy or its tool's undo)."""
    data = json.loads(action.backup_json or "{}")
    if isinstance(data, dict) and "tool_undo" in data:
        steps.append(_Step(action, what, None, dict(data["tool_undo"])))
    else:
        steps.append(_Step(action, what, Backup.from_json(data), None))


def _undo_words(step: _Step) -> tuple[str, str | None]:
    """What taking a step back does, in words, and what it touches."""
    if step.backup is not None:
        path = step.backup.path
        if step.backup.backup_path is None:
            return f"Move {path.name}, which the mission created, to the trash ({path.parent})", str(path)
        return f"Put {path.name} back as it was before {_change(step)} ({path.parent})", str(path)
    data = step.tool_undo or {}
    kind = str(data.get("kind", ""))
    if kind == "email_move":
        source, target = data.get("from_folder"), data.get("to_folder")
        return f"Move the message back from '{target}' to '{source}'", f"mail folder {source}"
    if kind == "email_mark":
        return f"Put back the read and flag marks of a message in '{data.get('folder')}'", None
    if kind == "calendar_caldav":
        calendar = data.get("calendar")
        if data.get("before") is None:
            return f"Delete the event the mission added to the calendar '{calendar}'", f"calendar {calendar}"
        if data.get("after_sha256") is None:
            return f"Put back the event the mission deleted from '{calendar}'", f"calendar {calendar}"
        return f"Put the event in '{calendar}' back as it was", f"calendar {calendar}"
    if kind == "trash":
        return f"Take {Path(str(data.get('path'))).name} back out of the trash", str(data.get("path"))
    if kind == "move":
        source, target = Path(str(data.get("source"))), Path(str(data.get("target")))
        return f"Move {target.name} back to {source}", str(source)
    if kind == "make_folder":
        return "Remove the folders the mission made (if still empty)", None
    if kind == "copy_folder":
        return f"Remove the copy {data.get('target')}", str(data.get("target"))
    return f"Take back: {step.what}", None


def _change(step: _Step) -> str:
    """Which change of a file a step takes back, in words: a mission may write one file several
    times ("the change to Invoices!H12"), and each line of the plan must say which."""
    try:
        arguments = json.loads(step.action.edited_arguments_json or step.action.arguments_json or "{}")
    except ValueError:
        arguments = {}
    where = arguments.get("range") if isinstance(arguments, dict) else None
    if isinstance(where, str) and where:
        sheet = arguments.get("sheet")
        return f"the change to {f'{sheet}!' if isinstance(sheet, str) and sheet else ''}{where}"
    return f"“{step.what}”"


def _changed(step: _Step, expected: dict[Path, str | None]) -> bool:
    """Whether a file step's file is not as the mission left it.

    ``expected`` holds, per file, the SHA-256 the file will have when this step's turn comes
    (None: absent), as the newer steps before it leave it.
    """
    assert step.backup is not None
    path = step.backup.path
    if path not in expected:
        if not path.exists():
            return False  # gone since: putting it back loses nothing
        expected[path] = sha256_file(path)
    now = expected[path]
    return now is not None and now != step.backup.sha256_after


def _after_undo(step: _Step) -> str | None:
    """The SHA-256 a file has once a step is taken back (None when it will be absent)."""
    assert step.backup is not None
    backup = step.backup.backup_path
    if backup is None or not backup.exists():
        return None
    return sha256_file(backup)


def plan(engine: Engine, mission: Mission, refusal: str | None = None) -> RollbackPlan:
    """What undoing a mission would do; changes nothing.

    Args:
        engine: The engine (its journal).
        mission: The mission.
        refusal: Why it cannot be undone now (it is running), to say instead of the steps.

    Returns:
        The plan: the steps newest first, files changed since with what would be lost, and
        what cannot be undone.
    """
    steps, limits, undone = _sorted(engine, mission)
    planned: list[RollbackStep] = []
    expected: dict[Path, str | None] = {}
    for step in steps:
        undo, target = _undo_words(step)
        changed = False
        lost: list[str] = []
        if step.backup is not None:
            path = step.backup.path
            newest = path not in expected
            changed = _changed(step, expected)
            if changed:
                lost = (
                    would_lose(path, step.backup.backup_path)
                    if newest
                    else [
                        f"Changes made to {path.name} by something else between two of the mission's writes."
                    ]
                )
            expected[path] = _after_undo(step)
        planned.append(
            RollbackStep(
                action_id=step.action.id,
                what=step.what,
                undo=undo,
                target=target,
                changed_since=changed,
                would_lose=lost,
            )
        )
    return RollbackPlan(
        mission_id=mission.id,
        title=mission.title,
        refusal=refusal,
        steps=[] if refusal else planned,
        cannot_undo=[] if refusal else limits,
        already_undone=undone,
    )


def would_lose(current: Path, restored: Path | None) -> list[str]:
    """What replacing a file changed since with an earlier version would lose, in words.

    Args:
        current: The file as it is now.
        restored: The earlier version that would take its place; None when it would go.

    Returns:
        A few lines: when it was changed, then what is in it now and not in the earlier
        version (cells of a workbook, lines of a text or document), at most
        :data:`MAX_LOST_LINES` and a count of the rest.
    """
    try:
        stat = current.stat()
    except OSError:
        return []
    when = datetime.fromtimestamp(stat.st_mtime).strftime("%d %b %Y at %H:%M")
    lines = [f"{current.name} as it is now (last changed {when}, {stat.st_size:,} bytes)."]
    if restored is None:
        return [*lines, "It goes to the trash, from where you can still take it back."]
    found: list[str] = []
    try:
        if max(stat.st_size, restored.stat().st_size) <= MAX_COMPARED_BYTES:
            found = _differences(current, restored)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        log.info("Could not compare %s with its earlier version: %s", current, exc)
    if found:
        shown = found[:MAX_LOST_LINES]
        if len(found) > len(shown):
            shown.append(f"…and {len(found) - len(shown)} more differences.")
        lines += shown
    lines.append("That version goes to the trash first, from where you can still take it back.")
    return lines


def _differences(current: Path, restored: Path) -> list[str]:
    """What ``current`` holds that ``restored`` does not: cells, or lines of text."""
    suffix = current.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _cell_differences(current, restored)
    if suffix == ".docx":
        return _line_differences(_docx_lines(current), _docx_lines(restored))
    if suffix in (".txt", ".md", ".csv", ".ics", ".json", ".html", ".htm", ".xml", ".yaml", ".yml"):
        return _line_differences(_text_lines(current), _text_lines(restored))
    return []


def _text_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def _docx_lines(path: Path) -> list[str]:
    import docx

    return [p.text for p in docx.Document(str(path)).paragraphs]


def _line_differences(now: list[str], before: list[str]) -> list[str]:
    out = []
    for line in difflib.unified_diff(before, now, lineterm="", n=0):
        if line.startswith("+") and not line.startswith("+++"):
            out.append(f"the line “{line[1:].strip()[:120]}”")
    return out


def _cell_differences(now: Path, before: Path) -> list[str]:
    import openpyxl

    new = openpyxl.load_workbook(now, read_only=True, data_only=False)
    old = openpyxl.load_workbook(before, read_only=True, data_only=False)
    try:
        out: list[str] = []
        for name in new.sheetnames:
            if name not in old.sheetnames:
                out.append(f"the sheet “{name}”")
                continue
            values: dict[str, Any] = {}
            for row in old[name].iter_rows():
                for cell in row:
                    if cell.value is not None and hasattr(cell, "coordinate"):
                        values[cell.coordinate] = cell.value
            for row in new[name].iter_rows():
                for cell in row:
                    if not hasattr(cell, "coordinate"):
                        continue
                    was = values.pop(cell.coordinate, None)
                    if cell.value is not None and cell.value != was:
                        out.append(
                            f"{name}!{cell.coordinate} = {_shown(cell.value)} (it would be {_shown(was)})"
                        )
            out += [f"{name}!{ref} would be {_shown(v)} again (it is empty now)" for ref, v in values.items()]
        return out
    finally:
        new.close()
        old.close()


def _shown(value: object) -> str:
    if value is None:
        return "empty"
    text = str(value)
    return f"“{text[:60]}”" if isinstance(value, str) else text


async def run(engine: Engine, mission: Mission, *, force: bool = False) -> RollbackReport:
    """Takes a mission's local changes back, newest first (see the module's docstring).

    Args:
        engine: The engine: its journal, and :meth:`~app.engine.Engine.undo` for changes
            that are not files.
        mission: The mission, not running.
        force: Restore files changed since too (their later version goes to the trash first).

    Returns:
        What each step did; steps that fail leave the others done.
    """
    steps, limits, _undone = _sorted(engine, mission)
    results: list[RollbackResult] = []
    blocked: dict[Path, str] = {}  # a file whose newer step was not taken back, and why
    for step in steps:
        current = engine.journal.action(step.action.id)
        if current is None or current.status not in ("executed", "failed"):
            continue  # taken back meanwhile (another window): nothing left to do
        try:
            if step.backup is not None:
                path = step.backup.path
                if path in blocked:
                    results.append(_result(step, "refused", blocked[path]))
                    continue
                message = await asyncio.to_thread(_take_back_file, engine, mission, step, force)
                engine.journal.update(current, status="undone")
                engine.journal.audit(
                    mission.id,
                    "action_undone",
                    message,
                    task_id=current.task_id,
                    action_id=current.id,
                    rollback=True,
                )
            else:
                message = await engine.undo(current.id)
        except _Refused as exc:
            assert step.backup is not None
            blocked[step.backup.path] = (
                f"{step.backup.path.name} was left alone: a later change of the mission to it was not undone."
            )
            results.append(_result(step, "refused", str(exc)))
        except (EnsembleError, OSError) as exc:
            if step.backup is not None:
                blocked[step.backup.path] = (
                    f"{step.backup.path.name} was left alone: a later change of the mission to it "
                    "could not be undone."
                )
            results.append(_result(step, "failed", f"{step.what}: {exc}"))
        else:
            results.append(_result(step, "undone", message))
    report = RollbackReport(
        mission_id=mission.id, title=mission.title, forced=force, results=results, cannot_undo=limits
    )
    engine.journal.audit(
        mission.id,
        "mission_rolled_back",
        f"Mission undone: {report.summary}",
        forced=force,
        undone=[r.action_id for r in report.of_outcome("undone")],
        refused=[r.action_id for r in report.of_outcome("refused")],
        failed=[r.action_id for r in report.of_outcome("failed")],
        cannot_undo=[limit.action_id for limit in limits],
        complete=report.complete,
    )
    return report


def _result(step: _Step, outcome: str, message: str) -> RollbackResult:
    return RollbackResult(action_id=step.action.id, what=step.what, outcome=outcome, message=message)


class _Refused(EnsembleError):
    """A file changed since the mission wrote it, and the rollback is not forced."""


def _take_back_file(engine: Engine, mission: Mission, step: _Step, force: bool) -> str:
    """Puts one written file back (or trashes one the mission created). Blocking.

    Raises:
        _Refused: It changed since and ``force`` is not set.
        ToolError: Its backup is gone, or the trash cannot take it.
    """
    from connectors.documents._trash import trash

    assert step.backup is not None
    backup, path = step.backup, step.backup.path
    exists = path.exists()
    changed = exists and sha256_file(path) != backup.sha256_after
    if changed and not force:
        lost = would_lose(path, backup.backup_path)
        raise _Refused(
            f"{path.name} was changed after the mission wrote it, so it was left alone. "
            "Undo anyway to restore it; that would lose: " + " ".join(lost)
        )
    if backup.backup_path is not None and not backup.backup_path.exists():
        raise ToolError(f"The copy of {path.name} from before the mission ({backup.backup_path}) is missing.")
    if exists and (changed or backup.backup_path is None):
        trash(path, engine.paths.backups / mission.id)
    if backup.backup_path is None:
        since = " (it had been changed since)" if changed else ""
        return f"Moved {path.name}, which the mission created, to the trash{since}."
    restore(backup, force=True)
    said = f"Restored {path.name} as it was before {_change(step)}."
    return f"{said} Its later version went to the trash." if changed else said


def refusal_if_running(engine: Engine, mission: Mission) -> str | None:
    """Why a mission cannot be undone now (it is still running), or None."""
    try:
        engine._refuse_if_running(mission, "undo")
    except EngineError as exc:
        return str(exc)
    return None
