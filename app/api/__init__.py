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
    MissionStarted,
    ModelCallMade,
    NewDestination,
    OtherEvent,
    QuestionAnswered,
    QuestionAsked,
    RuleAdded,
    TaskFinished,
    TaskStarted,
    TextDelta,
    ToolCalled,
    ToolResultEvent,
    WorkflowRunStarted,
    dumps,
    encode,
    typed,
)
from app.api.models import ActionInfo, ActionKindInfo, MissionInfo, RuleInfo, action_kinds
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
    "DestinationVouched",
    "EngineError",
    "EnsembleError",
    "EventBase",
    "MissionContinued",
    "MissionFinished",
    "MissionInfo",
    "MissionResumed",
    "MissionSpec",
    "MissionStarted",
    "ModelCallMade",
    "NewDestination",
    "OtherEvent",
    "PlannedTask",
    "ProposedParam",
    "QuestionAnswered",
    "QuestionAsked",
    "RuleAdded",
    "RuleInfo",
    "RuleSpec",
    "Schedule",
    "SchedulesOwnedElsewhere",
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
    "action_kinds",
    "dumps",
    "encode",
    "typed",
]
