"""The person's settings: model, limits, workspace folders. Stored as JSON, never secrets."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, SerializeAsAny, ValidationError, field_validator, model_validator

from app.errors import EnsembleError
from connectors.registry import Account

if TYPE_CHECKING:
    from pathlib import Path

DEFAULT_MODEL = "claude-sonnet-5"


class SettingsError(EnsembleError):
    """The settings file exists but cannot be used; the message says where and why."""


class TemporalSettings(BaseModel):
    """Where a team's Temporal cluster is (the Temporal backend, docs/temporal.md).

    Its API key, when the cluster wants one, is never here: it is read from
    ``ENSEMBLE_TEMPORAL_API_KEY`` or ``TEMPORAL_API_KEY`` in the environment.

    Attributes:
        address: The frontend's ``HOST:PORT``.
        namespace: The Temporal namespace the team's missions live in.
        task_queue: The task queue the team's workers serve.
        tls: Whether to connect with TLS (a cloud or a production cluster); the system's
            certificate authorities are trusted.
    """

    address: str = "127.0.0.1:7233"
    namespace: str = "default"
    task_queue: str = "ensemble"
    tls: bool = False


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
        backend: Where missions run: ``embedded`` (in this app, the default) or ``temporal``
            (on the team's Temporal cluster, :attr:`temporal`; see docs/temporal.md).
        temporal: The cluster, for the Temporal backend.
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
    backend: Literal["embedded", "temporal"] = "embedded"
    temporal: TemporalSettings = Field(default_factory=TemporalSettings)
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

        ``ENSEMBLE_MODEL`` in the environment overrides the model; ``ENSEMBLE_BACKEND``,
        ``ENSEMBLE_TEMPORAL`` (``HOST:PORT``), ``ENSEMBLE_TEMPORAL_NAMESPACE``,
        ``ENSEMBLE_TEMPORAL_TASK_QUEUE`` and ``ENSEMBLE_TEMPORAL_TLS`` (``1``) override the
        backend (the command line's ``--backend temporal --temporal HOST:PORT`` sets them).

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
        return settings.with_backend_from_environment()

    def with_backend_from_environment(self) -> Settings:
        """A copy with the backend the environment names (see :meth:`load`), or this one.

        Raises:
            SettingsError: ``ENSEMBLE_BACKEND`` names no backend.
        """
        env = os.environ
        backend = env.get("ENSEMBLE_BACKEND") or (
            self.backend if not env.get("ENSEMBLE_TEMPORAL") else "temporal"
        )
        if backend not in ("embedded", "temporal"):
            raise SettingsError(f"ENSEMBLE_BACKEND is {backend!r}: it must be 'embedded' or 'temporal'.")
        temporal = self.temporal.model_copy(
            update={
                key: value
                for key, value in (
                    ("address", env.get("ENSEMBLE_TEMPORAL")),
                    ("namespace", env.get("ENSEMBLE_TEMPORAL_NAMESPACE")),
                    ("task_queue", env.get("ENSEMBLE_TEMPORAL_TASK_QUEUE")),
                    ("tls", {"1": True, "0": False}.get(env.get("ENSEMBLE_TEMPORAL_TLS", ""))),
                )
                if value is not None and value != ""
            }
        )
        if backend == self.backend and temporal == self.temporal:
            return self
        return self.model_copy(update={"backend": backend, "temporal": temporal})

    def save(self, path: Path) -> None:
        """Writes the settings file atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        tmp.replace(path)
