"""Read models: what clients list and show, as plain typed values (never journal rows).

The engine builds them from the journal (:meth:`app.engine.Engine.list_missions` and the
like); a client reads their fields and never sees a table or a ``*_json`` column.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.api.previews import ActionPreview
from connectors.registry import action_title

if TYPE_CHECKING:
    from app.api.events import ActionProposed
    from app.journal import Mission, ProposedAction, Rule


class MissionInfo(BaseModel):
    """A mission as the missions list shows it.

    Attributes:
        id: Its id.
        title: Its first line, shortened.
        text: What the person asked.
        status: ``running``, ``done``, ``failed``, ``cancelled`` or ``interrupted``.
        result: The lead's final answer, if done.
        error: Why it failed, stopped or paused.
        tokens: Tokens spent.
        cost: Estimated US dollars, or None for a model whose price is unknown.
        model: The model its last call used ("" before any call).
        demo: Whether it is the demo mission.
        workspaces: Its folders.
        started_at: When it started (UTC).
        finished_at: When it ended (UTC), if it did.
        archived: Whether the person archived it (the lists leave it out unless asked).
    """

    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    text: str
    status: str
    result: str | None = None
    error: str | None = None
    tokens: int = 0
    cost: float | None = None
    model: str = ""
    demo: bool = False
    workspaces: list[str] = Field(default_factory=list)
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    archived: bool = False

    @classmethod
    def of(cls, row: Mission, *, cost: float | None = None, model: str = "") -> MissionInfo:
        """From the journal's row."""
        options: dict[str, Any] = json.loads(row.options_json or "{}")
        return cls(
            id=row.id,
            title=row.title,
            text=row.text,
            status=row.status,
            result=row.result,
            error=row.error,
            tokens=row.tokens,
            cost=cost,
            model=model,
            demo=options.get("label") == "demo",
            workspaces=json.loads(row.workspaces_json or "[]"),
            started_at=_aware(row.started_at),
            finished_at=_aware(row.finished_at) if row.finished_at else None,
            archived=bool(row.archived),
        )


class ActionInfo(BaseModel):
    """A proposed action, as a card or the audit shows it.

    Attributes:
        id: Its id.
        mission_id: Its mission.
        task_id: Its task, or None for the lead.
        agent: The agent that proposed it.
        tool: The tool, e.g. ``"email_send"``.
        title: What it does, for a person ("Send an email"): the tool's title, or its name in
            words.
        effect: ``local`` or ``external``.
        status: ``pending``, ``approved``, ``rejected``, ``executing``, ``executed``,
            ``failed`` or ``undone``.
        arguments: As proposed.
        edited_arguments: As the person edited them, if they did.
        preview: What it would do, its detail typed by its kind.
        notice: Why the person is asked, or a warning, if any.
        ask_person: Only the person may approve it.
        decided_by: ``"person"`` or the rule, once decided.
        reason: Why it was rejected.
        result: What carrying it out gave.
        undoable: Whether the audit can take it back.
        created_at: When it was proposed (UTC).
    """

    model_config = ConfigDict(frozen=True)

    id: str
    mission_id: str
    task_id: str | None = None
    agent: str
    tool: str
    title: str = ""
    effect: str
    status: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    edited_arguments: dict[str, Any] | None = None
    preview: ActionPreview = Field(default_factory=ActionPreview)
    notice: str | None = None
    ask_person: bool = False
    decided_by: str | None = None
    reason: str | None = None
    result: str | None = None
    undoable: bool = False
    created_at: dt.datetime

    @model_validator(mode="before")
    @classmethod
    def _titled(cls, data: Any) -> Any:
        return with_title(data)

    @classmethod
    def proposed(cls, event: ActionProposed) -> ActionInfo:
        """A pending action from the event that proposed it (its ``warning`` is the notice)."""
        return cls(
            id=event.action_id,
            mission_id=event.mission_id,
            task_id=event.task_id,
            agent=event.agent,
            tool=event.tool,
            title=event.title,
            effect=event.effect,
            status="pending",
            arguments=dict(event.arguments),
            preview=event.preview,
            notice=event.warning,
            ask_person=event.ask_person,
            created_at=event.at,
        )

    @classmethod
    def of(cls, row: ProposedAction) -> ActionInfo:
        """From the journal's row."""
        return cls(
            id=row.id,
            mission_id=row.mission_id,
            task_id=row.task_id,
            agent=row.agent,
            tool=row.tool,
            effect=row.effect,
            status=row.status,
            arguments=json.loads(row.arguments_json or "{}"),
            edited_arguments=json.loads(row.edited_arguments_json) if row.edited_arguments_json else None,
            preview=ActionPreview.model_validate_json(row.preview_json or "{}"),
            notice=row.notice,
            ask_person=row.ask_person,
            decided_by=row.decided_by,
            reason=row.reason,
            result=row.result,
            undoable=row.status == "executed" and bool(row.backup_json),
            created_at=_aware(row.created_at),
        )


class RuleInfo(BaseModel):
    """A rule as the person reads it.

    Attributes:
        id: Its id.
        kind: ``approve_all`` (always allow) or ``reject_all`` (never allow).
        tool: The tool it covers, or None for every tool.
        where: Argument name → pattern.
        mission_id: The mission it is limited to, or None for all.
        description: The sentence.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    kind: str
    tool: str | None = None
    where: dict[str, str] = Field(default_factory=dict)
    mission_id: str | None = None
    description: str

    @classmethod
    def of(cls, row: Rule) -> RuleInfo:
        """From the journal's row."""
        return cls(
            id=row.id,
            kind=row.kind,
            tool=row.tool,
            where=json.loads(row.conditions_json or "{}"),
            mission_id=row.mission_id,
            description=row.description,
        )


class ActionKindInfo(BaseModel):
    """A kind of action that waits for a decision, as the rules dialog offers it.

    Attributes:
        name: The tool (or held kind) a rule names, e.g. ``"email_send"``.
        title: What it does, for a person ("Send an email").
        effect: ``local`` or ``external``.
        fields: The names of its arguments a rule's condition may match (``"to"``).
    """

    model_config = ConfigDict(frozen=True)

    name: str
    title: str
    effect: str
    fields: list[str] = Field(default_factory=list)


def action_kinds() -> list[ActionKindInfo]:
    """Every kind of action that waits for a decision (the tools with a side effect and the
    kinds their calls hold), by agent kind, for a client to offer in a rule."""
    from connectors.base import tool_title
    from connectors.registry import registry

    kinds: list[ActionKindInfo] = []
    for agent in registry().values():
        for tool in agent.tools:
            if tool.effect == "read":
                continue
            properties: dict[str, Any] = tool.input_schema.get("properties", {})
            kinds.append(
                ActionKindInfo(
                    name=tool.name,
                    title=tool_title(tool.name, tool.title),
                    effect=tool.effect,
                    fields=[name for name, schema in properties.items() if _matchable(schema)],
                )
            )
        kinds += [
            ActionKindInfo(
                name=h.name, title=tool_title(h.name, h.title), effect=h.effect, fields=list(h.fields)
            )
            for h in agent.held
        ]
    return kinds


def _matchable(schema: dict[str, Any]) -> bool:
    """Whether an argument holds text (or a list of texts) a rule's pattern can match."""
    options = schema.get("anyOf", [schema])
    for option in options:
        kind = option.get("type")
        if kind == "string" or (kind == "array" and option.get("items", {}).get("type") == "string"):
            return True
    return False


def with_title(data: Any) -> Any:
    """Fills an action's ``title`` from its ``tool`` when it has none (a journal written
    before titles were recorded, or a client building the model itself)."""
    if isinstance(data, dict) and not data.get("title") and data.get("tool"):
        return {**data, "title": action_title(str(data["tool"]))}
    return data


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite gives naive datetimes back; the journal writes UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
