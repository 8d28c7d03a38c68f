"""A worker killed (SIGKILL) while it sends a mission's email, with a second worker running: the
second worker finishes the mission and every email arrives exactly once (issue 19).

Two real ``ensemble worker`` processes poll one task queue; the mission sends three notices
through a real SMTP relay into Dovecot, approved by a rule. The relay's delivery of a notice
is the event the test waits on: the message is in Bob's mailbox, and the worker that sent it
has not heard "250" yet. The test finds that worker (the pending ``ensemble_execute``
activity's worker identity), kills it there, and lets the relay answer. The survivor takes the
activity over after its heartbeat timeout, finds the message's copy in Sent still marked
pending (it cannot know whether the message left), and gives the card back to the person with
that warning; no rule may release it. The person sees the message arrived and rejects the
resend; the other notices go out once each.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keyring
import pytest
from _backends import wait_for
from _dovecot import MailServer
from _keyring_file import FileKeyring
from temporalio.api.history.v1 import History
from temporalio.client import Client
from test_email_mission import USERS, messages, work_account
from test_temporal_worker_kill import WorkerProcess, started_attempts

from app import accounts
from app.paths import Paths
from app.settings import Settings
from app.temporal._shapes import Card, DecisionInput, RuleData
from app.temporal.client import cards, decide, events, mission_input, pending, start_mission
from app.testing.scripted_model import ScriptedModel, text, tool_call, tool_calls

if TYPE_CHECKING:
    from collections.abc import Iterator

    from _temporal import DevServer
    from temporalio.client import WorkflowHandle

pytestmark = [
    pytest.mark.slow,
    # aiosmtpd itself sets its deprecated Session.login_data after every successful AUTH.
    pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning"),
]

MISSION = "Send the three payment notices to bob@example.test"
SUBJECTS = ["Notice 1", "Notice 2", "Notice 3"]
HEARTBEAT_SECONDS = 5.0
"""How soon the server gives a dead worker's activity to the other worker."""


def script(model: ScriptedModel) -> None:
    """The lead hands the notices to the email agent, which sends the three in one turn."""
    model.add(
        MISSION,
        tool_call(
            "delegate", {"tasks": [{"id": "send", "agent": "email", "instructions": "NOTICE-TASK: send"}]}
        ),
        text("The payment notices are sent."),
    )
    model.add(
        "NOTICE-TASK",
        tool_calls(
            *(
                ("email_send", {"to": ["bob@example.test"], "subject": s, "body": f"{s}: paid."})
                for s in SUBJECTS
            )
        ),
        text("Sent the notices."),
    )


@pytest.fixture
def mail() -> Iterator[MailServer]:
    with MailServer(USERS) as server:
        yield server


@pytest.fixture
def shared_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A keyring this process and the worker processes both see; yields the workers' environment
    entries that select it."""
    entries = {
        "ENSEMBLE_TEST_KEYRING": str(tmp_path / "keyring.json"),
        "PYTHON_KEYRING_BACKEND": "_keyring_file.FileKeyring",
        "PYTHONPATH": str(Path(__file__).parent),
    }
    for name, value in entries.items():
        monkeypatch.setenv(name, value)
    previous = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())  # type: ignore[no-untyped-call]
    yield entries
    keyring.set_keyring(previous)


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


class KillAtDelivery:
    """Holds the SMTP relay's answer to one notice's sender until the test has killed it.

    The relay calls :meth:`__call__` once the notice is in the recipient's mailbox and before it
    answers "250" (on its own thread): it says so to the test and waits for the test to let it
    answer.
    """

    def __init__(self, server: MailServer, subject: str) -> None:
        assert server.relay is not None
        self.relay = server.relay
        self.subject = subject
        self.arrived = threading.Event()
        self.answer = threading.Event()

    def __call__(self) -> None:
        _sender, _recipients, content = self.relay.received[-1]
        if f"Subject: {self.subject}".encode() not in content:
            return
        self.relay.after_delivery = None
        self.arrived.set()
        self.answer.wait(timeout=120)


async def sending_worker(handle: WorkflowHandle[Any, Any]) -> str:
    """The identity (``pid@host``) of the worker carrying out the mission's running send."""
    described = await handle.describe()
    found = [
        a.last_worker_identity
        for a in described.raw_description.pending_activities
        if a.activity_type.name == "ensemble_execute" and a.last_worker_identity
    ]
    assert len(found) == 1, described.raw_description.pending_activities
    return found[0]


@pytest.mark.timeout(300)  # two workers start, one is noticed dead: slow on a busy machine
@pytest.mark.parametrize("killed_at", ["Notice 1", "Notice 3"])
async def test_a_worker_killed_while_sending_leaves_the_mission_to_the_other_and_each_email_arrives_once(
    temporal_server: DevServer,
    scripted: ScriptedModel,
    mail: MailServer,
    workspace: Path,
    ensemble_home: Path,
    shared_keyring: dict[str, str],
    workers: list[WorkerProcess],
    killed_at: str,
) -> None:
    script(scripted)
    paths = Paths.default()
    paths.ensure()
    accounts.add_account(paths.settings, work_account(mail), USERS["alice"])  # into the shared keyring
    settings = Settings.load(paths.settings)
    env: dict[str, str] = {
        **os.environ,
        **shared_keyring,
        "ENSEMBLE_HOME": str(ensemble_home),
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "ANTHROPIC_BASE_URL": scripted.base_url,
    }
    task_queue, mission_id = f"q-{uuid.uuid4().hex}", f"m-{uuid.uuid4().hex[:12]}"
    pair = [WorkerProcess(temporal_server.target, task_queue, env) for _ in range(2)]
    workers.extend(pair)
    for worker in pair:
        await asyncio.to_thread(worker.wait_ready)
    by_identity = {f"{w.process.pid}@": w for w in pair}

    kill = KillAtDelivery(mail, killed_at)
    mail.relay.after_delivery = kill  # type: ignore[union-attr]
    rule = RuleData(id="r1", kind="approve_all", description="Always allow sending email", tool="email_send")
    client = await Client.connect(temporal_server.target)
    handle = await start_mission(
        client,
        mission_input(
            mission_id, MISSION, [str(workspace)], settings, rules=[rule], heartbeat_seconds=HEARTBEAT_SECONDS
        ),
        task_queue,
    )

    # The notice is in Bob's mailbox; its sender waits for the relay's "250". Kill the sender.
    assert await asyncio.to_thread(kill.arrived.wait, 120), "the notice never reached the relay"
    try:
        identity = await sending_worker(handle)
        [killed] = [w for prefix, w in by_identity.items() if identity.startswith(prefix)]
        killed.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(killed.process.wait, 10)
    finally:
        kill.answer.set()
    [survivor] = [w for w in pair if w is not killed]
    assert survivor.process.poll() is None

    # The survivor cannot tell whether the notice left: the card is the person's again, and the
    # rule that approved it may not release it.
    async def returned() -> Card | None:
        return next((c for c in await pending(handle) if c.ask_person), None)

    card: Card = await wait_for(returned, "the card given back to the person", 90)
    assert card.notice is not None
    assert "may already have happened" in card.notice
    arrived = [m for m in messages(mail, "bob") if m["Subject"] == killed_at]
    assert len(arrived) == 1  # what the person checks before deciding
    await decide(handle, DecisionInput(card.action_id, "reject", reason="It arrived; do not send it again."))

    outcome = await asyncio.wait_for(handle.result(), 120)
    history = History(events=(await handle.fetch_history()).events)
    seen = await events(handle)
    every_card = await cards(handle)

    assert outcome.status == "done", outcome.result
    sent_ids = {c.preview["detail"]["subject"]: json_arguments(c)["message_id"] for c in every_card}
    assert sorted(sent_ids) == SUBJECTS
    received = collections.Counter(str(m["Message-ID"]) for m in messages(mail, "bob"))
    assert received == collections.Counter(sent_ids.values()), "every notice arrives, and none twice"
    assert mail.relay is not None
    assert len(mail.relay.received) == len(SUBJECTS)
    in_sent = collections.Counter(str(m["Message-ID"]) for m in messages(mail, "alice", "Sent"))
    assert in_sent == received  # one copy each in Sent
    statuses = {c.preview["detail"]["subject"]: (c.status, c.decided_by) for c in every_card}
    assert statuses[killed_at] == ("rejected", "person")
    others = [s for s in SUBJECTS if s != killed_at]
    assert all(statuses[s] == ("executed", "rule:r1 (Always allow sending email)") for s in others)
    assert [e.kind for e in seen].count("action_outcome_unknown") == 1
    assert [e.kind for e in seen].count("action_executed") == len(others)
    # The send that was cut off was tried again by the survivor, which did not send it.
    tries = started_attempts(history, "ensemble_execute")
    survivor_prefix = f"{survivor.process.pid}@"
    assert any(attempt > 1 and who.startswith(survivor_prefix) for attempt, who in tries), tries
    # The survivor ran the mission's last step.
    replies = started_attempts(history, "ensemble_model_reply")
    assert replies[-1][1].startswith(survivor_prefix), replies


def json_arguments(card: Card) -> dict[str, Any]:
    """A card's proposed arguments."""
    found: dict[str, Any] = json.loads(card.arguments_json)
    return found
