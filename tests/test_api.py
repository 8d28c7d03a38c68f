"""The contract between the engine and its clients: typed events, the mission as data, one error base."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from app import accounts, secrets
from app.api import (
    ActionProposed,
    EngineError,
    EnsembleError,
    MissionFinished,
    MissionSpec,
    OtherEvent,
    RuleSpec,
    encode,
    typed,
)
from app.engine import Engine
from app.gate import GateError
from app.settings import SettingsError
from app.testing.scripted_model import ScriptedModel, text
from connectors.base import ToolError

if TYPE_CHECKING:
    from pathlib import Path

    from app.journal import Event


def test_every_error_a_person_may_see_is_an_ensemble_error() -> None:
    for error in (
        EngineError,
        GateError,
        ToolError,
        SettingsError,
        secrets.SecretError,
        accounts.AccountError,
    ):
        assert issubclass(error, EnsembleError)


def test_an_event_is_typed_by_its_kind_and_unknown_kinds_are_kept() -> None:
    proposed = typed(
        "action_proposed",
        "m",
        {"action_id": "a1", "agent": "email", "tool": "email_send", "warning": "new", "extra_field": 1},
        summary="email proposes: Send",
    )
    assert isinstance(proposed, ActionProposed)
    assert proposed.agent == "email"
    assert proposed.model_extra == {"extra_field": 1}
    assert encode(proposed)["data"]["action_id"] == "a1"
    future = typed("calendar_synced", "m", {"calendars": 3}, summary="Synced")
    assert isinstance(future, OtherEvent)
    assert encode(future)["data"] == {"calendars": 3}
    broken = typed("mission_finished", "m", {"no_status": True})
    assert isinstance(broken, OtherEvent), "data that does not fit is kept, never an error"


def test_a_spec_round_trips_and_says_what_is_wrong_in_words() -> None:
    spec = MissionSpec(
        instruction="Chase the invoices",
        workspaces=["/tmp/ws"],
        allowed_sites=["portal.example.com"],
        approval="all",
        rules=[RuleSpec(kind="reject_all", tool="email_send")],
    )
    assert MissionSpec.from_json(spec.to_json()) == spec
    with pytest.raises(EngineError, match="The mission is empty"):
        MissionSpec.of(instruction="   ")
    with pytest.raises(EngineError, match="approval"):
        MissionSpec.of(instruction="x", approval="sometimes")


async def test_a_mission_started_from_a_spec_can_be_run_again(
    scripted: ScriptedModel, workspace: Path
) -> None:
    scripted.add("Count the invoices", text("There are four."))
    engine = Engine()
    events: list[Event] = []
    engine.subscribe(events.append)
    spec = MissionSpec(
        instruction="Count the invoices",
        workspaces=[str(workspace)],
        rules=[RuleSpec(kind="reject_all", tool="sheet_write")],
        model="claude-test-model",
    )
    try:
        first = engine.start(spec)
        outcome = await engine.wait(first)
        again = engine.spec_of(first)
        assert again == spec
        second = await engine.wait(engine.start(again))
    finally:
        await engine.close()
    assert outcome.status == second.status == "done"
    # The spec's rule applied to its mission, and was retired when the mission ended.
    assert [e.kind for e in engine.mission_events(first)].count("rule_added") == 1
    assert [r for r in engine.journal.rules(first) if r.mission_id == first] == []
    finished = [typed(e.kind, e.mission_id, e.data) for e in events if e.kind == "mission_finished"]
    assert all(isinstance(f, MissionFinished) and f.status == "done" for f in finished)
    assert {r["model"] for r in scripted.requests} == {"claude-test-model"}
