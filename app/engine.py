"""The engine: the one entry point the command line and the window drive.

An :class:`Engine` lives on one asyncio loop. It starts missions, hands out their events
(through :meth:`Engine.subscribe`), takes the person's decisions on proposed actions and
answers to questions, stops missions, and undoes local writes. A client on another thread
(the window) calls its coroutines with ``asyncio.run_coroutine_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from app import accounts, rules
from app.agents import find_tool, registry
from app.api.events import AnyEvent, typed
from app.api.models import ActionInfo, MemoryItem, MissionInfo, RollbackPlan, RollbackReport, RuleInfo
from app.api.spec import MissionSpec
from app.api.workflows import WorkflowSpec
from app.errors import EngineError, EnsembleError
from app.gate import ApprovalGate, Decision, GateError
from app.journal import (
    ChatMessage,
    Event,
    Journal,
    Listener,
    Mission,
    ProposedAction,
    Rule,
    new_id,
    utcnow,
)
from app.model import ModelClient, ModelError
from app.model import load_sdk as load_sdk  # for the window: it warms the SDK up once the engine is up
from app.orchestrator import LimitReached, MissionPaused, MissionRuntime, add_user_text, run_lead
from app.paths import Paths
from app.pricing import estimate_cost
from app.settings import Settings
from connectors.base import Backup, ToolContext, ToolError, clean_leftovers, restore
from connectors.registry import action_title

if TYPE_CHECKING:
    from collections.abc import Sequence

    from app.api.attention import DecisionSummary
    from app.api.spec import ApprovalPolicy
    from app.api.workflows import (
        ProposedParam,
        RunReason,
        Schedule,
        Trigger,
        WorkflowInfo,
        WorkflowRunInfo,
    )
    from app.demo import Demo
    from app.workflows._runs import Workflows
    from app.workflows.clock import Clock
    from app.workflows.service import Schedules

log = logging.getLogger(__name__)

ApproveMode = Literal["ask", "all", "none"]
RuleKind = Literal["approve_all", "reject_all"]
"""How a mission's proposed actions are decided: by the person, or by a rule for all of them."""

RESUMES_ON_START = "It resumes when you open Ensemble again."
"""The end of the error of a mission :meth:`Engine.pause_all` paused: the window resumes those
missions when it starts (:meth:`Engine.resume_paused`); a crash's are left to the person."""


@dataclass(frozen=True)
class MissionOutcome:
    """How a mission ended.

    Attributes:
        mission_id: Its id.
        status: ``done``, ``failed``, ``cancelled`` or ``interrupted``.
        result: The lead's final answer, or the reason it failed.
    """

    mission_id: str
    status: str
    result: str | None

    def to_json(self) -> dict[str, str | None]:
        """``{"mission_id", "status", "result"}``."""
        return {"mission_id": self.mission_id, "status": self.status, "result": self.result}


class _Ending(Protocol):
    """How a mission on Temporal ended (:class:`app.temporal.remote.Ending`)."""

    status: str
    result: str | None
    error: str | None
    tokens: int


class _Remote(Protocol):
    """What the engine uses of :class:`app.temporal.remote.RemoteMissions` (loaded by name, so
    that neither the window nor the engine imports the Temporal SDK unless it is chosen)."""

    def follows(self, mission_id: str) -> bool: ...
    async def keep_schedules(
        self, workflows: Sequence[WorkflowSpec], settings: Settings, journal: Journal
    ) -> list[tuple[str, str]]: ...
    def busy(self) -> bool: ...
    def followed(self) -> list[str]: ...
    async def add_rule(self, mission_id: str, rule: Any) -> None: ...
    def open_question(self, mission_id: str) -> bool: ...
    def stopping(self, mission_id: str) -> None: ...
    async def cancel(self, mission_id: str) -> None: ...
    async def run(
        self,
        mission: Mission,
        settings: Settings,
        *,
        folders: Sequence[Path],
        options: dict[str, Any],
        memories: Sequence[str],
    ) -> _Ending: ...
    async def decide(
        self,
        mission_id: str,
        action_id: str,
        kind: str,
        *,
        arguments: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> None: ...
    async def answer(self, mission_id: str, text: str) -> None: ...
    async def message(self, mission_id: str, text: str) -> None: ...


class Engine:
    """Runs missions on the current asyncio loop.

    Args:
        paths: Where the journal, backups and settings live; the default is
            :meth:`Paths.default` (``ENSEMBLE_HOME`` or the platform's folders).
        settings: The settings; by default read from ``paths.settings``.
    """

    def __init__(self, paths: Paths | None = None, settings: Settings | None = None) -> None:
        self.paths = paths or Paths.default()
        self.paths.ensure()
        self.settings = settings or Settings.load(self.paths.settings)
        self.journal = Journal(self.paths.journal)
        self.gate = ApprovalGate(self.journal, lambda: self.settings.address_book)
        self._same_approvals: dict[tuple[str, str, str], int] = {}
        """The person's identical approvals per (mission, tool, file), to offer a rule."""
        self._clean_after_crash()
        self._running: dict[str, asyncio.Task[MissionOutcome]] = {}
        self._questions: dict[str, asyncio.Future[str]] = {}
        self._options: dict[str, dict[str, Any]] = {}
        self._inbox: dict[str, list[str]] = {}
        self._live: dict[str, Mission] = {}
        self._services: dict[str, Service] = {}
        self._runtimes: dict[str, MissionRuntime] = {}  # running missions, for pause_all
        self._pause_reasons: dict[str, str] = {}  # missions pause_all is pausing, and why
        self._workflow_ops: Workflows | None = None  # see _workflows
        self._schedules: Schedules | None = None  # the workflows' schedules, when this process runs them
        self._decision_taker: asyncio.Task[None] | None = None  # see take_requested_decisions
        self._cluster_schedules: asyncio.Task[None] | None = None  # see _keep_cluster_schedules
        self._schedules_changed: asyncio.Event | None = None
        self._remote: _Remote | None = None  # the Temporal backend's follower, see _remote_missions

    def _clean_after_crash(self) -> None:
        """Removes what writes killed half-way left behind, for missions whose process died.

        Temporary files beside the workspace's files (not while another process writes), and
        backups that no carried-out action refers to (a write killed before its replace).
        """
        for mission_id in self.journal.interrupt_running():
            mission = self.journal.mission(mission_id)
            if mission is None:
                continue
            for folder in json.loads(mission.workspaces_json or "[]"):
                if Path(folder).is_dir():
                    for removed in clean_leftovers(Path(folder)):
                        log.info("Removed %s, left by a write that was cut off", removed)
            backups = self.paths.backups / mission_id
            if not backups.is_dir():
                continue
            actions = self.journal.actions(mission_id)
            if any(a.status == "executing" for a in actions):
                # A write whose outcome is not known yet may need its backup to be undone.
                continue
            kept = {str(json.loads(a.backup_json).get("backup_path")) for a in actions if a.backup_json}
            for stray in backups.iterdir():
                if stray.is_file() and str(stray) not in kept:
                    stray.unlink(missing_ok=True)
                    log.info("Removed the backup %s, which no action refers to", stray)

    def subscribe(self, listener: Listener) -> None:
        """Calls ``listener`` on the engine's thread with every event from now on."""
        self.journal.subscribe(listener)

    def subscribe_events(self, listener: Callable[[AnyEvent], object]) -> None:
        """Calls ``listener`` on the engine's thread with every event from now on, typed (one
        :mod:`app.api.events` class per kind): what the window and the command line watch."""

        def deliver(event: Event) -> None:
            listener(
                typed(
                    event.kind,
                    event.mission_id,
                    event.data,
                    task_id=event.task_id,
                    summary=event.summary,
                    at=event.at,
                    audit_id=event.audit_id,
                )
            )

        self.journal.subscribe(deliver)

    @property
    def recovery_note(self) -> str | None:
        """The sentence that tells the person a damaged journal was moved aside, or None."""
        if self.journal.recovered is None:
            return None
        return (
            f"The journal {self.journal.path} was damaged and could not be read. It was moved to "
            f"{self.journal.recovered} (nothing was deleted) and a new, empty journal was started."
        )

    # Missions ---------------------------------------------------------------------------

    def start_mission(
        self,
        text: str,
        *,
        workspaces: list[Path] | None = None,
        approve: ApproveMode = "ask",
        options: dict[str, Any] | None = None,
    ) -> str:
        """Starts a mission in the background; call on the engine's loop.

        Args:
            text: What the person asked for.
            workspaces: Folders the agents may touch; by default the settings' folders.
            approve: ``ask`` the person for every proposed action, or decide them ``all``
                approved or ``none`` approved by a rule for this mission.
            options: Per-connector settings for this mission, by connector name (e.g.
                ``{"email": {"account": "work"}}``); tools find them in ``ToolContext.extra``.

        Returns:
            The mission's id. Its events follow; :meth:`wait` gives its outcome.

        Raises:
            EngineError: The mission text is empty or a workspace folder does not exist.
        """
        return self._start_mission(text, workspaces=workspaces, approve=approve, options=options)

    def _start_mission(
        self,
        text: str,
        *,
        workspaces: list[Path] | None = None,
        approve: ApproveMode = "ask",
        options: dict[str, Any] | None = None,
        begin: Begin | None = None,
        mission_id: str | None = None,
    ) -> str:
        """:meth:`start_mission`, and ``begin``: called with the mission right after its
        ``mission_started`` event, it gives the lead's first messages (a workflow's run)."""
        if not text.strip():
            raise EngineError("The mission is empty: say what you want done.")
        folders = [Path(w).expanduser().resolve() for w in (workspaces or self.settings.workspaces)]
        for folder in folders:
            if not folder.is_dir():
                raise EngineError(f"The workspace folder {folder} does not exist.")
        options = dict(options or {})
        for name, kind_options in self.settings.mission_options({}).items():
            options.setdefault(name, kind_options)
        # Each kind's default account (or its only one); passwords stay in the keyring.
        accounts.fill_mission_options(options, self.settings)
        if self.settings.backend == "temporal":
            self._remote_missions()  # says now, in words, when the backend is not installed here
            options["backend"] = "temporal"
            cluster = self.settings.temporal
            options["cluster"] = {"address": cluster.address, "namespace": cluster.namespace}
        mission = Mission(
            id=mission_id or new_id("m"),
            title=_title(text),
            text=text,
            workspaces_json=json.dumps([str(f) for f in folders]),
            options_json=json.dumps(options or {}),
            owner_pid=os.getpid(),
        )
        self.journal.add(mission)  # first: the chat message refers to it
        self.journal.add(ChatMessage(mission_id=mission.id, role="user", text=text))
        self.journal.audit(
            mission.id,
            "mission_started",
            f"Mission started: {mission.title}",
            text=text,
            workspaces=[str(f) for f in folders],
            approve=approve,
            model=_endpoint(options).get("model") or str(options.get("model") or self.settings.model),
            label=options.get("label"),
            demo=options.get("label") == "demo",
            on_cluster=options.get("backend") == "temporal",
        )
        messages: list[dict[str, Any]] = [{"role": "user", "content": text}]
        if begin is not None:
            try:
                messages = begin(mission)
            except Exception as exc:
                # Whatever a workflow's run raised while it began (its run already recorded, a
                # plan it could not lay out): the mission's row must not stay "running" for it.
                # Recorded here, then raised again unchanged for the caller to handle.
                error = str(exc) or "It could not start."
                self.journal.update(mission, status="failed", error=error, finished_at=utcnow())
                raise
        if approve != "ask":
            kind: RuleKind = "approve_all" if approve == "all" else "reject_all"
            words = "Approve" if approve == "all" else "Reject"
            description = f"{words} every action in this mission"
            self.add_rule(kind, mission_id=mission.id, tool=None, description=description)
        self._options[mission.id] = options or {}
        self._launch(mission, folders, messages)
        return mission.id

    def start(self, spec: MissionSpec) -> str:
        """Starts a mission from its spec; call on the engine's loop.

        The spec is kept with the mission (:meth:`spec_of`), so it can be saved and run again.

        Args:
            spec: The mission: instruction, folders, account, sites, approval policy, rules,
                model and budget.

        Returns:
            The mission's id. Its events follow; :meth:`wait` gives its outcome.

        Raises:
            EngineError: The instruction is empty or a workspace folder does not exist.
            app.accounts.AccountError: The named account does not exist.
        """
        return self._start_run(spec, None)

    def _start_run(self, spec: MissionSpec, begin: Begin | None, *, mission_id: str | None = None) -> str:
        """:meth:`start`, with ``begin`` as for :meth:`_start_mission` (a workflow's run), and
        the mission's id when it has one already (a run the Temporal cluster started)."""
        options = dict(spec.options)
        for name, kind_options in self.settings.mission_options(spec.model_dump(mode="json")).items():
            options.setdefault(name, kind_options)
        accounts.fill_mission_options(options, self.settings, spec.account)
        if spec.model:
            options["model"] = spec.model
        if spec.token_budget:
            options["token_budget"] = spec.token_budget
        options["spec"] = spec.model_dump(mode="json", exclude_defaults=True)
        mission_id = self._start_mission(
            spec.instruction,
            workspaces=[Path(w) for w in spec.workspaces] or None,
            approve=spec.approval,
            options=options,
            begin=begin,
            mission_id=mission_id,
        )
        for rule in spec.rules:
            self.add_rule(rule.kind, mission_id=mission_id, tool=rule.tool, where=dict(rule.where))
        return mission_id

    def spec_of(self, mission_id: str) -> MissionSpec | None:
        """The spec a mission was started from, to run it again; None for one started otherwise.

        Raises:
            EngineError: There is no such mission.
        """
        mission = self.journal.mission(mission_id)
        if mission is None:
            raise EngineError(f"There is no mission {mission_id}.")
        saved = json.loads(mission.options_json or "{}").get("spec")
        return MissionSpec.model_validate(saved) if isinstance(saved, dict) else None

    def start_demo(self, *, approve: ApproveMode = "ask") -> str:
        """Starts the demo mission (see :func:`app.demo.start_demo`); call on the engine's loop.

        Raises:
            EngineError: The demo is already running, here or in another process.
        """
        from app.demo import start_demo

        return start_demo(self, approve=approve)

    @property
    def demo(self) -> Demo | None:
        """The demo's servers and workspace, once :meth:`start_demo` has run."""
        from app.demo import Demo

        service = self._services.get("demo")
        return service if isinstance(service, Demo) else None

    def attach(self, name: str, service: Service) -> None:
        """Keeps a service (servers a mission needs) until the engine closes, which stops it."""
        self._services[name] = service

    def service(self, name: str) -> Service | None:
        """A service attached with :meth:`attach`, or None."""
        return self._services.get(name)

    def is_running(self, mission_id: str) -> bool:
        """Whether a mission runs in this process now."""
        return mission_id in self._running

    def _launch(self, mission: Mission, folders: list[Path], messages: list[dict[str, Any]]) -> None:
        options = self._options.get(mission.id, {})
        run = (
            self._run_remote(mission, folders, options)
            if options.get("backend") == "temporal"
            else self._run(mission, folders, messages, options)
        )
        task = asyncio.get_running_loop().create_task(run, name=f"mission {mission.id}")
        self._running[mission.id] = task
        task.add_done_callback(lambda _t: self._running.pop(mission.id, None))

    def interrupted(self) -> list[Mission]:
        """Missions a crash or a kill left unfinished (marked ``interrupted``), newest first."""
        self.journal.interrupt_running()
        return [m for m in self.journal.missions() if m.status == "interrupted"]

    def resume(self, mission_id: str, *, approve: ApproveMode = "ask") -> str:
        """Continues an interrupted mission from its journal; call on the engine's loop.

        Nothing that finished runs again: tool calls with a result give that result, tasks
        that finished keep their results, proposals still waiting are shown again, and an
        action that had started without a recorded outcome is checked (or the person asked)
        before anything is retried.

        Args:
            mission_id: The mission (a unique prefix is enough).
            approve: As for :meth:`start_mission`, for what is still to be decided.

        Returns:
            The mission's id.

        Raises:
            EngineError: No such mission, it is not interrupted, or it is a demo mission whose
                demo stopped with the app that ran it.
        """
        self.journal.interrupt_running()
        mission = self.journal.mission(mission_id)
        if mission is None:
            raise EngineError(f"There is no mission {mission_id}.")
        if mission.status != "interrupted":
            raise EngineError(
                f"Mission {mission.id} is {mission.status}, not interrupted: nothing to resume."
            )
        options = json.loads(mission.options_json)
        endpoint = _endpoint(options)
        if endpoint.get("ephemeral") and not any(
            getattr(s, "endpoint_url", None) == endpoint.get("base_url") for s in self._services.values()
        ):
            # The model it talked to lived and died with the process that ran it.
            raise EngineError(
                str(endpoint.get("when_gone") or "This mission's model endpoint is gone; it cannot resume.")
            )
        folders = [Path(w) for w in json.loads(mission.workspaces_json)]
        for folder in folders:
            if not folder.is_dir():
                raise EngineError(f"The workspace folder {folder} of this mission no longer exists.")
        if approve != "ask":
            kind: RuleKind = "approve_all" if approve == "all" else "reject_all"
            words = "Approve" if approve == "all" else "Reject"
            self.add_rule(
                kind, mission_id=mission.id, tool=None, description=f"{words} every action from now on"
            )
        messages: list[dict[str, Any]] = self.journal.conversation(mission.id) or [
            {"role": "user", "content": mission.text}
        ]
        self._options[mission.id] = options
        self.journal.update(mission, status="running", finished_at=None, owner_pid=os.getpid())
        self.journal.audit(mission.id, "mission_resumed", "Mission resumed after an interruption")
        self._launch(mission, folders, messages)
        return mission.id

    def send_message(self, mission_id: str, text: str) -> None:
        """Takes a chat message from the person; call on the engine's loop.

        If the lead asked a question, this is the answer. If the mission is running, the lead
        reads the message at its next turn. If the mission has ended, the mission continues
        from where its conversation stopped.

        Raises:
            EngineError: The message is empty or the mission does not exist.
        """
        if not text.strip():
            raise EngineError("The message is empty.")
        if mission_id in self._questions or self.waiting_question(mission_id):
            self.answer(mission_id, text)
            return
        mission = self._live.get(mission_id) or self.journal.mission(mission_id)
        if mission is None:
            raise EngineError(f"There is no mission {mission_id}.")
        self.journal.add(ChatMessage(mission_id=mission.id, role="user", text=text))
        self.journal.audit(mission.id, "chat_message", text, role="user")
        if mission.id in self._running and self._is_remote(mission.id):
            task = asyncio.get_running_loop().create_task(self._remote_missions().message(mission.id, text))
            task.add_done_callback(_log_unsent)
            return
        if mission.id in self._running:
            self._inbox.setdefault(mission.id, []).append(text)
            return
        messages: list[dict[str, Any]] = self.journal.conversation(mission.id)
        add_user_text(messages, [text])
        folders = [Path(w) for w in json.loads(mission.workspaces_json)]
        self.journal.update(mission, status="running", finished_at=None, error=None, owner_pid=os.getpid())
        self.journal.audit(mission.id, "mission_continued", "Mission continued with a new message", text=text)
        self._launch(mission, folders, messages)

    def add_rule(
        self,
        kind: RuleKind,
        *,
        mission_id: str | None,
        tool: str | None,
        where: dict[str, str] | None = None,
        description: str | None = None,
    ) -> Rule:
        """Adds a standing decision, and applies it at once to the actions waiting for it.

        Args:
            kind: ``approve_all`` (allow) or ``reject_all`` (deny).
            mission_id: The mission it is limited to, or None for every mission.
            tool: The tool (or effect kind, e.g. ``browser_request``) it is limited to, or None.
            where: Argument name → shell-style pattern (``{"to": "*@example.com"}``); all must
                match.
            description: What the person reads; by default a sentence made from the rest.

        Returns:
            The rule.

        Raises:
            EngineError: The mission does not exist.
        """
        if mission_id is not None and self.journal.mission(mission_id) is None:
            raise EngineError(f"There is no mission {mission_id}.")
        where = where or {}
        text = description or rules.describe(kind, tool, where, mission_id)
        rule = Rule(
            id=new_id("r"),
            kind=kind,
            mission_id=mission_id,
            tool=tool,
            conditions_json=json.dumps(where),
            description=text,
        )
        self.journal.add(rule)
        if mission_id is not None:
            self.journal.audit(
                mission_id, "rule_added", f"Rule: {text}", rule_id=rule.id, rule_kind=kind, tool=tool
            )
        self.gate.apply_rule(rule)
        self._send_rule(rule)
        return rule

    def _send_rule(self, rule: Rule) -> None:
        """Hands a new rule to the running missions on Temporal it applies to (their workflows
        hold the rules they decide by)."""
        remote = self._remote
        if remote is None:
            return
        targets = [rule.mission_id] if rule.mission_id is not None else remote.followed()
        for mission_id in targets:
            if not remote.follows(mission_id):
                continue
            task = asyncio.get_running_loop().create_task(remote.add_rule(mission_id, rule))
            task.add_done_callback(_log_unsent)

    def remove_rule(self, rule_id: str) -> Rule:
        """Deactivates a rule (it stays in the journal, for the audit of what it decided).

        Raises:
            EngineError: No active rule has that id.
        """
        rule = next((r for r in self.journal.all_rules() if r.id == rule_id), None)
        if rule is None:
            raise EngineError(f"There is no rule {rule_id}.")
        self.journal.update(rule, active=False)
        return rule

    def pending_actions(self) -> list[ProposedAction]:
        """Every proposed action waiting for the person, oldest first, across missions (those
        of missions this engine follows on Temporal too)."""
        found = self.gate.pending_actions()
        if self.settings.backend == "temporal" or self._remote is not None:
            # Cards of missions on the cluster that an Ensemble of this journal follows (this
            # one, or the window while the command line asks).
            for action in self.journal.actions(status="pending"):
                mission = self.journal.mission(action.mission_id)
                if mission is not None and mission.status == "running" and self._is_remote(mission.id):
                    found.append(action)
            found.sort(key=lambda a: a.created_at)
        return found

    # Read models for clients (safe from any thread: the journal locks) -------------------

    def list_missions(
        self, *, limit: int = 200, offset: int = 0, search: str | None = None, archived: bool | None = False
    ) -> list[MissionInfo]:
        """Missions, newest first, a page at a time, with their cost.

        Args:
            limit: The most missions to return.
            offset: How many to skip (the page's start).
            search: Only missions whose title or text contains this (any case).
            archived: False leaves the archived missions out, True gives them alone, None
                gives both. Deleted missions are never listed.
        """
        rows = self.journal.missions(limit=limit, offset=offset, search=search, archived=archived)
        return [self._mission_info(row) for row in rows]

    def mission_info(self, mission_id: str) -> MissionInfo | None:
        """One mission (a unique prefix of its id is enough), with its cost; None if unknown."""
        row = self.journal.mission(mission_id)
        return None if row is None else self._mission_info(row)

    def _mission_info(self, row: Mission) -> MissionInfo:
        cost: float | None = None
        model = ""
        for call in self.journal.model_calls(row.id):
            model = call.model
            part = estimate_cost(
                call.model,
                call.input_tokens,
                call.output_tokens,
                call.cache_read_tokens,
                call.cache_write_tokens,
            )
            if part is not None:
                cost = (cost or 0.0) + part
        return MissionInfo.of(row, cost=cost, model=model)

    def mission_events(self, mission_id: str) -> list[AnyEvent]:
        """A mission's audit, in order, as typed events."""
        return [
            typed(
                e.kind,
                e.mission_id,
                e.data,
                task_id=e.task_id,
                summary=e.summary,
                at=e.at if e.at.tzinfo else e.at.replace(tzinfo=UTC),
                audit_id=e.id,
            )
            for e in self.journal.events(mission_id)
        ]

    def list_actions(self, mission_id: str | None = None, status: str | None = None) -> list[ActionInfo]:
        """Proposed actions, oldest first, optionally of one mission or one status."""
        return [ActionInfo.of(row) for row in self.journal.actions(mission_id, status)]

    def action_info(self, action_id: str) -> ActionInfo | None:
        """One proposed action (a unique prefix of its id is enough), or None if unknown."""
        row = self.journal.action(action_id)
        return None if row is None else ActionInfo.of(row)

    def waiting(self) -> list[ActionInfo]:
        """The actions waiting for the person right now, oldest first, across missions."""
        return [ActionInfo.of(row) for row in self.pending_actions()]

    def list_rules(self) -> list[RuleInfo]:
        """Every active rule, oldest first."""
        return [RuleInfo.of(row) for row in self.journal.all_rules()]

    # The person's memory (app.memory) ---------------------------------------------------

    def list_memory(self, workspace: str | Path | None = None) -> list[MemoryItem]:
        """The memory, the most recently changed first.

        Args:
            workspace: None for every item; else the items a mission in this folder reads
                (every mission's, this folder's and its parent folders'), its own first.
        """
        from app import memory

        if workspace is None:
            rows = self.journal.memories(limit=memory.MAX_ITEMS)
        else:
            rows = memory.applying(self.journal, [workspace])
        return [MemoryItem.of(row) for row in rows]

    def add_memory(self, text: str, workspace: str | Path | None = None) -> MemoryItem:
        """Keeps a fact or preference for the lead's later missions.

        Args:
            text: The item, in the person's words.
            workspace: The folder whose missions it is for; None for every mission.

        Raises:
            MemoryRefused: Empty, too long, a secret, or the memory is full.
        """
        from app import memory

        return MemoryItem.of(memory.add(self.journal, text, workspace))

    def edit_memory(self, memory_id: str, text: str) -> MemoryItem:
        """Changes an item's text (a unique prefix of its id is enough).

        Raises:
            MemoryRefused: No such item, or the new text cannot be kept.
        """
        from app import memory

        return MemoryItem.of(memory.edit(self.journal, memory_id, text))

    def remove_memory(self, memory_id: str) -> MemoryItem:
        """Removes an item (a unique prefix of its id is enough); returns it as it was.

        Raises:
            MemoryRefused: There is no such item.
        """
        from app import memory

        return MemoryItem.of(memory.remove(self.journal, memory_id))

    def update_settings(self, settings: Settings) -> None:
        """Replaces the settings and saves them (new missions use them; running ones keep theirs)."""
        settings.save(self.paths.settings)
        if (
            self._remote is not None
            and settings.temporal != self.settings.temporal
            and not self._remote.busy()
        ):
            self._remote = None  # the next mission on Temporal connects to the cluster now named
        self.settings = settings

    async def wait(self, mission_id: str) -> MissionOutcome:
        """Waits for a running mission to end, or reports how a past one ended."""
        task = self._running.get(mission_id)
        if task is not None:
            return await asyncio.shield(task)
        mission = self.journal.mission(mission_id)
        if mission is None:
            raise EngineError(f"There is no mission {mission_id}.")
        return MissionOutcome(mission.id, mission.status, mission.result or mission.error)

    async def run_mission(
        self,
        text: str,
        *,
        workspaces: list[Path] | None = None,
        approve: ApproveMode = "ask",
        options: dict[str, Any] | None = None,
    ) -> MissionOutcome:
        """Starts a mission and waits for it to end (see :meth:`start_mission`)."""
        return await self.wait(
            self.start_mission(text, workspaces=workspaces, approve=approve, options=options)
        )

    async def _run(
        self, mission: Mission, folders: list[Path], messages: list[dict[str, Any]], options: dict[str, Any]
    ) -> MissionOutcome:
        status, result, error = "failed", None, None
        model: ModelClient | None = None
        self._live[mission.id] = mission
        try:
            # A mission may name its own model endpoint (the demo's scripted model does); the
            # others use the settings' model and the API.
            settings = self.settings
            if isinstance(options.get("token_budget"), int):
                settings = settings.model_copy(update={"token_budget": options["token_budget"]})
            model = self._model_client(options)
            rt = MissionRuntime(
                mission=mission,
                journal=self.journal,
                gate=self.gate,
                model=model,
                settings=settings,
                ctx=ToolContext(
                    workspaces=folders,
                    backup_dir=self.paths.backups / mission.id,
                    mission_id=mission.id,
                    extra=options,
                ),
                ask_user=lambda question: self._ask(mission.id, question),
                inbox=self._inbox.setdefault(mission.id, []),
            )
            self._runtimes[mission.id] = rt
            if mission.id in self._pause_reasons:  # paused before it got this far
                rt.pausing = True
            result = await run_lead(rt, messages)
            status = "done"
            unfinished = self._unfinished(mission.id)
            if unfinished:
                # The lead's answer may not say it: the person must not read "done" and
                # believe every step happened.
                result = f"{result or ''}\n\n{unfinished}".strip()
        except (ModelError, LimitReached) as exc:
            error = str(exc)
        except (MissionPaused, BaseExceptionGroup) as exc:
            paused = exc if isinstance(exc, MissionPaused) else _paused_in(exc)
            if paused is None:
                raise
            status = "interrupted"
            error = f"Paused: {paused} Resume it when the service is back (ensemble resume {mission.id})."
        except asyncio.CancelledError:
            reason = self._pause_reasons.pop(mission.id, None)
            if reason is not None and mission.id in self.gate.pausing:
                # pause_all: every step stays as it was (waiting cards stay pending), to resume.
                status = "interrupted"
                error = f"Paused: {reason.rstrip('.')}. {RESUMES_ON_START}"
            else:
                status, error = "cancelled", "Stopped by the person."
                self.gate.reject_pending(mission.id, "stopped by user")
        except Exception as exc:
            # The outer boundary of one mission: a bug ends this mission, never the app.
            log.exception("Mission %s failed unexpectedly", mission.id)
            error = f"Ensemble hit an internal error: {type(exc).__name__}: {exc}"
        finally:
            self.gate.pausing.discard(mission.id)
            self._pause_reasons.pop(mission.id, None)
            self._runtimes.pop(mission.id, None)
            self._live.pop(mission.id, None)
            if model is not None:
                await model.close()
            for kind in registry().values():
                if kind.on_mission_end is not None:
                    await kind.on_mission_end(mission.id)
        return self._finish(mission, status, result, error)

    def _finish(
        self, mission: Mission, status: str, result: str | None, error: str | None, **changes: Any
    ) -> MissionOutcome:
        """Records how a mission ended (its row, its ``mission_finished`` event, its workflow
        run) and retires its own rules unless it only paused."""
        self.journal.update(
            mission, status=status, result=result, error=error, finished_at=utcnow(), **changes
        )
        if status != "interrupted":
            # A mission's own rules (an --approve, "Approve all like this") end with it, so the
            # rules in force never pile up; the audit keeps what they decided.
            self.journal.retire_rules(mission.id)
        summary = {
            "done": "Mission done",
            "failed": "Mission failed",
            "cancelled": "Mission stopped",
            "interrupted": "Mission paused",
        }[status]
        self.journal.audit(
            mission.id,
            "mission_finished",
            f"{summary}: {error}" if error else summary,
            status=status,
            result=result,
            error=error,
            tokens=mission.tokens,
        )
        try:
            self._workflows.finished(mission.id, status)
        except Exception:
            # The run's history is bookkeeping: it never changes how the mission ended.
            log.exception("Could not record the end of mission %s in its workflow's history", mission.id)
        return MissionOutcome(mission.id, status, result if status == "done" else error)

    # The Temporal backend (app.temporal.remote, loaded by name) ---------------------------

    def _remote_missions(self) -> _Remote:
        """The follower of this engine's missions on the Temporal cluster, made on first use.

        Raises:
            EngineError: The Temporal backend is not installed here (the desktop bundle leaves
                it out).
        """
        if self._remote is None:
            import importlib

            try:
                module = importlib.import_module("app.temporal.remote")
            except ImportError as exc:
                log.info("The Temporal backend cannot be imported: %s", exc)
                raise EngineError(
                    "Missions are set to run on a Temporal cluster, but the Temporal backend is not "
                    "installed here (the desktop bundle leaves it out). Install Ensemble with its "
                    "'temporal' extra, or set Where missions run back to this computer."
                ) from None
            self._remote = module.RemoteMissions(self.journal, self.settings.temporal)
        remote: _Remote = self._remote
        return remote

    def _is_remote(self, mission_id: str) -> bool:
        """Whether a mission runs on the Temporal cluster (it was started on that backend)."""
        mission = self._live.get(mission_id) or self.journal.mission(mission_id)
        if mission is None:
            return False
        return bool(json.loads(mission.options_json or "{}").get("backend") == "temporal")

    async def _run_remote(
        self, mission: Mission, folders: list[Path], options: dict[str, Any]
    ) -> MissionOutcome:
        """Runs a mission on the Temporal cluster and follows it into the journal."""
        from app import memory

        status, result, error, tokens = "failed", None, None, mission.tokens
        self._live[mission.id] = mission
        try:
            remote = self._remote_missions()
            elsewhere = self._other_cluster(options)
            if elsewhere is not None:
                # Still running there, as far as anyone here knows: left for the person to follow.
                return self._finish(mission, "interrupted", None, elsewhere)
            remembered = [m.text for m in memory.applying(self.journal, [str(f) for f in folders])]
            ending = await remote.run(
                mission, self.settings, folders=folders, options=options, memories=remembered
            )
            status, result, error, tokens = (
                ending.status,
                ending.result,
                ending.error,
                ending.tokens or tokens,
            )
            if status == "done":
                unfinished = self._unfinished(mission.id)
                if unfinished:
                    result = f"{result or ''}\n\n{unfinished}".strip()
            elif status == "interrupted":
                reason = self._pause_reasons.get(mission.id) or "Ensemble was closed"
                error = f"Paused: {reason.rstrip('.')}. {RESUMES_ON_START}"
        except EngineError as exc:
            error = str(exc)
        except asyncio.CancelledError:
            # Cancelled before its follower got going (still connecting or starting it).
            if mission.id in self._pause_reasons:
                reason = self._pause_reasons.get(mission.id) or "Ensemble was closed"
                status, error = "interrupted", f"Paused: {reason.rstrip('.')}. {RESUMES_ON_START}"
            else:
                status, error = "cancelled", "Stopped by the person."
                await self._remote_missions().cancel(mission.id)
        except Exception as exc:
            # The outer boundary of one mission: a bug ends this mission, never the app.
            log.exception("Following mission %s on Temporal failed unexpectedly", mission.id)
            error = f"Ensemble hit an internal error: {type(exc).__name__}: {exc}"
        finally:
            self._pause_reasons.pop(mission.id, None)
            self._live.pop(mission.id, None)
        return self._finish(mission, status, result, error, tokens=tokens)

    async def _keep_cluster_schedules(self, interval: float = 5.0) -> None:
        """On Temporal: keeps the cluster's schedules as the workflows say, and follows each
        run they start (a mission here, with its workflow run in the history), every
        ``interval`` seconds or as soon as a workflow changes, until cancelled."""
        from app.workflows.store import spec_of

        changed = self._schedules_changed
        while True:
            try:
                rows = self._workflows.store.all()
                wanted = [spec_of(row) for row in rows]
                runs = await self._remote_missions().keep_schedules(wanted, self.settings, self.journal)
                for name, run_id in runs:
                    if self.journal.mission(run_id) is None:
                        self._workflows.run(name, {}, reason="schedule", mission_id=run_id)
            except asyncio.CancelledError:
                raise
            except EnsembleError as exc:
                log.warning("The workflows' schedules on Temporal: %s", exc)
            except Exception:  # a bug here must not stop the schedules for good: logged, tried again
                log.exception("Keeping the workflows' schedules on Temporal failed")
            if changed is None:
                await asyncio.sleep(interval)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), interval)
            changed.clear()

    def _other_cluster(self, options: dict[str, Any]) -> str | None:
        """Why a mission is not followed (nor started) here, when it began on another cluster or
        namespace than the settings name now (there it could start a second time); None when
        it began on this one."""
        began = options.get("cluster")
        if not isinstance(began, dict):
            return None
        now = self.settings.temporal
        if (began.get("address"), began.get("namespace")) == (now.address, now.namespace):
            return None
        return (
            f"This mission runs on the Temporal cluster at {began.get('address')} (namespace "
            f"{began.get('namespace')}), but Ensemble is now set to {now.address} (namespace "
            f"{now.namespace}). Set Settings → Team back to follow it; it was not started again."
        )

    def _decide_remote(self, action: ProposedAction, decision: Decision) -> ProposedAction:
        """Checks a decision on a card of a mission on Temporal and sends it to the workflow;
        the workflow's ``action_decided`` event, copied back, closes the card."""
        if action.status != "pending":
            raise GateError(f"Action {action.id} is not waiting for a decision: it is {action.status}.")
        if decision.kind == "edit":
            tool = find_tool(action.tool)
            if decision.arguments is None:
                raise GateError("An edit needs the edited arguments.")
            if tool is not None:
                try:
                    tool.parse({**json.loads(action.arguments_json), **decision.arguments})
                except ToolError as exc:
                    raise GateError(str(exc)) from exc
        sent = self._remote_missions().decide(
            action.mission_id, action.id, decision.kind, arguments=decision.arguments, reason=decision.reason
        )
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a one-shot command (ensemble decide): send it and wait
            asyncio.run(sent)
            return action
        task = loop.create_task(sent, name=f"decide {action.id}")
        task.add_done_callback(_log_unsent)
        return action

    def _model_client(self, options: dict[str, Any]) -> ModelClient:
        """The model a mission talks to: its own endpoint if it names one (the demo's scripted
        model does), else the settings' model and the API.

        Raises:
            ModelError: No API key is set (kind ``no_key``).
        """
        endpoint = _endpoint(options)
        return ModelClient(
            str(endpoint.get("model") or options.get("model") or self.settings.model),
            max_tokens=self.settings.max_tokens,
            max_retries=int(endpoint.get("max_retries", self.settings.api_max_retries)),
            timeout=float(endpoint.get("timeout", self.settings.api_timeout)),
            api_key=endpoint.get("api_key"),
            base_url=endpoint.get("base_url"),
            max_concurrency=self.settings.max_concurrency,
        )

    def _unfinished(self, mission_id: str) -> str | None:
        """What did not get done in a mission that otherwise ended, in words; None if all did."""
        lines = []
        for action in self.journal.actions(mission_id):
            preview = json.loads(action.preview_json or "{}")
            what = preview.get("summary") or action.tool
            if action.status == "failed":
                lines.append(f"- Failed: {what}: {action.result or 'no reason recorded'}")
            elif action.status in ("executing", "approved", "pending"):
                lines.append(f"- Not finished ({action.status}): {what}")
        for task in self.journal.tasks(mission_id):
            if task.status in ("failed", "running", "pending"):
                lines.append(
                    f"- Task {task.key} ({task.agent}) {task.status}: {task.reason or task.instructions[:80]}"
                )
        if not lines:
            return None
        return "Not everything was done:\n" + "\n".join(lines)

    # The person's answers ----------------------------------------------------------------

    async def _ask(self, mission_id: str, question: str) -> str:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._questions[mission_id] = future
        self.journal.add(ChatMessage(mission_id=mission_id, role="assistant", kind="question", text=question))
        self.journal.audit(mission_id, "question_asked", question, question=question)
        try:
            answer = await future
        finally:
            self._questions.pop(mission_id, None)
        self.journal.add(ChatMessage(mission_id=mission_id, role="user", kind="answer", text=answer))
        self.journal.audit(mission_id, "question_answered", answer, answer=answer)
        return answer

    def waiting_question(self, mission_id: str) -> bool:
        """Whether the mission's lead is waiting for an answer."""
        if self._remote is not None and self._remote.open_question(mission_id):
            return True
        return mission_id in self._questions

    def answer(self, mission_id: str, text: str) -> None:
        """Answers the lead's open question in a mission.

        Raises:
            EngineError: The mission is not waiting for an answer.
        """
        future = self._questions.get(mission_id)
        if future is None and self._remote is not None and self._remote.open_question(mission_id):
            self.journal.add(ChatMessage(mission_id=mission_id, role="user", kind="answer", text=text))
            self.journal.audit(mission_id, "question_answered", text, answer=text)
            task = asyncio.get_running_loop().create_task(self._remote.answer(mission_id, text))
            task.add_done_callback(_log_unsent)
            return
        if future is None or future.done():
            raise EngineError(f"Mission {mission_id} is not waiting for an answer.")
        future.set_result(text)

    def request_decision(self, action_id: str, *, approve: bool, reason: str | None = None) -> str:
        """Decides a waiting action, here or in the process whose mission waits for it.

        A card of a mission this process runs is decided at once (:meth:`decide`). A card of a
        mission another live Ensemble process runs (``ensemble service``) is left in the
        journal for that process, which takes it within a second through its own gate.

        Args:
            action_id: The action (a unique prefix is enough).
            approve: Approve as proposed (True) or reject (False).
            reason: Why it is rejected, for the agent.

        Returns:
            A sentence saying what happened.

        Raises:
            EngineError: No such action, it is not waiting, or no running process has it.
        """
        from app import decisions

        action = self.journal.action(action_id)
        if action is None:
            raise EngineError(f"There is no action {action_id}.")
        if action.status != "pending":
            raise EngineError(f"Action {action.id} is not waiting for a decision: it is {action.status}.")
        decision = Decision.approve() if approve else Decision.reject(reason)
        if self._is_remote(action.mission_id):
            self._decide_remote(action, decision)
            return f"{'Approval' if approve else 'Rejection'} of {action.id} sent to the Temporal cluster."
        if action.id in self.gate.pending:
            self.decide(action.id, decision)
            return f"{'Approved' if approve else 'Rejected'}: {action.id}."
        mission = self.journal.mission(action.mission_id)
        pid = mission.owner_pid if mission is not None else None
        if mission is None or mission.status != "running" or pid is None or not _alive(pid):
            raise EngineError(
                f"No Ensemble process is running mission {action.mission_id} now. Resume it "
                f"(ensemble resume {action.mission_id}) and decide there."
            )
        decisions.leave(self.journal, action.id, decision.kind, reason)
        return (
            f"{'Approval' if approve else 'Rejection'} of {action.id} handed to the Ensemble process "
            f"{pid} that runs mission {mission.id}: it acts on it within a second."
        )

    async def take_requested_decisions(self, *, interval: float = 1.0) -> None:
        """Takes the decisions other processes left for this process's waiting cards
        (:meth:`request_decision`), every ``interval`` seconds, until cancelled. The journal
        is read only while a card waits."""
        from app import decisions

        while True:
            await asyncio.sleep(interval)
            for request in decisions.take(self.journal, self.gate.pending):
                decision = (
                    Decision.approve() if request.kind == "approve" else Decision.reject(request.reason)
                )
                try:
                    self.decide(request.action_id, decision)
                except GateError as exc:
                    log.warning("A decision left for %s could not be taken: %s", request.action_id, exc)

    def decide(self, action_id: str, decision: Decision) -> ProposedAction:
        """Takes the person's decision on a pending proposed action.

        Raises:
            GateError: The action is not pending, or edited arguments are invalid.
        """
        action = self.journal.action(action_id)
        if action is None:
            raise GateError(f"There is no proposed action {action_id}.")
        if self._is_remote(action.mission_id):
            return self._decide_remote(action, decision)
        decided = self.gate.decide(action.id, decision, find_tool(action.tool))
        self._offer_rule(decided, decision)
        return decided

    def decide_batch(self, decisions: Sequence[tuple[str, Decision]]) -> str:
        """Takes the person's one decision over several pending actions (a batch card).

        Every action is checked first (waiting, edited arguments valid for its tool), so that
        a bad item decides nothing; then each is decided, recorded with the batch's id.

        Args:
            decisions: ``(action id, decision)`` pairs; a unique prefix of an id is enough.

        Returns:
            The batch decision's id (in each ``action_decided`` event's ``batch``).

        Raises:
            GateError: An action is unknown or not pending, an edit is invalid, or the list
                is empty.
        """
        from app.journal import new_id

        if not decisions:
            raise GateError("A batch decision needs at least one action.")
        checked: list[tuple[str, Decision, Any]] = []
        if any(
            (found := self.journal.action(a)) is not None and self._is_remote(found.mission_id)
            for a, _d in decisions
        ):
            for action_id, decision in decisions:  # on Temporal each card is its own update
                self.decide(action_id, decision)
            return new_id("d")
        for action_id, decision in decisions:
            action = self.journal.action(action_id)
            if action is None or action.id not in self.gate.pending or action.status != "pending":
                raise GateError(f"Action {action_id} is not waiting for a decision.")
            tool = find_tool(action.tool)
            if decision.kind == "edit":
                if decision.arguments is None:
                    raise GateError("An edit needs the edited arguments.")
                if tool is not None:
                    try:
                        tool.parse({**json.loads(action.arguments_json), **decision.arguments})
                    except ToolError as exc:
                        raise GateError(f"Item {len(checked) + 1}: {exc}") from exc
            checked.append((action.id, decision, tool))
        batch = new_id("d")
        for action_id, decision, tool in checked:
            self._offer_rule(self.gate.decide(action_id, decision, tool, batch=batch), decision)
        return batch

    def _offer_rule(self, action: ProposedAction, decision: Decision) -> None:
        """Counts the person's approvals of the same change in a mission; at the fifth, offers
        a rule (a ``rule_suggested`` event), which exists only if the person says yes."""
        from glob import escape

        from app.api.attention import SUGGEST_AFTER, rule_target

        if decision.kind != "approve" or action.ask_person:
            return
        target = rule_target(action.effect, json.loads(action.arguments_json))
        if target is None:
            return
        key = (action.mission_id, action.tool, target)
        count = self._same_approvals.get(key, 0) + 1
        self._same_approvals[key] = count
        if count != SUGGEST_AFTER:
            return
        title = action_title(action.tool)
        name = Path(target).name
        self.journal.audit(
            action.mission_id,
            "rule_suggested",
            f"You approved {count} times: {title} ({name}). Always allow it in this mission?",
            task_id=action.task_id,
            tool=action.tool,
            target=target,
            count=count,
            where={"path": escape(target)},
            description=f"Always allow: {title} ({name}), in this mission",
        )

    def decision_summary(self, mission_id: str) -> DecisionSummary:
        """What a mission asked of the person: decisions (a batch counts once), by whom, how long."""
        from app.api.attention import decision_summary

        return decision_summary(self.mission_events(mission_id))

    # Stopping and undoing ----------------------------------------------------------------

    async def cancel(self, mission_id: str) -> bool:
        """Stops a running mission: its agents stop and its pending actions are rejected.

        Returns:
            Whether it was running.
        """
        task = self._running.get(mission_id)
        if task is None:
            return False
        if self._is_remote(mission_id):
            self._remote_missions().stopping(mission_id)  # cancelling its follower cancels its workflow
        else:
            self.gate.reject_pending(mission_id, "stopped by user")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        mission = self.journal.mission(mission_id)
        if task.cancelled() and mission is not None and mission.status == "running":
            # Stopped before it began (no step of it ran to record its end).
            if self._is_remote(mission_id):
                await self._remote_missions().cancel(mission_id)
            self._finish(mission, "cancelled", None, "Stopped by the person.")
        return True

    async def cancel_all(self) -> int:
        """Stops every running mission; returns how many were running."""
        ids = list(self._running)
        for mission_id in ids:
            await self.cancel(mission_id)
        return len(ids)

    async def undo(self, action_id: str, *, force: bool = False) -> str:
        """Takes back a local action: a file from its backup, or another change through its tool.

        A file is restored byte for byte from the backup the write left. A change that is not a
        file (a message moved to another folder, its flags) is taken back by the tool's own
        :attr:`~connectors.base.Tool.undo`, run in the action's mission (its workspaces and its
        options, such as the email account); what the connector opened for it is closed
        afterwards unless the mission is running.

        Args:
            action_id: The action (a unique prefix is enough).
            force: Restore a file even if it changed since.

        Returns:
            A sentence saying what was restored.

        Raises:
            EngineError: No such action, it was not carried out, or it cannot be undone.
            ToolError: The file changed since the write, the backup is missing, or the tool
                cannot take its change back (the message was moved again since).
        """
        action = self.journal.action(action_id)
        if action is None:
            raise EngineError(f"There is no action {action_id}.")
        if action.status == "undone":
            raise EngineError(f"Action {action.id} was already undone.")
        # A failed action keeps a backup only when its change happened (its read-back differed).
        if action.status not in ("executed", "failed") or not action.backup_json:
            raise EngineError(f"Action {action.id} ({action.tool}, {action.status}) has no change to undo.")
        data = json.loads(action.backup_json)
        if isinstance(data, dict) and "tool_undo" in data:
            tool = find_tool(action.tool)
            kind = next((k for k in registry().values() if k.tool(action.tool) is not None), None)
            if tool is None or tool.undo is None or kind is None:
                raise EngineError(
                    f"Action {action.id} ({action.tool}) cannot be undone: its tool has no undo."
                )
            mission = self.journal.mission(action.mission_id)
            if mission is None:
                raise EngineError(f"The mission {action.mission_id} of action {action.id} is gone.")
            ctx = ToolContext(
                workspaces=[Path(w) for w in json.loads(mission.workspaces_json)],
                backup_dir=self.paths.backups / mission.id,
                mission_id=mission.id,
                extra=json.loads(mission.options_json or "{}"),
            )
            try:
                message = await tool.undo(ctx, dict(data["tool_undo"]))
            finally:
                if mission.id not in self._running and kind.on_mission_end is not None:
                    await kind.on_mission_end(mission.id)
        else:
            message = await asyncio.to_thread(restore, Backup.from_json(data), force=force)
        self.journal.update(action, status="undone")
        self.journal.audit(
            action.mission_id, "action_undone", message, task_id=action.task_id, action_id=action.id
        )
        return message

    def rollback_plan(self, mission_id: str) -> RollbackPlan:
        """What undoing a whole mission would do, changing nothing (see :mod:`app.rollback`).

        Reads the journal and hashes the files the mission wrote: call it off the GUI thread.

        Args:
            mission_id: The mission (a unique prefix is enough).

        Returns:
            The plan: its changes to take back (newest first), the files changed since with
            what undoing them anyway would lose, what cannot be undone and why; or, for a
            running mission, its ``refusal``.

        Raises:
            EngineError: There is no such mission.
        """
        from app import rollback

        mission = self._mission_to_manage(mission_id)
        return rollback.plan(self, mission, rollback.refusal_if_running(self, mission))

    async def undo_mission(self, mission_id: str, *, force: bool = False) -> RollbackReport:
        """Takes back every local change of a mission, newest first (see :mod:`app.rollback`).

        Files are put back byte for byte, files it created go to the trash, messages go back
        to their folders, events it added are deleted. A file changed since is left alone
        unless ``force`` (then its later version goes to the trash first). A step that fails
        leaves the others done; running it again only tries what is left. Recorded in the
        audit (``action_undone`` per change, then ``mission_rolled_back``).

        Args:
            mission_id: The mission (a unique prefix is enough).
            force: Restore files changed since too.

        Returns:
            What each step did, and what cannot be undone.

        Raises:
            EngineError: No such mission, or it is running.
        """
        from app import rollback

        mission = self._mission_to_manage(mission_id)
        self._refuse_if_running(mission, "undo")
        return await rollback.run(self, mission, force=force)

    async def pause_all(self, reason: str = "Ensemble was closed") -> int:
        """Pauses every running mission, to resume later; returns how many were running.

        Unlike :meth:`cancel_all`, nothing is rejected or marked stopped: tool calls, tasks
        and the actions waiting for the person stay as they are in the journal, an action
        being carried out finishes first, and each mission ends ``interrupted`` with an error
        ending in :data:`RESUMES_ON_START`. :meth:`resume` (or :meth:`resume_paused`) carries
        it on: nothing finished runs again, and waiting cards come back with the same ids.

        Args:
            reason: Why, for the mission's error: ``"Paused: {reason}. It resumes when…"``.
        """
        tasks = dict(self._running)
        for mission_id in tasks:
            self._pause_reasons[mission_id] = reason
            self.gate.pausing.add(mission_id)
            rt = self._runtimes.get(mission_id)
            if rt is not None:
                rt.pausing = True
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        return len(tasks)

    def paused_by_quit(self) -> list[Mission]:
        """Interrupted missions that :meth:`pause_all` paused (not a crash), newest first, and
        the missions on Temporal a crash left unfollowed: following one again repeats nothing
        (the cluster ran it meanwhile), so it needs no one's word."""
        return [
            m
            for m in self.interrupted()
            if (m.error or "").endswith(RESUMES_ON_START)
            or json.loads(m.options_json or "{}").get("backend") == "temporal"
        ]

    def resume_paused(self) -> list[tuple[str, str | None]]:
        """Resumes, oldest first, the missions :meth:`pause_all` paused; call on the engine's loop.

        A mission that cannot resume (its workspace folder is gone, a demo whose demo stopped)
        stays interrupted, its error saying why, and is not tried again.

        Returns:
            ``(mission id, None)`` for each mission resumed, ``(mission id, why not)`` for
            each that could not be.
        """
        outcomes: list[tuple[str, str | None]] = []
        for mission in reversed(self.paused_by_quit()):
            try:
                self.resume(mission.id)
            except EngineError as exc:
                self.journal.update(mission, error=f"It could not resume: {exc}")
                outcomes.append((mission.id, str(exc)))
            else:
                outcomes.append((mission.id, None))
        return outcomes

    async def close(self, *, pause: bool = False) -> None:
        """Stops every mission and closes the journal.

        Args:
            pause: Pause the running missions (:meth:`pause_all`: they stay ``interrupted``,
                their waiting actions pending, to resume) instead of cancelling them.
        """
        await self.stop_schedules()  # no run starts while the engine closes
        if pause:
            await self.pause_all()
        else:
            await self.cancel_all()
        for name, service in list(self._services.items()):
            await asyncio.to_thread(service.stop)
            self._services.pop(name, None)
        self.journal.close()

    # Workflows --------------------------------------------------------------------------
    # Missions described once and run again (app.workflows); every sync method runs on the
    # engine's loop. Errors are EngineError, in words for a person.

    @property
    def _workflows(self) -> Workflows:
        """The workflows' logic, made when first used (most engines never need it)."""
        if self._workflow_ops is None:
            from app.workflows._runs import Workflows

            self._workflow_ops = Workflows(self)
        return self._workflow_ops

    def list_workflows(self) -> list[WorkflowInfo]:
        """Every saved workflow, by name."""
        return self._workflows.infos()

    def workflow_info(self, name: str) -> WorkflowInfo:
        """One workflow, by name (any case) or id.

        Raises:
            EngineError: There is no such workflow.
        """
        return self._workflows.info(self._workflows.store.require(name))

    def save_workflow(self, spec: WorkflowSpec, *, replace: bool = False) -> WorkflowInfo:
        """Saves a workflow made from scratch (or edited).

        Args:
            spec: The workflow.
            replace: If one has that name, save this as its next version.

        Raises:
            EngineError: The name is taken and ``replace`` is not set.
        """
        info = self._workflows.save(spec, replace=replace)
        self._wake_schedules()
        return info

    def save_mission_as_workflow(
        self, mission_id: str, name: str, params: list[ProposedParam], *, description: str = ""
    ) -> WorkflowInfo:
        """Saves a finished mission as a workflow, with its plan.

        Each parameter's value is replaced by ``{name}`` in the instruction and in the saved
        plan (the tasks that succeeded). Its folders, account, sites, model, budget and its
        own rules (not the blanket ones of ``--approve``) are copied; its runs ask the person
        for everything else.

        Args:
            mission_id: The mission (a unique prefix is enough).
            name: The workflow's name.
            params: Its parameters, each with the text it replaces (:meth:`propose_parameters`
                proposes them; the person confirms them).
            description: One line on what it does.

        Raises:
            EngineError: The mission is unknown or still running, the name is taken, or a
                value occurs neither in the instruction nor in the plan.
        """
        return self._workflows.save_mission(mission_id, name, params, description=description)

    async def propose_parameters(self, mission_id: str) -> list[ProposedParam]:
        """The lead's proposal of a finished mission's parameters: what would change next
        time, each with the text it would replace (one call to the mission's model).

        Raises:
            EngineError: The mission is unknown or running, or the model could not answer.
        """
        return await self._workflows.propose(mission_id)

    def rename_workflow(self, name: str, new_name: str) -> WorkflowInfo:
        """Renames a workflow (its next version; its runs keep the name they ran under).

        Raises:
            EngineError: No such workflow, or the new name is taken or empty.
        """
        info = self._workflows.change(name, name=new_name)
        self._wake_schedules()
        return info

    def duplicate_workflow(self, name: str, new_name: str) -> WorkflowInfo:
        """Copies a workflow under another name, without its schedule and trigger.

        Raises:
            EngineError: No such workflow, or the new name is taken or empty.
        """
        return self._workflows.duplicate(name, new_name)

    def delete_workflow(self, name: str) -> None:
        """Deletes a workflow; its runs' missions stay.

        Raises:
            EngineError: No such workflow.
        """
        self._workflows.store.delete(self._workflows.store.require(name))
        self._wake_schedules()

    def export_workflow(self, name: str) -> str:
        """A workflow as readable YAML, to share (no secret is in it).

        Raises:
            EngineError: No such workflow.
        """
        return self.workflow_info(name).spec.to_yaml()

    def import_workflow(self, text: str, *, name: str | None = None, replace: bool = False) -> WorkflowInfo:
        """Saves a workflow from YAML (:meth:`export_workflow`'s, or a person's).

        Args:
            text: The YAML.
            name: Save it under this name instead of its own.
            replace: If one has that name, save this as its next version.

        Raises:
            EngineError: The text is not a workflow (the message says where), or the name is
                taken and ``replace`` is not set.
        """
        spec = WorkflowSpec.from_yaml(text)
        if name is not None:
            from app.workflows._runs import _valid

            spec = _valid({**spec.model_dump(), "name": name})
        info = self._workflows.save(spec, replace=replace)
        self._wake_schedules()
        return info

    def set_schedule(self, name: str, schedule: Schedule | None) -> WorkflowInfo:
        """Sets (or with None removes) when a workflow runs by itself.

        Raises:
            EngineError: No such workflow, or a parameter has no default (the message names it).
        """
        info = self._workflows.set_schedule(name, schedule)
        self._wake_schedules()
        return info

    def set_trigger(self, name: str, trigger: Trigger | None) -> WorkflowInfo:
        """Sets (or with None removes) what starts a workflow: a new email or file.

        Raises:
            EngineError: No such workflow, or a parameter other than the trigger's has no
                default (the message names it).
        """
        info = self._workflows.set_trigger(name, trigger)
        self._wake_schedules()
        return info

    def run_workflow(
        self,
        name: str,
        params: dict[str, str] | None = None,
        *,
        reason: RunReason = "manual",
        approval: ApprovalPolicy | None = None,
    ) -> str:
        """Starts a run of a workflow: a mission, from its saved plan if it has one.

        With a saved plan, the lead's conversation starts with the plan already handed out
        (its parameters filled in), so the lead's planning call is skipped; the lead reads
        the tasks' results and re-plans as usual if one failed. The mission's audit records
        a ``workflow_run_started`` event; :meth:`workflow_runs` lists the run.

        Args:
            name: The workflow (any case) or its id.
            params: Values by parameter name; the others take their defaults.
            reason: Why it runs (a schedule passes ``schedule`` or ``catch_up``).
            approval: Overrides the workflow's approval policy for this run.

        Returns:
            The mission's id.

        Raises:
            EngineError: No such workflow, a parameter is unknown or has no value, or the
                mission cannot start (a folder is gone).
        """
        mission_id = self._workflows.run(name, params, reason=reason, approval=approval)
        assert mission_id is not None  # only a trigger's key can make it None
        return mission_id

    def run_triggered(self, name: str, *, key: str, value: str, context: str) -> str | None:
        """Starts a trigger's run of a workflow, once per ``key``.

        Args:
            name: The workflow.
            key: What started it (an email's Message-ID, a file's path and time): a run with
                this key already recorded means nothing starts.
            value: The trigger's parameter's value (a neutral phrase such as "the email that
                started this run (described below)").
            context: What arrived (sender, subject, Message-ID, folder, file path), shown to
                the lead as content from outside in its first message, never as the mission's
                text: it vouches for no destination.

        Returns:
            The mission's id, or None when ``key`` already ran.

        Raises:
            EngineError: As for :meth:`run_workflow`.
        """
        return self._workflows.run_triggered(name, key=key, value=value, context=context)

    def workflow_runs(self, name: str, *, limit: int = 50, offset: int = 0) -> list[WorkflowRunInfo]:
        """A workflow's runs, newest first, with their status, changes, tokens and cost.

        Raises:
            EngineError: No such workflow.
        """
        return self._workflows.runs(name, limit=limit, offset=offset)

    def workflow_run_of(self, mission_id: str) -> WorkflowRunInfo | None:
        """The workflow run a mission is, or None for a mission started otherwise."""
        return self._workflows.run_of(mission_id)

    async def start_schedules(self, *, clock: Clock | None = None, owner: str = "window") -> None:
        """Starts running the workflows' schedules and triggers in this process.

        Args:
            clock: The time source (tests pass a controllable one); the real clock by default.
            owner: What this process is, for another that finds the schedules taken
                (``window`` or ``service``).

        Raises:
            SchedulesOwnedElsewhere: Another process of this ``ENSEMBLE_HOME`` runs them; the
                message says which.
        """
        from app.workflows.service import Schedules

        if self._schedules is not None or self._cluster_schedules is not None:
            return
        if self.settings.backend == "temporal":
            # The cluster keeps the schedules (one run per due time, whoever is up): this
            # process hands it the workflows' schedules and follows the runs it starts.
            self._schedules_changed = asyncio.Event()
            self._cluster_schedules = asyncio.get_running_loop().create_task(
                self._keep_cluster_schedules(), name="schedules on Temporal"
            )
            return
        schedules = Schedules(self, self._workflows.store, clock, owner)
        await schedules.start()
        self._schedules = schedules
        # Cards of unattended runs may be decided from another process (ensemble decide).
        self._decision_taker = asyncio.get_running_loop().create_task(
            self.take_requested_decisions(), name="requested decisions"
        )

    async def stop_schedules(self) -> None:
        """Stops running the schedules and triggers here (a running mission goes on)."""
        schedules, self._schedules = self._schedules, None
        taker, self._decision_taker = self._decision_taker, None
        keeper, self._cluster_schedules = self._cluster_schedules, None
        if keeper is not None:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
        if taker is not None:
            taker.cancel()
            await asyncio.gather(taker, return_exceptions=True)
        if schedules is not None:
            await schedules.stop()

    def _wake_schedules(self) -> None:
        """Tells the schedules (if this process runs them) that a workflow changed."""
        if self._schedules is not None:
            self._schedules.wake()
        if self._schedules_changed is not None:
            self._schedules_changed.set()

    @property
    def owns_schedules(self) -> bool:
        """Whether this process runs the workflows' schedules and triggers now (on Temporal:
        hands their schedules to the cluster and follows their runs)."""
        return self._schedules is not None or self._cluster_schedules is not None

    # Whether a mission can resume ---------------------------------------------------------
    # For the window's Resume button: resume()'s own checks, read without changing anything.

    def can_resume(self, mission_id: str) -> str | None:
        """Whether :meth:`resume` could carry an interrupted mission on now; changes nothing.

        Args:
            mission_id: The mission.

        Returns:
            None if it can; otherwise why not, in words for a person (the demo that ran it
            stopped, a folder it works in is gone…).
        """
        mission = self.journal.mission(mission_id)
        if mission is None:
            return "This mission is no longer in the journal."
        if mission.id in self._running:
            return "It is running now."
        if mission.status != "interrupted":
            return "It is not interrupted: there is nothing to resume."
        endpoint = _endpoint(json.loads(mission.options_json))
        if endpoint.get("ephemeral") and not any(
            getattr(s, "endpoint_url", None) == endpoint.get("base_url") for s in self._services.values()
        ):
            gone = endpoint.get("when_gone") or "This mission's model endpoint is gone; it cannot resume."
            return str(gone)
        for folder in (Path(w) for w in json.loads(mission.workspaces_json)):
            if not folder.is_dir():
                return f"The folder {folder} it works in no longer exists."
        return None

    # Accounts (the window's settings) -------------------------------------------------------
    # What the Settings window's Accounts and Browser pages ask for. They delegate to
    # app.accounts (accounts in settings.json, passwords in the system's password store) and
    # may wait on that store or the disk: the window runs them in a worker thread
    # (Bridge.read), and test_account goes there by itself. Errors are EngineError, in words.

    def add_account(self, account_fields: dict[str, Any], password: str | None) -> str:
        """Adds an account to the settings, its password to the system's password store.

        The first account of its kind becomes the default for that kind.

        Args:
            account_fields: The account's stored fields, as ``ensemble account add`` writes
                them: ``kind`` (``imap``, ``maildir``, ``mbox`` or ``caldav``), ``name``, and
                ``address`` and the servers, or ``path``, or ``url`` and ``user``.
            password: Its password; None (or empty) for local mail files.

        Returns:
            A sentence saying what was added.

        Raises:
            EngineError: What is wrong with the account, or the password store could not be
                reached (then nothing was added).
        """
        import typing

        from pydantic import ValidationError

        from app import secrets

        fields = dict(account_fields)
        kind = fields.get("kind")
        model = next(
            (
                t
                for t in accounts.account_types().values()
                if "kind" in t.model_fields and kind in typing.get_args(t.model_fields["kind"].annotation)
            ),
            None,
        )
        if model is None:
            raise EngineError("Ensemble does not know that kind of account.")
        if kind in ("maildir", "mbox"):
            local = Path(str(fields.get("path") or "")).expanduser()
            if not str(fields.get("path") or "").strip():
                raise EngineError("Choose the mail folder (Maildir) or mail file (mbox) on this computer.")
            if not local.exists():
                raise EngineError(f"{local} does not exist on this computer.")
            fields["path"] = str(local.resolve())
        try:
            account = model.model_validate(fields)
        except ValidationError as exc:
            raise EngineError(self._account_problem(exc)) from exc
        if account.needs_password() and not password:
            raise EngineError(f"Type the password of '{account.name}' first.")
        try:
            updated = accounts.add_account(self.paths.settings, account, password or None)
        except secrets.SecretError as exc:
            raise EngineError(
                secrets.unreachable(
                    f"the account '{account.name}' was not added (its password could not be kept)"
                )
            ) from exc
        except accounts.AccountError as exc:
            raise EngineError(str(exc)) from exc
        self.settings = self.settings.model_copy(update={"accounts": updated.accounts})
        added = next(a for a in updated.accounts if a.name == account.name)
        default = f"; it is the default {added.label} account" if added.default else ""
        stored = ", its password in your system's password store" if password else ""
        place = self._account_place(added)
        return f"Added the {added.label} account '{added.name}' ({place}){stored}{default}."

    async def test_account(self, name: str) -> list[str]:
        """Logs in to an account's servers (or opens its mail files), changing nothing; in a
        worker thread, off the engine's loop.

        Args:
            name: The account's name.

        Returns:
            One sentence per server saying what worked.

        Raises:
            EngineError: There is no such account, or what failed and what to check.
        """

        def run() -> list[str]:
            try:
                return accounts.test_connection(accounts.find(self.settings, name))
            except accounts.AccountError as exc:
                raise EngineError(str(exc)) from exc

        return await asyncio.to_thread(run)

    def remove_account(self, name: str) -> None:
        """Removes an account from the settings and its password from the password store.

        Raises:
            EngineError: There is no such account.
        """
        try:
            accounts.remove_account(self.paths.settings, name)
        except accounts.AccountError as exc:
            raise EngineError(str(exc)) from exc
        stored = Settings.load(self.paths.settings)
        self.settings = self.settings.model_copy(update={"accounts": stored.accounts})

    def set_default_account(self, name: str) -> None:
        """Makes an account the one missions use for its kind (email, calendar) when none is named.

        Raises:
            EngineError: There is no such account.
        """
        try:
            chosen = accounts.find(self.settings, name)
            kind = accounts.kind_of(chosen)
        except accounts.AccountError as exc:
            raise EngineError(str(exc)) from exc
        updated = [
            a.model_copy(update={"default": a.name == name}) if accounts.kind_of(a) == kind else a
            for a in self.settings.accounts
        ]
        self.update_settings(self.settings.model_copy(update={"accounts": updated}))

    def find_browser(self) -> str | None:
        """A Chrome or Chromium on this computer, for the browser agent.

        Looks on the ``PATH`` for ``chromium``, ``chromium-browser``, ``google-chrome`` and
        ``google-chrome-stable``, then for the Chromium Playwright downloaded.

        Returns:
            The program's path, or None when there is none.
        """
        import shutil

        for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
            found = shutil.which(name)
            if found:
                return found
        cache = os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or str(Path.home() / ".cache" / "ms-playwright")
        programs = ("chrome-linux/chrome", "chrome-linux64/chrome", "chrome-win/chrome.exe")
        for folder in sorted(Path(cache).glob("chromium-*"), reverse=True):
            for program in programs:
                path = folder / program
                if path.is_file() and os.access(path, os.X_OK):
                    return str(path)
        return None

    @staticmethod
    def _account_place(account: Any) -> str:
        """Where an account is, in a few words: its address, web address or mail folder."""
        if getattr(account, "kind", "") in ("maildir", "mbox"):
            return f"{account.address}, mail in {account.path}"
        return str(getattr(account, "address", "") or getattr(account, "url", "") or account.name)

    @staticmethod
    def _account_problem(exc: Any) -> str:
        """An account's invalid fields (a pydantic ``ValidationError``), in words for a person."""
        words = {
            "name": "The account's name must be one word of letters, digits, dots, dashes or "
            "underscores (for example work).",
            "address": "The email address does not look right: it is written like ada@example.com.",
            "url": "The calendar's address must be a web address starting with https:// (or http://).",
            "imap_port": "The incoming (IMAP) server's port must be a number from 1 to 65535.",
            "smtp_port": "The outgoing (SMTP) server's port must be a number from 1 to 65535.",
            "security": "Choose how the connection to the servers is encrypted.",
            "smtp_security": "Choose how the connection to the outgoing server is encrypted.",
        }
        said: list[str] = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error.get("loc") else ""
            sentence = words.get(field, f"The account's {field.replace('_', ' ')} cannot be used.")
            if sentence not in said:
                said.append(sentence)
        return " ".join(said) or "The account cannot be used."

    # Missions: rename, archive, delete ----------------------------------------------------
    # The person's housekeeping of the missions list (issue 17). Quick journal writes, safe on
    # the engine's loop or in a worker thread; errors are EngineError, in words for a person.

    def _mission_to_manage(self, mission_id: str) -> Mission:
        """A mission the person may rename, archive or delete (not one deleted already)."""
        self.journal.interrupt_running()  # a mission whose process died is not running
        mission = self.journal.mission(mission_id)
        if mission is None or mission.deleted_at is not None:
            raise EngineError(f"There is no mission {mission_id}.")
        return mission

    def _refuse_if_running(self, mission: Mission, doing: str) -> None:
        if mission.id in self._running or mission.status == "running":
            here = mission.id in self._running or mission.owner_pid == os.getpid()
            where = "" if here else " in another Ensemble window or terminal"
            raise EngineError(f"“{mission.title}” is still running{where}. Stop it first, then {doing} it.")

    def rename_mission(self, mission_id: str, title: str) -> MissionInfo:
        """Gives a mission another title (a running one too).

        Args:
            mission_id: The mission (a unique prefix is enough).
            title: Its new title: one line, shortened to 80 characters.

        Returns:
            The mission as the lists show it now.

        Raises:
            EngineError: No such mission, or the title is empty.
        """
        mission = self._mission_to_manage(mission_id)
        new = _title(title)
        if not new:
            raise EngineError("A mission's name cannot be empty.")
        old = mission.title
        row = self.journal.rename_mission(mission.id, new)
        if row is None:
            raise EngineError(f"There is no mission {mission_id}.")
        live = self._live.get(mission.id)
        if live is not None:
            live.title = new
        if new != old:
            self.journal.audit(mission.id, "mission_renamed", f"Renamed from “{old}” to “{new}”", title=new)
        return self._mission_info(row)

    def archive_mission(self, mission_id: str, archived: bool = True) -> MissionInfo:
        """Archives a mission, out of the missions lists unless they ask for archived ones
        (``archived`` False brings it back).

        An archived mission keeps everything; an interrupted one is not resumed when Ensemble
        starts (:meth:`resume_paused`) until it is brought back.

        Args:
            mission_id: The mission (a unique prefix is enough).
            archived: True to archive it, False to bring it back.

        Returns:
            The mission as the lists show it now.

        Raises:
            EngineError: No such mission, or it is running.
        """
        mission = self._mission_to_manage(mission_id)
        if archived:
            self._refuse_if_running(mission, "archive")
        row = self.journal.archive_mission(mission.id, archived)
        if row is None:
            raise EngineError(f"There is no mission {mission_id}.")
        if archived != mission.archived:
            if archived:
                self.journal.audit(mission.id, "mission_archived", "Archived by you")
            else:
                self.journal.audit(mission.id, "mission_unarchived", "Brought back from the archive by you")
        return self._mission_info(row)

    def delete_mission(self, mission_id: str, *, keep_audit: bool = True) -> str:
        """Deletes a mission that is not running.

        With ``keep_audit`` (the default) its chat, its agents' conversations and its tasks
        are removed and no list shows it again, but its audit (the record of what was done:
        events, actions and their backups, so that its changes can still be undone) stays,
        for ``ensemble audit``. Without, everything of it goes, its backups folder too.

        Args:
            mission_id: The mission (a unique prefix is enough).
            keep_audit: Keep its audit.

        Returns:
            A sentence saying what was deleted and what was kept.

        Raises:
            EngineError: No such mission, or it is running.
        """
        mission = self._mission_to_manage(mission_id)
        self._refuse_if_running(mission, "delete")
        if keep_audit:
            self.journal.audit(
                mission.id,
                "mission_deleted",
                "Deleted by you: its chat and the agents' working notes were removed; this record is kept",
            )
        if not self.journal.delete_mission(mission.id, keep_audit=keep_audit):
            raise EngineError(f"There is no mission {mission_id}.")
        self._live.pop(mission.id, None)
        self._options.pop(mission.id, None)
        self._inbox.pop(mission.id, None)
        if keep_audit:
            return f"Deleted “{mission.title}”. Its audit (the record of what was done) is kept."
        backups = self.paths.backups / mission.id
        if backups.is_dir() and backups.resolve().parent == self.paths.backups.resolve():
            import shutil

            shutil.rmtree(backups, ignore_errors=True)
        return f"Deleted “{mission.title}” and its audit."


Begin = Callable[[Mission], list[dict[str, Any]]]
"""Called with a new mission right after its ``mission_started`` event; gives the lead's first
messages (see :meth:`Engine._start_mission`)."""


class Service(Protocol):
    """Something a mission needs that runs beside the engine (the demo's servers)."""

    def stop(self) -> None:
        """Stops it; called once, from a worker thread, when the engine closes."""


def _endpoint(options: dict[str, Any]) -> dict[str, Any]:
    """A mission's own model endpoint (``base_url``, ``model``, ``api_key``…), if it has one."""
    endpoint = options.get("endpoint")
    return endpoint if isinstance(endpoint, dict) else {}


def _paused_in(group: BaseExceptionGroup[BaseException]) -> MissionPaused | None:
    """The pause inside an exception group from parallel tasks, if there is one."""
    found = group.subgroup(MissionPaused)
    while isinstance(found, BaseExceptionGroup):
        found = found.exceptions[0] if found.exceptions else None  # type: ignore[assignment]
    return found if isinstance(found, MissionPaused) else None


def _alive(pid: int) -> bool:
    """Whether a process with that id runs (on this machine)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _title(text: str) -> str:
    # The person's words, without the "Attached: /full/path" lines the window adds after them
    # (ui/attachments.py message_text); a message of files only is named by its files' names.
    lines = text.splitlines()
    words = [x for x in lines if not x.startswith("Attached: ")]
    line = " ".join(" ".join(words).split())
    if not line:
        line = ", ".join(Path(x.removeprefix("Attached: ").strip()).name for x in lines if x.strip())
    return line if len(line) <= 80 else line[:77] + "…"


__all__ = ["ApproveMode", "Decision", "Engine", "EngineError", "GateError", "MissionOutcome", "ToolError"]


def _log_unsent(task: asyncio.Task[Any]) -> None:
    """Logs a decision, answer or message that did not reach the Temporal cluster (the
    mission's own events say what became of the card)."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("Not sent to the Temporal cluster: %s", task.exception())
