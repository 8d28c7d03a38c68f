"""Cold start and size of the desktop bundle.

1. Cold start: from launching the command to the main window's first paint, in a fresh
   process with a fresh ``ENSEMBLE_HOME``, for the command from source (``.venv/bin/ensemble``)
   and for the bundled binary (goals: 1.0 s and 1.5 s). The window is drawn on a real X
   server (Xvfb, started once for the run) when there is one, else offscreen. The app prints the moment of
   its first paint when ``ENSEMBLE_STARTUP_PROBE`` is set (ui/app.py), and quits.
2. Bundle size: the unpacked folder (goal: under 150 MB), the archive, and the largest parts.

Usage::

    .venv/bin/python bench/bench_startup.py [--bundle dist/ensemble] [--runs 5]

Without ``--bundle``, the bundle is built first into a temporary folder (about 90 s).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parent.parent


def launch(
    command: list[str], home: Path, display: str | None, *, ready: bool = False, cwd: Path | None = None
) -> tuple[float, float | None]:
    """Seconds from starting ``command`` (in ``cwd``) to the window's first paint and, with
    ``ready``, to the engine being up (ready for a mission; None without ``ready``)."""
    env = dict(os.environ, ENSEMBLE_HOME=str(home), ENSEMBLE_STARTUP_PROBE="ready" if ready else "1")
    env["ANTHROPIC_API_KEY"] = "sk-ant-bench"  # no welcome dialog
    if display is None:
        env["QT_QPA_PLATFORM"] = "offscreen"
    else:
        env.pop("QT_QPA_PLATFORM", None)
        env["DISPLAY"] = display
    started = time.time()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False, cwd=cwd)
    marks = {}
    for line in done.stderr.splitlines():
        if line.startswith(("ensemble-shown ", "ensemble-ready ", "ensemble-failed ")):
            word, at = line.split()[:2]
            marks[word] = float(at) - started
    if "ensemble-failed" in marks:
        raise RuntimeError(f"{command[0]}: the engine did not start:\n{done.stderr[-2000:]}")
    if "ensemble-shown" not in marks or (ready and "ensemble-ready" not in marks):
        raise RuntimeError(f"{command[0]} did not show its window:\n{done.stderr[-2000:]}")
    return marks["ensemble-shown"], marks.get("ensemble-ready")


def first_paint(command: list[str], home: Path, display: str | None) -> float:
    """Seconds from starting ``command`` to the window's first paint."""
    return launch(command, home, display)[0]


def load() -> str:
    """The load average over the last minute (the benchmark shares the machine)."""
    return f"load {os.getloadavg()[0]:.2f}"


def cold_start(name: str, command: list[str], runs: int, display: str | None, root: Path) -> None:
    first_paint(command, root / f"{name}-warm", display)  # fills the OS's file cache
    times = [first_paint(command, root / f"{name}-{n}", display) * 1000 for n in range(runs)]
    print(
        f"   {name}: {', '.join(f'{t:.0f}' for t in times)} ms "
        f"(median {statistics.median(times):.0f} ms, max {max(times):.0f} ms; {load()})"
    )


PAINT_GOAL_MS = 500.0
READY_GOAL_MS = 1500.0


def cold_ready(command: list[str], runs: int, display: str | None, root: Path) -> None:
    """From launching the window from source to its first paint and to the engine being ready
    for a mission (goals 0.5 s and 1.5 s on a quiet machine)."""
    # The first launch fills the OS's file cache and makes the journal: the runs timed are
    # starts like every later one (the very first also creates the journal's tables).
    first_paint_s, first_ready_s = launch(command, root / "ready", display, ready=True)
    print(
        f"   first launch ever (a new journal): paint {first_paint_s * 1000:.0f} ms, "
        f"ready {(first_ready_s or 0.0) * 1000:.0f} ms"
    )
    shown: list[float] = []
    ready: list[float] = []
    for _ in range(runs):
        paint, up = launch(command, root / "ready", display, ready=True)
        shown.append(paint * 1000)
        ready.append((up or 0.0) * 1000)
    paint_ms, ready_ms = statistics.median(shown), statistics.median(ready)
    print(
        f"   first paint: {', '.join(f'{t:.0f}' for t in shown)} ms (median {paint_ms:.0f} ms; goal "
        f"<= {PAINT_GOAL_MS:.0f} ms {'PASS' if paint_ms <= PAINT_GOAL_MS else 'MISS'})"
    )
    print(
        f"   ready for a mission: {', '.join(f'{t:.0f}' for t in ready)} ms (median {ready_ms:.0f} ms; "
        f"goal <= {READY_GOAL_MS:.0f} ms {'PASS' if ready_ms <= READY_GOAL_MS else 'MISS'}; {load()})"
    )


def import_profile(module: str, top: int = 12) -> None:
    """``python -X importtime -c "import MODULE"``: the total and the costliest imports below it
    (cumulative microseconds, as Python reports them), best of three runs."""
    best: dict[str, int] = {}
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        costs: dict[str, int] = {}
        for line in done.stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            _self, cumulative, name = line.split(":", 1)[1].split("|")
            costs[name.strip()] = int(cumulative)
        if not best or costs.get(module, 0) < best.get(module, 0):
            best = costs
    total = best.get(module, 0)
    print(f"   import {module}: {total / 1000:.0f} ms ({load()}); costliest parts (cumulative):")
    parts = sorted(((us, name) for name, us in best.items() if name != module), reverse=True)
    shown: list[str] = []
    for us, name in parts:
        # A package's cost includes its submodules': list the outermost of each chain only.
        if any(name.startswith(outer + ".") for outer in shown):
            continue
        shown.append(name)
        print(f"     {us / 1000:7.1f} ms  {name}")
        if len(shown) >= top:
            break
    heavy = [name for name in ("anthropic", "httpx2", "sqlalchemy", "openpyxl", "playwright") if name in best]
    print(f"   heavy packages imported: {', '.join(heavy) or 'none'}")


@contextlib.contextmanager
def x_server() -> Iterator[str | None]:
    """An Xvfb server for the whole run (its own start-up is not the app's), if there is one."""
    if not shutil.which("Xvfb"):
        yield None
        return
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1920x1200x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as lines:
            yield ":" + lines.readline().strip()
    finally:
        server.terminate()
        server.wait(timeout=10)


def size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def sizes(bundle: Path) -> None:
    mb = 1024 * 1024
    print(f"2. Bundle size: {size(bundle) / mb:.0f} MB unpacked")
    archives = sorted(bundle.parent.glob("ensemble-linux-*.tar.gz"))
    for archive in archives:
        print(f"   archive {archive.name}: {archive.stat().st_size / mb:.0f} MB")
    internal = bundle / "_internal"
    parts = sorted(((size(p) if p.is_dir() else p.stat().st_size), p.name) for p in internal.iterdir())
    print("   largest parts: " + ", ".join(f"{name} {n / mb:.0f} MB" for n, name in reversed(parts[-6:])))
    icu = sum(p.stat().st_size for p in internal.rglob("libicu*") if p.is_file() and not p.is_symlink())
    print(f"   of which ICU data for Qt: {icu / mb:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, help="a built bundle folder (default: build one)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--source-only",
        action="store_true",
        help="only the window from source: first paint, ready for a mission, the engine's imports",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, x_server() as display:
        print(f"Display: {'Xvfb ' + display if display else 'offscreen'}; {os.cpu_count()} cores; {load()}")
        root = Path(tmp)
        source = [str(ROOT / ".venv" / "bin" / "ensemble")]
        print("0. From source: launch to first paint and to ready for a mission")
        cold_ready(source, args.runs, display, root)
        import_profile("app.engine")
        if args.source_only:
            sys.stdout.flush()
            return
        bundle = args.bundle
        if bundle is None:
            subprocess.run(["bash", str(ROOT / "packaging" / "build.sh"), str(root / "dist")], check=True)
            bundle = root / "dist" / "ensemble"
        print("1. Cold start to the window's first paint")
        cold_start("from source", source, args.runs, display, root)
        cold_start("from the bundle", [str(bundle / "ensemble")], args.runs, display, root)
        sizes(bundle)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
