"""Two processes writing one workbook lose nothing; what a killed write leaves is cleaned up.

Before, the file lock held only within one process, with a journal write between reading the
file's state and replacing it: two ``ensemble run`` processes (or the window and the command
line) appending to the same workbook lost rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import openpyxl

from app.engine import Engine
from app.journal import Journal, Mission, ProposedAction
from app.paths import Paths

if TYPE_CHECKING:
    from pathlib import Path

WRITER = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    from connectors.base import ToolContext
    from connectors.spreadsheet import TOOLS

    folder, who, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    append = next(t for t in TOOLS if t.name == "sheet_append_rows")
    ctx = ToolContext(workspaces=[folder], backup_dir=folder.parent / f"backups-{who}")

    async def main():
        while not go.exists():
            await asyncio.sleep(0.001)
        for n in range(12):
            args = append.parse({"path": "log.xlsx", "sheet": "Log", "rows": [[who, n]]})
            await append.run(ctx, args)

    asyncio.run(main())
    """
)


def test_two_processes_appending_to_one_workbook_keep_every_row(workspace: Path, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Log"
    sheet.append(["Who", "N"])
    book.save(workspace / "log.xlsx")
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(workspace), who, str(go)], env=env, stderr=subprocess.PIPE
        )
        for who in ("first", "second")
    ]
    go.touch()
    for writer in writers:
        _out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err.decode()
    rows = [
        tuple(r)
        for r in openpyxl.load_workbook(workspace / "log.xlsx")["Log"].iter_rows(min_row=2, values_only=True)
    ]
    assert sorted(rows) == sorted((who, n) for who in ("first", "second") for n in range(12))
    assert not list(workspace.glob(".*.ensemble-tmp"))


def test_what_a_killed_write_left_is_cleaned_on_the_next_start(workspace: Path) -> None:
    paths = Paths.default()
    paths.ensure()
    journal = Journal(paths.journal)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    journal.add(
        Mission(
            id="m_dead",
            title="t",
            text="t",
            workspaces_json=json.dumps([str(workspace)]),
            owner_pid=int(dead.stdout),
        )
    )
    backups = paths.backups / "m_dead"
    backups.mkdir(parents=True)
    (backups / "kept.xlsx").write_bytes(b"the backup an action refers to")
    (backups / "stray.xlsx").write_bytes(b"a backup of a write that never happened")
    journal.add(
        ProposedAction(
            id="a1",
            mission_id="m_dead",
            tool_call_id="c",
            agent="spreadsheet",
            tool="sheet_write",
            effect="local",
            arguments_json="{}",
            preview_json="{}",
            status="executed",
            backup_json=json.dumps(
                {
                    "path": str(workspace / "invoices.xlsx"),
                    "backup_path": str(backups / "kept.xlsx"),
                    "sha256_after": "x",
                }
            ),
        )
    )
    journal.close()
    (workspace / ".invoices.xlsx.k3j4h5.ensemble-tmp").write_bytes(b"half a workbook")
    (workspace / "sub").mkdir()
    (workspace / "sub" / ".notes.abc.ensemble-tmp").write_bytes(b"half a file")

    engine = Engine()
    engine.journal.close()

    assert not list(workspace.rglob("*.ensemble-tmp"))
    assert (workspace / "invoices.xlsx").exists()
    assert sorted(p.name for p in backups.iterdir()) == ["kept.xlsx"]
