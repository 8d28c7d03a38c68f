"""The person's settings: model, limits, workspace folders. Stored as JSON, never secrets."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, SerializeAsAny, ValidationError, field_validator, model_validator

from app.errors import EnsembleError
from connectors.registry import Account

if TYPE_CHECKING:
    from pathlib import Path

DEFAULT_MODEL = "claude-sonnet-5"


class SettingsError(EnsembleError):
    """The settings file exists but cannot be used; the message says where and why."""


class Settings(BaseModel):
    """What a person can set. Secrets (the API key) are in the OS keyring, never here.

    Attributes:
        model: The Anthropic model every agent uses.
        max_concurrency: How many tasks of one mission, and how many requests to one model,
            run at once at most; fewer while the API is rate-limited or overloaded (see
            :class:`app.model.AdaptiveLimit`).
        max_turns: How many model replies one agent may take for one task.
        token_budget: Tokens one mission may spend in all (input, output and cache tokens
            of every model call), across the lead and every sub-agent.
        max_tokens: The most tokens one model reply may have.
        api_max_retries: How often the SDK retries an overloaded or unreachable API.
        api_timeout: Seconds before one model call is given up.
        workspaces: Folders the agents may touch when a mission names none.
        accounts: Accounts of every type an agent kind declares (email, CalDAV…; see
            :mod:`app.accounts`), told apart by their ``kind``; their passwords are in the keyring.
        address_book: People and places the person deals with: email addresses
            (``bob@example.com``), whole domains (``@example.com``) or sites
            (``portal.example.com``). Actions may go there by rule; anywhere else the
            person is asked (see :mod:`app.vouch`).
        checks: Whether the lead checks each finished task that changed something with a
            short read-only turn (see :mod:`app.orchestrator._check`); off, tasks are not
            checked (the benchmark compares both).
        sections: Each agent kind's own settings, by kind (``"browser": {"allowed_domains":
            [...], ...}``), validated by the model its connector package declares
            (:meth:`section`). Older files' ``browser_*`` fields are moved here on load.
    """

    model: str = DEFAULT_MODEL
    max_concurrency: int = Field(
        default=8,
        ge=1,
        le=32,
        description=(
            "How many tasks of one mission, and how many requests to one model, run at once at "
            "most. Ensemble starts there and follows the API's limits: when the API says it is "
            "rate-limited or overloaded (HTTP 429 or 529), it halves the requests running at once, "
            "then adds them back one by one as replies succeed, never above this number."
        ),
    )
    max_turns: int = Field(default=30, ge=1, le=500)
    token_budget: int = Field(default=2_000_000, ge=1_000)
    max_tokens: int = Field(default=8192, ge=256)
    api_max_retries: int = Field(default=2, ge=0, le=10)
    api_timeout: float = Field(default=600.0, gt=0)
    workspaces: list[str] = Field(default_factory=list)
    accounts: list[SerializeAsAny[Account]] = Field(default_factory=list)
    address_book: list[str] = Field(default_factory=list)
    sections: dict[str, dict[str, Any]] = Field(default_factory=dict)
    checks: bool = Field(
        default=True,
        description=(
            "After each task that changed something, the lead reads the result back and checks it "
            "against the task's instructions before building on it."
        ),
    )

    @field_validator("accounts", mode="before")
    @classmethod
    def _typed_accounts(cls, value: Any) -> Any:
        """Reads each account as the type its connector declares (see :func:`app.accounts.parse_account`)."""
        if not isinstance(value, list):
            return value
        from app.accounts import AccountError, parse_account

        try:
            return [parse_account(item) for item in value]
        except AccountError as exc:
            raise ValueError(str(exc)) from exc

    @model_validator(mode="before")
    @classmethod
    def _sections_from_old_fields(cls, data: Any) -> Any:
        """Moves the old top-level ``browser_*`` fields into the browser's section."""
        if not isinstance(data, dict):
            return data
        old = {k: v for k, v in data.items() if k.startswith("browser_")}
        if not old:
            return data
        data = {k: v for k, v in data.items() if k not in old}
        sections = dict(data.get("sections") or {})
        sections["browser"] = {
            **{k.removeprefix("browser_"): v for k, v in old.items()},
            **sections.get("browser", {}),
        }
        data["sections"] = sections
        return data

    def section(self, name: str) -> BaseModel | None:
        """An agent kind's section of the settings, validated by the model its package declares.

        Args:
            name: The agent kind (``"browser"``).

        Returns:
            The section (defaults where the file says nothing), or None if the kind has none.

        Raises:
            SettingsError: The section holds a value its kind does not accept.
        """
        from connectors.registry import registry

        kind = registry().get(name)
        if kind is None or kind.settings is None:
            return None
        try:
            return kind.settings.model_validate(self.sections.get(name, {}))
        except ValidationError as exc:
            raise SettingsError(f"The settings' {name} section cannot be used: {exc}") from exc

    def with_section(self, name: str, section: BaseModel) -> Settings:
        """A copy with one kind's section replaced."""
        return self.model_copy(update={"sections": {**self.sections, name: section.model_dump(mode="json")}})

    def mission_options(self, request: dict[str, Any]) -> dict[str, Any]:
        """Every agent kind's options for one mission, from its settings section.

        Args:
            request: The mission's spec as JSON data (a kind may read fields such as
                ``allowed_sites``).
        """
        from connectors.registry import registry

        options: dict[str, Any] = {}
        for name in registry():
            section = self.section(name)
            make = getattr(section, "mission_options", None)
            if callable(make):
                options[name] = make(request)
        return options

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
