"""The facade's read-only path: what the command line lists and shows without an engine.

``ensemble missions``, ``ensemble audit`` and ``ensemble rules list`` only read the journal.
Starting the whole :class:`app.engine.Engine` for them would import the model client, the
orchestrator, every connector and SQLAlchemy, which takes seconds; a :class:`JournalReader`
opens the same SQLite file with the standard library's ``sqlite3`` and reads it in a
fraction of that.

It never writes, with one exception it hands to the engine's own code: a journal that needs a
migration (its schema revision is not :data:`app._schema.HEAD`, a cheap query) or that cannot
be read (damaged) is opened once through :class:`app.journal.Journal`, which migrates it or
moves it aside exactly as the engine would, and then read here.

What it returns is what the command line prints: light rows (:class:`MissionLine`,
:class:`RuleLine`) for the lists, and the contract's typed events (:mod:`app.api.events`,
imported only when asked for) for a mission's audit.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app import _schema

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from app.api.events import AnyEvent

_MISSION_COLUMNS = "id, title, status, started_at, tokens, owner_pid, archived"


@dataclass(frozen=True, slots=True)
class MissionLine:
    """A mission as a list shows it.

    Attributes:
        id: Its id.
        title: Its first line, shortened.
        status: ``running``, ``done``, ``failed``, ``cancelled`` or ``interrupted``.
        started_at: When it started (UTC).
        tokens: Tokens spent.
        archived: Whether the person archived it.
    """

    id: str
    title: str
    status: str
    started_at: dt.datetime
    tokens: int = 0
    archived: bool = False


@dataclass(frozen=True, slots=True)
class RuleLine:
    """A rule in force, as the person reads it.

    Attributes:
        id: Its id.
        kind: ``approve_all`` (always allow) or ``reject_all`` (never allow).
        tool: The tool it covers, or None for every tool.
        where: Argument name → pattern.
        mission_id: The mission it is limited to, or None for all.
        description: The sentence.
    """

    id: str
    kind: str
    tool: str | None
    mission_id: str | None
    description: str
    where: dict[str, str] = field(default_factory=dict)


def _aware(value: str) -> dt.datetime:
    """A journal timestamp (SQLAlchemy writes naive UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``)."""
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _alive(pid: int | None) -> bool:
    """Whether the process that runs a mission is still alive (as :mod:`app.journal` tells)."""
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


def _mission(row: tuple[Any, ...]) -> MissionLine:
    mission_id, title, status, started_at, tokens, owner_pid, archived = row
    if status == "running" and not _alive(owner_pid):
        # The engine marks such a mission interrupted when it next opens the journal; a list
        # says so already, without writing.
        status = "interrupted"
    return MissionLine(
        id=str(mission_id),
        title=str(title),
        status=str(status),
        started_at=_aware(str(started_at)),
        tokens=int(tokens or 0),
        archived=bool(archived),
    )


class JournalReader:
    """Reads the journal, never writes it (see the module's note on migrations).

    Args:
        path: The journal's SQLite file. A missing file reads as an empty journal, and is
            not created.

    Raises:
        app._schema.SchemaError: The journal was made by a newer Ensemble, or another
            process kept it locked too long while migrating it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.recovered: Path | None = None
        """Where a damaged journal was moved when opening it (a fresh one replaced it), else None."""
        self._db: sqlite3.Connection | None = None
        if not path.exists():
            return
        try:
            self._db = self._connect()
            current = self._revision()
        except sqlite3.DatabaseError:
            current = None
            self.close()
        if current != _schema.HEAD:
            self._through_the_journal()
            self._db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False)
        # Reads only: a reader never waits for the writer in WAL mode, and no change it could
        # make by mistake is ever committed.
        db.execute("PRAGMA query_only=ON")
        return db

    def _revision(self) -> str | None:
        assert self._db is not None
        try:
            row = self._db.execute(f"SELECT version_num FROM {_schema.VERSION_TABLE}").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            raise
        return str(row[0]) if row else None

    def _through_the_journal(self) -> None:
        """Migrates (or moves aside, when damaged) the journal as the engine would, once."""
        from app.journal import Journal

        journal = Journal(self.path)
        self.recovered = journal.recovered
        journal.close()

    @property
    def recovery_note(self) -> str | None:
        """The sentence that tells the person a damaged journal was moved aside, or None."""
        if self.recovered is None:
            return None
        return (
            f"The journal {self.path} was damaged and could not be read. It was moved to "
            f"{self.recovered} (nothing was deleted) and a new, empty journal was started."
        )

    def close(self) -> None:
        """Closes the connection."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> JournalReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _rows(self, query: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self._db is None:
            return []
        return list(self._db.execute(query, parameters).fetchall())

    # Missions -------------------------------------------------------------------------

    def list_missions(
        self, *, limit: int = 200, offset: int = 0, search: str | None = None, archived: bool | None = False
    ) -> list[MissionLine]:
        """Missions, newest first, a page at a time (as :meth:`app.engine.Engine.list_missions`).

        Args:
            limit: The most missions to return.
            offset: How many to skip (the page's start).
            search: Only missions whose title or text contains this (any case).
            archived: False leaves the archived missions out, True gives them alone, None
                gives both. Deleted missions (their audit kept) are never listed.
        """
        where = "WHERE deleted_at IS NULL"
        parameters: tuple[object, ...] = ()
        if archived is not None:
            where += " AND archived = ?"
            parameters = (int(archived),)
        if search:
            pattern = f"%{search.replace('%', '').replace('_', '')}%"
            where += " AND (lower(text) LIKE lower(?) OR lower(title) LIKE lower(?))"
            parameters = (*parameters, pattern, pattern)
        query = f"SELECT {_MISSION_COLUMNS} FROM mission {where} ORDER BY started_at DESC LIMIT ? OFFSET ?"
        return [_mission(row) for row in self._rows(query, (*parameters, limit, offset))]

    def mission(self, mission_id: str) -> MissionLine | None:
        """One mission (a unique prefix of its id is enough), or None; a deleted mission whose
        audit was kept too, for ``ensemble audit``."""
        rows = self._rows(f"SELECT {_MISSION_COLUMNS} FROM mission WHERE id = ?", (mission_id,))
        if not rows:
            rows = self._rows(
                f"SELECT {_MISSION_COLUMNS} FROM mission WHERE id LIKE ? || '%' LIMIT 2", (mission_id,)
            )
        return _mission(rows[0]) if len(rows) == 1 else None

    def mission_events(self, mission_id: str) -> list[AnyEvent]:
        """A mission's audit, in order, as the contract's typed events."""
        from app.api.events import typed

        rows = self._rows(
            "SELECT id, mission_id, task_id, kind, summary, data_json, at FROM auditevent "
            "WHERE mission_id = ? ORDER BY id",
            (mission_id,),
        )
        return [
            typed(
                str(kind),
                str(mission),
                json.loads(data_json),
                task_id=task_id,
                summary=str(summary),
                at=_aware(str(at)),
                audit_id=int(audit_id),
            )
            for audit_id, mission, task_id, kind, summary, data_json, at in rows
        ]

    # Rules ----------------------------------------------------------------------------

    def list_rules(self) -> list[RuleLine]:
        """Every rule in force, oldest first (as :meth:`app.engine.Engine.list_rules`)."""
        rows = self._rows(
            "SELECT id, kind, tool, mission_id, description, conditions_json FROM rule "
            "WHERE active = 1 ORDER BY created_at"
        )
        return [
            RuleLine(
                id=str(rule_id),
                kind=str(kind),
                tool=tool,
                mission_id=mission,
                description=str(description),
                where=json.loads(conditions or "{}"),
            )
            for rule_id, kind, tool, mission, description, conditions in rows
        ]


@contextlib.contextmanager
def reading(path: Path) -> Iterator[JournalReader]:
    """A :class:`JournalReader` on ``path``, closed afterwards."""
    reader = JournalReader(path)
    try:
        yield reader
    finally:
        reader.close()


__all__ = ["JournalReader", "MissionLine", "RuleLine", "reading"]
