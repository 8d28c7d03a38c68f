"""The Temporal backend behind the engine's facade: missions run on a team's cluster.

:class:`app.engine.Engine` loads this module by name (never by an import statement, so that
the window's import path never reaches the SDK) when the settings' backend is ``temporal``.
A mission then starts as a :class:`app.temporal.workflow.MissionWorkflow` on the cluster, and
:class:`RemoteMissions` follows it: it reads the workflow's new events (the ``events`` query)
and copies each into the local journal as the embedded engine would have written it (the
audit event, the card's row, the task's row, the lead's chat lines). The window and the
command line read that journal and the engine's typed events, so a mission on Temporal looks
and is decided exactly like one that runs here. Decisions, answers, messages and stop go to
the workflow (updates and cancellation); the first client to decide a card wins, and the
others see its decision arrive as an event.

The workflow's history is the durable record: the local journal is this client's copy of
what it has seen (each copied event keeps the workflow's ``seq``), so following a mission
again after the window was closed or killed copies only what is new.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import select
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from app.errors import EngineError
from app.journal import ChatMessage, Journal, Mission, ModelCall, ProposedAction, Rule, Task, utcnow
from app.temporal import client as temporal
from app.temporal._shapes import DecisionInput, MissionEvent, MissionInput, MissionResult, RuleData

if TYPE_CHECKING:
    from collections.abc import Sequence

    from app.api.workflows import WorkflowSpec
    from app.settings import Settings, TemporalSettings

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
"""How often a followed mission's new events are read while it runs."""

STOP_SECONDS = 60.0
"""How long stopping a mission waits for its workflow to say it stopped (an action already
running finishes first)."""

API_KEY_VARIABLES = ("ENSEMBLE_TEMPORAL_API_KEY", "TEMPORAL_API_KEY")
"""Where the cluster's API key is read from, when it wants one (never the settings file)."""

_UNREADABLE = (RPCError, RPCTimeoutOrCancelledError, WorkflowQueryFailedError, WorkflowQueryRejectedError)
"""A query that failed because no worker answered yet or the cluster is away: tried again."""
_UNSENT = (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError, WorkflowUpdateFailedError)
"""An update that did not land."""

_CLOSED = {
    WorkflowExecutionStatus.COMPLETED: "done",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "failed",
    WorkflowExecutionStatus.TIMED_OUT: "failed",
    WorkflowExecutionStatus.CONTINUED_AS_NEW: "failed",
}


@dataclass
class Ending:
    """How a followed mission ended, or why following it stopped.

    Attributes:
        status: ``done``, ``failed``, ``cancelled``, or ``interrupted`` (this client stopped
            following; the mission goes on on the cluster).
        result: The lead's final answer, for ``done``.
        error: Why it failed or stopped, in words.
        tokens: Tokens the mission spent, as the workflow counted them.
    """

    status: str
    result: str | None = None
    error: str | None = None
    tokens: int = 0


@dataclass
class _Followed:
    handle: WorkflowHandle[Any, MissionResult]
    questions: list[str] = field(default_factory=list)
    """The lead's questions still open, oldest first (their ids)."""
    stopping: bool = False


class RemoteMissions:
    """This engine's missions on a Temporal cluster, followed into its journal.

    Args:
        journal: The engine's journal, which the copies go to.
        cluster: Where the cluster is (:class:`app.settings.TemporalSettings`).
    """

    def __init__(self, journal: Journal, cluster: TemporalSettings) -> None:
        self.journal = journal
        self.cluster = cluster
        self._client: Client | None = None
        self._followed: dict[str, _Followed] = {}
        self._stop_asked: set[str] = set()
        """Missions the person stopped whose follower has not seen it yet."""
        self._schedules: dict[str, tuple[str, str]] = {}
        """The schedules this client put on the cluster, by id: the workflow's name, and what
        the schedule was made from."""
        self._unscheduled: set[str] = set()
        """Schedule ids known to be absent from the cluster (removed, or never made)."""

    async def client(self) -> Client:
        """The cluster's client, connected on first use.

        Raises:
            EngineError: The cluster cannot be reached, in words for a person.
        """
        if self._client is None:
            key = next((os.environ[v] for v in API_KEY_VARIABLES if os.environ.get(v)), None)
            try:
                self._client = await Client.connect(
                    self.cluster.address, namespace=self.cluster.namespace, tls=self.cluster.tls, api_key=key
                )
            except (RuntimeError, RPCError, OSError) as exc:  # the SDK's words: logged, not shown
                log.info("Temporal connection to %s failed: %s", self.cluster.address, exc)
                raise EngineError(
                    f"Ensemble cannot reach the Temporal server at {self.cluster.address}. Check the "
                    "address in Settings (or --temporal), and that the server runs and lets this "
                    "computer in."
                ) from None
        return self._client

    def follows(self, mission_id: str) -> bool:
        """Whether this client follows the mission now."""
        return mission_id in self._followed

    def busy(self) -> bool:
        """Whether this client follows any mission now."""
        return bool(self._followed)

    def open_question(self, mission_id: str) -> bool:
        """Whether the mission's lead waits for an answer."""
        followed = self._followed.get(mission_id)
        return followed is not None and bool(followed.questions)

    # Running ------------------------------------------------------------------------------

    async def run(
        self,
        mission: Mission,
        settings: Settings,
        *,
        folders: Sequence[Path],
        options: dict[str, Any],
        memories: Sequence[str],
    ) -> Ending:
        """Starts the mission's workflow (or finds it, when it was started before) and follows
        it to its end.

        Args:
            mission: The mission's journal row (its id is the workflow's).
            settings: The settings: model, limits, address book.
            folders: The workspace folders, as the workers see them.
            options: The mission's options (accounts without passwords, sites, endpoint).
            memories: What the person asked the lead to remember that applies here.

        Returns:
            How it ended. Cancelling this coroutine stops following (``interrupted``: the
            mission goes on on the cluster and is followed again later), unless
            :meth:`stopping` was called first: then the workflow is cancelled too.

        Raises:
            EngineError: The cluster cannot be reached.
        """
        client = await self.client()
        data = _mission_input(mission, settings, folders, options, self._rules(mission.id), memories)
        try:
            handle = await temporal.start_mission(client, data, self.cluster.task_queue)
        except WorkflowAlreadyStartedError:
            handle = temporal.mission(client, mission.id)  # followed again: it runs already
        followed = _Followed(handle, stopping=mission.id in self._stop_asked)
        self._followed[mission.id] = followed
        try:
            return await self._follow(mission.id, followed)
        except asyncio.CancelledError:
            if not (followed.stopping or mission.id in self._stop_asked):
                return Ending(
                    "interrupted", error="This app stopped following it; it goes on on the cluster."
                )
            return await self._stop_and_follow(mission.id, followed)
        finally:
            self._followed.pop(mission.id, None)
            self._stop_asked.discard(mission.id)

    async def _stop_and_follow(self, mission_id: str, followed: _Followed) -> Ending:
        with contextlib.suppress(RPCError):
            await followed.handle.cancel()
        try:
            return await asyncio.wait_for(self._follow(mission_id, followed), STOP_SECONDS)
        except TimeoutError:
            return Ending("cancelled", error="Stopped by the person (the cluster had not confirmed it yet).")

    async def _follow(self, mission_id: str, followed: _Followed) -> Ending:
        after = self._seen(mission_id)
        quiet = 0
        while True:
            try:
                events = await temporal.events(followed.handle, after)
            except _UNREADABLE as exc:  # no worker answers queries yet, or the cluster is away
                log.info("Reading mission %s on Temporal: %s", mission_id, exc)
                events = []
                ended = await self._closed(followed.handle)
                if ended is not None:
                    return ended
                await asyncio.sleep(min(2.0, POLL_SECONDS * 4))
                continue
            for event in events:
                after = event.seq
                ending = self._copy(mission_id, followed, event)
                if ending is not None:
                    return ending
            quiet = 0 if events else quiet + 1
            if quiet and quiet % 40 == 0:  # every ten seconds without news: did it end elsewhere?
                ended = await self._closed(followed.handle)
                if ended is not None:
                    return ended
            await asyncio.sleep(POLL_SECONDS)

    async def _closed(self, handle: WorkflowHandle[Any, MissionResult]) -> Ending | None:
        """How the workflow ended when it closed without this client seeing its last event."""
        try:
            described = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return Ending(
                    "failed",
                    error="The cluster no longer has this mission (its history was removed, or it "
                    "was started on another cluster or namespace).",
                )
            log.info("Describing %s on Temporal: %s", handle.id, exc)  # the cluster is away
            return None
        except RPCTimeoutOrCancelledError as exc:  # the cluster is away: keep following
            log.info("Describing %s on Temporal: %s", handle.id, exc)
            return None
        status = described.status
        if status is None or status not in _CLOSED:
            return None
        if status == WorkflowExecutionStatus.COMPLETED:
            result: MissionResult = await handle.result()
            return Ending(
                result.status,
                result.result,
                None if result.status == "done" else result.result,
                result.tokens,
            )
        words = status.name.replace("_", " ").lower()
        return Ending(_CLOSED[status], error=f"Its workflow ended on the cluster ({words}).")

    # Copying the workflow's events into the journal --------------------------------------------

    def _seen(self, mission_id: str) -> int:
        """The last workflow event already copied (their ``seq``), 0 for none."""
        seqs = [e.data.get("seq") for e in self.journal.events(mission_id)]
        return max((s for s in seqs if isinstance(s, int)), default=0)

    def _copy(self, mission_id: str, followed: _Followed, event: MissionEvent) -> Ending | None:
        data = dict(event.data)
        data["seq"] = event.seq
        key = data.pop("task", None) or None  # the lead's events name no task
        task_id = f"{mission_id}/{key}" if isinstance(key, str) else None
        kind = event.kind
        if kind == "mission_started":
            return None  # the engine wrote its own, with the folders and the model
        if kind == "mission_finished":
            status = str(data.get("status") or "failed")
            result = data.get("result")
            text = str(result) if isinstance(result, str) else None
            tokens = int(data.get("tokens") or 0)
            if status == "done":
                return Ending("done", text, None, tokens)
            return Ending(status, None, text or event.summary, tokens)
        if kind == "chat_message" and data.get("role") == "user":
            return None  # the person's own words: the engine wrote them when they were sent
        if kind == "rule_added":
            return None  # the engine recorded the rule when the person added it
        save: list[Any] = []
        if key is not None:
            data.setdefault("key", key)
        if kind == "task_started" and task_id is not None:
            save.append(
                Task(
                    id=task_id,
                    mission_id=mission_id,
                    key=str(key),
                    agent=str(data.get("agent") or ""),
                    instructions=str(data.get("instructions") or ""),
                    status="running",
                    started_at=utcnow(),
                )
            )
        elif kind == "task_finished" and task_id is not None:
            self._update(Task, task_id, status=str(data.get("status") or "done"), finished_at=utcnow())
        elif kind == "action_proposed":
            save.append(_action_row(mission_id, task_id, data))
        elif kind == "action_decided":
            decision = str(data.get("decision") or "")
            edited = data.get("edited_arguments")
            self._update(
                ProposedAction,
                str(data.get("action_id")),
                status="rejected" if decision == "reject" else "approved",
                decision=decision,
                decided_by=str(data.get("decided_by") or ""),
                reason=data.get("reason"),
                edited_arguments_json=json.dumps(edited, ensure_ascii=False) if edited else None,
                decided_at=utcnow(),
            )
        elif kind in ("action_executed", "action_failed"):
            backup = data.get("backup")
            here = isinstance(backup, dict) and Path(str(backup.get("backup_path", ""))).exists()
            self._update(
                ProposedAction,
                str(data.get("action_id")),
                status="executed" if kind == "action_executed" else "failed",
                result=str(data.get("error") or "") or None,
                # A backup on this computer (a worker beside the window) can be undone here.
                backup_json=json.dumps(backup) if here else None,
                executed_at=utcnow(),
            )
        elif kind == "question_asked":
            question_id = str(data.get("question_id") or "")
            followed.questions.append(question_id)
            data.setdefault("question", event.summary)
            save.append(
                ChatMessage(mission_id=mission_id, role="assistant", kind="question", text=event.summary)
            )
        elif kind == "chat_message":
            save.append(ChatMessage(mission_id=mission_id, role="assistant", text=event.summary))
        elif kind == "memory_approved":
            self._keep_memory(mission_id, data)
        elif kind == "model_call":  # what the missions list prices
            save.append(
                ModelCall(
                    mission_id=mission_id,
                    task_id=task_id,
                    agent=str(data.get("agent") or ""),
                    model=str(data.get("model") or ""),
                    input_tokens=int(data.get("input_tokens") or 0),
                    output_tokens=int(data.get("output_tokens") or 0),
                    cache_read_tokens=int(data.get("cache_read_tokens") or 0),
                    cache_write_tokens=int(data.get("cache_write_tokens") or 0),
                    stop_reason=data.get("stop_reason"),
                    finished_at=utcnow(),
                )
            )
        self.journal.audit(mission_id, kind, event.summary, task_id=task_id, save=save, **data)
        return None

    def _keep_memory(self, mission_id: str, data: dict[str, Any]) -> None:
        """What the person approved for the lead to remember goes to this Ensemble's memory
        (once: following the mission again finds it kept)."""
        from app import memory

        call_id = str(data.get("call_id") or "")
        if self.journal.memory_of_call(mission_id, call_id) is not None:
            return
        folder = data.get("folder")
        try:
            memory.add(
                self.journal,
                str(data.get("text") or ""),
                str(folder) if folder else None,
                source="you approved it in a mission",
                mission_id=mission_id,
                call_id=call_id or None,
            )
        except memory.MemoryRefused as exc:
            log.warning("An item approved in mission %s could not be kept: %s", mission_id, exc)

    def _update(self, table: type[Task] | type[ProposedAction], row_id: str, **changes: Any) -> None:
        with self.journal.session() as session:
            row = session.exec(select(table).where(table.id == row_id)).first()
            if row is None:
                return
            for name, value in changes.items():
                setattr(row, name, value)
            session.add(row)

    def _rules(self, mission_id: str | None) -> list[RuleData]:
        return [
            RuleData(
                id=r.id,
                kind=r.kind,
                description=r.description,
                tool=r.tool,
                conditions_json=r.conditions_json,
                mission_id=r.mission_id,
            )
            for r in self.journal.rules(mission_id)
        ]

    # The workflows' schedules, kept by the cluster ---------------------------------------------

    async def keep_schedules(
        self, workflows: Sequence[WorkflowSpec], settings: Settings, journal: Journal
    ) -> list[tuple[str, str]]:
        """Makes the cluster's schedules what the workflows say, and lists their runs.

        A scheduled workflow gets (or keeps) its Temporal Schedule, updated when its schedule
        or its mission changed; a workflow whose schedule was removed here loses it. Only the
        schedules of these workflows are touched (a team's other schedules are theirs).

        Args:
            workflows: Every saved workflow.
            settings: The settings the runs start with (accounts, limits, address book).
            journal: Where the rules in force and the memory come from.

        Returns:
            ``(workflow name, run's workflow id)`` for every run the schedules started, as far
            back as the cluster keeps them, oldest first.

        Raises:
            EngineError: The cluster cannot be reached, or a schedule cannot be made there.
        """
        from app import memory
        from app.temporal import schedules

        client = await self.client()
        runs: list[tuple[str, str]] = []
        named = {schedules.schedule_id(w.name) for w in workflows}
        for sid, (name, _made) in list(self._schedules.items()):
            if sid not in named:  # renamed or deleted here: its old schedule goes
                await schedules.delete_schedule(client, name)
                del self._schedules[sid]
        for workflow in workflows:
            sid = schedules.schedule_id(workflow.name)
            if workflow.schedule is None:
                if self._schedules.pop(sid, None) is not None or sid not in self._unscheduled:
                    await schedules.delete_schedule(client, workflow.name)
                    self._unscheduled.add(sid)
                continue
            self._unscheduled.discard(sid)
            folders = list(workflow.workspaces or settings.workspaces)
            mission = schedules.scheduled_mission(
                workflow,
                settings,
                rules=self._rules(None),
                memories=[m.text for m in memory.applying(journal, folders)],
            )
            wanted = json.dumps([workflow.schedule.model_dump(mode="json"), repr(mission)], sort_keys=True)
            if self._schedules.get(sid, ("", ""))[1] != wanted:
                try:
                    await schedules.put_schedule(
                        client, workflow, mission, task_queue=self.cluster.task_queue
                    )
                except RPCError as exc:
                    raise EngineError(
                        f"The cluster refused the schedule of “{workflow.name}”: {exc.message}"
                    ) from None
                self._schedules[sid] = (workflow.name, wanted)
            found = await schedules.list_runs(client, workflow.name)
            runs += [(workflow.name, run.workflow_id) for run in sorted(found, key=lambda r: r.started_at)]
        return runs

    # The person's words, to the workflow ---------------------------------------------------------

    async def decide(
        self,
        mission_id: str,
        action_id: str,
        kind: str,
        *,
        arguments: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        """Sends a person's decision on a card to the mission's workflow.

        Args:
            mission_id: The mission (the workflow's id).
            action_id: The card's action.
            kind: ``approve``, ``edit`` or ``reject``.
            arguments: For ``edit``, the arguments the person changed.
            reason: For ``reject``, why.

        Raises:
            EngineError: The card is not waiting any more (decided from another window first),
                the edit is refused, or the cluster cannot be reached.
        """
        handle = await self._handle(mission_id)
        try:
            await temporal.decide(handle, DecisionInput(action_id, kind, arguments=arguments, reason=reason))
        except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError) as exc:
            raise EngineError(f"The decision did not reach the cluster: {exc}") from None
        except WorkflowUpdateFailedError as exc:  # the validator's words, for a person
            cause = exc.cause or exc
            raise EngineError(str(getattr(cause, "message", None) or cause)) from None

    async def add_rule(self, mission_id: str, rule: Rule) -> None:
        """Hands a rule the person added to a running mission's workflow (it decides the cards
        waiting for it there, and those to come).

        Raises:
            EngineError: The cluster cannot be reached, or the mission has ended there.
        """
        handle = await self._handle(mission_id)
        data = RuleData(
            id=rule.id,
            kind=rule.kind,
            description=rule.description,
            tool=rule.tool,
            conditions_json=rule.conditions_json,
            mission_id=rule.mission_id,
        )
        try:
            await handle.execute_update("add_rule", data, result_type=int)
        except _UNSENT as exc:
            raise EngineError(f"The rule did not reach the mission on the cluster: {exc}") from None

    def followed(self) -> list[str]:
        """The missions this client follows now."""
        return list(self._followed)

    async def answer(self, mission_id: str, text: str) -> None:
        """Answers the lead's oldest open question.

        Raises:
            EngineError: The lead asked nothing, or the cluster cannot be reached.
        """
        followed = self._followed.get(mission_id)
        if followed is None or not followed.questions:
            raise EngineError(f"Mission {mission_id} is not waiting for an answer.")
        question = followed.questions.pop(0)
        try:
            await temporal.answer(followed.handle, question, text)
        except _UNSENT as exc:  # the question stays open
            followed.questions.insert(0, question)
            raise EngineError(f"The answer did not reach the cluster: {exc}") from None

    async def message(self, mission_id: str, text: str) -> None:
        """Sends a chat message to the mission's lead.

        Raises:
            EngineError: The cluster cannot be reached, or the mission has ended there.
        """
        handle = await self._handle(mission_id)
        try:
            await temporal.message(handle, text)
        except _UNSENT as exc:
            raise EngineError(f"The message did not reach the cluster: {exc}") from None

    def stopping(self, mission_id: str) -> None:
        """Marks a mission as stopped by the person (followed already, or about to be):
        cancelling its follower then cancels its workflow rather than only stop following it."""
        self._stop_asked.add(mission_id)
        followed = self._followed.get(mission_id)
        if followed is not None:
            followed.stopping = True

    async def cancel(self, mission_id: str) -> None:
        """Cancels a mission's workflow without following it (stopped before its follower
        got going); a mission that has ended or never started is left as it is."""
        self._stop_asked.discard(mission_id)
        with contextlib.suppress(*_UNSENT, RPCError):
            await temporal.mission(await self.client(), mission_id).cancel()

    async def _handle(self, mission_id: str) -> WorkflowHandle[Any, MissionResult]:
        followed = self._followed.get(mission_id)
        if followed is not None:
            return followed.handle
        return temporal.mission(await self.client(), mission_id)


def _action_row(mission_id: str, task_id: str | None, data: dict[str, Any]) -> ProposedAction:
    action_id = str(data.get("action_id"))
    return ProposedAction(
        id=action_id,
        mission_id=mission_id,
        task_id=task_id,
        tool_call_id=action_id,
        agent=str(data.get("agent") or ""),
        tool=str(data.get("tool") or ""),
        effect=str(data.get("effect") or "external"),
        arguments_json=json.dumps(data.get("arguments") or {}, ensure_ascii=False),
        preview_json=json.dumps(data.get("preview") or {}, ensure_ascii=False),
        notice=data.get("warning"),
        ask_person=bool(data.get("ask_person")),
    )


def _mission_input(
    mission: Mission,
    settings: Settings,
    folders: Sequence[Path],
    options: dict[str, Any],
    rules: list[RuleData],
    memories: Sequence[str],
) -> MissionInput:
    """The workflow's input: the mission as the engine filled it, without a secret."""
    sent = json.loads(json.dumps(options))
    endpoint = sent.get("endpoint")
    if isinstance(endpoint, dict):
        endpoint.pop("api_key", None)  # a worker uses its own key, or none for a local model
    model = str((endpoint or {}).get("model") or sent.get("model") or settings.model)
    budget = sent.get("token_budget")
    return MissionInput(
        mission_id=mission.id,
        text=mission.text,
        workspaces=[str(f) for f in folders],
        model=model,
        max_turns=settings.max_turns,
        token_budget=budget if isinstance(budget, int) else settings.token_budget,
        max_tokens=settings.max_tokens,
        options=sent,
        rules=rules,
        address_book=list(settings.address_book),
        memories=list(memories),
        model_timeout_seconds=settings.api_timeout,
    )
