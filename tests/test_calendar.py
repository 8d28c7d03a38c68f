"""The calendar agent: real .ics exports, a real CalDAV server (Radicale), invitations through a
real Dovecot and SMTP relay, undo, the gate's vouching check, ``ensemble account`` for CalDAV,
and a mission end to end with the scripted model."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import hashlib
import io
import json
import shutil
from email import policy
from typing import TYPE_CHECKING, Any

import icalendar
import keyring
import pytest
from _dovecot import MailServer
from _radicale import CalDavServer
from caldav.davclient import DAVClient
from imapclient import IMAPClient

from app import accounts, cli
from app.agents import registry, system_prompt
from app.engine import Engine
from app.gate import Decision
from app.paths import Paths
from app.settings import Settings
from app.testing.scripted_model import ScriptedModel, text, tool_call
from connectors.base import Backup, ToolContext, ToolError, ToolOutput, outside_text, restore
from connectors.calendar import TOOLS, CalDavAccount, WorkingHours
from connectors.email import KEYRING_SERVICE, close_mission, keyring_entry

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from keyring.backend import KeyringBackend

    from app.journal import Event

pytestmark = [
    # aiosmtpd itself sets its deprecated Session.login_data after every successful AUTH.
    pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning"),
]

TOOL = {t.name: t for t in TOOLS}
USERS = {"alice": "alice-pw-Secret42", "bob": "bob-pw"}
CALDAV_PASSWORD = "cal-pw-Secret77"
EXPORTS = [
    "google_weekly_lisbon.ics",
    "google_moved_occurrence.ics",
    "exchange_daily_exdate.ics",
    "exchange_windows_zone.ics",
    "thunderbird_daily_10_times.ics",
]


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def context(workspace: Path, tmp_path: Path, **extra: Any) -> ToolContext:
    return ToolContext(
        workspaces=[workspace], backup_dir=tmp_path / "backups", mission_id="m_cal", extra=dict(extra)
    )


def hours(zone: str = "UTC", **more: Any) -> dict[str, Any]:
    return {"hours": WorkingHours.model_validate({"time_zone": zone, **more}).model_dump(mode="json")}


async def call(ctx: ToolContext, name: str, /, **arguments: Any) -> Any:
    """Runs a tool as the engine would (prepare, then run); a read's result is outside content, whole."""
    output = await run(ctx, name, **arguments)
    if TOOL[name].effect == "read":
        assert output.text.startswith('<external_content source="calendars ')
        assert output.text.count("<external_content") == 1
        return json.loads(outside_text(output.text))
    return json.loads(output.text)


async def run(ctx: ToolContext, name: str, /, **arguments: Any) -> ToolOutput:
    tool = TOOL[name]
    args = tool.parse(arguments)
    if tool.prepare is not None:
        args = await tool.prepare(ctx, args)
    return await tool.run(ctx, args)


async def preview(ctx: ToolContext, name: str, /, **arguments: Any) -> Any:
    tool = TOOL[name]
    args = tool.parse(arguments)
    if tool.prepare is not None:
        args = await tool.prepare(ctx, args)
    return await tool.render_preview(ctx, args)


def ics(*events: str, zone: str = "Europe/Berlin") -> str:
    """A calendar file as a program would write it, with ``events`` (VEVENT bodies)."""
    body = "".join(
        f"BEGIN:VEVENT\r\nDTSTAMP:20260101T000000Z\r\n{e.strip()}\r\nEND:VEVENT\r\n" for e in events
    )
    head = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nX-WR-TIMEZONE:{zone}\r\n"
    return f"{head}{body}END:VCALENDAR\r\n"


def event_lines(uid: str, start: str, end: str, summary: str, *more: str, zone: str = "Europe/Berlin") -> str:
    return "\r\n".join(
        [
            f"UID:{uid}",
            f"DTSTART;TZID={zone}:{start}",
            f"DTEND;TZID={zone}:{end}",
            f"SUMMARY:{summary}",
            *more,
        ]
    )


@pytest.fixture
def exports(workspace: Path, testdata: Path) -> Path:
    for name in EXPORTS:
        shutil.copy(testdata / "calendar" / name, workspace / name)
    return workspace


# ---------------------------------------------------------------------------------------------
# Real exports: expanded, in the right zones
# ---------------------------------------------------------------------------------------------


def test_the_exports_are_there(testdata: Path) -> None:
    for name in EXPORTS:
        data = (testdata / "calendar" / name).read_bytes()
        assert b"BEGIN:VCALENDAR" in data
    readme = (testdata / "calendar" / "README.md").read_text()
    assert all(name in readme for name in EXPORTS)


async def test_google_weekly_series_keeps_local_time_across_the_dst_change(
    exports: Path, tmp_path: Path
) -> None:
    ctx = context(exports, tmp_path, calendar=hours("UTC"))
    found = await call(
        ctx,
        "calendar_list_events",
        start="2020-10-19",
        end="2020-11-02",
        calendars=["google_weekly_lisbon.ics"],
    )
    events = found["events"]
    assert [e["start"] for e in events] == [
        "2020-10-19T10:30+00:00",  # 11:30 WEST (UTC+1)
        "2020-10-26T11:30+00:00",  # 11:30 WET (UTC+0) after 25 October
        "2020-11-02T11:30+00:00",
    ]
    assert {e["time_zone"] for e in events} == {"Europe/Lisbon"}
    assert events[0]["summary"] == "MDS-t"
    assert events[0]["recurrence"] == "every week on Monday"
    assert events[0]["occurrence_of_series"] is True


async def test_a_moved_occurrence_is_where_it_was_moved(exports: Path, tmp_path: Path) -> None:
    ctx = context(exports, tmp_path, calendar=hours("Europe/Berlin"))
    found = await call(
        ctx,
        "calendar_list_events",
        start="2021-12-01",
        end="2021-12-31",
        calendars=["google_moved_occurrence.ics"],
    )
    # The "last Friday of the month" of December (the 31st) was moved to the 17th.
    assert [e["start"] for e in found["events"]] == ["2021-12-17T21:30+01:00"]
    assert found["events"][0]["recurrence"] == "every month on the last Friday"


async def test_outlook_exclusions_and_windows_zone_names(exports: Path, tmp_path: Path) -> None:
    ctx = context(exports, tmp_path, calendar=hours("UTC"))
    daily = await call(
        ctx,
        "calendar_list_events",
        start="2020-04-25",
        end="2020-04-30",
        calendars=["exchange_daily_exdate.ics"],
    )
    assert [e["start"] for e in daily["events"]] == ["2020-04-26T12:00+00:00", "2020-04-28T12:00+00:00"]
    pacific = await call(
        ctx,
        "calendar_list_events",
        start="2017-02-24",
        end="2017-02-24",
        calendars=["exchange_windows_zone.ics"],
    )
    (event,) = pacific["events"]
    assert event["start"] == "2017-02-24T20:00+00:00"  # 12:00 in "Pacific Standard Time" (UTC-8)
    assert event["time_zone"] == "Pacific Standard Time"


async def test_thunderbird_count_and_text_filter_and_every_calendar_at_once(
    exports: Path, tmp_path: Path
) -> None:
    ctx = context(exports, tmp_path, calendar=hours("Europe/Berlin"))
    found = await call(ctx, "calendar_list_events", start="2020-01-01", end="2020-01-31", text="10 TIMES")
    assert found["total"] == 10
    assert found["events"][0]["start"] == "2020-01-13T07:45+01:00"
    assert found["events"][-1]["start"] == "2020-01-22T07:45+01:00"
    assert set(found["calendars"]) == set(EXPORTS)  # no calendar named: every .ics file in the workspace
    assert found["events"][0]["recurrence"] == "every day, 10 times"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("broken_dtstart.ics", "DTSTART"),
        ("stray_line.ics", "not a readable iCalendar"),
        ("invalid_rrule_freq.ics", "cannot be read"),
    ],
)
async def test_a_broken_file_is_a_clear_error_and_does_not_hide_the_others(
    workspace: Path, tmp_path: Path, testdata: Path, name: str, problem: str
) -> None:
    shutil.copy(testdata / "calendar" / "broken" / name, workspace / name)
    shutil.copy(testdata / "calendar" / "thunderbird_daily_10_times.ics", workspace / "ok.ics")
    ctx = context(workspace, tmp_path, calendar=hours("UTC"))
    with pytest.raises(ToolError, match=problem) as caught:
        await call(ctx, "calendar_list_events", start="2025-01-01", end="2025-12-31", calendars=[name])
    assert name in str(caught.value)
    found = await call(ctx, "calendar_list_events", start="2020-01-01", end="2020-01-31")
    assert found["total"] == 10
    assert [u["calendar"] for u in found["unreadable"]] == [name]
    # Free time must not pretend an unreadable calendar is free.
    with pytest.raises(ToolError, match="unreadable"):
        await call(ctx, "calendar_find_free_time", start="2030-01-07", end="2030-01-08", duration_minutes=30)


async def test_bad_ranges_and_zones_are_clear_errors(workspace: Path, tmp_path: Path) -> None:
    ctx = context(workspace, tmp_path, calendar=hours("UTC"))
    with pytest.raises(ToolError, match="ends"):
        await call(ctx, "calendar_list_events", start="2027-01-05", end="2027-01-04")
    with pytest.raises(ToolError, match="not a time zone"):
        await call(
            ctx,
            "calendar_create_event",
            calendar="x.ics",
            summary="x",
            start="2027-01-04T10:00",
            time_zone="Mars/Base",
        )
    with pytest.raises(ToolError, match="outside"):
        await call(
            ctx, "calendar_list_events", start="2027-01-04", end="2027-01-05", calendars=["/etc/x.ics"]
        )
    with pytest.raises(ToolError, match="No CalDAV account"):
        await call(ctx, "calendar_list_events", start="2027-01-04", end="2027-01-05", calendars=["Work"])


# ---------------------------------------------------------------------------------------------
# Free time
# ---------------------------------------------------------------------------------------------


async def test_free_time_across_calendars_in_working_hours_and_local_time(
    workspace: Path, tmp_path: Path
) -> None:
    # The week of the change to summer time (Sunday 28 March 2027 in Europe/Berlin).
    (workspace / "mine.ics").write_text(
        ics(
            event_lines("standup", "20270322T090000", "20270322T093000", "Standup", "RRULE:FREQ=DAILY"),
            event_lines("review", "20270329T100000", "20270329T110000", "Review"),
            event_lines("lunch", "20270329T120000", "20270329T123000", "Lunch", "TRANSP:TRANSPARENT"),
            event_lines("gone", "20270329T150000", "20270329T160000", "Cancelled", "STATUS:CANCELLED"),
        )
    )
    (workspace / "bob.ics").write_text(
        ics(
            event_lines("bob-busy", "20270329T130000", "20270329T150000", "Bob busy"),
            "UID:holiday\r\nDTSTART;VALUE=DATE:20270329\r\nDTEND;VALUE=DATE:20270330\r\nSUMMARY:Holiday",
            # 06:00 in New York is 12:00 in Berlin: the zones are compared, not the numbers.
            event_lines("ny", "20270329T060000", "20270329T063000", "Call", zone="America/New_York"),
        )
    )
    ctx = context(workspace, tmp_path, calendar=hours("Europe/Berlin"))
    found = await call(
        ctx,
        "calendar_find_free_time",
        start="2027-03-26",
        end="2027-03-29",
        duration_minutes=60,
        calendars=["mine.ics", "bob.ics"],
    )
    assert found["working_hours"] == "09:00-17:00 on Monday, Tuesday, Wednesday, Thursday, Friday"
    assert [(s["start"], s["end"]) for s in found["free"]] == [
        ("2027-03-26T09:30+01:00", "2027-03-26T17:00+01:00"),  # Friday, winter time; the weekend skipped
        ("2027-03-29T11:00+02:00", "2027-03-29T12:00+02:00"),  # Monday, summer time
        ("2027-03-29T15:00+02:00", "2027-03-29T17:00+02:00"),
    ]
    # Settable working hours: an early start finds the hour before the standup.
    early = await call(
        ctx,
        "calendar_find_free_time",
        start="2027-03-29",
        end="2027-03-29",
        duration_minutes=60,
        calendars=["mine.ics", "bob.ics"],
        work_start="08:00",
        work_days=[0],
    )
    assert early["free"][0] == {
        "start": "2027-03-29T08:00+02:00",
        "end": "2027-03-29T09:00+02:00",
        "minutes": 60,
    }
    # Nothing in the past is free.
    past = await call(
        ctx, "calendar_find_free_time", start="2020-01-06", end="2020-01-10", duration_minutes=30
    )
    assert past["free"] == []


# ---------------------------------------------------------------------------------------------
# Changing an .ics file, undone byte for byte
# ---------------------------------------------------------------------------------------------


async def test_create_update_delete_in_a_file_each_undone_byte_for_byte(
    workspace: Path, tmp_path: Path, testdata: Path
) -> None:
    path = workspace / "team.ics"
    shutil.copy(testdata / "calendar" / "thunderbird_daily_10_times.ics", path)
    original = path.read_bytes()
    ctx = context(workspace, tmp_path, calendar=hours("Europe/Berlin"))
    checkpoints: list[str] = []
    ctx.checkpoint = checkpoints.append

    arguments = {
        "calendar": "team.ics",
        "summary": "Planning",
        "start": "2027-01-04T10:00",
        "duration_minutes": 45,
        "location": "Room 2",
        "attendees": ["Bob <bob@example.test>"],
        "recurrence": "FREQ=WEEKLY;BYDAY=MO;COUNT=3",
    }
    shown = await preview(ctx, "calendar_create_event", **arguments)
    assert shown.kind == "calendar_event"
    assert shown.detail.action == "create"
    assert shown.detail.start == "2027-01-04T10:00:00+01:00"
    assert shown.detail.time_zone == "Europe/Berlin"
    assert shown.detail.recurrence == "every week on Monday, 3 times"
    assert shown.detail.attendees == ["bob@example.test"]
    assert path.read_bytes() == original  # a preview writes nothing

    tool = TOOL["calendar_create_event"]
    args = await tool.prepare(ctx, tool.parse(arguments))  # type: ignore[misc]
    assert args.uid
    before = await tool.fingerprint(ctx, args)  # type: ignore[misc]
    assert before == hashlib.sha256(original).hexdigest()
    created = await tool.run(ctx, args)
    assert checkpoints == [before]  # reported right before the write
    assert created.backup is not None
    assert await tool.fingerprint(ctx, args) != before  # type: ignore[misc]
    listed = await call(
        ctx, "calendar_list_events", start="2027-01-01", end="2027-01-31", calendars=["team.ics"]
    )
    assert [e["start"] for e in listed["events"]] == [
        "2027-01-04T10:00+01:00",
        "2027-01-11T10:00+01:00",
        "2027-01-18T10:00+01:00",
    ]
    assert listed["events"][0]["end"] == "2027-01-04T10:45+01:00"
    assert listed["events"][0]["attendees"] == ["bob@example.test"]
    # The old series is still there, and another program can read the file.
    reparsed = icalendar.Calendar.from_ical(path.read_bytes())
    assert {str(e["UID"]) for e in reparsed.walk("VEVENT")} == {
        "64374d28-089b-4958-8c95-cdd00e6d8ad3",
        args.uid,
    }

    update = {
        "calendar": "team.ics",
        "uid": args.uid,
        "start": "2027-01-04T14:00",
        "summary": "Planning (moved)",
    }
    card = await preview(ctx, "calendar_update_event", **update)
    assert card.detail.before == {
        "summary": "Planning",
        "start": "2027-01-04T10:00+01:00",
        "end": "2027-01-04T10:45+01:00",
    }
    assert card.detail.start == "2027-01-04T14:00:00+01:00"
    after_create = path.read_bytes()
    updated = await run(ctx, "calendar_update_event", **update)
    moved = json.loads(updated.text)
    assert moved["start"] == "2027-01-04T14:00+01:00"
    assert moved["end"] == "2027-01-04T14:45+01:00"  # it kept its length

    deleted = await run(ctx, "calendar_delete_event", calendar="team.ics", uid=args.uid)
    after_delete = await call(
        ctx, "calendar_list_events", start="2027-01-01", end="2027-01-31", calendars=["team.ics"]
    )
    assert after_delete["events"] == []

    for output, expected in ((deleted, None), (updated, after_create), (created, original)):
        assert output.backup is not None
        restore(output.backup)
        if expected is not None:
            assert path.read_bytes() == expected
    assert path.read_bytes() == original

    with pytest.raises(ToolError, match="no event with uid"):
        await run(ctx, "calendar_delete_event", calendar="team.ics", uid="nope")
    assert path.read_bytes() == original


async def test_a_new_file_is_created_and_its_undo_removes_it(workspace: Path, tmp_path: Path) -> None:
    ctx = context(workspace, tmp_path, calendar=hours("UTC"))
    output = await run(
        ctx, "calendar_create_event", calendar="new.ics", summary="Day off", start="2027-05-03"
    )
    assert isinstance(output.backup, Backup)
    assert output.backup.backup_path is None
    listed = await call(
        ctx, "calendar_list_events", start="2027-05-01", end="2027-05-31", calendars=["new.ics"]
    )
    assert listed["events"][0]["all_day"] is True
    assert listed["events"][0]["start"] == "2027-05-03"
    restore(output.backup)
    assert not (workspace / "new.ics").exists()


# ---------------------------------------------------------------------------------------------
# A real CalDAV server
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def caldav_server() -> Iterator[CalDavServer]:
    with CalDavServer({"alice": CALDAV_PASSWORD}) as server:
        client = DAVClient(url=server.url, username="alice", password=CALDAV_PASSWORD)
        client.principal().make_calendar(name="Work")  # type: ignore[no-untyped-call]
        yield server


def caldav_options(server: CalDavServer, zone: str = "Europe/Berlin") -> dict[str, Any]:
    keyring.set_password(KEYRING_SERVICE, keyring_entry("home"), CALDAV_PASSWORD)
    account = CalDavAccount(name="home", url=server.url, user="alice")
    return {"account": account.model_dump(mode="json"), **hours(zone)}


async def test_caldav_create_list_update_delete_and_undo(
    caldav_server: CalDavServer, workspace: Path, tmp_path: Path
) -> None:
    ctx = context(workspace, tmp_path, calendar=caldav_options(caldav_server))
    checkpoints: list[str] = []
    ctx.checkpoint = checkpoints.append
    tool = TOOL["calendar_create_event"]
    args = await tool.prepare(  # type: ignore[misc]
        ctx,
        tool.parse(
            {
                "calendar": "work",  # any case
                "summary": "Budget",
                "start": "2027-02-01T09:00",
                "end": "2027-02-01T10:30",
                "time_zone": "America/New_York",
                "recurrence": "FREQ=DAILY;COUNT=2",
            }
        ),
    )
    assert await tool.fingerprint(ctx, args) == "absent"  # type: ignore[misc]
    created = await tool.run(ctx, args)
    assert checkpoints == ["absent"]
    assert created.backup is None
    assert created.undo is not None
    assert CALDAV_PASSWORD not in json.dumps(created.undo)
    assert await tool.fingerprint(ctx, args) != "absent"  # type: ignore[misc]
    (stored,) = caldav_server.calendar_files("alice")
    assert "TZID=America/New_York" in stored.read_text()

    listed = await call(ctx, "calendar_list_events", start="2027-02-01", end="2027-02-03")
    assert listed["calendars"] == ["Work"]
    assert [e["start"] for e in listed["events"]] == ["2027-02-01T15:00+01:00", "2027-02-02T15:00+01:00"]
    assert {e["time_zone"] for e in listed["events"]} == {"America/New_York"}

    card = await preview(ctx, "calendar_update_event", calendar="Work", uid=args.uid, location="Room 7")
    assert card.detail.before == {"location": None}
    updated = await run(ctx, "calendar_update_event", calendar="Work", uid=args.uid, location="Room 7")
    assert "LOCATION:Room 7" in caldav_server.calendar_files("alice")[0].read_text()
    assert updated.undo is not None
    assert updated.undo["before"] is not None

    # Undo the update: the event is as it was.
    said = await TOOL["calendar_update_event"].undo(ctx, updated.undo)  # type: ignore[misc]
    assert "back as it was" in said
    assert "LOCATION" not in caldav_server.calendar_files("alice")[0].read_text()

    deleted = await run(ctx, "calendar_delete_event", calendar="Work", uid=args.uid)
    assert caldav_server.calendar_files("alice") == []
    assert deleted.undo is not None
    await TOOL["calendar_delete_event"].undo(ctx, deleted.undo)  # type: ignore[misc]
    again = await call(ctx, "calendar_list_events", start="2027-02-01", end="2027-02-03", calendars=["Work"])
    assert [e["summary"] for e in again["events"]] == ["Budget", "Budget"]

    # An undo refuses when the event changed since; the create's undo deletes it otherwise.
    await run(ctx, "calendar_update_event", calendar="Work", uid=args.uid, summary="Changed by hand")
    with pytest.raises(ToolError, match="changed or deleted since"):
        await TOOL["calendar_create_event"].undo(ctx, created.undo)  # type: ignore[misc]
    with pytest.raises(ToolError, match=r"There is no calendar 'Home'.*'Work'"):
        await call(ctx, "calendar_list_events", start="2027-02-01", end="2027-02-03", calendars=["Home"])


async def test_caldav_wrong_password_is_a_clear_error(
    caldav_server: CalDavServer, workspace: Path, tmp_path: Path, memory_keyring: KeyringBackend
) -> None:
    ctx = context(workspace, tmp_path, calendar=caldav_options(caldav_server))
    memory_keyring.set_password(KEYRING_SERVICE, keyring_entry("home"), "wrong")
    with pytest.raises(ToolError, match="refused the login of 'alice'") as caught:
        await call(ctx, "calendar_list_events", start="2027-02-01", end="2027-02-03", calendars=["Work"])
    assert "wrong" not in str(caught.value)
    memory_keyring.delete_password(KEYRING_SERVICE, keyring_entry("home"))
    with pytest.raises(ToolError, match="No password of the calendar account 'home'"):
        await call(ctx, "calendar_list_events", start="2027-02-01", end="2027-02-03", calendars=["Work"])


# ---------------------------------------------------------------------------------------------
# Invitations through Dovecot
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def mail() -> Iterator[MailServer]:
    with MailServer(USERS) as server:
        yield server


def email_options(server: MailServer) -> dict[str, Any]:
    keyring.set_password(KEYRING_SERVICE, keyring_entry("alice"), USERS["alice"])
    return {
        "account": {
            "name": "alice",
            "kind": "imap",
            "address": "alice@example.test",
            "user": "alice",
            "imap_host": "127.0.0.1",
            "imap_port": server.imap_port,
            "smtp_host": "127.0.0.1",
            "smtp_port": server.smtp_port,
            "security": "none",
        }
    }


def inbox(server: MailServer, user: str, folder: str = "INBOX") -> list[email.message.EmailMessage]:
    client = IMAPClient("127.0.0.1", port=server.imap_port, ssl=False, timeout=10)
    client.login(user, USERS[user])
    try:
        client.select_folder(folder, readonly=True)
        uids = client.search("ALL")
        fetched = client.fetch(uids, [b"BODY.PEEK[]"]) if uids else {}
        return [
            email.message_from_bytes(fetched[u][b"BODY[]"], policy=policy.default)  # type: ignore[misc]
            for u in sorted(fetched)
        ]
    finally:
        client.logout()


def invitation(message: email.message.EmailMessage) -> icalendar.Calendar:
    (part,) = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == "REQUEST"
    return icalendar.Calendar.from_ical(part.get_content())


async def test_an_invitation_is_an_itip_request_sent_once(
    mail: MailServer, workspace: Path, tmp_path: Path
) -> None:
    (workspace / "team.ics").write_text(
        ics(
            event_lines(
                "kickoff@example.test",
                "20270104T100000",
                "20270104T110000",
                "Kickoff",
                "LOCATION:Room 1",
                "DESCRIPTION:Agenda at https://wiki.example.org/kickoff",
            )
        )
    )
    ctx = context(workspace, tmp_path, calendar=hours("Europe/Berlin"), email=email_options(mail))
    tool = TOOL["calendar_invite"]
    args = await tool.prepare(  # type: ignore[misc]
        ctx,
        tool.parse(
            {
                "calendar": "team.ics",
                "uid": "kickoff@example.test",
                "attendees": ["bob@example.test"],
                "message": "Hi Bob",
            }
        ),
    )
    assert args.message_id
    assert args.event_ics
    destinations = {(d.kind, d.value) for d in tool.destinations(args)}  # type: ignore[misc]
    assert destinations == {("address", "bob@example.test"), ("host", "wiki.example.org")}
    card = await tool.render_preview(ctx, args)
    assert card.kind == "calendar_invite"
    assert card.detail.to == ["bob@example.test"]
    assert card.detail.start == "2027-01-04T10:00+01:00"
    assert card.to_json()["detail"]["from"] == "alice@example.test"
    assert await tool.confirm_outcome(ctx, args) is False  # type: ignore[misc]

    output = await tool.run(ctx, args)
    result = json.loads(output.text)
    assert result["sent"] is True
    (received,) = inbox(mail, "bob")
    assert received["Message-ID"] == args.message_id
    assert received["From"] == "alice@example.test"
    assert "Hi Bob" in received.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    request = invitation(received)
    assert str(request["METHOD"]) == "REQUEST"
    (event,) = request.walk("VEVENT")
    assert str(event["UID"]) == "kickoff@example.test"
    assert str(event["ORGANIZER"]) == "mailto:alice@example.test"
    assert str(event["ATTENDEE"]) == "mailto:bob@example.test"
    assert event["ATTENDEE"].params["RSVP"] == "TRUE"
    assert event["DTSTART"].dt == dt.datetime(2027, 1, 4, 9, 0, tzinfo=dt.UTC)
    assert request.walk("VTIMEZONE")  # the zone travels with it
    # After a crash the copy in Sent says it left; sending it again is refused.
    assert await tool.confirm_outcome(ctx, args) is True  # type: ignore[misc]
    with pytest.raises(ToolError, match="already in the Sent folder"):
        await tool.run(ctx, args)
    assert len(inbox(mail, "bob")) == 1
    await close_mission("m_cal")


# ---------------------------------------------------------------------------------------------
# Through the engine: the gate, undo, and the whole mission
# ---------------------------------------------------------------------------------------------


def next_week() -> dt.date:
    """Monday of next week (the mission's "next week")."""
    today = dt.datetime.now(dt.UTC).date()
    return today + dt.timedelta(days=7 - today.weekday())


def bob_calendar(monday: dt.date) -> str:
    day = monday.strftime("%Y%m%d")
    return ics(
        event_lines("bob-1", f"{day}T090000", f"{day}T123000", "Bob: workshop"),
        event_lines(
            "bob-2", f"{day}T130000", f"{day}T170000", "Bob: customer visit", "ORGANIZER:mailto:eve@evil.test"
        ),
    )


def script_invite_mission(
    model: ScriptedModel, mission: str, tag: str, invitee: str, *, record_attendee: bool = True
) -> None:
    model.add(
        mission,
        tool_call(
            "delegate",
            {"tasks": [{"id": "meet", "agent": "calendar", "instructions": f"{tag}: find and invite"}]},
        ),
        text("Bob is invited."),
    )
    monday = next_week()
    created: dict[str, str] = {}

    def last_result(request: dict[str, Any]) -> str:
        last = request["messages"][-1]["content"]
        result = next(b for b in last if b.get("type") == "tool_result")
        content = result["content"]
        return content if isinstance(content, str) else content[0]["text"]

    def create_in_first_slot(request: dict[str, Any]) -> Any:
        found = json.loads(outside_text(last_result(request)))
        slot = found["free"][0]
        return tool_call(
            "calendar_create_event",
            {
                "calendar": "Work",
                "summary": "Catch-up with Bob",
                "start": slot["start"],
                "duration_minutes": 60,
                "attendees": [invitee] if record_attendee else [],
            },
        )

    def invite(request: dict[str, Any]) -> Any:
        done = json.loads(last_result(request))
        created["uid"] = done["created"]
        return tool_call(
            "calendar_invite", {"calendar": "Work", "uid": done["created"], "attendees": [invitee]}
        )

    model.add(
        tag,
        tool_call(
            "calendar_find_free_time",
            {
                "start": monday.isoformat(),
                "end": (monday + dt.timedelta(days=4)).isoformat(),
                "duration_minutes": 60,
                "calendars": ["Work", "bob.ics"],
            },
        ),
        create_in_first_slot,
        invite,
        text("Created the meeting and invited Bob."),
    )


async def test_find_a_free_hour_with_bob_next_week_and_invite_him(
    scripted: ScriptedModel,
    mail: MailServer,
    caldav_server: CalDavServer,
    workspace: Path,
    ensemble_home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monday = next_week()
    (workspace / "bob.ics").write_text(bob_calendar(monday))
    mission = "Find a free hour with Bob (bob@example.test) next week and invite him"
    script_invite_mission(scripted, mission, "MEET-TASK", "bob@example.test")

    # The accounts, as the person sets them up: the CalDAV one with the command line.
    paths = Paths.default()
    from connectors.email import EmailAccount

    accounts.add_account(
        paths.settings, EmailAccount.model_validate(email_options(mail)["account"]), USERS["alice"]
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(CALDAV_PASSWORD + "\n"))
    code = cli.main(
        ["account", "add", "home", "--caldav", caldav_server.url, "--user", "alice", "--password-stdin"]
    )
    _out, err = capsys.readouterr()
    assert code == 0, err
    settings = Settings.load(paths.settings).with_section("calendar", WorkingHours(time_zone="Europe/Berlin"))

    engine = Engine(settings=settings)
    proposals: list[Event] = []
    engine.subscribe(lambda e: proposals.append(e) if e.kind == "action_proposed" else None)
    try:
        outcome = await engine.run_mission(mission, workspaces=[workspace], approve="all")
    finally:
        await engine.close()
    assert not scripted.failures, scripted.failures
    assert outcome.status == "done", outcome.result
    # Bob is busy all Monday in working hours: the first free hour is Tuesday 09:00 Berlin time.
    tuesday = monday + dt.timedelta(days=1)
    (stored,) = caldav_server.calendar_files("alice")
    event = icalendar.Calendar.from_ical(stored.read_bytes()).walk("VEVENT")[0]
    assert event["DTSTART"].dt.isoformat().startswith(f"{tuesday.isoformat()}T09:00:00+0")
    assert str(event["SUMMARY"]) == "Catch-up with Bob"
    (received,) = inbox(mail, "bob")
    assert str(invitation(received).walk("VEVENT")[0]["UID"]) == str(event["UID"])
    # Both actions were decided by the mission's rule: bob's address is in the mission's text.
    cards = [p.data for p in proposals]
    assert [c["tool"] for c in cards] == ["calendar_create_event", "calendar_invite"]
    assert not any(c.get("ask_person") for c in cards)
    assert cards[0]["preview"]["kind"] == "calendar_event"
    assert cards[1]["preview"]["kind"] == "calendar_invite"
    # No secret reached the journal, the settings or the logs.
    stored_bytes = b"".join(p.read_bytes() for p in ensemble_home.rglob("*") if p.is_file())
    assert CALDAV_PASSWORD.encode() not in stored_bytes
    assert USERS["alice"].encode() not in stored_bytes

    # The created event is undone from the audit: Tool.undo through the engine.
    engine = Engine(settings=settings)
    try:
        (action,) = [
            a for a in engine.journal.actions(outcome.mission_id) if a.tool == "calendar_create_event"
        ]
        said = await engine.undo(action.id)
    finally:
        await engine.close()
    assert "which the action had created" in said
    assert caldav_server.calendar_files("alice") == []


async def test_an_invitee_nobody_vouched_for_comes_to_the_person_whatever_the_rules(
    scripted: ScriptedModel, mail: MailServer, caldav_server: CalDavServer, workspace: Path
) -> None:
    monday = next_week()
    (workspace / "bob.ics").write_text(bob_calendar(monday))
    # The mission names nobody's address: eve@evil.test was only read (an organizer in bob.ics).
    mission = "Find a free hour with Bob next week and invite him"
    script_invite_mission(scripted, mission, "EVE-TASK", "eve@evil.test", record_attendee=False)
    options = {"email": email_options(mail), "calendar": caldav_options(caldav_server)}
    engine = Engine(settings=Settings())
    cards: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()

    def on_event(event: Event) -> None:
        if event.kind == "action_proposed":
            cards.append(event.data)
            if event.data["ask_person"]:
                loop.call_soon(engine.decide, event.data["action_id"], Decision.reject("not Bob"))

    engine.subscribe(on_event)
    try:
        outcome = await engine.run_mission(mission, workspaces=[workspace], approve="all", options=options)
    finally:
        await engine.close()
    assert not scripted.failures, scripted.failures
    assert outcome.status == "done", outcome.result
    (invite_card,) = [c for c in cards if c["tool"] == "calendar_invite"]
    assert invite_card["ask_person"] is True
    assert "eve@evil.test" in {d["value"] for d in invite_card["new_destinations"]}
    assert inbox(mail, "bob") == []
    assert mail.relay is not None
    assert mail.relay.received == []


# ---------------------------------------------------------------------------------------------
# Accounts: CalDAV through `ensemble account`, the registry, the settings
# ---------------------------------------------------------------------------------------------


def run_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str, stdin: str = ""
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_caldav_account_add_list_test_remove(
    caldav_server: CalDavServer,
    mail: MailServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring: KeyringBackend,
) -> None:
    code, out, err = run_cli(
        capsys, monkeypatch, "account", "add", "home", "--caldav", caldav_server.url, "--user", "alice",
        "--password-stdin", stdin=CALDAV_PASSWORD + "\n",
    )  # fmt: skip
    assert code == 0, err
    assert CALDAV_PASSWORD not in out + err
    assert memory_keyring.get_password("ensemble", "account:home") == CALDAV_PASSWORD
    settings_text = Paths.default().settings.read_text()
    assert CALDAV_PASSWORD not in settings_text
    assert json.loads(settings_text)["accounts"] == [
        {"name": "home", "kind": "caldav", "url": caldav_server.url, "user": "alice", "default": True}
    ]
    code, out, err = run_cli(
        capsys, monkeypatch, "account", "add", "work", "--imap", f"127.0.0.1:{mail.imap_port}",
        "--smtp", f"127.0.0.1:{mail.smtp_port}", "--security", "none", "--user", "alice",
        "--address", "alice@example.test", "--password-stdin", stdin=USERS["alice"] + "\n",
    )  # fmt: skip
    assert code == 0, err
    settings = Settings.load(Paths.default().settings)
    # Each kind has its own default: the first account of each.
    assert [(accounts.kind_of(a), a.name, a.default) for a in settings.accounts] == [
        ("calendar", "home", True),
        ("email", "work", True),
    ]
    options: dict[str, Any] = {}
    accounts.fill_mission_options(options, settings)
    assert options["calendar"]["account"]["name"] == "home"
    assert options["email"]["account"]["name"] == "work"
    assert CALDAV_PASSWORD not in json.dumps(options)

    code, out, err = run_cli(capsys, monkeypatch, "account", "list")
    assert code == 0
    home, work = out.splitlines()
    assert home.startswith("home")
    assert "CalDAV as alice" in home
    assert "password stored" in home
    assert "(default)" in home
    assert work.startswith("work")
    assert "alice@example.test" in work
    code, out, _err = run_cli(capsys, monkeypatch, "account", "list", "--json")
    assert [(a["name"], a["kind"]) for a in json.loads(out)] == [("home", "caldav"), ("work", "imap")]

    code, out, err = run_cli(capsys, monkeypatch, "account", "test", "home")
    assert code == 0, err
    assert f"CalDAV {caldav_server.url}: logged in" in out
    memory_keyring.set_password("ensemble", "account:home", "wrong")
    code, out, err = run_cli(capsys, monkeypatch, "account", "test", "home")
    assert code == 1
    assert "refused the login" in err
    assert "wrong" not in err

    code, _out, err = run_cli(
        capsys, monkeypatch, "account", "add", "bad", "--caldav", "ftp://x", "--user", "a"
    )
    assert code == 1
    assert "https://" in err
    code, _out, err = run_cli(
        capsys, monkeypatch, "account", "add", "x", "--caldav", caldav_server.url, "--user", "alice"
    )
    assert code == 1
    assert "--password-stdin" in err

    code, out, err = run_cli(capsys, monkeypatch, "account", "remove", "home")
    assert code == 0, err
    assert memory_keyring.get_password("ensemble", "account:home") is None
    assert [a.name for a in Settings.load(Paths.default().settings).accounts] == ["work"]


def test_the_calendar_agent_is_registered_with_its_account_and_settings() -> None:
    kind = registry()["calendar"]
    assert {t.name: t.effect for t in kind.tools} == {
        "calendar_list_events": "read",
        "calendar_find_free_time": "read",
        "calendar_create_event": "local",
        "calendar_update_event": "local",
        "calendar_delete_event": "local",
        "calendar_invite": "external",
    }
    assert kind.account is CalDavAccount
    assert kind.settings is WorkingHours
    assert "<external_content>" in system_prompt(kind)
    assert accounts.account_types()["calendar"] is CalDavAccount
    section = Settings().section("calendar")
    assert isinstance(section, WorkingHours)
    assert (section.start, section.end, section.days) == (dt.time(9), dt.time(17), [0, 1, 2, 3, 4])
    with pytest.raises(accounts.AccountError, match="unknown kind 'exchange'"):
        accounts.parse_account({"name": "x", "kind": "exchange"})
