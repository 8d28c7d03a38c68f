"""The person's settings: model, limits, workspace folders. Stored as JSON, never secrets."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, ValidationError

from app.errors import EnsembleError
from connectors.email import EmailAccount

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

DEFAULT_MODEL = "claude-sonnet-5"


class SettingsError(EnsembleError):
    """The settings file exists but cannot be used; the message says where and why."""


class Settings(BaseModel):
    """What a person can set. Secrets (the API key) are in the OS keyring, never here.

    Attributes:
        model: The Anthropic model every agent uses.
        max_concurrency: How many tasks of one mission run at once.
        max_turns: How many model replies one agent may take for one task.
        token_budget: Tokens one mission may spend in all (input, output and cache tokens
            of every model call), across the lead and every sub-agent.
        max_tokens: The most tokens one model reply may have.
        api_max_retries: How often the SDK retries an overloaded or unreachable API.
        api_timeout: Seconds before one model call is given up.
        workspaces: Folders the agents may touch when a mission names none.
        accounts: Email accounts (see :mod:`app.accounts`); their passwords are in the keyring.
        browser_allowed_domains: Sites the browser agent may open (a domain allows its
            subdomains; ``host:port`` pins a port). Empty: any site, every submission still
            held for approval.
        browser_headless: Run the browser without a window (set false to watch it).
        browser_executable_path: A Chrome or Chromium binary to use first; by default
            Playwright's own browser, then the system's (``/usr/bin/chromium``).
        browser_profile_dir: A persistent browser profile folder, for sites the person is
            logged into; by default each mission gets a fresh, isolated browser context.
        browser_nav_timeout: Seconds a web page may take to load.
        address_book: People and places the person deals with: email addresses
            (``bob@example.com``), whole domains (``@example.com``) or sites
            (``portal.example.com``). Actions may go there by rule; anywhere else the
            person is asked (see :mod:`app.vouch`).
    """

    model: str = DEFAULT_MODEL
    max_concurrency: int = Field(default=4, ge=1, le=32)
    max_turns: int = Field(default=30, ge=1, le=500)
    token_budget: int = Field(default=2_000_000, ge=1_000)
    max_tokens: int = Field(default=8192, ge=256)
    api_max_retries: int = Field(default=2, ge=0, le=10)
    api_timeout: float = Field(default=600.0, gt=0)
    workspaces: list[str] = Field(default_factory=list)
    accounts: list[EmailAccount] = Field(default_factory=list)
    browser_allowed_domains: list[str] = Field(default_factory=list)
    browser_headless: bool = True
    browser_executable_path: str | None = None
    browser_profile_dir: str | None = None
    browser_nav_timeout: float = Field(default=20.0, gt=0, le=600)
    address_book: list[str] = Field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Settings:
        """Reads the settings file, or returns the defaults when there is none.

        ``ENSEMBLE_MODEL`` in the environment overrides the model.

        Args:
            path: The JSON file (see :class:`app.paths.Paths`).

        Raises:
            SettingsError: The file is not valid JSON or holds a value out of range.
        """
        settings = cls()
        if path.exists():
            try:
                settings = cls.model_validate(json.loads(path.read_text(encoding="utf-8")))
            except (json.JSONDecodeError, UnicodeDecodeError, ValidationError) as exc:
                raise SettingsError(f"The settings file {path} cannot be used: {exc}") from exc
        model = os.environ.get("ENSEMBLE_MODEL")
        if model:
            settings = settings.model_copy(update={"model": model})
        return settings

    def browser_options(self, allow_domains: Sequence[str] = ()) -> dict[str, Any]:
        """The browser connector's options for one mission (``ToolContext.extra["browser"]``).

        Args:
            allow_domains: Sites allowed for this mission on top of the settings' list.
        """
        domains = list(dict.fromkeys([*self.browser_allowed_domains, *allow_domains]))
        return {
            "allowed_domains": domains,
            "headless": self.browser_headless,
            "executable_path": self.browser_executable_path,
            "profile_dir": self.browser_profile_dir,
            "nav_timeout": self.browser_nav_timeout,
        }

    def save(self, path: Path) -> None:
        """Writes the settings file atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        tmp.replace(path)
