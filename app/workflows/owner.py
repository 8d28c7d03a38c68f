"""One process runs the schedules and triggers of an Ensemble home, and others can say which.

The owner holds an operating-system lock on ``schedules.lock`` in the home's data folder
(:mod:`filelock`; the system frees it when the process ends, even killed) and leaves a note
beside it, ``schedules.owner.json``: its process id, what it is (``window`` or ``service``),
since when and on which computer. A second process that tries gets
:class:`~app.api.workflows.SchedulesOwnedElsewhere`, whose message names the owner from that
note.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from app.api.workflows import SchedulesOwnedElsewhere

if TYPE_CHECKING:
    from pathlib import Path

    from app.paths import Paths

log = logging.getLogger(__name__)

LOCK_NAME = "schedules.lock"
NOTE_NAME = "schedules.owner.json"

_WHAT = {"window": "Ensemble's window", "service": "Ensemble's service"}


@dataclass(frozen=True)
class OwnerNote:
    """Who owns the schedules, as the owner wrote it.

    Attributes:
        pid: Its process id.
        what: ``window``, ``service`` (or another word for another kind of process).
        since: When it took them (UTC).
        host: The computer's name.
    """

    pid: int
    what: str
    since: dt.datetime
    host: str

    def describe(self) -> str:
        """ "Ensemble's service (process 1234, since 09:12)"."""
        who = _WHAT.get(self.what, f"An Ensemble {self.what}")
        local = self.since.astimezone()
        today = dt.datetime.now().astimezone().date()
        when = f"{local:%H:%M}" if local.date() == today else f"{local:%Y-%m-%d %H:%M}"
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        return f"{who} (process {self.pid}{where}, since {when})"


def read_note(paths: Paths) -> OwnerNote | None:
    """The owner's note, or None if there is none or it cannot be read."""
    try:
        data = json.loads((paths.data_dir / NOTE_NAME).read_text(encoding="utf-8"))
        return OwnerNote(
            pid=int(data["pid"]),
            what=str(data["what"]),
            since=dt.datetime.fromisoformat(str(data["since"])),
            host=str(data.get("host", "")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def owned_elsewhere(note: OwnerNote | None) -> SchedulesOwnedElsewhere:
    """The error for a process that cannot take the schedules, naming who has them."""
    who = note.describe() if note is not None else "Another Ensemble process"
    return SchedulesOwnedElsewhere(
        f"{who} runs the schedules and triggers of this Ensemble home; scheduled workflows run "
        "there. To run them here instead, quit that window (Quit in its tray menu), or stop the "
        "service (Ctrl+C in its terminal, or systemctl --user stop ensemble)."
    )


class ScheduleOwner:
    """This process's claim on the schedules of one Ensemble home.

    Args:
        paths: The Ensemble home (its data folder holds the lock and the note).
        what: What this process is: ``window`` or ``service``.
    """

    def __init__(self, paths: Paths, what: str = "window") -> None:
        self.paths = paths
        self.what = what
        self._lock = FileLock(self.lock_path, blocking=False, thread_local=False)

    @property
    def lock_path(self) -> Path:
        """The lock file."""
        return self.paths.data_dir / LOCK_NAME

    @property
    def note_path(self) -> Path:
        """The owner's note."""
        return self.paths.data_dir / NOTE_NAME

    @property
    def owned(self) -> bool:
        """Whether this process holds the schedules now."""
        return self._lock.is_locked

    def acquire(self) -> None:
        """Takes the schedules (at once, never waiting), and writes the note.

        Raises:
            SchedulesOwnedElsewhere: Another process (or another engine in this one) has them.
        """
        if self.owned:
            return
        self.paths.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(blocking=False)
        except Timeout:
            raise owned_elsewhere(read_note(self.paths)) from None
        note = {
            "pid": os.getpid(),
            "what": self.what,
            "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "host": socket.gethostname(),
        }
        temporary = self.note_path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(note), encoding="utf-8")
        os.replace(temporary, self.note_path)

    def release(self) -> None:
        """Gives the schedules up (nothing if this process does not hold them)."""
        if not self.owned:
            return
        try:
            self.note_path.unlink(missing_ok=True)
        except OSError as exc:  # pragma: no cover - a read-only home
            log.warning("Could not remove %s: %s", self.note_path, exc)
        self._lock.release(force=True)


__all__ = ["LOCK_NAME", "NOTE_NAME", "OwnerNote", "ScheduleOwner", "owned_elsewhere", "read_note"]
