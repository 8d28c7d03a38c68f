"""Reading workbooks: python-calamine, its second pass through openpyxl, and CSV files.

Before any workbook is opened it is checked: its kind by its extension, what its parts would
unpack to (:func:`_check_unpacked`), and whether it is really an encrypted or old-style file
under an .xlsx name (:func:`_check_not_cfb`). Every failure becomes a :class:`ToolError` that
says what the file is and what a person can do about it.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import threading
import warnings
import zipfile
import zlib
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeAlias
from xml.etree.ElementTree import ParseError

import openpyxl
import python_calamine
from openpyxl.cell.read_only import ReadOnlyCell
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

from connectors.base import ToolContext, ToolError
from connectors.spreadsheet._a1 import _Area
from connectors.spreadsheet._values import CellValue, _csv_value, _json_value

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

# ---------------------------------------------------------------------------------------------
# Kinds of file
# ---------------------------------------------------------------------------------------------

_Kind = Literal["xlsx", "xlsm", "xlsb", "xls", "ods", "csv"]
_KINDS: dict[str, _Kind] = {
    ".xlsx": "xlsx",
    ".xlsm": "xlsm",
    ".xlsb": "xlsb",
    ".xls": "xls",
    ".ods": "ods",
    ".csv": "csv",
}
_WRITABLE: frozenset[_Kind] = frozenset({"xlsx", "xlsm", "csv"})
_CFB_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
"""An OLE compound file: an .xls workbook, or an encrypted (password-protected) .xlsx."""


# ---------------------------------------------------------------------------------------------
# Opening files, and what to say when they cannot be opened
# ---------------------------------------------------------------------------------------------


def _kind_of(path: Path, shown: str) -> _Kind:
    kind = _KINDS.get(path.suffix.lower())
    if kind is None:
        raise ToolError(
            f"'{shown}' is not a spreadsheet these tools open: they read .xlsx, .xlsm, .xlsb, "
            ".xls, .ods and .csv files."
        )
    return kind


def _looks_like(path: Path) -> str:
    """Guesses what a file that failed to open really is, for the error message."""
    try:
        with path.open("rb") as handle:
            head = handle.read(2048)
    except OSError:
        return ""
    if not head:
        return " The file is empty (0 bytes)."
    if head.startswith(b"%PDF"):
        return " It is a PDF document."
    if head.startswith(b"PK"):
        return " It is a zip archive, but its contents are not a spreadsheet or are damaged."
    if head.startswith(_CFB_MAGIC):
        return " It is an old-style Office file (such as .xls or .doc)."
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return ""
    return " It looks like a plain text file."


def _damaged(shown: str, path: Path, kind: _Kind) -> ToolError:
    names = {
        "xlsx": "Excel workbook",
        "xlsm": "Excel workbook",
        "xlsb": "Excel binary workbook",
        "xls": "Excel 97-2003 workbook",
        "ods": "OpenDocument spreadsheet",
        "csv": "CSV file",
    }
    return ToolError(
        f"'{shown}' could not be read as an {names[kind]}: it is damaged or is another kind "
        f"of file with a spreadsheet's name.{_looks_like(path)} Open it in Excel or LibreOffice "
        "to check it, or ask for another copy."
    )


def _password_protected(shown: str) -> ToolError:
    return ToolError(
        f"'{shown}' is protected with a password, so it cannot be opened here. Ask the person "
        "to save a copy without the password (in Excel: File > Info > Protect Workbook > "
        "Encrypt with Password, and clear it; in LibreOffice: File > Save As, without "
        "'Save with password')."
    )


def _unreadable(shown: str, exc: OSError) -> ToolError:
    return ToolError(f"'{shown}' could not be opened: {exc.strerror or exc}.")


MAX_UNPACKED_BYTES = 512 * 1024 * 1024
"""The most bytes a workbook's parts may unpack to, in all: far above any real workbook of a
million cells, far below what a crafted "zip bomb" of one megabyte unpacks to."""
MAX_PART_RATIO = 200
"""The most a big part (over 16 MB unpacked) may be compressed, as unpacked / packed: XML of
real cells compresses 5 to 30 times; a part of repeated filler, thousands of times."""


def _check_unpacked(path: Path, shown: str, kind: _Kind) -> None:
    """Refuses a zip-based workbook whose parts would unpack to more than a read may cost.

    Raises:
        ToolError: The limit, in words, and how big the file would be unpacked.
    """
    if kind not in ("xlsx", "xlsm", "xlsb", "ods"):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (OSError, zipfile.BadZipFile, EOFError):
        return  # the reader says what is wrong with it, in its words
    total = sum(info.file_size for info in infos)
    if total > MAX_UNPACKED_BYTES:
        raise ToolError(
            f"'{shown}' would unpack to {total / 2**20:,.0f} MB, more than the "
            f"{MAX_UNPACKED_BYTES / 2**20:,.0f} MB Ensemble reads from one workbook; it was not opened. "
            "If it is genuine, split it into smaller workbooks."
        )
    for info in infos:
        ratio = info.file_size // max(info.compress_size, 1)
        if info.file_size > 16 * 2**20 and ratio > MAX_PART_RATIO:
            raise ToolError(
                f"'{shown}' holds a part ({info.filename}) that unpacks {ratio:,} times larger than it "
                f"is stored, more than the {MAX_PART_RATIO} times of real workbook data: it looks "
                "crafted to exhaust memory, so it was not opened."
            )


def _check_not_cfb(path: Path, shown: str, kind: _Kind) -> None:
    """Refuses an .xlsx/.xlsm/.xlsb that is really an OLE compound file, saying which kind.

    Excel saves a password-protected workbook as an OLE container holding an
    "EncryptionInfo" stream, whatever its extension; an .xls renamed to .xlsx is one too.
    """
    if kind not in ("xlsx", "xlsm", "xlsb"):
        return
    try:
        with path.open("rb") as handle:
            if handle.read(8) != _CFB_MAGIC:
                return
            data = handle.read()
    except OSError as exc:
        raise _unreadable(shown, exc) from exc
    if "EncryptionInfo".encode("utf-16-le") in data:
        raise _password_protected(shown)
    raise ToolError(
        f"'{shown}' is an old-style Excel 97-2003 file with a {path.suffix} name. Rename it "
        "to .xls to read it, or open it in Excel and save it as .xlsx to change it."
    )


@contextmanager
def _calamine_errors(path: Path, shown: str, kind: _Kind) -> Iterator[None]:
    """Turns python-calamine's failures into ToolErrors a person can act on."""
    try:
        yield
    except python_calamine.PasswordError as exc:
        raise _password_protected(shown) from exc
    except python_calamine.CalamineError as exc:
        raise _damaged(shown, path, kind) from exc
    except OSError as exc:
        raise _unreadable(shown, exc) from exc
    except BaseException as exc:
        # python-calamine reports a panic in its Rust code (seen on truncated .xls and
        # encrypted files) as pyo3's PanicException, which derives from BaseException and
        # cannot be imported by name; only that one is caught here, anything else goes on.
        if type(exc).__name__ != "PanicException":
            raise
        raise _damaged(shown, path, kind) from None


_OPENPYXL_LOCK = threading.Lock()
"""Serialises openpyxl calls so their warnings can be recorded: catch_warnings is global."""

_OPENPYXL_LOAD_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    ParseError,
    InvalidFileException,
    LookupError,
    TypeError,
    ValueError,
    NotImplementedError,
    EOFError,
)
"""What openpyxl raises on a damaged file.

openpyxl validates little of what it parses, so a damaged part surfaces as whatever builtin
error the parsing code meets; these are the kinds seen by feeding it truncated and altered
copies of real workbooks (KeyError and IndexError are LookupErrors; UnicodeDecodeError a
ValueError). OSError is left out on purpose: it is handled as "could not be opened".
"""


@contextmanager
def _openpyxl_quietly(recorded: list[str]) -> Iterator[None]:
    """Runs openpyxl with its warnings recorded, not printed (nor raised under pytest)."""
    with _OPENPYXL_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            recorded.extend(str(w.message) for w in caught)


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SheetInfo:
    name: str
    hidden: bool = False
    chart: bool = False


class _Grid(ABC):
    """One sheet's values, read-only."""

    name: str
    used: _Area | None
    showed_uncalculated = False
    """Set once rows() has shown a formula's text for want of a calculated value."""

    @abstractmethod
    def rows(self, area: _Area) -> Iterator[list[CellValue]]:
        """Yields the rows of a block, each as wide as the block (null where empty)."""


@dataclass
class _ReadResult:
    """What a read tool learnt: which sheets, and the chosen sheet's values."""

    sheets: list[_SheetInfo]
    grids: dict[str, _Grid] = field(default_factory=dict)


def _find_sheet(name: str | None, names: Sequence[str], shown: str) -> str:
    """Picks a sheet by name (exactly, else ignoring case, as Excel does); None is the first.

    Raises:
        ToolError: No sheet of that name (the message lists the ones there are).
    """
    if not names:
        raise ToolError(f"'{shown}' has no sheets.")
    if name is None:
        return names[0]
    if name in names:
        return name
    folded = [n for n in names if n.casefold() == name.strip().casefold()]
    if len(folded) == 1:
        return folded[0]
    listed = ", ".join(f"'{n}'" for n in names)
    raise ToolError(f"'{shown}' has no sheet named '{name}'. Its sheets are: {listed}.")


# --- python-calamine -------------------------------------------------------------------------

_NEEDS_SECOND_PASS_RE = re.compile(
    rb"""\st\s*=\s*["']e["']"""  # An error cell.
    rb"|<(?:\w+:)?v\s*/>|<(?:\w+:)?v>\s*</(?:\w+:)?v>"  # An empty cached value.
    rb"|</(?:\w+:)?f>\s*</(?:\w+:)?c>"  # A formula with no cached value at all.
    rb"|<(?:\w+:)?f\b[^>]*/>\s*</(?:\w+:)?c>"  # A shared formula with none.
)
"""Marks in a worksheet's XML of cells python-calamine reads as empty though they are not."""


def _needs_second_pass(path: Path) -> bool:
    """Tells whether any worksheet of an .xlsx/.xlsm has error cells or uncalculated formulas.

    Reads each sheet's XML in chunks (keeping an overlap for marks across a boundary), so its
    memory stays small whatever the sheet's size.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml"):
                    with archive.open(info) as part:
                        tail = b""
                        while chunk := part.read(1 << 20):
                            if _NEEDS_SECOND_PASS_RE.search(tail + chunk):
                                return True
                            tail = chunk[-512:]
    except (OSError, zipfile.BadZipFile, zlib.error, EOFError):
        # calamine read the file; if this quick look cannot, the second pass is skipped.
        return False
    return False


_Overrides: TypeAlias = dict[tuple[int, int], CellValue]


def _second_pass(path: Path, names: Sequence[str]) -> dict[str, _Overrides]:
    """Reads error texts and uncalculated formulas that python-calamine shows as empty.

    Uses openpyxl's streaming reader twice: once for cached values (an error cell's text)
    and once for formulas. A formula cell whose cached value is missing (not an empty string)
    is shown as its formula text.

    Args:
        path: An .xlsx or .xlsm file that calamine has read.
        names: The sheets wanted.

    Returns:
        Per sheet, 1-based (row, column) to the value to show; only for cells calamine left
        empty does the caller use it. Empty when openpyxl cannot read the file.
    """
    errors: dict[str, _Overrides] = {name: {} for name in names}
    uncached: dict[str, set[tuple[int, int]]] = {name: set() for name in names}
    formulas: dict[str, _Overrides] = {name: {} for name in names}
    ignored: list[str] = []
    try:
        with _openpyxl_quietly(ignored):
            for data_only in (True, False):
                book = openpyxl.load_workbook(path, read_only=True, data_only=data_only)
                try:
                    for name in names:
                        if name not in book.sheetnames:
                            continue
                        sheet = book[name]
                        if not isinstance(sheet, ReadOnlyWorksheet):
                            continue
                        sheet.reset_dimensions()
                        for row in sheet.iter_rows():
                            for cell in row:
                                if not isinstance(cell, ReadOnlyCell) or cell.row is None:
                                    continue
                                key = (cell.row, cell.column)
                                if data_only and cell.data_type == "e":
                                    errors[name][key] = _json_value(cell.value)
                                elif data_only and cell.value is None and cell.data_type == "n":
                                    uncached[name].add(key)
                                elif not data_only and cell.data_type == "f":
                                    formulas[name][key] = _json_value(cell.value)
                finally:
                    book.close()
    except (*_OPENPYXL_LOAD_ERRORS, OSError):
        return {}
    result: dict[str, _Overrides] = {}
    for name in names:
        found = dict(errors[name])
        for key, formula in formulas[name].items():
            if key in uncached[name] and key not in found:
                found[key] = formula
        result[name] = found
    return result


class _CalamineGrid(_Grid):
    def __init__(
        self,
        sheet: python_calamine.CalamineSheet,
        overrides: _Overrides,
        guard: Callable[[], AbstractContextManager[None]],
    ) -> None:
        self.name = sheet.name
        self._sheet = sheet
        self._overrides = overrides
        self._guard = guard
        with guard():
            start, end = sheet.start, sheet.end
        used = (
            None
            if start is None or end is None
            else _Area(start[0] + 1, start[1] + 1, end[0] + 1, end[1] + 1)
        )
        for row, column in overrides:
            used = _Area(row, column, row, column).union(used)
        self.used = used

    def rows(self, area: _Area) -> Iterator[list[CellValue]]:
        with self._guard():
            data = self._sheet.to_python(skip_empty_area=False, nrows=area.bottom)
        for row in range(area.top, area.bottom + 1):
            source = data[row - 1] if row - 1 < len(data) else []
            values: list[CellValue] = []
            for column in range(area.left, area.right + 1):
                raw = source[column - 1] if column - 1 < len(source) else None
                value = _json_value(raw)
                if value is None:
                    value = self._overrides.get((row, column))
                    if isinstance(value, str) and value.startswith("="):
                        self.showed_uncalculated = True
                values.append(value)
            yield values


def _read_calamine(
    path: Path, shown: str, kind: _Kind, wanted: str | None, *, all_sheets: bool
) -> _ReadResult:
    _check_not_cfb(path, shown, kind)
    _check_unpacked(path, shown, kind)

    def guard() -> AbstractContextManager[None]:
        return _calamine_errors(path, shown, kind)

    with guard():
        book = python_calamine.CalamineWorkbook.from_path(str(path))
    try:
        with guard():
            metadata = book.sheets_metadata
            sheets = {
                name: book.get_sheet_by_name(name) for name in _chosen(metadata, wanted, shown, all_sheets)
            }
    finally:
        # A sheet keeps its data once loaded; closing releases the file now.
        book.close()
    infos = [
        _SheetInfo(
            name=meta.name,
            hidden=meta.visible != python_calamine.SheetVisibleEnum.Visible,
            chart=meta.typ == python_calamine.SheetTypeEnum.ChartSheet,
        )
        for meta in metadata
    ]
    overrides: dict[str, _Overrides] = {}
    if kind in ("xlsx", "xlsm") and _needs_second_pass(path):
        overrides = _second_pass(path, list(sheets))
    result = _ReadResult(infos)
    for name, sheet in sheets.items():
        result.grids[name] = _CalamineGrid(sheet, overrides.get(name, {}), guard)
    return result


def _chosen(
    metadata: Sequence[python_calamine.SheetMetadata], wanted: str | None, shown: str, all_sheets: bool
) -> list[str]:
    names = [meta.name for meta in metadata]
    return names if all_sheets else [_find_sheet(wanted, names, shown)]


# --- CSV -------------------------------------------------------------------------------------


@dataclass
class _CsvTable:
    """A CSV file's rows as text, with what is needed to write it back the same way."""

    rows: list[list[str]]
    encoding: str
    dialect: type[csv.Dialect] | csv.Dialect
    line_end: str
    ends_with_newline: bool

    @classmethod
    def parse(cls, data: bytes, shown: str) -> _CsvTable:
        """Parses a CSV file's bytes: UTF-8 with or without a BOM, else Windows-1252.

        Raises:
            ToolError: The file is not text, or not valid CSV.
        """
        if b"\x00" in data[:8192]:
            raise ToolError(f"'{shown}' is not a CSV file: it holds binary data, not text.")
        encoding = "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            # Not UTF-8: Excel on Windows saves CSV in the ANSI code page, usually 1252;
            # Latin-1 decodes any bytes at all, so it is the last resort.
            encoding = "cp1252"
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                encoding = "latin-1"
                text = data.decode(encoding)
        dialect: type[csv.Dialect] | csv.Dialect = csv.excel
        sample = text[:65536]
        if sample.strip():
            try:
                dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
            except csv.Error:
                dialect = csv.excel
        line_end = "\r\n" if "\r\n" in text else ("\r" if "\r" in text and "\n" not in text else "\n")
        try:
            rows = list(csv.reader(io.StringIO(text, newline=""), dialect))
        except csv.Error as exc:
            raise ToolError(f"'{shown}' is not valid CSV: {exc}.") from exc
        return cls(rows, encoding, dialect, line_end, text.endswith(("\n", "\r")) or not text)

    def used(self) -> _Area | None:
        bottom = 0
        right = 0
        for number, row in enumerate(self.rows, start=1):
            filled = [i for i, value in enumerate(row, start=1) if value != ""]
            if filled:
                bottom = number
                right = max(right, filled[-1])
        return _Area(1, 1, bottom, right) if bottom else None

    def get(self, row: int, column: int) -> str:
        if row - 1 < len(self.rows) and column - 1 < len(self.rows[row - 1]):
            return self.rows[row - 1][column - 1]
        return ""

    def set(self, row: int, column: int, text: str) -> None:
        while len(self.rows) < row:
            self.rows.append([])
        line = self.rows[row - 1]
        while len(line) < column:
            line.append("")
        line[column - 1] = text

    def dump(self) -> bytes:
        """Returns the file's bytes, in its own encoding, delimiter and line endings.

        Raises:
            ToolError: A value cannot be written in the file's encoding.
        """
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, self.dialect, lineterminator=self.line_end)
        writer.writerows(self.rows)
        text = buffer.getvalue()
        if not self.ends_with_newline and text.endswith(self.line_end):
            text = text[: -len(self.line_end)]
        try:
            return text.encode(self.encoding)
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start : exc.end]
            raise ToolError(
                f"The file is saved in the {self.encoding} encoding, which cannot hold "
                f"{bad!r}. Leave that character out, or save the file as UTF-8 first."
            ) from exc


class _CsvGrid(_Grid):
    def __init__(self, name: str, table: _CsvTable) -> None:
        self.name = name
        self._table = table
        self.used = table.used()

    def rows(self, area: _Area) -> Iterator[list[CellValue]]:
        for row in range(area.top, area.bottom + 1):
            yield [_csv_value(self._table.get(row, c)) for c in range(area.left, area.right + 1)]


def _read_csv_bytes(path: Path, shown: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _unreadable(shown, exc) from exc


def _read_csv(path: Path, shown: str, wanted: str | None) -> _ReadResult:
    table = _CsvTable.parse(_read_csv_bytes(path, shown), shown)
    name = path.stem
    _find_sheet(wanted, [name], shown)
    return _ReadResult([_SheetInfo(name)], {name: _CsvGrid(name, table)})


def _read(ctx: ToolContext, shown: str, wanted: str | None, *, all_sheets: bool) -> tuple[Path, _ReadResult]:
    path = ctx.resolve(shown)
    kind = _kind_of(path, shown)
    if kind == "csv":
        return path, _read_csv(path, shown, wanted)
    return path, _read_calamine(path, shown, kind, wanted, all_sheets=all_sheets)


def _source(path: Path) -> str:
    """How a result holding what a file contains names where it came from, for its marker."""
    return f"workbook {path.name}"
