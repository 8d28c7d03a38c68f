"""Writable documents: a workbook or CSV file in memory, changed cell by cell, saved whole.

openpyxl edits .xlsx and .xlsm files (refusing cells a workbook would not take, and telling
what a save would drop from the original), :mod:`csv` writes .csv files back in their own
encoding and dialect, and :class:`_NewBook` is a file that sheet_create makes.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
import zlib
from abc import ABC, abstractmethod
from collections import Counter
from typing import IO, TYPE_CHECKING

import openpyxl
import python_calamine
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell, MergedCell
from openpyxl.worksheet.worksheet import Worksheet

from connectors.base import ToolError
from connectors.spreadsheet._a1 import _Area, _cell_name, _parse_block
from connectors.spreadsheet._patch import PartsWorkbook
from connectors.spreadsheet._read import (
    _OPENPYXL_LOAD_ERRORS,
    _WRITABLE,
    _calamine_errors,
    _check_not_cfb,
    _check_unpacked,
    _CsvTable,
    _find_sheet,
    _Kind,
    _kind_of,
    _openpyxl_quietly,
    _read_calamine,
    _unreadable,
)
from connectors.spreadsheet._values import CellValue, _csv_value, _Input, _json_value

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path


class _Document(ABC):
    """A writable spreadsheet loaded in memory: change it, then save it whole."""

    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.notes: list[str] = []

    @property
    @abstractmethod
    def sheet_names(self) -> list[str]:
        """The sheets, in order."""

    @abstractmethod
    def get(self, sheet: str, row: int, column: int) -> CellValue:
        """A cell's current content as a preview shows it (a formula as its text)."""

    @abstractmethod
    def put(self, sheet: str, row: int, column: int, value: _Input) -> None:
        """Sets one cell's value, keeping its formatting.

        Raises:
            ToolError: The cell cannot take it (merged, locked, a table header...).
        """

    @abstractmethod
    def data_area(self, sheet: str) -> _Area | None:
        """The block spanning every cell that holds a value, or None."""

    @abstractmethod
    def save(self, out: IO[bytes]) -> None:
        """Writes the whole file.

        Raises:
            ToolError: It could not be saved.
        """

    def after_append(self, sheet: str, area: _Area) -> None:
        """Lets a format react to appended rows (a table grows to take them in)."""
        del sheet, area

    def compare(self, original: bytes, saved: bytes) -> None:
        """Adds notes on what the save dropped from the original file, if it can tell."""
        del original, saved

    def sheet(self, name: str) -> str:
        """Resolves a sheet name the model gave. Raises ToolError when there is none."""
        return _find_sheet(name, self.sheet_names, self.shown)

    saved_for_preview = True
    """Whether a preview saves the file in memory (to tell what a save would drop)."""

    @property
    def uncalculated(self) -> bool:
        """Whether the saved file holds formulas without a calculated value (known after save)."""
        return True


# --- Editing the parts in place ---------------------------------------------------------------


class _PartsDocument(_Document):
    """An .xlsx or .xlsm workbook edited in place by :class:`PartsWorkbook`.

    Raises :class:`Unsupported` from any method for a change openpyxl has to make instead.
    """

    saved_for_preview = False  # It drops nothing, so a preview has nothing to compare.

    def __init__(self, data: bytes, shown: str, path: Path, kind: _Kind) -> None:
        super().__init__(shown)
        self.book = PartsWorkbook(data, shown)
        self._path = path
        self._kind = kind

    @property
    def sheet_names(self) -> list[str]:
        return [name for name, _, _ in self.book.sheets]

    def get(self, sheet: str, row: int, column: int) -> CellValue:
        return self.book.get(sheet, row, column)

    def put(self, sheet: str, row: int, column: int, value: _Input) -> None:
        self.book.put(sheet, row, column, value)

    def data_area(self, sheet: str) -> _Area | None:
        self.book.sheet_xml(sheet)  # A chart sheet is refused as by openpyxl.
        # The parsed-sheet cache knows the block (calamine's, with the formulas it misses).
        result = _read_calamine(self._path, self.shown, self._kind, sheet, all_sheets=False)
        return result.grids[sheet].used

    def save(self, out: IO[bytes]) -> None:
        self.book.save(out)

    @property
    def uncalculated(self) -> bool:
        return self.book.uncalculated


# --- openpyxl ---------------------------------------------------------------------------------

_FEATURES: tuple[tuple[str, str], ...] = (
    ("xl/charts/chart", "chart"),
    ("xl/charts/style", "chart style"),
    ("xl/charts/colors", "chart colour scheme"),
    ("xl/chartsheets/", "chart sheet"),
    ("xl/drawings/drawing", "drawing"),
    ("xl/media/", "picture"),
    ("xl/pivotTables/", "pivot table"),
    ("xl/pivotCache/pivotCacheDefinition", "pivot cache"),
    ("xl/tables/", "table"),
    ("xl/comments", "comment sheet"),
    ("xl/threadedComments/", "threaded comment sheet"),
    ("xl/slicers/", "slicer"),
    ("xl/slicerCaches/", "slicer cache"),
    ("xl/timelines/", "timeline"),
    ("xl/externalLinks/externalLink", "link to another workbook"),
    ("xl/vbaProject.bin", "macro (VBA) project"),
    ("xl/ctrlProps/", "form control"),
    ("xl/activeX/", "ActiveX control"),
    ("xl/embeddings/", "embedded object"),
    ("xl/model/", "data model"),
    ("xl/queryTables/", "query table"),
    ("xl/connections.xml", "data connection list"),
    ("xl/richData/", "rich value (picture in a cell or linked data type)"),
    ("xl/printerSettings/", "printer setting"),
    ("customXml/item", "custom XML part"),
    ("xl/worksheets/sheet", "worksheet"),
    ("xl/macrosheets/", "macro sheet"),
    ("xl/dialogsheets/", "dialog sheet"),
)
"""Parts of an .xlsx by what they mean to a person, to tell what a save dropped.

Other parts (shared strings, the calculation chain, themes, document properties) are
rebuilt by openpyxl under other names and mean nothing lost.
"""


def _features(data: bytes) -> Counter[str]:
    counts: Counter[str] = Counter()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                name = info.filename
                if "/_rels/" in name or (not name.endswith((".xml", ".bin")) and "/media/" not in name):
                    continue
                for prefix, feature in _FEATURES:
                    if name.startswith(prefix):
                        if feature == "drawing" and b"Anchor" not in archive.read(info):
                            break  # An empty drawing part holds nothing a person could miss.
                        counts[feature] += 1
                        break
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError):
        return Counter()
    return counts


_DATE_WARNING = "outside the limits for dates"


class _OpenpyxlDocument(_Document):
    """An .xlsx or .xlsm workbook opened by openpyxl."""

    def __init__(self, data: bytes, shown: str, path: Path, kind: _Kind) -> None:
        super().__init__(shown)
        self._arrays: dict[str, list[tuple[str, str, _Area]]] = {}
        recorded: list[str] = []
        try:
            with _openpyxl_quietly(recorded):
                self.book = openpyxl.load_workbook(
                    io.BytesIO(data), keep_vba=kind == "xlsm", keep_links=True, rich_text=True
                )
        except _OPENPYXL_LOAD_ERRORS as exc:
            # Says "damaged" if the reader fails too, and "read-only" only if it does not.
            with _calamine_errors(path, shown, kind):
                python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data)).close()
            raise ToolError(
                f"'{shown}' can be read but not changed: the spreadsheet writer (openpyxl) "
                "cannot open it. Open it in Excel and save it again, or write the changes to a "
                f"new file made with sheet_create. (Details: {type(exc).__name__}: {exc}.)"
            ) from exc
        except OSError as exc:
            raise _unreadable(shown, exc) from exc
        for message in recorded:
            if _DATE_WARNING in message:
                raise ToolError(
                    f"'{shown}' cannot be changed safely: {message.split('. The cell')[0]}, and "
                    "saving would turn it into an error value. Fix that cell's number format "
                    "in Excel first."
                )
        self.notes.extend(f"The spreadsheet writer says: {m}" for m in dict.fromkeys(recorded))

    @property
    def sheet_names(self) -> list[str]:
        return list(self.book.sheetnames)

    def _worksheet(self, sheet: str) -> Worksheet:
        found = self.book[sheet]
        if not isinstance(found, Worksheet):
            raise ToolError(f"'{sheet}' in '{self.shown}' is a chart sheet; it has no cells to write.")
        return found

    def get(self, sheet: str, row: int, column: int) -> CellValue:
        ws = self._worksheet(sheet)
        cell = ws._cells.get((row, column))  # Reading _cells does not create empty cells.
        if cell is None:
            return None
        value: object = cell.value
        if isinstance(value, str) and cell.data_type == "f":
            return value
        text = getattr(value, "text", None)
        if cell.data_type == "f" and isinstance(text, str):
            return "{" + text + "}"  # An array formula, shown as Excel shows it.
        return _json_value(value)

    def put(self, sheet: str, row: int, column: int, value: _Input) -> None:
        ws = self._worksheet(sheet)
        name = _cell_name(row, column)
        cell = ws.cell(row, column)
        if isinstance(cell, MergedCell):
            merged = next((str(r) for r in ws.merged_cells.ranges if name in r), "a merged area")
            raise ToolError(
                f"{name} on '{sheet}' is covered by the merged cells {merged}; only the top-left "
                "cell of a merged area holds a value. Write to that cell instead."
            )
        assert isinstance(cell, Cell)
        if ws.protection.sheet and cell.protection.locked:
            raise ToolError(
                f"'{sheet}' is protected in Excel and {name} is locked. Ask the person to "
                "unprotect the sheet (Review > Unprotect Sheet) if it should change."
            )
        if sheet not in self._arrays:
            # array_formulae scans every cell of the sheet, so it is asked once per sheet.
            self._arrays[sheet] = [(a, r, _parse_block(r)[0]) for a, r in ws.array_formulae.items()]
        for anchor, ref, block in self._arrays[sheet]:
            if anchor != name and block.contains(row, column):
                raise ToolError(
                    f"{name} on '{sheet}' is part of the array formula in {ref}; change the "
                    f"formula in {anchor} instead."
                )
        self._check_table_header(ws, sheet, row, column, value)
        if value.kind == "text":
            assert isinstance(value.value, str)
            if ILLEGAL_CHARACTERS_RE.search(value.value):
                raise ToolError(
                    f"The text for {name} holds control characters that a workbook cannot "
                    "store; leave them out."
                )
            cell.value = value.value
            cell.data_type = "s"  # Even when it starts with "=": the apostrophe said text.
        else:
            cell.value = value.value

    def _check_table_header(self, ws: Worksheet, sheet: str, row: int, column: int, value: _Input) -> None:
        """Renames a table's column when its header cell is written; refuses a bad header.

        Excel requires a table's header cells to hold its column names, unique text; a file
        where they differ is "repaired" when opened, losing the table.
        """
        for table in ws.tables.values():
            area = _parse_block(table.ref)[0]
            if table.headerRowCount == 0 or row != area.top or not area.contains(row, column):
                continue
            index = column - area.left
            new = value.value if value.kind == "text" else None
            others = {c.name.casefold() for i, c in enumerate(table.tableColumns) if i != index and c.name}
            if not isinstance(new, str) or not new.strip() or new.casefold() in others:
                raise ToolError(
                    f"{_cell_name(row, column)} on '{sheet}' is a header of the table "
                    f"'{table.displayName}'; it must be text that no other column of the table "
                    "already uses."
                )
            if index < len(table.tableColumns):
                table.tableColumns[index].name = new

    def data_area(self, sheet: str) -> _Area | None:
        ws = self._worksheet(sheet)
        area: _Area | None = None
        # Worksheet._cells is the one view of the cells that does not create empty ones as it
        # is walked (iter_rows fills every gap), and the only way not to walk formatted blanks.
        for (row, column), cell in ws._cells.items():
            if cell.value is not None:
                area = _Area(row, column, row, column).union(area)
        return area

    def after_append(self, sheet: str, area: _Area) -> None:
        ws = self._worksheet(sheet)
        for table in ws.tables.values():
            current = _parse_block(table.ref)[0]
            if (
                current.bottom == area.top - 1
                and current.left == area.left
                and area.right <= current.right
                and not table.totalsRowCount
            ):
                grown = _Area(current.top, current.left, area.bottom, current.right).a1.replace("$", "")
                table.ref = grown
                if table.autoFilter is not None:
                    table.autoFilter.ref = grown
                self.notes.append(f"The table '{table.displayName}' now spans {grown}.")

    def save(self, out: IO[bytes]) -> None:
        ignored: list[str] = []
        try:
            with _openpyxl_quietly(ignored):
                self.book.save(out)
        except (LookupError, TypeError, ValueError) as exc:
            # openpyxl fails this way on content it read but cannot write back (seen with
            # damaged parts it accepted on loading).
            raise ToolError(
                f"'{self.shown}' could not be saved by the spreadsheet writer ({type(exc).__name__}: "
                f"{exc}); nothing was changed."
            ) from exc

    def compare(self, original: bytes, saved: bytes) -> None:
        before, after = _features(original), _features(saved)
        lost = [
            f"{before[k] - after.get(k, 0)} {k}{'s' if before[k] - after.get(k, 0) > 1 else ''}"
            for k in before
            if before[k] > after.get(k, 0)
        ]
        if lost:
            self.notes.append(
                "The saved file no longer has: " + ", ".join(lost) + ". The spreadsheet writer "
                "(openpyxl) cannot keep them; undoing the write brings them back."
            )


# --- CSV ---------------------------------------------------------------------------------------


def _csv_text(value: _Input) -> str:
    if value.kind == "empty":
        return ""
    if value.kind == "bool":
        return "TRUE" if value.value else "FALSE"
    if isinstance(value.value, dt.date):
        return value.value.isoformat()
    if isinstance(value.value, float):
        return repr(value.value)
    return str(value.value)


class _CsvDocument(_Document):
    def __init__(self, data: bytes, shown: str, path: Path) -> None:
        super().__init__(shown)
        self._name = path.stem
        self.table = _CsvTable.parse(data, shown)

    @property
    def sheet_names(self) -> list[str]:
        return [self._name]

    def sheet(self, name: str) -> str:
        if name.strip().casefold() != self._name.casefold():
            raise ToolError(
                f"A CSV file has one sheet, named after the file: use sheet '{self._name}' "
                f"for '{self.shown}'."
            )
        return self._name

    def get(self, sheet: str, row: int, column: int) -> CellValue:
        return _csv_value(self.table.get(row, column))

    def put(self, sheet: str, row: int, column: int, value: _Input) -> None:
        self.table.set(row, column, _csv_text(value))

    def data_area(self, sheet: str) -> _Area | None:
        return self.table.used()

    def save(self, out: IO[bytes]) -> None:
        out.write(self.table.dump())


def _load_document(data: bytes, path: Path, shown: str, kind: _Kind, *, fast: bool = True) -> _Document:
    """The document to change: CSV, the in-place writer (``fast``) or openpyxl.

    Raises:
        Unsupported: ``fast`` was asked and the file is not one the in-place writer edits.
        ToolError: The file cannot be opened for writing.
    """
    if kind == "csv":
        return _CsvDocument(data, shown, path)
    if fast:
        return _PartsDocument(data, shown, path, kind)
    return _OpenpyxlDocument(data, shown, path, kind)


def _writable_kind(path: Path, shown: str, *, creating: bool = False) -> _Kind:
    kind = _kind_of(path, shown)
    if kind in _WRITABLE and not (creating and kind == "xlsm"):
        return kind
    if creating and kind == "xlsm":
        raise ToolError(
            "A new workbook has no macros, and Excel refuses an .xlsm file without them: create it as .xlsx."
        )
    reasons = {
        "ods": "no writer available here keeps an OpenDocument file's formatting and formulas",
        "xls": "the old Excel 97-2003 format cannot be written here",
        "xlsb": "the Excel binary format cannot be written here",
    }
    advice = (
        "create a new .xlsx file with sheet_create"
        if creating
        else "ask the person to save a copy as .xlsx (File > Save As > Excel Workbook) and write to that"
    )
    raise ToolError(
        f"'{shown}' is read-only for these tools: {reasons.get(kind, '')}. To change it, {advice}."
    )


def _read_original(path: Path, shown: str, kind: _Kind) -> bytes:
    _check_not_cfb(path, shown, kind)
    _check_unpacked(path, shown, kind)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _unreadable(shown, exc) from exc


# --- A new file --------------------------------------------------------------------------------


class _NewBook(_Document):
    """A workbook being created: openpyxl for .xlsx, a CSV table for .csv."""

    def __init__(self, shown: str, kind: _Kind, names: Sequence[str]) -> None:
        super().__init__(shown)
        self._names = list(names)
        self._csv = (
            _CsvTable([], "utf-8", csv.excel, "\r\n", ends_with_newline=True) if kind == "csv" else None
        )
        self.book = openpyxl.Workbook()
        first = self.book.active
        assert isinstance(first, Worksheet)
        first.title = names[0]
        for name in names[1:]:
            self.book.create_sheet(name)

    @property
    def sheet_names(self) -> list[str]:
        return list(self._names)

    def get(self, sheet: str, row: int, column: int) -> CellValue:
        return None

    def put(self, sheet: str, row: int, column: int, value: _Input) -> None:
        if self._csv is not None:
            self._csv.set(row, column, _csv_text(value))
            return
        ws = self.book[sheet]
        assert isinstance(ws, Worksheet)
        if (
            value.kind == "text"
            and isinstance(value.value, str)
            and ILLEGAL_CHARACTERS_RE.search(value.value)
        ):
            raise ToolError(
                f"The text for {_cell_name(row, column)} holds control characters a workbook cannot store."
            )
        cell = ws.cell(row, column)
        cell.value = value.value
        if value.kind == "text":
            cell.data_type = "s"

    def data_area(self, sheet: str) -> _Area | None:
        return None

    def save(self, out: IO[bytes]) -> None:
        if self._csv is not None:
            out.write(self._csv.dump())
            return
        ignored: list[str] = []
        with _openpyxl_quietly(ignored):
            self.book.save(out)
