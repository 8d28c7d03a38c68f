"""One interface to run a mission on either backend, for the end-to-end tests (issue 19).

The same test drives a mission through :class:`Backend`: start it, read its cards, decide
them, read its events and its outcome. :func:`open_backend` gives

- ``embedded``: :class:`app.engine.Engine` on this event loop, with its SQLite journal;
- ``temporal``: :mod:`app.temporal.client` on a Temporal server, with a worker in this
  process (its activities use this process's environment, keyring and ``ENSEMBLE_HOME``) on
  a task queue of its own;
- ``engine-temporal``: the same engine API as ``embedded`` with ``Settings(backend="temporal")``
  (the engine's facade starts the workflow and mirrors its events and cards into the
  journal), on the same kind of worker and task queue.

The adapter is deliberately small: once the facade is the only way the app reaches Temporal,
``temporal`` (the client directly) can go, and the tests stay as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

    from temporalio.client import Client, WorkflowHandle

    from app.engine import Engine
    from app.journal import ProposedAction
    from app.settings import Settings
    from app.temporal._shapes import Card

BackendName = Literal["embedded", "temporal", "engine-temporal"]
BACKENDS: tuple[BackendName, ...] = ("embedded", "temporal", "engine-temporal")
"""The backends every end-to-end mission runs on: the embedded engine; Temporal through
:mod:`app.temporal.client`; and Temporal through the engine's own facade
(``Settings(backend="temporal")``), as the window and the command line use it."""

DecisionKind = Literal["approve", "edit", "reject"]


@dataclass(frozen=True)
class RuleSpec:
    """A standing decision for one mission, as the person would add it.

    Attributes:
        kind: ``approve_all`` or ``reject_all``.
        tool: The tool it covers (``email_send``), or None for every tool.
        description: The sentence the audit shows.
        where: Argument name → shell-style pattern; all must match.
    """

    kind: Literal["approve_all", "reject_all"]
    tool: str | None
    description: str
    where: dict[str, str] | None = None


@dataclass(frozen=True)
class CardView:
    """A proposed action as the person sees it, on either backend.

    Attributes:
        action_id: Its id.
        tool: The tool (``sheet_write``).
        title: What it does, in words (``Change a workbook``).
        arguments: The proposed arguments (after the tool completed them: an email's Message-ID).
        preview: The preview: ``{"summary", "kind", "detail", "text"}``.
        notice: What the card tells the person (a destination nobody vouched for), or None.
        ask_person: Whether only the person may approve it (no rule may).
        status: ``pending``, ``approved``, ``rejected``, ``executing``, ``executed`` or ``failed``.
        decision: ``approve``, ``edit`` or ``reject`` once decided, else None.
        decided_by: ``person`` or ``rule:<id> (<description>)`` once decided, else None.
    """

    action_id: str
    tool: str
    title: str
    arguments: dict[str, Any]
    preview: dict[str, Any]
    notice: str | None
    ask_person: bool
    status: str
    decision: str | None
    decided_by: str | None


@dataclass(frozen=True)
class Outcome:
    """How a mission ended: ``status`` (``done``, ``failed``…) and the lead's answer or the reason."""

    status: str
    result: str | None


@dataclass(frozen=True)
class EventView:
    """One audit event of a mission: its kind (the journal's names), summary line and data."""

    kind: str
    summary: str
    data: dict[str, Any]


class Backend(Protocol):
    """What an end-to-end test does with a mission, whichever backend runs it."""

    name: BackendName

    async def start(
        self, text: str, workspaces: Sequence[Path], settings: Settings, rules: Sequence[RuleSpec] = ()
    ) -> str:
        """Starts a mission and returns its id.

        Args:
            text: What the person asks.
            workspaces: The folders the agents may touch.
            settings: The settings it runs with (model, accounts, agents' sections).
            rules: Rules for this mission only, in force from its start.
        """
        ...

    async def pending(self, mission_id: str) -> list[CardView]:
        """The mission's cards waiting for the person, oldest first."""
        ...

    async def cards(self, mission_id: str) -> list[CardView]:
        """Every card of the mission, decided or not, oldest first."""
        ...

    async def decide(
        self,
        mission_id: str,
        action_id: str,
        kind: DecisionKind,
        arguments: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        """The person's decision on a waiting card.

        Args:
            mission_id: The mission.
            action_id: The card.
            kind: ``approve``, ``edit`` or ``reject``.
            arguments: For ``edit``, the arguments the person changed; the others stay as
                proposed.
            reason: For ``reject``, why (the agent reads it).

        Raises:
            Exception: The backend refused it (the card is not waiting, or the edit is invalid):
                :class:`app.gate.GateError` or
                :class:`temporalio.client.WorkflowUpdateFailedError`.
        """
        ...

    async def events(self, mission_id: str) -> list[EventView]:
        """The mission's audit events, oldest first."""
        ...

    async def outcome(self, mission_id: str, seconds: float = 90.0) -> Outcome:
        """Waits at most ``seconds`` for the mission to end, and says how it ended.

        Raises:
            TimeoutError: It did not end in time.
        """
        ...


async def wait_for(probe: Callable[[], Awaitable[Any]], what: str, seconds: float = 60.0) -> Any:
    """Polls ``probe`` every 50 ms until it returns something truthy, and returns that.

    Raises:
        AssertionError: Nothing truthy within ``seconds`` seconds; the message names ``what``.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"Not within {seconds:g} s: {what}")


async def next_card(
    backend: Backend, mission_id: str, tool: str | None = None, seconds: float = 60.0
) -> CardView:
    """The first card waiting for the person (of ``tool``, if given), once there is one.

    Raises:
        AssertionError: None within ``seconds`` seconds.
    """

    async def probe() -> CardView | None:
        return next((c for c in await backend.pending(mission_id) if tool in (None, c.tool)), None)

    card: CardView = await wait_for(probe, f"a card{f' of {tool}' if tool else ''}", seconds)
    return card


# The embedded engine -----------------------------------------------------------------------


def _view_action(action: ProposedAction) -> CardView:
    from connectors.registry import action_title

    return CardView(
        action_id=action.id,
        tool=action.tool,
        title=action_title(action.tool),
        arguments=json.loads(action.arguments_json),
        preview=json.loads(action.preview_json),
        notice=action.notice,
        ask_person=action.ask_person,
        status=action.status,
        decision=action.decision,
        decided_by=action.decided_by,
    )


class EmbeddedBackend:
    """Missions on :class:`app.engine.Engine`, on the running event loop.

    Args:
        engine: The engine (its journal and backups under ``ENSEMBLE_HOME``).
        overrides: Settings every mission's settings get on top (``backend`` and ``temporal``
            for the engine's facade on Temporal: the backend is then ``engine-temporal``).
    """

    name: BackendName = "embedded"

    def __init__(self, engine: Engine, overrides: dict[str, Any] | None = None) -> None:
        self.engine = engine
        self.overrides = overrides or {}
        if overrides:
            self.name = "engine-temporal"

    async def start(
        self, text: str, workspaces: Sequence[Path], settings: Settings, rules: Sequence[RuleSpec] = ()
    ) -> str:
        """See :meth:`Backend.start`."""
        self.engine.settings = settings.model_copy(update=self.overrides) if self.overrides else settings
        mission_id = self.engine.start_mission(text, workspaces=[Path(w) for w in workspaces])
        # The mission's task has not run yet (nothing awaited since): the rules are in force
        # before its first proposal.
        for rule in rules:
            self.engine.add_rule(
                rule.kind,
                mission_id=mission_id,
                tool=rule.tool,
                where=rule.where,
                description=rule.description,
            )
        return mission_id

    async def pending(self, mission_id: str) -> list[CardView]:
        """See :meth:`Backend.pending`."""
        return [_view_action(a) for a in self.engine.pending_actions() if a.mission_id == mission_id]

    async def cards(self, mission_id: str) -> list[CardView]:
        """See :meth:`Backend.cards`."""
        return [_view_action(a) for a in self.engine.journal.actions(mission_id)]

    async def decide(
        self,
        mission_id: str,
        action_id: str,
        kind: DecisionKind,
        arguments: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        """See :meth:`Backend.decide`."""
        from app.gate import Decision, GateError

        action = self.engine.journal.action(action_id)
        if action is None or action.mission_id != mission_id:
            raise GateError(f"There is no proposed action {action_id} in mission {mission_id}.")
        if kind == "approve":
            decision = Decision.approve()
        elif kind == "reject":
            decision = Decision.reject(reason)
        else:
            decision = Decision.edit({**json.loads(action.arguments_json), **(arguments or {})})
        self.engine.decide(action_id, decision)

    async def events(self, mission_id: str) -> list[EventView]:
        """See :meth:`Backend.events`."""
        return [EventView(e.kind, e.summary, dict(e.data)) for e in self.engine.journal.events(mission_id)]

    async def outcome(self, mission_id: str, seconds: float = 90.0) -> Outcome:
        """See :meth:`Backend.outcome`."""
        ended = await asyncio.wait_for(self.engine.wait(mission_id), seconds)
        return Outcome(ended.status, ended.result)


# Temporal ----------------------------------------------------------------------------------


def _view_card(card: Card) -> CardView:
    return CardView(
        action_id=card.action_id,
        tool=card.tool,
        title=card.title,
        arguments=json.loads(card.arguments_json),
        preview=card.preview,
        notice=card.notice,
        ask_person=card.ask_person,
        status=card.status,
        decision=card.decision,
        decided_by=card.decided_by,
    )


class TemporalBackend:
    """Missions on a Temporal server, through :mod:`app.temporal.client`.

    Args:
        client: A connected client.
        task_queue: The task queue a worker polls (one per test).
    """

    name: BackendName = "temporal"

    def __init__(self, client: Client, task_queue: str) -> None:
        self.client = client
        self.task_queue = task_queue

    def handle(self, mission_id: str) -> WorkflowHandle[Any, Any]:
        """The mission's workflow handle (for what only Temporal has: its history)."""
        from app.temporal import client

        return client.mission(self.client, mission_id)

    async def start(
        self, text: str, workspaces: Sequence[Path], settings: Settings, rules: Sequence[RuleSpec] = ()
    ) -> str:
        """See :meth:`Backend.start`."""
        from app.temporal import client
        from app.temporal._shapes import RuleData

        mission_id = f"m-{uuid.uuid4().hex[:12]}"
        rule_data = [
            RuleData(
                id=f"r-{n}",
                kind=rule.kind,
                description=rule.description,
                tool=rule.tool,
                conditions_json=json.dumps(rule.where or {}),
                mission_id=mission_id,
            )
            for n, rule in enumerate(rules, 1)
        ]
        start = client.mission_input(
            mission_id, text, [str(w) for w in workspaces], settings, rules=rule_data, heartbeat_seconds=5.0
        )
        await client.start_mission(self.client, start, self.task_queue)
        return mission_id

    async def pending(self, mission_id: str) -> list[CardView]:
        """See :meth:`Backend.pending`."""
        from app.temporal import client

        return [_view_card(c) for c in await client.pending(self.handle(mission_id))]

    async def cards(self, mission_id: str) -> list[CardView]:
        """See :meth:`Backend.cards`."""
        from app.temporal import client

        return [_view_card(c) for c in await client.cards(self.handle(mission_id))]

    async def decide(
        self,
        mission_id: str,
        action_id: str,
        kind: DecisionKind,
        arguments: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        """See :meth:`Backend.decide`."""
        from app.temporal import client
        from app.temporal._shapes import DecisionInput

        await client.decide(
            self.handle(mission_id), DecisionInput(action_id, kind, arguments=arguments, reason=reason)
        )

    async def events(self, mission_id: str) -> list[EventView]:
        """See :meth:`Backend.events`."""
        from app.temporal import client

        return [EventView(e.kind, e.summary, e.data) for e in await client.events(self.handle(mission_id))]

    async def outcome(self, mission_id: str, seconds: float = 90.0) -> Outcome:
        """See :meth:`Backend.outcome`."""
        ended = await asyncio.wait_for(self.handle(mission_id).result(), seconds)
        return Outcome(ended.status, ended.result)


@contextlib.asynccontextmanager
async def open_backend(name: BackendName, temporal_target: str | None = None) -> AsyncIterator[Backend]:
    """A backend for the ``async with`` block, closed at its end.

    Args:
        name: ``embedded``, ``temporal`` or ``engine-temporal``.
        temporal_target: On Temporal, the server's ``HOST:PORT`` (the session's dev server).

    Yields:
        The backend. On Temporal a worker of this process polls its own task queue until the
        block ends.

    Raises:
        ValueError: ``temporal`` without a target.
    """
    if name == "embedded":
        from app.engine import Engine

        engine = Engine()
        try:
            yield EmbeddedBackend(engine)
        finally:
            await engine.close()
        return
    if temporal_target is None:
        raise ValueError("The Temporal backend needs the server's address.")
    from temporalio.client import Client

    from app.temporal.activities import MissionActivities
    from app.temporal.worker import build_worker

    client = await Client.connect(temporal_target)
    queue = f"q-{uuid.uuid4().hex}"
    activities = MissionActivities()
    try:
        async with build_worker(client, queue, activities):
            if name == "temporal":
                yield TemporalBackend(client, queue)
            else:
                async with _engine_on_temporal(temporal_target, queue) as backend:
                    yield backend
    finally:
        await activities.close()


@contextlib.asynccontextmanager
async def _engine_on_temporal(target: str, queue: str) -> AsyncIterator[Backend]:
    """The engine's own facade with ``Settings(backend="temporal")`` on ``queue``."""
    from app.engine import Engine
    from app.settings import TemporalSettings

    overrides = {"backend": "temporal", "temporal": TemporalSettings(address=target, task_queue=queue)}
    engine = Engine()
    try:
        yield EmbeddedBackend(engine, overrides)
    finally:
        await engine.close()
