"""What every agent of one mission shares: the model, the gate, the journal, the budget."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.journal import Conversation, Journal, Mission, ModelCall, Task, blocks, utcnow
from app.model import ModelError

if TYPE_CHECKING:
    from app.gate import ApprovalGate
    from app.journal import Batch
    from app.model import ModelClient, Reply
    from app.settings import Settings
    from connectors.base import ToolContext

AskUser = Callable[[str], Awaitable[str]]
"""Puts a question to the person in the chat and returns their answer."""


_MODEL_CALLS: str = ModelCall.__tablename__  # type: ignore[assignment]


def _with_zero_usage(call: dict[str, object]) -> dict[str, object]:
    """A failed call's columns, with the usage columns (not null) at zero."""
    zero = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
    return {**call, **dict.fromkeys(zero, 0), "stop_reason": None}


class LimitReached(Exception):
    """An agent reached the mission's token budget or its own turn limit."""


TRANSIENT = frozenset({"overloaded", "unreachable", "rate_limited"})
"""Model failures that may pass: the mission pauses (resumable) instead of failing."""


class MissionPaused(BaseException):
    """The model is unavailable past the SDK's retries: the whole mission pauses, resumable.

    It derives from BaseException so that no tool-call boundary (which turns exceptions into
    tool results) and no task's error handling swallows it: every agent stops where it is,
    its journal left as it was, ready for ``ensemble resume``.
    """


@dataclass
class MissionRuntime:
    """The shared state of one running mission.

    Attributes:
        mission: Its journal row.
        journal: The journal.
        gate: The approval gate every tool call goes through.
        model: The model client.
        settings: Limits and model name, as they were when the mission started.
        ctx: The workspace the mission's tools may touch.
        ask_user: How to reach the person.
        inbox: Messages the person sent while the mission ran, for the lead's next turn.
    """

    mission: Mission
    journal: Journal
    gate: ApprovalGate
    model: ModelClient
    settings: Settings
    ctx: ToolContext
    ask_user: AskUser
    inbox: list[str] = field(default_factory=list)
    pausing: bool = False
    semaphore: asyncio.Semaphore = field(init=False)
    _saved: dict[str | None, tuple[int, int]] = field(init=False, default_factory=dict)
    """Per conversation (task id, None for the lead): what of it is journaled, as
    ``(messages, blocks of the last one)``."""

    def __post_init__(self) -> None:
        self.semaphore = asyncio.Semaphore(self.settings.max_concurrency)

    @property
    def mission_id(self) -> str:
        """The mission's id."""
        return self.mission.id

    def check_budget(self) -> None:
        """Raises :class:`LimitReached` once the mission's tokens reach its budget."""
        if self.mission.tokens >= self.settings.token_budget:
            raise LimitReached(
                f"The mission's token budget is used up ({self.mission.tokens:,} of "
                f"{self.settings.token_budget:,} tokens)."
            )

    async def reply(
        self,
        *,
        agent: str,
        task: Task | None,
        system: str,
        tools: list[dict[str, Any]],
        messages: list[dict[str, Any]],
        batch: Batch,
        tool_choice: dict[str, Any] | None = None,
    ) -> Reply:
        """Asks the model for an agent's next turn; its usage goes into the turn's batch.

        The call, the mission's and the task's token counts and the ``model_call`` event are
        written with the rest of the turn (see :class:`~app.journal.Batch`); a failed call
        is journaled at once.

        ``tool_choice`` is the API's (``{"type": "tool", "name": ...}`` forces that tool).

        Raises:
            LimitReached: The budget was used up before the call.
            ModelError: The model could not be used.
        """
        self.check_budget()
        task_id = task.id if task else None
        # Column values, not a ModelCall object: the object would cost more than the write.
        call: dict[str, object] = {
            "mission_id": self.mission_id,
            "task_id": task_id,
            "agent": agent,
            "model": self.model.model,
            "started_at": utcnow(),
        }

        def on_text(text: str) -> None:
            self.journal.notify(self.mission_id, "text_delta", task_id=task_id, agent=agent, text=text)

        try:
            reply = await self.model.reply(
                system=system, tools=tools, messages=messages, on_text=on_text, tool_choice=tool_choice
            )
        except ModelError as exc:
            call.update(error=str(exc), finished_at=utcnow())
            batch.insert_values(_MODEL_CALLS, _with_zero_usage(call))
            batch.commit()
            if exc.kind in TRANSIENT:
                self.pausing = True
                self.gate.pausing.add(self.mission_id)
                raise MissionPaused(str(exc)) from exc
            raise
        usage = reply.usage
        call.update(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            stop_reason=reply.stop_reason,
            finished_at=utcnow(),
        )
        self.mission.tokens += usage.total
        batch.insert_values(_MODEL_CALLS, call)
        batch.update(self.mission, "tokens")
        if task is not None:
            task.tokens += usage.total
            task.turns += 1
            batch.update(task, "tokens", "turns")
        batch.audit(
            self.mission_id,
            "model_call",
            f"{agent} model call: {usage.total:,} tokens ({usage.cache_read_tokens:,} from cache)",
            task_id=task_id,
            model=self.model.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            stop_reason=reply.stop_reason,
            mission_tokens=self.mission.tokens,
        )
        return reply

    def save_conversation(self, task: Task | None, messages: list[dict[str, Any]], batch: Batch) -> None:
        """Adds what is new in an agent's conversation to the turn's batch, so an interrupted
        mission can resume: each message once, never rewriting one already journaled.

        Only the last journaled message can grow (the person's chat added to the lead's
        turn); its new blocks are journaled as a continuation of it.
        """
        key = task.id if task else None
        saved = self._saved.get(key)
        if saved is None:
            saved = messages.saved if isinstance(messages, Conversation) else (0, 0)
        count, last_blocks = saved
        if count and count <= len(messages):
            grown = messages[count - 1]
            if blocks(grown) > last_blocks:
                batch.message(
                    self.mission_id, key, grown["role"], grown["content"][last_blocks:], continues=True
                )
        for message in messages[count:]:
            batch.message(self.mission_id, key, message["role"], message["content"], continues=False)
        self._saved[key] = (len(messages), blocks(messages[-1]) if messages else 0)
