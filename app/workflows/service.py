"""The schedules' loop: starts every scheduled workflow when it is due, once.

:class:`Schedules` runs on the engine's asyncio loop, in the one process that owns the
schedules of the Ensemble home (:mod:`app.workflows.owner`). It keeps each scheduled
workflow's next due time in the journal (:meth:`WorkflowStore.set_next_run
<app.workflows.store.WorkflowStore.set_next_run>`) and, when one comes:

1. records the following due time (and the one it runs for) *before* it starts the run, so
   that a crash in between never runs it twice;
2. starts the run through the engine (``run_workflow(name, reason="schedule")``), or
   ``reason="catch_up"`` when the due time passed more than :data:`~app.workflows.schedule.GRACE`
   ago (the computer was asleep or off): one run, whatever was missed, or none with
   ``catch_up="skip"``;
3. sleeps until the next due time, 30 s at most, then looks at the clock again (a suspend or
   a clock change is noticed) and at :meth:`WorkflowStore.revision
   <app.workflows.store.WorkflowStore.revision>` (a workflow added, changed or removed, here
   or by another process, is picked up). :meth:`Schedules.wake` makes it look at once.

A run that cannot start (an :class:`~app.errors.EngineError`: a parameter without a value, a
missing folder) is logged and kept in :attr:`Schedules.failures`; the loop goes on. The
trigger watchers (:mod:`app.workflows.triggers`) start and stop with the schedules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

from app.errors import EngineError
from app.paths import Paths
from app.workflows.clock import Clock, SystemClock
from app.workflows.owner import ScheduleOwner
from app.workflows.schedule import GRACE, as_utc, due, fires_at, next_fire
from app.workflows.store import spec_of

if TYPE_CHECKING:
    import datetime as dt

    from app.api.workflows import RunReason, Schedule
    from app.workflows.store import WorkflowStore
    from app.workflows.triggers import TriggerEngine, TriggerWatchers

log = logging.getLogger(__name__)

MAX_SLEEP = 30.0
"""The longest the loop sleeps before it looks at the clock and the workflows again (s)."""

RETRY_AFTER = 5.0
"""How long the loop waits after a turn that failed (the journal was busy or closed) (s)."""

WARM_AHEAD = 120.0
"""How long before the first due time the connectors are imported (s): the loop looks at
least every :data:`MAX_SLEEP`, so they are ready a minute and a half ahead at the latest."""


class WorkflowRunner(Protocol):
    """What the schedules need of the engine (:class:`~app.engine.Engine` is one)."""

    def run_workflow(
        self, name: str, params: dict[str, str] | None = None, *, reason: RunReason = "manual"
    ) -> str:
        """Starts a run of the workflow; returns its mission's id.

        Raises:
            EngineError: The run cannot start.
        """
        ...


@dataclass(frozen=True)
class ScheduleFailure:
    """A scheduled run that could not start.

    Attributes:
        workflow: The workflow's name.
        due_at: The due time it was for (UTC).
        at: When it was tried (UTC).
        reason: ``schedule`` or ``catch_up``.
        error: What went wrong, in words for a person.
    """

    workflow: str
    due_at: dt.datetime | None
    at: dt.datetime
    reason: str
    error: str


@dataclass
class _Entry:
    """A scheduled workflow as the loop knows it."""

    id: str
    name: str
    version: int
    schedule: Schedule
    next_run_at: dt.datetime | None


class Schedules:
    """Runs the scheduled workflows of one Ensemble home, and its trigger watchers.

    Args:
        engine: Starts the runs (``run_workflow``); an :class:`~app.engine.Engine`.
        store: The workflows and their next due times.
        clock: The time to go by; the computer's by default (tests pass a
            :class:`~app.workflows.clock.ManualClock`).
        owner: What this process is, for the owner's note: ``window`` or ``service``.
        paths: The Ensemble home whose schedules to own; by default the engine's
            (``engine.paths``), else :meth:`Paths.default`.
        grace: How late a due time may be found and still be on time.
        max_sleep: The longest sleep between two looks, in seconds.
        watch_triggers: Also run the trigger watchers (:mod:`app.workflows.triggers`), which
            start and stop with the schedules and follow the same changes.
        warm_up: Import the agents' connectors in a worker thread a little before the
            first due time (:data:`WARM_AHEAD`), so that the first run does not spend seconds
            importing them on the engine's loop (and an idle process does not hold them).
    """

    def __init__(
        self,
        engine: WorkflowRunner,
        store: WorkflowStore,
        clock: Clock | None = None,
        owner: str = "window",
        *,
        paths: Paths | None = None,
        grace: dt.timedelta = GRACE,
        max_sleep: float = MAX_SLEEP,
        watch_triggers: bool = True,
        warm_up: bool = True,
    ) -> None:
        self.engine = engine
        self.store = store
        self.clock: Clock = clock or SystemClock()
        found = getattr(engine, "paths", None)
        self.paths = paths or (found if isinstance(found, Paths) else Paths.default())
        self.owner = ScheduleOwner(self.paths, owner)
        self.grace = grace
        self.max_sleep = max_sleep
        self.failures: deque[ScheduleFailure] = deque(maxlen=100)
        """The latest runs that could not start, oldest first."""
        self._entries: dict[str, _Entry] = {}
        self._revision: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.watch_triggers = watch_triggers
        self.warm_up = warm_up
        self._warmed = False
        self._triggers: TriggerWatchers | None = None
        self._background: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> bool:
        """Whether the loop runs (this process owns the schedules)."""
        return self._task is not None and not self._task.done()

    def next_runs(self) -> dict[str, dt.datetime | None]:
        """Each scheduled workflow's next due time (UTC), by name, as the loop knows them."""
        return {entry.name: entry.next_run_at for entry in self._entries.values()}

    async def start(self) -> None:
        """Takes the schedules, records every scheduled workflow's next due time, and starts
        the loop and the trigger watchers (nothing if already started).

        Raises:
            SchedulesOwnedElsewhere: Another process runs them (the message says which).
        """
        if self.running:
            return
        self.owner.acquire()
        try:
            self._wake = asyncio.Event()
            self._reload(self.clock.now())
            self._task = asyncio.create_task(self._loop(), name="ensemble-schedules")
            await self._start_triggers()
        except BaseException:
            # Whatever stops the start (a trigger that cannot start, or the start cancelled
            # while it awaited), nothing half-started may stay: the loop and the watchers stop
            # and the lock goes back, so that another process can own the schedules; then the
            # same error goes on up.
            await self._stop_triggers()
            await self._stop_loop()
            self.owner.release()
            raise
        log.info("Running the schedules of %d workflow(s) (%s)", len(self._entries), self.owner.what)

    async def stop(self) -> None:
        """Stops the trigger watchers and the loop, and gives the schedules up."""
        try:
            await self._stop_triggers()
            await self._stop_loop()
        finally:
            self.owner.release()

    def wake(self) -> None:
        """Makes the loop look at the workflows and the clock now (after a change here)."""
        self._wake.set()

    # The loop ------------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            pause = 0.0
            try:
                now = self.clock.now()
                revision = self.store.revision()
                if revision != self._revision:
                    self._reload(now, revision)
                    self._reload_triggers()
                self._fire_due(now)
            except asyncio.CancelledError:
                raise
            except Exception:  # never let one bad turn end the schedules
                log.exception("The schedules could not look at the workflows; trying again shortly")
                pause = min(self.max_sleep, RETRY_AFTER)  # never spin on a failing journal
            now = self.clock.now()
            self._warm_before_due(now)
            await self._sleep(max(pause, self._delay(now)))

    def _reload(self, now: dt.datetime, revision: str | None = None) -> None:
        """Reads the scheduled workflows again, and records a next due time where one is
        missing or no longer belongs to the schedule (it changed, or the time zone did)."""
        self._revision = revision if revision is not None else self.store.revision()
        entries: dict[str, _Entry] = {}
        for row in self.store.scheduled():
            try:
                schedule = spec_of(row).schedule
            except ValueError:
                log.warning("The workflow %s cannot be read; its schedule is ignored", row.name)
                continue
            if schedule is None:
                continue
            stored = as_utc(row.next_run_at) if row.next_run_at is not None else None
            known = self._entries.get(row.id)
            unchanged = known is not None and known.version == row.version and known.next_run_at == stored
            wanted = stored
            if stored is None or (not unchanged and not fires_at(schedule, stored)):
                wanted = self._first_time(row.name, schedule, now)
            if wanted != stored:
                self.store.set_next_run(row.id, wanted)
            entries[row.id] = _Entry(row.id, row.name, row.version, schedule, wanted)
        self._entries = entries

    def _first_time(self, name: str, schedule: Schedule, now: dt.datetime) -> dt.datetime | None:
        try:
            return next_fire(schedule, now)
        except EngineError as exc:
            log.warning("The schedule of %s cannot be computed: %s", name, exc)
            self.failures.append(ScheduleFailure(name, None, now, "schedule", str(exc)))
            return None

    def _fire_due(self, now: dt.datetime) -> None:
        ready = [e for e in self._entries.values() if e.next_run_at is not None and e.next_run_at <= now]
        for entry in sorted(ready, key=lambda e: (e.next_run_at, e.name)):
            try:
                decision = due(entry.schedule, entry.next_run_at, now, grace=self.grace)
            except EngineError as exc:
                log.warning("The schedule of %s cannot be computed: %s", entry.name, exc)
                self.failures.append(
                    ScheduleFailure(entry.name, entry.next_run_at, now, "schedule", str(exc))
                )
                decision = None
            following = decision.next_run_at if decision is not None else None
            fired_at = decision.due_at if decision is not None and decision.fire else None
            # Recorded before the run starts: a crash in between loses a run, never doubles one.
            self.store.set_next_run(entry.id, following, fired_at=fired_at)
            entry.next_run_at = following
            if decision is None:
                continue
            if decision.fire and decision.reason is not None:
                self._start_run(entry, decision.reason, decision.due_at, now)
            else:
                log.info(
                    "Skipped the missed run of %s (due %s): it skips missed times",
                    entry.name,
                    decision.due_at,
                )

    def _start_run(
        self, entry: _Entry, reason: RunReason, due_at: dt.datetime | None, now: dt.datetime
    ) -> None:
        try:
            mission_id = self.engine.run_workflow(entry.name, reason=reason)
        except EngineError as exc:
            log.warning("The scheduled run of %s could not start: %s", entry.name, exc)
            self.failures.append(ScheduleFailure(entry.name, due_at, now, reason, str(exc)))
        except Exception as exc:  # a bug in one run must not stop the others
            log.exception("The scheduled run of %s failed to start", entry.name)
            self.failures.append(
                ScheduleFailure(entry.name, due_at, now, reason, f"{type(exc).__name__}: {exc}")
            )
        else:
            log.info("Started %s (%s, due %s) as mission %s", entry.name, reason, due_at, mission_id)

    def _warm_before_due(self, now: dt.datetime) -> None:
        if not self.warm_up or self._warmed:
            return
        times = [e.next_run_at for e in self._entries.values() if e.next_run_at is not None]
        if times and (min(times) - now).total_seconds() <= WARM_AHEAD:
            self._warmed = True
            self._keep(asyncio.create_task(asyncio.to_thread(_warm_up), name="ensemble-warm-up"))

    def _delay(self, now: dt.datetime) -> float:
        times = [e.next_run_at for e in self._entries.values() if e.next_run_at is not None]
        if not times:
            return self.max_sleep
        return max(0.0, min(self.max_sleep, (min(times) - now).total_seconds()))

    async def _sleep(self, seconds: float) -> None:
        """Sleeps on the clock, or until :meth:`wake`."""
        if self._wake.is_set():
            return
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()

    async def _stop_loop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # Trigger watchers ------------------------------------------------------------------------

    async def _start_triggers(self) -> None:
        """Starts the watchers of the workflows that have a trigger."""
        if not self.watch_triggers:
            return
        from app.workflows.triggers import TriggerWatchers

        watchers = TriggerWatchers(
            cast("TriggerEngine", self.engine), self.store, loop=asyncio.get_running_loop()
        )
        await watchers.start()
        self._triggers = watchers

    def _reload_triggers(self) -> None:
        """Lets the watchers follow a change of the workflows, beside the loop (stopping a
        watcher waits for its thread; the schedules do not)."""
        watchers = self._triggers
        if watchers is None:
            return
        self._keep(asyncio.create_task(watchers.reload(), name="ensemble-trigger-reload"))

    def _keep(self, task: asyncio.Task[None]) -> None:
        """Holds a background task until it ends, and logs its failure."""
        self._background.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    async def _stop_triggers(self) -> None:
        watchers, self._triggers = self._triggers, None
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if watchers is None:
            return
        try:
            await watchers.stop()
        except Exception:  # stopping must go on to release the schedules
            log.exception("The trigger watchers did not stop cleanly")


def _warm_up() -> None:
    """Imports every agent's connector (what a mission's start needs), in a worker thread."""
    from app.agents import registry

    registry()


__all__ = ["MAX_SLEEP", "WARM_AHEAD", "ScheduleFailure", "Schedules", "WorkflowRunner"]
