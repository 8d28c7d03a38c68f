"""Widgets that show a proposed action's preview, and forms that edit its arguments.

A preview has a ``kind`` that says what its ``detail`` holds. Known kinds get a tailored
view (a table of cells with old and new values for a workbook write); any other kind is
shown generically: its summary, its text and a key/value table of its detail, so that a
connector added later is readable before the window learns about it.

Editing works on the action's arguments (what really runs): a table of new values for a
cell write, a field per value a person knows otherwise (recipients as chips, other lists as one
line separated by commas); a value with parts inside it is shown in words and stays as proposed.
A person never edits JSON. Values Ensemble fixed when the action was proposed (an email's
Message-ID and Date, the message it answers) are not in the form: they stay as proposed.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import html
import json
import re
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import QEvent, QObject, QSize, Qt
from PySide6.QtGui import QColor, QKeyEvent, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ui.widgets import FlowLayout, WrapLabel

if TYPE_CHECKING:
    from collections.abc import Callable

    from PySide6.QtGui import QPaintEvent, QResizeEvent

    from app.api.previews import (
        ActionPreview,
        CellsDetail,
        DeckOutlineDetail,
        DocumentDiffDetail,
        DownloadDetail,
        EmailDetail,
        EventDetail,
        FileOperationDetail,
        HttpRequestDetail,
        InviteDetail,
        NewFileDetail,
        PdfDetail,
        PdfFormDetail,
        RowsDetail,
        StructureDetail,
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


# What a screen reader says for each preview table (its object name is for tests).
_TABLE_NAMES = {
    "cellsPreview": "The cells, now and after",
    "httpFields": "The fields that will be sent",
    "structureFormulas": "The formulas that change",
    "pdfFiles": "The new PDF files",
    "pdfFormFields": "The form's fields, now and after",
    "detailTable": "Details",
}


def _table(headers: list[str], rows: list[list[object]], *, name: str) -> QTableWidget:
    table = QTableWidget(min(len(rows), _MAX_TABLE_ROWS), len(headers))
    table.setObjectName(name)
    sheet = name.removeprefix("newFilePreview_")
    table.setAccessibleName(_TABLE_NAMES.get(name) or f"The new file's sheet {sheet}")
    # Tab leaves the table (the arrows move in it): a preview is no keyboard trap.
    table.setTabKeyNavigation(False)
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
    """The first column as wide as its contents; the others share the rest.

    With up to four columns every column fits the table's width (a long value is cut with
    "…" and shown whole in its tooltip), so the last one (a cell's new value) is always in
    sight; more columns scroll sideways inside the table, never the card.
    """
    header = table.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    if table.columnCount() <= 4:
        header.setMinimumSectionSize(24)
        table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
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
    label = WrapLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if name:
        label.setObjectName(name)
    if muted:
        label.setProperty("muted", True)
    label.setAccessibleName(text[:120])  # its words, not its object name (that is for tests)
    return label


# What a screen reader says for each preview's text box (its object name is for tests).
_TEXT_NAMES = {
    "previewText": "What will be done",
    "emailBody": "The email's text",
    "httpBody": "What will be sent",
    "pdfOutline": "The PDF's pages",
    "deckOutline": "The slides",
    "eventDescription": "The event's description",
    "inviteBody": "The invitation's text",
}


def _text_box(text: str, *, name: str, max_height: int = 160) -> QPlainTextEdit:
    box = QPlainTextEdit(text)
    box.setObjectName(name)
    box.setAccessibleName(_TEXT_NAMES.get(name, "Details"))
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


class FormBox(QWidget):
    """A form that puts each field under its label when it is narrower than
    :data:`NARROW_FORM` (a narrow pane), and beside it otherwise."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)

    def resizeEvent(self, event: QResizeEvent) -> None:
        policy = (
            QFormLayout.RowWrapPolicy.WrapAllRows
            if event.size().width() < NARROW_FORM
            else QFormLayout.RowWrapPolicy.WrapLongRows
        )
        if self.form.rowWrapPolicy() != policy:
            self.form.setRowWrapPolicy(policy)
        super().resizeEvent(event)


NARROW_FORM = 340
"""Below this width (in pixels) a form's labels go above their fields."""


def _form() -> tuple[QWidget, QFormLayout]:
    """A form whose rows put the field under its label when the pane is narrow (:class:`FormBox`)."""
    box = FormBox()
    return box, box.form


def _email_preview(preview: ActionPreview) -> QWidget:
    detail = cast("EmailDetail", preview.detail)
    widget, form = _form()
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
    widget, form = _form()
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
        image = ScaledImage(pixmap, max_width=360)
        image.setObjectName("httpScreenshot")
        image.setAccessibleName("Screenshot of the page")
        layout.addWidget(image)


class ScaledImage(QWidget):
    """A picture that shrinks with its pane (keeping its proportions), up to ``max_width``.

    Args:
        pixmap: The picture.
        max_width: The widest it is drawn.
    """

    def __init__(self, pixmap: QPixmap, *, max_width: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap = pixmap
        self._max_width = max(1, min(max_width, pixmap.width()))
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def _height(self, width: int) -> int:
        return round(self._pixmap.height() * width / max(1, self._pixmap.width()))

    def sizeHint(self) -> QSize:
        return QSize(self._max_width, self._height(self._max_width))

    def minimumSizeHint(self) -> QSize:
        return QSize(40, self._height(40))

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._height(min(width, self._max_width))

    def paintEvent(self, event: QPaintEvent) -> None:
        width = min(self.width(), self._max_width)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawPixmap(0, 0, width, self._height(width), self._pixmap)
        painter.end()


def _size_words(size: int | None) -> str:
    if size is None:
        return ""
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            break
    return f"{value:.1f} {unit}"


def _diff_preview(preview: ActionPreview) -> QWidget:
    """A document's change as its lines: removed ones struck through in red, added ones in green."""
    detail = cast("DocumentDiffDetail", preview.detail)
    widget, layout = _box()
    counts = f"{detail.added} lines added, {detail.removed} removed"
    what = "New document" if detail.created else "Changes to"
    layout.addWidget(_label(f"{what} {_where(detail.path)} — {counts}", name="previewLocation", muted=True))
    box = QTextEdit()
    box.setObjectName("documentDiff")
    box.setAccessibleName("The document's text before and after")
    box.setReadOnly(True)
    box.setLineWrapMode(QTextEdit.LineWrapMode.WidgetWidth)
    rows: list[str] = []
    for line in detail.diff:
        if line.startswith(("---", "+++")):
            continue
        text = html.escape(line[1:] if line[:1] in "+- " else line) or "&nbsp;"
        if line.startswith("@@"):
            rows.append(f'<div style="color:#6b7280">{html.escape(line)}</div>')
        elif line.startswith("+"):
            rows.append(f'<div style="background:#dcfce7;color:#14532d">+ {text}</div>')
        elif line.startswith("-"):
            rows.append(f'<div style="background:#fee2e2;color:#7f1d1d"><s>- {text}</s></div>')
        else:
            rows.append(f'<div style="color:#374151">&nbsp;&nbsp;{text}</div>')
    box.setHtml("".join(rows))
    box.setMaximumHeight(260)
    layout.addWidget(box)
    if detail.truncated:
        layout.addWidget(_label("The change is longer than shown here.", muted=True))
    _notes(layout, detail.notes)
    return widget


_STRUCTURE_WORDS = {
    "insert_rows": "Insert {count} row(s) before row {where}",
    "delete_rows": "Delete row(s) {where}",
    "insert_columns": "Insert {count} column(s) before column {where}",
    "delete_columns": "Delete column(s) {where}",
    "sort": "Sort the {count} rows of {where}",
}


def _structure_preview(preview: ActionPreview) -> QWidget:
    """Rows or columns inserted, deleted or sorted: the place before and after, and the formulas moved."""
    detail = cast("StructureDetail", preview.detail)
    widget, layout = _box()
    words = _STRUCTURE_WORDS.get(detail.operation, "{where}").format(count=detail.count, where=detail.where)
    layout.addWidget(
        _label(f"{_where(detail.path, detail.sheet)} — {words}", name="previewLocation", muted=True)
    )
    for name, lines in (("Now", detail.before), ("After", detail.after)):
        if lines:
            width = max((len(line.values) for line in lines), default=0)
            rows: list[list[object]] = [[line.label, *line.values] for line in lines]
            headers = [name, *(_column_name(i) for i in range(width))]
            layout.addWidget(_table(headers, rows, name=f"structure{name}"))
    if detail.formulas:
        rows = [[f.cell, f.old, f.new] for f in detail.formulas]
        layout.addWidget(_table(["Formula in", "Now", "After"], rows, name="structureFormulas"))
    _notes(layout, [*detail.changes, *detail.notes])
    return widget


_OPERATION_WORDS = {
    "write_text": "Write",
    "make_folder": "New folder",
    "copy": "Copy",
    "move": "Move",
    "rename": "Rename",
    "trash": "Move to the trash",
}


def _file_operation_preview(preview: ActionPreview) -> QWidget:
    detail = cast("FileOperationDetail", preview.detail)
    widget, form = _form()
    form.addRow(
        "Action:", _label(_OPERATION_WORDS.get(detail.operation, detail.operation), name="fileOperation")
    )
    if detail.source:
        noun = "Folder" if detail.is_folder else "File"
        form.addRow(f"{noun}:", _label(detail.source, name="fileSource"))
    if detail.target:
        form.addRow("To:", _label(detail.target, name="fileTarget"))
    size = _size_words(detail.size)
    if detail.files is not None:
        size = f"{detail.files} files" + (f", {size}" if size else "")
    if size:
        form.addRow("Size:", _label(size, name="fileSize"))
    if detail.overwrite:
        replaced = _size_words(detail.overwritten_size)
        form.addRow("Replaces:", _label(f"the file already there{f' ({replaced})' if replaced else ''}"))
    for note in detail.notes:
        form.addRow(_label(note, name="previewNote", muted=True))
    return widget


def _pdf_preview(preview: ActionPreview) -> QWidget:
    detail = cast("PdfDetail", preview.detail)
    widget, layout = _box()
    rows: list[list[object]] = [
        [_where(f.path), f.pages, ", ".join(_where(s) for s in f.sources) or "text"] for f in detail.files
    ]
    layout.addWidget(_table(["New PDF", "Pages", "From"], rows, name="pdfFiles"))
    for plan in detail.files:
        if plan.outline:
            layout.addWidget(_text_box("\n".join(plan.outline), name="pdfOutline", max_height=140))
    if detail.font:
        layout.addWidget(_label(f"Font: {detail.font}", muted=True))
    _notes(layout, detail.notes)
    return widget


def _pdf_form_preview(preview: ActionPreview) -> QWidget:
    detail = cast("PdfFormDetail", preview.detail)
    widget, layout = _box()
    where = _where(detail.path) + (f" → {_where(detail.output)}" if detail.output else "")
    layout.addWidget(_label(f"Form fields in {where}", name="previewLocation", muted=True))
    rows: list[list[object]] = [[f.name, f.old, f.new] for f in detail.fields]
    layout.addWidget(_table(["Field", "Now", "After"], rows, name="pdfFormFields"))
    _notes(layout, detail.notes)
    return widget


def _deck_preview(preview: ActionPreview) -> QWidget:
    detail = cast("DeckOutlineDetail", preview.detail)
    widget, layout = _box()
    title = _where(detail.path) + (
        f" (on the layouts of {_where(detail.template)})" if detail.template else ""
    )
    layout.addWidget(_label(title, name="previewLocation", muted=True))
    marks = {"new": "New", "changed": "Changed", "unchanged": "Same"}
    outline: list[str] = []
    for slide in detail.slides:
        outline.append(
            f"{slide.number}. {slide.title or '(no title)'}  [{marks.get(slide.status, slide.status)}]"
        )
        outline += [f"     • {b}" for b in slide.bullets]
        if slide.table:
            columns = max(len(r) for r in slide.table)
            outline.append(f"     a table of {len(slide.table)} rows and {columns} columns")
        if slide.images:
            outline.append(f"     {slide.images} picture(s)")
        if slide.notes:
            outline.append(f"     notes: {slide.notes}")
    outline += [f"Removed: {name}" for name in detail.removed]
    layout.addWidget(_text_box("\n".join(outline), name="deckOutline", max_height=260))
    for shot in detail.thumbnails[:12]:
        _screenshot(layout, shot)
    _notes(layout, detail.notes)
    return widget


def _when(value: object) -> str:
    """An ISO date or time as a person reads it: "Tue 8 Dec 2026, 10:00"; anything else as it is."""
    text = str(value)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    day = f"{moment:%a} {moment.day} {moment:%b %Y}"
    if len(text) <= 10:  # a date alone: an all-day event
        return day
    return f"{day}, {moment:%H:%M}"


def _event_preview(preview: ActionPreview) -> QWidget:
    detail = cast("EventDetail", preview.detail)
    widget, form = _form()
    before = detail.before or {}
    fields = (
        ("summary", "What"),
        ("start", "Starts"),
        ("end", "Ends"),
        ("time_zone", "Time zone"),
        ("location", "Where"),
        ("recurrence", "Repeats"),
        ("calendar", "Calendar"),
    )
    for key, label in fields:
        value = getattr(detail, key)
        if not value:
            continue
        shown = _when if key in ("start", "end") else str
        text = shown(value)
        old = before.get(key)
        if old not in (None, "") and str(old) != str(value):
            text = f"{shown(old)} → {text}"
        form.addRow(f"{label}:", _label(text, name=f"event_{key}"))
    if detail.attendees:
        form.addRow("Guests:", _label(", ".join(detail.attendees), name="event_attendees"))
    if detail.description:
        form.addRow(_text_box(detail.description, name="eventDescription", max_height=120))
    return widget


def _invite_preview(preview: ActionPreview) -> QWidget:
    detail = cast("InviteDetail", preview.detail)
    widget, form = _form()
    rows = (
        ("From", detail.sender),
        ("To", ", ".join(detail.to)),
        ("Subject", detail.subject),
        ("Event", detail.summary),
        ("Starts", _when(detail.start) if detail.start else ""),
        ("Ends", _when(detail.end) if detail.end else ""),
        ("Where", detail.location),
        ("Repeats", detail.recurrence or ""),
    )
    for label, value in rows:
        if value:
            form.addRow(f"{label}:", _label(value, name=f"invite_{label.lower()}"))
    if detail.body:
        form.addRow(_text_box(detail.body, name="inviteBody", max_height=160))
    return widget


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
    "sheet_structure": _structure_preview,
    "document_diff": _diff_preview,
    "file_operation": _file_operation_preview,
    "pdf": _pdf_preview,
    "pdf_form": _pdf_form_preview,
    "deck_outline": _deck_preview,
    "calendar_event": _event_preview,
    "calendar_invite": _invite_preview,
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

FIXED_FIELDS = frozenset({"message_id", "date", "in_reply_to", "references"})
"""Arguments Ensemble fixed when the action was proposed (an email's Message-ID and Date, the
message it answers): the form leaves them as proposed and does not show them."""

FIELD_WORDS = {
    "to": "To",
    "cc": "Cc",
    "bcc": "Bcc",
    "subject": "Subject",
    "body": "Message",
    "attachments": "Attachments",
    "path": "File",
    "sheet": "Sheet",
    "range": "Cells",
    "url": "Address",
    "method": "Method",
    "folder": "Folder",
    "save_as": "Save as",
}
"""What a form calls an argument; any other is its name in words."""

_FIELD_ORDER = ("to", "cc", "bcc", "subject", "body", "attachments")
_LONG_TEXT_FIELDS = frozenset({"body", "text", "note"})


def field_words(key: str) -> str:
    """An argument's name as a form labels it (``"to"`` → "To", ``"save_as"`` → "Save as")."""
    return FIELD_WORDS.get(key) or key.replace("_", " ").capitalize()


def _editable(value: object) -> bool:
    """Whether a form field can hold this value: a yes/no, number, text or list of texts."""
    return value is None or isinstance(value, (bool, int, float, str)) or _is_text_list(value)


def _words(value: object) -> str:
    """A value with parts inside it in words: ``{"a_b": 1}`` → "A b: 1"; lists separated by commas."""
    if isinstance(value, dict):
        return "; ".join(f"{field_words(str(k))}: {_words(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_words(item) for item in value)
    return display(value)


def _is_text_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def join_list(values: list[str]) -> str:
    """A list of texts (addresses, file names) as one line, separated by commas."""
    return ", ".join(values)


def split_list(text: str) -> list[str]:
    """One line of texts separated by commas back into a list; a comma inside quotes or
    angle brackets (``"Stone, Bob" <bob@example.com>``) does not split."""
    items: list[str] = []
    current: list[str] = []
    quoted = angled = False
    for ch in text:
        if ch == '"' and not angled:
            quoted = not quoted
        elif ch == "<" and not quoted:
            angled = True
        elif ch == ">" and not quoted:
            angled = False
        if ch in ",;" and not quoted and not angled:
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


_RECIPIENT_FIELDS = frozenset({"to", "cc", "bcc", "reply_to"})
"""Arguments that list email addresses: their form shows each address as a chip."""

_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")


def address_problem(text: str) -> str:
    """Why ``text`` is not an email address, in words; empty when it is one.

    ``ann@example.com`` and ``Ann Lee <ann@example.com>`` are addresses.
    """
    text = text.strip()
    angled = re.search(r"<([^<>]*)>\s*$", text)
    address = angled.group(1).strip() if angled else text
    if "@" not in address:
        return "it has no @ (an address looks like name@example.com)"
    if any(ch.isspace() for ch in address):
        return "it has a space in it"
    if address.count("@") > 1:
        return "it has more than one @"
    local, domain = address.split("@")
    if not local:
        return "there is nothing before the @"
    if "." not in domain.strip(".") or not _ADDRESS.match(address):
        return "the part after the @ is not a domain like example.com"
    return ""


def _has_separator(text: str) -> bool:
    """Whether ``text`` has a comma, semicolon or line break outside quotes and angle brackets."""
    quoted = angled = False
    for ch in text:
        if ch == '"' and not angled:
            quoted = not quoted
        elif ch == "<" and not quoted:
            angled = True
        elif ch == ">" and not quoted:
            angled = False
        elif ch in ",;\n" and not quoted and not angled:
            return True
    return False


class ChipText(QWidget):
    """A chip's text on one line, shortened in the middle ("Robert Stone <rob…example.com>")
    when the chip is narrower than it; the chip's tooltip and accessible name hold it whole."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.full_text = text
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:
        metrics = self.fontMetrics()
        most = metrics.horizontalAdvance("x" * 34)
        return QSize(min(metrics.horizontalAdvance(self.full_text) + 2, most), metrics.height() + 2)

    def minimumSizeHint(self) -> QSize:
        metrics = self.fontMetrics()
        return QSize(min(self.sizeHint().width(), metrics.horizontalAdvance("x" * 8)), metrics.height() + 2)

    def shown_text(self) -> str:
        """The text as it fits the chip's width now."""
        return self.fontMetrics().elidedText(self.full_text, Qt.TextElideMode.ElideMiddle, self.width())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        color = self.palette().color(self.foregroundRole())
        chip = self.parentWidget()
        if chip is not None and chip.property("invalid"):
            color = QColor("#b71c1c")
        painter.setPen(color)
        painter.drawText(
            self.rect(), int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft), self.shown_text()
        )
        painter.end()


class AddressChip(QFrame):
    """One address in a :class:`ChipsEditor`: its text and a ✕ that removes it; red, with
    a tooltip that says why, when it is not an address."""

    def __init__(self, text: str, label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = text
        self.problem = address_problem(text)
        self.setObjectName("addressChip")
        self.setProperty("invalid", bool(self.problem))
        border, background = ("#c62828", "#fdecea") if self.problem else ("palette(mid)", "palette(window)")
        self.setStyleSheet(
            f"#addressChip {{ border: 1px solid {border}; border-radius: 10px; background: {background}; }}"
        )
        said = f"{label}: {text}" + (f", not an address: {self.problem}" if self.problem else "")
        self.setAccessibleName(said)
        self.setToolTip(f"{text}: this is not an email address, {self.problem}." if self.problem else text)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 1, 2, 1)
        layout.setSpacing(2)
        self.label = ChipText(text)
        self.label.setObjectName("addressChipText")
        self.label.setAccessibleName(said)
        layout.addWidget(self.label)
        self.remove_button = QToolButton()
        self.remove_button.setObjectName("removeAddressButton")
        self.remove_button.setText("✕")
        self.remove_button.setAccessibleName(f"{label}: {text}, remove")
        self.remove_button.setToolTip(f"Remove {text}")
        self.remove_button.setAutoRaise(True)
        self.remove_button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        layout.addWidget(self.remove_button)


class ChipsEditor(QWidget):
    """A list of email addresses as chips, each with a ✕, and a box to type more.

    Enter, a comma, a semicolon or a space after an address turns the typed text into a chip;
    pasting ``a@x, b@y`` makes two; Backspace in the empty box removes the last chip.
    :meth:`values` returns the addresses as a list of texts, what was typed but not yet
    turned into a chip included.

    Args:
        values: The addresses as proposed.
        label: What the field is called ("To"), for the chips' accessible names.
    """

    def __init__(self, values: list[str], label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._label = label
        self.setAccessibleName(label)
        self.chips: list[AddressChip] = []
        self._flow = FlowLayout(self, spacing=4)
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.input = QLineEdit()
        self.input.setObjectName("addressInput")
        self.input.setAccessibleName(f"{label}: add an address")
        self.input.setPlaceholderText("Add an address")
        self.input.setMinimumWidth(self.input.fontMetrics().horizontalAdvance("name@example.com") + 24)
        self.input.textChanged.connect(self._on_text_changed)
        self.input.returnPressed.connect(self.commit)
        self.input.installEventFilter(self)
        self._flow.addWidget(self.input)
        self.set_values(values)

    def set_values(self, values: list[str]) -> None:
        """Replaces every chip with these addresses."""
        while self.chips:
            self.remove_at(len(self.chips) - 1)
        for value in values:
            self.add(value)

    def add(self, text: str) -> None:
        """Adds a chip for ``text`` (before the typing box)."""
        chip = AddressChip(text, self._label, self)
        chip.remove_button.clicked.connect(lambda: self._remove_chip(chip))
        self.chips.append(chip)
        # The typing box stays last: take it out, add the chip, put it back.
        self._flow.removeWidget(self.input)
        self._flow.addWidget(chip)
        self._flow.addWidget(self.input)
        chip.show()
        self.updateGeometry()

    def remove_at(self, index: int) -> None:
        """Removes the chip at ``index``."""
        chip = self.chips.pop(index)
        self._flow.removeWidget(chip)
        chip.hide()
        chip.deleteLater()
        self.updateGeometry()

    def _remove_chip(self, chip: AddressChip) -> None:
        if chip in self.chips:
            self.remove_at(self.chips.index(chip))
            self.input.setFocus()

    def commit(self) -> None:
        """Turns the typed text into chips (one per address) and empties the box."""
        text = self.input.text()
        if not text.strip():
            return
        self.input.blockSignals(True)
        self.input.clear()
        self.input.blockSignals(False)
        for item in split_list(text):
            self.add(item)

    def _on_text_changed(self, text: str) -> None:
        if _has_separator(text):
            self.commit()
        elif text.endswith(" ") and not address_problem(text.strip()) and "<" not in text:
            self.commit()  # a bare address then a space; "Ann Lee <…>" keeps its spaces

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            watched is self.input
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Backspace
            and not self.input.text()
            and self.chips
        ):
            self.remove_at(len(self.chips) - 1)
            return True
        return super().eventFilter(watched, event)

    def values(self) -> list[str]:
        """The addresses: the chips' texts, then what is typed in the box."""
        return [chip.text for chip in self.chips] + split_list(self.input.text())

    def problems(self) -> list[tuple[str, str]]:
        """Each value that is not an address, with why."""
        found = [(value, address_problem(value)) for value in self.values()]
        return [(value, why) for value, why in found if why]


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


class CellsEditorTable(QTableWidget):
    """The table a person types new cell values into (Cell, Now, After).

    The value being edited is never cut short: the After column is as wide as its longest
    text, up to what the table leaves after the Cell column and a narrow Now column (cut with
    "…", whole in its tooltip); a longer value wraps onto more lines and its row grows. The
    table never scrolls sideways.
    """

    _NOW_LEAST = 48

    def __init__(self, rows: int, columns: int, parent: QWidget | None = None) -> None:
        super().__init__(rows, columns, parent)
        self._fitting = False
        self.setWordWrap(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.itemChanged.connect(lambda _item: self.fit())

    def fit(self) -> None:
        """Shares the width between the columns, then fits the rows and the height to the text."""
        if self._fitting or self.columnCount() < 3:
            return
        self._fitting = True
        try:
            header = self.horizontalHeader()
            header.setMinimumSectionSize(24)
            header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
            header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
            header.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
            header.setStretchLastSection(False)
            header.setFixedHeight(ROW_HEIGHT)
            metrics = self.fontMetrics()
            pad = 2 * self.style().pixelMetric(self.style().PixelMetric.PM_FocusFrameHMargin) + 14
            items = [self.item(r, 2) for r in range(self.rowCount())]
            texts = [item.text() for item in items if item is not None]
            need = (
                max([metrics.horizontalAdvance(t) for t in texts] + [metrics.horizontalAdvance("After")])
                + pad
            )
            avail = max(self.viewport().width() - self.columnWidth(0), 2 * self._NOW_LEAST)
            after = min(need, avail - self._NOW_LEAST)
            self.setColumnWidth(2, after)
            self.setColumnWidth(1, avail - after)
            self.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
            self.resizeRowsToContents()
            for r in range(self.rowCount()):
                self.setRowHeight(r, max(ROW_HEIGHT, self.rowHeight(r)))
            shown = sum(self.rowHeight(r) for r in range(min(self.rowCount(), 10))) or ROW_HEIGHT
            self.setFixedHeight(ROW_HEIGHT + shown + 2 * self.frameWidth() + 2)
        finally:
            self._fitting = False

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit()


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
        form_layout = QVBoxLayout(self)
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
        shown = [key for key in fields if key not in FIXED_FIELDS]
        shown.sort(key=lambda k: _FIELD_ORDER.index(k) if k in _FIELD_ORDER else len(_FIELD_ORDER))
        form_widget, form = _form()
        for key in shown:
            if not _editable(fields[key]):
                # Parts inside parts: shown in words, kept as proposed (never JSON to edit).
                kept = _label(f"{_words(fields[key])} (stays as proposed)", name=f"kept_{key}", muted=True)
                form.addRow(f"{field_words(key)}:", kept)
                continue
            editor = self._field_editor(key, fields[key])
            self._fields[key] = editor
            form.addRow(f"{field_words(key)}:", editor)
        form_layout.addWidget(form_widget)
        if any(key in FIXED_FIELDS for key in fields):
            form_layout.addWidget(
                _label(
                    "Its message id and date stay as proposed, so that it is never sent twice.",
                    name="fixedFieldsNote",
                    muted=True,
                )
            )

    def _cells_table(self) -> QTableWidget:
        table = CellsEditorTable(len(self._cells), 3)
        table.setObjectName("cellsEditor")
        table.setAccessibleName("New cell values")
        table.setTabKeyNavigation(False)  # the arrows move between cells; Tab leaves the table
        table.setHorizontalHeaderLabels(["Cell", "Now", "After"])
        table.verticalHeader().setVisible(False)
        for r, c in enumerate(self._cells):
            for col, value in enumerate((c["cell"], display(c.get("old")), display(c.get("new")))):
                item = QTableWidgetItem(value)
                if col < 2:
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                    item.setToolTip(value)
                table.setItem(r, col, item)
        table.fit()
        self._cells_widget = table
        return table

    def _field_editor(self, key: str, value: object) -> QWidget:
        editor: QWidget
        if isinstance(value, bool):
            box = QCheckBox()
            box.setChecked(value)
            editor = box
        elif _is_text_list(value) and key in _RECIPIENT_FIELDS:
            editor = ChipsEditor(cast("list[str]", value), field_words(key))
        elif _is_text_list(value):
            # File names, tags: one line a person can type into, never a JSON list.
            line = QLineEdit(join_list(cast("list[str]", value)))
            line.setPlaceholderText("Separate them with commas")
            editor = line
        elif isinstance(value, str) and ("\n" in value or len(value) > 80 or key in _LONG_TEXT_FIELDS):
            text = QPlainTextEdit(value)
            text.setMinimumHeight(90)
            editor = text
        else:
            editor = QLineEdit(display(value) if not isinstance(value, str) else value)
        editor.setObjectName(f"field_{key}")
        editor.setAccessibleName(field_words(key))
        return editor

    def cell_editor(self) -> QTableWidget | None:
        """The table of new cell values, for a workbook write."""
        return self._cells_widget if self._cells else None

    def arguments(self) -> dict[str, Any]:
        """The edited arguments.

        Raises:
            EditError: A value cannot be used (an address that is not one, a number field
                with text…); its message says which and why, in words.
        """
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
        if isinstance(editor, ChipsEditor):
            problems = editor.problems()
            if problems:
                value, why = problems[0]
                raise EditError(f"{field_words(key)}: “{value}” is not an email address: {why}.")
            return editor.values()
        if isinstance(editor, QPlainTextEdit):
            return editor.toPlainText()
        assert isinstance(editor, QLineEdit)
        text = editor.text()
        if _is_text_list(original):
            listed = cast("list[str]", original)
            # Unchanged: exactly as proposed, even where a comma in a name would split.
            return listed if text == join_list(listed) else split_list(text)
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
