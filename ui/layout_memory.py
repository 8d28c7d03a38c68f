"""Splitter positions remembered per screen.

A layout that suits a big monitor (a wide missions list, a wide plan) does not suit a laptop's
screen, and the other way round. So the window's splitters keep one set of sizes per screen,
keyed by the screen's name, its available geometry and its device pixel ratio: moving the
window between a laptop screen and a monitor gives each its own layout back.

Sizes are saved when a splitter is moved (a moment after the person lets go) and when the
window closes, and restored when the window is shown and whenever it moves to another screen.
Restored sizes are fitted to the splitter's width now, and never make a pane narrower than
its minimum, wherever they were saved.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, QTimer

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QScreen
    from PySide6.QtWidgets import QSplitter, QWidget

GROUP = "splitters"
SAVE_DELAY_MS = 500
_UNSAFE = re.compile(r"[^A-Za-z0-9@+.\-]+")


def screen_key(screen: QScreen | None) -> str:
    """The key a screen's layout is kept under: its name, available geometry and device pixel
    ratio (``"eDP-1_1920x1080+0+0@1.25"``), with only characters safe in a settings key.

    Args:
        screen: The screen, or None (then ``"default"``).
    """
    if screen is None:
        return "default"
    area = screen.availableGeometry()
    raw = (
        f"{screen.name() or 'screen'} {area.width()}x{area.height()}+{area.x()}+{area.y()}"
        f"@{screen.devicePixelRatio():g}"
    )
    return _UNSAFE.sub("_", raw).strip("_") or "screen"


def fit_sizes(sizes: Sequence[int], minimums: Sequence[int], total: int | None) -> list[int]:
    """Sizes saved elsewhere, fitted to a splitter now: scaled to ``total`` (when known), none
    under its pane's minimum; what raising a pane to its minimum takes is taken from the panes
    with room to spare, in proportion to that room.

    Args:
        sizes: The saved sizes, one per pane.
        minimums: Each pane's minimum size.
        total: The room the panes share now (the splitter's length without its handles), or
            None when it is not known yet (then only the minimums apply).

    Returns:
        One size per pane, each at least its minimum; adding up to ``total`` when it is known
        and the minimums leave room for it.
    """
    if not total or total <= 0 or sum(sizes) <= 0:
        return [max(int(s), m) for s, m in zip(sizes, minimums, strict=True)]
    scale = total / sum(sizes)
    out = [max(m, round(s * scale)) for s, m in zip(sizes, minimums, strict=True)]
    excess = sum(out) - total
    while excess > 0:
        slack = [o - m for o, m in zip(out, minimums, strict=True)]
        room = sum(slack)
        if room <= 0:
            break  # narrower than the minimums: the splitter lets the window decide
        for index, spare in enumerate(slack):
            cut = min(spare, math.ceil(excess * spare / room), excess)
            out[index] -= cut
            excess -= cut
    if excess < 0:  # rounding left some room: the widest pane takes it
        widest = max(range(len(out)), key=out.__getitem__)
        out[widest] -= excess
    return out


def pane_minimum(widget: QWidget, orientation: Qt.Orientation) -> int:
    """The least size a splitter gives a pane along its orientation (its minimum size, if set,
    else its minimum size hint), as the splitter itself reckons it."""
    horizontal = orientation == Qt.Orientation.Horizontal
    explicit = widget.minimumWidth() if horizontal else widget.minimumHeight()
    if explicit > 0:
        return explicit
    hint = widget.minimumSizeHint()
    return max(0, hint.width() if horizontal else hint.height())


class SplitterMemory(QObject):
    """Saves and restores a window's splitter sizes, per screen (see the module's text).

    Args:
        window: The top-level window the splitters are in.
        splitters: The splitters, each with a unique object name.
        store: Gives the settings to keep the sizes in (the window's own INI file).
        key: Gives the current screen's key; :func:`screen_key` of the window's screen if left out.
        defaults: Sizes by splitter name for a screen with none saved, fitted to it when the
            window is first shown (else the splitters keep the sizes they have).
    """

    def __init__(
        self,
        window: QWidget,
        splitters: Sequence[QSplitter],
        store: Callable[[], QSettings],
        key: Callable[[], str] | None = None,
        defaults: dict[str, list[int]] | None = None,
    ) -> None:
        super().__init__(window)
        self._window = window
        self._splitters = list(splitters)
        self._defaults = dict(defaults or {})
        self._store = store
        self._key = key or (lambda: screen_key(window.screen()))
        self._watching_screen = False
        self._restoring = False
        self._moved_on = ""  # the key of the screen a splitter was last moved on, until saved
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self._save_moved)
        for splitter in self._splitters:
            splitter.splitterMoved.connect(self._moved)
        window.installEventFilter(self)

    def _moved(self, _pos: int, _index: int) -> None:
        if not self._restoring:
            self._moved_on = self.key()
            self._save_timer.start()

    def _save_moved(self) -> None:
        if self._moved_on:
            self.save(self._moved_on)

    def key(self) -> str:
        """The key of the screen the window is on."""
        return self._key()

    def save(self, key: str | None = None) -> None:
        """Saves every splitter's sizes under ``key`` (the current screen's if left out); a
        splitter never laid out (no size yet) is left as it was saved."""
        self._save_timer.stop()
        self._moved_on = ""
        key = key or self.key()
        store = self._store()
        for splitter in self._splitters:
            sizes = splitter.sizes()
            if not sizes or min(sizes) <= 0:
                continue
            store.setValue(f"{GROUP}/{key}/{splitter.objectName()}", ",".join(str(s) for s in sizes))
        store.sync()

    def saved(self, key: str | None = None) -> dict[str, list[int]]:
        """The sizes saved under ``key`` (the current screen's if left out), by splitter name."""
        key = key or self.key()
        store = self._store()
        found: dict[str, list[int]] = {}
        for splitter in self._splitters:
            raw = store.value(f"{GROUP}/{key}/{splitter.objectName()}")
            if isinstance(raw, list):  # QSettings reads "1,2,3" back as a list of strings
                raw = ",".join(str(r) for r in raw)
            if not isinstance(raw, str) or not raw:
                continue
            try:
                sizes = [int(part) for part in raw.split(",")]
            except ValueError:
                continue
            if len(sizes) == splitter.count() and min(sizes) >= 0:
                found[splitter.objectName()] = sizes
        return found

    def restore(self, key: str | None = None) -> bool:
        """Restores the sizes saved under ``key`` (the current screen's if left out), fitted to
        each splitter's length now and to its panes' minimums.

        Returns:
            Whether any were saved under that key.
        """
        found = self.saved(key)
        self._restoring = True
        try:
            for splitter in self._splitters:
                sizes = found.get(splitter.objectName())
                if sizes is not None:
                    splitter.setSizes(self.fitted(splitter, sizes))
        finally:
            self._restoring = False
        return bool(found)

    @staticmethod
    def fitted(splitter: QSplitter, sizes: Sequence[int]) -> list[int]:
        """``sizes`` fitted to ``splitter`` now (see :func:`fit_sizes`)."""
        orientation = splitter.orientation()
        panes = [splitter.widget(i) for i in range(splitter.count())]
        minimums = [pane_minimum(p, orientation) if p is not None else 0 for p in panes]
        length = splitter.width() if orientation == Qt.Orientation.Horizontal else splitter.height()
        handles = splitter.handleWidth() * max(0, splitter.count() - 1)
        laid_out = splitter.isVisible() and length > handles
        return fit_sizes(sizes, minimums, length - handles if laid_out else None)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._window and event.type() == QEvent.Type.Show and not self._watching_screen:
            handle = self._window.windowHandle()
            if handle is not None:
                self._watching_screen = True
                handle.screenChanged.connect(self._screen_changed)
                # The first layout on this screen: fitted now that the window has its size.
                QTimer.singleShot(0, self._first_restore)
        return False

    def _first_restore(self) -> None:
        if self.restore() or not self._defaults:
            return
        self._restoring = True
        try:
            for splitter in self._splitters:
                sizes = self._defaults.get(splitter.objectName())
                if sizes is not None and len(sizes) == splitter.count():
                    splitter.setSizes(self.fitted(splitter, sizes))
        finally:
            self._restoring = False

    def _screen_changed(self, _screen: QScreen | None) -> None:
        # Moved to another screen: a move not saved yet goes to the screen it was made on,
        # and this screen's own layout comes back, once the window has settled here.
        self._save_moved()
        QTimer.singleShot(0, self.restore)
