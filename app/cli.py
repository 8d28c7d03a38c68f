"""The ``ensemble`` command line: the same engine as the window, driven from a terminal.

Commands:
    ensemble run "MISSION" --workspace DIR [--approve ask|all|none] [--json]
    ensemble resume MISSION_ID [--approve ask|all|none] [--json]
    ensemble missions [--json] [--limit N] [--offset K] [--search TEXT]
    ensemble audit MISSION_ID [--json]
    ensemble undo ACTION_ID [--force]
    ensemble undo --mission MISSION_ID [--force] [--yes]
    ensemble key set|status|delete
    ensemble account add NAME --imap HOST:PORT --smtp HOST:PORT --security tls|starttls|none
        --user USER --address ADDRESS --password-stdin [--default]
    ensemble account add NAME --maildir DIR|--mbox PATH --address ADDRESS
    ensemble account list|test NAME|remove NAME
    ensemble contacts add ENTRY|list|remove ENTRY
    ensemble workflow save MISSION_ID --name NAME [--param NAME=VALUE]...
    ensemble workflow run NAME [--param NAME=VALUE]... [--approve ask|all|none] [--json]
    ensemble workflow list|show NAME|history NAME [--json]
    ensemble workflow export NAME FILE|import FILE|delete NAME
    ensemble workflow schedule NAME (--once DATETIME|--hourly|--daily HH:MM|--weekdays HH:MM
        |--weekly DAYS HH:MM|--monthly DAY HH:MM|--cron EXPR) [--catch-up once|skip]
    ensemble workflow trigger NAME (--email FOLDER [--from GLOB] [--subject GLOB]|--file DIR [--glob GLOB])
    ensemble workflow unschedule NAME
    ensemble service
    ensemble pending [--json]
    ensemble decide ACTION_ID approve|reject [--reason TEXT]
    ensemble worker --temporal HOST:PORT [--namespace N] [--task-queue Q]
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

from app.cli_args import EXIT_FAILED, backend_environment, build_parser

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit code (0 when the command succeeded).

    The window's commands (``ensemble``, ``ensemble demo``) go straight to the window, so
    that nothing the window does not need (SQLAlchemy, the SDK) delays its first paint; the
    others are in :mod:`app.commands`.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    os.environ.update(backend_environment(args))
    if args.command is None:
        return _window(args.window_workspaces)
    if args.command == "demo" and not args.headless:
        return _window([], demo=True)
    from app import commands

    return commands.dispatch(args)


def _window(workspaces: list[Path], *, demo: bool = False) -> int:
    """Opens the desktop window. The engine and this module stay free of Qt: the window's
    package is imported only here, when it is asked for."""
    if not _has_display():
        hint = "ensemble demo --headless" if demo else "ensemble run --help"
        print(
            "ensemble: there is no display to open the window on (DISPLAY and WAYLAND_DISPLAY "
            f"are not set). Use the command line instead: {hint}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    try:
        from ui.app import run
    except ImportError as exc:
        print(
            f"ensemble: the desktop window cannot start ({exc}). Install the desktop extra "
            "(scripts/run.sh does), or use the command line: ensemble run --help",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return run(workspaces, demo=demo)


def _has_display() -> bool:
    """Whether Qt has somewhere to draw: always on Windows and macOS; on Linux and the BSDs an
    X or Wayland display, or a platform chosen with ``QT_QPA_PLATFORM`` (e.g. offscreen)."""
    if sys.platform in ("win32", "darwin"):
        return True
    return any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


if __name__ == "__main__":
    sys.exit(main())
