"""The ``ensemble`` command line: the same engine as the window, driven from a terminal.

Commands:
    ensemble run "MISSION" --workspace DIR [--approve ask|all|none] [--json]
    ensemble resume MISSION_ID [--approve ask|all|none] [--json]
    ensemble missions [--json]
    ensemble audit MISSION_ID [--json]
    ensemble undo ACTION_ID [--force]
    ensemble key set|status|delete
    ensemble account add NAME --imap HOST:PORT --smtp HOST:PORT --security tls|starttls|none
        --user USER --address ADDRESS --password-stdin [--default]
    ensemble account add NAME --maildir DIR|--mbox PATH --address ADDRESS
    ensemble account list|test NAME|remove NAME
    ensemble contacts add ENTRY|list|remove ENTRY
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ensemble",
        description=(
            "Ensemble: a team of AI agents for office work, with every change held for your approval."
        ),
    )
    parser.add_argument(
        "--workspace",
        "-w",
        dest="window_workspaces",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="with no command: open the window with this folder granted (repeatable)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="run a mission to its end")
    run.add_argument("mission", help="what you want done, in plain words")
    run.add_argument(
        "--workspace",
        "-w",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="a folder the agents may use (repeatable)",
    )
    _approve_option(run, "ask for each proposed action (default), or approve all, or approve none")
    run.add_argument("--json", action="store_true", help="end with one JSON line: mission_id, status, result")
    run.add_argument("--model", help="the model to use for this mission")
    run.add_argument(
        "--account", metavar="NAME", help="the email account to use (default: the default or only one)"
    )
    run.add_argument(
        "--allow-domain",
        action="append",
        default=[],
        metavar="HOST",
        help="a site the browser agent may open in this mission, besides the settings' (repeatable)",
    )

    resume = commands.add_parser("resume", help="continue a mission a crash or a kill interrupted")
    resume.add_argument("mission_id")
    _approve_option(resume, "ask for each action still to decide (default), or approve all, or none")
    resume.add_argument(
        "--json", action="store_true", help="end with one JSON line: mission_id, status, result"
    )
    resume.add_argument("--model", help="the model to use from now on")

    demo = commands.add_parser("demo", help="a demo mission with a scripted model: no API key needed")
    demo.add_argument("--headless", action="store_true", help="run the demo mission here, without the window")
    _approve_option(demo, "with --headless: ask for each action (default), or approve all, or none")
    demo.add_argument("--json", action="store_true", help="with --headless: end with one JSON line")

    rules_parser = commands.add_parser("rules", help="standing decisions: always allow, never allow")
    rule_commands = rules_parser.add_subparsers(dest="rules_command", metavar="ACTION", required=True)
    rule_add = rule_commands.add_parser("add", help="add a rule")
    verdict = rule_add.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--allow", action="store_true", help="always allow what the rule covers")
    verdict.add_argument("--deny", action="store_true", help="never allow what the rule covers")
    rule_add.add_argument(
        "tool", help="the tool it covers (e.g. email_send, sheet_write, browser_request) or 'any'"
    )
    rule_add.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="ARG=GLOB",
        help="only where an argument matches a pattern, e.g. to=*@example.com (repeatable)",
    )
    rule_add.add_argument("--mission", metavar="ID", help="only in this mission")
    rule_commands.add_parser("list", help="list the rules").add_argument("--json", action="store_true")
    rule_commands.add_parser("remove", help="remove a rule").add_argument("rule_id")

    missions = commands.add_parser("missions", help="list missions, newest first")
    missions.add_argument("--json", action="store_true")

    audit = commands.add_parser("audit", help="every event of a mission, in order")
    audit.add_argument("mission_id")
    audit.add_argument("--json", action="store_true")

    undo = commands.add_parser(
        "undo", help="take back a local action: a file as it was, a message back in its folder"
    )
    undo.add_argument("action_id")
    undo.add_argument("--force", action="store_true", help="restore even if the file changed since")

    key = commands.add_parser("key", help="the Anthropic API key in the system keyring")
    key.add_argument(
        "action",
        choices=["set", "status", "delete"],
        help="set (reads the key from standard input), status, or delete",
    )

    contacts = commands.add_parser(
        "contacts", help="your address book: people and sites actions may reach by rule"
    )
    contact_commands = contacts.add_subparsers(dest="contacts_command", metavar="ACTION", required=True)
    contact_commands.add_parser(
        "add", help="add an address (bob@example.com), a whole domain (@example.com) or a site"
    ).add_argument("entry")
    contact_commands.add_parser("list", help="list the address book").add_argument(
        "--json", action="store_true"
    )
    contact_commands.add_parser("remove", help="remove an entry").add_argument("entry")

    account = commands.add_parser("account", help="email accounts (passwords in the system keyring)")
    account_commands = account.add_subparsers(dest="account_command", metavar="ACTION", required=True)
    add = account_commands.add_parser("add", help="add an IMAP/SMTP account, or a local Maildir or mbox")
    add.add_argument("name", help="a short name for it, e.g. work")
    add.add_argument("--imap", metavar="HOST:PORT", help="the IMAP server")
    add.add_argument("--smtp", metavar="HOST:PORT", help="the SMTP server")
    add.add_argument(
        "--security",
        choices=["tls", "starttls", "none"],
        default="tls",
        help="tls (ports 993/465, the default), starttls (143/587), or none (a server on this machine only)",
    )
    add.add_argument("--user", help="the login name (default: the address)")
    add.add_argument("--address", required=True, help="the address mail is sent from")
    add.add_argument("--maildir", metavar="DIR", type=Path, help="a local Maildir instead of a server")
    add.add_argument("--mbox", metavar="PATH", type=Path, help="a local mbox file or folder of them")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password (or app password) from standard input",
    )
    add.add_argument("--default", action="store_true", help="use it when a mission names no account")
    account_commands.add_parser("list", help="list the accounts (never their passwords)").add_argument(
        "--json", action="store_true"
    )
    account_commands.add_parser("test", help="log in to an account's servers").add_argument("name")
    account_commands.add_parser("remove", help="remove an account and its password").add_argument("name")
    return parser


def _approve_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--approve", choices=["ask", "all", "none"], default="ask", help=help_text)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit code (0 when the command succeeded).

    The window's commands (``ensemble``, ``ensemble demo``) go straight to the window, so
    that nothing the window does not need (SQLAlchemy, the SDK) delays its first paint; the
    others are in :mod:`app.commands`.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    if args.command is None:
        return _window(args.window_workspaces)
    if args.command == "demo" and not args.headless:
        return _window([], demo=True)
    from app import commands

    return commands.dispatch(args)


def _window(workspaces: list[Path], *, demo: bool = False) -> int:
    """Opens the desktop window. The engine and this module stay free of Qt: the window's
    package is imported by name, only here."""
    if not _has_display():
        hint = "ensemble demo --headless" if demo else "ensemble run --help"
        print(
            "ensemble: there is no display to open the window on (DISPLAY and WAYLAND_DISPLAY "
            f"are not set). Use the command line instead: {hint}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    try:
        window = importlib.import_module("ui.app")
    except ImportError as exc:
        print(
            f"ensemble: the desktop window cannot start ({exc}). Install the desktop extra "
            "(scripts/run.sh does), or use the command line: ensemble run --help",
            file=sys.stderr,
        )
        return EXIT_FAILED
    result: int = window.run(workspaces, demo=demo)
    return result


def _has_display() -> bool:
    """Whether Qt has somewhere to draw: always on Windows and macOS; on Linux and the BSDs an
    X or Wayland display, or a platform chosen with ``QT_QPA_PLATFORM`` (e.g. offscreen)."""
    if sys.platform in ("win32", "darwin"):
        return True
    return any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


if __name__ == "__main__":
    sys.exit(main())
