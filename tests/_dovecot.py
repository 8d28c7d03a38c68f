"""A real Dovecot (IMAP and LMTP) and an SMTP server that relays into it, on 127.0.0.1.

Tests and the email benchmark start :class:`MailServer`: Dovecot runs in the foreground
with a configuration in a private folder (plain authentication from a passwd-file, no TLS,
listeners on free loopback ports), and an aiosmtpd server takes SMTP submissions and
delivers each recipient's copy into Dovecot over LMTP, so a sent message arrives in the
recipient's real mailbox and a test reads it back over IMAP.
"""

from __future__ import annotations

import os
import pwd
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiosmtpd.smtp import SMTP, Envelope, Session

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None = None, timeout: float = 15.0) -> None:
    """Polls until ``port`` accepts connections; bounded, and fails early if the server died."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"Dovecot exited with {process.returncode} before listening") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"Nothing listens on 127.0.0.1:{port} after {timeout} s") from None
            time.sleep(0.02)


class _LmtpRelay:
    """aiosmtpd handler: delivers each accepted message into Dovecot over LMTP."""

    def __init__(self, lmtp_port: int) -> None:
        self.lmtp_port = lmtp_port
        self.received: list[tuple[str, list[str], bytes]] = []
        self.after_delivery: Callable[[], None] | None = None
        """Called once a message is delivered, before the sender hears "250": a test may kill
        the sender there, in the window where the message has left but the sender cannot know."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.received.append((str(envelope.mail_from), list(envelope.rcpt_tos), content))
        # One LMTP transaction per recipient: LMTP answers DATA once per recipient, which
        # smtplib's sendmail does not read.
        for recipient in envelope.rcpt_tos:
            with smtplib.LMTP("127.0.0.1", self.lmtp_port) as lmtp:
                lmtp.sendmail(str(envelope.mail_from), [recipient], content)
        if self.after_delivery is not None:
            self.after_delivery()
        return "250 Message accepted for delivery"


@dataclass
class MailServer:
    """Dovecot plus an SMTP relay; use as a context manager.

    Attributes:
        users: ``{user: password}``; each user's address is ``user@example.test`` and the
            IMAP login is the bare user name.
    """

    users: dict[str, str]
    root: Path = field(init=False)
    imap_port: int = field(init=False, default=0)
    lmtp_port: int = field(init=False, default=0)
    smtp_port: int = field(init=False, default=0)
    _process: subprocess.Popen[bytes] | None = field(init=False, default=None)
    _smtp: Controller | None = field(init=False, default=None)
    relay: _LmtpRelay | None = field(init=False, default=None)

    def __enter__(self) -> MailServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        # The private folder must be reachable by the unprivileged user Dovecot's mail
        # processes run as, so it is not pytest's 0700 tmp_path.
        self.root = Path(tempfile.mkdtemp(prefix="ensemble-dovecot-"))
        self.root.chmod(0o755)
        if os.geteuid() == 0:
            account = pwd.getpwnam("nobody")
            login_user, uid, gid = "nobody", account.pw_uid, account.pw_gid
        else:
            account = pwd.getpwuid(os.geteuid())
            login_user, uid, gid = account.pw_name, account.pw_uid, account.pw_gid
        mail = self.root / "mail"
        mail.mkdir()
        os.chown(mail, uid, gid)
        (self.root / "passwd").write_text(
            "".join(f"{user}:{{PLAIN}}{password}::::::\n" for user, password in self.users.items())
        )
        self.imap_port, self.lmtp_port = free_port(), free_port()
        conf = self.root / "dovecot.conf"
        conf.write_text(
            f"""
protocols = imap lmtp
listen = 127.0.0.1
base_dir = {self.root}/run
state_dir = {self.root}/state
instance_name = ensemble-test-{self.imap_port}
log_path = {self.root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {login_user}
first_valid_uid = {min(uid, 500)}
mail_uid = {uid}
mail_gid = {gid}
mail_location = maildir:{mail}/%n
mail_fsync = never
lmtp_save_to_detail_mailbox = no
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {self.root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/%n
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.lmtp_port}
  }}
  unix_listener lmtp {{
    mode = 0600
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0600
  }}
  unix_listener stats-writer {{
    mode = 0600
  }}
}}
"""
        )
        self._process = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdin=subprocess.DEVNULL)
        try:
            wait_for_port(self.imap_port, self._process)
            wait_for_port(self.lmtp_port, self._process)
        except RuntimeError:
            self.stop()
            raise
        self.relay = _LmtpRelay(self.lmtp_port)
        self.smtp_port = free_port()
        self._smtp = Controller(
            self.relay,
            hostname="127.0.0.1",
            port=self.smtp_port,
            authenticator=self._authenticate,
            auth_require_tls=False,
        )
        self._smtp.start()

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode()
            if self.users.get(user.split("@")[0]) == auth_data.password.decode():
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        shutil.rmtree(self.root, ignore_errors=True)

    def deliver(self, recipient: str, message: bytes) -> None:
        """Delivers a message into ``recipient``'s INBOX over LMTP, as a mail server would."""
        with smtplib.LMTP("127.0.0.1", self.lmtp_port) as lmtp:
            lmtp.sendmail("sender@example.test", [recipient], message)
