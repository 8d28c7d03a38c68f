"""What every agent of one mission shares: the model, the gate, the journal, the budget."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.journal import Journal, Mission, ModelCall, Task, dumps, utcnow
from app.model import ModelError

if TYPE_CHECKING:
    from app.gate import ApprovalGate
    from app.model import ModelClient, Reply
    from app.settings import Settings
    from connectors.base import ToolContext

AskUser = Callable[[str], Awaitable[str]]
"""Puts a question to the person in the chat and returns their answer."""


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
    ) -> Reply:
        """Asks the model for an agent's next turn, recording the call and its usage.

        Raises:
            LimitReached: The budget was used up before the call.
            ModelError: The model could not be used.
        """
        self.check_budget()
        task_id = task.id if task else None
        call = ModelCall(mission_id=self.mission_id, task_id=task_id, agent=agent, model=self.model.model)
        self.journal.add(call)

        def on_text(text: str) -> None:
            self.journal.notify(self.mission_id, "text_delta", task_id=task_id, agent=agent, text=text)

        try:
            reply = await self.model.reply(system=system, tools=tools, messages=messages, on_text=on_text)
        except ModelError as exc:
            self.journal.update(call, error=str(exc), finished_at=utcnow())
            if exc.kind in TRANSIENT:
                self.pausing = True
                self.gate.pausing.add(self.mission_id)
                raise MissionPaused(str(exc)) from exc
            raise
        usage = reply.usage
        call.input_tokens, call.output_tokens = usage.input_tokens, usage.output_tokens
        call.cache_read_tokens, call.cache_write_tokens = usage.cache_read_tokens, usage.cache_write_tokens
        call.stop_reason, call.finished_at = reply.stop_reason, utcnow()
        self.mission.tokens += usage.total
        if task is not None:
            task.tokens += usage.total
        self.journal.audit(
            self.mission_id,
            "model_call",
            f"{agent} model call: {usage.total:,} tokens ({usage.cache_read_tokens:,} from cache)",
            task_id=task_id,
            save=[call, self.mission],
            model=self.model.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            stop_reason=reply.stop_reason,
            mission_tokens=self.mission.tokens,
        )
        return reply

    def save_conversation(self, task: Task | None, messages: list[dict[str, Any]]) -> None:
        """Journals an agent's conversation so far, so an interrupted mission can resume."""
        if task is None:
            self.journal.update(self.mission, lead_messages_json=dumps(messages))
        else:
            self.journal.update(task, messages_json=dumps(messages))
