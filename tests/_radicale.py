"""A real CalDAV server (Radicale) on 127.0.0.1, for the calendar tests.

:class:`CalDavServer` runs ``python -m radicale`` from this virtual environment with a
configuration in a private folder: calendars stored as files there, logins checked against
an htpasswd file (plain passwords, as Radicale's ``htpasswd`` auth allows), listening on a
free loopback port. It is ready once the port accepts connections (polled, bounded).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from _dovecot import free_port, wait_for_port


@dataclass
class CalDavServer:
    """Radicale, with one user per entry of ``users``; use as a context manager.

    Attributes:
        users: ``{user: password}``.
        port: The port it listens on, once started.
        root: Its private folder (configuration, htpasswd, collections, log).
    """

    users: dict[str, str]
    port: int = field(init=False, default=0)
    root: Path = field(init=False)
    _process: subprocess.Popen[bytes] | None = field(init=False, default=None)

    @property
    def url(self) -> str:
        """The server's base address, e.g. ``http://127.0.0.1:5232/``."""
        return f"http://127.0.0.1:{self.port}/"

    def __enter__(self) -> CalDavServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ensemble-radicale-"))
        (self.root / "users").write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))
        self.port = free_port()
        config = self.root / "config"
        config.write_text(
            f"""[server]
hosts = 127.0.0.1:{self.port}

[auth]
type = htpasswd
htpasswd_filename = {self.root / "users"}
htpasswd_encryption = plain
delay = 0

[storage]
filesystem_folder = {self.root / "collections"}

[logging]
level = warning
"""
        )
        log = (self.root / "radicale.log").open("wb")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        try:
            wait_for_port(self.port, self._process)
        except RuntimeError as exc:
            log_text = self.log()
            self.stop()
            raise RuntimeError(f"Radicale did not start ({exc}):\n{log_text}") from exc

    def log(self) -> str:
        path = self.root / "radicale.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        shutil.rmtree(self.root, ignore_errors=True)

    def calendar_files(self, user: str) -> list[Path]:
        """The event files Radicale keeps for ``user`` (what is really on the server's disk)."""
        folder = self.root / "collections" / "collection-root" / user
        # Radicale keeps caches in hidden folders beside the items.
        return sorted(p for p in folder.rglob("*.ics") if not any(part.startswith(".") for part in p.parts))
