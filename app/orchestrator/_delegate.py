"""The lead's ``delegate`` tool: runs a plan of tasks on sub-agents, in parallel where it can.

A task of the lead's plan may go to a **sub-lead** (agent ``"lead"``): an agent with the lead's
prompt and a ``delegate`` tool of its own, which plans its part of the mission into tasks for
the agent kinds and reports back to the lead. Its tasks run under the same gate, budget and
checks; a sub-lead cannot hand a task to another sub-lead (two levels at most).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from app.agents import AgentKind, registry, system_prompt
from app.gate import CallSite, ToolResult
from app.journal import Task, dumps, new_id, utcnow
from app.model import ModelError
from app.orchestrator._check import (
    PERSON_SAID,
    check_task,
    escalation_question,
    failure_reason,
    for_lead,
    needs_person,
    retries_in,
    retry_note,
)
from app.orchestrator._loop import AgentTools, ToolHandler, add_user_text, run_agent
from app.orchestrator._runtime import LimitReached, MissionRuntime
from connectors.base import Tool, ToolContext, ToolError, ToolOutput

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

SUB_LEAD = "lead"
"""The ``agent`` of a task handed to a sub-lead."""

MAX_DEPTH = 2
"""Levels of planning: the lead's tasks, and a sub-lead's."""

SUB_LEAD_NOTE = """

You are a sub-lead: the lead of this mission gave you one part of it (the message below). Plan \
that part with `delegate`, as the lead would, for the agent kinds above (not for another \
sub-lead). You cannot ask the person anything: if you cannot go on, say why. Your final answer \
goes to the lead: what was done, what the checks verified, and what was not done.
"""


class TaskSpec(BaseModel):
    """One task of a plan."""

    id: str = Field(
        min_length=1,
        max_length=64,
        description="A short id for this task, unique in this call, e.g. 'read-invoices'.",
    )
    agent: str = Field(
        description=(
            "The agent kind that does it; in the lead's plan also 'lead': a sub-lead that plans a "
            "large part of the mission into tasks of its own."
        )
    )
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


def check_plan(tasks: list[TaskSpec], kinds: Collection[str], depth: int = 1) -> None:
    """Refuses a plan that cannot run, before anything starts.

    Args:
        tasks: The plan.
        kinds: The agent kinds' names (the registry's keys).
        depth: 1 for the lead's plan, 2 for a sub-lead's (which may not name a sub-lead).

    Raises:
        ToolError: A duplicate id, an unknown agent kind, a sub-lead in a sub-lead's plan, a
            dependency that is not in the plan, or a cycle of dependencies.
    """
    ids = [t.id for t in tasks]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ToolError(f"Task ids must be unique; repeated: {', '.join(duplicates)}.")
    for spec in tasks:
        if spec.agent == SUB_LEAD and depth >= MAX_DEPTH:
            raise ToolError(
                f"Task {spec.id!r} goes to a sub-lead, but a sub-lead cannot hand tasks to another "
                f"sub-lead. Give it to one of these agents: {', '.join(sorted(kinds))}."
            )
        if spec.agent not in kinds and spec.agent != SUB_LEAD:
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


async def delegate(rt: MissionRuntime, args: DelegateArgs, delegation_id: str = "", depth: int = 1) -> str:
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

    With ``settings.checks``, a task that changed something is checked when its agent has
    answered (see :mod:`._check`): a failed check sends it back to its agent once with the
    finding; a second failure fails it with the evidence, and once every task has ended the
    person is asked, in one question, what to do about those tasks.

    A task for a sub-lead (agent ``"lead"``, in the lead's plan only: ``depth`` 1) runs a
    sub-lead, which plans its own tasks with this function at ``depth`` 2. It does not hold one
    of the ``max_concurrency`` places while it waits for its tasks, which need them.

    Returns:
        JSON ``{"tasks": [{"id", "agent", "status", "result" | "reason", "check"?}]}``; ``check``
        is ``{"verdict", "findings", "evidence"?}``, the task's latest check.

    Raises:
        ToolError: The plan cannot run (see :func:`check_plan`).
    """
    kinds = registry()
    check_plan(args.tasks, kinds, depth)
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
            deps = [rows[d] for d in spec.depends_on]
            if spec.agent == SUB_LEAD:
                await _run_task(rt, task, None, deps, replied)
            else:
                async with rt.semaphore:
                    await _run_task(rt, task, kinds[spec.agent], deps, replied)
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
    await _escalate(rt, [rows[spec.id] for spec in args.tasks])
    checks = for_lead(rt, [rows[spec.id] for spec in args.tasks]) if rt.settings.checks else {}
    outcomes: list[dict[str, Any]] = []
    for spec in args.tasks:
        task = rows[spec.id]
        outcome: dict[str, Any] = {"id": spec.id, "agent": spec.agent, "status": task.status}
        if task.status == "done":
            outcome["result"] = task.result
        else:
            outcome["reason"] = task.reason
        if task.id in checks:
            outcome["check"] = checks[task.id]
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
    kind: AgentKind | None,
    deps: list[Task],
    replied: asyncio.Event | None = None,
) -> None:
    """Runs one task on its agent kind, or on a sub-lead when ``kind`` is None."""
    kind_tools: Sequence[Tool[Any]]
    if kind is None:
        name, kind_tools, system = SUB_LEAD, [_sub_lead_delegate(rt)], _sub_lead_prompt(rt)
        doer = "sub-lead"
    else:
        name, kind_tools = kind.name, kind.tools
        system = system_prompt(kind).replace("{workspaces}", "\n".join(f"- {w}" for w in rt.ctx.workspaces))
        doer = f"{kind.name} agent"
    by_name = {t.name: t for t in kind_tools}
    # Only a task that had started can have a conversation in the journal.
    messages: list[dict[str, Any]] = (
        rt.journal.conversation(rt.mission_id, task.id) if task.started_at else []
    )
    resumed = bool(messages)
    task.status, task.started_at = "running", task.started_at or utcnow()
    rt.journal.audit(
        rt.mission_id,
        "task_started",
        f"Task {task.key} {'resumed' if resumed else 'started'} ({doer})",
        task_id=task.id,
        save=[task],
        key=task.key,
        agent=name,
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
    site = CallSite(mission_id=rt.mission_id, task_id=task.id, agent=name, batch=batch)

    def handler_for(tool: Tool[Any]) -> ToolHandler:
        async def handle(tool_use_id: str, arguments: object) -> ToolResult:
            return await rt.gate.call(tool, tool_use_id, arguments, rt.ctx, site)

        return handle

    tools = AgentTools(
        declarations=[t.to_api() for t in kind_tools],
        handlers={t.name: handler_for(t) for t in by_name.values()},
        effects={t.name: t.effect for t in kind_tools},
    )

    async def attempt(replied: asyncio.Event | None) -> str:
        return await run_agent(
            rt,
            agent=name,
            task=task,
            system=system,
            tools=tools,
            messages=messages,
            max_turns=rt.settings.max_turns,
            batch=batch,
            replied=replied,
        )

    try:
        result = await attempt(replied)
        check = None
        # A sub-lead's tasks are checked one by one; what it did itself is planning.
        if rt.settings.checks and kind is not None:
            # A resumed task whose check had already sent it back once is on its second try.
            retried = retries_in(messages) > 0
            check = await check_task(rt, task, kind, result, attempt=2 if retried else 1)
            if check.verdict == "failed" and not retried:
                add_user_text(messages, [retry_note(check)])
                result = await attempt(None)
                check = await check_task(rt, task, kind, result, attempt=2)
    except (LimitReached, ModelError) as exc:
        _finish(rt, task, "failed", reason=str(exc))
    except asyncio.CancelledError:
        # A pause (the model is unavailable) leaves the task as it is, to resume.
        if not rt.pausing:
            _finish(rt, task, "cancelled", reason="Stopped by the person.")
        raise
    else:
        if check is not None and check.verdict == "failed":
            # Never built on, never reported as done: the person hears of it (see delegate).
            _finish(rt, task, "failed", reason=failure_reason(check))
        else:
            _finish(rt, task, "done", result=result or "(The agent finished without a written result.)")


def _sub_lead_prompt(rt: MissionRuntime) -> str:
    """A sub-lead's system prompt: the lead's, and what a sub-lead may and may not do."""
    from app.orchestrator import lead_system_prompt  # the package imports this module

    return lead_system_prompt([str(w) for w in rt.ctx.workspaces]) + SUB_LEAD_NOTE


def _sub_lead_delegate(rt: MissionRuntime) -> Tool[DelegateArgs]:
    """A sub-lead's ``delegate`` tool: plans of the second level, which name no sub-lead."""

    async def run(ctx: ToolContext, args: DelegateArgs) -> ToolOutput:
        return ToolOutput(await delegate(rt, args, ctx.call_id, depth=MAX_DEPTH))

    kinds = ", ".join(sorted(registry()))
    return Tool(
        name="delegate",
        description=(
            "Hand tasks to specialist agents and wait for all of them. Tasks without dependencies "
            "between them run at the same time. Returns each task's status and result (or why it "
            f"failed) and its check. Agent kinds: {kinds}."
        ),
        effect="read",
        args_model=DelegateArgs,
        run=run,
    )


async def _escalate(rt: MissionRuntime, tasks: list[Task]) -> None:
    """Asks the person, in one question with the evidence, about the tasks whose checks failed
    twice; their answer joins each task's reason, which the lead receives."""
    failed = [t for t in tasks if needs_person(t)]
    if not failed:
        return
    answer = await rt.ask_user(escalation_question(failed))
    for task in failed:
        rt.journal.update(task, reason=f"{task.reason}{PERSON_SAID} {answer}")


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
