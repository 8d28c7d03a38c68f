"""The scripted model, exercised through the real ``anthropic`` SDK over HTTP."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import anthropic
import pytest

from app.testing.scripted_model import (
    Conversation,
    Reply,
    ScriptedModel,
    error,
    text,
    tool_call,
    tool_calls,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

KEY = "sk-test-scripted"
CACHE = {"type": "ephemeral"}


@pytest.fixture
def model() -> Iterator[ScriptedModel]:
    with ScriptedModel(api_key=KEY) as scripted:
        yield scripted


@pytest.fixture
async def client(model: ScriptedModel) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(api_key=KEY, base_url=model.base_url) as sdk:
        yield sdk


@pytest.fixture
def sync_client(model: ScriptedModel) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(api_key=KEY, base_url=model.base_url) as sdk:
        yield sdk


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def ask(first_user: str, system: Any = "You are a test agent.", **extra: Any) -> dict[str, Any]:
    """The keyword arguments of a request: one user message unless ``messages`` is given."""
    return {
        "model": "claude-test",
        "max_tokens": 512,
        "system": system,
        "messages": [user(first_user)],
        **extra,
    }


def first_text(message: anthropic.types.Message) -> str:
    block = message.content[0]
    assert block.type == "text"
    return block.text


def post(url: str, body: object, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """A raw POST with urllib, to look at the wire format without the SDK."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as failure:
        with failure:
            return failure.code, dict(failure.headers), failure.read()


# Replies.


async def test_text_reply_without_streaming(model: ScriptedModel, client: anthropic.AsyncAnthropic) -> None:
    model.add("hello", text("Hi there."))

    message = await client.messages.create(**ask("hello"))

    assert [(b.type, getattr(b, "text", None)) for b in message.content] == [("text", "Hi there.")]
    assert message.stop_reason == "end_turn"
    assert message.model == "claude-test"
    assert message.id.startswith("msg_")
    assert model.requests[0]["messages"] == [user("hello")]
    assert model.request_headers[0]["authorization"] == f"Bearer {KEY}"


def test_text_reply_streamed_with_the_sync_client(
    model: ScriptedModel, sync_client: anthropic.Anthropic
) -> None:
    model.add("hello", text("A reply long enough to come in several pieces."))

    with sync_client.messages.stream(**ask("hello")) as stream:
        pieces = list(stream.text_stream)
        message = stream.get_final_message()

    assert len(pieces) > 1
    assert "".join(pieces) == "A reply long enough to come in several pieces."
    assert message.content[0].type == "text"
    assert message.content[0].text == "A reply long enough to come in several pieces."
    assert message.stop_reason == "end_turn"
    assert model.requests[0]["stream"] is True


async def test_tool_input_is_whole_after_streaming(
    model: ScriptedModel, client: anthropic.AsyncAnthropic
) -> None:
    arguments = {"path": "Q3 résumé.xlsx", "sheets": ["Summary", "Détail"], "limit": 10, "deep": {"a": None}}
    model.add("open", tool_call("read_sheet", arguments, text="Let me look."))

    async with client.messages.stream(**ask("open the workbook")) as stream:
        message = await stream.get_final_message()

    assert message.stop_reason == "tool_use"
    assert [b.type for b in message.content] == ["text", "tool_use"]
    call = message.content[1]
    assert call.type == "tool_use"
    assert call.name == "read_sheet"
    assert call.input == arguments
    assert call.id.startswith("toolu_")


async def test_parallel_tool_calls_in_one_turn(
    model: ScriptedModel, client: anthropic.AsyncAnthropic
) -> None:
    model.add(
        "fan out",
        tool_calls(("search", {"q": "a"}), ("search", {"q": "b"}), ("fetch", {"url": "http://x"})),
    )

    async with client.messages.stream(**ask("fan out")) as stream:
        streamed = await stream.get_final_message()
    plain = await client.messages.create(**ask("fan out"))

    for message in (streamed, plain):
        calls = [b for b in message.content if b.type == "tool_use"]
        assert [(c.name, c.input) for c in calls] == [
            ("search", {"q": "a"}),
            ("search", {"q": "b"}),
            ("fetch", {"url": "http://x"}),
        ]
        assert len({c.id for c in calls}) == 3
        assert message.stop_reason == "tool_use"


async def test_reply_function_inspects_what_the_model_was_sent(
    model: ScriptedModel, client: anthropic.AsyncAnthropic
) -> None:
    seen: list[str] = []

    def check_tool_result(request: dict[str, Any]) -> Reply:
        result = request["messages"][-1]["content"][0]
        assert result["type"] == "tool_result"
        seen.append(result["content"])
        assert "42" in result["content"]
        return text("The total is 42.")

    call = tool_call("sum_column", {"column": "B"})
    model.add("add up", call, check_tool_result)

    first = await client.messages.create(**ask("add up column B"))
    tool_use = first.content[0]
    assert tool_use.type == "tool_use"
    second = await client.messages.create(
        **ask(
            "add up column B",
            messages=[
                user("add up column B"),
                {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
                user([{"type": "tool_result", "tool_use_id": tool_use.id, "content": "Sum: 42"}]),
            ],
        )
    )

    assert seen == ["Sum: 42"]
    assert second.content[0].type == "text"
    assert second.content[0].text == "The total is 42."
    assert model.failures == []


async def test_reply_function_that_raises_fails_the_request_without_retries(
    model: ScriptedModel, client: anthropic.AsyncAnthropic
) -> None:
    def reject(request: dict[str, Any]) -> Reply:
        raise AssertionError("the model expected a tool result")

    model.add("check", reject)

    with pytest.raises(anthropic.APIStatusError) as info:
        await client.messages.create(**ask("check this"))

    assert info.value.status_code == 500
    assert "the model expected a tool result" in info.value.message
    assert len(model.requests) == 1  # The server said not to retry.
    assert "reject" in model.failures[0]


# Choosing the conversation and the turn.


async def test_conversation_matched_by_system_prompt_or_first_user_message(
    model: ScriptedModel, client: anthropic.AsyncAnthropic
) -> None:
    model.add("You are the planner", text("plan"))
    model.add("Summarise q3.xlsx", text("summary"))
    model.add("Summarise", text("never: an earlier script matches first"))

    by_system = await client.messages.create(**ask("anything", system="You are the planner."))
    by_blocks = await client.messages.create(
        **ask(
            "anything",
            system=[{"type": "text", "text": "Intro."}, {"type": "text", "text": "You are the planner"}],
        )
    )
    by_user = await client.messages.create(
        **ask(
            "x",
            system="You are a worker.",
            messages=[
                user([{"type": "text", "text": "Please"}, {"type": "text", "text": "Summarise q3.xlsx"}])
            ],
        )
    )

    assert [first_text(m) for m in (by_system, by_blocks, by_user)] == ["plan", "plan", "summary"]


def test_conversations_given_to_the_constructor() -> None:
    with ScriptedModel([Conversation("first", [text("one")])]) as scripted:
        with anthropic.Anthropic(api_key="any", base_url=scripted.base_url) as sdk:
            message = sdk.messages.create(**ask("first"))
    assert message.content[0].type == "text"
    assert message.content[0].text == "one"


async def test_turn_is_the_number_of_assistant_messages(
    model: ScriptedModel, client: anthropic.AsyncAnthropic
) -> None:
    model.add("loop", tool_call("step", {"n": 1}), tool_call("step", {"n": 2}), text("finished"))
    messages: list[dict[str, Any]] = [user("loop please")]
    inputs: list[Any] = []

    while True:
        reply = await client.messages.create(**ask("loop please", messages=messages))
        messages.append(
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in reply.content]}
        )
        if reply.stop_reason != "tool_use":
            break
        call = reply.content[0]
        assert call.type == "tool_use"
        inputs.append(call.input)
        messages.append(user([{"type": "tool_result", "tool_use_id": call.id, "content": "ok"}]))

    assert inputs == [{"n": 1}, {"n": 2}]
    assert messages[-1]["content"][0]["text"] == "finished"
    # The turn comes from the request, so asking again gets the same reply again.
    again = await client.messages.create(**ask("loop please", messages=messages[:3]))
    assert again.content[0].type == "tool_use"
    assert again.content[0].input == {"n": 2}


async def test_on_request_handler_is_consulted_first(
    model: ScriptedModel, client: anthropic.AsyncAnthropic
) -> None:
    model.add("", text("from the script"))
    model.on_request(lambda request: text("from the handler") if "urgent" in json.dumps(request) else None)

    urgent = await client.messages.create(**ask("urgent: reply"))
    normal = await client.messages.create(**ask("reply"))

    assert urgent.content[0].type == normal.content[0].type == "text"
    assert (urgent.content[0].text, normal.content[0].text) == ("from the handler", "from the script")


async def test_unknown_conversation_names_the_missing_script(
    model: ScriptedModel, client: anthropic.AsyncAnthropic
) -> None:
    model.add("You are the planner", text("plan"))

    with pytest.raises(anthropic.APIStatusError) as info:
        await client.messages.create(**ask("Draft the reply to Ms Okafor", system="You are the mailer."))

    assert info.value.status_code == 500
    assert "No scripted conversation matches" in info.value.message
    assert "'Draft the reply to Ms Okafor'" in info.value.message
    assert "'You are the planner'" in info.value.message
    assert len(model.requests) == 1
    assert len(model.failures) == 1


async def test_exhausted_script_says_which_turn(
    model: ScriptedModel, client: anthropic.AsyncAnthropic
) -> None:
    model.add("short", text("only reply"))

    with pytest.raises(anthropic.APIStatusError) as info:
        await client.messages.create(
            **ask(
                "short",
                messages=[user("short"), {"role": "assistant", "content": "only reply"}, user("and then?")],
            )
        )

    assert "'short' is exhausted" in info.value.message
    assert "turn 1" in info.value.message


# Errors.


def test_wrong_key_is_an_authentication_error(model: ScriptedModel) -> None:
    model.add("hello", text("never"))

    with anthropic.Anthropic(api_key="wrong", base_url=model.base_url) as sdk:
        with pytest.raises(anthropic.AuthenticationError) as info:
            sdk.messages.create(**ask("hello"))

    assert info.value.status_code == 401
    assert info.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
    }
    assert len(model.requests) == 1


def test_x_api_key_header_is_accepted_too(model: ScriptedModel) -> None:
    model.add("hello", text("hi"))

    status, _, body = post(f"{model.base_url}/v1/messages", ask("hello"), {"x-api-key": KEY})
    refused, _, _ = post(f"{model.base_url}/v1/messages", ask("hello"), {"x-api-key": "nope"})

    assert status == 200
    assert json.loads(body)["content"] == [{"type": "text", "text": "hi"}]
    assert refused == 401


async def test_overloaded_stays_overloaded_through_retries(model: ScriptedModel) -> None:
    model.add("busy", error(529, "overloaded_error", "Overloaded"))

    async with anthropic.AsyncAnthropic(api_key=KEY, base_url=model.base_url, max_retries=1) as sdk:
        with pytest.raises(anthropic.OverloadedError) as info:
            async with sdk.messages.stream(**ask("busy")) as stream:
                await stream.get_final_message()

    assert info.value.status_code == 529
    assert info.value.type == "overloaded_error"
    assert len(model.requests) == 2
    assert [h["x-stainless-retry-count"] for h in model.request_headers] == ["0", "1"]
    assert model.failures == []  # A scripted error is the script working, not failing.


def test_error_response_shape_and_retry_header(model: ScriptedModel) -> None:
    model.add("limit", error(429, "rate_limit_error", "Slow down"))

    status, headers, body = post(
        f"{model.base_url}/v1/messages", ask("limit", stream=True), {"x-api-key": KEY}
    )

    assert status == 429
    assert headers["content-type"] == "application/json"
    assert float(headers["retry-after-ms"]) > 0  # The SDK ignores a zero and backs off instead.
    assert json.loads(body) == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "Slow down"},
    }


def test_unknown_path_is_404(model: ScriptedModel) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{model.base_url}/v1/models", timeout=10)
    with info.value:
        body = json.loads(info.value.read())
    assert info.value.code == 404
    assert body["type"] == "error"
    assert body["error"]["type"] == "not_found_error"


async def test_unanswered_tool_use_is_rejected_as_the_api_would(
    model: ScriptedModel, client: anthropic.AsyncAnthropic
) -> None:
    model.add("", text("never"))
    forgetful = [
        user("go"),
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "t", "input": {}}]},
        user("I forgot the result"),
    ]

    with pytest.raises(anthropic.BadRequestError) as info:
        await client.messages.create(**ask("go", messages=forgetful))

    assert "toolu_1" in info.value.message
    assert "without `tool_result`" in info.value.message


# The wire format.


def test_stream_is_server_sent_events_with_named_events(model: ScriptedModel) -> None:
    model.add("hello", tool_call("t", {"x": 1}, text="Hi"))

    status, headers, raw = post(
        f"{model.base_url}/v1/messages", ask("hello", stream=True), {"x-api-key": KEY}
    )

    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    events = [chunk.split("\n") for chunk in raw.decode().strip().split("\n\n")]
    assert all(lines[0].startswith("event: ") and lines[1].startswith("data: ") for lines in events)
    names = [lines[0].removeprefix("event: ") for lines in events]
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    assert names.count("content_block_start") == names.count("content_block_stop") == 2
    data = [json.loads(lines[1].removeprefix("data: ")) for lines in events]
    assert [d["type"] for d in data] == names
    partial = "".join(
        d["delta"]["partial_json"] for d in data if d["type"] == "content_block_delta" and d["index"] == 1
    )
    assert json.loads(partial) == {"x": 1}


# Usage and prompt caching.


async def test_repeated_cached_prefix_is_read_from_the_cache(
    model: ScriptedModel, client: anthropic.AsyncAnthropic
) -> None:
    model.add("planner", text("one"), text("two"))
    system = [{"type": "text", "text": "You are the planner. " * 40, "cache_control": CACHE}]
    tools = [
        {"name": "a", "description": "A tool.", "input_schema": {"type": "object"}},
        {"name": "b", "description": "B tool.", "input_schema": {"type": "object"}, "cache_control": CACHE},
    ]

    first = await client.messages.create(**ask("plan it", system=system, tools=tools))
    async with client.messages.stream(**ask("plan it", system=system, tools=tools)) as stream:
        second = await stream.get_final_message()

    assert first.usage.cache_creation_input_tokens > 0
    assert first.usage.cache_read_input_tokens == 0
    assert first.usage.input_tokens > 0  # The user message follows the last breakpoint.
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.input_tokens == first.usage.input_tokens
    assert second.usage.output_tokens > 0


async def test_moving_breakpoint_reads_the_previous_turn_from_the_cache(
    model: ScriptedModel, client: anthropic.AsyncAnthropic
) -> None:
    """The agent loop marks the last message; the next turn finds the old mark by looking back."""
    model.add("worker", tool_call("t", {}), text("done"))
    system = [{"type": "text", "text": "You are a worker.", "cache_control": CACHE}]
    opening = user([{"type": "text", "text": "Do the work. " * 30, "cache_control": CACHE}])

    first = await client.messages.create(**ask("", system=system, messages=[opening]))
    call = first.content[0]
    assert call.type == "tool_use"
    second = await client.messages.create(
        **ask(
            "",
            system=system,
            messages=[
                user([{"type": "text", "text": "Do the work. " * 30}]),
                {"role": "assistant", "content": [call.model_dump(exclude_none=True)]},
                user(
                    [{"type": "tool_result", "tool_use_id": call.id, "content": "ok", "cache_control": CACHE}]
                ),
            ],
        )
    )

    cached_before = first.usage.cache_creation_input_tokens + first.usage.cache_read_input_tokens
    assert second.usage.cache_read_input_tokens == cached_before
    assert second.usage.cache_creation_input_tokens > 0
    assert second.usage.input_tokens == 0

    model.clear_cache()
    cold = await client.messages.create(**ask("", system=system, messages=[opening]))
    assert cold.usage.cache_read_input_tokens == 0


async def test_no_breakpoint_means_no_caching(model: ScriptedModel, client: anthropic.AsyncAnthropic) -> None:
    model.add("plain", text("a"), text("b"))

    for _ in range(2):
        message = await client.messages.create(**ask("plain"))
        assert message.usage.cache_read_input_tokens == 0
        assert message.usage.cache_creation_input_tokens == 0
        assert message.usage.input_tokens > 0


# Concurrency and lifecycle.


async def test_requests_are_served_concurrently(
    model: ScriptedModel, client: anthropic.AsyncAnthropic
) -> None:
    agents = 5
    model.add("agent", text("working", delay=0.05))
    model.hold()

    replies = [asyncio.create_task(client.messages.create(**ask(f"agent {n}"))) for n in range(agents)]
    # All of them are inside the server at once: it cannot be answering them one by one.
    await asyncio.to_thread(model.wait_for_in_flight, agents)
    assert model.in_flight == agents
    model.release()
    messages = await asyncio.gather(*replies)

    assert [m.content[0].type for m in messages] == ["text"] * agents
    assert model.max_in_flight == agents


async def test_stop_drops_a_request_still_waiting(model: ScriptedModel) -> None:
    model.add("slow", text("never sent"))
    model.hold()

    async with anthropic.AsyncAnthropic(api_key=KEY, base_url=model.base_url, max_retries=0) as sdk:
        reply = asyncio.create_task(sdk.messages.create(**ask("slow")))
        await asyncio.to_thread(model.wait_for_in_flight, 1)
        await asyncio.to_thread(model.stop)
        with pytest.raises(anthropic.APIConnectionError):
            await reply

    model.stop()  # Stopping twice is harmless.
    with pytest.raises(RuntimeError, match="not running"):
        _ = model.base_url


def test_wait_for_in_flight_times_out(model: ScriptedModel) -> None:
    with pytest.raises(TimeoutError, match="0 of 1"):
        model.wait_for_in_flight(1, timeout=0.01)


def test_start_twice_is_refused(model: ScriptedModel) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        model.start()


# Building replies.


def test_reply_defaults_and_builders() -> None:
    assert text("hi").stop_reason == "end_turn"
    assert text("hi", stop_reason="max_tokens").stop_reason == "max_tokens"
    call = tool_call("t", {"a": 1}, id="toolu_fixed", text="Looking.")
    assert call.stop_reason == "tool_use"
    assert call.content == [
        {"type": "text", "text": "Looking."},
        {"type": "tool_use", "id": "toolu_fixed", "name": "t", "input": {"a": 1}},
    ]
    assert tool_call("t", {}).content[0]["id"] != tool_call("t", {}).content[0]["id"]
    failure = error(529, "overloaded_error", "Overloaded")
    assert failure.is_error
    assert failure.content == []


@pytest.mark.parametrize(
    ("build", "problem"),
    [
        (lambda: Reply([], status=302, error_type="api_error"), ValueError),
        (lambda: Reply([], status=500), ValueError),
        (lambda: Reply([{"type": "text", "text": "x"}], status=500, error_type="api_error"), ValueError),
        (lambda: Reply([], error_type="api_error"), ValueError),
        (lambda: Reply([{"type": "tool_use", "name": "t", "input": {}}]), ValueError),
        (lambda: Reply([{"type": "text"}]), ValueError),
        (lambda: Reply(["just a string"]), TypeError),  # type: ignore[list-item]
        (lambda: Reply([{"type": "text", "text": "x", "when": object()}]), ValueError),
        (lambda: text("x", delay=-1), ValueError),
        (lambda: tool_calls(), ValueError),
    ],
)
def test_malformed_replies_are_refused_when_built(build: Any, problem: type[Exception]) -> None:
    with pytest.raises(problem):
        build()
