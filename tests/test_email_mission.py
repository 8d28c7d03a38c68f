"""Email missions end to end: the real SDK over HTTP to the scripted model, a real Dovecot, a
real SMTP relay into it, a real SQLite journal; and the ``ensemble account`` commands."""

from __future__ import annotations

import asyncio
import email
import io
import json
from email import policy
from typing import TYPE_CHECKING, Any

import pytest
from _dovecot import MailServer
from imapclient import IMAPClient

from app import accounts, cli
from app.engine import Engine
from app.gate import Decision
from app.paths import Paths
from app.settings import Settings
from app.testing.scripted_model import ScriptedModel, text, tool_call, tool_calls
from connectors.base import outside_text
from connectors.email import EmailAccount

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from keyring.backend import KeyringBackend

    from app.journal import Event

pytestmark = [
    # aiosmtpd itself sets its deprecated Session.login_data after every successful AUTH.
    pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning"),
]

USERS = {"alice": "alice-pw-Secret42", "bob": "bob-pw", "carol": "carol-pw"}
MISSION = "Reply to every unread message from bob@example.test saying the invoice is being paid"


@pytest.fixture
def mail() -> Iterator[MailServer]:
    with MailServer(USERS) as server:
        yield server


def incoming(subject: str, message_id: str, sender: str = "Bob <bob@example.test>") -> bytes:
    return (
        f"From: {sender}\r\nTo: alice@example.test\r\nSubject: {subject}\r\n"
        f"Date: Mon, 02 Nov 2026 10:00:00 +0000\r\nMessage-ID: {message_id}\r\n"
        "References: <thread-start@example.test>\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\nPlease confirm {subject}.\r\n"
    ).encode()


def messages(server: MailServer, user: str, folder: str = "INBOX") -> list[email.message.EmailMessage]:
    client = IMAPClient("127.0.0.1", port=server.imap_port, ssl=False, timeout=10)
    client.login(user, USERS[user])
    try:
        client.select_folder(folder, readonly=True)
        uids = client.search("ALL")
        fetched = client.fetch(uids, [b"BODY.PEEK[]"]) if uids else {}
        return [
            email.message_from_bytes(fetched[u][b"BODY[]"], policy=policy.default) for u in sorted(fetched)
        ]  # type: ignore[misc]
    finally:
        client.logout()


def work_account(server: MailServer) -> EmailAccount:
    return EmailAccount(
        name="work",
        address="alice@example.test",
        user="alice",
        imap_host="127.0.0.1",
        imap_port=server.imap_port,
        smtp_host="127.0.0.1",
        smtp_port=server.smtp_port,
        security="none",
    )


def script_replies(model: ScriptedModel) -> None:
    model.add(
        MISSION,
        tool_call(
            "delegate",
            {
                "tasks": [
                    {
                        "id": "reply",
                        "agent": "email",
                        "instructions": "REPLY-TASK: answer each unread message from bob@example.test",
                        "depends_on": [],
                    }
                ]
            },
        ),
        text("Replied to Bob as approved."),
    )

    def reply_to_each(request: dict[str, Any]) -> Any:
        last = request["messages"][-1]["content"]
        result = next(b for b in last if b.get("type") == "tool_result")
        content = result["content"]
        shown = content if isinstance(content, str) else content[0]["text"]
        assert shown.startswith('<external_content source="mailbox alice@example.test')
        found = json.loads(outside_text(shown))
        return tool_calls(
            *(
                (
                    "email_send",
                    {
                        "to": ["bob@example.test"],
                        "subject": f"Re: {m['subject']}",
                        "body": f"{m['subject']} is being paid.",
                        "in_reply_to": m["id"],
                    },
                )
                for m in found["messages"]
            )
        )

    model.add(
        "REPLY-TASK",
        tool_call("email_search", {"from_": "bob@example.test", "unseen": True}),
        reply_to_each,
        text("Sent the approved replies; one was rejected."),
    )


async def test_replies_arrive_once_when_approved_threaded_and_never_when_rejected(
    scripted: ScriptedModel, mail: MailServer, workspace: Path, ensemble_home: Path
) -> None:
    for n in (7, 8, 9):
        mail.deliver("alice@example.test", incoming(f"Invoice {n}", f"<inv{n}@example.test>"))
    mail.deliver("alice@example.test", incoming("Lunch", "<lunch@example.test>", sender="carol@example.test"))
    script_replies(scripted)
    paths = Paths.default()
    accounts.add_account(paths.settings, work_account(mail), USERS["alice"])
    settings = Settings.load(paths.settings)
    engine = Engine(settings=settings)
    proposals: list[Event] = []
    loop = asyncio.get_running_loop()

    def on_event(event: Event) -> None:
        if event.kind != "action_proposed":
            return
        proposals.append(event)
        subject = event.data["preview"]["detail"]["subject"]
        if subject == "Re: Invoice 8":
            decision = Decision.reject("already paid")
        elif subject == "Re: Invoice 9":
            decision = Decision.edit({**event.data["arguments"], "body": "Edited: paid on Friday."})
        else:
            decision = Decision.approve()
        loop.call_soon(engine.decide, event.data["action_id"], decision)

    engine.subscribe(on_event)
    try:
        # No options: the engine gives the mission the default (here the only) account.
        outcome = await engine.run_mission(MISSION, workspaces=[workspace])
    finally:
        await engine.close()

    assert outcome.status == "done", outcome.result
    assert len(proposals) == 3
    cards = {p.data["preview"]["detail"]["subject"]: p.data for p in proposals}
    card = cards["Re: Invoice 7"]["preview"]
    assert card["kind"] == "email"
    assert card["detail"]["from"] == "alice@example.test"
    assert card["detail"]["to"] == ["bob@example.test"]
    assert card["detail"]["body"] == "Invoice 7 is being paid."
    assert card["detail"]["attachments"] == []
    assert "Subject: Re: Invoice 7" in card["text"]
    proposed_ids = {s: c["arguments"]["message_id"] for s, c in cards.items()}

    received = {m["Subject"]: m for m in messages(mail, "bob")}
    assert sorted(received) == ["Re: Invoice 7", "Re: Invoice 9"]  # once each; 8 never left
    for n in (7, 9):
        reply = received[f"Re: Invoice {n}"]
        assert reply["Message-ID"] == proposed_ids[f"Re: Invoice {n}"]
        assert reply["In-Reply-To"] == f"<inv{n}@example.test>"
        assert reply["References"] == f"<thread-start@example.test> <inv{n}@example.test>"
    assert received["Re: Invoice 9"].get_content().strip() == "Edited: paid on Friday."
    sent = sorted(m["Subject"] for m in messages(mail, "alice", "Sent"))
    assert sent == ["Re: Invoice 7", "Re: Invoice 9"]
    assert mail.relay is not None
    assert len(mail.relay.received) == 2

    journal = journal_events(engine, outcome.mission_id)
    decided = sorted((e["decision"], e.get("reason")) for e in journal if e["kind"] == "action_decided")
    assert decided == [("approve", None), ("edit", None), ("reject", "already paid")]
    executed = [e for e in journal if e["kind"] == "action_executed"]
    assert len(executed) == 2
    raw_journal = b"".join(p.read_bytes() for p in ensemble_home.rglob("journal.sqlite3*"))
    assert USERS["alice"].encode() not in raw_journal  # the password is never journaled


def journal_events(engine: Engine, mission_id: str) -> list[dict[str, Any]]:
    return [{"kind": e.kind, **e.data} for e in engine.journal.events(mission_id)]


# ---------------------------------------------------------------------------------------------
# ensemble account ...
# ---------------------------------------------------------------------------------------------


def run_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str, stdin: str = ""
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_account_add_list_test_remove(
    mail: MailServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring: KeyringBackend,
    workspace: Path,
) -> None:
    password = USERS["alice"]
    code, out, err = run_cli(
        capsys,
        monkeypatch,
        "account",
        "add",
        "work",
        "--imap",
        f"127.0.0.1:{mail.imap_port}",
        "--smtp",
        f"127.0.0.1:{mail.smtp_port}",
        "--security",
        "none",
        "--user",
        "alice",
        "--address",
        "alice@example.test",
        "--password-stdin",
        stdin=password + "\n",
    )
    assert code == 0, err
    assert password not in out + err
    assert memory_keyring.get_password("ensemble", "account:work") == password
    settings_text = Paths.default().settings.read_text()
    assert password not in settings_text
    assert json.loads(settings_text)["accounts"][0]["imap_port"] == mail.imap_port

    code, out, err = run_cli(capsys, monkeypatch, "account", "list")
    assert code == 0
    assert "work" in out
    assert "alice@example.test" in out
    assert "(default)" in out
    assert password not in out + err
    code, out, _err = run_cli(capsys, monkeypatch, "account", "list", "--json")
    assert [a["name"] for a in json.loads(out)] == ["work"]
    assert password not in out

    code, out, err = run_cli(capsys, monkeypatch, "account", "test", "work")
    assert code == 0, err
    assert "IMAP 127.0.0.1" in out
    assert "SMTP 127.0.0.1" in out
    assert "logged in" in out

    memory_keyring.set_password("ensemble", "account:work", "wrong")
    code, out, err = run_cli(capsys, monkeypatch, "account", "test", "work")
    assert code == 1
    assert "refused the login" in err
    assert "wrong" not in err

    code, _out, err = run_cli(capsys, monkeypatch, "run", "x", "-w", str(workspace), "--account", "home")
    assert code == 1
    assert "There is no email account 'home' (accounts: work)" in err

    code, out, err = run_cli(capsys, monkeypatch, "account", "remove", "work")
    assert code == 0, err
    assert memory_keyring.get_password("ensemble", "account:work") is None
    assert Settings.load(Paths.default().settings).accounts == []


def test_account_add_refuses_bad_input_clearly(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _out, err = run_cli(
        capsys,
        monkeypatch,
        "account",
        "add",
        "w",
        "--imap",
        "host",
        "--smtp",
        "h:1",
        "--address",
        "a@b.c",
        "--password-stdin",
        stdin="pw\n",
    )
    assert code == 1
    assert "HOST:PORT" in err
    code, _out, err = run_cli(
        capsys, monkeypatch, "account", "add", "w", "--imap", "h:1", "--smtp", "h:2", "--address", "a@b.c"
    )
    assert code == 1
    assert "--password-stdin" in err
    code, _out, err = run_cli(capsys, monkeypatch, "account", "test", "nope")
    assert code == 1
    assert "no email account 'nope'" in err


def test_choosing_an_account() -> None:
    one = EmailAccount(name="a", address="a@x.test")
    two = EmailAccount(name="b", address="b@x.test")
    assert accounts.choose(Settings(accounts=[one])) == one
    assert accounts.choose(Settings(accounts=[one, two])) is None
    marked = two.model_copy(update={"default": True})
    assert accounts.choose(Settings(accounts=[one, marked])) == marked
    assert accounts.choose(Settings(accounts=[one, two]), "b") == two
    with pytest.raises(accounts.AccountError, match="no email account 'c'"):
        accounts.choose(Settings(accounts=[one, two]), "c")
    assert accounts.mission_options(None) == {}


# ---------------------------------------------------------------------------------------------
# ensemble run --account, with a local Maildir account (as the demo uses), through the CLI
# ---------------------------------------------------------------------------------------------


def test_cli_shows_the_email_card_and_sends_the_edited_reply_from_a_local_account(
    scripted: ScriptedModel, workspace: Path, tmp_path: Path
) -> None:
    import mailbox
    import os
    import subprocess
    import sys

    root = tmp_path / "Maildir"
    inbox = mailbox.Maildir(root, create=True)
    inbox.add(mailbox.MaildirMessage(incoming("Invoice 7", "<inv7@example.test>")))
    script_replies(scripted)

    def ensemble(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=dict(os.environ),
            timeout=60,
            check=False,
        )

    added = ensemble("account", "add", "local", "--maildir", str(root), "--address", "alice@example.test")
    assert added.returncode == 0, added.stderr
    edit = {"to": ["bob@example.test"], "subject": "Re: Invoice 7", "body": "Edited in the terminal."}
    done = ensemble(
        "run", MISSION, "-w", str(workspace), "--account", "local", "--json", stdin=f"e {json.dumps(edit)}\n"
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "From: alice@example.test" in done.stdout
    assert "To: bob@example.test" in done.stdout
    assert "Subject: Re: Invoice 7" in done.stdout
    assert "Invoice 7 is being paid." in done.stdout  # the proposed body, before the edit
    (sent,) = list(mailbox.Maildir(root).get_folder("Sent"))
    copy = email.message_from_bytes(sent.as_bytes(), policy=policy.default)
    assert copy.get_content().strip() == "Edited in the terminal."  # type: ignore[attr-defined]
    # The edit named only the body: what it left out stays as proposed, so it is still a reply.
    assert copy["In-Reply-To"] == "<inv7@example.test>"
    assert copy["Message-ID"]
    audit = json.loads(
        ensemble("audit", json.loads(done.stdout.splitlines()[-1])["mission_id"], "--json").stdout
    )
    assert [e["data"]["decision"] for e in audit if e["kind"] == "action_decided"] == ["edit"]
