"""Token benchmark: what a fan-out to sub-agents costs in tokens, under the real API's caching
rule, each figure printed with PASS or MISS against its goal.

Runs against the scripted model on 127.0.0.1 with ``cache_rule="after_response"`` (a cached
prompt prefix is readable only by requests that arrive after the response of the request
that wrote it was sent, as on the real API), in a private ENSEMBLE_HOME, at default settings,
and prints:

1. Tokens of 8 reads done by 8 sub-agents at once against the same 8 reads done by one
   sub-agent, one after the other, in the same run (goal: ratio <= 1.5).
2. The 8-task mission's cache-read share: cache reads / all input tokens (goal >= 70 %).
3. The 8-task mission's wall time divided by its critical path (the same mission with one
   task: lead, the task's two replies, lead), measured in the same run (goal <= 1.15).

Usage: python bench/bench_tokens.py [--delay SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from bench_engine import make_workspace, script_mission, timed_mission, verdict

from app.engine import Engine
from app.settings import Settings
from app.testing.scripted_model import ScriptedModel, text, tool_call

if TYPE_CHECKING:
    from app.journal import ModelCall


def script_one_agent(model: ScriptedModel, name: str, reads: int) -> str:
    """One sub-agent makes ``reads`` reads, one per turn, as the 8 sub-agents make one each."""
    mission = f"BENCH {name}: read the data in {reads} parts with one agent"
    model.add(
        mission,
        tool_call(
            "delegate",
            {"tasks": [{"id": "t", "agent": "spreadsheet", "instructions": f"{name}-ALL: read rows"}]},
        ),
        text("All parts read."),
    )
    model.add(
        f"{name}-ALL:",
        *(
            tool_call("sheet_read", {"path": "data.xlsx", "range": f"A{i * 20 + 1}:D{i * 20 + 20}"})
            for i in range(reads)
        ),
        text("All parts read."),
    )
    return mission


def totals(calls: list[ModelCall]) -> tuple[int, int, int]:
    """``(all tokens, input tokens, cache-read tokens)`` of a mission's model calls."""
    total = sum(c.input_tokens + c.output_tokens + c.cache_read_tokens + c.cache_write_tokens for c in calls)
    inputs = sum(c.input_tokens + c.cache_read_tokens + c.cache_write_tokens for c in calls)
    return total, inputs, sum(c.cache_read_tokens for c in calls)


async def main(delay: float) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        ScriptedModel(delay=delay, cache_rule="after_response") as model,
    ):
        os.environ.update(
            ENSEMBLE_HOME=str(Path(tmp) / "home"),
            ANTHROPIC_BASE_URL=model.base_url,
            ANTHROPIC_API_KEY="bench",
        )
        workspace = make_workspace(Path(tmp))
        engine = Engine(settings=Settings())
        try:
            await timed_mission(engine, script_mission(model, "WARM", 1), workspace)  # imports, files
            model.clear_cache()
            critical, _ = await timed_mission(engine, script_mission(model, "ONE", 1), workspace)
            model.clear_cache()
            wall, eight_id = await timed_mission(engine, script_mission(model, "EIGHT", 8), workspace)
            model.clear_cache()
            _, single_id = await timed_mission(engine, script_one_agent(model, "SINGLE", 8), workspace)
            eight = totals(engine.journal.model_calls(eight_id))
            single = totals(engine.journal.model_calls(single_id))
            eight_calls = len(engine.journal.model_calls(eight_id))
        finally:
            await engine.close()
    ratio = eight[0] / single[0]
    share = eight[2] / eight[1]
    print(
        f"Scripted model delay per reply: {delay * 1000:.0f} ms; real caching rule (a prefix is "
        "readable after the response that wrote it); default settings"
    )
    print(
        f"1. 8 reads on 8 sub-agents: {eight[0]:,} tokens in {eight_calls} model calls; the same 8 "
        f"reads by one sub-agent: {single[0]:,} tokens; ratio {ratio:.2f} (goal <= 1.5) "
        f"{verdict(ratio <= 1.5)}"
    )
    print(
        f"2. Cache reads of the 8-task mission: {eight[2]:,} of {eight[1]:,} input tokens = {share:.1%} "
        f"(goal >= 70%) {verdict(share >= 0.70)}; one sub-agent: {single[2] / single[1]:.1%}"
    )
    print(
        f"3. 8 independent tasks: wall {wall:.3f} s, critical path {critical:.3f} s, "
        f"ratio {wall / critical:.3f} (goal <= 1.15) {verdict(wall / critical <= 1.15)}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--delay", type=float, default=0.25, help="seconds per scripted reply")
    asyncio.run(main(parser.parse_args().delay))
