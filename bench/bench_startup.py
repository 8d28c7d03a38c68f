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


def first_paint(command: list[str], home: Path, display: str | None) -> float:
    """Seconds from starting ``command`` to the window's first paint."""
    env = dict(os.environ, ENSEMBLE_HOME=str(home), ENSEMBLE_STARTUP_PROBE="1")
    env["ANTHROPIC_API_KEY"] = "sk-ant-bench"  # no welcome dialog
    if display is None:
        env["QT_QPA_PLATFORM"] = "offscreen"
    else:
        env.pop("QT_QPA_PLATFORM", None)
        env["DISPLAY"] = display
    started = time.time()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    for line in done.stderr.splitlines():
        if line.startswith("ensemble-shown "):
            return float(line.split()[1]) - started
    raise RuntimeError(f"{command[0]} did not show its window:\n{done.stderr[-2000:]}")


def cold_start(name: str, command: list[str], runs: int, display: str | None, root: Path) -> None:
    first_paint(command, root / f"{name}-warm", display)  # fills the OS's file cache
    times = [first_paint(command, root / f"{name}-{n}", display) * 1000 for n in range(runs)]
    print(
        f"   {name}: {', '.join(f'{t:.0f}' for t in times)} ms "
        f"(median {statistics.median(times):.0f} ms, max {max(times):.0f} ms)"
    )


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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, x_server() as display:
        print(f"Display: {'Xvfb ' + display if display else 'offscreen'}; {os.cpu_count()} cores")
        root = Path(tmp)
        bundle = args.bundle
        if bundle is None:
            subprocess.run(["bash", str(ROOT / "packaging" / "build.sh"), str(root / "dist")], check=True)
            bundle = root / "dist" / "ensemble"
        print("1. Cold start to the window's first paint")
        cold_start("from source", [str(ROOT / ".venv" / "bin" / "ensemble")], args.runs, display, root)
        cold_start("from the bundle", [str(bundle / "ensemble")], args.runs, display, root)
        sizes(bundle)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
