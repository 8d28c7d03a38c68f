"""Readable rules: sentences, argument patterns, deny over allow, scope."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from app import rules
from app.journal import ProposedAction, Rule

if TYPE_CHECKING:
    from pathlib import Path


def action(tool: str, mission: str = "m1", **arguments: object) -> ProposedAction:
    return ProposedAction(
        id="a",
        mission_id=mission,
        tool_call_id="c",
        agent="x",
        tool=tool,
        effect="external",
        arguments_json=json.dumps(arguments),
        preview_json="{}",
    )


def rule(kind: str, tool: str | None = None, mission: str | None = None, **where: str) -> Rule:
    return Rule(
        id=f"r-{kind}-{tool}",
        kind=kind,
        tool=tool,
        mission_id=mission,
        conditions_json=json.dumps(where),
        description=rules.describe(kind, tool, where, mission),
    )


def test_rules_read_as_sentences() -> None:
    assert rules.describe("approve_all", "email_send", {"to": "*@example.com"}, None) == (
        "Always allow sending email where to matches *@example.com"
    )
    assert rules.describe("approve_all", "sheet_write", {"path": "Reports/*"}, "m1") == (
        "Always allow writes to workbooks where path matches Reports/* in this mission"
    )
    assert rules.describe("reject_all", "browser_request", {"url": "*bank.example.com*"}, None) == (
        "Never allow submissions on web pages where url matches *bank.example.com*"
    )


@pytest.mark.parametrize(
    ("to", "allowed"),
    [
        ("ann@example.com", True),
        ("ANN@Example.com", True),
        (["ann@example.com", "bob@example.com"], True),
        (["ann@example.com", "eve@elsewhere.org"], False),  # one outside: not covered
        ("eve@elsewhere.org", False),
    ],
)
def test_an_allow_covers_a_list_only_when_every_item_matches(to: object, allowed: bool) -> None:
    allow = rule("approve_all", "email_send", to="*@example.com")
    assert rules.matches(allow, action("email_send", to=to)) is allowed


def test_a_deny_beats_an_allow_and_matches_on_any_item() -> None:
    allow = rule("approve_all", "browser_request")
    deny = rule("reject_all", "browser_request", url="*bank.example.com*")
    bank = action("browser_request", url="https://bank.example.com/transfer")
    shop = action("browser_request", url="https://shop.example.org/cart")
    assert rules.deciding_rule([allow, deny], bank) is deny
    assert rules.deciding_rule([allow, deny], shop) is allow
    assert (
        rules.deciding_rule(
            [rule("reject_all", "email_send", to="*@evil.example")],
            action("email_send", to=["a@ok.example", "b@evil.example"]),
        )
        is not None
    )


def test_scope_by_mission_tool_and_missing_arguments() -> None:
    scoped = rule("approve_all", "sheet_write", mission="m1", path="Reports/*")
    assert rules.matches(scoped, action("sheet_write", path="Reports/q3.xlsx"))
    assert not rules.matches(scoped, action("sheet_write", mission="m2", path="Reports/q3.xlsx"))
    assert not rules.matches(scoped, action("sheet_append_rows", path="Reports/q3.xlsx"))
    assert not rules.matches(scoped, action("sheet_write", path="invoices.xlsx"))
    assert not rules.matches(scoped, action("sheet_write"))  # no path at all: not covered


def decided_id(candidates: list[Rule], proposed: ProposedAction) -> str | None:
    decided = rules.deciding_rule(candidates, proposed)
    return decided.id if decided is not None else None


def test_the_indexed_lookup_gives_what_the_full_list_gives_and_never_a_retired_rule(tmp_path: Path) -> None:
    from app.journal import Journal, Mission

    journal = Journal(tmp_path / "journal.sqlite3")
    try:
        journal.add(Mission(id="m1", title="t", text="t"), Mission(id="m2", title="t", text="t"))
        made = []
        where = {"reject_all": {"to": "*@b.example"}, "approve_all": {"to": "*@a.example"}}
        for n in range(120):
            mission = (None, "m1", "m2")[n % 3]
            tool = (None, "email_send", "sheet_write", "browser_request")[n % 4]
            kind = "reject_all" if n % 5 == 0 else "approve_all"
            made.append(
                Rule(
                    id=f"r{n:03d}",
                    kind=kind,
                    tool=tool,
                    mission_id=mission,
                    conditions_json=json.dumps(where[kind] if n % 2 or kind == "reject_all" else {}),
                    description=rules.describe(kind, tool, {}, mission),
                    active=n % 7 != 0,
                    created_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=(n * 37) % 120),
                )
            )
        journal.add(*made)
        kinds: set[str] = set()
        for mission in ("m1", "m2", "m3"):
            every = journal.rules(mission)
            for tool in ("email_send", "sheet_write", "browser_request", "email_draft"):
                indexed = journal.rules(mission, tool=tool)
                assert [r.id for r in indexed] == [r.id for r in every if r.tool in (None, tool)]
                assert all(r.active for r in indexed)
                for to in ("x@a.example", "x@b.example"):
                    proposed = action(tool, mission, to=to)
                    assert decided_id(indexed, proposed) == decided_id(every, proposed)
                    decided = rules.deciding_rule(indexed, proposed)
                    kinds.add(decided.kind if decided is not None else "none")
        assert {"approve_all", "reject_all"} <= kinds  # both kinds decided something
        assert any(not r.active for r in made)
        assert {r.id for r in journal.rules("m1", tool="email_send")}.isdisjoint(
            r.id for r in made if not r.active
        )
    finally:
        journal.close()


def test_the_lookup_reads_only_the_rules_in_force_of_its_mission_and_tool(tmp_path: Path) -> None:
    """SQLite answers the gate's lookup from the partial index of the rules in force."""
    import sqlite3

    from app.journal import Journal

    Journal(tmp_path / "journal.sqlite3").close()
    with sqlite3.connect(tmp_path / "journal.sqlite3") as db:
        plans = [
            row[-1]
            for row in db.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM rule WHERE active = 1 AND mission_id IS NULL AND tool = ?",
                ("email_send",),
            )
        ]
    assert any("ix_rule_in_force" in plan for plan in plans), plans


def test_a_deny_later_in_the_list_still_beats_an_earlier_allow() -> None:
    allow = rule("approve_all", "email_send")
    deny = rule("reject_all", None, to="*@evil.example")
    mail = action("email_send", to="eve@evil.example")
    assert rules.deciding_rule([allow, deny], mail) is deny
    assert rules.deciding_rule([allow, deny], action("email_send", to="bob@ok.example")) is allow
    assert rules.deciding_rule([deny], action("sheet_write", path="a.xlsx")) is None
