"""References in formulas, and how rows or columns inserted or deleted on a sheet move them.

A spreadsheet program keeps formulas pointing at the same data when rows or columns move:
``=SUM(B2:B10)`` becomes ``=SUM(B2:B11)`` after a row is inserted at 5, and a reference to a
deleted cell becomes ``#REF!``. openpyxl moves cells but leaves formulas as they were, so the
references are found here with openpyxl's formula tokenizer and rewritten, ``$`` signs and all.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from openpyxl.formula.tokenizer import Token, Tokenizer, TokenizerError

from connectors.spreadsheet._a1 import EXCEL_MAX_COLUMNS, EXCEL_MAX_ROWS, _column_letters, _column_number

Axis = Literal["row", "column"]

_PART = r"(\$?)([A-Za-z]{1,3})(\$?)([0-9]{1,7})"
_CELL_RE = re.compile(rf"^{_PART}$")
_AREA_RE = re.compile(rf"^{_PART}:{_PART}$")
_COLUMNS_RE = re.compile(r"^(\$?)([A-Za-z]{1,3}):(\$?)([A-Za-z]{1,3})$")
_ROWS_RE = re.compile(r"^(\$?)([0-9]{1,7}):(\$?)([0-9]{1,7})$")


@dataclass(frozen=True)
class Edit:
    """Rows or columns inserted or deleted on one sheet.

    Attributes:
        sheet: The sheet's name.
        axis: Rows or columns.
        at: The first row or column inserted (new ones start here) or deleted, from 1.
        count: How many.
        delete: Whether they are deleted (else inserted).
    """

    sheet: str
    axis: Axis
    at: int
    count: int
    delete: bool

    @property
    def limit(self) -> int:
        return EXCEL_MAX_ROWS if self.axis == "row" else EXCEL_MAX_COLUMNS

    @property
    def end(self) -> int:
        """The last row or column deleted (or inserted)."""
        return self.at + self.count - 1

    def point(self, position: int) -> int | None:
        """Where a row or column goes; None when it is deleted or pushed off the sheet."""
        moved = self.span(position, position)
        return None if moved is None else moved[0]

    def span(self, low: int, high: int) -> tuple[int, int] | None:
        """Where a run of rows or columns goes, as a spreadsheet program moves it.

        Inserting inside the run makes it longer; deleting part of it makes it shorter, and
        deleting all of it leaves nothing (None).
        """
        if not self.delete:
            low = low + self.count if low >= self.at else low
            high = high + self.count if high >= self.at else high
            if low > self.limit:
                return None
            return low, min(high, self.limit)
        if low >= self.at and high <= self.end:
            return None
        new_low = low if low < self.at else (self.at if low <= self.end else low - self.count)
        new_high = high if high < self.at else (self.at - 1 if high <= self.end else high - self.count)
        return new_low, new_high


@dataclass(frozen=True)
class Reference:
    """One reference in a formula: a cell, a block, whole columns or whole rows.

    Rows of whole columns (and columns of whole rows) are None. The ``*_fixed`` flags are the
    ``$`` signs.
    """

    prefix: str
    sheet: str | None
    top: int | None
    left: int | None
    bottom: int | None
    right: int | None
    top_fixed: bool = False
    left_fixed: bool = False
    bottom_fixed: bool = False
    right_fixed: bool = False
    single: bool = False

    def text(self) -> str:
        """The reference as a formula writes it."""

        def row(value: int | None, fixed: bool) -> str:
            return "" if value is None else ("$" if fixed else "") + str(value)

        def column(value: int | None, fixed: bool) -> str:
            return "" if value is None else ("$" if fixed else "") + _column_letters(value)

        first = column(self.left, self.left_fixed) + row(self.top, self.top_fixed)
        if self.single:
            return self.prefix + first
        second = column(self.right, self.right_fixed) + row(self.bottom, self.bottom_fixed)
        return f"{self.prefix}{first}:{second}"

    def rows(self) -> tuple[int, int] | None:
        return None if self.top is None or self.bottom is None else (self.top, self.bottom)

    def columns(self) -> tuple[int, int] | None:
        return None if self.left is None or self.right is None else (self.left, self.right)


def _unquote(name: str) -> str:
    if len(name) >= 2 and name.startswith("'") and name.endswith("'"):
        return name[1:-1].replace("''", "'")
    return name


def parse_reference(text: str, own_sheet: str | None) -> Reference | None:
    """Parses a range operand; None for a defined name, a table column or anything else.

    Args:
        text: The operand as written ("B2", "Data!$A$1:B5", "'My sheet'!A:A", "3:5").
        own_sheet: The sheet of the formula, which an unqualified reference points at.
    """
    prefix = ""
    sheet: str | None = own_sheet
    cells = text
    if "!" in text:
        head, _, cells = text.rpartition("!")
        prefix = head + "!"
        unquoted = _unquote(head)
        # Another workbook ([1]Sheet) or several sheets (Jan:Dec) are left alone.
        sheet = None if "[" in unquoted or ":" in unquoted else unquoted
    if match := _CELL_RE.match(cells):
        column, row = _column_number(match[2]), int(match[4])
        return Reference(
            prefix, sheet, row, column, row, column, match[3] == "$", match[1] == "$", single=True
        )
    if match := _AREA_RE.match(cells):
        return Reference(
            prefix,
            sheet,
            int(match[4]),
            _column_number(match[2]),
            int(match[8]),
            _column_number(match[6]),
            match[3] == "$",
            match[1] == "$",
            match[7] == "$",
            match[5] == "$",
        )
    if match := _COLUMNS_RE.match(cells):
        return Reference(
            prefix,
            sheet,
            None,
            _column_number(match[2]),
            None,
            _column_number(match[4]),
            left_fixed=match[1] == "$",
            right_fixed=match[3] == "$",
        )
    if match := _ROWS_RE.match(cells):
        return Reference(
            prefix,
            sheet,
            int(match[2]),
            None,
            int(match[4]),
            None,
            top_fixed=match[1] == "$",
            bottom_fixed=match[3] == "$",
        )
    return None


Rewrite = Callable[[Reference], str | None]
"""Gives a reference's new text, or None to keep it as it is."""


class FormulaError(Exception):
    """A formula's text could not be taken apart into its references."""


def map_references(formula: str, own_sheet: str | None, rewrite: Rewrite) -> str:
    """Rewrites every reference in a formula.

    Args:
        formula: The formula, starting with "=".
        own_sheet: The sheet the formula is on (None for a defined name).
        rewrite: Gives each reference's new text, or None to keep it.

    Returns:
        The formula, the same text when no reference changed.

    Raises:
        FormulaError: The formula could not be tokenized.
    """
    try:
        tokens = Tokenizer(formula).items
    except TokenizerError as exc:
        raise FormulaError(str(exc)) from exc
    changed = False
    parts: list[str] = []
    for token in tokens:
        value = str(token.value)
        if token.type == Token.OPERAND and token.subtype == Token.RANGE:
            reference = parse_reference(value, own_sheet)
            if reference is not None:
                new = rewrite(reference)
                if new is not None and new != value:
                    value = new
                    changed = True
        parts.append(value)
    return "=" + "".join(parts) if changed else formula


def shifted(reference: Reference, edit: Edit) -> str | None:
    """A reference's text after an edit, "#REF!" when what it points at is deleted."""
    if reference.sheet is None or reference.sheet.casefold() != edit.sheet.casefold():
        return None
    if edit.axis == "row":
        span = reference.rows()
        if span is None:
            return None
        moved = edit.span(*span)
        if moved is None:
            return reference.prefix + "#REF!"
        return replace(reference, top=moved[0], bottom=moved[1]).text()
    span = reference.columns()
    if span is None:
        return None
    moved = edit.span(*span)
    if moved is None:
        return reference.prefix + "#REF!"
    return replace(reference, left=moved[0], right=moved[1]).text()


def shift_formula(formula: str, own_sheet: str | None, edit: Edit) -> str:
    """A formula's text after rows or columns are inserted or deleted.

    Raises:
        FormulaError: The formula could not be tokenized.
    """
    return map_references(formula, own_sheet, lambda reference: shifted(reference, edit))
