"""Engine benchmark: parallel speed-up, the engine's own overhead per tool call, and tokens.

Runs against the scripted model on 127.0.0.1 with a fixed delay per reply, in a private
ENSEMBLE_HOME, and prints:

1. The wall time of a mission of 8 independent tasks divided by its critical path (goal
   <= 1.15). The critical path is measured, not assumed: the same mission with one task has
   the same chain (lead, task's two replies, lead), so its wall time is the chain's length.
2. The engine's overhead per tool call: journal, gate and dispatch, without model or tool
   time (goal <= 2 ms median), for read calls and for approved local writes.
3. The 8-task mission's tokens and their cache-read share.

Usage: python bench/bench_engine.py [--delay SECONDS] [--calls N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import openpyxl

from app.engine import Engine
from app.settings import Settings
from app.testing.scripted_model import Reply, ScriptedModel, text, tool_call


def make_workspace(root: Path) -> Path:
    folder = root / "workspace"
    folder.mkdir()
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Data"
    for r in range(1, 201):
        sheet.append([f"row {r}", r, r * 1.5, r * r * 1.5])
    book.save(folder / "data.xlsx")
    # Formulas written by openpyxl have no cached values, as after any write by Ensemble;
    # reading them takes the connector's slower openpyxl path.
    for r in range(1, 201):
        sheet[f"D{r}"] = f"=B{r}*C{r}"
    book.save(folder / "formulas.xlsx")
    return folder


def script_mission(model: ScriptedModel, name: str, tasks: int, book: str = "data.xlsx") -> str:
    mission = f"BENCH {name}: read the data in {tasks} parts"
    model.add(
        mission,
        tool_call(
            "delegate",
            {
                "tasks": [
                    {"id": f"t{i}", "agent": "spreadsheet", "instructions": f"{name}-PART-{i}: read rows"}
                    for i in range(tasks)
                ]
            },
        ),
        text("All parts read."),
    )
    for i in range(tasks):
        model.add(
            f"{name}-PART-{i}:",
            tool_call("sheet_read", {"path": book, "range": f"A{i * 20 + 1}:D{i * 20 + 20}"}),
            text(f"Part {i} read."),
        )
    return mission


def script_many_calls(model: ScriptedModel, name: str, calls: int, write: bool) -> str:
    mission = f"BENCH {name}: {calls} tool calls"
    model.add(
        mission,
        tool_call(
            "delegate", {"tasks": [{"id": "t", "agent": "spreadsheet", "instructions": f"{name}-CALLS"}]}
        ),
        text("Done."),
    )
    replies: list[Reply] = []
    for i in range(calls):
        if write:
            args: dict[str, Any] = {
                "path": "data.xlsx",
                "sheet": "Data",
                "range": f"F{i + 1}",
                "values": [[i]],
            }
            replies.append(tool_call("sheet_write", args))
        else:
            # Different arguments each time: the engine stops an agent that repeats itself.
            replies.append(tool_call("sheet_read", {"path": "data.xlsx", "range": f"A{i + 1}"}))
    model.add(f"{name}-CALLS", *replies, text("Done."))
    return mission


async def timed_mission(
    engine: Engine, mission: str, workspace: Path, approve: str = "ask"
) -> tuple[float, str]:
    started = time.perf_counter()
    outcome = await engine.run_mission(mission, workspaces=[workspace], approve=approve)  # type: ignore[arg-type]
    if outcome.status != "done":
        raise SystemExit(f"The benchmark mission failed: {outcome.result}")
    return time.perf_counter() - started, outcome.mission_id


async def main(delay: float, calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, ScriptedModel(delay=delay) as model:
        os.environ.update(
            ENSEMBLE_HOME=str(Path(tmp) / "home"),
            ANTHROPIC_BASE_URL=model.base_url,
            ANTHROPIC_API_KEY="bench",
        )
        workspace = make_workspace(Path(tmp))
        engine = Engine(settings=Settings(max_concurrency=8))
        try:
            one = script_mission(model, "ONE", 1)
            eight = script_mission(model, "EIGHT", 8)
            await timed_mission(engine, one, workspace)  # warm up imports and the file cache
            model.clear_cache()
            critical, _ = await timed_mission(engine, script_mission(model, "ONE-AGAIN", 1), workspace)
            wall, eight_id = await timed_mission(engine, eight, workspace)
            one_f = script_mission(model, "ONE-F", 1, "formulas.xlsx")
            critical_f, _ = await timed_mission(engine, one_f, workspace)
            wall_f, _ = await timed_mission(
                engine, script_mission(model, "EIGHT-F", 8, "formulas.xlsx"), workspace
            )

            model.delay = 0.0
            engine.gate.timing.overhead_seconds.clear()
            await timed_mission(engine, script_many_calls(model, "READS", calls, write=False), workspace)
            reads = list(engine.gate.timing.overhead_seconds)
            engine.gate.timing.overhead_seconds.clear()
            await timed_mission(
                engine, script_many_calls(model, "WRITES", calls, write=True), workspace, "all"
            )
            writes = [s for s in engine.gate.timing.overhead_seconds]

            usage = engine.journal.model_calls(eight_id)
        finally:
            await engine.close()

    total = sum(c.input_tokens + c.output_tokens + c.cache_read_tokens + c.cache_write_tokens for c in usage)
    inputs = sum(c.input_tokens + c.cache_read_tokens + c.cache_write_tokens for c in usage)
    cache_read = sum(c.cache_read_tokens for c in usage)
    print(f"Scripted model delay per reply: {delay * 1000:.0f} ms; concurrency limit 8")
    print(
        f"1. 8 independent tasks: wall {wall:.3f} s, critical path {critical:.3f} s, "
        f"ratio {wall / critical:.3f} (goal <= 1.15)"
    )
    print(
        f"   same, on formulas without cached values: wall {wall_f:.3f} s, critical path "
        f"{critical_f:.3f} s, ratio {wall_f / critical_f:.3f}"
    )
    print(f"2. Engine overhead per tool call (journal + gate + dispatch), {calls} calls each:")
    print(
        f"   read calls:            median {statistics.median(reads) * 1000:.3f} ms, "
        f"p95 {statistics.quantiles(reads, n=20)[-1] * 1000:.3f} ms (goal <= 2 ms median)"
    )
    print(
        f"   approved local writes: median {statistics.median(writes) * 1000:.3f} ms, "
        f"p95 {statistics.quantiles(writes, n=20)[-1] * 1000:.3f} ms"
    )
    print(
        f"3. Tokens of the 8-task mission: {total:,} in {len(usage)} model calls; "
        f"cache reads {cache_read:,} = {cache_read / inputs:.1%} of input tokens"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--delay", type=float, default=0.25, help="seconds per scripted reply")
    parser.add_argument("--calls", type=int, default=200, help="tool calls for the overhead measurement")
    options = parser.parse_args()
    asyncio.run(main(options.delay, options.calls))
