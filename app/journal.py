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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, cast

from sqlalchemy import Engine, Index, bindparam, event, insert, literal_column, true, union_all
from sqlalchemy import delete as sql_delete
from sqlalchemy import select as sql_select
from sqlalchemy import text as sql_text
from sqlalchemy import update as sql_update
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
    tokens: int = 0
    owner_pid: int | None = None  # the process running it, to tell a crash from a live run
    started_at: datetime = Field(default_factory=utcnow, index=True)
    finished_at: datetime | None = None
    archived: bool = False  # put away by the person: the lists leave it out unless asked (0006)
    deleted_at: datetime | None = None  # deleted, its audit kept: no list shows it again (0006)


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
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class ConversationMessage(SQLModel, table=True):
    """One message of an agent's conversation with the model, stored once and never rewritten.

    The lead's conversation has ``task_id`` None; a sub-agent's has its task's id. A message
    that grew after it was stored (the person's chat added to the lead's last user turn) is
    stored as a second row with ``continues`` set, whose blocks :meth:`Journal.conversation`
    appends to the message before it.
    """

    __table_args__ = (Index("ix_conversationmessage_conversation", "mission_id", "task_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    mission_id: str = Field(foreign_key="mission.id")
    task_id: str | None = None
    role: str  # "user" or "assistant"
    continues: bool = False
    content_json: str
    created_at: datetime = Field(default_factory=utcnow)


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

    # Only the rules in force, by mission and tool: the gate's lookup (revision 0003).
    __table_args__ = (
        Index("ix_rule_in_force", "mission_id", "tool", "created_at", sqlite_where=sql_text("active = 1")),
    )

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


class Workflow(SQLModel, table=True):
    """A saved workflow: a mission template (its :class:`~app.api.workflows.WorkflowSpec` as
    JSON), its version, and where its schedule and trigger stand."""

    id: str = Field(primary_key=True)
    name: str = Field(unique=True)
    version: int = 1
    spec_json: str
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    next_run_at: datetime | None = Field(default=None, index=True)  # the schedule's next time (UTC)
    last_fired_at: datetime | None = None  # the due time the schedule last ran for
    trigger_state_json: str = "{}"  # what the trigger has seen (e.g. the last email's UID)


class WorkflowRun(SQLModel, table=True):
    """One run of a workflow: its mission, why it started, with which values and plan."""

    __table_args__ = (
        Index("ix_workflowrun_trigger", "workflow_id", "trigger_key", unique=True),
        Index("ix_workflowrun_history", "workflow_id", "started_at"),
    )

    id: str = Field(primary_key=True)
    workflow_id: str
    workflow_name: str
    version: int
    mission_id: str = Field(index=True, foreign_key="mission.id")
    reason: str  # "manual", "schedule", "catch_up" or "trigger"
    params_json: str = "{}"
    plan: str = "planned"  # "saved", "planned" or "replanned"
    trigger_key: str | None = None  # what started a trigger's run, so that it runs once
    started_at: datetime = Field(default_factory=utcnow)


class DecisionRequest(SQLModel, table=True):
    """A person's decision on a proposed action, made in another process than the one whose
    mission waits for it (``ensemble decide`` while ``ensemble service`` runs the mission);
    the owning process takes it within a second (see :meth:`app.engine.Engine.request_decision`)."""

    id: int | None = Field(default=None, primary_key=True)
    action_id: str = Field(index=True)
    kind: str  # "approve" or "reject"
    reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    taken_at: datetime | None = None


class Memory(SQLModel, table=True):
    """A fact or preference the person keeps for the lead ("sign emails as Ana"), for every
    mission (``workspace`` None) or for the missions of one folder (revision 0007).

    Only the person adds one: by hand, or by approving the lead's ``remember`` proposal
    (``mission_id`` and ``call_id`` then say which, so that a resumed mission can tell
    whether it was stored).
    """

    __table_args__ = (Index("ix_memory_scope", "workspace", "updated_at"),)

    id: str = Field(primary_key=True)
    text: str
    workspace: str | None = None  # an absolute folder; None: every mission
    source: str  # in words: "you added it", "you approved it in a mission"
    mission_id: str | None = None
    call_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


MEMORY_READ = 200
"""The most memory items any query reads (app.memory.MAX_ITEMS: no more are kept)."""


@dataclass(frozen=True)
class VouchSources:
    """What :meth:`Journal.vouch_sources` returns: the person's own words in one mission.

    Attributes:
        text: The mission's text, or None if there is no such mission.
        options_json: Its options (allowed sites, the account), as JSON.
        messages: The person's chat messages, ``(kind, text)``, in order.
        rules: Active rules for the mission or all, ``(kind, conditions_json, description)``.
        vouched: Destinations vouched by hand, ``(kind, value, source)``.
        workspaces: The mission's folders.
        memories: The person's memory, ``(text, workspace)``, the most recently changed
            first (at most :data:`MEMORY_READ` items; :mod:`app.memory` keeps no more).
    """

    text: str | None
    options_json: str
    messages: list[tuple[str, str]]
    rules: list[tuple[str, str, str]]
    vouched: list[tuple[str, str, str]]
    workspaces: list[str] = field(default_factory=list)
    memories: list[tuple[str, str | None]] = field(default_factory=list)


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
    remembered = Memory.__table__.c  # type: ignore[attr-defined]
    call = ToolCall.__table__.c  # type: ignore[attr-defined]
    return {
        "mission": sql_select(m.text, m.options_json, m.workspaces_json).where(m.id == mission_id),
        "memory": sql_select(remembered.text, remembered.workspace)
        .order_by(remembered.updated_at.desc())
        .limit(MEMORY_READ),
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


def _conversation_queries() -> dict[bool, Any]:
    c = ConversationMessage.__table__.c  # type: ignore[attr-defined]
    columns = sql_select(c.role, c.continues, c.content_json).where(c.mission_id == bindparam("mission_id"))
    return {
        True: columns.where(c.task_id.is_(None)).order_by(c.id),
        False: columns.where(c.task_id == bindparam("task_id")).order_by(c.id),
    }


_CONVERSATION_QUERIES = _conversation_queries()


class Conversation(list[dict[str, Any]]):
    """An agent's messages as :meth:`Journal.conversation` loaded them.

    Attributes:
        saved: What of it is in the journal: ``(messages, blocks of the last one)``, so that
            only what is added afterwards is written.
    """

    saved: tuple[int, int] = (0, 0)


def blocks(message: dict[str, Any]) -> int:
    """How many content blocks a message has (a string content is one)."""
    content = message["content"]
    return 1 if isinstance(content, str) else len(content)


def _rules_query() -> Any:
    """The rules in force for one mission and one tool: the mission's own (its tool's and
    every tool's), then every mission's, each by age. Four lookups of ``ix_rule_in_force``
    (``active = 1`` is what lets SQLite use that partial index), built once."""
    rule = Rule.__table__.c  # type: ignore[attr-defined]
    mission_id: Any = bindparam("mission_id")
    tool: Any = bindparam("tool")

    def part(scope: int, mission: Any, tools: Any) -> Any:
        return sql_select(*rule, literal_column(str(scope)).label("scope")).where(
            rule.active == true(), mission, tools
        )

    union = union_all(
        part(0, rule.mission_id == mission_id, rule.tool == tool),
        part(0, rule.mission_id == mission_id, rule.tool.is_(None)),
        part(1, rule.mission_id.is_(None), rule.tool == tool),
        part(1, rule.mission_id.is_(None), rule.tool.is_(None)),
    ).order_by(sql_text("scope"), sql_text("created_at"))
    return union


_RULES_QUERY = _rules_query()


def dumps(value: object) -> str:
    """JSON for the journal: compact, UTF-8 kept readable, dates as ISO strings."""
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def _db_value(value: object) -> object:
    """A value as SQLAlchemy's SQLite dialect stores it, for the prepared statements below."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    return value


_INSERT_SQL: dict[tuple[str, tuple[str, ...]], str] = {}
_UPDATE_SQL: dict[tuple[str, tuple[str, ...]], str] = {}
_COLUMNS: dict[str, tuple[str, ...]] = {}
_EVENT_SQL = (
    "INSERT INTO auditevent (mission_id, task_id, kind, summary, data_json, at) VALUES (?, ?, ?, ?, ?, ?)"
)


def _insert_sql(table: str, names: tuple[str, ...]) -> str:
    """``INSERT`` of some columns into a table (built once per table and columns)."""
    sql = _INSERT_SQL.get((table, names))
    if sql is None:
        columns = ", ".join(f'"{n}"' for n in names)
        sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' for _ in names)})"
        _INSERT_SQL[(table, names)] = sql
    return sql


def _update_sql(table: str, names: tuple[str, ...]) -> str:
    """``UPDATE`` of some columns of a row by its ``id`` (built once per table and columns)."""
    sql = _UPDATE_SQL.get((table, names))
    if sql is None:
        sets = ", ".join(f'"{n}" = ?' for n in names)
        sql = f"UPDATE {table} SET {sets} WHERE id = ?"
        _UPDATE_SQL[(table, names)] = sql
    return sql


def _columns(row: SQLModel) -> tuple[str, tuple[str, ...]]:
    """A row's table name and column names."""
    table = row.__table__  # type: ignore[attr-defined]
    names = _COLUMNS.get(table.name)
    if names is None:
        names = _COLUMNS[table.name] = tuple(c.name for c in table.columns)
    return table.name, names


@dataclass
class _PendingEvent:
    mission_id: str
    task_id: str | None
    kind: str
    summary: str
    data: dict[str, Any]
    at: datetime


class Batch:
    """The journal writes of one agent's turn, committed together in one transaction.

    An agent's turn (the model's reply, its usage, the read-only tool calls it made, their
    results and the conversation's new messages) is one transaction, written by prepared
    statements: a crash before the commit loses the whole turn, and the model is asked for
    it again, which repeats nothing but reads. Whatever must be on disk before it happens
    (a proposed action, an action about to run, a sub-agent's work) commits the batch first:
    see :meth:`commit`. Its audit events reach the listeners when they are committed.

    Args:
        journal: The journal it commits to.
        defer_calls: Whether read-only tool calls join the batch. The lead's do not: its
            ``delegate`` runs sub-agents that journal their own work, which must come after
            the call that started them.

    Attributes:
        resuming: The model's ids of the tool calls a resumed agent finishes (its last turn,
            journaled before the restart); only these are looked up in the journal.
    """

    def __init__(self, journal: Journal, *, defer_calls: bool = True) -> None:
        self.journal = journal
        self.defer_calls = defer_calls
        self.resuming: frozenset[str] = frozenset()
        self._writes: list[tuple[str, tuple[object, ...]]] = []
        self._events: list[_PendingEvent] = []

    @property
    def pending(self) -> bool:
        """Whether anything waits to be committed."""
        return bool(self._writes or self._events)

    def insert(self, row: SQLModel) -> None:
        """Inserts a new row (its primary key set, or an integer one left to the database)."""
        table, names = _columns(row)
        self.insert_values(table, {n: getattr(row, n) for n in names})

    def update(self, row: SQLModel, *names: str) -> None:
        """Writes some columns of a row, as they are now, by its ``id``."""
        table, _names = _columns(row)
        self.update_values(table, getattr(row, "id"), {n: getattr(row, n) for n in names})  # noqa: B009

    def insert_values(self, table: str, values: dict[str, object]) -> None:
        """Inserts a row given as column values, without building a model object: on the hot
        path an ORM object costs more than the write itself."""
        sql = _insert_sql(table, tuple(values))
        self._writes.append((sql, tuple(_db_value(v) for v in values.values())))

    def update_values(self, table: str, row_id: object, values: dict[str, object]) -> None:
        """Writes some columns of the row whose ``id`` is ``row_id``."""
        sql = _update_sql(table, tuple(values))
        self._writes.append((sql, (*(_db_value(v) for v in values.values()), row_id)))

    def message(
        self, mission_id: str, task_id: str | None, role: str, content: object, *, continues: bool
    ) -> None:
        """Appends a conversation message (or, with ``continues``, more blocks of the last one)."""
        self.insert_values(
            "conversationmessage",
            {
                "mission_id": mission_id,
                "task_id": task_id,
                "role": role,
                "continues": continues,
                "content_json": dumps(content),
                "created_at": utcnow(),
            },
        )

    def audit(
        self, mission_id: str, kind: str, summary: str, *, task_id: str | None = None, **data: Any
    ) -> None:
        """Records an audit event, published when the batch commits (see :meth:`Journal.audit`)."""
        self._events.append(_PendingEvent(mission_id, task_id, kind, summary, data, utcnow()))

    def commit(self) -> None:
        """Writes everything pending in one transaction, then hands its events to the listeners."""
        if self.pending:
            writes, events = self._writes, self._events
            self._writes, self._events = [], []
            self.journal.commit(writes, events)


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
        self._raw: Any = None  # the pooled connection batches commit on, checked out once

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
        with self._lock:
            if self._raw is not None:
                self._raw.close()
                self._raw = None
        self.engine.dispose()

    def batch(self, *, defer_calls: bool = True) -> Batch:
        """A new :class:`Batch` of writes for this journal (see its ``defer_calls``)."""
        return Batch(self, defer_calls=defer_calls)

    def commit(
        self, writes: Sequence[tuple[str, tuple[object, ...]]], events: Sequence[_PendingEvent]
    ) -> None:
        """Runs a batch's prepared statements and inserts its events in one transaction.

        Uses one connection of the engine's pool, kept for the journal's life, whose
        ``sqlite3`` statement cache makes every statement a prepared one after its first use.
        """
        published: list[Event] = []
        with self._lock:
            if self._raw is None:
                self._raw = self.engine.raw_connection()
            connection = self._raw.driver_connection
            try:
                cursor = connection.cursor()
                for sql, values in writes:
                    cursor.execute(sql, values)
                for pending in events:
                    cursor.execute(
                        _EVENT_SQL,
                        (
                            pending.mission_id,
                            pending.task_id,
                            pending.kind,
                            pending.summary,
                            dumps(pending.data),
                            _db_value(pending.at),
                        ),
                    )
                    published.append(
                        Event(
                            kind=pending.kind,
                            mission_id=pending.mission_id,
                            task_id=pending.task_id,
                            summary=pending.summary,
                            data=pending.data,
                            at=pending.at,
                            audit_id=cursor.lastrowid,
                        )
                    )
                connection.commit()
            except BaseException:
                # Whatever stopped it, nothing of the batch stays half-written; it propagates.
                connection.rollback()
                raise
        for event_ in published:
            self.publish(event_)

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

    def missions(
        self, limit: int = 200, offset: int = 0, search: str | None = None, archived: bool | None = False
    ) -> list[Mission]:
        """Missions, newest first: a page of ``limit`` after skipping ``offset``, optionally only
        those whose title or text contains ``search`` (any case).

        ``archived`` False (the default) leaves the archived missions out, True gives them
        alone, None gives both. A deleted mission (its audit kept) is never listed.
        """
        with self.session() as session:
            query = select(Mission).where(col(Mission.deleted_at).is_(None))
            if archived is not None:
                query = query.where(col(Mission.archived) == archived)
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

    def conversation(self, mission_id: str, task_id: str | None = None) -> Conversation:
        """An agent's conversation as journaled: the lead's (``task_id`` None) or a task's."""
        query = _CONVERSATION_QUERIES[task_id is None]
        with self._lock, self.engine.connect() as connection:
            rows = connection.execute(query, {"mission_id": mission_id, "task_id": task_id}).all()
        messages = Conversation()
        for role, continues, content_json in rows:
            content = json.loads(content_json)
            if continues and messages:
                last = messages[-1]
                earlier = last["content"]
                if isinstance(earlier, str):
                    earlier = [{"type": "text", "text": earlier}]
                last["content"] = [*earlier, *content]
            else:
                messages.append({"role": role, "content": content})
        messages.saved = len(messages), blocks(messages[-1]) if messages else 0
        return messages

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

    def rules(self, mission_id: str | None, tool: str | None = None) -> list[Rule]:
        """Active rules that apply to a mission: its own, then the global ones, each by age.

        Args:
            mission_id: The mission; None for the global rules alone.
            tool: Only the rules of this tool and those of every tool (what can decide one
                action of it: an indexed lookup); None for the rules of every tool.
        """
        if tool is not None:
            with self._lock, self.engine.connect() as connection:
                found = connection.execute(_RULES_QUERY, {"mission_id": mission_id, "tool": tool}).all()
            # Built from the rows without the ORM's loading (the gate asks before every decision):
            # copies to read, like every row this journal returns outside a session.
            return [
                Rule.model_construct(**{k: v for k, v in row._mapping.items() if k != "scope"})
                for row in found
            ]
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
            remembered = connection.execute(_VOUCH_QUERIES["memory"]).all() if row else []
        return VouchSources(
            text=row[0] if row else None,
            options_json=row[1] if row else "{}",
            messages=[(str(k), str(t)) for k, t in messages],
            rules=[(str(k), str(c or "{}"), str(d)) for k, c, d in rules],
            vouched=[(str(k), str(v), str(s)) for k, v, s in hand],
            workspaces=[str(w) for w in json.loads(row[2] or "[]")] if row else [],
            memories=[(str(t), None if w is None else str(w)) for t, w in remembered],
        )

    # The person's memory (see app.memory) ----------------------------------------------

    def memories(self, workspaces: Sequence[str] | None = None, limit: int = 200) -> list[Memory]:
        """Memory items, the most recently changed first, at most ``limit`` of them.

        Args:
            workspaces: None for every item; else the items for every mission and those of
                these folders (exact paths: :mod:`app.memory` passes each folder's parents too).
            limit: The most rows read.
        """
        with self.session() as session:
            query = select(Memory)
            if workspaces is not None:
                query = query.where(
                    col(Memory.workspace).is_(None) | col(Memory.workspace).in_(list(workspaces))
                )
            query = query.order_by(col(Memory.updated_at).desc(), col(Memory.id)).limit(limit)
            return list(session.exec(query).all())

    def memory(self, memory_id: str) -> Memory | None:
        """The memory item with that id (a unique prefix of it is enough), or None."""
        with self.session() as session:
            found = session.get(Memory, memory_id)
            if found is not None:
                return found
            matches = session.exec(select(Memory).where(col(Memory.id).startswith(memory_id)).limit(2)).all()
            return matches[0] if len(matches) == 1 else None

    def memory_of_call(self, mission_id: str, call_id: str) -> Memory | None:
        """The memory item a mission's ``remember`` call stored, or None if it stored none."""
        with self.session() as session:
            return session.exec(
                select(Memory).where(Memory.mission_id == mission_id, Memory.call_id == call_id)
            ).first()

    def count_memories(self) -> int:
        """How many memory items there are."""
        with self._lock, self.engine.connect() as connection:
            return int(connection.execute(sql_text("SELECT count(*) FROM memory")).scalar_one())

    def update_memory(self, memory_id: str, text: str) -> Memory | None:
        """Changes a memory item's text; returns it, or None if there is no such item."""
        with self.session() as session:
            row = session.get(Memory, memory_id)
            if row is not None:
                row.text, row.updated_at = text, utcnow()
                session.add(row)
            return row

    def delete_memory(self, memory_id: str) -> bool:
        """Removes a memory item; returns whether there was one."""
        with self.session() as session:
            row = session.get(Memory, memory_id)
            if row is None:
                return False
            session.delete(row)
            return True

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

    # The person's housekeeping ----------------------------------------------------------

    def rename_mission(self, mission_id: str, title: str) -> Mission | None:
        """Gives a mission another title; returns it, or None if there is no such mission."""
        with self.session() as session:
            row = session.get(Mission, mission_id)
            if row is not None:
                row.title = title
                session.add(row)
            return row

    def archive_mission(self, mission_id: str, archived: bool = True) -> Mission | None:
        """Archives a mission (or brings it back, ``archived`` False); returns it, or None if
        there is no such mission."""
        with self.session() as session:
            row = session.get(Mission, mission_id)
            if row is not None:
                row.archived = archived
                session.add(row)
            return row

    def delete_mission(self, mission_id: str, *, keep_audit: bool = True) -> bool:
        """Deletes a mission in one transaction; returns whether there was one.

        With ``keep_audit`` its chat, its agents' conversations, its tasks and its tool calls
        go, its own rules are retired, an interrupted mission is marked stopped (it can never
        carry on), and the mission is marked deleted (:attr:`Mission.deleted_at`):
        no list shows it again, while its audit events, its proposed actions (and so their
        undo), its model calls (tokens and cost) and its workflow run stay, for
        ``ensemble audit``. Without, every row of the mission goes.
        """
        content = (ChatMessage, ConversationMessage, Task, ToolCall)
        with self.session() as session:
            row = session.get(Mission, mission_id)
            if row is None:
                return False
            for model in content:
                session.execute(sql_delete(model).where(col(model.mission_id) == mission_id))
            if keep_audit:
                session.execute(
                    sql_update(Rule).where(col(Rule.mission_id) == mission_id).values(active=False)
                )
                row.deleted_at = utcnow()
                if row.status == "interrupted":  # it can never carry on: its conversation is gone
                    row.status = "cancelled"
                    row.error = "Deleted before it finished."
                session.add(row)
                return True
            actions = sql_select(col(ProposedAction.id)).where(col(ProposedAction.mission_id) == mission_id)
            session.execute(sql_delete(DecisionRequest).where(col(DecisionRequest.action_id).in_(actions)))
            for owned in (ProposedAction, ModelCall, AuditEvent, Rule, VouchedDestination, WorkflowRun):
                session.execute(sql_delete(owned).where(col(owned.mission_id) == mission_id))
            session.delete(row)
            return True
