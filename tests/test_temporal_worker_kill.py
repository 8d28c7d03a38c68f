"""A worker killed (SIGKILL) in the middle of a mission on Temporal: a second worker finishes it,
and the workbook holds the write once (issue 19).

The workers are real ``ensemble worker`` processes; the model (scripted, in this process) holds
its answer to the spreadsheet agent's turn after the write, so that the first worker is killed
while that model call is in flight.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _temporal import MISSION, backups, cell, eventually, executions, free_port, script
from temporalio.client import Client

from app.settings import Settings
from app.temporal._shapes import DecisionInput
from app.temporal.client import decide, events, mission_input, pending, start_mission

if TYPE_CHECKING:
    from collections.abc import Iterator

    from _temporal import DevServer
    from temporalio.api.history.v1 import History

    from app.testing.scripted_model import ScriptedModel

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


class WorkerProcess:
    """``ensemble worker`` in a child process, with its standard error read by a thread."""

    def __init__(self, target: str, task_queue: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker", "--temporal", target, "--task-queue", task_queue],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.said: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)

    def wait_ready(self, seconds: float = 60.0) -> None:
        """Blocks until the worker says it polls (its first line), or fails with what it said."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.said.append(line)
            if line.startswith("Worker ready"):
                return
        raise AssertionError(f"The worker did not start: {''.join(self.said)}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stderr is not None:
            self.process.stderr.close()


def started_attempts(history: History, activity: str) -> list[tuple[int, str]]:
    """``(attempt, worker identity)`` of each completed activity of that type, in order."""
    scheduled = {
        e.event_id
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity
    }
    return [
        (e.activity_task_started_event_attributes.attempt, e.activity_task_started_event_attributes.identity)
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
        and e.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


@pytest.mark.timeout(300)  # two workers start, one is noticed dead: slow on a busy machine
async def test_a_worker_killed_during_a_model_call_leaves_the_mission_to_another_worker(
    temporal_server: DevServer,
    scripted: ScriptedModel,
    workspace: Path,
    ensemble_home: Path,
    workers: list[WorkerProcess],
) -> None:
    script(scripted)
    task_queue, mission_id = f"q-{uuid.uuid4().hex}", f"m-{uuid.uuid4().hex[:12]}"
    env: dict[str, Any] = {
        **os.environ,
        "ENSEMBLE_HOME": str(ensemble_home),
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "ANTHROPIC_BASE_URL": scripted.base_url,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",  # never the machine's keyring
    }
    first = WorkerProcess(temporal_server.target, task_queue, env)
    workers.append(first)
    await asyncio.to_thread(first.wait_ready)
    client = await Client.connect(temporal_server.target)
    handle = await start_mission(
        client,
        mission_input(mission_id, MISSION, [str(workspace)], Settings(), heartbeat_seconds=5.0),
        task_queue,
    )
    cards = await eventually(lambda: pending(handle), "a card")

    # The model holds its next answer: the spreadsheet agent's turn after the write.
    scripted.hold()
    await decide(handle, DecisionInput(cards[0].action_id, "approve"))
    requests_before = len(scripted.requests)
    await asyncio.to_thread(scripted.wait_for_in_flight, 1, 60.0)
    assert len(scripted.requests) == requests_before + 1
    book = workspace / "invoices.xlsx"
    assert cell(book, "E2") == "overdue"  # written before the kill
    assert len(backups(ensemble_home, mission_id)) == 1

    second = WorkerProcess(temporal_server.target, task_queue, env)
    workers.append(second)
    await asyncio.to_thread(second.wait_ready)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    scripted.release()

    outcome = await asyncio.wait_for(handle.result(), 90)
    history = await handle.fetch_history()
    seen = await events(handle)

    assert (outcome.status, outcome.result) == ("done", "INV-1 is marked overdue.")
    assert cell(book, "E2") == "overdue"
    assert len(backups(ensemble_home, mission_id)) == 1  # written once
    assert executions(history) == [1]
    assert sum(1 for e in seen if e.kind == "action_executed") == 1
    # The model call the first worker was in was tried again, by the second worker.
    calls = started_attempts(history, "ensemble_model_reply")
    assert any(attempt > 1 and who.startswith(f"{second.process.pid}@") for attempt, who in calls), calls


def test_a_worker_without_a_server_says_so_in_words(tmp_path: Path) -> None:
    target = f"127.0.0.1:{free_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "worker", "--temporal", target],
        cwd=ROOT,
        env={**os.environ, "ENSEMBLE_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (
        f"ensemble: could not reach the Temporal server at {target}. Check the address, and that the "
        "server is running and lets this machine in."
    )
