"""Schedules: due times (APScheduler's triggers, DST-correct), missed runs, one owner per home,
and the loop that starts the runs. Time is a ManualClock: nothing here sleeps."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from app.api.workflows import Schedule, SchedulesOwnedElsewhere, WorkflowParam, WorkflowSpec
from app.engine import Engine
from app.errors import EngineError
from app.journal import Journal
from app.paths import Paths
from app.settings import Settings
from app.testing.scripted_model import ScriptedModel, text
from app.workflows.clock import ManualClock, SystemClock
from app.workflows.owner import ScheduleOwner, read_note
from app.workflows.schedule import GRACE, due, fires_at, next_fire
from app.workflows.service import Schedules
from app.workflows.store import WorkflowStore

if TYPE_CHECKING:
    from collections.abc import Iterator

    from app.api.events import AnyEvent
    from app.api.workflows import RunReason

UTC = dt.UTC
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
ROOT = Path(__file__).resolve().parent.parent


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def fires(schedule: Schedule, start: dt.datetime, count: int) -> list[dt.datetime]:
    """The schedule's next ``count`` due times after ``start``."""
    times: list[dt.datetime] = []
    when = start
    for _ in range(count):
        following = next_fire(schedule, when)
        assert following is not None
        assert following > when
        assert following.tzinfo is not None
        assert following.utcoffset() == dt.timedelta(0)
        times.append(following)
        when = following
    return times


def local(times: list[dt.datetime], zone: ZoneInfo) -> list[str]:
    return [f"{t.astimezone(zone):%m-%d %H:%M%z}" for t in times]


# Due times -----------------------------------------------------------------------------------


def test_daily_across_the_spring_change_runs_once_that_night() -> None:
    """02:30 does not exist in Paris on 29 March 2026: it runs once, at 03:30 (as far after
    the change), and at 02:30 again the day after."""
    daily = Schedule(kind="daily", at="02:30", timezone="Europe/Paris")
    times = fires(daily, utc(2026, 3, 27, 12), 4)
    assert local(times, PARIS) == [
        "03-28 02:30+0100",
        "03-29 03:30+0200",
        "03-30 02:30+0200",
        "03-31 02:30+0200",
    ]


def test_daily_across_the_autumn_change_runs_once_not_twice() -> None:
    """02:30 happens twice in Paris on 25 October 2026 (and 01:30 in New York on 1 November):
    a daily schedule runs at the first one only."""
    paris = fires(Schedule(kind="daily", at="02:30", timezone="Europe/Paris"), utc(2026, 10, 23, 12), 4)
    assert local(paris, PARIS) == [
        "10-24 02:30+0200",
        "10-25 02:30+0200",
        "10-26 02:30+0100",
        "10-27 02:30+0100",
    ]
    assert paris[2] - paris[1] == dt.timedelta(hours=25)

    york = fires(Schedule(kind="daily", at="01:30", timezone="America/New_York"), utc(2026, 10, 30, 12), 4)
    assert local(york, NEW_YORK) == [
        "10-31 01:30-0400",
        "11-01 01:30-0400",
        "11-02 01:30-0500",
        "11-03 01:30-0500",
    ]

    early = fires(Schedule(kind="daily", at="01:30", timezone="Europe/Paris"), utc(2026, 10, 23, 12), 4)
    assert [t.astimezone(PARIS).strftime("%H:%M") for t in early] == ["01:30"] * 4
    assert len({t.astimezone(PARIS).date() for t in early}) == 4


def test_nine_stays_nine_local_across_both_changes() -> None:
    daily = Schedule(kind="daily", at="09:00", timezone="Europe/Paris")
    spring = fires(daily, utc(2026, 3, 26, 12), 6)
    autumn = fires(daily, utc(2026, 10, 22, 12), 6)
    for times in (spring, autumn):
        assert {t.astimezone(PARIS).strftime("%H:%M") for t in times} == {"09:00"}
        assert len({t.astimezone(PARIS).date() for t in times}) == 6
    assert [t.hour for t in spring] == [8, 8, 7, 7, 7, 7]  # from the 29th, UTC moves; local does not
    assert [t.hour for t in autumn] == [7, 7, 8, 8, 8, 8]


def test_hourly_runs_every_real_hour_through_both_changes() -> None:
    hourly = Schedule(kind="hourly", at=":30", timezone="Europe/Paris")
    autumn = fires(hourly, utc(2026, 10, 24, 22, 15), 5)
    # Both 02:30s of the repeated hour, an hour apart each time (APScheduler alone stalls here).
    assert local(autumn, PARIS) == [
        "10-25 00:30+0200",
        "10-25 01:30+0200",
        "10-25 02:30+0200",
        "10-25 02:30+0100",
        "10-25 03:30+0100",
    ]
    assert {b - a for a, b in itertools.pairwise(autumn)} == {dt.timedelta(hours=1)}
    spring = fires(hourly, utc(2026, 3, 28, 23, 15), 5)
    assert {b - a for a, b in itertools.pairwise(spring)} == {dt.timedelta(hours=1)}
    assert [t.minute for t in spring] == [30] * 5

    quarter = fires(Schedule(kind="hourly", at="10:15", timezone="UTC"), utc(2026, 1, 1, 9, 20), 2)
    assert quarter == [utc(2026, 1, 1, 10, 15), utc(2026, 1, 1, 11, 15)]


def test_monthly_on_a_missing_day_runs_on_the_last_day() -> None:
    on_31 = fires(Schedule(kind="monthly", day=31, at="09:00", timezone="UTC"), utc(2026, 1, 1), 6)
    assert [t.date().isoformat() for t in on_31] == [
        "2026-01-31",
        "2026-02-28",
        "2026-03-31",
        "2026-04-30",
        "2026-05-31",
        "2026-06-30",
    ]
    on_30 = fires(Schedule(kind="monthly", day=30, at="09:00", timezone="UTC"), utc(2028, 1, 1), 3)
    assert [t.date().isoformat() for t in on_30] == [
        "2028-01-30",
        "2028-02-29",
        "2028-03-30",
    ]  # never the 31st
    on_5 = fires(Schedule(kind="monthly", day=5, at="18:45", timezone="Europe/Paris"), utc(2026, 1, 10), 2)
    assert local(on_5, PARIS) == ["02-05 18:45+0100", "03-05 18:45+0100"]


def test_weekly_weekdays_once_and_cron() -> None:
    start = utc(2026, 1, 1)  # a Thursday
    weekly = Schedule(kind="weekly", days=["mon", "thu"], at="09:00", timezone="UTC")
    assert [t.strftime("%a %d") for t in fires(weekly, start, 3)] == ["Thu 01", "Mon 05", "Thu 08"]
    weekdays = Schedule(kind="weekdays", at="07:00", timezone="UTC")
    assert [t.strftime("%a") for t in fires(weekdays, utc(2026, 1, 2, 8), 3)] == ["Mon", "Tue", "Wed"]

    once = Schedule(kind="once", at="2026-12-24T09:00", timezone="Europe/Paris")
    assert next_fire(once, utc(2026, 1, 1)) == utc(2026, 12, 24, 8)
    assert next_fire(once, utc(2026, 12, 24, 8)) is None

    # cron's weekday 0 is Sunday (APScheduler's own numbers would make it Monday) …
    weekend = Schedule(kind="cron", cron="0 9 * * 0,6", timezone="UTC")
    assert [t.strftime("%a") for t in fires(weekend, start, 3)] == ["Sat", "Sun", "Sat"]
    # … and a day of the month with a weekday means either.
    either = Schedule(kind="cron", cron="0 9 13 * 5", timezone="UTC")
    assert [t.strftime("%a %d") for t in fires(either, start, 4)] == ["Fri 02", "Fri 09", "Tue 13", "Fri 16"]
    often = Schedule(kind="cron", cron="*/20 * * * *", timezone="UTC")
    assert fires(often, utc(2026, 1, 1, 0, 5), 2) == [utc(2026, 1, 1, 0, 20), utc(2026, 1, 1, 0, 40)]

    with pytest.raises(EngineError, match="cannot be read"):
        next_fire(Schedule(kind="cron", cron="0 9 * * funday", timezone="UTC"), start)
    with pytest.raises(EngineError, match="not a time zone"):
        next_fire(Schedule(kind="daily", at="09:00", timezone="Mars/Olympus"), start)


def test_a_stored_time_that_no_longer_belongs_to_the_schedule_is_noticed() -> None:
    daily = Schedule(kind="daily", at="09:00", timezone="Europe/Paris")
    assert fires_at(daily, utc(2026, 1, 5, 8))
    assert not fires_at(daily, utc(2026, 1, 5, 9))
    assert not fires_at(daily.model_copy(update={"timezone": "UTC"}), utc(2026, 1, 5, 8))


# Missed runs ---------------------------------------------------------------------------------


def test_three_days_away_runs_once_or_not_at_all() -> None:
    daily = Schedule(kind="daily", at="09:00", timezone="UTC")
    was_due = utc(2026, 1, 1, 9)
    back = utc(2026, 1, 4, 10, 30)  # three due times missed

    once = due(daily, was_due, back)
    assert (once.fire, once.reason) == (True, "catch_up")
    assert once.due_at == utc(2026, 1, 4, 9)  # the last one missed
    assert once.next_run_at == utc(2026, 1, 5, 9)  # counted from now, not from the missed ones
    assert due(daily, once.next_run_at, back).fire is False  # never a second catch-up run

    skip = due(daily.model_copy(update={"catch_up": "skip"}), was_due, back)
    assert (skip.fire, skip.reason, skip.next_run_at) == (False, None, utc(2026, 1, 5, 9))

    on_time = due(daily, was_due, was_due + GRACE)
    assert (on_time.fire, on_time.reason, on_time.due_at) == (True, "schedule", was_due)
    late = due(daily, was_due, was_due + GRACE + dt.timedelta(seconds=1))
    assert late.reason == "catch_up"
    assert due(daily, was_due, was_due - dt.timedelta(seconds=1)).fire is False

    missed_once = due(Schedule(kind="once", at="2026-01-01T09:00", timezone="UTC"), was_due, back)
    assert (missed_once.fire, missed_once.reason, missed_once.next_run_at) == (True, "catch_up", None)


# One owner per home --------------------------------------------------------------------------

_HOLDER = textwrap.dedent(
    """
    import sys
    from app.paths import Paths
    from app.workflows.owner import ScheduleOwner
    owner = ScheduleOwner(Paths.default(), "service")
    owner.acquire()
    print("owned", flush=True)
    sys.stdin.read()
    """
)


@pytest.fixture
def holder(ensemble_home: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that owns the schedules of this home, as ``ensemble service`` would."""
    env = {**os.environ, "ENSEMBLE_HOME": str(ensemble_home), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    with process:  # closes the pipes
        assert process.stdout is not None
        if process.stdout.readline().strip() != "owned":
            process.kill()
            pytest.fail("The other process could not take the schedules.")
        yield process
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def test_a_second_process_is_refused_and_told_who_owns(holder: subprocess.Popen[str]) -> None:
    paths = Paths.default()
    note = read_note(paths)
    assert note is not None
    assert (note.pid, note.what) == (holder.pid, "service")

    with pytest.raises(SchedulesOwnedElsewhere) as refused:
        ScheduleOwner(paths, "window").acquire()
    message = str(refused.value)
    assert f"Ensemble's service (process {holder.pid}, since " in message
    assert "runs the schedules" in message
    assert isinstance(refused.value, EngineError)

    holder.send_signal(signal.SIGKILL)  # no clean-up at all: the system frees the lock
    holder.wait(timeout=30)
    mine = ScheduleOwner(paths, "window")
    mine.acquire()
    assert mine.owned
    note = read_note(paths)
    assert note is not None
    assert (note.pid, note.what) == (os.getpid(), "window")
    mine.release()
    assert read_note(paths) is None
    again = ScheduleOwner(paths, "service")
    again.acquire()  # released: anyone may take it
    again.release()


async def test_a_second_engine_in_the_same_process_is_refused(store: WorkflowStore) -> None:
    clock = ManualClock(utc(2026, 1, 1))
    first = Schedules(FakeEngine(), store, clock, owner="window", warm_up=False)
    await first.start()
    try:
        second = Schedules(FakeEngine(), store, clock, owner="service", warm_up=False)
        with pytest.raises(
            SchedulesOwnedElsewhere, match=rf"Ensemble's window \(process {os.getpid()}, since"
        ):
            await second.start()
        assert not second.running
    finally:
        await first.stop()
    assert not first.running
    third = Schedules(FakeEngine(), store, clock, owner="service", warm_up=False)
    await third.start()
    await third.stop()


# The loop ------------------------------------------------------------------------------------


class FakeEngine:
    """Stands for the engine: records each run it is asked to start, and what the store said
    the next time was at that moment (it must already be recorded)."""

    def __init__(self, store: WorkflowStore | None = None, failing: set[str] | None = None) -> None:
        self.store = store
        self.failing = failing or set()
        self.runs: list[tuple[str, RunReason, dt.datetime | None]] = []
        self.started = asyncio.Event()

    def run_workflow(
        self, name: str, params: dict[str, str] | None = None, *, reason: RunReason = "manual"
    ) -> str:
        recorded = None
        if self.store is not None:
            row = self.store.get(name)
            assert row is not None
            recorded = None if row.next_run_at is None else row.next_run_at.replace(tzinfo=UTC)
        self.runs.append((name, reason, recorded))
        self.started.set()
        if name in self.failing:
            raise EngineError(f"The workflow “{name}” needs a value for month.")
        return f"m_{len(self.runs)}"

    async def next_run(self) -> None:
        await asyncio.wait_for(self.started.wait(), timeout=10)
        self.started.clear()


@pytest.fixture
def store(ensemble_home: Path) -> Iterator[WorkflowStore]:
    journal = Journal(Paths.default().journal)
    yield WorkflowStore(journal)
    journal.close()


def scheduled(store: WorkflowStore, name: str, schedule: Schedule) -> str:
    return store.add(WorkflowSpec(name=name, instruction=f"Do {name}", schedule=schedule)).id


def next_of(store: WorkflowStore, name: str) -> dt.datetime | None:
    row = store.get(name)
    assert row is not None
    return row.next_run_at.replace(tzinfo=UTC) if row.next_run_at is not None else None


def fired_of(store: WorkflowStore, name: str) -> dt.datetime | None:
    row = store.get(name)
    assert row is not None
    return row.last_fired_at.replace(tzinfo=UTC) if row.last_fired_at is not None else None


async def idle(clock: ManualClock, after: int = 0) -> None:
    """Waits until the loop sleeps on the clock (it has looked at everything), in a sleep
    begun after the first ``after`` ones."""
    await asyncio.wait_for(clock.wait_for_sleepers(after=after), timeout=10)


async def test_the_loop_starts_a_due_run_and_records_the_next_time_first(store: WorkflowStore) -> None:
    clock = ManualClock(utc(2026, 1, 5, 8, 0))
    scheduled(store, "Morning report", Schedule(kind="daily", at="09:00", timezone="UTC"))
    engine = FakeEngine(store)
    schedules = Schedules(engine, store, clock, warm_up=False)
    await schedules.start()
    try:
        assert next_of(store, "Morning report") == utc(2026, 1, 5, 9)  # recorded on start
        await idle(clock)
        assert engine.runs == []

        clock.advance(dt.timedelta(minutes=59, seconds=59))  # the loop wakes at most every 30 s
        await idle(clock)
        assert engine.runs == []
        clock.advance(1)
        await engine.next_run()
        # The next time was in the journal before the run started.
        assert engine.runs == [("Morning report", "schedule", utc(2026, 1, 6, 9))]
        assert next_of(store, "Morning report") == utc(2026, 1, 6, 9)
        assert fired_of(store, "Morning report") == utc(2026, 1, 5, 9)
        assert schedules.next_runs() == {"Morning report": utc(2026, 1, 6, 9)}
        await idle(clock)
        assert len(engine.runs) == 1
    finally:
        await schedules.stop()


async def test_three_days_away_the_loop_runs_once_then_goes_on(store: WorkflowStore) -> None:
    clock = ManualClock(utc(2026, 1, 1, 8))
    scheduled(store, "Chase invoices", Schedule(kind="daily", at="09:00", timezone="UTC"))
    scheduled(store, "Tidy inbox", Schedule(kind="daily", at="09:00", timezone="UTC", catch_up="skip"))
    engine = FakeEngine(store)
    schedules = Schedules(engine, store, clock, warm_up=False)
    await schedules.start()
    try:
        await idle(clock)
        clock.set(utc(2026, 1, 4, 10, 30))  # the computer slept three days
        await engine.next_run()
        await idle(clock)
        assert [(name, reason) for name, reason, _ in engine.runs] == [("Chase invoices", "catch_up")]
        assert next_of(store, "Chase invoices") == utc(2026, 1, 5, 9)
        assert next_of(store, "Tidy inbox") == utc(2026, 1, 5, 9)
        assert fired_of(store, "Tidy inbox") is None

        clock.advance(dt.timedelta(hours=22, minutes=30))  # the next morning, on time
        await engine.next_run()
        await idle(clock)
        assert sorted((name, reason) for name, reason, _ in engine.runs[1:]) == [
            ("Chase invoices", "schedule"),
            ("Tidy inbox", "schedule"),
        ]
    finally:
        await schedules.stop()


async def test_missed_while_ensemble_was_closed_runs_once_on_start(store: WorkflowStore) -> None:
    """The due time is in the journal from the last session; Ensemble starts days later."""
    workflow = scheduled(
        store, "Weekly backup", Schedule(kind="weekly", days=["mon"], at="09:00", timezone="UTC")
    )
    store.set_next_run(workflow, utc(2026, 1, 5, 9))
    clock = ManualClock(utc(2026, 1, 21, 12))
    engine = FakeEngine(store)
    schedules = Schedules(engine, store, clock, warm_up=False)
    await schedules.start()
    try:
        await engine.next_run()
        await idle(clock)
        assert [(name, reason) for name, reason, _ in engine.runs] == [("Weekly backup", "catch_up")]
        assert next_of(store, "Weekly backup") == utc(2026, 1, 26, 9)
        assert fired_of(store, "Weekly backup") == utc(2026, 1, 19, 9)
    finally:
        await schedules.stop()


async def test_a_one_time_schedule_fires_once(store: WorkflowStore) -> None:
    clock = ManualClock(utc(2026, 12, 24, 7, 0))
    scheduled(store, "Christmas card", Schedule(kind="once", at="2026-12-24T09:00", timezone="Europe/Paris"))
    engine = FakeEngine(store)
    schedules = Schedules(engine, store, clock, warm_up=False)
    await schedules.start()
    try:
        assert next_of(store, "Christmas card") == utc(2026, 12, 24, 8)
        await idle(clock)
        clock.advance(dt.timedelta(hours=1))
        await engine.next_run()
        assert [(name, reason) for name, reason, _ in engine.runs] == [("Christmas card", "schedule")]
        assert next_of(store, "Christmas card") is None
        assert fired_of(store, "Christmas card") == utc(2026, 12, 24, 8)
        for _ in range(3):
            await idle(clock)
            clock.advance(dt.timedelta(days=1))
        await idle(clock)
        assert len(engine.runs) == 1
    finally:
        await schedules.stop()


async def test_changes_in_the_store_are_picked_up(store: WorkflowStore) -> None:
    clock = ManualClock(utc(2026, 1, 5, 8, 0))
    engine = FakeEngine(store)
    schedules = Schedules(engine, store, clock, warm_up=False)
    await schedules.start()
    try:
        await idle(clock)
        # Another process (the command line) adds a schedule: seen within 30 s, without wake().
        scheduled(store, "Hourly sync", Schedule(kind="hourly", at=":30", timezone="UTC"))
        assert next_of(store, "Hourly sync") is None
        clock.advance(30)
        await idle(clock)
        assert next_of(store, "Hourly sync") == utc(2026, 1, 5, 8, 30)

        # The schedule changes (here, with wake()): the new time replaces the old one.
        row = store.get("Hourly sync")
        assert row is not None
        spec = WorkflowSpec.model_validate_json(row.spec_json)
        new = Schedule(kind="daily", at="18:00", timezone="UTC")
        store.update(row, spec.model_copy(update={"schedule": new}))
        naps = clock.sleep_calls
        schedules.wake()
        await idle(clock, after=naps)
        assert next_of(store, "Hourly sync") == utc(2026, 1, 5, 18)
        assert schedules.next_runs() == {"Hourly sync": utc(2026, 1, 5, 18)}

        clock.advance(dt.timedelta(minutes=30))  # the old 08:30 does not fire any more
        await idle(clock)
        assert engine.runs == []

        row = store.get("Hourly sync")
        assert row is not None
        store.delete(row)
        naps = clock.sleep_calls
        schedules.wake()
        await idle(clock, after=naps)
        assert schedules.next_runs() == {}
        clock.advance(dt.timedelta(hours=10))
        await idle(clock)
        assert engine.runs == []
    finally:
        await schedules.stop()


async def test_a_run_that_cannot_start_does_not_stop_the_others(store: WorkflowStore) -> None:
    clock = ManualClock(utc(2026, 1, 5, 8, 0))
    scheduled(store, "Broken", Schedule(kind="daily", at="09:00", timezone="UTC"))
    scheduled(store, "Fine", Schedule(kind="daily", at="09:00", timezone="UTC"))
    engine = FakeEngine(store, failing={"Broken"})
    schedules = Schedules(engine, store, clock, warm_up=False)
    await schedules.start()
    try:
        await idle(clock)
        clock.advance(dt.timedelta(hours=1))
        await engine.next_run()
        await idle(clock)
        assert sorted(name for name, _, _ in engine.runs) == ["Broken", "Fine"]
        assert [(f.workflow, f.due_at, f.reason) for f in schedules.failures] == [
            ("Broken", utc(2026, 1, 5, 9), "schedule")
        ]
        assert "needs a value for month" in schedules.failures[0].error
        assert next_of(store, "Broken") == utc(2026, 1, 6, 9)  # it tries again tomorrow
        assert schedules.running
        clock.advance(dt.timedelta(days=1))
        await engine.next_run()
        await idle(clock)
        assert len(engine.runs) == 4
    finally:
        await schedules.stop()


# Clocks ----------------------------------------------------------------------------------------


async def test_manual_clock_wakes_sleepers_at_their_time_and_on_a_jump() -> None:
    clock = ManualClock(utc(2026, 1, 1))
    short = asyncio.ensure_future(clock.sleep(10))
    long = asyncio.ensure_future(clock.sleep(100))
    await clock.wait_for_sleepers(2)
    clock.advance(9)
    await asyncio.sleep(0)
    assert not short.done()
    clock.advance(1)
    await asyncio.wait_for(short, timeout=5)
    assert not long.done()
    clock.set(utc(2025, 1, 1))  # a jump, even backwards, wakes everyone to look again
    await asyncio.wait_for(long, timeout=5)
    assert clock.sleepers == 0
    with pytest.raises(ValueError, match="forwards"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="time zone"):
        ManualClock(dt.datetime(2026, 1, 1))


def test_system_clock_is_aware_utc() -> None:
    now = SystemClock().now()
    assert now.utcoffset() == dt.timedelta(0)
    assert abs((now - dt.datetime.now(UTC)).total_seconds()) < 5


# With the engine -------------------------------------------------------------------------------


async def test_the_engine_runs_a_scheduled_workflow_unattended(
    scripted: ScriptedModel, workspace: Path
) -> None:
    engine = Engine(settings=Settings())
    other = Engine(settings=Settings())  # a second engine on the same home (as a second window)
    started: list[AnyEvent] = []
    seen = asyncio.Event()

    def listen(event: AnyEvent) -> None:
        if event.kind == "workflow_run_started":
            started.append(event)
            seen.set()

    engine.subscribe_events(listen)
    clock = ManualClock(utc(2026, 1, 5, 7, 0))
    try:
        engine.save_workflow(
            WorkflowSpec(
                name="Morning summary",
                instruction="Summarise invoices.xlsx for {who}",
                params=[WorkflowParam(name="who", default="the team")],
                workspaces=[str(workspace)],
            )
        )
        await engine.start_schedules(clock=clock, owner="service")
        assert engine.owns_schedules
        with pytest.raises(SchedulesOwnedElsewhere, match="Ensemble's service"):
            await other.start_schedules(clock=clock)
        assert not other.owns_schedules

        naps = clock.sleep_calls
        info = engine.set_schedule(
            "Morning summary", Schedule(kind="daily", at="09:00", timezone="Europe/Paris")
        )
        await idle(clock, after=naps)  # set_schedule wakes the loop, which records the time
        assert engine.workflow_info("Morning summary").next_run_at == utc(2026, 1, 5, 8)
        assert info.schedule == "Every day at 09:00 (Europe/Paris)"

        scripted.add("Summarise invoices.xlsx for the team", text("Four invoices, three open."))
        clock.advance(dt.timedelta(hours=1))
        await asyncio.wait_for(seen.wait(), timeout=10)
        (event,) = started
        assert (event.workflow, event.reason, event.unattended) == ("Morning summary", "schedule", True)
        (run,) = engine.workflow_runs("Morning summary")
        assert (await engine.wait(run.mission_id)).status == "done"
        assert run.reason == "schedule"
        assert engine.workflow_info("Morning summary").next_run_at == utc(2026, 1, 6, 8)
    finally:
        await engine.stop_schedules()
        assert not engine.owns_schedules
        await other.close()
        await engine.close()


async def test_a_failing_journal_does_not_make_the_loop_spin(store: WorkflowStore) -> None:
    class Flaky(WorkflowStore):
        broken = False

        def revision(self) -> str:
            if self.broken:
                raise OSError("disk I/O error")
            return super().revision()

    flaky = Flaky(store.journal)
    clock = ManualClock(utc(2026, 1, 5, 7, 0))
    scheduled(flaky, "Report", Schedule(kind="daily", at="08:00", timezone="UTC"))
    engine = FakeEngine(flaky)
    schedules = Schedules(engine, flaky, clock, warm_up=False)
    await schedules.start()
    try:
        await idle(clock)
        flaky.broken = True
        naps = clock.sleep_calls
        clock.advance(dt.timedelta(hours=1))  # due now, but the journal fails
        await idle(clock, after=naps)
        naps = clock.sleep_calls
        clock.advance(1)  # it waits 5 s after a failed turn, though a run is due
        for _ in range(5):
            await asyncio.sleep(0)  # lets the loop run, if it were awake
        assert clock.sleep_calls == naps
        assert engine.runs == []
        flaky.broken = False
        clock.advance(4)
        await engine.next_run()
        assert [(name, reason) for name, reason, _ in engine.runs] == [("Report", "schedule")]
    finally:
        await schedules.stop()
