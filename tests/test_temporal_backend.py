"""The engine's facade on the Temporal backend (issue 19): ``Settings(backend="temporal")``.

The window and the command line use the same :class:`app.engine.Engine` on both backends: a
mission on Temporal starts as a workflow on the dev server, its events come back into the
journal as the engine's own (typed events, cards, the audit, the missions list), and the
person's decisions go to the workflow. A card decided by another process (``ensemble decide``)
releases the action in the first engine; stopping cancels the workflow; closing the app only
stops following, and the next start follows the mission again without copying anything twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _temporal import MISSION, cell, eventually, script
from temporalio.client import Client

from app.api import ActionDecided, ActionProposed, AnyEvent
from app.api.spec import MissionSpec
from app.engine import Decision, Engine
from app.settings import Settings, TemporalSettings
from app.temporal.activities import MissionActivities
from app.temporal.worker import build_worker

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from _temporal import DevServer

    from app.testing.scripted_model import ScriptedModel

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


@contextlib.asynccontextmanager
async def worker_here(server: DevServer, queue: str) -> AsyncIterator[None]:
    """A worker in this process, serving ``queue``."""
    client = await Client.connect(server.target)
    activities = MissionActivities()
    try:
        async with build_worker(client, queue, activities):
            yield
    finally:
        await activities.close()


def on_temporal(server: DevServer, queue: str) -> Settings:
    return Settings(backend="temporal", temporal=TemporalSettings(address=server.target, task_queue=queue))


async def waiting_card(engine: Engine) -> Any:
    async def probe() -> Any:
        return engine.waiting()

    return (await eventually(probe, "a card in the engine's journal"))[0]


async def test_a_mission_on_temporal_reads_and_decides_like_an_embedded_one(
    temporal_server: DevServer, scripted: ScriptedModel, workspace: Path, ensemble_home: Path
) -> None:
    script(scripted)
    queue = f"q-{uuid.uuid4().hex}"
    seen: list[AnyEvent] = []
    async with worker_here(temporal_server, queue):
        engine = Engine(settings=on_temporal(temporal_server, queue))
        engine.subscribe_events(seen.append)
        try:
            mission_id = engine.start(MissionSpec(instruction=MISSION, workspaces=[str(workspace)]))
            card = await waiting_card(engine)
            assert card.tool == "sheet_write"
            assert "E2: open → overdue" in (card.preview.text or "")
            assert cell(workspace / "invoices.xlsx", "E2") == "open"
            assert any(isinstance(e, ActionProposed) and e.action_id == card.id for e in seen)

            with pytest.raises(Exception, match=r"(?i)values|invalid"):
                engine.decide(card.id, Decision.edit({"values": "not a table"}))
            engine.decide(card.id, Decision.edit({"values": [["overdue (edited)"]]}))
            outcome = await asyncio.wait_for(engine.wait(mission_id), 90)
        finally:
            await engine.close()

    assert outcome.status == "done", outcome.result
    assert "INV-1 is marked overdue." in (outcome.result or "")
    assert cell(workspace / "invoices.xlsx", "E2") == "overdue (edited)"
    assert any(isinstance(e, ActionDecided) and e.decision == "edit" for e in seen)

    again = Engine()  # another window later: the journal has the whole mission
    try:
        info = again.mission_info(mission_id)
        assert info is not None
        assert info.status == "done"
        assert info.on_cluster  # the missions list says where it ran
        kinds = [e.kind for e in again.mission_events(mission_id)]
        for kind in (
            "mission_started",
            "task_started",
            "action_proposed",
            "action_decided",
            "action_executed",
        ):
            assert kinds.count(kind) == 1, kinds
        assert kinds[-1] == "mission_finished"
        action = again.action_info(card.id)
        assert action is not None
        assert action.status == "executed"
        assert [t.status for t in again.journal.tasks(mission_id)] == ["done"]
    finally:
        await again.close()


async def test_a_card_decided_by_another_process_releases_the_action_here(
    temporal_server: DevServer, scripted: ScriptedModel, workspace: Path, ensemble_home: Path
) -> None:
    script(scripted)
    queue = f"q-{uuid.uuid4().hex}"
    seen: list[AnyEvent] = []
    async with worker_here(temporal_server, queue):
        engine = Engine(settings=on_temporal(temporal_server, queue))
        engine.subscribe_events(seen.append)
        try:
            mission_id = engine.start(MissionSpec(instruction=MISSION, workspaces=[str(workspace)]))
            card = await waiting_card(engine)
            cli = [
                sys.executable,
                "-m",
                "app.cli",
                "--backend",
                "temporal",
                "--temporal",
                temporal_server.target,
            ]
            listed = await asyncio.to_thread(
                subprocess.run,
                [*cli, "pending", "--json"],
                cwd=ROOT,
                env=dict(os.environ),
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert listed.returncode == 0, listed.stderr
            assert card.id in listed.stdout  # another terminal sees the window's card
            command = [*cli, "--task-queue", queue, "decide", card.id, "approve"]
            done = await asyncio.to_thread(
                subprocess.run,
                command,
                cwd=ROOT,
                env=dict(os.environ),
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr
            assert "sent to the Temporal cluster" in done.stdout
            outcome = await asyncio.wait_for(engine.wait(mission_id), 90)
        finally:
            await engine.close()
    assert outcome.status == "done", outcome.result
    assert cell(workspace / "invoices.xlsx", "E2") == "overdue"
    decided = [e for e in seen if isinstance(e, ActionDecided)]
    assert [(e.action_id, e.decision, e.decided_by) for e in decided] == [(card.id, "approve", "person")]


async def test_stopping_cancels_the_workflow_and_closing_only_stops_following(
    temporal_server: DevServer, scripted: ScriptedModel, workspace: Path, ensemble_home: Path
) -> None:
    script(scripted)
    queue = f"q-{uuid.uuid4().hex}"
    async with worker_here(temporal_server, queue):
        # Closing the app: the mission goes on on the cluster, its card still waits there.
        first = Engine(settings=on_temporal(temporal_server, queue))
        mission_id = first.start(MissionSpec(instruction=MISSION, workspaces=[str(workspace)]))
        card = await waiting_card(first)
        await first.close(pause=True)

        second = Engine(settings=on_temporal(temporal_server, queue))
        try:
            assert [m.id for m in second.paused_by_quit()] == [mission_id]
            assert second.resume_paused() == [(mission_id, None)]
            again = await waiting_card(second)
            assert again.id == card.id  # the same card, not a copy
            # Stopping: the workflow is cancelled and its card rejected there.
            assert await second.cancel(mission_id)
            outcome = await second.wait(mission_id)
            kinds = [e.kind for e in second.mission_events(mission_id)]
        finally:
            await second.close()
    assert outcome.status == "cancelled"
    assert kinds.count("action_proposed") == 1, kinds  # following again copied only what was new
    assert kinds.count("task_started") == 1, kinds
    assert cell(workspace / "invoices.xlsx", "E2") == "open"


async def test_an_unreachable_cluster_is_said_in_words(ensemble_home: Path, workspace: Path) -> None:
    from _temporal import free_port

    engine = Engine(
        settings=Settings(backend="temporal", temporal=TemporalSettings(address=f"127.0.0.1:{free_port()}"))
    )
    try:
        mission_id = engine.start(MissionSpec(instruction=MISSION, workspaces=[str(workspace)]))
        outcome = await asyncio.wait_for(engine.wait(mission_id), 60)
    finally:
        await engine.close()
    assert outcome.status == "failed"
    assert outcome.result is not None
    assert "cannot reach the Temporal server" in outcome.result
    assert "Traceback" not in outcome.result
    assert "tonic" not in outcome.result


async def test_a_mission_that_ended_while_no_window_followed_it_is_not_run_again(
    temporal_server: DevServer, scripted: ScriptedModel, workspace: Path, ensemble_home: Path
) -> None:
    from app.temporal._shapes import DecisionInput
    from app.temporal.client import decide, mission

    script(scripted)
    queue = f"q-{uuid.uuid4().hex}"
    async with worker_here(temporal_server, queue):
        first = Engine(settings=on_temporal(temporal_server, queue))
        mission_id = first.start(MissionSpec(instruction=MISSION, workspaces=[str(workspace)]))
        card = await waiting_card(first)
        await first.close(pause=True)

        # Meanwhile a teammate decides it from their own client, and the mission ends.
        other = await Client.connect(temporal_server.target)
        handle = mission(other, mission_id)
        await decide(handle, DecisionInput(card.id, "approve"))
        await asyncio.wait_for(handle.result(), 60)
        requests = len(scripted.requests)

        second = Engine(settings=on_temporal(temporal_server, queue))
        try:
            assert second.resume_paused() == [(mission_id, None)]
            outcome = await asyncio.wait_for(second.wait(mission_id), 60)
            kinds = [e.kind for e in second.mission_events(mission_id)]
        finally:
            await second.close()
    assert outcome.status == "done", outcome.result
    assert len(scripted.requests) == requests  # followed, not started again
    assert cell(workspace / "invoices.xlsx", "E2") == "overdue"
    assert kinds.count("action_executed") == 1, kinds
    assert kinds.count("action_decided") == 1, kinds


def test_the_command_line_s_backend_options_reach_the_settings(
    ensemble_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.cli_args import backend_environment, build_parser
    from app.settings import SettingsError

    args = build_parser().parse_args(
        [
            "--backend",
            "temporal",
            "--temporal",
            "tc.example.com:7233",
            "--namespace",
            "fin",
            "--tls",
            "missions",
        ]
    )
    environment = backend_environment(args)
    assert environment == {
        "ENSEMBLE_BACKEND": "temporal",
        "ENSEMBLE_TEMPORAL": "tc.example.com:7233",
        "ENSEMBLE_TEMPORAL_NAMESPACE": "fin",
        "ENSEMBLE_TEMPORAL_TLS": "1",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = Settings.load(ensemble_home / "settings.json")
    assert settings.backend == "temporal"
    assert (settings.temporal.address, settings.temporal.namespace, settings.temporal.tls) == (
        "tc.example.com:7233",
        "fin",
        True,
    )
    assert backend_environment(build_parser().parse_args(["missions"])) == {}
    monkeypatch.setenv("ENSEMBLE_BACKEND", "cloud")
    with pytest.raises(SettingsError, match="must be 'embedded' or 'temporal'"):
        Settings.load(ensemble_home / "settings.json")


async def test_a_scheduled_workflow_runs_on_the_cluster_and_its_card_comes_to_this_engine(
    temporal_server: DevServer,
    scripted: ScriptedModel,
    workspace: Path,
    ensemble_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import timedelta

    from temporalio.client import ScheduleIntervalSpec, ScheduleSpec

    from app.api.workflows import Schedule, WorkflowSpec
    from app.temporal import schedules

    # Due every two seconds instead of at the date below; a one-time schedule runs once.
    monkeypatch.setattr(
        schedules,
        "schedule_spec",
        lambda _schedule, **_kw: ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=2))]),
    )
    script(scripted)
    queue = f"q-{uuid.uuid4().hex}"
    name = f"Mark overdue {uuid.uuid4().hex[:6]}"
    async with worker_here(temporal_server, queue):
        engine = Engine(settings=on_temporal(temporal_server, queue))
        try:
            engine.save_workflow(
                WorkflowSpec(
                    name=name,
                    instruction=MISSION,
                    workspaces=[str(workspace)],
                    schedule=Schedule(kind="once", at="2030-01-01T09:00", timezone="UTC"),
                )
            )
            await engine.start_schedules()
            assert engine.owns_schedules
            card = await waiting_card(engine)
            run = engine.workflow_run_of(card.mission_id)
            assert run is not None
            assert run.reason == "schedule"
            assert card.mission_id.startswith(schedules.schedule_id(name))
            engine.decide(card.id, Decision.approve())
            outcome = await asyncio.wait_for(engine.wait(card.mission_id), 90)
            runs = engine.workflow_runs(name)
            await engine.stop_schedules()
        finally:
            await engine.close()
    assert outcome.status == "done", outcome.result
    assert [r.mission_id for r in runs] == [card.mission_id]  # one due time, one run
    assert cell(workspace / "invoices.xlsx", "E2") == "overdue"


async def test_what_the_lead_proposes_to_remember_waits_for_the_person_and_is_kept_here(
    temporal_server: DevServer, scripted: ScriptedModel, workspace: Path, ensemble_home: Path
) -> None:
    from app.testing.scripted_model import text, tool_call

    mission = "Sign my emails as Ana from now on"
    scripted.add(
        mission,
        tool_call("remember", {"text": "Sign emails as Ana", "scope": "everywhere"}),
        text("I will sign as Ana."),
    )
    queue = f"q-{uuid.uuid4().hex}"
    async with worker_here(temporal_server, queue):
        engine = Engine(settings=on_temporal(temporal_server, queue))
        try:
            # Even "approve every action" leaves it to the person.
            mission_id = engine.start(
                MissionSpec(instruction=mission, workspaces=[str(workspace)], approval="all")
            )
            card = await waiting_card(engine)
            assert card.tool == "remember"
            assert card.ask_person
            assert engine.list_memory() == []
            engine.decide(card.id, Decision.approve())
            outcome = await asyncio.wait_for(engine.wait(mission_id), 60)
            kept = [m.text for m in engine.list_memory()]
        finally:
            await engine.close()
    assert outcome.status == "done", outcome.result
    assert kept == ["Sign emails as Ana"]


async def test_a_rule_added_while_a_card_waits_decides_it_on_the_cluster(
    temporal_server: DevServer, scripted: ScriptedModel, workspace: Path, ensemble_home: Path
) -> None:
    script(scripted)
    queue = f"q-{uuid.uuid4().hex}"
    seen: list[AnyEvent] = []
    async with worker_here(temporal_server, queue):
        engine = Engine(settings=on_temporal(temporal_server, queue))
        engine.subscribe_events(seen.append)
        try:
            mission_id = engine.start(MissionSpec(instruction=MISSION, workspaces=[str(workspace)]))
            card = await waiting_card(engine)
            rule = engine.add_rule(
                "approve_all", mission_id=mission_id, tool="sheet_write", where={"path": "*invoices.xlsx"}
            )
            outcome = await asyncio.wait_for(engine.wait(mission_id), 90)
        finally:
            await engine.close()
    assert outcome.status == "done", outcome.result
    assert cell(workspace / "invoices.xlsx", "E2") == "overdue"
    decided = [e for e in seen if isinstance(e, ActionDecided) and e.action_id == card.id]
    assert [e.decided_by for e in decided] == [f"rule:{rule.id} ({rule.description})"]


async def test_a_model_that_stays_unavailable_makes_the_mission_wait_not_fail(
    temporal_server: DevServer, scripted: ScriptedModel, workspace: Path, ensemble_home: Path
) -> None:
    from temporalio.client import Client as TemporalClient

    from app.temporal._shapes import RuleData
    from app.temporal.client import events, mission_input, start_mission
    from app.testing.scripted_model import error

    script(scripted)
    down = {"calls": 0}

    def overloaded(_body: dict[str, Any]) -> Any:
        # Overloaded through the first round of tries and a wait, then back.
        if down["calls"] < 3:
            down["calls"] += 1
            return error(529, "overloaded_error", "Overloaded")
        return None

    scripted.on_request(overloaded)
    queue, mission_id = f"q-{uuid.uuid4().hex}", f"m-{uuid.uuid4().hex[:12]}"
    data = mission_input(
        mission_id,
        MISSION,
        [str(workspace)],
        Settings(),
        rules=[],
        model_attempts=2,
        model_wait_seconds=1.0,
    )
    data.rules.append(RuleData("r-all", "approve_all", "Approve every action"))
    async with worker_here(temporal_server, queue):
        client = await TemporalClient.connect(temporal_server.target)
        handle = await start_mission(client, data, queue)
        result = await asyncio.wait_for(handle.result(), 120)
        seen = await events(handle)
    assert result.status == "done", result.result
    kinds = [e.kind for e in seen]
    assert kinds.count("model_unavailable") == 1, kinds  # said once, not at every try
    assert kinds.count("model_available") == 1, kinds
    said = next(e for e in seen if e.kind == "model_unavailable")
    assert "waits and tries again every 1 seconds" in said.summary
    assert cell(workspace / "invoices.xlsx", "E2") == "overdue"


async def test_a_mission_whose_app_was_killed_is_followed_again_and_finishes_once(
    temporal_server: DevServer, scripted: ScriptedModel, workspace: Path, ensemble_home: Path
) -> None:
    """kill -9 of the process that started a mission on Temporal: the mission goes on on the
    cluster; the next Ensemble follows it again by itself, and its card is decided there."""
    import signal

    from app.journal import Journal
    from app.paths import Paths

    script(scripted)
    queue = f"q-{uuid.uuid4().hex}"
    async with worker_here(temporal_server, queue):
        command = [
            sys.executable,
            "-m",
            "app.cli",
            "--backend",
            "temporal",
            "--temporal",
            temporal_server.target,
            "--task-queue",
            queue,
            "run",
            MISSION,
            "--workspace",
            str(workspace),
        ]
        process = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, env=dict(os.environ), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
        )
        journal = Journal(Paths.default().journal)
        try:

            async def card_in_journal() -> Any:
                return journal.actions(status="pending")

            waiting = (await eventually(card_in_journal, "the card in the killed app's journal"))[0]
        finally:
            journal.close()
            process.send_signal(signal.SIGKILL)
            await asyncio.wait_for(process.wait(), 30)

        engine = Engine(settings=on_temporal(temporal_server, queue))
        try:
            assert [m.id for m in engine.paused_by_quit()] == [waiting.mission_id]
            assert engine.resume_paused() == [(waiting.mission_id, None)]
            card = await waiting_card(engine)
            assert card.id == waiting.id
            engine.decide(card.id, Decision.approve())
            outcome = await asyncio.wait_for(engine.wait(card.mission_id), 90)
            kinds = [e.kind for e in engine.mission_events(card.mission_id)]
        finally:
            await engine.close()
    assert outcome.status == "done", outcome.result
    assert cell(workspace / "invoices.xlsx", "E2") == "overdue"
    assert kinds.count("action_proposed") == 1, kinds
    assert kinds.count("action_executed") == 1, kinds


async def test_a_mission_is_never_started_again_on_another_cluster(
    temporal_server: DevServer, scripted: ScriptedModel, workspace: Path, ensemble_home: Path
) -> None:
    from app.temporal.client import mission as handle_of
    from app.temporal.client import pending

    script(scripted)
    queue = f"q-{uuid.uuid4().hex}"
    async with worker_here(temporal_server, queue):
        first = Engine(settings=on_temporal(temporal_server, queue))
        mission_id = first.start(MissionSpec(instruction=MISSION, workspaces=[str(workspace)]))
        await waiting_card(first)
        await first.close(pause=True)

        # The settings now name another namespace: following it there could start it twice.
        elsewhere = on_temporal(temporal_server, queue)
        elsewhere = elsewhere.model_copy(
            update={"temporal": elsewhere.temporal.model_copy(update={"namespace": "elsewhere"})}
        )
        second = Engine(settings=elsewhere)
        try:
            second.resume_paused()
            outcome = await asyncio.wait_for(second.wait(mission_id), 30)
        finally:
            await second.close()
        client = await Client.connect(temporal_server.target)
        still = await pending(handle_of(client, mission_id))
    assert outcome.status == "interrupted"  # it still runs there: left for the person to follow
    assert "it was not started again" in (outcome.result or "")
    assert len(still) == 1  # on its own cluster it still waits for the person, once
    await handle_of(client, mission_id).cancel()
