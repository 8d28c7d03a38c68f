"""The live plan of one mission: each task with its agent, status, time and tokens, and its
tool calls underneath.

The plan is built from the mission's events alone, the same way whether they are replayed
from the journal or arrive live, so that what it shows can never drift from the audit.

A tool call is shown by what it does and what it works on, in words ("Change a workbook ·
invoices.xlsx (Invoices)"), never by the tool's name or its arguments as code; its tooltip
lists the arguments as "Key: value" lines. In a narrow pane the Tokens, Agent and Time
columns give way (in that order) to the task's text, and their values move into the task's
tooltip, so that the plan never needs a sideways scroll bar.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QStackedWidget,
    QToolTip,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui.widgets import empty_state

if TYPE_CHECKING:
    from collections.abc import Iterable

    from app.api import AnyEvent

COLUMNS = ["Task", "Agent", "Status", "Time", "Tokens"]
COL_TASK, COL_AGENT, COL_STATUS, COL_TIME, COL_TOKENS = range(5)

TASK_STATUS = {
    "pending": "… Waiting",
    "running": "● Working",
    "done": "✓ Done",
    "failed": "✕ Failed",
    "cancelled": "■ Stopped",
    "skipped": "- Skipped",
    # An interrupted mission: what ran waits, with its time stopped, until it is resumed.
    "paused": "‖ Paused",
    "interrupted": "‖ Paused",
}
CALL_STATUS = {
    "running": "● Running",
    "done": "✓ Done",
    "error": "✕ Error",
    "rejected": "✕ Rejected",
    "waiting": "◆ Waiting for you",
    "approved": "✓ Approved",
}
LEAD = "__lead__"
ROLE_STATUS = Qt.ItemDataRole.UserRole + 1
ROLE_LABEL = Qt.ItemDataRole.UserRole + 2
ROLE_CALL = Qt.ItemDataRole.UserRole + 3
# The columns that give way, first to last, when the pane is too narrow for them and the task.
YIELDING = (COL_TOKENS, COL_AGENT, COL_TIME)
MIN_TASK_CHARS = 22  # the task column's least width, in average characters
CALL_GLYPH = {
    "running": "●",
    "done": "✓",
    "error": "✕",
    "rejected": "✕",
    "waiting": "◆",
    "approved": "✓",
}


def call_status(item: QTreeWidgetItem) -> str:
    """A tool call row's status: ``running``, ``done``, ``error``, ``rejected``, ``waiting``…"""
    return str(item.data(COL_TASK, ROLE_STATUS) or "")


def _set_call_status(item: QTreeWidgetItem, status: str, label: str | None = None) -> None:
    # A tool call's row spans every column: its status leads its text, in words and a glyph.
    if label is None:
        label = str(item.data(COL_TASK, ROLE_LABEL) or "")
    item.setData(COL_TASK, ROLE_STATUS, status)
    words = CALL_STATUS.get(status, status).split(" ", 1)[-1]
    glyph = CALL_GLYPH.get(status, "•")
    if status in ("running", "done"):
        item.setText(COL_TASK, f"{glyph} {label}")
    else:
        item.setText(COL_TASK, f"{glyph} {words} · {label}")
    item.setData(COL_TASK, Qt.ItemDataRole.AccessibleTextRole, f"{words}: {label}")


def elapsed(seconds: float) -> str:
    """``"42 s"``, ``"3 min 05 s"``, ``"1 h 02 min"``."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _cut(text: str, most: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= most else text[: most - 1] + "…"


def _file_name(path: str) -> str:
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or path


def _people(value: Any) -> str:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return ""
    names = [str(v).strip() for v in value if v and str(v).strip()]
    if not names:
        return ""
    shown = ", ".join(names[:2])
    return f"{shown} and {len(names) - 2} more" if len(names) > 2 else shown


def call_object(arguments: Any) -> str:
    """What a tool call works on, in a few words taken from its arguments: the file (and its
    sheet), the recipients, the site, the subject… ``""`` when none of them is known.

    Args:
        arguments: The call's arguments, as the agent gave them.

    Returns:
        E.g. ``"invoices.xlsx (Invoices)"``, ``"to ann@example.com"``, ``"portal.example.com"``.
    """
    if not isinstance(arguments, dict):
        return ""
    get = arguments.get
    parts: list[str] = []
    sheet = get("sheet")
    for key in ("path", "save_as", "file", "filename"):
        value = get(key)
        if isinstance(value, str) and value:
            name = _file_name(value)
            parts.append(f"{name} ({sheet})" if isinstance(sheet, str) and sheet else name)
            break
    else:
        if isinstance(sheet, str) and sheet:
            parts.append(f"sheet {sheet}")
    for key in ("to", "attendees", "recipients"):
        who = _people(get(key))
        if who:
            parts.append(f"to {who}" if key != "attendees" else f"with {who}")
            break
    url = get("url")
    if isinstance(url, str) and url:
        try:
            host = urlsplit(url).hostname or url
        except ValueError:
            host = url
        parts.append(host)
    else:
        for key in ("site", "host", "domain"):
            value = get(key)
            if isinstance(value, str) and value:
                parts.append(value)
                break
    for key in ("subject", "summary", "question"):
        value = get(key)
        if isinstance(value, str) and value.strip():
            parts.append(f"“{_cut(value, 50)}”")
            break
    if not parts:
        for key, label in (("folder", "folder"), ("calendar", "calendar"), ("name", "")):
            value = get(key)
            if isinstance(value, str) and value:
                parts.append(f"{label} {value}".strip())
                break
    tasks = get("tasks")
    if isinstance(tasks, list) and tasks:
        parts.append(f"{len(tasks)} task{'s' if len(tasks) != 1 else ''}")
    return _cut(" · ".join(parts), 90)


# Argument names whose words alone would not say what they hold.
_KEY_WORDS = {
    "path": "File",
    "url": "Address",
    "ref": "Element on the page",
    "cc": "Copy to",
    "bcc": "Blind copy to",
    "uid": "Event",
    "id": "Message",
    "in_reply_to": "In reply to",
}


def _key_words(key: str) -> str:
    if key in _KEY_WORDS:
        return _KEY_WORDS[key]
    words = " ".join(part for part in key.replace("-", "_").split("_") if part)
    return words[:1].upper() + words[1:] if words else "Value"


def _value_words(value: Any, most: int = 120) -> str:
    """A value in words: text as it is, yes/no, a list joined with commas, rows counted."""
    match value:
        case bool():
            return "yes" if value else "no"
        case str():
            return _cut(value, most)
        case int() | float():
            return f"{value:,}" if isinstance(value, int) and abs(value) >= 10_000 else str(value)
        case list() if value and all(isinstance(v, list) for v in value):
            return f"{len(value)} row{'s' if len(value) != 1 else ''}"
        case list() if value and all(isinstance(v, dict) for v in value):
            return f"{len(value)} item{'s' if len(value) != 1 else ''}"
        case list():
            return _cut(", ".join(_value_words(v, 40) for v in value if v is not None), most)
        case dict():
            inner = (f"{_key_words(str(k))} {_value_words(v, 40)}" for k, v in value.items() if v is not None)
            return _cut("; ".join(inner), most)
    return _cut(str(value), most)


def arguments_text(arguments: Any) -> str:
    """A call's arguments as a person reads them: one "Key: value" line each (long values cut,
    empty ones left out), never as code.

    Args:
        arguments: The call's arguments, as the agent gave them.
    """
    if isinstance(arguments, dict):
        lines = [
            f"{_key_words(str(k))}: {_value_words(v)}"
            for k, v in arguments.items()
            if v is not None and v != "" and v != []
        ]
        return "\n".join(lines[:20]) + ("\n…" if len(lines) > 20 else "")
    if arguments in (None, "", [], {}):
        return ""
    return _value_words(arguments)


def call_label(title: str, arguments: Any) -> str:
    """A tool call's line in the plan: what it does, and on what (``"Change a workbook ·
    invoices.xlsx (Invoices)"``)."""
    what = title or "A step"
    thing = call_object(arguments)
    return f"{what} · {thing}" if thing else what


def _agent_words(agent: str) -> str:
    """``"spreadsheet"`` → ``"Spreadsheet agent"``."""
    return f"{agent[:1].upper()}{agent[1:]} agent" if agent else "An agent"


def _call_tip(label: str, arguments: Any, error: str | None) -> str:
    """A tool call's tooltip: what it does and on what, its arguments in words, and why it
    failed (the tool's own words; code is left out)."""
    parts = [label]
    details = arguments_text(arguments)
    if details:
        parts.append(details)
    if error is not None:
        words = error.strip()
        if not words or words[:1] in "{[<":
            parts.append("It failed.")
        else:
            parts.append(f"It failed: {_cut(words, 400)}")
    return "\n\n".join(parts)


class _Task:
    def __init__(self, item: QTreeWidgetItem) -> None:
        self.item = item
        self.started: datetime | None = None
        self.finished: datetime | None = None
        self.tokens = 0
        self.latest = ""
        self.instructions = ""
        self.result = ""


class PlanView(QStackedWidget):
    """The plan of the mission shown: a tree of tasks and their tool calls."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("planView")
        self.setAccessibleName("Plan: the mission's tasks and tool calls")
        self.tree = QTreeWidget()
        self.tree.setObjectName("planTree")
        self.tree.setAccessibleName("Tasks")
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setRootIsDecorated(True)
        # The task's text elides (its whole text is in the tooltip); the pane never scrolls
        # sideways: the columns fit its width (see _fit_columns).
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.tree.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.tree.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(24)
        header.setSectionResizeMode(COL_TASK, QHeaderView.ResizeMode.Stretch)
        # Fixed widths from the font: sizing columns to their contents re-measures every row
        # at each streamed change, which eight busy agents cannot afford.
        metrics = self.tree.fontMetrics()
        self._widths: dict[int, int] = {}
        for col, sample in (
            (COL_AGENT, "spreadsheet"),
            (COL_STATUS, "■ Stopped"),
            (COL_TIME, "10 min 00 s"),
            (COL_TOKENS, "999,999"),
        ):
            width = max(metrics.horizontalAdvance(sample), metrics.horizontalAdvance(COLUMNS[col])) + 14
            self._widths[col] = width
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Fixed)
            self.tree.setColumnWidth(col, width)
        self._min_task = metrics.averageCharWidth() * MIN_TASK_CHARS + self.tree.indentation()
        self.tree.viewport().installEventFilter(self)
        self.activity = QLabel()
        self.activity.setObjectName("planActivity")
        self.activity.setAccessibleName("What the agents are writing now")
        self.activity.setProperty("muted", True)
        self.activity.setWordWrap(False)
        # A fixed height, so that new text never re-lays out the tree above it.
        self.activity.setFixedHeight(self.activity.fontMetrics().height() + 10)
        self.activity.setContentsMargins(4, 6, 4, 2)
        self.activity.hide()
        page = QWidget()
        page_layout = QVBoxLayout(page)
        page_layout.setContentsMargins(8, 8, 8, 8)
        page_layout.setSpacing(4)
        page_layout.addWidget(self.tree, 1)
        page_layout.addWidget(self.activity)
        self._page = page
        self.empty = empty_state(
            "No plan yet",
            "When you give a mission, the lead agent splits it into tasks. Each task, its agent "
            "and every step it takes appear here as they happen.",
            name="planEmpty",
        )
        self.addWidget(self.empty)
        self.addWidget(page)
        self._tasks: dict[str, _Task] = {}
        self._calls: dict[str, QTreeWidgetItem] = {}
        self._call_args: dict[str, Any] = {}  # by call id: for its tooltip
        self._call_errors: dict[str, str] = {}  # by call id: why it failed, as the tool said
        self._open_calls: dict[tuple[str, str], str] = {}  # (task, tool) → its latest call id
        self._call_of_action: dict[str, str] = {}
        # Call rows added by the batch being applied, to span once the batch is in the tree.
        self._unspanned: list[QTreeWidgetItem] = []
        # Streamed text is shown at most ten times a second: enough to read along.
        self._activity_text = ""
        self._activity_timer = QTimer(self)
        self._activity_timer.setSingleShot(True)
        self._activity_timer.setInterval(100)
        self._activity_timer.timeout.connect(self.on_activity_due)
        # Ticks only while a task runs: a finished or paused mission's times stand still.
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self.on_tick)

    def clear(self) -> None:
        """Shows no mission."""
        self.tree.clear()
        self._activity_text = ""
        self.activity.hide()
        self._tasks.clear()
        self._calls.clear()
        self._call_args.clear()
        self._call_errors.clear()
        self._open_calls.clear()
        self._call_of_action.clear()
        self._unspanned.clear()
        self._timer.stop()
        self.setCurrentWidget(self.empty)

    def ticking(self) -> bool:
        """Whether the times of running tasks are counting (some task runs)."""
        return self._timer.isActive()

    def task_status(self, task_id: str) -> str:
        """A task's status as shown (``"‖ Paused"``…); ``""`` for no such task."""
        task = self._tasks.get(task_id)
        return task.item.text(COL_STATUS) if task else ""

    def mark_paused(self, at: datetime | None = None) -> None:
        """The mission is interrupted (a crash, a kill, or a pause): what was running or waiting
        to run shows as paused, and its time stops, until the mission is resumed.

        Args:
            at: When it stopped, if known; else now.
        """
        at = at or datetime.now(UTC)
        lead = self._tasks.get(LEAD)
        if lead is not None and lead.finished is None:
            lead.finished = at
            self._update_time(lead)
        busy = (TASK_STATUS["running"], TASK_STATUS["pending"], "")
        for task in self._tasks.values():
            if task.finished is None:
                task.finished = at
                self._update_time(task)
            if task.item.text(COL_STATUS) in busy or task is lead:
                task.item.setText(COL_STATUS, TASK_STATUS["paused"])
        self._activity_text = ""
        self.activity.hide()
        self._sync_timer()

    def _sync_timer(self) -> None:
        running = any(t.started is not None and t.finished is None for t in self._tasks.values())
        if running and not self._timer.isActive():
            self._timer.start()
        elif not running and self._timer.isActive():
            self._timer.stop()

    def task_item(self, task_id: str) -> QTreeWidgetItem | None:
        """The row of a task (``"__lead__"`` for the lead agent)."""
        task = self._tasks.get(task_id)
        return task.item if task else None

    def task_items(self) -> list[QTreeWidgetItem]:
        """The task rows, in order."""
        items = (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        return [item for item in items if item is not None]

    def apply(self, events: Iterable[AnyEvent]) -> None:
        """Applies events of the mission shown, in order."""
        from app import api

        latest: dict[str, str] = {}
        for event in events:
            if isinstance(event, api.TextDelta):
                key = event.task_id or LEAD
                latest[key] = (latest.get(key, self._latest(key)) + event.text)[-400:]
                continue
            self._apply(event)
        if self._unspanned:
            self._span_calls()
        self._sync_timer()
        # Streamed text changes one cell per task per batch, however many deltas came.
        for key, text in latest.items():
            task = self._task(key)
            task.latest = text  # shown in the task's tooltip (see tooltip_for)
        if latest:
            key = next(reversed(latest))
            task = self._tasks[key]
            who = "Lead agent" if key == LEAD else _agent_words(task.item.text(COL_AGENT))
            line = " ".join(latest[key].split())
            self._activity_text = f"{who} is writing: …{line[-160:]}"
            if not self._activity_timer.isActive():
                self._activity_timer.start()

    def _latest(self, key: str) -> str:
        task = self._tasks.get(key)
        return task.latest if task else ""

    def _task(self, task_id: str | None) -> _Task:
        key = task_id or LEAD
        task = self._tasks.get(key)
        if task is None:
            item = QTreeWidgetItem(
                [
                    "Lead agent" if key == LEAD else key,
                    "lead" if key == LEAD else "",
                    "",
                    "",
                    "0",
                ]
            )
            item.setData(COL_TASK, Qt.ItemDataRole.UserRole, key)
            self.tree.addTopLevelItem(item)
            task = _Task(item)
            self._tasks[key] = task
            if self.currentWidget() is not self._page:
                self.setCurrentWidget(self._page)
        return task

    def _apply(self, event: AnyEvent) -> None:
        from app import api

        # The calls first: they are nearly every event of a long mission, and each case is an
        # isinstance test (pydantic's classes make those slow).
        match event:
            case api.ToolCalled():
                task = self._task(event.task_id)
                label = call_label(event.title, event.arguments)
                item = QTreeWidgetItem([label])
                item.setData(COL_TASK, ROLE_LABEL, label)
                # Its tooltip (the arguments in words) is written when asked for: most are never.
                item.setData(COL_TASK, ROLE_CALL, event.tool_call_id)
                self._call_args[event.tool_call_id] = event.arguments
                _set_call_status(item, "running", label)
                task.item.addChild(item)
                self._unspanned.append(item)
                self._calls[event.tool_call_id] = item
                self._open_calls[(event.task_id or LEAD, event.tool)] = event.tool_call_id
            case api.ToolResultEvent():
                call = self._calls.get(event.tool_call_id)
                if call is not None:
                    rejected = call_status(call) == "rejected"
                    _set_call_status(call, "rejected" if rejected else "error" if event.is_error else "done")
                    if event.is_error:
                        self._call_errors[event.tool_call_id] = event.result
            case api.MissionStarted() | api.MissionContinued() | api.MissionResumed():
                lead = self._task(None)
                if isinstance(event, api.MissionStarted) or lead.started is None:
                    lead.started = event.at
                lead.finished = None
                lead.item.setText(COL_STATUS, TASK_STATUS["running"])
                self._update_time(lead)
                # Paused tasks wait for the lead to carry them on (each starts again).
                for task in self._tasks.values():
                    if task is not lead and task.item.text(COL_STATUS) == TASK_STATUS["paused"]:
                        task.item.setText(COL_STATUS, TASK_STATUS["pending"])
            case api.MissionFinished():
                self._finish(event.at, event.status)
            case api.TaskStarted() if event.task_id:
                task = self._task(event.task_id)
                task.started = event.at
                task.finished = None
                task.instructions = event.instructions
                # The instructions alone: the key is the lead's own label for the task.
                task.item.setText(COL_TASK, " ".join(event.instructions.split()))
                task.item.setToolTip(COL_TASK, task.instructions)
                task.item.setExpanded(True)
                task.item.setText(COL_AGENT, event.agent)
                task.item.setText(COL_STATUS, TASK_STATUS["running"])
                self._update_time(task)
            case api.TaskFinished() if event.task_id:
                task = self._task(event.task_id)
                task.finished = event.at
                task.item.setText(COL_STATUS, TASK_STATUS.get(event.status, event.status))
                task.result = event.result or ""
                self._update_time(task)
            case api.ModelCallMade():
                task = self._task(event.task_id)
                task.tokens += (
                    event.input_tokens
                    + event.output_tokens
                    + event.cache_read_tokens
                    + event.cache_write_tokens
                )
                task.item.setText(COL_TOKENS, f"{task.tokens:,}")
                task.latest = ""
            case api.ActionProposed():
                # The proposal is the latest call of its tool in its task: it now waits.
                call_id = self._open_calls.get((event.task_id or LEAD, event.tool), "")
                call = self._calls.get(call_id)
                if call is not None:
                    self._call_of_action[event.action_id] = call_id
                    _set_call_status(call, "waiting")
            case api.ActionDecided():
                call = self._calls.get(self._call_of_action.get(event.action_id, ""))
                if call is not None:
                    _set_call_status(call, "rejected" if event.decision == "reject" else "approved")

    def _span_calls(self) -> None:
        """Lets the batch's new call rows span every column, all at once.

        Spanning only takes once a row is in the tree, and each span first runs the tree's
        pending layout: spanning each row as it is added re-lays out the whole tree once per
        call (a mission of 1,000 calls froze the window for a tenth of a second). Spanning
        them after the batch lays out once, and the repaints wait until all are spanned.
        """
        items, self._unspanned = self._unspanned, []
        self.tree.setUpdatesEnabled(False)
        try:
            for item in items:
                item.setFirstColumnSpanned(True)
        finally:
            self.tree.setUpdatesEnabled(True)

    def _finish(self, at: datetime, status: str) -> None:
        """The mission ended: the lead's row says how, and whatever still ran has stopped."""
        lead = self._task(None)
        lead.finished = at
        lead.item.setText(COL_STATUS, TASK_STATUS.get(status, status))
        self._update_time(lead)
        self._activity_text = ""
        self.activity.hide()
        # Paused (to resume) or stopped for good.
        word = TASK_STATUS["paused" if status == "interrupted" else "cancelled"]
        for task in self._tasks.values():
            if task.finished is None:
                task.finished = at
                self._update_time(task)
                if task.item.text(COL_STATUS) in (TASK_STATUS["running"], TASK_STATUS["pending"]):
                    task.item.setText(COL_STATUS, word)

    def _update_time(self, task: _Task) -> None:
        if task.started is None:
            return
        end = task.finished or datetime.now(UTC)
        task.item.setText(COL_TIME, elapsed((end - task.started).total_seconds()))

    # Fitting the pane, and tooltips -------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.tree.viewport():
            if event.type() == QEvent.Type.Resize:
                self._fit_columns()
            elif event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
                item = self.tree.itemAt(event.pos())
                tip = self.tooltip_for(item, self.tree.columnAt(event.pos().x())) if item else ""
                if tip:
                    QToolTip.showText(event.globalPos(), tip, self.tree.viewport())
                else:
                    QToolTip.hideText()
                    event.ignore()
                return True
        return super().eventFilter(watched, event)

    def _fit_columns(self) -> None:
        """Hides the columns that give way (Tokens, then Agent, then Time) while the pane is too
        narrow for them beside the task's text, and shows them again once there is room."""
        room = self.tree.viewport().width() - self._min_task - self._widths[COL_STATUS]
        for col in reversed(YIELDING):  # the last to give way is the first to get room
            width = self._widths[col]
            fits = room >= width
            if fits:
                room -= width
            if self.tree.isColumnHidden(col) == fits:
                self.tree.setColumnHidden(col, not fits)
            if not fits:
                room = -1  # a column that gives way takes the ones before it along

    def hidden_columns(self) -> list[str]:
        """The names of the columns given way to the task's text (for tests)."""
        return [COLUMNS[c] for c in range(len(COLUMNS)) if self.tree.isColumnHidden(c)]

    def tooltip_for(self, item: QTreeWidgetItem, column: int = COL_TASK) -> str:
        """What a row's tooltip says: for a task, its whole text, what it wrote last, and the
        values of the columns given way; for a tool call, what it does, on what, its arguments
        in words, and why it failed, if it did.

        Args:
            item: A row of the plan.
            column: The column pointed at.
        """
        call_id = item.data(COL_TASK, ROLE_CALL)
        if call_id:
            label = str(item.data(COL_TASK, ROLE_LABEL) or "")
            words = CALL_STATUS.get(call_status(item), "").split(" ", 1)[-1]
            heading = f"{words}: {label}" if words else label
            return _call_tip(heading, self._call_args.get(call_id), self._call_errors.get(call_id))
        key = item.data(COL_TASK, Qt.ItemDataRole.UserRole)
        task = self._tasks.get(str(key)) if key else None
        if task is None:
            return item.text(column)
        parts = [task.item.text(COL_TASK)]
        if task.latest:
            parts.append(f"Latest: {' '.join(task.latest.split())[-300:]}")
        facts = [task.item.text(COL_STATUS)]
        for col, words in ((COL_AGENT, "{} agent"), (COL_TIME, "{}"), (COL_TOKENS, "{} tokens")):
            value = task.item.text(col)
            if value and (self.tree.isColumnHidden(col) or col == COL_AGENT):
                facts.append(words.format(value))
        parts.append(" · ".join(f for f in facts if f))
        if task.result:
            parts.append(_cut(task.result, 600))
        return "\n\n".join(p for p in parts if p)

    def on_activity_due(self) -> None:
        """Shows what an agent writes now on one line as wide as the plan: who writes, then the
        end of the text, cut at its start with "…"."""
        text = self._activity_text
        metrics = self.activity.fontMetrics()
        margins = self.activity.contentsMargins()
        # The tree's width, not the label's: a label never shown yet has no width of its own
        # (its text was measured against a default one and ran past the pane's edge).
        width = max(40, self.tree.width() - margins.left() - margins.right() - 2)
        who, sep, line = text.partition(" …")
        if sep and metrics.horizontalAdvance(text) > width:
            head = who + " "
            rest = max(0, width - metrics.horizontalAdvance(head))
            text = head + metrics.elidedText("…" + line, Qt.TextElideMode.ElideLeft, rest)
            if metrics.horizontalAdvance(text) > width:  # not even the name fits: its end shows
                text = metrics.elidedText(self._activity_text, Qt.TextElideMode.ElideRight, width)
        else:
            text = metrics.elidedText(text, Qt.TextElideMode.ElideLeft, width)
        self.activity.setText(text)
        self.activity.setToolTip(self._activity_text)
        self.activity.setVisible(bool(self._activity_text))

    def on_tick(self) -> None:
        for task in self._tasks.values():
            if task.started is not None and task.finished is None:
                self._update_time(task)
        self._sync_timer()
