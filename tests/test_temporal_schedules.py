"""Workflows' schedules as Temporal Schedules (issue 19).

The translation of each schedule kind is checked as data; the times the dev server computes
from it (``describe``'s next action times, and its list of matching times over a range) are
checked against the embedded engine's own (:func:`app.workflows.schedule.next_fire`),
daylight saving nights included; and a schedule due every few seconds, whose worker is killed
(SIGKILL) and started again while due times pass, starts one run per due time, each of which
completes once and writes once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
import os
import signal
import time
import uuid
from typing import TYPE_CHECKING, Any

import openpyxl
import pytest
from _temporal import eventually, executions
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.history.v1 import History
from temporalio.api.workflowservice.v1 import ListScheduleMatchingTimesRequest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
)
from test_temporal_worker_kill import WorkerProcess

from app.api.spec import RuleSpec
from app.api.workflows import Schedule as Plan
from app.api.workflows import WorkflowParam, WorkflowSpec
from app.errors import EngineError
from app.settings import Settings
from app.temporal._shapes import WORKFLOW_NAME, MissionInput, MissionResult, RuleData
from app.temporal.client import mission_input
from app.temporal.schedules import (
    MAX_CATCHUP,
    catchup_window,
    delete_schedule,
    list_runs,
    next_times,
    pause_schedule,
    put_schedule,
    schedule_id,
    schedule_spec,
    scheduled_mission,
)
from app.testing.scripted_model import text, tool_call
from app.workflows.schedule import GRACE, next_fire

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from _temporal import DevServer

    from app.testing.scripted_model import ScriptedModel

UTC = dt.UTC
NOW = dt.datetime(2026, 12, 1, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


def ours(plan: Plan, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The embedded engine's due times in ``(start, end]``."""
    found: list[dt.datetime] = []
    when = next_fire(plan, start)
    while when is not None and when <= end:
        found.append(when)
        when = next_fire(plan, when)
    return found


# The translation, as data -------------------------------------------------------------------


def test_each_kind_becomes_calendars_in_the_persons_zone() -> None:
    paris = "Europe/Paris"
    hourly = schedule_spec(Plan(kind="hourly", at=":15", timezone=paris), now=NOW)
    assert hourly.time_zone_name == paris
    assert [(c.minute, c.hour, c.second) for c in hourly.calendars] == [
        ([ScheduleRange(15)], [ScheduleRange(0, 23)], [ScheduleRange(0)])
    ]
    daily = schedule_spec(Plan(kind="daily", at="09:00", timezone=paris), now=NOW)
    assert [(c.hour, c.minute, c.day_of_week) for c in daily.calendars] == [
        ([ScheduleRange(9)], [ScheduleRange(0)], (ScheduleRange(0, 6, 1),))
    ]
    weekdays = schedule_spec(Plan(kind="weekdays", at="08:30", timezone=paris), now=NOW)
    assert [c.day_of_week for c in weekdays.calendars] == [[ScheduleRange(1, 5)]]
    weekly = schedule_spec(
        Plan(kind="weekly", at="08:30", days=["sun", "mon", "thu"], timezone=paris), now=NOW
    )
    assert [c.day_of_week for c in weekly.calendars] == [[ScheduleRange(0, 1), ScheduleRange(4)]]
    monthly = schedule_spec(Plan(kind="monthly", at="07:00", day=5, timezone=paris), now=NOW)
    assert [c.day_of_month for c in monthly.calendars] == [[ScheduleRange(5)]]


def test_a_monthly_day_some_months_lack_runs_on_their_last_day() -> None:
    spec = schedule_spec(Plan(kind="monthly", at="07:00", day=31, timezone="UTC"), now=NOW)

    def numbers(ranges: Any) -> set[int]:
        return {n for r in ranges for n in range(r.start, r.end + 1, r.step)}

    by_day = [(numbers(c.day_of_month), numbers(c.month), numbers(c.year)) for c in spec.calendars]
    not_leap = {y for y in range(2001, 2101) if y % 4 or y == 2100}
    assert by_day == [
        ({31}, {1, 3, 5, 7, 8, 10, 12}, set()),
        ({29}, {2}, set()),  # February 29 exists in leap years only
        ({28}, {2}, not_leap),
        ({30}, {4, 6, 9, 11}, set()),
    ]


def test_a_one_time_schedule_is_its_instant_in_utc() -> None:
    spec = schedule_spec(Plan(kind="once", at="2027-03-28T02:30", timezone="Europe/Paris"), now=NOW)
    assert spec.time_zone_name == "UTC"
    (calendar,) = spec.calendars
    # 02:30 does not exist that night in Paris: the embedded engine runs it at 03:30 (01:30 UTC).
    assert (calendar.year, calendar.month, calendar.day_of_month, calendar.hour, calendar.minute) == (
        [ScheduleRange(2027)],
        [ScheduleRange(3)],
        [ScheduleRange(28)],
        [ScheduleRange(1)],
        [ScheduleRange(30)],
    )


def test_cron_is_read_as_cron_reads_it() -> None:
    spec = schedule_spec(Plan(kind="cron", cron="*/15 8-17 * * mon-fri", timezone="UTC"), now=NOW)
    (calendar,) = spec.calendars
    assert calendar.minute == [ScheduleRange(0, 45, 15)]
    assert calendar.hour == [ScheduleRange(8, 17)]
    assert calendar.day_of_week == [ScheduleRange(1, 5)]
    # A day of the month and a weekday both given: either runs (two calendars).
    either = schedule_spec(Plan(kind="cron", cron="0 9 1 * 1", timezone="UTC"), now=NOW)
    assert [(c.day_of_month, c.day_of_week) for c in either.calendars] == [
        ([ScheduleRange(1)], (ScheduleRange(0, 6, 1),)),
        ((ScheduleRange(1, 31, 1),), [ScheduleRange(1)]),
    ]
    sundays = schedule_spec(Plan(kind="cron", cron="0 9 * jan,jul 7", timezone="UTC"), now=NOW)
    assert [(c.month, c.day_of_week) for c in sundays.calendars] == [
        ([ScheduleRange(1), ScheduleRange(7)], [ScheduleRange(0)])
    ]


def test_a_cron_expression_temporal_cannot_say_is_refused_in_words() -> None:
    with pytest.raises(EngineError, match="cannot run on Temporal"):
        schedule_spec(Plan(kind="cron", cron="0 9 last * *", timezone="UTC"), now=NOW)
    with pytest.raises(EngineError, match="is not a time zone"):
        schedule_spec(Plan(kind="daily", at="09:00", timezone="Mars/Olympus"), now=NOW)


def test_a_night_the_clocks_go_forward_gets_its_shifted_run() -> None:
    spec = schedule_spec(Plan(kind="daily", at="02:30", timezone="Europe/Paris"), now=NOW)
    shifted = [c for c in spec.calendars if c.year]
    assert len(shifted) == 10  # one per year for ten years
    first = shifted[0]
    assert (first.year, first.month, first.day_of_month, first.hour, first.minute) == (
        [ScheduleRange(2027)],
        [ScheduleRange(3)],
        [ScheduleRange(28)],
        [ScheduleRange(3)],
        [ScheduleRange(30)],
    )
    # 09:00 is never in the gap: nothing added.
    assert len(schedule_spec(Plan(kind="daily", at="09:00", timezone="Europe/Paris"), now=NOW).calendars) == 1
    # Every hour runs at 03:30 anyway.
    assert len(schedule_spec(Plan(kind="hourly", at=":30", timezone="Europe/Paris"), now=NOW).calendars) == 1


def test_a_scheduled_runs_input_is_the_workflows_mission_with_its_own_rules() -> None:
    workflow = WorkflowSpec(
        name="Chase invoices",
        instruction="Chase the invoices of {month}",
        params=[WorkflowParam(name="month", default="2026-11")],
        workspaces=["/srv/finance"],
        approval="all",
        rules=[RuleSpec(kind="reject_all", tool="email_send", where={"to": "*@rival.example"})],
        token_budget=50_000,
        schedule=Plan(kind="daily", at="09:00"),
    )
    everywhere = RuleData(id="r-1", kind="approve_all", description="Always allow writes", tool="sheet_write")
    mission = scheduled_mission(workflow, Settings(), rules=[everywhere], memories=["Invoices live in /srv"])
    sid = schedule_id("Chase invoices")
    assert (mission.mission_id, mission.text) == (sid, "Chase the invoices of 2026-11")
    assert (mission.workspaces, mission.token_budget, mission.memories) == (
        ["/srv/finance"],
        50_000,
        ["Invoices live in /srv"],
    )
    assert [(r.kind, r.tool, r.conditions_json, r.mission_id) for r in mission.rules] == [
        ("approve_all", None, "{}", sid),  # the workflow's approval policy, for its runs alone
        ("reject_all", "email_send", '{"to": "*@rival.example"}', sid),
        ("approve_all", "sheet_write", "{}", None),
    ]
    assert mission.rules[0].description == "Approve every action in this mission"
    without_default = workflow.model_copy(update={"params": [WorkflowParam(name="month")]})
    with pytest.raises(EngineError, match="needs a value for month"):
        scheduled_mission(without_default, Settings())


def test_schedule_ids_derive_from_the_name_and_tell_similar_names_apart() -> None:
    sid = schedule_id("Chase  late Invoices")
    assert sid.startswith("ensemble-workflow-chase-late-invoices-")
    assert schedule_id("chase late invoices") == sid  # the journal's names ignore case and spaces
    assert schedule_id("Q3: report") != schedule_id("Q3 report")
    assert schedule_id("Relevé de la 3ᵉ semaine").startswith("ensemble-workflow-relev-de-la-3-semaine-")


def test_the_catch_up_window_lets_at_most_one_missed_time_run() -> None:
    paris = "Europe/Paris"
    assert catchup_window(Plan(kind="daily", at="09:00", timezone=paris, catch_up="skip"), now=NOW) == GRACE
    # A day is 23 hours on the night the clocks go forward.
    assert catchup_window(Plan(kind="daily", at="09:00", timezone=paris), now=NOW) == dt.timedelta(hours=23)
    assert catchup_window(Plan(kind="hourly", at=":00", timezone="UTC"), now=NOW) == dt.timedelta(hours=1)
    weekly = Plan(kind="weekly", at="09:00", days=["mon", "thu"], timezone="UTC")
    assert catchup_window(weekly, now=NOW) == dt.timedelta(days=3)
    assert catchup_window(Plan(kind="once", at="2027-01-01T09:00"), now=NOW) == MAX_CATCHUP


# The server's times against the embedded engine's --------------------------------------------


async def _paused(client: Client, spec: ScheduleSpec) -> str:
    """A paused schedule (its action never runs) with ``spec``; its id."""
    sid = f"times-{uuid.uuid4().hex[:10]}"
    action = ScheduleActionStartWorkflow(
        WORKFLOW_NAME, MissionInput(sid, "never runs", [], "scripted"), id=sid, task_queue="nowhere"
    )
    await client.create_schedule(sid, Schedule(action=action, spec=spec, state=ScheduleState(paused=True)))
    return sid


async def _matching(client: Client, sid: str, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    low, high = Timestamp(), Timestamp()
    low.FromDatetime(start)
    high.FromDatetime(end)
    found = await client.workflow_service.list_schedule_matching_times(
        ListScheduleMatchingTimesRequest(namespace="default", schedule_id=sid, start_time=low, end_time=high)
    )
    return [t.ToDatetime(UTC) for t in found.start_time if start < t.ToDatetime(UTC) <= end]


CASES = [
    # (schedule, from, to): the DST nights of 2027 in Paris are March 28 and October 31.
    (Plan(kind="daily", at="09:00", timezone="Europe/Paris"), utc(2027, 3, 25), utc(2027, 4, 2)),
    (Plan(kind="daily", at="02:30", timezone="Europe/Paris"), utc(2027, 3, 25), utc(2027, 4, 2)),
    (Plan(kind="hourly", at=":30", timezone="Europe/Paris"), utc(2027, 3, 27, 20), utc(2027, 3, 28, 6)),
    (Plan(kind="weekdays", at="08:00", timezone="America/New_York"), utc(2027, 3, 10), utc(2027, 3, 20)),
    (
        Plan(kind="weekly", at="17:45", days=["tue", "sat"], timezone="Asia/Tokyo"),
        utc(2027, 1, 1),
        utc(2027, 3, 1),
    ),
    (Plan(kind="monthly", at="07:00", day=31, timezone="Europe/Paris"), utc(2027, 1, 1), utc(2029, 1, 1)),
    (Plan(kind="monthly", at="07:00", day=29, timezone="UTC"), utc(2027, 1, 1), utc(2029, 1, 1)),
    (Plan(kind="cron", cron="0 9 1 * 1", timezone="UTC"), utc(2027, 1, 1), utc(2027, 6, 1)),
    (
        Plan(kind="cron", cron="*/20 8-9 * * sat-sun", timezone="Europe/London"),
        utc(2027, 3, 26),
        utc(2027, 3, 29),
    ),
    (Plan(kind="once", at="2027-03-28T02:30", timezone="Europe/Paris"), utc(2027, 1, 1), utc(2028, 1, 1)),
    (Plan(kind="once", at="2027-10-31T02:30", timezone="Europe/Paris"), utc(2027, 1, 1), utc(2028, 1, 1)),
]


@pytest.mark.slow
async def test_the_servers_times_are_the_embedded_engines(temporal_server: DevServer) -> None:
    client = await Client.connect(temporal_server.target)
    for plan, start, end in CASES:
        spec = schedule_spec(plan, now=NOW)
        expected = ours(plan, start, end)
        assert expected, plan
        sid = await _paused(client, dataclasses.replace(spec, start_at=start + dt.timedelta(seconds=1)))
        try:
            described = await client.get_schedule_handle(sid).describe()
            listed = await _matching(client, sid, start, end)
        finally:
            await client.get_schedule_handle(sid).delete()
        assert listed == expected, plan.describe()
        upcoming = [t.astimezone(UTC) for t in described.info.next_action_times]
        assert upcoming, plan.describe()
        assert upcoming == ours(plan, start, upcoming[-1]), plan.describe()


@pytest.mark.slow
async def test_a_repeated_hour_is_where_temporal_differs(temporal_server: DevServer) -> None:
    """The night the clocks go back (Paris, 2027-10-31, 02:00 to 03:00 twice): the embedded
    engine runs 02:30 at its first occurrence (00:30 UTC), and every-hour schedules in both;
    Temporal runs a daily 02:30 at the second one (01:30 UTC), and an hourly :30 only once; in
    New York (2027-11-07) it runs a daily 01:30 twice."""
    client = await Client.connect(temporal_server.target)
    start, end = utc(2027, 10, 30, 22), utc(2027, 10, 31, 4)
    found: dict[str, tuple[list[dt.datetime], list[dt.datetime]]] = {}
    for plan in (
        Plan(kind="daily", at="02:30", timezone="Europe/Paris"),
        Plan(kind="hourly", at=":30", timezone="Europe/Paris"),
    ):
        sid = await _paused(client, schedule_spec(plan, now=NOW))
        try:
            found[plan.kind] = (ours(plan, start, end), await _matching(client, sid, start, end))
        finally:
            await client.get_schedule_handle(sid).delete()
    assert found["daily"] == ([utc(2027, 10, 31, 0, 30)], [utc(2027, 10, 31, 1, 30)])
    # New York, 2027-11-07, 01:00 to 02:00 twice: Temporal runs a daily 01:30 in both.
    new_york = Plan(kind="daily", at="01:30", timezone="America/New_York")
    sid = await _paused(client, schedule_spec(new_york, now=NOW))
    try:
        twice = await _matching(client, sid, utc(2027, 11, 7), utc(2027, 11, 7, 12))
    finally:
        await client.get_schedule_handle(sid).delete()
    assert ours(new_york, utc(2027, 11, 7), utc(2027, 11, 7, 12)) == [utc(2027, 11, 7, 5, 30)]
    assert twice == [utc(2027, 11, 7, 5, 30), utc(2027, 11, 7, 6, 30)]
    hourly_ours, hourly_temporal = found["hourly"]
    assert set(hourly_ours) - set(hourly_temporal) == {utc(2027, 10, 31, 1, 30)}
    assert set(hourly_temporal) <= set(hourly_ours)


# The schedule on the server ---------------------------------------------------------------------


@pytest.mark.slow
async def test_putting_a_schedule_twice_updates_it_and_keeps_it_paused(temporal_server: DevServer) -> None:
    client = await Client.connect(temporal_server.target)
    name = f"Chase invoices {uuid.uuid4().hex[:6]}"
    daily = Plan(kind="daily", at="09:00", timezone="Europe/Paris")
    workflow = WorkflowSpec(name=name, instruction="Chase the late invoices", schedule=daily)
    rule = RuleData(id="r1", kind="approve_all", description="Always allow", mission_id="m-template")
    mission = mission_input("m-template", "Chase the late invoices", ["/srv"], Settings(), rules=[rule])
    sid = await put_schedule(client, workflow, mission, task_queue="q-none")
    assert sid == schedule_id(name)
    assert await put_schedule(client, workflow, mission, task_queue="q-none") == sid  # idempotent
    handle = client.get_schedule_handle(sid)
    described = await handle.describe()
    assert described.schedule.policy.overlap == ScheduleOverlapPolicy.ALLOW_ALL
    assert described.schedule.policy.catchup_window == dt.timedelta(hours=23)
    assert described.schedule.spec.time_zone_name == "Europe/Paris"
    assert await described.memo_value("ensemble_workflow") == name
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.id, action.task_queue) == (WORKFLOW_NAME, sid, "q-none")
    (payload,) = action.args
    template = await client.data_converter.decode([payload], [MissionInput])
    assert template[0].mission_id == sid
    assert template[0].rules[0].mission_id == sid  # the mission's own rules follow it
    times = await next_times(client, name)
    assert times == ours(daily, times[0] - dt.timedelta(seconds=1), times[-1])

    await pause_schedule(client, name)
    weekly = Plan(kind="weekly", at="10:00", days=["mon"], timezone="Europe/Paris", catch_up="skip")
    await put_schedule(client, workflow.model_copy(update={"schedule": weekly}), mission, task_queue="q-none")
    described = await handle.describe()
    assert described.schedule.state.paused
    assert described.schedule.policy.catchup_window == GRACE
    assert [list(c.day_of_week) for c in described.schedule.spec.calendars] == [[ScheduleRange(1)]]

    assert await delete_schedule(client, name)
    assert not await delete_schedule(client, name)
    with pytest.raises(EngineError, match="has no schedule"):
        await put_schedule(client, workflow.model_copy(update={"schedule": None}), mission)


@pytest.mark.slow
async def test_a_one_time_schedule_runs_once_even_when_put_again(temporal_server: DevServer) -> None:
    client = await Client.connect(temporal_server.target)
    name = f"Once {uuid.uuid4().hex[:6]}"
    at = (dt.datetime.now(UTC) + dt.timedelta(seconds=3)).replace(microsecond=0, tzinfo=None)
    workflow = WorkflowSpec(
        name=name, instruction="Say hello", schedule=Plan(kind="once", at=at.isoformat(), timezone="UTC")
    )
    mission = mission_input("m-once", "Say hello", [], Settings())
    queue = f"q-none-{uuid.uuid4().hex[:6]}"  # no worker: the run starts and waits
    sid = await put_schedule(client, workflow, mission, task_queue=queue)
    (run,) = await eventually(lambda: list_runs(client, name), "the one run", seconds=30)
    assert run.due_at == at.replace(tzinfo=UTC)
    assert run.workflow_id == f"{sid}-{at:%Y-%m-%dT%H:%M:%S}Z"
    await put_schedule(client, workflow, mission, task_queue=queue)  # e.g. the settings changed
    described = await client.get_schedule_handle(sid).describe()
    assert described.info.next_action_times == []
    assert described.info.num_actions == 1
    assert len(await list_runs(client, name)) == 1
    await client.get_workflow_handle(run.workflow_id).terminate("test over")
    await delete_schedule(client, name)


# Fires once per due time across worker restarts ---------------------------------------------------

INTERVAL = 3
"""Seconds between due times."""

APPEND_MISSION = "Log this scheduled run"


def _append_script(model: ScriptedModel) -> None:
    """The lead hands one task to the spreadsheet agent, which adds one row and reports."""
    model.add(
        APPEND_MISSION,
        tool_call("delegate", {"tasks": [{"id": "log", "agent": "spreadsheet", "instructions": "LOG-TASK"}]}),
        text("Logged."),
    )
    model.add(
        "LOG-TASK",
        tool_call(
            "sheet_append_rows",
            {"path": "invoices.xlsx", "sheet": "Invoices", "rows": [["RUN", "scheduled", None, 1, "logged"]]},
        ),
        text("Added the row."),
    )


def _logged_rows(book: Path) -> int:
    sheet = openpyxl.load_workbook(book)["Invoices"]
    return sum(1 for row in sheet.iter_rows(values_only=True) if row[0] == "RUN")


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_a_schedule_fires_once_per_due_time_across_worker_restarts(
    temporal_server: DevServer,
    scripted: ScriptedModel,
    workspace: Path,
    ensemble_home: Path,
    workers: list[WorkerProcess],
) -> None:
    _append_script(scripted)
    began = time.monotonic()
    queue = f"q-{uuid.uuid4().hex}"
    env: dict[str, Any] = {
        **os.environ,
        "ENSEMBLE_HOME": str(ensemble_home),
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "ANTHROPIC_BASE_URL": scripted.base_url,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
    }
    first = WorkerProcess(temporal_server.target, queue, env)
    workers.append(first)
    await asyncio.to_thread(first.wait_ready)
    client = await Client.connect(temporal_server.target)

    name = f"Log runs {uuid.uuid4().hex[:6]}"
    rule = RuleData(
        id="r-log", kind="approve_all", description="Always allow adding rows", tool="sheet_append_rows"
    )
    mission = mission_input(
        "m-log", APPEND_MISSION, [str(workspace)], Settings(), rules=[rule], heartbeat_seconds=5.0
    )
    every = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=dt.timedelta(seconds=INTERVAL))])
    created = dt.datetime.now(UTC)
    sid = await put_schedule(
        client, WorkflowSpec(name=name, instruction=APPEND_MISSION), mission, task_queue=queue, spec=every
    )
    handle = client.get_schedule_handle(sid)

    async def runs(status: str | None = None) -> list[Any]:
        found = await list_runs(client, name)
        return [r for r in found if status is None or r.status == status]

    async def at_least(count: int, status: str | None = None) -> bool:
        return len(await runs(status)) >= count

    await eventually(lambda: at_least(2, "COMPLETED"), "two runs completed with the first worker")

    # Kill the worker between two runs (none running, the next due time over a second away),
    # so that no activity of a run dies with it: the other kill test covers that case.
    async def idle() -> bool:
        info = (await handle.describe()).info
        upcoming = info.next_action_times[0].astimezone(UTC) if info.next_action_times else None
        soon = upcoming is None or upcoming - dt.datetime.now(UTC) < dt.timedelta(seconds=1.2)
        return not info.running_actions and not soon

    await eventually(idle, "a moment between two runs", seconds=30)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    killed_at = dt.datetime.now(UTC)
    before = len(await runs())

    # Due times pass with no worker: their runs start on the server and wait.
    await eventually(lambda: at_least(before + 2), "two runs started while no worker was up", seconds=20)
    waiting = [r for r in await runs() if r.started_at > killed_at]
    assert waiting
    assert all(r.status == "RUNNING" for r in waiting), waiting

    second = WorkerProcess(temporal_server.target, queue, env)
    workers.append(second)
    await asyncio.to_thread(second.wait_ready)
    restarted = len(await runs())
    await eventually(lambda: at_least(restarted + 2), "two more due times with the second worker", seconds=20)
    await pause_schedule(client, name, "The test is over")
    paused_at = dt.datetime.now(UTC)

    async def all_done() -> list[Any] | None:
        found = await runs()
        return found if found and all(r.status != "RUNNING" for r in found) else None

    await eventually(all_done, "every run finished", seconds=60)
    # The list may lag a run that started just before the pause: read it until it has them all.
    described = await handle.describe()
    finished = await eventually(
        lambda: _exactly(runs, described.info.num_actions), "the list has every run", seconds=10
    )

    assert all(r.due_at is not None for r in finished), finished
    due = sorted(r.due_at for r in finished)
    # One run per due time: no due time twice, and none missing between the first and the last.
    assert len(set(due)) == len(due) == len(finished)
    assert all(b - a == dt.timedelta(seconds=INTERVAL) for a, b in itertools.pairwise(due)), due
    assert due[0] - created <= dt.timedelta(seconds=INTERVAL + 2)
    assert paused_at - due[-1] <= dt.timedelta(seconds=INTERVAL + 2)
    assert all(r.workflow_id.startswith(f"{sid}-") for r in finished)
    assert len({r.workflow_id for r in finished}) == len(finished)
    assert described.info.num_actions == len(finished)
    assert described.info.num_actions_missed_catchup_window == 0
    assert described.info.num_actions_skipped_overlap == 0

    # Every run completed once, wrote once; the runs due while no worker ran were finished by
    # the second worker.
    for run in finished:
        assert run.status == "COMPLETED", run
        run_handle = client.get_workflow_handle(run.workflow_id, result_type=MissionResult)
        outcome = await run_handle.result()
        assert (outcome.status, outcome.result) == ("done", "Logged."), run
        history = await run_handle.fetch_history()
        assert executions(History(events=history.events)) == [1], run
    book = workspace / "invoices.xlsx"
    assert _logged_rows(book) == len(finished)
    copies = [p for p in (ensemble_home / "backups").rglob("*") if p.is_file()]
    assert len(copies) == len(finished)
    for run in waiting:
        history = await client.get_workflow_handle(run.workflow_id).fetch_history()
        identities = {
            e.workflow_task_started_event_attributes.identity
            for e in history.events
            if e.HasField("workflow_task_started_event_attributes")
        }
        assert identities
        assert all(i.startswith(f"{second.process.pid}@") for i in identities), identities
    assert len(finished) >= 6
    print(f"{len(finished)} runs, one per due time, in {time.monotonic() - began:.1f} s")  # noqa: T201
    await handle.delete()


async def _exactly(runs: Any, count: int) -> list[Any] | None:
    found: list[Any] = await runs()
    return found if len(found) == count and all(r.status != "RUNNING" for r in found) else None
