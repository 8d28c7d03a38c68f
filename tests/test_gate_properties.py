"""Property: no local or external tool ever runs without a person's approval or a matching rule.

Hypothesis draws sequences of tool calls (read, local and external tools, with arguments
that rules may or may not match), the person's answer to each card (approve, edit, reject),
and a set of rules; the gate runs them against a real SQLite journal. Every run of a tool
with a side effect must trace back to an ``approve``/``edit`` by the person or to an allow
rule that matches what ran, and nothing rejected (by the person or a deny rule) ever runs.
And a rule never sends anywhere the person did not vouch for: an external action decided by a
rule only reaches the address the mission names, addresses of a domain an allow rule names,
or an address the person approved by hand earlier in the mission.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from app import rules
from app.gate import ApprovalGate, CallSite, Decision
from app.journal import Event, Journal, Mission, Rule
from connectors.base import Effect, Preview, TextDetail, Tool, ToolContext, ToolOutput


class Args(BaseModel):
    target: str


def counting_tool(name: str, effect: Effect, ran: list[tuple[str, str]]) -> Tool[Args]:
    async def run(_ctx: ToolContext, args: Args) -> ToolOutput:
        ran.append((name, args.target))
        return ToolOutput("ok")

    async def preview(_ctx: ToolContext, args: Args) -> Preview:
        return Preview(summary=f"{name} {args.target}", detail=TextDetail(), text=args.target)

    return Tool(
        name=name,
        description=name,
        effect=effect,
        args_model=Args,
        run=run,
        preview=None if effect == "read" else preview,
    )


TARGETS = ["a@ok.example", "b@ok.example", "x@bad.example", "Reports/q3.xlsx", "notes.txt"]
TOOLS = [("look", "read"), ("write", "local"), ("send", "external")]

calls = st.lists(
    st.tuples(
        st.sampled_from([name for name, _ in TOOLS]),
        st.sampled_from(TARGETS),
        st.sampled_from(["approve", "edit", "reject"]),
        st.sampled_from(TARGETS),  # what an edit changes the target to
    ),
    max_size=12,
)
rule_specs = st.lists(
    st.tuples(
        st.sampled_from(["approve_all", "reject_all"]),
        st.sampled_from([None, "write", "send"]),
        st.sampled_from([None, "*@ok.example", "Reports/*", "*"]),
        st.booleans(),  # scoped to the mission
    ),
    max_size=3,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=calls, rule_specs=rule_specs)
def test_no_side_effect_without_approval_or_rule(
    calls: list[tuple[str, str, str, str]], rule_specs: list[tuple[str, str | None, str | None, bool]]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(_check(Path(folder), calls, rule_specs))


async def _check(
    folder: Path,
    calls: list[tuple[str, str, str, str]],
    rule_specs: list[tuple[str, str | None, str | None, bool]],
) -> None:
    journal = Journal(folder / "journal.sqlite3")
    journal.add(Mission(id="m", title="t", text="property: write to a@ok.example"))
    for i, (kind, tool, pattern, scoped) in enumerate(rule_specs):
        where = {"target": pattern} if pattern else {}
        journal.add(
            Rule(
                id=f"r{i}",
                kind=kind,
                tool=tool,
                mission_id="m" if scoped else None,
                conditions_json=json.dumps(where),
                description=rules.describe(kind, tool, where, None),
            )
        )
    gate = ApprovalGate(journal)
    ran: list[tuple[str, str]] = []
    tools = {name: counting_tool(name, effect, ran) for name, effect in TOOLS}  # type: ignore[arg-type]
    answers: list[Decision] = []
    loop = asyncio.get_running_loop()

    def on_event(event: Event) -> None:
        if event.kind == "action_proposed" and answers:
            decision = answers.pop(0)
            loop.call_soon(_decide_if_waiting, gate, event.data["action_id"], decision)

    journal.subscribe(on_event)
    ctx = ToolContext(workspaces=[folder], backup_dir=folder / "b")
    site = CallSite("m", None, "agent")
    for i, (name, target, answer, edited) in enumerate(calls):
        answers[:] = [
            Decision.approve()
            if answer == "approve"
            else Decision.edit({"target": edited})
            if answer == "edit"
            else Decision.reject("no")
        ]
        await asyncio.wait_for(gate.call(tools[name], f"tu{i}", {"target": target}, ctx, site), timeout=10)

    rule_domains = {
        "ok.example"
        for r in journal.all_rules()
        if r.kind == "approve_all" and json.loads(r.conditions_json).get("target") == "*@ok.example"
    }
    vouched = {"a@ok.example"}
    for action in journal.actions("m"):
        if action.tool != "send" or action.status != "executed":
            continue
        target = json.loads(action.edited_arguments_json or action.arguments_json)["target"]
        if action.decided_by == "person":
            vouched.add(target)
        elif "@" in target:
            assert target in vouched or target.rpartition("@")[2] in rule_domains, (target, action.decided_by)
            assert not action.ask_person

    side_effects = [(n, t) for n, t in ran if n != "look"]
    executed = [a for a in journal.actions("m") if a.status == "executed"]
    assert len(side_effects) == len(executed)
    for action, (name, target) in zip(executed, side_effects, strict=True):
        assert action.tool == name
        what_ran: dict[str, Any] = json.loads(action.edited_arguments_json or action.arguments_json)
        assert what_ran["target"] == target
        if action.decided_by == "person":
            assert action.decision in ("approve", "edit")
        else:
            assert action.decided_by is not None
            rule_id = action.decided_by.split(" ", 1)[0].removeprefix("rule:")
            [deciding] = [r for r in journal.all_rules() if r.id == rule_id]
            assert deciding.kind == "approve_all"
            assert rules.matches(deciding, action)
            assert not any(r.kind == "reject_all" and rules.matches(r, action) for r in journal.all_rules())
    for action in journal.actions("m"):
        assert action.status in ("executed", "rejected"), action.status
    journal.close()


def _decide_if_waiting(gate: ApprovalGate, action_id: str, decision: Decision) -> None:
    if action_id in gate.pending:
        gate.decide(action_id, decision)
