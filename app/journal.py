"""The journal: every mission, message, task, model call, tool call, proposed action and audit
event, in SQLite (WAL mode) through SQLModel.

The journal is written *before* anything happens (a proposed action is stored before anyone
is asked; an action is marked ``executing`` before its tool runs), so that after a crash a
mission can be resumed without repeating an action: an action found ``executing`` may have
happened and is never run again without a person's say.

Every audit event written here is also handed to the journal's listeners, which is how the
command line and the window learn what the engine does.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, cast

from sqlalchemy import Engine, bindparam, event, insert
from sqlalchemy import select as sql_select
from sqlalchemy.exc import DatabaseError
from sqlmodel import Field, Session, SQLModel, col, create_engine, select

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy import CursorResult
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.pool import ConnectionPoolEntry

from app import _schema

log = logging.getLogger(__name__)

MissionStatus = Literal["running", "done", "failed", "cancelled", "interrupted"]
TaskStatus = Literal["pending", "running", "done", "failed", "cancelled", "skipped"]
ActionStatus = Literal["pending", "approved", "rejected", "executing", "executed", "failed", "undone"]
ToolCallStatus = Literal["running", "done", "error", "rejected"]


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """A short unique id with a readable prefix, e.g. ``"m_3f9a0c1e2b"``."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


class Mission(SQLModel, table=True):
    """A mission: what a person asked for, and how it ended."""

    id: str = Field(primary_key=True)
    title: str
    text: str
    status: str = Field(default="running", index=True)
    result: str | None = None
    error: str | None = None
    workspaces_json: str = "[]"
    options_json: str = "{}"  # per-connector options (never secrets), to resume with
    lead_messages_json: str = "[]"
    tokens: int = 0
    owner_pid: int | None = None  # the process running it, to tell a crash from a live run
    started_at: datetime = Field(default_factory=utcnow, index=True)
    finished_at: datetime | None = None


class ChatMessage(SQLModel, table=True):
    """A line of a mission's chat: the person's, or the lead agent's."""

    id: int | None = Field(default=None, primary_key=True)
    mission_id: str = Field(index=True, foreign_key="mission.id")
    role: str  # "user" or "assistant"
    kind: str = "message"  # "message", "question" or "answer"
    text: str
    created_at: datetime = Field(default_factory=utcnow)


class Task(SQLModel, table=True):
    """A task the lead delegated to a sub-agent, with its conversation so far."""

    id: str = Field(primary_key=True)
    mission_id: str = Field(index=True, foreign_key="mission.id")
    key: str  # the id the lead gave it, unique within one delegation
    delegation_id: str = Field(default="", index=True)  # the lead's delegate call (tool_use id)
    agent: str
    instructions: str
    depends_on_json: str = "[]"
    status: str = "pending"
    result: str | None = None
    reason: str | None = None
    turns: int = 0
    tokens: int = 0
    messages_json: str = "[]"
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class ModelCall(SQLModel, table=True):
    """One request to the model, with its token usage."""

    id: int | None = Field(default=None, primary_key=True)
    mission_id: str = Field(index=True, foreign_key="mission.id")
    task_id: str | None = None  # None for the lead agent
    agent: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    stop_reason: str | None = None
    error: str | None = None
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class ToolCall(SQLModel, table=True):
    """One tool call an agent made, with its arguments and result."""

    id: str = Field(primary_key=True)  # our own id; tool_use_id is the model's
    tool_use_id: str = Field(index=True)
    mission_id: str = Field(index=True, foreign_key="mission.id")
    task_id: str | None = None
    agent: str
    tool: str
    effect: str
    arguments_json: str
    status: str = "running"
    result: str | None = None
    is_error: bool = False
    action_id: str | None = None
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class ProposedAction(SQLModel, table=True):
    """A call of a ``local`` or ``external`` tool, held until a person or a rule decides."""

    id: str = Field(primary_key=True)
    mission_id: str = Field(index=True, foreign_key="mission.id")
    task_id: str | None = None
    tool_call_id: str
    agent: str
    tool: str
    effect: str
    arguments_json: str
    preview_json: str
    status: str = Field(default="pending", index=True)
    decision: str | None = None  # "approve", "edit" or "reject"
    decided_by: str | None = None  # "person" or "rule:<id> (<description>)"
    edited_arguments_json: str | None = None
    reason: str | None = None
    notice: str | None = None  # what the card must tell the person (why asked, a warning)
    pre_state: str | None = None  # the tool's fingerprint of what it changes, just before it ran
    ask_person: bool = False  # no rule may decide it (its values came from outside content)
    result: str | None = None
    backup_json: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None
    executed_at: datetime | None = None


class Rule(SQLModel, table=True):
    """A standing decision: approve or reject proposed actions without asking."""

    id: str = Field(primary_key=True)
    kind: str  # "approve_all" or "reject_all"
    mission_id: str | None = Field(default=None, index=True)  # None: every mission
    tool: str | None = None  # None: every tool
    conditions_json: str = "{}"  # argument name -> shell-style pattern, all must match
    description: str
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class VouchedDestination(SQLModel, table=True):
    """A destination the person vouched for by hand: a site allowed for a mission, say."""

    id: int | None = Field(default=None, primary_key=True)
    mission_id: str | None = Field(default=None, index=True)  # None: every mission
    kind: str  # "address" or "host"
    value: str
    source: str  # in words, for the card: "you approved it earlier in this mission"
    action_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class AuditEvent(SQLModel, table=True):
    """One step of a mission, in order: what happened, to what, decided by whom."""

    id: int | None = Field(default=None, primary_key=True)
    mission_id: str = Field(index=True)
    task_id: str | None = None
    kind: str
    summary: str
    data_json: str = "{}"
    at: datetime = Field(default_factory=utcnow)

    @property
    def data(self) -> dict[str, Any]:
        """The event's details, decoded."""
        value: dict[str, Any] = json.loads(self.data_json)
        return value


@dataclass(frozen=True)
class VouchSources:
    """What :meth:`Journal.vouch_sources` returns: the person's own words in one mission.

    Attributes:
        text: The mission's text, or None if there is no such mission.
        options_json: Its options (allowed sites, the account), as JSON.
        messages: The person's chat messages, ``(kind, text)``, in order.
        rules: Active rules for the mission or all, ``(kind, conditions_json, description)``.
        vouched: Destinations vouched by hand, ``(kind, value, source)``.
    """

    text: str | None
    options_json: str
    messages: list[tuple[str, str]]
    rules: list[tuple[str, str, str]]
    vouched: list[tuple[str, str, str]]


@dataclass(frozen=True)
class Event:
    """What listeners receive: an audit event, or a transient one (``audit_id`` None).

    Transient events, such as streamed text, are not journaled.
    """

    kind: str
    mission_id: str
    task_id: str | None
    summary: str
    data: dict[str, Any]
    at: datetime
    audit_id: int | None = None


Listener = Callable[[Event], None]


_DAMAGE = ("file is not a database", "database disk image is malformed", "malformed database schema")


def _is_damage(exc: DatabaseError) -> bool:
    """Whether an error says the file is no (longer a) valid database, not that it is busy."""
    return any(words in str(exc.orig) for words in _DAMAGE)


def _move_aside(path: Path) -> Path:
    """Moves a damaged journal (and its WAL and shared-memory files) aside; returns where."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    for suffix in ("", "-wal", "-shm"):
        source = path.with_name(path.name + suffix)
        if source.exists():
            os.replace(source, target.with_name(target.name + suffix))
    return target


def _set_sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    # First, so that the next statements wait for another process instead of failing.
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable across application crashes in WAL mode; only a power loss can drop
    # the last commits, and never corrupts the file.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _process_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _vouch_queries() -> dict[str, Any]:
    """The gate's per-action queries, built once (building a statement costs more than running it)."""
    mission_id: Any = bindparam("mission_id")
    m = Mission.__table__.c  # type: ignore[attr-defined]
    chat = ChatMessage.__table__.c  # type: ignore[attr-defined]
    rule = Rule.__table__.c  # type: ignore[attr-defined]
    hand = VouchedDestination.__table__.c  # type: ignore[attr-defined]
    call = ToolCall.__table__.c  # type: ignore[attr-defined]
    return {
        "mission": sql_select(m.text, m.options_json).where(m.id == mission_id),
        "chat": sql_select(chat.kind, chat.text)
        .where(chat.mission_id == mission_id, chat.role == "user")
        .order_by(chat.id),
        "rules": sql_select(rule.kind, rule.conditions_json, rule.description)
        .where(rule.active.is_(True), (rule.mission_id == mission_id) | rule.mission_id.is_(None))
        .order_by(rule.created_at),
        "vouched": sql_select(hand.kind, hand.value, hand.source)
        .where((hand.mission_id == mission_id) | hand.mission_id.is_(None))
        .order_by(hand.id),
        "results": sql_select(call.tool, call.agent, call.is_error, call.result)
        .where(call.mission_id == mission_id, call.result.is_not(None))
        .order_by(call.started_at),
    }


_VOUCH_QUERIES = _vouch_queries()


def dumps(value: object) -> str:
    """JSON for the journal: compact, UTF-8 kept readable, dates as ISO strings."""
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


class Journal:
    """The SQLite journal. Safe to use from one asyncio loop and other threads.

    The schema is created or migrated on opening (see :mod:`app._schema`). A file that is
    not a usable SQLite database (damaged, truncated, overwritten) is moved aside, never
    deleted, and a fresh journal is started; :attr:`recovered` then says where the old one
    went, for the window and the command line to tell the person.

    Args:
        path: The SQLite file; created with its tables when missing.

    Raises:
        app._schema.SchemaError: The journal was made by a newer Ensemble, or another process
            kept it locked too long.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.recovered: Path | None = None
        """Where a damaged journal was moved when this one was started afresh, else None."""
        try:
            self.engine: Engine = self._open()
        except DatabaseError as exc:
            if not _is_damage(exc):
                raise
            self.recovered = _move_aside(path)
            log.warning("The journal %s is damaged (%s); it was moved to %s", path, exc.orig, self.recovered)
            self.engine = self._open()
        self._listeners: list[Listener] = []
        self._lock = threading.RLock()

    def _open(self) -> Engine:
        engine = create_engine(f"sqlite:///{self.path}", connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _set_sqlite_pragmas)
        try:
            _schema.upgrade(engine, self.path.with_name(self.path.name + ".lock"))
        except BaseException:
            # Whatever stops the upgrade (a damaged file, a lock timeout, Ctrl+C), the engine's
            # connections are closed before it propagates, so that a damaged file can be moved
            # aside; nothing is swallowed: it is raised again.
            engine.dispose()
            raise
        return engine

    def close(self) -> None:
        """Closes every connection."""
        self.engine.dispose()

    # Listeners -----------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Calls ``listener`` with every event from now on; returns a function that stops it.

        Listeners run in the thread that wrote the event (the engine's), so they must be
        quick and must not block; a window re-emits them as Qt signals.
        """
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def publish(self, event_: Event) -> None:
        """Hands an event to every listener."""
        for listener in list(self._listeners):
            listener(event_)

    # Sessions ------------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and keeps objects usable after it."""
        with self._lock, Session(self.engine, expire_on_commit=False) as session:
            yield session
            session.commit()

    def add(self, *rows: SQLModel) -> None:
        """Inserts or updates rows in one transaction."""
        with self.session() as session:
            for row in rows:
                session.add(row)

    def update(self, row: SQLModel, **changes: Any) -> None:
        """Sets attributes on a row and writes it."""
        for name, value in changes.items():
            setattr(row, name, value)
        self.add(row)

    # Audit ---------------------------------------------------------------------------

    def audit(
        self,
        mission_id: str,
        kind: str,
        summary: str,
        *,
        task_id: str | None = None,
        save: Sequence[SQLModel] = (),
        **data: Any,
    ) -> Event:
        """Records an audit event and hands it to the listeners.

        Args:
            mission_id: The mission it belongs to.
            kind: What happened, e.g. ``"tool_called"``, ``"action_decided"``.
            summary: One line for a person.
            task_id: The task, when a sub-agent did it.
            save: Rows written in the same transaction as the event (the state change the
                event reports), so that the two can never disagree after a crash.
            **data: Details, JSON-serialisable.
        """
        at = utcnow()
        # Audit events are the most frequent write (two per tool call): a Core insert costs a
        # fraction of building and flushing an ORM object, which the benchmark measures.
        statement = insert(AuditEvent).values(
            mission_id=mission_id, task_id=task_id, kind=kind, summary=summary, data_json=dumps(data), at=at
        )
        with self.session() as session:
            for row in save:
                session.add(row)
            session.flush()
            result = cast("CursorResult[Any]", session.execute(statement))
            audit_id = result.inserted_primary_key
        event_ = Event(
            kind=kind,
            mission_id=mission_id,
            task_id=task_id,
            summary=summary,
            data=data,
            at=at,
            audit_id=int(audit_id[0]) if audit_id else None,
        )
        self.publish(event_)
        return event_

    def notify(self, mission_id: str, kind: str, summary: str = "", **data: Any) -> None:
        """Hands a transient event (not journaled) to the listeners, e.g. streamed text."""
        self.publish(
            Event(
                kind=kind,
                mission_id=mission_id,
                task_id=data.pop("task_id", None),
                summary=summary,
                data=data,
                at=utcnow(),
            )
        )

    # Queries -------------------------------------------------------------------------

    def mission(self, mission_id: str) -> Mission | None:
        """The mission with that id (a unique prefix of it is enough), or None."""
        with self.session() as session:
            found = session.get(Mission, mission_id)
            if found is not None:
                return found
            matches = session.exec(
                select(Mission).where(col(Mission.id).startswith(mission_id)).limit(2)
            ).all()
            return matches[0] if len(matches) == 1 else None

    def missions(self, limit: int = 200, offset: int = 0, search: str | None = None) -> list[Mission]:
        """Missions, newest first: a page of ``limit`` after skipping ``offset``, optionally only
        those whose title or text contains ``search`` (any case)."""
        with self.session() as session:
            query = select(Mission)
            if search:
                pattern = f"%{search.replace('%', '').replace('_', '')}%"
                query = query.where(col(Mission.text).ilike(pattern) | col(Mission.title).ilike(pattern))
            query = query.order_by(col(Mission.started_at).desc()).offset(offset).limit(limit)
            return list(session.exec(query).all())

    def events(self, mission_id: str) -> list[AuditEvent]:
        """A mission's audit events, in order."""
        with self.session() as session:
            return list(
                session.exec(
                    select(AuditEvent).where(AuditEvent.mission_id == mission_id).order_by(col(AuditEvent.id))
                ).all()
            )

    def tasks(self, mission_id: str) -> list[Task]:
        """A mission's tasks, in the order they were created."""
        with self.session() as session:
            return list(
                session.exec(
                    select(Task).where(Task.mission_id == mission_id).order_by(col(Task.created_at))
                ).all()
            )

    def tool_call_for(self, mission_id: str, tool_use_id: str) -> ToolCall | None:
        """The journaled call of a model's tool_use id in a mission, if it was recorded."""
        with self.session() as session:
            return session.exec(
                select(ToolCall).where(ToolCall.mission_id == mission_id, ToolCall.tool_use_id == tool_use_id)
            ).first()

    def actions_of_call(self, tool_call_id: str) -> list[ProposedAction]:
        """The proposed actions one tool call made, oldest first (several for a browser click)."""
        with self.session() as session:
            return list(
                session.exec(
                    select(ProposedAction)
                    .where(ProposedAction.tool_call_id == tool_call_id)
                    .order_by(col(ProposedAction.created_at))
                ).all()
            )

    def delegation(self, mission_id: str, delegation_id: str) -> list[Task]:
        """The tasks one ``delegate`` call created, in order."""
        with self.session() as session:
            return list(
                session.exec(
                    select(Task)
                    .where(Task.mission_id == mission_id, Task.delegation_id == delegation_id)
                    .order_by(col(Task.created_at))
                ).all()
            )

    def action(self, action_id: str) -> ProposedAction | None:
        """The proposed action with that id (a unique prefix of it is enough), or None."""
        with self.session() as session:
            found = session.get(ProposedAction, action_id)
            if found is not None:
                return found
            matches = session.exec(
                select(ProposedAction).where(col(ProposedAction.id).startswith(action_id)).limit(2)
            ).all()
            return matches[0] if len(matches) == 1 else None

    def actions(self, mission_id: str | None = None, status: str | None = None) -> list[ProposedAction]:
        """Proposed actions, oldest first, optionally of one mission or one status."""
        with self.session() as session:
            query = select(ProposedAction)
            if mission_id is not None:
                query = query.where(ProposedAction.mission_id == mission_id)
            if status is not None:
                query = query.where(ProposedAction.status == status)
            return list(session.exec(query.order_by(col(ProposedAction.created_at))).all())

    def model_calls(self, mission_id: str) -> list[ModelCall]:
        """A mission's model calls, in order."""
        with self.session() as session:
            return list(
                session.exec(
                    select(ModelCall).where(ModelCall.mission_id == mission_id).order_by(col(ModelCall.id))
                ).all()
            )

    def tool_calls(self, mission_id: str) -> list[ToolCall]:
        """A mission's tool calls, in order."""
        with self.session() as session:
            return list(
                session.exec(
                    select(ToolCall)
                    .where(ToolCall.mission_id == mission_id)
                    .order_by(col(ToolCall.started_at))
                ).all()
            )

    def chat(self, mission_id: str) -> list[ChatMessage]:
        """A mission's chat, in order."""
        with self.session() as session:
            return list(
                session.exec(
                    select(ChatMessage)
                    .where(ChatMessage.mission_id == mission_id)
                    .order_by(col(ChatMessage.id))
                ).all()
            )

    def all_rules(self) -> list[Rule]:
        """Every active rule, oldest first."""
        with self.session() as session:
            query = select(Rule).where(col(Rule.active).is_(True)).order_by(col(Rule.created_at))
            return list(session.exec(query).all())

    def retire_rules(self, mission_id: str) -> int:
        """Deactivates a mission's own rules (they stay, for the audit); returns how many."""
        with self.session() as session:
            rows = session.exec(
                select(Rule).where(Rule.mission_id == mission_id, col(Rule.active).is_(True))
            ).all()
            for row in rows:
                row.active = False
                session.add(row)
            return len(rows)

    def rules(self, mission_id: str | None) -> list[Rule]:
        """Active rules that apply to a mission: its own, then the global ones."""
        with self.session() as session:
            query = select(Rule).where(col(Rule.active).is_(True))
            rows = session.exec(query.order_by(col(Rule.created_at))).all()
            own = [r for r in rows if r.mission_id == mission_id and mission_id is not None]
            return own + [r for r in rows if r.mission_id is None]

    def vouched(self, mission_id: str) -> list[VouchedDestination]:
        """Destinations the person vouched for by hand, for this mission or for all."""
        with self.session() as session:
            query = select(VouchedDestination).where(
                (col(VouchedDestination.mission_id) == mission_id)
                | col(VouchedDestination.mission_id).is_(None)
            )
            return list(session.exec(query.order_by(col(VouchedDestination.id))).all())

    def vouch_sources(self, mission_id: str) -> VouchSources:
        """Everything the person wrote that may vouch for a destination in a mission.

        Prepared column-only queries on one connection: the gate asks this before every
        external action, so it must cost little whatever the mission has read.
        """
        with self._lock, self.engine.connect() as connection:
            bound = {"mission_id": mission_id}
            row = connection.execute(_VOUCH_QUERIES["mission"], bound).first()
            messages = connection.execute(_VOUCH_QUERIES["chat"], bound).all()
            rules = connection.execute(_VOUCH_QUERIES["rules"], bound).all()
            hand = connection.execute(_VOUCH_QUERIES["vouched"], bound).all()
        return VouchSources(
            text=row[0] if row else None,
            options_json=row[1] if row else "{}",
            messages=[(str(k), str(t)) for k, t in messages],
            rules=[(str(k), str(c or "{}"), str(d)) for k, c, d in rules],
            vouched=[(str(k), str(v), str(s)) for k, v, s in hand],
        )

    def tool_results(self, mission_id: str) -> list[tuple[str, str, bool, str]]:
        """A mission's tool results as ``(tool, agent, is_error, result)``, in order."""
        with self._lock, self.engine.connect() as connection:
            rows = connection.execute(_VOUCH_QUERIES["results"], {"mission_id": mission_id}).all()
        return [(str(t), str(a), bool(e), str(r)) for t, a, e, r in rows]

    def interrupt_running(self) -> list[str]:
        """Marks missions left ``running`` by a process that died as ``interrupted``.

        A mission whose process is still alive (another window or command line using the
        same journal) is left alone.

        Returns:
            The ids of those missions.
        """
        with self.session() as session:
            rows = [
                row
                for row in session.exec(select(Mission).where(Mission.status == "running")).all()
                if not _process_alive(row.owner_pid)
            ]
            for row in rows:
                row.status = "interrupted"
                row.finished_at = utcnow()
                session.add(row)
            return [row.id for row in rows]
