"""A CalDAV server through the :mod:`caldav` library: its calendars, their events, and changes.

Blocking: the tools run it in a worker thread. One :class:`Server` is made per call (CalDAV
is plain HTTP, so there is no session to keep). Every failure becomes a :class:`ToolError`
that says what was tried and whether anything changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from caldav.calendarobjectresource import Event
from caldav.davclient import DAVClient
from caldav.lib.error import DAVError, NotFoundError

from connectors.base import ToolError

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable

    from connectors.calendar._account import CalDavAccount

TIMEOUT = 30
"""Seconds before one request to the server is given up."""

T = TypeVar("T")


class Server:
    """The calendars of one CalDAV account.

    Args:
        account: The account (its URL and user name).
        password: Its password from the keyring ("" for a server that asks for none).
    """

    def __init__(self, account: CalDavAccount, password: str) -> None:
        self.account = account
        self._client = DAVClient(
            url=account.url,
            username=account.user or None,
            password=password or None,
            timeout=TIMEOUT,
        )
        self._calendars: list[tuple[str, Any]] | None = None

    def _do(self, what: str, work: Callable[[], T]) -> T:
        try:
            return work()
        except DAVError as exc:
            reason = getattr(exc, "reason", "") or str(exc)
            if "401" in str(exc) or "Unauthorized" in str(exc) or "AuthorizationError" in type(exc).__name__:
                raise ToolError(
                    f"The CalDAV server {self.account.url} refused the login of '{self.account.user}' while "
                    f"trying to {what}; check the password. Nothing was changed."
                ) from exc
            raise ToolError(f"The CalDAV server {self.account.url} could not {what}: {reason}.") from exc
        except OSError as exc:
            raise ToolError(
                f"Cannot reach the CalDAV server {self.account.url} to {what}: {exc}. Nothing was changed."
            ) from exc

    def calendars(self) -> list[tuple[str, Any]]:
        """The account's calendars as ``(display name, calendar)`` pairs, in the server's order."""
        if self._calendars is None:

            def work() -> list[tuple[str, Any]]:
                principal = self._client.principal()  # type: ignore[no-untyped-call]
                found = []
                for calendar in principal.calendars():
                    name = calendar.get_display_name() or str(calendar.url).rstrip("/").rsplit("/", 1)[-1]
                    found.append((str(name), calendar))
                return found

            self._calendars = self._do("list the calendars", work)
        return self._calendars

    def calendar_names(self) -> list[str]:
        """The display names of the account's calendars."""
        return [name for name, _calendar in self.calendars()]

    def calendar(self, name: str) -> Any:
        """The calendar of that display name (any case) or URL.

        Raises:
            ToolError: There is none; the message lists the calendars there are.
        """
        for shown, calendar in self.calendars():
            if name.casefold() in (shown.casefold(), str(calendar.url).casefold()):
                return calendar
        names = ", ".join(f"'{n}'" for n in self.calendar_names()) or "none"
        raise ToolError(
            f"There is no calendar '{name}' on {self.account.url} (calendars: {names}); a file in the "
            "workspace is named by its path ending in .ics."
        )

    def search(self, name: str, start: dt.datetime, end: dt.datetime) -> list[str]:
        """The iCalendar texts of the objects with an event between ``start`` and ``end``
        (the server filters, recurrences included; they are expanded here)."""
        calendar = self.calendar(name)
        found = self._do(
            f"search the calendar '{name}'",
            lambda: calendar.search(start=start, end=end, event=True, expand=False),
        )
        return [str(item.data) for item in found]

    def get(self, name: str, uid: str) -> tuple[str, str] | None:
        """The URL and iCalendar text of the object holding the event ``uid``, or None."""
        calendar = self.calendar(name)

        def work() -> tuple[str, str] | None:
            try:
                found = calendar.event_by_uid(uid)
            except NotFoundError:
                return None
            return str(found.url), str(found.data)

        return self._do(f"read the event {uid} in '{name}'", work)

    def put(self, name: str, text: str, url: str | None = None) -> str:
        """Stores an object (a new one, or the one at ``url``); returns its URL."""
        calendar = self.calendar(name)

        def work() -> str:
            if url is None:
                return str(calendar.add_event(text).url)
            event = Event(client=self._client, url=url, data=text, parent=calendar)
            event.save()
            return str(event.url)

        return self._do(f"save the event in '{name}'", work)

    def delete(self, name: str, url: str) -> None:
        """Deletes the object at ``url``."""
        calendar = self.calendar(name)
        self._do(
            f"delete the event in '{name}'",
            lambda: Event(client=self._client, url=url, parent=calendar).delete(),
        )
