"""Crash safety with real email: ``ensemble run`` sending three messages through Dovecot is
killed with SIGKILL at points of the mission and resumed; every message arrives exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import keyring
import pytest
from _dovecot import MailServer
from _keyring_file import FileKeyring
from test_email_mission import USERS, messages, work_account
from test_resume import finish, mission_id, run_until

from app import accounts
from app.paths import Paths
from app.scripted_model import ScriptedModel, text, tool_call, tool_calls

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


@pytest.mark.parametrize("marker", ["▶ Task", "· email_send", "Done: Send"])
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
