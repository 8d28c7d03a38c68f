"""Engine benchmark: parallel speed-up, the engine's own overhead per tool call, disk writes,
and tokens, each printed with PASS or MISS against its goal.

Runs against the scripted model on 127.0.0.1, in a private ENSEMBLE_HOME, at default settings
unless said otherwise, and prints:

0. The scripted server's listen backlog (goal >= 128), so that a burst of parallel agents
   never waits for a connection retry.
1. The wall time of a mission of 8 independent tasks divided by its critical path, at the
   default settings (goal <= 1.15). The critical path is measured, not assumed: the same
   mission with one task has the same chain (lead, task's two replies, lead).
2. The engine's overhead per tool call against a plain SDK loop (``messages.stream``, the
   same tool run directly, no journal) on the same scripted server, in the same run, with
   the same prompts: the time from one model request to the next, per call, engine minus
   plain loop (goal <= 2 ms), and their ratio; at calls 1-100 and at calls 900-1,000 (goal:
   flat, the late median within 0.5 ms of the early one). The time between requests is
   taken on the server, so both loops are timed by the same clock at the same place.
3. Bytes written to disk per tool call (journal and WAL: every ``write`` the process made
   during the mission, from /proc/self/io), and the journal's size.
4. The gate's own time per call (journal, gate and dispatch, without the tool), for read
   calls and for approved local writes, as before.
5. The 8-task mission's tokens and their cache-read share.

Usage: python bench/bench_engine.py [--delay SECONDS] [--calls N] [--writes N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import anthropic
import openpyxl

from app.agents import registry, system_prompt
from app.engine import Engine
from app.model import with_cache_breakpoints
from app.settings import Settings
from app.testing.scripted_model import Reply, ScriptedModel, text, tool_call
from connectors.base import ToolContext


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


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
    tiny = openpyxl.Workbook()
    tiny_sheet = tiny.active
    assert tiny_sheet is not None
    tiny_sheet.title = "Data"
    tiny_sheet.append(["row 1", 1, 1.5])
    # The overhead measurement reads this one: the tool's own time is the same in both loops,
    # and a small one keeps its noise out of the difference.
    tiny.save(folder / "tiny.xlsx")
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


def script_many_calls(
    model: ScriptedModel, name: str, calls: int, write: bool, book: str = "data.xlsx"
) -> str:
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
            replies.append(tool_call("sheet_read", {"path": book, "range": f"A{i % 1000 + 1}"}))
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


class Stamps:
    """Server-side arrival times of the requests of conversations whose first message has a tag,
    and the CPU time the client's event-loop thread had used by then.

    The loop thread runs everything of a turn but the tool (which the spreadsheet connector
    runs in a worker thread) and the server (its own threads): the SDK, and for the engine
    the journal, the gate and the loop. Its CPU time per call is what a shared, loaded
    machine changes least; the wall time between requests is printed too.
    """

    def __init__(self, model: ScriptedModel) -> None:
        self.model = model
        self.times: dict[str, list[tuple[float, float]]] = {}
        self.loop_clock = time.pthread_getcpuclockid(threading.get_ident())

    def __call__(self, body: dict[str, Any]) -> None:
        # The scripted model keeps every request it saw, for tests; over a 1,000-call
        # conversation that is a million dicts (quadratic), whose garbage collection would be
        # charged to whichever loop allocates more. The benchmark reads none of them.
        with self.model._cond:
            self.model._requests.clear()
            self.model._request_headers.clear()
        first = body["messages"][0]["content"]
        first_text = first if isinstance(first, str) else " ".join(b.get("text", "") for b in first)
        for tag in self.times:
            if tag in first_text:
                self.times[tag].append((time.perf_counter(), time.clock_gettime(self.loop_clock)))

    def watch(self, tag: str) -> None:
        self.times[tag] = []

    def per_call(self, tag: str) -> list[float]:
        """Seconds from each request to the next: one tool call and its turn, per call."""
        return [b[0] - a[0] for a, b in itertools.pairwise(self.times[tag])]

    def cpu_per_call(self, tag: str) -> list[float]:
        """CPU seconds of the client's loop thread from each request to the next."""
        return [b[1] - a[1] for a, b in itertools.pairwise(self.times[tag])]


def journal_size(path: Path) -> int:
    """The journal's bytes on disk, its WAL included."""
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def written_bytes() -> int:
    """Every byte this process has passed to ``write`` (sockets' ``send`` is not counted)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return 0


async def plain_loop(model: ScriptedModel, workspace: Path, tag: str) -> None:
    """The reference: the same agent's conversation with the bare SDK, the tool run directly."""
    kind = registry()["spreadsheet"]
    tools = [t.to_api() for t in kind.tools]
    system = system_prompt(kind).replace("{workspaces}", f"- {workspace}")
    ctx = ToolContext(
        workspaces=[workspace], backup_dir=workspace.parent / "plain-backups", mission_id="plain"
    )
    client = anthropic.AsyncAnthropic(api_key="bench", base_url=model.base_url)
    messages: list[dict[str, Any]] = [{"role": "user", "content": tag}]
    try:
        while True:
            blocks, cached_tools, cached = with_cache_breakpoints(system, tools, messages)
            # The same request as the engine's ModelClient makes, as plain dicts.
            request: dict[str, Any] = {"system": blocks, "tools": cached_tools, "messages": cached}
            async with client.messages.stream(model="scripted", max_tokens=8192, **request) as stream:
                async for _event in stream:
                    pass
                message = await stream.get_final_message()
            content = [block.model_dump(mode="json", exclude_none=True) for block in message.content]
            messages.append({"role": "assistant", "content": content})
            uses = [b for b in content if b["type"] == "tool_use"]
            if not uses:
                return
            results = []
            for use in uses:
                tool = kind.tool(use["name"])
                assert tool is not None
                output = await tool.run(ctx, tool.parse(use["input"]))
                results.append({"type": "tool_result", "tool_use_id": use["id"], "content": output.text})
            messages.append({"role": "user", "content": results})
    finally:
        await client.close()


def window(values: list[float], first: int, last: int) -> list[float]:
    """Calls ``first`` to ``last`` (1-based, inclusive) of a per-call series."""
    return values[first - 1 : last]


async def main(delay: float, calls: int, writes_count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, ScriptedModel(delay=delay) as model:
        assert model._server is not None
        backlog = model._server.request_queue_size
        os.environ.update(
            ENSEMBLE_HOME=str(Path(tmp) / "home"),
            ANTHROPIC_BASE_URL=model.base_url,
            ANTHROPIC_API_KEY="bench",
        )
        workspace = make_workspace(Path(tmp))
        defaults = Settings()
        engine = Engine(settings=defaults)
        stamps = Stamps(model)
        model.on_request(stamps)
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
            # The same on a one-cell workbook: the tool's own CPU time (8 openpyxl parses under
            # one GIL on a shared machine) out of the way, what is left is the engine's.
            critical_t, _ = await timed_mission(
                engine, script_mission(model, "ONE-T", 1, "tiny.xlsx"), workspace
            )
            wall_t, _ = await timed_mission(
                engine, script_mission(model, "EIGHT-T", 8, "tiny.xlsx"), workspace
            )
            usage = engine.journal.model_calls(eight_id)

            # A long single task: the turn limit and the budget must not stop it.
            model.delay = 0.0
            engine.settings = defaults.model_copy(update={"max_turns": calls + 10, "token_budget": 10**12})
            # The plain loop runs before and after the engine (A-B-A), so that a change in the
            # machine's load during the run weighs on both alike.
            plain_runs: list[list[float]] = []
            plain_cpu_runs: list[list[float]] = []
            for name in ("PLAIN", "PLAIN-AGAIN"):
                script_many_calls(model, name, calls, write=False, book="tiny.xlsx")
                stamps.watch(f"{name}-CALLS")
                gc.collect()
                if name == "PLAIN-AGAIN":
                    engine.gate.timing.overhead_seconds.clear()
                    stamps.watch("READS-CALLS")
                    size_before = journal_size(engine.journal.path)
                    before = written_bytes()
                    await timed_mission(
                        engine,
                        script_many_calls(model, "READS", calls, write=False, book="tiny.xlsx"),
                        workspace,
                    )
                    written = written_bytes() - before
                    gc.collect()
                    journal_growth = journal_size(engine.journal.path) - size_before
                    ours = stamps.per_call("READS-CALLS")
                    ours_cpu = stamps.cpu_per_call("READS-CALLS")
                await plain_loop(model, workspace, f"{name}-CALLS")
                plain_runs.append(stamps.per_call(f"{name}-CALLS"))
                plain_cpu_runs.append(stamps.cpu_per_call(f"{name}-CALLS"))
            plain = [(a + b) / 2 for a, b in zip(*plain_runs, strict=True)]
            plain_cpu = [(a + b) / 2 for a, b in zip(*plain_cpu_runs, strict=True)]
            reads = list(engine.gate.timing.overhead_seconds)

            engine.gate.timing.overhead_seconds.clear()
            await timed_mission(
                engine, script_many_calls(model, "WRITES", writes_count, write=True), workspace, "all"
            )
            writes = list(engine.gate.timing.overhead_seconds)
        finally:
            await engine.close()

    total = sum(c.input_tokens + c.output_tokens + c.cache_read_tokens + c.cache_write_tokens for c in usage)
    inputs = sum(c.input_tokens + c.cache_read_tokens + c.cache_write_tokens for c in usage)
    cache_read = sum(c.cache_read_tokens for c in usage)
    ratio = wall / critical
    print(
        f"Scripted model delay per reply: {delay * 1000:.0f} ms; default settings "
        f"(max_concurrency {defaults.max_concurrency})"
    )
    print(f"0. Scripted server listen backlog: {backlog} (goal >= 128) {verdict(backlog >= 128)}")
    print(
        f"1. 8 independent tasks: wall {wall:.3f} s, critical path {critical:.3f} s, "
        f"ratio {ratio:.3f} (goal <= 1.15) {verdict(ratio <= 1.15)}"
    )
    print(
        f"   same, on formulas without cached values: wall {wall_f:.3f} s, critical path "
        f"{critical_f:.3f} s, ratio {wall_f / critical_f:.3f}"
    )
    print(
        f"   same, on a one-cell workbook: wall {wall_t:.3f} s, critical path {critical_t:.3f} s, "
        f"ratio {wall_t / critical_t:.3f} {verdict(wall_t / critical_t <= 1.15)}"
    )
    n = min(len(plain), len(ours))
    print(f"2. Overhead per tool call against a plain SDK loop, {n} calls each, same server, same run")
    print("   (CPU time of the client's event-loop thread per call; goal <= 2 ms, flat):")
    cpu_over = [ours_cpu[i] - plain_cpu[i] for i in range(n)]
    mean_cpu = statistics.mean(cpu_over) * 1000
    print(
        f"   all calls: engine {statistics.mean(ours_cpu[:n]) * 1000:.2f} ms, plain loop "
        f"{statistics.mean(plain_cpu[:n]) * 1000:.2f} ms; ratio "
        f"{sum(ours_cpu[:n]) / sum(plain_cpu[:n]):.3f}; overhead {mean_cpu:.2f} ms {verdict(mean_cpu <= 2.0)}"
    )
    early_cpu = statistics.median(window(cpu_over, 1, 100)) * 1000
    early_ratio = statistics.median(window(ours_cpu, 1, 100)) / statistics.median(window(plain_cpu, 1, 100))
    print(
        f"   calls 1-100: median overhead {early_cpu:.2f} ms (engine/plain {early_ratio:.3f}) "
        f"{verdict(early_cpu <= 2.0)}"
    )
    if n >= 1000:
        late_cpu = statistics.median(window(cpu_over, 900, 1000)) * 1000
        late_ratio = statistics.median(window(ours_cpu, 900, 1000)) / statistics.median(
            window(plain_cpu, 900, 1000)
        )
        print(
            f"   calls 900-1,000: median overhead {late_cpu:.2f} ms (engine/plain {late_ratio:.3f}) "
            f"{verdict(late_cpu <= 2.0)}; flat (within 0.5 ms of calls 1-100): "
            f"{verdict(abs(late_cpu - early_cpu) <= 0.5)}"
        )
    else:
        print("   calls 900-1,000: not measured (run with --calls 1000 or more) MISS")
    over = [ours[i] - plain[i] for i in range(n)]
    wall_line = (
        f"   wall time between requests, for reference (a loaded machine moves it): engine "
        f"{statistics.mean(ours[:n]) * 1000:.2f} ms, plain {statistics.mean(plain[:n]) * 1000:.2f} ms "
        f"per call; median overhead calls 1-100 {statistics.median(window(over, 1, 100)) * 1000:.2f} ms"
    )
    if n >= 1000:
        wall_line += f", calls 900-1,000 {statistics.median(window(over, 900, 1000)) * 1000:.2f} ms"
    print(wall_line)
    per_call = written / max(len(ours), 1)
    print(
        f"3. Written to disk during the {calls}-call mission: {written / 1e6:.2f} MB "
        f"({per_call / 1024:.1f} KiB per call); the journal (and its WAL) grew {journal_growth / 1e6:.2f} MB"
    )
    print("4. The gate's own time per call (journal + gate + dispatch, without the tool):")
    print(
        f"   read calls:            median {statistics.median(reads) * 1000:.3f} ms, "
        f"p95 {statistics.quantiles(reads, n=20)[-1] * 1000:.3f} ms"
    )
    print(
        f"   approved local writes: median {statistics.median(writes) * 1000:.3f} ms, "
        f"p95 {statistics.quantiles(writes, n=20)[-1] * 1000:.3f} ms ({writes_count} calls)"
    )
    print(
        f"5. Tokens of the 8-task mission: {total:,} in {len(usage)} model calls; "
        f"cache reads {cache_read:,} = {cache_read / inputs:.1%} of input tokens"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--delay", type=float, default=0.25, help="seconds per scripted reply")
    parser.add_argument("--calls", type=int, default=1000, help="tool calls for the overhead measurement")
    parser.add_argument("--writes", type=int, default=100, help="approved local writes timed by the gate")
    options = parser.parse_args()
    asyncio.run(main(options.delay, options.calls, options.writes))
