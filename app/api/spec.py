"""The mission as data: everything a mission needs, to start it, save it and run it again.

A :class:`MissionSpec` is what the window and the command line hand the engine
(:meth:`app.engine.Engine.start`), what a saved workflow keeps and what a schedule starts. It
holds no secret: an account is named, and its password stays in the keyring.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.errors import EngineError

ApprovalPolicy = Literal["ask", "all", "none"]
"""``ask`` the person for each proposed action, or decide ``all`` approved or ``none`` approved
by a rule for this mission (a rule never decides what only the person may)."""


class RuleSpec(BaseModel):
    """A rule that comes with the mission and applies to it alone.

    Attributes:
        kind: ``approve_all`` (always allow) or ``reject_all`` (never allow).
        tool: The tool it covers, or None for every tool.
        where: Argument name → shell-style pattern; every one must match.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["approve_all", "reject_all"]
    tool: str | None = None
    where: dict[str, str] = Field(default_factory=dict)


class MissionSpec(BaseModel):
    """A mission, before it runs.

    Attributes:
        instruction: What the person asks for, in their words.
        workspaces: Folders the agents may touch; empty: the settings' folders.
        account: The account to use, by name (an email or a calendar account); None: each
            agent kind's default (or only) one.
        allowed_sites: Sites the browser may open on top of the settings' list.
        approval: How proposed actions are decided (see :data:`ApprovalPolicy`).
        rules: Rules for this mission only.
        model: The model for this mission; None: the settings' model.
        token_budget: Tokens this mission may spend; None: the settings' budget.
        options: Per-connector options beyond these, by connector name (never secrets).
    """

    model_config = ConfigDict(extra="forbid")

    instruction: str = Field(min_length=1)
    workspaces: list[str] = Field(default_factory=list)
    account: str | None = None
    allowed_sites: list[str] = Field(default_factory=list)
    approval: ApprovalPolicy = "ask"
    rules: list[RuleSpec] = Field(default_factory=list)
    model: str | None = None
    token_budget: int | None = Field(default=None, ge=1_000)
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("instruction")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the mission is empty: say what you want done")
        return value

    @classmethod
    def of(cls, **fields: Any) -> MissionSpec:
        """A spec from fields a person gave, with any problem said in words.

        Raises:
            EngineError: A field is missing or wrong; the message names it.
        """
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            if any(err["loc"][:1] == ("instruction",) for err in exc.errors()):
                raise EngineError("The mission is empty: say what you want done.") from exc
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'mission'}: {err['msg']}" for err in exc.errors()
            )
            raise EngineError(f"The mission cannot start: {problems}.") from exc

    def to_json(self) -> str:
        """The spec as JSON text, to save it."""
        return self.model_dump_json(exclude_defaults=True)

    @classmethod
    def from_json(cls, text: str) -> MissionSpec:
        """A spec from what :meth:`to_json` wrote.

        Raises:
            pydantic.ValidationError: The text is not a mission spec.
        """
        return cls.model_validate_json(text)
