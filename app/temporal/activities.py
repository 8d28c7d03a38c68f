"""The mission's activities: everything that touches the world, run on a worker.

A worker holds what a mission must never put in its history: the Anthropic API key
(``ANTHROPIC_API_KEY`` or the worker's keyring, through :class:`app.model.ModelClient`) and the
accounts' passwords (the connectors read them from the worker's keyring when a tool runs).
The workflow sends only tool names, arguments and the mission's options.

- :meth:`MissionActivities.setup`: the agents' prompts and tool declarations, once.
- :meth:`MissionActivities.model_reply`: one model call, with the engine's own client; a
  transient failure is retried by Temporal's retry policy, the others fail at once.
- :meth:`MissionActivities.run_read`: a tool that only reads.
- :meth:`MissionActivities.propose`: a side effect's preview and destinations, before anyone
  decides.
- :meth:`MissionActivities.fingerprint`: the state of what an approved action changes, kept in
  history before it runs.
- :meth:`MissionActivities.execute`: an approved action, exactly once: a retry after a worker
  died first checks whether the effect happened (an email's Message-ID in Sent, a file's
  fingerprint), as :meth:`app.gate.ApprovalGate._resume` does after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from app.agents import registry, system_prompt
from app.gate import call_destinations
from app.journal import Memory
from app.memory import REMEMBER, prompt_section, remember_tool
from app.model import ModelClient, ModelError
from app.orchestrator import (
    ASK_USER_DESCRIPTION,
    AskUserArgs,
    DelegateArgs,
    delegate_description,
    lead_system_prompt,
)
from app.orchestrator._runtime import TRANSIENT
from app.orchestrator._workspace import workspace_overview
from app.paths import Paths
from app.temporal._shapes import (
    AgentSpec,
    ExecuteReply,
    ExecuteRequest,
    ModelReply,
    ModelRequest,
    Proposal,
    SetupReply,
    SetupRequest,
    ToolReply,
    ToolRequest,
)
from app.vouch import Vouchers
from connectors.base import (
    Tool,
    ToolContext,
    ToolError,
    ToolOutput,
    WriteCheck,
    defuse,
    file_bytes_check,
    tool_title,
)
from connectors.registry import action_title

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from connectors.base import AnyTool, VouchHook

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 1.0
"""Seconds between an activity's heartbeats while it runs (the workflow's heartbeat timeout
says how soon a dead worker's activity is tried again elsewhere)."""


@contextlib.asynccontextmanager
async def _heartbeating() -> AsyncIterator[None]:
    """Heartbeats while the block runs, so that the server notices a worker that died."""

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(HEARTBEAT_EVERY)

    beating = asyncio.ensure_future(beat())
    try:
        yield
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating


async def _not_here(_ctx: ToolContext, _args: Any) -> ToolOutput:
    raise ToolError("The workflow runs this tool itself.")


def _spec(name: str, system: str, tools: list[AnyTool]) -> AgentSpec:
    return AgentSpec(
        name=name,
        system=system,
        declarations=[t.to_api() for t in tools],
        effects={t.name: t.effect for t in tools},
        titles={t.name: tool_title(t.name, t.title) for t in tools},
    )


def _vouch_hook(vouched: dict[str, dict[str, str]]) -> VouchHook | None:
    """The :attr:`ToolContext.vouches` hook from what the workflow sent: whether the person
    vouched for a destination in the mission (as of the call)."""
    if not vouched:
        return None
    vouchers = Vouchers(**vouched)
    return lambda destination: vouchers.source_of(destination) is not None


def _tool(agent: str, name: str) -> AnyTool:
    if agent == "lead" and name == REMEMBER:
        return remember_tool(None)  # proposed here; kept by the person's own Ensemble
    kind = registry().get(agent)
    found = kind.tool(name) if kind is not None else None
    if found is None:
        raise ApplicationError(f"The {agent} agent has no tool named {name}.", non_retryable=True)
    return found


class MissionActivities:
    """The activities of :class:`app.temporal.workflow.MissionWorkflow`, on one worker.

    Args:
        paths: Where this worker keeps the backups of local writes (``ENSEMBLE_HOME`` by
            default).
        api_timeout: Seconds before one model request is given up.
    """

    def __init__(self, paths: Paths | None = None, *, api_timeout: float = 600.0) -> None:
        self.paths = paths or Paths.default()
        self.api_timeout = api_timeout
        self._models: dict[tuple[str, int, str | None], ModelClient] = {}

    def all(self) -> list[Any]:
        """Every activity, for :class:`temporalio.worker.Worker`."""
        return [
            self.setup,
            self.model_reply,
            self.run_read,
            self.propose,
            self.fingerprint,
            self.execute,
            self.mission_end,
        ]

    async def close(self) -> None:
        """Closes the model clients' connections."""
        for client in self._models.values():
            await client.close()
        self._models.clear()

    def _ctx(self, call: ToolRequest) -> ToolContext:
        return ToolContext(
            workspaces=[Path(w) for w in call.workspaces],
            backup_dir=self.paths.backups / call.mission_id,
            mission_id=call.mission_id,
            call_id=call.call_id,
            extra=call.options,
            vouches=_vouch_hook(call.vouched),
        )

    @activity.defn(name="ensemble_mission_end")
    async def mission_end(self, mission_id: str) -> None:
        """Releases what the connectors hold for an ended mission on this worker (its browser
        context, its IMAP logins), as the embedded engine does when a mission ends.

        Args:
            mission_id: The mission.
        """
        for kind in registry().values():
            if kind.on_mission_end is not None:
                await kind.on_mission_end(mission_id)

    @activity.defn(name="ensemble_setup")
    async def setup(self, request: SetupRequest) -> SetupReply:
        """Reads the prompts and the tools of the lead and of every agent kind.

        Args:
            request: The mission's folders and what the person remembers.

        Returns:
            The agents as the workflow drives them, and the folders' overview.
        """
        folders = [Path(w) for w in request.workspaces]
        remembered = prompt_section(
            [Memory(id=f"m{i}", text=text, source="you added it") for i, text in enumerate(request.memories)]
        )
        lead_tools: list[AnyTool] = [
            Tool(
                name="delegate",
                title="Hand out tasks",
                description=delegate_description(),
                effect="read",
                args_model=DelegateArgs,
                run=_not_here,
            ),
            Tool(
                name="ask_user",
                title="Ask you a question",
                description=ASK_USER_DESCRIPTION,
                effect="read",
                args_model=AskUserArgs,
                run=_not_here,
            ),
            remember_tool(None),  # proposed on a worker; the person's own Ensemble keeps it
        ]
        kinds = {}
        for kind in registry().values():
            system = system_prompt(kind).replace("{workspaces}", "\n".join(f"- {w}" for w in folders))
            kinds[kind.name] = _spec(kind.name, system, list(kind.tools))
        async with _heartbeating():
            overview = await asyncio.to_thread(workspace_overview, folders)
        return SetupReply(
            lead=_spec("lead", lead_system_prompt([str(w) for w in folders], remembered), lead_tools),
            kinds=kinds,
            overview=overview,
        )

    def _model(self, model: str, max_tokens: int, base_url: str | None = None) -> ModelClient:
        client = self._models.get((model, max_tokens, base_url))
        if client is None:
            # No retries inside the client: Temporal's retry policy retries the activity, on
            # whichever worker is alive. The key comes from this worker's environment or keyring;
            # a model on this machine (the demo's) gets none of it.
            if base_url is not None and not _local(base_url):
                raise ApplicationError(
                    "This worker talks only to its own model or to one on its own machine, "
                    f"not to {base_url}.",
                    type="model_endpoint",
                    non_retryable=True,
                )
            client = ModelClient(
                model,
                max_tokens=max_tokens,
                max_retries=0,
                timeout=self.api_timeout,
                base_url=base_url,
                api_key="local" if base_url is not None else None,
            )
            self._models[(model, max_tokens, base_url)] = client
        return client

    @activity.defn(name="ensemble_model_reply")
    async def model_reply(self, request: ModelRequest) -> ModelReply:
        """Asks the model for an agent's next turn.

        Args:
            request: The agent's prompt, tools and conversation.

        Returns:
            The turn.

        Raises:
            ApplicationError: The model could not be used: retryable when the failure may pass
                (overloaded, unreachable, rate-limited), not when it will not (no key, a key
                the API refuses, a request it rejects).
        """
        try:
            client = self._model(request.model, request.max_tokens, request.base_url)
            async with _heartbeating():
                reply = await client.reply(
                    system=request.system,
                    tools=json.loads(request.tools_json),
                    messages=json.loads(request.messages_json),
                )
        except ModelError as exc:
            raise ApplicationError(
                str(exc), type=f"model_{exc.kind}", non_retryable=exc.kind not in TRANSIENT
            ) from None
        return ModelReply(
            content=reply.content,
            stop_reason=reply.stop_reason,
            tokens=reply.usage.total,
            cache_read_tokens=reply.usage.cache_read_tokens,
            input_tokens=reply.usage.input_tokens,
            output_tokens=reply.usage.output_tokens,
            cache_write_tokens=reply.usage.cache_write_tokens,
        )

    @activity.defn(name="ensemble_run_read")
    async def run_read(self, call: ToolRequest) -> ToolReply:
        """Runs a tool that only reads; its errors are results for the model.

        Args:
            call: The call.

        Returns:
            The result.
        """
        tool = _tool(call.agent, call.tool)
        if tool.effect != "read":
            raise ApplicationError(
                f"{call.tool} changes something: it is proposed, not run.", non_retryable=True
            )
        ctx = self._ctx(call)
        try:
            async with _heartbeating():
                output = await tool.run(ctx, tool.parse(call.arguments))
        except ToolError as exc:
            return ToolReply(defuse(str(exc)), is_error=True)
        except Exception as exc:
            # The boundary of one tool call, as in the gate: a connector's bug is a result.
            log.exception("Tool %s failed unexpectedly", call.tool)
            return ToolReply(f"{call.tool} failed unexpectedly: {type(exc).__name__}: {exc}", is_error=True)
        return ToolReply(output.text)

    @activity.defn(name="ensemble_propose")
    async def propose(self, call: ToolRequest) -> Proposal:
        """Renders what a side effect would do, without doing it.

        Args:
            call: The proposed call.

        Returns:
            Its completed arguments, preview and destinations; or the error the model hears.
        """
        tool = _tool(call.agent, call.tool)
        ctx = self._ctx(call)
        try:
            async with _heartbeating():  # a slow preview (a mailbox's lookup) is not a dead worker
                args = tool.parse(call.arguments)
                if tool.prepare is not None:
                    args = await tool.prepare(ctx, args)
                preview = await tool.render_preview(ctx, args)
                destinations = call_destinations(tool, args)
                known: dict[str, str] = {}
                if destinations and tool.known is not None:
                    try:
                        known = await tool.known(ctx, args, list(destinations))
                    except ToolError as exc:
                        log.warning("Could not look up known correspondents: %s", exc)
        except ToolError as exc:
            return Proposal(error=defuse(str(exc)))
        return Proposal(
            arguments=args.model_dump(mode="json"),
            preview=preview.to_json(),
            destinations=[{"kind": d.kind, "value": d.value, "role": d.role} for d in destinations],
            known=known,
            fingerprinted=tool.fingerprint is not None,
        )

    @activity.defn(name="ensemble_fingerprint")
    async def fingerprint(self, call: ToolRequest) -> str:
        """The state of what an approved action changes (a file's SHA-256, or ``absent``),
        recorded in history before the action's first try; "" when the tool has none or it
        cannot be read.

        Args:
            call: The approved call.
        """
        tool = _tool(call.agent, call.tool)
        if tool.fingerprint is None:
            return ""
        try:
            async with _heartbeating():
                return await tool.fingerprint(self._ctx(call), tool.parse(call.arguments))
        except ToolError:
            return ""

    @activity.defn(name="ensemble_execute")
    async def execute(self, request: ExecuteRequest) -> ExecuteReply:
        """Carries out an approved action, never twice.

        The first try runs it. A later try (the worker running the first one died, so the
        server gave the activity to another) first asks whether it already happened: the
        tool's ``confirm_outcome`` (an email's Message-ID in Sent), else its fingerprint
        against the one kept before the first try (a changed file means the write happened).
        If it happened, the retry says so and changes nothing; if it surely did not, it runs;
        if nobody can tell, it reports ``unknown`` and the workflow asks the person again.

        Args:
            request: The approved call and what was kept before its first try.

        Returns:
            How it ended.
        """
        call = request.call
        tool = _tool(call.agent, call.tool)
        ctx = self._ctx(call)
        try:
            args = tool.parse(call.arguments)
            preview = None
            if request.edited:
                if tool.prepare is not None:
                    args = await tool.prepare(ctx, args)
                preview = (await tool.render_preview(ctx, args)).to_json()
            if activity.info().attempt > 1:
                happened = await self._happened(tool, ctx, args, request.pre_state)
                if happened is True:
                    return ExecuteReply(
                        "already", f"{call.tool} had already been carried out before its worker stopped."
                    )
                if happened is None:
                    return ExecuteReply(
                        "unknown",
                        "The worker that was carrying this out stopped, so it may already have happened. "
                        "Check before approving it again.",
                    )
            async with _heartbeating():
                output = await tool.run(ctx, args)
                check = await self._read_back(tool, ctx, args, output)
        except ToolError as exc:
            return ExecuteReply("failed", defuse(str(exc)))
        except Exception as exc:
            # A connector's own bug (anything but its ToolError): the action is reported failed
            # to the workflow, which tells the person, rather than retried by Temporal, since a
            # retry could repeat an effect; the traceback goes to the worker's log only.
            log.exception("Action %s (%s) failed unexpectedly", request.action_id, call.tool)
            return ExecuteReply(
                "failed", f"“{action_title(call.tool)}” failed unexpectedly: {defuse(str(exc))}"
            )
        backup = output.backup.to_json() if output.backup is not None else None
        if check is not None and check.outcome == "differs":
            return ExecuteReply(
                "failed",
                f"It was carried out, but it is not what was approved. {check.words()} The change is "
                "kept so that it can be undone.",
                check=check.words(),
                backup=backup,
                preview=preview,
            )
        text = output.text
        if check is not None and check.not_checked is not None:
            text = f"{text}\n(Not read back to check it: {check.not_checked})"
        return ExecuteReply(
            "executed", text, check=check.words() if check else None, backup=backup, preview=preview
        )

    @staticmethod
    async def _happened(tool: AnyTool, ctx: ToolContext, args: Any, pre_state: str | None) -> bool | None:
        """Whether an action whose earlier try may have run did happen; None if nobody can tell."""
        try:
            if tool.confirm_outcome is not None:
                return await tool.confirm_outcome(ctx, args)
            if tool.fingerprint is not None and pre_state:
                return await tool.fingerprint(ctx, args) != pre_state
        except ToolError as exc:
            log.warning("Could not check whether %s happened: %s", tool.name, exc)
        return None

    @staticmethod
    async def _read_back(tool: AnyTool, ctx: ToolContext, args: Any, output: ToolOutput) -> WriteCheck | None:
        """The read-back check of a local write (see :meth:`app.gate.ApprovalGate._read_back`)."""
        if tool.effect != "local":
            return None
        try:
            if tool.readback is not None:
                return await tool.readback(ctx, args, output)
            if output.backup is not None:
                return await asyncio.to_thread(file_bytes_check, output.backup)
        except ToolError as exc:
            return WriteCheck(f"what {tool.name} wrote", not_checked=str(exc))
        return None


def _local(url: str) -> bool:
    """Whether a model endpoint is on this machine (a loopback address)."""
    import ipaddress
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
