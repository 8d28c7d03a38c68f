"""iCalendar data: parsing, expanding recurrences, describing events, building them, free time.

Pure functions on :mod:`icalendar` objects; the tools read and write the files and the
server. Times are compared as aware datetimes: an event's own zone (its TZID, resolved from
the IANA database or, for names such as Outlook's "Pacific Standard Time", from the file's
VTIMEZONE), UTC, or for a *floating* time (no zone) the person's zone. All-day events are
dates.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.base import ToolError

PRODID = "-//Ensemble//Calendar agent//EN"
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_BYDAY = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
_FREQ = {"DAILY": "day", "WEEKLY": "week", "MONTHLY": "month", "YEARLY": "year", "HOURLY": "hour"}


class WorkingHours(BaseModel):
    """When the person works, for ``calendar_find_free_time``: the calendar's settings section.

    Attributes:
        time_zone: The person's IANA zone (``Europe/Berlin``); None: the computer's.
        days: Working days, 0 for Monday to 6 for Sunday.
        start: When a working day starts, in that zone.
        end: When it ends.
    """

    model_config = ConfigDict(extra="forbid")

    time_zone: str | None = None
    days: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    start: dt.time = dt.time(9, 0)
    end: dt.time = dt.time(17, 0)

    @field_validator("days")
    @classmethod
    def _check_days(cls, value: list[int]) -> list[int]:
        if not value or any(not 0 <= d <= 6 for d in value):
            raise ValueError("working days are numbers from 0 (Monday) to 6 (Sunday)")
        return sorted(set(value))

    @field_validator("time_zone")
    @classmethod
    def _check_zone(cls, value: str | None) -> str | None:
        if value is not None:
            zone(value)
        return value

    def mission_options(self, _request: dict[str, Any]) -> dict[str, Any]:
        """The calendar tools' options for one mission: these hours (``{"hours": {...}}``)."""
        return {"hours": self.model_dump(mode="json")}


def zone(name: str) -> ZoneInfo:
    """The IANA zone of that name.

    Raises:
        ToolError: No such zone (the message gives an example of one).
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ToolError(
            f"'{name}' is not a time zone name; use an IANA name such as 'Europe/Berlin' or "
            "'America/New_York'."
        ) from exc


def local_zone(name: str | None = None) -> ZoneInfo:
    """The person's zone: ``name`` if given, else the computer's (``TZ``, then the system's), else UTC."""
    if name:
        return zone(name)
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    timezone_file = Path("/etc/timezone")
    if timezone_file.is_file():
        candidates.append(timezone_file.read_text(encoding="utf-8", errors="replace").strip())
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        candidates.append(str(localtime.resolve()).partition("zoneinfo/")[2])
    for candidate in candidates:
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def parse_calendar(data: bytes | str, source: str) -> icalendar.Calendar:
    """Parses iCalendar text (a whole ``VCALENDAR``).

    Raises:
        ToolError: It is not iCalendar data, or it holds no calendar; the message names ``source``.
    """
    raw = data.encode() if isinstance(data, str) else data
    if not raw.strip():
        raise ToolError(f"{source} is empty: it holds no calendar.")
    try:
        calendar = icalendar.Calendar.from_ical(raw)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ToolError(f"{source} is not a readable iCalendar (.ics) file: {first}") from exc
    if not isinstance(calendar, icalendar.Calendar) or calendar.name != "VCALENDAR":
        raise ToolError(f"{source} is not a readable iCalendar (.ics) file: it holds no VCALENDAR.")
    return calendar


def new_calendar() -> icalendar.Calendar:
    """An empty calendar, ready for events."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    return calendar


def as_aware(value: dt.date | dt.datetime, person: ZoneInfo) -> dt.datetime:
    """A start or end as an aware datetime: a date at midnight and a floating time in ``person``'s zone."""
    if not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time(0), person)
    return value if value.tzinfo is not None else value.replace(tzinfo=person)


def when(event: icalendar.Component, name: str = "DTSTART") -> dt.date | dt.datetime:
    """An event's DTSTART (or DTEND, RECURRENCE-ID) as a date or datetime.

    Raises:
        ToolError: The property is missing or is not a date or a time.
    """
    prop: Any = event.get(name)
    value: Any = getattr(prop, "dt", None)
    if not isinstance(value, dt.date):
        raise ToolError(f"The event '{event.get('UID', '?')}' has no usable {name} ({prop!r}).")
    return value


def bounds(event: icalendar.Component) -> tuple[dt.date | dt.datetime, dt.date | dt.datetime]:
    """When an event starts and ends (from DTEND or DURATION; an all-day event lasts its day)."""
    start = when(event, "DTSTART")
    end: dt.date | dt.datetime
    length: Any = getattr(event.get("DURATION"), "dt", None)
    if "DTEND" in event:
        end = when(event, "DTEND")
    elif isinstance(length, dt.timedelta):
        end = start + length
    elif isinstance(start, dt.datetime):
        end = start
    else:
        end = start + dt.timedelta(days=1)
    return start, end


def events_between(
    calendar: icalendar.Calendar, start: dt.datetime, end: dt.datetime, source: str
) -> list[icalendar.Component]:
    """Every occurrence of every event between ``start`` and ``end``, recurrences expanded
    (moved and cancelled occurrences as the calendar says), ordered by start.

    Raises:
        ToolError: The calendar's recurrence rules or dates cannot be read.
    """
    # Loaded when first needed: it takes a while to import, and most missions never read a calendar.
    import recurring_ical_events  # type: ignore[import-untyped]

    try:
        found = recurring_ical_events.of(calendar).between(start, end)
    except (ValueError, TypeError, KeyError, recurring_ical_events.InvalidCalendar) as exc:
        raise ToolError(f"The events of {source} cannot be read: {exc}") from exc
    events = [
        e for e in found if isinstance(e, icalendar.Component) and e.name == "VEVENT" and "DTSTART" in e
    ]
    return sorted(events, key=lambda e: as_aware(when(e), ZoneInfo("UTC")))


def masters(calendar: icalendar.Calendar) -> dict[str, icalendar.Component]:
    """The events of a calendar by UID: each series' main event (the one without RECURRENCE-ID)."""
    found: dict[str, icalendar.Component] = {}
    for event in calendar.walk("VEVENT"):
        uid = str(event.get("UID", ""))
        if uid and ("RECURRENCE-ID" not in event or uid not in found):
            found[uid] = event
    return found


def recurrence_words(event: icalendar.Component) -> str | None:
    """An event's RRULE in words (``"every week on Monday and Wednesday, 4 times"``), or None."""
    rule = event.get("RRULE")
    if rule is None:
        return None
    rule = rule[0] if isinstance(rule, list) else rule
    freq = str((rule.get("FREQ") or ["?"])[0]).upper()
    interval = int((rule.get("INTERVAL") or [1])[0])
    unit = _FREQ.get(freq, freq.lower())
    words = f"every {unit}" if interval == 1 else f"every {interval} {unit}s"
    days = []
    for day in rule.get("BYDAY") or []:
        text = str(day)
        match = re.fullmatch(r"([+-]?\d+)?([A-Z]{2})", text)
        if match and match.group(2) in _BYDAY:
            name = _DAYS[_BYDAY[match.group(2)]]
            nth = match.group(1)
            days.append(name if not nth else f"the {_ordinal(int(nth))} {name}")
        else:
            days.append(text)
    if days:
        words += " on " + (", ".join(days[:-1]) + " and " + days[-1] if len(days) > 1 else days[0])
    if rule.get("COUNT"):
        words += f", {int(rule['COUNT'][0])} times"
    if rule.get("UNTIL"):
        until = rule["UNTIL"][0]
        words += f", until {until.date() if isinstance(until, dt.datetime) else until}"
    return words


def _ordinal(n: int) -> str:
    if n == -1:
        return "last"
    if n < 0:
        return f"{_ordinal(-n)} to last"
    return {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}.get(n, f"{n}th")


def zone_name(value: dt.date | dt.datetime, tzid: str | None = None) -> str:
    """How a start is zoned, in words: its TZID, ``UTC``, ``floating`` or ``all day``.

    Args:
        value: The start.
        tzid: The TZID the file gave it, if any (a zone defined only by the file's
            VTIMEZONE, such as Outlook's "Pacific Standard Time", has no other name).
    """
    if not isinstance(value, dt.datetime):
        return "all day"
    if value.tzinfo is None:
        return "floating"
    key = getattr(value.tzinfo, "key", None) or getattr(value.tzinfo, "zone", None) or tzid
    return str(key or value.tzinfo.tzname(value) or "UTC")


def start_zone(event: icalendar.Component) -> str:
    """How an event's start is zoned, in words (see :func:`zone_name`)."""
    prop: Any = event.get("DTSTART")
    params: Any = getattr(prop, "params", {})
    return zone_name(when(event), params.get("TZID") if params else None)


def _shown(value: dt.date | dt.datetime, person: ZoneInfo) -> str:
    if not isinstance(value, dt.datetime):
        return value.isoformat()
    return as_aware(value, person).astimezone(person).isoformat(timespec="minutes")


def addresses(event: icalendar.Component, name: str) -> list[str]:
    """The addresses of an event's ATTENDEE (or ORGANIZER) lines, without ``mailto:``."""
    values = event.get(name)
    if values is None:
        return []
    items = values if isinstance(values, list) else [values]
    return [re.sub(r"(?i)^mailto:", "", str(v)).strip() for v in items]


def is_busy(event: icalendar.Component) -> bool:
    """Whether an event takes the time: not cancelled, not TRANSPARENT; an all-day event only
    when it says OPAQUE (exports mark holidays and birthdays as all-day events)."""
    if str(event.get("STATUS", "")).upper() == "CANCELLED":
        return False
    transp = str(event.get("TRANSP", "")).upper()
    if not isinstance(when(event), dt.datetime):
        return transp == "OPAQUE"
    return transp != "TRANSPARENT"


def describe(
    event: icalendar.Component,
    calendar_name: str,
    person: ZoneInfo,
    master: icalendar.Component | None = None,
) -> dict[str, Any]:
    """An event (or one occurrence) as JSON data for the model; times in the person's zone.

    Args:
        event: The event or occurrence.
        calendar_name: The calendar it is in, as the tools name it.
        person: The person's zone.
        master: The series' main event, for the recurrence in words.
    """
    start, end = bounds(event)
    data: dict[str, Any] = {
        "calendar": calendar_name,
        "uid": str(event.get("UID", "")),
        "summary": str(event.get("SUMMARY", "")),
        "start": _shown(start, person),
        "end": _shown(end, person),
        "all_day": not isinstance(start, dt.datetime),
        "time_zone": start_zone(event),
    }
    for key, name in (("location", "LOCATION"), ("status", "STATUS")):
        if str(event.get(name, "")).strip():
            data[key] = str(event[name])
    description = str(event.get("DESCRIPTION", "")).strip()
    if description:
        data["description"] = description if len(description) <= 500 else description[:499] + "…"
    organizer = addresses(event, "ORGANIZER")
    if organizer:
        data["organizer"] = organizer[0]
    attendees = addresses(event, "ATTENDEE")
    if attendees:
        data["attendees"] = attendees
    words = recurrence_words(master if master is not None else event)
    if words:
        data["recurrence"] = words
    if "RECURRENCE-ID" in event or (master is not None and "RRULE" in master):
        data["occurrence_of_series"] = True
    if not is_busy(event):
        data["busy"] = False
    return data


@dataclass(frozen=True)
class Slot:
    """A stretch of time, aware."""

    start: dt.datetime
    end: dt.datetime


def busy_times(events: list[icalendar.Component], person: ZoneInfo) -> list[Slot]:
    """The times the events take (see :func:`is_busy`), merged and in order."""
    spans = []
    for event in events:
        if not is_busy(event):
            continue
        start, end = bounds(event)
        spans.append(Slot(as_aware(start, person), as_aware(end, person)))
    spans.sort(key=lambda s: s.start)
    merged: list[Slot] = []
    for span in spans:
        if merged and span.start <= merged[-1].end:
            merged[-1] = Slot(merged[-1].start, max(merged[-1].end, span.end))
        else:
            merged.append(span)
    return merged


def free_slots(
    busy: list[Slot],
    start: dt.datetime,
    end: dt.datetime,
    hours: WorkingHours,
    person: ZoneInfo,
    duration: dt.timedelta,
    not_before: dt.datetime,
) -> list[Slot]:
    """The free stretches of at least ``duration`` within working hours between ``start`` and ``end``.

    Each working day's window is taken in the person's zone (so a day across a daylight
    saving change still runs from the local start to the local end), cut to ``start``,
    ``end`` and ``not_before`` (now: nothing in the past is free), minus the busy times.
    """
    slots: list[Slot] = []
    day = start.astimezone(person).date()
    last = end.astimezone(person).date()
    while day <= last:
        if day.weekday() in hours.days:
            opens = max(dt.datetime.combine(day, hours.start, person), start, not_before)
            closes = min(dt.datetime.combine(day, hours.end, person), end)
            cursor = opens
            for span in busy:
                if span.end <= cursor or span.start >= closes:
                    continue
                if span.start - cursor >= duration:
                    slots.append(Slot(cursor, span.start))
                cursor = max(cursor, span.end)
            if closes - cursor >= duration:
                slots.append(Slot(cursor, closes))
        day += dt.timedelta(days=1)
    return slots
