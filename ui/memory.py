"""The Memory pane: what the lead remembers for the person, to read, add, change and remove.

Each item is a sentence ("sign emails as Ana") with where it applies (all missions, or the
missions of one folder) and where it came from (added here, or approved on a card). The
dialog only shows and asks; :func:`open_memory` makes the engine calls through the bridge
(off the GUI thread) and hands the dialog the items again when they change.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGroupBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui.widgets import button_row, muted, named_button

if TYPE_CHECKING:
    from collections.abc import Sequence

    from app.api import MemoryItem
    from ui.bridge import Bridge

ALL_MISSIONS = "All missions"


class MemoryDialog(QDialog):
    """Lists the memory; adds, edits and removes items.

    Args:
        folders: The folders offered for "only for missions in this folder".

    Signals:
        add_requested(str, object): The text, and the folder (None: every mission).
        edit_requested(str, str): The item's id and its new text.
        remove_requested(str): Remove the item with this id.
    """

    add_requested = Signal(str, object)
    edit_requested = Signal(str, str)
    remove_requested = Signal(str)

    def __init__(self, folders: Sequence[Path | str] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("memoryDialog")
        self.setWindowTitle("Memory")
        self.setAccessibleName("Memory")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self._fit_screen(parent)
        self.items: list[MemoryItem] = []
        self.editing: str | None = None
        """The id of the item being changed, or None while adding."""

        layout = QVBoxLayout(self)
        layout.addWidget(
            muted(
                "What the lead remembers for you, read at the start of each mission it applies to. "
                "Only you add to it: here, or by approving the lead's suggestion on a card. "
                "Addresses and sites written here count as ones you know. Never keep passwords here.",
                "memoryIntro",
            )
        )
        self.table = QTableWidget(0, 3)
        self.table.setObjectName("memoryTable")
        self.table.setAccessibleName("Remembered items")
        self.table.setHorizontalHeaderLabels(["Remembered", "Applies to", "From"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.table.itemDoubleClicked.connect(lambda _item: self.on_edit_clicked())
        layout.addWidget(self.table, 1)
        self.empty_label = muted("Nothing remembered yet.", "memoryEmpty")
        layout.addWidget(self.empty_label)
        self.edit_button = named_button("Change…", "editMemoryButton", "Change the selected item")
        self.edit_button.clicked.connect(self.on_edit_clicked)
        self.remove_button = named_button("Forget", "removeMemoryButton", "Forget the selected item")
        self.remove_button.clicked.connect(self.on_remove_clicked)
        layout.addWidget(button_row(self.edit_button, self.remove_button))

        self.box = QGroupBox("Remember something new")
        self.box.setObjectName("addMemoryBox")
        box_layout = QVBoxLayout(self.box)
        self.text_input = QLineEdit()
        self.text_input.setObjectName("memoryTextInput")
        self.text_input.setAccessibleName("What to remember")
        self.text_input.setPlaceholderText("e.g. Sign emails as Ana")
        self.text_input.textChanged.connect(self._on_text_changed)
        self.text_input.returnPressed.connect(self.on_save_clicked)
        box_layout.addWidget(self.text_input)
        self.scope_combo = QComboBox()
        self.scope_combo.setObjectName("memoryScopeCombo")
        self.scope_combo.setAccessibleName("Applies to")
        self.scope_combo.addItem(ALL_MISSIONS, None)
        for folder in folders:
            self._add_folder(str(folder))
        self.folder_button = named_button(
            "Another folder…", "memoryFolderButton", "Choose another folder it applies to"
        )
        self.folder_button.clicked.connect(self.on_folder_clicked)
        self.error_label = QLabel()
        self.error_label.setObjectName("memoryError")
        self.error_label.setAccessibleName("Problem with the item")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        self.save_button = named_button("Remember", "saveMemoryButton", "Remember it")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.on_save_clicked)
        self.cancel_button = named_button("Cancel change", "cancelMemoryEditButton", "Cancel the change")
        self.cancel_button.clicked.connect(self.stop_editing)
        self.cancel_button.hide()
        box_layout.addWidget(button_row(self.scope_combo, self.folder_button))
        box_layout.addWidget(self.error_label)
        box_layout.addWidget(button_row(self.save_button, self.cancel_button))
        layout.addWidget(self.box)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.set_items([])

    # Showing ---------------------------------------------------------------------------------

    def set_items(self, items: Sequence[MemoryItem]) -> None:
        """Shows these items (the newest first), keeping the selection where it can."""
        selected = self.selected_id()
        self.items = list(items)
        self.table.setRowCount(len(self.items))
        for row, item in enumerate(self.items):
            for column, value in enumerate((item.text, item.scope, item.source)):
                cell = QTableWidgetItem(value)
                cell.setData(Qt.ItemDataRole.UserRole, item.id)
                cell.setToolTip(value)
                self.table.setItem(row, column, cell)
            if item.id == selected:
                self.table.selectRow(row)
        self.table.resizeRowsToContents()
        self.table.setVisible(bool(self.items))
        self.empty_label.setVisible(not self.items)
        self._on_selection()

    def selected_id(self) -> str | None:
        """The id of the selected item, or None."""
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        cell = self.table.item(rows[0].row(), 0)
        return str(cell.data(Qt.ItemDataRole.UserRole)) if cell is not None else None

    def show_error(self, text: str) -> None:
        """Says why the item could not be kept (in the person's words already)."""
        self.error_label.setText(text)
        self.error_label.show()
        self.save_button.setEnabled(bool(self.text_input.text().strip()))

    def on_saved(self) -> None:
        """The item was kept: the form is emptied for the next one."""
        self.stop_editing()

    # Asking ----------------------------------------------------------------------------------

    def on_save_clicked(self) -> None:
        text = self.text_input.text().strip()
        if not text:
            return
        self.error_label.hide()
        self.save_button.setEnabled(False)
        if self.editing is not None:
            self.edit_requested.emit(self.editing, text)
        else:
            self.add_requested.emit(text, self.scope_combo.currentData())

    def on_edit_clicked(self) -> None:
        memory_id = self.selected_id()
        item = next((i for i in self.items if i.id == memory_id), None)
        if item is None:
            return
        self.editing = item.id
        self.box.setTitle("Change what is remembered")
        self.text_input.setText(item.text)
        self.scope_combo.setEnabled(False)
        self.folder_button.setEnabled(False)
        self.save_button.setText("Save change")
        self.save_button.setAccessibleName("Save the change")
        self.cancel_button.show()
        self.text_input.setFocus()

    def stop_editing(self) -> None:
        """Back to adding a new item, with an empty form."""
        self.editing = None
        self.box.setTitle("Remember something new")
        self.text_input.clear()
        self.error_label.hide()
        self.scope_combo.setEnabled(True)
        self.folder_button.setEnabled(True)
        self.save_button.setText("Remember")
        self.save_button.setAccessibleName("Remember it")
        self.cancel_button.hide()

    def on_remove_clicked(self) -> None:
        memory_id = self.selected_id()
        if memory_id is not None:
            if memory_id == self.editing:
                self.stop_editing()
            self.remove_requested.emit(memory_id)

    def on_folder_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Only for missions in this folder")
        if folder:
            self.choose_folder(folder)

    def choose_folder(self, folder: str) -> None:
        """Offers a folder (if it is not offered yet) and picks it."""
        index = self.scope_combo.findData(folder)
        if index < 0:
            index = self._add_folder(folder)
        self.scope_combo.setCurrentIndex(index)

    def _add_folder(self, folder: str) -> int:
        self.scope_combo.addItem(f"Missions in {Path(folder).name or folder}", folder)
        index = self.scope_combo.count() - 1
        self.scope_combo.setItemData(index, folder, Qt.ItemDataRole.ToolTipRole)
        return index

    def _on_selection(self) -> None:
        chosen = self.selected_id() is not None
        self.edit_button.setEnabled(chosen)
        self.remove_button.setEnabled(chosen)

    def _on_text_changed(self, text: str) -> None:
        self.save_button.setEnabled(bool(text.strip()))

    def _fit_screen(self, parent: QWidget | None) -> None:
        """720 by 520, or less on a small screen (the list shrinks first)."""
        screen = parent.screen() if parent is not None else QGuiApplication.primaryScreen()
        width, height = 720, 520
        if screen is not None:
            room = screen.availableGeometry()
            width, height = min(width, room.width() - 40), min(height, room.height() - 60)
        self.resize(max(width, 320), max(height, 280))


def open_memory(parent: QWidget, bridge: Bridge, folders: Sequence[Path | str] = ()) -> MemoryDialog:
    """Opens the Memory pane (window-modal, without blocking), or returns the open one; its
    requests go to the engine through ``bridge``.

    Args:
        parent: The window.
        bridge: The engine's bridge.
        folders: Folders offered for "only for missions in this folder".

    Returns:
        The dialog.
    """
    for found in parent.findChildren(MemoryDialog):
        if found.isVisible():
            return found
        found.deleteLater()
    dialog = MemoryDialog(folders, parent)

    def reload() -> None:
        bridge.read(lambda e: e.list_memory(), dialog.set_items, what="list the memory")

    def saved(_item: object) -> None:
        dialog.on_saved()
        reload()

    def failed(exc: BaseException) -> None:
        dialog.show_error(str(exc))

    dialog.add_requested.connect(
        lambda text, folder: bridge.call(
            lambda e: e.add_memory(text, folder), saved, what="remember it", on_error=failed
        )
    )
    dialog.edit_requested.connect(
        lambda memory_id, text: bridge.call(
            lambda e: e.edit_memory(memory_id, text), saved, what="change the item", on_error=failed
        )
    )
    dialog.remove_requested.connect(
        lambda memory_id: bridge.call(
            lambda e: e.remove_memory(memory_id),
            lambda _item: reload(),
            what="forget the item",
            on_error=lambda _exc: reload(),
        )
    )
    dialog.open()
    reload()
    return dialog
