"""Temporal benchmark (issue 19): missions per minute on a dev server with two workers, the
Temporal backend's overhead per tool call, and each worker's memory, each against the embedded
engine measured in the same run.

Everything runs on this machine: a ``temporal server start-dev`` (SQLite in a temporary folder,
as the tests start it), two ``ensemble worker --temporal`` processes, the scripted model on
127.0.0.1 with a fixed delay per reply, and the embedded engine (``app.engine.Engine``) in this
process as the reference, in a private ENSEMBLE_HOME, at default settings. Every mission only
reads, so no person is needed. After a warm-up mission on each backend (imports, caches), it
prints:

1. Throughput: N missions (``--missions``, default 100), each a lead that delegates 4
   independent tasks to the spreadsheet agent, each task reading a range of a workbook (one
   tool call) and answering; all N started at once. Missions per minute (wall time from the
   first start to the last end) on Temporal and on the embedded engine, their ratio, the
   median and slowest mission, the model calls per mission (10 on both, or the comparison is
   void), the Temporal activities tried more than once, and the most model requests in flight
   at once (each process sends at most ``max_concurrency``, 8, at a time: the embedded engine
   8, two workers 16). No goal in the issue: reported.
2. Overhead per tool call: one mission whose one task makes K sequential read calls
   (``--calls``, on a one-cell workbook), on the embedded engine, then on Temporal, then on
   the embedded engine again (A-B-A: a change in the machine's load weighs on both alike),
   the same model delay on both. ``(T_temporal - T_embedded) / K`` from the missions' wall
   times (goal <= 10 ms), and the same from the time between the task's model requests as the
   model server sees them (the per-call figure without the mission's fixed start and end).
3. Memory: each worker's peak resident set (VmHWM from /proc), its resident set once ready,
   and the dev server's peak; the CPU time each worker used; the history of one mission of
   part 1 and of the K-call mission (events and bytes).

``--db memory`` keeps the dev server's state in memory (``start-dev``'s default) instead of the
SQLite file the tests and docs/temporal.md use. Every state change of a workflow (an activity
scheduled, started, completed; a workflow task) is a commit, and with the file each commit
waits for the disk: on a shared virtual machine's disk that, more than the workers, decides
the per-call figure. The load average printed first says how busy the machine was.

``--target HOST:PORT`` measures a running cluster instead (a team's, started from
packaging/temporal/compose.yaml, say): the workers still run here, on its ``default`` namespace.

Usage: python bench/bench_temporal.py [--missions N] [--calls K] [--delay SECONDS]
[--db file|memory] [--target HOST:PORT] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import os
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_engine import make_workspace, verdict

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.engine import Engine
from app.settings import Settings
from app.temporal.client import mission_input, start_mission
from app.testing.scripted_model import Reply, ScriptedModel, text, tool_call
from tests._temporal import DevServer, temporal_cli

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowHandle

ROOT = Path(__file__).resolve().parents[1]

GOAL_MS = 10.0
"""The issue's goal: at most this many milliseconds per tool call over the embedded engine."""

TASKS = 4
"""Tasks per mission of the throughput run (the issue's "missions of 4 tasks")."""

WORKERS = 2
"""Worker processes (the issue's "two workers on this machine")."""

TAG = re.compile(r"\[BENCH (?P<id>[MC][ET]\d{4})(?:-(?P<kind>PART|CALLS)-(?P<n>\d+))?\]")
"""The tag every benchmark mission's text and task instructions carry: ``M`` (throughput) or
``C`` (K calls), ``E`` (embedded) or ``T`` (Temporal), a number, and for a task its part."""


def tag(kind: str, backend: str, number: int) -> str:
    """A mission's tag, such as ``MT0007``: throughput (``M``) or K calls (``C``), on
    Temporal (``T``) or embedded (``E``)."""
    return f"{kind}{backend}{number:04d}"


def mission_text(mission: str) -> str:
    """What the person asks in a benchmark mission with tag ``mission``."""
    if mission.startswith("M"):
        return f"[BENCH {mission}] Read the data in {TASKS} parts"
    return f"[BENCH {mission}] Read the tiny workbook cell by cell"


class Script:
    """The scripted model's answers for every benchmark mission, found by the tag in the first
    user message (one regular expression instead of a thousand scripted conversations), and
    the server's clock at each request of a K-call task.

    Args:
        model: The scripted model it answers for (its kept requests are dropped as they come:
            the benchmark reads none of them, and a K-call conversation would keep K² blocks).
        calls: Read calls of a K-call task.
    """

    def __init__(self, model: ScriptedModel, calls: int) -> None:
        self.model = model
        self.calls = calls
        self.requests: collections.Counter[str] = collections.Counter()
        self.stamps: dict[str, list[float]] = collections.defaultdict(list)

    def __call__(self, body: dict[str, Any]) -> Reply | None:
        with self.model._cond:
            self.model._requests.clear()
            self.model._request_headers.clear()
        messages = body.get("messages") or []
        if not messages:
            return None
        first = messages[0]["content"]
        first_text = first if isinstance(first, str) else " ".join(b.get("text", "") for b in first)
        found = list(TAG.finditer(first_text))
        if not found:
            return None
        # A task's first message might quote the mission's words: the task's own tag wins.
        match = next((m for m in found if m["kind"]), found[0])
        mission = match["id"]
        turn = sum(1 for m in messages if m.get("role") == "assistant")
        self.requests[mission] += 1
        if match["kind"] is None:
            return self._lead(mission, turn)
        if match["kind"] == "PART":
            part = int(match["n"])
            if turn == 0:
                return tool_call(
                    "sheet_read", {"path": "data.xlsx", "range": f"A{part * 20 + 1}:D{part * 20 + 20}"}
                )
            return text(f"Part {part} read.")
        self.stamps[mission].append(time.perf_counter())
        if turn < self.calls:
            # A different cell each time: both backends stop an agent that repeats itself.
            return tool_call("sheet_read", {"path": "tiny.xlsx", "range": f"A{turn + 1}"})
        return text("Every cell read.")

    @staticmethod
    def _lead(mission: str, turn: int) -> Reply:
        if turn > 0:
            return text("Done.")
        if mission.startswith("M"):
            tasks = [
                {
                    "id": f"t{i}",
                    "agent": "spreadsheet",
                    "instructions": f"[BENCH {mission}-PART-{i}] read rows",
                }
                for i in range(TASKS)
            ]
        else:
            tasks = [{"id": "t", "agent": "spreadsheet", "instructions": f"[BENCH {mission}-CALLS-0] read"}]
        return tool_call("delegate", {"tasks": tasks})

    def per_call(self, mission: str) -> list[float]:
        """Seconds between consecutive model requests of a K-call mission's task."""
        times = self.stamps[mission]
        return [b - a for a, b in itertools.pairwise(times)]


class WorkerProcess:
    """``ensemble worker --temporal`` in a child process, its standard error read by a thread.

    Args:
        target: The dev server's ``HOST:PORT``.
        task_queue: The task queue it polls.
        env: Its environment (ENSEMBLE_HOME, the scripted model's address, the key).
    """

    def __init__(self, target: str, task_queue: str, env: dict[str, str]) -> None:
        script = Path(sys.executable).parent / "ensemble"
        command = [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]
        self.process = subprocess.Popen(
            [*command, "worker", "--temporal", target, "--task-queue", task_queue],
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

    def wait_ready(self, seconds: float = 120.0) -> None:
        """Blocks until the worker says it polls.

        Raises:
            SystemExit: It exited, or said nothing of the kind within ``seconds``.
        """
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
        raise SystemExit(f"A worker did not start: {''.join(self.said)}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 20 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stderr is not None:
            self.process.stderr.close()


class MemoryDevServer(DevServer):
    """``temporal server start-dev`` with its state in memory (its default, without
    ``--db-filename``): no state change waits for a disk, so what is left is the server's and
    the workers' own work. The tests' :class:`DevServer` keeps its state in a SQLite file."""

    def start(self) -> None:
        """Starts the server and returns once a client can use its default namespace.

        Raises:
            RuntimeError: It exited, or did not answer in time.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [
            str(temporal_cli()),
            *("server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(self.port)),
            *("--log-level", "warn"),
        ]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            asyncio.run(self._wait_until_ready())
        except BaseException:
            self.stop()
            raise


def memory_kib(pid: int) -> dict[str, int]:
    """A process's ``VmRSS`` (resident now) and ``VmHWM`` (peak resident) in KiB, from /proc."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reset_in_flight(model: ScriptedModel) -> None:
    """Forgets the most requests the scripted model saw in flight at once."""
    with model._cond:
        model._max_in_flight = 0


@dataclass
class Run:
    """One batch of missions on one backend.

    Attributes:
        wall: Seconds from the first start to the last end.
        ends: Seconds from the first start to each mission's end.
        ids: The missions' ids.
    """

    wall: float
    ends: list[float]
    ids: list[str]

    @property
    def per_minute(self) -> float:
        """Missions per minute."""
        return len(self.ends) * 60 / self.wall


async def run_embedded(engine: Engine, tags: list[str], workspace: Path) -> Run:
    """Starts a mission per tag at once on the embedded engine, waits for all of them.

    Raises:
        SystemExit: A mission did not end done.
    """
    begun = time.perf_counter()
    ids = [engine.start_mission(mission_text(t), workspaces=[workspace]) for t in tags]

    async def finish(mission_id: str) -> float:
        outcome = await engine.wait(mission_id)
        if outcome.status != "done":
            raise SystemExit(f"An embedded mission failed: {outcome.result}")
        return time.perf_counter() - begun

    ends = await asyncio.gather(*(finish(i) for i in ids))
    return Run(time.perf_counter() - begun, list(ends), ids)


async def run_temporal(
    client: Client, task_queue: str, tags: list[str], workspace: Path, settings: Settings
) -> tuple[Run, list[WorkflowHandle[Any, Any]]]:
    """Starts a mission per tag at once on Temporal, waits for all of them.

    Raises:
        SystemExit: A mission did not end done.
    """
    begun = time.perf_counter()
    inputs = [
        mission_input(f"bench-{t}-{uuid.uuid4().hex[:8]}", mission_text(t), [str(workspace)], settings)
        for t in tags
    ]
    handles = await asyncio.gather(*(start_mission(client, m, task_queue) for m in inputs))

    async def finish(handle: WorkflowHandle[Any, Any]) -> float:
        outcome = await handle.result()
        if outcome.status != "done":
            raise SystemExit(f"A Temporal mission failed: {outcome.result}")
        return time.perf_counter() - begun

    ends = await asyncio.gather(*(finish(h) for h in handles))
    return Run(time.perf_counter() - begun, list(ends), [m.mission_id for m in inputs]), list(handles)


async def history_size(handle: WorkflowHandle[Any, Any]) -> tuple[int, int]:
    """A workflow's history: its events and its bytes (serialised)."""
    history = await handle.fetch_history()
    return len(history.events), sum(event.ByteSize() for event in history.events)


async def breakdown(handle: WorkflowHandle[Any, Any]) -> dict[str, float]:
    """Where a workflow's time went, from its history's event times, in seconds summed over
    the run: each activity type's wait in its task queue (scheduled to started) and its run
    (started to completed), and the workflow tasks' wait and run (the worker's workflow code
    between two activities)."""
    history = await handle.fetch_history()
    spent: dict[str, float] = collections.defaultdict(float)
    scheduled: dict[int, tuple[str, float]] = {}
    started: dict[int, tuple[str, float]] = {}
    for event in history.events:
        at = event.event_time.ToNanoseconds() / 1e9
        if event.HasField("activity_task_scheduled_event_attributes"):
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled[event.event_id] = (name.removeprefix("ensemble_"), at)
        elif event.HasField("activity_task_started_event_attributes"):
            name, when = scheduled[event.activity_task_started_event_attributes.scheduled_event_id]
            spent[f"{name} queue"] += at - when
            started[event.event_id] = (name, at)
        elif event.HasField("activity_task_completed_event_attributes"):
            name, when = started[event.activity_task_completed_event_attributes.started_event_id]
            spent[f"{name} run"] += at - when
        elif event.HasField("workflow_task_scheduled_event_attributes"):
            scheduled[event.event_id] = ("workflow task", at)
        elif event.HasField("workflow_task_started_event_attributes"):
            name, when = scheduled[event.workflow_task_started_event_attributes.scheduled_event_id]
            spent[f"{name} queue"] += at - when
            started[event.event_id] = (name, at)
        elif event.HasField("workflow_task_completed_event_attributes"):
            name, when = started[event.workflow_task_completed_event_attributes.started_event_id]
            spent[f"{name} run"] += at - when
    return dict(spent)


async def retried(handles: list[WorkflowHandle[Any, Any]]) -> collections.Counter[str]:
    """The activities of these workflows that were tried more than once, by type and why the
    try before failed (a timeout, a worker that died, a model call that failed)."""
    found: collections.Counter[str] = collections.Counter()
    for handle in handles:
        history = await handle.fetch_history()
        names = {
            e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        }
        for event in history.events:
            if event.HasField("activity_task_started_event_attributes"):
                started = event.activity_task_started_event_attributes
                if started.attempt > 1:
                    why = (
                        started.last_failure.message.splitlines()[0] if started.last_failure.message else "?"
                    )
                    found[f"{names[started.scheduled_event_id]} ({why})"] += 1
    return found


@dataclass
class Figures:
    """What the measurements found, for the report."""

    embedded: Run
    temporal: Run
    embedded_in_flight: int
    temporal_in_flight: int
    calls_per_mission: dict[str, float]
    retried: collections.Counter[str]
    k_embedded: list[float]
    k_temporal: float
    gap_embedded: list[list[float]]
    gap_temporal: list[float]
    history_mission: tuple[int, int]
    history_calls: tuple[int, int]
    spent_calls: dict[str, float]
    worker_cpu: list[float]


async def measure(
    model: ScriptedModel,
    script: Script,
    target: str,
    task_queue: str,
    workspace: Path,
    missions: int,
    calls: int,
    workers: list[WorkerProcess],
) -> Figures:
    """Runs the warm-ups and the measured batches on both backends."""
    from temporalio.client import Client

    settings = Settings(max_turns=calls + 10, token_budget=10**12)
    engine = Engine(settings=settings)
    client = await Client.connect(target)
    try:
        # Warm-ups: imports, the workers' caches, the file cache.
        await run_embedded(engine, [tag("M", "E", 9999)], workspace)
        await run_temporal(client, task_queue, [tag("M", "T", 9999)], workspace, settings)

        reset_in_flight(model)
        embedded = await run_embedded(engine, [tag("M", "E", i) for i in range(missions)], workspace)
        embedded_in_flight = model.max_in_flight
        cpu_before = [cpu_seconds(w.process.pid) for w in workers]
        reset_in_flight(model)
        temporal, handles = await run_temporal(
            client, task_queue, [tag("M", "T", i) for i in range(missions)], workspace, settings
        )
        temporal_in_flight = model.max_in_flight
        worker_cpu = [cpu_seconds(w.process.pid) - b for w, b in zip(workers, cpu_before, strict=True)]
        history_mission = await history_size(handles[0])
        retries = await retried(handles)

        k_embedded: list[float] = []
        gap_embedded: list[list[float]] = []
        k_temporal = 0.0
        gap_temporal: list[float] = []
        history_calls = (0, 0)
        spent_calls: dict[str, float] = {}
        for step, backend in enumerate("ETE"):
            name = tag("C", backend, step)
            if backend == "E":
                run = await run_embedded(engine, [name], workspace)
                k_embedded.append(run.wall)
                gap_embedded.append(script.per_call(name))
            else:
                run, (handle,) = await run_temporal(client, task_queue, [name], workspace, settings)
                k_temporal = run.wall
                gap_temporal = script.per_call(name)
                history_calls = await history_size(handle)
                spent_calls = await breakdown(handle)
    finally:
        await engine.close()
    per_mission = {
        backend: statistics.mean(script.requests[tag("M", backend, i)] for i in range(missions))
        for backend in "ET"
    }
    return Figures(
        embedded=embedded,
        temporal=temporal,
        embedded_in_flight=embedded_in_flight,
        temporal_in_flight=temporal_in_flight,
        calls_per_mission=per_mission,
        retried=retries,
        k_embedded=k_embedded,
        k_temporal=k_temporal,
        gap_embedded=gap_embedded,
        gap_temporal=gap_temporal,
        history_mission=history_mission,
        history_calls=history_calls,
        spent_calls=spent_calls,
        worker_cpu=worker_cpu,
    )


def report(
    figures: Figures,
    delay: float,
    missions: int,
    calls: int,
    where: str,
    load: tuple[float, float, float],
    ready: list[dict[str, int]],
    peaks: list[dict[str, int]],
    server_peak: dict[str, int],
) -> None:
    """Prints the table and the verdict."""
    e, t = figures.embedded, figures.temporal
    ceiling = Settings().max_concurrency
    print(
        f"Load average of this machine (1, 5, 15 min) at the start: "
        f"{', '.join(f'{v:.1f}' for v in load)}, at the end: "
        f"{', '.join(f'{v:.1f}' for v in os.getloadavg())} ({os.cpu_count()} CPUs; other programs "
        "running move the figures)"
    )
    print(
        f"Scripted model delay per reply: {delay * 1000:.0f} ms; {where} and {WORKERS} workers on "
        "this machine; default settings"
    )
    print(f"1. {missions} missions of {TASKS} read tasks each, all started at once:")
    print(
        f"   {'':<22}{'missions/min':>13}{'wall s':>9}{'median s':>10}{'slowest s':>11}"
        f"{'calls':>7}{'in flight':>11}"
    )
    for label, run, backend, flight in (
        ("embedded engine", e, "E", figures.embedded_in_flight),
        (f"Temporal, {WORKERS} workers", t, "T", figures.temporal_in_flight),
    ):
        print(
            f"   {label:<22}{run.per_minute:>13.1f}{run.wall:>9.2f}{statistics.median(run.ends):>10.2f}"
            f"{max(run.ends):>11.2f}{figures.calls_per_mission[backend]:>7.1f}{flight:>11}"
        )
    print(
        f"   Temporal / embedded: {t.per_minute / e.per_minute:.2f} (no goal in the issue). Model requests "
        f"in flight at most: {ceiling} per process (max_concurrency), so {ceiling} embedded and "
        f"{ceiling * WORKERS} on {WORKERS} workers; the model-bound ceiling is "
        f"{ceiling * 60 / (figures.calls_per_mission['E'] * delay):.0f} and "
        f"{ceiling * WORKERS * 60 / (figures.calls_per_mission['T'] * delay):.0f} missions/min."
    )
    expected = 2 + 2 * TASKS  # the lead's two turns, each task's two
    if figures.calls_per_mission["E"] != expected or figures.calls_per_mission["T"] < expected:
        print(f"   A backend did not make the {expected} model calls per mission: not comparable. MISS")
    retries = ", ".join(f"{name} {count}" for name, count in sorted(figures.retried.items()))
    print(
        f"   Temporal activities tried again: {retries or 'none'} "
        f"({figures.calls_per_mission['T'] * missions - expected * missions:.0f} model requests "
        "beyond the missions' own)"
    )

    embedded_k = statistics.mean(figures.k_embedded)
    over_ms = (figures.k_temporal - embedded_k) / calls * 1000
    print(
        f"2. Overhead per tool call: one task making {calls} sequential read calls "
        "(embedded, Temporal, embedded):"
    )
    print(
        f"   mission wall: embedded {embedded_k:.2f} s "
        f"({' and '.join(f'{k:.2f}' for k in figures.k_embedded)}), "
        f"Temporal {figures.k_temporal:.2f} s; ratio {figures.k_temporal / embedded_k:.2f}"
    )
    print(
        f"   (T_temporal - T_embedded) / {calls} calls = {over_ms:.1f} ms per call "
        f"(goal <= {GOAL_MS:.0f} ms) {verdict(over_ms <= GOAL_MS)}"
    )
    gaps_e = [statistics.mean(g) for g in figures.gap_embedded if g]
    if gaps_e and figures.gap_temporal:
        gap_e = statistics.mean(gaps_e)
        gap_t = statistics.mean(figures.gap_temporal)
        median_over = (
            statistics.median(figures.gap_temporal)
            - statistics.mean(statistics.median(g) for g in figures.gap_embedded if g)
        ) * 1000
        print(
            f"   between the task's model requests (the model server's clock, no mission start or end): "
            f"embedded {gap_e * 1000:.1f} ms, Temporal {gap_t * 1000:.1f} ms per call; overhead "
            f"{(gap_t - gap_e) * 1000:.1f} ms mean, {median_over:.1f} ms median "
            f"{verdict(gap_t - gap_e <= GOAL_MS / 1000)}"
        )

    spent = sorted(figures.spent_calls.items(), key=lambda item: -item[1])
    print(
        "   where the Temporal mission's time went, per call (its history's event times; queue = "
        "waiting for a worker to take the task): "
        + ", ".join(f"{name} {seconds / calls * 1000:.1f} ms" for name, seconds in spent)
    )
    print("3. Memory and CPU:")
    for i, (before, peak) in enumerate(zip(ready, peaks, strict=True)):
        print(
            f"   worker {i + 1}: peak resident {peak['VmHWM'] / 1024:.0f} MiB, once ready "
            f"{before['VmRSS'] / 1024:.0f} MiB, at the end {peak['VmRSS'] / 1024:.0f} MiB; CPU during the "
            f"{missions} missions {figures.worker_cpu[i]:.1f} s"
        )
    cpu = sum(figures.worker_cpu)
    print(
        f"   workers' CPU per mission: {cpu / missions * 1000:.0f} ms"
        + (f"; dev server peak resident {server_peak['VmHWM'] / 1024:.0f} MiB" if server_peak else "")
    )
    events, size = figures.history_mission
    k_events, k_size = figures.history_calls
    print(
        f"   history of a {TASKS}-task mission: {events} events, {size / 1024:.0f} KiB; of the "
        f"{calls}-call mission: {k_events} events, {k_size / 1024:.0f} KiB"
    )


def main(missions: int, calls: int, delay: float, db: str, target: str | None) -> None:
    """Starts the model, the dev server (unless ``target`` names a cluster) and the workers,
    measures, prints, stops them."""
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp, ScriptedModel(delay=delay) as model:
        root = Path(tmp)
        os.environ.update(
            ENSEMBLE_HOME=str(root / "home"),
            ANTHROPIC_BASE_URL=model.base_url,
            ANTHROPIC_API_KEY="bench",
        )
        workspace = make_workspace(root)
        script = Script(model, calls)
        model.on_request(script)
        server: DevServer | None = None
        if target is None:
            server = DevServer(root / "temporal") if db == "file" else MemoryDevServer(root / "temporal")
            server.start()
            target = server.target
        workers: list[WorkerProcess] = []
        try:
            task_queue = f"bench-{uuid.uuid4().hex[:8]}"
            env = {
                **os.environ,
                "ENSEMBLE_HOME": str(root / "worker-home"),
                "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
            }
            workers = [WorkerProcess(target, task_queue, env) for _ in range(WORKERS)]
            for worker in workers:
                worker.wait_ready()
            ready = [memory_kib(w.process.pid) for w in workers]
            figures = asyncio.run(
                measure(model, script, target, task_queue, workspace, missions, calls, workers)
            )
            peaks = [memory_kib(w.process.pid) for w in workers]
            process = server._process if server is not None else None
            server_peak = memory_kib(process.pid) if process is not None else {}
        finally:
            for worker in workers:
                worker.stop()
            if server is not None:
                server.stop()
        if model.failures:
            raise SystemExit(f"The scripted model could not answer: {model.failures[:3]}")
    where = (
        f"the cluster at {target}"
        if server is None
        else f"a dev server ({'SQLite file' if db == 'file' else 'state in memory'})"
    )
    report(figures, delay, missions, calls, where, load, ready, peaks, server_peak)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--missions", type=int, default=100, help="missions started at once")
    parser.add_argument("--calls", type=int, default=50, help="sequential tool calls for the overhead")
    parser.add_argument("--delay", type=float, default=0.25, help="seconds per scripted reply")
    parser.add_argument(
        "--db",
        choices=("file", "memory"),
        default="file",
        help="the dev server's state: a SQLite file (as the tests run it) or memory (its default)",
    )
    parser.add_argument(
        "--target",
        metavar="HOST:PORT",
        help="a running cluster's frontend (namespace default) instead of a dev server of its own",
    )
    parser.add_argument("--quick", action="store_true", help="10 missions and 20 calls")
    options = parser.parse_args()
    if options.quick:
        options.missions, options.calls = 10, 20
    main(options.missions, options.calls, options.delay, options.db, options.target)
