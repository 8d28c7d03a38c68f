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
import threading
import warnings
import zipfile
import zlib
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from xml.etree.ElementTree import ParseError

import python_calamine
from openpyxl.utils.exceptions import InvalidFileException

from connectors.base import ToolContext, ToolError
from connectors.spreadsheet._a1 import _Area
from connectors.spreadsheet._cache import CACHE, CachedBook, CachedSheet, stamp
from connectors.spreadsheet._parts import Overrides, PartError, sheet_extent, workbook_index
from connectors.spreadsheet._values import CellValue, _csv_value, _json_value

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
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


MAX_SHEET_CELLS = 40_000_000
"""The most cells a sheet's block (first cell to last, empty ones included) may span: a
million rows of forty columns. The reader lays the block out whole in memory."""


def _check_cells(path: Path, shown: str, kind: _Kind, names: Sequence[str], book: CachedBook) -> None:
    """Refuses a workbook whose sheets' blocks would take more cells than a read may lay out.

    Also keeps in ``book`` which part holds which sheet, for the reads that follow.

    Raises:
        ToolError: The limit, in words, and the sheet's block.
    """
    if kind not in ("xlsx", "xlsm"):
        return
    try:
        if book.parts is None or book.infos is None:
            book.parts, book.infos = workbook_index(path)
        for name in names:
            info = book.infos.get(book.parts.get(name, ""))
            if info is None:
                continue
            rows, columns = sheet_extent(path, info)
            if rows * columns > MAX_SHEET_CELLS:
                raise ToolError(
                    f"'{shown}' has a sheet ('{name}') whose cells span {rows:,} rows by {columns:,} "
                    f"columns, more than the {MAX_SHEET_CELLS:,} cells Ensemble reads from one sheet; "
                    "it was not opened. If it is genuine, move the far-away cells nearer or split the sheet."
                )
    except PartError:
        return  # The reader says what is wrong with the file, in its words.


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

    @property
    def formula_rows(self) -> set[int]:
        """Rows where rows() has shown a formula's text for want of a calculated value."""
        return set()

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


class _CalamineGrid(_Grid):
    """A sheet from the parsed-sheet cache; for .xlsx/.xlsm, the cells calamine misses are
    looked for in the sheet's XML only as far down as a read asks."""

    def __init__(self, book: CachedBook, name: str, path: Path, kind: _Kind) -> None:
        self.name = name
        self._book = book
        self._cached = book.sheets[name]
        self._scan = book.scan(path, name) if kind in ("xlsx", "xlsm") else None
        self._formula_rows: set[int] = set()
        self.used = self._used()

    def _scan_to(self, row: int) -> Overrides:
        if self._scan is None:
            return {}
        try:
            with self._book.lock:
                self._scan.scan_to(row)
        except PartError:
            # calamine read the file; if this quick look cannot, calamine's values stand.
            self._scan = None
            return {}
        return self._scan.overrides

    def _used(self) -> _Area | None:
        used = self._cached.used
        if self._scan is None:
            return used
        self._scan_to(1)
        dimension = self._scan.dimension if self._scan is not None else None
        beyond = dimension is None or used is None or dimension.union(used) != used
        # A cell calamine does not see (a formula saved without its value) can widen the
        # data block only where the sheet's own dimension says there is something beyond
        # calamine's block; only then is the whole sheet looked through.
        overrides = self._scan_to(1 << 24) if beyond else {}
        for row, column in overrides:
            used = _Area(row, column, row, column).union(used)
        return used

    @property
    def formula_rows(self) -> set[int]:
        return self._formula_rows

    def rows(self, area: _Area) -> Iterator[list[CellValue]]:
        data = self._cached.python_rows(area.bottom)
        overrides: Overrides | None = None
        width = area.width
        for row in range(area.top, area.bottom + 1):
            source = data[row - 1] if row - 1 < len(data) else []
            values = _row_values(source[area.left - 1 : area.right])
            if len(values) < width:
                values.extend([None] * (width - len(values)))
            if self._scan is not None and None in values:
                if overrides is None:
                    overrides = self._scan_to(area.bottom)
                if overrides:
                    for index, value in enumerate(values):
                        if value is None and (found := overrides.get((row, area.left + index))) is not None:
                            values[index] = found
                            if isinstance(found, str) and found.startswith("="):
                                self._formula_rows.add(row)
            yield values


_EXACT = float(2**53)


def _row_values(source: Sequence[Any]) -> list[CellValue]:
    """A row of calamine's values as the model is shown them (:func:`_json_value`, inlined for
    the common types: a page of a big sheet converts tens of thousands of cells)."""
    values: list[CellValue] = []
    append = values.append
    for value in source:
        kind = type(value)
        if kind is float:
            if value.is_integer() and -_EXACT < value < _EXACT:
                append(int(value))
            elif value - value == 0:
                append(value)
            else:
                append(str(value))
        elif kind is str:
            append(value or None)
        else:
            append(_json_value(value))
    return values


def _parse_sheets(workbook: python_calamine.CalamineWorkbook, book: CachedBook, names: Sequence[str]) -> None:
    for name in names:
        if name in book.sheets:
            continue
        sheet = workbook.get_sheet_by_name(name)
        start, end = sheet.start, sheet.end
        used = (
            None
            if start is None or end is None
            else _Area(start[0] + 1, start[1] + 1, end[0] + 1, end[1] + 1)
        )
        book.sheets[name] = CachedSheet(sheet, used, used.height * used.width if used else 0)


def _open_book(
    path: Path, shown: str, kind: _Kind, wanted: str | None, *, all_sheets: bool
) -> tuple[CachedBook, list[str]]:
    """The workbook from the cache, or parsed afresh, with the sheets wanted parsed.

    Raises:
        ToolError: The file cannot be read, or has no such sheet.
    """
    book = CACHE.book(path)
    if book is not None:
        names = _chosen(book.metadata, wanted, shown, all_sheets)
        if any(n not in book.sheets for n in names):
            _check_cells(path, shown, kind, [n for n in names if n not in book.sheets], book)
            with book.lock, _calamine_errors(path, shown, kind):
                workbook = python_calamine.CalamineWorkbook.from_path(str(path))
                try:
                    _parse_sheets(workbook, book, names)
                finally:
                    # A sheet keeps its data once loaded; closing releases the file now.
                    workbook.close()
            CACHE.grew()
        return book, names
    _check_not_cfb(path, shown, kind)
    _check_unpacked(path, shown, kind)
    try:
        version = stamp(path)
    except OSError as exc:
        raise _unreadable(shown, exc) from exc
    with _calamine_errors(path, shown, kind):
        workbook = python_calamine.CalamineWorkbook.from_path(str(path))
        try:
            book = CachedBook(version, list(workbook.sheets_metadata))
            names = _chosen(book.metadata, wanted, shown, all_sheets)
            _check_cells(path, shown, kind, names, book)
            _parse_sheets(workbook, book, names)
        finally:
            workbook.close()
    CACHE.put(path, book)
    return book, names


def _read_calamine(
    path: Path, shown: str, kind: _Kind, wanted: str | None, *, all_sheets: bool
) -> _ReadResult:
    book, names = _open_book(path, shown, kind, wanted, all_sheets=all_sheets)
    metadata = book.metadata
    infos = [
        _SheetInfo(
            name=meta.name,
            hidden=meta.visible != python_calamine.SheetVisibleEnum.Visible,
            chart=meta.typ == python_calamine.SheetTypeEnum.ChartSheet,
        )
        for meta in metadata
    ]
    result = _ReadResult(infos)
    for name in names:
        result.grids[name] = _CalamineGrid(book, name, path, kind)
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
