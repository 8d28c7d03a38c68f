"""What the journal writes per model turn: one transaction per turn of reads, each conversation
message stored once and never rewritten, and no resume-only lookups on a fresh run.

Before, every read tool call committed seven transactions, the whole conversation was
rewritten twice per turn (a 1,000-call mission wrote 182 MB for a 1.8 MB journal), and every
call looked itself up in the journal in case the mission was being resumed.

The statements are observed in SQLite itself (a trace callback on every connection of the
journal), not by replacing any of the engine's code.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

from sqlalchemy import event

from app.engine import Engine
from app.journal import Journal, Mission
from app.settings import Settings
from app.testing.scripted_model import ScriptedModel, text, tool_call

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.pool import ConnectionPoolEntry


def read(row: int) -> Any:
    return tool_call("sheet_read", {"path": "invoices.xlsx", "sheet": "Invoices", "range": f"A{row}:E{row}"})


def traced_engine(statements: list[str]) -> Engine:
    """An engine whose journal connections report every SQL statement they run."""
    engine = Engine(settings=Settings())

    def trace(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.set_trace_callback(statements.append)  # type: ignore[attr-defined]

    event.listen(engine.journal.engine, "connect", trace)
    engine.journal.engine.dispose()  # the connections opened so far, untraced, are closed
    return engine


async def run_reads(scripted: ScriptedModel, workspace: Path, name: str, reads: int) -> tuple[str, list[str]]:
    """A mission whose one task makes ``reads`` read calls, one per turn; its statements."""
    scripted.add(
        f"Read {name}",
        tool_call(
            "delegate", {"tasks": [{"id": "r", "agent": "spreadsheet", "instructions": f"{name}-TASK"}]}
        ),
        text("Read."),
    )
    scripted.add(f"{name}-TASK", *(read(2 + i) for i in range(reads)), text("All read."))
    statements: list[str] = []
    engine = traced_engine(statements)
    try:
        outcome = await engine.run_mission(f"Read {name}", workspaces=[workspace])
    finally:
        await engine.close()
    assert outcome.status == "done", outcome.result
    return outcome.mission_id, statements


def commits(statements: list[str]) -> int:
    return sum(1 for s in statements if s.strip().upper() == "COMMIT")


async def test_each_turn_of_reads_is_one_transaction(scripted: ScriptedModel, workspace: Path) -> None:
    _, two = await run_reads(scripted, workspace, "TWO", 2)
    _, six = await run_reads(scripted, workspace, "SIX", 6)

    # The same mission with four more read turns: four more transactions, one per turn
    # (before: seven per call).
    assert commits(six) - commits(two) == 4


async def test_conversation_messages_are_stored_once_and_never_rewritten(
    scripted: ScriptedModel, workspace: Path, ensemble_home: Path
) -> None:
    mission_id, statements = await run_reads(scripted, workspace, "ONCE", 3)

    rewrites = [
        s
        for s in statements
        if s.lstrip().upper().startswith(("UPDATE", "DELETE")) and "conversationmessage" in s.lower()
    ]
    assert rewrites == []
    connection = sqlite3.connect(ensemble_home / "journal.sqlite3")
    try:
        task_id = connection.execute("SELECT id FROM task WHERE mission_id = ?", (mission_id,)).fetchone()[0]
        rows = connection.execute(
            "SELECT role, content_json FROM conversationmessage WHERE task_id = ? ORDER BY id", (task_id,)
        ).fetchall()
    finally:
        connection.close()
    # The instructions, three reads with their results, and the answer: each message once.
    assert [role for role, _ in rows] == ["user"] + ["assistant", "user"] * 3 + ["assistant"]
    assert json.loads(rows[0][1]) == "ONCE-TASK"
    assert [b["type"] for b in json.loads(rows[-2][1])] == ["tool_result"]
    assert json.loads(rows[-1][1]) == [{"type": "text", "text": "All read."}]


async def test_a_fresh_run_never_looks_calls_up_in_the_journal(
    scripted: ScriptedModel, workspace: Path
) -> None:
    _, statements = await run_reads(scripted, workspace, "FRESH", 3)

    lookups = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "tool_use_id =" in s]
    assert lookups == []
    # And the calls were journaled all the same.
    assert sum(1 for s in statements if s.startswith("INSERT INTO toolcall")) == 4  # delegate and 3 reads


def test_blocks_added_to_a_stored_message_come_back_as_one_message(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    try:
        journal.add(Mission(id="m", title="t", text="Do it"))
        batch = journal.batch()
        batch.message("m", None, "user", "Do it", continues=False)
        batch.message("m", None, "assistant", [{"type": "text", "text": "On it."}], continues=False)
        batch.message("m", None, "user", [{"type": "text", "text": "Results"}], continues=False)
        # The person's chat message, added to the lead's last (already stored) user turn.
        batch.message("m", None, "user", [{"type": "text", "text": "Hurry"}], continues=True)
        batch.commit()

        messages = journal.conversation("m")
    finally:
        journal.close()
    assert messages == [
        {"role": "user", "content": "Do it"},
        {"role": "assistant", "content": [{"type": "text", "text": "On it."}]},
        {"role": "user", "content": [{"type": "text", "text": "Results"}, {"type": "text", "text": "Hurry"}]},
    ]
    assert messages.saved == (3, 2)
