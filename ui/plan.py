"""The live plan of one mission: each task with its agent, status, time and tokens, and its
tool calls underneath.

The plan is built from the mission's events alone, the same way whether they are replayed
from the journal or arrive live, so that what it shows can never drift from the audit.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QStackedWidget,
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


def _args_text(arguments: Any) -> str:
    if isinstance(arguments, dict):
        parts = [f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in arguments.items()]
        text = ", ".join(parts)
    else:
        text = json.dumps(arguments, ensure_ascii=False)
    return text if len(text) <= 140 else text[:139] + "…"


class _Task:
    def __init__(self, item: QTreeWidgetItem) -> None:
        self.item = item
        self.started: datetime | None = None
        self.finished: datetime | None = None
        self.tokens = 0
        self.latest = ""
        self.instructions = ""


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
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(COL_TASK, QHeaderView.ResizeMode.Stretch)
        # Fixed widths from the font: sizing columns to their contents re-measures every row
        # at each streamed change, which eight busy agents cannot afford.
        metrics = self.tree.fontMetrics()
        for col, sample in (
            (COL_AGENT, "spreadsheet"),
            (COL_STATUS, "■ Stopped"),
            (COL_TIME, "10 min 00 s"),
            (COL_TOKENS, "999,999"),
        ):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            self.tree.setColumnWidth(col, metrics.horizontalAdvance(sample) + 12)
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
            task.latest = text
            line = " ".join(text.split())
            task.item.setToolTip(COL_TASK, f"{task.instructions}\n\nLatest: {line[-300:]}".strip())
        if latest:
            key = next(reversed(latest))
            task = self._tasks[key]
            who = "Lead agent" if key == LEAD else task.item.text(COL_TASK).split(":", 1)[0]
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
                label = f"{event.tool}({_args_text(event.arguments)})"
                item = QTreeWidgetItem([label])
                item.setData(COL_TASK, ROLE_LABEL, label)
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
                    call.setToolTip(COL_TASK, event.result[:2000])
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
                task.item.setText(COL_TASK, f"{event.key}: {' '.join(event.instructions.split())}")
                task.item.setToolTip(COL_TASK, task.instructions)
                task.item.setExpanded(True)
                task.item.setText(COL_AGENT, event.agent)
                task.item.setText(COL_STATUS, TASK_STATUS["running"])
                self._update_time(task)
            case api.TaskFinished() if event.task_id:
                task = self._task(event.task_id)
                task.finished = event.at
                task.item.setText(COL_STATUS, TASK_STATUS.get(event.status, event.status))
                if event.result:
                    task.item.setToolTip(COL_STATUS, event.result)
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

    def on_activity_due(self) -> None:
        metrics = self.activity.fontMetrics()
        width = max(100, self.activity.width() - 8)
        self.activity.setText(metrics.elidedText(self._activity_text, Qt.TextElideMode.ElideLeft, width))
        self.activity.setVisible(bool(self._activity_text))

    def on_tick(self) -> None:
        for task in self._tasks.values():
            if task.started is not None and task.finished is None:
                self._update_time(task)
        self._sync_timer()
