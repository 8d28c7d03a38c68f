"""The previews the spreadsheet agent's tools render: one typed model per kind."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from connectors.base import PreviewDetail


class CellChange(BaseModel):
    """One cell a write changes.

    Attributes:
        cell: Its A1 name, e.g. ``"B3"``.
        old: Its value now (None when empty).
        new: Its value after the write.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    cell: str
    old: Any = None
    new: Any = None


class CellsDetail(PreviewDetail):
    """A write to cells: each cell with its value now and after.

    Attributes:
        path: The workbook, absolute.
        sheet: The sheet written.
        range: The range written, in A1 notation.
        cells: The cells, in reading order.
        notes: What the write will also change or lose (formulas, formats), in words.
    """

    kind: ClassVar[str] = "cells"

    path: str
    sheet: str | None = None
    range: str = ""
    cells: list[CellChange] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class RowsDetail(PreviewDetail):
    """Rows appended below a sheet's data.

    Attributes:
        path: The workbook, absolute.
        sheet: The sheet appended to.
        first_row: The row number the first new row gets (from 1).
        first_column: The column letters of the first value (``"A"``).
        range: The range written, in A1 notation.
        rows: The new rows' values, as shown.
        notes: What the write will also change, in words.
    """

    kind: ClassVar[str] = "rows"

    path: str
    sheet: str | None = None
    first_row: int = 1
    first_column: str = "A"
    range: str = ""
    rows: list[list[Any]] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class NewFileDetail(PreviewDetail):
    """A workbook or CSV file created.

    Attributes:
        path: The new file, absolute.
        sheets: Its sheets' names, in order.
        rows: The rows written into each sheet, by sheet name.
        notes: Anything to know about it, in words.
    """

    kind: ClassVar[str] = "new_file"

    path: str
    sheets: list[str] = Field(default_factory=list)
    rows: dict[str, list[list[Any]]] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


class StructureLine(BaseModel):
    """One row or column as a structural edit's preview shows it.

    Attributes:
        label: Which it is, e.g. ``"Row 5"`` or ``"Column C"``.
        values: Its first values (a formula as its text), None for empty cells.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    label: str
    values: list[Any] = Field(default_factory=list)


class StructureDetail(PreviewDetail):
    """Rows or columns inserted or deleted, or a range's rows sorted.

    Attributes:
        path: The workbook, absolute.
        sheet: The sheet changed.
        operation: What is done to it.
        where: Where: the first row or column ("5", "C") for an insertion, the rows or
            columns deleted ("5:7", "C:D"), the range sorted ("A2:D40").
        count: How many rows or columns are inserted, deleted or sorted.
        before: The first rows (or columns) affected, as they are now.
        after: The same place after the change.
        formulas: Formulas whose references change (the first few hundred), each with its
            cell ("B12", or "Summary!B2" on another sheet), old and new text.
        changes: What else moves or goes (merged cells, conditional formatting, data
            validation, defined names, tables), in words.
        notes: What the saved file loses, in words.
    """

    kind: ClassVar[str] = "sheet_structure"

    path: str
    sheet: str
    operation: Literal["insert_rows", "delete_rows", "insert_columns", "delete_columns", "sort"]
    where: str
    count: int
    before: list[StructureLine] = Field(default_factory=list)
    after: list[StructureLine] = Field(default_factory=list)
    formulas: list[CellChange] = Field(default_factory=list)
    changes: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


PREVIEWS: tuple[type[PreviewDetail], ...] = (CellsDetail, RowsDetail, NewFileDetail, StructureDetail)
"""Every preview kind of the spreadsheet agent."""
