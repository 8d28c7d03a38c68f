"""What crosses the wire between the mission workflow, its activities and its clients.

Plain dataclasses of JSON values (Temporal's default data converter), so that a workflow's
history reads as data and never holds an object of the engine. Nothing here may carry a
secret: the API key and the accounts' passwords are read on the worker (see
:mod:`app.temporal.activities`), and these shapes end up in the workflow's history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_TASK_QUEUE = "ensemble"
"""The task queue the workers poll and missions are started on, unless told otherwise."""

WORKFLOW_NAME = "EnsembleMission"
"""The mission workflow's type name, as clients start it."""


@dataclass(frozen=True)
class RuleData:
    """A rule as the workflow sees it (the journal's :class:`app.journal.Rule`, copied when the
    mission starts): it has the fields :func:`app.rules.deciding_rule` reads.

    Attributes:
        id: The rule's id.
        kind: ``approve_all`` or ``reject_all``.
        description: The sentence a person reads (:func:`app.rules.describe`).
        tool: The tool it covers, or None for every tool.
        conditions_json: Argument name → shell-style pattern, as JSON.
        mission_id: The mission it is limited to, or None.
    """

    id: str
    kind: str
    description: str
    tool: str | None = None
    conditions_json: str = "{}"
    mission_id: str | None = None


@dataclass
class MissionInput:
    """Everything a mission needs to start, all of it safe to keep in history.

    Attributes:
        mission_id: The mission's id (also the workflow id).
        text: What the person asked, in their words.
        workspaces: The folders the agents may touch, as paths on the workers.
        model: The model every agent uses.
        max_turns: How many model replies one agent may take.
        token_budget: Tokens the whole mission may spend.
        max_tokens: The most tokens one reply may have.
        options: Per agent kind, its mission options (an account without its password, the
            browser's allowed sites), as :func:`app.accounts.fill_mission_options` makes them.
        rules: The rules in force when the mission starts: the mission's own, then every
            mission's, each by age (as the journal lists them).
        address_book: The settings' address book.
        memories: What the person asked the lead to remember, the items that apply to the
            mission's folders.
        model_timeout_seconds: How long one model call may take.
        heartbeat_seconds: How soon a model call or an action whose worker died is tried again
            on another worker.
        model_attempts: How often a model call is tried (with backoff up to a minute) before
            the mission says the model is unavailable and waits.
        model_wait_seconds: How long it then waits before it tries again.
    """

    mission_id: str
    text: str
    workspaces: list[str]
    model: str
    max_turns: int = 30
    token_budget: int = 2_000_000
    max_tokens: int = 8192
    options: dict[str, Any] = field(default_factory=dict)
    rules: list[RuleData] = field(default_factory=list)
    address_book: list[str] = field(default_factory=list)
    memories: list[str] = field(default_factory=list)
    model_timeout_seconds: float = 600.0
    heartbeat_seconds: float = 30.0
    model_attempts: int = 10
    model_wait_seconds: float = 300.0


@dataclass
class MissionResult:
    """How a mission ended.

    Attributes:
        status: ``done`` or ``failed`` (a cancelled workflow ends cancelled instead).
        result: The lead's final answer, or why it failed.
        tokens: Tokens the mission spent.
    """

    status: str
    result: str
    tokens: int


@dataclass
class AgentSpec:
    """One agent kind as the workflow drives it: prompt, tools and what each tool reaches.

    Attributes:
        name: ``lead`` or the agent kind (``spreadsheet``).
        system: Its system prompt.
        declarations: Its tools' declarations for the Messages API.
        effects: Each tool's effect (``read``, ``local``, ``external``).
        titles: Each tool's title for a person.
    """

    name: str
    system: str
    declarations: list[dict[str, Any]]
    effects: dict[str, str]
    titles: dict[str, str]


@dataclass
class SetupRequest:
    """What the setup activity needs: the mission's folders and what the person remembers."""

    workspaces: list[str]
    memories: list[str] = field(default_factory=list)


@dataclass
class SetupReply:
    """The agents' prompts and tools, read once on a worker and kept in history, so that a
    replay never depends on the prompt files of whichever worker replays it.

    Attributes:
        lead: The lead.
        kinds: Every agent kind the lead may delegate to, by name.
        overview: What the workspace folders hold, for the lead's first message.
    """

    lead: AgentSpec
    kinds: dict[str, AgentSpec]
    overview: str


@dataclass
class ModelRequest:
    """One model call: an agent's next turn.

    Attributes:
        mission_id: The mission (for the worker's log).
        agent: ``lead`` or the agent kind.
        model: The model.
        max_tokens: The most tokens of the reply.
        system: The system prompt.
        tools_json: The tools' declarations, as JSON.
        messages_json: The conversation so far, ending with a user turn, as JSON (one string:
            the data converter copies a nested structure field by field on every call, which
            grew with the conversation).
        base_url: A model endpoint on the worker's own machine the mission names (the demo's
            scripted model), or None for the worker's own (the API).
    """

    mission_id: str
    agent: str
    model: str
    max_tokens: int
    system: str
    tools_json: str
    messages_json: str
    base_url: str | None = None


@dataclass
class ModelReply:
    """An assistant turn (:class:`app.model.Reply`) as data.

    Attributes:
        content: Its content blocks.
        stop_reason: Why the model stopped.
        tokens: Every token the call processed (what the budget counts).
        cache_read_tokens: Tokens read from the prompt cache.
        input_tokens: Input tokens neither read from nor written to the cache.
        output_tokens: Tokens the model wrote.
        cache_write_tokens: Tokens written to the prompt cache.
    """

    content: list[dict[str, Any]]
    stop_reason: str | None
    tokens: int
    cache_read_tokens: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass
class ToolRequest:
    """One tool call of one agent, run on a worker.

    Attributes:
        mission_id: The mission.
        agent: The agent kind whose tool it is.
        tool: The tool's name.
        call_id: The model's ``tool_use`` id.
        arguments: The model's arguments, or the approved ones.
        workspaces: The mission's folders.
        options: The mission's options for the connectors (no secret).
        vouched: What the person vouched for in the mission when the call was made
            (:class:`app.vouch.Vouchers` as data: ``addresses``, ``address_domains``, ``hosts``,
            each value → where the person said so), for the tool's ``ToolContext.vouches``.
    """

    mission_id: str
    agent: str
    tool: str
    call_id: str
    arguments: dict[str, Any]
    workspaces: list[str]
    options: dict[str, Any] = field(default_factory=dict)
    vouched: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class ToolReply:
    """A tool call's result for the model.

    Attributes:
        text: What the model reads.
        is_error: Whether it is an error (or a rejection).
    """

    text: str
    is_error: bool = False


@dataclass
class Proposal:
    """What a side effect would do, rendered on a worker before anyone decides.

    Attributes:
        error: Why it cannot be proposed (bad arguments, a file outside the workspace), or
            None; with an error, nothing else is set and the model hears the error.
        arguments: The arguments as they would run (completed by the tool's ``prepare``: an
            email's Message-ID).
        preview: The preview (``{"summary", "kind", "detail", "text"}``).
        destinations: Where its data would go: ``{"kind", "value", "role"}`` each.
        known: The connector's own evidence for some of them (a correspondent found in Sent),
            ``{value: why}``.
        fingerprinted: Whether the tool reports the state of what it changes (a file's
            SHA-256), so that a retried execution can tell whether the change happened.
    """

    error: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    preview: dict[str, Any] = field(default_factory=dict)
    destinations: list[dict[str, str]] = field(default_factory=list)
    known: dict[str, str] = field(default_factory=dict)
    fingerprinted: bool = False


@dataclass
class ExecuteRequest:
    """An approved action to carry out, exactly once.

    Attributes:
        call: The tool call, with the approved arguments.
        action_id: The proposed action.
        pre_state: The fingerprint of what it changes, taken (and kept in history) before the
            first try; a retry compares it with the state now.
        edited: Whether the person edited the arguments (the tool's ``prepare`` then runs
            again on them).
    """

    call: ToolRequest
    action_id: str
    pre_state: str | None = None
    edited: bool = False


@dataclass
class ExecuteReply:
    """How an approved action ended.

    Attributes:
        outcome: ``executed``, ``failed``, ``already`` (a retry found it had happened) or
            ``unknown`` (a retry cannot tell whether it happened: the person decides again).
        text: The result for the model (or the error).
        check: The read-back check of a local write, in words, or None.
        backup: How to undo a local write (:meth:`connectors.base.Backup.to_json`), or None.
        preview: For an edited action, the preview of what really ran.
    """

    outcome: str
    text: str
    check: str | None = None
    backup: dict[str, Any] | None = None
    preview: dict[str, Any] | None = None


@dataclass
class DecisionInput:
    """A person's decision on a card, sent as the workflow's ``decide`` update.

    Attributes:
        action_id: The card's action.
        kind: ``approve``, ``edit`` or ``reject``.
        arguments: For ``edit``, the arguments the person changed (the rest stay as proposed).
        reason: For ``reject``, why (the agent reads it).
        by: Who decided, for the audit (``person`` unless a client says more).
    """

    action_id: str
    kind: str
    arguments: dict[str, Any] | None = None
    reason: str | None = None
    by: str = "person"


@dataclass
class AnswerInput:
    """A person's answer to the lead's question, sent as the workflow's ``answer`` update."""

    question_id: str
    text: str


@dataclass
class ChatInput:
    """A message the person writes in the mission's chat, sent as the ``message`` update."""

    text: str


@dataclass
class Card:
    """A proposed action as the workflow holds it, and as clients show it.

    Attributes:
        action_id: Its id.
        mission_id: Its mission.
        task: The task's key (the lead's plan names it).
        agent: The agent kind that proposed it.
        tool: The tool.
        title: What the tool does, for a person.
        effect: ``local`` or ``external``.
        arguments_json: The proposed arguments, as JSON.
        preview: The preview.
        status: ``pending``, ``approved``, ``rejected``, ``executed``, ``failed``.
        notice: What the card must tell the person (a new destination, a warning), or None.
        ask_person: Whether only the person may approve it (no rule).
        decision: ``approve``, ``edit`` or ``reject`` once decided.
        decided_by: ``person`` or ``rule:<id> (<description>)``.
        edited_arguments_json: The arguments the person approved instead, as JSON.
        reason: Why it was rejected.
        result: What carrying it out returned.
    """

    action_id: str
    mission_id: str
    task: str
    agent: str
    tool: str
    title: str
    effect: str
    arguments_json: str
    preview: dict[str, Any]
    status: str = "pending"
    notice: str | None = None
    ask_person: bool = False
    decision: str | None = None
    decided_by: str | None = None
    edited_arguments_json: str | None = None
    reason: str | None = None
    result: str | None = None


@dataclass
class MissionEvent:
    """One step of a mission, as the workflow records it (its audit, with the history).

    Attributes:
        seq: Its number in the mission, from 1.
        kind: The event's kind, as the journal names it (``task_started``, ``action_proposed``…).
        summary: One line for a person.
        at: When, in the workflow's time (ISO 8601).
        data: The details.
    """

    seq: int
    kind: str
    summary: str
    at: str
    data: dict[str, Any] = field(default_factory=dict)
