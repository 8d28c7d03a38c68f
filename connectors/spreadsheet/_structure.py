"""Structural edits: rows or columns inserted or deleted, and a range's rows sorted.

These go through openpyxl's load and save (the in-place writer edits cells, not the layout),
so a preview says what the saved file loses, as sheet_write does when it falls back to
openpyxl. openpyxl moves nothing but cells when rows move, so everything else a spreadsheet
program moves is moved here: formulas' references on every sheet (see :mod:`._shift`),
merged cells, row heights and column widths, conditional formatting, data validation,
defined names, tables, the filter, and hyperlinks. CSV files have only cells to move.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from copy import copy
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

import openpyxl
from openpyxl.cell.cell import Cell, MergedCell
from openpyxl.formatting.formatting import ConditionalFormattingList
from openpyxl.utils.datetime import to_excel
from openpyxl.worksheet.cell_range import CellRange, MultiCellRange
from openpyxl.worksheet.formula import ArrayFormula
from openpyxl.worksheet.worksheet import Worksheet

from connectors.base import ToolContext, ToolError
from connectors.spreadsheet._a1 import (
    EXCEL_MAX_COLUMNS,
    EXCEL_MAX_ROWS,
    _Area,
    _cell_name,
    _column_letters,
    _column_number,
    _parse_block,
    _sheet_and_reference,
)
from connectors.spreadsheet._documents import (
    _CsvDocument,
    _Document,
    _load_document,
    _OpenpyxlDocument,
    _read_original,
    _writable_kind,
)
from connectors.spreadsheet._read import _openpyxl_quietly
from connectors.spreadsheet._shift import (
    Edit,
    FormulaError,
    Reference,
    map_references,
    shift_formula,
)
from connectors.spreadsheet._values import _csv_value, _shown
from connectors.spreadsheet._write import _Plan, _plural
from connectors.spreadsheet.previews import StructureDetail

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from openpyxl.worksheet.dimensions import ColumnDimension, RowDimension

Operation = Literal["insert_rows", "delete_rows", "insert_columns", "delete_columns", "sort"]
_OPERATIONS: dict[tuple[bool, Literal["row", "column"]], Operation] = {
    (False, "row"): "insert_rows",
    (True, "row"): "delete_rows",
    (False, "column"): "insert_columns",
    (True, "column"): "delete_columns",
}

MAX_STRUCTURE_COUNT = 10_000
"""The most rows or columns one call inserts or deletes, so a preview stays reviewable."""
SHOWN_LINES = 8
"""Rows (or columns) a preview shows before and after."""
SHOWN_VALUES = 12
"""Values a preview shows of each of those rows (or columns)."""
SHOWN_FORMULAS = 200
"""Rewritten formulas a preview lists."""


class _SortKey(Protocol):
    column: str
    descending: bool


class _SortArgs(Protocol):
    """What a plan reads of sheet_sort's arguments (``SheetSortArgs``)."""

    path: str
    sheet: str
    range: str

    @property
    def by(self) -> Sequence[_SortKey]: ...


@dataclass
class _Outcome:
    """What an edit did besides moving cells, for the preview and the result."""

    formulas: list[dict[str, Any]] = field(default_factory=list)
    formula_count: int = 0
    moved: list[str] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)


# --- Showing rows and columns -------------------------------------------------------------------


def _line(
    document: _Document, sheet: str, axis: Literal["row", "column"], index: int, span: _Area
) -> dict[str, Any]:
    if axis == "row":
        values = [
            document.get(sheet, index, c)
            for c in range(span.left, min(span.right, span.left + SHOWN_VALUES - 1) + 1)
        ]
        label = f"Row {index}"
    else:
        values = [
            document.get(sheet, r, index)
            for r in range(span.top, min(span.bottom, span.top + SHOWN_VALUES - 1) + 1)
        ]
        label = f"Column {_column_letters(index)}"
    return {"label": label, "values": values}


def _lines(
    document: _Document,
    sheet: str,
    axis: Literal["row", "column"],
    indexes: Iterable[int],
    span: _Area | None,
) -> list[dict[str, Any]]:
    if span is None:
        return []
    return [_line(document, sheet, axis, i, span) for i in indexes]


def _text_lines(title: str, lines: Sequence[dict[str, Any]]) -> list[str]:
    text = [title]
    text.extend(
        f"  {line['label']}: " + (" | ".join(_shown(v) for v in line["values"]) or "(empty)")
        for line in lines
    )
    return text


# --- openpyxl: moving what rows and columns carry ----------------------------------------------


def _worksheet(document: _OpenpyxlDocument, sheet: str) -> Worksheet:
    ws = document.book[sheet]
    if not isinstance(ws, Worksheet):
        raise ToolError(
            f"'{sheet}' in '{document.shown}' is a chart sheet; it has no rows or columns to change."
        )
    return ws


def _area_of(cell_range: CellRange) -> _Area:
    return _Area(cell_range.min_row, cell_range.min_col, cell_range.max_row, cell_range.max_col)


def _moved_area(area: _Area, edit: Edit) -> _Area | None:
    if edit.axis == "row":
        span = edit.span(area.top, area.bottom)
        return None if span is None else _Area(span[0], area.left, span[1], area.right)
    span = edit.span(area.left, area.right)
    return None if span is None else _Area(area.top, span[0], area.bottom, span[1])


def _area_text(area: _Area) -> str:
    return _cell_name(area.top, area.left) if area.height == area.width == 1 else area.a1


def _moved_ranges(text: str, edit: Edit) -> str | None:
    """A space-separated list of ranges (sqref) after an edit; None when none is left."""
    kept = []
    for cell_range in MultiCellRange(text).ranges:
        moved = _moved_area(_area_of(cell_range), edit)
        if moved is not None:
            kept.append(_area_text(moved))
    return " ".join(kept) or None


def _hits(area: _Area, edit: Edit) -> tuple[int, int]:
    """The rows (or columns) of an area along the edit's axis."""
    return (area.top, area.bottom) if edit.axis == "row" else (area.left, area.right)


def _check_edit(ws: Worksheet, edit: Edit) -> None:
    """Refuses an edit a spreadsheet program would refuse, before anything changes.

    Raises:
        ToolError: The sheet is protected, data would fall off the sheet, or the edit cuts
            through an array formula or a table in a way that would break it.
    """
    sheet = ws.title
    noun = "rows" if edit.axis == "row" else "columns"
    if ws.protection.sheet:
        raise ToolError(
            f"'{sheet}' is protected in Excel, so its {noun} cannot be inserted or deleted. Ask the "
            "person to unprotect the sheet (Review > Unprotect Sheet) first."
        )
    if not edit.delete:
        last = edit.limit - edit.count
        for row, column in ws._cells:
            if (row if edit.axis == "row" else column) > last:
                raise ToolError(
                    f"Inserting {_plural(edit.count, noun[:-1])} on '{sheet}' would push "
                    f"{_cell_name(row, column)} off the end of the sheet; nothing was changed."
                )
    for anchor, ref in ws.array_formulae.items():
        low, high = _hits(_parse_block(ref)[0], edit)
        inside = (edit.at <= low and high <= edit.end) or high < edit.at or low > edit.end
        if (edit.delete and not inside) or (not edit.delete and low < edit.at <= high):
            raise ToolError(
                f"The array formula in {anchor} on '{sheet}' spans {ref}; {noun} cannot be "
                f"inserted or deleted through part of it. Choose {noun} outside it."
            )
    for table in ws.tables.values():
        area = _parse_block(table.ref)[0]
        low, high = _hits(area, edit)
        if edit.axis == "column" and (
            (edit.delete and not (high < edit.at or low > edit.end))
            or (not edit.delete and low < edit.at <= high)
        ):
            raise ToolError(
                f"The table '{table.displayName}' on '{sheet}' spans {table.ref}; its columns "
                "cannot be inserted or deleted here. Insert or delete columns outside it, or ask "
                "the person to change the table in Excel."
            )
        if edit.axis == "row" and edit.delete:
            header = area.top if table.headerRowCount != 0 else None
            if header is not None and edit.at <= header <= edit.end and area.bottom > edit.end:
                raise ToolError(
                    f"Row {header} is the header of the table '{table.displayName}' on '{sheet}'; "
                    "deleting it would break the table. Delete the rows below it, or the whole table's rows."
                )
            moved = edit.span(area.top, area.bottom)
            if moved is not None and header is not None and moved[0] == moved[1] and area.top < area.bottom:
                raise ToolError(
                    f"Deleting those rows would leave the table '{table.displayName}' on '{sheet}' "
                    "with no rows under its header; keep at least one."
                )


def _move_cells(ws: Worksheet, edit: Edit) -> None:
    """Moves (or drops) every cell; inserted ones take the format of the row or column before."""
    cells: dict[tuple[int, int], Cell | MergedCell] = {}
    for (row, column), cell in ws._cells.items():
        position = edit.point(row if edit.axis == "row" else column)
        if position is None:
            continue
        new_row, new_column = (position, column) if edit.axis == "row" else (row, position)
        cell.row, cell.column = new_row, new_column
        if isinstance(cell, Cell) and cell.hyperlink is not None:
            cell.hyperlink.ref = cell.coordinate
        cells[(new_row, new_column)] = cell
    if not edit.delete and edit.at > 1:
        # As Excel does: new rows (or columns) are formatted like the one just before them.
        for (row, column), cell in list(cells.items()):
            if (row if edit.axis == "row" else column) != edit.at - 1 or not cell.has_style:
                continue
            for offset in range(edit.count):
                target = (row + 1 + offset, column) if edit.axis == "row" else (row, column + 1 + offset)
                new = Cell(ws, row=target[0], column=target[1])
                _copy_style(cell, new)
                cells[target] = new
    ws._cells = cells


def _move_merges(ws: Worksheet, edit: Edit, outcome: _Outcome) -> None:
    for merged in list(ws.merged_cells.ranges):
        area = _area_of(merged)
        moved = _moved_area(area, edit)
        if moved == area:
            continue
        ws.merged_cells.remove(merged)
        if moved is None or moved.height == moved.width == 1:
            outcome.moved.append(f"The merged cells {area.a1} are no longer merged.")
            if moved is not None:
                _unmerged_anchor(ws, moved.top, moved.left)
            continue
        _unmerged_anchor(ws, moved.top, moved.left)
        ws.merge_cells(moved.a1)
        outcome.moved.append(f"The merged cells {area.a1} are now {moved.a1}.")


def _unmerged_anchor(ws: Worksheet, row: int, column: int) -> None:
    """Makes the cell at a merged area's top-left a real cell (a deletion may leave a placeholder)."""
    cell = ws._cells.get((row, column))
    if isinstance(cell, MergedCell):
        new = Cell(ws, row=row, column=column)
        _copy_style(cell, new)
        ws._cells[(row, column)] = new


def _copy_style(source: Cell | MergedCell, target: Cell) -> None:
    """Gives a cell another's whole format (openpyxl's style array, as its own copy does)."""
    target._style = copy(source._style)  # type: ignore[union-attr,attr-defined]


def _move_dimensions(ws: Worksheet, edit: Edit) -> None:
    if edit.axis == "row":
        rows: dict[int, RowDimension] = {}
        for index, dimension in list(ws.row_dimensions.items()):
            position = edit.point(index)
            if position is not None:
                dimension.index = position
                rows[position] = dimension
        ws.row_dimensions.clear()
        ws.row_dimensions.update(rows)
        return
    columns: dict[str, ColumnDimension] = {}
    for column_dimension in list(ws.column_dimensions.values()):
        low = column_dimension.min or _column_number(column_dimension.index)
        high = column_dimension.max or low
        span = edit.span(low, high)
        if span is None:
            continue
        column_dimension.min, column_dimension.max = span
        column_dimension.index = _column_letters(span[0])
        columns[column_dimension.index] = column_dimension
    ws.column_dimensions.clear()
    ws.column_dimensions.update(columns)


def _shift_text(formula: str, own_sheet: str | None, edit: Edit, where: str, outcome: _Outcome) -> str:
    try:
        return shift_formula(formula, own_sheet, edit)
    except FormulaError:
        outcome.unparsed.append(where)
        return formula


def _bare(
    formula: str | None, own_sheet: str | None, edit: Edit, where: str, outcome: _Outcome
) -> str | None:
    """Shifts a formula stored without its "=" (conditional formatting, validation, names)."""
    if not formula:
        return formula
    new = _shift_text("=" + formula, own_sheet, edit, where, outcome)
    return new[1:]


def _move_formulas(book: openpyxl.Workbook, edit: Edit, outcome: _Outcome) -> None:
    for ws in book.worksheets:
        if not isinstance(ws, Worksheet):
            continue
        prefix = "" if ws.title == edit.sheet else f"{ws.title}!"
        for cell in ws._cells.values():
            if not isinstance(cell, Cell):
                continue
            link = cell.hyperlink
            if link is not None and link.location and not link.target:
                # A link to a place in this workbook follows its cells, as a reference does.
                where = f"the link in {prefix}{cell.coordinate}"
                link.location = _bare(link.location, ws.title, edit, where, outcome)
            if cell.data_type != "f":
                continue
            where = prefix + cell.coordinate
            value = cell.value
            if isinstance(value, str):
                new = _shift_text(value, ws.title, edit, where, outcome)
                if new != value:
                    cell.value = new
                    _record(outcome, where, value, new)
            elif isinstance(value, ArrayFormula) and isinstance(value.text, str):
                new = _shift_text(value.text, ws.title, edit, where, outcome)
                ref = value.ref if ws.title != edit.sheet else _moved_ranges(value.ref, edit) or value.ref
                if new != value.text or ref != value.ref:
                    cell.value = ArrayFormula(ref, new)
                    _record(outcome, where, "{" + value.text + "}", "{" + new + "}")


def _record(outcome: _Outcome, where: str, old: str, new: str) -> None:
    outcome.formula_count += 1
    if len(outcome.formulas) < SHOWN_FORMULAS:
        outcome.formulas.append({"cell": where, "old": old, "new": new})


def _move_rules(ws: Worksheet, edit: Edit, outcome: _Outcome) -> None:
    """Conditional formatting and data validation: their ranges and formulas."""
    old = ws.conditional_formatting
    rules = ConditionalFormattingList()
    for cf in old:
        sqref = _moved_ranges(str(cf.sqref), edit)
        if sqref is None:
            outcome.moved.append(f"The conditional formatting on {cf.sqref} is removed with its cells.")
            continue
        if sqref != str(cf.sqref):
            outcome.moved.append(f"Conditional formatting on {cf.sqref} now applies to {sqref}.")
        for rule in cf.rules:
            if rule.formula:
                rule.formula = [
                    _bare(f, ws.title, edit, f"conditional formatting on {cf.sqref}", outcome) or f
                    for f in rule.formula
                ]
            rules.add(sqref, rule)
    rules.max_priority = max(rules.max_priority, old.max_priority)
    ws.conditional_formatting = rules
    kept = []
    for validation in ws.data_validations.dataValidation:
        before = str(validation.sqref)
        sqref = _moved_ranges(before, edit)
        if sqref is None:
            outcome.moved.append(f"The data validation on {before} is removed with its cells.")
            continue
        if sqref != before:
            outcome.moved.append(f"Data validation on {before} now applies to {sqref}.")
        validation.sqref = MultiCellRange(sqref)
        where = f"data validation on {before}"
        validation.formula1 = _bare(validation.formula1, ws.title, edit, where, outcome)
        validation.formula2 = _bare(validation.formula2, ws.title, edit, where, outcome)
        kept.append(validation)
    ws.data_validations.dataValidation = kept


def _move_names(book: openpyxl.Workbook, edit: Edit, outcome: _Outcome) -> None:
    scopes = [book.defined_names, *(ws.defined_names for ws in book.worksheets if isinstance(ws, Worksheet))]
    for names in scopes:
        for name, defined in names.items():
            text = defined.attr_text
            if not isinstance(text, str):
                continue
            new = _bare(text, None, edit, f"the defined name {name}", outcome)
            if new is not None and new != text:
                defined.attr_text = new
                outcome.moved.append(f"The defined name {name} now refers to {new}.")


def _move_tables(ws: Worksheet, edit: Edit, outcome: _Outcome) -> None:
    for table in list(ws.tables.values()):
        moved = _moved_area(_parse_block(table.ref)[0], edit)
        if moved is None:
            del ws.tables[table.name]
            outcome.moved.append(f"The table '{table.displayName}' is deleted with its rows.")
            continue
        if moved.a1 != _parse_block(table.ref)[0].a1:
            table.ref = moved.a1
            if table.autoFilter is not None:
                table.autoFilter.ref = moved.a1
            outcome.moved.append(f"The table '{table.displayName}' now spans {moved.a1}.")
    if ws.auto_filter.ref:
        ws.auto_filter.ref = _moved_ranges(ws.auto_filter.ref, edit)
    if ws.print_title_rows and edit.axis == "row":
        ws.print_title_rows = _moved_lines(ws.print_title_rows, edit)
    if ws.print_title_cols and edit.axis == "column":
        ws.print_title_cols = _moved_lines(ws.print_title_cols, edit)


def _moved_lines(text: str, edit: Edit) -> str | None:
    """Print titles ("1:2" or "A:B") after an edit."""
    low, _, high = text.replace("$", "").partition(":")
    as_number = int if edit.axis == "row" else _column_number
    span = edit.span(as_number(low), as_number(high or low))
    if span is None:
        return None
    if edit.axis == "row":
        return f"{span[0]}:{span[1]}"
    return f"{_column_letters(span[0])}:{_column_letters(span[1])}"


def _apply_edit(document: _OpenpyxlDocument, edit: Edit) -> _Outcome:
    """Inserts or deletes rows or columns in an openpyxl workbook, as Excel would."""
    ws = _worksheet(document, edit.sheet)
    _check_edit(ws, edit)
    outcome = _Outcome()
    _move_cells(ws, edit)
    _move_merges(ws, edit, outcome)
    _move_dimensions(ws, edit)
    _move_formulas(document.book, edit, outcome)
    _move_rules(ws, edit, outcome)
    _move_names(document.book, edit, outcome)
    _move_tables(ws, edit, outcome)
    return outcome


def _apply_csv_edit(document: _CsvDocument, edit: Edit) -> None:
    rows = document.table.rows
    if edit.axis == "row":
        if edit.delete:
            del rows[edit.at - 1 : edit.end]
        elif edit.at <= len(rows):
            rows[edit.at - 1 : edit.at - 1] = [[] for _ in range(edit.count)]
        return
    for line in rows:
        if edit.delete:
            del line[edit.at - 1 : edit.end]
        elif edit.at <= len(line):
            line[edit.at - 1 : edit.at - 1] = [""] * edit.count


# --- Plans ----------------------------------------------------------------------------------


def _open(ctx: ToolContext, shown: str) -> tuple[Path, bytes, _Document]:
    path = ctx.resolve(shown)
    kind = _writable_kind(path, shown)
    data = _read_original(path, shown, kind)
    # Rows and columns move through openpyxl: the in-place writer changes cells only.
    return path, data, _load_document(data, path, shown, kind, fast=False)


def _has_formulas(document: _Document) -> bool:
    if not isinstance(document, _OpenpyxlDocument):
        return False
    return any(
        isinstance(cell, Cell) and cell.data_type == "f"
        for ws in document.book.worksheets
        if isinstance(ws, Worksheet)
        for cell in ws._cells.values()
    )


def parse_line(text: str, axis: Literal["row", "column"], *, argument: str) -> int:
    """A row number or column letters the model gave, as a number from 1.

    Raises:
        ToolError: It is not a row (or column) on a sheet.
    """
    value = text.strip().replace("$", "")
    if axis == "row":
        if value.isdigit() and 1 <= int(value) <= EXCEL_MAX_ROWS:
            return int(value)
        raise ToolError(
            f"{argument} '{text}' is not a row number: give one from 1 to {EXCEL_MAX_ROWS:,}, such as '5'."
        )
    if value.isalpha() and len(value) <= 3 and 1 <= _column_number(value) <= EXCEL_MAX_COLUMNS:
        return _column_number(value)
    raise ToolError(f"{argument} '{text}' is not a column: give its letters, from A to XFD, such as 'C'.")


def parse_lines(text: str, axis: Literal["row", "column"]) -> tuple[int, int]:
    """Rows "5" or "5:7" (columns "C" or "C:E") to delete, as the first and the last.

    Raises:
        ToolError: The text is not one row (column) or a run of them.
    """
    first, _, last = text.partition(":")
    noun = "rows" if axis == "row" else "columns"
    low = parse_line(first, axis, argument=noun)
    high = parse_line(last or first, axis, argument=noun)
    return min(low, high), max(low, high)


def plan_edit(ctx: ToolContext, shown: str, sheet_name: str, edit_of: Edit) -> _Plan:
    """The plan of rows or columns inserted or deleted (``edit_of.sheet`` is the name as given).

    Raises:
        ToolError: The file, the sheet or the edit is refused.
    """
    noun = "row" if edit_of.axis == "row" else "column"
    if not 1 <= edit_of.count <= MAX_STRUCTURE_COUNT:
        raise ToolError(f"Insert or delete from 1 to {MAX_STRUCTURE_COUNT:,} {noun}s at a time.")
    if edit_of.end > edit_of.limit:
        raise ToolError(f"There are only {edit_of.limit:,} {noun}s on a sheet; choose fewer.")
    path, data, document = _open(ctx, shown)
    sheet = document.sheet(sheet_name)
    edit = replace(edit_of, sheet=sheet)
    used = document.data_area(sheet)
    axis = edit.axis
    if edit.delete:
        before_idx = range(edit.at, min(edit.end, edit.at + SHOWN_LINES - 1) + 1)
        after_idx = range(edit.at, edit.at + min(SHOWN_LINES, 3))
    else:
        before_idx = range(edit.at, edit.at + min(SHOWN_LINES, 3))
        after_idx = range(edit.at, edit.at + min(edit.count, SHOWN_LINES - 3) + 3)
    before = _lines(document, sheet, axis, before_idx, used)
    outcome = _Outcome()
    if isinstance(document, _OpenpyxlDocument):
        outcome = _apply_edit(document, edit)
    else:
        assert isinstance(document, _CsvDocument)
        _apply_csv_edit(document, edit)
    after = _lines(document, sheet, axis, after_idx, document.data_area(sheet) or used)
    name = _column_letters if axis == "column" else str
    where = name(edit.at) if edit.count == 1 or not edit.delete else f"{name(edit.at)}:{name(edit.end)}"
    operation = _OPERATIONS[(edit.delete, axis)]
    verb = "Delete" if edit.delete else "Insert"
    things = _plural(edit.count, noun)
    if edit.delete:
        place = f"{noun}{'s' if edit.count > 1 else ''} {where}"
        summary = f"{verb} {place} of {sheet} in {path.name}"
    else:
        summary = f"{verb} {things} before {noun} {where} of {sheet} in {path.name}"
    result: dict[str, Any] = {
        "path": str(path),
        "sheet": sheet,
        f"{noun}s_{'deleted' if edit.delete else 'inserted'}": edit.count,
        "at": where,
        "formulas_updated": outcome.formula_count,
    }
    return _structure_plan(
        path, document, data, summary, operation, sheet, where, edit.count, before, after, outcome, result
    )


def _structure_plan(
    path: Path,
    document: _Document,
    data: bytes,
    summary: str,
    operation: Operation,
    sheet: str,
    where: str,
    count: int,
    before: list[dict[str, Any]],
    after: list[dict[str, Any]],
    outcome: _Outcome,
    result: dict[str, Any],
) -> _Plan:
    lines = [*_text_lines("Before:", before), *_text_lines("After:", after)]
    if outcome.formulas:
        lines.append(f"Formulas whose references change ({outcome.formula_count:,}):")
        lines.extend(f"  {f['cell']}: {f['old']} → {f['new']}" for f in outcome.formulas)
        if outcome.formula_count > len(outcome.formulas):
            lines.append(f"  … and {outcome.formula_count - len(outcome.formulas):,} more formulas.")
    lines.extend(outcome.moved)
    if outcome.unparsed:
        # A document note, so the result that quotes the file (sheet and name) is marked as such.
        document.notes.append(
            "These formulas could not be read, so their references were left as they were: "
            + ", ".join(outcome.unparsed[:20])
            + "."
        )
    plan = _Plan(
        path=path,
        document=document,
        original=data,
        summary=summary,
        model=StructureDetail,
        detail={
            "path": str(path),
            "sheet": sheet,
            "operation": operation,
            "where": where,
            "count": count,
            "before": before,
            "after": after,
            "formulas": outcome.formulas,
            "changes": outcome.moved,
        },
        lines=lines,
        result=result,
    )
    plan.formulas_written = _has_formulas(document)
    return plan


# --- Sorting ----------------------------------------------------------------------------------

_Rank = tuple[int, Any]


def _rank(value: object) -> _Rank | None:
    """Excel's ascending order: numbers and dates, text (ignoring case), FALSE, TRUE, errors.

    Blanks (None) have no rank: they go last whichever the direction.
    """
    if value is None or (isinstance(value, str) and value == ""):
        return None
    if isinstance(value, bool):
        return (2, int(value))
    if isinstance(value, int | float):
        return (0, float(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        serial = to_excel(value)  # type: ignore[no-untyped-call]
        return (0, float(serial))
    if isinstance(value, dt.timedelta):
        return (0, value.total_seconds() / 86400)
    text = str(value)
    if text.startswith("#") and text.upper() in _ERRORS:
        return (3, 0)
    return (1, text.casefold())


_ERRORS = frozenset({"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA"})


def _rank_at(keys: Sequence[Sequence[_Rank | None]], k: int, i: int) -> _Rank:
    rank = keys[i][k]
    assert rank is not None  # Only filled cells are ranked.
    return rank


def _order(keys: Sequence[Sequence[_Rank | None]], descending: Sequence[bool]) -> list[int]:
    """Row indexes in sorted order: stable, key by key, blanks last in either direction."""
    order = list(range(len(keys)))
    for k in reversed(range(len(descending))):
        filled = [i for i in order if keys[i][k] is not None]
        blank = [i for i in order if keys[i][k] is None]
        filled.sort(key=functools.partial(_rank_at, keys, k), reverse=descending[k])
        order = filled + blank
    return order


def _key_columns(args: _SortArgs, area: _Area) -> list[int]:
    if not args.by:
        raise ToolError(
            "Say which column to sort by: give at least one entry in by, such as {'column': 'B'}."
        )
    columns = []
    for key in args.by:
        column = parse_line(key.column, "column", argument="by column")
        if not area.left <= column <= area.right:
            raise ToolError(
                f"Column {key.column} is outside the range {area.a1}; sort by a column inside it."
            )
        columns.append(column)
    return columns


def plan_sort(ctx: ToolContext, args: _SortArgs) -> _Plan:
    """The plan of a range's rows sorted by one or more of its columns.

    Raises:
        ToolError: The range or keys are wrong, or the range holds merged cells or formulas
            that refer to other rows of it.
    """
    wanted, reference = _sheet_and_reference(args.sheet, args.range)
    area, _ = _parse_block(reference)
    columns = _key_columns(args, area)
    path, data, document = _open(ctx, args.path)
    sheet = document.sheet(wanted or args.sheet)
    used = document.data_area(sheet)
    if used is not None:
        # A range reaching far past the data (A2:D1048576) sorts only the rows that have any.
        area = _Area(area.top, area.left, max(area.top, min(area.bottom, used.bottom)), area.right)
    if area.height < 2:
        raise ToolError(f"The range {area.a1} has fewer than two rows with data; there is nothing to sort.")
    shown_idx = range(area.top, min(area.bottom, area.top + SHOWN_LINES - 1) + 1)
    before = _lines(document, sheet, "row", shown_idx, area)
    descending = [key.descending for key in args.by]
    outcome = _Outcome()
    if isinstance(document, _OpenpyxlDocument):
        order = _sort_book(document, data, sheet, area, columns, descending, outcome)
    else:
        assert isinstance(document, _CsvDocument)
        order = _sort_csv(document, area, columns, descending)
    after = _lines(document, sheet, "row", shown_idx, area)
    moved = sum(1 for i, source in enumerate(order) if i != source)
    keys = ", ".join(
        f"{_column_letters(c)} {'descending' if d else 'ascending'}"
        for c, d in zip(columns, descending, strict=True)
    )
    summary = f"Sort rows {area.top} to {area.bottom} ({area.a1}) of {sheet} in {path.name} by {keys}"
    result: dict[str, Any] = {
        "path": str(path),
        "sheet": sheet,
        "range": area.a1,
        "rows_sorted": area.height,
        "rows_moved": moved,
        "formulas_updated": outcome.formula_count,
    }
    return _structure_plan(
        path, document, data, summary, "sort", sheet, area.a1, area.height, before, after, outcome, result
    )


def _sort_csv(
    document: _CsvDocument, area: _Area, columns: Sequence[int], descending: Sequence[bool]
) -> list[int]:
    table = document.table
    keys = [[_rank(_csv_value(table.get(r, c))) for c in columns] for r in range(area.top, area.bottom + 1)]
    order = _order(keys, descending)
    block = [[table.get(area.top + i, c) for c in range(area.left, area.right + 1)] for i in order]
    for i, values in enumerate(block):
        for j, text in enumerate(values):
            if text != "" or table.get(area.top + i, area.left + j) != "":
                table.set(area.top + i, area.left + j, text)
    return order


def _cached_values(data: bytes, sheet: str, area: _Area, columns: Sequence[int]) -> list[list[object]]:
    """The key cells' values as last calculated (formulas' saved results)."""
    ignored: list[str] = []
    with _openpyxl_quietly(ignored):
        book = openpyxl.load_workbook(io.BytesIO(data), data_only=True, read_only=True)
    try:
        ws = book[sheet]
        rows = ws.iter_rows(
            min_row=area.top, max_row=area.bottom, min_col=area.left, max_col=area.right, values_only=True
        )
        table = [list(r) for r in rows]
    finally:
        book.close()
    while len(table) < area.height:
        table.append([])
    return [[row[c - area.left] if c - area.left < len(row) else None for c in columns] for row in table]


def _sort_book(
    document: _OpenpyxlDocument,
    data: bytes,
    sheet: str,
    area: _Area,
    columns: Sequence[int],
    descending: Sequence[bool],
    outcome: _Outcome,
) -> list[int]:
    ws = _worksheet(document, sheet)
    if ws.protection.sheet:
        raise ToolError(
            f"'{sheet}' is protected in Excel, so its rows cannot be sorted. Ask the person to "
            "unprotect it first."
        )
    for merged in ws.merged_cells.ranges:
        block = _area_of(merged)
        if not (
            block.bottom < area.top
            or block.top > area.bottom
            or block.right < area.left
            or block.left > area.right
        ):
            raise ToolError(
                f"The range {area.a1} on '{sheet}' holds the merged cells {block.a1}; rows with "
                "merged cells cannot be sorted. Sort a range without them, or unmerge them first."
            )
    for anchor, ref in ws.array_formulae.items():
        block = _parse_block(ref)[0]
        if not (
            block.bottom < area.top
            or block.top > area.bottom
            or block.right < area.left
            or block.left > area.right
        ):
            raise ToolError(
                f"The range {area.a1} on '{sheet}' holds the array formula in {anchor} ({ref}); "
                "it cannot be sorted."
            )
    values = _cached_values(data, sheet, area, columns)
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            cell = ws._cells.get((area.top + i, columns[j]))
            if value is None and isinstance(cell, Cell) and cell.data_type == "f":
                raise ToolError(
                    f"{_cell_name(area.top + i, columns[j])} on '{sheet}' is a formula with no "
                    "calculated value saved in the file, so it cannot be sorted by. Ask the person "
                    "to open and save the file in Excel or LibreOffice first."
                )
    keys = [[_rank(v) for v in row] for row in values]
    order = _order(keys, descending)
    # Formulas are checked and rewritten before any cell moves, so a refusal changes nothing.
    rewritten: dict[tuple[int, int], str] = {}
    for target, source in enumerate(order):
        old_row, new_row = area.top + source, area.top + target
        for column in range(area.left, area.right + 1):
            cell = ws._cells.get((old_row, column))
            if not isinstance(cell, Cell) or cell.data_type != "f" or not isinstance(cell.value, str):
                continue
            where = _cell_name(old_row, column)
            rewrite = functools.partial(
                _follow_row, sheet=sheet, area=area, old_row=old_row, new_row=new_row, where=where
            )
            try:
                new = map_references(cell.value, sheet, rewrite)
            except FormulaError:
                raise ToolError(
                    f"The formula in {where} on '{sheet}' could not be read, so the rows cannot be "
                    "sorted safely."
                ) from None
            if new != cell.value or old_row != new_row:
                rewritten[(old_row, column)] = new
    moving = {
        (row, column): ws._cells.pop((row, column))
        for row in range(area.top, area.bottom + 1)
        for column in range(area.left, area.right + 1)
        if (row, column) in ws._cells
    }
    for target, source in enumerate(order):
        old_row, new_row = area.top + source, area.top + target
        for column in range(area.left, area.right + 1):
            moved_cell = moving.get((old_row, column))
            if moved_cell is None:
                continue
            moved_cell.row = new_row
            if isinstance(moved_cell, Cell):
                if (old_row, column) in rewritten:
                    old_text = str(moved_cell.value)
                    moved_cell.value = rewritten[(old_row, column)]
                    if old_text != moved_cell.value:
                        # Listing them would fill the preview: they say what they said, a row lower or higher.
                        outcome.formula_count += 1
                if moved_cell.hyperlink is not None:
                    moved_cell.hyperlink.ref = moved_cell.coordinate
            ws._cells[(new_row, column)] = moved_cell
    if outcome.formula_count:
        outcome.moved.append(
            f"{_plural(outcome.formula_count, 'formula')} referring to their own row move with it "
            "and keep referring to it."
        )
    return order


def _follow_row(
    reference: Reference, *, sheet: str, area: _Area, old_row: int, new_row: int, where: str
) -> str | None:
    """A moved formula's reference: its own row's cells in the range follow it, others stay.

    Raises:
        ToolError: It refers to another row of the range, which would break.
    """
    if reference.sheet is None or reference.sheet.casefold() != sheet.casefold():
        return None
    rows, columns = reference.rows(), reference.columns()
    low, high = rows if rows is not None else (1, EXCEL_MAX_ROWS)
    left, right = columns if columns is not None else (1, EXCEL_MAX_COLUMNS)
    overlaps_columns = not (right < area.left or left > area.right)
    if not overlaps_columns or high < area.top or low > area.bottom:
        return None
    if low == high == old_row and area.left <= left and right <= area.right:
        return None if new_row == old_row else replace(reference, top=new_row, bottom=new_row).text()
    if low <= area.top and high >= area.bottom:
        # Every row of the range (a column's total, say): the same cells after the sort.
        return None
    raise ToolError(
        f"The formula in {where} on '{sheet}' refers to {reference.text()}, which reaches other rows "
        f"of the range {area.a1}; sorting would break it. Sort a range that leaves such formulas "
        "out, or ask the person to sort it in Excel."
    )
