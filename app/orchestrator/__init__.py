"""The orchestrator: the lead agent turns a mission into tasks for sub-agents.

A mission is a conversation. The lead sees the mission and the chat, and has two tools of
its own: ``delegate`` (run a plan of tasks on sub-agents; see :mod:`._delegate`) and
``ask_user`` (put a question into the chat and wait for the answer). Its final answer is the
mission's result. Every sub-agent's tool call goes through the approval gate.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from app import memory
from app.agents import prompt_text, registry
from app.gate import CallSite, ToolResult
from app.journal import ChatMessage, Conversation
from app.orchestrator._delegate import DelegateArgs, delegate
from app.orchestrator._loop import AgentTools, ToolHandler, add_user_text, run_agent
from app.orchestrator._runtime import AskUser, LimitReached, MissionPaused, MissionRuntime
from app.orchestrator._workspace import workspace_overview
from connectors.base import Tool, ToolContext, ToolOutput

__all__ = [
    "ASK_USER_DESCRIPTION",
    "OVERVIEW",
    "SAVED_PLAN",
    "AskUser",
    "AskUserArgs",
    "DelegateArgs",
    "LimitReached",
    "MissionPaused",
    "MissionRuntime",
    "add_user_text",
    "delegate_description",
    "lead_system_prompt",
    "run_lead",
]


class AskUserArgs(BaseModel):
    """Arguments of ``ask_user``."""

    question: str = Field(
        min_length=1, description="The question, in plain words for a person who is not a programmer."
    )


def lead_system_prompt(workspaces: list[str], remembered: str = "") -> str:
    """The lead's system prompt, listing the agent kinds and the workspace folders, then what
    the person asked it to remember (``remembered``: :func:`app.memory.prompt_section`)."""
    agents = "\n".join(f"- {k.name}: {k.description}" for k in registry().values())
    folders = "\n".join(f"- {w}" for w in workspaces) or "- (none)"
    return prompt_text("lead.md").replace("{agents}", agents).replace("{workspaces}", folders) + remembered


OVERVIEW = "What the workspace folders hold now (a sub-agent can list more with files_list):"
"""How the lead's first message introduces the workspace overview (on both backends)."""


def _has_overview(message: dict[str, Any]) -> bool:
    content = message["content"]
    blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
    return any(str(b.get("text", "")).startswith(OVERVIEW) for b in blocks if isinstance(b, dict))


SAVED_PLAN = "toolu_saved_plan_"
"""How the ``delegate`` call of a workflow's saved plan is named (``toolu_saved_plan_<run id>``):
the lead's conversation starts with it as the lead's own first turn (see :func:`run_lead`)."""


def _is_saved_plan(message: dict[str, Any]) -> bool:
    """Whether a message is the lead's turn that hands out a workflow's saved plan."""
    content = message["content"]
    return (
        message["role"] == "assistant"
        and isinstance(content, list)
        and any(
            isinstance(b, dict)
            and b.get("type") == "tool_use"
            and str(b.get("id", "")).startswith(SAVED_PLAN)
            for b in content
        )
    )


def _add_to_first(messages: list[dict[str, Any]], text: str) -> None:
    """Adds a text block to the conversation's first message (the person's)."""
    first = messages[0]
    content = first["content"]
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    first["content"] = [*content, {"type": "text", "text": text}]


def _fresh(messages: list[dict[str, Any]]) -> bool:
    """Whether nothing of the conversation is in the journal yet."""
    return not (isinstance(messages, Conversation) and messages.saved[0])


ASK_USER_DESCRIPTION = "Ask the person a question in the chat and wait for the answer."
"""What the lead's ``ask_user`` tool says to the model (on both backends)."""


def delegate_description() -> str:
    """What the lead's ``delegate`` tool says to the model, naming the agent kinds."""
    kinds = ", ".join(sorted(registry()))
    return (
        "Hand tasks to specialist agents and wait for all of them. Tasks without "
        "dependencies between them run at the same time. Returns each task's status "
        f"and result (or why it failed). Agent kinds: {kinds}."
    )


def _lead_tools(rt: MissionRuntime) -> list[Tool[Any]]:
    async def run_delegate(ctx: ToolContext, args: DelegateArgs) -> ToolOutput:
        return ToolOutput(await delegate(rt, args, ctx.call_id))

    async def run_ask_user(_ctx: ToolContext, args: AskUserArgs) -> ToolOutput:
        answer = await rt.ask_user(args.question)
        return ToolOutput(json.dumps({"answer": answer}, ensure_ascii=False))

    # delegate and ask_user change nothing by themselves (``read``): every side effect of a
    # delegated task is a sub-agent's tool call, which the gate holds for approval. remember
    # is ``local``, and only the person may approve it (app.memory).
    return [
        Tool(
            name="delegate",
            title="Hand out tasks",
            description=delegate_description(),
            effect="read",
            args_model=DelegateArgs,
            run=run_delegate,
        ),
        Tool(
            name="ask_user",
            title="Ask you a question",
            description=ASK_USER_DESCRIPTION,
            effect="read",
            args_model=AskUserArgs,
            run=run_ask_user,
        ),
        memory.remember_tool(rt.journal),
    ]


async def run_lead(rt: MissionRuntime, messages: list[dict[str, Any]]) -> str:
    """Runs the lead agent on a mission's conversation until it gives its final answer.

    Args:
        rt: The mission's shared state.
        messages: The lead's conversation, ending with the person's latest message;
            extended in place.

    Returns:
        The lead's final answer, also added to the chat.

    Raises:
        LimitReached: The lead's turn limit or the mission's budget was reached.
        ModelError: The model could not be used.
    """
    batch = rt.journal.batch(defer_calls=False)
    site = CallSite(mission_id=rt.mission_id, task_id=None, agent="lead", batch=batch)
    tools = _lead_tools(rt)

    def handler_for(tool: Tool[Any]) -> ToolHandler:
        async def handle(tool_use_id: str, arguments: object) -> ToolResult:
            return await rt.gate.call(tool, tool_use_id, arguments, rt.ctx, site)

        return handle

    # What the person asked it to remember, as it stands when the lead starts (or resumes).
    remembered = memory.prompt_section(memory.for_prompt(memory.applying(rt.journal, rt.ctx.workspaces)))
    system = lead_system_prompt([str(w) for w in rt.ctx.workspaces], remembered)
    starting = len(messages) == 1 or (len(messages) == 2 and _is_saved_plan(messages[1]))
    if starting and messages[0]["role"] == "user" and not _has_overview(messages[0]):
        # The lead's first turn: what the folders hold, so "the budget file" resolves to a
        # file without a question. Added to the mission's first message (not the system
        # prompt), so later turns keep their cached prefix while the files change.
        _add_to_first(messages, f"{OVERVIEW}\n{workspace_overview(rt.ctx.workspaces)}")
    if starting and _fresh(messages) and (len(messages) > 1 or isinstance(messages[0]["content"], list)):
        # A workflow's run starts with more than the mission's text (its saved plan, what
        # triggered it): journaled before anything runs, so that a resumed mission has it.
        rt.save_conversation(None, messages, batch)
        batch.commit()
    answer = await run_agent(
        rt,
        agent="lead",
        task=None,
        system=system,
        tools=AgentTools([t.to_api() for t in tools], {t.name: handler_for(t) for t in tools}),
        messages=messages,
        max_turns=rt.settings.max_turns,
        batch=batch,
    )
    rt.journal.add(ChatMessage(mission_id=rt.mission_id, role="assistant", text=answer))
    rt.journal.audit(rt.mission_id, "chat_message", answer, role="assistant")
    return answer
