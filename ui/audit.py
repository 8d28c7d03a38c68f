"""The audit of one mission: every event, filterable, exportable to JSON and CSV, with undo.

The selected event is shown as a card a person reads: who did what and when, the preview
of the action (its summary and text), the decision and who made it, and the result. "Show
raw" shows it in its one JSON form (:func:`app.api.encode`), the same as ``ensemble audit
--json`` prints and the export writes. Exports are written in a worker thread: the GUI
thread never waits for the disk.

Undo takes back a carried-out change through the engine. When the engine refuses because the
file changed since Ensemble wrote it, the audit says so, says what undoing anyway would lose,
and offers "Undo anyway" (the engine's ``undo(force=True)``); a refusal is explained here, not
in the window's problem banner, and a later undo that succeeds clears that banner.
"""

from __future__ import annotations

import csv
import json
import re
import threading
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractItemModel, QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ui.plan import arguments_text
from ui.widgets import WrapLabel, button_row, scrolling

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from PySide6.QtGui import QResizeEvent, QShowEvent

    from app.api import AnyEvent
    from app.engine import Engine
    from ui.bridge import Bridge

COLUMNS = ["Time", "What", "Summary"]
SUMMARY_ROOM = 160
"""The least width the summary column keeps before the kind of event gives way to it."""
ROLE_INDEX = Qt.ItemDataRole.UserRole + 1

KIND_WORDS = {
    "mission_started": "Mission started",
    "workflow_run_started": "Workflow run",
    "mission_resumed": "Mission resumed",
    "mission_continued": "Mission continued",
    "mission_finished": "Mission ended",
    "rule_added": "Rule added",
    "rule_suggested": "Rule offered",
    "model_call": "Model call",
    "tool_called": "Tool called",
    "tool_result": "Tool result",
    "action_proposed": "Proposed",
    "action_decided": "Decided",
    "destination_vouched": "Allowed",
    "action_executed": "Carried out",
    "action_failed": "Failed",
    "write_checked": "Checked",
    "action_confirmed": "Confirmed",
    "action_outcome_unknown": "Outcome unknown",
    "action_undone": "Undone",
    "mission_rolled_back": "Mission undone",
    "task_started": "Task started",
    "task_checked": "Task checked",
    "task_finished": "Task finished",
    "question_asked": "Question",
    "question_answered": "Answer",
    "chat_message": "Message",
    "text_delta": "Writing",
}
"""Every kind of event in words (the audit's "What" column and its filter)."""

_SCRUBBED = (
    "tool_called",
    "tool_result",
    "action_",
    "write_checked",
    "destination_vouched",
    "rule_added",
    "rule_suggested",
)
"""The kinds whose summary may name a tool (an older journal's): its id gives way to its title."""


def kind_words(kind: str) -> str:
    """A kind of event in words ("Task checked"); an unknown kind's name in words."""
    return KIND_WORDS.get(kind) or (kind.replace("_", " ").capitalize() or "Event")


class _Names:
    """What the audit names events by, gathered from the events so far: each tool's title
    (by tool, tool call and action) and each task's agent."""

    def __init__(self) -> None:
        self.tools: dict[str, str] = {}
        self.calls: dict[str, str] = {}
        self.actions: dict[str, str] = {}
        self.agents: dict[str, str] = {}

    def learn(self, event: AnyEvent) -> None:
        from app import api

        match event:
            case api.ToolCalled():
                self.tools.setdefault(event.tool, event.title)
                self.calls[event.tool_call_id] = event.title
            case api.ActionProposed():
                self.tools.setdefault(event.tool, event.title)
                self.actions[event.action_id] = event.title
            case api.TaskStarted() if event.task_id:
                self.agents[event.task_id] = event.agent
            case _:
                pass

    def scrub(self, text: str) -> str:
        """``text`` with every tool id it names replaced by the tool's title."""
        for tool, title in self.tools.items():
            if tool and tool in text:
                text = text.replace(f" ({tool})", "")
                text = re.sub(rf"(?<![\w.]){re.escape(tool)}(?!\w)", title.replace("\\", "\\\\"), text)
        return text


def summary_of(event: AnyEvent, names: _Names) -> str:
    """An event's one line as the audit shows it: tools by their titles, never their ids.

    The engine's summary stands when it names no tool id; an older journal's ("lead called
    delegate") is said again from the event's fields.
    """
    from app import api

    if event.summary and not any(tool and tool in event.summary for tool in (*names.tools, _tool_of(event))):
        if event.kind == "chat_message":  # the lead's words without their markdown's stars
            return re.sub(r"\*\*|__|`", "", event.summary)
        return event.summary
    match event:
        case api.ToolCalled():
            agent = names.agents.get(event.task_id or "", "") if event.task_id else "lead"
            who = "Lead" if agent == "lead" else (f"{_tool_words(agent)} agent" if agent else "An agent")
            return f"{who}: {event.title}{api.call_target(event.arguments)}"
        case api.ToolResultEvent():
            title = names.calls.get(event.tool_call_id) or _tool_words(event.tool)
            if event.is_error:
                line = next((ln.strip() for ln in event.result.splitlines() if ln.strip()), "")
                return f"{title}: failed" + (f": {line[:160]}" if line else "")
            return f"{title}: done"
        case api.ActionDecided():
            title = names.actions.get(event.action_id, "")
            if title:
                words = DECISION_WORDS.get(event.decision, event.decision.capitalize()).lower()
                reason = f": {event.reason}" if event.reason and event.decision == "reject" else ""
                return f"{title}: {words} by {_who_decided(event.decided_by)}{reason}"
        case _:
            pass
    if event.kind.startswith(_SCRUBBED):
        return names.scrub(event.summary)
    return event.summary


def _tool_of(event: AnyEvent) -> str:
    tool = getattr(event, "tool", "")
    return tool if isinstance(tool, str) else ""


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
        self.names = _Names()

    def reset(self) -> None:
        self.removeRows(0, self.rowCount())
        self._rows = []
        self.names = _Names()

    def extend(self, events: list[AnyEvent]) -> None:
        """Shows the events past those already shown."""
        for event in events[len(self._rows) :]:
            index = len(self._rows)
            self._rows.append(event)
            self.names.learn(event)
            summary = summary_of(event, self.names)
            items = [
                QStandardItem(event.at.astimezone().strftime("%H:%M:%S")),
                QStandardItem(kind_words(event.kind)),
                QStandardItem(summary),
            ]
            items[0].setData(index, ROLE_INDEX)
            items[0].setToolTip(_when(event))
            items[1].setData(event.kind, ROLE_INDEX)
            items[1].setToolTip(items[1].text())  # cut short in a narrow pane
            items[2].setToolTip(summary)
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


def _when(event: AnyEvent) -> str:
    return event.at.astimezone().strftime("%d %b %Y, %H:%M:%S")


def _who_decided(decided_by: str) -> str:
    """``"person"`` → "you"; ``"rule:ID (sentence)"`` → the rule's sentence."""
    if decided_by in ("", "person"):
        return "you"
    if decided_by.startswith("rule:") and "(" in decided_by:
        return f"the rule “{decided_by.split('(', 1)[1].rstrip(')')}”"
    return decided_by


_OUTSIDE = re.compile(r'<external_content source="[^"]*">\n?(.*?)\n?</external_content>', re.DOTALL)
_EDITED = re.compile(
    r"\AThe person edited the arguments before approving; what ran was .*?\. Result: ", re.DOTALL
)


def result_words(result: str, most: int = 600) -> str:
    """What a tool gave back, as the readable card says it: a result the agent got as JSON as
    one "Key: value" line per field, without the markers around outside content or the note
    to the model about an edit; "Show raw" keeps every byte of it.

    Args:
        result: The tool's result, as the journal keeps it.
        most: The most characters shown.
    """
    text = result.strip()
    lines: list[str] = []
    edited = _EDITED.match(text)
    if edited:
        lines.append("Carried out as you changed it before approving.")
        text = text[edited.end() :]
    text = _OUTSIDE.sub(lambda match: match.group(1), text).strip()
    try:
        value: Any = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict | list):
        text = arguments_text(value)
    lines.append(text)
    shown = "\n".join(line for line in lines if line)
    return shown[:most] + ("…" if len(shown) > most else "")


def _tool_words(tool: str) -> str:
    """A tool as a person reads it: the title of an action ("Send an email"), or its name in
    words ("Sheet read") for a tool that only reads."""
    from app.api import action_kinds

    titles = {kind.name: kind.title for kind in action_kinds()}
    return titles.get(tool) or tool.replace("_", " ").capitalize()


DECISION_WORDS = {"approve": "Approved", "edit": "Approved with changes", "reject": "Rejected"}


def _action_events(events: list[AnyEvent], action_id: str) -> list[AnyEvent]:
    return [e for e in events if getattr(e, "action_id", None) == action_id]


def _changed_file(events: list[AnyEvent], action_id: str) -> str:
    """The file an action wrote, as the person names it ("invoices.xlsx"), or "The file"."""
    from app import api

    for event in _action_events(events, action_id):
        if isinstance(event, api.ActionProposed):
            detail = event.preview.detail.to_json()
            path = str(detail.get("path") or event.arguments.get("path") or "")
            if path:
                return path
    return "The file"


class _EventTable(QTableView):
    """The events as rows that always fit the table's width: no sideways scroll bar.

    The time and the kind of event keep compact widths from the font (sizing columns to their
    contents would re-measure every row at each new event, which a long mission cannot
    afford); the summary takes the rest and is cut with "…" when long, its whole text in its
    tooltip. In a narrow pane the kind of event gives way to the summary.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.horizontalHeader()
        header.setMinimumSectionSize(24)
        header.setTextElideMode(Qt.TextElideMode.ElideRight)

    def setModel(self, model: QAbstractItemModel | None) -> None:
        super().setModel(model)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.fit_columns()

    def ideal_widths(self) -> tuple[int, int]:
        """The time's and the kind's widths when there is room for them."""
        metrics = self.fontMetrics()
        padding = metrics.horizontalAdvance("  ") + 8
        time = metrics.horizontalAdvance("00:00:00") + padding
        kind = max(metrics.horizontalAdvance(w) for w in KIND_WORDS.values()) + padding
        return time, kind

    def fit_columns(self) -> None:
        """Shares the width out: time and kind compact, the summary the rest, nothing beyond.

        When the summary would keep less than :data:`SUMMARY_ROOM`, the kind of event gives
        way (the summary says what happened too, and the card below names the kind).
        """
        room = self.viewport().width()
        time, kind = self.ideal_widths()
        time = max(24, min(time, room // 2))
        narrow = room - time - kind < SUMMARY_ROOM
        self.setColumnHidden(1, narrow)
        self.setColumnWidth(0, time)
        if not narrow:
            self.setColumnWidth(1, kind)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit_columns()


class EventCard(QWidget):
    """The selected event as a person reads it: what happened, when, who did it, and for an
    action its preview, the decision (and by whom) and its result."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("auditEventCard")
        self.setAccessibleName("The selected event")
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(4, 4, 4, 4)
        self._layout.setSpacing(6)
        self.heading = self._text("auditCardHeading", "What happened")
        self.heading.setStyleSheet("font-weight: 600;")
        self._layout.addWidget(self.heading)
        # A grid, not a QFormLayout: a form row is as tall as its value's first line, which
        # cuts a value that wraps in a narrow pane; a grid row grows with the wrapped text.
        self._form_widget = QWidget()
        self._form = QGridLayout(self._form_widget)
        self._form.setContentsMargins(0, 0, 0, 0)
        self._form.setHorizontalSpacing(10)
        self._form.setVerticalSpacing(6)
        self._form.setColumnStretch(1, 1)
        self._layout.addWidget(self._form_widget)
        self.preview_text = QPlainTextEdit()
        self.preview_text.setObjectName("auditPreviewText")
        self.preview_text.setAccessibleName("The preview the person saw")
        self.preview_text.setReadOnly(True)
        self.preview_text.setMaximumHeight(140)
        self._layout.addWidget(self.preview_text)
        self._layout.addStretch(1)
        self.fields: dict[str, str] = {}
        self.show_event(None, [])

    @staticmethod
    def _text(name: str, accessible: str) -> QLabel:
        label = WrapLabel()
        label.setObjectName(name)
        label.setAccessibleName(accessible)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    def show_event(self, event: AnyEvent | None, events: list[AnyEvent]) -> None:
        """Shows ``event``, with what the other ``events`` of its action say (None: nothing)."""
        while (item := self._form.takeAt(0)) is not None:
            widget = item.widget()
            if widget is not None:
                widget.hide()
                widget.deleteLater()
        self.fields = {}
        self.preview_text.hide()
        if event is None:
            self.heading.setText("Select an event to see what happened.")
            return
        names = _Names()
        for other in events:
            names.learn(other)
            if other is event:
                break
        kind, summary = kind_words(event.kind), summary_of(event, names)
        # "Mission started: Mission started: …" says it once.
        self.heading.setText(summary if summary.lower().startswith(kind.lower()) else f"{kind}: {summary}")
        self._row("When", _when(event))
        action_id = getattr(event, "action_id", None)
        if isinstance(action_id, str) and action_id:
            self._action_rows(_action_events(events, action_id))
        else:
            self._other_rows(event)

    def _row(self, label: str, value: str) -> None:
        if not value:
            return
        self.fields[label] = value
        field = self._text(f"auditField_{label.replace(' ', '_')}", label)
        field.setText(value)
        name = QLabel(f"{label}:")
        name.setBuddy(field)
        name.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        row = len(self.fields) - 1
        self._form.addWidget(name, row, 0, Qt.AlignmentFlag.AlignTop)
        self._form.addWidget(field, row, 1)

    def _action_rows(self, related: list[AnyEvent]) -> None:
        from app import api

        proposed = next((e for e in related if isinstance(e, api.ActionProposed)), None)
        decided = next((e for e in related if isinstance(e, api.ActionDecided)), None)
        if proposed is not None:
            self._row("Who", f"The {proposed.agent} agent" if proposed.agent else "An agent")
            self._row("What", proposed.title)
            self._row("Preview", proposed.preview.summary)
            text = proposed.preview.text.strip()
            if text and text != proposed.preview.summary.strip():
                self.preview_text.setPlainText(text)
                self.preview_text.show()
            if proposed.warning:
                self._row("Why you were asked", proposed.warning)
        if decided is not None:
            words = DECISION_WORDS.get(decided.decision, decided.decision.capitalize())
            decision = f"{words} by {_who_decided(decided.decided_by)}"
            if decided.reason:
                decision += f": {decided.reason}"
            self._row("Decision", decision)
        else:
            self._row("Decision", "Waiting for a decision")
        results: list[str] = []
        checks: list[str] = []
        for e in related:
            if isinstance(e, api.ActionExecuted):
                results.append("Carried out" + (" (it can be undone from here)" if e.undoable else ""))
            elif isinstance(e, api.ActionFailed):
                results.append(f"Failed: {e.error or e.summary}")
            elif isinstance(e, api.ActionUndone):
                results.append(f"Undone: {e.summary}")
            elif isinstance(e, api.ActionConfirmed):
                results.append("Found to have happened before a restart")
            elif isinstance(e, api.WriteChecked):
                checks.append(e.summary)
        # The outcome first, then each read-back check on a line of its own.
        self._row("Result", "\n".join(filter(None, ["; ".join(results), *checks])))

    def _other_rows(self, event: AnyEvent) -> None:
        from app import api

        match event:
            case api.ToolCalled():
                self._row("What", _tool_words(event.tool))
            case api.ToolResultEvent():
                self._row("Result", result_words(event.result))
            case api.TaskStarted() | api.TaskFinished():
                self._row("Who", f"The {event.agent} agent" if event.agent else "")
            case api.ModelCallMade():
                read = event.input_tokens + event.cache_read_tokens + event.cache_write_tokens
                cached = f" ({event.cache_read_tokens:,} from the cache)" if event.cache_read_tokens else ""
                self._row("Tokens", f"{read:,} read{cached}, {event.output_tokens:,} written")
            case api.RuleAdded():
                self._row("Rule", event.summary.removeprefix("Rule: "))
            case _:
                pass


class AuditView(QWidget):
    """Every journaled event of the mission shown.

    Signals:
        undo_requested(str): The person asked to undo the local write of this action; only
            when the view is in no window with an engine (see :meth:`on_undo_clicked`).
        undo_finished(str, bool): An undo this view ran ended: the action, and whether the
            change was taken back.
        exported(str): An export was written to this path.
        export_failed(str): An export could not be written; the message says why.
    """

    undo_requested = Signal(str)
    undo_finished = Signal(str, bool)
    exported = Signal(str)
    export_failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("auditView")
        self.setAccessibleName("Audit: every step of the mission")
        self._events: list[AnyEvent] = []
        self._engine: Bridge | None = None
        self._undone: set[str] = set()
        self._mission_id = ""
        self._refused: str | None = None  # the action whose undo the engine refused

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
        # It may be narrower than its longest choice in a narrow pane; the list opens wide.
        self.kind_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.kind_filter.setMinimumContentsLength(8)
        self.kind_filter.addItem("All events", "")
        self.kind_filter.addItem("Decisions only", "action_")
        for kind, words in KIND_WORDS.items():
            if kind != "text_delta":  # streamed text is never in the audit
                self.kind_filter.addItem(words, kind)
        self.kind_filter.currentIndexChanged.connect(self.on_filter_changed)
        bar.addWidget(self.kind_filter)
        layout.addLayout(bar)
        self.undo_button = QPushButton("Undo change")
        self.undo_button.setObjectName("undoButton")
        self.undo_button.setAccessibleName("Undo the selected change")
        self.undo_button.setToolTip(
            "Take back the selected change: a file as it was, a message back in its folder"
        )
        self.undo_button.setEnabled(False)
        self.undo_button.clicked.connect(self.on_undo_clicked)
        self.export_json_button = QPushButton("Export…")
        self.export_json_button.setObjectName("exportJsonButton")
        self.export_json_button.setAccessibleName("Export the audit to a file")
        self.export_json_button.setToolTip(
            "Save every event of this mission to a file (JSON, for a program or an auditor)"
        )
        self.export_json_button.clicked.connect(lambda: self.on_export_clicked("json"))
        self.export_csv_button = QPushButton("Export CSV…")
        self.export_csv_button.setObjectName("exportCsvButton")
        self.export_csv_button.setAccessibleName("Export the audit as CSV")
        self.export_csv_button.clicked.connect(lambda: self.on_export_clicked("csv"))
        # The buttons keep their whole text: in a narrow pane they go onto a second line.
        self.button_bar = button_row(
            self.undo_button, self.export_json_button, self.export_csv_button, name="auditButtons"
        )
        layout.addWidget(self.button_bar)

        self.model = _EventModel(self)
        self.proxy = _EventFilter(self)
        self.proxy.setSourceModel(self.model)
        self.table = _EventTable()
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
        self.table.selectionModel().currentRowChanged.connect(self.on_current_changed)

        # The selected event: a card a person reads, or its JSON.
        self.detail_card = EventCard()
        self.detail_scroll = QScrollArea()
        self.detail_scroll.setObjectName("auditDetailScroll")
        self.detail_scroll.setAccessibleName("Details of the selected event")
        self.detail_scroll.setWidgetResizable(True)
        self.detail_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.detail_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.detail_scroll.setWidget(self.detail_card)
        self.detail = QPlainTextEdit()
        self.detail.setObjectName("auditDetail")
        self.detail.setAccessibleName("Details of the selected event, as JSON")
        self.detail.setReadOnly(True)
        self.detail.setPlaceholderText("Select an event to see all its details.")
        self.detail_stack = QStackedWidget()
        self.detail_stack.addWidget(self.detail_scroll)
        self.detail_stack.addWidget(self.detail)
        self.raw_toggle = QPushButton("Show raw")
        self.raw_toggle.setObjectName("auditRawToggle")
        self.raw_toggle.setAccessibleName("Show the selected event as JSON")
        self.raw_toggle.setCheckable(True)
        self.raw_toggle.setFlat(True)
        self.raw_toggle.setProperty("role", "link")
        self.raw_toggle.toggled.connect(self.on_raw_toggled)
        details = QWidget()
        details_layout = QVBoxLayout(details)
        details_layout.setContentsMargins(0, 4, 0, 0)
        details_layout.setSpacing(2)
        details_layout.addWidget(self.detail_stack, 1)
        details_layout.addWidget(self.raw_toggle, 0, Qt.AlignmentFlag.AlignRight)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(details)
        # The card of the selected event gets as much room as the list: it must be read.
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setSizes([300, 300])
        layout.addWidget(split, 1)

        # An undo the engine refused because the file changed: what is at stake, and a way on.
        self.undo_anyway_box = QFrame()
        self.undo_anyway_box.setObjectName("undoAnywayBox")
        self.undo_anyway_box.setAccessibleName("The file changed since")
        self.undo_anyway_box.setStyleSheet(
            "QFrame#undoAnywayBox { background: #fff3cd; border-radius: 6px; }"
            "QFrame#undoAnywayBox QLabel { color: #5c3c00; }"
        )
        box = QVBoxLayout(self.undo_anyway_box)
        box.setContentsMargins(10, 8, 10, 8)
        self.undo_anyway_label = WrapLabel()
        self.undo_anyway_label.setObjectName("undoAnywayText")
        self.undo_anyway_label.setAccessibleName("What undoing anyway would lose")
        self.undo_anyway_label.setWordWrap(True)
        self.undo_anyway_label.setTextFormat(Qt.TextFormat.PlainText)
        box.addWidget(self.undo_anyway_label)
        self.undo_anyway_button = QPushButton("Undo anyway")
        self.undo_anyway_button.setObjectName("undoAnywayButton")
        self.undo_anyway_button.setAccessibleName("Undo anyway, losing the later changes")
        self.undo_anyway_button.setProperty("role", "danger")
        self.undo_anyway_button.clicked.connect(self.on_undo_anyway_clicked)
        self.keep_button = QPushButton("Keep the file as it is")
        self.keep_button.setObjectName("keepFileButton")
        self.keep_button.setAccessibleName("Keep the file as it is")
        self.keep_button.clicked.connect(self.on_keep_clicked)
        box.addWidget(button_row(self.undo_anyway_button, self.keep_button))
        # In a pane too short for its words (1024x700, a large scale) the box scrolls up and
        # down rather than being squeezed: squeezed, its words were cut at their top and bottom.
        self.undo_anyway_scroll = scrolling(self.undo_anyway_box, "undoAnywayScroll")
        self.undo_anyway_scroll.setAccessibleName("The file changed since")
        self.undo_anyway_scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # its buttons take focus
        self.undo_anyway_scroll.setMinimumHeight(self.fontMetrics().lineSpacing() * 4)
        self.undo_anyway_scroll.hide()
        layout.addWidget(self.undo_anyway_scroll)

        self.status = WrapLabel()
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
        self.detail_card.show_event(None, [])
        self.status.clear()
        self._hide_refusal()
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

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_refusal_box()

    def _fit_refusal_box(self) -> None:
        """Gives the "Undo anyway" box the height of its words, up to half the pane (the list
        and the details give way first); past that it scrolls."""
        if self.undo_anyway_scroll.isHidden():
            return
        width = self.undo_anyway_scroll.viewport().width() or self.width()
        need = self.undo_anyway_box.heightForWidth(width)
        if need <= 0:
            need = self.undo_anyway_box.sizeHint().height()
        least = self.fontMetrics().lineSpacing() * 4
        # Only the room the pane has: a minimum past it would make the window taller than the
        # screen. The other parts' least heights are what the layout needs besides the box.
        layout = self.layout()
        others = (layout.minimumSize().height() if layout else 0) - self.undo_anyway_scroll.minimumHeight()
        room = min(self.height() // 2, self.height() - others)
        self.undo_anyway_scroll.setMinimumHeight(max(least, min(need + 2, room)))

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
        self.detail_card.show_event(event, self._events)
        self._refresh_undo()

    def on_raw_toggled(self, raw: bool) -> None:
        self.detail_stack.setCurrentWidget(self.detail if raw else self.detail_scroll)
        self.raw_toggle.setText("Show as a card" if raw else "Show raw")

    def _undoable(self) -> str | None:
        """The action of the selected event, if it is a carried-out change that can be undone."""
        from app import api

        event = self._selected()
        if (
            isinstance(event, api.ActionExecuted | api.ActionFailed)
            and event.undoable
            and event.action_id not in self._undone
        ):
            return event.action_id
        return None

    def _refresh_undo(self) -> None:
        self.undo_button.setEnabled(self._undoable() is not None)

    # Undo ----------------------------------------------------------------------------------

    def attach(self, bridge: Bridge) -> None:
        """Lets the view undo changes itself, through the window's engine.

        Args:
            bridge: The bridge to the engine the window runs.
        """
        self._engine = bridge

    def _bridge(self) -> Bridge | None:
        """The engine it undoes through, or None when it is shown on its own."""
        return self._engine

    def on_undo_clicked(self) -> None:
        """Undoes the selected change through the window's engine; a view in no such window
        emits :attr:`undo_requested` for its owner to do it."""
        action_id = self._undoable()
        if action_id is None:
            return
        self.undo_button.setEnabled(False)
        self._hide_refusal()
        if self._bridge() is None:
            self.undo_requested.emit(action_id)
            return
        self.undo(action_id, force=False)

    def on_undo_anyway_clicked(self) -> None:
        action_id = self._refused
        if action_id is not None:
            self._hide_refusal()
            self.undo(action_id, force=True)

    def on_keep_clicked(self) -> None:
        self._hide_refusal()
        self.show_status("Nothing was undone: the file stays as it is.")
        self._refresh_undo()

    def undo(self, action_id: str, *, force: bool) -> None:
        """Asks the engine to take an action back; the outcome shows here.

        Args:
            action_id: The carried-out action.
            force: Restore a file even though it changed since the action wrote it.
        """
        bridge = self._bridge()
        if bridge is None:
            self.undo_requested.emit(action_id)
            return
        self.show_status("Undoing…")

        async def attempt(engine: Engine) -> tuple[bool, str]:
            from app.api import EnsembleError

            # A refusal (the file changed, the backup is gone) is an answer for the person,
            # shown in the audit with what they can do; any other error is a bug and goes to
            # the window's problem banner as usual.
            try:
                return True, await engine.undo(action_id, force=force)
            except EnsembleError as exc:
                return False, str(exc)

        bridge.call(
            attempt,
            lambda outcome: self.on_undo_done(action_id, outcome),
            what="undo the change",
            on_error=lambda _exc: self._refresh_undo(),
        )

    def on_undo_done(self, action_id: str, outcome: tuple[bool, str]) -> None:
        """Shows how an undo ended: done (the window's old problem banner goes), refused
        because the file changed (with "Undo anyway"), or refused for another reason."""
        done, message = outcome
        if done:
            self._undone.add(action_id)
            self.show_status(message)
            clear = getattr(self.window(), "clear_error", None)
            if callable(clear):
                clear()
        elif "changed since" in message:
            self._offer_undo_anyway(action_id)
            self.show_status("Not undone yet: the file changed since.")
        else:
            self.show_status(f"Could not undo: {message}")
        self._refresh_undo()
        self.undo_finished.emit(action_id, done)

    def _offer_undo_anyway(self, action_id: str) -> None:
        self._refused = action_id
        path = _changed_file(self._events, action_id)
        what = re.split(r"[\\/]", path)[-1] or path
        self.undo_anyway_label.setToolTip(path)
        self.undo_anyway_label.setText(
            f"{what} was changed after Ensemble wrote it. Undoing anyway puts back the "
            "version from before this action: every change made to it since then (by you "
            "or anyone else) will be lost."
        )
        self.undo_anyway_scroll.show()
        self._fit_refusal_box()
        self.undo_anyway_button.setFocus()
        # Once laid out: in a short pane the box scrolls to its "Undo anyway" button.
        QTimer.singleShot(0, self, self._show_refusal_box)

    def _show_refusal_box(self) -> None:
        self._fit_refusal_box()  # laid out now: its width is known
        self.undo_anyway_scroll.ensureWidgetVisible(self.undo_anyway_button, 0, 0)

    def _hide_refusal(self) -> None:
        self._refused = None
        self.undo_anyway_scroll.hide()

    @property
    def undo_offered(self) -> bool:
        """Whether "Undo anyway" is offered (after the engine refused an undo)."""
        return self._refused is not None

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
