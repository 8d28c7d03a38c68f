"""The previews the spreadsheet agent's tools render: one typed model per kind."""

from __future__ import annotations

from typing import Any, ClassVar

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


PREVIEWS: tuple[type[PreviewDetail], ...] = (CellsDetail, RowsDetail, NewFileDetail)
"""Every preview kind of the spreadsheet agent."""
