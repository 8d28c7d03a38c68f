"""Small pieces shared by the views: empty states, the app icon, the style sheet."""

from __future__ import annotations

from importlib import resources

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QVBoxLayout, QWidget


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
#cardSummary {{ font-size: 11pt; font-weight: 600; }}
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
"""
