"""When a schedule runs next, in the person's time zone, and what to do about missed times.

The matching of days and hours is APScheduler's (its
:class:`~apscheduler.triggers.cron.CronTrigger`), run on the *wall clock* of the schedule's
time zone; this module turns each wall-clock time into the instant it stands for, which is
where daylight saving time matters:

- a time that does not exist (02:30 on the night the clocks go forward) runs at the same
  distance after the change (03:30), once;
- a time that exists twice (02:30 on the night the clocks go back) runs at its first
  occurrence only, once; except for schedules that run every hour (``hourly``, and ``cron``
  with ``*`` as its hour), which run in both hours, as cron does;
- 09:00 stays 09:00 local on both sides of a change.

A monthly schedule on a day a month lacks (the 31st in April, the 30th in February) runs on
that month's last day. A ``cron`` expression is read as cron reads it: weekday 0 (and 7) is
Sunday, and a day of the month and a weekday both given mean either of them.

Missed times (the computer was asleep or off) are decided by :func:`due`: one catch-up run at
most (``catch_up="once"``), or none (``"skip"``), and the next time is counted from now.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tzlocal
from apscheduler.triggers.cron import CronTrigger

from app.errors import EngineError

if TYPE_CHECKING:
    from collections.abc import Callable

    from app.api.workflows import Schedule

GRACE = dt.timedelta(seconds=60)
"""How late a due time may be found and still count as on time (``schedule``); later, it was
missed (the computer was asleep or off): a ``catch_up`` run, or none."""

_MARGIN = dt.timedelta(hours=3)
"""More than any daylight saving shift: how far around a change wall-clock times are looked at."""

_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DOW_ITEM = re.compile(r"^(\*|[0-7a-z]{1,3}(?:-[0-7a-z]{1,3})?)(?:/(\d{1,2}))?$")

Reason = Literal["schedule", "catch_up"]


@dataclass(frozen=True)
class Due:
    """What to do about a schedule now (see :func:`due`).

    Attributes:
        fire: Start a run now.
        reason: ``schedule`` (on time) or ``catch_up`` (missed while the computer was asleep
            or off), when ``fire``; else None.
        due_at: The due time it is for (the one that came, or the last one missed), or None
            when nothing was due.
        next_run_at: The next due time to record (UTC), or None: the schedule is over (a
            one-time schedule, once it has come).
    """

    fire: bool
    reason: Reason | None
    due_at: dt.datetime | None
    next_run_at: dt.datetime | None


@dataclass(frozen=True)
class _Rule:
    """A repeating schedule as APScheduler triggers on wall-clock time (written as UTC)."""

    triggers: tuple[Any, ...]
    accept: Callable[[dt.datetime], bool] | None
    every_hour: bool  # runs in both occurrences of a repeated hour


def zone_of(schedule: Schedule) -> ZoneInfo:
    """The schedule's time zone: its own, or the computer's (UTC if it has none).

    Raises:
        EngineError: The schedule names a time zone that does not exist.
    """
    if schedule.timezone:
        try:
            return ZoneInfo(schedule.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise EngineError(
                f"“{schedule.timezone}” is not a time zone: "
                "use a name such as Europe/Paris or America/New_York."
            ) from None
    try:
        return ZoneInfo(tzlocal.get_localzone_name())
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ZoneInfo("UTC")


def check(schedule: Schedule) -> None:
    """Makes sure the schedule can be computed (its time zone, its cron expression).

    Raises:
        EngineError: What is wrong, in words for a person.
    """
    zone_of(schedule)
    if schedule.kind != "once":
        _rule(schedule)


def next_fire(schedule: Schedule, after: dt.datetime) -> dt.datetime | None:
    """The schedule's first due time strictly after ``after``.

    Args:
        schedule: The schedule.
        after: A time (timezone-aware; a naive one is taken as UTC).

    Returns:
        The due time, timezone-aware in UTC; None for a one-time schedule whose time is not
        after ``after``.

    Raises:
        EngineError: The schedule cannot be computed (see :func:`check`).
    """
    after = as_utc(after)
    zone = zone_of(schedule)
    if schedule.kind == "once":
        when = once_at(schedule, zone)
        return when if when > after else None
    rule = _rule(schedule)
    local = after.astimezone(zone).replace(tzinfo=None)
    cursor = local - _MARGIN if _shift_near(zone, after) else local
    best: dt.datetime | None = None
    bound: dt.datetime | None = None
    while True:
        wall = _next_wall(rule, cursor)
        if wall is None or (bound is not None and wall > bound):
            return best
        for instant in _instants(wall, zone, every_hour=rule.every_hour):
            if instant > after and (best is None or instant < best):
                best = instant
                bound = instant.astimezone(zone).replace(tzinfo=None)
                if _shift_near(zone, instant):
                    bound += _MARGIN
        cursor = wall + dt.timedelta(seconds=1)


def fires_at(schedule: Schedule, when: dt.datetime) -> bool:
    """Whether ``when`` is one of the schedule's due times (a stored next time that no longer
    belongs to the schedule, because it or the time zone changed, is not)."""
    when = as_utc(when)
    try:
        return next_fire(schedule, when - dt.timedelta(microseconds=1)) == when
    except EngineError:
        return False


def due(
    schedule: Schedule, next_run_at: dt.datetime | None, now: dt.datetime, *, grace: dt.timedelta = GRACE
) -> Due:
    """Whether to run a scheduled workflow now, and its next due time.

    A due time found within ``grace`` is on time (``schedule``). One found later was missed
    (the computer was asleep or off): with ``catch_up="once"`` it runs once now
    (``catch_up``), however many times were missed; with ``"skip"`` it does not run. Either
    way the next due time is counted from ``now``, never from the missed ones.

    Args:
        schedule: The workflow's schedule.
        next_run_at: Its recorded next due time, or None (none: nothing is due).
        now: The current time.
        grace: How late is still on time.

    Raises:
        EngineError: The schedule cannot be computed.
    """
    now = as_utc(now)
    if next_run_at is None:
        return Due(fire=False, reason=None, due_at=None, next_run_at=None)
    next_run_at = as_utc(next_run_at)
    if next_run_at > now:
        return Due(fire=False, reason=None, due_at=None, next_run_at=next_run_at)
    upcoming = next_fire(schedule, now)
    if now - next_run_at <= grace:
        return Due(fire=True, reason="schedule", due_at=next_run_at, next_run_at=upcoming)
    # Missed: the last due time that passed is what the catch-up run stands for.
    missed = _last_before(schedule, next_run_at, now)
    if schedule.catch_up == "skip":
        return Due(fire=False, reason=None, due_at=missed, next_run_at=upcoming)
    return Due(fire=True, reason="catch_up", due_at=missed, next_run_at=upcoming)


def once_at(schedule: Schedule, zone: ZoneInfo | None = None) -> dt.datetime:
    """A one-time schedule's instant, in UTC (its ``at`` in its time zone, unless it has an
    offset of its own)."""
    when = dt.datetime.fromisoformat(schedule.at or "")
    if when.tzinfo is None:
        return _instants(when, zone or zone_of(schedule), every_hour=False)[0]
    return when.astimezone(dt.UTC)


def as_utc(when: dt.datetime) -> dt.datetime:
    """``when`` in UTC; a naive time (as SQLite gives them back) is taken as UTC already."""
    if when.tzinfo is None:
        return when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


# Internals -----------------------------------------------------------------------------------


def _rule(schedule: Schedule) -> _Rule:
    """The APScheduler triggers of a repeating schedule, on wall-clock time.

    Raises:
        EngineError: A cron expression APScheduler cannot read.
    """
    utc = dt.UTC
    kind = schedule.kind
    if kind == "hourly":
        minute = _minute_of(schedule.at)
        return _Rule((CronTrigger(minute=minute, second=0, timezone=utc),), None, every_hour=True)
    hour, minute = _hhmm(schedule.at)
    if kind == "daily":
        return _Rule((CronTrigger(hour=hour, minute=minute, timezone=utc),), None, every_hour=False)
    if kind == "weekdays":
        trigger = CronTrigger(day_of_week="mon-fri", hour=hour, minute=minute, timezone=utc)
        return _Rule((trigger,), None, every_hour=False)
    if kind == "weekly":
        days = ",".join(schedule.days)
        trigger = CronTrigger(day_of_week=days, hour=hour, minute=minute, timezone=utc)
        return _Rule((trigger,), None, every_hour=False)
    if kind == "monthly":
        day = schedule.day or 1
        if day <= 28:
            trigger = CronTrigger(day=day, hour=hour, minute=minute, timezone=utc)
            return _Rule((trigger,), None, every_hour=False)
        # Day 29 to 31: that day, or the last day of a month too short for it.
        trigger = CronTrigger(day=f"{day},last", hour=hour, minute=minute, timezone=utc)
        return _Rule((trigger,), _on_day_or_last(day), every_hour=False)
    return _cron_rule(schedule.cron or "")


def _cron_rule(expression: str) -> _Rule:
    fields = expression.split()
    if len(fields) != 5:
        raise EngineError("A cron schedule needs five fields: minute hour day month weekday.")
    minute, hour, day, month, weekday = fields
    try:
        days = _cron_weekdays(weekday)
        common = {"minute": minute, "hour": hour, "month": month, "second": 0, "timezone": dt.UTC}
        if day.startswith("*") or weekday.startswith("*"):
            triggers: tuple[Any, ...] = (CronTrigger(day=day, day_of_week=days, **common),)
        else:  # cron runs on either of them when both are given
            triggers = (CronTrigger(day=day, **common), CronTrigger(day_of_week=days, **common))
    except ValueError as exc:
        raise EngineError(f"The cron expression “{expression}” cannot be read: {exc}.") from None
    return _Rule(triggers, None, every_hour=hour.startswith("*"))


def _cron_weekdays(field: str) -> str:
    """A cron weekday field (0 or 7 = Sunday, names, ranges, steps) as APScheduler's names,
    whose numbers would start on Monday."""
    if field == "*":
        return "*"
    chosen: set[int] = set()
    for item in field.lower().split(","):
        match = _DOW_ITEM.match(item)
        if match is None:
            raise ValueError(f"“{item}” is not a weekday")
        span, step_text = match.group(1), match.group(2)
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"“{item}” has a step of zero")
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            start, _, end = span.partition("-")
            first, last = _cron_day(start), _cron_day(end)
            if last == 0 and first > 0:  # mon-sun, 1-7
                last = 7
            if last < first:
                raise ValueError(f"“{item}” runs backwards")
        else:
            first = last = _cron_day(span)
            if step_text:
                last = 6
        chosen.update(d % 7 for d in range(first, last + 1, step))
    return ",".join(_CRON_DAYS[d] for d in sorted(chosen))


def _cron_day(text: str) -> int:
    if text.isdigit():
        number = int(text)
        if number > 7:
            raise ValueError(f"weekday {number} is not between 0 and 7")
        return number % 7 if number == 7 else number
    if text in _CRON_DAYS:
        return _CRON_DAYS.index(text)
    raise ValueError(f"“{text}” is not a weekday")


def _on_day_or_last(day: int) -> Callable[[dt.datetime], bool]:
    def accept(wall: dt.datetime) -> bool:
        return wall.day == min(day, calendar.monthrange(wall.year, wall.month)[1])

    return accept


def _next_wall(rule: _Rule, cursor: dt.datetime) -> dt.datetime | None:
    """The first wall-clock time at or after ``cursor`` (naive) that the rule matches."""
    found: list[dt.datetime] = []
    for trigger in rule.triggers:
        start = cursor
        for _ in range(400):
            hit = trigger.get_next_fire_time(None, start.replace(tzinfo=dt.UTC))
            if hit is None:
                break
            wall = hit.replace(tzinfo=None)
            if rule.accept is None or rule.accept(wall):
                found.append(wall)
                break
            start = wall + dt.timedelta(seconds=1)
    return min(found) if found else None


def _instants(wall: dt.datetime, zone: ZoneInfo, *, every_hour: bool) -> list[dt.datetime]:
    """The instants (UTC) a wall-clock time stands for in ``zone``: one; none of its own in a
    spring-forward gap (then the instant as far after the change: 02:30 → 03:30); two in a
    repeated hour (only the first, unless the schedule runs every hour)."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(dt.UTC)
    if first == second:
        return [first]
    exists = first.astimezone(zone).replace(tzinfo=None) == wall
    if not exists:  # fold=0 in a gap reads the time with the offset before the change
        return [first]
    return [first, second] if every_hour else [first]


def _shift_near(zone: ZoneInfo, instant: dt.datetime) -> bool:
    """Whether the zone's offset changes within a few hours of ``instant``."""
    offsets = {(instant + step).astimezone(zone).utcoffset() for step in (-_MARGIN, dt.timedelta(0), _MARGIN)}
    return len(offsets) > 1


def _last_before(schedule: Schedule, first_missed: dt.datetime, now: dt.datetime) -> dt.datetime:
    """The latest due time from ``first_missed`` up to ``now`` (bounded: a schedule that ran
    every minute through a long absence is not walked through)."""
    last = first_missed
    for _ in range(1_000):
        following = next_fire(schedule, last)
        if following is None or following > now:
            return last
        last = following
    return last


def _hhmm(text: str | None) -> tuple[int, int]:
    hours, _, minutes = (text or "00:00").partition(":")
    return int(hours), int(minutes or 0)


def _minute_of(text: str | None) -> int:
    minute_text = (text or ":00").rpartition(":")[2] or "0"
    try:
        minute = int(minute_text)
    except ValueError:
        raise EngineError(f"An hourly schedule runs at a minute such as :15, not “{text}”.") from None
    if not 0 <= minute <= 59:
        raise EngineError(f"An hourly schedule runs at a minute from :00 to :59, not “{text}”.")
    return minute


__all__ = ["GRACE", "Due", "as_utc", "check", "due", "fires_at", "next_fire", "once_at", "zone_of"]
