"""Widgets that show a proposed action's preview, and forms that edit its arguments.

A preview has a ``kind`` that says what its ``detail`` holds. Known kinds get a tailored
view (a table of cells with old and new values for a workbook write); any other kind is
shown generically: its summary, its text and a key/value table of its detail, so that a
connector added later is readable before the window learns about it.

Editing works on the action's arguments (what really runs): a table of new values for a
cell write, a field per simple value otherwise, and raw JSON for everything as a fallback.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from app.api.previews import (
        ActionPreview,
        CellsDetail,
        DownloadDetail,
        EmailDetail,
        HttpRequestDetail,
        NewFileDetail,
        RowsDetail,
    )

_MAX_TABLE_ROWS = 200
"""The most rows a preview table shows; the rest are summed up in one line."""


class EditError(ValueError):
    """An edited value that cannot be used; the message says which and why."""


def display(value: object) -> str:
    """A cell or field value as a person reads it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _table(headers: list[str], rows: list[list[object]], *, name: str) -> QTableWidget:
    table = QTableWidget(min(len(rows), _MAX_TABLE_ROWS), len(headers))
    table.setObjectName(name)
    table.setAccessibleName(name)
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    for r, row in enumerate(rows[:_MAX_TABLE_ROWS]):
        for c, value in enumerate(row):
            item = QTableWidgetItem(display(value))
            item.setToolTip(display(value))
            table.setItem(r, c, item)
    _fit_columns(table)
    _fit_height(table)
    return table


ROW_HEIGHT = 26


def _fit_columns(table: QTableWidget) -> None:
    """The first column as wide as its contents; the others share the rest."""
    header = table.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    if table.columnCount() <= 4:
        for col in range(1, table.columnCount()):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch)
    else:
        # Many columns: each as wide as its contents, with a scroll bar when they overflow.
        header.setStretchLastSection(True)
        for col in range(1, table.columnCount()):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
        table.resizeColumnsToContents()


def _fit_height(table: QTableWidget, max_rows: int = 8) -> None:
    """Tall enough for its rows (up to ``max_rows``; it scrolls beyond)."""
    table.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
    table.horizontalHeader().setFixedHeight(ROW_HEIGHT)
    rows = max(1, min(table.rowCount(), max_rows))
    height = ROW_HEIGHT * (rows + 1) + 2 * table.frameWidth() + 2
    if table.columnCount() > 4:
        height += table.style().pixelMetric(table.style().PixelMetric.PM_ScrollBarExtent)
    table.setFixedHeight(height)


def _label(text: str, *, name: str = "", muted: bool = False, selectable: bool = True) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if name:
        label.setObjectName(name)
    if muted:
        label.setProperty("muted", True)
    label.setAccessibleName(name or text[:60])
    return label


def _text_box(text: str, *, name: str, max_height: int = 160) -> QPlainTextEdit:
    box = QPlainTextEdit(text)
    box.setObjectName(name)
    box.setAccessibleName(name)
    box.setReadOnly(True)
    box.setMaximumHeight(max_height)
    return box


# Previews ---------------------------------------------------------------------------------


def preview_widget(preview: ActionPreview) -> QWidget:
    """The widget that shows a preview, chosen by its kind; any other kind is shown generically."""
    builder = _BUILDERS.get(preview.kind) if preview.typed else None
    widget: QWidget
    try:
        widget = builder(preview) if builder is not None else _generic_preview(preview)
    except (KeyError, TypeError, ValueError, AttributeError):
        # A preview that does not have the shape its kind promises is still shown, plainly.
        widget = _generic_preview(preview)
    widget.setObjectName("previewView")
    widget.setAccessibleName(f"Preview: {preview.summary}")
    return widget


def _box() -> tuple[QWidget, QVBoxLayout]:
    widget = QWidget()
    layout = QVBoxLayout(widget)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(6)
    return widget, layout


def _where(path: str, sheet: str | None = None) -> str:
    name = re.split(r"[\\/]", path)[-1] if path else ""
    return f"{name} \u203a {sheet}" if name and sheet else name


def _notes(layout: QVBoxLayout, notes: list[str]) -> None:
    for note in notes:
        layout.addWidget(_label(note, name="previewNote", muted=True))


def _cells_preview(preview: ActionPreview) -> QWidget:
    detail = cast("CellsDetail", preview.detail)
    widget, layout = _box()
    where = _where(detail.path, detail.sheet)
    if where:
        layout.addWidget(_label(where, name="previewLocation", muted=True))
    rows: list[list[object]] = [[c.cell, c.old, c.new] for c in detail.cells]
    table = _table(["Cell", "Now", "After"], rows, name="cellsPreview")
    for r in range(table.rowCount()):
        after = table.item(r, 2)
        if after is not None:
            font = after.font()
            font.setBold(True)
            after.setFont(font)
        before = table.item(r, 1)
        if before is not None and before.text():
            font = before.font()
            font.setStrikeOut(True)
            before.setFont(font)
    layout.addWidget(table)
    if len(detail.cells) > _MAX_TABLE_ROWS:
        layout.addWidget(_label(f"…and {len(detail.cells) - _MAX_TABLE_ROWS} more cells.", muted=True))
    _notes(layout, detail.notes)
    return widget


def _rows_preview(preview: ActionPreview) -> QWidget:
    detail = cast("RowsDetail", preview.detail)
    widget, layout = _box()
    where = _where(detail.path, detail.sheet)
    first = detail.first_row
    layout.addWidget(_label(f"{where} — new rows from row {first}" if where else "New rows", muted=True))
    rows = [list(r) for r in detail.rows]
    width = max((len(r) for r in rows), default=1)
    headers = ["Row"] + [_column_name(i) for i in range(width)]
    table = _table(headers, [[first + i, *r] for i, r in enumerate(rows)], name="rowsPreview")
    layout.addWidget(table)
    _notes(layout, detail.notes)
    return widget


def _new_file_preview(preview: ActionPreview) -> QWidget:
    detail = cast("NewFileDetail", preview.detail)
    widget, layout = _box()
    sheets = ", ".join(detail.sheets) or "(none)"
    layout.addWidget(_label(f"New file {_where(detail.path)}, sheets: {sheets}", muted=True))
    for sheet, sheet_rows in detail.rows.items():
        rows = [list(r) for r in sheet_rows]
        width = max((len(r) for r in rows), default=1)
        layout.addWidget(_label(str(sheet), muted=True))
        layout.addWidget(
            _table([_column_name(i) for i in range(width)], rows, name=f"newFilePreview_{sheet}")
        )
    if not detail.rows and preview.text:
        layout.addWidget(_text_box(preview.text, name="previewText"))
    _notes(layout, detail.notes)
    return widget


def _text_preview(preview: ActionPreview) -> QWidget:
    widget, layout = _box()
    layout.addWidget(_text_box(preview.text, name="previewText"))
    return widget


def _email_preview(preview: ActionPreview) -> QWidget:
    detail = cast("EmailDetail", preview.detail)
    widget = QWidget()
    form = QFormLayout(widget)
    form.setContentsMargins(0, 0, 0, 0)
    heads: tuple[tuple[str, str, str | list[str]], ...] = (
        ("from", "From", detail.sender),
        ("to", "To", detail.to),
        ("cc", "Cc", detail.cc),
        ("bcc", "Bcc", detail.bcc),
        ("subject", "Subject", detail.subject),
    )
    for key, label, value in heads:
        if value:
            text = ", ".join(value) if isinstance(value, list) else value
            form.addRow(f"{label}:", _label(text, name=f"email_{key}"))
    form.addRow(_text_box(detail.body, name="emailBody", max_height=220))
    if detail.attachments:
        names = ", ".join(a.name for a in detail.attachments)
        form.addRow("Attachments:", _label(names, name="emailAttachments"))
    return widget


def _http_preview(preview: ActionPreview) -> QWidget:
    detail = cast("HttpRequestDetail", preview.detail)
    widget, layout = _box()
    layout.addWidget(_label(f"{detail.method} {detail.url}", name="httpRequestLine"))
    if detail.page_url:
        layout.addWidget(_label(f"From the page {detail.page_url}", muted=True))
    if detail.element:
        layout.addWidget(_label(f"Triggered by: {detail.element}", muted=True))
    pairs = list(detail.fields.items()) if isinstance(detail.fields, dict) else detail.fields
    if pairs:
        layout.addWidget(_table(["Field", "Value"], [list(f)[:2] for f in pairs], name="httpFields"))
    if detail.body:
        layout.addWidget(_text_box(detail.body, name="httpBody"))
    _screenshot(layout, detail.screenshot_png_base64)
    return widget


def _download_preview(preview: ActionPreview) -> QWidget:
    detail = cast("DownloadDetail", preview.detail)
    widget = QWidget()
    form = QFormLayout(widget)
    form.setContentsMargins(0, 0, 0, 0)
    form.addRow("Save as:", _label(detail.save_as or "the file's own name", name="downloadSaveAs"))
    form.addRow("Link:", _label(detail.element or detail.ref, name="downloadElement"))
    if detail.page_url:
        form.addRow("On the page:", _label(detail.page_url, name="downloadPage"))
    return widget


def _screenshot(layout: QVBoxLayout, shot: str) -> None:
    if not shot:
        return
    try:
        data = base64.b64decode(shot, validate=True)
    except (binascii.Error, ValueError):
        return
    pixmap = QPixmap()
    if data and pixmap.loadFromData(data, "PNG"):
        image = QLabel()
        image.setObjectName("httpScreenshot")
        image.setAccessibleName("Screenshot of the page")
        image.setPixmap(
            pixmap.scaledToWidth(min(pixmap.width(), 360), Qt.TransformationMode.SmoothTransformation)
        )
        layout.addWidget(image)


def _generic_preview(preview: ActionPreview) -> QWidget:
    """Any preview: its text and every field of its detail (never dropped)."""
    widget, layout = _box()
    if preview.text:
        layout.addWidget(_text_box(preview.text, name="previewText"))
    fields = preview.detail.to_json()
    simple = {k: v for k, v in fields.items() if not k.endswith("_base64") and v not in (None, "", [], {})}
    if simple:
        layout.addWidget(_table(["Detail", "Value"], [[k, v] for k, v in simple.items()], name="detailTable"))
    return widget


_BUILDERS: dict[str, Callable[[ActionPreview], QWidget]] = {
    "cells": _cells_preview,
    "rows": _rows_preview,
    "new_file": _new_file_preview,
    "text": _text_preview,
    "email": _email_preview,
    "http_request": _http_preview,
    "download": _download_preview,
}
"""The preview kinds the window draws with a tailored widget; any other gets the generic one."""


def _column_name(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name


# Editing ----------------------------------------------------------------------------------

_A1 = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d+)$")


def _parse_a1(ref: str) -> tuple[int, int]:
    """``"B3"`` → ``(3, 2)`` (row, column), both from 1."""
    match = _A1.match(ref.strip())
    if match is None:
        raise EditError(f"'{ref}' is not a cell reference.")
    col = 0
    for ch in match.group(1).upper():
        col = col * 26 + (ord(ch) - 64)
    return int(match.group(2)), col


def cell_value(text: str, like: object) -> object:
    """What a person typed into a cell, typed like a spreadsheet would: numbers become numbers."""
    if text == "":
        return None
    if isinstance(like, str) and not _looks_numeric(like):
        return text
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class ArgumentsEditor(QWidget):
    """Edits a proposed action's arguments; :meth:`arguments` returns the edited ones.

    Args:
        arguments: The arguments as proposed.
        preview: The action's preview, used for the cells table of a workbook write.
    """

    def __init__(
        self, arguments: dict[str, Any], preview: ActionPreview, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("argumentsEditor")
        self.setAccessibleName("Edit the action")
        self._original = arguments
        self._fields: dict[str, QWidget] = {}
        self._cells: list[dict[str, Any]] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._stack = QStackedWidget()
        layout.addWidget(self._stack)

        self._form_page = QWidget()
        form_layout = QVBoxLayout(self._form_page)
        form_layout.setContentsMargins(0, 0, 0, 0)
        typed_cells = preview.kind == "cells" and preview.typed
        cells = cast("CellsDetail", preview.detail).cells if typed_cells else None
        if cells and "range" in arguments and isinstance(arguments.get("values"), list):
            self._cells = [c.model_dump(mode="json") for c in cells]
            form_layout.addWidget(_label("Type the new values in the After column.", muted=True))
            form_layout.addWidget(self._cells_table())
            fields = {k: v for k, v in arguments.items() if k not in ("values",)}
        else:
            fields = arguments
        form = QFormLayout()
        for key, value in fields.items():
            editor = self._field_editor(key, value)
            self._fields[key] = editor
            form.addRow(f"{key.replace('_', ' ').capitalize()}:", editor)
        form_layout.addLayout(form)
        self._stack.addWidget(self._form_page)

        self._raw = QPlainTextEdit(json.dumps(arguments, ensure_ascii=False, indent=2))
        self._raw.setObjectName("rawArgumentsEditor")
        self._raw.setAccessibleName("Arguments as JSON")
        self._raw.setMinimumHeight(140)
        self._stack.addWidget(self._raw)

        self.toggle = QPushButton("Edit as JSON")
        self.toggle.setObjectName("rawJsonToggle")
        self.toggle.setAccessibleName("Switch between the form and raw JSON")
        self.toggle.setFlat(True)
        self.toggle.setCursor(Qt.CursorShape.PointingHandCursor)
        self.toggle.clicked.connect(self.on_toggle_clicked)
        layout.addWidget(self.toggle, alignment=Qt.AlignmentFlag.AlignLeft)

    @property
    def raw_mode(self) -> bool:
        """Whether the raw JSON editor is shown."""
        return self._stack.currentWidget() is self._raw

    def on_toggle_clicked(self) -> None:
        if self.raw_mode:
            self._stack.setCurrentWidget(self._form_page)
            self.toggle.setText("Edit as JSON")
        else:
            try:
                self._raw.setPlainText(json.dumps(self._from_form(), ensure_ascii=False, indent=2))
            except EditError:
                pass  # Keep the last raw text; the form's error shows when approving.
            self._stack.setCurrentWidget(self._raw)
            self.toggle.setText("Back to the form")

    def _cells_table(self) -> QTableWidget:
        table = QTableWidget(len(self._cells), 3)
        table.setObjectName("cellsEditor")
        table.setAccessibleName("New cell values")
        table.setHorizontalHeaderLabels(["Cell", "Now", "After"])
        table.verticalHeader().setVisible(False)
        for r, c in enumerate(self._cells):
            for col, value in enumerate((c["cell"], display(c.get("old")), display(c.get("new")))):
                item = QTableWidgetItem(value)
                if col < 2:
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                table.setItem(r, col, item)
        _fit_columns(table)
        _fit_height(table, max_rows=10)
        self._cells_widget = table
        return table

    def _field_editor(self, key: str, value: object) -> QWidget:
        editor: QWidget
        if isinstance(value, bool):
            box = QCheckBox()
            box.setChecked(value)
            editor = box
        elif isinstance(value, str) and ("\n" in value or len(value) > 80):
            text = QPlainTextEdit(value)
            text.setMinimumHeight(90)
            editor = text
        elif value is None or isinstance(value, (str, int, float)):
            editor = QLineEdit(display(value) if not isinstance(value, str) else value)
        else:
            text = QPlainTextEdit(json.dumps(value, ensure_ascii=False, indent=1))
            text.setMinimumHeight(70)
            editor = text
        editor.setObjectName(f"field_{key}")
        editor.setAccessibleName(key.replace("_", " "))
        return editor

    def cell_editor(self) -> QTableWidget | None:
        """The table of new cell values, for a workbook write."""
        return self._cells_widget if self._cells else None

    def arguments(self) -> dict[str, Any]:
        """The edited arguments.

        Raises:
            EditError: A value cannot be used (bad JSON, a number field with text…).
        """
        if self.raw_mode:
            try:
                value = json.loads(self._raw.toPlainText())
            except json.JSONDecodeError as exc:
                raise EditError(f"The JSON is not valid: {exc.msg} (line {exc.lineno}).") from exc
            if not isinstance(value, dict):
                raise EditError("The arguments must be a JSON object: {…}.")
            return value
        return self._from_form()

    def _from_form(self) -> dict[str, Any]:
        result: dict[str, Any] = dict(self._original)
        for key, editor in self._fields.items():
            result[key] = self._read_field(key, editor, self._original.get(key))
        if self._cells:
            result["values"] = self._edited_values()
        return result

    def _read_field(self, key: str, editor: QWidget, original: object) -> object:
        if isinstance(editor, QCheckBox):
            return editor.isChecked()
        if isinstance(editor, QPlainTextEdit):
            text = editor.toPlainText()
            if isinstance(original, str):
                return text
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise EditError(f"{key}: not valid JSON ({exc.msg}).") from exc
        assert isinstance(editor, QLineEdit)
        text = editor.text()
        if isinstance(original, str):
            return text
        if isinstance(original, int):
            try:
                return int(text)
            except ValueError as exc:
                raise EditError(f"{key} must be a whole number.") from exc
        if isinstance(original, float):
            try:
                return float(text)
            except ValueError as exc:
                raise EditError(f"{key} must be a number.") from exc
        return cell_value(text, None)

    def _edited_values(self) -> list[list[object]]:
        values = [list(row) for row in self._original["values"]]
        # The preview's cells are placed relative to the range as proposed.
        start = str(self._original.get("range", "A1")).split("!")[-1].split(":")[0]
        row0, col0 = _parse_a1(start)
        table = self._cells_widget
        for r, c in enumerate(self._cells):
            item = table.item(r, 2)
            text = item.text() if item is not None else ""
            row, col = _parse_a1(str(c["cell"]))
            i, j = row - row0, col - col0
            if not (0 <= i < len(values) and 0 <= j < len(values[i])):
                raise EditError(f"Cell {c['cell']} is outside the range {self._original.get('range')}.")
            if text == display(c.get("new")):
                continue  # Unchanged: keep the proposed value exactly, type included.
            values[i][j] = cell_value(text, c.get("new"))
        return values
