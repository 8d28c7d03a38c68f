"""The audit of one mission: every event, filterable, exportable to JSON and CSV, with undo.

An event is exported, and shown in full, in its one JSON form (:func:`app.api.encode`), the
same as ``ensemble audit --json`` prints. Exports are written in a worker thread: the GUI
thread never waits for the disk.
"""

from __future__ import annotations

import csv
import json
import threading
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from PySide6.QtGui import QShowEvent

    from app.api import AnyEvent

COLUMNS = ["Time", "What", "Summary"]
ROLE_INDEX = Qt.ItemDataRole.UserRole + 1

KIND_WORDS = {
    "mission_started": "Mission started",
    "mission_finished": "Mission ended",
    "rule_added": "Rule added",
    "model_call": "Model call",
    "tool_called": "Tool called",
    "tool_result": "Tool result",
    "action_proposed": "Proposed",
    "action_decided": "Decided",
    "action_executed": "Carried out",
    "action_failed": "Failed",
    "action_undone": "Undone",
    "task_started": "Task started",
    "task_finished": "Task finished",
    "question_asked": "Question",
    "question_answered": "Answer",
    "chat_message": "Message",
}


def event_json(event: AnyEvent) -> dict[str, Any]:
    """An event as exported: its one JSON form (:func:`app.api.encode`)."""
    from app.api import encode

    return encode(event)


def write_json(path: Path, events: list[dict[str, Any]]) -> None:
    """Writes exported events as a JSON array."""
    path.write_text(json.dumps(events, ensure_ascii=False, indent=1, default=str), encoding="utf-8")


def write_csv(path: Path, events: list[dict[str, Any]]) -> None:
    """Writes exported events as CSV: id, at, kind, task_id, summary, data (JSON), from their
    JSON form."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["id", "at", "kind", "task_id", "summary", "data"])
        for e in events:
            writer.writerow(
                [
                    e["id"],
                    e["at"],
                    e["kind"],
                    e["task_id"] or "",
                    e["summary"],
                    json.dumps(e["data"], ensure_ascii=False, default=str),
                ]
            )


class _EventModel(QStandardItemModel):
    """The events shown, as table rows (their text is built once, in C++ items)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        self._rows: list[AnyEvent] = []

    def reset(self) -> None:
        self.removeRows(0, self.rowCount())
        self._rows = []

    def extend(self, events: list[AnyEvent]) -> None:
        """Shows the events past those already shown."""
        for event in events[len(self._rows) :]:
            index = len(self._rows)
            self._rows.append(event)
            items = [
                QStandardItem(event.at.astimezone().strftime("%H:%M:%S")),
                QStandardItem(KIND_WORDS.get(event.kind, event.kind)),
                QStandardItem(event.summary),
            ]
            items[0].setData(index, ROLE_INDEX)
            items[1].setData(event.kind, ROLE_INDEX)
            items[2].setToolTip(event.summary)
            self.appendRow(items)

    def event_at(self, row: int) -> AnyEvent | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None


class _EventFilter(QSortFilterProxyModel):
    """Keeps the rows whose kind starts with :attr:`kind` and whose text contains :attr:`text`."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.kind = ""
        self.text = ""

    def set_filters(self, kind: str, text: str) -> None:
        self.kind, self.text = kind, text.casefold()
        self.invalidate()

    def filterAcceptsRow(self, source_row: int, source_parent: Any) -> bool:
        model = self.sourceModel()
        if self.kind and not str(model.index(source_row, 1, source_parent).data(ROLE_INDEX)).startswith(
            self.kind
        ):
            return False
        if not self.text:
            return True
        return any(
            self.text in str(model.index(source_row, c, source_parent).data() or "").casefold()
            for c in range(model.columnCount())
        )


class AuditView(QWidget):
    """Every journaled event of the mission shown.

    Signals:
        undo_requested(str): The person asked to undo the local write of this action.
        exported(str): An export was written to this path.
        export_failed(str): An export could not be written; the message says why.
    """

    undo_requested = Signal(str)
    exported = Signal(str)
    export_failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("auditView")
        self.setAccessibleName("Audit: every step of the mission")
        self._events: list[AnyEvent] = []
        self._undone: set[str] = set()
        self._mission_id = ""

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        bar = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setObjectName("auditSearch")
        self.search.setAccessibleName("Filter events by text")
        self.search.setPlaceholderText("Filter…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.on_filter_changed)
        bar.addWidget(self.search, 1)
        self.kind_filter = QComboBox()
        self.kind_filter.setObjectName("auditKindFilter")
        self.kind_filter.setAccessibleName("Filter events by kind")
        self.kind_filter.addItem("All events", "")
        self.kind_filter.addItem("Decisions only", "action_")
        for kind, words in KIND_WORDS.items():
            self.kind_filter.addItem(words, kind)
        self.kind_filter.currentIndexChanged.connect(self.on_filter_changed)
        bar.addWidget(self.kind_filter)
        layout.addLayout(bar)
        bar = QHBoxLayout()
        self.undo_button = QPushButton("Undo change")
        self.undo_button.setObjectName("undoButton")
        self.undo_button.setAccessibleName("Undo the selected change")
        self.undo_button.setToolTip(
            "Take back the selected change: a file as it was, a message back in its folder"
        )
        self.undo_button.setEnabled(False)
        self.undo_button.clicked.connect(self.on_undo_clicked)
        bar.addWidget(self.undo_button)
        bar.addStretch(1)
        self.export_json_button = QPushButton("Export JSON…")
        self.export_json_button.setObjectName("exportJsonButton")
        self.export_json_button.setAccessibleName("Export the audit as JSON")
        self.export_json_button.clicked.connect(lambda: self.on_export_clicked("json"))
        bar.addWidget(self.export_json_button)
        self.export_csv_button = QPushButton("Export CSV…")
        self.export_csv_button.setObjectName("exportCsvButton")
        self.export_csv_button.setAccessibleName("Export the audit as CSV")
        self.export_csv_button.clicked.connect(lambda: self.on_export_clicked("csv"))
        bar.addWidget(self.export_csv_button)
        layout.addLayout(bar)

        self.model = _EventModel(self)
        self.proxy = _EventFilter(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setObjectName("auditTable")
        self.table.setAccessibleName("Events")
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.horizontalHeader().setStretchLastSection(True)
        # Fixed widths from the font: sizing columns to their contents re-measures every row
        # at each new event, which a long mission cannot afford.
        metrics = self.table.fontMetrics()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        self.table.setColumnWidth(0, metrics.horizontalAdvance("00:00:00") + 20)
        self.table.setColumnWidth(1, max(metrics.horizontalAdvance(w) for w in KIND_WORDS.values()) + 20)
        self.table.selectionModel().currentRowChanged.connect(self.on_current_changed)
        self.detail = QPlainTextEdit()
        self.detail.setObjectName("auditDetail")
        self.detail.setAccessibleName("Details of the selected event")
        self.detail.setReadOnly(True)
        self.detail.setPlaceholderText("Select an event to see all its details.")
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.detail)
        split.setSizes([400, 140])
        layout.addWidget(split, 1)
        self.status = QLabel()
        self.status.setObjectName("auditStatus")
        self.status.setAccessibleName("Audit status")
        self.status.setProperty("muted", True)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)

    # Content -------------------------------------------------------------------------------

    def clear(self, mission_id: str = "") -> None:
        """Shows no events (or none yet of ``mission_id``)."""
        self._mission_id = mission_id
        self._events = []
        self._undone.clear()
        self.model.reset()
        self.detail.clear()
        self.status.clear()
        self.undo_button.setEnabled(False)

    @property
    def events(self) -> list[AnyEvent]:
        """The events shown, in order (unfiltered)."""
        return list(self._events)

    def apply(self, events: Iterable[AnyEvent]) -> None:
        """Appends the journaled events among these (transient ones are not audit).

        While the view is hidden the rows wait: they are added when it is next shown.
        """
        from app import api

        for event in events:
            if event.audit_id is None:
                continue
            if isinstance(event, api.ActionUndone):
                self._undone.add(event.action_id)
            self._events.append(event)
        if self.isVisible():
            self._flush()

    def showEvent(self, event: QShowEvent) -> None:
        self._flush()
        super().showEvent(event)

    def _flush(self) -> None:
        if self.model.rowCount() < len(self._events):
            self.model.extend(self._events)
            self._refresh_undo()

    def visible_kinds(self) -> list[str]:
        """The kinds of the events that pass the filters, in order."""
        self._flush()
        return [str(self.proxy.index(r, 1).data(ROLE_INDEX)) for r in range(self.proxy.rowCount())]

    def on_filter_changed(self, *_args: object) -> None:
        self.proxy.set_filters(str(self.kind_filter.currentData() or ""), self.search.text().strip())
        self._refresh_undo()

    def _selected(self) -> AnyEvent | None:
        index = self.table.currentIndex()
        if not index.isValid():
            return None
        source = self.proxy.mapToSource(index)
        return self.model.event_at(source.row())

    def select_event(self, predicate: Any) -> bool:
        """Selects the first shown event for which ``predicate(event)`` is true."""
        self._flush()
        for r in range(self.proxy.rowCount()):
            source = self.proxy.mapToSource(self.proxy.index(r, 0))
            event = self.model.event_at(source.row())
            if event is not None and predicate(event):
                self.table.setCurrentIndex(self.proxy.index(r, 0))
                return True
        return False

    def on_current_changed(self, *_args: object) -> None:
        event = self._selected()
        if event is None:
            self.detail.clear()
        else:
            self.detail.setPlainText(json.dumps(event_json(event), ensure_ascii=False, indent=2, default=str))
        self._refresh_undo()

    def _undoable(self) -> str | None:
        """The action of the selected event, if it is a carried-out change that can be undone."""
        from app import api

        event = self._selected()
        if isinstance(event, api.ActionExecuted) and event.undoable and event.action_id not in self._undone:
            return event.action_id
        return None

    def _refresh_undo(self) -> None:
        self.undo_button.setEnabled(self._undoable() is not None)

    def on_undo_clicked(self) -> None:
        action_id = self._undoable()
        if action_id is not None:
            self.undo_button.setEnabled(False)
            self.undo_requested.emit(action_id)

    def show_status(self, text: str) -> None:
        """Shows the outcome of an undo or an export."""
        self.status.setText(text)

    # Export --------------------------------------------------------------------------------

    def on_export_clicked(self, fmt: str) -> None:
        name = f"audit-{self._mission_id or 'mission'}.{fmt}"
        path, _ = QFileDialog.getSaveFileName(
            self, "Export the audit", name, "JSON (*.json)" if fmt == "json" else "CSV (*.csv)"
        )
        if path:
            from pathlib import Path

            self.export(Path(path), fmt)

    def export(self, path: Path, fmt: str) -> None:
        """Writes every event (unfiltered) to ``path`` as ``json`` or ``csv``, in a worker thread.

        :attr:`exported` or :attr:`export_failed` follows.
        """
        rows = [event_json(e) for e in self._events]
        writer = write_json if fmt == "json" else write_csv

        def work() -> None:
            try:
                writer(path, rows)
            except OSError as exc:
                self.export_failed.emit(f"Could not write {path}: {exc}")
                return
            self.exported.emit(str(path))

        # The signals are queued back to the GUI thread, where this view lives.
        threading.Thread(target=work, name="audit-export", daemon=True).start()
