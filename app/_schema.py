"""The journal's schema, created and migrated with Alembic's operations, under a file lock.

Every change to the journal's tables is a revision here, applied in order, and the revision a
journal is at is kept in Alembic's ``alembic_version`` table. Several processes opening a
fresh ``ENSEMBLE_HOME`` at once (the window, the command line, a second window) take turns on
a lock file beside the journal, so none of them sees a half-made schema. A journal made
before revisions existed has the first revision's tables and is taken to be at it.

Revisions are Python functions, not files Alembic finds in a folder, so that the desktop
bundle needs nothing beyond the modules it already has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.errors import EnsembleError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from alembic.operations import Operations
    from sqlalchemy import Connection, Engine

# SQLAlchemy, Alembic and filelock are imported where they are used, not here: the read-only
# path (app.reader) imports this module for HEAD alone, to tell cheaply whether a journal
# needs a migration at all, and must not pay for them when it does not.

VERSION_TABLE = "alembic_version"


class SchemaError(EnsembleError):
    """The journal's schema cannot be brought up to date; the message says why."""


_INITIAL = [
    """CREATE TABLE auditevent (
    id INTEGER NOT NULL,
    mission_id VARCHAR NOT NULL,
    task_id VARCHAR,
    kind VARCHAR NOT NULL,
    summary VARCHAR NOT NULL,
    data_json VARCHAR NOT NULL,
    at DATETIME NOT NULL,
    PRIMARY KEY (id)
)""",
    "CREATE INDEX ix_auditevent_mission_id ON auditevent (mission_id)",
    """CREATE TABLE mission (
    id VARCHAR NOT NULL,
    title VARCHAR NOT NULL,
    text VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    result VARCHAR,
    error VARCHAR,
    workspaces_json VARCHAR NOT NULL,
    options_json VARCHAR NOT NULL,
    lead_messages_json VARCHAR NOT NULL,
    tokens INTEGER NOT NULL,
    owner_pid INTEGER,
    started_at DATETIME NOT NULL,
    finished_at DATETIME,
    PRIMARY KEY (id)
)""",
    "CREATE INDEX ix_mission_started_at ON mission (started_at)",
    "CREATE INDEX ix_mission_status ON mission (status)",
    """CREATE TABLE rule (
    id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    mission_id VARCHAR,
    tool VARCHAR,
    conditions_json VARCHAR NOT NULL,
    description VARCHAR NOT NULL,
    active BOOLEAN NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (id)
)""",
    "CREATE INDEX ix_rule_mission_id ON rule (mission_id)",
    """CREATE TABLE chatmessage (
    id INTEGER NOT NULL,
    mission_id VARCHAR NOT NULL,
    role VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    text VARCHAR NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY(mission_id) REFERENCES mission (id)
)""",
    "CREATE INDEX ix_chatmessage_mission_id ON chatmessage (mission_id)",
    """CREATE TABLE modelcall (
    id INTEGER NOT NULL,
    mission_id VARCHAR NOT NULL,
    task_id VARCHAR,
    agent VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    stop_reason VARCHAR,
    error VARCHAR,
    started_at DATETIME NOT NULL,
    finished_at DATETIME,
    PRIMARY KEY (id),
    FOREIGN KEY(mission_id) REFERENCES mission (id)
)""",
    "CREATE INDEX ix_modelcall_mission_id ON modelcall (mission_id)",
    """CREATE TABLE proposedaction (
    id VARCHAR NOT NULL,
    mission_id VARCHAR NOT NULL,
    task_id VARCHAR,
    tool_call_id VARCHAR NOT NULL,
    agent VARCHAR NOT NULL,
    tool VARCHAR NOT NULL,
    effect VARCHAR NOT NULL,
    arguments_json VARCHAR NOT NULL,
    preview_json VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    decision VARCHAR,
    decided_by VARCHAR,
    edited_arguments_json VARCHAR,
    reason VARCHAR,
    notice VARCHAR,
    pre_state VARCHAR,
    ask_person BOOLEAN NOT NULL,
    result VARCHAR,
    backup_json VARCHAR,
    created_at DATETIME NOT NULL,
    decided_at DATETIME,
    executed_at DATETIME,
    PRIMARY KEY (id),
    FOREIGN KEY(mission_id) REFERENCES mission (id)
)""",
    "CREATE INDEX ix_proposedaction_mission_id ON proposedaction (mission_id)",
    "CREATE INDEX ix_proposedaction_status ON proposedaction (status)",
    """CREATE TABLE task (
    id VARCHAR NOT NULL,
    mission_id VARCHAR NOT NULL,
    "key" VARCHAR NOT NULL,
    delegation_id VARCHAR NOT NULL,
    agent VARCHAR NOT NULL,
    instructions VARCHAR NOT NULL,
    depends_on_json VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    result VARCHAR,
    reason VARCHAR,
    turns INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    messages_json VARCHAR NOT NULL,
    created_at DATETIME NOT NULL,
    started_at DATETIME,
    finished_at DATETIME,
    PRIMARY KEY (id),
    FOREIGN KEY(mission_id) REFERENCES mission (id)
)""",
    "CREATE INDEX ix_task_delegation_id ON task (delegation_id)",
    "CREATE INDEX ix_task_mission_id ON task (mission_id)",
    """CREATE TABLE toolcall (
    id VARCHAR NOT NULL,
    tool_use_id VARCHAR NOT NULL,
    mission_id VARCHAR NOT NULL,
    task_id VARCHAR,
    agent VARCHAR NOT NULL,
    tool VARCHAR NOT NULL,
    effect VARCHAR NOT NULL,
    arguments_json VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    result VARCHAR,
    is_error BOOLEAN NOT NULL,
    action_id VARCHAR,
    started_at DATETIME NOT NULL,
    finished_at DATETIME,
    PRIMARY KEY (id),
    FOREIGN KEY(mission_id) REFERENCES mission (id)
)""",
    "CREATE INDEX ix_toolcall_mission_id ON toolcall (mission_id)",
    "CREATE INDEX ix_toolcall_tool_use_id ON toolcall (tool_use_id)",
]
"""The tables as Ensemble made them before revisions existed, frozen."""


def _initial(op: Operations) -> None:
    for statement in _INITIAL:
        op.execute(statement)


def _vouched_destinations(op: Operations) -> None:
    import sqlalchemy as sa

    op.create_table(
        "voucheddestination",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("mission_id", sa.String, nullable=True),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("value", sa.String, nullable=False),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("action_id", sa.String, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_voucheddestination_mission_id", "voucheddestination", ["mission_id"])


def _rules_in_force_index(op: Operations) -> None:
    # The gate looks up the rules of one mission (or every mission) and one tool (or every
    # tool) before each decision; a partial index holds only the rules in force, so that
    # retired ones (every ended mission's --approve rule) cost nothing however many pile up.
    # A lookup must say ``active = 1`` for SQLite to use it.
    op.execute("CREATE INDEX ix_rule_in_force ON rule (mission_id, tool, created_at) WHERE active = 1")


def _conversation_messages(op: Operations) -> None:
    """Conversations become append-only rows (one per message) instead of a JSON column that
    was rewritten whole twice per turn; the conversations already journaled are moved over."""
    import json

    import sqlalchemy as sa

    op.create_table(
        "conversationmessage",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("mission_id", sa.String, sa.ForeignKey("mission.id"), nullable=False),
        sa.Column("task_id", sa.String, nullable=True),
        sa.Column("role", sa.String, nullable=False),
        sa.Column("continues", sa.Boolean, nullable=False),
        sa.Column("content_json", sa.String, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index(
        "ix_conversationmessage_conversation", "conversationmessage", ["mission_id", "task_id", "id"]
    )
    connection = op.get_bind()
    rows = [
        *connection.execute(sa.text("SELECT id, NULL, lead_messages_json, started_at FROM mission")),
        *connection.execute(sa.text("SELECT mission_id, id, messages_json, created_at FROM task")),
    ]
    insert = sa.text(
        "INSERT INTO conversationmessage (mission_id, task_id, role, continues, content_json, created_at) "
        "VALUES (:mission_id, :task_id, :role, 0, :content_json, :created_at)"
    )
    for mission_id, task_id, messages_json, created_at in rows:
        for message in json.loads(messages_json or "[]"):
            connection.execute(
                insert,
                {
                    "mission_id": mission_id,
                    "task_id": task_id,
                    "role": message["role"],
                    "content_json": json.dumps(message["content"], ensure_ascii=False, separators=(",", ":")),
                    "created_at": created_at,
                },
            )
    # SQLite drops a column in place (3.35 and later); a batch copy of the table would have to
    # drop the mission table, which other tables' foreign keys refer to.
    op.execute("ALTER TABLE mission DROP COLUMN lead_messages_json")
    op.execute("ALTER TABLE task DROP COLUMN messages_json")


def _workflows(op: Operations) -> None:
    """Saved workflows and their runs (issue 16), and decisions made in another process."""
    import sqlalchemy as sa

    op.create_table(
        "workflow",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("name", sa.String, nullable=False, unique=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("spec_json", sa.String, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("next_run_at", sa.DateTime, nullable=True),
        sa.Column("last_fired_at", sa.DateTime, nullable=True),
        sa.Column("trigger_state_json", sa.String, nullable=False),
    )
    op.create_index("ix_workflow_next_run_at", "workflow", ["next_run_at"])
    op.create_table(
        "workflowrun",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("workflow_id", sa.String, nullable=False),
        sa.Column("workflow_name", sa.String, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("mission_id", sa.String, sa.ForeignKey("mission.id"), nullable=False),
        sa.Column("reason", sa.String, nullable=False),
        sa.Column("params_json", sa.String, nullable=False),
        sa.Column("plan", sa.String, nullable=False),
        sa.Column("trigger_key", sa.String, nullable=True),
        sa.Column("started_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_workflowrun_mission_id", "workflowrun", ["mission_id"])
    op.create_index("ix_workflowrun_trigger", "workflowrun", ["workflow_id", "trigger_key"], unique=True)
    op.create_index("ix_workflowrun_history", "workflowrun", ["workflow_id", "started_at"])
    op.create_table(
        "decisionrequest",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("action_id", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("reason", sa.String, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("taken_at", sa.DateTime, nullable=True),
    )
    op.create_index("ix_decisionrequest_action_id", "decisionrequest", ["action_id"])


def _mission_archive(op: Operations) -> None:
    """Missions the person archived (left out of the lists unless asked for) or deleted while
    keeping their audit (left out of every list) (issue 17). Rows already there are neither."""
    import sqlalchemy as sa

    op.add_column("mission", sa.Column("archived", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("mission", sa.Column("deleted_at", sa.DateTime, nullable=True))


def _memory(op: Operations) -> None:
    """The person's memory of facts and preferences for the lead (issue 18): for every mission
    (``workspace`` NULL) or for one folder's missions."""
    import sqlalchemy as sa

    op.create_table(
        "memory",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("text", sa.String, nullable=False),
        sa.Column("workspace", sa.String, nullable=True),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("mission_id", sa.String, nullable=True),
        sa.Column("call_id", sa.String, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_memory_scope", "memory", ["workspace", "updated_at"])


REVISIONS: list[tuple[str, Callable[[Operations], None]]] = [
    ("0001_initial", _initial),
    ("0002_vouched_destinations", _vouched_destinations),
    ("0003_rules_in_force_index", _rules_in_force_index),
    ("0004_conversation_messages", _conversation_messages),
    ("0005_workflows", _workflows),
    ("0006_mission_archive", _mission_archive),
    ("0007_memory", _memory),
]
"""Every revision, oldest first: ``(id, upgrade)``."""

HEAD = REVISIONS[-1][0]


def upgrade(engine: Engine, lock_path: Path, *, timeout: float = 60.0) -> list[str]:
    """Brings the journal's schema to the newest revision.

    Args:
        engine: The journal's engine.
        lock_path: The lock file that makes processes take turns (beside the journal).
        timeout: Seconds to wait for another process's upgrade.

    Returns:
        The ids of the revisions applied (empty when it was up to date).

    Raises:
        SchemaError: Another process holds the lock too long, or the journal was made by a
            newer Ensemble.
        sqlalchemy.exc.DatabaseError: The file is not a usable SQLite database.
    """
    from filelock import FileLock, Timeout

    try:
        with FileLock(str(lock_path), timeout=timeout), engine.begin() as connection:
            return _upgrade(connection)
    except Timeout as exc:
        raise SchemaError(
            f"Another Ensemble process has been preparing the journal for over {timeout:g} s "
            f"(lock {lock_path}); close it and try again."
        ) from exc


def _upgrade(connection: Connection) -> list[str]:
    import sqlalchemy as sa

    if _version(connection) == HEAD:
        return []  # up to date, as at every start but the first: Alembic (slow to import) is not needed
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    current = context.get_current_revision()
    if current is None and sa.inspect(connection).has_table("mission"):
        current = REVISIONS[0][0]  # made before revisions: it has the first revision's tables
        _set_version(connection, None, current)
    ids = [revision for revision, _ in REVISIONS]
    if current is not None and current not in ids:
        raise SchemaError(
            f"The journal was made by a newer version of Ensemble (schema {current}); update Ensemble "
            "to open it."
        )
    start = ids.index(current) + 1 if current is not None else 0
    applied = []
    operations = Operations(context)
    for revision, step in REVISIONS[start:]:
        step(operations)
        _set_version(connection, current, revision)
        current = revision
        applied.append(revision)
    return applied


def _version(connection: Connection) -> str | None:
    """The journal's revision as its version table says, read with plain SQL; None if it has none."""
    import sqlalchemy as sa

    exists = sa.text("SELECT name FROM sqlite_master WHERE type = 'table' AND name = :name")
    table = connection.execute(exists, {"name": VERSION_TABLE}).first()
    if table is None:
        return None
    row = connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).first()
    return None if row is None else str(row[0])


def _set_version(connection: Connection, old: str | None, new: str) -> None:
    import sqlalchemy as sa

    connection.execute(
        sa.text(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
    )
    if old is None:
        connection.execute(sa.text(f"DELETE FROM {VERSION_TABLE}"))
        connection.execute(sa.text(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES (:v)"), {"v": new})
    else:
        connection.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = :v"), {"v": new})
