"""Starting the window: ``ensemble`` with no command, or ``python -m ui [--workspace DIR]``.

The command line (``app/cli.py``) imports this module only when it opens the window, and
calls :func:`run`; this module imports Qt only inside its functions.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

    from PySide6.QtWidgets import QApplication

    from ui.main_window import MainWindow

log = logging.getLogger(__name__)


def create_application(argv: Sequence[str] | None = None) -> QApplication:
    """The QApplication, styled to follow the system's light or dark palette."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from ui.widgets import app_icon, is_dark, style_sheet

    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        app = existing
    else:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(list(argv or [sys.argv[0] if sys.argv else "ensemble"]))
    app.setApplicationName("Ensemble")
    app.setOrganizationName("Ensemble")
    app.setApplicationDisplayName("Ensemble")
    app.setDesktopFileName("ensemble")
    app.setWindowIcon(app_icon())
    # Fusion draws the same everywhere and follows the system's colour scheme (light or dark).
    app.setStyle("Fusion")
    app.setStyleSheet(style_sheet(is_dark()))
    app.setProperty("ensembleStyled", True)
    return app


def create_window(
    workspaces: Sequence[Path] = (), *, check_key: bool = True, demo: bool = False
) -> MainWindow:
    """A main window with its own engine (started in the background); ``demo`` starts the
    demo mission once the engine is up. Once it is up, the window runs the workflows'
    schedules and triggers (``engine.start_schedules(owner="window")``), unless another
    Ensemble process (``ensemble service``, another window) already does: its Workflows pane
    then says which."""
    from ui.bridge import Bridge
    from ui.main_window import MainWindow

    return MainWindow(
        Bridge(), workspaces=list(workspaces), check_key=check_key and not demo, demo=demo, schedules=True
    )


def _excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    # The top level of the GUI: an error in a slot is logged and shown, and the window lives on.
    log.error("Unexpected error", exc_info=(kind, value, tb))
    from PySide6.QtWidgets import QApplication

    from ui.main_window import MainWindow

    app = QApplication.instance()
    if isinstance(app, QApplication):
        for widget in app.topLevelWidgets():
            if isinstance(widget, MainWindow):
                widget.show_error(f"Something went wrong: {kind.__name__}: {value}. Ensemble carries on.")
    else:
        traceback.print_exception(kind, value, tb)


def run(workspaces: Sequence[Path] = (), *, demo: bool = False) -> int:
    """Opens the window, with ``workspaces`` granted for this session; returns the exit code.

    This is the command line's entry: ``ensemble``, ``ensemble --workspace DIR`` and, with
    ``demo``, ``ensemble demo`` (the window opens on the running demo mission).
    ``ANTHROPIC_API_KEY`` and ``ANTHROPIC_BASE_URL`` are honoured as by the command line.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    missing = [w for w in workspaces if not Path(w).expanduser().is_dir()]
    if missing:
        print(f"ensemble: the workspace folder {missing[0]} does not exist.", file=sys.stderr)  # noqa: T201
        return 1
    from PySide6.QtCore import Qt

    app = create_application()
    sys.excepthook = _excepthook
    window = create_window(workspaces, demo=demo)
    # The window's close button may leave Ensemble running in the tray: the application ends
    # when the window closes for good (it paused the missions first), not when it hides.
    app.setQuitOnLastWindowClosed(False)
    window.closed.connect(app.quit, Qt.ConnectionType.QueuedConnection)
    probe = os.environ.get("ENSEMBLE_STARTUP_PROBE")
    if probe:
        _probe_first_paint(app, window, until_ready=probe == "ready")
    window.show()
    return app.exec()


def _probe_first_paint(app: QApplication, window: MainWindow, *, until_ready: bool = False) -> None:
    """For bench/bench_startup.py: on the window's first paint, print the wall-clock time to
    standard error as ``ensemble-shown SECONDS`` and quit; with ``until_ready``, carry on until
    the engine is up (ready for a mission), print ``ensemble-ready SECONDS`` (or
    ``ensemble-failed``) and quit then."""
    import time

    from PySide6.QtCore import QEvent, QObject, QTimer

    def finish(line: str) -> None:
        print(f"{line} {time.time():.6f}", file=sys.stderr, flush=True)  # noqa: T201
        QTimer.singleShot(0, window.close)
        QTimer.singleShot(0, app.quit)

    class FirstPaint(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint:
                watched.removeEventFilter(self)
                if until_ready:
                    print(f"ensemble-shown {time.time():.6f}", file=sys.stderr, flush=True)  # noqa: T201
                else:
                    finish("ensemble-shown")
            return False

    probe = FirstPaint(window)
    window.installEventFilter(probe)
    if until_ready:
        window.bridge.engine_started.connect(lambda: finish("ensemble-ready"))
        window.bridge.engine_failed.connect(lambda _message: finish("ensemble-failed"))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ui [--workspace DIR]…``."""
    from app.cli_args import add_workspace_option

    parser = argparse.ArgumentParser(prog="ensemble", description="Ensemble's window.")
    add_workspace_option(parser, dest="workspaces")
    args = parser.parse_args(argv)
    return run(args.workspaces)


if __name__ == "__main__":
    sys.exit(main())
