"""Typed events: one class per kind of thing the engine reports, with named fields.

A client (the window, the command line) matches on the class or its ``kind`` tag and reads
fields, never a summary string. Every class allows extra fields, so adding a field to an
event never breaks a client. :func:`typed` turns the journal's :class:`~app.journal.Event`
(or a stored audit row's kind and data) into one of these; :func:`encode` gives the one JSON
form every client writes (the command line's ``--json``, the window's export).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from app.api.previews import ActionPreview
from app.api.workflows import PlanUse, RunReason
from app.pricing import estimate_cost


class EventBase(BaseModel):
    """What every event has.

    Attributes:
        kind: The event's kind, e.g. ``"action_proposed"``.
        mission_id: The mission it belongs to.
        task_id: The task, when a sub-agent did it; None for the lead and the mission.
        summary: One line for a person (not for matching).
        at: When it happened (UTC).
        audit_id: Its row in the audit, or None for a transient event (streamed text).
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str
    mission_id: str
    task_id: str | None = None
    summary: str = ""
    at: dt.datetime
    audit_id: int | None = None


class MissionStarted(EventBase):
    """A mission began."""

    kind: Literal["mission_started"] = "mission_started"
    text: str = ""
    workspaces: list[str] = Field(default_factory=list)
    approve: str = "ask"
    model: str = ""
    demo: bool = False
    on_cluster: bool = False
    """It runs on the team's Temporal cluster (docs/temporal.md)."""


class MissionResumed(EventBase):
    """An interrupted mission continued."""

    kind: Literal["mission_resumed"] = "mission_resumed"


class MissionContinued(EventBase):
    """A finished mission continued with a new message from the person."""

    kind: Literal["mission_continued"] = "mission_continued"
    text: str = ""


class MissionFinished(EventBase):
    """A mission ended: ``done``, ``failed``, ``cancelled`` or ``interrupted``."""

    kind: Literal["mission_finished"] = "mission_finished"
    status: str
    result: str | None = None
    error: str | None = None
    tokens: int = 0


class ChatMessageEvent(EventBase):
    """A line of the mission's chat, by the person (``user``) or the lead (``assistant``)."""

    kind: Literal["chat_message"] = "chat_message"
    role: Literal["user", "assistant"] = "assistant"

    @property
    def text(self) -> str:
        """The message."""
        return self.summary


class QuestionAsked(EventBase):
    """The lead asks the person something; the mission waits for the answer."""

    kind: Literal["question_asked"] = "question_asked"
    question: str = ""


class QuestionAnswered(EventBase):
    """The person answered the lead's question."""

    kind: Literal["question_answered"] = "question_answered"
    answer: str = ""


class TaskStarted(EventBase):
    """The lead handed a task to a sub-agent."""

    kind: Literal["task_started"] = "task_started"
    key: str = ""
    agent: str = ""
    instructions: str = ""
    resumed: bool = False


class TaskFinished(EventBase):
    """A task ended: ``done``, ``failed``, ``skipped`` or ``cancelled``."""

    kind: Literal["task_finished"] = "task_finished"
    key: str = ""
    agent: str = ""
    status: str = ""
    result: str | None = None
    reason: str | None = None
    tokens: int = 0
    turns: int = 0


class TaskChecked(EventBase):
    """The lead checked a finished task's result against its instructions (or says why not).

    Attributes:
        key: The task's id in its plan.
        agent: The task's agent kind.
        verdict: ``passed``, ``failed`` or ``skipped`` (not checked; ``findings`` says why).
        findings: What was compared and what differs, in words.
        evidence: What the check read that shows it, each a short quote with where it is.
        tokens: Tokens the check used.
        attempt: 1 for the task's first result, 2 for its result after the retry a failed
            check asked for.
    """

    kind: Literal["task_checked"] = "task_checked"
    key: str = ""
    agent: str = ""
    verdict: Literal["passed", "failed", "skipped"] = "skipped"
    findings: str = ""
    evidence: list[str] = Field(default_factory=list)
    tokens: int = 0
    attempt: int = 1


class ModelCallMade(EventBase):
    """One request to the model, with its tokens."""

    kind: Literal["model_call"] = "model_call"
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    stop_reason: str | None = None
    mission_tokens: int = 0

    @property
    def cost(self) -> float | None:
        """This call's estimated price in US dollars, or None for a model whose price is unknown."""
        return estimate_cost(
            self.model, self.input_tokens, self.output_tokens, self.cache_read_tokens, self.cache_write_tokens
        )


class TextDelta(EventBase):
    """A piece of text an agent is writing (transient: not in the audit)."""

    kind: Literal["text_delta"] = "text_delta"
    agent: str = ""
    text: str = ""


class ToolCalled(EventBase):
    """An agent called a tool.

    Attributes:
        title: What the tool does, for a person ("Change a workbook"): its title, or its name in
            words; filled from ``tool`` when the journal did not record one.
    """

    kind: Literal["tool_called"] = "tool_called"
    tool_call_id: str = ""
    tool: str = ""
    title: str = ""
    effect: str = ""
    arguments: Any = None

    @model_validator(mode="before")
    @classmethod
    def _titled(cls, data: Any) -> Any:
        from app.api.models import with_title

        return with_title(data)


class ToolResultEvent(EventBase):
    """A tool call's result (cut to 4,000 characters)."""

    kind: Literal["tool_result"] = "tool_result"
    tool_call_id: str = ""
    tool: str = ""
    is_error: bool = False
    result: str = ""


class NewDestination(BaseModel):
    """A destination of a proposed action that the person did not vouch for."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str
    value: str
    role: str = ""
    seen_in: str = ""


class ActionProposed(EventBase):
    """A tool call with a side effect waits for a decision (a card).

    Attributes:
        agent: The agent that proposed it.
        title: What it does, for a person ("Send an email"): its tool's title, or its name in
            words; filled from ``tool`` for events journaled before titles were recorded.
        preview: What it would do, its detail typed by its kind (see :mod:`app.api.previews`).
        warning: Why the person is asked although a rule might decide (a new destination, an
            outcome unknown after a restart), or None.
        ask_person: Only the person may approve it.
        new_destinations: The destinations nobody vouched for, with where each was seen.
        batch: The id of the batch it came with (an agent's turn that proposed several at
            once, shown together: see :mod:`app.api.attention`), or None.
        batch_size: How many actions that batch proposed (1 without one).
    """

    kind: Literal["action_proposed"] = "action_proposed"
    action_id: str
    agent: str = ""
    tool: str = ""
    title: str = ""
    effect: str = ""
    arguments: dict[str, Any] = Field(default_factory=dict)
    preview: ActionPreview = Field(default_factory=ActionPreview)
    warning: str | None = None
    ask_person: bool = False
    new_destinations: list[NewDestination] = Field(default_factory=list)
    batch: str | None = None
    batch_size: int = 1

    @model_validator(mode="before")
    @classmethod
    def _titled(cls, data: Any) -> Any:
        from app.api.models import with_title

        return with_title(data)


class ActionDecided(EventBase):
    """A person or a rule approved, edited or rejected a proposed action.

    Attributes:
        seconds: How long it waited for the decision (proposed → decided), when recorded.
        batch: The person's one decision over several cards it was part of, or None.
    """

    kind: Literal["action_decided"] = "action_decided"
    action_id: str
    decision: str = ""
    decided_by: str = ""
    reason: str | None = None
    edited_arguments: dict[str, Any] | None = None
    seconds: float | None = None
    batch: str | None = None


class ActionExecuted(EventBase):
    """An approved action was carried out."""

    kind: Literal["action_executed"] = "action_executed"
    action_id: str
    undoable: bool = False


class ActionFailed(EventBase):
    """An approved action was tried and failed; ``error`` says why, in words.

    Attributes:
        undoable: It changed something all the same (a write whose read-back differed from what
            was approved), and that change can be taken back.
    """

    kind: Literal["action_failed"] = "action_failed"
    action_id: str
    error: str = ""
    undoable: bool = False


class WriteChecked(EventBase):
    """A local write was read back through its connector and compared with what was approved.

    Recorded right after the write ran, before it is reported carried out (or failed).

    Attributes:
        action_id: The action that wrote.
        tool: Its tool.
        checked: What was read back, in words ("3 cells in Sheet1 of invoices.xlsx").
        outcome: ``passed``; ``differs`` (the action failed, see ``differences``); or
            ``not_checked`` (it could not be read back, see ``reason``), never a pass.
        ok: Whether it passed.
        differences: Each difference, in words ("B2 on Sheet1 holds 99, not 42 as approved").
        reason: Why it could not be read back, for ``not_checked``.
    """

    kind: Literal["write_checked"] = "write_checked"
    action_id: str
    tool: str = ""
    checked: str = ""
    outcome: Literal["passed", "differs", "not_checked"] = "passed"
    ok: bool = False
    differences: list[str] = Field(default_factory=list)
    reason: str | None = None

    @property
    def title(self) -> str:
        """The check for a person, as the audit lists it ("Checked", "Check failed", "Not checked")."""
        return {"passed": "Checked", "differs": "Check failed", "not_checked": "Not checked"}[self.outcome]


class ActionConfirmed(EventBase):
    """After a restart, an action found to have happened before it."""

    kind: Literal["action_confirmed"] = "action_confirmed"
    action_id: str


class ActionOutcomeUnknown(EventBase):
    """After a restart, an action that had started and left no outcome."""

    kind: Literal["action_outcome_unknown"] = "action_outcome_unknown"
    action_id: str
    checked: bool = False


class ActionUndone(EventBase):
    """A carried-out local action was taken back."""

    kind: Literal["action_undone"] = "action_undone"
    action_id: str


class MissionRolledBack(EventBase):
    """The person undid a mission (its local changes taken back, newest first).

    Each change taken back also has its own :class:`ActionUndone`.

    Attributes:
        forced: Files changed since were restored anyway (their later version went to the trash).
        undone: The actions taken back now.
        refused: The actions left alone because their file changed since.
        failed: The actions that could not be taken back (``summary`` says why).
        cannot_undo: The actions that cannot be taken back at all (sent emails, submitted forms).
        complete: Whether everything that could be taken back was.
    """

    kind: Literal["mission_rolled_back"] = "mission_rolled_back"
    forced: bool = False
    undone: list[str] = Field(default_factory=list)
    refused: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)
    cannot_undo: list[str] = Field(default_factory=list)
    complete: bool = True


class DestinationVouched(EventBase):
    """The person approved new destinations: they are allowed for the rest of the mission."""

    kind: Literal["destination_vouched"] = "destination_vouched"
    action_id: str = ""
    destinations: list[dict[str, str]] = Field(default_factory=list)


class RuleAdded(EventBase):
    """A rule was added for this mission."""

    kind: Literal["rule_added"] = "rule_added"
    rule_id: str = ""
    rule_kind: str = ""
    tool: str | None = None


class RuleSuggested(EventBase):
    """The person approved the same thing several times in a mission: Ensemble offers a rule.

    Nothing is decided by it: a rule exists only once the person says yes (the client then
    adds it with ``tool``, ``where`` and ``description``). Only changes to a workspace file the
    person approved as proposed are counted, never a destination (an address, a site).

    Attributes:
        tool: The tool the approvals were for.
        target: What they all changed (a file in the workspace).
        count: How many times the person approved it in this mission.
        where: The rule's conditions (argument name → pattern).
        description: The rule, in words ("Always allow ... in this mission").
    """

    kind: Literal["rule_suggested"] = "rule_suggested"
    tool: str = ""
    target: str = ""
    count: int = 0
    where: dict[str, str] = Field(default_factory=dict)
    description: str = ""


class WorkflowRunStarted(EventBase):
    """The mission is a run of a saved workflow: which one, why it started, which plan it follows.

    Recorded right after :class:`MissionStarted`.

    Attributes:
        workflow: The workflow's name.
        version: Its version that runs.
        run_id: The run (its history's row).
        reason: ``manual``, ``schedule``, ``catch_up`` or ``trigger``.
        plan: ``saved`` (the workflow's saved plan, no planning call) or ``planned`` (the lead
            plans: the workflow has no saved plan yet). A run that re-planned after the saved
            plan shows ``replanned`` in the workflow's history.
        unattended: Nobody started it by hand (a schedule, a catch-up or a trigger did).
    """

    kind: Literal["workflow_run_started"] = "workflow_run_started"
    workflow: str = ""
    version: int = 1
    run_id: str = ""
    reason: RunReason = "manual"
    plan: PlanUse = "planned"
    unattended: bool = False


class OtherEvent(EventBase):
    """A kind this version of the client does not know: shown by its summary, never dropped."""


KnownEvent = Annotated[
    MissionStarted
    | MissionResumed
    | MissionContinued
    | MissionFinished
    | ChatMessageEvent
    | QuestionAsked
    | QuestionAnswered
    | TaskStarted
    | TaskFinished
    | TaskChecked
    | ModelCallMade
    | TextDelta
    | ToolCalled
    | ToolResultEvent
    | ActionProposed
    | ActionDecided
    | ActionExecuted
    | ActionFailed
    | WriteChecked
    | ActionConfirmed
    | ActionOutcomeUnknown
    | ActionUndone
    | MissionRolledBack
    | DestinationVouched
    | RuleAdded
    | RuleSuggested
    | WorkflowRunStarted,
    Field(discriminator="kind"),
]
"""Every kind of event this version knows, told apart by ``kind``."""

AnyEvent = KnownEvent | OtherEvent
"""What :func:`typed` returns."""

_KNOWN: TypeAdapter[Any] = TypeAdapter(KnownEvent)
_KINDS = frozenset(
    model.model_fields["kind"].default
    for model in EventBase.__subclasses__()
    if model is not OtherEvent and "kind" in model.model_fields
)


def typed(
    kind: str,
    mission_id: str,
    data: dict[str, Any],
    *,
    task_id: str | None = None,
    summary: str = "",
    at: dt.datetime | None = None,
    audit_id: int | None = None,
) -> AnyEvent:
    """An event of the class its kind names (or :class:`OtherEvent`), from its parts.

    Args:
        kind: The event's kind.
        mission_id: Its mission.
        data: Its details, as the engine recorded them.
        task_id: Its task, if any.
        summary: Its one line for a person.
        at: When; now if left out.
        audit_id: Its audit row, if any.

    Returns:
        The typed event. Data that does not fit the kind's fields gives an :class:`OtherEvent`
        with everything kept, never an error.
    """
    fields = {
        **data,
        "kind": kind,
        "mission_id": mission_id,
        "task_id": task_id,
        "summary": summary,
        "at": at or dt.datetime.now(dt.UTC),
        "audit_id": audit_id,
    }
    if kind in _KINDS:
        try:
            event: AnyEvent = _KNOWN.validate_python(fields)
        except ValidationError:
            pass
        else:
            return event
    return OtherEvent.model_validate(fields)


def encode(event: EventBase) -> dict[str, Any]:
    """The one JSON form of an event: ``{"id", "kind", "mission_id", "task_id", "summary", "at",
    "audit_id", "data": {...}}``, what ``ensemble audit --json`` and the window's export write.

    ``id`` repeats ``audit_id`` under the name ``ensemble audit --json`` has always used for it.
    """
    fields = event.model_dump(mode="json")
    head = {name: fields.pop(name) for name in ("kind", "mission_id", "task_id", "summary", "at", "audit_id")}
    return {"id": head["audit_id"], **head, "data": fields}


def dumps(event: EventBase) -> str:
    """:func:`encode` as compact JSON text."""
    return json.dumps(encode(event), ensure_ascii=False, separators=(",", ":"))


def call_target(arguments: object) -> str:
    """What a call is about, as " · invoices.xlsx" (a file's name, a site), or "": shown after
    its title in the gate's audit lines and the audit pane."""
    if not isinstance(arguments, dict):
        return ""
    for key in ("path", "url"):
        value = arguments.get(key)
        if isinstance(value, str) and value.strip():
            value = value.strip().rstrip("/\\")
            name = value.split("://", 1)[-1].split("/", 1)[0] if key == "url" else value
            name = re.split(r"[\\/]", name)[-1] or name
            return f" · {name[:80]}"
    return ""
