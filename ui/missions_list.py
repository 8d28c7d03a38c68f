"""The missions pane: every mission, newest first, with its status, start time, tokens and cost.

It is filled from the engine's read model (:class:`app.api.MissionInfo`) and kept current by
the typed events; it says which mission the person picked, and when one ends or asks something.

The person finds old missions with its search field (their title or what was asked; Ctrl+F),
shows the archived ones with "Show archived", and renames (F2), archives and deletes (Delete)
missions from the keyboard or the list's context menu. Deleting asks first, and keeps the
mission's audit (the record of what was done) unless the person ticks that it goes too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QAbstractItemModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import datetime

    from PySide6.QtGui import QPainter

    from app.api import AnyEvent, MissionInfo
    from ui.bridge import Bridge

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


SEARCH_DELAY_MS = 200
"""How long the search waits after the last key before it asks the engine."""
DELETE_AUDIT_TEXT = "Also delete its audit (the record of what was done)"
"""The delete confirmation's checkbox, unticked: without it the audit is kept."""

_ROW_FIELDS = {
    "id",
    "title",
    "status",
    "started_at",
    "tokens",
    "cost",
    "model",
    "demo",
    "on_cluster",
    "archived",
}
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
    on_cluster: bool = False  # it runs on the team's Temporal cluster (docs/temporal.md)
    archived: bool = False  # the person archived it: listed only with "Show archived"

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
        if self.on_cluster:
            parts.append("on the team's cluster")
        if self.waiting_question:
            parts.insert(0, "? Question for you")
        if self.archived:
            parts.insert(0, "Archived")
        return " · ".join(parts)


class _MissionDelegate(QStyledItemDelegate):
    """Two lines per mission: its title, and its status, start time, tokens and cost.

    Renaming (F2) edits the title in place; the new title goes to ``on_rename`` (the mission's
    id, the text typed), not into the list, which shows it once it is taken.
    """

    def __init__(self, parent: QObject, on_rename: Callable[[str, str], None]) -> None:
        super().__init__(parent)
        self._on_rename = on_rename

    def createEditor(
        self, parent: QWidget, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QWidget:
        editor = QLineEdit(parent)
        editor.setObjectName("missionRenameEditor")
        editor.setAccessibleName("New name of the mission")
        editor.setToolTip("Type the new name, then press Enter (Esc leaves it as it was)")
        return editor

    def setEditorData(self, editor: QWidget, index: QModelIndex | QPersistentModelIndex) -> None:
        if isinstance(editor, QLineEdit):
            editor.setText(str(index.data(Qt.ItemDataRole.DisplayRole) or ""))
            editor.selectAll()

    def updateEditorGeometry(
        self, editor: QWidget, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        rect: QRect = option.rect.adjusted(6, 3, -6, -3)
        height = min(rect.height(), max(editor.sizeHint().height(), option.fontMetrics.height() + 8))
        editor.setGeometry(rect.x(), rect.y(), rect.width(), height)

    def setModelData(
        self, editor: QWidget, model: QAbstractItemModel, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        if isinstance(editor, QLineEdit):
            self._on_rename(str(index.data(ROLE_MISSION) or ""), editor.text())

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

    :attr:`rows` holds every mission the pane knows (the window reads titles and states from
    it); the list shows those of the current search and "Show archived", a page at a time.

    Args:
        parent: Its Qt parent (the window).
        bridge: The engine, through which it searches, pages, renames, archives and deletes;
            without one the list only shows what :meth:`load` and :meth:`apply` give it.

    Signals:
        selected(object): The person picked a mission in the list (its id), or None when the
            mission shown was deleted or archived and no other is left in the list.
        changed(list): These missions' rows changed (status, tokens, a question, a title):
            their ids.
        finished(object): A mission ended (its :class:`MissionRow`).
        question_asked(object, str): A mission's lead asks the person something (its row, the
            question).
        more_wanted(int): The person scrolled to the end of a list that may go on: the next
            page of missions, from this offset, is wanted (the pane reads it itself through
            its bridge).
        deleted(str): A mission was deleted (its id).
    """

    selected = Signal(object)
    changed = Signal(list)
    finished = Signal(object)
    question_asked = Signal(object, str)
    more_wanted = Signal(int)
    deleted = Signal(str)

    def __init__(self, parent: QObject | None = None, bridge: Bridge | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.rows: dict[str, MissionRow] = {}
        self._items: dict[str, QListWidgetItem] = {}
        self._current: str | None = None
        self.has_more = False
        """Whether the last page the engine listed was full, so that more may follow."""
        self._fetching = False
        self._generation = 0  # bumped by every new search: older answers are dropped
        self._asked: tuple[str, bool] = ("", False)  # the search and toggle the list shows
        self._waiting_for_engine = False  # a search typed before the engine was ready
        self.confirm_box: QMessageBox | None = None
        """The delete confirmation on screen, if any (for tests and accessibility tools)."""

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

        self.search = QLineEdit()
        self.search.setObjectName("missionSearch")
        self.search.setAccessibleName("Search missions")
        self.search.setPlaceholderText("Search missions")
        self.search.setToolTip("Find missions by their name or by what you asked (Ctrl+F; Esc clears)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.on_search_typed)
        self.search.installEventFilter(self)
        self.show_archived = QCheckBox("Show archived")
        self.show_archived.setObjectName("showArchived")
        self.show_archived.setAccessibleName("Show archived missions")
        self.show_archived.setToolTip("List the missions you archived too")
        self.show_archived.toggled.connect(self.on_show_archived)
        for control in (self.search, self.show_archived):
            box = QWidget()
            row_layout = QVBoxLayout(box)
            row_layout.setContentsMargins(8, 0, 8, 0)
            row_layout.addWidget(control)
            layout.addWidget(box)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.run_search)
        find = QShortcut(QKeySequence(QKeySequence.StandardKey.Find), self.panel)
        find.setObjectName("shortcut Search missions")
        find.setContext(Qt.ShortcutContext.WindowShortcut)
        find.activated.connect(self.focus_search)

        self.list = QListWidget()
        self.list.setObjectName("missionList")
        self.list.setAccessibleName("Missions")
        self.list.setItemDelegate(_MissionDelegate(self.list, self.rename))
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # F2 (or Rename in the menu) edits a title in place; a double click only opens it.
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.list.currentItemChanged.connect(self.on_current_changed)
        # Rows all have the same height (the delegate's): the list need not measure each one.
        self.list.setUniformItemSizes(True)
        self.list.verticalScrollBar().valueChanged.connect(self.on_scrolled)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self.on_context_menu)
        layout.addWidget(self.list, 1)
        self.rename_action = self._action("Rename…", "F2", self.rename_current, "renameMission")
        self.archive_action = self._action("Archive", "", self.archive_current, "archiveMission")
        self.delete_action = self._action("Delete…", "Delete", self.delete_current, "deleteMission")
        self.empty = QLabel("Your missions will be listed here.")
        self.empty.setObjectName("missionsEmpty")
        self.empty.setAccessibleName("No missions yet")
        self.empty.setProperty("muted", True)
        self.empty.setWordWrap(True)
        self.empty.setContentsMargins(12, 0, 12, 12)
        layout.addWidget(self.empty)
        if bridge is not None:
            self.more_wanted.connect(self.fetch_more)

    def _action(self, text: str, keys: str, slot: Callable[[], None], name: str) -> QAction:
        """An action on the selected mission: in the context menu, and by its key in the list."""
        action = QAction(text, self.list)
        action.setObjectName(name)
        if keys:
            action.setShortcut(QKeySequence(keys))
            action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        action.triggered.connect(slot)
        self.list.addAction(action)
        return action

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

    def shown_ids(self) -> list[str]:
        """The ids of the missions the list shows, top to bottom."""
        return [str(self.list.item(i).data(ROLE_MISSION)) for i in range(self.list.count())]

    # Filling -----------------------------------------------------------------------------------

    def load(self, infos: Iterable[MissionInfo]) -> None:
        """Adds a page of the missions the engine listed (those not listed yet), by default
        (no search, archived left out): the window's first page.

        A full page (:data:`PAGE_SIZE`) may have more after it: scrolling to its end asks for
        them (:attr:`more_wanted`). A page older than every row (the next page, as scrolling
        asks for it) is appended; anything else sorts the list again. While the person searches
        or shows the archived missions, such a page is not what the list shows: the search is
        run again instead (it was typed before the engine was ready).
        """
        waiting, self._waiting_for_engine = self._waiting_for_engine, False
        if self._asked != ("", False):
            if waiting:  # the engine is ready now
                self._read_page(0)
            return
        self._add_page(list(infos))

    def _add_page(self, page: list[MissionInfo]) -> None:
        self.has_more = len(page) >= PAGE_SIZE
        self._fetching = False
        oldest = self._oldest()
        added: list[MissionRow] = []
        for info in page:
            if info.id in self._items:
                continue
            known = self.rows.get(info.id)
            if known is None:
                added.append(MissionRow.of(info))
            else:  # seen before (another search): its live state stays, its name may be new
                known.title, known.archived = info.title, info.archived
                added.append(known)
        added.sort(key=lambda row: row.started_at, reverse=True)
        self.list.setUpdatesEnabled(False)
        try:
            for row in added:
                self._add(row, at_top=False)
            if oldest is not None and any(row.started_at > oldest for row in added):
                self._sort()
        finally:
            self.list.setUpdatesEnabled(True)
        self._update_empty()

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
            self.more_wanted.emit(self.list.count())

    def fetch_more(self, offset: int) -> None:
        """Reads the next page of the current search from ``offset``, in a worker thread."""
        self._read_page(offset)

    def _read_page(self, offset: int) -> None:
        bridge = self._bridge
        if bridge is None:
            return
        search, archived = self._asked
        generation = self._generation

        def page(infos: list[MissionInfo]) -> None:
            if generation != self._generation:
                return  # the person searched for something else since
            if offset == 0:
                self._clear_list()
            self._add_page(infos)

        bridge.read(
            lambda e: e.list_missions(
                limit=PAGE_SIZE, offset=offset, search=search or None, archived=None if archived else False
            ),
            page,
            what="search the missions" if search else "list the missions",
        )

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
                        on_cluster=event.on_cluster,
                    )
                    self.rows[row.id] = row
                    if self._matches(f"{row.title}\n{event.text}"):
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
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
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
        shown = (self.rows[mission_id] for mission_id in self._items)
        order = sorted(shown, key=lambda row: row.started_at, reverse=True)
        self.list.blockSignals(True)
        for row in order:
            item = self._items[row.id]
            self.list.takeItem(self.list.row(item))
            self.list.addItem(item)
        if self._current in self._items:
            self.list.setCurrentItem(self._items[self._current])
        self.list.blockSignals(False)
        self._update_empty()

    def _clear_list(self) -> None:
        """Empties the list (not :attr:`rows`), without saying the selection changed."""
        self.list.blockSignals(True)
        self.list.clear()
        self.list.blockSignals(False)
        self._items.clear()

    def _update_empty(self) -> None:
        search, archived = self._asked
        if self.list.count():
            self.empty.hide()
            return
        if search:
            words, name = f"No missions match “{search}”.", "No missions match"
        elif archived:
            words, name = "No missions yet.", "No missions yet"
        else:
            words, name = "Your missions will be listed here.", "No missions yet"
        self.empty.setText(words)
        self.empty.setAccessibleName(name)
        self.empty.show()

    # Searching ---------------------------------------------------------------------------------

    def _query(self) -> tuple[str, bool]:
        return " ".join(self.search.text().split()), self.show_archived.isChecked()

    def _matches(self, text: str) -> bool:
        """Whether a new mission belongs in the list as it is searched now (as the engine
        matches: the words typed, anywhere in its title or text, in any case)."""
        search = self._asked[0].replace("%", "").replace("_", "")
        return not search or search.casefold() in text.casefold()

    def on_search_typed(self, _text: str = "") -> None:
        """Searches once the person stops typing for :data:`SEARCH_DELAY_MS`."""
        self._search_timer.start()

    def on_show_archived(self, _checked: bool = False) -> None:
        """Lists the archived missions too, or leaves them out again."""
        self.run_search()

    def run_search(self) -> None:
        """Lists the missions of the search typed and the "Show archived" toggle, from the top,
        read by the engine in a worker thread (not before the engine is ready)."""
        self._search_timer.stop()
        if self._bridge is None or self._query() == self._asked:
            return
        self._asked = self._query()
        self._generation += 1
        self.has_more = False
        self._fetching = True
        if self._bridge.engine is None:
            self._waiting_for_engine = True  # the window's first page (load) runs it then
            return
        self._waiting_for_engine = False
        self._read_page(0)

    def focus_search(self) -> None:
        """Puts the keyboard in the search field, its text selected (Ctrl+F)."""
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """In the search field: Esc clears it (then leaves it for the list), Down goes to the
        list."""
        if watched is self.search and isinstance(event, QKeyEvent):
            key = event.key()
            if key == Qt.Key.Key_Escape and event.modifiers() == Qt.KeyboardModifier.NoModifier:
                if event.type() == QEvent.Type.ShortcutOverride:
                    event.accept()  # the field's, not a window shortcut's
                    return True
                if event.type() == QEvent.Type.KeyPress:
                    if self.search.text():
                        self.search.clear()
                        self.run_search()
                    else:
                        self.list.setFocus(Qt.FocusReason.OtherFocusReason)
                    return True
            if key == Qt.Key.Key_Down and event.type() == QEvent.Type.KeyPress and self.list.count():
                self.list.setFocus(Qt.FocusReason.TabFocusReason)
                if self.list.currentRow() < 0:
                    self.list.setCurrentRow(0)
                return True
        return super().eventFilter(watched, event)

    # Renaming, archiving, deleting ---------------------------------------------------------------

    def _current_row(self) -> MissionRow | None:
        item = self.list.currentItem()
        return self.rows.get(item.data(ROLE_MISSION)) if item is not None else None

    def on_context_menu(self, position: QPoint) -> None:
        """Opens the menu of the mission under the pointer (or the selected one, from the
        keyboard's menu key)."""
        item = self.list.itemAt(position)
        if item is not None:
            self.list.setCurrentItem(item)
        elif self.list.currentItem() is not None:
            position = self.list.visualItemRect(self.list.currentItem()).center()
        menu = self.context_menu()
        if menu is not None:
            menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            menu.popup(self.list.viewport().mapToGlobal(position))

    def context_menu(self) -> QMenu | None:
        """The selected mission's menu: rename, archive or unarchive, delete (None without one)."""
        row = self._current_row()
        if row is None:
            return None
        menu = QMenu(self.list)
        menu.setObjectName("missionMenu")
        menu.setAccessibleName(f"What to do with “{row.title}”")
        self._update_actions(row)
        for action in (self.rename_action, self.archive_action, self.delete_action):
            menu.addAction(action)
        return menu

    def _update_actions(self, row: MissionRow) -> None:
        self.archive_action.setText("Unarchive" if row.archived else "Archive")

    def rename_current(self) -> None:
        """Edits the selected mission's name in place (F2)."""
        item = self.list.currentItem()
        if item is not None:
            self.list.scrollToItem(item)
            self.list.editItem(item)

    def rename(self, mission_id: str, text: str) -> None:
        """Gives a mission the name typed: shown at once, taken back if the engine refuses."""
        row = self.rows.get(mission_id)
        new = _title(text)
        if row is None or not new or new == row.title or self._bridge is None:
            return
        old = row.title
        self._set_title(row, new)

        def failed(_error: BaseException) -> None:
            if row.title == new:
                self._set_title(row, old)

        self._bridge.call(
            lambda e: e.rename_mission(mission_id, new),
            lambda info: self._set_title(row, info.title),
            what="rename the mission",
            on_error=failed,
        )

    def _set_title(self, row: MissionRow, title: str) -> None:
        if row.title == title:
            return
        row.title = title
        self._refresh(row)
        self.changed.emit([row.id])

    def archive_current(self) -> None:
        """Archives the selected mission (or brings an archived one back)."""
        row = self._current_row()
        if row is None or self._bridge is None:
            return
        archived = not row.archived
        if archived and row.status == "running":
            self._say_running(row, "archive")
            return

        def done(info: MissionInfo) -> None:
            row.archived = info.archived
            if row.archived and not self.show_archived.isChecked():
                self._take(row.id)
            else:
                self._refresh(row)
            self.changed.emit([row.id])

        self._bridge.call(
            lambda e: e.archive_mission(row.id, archived),
            done,
            what="archive the mission" if archived else "bring the mission back from the archive",
        )

    def delete_current(self) -> None:
        """Asks whether to delete the selected mission, and whether its audit goes too."""
        row = self._current_row()
        if row is None or self._bridge is None:
            return
        if row.status == "running":
            self._say_running(row, "delete")
            return
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Delete mission",
            f"Delete “{row.title}”?",
            QMessageBox.StandardButton.NoButton,
            self.panel.window(),
        )
        box.setObjectName("deleteMissionBox")
        box.setAccessibleName("Delete mission")
        box.setInformativeText(
            "Its chat and the agents' working notes are removed, and it leaves the list. Its audit "
            "(the record of what was done) is kept, so you can still look at it and undo its "
            "changes, unless you tick the box below."
        )
        forget = QCheckBox(DELETE_AUDIT_TEXT)
        forget.setObjectName("deleteAuditCheck")
        forget.setAccessibleName(DELETE_AUDIT_TEXT)
        box.setCheckBox(forget)
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        delete.setObjectName("confirmDeleteButton")
        delete.setAccessibleName("Delete the mission")
        keep = box.addButton("Keep it", QMessageBox.ButtonRole.RejectRole)
        keep.setObjectName("cancelDeleteButton")
        keep.setAccessibleName("Keep the mission")
        box.setDefaultButton(keep)
        box.setEscapeButton(keep)
        mission_id = row.id

        def answered(_result: int) -> None:
            self.confirm_box = None
            if box.clickedButton() is delete:
                self._delete(mission_id, keep_audit=not forget.isChecked())
            self.list.setFocus(Qt.FocusReason.OtherFocusReason)

        box.finished.connect(answered)
        self.confirm_box = box
        box.open()

    def _delete(self, mission_id: str, *, keep_audit: bool) -> None:
        if self._bridge is None:
            return

        def done(_said: str) -> None:
            self._take(mission_id)
            self.rows.pop(mission_id, None)
            self.deleted.emit(mission_id)

        self._bridge.call(
            lambda e: e.delete_mission(mission_id, keep_audit=keep_audit), done, what="delete the mission"
        )

    def _say_running(self, row: MissionRow, doing: str) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Information,
            "Mission still running",
            f"“{row.title}” is still running. Stop it first, then {doing} it.",
            QMessageBox.StandardButton.Ok,
            self.panel.window(),
        )
        box.setObjectName("missionRunningBox")
        box.setAccessibleName("Mission still running")
        self.confirm_box = box
        box.finished.connect(lambda _r: setattr(self, "confirm_box", None))
        box.open()

    def _take(self, mission_id: str) -> None:
        """Takes a mission out of the list; if it was the one shown, the next one is shown."""
        item = self._items.pop(mission_id, None)
        if item is None:
            return
        index = self.list.row(item)
        self.list.blockSignals(True)
        self.list.takeItem(index)
        after = self.list.item(min(index, self.list.count() - 1)) if mission_id == self._current else None
        if after is not None:
            self.list.setCurrentItem(after)
        self.list.blockSignals(False)
        if mission_id == self._current:
            self._current = str(after.data(ROLE_MISSION)) if after is not None else None
            self.selected.emit(self._current)
        self._update_empty()

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
        row = self.rows.get(mission_id) if mission_id is not None else None
        if row is not None:
            self._update_actions(row)
