"""The missions pane: every mission, newest first, with its status, start time, tokens and cost.

It is filled from the engine's read model (:class:`app.api.MissionInfo`) and kept current by
the typed events; it says which mission the person picked, and when one ends or asks something.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from PySide6.QtGui import QPainter

    from app.api import AnyEvent, MissionInfo

STATUS_WORDS = {
    "running": "● Running",
    "done": "✓ Done",
    "failed": "✕ Failed",
    "cancelled": "■ Stopped",
    "interrupted": "‖ Interrupted",
}
ROLE_MISSION = Qt.ItemDataRole.UserRole + 10
ROLE_LINE = Qt.ItemDataRole.UserRole + 11
ROLE_STATUS = Qt.ItemDataRole.UserRole + 12

PAGE_SIZE = 200
"""Missions the engine lists a page at a time (:meth:`app.engine.Engine.list_missions`'s
default ``limit``): a page this long may have more after it."""
MORE_MARGIN = 3
"""Rows from the bottom at which scrolling asks for the next page, so that it is there in time."""


_ROW_FIELDS = {"id", "title", "status", "started_at", "tokens", "cost", "model", "demo"}
"""What a row takes from the engine's :class:`~app.api.MissionInfo`; the rest changes live."""


def cost_text(cost: float | None) -> str:
    """``"$0.42"``, ``"< $0.01"``, or empty when the price is unknown."""
    if cost is None:
        return ""
    return "< $0.01" if 0 < cost < 0.01 else f"${cost:,.2f}"


def _title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 80 else line[:77] + "…"


@dataclass
class MissionRow:
    """What the missions list shows of a mission, kept current by its events."""

    id: str
    title: str
    status: str
    started_at: datetime
    tokens: int = 0
    cost: float | None = None
    model: str = ""
    waiting_question: bool = False
    demo: bool = False  # the demo mission (app/demo.py): a scripted model, made-up files

    @classmethod
    def of(cls, info: MissionInfo) -> MissionRow:
        """The row of a mission the engine listed."""
        return cls(**info.model_dump(include=_ROW_FIELDS))

    def line(self) -> str:
        """The second line of its list entry."""
        parts = [
            STATUS_WORDS.get(self.status, self.status),
            self.started_at.astimezone().strftime("%d %b %H:%M"),
        ]
        if self.tokens:
            parts.append(f"{self.tokens:,} tokens")
        if self.cost is not None and self.tokens:
            parts.append(cost_text(self.cost))
        if self.waiting_question:
            parts.insert(0, "? Question for you")
        return " · ".join(parts)


class _MissionDelegate(QStyledItemDelegate):
    """Two lines per mission: its title, and its status, start time, tokens and cost."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        height = option.fontMetrics.height()
        return QSize(200, int(height * 2.6) + 12)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        title, line = opt.text, str(index.data(ROLE_LINE) or "")
        opt.text = ""
        style = opt.widget.style() if opt.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        rect: QRect = opt.rect.adjusted(10, 6, -10, -6)
        painter.save()
        font = opt.font
        font.setBold(True)
        painter.setFont(font)
        if selected:
            painter.setPen(opt.palette.highlightedText().color())
        metrics = painter.fontMetrics()
        painter.drawText(
            rect.adjusted(0, 0, 0, -rect.height() // 2),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            metrics.elidedText(title, Qt.TextElideMode.ElideRight, rect.width()),
        )
        font.setBold(False)
        painter.setFont(font)
        colour = opt.palette.highlightedText().color() if selected else opt.palette.placeholderText().color()
        painter.setPen(colour)
        painter.drawText(
            rect.adjusted(0, rect.height() // 2, 0, 0),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            painter.fontMetrics().elidedText(line, Qt.TextElideMode.ElideRight, rect.width()),
        )
        painter.restore()


class MissionsList(QObject):
    """The missions pane's controller: its widget (:attr:`panel`) and what it shows.

    Signals:
        selected(object): The person picked a mission in the list (its id).
        changed(list): These missions' rows changed (status, tokens, a question): their ids.
        finished(object): A mission ended (its :class:`MissionRow`).
        question_asked(object, str): A mission's lead asks the person something (its row, the
            question).
        more_wanted(int): The person scrolled to the end of a list that may go on: the next
            page of missions, from this offset, is wanted (see :meth:`load`).
    """

    selected = Signal(object)
    changed = Signal(list)
    finished = Signal(object)
    question_asked = Signal(object, str)
    more_wanted = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: dict[str, MissionRow] = {}
        self._items: dict[str, QListWidgetItem] = {}
        self._current: str | None = None
        self.has_more = False
        """Whether the last page the engine listed was full, so that more may follow."""
        self._fetching = False

        self.panel = QWidget()
        self.panel.setObjectName("missionsPanel")
        layout = QVBoxLayout(self.panel)
        layout.setContentsMargins(0, 10, 0, 0)
        layout.setSpacing(4)
        heading = QLabel("Missions")
        heading.setObjectName("paneTitle")
        heading.setAccessibleName("Missions")
        heading.setContentsMargins(12, 0, 12, 4)
        layout.addWidget(heading)
        self.list = QListWidget()
        self.list.setObjectName("missionList")
        self.list.setAccessibleName("Missions")
        self.list.setItemDelegate(_MissionDelegate(self.list))
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.currentItemChanged.connect(self.on_current_changed)
        # Rows all have the same height (the delegate's): the list need not measure each one.
        self.list.setUniformItemSizes(True)
        self.list.verticalScrollBar().valueChanged.connect(self.on_scrolled)
        layout.addWidget(self.list, 1)
        self.empty = QLabel("Your missions will be listed here.")
        self.empty.setObjectName("missionsEmpty")
        self.empty.setAccessibleName("No missions yet")
        self.empty.setProperty("muted", True)
        self.empty.setWordWrap(True)
        self.empty.setContentsMargins(12, 0, 12, 12)
        layout.addWidget(self.empty)

    # Reading ----------------------------------------------------------------------------------

    def get(self, mission_id: str) -> MissionRow | None:
        """What the list knows of a mission."""
        return self.rows.get(mission_id)

    def title(self, mission_id: str) -> str:
        """A mission's title, for cards."""
        row = self.rows.get(mission_id)
        return row.title if row else f"mission {mission_id}"

    def any_running(self) -> bool:
        """Whether a mission is running."""
        return any(row.status == "running" for row in self.rows.values())

    def busy(self, waiting: set[str]) -> list[MissionRow]:
        """The missions running or among ``waiting`` (a card waits for the person), newest first."""
        busy = [row for row in self.rows.values() if row.status == "running" or row.id in waiting]
        return sorted(busy, key=lambda row: row.started_at, reverse=True)

    # Filling -----------------------------------------------------------------------------------

    def load(self, infos: Iterable[MissionInfo]) -> None:
        """Adds a page of the missions the engine listed (those not listed yet).

        A full page (:data:`PAGE_SIZE`) may have more after it: scrolling to its end asks for
        them (:attr:`more_wanted`). A page older than every row (the next page, as scrolling
        asks for it) is appended; anything else sorts the list again.
        """
        page = list(infos)
        self.has_more = len(page) >= PAGE_SIZE
        self._fetching = False
        oldest = self._oldest()
        added = sorted(
            (MissionRow.of(info) for info in page if info.id not in self.rows),
            key=lambda row: row.started_at,
            reverse=True,
        )
        self.list.setUpdatesEnabled(False)
        try:
            for row in added:
                self._add(row, at_top=False)
            if oldest is not None and any(row.started_at > oldest for row in added):
                self._sort()
        finally:
            self.list.setUpdatesEnabled(True)
        self.empty.setVisible(not self.rows)

    def _oldest(self) -> datetime | None:
        """When the last row's mission started, or None for an empty list."""
        item = self.list.item(self.list.count() - 1)
        row = self.rows.get(item.data(ROLE_MISSION)) if item is not None else None
        return row.started_at if row is not None else None

    def on_scrolled(self, _value: int = 0) -> None:
        """Asks for the next page once the end of the list comes into view."""
        if not self.has_more or self._fetching:
            return
        bar = self.list.verticalScrollBar()
        last = self.list.item(self.list.count() - 1)
        near_end = bar.maximum() - bar.value() <= MORE_MARGIN * max(1, bar.singleStep())
        shown = last is not None and self.list.visualItemRect(last).intersects(self.list.viewport().rect())
        if near_end or shown:
            self._fetching = True
            self.more_wanted.emit(len(self.rows))

    def apply(self, events: Iterable[AnyEvent]) -> None:
        """Keeps the rows current with a batch of events (of any mission)."""
        from app import api

        dirty: dict[str, None] = {}
        for event in events:
            if isinstance(event, api.TextDelta) or not event.mission_id:
                continue
            row = self.rows.get(event.mission_id)
            if isinstance(event, api.MissionStarted):
                if row is None:
                    row = MissionRow(
                        id=event.mission_id,
                        title=_title(event.text or event.summary),
                        status="running",
                        started_at=event.at,
                        model=event.model,
                        demo=event.demo,
                    )
                    self._add(row, at_top=True)
                continue
            if row is None:
                continue
            match event:
                case api.ModelCallMade():
                    row.tokens = event.mission_tokens or row.tokens
                    cost = event.cost
                    if cost is not None:
                        row.cost = (row.cost or 0.0) + cost
                case api.MissionFinished():
                    row.status = event.status
                    row.waiting_question = False
                    self.finished.emit(row)
                case api.MissionContinued() | api.MissionResumed():
                    row.status = "running"
                case api.QuestionAsked():
                    row.waiting_question = True
                    self.question_asked.emit(row, event.question or event.summary)
                case api.QuestionAnswered():
                    row.waiting_question = False
                case _:
                    continue
            dirty[row.id] = None
        for mission_id in dirty:
            self._refresh(self.rows[mission_id])
        if dirty:
            self.changed.emit(list(dirty))

    def _add(self, row: MissionRow, *, at_top: bool) -> None:
        self.rows[row.id] = row
        item = QListWidgetItem(row.title)
        item.setData(ROLE_MISSION, row.id)
        if at_top:
            self.list.insertItem(0, item)
        else:
            self.list.addItem(item)
        self._items[row.id] = item
        self._refresh(row)
        self.empty.hide()
        if row.id == self._current:  # shown before its first event arrived
            self.select(row.id)

    def _refresh(self, row: MissionRow) -> None:
        item = self._items.get(row.id)
        if item is None:
            return
        line = row.line()
        item.setText(row.title)
        item.setData(ROLE_LINE, line)
        item.setData(ROLE_STATUS, row.status)
        item.setToolTip(f"{row.title}\n{line}")
        item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{row.title}. {line}")

    def _sort(self) -> None:
        order = sorted(self.rows.values(), key=lambda row: row.started_at, reverse=True)
        self.list.blockSignals(True)
        for row in order:
            item = self._items[row.id]
            self.list.takeItem(self.list.row(item))
            self.list.addItem(item)
        if self._current in self._items:
            self.list.setCurrentItem(self._items[self._current])
        self.list.blockSignals(False)
        self.empty.setVisible(not self.rows)

    # Selection ---------------------------------------------------------------------------------

    def select(self, mission_id: str | None) -> None:
        """Highlights a mission (None: none), without saying so through :attr:`selected`."""
        self._current = mission_id
        item = self._items.get(mission_id) if mission_id is not None else None
        if item is not None and self.list.currentItem() is item:
            return
        self.list.blockSignals(True)
        if item is None:
            self.list.setCurrentRow(-1)
            self.list.clearSelection()
        else:
            self.list.setCurrentItem(item)
        self.list.blockSignals(False)

    def on_current_changed(self, current: QListWidgetItem | None, _previous: object = None) -> None:
        mission_id = current.data(ROLE_MISSION) if current is not None else None
        if mission_id != self._current:
            self._current = mission_id
            self.selected.emit(mission_id)
