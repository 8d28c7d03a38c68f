"""The fast writer of .xlsx/.xlsm files: it edits the XML of the sheets it writes to, in place.

openpyxl loads a whole workbook into objects and writes it all back, which at a million cells
takes half a minute and most of a gigabyte, and drops every formula's calculated value. This
writer instead changes only the rows it writes in the sheet's XML, keeps every other part of
the file byte for byte (:mod:`._rezip`), and calculates again, with pycel, the formulas whose
inputs it changed, so that their saved values stay right and reads stay fast.

What it does not handle it leaves to openpyxl, by raising :class:`Unsupported` before any
change: a sheet with tables, protection, or array formulas over the written cells, a shared
formula's first cell overwritten, XML with prefixed element names, zip64 files.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import logging
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel, to_excel

from connectors.base import ToolError
from connectors.spreadsheet._a1 import _Area, _cell_name, _parse_block
from connectors.spreadsheet._parts import (
    CELL_RE,
    attributes,
    cell_formula,
    cell_value_text,
    relationships,
    split_ref,
    translate,
    workbook_sheets,
)
from connectors.spreadsheet._recalc import Recalculator
from connectors.spreadsheet._rezip import RezipError, rezip
from connectors.spreadsheet._values import CellValue, _Input, _json_value

if TYPE_CHECKING:
    from collections.abc import Iterator

_LOG = logging.getLogger(__name__)


class Unsupported(Exception):
    """This change is one the fast writer leaves to openpyxl."""


_ROW_START_RE = re.compile(rb"""<row\b[^>]*?\br\s*=\s*["'](\d+)["'][^>]*?(/?)>""")
_SPANS_RE = re.compile(rb"""\sspans\s*=\s*["'][^"']*["']""")
_MERGE_RE = re.compile(rb"""<mergeCell\b[^>]*?\bref\s*=\s*["']([^"']+)["']""")
_ARRAY_RE = re.compile(
    rb"""<f\b[^>]*?\bt\s*=\s*["']array["'][^>]*?\bref\s*=\s*["']([^"']+)["']|<f\b[^>]*?\bref\s*=\s*["']([^"']+)["'][^>]*?\bt\s*=\s*["']array["']"""
)
_PROTECTION_RE = re.compile(rb"""<sheetProtection\b[^>]*?\bsheet\s*=\s*["'](?:1|true)["']""")
_DIMENSION_TAG_RE = re.compile(rb"""<dimension\b[^>]*?/>""")
_SI_RE = re.compile(rb"<(?:\w+:)?si\b[^>]*>(.*?)</(?:\w+:)?si>|<(?:\w+:)?si\s*/>", re.DOTALL)
_T_RE = re.compile(rb"<(?:\w+:)?t\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?t>)", re.DOTALL)
_PHONETIC_RE = re.compile(rb"<(?:\w+:)?rPh\b.*?</(?:\w+:)?rPh>", re.DOTALL)
_XF_BLOCK_RE = re.compile(rb"<cellXfs\b[^>]*>(.*?)</cellXfs>", re.DOTALL)
_XF_RE = re.compile(rb"<xf\b[^>]*?(?:/>|>.*?</xf>)", re.DOTALL)
_NUMFMT_RE = re.compile(rb"<numFmt\b([^>]*?)/?>")
_DATE1904_RE = re.compile(rb"""<workbookPr\b[^>]*?\bdate1904\s*=\s*["'](?:1|true)["']""")
_CALCPR_RE = re.compile(rb"<calcPr\b[^>]*?/>")

_CALC_CHAIN_TYPE = "calcChain"
_DEFINED_NAME_RE = re.compile(rb"<definedName\b([^>]*)>([^<]*)</definedName>")
_TABLE_RE = re.compile(rb"<table\b([^>]*)>")


@dataclass
class _Cell:
    """One cell element in a sheet's XML."""

    row: int
    column: int
    attrs: dict[str, str]
    body: bytes
    xml: bytes
    start: int = -1
    """Where the element starts in the sheet's XML (-1 when parsed from a copy)."""


def _cell_xml(ref: str, attrs: dict[str, str], inner: bytes) -> bytes:
    head = f'<c r="{ref}"'
    for key in ("s", "t"):
        if attrs.get(key):
            head += f' {key}="{html.escape(attrs[key])}"'
    return head.encode() + (b">" + inner + b"</c>" if inner else b"/>")


def _number_text(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value)).replace("inf", "0")


class _SheetXml:
    """A worksheet part's XML: rows found by binary search, edited row by row."""

    def __init__(self, name: str, part: str, xml: bytes, shown: str) -> None:
        self.name = name
        self.part = part
        self.xml = xml
        opening = xml.find(b"<sheetData")
        if opening < 0:
            raise Unsupported("no plain sheetData element")
        close = xml.find(b">", opening)
        if xml[close - 1 : close] == b"/":
            self.data_start = self.data_end = -1
            self.empty_tag: tuple[int, int] | None = (opening, close + 1)
        else:
            self.data_start = close + 1
            self.data_end = xml.find(b"</sheetData>", self.data_start)
            if self.data_end < 0:
                raise ToolError(f"'{shown}' is damaged: a sheet's data never ends.")
            self.empty_tag = None
        self.edits: dict[int, dict[int, bytes | None]] = {}
        """Row to column to the new cell XML (None removes the cell)."""
        self.value_updates: dict[tuple[int, int], bytes] = {}
        self._merges: list[_Area] | None = None
        self._arrays: list[_Area] | None = None
        self.has_tables = False
        self.protected = False

    # --- finding rows and cells ---

    def _row_at(self, position: int) -> tuple[int, int, int] | None:
        """The first row starting at or after a position: (row number, start, end), or None."""
        start = self.xml.find(b"<row", position, self.data_end)
        while start >= 0:
            match = _ROW_START_RE.match(self.xml, start)
            if match is not None:
                if match[2] == b"/":
                    return int(match[1]), start, match.end()
                end = self.xml.find(b"</row>", match.end(), self.data_end)
                if end < 0:
                    raise Unsupported("a row never ends")
                return int(match[1]), start, end + 6
            if self.xml[start + 4 : start + 5] in (b" ", b">", b"/", b"\t", b"\n", b"\r"):
                raise Unsupported("a row without its number")
            start = self.xml.find(b"<row", start + 4, self.data_end)
        return None

    def find_row(self, row: int) -> tuple[int, int, int] | None:
        """The row's (number, start, end) if it is stored, else the first row after it, or None.

        Rows are stored in order, so this is a binary search over byte positions: every row
        starting before ``low`` is above the row wanted, and the first row starting at or
        after ``high`` (if any) is not.
        """
        if self.data_start < 0:
            return None
        low, high = self.data_start, self.data_end
        while low < high:
            middle = (low + high) // 2
            probe = self._row_at(middle)
            if probe is None or probe[1] >= high:
                high = middle
            elif probe[0] < row:
                low = probe[2]
            else:
                high = middle
        return self._row_at(low)

    def row_cells(self, start: int, end: int) -> list[_Cell]:
        cells = []
        for match in CELL_RE.finditer(self.xml, start, end):
            attrs = attributes(match[1])
            place = split_ref(attrs.get("r", ""))
            if place is None:
                raise Unsupported("a cell without its reference")
            cells.append(_Cell(place[0], place[1], attrs, match[2] or b"", match[0], match.start()))
        return cells

    def cell(self, row: int, column: int) -> _Cell | None:
        found = self.find_row(row)
        if found is None or found[0] != row:
            return None
        for cell in self.row_cells(found[1], found[2]):
            if cell.column == column:
                return cell
        return None

    def cells_in(self, area: _Area) -> Iterator[_Cell]:
        """Every stored cell inside a block, in order."""
        if self.data_start < 0:
            return
        found = self.find_row(area.top)
        position = found[1] if found else self.data_end
        while True:
            probe = self._row_at(position)
            if probe is None or probe[0] > area.bottom:
                return
            for cell in self.row_cells(probe[1], probe[2]):
                if area.left <= cell.column <= area.right:
                    yield cell
            position = probe[2]

    def last_row(self) -> int:
        if self.data_start < 0:
            return 0
        start = self.xml.rfind(b"<row", self.data_start, self.data_end)
        while start >= 0:
            match = _ROW_START_RE.match(self.xml, start)
            if match:
                return int(match[1])
            start = self.xml.rfind(b"<row", self.data_start, start)
        return 0

    def merges(self) -> list[_Area]:
        if self._merges is None:
            tail = self.xml[self.data_end :] if self.data_end >= 0 else self.xml
            self._merges = [_parse_block(m[1].decode())[0] for m in _MERGE_RE.finditer(tail)]
        return self._merges

    def arrays(self) -> list[_Area]:
        if self._arrays is None:
            found = _ARRAY_RE.finditer(self.xml) if b"array" in self.xml else iter(())
            self._arrays = [_parse_block((m[1] or m[2]).decode())[0] for m in found]
        return self._arrays

    # --- writing ---

    def rebuilt(self) -> bytes:
        """The XML with every edit and value update applied."""
        rows: dict[int, dict[int, bytes | None]] = {r: dict(cells) for r, cells in self.edits.items()}
        for (row, column), xml in self.value_updates.items():
            rows.setdefault(row, {}).setdefault(column, xml)
        if not rows:
            return self.xml
        pieces: list[bytes] = []
        position = 0
        inserts: list[bytes] = []
        for row in sorted(rows):
            found = self.find_row(row)
            if found is not None and found[0] == row:
                _, start, end = found
                pieces.append(self.xml[position:start])
                pieces.append(self._row_xml(row, self.xml[start:end], rows[row]))
                position = end
            else:
                where = found[1] if found is not None else (self.data_end if self.data_end >= 0 else -1)
                new = self._row_xml(row, None, rows[row])
                if where < 0:
                    inserts.append(new)
                    continue
                pieces.append(self.xml[position:where])
                pieces.append(new)
                position = where
        pieces.append(self.xml[position:])
        xml = b"".join(pieces)
        if inserts:
            assert self.empty_tag is not None
            start, end = self.empty_tag
            xml = xml[:start] + b"<sheetData>" + b"".join(inserts) + b"</sheetData>" + xml[end:]
        return xml

    def _row_xml(self, row: int, old: bytes | None, changes: dict[int, bytes | None]) -> bytes:
        if old is None:
            cells: dict[int, bytes] = {}
            tag = f'<row r="{row}">'.encode()
        else:
            match = _ROW_START_RE.match(old)
            assert match is not None
            opening = old[: match.end()]
            if match[2] == b"/":
                opening = opening[:-2].rstrip() + b">"
            tag = _SPANS_RE.sub(b"", opening)
            cells = {c.column: c.xml for c in self.row_cells_of(old)}
        for column, xml in changes.items():
            if xml is None:
                cells.pop(column, None)
            else:
                cells[column] = xml
        if not cells and old is None:
            return b""
        return tag + b"".join(cells[c] for c in sorted(cells)) + b"</row>"

    @staticmethod
    def row_cells_of(xml: bytes) -> list[_Cell]:
        cells = []
        for match in CELL_RE.finditer(xml):
            attrs = attributes(match[1])
            place = split_ref(attrs.get("r", ""))
            if place is None:
                raise Unsupported("a cell without its reference")
            cells.append(_Cell(place[0], place[1], attrs, match[2] or b"", match[0]))
        return cells


@dataclass
class _Styles:
    """The cell formats of styles.xml: which are dates, and new date formats when needed."""

    xml: bytes
    formats: list[int] = field(default_factory=list)
    custom: dict[int, str] = field(default_factory=dict)
    added: list[bytes] = field(default_factory=list)
    made: dict[tuple[int, int], int] = field(default_factory=dict)

    @classmethod
    def parse(cls, xml: bytes) -> _Styles:
        styles = cls(xml)
        for match in _NUMFMT_RE.finditer(xml):
            attrs = attributes(match[1])
            if attrs.get("numFmtId", "").isdigit():
                styles.custom[int(attrs["numFmtId"])] = attrs.get("formatCode", "")
        block = _XF_BLOCK_RE.search(xml)
        if block:
            for xf in _XF_RE.finditer(block[1]):
                attrs = attributes(xf[0][: xf[0].find(b">")])
                number = attrs.get("numFmtId", "0")
                styles.formats.append(int(number) if number.isdigit() else 0)
        return styles

    def code(self, style: int) -> str:
        number = self.formats[style] if 0 <= style < len(self.formats) else 0
        return self.custom.get(number) or BUILTIN_FORMATS.get(number, "General")

    def date_style(self, style: int, with_time: bool) -> int:
        """A cell format like ``style`` but showing a date (or a date and time)."""
        if is_date_format(self.code(style)) and not is_timedelta_format(self.code(style)):
            return style
        number = 22 if with_time else 14
        key = (style, number)
        if key not in self.made:
            block = _XF_BLOCK_RE.search(self.xml)
            if block is None:
                raise Unsupported("no cell formats")
            xfs = [m[0] for m in _XF_RE.finditer(block[1])]
            base = xfs[style] if 0 <= style < len(xfs) else b"<xf/>"
            tag_end = base.find(b">")
            opening = base[:tag_end]
            closing = base[tag_end:]
            opening = re.sub(rb"""\s(?:numFmtId|applyNumberFormat)\s*=\s*["'][^"']*["']""", b"", opening)
            if opening.endswith(b"/"):
                opening = opening[:-1].rstrip()
                closing = b"/>"
            self.added.append(opening + f' numFmtId="{number}" applyNumberFormat="1"'.encode() + closing)
            self.made[key] = len(self.formats) + len(self.added) - 1
        return self.made[key]

    def rebuilt(self) -> bytes | None:
        if not self.added:
            return None
        block = _XF_BLOCK_RE.search(self.xml)
        assert block is not None
        count = len(self.formats) + len(self.added)
        opening = self.xml[block.start() : block.start(1)]
        opening = re.sub(rb"""\bcount\s*=\s*["']\d+["']""", f'count="{count}"'.encode(), opening)
        return (
            self.xml[: block.start()]
            + opening
            + block[1]
            + b"".join(self.added)
            + self.xml[block.end(1) : block.end()]
            + self.xml[block.end() :]
        )


class PartsWorkbook:
    """An .xlsx/.xlsm file's bytes, with the sheets a write touches parsed and edited.

    Raises (from its methods):
        Unsupported: The change is one for openpyxl.
        ToolError: The change is refused (a merged cell, control characters).
    """

    def __init__(self, data: bytes, shown: str) -> None:
        self.data = data
        self.shown = shown
        try:
            self.archive = zipfile.ZipFile(io.BytesIO(data))
            names = set(self.archive.namelist())
            workbook = self.archive.read("xl/workbook.xml")
            rels = self.archive.read("xl/_rels/workbook.xml.rels")
        except (zipfile.BadZipFile, KeyError, zlib.error, EOFError) as exc:
            raise Unsupported(str(exc)) from exc
        if b"<sheets" not in workbook:
            raise Unsupported("prefixed workbook XML")
        self.workbook_xml = workbook
        self.workbook_rels = rels
        self.sheets = workbook_sheets(workbook, rels)
        self.names = names
        links = relationships(rels, "xl")
        self.shared_part = next((t for _, k, t in links if k == "sharedStrings"), None)
        self.styles_part = next((t for _, k, t in links if k == "styles"), None)
        self.calc_chain = next((t for _, k, t in links if k == _CALC_CHAIN_TYPE), None)
        self.epoch = CALENDAR_MAC_1904 if _DATE1904_RE.search(workbook) else CALENDAR_WINDOWS_1900
        self._xml: dict[str, _SheetXml] = {}
        self._shared: list[str] | None = None
        self._styles: _Styles | None = None
        self.drop_calc_chain = False
        self.uncalculated = False
        self.written: dict[tuple[str, int, int], _Input] = {}
        self.defined_names = self._names()

    def _names(self) -> list[str]:
        """The workbook's defined names and table names, which formulas may use for cells."""
        found = []
        self.defined_refs: dict[str, str] = {}
        """Defined names that stand for a plain reference (upper case) to that reference."""
        for match in _DEFINED_NAME_RE.finditer(self.workbook_xml):
            attrs = attributes(match[1])
            name = attrs.get("name", "")
            found.append(name)
            if "localSheetId" not in attrs and match[2]:
                self.defined_refs[name.upper()] = html.unescape(match[2].decode()).strip()
        for part in self.names:
            if part.startswith("xl/tables/") and part.endswith(".xml"):
                head = self.archive.read(part)[:2048]
                if table := _TABLE_RE.search(head):
                    found.append(attributes(table[1]).get("displayName", ""))
        return [n for n in found if n and not n.startswith("_xlnm.")]

    # --- parts ---

    def sheet_xml(self, name: str) -> _SheetXml:
        """A worksheet's XML, unpacked on first use.

        Raises:
            ToolError: It is a chart sheet.
            Unsupported: Its part is missing or of a kind this writer does not edit.
        """
        if name in self._xml:
            return self._xml[name]
        entry = next((s for s in self.sheets if s[0] == name), None)
        if entry is None:
            raise Unsupported("no such sheet")
        _, part, kind = entry
        if kind == "chartsheet":
            raise ToolError(f"'{name}' in '{self.shown}' is a chart sheet; it has no cells to write.")
        if kind != "worksheet" or part is None or part not in self.names:
            raise Unsupported("not a plain worksheet")
        try:
            xml = self.archive.read(part)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise Unsupported(str(exc)) from exc
        sheet = _SheetXml(name, part, xml, self.shown)
        rels_name = part.rpartition("/")[0] + "/_rels/" + part.rpartition("/")[2] + ".rels"
        if rels_name in self.names:
            kinds = {k for _, k, _ in relationships(self.archive.read(rels_name), part.rpartition("/")[0])}
            sheet.has_tables = "table" in kinds
        tail = xml[sheet.data_end :] if sheet.data_end >= 0 else xml
        sheet.protected = _PROTECTION_RE.search(tail) is not None
        self._xml[name] = sheet
        return sheet

    def shared_strings(self) -> list[str]:
        if self._shared is None:
            self._shared = []
            if self.shared_part and self.shared_part in self.names:
                xml = self.archive.read(self.shared_part)
                for match in _SI_RE.finditer(xml):
                    inner = _PHONETIC_RE.sub(b"", match[1] or b"")
                    self._shared.append(
                        html.unescape(b"".join(t[1] or b"" for t in _T_RE.finditer(inner)).decode())
                    )
        return self._shared

    def styles(self) -> _Styles:
        if self._styles is None:
            if not self.styles_part or self.styles_part not in self.names:
                raise Unsupported("no styles part")
            self._styles = _Styles.parse(self.archive.read(self.styles_part))
        return self._styles

    # --- values ---

    def raw_value(self, cell: _Cell) -> object:
        """A stored cell's value as a formula engine sees it (dates as serial numbers)."""
        kind = cell.attrs.get("t", "n")
        if kind == "inlineStr":
            inner = _PHONETIC_RE.sub(b"", cell.body)
            return html.unescape(b"".join(t[1] or b"" for t in _T_RE.finditer(inner)).decode())
        text = cell_value_text(cell.body)
        if text is None:
            return None
        if kind == "s":
            try:
                return self.shared_strings()[int(text)]
            except (ValueError, IndexError):
                return None
        if kind == "b":
            return text.strip() in ("1", "true")
        if kind in ("str", "e"):
            return text
        if kind == "d":
            return text
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if number.is_integer() and abs(number) < 2**53 else number

    def shown_value(self, sheet: str, cell: _Cell) -> CellValue:
        """A stored cell's content as a preview shows it: formulas as text, dates as ISO."""
        formula = cell_formula(cell.body)
        if formula is not None:
            kind = formula.attrs.get("t")
            if kind == "array":
                return "{=" + (formula.text or "") + "}"
            if formula.text:
                return "=" + formula.text
            group = formula.attrs.get("si")
            if kind == "shared" and group is not None:
                master = self.shared_master(cell.row, group, sheet)
                if master is not None:
                    return translate(master[1], master[0], (cell.row, cell.column))
        value = self.raw_value(cell)
        if isinstance(value, int | float) and not isinstance(value, bool) and cell.attrs.get("s"):
            code = self.styles().code(int(cell.attrs["s"]))
            if is_date_format(code):
                try:
                    converted = from_excel(value, self.epoch, timedelta=is_timedelta_format(code))
                except (ValueError, OverflowError):
                    return _json_value(value)
                return _json_value(converted)
        return _json_value(value)

    def shared_master(self, row: int, group: str, sheet: str) -> tuple[tuple[int, int], str] | None:
        xml = self.sheet_xml(sheet)
        pattern = re.compile(
            rb"<f\b[^>]*?\bsi\s*=\s*[\"']" + re.escape(group.encode()) + rb"[\"'][^>]*>([^<]*)</f>"
        )
        for match in pattern.finditer(xml.xml):
            attrs = attributes(xml.xml[match.start() : xml.xml.find(b">", match.start())])
            if "ref" not in attrs or not match[1]:
                continue
            start = xml.xml.rfind(b"<c ", 0, match.start())
            cell = attributes(xml.xml[start : xml.xml.find(b">", start)])
            place = split_ref(cell.get("r", ""))
            if place is not None and place[0] <= row:
                return place, html.unescape(match[1].decode())
        return None

    def get(self, sheet: str, row: int, column: int) -> CellValue:
        cell = self.sheet_xml(sheet).cell(row, column)
        return None if cell is None else self.shown_value(sheet, cell)

    def put(self, sheet: str, row: int, column: int, value: _Input) -> None:
        xml = self.sheet_xml(sheet)
        if xml.has_tables or xml.protected:
            # Table headers and growth, and locked cells, are openpyxl's to check.
            raise Unsupported("a sheet with tables or protection")
        name = _cell_name(row, column)
        for merged in xml.merges():
            if merged.contains(row, column) and (merged.top, merged.left) != (row, column):
                raise ToolError(
                    f"{name} on '{sheet}' is covered by the merged cells {merged.a1}; "
                    "only the top-left cell of a merged area holds a value. Write to that cell instead."
                )
        if any(block.contains(row, column) for block in xml.arrays()):
            raise Unsupported("an array formula")
        old = xml.cell(row, column)
        attrs: dict[str, str] = {}
        if old is not None:
            formula = cell_formula(old.body)
            if formula is not None:
                if formula.attrs.get("t") == "shared" and "ref" in formula.attrs:
                    raise Unsupported("the first cell of a shared formula")
                self.drop_calc_chain = True
            if old.attrs.get("s"):
                attrs["s"] = old.attrs["s"]
        inner = b""
        if value.kind == "empty":
            xml.edits.setdefault(row, {})[column] = _cell_xml(name, attrs, b"") if attrs.get("s") else None
        else:
            if value.kind == "text":
                assert isinstance(value.value, str)
                if ILLEGAL_CHARACTERS_RE.search(value.value):
                    raise ToolError(
                        f"The text for {name} holds control characters that a workbook cannot "
                        "store; leave them out."
                    )
                attrs["t"] = "inlineStr"
                inner = (
                    b'<is><t xml:space="preserve">'
                    + html.escape(value.value, quote=False).encode()
                    + b"</t></is>"
                )
            elif value.kind == "bool":
                attrs["t"] = "b"
                inner = b"<v>" + (b"1" if value.value else b"0") + b"</v>"
            elif value.kind == "number":
                assert isinstance(value.value, int | float)
                inner = b"<v>" + _number_text(value.value).encode() + b"</v>"
            elif value.kind == "date":
                assert isinstance(value.value, dt.date)
                with_time = isinstance(value.value, dt.datetime)
                attrs["s"] = str(self.styles().date_style(int(attrs.get("s", "0")), with_time))
                serial = to_excel(value.value, self.epoch)  # type: ignore[no-untyped-call]
                inner = b"<v>" + _number_text(serial).encode() + b"</v>"
            else:  # a formula: its value comes when the workbook is calculated again
                assert isinstance(value.value, str)
                inner = b"<f>" + html.escape(value.value[1:], quote=False).encode() + b"</f>"
            xml.edits.setdefault(row, {})[column] = _cell_xml(name, attrs, inner)
        self.written[(sheet, row, column)] = value

    # --- saving ---

    def save(self, out: IO[bytes]) -> None:
        """Recalculates what the writes affect, then writes the file with only its edited parts new.

        Raises:
            Unsupported: The zip is of a kind the rewriter does not handle.
        """
        if self.written:
            Recalculator(self).run()
        replaced: dict[str, bytes] = {}
        for sheet in self._xml.values():
            new = sheet.rebuilt()
            if new is not sheet.xml:
                replaced[sheet.part] = self._widened(sheet, new)
        if self._styles is not None and (styles := self._styles.rebuilt()) is not None:
            assert self.styles_part is not None
            replaced[self.styles_part] = styles
        dropped: set[str] = set()
        if self.drop_calc_chain and self.calc_chain and self.calc_chain in self.names:
            dropped.add(self.calc_chain)
            replaced["xl/_rels/workbook.xml.rels"] = re.sub(
                rb"<Relationship\b[^>]*?calcChain[^>]*?/>", b"", self.workbook_rels
            )
            types = self.archive.read("[Content_Types].xml")
            replaced["[Content_Types].xml"] = re.sub(
                rb"<Override\b[^>]*?/xl/calcChain\.xml[^>]*?/>", b"", types
            )
        if self.uncalculated:
            replaced["xl/workbook.xml"] = self._full_calc_on_load()
        try:
            rezip(self.data, replaced, dropped, out)
        except RezipError as exc:
            raise Unsupported(str(exc)) from exc

    def _widened(self, sheet: _SheetXml, xml: bytes) -> bytes:
        """The sheet's XML with its dimension grown to take in the written cells."""
        match = _DIMENSION_TAG_RE.search(xml, 0, 4096)
        if match is None:
            return xml
        attrs = attributes(match[0])
        try:
            current: _Area | None = _parse_block(attrs.get("ref", "").replace("$", ""))[0]
        except ToolError:
            return xml
        grown = current
        for (name, row, column), value in self.written.items():
            if name == sheet.name and value.kind != "empty":
                grown = _Area(row, column, row, column).union(grown)
        if grown == current or grown is None:
            return xml
        ref = grown.a1 if (grown.height, grown.width) != (1, 1) else _cell_name(grown.top, grown.left)
        return xml[: match.start()] + f'<dimension ref="{ref}"/>'.encode() + xml[match.end() :]

    def _full_calc_on_load(self) -> bytes:
        """workbook.xml asking Excel to calculate everything when it opens the file."""
        xml = self.workbook_xml
        match = _CALCPR_RE.search(xml)
        if match is None:
            closing = xml.find(b"</workbook>")
            anchor = xml.find(b"</sheets>")
            if anchor < 0 or closing < 0:
                return xml
            end = xml.find(b"<", anchor + 9)
            for tag in (
                b"<oleSize",
                b"<customWorkbookViews",
                b"<pivotCaches",
                b"<smartTagPr",
                b"<smartTagTypes",
                b"<webPublishing",
                b"<fileRecoveryPr",
                b"<webPublishObjects",
                b"<extLst",
                b"</workbook>",
            ):
                position = xml.find(tag, anchor)
                if position >= 0:
                    end = position
                    break
            return xml[:end] + b'<calcPr fullCalcOnLoad="1"/>' + xml[end:]
        tag = match[0]
        if b"fullCalcOnLoad" in tag:
            return xml
        return xml[: match.start()] + tag[:-2].rstrip() + b' fullCalcOnLoad="1"/>' + xml[match.end() :]

    def value_for_engine(self, sheet: str, row: int, column: int) -> Any:
        """A cell's value as it is before the write, for the formula engine."""
        try:
            xml = self.sheet_xml(sheet)
        except (Unsupported, ToolError):
            return None
        cell = xml.cell(row, column)
        return None if cell is None else self.raw_value(cell)
