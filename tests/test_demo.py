"""The demo: its workspace from resources/demo, its portal, and its mission through the engine."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import mailbox
import os
import urllib.request
from typing import TYPE_CHECKING

import openpyxl
import pytest

from app import demo as demo_module
from app.demo import SupplierPortal, build_workspace, contacts, overdue
from app.engine import Engine, EngineError
from app.gate import Decision
from app.testing.scripted_model import ScriptedModel, text

if TYPE_CHECKING:
    from pathlib import Path

    from app.journal import Event


@pytest.mark.parametrize("today", [dt.date(2026, 11, 22), dt.date(2027, 3, 1), dt.date(2031, 1, 1)])
def test_the_same_invoices_are_overdue_by_the_same_days_whatever_the_day(
    tmp_path: Path, today: dt.date
) -> None:
    build_workspace(tmp_path / "ws", today)

    late = {i.invoice: (today - i.due).days for i in overdue(tmp_path / "ws" / "invoices.xlsx", today)}

    # INV-1044 is due today and INV-1046 was late but is paid: neither is chased.
    assert late == {"INV-1041": 34, "INV-1043": 12, "INV-1045": 61}


def test_everything_in_the_demo_workspace_says_it_is_a_demo(tmp_path: Path) -> None:
    build_workspace(tmp_path / "ws", dt.date.today())

    book = openpyxl.load_workbook(tmp_path / "ws" / "invoices.xlsx")
    assert all("DEMO" in str(sheet["A1"].value) for sheet in book.worksheets)
    box = mailbox.Maildir(tmp_path / "ws" / "mail", create=False)
    bodies = [m.get_payload(decode=True).decode() for m in box]
    assert len(bodies) == 4
    assert all("DEMO" in body for body in bodies)
    assert sorted(box.list_folders()) == ["Drafts", "Sent"]
    assert all(c.email.endswith(".demo.example") for c in contacts())

    portal = SupplierPortal()
    portal.start()
    try:
        with urllib.request.urlopen(f"{portal.url}/contacts", timeout=5) as page:
            text = page.read().decode()
    finally:
        portal.stop()
    assert "DEMO: a made-up supplier portal" in text
    assert all(c.email in text for c in contacts())


def test_a_portal_never_started_stops_at_once() -> None:
    SupplierPortal().stop()


async def test_the_demo_mission_uses_only_its_scripted_model(
    scripted: ScriptedModel, workspace: Path, ensemble_home: Path
) -> None:
    """With a real key and endpoint set (the scripted fixture), the demo never calls it, and a
    mission of the person's own, running at the same time, does."""
    scripted.add("Count the invoices", text("There are four."))
    engine = Engine()
    events: list[Event] = []
    proposed: asyncio.Queue[str] = asyncio.Queue()

    def listen(event: Event) -> None:
        events.append(event)
        if event.kind == "action_proposed":
            proposed.put_nowait(str(event.data["action_id"]))

    engine.subscribe(listen)
    try:
        mission_id = engine.start_demo()
        assert engine.demo is not None
        with pytest.raises(EngineError, match="already running"):
            engine.start_demo()
        own = await engine.run_mission("Count the invoices", workspaces=[workspace])
        assert own.status == "done"
        assert own.result == "There are four."

        # Approve each card as it arrives, as a person would.
        waiter = asyncio.ensure_future(engine.wait(mission_id))
        while True:
            card = asyncio.ensure_future(proposed.get())
            await asyncio.wait([waiter, card], return_when=asyncio.FIRST_COMPLETED)
            if not card.done():
                card.cancel()
                break
            engine.decide(card.result(), Decision.approve())
        outcome = waiter.result()

        assert outcome.status == "done", outcome.result
        assert "3 invoices are overdue" in (outcome.result or "")
        proposals = [e for e in events if e.kind == "action_proposed" and e.mission_id == mission_id]
        tools = sorted(e.data["tool"] for e in proposals)
        assert tools == ["email_draft"] * 3 + ["remember"] + ["sheet_write"] * 3
        # The customers are people the accounts team writes to (its Sent folder): no draft needs
        # the person for a new destination. Only the memory is the person's alone to decide.
        assert [e.data["tool"] for e in proposals if e.data.get("ask_person")] == ["remember"]
        assert f"remember to sign reminders as {demo_module.SIGNATURE}" in (outcome.result or "")
        assert "Drafted 3 of 3 reminders" in (outcome.result or "")
        started = {e.mission_id: e.data for e in events if e.kind == "mission_started"}
        assert started[mission_id]["demo"] is True
        assert started[mission_id]["model"] == demo_module.MODEL
        assert started[own.mission_id]["demo"] is False
        # Only the person's own mission reached the configured endpoint.
        assert len(scripted.requests) == 1
        assert "Count the invoices" in json.dumps(scripted.requests[0])
        calls = engine.journal.model_calls(mission_id)
        assert calls
        assert {c.model for c in calls} == {demo_module.MODEL}

        # A second run gets a fresh workspace; it remembers the signature, so it asks nothing
        # more about it (approve="all" decides every other card).
        again = await engine.wait(engine.start_demo(approve="all"))
        assert again.status == "done"
        book = openpyxl.load_workbook(engine.demo.folder / "invoices.xlsx")
        assert sum(1 for row in book["Invoices"].iter_rows(min_row=3, values_only=True) if row[7]) == 3
    finally:
        await engine.close()
    assert engine.demo is None


async def test_a_demo_mission_interrupted_with_its_app_says_to_start_the_demo_again(
    ensemble_home: Path,
) -> None:
    first = Engine()
    mission_id = first.start_demo()
    await first.close()

    second = Engine()
    try:
        mission = second.journal.mission(mission_id)
        assert mission is not None
        second.journal.update(mission, status="interrupted")  # as a crash would leave it
        with pytest.raises(EngineError, match="Start the demo again"):
            second.resume(mission_id)
    finally:
        await second.close()


async def test_the_demo_refuses_to_start_while_another_process_runs_it(ensemble_home: Path) -> None:
    engine = Engine()
    try:
        mission_id = engine.start_demo()
        await engine.cancel(mission_id)
        await engine.wait(mission_id)
        mission = engine.journal.mission(mission_id)
        assert mission is not None
        # As if another window (this test's parent process, alive) were running the demo.
        engine.journal.update(mission, status="running", owner_pid=os.getppid())
        assert engine.demo is not None
        workbook = engine.demo.folder / "invoices.xlsx"
        before = workbook.stat().st_mtime_ns
        with pytest.raises(EngineError, match="another Ensemble window or terminal"):
            engine.start_demo()
        assert workbook.stat().st_mtime_ns == before, "the other process's demo folder is left alone"
    finally:
        await engine.close()


async def test_the_demo_says_what_really_happened(ensemble_home: Path) -> None:
    """A rejected draft is not reported as a reminder sent to each customer."""
    engine = Engine()
    rejected: list[str] = []
    loop = asyncio.get_running_loop()

    def listen(event: Event) -> None:
        if event.kind != "action_proposed":
            return
        action_id = str(event.data["action_id"])
        if event.data["tool"] == "email_draft" and not rejected:
            rejected.append(action_id)
            loop.call_soon(engine.decide, action_id, Decision.reject("not this customer"))
        else:
            loop.call_soon(engine.decide, action_id, Decision.approve())

    engine.subscribe(listen)
    try:
        outcome = await engine.wait(engine.start_demo())
    finally:
        await engine.close()
    assert outcome.status == "done", outcome.result
    assert "Drafted 2 of 3 reminders" in (outcome.result or "")
    assert "not this customer" in (outcome.result or "")
    assert "A reminder to each customer" not in (outcome.result or "")
    # Only the two invoices whose reminder was drafted are noted in the workbook.
    assert "Noted in column H 2 of 3 drafted reminders" in (outcome.result or "")
    assert engine_demo_notes(ensemble_home) == 2


def engine_demo_notes(home: Path) -> int:
    book = openpyxl.load_workbook(home / "demo-workspace" / "invoices.xlsx")
    return sum(1 for row in book["Invoices"].iter_rows(min_row=3, values_only=True) if row[7])


def demo_lead_systems(engine: Engine, since: int = 0) -> list[str]:
    """The system prompts of the demo lead's requests, from the ``since``-th request its scripted
    model recorded (the lead's requests are those that may delegate)."""
    assert engine.demo is not None
    return [
        json.dumps(request.get("system", ""))
        for request in engine.demo.model.requests[since:]
        if '"delegate"' in json.dumps(request.get("tools", []))
    ]


async def test_the_demo_remembers_the_signature_once_approved_and_is_undone_in_one_action(
    ensemble_home: Path,
) -> None:
    """Done when: the demo verifies its writes and says so, asks once for its drafts, remembers
    the person's signature for the next mission after they approve it, and is undone in one action."""
    engine = Engine()
    cards: list[Event] = []
    loop = asyncio.get_running_loop()

    def listen(event: Event) -> None:
        if event.kind == "action_proposed":
            cards.append(event)
            loop.call_soon(engine.decide, str(event.data["action_id"]), Decision.approve())

    engine.subscribe(listen)
    try:
        first_id = engine.start_demo()
        assert engine.demo is not None
        workbook = engine.demo.folder / "invoices.xlsx"
        original = workbook.read_bytes()
        first = await engine.wait(first_id)
        assert first.status == "done", first.result
        assert "Verified:" in (first.result or "")
        (card,) = [c for c in cards if c.data["tool"] == "remember"]
        assert card.data["ask_person"] is True
        assert card.data["preview"]["summary"] == f"Remember: {demo_module.REMEMBER} — for all missions"
        assert [i.text for i in engine.list_memory()] == [demo_module.REMEMBER]
        assert not any(demo_module.REMEMBER in system for system in demo_lead_systems(engine))
        drafts = [
            a for a in engine.journal.actions(first_id) if a.tool == "email_draft" and a.status == "executed"
        ]
        assert len(drafts) == 3
        assert all(demo_module.SIGNATURE in json.loads(a.arguments_json)["body"] for a in drafts)
        assert workbook.read_bytes() != original

        # One action takes the whole demo back: the workbook is as it was, byte for byte.
        undone = await engine.undo_mission(first_id)
        assert undone.complete, undone.lines()
        assert workbook.read_bytes() == original
        # The drafts stay in Drafts (said, not undone); the memory is the person's, kept.
        assert {limit.action_id for limit in undone.cannot_undo} >= {a.id for a in drafts}
        assert [i.text for i in engine.list_memory()] == [demo_module.REMEMBER]

        # The next demo's lead reads the signature and does not ask again.
        before, asked = len(cards), len(engine.demo.model.requests)
        second_id = engine.start_demo()
        second = await engine.wait(second_id)
        assert second.status == "done", second.result
        systems = demo_lead_systems(engine, asked)
        assert systems
        assert all(demo_module.REMEMBER in system for system in systems)
        assert "remember" not in [c.data["tool"] for c in cards[before:]]
    finally:
        await engine.close()


async def test_the_demo_signs_as_the_memory_says_and_its_undo_names_each_change(ensemble_home: Path) -> None:
    """A person who changed the remembered signature gets drafts signed their way, the report says
    where the signature came from, nothing more is proposed to remember, and the undo plan names
    each of the workbook's three changes and says the memory stays (in words, no tool names)."""
    engine = Engine()
    cards: list[Event] = []
    loop = asyncio.get_running_loop()

    def listen(event: Event) -> None:
        if event.kind == "action_proposed":
            cards.append(event)
            loop.call_soon(engine.decide, str(event.data["action_id"]), Decision.approve())

    engine.subscribe(listen)
    try:
        engine.add_memory("Sign reminder emails as Ana from Accounts")
        mission_id = engine.start_demo()
        outcome = await engine.wait(mission_id)
        assert outcome.status == "done", outcome.result
        assert "remember" not in [c.data["tool"] for c in cards]
        drafts = [a for a in engine.journal.actions(mission_id) if a.tool == "email_draft"]
        assert len(drafts) == 3
        assert all(json.loads(a.arguments_json)["body"].endswith("\nAna from Accounts") for a in drafts)
        assert "signed “Ana from Accounts”, as you asked me to remember" in (outcome.result or "")

        plan = engine.rollback_plan(mission_id)
        undo = [step.undo for step in plan.steps]
        assert len(undo) == 3
        assert len(set(undo)) == 3, undo  # each line says which change it takes back
        assert all(
            u.startswith("Put invoices.xlsx back as it was before the change to Invoices!H") for u in undo
        )
        memory = [limit.why for limit in plan.cannot_undo if limit.what.startswith("Remember")]
        assert memory == []  # nothing was remembered this time
        report = await engine.undo_mission(mission_id)
        assert report.complete
        assert all(r.message.startswith("Restored invoices.xlsx as it was before") for r in report.results)
    finally:
        await engine.close()


async def test_an_edited_remember_card_is_reported_as_edited(ensemble_home: Path) -> None:
    """The person edits what the lead proposed to remember: the report repeats what was kept, the
    undo plan says the memory stays and where to change it."""
    engine = Engine()
    loop = asyncio.get_running_loop()

    def listen(event: Event) -> None:
        if event.kind != "action_proposed":
            return
        action_id = str(event.data["action_id"])
        if event.data["tool"] == "remember":
            edited = {"text": "Sign reminder emails as Ana", "scope": "everywhere"}
            loop.call_soon(engine.decide, action_id, Decision.edit(edited))
        else:
            loop.call_soon(engine.decide, action_id, Decision.approve())

    engine.subscribe(listen)
    try:
        mission_id = engine.start_demo()
        outcome = await engine.wait(mission_id)
        assert outcome.status == "done", outcome.result
        assert "I will remember to sign reminders as Ana in your next missions" in (outcome.result or "")
        assert demo_module.SIGNATURE not in (outcome.result or "").split("Nothing was sent")[1]
        (limit,) = [
            lim for lim in engine.rollback_plan(mission_id).cannot_undo if lim.what.startswith("Remember")
        ]
        assert "under Memory" in limit.why
        assert "by hand" not in limit.why
    finally:
        await engine.close()
