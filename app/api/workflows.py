"""Workflows as data: a mission described once, with parameters, run again by hand, on a
schedule or when something arrives.

A :class:`WorkflowSpec` is a named, versioned template of a :class:`~app.api.spec.MissionSpec`:
its instruction has named parameters (``{month}``), and once it has run it keeps the lead's
**saved plan** (its task graph), so that a run skips the planning call. A workflow may have a
:class:`Schedule` or a :class:`Trigger`. Read models: :class:`WorkflowInfo` (the workflows
list) and :class:`WorkflowRunInfo` (a workflow's history).

Nothing here holds a secret: accounts are named, passwords stay in the keyring.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.api.spec import ApprovalPolicy, MissionSpec, RuleSpec
from app.errors import EngineError

ParamType = Literal["text", "number", "date", "file", "folder", "email"]
"""What a parameter holds: free ``text``, a ``number``, a ``date`` (YYYY-MM-DD), a ``file`` or
``folder`` path, or an ``email`` (the message that triggered the run, or an address)."""

RunReason = Literal["manual", "schedule", "catch_up", "trigger"]
"""Why a run started: by hand, at its scheduled time, once after missed times, or on a trigger."""

PlanUse = Literal["saved", "planned", "replanned"]
"""Which plan a run followed: the workflow's ``saved`` plan (no planning call), a plan the
lead made (``planned``: the workflow had none), or the saved plan and then the lead's own
(``replanned``: a task failed or the data no longer fit)."""

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]{0,39})\}")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class WorkflowParam(BaseModel):
    """A named value a workflow's instruction and plan take, as ``{name}``.

    Attributes:
        name: Lower case letters, digits and ``_``, starting with a letter (``month``).
        type: See :data:`ParamType`.
        default: The value a run uses when none is given (scheduled runs use it); None: a
            run must give one.
        description: One line for the form ("The month to chase, e.g. 2026-11").
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: ParamType = "text"
    default: str | None = None
    description: str = ""

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"'{value}' is not a parameter name: use lower case letters, digits and _, "
                "starting with a letter (e.g. month, invoice_file)"
            )
        return value


class PlannedTask(BaseModel):
    """One task of a saved plan: what the lead handed a sub-agent (``delegate``'s task).

    Attributes:
        id: The task's short id, unique in the plan.
        agent: The agent kind (``spreadsheet``, ``email``…).
        instructions: Its instructions, with ``{name}`` where a parameter goes.
        depends_on: Ids of the tasks whose results it needs.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    agent: str
    instructions: str = Field(min_length=1)
    depends_on: list[str] = Field(default_factory=list)


class Schedule(BaseModel):
    """When a workflow runs by itself, in the person's time zone (DST-correct).

    Attributes:
        kind: ``once`` (at ``at``, an ISO date and time), ``hourly`` (at minute ``at``'s
            minutes, default :00), ``daily``, ``weekdays`` (Monday to Friday), ``weekly`` (on
            ``days``), ``monthly`` (on ``day``; a month without that day runs on its last
            day), or ``cron`` (a five-field ``cron`` expression).
        at: ``HH:MM`` for daily, weekdays, weekly, monthly (and ``:MM`` or ``HH:MM`` for
            hourly); ``YYYY-MM-DDTHH:MM`` for once.
        days: For weekly: ``mon`` … ``sun``.
        day: For monthly: 1 to 31.
        cron: For cron: ``minute hour day month weekday``.
        timezone: An IANA name (``Europe/Paris``); empty: the computer's own.
        catch_up: After the computer was asleep or off at a due time: ``once`` (run once
            when back, whatever was missed) or ``skip``. Never several catch-up runs.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["once", "hourly", "daily", "weekdays", "weekly", "monthly", "cron"]
    at: str | None = None
    days: list[str] = Field(default_factory=list)
    day: int | None = Field(default=None, ge=1, le=31)
    cron: str | None = None
    timezone: str = ""
    catch_up: Literal["once", "skip"] = "once"

    @model_validator(mode="after")
    def _complete(self) -> Schedule:
        kind = self.kind
        if kind in ("daily", "weekdays", "weekly", "monthly") and not (self.at and _HHMM.match(self.at)):
            raise ValueError(f"a {kind} schedule needs a time of day as HH:MM (e.g. 09:00)")
        if kind == "once":
            try:
                dt.datetime.fromisoformat(self.at or "")
            except ValueError:
                raise ValueError("a one-time schedule needs a date and time, e.g. 2026-12-24T09:00") from None
        if kind == "weekly":
            wrong = [d for d in self.days if d not in WEEKDAYS]
            if not self.days or wrong:
                raise ValueError("a weekly schedule needs days among mon, tue, wed, thu, fri, sat, sun")
        if kind == "monthly" and self.day is None:
            raise ValueError("a monthly schedule needs a day of the month (1 to 31)")
        if kind == "cron" and len((self.cron or "").split()) != 5:
            raise ValueError("a cron schedule needs five fields: minute hour day month weekday")
        return self

    def describe(self) -> str:
        """The schedule in words: "Every Monday and Thursday at 09:00"."""
        names = {
            "mon": "Monday",
            "tue": "Tuesday",
            "wed": "Wednesday",
            "thu": "Thursday",
            "fri": "Friday",
            "sat": "Saturday",
            "sun": "Sunday",
        }
        zone = f" ({self.timezone})" if self.timezone else ""
        if self.kind == "once":
            when = dt.datetime.fromisoformat(self.at or "")
            return f"Once, on {when:%Y-%m-%d} at {when:%H:%M}{zone}"
        if self.kind == "hourly":
            minute = (self.at or ":00").rpartition(":")[2] or "00"
            return f"Every hour at :{minute}{zone}"
        if self.kind == "daily":
            return f"Every day at {self.at}{zone}"
        if self.kind == "weekdays":
            return f"Every weekday (Monday to Friday) at {self.at}{zone}"
        if self.kind == "weekly":
            days = [names[d] for d in WEEKDAYS if d in self.days]
            listed = days[0] if len(days) == 1 else ", ".join(days[:-1]) + " and " + days[-1]
            return f"Every {listed} at {self.at}{zone}"
        if self.kind == "monthly":
            return f"Every month on day {self.day} at {self.at}{zone}"
        return f"On the cron schedule “{self.cron}”{zone}"


class Trigger(BaseModel):
    """Something arriving that starts a run: a new email, or a new or changed file.

    The email or file becomes the run's ``param`` (see :meth:`WorkflowSpec.render`); what it
    says (sender, subject, file name) is shown to the agents as content from outside, never
    as something the person named: it vouches for no destination.

    Attributes:
        kind: ``email`` or ``file``.
        folder: The mail folder (``INBOX``) or the directory to watch.
        account: For email: the account, by name; None: the default one.
        from_glob: For email: only senders matching this pattern (``*@supplier.com``).
        subject_glob: For email: only subjects matching this pattern (``*invoice*``).
        glob: For files: only names matching this pattern (``*.pdf``).
        param: The parameter that receives the email or file; None: the workflow's first
            parameter of type ``email`` (or ``file``), if any.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["email", "file"]
    folder: str = Field(min_length=1)
    account: str | None = None
    from_glob: str | None = None
    subject_glob: str | None = None
    glob: str | None = None
    param: str | None = None

    def describe(self) -> str:
        """The trigger in words: "When an email arrives in INBOX from *@supplier.com"."""
        if self.kind == "file":
            which = f" matching {self.glob}" if self.glob else ""
            return f"When a file{which} is added or changed in {self.folder}"
        parts = [f"When an email arrives in {self.folder}"]
        if self.account:
            parts.append(f"of {self.account}")
        if self.from_glob:
            parts.append(f"from {self.from_glob}")
        if self.subject_glob:
            parts.append(f"with a subject like “{self.subject_glob}”")
        return " ".join(parts)


class WorkflowSpec(BaseModel):
    """A workflow: a mission described once, to run again with other values.

    Attributes:
        name: Its name, unique (any words, 1 to 80 characters).
        description: One line on what it does.
        instruction: The mission's instruction with ``{name}`` for each parameter.
        params: Its parameters, in the order the form asks for them.
        workspaces, account, allowed_sites, approval, model, token_budget, options: As in
            :class:`~app.api.spec.MissionSpec`, for every run.
        rules: Rules for its runs alone ("always allow writing invoices.xlsx"): each run's
            mission gets them; they decide nothing elsewhere.
        plan: The saved plan (the lead's tasks, with ``{name}`` placeholders), or None
            before the workflow has run.
        schedule: When it runs by itself, or None.
        trigger: What starts it, or None.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    description: str = ""
    instruction: str = Field(min_length=1)
    params: list[WorkflowParam] = Field(default_factory=list)
    workspaces: list[str] = Field(default_factory=list)
    account: str | None = None
    allowed_sites: list[str] = Field(default_factory=list)
    approval: ApprovalPolicy = "ask"
    rules: list[RuleSpec] = Field(default_factory=list)
    model: str | None = None
    token_budget: int | None = Field(default=None, ge=1_000)
    options: dict[str, Any] = Field(default_factory=dict)
    plan: list[PlannedTask] | None = None
    schedule: Schedule | None = None
    trigger: Trigger | None = None

    @field_validator("name")
    @classmethod
    def _clean_name(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("a workflow needs a name")
        return value

    @model_validator(mode="after")
    def _placeholders_declared(self) -> WorkflowSpec:
        declared = [p.name for p in self.params]
        repeated = sorted({n for n in declared if declared.count(n) > 1})
        if repeated:
            raise ValueError(f"parameters named more than once: {', '.join(repeated)}")
        # A {word} that is not a parameter stays as it is: instructions may hold braces.
        if self.trigger is not None and self.trigger.param is not None and self.trigger.param not in declared:
            raise ValueError(f"the trigger fills the parameter {self.trigger.param}, which is not declared")
        return self

    def placeholders(self) -> list[str]:
        """The declared parameters the instruction or the plan use, in declaration order."""
        used = set(_PLACEHOLDER.findall(self.instruction))
        for task in self.plan or []:
            used.update(_PLACEHOLDER.findall(task.instructions))
        return [p.name for p in self.params if p.name in used]

    def values_for(self, given: dict[str, str]) -> dict[str, str]:
        """Every parameter's value for a run: ``given``, else its default.

        Raises:
            EngineError: A parameter is unknown, or has neither a value nor a default (the
                message names it and says what it is for).
        """
        known = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise EngineError(
                f"The workflow “{self.name}” has no parameter {', '.join(unknown)}; "
                f"its parameters: {', '.join(known) or 'none'}."
            )
        values: dict[str, str] = {}
        for param in self.params:
            value = given.get(param.name, param.default)
            if value is None or not str(value).strip():
                what = f" ({param.description})" if param.description else ""
                raise EngineError(f"The workflow “{self.name}” needs a value for {param.name}{what}.")
            values[param.name] = str(value)
        return values

    def render(self, given: dict[str, str]) -> tuple[MissionSpec, list[PlannedTask] | None]:
        """The mission to start for one run, and the plan with the values in place.

        Args:
            given: Parameter name → value, as the person (or the trigger) gave them; missing
                ones take their defaults.

        Returns:
            ``(spec, plan)``: the mission spec (its instruction with the values in place)
            and the saved plan likewise, or None without a saved plan.

        Raises:
            EngineError: See :meth:`values_for`.
        """
        values = self.values_for(given)

        def fill(text: str) -> str:
            return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)

        spec = MissionSpec(
            instruction=fill(self.instruction),
            workspaces=list(self.workspaces),
            account=self.account,
            allowed_sites=list(self.allowed_sites),
            approval=self.approval,
            rules=list(self.rules),
            model=self.model,
            token_budget=self.token_budget,
            options=dict(self.options),
        )
        plan = (
            None
            if self.plan is None
            else [t.model_copy(update={"instructions": fill(t.instructions)}) for t in self.plan]
        )
        return spec, plan

    def to_yaml(self) -> str:
        """The workflow as a readable YAML file, to share it (no secret is in it)."""
        import yaml

        data = self.model_dump(mode="json", exclude_defaults=True)
        head = "# An Ensemble workflow. Import it with: ensemble workflow import FILE\n"
        return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)

    @classmethod
    def from_yaml(cls, text: str) -> WorkflowSpec:
        """A workflow from what :meth:`to_yaml` wrote (or a person edited).

        Raises:
            EngineError: The text is not YAML, or not a workflow; the message says where.
        """
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise EngineError(f"This file is not a readable workflow (YAML): {exc}") from exc
        if not isinstance(data, dict):
            raise EngineError("This file is not a workflow: it should hold name, instruction and params.")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'workflow'}: {err['msg']}" for err in exc.errors()
            )
            raise EngineError(f"This file is not a valid workflow: {problems}.") from exc


class WorkflowRunInfo(BaseModel):
    """One run of a workflow, as its history lists it.

    Attributes:
        id: The run's id.
        workflow: The workflow's name when it ran.
        version: The workflow's version it ran.
        mission_id: Its mission (open its audit with it).
        reason: See :data:`RunReason`.
        params: The values it ran with (a trigger's email or file as a short description).
        plan: See :data:`PlanUse`.
        status: Its mission's status (``running``, ``done``, ``failed``…).
        started_at: When it started (UTC).
        finished_at: When it ended (UTC), if it did.
        changes: How many actions it carried out.
        waiting: How many actions wait for the person now.
        tokens: Tokens spent.
        cost: Estimated US dollars, or None when the price is unknown.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    workflow: str
    version: int
    mission_id: str
    reason: RunReason
    params: dict[str, str] = Field(default_factory=dict)
    plan: PlanUse = "planned"
    status: str = "running"
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    changes: int = 0
    waiting: int = 0
    tokens: int = 0
    cost: float | None = None


class WorkflowInfo(BaseModel):
    """A workflow as the Workflows pane and ``ensemble workflow list`` show it.

    Attributes:
        id: Its id (stays the same across renames and versions).
        name: Its name.
        version: Increases by one at every saved change.
        description: One line on what it does.
        spec: The whole workflow.
        schedule: Its schedule in words, or None.
        trigger: Its trigger in words, or None.
        next_run_at: When the schedule runs it next (UTC), or None.
        last_run: Its latest run, or None.
        runs: How many runs it has had.
        created_at: When it was saved first (UTC).
        updated_at: When it was changed last (UTC).
    """

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    version: int
    description: str = ""
    spec: WorkflowSpec
    schedule: str | None = None
    trigger: str | None = None
    next_run_at: dt.datetime | None = None
    last_run: WorkflowRunInfo | None = None
    runs: int = 0
    created_at: dt.datetime
    updated_at: dt.datetime


class ProposedParam(BaseModel):
    """A parameter the lead proposes when a mission is saved as a workflow: what would change
    next time, with the value it had in this mission.

    Attributes:
        param: The parameter (name, type, default, description).
        value: The text in the mission's instruction and plan it replaces.
    """

    model_config = ConfigDict(frozen=True)

    param: WorkflowParam
    value: str = Field(min_length=1)


class SchedulesOwnedElsewhere(EngineError):
    """Another Ensemble process already runs the schedules and triggers of this
    ``ENSEMBLE_HOME``; the message says which (its process id and what it is)."""
