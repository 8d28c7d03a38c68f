"""A worker: runs the mission workflows and their activities for one Temporal task queue.

Start as many as you like, on any machine that holds the accounts' credentials (the keyring or
the environment) and sees the workspace folders: each polls the task queue, and when one dies
the server gives its work to the others (an activity after its heartbeat timeout, a workflow's
next step after a few seconds). ``ensemble worker --temporal HOST:PORT`` runs :func:`serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from app.temporal._shapes import DEFAULT_TASK_QUEUE
from app.temporal.activities import MissionActivities
from app.temporal.workflow import MissionWorkflow

if TYPE_CHECKING:
    from collections.abc import Callable

PASSED_THROUGH = ("app", "connectors", "resources", "sqlmodel", "sqlalchemy", "filelock", "keyring")
"""Modules the workflow sandbox takes from the worker as they are instead of importing them
again for each workflow run: the engine's pure code the workflow calls (rules, vouching, the
plan's check) and what it imports. None of them is called for anything but pure code there."""


def sandbox() -> SandboxedWorkflowRunner:
    """The workflow sandbox the workers run missions in (and a replay of a history checks)."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH)
    return SandboxedWorkflowRunner(restrictions=restrictions)


MAX_ACTIVITIES = 24
"""Activities one worker runs at once; start more workers for more."""


def build_worker(
    client: Client, task_queue: str = DEFAULT_TASK_QUEUE, activities: MissionActivities | None = None
) -> Worker:
    """A worker for missions on ``task_queue``.

    Args:
        client: A connected client.
        task_queue: The task queue to poll.
        activities: The activities it runs (their model clients, where their backups go); new
            ones by default. Close them (:meth:`MissionActivities.close`) when it has stopped.

    Returns:
        The worker, not yet running (``async with worker:`` or ``await worker.run()``).
    """
    activities = activities or MissionActivities()
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[MissionWorkflow],
        activities=activities.all(),
        workflow_runner=sandbox(),
        # About what the model client lets through at once (8 requests) and a few tool calls:
        # more would only wait inside this worker, where a busy one misses its heartbeats.
        max_concurrent_activities=MAX_ACTIVITIES,
        # A worker that died holds its workflows' next tasks on its own queue: give them to
        # another worker after this long.
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=3),
    )


def _preload() -> None:
    from app.agents import registry
    from app.model import load_sdk

    load_sdk()
    registry()


async def serve(
    target: str,
    *,
    namespace: str = "default",
    task_queue: str = DEFAULT_TASK_QUEUE,
    tls: bool = False,
    api_key: str | None = None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Connects to a Temporal server and runs a worker until SIGINT or SIGTERM.

    Args:
        target: The server's ``HOST:PORT``.
        namespace: The Temporal namespace.
        task_queue: The task queue to poll.
        tls: Connect with TLS (the system's certificate authorities are trusted).
        api_key: The cluster's API key, if it wants one (from the environment, never a file).
        ready: Called with a sentence for the person once the worker polls.
    """
    client = await Client.connect(target, namespace=namespace, tls=tls, api_key=api_key)
    # The SDK and the connectors take seconds to import: done before polling, so that no
    # activity's first heartbeat waits for them (and no model call is taken for dead).
    await asyncio.to_thread(_preload)
    activities = MissionActivities()
    worker = build_worker(client, task_queue, activities)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        async with worker:
            if ready is not None:
                ready(
                    f"Worker ready: missions of task queue {task_queue!r} on {target} "
                    f"(namespace {namespace!r}). Stop it with Ctrl+C."
                )
            await stop.wait()
    finally:
        await activities.close()
