"""Saved workflows and their runs in the journal (tables ``workflow`` and ``workflowrun``).

A workflow is kept as its :class:`~app.api.workflows.WorkflowSpec` in JSON, with a version
that grows by one at every change, and the state of its schedule (the next due time, the due
time it last ran for) and of its trigger (what it has seen). Runs point to their missions;
a trigger's run carries the key of what started it, unique per workflow, so that one email or
one file starts one run however often it is seen.

Like :class:`~app.journal.Journal`, every method is safe from any thread (the journal locks).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from app.api.workflows import WorkflowSpec
from app.errors import EngineError
from app.journal import Workflow, WorkflowRun, new_id, utcnow

if TYPE_CHECKING:
    from datetime import datetime

    from app.journal import Journal


def spec_of(row: Workflow) -> WorkflowSpec:
    """The workflow a row holds."""
    return WorkflowSpec.model_validate_json(row.spec_json)


class WorkflowStore:
    """The journal's workflows and runs.

    Args:
        journal: The journal they live in.
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    # Workflows ------------------------------------------------------------------------------

    def add(self, spec: WorkflowSpec) -> Workflow:
        """Saves a new workflow at version 1.

        Raises:
            EngineError: A workflow already has that name (any case).
        """
        if self.get(spec.name) is not None:
            raise EngineError(f"A workflow named “{spec.name}” already exists: choose another name.")
        row = Workflow(id=new_id("w"), name=spec.name, spec_json=spec.model_dump_json(exclude_defaults=True))
        try:
            self.journal.add(row)
        except IntegrityError as exc:  # another process saved the same name just now
            raise EngineError(f"A workflow named “{spec.name}” already exists: choose another name.") from exc
        return row

    def get(self, name: str) -> Workflow | None:
        """The workflow with that name (any case, spaces tidied), or with that id; None if none."""
        wanted = " ".join(name.split())
        with self.journal.session() as session:
            found = session.exec(
                select(Workflow).where(
                    (func.lower(col(Workflow.name)) == wanted.lower()) | (col(Workflow.id) == wanted)
                )
            ).first()
            return found

    def require(self, name: str) -> Workflow:
        """Like :meth:`get`, but a missing workflow is an error.

        Raises:
            EngineError: There is no workflow by that name.
        """
        row = self.get(name)
        if row is None:
            raise EngineError(f"There is no workflow “{name}”.")
        return row

    def update(self, row: Workflow, spec: WorkflowSpec) -> Workflow:
        """Saves a changed workflow as the next version (nothing if it did not change).

        A changed schedule starts afresh: its next time is computed again by whoever runs the
        schedules (:meth:`revision` tells them).

        Raises:
            EngineError: The new name is taken by another workflow.
        """
        if spec.name.lower() != row.name.lower() or spec.name != row.name:
            other = self.get(spec.name)
            if other is not None and other.id != row.id:
                raise EngineError(f"A workflow named “{spec.name}” already exists: choose another name.")
        text = spec.model_dump_json(exclude_defaults=True)
        if text == row.spec_json:
            return row
        old = spec_of(row)
        changes: dict[str, Any] = {
            "name": spec.name,
            "spec_json": text,
            "version": row.version + 1,
            "updated_at": utcnow(),
        }
        if old.schedule != spec.schedule:
            changes["next_run_at"] = None
            changes["last_fired_at"] = None
        if old.trigger != spec.trigger:
            changes["trigger_state_json"] = "{}"
        self.journal.update(row, **changes)
        return row

    def delete(self, row: Workflow) -> None:
        """Removes a workflow; its runs stay (with their missions), under its name."""
        with self.journal.session() as session:
            found = session.get(Workflow, row.id)
            if found is not None:
                session.delete(found)

    def all(self) -> list[Workflow]:
        """Every workflow, by name (any case)."""
        with self.journal.session() as session:
            return list(session.exec(select(Workflow).order_by(func.lower(col(Workflow.name)))).all())

    def scheduled(self) -> list[Workflow]:
        """The workflows that have a schedule."""
        return [row for row in self.all() if spec_of(row).schedule is not None]

    def triggered(self) -> list[Workflow]:
        """The workflows that have a trigger."""
        return [row for row in self.all() if spec_of(row).trigger is not None]

    def set_next_run(
        self, workflow_id: str, next_run_at: datetime | None, *, fired_at: datetime | None = None
    ) -> None:
        """Records a schedule's next due time, and (``fired_at``) the due time it just ran for.

        Does not change the workflow's version or :meth:`revision`: it is the schedule's own
        bookkeeping, not a change the person made.
        """
        with self.journal.session() as session:
            row = session.get(Workflow, workflow_id)
            if row is None:
                return
            row.next_run_at = next_run_at
            if fired_at is not None:
                row.last_fired_at = fired_at
            session.add(row)

    def trigger_state(self, workflow_id: str) -> dict[str, Any]:
        """What a workflow's trigger has recorded ({} at first)."""
        with self.journal.session() as session:
            row = session.get(Workflow, workflow_id)
            state: dict[str, Any] = json.loads(row.trigger_state_json or "{}") if row else {}
            return state

    def set_trigger_state(self, workflow_id: str, state: dict[str, Any]) -> None:
        """Records what a workflow's trigger has seen (JSON-able values only)."""
        with self.journal.session() as session:
            row = session.get(Workflow, workflow_id)
            if row is None:
                return
            row.trigger_state_json = json.dumps(state, ensure_ascii=False)
            session.add(row)

    def revision(self) -> str:
        """A value that changes whenever a workflow is added, changed, renamed or removed (not
        when a schedule's bookkeeping moves on): whoever runs the schedules reloads on it."""
        with self.journal.session() as session:
            count, latest, versions = session.exec(
                select(func.count(), func.max(col(Workflow.updated_at)), func.sum(col(Workflow.version)))
            ).one()
        return f"{count}:{latest}:{versions}"

    # Runs -------------------------------------------------------------------------------------

    def has_run(self, workflow_id: str, trigger_key: str) -> bool:
        """Whether a run with that trigger key exists (the email or file already ran)."""
        with self.journal.session() as session:
            found = session.exec(
                select(WorkflowRun.id).where(
                    WorkflowRun.workflow_id == workflow_id, WorkflowRun.trigger_key == trigger_key
                )
            ).first()
            return found is not None

    def add_run(
        self,
        row: Workflow,
        mission_id: str,
        *,
        reason: str,
        params: dict[str, str],
        plan: str,
        trigger_key: str | None = None,
    ) -> WorkflowRun | None:
        """Records a run of a workflow (its mission must be in the journal already).

        Returns:
            The run, or None when a run with that ``trigger_key`` exists (nothing recorded).
        """
        run = WorkflowRun(
            id=new_id("wr"),
            workflow_id=row.id,
            workflow_name=row.name,
            version=row.version,
            mission_id=mission_id,
            reason=reason,
            params_json=json.dumps(params, ensure_ascii=False),
            plan=plan,
            trigger_key=trigger_key,
        )
        try:
            self.journal.add(run)
        except IntegrityError:
            return None
        return run

    def set_plan(self, run_id: str, plan: str) -> None:
        """Records which plan a run followed in the end (``replanned``…)."""
        with self.journal.session() as session:
            run = session.get(WorkflowRun, run_id)
            if run is not None:
                run.plan = plan
                session.add(run)

    def runs(self, workflow_id: str, *, limit: int = 50, offset: int = 0) -> list[WorkflowRun]:
        """A workflow's runs, newest first, a page at a time."""
        with self.journal.session() as session:
            return list(
                session.exec(
                    select(WorkflowRun)
                    .where(WorkflowRun.workflow_id == workflow_id)
                    .order_by(col(WorkflowRun.started_at).desc())
                    .offset(offset)
                    .limit(limit)
                ).all()
            )

    def run_count(self, workflow_id: str) -> int:
        """How many runs a workflow has had."""
        with self.journal.session() as session:
            return int(
                session.exec(
                    select(func.count())
                    .select_from(WorkflowRun)
                    .where(WorkflowRun.workflow_id == workflow_id)
                ).one()
            )

    def run_of_mission(self, mission_id: str) -> WorkflowRun | None:
        """The run a mission is, or None for a mission that is no workflow's run."""
        with self.journal.session() as session:
            return session.exec(select(WorkflowRun).where(WorkflowRun.mission_id == mission_id)).first()
