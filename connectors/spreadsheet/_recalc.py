"""Calculating again the formulas a write affects, with pycel, so their saved values stay right.

A formula is affected when one of the cells it refers to was written, or is itself an affected
formula. References are found in the formula's text; a formula that names what it uses in a
way this cannot follow (a defined name, a table column, INDIRECT, OFFSET, another workbook) is
taken as affected, to be safe. Each affected formula is then evaluated by pycel, reading the
cells it needs from the sheet's XML as it was, the written values, and the formulas already
evaluated. A formula pycel cannot evaluate (a function it lacks, a dynamic array) is saved
without a value, and the workbook is marked for Excel to calculate it when it opens the file.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from openpyxl.utils.datetime import to_excel
from pycel.excelformula import ExcelFormula  # type: ignore[import-untyped]
from pycel.excelutil import AddressCell, AddressRange  # type: ignore[import-untyped]

from connectors.spreadsheet._a1 import (
    EXCEL_MAX_COLUMNS,
    EXCEL_MAX_ROWS,
    _Area,
    _cell_name,
    _column_letters,
    _column_number,
)
from connectors.spreadsheet._parts import attributes, cell_formula, split_ref, translate

if TYPE_CHECKING:
    from connectors.spreadsheet._patch import PartsWorkbook, _SheetXml

_QUIET = logging.getLogger("ensemble.spreadsheet.pycel")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False
"""pycel logs every formula it fails on at error level; a failure here is expected and handled."""

_FORMULA_TAG_RE = re.compile(rb"<f[\s>/]")
_STRING_RE = re.compile(r'"(?:[^"]|"")*"')
_REF_RE = re.compile(
    r"(?<![\w.$])(?:(?P<sheet>'(?:[^']|'')+'|[A-Za-z_][\w.]*)!)?"
    r"(?:(?P<c1>\$?[A-Za-z]{1,3}\$?\d+)(?::(?P<c2>\$?[A-Za-z]{1,3}\$?\d+))?"
    r"|(?P<k1>\$?[A-Za-z]{1,3}):(?P<k2>\$?[A-Za-z]{1,3})"
    r"|(?P<r1>\$?\d+):(?P<r2>\$?\d+))"
    r"(?![\w(!])"
)
_WORD_RE = re.compile(r"(?<![\w.])([A-Za-z_\\][\w.]*)(\s*\()?")
_OPAQUE = frozenset({"INDIRECT", "OFFSET", "INDEX", "CELL", "INFO"})
_CELL_PARTS_RE = re.compile(r"\$?([A-Za-z]{1,3})\$?(\d+)")
_ERRORS = frozenset({"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA"})

_MAX_NAMED_POINTS = 200
"""Above this many cells in a wave, every formula is a candidate (the pattern would be huge)."""
_SHARED_FIRST_RE = re.compile(rb"""<f\b(?=[^>]*\bt\s*=\s*["']shared["'])(?=[^>]*\bref\s*=)[^>]*>""")
_SPEC_RE = re.compile(
    r"(?<![\w.$])(?:(?P<sheet>'(?:[^']|'')+'|[A-Za-z_][\w.]*)!)?"
    r"(?:(?P<c1>\$?[A-Za-z]{1,3}\$?\d+)(?::(?P<c2>\$?[A-Za-z]{1,3}\$?\d+))?"
    r"|(?P<k1>\$?[A-Za-z]{1,3}):(?P<k2>\$?[A-Za-z]{1,3})"
    r"|(?P<r1>\$?\d+):(?P<r2>\$?\d+))"
    r"(?![\w(!])"
)
_SPEC_CELL_RE = re.compile(r"(\$?)([A-Za-z]{1,3})(\$?)(\d+)")

_Key = tuple[str, int, int]
"""(sheet name folded to lower case, row, column)."""


@dataclass
class _Formula:
    sheet: str
    row: int
    column: int
    text: str
    """With its '='."""
    refs: list[tuple[str, _Area]]
    opaque: bool
    start: int
    end: int
    computable: bool


def _point(text: str) -> tuple[int, int]:
    match = _CELL_PARTS_RE.fullmatch(text)
    assert match is not None
    return int(match[2]), _column_number(match[1])


def references(
    text: str, sheet: str, defined: dict[str, str] | None = None
) -> tuple[list[tuple[str, _Area]], bool]:
    """The blocks a formula refers to, as (sheet folded, block), and whether it may use others.

    A defined name that stands for a plain reference counts as that reference.
    """
    bare = _STRING_RE.sub('""', text)
    if defined:
        bare = _substitute(bare, defined)
    opaque = "[" in bare
    refs: list[tuple[str, _Area]] = []
    for match in _REF_RE.finditer(bare):
        named = match["sheet"]
        where = sheet if named is None else named.strip("'").replace("''", "'")
        if match["c1"]:
            r1, c1 = _point(match["c1"])
            r2, c2 = _point(match["c2"]) if match["c2"] else (r1, c1)
        elif match["k1"]:
            r1, r2 = 1, EXCEL_MAX_ROWS
            c1, c2 = _column_number(match["k1"].lstrip("$")), _column_number(match["k2"].lstrip("$"))
        else:
            r1, r2 = int(match["r1"].lstrip("$")), int(match["r2"].lstrip("$"))
            c1, c2 = 1, EXCEL_MAX_COLUMNS
        refs.append((where.casefold(), _Area(min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2))))
    rest = _REF_RE.sub(" ", bare)
    for word in _WORD_RE.finditer(rest):
        name = word[1].upper()
        if word[2]:
            opaque = opaque or name.removeprefix("_XLFN.").removeprefix("_XLWS.") in _OPAQUE
        elif name not in ("TRUE", "FALSE"):
            opaque = True  # A defined name, or something else this cannot follow.
    return refs, opaque


_NAME_WORD_RE = re.compile(r"(?<![\w.$!'])([A-Za-z_\\][\w.]*)(?![\w(!])")


def _substitute(text: str, defined: dict[str, str]) -> str:
    """A formula's text with each defined name (outside quoted text) replaced by what it stands for."""

    def swap(match: re.Match[str]) -> str:
        found = defined.get(match[1].upper())
        return found if found is not None and _PLAIN_REF_RE.fullmatch(found) else match[0]

    pieces = re.split(r'("(?:[^"]|"")*")', text)
    return "".join(piece if piece.startswith('"') else _NAME_WORD_RE.sub(swap, piece) for piece in pieces)


_PLAIN_REF_RE = re.compile(
    r"(?:'(?:[^']|'')+'|[A-Za-z_][\w.]*)!\$?[A-Za-z]{1,3}\$?\d+(?::\$?[A-Za-z]{1,3}\$?\d+)?"
)


class Recalculator:
    """Finds and evaluates the formulas a write affects, and puts their new values in the XML."""

    def __init__(self, book: PartsWorkbook) -> None:
        self.book = book
        self.names = {name.casefold(): name for name, _, kind in book.sheets if kind == "worksheet"}
        self.formulas: dict[_Key, _Formula] = {}
        self.affected: set[_Key] = set()
        self.results: dict[_Key, Any] = {}
        self._evaluating: set[_Key] = set()
        self.written: dict[_Key, Any] = {}
        self._context: Any = None

    # --- finding the formulas a write affects ---

    def _spread(self) -> None:
        """Marks every formula that depends, directly or not, on a written cell.

        Works in waves: the cells written, then the formulas they feed, then the formulas
        those feed. Each wave finds its candidates with one regular expression over each
        sheet's XML (formulas that name a cell of the wave, use a range, a name or a
        reference function) and reads only those in Python; a shared formula's group is
        answered from its first cell by working out which of its cells' shifted references
        reach the wave.
        """
        frontier: dict[str, set[tuple[int, int]]] = {}
        for sheet, row, column in self.book.written:
            frontier.setdefault(sheet.casefold(), set()).add((row, column))
        groups = {folded: self._groups(name) for folded, name in self.names.items()}
        complex_pattern = self._complex_pattern()
        complex_formulas: dict[str, list[_Formula]] = {}
        first = True
        while frontier:
            reached: dict[str, set[tuple[int, int]]] = {}
            points = {(r, c) for cells in frontier.values() for r, c in cells}
            for folded, name in self.names.items():
                xml = self.book.sheet_xml(name)
                if folded not in complex_formulas:
                    complex_formulas[folded] = [
                        f
                        for m in complex_pattern.finditer(xml.xml)
                        if (f := self._formula_at(xml, m.start())) is not None
                    ]
                candidates = complex_formulas[folded]
                if len(points) > _MAX_NAMED_POINTS:
                    candidates = candidates + [
                        f
                        for m in _FORMULA_START_RE.finditer(xml.xml)
                        if (f := self._formula_at(xml, m.start())) is not None
                    ]
                else:
                    candidates = candidates + [
                        f for at in _mentions(xml.xml, points) if (f := self._formula_at(xml, at)) is not None
                    ]
                for found in candidates:
                    if (found.opaque and first) or self._reaches(found, frontier):
                        self._mark(found, reached)
                for group in groups[folded]:
                    for found in self._group_members(xml, group, frontier):
                        self._mark(found, reached)
            first = False
            frontier = reached

    def _mark(self, formula: _Formula, reached: dict[str, set[tuple[int, int]]]) -> None:
        key = self._key(formula.sheet, formula.row, formula.column)
        if key in self.affected or (formula.sheet, formula.row, formula.column) in self.book.written:
            return
        self.affected.add(key)
        self.formulas[key] = formula
        reached.setdefault(key[0], set()).add((formula.row, formula.column))

    def _complex_pattern(self) -> re.Pattern[bytes]:
        """Formulas that use ranges, names or reference functions: read once per write."""
        names = [re.escape(n.encode()) for n in self.book.defined_names]
        words = [rb":", rb"\[", rb"INDIRECT", rb"OFFSET", rb"INDEX", rb"CELL\(", *names]
        return re.compile(rb"<f(?:\s[^>]*)?>(?=[^<]*?(?:" + rb"|".join(words) + rb"))", re.IGNORECASE)

    def _formula_at(self, xml: _SheetXml, position: int) -> _Formula | None:
        """The formula whose ``<f>`` starts at a position (None for a shared group's first cell)."""
        start = xml.xml.rfind(b"<c", 0, position)
        end = xml.xml.find(b"</c>", position)
        if start < 0 or end < 0:
            return None
        end += 4
        head_end = xml.xml.find(b">", start)
        attrs = attributes(xml.xml[start:head_end])
        place = split_ref(attrs.get("r", ""))
        formula = cell_formula(xml.xml[head_end + 1 : end])
        if place is None or formula is None or not formula.text:
            return None
        if formula.attrs.get("t") == "shared" and "ref" in formula.attrs:
            return None  # Answered with its group.
        refs, opaque = references("=" + formula.text, xml.name.casefold(), self.book.defined_refs)
        computable = formula.attrs.get("t") not in ("array", "dataTable") and "cm" not in attrs
        return _Formula(xml.name, *place, "=" + formula.text, refs, opaque, start, end, computable)

    def _reaches(self, formula: _Formula, frontier: dict[str, set[tuple[int, int]]]) -> bool:
        return formula.opaque or any(_touches(area, frontier.get(where)) for where, area in formula.refs)

    def _groups(self, name: str) -> list[_Group]:
        xml = self.book.sheet_xml(name)
        groups: list[_Group] = []
        if b"shared" not in xml.xml:
            return groups
        for match in _SHARED_FIRST_RE.finditer(xml.xml):
            start = xml.xml.rfind(b"<c", 0, match.start())
            end = xml.xml.find(b"</c>", match.start())
            if start < 0 or end < 0:
                continue
            attrs = attributes(xml.xml[start : xml.xml.find(b">", start)])
            place = split_ref(attrs.get("r", ""))
            formula = cell_formula(xml.xml[match.start() : end])
            if place is None or formula is None or not formula.text:
                continue
            block = _safe_block(formula.attrs.get("ref", ""))
            group = formula.attrs.get("si")
            if block is None or group is None:
                continue
            specs, opaque = _specs(formula.text, name.casefold())
            groups.append(_Group(group, place, formula.text, block, specs, opaque))
        return groups

    def _group_members(
        self, xml: _SheetXml, group: _Group, frontier: dict[str, set[tuple[int, int]]]
    ) -> list[_Formula]:
        """The cells of a shared formula's group whose references reach the frontier."""
        if group.opaque and group.taken:
            return []
        blocks: list[_Area] = []
        if group.opaque:
            group.taken = True
            blocks.append(group.block)
        else:
            for spec in group.specs:
                for row, column in frontier.get(spec.sheet, ()):
                    if (found := spec.members(row, column, group.origin, group.block)) is not None:
                        blocks.append(found)
        members: list[_Formula] = []
        seen: set[tuple[int, int]] = set()
        for block in blocks:
            for cell in xml.cells_in(block):
                if (cell.row, cell.column) in seen:
                    continue
                formula = cell_formula(cell.body)
                if formula is None or formula.attrs.get("si") != group.id:
                    continue
                seen.add((cell.row, cell.column))
                text = translate(group.text, group.origin, (cell.row, cell.column))
                refs, opaque = references(text, xml.name.casefold(), self.book.defined_refs)
                members.append(
                    _Formula(
                        xml.name,
                        cell.row,
                        cell.column,
                        text,
                        refs,
                        opaque,
                        cell.start,
                        cell.start + len(cell.xml),
                        True,
                    )
                )
        return members

    # --- evaluating ---

    def _key(self, sheet: str, row: int, column: int) -> _Key:
        return (sheet.casefold(), row, column)

    def _value(self, key: _Key) -> Any:
        if key in self.results:
            return self.results[key]
        if key in self.written:
            return self.written[key]
        if key in self.affected:
            return self._compute(key)
        name = self.names.get(key[0])
        return None if name is None else self.book.value_for_engine(name, key[1], key[2])

    def _compute(self, key: _Key) -> Any:
        formula = self.formulas.get(key) or self._written_formula(key)
        if formula is None or not formula.computable or key in self._evaluating:
            self.results[key] = _Uncomputed
            return None
        self._evaluating.add(key)
        try:
            compiled = ExcelFormula(
                _substitute(formula.text, self.book.defined_refs),
                cell=AddressCell.create(_cell_name(formula.row, formula.column), sheet=formula.sheet),
            )
            value = self._context(compiled)
        except Exception:  # noqa: BLE001 - pycel raises anything at all on a formula it cannot run
            value = _Uncomputed
        finally:
            self._evaluating.discard(key)
        if value is not _Uncomputed and isinstance(value, tuple):
            value = _Uncomputed  # An array result spills over cells this does not write.
        self.results[key] = value
        return None if value is _Uncomputed else value

    def _written_formula(self, key: _Key) -> _Formula | None:
        return self.new_formulas.get(key)

    def _evaluate(self, address: Any) -> Any:
        cell = address if isinstance(address, AddressCell) else AddressCell(str(address))
        value = self._value(self._key(cell.sheet, cell.row, cell.col_idx))
        return None if value is _Uncomputed else value

    def _evaluate_range(self, address: Any) -> Any:
        block = address if isinstance(address, AddressRange) else AddressRange(str(address))
        if isinstance(block, AddressCell):
            return self._evaluate(block)
        name = self.names.get(block.sheet.casefold())
        if name is None:
            return ((None,),)
        xml = self.book.sheet_xml(name)
        top = block.start.row or 1
        bottom = block.end.row or max(xml.last_row(), 1)
        left = block.start.col_idx or 1
        right = block.end.col_idx or max(left, 1)
        if not block.end.col_idx:
            right = max(
                left,
                max(
                    (c for _, _, c in self._cells_of(xml, _Area(top, 1, bottom, EXCEL_MAX_COLUMNS))),
                    default=1,
                ),
            )
        area = _Area(top, left, bottom, right)
        if area.height * area.width > _MAX_RANGE_CELLS:
            raise _TooBigError(address)  # The formula is left for Excel to calculate.
        grid: list[list[Any]] = [[None] * area.width for _ in range(area.height)]
        folded = name.casefold()
        for cell_key, value in self._stored(xml, area):
            grid[cell_key[0] - top][cell_key[1] - left] = value
        for key in [*self.written, *self.affected]:
            if key[0] == folded and area.contains(key[1], key[2]):
                value = self._value(key)
                grid[key[1] - top][key[2] - left] = None if value is _Uncomputed else value
        return tuple(tuple(row) for row in grid)

    def _cells_of(self, xml: _SheetXml, area: _Area) -> list[tuple[str, int, int]]:
        return [(xml.name, cell.row, cell.column) for cell in xml.cells_in(area)]

    def _stored(self, xml: _SheetXml, area: _Area) -> list[tuple[tuple[int, int], Any]]:
        return [((cell.row, cell.column), self.book.raw_value(cell)) for cell in xml.cells_in(area)]

    # --- the whole run ---

    def run(self) -> None:
        """Recalculates and records the new values in each sheet's pending edits."""
        self.new_formulas: dict[_Key, _Formula] = {}
        for (sheet, row, column), value in self.book.written.items():
            key = self._key(sheet, row, column)
            if value.kind == "formula":
                assert isinstance(value.value, str)
                refs, opaque = references(value.value, key[0], self.book.defined_refs)
                self.new_formulas[key] = _Formula(sheet, row, column, value.value, refs, opaque, -1, -1, True)
            elif value.kind == "date":
                assert isinstance(value.value, dt.date)
                self.written[key] = to_excel(value.value, self.book.epoch)  # type: ignore[no-untyped-call]
            elif value.kind != "empty":
                self.written[key] = value.value
        self._spread()
        self.affected |= set(self.new_formulas)
        for key in self.new_formulas:
            self.written.pop(key, None)
        self._context = ExcelFormula.build_eval_context(self._evaluate, self._evaluate_range, logger=_QUIET)
        for key in sorted(self.affected):
            if key not in self.results:
                self._compute(key)
        for key in self.affected:
            self._record(key)

    def _record(self, key: _Key) -> None:
        value = self.results.get(key, _Uncomputed)
        name = self.names[key[0]]
        xml = self.book.sheet_xml(name)
        if key in self.new_formulas:
            edits = xml.edits.get(key[1], {})
            old = edits.get(key[2])
            if old is None:
                return
            xml.edits[key[1]][key[2]] = _with_value(old, value)
        else:
            formula = self.formulas[key]
            xml.value_updates[(key[1], key[2])] = _with_value(xml.xml[formula.start : formula.end], value)
        if value is _Uncomputed:
            self.book.uncalculated = True


def _bounds(low: int, high: int, point: int, low_fixed: bool, high_fixed: bool) -> tuple[int, int] | None:
    """The shifts d for which a reference's span [low(+d), high(+d)] holds a point.

    A fixed ($) end does not move with the shift; a relative one does.
    """
    least, most = -(1 << 30), 1 << 30
    if low_fixed:
        if point < low:
            return None
    else:
        most = min(most, point - low)
    if high_fixed:
        if point > high:
            return None
    else:
        least = max(least, point - high)
    return (least, most) if least <= most else None


@dataclass
class _Spec:
    """One reference in a shared formula's first cell, with which of its ends are fixed ($)."""

    sheet: str
    top: int
    left: int
    bottom: int
    right: int
    fixed: tuple[bool, bool, bool, bool]
    """Top, left, bottom, right."""

    def members(self, row: int, column: int, origin: tuple[int, int], block: _Area) -> _Area | None:
        """The cells of the group (first cell ``origin``, ``block``) whose copy reaches a cell."""
        rows = _bounds(self.top, self.bottom, row, self.fixed[0], self.fixed[2])
        columns = _bounds(self.left, self.right, column, self.fixed[1], self.fixed[3])
        if rows is None or columns is None:
            return None
        top = max(block.top, origin[0] + rows[0])
        bottom = min(block.bottom, origin[0] + rows[1])
        left = max(block.left, origin[1] + columns[0])
        right = min(block.right, origin[1] + columns[1])
        return _Area(top, left, bottom, right) if top <= bottom and left <= right else None


def _specs(text: str, sheet: str) -> tuple[list[_Spec], bool]:
    """A shared formula's references with their fixed ends, and whether it may use others."""
    _, opaque = references("=" + text, sheet)
    specs: list[_Spec] = []
    for match in _SPEC_RE.finditer(_STRING_RE.sub('""', text)):
        named = match["sheet"]
        where = (sheet if named is None else named.strip("'").replace("''", "'")).casefold()
        if match["c1"]:
            one = _SPEC_CELL_RE.fullmatch(match["c1"])
            two = _SPEC_CELL_RE.fullmatch(match["c2"] or match["c1"])
            assert one is not None
            assert two is not None
            specs.append(
                _Spec(
                    where,
                    int(one[4]),
                    _column_number(one[2]),
                    int(two[4]),
                    _column_number(two[2]),
                    (bool(one[3]), bool(one[1]), bool(two[3]), bool(two[1])),
                )
            )
        elif match["k1"]:
            left, right = match["k1"], match["k2"]
            specs.append(
                _Spec(
                    where,
                    1,
                    _column_number(left.lstrip("$")),
                    EXCEL_MAX_ROWS,
                    _column_number(right.lstrip("$")),
                    (True, left.startswith("$"), True, right.startswith("$")),
                )
            )
        else:
            top, bottom = match["r1"], match["r2"]
            specs.append(
                _Spec(
                    where,
                    int(top.lstrip("$")),
                    1,
                    int(bottom.lstrip("$")),
                    EXCEL_MAX_COLUMNS,
                    (top.startswith("$"), True, bottom.startswith("$"), True),
                )
            )
    return specs, opaque


@dataclass
class _Group:
    """A shared formula: its id, first cell, text there, the block it fills, its references."""

    id: str
    origin: tuple[int, int]
    text: str
    block: _Area
    specs: list[_Spec]
    opaque: bool
    taken: bool = False


_FORMULA_START_RE = re.compile(rb"<f[\s>]")
_BEFORE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$.")
_DIGITS = frozenset(b"0123456789")


def _mentions(xml: bytes, points: set[tuple[int, int]]) -> list[int]:
    """Where the ``<f>`` of each formula naming one of the cells (as B7, $B7, B$7, $B$7) starts.

    Plain byte searches, many times faster over a big sheet than a regular expression.
    """
    found: set[int] = set()
    for row, column in points:
        letters, number = _column_letters(column).encode(), str(row).encode()
        for needle in (
            letters + number,
            b"$" + letters + number,
            letters + b"$" + number,
            b"$" + letters + b"$" + number,
        ):
            at = xml.find(needle)
            while at >= 0:
                end = at + len(needle)
                before = xml[at - 1] if at else 0
                after = xml[end] if end < len(xml) else 0
                if before not in _BEFORE and after not in _DIGITS:
                    opening = xml.rfind(b"<", 0, at)
                    if xml.startswith(b"<f", opening) and xml[opening + 2 : opening + 3] in (b">", b" "):
                        found.add(opening)
                at = xml.find(needle, end)
    return sorted(found)


_MAX_RANGE_CELLS = 5_000_000
"""The most cells one range a recalculated formula reads may span."""


class _TooBigError(Exception):
    """A range too big to lay out for the formula engine."""


class _UncomputedType:
    """Stands for a formula whose value could not be calculated."""


_Uncomputed: Any = _UncomputedType()


def _safe_block(text: str) -> _Area | None:
    match = re.fullmatch(r"\$?([A-Za-z]{1,3})\$?(\d+)(?::\$?([A-Za-z]{1,3})\$?(\d+))?", text)
    if match is None:
        return None
    r1, c1 = int(match[2]), _column_number(match[1])
    r2, c2 = (int(match[4]), _column_number(match[3])) if match[3] else (r1, c1)
    return _Area(min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2))


def _touches(area: _Area, points: set[tuple[int, int]] | None) -> bool:
    if not points:
        return False
    if area.height * area.width < len(points):
        return any(
            (r, c) in points
            for r in range(area.top, area.bottom + 1)
            for c in range(area.left, area.right + 1)
        )
    return any(area.contains(r, c) for r, c in points)


_V_RE = re.compile(rb"<v\b[^>]*?(?:/>|>.*?</v>)", re.DOTALL)
_T_ATTR_RE = re.compile(rb"""\st\s*=\s*["'][^"']*["']""")


def _with_value(cell: bytes, value: Any) -> bytes:
    """A formula cell's XML with its saved value replaced (or removed when uncomputed)."""
    head_end = cell.find(b">")
    self_closing = cell[head_end - 1 : head_end] == b"/"
    head = _T_ATTR_RE.sub(b"", cell[: head_end - 1 if self_closing else head_end]).rstrip()
    body = b"" if self_closing else cell[head_end + 1 : cell.rfind(b"</c>")]
    body = _V_RE.sub(b"", body)
    kind, text = _encoded(value)
    if kind:
        head += f' t="{kind}"'.encode()
    if text is not None:
        body += b"<v>" + html.escape(text, quote=False).encode() + b"</v>"
    return head + b">" + body + b"</c>"


def _encoded(value: Any) -> tuple[str, str | None]:
    """A value's cell type and saved text."""
    if value is _Uncomputed:
        return "", None
    if value is None:
        return "", "0"
    if isinstance(value, bool):
        return "b", "1" if value else "0"
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            return "e", "#NUM!"
        return "", str(value) if isinstance(value, int) else repr(float(value))
    text = str(value)
    if text in _ERRORS:
        return "e", text
    return "str", text
