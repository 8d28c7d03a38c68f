"""Writes: the plan that works a change out in memory, its preview, and the commit.

A plan is shared by a write's preview and its run. The commit saves the plan's document beside
the file, keeps a backup, checks that the file did not change meanwhile and replaces it
atomically, all under the file's :func:`~connectors.base.write_lock`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from connectors.base import (
    TEMP_SUFFIX,
    Backup,
    Preview,
    PreviewDetail,
    ToolContext,
    ToolError,
    ToolOutput,
    note_written,
    sha256_file,
    untrusted,
    write_lock,
)
from connectors.spreadsheet._a1 import (
    EXCEL_MAX_COLUMNS,
    EXCEL_MAX_ROWS,
    MAX_PREVIEW_LINES,
    MAX_WRITE_CELLS,
    _Area,
    _cell_name,
    _column_letters,
    _parse_block,
    _sheet_and_reference,
)
from connectors.spreadsheet._cache import CACHE
from connectors.spreadsheet._documents import (
    _Document,
    _load_document,
    _NewBook,
    _read_original,
    _writable_kind,
)
from connectors.spreadsheet._patch import Unsupported
from connectors.spreadsheet._read import _Kind, _kind_of, _source
from connectors.spreadsheet._values import CellValue, _classify, _Input, _shown
from connectors.spreadsheet.previews import CellsDetail, NewFileDetail, RowsDetail

if TYPE_CHECKING:
    from collections.abc import Sequence

# The argument models live in the package's __init__, which imports this module: a plan names
# only what it reads of them.


_MakePlan = Callable[[bool], "_Plan"]
"""Makes a write's plan; its argument says whether the in-place writer may be used."""


class _WriteArgs(Protocol):
    """What a plan reads of sheet_write's arguments (``SheetWriteArgs``)."""

    path: str
    sheet: str
    range: str
    values: list[list[CellValue]]


class _AppendArgs(Protocol):
    """What a plan reads of sheet_append_rows's arguments (``SheetAppendRowsArgs``)."""

    path: str
    sheet: str
    rows: list[list[CellValue]]


class _CreateArgs(Protocol):
    """What a plan reads of sheet_create's arguments (``SheetCreateArgs``)."""

    path: str
    sheets: list[str]
    rows: dict[str, list[list[CellValue]]]


@dataclass(frozen=True)
class _Change:
    row: int
    column: int
    old: CellValue
    new: CellValue

    def to_json(self) -> dict[str, Any]:
        return {"cell": _cell_name(self.row, self.column), "old": self.old, "new": self.new}


# --- Plans: what a write will do, shared by its preview and its run ---------------------------


@dataclass
class _Plan:
    """A change worked out in memory: the document as it will be saved, and its preview."""

    path: Path
    document: _Document
    original: bytes
    summary: str
    model: type[PreviewDetail]
    detail: dict[str, Any]
    lines: list[str]
    result: dict[str, Any]
    result_notes: list[str] = field(default_factory=list)
    formulas_written: bool = False

    def preview(self, saved: bytes) -> Preview:
        self.document.compare(self.original, saved)
        detail = dict(self.detail)
        text = [self.summary, *self.lines]
        if self.document.notes:
            detail["notes"] = list(self.document.notes)
            text.extend(f"Note: {n}" for n in self.document.notes)
        return Preview(summary=self.summary, detail=self.model.model_validate(detail), text="\n".join(text))


def _classify_rows(rows: Sequence[Sequence[CellValue]], *, rectangular: bool) -> list[list[_Input]]:
    """Classifies every value, checking the size (and, if asked, that rows are equally long).

    Raises:
        ToolError: No values, too many, ragged rows, or a value no cell can take.
    """
    total = sum(len(r) for r in rows)
    if total == 0:
        raise ToolError("There are no values to write: give at least one row with one value.")
    if total > MAX_WRITE_CELLS:
        raise ToolError(f"That is {total:,} cells; write at most {MAX_WRITE_CELLS:,} at a time.")
    if rectangular and len({len(r) for r in rows}) > 1:
        lengths = ", ".join(str(len(r)) for r in rows[:10])
        raise ToolError(
            f"Every row of values must have the same number of cells (these have {lengths}). "
            "Pad short rows with null, which empties a cell, or write them separately."
        )
    return [[_classify(v) for v in row] for row in rows]


def _cell_lines(changes: Sequence[_Change]) -> list[str]:
    lines = [
        f"{_cell_name(c.row, c.column)}: {_shown(c.old)} → {_shown(c.new)}"
        for c in changes[:MAX_PREVIEW_LINES]
    ]
    if len(changes) > MAX_PREVIEW_LINES:
        lines.append(f"… and {len(changes) - MAX_PREVIEW_LINES:,} more cells.")
    return lines


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _plan_write(ctx: ToolContext, args: _WriteArgs, *, fast: bool) -> _Plan:
    path = ctx.resolve(args.path)
    kind = _writable_kind(path, args.path)
    wanted, reference = _sheet_and_reference(args.sheet, args.range)
    area, anchor = _parse_block(reference)
    values = _classify_rows(args.values, rectangular=True)
    height, width = len(values), len(values[0])
    if anchor:
        if area.top + height - 1 > EXCEL_MAX_ROWS or area.left + width - 1 > EXCEL_MAX_COLUMNS:
            raise ToolError(
                f"{height} rows by {width} columns from {reference} run past the edge of the sheet."
            )
        area = _Area(area.top, area.left, area.top + height - 1, area.left + width - 1)
    elif (area.height, area.width) != (height, width):
        raise ToolError(
            f"The range {reference} is {area.height} rows by {area.width} columns, but the "
            f"values are {height} rows by {width} columns. Give the top-left cell alone to let "
            "the values decide, or make the two agree."
        )
    data = _read_original(path, args.path, kind)
    document = _load_document(data, path, args.path, kind, fast=fast)
    sheet = document.sheet(wanted or args.sheet)
    changes: list[_Change] = []
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            r, c = area.top + i, area.left + j
            old = document.get(sheet, r, c)
            document.put(sheet, r, c, value)
            changes.append(_Change(r, c, old, value.shown))
    summary = f"Write {_plural(len(changes), 'cell')} in {sheet} of {path.name}"
    return _Plan(
        path=path,
        document=document,
        original=data,
        summary=summary,
        model=CellsDetail,
        detail={"path": str(path), "sheet": sheet, "range": area.a1, "cells": [c.to_json() for c in changes]},
        lines=_cell_lines(changes),
        result={"path": str(path), "sheet": sheet, "range": area.a1, "cells_written": len(changes)},
    )


def _plan_append(ctx: ToolContext, args: _AppendArgs, *, fast: bool) -> _Plan:
    path = ctx.resolve(args.path)
    kind = _writable_kind(path, args.path)
    rows = _classify_rows(args.rows, rectangular=False)
    data = _read_original(path, args.path, kind)
    document = _load_document(data, path, args.path, kind, fast=fast)
    sheet = document.sheet(args.sheet)
    used = document.data_area(sheet)
    first_row = used.bottom + 1 if used else 1
    left = used.left if used else 1
    width = max(len(r) for r in rows)
    if first_row + len(rows) - 1 > EXCEL_MAX_ROWS or left + width - 1 > EXCEL_MAX_COLUMNS:
        raise ToolError(
            f"'{sheet}' has no room for {_plural(len(rows), 'more row')}: it would pass the last row."
        )
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            document.put(sheet, first_row + i, left + j, value)
    area = _Area(first_row, left, first_row + len(rows) - 1, left + width - 1)
    document.after_append(sheet, area)
    shown_rows = [[v.shown for v in row] for row in rows]
    lines = [
        f"Row {first_row + i}: " + " | ".join(_shown(v) for v in row)
        for i, row in enumerate(shown_rows[:MAX_PREVIEW_LINES])
    ]
    if len(rows) > MAX_PREVIEW_LINES:
        lines.append(f"… and {len(rows) - MAX_PREVIEW_LINES:,} more rows.")
    summary = f"Append {_plural(len(rows), 'row')} to {sheet} of {path.name}, from row {first_row}"
    return _Plan(
        path=path,
        document=document,
        original=data,
        summary=summary,
        model=RowsDetail,
        detail={
            "path": str(path),
            "sheet": sheet,
            "first_row": first_row,
            "first_column": _column_letters(left),
            "range": area.a1,
            "rows": shown_rows,
        },
        lines=lines,
        result={"path": str(path), "sheet": sheet, "range": area.a1, "rows_appended": len(rows)},
    )


_SHEET_NAME_FORBIDDEN = set(":\\/?*[]")


def _check_sheet_names(names: Sequence[str]) -> None:
    """Applies Excel's rules for sheet names.

    Raises:
        ToolError: A name is empty, too long, has a forbidden character, or repeats.
    """
    seen: set[str] = set()
    for name in names:
        problem = None
        if not name.strip():
            problem = "is empty"
        elif len(name) > 31:
            problem = "is longer than 31 characters"
        elif _SHEET_NAME_FORBIDDEN & set(name):
            problem = "contains one of : \\ / ? * [ ]"
        elif name.startswith("'") or name.endswith("'"):
            problem = "starts or ends with an apostrophe"
        elif name.casefold() == "history":
            problem = "is reserved by Excel"
        elif name.casefold() in seen:
            problem = "is used twice (Excel ignores case in sheet names)"
        if problem:
            raise ToolError(f"The sheet name '{name}' {problem}; choose another.")
        seen.add(name.casefold())


def _plan_create(ctx: ToolContext, args: _CreateArgs) -> _Plan:
    path = ctx.resolve(args.path, must_exist=False)
    kind = _writable_kind(path, args.path, creating=True)
    if path.exists() or path.is_symlink():
        raise ToolError(
            f"'{args.path}' already exists; sheet_create makes new files only. Use sheet_write "
            "or sheet_append_rows to change it, or pick another name."
        )
    if not path.parent.is_dir():
        raise ToolError(f"The folder for '{args.path}' does not exist ({path.parent}).")
    _check_sheet_names(args.sheets)
    if kind == "csv" and len(args.sheets) != 1:
        raise ToolError("A CSV file holds exactly one sheet; give one name, or create an .xlsx file.")
    unknown = [n for n in args.rows if n not in args.sheets]
    if unknown:
        raise ToolError(f"rows names sheets that are not in sheets: {', '.join(unknown)}.")
    document = _NewBook(args.path, kind, args.sheets)
    lines: list[str] = [f"Sheets: {', '.join(args.sheets)}"]
    counts: dict[str, int] = {}
    total = sum(len(r) for rows in args.rows.values() for r in rows)
    if total > MAX_WRITE_CELLS:
        raise ToolError(f"That is {total:,} cells; create the file with at most {MAX_WRITE_CELLS:,}.")
    for name, raw_rows in args.rows.items():
        if not raw_rows:
            continue
        rows = _classify_rows(raw_rows, rectangular=False)
        counts[name] = len(rows)
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                document.put(name, i + 1, j + 1, value)
        lines.extend(
            f"{name} row {i + 1}: " + " | ".join(_shown(v.shown) for v in row)
            for i, row in enumerate(rows[:MAX_PREVIEW_LINES])
        )
    detail: dict[str, Any] = {"path": str(path), "sheets": list(args.sheets)}
    if args.rows:
        detail["rows"] = dict(args.rows)
    sheets_text = ("sheet " if len(args.sheets) == 1 else "sheets ") + ", ".join(args.sheets)
    noun = "CSV file" if kind == "csv" else "workbook"
    return _Plan(
        path=path,
        document=document,
        original=b"",
        summary=f"Create the {noun} {path.name} with {sheets_text}",
        model=NewFileDetail,
        detail=detail,
        lines=lines,
        result={"path": str(path), "sheets": list(args.sheets), "rows_written": counts},
    )


# --- Carrying a plan out ----------------------------------------------------------------------


def _preview_sync(plan_fn: _MakePlan) -> Preview:
    plan = plan_fn(True)
    if not plan.document.saved_for_preview:
        # The in-place writer keeps every part it does not edit, so there is nothing to compare.
        return plan.preview(plan.original)
    buffer = io.BytesIO()
    plan.document.save(buffer)
    return plan.preview(buffer.getvalue())


def _check_still_absent(path: Path) -> None:
    if path.exists():
        raise ToolError(f"'{path.name}' appeared while it was being created; nothing was written.")


def _check_backup(path: Path, backup_path: Path | None, original: bytes) -> None:
    if backup_path is None or backup_path.read_bytes() != original:
        raise ToolError(
            f"'{path.name}' changed on disk while it was being written; nothing was written. "
            "Read it again and retry."
        )


def _saved(make_plan: _MakePlan) -> tuple[_Plan, io.BytesIO]:
    """Makes the plan and saves its document in memory (with openpyxl if it must)."""
    plan = make_plan(True)
    saved = io.BytesIO()
    try:
        plan.document.save(saved)
    except Unsupported:
        plan = make_plan(False)
        saved = io.BytesIO()
        plan.document.save(saved)
    return plan, saved


def _commit(ctx: ToolContext, shown: str, make_plan: _MakePlan, *, creating: bool) -> ToolOutput:
    """Carries out a write: plan, save beside the file, back up, then replace atomically.

    The plan reads the file's bytes once, under the file's lock, and the backup must hold the
    same bytes; if the file changes on disk meanwhile, nothing is replaced. On any failure the
    temporary file and the backup are removed and the file is as it was.

    Raises:
        ToolError: The plan was refused, the save failed, or the file changed meanwhile.
    """
    # Held across processes (another window, the command line) from reading the file's state
    # to the replace, so that no other writer's change is lost in between.
    with write_lock(ctx.resolve(shown, must_exist=not creating)):
        # Saved in memory first: a full disk then fails on a plain write, never inside the
        # zip writer (which would leave it half-closed).
        plan, saved = _saved(make_plan)
        handle, temp_name = tempfile.mkstemp(
            dir=plan.path.parent, prefix=f".{plan.path.name}.", suffix=TEMP_SUFFIX
        )
        temp = Path(temp_name)
        backup_path: Path | None = None
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(saved.getbuffer())
            if creating:
                _check_still_absent(plan.path)
            else:
                plan.document.compare(plan.original, temp.read_bytes())
                backup_path = ctx.back_up(plan.path)
                _check_backup(plan.path, backup_path, plan.original)
                os.chmod(temp, plan.path.stat().st_mode & 0o7777)
            if ctx.checkpoint is not None:
                # Journaled before the replace, under the file's lock: after a crash, the file
                # still matching this fingerprint means the write did not happen.
                ctx.checkpoint("absent" if creating else hashlib.sha256(plan.original).hexdigest())
            os.replace(temp, plan.path)
        except BaseException:
            # Cleans up whatever the failure was (KeyboardInterrupt included), then goes on.
            temp.unlink(missing_ok=True)
            if backup_path is not None:
                backup_path.unlink(missing_ok=True)
            raise
        backup = note_written(
            Backup(path=plan.path, backup_path=backup_path, sha256_after=sha256_file(plan.path))
        )
        CACHE.forget(plan.path)
    if plan.formulas_written and plan.document.uncalculated:
        plan.result_notes.append(_FORMULA_NOTE)
    result = dict(plan.result)
    notes = [*plan.document.notes, *plan.result_notes]
    if notes:
        result["note"] = " ".join(notes)
    text = json.dumps(result, ensure_ascii=False)
    if plan.document.notes:
        # These notes quote the file (a table's name, what the writer said about it).
        text = untrusted(text, _source(plan.path))
    written = None
    if "range" in plan.result:
        written = {"sheet": plan.result["sheet"], "range": plan.result["range"]}
    return ToolOutput(text, backup, written=written)


_FORMULA_NOTE = (
    "Some formulas are saved without a calculated value: Excel and LibreOffice calculate them "
    "when they open the file, and sheet_read shows them as their formula text until it is saved there."
)


def _note_formulas(plan: _Plan, values: Sequence[Sequence[CellValue]], kind: _Kind) -> _Plan:
    if kind != "csv" and any(isinstance(v, str) and v.startswith("=") for r in values for v in r):
        plan.formulas_written = True
    return plan


def _write_plan(ctx: ToolContext, args: _WriteArgs, fast: bool = True) -> _Plan:
    """The plan of a write: in place when the writer can, else through openpyxl."""
    try:
        plan = _plan_write(ctx, args, fast=fast)
    except Unsupported:
        plan = _plan_write(ctx, args, fast=False)
    return _note_formulas(plan, args.values, _kind_of(plan.path, args.path))


def _append_plan(ctx: ToolContext, args: _AppendArgs, fast: bool = True) -> _Plan:
    """The plan of an append: in place when the writer can, else through openpyxl."""
    try:
        plan = _plan_append(ctx, args, fast=fast)
    except Unsupported:
        plan = _plan_append(ctx, args, fast=False)
    return _note_formulas(plan, args.rows, _kind_of(plan.path, args.path))


def _create_plan(ctx: ToolContext, args: _CreateArgs, fast: bool = True) -> _Plan:
    """The plan of a new file (always made whole; ``fast`` does not apply)."""
    del fast
    plan = _plan_create(ctx, args)
    rows = [r for sheet_rows in args.rows.values() for r in sheet_rows]
    plan = _note_formulas(plan, rows, _kind_of(plan.path, args.path))
    if plan.formulas_written:
        plan.result_notes.append(_FORMULA_NOTE)
        plan.formulas_written = False
    return plan
