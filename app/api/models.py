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
    from app.journal import Memory, Mission, ProposedAction, Rule


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
        on_cluster: Whether it runs on the team's Temporal cluster (see docs/temporal.md).
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
    on_cluster: bool = False
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
            on_cluster=options.get("backend") == "temporal",
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
            undoable=row.status in ("executed", "failed") and bool(row.backup_json),
            created_at=_aware(row.created_at),
        )


class RollbackStep(BaseModel):
    """One change a mission's rollback takes back (see :meth:`app.engine.Engine.rollback_plan`).

    Attributes:
        action_id: The action that made the change.
        what: What the action did, in words ("Write 3 cells in Sheet1 of invoices.xlsx").
        undo: What taking it back does, in words ("Put invoices.xlsx back as it was before").
        target: The file (or mail folder, calendar) it touches, for a person; None if none.
        changed_since: The file was changed after the mission wrote it: it is left alone unless
            the person chooses to undo anyway.
        would_lose: When ``changed_since``: what undoing anyway would lose, one line each.
    """

    model_config = ConfigDict(frozen=True)

    action_id: str
    what: str
    undo: str
    target: str | None = None
    changed_since: bool = False
    would_lose: list[str] = Field(default_factory=list)


class RollbackLimit(BaseModel):
    """A change of a mission that its rollback cannot take back, and why, in words.

    Attributes:
        action_id: The action.
        what: What it did ("Send an email to bob@example.com").
        why: Why it cannot be taken back ("An email that was sent cannot be called back.").
    """

    model_config = ConfigDict(frozen=True)

    action_id: str
    what: str
    why: str


class RollbackPlan(BaseModel):
    """What undoing a whole mission would do, before anything is done.

    Attributes:
        mission_id: The mission.
        title: Its title.
        refusal: Why it cannot be undone now (it is still running), or None.
        steps: The changes to take back, in the order they will be taken back (newest first).
        cannot_undo: What cannot be taken back (sent emails, submitted forms…).
        already_undone: How many of its changes were taken back before.
    """

    model_config = ConfigDict(frozen=True)

    mission_id: str
    title: str
    refusal: str | None = None
    steps: list[RollbackStep] = Field(default_factory=list)
    cannot_undo: list[RollbackLimit] = Field(default_factory=list)
    already_undone: int = 0

    @property
    def changed(self) -> list[RollbackStep]:
        """The steps whose file changed since: done only when the person undoes anyway."""
        return [s for s in self.steps if s.changed_since]

    @property
    def nothing_to_do(self) -> bool:
        """Whether there is no change left to take back."""
        return not self.steps

    def lines(self) -> list[str]:
        """The plan in words, one line each, for the command line and the window."""
        if self.refusal:
            return [self.refusal]
        out: list[str] = []
        if self.steps:
            out.append(
                f"Undoing “{self.title}” takes back {_count(len(self.steps), 'change')}, newest first:"
            )
            for step in self.steps:
                mark = "  (changed since: left alone unless you undo anyway)" if step.changed_since else ""
                out.append(f"  - {step.undo}{mark}")
        elif self.already_undone:
            out.append(f"Every change of “{self.title}” that could be undone was undone already.")
        else:
            out.append(f"“{self.title}” made no change that can be undone.")
        for step in self.changed:
            out.append(
                f"{step.target or step.what} was changed after the mission wrote it. Undoing anyway "
                "puts back the version from before the mission; what is in it now and would go:"
            )
            out += [f"    {line}" for line in step.would_lose]
        if self.cannot_undo:
            out.append("These cannot be undone:")
            out += [f"  - {limit.what}: {limit.why}" for limit in self.cannot_undo]
        return out


class RollbackResult(BaseModel):
    """How one step of a rollback went.

    Attributes:
        action_id: The action taken back (or not).
        what: What it had done.
        outcome: ``undone``; ``refused`` (changed since, not forced); or ``failed`` (it could
            not be taken back; ``message`` says why).
        message: What happened, in words.
    """

    model_config = ConfigDict(frozen=True)

    action_id: str
    what: str
    outcome: str
    message: str


class RollbackReport(BaseModel):
    """What undoing a mission did (see :meth:`app.engine.Engine.undo_mission`).

    Attributes:
        mission_id: The mission.
        title: Its title.
        forced: Whether files changed since were restored anyway.
        results: Each step, in the order it was taken.
        cannot_undo: What could not be taken back, and why.
    """

    model_config = ConfigDict(frozen=True)

    mission_id: str
    title: str
    forced: bool = False
    results: list[RollbackResult] = Field(default_factory=list)
    cannot_undo: list[RollbackLimit] = Field(default_factory=list)

    def of_outcome(self, outcome: str) -> list[RollbackResult]:
        """The steps that ended one way (``undone``, ``refused`` or ``failed``)."""
        return [r for r in self.results if r.outcome == outcome]

    @property
    def complete(self) -> bool:
        """Whether every change that could be taken back was."""
        return all(r.outcome == "undone" for r in self.results)

    @property
    def summary(self) -> str:
        """One sentence: how many changes were taken back, refused, failed."""
        undone, refused, failed = (len(self.of_outcome(o)) for o in ("undone", "refused", "failed"))
        if not self.results:
            said = "Nothing was left to undo"
        else:
            said = f"Undid {_count(undone, 'change')}"
        if refused:
            said += f"; {_count(refused, 'change')} left alone (changed since)"
        if failed:
            said += f"; {_count(failed, 'change')} could not be undone"
        if self.cannot_undo:
            said += f"; {_count(len(self.cannot_undo), 'action')} cannot be undone at all"
        return said + "."

    def lines(self) -> list[str]:
        """The report in words, one line each."""
        words = {"undone": "Undone", "refused": "Left alone", "failed": "Could not undo"}
        out = [self.summary]
        out += [f"  - {words.get(r.outcome, r.outcome)}: {r.message}" for r in self.results]
        if self.cannot_undo:
            out.append("These cannot be undone:")
            out += [f"  - {limit.what}: {limit.why}" for limit in self.cannot_undo]
        if self.of_outcome("refused"):
            out.append("Undo anyway to restore the changed files too (their changes since go to the trash).")
        if self.of_outcome("failed"):
            out.append("Run the undo again later: only what is left is tried again.")
        return out


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


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


class MemoryItem(BaseModel):
    """An item of the person's memory, as the Memory pane and ``ensemble memory list`` show it.

    Attributes:
        id: Its id.
        text: The fact or preference.
        workspace: The folder whose missions it is for, or None for every mission.
        scope: Where it applies, in words ("for all missions", "for missions in Finance …").
        source: Where it came from, in words ("you added it", "you approved it in a mission").
        mission_id: The mission whose proposal the person approved, if it came from one.
        created_at: When it was added (UTC).
        updated_at: When it was last changed (UTC).
    """

    model_config = ConfigDict(frozen=True)

    id: str
    text: str
    workspace: str | None = None
    scope: str
    source: str
    mission_id: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, row: Memory) -> MemoryItem:
        """From the journal's row."""
        from app.memory import scope_words

        return cls(
            id=row.id,
            text=row.text,
            workspace=row.workspace,
            scope=scope_words(row.workspace),
            source=row.source,
            mission_id=row.mission_id,
            created_at=_aware(row.created_at),
            updated_at=_aware(row.updated_at),
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
