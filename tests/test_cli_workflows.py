"""``ensemble workflow …``, ``ensemble service``, ``ensemble pending`` and ``ensemble decide``,
against the scripted model; and the XDG autostart entry."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from typing import TYPE_CHECKING, Any

import openpyxl
import pytest
import yaml

from app import autostart
from app.cli import main
from app.cli_args import build_parser
from app.commands_workflow import schedule_from_args, weekdays
from app.errors import EngineError
from app.testing.scripted_model import ScriptedModel, text, tool_call

if TYPE_CHECKING:
    from pathlib import Path

MISSION = "Mark invoice INV-1 overdue in invoices.xlsx"


def script_mark(model: ScriptedModel) -> None:
    """The lead hands one task to the spreadsheet agent, which writes one cell."""
    model.add(
        "Mark invoice",
        tool_call(
            "delegate",
            {
                "tasks": [
                    {
                        "id": "mark",
                        "agent": "spreadsheet",
                        "instructions": "MARK-WF: set the status of INV-1 in invoices.xlsx to overdue",
                    }
                ]
            },
        ),
        text("Marked it."),
    )
    model.add(
        "MARK-WF",
        tool_call(
            "sheet_write",
            {"path": "invoices.xlsx", "sheet": "Invoices", "range": "E2", "values": [["overdue"]]},
        ),
        text("Done."),
    )


def cli(capsys: pytest.CaptureFixture[str], *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """Runs ``ensemble ARGS`` in this process; its exit code, standard output and error."""
    capsys.readouterr()
    saved = sys.stdin
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    finally:
        sys.stdin = saved
    out, err = capsys.readouterr()
    return code, out, err


def last_json(output: str) -> Any:
    return json.loads(output.strip().splitlines()[-1])


def write_workflow(folder: Path, workspace: Path, **extra: Any) -> Path:
    """A workflow file, as a person would write or receive it."""
    data = {
        "name": "Chase invoices",
        "description": "Marks an invoice overdue",
        "instruction": "Mark invoice {invoice} overdue in invoices.xlsx",
        "params": [{"name": "invoice", "default": "INV-1", "description": "The invoice"}],
        "workspaces": [str(workspace)],
        **extra,
    }
    path = folder / "chase.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# Words into schedules (no engine) ------------------------------------------------------------


def schedule_of(*words: str) -> Any:
    return schedule_from_args(build_parser().parse_args(["workflow", "schedule", "W", *words]))


def test_schedule_words_make_the_right_schedule() -> None:
    weekly = schedule_of("--weekly", "mon,thu", "9:30")
    assert (weekly.kind, weekly.days, weekly.at, weekly.catch_up) == (
        "weekly",
        ["mon", "thu"],
        "09:30",
        "once",
    )
    assert weekly.describe() == "Every Monday and Thursday at 09:30"
    assert schedule_of("--daily", "07:05", "--catch-up", "skip").model_dump(exclude_defaults=True) == {
        "kind": "daily",
        "at": "07:05",
        "catch_up": "skip",
    }
    assert schedule_of("--weekdays", "18:00").kind == "weekdays"
    assert schedule_of("--hourly").at == ":00"
    assert schedule_of("--hourly", ":15").at == ":15"
    monthly = schedule_of("--monthly", "31", "08:00", "--timezone", "Europe/Paris")
    assert (monthly.kind, monthly.day, monthly.at, monthly.timezone) == (
        "monthly",
        31,
        "08:00",
        "Europe/Paris",
    )
    assert schedule_of("--cron", "0  9 * * mon-fri").cron == "0 9 * * mon-fri"
    later = (dt.datetime.now() + dt.timedelta(days=30)).replace(second=0, microsecond=0)
    once = schedule_of("--once", f"{later:%Y-%m-%d %H:%M}")
    assert (once.kind, once.at) == ("once", later.isoformat(timespec="minutes"))
    assert weekdays("Monday, fri") == ["mon", "fri"]
    assert weekdays("fri-mon") == ["mon", "fri", "sat", "sun"]


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["--daily", "25:00"], "'25:00' is not a time of day"),
        (["--weekdays", "9h"], "'9h' is not a time of day"),
        (["--weekly", "mon,funday", "09:00"], "'funday' is not a day of the week"),
        (["--monthly", "32", "09:00"], "'32' is not a day of the month"),
        (["--hourly", ":75"], "not a minute past the hour"),
        (["--cron", "0 9 * *"], "five fields"),
        (["--cron", "0 27 * * *"], "not a valid cron expression"),
        (["--once", "2020-01-01 09:00"], "has already passed"),
        (["--once", "next tuesday"], "not a date and time"),
        (["--daily", "09:00", "--timezone", "Mars/Olympus"], "not a time zone"),
    ],
)
def test_bad_schedule_words_get_one_clear_sentence(words: list[str], message: str) -> None:
    with pytest.raises(EngineError, match=message):
        schedule_of(*words)


# Workflows through the command line ----------------------------------------------------------


def test_save_with_a_param_then_run_with_another_value(
    scripted: ScriptedModel, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script_mark(scripted)
    code, out, err = cli(capsys, "run", MISSION, "-w", str(workspace), "--approve", "all", "--json")
    assert code == 0, out + err
    first = last_json(out)["mission_id"]

    code, out, err = cli(
        capsys, "workflow", "save", first, "--name", "Chase invoices", "--param", "invoice=INV-1"
    )
    assert code == 0, err
    assert "Saved the workflow “Chase invoices” (version 1)" in out
    assert "--param invoice=VALUE" in out
    requests = len(scripted.requests)

    code, out, err = cli(
        capsys, "workflow", "run", "chase invoices", "--param", "invoice=INV-4", "--approve", "all", "--json"
    )
    assert code == 0, out + err
    result = last_json(out)
    assert result["status"] == "done"
    assert result["workflow"] == "Chase invoices"
    assert result["run_id"]
    assert "Proposed action" in out  # the same progress as ensemble run
    code, out, _ = cli(capsys, "missions", "--json")
    texts = {m["mission_id"]: m["title"] for m in json.loads(out)}
    assert "INV-4" in texts[result["mission_id"]]
    # The saved plan went out with the value in place: the spreadsheet agent was asked about INV-4.
    asked = json.dumps(scripted.requests[requests:])
    assert "set the status of INV-4" in asked

    code, out, _ = cli(capsys, "workflow", "history", "Chase invoices", "--json")
    runs = json.loads(out)
    assert [(r["id"], r["mission_id"], r["params"], r["reason"]) for r in runs] == [
        (result["run_id"], result["mission_id"], {"invoice": "INV-4"}, "manual")
    ]
    code, out, _ = cli(capsys, "workflow", "history", "Chase invoices")
    assert result["mission_id"] in out
    assert "by hand" in out

    code, out, _ = cli(capsys, "workflow", "list", "--json")
    listed = json.loads(out)
    assert [(w["name"], w["version"], w["runs"]) for w in listed] == [("Chase invoices", 1, 1)]
    assert listed[0]["spec"]["instruction"] == "Mark invoice {invoice} overdue in invoices.xlsx"
    assert listed[0]["spec"]["params"][0]["default"] == "INV-1"
    assert listed[0]["spec"]["plan"][0]["instructions"].endswith("{invoice} in invoices.xlsx to overdue")

    code, out, _ = cli(capsys, "workflow", "show", "Chase invoices")
    assert "Instruction: Mark invoice {invoice} overdue" in out
    assert "{invoice}" in out
    assert "Saved plan (1 task" in out


def test_a_param_that_is_not_in_the_mission_is_refused(
    scripted: ScriptedModel, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script_mark(scripted)
    _, out, _ = cli(capsys, "run", MISSION, "-w", str(workspace), "--approve", "none", "--json")
    mission_id = last_json(out)["mission_id"]
    code, _, err = cli(capsys, "workflow", "save", mission_id, "--name", "X", "--param", "invoice=INV-99")
    assert code == 1
    assert "INV-99" in err
    assert "Traceback" not in err
    code, _, err = cli(capsys, "workflow", "save", mission_id, "--name", "X", "--param", "Invoice=INV-1")
    assert code == 1
    assert "'Invoice' is not a parameter name" in err
    code, _, err = cli(capsys, "workflow", "save", "m_nope", "--name", "X", "--param", "a=b")
    assert (code, err.strip()) == (1, "ensemble: There is no mission m_nope.")
    code, out, _ = cli(capsys, "workflow", "list")
    assert "No workflows yet" in out


def test_save_without_params_asks_the_lead_and_the_person_edits(
    scripted: ScriptedModel, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scripted.add(  # first: the proposal's request holds the mission's words too
        "turn a mission that Ensemble's agents",
        tool_call(
            "propose_parameters",
            {
                "params": [
                    {"name": "invoice", "type": "text", "description": "The invoice", "value": "INV-1"},
                    {"name": "book", "type": "file", "description": "The workbook", "value": "invoices.xlsx"},
                ]
            },
        ),
    )
    script_mark(scripted)
    _, out, _ = cli(capsys, "run", MISSION, "-w", str(workspace), "--approve", "none", "--json")
    mission_id = last_json(out)["mission_id"]

    # Drops one, then a wrong line (said why, asked again), then Enter: saved.
    code, out, err = cli(
        capsys, "workflow", "save", mission_id, "--name", "Chase", stdin="-book\nnot an edit\n\n"
    )
    assert code == 0, out + err
    assert "invoice = INV-1  (text) — The invoice" in out
    assert "book = invoices.xlsx" in out
    assert "--param takes NAME=VALUE" in out
    _, out, _ = cli(capsys, "workflow", "show", "Chase", "--json")
    spec = json.loads(out)["spec"]
    assert [p["name"] for p in spec["params"]] == ["invoice"]
    assert spec["instruction"] == "Mark invoice {invoice} overdue in invoices.xlsx"

    # The end of input saves nothing.
    code, out, _ = cli(capsys, "workflow", "save", mission_id, "--name", "Other", stdin="")
    assert code == 130
    assert "Nothing saved" in out
    _, out, _ = cli(capsys, "workflow", "list", "--json")
    assert [w["name"] for w in json.loads(out)] == ["Chase"]


def test_export_import_delete_and_errors(
    workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_workflow(tmp_path, workspace)
    code, out, err = cli(capsys, "workflow", "import", str(source))
    assert code == 0, err
    assert "Imported the workflow “Chase invoices” (version 1)" in out

    exported = tmp_path / "out" / "chase.yaml"
    exported.parent.mkdir()
    code, out, err = cli(capsys, "workflow", "export", "Chase invoices", str(exported))
    assert code == 0, err
    assert exported.read_text(encoding="utf-8").startswith("# An Ensemble workflow")
    code, _, err = cli(capsys, "workflow", "import", str(exported))
    assert code == 1
    assert "Chase invoices" in err  # the name is taken
    code, out, err = cli(capsys, "workflow", "import", str(exported), "--name", "Chase again")
    assert code == 0, err
    _, out, _ = cli(capsys, "workflow", "show", "Chase invoices", "--json")
    original = json.loads(out)["spec"]
    _, out, _ = cli(capsys, "workflow", "show", "Chase again", "--json")
    assert json.loads(out)["spec"] == {**original, "name": "Chase again"}

    code, out, err = cli(capsys, "workflow", "delete", "Chase again")
    assert code == 0, err
    assert "Deleted the workflow “Chase again”" in out
    _, out, _ = cli(capsys, "workflow", "list", "--json")
    assert [w["name"] for w in json.loads(out)] == ["Chase invoices"]

    for args in (
        ["workflow", "show", "Nope"],
        ["workflow", "run", "Nope"],
        ["workflow", "delete", "Chase again"],
        ["workflow", "history", "Nope", "--json"],
    ):
        code, out, err = cli(capsys, *args)
        assert code == 1, args
        assert err.startswith("ensemble: There is no workflow"), err
        assert "Traceback" not in err
        assert err.count("\n") == 1
    code, _, err = cli(capsys, "workflow", "import", str(tmp_path / "missing.yaml"))
    assert (code, "Could not read" in err) == (1, True)
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n", encoding="utf-8")
    code, _, err = cli(capsys, "workflow", "import", str(broken))
    assert code == 1
    assert "not a readable workflow" in err
    code, _, err = cli(capsys, "workflow", "run", "Chase invoices", "--param", "month=2026-11")
    assert code == 1
    assert "has no parameter month" in err


def test_schedule_trigger_and_unschedule(
    workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(capsys, "workflow", "import", str(write_workflow(tmp_path, workspace)))
    code, out, err = cli(capsys, "workflow", "schedule", "Chase invoices", "--weekly", "mon,thu", "09:00")
    assert code == 0, err
    assert "Every Monday and Thursday at 09:00" in out
    _, out, _ = cli(capsys, "workflow", "show", "Chase invoices", "--json")
    shown = json.loads(out)
    assert shown["spec"]["schedule"] == {
        "kind": "weekly",
        "at": "09:00",
        "days": ["mon", "thu"],
        "day": None,
        "cron": None,
        "timezone": "",
        "catch_up": "once",
    }
    assert shown["schedule"] == "Every Monday and Thursday at 09:00"

    code, _, err = cli(capsys, "workflow", "schedule", "Chase invoices", "--daily", "25:00")
    assert code == 1
    assert err.strip() == (
        "ensemble: '25:00' is not a time of day: give HH:MM, from 00:00 to 23:59 (e.g. 09:00)."
    )
    code, _, err = cli(capsys, "workflow", "schedule", "Nope", "--daily", "09:00")
    assert code == 1
    assert "There is no workflow" in err

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    code, out, err = cli(
        capsys, "workflow", "trigger", "Chase invoices", "--file", str(inbox), "--glob", "*.pdf"
    )
    assert code == 0, err
    assert f"When a file matching *.pdf is added or changed in {inbox}" in out
    code, out, err = cli(
        capsys, "workflow", "trigger", "Chase invoices", "--email", "INBOX", "--from", "*@supplier.example"
    )
    assert code == 0, err
    _, out, _ = cli(capsys, "workflow", "show", "Chase invoices", "--json")
    trigger = json.loads(out)["spec"]["trigger"]
    assert (trigger["kind"], trigger["folder"], trigger["from_glob"]) == (
        "email",
        "INBOX",
        "*@supplier.example",
    )
    code, _, err = cli(capsys, "workflow", "trigger", "Chase invoices", "--file", str(tmp_path / "none"))
    assert code == 1
    assert "is not a folder" in err
    code, _, err = cli(capsys, "workflow", "trigger", "Chase invoices", "--email", "INBOX", "--glob", "*.pdf")
    assert code == 1
    assert "--glob goes with --file" in err
    code, _, err = cli(capsys, "workflow", "trigger", "Chase invoices", "--email", "INBOX", "--param", "nope")
    assert code == 1
    assert "nope" in err
    assert "Traceback" not in err

    code, out, err = cli(capsys, "workflow", "unschedule", "Chase invoices")
    assert code == 0, err
    assert "no longer runs by itself" in out
    _, out, _ = cli(capsys, "workflow", "show", "Chase invoices", "--json")
    shown = json.loads(out)
    assert (shown["spec"]["schedule"], shown["spec"]["trigger"], shown["next_run_at"]) == (None, None, None)
    _, out, _ = cli(capsys, "workflow", "unschedule", "Chase invoices")
    assert "had no schedule and no trigger" in out


def test_a_schedule_needs_every_parameter_to_have_a_default(
    workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_workflow(tmp_path, workspace, params=[{"name": "invoice", "description": "The invoice"}])
    cli(capsys, "workflow", "import", str(path))
    code, _, err = cli(capsys, "workflow", "schedule", "Chase invoices", "--daily", "09:00")
    assert code == 1
    assert "invoice" in err
    assert "Traceback" not in err


# Actions waiting for a person, decided from another process ---------------------------------


def test_pending_lists_an_action_another_process_waits_on(
    scripted: ScriptedModel, workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script_mark(scripted)
    code, out, _ = cli(capsys, "pending")
    assert (code, out) == (0, "Nothing is waiting for you.\n")
    cli(capsys, "workflow", "import", str(write_workflow(tmp_path, workspace)))
    with running("workflow", "run", "Chase invoices", "--json") as (process, lines):
        assert wait_for(lines, "? Proposed action")
        code, out, err = cli(capsys, "pending", "--json")
        assert code == 0, err
        [waiting] = json.loads(out)
        assert (waiting["tool"], waiting["mission_status"]) == ("sheet_write", "running")
        code, out, _ = cli(capsys, "pending")
        assert f"ensemble decide {waiting['action_id']} approve" in out
        code, out, err = cli(capsys, "decide", waiting["action_id"], "approve")
        assert code == 0, err
        assert f"handed to the Ensemble process {process.pid}" in out
        # The run takes the decision from the journal, writes the cell and ends by itself.
        assert process.wait(timeout=60) == 0
        assert last_json(lines.rest())["status"] == "done"
    assert openpyxl.load_workbook(workspace / "invoices.xlsx")["Invoices"]["E2"].value == "overdue"
    code, _, err = cli(capsys, "decide", waiting["action_id"], "approve")
    assert code == 1
    assert "is not waiting for a decision" in err
    code, _, err = cli(capsys, "decide", "a_nope", "reject")
    assert (code, err.strip()) == (1, "ensemble: There is no action a_nope.")


# ensemble service ----------------------------------------------------------------------------


class running:
    """``ensemble ARGS`` as a process: its standard output read line by line by a thread."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []

        def pump() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.lines.put(line.rstrip("\n"))
            self.lines.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def __enter__(self) -> tuple[subprocess.Popen[str], Lines]:
        return self.process, Lines(self.lines, self.seen)

    def __exit__(self, *_exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


class Lines:
    def __init__(self, source: queue.Queue[str | None], seen: list[str]) -> None:
        self.source = source
        self.seen = seen

    def until(self, fragment: str, timeout: float = 60) -> bool:
        """Waits for a line holding ``fragment``; False if the output ends (or times out) first."""
        while True:
            try:
                line = self.source.get(timeout=timeout)
            except queue.Empty:
                return False
            if line is None:
                return False
            self.seen.append(line)
            if fragment in line:
                return True

    def rest(self) -> str:
        while (line := self.source.get(timeout=60)) is not None:
            self.seen.append(line)
        return "\n".join(self.seen)


def wait_for(lines: Lines, fragment: str) -> bool:
    found = lines.until(fragment)
    assert found, "\n".join(lines.seen)
    return found


def test_service_runs_the_schedules_and_stops_cleanly(
    workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(capsys, "workflow", "import", str(write_workflow(tmp_path, workspace)))
    cli(capsys, "workflow", "schedule", "Chase invoices", "--daily", "09:00")
    with running("service") as (process, lines):
        wait_for(lines, "Stop it with Ctrl+C or SIGTERM")
        shown = "\n".join(lines.seen)
        assert f"running as process {process.pid}" in shown
        assert "“Chase invoices”: Every day at 09:00; next run" in shown

        second = subprocess.run(
            [sys.executable, "-m", "app.cli", "service"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 1
        assert f"process {process.pid}" in second.stderr
        assert "Traceback" not in second.stderr

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert "Stopped." in lines.rest()
    # The schedules are free again: another engine may own them.
    with running("service") as (process, lines):
        wait_for(lines, "Stop it with")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0


def test_service_runs_a_triggered_workflow_whose_card_is_decided_from_another_process(
    scripted: ScriptedModel, workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script_mark(scripted)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = write_workflow(
        tmp_path,
        workspace,
        instruction="Mark invoice {invoice} overdue in invoices.xlsx, as {doc} says",
        params=[{"name": "invoice", "default": "INV-1"}, {"name": "doc", "type": "file"}],
    )
    cli(capsys, "workflow", "import", str(path))
    code, _, err = cli(
        capsys, "workflow", "trigger", "Chase invoices", "--file", str(inbox), "--param", "doc"
    )
    assert code == 0, err
    with running("service") as (process, lines):
        # The first start records what the folder holds; the file arrives while it is stopped.
        wait_for(lines, "Stop it with")
        assert "When a file is added or changed in" in "\n".join(lines.seen)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    (inbox / "notice.txt").write_text("INV-1 is late", encoding="utf-8")
    with running("service") as (process, lines):
        wait_for(lines, "“Chase invoices” started on its trigger")
        wait_for(lines, "Waiting for you")
        wait_for(lines, "Decide: ensemble decide")
        action_id = lines.seen[-1].split("ensemble decide ")[1].split()[0]
        code, _, err = cli(capsys, "decide", action_id, "approve")
        assert code == 0, err
        wait_for(lines, " done")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    assert openpyxl.load_workbook(workspace / "invoices.xlsx")["Invoices"]["E2"].value == "overdue"


# Start at login --------------------------------------------------------------------------------


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    return folder


def test_autostart_writes_and_removes_the_desktop_entry(config_home: Path) -> None:
    entry = config_home / "autostart" / "ensemble.desktop"
    assert autostart.entry_path() == entry
    assert not autostart.is_enabled()
    assert autostart.disable() is False

    path = autostart.enable(["--tray"], command=["/opt/My Apps/ensemble"])
    assert path == entry
    assert autostart.is_enabled()
    lines = entry.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "[Desktop Entry]"
    assert 'Exec="/opt/My Apps/ensemble" --tray' in lines
    assert "Type=Application" in lines
    assert [p.name for p in entry.parent.iterdir()] == ["ensemble.desktop"]

    # Switched off in the desktop's own settings: not enabled, though the file is there.
    entry.write_text(entry.read_text(encoding="utf-8") + "Hidden=true\n", encoding="utf-8")
    assert not autostart.is_enabled()
    assert autostart.disable() is True
    assert not entry.exists()
    assert autostart.launcher()  # the bundle's binary, the venv's script, or python -m app.cli


def test_autostart_defaults_to_dot_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/is/ignored")
    assert autostart.entry_path() == tmp_path / ".config" / "autostart" / "ensemble.desktop"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert autostart.entry_path() == tmp_path / ".config" / "autostart" / "ensemble.desktop"


def test_exec_lines_are_quoted_as_the_specification_says() -> None:
    assert autostart.exec_line(["/usr/bin/ensemble"]) == "/usr/bin/ensemble"
    assert autostart.exec_line(["/a b/ensemble", "100%"]) == '"/a b/ensemble" "100%%"'
    assert autostart.exec_line(['/x/"q"$']) == '"/x/\\\\"q\\\\"\\\\$"'
