"""The lead's ``delegate`` tool: runs a plan of tasks on sub-agents, in parallel where it can."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from pydantic import BaseModel, Field

from app.agents import AgentKind, registry, system_prompt
from app.gate import CallSite, ToolResult
from app.journal import Task, dumps, new_id, utcnow
from app.model import ModelError
from app.orchestrator._loop import AgentTools, ToolHandler, run_agent
from app.orchestrator._runtime import LimitReached, MissionRuntime
from connectors.base import ToolError


class TaskSpec(BaseModel):
    """One task of a plan."""

    id: str = Field(
        min_length=1,
        max_length=64,
        description="A short id for this task, unique in this call, e.g. 'read-invoices'.",
    )
    agent: str = Field(description="The agent kind that does it.")
    instructions: str = Field(
        min_length=1,
        description=(
            "Complete, self-contained instructions: the agent sees nothing else "
            "but the results of the tasks it depends on."
        ),
    )
    depends_on: list[str] = Field(
        default_factory=list,
        description="Ids of tasks in this call whose results this task needs; it starts after they finish.",
    )


class DelegateArgs(BaseModel):
    """Arguments of ``delegate``."""

    tasks: list[TaskSpec] = Field(min_length=1, max_length=50, description="The tasks to run.")


def check_plan(tasks: list[TaskSpec], kinds: dict[str, AgentKind]) -> None:
    """Refuses a plan that cannot run, before anything starts.

    Raises:
        ToolError: A duplicate id, an unknown agent kind, a dependency that is not in the
            plan, or a cycle of dependencies.
    """
    ids = [t.id for t in tasks]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ToolError(f"Task ids must be unique; repeated: {', '.join(duplicates)}.")
    for spec in tasks:
        if spec.agent not in kinds:
            raise ToolError(
                f"Task {spec.id!r} names agent {spec.agent!r}, which does not exist. "
                f"Available agents: {', '.join(sorted(kinds))}."
            )
        missing = [d for d in spec.depends_on if d not in ids]
        if missing:
            raise ToolError(f"Task {spec.id!r} depends on unknown tasks: {', '.join(missing)}.")
    # Kahn's algorithm: whatever cannot be ordered is on a cycle.
    remaining = {t.id: set(t.depends_on) for t in tasks}
    while True:
        ready = [i for i, deps in remaining.items() if not deps]
        if not ready:
            break
        for i in ready:
            del remaining[i]
        for deps in remaining.values():
            deps.difference_update(ready)
    if remaining:
        raise ToolError(f"These tasks depend on each other in a cycle: {', '.join(sorted(remaining))}.")


async def delegate(rt: MissionRuntime, args: DelegateArgs, delegation_id: str = "") -> str:
    """Runs a plan's tasks and returns every task's outcome as JSON text.

    Independent tasks run concurrently, at most ``settings.max_concurrency`` at a time;
    a task starts when every task it depends on is done, and receives their results. A task
    whose dependency failed is skipped.

    Tasks of one agent kind share their prompt's prefix (its tools and system prompt), which
    the API caches; but a cached prefix can be read only once the response of the request
    that wrote it has arrived, so tasks started together would all pay for writing it. The
    first task of each kind (that depends on nothing) therefore starts alone, and the other
    tasks of that kind start once its first model reply has arrived (or it ended without
    one), to read the prefix from the cache: see :func:`_warm_ups`.

    Returns:
        JSON ``{"tasks": [{"id", "agent", "status", "result" | "reason"}]}``.

    Raises:
        ToolError: The plan cannot run (see :func:`check_plan`).
    """
    kinds = registry()
    check_plan(args.tasks, kinds)
    # A resumed mission calls the same delegation again: its tasks carry on where they were.
    earlier = {t.key: t for t in rt.journal.delegation(rt.mission_id, delegation_id)} if delegation_id else {}
    rows = {
        spec.id: earlier.get(spec.id)
        or Task(
            id=new_id("t"),
            mission_id=rt.mission_id,
            key=spec.id,
            delegation_id=delegation_id,
            agent=spec.agent,
            instructions=spec.instructions,
            depends_on_json=dumps(spec.depends_on),
        )
        for spec in args.tasks
    }
    rt.journal.add(*(row for key, row in rows.items() if key not in earlier))
    finished = {spec.id: asyncio.Event() for spec in args.tasks}
    leaders, warmed = _warm_ups(args.tasks, rows)

    async def run_one(spec: TaskSpec) -> None:
        task = rows[spec.id]
        if task.status in ("done", "failed", "skipped", "cancelled"):
            finished[spec.id].set()
            return
        try:
            for dep in spec.depends_on:
                await finished[dep].wait()
            failed = [d for d in spec.depends_on if rows[d].status != "done"]
            if failed:
                _finish(
                    rt,
                    task,
                    "skipped",
                    reason=f"Not run: the tasks it depends on did not succeed ({', '.join(failed)}).",
                )
                return
            warm = warmed.get(spec.agent)
            if warm is not None and leaders[spec.agent] != spec.id:
                await warm.wait()
            replied = warm if leaders.get(spec.agent) == spec.id else None
            async with rt.semaphore:
                await _run_task(rt, task, kinds[spec.agent], [rows[d] for d in spec.depends_on], replied)
        finally:
            finished[spec.id].set()
            if leaders.get(spec.agent) == spec.id:
                # Ended without a reply (failed, skipped, stopped): the others go ahead anyway.
                warmed[spec.agent].set()

    try:
        async with asyncio.TaskGroup() as group:
            for spec in args.tasks:
                group.create_task(run_one(spec), name=f"task {spec.id}")
    except asyncio.CancelledError:
        if not rt.pausing:
            for task in rows.values():
                if task.status in ("pending", "running"):
                    _finish(rt, task, "cancelled", reason="Stopped by the person.")
        raise
    outcomes: list[dict[str, Any]] = []
    for spec in args.tasks:
        task = rows[spec.id]
        outcome: dict[str, Any] = {"id": spec.id, "agent": spec.agent, "status": task.status}
        if task.status == "done":
            outcome["result"] = task.result
        else:
            outcome["reason"] = task.reason
        outcomes.append(outcome)
    return json.dumps({"tasks": outcomes}, ensure_ascii=False)


def _warm_ups(
    tasks: list[TaskSpec], rows: dict[str, Task]
) -> tuple[dict[str, str], dict[str, asyncio.Event]]:
    """Picks, per agent kind with several tasks to run, the task that warms its cache.

    The leader is the kind's first unfinished task that depends on nothing, so that it can
    start at once; the kind's other tasks wait for its event, which is set when its first
    model reply has arrived or when it ends. A kind with a single task to run, or whose
    tasks all depend on others (they start at different times anyway), has none.

    Returns:
        ``(leaders, warmed)``: the leading task's id and its event, per agent kind.
    """
    pending = [s for s in tasks if rows[s.id].status not in ("done", "failed", "skipped", "cancelled")]
    per_kind = Counter(s.agent for s in pending)
    leaders: dict[str, str] = {}
    for spec in pending:
        if not spec.depends_on and spec.agent not in leaders and per_kind[spec.agent] > 1:
            leaders[spec.agent] = spec.id
    return leaders, {kind: asyncio.Event() for kind in leaders}


async def _run_task(
    rt: MissionRuntime,
    task: Task,
    kind: AgentKind,
    deps: list[Task],
    replied: asyncio.Event | None = None,
) -> None:
    # Only a task that had started can have a conversation in the journal.
    messages: list[dict[str, Any]] = (
        rt.journal.conversation(rt.mission_id, task.id) if task.started_at else []
    )
    resumed = bool(messages)
    task.status, task.started_at = "running", task.started_at or utcnow()
    rt.journal.audit(
        rt.mission_id,
        "task_started",
        f"Task {task.key} {'resumed' if resumed else 'started'} ({kind.name} agent)",
        task_id=task.id,
        save=[task],
        key=task.key,
        agent=kind.name,
        instructions=task.instructions,
        resumed=resumed,
    )
    if not resumed:
        prompt = task.instructions
        if deps:
            parts = [f"## Result of task {d.key} ({d.agent} agent)\n{d.result}" for d in deps]
            prompt += "\n\n# Results of the tasks this one depends on\n\n" + "\n\n".join(parts)
        messages = [{"role": "user", "content": prompt}]
    batch = rt.journal.batch()
    site = CallSite(mission_id=rt.mission_id, task_id=task.id, agent=kind.name, batch=batch)

    def handler_for(name: str) -> ToolHandler:
        tool = kind.tool(name)
        assert tool is not None

        async def handle(tool_use_id: str, arguments: object) -> ToolResult:
            return await rt.gate.call(tool, tool_use_id, arguments, rt.ctx, site)

        return handle

    tools = AgentTools(
        declarations=[t.to_api() for t in kind.tools],
        handlers={t.name: handler_for(t.name) for t in kind.tools},
    )
    system = system_prompt(kind).replace("{workspaces}", "\n".join(f"- {w}" for w in rt.ctx.workspaces))
    try:
        result = await run_agent(
            rt,
            agent=kind.name,
            task=task,
            system=system,
            tools=tools,
            messages=messages,
            max_turns=rt.settings.max_turns,
            batch=batch,
            replied=replied,
        )
    except (LimitReached, ModelError) as exc:
        _finish(rt, task, "failed", reason=str(exc))
    except asyncio.CancelledError:
        # A pause (the model is unavailable) leaves the task as it is, to resume.
        if not rt.pausing:
            _finish(rt, task, "cancelled", reason="Stopped by the person.")
        raise
    else:
        _finish(rt, task, "done", result=result or "(The agent finished without a written result.)")


def _finish(
    rt: MissionRuntime, task: Task, status: str, *, result: str | None = None, reason: str | None = None
) -> None:
    rt.journal.update(task, status=status, result=result, reason=reason, finished_at=utcnow())
    words = {"done": "finished", "failed": "failed", "skipped": "was skipped", "cancelled": "was stopped"}[
        status
    ]
    rt.journal.audit(
        rt.mission_id,
        "task_finished",
        f"Task {task.key} {words}" + (f": {reason}" if reason else ""),
        task_id=task.id,
        key=task.key,
        agent=task.agent,
        status=status,
        result=result,
        reason=reason,
        tokens=task.tokens,
        turns=task.turns,
    )
