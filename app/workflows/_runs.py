"""What the engine does with workflows: save, change, run them, and tell their history.

:class:`Workflows` holds the work behind the engine's workflow methods
(:meth:`app.engine.Engine.run_workflow` and the others), which call it: the engine stays the one
facade, and this module keeps the workflow logic in one place.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlmodel import col, select

from app.api.spec import MissionSpec, RuleSpec
from app.api.workflows import (
    PlannedTask,
    ProposedParam,
    WorkflowInfo,
    WorkflowRunInfo,
    WorkflowSpec,
)
from app.errors import EngineError
from app.journal import Rule
from app.pricing import estimate_cost
from app.workflows._plans import first_messages, parametrize, plan_of, saved_plan_id, trigger_param
from app.workflows.store import WorkflowStore, spec_of

if TYPE_CHECKING:
    from app.api.spec import ApprovalPolicy
    from app.api.workflows import PlanUse, RunReason, Schedule, Trigger
    from app.engine import Engine
    from app.journal import Mission, Workflow, WorkflowRun

log = logging.getLogger(__name__)

UNATTENDED: frozenset[str] = frozenset({"schedule", "catch_up", "trigger"})
"""Why a run started when nobody started it by hand."""

_REASONS = {
    "manual": "started by hand",
    "schedule": "started by its schedule",
    "catch_up": "started once for the times it missed",
    "trigger": "started by its trigger",
}

_MIN_AUTO_VALUE = 3
"""The shortest parameter value a plan is made a template of by itself (after a first run):
a shorter one ("5") could stand for other text in the plan than the parameter."""


class _AlreadyRan(Exception):
    """A trigger's run with that key was recorded meanwhile (by another process)."""


class Workflows:
    """The workflows of one engine's journal.

    Args:
        engine: The engine: its journal, and how it starts missions.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.journal = engine.journal
        self.store = WorkflowStore(engine.journal)

    # Read models ----------------------------------------------------------------------------

    def infos(self) -> list[WorkflowInfo]:
        """Every workflow, by name."""
        return [self.info(row) for row in self.store.all()]

    def info(self, row: Workflow) -> WorkflowInfo:
        """A workflow as the Workflows pane shows it."""
        spec = spec_of(row)
        latest = self.store.runs(row.id, limit=1)
        return WorkflowInfo(
            id=row.id,
            name=row.name,
            version=row.version,
            description=spec.description,
            spec=spec,
            schedule=spec.schedule.describe() if spec.schedule else None,
            trigger=spec.trigger.describe() if spec.trigger else None,
            next_run_at=_utc(row.next_run_at) or self._next_time(spec),
            last_run=self.run_info(latest[0]) if latest else None,
            runs=self.store.run_count(row.id),
            created_at=_utc(row.created_at) or datetime.now(UTC),
            updated_at=_utc(row.updated_at) or datetime.now(UTC),
        )

    def _next_time(self, spec: WorkflowSpec) -> datetime | None:
        """A schedule's next due time from now, when no process has recorded it yet (the
        schedules are not running, or it was just set): what the person is told."""
        if spec.schedule is None:
            return None
        from app.workflows.schedule import next_fire

        schedules = self.engine._schedules
        now = schedules.clock.now() if schedules is not None else datetime.now(UTC)
        try:
            return next_fire(spec.schedule, now)
        except EngineError:
            return None

    def run_info(self, run: WorkflowRun) -> WorkflowRunInfo:
        """One run, with its mission's status, changes, waiting cards, tokens and cost."""
        mission = self.journal.mission(run.mission_id)
        actions = self.journal.actions(run.mission_id)
        cost: float | None = None
        for call in self.journal.model_calls(run.mission_id):
            part = estimate_cost(
                call.model,
                call.input_tokens,
                call.output_tokens,
                call.cache_read_tokens,
                call.cache_write_tokens,
            )
            if part is not None:
                cost = (cost or 0.0) + part
        params = json.loads(run.params_json or "{}")
        return WorkflowRunInfo(
            id=run.id,
            workflow=run.workflow_name,
            version=run.version,
            mission_id=run.mission_id,
            reason=run.reason,
            params={str(k): str(v) for k, v in params.items()},
            plan=self.plan_use(run),
            status=mission.status if mission else "gone",
            started_at=_utc(run.started_at) or datetime.now(UTC),
            finished_at=_utc(mission.finished_at) if mission else None,
            changes=sum(1 for a in actions if a.status == "executed"),
            waiting=sum(1 for a in actions if a.status == "pending"),
            tokens=mission.tokens if mission else 0,
            cost=cost,
        )

    def plan_use(self, run: WorkflowRun) -> PlanUse:
        """Which plan a run followed: a run of the saved plan whose lead delegated anything
        else afterwards re-planned."""
        if run.plan != "saved":
            return "replanned" if run.plan == "replanned" else "planned"
        saved = saved_plan_id(run.id)
        if any(task.delegation_id != saved for task in self.journal.tasks(run.mission_id)):
            return "replanned"
        return "saved"

    def runs(self, name: str, *, limit: int, offset: int) -> list[WorkflowRunInfo]:
        """A workflow's runs, newest first."""
        row = self.store.require(name)
        return [self.run_info(run) for run in self.store.runs(row.id, limit=limit, offset=offset)]

    def run_of(self, mission_id: str) -> WorkflowRunInfo | None:
        """The run a mission is (a unique prefix of its id is enough), or None."""
        mission = self.journal.mission(mission_id)
        run = self.store.run_of_mission(mission.id if mission else mission_id)
        return None if run is None else self.run_info(run)

    # Saving and changing ----------------------------------------------------------------------

    def save(self, spec: WorkflowSpec, *, replace: bool) -> WorkflowInfo:
        """Saves a workflow: a new one, or (``replace``) the next version of the one of that name.

        Raises:
            EngineError: The name is taken and ``replace`` is not set.
        """
        row = self.store.get(spec.name)
        if row is None:
            return self.info(self.store.add(spec))
        if not replace:
            raise EngineError(
                f"A workflow named “{row.name}” already exists: choose another name, or replace it."
            )
        return self.info(self.store.update(row, spec))

    def change(self, workflow: str, **changes: Any) -> WorkflowInfo:
        """Saves a workflow with some fields changed, as its next version.

        Raises:
            EngineError: No such workflow, or the change makes it invalid (the message says how).
        """
        row = self.store.require(workflow)
        spec = _valid({**spec_of(row).model_dump(), **changes})
        return self.info(self.store.update(row, spec))

    def duplicate(self, name: str, new_name: str) -> WorkflowInfo:
        """A copy under another name, without the schedule and trigger (it would run twice).

        Raises:
            EngineError: No such workflow, or the new name is taken or empty.
        """
        spec = spec_of(self.store.require(name))
        copy = _valid({**spec.model_dump(), "name": new_name, "schedule": None, "trigger": None})
        return self.info(self.store.add(copy))

    def set_schedule(self, name: str, schedule: Schedule | None) -> WorkflowInfo:
        """Sets or removes a workflow's schedule.

        Raises:
            EngineError: A parameter has no default (a scheduled run has nobody to ask).
        """
        row = self.store.require(name)
        spec = spec_of(row)
        if schedule is not None:
            from app.workflows.schedule import check, next_fire

            _need_defaults(spec, "on a schedule", skip=None)
            check(schedule)
            schedules = self.engine._schedules
            now = schedules.clock.now() if schedules is not None else dt.datetime.now(dt.UTC)
            if schedule.kind == "once" and next_fire(schedule, now) is None:
                raise EngineError(f"{schedule.describe()} is in the past: choose a time still to come.")
        return self.info(self.store.update(row, _valid({**spec.model_dump(), "schedule": schedule})))

    def set_trigger(self, name: str, trigger: Trigger | None) -> WorkflowInfo:
        """Sets or removes a workflow's trigger.

        Raises:
            EngineError: The trigger names a parameter the workflow has not, or another
                parameter has no default.
        """
        row = self.store.require(name)
        spec = _valid({**spec_of(row).model_dump(), "trigger": trigger})
        if trigger is not None:
            _need_defaults(spec, "on a trigger", skip=trigger_param(spec))
        return self.info(self.store.update(row, spec))

    def save_mission(
        self, mission_id: str, name: str, params: list[ProposedParam], *, description: str
    ) -> WorkflowInfo:
        """A finished mission as a workflow (see :meth:`app.engine.Engine.save_mission_as_workflow`).

        Raises:
            EngineError: The mission is unknown or still running, the name is taken, or a
                value occurs neither in the instruction nor in the plan.
        """
        mission = self._ended(mission_id)
        clean = " ".join(name.split())
        if clean and self.store.get(clean) is not None:
            raise EngineError(f"A workflow named “{clean}” already exists: choose another name.")
        plan = plan_of(self.journal.tasks(mission.id))
        texts = [mission.text, *(task.instructions for task in plan)]
        for proposed in params:
            if not any(proposed.value in text for text in texts):
                raise EngineError(
                    f"“{proposed.value}” (for the parameter {proposed.param.name}) occurs neither in the "
                    "mission's instruction nor in its plan: a parameter replaces text that is there."
                )
        spec = self.engine.spec_of(mission.id) or MissionSpec(instruction=mission.text)
        options = json.loads(mission.options_json or "{}")
        template = [
            task.model_copy(update={"instructions": parametrize(task.instructions, params)}) for task in plan
        ]
        workflow = _valid(
            {
                "name": name,
                "description": description,
                "instruction": parametrize(spec.instruction or mission.text, params),
                "params": [p.param for p in params],
                "workspaces": json.loads(mission.workspaces_json or "[]") or list(spec.workspaces),
                "account": spec.account,
                "allowed_sites": list(spec.allowed_sites),
                "approval": "ask",
                "rules": self._own_rules(mission.id) or list(spec.rules),
                "model": spec.model or _str(options.get("model")),
                "token_budget": spec.token_budget or _int(options.get("token_budget")),
                "options": dict(spec.options),
                "plan": template or None,
            }
        )
        return self.info(self.store.add(workflow))

    def _ended(self, mission_id: str) -> Mission:
        """A mission that has ended.

        Raises:
            EngineError: It is unknown or still running.
        """
        mission = self.journal.mission(mission_id)
        if mission is None:
            raise EngineError(f"There is no mission {mission_id}.")
        if mission.status == "running" or self.engine.is_running(mission.id):
            raise EngineError(
                f"Mission {mission.id} is still running: save it as a workflow once it has ended."
            )
        return mission

    def _own_rules(self, mission_id: str) -> list[RuleSpec]:
        """A mission's own rules, retired ones too, but not the blanket ones (``--approve``:
        every tool, no condition), each once."""
        with self.journal.session() as session:
            rows = session.exec(
                select(Rule).where(Rule.mission_id == mission_id).order_by(col(Rule.created_at))
            ).all()
            found = [(r.kind, r.tool, json.loads(r.conditions_json or "{}")) for r in rows]
        rules: list[RuleSpec] = []
        for kind, tool, where in found:
            if tool is None and not where:
                continue
            rule = RuleSpec(kind=kind, tool=tool, where={str(k): str(v) for k, v in where.items()})
            if rule not in rules:
                rules.append(rule)
        return rules

    async def propose(self, mission_id: str) -> list[ProposedParam]:
        """The lead's proposed parameters for a finished mission (one model call).

        Raises:
            EngineError: The mission is unknown or running, or the model could not answer.
        """
        from app.model import ModelError
        from app.workflows._propose import propose

        mission = self._ended(mission_id)
        plan = plan_of(self.journal.tasks(mission.id))
        try:
            model = self.engine._model_client(json.loads(mission.options_json or "{}"))
        except ModelError as exc:
            raise EngineError(f"The lead could not propose parameters: {exc}") from exc
        try:
            return await propose(model, mission.text, plan)
        finally:
            await model.close()

    # Running ----------------------------------------------------------------------------------

    def run(
        self,
        name: str,
        params: dict[str, str] | None,
        *,
        reason: RunReason,
        approval: ApprovalPolicy | None = None,
        trigger_key: str | None = None,
        context: str | None = None,
        account: str | None = None,
        mission_id: str | None = None,
    ) -> str | None:
        """Starts a run (see :meth:`app.engine.Engine.run_workflow`); ``account`` overrides
        the workflow's (a trigger's email account, so that its agents can open the email);
        ``mission_id`` is the run's id when the Temporal cluster started it (a schedule's).

        Returns:
            Its mission's id; None when ``trigger_key`` already ran.

        Raises:
            EngineError: No such workflow, a value is missing, or the mission cannot start.
        """
        row = self.store.require(name)
        spec = spec_of(row)
        given = dict(params or {})
        mission_spec, plan = spec.render(given)
        values = spec.values_for(given)
        if approval is not None:
            mission_spec = mission_spec.model_copy(update={"approval": approval})
        if account is not None:
            mission_spec = mission_spec.model_copy(update={"account": account})
        if trigger_key is not None and self.store.has_run(row.id, trigger_key):
            return None
        if self.engine.settings.backend == "temporal":
            plan = None  # the mission workflow on Temporal plans afresh (docs/temporal.md)
        use: PlanUse = "saved" if plan else "planned"

        def begin(mission: Mission) -> list[dict[str, Any]]:
            run = self.store.add_run(
                row, mission.id, reason=reason, params=values, plan=use, trigger_key=trigger_key
            )
            if run is None:
                raise _AlreadyRan
            following = "following its saved plan" if plan else "the lead plans it"
            self.journal.audit(
                mission.id,
                "workflow_run_started",
                f"Run of workflow “{row.name}” (version {row.version}), {_REASONS[reason]}; {following}",
                workflow=row.name,
                version=row.version,
                run_id=run.id,
                reason=reason,
                plan=use,
                unattended=reason in UNATTENDED,
            )
            return first_messages(
                mission_spec.instruction,
                context=context,
                plan=plan,
                workflow=row.name,
                version=row.version,
                run_id=run.id,
            )

        try:
            return self.engine._start_run(mission_spec, begin, mission_id=mission_id)
        except _AlreadyRan:
            return None

    def run_triggered(self, name: str, *, key: str, value: str, context: str) -> str | None:
        """A trigger's run (see :meth:`app.engine.Engine.run_triggered`)."""
        spec = spec_of(self.store.require(name))
        param = trigger_param(spec)
        given = {param: value} if param is not None else {}
        trigger = spec.trigger
        account = trigger.account if trigger is not None and trigger.kind == "email" else None
        return self.run(name, given, reason="trigger", trigger_key=key, context=context, account=account)

    def finished(self, mission_id: str, status: str) -> None:
        """After a mission ended: if it is a run, records which plan it followed in the end,
        and gives a workflow that had no saved plan the plan of its first successful run."""
        run = self.store.run_of_mission(mission_id)
        if run is None:
            return
        use = self.plan_use(run)
        if use != run.plan:
            self.store.set_plan(run.id, use)
        if run.plan != "planned" or status != "done" or run.reason == "trigger":
            return
        row = self.store.get(run.workflow_id)
        if row is None or row.version != run.version:
            return
        spec = spec_of(row)
        template = _template(spec, plan_of(self.journal.tasks(mission_id)), json.loads(run.params_json))
        if spec.plan is None and template:
            self.store.update(row, spec.model_copy(update={"plan": template}))
            log.info("Workflow %s keeps the plan of its run %s", row.name, run.id)


def _template(
    spec: WorkflowSpec, plan: list[PlannedTask], values: dict[str, str]
) -> list[PlannedTask] | None:
    """A run's plan with ``{name}`` where its values were, or None when that could be wrong:
    a value too short to stand for itself, or one the plan does not hold as written (the lead
    put it otherwise, so another value would not reach the tasks)."""
    if not plan:
        return None
    proposals: list[ProposedParam] = []
    for param in spec.params:
        value = str(values.get(param.name) or "")
        if len(value) < _MIN_AUTO_VALUE or not any(value in task.instructions for task in plan):
            return None
        proposals.append(ProposedParam(param=param, value=value))
    return [t.model_copy(update={"instructions": parametrize(t.instructions, proposals)}) for t in plan]


def _need_defaults(spec: WorkflowSpec, how: str, *, skip: str | None) -> None:
    """Raises EngineError naming the parameters without a default (but ``skip``)."""
    missing = [p.name for p in spec.params if p.default is None and p.name != skip]
    if missing:
        which = ", ".join(missing)
        subject = f"the parameter {which} has" if len(missing) == 1 else f"the parameters {which} have"
        raise EngineError(
            f"The workflow “{spec.name}” cannot run {how}: {subject} no default value, and nobody "
            "is there to give one. Give it a default first."
        )


def _valid(data: dict[str, Any]) -> WorkflowSpec:
    """A workflow from its fields.

    Raises:
        EngineError: They do not make a valid workflow; the message says which field and why.
    """
    try:
        return WorkflowSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'workflow'}: {err['msg']}" for err in exc.errors()
        )
        raise EngineError(f"This is not a valid workflow: {problems}.") from exc


def _utc(value: datetime | None) -> datetime | None:
    """A journal time (naive UTC from SQLite) as an aware UTC time."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1_000 else None


__all__ = ["UNATTENDED", "Workflows"]
