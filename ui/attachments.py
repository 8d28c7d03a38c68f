"""Files attached to a message: the chips above the composer, dropping files on the chat, and
where the files go when the message is sent.

A mission's agents only see the files in its folders, so an attached file has to be in one:

- a **new** mission gets the folder of each file that is not already in one of its folders
  (:func:`for_new_mission`); nothing is copied;
- a mission that **exists** keeps the folders it started with, so each file is copied into its
  first folder (:func:`copy_into_mission`), under a free name ("report (2).pdf") when the name
  is taken: nothing is ever overwritten. The copy reads the file, so it runs off the GUI thread.

Either way the message sent to the engine names the files by path (:func:`message_text`) and
the chat says, in one line, what was done (:attr:`Outcome.note`).

A folder attached to a new mission is added to it as a folder the agents may use; a mission
that exists cannot take a folder (its folders cannot change): the person is told so.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QIcon, QImageReader, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.errors import EngineError
from ui.widgets import FlowLayout, WrapLabel

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from PySide6.QtCore import QMimeData


# Where the files go (no Qt: these run in any thread) --------------------------------------------


def tilde(path: Path) -> str:
    """A path as a person reads it: the home folder as ``~``."""
    try:
        return "~/" + path.relative_to(Path.home()).as_posix() if path != Path.home() else "~"
    except ValueError:
        return str(path)


def size_text(size: int) -> str:
    """A file's size in words a person reads: ``512 bytes``, ``14 KB``, ``1.2 MB``."""
    if size < 1000:
        return f"{size} byte{'s' if size != 1 else ''}"
    value = float(size)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"
    return f"{size} bytes"  # pragma: no cover - the loop always returns


def folder_holding(path: Path, folders: Iterable[Path]) -> Path | None:
    """The first of ``folders`` that ``path`` is inside (at any depth), or None."""
    for folder in folders:
        if path.is_relative_to(folder):
            return folder
    return None


@dataclass
class Outcome:
    """Where the attached files went.

    Attributes:
        files: The files as the agents find them (a copy's path for a copied file), in order.
        added: Folders added to a new mission for them.
        lines: What was done, one sentence each, for the chat.
    """

    files: list[Path] = field(default_factory=list)
    added: list[Path] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def note(self) -> str:
        """What was done, for the chat ("Added the folder ~/invoices to this mission")."""
        return "\n".join(self.lines)


def for_new_mission(files: Sequence[Path], folders: Sequence[Path]) -> Outcome:
    """Which folders a new mission needs on top of ``folders`` so that its agents see ``files``.

    Args:
        files: The attached files (absolute, resolved).
        folders: The folders the mission already gets.

    Returns:
        The files as they are, the folders to add, and what the chat says.
    """
    outcome = Outcome(files=list(files))
    known = [Path(f).expanduser().resolve() for f in folders]
    by_folder: dict[Path, list[str]] = {}
    for file in files:
        holder = folder_holding(file, known + outcome.added)
        if holder is None:
            outcome.added.append(file.parent)
            holder = file.parent
        by_folder.setdefault(holder, []).append(file.name)
    for folder, names in by_folder.items():
        listed = ", ".join(names)
        if folder in outcome.added:
            outcome.lines.append(f"Added the folder {tilde(folder)} to this mission (for {listed})")
        else:
            outcome.lines.append(f"{listed} {'is' if len(names) == 1 else 'are'} already in {tilde(folder)}")
    return outcome


def free_name(folder: Path, name: str) -> Path:
    """``folder / name``, or ``name (2)``, ``name (3)``… when it is taken (the suffix kept)."""
    target = folder / name
    stem, suffix = Path(name).stem, Path(name).suffix
    number = 1
    while target.exists() or target.is_symlink():
        number += 1
        target = folder / f"{stem} ({number}){suffix}"
    return target


def copy_new(source: Path, folder: Path) -> Path:
    """Copies ``source`` into ``folder`` under a free name; never overwrites a file.

    The copy streams (a big file is fine) and keeps the file's dates; a copy that fails half
    way is removed.

    Returns:
        The copy's path.
    """
    while True:
        target = free_name(folder, source.name)
        try:
            out = target.open("xb")  # fails if another copy took the name meanwhile
        except FileExistsError:
            continue
        try:
            with out, source.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
            shutil.copystat(source, target)
        except BaseException:
            # Whatever cut the copy short (a full disk, the window closing): no half-copied
            # file is left under the person's name; the same error goes on up.
            with contextlib.suppress(OSError):
                target.unlink()
            raise
        return target


def copy_into_mission(files: Sequence[Path], folders: Sequence[str | Path]) -> Outcome:
    """Copies ``files`` into a mission's first folder, except those already in its folders.

    Blocking (it reads the files): call it off the GUI thread.

    Args:
        files: The attached files.
        folders: The mission's folders.

    Returns:
        The files as the agents find them, and what the chat says.

    Raises:
        EngineError: The mission has no folder, or a file could not be copied; in words.
    """
    known = [Path(f) for f in folders]
    if not known:
        raise EngineError("This mission has no folder to copy the files into.")
    target = known[0]
    if not target.is_dir():
        raise EngineError(f"The folder {tilde(target)} of this mission no longer exists.")
    outcome = Outcome()
    for file in files:
        holder = folder_holding(file, known)
        if holder is not None:
            outcome.files.append(file)
            outcome.lines.append(f"{file.name} is already in {tilde(holder)}")
            continue
        try:
            copy = copy_new(file, target)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise EngineError(f"Could not copy {file.name} into {tilde(target)}: {reason}.") from exc
        outcome.files.append(copy)
        renamed = f" as {copy.name}" if copy.name != file.name else ""
        outcome.lines.append(f"Copied {file.name} into {tilde(target)}{renamed}")
    return outcome


def message_text(text: str, files: Sequence[Path]) -> str:
    """The message the engine gets: the person's words, then a line per attached file."""
    lines = [f"Attached: {file}" for file in files]
    return "\n\n".join(part for part in (text.strip(), "\n".join(lines)) if part)


def local_paths(mime: QMimeData) -> list[str]:
    """The local files and folders a drag carries (none for text or web addresses)."""
    if not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]


# The chips ---------------------------------------------------------------------------------------

DROP_TEXT = "Drop the files here to attach them to your message"


@cache
def attach_icon() -> QIcon:
    """The paper clip of an attached file (``resources/icons/attach.svg``), drawn rather than an
    emoji, which shows as a box without an emoji font; the style's file icon where SVG cannot
    be read. Call it once a QApplication exists."""
    formats = {bytes(f.data()).lower() for f in QImageReader.supportedImageFormats()}
    if b"svg" in formats:
        icon = QIcon(str(resources.files("resources").joinpath("icons", "attach.svg")))
        if not icon.isNull():
            return icon
    return QApplication.style().standardIcon(QStyle.StandardPixmap.SP_FileIcon)


def icon_label(size: int, parent: QWidget | None = None) -> QLabel:
    """A label showing :func:`attach_icon` at ``size`` (logical) pixels, sharp on any screen."""
    label = QLabel(parent)
    label.setObjectName("attachIcon")
    label.setAccessibleName("Attached file")
    label.setFixedSize(size, size)
    label.setPixmap(attach_icon().pixmap(QSize(size, size), label.devicePixelRatioF()))
    return label


@dataclass(frozen=True)
class Attachment:
    """An attached file, before the message goes.

    Attributes:
        path: The file (absolute, resolved).
        size: Its size in bytes.
    """

    path: Path
    size: int


class AttachmentChip(QFrame):
    """One attached file: its name and size, and a button to remove it (keyboard reachable).

    Signals:
        remove_requested(object): Its remove button was pressed (the chip's :class:`Attachment`).
    """

    remove_requested = Signal(object)

    def __init__(self, attachment: Attachment, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.attachment = attachment
        name = attachment.path.name
        size = size_text(attachment.size)
        self.setObjectName("attachmentChip")
        self.setAccessibleName(f"Attached file {name}, {size}")
        self.setToolTip(str(attachment.path))
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet(
            "#attachmentChip { border: 1px solid palette(mid); border-radius: 10px;"
            " background: palette(window); }"
        )
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 2, 4, 2)
        layout.setSpacing(4)
        self.icon = icon_label(max(12, self.fontMetrics().height() - 2))
        layout.addWidget(self.icon)
        self.label = _ElidedLabel(f"{name} · {size}")
        self.label.setObjectName("attachmentName")
        self.label.setAccessibleName(f"{name}, {size}")
        layout.addWidget(self.label)
        self.remove_button = QToolButton()
        self.remove_button.setObjectName("removeAttachmentButton")
        self.remove_button.setText("✕")
        self.remove_button.setAccessibleName(f"Remove {name}")
        self.remove_button.setToolTip(f"Remove {name} from the message")
        self.remove_button.setAutoRaise(True)
        self.remove_button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.remove_button.clicked.connect(lambda: self.remove_requested.emit(self.attachment))
        layout.addWidget(self.remove_button)


class _ElidedLabel(QLabel):
    """A one-line label that shortens its text in the middle when narrower than it (a long
    file name), so that a chip fits a narrow pane; it never asks for more than ``most`` pixels."""

    def __init__(self, text: str, most: int = 190) -> None:
        super().__init__(text)
        self._full = text
        self._most = most

    def full_text(self) -> str:
        """The text, never shortened."""
        return self._full

    def sizeHint(self) -> QSize:
        margins = self.contentsMargins()
        width = self.fontMetrics().horizontalAdvance(self._full) + margins.left() + margins.right() + 2
        return QSize(min(width, self._most), super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:
        hint = self.sizeHint()
        return QSize(min(hint.width(), self.fontMetrics().horizontalAdvance("x" * 10)), hint.height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideMiddle, self.width())
        if shown != self.text():
            self.setText(shown)


class AttachmentsRow(QWidget):
    """The files attached to the next message, as chips that wrap onto more lines, and a
    line saying what could not be attached.

    Signals:
        changed(): A file was attached or removed.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("attachments")
        self.setAccessibleName("Files attached to the message")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.chips = QWidget()
        self.chips.setObjectName("attachmentChips")
        self.chips.setAccessibleName("Attached files")
        self._flow = FlowLayout(self.chips)
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.chips.setSizePolicy(policy)
        layout.addWidget(self.chips)
        self.note = WrapLabel()
        self.note.setObjectName("attachmentNote")
        self.note.setAccessibleName("About the attached files")
        self.note.setProperty("muted", True)
        layout.addWidget(self.note)
        self._items: list[AttachmentChip] = []
        self._update()

    @property
    def attachments(self) -> list[Attachment]:
        """The files attached, in the order they were added."""
        return [chip.attachment for chip in self._items]

    def files(self) -> list[Path]:
        """The paths of the files attached."""
        return [a.path for a in self.attachments]

    def add_files(self, files: Iterable[Path]) -> None:
        """Attaches existing files (each once); says nothing."""
        have = set(self.files())
        for file in files:
            if file in have:
                continue
            have.add(file)
            try:
                size = file.stat().st_size
            except OSError:
                size = 0
            chip = AttachmentChip(Attachment(file, size))
            chip.remove_requested.connect(self.remove)
            self._items.append(chip)
            self._flow.addWidget(chip)
            chip.show()
        self._update()
        self.changed.emit()

    def remove(self, attachment: Attachment) -> None:
        """Removes a file from the message; the focus goes to the next chip's remove button, if any."""
        index = next((i for i, c in enumerate(self._items) if c.attachment == attachment), None)
        if index is None:
            return
        chip = self._items.pop(index)
        self._flow.removeWidget(chip)
        chip.hide()
        chip.deleteLater()
        if self._items:
            self._items[min(index, len(self._items) - 1)].remove_button.setFocus()
        self._update()
        self.changed.emit()

    def clear(self) -> None:
        """Removes every file, and the note."""
        for chip in self._items:
            self._flow.removeWidget(chip)
            chip.hide()
            chip.deleteLater()
        self._items = []
        self.note.clear()
        self._update()
        self.changed.emit()

    def say(self, text: str) -> None:
        """Shows a sentence under the chips (what could not be attached); empty: none."""
        self.note.setText(text)
        self._update()

    def _update(self) -> None:
        self.chips.setVisible(bool(self._items))
        self.note.setVisible(bool(self.note.text()))
        self.setVisible(bool(self._items) or bool(self.note.text()))
        self.chips.updateGeometry()


def sort_paths(paths: Iterable[str]) -> tuple[list[Path], list[Path], list[str]]:
    """Sorts what the person attached: files, folders, and sentences about what is neither.

    Reads no file's content (a big file is fine): only whether it is there.
    """
    files: list[Path] = []
    folders: list[Path] = []
    problems: list[str] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            folders.append(path.resolve())
        elif path.is_file():
            files.append(path.resolve())
        elif path.exists():
            problems.append(f"{path.name} is not a file that can be attached.")
        else:
            problems.append(f"{path.name or raw} does not exist (it may have been moved or deleted).")
    return files, folders, problems


# Dropping files ------------------------------------------------------------------------------------


class DropOverlay(QFrame):
    """The highlight over the chat while files are dragged over it: a paper clip and what to do
    (mouse clicks and drags go through it to what is below)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("dropHighlight")
        self.setAccessibleName("Drop the files to attach them")
        self.setStyleSheet(
            "#dropHighlight { border: 3px dashed palette(highlight); border-radius: 12px;"
            " background: rgba(91, 124, 250, 40); }"
            " #dropHint { font-size: 15px; font-weight: 600; background: transparent; }"
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 16)
        layout.setSpacing(8)
        layout.addStretch(1)
        self.icon = icon_label(32)
        layout.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignHCenter)
        self.label = QLabel(DROP_TEXT)
        self.label.setObjectName("dropHint")
        self.label.setAccessibleName(DROP_TEXT)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setWordWrap(True)
        layout.addWidget(self.label)
        layout.addStretch(1)
        for widget in (self, self.icon, self.label):
            widget.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.hide()

    def text(self) -> str:
        """What the highlight says."""
        return self.label.text()

    def show_over(self) -> None:
        """Covers its parent."""
        parent = self.parentWidget()
        if parent is not None:
            self.setGeometry(parent.rect().adjusted(6, 6, -6, -6))
        self.raise_()
        self.show()


class FileDrops(QObject):
    """Takes local files dropped on some widgets (the chat, the composer), and shows the
    highlight while they are dragged over them. Other drags (text) go on as before.

    Args:
        overlay: The highlight to show.
        parent: Its owner.

    Signals:
        dropped(list): The paths dropped (local files and folders, as strings).
    """

    dropped = Signal(list)

    def __init__(self, overlay: DropOverlay, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.overlay = overlay
        self.enabled = True

    def watch(self, *widgets: QWidget) -> None:
        """Takes drops on these widgets (a scroll area's drops land on its viewport)."""
        for widget in widgets:
            target = widget.viewport() if isinstance(widget, QAbstractScrollArea) else widget
            target.setAcceptDrops(True)
            target.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove) and isinstance(
            event, (QDragEnterEvent, QDragMoveEvent)
        ):
            if not self.enabled or not local_paths(event.mimeData()):
                return False
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
            if not self.overlay.isVisible():
                self.overlay.show_over()
            return True
        if kind == QEvent.Type.DragLeave:
            self.overlay.hide()
            return False
        if kind == QEvent.Type.Drop and isinstance(event, QDropEvent):
            paths = local_paths(event.mimeData()) if self.enabled else []
            self.overlay.hide()
            if not paths:
                return False
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
            self.dropped.emit(paths)
            return True
        return False
