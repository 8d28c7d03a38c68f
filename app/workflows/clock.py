"""The time the schedules go by: the computer's own, or one a test moves by hand.

:class:`Schedules <app.workflows.service.Schedules>` asks a :class:`Clock` what time it is and
sleeps on it, never on :func:`asyncio.sleep` directly, so that a test can jump three days in
an instant with a :class:`ManualClock` and nothing really waits.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """What time it is, and a way to wait for a while."""

    def now(self) -> dt.datetime:
        """The current time, timezone-aware, in UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Returns after ``seconds`` (at once for zero or less); cancellable."""
        ...


class SystemClock:
    """The computer's clock: :func:`datetime.now` in UTC and :func:`asyncio.sleep`.

    The sleep runs on the loop's monotonic clock, which stands still while the computer
    sleeps: callers sleep in short spans (the schedules at most 30 s) and look at :meth:`now`
    again when they wake, so that a wall-clock jump or a suspend is noticed soon.
    """

    def now(self) -> dt.datetime:
        """The current time, timezone-aware, in UTC."""
        return dt.datetime.now(dt.UTC)

    async def sleep(self, seconds: float) -> None:
        """Sleeps ``seconds`` on the running loop."""
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock for tests: it stands still until :meth:`advance` or :meth:`set` moves it.

    A sleeper wakes when the clock reaches its deadline; :meth:`set` (a jump, as when the
    computer's clock is changed or it wakes from a suspend) wakes every sleeper, so that what
    sleeps looks at the time again. Nothing ever waits for real time.

    Args:
        start: The time it shows first (timezone-aware; kept in UTC).
    """

    def __init__(self, start: dt.datetime) -> None:
        self._now = _aware(start)
        self._sleepers: list[tuple[dt.datetime, asyncio.Future[None]]] = []
        self._changed: asyncio.Event | None = None
        self._calls = 0

    def now(self) -> dt.datetime:
        """The time it shows, in UTC."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Waits until the clock has been moved ``seconds`` on (or jumped)."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self._now + dt.timedelta(seconds=seconds), future)
        self._sleepers.append(entry)
        self._calls += 1
        self._signal()
        try:
            await future
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)
            self._signal()

    def advance(self, delta: dt.timedelta | float) -> dt.datetime:
        """Moves the clock on by ``delta`` (a timedelta, or seconds) and wakes the sleepers
        whose deadline it reached.

        Returns:
            The new time.
        """
        step = delta if isinstance(delta, dt.timedelta) else dt.timedelta(seconds=delta)
        if step < dt.timedelta(0):
            raise ValueError("a clock advances forwards; use set() to turn it back")
        self._now += step
        self._wake(everyone=False)
        return self._now

    def set(self, when: dt.datetime) -> None:
        """Jumps to ``when`` (forwards or backwards) and wakes every sleeper to look again."""
        self._now = _aware(when)
        self._wake(everyone=True)

    @property
    def sleepers(self) -> int:
        """How many sleep calls are waiting now."""
        return sum(1 for _, future in self._sleepers if not future.done())

    @property
    def sleep_calls(self) -> int:
        """How many sleep calls (of more than zero seconds) have started so far."""
        return self._calls

    async def wait_for_sleepers(self, count: int = 1, *, after: int = 0) -> None:
        """Returns once at least ``count`` sleep calls wait, and more than ``after`` sleep calls
        have started: what runs on the clock is idle (again).

        Tests use it (with a timeout) instead of sleeping, before they move the clock.
        """
        while self.sleepers < count or self._calls <= after:
            if self._changed is None:
                self._changed = asyncio.Event()
            self._changed.clear()
            await self._changed.wait()

    def _wake(self, *, everyone: bool) -> None:
        for deadline, future in list(self._sleepers):
            if (everyone or deadline <= self._now) and not future.done():
                future.set_result(None)

    def _signal(self) -> None:
        if self._changed is not None:
            self._changed.set()


def _aware(when: dt.datetime) -> dt.datetime:
    if when.tzinfo is None:
        raise ValueError("a clock's time needs a time zone (e.g. datetime(..., tzinfo=UTC))")
    return when.astimezone(dt.UTC)


__all__ = ["Clock", "ManualClock", "SystemClock"]
