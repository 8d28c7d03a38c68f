"""The bundle's compressed Node.js runtime for Playwright: unpacked once, on first use."""

from __future__ import annotations

import lzma
import os
import subprocess
from typing import TYPE_CHECKING

import pytest

from connectors.base import ToolError
from connectors.browser import _driver

if TYPE_CHECKING:
    from pathlib import Path

SCRIPT = b"#!/bin/sh\necho packed-node $1\n"


@pytest.fixture(autouse=True)
def _no_node_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # setenv first, so that monkeypatch also removes what ensure_node sets when it undoes.
    monkeypatch.setenv(_driver.ENV, "")
    monkeypatch.delenv(_driver.ENV)


def _driver_dir(tmp_path: Path, payload: bytes = SCRIPT) -> Path:
    driver = tmp_path / "driver"
    driver.mkdir()
    with lzma.open(driver / f"{_driver.NODE}.xz", "wb") as packed:
        packed.write(payload)
    return driver


def test_the_packed_runtime_is_unpacked_once_and_handed_to_playwright(tmp_path: Path) -> None:
    driver = _driver_dir(tmp_path)
    cache = tmp_path / "cache"

    node = _driver.ensure_node(driver, cache)

    assert node is not None
    assert node.is_relative_to(cache)
    assert os.environ[_driver.ENV] == str(node)
    assert node.read_bytes() == SCRIPT
    assert subprocess.run([node, "ok"], capture_output=True, check=True).stdout == b"packed-node ok\n"
    assert [p.name for p in node.parent.iterdir()] == [_driver.NODE]  # no temporary file left

    # A second call (a later mission, another process) finds it and unpacks nothing.
    mtime = node.stat().st_mtime_ns
    del os.environ[_driver.ENV]
    assert _driver.ensure_node(driver, cache) == node
    assert node.stat().st_mtime_ns == mtime


def test_playwrights_own_runtime_is_left_alone(tmp_path: Path) -> None:
    driver = _driver_dir(tmp_path)
    (driver / _driver.NODE).write_bytes(SCRIPT)

    assert _driver.ensure_node(driver, tmp_path / "cache") is None
    assert _driver.ENV not in os.environ
    assert not (tmp_path / "cache").exists()


def test_a_damaged_runtime_is_a_clear_error_and_leaves_nothing_behind(tmp_path: Path) -> None:
    driver = tmp_path / "driver"
    driver.mkdir()
    (driver / f"{_driver.NODE}.xz").write_bytes(b"not xz at all")
    cache = tmp_path / "cache"

    with pytest.raises(ToolError, match="could not be unpacked"):
        _driver.ensure_node(driver, cache)

    assert _driver.ENV not in os.environ
    assert [p for p in cache.rglob("*") if p.is_file()] == []


def test_the_cache_follows_ensemble_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENSEMBLE_HOME", str(tmp_path / "home"))
    assert _driver.cache_root() == (tmp_path / "home").resolve() / "cache"
