"""The previews the calendar agent's tools render: one typed model per kind."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from connectors.base import PreviewDetail

EventAction = Literal["create", "update", "delete"]
"""What a change does to an event."""


class EventDetail(PreviewDetail):
    """An event to create, change or delete, as it will be.

    Attributes:
        action: ``create``, ``update`` or ``delete``.
        calendar: The calendar: a file in the workspace (``team.ics``) or a calendar on the
            CalDAV account (``Work``).
        uid: The event's UID.
        summary: Its title.
        start: When it starts, ISO 8601 in the event's zone (a date for an all-day event).
        end: When it ends, likewise.
        time_zone: The event's zone (``Europe/Berlin``), ``UTC``, ``floating`` or ``all day``.
        location: Where.
        attendees: The attendees' addresses.
        recurrence: How it repeats, in words (``"every week on Monday, 4 times"``), or None.
        description: Its notes.
        before: For an update, the values it changes as they were (``{"start": "..."}``).
    """

    kind: ClassVar[str] = "calendar_event"

    action: EventAction = "create"
    calendar: str = ""
    uid: str = ""
    summary: str = ""
    start: str = ""
    end: str = ""
    time_zone: str = ""
    location: str = ""
    attendees: list[str] = Field(default_factory=list)
    recurrence: str | None = None
    description: str = ""
    before: dict[str, Any] | None = None


class InviteDetail(PreviewDetail):
    """An invitation (an iTIP REQUEST) to send by email, exactly as it will go.

    Attributes:
        sender: The email account's address, the organizer (``"from"`` in JSON).
        to: The invitees.
        subject: The email's subject.
        body: The email's text.
        message_id: The Message-ID it will carry (fixed before approval).
        calendar: The calendar the event is in.
        uid: The event's UID.
        summary, start, end, time_zone, location, recurrence: The event, as in
            :class:`EventDetail`.
    """

    kind: ClassVar[str] = "calendar_invite"

    sender: str = Field(default="", alias="from")
    to: list[str] = Field(default_factory=list)
    subject: str = ""
    body: str = ""
    message_id: str | None = None
    calendar: str = ""
    uid: str = ""
    summary: str = ""
    start: str = ""
    end: str = ""
    time_zone: str = ""
    location: str = ""
    recurrence: str | None = None


PREVIEWS: tuple[type[PreviewDetail], ...] = (EventDetail, InviteDetail)
"""Every preview kind of the calendar agent besides plain text."""
