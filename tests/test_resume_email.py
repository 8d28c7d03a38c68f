"""Crash safety with real email: ``ensemble run`` sending three messages through Dovecot is
killed with SIGKILL at points of the mission and resumed; every message arrives exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import keyring
import pytest
from _dovecot import MailServer
from _keyring_file import FileKeyring
from test_email_mission import USERS, messages, work_account
from test_resume import finish, mission_id, run_until, spawn

from app import accounts
from app.paths import Paths
from app.testing.scripted_model import ScriptedModel, text, tool_call, tool_calls

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.filterwarnings(
    # aiosmtpd's own SMTP server reads its deprecated Session.login_data on every login.
    "ignore:.*login_data.*:DeprecationWarning"
)

MISSION = "Send the three payment notices to bob@example.test"
SUBJECTS = ["Notice 1", "Notice 2", "Notice 3"]


@pytest.fixture
def mail() -> Iterator[MailServer]:
    with MailServer(USERS) as server:
        yield server


@pytest.fixture
def shared_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A keyring this process and the ``ensemble`` child processes both see."""
    monkeypatch.setenv("ENSEMBLE_TEST_KEYRING", str(tmp_path / "keyring.json"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "_keyring_file.FileKeyring")
    tests = str(Path(__file__).parent)
    monkeypatch.setenv("PYTHONPATH", tests)
    previous = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())
    yield
    keyring.set_keyring(previous)


def script(model: ScriptedModel) -> None:
    model.add(
        MISSION,
        tool_call(
            "delegate", {"tasks": [{"id": "send", "agent": "email", "instructions": "NOTICE-TASK: send"}]}
        ),
        text("All three notices are sent."),
    )
    model.add(
        "NOTICE-TASK",
        tool_calls(
            *(
                ("email_send", {"to": ["bob@example.test"], "subject": s, "body": f"{s}: paid."})
                for s in SUBJECTS
            )
        ),
        text("Sent the three notices."),
    )


@pytest.mark.parametrize("marker", ["▶ Task", "· Send an email", "Done: Send"])
def test_a_killed_mission_sends_every_message_exactly_once_after_resume(
    scripted: ScriptedModel, mail: MailServer, workspace: Path, shared_keyring: None, marker: str
) -> None:
    accounts.add_account(Paths.default().settings, work_account(mail), USERS["alice"])
    script(scripted)

    run_until(marker, "run", MISSION, "-w", str(workspace))
    result = finish(mission_id())

    assert result["status"] == "done", result
    received = sorted(m["Subject"] for m in messages(mail, "bob"))
    assert received == SUBJECTS, "every notice arrives, and none twice"
    assert sorted(m["Subject"] for m in messages(mail, "alice", "Sent")) == SUBJECTS


def test_a_kill_after_the_server_took_the_message_never_sends_it_twice(
    scripted: ScriptedModel, mail: MailServer, workspace: Path, shared_keyring: None
) -> None:
    """SIGKILL once the SMTP server has the first notice and before Ensemble heard back.

    Before, the Sent copy was stored after SMTP, so after this kill no copy was found, the
    send was called "did not happen", and ``resume --approve all`` sent it again. Now its copy
    was stored first, marked pending: the outcome is unknown, so only the person may release it
    (no rule, no --approve all); with nobody at the terminal it is not sent again.
    """
    accounts.add_account(Paths.default().settings, work_account(mail), USERS["alice"])
    script(scripted)
    process = spawn("run", MISSION, "-w", str(workspace))
    assert mail.relay is not None

    def kill_once() -> None:
        mail.relay.after_delivery = None  # type: ignore[union-attr]
        os.kill(process.pid, signal.SIGKILL)

    mail.relay.after_delivery = kill_once
    try:
        process.communicate(timeout=120)
    finally:
        mail.relay.after_delivery = None
    assert process.returncode == -9
    assert [m["Subject"] for m in messages(mail, "bob")] == ["Notice 1"]

    result = finish(mission_id())

    assert result["status"] == "done", result
    assert sorted(m["Subject"] for m in messages(mail, "bob")) == SUBJECTS, "Notice 1 is not sent twice"
    audit = subprocess.run(
        [sys.executable, "-m", "app.cli", "audit", result["mission_id"], "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    events = json.loads(audit.stdout)
    unknown = [e for e in events if e["kind"] == "action_outcome_unknown"]
    assert len(unknown) == 1
    asked = [e for e in events if e["kind"] == "action_decided" and e["data"]["decided_by"] == "person"]
    assert [e["data"]["reason"] for e in asked] == ["no decision: standard input closed"]
