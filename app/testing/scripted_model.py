"""A scripted model: a local HTTP server that speaks the Anthropic Messages API.

Tests and the demo never call the real API. They start a :class:`ScriptedModel` on
127.0.0.1, point the real ``anthropic`` SDK at its :attr:`~ScriptedModel.base_url`, and
script what "the model" answers, so the SDK's own HTTP, streaming, retry and error code
runs unchanged (browser-use's rule: fake only the model, and fake it over the wire).

A script is a list of :class:`Conversation` objects. A request belongs to the first
conversation whose ``match`` string occurs in its system prompt or its first user
message; the number of assistant messages it carries says which turn it is, and so
which scripted :class:`Reply` it gets. Because the turn is read from the request, a
retried request gets the same reply again, and two agents that share a script each walk
through it at their own pace::

    model = ScriptedModel()
    model.add(
        "You are the planner",
        tool_call("read_sheet", {"path": "q3.xlsx"}),
        text("The total is 42."),
    )
    with model:
        client = anthropic.AsyncAnthropic(api_key="test", base_url=model.base_url)
        ...

Requests are served on their own threads, so parallel agents really overlap; a reply can
wait (:attr:`Reply.delay`), and :meth:`ScriptedModel.hold` keeps every answer back until
:meth:`ScriptedModel.release`, for tests that need a request to be observably in flight.

Usage is simulated, prompt caching included, so a benchmark can report a cache-read share:
tokens are estimated as a quarter of the JSON length of each part of the prompt, and
``cache_control`` breakpoints write and read a server-side cache of prompt prefixes (see
:class:`ScriptedModel`).

The lead's checking turns (requests that declare the ``report_check`` tool, see
:mod:`app.orchestrator._check`) are answered only by checking scripts
(:meth:`ScriptedModel.add_check`); one that no checking script matches gets a passing verdict
(:func:`passing_check`), so that scripts that know nothing of checks run as before.

When the script cannot answer (no conversation matches, the script is exhausted, a reply
function raised), the server answers 500 ``api_error`` with a message that says exactly
what was missing and tells the SDK not to retry, and it records the message in
:attr:`ScriptedModel.failures`, so a failing test explains itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Literal, cast

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "CHECK_TOOL",
    "Conversation",
    "ErrorType",
    "Reply",
    "ReplyFn",
    "RequestHandler",
    "ScriptedModel",
    "StopReason",
    "check_verdict",
    "error",
    "fault",
    "passing_check",
    "text",
    "tool_call",
    "tool_calls",
]

log = logging.getLogger(__name__)

StopReason = Literal[
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "pause_turn",
    "refusal",
    "model_context_window_exceeded",
]
"""Why a turn ended, as the Messages API says it."""

ErrorType = Literal[
    "invalid_request_error",
    "authentication_error",
    "billing_error",
    "permission_error",
    "not_found_error",
    "rate_limit_error",
    "timeout_error",
    "api_error",
    "overloaded_error",
]
"""The ``error.type`` of a Messages API error response."""

CacheRule = Literal["instant", "after_response"]
"""When a cached prompt prefix becomes readable (see :class:`ScriptedModel`)."""

FaultKind = Literal["cut", "invalid_json", "no_stop", "html", "garbage"]
"""How a faulty reply breaks: the stream cut off, a tool input that is not JSON, no stop
reason, an HTML page or bytes that are no JSON, each with HTTP status 200."""

_LOOKBACK_BLOCKS = 20
"""How many blocks before a cache breakpoint the API looks back for an earlier cache hit."""

_STREAM_CHUNKS = 3
"""Into how many deltas a streamed text or tool input is split, so the SDK must reassemble."""


@dataclass(frozen=True)
class Reply:
    """One scripted assistant turn, or an API error.

    Build one with :func:`text`, :func:`tool_call`, :func:`tool_calls` or :func:`error`.

    Attributes:
        content: Messages API content blocks, such as ``{"type": "text", "text": ...}`` and
            ``{"type": "tool_use", "id": ..., "name": ..., "input": {...}}``. Empty for an
            error.
        stop_reason: Why the turn ended. Left out, it becomes ``"tool_use"`` when the
            content has a ``tool_use`` block and ``"end_turn"`` otherwise.
        status: The HTTP status; anything but 200 makes this an error response.
        error_type: The error's ``type``; required when ``status`` is not 200.
        error_message: The error's ``message``.
        delay: Seconds to wait before answering; ``None`` uses the server's default.
        fault: How the reply is broken on the wire (see :func:`fault`), or None.
        fault_after: For a ``cut``: how many server-sent events arrive before the cut.
        fault_times: How many requests get the broken reply before the same turn is answered
            whole; None: every request.

    Raises:
        TypeError: If a content block is not a dict with a ``type``.
        ValueError: If the fields do not make a well-formed reply.
    """

    content: list[dict[str, Any]]
    stop_reason: StopReason | None = None
    status: int = 200
    error_type: ErrorType | None = None
    error_message: str = ""
    delay: float | None = None
    fault: FaultKind | None = None
    fault_after: int = 4
    fault_times: int | None = None

    def __post_init__(self) -> None:
        if self.delay is not None and self.delay < 0:
            raise ValueError(f"A reply's delay cannot be negative (got {self.delay}).")
        if self.status != 200:
            if not 400 <= self.status <= 599:
                raise ValueError(f"An error reply needs a 4xx or 5xx status, not {self.status}.")
            if self.error_type is None:
                raise ValueError(f"An error reply (status {self.status}) needs an error_type.")
            if self.content:
                raise ValueError("An error reply has no content; leave content empty.")
            return
        if self.error_type is not None:
            raise ValueError(
                f"error_type {self.error_type!r} is set on a status 200 reply; "
                "use error() for an error response."
            )
        for index, block in enumerate(self.content):
            _check_block(index, block)
        if self.stop_reason is None:
            uses_tool = any(block["type"] == "tool_use" for block in self.content)
            # The dataclass is frozen so a reply can be shared between scripts; this fills
            # in a derived default once, before anyone can see the object.
            object.__setattr__(self, "stop_reason", "tool_use" if uses_tool else "end_turn")

    @property
    def is_error(self) -> bool:
        """Whether this reply is an API error response rather than an assistant turn."""
        return self.status != 200


def _check_block(index: int, block: object) -> None:
    """Raises TypeError or ValueError if ``block`` is not a content block the SDK could parse."""
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise TypeError(f"Content block {index} must be a dict with a 'type', not {block!r}.")
    if block["type"] == "text" and not isinstance(block.get("text"), str):
        raise ValueError(f"Text block {index} needs a 'text' string: {block!r}.")
    if block["type"] == "tool_use":
        if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
            raise ValueError(f"tool_use block {index} needs 'id' and 'name' strings: {block!r}.")
        if not isinstance(block.get("input"), dict):
            raise ValueError(f"tool_use block {index} needs an 'input' dict: {block!r}.")
    try:
        json.dumps(block)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Content block {index} is not JSON-serialisable: {exc}") from exc


def _tool_use_id() -> str:
    return f"toolu_{uuid.uuid4().hex[:24]}"


def text(s: str, *, stop_reason: StopReason | None = None, delay: float | None = None) -> Reply:
    """A turn that answers with text only.

    Args:
        s: What the model says.
        stop_reason: Why the turn ended; ``"end_turn"`` if left out.
        delay: Seconds to wait before answering; the server's default if left out.

    Returns:
        The reply.
    """
    return Reply([{"type": "text", "text": s}], stop_reason=stop_reason, delay=delay)


def tool_call(
    name: str,
    input: dict[str, Any],
    *,
    id: str | None = None,
    text: str | None = None,
    stop_reason: StopReason | None = None,
    delay: float | None = None,
) -> Reply:
    """A turn that calls one tool, optionally after a sentence of text.

    Args:
        name: The tool's name.
        input: The tool's arguments.
        id: The ``tool_use`` id; a unique ``toolu_...`` id if left out. The id is fixed
            when the reply is built, so every request served this reply sees the same id.
        text: A text block to put before the call, as models often do.
        stop_reason: Why the turn ended; ``"tool_use"`` if left out.
        delay: Seconds to wait before answering; the server's default if left out.

    Returns:
        The reply.
    """
    content: list[dict[str, Any]] = []
    if text is not None:
        content.append({"type": "text", "text": text})
    content.append({"type": "tool_use", "id": id or _tool_use_id(), "name": name, "input": dict(input)})
    return Reply(content, stop_reason=stop_reason, delay=delay)


def tool_calls(
    *calls: tuple[str, dict[str, Any]],
    text: str | None = None,
    stop_reason: StopReason | None = None,
    delay: float | None = None,
) -> Reply:
    """A turn that calls several tools at once (parallel tool calls).

    Args:
        *calls: ``(name, input)`` pairs, one ``tool_use`` block each, with unique ids.
        text: A text block to put before the calls.
        stop_reason: Why the turn ended; ``"tool_use"`` if left out.
        delay: Seconds to wait before answering; the server's default if left out.

    Returns:
        The reply.

    Raises:
        ValueError: If no call is given.
    """
    if not calls:
        raise ValueError("tool_calls() needs at least one (name, input) pair.")
    content: list[dict[str, Any]] = []
    if text is not None:
        content.append({"type": "text", "text": text})
    content.extend(
        {"type": "tool_use", "id": _tool_use_id(), "name": name, "input": dict(args)} for name, args in calls
    )
    return Reply(content, stop_reason=stop_reason, delay=delay)


def error(status: int, error_type: ErrorType, message: str, *, delay: float | None = None) -> Reply:
    """An API error response, such as ``error(529, "overloaded_error", "Overloaded")``.

    The SDK retries 408, 409, 429 and 5xx responses by itself. An error reply does not
    advance the script, so each retry gets the same error again: a scripted 529 stays
    overloaded through all of the SDK's retries.

    Args:
        status: The HTTP status, 4xx or 5xx.
        error_type: The error's ``type``.
        message: The error's ``message``.
        delay: Seconds to wait before answering; the server's default if left out.

    Returns:
        The reply.
    """
    return Reply([], status=status, error_type=error_type, error_message=message, delay=delay)


def fault(reply: Reply, kind: FaultKind, *, after: int = 4, times: int | None = None) -> Reply:
    """The same turn, delivered broken: for tests of what the engine does with a bad reply.

    - ``cut``: the stream stops after ``after`` events and the connection drops.
    - ``invalid_json``: a ``tool_use`` block's input arrives as JSON cut short (the rest of
      the stream is whole, ``message_stop`` included).
    - ``no_stop``: the stream ends cleanly but without ``message_delta``/``message_stop``.
    - ``html``: an HTML page with status 200, as a captive portal or proxy sends.
    - ``garbage``: status 200 with bytes that are neither JSON nor server-sent events.

    Args:
        reply: The turn (text or tool calls) to break.
        kind: How.
        after: For ``cut``: events sent before the cut.
        times: How many requests get it broken before the turn is served whole; None: all.

    Returns:
        The reply.
    """
    return dataclasses.replace(reply, fault=kind, fault_after=after, fault_times=times)


CHECK_TOOL = "report_check"
"""The tool of the lead's checking turn (:data:`app.orchestrator._check.CHECK_TOOL`): a request
that declares it is answered by the checking scripts (:meth:`ScriptedModel.add_check`)."""


def passing_check(findings: str = "The result agrees with the instructions.") -> Reply:
    """A checking turn's verdict that the task's result holds, with nothing read.

    What a checking turn gets when no checking script matches it.

    Args:
        findings: What the check says it compared.

    Returns:
        The reply: a :data:`CHECK_TOOL` call with ``passed`` true.
    """
    return tool_call(CHECK_TOOL, {"passed": True, "findings": findings, "evidence": []})


def check_verdict(passed: bool, findings: str, evidence: list[str]) -> Reply:
    """A checking turn's verdict: a :data:`CHECK_TOOL` call.

    Args:
        passed: Whether the task's result holds.
        findings: What was compared and what differs.
        evidence: What was read that shows it.

    Returns:
        The reply.
    """
    return tool_call(CHECK_TOOL, {"passed": passed, "findings": findings, "evidence": list(evidence)})


ReplyFn = Callable[[dict[str, Any]], Reply]
"""A reply computed from the request body, for a test that checks what the model was sent."""

RequestHandler = Callable[[dict[str, Any]], "Reply | None"]
"""A fallback consulted before the conversations; ``None`` lets the conversations answer."""


@dataclass
class Conversation:
    """A scripted conversation.

    Attributes:
        match: A string looked for in the request's system prompt and first user message.
            The first conversation added whose string occurs there answers the request,
            so add the more specific scripts first. An empty string matches every request.
        replies: Turn ``n`` (a request carrying ``n`` assistant messages) gets
            ``replies[n]``: a :class:`Reply`, or a function of the request body that
            returns one.
    """

    match: str
    replies: list[Reply | ReplyFn] = field(default_factory=list)
    checking: bool = False
    """Whether it answers checking turns (requests that declare :data:`CHECK_TOOL`) instead
    of the others; see :meth:`ScriptedModel.add_check`."""


class _ScriptFailure(Exception):
    """The script cannot answer this request; the message says why, for the test's author."""

    def __init__(self, message: str, *, status: int = 500, error_type: ErrorType = "api_error") -> None:
        super().__init__(message)
        self.status = status
        self.error_type: ErrorType = error_type


class ScriptedModel:
    """A Messages API server on 127.0.0.1 whose replies a test scripts.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`::

        with ScriptedModel() as model:
            model.add("planner", text("Done."))
            client = anthropic.Anthropic(api_key="k", base_url=model.base_url)

    Usage is simulated, prompt caching included. The prompt is cut into parts: each tool,
    each system block, each message content block (a string content is one text block),
    in that order, and a part costs ``ceil(len(json) / 4)`` tokens. A part that carries
    ``cache_control`` is a breakpoint. The longest prefix already cached, found at a
    breakpoint or up to 20 blocks before one (the API looks back that far), is reported as
    ``cache_read_input_tokens``; the rest of the prompt up to the last breakpoint as
    ``cache_creation_input_tokens``, and every breakpoint's prefix is then cached; what
    follows the last breakpoint as ``input_tokens``. The cache is keyed by model and has
    neither the API's minimum cacheable length nor its time to live, so that tests with
    short prompts still see it work; :meth:`clear_cache` empties it.

    By default a prefix is readable as soon as a request has written it, even by a request
    already waiting. The real API is stricter: a cache entry becomes readable only once the
    response of the request that wrote it has been sent, so requests sent at the same time
    all miss. ``cache_rule="after_response"`` simulates that: an entry is readable only by a
    request that arrived after the writing request's response was sent (see
    :attr:`timeline`).

    Args:
        conversations: The scripts to start with; :meth:`add` adds more.
        delay: Seconds every reply waits before answering, unless the reply sets its own.
        api_key: If given, a request must carry it (as ``x-api-key`` or as
            ``Authorization: Bearer``) or it gets a 401 ``authentication_error``.
        model: The model name echoed in replies to a request that names none.
        retry_after: Seconds put in a ``retry-after-ms`` header on error responses, so the
            SDK retries at once instead of backing off for half a second or more. ``None``
            leaves the header out and lets the SDK use its own backoff.
        cache_rule: When a cached prefix becomes readable: ``"instant"`` (as soon as it is
            written) or ``"after_response"`` (the real API's rule: only by requests that
            arrive after the writing request's response was sent).
    """

    def __init__(
        self,
        conversations: Iterable[Conversation] = (),
        *,
        delay: float = 0.0,
        api_key: str | None = None,
        model: str = "scripted",
        retry_after: float | None = 0.001,
        cache_rule: CacheRule = "instant",
    ) -> None:
        if delay < 0:
            raise ValueError(f"The default delay cannot be negative (got {delay}).")
        self.conversations: list[Conversation] = list(conversations)
        self.delay = delay
        self.api_key = api_key
        self.model = model
        self.retry_after = retry_after
        self.cache_rule: CacheRule = cache_rule
        self._handlers: list[RequestHandler] = []
        # One condition guards all mutable state below; handler threads also wait on it
        # for a delay, for release() and for stop(), so all three wake them promptly.
        self._cond = threading.Condition()
        self._requests: list[dict[str, Any]] = []
        self._request_headers: list[dict[str, str]] = []
        self._failures: list[str] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._held = False
        self._stopping = False
        self._cache: dict[bytes, int] = {}
        """Cached prefixes, each with the step of the timeline since which it is readable."""
        self._timeline: list[tuple[Literal["request", "response"], int]] = []
        self._faults_served: dict[int, int] = {}
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # Scripting.

    def add(self, match: str, *replies: Reply | ReplyFn) -> Conversation:
        """Adds a conversation; the first added that matches a request answers it.

        Args:
            match: A string looked for in the system prompt and first user message.
            *replies: The replies, turn by turn.

        Returns:
            The conversation, whose ``replies`` list a test may extend later.
        """
        conversation = Conversation(match, list(replies))
        with self._cond:
            self.conversations.append(conversation)
        return conversation

    def add_check(self, match: str, *replies: Reply | ReplyFn) -> Conversation:
        """Adds a script for the lead's checking turns of the tasks it matches.

        A checking turn is a request that declares the :data:`CHECK_TOOL` tool (see
        :mod:`app.orchestrator._check`); its first user message holds the task's instructions.
        Only checking scripts answer checking turns, and a checking turn that none matches
        gets :func:`passing_check`, so that scripts written before checks existed run as
        they did.

        Args:
            match: A string looked for in the system prompt and first user message (the
                task's instructions, say).
            *replies: The replies, turn by turn (reads, then a :data:`CHECK_TOOL` call).

        Returns:
            The conversation.
        """
        conversation = Conversation(match, list(replies), checking=True)
        with self._cond:
            self.conversations.append(conversation)
        return conversation

    def on_request(self, fn: RequestHandler) -> None:
        """Adds a handler consulted, before the conversations, for every request.

        Handlers are consulted in the order they were added; the first to return a
        :class:`Reply` answers. A handler that raises makes the request fail with 500.

        Args:
            fn: Gets the parsed request body; returns a reply, or ``None`` to pass.
        """
        with self._cond:
            self._handlers.append(fn)

    # What the server saw.

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every parsed ``/v1/messages`` request body received, in order (a copy)."""
        with self._cond:
            return list(self._requests)

    @property
    def request_headers(self) -> list[dict[str, str]]:
        """The headers of each request in :attr:`requests`, lower-cased names (a copy)."""
        with self._cond:
            return list(self._request_headers)

    @property
    def timeline(self) -> list[tuple[Literal["request", "response"], int]]:
        """What happened, in order (a copy): ``("request", i)`` when request ``i`` of
        :attr:`requests` arrived, ``("response", i)`` once its whole answer had been sent
        (an error answer too; a dropped one never)."""
        with self._cond:
            return list(self._timeline)

    @property
    def failures(self) -> list[str]:
        """Why each request the script could not answer failed, in order (a copy).

        A test can ``assert not model.failures`` to surface a script error that the code
        under test swallowed.
        """
        with self._cond:
            return list(self._failures)

    @property
    def in_flight(self) -> int:
        """How many requests are being answered right now.

        A request counts from when its body has been read until its answer has been
        written, which can be a moment after the client has read that answer.
        """
        with self._cond:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The most requests that were ever being answered at the same time."""
        with self._cond:
            return self._max_in_flight

    # Timing.

    def hold(self) -> None:
        """Keeps every answer back, after its delay, until :meth:`release`."""
        with self._cond:
            self._held = True

    def release(self) -> None:
        """Lets held answers, and all later ones, go out."""
        with self._cond:
            self._held = False
            self._cond.notify_all()

    def wait_for_in_flight(self, count: int, timeout: float = 10.0) -> None:
        """Blocks until at least ``count`` requests are in flight.

        This blocks the calling thread: from async code, run it with
        ``await asyncio.to_thread(model.wait_for_in_flight, n)``.

        Args:
            count: How many requests to wait for.
            timeout: Seconds to wait at most.

        Raises:
            TimeoutError: If fewer than ``count`` requests were in flight after ``timeout``.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._in_flight >= count, timeout):
                raise TimeoutError(
                    f"Only {self._in_flight} of {count} requests were in flight after {timeout} s."
                )

    # Lifecycle.

    @property
    def base_url(self) -> str:
        """The URL to give the SDK as ``base_url``, such as ``http://127.0.0.1:41234``.

        Raises:
            RuntimeError: If the server is not running.
        """
        if self._server is None:
            raise RuntimeError("The scripted model is not running; call start() first.")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        """Starts serving on a free port of 127.0.0.1, in a daemon thread.

        Returns:
            The base URL.

        Raises:
            RuntimeError: If the server is already running.
        """
        if self._server is not None:
            raise RuntimeError("The scripted model is already running.")
        with self._cond:
            self._stopping = False
        server = _Server(("127.0.0.1", 0), _Handler)
        server.model = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"scripted-model:{server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stops serving, drops open connections and joins every thread; safe to repeat.

        A request still waiting (delayed or held) is dropped without an answer, which the
        SDK reports as a connection error.
        """
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            connections = list(self._connections)
        # A keep-alive connection's thread sits waiting for the next request; shutting the
        # socket down wakes it, so server_close() below can join it.
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # It closed by itself meanwhile.
        server.server_close()
        thread.join()
        self._server = None
        self._thread = None

    def __enter__(self) -> ScriptedModel:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # Answering (called on the server's threads).

    def _record(self, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, int]:
        """Keeps a request; returns its index in :attr:`requests` and its timeline step."""
        with self._cond:
            self._requests.append(body)
            self._request_headers.append(headers)
            self._timeline.append(("request", len(self._requests) - 1))
            return len(self._requests) - 1, len(self._timeline) - 1

    def _sent(self, index: int, written: list[bytes]) -> None:
        """Notes that request ``index``'s answer was sent: what it cached becomes readable."""
        with self._cond:
            self._timeline.append(("response", index))
            step = len(self._timeline) - 1
            for digest in written:
                self._cache.setdefault(digest, step)

    def _take_fault(self, reply: Reply) -> bool:
        """Whether this request gets the reply broken (counts the broken ones served)."""
        with self._cond:
            served = self._faults_served.get(id(reply), 0)
            if reply.fault_times is not None and served >= reply.fault_times:
                return False
            self._faults_served[id(reply)] = served + 1
            return True

    def _fail(self, message: str) -> None:
        log.warning("Scripted model: %s", message)
        with self._cond:
            self._failures.append(message)

    def _authorised(self, headers: dict[str, str]) -> bool:
        if self.api_key is None:
            return True
        bearer = headers.get("authorization", "")
        return headers.get("x-api-key") == self.api_key or bearer == f"Bearer {self.api_key}"

    def _choose(self, body: dict[str, Any]) -> Reply:
        """Finds the reply for a request.

        Raises:
            _ScriptFailure: If the script has no reply for it.
        """
        with self._cond:
            handlers = list(self._handlers)
            conversations = list(self.conversations)
        for handler in handlers:
            reply = _call(handler, body, "on_request handler")
            if reply is not None:
                return _expect_reply(reply, handler)
        system, first_user = _system_text(body), _first_user_text(body)
        haystack = f"{system}\n{first_user}"
        turn = sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")
        checking = any(isinstance(t, dict) and t.get("name") == CHECK_TOOL for t in body.get("tools") or [])
        for conversation in conversations:
            if conversation.checking != checking or conversation.match not in haystack:
                continue
            if turn >= len(conversation.replies):
                raise _ScriptFailure(
                    f"The script for {conversation.match!r} is exhausted: it has "
                    f"{len(conversation.replies)} replies, but this request is turn {turn} "
                    f"(it carries {turn} assistant messages). First user message: "
                    f"{first_user[:200]!r}"
                )
            item = conversation.replies[turn]
            if isinstance(item, Reply):
                return item
            return _expect_reply(_call(item, body, "reply function"), item)
        if checking:
            return passing_check()
        scripts = [c.match for c in conversations]
        raise _ScriptFailure(
            f"No scripted conversation matches this request (scripts match on {scripts!r}). "
            f"System prompt: {system[:200]!r}. First user message: {first_user[:200]!r}"
        )

    def _wait(self, delay: float) -> bool:
        """Waits ``delay`` seconds, then while held; returns False if the server stopped."""
        with self._cond:
            if delay > 0:
                self._cond.wait_for(lambda: self._stopping, delay)
            self._cond.wait_for(lambda: self._stopping or not self._held)
            return not self._stopping

    def _enter(self) -> None:
        with self._cond:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            self._cond.notify_all()

    def _leave(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def clear_cache(self) -> None:
        """Forgets every cached prompt prefix, so the next requests start cold."""
        with self._cond:
            self._cache.clear()

    def _usage(
        self, body: dict[str, Any], content: list[dict[str, Any]], arrived: int
    ) -> tuple[dict[str, int], list[bytes]]:
        """Simulates one request's usage, reading and writing the prompt cache.

        See the class docstring for the rules.

        Args:
            body: The request.
            content: The reply's content blocks.
            arrived: The request's step in the timeline.

        Returns:
            The usage, and the prefixes written that become readable once the answer has
            been sent (under the ``"after_response"`` rule; none under ``"instant"``).
        """
        hashes, totals, breakpoints = _prefixes(body)
        cached = breakpoints[-1] if breakpoints else 0
        read = 0
        after_response = self.cache_rule == "after_response"
        with self._cond:
            for end in breakpoints:
                for length in range(end, max(end - _LOOKBACK_BLOCKS, 0), -1):
                    since = self._cache.get(hashes[length])
                    if since is not None and (not after_response or since < arrived):
                        read = max(read, length)
                        break
            written = [hashes[end] for end in breakpoints]
            if not after_response:
                for digest in written:
                    self._cache.setdefault(digest, -1)
                written = []
        usage = {
            "input_tokens": totals[-1] - totals[cached],
            "cache_creation_input_tokens": totals[cached] - totals[read],
            "cache_read_input_tokens": totals[read],
            "output_tokens": max(_tokens(json.dumps(content)), 1),
        }
        return usage, written


def _call(fn: Callable[[dict[str, Any]], object], body: dict[str, Any], what: str) -> Any:
    """Calls a test's function; what it raises becomes a script failure."""
    try:
        return fn(body)
    except Exception as exc:  # A boundary: whatever a test's function raises is reported.
        log.exception("A scripted %s raised", what)
        raise _ScriptFailure(f"The {what} {_name(fn)} raised {type(exc).__name__}: {exc}") from exc


def _expect_reply(value: object, fn: object) -> Reply:
    if not isinstance(value, Reply):
        raise _ScriptFailure(f"{_name(fn)} returned {value!r}, not a Reply.")
    return value


def _name(fn: object) -> str:
    return str(getattr(fn, "__qualname__", None) or repr(fn))


def _tokens(json_text: str) -> int:
    return -(-len(json_text) // 4)


def _blocks(content: object) -> list[dict[str, Any]]:
    """A message's or system prompt's content as a list of blocks."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [b for b in content if isinstance(b, dict)]
    return []


def _texts(content: object) -> str:
    return "\n".join(b["text"] for b in _blocks(content) if b.get("type") == "text" and "text" in b)


def _system_text(body: dict[str, Any]) -> str:
    return _texts(body.get("system", ""))


def _first_user_text(body: dict[str, Any]) -> str:
    for message in body.get("messages", []):
        if message.get("role") == "user":
            return _texts(message.get("content"))
    return ""


def _prompt_parts(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The parts of a prompt in cache order: tools, then system, then message blocks."""
    for tool in body.get("tools") or []:
        if isinstance(tool, dict):
            # The breakpoint moves to the new last tool when tools are added, and a marker
            # is not part of the cached text, so it is lifted out of the definition.
            definition = {k: v for k, v in tool.items() if k != "cache_control"}
            marker = {"cache_control": tool["cache_control"]} if "cache_control" in tool else {}
            yield {"tool": definition, **marker}
    yield from _blocks(body.get("system", ""))
    for message in body.get("messages", []):
        for block in _blocks(message.get("content")):
            yield {"role": message.get("role"), **block}


def _prefixes(body: dict[str, Any]) -> tuple[list[bytes], list[int], list[int]]:
    """Identifies every prefix of a prompt, for the cache simulation.

    Returns:
        ``(hashes, totals, breakpoints)``: ``hashes[i]`` identifies the prefix made of the
        first ``i`` parts (and the model), ``totals[i]`` is its token count, and
        ``breakpoints`` lists the prefix lengths that end on a part with ``cache_control``.
    """
    digest = hashlib.sha256(str(body.get("model", "")).encode())
    hashes, totals, breakpoints = [digest.digest()], [0], []
    for part in _prompt_parts(body):
        canonical = json.dumps(
            {k: v for k, v in part.items() if k != "cache_control"},
            sort_keys=True,
            separators=(",", ":"),
        )
        digest.update(canonical.encode())
        hashes.append(digest.copy().digest())
        totals.append(totals[-1] + _tokens(canonical))
        if "cache_control" in part:
            breakpoints.append(len(hashes) - 1)
    return hashes, totals, breakpoints


def _validate(body: object) -> dict[str, Any]:
    """Checks a request as the real API would, for the mistakes an agent loop makes.

    Raises:
        _ScriptFailure: A 400 ``invalid_request_error`` saying what is wrong.
    """

    def invalid(message: str) -> _ScriptFailure:
        return _ScriptFailure(message, status=400, error_type="invalid_request_error")

    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    request = cast("dict[str, Any]", body)
    if not isinstance(request.get("model"), str):
        raise invalid("model: Field required")
    if not isinstance(request.get("max_tokens"), int):
        raise invalid("max_tokens: Field required")
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages: at least one message is required")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise invalid(f"messages.{index}: a message needs role 'user' or 'assistant'")
    # The API insists that each tool_use is answered by a tool_result in the very next
    # message, and that no tool_result answers a call that was not made.
    for index, message in enumerate(messages):
        previous = messages[index - 1] if index else {}
        asked = {
            b.get("id")
            for b in _blocks(previous.get("content"))
            if previous.get("role") == "assistant" and b.get("type") == "tool_use"
        }
        answered = {
            b.get("tool_use_id") for b in _blocks(message.get("content")) if b.get("type") == "tool_result"
        }
        if answered - asked:
            raise invalid(
                f"messages.{index}.content: unexpected `tool_use_id` found in `tool_result` "
                f"blocks: {sorted(map(str, answered - asked))}. Each `tool_result` block must "
                "have a corresponding `tool_use` block in the previous message."
            )
        if asked - answered:
            raise invalid(
                f"messages.{index}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {sorted(map(str, asked - answered))}. Each `tool_use` "
                "block must have a corresponding `tool_result` block in the next message."
            )
    return request


class _Server(ThreadingHTTPServer):
    """The HTTP server; each connection gets its own daemon thread."""

    # A burst of parallel agents must not overflow the listen queue (the default is 5), which
    # would cost a connection retry of a second and distort what the benchmarks measure.
    request_queue_size = 128

    model: ScriptedModel

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Logs a handler's error instead of printing it; a dropped client is no failure."""
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            # A client that goes away (a cancelled agent, a stopped server) is normal.
            log.debug("Scripted model: connection from %s dropped", client_address, exc_info=True)
            return
        log.error("Scripted model: error serving %s", client_address, exc_info=True)
        self.model._fail(f"The scripted model itself failed: {exc!r}")


class _Handler(BaseHTTPRequestHandler):
    """Serves one connection: ``POST /v1/messages``, and 404 for anything else."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        model = self.server.model
        with model._cond:
            model._connections.add(self.connection)
            if model._stopping:
                # stop() has already shut down the connections it knew of; this one came
                # in just before, and would otherwise keep its thread waiting.
                self.connection.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        with self.server.model._cond:
            self.server.model._connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("Scripted model: " + format, *args)

    def do_GET(self) -> None:
        self._read_body()
        self._send_error(404, "not_found_error", f"Not found: GET {self.path}")

    do_PUT = do_DELETE = do_PATCH = do_GET

    def do_POST(self) -> None:
        raw = self._read_body()
        path = self.path.split("?", 1)[0].rstrip("/")
        if path != "/v1/messages":
            self._send_error(404, "not_found_error", f"Not found: POST {self.path}")
            return
        model = self.server.model
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        index, arrived = model._record(body, headers) if isinstance(body, dict) else (-1, -1)
        if not model._authorised(headers):
            self._send_error(401, "authentication_error", "invalid x-api-key")
            if index >= 0:
                model._sent(index, [])
            return
        model._enter()
        try:
            written = self._answer(model, body, arrived)
        finally:
            model._leave()
        if written is not None and index >= 0:
            model._sent(index, written)

    def _answer(self, model: ScriptedModel, body: object, arrived: int) -> list[bytes] | None:
        """Answers a request; returns the prefixes it cached, or None if it was dropped."""
        try:
            request = _validate(body)
            reply = model._choose(request)
        except _ScriptFailure as failure:
            model._fail(str(failure))
            if not model._wait(model.delay):
                return None
            # Retrying cannot mend a script, so the SDK is told not to.
            self._send_error(failure.status, failure.error_type, str(failure), retry=False)
            return []
        if not model._wait(model.delay if reply.delay is None else reply.delay):
            return None
        if reply.is_error:
            error_type = reply.error_type or "api_error"  # Reply always sets it on an error.
            self._send_error(reply.status, error_type, reply.error_message)
            return []
        usage, written = model._usage(request, reply.content, arrived)
        message = {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": request.get("model") or model.model,
            "content": reply.content,
            "stop_reason": reply.stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }
        if reply.fault is not None and model._take_fault(reply):
            self._send_fault(reply, message, stream=bool(request.get("stream")))
            # A broken answer is not one the API finished: nothing it wrote becomes readable.
            return []
        if request.get("stream"):
            self._send_stream(message)
        else:
            self._send_json(200, message)
        return written

    def _read_body(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _start(self, status: int, content_type: str, extra: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("request-id", f"req_{uuid.uuid4().hex[:24]}")
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()

    def _send_json(self, status: int, payload: object, extra: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self._start(status, "application/json", {"content-length": str(len(data)), **(extra or {})})
        self.wfile.write(data)

    def _send_error(self, status: int, error_type: str, message: str, *, retry: bool | None = None) -> None:
        extra: dict[str, str] = {}
        retry_after = self.server.model.retry_after
        if retry_after is not None:
            extra["retry-after-ms"] = f"{retry_after * 1000:g}"
        if retry is not None:
            extra["x-should-retry"] = "true" if retry else "false"
        payload = {"type": "error", "error": {"type": error_type, "message": message}}
        self._send_json(status, payload, extra)

    def _send_fault(self, reply: Reply, message: dict[str, Any], *, stream: bool) -> None:
        if reply.fault == "html":
            page = b"<html><head><title>502</title></head><body>Bad gateway</body></html>"
            self._start(200, "text/html", {"content-length": str(len(page))})
            self.wfile.write(page)
            return
        if reply.fault == "garbage":
            data = b"\x00\x17{not json at all"
            kind = "text/event-stream" if stream else "application/json"
            self._start(200, kind, {"content-length": str(len(data))})
            self.wfile.write(data)
            return
        if not stream:
            self._send_json(200, message)
            return
        events = list(_stream_events(message, broken_json=reply.fault == "invalid_json"))
        if reply.fault == "no_stop":
            events = [e for e in events if e[0] not in ("message_delta", "message_stop")]
        if reply.fault == "cut":
            events = events[: reply.fault_after]
        self._start(
            200,
            "text/event-stream; charset=utf-8",
            {"cache-control": "no-cache", "transfer-encoding": "chunked"},
        )
        for event, fields in events:
            payload = f"event: {event}\ndata: {json.dumps(fields)}\n\n".encode()
            self.wfile.write(b"%X\r\n%s\r\n" % (len(payload), payload))
            self.wfile.flush()
        if reply.fault == "cut":
            # No last chunk: the connection just drops, as when a network goes away.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _send_stream(self, message: dict[str, Any]) -> None:
        self._start(
            200,
            "text/event-stream; charset=utf-8",
            {"cache-control": "no-cache", "transfer-encoding": "chunked"},
        )
        for event, data in _stream_events(message):
            # One chunk per event, written at once: the SDK sees each event as it "arrives".
            payload = f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
            self.wfile.write(b"%X\r\n%s\r\n" % (len(payload), payload))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _chunks(s: str) -> list[str]:
    """Splits ``s`` into a few pieces (at least one, possibly empty)."""
    size = max(-(-len(s) // _STREAM_CHUNKS), 1)
    return [s[i : i + size] for i in range(0, len(s), size)] or [s]


def _stream_events(
    message: dict[str, Any], *, broken_json: bool = False
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The server-sent events that stream ``message``, as the Messages API sends them.

    Every event has an ``event:`` line: the SDK skips events without one.
    """
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    yield "message_start", {"type": "message_start", "message": start}
    yield "ping", {"type": "ping"}
    for index, block in enumerate(message["content"]):
        kind = block["type"]
        if kind == "text":
            yield _block_start(index, {**block, "text": ""})
            for piece in _chunks(block["text"]):
                yield _block_delta(index, {"type": "text_delta", "text": piece})
        elif kind == "tool_use":
            yield _block_start(index, {**block, "input": {}})
            encoded = json.dumps(block["input"])
            if broken_json:
                encoded = encoded[: max(len(encoded) // 2, 1)] + ","  # cut short: not JSON
            for piece in _chunks(encoded):
                yield _block_delta(index, {"type": "input_json_delta", "partial_json": piece})
        elif kind == "thinking":
            yield _block_start(index, {**block, "thinking": "", "signature": ""})
            for piece in _chunks(block.get("thinking", "")):
                yield _block_delta(index, {"type": "thinking_delta", "thinking": piece})
            yield _block_delta(index, {"type": "signature_delta", "signature": block.get("signature", "")})
        else:
            # Other kinds (redacted thinking, server tool results) arrive whole.
            yield _block_start(index, block)
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": usage,
        },
    )
    yield "message_stop", {"type": "message_stop"}


def _block_start(index: int, block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "content_block_start", {
        "type": "content_block_start",
        "index": index,
        "content_block": block,
    }


def _block_delta(index: int, delta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
