"""The engine's contract with its clients: what the window and the command line may use.

- :class:`MissionSpec`: a mission as data (start it, save it, run it again).
- Typed events (:mod:`app.api.events`): one class per kind, with named fields; :func:`typed`
  makes one from the journal's event, :func:`encode` is the one JSON form of an event.
- Read models (:mod:`app.api.models`): :class:`MissionInfo`, :class:`ActionInfo`,
  :class:`RuleInfo`, what clients list and show; :func:`action_kinds`, what a rule can name.
- Workflows (:mod:`app.api.workflows`): :class:`WorkflowSpec`, a mission template with
  parameters, a saved plan, a schedule or a trigger; :class:`WorkflowInfo` and
  :class:`WorkflowRunInfo`, what the Workflows pane and its history show.
- :class:`EnsembleError`: the one error base; its message is for a person.

The engine itself (:class:`app.engine.Engine`) is the facade that takes specs and decisions
and hands out events. Clients import this package, the facade and nothing deeper.
"""

from __future__ import annotations

from app.api.attention import DecisionSummary, batch_summary, batches, consequence_rank, decision_summary
from app.api.events import (
    ActionConfirmed,
    ActionDecided,
    ActionExecuted,
    ActionFailed,
    ActionOutcomeUnknown,
    ActionProposed,
    ActionUndone,
    AnyEvent,
    ChatMessageEvent,
    DestinationVouched,
    EventBase,
    MissionContinued,
    MissionFinished,
    MissionResumed,
    MissionRolledBack,
    MissionStarted,
    ModelCallMade,
    NewDestination,
    OtherEvent,
    QuestionAnswered,
    QuestionAsked,
    RuleAdded,
    RuleSuggested,
    TaskChecked,
    TaskFinished,
    TaskStarted,
    TextDelta,
    ToolCalled,
    ToolResultEvent,
    WorkflowRunStarted,
    WriteChecked,
    call_target,
    dumps,
    encode,
    typed,
)
from app.api.models import (
    ActionInfo,
    ActionKindInfo,
    MemoryItem,
    MissionInfo,
    RollbackLimit,
    RollbackPlan,
    RollbackReport,
    RollbackResult,
    RollbackStep,
    RuleInfo,
    action_kinds,
)
from app.api.previews import ActionPreview
from app.api.spec import ApprovalPolicy, MissionSpec, RuleSpec
from app.api.workflows import (
    PlannedTask,
    ProposedParam,
    Schedule,
    SchedulesOwnedElsewhere,
    Trigger,
    WorkflowInfo,
    WorkflowParam,
    WorkflowRunInfo,
    WorkflowSpec,
)
from app.errors import EngineError, EnsembleError

__all__ = [
    "ActionConfirmed",
    "ActionDecided",
    "ActionExecuted",
    "ActionFailed",
    "ActionInfo",
    "ActionKindInfo",
    "ActionOutcomeUnknown",
    "ActionPreview",
    "ActionProposed",
    "ActionUndone",
    "AnyEvent",
    "ApprovalPolicy",
    "ChatMessageEvent",
    "DecisionSummary",
    "DestinationVouched",
    "EngineError",
    "EnsembleError",
    "EventBase",
    "MemoryItem",
    "MissionContinued",
    "MissionFinished",
    "MissionInfo",
    "MissionResumed",
    "MissionRolledBack",
    "MissionSpec",
    "MissionStarted",
    "ModelCallMade",
    "NewDestination",
    "OtherEvent",
    "PlannedTask",
    "ProposedParam",
    "QuestionAnswered",
    "QuestionAsked",
    "RollbackLimit",
    "RollbackPlan",
    "RollbackReport",
    "RollbackResult",
    "RollbackStep",
    "RuleAdded",
    "RuleInfo",
    "RuleSpec",
    "RuleSuggested",
    "Schedule",
    "SchedulesOwnedElsewhere",
    "TaskChecked",
    "TaskFinished",
    "TaskStarted",
    "TextDelta",
    "ToolCalled",
    "ToolResultEvent",
    "Trigger",
    "WorkflowInfo",
    "WorkflowParam",
    "WorkflowRunInfo",
    "WorkflowRunStarted",
    "WorkflowSpec",
    "WriteChecked",
    "action_kinds",
    "batch_summary",
    "batches",
    "call_target",
    "consequence_rank",
    "decision_summary",
    "dumps",
    "encode",
    "typed",
]
