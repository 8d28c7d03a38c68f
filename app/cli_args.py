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
    backend = parser.add_argument_group(
        "where missions run",
        "Ensemble runs missions itself (embedded, the default) or on a team's Temporal cluster, "
        "whose workers hold the accounts (see docs/temporal.md). These come before the command.",
    )
    backend.add_argument(
        "--backend",
        choices=("embedded", "temporal"),
        help="where missions run (default: the settings', else embedded)",
    )
    backend.add_argument(
        "--temporal",
        dest="temporal_address",
        metavar="HOST:PORT",
        help="the Temporal server's address (implies --backend temporal)",
    )
    backend.add_argument("--namespace", dest="temporal_namespace", metavar="N", help="the Temporal namespace")
    backend.add_argument(
        "--task-queue", dest="temporal_task_queue", metavar="QUEUE", help="the task queue the workers serve"
    )
    backend.add_argument(
        "--tls", dest="temporal_tls", action="store_true", default=None, help="connect to Temporal with TLS"
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

    worker = commands.add_parser(
        "worker",
        help="run missions for a Temporal cluster (the Temporal backend), until stopped",
        description=(
            "Runs the missions' workflows and their model and tool calls for a Temporal cluster. "
            "Start one on every machine that holds the accounts' passwords and the API key (keyring "
            "or environment) and sees the workspace folders; when one stops, the others carry on "
            "its work. Stop it with Ctrl+C or SIGTERM. Needs the 'temporal' extra."
        ),
    )
    worker.add_argument(
        "--temporal", required=True, metavar="HOST:PORT", help="the Temporal server's address"
    )
    worker.add_argument("--namespace", default="default", help="the Temporal namespace (default: default)")
    worker.add_argument(
        "--task-queue",
        default="ensemble",
        metavar="QUEUE",
        help="the task queue to serve (default: ensemble)",
    )
    worker.add_argument(
        "--tls",
        action="store_true",
        help="connect with TLS; the cluster's API key, if any, is read from ENSEMBLE_TEMPORAL_API_KEY",
    )

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
    missions.add_argument("--archived", action="store_true", help="list the archived missions too")

    mission = commands.add_parser("mission", help="rename, archive or delete a mission")
    mission_commands = mission.add_subparsers(dest="mission_command", metavar="ACTION", required=True)
    rename = mission_commands.add_parser("rename", help="give a mission another title")
    rename.add_argument("mission_id")
    rename.add_argument("title")
    mission_commands.add_parser(
        "archive", help="leave a mission out of the list (ensemble missions --archived shows it)"
    ).add_argument("mission_id")
    mission_commands.add_parser("unarchive", help="bring an archived mission back").add_argument("mission_id")
    delete = mission_commands.add_parser(
        "delete", help="delete a mission; its audit (the record of what was done) is kept unless asked"
    )
    delete.add_argument("mission_id")
    delete.add_argument(
        "--forget-audit", action="store_true", help="delete its audit and its backups too (cannot be undone)"
    )

    audit = commands.add_parser("audit", help="every event of a mission, in order")
    audit.add_argument("mission_id")
    audit.add_argument("--json", action="store_true")

    undo = commands.add_parser(
        "undo",
        help="take back a local action (a file as it was, a message back in its folder), "
        "or with --mission every local change of a mission",
    )
    undo.add_argument("action_id", nargs="?", help="the action to take back")
    undo.add_argument(
        "--mission",
        metavar="MISSION_ID",
        help="undo the whole mission: shows what will be undone and what cannot be, asks, then does it",
    )
    undo.add_argument(
        "--force",
        action="store_true",
        help="restore even files changed since (with --mission their later version goes to the trash)",
    )
    undo.add_argument("--yes", action="store_true", help="with --mission: do not ask before undoing")

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

    memory = commands.add_parser(
        "memory", help="what the lead remembers for you: facts and preferences, for every mission or a folder"
    )
    memory_commands = memory.add_subparsers(dest="memory_command", metavar="ACTION", required=True)
    memory_list = memory_commands.add_parser(
        "list", help="list the memory (with --workspace, what a mission in that folder reads)"
    )
    memory_list.add_argument(
        "--workspace", metavar="PATH", help="only what applies to missions in this folder"
    )
    memory_list.add_argument("--json", action="store_true")
    memory_add = memory_commands.add_parser("add", help='remember something, e.g. "sign emails as Ana"')
    memory_add.add_argument("text")
    memory_add.add_argument(
        "--workspace", metavar="PATH", help="only for missions in this folder (default: every mission)"
    )
    memory_edit = memory_commands.add_parser("edit", help="change what an item says")
    memory_edit.add_argument("memory_id")
    memory_edit.add_argument("text")
    memory_commands.add_parser("remove", help="forget an item").add_argument("memory_id")

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
    add_workflow_commands(commands)
    return parser


def add_workflow_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``ensemble workflow …``, ``ensemble service``, ``ensemble pending`` and ``ensemble decide``."""
    workflow = commands.add_parser(
        "workflow", help="saved workflows: run them again, on a schedule or when something arrives"
    )
    actions = workflow.add_subparsers(dest="workflow_command", metavar="ACTION", required=True)

    save = actions.add_parser(
        "save",
        help="save a finished mission as a workflow",
        description=(
            "Save a finished mission as a workflow. Each --param NAME=VALUE names a value that "
            "occurs in the mission; the workflow replaces it with {NAME}. Without --param, the "
            "lead proposes the parameters and you confirm them here."
        ),
    )
    save.add_argument("mission_id")
    save.add_argument("--name", required=True, help="the workflow's name")
    _param_option(save, "NAME=VALUE", "a value of the mission that changes next time (repeatable)")
    save.add_argument("--description", default="", help="one line on what it does")

    run = actions.add_parser("run", help="run a workflow to its end")
    run.add_argument("name")
    _param_option(run, "NAME=VALUE", "a parameter's value for this run (repeatable)")
    run.add_argument(
        "--approve",
        choices=["ask", "all", "none"],
        help="ask for each proposed action, or approve all, or none (default: the workflow's own)",
    )
    run.add_argument(
        "--json",
        action="store_true",
        help="end with one JSON line: mission_id, status, result, workflow, run_id",
    )

    actions.add_parser("list", help="list the workflows").add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="everything about a workflow")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    export = actions.add_parser("export", help="write a workflow to a YAML file, to share it")
    export.add_argument("name")
    export.add_argument("file", type=Path, help="the file to write ('-': standard output)")
    imported = actions.add_parser("import", help="add a workflow from a YAML file")
    imported.add_argument("file", type=Path, help="the file to read ('-': standard input)")
    imported.add_argument("--name", help="save it under this name instead of the file's")
    imported.add_argument(
        "--replace", action="store_true", help="replace the workflow of that name (as a new version)"
    )
    actions.add_parser("delete", help="delete a workflow (its runs' missions stay)").add_argument("name")
    history = actions.add_parser("history", help="a workflow's runs, newest first")
    history.add_argument("name")
    history.add_argument("--json", action="store_true")
    history.add_argument(
        "--limit", type=_count, default=50, metavar="N", help="list at most N runs (default 50)"
    )

    schedule = actions.add_parser(
        "schedule",
        help="run a workflow by itself at set times",
        description=(
            "Run a workflow by itself at set times, in your time zone. Runs happen while the "
            "window (in the tray) or 'ensemble service' runs."
        ),
    )
    schedule.add_argument("name")
    when = schedule.add_mutually_exclusive_group(required=True)
    when.add_argument("--once", metavar="DATETIME", help="once, e.g. '2026-12-24 09:00'")
    when.add_argument(
        "--hourly", nargs="?", const=":00", metavar=":MM", help="every hour (at minute :MM; default :00)"
    )
    when.add_argument("--daily", metavar="HH:MM", help="every day at HH:MM")
    when.add_argument("--weekdays", metavar="HH:MM", help="Monday to Friday at HH:MM")
    when.add_argument(
        "--weekly", nargs=2, metavar=("DAYS", "HH:MM"), help="on these days, e.g. mon,thu 09:00"
    )
    when.add_argument("--monthly", nargs=2, metavar=("DAY", "HH:MM"), help="on this day of the month")
    when.add_argument("--cron", metavar="EXPR", help="a cron expression: 'minute hour day month weekday'")
    schedule.add_argument(
        "--catch-up",
        choices=["once", "skip"],
        default="once",
        help="after the computer was off at a due time: run once when back (default), or skip",
    )
    schedule.add_argument("--timezone", metavar="TZ", help="an IANA time zone (default: this computer's)")

    trigger = actions.add_parser(
        "trigger",
        help="run a workflow when an email or a file arrives",
        description="Run a workflow when an email arrives in a mail folder, or a file in a folder.",
    )
    trigger.add_argument("name")
    source = trigger.add_mutually_exclusive_group(required=True)
    source.add_argument("--email", metavar="FOLDER", help="a mail folder to watch, e.g. INBOX")
    source.add_argument("--file", metavar="DIR", type=Path, help="a folder to watch for new or changed files")
    trigger.add_argument(
        "--account", metavar="NAME", help="with --email: the account (default: the default one)"
    )
    trigger.add_argument(
        "--from", dest="from_glob", metavar="GLOB", help="with --email: only from these senders"
    )
    trigger.add_argument("--subject", metavar="GLOB", help="with --email: only with a subject like this")
    trigger.add_argument(
        "--glob", metavar="GLOB", help="with --file: only files named like this, e.g. '*.pdf'"
    )
    trigger.add_argument(
        "--param",
        metavar="NAME",
        help="the parameter that receives the email or file (default: the first fitting one)",
    )
    actions.add_parser("unschedule", help="remove a workflow's schedule and trigger").add_argument("name")

    commands.add_parser(
        "service",
        help="run scheduled and triggered workflows without the window, until stopped",
        description=(
            "Runs the engine without a window: scheduled and triggered workflows run, missions a "
            "previous stop paused carry on, and each action waiting for you is printed with the "
            "command that decides it. Stop it with Ctrl+C or SIGTERM: running missions pause."
        ),
    )
    commands.add_parser("pending", help="the actions waiting for you, across missions").add_argument(
        "--json", action="store_true"
    )
    decide = commands.add_parser("decide", help="approve or reject an action waiting for you")
    decide.add_argument("action_id")
    decide.add_argument("decision", choices=["approve", "reject"])
    decide.add_argument("--reason", help="why (shown to the agent when rejected)")


def _param_option(parser: argparse.ArgumentParser, metavar: str, help_text: str) -> None:
    parser.add_argument(
        "--param", dest="params", action="append", default=[], metavar=metavar, help=help_text
    )


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


def backend_environment(args: argparse.Namespace) -> dict[str, str]:
    """The environment that carries ``--backend``/``--temporal``… to whatever loads the
    settings next (the window, the engine): :meth:`app.settings.Settings.load` reads it."""
    found = {
        "ENSEMBLE_BACKEND": getattr(args, "backend", None),
        "ENSEMBLE_TEMPORAL": getattr(args, "temporal_address", None),
        "ENSEMBLE_TEMPORAL_NAMESPACE": getattr(args, "temporal_namespace", None),
        "ENSEMBLE_TEMPORAL_TASK_QUEUE": getattr(args, "temporal_task_queue", None),
        "ENSEMBLE_TEMPORAL_TLS": "1" if getattr(args, "temporal_tls", None) else None,
    }
    return {name: value for name, value in found.items() if value}
