"""The tool-use loop every agent runs: ask the model, run its tool calls, repeat."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.gate import ToolResult, TurnOrder
from app.orchestrator._runtime import LimitReached, MissionRuntime

if TYPE_CHECKING:
    from app.journal import Batch, Task

LOOP_LIMIT = 3
"""An agent that makes the same tool call (same arguments) this many times in a row, getting
the same result each time with no other call in between, is stopped: it is going round in
circles. The same call with another call between (a write, a navigation) is work, not a loop."""

ToolHandler = Callable[[str, object], Awaitable[ToolResult]]
"""Runs one tool call: ``(tool_use_id, arguments) -> result``."""


@dataclass(frozen=True)
class AgentTools:
    """An agent's tools: their declarations for the model and their handlers.

    Attributes:
        effects: Each tool's effect (``read``, ``local``, ``external``); a tool left out
            counts as ``read``. A turn's consecutive calls of one tool that changes something
            are proposed together (see :func:`_run_tools`).
    """

    declarations: list[dict[str, Any]]
    handlers: Mapping[str, ToolHandler]
    effects: Mapping[str, str] = field(default_factory=dict)


async def run_agent(
    rt: MissionRuntime,
    *,
    agent: str,
    task: Task | None,
    system: str,
    tools: AgentTools,
    messages: list[dict[str, Any]],
    max_turns: int,
    batch: Batch,
    replied: asyncio.Event | None = None,
) -> str:
    """Runs an agent until it answers without calling a tool.

    Args:
        rt: The mission's shared state.
        agent: The agent kind, or ``"lead"``.
        task: Its task (None for the lead).
        system: Its system prompt.
        tools: What it may call.
        messages: The conversation so far, ending with a user turn; extended in place.
        max_turns: How many model replies it may take.
        batch: Its journal writes, one transaction per turn; its tool handlers' call site
            carries the same batch, so that a turn's tool calls join it.
        replied: Set once a model reply has arrived: the prompt's prefix (tools, system)
            is then in the prompt cache, for agents of the same kind to read.

    Returns:
        Its final text.

    Raises:
        LimitReached: The turn limit or the mission's token budget was reached.
        ModelError: The model could not be used.
    """
    try:
        return await _turns(rt, agent, task, system, tools, messages, max_turns, batch, replied)
    finally:
        # Whatever ends the agent (its answer, a limit, a pause, a stop), what its turn did so
        # far (tool calls made, their results) is journaled as it was.
        batch.commit()


async def _turns(
    rt: MissionRuntime,
    agent: str,
    task: Task | None,
    system: str,
    tools: AgentTools,
    messages: list[dict[str, Any]],
    max_turns: int,
    batch: Batch,
    replied: asyncio.Event | None,
) -> str:
    if messages and messages[-1]["role"] == "assistant":
        # Resumed after a restart with the agent's last turn journaled: finish that turn. Only
        # its calls may have been journaled already, so only they are looked up.
        last = messages[-1]["content"]
        uses = [b for b in last if isinstance(b, dict) and b.get("type") == "tool_use"]
        if not uses:
            return "\n".join(b["text"] for b in last if b.get("type") == "text").strip()
        batch.resuming = frozenset(use["id"] for use in uses)
        messages.append({"role": "user", "content": await _run_tools(uses, tools)})
        batch.resuming = frozenset()
        rt.save_conversation(task, messages, batch)
        batch.commit()
    streak = Streak()
    for _turn in range(max_turns):
        if task is None and rt.inbox:
            _deliver(rt.inbox, messages)
        reply = await rt.reply(
            agent=agent, task=task, system=system, tools=tools.declarations, messages=messages, batch=batch
        )
        if replied is not None:
            replied.set()
        messages.append({"role": "assistant", "content": reply.content})
        rt.save_conversation(task, messages, batch)
        if not reply.tool_uses:
            if reply.stop_reason == "max_tokens" and not reply.text:
                raise LimitReached("The model's reply was cut off at the maximum reply length.")
            return reply.text
        results = await _run_tools(reply.tool_uses, tools)
        messages.append({"role": "user", "content": results})
        rt.save_conversation(task, messages, batch)
        # One transaction for the turn: the reply, its usage, its read-only calls and results.
        batch.commit()
        for use, result in zip(reply.tool_uses, results, strict=True):
            if streak.add(use, result) >= LOOP_LIMIT:
                raise LimitReached(
                    f"The agent called {use['name']} with the same arguments {LOOP_LIMIT} times in a row "
                    "and got the same result each time; it was stopped so that it does not loop."
                )
    raise LimitReached(f"The agent reached its limit of {max_turns} turns without finishing.")


@dataclass
class Streak:
    """The agent's latest run of identical calls with identical results (pure, deterministic
    code: the Temporal workflow counts with it too)."""

    key: str = ""
    count: int = 0

    def add(self, use: dict[str, Any], result: dict[str, Any]) -> int:
        """Counts one call and its result; returns how long the run of identical ones is."""
        outcome = json.dumps(result.get("content"), sort_keys=True)
        digest = hashlib.sha256(outcome.encode()).hexdigest()
        key = f"{use['name']} {json.dumps(use.get('input'), sort_keys=True)} {digest}"
        self.count = self.count + 1 if key == self.key else 1
        self.key = key
        return self.count


async def _run_tools(uses: list[dict[str, Any]], tools: AgentTools) -> list[dict[str, Any]]:
    """Runs a turn's tool calls and returns their ``tool_result`` blocks, in the turn's order.

    A read runs alone, after everything before it. A run of consecutive calls of one tool that
    changes something is proposed together, so the person sees them as one batch (twelve
    drafts, one card of twelve); what is approved is carried out in the turn's order (see
    :class:`app.gate.TurnOrder`).
    """
    results: list[ToolResult] = []
    start = 0
    while start < len(uses):
        end = start + 1
        if _changes(uses[start], tools):
            # Only calls of the same tool: one that builds on another tool's change (an
            # invitation to the event created just before it) still proposes after it ran.
            while end < len(uses) and uses[end]["name"] == uses[start]["name"]:
                end += 1
        if end - start == 1:
            results.append(await _run_one(uses[start], tools))
        else:
            results += await _run_together(uses[start:end], tools)
        start = end
    return [_block(use, result) for use, result in zip(uses, results, strict=True)]


def _changes(use: dict[str, Any], tools: AgentTools) -> bool:
    return use["name"] in tools.handlers and tools.effects.get(use["name"], "read") != "read"


async def _run_one(use: dict[str, Any], tools: AgentTools) -> ToolResult:
    handler = tools.handlers.get(use["name"])
    if handler is None:
        return ToolResult(
            f"There is no tool named {use['name']!r}. Available: {', '.join(tools.handlers)}.",
            is_error=True,
        )
    return await handler(use["id"], use.get("input", {}))


async def _run_together(uses: list[dict[str, Any]], tools: AgentTools) -> list[ToolResult]:
    """Runs calls that change something at the same time, each its own task in one turn order."""
    order = TurnOrder(len(uses))

    async def run(index: int, use: dict[str, Any]) -> ToolResult:
        order.enter(index)
        try:
            return await _run_one(use, tools)
        finally:
            order.end(index)

    tasks = [asyncio.ensure_future(run(i, use)) for i, use in enumerate(uses)]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        # One failed or the turn was stopped: the others stop too, each journaled by the gate
        # as it stops; nothing is left running behind the turn.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _block(use: dict[str, Any], result: ToolResult) -> dict[str, Any]:
    """A tool result as the model's ``tool_result`` block."""
    content: str | list[dict[str, Any]] = result.text
    if result.images:
        content = [{"type": "text", "text": result.text}] + [
            {
                "type": "image",
                "source": {
                    "type": "base64",
                    "media_type": media,
                    "data": base64.b64encode(data).decode(),
                },
            }
            for media, data in result.images
        ]
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": use["id"], "content": content}
    if result.is_error:
        block["is_error"] = True
    return block


def _deliver(inbox: list[str], messages: list[dict[str, Any]]) -> None:
    """Adds the person's chat messages to the lead's next turn (the last, user, message)."""
    add_user_text(messages, [f"The person wrote in the chat: {text}" for text in inbox])
    inbox.clear()


def add_user_text(messages: list[dict[str, Any]], texts: list[str]) -> None:
    """Adds text to the conversation's last message if it is the user's, else as a new one."""
    if not messages or messages[-1]["role"] != "user":
        messages.append({"role": "user", "content": [{"type": "text", "text": t} for t in texts]})
        return
    last = messages[-1]
    content = last["content"]
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    last["content"] = [*content, *({"type": "text", "text": t} for t in texts)]
