"""The command line's workflow commands: ``ensemble workflow …``, ``ensemble service``,
``ensemble pending`` and ``ensemble decide`` (see :mod:`app.cli`).

Like :mod:`app.commands`, they go through the engine's facade (:class:`app.engine.Engine`)
and its contract (:mod:`app.api`), and import everything heavy inside the command that
needs it. ``ensemble workflow run`` shows the same progress, prompts and last JSON line as
``ensemble run`` (it uses :mod:`app.commands`' console). Times are shown in local time; JSON
holds them in UTC, as ISO 8601.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import sys
from typing import TYPE_CHECKING, Any, Literal

from app.cli_args import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK
from app.errors import EngineError

if TYPE_CHECKING:
    import argparse
    import asyncio
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from app.api import (
        ActionInfo,
        AnyEvent,
        ProposedParam,
        Schedule,
        Trigger,
        WorkflowInfo,
        WorkflowRunInfo,
    )
    from app.engine import Engine

_PARAM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_REASONS = {
    "manual": "by hand",
    "schedule": "on schedule",
    "catch_up": "catching up a missed time",
    "trigger": "on its trigger",
}
_PLANS = {
    "saved": "following its saved plan",
    "planned": "the lead plans it",
    "replanned": "the lead plans it again",
}


def dispatch(args: argparse.Namespace) -> int:
    """Runs ``args``' workflow, service, pending or decide command; returns the exit code.

    Raises:
        EnsembleError: Bad input or a refused request; :func:`app.commands.dispatch` prints it.
    """
    import asyncio

    if args.command == "service":
        return asyncio.run(_service())
    if args.command == "pending":
        return _pending(args)
    if args.command == "decide":
        return _decide(args)
    if args.workflow_command == "save":
        return asyncio.run(_save(args))
    if args.workflow_command == "run":
        return asyncio.run(_run(args))
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "list": _list,
        "show": _show,
        "export": _export,
        "import": _import,
        "delete": _delete,
        "history": _history,
        "schedule": _schedule,
        "trigger": _trigger,
        "unschedule": _unschedule,
    }
    return commands[args.workflow_command](args)


# Words into values ---------------------------------------------------------------------------


def parse_params(items: list[str]) -> dict[str, str]:
    """``--param NAME=VALUE`` options as a dict, in the order given.

    Raises:
        EngineError: An item is not NAME=VALUE, a name is not a parameter name, or repeats.
    """
    values: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name or not value.strip():
            raise EngineError(f"--param takes NAME=VALUE, e.g. month=2026-11; got '{item}'.")
        _check_name(name)
        if name in values:
            raise EngineError(f"The parameter {name} is given twice.")
        values[name] = value
    return values


def _check_name(name: str) -> None:
    if not _PARAM_NAME.match(name):
        raise EngineError(
            f"'{name}' is not a parameter name: use lower case letters, digits and _, "
            "starting with a letter (e.g. month, invoice_file)."
        )


def guess_type(value: str) -> Literal["date", "number", "text"]:
    """A parameter's type from the value it had: ``date``, ``number`` or ``text``."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        with contextlib.suppress(ValueError):
            dt.date.fromisoformat(value.strip())
            return "date"
    with contextlib.suppress(ValueError):
        float(value.replace(",", ""))
        return "number"
    return "text"


def proposed(name: str, value: str, description: str = "") -> ProposedParam:
    """A parameter named on the command line: it replaces ``value``, which is also its default
    (so that a schedule can run it; ``workflow run --param`` gives another)."""
    from app.api import ProposedParam, WorkflowParam

    _check_name(name)
    param = WorkflowParam(
        name=name,
        type=guess_type(value),
        default=value,
        description=description,
    )
    return ProposedParam(param=param, value=value)


def time_of_day(text: str) -> str:
    """``HH:MM`` (``9:00`` becomes ``09:00``).

    Raises:
        EngineError: Not a time of day from 00:00 to 23:59.
    """
    match = _HHMM.match(text.strip())
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise EngineError(f"'{text}' is not a time of day: give HH:MM, from 00:00 to 23:59 (e.g. 09:00).")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def weekdays(text: str) -> list[str]:
    """``mon,thu`` (or ``Monday,Thursday``, or a range ``mon-fri``) as ``["mon", "thu"]``,
    Monday first.

    Raises:
        EngineError: A word is not a day of the week.
    """
    chosen: set[int] = set()

    def day(word: str) -> int:
        key = word.strip().lower()
        for index, name in enumerate(_DAY_NAMES):
            if len(key) >= 3 and name.startswith(key):
                return index
        raise EngineError(
            f"'{word}' is not a day of the week: give days like mon,thu (mon tue wed thu fri sat sun)."
        )

    for part in text.replace(" ", ",").split(","):
        if not part:
            continue
        first, dash, last = part.partition("-")
        if dash:
            start, end = day(first), day(last)
            chosen.update(range(start, end + 1) if start <= end else [*range(start, 7), *range(end + 1)])
        else:
            chosen.add(day(part))
    if not chosen:
        raise EngineError("Give the days of the week, e.g. mon,thu.")
    return [_DAYS[i] for i in sorted(chosen)]


def schedule_from_args(args: argparse.Namespace, *, now: dt.datetime | None = None) -> Schedule:
    """The :class:`~app.api.Schedule` that ``ensemble workflow schedule``'s options describe.

    Args:
        args: The parsed options (exactly one of once, hourly, daily, weekdays, weekly,
            monthly, cron; catch_up; timezone).
        now: The time to compare a one-time schedule with (default: now).

    Raises:
        EngineError: A time, day, time zone or cron expression is not valid, or a one-time
            schedule's time has passed.
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from pydantic import ValidationError

    from app.api import Schedule

    zone_name = (args.timezone or "").strip()
    zone: dt.tzinfo | None = None
    if zone_name:
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise EngineError(
                f"'{zone_name}' is not a time zone: give an IANA name such as Europe/Paris."
            ) from None
    fields: dict[str, Any] = {"timezone": zone_name, "catch_up": args.catch_up}
    if args.once is not None:
        try:
            when = dt.datetime.fromisoformat(args.once.strip().replace(" ", "T", 1))
        except ValueError:
            raise EngineError(
                f"'{args.once}' is not a date and time: give YYYY-MM-DD HH:MM (e.g. 2026-12-24 09:00)."
            ) from None
        aware = when if when.tzinfo else when.replace(tzinfo=zone) if zone else when.astimezone()
        if aware <= (now or dt.datetime.now(dt.UTC)):
            raise EngineError(f"{when:%Y-%m-%d %H:%M} has already passed: give a time to come.")
        fields |= {"kind": "once", "at": when.replace(second=0, microsecond=0).isoformat(timespec="minutes")}
    elif args.hourly is not None:
        minute = args.hourly.strip().lstrip(":")
        if not minute.isdigit() or not 0 <= int(minute) <= 59:
            raise EngineError(f"'{args.hourly}' is not a minute past the hour: give :MM, e.g. :30.")
        fields |= {"kind": "hourly", "at": f":{int(minute):02d}"}
    elif args.daily is not None:
        fields |= {"kind": "daily", "at": time_of_day(args.daily)}
    elif args.weekdays is not None:
        fields |= {"kind": "weekdays", "at": time_of_day(args.weekdays)}
    elif args.weekly is not None:
        days, at = args.weekly
        fields |= {"kind": "weekly", "days": weekdays(days), "at": time_of_day(at)}
    elif args.monthly is not None:
        day, at = args.monthly
        if not day.strip().isdigit() or not 1 <= int(day) <= 31:
            raise EngineError(f"'{day}' is not a day of the month: give 1 to 31.")
        fields |= {"kind": "monthly", "day": int(day), "at": time_of_day(at)}
    else:
        expression = " ".join(args.cron.split())
        _check_cron(expression, zone)
        fields |= {"kind": "cron", "cron": expression}
    try:
        return Schedule(**fields)
    except ValidationError as exc:
        raise EngineError(f"That schedule is not valid: {_first_problem(exc)}.") from None


def _check_cron(expression: str, zone: dt.tzinfo | None) -> None:
    from apscheduler.triggers.cron import CronTrigger

    if len(expression.split()) != 5:
        raise EngineError(
            f"'{expression}' is not a cron expression: give five fields, minute hour day month weekday "
            "(e.g. '0 9 * * mon-fri')."
        )
    try:
        CronTrigger.from_crontab(expression, timezone=zone or dt.UTC)
    except ValueError as exc:
        raise EngineError(f"'{expression}' is not a valid cron expression: {exc}.") from None


def trigger_from_args(args: argparse.Namespace) -> Trigger:
    """The :class:`~app.api.Trigger` that ``ensemble workflow trigger``'s options describe.

    Raises:
        EngineError: Options of the other kind are given, or the folder to watch is missing.
    """
    from app.api import Trigger

    if args.param is not None:
        _check_name(args.param)
    if args.email is not None:
        if args.glob:
            raise EngineError("--glob goes with --file; for an email, use --from and --subject.")
        return Trigger(
            kind="email",
            folder=args.email.strip() or "INBOX",
            account=args.account,
            from_glob=args.from_glob,
            subject_glob=args.subject,
            param=args.param,
        )
    if args.account or args.from_glob or args.subject:
        raise EngineError("--account, --from and --subject go with --email; for files, use --glob.")
    folder = args.file.expanduser().resolve()
    if not folder.is_dir():
        raise EngineError(f"{args.file} is not a folder: give a folder to watch for files.")
    return Trigger(kind="file", folder=str(folder), glob=args.glob, param=args.param)


def _first_problem(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError) and exc.errors():
        message = str(exc.errors()[0]["msg"])
        return message.removeprefix("Value error, ")
    return str(exc)


def local(when: dt.datetime | None) -> str:
    """A time for a person: in local time, ``Mon 2026-12-07 09:00``; ``—`` for none."""
    if when is None:
        return "—"
    aware = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return f"{aware.astimezone():%a %Y-%m-%d %H:%M}"


# ensemble workflow save / run --------------------------------------------------------------


@contextlib.contextmanager
def _engine() -> Iterator[Engine]:
    from app.commands import _engine as engine

    with engine() as opened:
        yield opened


async def _save(args: argparse.Namespace) -> int:
    from app.commands import told
    from app.engine import Engine

    engine = told(Engine())
    try:
        mission = engine.mission_info(args.mission_id)
        if mission is None:
            raise EngineError(f"There is no mission {args.mission_id}.")
        if args.params:
            chosen = [proposed(name, value) for name, value in parse_params(args.params).items()]
        else:
            print("Asking the lead which values would change next time…", file=sys.stderr, flush=True)
            answer = await engine.propose_parameters(mission.id)
            confirmed = await _confirm(answer)
            if confirmed is None:
                return EXIT_CANCELLED
            chosen = confirmed
        info = _checked(
            lambda: engine.save_mission_as_workflow(
                mission.id, args.name, chosen, description=args.description
            )
        )
    finally:
        await engine.close()
    print(f"Saved the workflow “{info.name}” (version {info.version}).")
    params = info.spec.params
    if params:
        for param in params:
            print(f"  {{{param.name}}}  {_param_words(param.type, param.default, param.description)}")
        example = " ".join(f"--param {p.name}=VALUE" for p in params)
        print(f'Run it again with: ensemble workflow run "{info.name}" {example}')
    else:
        print(f'Run it again with: ensemble workflow run "{info.name}"')
    return EXIT_OK


def _param_words(kind: str, default: str | None, description: str) -> str:
    words = [kind]
    if default is not None:
        words.append(f"default “{default}”")
    else:
        words.append("no default: each run gives one")
    text = ", ".join(words)
    return f"{description} ({text})" if description else f"({text})"


async def _confirm(offered: list[ProposedParam]) -> list[ProposedParam] | None:
    """Shows the lead's proposal and lets the person change it, a line at a time.

    Returns:
        The parameters to save (Enter on an empty line), or None: the person cancelled, or
        standard input ended.
    """
    import asyncio

    chosen = list(offered)
    print(
        "Press Enter to save the workflow with these parameters. Or type NAME=VALUE to set the text "
        "of the mission a parameter replaces (a new NAME adds one), -NAME to drop one, q to cancel."
    )
    while True:
        _show_proposal(chosen)
        print("> ", end="", flush=True)
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            print("\nNothing saved: no answer was read. Name the parameters with --param NAME=VALUE.")
            return None
        text = line.strip()
        if not text:
            return chosen
        if text.lower() in ("q", "quit", "cancel"):
            print("Nothing saved.")
            return None
        try:
            chosen = _edit(chosen, text)
        except EngineError as exc:
            print(f"  {exc}")


def _show_proposal(chosen: list[ProposedParam]) -> None:
    if not chosen:
        print("Parameters: none (each run does exactly the same).")
        return
    print("Parameters (what changes next time):")
    for item in chosen:
        about = f" — {item.param.description}" if item.param.description else ""
        print(f"  {item.param.name} = {item.value}  ({item.param.type}){about}")


def _edit(chosen: list[ProposedParam], text: str) -> list[ProposedParam]:
    """``chosen`` after one edit line: ``NAME=VALUE`` or ``-NAME``.

    Raises:
        EngineError: The line is neither, or names no parameter to drop.
    """
    if text.startswith("-"):
        name = text[1:].strip()
        kept = [p for p in chosen if p.param.name != name]
        if len(kept) == len(chosen):
            raise EngineError(f"There is no parameter {name} to drop.")
        return kept
    name, value = next(iter(parse_params([text]).items()))
    for index, item in enumerate(chosen):
        if item.param.name == name:
            # A default that was the old value follows it; a chosen one (or none) stays.
            default = value if item.param.default == item.value else item.param.default
            param = item.param.model_copy(update={"default": default})
            return [
                *chosen[:index],
                item.model_copy(update={"param": param, "value": value}),
                *chosen[index + 1 :],
            ]
    return [*chosen, proposed(name, value)]


def _checked(call: Callable[[], WorkflowInfo]) -> WorkflowInfo:
    """Calls the facade; a workflow it finds invalid becomes an error a person can read."""
    from pydantic import ValidationError

    try:
        return call()
    except ValidationError as exc:
        raise EngineError(f"That workflow is not valid: {_first_problem(exc)}.") from None


async def _run(args: argparse.Namespace) -> int:
    import asyncio

    from app.commands import _Console, _print_outcome, told
    from app.engine import Engine

    values = parse_params(args.params)
    engine = told(Engine())
    console = _Console(engine)
    engine.subscribe_events(console.on_event)
    prompter = asyncio.create_task(console.serve_prompts())
    # A decision may also come from another process (ensemble decide, the window).
    taker = asyncio.create_task(engine.take_requested_decisions())
    run: WorkflowRunInfo | None = None
    try:
        mission_id = engine.run_workflow(args.name, values, reason="manual", approval=args.approve)
        console.mission_id = mission_id
        try:
            outcome = await engine.wait(mission_id)
        except asyncio.CancelledError:
            await engine.cancel(mission_id)
            outcome = await engine.wait(mission_id)
        run = engine.workflow_run_of(mission_id)
    finally:
        prompter.cancel()
        taker.cancel()
        await asyncio.gather(prompter, taker, return_exceptions=True)
        await engine.close()
    if args.json:
        line = {
            **outcome.to_json(),
            "workflow": run.workflow if run else args.name,
            "run_id": run.id if run else None,
        }
        print(json.dumps(line, ensure_ascii=False), flush=True)
    else:
        _print_outcome(outcome, as_json=False)
    if outcome.status == "done":
        return EXIT_OK
    return EXIT_CANCELLED if outcome.status == "cancelled" else EXIT_FAILED


# ensemble workflow list / show / history / export / import / delete -------------------------


def _list(args: argparse.Namespace) -> int:
    with _engine() as engine:
        listed = engine.list_workflows()
    if args.json:
        print(json.dumps([_info_json(w) for w in listed], ensure_ascii=False))
        return EXIT_OK
    if not listed:
        print(
            "No workflows yet. Save a finished mission as one: ensemble workflow save MISSION_ID --name NAME"
        )
    for w in listed:
        when = w.schedule or w.trigger or "by hand"
        next_run = f"; next {local(w.next_run_at)}" if w.next_run_at else ""
        last = f"; last run {w.last_run.status} {local(w.last_run.started_at)}" if w.last_run else ""
        print(f"{w.name}  (v{w.version}, {w.runs} run{'s' if w.runs != 1 else ''})  {when}{next_run}{last}")
    return EXIT_OK


def _info_json(info: WorkflowInfo) -> dict[str, Any]:
    return info.model_dump(mode="json")


def _show(args: argparse.Namespace) -> int:
    with _engine() as engine:
        info = engine.workflow_info(args.name)
    if args.json:
        print(json.dumps(_info_json(info), ensure_ascii=False, indent=1))
        return EXIT_OK
    spec = info.spec
    print(f"{info.name}  (version {info.version}, id {info.id})")
    if spec.description:
        print(f"  {spec.description}")
    print(f"Instruction: {spec.instruction}")
    if spec.params:
        print("Parameters:")
        for p in spec.params:
            print(f"  {{{p.name}}}  {_param_words(p.type, p.default, p.description)}")
    if spec.workspaces:
        print(f"Folders: {', '.join(spec.workspaces)}")
    if spec.account:
        print(f"Account: {spec.account}")
    if spec.allowed_sites:
        print(f"Sites: {', '.join(spec.allowed_sites)}")
    print(f"Approval: {_APPROVALS.get(spec.approval, spec.approval)}")
    for rule in spec.rules:
        print(f"Rule: {_rule_words(rule.model_dump(mode='json'))}")
    if spec.plan:
        print(
            f"Saved plan ({len(spec.plan)} task{'s' if len(spec.plan) != 1 else ''}; runs skip the planning):"
        )
        for task in spec.plan:
            after = f" after {', '.join(task.depends_on)}" if task.depends_on else ""
            print(f"  {task.id} ({task.agent}{after}): {_clip(task.instructions, 200)}")
    else:
        print("Saved plan: none yet (the lead plans the first run)")
    print(
        f"Schedule: {info.schedule or 'none'}"
        + (f"; next run {local(info.next_run_at)}" if info.next_run_at else "")
    )
    print(f"Trigger: {info.trigger or 'none'}")
    print(
        f"Runs: {info.runs}"
        + (f"; last {info.last_run.status} {local(info.last_run.started_at)}" if info.last_run else "")
    )
    print(f"Saved {local(info.created_at)}; changed {local(info.updated_at)}")
    return EXIT_OK


_APPROVALS = {
    "ask": "ask for each action its rules do not decide",
    "all": "approve every action",
    "none": "approve no action",
}


def _rule_words(rule: dict[str, Any]) -> str:
    description = rule.get("description")
    if isinstance(description, str) and description:
        return description
    return json.dumps(rule, ensure_ascii=False)


def _clip(text: str, size: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 1] + "…"


def _history(args: argparse.Namespace) -> int:
    with _engine() as engine:
        info = engine.workflow_info(args.name)
        runs = engine.workflow_runs(info.name, limit=args.limit)
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in runs], ensure_ascii=False))
        return EXIT_OK
    if not runs:
        print(f'“{info.name}” has not run yet. Run it with: ensemble workflow run "{info.name}"')
    for r in runs:
        values = ", ".join(f"{k}={v}" for k, v in r.params.items())
        cost = f"  ${r.cost:.2f}" if r.cost is not None else ""
        waiting = f", {r.waiting} waiting for you" if r.waiting else ""
        print(
            f"{r.id}  {local(r.started_at)}  {r.status:<11} {_REASONS.get(r.reason, r.reason)}, "
            f"{r.plan} plan, v{r.version}  {r.changes} change{'s' if r.changes != 1 else ''}{waiting}  "
            f"{r.tokens:,} tokens{cost}  mission {r.mission_id}" + (f"  ({values})" if values else "")
        )
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    with _engine() as engine:
        info = engine.workflow_info(args.name)
        text = engine.export_workflow(info.name)
    if str(args.file) == "-":
        sys.stdout.write(text)
        return EXIT_OK
    path: Path = args.file.expanduser()
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise EngineError(f"Could not write {path}: {exc.strerror or exc}.") from None
    print(f"Exported “{info.name}” (version {info.version}) to {path}.")
    return EXIT_OK


def _import(args: argparse.Namespace) -> int:
    if str(args.file) == "-":
        text = sys.stdin.read()
    else:
        try:
            text = args.file.expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise EngineError(f"Could not read {args.file}: {reason}.") from None
    with _engine() as engine:
        if not args.replace:
            _check_free(engine, text, args.name)
        info = _checked(lambda: engine.import_workflow(text, name=args.name, replace=args.replace))
    print(f"Imported the workflow “{info.name}” (version {info.version}).")
    # A shared file may bring its schedule or trigger: say so, it runs by itself from now on.
    if info.schedule or info.trigger:
        print(f"It runs by itself: {info.schedule or info.trigger}.")
        print(f'Stop that with: ensemble workflow unschedule "{info.name}"')
    return EXIT_OK


def _check_free(engine: Engine, text: str, name: str | None) -> None:
    """Refuses, with both ways out, an import whose name is taken (without ``--replace``)."""
    from pydantic import ValidationError

    from app.api import WorkflowSpec

    if name is None:
        try:
            name = WorkflowSpec.from_yaml(text).name
        except (ValidationError, ValueError):
            return  # the import itself says what is wrong with the file
    taken = {w.name.casefold(): w.name for w in engine.list_workflows()}
    if name.casefold() in taken:
        raise EngineError(
            f"A workflow named “{taken[name.casefold()]}” already exists. Import it under another "
            "name with --name NEW_NAME, or replace it (as a new version) with --replace."
        )


def _delete(args: argparse.Namespace) -> int:
    with _engine() as engine:
        info = engine.workflow_info(args.name)
        engine.delete_workflow(info.name)
    print(f"Deleted the workflow “{info.name}”. The missions of its runs stay in the journal.")
    return EXIT_OK


# ensemble workflow schedule / trigger / unschedule -------------------------------------------


def _schedule(args: argparse.Namespace) -> int:
    schedule = schedule_from_args(args)
    with _engine() as engine:
        info = _checked(lambda: engine.set_schedule(args.name, schedule))
    print(f"“{info.name}”: {info.schedule or schedule.describe()}.")
    if info.next_run_at is not None:
        print(f"Next run: {local(info.next_run_at)}.")
    print(_WHERE_RUNS)
    return EXIT_OK


def _trigger(args: argparse.Namespace) -> int:
    trigger = trigger_from_args(args)
    with _engine() as engine:
        info = _checked(lambda: engine.set_trigger(args.name, trigger))
    print(f"“{info.name}”: {info.trigger or trigger.describe()}.")
    print(_WHERE_RUNS)
    return EXIT_OK


_WHERE_RUNS = (
    "It runs while Ensemble runs: the window (it stays in the tray when closed) or `ensemble service`."
)


def _unschedule(args: argparse.Namespace) -> int:
    with _engine() as engine:
        info = engine.workflow_info(args.name)
        had = info.schedule is not None or info.trigger is not None
        if info.spec.schedule is not None:
            engine.set_schedule(info.name, None)
        if info.spec.trigger is not None:
            engine.set_trigger(info.name, None)
    if had:
        print(
            f"“{info.name}” no longer runs by itself; run it by hand with: "
            f'ensemble workflow run "{info.name}"'
        )
    else:
        print(f"“{info.name}” had no schedule and no trigger.")
    return EXIT_OK


# ensemble pending / decide -----------------------------------------------------------------


def _pending(args: argparse.Namespace) -> int:
    with _engine() as engine:
        actions = engine.list_actions(status="pending")
        statuses: dict[str, str] = {}
        for action in actions:
            if action.mission_id not in statuses:
                mission = engine.mission_info(action.mission_id)
                statuses[action.mission_id] = mission.status if mission else "unknown"
    if args.json:
        print(json.dumps([_action_json(a, statuses[a.mission_id]) for a in actions], ensure_ascii=False))
        return EXIT_OK
    if not actions:
        print("Nothing is waiting for you.")
    for a in actions:
        status = statuses[a.mission_id]
        print(
            f"{a.id}  {local(a.created_at)}  {a.title or a.tool}: {a.preview.summary}  mission {a.mission_id}"
        )
        if a.notice:
            print(f"    ! {a.notice}")
        if status == "running":
            print(f"    Decide: ensemble decide {a.id} approve   (or: reject --reason TEXT)")
        else:
            print(f"    Its mission is {status}: resume it to decide (ensemble resume {a.mission_id}).")
    return EXIT_OK


def _action_json(action: ActionInfo, mission_status: str) -> dict[str, Any]:
    return {
        "action_id": action.id,
        "mission_id": action.mission_id,
        "mission_status": mission_status,
        "agent": action.agent,
        "tool": action.tool,
        "title": action.title,
        "effect": action.effect,
        "summary": action.preview.summary,
        "arguments": action.arguments,
        "notice": action.notice,
        "ask_person": action.ask_person,
        "created_at": action.created_at.isoformat(),
    }


def _decide(args: argparse.Namespace) -> int:
    """Decides a waiting action: here if its mission ran here, else through the journal for
    the process that runs it (``ensemble service``, or another ``ensemble run``)."""
    with _engine() as engine:
        said = engine.request_decision(args.action_id, approve=args.decision == "approve", reason=args.reason)
    print(said)
    return EXIT_OK


# ensemble service --------------------------------------------------------------------------


class _Report:
    """What ``ensemble service`` prints while it runs: each run started, each action waiting
    for a person (with the command that decides it), each question, each mission's end."""

    def __init__(self, engine: Engine, loop: asyncio.AbstractEventLoop) -> None:
        self.engine = engine
        self.loop = loop

    def on_event(self, event: AnyEvent) -> None:
        from app.api import ActionProposed, MissionFinished, QuestionAsked, WorkflowRunStarted

        match event:
            case WorkflowRunStarted():
                _say(
                    f"▶ “{event.workflow}” started {_REASONS.get(event.reason, event.reason)} "
                    f"(version {event.version}, {_PLANS.get(event.plan, event.plan)}): "
                    f"mission {event.mission_id}"
                )
            case ActionProposed():
                # A rule may decide it right after it is proposed: look once that is done.
                self.loop.call_soon(self._waiting, event.action_id)
            case QuestionAsked():
                _say(f"? The lead asks, in mission {event.mission_id}: {event.summary}")
            case MissionFinished():
                run = self.engine.workflow_run_of(event.mission_id)
                what = (
                    f"“{run.workflow}” (mission {event.mission_id})" if run else f"Mission {event.mission_id}"
                )
                said = _clip((event.result or event.error or "").replace("**", ""), 200)
                _say(f"■ {what} {event.status}" + (f": {said}" if said else ""))

    def _waiting(self, action_id: str) -> None:
        action = self.engine.action_info(action_id)
        if action is None or action.status != "pending":
            return
        _say(
            f"? Waiting for you in mission {action.mission_id}: {action.title or action.tool}: "
            f"{action.preview.summary}\n    Decide: ensemble decide {action.id} approve   "
            "(or: reject --reason TEXT)"
        )


def _say(line: str) -> None:
    print(f"{dt.datetime.now().astimezone():%Y-%m-%d %H:%M:%S}  {line}", flush=True)


async def _service() -> int:
    import asyncio
    import os
    import signal

    from app.commands import told
    from app.engine import Engine

    engine = told(Engine())
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGTERM, signal.SIGINT)
    for number in signals:
        loop.add_signal_handler(number, stop.set)
    engine.subscribe_events(_Report(engine, loop).on_event)
    paused = 0
    try:
        # Owning the schedules, the engine also takes the decisions `ensemble decide` leaves.
        await engine.start_schedules(owner="service")
        try:
            _say(f"Ensemble service: running as process {os.getpid()} for {engine.paths.data_dir}.")
            _print_scheduled(engine)
            for mission_id, why in engine.resume_paused():
                _say(
                    f"↻ Mission {mission_id} "
                    + (f"could not resume: {why}" if why else "resumes where it was paused.")
                )
            _say("Stop it with Ctrl+C or SIGTERM: running missions pause, and carry on when it starts again.")
            await stop.wait()
            _say("Stopping…")
        finally:
            await engine.stop_schedules()
            paused = await engine.pause_all("the Ensemble service was stopped")
    finally:
        await engine.close(pause=True)
        for number in signals:
            loop.remove_signal_handler(number)
    if paused:
        _say(
            f"Stopped; {paused} running mission{'s' if paused != 1 else ''} paused, "
            "to carry on at the next start."
        )
    else:
        _say("Stopped.")
    return EXIT_OK


def _print_scheduled(engine: Engine) -> None:
    listed = [w for w in engine.list_workflows() if w.schedule or w.trigger]
    if not listed:
        _say(
            "No workflow has a schedule or a trigger yet (ensemble workflow schedule NAME --daily 09:00); "
            "any set while the service runs is picked up."
        )
        return
    _say(f"{len(listed)} workflow{'s' if len(listed) != 1 else ''} run by themselves here:")
    for w in listed:
        if w.schedule:
            next_run = f"; next run {local(w.next_run_at)}" if w.next_run_at else ""
            print(f"    “{w.name}”: {w.schedule}{next_run}", flush=True)
        if w.trigger:
            print(f"    “{w.name}”: {w.trigger}", flush=True)
