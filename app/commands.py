"""The command line's commands other than the window's: run, resume, demo --headless,
rules, missions, audit, undo, key and account (see :mod:`app.cli`).

Like the window, they go through the engine's facade (:class:`app.engine.Engine`) and its
contract (:mod:`app.api`): typed events, read models, and :func:`app.api.encode` for JSON.
The commands that only read (``missions``, ``audit``, ``rules list``) take the facade's
read-only path (:mod:`app.reader`) instead of starting an engine.

Everything heavy is imported inside the command that needs it, not here: the engine (the
model client, the orchestrator, the connectors), the contract (pydantic models, the connectors'
previews) and the settings (the email connector's account model), so that a command that
lists missions loads none of them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

from app.cli_args import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK
from app.errors import EngineError, EnsembleError
from app.paths import Paths

if TYPE_CHECKING:
    import argparse
    import asyncio
    from collections.abc import Iterator

    from app.api import ActionInfo, ActionPreview, ActionProposed, AnyEvent, QuestionAsked, RuleSuggested

    # The engine pulls in the anthropic SDK, which takes a while to import: it is loaded only
    # once a command needs it.
    from app.engine import Decision, Engine, MissionOutcome
    from app.reader import JournalReader


def dispatch(args: argparse.Namespace) -> int:
    """Runs the command ``args`` names (parsed by :mod:`app.cli_args`); returns the exit code."""
    try:
        if args.command in ("run", "resume"):
            import asyncio

            return asyncio.run(_run(args))
        if args.command == "demo":
            return _demo(args)
        if args.command == "rules":
            return _rules(args)
        if args.command == "missions":
            return _missions(args)
        if args.command == "audit":
            return _audit(args)
        if args.command == "mission":
            return _mission(args)
        if args.command == "undo":
            return _undo(args)
        if args.command == "account":
            return _account(args)
        if args.command == "contacts":
            return _contacts(args)
        if args.command == "memory":
            return _memory(args)
        if args.command == "worker":
            return _worker(args)
        if args.command in ("workflow", "service", "pending", "decide"):
            from app import commands_workflow

            return commands_workflow.dispatch(args)
        return _key(args)
    except EnsembleError as exc:
        print(f"ensemble: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("ensemble: stopped.", file=sys.stderr)
        return EXIT_CANCELLED
    except BrokenPipeError:
        # The reader went away (ensemble missions | head -1): nothing more to say to it.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


# ensemble worker -------------------------------------------------------------------------


def _worker(args: argparse.Namespace) -> int:
    """Runs a Temporal worker until Ctrl+C or SIGTERM (the Temporal backend, issue 19)."""
    import asyncio

    try:
        from app.temporal.worker import serve
    except ImportError as exc:
        logging.getLogger(__name__).info("The Temporal backend cannot be imported: %s", exc)
        print(
            "ensemble: the Temporal backend is not installed here. Install Ensemble with its "
            "'temporal' extra (scripts/setup.sh does); the desktop bundle does not include it.",
            file=sys.stderr,
        )
        return EXIT_FAILED

    def ready(sentence: str) -> None:
        print(sentence, file=sys.stderr, flush=True)

    code = EXIT_OK
    try:
        key = next(
            (os.environ[v] for v in ("ENSEMBLE_TEMPORAL_API_KEY", "TEMPORAL_API_KEY") if os.environ.get(v)),
            None,
        )
        asyncio.run(
            serve(
                args.temporal,
                namespace=args.namespace,
                task_queue=args.task_queue,
                tls=bool(args.tls or os.environ.get("ENSEMBLE_TEMPORAL_TLS") == "1"),
                api_key=key,
                ready=ready,
            )
        )
    except RuntimeError as exc:
        # The SDK's own words ("Failed client connect: ... tonic::transport ...") go to the log.
        logging.getLogger(__name__).info("Temporal connection failed: %s", exc)
        print(
            f"ensemble: could not reach the Temporal server at {args.temporal}. Check the address, and "
            "that the server is running and lets this machine in.",
            file=sys.stderr,
        )
        code = EXIT_FAILED
    # The SDK's Rust threads may outlive the interpreter's finalisation and abort it (a known
    # bug, temporalio/sdk-python#300, seen here after a failed connection): everything is
    # done, so the process ends without finalising.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# ensemble run ----------------------------------------------------------------------------


class _Lines:
    """Lines of standard input, read by a daemon thread so that the loop never blocks on it."""

    def __init__(self, stream: TextIO) -> None:
        import asyncio
        import threading

        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._ended = False
        loop = asyncio.get_running_loop()

        def pump() -> None:
            for line in stream:
                loop.call_soon_threadsafe(self._queue.put_nowait, line.rstrip("\n"))
            loop.call_soon_threadsafe(self._queue.put_nowait, None)

        threading.Thread(target=pump, name="stdin", daemon=True).start()

    async def read(self) -> str | None:
        """The next line, or None at the end of input (and ever after)."""
        if self._ended:
            return None
        line = await self._queue.get()
        self._ended = line is None
        return line


class _Console:
    """Prints a mission's progress and asks the person for decisions and answers."""

    def __init__(self, engine: Engine, mission_id: str | None = None) -> None:
        import asyncio

        self.engine = engine
        self.mission_id = mission_id
        self.prompts: asyncio.Queue[QuestionAsked | ActionProposed | RuleSuggested] = asyncio.Queue()
        self._lines: _Lines | None = None

    def on_event(self, event: AnyEvent) -> None:
        from app.api import ActionProposed, QuestionAsked, RuleSuggested

        if self.mission_id is not None and event.mission_id != self.mission_id:
            return
        line = _progress_line(event)
        if line:
            print(line, flush=True)
        if isinstance(event, (QuestionAsked, ActionProposed, RuleSuggested)):
            self.prompts.put_nowait(event)

    async def serve_prompts(self) -> None:
        """Asks the person, one prompt at a time, for as long as the mission runs."""
        from app.api import QuestionAsked, RuleSuggested

        held: dict[str, list[ActionProposed]] = {}
        while True:
            event = await self.prompts.get()
            if isinstance(event, QuestionAsked):
                await self._answer(event)
            elif isinstance(event, RuleSuggested):
                await self._offer_rule(event)
            elif event.batch is not None and event.batch_size > 1:
                # A turn's proposals come out together: asked about as one batch once all are in.
                batch = held.setdefault(event.batch, [])
                batch.append(event)
                if len(batch) >= event.batch_size:
                    await self._decide_together(held.pop(event.batch))
            else:
                await self._decide(event)

    async def _read(self, prompt: str) -> str | None:
        print(prompt, end="", flush=True)
        if self._lines is None:
            self._lines = _Lines(sys.stdin)
        line = await self._lines.read()
        if not sys.stdin.isatty():
            print()  # no terminal echoed the answer's end of line: what follows starts a new one
        return line

    async def _answer(self, event: QuestionAsked) -> None:
        line = await self._read("Your answer> ")
        with contextlib.suppress(EngineError):
            self.engine.answer(event.mission_id, line if line is not None else "(The person did not answer.)")

    async def _decide(self, event: ActionProposed) -> None:
        from app.engine import Decision

        action = self.engine.action_info(event.action_id)
        if action is None or action.status != "pending":
            return  # A rule decided it.
        while True:
            line = await self._read("Approve? [a]pprove, [r]eject REASON, [e]dit JSON> ")
            if line is None:
                decision = Decision.reject("no decision: standard input closed")
            else:
                decision_or_none = _parse_decision(line)
                if decision_or_none is None:
                    print(
                        "  Type a to approve, r and a reason to reject, "
                        "or e and the edited arguments as JSON."
                    )
                    continue
                decision = decision_or_none
            try:
                self.engine.decide(action.id, decision)
            except EnsembleError as exc:
                print(f"  {exc}")
                if line is None:
                    return
                continue
            return

    async def _offer_rule(self, event: RuleSuggested) -> None:
        """A one-line question; a rule is added only on yes."""
        line = await self._read(f"{event.summary} [y/N]> ")
        if line is None or line.strip().lower() not in ("y", "yes"):
            return
        with contextlib.suppress(EnsembleError):
            self.engine.add_rule(
                "approve_all",
                mission_id=event.mission_id,
                tool=event.tool,
                where=dict(event.where),
                description=event.description,
            )
            print(f"  Rule added: {event.description}.")

    async def _decide_together(self, events: list[ActionProposed]) -> None:
        """Asks about a turn's proposals a batch at a time: one per tool, by consequence."""
        from app.api import ActionInfo, batches

        waiting = [e for e in events if (a := self.engine.action_info(e.action_id)) and a.status == "pending"]
        by_id = {e.action_id: e for e in waiting}
        for group in batches(ActionInfo.proposed(e) for e in waiting):
            if len(group) == 1:
                await self._decide(by_id[group[0].id])
            elif await self._decide_batch(group) == "s":
                for number, action in enumerate(group, 1):
                    print(
                        f"? {number} of {len(group)}: {action.preview.summary or action.title} ({action.id})"
                    )
                    await self._decide(by_id[action.id])

    async def _decide_batch(self, group: list[ActionInfo]) -> str | None:
        """One prompt for a batch: ``a``, ``r REASON``, ``e N JSON`` or ``s``; returns ``"s"``
        when the person takes them one by one."""
        from app.api import batch_summary
        from app.engine import Decision

        print(f"? Batch of {len(group)}: {batch_summary(group)}")
        for number, action in enumerate(group, 1):
            print(f"    {number}. {action.preview.summary or action.title} ({action.id})")
        while True:
            line = await self._read(
                f"Approve all {len(group)}? [a]pprove all, [r]eject all REASON, "
                "[e]dit N JSON and approve the rest, [s] one by one> "
            )
            if line is None:
                decisions = [(a.id, Decision.reject("no decision: standard input closed")) for a in group]
            else:
                parsed = _parse_batch(line, len(group))
                if parsed is None:
                    print(
                        "  Type a to approve all, r and a reason to reject all, e, an item's number "
                        "and its edited arguments as JSON to edit it and approve the rest, or s to "
                        "decide them one by one."
                    )
                    continue
                if isinstance(parsed, str):
                    return parsed
                decisions = [(a.id, parsed.get(n, Decision.approve())) for n, a in enumerate(group, 1)]
                if 0 in parsed:
                    decisions = [(a.id, parsed[0]) for a in group]
            try:
                self.engine.decide_batch(decisions)
            except EnsembleError as exc:
                print(f"  {exc}")
                if line is None:
                    return None
                continue
            return None


def _parse_batch(line: str, size: int) -> dict[int, Decision] | str | None:
    """A batch prompt's answer: ``"s"``; ``{0: decision}`` for all; ``{N: edit}`` for item N
    (the rest approved); None if it cannot be read."""
    from app.engine import Decision

    text = line.strip()
    word, _, rest = text.partition(" ")
    word = word.lower()
    if word in ("s", "split", "one"):
        return "s"
    if word in ("a", "approve", "y", "yes"):
        return {0: Decision.approve()}
    if word in ("r", "reject", "n", "no"):
        return {0: Decision.reject(rest.strip() or None)}
    if word in ("e", "edit"):
        number, _, arguments_text = rest.strip().partition(" ")
        if not number.isdigit() or not 1 <= int(number) <= size:
            return None
        try:
            arguments = json.loads(arguments_text)
        except json.JSONDecodeError:
            return None
        return {int(number): Decision.edit(arguments)} if isinstance(arguments, dict) else None
    return None


def _parse_decision(line: str) -> Decision | None:
    from app.engine import Decision

    text = line.strip()
    word, _, rest = text.partition(" ")
    word = word.lower()
    if word in ("a", "approve", "y", "yes"):
        return Decision.approve()
    if word in ("r", "reject", "n", "no"):
        return Decision.reject(rest.strip() or None)
    if word in ("e", "edit") and rest.strip():
        try:
            arguments = json.loads(rest)
        except json.JSONDecodeError:
            return None
        return Decision.edit(arguments) if isinstance(arguments, dict) else None
    return None


def _progress_line(event: AnyEvent) -> str | None:
    """What the terminal shows of an event while a mission runs; None: nothing."""
    from app.api import (
        ActionProposed,
        ChatMessageEvent,
        ModelCallMade,
        QuestionAsked,
        TaskFinished,
        TaskStarted,
        TextDelta,
        ToolCalled,
        ToolResultEvent,
        call_target,
    )

    match event:
        case TextDelta() | ModelCallMade() | ToolResultEvent(is_error=False):
            return None
        case ActionProposed():
            body = "\n".join("    " + line for line in _preview_lines(event.preview))
            summary = event.preview.summary
            line = f"? Proposed action {event.action_id} ({event.effect}): {summary}\n{body}"
            if event.warning:
                # Why the person is asked although a rule or --approve might have decided.
                line += f"\n  ! {event.warning}"
            if event.ask_person:
                line += "\n  ! Only you can decide this one: no rule and no --approve applies to it."
            return line
        case TaskStarted():
            return f"▶ Task {event.key} ({event.agent}): {_clip(event.instructions, 100)}"
        case TaskFinished():
            return f"■ {event.summary}" + (f"\n    {_clip(str(event.result), 300)}" if event.result else "")
        case ToolCalled():
            # What the call does and what it is about, in words (the audit keeps the arguments).
            return f"  · {event.title or event.tool}{call_target(event.arguments)}"
        case QuestionAsked():
            return f"? The lead asks: {event.summary}"
        case ChatMessageEvent():
            return f"\n{event.text}\n"
    return f"  {event.summary}"


def _preview_lines(preview: ActionPreview) -> list[str]:
    """The preview's text, without its first line when that only repeats the summary."""
    lines = preview.text.splitlines()
    if lines and lines[0].strip() == preview.summary.strip():
        lines = lines[1:]
    return lines


def _clip(text: str, size: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 1] + "…"


async def _run(args: argparse.Namespace) -> int:
    import asyncio

    from app.api import MissionSpec
    from app.engine import Engine
    from app.settings import Settings

    settings = Settings.load(Paths.default().settings)
    if getattr(args, "model", None):  # run and resume have --model; the demo has its own
        settings = settings.model_copy(update={"model": args.model})
    engine = told(Engine(settings=settings))
    console = _Console(engine)
    engine.subscribe_events(console.on_event)
    prompter = asyncio.create_task(console.serve_prompts())
    # A card may also be decided from another terminal (ensemble decide).
    taker = asyncio.create_task(engine.take_requested_decisions())
    try:
        if args.command == "resume":
            # A resumed mission keeps the account and sites it started with (in the journal).
            mission_id = engine.resume(args.mission_id, approve=args.approve)
        elif args.command == "demo":
            mission_id = engine.start_demo(approve=args.approve)
            demo = engine.demo
            assert demo is not None
            print(
                f"Ensemble demo: a scripted model plays the agents; the supplier portal is "
                f"{demo.portal.url}; the workspace is {demo.folder}. Nothing leaves this computer.",
                file=sys.stderr,
            )
        else:
            spec = MissionSpec.of(
                instruction=args.mission,
                workspaces=[str(w) for w in args.workspace or []],
                account=args.account,
                allowed_sites=list(args.allow_domain or []),
                approval=args.approve,
            )
            mission_id = engine.start(spec)
        console.mission_id = mission_id
        try:
            outcome = await engine.wait(mission_id)
        except asyncio.CancelledError:
            await engine.cancel(mission_id)
            outcome = await engine.wait(mission_id)
        asked = engine.decision_summary(mission_id)
    finally:
        prompter.cancel()
        taker.cancel()
        await asyncio.gather(prompter, taker, return_exceptions=True)
        await engine.close()
    _print_outcome(outcome, args.json)
    if asked.by_person:
        # What the mission asked of the person: a batch decided at once is one decision.
        print(
            f"You were asked {asked.asked} time{'s' if asked.asked != 1 else ''} "
            f"({asked.by_person} action{'s' if asked.by_person != 1 else ''}"
            + (
                f", {asked.batches} batch{'es' if asked.batches != 1 else ''} decided at once"
                if asked.batches
                else ""
            )
            + ").",
            file=sys.stderr,
        )
    if outcome.status == "done":
        return EXIT_OK
    return EXIT_CANCELLED if outcome.status == "cancelled" else EXIT_FAILED


def _demo(args: argparse.Namespace) -> int:
    import asyncio

    return asyncio.run(_run(args))


def _print_outcome(outcome: MissionOutcome, as_json: bool) -> None:
    if as_json:
        print(json.dumps(outcome.to_json(), ensure_ascii=False), flush=True)
    elif outcome.status != "done":
        print(f"Mission {outcome.status}: {outcome.result}", flush=True)
    else:
        print(
            f"Mission {outcome.mission_id} done. To run it again with other values: "
            f"ensemble workflow save {outcome.mission_id} --name NAME",
            file=sys.stderr,
            flush=True,
        )


# ensemble rules / missions / audit / undo ----------------------------------------------------


def told(engine: Engine) -> Engine:
    """Tells the person, once, that a damaged journal was moved aside; returns the engine."""
    note = engine.recovery_note
    if note is not None:
        print(f"ensemble: {note}", file=sys.stderr)
    return engine


@contextlib.contextmanager
def _reader() -> Iterator[JournalReader]:
    """The journal, read only (the facade's read-only path), for a command that only reads;
    closed afterwards. Like the engine, it says once if a damaged journal was moved aside."""
    from app.reader import JournalReader

    reader = JournalReader(Paths.default().journal)
    try:
        note = reader.recovery_note
        if note is not None:
            print(f"ensemble: {note}", file=sys.stderr)
        yield reader
    finally:
        reader.close()


@contextlib.contextmanager
def _engine() -> Iterator[Engine]:
    """The engine, for a command that runs no mission; closed (its journal too) afterwards."""
    import asyncio

    from app.engine import Engine

    engine = told(Engine())
    try:
        yield engine
    finally:
        asyncio.run(engine.close())


def _rules(args: argparse.Namespace) -> int:
    if args.rules_command == "list":
        return _rules_list(args)
    with _engine() as engine:
        if args.rules_command == "add":
            where: dict[str, str] = {}
            for item in args.where:
                name, sep, pattern = item.partition("=")
                if not sep or not name or not pattern:
                    raise EngineError(f"--where takes ARG=GLOB, e.g. to=*@example.com; got '{item}'.")
                where[name] = pattern
            mission = engine.mission_info(args.mission) if args.mission else None
            if args.mission and mission is None:
                raise EngineError(f"There is no mission {args.mission}.")
            rule = engine.add_rule(
                "approve_all" if args.allow else "reject_all",
                mission_id=mission.id if mission else None,
                tool=None if args.tool == "any" else args.tool,
                where=where,
            )
            print(f"{rule.id}  {rule.description}")
            return EXIT_OK
        if args.rules_command == "remove":
            removed = engine.remove_rule(args.rule_id)
            print(f"Removed: {removed.description}")
            return EXIT_OK
    return _rules_list(args)


def _rules_list(args: argparse.Namespace) -> int:
    with _reader() as reader:
        listed = reader.list_rules()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "rule_id": r.id,
                        "kind": r.kind,
                        "tool": r.tool,
                        "where": r.where,
                        "mission_id": r.mission_id,
                        "description": r.description,
                    }
                    for r in listed
                ],
                ensure_ascii=False,
            )
        )
        return EXIT_OK
    if not listed:
        print("No rules: every action is asked about.")
    for r in listed:
        print(f"{r.id}  {r.description}")
    return EXIT_OK


def _missions(args: argparse.Namespace) -> int:
    with _reader() as reader:
        listed = reader.list_missions(
            limit=args.limit,
            offset=args.offset,
            search=args.search,
            archived=None if args.archived else False,
        )
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "mission_id": m.id,
                        "status": m.status,
                        "title": m.title,
                        "started_at": m.started_at.isoformat(),
                        "tokens": m.tokens,
                        # Only --archived lists archived missions: only then can it be true.
                        **({"archived": m.archived} if args.archived else {}),
                    }
                    for m in listed
                ],
                ensure_ascii=False,
            )
        )
        return EXIT_OK
    if not listed:
        if args.search or args.offset:
            print("No missions match.")
        else:
            print('No missions yet. Start one with: ensemble run "MISSION" --workspace DIR')
    for m in listed:
        title = f"[archived] {m.title}" if m.archived else m.title
        print(f"{m.id}  {m.started_at:%Y-%m-%d %H:%M}  {m.status:<11} {m.tokens:>9,} tokens  {title}")
    return EXIT_OK


def _mission(args: argparse.Namespace) -> int:
    with _engine() as engine:
        if args.mission_command == "rename":
            info = engine.rename_mission(args.mission_id, args.title)
            print(f"Renamed {info.id}: {info.title}")
        elif args.mission_command in ("archive", "unarchive"):
            info = engine.archive_mission(args.mission_id, args.mission_command == "archive")
            if info.archived:
                print(f"Archived {info.id}: ensemble missions --archived lists it.")
            else:
                print(f"{info.id} is back in the missions list.")
        else:
            mission = engine.mission_info(args.mission_id)
            said = engine.delete_mission(args.mission_id, keep_audit=not args.forget_audit)
            if not args.forget_audit and mission is not None:
                said += f" See it with: ensemble audit {mission.id}"
            print(said)
    return EXIT_OK


def _audit(args: argparse.Namespace) -> int:
    from app.api import ActionProposed, ToolCalled, ToolResultEvent, encode

    with _reader() as reader:
        mission = reader.mission(args.mission_id)
        if mission is None:
            raise EngineError(f"There is no mission {args.mission_id}.")
        events = reader.mission_events(mission.id)
    if args.json:
        print(json.dumps([encode(e) for e in events], ensure_ascii=False, indent=1))
        return EXIT_OK
    print(f"Mission {mission.id} ({mission.status}): {mission.title}")
    for e in events:
        print(f"{e.at:%H:%M:%S}  {e.kind:<17} {e.summary}")
        match e:
            case ToolCalled():
                print(f"{'':27}arguments: {json.dumps(e.arguments, ensure_ascii=False)}")
            case ActionProposed():
                for line in _preview_lines(e.preview):
                    print(f"{'':27}{line}")
            case ToolResultEvent():
                print(f"{'':27}result: {_clip(e.result, 200)}")
    return EXIT_OK


def _undo(args: argparse.Namespace) -> int:
    import asyncio

    if args.mission:
        if args.action_id:
            raise EngineError("Give either an action or --mission MISSION_ID, not both.")
        return _undo_mission(args)
    if not args.action_id:
        raise EngineError("Say what to undo: an action's id, or --mission MISSION_ID for a whole mission.")
    with _engine() as engine:
        print(asyncio.run(engine.undo(args.action_id, force=args.force)))
    return EXIT_OK


def _undo_mission(args: argparse.Namespace) -> int:
    """``ensemble undo --mission ID``: the plan in words, a question, then each step's outcome."""
    import asyncio

    with _engine() as engine:
        plan = engine.rollback_plan(args.mission)
        for line in plan.lines():
            print(line)
        if plan.refusal:
            return EXIT_FAILED
        if plan.nothing_to_do:
            return EXIT_OK
        if plan.changed and not args.force:
            print("Files changed since are left alone; run again with --force to undo them anyway.")
        if not args.yes:
            print("Undo these changes? [y/N] ", end="", flush=True)
            answer = sys.stdin.readline().strip().lower()
            if answer not in ("y", "yes"):
                print("Nothing was undone.")
                return EXIT_CANCELLED
        report = asyncio.run(engine.undo_mission(plan.mission_id, force=args.force))
        for line in report.lines():
            print(line)
    return EXIT_OK if report.complete else EXIT_FAILED


# ensemble key / contacts / account ---------------------------------------------------------


def _key(args: argparse.Namespace) -> int:
    from app import secrets

    if args.action == "set":
        if sys.stdin.isatty():
            import getpass

            value = getpass.getpass("Anthropic API key: ")
        else:
            value = sys.stdin.readline()
        value = value.strip()
        if not value:
            print("ensemble: no key given; nothing stored.", file=sys.stderr)
            return EXIT_FAILED
        secrets.set_secret(secrets.API_KEY_ENTRY, value)
        print(f"Stored the API key {secrets.redact(value)} in the system keyring.")
    elif args.action == "delete":
        secrets.delete_secret(secrets.API_KEY_ENTRY)
        print("Removed the API key from the system keyring.")
    else:
        stored = secrets.get_secret(secrets.API_KEY_ENTRY)
        env = os.environ.get("ANTHROPIC_API_KEY")
        print(f"System keyring: {secrets.redact(stored) if stored else 'no key stored'}")
        print(f"ANTHROPIC_API_KEY: {secrets.redact(env) + ' (used first)' if env else 'not set'}")
    return EXIT_OK


def _contacts(args: argparse.Namespace) -> int:
    from app.settings import Settings

    paths = Paths.default()
    paths.ensure()
    settings = Settings.load(paths.settings)
    book = list(settings.address_book)
    if args.contacts_command == "list":
        if args.json:
            print(json.dumps(book, ensure_ascii=False))
            return EXIT_OK
        if not book:
            print("The address book is empty. Add one with: ensemble contacts add bob@example.com")
        for entry in book:
            print(entry)
        return EXIT_OK
    entry = args.entry.strip()
    if args.contacts_command == "add":
        if not entry or any(c.isspace() for c in entry) or entry.strip("@.*") == "":
            raise EngineError(
                f"'{args.entry}' is not an address, a domain (@example.com) or a site (portal.example.com)."
            )
        if entry.lower() in (e.lower() for e in book):
            print(f"{entry} is already in the address book.")
            return EXIT_OK
        book.append(entry)
        print(f"Added {entry}: actions may now reach it by rule.")
    else:
        remaining = [e for e in book if e.lower() != entry.lower()]
        if len(remaining) == len(book):
            raise EngineError(f"{entry} is not in the address book.")
        book = remaining
        print(f"Removed {entry}.")
    settings.model_copy(update={"address_book": book}).save(paths.settings)
    return EXIT_OK


def _memory(args: argparse.Namespace) -> int:
    with _engine() as engine:
        if args.memory_command == "add":
            item = engine.add_memory(args.text, args.workspace)
            print(f"{item.id}  Remembered {item.scope}: {item.text}")
            return EXIT_OK
        if args.memory_command == "edit":
            item = engine.edit_memory(args.memory_id, args.text)
            print(f"{item.id}  Now remembered {item.scope}: {item.text}")
            return EXIT_OK
        if args.memory_command == "remove":
            item = engine.remove_memory(args.memory_id)
            print(f"Forgot: {item.text}")
            return EXIT_OK
        listed = engine.list_memory(args.workspace)
    if args.json:
        print(json.dumps([item.model_dump(mode="json") for item in listed], ensure_ascii=False))
        return EXIT_OK
    if not listed:
        print('Nothing remembered yet. Add something with: ensemble memory add "sign emails as Ana"')
    for item in listed:
        print(f"{item.id}  {item.text}  ({item.scope}; {item.source})")
    return EXIT_OK


def _account(args: argparse.Namespace) -> int:
    from app import accounts, secrets
    from app.settings import Settings

    paths = Paths.default()
    paths.ensure()
    settings = Settings.load(paths.settings)
    if args.account_command == "add":
        password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else None
        account = accounts.parse_account(_account_fields(args, password))
        if account.needs_password() and not password:
            raise accounts.AccountError(
                "No password was read from standard input; give it with --password-stdin."
                if args.password_stdin
                else "Give the password on standard input with --password-stdin."
            )
        accounts.add_account(paths.settings, account, password)
        where = " ".join(account.where().split())
        print(
            f"Added the {account.label} account '{account.name}' ({where})"
            + (", with its password in the system keyring." if password else ".")
        )
    elif args.account_command == "list":
        if args.json:
            print(json.dumps([a.model_dump(mode="json") for a in settings.accounts], ensure_ascii=False))
            return EXIT_OK
        if not settings.accounts:
            print(
                "No accounts yet. Add one with: ensemble account add NAME --imap HOST:PORT ... "
                "(email) or --caldav URL ... (calendar)"
            )
        for a in settings.accounts:
            stored = (
                ""
                if not a.needs_password()
                else "password stored"
                if secrets.get_secret(accounts.secret_entry(a.name))
                else "no password stored"
            )
            print(f"{a.name:<12} {a.where()}  {stored}{'  (default)' if a.default else ''}")
    elif args.account_command == "test":
        for line in accounts.test_connection(accounts.find(settings, args.name)):
            print(line)
    else:
        accounts.remove_account(paths.settings, args.name)
        print(f"Removed the account '{args.name}' and its password.")
    return EXIT_OK


def _account_fields(args: argparse.Namespace, password: str | None) -> dict[str, Any]:
    """The stored fields of the account ``ensemble account add`` describes (its type's ``kind``
    tells :func:`app.accounts.parse_account` which connector's type it is).

    Raises:
        AccountError: The options do not describe one account, or a server is not HOST:PORT.
    """
    from app import accounts

    fields: dict[str, Any] = {"name": args.name, "default": args.default}
    if args.caldav is not None:
        if args.imap or args.smtp or args.maildir or args.mbox:
            raise accounts.AccountError("Give --caldav URL for a calendar, or the email options, not both.")
        return fields | {"kind": "caldav", "url": args.caldav, "user": args.user or ""}
    if not args.address:
        raise accounts.AccountError("Give --address ADDRESS: the address mail is sent from.")
    fields["address"] = args.address
    local = args.maildir or args.mbox
    if local is not None:
        if not local.expanduser().exists():
            raise accounts.AccountError(f"{local} does not exist.")
        return fields | {
            "kind": "maildir" if args.maildir else "mbox",
            "path": str(local.expanduser().resolve()),
        }
    if not args.imap or not args.smtp:
        raise accounts.AccountError(
            "Give --imap HOST:PORT and --smtp HOST:PORT, or --maildir/--mbox "
            "(or --caldav URL for a calendar)."
        )
    if not password:
        raise accounts.AccountError(
            "No password was read from standard input; give it with --password-stdin."
            if args.password_stdin
            else "Give the password on standard input with --password-stdin."
        )
    imap_host, imap_port = accounts.parse_server(args.imap, "IMAP")
    smtp_host, smtp_port = accounts.parse_server(args.smtp, "SMTP")
    return fields | {
        "kind": "imap",
        "imap_host": imap_host,
        "imap_port": imap_port,
        "smtp_host": smtp_host,
        "smtp_port": smtp_port,
        "security": args.security,
        "user": args.user or args.address,
    }
