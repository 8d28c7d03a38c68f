"""Lists that grow: the first page of ``ensemble missions --json`` over 10,000 missions, ``ensemble
rules list`` and the gate's rule lookup over 1,000 rules in force.

Builds, in a private ENSEMBLE_HOME, a journal of ``--missions`` missions and ``--rules`` rules in
force (over 20 tools and every tool, for every mission), with as many retired rules (missions'
own rules, which end with them), then measures, each against a reference taken in the same run:

1. The missions query: :meth:`app.reader.JournalReader.list_missions`, the first page (200),
   against a plain ``sqlite3`` query of the same rows (the floor).
2. The whole command ``ensemble missions --json`` in a fresh process, against a fresh process
   that only runs that plain query and prints the rows as JSON (the interpreter's own start
   and ``sqlite3``: the floor). Goal: at most 0.3 s. Also ``ensemble rules list --json``.
3. The gate's rule lookup for one action (:meth:`app.journal.Journal.rules` by mission and tool,
   then :func:`app.rules.deciding_rule`), against the same on every rule in force of the
   mission (the lookup before the index, kept as ``Journal.rules(mission_id)``).

Prints each median, the ratio to its reference, and PASS or MISS against its goal.

Usage: python bench/bench_lists.py [--missions 10000] [--rules 1000] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import rules
from app.journal import Journal, Mission, ProposedAction, Rule
from app.reader import JournalReader

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parents[1]
TOOLS = [f"tool_{n:02d}" for n in range(19)] + ["email_send"]
PAGE = 200
COMMAND_GOAL_S = 0.3
LOOKUP_GOAL_MS = 1.0

REFERENCE_QUERY = f"""
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute(
    "SELECT id, status, title, started_at, tokens FROM mission ORDER BY started_at DESC LIMIT {PAGE}"
).fetchall()
print(json.dumps([dict(zip(("mission_id", "status", "title", "started_at", "tokens"), r)) for r in rows]))
"""


def fill(home: Path, missions: int, in_force: int) -> str:
    """The journal: missions, rules in force and as many retired; returns a mission's id."""
    home.mkdir(parents=True)
    journal = Journal(home / "journal.sqlite3")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    batch = [
        Mission(
            id=f"m_{n:08d}",
            title=f"Mission {n}: check the invoices of customer {n % 97}",
            text=f"Check the invoices of customer {n % 97} and remind those overdue",
            status="done",
            tokens=n * 13,
            started_at=start + timedelta(minutes=n),
        )
        for n in range(missions)
    ]
    for first in range(0, len(batch), 2000):
        journal.add(*batch[first : first + 2000])
    made = []
    for n in range(in_force):
        tool = None if n % 21 == 0 else TOOLS[n % len(TOOLS)]
        kind = "reject_all" if n % 9 == 0 else "approve_all"
        where = {"to": f"*@customer{n}.example"}
        made.append(
            Rule(
                id=f"r_{n:06d}",
                kind=kind,
                tool=tool,
                conditions_json=json.dumps(where),
                description=rules.describe(kind, tool, where, None),
                created_at=start + timedelta(seconds=n),
            )
        )
        made.append(
            Rule(
                id=f"r_old_{n:06d}",
                kind="approve_all",
                mission_id=f"m_{n % missions:08d}",
                description="Approve every action in this mission",
                active=False,
                created_at=start + timedelta(seconds=n),
            )
        )
    journal.add(*made)
    journal.close()
    return f"m_{missions - 1:08d}"


def median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm: the first run fills caches
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def process_s(command: list[str], env: dict[str, str], runs: int) -> float:
    subprocess.run(command, env=env, capture_output=True, check=True, cwd=ROOT)  # the OS's file cache
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(command, env=env, capture_output=True, check=True, cwd=ROOT)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def verdict(value: float, goal: float) -> str:
    return "PASS" if value <= goal else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--missions", type=int, default=10_000)
    parser.add_argument("--rules", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        mission_id = fill(home, args.missions, args.rules)
        path = home / "journal.sqlite3"
        env = dict(os.environ, ENSEMBLE_HOME=str(home))
        print(
            f"Journal: {args.missions:,} missions, {args.rules:,} rules in force and {args.rules:,} retired; "
            f"{os.cpu_count()} cores"
        )

        reader = JournalReader(path)
        plain = sqlite3.connect(path)
        query = median_ms(lambda: reader.list_missions(limit=PAGE), args.runs * 5)
        floor = median_ms(
            lambda: plain.execute(
                "SELECT id, title, status, started_at, tokens FROM mission ORDER BY started_at DESC LIMIT ?",
                (PAGE,),
            ).fetchall(),
            args.runs * 5,
        )
        reader.close()
        plain.close()
        print(f"1. First page of missions ({PAGE}), the query:")
        print(f"   read-only path {query:.2f} ms; plain sqlite3 {floor:.2f} ms (ratio {query / floor:.1f}x)")

        python = sys.executable
        command = process_s([python, "-m", "app.cli", "missions", "--json"], env, args.runs)
        reference = process_s([python, "-c", REFERENCE_QUERY, str(path)], env, args.runs)
        listed = process_s([python, "-m", "app.cli", "rules", "list", "--json"], env, args.runs)
        print("2. Whole command, fresh process each run (median):")
        print(
            f"   ensemble missions --json  {command:.3f} s; reference (python + sqlite3 + json) "
            f"{reference:.3f} s (ratio {command / reference:.1f}x); goal <= {COMMAND_GOAL_S} s "
            f"{verdict(command, COMMAND_GOAL_S)}"
        )
        print(
            f"   ensemble rules list --json {listed:.3f} s ({args.rules:,} rules; ratio "
            f"{listed / reference:.1f}x); goal <= {COMMAND_GOAL_S} s {verdict(listed, COMMAND_GOAL_S)}"
        )

        journal = Journal(path)
        action = ProposedAction(
            id="a_bench",
            mission_id=mission_id,
            tool_call_id="c",
            agent="email",
            tool="email_send",
            effect="external",
            arguments_json=json.dumps({"to": ["ann@customer999.example"]}),
            preview_json="{}",
        )

        def lookup() -> object:
            return rules.deciding_rule(journal.rules(action.mission_id, tool=action.tool), action)

        def lookup_everything() -> object:
            return rules.deciding_rule(journal.rules(action.mission_id), action)

        indexed = median_ms(lookup, args.runs * 30)
        everything = median_ms(lookup_everything, args.runs * 5)
        candidates = len(journal.rules(action.mission_id, tool=action.tool))
        journal.close()
        print(
            f"3. The gate's rule lookup for one action ({candidates} of {args.rules:,} rules may decide it):"
        )
        print(
            f"   by mission and tool (indexed) {indexed:.2f} ms; every rule in force {everything:.2f} ms "
            f"(ratio {indexed / everything:.2f}); goal <= {LOOKUP_GOAL_MS} ms "
            f"{verdict(indexed, LOOKUP_GOAL_MS)}"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
