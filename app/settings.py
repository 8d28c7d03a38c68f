"""The person's settings: model, limits, workspace folders. Stored as JSON, never secrets."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, ValidationError

if TYPE_CHECKING:
    from pathlib import Path

DEFAULT_MODEL = "claude-sonnet-5"


class SettingsError(Exception):
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
    """

    model: str = DEFAULT_MODEL
    max_concurrency: int = Field(default=4, ge=1, le=32)
    max_turns: int = Field(default=30, ge=1, le=500)
    token_budget: int = Field(default=2_000_000, ge=1_000)
    max_tokens: int = Field(default=8192, ge=256)
    api_max_retries: int = Field(default=2, ge=0, le=10)
    api_timeout: float = Field(default=600.0, gt=0)
    workspaces: list[str] = Field(default_factory=list)

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

    def save(self, path: Path) -> None:
        """Writes the settings file atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        tmp.replace(path)
