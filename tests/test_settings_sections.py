"""Each agent kind's settings live in its own section, declared by its connector package."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from app.settings import Settings, SettingsError
from connectors.browser import BrowserSettings

if TYPE_CHECKING:
    from pathlib import Path


def test_an_older_settings_file_moves_its_browser_fields_into_the_browser_section(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(
        json.dumps(
            {"model": "m", "browser_allowed_domains": ["portal.example.com"], "browser_headless": False}
        )
    )
    settings = Settings.load(path)
    section = settings.section("browser")
    assert isinstance(section, BrowserSettings)
    assert section.allowed_domains == ["portal.example.com"]
    assert section.headless is False
    settings.save(path)
    saved = json.loads(path.read_text())
    assert not [k for k in saved if k.startswith("browser_")]
    assert saved["sections"]["browser"]["allowed_domains"] == ["portal.example.com"]


def test_mission_options_come_from_every_kind_that_has_a_section() -> None:
    settings = Settings().with_section(
        "browser", BrowserSettings(allowed_domains=["a.example"], nav_timeout=5)
    )
    options = settings.mission_options({"allowed_sites": ["b.example", "a.example"]})
    assert options["browser"]["allowed_domains"] == ["a.example", "b.example"]
    assert options["browser"]["nav_timeout"] == 5
    assert Settings().section("spreadsheet") is None


def test_a_bad_section_is_said_in_words() -> None:
    with pytest.raises(SettingsError, match="browser section"):
        Settings(sections={"browser": {"nav_timeout": -1}}).section("browser")
