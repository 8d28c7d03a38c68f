"""Attention: a turn's twelve drafts are proposed together, decided as one batch, and saved in
the turn's order, exactly the approved ones, exactly once (also across a crash); the command
line asks about a batch in one prompt. Real Dovecot, real SQLite; only the model is scripted."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
from _dovecot import MailServer
from test_email_mission import USERS, messages, work_account
from test_resume import finish, mission_id, run_until
from test_resume_email import shared_keyring  # noqa: F401  (a fixture)

from app import accounts
from app.api import ActionProposed, batch_summary, batches
from app.engine import Decision, Engine
from app.paths import Paths
from app.settings import Settings
from app.testing.scripted_model import ScriptedModel, text, tool_call, tool_calls

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from app.api import AnyEvent

pytestmark = pytest.mark.filterwarnings("ignore:.*login_data.*:DeprecationWarning")

MISSION = "Draft the twelve payment reminders to bob@example.test"
SUBJECTS = [f"Reminder {n:02d}" for n in range(1, 13)]


def draft(subject: str) -> tuple[str, dict[str, Any]]:
    return (
        "email_draft",
        {"to": ["bob@example.test"], "subject": subject, "body": f"{subject}: please pay."},
    )


def script(model: ScriptedModel, seen: list[list[dict[str, Any]]] | None = None) -> None:
    model.add(
        MISSION,
        tool_call(
            "delegate", {"tasks": [{"id": "drafts", "agent": "email", "instructions": "DRAFT-TASK: twelve"}]}
        ),
        text("The approved reminders are in Drafts."),
    )

    def after_drafts(request: dict[str, Any]) -> Any:
        # What the agent gets back: one result per call, in the turn's order.
        results = [b for b in request["messages"][-1]["content"] if b.get("type") == "tool_result"]
        if seen is not None:
            seen.append(results)
        return text("Saved the approved drafts.")

    model.add("DRAFT-TASK", tool_calls(*(draft(s) for s in SUBJECTS)), after_drafts)


@pytest.fixture
def mail() -> Iterator[MailServer]:
    with MailServer(USERS) as server:
        yield server


def subjects_in(server: MailServer, folder: str = "Drafts") -> list[str]:
    return [str(m["Subject"]) for m in messages(server, "alice", folder)]


async def test_twelve_drafts_are_one_batch_and_exactly_the_approved_ones_are_saved_in_order(
    scripted: ScriptedModel, mail: MailServer, workspace: Path
) -> None:
    seen: list[list[dict[str, Any]]] = []
    script(scripted, seen)
    paths = Paths.default()
    accounts.add_account(paths.settings, work_account(mail), USERS["alice"])
    engine = Engine(settings=Settings.load(paths.settings))
    loop = asyncio.get_running_loop()
    proposed: list[ActionProposed] = []
    all_in = asyncio.Event()
    pending_when_all_in: list[int] = []

    def on_event(event: AnyEvent) -> None:
        if isinstance(event, ActionProposed):
            proposed.append(event)
            if len(proposed) == len(SUBJECTS):
                # Once the last card's call waits for its decision (the next step of the loop).
                loop.call_soon(lambda: (pending_when_all_in.append(len(engine.waiting())), all_in.set()))

    engine.subscribe_events(on_event)
    try:
        run = asyncio.ensure_future(engine.run_mission(MISSION, workspaces=[workspace]))
        await asyncio.wait_for(all_in.wait(), 60)
        # Twelve cards wait together: nothing was saved before the person decided.
        assert pending_when_all_in == [12]
        assert subjects_in(mail) == []
        assert None not in {e.batch for e in proposed}
        assert len({e.batch for e in proposed}) == 1
        assert {e.batch_size for e in proposed} == {12}
        group = batches(engine.waiting())
        assert [len(g) for g in group] == [12]
        assert [a.preview.detail.subject for a in group[0]] == SUBJECTS  # type: ignore[union-attr]
        assert batch_summary(group[0]).startswith("Save an email draft (12): ")

        # One decision: item 4 edited, items 2 and 9 rejected with reasons, the rest approved.
        items = group[0]
        decisions = [(a.id, Decision.approve()) for a in items]
        decisions[3] = (items[3].id, Decision.edit({"body": "Edited: due Friday."}))
        decisions[1] = (items[1].id, Decision.reject("Bob paid this one"))
        decisions[8] = (items[8].id, Decision.reject("duplicate"))
        engine.decide_batch(decisions)
        outcome = await asyncio.wait_for(run, 60)
    finally:
        await engine.close()

    assert outcome.status == "done", outcome.result
    expected = [s for i, s in enumerate(SUBJECTS) if i not in (1, 8)]
    drafts = messages(mail, "alice", "Drafts")
    assert [str(m["Subject"]) for m in drafts] == expected, "exactly the approved, in the turn's order"
    edited = next(m for m in drafts if m["Subject"] == "Reminder 04")
    assert edited.get_content().strip() == "Edited: due Friday."
    assert mail.relay is not None
    assert mail.relay.received == []  # drafts: nothing was sent

    # The agent got one result per call, in its turn's order; the rejected ones say so.
    (results,) = seen
    assert len(results) == 12
    rejected = [i for i, r in enumerate(results) if r.get("is_error")]
    assert rejected == [1, 8]
    assert "Bob paid this one" in json.dumps(results[1]["content"])

    # The audit: each decision by the person, with its time to decide and its batch; one asked.
    decided = [e for e in engine.mission_events(outcome.mission_id) if e.kind == "action_decided"]
    assert len(decided) == 12
    assert {getattr(e, "decided_by", None) for e in decided} == {"person"}
    assert all(isinstance(getattr(e, "seconds", None), float) for e in decided)
    assert len({getattr(e, "batch", None) for e in decided}) == 1
    # Drafts to an address: never a rule suggestion (only files in the workspace are offered).
    events = engine.mission_events(outcome.mission_id)
    assert [e for e in events if e.kind == "rule_suggested"] == []
    summary = engine.decision_summary(outcome.mission_id)
    assert (summary.asked, summary.batches, summary.by_person, summary.by_rule) == (1, 1, 12, 0)


@pytest.mark.usefixtures("shared_keyring")
def test_the_command_line_asks_once_for_a_batch(
    scripted: ScriptedModel,
    mail: MailServer,
    workspace: Path,
) -> None:
    """``e N JSON`` edits item N and approves the rest, in one prompt."""
    script(scripted)
    accounts.add_account(Paths.default().settings, work_account(mail), USERS["alice"])
    done = cli(
        "run", MISSION, "-w", str(workspace), "--json", stdin='e 3 {"subject": "Reminder 03 (edited)"}\n'
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("Approve all 12?") == 1
    assert "Approve? " not in done.stdout  # no single-card prompt
    assert "You were asked 1 time (12 actions, 1 batch decided at once)." in done.stderr
    expected = [s if s != "Reminder 03" else "Reminder 03 (edited)" for s in SUBJECTS]
    assert subjects_in(mail) == expected
    events = audit(json.loads(done.stdout.strip().splitlines()[-1])["mission_id"])
    decided = [e["data"] for e in events if e["kind"] == "action_decided"]
    assert sorted(d["decision"] for d in decided) == ["approve"] * 11 + ["edit"]
    assert len({d["batch"] for d in decided}) == 1


@pytest.mark.parametrize(
    ("answer", "saved", "prompts"),
    [
        ("a\n", SUBJECTS, 1),
        ("r not this week\n", [], 1),
        # One by one: the batch prompt, then one prompt per card (approve the first two, then
        # standard input ends: the rest are rejected).
        ("s\na\na\n", SUBJECTS[:2], 1),
    ],
)
@pytest.mark.usefixtures("shared_keyring")
def test_the_batch_prompt_approves_rejects_or_splits(
    scripted: ScriptedModel,
    mail: MailServer,
    workspace: Path,
    answer: str,
    saved: list[str],
    prompts: int,
) -> None:
    script(scripted)
    accounts.add_account(Paths.default().settings, work_account(mail), USERS["alice"])
    done = cli("run", MISSION, "-w", str(workspace), "--json", stdin=answer)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("Approve all 12?") == prompts
    assert subjects_in(mail) == saved
    events = audit(json.loads(done.stdout.strip().splitlines()[-1])["mission_id"])
    reasons = [e["data"]["reason"] for e in events if e["kind"] == "action_decided"]
    if answer.startswith("r"):
        assert reasons == ["not this week"] * 12
    if answer.startswith("s"):
        assert done.stdout.count("Approve? ") >= 3  # one card at a time after the split
        assert reasons.count("no decision: standard input closed") == 10


@pytest.mark.parametrize("marker", ["Save an email draft: approved by the rule", "Done: Save draft"])
@pytest.mark.usefixtures("shared_keyring")
def test_a_killed_batch_saves_every_draft_exactly_once_after_resume(
    scripted: ScriptedModel,
    mail: MailServer,
    workspace: Path,
    marker: str,
) -> None:
    """SIGKILL once the batch is being decided (a rule approves each as it comes) or once the
    first draft is saved; ``resume`` saves the rest, none twice, in the turn's order."""
    script(scripted)
    accounts.add_account(Paths.default().settings, work_account(mail), USERS["alice"])

    run_until(marker, "run", MISSION, "-w", str(workspace))
    before = subjects_in(mail)
    assert before == SUBJECTS[: len(before)]
    result = finish(mission_id())

    assert result["status"] == "done", result
    assert subjects_in(mail) == SUBJECTS, "every draft once, in order"


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def audit(mission: str) -> list[dict[str, Any]]:
    done = cli("audit", mission, "--json")
    assert done.returncode == 0, done.stderr
    events: list[dict[str, Any]] = json.loads(done.stdout)
    return events


SHEET_MISSION = "Note the six checks in invoices.xlsx"


def script_six_writes(model: ScriptedModel) -> None:
    model.add(
        SHEET_MISSION,
        tool_call(
            "delegate",
            {"tasks": [{"id": "notes", "agent": "spreadsheet", "instructions": "NOTE-TASK: six notes"}]},
        ),
        text("Noted."),
    )
    writes = [
        tool_call(
            "sheet_write",
            {
                "path": "invoices.xlsx",
                "sheet": "Invoices",
                "range": f"F{row}",
                "values": [[f"checked {row}"]],
            },
        )
        for row in range(2, 8)
    ]
    model.add("NOTE-TASK", *writes, text("Six notes written."))


@pytest.mark.parametrize("answer", ["y", "n"])
def test_five_identical_approvals_offer_a_rule_only_a_yes_adds(
    scripted: ScriptedModel, workspace: Path, answer: str
) -> None:
    """One write per turn: five approvals of writes to invoices.xlsx, then a one-line question;
    yes adds a rule for this mission that decides the sixth; no leaves the sixth to the person."""
    script_six_writes(scripted)
    answers = "a\n" * 5 + f"{answer}\n" + ("" if answer == "y" else "a\n")
    done = cli("run", SHEET_MISSION, "-w", str(workspace), "--json", stdin=answers)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("Always allow it in this mission? [y/N]") == 1
    events = audit(json.loads(done.stdout.strip().splitlines()[-1])["mission_id"])
    suggested = [e["data"] for e in events if e["kind"] == "rule_suggested"]
    assert len(suggested) == 1
    assert suggested[0]["target"] == "invoices.xlsx"
    assert suggested[0]["count"] == 5
    decided = [e["data"]["decided_by"] for e in events if e["kind"] == "action_decided"]
    assert decided[:5] == ["person"] * 5
    added = [e for e in events if e["kind"] == "rule_added"]
    if answer == "y":
        assert len(added) == 1
        assert decided[5].startswith("rule:")
    else:
        assert added == []
        assert decided[5] == "person"


async def test_the_turn_order_runs_calls_in_order_whatever_order_they_are_decided_in() -> None:
    """The sequencer itself: proposals come out together and in order; what runs runs in the
    turn's order even when the last is decided first; a call that ends without a proposal (an
    error before it) holds nobody up."""
    from app.gate import TurnOrder

    order = TurnOrder(4)
    decided = [asyncio.Event() for _ in range(4)]
    at_turn = [asyncio.Event() for _ in range(4)]
    shown: list[int] = []
    ran: list[int] = []
    sizes: list[int] = []

    async def call(index: int) -> None:
        order.enter(index)
        try:
            if index == 2:
                return  # failed before proposing
            sizes.append(await order.gather(index))
            shown.append(index)
            order.shown(index)
            await decided[index].wait()
            at_turn[index].set()
            await order.turn(index)
            ran.append(index)
        finally:
            order.end(index)

    tasks = [asyncio.ensure_future(call(i)) for i in (3, 1, 0, 2)]  # started out of order
    for index in (3, 1):  # the last decided first: approved, it waits for those before it
        decided[index].set()
        await at_turn[index].wait()
        assert ran == []
    decided[0].set()
    await asyncio.gather(*tasks)
    assert shown == [0, 1, 3]
    assert sizes == [3, 3, 3]
    assert ran == [0, 1, 3]
