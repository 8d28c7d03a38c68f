"""The parts of an .xlsx/.xlsm file read directly: which part holds which sheet, a part's XML
streamed in bounded pieces, and the few cells python-calamine shows as empty though they are
not (error cells, formulas saved without a calculated value), found only as far down a sheet
as a read asks.

A workbook is a zip of XML parts; a sheet's part can unpack to tens of megabytes, so nothing
here unpacks a whole part to answer a question about its first rows.
"""

from __future__ import annotations

import html
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, TypeAlias

from openpyxl.formula.translate import Translator, TranslatorError

from connectors.base import ToolError
from connectors.spreadsheet._a1 import _Area, _cell_name, _column_number, _parse_block
from connectors.spreadsheet._values import CellValue

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

Overrides: TypeAlias = dict[tuple[int, int], CellValue]
"""1-based (row, column) to what to show for a cell python-calamine reads as empty."""

_PIECE = 32 << 10
"""Compressed bytes read at a time: a first page's rows are in the first piece or two."""
_FIRST_OUT = 16 << 10
_MAX_OUT = 1 << 20
"""Most bytes one piece may unpack to: the first pieces are small (a first page needs only
the top of a sheet), later ones grow to this."""


class PartError(Exception):
    """A part could not be read (damaged zip, unsupported compression)."""


def part_infos(path: Path) -> dict[str, zipfile.ZipInfo]:
    """The zip's members by name.

    Raises:
        PartError: The file is not a readable zip.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            return {info.filename: info for info in archive.infolist()}
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise PartError(str(exc)) from exc


def read_part(path: Path, name: str) -> bytes:
    """A whole part's bytes, unpacked (for the small parts: workbook, relationships, styles).

    Raises:
        PartError: The part is missing or damaged.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.read(name)
    except (OSError, KeyError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise PartError(str(exc)) from exc


def _data_offset(handle: BinaryIO, info: zipfile.ZipInfo) -> int:
    handle.seek(info.header_offset)
    header = handle.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise PartError(f"bad local header for {info.filename}")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    return int(info.header_offset + 30 + name_length + extra_length)


@dataclass
class _Stream:
    """A part's bytes, unpacked piece by piece from the file, resumable across calls."""

    path: Path
    info: zipfile.ZipInfo
    offset: int = -1
    remaining: int = 0
    inflater: zlib._Decompress | None = None
    pending: bytes = b""
    """Compressed bytes read but not yet unpacked (output was capped)."""
    out_size: int = _FIRST_OUT
    finished: bool = False

    def pieces(self) -> Iterator[bytes]:
        """Yields the next unpacked pieces until the part ends (resumes where it stopped).

        Raises:
            PartError: Unsupported compression or a damaged stream.
        """
        if self.info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise PartError(f"{self.info.filename} uses an unsupported compression")
        try:
            with self.path.open("rb") as handle:
                if self.offset < 0:
                    self.offset = _data_offset(handle, self.info)
                    self.remaining = self.info.compress_size
                    if self.info.compress_type == zipfile.ZIP_DEFLATED:
                        self.inflater = zlib.decompressobj(-15)
                while not self.finished:
                    if not self.pending and self.remaining > 0:
                        handle.seek(self.offset)
                        raw = handle.read(min(_PIECE, self.remaining))
                        if not raw:
                            raise PartError(f"{self.info.filename} is truncated")
                        self.offset += len(raw)
                        self.remaining -= len(raw)
                        self.pending = raw
                    if self.inflater is None:
                        out, self.pending = self.pending, b""
                    else:
                        out = self.inflater.decompress(self.pending, self.out_size)
                        self.out_size = min(2 * self.out_size, _MAX_OUT)
                        self.pending = self.inflater.unconsumed_tail
                        if self.remaining == 0 and not self.pending:
                            out += self.inflater.flush()
                    if self.remaining == 0 and not self.pending:
                        self.finished = True
                    if out:
                        yield out
        except (OSError, zlib.error) as exc:
            raise PartError(str(exc)) from exc


# --- Which part holds which sheet --------------------------------------------------------------

_SHEET_RE = re.compile(rb"<(?:\w+:)?sheet\b([^>]*)/?>")
_ATTR_RE = re.compile(rb'([\w:]+)\s*=\s*"([^"]*)"|([\w:]+)\s*=\s*\'([^\']*)\'')
_REL_RE = re.compile(rb"<(?:\w+:)?Relationship\b([^>]*)/?>")


def attributes(text: bytes) -> dict[str, str]:
    """An XML start tag's attributes by local name (prefixes dropped), unescaped."""
    found: dict[str, str] = {}
    for match in _ATTR_RE.finditer(text):
        key = (match[1] or match[3]).decode()
        value = match[2] if match[1] is not None else match[4]
        found[key.rpartition(":")[2] if key != "r:id" else "r:id"] = html.unescape(value.decode())
    return found


def part_target(base: str, target: str) -> str:
    """A relationship's target as a zip member name, from the folder of the part it is in."""
    if target.startswith("/"):
        return target.lstrip("/")
    parts = [p for p in base.split("/") if p]
    for piece in target.split("/"):
        if piece == "..":
            if parts:
                parts.pop()
        elif piece and piece != ".":
            parts.append(piece)
    return "/".join(parts)


def relationships(rels: bytes, base: str) -> list[tuple[str, str, str]]:
    """A relationships part's (id, type's last word, target member) triples."""
    found = []
    for match in _REL_RE.finditer(rels):
        attrs = attributes(match[1])
        if attrs.get("TargetMode") == "External":
            continue
        kind = attrs.get("Type", "").rpartition("/")[2]
        found.append((attrs.get("Id", ""), kind, part_target(base, attrs.get("Target", ""))))
    return found


def workbook_sheets(workbook: bytes, rels: bytes) -> list[tuple[str, str | None, str]]:
    """Each sheet, in order, as (name, zip member or None, kind: 'worksheet', 'chartsheet'...)."""
    targets = {rid: (kind, target) for rid, kind, target in relationships(rels, "xl")}
    sheets: list[tuple[str, str | None, str]] = []
    for match in _SHEET_RE.finditer(workbook):
        attrs = attributes(match[1])
        if "name" not in attrs:
            continue
        kind, target = targets.get(attrs.get("r:id") or attrs.get("id", ""), ("", None))
        sheets.append((attrs["name"], target, kind))
    return sheets


def workbook_index(path: Path) -> tuple[dict[str, str], dict[str, zipfile.ZipInfo]]:
    """Each worksheet's name to the zip member holding its XML (chart sheets left out), and
    the zip's members by name, from one look at the file.

    Raises:
        PartError: The workbook's parts are missing or damaged.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            infos = {info.filename: info for info in archive.infolist()}
            workbook, rels = archive.read("xl/workbook.xml"), archive.read("xl/_rels/workbook.xml.rels")
    except (OSError, KeyError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise PartError(str(exc)) from exc
    sheets = workbook_sheets(workbook, rels)
    parts = {name: part for name, part, kind in sheets if part is not None and kind == "worksheet"}
    return parts, infos


def sheet_parts(path: Path) -> dict[str, str]:
    """Each worksheet's name to the zip member holding its XML (chart sheets left out).

    Raises:
        PartError: The workbook's parts are missing or damaged.
    """
    return workbook_index(path)[0]


# --- Cells python-calamine reads as empty --------------------------------------------------------

SPECIAL_RE = re.compile(
    rb"""\st\s*=\s*["']e["']"""  # An error cell.
    rb"|<(?:\w+:)?v\s*/>|<(?:\w+:)?v>\s*</(?:\w+:)?v>"  # An empty cached value.
    rb"|</(?:\w+:)?f>\s*</(?:\w+:)?c>"  # A formula with no cached value at all.
    rb"|<(?:\w+:)?f\b[^>]*/>\s*</(?:\w+:)?c>"  # A shared formula with none.
)
"""Marks in a worksheet's XML of cells python-calamine reads as empty though they are not."""

CELL_RE = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.DOTALL)
_FORMULA_RE = re.compile(rb"<(?:\w+:)?f\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?f>)", re.DOTALL)
_VALUE_RE = re.compile(rb"<(?:\w+:)?v\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?v>)", re.DOTALL)
_ROW_NUMBER_RE = re.compile(rb"""<(?:\w+:)?row\b[^>]*?\br\s*=\s*["'](\d+)["']""")
_DIMENSION_RE = re.compile(rb"""<(?:\w+:)?dimension\b[^>]*?\bref\s*=\s*["']([^"']+)["']""")
_REF_RE = re.compile(r"([A-Z]{1,3})([0-9]{1,7})")
_PLAIN_MARKS = (b't="e"', b"t='e'", b"<v/>", b"<v></v>", b"</f></c>", b"/></c>")
"""What SPECIAL_RE looks for, as Excel, LibreOffice and openpyxl write it."""
_SPACED_RE = re.compile(rb">\s+<|<\w+:c\b")
_CELL_R_RE = re.compile(rb"""<(?:\w+:)?c\b[^>]*?\br\s*=\s*["']([A-Z]+[0-9]+)["']""")


def _last_cell_ref(segment: bytes, before: int) -> str:
    """The reference of the cell whose start tag comes last before a position."""
    start = segment.rfind(b"<c", 0, before)
    while start >= 0:
        if match := _CELL_R_RE.match(segment, start):
            return match[1].decode()
        start = segment.rfind(b"<c", 0, start)
    return ""


def split_ref(ref: str) -> tuple[int, int] | None:
    """'B7' to (7, 2), or None."""
    match = _REF_RE.fullmatch(ref)
    return (int(match[2]), _column_number(match[1])) if match else None


@dataclass
class _Formula:
    attrs: dict[str, str]
    text: str | None


def cell_formula(body: bytes) -> _Formula | None:
    """The ``<f>`` element of a cell's inner XML, if any."""
    match = _FORMULA_RE.search(body)
    if match is None:
        return None
    text = None if match[2] is None else html.unescape(match[2].decode())
    return _Formula(attributes(match[1]), text)


def cell_value_text(body: bytes) -> str | None:
    """The text of a cell's ``<v>``, None when it has none or an empty one."""
    match = _VALUE_RE.search(body or b"")
    if match is None or match[1] is None or not match[1].strip():
        return None
    return html.unescape(match[1].decode())


def translate(master_text: str, master: tuple[int, int], target: tuple[int, int]) -> str:
    """A shared formula's text as it reads in another cell of its group (with its '=')."""
    try:
        translator = Translator("=" + master_text, origin=_cell_name(*master))
        return str(translator.translate_formula(_cell_name(*target)))
    except TranslatorError:
        return "=" + master_text


@dataclass
class SheetScan:
    """The cells python-calamine misses on one sheet, found as far down as reads have asked.

    A read of rows 1 to 200 of a sheet of a million rows unpacks only the first few hundred
    kilobytes of its XML; a read of the next page goes on from there.
    """

    stream: _Stream
    overrides: Overrides = field(default_factory=dict)
    reached: int = 0
    """Every row up to this one has been scanned."""
    dimension: _Area | None = None
    masters: dict[str, tuple[tuple[int, int], str]] = field(default_factory=dict)
    _carry: bytes = b""
    _started: bool = False
    _plain: bool | None = None

    @property
    def complete(self) -> bool:
        return self.stream.finished and not self._carry

    def scan_to(self, row: int) -> None:
        """Scans until every row up to ``row`` (or the whole sheet) has been seen.

        Raises:
            PartError: The part is damaged.
        """
        if self.reached >= row or self.complete:
            return
        for piece in self.stream.pieces():
            text = self._carry + piece
            if not self._started:
                self._started = True
                if match := _DIMENSION_RE.search(text[:4096]):
                    try:
                        self.dimension = _parse_block(match[1].decode().replace("$", ""))[0]
                    except (ToolError, UnicodeDecodeError):
                        self.dimension = None  # Only a hint: a bad one is ignored.
            cut = text.rfind(b"</row>")
            if cut < 0 and not self.stream.finished:
                self._carry = text
                continue
            end = len(text) if self.stream.finished else cut
            self._process(text[:end])
            self._carry = b"" if self.stream.finished else text[end:]
            if self.reached >= row:
                return
        self._process(self._carry)
        self._carry = b""
        self.reached = max(self.reached, 1 << 24)

    def _process(self, segment: bytes) -> None:
        if not segment:
            return
        start = segment.rfind(b"<row")
        while start >= 0:
            if match := _ROW_NUMBER_RE.match(segment, start):
                self.reached = max(self.reached, int(match[1]))
                break
            start = segment.rfind(b"<row", 0, start)
        if self._plain is None:
            # XML as Excel, LibreOffice and openpyxl write it: no prefixes, no whitespace
            # between tags. Its marks are found with plain byte searches, many times faster
            # than the regular expression that any other layout needs.
            head = segment.find(b"<sheetData")
            self._plain = head >= 0 and _SPACED_RE.search(segment, head, head + 4096) is None
        if self._plain:
            starts: set[int] = set()
            for needle in _PLAIN_MARKS:
                position = segment.find(needle)
                while position >= 0:
                    starts.add(segment.rfind(b"<c ", 0, position))
                    position = segment.find(needle, position + len(needle))
            matches = [m for s in sorted(starts) if s >= 0 and (m := CELL_RE.match(segment, s))]
        elif SPECIAL_RE.search(segment):
            matches = list(CELL_RE.finditer(segment))
        else:
            return
        for cell in matches:
            self._special(cell)

    def _special(self, cell: re.Match[bytes]) -> None:
        attrs = attributes(cell[1])
        body = cell[2] or b""
        place = split_ref(attrs.get("r", ""))
        if place is None:
            return
        value = cell_value_text(body)
        if attrs.get("t") == "e":
            if value is not None:
                self.overrides[place] = value
            return
        formula = cell_formula(body)
        if formula is None:
            return
        group = formula.attrs.get("si")
        if formula.attrs.get("t") == "shared" and group is not None and formula.text:
            self.masters[group] = (place, formula.text)
        if value is not None:
            return
        if formula.text:
            self.overrides[place] = "=" + formula.text
        elif group is not None:
            master = self.masters.get(group) or self._find_master(group)
            if master is not None:
                self.overrides[place] = translate(master[1], master[0], place)

    def _find_master(self, group: str) -> tuple[tuple[int, int], str] | None:
        """Looks for a shared formula's first cell from the top of the sheet (a rare need)."""
        pattern = re.compile(
            rb"<(?:\w+:)?f\b([^>]*?\bsi\s*=\s*[\"']"
            + re.escape(group.encode())
            + rb"[\"'][^>]*)>([^<]+)</(?:\w+:)?f>"
        )
        carry = b""
        for piece in _Stream(self.stream.path, self.stream.info).pieces():
            text = carry + piece
            for match in pattern.finditer(text):
                attrs = attributes(match[1])
                place = split_ref(_last_cell_ref(text, match.start()))
                if attrs.get("t") == "shared" and "ref" in attrs and place is not None:
                    self.masters[group] = (place, html.unescape(match[2].decode()))
                    return self.masters[group]
            carry = text[-4096:]
        return None


_LAST_ROW_RE = re.compile(rb"""<(?:\w+:)?row\b[^>]*?\br\s*=\s*["'](\d+)["']""")
_WIDE_REF_RE = re.compile(rb"""<(?:\w+:)?c\b[^>]*?\br\s*=\s*["']([A-Z]{2,3})[0-9]""")
_CELL_PLAIN_RE = re.compile(rb'<c r="[A-Z]')
_WIDE_PLAIN_RE = re.compile(rb'<c r="([A-Z]{2,3})[0-9]')
_NARROW_REF_RE = re.compile(rb"""<(?:\w+:)?c\b[^>]*?\br\s*=\s*["']([A-Z])[0-9]""")


_SPANS: dict[tuple[int, int], re.Pattern[bytes]] = {}
_BEYOND: dict[int, re.Pattern[bytes]] = {}
"""Per rightmost column known so far (A to Y), a search for a cell further right."""


def _rightmost(body: bytes, known: int) -> int:
    """The rightmost column of the cells in a piece of sheet XML (at least ``known``)."""
    if not _CELL_PLAIN_RE.search(body):
        # Prefixed names or attributes in another order: the slower, general search.
        found = set(_WIDE_REF_RE.findall(body)) | set(_NARROW_REF_RE.findall(body))
        return max([known, *(_column_number(f.decode()) for f in found)])
    if known >= 26:
        further = _WIDE_PLAIN_RE
    else:
        # One pass answers "is any cell further right than the known column?"
        further = _BEYOND.get(known) or _BEYOND.setdefault(
            known, re.compile(rb'<c r="(?:[A-Z][A-Z]|[' + bytes([ord("A") + known]) + rb"-Z][0-9])")
        )
    if further.search(body) is None:
        return known
    if _WIDE_PLAIN_RE.search(body):
        return max([known, *(_column_number(f.decode()) for f in set(_WIDE_PLAIN_RE.findall(body)))])
    # The rightmost single letter, by halving the span of letters that could be it.
    low, high = known + 1, 26
    while low < high:
        middle = (low + high + 1) // 2
        if _letters_between(middle, high).search(body):
            low = middle
        else:
            high = middle - 1
    return max(known, low)


def _letters_between(first: int, last: int) -> re.Pattern[bytes]:
    """A search for a cell whose one-letter column is between two (1 is A)."""
    key = (first, last)
    if key not in _SPANS:
        _SPANS[key] = re.compile(rb'<c r="[' + bytes([64 + first]) + b"-" + bytes([64 + last]) + rb"][0-9]")
    return _SPANS[key]


def sheet_extent(path: Path, info: zipfile.ZipInfo) -> tuple[int, int]:
    """The last row and the rightmost column a sheet's XML holds a cell or row in.

    python-calamine lays a sheet out as one dense block from its first cell to its last, so
    two cells far apart (A1 and XFD1048576) in a file of a few hundred bytes would make it
    allocate seventeen billion cells. This reads the whole part once, in pieces, to find out
    first.

    Raises:
        PartError: The part is damaged.
    """
    last_row = 0
    right = 0
    carry = b""
    for piece in _Stream(path, info).pieces():
        text = carry + piece
        cut = text.rfind(b"<")
        body, carry = (text[:cut], text[cut:]) if cut > 0 else (text, b"")
        right = max(right, _rightmost(body, right))
        start = body.rfind(b"<row")
        while start >= 0:
            if match := _LAST_ROW_RE.match(body, start):
                last_row = max(last_row, int(match[1]))
                break
            start = body.rfind(b"<row", 0, start)
    return last_row, right
