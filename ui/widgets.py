"""Small pieces shared by the views: empty states, the app icon, the style sheet, and the
layout helpers that keep every view readable in a narrow pane (a flow of buttons that wraps
onto a second line, text that can break inside long addresses)."""

from __future__ import annotations

import re
from importlib import resources
from typing import TYPE_CHECKING

from PySide6.QtCore import QMargins, QPoint, QRect, QSize, Qt
from PySide6.QtGui import QIcon, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QFormLayout,
    QFrame,
    QLabel,
    QLayout,
    QLayoutItem,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

ZERO_WIDTH_SPACE = "\u200b"
_LONG_WORD = re.compile(r"\S{12,}")
_BREAK_AFTER = re.compile(r"([/?&=@._,;:+\-])")


def breakable(text: str) -> str:
    """``text`` with places where a long word may wrap: a zero-width space after the ``/``,
    ``.``, ``@``, ``?``… of every word of 12 characters or more (a web address, a path, an
    email address), so that a word-wrapped label is never wider than its pane."""
    return _LONG_WORD.sub(lambda m: _BREAK_AFTER.sub(rf"\1{ZERO_WIDTH_SPACE}", m.group(0)), text)


def plain(text: str) -> str:
    """Text shown through :func:`breakable`, without its break points."""
    return text.replace(ZERO_WIDTH_SPACE, "")


class WrapLabel(QLabel):
    """A word-wrapped plain-text label that is never wider than its pane: a long web address,
    path or email address in it may wrap at its ``/``, ``.`` or ``@`` (see :func:`breakable`).

    :meth:`text` gives the text as set, without those break points.

    Args:
        text: The text.
        parent: Its parent, if any.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._plain = ""
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setText(text)

    def setText(self, text: str) -> None:
        self._plain = text
        super().setText(breakable(text))

    def text(self) -> str:
        return self._plain

    def clear(self) -> None:
        self.setText("")

    def sizeHint(self) -> QSize:
        # Qt lays a short wrapped text out a quarter of 80 characters wide, "to look nicer";
        # here a label is as wide as its text on one line when there is room for it, and
        # wraps only when there is not (its minimum stays its longest word).
        hint = super().sizeHint()
        if not self._plain:
            return hint
        metrics = self.fontMetrics()
        margins = self.contentsMargins()
        text = metrics.boundingRect(
            QRect(0, 0, 100_000, 100_000), int(Qt.AlignmentFlag.AlignLeft), self._plain
        )
        width = text.width() + margins.left() + margins.right() + 2 * self.margin() + 2
        width = min(width, max(hint.width(), 80 * metrics.averageCharWidth()))
        if width <= hint.width():
            return hint
        return QSize(width, self.heightForWidth(width))


class FlowLayout(QLayout):
    """Lays its widgets out left to right at their size hints, wrapping onto the next line
    when the width runs out, so that a row of buttons never squeezes (elides) their text.

    Args:
        parent: The widget it lays out, if any.
        spacing: The gap between widgets, across and down.
    """

    def __init__(self, parent: QWidget | None = None, *, spacing: int = 6) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._spacing = spacing
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def add_widgets(self, widgets: Iterable[QWidget]) -> None:
        """Adds these widgets, in order."""
        for widget in widgets:
            self.addWidget(widget)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def spacing(self) -> int:
        return self._spacing

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._place(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._place(rect, move=True)

    def sizeHint(self) -> QSize:
        # On one line, when there is room for it.
        margins = self.contentsMargins()
        shown = [item for item in self._items if not item.isEmpty()]
        width = sum(item.sizeHint().width() for item in shown) + self._spacing * max(0, len(shown) - 1)
        height = max((item.sizeHint().height() for item in shown), default=0)
        frame = QSize(margins.left() + margins.right(), margins.top() + margins.bottom())
        return QSize(width, height) + frame

    def minimumSize(self) -> QSize:
        # The widest single widget: each line holds at least one, at its full size.
        size = QSize()
        for item in self._items:
            if not item.isEmpty():
                size = size.expandedTo(item.sizeHint())
        margins = self.contentsMargins()
        return size + QSize(margins.left() + margins.right(), margins.top() + margins.bottom())

    def _place(self, rect: QRect, *, move: bool) -> int:
        margins: QMargins = self.contentsMargins()
        area = rect.marginsRemoved(margins)
        x, y, line = area.x(), area.y(), 0
        for item in self._items:
            if item.isEmpty():
                continue
            hint = item.sizeHint()
            if x > area.x() and x + hint.width() > area.right() + 1:
                x, y, line = area.x(), y + line + self._spacing, 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), QSize(min(hint.width(), area.width()), hint.height())))
            x += hint.width() + self._spacing
            line = max(line, hint.height())
        return y + line - rect.y() + margins.bottom()


def button_row(*widgets: QWidget, name: str = "") -> QWidget:
    """A row of buttons that wraps onto a second line when the pane is narrow (see
    :class:`FlowLayout`)."""
    row = QWidget()
    if name:
        row.setObjectName(name)
    flow = FlowLayout(row)
    flow.add_widgets(widgets)
    policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
    policy.setHeightForWidth(True)
    row.setSizePolicy(policy)
    return row


def muted(text: str, name: str = "") -> WrapLabel:
    """A grey, word-wrapped note (its first words are its accessible name)."""
    label = WrapLabel(text)
    label.setProperty("muted", True)
    label.setAccessibleName(text[:120] or name)
    if name:
        label.setObjectName(name)
    return label


def named_button(text: str, name: str, accessible: str, tip: str = "") -> QPushButton:
    """A push button with its object name, accessible name and (optional) tooltip."""
    button = QPushButton(text)
    button.setObjectName(name)
    button.setAccessibleName(accessible)
    if tip:
        button.setToolTip(tip)
    return button


class ReasonRow(QWidget):
    """The row a Reject opens: an optional reason (it goes back to the agent), then the
    confirming button and Cancel. Hidden until asked for.

    Attributes:
        reason_input: The reason's field; Return confirms.
        confirm_button: Confirms the rejection (drawn as a dangerous button).
        cancel_button: Closes the row without rejecting.
    """

    def __init__(
        self,
        *,
        names: tuple[str, str, str],
        accessible: tuple[str, str, str],
        confirm_text: str,
        on_confirm: Callable[[], object],
        on_cancel: Callable[[], object],
    ) -> None:
        """Args:
        names: Object names of the reason field, the confirming button and Cancel.
        accessible: Their accessible names, in the same order.
        confirm_text: The confirming button's text ("Reject", "Reject all").
        on_confirm: Called when the rejection is confirmed (button or Return).
        on_cancel: Called when Cancel is clicked.
        """
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.reason_input = QLineEdit()
        self.reason_input.setObjectName(names[0])
        self.reason_input.setAccessibleName(accessible[0])
        self.reason_input.setPlaceholderText("Why not? (optional, the agent will read it)")
        self.reason_input.returnPressed.connect(on_confirm)
        layout.addWidget(self.reason_input)
        self.confirm_button = named_button(confirm_text, names[1], accessible[1])
        self.confirm_button.setProperty("role", "danger")
        self.confirm_button.clicked.connect(on_confirm)
        self.cancel_button = named_button("Cancel", names[2], accessible[2])
        self.cancel_button.clicked.connect(on_cancel)
        layout.addWidget(button_row(self.confirm_button, self.cancel_button))
        self.hide()


def wrapping_form() -> QFormLayout:
    """A form whose long rows wrap (the field under its label) and whose fields grow."""
    form = QFormLayout()
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    return form


def scrolling(
    page: QWidget, name: str = "", *, margins: tuple[int, int, int, int] | None = None
) -> QScrollArea:
    """``page`` in a frameless scroll area that scrolls up and down, never sideways.

    Args:
        page: What scrolls.
        name: The scroll area's object name.
        margins: The page's contents margins (left, top, right, bottom), or None to keep them.
    """
    scroll = QScrollArea()
    if name:
        scroll.setObjectName(name)
    scroll.setAccessibleName(page.accessibleName() or "Form")  # a Tab stop: it scrolls by keys
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    if margins is not None:
        page.setContentsMargins(*margins)
    scroll.setWidget(page)
    return scroll


def fit_button(button: QWidget) -> None:
    """Keeps a button in a box layout at least as wide as its text needs (it never elides):
    its size hint, which follows the style sheet's padding, is its minimum."""
    button.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)


def empty_state(title: str, text: str, *, name: str) -> QWidget:
    """A centred title and a helpful sentence, for a view with nothing to show yet."""
    widget = QWidget()
    widget.setObjectName(name)
    widget.setAccessibleName(title)
    layout = QVBoxLayout(widget)
    layout.setContentsMargins(32, 32, 32, 32)
    layout.addStretch(1)
    heading = QLabel(title)
    heading.setObjectName("emptyTitle")
    heading.setAccessibleName(title)
    heading.setAlignment(Qt.AlignmentFlag.AlignCenter)
    layout.addWidget(heading)
    body = QLabel(text)
    body.setObjectName("emptyText")
    body.setAccessibleName(text[:80])
    body.setWordWrap(True)
    body.setAlignment(Qt.AlignmentFlag.AlignCenter)
    body.setProperty("muted", True)
    layout.addWidget(body)
    layout.addStretch(2)
    return widget


def app_icon() -> QIcon:
    """Ensemble's icon (``resources/icons``: three overlapping circles), for the window and the tray."""
    icons = resources.files("resources").joinpath("icons")
    icon = QIcon()
    icon.addFile(str(icons.joinpath("ensemble.svg")))
    icon.addFile(str(icons.joinpath("ensemble-256.png")))
    return icon


def is_dark(palette: QPalette | None = None) -> bool:
    """Whether the palette in use is a dark one."""
    palette = palette or QApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def style_sheet(dark: bool) -> str:
    """The window's style sheet; colours come from the system palette where they can."""
    accent = "#5b7cfa" if dark else "#3b5bdb"
    good = "#2fb380" if dark else "#1a7f5a"
    danger = "#f06262" if dark else "#c92a2a"
    warn_bg = "#4a3b12" if dark else "#fff4d6"
    warn_fg = "#ffd98a" if dark else "#7a5200"
    ext_bg = "#4a1f1f" if dark else "#ffe3e3"
    ext_fg = "#ffb3b3" if dark else "#a11d1d"
    card = "#262a33" if dark else "#ffffff"
    pane = "#1d2027" if dark else "#f3f5f9"
    border = "#3a3f4b" if dark else "#d9dee8"
    muted = "#9aa3b2" if dark else "#5c6677"
    return f"""
QMainWindow, QDialog {{ background: palette(window); }}
QLabel[muted="true"] {{ color: {muted}; }}
#topBar {{ background: {pane}; border-bottom: 1px solid {border}; }}
#appTitle {{ font-size: 16pt; font-weight: 600; }}
#appSubtitle {{ color: {muted}; }}
#paneTitle {{ font-size: 11pt; font-weight: 600; }}
#missionHeader {{ font-size: 13pt; font-weight: 600; }}
#missionStatus {{ color: {muted}; }}
#emptyTitle {{ font-size: 13pt; font-weight: 600; color: {muted}; }}
#approvalPane, #approvalList, #approvalScroll {{ background: {pane}; }}
#missionsPanel {{ background: {pane}; }}
#missionList {{ border: none; background: {pane}; }}
#missionList::item {{ padding: 6px 4px; }}
#missionList::item:selected {{ background: {accent}; color: white; }}
#approvalCard {{ background: {card}; border: 1px solid {border}; border-radius: 10px; }}
#cardTitle {{ font-size: 12pt; font-weight: 600; }}
#cardSummary {{ font-size: 10.5pt; }}
#cardOrigin {{ color: {muted}; }}
#cardError {{ color: {danger}; }}
#effectBadge {{ padding: 2px 8px; border-radius: 9px; background: {warn_bg}; color: {warn_fg}; }}
#effectBadge[effect="external"] {{ background: {ext_bg}; color: {ext_fg}; }}
#countBadge {{ min-width: 22px; padding: 1px 7px; border-radius: 10px; background: {border}; }}
#countBadge[active="true"] {{ background: {danger}; color: white; font-weight: 600; }}
QPushButton {{ padding: 5px 14px; border-radius: 6px; border: 1px solid {border}; background: {card}; }}
QPushButton:hover {{ border-color: {accent}; }}
QPushButton:disabled {{ color: {muted}; }}
QPushButton[role="primary"] {{ background: {good}; border-color: {good}; color: white; font-weight: 600; }}
QPushButton[role="primary"]:disabled {{ background: {border}; border-color: {border}; }}
QPushButton[role="danger"] {{ background: {danger}; border-color: {danger}; color: white; font-weight: 600; }}
QPushButton[role="accent"] {{ background: {accent}; border-color: {accent}; color: white; font-weight: 600; }}
QPushButton[role="accent"]:disabled {{ background: {border}; border-color: {border}; color: {muted}; }}
QPushButton[role="link"] {{ border: none; background: transparent; color: {accent}; padding: 5px 4px; }}
QPushButton[role="link"]:hover {{ text-decoration: underline; }}
#stopAllButton {{ background: {danger}; border-color: {danger}; color: white; font-weight: 600; }}
#stopAllButton:disabled {{ background: {border}; border-color: {border}; color: {muted}; }}
#chatView {{ border: none; background: palette(base); }}
#composer {{ background: palette(base); border-top: 1px solid {border}; }}
#chatInput {{ border: 1px solid {border}; border-radius: 8px; padding: 6px; background: palette(base); }}
#chatInput:focus {{ border-color: {accent}; }}
#streamingLabel {{ color: {muted}; font-style: italic; background: palette(base); }}
#errorBanner {{ background: {ext_bg}; color: {ext_fg}; padding: 8px 12px; }}
#firstRunNote {{ background: {warn_bg}; color: {warn_fg}; padding: 10px; border-radius: 8px; }}
#demoBanner {{ background: {warn_bg}; color: {warn_fg}; padding: 8px 12px; }}
QTabWidget::pane {{ border: none; }}
QTreeWidget, QTableView, QTableWidget {{ border: 1px solid {border}; border-radius: 6px; }}
#planTree::item {{ padding: 3px 0; }}
QSplitter::handle {{ background: {border}; }}
{focus_rings()}
"""


def focus_rings() -> str:
    """The style sheet's focus rings: 2 px in the highlight colour around the button, field,
    list item or card that has the keyboard focus (never the style's faint dotted box).

    Where a ring replaces a thinner border, the padding gives the extra pixel back, so that
    nothing moves as the focus does. Filled buttons (Approve, Send, Stop all) are ringed in the
    text colour, which stands out against their own colour.
    """
    ring = "2px solid palette(highlight)"
    return f"""
QPushButton:focus {{ border: {ring}; padding: 4px 13px; }}
QPushButton[role="primary"]:focus, QPushButton[role="danger"]:focus, QPushButton[role="accent"]:focus,
#stopAllButton:focus {{ border: 2px solid palette(window-text); padding: 4px 13px; }}
QPushButton[role="link"]:focus {{ border: {ring}; border-radius: 4px; padding: 3px 2px; }}
QToolButton:focus {{ border: {ring}; border-radius: 4px; }}
QLineEdit:focus {{ border: {ring}; border-radius: 4px; }}
QPlainTextEdit:focus, QTextEdit:focus {{ border: {ring}; }}
#chatInput:focus {{ border: {ring}; padding: 5px; }}
QCheckBox, QRadioButton {{ border: 2px solid transparent; border-radius: 4px; }}
QCheckBox:focus, QRadioButton:focus {{ border: {ring}; }}
QAbstractItemView {{ outline: 0; }}
QAbstractItemView:focus {{ border: {ring}; }}
#missionList {{ border: 2px solid transparent; }}
#missionList:focus {{ border: {ring}; }}
QListView::item {{ border: 2px solid transparent; }}
QListView::item:focus {{ border: {ring}; }}
QListView::item:selected {{ background: palette(highlight); color: palette(highlighted-text); }}
#approvalCard[focusWithin="true"] {{ border: {ring}; }}
"""
