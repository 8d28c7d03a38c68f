"""A mission as a Temporal workflow: the lead's and the sub-agents' loops as deterministic code.

What the embedded engine does with its journal, the workflow does with its own state and its
history: each model call and each tool call is an activity (:mod:`app.temporal.activities`),
so a worker that dies loses nothing; the cards (proposed actions with a side effect) are
workflow state that the ``decide`` update resolves; the rules and the vouched-destination
check run here, as pure code (:func:`app.rules.deciding_rule`, :func:`app.vouch.from_sources`);
the mission's events are the ``events`` query, and the history holds every input and result.
Cancelling the workflow stops the mission: the cards waiting are rejected, and an action
already being carried out runs to its end first.

Nothing in this module may read a clock, a file, the network or a random source: it is
replayed, on any worker, from its history.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from app import rules, vouch
    from app.journal import VouchSources
    from app.memory import PERSON_ONLY_NOTICE
    from app.orchestrator import OVERVIEW, DelegateArgs, add_user_text
    from app.orchestrator._delegate import TaskSpec, check_plan
    from app.orchestrator._loop import LOOP_LIMIT, Streak
    from app.temporal._shapes import (
        WORKFLOW_NAME,
        AgentSpec,
        AnswerInput,
        Card,
        ChatInput,
        DecisionInput,
        ExecuteReply,
        ExecuteRequest,
        MissionEvent,
        MissionInput,
        MissionResult,
        ModelReply,
        ModelRequest,
        Proposal,
        RuleData,
        SetupReply,
        SetupRequest,
        ToolReply,
        ToolRequest,
    )
    from connectors.base import Destination, ToolError, tool_title
    from connectors.registry import find_tool

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

MODEL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=10,
)
"""Model calls: an overloaded or unreachable API, or a worker that died, is tried again with
backoff; a key the API refuses or a request it rejects fails at once (non-retryable). After
these tries (``MissionInput.model_attempts``) the mission waits (``model_wait_seconds``) and
starts them again."""

TOOL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
"""Reads, proposals and fingerprints change nothing: tried again if their worker died."""

EXECUTE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5)
"""Approved actions: only a worker's death makes one fail (errors are results), and a retry
first checks whether the effect happened (see :meth:`MissionActivities.execute`)."""

TOOL_TIMEOUT = timedelta(minutes=10)
"""The longest one tool call may run."""

REJECTED = "The action was not carried out and nothing changed."


class _Limit(Exception):
    """An agent reached its turn limit or the mission's token budget."""


def _cause(error: ActivityError) -> str:
    """Why an activity failed, in words for a person."""
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return cause.message
    return "The workers did not finish it in time; none of them may be running."


def _who(agent: str) -> str:
    return "Lead" if agent == "lead" else f"{tool_title(agent)} agent"


def _text(content: list[dict[str, Any]]) -> str:
    return "\n".join(str(b["text"]) for b in content if b.get("type") == "text").strip()


def _wrong_arguments(tool: str, exc: ValidationError) -> str:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}" for err in exc.errors()
    )
    return f"Wrong arguments for {tool}: {problems}."


@dataclasses.dataclass
class _Batch:
    """A turn's consecutive proposals of one tool, shown together as one batch card: each is
    announced, and carried out, in the model's order."""

    id: str
    size: int
    announced: list[asyncio.Event]
    finished: list[asyncio.Event]


@workflow.defn(name=WORKFLOW_NAME)
class MissionWorkflow:
    """One mission: the lead plans, the sub-agents work, every side effect waits for a decision."""

    def __init__(self) -> None:
        self._mission: MissionInput | None = None
        self._events: list[MissionEvent] = []
        self._cards: dict[str, Card] = {}
        self._decisions: dict[str, DecisionInput] = {}
        self._new: dict[str, list[Destination]] = {}
        self._questions: dict[str, str] = {}
        self._answers: dict[str, str] = {}
        self._person: list[tuple[str, str]] = []
        self._inbox: list[str] = []
        self._vouched: list[tuple[str, str, str]] = []
        self._results: list[tuple[str, str, bool, str]] = []
        self._titles: dict[str, str] = {}
        self._batch_of: dict[str, tuple[_Batch, int]] = {}
        self._declarations: dict[str, str] = {}
        self._tokens = 0
        self._status = "running"

    @property
    def mission(self) -> MissionInput:
        """The mission's input (set as soon as it runs)."""
        assert self._mission is not None
        return self._mission

    # The mission ----------------------------------------------------------------------------

    @workflow.run
    async def run(self, mission: MissionInput) -> MissionResult:
        """Runs the mission to its end.

        Args:
            mission: What the person asked, and everything the agents need (no secret).

        Returns:
            How it ended; a stopped mission ends cancelled instead.
        """
        own_id = workflow.info().workflow_id
        if mission.mission_id != own_id:
            # A scheduled run: its input names the schedule; each due time's run is its own
            # mission (its backups, its cards, the rules limited to "this mission").
            mission = dataclasses.replace(
                mission,
                mission_id=own_id,
                rules=[
                    dataclasses.replace(r, mission_id=own_id) if r.mission_id == mission.mission_id else r
                    for r in mission.rules
                ],
            )
        self._mission = mission
        first_line = (mission.text.strip().splitlines() or [""])[0][:120]
        self._event("mission_started", f"Mission started: {first_line}", text=mission.text)
        try:
            setup: SetupReply = await workflow.execute_activity(
                "ensemble_setup",
                SetupRequest(mission.workspaces, mission.memories),
                result_type=SetupReply,
                start_to_close_timeout=timedelta(minutes=2),
                heartbeat_timeout=timedelta(seconds=mission.heartbeat_seconds),
                retry_policy=TOOL_RETRY,
            )
            for spec in (setup.lead, *setup.kinds.values()):
                self._titles.update(spec.titles)
            messages: list[dict[str, Any]] = [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": mission.text},
                        {"type": "text", "text": f"{OVERVIEW}\n{setup.overview}"},
                    ],
                }
            ]
            result = await self._agent(setup.lead, "", messages, lambda use: self._lead_tool(setup, use))
            status = "done"
            self._event("chat_message", result, role="assistant")
        except _Limit as exc:
            status, result = "failed", str(exc)
        except ActivityError as exc:
            status, result = "failed", _cause(exc)
        except asyncio.CancelledError:
            self._stop_cards()
            self._status = "cancelled"
            self._event("mission_finished", "Mission stopped by the person", status="cancelled")
            await self._release()
            raise
        await self._release()
        self._status = status
        words = "finished" if status == "done" else "failed"
        self._event("mission_finished", f"Mission {words}", status=status, result=result, tokens=self._tokens)
        return MissionResult(status, result, self._tokens)

    async def _release(self) -> None:
        """Lets the workers release what the connectors hold for the mission (its browser
        context, its IMAP logins), as the embedded engine does at a mission's end."""
        try:
            await workflow.execute_activity(
                "ensemble_mission_end",
                self.mission.mission_id,
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=TOOL_RETRY,
            )
        except ActivityError:
            pass  # a worker's connections go when it stops; the mission's outcome stands

    async def _agent(
        self,
        spec: AgentSpec,
        task: str,
        messages: list[dict[str, Any]],
        run_tool: Callable[[dict[str, Any]], Awaitable[ToolReply]],
    ) -> str:
        """An agent's tool-use loop: ask the model, run its tool calls, until it answers."""
        mission = self.mission
        streak = Streak()
        for _turn in range(mission.max_turns):
            if spec.name == "lead" and not task and self._inbox:
                # The person's chat messages join the lead's next turn, as in the embedded engine.
                add_user_text(messages, [f"The person wrote in the chat: {text}" for text in self._inbox])
                self._inbox.clear()
            if self._tokens >= mission.token_budget:
                used = f"{self._tokens:,} of {mission.token_budget:,} tokens"
                raise _Limit(f"The mission's token budget is used up ({used}).")
            reply = await self._model_reply(
                ModelRequest(
                    mission_id=mission.mission_id,
                    agent=spec.name,
                    model=mission.model,
                    max_tokens=mission.max_tokens,
                    system=spec.system,
                    tools_json=self._tools_json(spec),
                    messages_json=json.dumps(messages, ensure_ascii=False),
                    base_url=_endpoint_url(mission.options),
                ),
                task,
            )
            self._tokens += reply.tokens
            self._event(
                "model_call",
                f"{spec.name} model call: {reply.tokens:,} tokens ({reply.cache_read_tokens:,} from cache)",
                task=task,
                agent=spec.name,
                model=mission.model,
                tokens=reply.tokens,
                input_tokens=reply.input_tokens,
                output_tokens=reply.output_tokens,
                cache_read_tokens=reply.cache_read_tokens,
                cache_write_tokens=reply.cache_write_tokens,
                mission_tokens=self._tokens,
                stop_reason=reply.stop_reason,
            )
            messages.append({"role": "assistant", "content": reply.content})
            uses = [b for b in reply.content if b.get("type") == "tool_use"]
            if not uses:
                text = _text(reply.content)
                if reply.stop_reason == "max_tokens" and not text:
                    raise _Limit("The model's reply was cut off at the maximum reply length.")
                return text
            results: list[dict[str, Any]] = []
            for run in _runs_of_one_tool(uses, spec.effects):
                for use, result in zip(run, await self._run_together(run, run_tool), strict=True):
                    block: dict[str, Any] = {
                        "type": "tool_result",
                        "tool_use_id": use["id"],
                        "content": result.text,
                    }
                    if result.is_error:
                        block["is_error"] = True
                    results.append(block)
            messages.append({"role": "user", "content": results})
            for use, block in zip(uses, results, strict=True):
                if streak.add(use, block) >= LOOP_LIMIT:
                    raise _Limit(
                        f"The agent called {use['name']} with the same arguments {LOOP_LIMIT} times in a row "
                        "and got the same result each time; it was stopped so that it does not loop."
                    )
        raise _Limit(f"The agent reached its limit of {mission.max_turns} turns without finishing.")

    def _tools_json(self, spec: AgentSpec) -> str:
        """An agent's tool declarations as JSON, made once per agent kind."""
        found = self._declarations.get(spec.name)
        if found is None:
            found = self._declarations[spec.name] = json.dumps(spec.declarations, ensure_ascii=False)
        return found

    async def _model_reply(self, request: ModelRequest, task: str) -> ModelReply:
        """One model call. While the model stays unavailable (overloaded, unreachable, every
        worker away) the mission waits and tries again every ``model_wait_seconds``, saying so
        once, instead of failing: the embedded engine pauses such a mission. A refused key or
        request fails at once."""
        said = False
        while True:
            try:
                reply: ModelReply = await workflow.execute_activity(
                    "ensemble_model_reply",
                    request,
                    result_type=ModelReply,
                    start_to_close_timeout=timedelta(seconds=self.mission.model_timeout_seconds),
                    heartbeat_timeout=timedelta(seconds=self.mission.heartbeat_seconds),
                    retry_policy=dataclasses.replace(
                        MODEL_RETRY, maximum_attempts=self.mission.model_attempts
                    ),
                )
            except ActivityError as exc:
                cause = exc.cause
                if isinstance(cause, ApplicationError) and cause.non_retryable:
                    raise
                wait = timedelta(seconds=self.mission.model_wait_seconds)
                if not said:
                    every = (
                        f"{wait.total_seconds() / 60:g} minutes"
                        if wait >= timedelta(minutes=1)
                        else f"{wait.total_seconds():g} seconds"
                    )
                    self._event(
                        "model_unavailable",
                        f"The model is unavailable ({_cause(exc)}). The mission waits and tries again "
                        f"every {every}; stop it if it should not.",
                        task=task,
                        reason=_cause(exc),
                    )
                    said = True
                await workflow.sleep(wait)
                continue
            if said:
                self._event("model_available", "The model answers again; the mission goes on.", task=task)
            return reply

    async def _run_together(
        self, run: list[dict[str, Any]], run_tool: Callable[[dict[str, Any]], Awaitable[ToolReply]]
    ) -> list[ToolReply]:
        """Runs one tool call, or a batch of proposals of one tool (see :class:`_Batch`)."""
        if len(run) == 1:
            return [await run_tool(run[0])]
        batch = _Batch(
            f"b-{workflow.uuid4().hex[:12]}",
            len(run),
            [asyncio.Event() for _ in run],
            [asyncio.Event() for _ in run],
        )
        for index, use in enumerate(run):
            self._batch_of[str(use["id"])] = (batch, index)
        try:
            return list(await asyncio.gather(*(run_tool(use) for use in run)))
        finally:
            for use in run:
                self._batch_of.pop(str(use["id"]), None)

    # The lead's tools -----------------------------------------------------------------------

    async def _lead_tool(self, setup: SetupReply, use: dict[str, Any]) -> ToolReply:
        name, arguments = str(use["name"]), use.get("input") or {}
        if name == "delegate":
            reply = await self._delegate(setup, arguments)
        elif name == "ask_user":
            reply = await self._ask(arguments)
        elif name == "remember":
            reply = await self._remember(use)
        else:
            reply = ToolReply(
                f"There is no tool named {name!r}. Available: delegate, ask_user, remember.", is_error=True
            )
        self._results.append((name, "lead", reply.is_error, reply.text))
        return reply

    async def _remember(self, use: dict[str, Any]) -> ToolReply:
        """The lead proposes something to remember: a card only the person decides (no rule,
        either way); what they approve goes to their own Ensemble's memory (the client that
        follows the mission keeps it, from the ``memory_approved`` event)."""
        mission = self.mission
        arguments = use.get("input") if isinstance(use.get("input"), dict) else {}
        call = ToolRequest(
            mission_id=mission.mission_id,
            agent="lead",
            tool="remember",
            call_id=str(use["id"]),
            arguments=dict(arguments or {}),
            workspaces=mission.workspaces,
            options=mission.options,
        )
        proposal: Proposal = await workflow.execute_activity(
            "ensemble_propose",
            call,
            result_type=Proposal,
            start_to_close_timeout=TOOL_TIMEOUT,
            heartbeat_timeout=timedelta(seconds=mission.heartbeat_seconds),
            retry_policy=TOOL_RETRY,
        )
        if proposal.error is not None:
            return ToolReply(proposal.error, is_error=True)
        card = Card(
            action_id=f"a-{workflow.uuid4().hex[:16]}",
            mission_id=mission.mission_id,
            task="",
            agent="lead",
            tool="remember",
            title=self._title("remember"),
            effect="local",
            arguments_json=json.dumps(proposal.arguments, ensure_ascii=False),
            preview=proposal.preview,
            ask_person=True,
            notice=PERSON_ONLY_NOTICE,
        )
        self._cards[card.action_id] = card
        self._announce(card, proposal.arguments, [], None)
        await workflow.wait_condition(lambda: card.action_id in self._decisions)
        decision = self._decisions[card.action_id]
        if decision.kind == "reject":
            return ToolReply(
                f"Rejected by the person: {decision.reason or 'no reason given'}. Nothing was remembered.",
                is_error=True,
            )
        final = json.loads(card.edited_arguments_json or card.arguments_json)
        text = str(final.get("text") or "")
        folder = final.get("folder") if final.get("scope") == "workspace" else None
        where = "for all missions" if not folder else f"for missions in {folder}"
        card.status, card.result = "executed", f"Remembered ({where}): {text}"
        self._event(
            "memory_approved",
            f"Remember: {text} ({where})",
            action_id=card.action_id,
            text=text,
            folder=folder,
            call_id=call.call_id,
        )
        self._event(
            "action_executed",
            f"Done: {card.preview.get('summary', card.title)}",
            action_id=card.action_id,
            backup=None,
            undoable=False,
        )
        return ToolReply(card.result)

    async def _delegate(self, setup: SetupReply, arguments: dict[str, Any]) -> ToolReply:
        """Runs a plan's tasks, in parallel where their dependencies allow, and returns each
        task's outcome as the embedded engine's ``delegate`` does."""
        try:
            plan = DelegateArgs.model_validate(arguments)
            check_plan(plan.tasks, list(setup.kinds))
        except ValidationError as exc:
            return ToolReply(_wrong_arguments("delegate", exc), is_error=True)
        except ToolError as exc:
            return ToolReply(str(exc), is_error=True)
        leads = [t.id for t in plan.tasks if t.agent not in setup.kinds]
        if leads:
            return ToolReply(
                f"Tasks {', '.join(leads)} go to a sub-lead, which this backend does not run yet. Give "
                f"each task to one of these agents: {', '.join(sorted(setup.kinds))}.",
                is_error=True,
            )
        finished = {t.id: asyncio.Event() for t in plan.tasks}
        outcomes: dict[str, dict[str, Any]] = {}

        async def run_one(spec: TaskSpec) -> None:
            try:
                for dep in spec.depends_on:
                    await finished[dep].wait()
                failed = [d for d in spec.depends_on if outcomes[d]["status"] != "done"]
                if failed:
                    reason = f"Not run: the tasks it depends on did not succeed ({', '.join(failed)})."
                    outcomes[spec.id] = {
                        "id": spec.id,
                        "agent": spec.agent,
                        "status": "skipped",
                        "reason": reason,
                    }
                    self._event("task_finished", f"Task {spec.id} was skipped: {reason}", task=spec.id)
                    return
                deps = [(d, outcomes[d]) for d in spec.depends_on]
                outcomes[spec.id] = await self._task(setup.kinds[spec.agent], spec, deps)
            finally:
                finished[spec.id].set()

        await asyncio.gather(*(run_one(spec) for spec in plan.tasks))
        return ToolReply(json.dumps({"tasks": [outcomes[t.id] for t in plan.tasks]}, ensure_ascii=False))

    async def _task(
        self, kind: AgentSpec, spec: TaskSpec, deps: list[tuple[str, dict[str, Any]]]
    ) -> dict[str, Any]:
        self._event(
            "task_started",
            f"Task {spec.id} started ({kind.name} agent)",
            task=spec.id,
            agent=kind.name,
            instructions=spec.instructions,
        )
        prompt = spec.instructions
        if deps:
            parts = [
                f"## Result of task {key} ({out['agent']} agent)\n{out.get('result')}" for key, out in deps
            ]
            prompt += "\n\n# Results of the tasks this one depends on\n\n" + "\n\n".join(parts)
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
        outcome: dict[str, Any] = {"id": spec.id, "agent": kind.name}
        try:
            result = await self._agent(
                kind, spec.id, messages, lambda use: self._sub_tool(kind, spec.id, use)
            )
        except _Limit as exc:
            outcome.update(status="failed", reason=str(exc))
        except ActivityError as exc:
            outcome.update(status="failed", reason=_cause(exc))
        except asyncio.CancelledError:
            self._event("task_finished", f"Task {spec.id} was stopped", task=spec.id, status="cancelled")
            raise
        else:
            outcome.update(status="done", result=result or "(The agent finished without a written result.)")
        words = {"done": "finished", "failed": "failed"}[outcome["status"]]
        reason = f": {outcome['reason']}" if "reason" in outcome else ""
        self._event("task_finished", f"Task {spec.id} {words}{reason}", task=spec.id, **outcome)
        return outcome

    async def _ask(self, arguments: dict[str, Any]) -> ToolReply:
        """Puts the lead's question to the person and waits for the ``answer`` update."""
        question = str(arguments.get("question") or "").strip()
        if not question:
            return ToolReply(
                "Wrong arguments for ask_user: question: the question is missing.", is_error=True
            )
        question_id = f"q-{workflow.uuid4().hex[:16]}"
        self._questions[question_id] = question
        self._event("question_asked", question, question_id=question_id)
        await workflow.wait_condition(lambda: question_id in self._answers)
        return ToolReply(json.dumps({"answer": self._answers[question_id]}, ensure_ascii=False))

    # A sub-agent's tools --------------------------------------------------------------------

    def _title(self, tool: str) -> str:
        return self._titles.get(tool) or tool_title(tool)

    def _call(self, kind: AgentSpec, use: dict[str, Any], arguments: dict[str, Any]) -> ToolRequest:
        mission = self.mission
        return ToolRequest(
            mission_id=mission.mission_id,
            agent=kind.name,
            tool=str(use["name"]),
            call_id=str(use["id"]),
            arguments=arguments,
            workspaces=mission.workspaces,
            options=mission.options,
            vouched=dataclasses.asdict(self._vouchers()),
        )

    async def _sub_tool(self, kind: AgentSpec, task: str, use: dict[str, Any]) -> ToolReply:
        name = str(use["name"])
        effect = kind.effects.get(name)
        if effect is None:
            return ToolReply(
                f"There is no tool named {name!r}. Available: {', '.join(kind.effects)}.", is_error=True
            )
        arguments = use.get("input") if isinstance(use.get("input"), dict) else {}
        call = self._call(kind, use, dict(arguments or {}))
        self._event(
            "tool_called",
            f"{_who(kind.name)}: {self._title(name)}",
            task=task,
            tool_call_id=call.call_id,
            tool=name,
            title=self._title(name),
            effect=effect,
            arguments=call.arguments,
        )
        reply: ToolReply
        try:
            if effect == "read":
                reply = await workflow.execute_activity(
                    "ensemble_run_read",
                    call,
                    result_type=ToolReply,
                    start_to_close_timeout=TOOL_TIMEOUT,
                    heartbeat_timeout=timedelta(seconds=self.mission.heartbeat_seconds),
                    retry_policy=TOOL_RETRY,
                )
            else:
                reply = await self._propose(kind, task, call, effect)
        except ActivityError as exc:
            reply = ToolReply(f"{self._title(name)} could not run: {_cause(exc)}", is_error=True)
        self._results.append((name, kind.name, reply.is_error, reply.text))
        summary = f"{self._title(name)}: " + (
            "failed: " + reply.text.splitlines()[0][:160] if reply.is_error else "done"
        )
        self._event(
            "tool_result",
            summary,
            task=task,
            tool_call_id=call.call_id,
            tool=name,
            is_error=reply.is_error,
            result=reply.text[:4000],
        )
        return reply

    async def _propose(self, kind: AgentSpec, task: str, call: ToolRequest, effect: str) -> ToolReply:
        """A side effect: rendered on a worker, screened here, decided by a rule or a person,
        then carried out once."""
        proposal: Proposal = await workflow.execute_activity(
            "ensemble_propose",
            call,
            result_type=Proposal,
            start_to_close_timeout=TOOL_TIMEOUT,
            heartbeat_timeout=timedelta(seconds=self.mission.heartbeat_seconds),
            retry_policy=TOOL_RETRY,
        )
        member = self._batch_of.get(call.call_id)
        try:
            if member is not None and member[1] > 0:
                await member[0].announced[member[1] - 1].wait()  # cards in the model's order
            return await self._decide_and_run(kind, task, call, effect, proposal, member)
        finally:
            if member is not None:
                member[0].announced[member[1]].set()
                member[0].finished[member[1]].set()

    async def _decide_and_run(
        self,
        kind: AgentSpec,
        task: str,
        call: ToolRequest,
        effect: str,
        proposal: Proposal,
        member: tuple[_Batch, int] | None,
    ) -> ToolReply:
        if proposal.error is not None:
            return ToolReply(proposal.error, is_error=True)
        card = Card(
            action_id=f"a-{workflow.uuid4().hex[:16]}",
            mission_id=self.mission.mission_id,
            task=task,
            agent=kind.name,
            tool=call.tool,
            title=self._title(call.tool),
            effect=effect,
            arguments_json=json.dumps(proposal.arguments, ensure_ascii=False),
            preview=proposal.preview,
        )
        new = self._screen(card, proposal)
        self._cards[card.action_id] = card
        self._announce(card, proposal.arguments, new, member)
        if member is not None:
            member[0].announced[member[1]].set()
        while True:
            decision = await self._decision(card)
            if decision.kind == "reject":
                who = "the person" if card.decided_by == "person" else f"a rule ({card.decided_by})"
                return ToolReply(
                    f"Rejected by {who}: {decision.reason or 'no reason given'}. {REJECTED}", is_error=True
                )
            if member is not None and member[1] > 0:
                await member[0].finished[member[1] - 1].wait()  # carried out in the model's order
            edited = decision.kind == "edit"
            final = json.loads(card.edited_arguments_json or card.arguments_json)
            self._vouch_approved(card, final)
            approved = dataclasses.replace(call, arguments=final)
            pre_state = ""
            if proposal.fingerprinted:
                pre_state = str(
                    await workflow.execute_activity(
                        "ensemble_fingerprint",
                        approved,
                        result_type=str,
                        start_to_close_timeout=TOOL_TIMEOUT,
                        heartbeat_timeout=timedelta(seconds=self.mission.heartbeat_seconds),
                        retry_policy=TOOL_RETRY,
                    )
                )
            card.status = "executing"
            outcome = await self._execute(ExecuteRequest(approved, card.action_id, pre_state, edited), card)
            if outcome.outcome != "unknown":
                break
            # A retry could not tell whether the effect happened: only the person may let it run again.
            self._event("action_outcome_unknown", f"{card.title}: {outcome.text}", action_id=card.action_id)
            card.status, card.ask_person, card.notice = "pending", True, outcome.text
            card.decision = card.decided_by = card.edited_arguments_json = card.reason = None
            self._decisions.pop(card.action_id, None)
            self._announce(card, proposal.arguments, [], None)
        return self._executed(card, outcome, final if edited else None)

    def _screen(self, card: Card, proposal: Proposal) -> list[dict[str, str]]:
        """Checks where the action's data would go; a destination nobody vouched for makes it
        the person's to decide (see :mod:`app.vouch`). Returns the new ones as event data."""
        destinations = [
            Destination(
                "address" if d["kind"] == "address" else "host", d["value"], d.get("role", "recipient")
            )
            for d in proposal.destinations
        ]
        if not destinations:
            return []
        new = [d for d in vouch.unvouched(self._vouchers(), destinations) if d.value not in proposal.known]
        if not new:
            return []
        seen = vouch.places_seen(self._results, new, self._title)
        card.ask_person, card.notice = True, vouch.notice(new, seen)
        self._new[card.action_id] = new
        return vouch.as_json(new, seen)

    def _vouchers(self) -> vouch.Vouchers:
        """What the person vouched for in the mission so far (see :mod:`app.vouch`)."""
        mission = self.mission
        return vouch.from_sources(
            VouchSources(
                text=mission.text,
                options_json=json.dumps(mission.options),
                messages=list(self._person),
                rules=[(r.kind, r.conditions_json, r.description) for r in mission.rules],
                vouched=list(self._vouched),
                memories=[(text, None) for text in mission.memories],
            ),
            mission.address_book,
        )

    def _announce(
        self,
        card: Card,
        arguments: dict[str, Any],
        new: list[dict[str, str]],
        member: tuple[_Batch, int] | None,
    ) -> None:
        batch = {} if member is None else {"batch": member[0].id, "batch_size": member[0].size}
        self._event(
            "action_proposed",
            f"{card.agent} proposes: {card.preview.get('summary', card.title)}",
            task=card.task,
            action_id=card.action_id,
            agent=card.agent,
            tool=card.tool,
            title=card.title,
            effect=card.effect,
            arguments=arguments,
            preview=card.preview,
            warning=card.notice,
            ask_person=card.ask_person,
            new_destinations=new,
            **batch,
        )

    async def _decision(self, card: Card) -> DecisionInput:
        """A rule's decision, or the person's (the ``decide`` update), on a card."""
        rule = rules.deciding_rule(self.mission.rules, card)
        if rule is not None and card.ask_person and rule.kind != "reject_all":
            rule = None  # only the person may let it happen; a rule may still refuse it
        if rule is not None:
            kind = "approve" if rule.kind == "approve_all" else "reject"
            decision = DecisionInput(
                card.action_id,
                kind,
                reason=f"rule: {rule.description}",
                by=f"rule:{rule.id} ({rule.description})",
            )
            self._record(card, decision)
            return decision
        card.status = "pending"
        await workflow.wait_condition(lambda: card.action_id in self._decisions)
        return self._decisions[card.action_id]

    async def _execute(self, request: ExecuteRequest, card: Card) -> ExecuteReply:
        """Carries out an approved action. Once started it runs to its end even if the mission
        is stopped meanwhile, so that what happened is known (and a local write undoable)."""
        handle = workflow.start_activity(
            "ensemble_execute",
            request,
            result_type=ExecuteReply,
            start_to_close_timeout=TOOL_TIMEOUT,
            heartbeat_timeout=timedelta(seconds=self.mission.heartbeat_seconds),
            retry_policy=EXECUTE_RETRY,
        )
        try:
            return await asyncio.shield(handle)
        except asyncio.CancelledError:
            outcome: ExecuteReply = await handle
            self._executed(card, outcome, None)
            raise

    def _executed(self, card: Card, outcome: ExecuteReply, edited: dict[str, Any] | None) -> ToolReply:
        """Records how an action ended; returns what the agent reads."""
        failed = outcome.outcome == "failed"
        card.status, card.result = ("failed" if failed else "executed"), outcome.text
        if outcome.preview is not None:
            card.preview = outcome.preview
        if outcome.check is not None:
            self._event(
                "write_checked",
                outcome.check.splitlines()[0][:160],
                action_id=card.action_id,
                check=outcome.check,
            )
        if failed:
            self._event(
                "action_failed",
                f"{card.title}: failed: {outcome.text.splitlines()[0][:160]}",
                action_id=card.action_id,
                error=outcome.text,
                backup=outcome.backup,
            )
            return ToolReply(outcome.text, is_error=True)
        if outcome.outcome == "already":
            self._event(
                "action_confirmed",
                f"Found that \u201c{card.title}\u201d had already happened",
                action_id=card.action_id,
            )
        summary = card.preview.get("summary", card.title)
        self._event(
            "action_executed",
            f"Done: {summary}",
            action_id=card.action_id,
            backup=outcome.backup,
            undoable=outcome.backup is not None,
        )
        if edited is not None:
            return ToolReply(
                "The person edited the arguments before approving; what ran was "
                f"{json.dumps(edited, ensure_ascii=False)}. Result: {outcome.text}"
            )
        return ToolReply(outcome.text)

    def _vouch_approved(self, card: Card, final: dict[str, Any]) -> None:
        """The new destinations a person approved are vouched for, for the rest of the mission."""
        new = self._new.pop(card.action_id, [])
        if not new or card.decided_by != "person":
            return
        if card.decision == "edit":
            written = json.dumps(final, ensure_ascii=False).lower()
            new = [d for d in new if d.value in written]
        if new:
            self._vouched += [(d.kind, d.value, "you approved it earlier in this mission") for d in new]
            self._event(
                "destination_vouched",
                "Allowed for this mission: " + ", ".join(d.value for d in new),
                action_id=card.action_id,
                destinations=[{"kind": d.kind, "value": d.value} for d in new],
            )

    def _stop_cards(self) -> None:
        for card in self._cards.values():
            if card.status == "pending" and card.action_id not in self._decisions:
                self._record(card, DecisionInput(card.action_id, "reject", reason="stopped by the person"))

    # Decisions, answers and what clients read --------------------------------------------------

    def _record(self, card: Card, decision: DecisionInput) -> None:
        card.status = "rejected" if decision.kind == "reject" else "approved"
        card.decision, card.decided_by, card.reason = decision.kind, decision.by, decision.reason
        if decision.kind == "edit":
            card.edited_arguments_json = json.dumps(
                {**json.loads(card.arguments_json), **(decision.arguments or {})}, ensure_ascii=False
            )
        self._decisions[card.action_id] = decision
        verb = {"approve": "approved", "edit": "approved with edits", "reject": "rejected"}[decision.kind]
        by = (
            "you"
            if decision.by == "person"
            else f"the rule \u201c{decision.by.split('(', 1)[-1].rstrip(')')}\u201d"
        )
        why = f": {decision.reason}" if decision.reason and decision.kind == "reject" else ""
        self._event(
            "action_decided",
            f"{card.title}: {verb} by {by}{why}",
            action_id=card.action_id,
            decision=decision.kind,
            decided_by=decision.by,
            reason=decision.reason,
            edited_arguments=decision.arguments,
        )

    @workflow.update
    def decide(self, decision: DecisionInput) -> Card:
        """A person's decision on a waiting card (approve, edit or reject).

        Args:
            decision: The decision.

        Returns:
            The card as now decided.
        """
        card = self._cards[decision.action_id]
        self._record(card, decision)
        return card

    @decide.validator
    def _valid_decision(self, decision: DecisionInput) -> None:
        """Refuses, before it enters the history, a decision that cannot be taken."""
        card = self._cards.get(decision.action_id)
        if card is None or card.status != "pending" or decision.action_id in self._decisions:
            raise ValueError(f"Action {decision.action_id} is not waiting for a decision.")
        if decision.kind not in ("approve", "edit", "reject"):
            raise ValueError(f"A decision is approve, edit or reject, not {decision.kind!r}.")
        if decision.kind == "edit":
            if not decision.arguments:
                raise ValueError("An edit needs the edited arguments.")
            tool = find_tool(card.tool)
            if tool is not None:
                try:
                    tool.parse({**json.loads(card.arguments_json), **decision.arguments})
                except ToolError as exc:
                    raise ValueError(str(exc)) from None

    @workflow.update
    def add_rule(self, rule: RuleData) -> int:
        """A rule the person added while the mission runs: it decides the cards waiting for it
        now, and those to come, as the gate's ``apply_rule`` does (never a card only the person
        may approve, unless it refuses it; never a ``remember`` card).

        Args:
            rule: The rule; one limited to a mission is limited to this one.

        Returns:
            How many waiting cards it decided.
        """
        mission = self.mission
        if rule.mission_id is not None:
            rule = dataclasses.replace(rule, mission_id=mission.mission_id)
            mission.rules.insert(0, rule)  # the mission's own rules come first
        else:
            mission.rules.append(rule)
        decided = 0
        for card in list(self._cards.values()):
            if card.status != "pending" or card.action_id in self._decisions or card.tool == "remember":
                continue
            if rules.deciding_rule([rule], card) is None or (card.ask_person and rule.kind != "reject_all"):
                continue
            kind = "approve" if rule.kind == "approve_all" else "reject"
            by = f"rule:{rule.id} ({rule.description})"
            self._record(card, DecisionInput(card.action_id, kind, reason=f"rule: {rule.description}", by=by))
            decided += 1
        return decided

    @workflow.update
    def answer(self, answer: AnswerInput) -> None:
        """The person's answer to the lead's question (it vouches, like their messages)."""
        self._answers[answer.question_id] = answer.text
        self._person.append(("answer", answer.text))
        self._event("chat_message", answer.text, role="user", question_id=answer.question_id)

    @answer.validator
    def _valid_answer(self, answer: AnswerInput) -> None:
        if answer.question_id not in self._questions or answer.question_id in self._answers:
            raise ValueError(f"Question {answer.question_id} is not waiting for an answer.")

    @workflow.update
    def message(self, chat: ChatInput) -> None:
        """A message the person wrote in the mission's chat: the lead reads it on its next turn,
        and the addresses and sites it names are vouched for."""
        self._inbox.append(chat.text)
        self._person.append(("message", chat.text))
        self._event("chat_message", chat.text, role="user")

    @message.validator
    def _valid_message(self, chat: ChatInput) -> None:
        if not chat.text.strip():
            raise ValueError("The message is empty.")
        if self._status != "running":
            raise ValueError("The mission has ended; start a new one.")

    @workflow.query
    def events(self, after: int) -> list[MissionEvent]:
        """The mission's events after the first ``after`` (0 for all), oldest first."""
        return self._events[after:]

    @workflow.query
    def pending(self) -> list[Card]:
        """The cards waiting for a person, oldest first."""
        return [
            c for c in self._cards.values() if c.status == "pending" and c.action_id not in self._decisions
        ]

    @workflow.query
    def cards(self) -> list[Card]:
        """Every card of the mission, decided or not, oldest first."""
        return list(self._cards.values())

    @workflow.query
    def questions(self) -> dict[str, str]:
        """The lead's questions still waiting for an answer, by id."""
        return {k: q for k, q in self._questions.items() if k not in self._answers}

    @workflow.query
    def status(self) -> str:
        """``running``, ``done``, ``failed`` or ``cancelled``."""
        return self._status

    def _event(self, kind: str, summary: str, **data: Any) -> None:
        self._events.append(
            MissionEvent(
                seq=len(self._events) + 1,
                kind=kind,
                summary=summary,
                at=workflow.now().isoformat(),
                data=data,
            )
        )


def _endpoint_url(options: dict[str, Any]) -> str | None:
    """The model endpoint a mission names (the demo's scripted model), or None."""
    endpoint = options.get("endpoint")
    url = endpoint.get("base_url") if isinstance(endpoint, dict) else None
    return url if isinstance(url, str) and url else None


def _runs_of_one_tool(uses: list[dict[str, Any]], effects: dict[str, str]) -> list[list[dict[str, Any]]]:
    """A turn's tool calls in order, consecutive proposals of one side-effect tool together (a
    batch, as the embedded engine's ``TurnOrder`` groups them), every other call alone."""
    runs: list[list[dict[str, Any]]] = []
    for use in uses:
        name = str(use.get("name"))
        last = runs[-1] if runs else None
        if (
            last is not None
            and effects.get(name) in ("local", "external")
            and str(last[0].get("name")) == name
        ):
            last.append(use)
        else:
            runs.append([use])
    return runs
