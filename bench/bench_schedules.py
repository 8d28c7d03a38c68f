"""Schedules benchmark: what 100 scheduled workflows cost at rest, and how soon a due one starts.

Runs a real engine against the scripted model on 127.0.0.1, in a private ENSEMBLE_HOME, with
the computer's own clock (SystemClock), and prints, each with PASS or MISS against its goal:

1. Memory: the process's resident size and Python's traced allocations (tracemalloc) added by
   ``start_schedules`` with N scheduled workflows (goal: <= 20 MB), after the modules it needs
   are imported (their import is printed apart: the first start pays it once).
2. Idle CPU: the process's CPU time over S seconds of an idle engine, without the schedules
   (the reference) and then with them running (goal: no measurable difference, <= 0.1 % of
   one core).
3. Due-job latency: the time from a workflow's due time to its mission's
   ``workflow_run_started`` event, for a one-time schedule set a few seconds ahead, three
   times (goal: <= 1 s each).

Usage: python bench/bench_schedules.py [--workflows N] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import os
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import TYPE_CHECKING

from app.agents import registry
from app.api.workflows import Schedule, WorkflowSpec
from app.engine import Engine
from app.settings import Settings
from app.testing.scripted_model import ScriptedModel, text

if TYPE_CHECKING:
    from app.api.events import AnyEvent

SCHEDULES = [
    Schedule(kind="daily", at="03:17", timezone="Europe/Paris"),
    Schedule(kind="weekdays", at="04:05", timezone="America/New_York"),
    Schedule(kind="weekly", days=["mon", "thu"], at="05:40"),
    Schedule(kind="monthly", day=31, at="06:00", timezone="Asia/Tokyo"),
    Schedule(kind="cron", cron="7 1 * * 0", timezone="UTC"),
]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def rss_mb() -> float:
    """The process's resident set size now, in MB (from /proc/self/statm)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


async def idle_cpu(seconds: float) -> float:
    """CPU seconds the whole process used while its loop idled for ``seconds``."""
    gc.collect()
    started = time.process_time()
    await asyncio.sleep(seconds)
    return time.process_time() - started


async def main(count: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp, ScriptedModel() as model:
        os.environ.update(
            ENSEMBLE_HOME=str(Path(tmp) / "home"),
            ANTHROPIC_BASE_URL=model.base_url,
            ANTHROPIC_API_KEY="bench",
        )
        workspace = Path(tmp) / "workspace"
        workspace.mkdir()
        engine = Engine(settings=Settings())
        started: dict[str, float] = {}
        seen = asyncio.Event()

        def listen(event: AnyEvent) -> None:
            if event.kind == "workflow_run_started":
                started[event.workflow] = time.time()
                seen.set()

        engine.subscribe_events(listen)
        try:
            for i in range(count):
                spec = WorkflowSpec(
                    name=f"Bench {i:03d}",
                    instruction=f"BENCH workflow {i}: summarise the folder",
                    workspaces=[str(workspace)],
                    schedule=SCHEDULES[i % len(SCHEDULES)],
                )
                engine.save_workflow(spec)

            # 1. Memory (imports apart: the first start pays them once).
            gc.collect()
            before_imports = rss_mb()
            import app.workflows.service
            import app.workflows.triggers  # noqa: F401

            gc.collect()
            imports = rss_mb() - before_imports
            registry()  # what the first run imports (the schedules warm them up before it)
            gc.collect()
            connectors = rss_mb() - before_imports - imports
            reference_cpu = await idle_cpu(seconds)  # 2. the reference, before the schedules

            gc.collect()
            rss_before = rss_mb()
            tracemalloc.start()
            traced_before = tracemalloc.get_traced_memory()[0]
            clock_started = time.perf_counter()
            await engine.start_schedules(owner="service")
            start_time = time.perf_counter() - clock_started
            gc.collect()
            traced = (tracemalloc.get_traced_memory()[0] - traced_before) / 1e6
            tracemalloc.stop()
            rss = rss_mb() - rss_before
            schedules_cpu = await idle_cpu(seconds)

            # 3. Due-job latency.
            latencies: list[float] = []
            for attempt in range(3):
                name = f"Bench {attempt:03d}"
                model.add(f"BENCH workflow {attempt}:", text("Summarised."))
                due = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=3)
                seen.clear()
                engine.set_schedule(name, Schedule(kind="once", at=due.isoformat(), timezone="UTC"))
                await asyncio.wait_for(seen.wait(), timeout=60)
                latencies.append(started[name] - due.timestamp())
        finally:
            await engine.stop_schedules()
            await engine.close()

    extra_cpu = schedules_cpu - reference_cpu
    share = extra_cpu / seconds * 100
    print(f"{count} scheduled workflows, {seconds:.0f} s idle each way, SystemClock")
    print(f"Imports (apscheduler, watchdog, the schedules' modules): +{imports:.1f} MB RSS, paid once")
    print(
        f"The connectors (imported by the first run; the schedules do it 2 min ahead): "
        f"+{connectors:.1f} MB RSS"
    )
    print(
        f"Start with {count} workflows (each next time recorded): {start_time * 1000:.0f} ms "
        "(under tracemalloc)"
    )
    print(
        f"1. Memory added by the schedules: RSS +{rss:.2f} MB, traced +{traced:.2f} MB  {verdict(rss <= 20)}"
    )
    print(
        f"2. Idle CPU: reference {reference_cpu * 1000:.1f} ms, with schedules {schedules_cpu * 1000:.1f} ms "
        f"over {seconds:.0f} s: {extra_cpu * 1000:+.1f} ms ({share:+.3f} % of a core)  "
        f"{verdict(share <= 0.1)}"
    )
    worst = max(latencies)
    shown = ", ".join(f"{x * 1000:.0f} ms" for x in latencies)
    print(f"3. Due time -> run started: {shown} (worst {worst * 1000:.0f} ms)  {verdict(worst <= 1.0)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workflows", type=int, default=100, help="how many scheduled workflows (100)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of idle time to measure (5)")
    options = parser.parse_args()
    asyncio.run(main(options.workflows, options.seconds))
