"""What importing and starting the engine costs (issue 17, "Ready fast").

The engine starts without the model's SDK (``anthropic`` and its HTTP client take seconds to
import on a slow machine) and, on a journal already at the newest schema (every start but the
first), without Alembic: those are imported when first needed. The window imports the SDK in a
worker thread once the engine is up. Each check runs in a fresh interpreter, since this test
process has long imported everything.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAZY = ("anthropic", "httpx2", "alembic")
NULL_KEYRING = "keyring.backends.null.Keyring"  # no child touches the machine's real keyring


def run_python(code: str, home: Path, **env: str) -> str:
    """Runs ``code`` in a fresh interpreter with its own ENSEMBLE_HOME; returns its standard output."""
    environment = dict(os.environ, ENSEMBLE_HOME=str(home), PYTHON_KEYRING_BACKEND=NULL_KEYRING, **env)
    environment.pop("ANTHROPIC_API_KEY", None)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def loaded(output: str) -> dict[str, bool]:
    """The lines ``NAME True|False`` a child printed."""
    pairs = (line.split() for line in output.splitlines() if line.strip())
    return {name: value == "True" for name, value in pairs}


def test_importing_the_engine_leaves_the_sdk_and_alembic_out(tmp_path: Path) -> None:
    out = run_python(
        """
        import sys
        import app.engine
        for name in ("anthropic", "httpx2", "alembic"):
            print(name, name in sys.modules)
        """,
        tmp_path / "home",
    )
    assert loaded(out) == dict.fromkeys(LAZY, False)


def test_starting_the_engine_needs_no_sdk_and_no_alembic_after_the_first_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = run_python(
        """
        import sys
        from app.engine import Engine
        Engine().journal.close()
        print("anthropic", "anthropic" in sys.modules)
        """,
        home,
    )
    # The first start makes the journal's tables (with Alembic), still without the SDK.
    assert loaded(first) == {"anthropic": False}
    later = run_python(
        """
        import sys
        from app.engine import Engine
        engine = Engine()
        print("missions", len(engine.list_missions()) == 0)
        engine.journal.close()
        for name in ("anthropic", "httpx2", "alembic"):
            print(name, name in sys.modules)
        """,
        home,
    )
    assert loaded(later) == {"missions": True, **dict.fromkeys(LAZY, False)}


def test_the_sdk_comes_with_the_first_model_client_and_not_without_a_key(tmp_path: Path) -> None:
    out = run_python(
        """
        import sys
        from app.model import ModelClient, ModelError
        try:
            ModelClient("claude-test", api_key="")
        except ModelError as exc:
            print("no_key", exc.kind == "no_key")
        print("anthropic", "anthropic" in sys.modules)
        client = ModelClient("claude-test", api_key="sk-ant-test", base_url="http://127.0.0.1:9")
        print("made", client.base_url.startswith("http://127.0.0.1:9"))
        print("loaded", "anthropic" in sys.modules)
        """,
        tmp_path / "home",
    )
    assert loaded(out) == {"no_key": True, "anthropic": False, "made": True, "loaded": True}


def test_load_sdk_imports_it(tmp_path: Path) -> None:
    out = run_python(
        """
        import sys
        from app.engine import load_sdk
        print("before", "anthropic" in sys.modules)
        load_sdk()
        print("after", "anthropic" in sys.modules)
        """,
        tmp_path / "home",
    )
    assert loaded(out) == {"before": False, "after": True}


@pytest.mark.slow
def test_the_bridge_starts_the_engine_then_warms_the_sdk_up(tmp_path: Path) -> None:
    out = run_python(
        """
        import sys
        from PySide6.QtCore import QCoreApplication, QTimer
        from ui.bridge import Bridge

        app = QCoreApplication([])
        bridge = Bridge()
        seen = []

        def started():
            seen.append("started")
            def check():
                warm = bridge._warm_up
                if warm is not None and warm.done():
                    print("warmed", warm.exception() is None and "anthropic" in sys.modules)
                    app.quit()
            timer.timeout.connect(check)
            timer.start(20)

        timer = QTimer()
        bridge.engine_started.connect(started)
        bridge.engine_failed.connect(lambda message: (print("failed", message), app.quit()))
        QTimer.singleShot(60_000, app.quit)
        bridge.start()
        app.exec()
        bridge.shutdown()
        print("started", seen == ["started"])
        """,
        tmp_path / "home",
        QT_QPA_PLATFORM="offscreen",
    )
    assert loaded(out) == {"warmed": True, "started": True}


@pytest.mark.slow
def test_the_window_reports_its_first_paint_and_when_it_is_ready(tmp_path: Path) -> None:
    """The probe bench/bench_startup.py reads: ``ensemble-shown`` then ``ensemble-ready``."""
    environment = dict(
        os.environ,
        ENSEMBLE_HOME=str(tmp_path / "home"),
        ENSEMBLE_STARTUP_PROBE="ready",
        QT_QPA_PLATFORM="offscreen",
        ANTHROPIC_API_KEY="sk-ant-test",
        PYTHON_KEYRING_BACKEND=NULL_KEYRING,
    )
    done = subprocess.run(
        [sys.executable, "-m", "ui"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    marks = [line.split()[0] for line in done.stderr.splitlines() if line.startswith("ensemble-")]
    assert marks == ["ensemble-shown", "ensemble-ready"], done.stderr[-3000:]
