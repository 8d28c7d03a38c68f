"""Reading a write back: the cells a write, an append or a new file put in, read from the file
as it is now and compared with the approved values.

Only the written cells are read: an .xlsx/.xlsm file through the in-place writer's parts
(one sheet's XML unpacked, each row found by binary search), openpyxl only when that cannot
read the file, a CSV file as its table. Formulas are compared by their text, never by a
calculated value; dates by the moment they stand for (a date written as ``2024-05-31`` reads
back as ``2024-05-31T00:00:00``); numbers by value.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zipfile
import zlib
from typing import TYPE_CHECKING, Any

from connectors.base import (
    MAX_CHECKED_DIFFERENCES,
    ToolContext,
    ToolError,
    ToolOutput,
    WriteCheck,
)
from connectors.spreadsheet._a1 import _Area, _cell_name, _parse_block, _sheet_and_reference
from connectors.spreadsheet._documents import (
    _csv_text,
    _Document,
    _load_document,
    _PartsDocument,
    _read_original,
)
from connectors.spreadsheet._patch import Unsupported, _SheetXml
from connectors.spreadsheet._read import _Kind, _kind_of
from connectors.spreadsheet._values import CellValue, _classify, _csv_value, _Input, _shown

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

_ROW_NUMBER = re.compile(rb"""<row\b[^>]*?\br\s*=\s*["'](\d+)["']""")
"""A stored row's start tag, with its number."""

_Block = tuple[str, int, int, "Sequence[Sequence[CellValue]]"]
"""A sheet name as given, the top row, the left column, and the approved rows from there."""


def _agrees(expected: _Input, found: CellValue, kind: _Kind) -> bool:
    """Whether a cell read back holds the approved value (see the module docstring)."""
    if kind == "csv":
        return found == _csv_value(_csv_text(expected))
    if expected.kind == "empty":
        return found is None or found == ""
    if expected.kind == "bool":
        return isinstance(found, bool) and found == expected.value
    if expected.kind == "number":
        if isinstance(found, bool) or not isinstance(found, int | float):
            return False
        assert isinstance(expected.value, int | float)
        return math.isclose(float(found), float(expected.value), rel_tol=1e-12, abs_tol=1e-300)
    if expected.kind == "date":
        return isinstance(found, str) and _same_moment(expected.value, found)
    # Text and formulas: the text itself (a formula's text with its "=").
    return found == expected.value


def _same_moment(expected: object, found: str) -> bool:
    try:
        moment = dt.datetime.fromisoformat(found)
    except ValueError:
        return False
    if isinstance(expected, dt.datetime):
        # A date is stored as a fraction of a day: allow a millisecond.
        return abs((moment.replace(tzinfo=None) - expected.replace(tzinfo=None)).total_seconds()) < 0.001
    return isinstance(expected, dt.date) and moment.date() == expected and moment.time() == dt.time()


_PIECE = 1 << 18
"""Bytes of a sheet's XML unpacked at a time while looking for the end of the written rows."""


class _Reader:
    """The file as it is now, opened once for every cell read back."""

    def __init__(self, path: Path, shown: str, kind: _Kind) -> None:
        self.path, self.shown, self.kind = path, shown, kind
        self.data = _read_original(path, shown, kind)
        self.document: _Document = _load_document(self.data, path, shown, kind, fast=True)

    def sheet(self, name: str) -> str:
        return self.document.sheet(name)

    def rows_of(self, sheet: str, top: int, bottom: int) -> None:
        """Unpacks a sheet's XML only as far as row ``bottom`` (its rows are stored in order),
        keeping its head and the rows from ``top`` on, so reading back a few rows of a big sheet
        neither unpacks all of it nor keeps it in memory."""
        if not isinstance(self.document, _PartsDocument):
            return
        book = self.document.book
        entry = next((s for s in book.sheets if s[0] == sheet), None)
        if sheet in book._xml or entry is None or entry[2] != "worksheet" or entry[1] not in book.names:
            return  # Already read, or not a plain worksheet: sheet_xml says why.
        part = str(entry[1])
        kept: list[bytes] = []
        carry = b""
        head = True  # Until the sheet's data begins, everything is kept.
        current = 0  # The last row begun so far.
        try:
            with book.archive.open(part) as handle:
                while True:
                    piece = handle.read(_PIECE)
                    if not piece:
                        kept.append(carry)  # The whole sheet, as sheet_xml would read it.
                        break
                    window = carry + piece
                    limit = window.rfind(b"<")
                    limit = len(window) if limit < 0 else limit
                    # Rows are in order: only the window whose last row is past the written
                    # ones is searched row by row.
                    last = window.rfind(b"<row", 0, limit)
                    found = _ROW_NUMBER.match(window, last, limit) if last >= 0 else None
                    if found is not None and int(found[1]) > bottom:
                        first = next(m for m in _ROW_NUMBER.finditer(window, 0, limit) if int(m[1]) > bottom)
                        kept.append(window[: first.start()])
                        kept.append(b"</sheetData></worksheet>")
                        break
                    current = int(found[1]) if found is not None else current
                    data = window.find(b"<sheetData", 0, limit) if head else -1
                    if current >= top:
                        kept.append(window[:limit])
                    elif head:
                        # The sheet's head, without the rows above the written ones: a row must
                        # never be kept without its end (the reader would take the next end).
                        row = window.find(b"<row", data) if data >= 0 else -1
                        kept.append(window[: row if 0 <= row < limit else limit])
                    # Else the window is wholly above the written rows: dropped. What is left of
                    # a row it cut is not a row to the reader, which starts at "<row".
                    head = head and data < 0
                    carry = window[limit:]
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError):
            return  # sheet_xml reads it whole, and says what is wrong with it.
        xml = b"".join(kept)
        book._xml[sheet] = _SheetXml(sheet, part, xml, self.shown)

    def get(self, sheet: str, row: int, column: int) -> CellValue:
        try:
            return self.document.get(sheet, row, column)
        except Unsupported:
            # A file the parts reader cannot read: openpyxl reads it whole, once.
            self.document = _load_document(self.data, self.path, self.shown, self.kind, fast=False)
            return self.document.get(sheet, row, column)


def check_cells(ctx: ToolContext, shown: str, blocks: Sequence[_Block]) -> WriteCheck:
    """Reads the written cells back from the file and compares them with the approved values.

    Blocking.

    Args:
        ctx: The call's context (the workspace).
        shown: The file as the model named it.
        blocks: What was written: each a sheet name, top row, left column and rows of values
            as approved (a row may be shorter than others).

    Returns:
        The check, its differences in words ("B2 on Sheet1 holds 99, not 42 as approved").

    Raises:
        ToolError: The file cannot be read (the check is then reported as not done).
    """
    path = ctx.resolve(shown)
    kind = _kind_of(path, shown)
    reader = _Reader(path, shown, kind)
    differences: list[str] = []
    cells = 0
    sheets: list[str] = []
    for name, top, left, rows in blocks:
        try:
            sheet = reader.sheet(name)
        except ToolError:
            differences.append(f"{path.name} has no sheet named {name}")
            continue
        if sheet not in sheets:
            sheets.append(sheet)
        reader.rows_of(sheet, top, top + len(rows) - 1)
        for i, row in enumerate(rows):
            for j, raw in enumerate(row):
                cells += 1
                expected = _classify(raw)
                found = reader.get(sheet, top + i, left + j)
                if not _agrees(expected, found, kind) and len(differences) < MAX_CHECKED_DIFFERENCES:
                    differences.append(
                        f"{_cell_name(top + i, left + j)} on {sheet} holds {_shown(found)}, "
                        f"not {_shown(expected.shown)} as approved"
                    )
    if not cells:
        return WriteCheck(f"the sheets of {path.name}", tuple(differences))
    where = sheets[0] if len(sheets) == 1 else f"{len(sheets)} sheets"
    noun = "cell" if cells == 1 else "cells"
    return WriteCheck(f"{cells:,} {noun} in {where} of {path.name}", tuple(differences))


def write_blocks(args: Any) -> list[_Block]:
    """What ``sheet_write`` wrote, from its approved arguments (``SheetWriteArgs``)."""
    wanted, reference = _sheet_and_reference(args.sheet, args.range)
    area, _anchor = _parse_block(reference)
    return [(wanted or args.sheet, area.top, area.left, args.values)]


def append_blocks(args: Any, output: ToolOutput) -> list[_Block]:
    """What ``sheet_append_rows`` wrote: its approved rows, where the write put them.

    Raises:
        ToolError: The write did not say where it put them.
    """
    written = output.written or {}
    if "range" not in written:
        raise ToolError("the write did not say which rows it added")
    area: _Area = _parse_block(str(written["range"]))[0]
    return [(str(written.get("sheet") or args.sheet), area.top, area.left, args.rows)]


def create_blocks(args: Any) -> list[_Block]:
    """What ``sheet_create`` wrote: each sheet, with its first rows from A1 (``SheetCreateArgs``)."""
    return [(name, 1, 1, args.rows.get(name) or []) for name in args.sheets]
