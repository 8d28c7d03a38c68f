"""How many requests go to a model at once follows the API's limits: it starts at the setting
(8 by default), halves when the API answers 429 or 529, once per burst, and grows back as
replies succeed, never above the setting.

Before, a fixed number of tasks (4) ran whatever the API said: too few when it had room (an
8-task mission took 1.55 times its critical path), and as many as ever when it was
rate-limiting, so every one of them spent its retries.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

from app.model import ModelClient
from app.settings import Settings
from app.testing.scripted_model import Reply, ScriptedModel, error, text

if TYPE_CHECKING:
    from app.testing.scripted_model import ErrorType

MESSAGES = [{"role": "user", "content": "LIMIT-TEST"}]


def client(scripted: ScriptedModel, ceiling: int = 8) -> ModelClient:
    return ModelClient(
        "scripted", api_key="sk-ant-test", base_url=scripted.base_url, max_retries=3, max_concurrency=ceiling
    )


def fail_first(scripted: ScriptedModel, count: int, status: int, kind: ErrorType) -> None:
    """The first ``count`` requests get the error; the SDK's retries of them then succeed."""
    lock = threading.Lock()
    seen = [0]

    def handler(_body: dict[str, Any]) -> Reply | None:
        with lock:
            seen[0] += 1
            return error(status, kind, "Slow down.") if seen[0] <= count else None

    scripted.on_request(handler)
    scripted.add("LIMIT-TEST", text("ok"))


async def ask(model: ModelClient) -> str:
    reply = await model.reply(system="LIMIT-TEST", tools=[], messages=MESSAGES)
    return reply.text


def test_the_default_follows_the_api_from_eight_at_once() -> None:
    settings = Settings()
    assert settings.max_concurrency == 8
    assert "429" in (Settings.model_fields["max_concurrency"].description or "")


async def test_a_rate_limit_halves_the_requests_at_once_and_holds_the_others_back(
    scripted: ScriptedModel,
) -> None:
    fail_first(scripted, 1, 429, "rate_limit_error")
    model = client(scripted)
    try:
        assert await ask(model) == "ok"  # its first try got 429; the SDK's retry succeeded
        assert model.limit.epoch == 1
        assert model.limit.current == 4

        scripted.hold()
        batch = [asyncio.ensure_future(ask(model)) for _ in range(8)]
        await asyncio.to_thread(scripted.wait_for_in_flight, 4)
        # Four are at the server; the other four wait their turn in the engine (they queued
        # at their first step, before the first four reached the server).
        assert len(model.limit._waiters) == 4
        assert model.limit.active == 4
        scripted.release()
        assert await asyncio.gather(*batch) == ["ok"] * 8
    finally:
        await model.close()
    assert scripted.max_in_flight == 4


async def test_a_burst_of_overloaded_answers_halves_once_and_the_limit_grows_back_to_the_setting(
    scripted: ScriptedModel,
) -> None:
    fail_first(scripted, 8, 529, "overloaded_error")
    model = client(scripted)
    try:
        scripted.hold()
        burst = [asyncio.ensure_future(ask(model)) for _ in range(8)]
        await asyncio.to_thread(scripted.wait_for_in_flight, 8)
        scripted.release()
        assert await asyncio.gather(*burst) == ["ok"] * 8
        # Eight 529s of one burst are one congestion: halved once, not eight times.
        assert model.limit.epoch == 1
        assert 4 <= model.limit.current < 8

        successes = 0
        while model.limit.current < 8:
            assert await ask(model) == "ok"
            successes += 1
            assert successes < 40, "the limit does not grow back"
        for _ in range(10):
            await ask(model)
    finally:
        await model.close()
    assert model.limit.current == 8  # never above the setting
    assert model.limit.active == 0
