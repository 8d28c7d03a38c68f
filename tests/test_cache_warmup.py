"""Fan-outs warm the prompt cache first: tasks of one agent kind share their prompt's prefix
(tools and system prompt), which the API lets a request read only once the response of the
request that wrote it was sent. The scripted model simulates that rule here."""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

import anthropic
import pytest

from app.engine import Engine
from app.settings import Settings
from app.testing.scripted_model import ScriptedModel, text, tool_call

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def real_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedModel]:
    """A scripted model whose prompt cache follows the real API's rule."""
    model = ScriptedModel(api_key="sk-ant-test", cache_rule="after_response")
    with model:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", model.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        yield model


def fan_out(model: ScriptedModel, tasks: int) -> str:
    """Scripts a mission whose lead hands ``tasks`` reads to spreadsheet agents at once.

    Each task's first reply takes a moment, as a real model's does, so that tasks started
    together would all be in flight before the first answer.
    """
    mission = f"Read the invoices in {tasks} parts"
    plan = [
        {"id": f"t{i}", "agent": "spreadsheet", "instructions": f"PART-{i}: read row {i + 2}"}
        for i in range(tasks)
    ]
    model.add(mission, tool_call("delegate", {"tasks": plan}), text("All parts read."))
    for i in range(tasks):
        model.add(
            f"PART-{i}:",
            tool_call("sheet_read", {"path": "invoices.xlsx", "range": f"A{i + 2}:E{i + 2}"}, delay=0.3),
            text(f"Part {i} read."),
        )
    return mission


def first_request(model: ScriptedModel, tag: str) -> int:
    """The index in ``model.requests`` of the first request of the task tagged ``tag``."""
    for index, body in enumerate(model.requests):
        if tag in json.dumps(body["messages"][0]["content"]):
            return index
    raise AssertionError(f"No request of {tag}")


async def run(engine: Engine, mission: str, workspace: Path) -> str:
    try:
        outcome = await engine.run_mission(mission, workspaces=[workspace])
    finally:
        await engine.close()
    assert outcome.status == "done", outcome.result
    return outcome.mission_id


async def test_second_task_starts_after_first_tasks_first_response(
    real_cache: ScriptedModel, workspace: Path
) -> None:
    mission = fan_out(real_cache, 2)

    await run(Engine(settings=Settings()), mission, workspace)

    timeline = real_cache.timeline
    first, second = first_request(real_cache, "PART-0:"), first_request(real_cache, "PART-1:")
    assert timeline.index(("response", first)) < timeline.index(("request", second))
    # Its second request is not what it waits for: the two tasks overlap.
    first_again = next(
        i
        for i, body in enumerate(real_cache.requests)
        if "PART-0:" in json.dumps(body["messages"][0]["content"]) and i != first
    )
    assert timeline.index(("request", second)) < timeline.index(("response", first_again))
    assert not real_cache.failures


async def test_eight_task_fan_out_reads_most_of_its_input_from_the_cache(
    real_cache: ScriptedModel, workspace: Path
) -> None:
    mission = fan_out(real_cache, 8)
    engine = Engine(settings=Settings())

    mission_id = await run(engine, mission, workspace)

    calls = engine.journal.model_calls(mission_id)
    inputs = sum(c.input_tokens + c.cache_read_tokens + c.cache_write_tokens for c in calls)
    read = sum(c.cache_read_tokens for c in calls)
    assert len(calls) == 2 + 8 * 2
    assert read / inputs >= 0.70, f"cache reads {read / inputs:.1%} of {inputs} input tokens"
    # Every task but the first reads the shared prefix on its first call.
    first_calls: dict[str, Any] = {}
    for call in calls:
        if call.task_id is not None:
            first_calls.setdefault(call.task_id, call)
    reading = sorted(c.cache_read_tokens > 0 for c in first_calls.values())
    assert reading == [False] + [True] * 7


def test_real_rule_hides_a_prefix_from_a_request_that_was_already_waiting() -> None:
    """Two requests in flight at once both miss; one sent after the answer reads."""
    model = ScriptedModel(cache_rule="after_response")
    model.add("You are the planner", text("ok"))
    system: Any = [
        {"type": "text", "text": "You are the planner. " * 50, "cache_control": {"type": "ephemeral"}}
    ]
    with model, anthropic.Anthropic(api_key="k", base_url=model.base_url) as client:
        ask = {
            "model": "m",
            "max_tokens": 10,
            "system": system,
            "messages": [{"role": "user", "content": "hi"}],
        }
        model.hold()
        results: list[anthropic.types.Message] = []
        threads = [
            threading.Thread(target=lambda: results.append(client.messages.create(**ask))) for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        model.wait_for_in_flight(2)
        model.release()
        for thread in threads:
            thread.join()
        later = client.messages.create(**ask)
    assert [r.usage.cache_read_input_tokens for r in results] == [0, 0]
    assert later.usage.cache_read_input_tokens > 0
