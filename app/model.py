"""The model client: the ``anthropic`` SDK's ``AsyncAnthropic``, streaming, with prompt caching.

The API key comes from ``ANTHROPIC_API_KEY`` or the OS keyring (see :mod:`app.secrets`); the
endpoint from the SDK's own ``ANTHROPIC_BASE_URL``. Every call streams, marks the system
prompt, the tools and the growing conversation for prompt caching, and reports its usage.
Every failure the person can do something about becomes a :class:`ModelError` with a plain
message; no SDK exception leaves this module.

A reply is used only if it arrived whole: a stream that was cut off, that ends without
``message_stop`` or a stop reason, whose tool input is not valid JSON, or a 200 answer that
is not the API's (an HTML page, garbage) is a broken reply. It is asked for again (with a
short backoff), and if it stays broken the model counts as unavailable, so the mission
pauses (``interrupted``) and nothing of the broken reply runs.

The SDK (and its HTTP client) takes seconds to import on a slow machine, and nothing needs it
before a mission's first request: it is imported when the first :class:`ModelClient` is made
(or by :func:`load_sdk`, which the window calls in a worker thread once the engine is up), so
importing the engine and starting it never wait for it.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import copy
import json
import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app import secrets
from app.errors import EnsembleError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import anthropic
    import httpx2

log = logging.getLogger(__name__)

CACHE = {"type": "ephemeral"}


def load_sdk() -> None:
    """Imports the ``anthropic`` SDK now, if it is not yet (it takes a while: call it in a worker
    thread, so that the first mission's first request does not wait for it)."""
    import anthropic  # noqa: F401  (imported for its side effect: it is in sys.modules from now on)


class _BrokenReply(Exception):
    """A reply that did not arrive whole or is not the API's; asked for again."""


class ModelError(EnsembleError):
    """The model could not be used; the message says why and what to do.

    Attributes:
        kind: ``"no_key"``, ``"auth"``, ``"unreachable"``, ``"overloaded"``, ``"rate_limited"``,
            ``"rejected"`` (the API refused the request) or ``"api"``.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Usage:
    """Tokens of one model call.

    Attributes:
        input_tokens: Input tokens not read from or written to the cache.
        output_tokens: Tokens the model wrote.
        cache_read_tokens: Input tokens read from the prompt cache.
        cache_write_tokens: Input tokens written to the prompt cache.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def total(self) -> int:
        """Every token the call processed; this is what the mission's budget counts."""
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens


@dataclass(frozen=True)
class Reply:
    """One assistant turn.

    Attributes:
        content: The content blocks as Messages API dicts (``text`` and ``tool_use``).
        stop_reason: Why the model stopped (``"end_turn"``, ``"tool_use"``, ``"max_tokens"``…).
        usage: Its tokens.
    """

    content: list[dict[str, Any]]
    stop_reason: str | None
    usage: Usage

    @property
    def text(self) -> str:
        """The reply's text blocks joined."""
        return "\n".join(b["text"] for b in self.content if b.get("type") == "text").strip()

    @property
    def tool_uses(self) -> list[dict[str, Any]]:
        """The reply's ``tool_use`` blocks, in order."""
        return [b for b in self.content if b.get("type") == "tool_use"]


BACKOFF_STATUSES = frozenset({429, 529})
"""HTTP statuses that say the API wants fewer requests at once: rate-limited, overloaded."""

BACKOFF_ERRORS = frozenset({"rate_limit_error", "overloaded_error"})
"""Error types that say the same inside a response (an ``error`` event in a stream)."""


@dataclass
class AdaptiveLimit:
    """How many requests to one model may be in flight at once, following the API's limits.

    It starts at its ceiling. When the API answers 429 (rate-limited) or 529 or an
    ``overloaded_error``, the limit halves, at most once per round of requests: a signal
    from a request that started before the last halving is the same congestion, already
    answered. Each whole reply then adds ``1 / limit``, so the limit grows back by one
    per round of successful requests, up to the ceiling (additive increase, multiplicative
    decrease, as TCP does). Requests beyond the limit wait their turn, first come first served.

    Attributes:
        ceiling: The most requests at once (the settings' ``max_concurrency``).
        limit: The current limit (fractional while it grows back); at least 1.
        active: Requests in flight.
        epoch: How many times the limit has halved.
    """

    ceiling: int
    limit: float = 0.0
    active: int = 0
    epoch: int = 0
    _waiters: collections.deque[asyncio.Future[None]] = field(default_factory=collections.deque)

    def __post_init__(self) -> None:
        self.limit = float(self.ceiling)

    @property
    def current(self) -> int:
        """The number of requests that may be in flight now."""
        return max(1, int(self.limit))

    def set_ceiling(self, ceiling: int) -> None:
        """Changes the ceiling (the settings changed); an untouched limit follows it."""
        if self.limit >= self.ceiling or self.limit > ceiling:
            self.limit = float(ceiling)
        self.ceiling = ceiling
        self._wake()

    async def acquire(self) -> int:
        """Waits for a free slot and takes it; returns the epoch the request starts in."""
        if self.active < self.current and not self._waiters:
            self.active += 1
            return self.epoch
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif waiter.done() and not waiter.cancelled():
                self.release()  # it was granted just as it was cancelled: pass the slot on
            raise
        return self.epoch

    def release(self) -> None:
        """Frees a slot taken by :meth:`acquire`."""
        self.active -= 1
        self._wake()

    def backoff(self, epoch: int) -> int:
        """The API asked for fewer requests; halves the limit unless that was already done
        since ``epoch``. Returns the epoch now."""
        if epoch == self.epoch:
            self.epoch += 1
            self.limit = max(1.0, self.limit / 2)
            log.info("The model API is busy: at most %d requests at once now", self.current)
        return self.epoch

    def success(self) -> None:
        """A whole reply arrived: the limit grows back towards the ceiling."""
        if self.limit < self.ceiling:
            self.limit = min(float(self.ceiling), self.limit + 1 / self.current)
            self._wake()

    def _wake(self) -> None:
        while self._waiters and self.active < self.current:
            waiter = self._waiters.popleft()
            if waiter.done() or waiter.get_loop().is_closed():
                continue
            self.active += 1
            waiter.set_result(None)


_LIMITS: dict[tuple[str, str], AdaptiveLimit] = {}
_REQUEST: contextvars.ContextVar[tuple[AdaptiveLimit, int] | None] = contextvars.ContextVar(
    "ensemble_model_request", default=None
)


def adaptive_limit(base_url: str, model: str, ceiling: int) -> AdaptiveLimit:
    """The limit shared by every mission of this process that uses one model at one endpoint."""
    limit = _LIMITS.get((base_url, model))
    if limit is None:
        limit = _LIMITS[(base_url, model)] = AdaptiveLimit(ceiling)
    elif limit.ceiling != ceiling:
        limit.set_ceiling(ceiling)
    return limit


async def _on_response(response: httpx2.Response) -> None:
    """Sees every HTTP answer, the SDK's retried ones too, and backs off on 429 and 529."""
    request = _REQUEST.get()
    if request is not None and response.status_code in BACKOFF_STATUSES:
        limit, epoch = request
        _REQUEST.set((limit, limit.backoff(epoch)))


def _note_busy(exc: anthropic.APIError) -> None:
    """Backs off when a failed request says the API is busy (an ``overloaded_error`` may come
    inside a stream that began with status 200, which the response hook cannot see)."""
    import anthropic

    request = _REQUEST.get()
    if request is None:
        return
    status = exc.status_code if isinstance(exc, anthropic.APIStatusError) else None
    body = exc.body
    error = body.get("error") if isinstance(body, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    if status in BACKOFF_STATUSES or kind in BACKOFF_ERRORS:
        limit, epoch = request
        _REQUEST.set((limit, limit.backoff(epoch)))


def with_cache_breakpoints(
    system: str, tools: Sequence[dict[str, Any]], messages: Sequence[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Marks the system prompt, the last tool and the last message block for caching.

    The cache prefix runs tools → system → messages, so three breakpoints cache the fixed
    part of every agent and the conversation up to the newest turn, which the next call
    reads back. The inputs are not changed.

    Returns:
        ``(system_blocks, tools, messages)`` ready for ``messages.create``.
    """
    system_blocks = [{"type": "text", "text": system, "cache_control": CACHE}]
    cached_tools = [dict(t) for t in tools]
    if cached_tools:
        cached_tools[-1]["cache_control"] = CACHE
    cached_messages = list(messages)
    if cached_messages:
        last = copy.deepcopy(cached_messages[-1])
        content = last["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if content:
            content[-1] = {**content[-1], "cache_control": CACHE}
        last["content"] = content
        cached_messages[-1] = last
    return system_blocks, cached_tools, cached_messages


class ModelClient:
    """Talks to the Anthropic Messages API for every agent of the engine.

    Args:
        model: The model name (a setting).
        max_tokens: The most tokens one reply may have.
        max_retries: How often the SDK retries overloaded or unreachable API calls.
        timeout: Seconds before one call is given up.
        api_key: The key; by default from ``ANTHROPIC_API_KEY`` or the keyring.
        base_url: The API's address; by default ``ANTHROPIC_BASE_URL`` or Anthropic's. The
            demo points it at its scripted model on 127.0.0.1.
        max_concurrency: The most requests in flight at once to this model (from every
            mission of the process); fewer while the API says it is busy (see
            :class:`AdaptiveLimit`).

    Raises:
        ModelError: No API key is set anywhere (kind ``no_key``).
    """

    def __init__(
        self,
        model: str,
        *,
        max_tokens: int = 8192,
        max_retries: int = 2,
        timeout: float = 600.0,
        api_key: str | None = None,
        base_url: str | None = None,
        max_concurrency: int = 8,
    ) -> None:
        key = api_key or secrets.api_key()
        if not key:
            raise ModelError(
                "no_key",
                "No Anthropic API key is set. Add one in Settings, or set ANTHROPIC_API_KEY, "
                "or store it with `ensemble key set`.",
            )
        import anthropic  # here, not at the top: see the module's docstring

        self.model = model
        self.max_tokens = max_tokens
        self.max_retries = max_retries
        self._client = anthropic.AsyncAnthropic(
            api_key=key,
            base_url=base_url,
            max_retries=max_retries,
            timeout=timeout,
            http_client=anthropic.DefaultAsyncHttpxClient(event_hooks={"response": [_on_response]}),
        )
        self.limit = adaptive_limit(str(self._client.base_url), model, max_concurrency)

    @property
    def base_url(self) -> str:
        """The API endpoint in use."""
        return str(self._client.base_url)

    async def close(self) -> None:
        """Closes the HTTP connections."""
        await self._client.close()

    async def reply(
        self,
        *,
        system: str,
        tools: Sequence[dict[str, Any]],
        messages: Sequence[dict[str, Any]],
        on_text: Callable[[str], None] | None = None,
        tool_choice: dict[str, Any] | None = None,
    ) -> Reply:
        """Asks the model for its next turn, streaming.

        Args:
            system: The agent's system prompt.
            tools: Tool declarations (``name``, ``description``, ``input_schema``).
            messages: The conversation so far, Messages API shape, ending with a user turn.
            on_text: Called with each piece of text as it streams in.
            tool_choice: The API's ``tool_choice`` (``{"type": "tool", "name": ...}`` forces
                that tool); None: the model chooses.

        Returns:
            The assistant's turn.

        Raises:
            ModelError: The key is wrong, the API is unreachable or still overloaded after
                the SDK's retries, or it refused the request.
        """
        system_blocks, cached_tools, cached_messages = with_cache_breakpoints(system, tools, messages)
        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": system_blocks,
            "messages": cached_messages,
        }
        if cached_tools:
            kwargs["tools"] = cached_tools
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        attempts = self.max_retries + 1
        problem = ""
        for attempt in range(attempts):
            try:
                return await self._reply_once(kwargs, on_text)
            except _BrokenReply as exc:
                problem = str(exc)
                log.warning("Broken model reply (try %d of %d): %s", attempt + 1, attempts, problem)
                if attempt + 1 < attempts:
                    await asyncio.sleep(min(0.5 * 2**attempt, 8.0))
        where = os.environ.get("ANTHROPIC_BASE_URL") or "The Anthropic API"
        raise ModelError(
            "unreachable",
            f"{where} sent an incomplete or broken reply, {attempts} times ({problem}); nothing of it "
            "was carried out. The connection may be unstable.",
        )

    async def _reply_once(self, kwargs: dict[str, Any], on_text: Callable[[str], None] | None) -> Reply:
        """One request, when the model's limit lets it go (see :class:`AdaptiveLimit`)."""
        epoch = await self.limit.acquire()
        token = _REQUEST.set((self.limit, epoch))
        try:
            reply = await self._request(kwargs, on_text)
        finally:
            _REQUEST.reset(token)
            self.limit.release()
        self.limit.success()
        return reply

    async def _request(self, kwargs: dict[str, Any], on_text: Callable[[str], None] | None) -> Reply:
        """One request; raises :class:`_BrokenReply` unless the reply arrived whole."""
        import anthropic
        import httpx2

        json_parts: dict[int, list[str]] = {}
        started = stopped = False
        try:
            async with self._client.messages.stream(**kwargs) as stream:
                async for event in stream:
                    started = True
                    if event.type == "text":
                        if on_text is not None:
                            on_text(event.text)
                    elif event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                        json_parts.setdefault(event.index, []).append(event.delta.partial_json)
                    elif event.type == "message_stop":
                        stopped = True
                message = await stream.get_final_message()
        except anthropic.APIResponseValidationError as exc:
            raise _BrokenReply(f"an answer that is not the API's: {exc}") from exc
        except anthropic.APIConnectionError as exc:
            if started:
                # The stream broke off after it began: the SDK does not retry that itself.
                raise _BrokenReply(f"the stream was cut off ({type(exc).__name__})") from exc
            raise self._explain(exc) from exc
        except anthropic.APIError as exc:
            _note_busy(exc)
            raise self._explain(exc) from exc
        except (
            httpx2.HTTPError,
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            IndexError,
            AssertionError,
        ) as exc:
            # The SDK's parsing of what came back failed: whatever it was, it is no reply.
            raise _BrokenReply(f"{type(exc).__name__}: {_clip(str(exc))}") from exc
        if not started or not stopped or message.stop_reason is None:
            raise _BrokenReply("the reply ended without a stop reason (message_stop)")
        for index, parts in json_parts.items():
            try:
                json.loads("".join(parts) or "{}")
            except ValueError as exc:
                raise _BrokenReply(f"the input of tool call {index} is not valid JSON ({exc})") from exc
        usage = message.usage
        return Reply(
            content=[block.model_dump(mode="json", exclude_none=True) for block in message.content],
            stop_reason=message.stop_reason,
            usage=Usage(
                input_tokens=usage.input_tokens or 0,
                output_tokens=usage.output_tokens or 0,
                cache_read_tokens=usage.cache_read_input_tokens or 0,
                cache_write_tokens=usage.cache_creation_input_tokens or 0,
            ),
        )

    def _explain(self, exc: anthropic.APIError) -> ModelError:
        import anthropic

        tries = self.max_retries + 1
        where = os.environ.get("ANTHROPIC_BASE_URL") or "the Anthropic API"
        if isinstance(exc, anthropic.AuthenticationError):
            return ModelError(
                "auth",
                "The Anthropic API did not accept the API key. Check the key in Settings "
                "(or ANTHROPIC_API_KEY).",
            )
        if isinstance(exc, anthropic.PermissionDeniedError):
            return ModelError("auth", f"The API key may not use this model or feature: {_message(exc)}")
        if isinstance(exc, anthropic.APITimeoutError):
            return ModelError("unreachable", f"{where} did not answer in time ({tries} tries).")
        if isinstance(exc, anthropic.APIConnectionError):
            return ModelError(
                "unreachable",
                f"Could not reach {where} ({tries} tries). Check the network connection.",
            )
        if isinstance(exc, anthropic.RateLimitError):
            return ModelError(
                "rate_limited",
                f"The Anthropic API is rate-limiting this key, still after {tries} tries. "
                "Wait a minute, or lower the number of agents running at once in Settings.",
            )
        if isinstance(exc, anthropic.APIStatusError):
            if exc.status_code == 529 or isinstance(exc, anthropic.InternalServerError):
                return ModelError(
                    "overloaded",
                    f"The Anthropic API is overloaded or failing (HTTP {exc.status_code}), "
                    f"still after {tries} tries. Try the mission again later.",
                )
            if exc.status_code in (400, 404, 413, 422):
                return ModelError("rejected", f"The Anthropic API refused the request: {_message(exc)}")
            return ModelError("api", f"The Anthropic API answered HTTP {exc.status_code}: {_message(exc)}")
        return ModelError("api", f"The Anthropic API failed: {exc}")


def _clip(text: str, size: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 1] + "…"


def _message(exc: anthropic.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return exc.message
