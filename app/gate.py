"""The approval gate: every tool call goes through here, and every side effect waits here.

The gate sits in the dispatch path: agents never hold a tool's function, only the gate's
:meth:`ApprovalGate.call`. A ``read`` tool runs at once. A ``local`` or ``external`` tool's
call becomes a :class:`~app.journal.ProposedAction`: its preview is rendered and stored first,
then it waits for a decision from a rule or a person (approve, approve with edited
arguments, or reject with a reason). A rejection goes back to the model as the tool result.
The action is marked ``executing`` in the journal before its tool runs, so a crash can never
lead to running it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any, Literal

from app import rules, vouch
from app.api.events import call_target
from app.errors import EnsembleError
from app.journal import (
    Batch,
    Journal,
    ProposedAction,
    Rule,
    ToolCall,
    VouchedDestination,
    dumps,
    new_id,
    utcnow,
)
from app.memory import PERSON_ONLY_NOTICE, PERSON_ONLY_TOOLS
from connectors.base import (
    AnyTool,
    Approval,
    ApprovalHook,
    Destination,
    Effect,
    Preview,
    ToolContext,
    ToolError,
    ToolOutput,
    VouchHook,
    WriteCheck,
    addresses_in,
    defuse,
    file_bytes_check,
    link_hosts,
    tool_title,
    written_since,
)
from connectors.registry import action_title

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from datetime import datetime

log = logging.getLogger(__name__)


DecisionKind = Literal["approve", "edit", "reject"]


@dataclass(frozen=True)
class Decision:
    """A person's or a rule's answer to a proposed action.

    Attributes:
        kind: ``approve``; ``edit`` (approve with ``arguments`` instead of the proposed ones);
            or ``reject``.
        arguments: For ``edit``, the full edited arguments.
        reason: For ``reject``, why; it goes back to the model.
    """

    kind: DecisionKind
    arguments: dict[str, Any] | None = None
    reason: str | None = None

    @classmethod
    def approve(cls) -> Decision:
        """Approve as proposed."""
        return cls("approve")

    @classmethod
    def edit(cls, arguments: dict[str, Any]) -> Decision:
        """Approve with these arguments instead."""
        return cls("edit", arguments=arguments)

    @classmethod
    def reject(cls, reason: str | None = None) -> Decision:
        """Reject, optionally saying why."""
        return cls("reject", reason=reason)


class GateError(EnsembleError):
    """A decision that cannot be taken: unknown action, already decided, or bad edited arguments."""


@dataclass(frozen=True)
class ToolResult:
    """What the model receives for one tool call."""

    text: str
    is_error: bool = False
    images: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class CallSite:
    """Who is calling: the mission, the task (None for the lead) and the agent kind.

    Attributes:
        batch: The agent's turn, when an agent loop calls: read-only calls are journaled with
            the rest of its turn, and only the calls it names in ``resuming`` are looked up
            in the journal. Without one, every call is looked up and journaled at once.
    """

    mission_id: str
    task_id: str | None
    agent: str
    batch: Batch | None = None


class TurnOrder:
    """One agent turn's calls that need a decision: proposed together, carried out in order.

    The agent loop runs a run of consecutive such calls of one turn at the same time (see
    :func:`app.orchestrator._loop`), each in its own task with :meth:`enter` set. Each call
    waits in :meth:`gather` until every call of the run has reached its proposal (or ended
    without one), so that their cards come out together as one batch; and in :meth:`turn`
    until every call before it has ended, so that what runs runs in the turn's order. Each
    call's journal writes and exactly-once guarantees are the gate's as for a lone call.

    Args:
        size: How many calls the run has.
    """

    def __init__(self, size: int) -> None:
        self.id = new_id("b")
        self.size = size
        self._settled: dict[int, bool] = {}  # index -> whether it proposes (shows a card)
        self._ready = asyncio.Event()
        self._ended = [asyncio.Event() for _ in range(size)]
        self._shown = [asyncio.Event() for _ in range(size)]
        self._ran: set[int] = set()

    def enter(self, index: int) -> None:
        """Marks the current task as the run's call ``index`` (call it inside that task)."""
        _TURN_SLOT.set((self, index))

    def _settle(self, index: int, *, proposes: bool) -> None:
        if index not in self._settled:
            self._settled[index] = proposes
            if len(self._settled) >= self.size:
                self._ready.set()

    async def gather(self, index: int) -> int:
        """Waits until every call of the run has proposed or ended, and the proposals before
        ``index`` are shown (:meth:`shown`), so the cards come in the turn's order; returns how
        many propose."""
        self._settle(index, proposes=True)
        await self._ready.wait()
        for before, proposes in sorted(self._settled.items()):
            if before < index and proposes:
                await self._shown[before].wait()
        return sum(self._settled.values())

    def shown(self, index: int) -> None:
        """Marks call ``index``'s proposal as shown (or given up)."""
        self._shown[index].set()

    async def turn(self, index: int) -> bool:
        """Waits until every call before ``index`` has ended; returns whether any of them was
        carried out (see :meth:`ran`) while ``index`` waited."""
        self._settle(index, proposes=False)
        for ended in self._ended[:index]:
            await ended.wait()
        return any(i < index for i in self._ran)

    def ran(self, index: int) -> None:
        """Marks call ``index`` as carried out (it changed something, or may have)."""
        self._ran.add(index)

    def end(self, index: int) -> None:
        """Marks call ``index`` as ended, whatever became of it."""
        self._settle(index, proposes=False)
        self._shown[index].set()
        self._ended[index].set()


_TURN_SLOT: contextvars.ContextVar[tuple[TurnOrder, int] | None] = contextvars.ContextVar(
    "turn_slot", default=None
)
"""The current task's place in its turn's run of proposals, if it is in one."""


@dataclass
class _ReadRecord:
    """A read's tool call while its turn's batch holds it: the ToolCall row's changing
    columns, without the cost of an ORM object (see :meth:`ApprovalGate.call`)."""

    id: str
    tool_use_id: str
    batch: Batch
    status: str = "running"
    result: str | None = None
    is_error: bool = False
    action_id: str | None = None
    finished_at: datetime | None = None


_TOOL_CALLS: str = ToolCall.__tablename__  # type: ignore[assignment]

RULE_KINDS: dict[str, DecisionKind] = {"approve_all": "approve", "reject_all": "reject"}


@dataclass
class Timing:
    """The engine's own time per tool call, without the tool's or the person's time.

    Collected for the benchmark; a few floats per call.
    """

    overhead_seconds: list[float] = field(default_factory=list)


class ApprovalGate:
    """Dispatches tool calls, holding side effects for a decision.

    Args:
        journal: Where calls, proposals, decisions and results are recorded first.
        address_book: Returns the settings' address book (see :mod:`app.vouch`), read at
            each decision so that a change in the settings applies at once.
    """

    def __init__(self, journal: Journal, address_book: Callable[[], Sequence[str]] | None = None) -> None:
        self.journal = journal
        self._address_book: Callable[[], Sequence[str]] = address_book or (lambda: ())
        self._waiting: dict[str, tuple[asyncio.Future[Decision], ProposedAction]] = {}
        self._new: dict[str, list[Destination]] = {}
        """Per waiting action, its destinations nobody vouched for (vouched if the person approves)."""
        self.pausing: set[str] = set()
        """Missions being paused: their calls and proposals stay as they are, to resume."""
        self.timing = Timing()
        self._titles: dict[str, str] = {}
        """The titles of the tools called so far, by name (a lead's tool is in no registry)."""
        self.before_readback: Callable[[ProposedAction], None] | None = None
        """Called after a local action ran and before it is read back (a seam for tests that
        change a file under the write, as another program would)."""

    def _title(self, name: str, title: str = "") -> str:
        """What a tool does, for a person: ``title``, the title of the tool of that name called
        before, or its registered title (else its name in words)."""
        if title.strip():
            self._titles[name] = title.strip()
            return title.strip()
        return self._titles.get(name) or action_title(name)

    # The dispatch path -------------------------------------------------------------------

    async def call(
        self,
        tool: AnyTool,
        tool_use_id: str,
        arguments: object,
        ctx: ToolContext,
        site: CallSite,
    ) -> ToolResult:
        """Runs one tool call the model made, through the gate.

        Args:
            tool: The declared tool.
            tool_use_id: The model's id for the call.
            arguments: The model's ``input`` for it.
            ctx: The mission's workspace.
            site: Who calls.

        Returns:
            The tool result for the model. Errors, rejections and bad arguments are results
            too (``is_error``); only cancellation propagates.
        """
        started = time.perf_counter()
        excluded = 0.0  # time spent in the tool or waiting for a person, not ours
        batch = site.batch
        if batch is None or tool_use_id in batch.resuming:
            existing = self.journal.tool_call_for(site.mission_id, tool_use_id)
            if existing is not None:
                if batch is not None:
                    batch.commit()  # the turn's earlier calls come first in the journal
                # A resumed mission replays the call it was in: never run anything twice.
                return await self._resume(existing, tool, ctx, site)
        title = self._title(tool.name, tool.title)
        summary = f"{_who(site.agent)}: {title}{call_target(arguments)}"
        if batch is not None and batch.defer_calls and tool.effect == "read":
            # A read changes nothing: if the turn is lost in a crash, the model is asked again
            # and the read runs again, so it is journaled with the rest of the turn, by column
            # values (an ORM object would cost more than the write).
            light = _ReadRecord(new_id("c"), tool_use_id, batch)
            batch.insert_values(
                _TOOL_CALLS,
                {
                    "id": light.id,
                    "tool_use_id": tool_use_id,
                    "mission_id": site.mission_id,
                    "task_id": site.task_id,
                    "agent": site.agent,
                    "tool": tool.name,
                    "effect": tool.effect,
                    "arguments_json": dumps(arguments),
                    "status": "running",
                    "is_error": False,
                    "started_at": utcnow(),
                },
            )
            batch.audit(
                site.mission_id,
                "tool_called",
                summary,
                task_id=site.task_id,
                tool_call_id=light.id,
                tool=tool.name,
                title=title,
                effect=tool.effect,
                arguments=arguments,
            )
            return await self._dispatch(tool, arguments, ctx, site, light, started, excluded)
        record = ToolCall(
            id=new_id("c"),
            tool_use_id=tool_use_id,
            mission_id=site.mission_id,
            task_id=site.task_id,
            agent=site.agent,
            tool=tool.name,
            effect=tool.effect,
            arguments_json=dumps(arguments),
        )
        data: dict[str, Any] = {
            "tool_call_id": record.id,
            "tool": tool.name,
            "title": title,
            "effect": tool.effect,
            "arguments": arguments,
        }
        if batch is not None:
            # Whatever this call leads to must be journaled after the turn that made it.
            batch.commit()
        self.journal.audit(
            site.mission_id, "tool_called", summary, task_id=site.task_id, save=[record], **data
        )
        return await self._dispatch(tool, arguments, ctx, site, record, started, excluded)

    async def _dispatch(
        self,
        tool: AnyTool,
        arguments: object,
        ctx: ToolContext,
        site: CallSite,
        record: ToolCall | _ReadRecord,
        started: float,
        excluded: float,
        resumed: ProposedAction | None = None,
    ) -> ToolResult:
        """Runs a journaled call; a read's light record is written in its turn's batch."""
        ctx = dataclasses.replace(
            ctx,
            mission_id=site.mission_id,
            call_id=record.tool_use_id,
            approve=self._inline_hook(site, record),
            vouches=self._vouch_hook(site),
        )
        try:
            args = tool.parse(arguments)
            if tool.effect == "read":
                t0 = time.perf_counter()
                try:
                    output = await tool.run(ctx, args)
                finally:
                    excluded += time.perf_counter() - t0
                result = ToolResult(output.text, images=output.images)
            else:
                # Only reads are held in a batch (see call); a proposal's call is a ToolCall row.
                assert isinstance(record, ToolCall)
                t0 = time.perf_counter()
                if tool.prepare is not None:
                    args = await tool.prepare(ctx, args)
                preview = await tool.render_preview(ctx, args)
                destinations = call_destinations(tool, args)
                known = _known_check(tool, ctx, args)
                excluded += time.perf_counter() - t0
                result, waited = await self._propose(
                    tool,
                    args.model_dump(mode="json"),
                    preview,
                    ctx,
                    site,
                    record,
                    resumed,
                    destinations,
                    known,
                )
                excluded += waited
        except ToolError as exc:
            # An error may echo what a page or a file said: it must not open or close a marker.
            result = ToolResult(defuse(str(exc)), is_error=True)
        except asyncio.CancelledError:
            if site.mission_id not in self.pausing:
                record.status, record.result, record.is_error = "error", "Stopped.", True
                record.finished_at = utcnow()
                if isinstance(record, _ReadRecord):
                    record.batch.update_values(
                        _TOOL_CALLS,
                        record.id,
                        {
                            "status": "error",
                            "result": "Stopped.",
                            "is_error": True,
                            "finished_at": record.finished_at,
                        },
                    )
                else:
                    self.journal.add(record)
            raise
        except Exception as exc:
            # The boundary of one tool call: a connector's bug becomes an error result the
            # agent sees and the journal records, never a crashed mission; logged.
            log.exception("Tool %s failed unexpectedly", tool.name)
            result = ToolResult(
                f"{tool.name} failed unexpectedly: {type(exc).__name__}: {exc}", is_error=True
            )
        status = "error" if result.is_error else "done"
        if record.action_id and record.status == "rejected":
            status = "rejected"
        record.status, record.result, record.is_error = status, result.text, result.is_error
        record.finished_at = utcnow()
        summary = f"{self._title(tool.name, tool.title)}: " + (
            f"failed: {_first_line(result.text)}" if result.is_error else "done"
        )
        data: dict[str, Any] = {
            "tool_call_id": record.id,
            "tool": tool.name,
            "is_error": result.is_error,
            "result": result.text[:4000],
        }
        if isinstance(record, _ReadRecord):
            record.batch.update_values(
                _TOOL_CALLS,
                record.id,
                {
                    "status": status,
                    "result": result.text,
                    "is_error": result.is_error,
                    "finished_at": record.finished_at,
                },
            )
            record.batch.audit(site.mission_id, "tool_result", summary, task_id=site.task_id, **data)
        else:
            self.journal.audit(
                site.mission_id, "tool_result", summary, task_id=site.task_id, save=[record], **data
            )
        self.timing.overhead_seconds.append(time.perf_counter() - started - excluded)
        return result

    async def _propose(
        self,
        tool: AnyTool,
        arguments: dict[str, Any],
        preview: Preview,
        ctx: ToolContext,
        site: CallSite,
        record: ToolCall,
        resumed: ProposedAction | None = None,
        destinations: Sequence[Destination] = (),
        known: Callable[[list[Destination]], Awaitable[dict[str, str]]] | None = None,
    ) -> tuple[ToolResult, float]:
        if resumed is not None and resumed.status == "approved":
            # Approved before a restart and surely not carried out yet: run it as approved.
            action = resumed
            decided_by = action.decided_by or "person"
            decision = Decision.edit(arguments) if action.decision == "edit" else Decision.approve()
            waited = 0.0
        else:
            if resumed is not None:
                # The same proposal again after a restart: same id, shown to the person again,
                # with the warning (if any) that _resume put in its notice.
                action = resumed
                action.status, action.arguments_json = "pending", dumps(arguments)
                action.preview_json = dumps(_preview_json(preview))
                action.decision = action.decided_by = action.decided_at = None
            else:
                action = _new_action(site, record, tool.name, tool.effect, arguments, preview)
                if tool.name in PERSON_ONLY_TOOLS:
                    # Memory: only the person may approve it, whatever the rules (app.memory).
                    action.ask_person, action.notice = True, PERSON_ONLY_NOTICE
            record.action_id = action.id
            new = await self._screen(action, destinations, known)
            together: dict[str, Any] = {}
            slot = _TURN_SLOT.get()
            if slot is not None:
                # The turn's other proposals come out with this one, as one batch of cards.
                together = {"batch": slot[0].id, "batch_size": await slot[0].gather(slot[1])}
            try:
                self._announce(
                    action, site, arguments, preview, also=[record], new_destinations=new, **together
                )
            finally:
                if slot is not None:
                    slot[0].shown(slot[1])
            waited_from = time.perf_counter()
            decision, decided_by = await self._decision_for(action)
            waited = time.perf_counter() - waited_from
        if decision.kind == "reject":
            record.status = "rejected"
            reason = decision.reason or "no reason given"
            who = "the person" if decided_by == "person" else f"a rule ({decided_by})"
            return (
                ToolResult(
                    f"Rejected by {who}: {reason}. The action was not carried out and nothing changed.",
                    is_error=True,
                ),
                waited,
            )
        args = tool.parse(decision.arguments if decision.kind == "edit" else arguments)
        if decision.kind == "edit":
            if tool.prepare is not None:
                args = await tool.prepare(ctx, args)
            # The preview on record must show what really runs, not what was first proposed.
            edited_preview = await tool.render_preview(ctx, args)
            self.journal.update(action, preview_json=dumps(_preview_json(edited_preview)))
        slot = _TURN_SLOT.get()
        if slot is not None:
            # Approved, but what the turn asked for before it runs first.
            t0 = time.perf_counter()
            try:
                if await slot[0].turn(slot[1]):
                    # What ran before it in its turn (a write to the same sheet) may have changed
                    # what its preview showed as "before": the record shows what really runs.
                    with contextlib.suppress(ToolError):
                        fresh = dumps(_preview_json(await tool.render_preview(ctx, args)))
                        if fresh != action.preview_json:
                            self.journal.update(action, preview_json=fresh)
            except asyncio.CancelledError:
                if action.mission_id not in self.pausing:
                    # Stopped before it ran: nothing happened. (A pause leaves it approved, to run
                    # when the mission resumes.)
                    self.journal.update(
                        action, status="rejected", reason="Stopped before it was carried out."
                    )
                raise
            finally:
                waited += time.perf_counter() - t0
        self.journal.update(action, status="executing")
        if slot is not None:
            slot[0].ran(slot[1])

        def checkpoint(fingerprint: str) -> None:
            self.journal.update(action, pre_state=fingerprint)

        ctx = dataclasses.replace(ctx, checkpoint=checkpoint)
        t0 = time.perf_counter()
        execution = asyncio.ensure_future(tool.run(ctx, args))
        try:
            # Once an action has started it runs to its end even if the mission is stopped,
            # so that the journal says exactly what happened and a local write stays undoable.
            await asyncio.shield(execution)
        except asyncio.CancelledError:
            if not execution.done():
                await asyncio.wait({execution})
            self._record_execution(action, execution, site)
            raise
        except Exception:  # noqa: BLE001
            # Whatever the tool raised (a ToolError, or an OSError on a full disk), the action
            # ends recorded as failed, never left "executing"; _record_execution raises it
            # again as a ToolError for the agent.
            pass
        finally:
            waited += time.perf_counter() - t0
        check = None
        if tool.effect == "local" and execution.exception() is None:
            # Read back through the connector what was written, against the approved arguments.
            t0 = time.perf_counter()
            reading = asyncio.ensure_future(self._read_back(tool, ctx, args, execution.result(), action))
            try:
                check = await asyncio.shield(reading)
            except asyncio.CancelledError:
                if not reading.done():
                    await asyncio.wait({reading})
                with contextlib.suppress(ToolError):
                    self._record_execution(action, execution, site, reading.result())
                raise
            finally:
                waited += time.perf_counter() - t0
        output = self._record_execution(action, execution, site, check)
        text = output.text
        if decision.kind == "edit":
            text = (
                "The person edited the arguments before approving; what ran was "
                f"{action.edited_arguments_json}. Result: {text}"
            )
        return ToolResult(text, images=output.images), waited

    async def _resume(self, record: ToolCall, tool: AnyTool, ctx: ToolContext, site: CallSite) -> ToolResult:
        """Finishes a tool call found in the journal when a mission resumes, without repeating it.

        A call with a recorded result gives that result. A read that was running runs again
        (reads change nothing). A proposal still waiting is shown to the person again; an
        approved one that had not started runs. An action that had started and left no result
        may or may not have happened: the tool's ``confirm_outcome`` checks it, and if it
        cannot tell, the person is asked again with a warning on the card.
        """
        if record.status != "running":
            return ToolResult(record.result or "", is_error=record.is_error)
        started, arguments = time.perf_counter(), json.loads(record.arguments_json)
        action = self.journal.action(record.action_id) if record.action_id else None
        if action is None:
            inline = self.journal.actions_of_call(record.id)
            if any(a.status in ("approved", "executing", "executed") for a in inline):
                # A request this call caused (a form post) was let through before the restart:
                # running the call again could submit it twice, so it is never repeated.
                for waiting in inline:
                    if waiting.status == "pending":
                        waiting.status, waiting.reason = "rejected", "interrupted by a restart"
                        self.journal.add(waiting)
                result = ToolResult(
                    f"{tool.name} was interrupted by a restart after a request it caused had been "
                    "allowed, so it was not repeated. Check the page's state (browser_snapshot), and "
                    "ask the person with ask_user before doing it again.",
                    is_error=True,
                )
                self._close_record(record, result, site, tool)
                return result
            return await self._dispatch(tool, arguments, ctx, site, record, started, 0.0)
        if action.status in ("executed", "failed", "rejected", "undone"):
            result = ToolResult(
                action.result or action.reason or action.status, is_error=action.status != "executed"
            )
            self._close_record(record, result, site, tool)
            return result
        if action.status in ("pending", "approved"):
            if action.status == "approved":
                # Decided before the restart: run what was approved, as approved.
                arguments = json.loads(action.edited_arguments_json or action.arguments_json)
            return await self._dispatch(tool, arguments, ctx, site, record, started, 0.0, resumed=action)
        # "executing": started, outcome unknown.
        approved = json.loads(action.edited_arguments_json or action.arguments_json)
        happened: bool | None = None
        try:
            if tool.confirm_outcome is not None:
                happened = await tool.confirm_outcome(ctx, tool.parse(approved))
            elif tool.fingerprint is not None:
                # No checkpoint: the tool never reached the change. Else compare the state.
                happened = action.pre_state is not None and (
                    await tool.fingerprint(ctx, tool.parse(approved)) != action.pre_state
                )
        except ToolError as exc:
            log.warning("Could not check whether %s happened: %s", action.id, exc)
        if happened:
            action.status, action.result, action.executed_at = (
                "executed",
                "It had happened before the restart.",
                utcnow(),
            )
            self.journal.audit(
                site.mission_id,
                "action_confirmed",
                f"Found that \u201c{self._title(action.tool)}\u201d had already happened",
                task_id=site.task_id,
                save=[action],
                action_id=action.id,
            )
            result = ToolResult(f"{tool.name} had already been carried out before Ensemble restarted.")
            self._close_record(record, result, site, tool)
            return result
        warning = (
            "It did not happen: safe to run again."
            if happened is False
            else "Ensemble stopped while this was being carried out, so it may already have happened. "
            "Check before approving it again."
        )
        self.journal.audit(
            site.mission_id,
            "action_outcome_unknown",
            f"{self._title(action.tool)}: {warning}",
            task_id=site.task_id,
            action_id=action.id,
            checked=happened is not None,
        )
        if happened is False:
            action.status = "approved"
        else:
            # Nobody can tell whether it happened: only the person may let it run again.
            action.notice, action.ask_person = warning, True
        return await self._dispatch(tool, approved, ctx, site, record, started, 0.0, resumed=action)

    def _close_record(self, record: ToolCall, result: ToolResult, site: CallSite, tool: AnyTool) -> None:
        record.status = "error" if result.is_error else "done"
        record.result, record.is_error, record.finished_at = result.text, result.is_error, utcnow()
        self.journal.audit(
            site.mission_id,
            "tool_result",
            f"{self._title(tool.name, tool.title)}: done (after a restart)",
            task_id=site.task_id,
            save=[record],
            tool_call_id=record.id,
            tool=tool.name,
            is_error=result.is_error,
            result=result.text[:4000],
        )

    def _announce(
        self,
        action: ProposedAction,
        site: CallSite,
        arguments: dict[str, Any],
        preview: Preview,
        also: list[ToolCall] | None = None,
        new_destinations: list[dict[str, str]] | None = None,
        **together: Any,
    ) -> None:
        """Stores a screened proposal (with ``also``) and tells the listeners, in one step."""
        self.journal.audit(
            site.mission_id,
            "action_proposed",
            f"{site.agent} proposes: {preview.summary}",
            task_id=site.task_id,
            save=[action, *(also or [])],
            action_id=action.id,
            agent=site.agent,
            tool=action.tool,
            title=self._title(action.tool),
            effect=action.effect,
            arguments=arguments,
            preview=_preview_json(preview),
            warning=action.notice,
            ask_person=action.ask_person,
            new_destinations=new_destinations or [],
            **together,
        )

    def _inline_hook(self, site: CallSite, record: ToolCall | _ReadRecord) -> ApprovalHook:
        """The :attr:`ToolContext.approve` hook for one tool call."""

        async def approve(
            kind: str,
            effect: Effect,
            arguments: dict[str, Any],
            preview: Preview,
            destinations: Sequence[Destination] = (),
        ) -> Approval:
            if site.batch is not None:
                # The call that asks must be journaled before what it asks for.
                site.batch.commit()
            action = _new_action(site, record, kind, effect, arguments, preview)
            new = await self._screen(action, destinations, None)
            self._announce(action, site, arguments, preview, new_destinations=new)
            decision, _by = await self._decision_for(action)
            if decision.kind == "reject":
                return Approval(action.id, False, arguments, decision.reason or "no reason given")
            final = decision.arguments if decision.kind == "edit" and decision.arguments else arguments
            action.status, action.result, action.executed_at = "executed", "Allowed to proceed.", utcnow()
            self.journal.audit(
                site.mission_id,
                "action_executed",
                f"Allowed: {preview.summary}",
                task_id=site.task_id,
                save=[action],
                action_id=action.id,
                undoable=False,
            )
            return Approval(action.id, True, final)

        return approve

    async def _read_back(
        self, tool: AnyTool, ctx: ToolContext, args: Any, output: ToolOutput, action: ProposedAction
    ) -> WriteCheck | None:
        """Reads a local write back (its tool's :attr:`~connectors.base.Tool.readback`, else its
        file's bytes); None when there is nothing to read back. Never raises: a read-back that
        cannot run is a check "not checked", with the reason."""
        if self.before_readback is not None:
            self.before_readback(action)
        what = f"what {self._title(tool.name, tool.title).lower()} wrote"
        try:
            check = None
            if tool.readback is not None:
                check = await tool.readback(ctx, args, output)
            elif output.backup is not None:
                check = await asyncio.to_thread(file_bytes_check, output.backup)
            if check is not None and check.differences and output.backup is not None:
                backup = output.backup
                if await asyncio.to_thread(written_since, backup):
                    # Another approved action wrote the file since: not this one's failure.
                    reason = f"another approved change wrote {backup.path.name} right after this one"
                    check = dataclasses.replace(check, differences=(), not_checked=reason)
        except ToolError as exc:
            return WriteCheck(what, not_checked=str(exc))
        except Exception as exc:
            log.exception("Reading back %s failed unexpectedly", tool.name)
            return WriteCheck(what, not_checked=_in_words(exc))
        return check

    def _record_execution(
        self,
        action: ProposedAction,
        execution: asyncio.Future[ToolOutput],
        site: CallSite,
        check: WriteCheck | None = None,
    ) -> ToolOutput:
        """Journals how a started action ended; returns its output or raises its error as a ToolError.

        A read-back ``check`` that found a difference fails the action (its backup kept, so that
        it can be undone); one that could not run is said in the result.
        """
        error = execution.exception()
        if error is not None:
            if not isinstance(error, ToolError):
                log.error("Action %s (%s) failed unexpectedly", action.id, action.tool, exc_info=error)
                error = ToolError(f"{self._title(action.tool)} failed: {_in_words(error)}")
            action.status, action.result, action.executed_at = "failed", str(error), utcnow()
            self.journal.audit(
                site.mission_id,
                "action_failed",
                f"{self._title(action.tool)}: failed: {_first_line(str(error))}",
                task_id=site.task_id,
                save=[action],
                action_id=action.id,
                error=str(error),
            )
            raise error
        output = execution.result()
        action.status, action.result, action.executed_at = "executed", output.text, utcnow()
        action.backup_json = dumps(output.backup.to_json()) if output.backup else None
        if output.undo is not None:
            action.backup_json = dumps({"tool_undo": output.undo})
        if check is not None:
            self.journal.audit(
                site.mission_id,
                "write_checked",
                _first_line(check.words()),
                task_id=site.task_id,
                action_id=action.id,
                tool=action.tool,
                checked=check.checked,
                outcome=check.outcome,
                ok=check.ok,
                differences=list(check.differences),
                reason=check.not_checked,
            )
            if check.outcome == "differs":
                failure = (
                    f"\u201c{self._title(action.tool)}\u201d was carried out, but it is not what was "
                    f"approved. {check.words()} The change is kept so that it can be undone from the audit."
                )
                action.status, action.result = "failed", failure
                self.journal.audit(
                    site.mission_id,
                    "action_failed",
                    f"{self._title(action.tool)}: failed its check: {_first_line(check.words())}",
                    task_id=site.task_id,
                    save=[action],
                    action_id=action.id,
                    error=failure,
                    undoable=action.backup_json is not None,
                )
                raise ToolError(failure)
            if check.not_checked is not None:
                output = dataclasses.replace(
                    output, text=f"{output.text}\n(Not read back to check it: {check.not_checked})"
                )
        self.journal.audit(
            site.mission_id,
            "action_executed",
            f"Done: {json.loads(action.preview_json)['summary']}",
            task_id=site.task_id,
            save=[action],
            action_id=action.id,
            undoable=output.backup is not None or output.undo is not None,
        )
        return output

    def _vouch_hook(self, site: CallSite) -> VouchHook:
        """The :attr:`ToolContext.vouches` hook for one tool call."""

        def vouches(destination: Destination) -> bool:
            vouchers = vouch.collect(self.journal, site.mission_id, self._address_book())
            return vouchers.source_of(destination) is not None

        return vouches

    async def _screen(
        self,
        action: ProposedAction,
        destinations: Sequence[Destination],
        known: Callable[[list[Destination]], Awaitable[dict[str, str]]] | None,
    ) -> list[dict[str, str]]:
        """Checks where an action's destinations came from; one nobody vouched for needs the person.

        Returns:
            The new destinations as event data (empty when all are vouched for).
        """
        if not destinations:
            return []
        vouchers = vouch.collect(self.journal, action.mission_id, self._address_book())
        new = vouch.unvouched(vouchers, destinations)
        if new and known is not None:
            try:
                vouched_by_connector = await known(new)
            except ToolError as exc:
                # Cannot tell (the mail server is away): the person decides, which is safe.
                log.warning("Could not look up known correspondents: %s", exc)
                vouched_by_connector = {}
            new = [d for d in new if d.value not in vouched_by_connector]
        if not new:
            return []
        seen = vouch.seen_in(self.journal, action.mission_id, new)
        text = vouch.notice(new, seen)
        action.ask_person = True
        action.notice = text if not action.notice else f"{action.notice} {text}"
        self._new[action.id] = new
        return vouch.as_json(new, seen)

    async def _decision_for(self, action: ProposedAction) -> tuple[Decision, str]:
        rule = self._matching_rule(action)
        if rule is not None and action.ask_person and rule.kind != "reject_all":
            # Only the person may let it happen; a rule may still refuse it ("never allow").
            rule = None
        if rule is not None:
            decision = Decision(RULE_KINDS[rule.kind], reason=f"rule: {rule.description}")
            by = f"rule:{rule.id} ({rule.description})"
            self._record_decision(action, decision, by)
            return decision, by
        future: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self._waiting[action.id] = (future, action)
        try:
            decision = await future
        except asyncio.CancelledError:
            if action.status == "pending" and action.mission_id not in self.pausing:
                self._record_decision(action, Decision.reject("stopped by user"), "person")
            raise
        finally:
            self._waiting.pop(action.id, None)
            self._new.pop(action.id, None)
        return decision, "person"

    def _matching_rule(self, action: ProposedAction) -> Rule | None:
        return rules.deciding_rule(self.journal.rules(action.mission_id, tool=action.tool), action)

    def apply_rule(self, rule: Rule) -> int:
        """Decides, by a new rule, the pending actions it applies to; returns how many."""
        count = 0
        for future, action in list(self._waiting.values()):
            if (
                future.done()
                or (action.ask_person and rule.kind != "reject_all")
                or not rules.matches(rule, action)
            ):
                continue
            decision = Decision(RULE_KINDS[rule.kind], reason=f"rule: {rule.description}")
            self._record_decision(action, decision, f"rule:{rule.id} ({rule.description})")
            future.set_result(decision)
            count += 1
        return count

    def pending_actions(self) -> list[ProposedAction]:
        """The actions waiting for a person, oldest first."""
        return [action for future, action in self._waiting.values() if not future.done()]

    # Decisions -------------------------------------------------------------------------

    @property
    def pending(self) -> list[str]:
        """Ids of the actions waiting for a person, oldest first."""
        return list(self._waiting)

    def decide(
        self,
        action_id: str,
        decision: Decision,
        tool: AnyTool | None = None,
        *,
        batch: str | None = None,
    ) -> ProposedAction:
        """Takes a person's decision on a pending action. Call it on the engine's loop.

        Args:
            action_id: The proposed action.
            decision: What the person decided.
            tool: The action's tool, to validate edited arguments; required for ``edit``.
            batch: The id of the person's one decision over several cards this is part of
                (see :meth:`app.engine.Engine.decide_batch`), recorded with it.

        Returns:
            The action as now recorded.

        Raises:
            GateError: The action is not waiting (unknown, already decided, or from a
                process that ended), or the edited arguments are not valid for the tool.
        """
        waiting = self._waiting.get(action_id)
        if waiting is None or waiting[0].done():
            raise GateError(f"Action {action_id} is not waiting for a decision.")
        future, action = waiting
        if decision.kind == "edit":
            if decision.arguments is None:
                raise GateError("An edit needs the edited arguments.")
            # An edit changes what it names; what it leaves out stays as proposed (an email's
            # Message-ID, the message it replies to). Null removes a value.
            decision = Decision.edit({**json.loads(action.arguments_json), **decision.arguments})
            # An effect asked about in the middle of a tool call (a browser request) has no
            # tool of its own: the connector that asked checks the edited arguments.
            if tool is not None:
                try:
                    tool.parse(decision.arguments)
                except ToolError as exc:
                    raise GateError(str(exc)) from exc
        self._record_decision(action, decision, "person", batch=batch)
        self._vouch_approved(action, decision)
        future.set_result(decision)
        return action

    def _vouch_approved(self, action: ProposedAction, decision: Decision) -> None:
        """The new destinations a person approved are vouched for, for the rest of the mission."""
        new = self._new.get(action.id)
        if not new or decision.kind == "reject":
            return
        if decision.kind == "edit":
            # What the person left in (or typed) stays; what they removed is not vouched for.
            final = json.dumps(decision.arguments, ensure_ascii=False).lower()
            new = [d for d in new if d.value in final]
        rows = [
            VouchedDestination(
                mission_id=action.mission_id,
                kind=d.kind,
                value=d.value,
                source="you approved it earlier in this mission",
                action_id=action.id,
            )
            for d in new
        ]
        if rows:
            self.journal.audit(
                action.mission_id,
                "destination_vouched",
                "Allowed for this mission: " + ", ".join(d.value for d in new),
                task_id=action.task_id,
                save=rows,
                action_id=action.id,
                destinations=[{"kind": d.kind, "value": d.value} for d in new],
            )

    def _record_decision(
        self, action: ProposedAction, decision: Decision, by: str, *, batch: str | None = None
    ) -> None:
        status = "rejected" if decision.kind == "reject" else "approved"
        action.status, action.decision, action.decided_by = status, decision.kind, by
        action.reason, action.decided_at = decision.reason, utcnow()
        proposed = action.created_at if action.created_at.tzinfo else action.created_at.replace(tzinfo=UTC)
        # The person's time to decide (proposed → decided): what a card costs them.
        seconds = round(max(0.0, (action.decided_at - proposed).total_seconds()), 3)
        action.edited_arguments_json = dumps(decision.arguments) if decision.kind == "edit" else None
        verb = {"approve": "approved", "edit": "approved with edits", "reject": "rejected"}[decision.kind]
        self.journal.audit(
            action.mission_id,
            "action_decided",
            f"{self._title(action.tool)}: {verb} by {_decider(by)}"
            + (f": {decision.reason}" if decision.reason and decision.kind == "reject" else ""),
            task_id=action.task_id,
            save=[action],
            action_id=action.id,
            decision=decision.kind,
            decided_by=by,
            reason=decision.reason,
            edited_arguments=decision.arguments,
            seconds=seconds,
            batch=batch,
        )

    def reject_pending(self, mission_id: str | None, reason: str) -> int:
        """Rejects every pending action (of one mission, or all); returns how many."""
        count = 0
        for future, action in list(self._waiting.values()):
            if future.done():
                continue
            if mission_id is not None and action.mission_id != mission_id:
                continue
            self._record_decision(action, Decision.reject(reason), "person")
            future.set_result(Decision.reject(reason))
            count += 1
        return count


def call_destinations(tool: AnyTool, args: Any) -> list[Destination]:
    """Where a call's data goes: as its tool declares, or, for an external tool that declares
    nothing, every address and link host written anywhere in its arguments (so a connector
    that forgets to declare them is checked all the same)."""
    if tool.destinations is not None:
        return tool.destinations(args)
    if tool.effect != "external":
        return []
    found: list[Destination] = []
    for leaf in _leaves(args.model_dump(mode="json")):
        found += [Destination("address", a, "recipient") for a in sorted(addresses_in(leaf))]
        found += [Destination("host", h, "link") for h in sorted(link_hosts(leaf))]
    return found


def _leaves(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return []


def _known_check(
    tool: AnyTool, ctx: ToolContext, args: Any
) -> Callable[[list[Destination]], Awaitable[dict[str, str]]] | None:
    """The tool's own check of destinations the person deals with, bound to this call."""
    known = tool.known
    if known is None:
        return None

    async def check(new: list[Destination]) -> dict[str, str]:
        return await known(ctx, args, new)

    return check


def _new_action(
    site: CallSite,
    record: ToolCall | _ReadRecord,
    tool: str,
    effect: str,
    arguments: dict[str, Any],
    preview: Preview,
) -> ProposedAction:
    return ProposedAction(
        id=new_id("a"),
        mission_id=site.mission_id,
        task_id=site.task_id,
        tool_call_id=record.id,
        agent=site.agent,
        tool=tool,
        effect=effect,
        arguments_json=dumps(arguments),
        preview_json=dumps(_preview_json(preview)),
    )


def _preview_json(preview: Preview) -> dict[str, Any]:
    return preview.to_json()


def _in_words(error: BaseException) -> str:
    """An unexpected error, said for a person: the system's message, not a traceback."""
    if isinstance(error, OSError) and error.strerror:
        where = f" ({error.filename})" if error.filename else ""
        return f"{error.strerror}{where}"
    return f"{type(error).__name__}: {error}"


def _who(agent: str) -> str:
    """An agent as a person reads it: "Lead" or "Spreadsheet agent"."""
    if agent in ("", "lead"):
        return "Lead"
    return f"{tool_title(agent)} agent"


def _decider(by: str) -> str:
    """Who decided, as a person reads it: "you", or the rule "…"."""
    if by in ("", "person"):
        return "you"
    if by.startswith("rule:") and "(" in by:
        return f"the rule \u201c{by.split('(', 1)[1].rstrip(')')}\u201d"
    return by


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= 160 else line[:157] + "…"
