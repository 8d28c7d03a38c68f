"""A1 notation: column letters, cells, blocks and the ranges the model names.

Also the limits on what one call reads or writes: Excel's own (rows, columns, characters in a
cell) and Ensemble's (rows and cells in one reply, cells in one write, lines in a preview).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from connectors.base import ToolError

# ---------------------------------------------------------------------------------------------
# Limits
# ---------------------------------------------------------------------------------------------

MAX_PAGE_ROWS = 200
"""At most this many rows in one sheet_read reply."""
MAX_PAGE_CELLS = 20_000
"""At most about this many cells in one sheet_read reply (fewer rows when the range is wide)."""
MAX_PAGE_CHARS = 200_000
"""At most about this many characters of JSON rows in one reply (long texts shorten a page)."""
MAX_WRITE_CELLS = 100_000
"""The most cells one write, append or create may set, so a preview stays reviewable."""
MAX_PREVIEW_LINES = 200
"""The most cell lines a preview's plain text lists; ``detail`` lists every cell."""
EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_COLUMNS = 16_384
EXCEL_MAX_TEXT = 32_767
"""Excel's limits: rows and columns on a sheet, characters in a cell."""


# ---------------------------------------------------------------------------------------------
# A1 references
# ---------------------------------------------------------------------------------------------


def _column_letters(column: int) -> str:
    """Returns the letters of a 1-based column number: 1 is A, 28 is AB."""
    letters = ""
    while column:
        column, rest = divmod(column - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _column_number(letters: str) -> int:
    """Returns the 1-based number of a column's letters: A is 1, AB is 28."""
    number = 0
    for char in letters.upper():
        number = number * 26 + ord(char) - ord("A") + 1
    return number


@dataclass(frozen=True)
class _Area:
    """A block of cells, 1-based and inclusive on all sides."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top + 1

    @property
    def width(self) -> int:
        return self.right - self.left + 1

    @property
    def a1(self) -> str:
        """The block in A1 notation, always as a range ('B5:B5' for one cell)."""
        return f"{_cell_name(self.top, self.left)}:{_cell_name(self.bottom, self.right)}"

    def union(self, other: _Area | None) -> _Area:
        if other is None:
            return self
        return _Area(
            min(self.top, other.top),
            min(self.left, other.left),
            max(self.bottom, other.bottom),
            max(self.right, other.right),
        )

    def contains(self, row: int, column: int) -> bool:
        return self.top <= row <= self.bottom and self.left <= column <= self.right


def _cell_name(row: int, column: int) -> str:
    return f"{_column_letters(column)}{row}"


_CELL = r"\$?([A-Za-z]{1,3})\$?([0-9]{1,7})"
_CELL_RE = re.compile(rf"^{_CELL}$")
_BLOCK_RE = re.compile(rf"^{_CELL}:{_CELL}$")
_COLUMNS_RE = re.compile(r"^\$?([A-Za-z]{1,3}):\$?([A-Za-z]{1,3})$")
_ROWS_RE = re.compile(r"^\$?([0-9]{1,7}):\$?([0-9]{1,7})$")


def _bad_range(text: str, *, whole_lines: bool) -> ToolError:
    forms = "one cell such as 'B2' or a block such as 'A1:F10'"
    if whole_lines:
        forms += ", whole columns 'A:C' or whole rows '5:20'"
    return ToolError(
        f"'{text}' is not a cell range. Use A1 notation: {forms} (columns A to XFD, "
        f"rows 1 to {EXCEL_MAX_ROWS:,})."
    )


def _checked_row(text: str, original: str, *, whole_lines: bool) -> int:
    row = int(text)
    if not 1 <= row <= EXCEL_MAX_ROWS:
        raise _bad_range(original, whole_lines=whole_lines)
    return row


def _checked_column(letters: str, original: str, *, whole_lines: bool) -> int:
    column = _column_number(letters)
    if column > EXCEL_MAX_COLUMNS:
        raise _bad_range(original, whole_lines=whole_lines)
    return column


def _split_sheet_prefix(reference: str) -> tuple[str | None, str]:
    """Splits "Sheet1!A1:B2" or "'My sheet'!A1" into the sheet name and the cells."""
    if "!" not in reference:
        return None, reference.strip()
    sheet, _, cells = reference.rpartition("!")
    sheet = sheet.strip()
    if len(sheet) >= 2 and sheet.startswith("'") and sheet.endswith("'"):
        sheet = sheet[1:-1].replace("''", "'")
    return sheet, cells.strip()


def _sheet_and_reference(sheet: str | None, reference: str) -> tuple[str | None, str]:
    """Reconciles a sheet argument with a sheet named inside the range ("Data!A1:B2")."""
    named, cells = _split_sheet_prefix(reference)
    if named is None:
        return sheet, cells
    if sheet is not None and named.casefold() != sheet.casefold():
        raise ToolError(
            f"The range '{reference}' names sheet '{named}' but the sheet argument is "
            f"'{sheet}'. Give the sheet once, in the sheet argument."
        )
    return named, cells


def _parse_block(reference: str) -> tuple[_Area, bool]:
    """Parses one cell or a block of cells.

    Args:
        reference: "B2", "$B$2", "A1:F10" (either corner order).

    Returns:
        The block, and whether the reference was a single cell (an anchor).

    Raises:
        ToolError: The text is not one cell or a block within Excel's limits.
    """
    text = reference.strip()
    if match := _CELL_RE.match(text):
        column = _checked_column(match[1], reference, whole_lines=False)
        row = _checked_row(match[2], reference, whole_lines=False)
        return _Area(row, column, row, column), True
    if match := _BLOCK_RE.match(text):
        c1 = _checked_column(match[1], reference, whole_lines=False)
        r1 = _checked_row(match[2], reference, whole_lines=False)
        c2 = _checked_column(match[3], reference, whole_lines=False)
        r2 = _checked_row(match[4], reference, whole_lines=False)
        return _Area(min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2)), False
    raise _bad_range(reference, whole_lines=False)


def _parse_read_range(reference: str, used: _Area | None) -> _Area | None:
    """Parses a range to read; whole columns or rows are bounded by the sheet's data.

    Returns:
        The block to read, or None when whole columns or rows were asked of an empty sheet.

    Raises:
        ToolError: The text is not a range in A1 notation.
    """
    text = reference.strip()
    if match := _COLUMNS_RE.match(text):
        c1 = _checked_column(match[1], reference, whole_lines=True)
        c2 = _checked_column(match[2], reference, whole_lines=True)
        if used is None:
            return None
        return _Area(used.top, min(c1, c2), used.bottom, max(c1, c2))
    if match := _ROWS_RE.match(text):
        r1 = _checked_row(match[1], reference, whole_lines=True)
        r2 = _checked_row(match[2], reference, whole_lines=True)
        if used is None:
            return None
        return _Area(min(r1, r2), used.left, max(r1, r2), used.right)
    try:
        return _parse_block(text)[0]
    except ToolError:
        raise _bad_range(reference, whole_lines=True) from None
