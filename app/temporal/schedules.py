"""A workflow's schedule as a Temporal Schedule: the server starts one mission per due time.

On the embedded engine the schedules' loop (:mod:`app.workflows.service`) computes each due
time itself and starts the run. On Temporal the cluster does it: :func:`put_schedule` creates
(or updates) a Temporal Schedule whose action starts the mission workflow
(:data:`~app.temporal._shapes.WORKFLOW_NAME`) with the workflow's :class:`MissionInput`. The
server appends the due time to the workflow id (``ensemble-workflow-<slug>-<due time>``), so a
due time has one run, whichever workers are up: a run due while every worker is down starts
on the server and waits for a worker.

:func:`schedule_spec` translates an :class:`~app.api.workflows.Schedule` into Temporal's
terms, with ``time_zone_name`` the person's zone so that the server follows daylight saving
time. Measured on ``temporal server start-dev`` (1.35 SDK; see
tests/test_temporal_schedules.py), Temporal agrees with :mod:`app.workflows.schedule` except
on the two nights a year the clocks change, for times inside the hour that changes:

- a time that does not exist (02:30 in Paris on 2027-03-28): Temporal skips it, the embedded
  engine runs at 03:30. :func:`schedule_spec` adds a one-day calendar at the shifted time for
  each such night of the next :data:`DST_YEARS` years, so both run at 03:30;
- a time that exists twice (02:30 on the night the clocks go back): the embedded engine runs
  at the first one (every-hour schedules in both). Temporal, measured: a daily 02:30 in Paris
  at the second one only, an hourly :30 in Paris once (at the first), a daily 01:30 in New
  York at both. A wall-clock calendar cannot name one of the two, so this is left as is.

A ``cron`` expression is translated field by field into calendars rather than handed to
Temporal's own cron parser, which requires *both* the day of the month and the weekday when
both are given (cron, and the embedded engine, run on *either*).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from app.errors import EngineError
from app.temporal._shapes import DEFAULT_TASK_QUEUE, WORKFLOW_NAME, MissionInput, RuleData
from app.workflows import schedule as timing

if TYPE_CHECKING:
    from collections.abc import Sequence
    from zoneinfo import ZoneInfo

    from app.api.workflows import Schedule as EnsembleSchedule
    from app.api.workflows import WorkflowSpec
    from app.settings import Settings

SCHEDULE_PREFIX = "ensemble-workflow-"
"""The start of every schedule id (and so of every scheduled run's workflow id)."""

DST_YEARS = 10
"""How many years ahead :func:`schedule_spec` writes the runs of the nights the clocks go
forward (see the module's docstring); :func:`put_schedule` again renews them."""

MAX_CATCHUP = dt.timedelta(days=365)
"""The longest catch-up window (Temporal's own default)."""

SCHEDULED_BY = SearchAttributeKey.for_keyword("TemporalScheduledById")
"""Temporal's search attribute on a run a schedule started: the schedule's id."""

SCHEDULED_AT = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
"""Temporal's search attribute on a run a schedule started: the due time it is for."""

_SUNDAY_FIRST = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_ITEM = re.compile(r"^(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/(\d{1,2}))?$")
_NOT_LEAP = (ScheduleRange(2001, 2097, 4), ScheduleRange(2002, 2098, 4), ScheduleRange(2003, 2099, 4))
"""Years from 2001 to 2099 that are not leap years (and 2100, added apart): a Temporal calendar's
years go from 2000 to 2100."""
_THIRTY_DAYS = (4, 6, 9, 11)


# Ids ------------------------------------------------------------------------------------------


def schedule_id(name: str) -> str:
    """The Temporal Schedule id of a workflow: ``ensemble-workflow-<slug>-<hash>``.

    The slug is the name in lower case ASCII letters and digits joined by ``-`` (40 characters
    at most); the 8 hexadecimal digits of the SHA-256 of the name (tidied, lower case, as the
    journal compares names) tell apart names with the same slug ("Q3: report", "Q3 report").

    Args:
        name: The workflow's name (any case).

    Returns:
        The id, also the prefix of each run's workflow id.
    """
    tidy = " ".join(name.split()).lower()
    slug = "-".join(re.findall(r"[a-z0-9]+", tidy))[:40].strip("-") or "workflow"
    digest = hashlib.sha256(tidy.encode()).hexdigest()[:8]
    return f"{SCHEDULE_PREFIX}{slug}-{digest}"


# The schedule in Temporal's terms --------------------------------------------------------------


def schedule_spec(schedule: EnsembleSchedule, *, now: dt.datetime | None = None) -> ScheduleSpec:
    """A workflow's schedule as a Temporal :class:`ScheduleSpec`.

    - ``once``: one calendar at the exact instant (:func:`app.workflows.schedule.once_at`),
      with its year, in UTC (``time_zone_name="UTC"``): the instant the embedded engine runs
      it, also on a night the clocks change, where a wall-clock calendar would be skipped or
      run an hour late. :func:`put_schedule` also limits it to one action.
    - ``hourly``: every hour at the minute; ``daily``, ``weekdays`` (Monday to Friday),
      ``weekly`` (the days): at ``HH:MM``; all with ``time_zone_name`` the person's zone.
    - ``monthly``: on the day; from the 29th, on that day in the months that have it, else on
      the month's last day (the 30th, or February's 28th or 29th: February 29 only exists in
      leap years, and a calendar limited to the years up to 2100 that are not leap years
      runs on the 28th).
    - ``cron``: each field as ranges; a day of the month and a weekday both given (neither
      starting with ``*``) become two calendars, so that either runs, as cron does.

    Plus, for the repeating kinds, a one-day calendar for each due time the embedded engine
    shifts out of a spring-forward gap in the next :data:`DST_YEARS` years (see the module's
    docstring).

    Args:
        schedule: The workflow's schedule (its time zone empty: the computer's).
        now: Where the DST years start (UTC); now by default.

    Returns:
        The spec (no start or end: the schedule runs until it is deleted or paused).

    Raises:
        EngineError: The time zone does not exist, the cron expression cannot be read, or it
            uses what a Temporal calendar cannot say (``L``, ``last``, ``#``).
    """
    timing.check(schedule)
    zone = timing.zone_of(schedule)
    if schedule.kind == "once":
        when = timing.once_at(schedule, zone)
        calendar = ScheduleCalendarSpec(
            second=[ScheduleRange(when.second)],
            minute=[ScheduleRange(when.minute)],
            hour=[ScheduleRange(when.hour)],
            day_of_month=[ScheduleRange(when.day)],
            month=[ScheduleRange(when.month)],
            year=[ScheduleRange(when.year)],
            comment=f"once, {schedule.at} ({zone.key})",
        )
        return ScheduleSpec(calendars=[calendar], time_zone_name="UTC")
    calendars = _calendars(schedule)
    calendars.extend(_gap_days(schedule, zone, now or dt.datetime.now(dt.UTC)))
    return ScheduleSpec(calendars=calendars, time_zone_name=zone.key)


def catchup_window(schedule: EnsembleSchedule, *, now: dt.datetime | None = None) -> dt.timedelta:
    """How late the server may still start a due time it missed (it was down).

    The embedded engine runs a missed schedule once (``catch_up="once"``: one run for the
    last due time missed, however many were) or not at all (``"skip"``: only a due time
    found within :data:`~app.workflows.schedule.GRACE` runs). Temporal runs every missed due
    time within its catch-up window, each as the overlap policy says; with
    ``ALLOW_ALL`` (see :func:`put_schedule`) the window is what limits them:

    - ``skip``: :data:`~app.workflows.schedule.GRACE` (60 s);
    - ``once``: the shortest time between two consecutive due times in the coming year (at
      least the grace, at most :data:`MAX_CATCHUP`), so that at most one missed due time
      falls in the window; a one-time schedule: :data:`MAX_CATCHUP`.

    The difference left: after an outage longer than that shortest gap, the embedded engine
    still runs once for the last due time missed, Temporal runs it only if it fell within
    the window (a weekly Monday and Thursday schedule: the window is 3 days, so a Thursday
    missed and noticed on Monday morning, 4 days later, does not run).

    Args:
        schedule: The workflow's schedule.
        now: Where the year looked at starts (UTC); now by default.

    Raises:
        EngineError: The schedule cannot be computed.
    """
    if schedule.catch_up == "skip":
        return timing.GRACE
    if schedule.kind == "once":
        return MAX_CATCHUP
    start = timing.as_utc(now or dt.datetime.now(dt.UTC))
    end = start + MAX_CATCHUP
    shortest = MAX_CATCHUP
    previous = timing.next_fire(schedule, start)
    for _ in range(800):
        if previous is None or previous > end:
            break
        following = timing.next_fire(schedule, previous)
        if following is None:
            break
        shortest = min(shortest, following - previous)
        previous = following
    return max(timing.GRACE, shortest)


def _calendars(schedule: EnsembleSchedule) -> list[ScheduleCalendarSpec]:
    every_hour = [ScheduleRange(0, 23)]
    kind = schedule.kind
    if kind == "hourly":
        minute = timing._minute_of(schedule.at)  # the engine's own reading of ":MM"
        return [_calendar(minute=[ScheduleRange(minute)], hour=every_hour, comment="hourly")]
    hour, minute = timing._hhmm(schedule.at)
    at = {"hour": [ScheduleRange(hour)], "minute": [ScheduleRange(minute)]}
    if kind == "daily":
        return [_calendar(**at, comment="daily")]
    if kind == "weekdays":
        return [_calendar(**at, day_of_week=[ScheduleRange(1, 5)], comment="weekdays")]
    if kind == "weekly":
        days = {_SUNDAY_FIRST.index(d) for d in schedule.days}
        return [_calendar(**at, day_of_week=_ranges(days, 0, 6), comment="weekly")]
    if kind == "monthly":
        return _monthly(schedule.day or 1, at)
    return _cron(schedule.cron or "")


def _calendar(**fields: Any) -> ScheduleCalendarSpec:
    """A calendar at second 0 of every day and month, but for ``fields``."""
    return ScheduleCalendarSpec(**{"second": [ScheduleRange(0)], **fields})


def _monthly(day: int, at: dict[str, list[ScheduleRange]]) -> list[ScheduleCalendarSpec]:
    comment = f"monthly on day {day}"
    if day <= 28:
        return [_calendar(**at, day_of_month=[ScheduleRange(day)], comment=comment)]
    long_months = [m for m in range(1, 13) if m != 2 and (day <= 30 or m not in _THIRTY_DAYS)]
    calendars = [
        _calendar(
            **at, day_of_month=[ScheduleRange(day)], month=_ranges(set(long_months), 1, 12), comment=comment
        ),
        # February: the 29th exists in leap years only; the 28th in the others.
        _calendar(**at, day_of_month=[ScheduleRange(29)], month=[ScheduleRange(2)], comment=comment),
        _calendar(
            **at,
            day_of_month=[ScheduleRange(28)],
            month=[ScheduleRange(2)],
            year=[*_NOT_LEAP, ScheduleRange(2100)],
            comment=f"{comment}: February 28 of years that are not leap years",
        ),
    ]
    if day == 31:
        calendars.append(
            _calendar(
                **at,
                day_of_month=[ScheduleRange(30)],
                month=_ranges(set(_THIRTY_DAYS), 1, 12),
                comment=f"{comment}: the 30th of months of 30 days",
            )
        )
    return calendars


def _cron(expression: str) -> list[ScheduleCalendarSpec]:
    """A five-field cron expression as calendars, read as cron (and the embedded engine) reads
    it: weekday 0 and 7 are Sunday; a day of the month and a weekday both given mean either."""
    minute, hour, day, month, weekday = expression.split()
    try:
        fields = {
            "minute": _ranges(_field(minute, 0, 59), 0, 59),
            "hour": _ranges(_field(hour, 0, 23), 0, 23),
            "month": _ranges(_field(month, 1, 12, _MONTHS, first=1), 1, 12),
        }
        days = _ranges(_field(day, 1, 31), 1, 31)
        weekdays = _ranges({d % 7 for d in _field(weekday, 0, 7, _SUNDAY_FIRST)}, 0, 6)
    except ValueError as exc:
        raise EngineError(f"The cron expression “{expression}” cannot run on Temporal: {exc}.") from None
    comment = f"cron {expression}"
    if day.startswith("*") or weekday.startswith("*"):
        return [_calendar(**fields, day_of_month=days, day_of_week=weekdays, comment=comment)]
    return [  # cron runs on either of them when both are given
        _calendar(**fields, day_of_month=days, comment=comment),
        _calendar(**fields, day_of_week=weekdays, comment=comment),
    ]


def _field(text: str, low: int, high: int, names: Sequence[str] = (), *, first: int = 0) -> set[int]:
    """The numbers a cron field stands for (``*``, ``a``, ``a-b``, with ``/step``, names).

    Raises:
        ValueError: What cannot be read, or is out of ``low``..``high``.
    """
    chosen: set[int] = set()
    for item in text.lower().split(","):
        match = _ITEM.match(item)
        if match is None:
            raise ValueError(f"“{item}” is not something a Temporal calendar can say")
        span, step_text = match.group(1), match.group(2)
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"“{item}” has a step of zero")
        weekdays = names is _SUNDAY_FIRST
        top = 6 if weekdays else high  # a weekday's 7 (Sunday again) only as a range's end
        if span == "*":
            start, end = low, top
        else:
            left, _, right = span.partition("-")
            start = _number(left, low, high, names, first)
            end = _number(right, low, high, names, first) if right else (top if step_text else start)
            if weekdays and right and end == 0 and start > 0:  # mon-sun, 1-7
                end = 7
            if end < start:
                raise ValueError(f"“{item}” runs backwards")
        chosen.update(range(start, end + 1, step))
    return chosen


def _number(text: str, low: int, high: int, names: Sequence[str], first: int) -> int:
    if text.isdigit():
        value = int(text)
    elif text in names:
        value = names.index(text) + first
    else:
        raise ValueError(f"“{text}” is not a number or a name this field takes")
    if not low <= value <= high:
        raise ValueError(f"{value} is not between {low} and {high}")
    return value


def _ranges(values: set[int], low: int, high: int) -> list[ScheduleRange]:
    """``values`` as few Temporal ranges: the whole span, one stepped range, or runs."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("it matches nothing")
    if ordered == list(range(low, high + 1)):
        return [ScheduleRange(low, high)]
    if len(ordered) >= 3:
        step = ordered[1] - ordered[0]
        if ordered == list(range(ordered[0], ordered[-1] + 1, step)) and step > 1:
            return [ScheduleRange(ordered[0], ordered[-1], step)]
    ranges: list[ScheduleRange] = []
    start = previous = ordered[0]
    for value in [*ordered[1:], None]:
        if value is not None and value == previous + 1:
            previous = value
            continue
        ranges.append(ScheduleRange(start, previous) if previous > start else ScheduleRange(start))
        if value is not None:
            start = previous = value
    return ranges


def _gap_days(schedule: EnsembleSchedule, zone: ZoneInfo, now: dt.datetime) -> list[ScheduleCalendarSpec]:
    """One-day calendars for the due times the embedded engine moves out of a spring-forward
    gap (02:30 that does not exist runs at 03:30), which Temporal would skip."""
    rule = timing._rule(schedule)
    found: list[ScheduleCalendarSpec] = []
    for change in _forward_changes(zone, timing.as_utc(now), DST_YEARS):
        cursor = change - dt.timedelta(hours=3)
        while True:
            instant = timing.next_fire(schedule, cursor)
            if instant is None or instant > change + dt.timedelta(hours=3):
                break
            cursor = instant
            wall = instant.astimezone(zone).replace(tzinfo=None)
            if timing._next_wall(rule, wall) == wall:
                continue  # the wall-clock calendar runs it already
            found.append(
                _calendar(
                    second=[ScheduleRange(wall.second)],
                    minute=[ScheduleRange(wall.minute)],
                    hour=[ScheduleRange(wall.hour)],
                    day_of_month=[ScheduleRange(wall.day)],
                    month=[ScheduleRange(wall.month)],
                    year=[ScheduleRange(wall.year)],
                    comment="the clocks go forward: the time does not exist that night",
                )
            )
    return found


def _forward_changes(zone: ZoneInfo, start: dt.datetime, years: int) -> list[dt.datetime]:
    """The instants (UTC, to the minute) in the next ``years`` years when ``zone``'s offset
    grows (the clocks go forward)."""
    changes: list[dt.datetime] = []
    day = dt.timedelta(days=1)
    cursor = start.replace(minute=0, second=0, microsecond=0)
    end = cursor + dt.timedelta(days=366 * years)
    offset = cursor.astimezone(zone).utcoffset()
    while cursor < end:
        following = cursor + day
        after = following.astimezone(zone).utcoffset()
        if after != offset:
            low, high = cursor, following  # the change is in (low, high]: bisect to the minute
            while high - low > dt.timedelta(minutes=1):
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            if after is not None and offset is not None and after > offset:
                changes.append(high.replace(second=0, microsecond=0))
            offset = after
        cursor = following
    return changes


# The runs' input ------------------------------------------------------------------------------


class RuleRow(Protocol):
    """A rule as the journal keeps it (:class:`app.journal.Rule`) or as a workflow carries it
    (:class:`~app.temporal._shapes.RuleData`)."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def tool(self) -> str | None: ...
    @property
    def conditions_json(self) -> str: ...
    @property
    def mission_id(self) -> str | None: ...


def scheduled_mission(
    workflow: WorkflowSpec,
    settings: Settings,
    *,
    rules: Sequence[RuleRow] = (),
    memories: Sequence[str] = (),
) -> MissionInput:
    """The input every scheduled run of a workflow starts with, as the embedded engine's
    ``run_workflow(name, reason="schedule")`` would start it (the parameters' defaults).

    The options are made as :meth:`app.engine.Engine.start` makes a mission's (the settings'
    per-kind options for the spec, the accounts without passwords, the model and the budget
    the workflow names), minus any endpoint's API key. The workflow's approval policy
    (``all``/``none``) and its own rules become rules limited to this mission: their
    ``mission_id`` is the schedule's id, which :func:`put_schedule` keeps and the mission
    workflow should turn into each run's own id (see docs/temporal.md, schedules).

    The saved plan is not used: the mission workflow on Temporal plans afresh (runs from a
    saved plan are listed as left in docs/temporal.md).

    Args:
        workflow: The workflow.
        settings: The person's settings.
        rules: The rules in force for every mission, by age: the journal's rows
            (``journal.rules(None)``) or :class:`~app.temporal._shapes.RuleData`.
        memories: What the person asked the lead to remember that applies to its folders.

    Returns:
        The input, without a secret.

    Raises:
        EngineError: A parameter has no default value (the message names it).
        app.accounts.AccountError: The account the workflow names does not exist.
    """
    from app.accounts import fill_mission_options
    from app.rules import describe

    spec, _plan = workflow.render({})
    sid = schedule_id(workflow.name)
    options: dict[str, Any] = dict(spec.options)
    for name, kind_options in settings.mission_options(spec.model_dump(mode="json")).items():
        options.setdefault(name, kind_options)
    fill_mission_options(options, settings, spec.account)
    if spec.model:
        options["model"] = spec.model
    if spec.token_budget:
        options["token_budget"] = spec.token_budget
    options["spec"] = spec.model_dump(mode="json", exclude_defaults=True)
    sent: dict[str, Any] = json.loads(json.dumps(options))
    endpoint = sent.get("endpoint")
    if isinstance(endpoint, dict):
        endpoint.pop("api_key", None)  # a worker uses its own key
    own: list[RuleData] = []
    if spec.approval != "ask":
        kind = "approve_all" if spec.approval == "all" else "reject_all"
        words = "Approve" if spec.approval == "all" else "Reject"
        own.append(RuleData(f"{sid}-approval", kind, f"{words} every action in this mission", mission_id=sid))
    for index, rule in enumerate(spec.rules):
        own.append(
            RuleData(
                id=f"{sid}-rule-{index + 1}",
                kind=rule.kind,
                description=describe(rule.kind, rule.tool, dict(rule.where), sid),
                tool=rule.tool,
                conditions_json=json.dumps(rule.where, ensure_ascii=False),
                mission_id=sid,
            )
        )
    model = str((endpoint if isinstance(endpoint, dict) else {}).get("model") or spec.model or settings.model)
    return MissionInput(
        mission_id=sid,
        text=spec.instruction,
        workspaces=list(spec.workspaces or settings.workspaces),
        model=model,
        max_turns=settings.max_turns,
        token_budget=spec.token_budget or settings.token_budget,
        max_tokens=settings.max_tokens,
        options=sent,
        rules=[
            *own,
            *(RuleData(r.id, r.kind, r.description, r.tool, r.conditions_json, r.mission_id) for r in rules),
        ],
        address_book=list(settings.address_book),
        memories=list(memories),
        model_timeout_seconds=settings.api_timeout,
    )


# The schedule on the server --------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduledRun:
    """One run a workflow's Temporal Schedule started.

    Attributes:
        workflow_id: The run's workflow id (the schedule's id and the due time): its mission id.
        run_id: Temporal's run id.
        due_at: The due time it is for (UTC), or None if the server did not say.
        started_at: When it started (UTC).
        status: Temporal's status: ``RUNNING``, ``COMPLETED``, ``FAILED``, ``CANCELED``,
            ``TERMINATED``, ``TIMED_OUT``…
    """

    workflow_id: str
    run_id: str
    due_at: dt.datetime | None
    started_at: dt.datetime
    status: str


async def put_schedule(
    client: Client,
    workflow: WorkflowSpec,
    mission: MissionInput,
    *,
    task_queue: str = DEFAULT_TASK_QUEUE,
    spec: ScheduleSpec | None = None,
    catchup: dt.timedelta | None = None,
) -> str:
    """Creates or updates (idempotent) the Temporal Schedule of a scheduled workflow.

    Each due time starts the mission workflow (``EnsembleMission``) with ``mission``, under
    the workflow id ``<schedule id>-<due time>`` (the server appends the due time): one run
    per due time, whether or not a worker is up at that time.

    Policy:

    - overlap ``ALLOW_ALL``: a run starts at every due time even while the previous one
      still runs (waits for a person's decision, or for a worker), as on the embedded
      engine, which starts each due time's run without looking at the previous one.
      ``BUFFER_ONE`` would hold the next run back until the previous one ends (and drop the
      ones after it): a run waiting on a card for a day would silently eat the due times of
      that day; ``SKIP`` would drop them all.
    - catch-up window: :func:`catchup_window` (missed due times only happen while the
      *server* is down; runs due while workers are down are started and wait for them).
    - a one-time schedule is limited to one action.

    The schedule's memo names the workflow (``ensemble_workflow``) and its schedule in
    words; each run carries the same memo and Temporal's own search attributes
    ``TemporalScheduledById`` (the schedule's id) and ``TemporalScheduledStartTime`` (its due
    time), which :func:`list_runs` reads. An update keeps the schedule paused if it was.

    Args:
        client: A connected client.
        workflow: The workflow; its ``schedule`` gives the times unless ``spec`` does.
        mission: The input of every run (:func:`app.temporal.client.mission_input`). Its
            ``mission_id`` is replaced by the schedule's id (each run's own id is the
            workflow id), and so is that of its rules limited to that mission id.
        task_queue: The task queue the runs start on.
        spec: The times, instead of the workflow's schedule (tests: every few seconds).
        catchup: The catch-up window, instead of :func:`catchup_window`'s.

    Returns:
        The schedule's id (:func:`schedule_id` of the workflow's name).

    Raises:
        EngineError: The workflow has no schedule (and no ``spec`` is given), or its schedule
            cannot run on Temporal (see :func:`schedule_spec`).
        temporalio.service.RPCError: The server refused the schedule.
    """
    sid = schedule_id(workflow.name)
    plan = workflow.schedule
    if spec is None:
        if plan is None:
            raise EngineError(f"The workflow “{workflow.name}” has no schedule.")
        spec = schedule_spec(plan)
    if catchup is None:
        catchup = catchup_window(plan) if plan is not None else timing.GRACE
    template = dataclasses.replace(
        mission,
        mission_id=sid,
        rules=[
            dataclasses.replace(r, mission_id=sid) if r.mission_id == mission.mission_id else r
            for r in mission.rules
        ],
    )
    memo = {"ensemble_workflow": workflow.name, "schedule": plan.describe() if plan is not None else ""}
    once = plan is not None and plan.kind == "once"
    wanted = Schedule(
        action=ScheduleActionStartWorkflow(
            WORKFLOW_NAME,
            template,
            id=sid,
            task_queue=task_queue,
            memo=memo,
            static_summary=f"Scheduled run of the workflow “{workflow.name}”",
        ),
        spec=spec,
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL, catchup_window=catchup),
        state=ScheduleState(limited_actions=once, remaining_actions=1 if once else 0),
    )
    try:
        await client.create_schedule(sid, wanted, memo=memo)
    except ScheduleAlreadyRunningError:

        def keep_pause(current: ScheduleUpdateInput) -> ScheduleUpdate:
            state = current.description.schedule.state
            kept = dataclasses.replace(wanted.state, paused=state.paused, note=state.note)
            return ScheduleUpdate(schedule=dataclasses.replace(wanted, state=kept))

        await client.get_schedule_handle(sid).update(keep_pause)
    return sid


async def delete_schedule(client: Client, name: str) -> bool:
    """Deletes a workflow's Temporal Schedule (its runs, running or ended, stay).

    Args:
        client: A connected client.
        name: The workflow's name.

    Returns:
        Whether there was one.

    Raises:
        temporalio.service.RPCError: The server failed otherwise.
    """
    try:
        await client.get_schedule_handle(schedule_id(name)).delete()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def pause_schedule(client: Client, name: str, note: str = "Paused by the person") -> None:
    """Pauses a workflow's schedule: no run starts until :func:`unpause_schedule`.

    Raises:
        temporalio.service.RPCError: There is no such schedule (``NOT_FOUND``), or the
            server failed.
    """
    await client.get_schedule_handle(schedule_id(name)).pause(note=note)


async def unpause_schedule(client: Client, name: str, note: str = "Resumed by the person") -> None:
    """Lets a paused schedule run again (due times missed meanwhile do not run).

    Raises:
        temporalio.service.RPCError: There is no such schedule, or the server failed.
    """
    await client.get_schedule_handle(schedule_id(name)).unpause(note=note)


async def next_times(client: Client, name: str) -> list[dt.datetime]:
    """The next due times the server computed for a workflow's schedule (UTC, up to 10).

    Raises:
        temporalio.service.RPCError: There is no such schedule, or the server failed.
    """
    described = await client.get_schedule_handle(schedule_id(name)).describe()
    return [timing.as_utc(t) for t in described.info.next_action_times]


async def list_runs(client: Client, name: str, *, limit: int = 100) -> list[ScheduledRun]:
    """The runs a workflow's schedule started, newest first (Temporal's visibility: a run
    appears there within a moment of starting).

    Args:
        client: A connected client.
        name: The workflow's name.
        limit: The most runs to return.

    Raises:
        temporalio.service.RPCError: The server failed.
    """
    query = f"{SCHEDULED_BY.name} = '{schedule_id(name)}'"
    runs: list[ScheduledRun] = []
    async for execution in client.list_workflows(query, limit=limit):
        due = execution.typed_search_attributes.get(SCHEDULED_AT)
        runs.append(
            ScheduledRun(
                workflow_id=execution.id,
                run_id=execution.run_id,
                due_at=timing.as_utc(due) if due is not None else None,
                started_at=timing.as_utc(execution.start_time),
                status=execution.status.name if execution.status is not None else "UNKNOWN",
            )
        )
    return runs


__all__ = [
    "DST_YEARS",
    "MAX_CATCHUP",
    "SCHEDULE_PREFIX",
    "RuleRow",
    "ScheduledRun",
    "catchup_window",
    "delete_schedule",
    "list_runs",
    "next_times",
    "pause_schedule",
    "put_schedule",
    "schedule_id",
    "schedule_spec",
    "scheduled_mission",
    "unpause_schedule",
]
