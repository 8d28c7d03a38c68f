"""The engine's own work per turn does not grow with the conversation.

An agent's conversation grows by two messages per tool call; the SDK serialises all of it on
every request (a plain SDK loop pays that too), but nothing of the engine may: no copying,
serialising, validating or journaling of the whole history per turn. Measured by counting,
not timing: the function calls the engine's code makes in a turn, and the JSON it writes.
"""

from __future__ import annotations

import copy
import dis
import inspect
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import app
from app.engine import Engine
from app.model import with_cache_breakpoints
from app.settings import Settings
from app.testing.scripted_model import ScriptedModel, text, tool_call

if TYPE_CHECKING:
    from types import FrameType

APP = str(Path(app.__file__).parent)
TESTING = str(Path(app.__file__).parent / "testing")
COPY = copy.__file__
TURNS = 160
RESUME = dis.opmap["RESUME"]
WAKES = inspect.CO_COROUTINE | inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR


def entered(frame: FrameType) -> bool:
    """Whether a "call" event starts a function, rather than resume a suspended coroutine.

    The profiler reports a "call" each time the event loop resumes a coroutine, once per frame
    of the awaiting chain: how often that happens depends on when the model's reply arrives,
    not on the engine's work. A resumed frame stands on a ``RESUME`` with a non-zero argument.
    """
    code = frame.f_code
    if not code.co_flags & WAKES:
        return True
    raw = code.co_code
    at = frame.f_lasti
    return not (0 <= at < len(raw) - 1 and raw[at] == RESUME and raw[at + 1] != 0)


def ours(filename: str) -> bool:
    """Whether code is the engine's (the scripted model is the test's, not the engine's)."""
    return filename.startswith(APP) and not filename.startswith(TESTING)


@dataclass
class Work:
    """What the engine's code did, turn by turn (a turn starts with a model request)."""

    calls: list[int] = field(default_factory=lambda: [0])
    """Python functions called in the engine's modules or in ``copy`` (a deep copy); a
    coroutine resumed counts once, when it starts."""
    builtins: list[int] = field(default_factory=lambda: [0])
    """Built-in functions called from the engine's modules."""
    json_bytes: list[int] = field(default_factory=lambda: [0])
    """Characters of JSON the engine's modules produced with ``json.dumps``."""

    def profile(self, frame: FrameType, event: str, arg: Any) -> None:
        code = frame.f_code
        if event == "call":
            if code is REQUEST:
                for series in (self.calls, self.builtins, self.json_bytes):
                    series.append(0)
            if (ours(code.co_filename) or code.co_filename == COPY) and entered(frame):
                self.calls[-1] += 1
        elif event == "c_call":
            if ours(code.co_filename):
                self.builtins[-1] += 1
        elif event == "return" and code is DUMPS and frame.f_back is not None:
            if ours(frame.f_back.f_code.co_filename) and isinstance(arg, str):
                self.json_bytes[-1] += len(arg)


# Called once per model request (the coroutines' frames report a call at each resumption).
REQUEST = with_cache_breakpoints.__code__
DUMPS = json.dumps.__code__


async def test_engine_work_per_turn_does_not_grow_with_the_conversation(
    scripted: ScriptedModel, workspace: Path
) -> None:
    mission = "Read the invoices cell by cell"
    scripted.add(
        mission,
        tool_call(
            "delegate", {"tasks": [{"id": "t", "agent": "spreadsheet", "instructions": "CELLS: read"}]}
        ),
        text("Done."),
    )
    # Different cells in turn: the engine stops an agent that repeats one call.
    reads = [
        tool_call("sheet_read", {"path": "invoices.xlsx", "range": f"{'ABCDE'[i % 5]}{i % 4 + 2}"})
        for i in range(TURNS)
    ]
    scripted.add("CELLS:", *reads, text("Read."))
    engine = Engine(settings=Settings(max_turns=TURNS + 10))
    work = Work()
    sys.setprofile(work.profile)
    try:
        outcome = await engine.run_mission(mission, workspaces=[workspace])
    finally:
        sys.setprofile(None)
        await engine.close()
    assert outcome.status == "done", outcome.result

    # Turn 0 is before the first request; then the lead's first, the task's TURNS + 1
    # turns and the lead's last. The task's turns are compared, early against late.
    task_turns = slice(2, 2 + TURNS)
    for name, series in (("calls", work.calls), ("builtins", work.builtins), ("json", work.json_bytes)):
        turns = series[task_turns]
        early, late = turns[5:15], turns[-10:]
        assert len(turns) == TURNS
        # A few characters more for two-digit ids and counts; nothing that scales.
        assert max(late) <= max(early) * 1.05 + 20, f"{name} per turn grew: early {early}, late {late}"
        assert min(early) > 0, name
