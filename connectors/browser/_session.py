"""The browser behind the tools: one Chromium per process, one context per mission.

Chromium is launched once per event loop (the engine has one loop for its lifetime) and
each mission gets its own isolated :class:`~playwright.async_api.BrowserContext`, created on
its first browser tool call and closed by :func:`close_mission`. With a persistent profile
(``profile_dir``, for sites the person is logged into) there is one persistent context per
profile folder, which one mission at a time may use.

A crashed browser is noticed through its ``disconnected`` event: the missions' contexts are
dropped, and the next tool call of each mission starts a new browser and tells the model
that the pages were lost. A crashed page is replaced the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from playwright.async_api import Browser, BrowserContext, Download, Page, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from connectors.base import ToolContext, ToolError, VouchHook
from connectors.browser._driver import ensure_node

if TYPE_CHECKING:
    from playwright.async_api import Dialog, Request, Route, WebSocketRoute

log = logging.getLogger(__name__)

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)
"""Flags for a quiet browser that talks to no Google service on its own."""

SYSTEM_CHROMIUMS = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
    "/snap/bin/chromium",
)
"""Where a system Chrome or Chromium is looked for, after the settings and Playwright's own."""

VIEWPORT = {"width": 1280, "height": 800}

MIN_TYPED_CHARS = 3
"""Shorter typed texts are not tracked: "ok" or "12" turn up in every other address."""


@dataclass(frozen=True)
class BrowserOptions:
    """The browser settings of one mission, from ``ToolContext.extra["browser"]``.

    Attributes:
        allowed_domains: Hosts the pages may navigate to (a domain also allows its
            subdomains; ``host:port`` pins a port). Empty: any host.
        headless: Whether to run without a window.
        executable_path: A Chrome or Chromium binary to use first.
        profile_dir: A persistent profile folder (cookies, logins) instead of an isolated
            context per mission.
        nav_timeout: Seconds a page may take to load before the call gives up.
        action_timeout: Seconds a click or a keystroke may wait for its element.
        settle_timeout: Seconds a call waits for the page to settle after acting (not
            counting the time a person takes to decide on a held request).
    """

    allowed_domains: tuple[str, ...] = ()
    headless: bool = True
    executable_path: str | None = None
    profile_dir: str | None = None
    nav_timeout: float = 20.0
    action_timeout: float = 5.0
    settle_timeout: float = 10.0

    @classmethod
    def from_context(cls, ctx: ToolContext) -> BrowserOptions:
        """Reads the options from ``ctx.extra["browser"]``; missing keys keep their defaults.

        Raises:
            ToolError: A value has the wrong type.
        """
        raw = ctx.extra.get("browser") or {}
        if not isinstance(raw, dict):
            raise ToolError("The browser options of this mission are not a JSON object.")
        domains = raw.get("allowed_domains") or []
        if not isinstance(domains, list | tuple) or not all(isinstance(d, str) for d in domains):
            raise ToolError("The browser's allowed sites must be a list of site names (such as example.com).")
        try:
            return cls(
                allowed_domains=tuple(d.strip().lower().rstrip(".") for d in domains if d.strip()),
                headless=bool(raw.get("headless", True)),
                executable_path=raw.get("executable_path") or None,
                profile_dir=raw.get("profile_dir") or None,
                nav_timeout=float(raw.get("nav_timeout", cls.nav_timeout)),
                action_timeout=float(raw.get("action_timeout", cls.action_timeout)),
                settle_timeout=float(raw.get("settle_timeout", cls.settle_timeout)),
            )
        except (TypeError, ValueError) as exc:
            raise ToolError(f"The browser options of this mission are not valid: {exc}") from exc

    def allows(self, url: str) -> bool:
        """Whether a URL's host is in the allowlist (always, when the list is empty)."""
        if not self.allowed_domains:
            return True
        parts = urlsplit(url)
        if parts.scheme in ("about", "data", "blob"):
            return True
        host = (parts.hostname or "").lower().rstrip(".")
        try:
            port = parts.port
        except ValueError:
            return False
        for entry in self.allowed_domains:
            name, _, pinned = entry.partition(":") if not entry.startswith("[") else (entry, "", "")
            if pinned and pinned.isdigit() and port is not None and int(pinned) != port:
                continue
            if host == name or host.endswith("." + name):
                return True
        return False


def find_chromium(options: BrowserOptions, playwright: Playwright) -> str | None:
    """Finds Chromium: the settings' path, then Playwright's own build, then the system's.

    Returns:
        The binary's path, or None to let Playwright use its own default.

    Raises:
        ToolError: The path in the settings does not exist, or no Chromium is installed.
    """
    if options.executable_path:
        if not Path(options.executable_path).is_file():
            raise ToolError(
                f"The browser program chosen in Settings ({options.executable_path}) does not exist. "
                "In Settings, Browser, press “Find it” or clear the browser program."
            )
        return options.executable_path
    with contextlib.suppress(PlaywrightError):
        own = playwright.chromium.executable_path
        if own and Path(own).is_file():
            return None
    for candidate in (*SYSTEM_CHROMIUMS, shutil.which("chromium"), shutil.which("google-chrome")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise ToolError(
        "No Chrome or Chromium was found. Install the 'chromium' package, or choose the browser "
        "program in Settings, Browser (“Browse…” or “Find it”)."
    )


@dataclass
class MissionBrowser:
    """One mission's browser state: its context, its tabs, and what happened between calls.

    Attributes:
        mission_id: The mission.
        options: Its browser options.
        context: Its browser context.
        pages: Its open tabs, oldest first; the last is the current one.
        active: The tool call now running for the mission, if any: held requests are asked
            about through its approval hook.
        vouches: The vouching hook of the mission's latest tool call, kept after the call
            ends so that a request a page sends between calls can still be told apart: one
            to a site the person vouched for passes, one to a new site is refused.
        element: What the running call acts on (``ref`` and a description), for previews.
        notes: Things the model should hear in the next tool result (a dialog accepted, a
            tab opened, a request blocked while no call was running).
        requests: What happened to state-changing requests during the running call.
        inflight: Requests sent and not yet finished, to tell when a page has settled.
        held: Requests held right now (their proposal being built, or waiting for a decision).
        asking: Held requests waiting for a person's decision right now (the person's
            time, which does not count against the settle timeout).
        lock: One tool call at a time per mission.
        noted: Set while there are notes.
        passwords: The page's password fields (name and value) read just before the
            running action, to mask them in proposals.
        before_shot: A screenshot taken just before the running action, for the proposal of
            a held form post (the page cannot be captured while its navigation is held).
        downloads: Downloads that browser_download is waiting for.
        expecting_download: Whether browser_download is running (else downloads are refused).
        closed: Whether the context is gone (closed, or its browser crashed).
        typed: What the agent typed into the mission's pages (texts of at least
            :data:`MIN_TYPED_CHARS` characters), to hold a request that carries one to a site
            nobody vouched for.
        approved_hosts: Hosts whose visit (or request) a person approved in this mission. The
            gate vouches for them too; keeping them here lets the approved navigation itself
            through at once, and serves contexts without a gate.
    """

    mission_id: str
    options: BrowserOptions
    context: BrowserContext
    pages: list[Page] = field(default_factory=list)
    active: ToolContext | None = None
    element: dict[str, str] | None = None
    notes: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    inflight: set[Request] = field(default_factory=set)
    held: int = 0
    asking: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    noted: asyncio.Event = field(default_factory=asyncio.Event)
    passwords: list[dict[str, str]] = field(default_factory=list)
    before_shot: bytes = b""
    downloads: list[Download] = field(default_factory=list)
    expecting_download: bool = False
    closed: bool = False
    vouches: VouchHook | None = None
    typed: list[str] = field(default_factory=list)
    approved_hosts: set[str] = field(default_factory=set)

    @property
    def page(self) -> Page:
        """The current tab.

        Raises:
            ToolError: Every tab is closed (only after a crash or the page closing itself).
        """
        while self.pages and self.pages[-1].is_closed():
            self.pages.pop()
        if not self.pages:
            raise ToolError("No page is open. Open one with browser_open.")
        return self.pages[-1]

    def note(self, text: str) -> None:
        """Keeps a sentence for the model's next tool result."""
        self.notes.append(text)
        self.noted.set()

    def remember_typed(self, text: str) -> None:
        """Keeps a text the agent is about to type, and each of its lines, to spot it in a request.

        A page may send one line of a longer text, so the lines count on their own.
        """
        for piece in (text, *text.splitlines()):
            piece = piece.strip()
            if len(piece) >= MIN_TYPED_CHARS and piece not in self.typed:
                self.typed.append(piece)

    def take_notes(self) -> list[str]:
        """Returns and clears the notes."""
        notes, self.notes = self.notes, []
        self.noted.clear()
        return notes


class Session:
    """The process's browser and the missions' contexts, on one event loop."""

    def __init__(self) -> None:
        self._playwright: Playwright | None = None
        self._browsers: dict[tuple[str | None, bool], Browser] = {}
        self._missions: dict[str, MissionBrowser] = {}
        self._lost: dict[str, str] = {}
        self._persistent_owner: dict[str, str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._start_lock: asyncio.Lock | None = None
        self.route_handler: Any = None
        """``async (state, route, request) -> None``, set by the network module."""
        self.websocket_handler: Any = None
        """``async (state, websocket_route) -> None``, set by the network module."""

    def _check_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Playwright's objects belong to the loop that made them: on a new loop (a new
            # engine, a new test) start afresh. The old loop's objects went with it.
            self._playwright = None
            self._browsers = {}
            self._missions = {}
            self._persistent_owner = {}
            self._loop = loop
            self._start_lock = asyncio.Lock()

    async def _ensure_playwright(self) -> Playwright:
        if self._playwright is None:
            try:
                await asyncio.to_thread(ensure_node)
                self._playwright = await async_playwright().start()
            except PlaywrightError as exc:
                raise ToolError(f"The browser driver could not start: {exc}") from exc
        return self._playwright

    async def _browser(self, options: BrowserOptions) -> Browser:
        key = (options.executable_path, options.headless)
        browser = self._browsers.get(key)
        if browser is not None and browser.is_connected():
            return browser
        playwright = await self._ensure_playwright()
        executable = find_chromium(options, playwright)
        try:
            browser = await playwright.chromium.launch(
                executable_path=executable,
                headless=options.headless,
                args=list(CHROMIUM_ARGS),
                timeout=30_000,
            )
        except PlaywrightError as exc:
            raise ToolError(f"Chromium ({executable or 'Playwright build'}) could not start: {exc}") from exc
        browser.on("disconnected", lambda b: self._on_disconnected(key, b))
        self._browsers[key] = browser
        return browser

    def _on_disconnected(self, key: tuple[str | None, bool], browser: Browser) -> None:
        if self._browsers.get(key) is browser:
            del self._browsers[key]
        for mission_id, state in list(self._missions.items()):
            if state.context.browser is browser:
                state.closed = True
                self._lost[mission_id] = "The browser stopped unexpectedly (it crashed or was closed)"
                del self._missions[mission_id]

    async def mission(self, ctx: ToolContext) -> MissionBrowser:
        """The mission's browser state, made on first use (or after a crash).

        Raises:
            ToolError: The browser cannot start, or the persistent profile is in use.
        """
        self._check_loop()
        assert self._start_lock is not None
        key = ctx.mission_id or "-"
        async with self._start_lock:
            state = self._missions.get(key)
            if state is not None and not state.closed:
                return state
            if state is not None:
                self._lost.setdefault(key, "The mission's browser window closed unexpectedly")
            options = BrowserOptions.from_context(ctx)
            context = await self._new_context(key, options)
            state = MissionBrowser(mission_id=key, options=options, context=context)
            await self._wire(state)
            for page in context.pages or [await context.new_page()]:
                self._wire_page(state, page)
            # Tabs opened from now on are the pages' doing: they are wired as they come.
            context.on("page", lambda page: self._on_new_page(state, page))
            lost = self._lost.pop(key, None)
            if lost:
                state.note(
                    f"{lost}; it was restarted and the pages that were open are gone. Open them again."
                )
            self._missions[key] = state
            return state

    async def _new_context(self, mission_id: str, options: BrowserOptions) -> BrowserContext:
        context_args: dict[str, Any] = {
            "viewport": VIEWPORT,
            "accept_downloads": True,
            "service_workers": "block",  # so that every request passes through our routing
        }
        if options.profile_dir:
            profile = _profile_path(options.profile_dir)
            owner = self._persistent_owner.get(profile)
            if owner is not None and owner != mission_id:
                raise ToolError(
                    "The browser profile is in use by another mission; wait until it ends, or "
                    "run this mission without the persistent profile."
                )
            playwright = await self._ensure_playwright()
            try:
                context = await playwright.chromium.launch_persistent_context(
                    profile,
                    executable_path=find_chromium(options, playwright),
                    headless=options.headless,
                    args=list(CHROMIUM_ARGS),
                    timeout=30_000,
                    **context_args,
                )
            except PlaywrightError as exc:
                raise ToolError(f"Chromium could not start with the profile {profile}: {exc}") from exc
            self._persistent_owner[profile] = mission_id

            def release(_context: BrowserContext) -> None:
                self._persistent_owner.pop(profile, None)

            context.on("close", release)
            return context
        browser = await self._browser(options)
        try:
            return await browser.new_context(**context_args)
        except PlaywrightError as exc:
            raise ToolError(f"The browser could not open a new window: {exc}") from exc

    async def _wire(self, state: MissionBrowser) -> None:
        context = state.context

        async def route(route: Route, request: Request) -> None:
            await self.route_handler(state, route, request)

        async def route_websocket(ws: WebSocketRoute) -> None:
            await self.websocket_handler(state, ws)

        # Routing is installed before the mission's first page opens, so no request escapes it.
        await context.route("**/*", route)
        if self.websocket_handler is not None:
            await context.route_web_socket(lambda _url: True, route_websocket)
        context.on("request", lambda r: state.inflight.add(r))
        context.on("requestfinished", lambda r: state.inflight.discard(r))
        context.on("requestfailed", lambda r: state.inflight.discard(r))

        def on_close(_c: BrowserContext) -> None:
            state.closed = True

        context.on("close", on_close)

    def _on_new_page(self, state: MissionBrowser, page: Page) -> None:
        if page in state.pages:
            return
        self._wire_page(state, page)
        opener = "the page" if state.active is not None else "a page script"
        state.note(
            f"{opener.capitalize()} opened a new tab; it is now the current tab "
            "(browser_back closes it and returns to the previous one)."
        )

    def _wire_page(self, state: MissionBrowser, page: Page) -> None:
        state.pages.append(page)
        page.set_default_timeout(state.options.action_timeout * 1000)
        page.set_default_navigation_timeout(state.options.nav_timeout * 1000)
        page.on("dialog", lambda dialog: _spawn(_on_dialog(state, dialog)))
        page.on("download", lambda download: _on_download(state, download))
        page.on("crash", lambda p: state.note(f"The page {p.url} crashed; open it again."))
        page.on("close", lambda p: state.pages.remove(p) if p in state.pages else None)

    async def close_mission(self, mission_id: str) -> None:
        """Closes a mission's context (its tabs, cookies and held requests) if it has one."""
        self._lost.pop(mission_id, None)
        if self._loop is not None and self._loop is not asyncio.get_running_loop():
            return
        state = self._missions.pop(mission_id, None)
        if state is None:
            return
        state.closed = True
        with contextlib.suppress(PlaywrightError):
            await state.context.close()

    async def shutdown(self) -> None:
        """Closes every context, the browsers and the driver (at the engine's or a test's end)."""
        if self._loop is not None and self._loop is not asyncio.get_running_loop():
            self._loop = None
            return
        for mission_id in list(self._missions):
            await self.close_mission(mission_id)
        for browser in list(self._browsers.values()):
            with contextlib.suppress(PlaywrightError):
                await browser.close()
        self._browsers = {}
        if self._playwright is not None:
            with contextlib.suppress(PlaywrightError):
                await self._playwright.stop()
            self._playwright = None
        self._loop = None

    def states(self) -> dict[str, MissionBrowser]:
        """The missions' states, for tests and the benchmark."""
        return dict(self._missions)


def _profile_path(folder: str) -> str:
    return str(Path(folder).expanduser().resolve())


_tasks: set[asyncio.Future[Any]] = set()


def _spawn(coro: Any) -> None:
    """Runs an event handler's coroutine, keeping a reference until it ends."""
    task = asyncio.ensure_future(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Future[Any]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None and not isinstance(error, PlaywrightError):
        log.error("A browser event handler failed", exc_info=error)


async def _on_dialog(state: MissionBrowser, dialog: Dialog) -> None:
    """Answers a JavaScript dialog at once, so that nothing waits on it, and tells the model.

    Alerts and confirms are accepted: whatever a confirmed action sends to a server is still
    held for approval at the network layer. Prompts are dismissed (there is no text to give).
    """
    kind, message = dialog.type, dialog.message
    with contextlib.suppress(PlaywrightError):
        if kind == "prompt":
            await dialog.dismiss()
        else:
            await dialog.accept()
    answer = "dismissed" if kind == "prompt" else "accepted"
    state.note(f"The page showed a {kind} dialog saying {message!r}; it was {answer}.")


def _on_download(state: MissionBrowser, download: Download) -> None:
    if state.expecting_download:
        state.downloads.append(download)
        return
    state.note(
        f"The page started a download of {download.suggested_filename!r}; it was not saved. "
        "Use browser_download on the link or button to save it into the workspace."
    )
    _spawn(download.cancel())


SESSION = Session()
"""The process's browser session."""
