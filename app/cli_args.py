"""The command line's words: its parser and its exit codes.

Kept light (the standard library only), so that ``ensemble`` reads its arguments before
anything heavy loads: :mod:`app.cli` parses with it and opens the window or hands over to
:mod:`app.commands`, which returns these exit codes. Neither of those imports the other back.
"""

from __future__ import annotations

import argparse
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


def add_workspace_option(
    parser: argparse.ArgumentParser,
    *,
    dest: str,
    help_text: str = "a folder the agents may use (repeatable)",
) -> None:
    """``--workspace DIR`` / ``-w DIR``, repeatable, gathered into a list of paths at ``dest``."""
    parser.add_argument(
        "--workspace",
        "-w",
        dest=dest,
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help=help_text,
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``ensemble``'s words: every command and option."""
    parser = argparse.ArgumentParser(
        prog="ensemble",
        description=(
            "Ensemble: a team of AI agents for office work, with every change held for your approval."
        ),
    )
    add_workspace_option(
        parser,
        dest="window_workspaces",
        help_text="with no command: open the window with this folder granted (repeatable)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="run a mission to its end")
    run.add_argument("mission", help="what you want done, in plain words")
    add_workspace_option(run, dest="workspace")
    _approve_option(run, "ask for each proposed action (default), or approve all, or approve none")
    run.add_argument("--json", action="store_true", help="end with one JSON line: mission_id, status, result")
    run.add_argument("--model", help="the model to use for this mission")
    run.add_argument(
        "--account",
        metavar="NAME",
        help="the account to use, email or calendar (default: each kind's default or only one)",
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
    missions.add_argument(
        "--limit", type=_count, default=200, metavar="N", help="list at most N missions (default 200)"
    )
    missions.add_argument(
        "--offset", type=_count, default=0, metavar="K", help="skip the K newest first (default 0)"
    )
    missions.add_argument(
        "--search", metavar="TEXT", help="only missions whose title or text contains TEXT (any case)"
    )

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

    account = commands.add_parser(
        "account", help="email and calendar accounts (passwords in the system keyring)"
    )
    account_commands = account.add_subparsers(dest="account_command", metavar="ACTION", required=True)
    add = account_commands.add_parser(
        "add", help="add an IMAP/SMTP account, a local Maildir or mbox, or a CalDAV calendar account"
    )
    add.add_argument("name", help="a short name for it, e.g. work")
    add.add_argument("--imap", metavar="HOST:PORT", help="the IMAP server")
    add.add_argument("--smtp", metavar="HOST:PORT", help="the SMTP server")
    add.add_argument(
        "--security",
        choices=["tls", "starttls", "none"],
        default="tls",
        help="tls (ports 993/465, the default), starttls (143/587), or none (a server on this machine only)",
    )
    add.add_argument(
        "--caldav",
        metavar="URL",
        help="a CalDAV server's address (https://...), for the calendar agent, instead of email servers",
    )
    add.add_argument("--user", help="the login name (email: default the address; CalDAV: none)")
    add.add_argument("--address", help="the address mail is sent from (email accounts)")
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


def _count(text: str) -> int:
    """A whole number, zero or more, for ``--limit`` and ``--offset``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is below zero")
    return value
