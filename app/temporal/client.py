"""The client side of a mission on Temporal: start it, read its events and cards, decide, stop.

This is what the engine's facade would call on the Temporal backend (see docs/temporal.md):
any number of clients (a window, a second person's window, ``ensemble decide`` in another
terminal) may talk to one mission; a decision is an update, so the one that lands first wins
and the others are refused with a reason.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy

from app.temporal._shapes import (
    DEFAULT_TASK_QUEUE,
    WORKFLOW_NAME,
    AnswerInput,
    Card,
    ChatInput,
    DecisionInput,
    MissionEvent,
    MissionInput,
    MissionResult,
    RuleData,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from app.settings import Settings


async def connect(target: str, namespace: str = "default") -> Client:
    """A client of the Temporal server at ``HOST:PORT``."""
    return await Client.connect(target, namespace=namespace)


def mission_input(
    mission_id: str,
    text: str,
    workspaces: Sequence[str],
    settings: Settings,
    *,
    rules: Sequence[RuleData] = (),
    memories: Sequence[str] = (),
    account: str | None = None,
    **overrides: Any,
) -> MissionInput:
    """A mission's input from the person's settings, as the embedded engine starts one.

    Args:
        mission_id: The mission's id (the workflow's id).
        text: What the person asked.
        workspaces: The folders, as the workers see them.
        settings: The settings: model, limits, accounts, address book, agents' sections.
        rules: The rules in force (the mission's own first).
        memories: What the person asked the lead to remember that applies here.
        account: The account the mission names, else each kind's default.
        **overrides: Other :class:`MissionInput` fields (``heartbeat_seconds``…).

    Returns:
        The input. It holds accounts without their passwords and no API key: the workers
        read those from their own keyring or environment.
    """
    from app.accounts import fill_mission_options

    options = settings.mission_options({"text": text, "workspaces": list(workspaces)})
    fill_mission_options(options, settings, account)
    fields: dict[str, Any] = {
        "max_turns": settings.max_turns,
        "token_budget": settings.token_budget,
        "max_tokens": settings.max_tokens,
        "model_timeout_seconds": settings.api_timeout,
        **overrides,
    }
    return MissionInput(
        mission_id=mission_id,
        text=text,
        workspaces=[str(w) for w in workspaces],
        model=settings.model,
        options=json.loads(json.dumps(options)),
        rules=list(rules),
        address_book=list(settings.address_book),
        memories=list(memories),
        **fields,
    )


async def start_mission(
    client: Client, mission: MissionInput, task_queue: str = DEFAULT_TASK_QUEUE
) -> WorkflowHandle[Any, MissionResult]:
    """Starts a mission's workflow; its id is the mission's.

    Raises:
        temporalio.exceptions.WorkflowAlreadyStartedError: The mission was started before,
            whether it still runs or has ended: a mission never runs twice under one id.
    """
    return await client.start_workflow(
        WORKFLOW_NAME,
        mission,
        id=mission.mission_id,
        task_queue=task_queue,
        result_type=MissionResult,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )


def mission(client: Client, mission_id: str) -> WorkflowHandle[Any, MissionResult]:
    """The handle of a running (or ended) mission, from any client."""
    return client.get_workflow_handle(mission_id, result_type=MissionResult)


async def events(handle: WorkflowHandle[Any, Any], after: int = 0) -> list[MissionEvent]:
    """The mission's events after the first ``after``, oldest first (the ``events`` query)."""
    found: list[MissionEvent] = await handle.query("events", after, result_type=list[MissionEvent])
    return found


async def pending(handle: WorkflowHandle[Any, Any]) -> list[Card]:
    """The mission's cards waiting for a person (the ``pending`` query)."""
    found: list[Card] = await handle.query("pending", result_type=list[Card])
    return found


async def cards(handle: WorkflowHandle[Any, Any]) -> list[Card]:
    """Every card of the mission (the ``cards`` query)."""
    found: list[Card] = await handle.query("cards", result_type=list[Card])
    return found


async def decide(handle: WorkflowHandle[Any, Any], decision: DecisionInput) -> Card:
    """Sends a person's decision on a card (the ``decide`` update) and returns the card.

    Raises:
        temporalio.client.WorkflowUpdateFailedError: The card is not waiting (unknown, or
            decided already, perhaps from another window), or the decision is not valid.
    """
    card: Card = await handle.execute_update("decide", decision, result_type=Card)
    return card


async def answer(handle: WorkflowHandle[Any, Any], question_id: str, text: str) -> None:
    """Sends the person's answer to the lead's question (the ``answer`` update)."""
    await handle.execute_update("answer", AnswerInput(question_id, text))


async def message(handle: WorkflowHandle[Any, Any], text: str) -> None:
    """Sends a chat message to the mission's lead (the ``message`` update)."""
    await handle.execute_update("message", ChatInput(text))


async def stop(handle: WorkflowHandle[Any, Any]) -> None:
    """Stops the mission: its waiting cards are rejected, a running action ends first."""
    await handle.cancel()
