"""Readable rules: sentences, argument patterns, deny over allow, scope."""

from __future__ import annotations

import json

import pytest

from app import rules
from app.journal import ProposedAction, Rule


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
