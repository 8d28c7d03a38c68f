"""Triggers: a new email in a real Dovecot, a new file in a real folder, each starts one run.

The watchers run in their own threads and report each step through their probe; the tests
wait on those reports (with timeouts), never on sleeps. Unit-level tests record the runs with
a small fake engine (:class:`Recorder`), which counts every call, so that a watcher that fires
twice is seen (the real engine would hide it behind its dedupe key); the real store keeps the
triggers' state in a real journal.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mailbox
import queue
import threading
from typing import TYPE_CHECKING, Any

import keyring
import pytest
from _dovecot import MailServer

from app.api.workflows import Trigger, WorkflowParam, WorkflowSpec
from app.engine import Engine
from app.journal import Journal
from app.settings import Settings
from app.testing.scripted_model import ScriptedModel, text
from app.workflows import triggers
from app.workflows.store import WorkflowStore
from app.workflows.triggers import EMAIL_VALUE, FILE_VALUE, TriggerWatchers
from connectors.email import KEYRING_SERVICE, EmailAccount, keyring_entry

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:Session.login_data is deprecated:DeprecationWarning"),
]

USERS = {"alice": "alice-pw"}
WAIT = 20.0


class Recorder:
    """A fake engine: records each run_triggered call, and checks it is made on its loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.calls: list[dict[str, str]] = []
        self.loop_thread: int | None = None

    def run_triggered(self, name: str, *, key: str, value: str, context: str) -> str | None:
        asyncio.get_running_loop()  # raises off the loop
        assert threading.get_ident() == self.loop_thread
        self.calls.append({"name": name, "key": key, "value": value, "context": context})
        return f"m_{len(self.calls)}"

    def keys(self) -> list[str]:
        return [c["key"] for c in self.calls]


class Probe:
    """What the watchers report, in order, waited on with a timeout."""

    def __init__(self) -> None:
        self.reports: queue.Queue[tuple[str, str]] = queue.Queue()
        self.history: list[str] = []

    def __call__(self, workflow: str, what: str) -> None:
        self.history.append(what)
        self.reports.put((workflow, what))

    async def expect(self, start: str, *, workflow: str | None = None) -> list[str]:
        """Waits for a report starting with ``start``; returns every report until it, in order."""
        seen: list[str] = []
        while True:
            try:
                name, what = await asyncio.to_thread(self.reports.get, timeout=WAIT)
            except queue.Empty:
                pytest.fail(f"No report '{start}…' within {WAIT} s; reports: {seen}")
            if workflow is None or name == workflow:
                seen.append(what)
                if what.startswith(start):
                    return seen


@pytest.fixture
def mail() -> Iterator[MailServer]:
    with MailServer(USERS) as server:
        yield server


@pytest.fixture
def store(tmp_path: Path) -> WorkflowStore:
    return WorkflowStore(Journal(tmp_path / "journal.db"))


def alice(server: MailServer) -> EmailAccount:
    keyring.set_password(KEYRING_SERVICE, keyring_entry("alice"), USERS["alice"])
    return EmailAccount(
        name="alice",
        kind="imap",
        address="alice@example.test",
        user="alice",
        imap_host="127.0.0.1",
        imap_port=server.imap_port,
        smtp_host="127.0.0.1",
        smtp_port=server.smtp_port,
        security="none",
        default=True,
    )


def message(sender: str, subject: str, message_id: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: alice@example.test\r\nSubject: {subject}\r\n"
        f"Date: Mon, 02 Nov 2026 10:00:00 +0000\r\nMessage-ID: {message_id}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nPlease find it attached.\r\n"
    ).encode()


def invoices_workflow(trigger: Trigger) -> WorkflowSpec:
    return WorkflowSpec(
        name="File invoices",
        instruction="Record {item} in invoices.xlsx.",
        params=[WorkflowParam(name="item", type="file" if trigger.kind == "file" else "email")],
        trigger=trigger,
    )


async def watchers_for(
    engine: Recorder, store: WorkflowStore, probe: Probe, **options: Any
) -> TriggerWatchers:
    engine.loop_thread = threading.get_ident()
    watchers = TriggerWatchers(engine, store, probe=probe, **options)
    await watchers.start()
    return watchers


EMAIL_TRIGGER = Trigger(kind="email", folder="INBOX", from_glob="*@supplier.test", subject_glob="*invoice*")


# ---------------------------------------------------------------------------------------------
# Email over IMAP
# ---------------------------------------------------------------------------------------------


async def test_a_new_matching_email_starts_one_run_and_others_none(
    mail: MailServer, store: WorkflowStore
) -> None:
    engine, probe = Recorder(Settings(accounts=[alice(mail)])), Probe()
    mail.deliver("alice@example.test", message("Supplier <bills@supplier.test>", "Invoice 1", "<old@x.test>"))
    row = store.add(invoices_workflow(EMAIL_TRIGGER))
    watchers = await watchers_for(engine, store, probe)
    try:
        await probe.expect("ready")
        validity = int(store.trigger_state(row.id)["uidvalidity"])
        assert store.trigger_state(row.id)["last_uid"] == 1  # the email already there: the baseline
        mail.deliver("alice@example.test", message("bob@elsewhere.test", "Invoice 2", "<other@x.test>"))
        mail.deliver(
            "alice@example.test", message("Supplier <bills@supplier.test>", "Lunch?", "<lunch@x.test>")
        )
        mail.deliver(
            "alice@example.test",
            message("Supplier <Bills@Supplier.test>", "Your INVOICE 3 for November", "<new@x.test>"),
        )
        reports = await probe.expect("started")
        assert [r for r in reports if r.startswith("seen")] == [
            f"seen INBOX:{validity}:{u}" for u in (2, 3, 4)
        ]
        assert engine.keys() == [f"email:alice:INBOX:{validity}:4"]
        call = engine.calls[0]
        assert call["name"] == "File invoices"
        assert call["value"] == EMAIL_VALUE
        context = call["context"]
        for line in (
            "Account: alice",
            "Folder: INBOX",
            "From: Supplier <Bills@Supplier.test>",
            "To: alice@example.test",
            "Subject: Your INVOICE 3 for November",
            "Message-ID: <new@x.test>",
            f"UID 4 (UIDVALIDITY {validity})",
            f"email_read and the id “INBOX:{validity}:4”",
        ):
            assert line in context
        assert store.trigger_state(row.id)["last_uid"] == 4
    finally:
        await watchers.stop()

    # Off: an invoice arrives. At the next start it runs; the one already run does not again.
    mail.deliver("alice@example.test", message("bills@supplier.test", "Invoice 5", "<while-off@x.test>"))
    watchers = await watchers_for(engine, store, probe)
    try:
        await probe.expect(f"started email:alice:INBOX:{validity}:5")
        await probe.expect("ready")
        mail.deliver("alice@example.test", message("bills@supplier.test", "Invoice 6", "<later@x.test>"))
        await probe.expect(f"started email:alice:INBOX:{validity}:6")
    finally:
        await watchers.stop()
    assert engine.keys() == [f"email:alice:INBOX:{validity}:{u}" for u in (4, 5, 6)]


async def test_without_idle_the_workflows_account_is_polled(
    mail: MailServer, store: WorkflowStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imapclient import IMAPClient  # type: ignore[import-untyped]

    real = IMAPClient.has_capability
    monkeypatch.setattr(IMAPClient, "has_capability", lambda self, name: name != "IDLE" and real(self, name))
    # The default account has no server: the trigger watches the account the workflow names.
    nowhere = EmailAccount(
        name="other", address="me@other.test", imap_host="127.0.0.1", imap_port=9, default=True
    )
    workflows_own = alice(mail).model_copy(update={"default": False})
    engine, probe = Recorder(Settings(accounts=[nowhere, workflows_own])), Probe()
    store.add(invoices_workflow(EMAIL_TRIGGER).model_copy(update={"account": "alice"}))
    watchers = await watchers_for(engine, store, probe, poll_seconds=0.1)
    try:
        await probe.expect("ready")
        mail.deliver("alice@example.test", message("bills@supplier.test", "Invoice 1", "<polled@x.test>"))
        await probe.expect("started email:alice:INBOX:")
    finally:
        await watchers.stop()
    assert len(engine.calls) == 1
    assert "Message-ID: <polled@x.test>" in engine.calls[0]["context"]


async def test_a_refused_login_is_retried_and_the_password_never_logged(
    mail: MailServer, store: WorkflowStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(triggers, "RETRY_FIRST", 0.05)
    account = alice(mail)
    keyring.set_password(KEYRING_SERVICE, keyring_entry("alice"), "wrong-secret-4711")
    engine, probe = Recorder(Settings(accounts=[account])), Probe()
    store.add(invoices_workflow(EMAIL_TRIGGER))
    caplog.set_level(logging.DEBUG)
    watchers = await watchers_for(engine, store, probe)
    try:
        reports = await probe.expect("error")
        assert "ready" not in reports
        keyring.set_password(KEYRING_SERVICE, keyring_entry("alice"), USERS["alice"])
        await probe.expect("ready")
        mail.deliver("alice@example.test", message("bills@supplier.test", "Invoice 1", "<after@x.test>"))
        await probe.expect("started")
    finally:
        await watchers.stop()
    assert "wrong-secret-4711" not in caplog.text
    assert USERS["alice"] not in caplog.text
    assert "The trigger of workflow “File invoices” failed" in caplog.text


async def test_a_new_message_in_a_local_maildir_starts_one_run(tmp_path: Path, store: WorkflowStore) -> None:
    box = mailbox.Maildir(tmp_path / "Mail", create=True)
    box.add(message("bills@supplier.test", "Invoice 1", "<old@x.test>"))
    account = EmailAccount(
        name="local", kind="maildir", address="me@example.test", path=str(tmp_path / "Mail")
    )
    engine, probe = Recorder(Settings(accounts=[account])), Probe()
    store.add(invoices_workflow(EMAIL_TRIGGER))
    watchers = await watchers_for(engine, store, probe)
    try:
        await probe.expect("ready")
        box.add(message("someone@else.test", "Invoice 2", "<no@x.test>"))
        key = box.add(message("bills@supplier.test", "Invoice 3", "<yes@x.test>"))
        await probe.expect("started")
    finally:
        await watchers.stop()
    assert engine.keys() == [f"email:local:INBOX:local:{key}"]
    assert f"“INBOX:local:{key}”" in engine.calls[0]["context"]


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


async def test_a_file_dropped_in_chunks_starts_one_run_and_restarts_fire_nothing_again(
    tmp_path: Path, store: WorkflowStore
) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "old.pdf").write_bytes(b"%PDF old")
    engine, probe = Recorder(Settings()), Probe()
    watchers = await watchers_for(engine, store, probe, settle_seconds=0.5)
    try:
        assert watchers.watching == {}
        row = store.add(invoices_workflow(Trigger(kind="file", folder=str(folder), glob="*.pdf")))
        await watchers.reload()
        assert watchers.watching == {
            "File invoices": "When a file matching *.pdf is added or changed in " + str(folder)
        }
        await probe.expect("ready")
        assert store.trigger_state(row.id)["files"] == {
            "old.pdf": [(folder / "old.pdf").stat().st_mtime_ns, 8]
        }
        ignored = ["notes.txt", ".hidden.pdf", "download.pdf.part", "draft.pdf~", ".x.pdf.1a2b.ensemble-tmp"]
        for name in ignored:
            (folder / name).write_bytes(b"ignored")
        chunks = [b"%PDF-1.7\n", b"x" * 50_000, b"y" * 50_000, b"%%EOF\n"]
        with (folder / "new.pdf").open("wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
                handle.flush()
                await probe.expect("seen new.pdf")  # the watcher saw the half-written file
        await probe.expect("started")
        info = (folder / "new.pdf").stat()
        assert engine.keys() == [f"file:{folder / 'new.pdf'}:{info.st_mtime_ns}:{info.st_size}"]
        assert info.st_size == sum(len(c) for c in chunks)
        assert not [r for r in probe.history if any(name in r for name in ignored)]
        call = engine.calls[0]
        assert call["value"] == FILE_VALUE
        assert f"Path: {folder / 'new.pdf'}" in call["context"]
        assert f"Size: {info.st_size:,} bytes" in call["context"]
    finally:
        await watchers.stop()

    # Off: one file added, one changed. At the next start both run, and nothing else.
    (folder / "while-off.pdf").write_bytes(b"%PDF added")
    (folder / "old.pdf").write_bytes(b"%PDF changed, longer")
    watchers = await watchers_for(engine, store, probe, settle_seconds=0.5)
    try:
        await probe.expect("started")
        await probe.expect("started")
        (folder / "later.pdf").write_bytes(b"%PDF later")
        await probe.expect(f"started file:{folder / 'later.pdf'}")
    finally:
        await watchers.stop()
    names = [k.split(":")[1] for k in engine.keys()]
    assert names[0] == str(folder / "new.pdf")
    assert sorted(names[1:3]) == [str(folder / "old.pdf"), str(folder / "while-off.pdf")]
    assert names[3:] == [str(folder / "later.pdf")]

    # Removing the trigger stops its watcher.
    watchers = await watchers_for(engine, store, probe, settle_seconds=0.5)
    try:
        await probe.expect("ready")
        spec = WorkflowSpec.model_validate_json(row.spec_json)
        store.update(row, spec.model_copy(update={"trigger": None}))
        await watchers.reload()
        assert watchers.watching == {}
    finally:
        await watchers.stop()


async def test_a_missing_folder_is_retried_until_it_exists(
    tmp_path: Path, store: WorkflowStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(triggers, "RETRY_FIRST", 0.05)
    monkeypatch.setattr(triggers, "RETRY_MAX", 0.2)
    folder = tmp_path / "later"
    engine, probe = Recorder(Settings()), Probe()
    store.add(invoices_workflow(Trigger(kind="file", folder=str(folder))))
    watchers = await watchers_for(engine, store, probe, settle_seconds=0.2)
    try:
        await probe.expect("error The watched folder")
        folder.mkdir()
        await probe.expect("ready")
        (folder / "a.csv").write_text("a,b\n")
        await probe.expect("started")
    finally:
        await watchers.stop()
    assert len(engine.calls) == 1


# ---------------------------------------------------------------------------------------------
# With the real engine and the scripted model
# ---------------------------------------------------------------------------------------------


def lead_requests(scripted: ScriptedModel, tag: str) -> list[dict[str, Any]]:
    """The requests whose first message (the mission's start) holds ``tag``."""
    return [r for r in scripted.requests if tag in json.dumps(r["messages"][0])]


def first_message_texts(request: dict[str, Any]) -> list[str]:
    content = request["messages"][0]["content"]
    return [content] if isinstance(content, str) else [part.get("text", "") for part in content]


async def test_with_the_engine_a_new_email_starts_one_mission_with_the_email_as_outside_context(
    scripted: ScriptedModel, mail: MailServer, workspace: Path
) -> None:
    scripted.add("FILE-EMAILED-INVOICE", text("Recorded."))
    engine = Engine(settings=Settings(accounts=[alice(mail)]))
    probe = Probe()
    mail.deliver("alice@example.test", message("bills@supplier.test", "Invoice 1 (old)", "<old@x.test>"))
    spec = invoices_workflow(EMAIL_TRIGGER).model_copy(
        update={
            "instruction": "FILE-EMAILED-INVOICE: record {item} in invoices.xlsx.",
            "workspaces": [str(workspace)],
        }
    )
    engine.save_workflow(spec)
    store = WorkflowStore(engine.journal)
    watchers = TriggerWatchers(engine, store, probe=probe)
    await watchers.start()
    try:
        await probe.expect("ready")
        mail.deliver("alice@example.test", message("bob@elsewhere.test", "Invoice 2", "<other@x.test>"))
        mail.deliver(
            "alice@example.test",
            message("Supplier <bills@supplier.test>", "Invoice 7 for November", "<i7@x.test>"),
        )
        await probe.expect("started")
        (run,) = engine.workflow_runs("File invoices")
        assert run.reason == "trigger"
        assert run.params == {"item": EMAIL_VALUE}
        outcome = await engine.wait(run.mission_id)
        assert outcome.status == "done", outcome.result
        (lead,) = lead_requests(scripted, "FILE-EMAILED-INVOICE")
        instruction, *outside = first_message_texts(lead)
        assert instruction == f"FILE-EMAILED-INVOICE: record {EMAIL_VALUE} in invoices.xlsx."
        assert "Invoice 7 for November" not in instruction
        (context,) = [part for part in outside if "Subject:" in part]
        assert context.startswith("What started this run, as it came from outside")
        assert "Subject: Invoice 7 for November" in context
        assert "Message-ID: <i7@x.test>" in context
        mission = engine.journal.mission(run.mission_id)
        assert mission is not None
        assert EMAIL_VALUE in mission.text
        assert "Invoice 7" not in mission.text
        assert "supplier.test" not in mission.text

        # Seen again (the trigger's record lost): the engine's key keeps it to one run.
        await watchers.stop()
        row = store.get("File invoices")
        assert row is not None
        state = store.trigger_state(row.id)
        store.set_trigger_state(row.id, {**state, "last_uid": 1})
        watchers = TriggerWatchers(engine, store, probe=probe)
        await watchers.start()
        await probe.expect("ran already email:alice:INBOX:")
        assert len(engine.workflow_runs("File invoices")) == 1
    finally:
        await watchers.stop()
        await engine.close()


async def test_with_the_engine_a_dropped_file_starts_one_mission(
    scripted: ScriptedModel, workspace: Path, tmp_path: Path
) -> None:
    scripted.add("FILE-DROPPED-INVOICE", text("Recorded."))
    folder = tmp_path / "drop"
    folder.mkdir()
    engine = Engine(settings=Settings())
    probe = Probe()
    spec = invoices_workflow(Trigger(kind="file", folder=str(folder), glob="*.pdf")).model_copy(
        update={
            "instruction": "FILE-DROPPED-INVOICE: record {item} in invoices.xlsx.",
            "workspaces": [str(workspace)],
        }
    )
    engine.save_workflow(spec)
    store = WorkflowStore(engine.journal)
    watchers = TriggerWatchers(engine, store, probe=probe, settle_seconds=0.3)
    await watchers.start()
    try:
        await probe.expect("ready")
        with (folder / "bill.pdf").open("wb") as handle:
            for chunk in (b"%PDF-1.7\n", b"z" * 20_000, b"%%EOF\n"):
                handle.write(chunk)
                handle.flush()
                await probe.expect("seen bill.pdf")
        await probe.expect("started")
        (run,) = engine.workflow_runs("File invoices")
        outcome = await engine.wait(run.mission_id)
        assert outcome.status == "done", outcome.result
        (lead,) = lead_requests(scripted, "FILE-DROPPED-INVOICE")
        instruction, *outside = first_message_texts(lead)
        (context,) = [part for part in outside if "Path:" in part]
        assert context.startswith("What started this run, as it came from outside")
        assert instruction == f"FILE-DROPPED-INVOICE: record {FILE_VALUE} in invoices.xlsx."
        assert f"Path: {folder / 'bill.pdf'}" in context
        assert "Size: 20,015 bytes" in context
    finally:
        await watchers.stop()
        await engine.close()
