"""Every request a mission's pages send passes through here; what could carry data somewhere new waits here.

Three kinds of request are held with Playwright's routing and proposed to the person through
the running tool call's approval hook (:attr:`connectors.base.ToolContext.approve`), each
with the destinations it reaches, so that the gate asks the person about any site nobody
vouched for, whatever the rules and the approve mode say (see :mod:`app.vouch`). A site is
vouched for when the person named it in the mission or the chat, it is among the mission's
allowed sites or in the person's rules or address book, or the person approved going there
earlier in the mission.

- **A top-level navigation to a site nobody vouched for**, whatever starts it: a link click,
  a form submitted with ``method=get``, a script setting ``location``, a new tab, or
  ``browser_open`` (which asks before it navigates, so that its load timeout does not run
  while the person decides). Proposed as ``browser_visit`` (effect ``external``): "Visit a
  new site: host", with the full address, each query parameter, the page and the element that
  led there. A navigation to a vouched site is held the same way when its query holds an
  absolute link to a site nobody vouched for (``/out?to=https://other.example/…``), because
  the redirect such an address usually answers with would not pass through here (see the
  limits below).
- **Every request whose method can change something** (anything but GET, HEAD and OPTIONS:
  a form post, a fetch or XHR post, a PUT, a DELETE, a beacon), to any site. Proposed as
  ``browser_request``: its URL and method, its form fields or body with password values
  masked, the page and the element that caused it, and a screenshot. Its destinations are
  its site and the hosts of links in its fields or body.
- **Any other request (a fetch, an image, a script, a frame) carrying text the agent typed**
  with ``browser_type`` in this mission to a site nobody vouched for: the typed texts (of at
  least three characters, and each of their lines) are looked for in the request's address
  without regard to case, raw and URL-decoded. Proposed as ``browser_request``.

Not held: a page's own subresources (images, scripts, style sheets, fonts, fetches, frames)
that carry nothing the agent typed, wherever they go; navigations to vouched sites;
``about:``, ``data:`` and ``blob:`` addresses.

What becomes of a held request:

- Approved: that very request continues (with the person's edited fields, for a
  form-encoded body; with their edited address or query parameters, for a GET). The sites of
  an approved proposal are vouched for the rest of the mission: the gate records those a
  person approved, and the mission's browser state keeps them too.
- Rejected: it never leaves the browser. A page navigation (a classic form post, a link) is
  answered with ``204 No Content``, which leaves the page as it was, form filled; a script's
  request is aborted, so the script sees a network error as it would for a blocked request.
  The tool's result tells the model.
- Sent while no tool call of the mission is running (a timer in a page script): there is
  nobody to ask within a call, so it is refused and the model hears of it in its next tool
  result. Everything a page sends because of an agent's action is asked about inside that
  action's call, because the tools wait for the page to settle before returning.

Requests to hosts outside the mission's allowlist (when it has entries) are refused before
anyone is asked: navigations (of the page or of a frame), state-changing requests, and
requests carrying typed text.

Web sockets pass through here too (:func:`handle_websocket`). A message cannot be held for a
card the way a request is (the page's script has already gone on), so toward a site nobody
vouched for, a socket whose address carries typed text is closed before it connects, and a
message carrying typed text is dropped; the model hears of both. Sockets to vouched sites,
and messages that carry nothing typed, pass.

Known limits:

- **Redirects are not seen.** Playwright calls a routing handler only for the first request
  of a redirect chain (its ``Page.route`` documentation: "The handler will only be called for
  the first url if the response is a redirect"; its Chromium network manager continues each
  redirect hop itself). So a vouched site that answers with a redirect to another site sends
  the browser there without a card, with whatever that redirect's address holds. Held query
  links (above) cover the open-redirect form; a site that builds the target on its server is
  trusted as far as the person trusted the site. Once there, every further navigation and
  every request carrying typed text is held as usual.
- A page script that transforms typed text before sending it (encoding it other than in a
  URL, splitting it) hides it from the comparison; a script of a vouched site is trusted as
  its site is.
- What is not a request is not routed: a DNS lookup the browser makes for a
  ``dns-prefetch`` or ``preconnect`` hint happens without asking (the request that would
  follow is held as above).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, quote, unquote, unquote_plus, urlencode, urlsplit, urlunsplit

from playwright.async_api import Error as PlaywrightError

from connectors.base import Destination, Preview, host_matches, link_hosts, normalise_host
from connectors.browser.previews import HttpRequestDetail

if TYPE_CHECKING:
    from collections.abc import Sequence

    from playwright.async_api import Frame, Page, Request, Route, WebSocketRoute

    from connectors.browser._session import MissionBrowser

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that do not change state on a server; every other one is held for approval."""
PASS_SCHEMES = frozenset({"about", "data", "blob"})
"""Addresses that reach no server: never held."""
MASK = "••••••"
"""What a password value is replaced with in previews, arguments and the journal."""
MAX_BODY_CHARS = 4000
"""The most characters of a request body a preview shows."""

HoldKind = Literal["browser_visit", "browser_request"]
"""What a held request is proposed as: a visit to a new site, or a request that sends data."""

_PASSWORDS_JS = """() => {
  const out = [];
  const visit = (root) => {
    for (const el of root.querySelectorAll('input[type=password]')) {
      out.push({name: el.name || el.id || '', value: el.value || ''});
    }
  };
  visit(document);
  return out;
}"""
_ABSOLUTE_LINK = re.compile(r"(?i)^\s*(?:https?:)?//")


async def handle(state: MissionBrowser, route: Route, request: Request) -> None:
    """The context's routing handler: lets a request through, refuses it, or asks about it."""
    try:
        await _handle(state, route, request)
    except PlaywrightError as exc:
        # The page or the browser went away while the request was held: nothing to continue.
        log.debug("A routed request ended with its page: %s", exc)
    except Exception:
        # A request nobody could decide on must not go out, nor hang until the page gives up.
        log.exception("A request of the page could not be decided on; it was refused")
        state.note(
            f"The page's request to {request.url} could not be asked about (an internal error), "
            "so it was refused."
        )
        with contextlib.suppress(PlaywrightError):
            await _refuse(route, request)


async def _handle(state: MissionBrowser, route: Route, request: Request) -> None:
    method = request.method.upper()
    url = request.url
    if urlsplit(url).scheme in PASS_SCHEMES:
        await route.fallback()
        return
    top = _is_top_navigation(request)
    # Only a request the page makes by itself can carry typed text unasked: a navigation of
    # the page and a state-changing request are judged on their own below.
    typed = typed_in(state, url) if method in SAFE_METHODS and not top else None
    if not state.options.allows(url) and (method not in SAFE_METHODS or _is_document(request) or typed):
        host = urlsplit(url).hostname or url
        allowed = ", ".join(state.options.allowed_domains)
        if method not in SAFE_METHODS:
            what = f"send {method} to"
        elif typed:
            what = "send what you typed to"
        else:
            what = "open"
        state.note(
            f"The page tried to {what} {url}; it was refused because {host} is not among this "
            f"mission's allowed sites ({allowed})."
        )
        await _refuse(route, request)
        return
    if method not in SAFE_METHODS:
        await _hold(state, route, request, "browser_request")
    elif top and new_sites(state, url):
        await _hold(state, route, request, "browser_visit")
    elif typed and not is_vouched(state, normalise_host(url) or "", url):
        await _hold(state, route, request, "browser_request")
    else:
        await route.fallback()


async def _hold(state: MissionBrowser, route: Route, request: Request, kind: HoldKind) -> None:
    """Holds one request while the person (or a rule) decides on it, then sends or refuses it."""
    method, url = request.method.upper(), request.url
    ctx = state.active
    if ctx is None or ctx.approve is None:
        state.note(_unasked(kind, method, url) if ctx is None else _cannot_ask(kind, method, url))
        await _refuse(route, request)
        return
    state.held += 1
    try:
        if kind == "browser_visit":
            page = _page_of(request)
            element = state.element.get("description", "") if state.element else ""
            arguments, preview, destinations = visit_proposal(
                state,
                url,
                method=method,
                page_url=page.url if page is not None else "",
                element=element,
                shot=state.before_shot if element else b"",
            )
        else:
            arguments, preview = await _proposal(state, request)
            destinations = request_destinations(url, arguments)
        state.asking += 1
        try:
            approval = await ctx.approve(kind, "external", arguments, preview, destinations)
        finally:
            state.asking -= 1
        record: dict[str, Any] = {
            "kind": "visit" if kind == "browser_visit" else "request",
            "method": method,
            "url": arguments["url"],
            "action_id": approval.action_id,
        }
        if not approval.approved:
            record.update(status="rejected", reason=approval.reason)
            state.requests.append(record)
            await _refuse(route, request)
            return
        if method in SAFE_METHODS:
            key = "query" if kind == "browser_visit" else "fields"
            target = approved_url(url, arguments, approval.arguments, key)
            if target is None:
                record.update(status="rejected", reason="the edited address could not be used")
                state.requests.append(record)
                await _refuse(route, request)
                return
            remember_approved(
                state, destinations, approval.arguments, target if kind == "browser_visit" else ""
            )
            record["status"] = "approved"
            if target != url:
                record.update(edited=True, url=mask_url(state, target))
            state.requests.append(record)
            if target == url:
                await route.continue_()
            elif _is_top_navigation(request):
                # A navigation cannot change its address on the way; a redirect answered in the
                # browser's place sends it to the address the person approved.
                await route.fulfill(status=302, headers={"Location": target}, body="")
            else:
                await route.continue_(url=target)
            return
        remember_approved(state, destinations, approval.arguments, "")
        post_data = _edited_body(request, arguments, approval.arguments)
        record["status"] = "approved"
        if post_data is not None:
            record["edited"] = True
        state.requests.append(record)
        if post_data is not None:
            await route.continue_(post_data=post_data)
        else:
            await route.continue_()
    finally:
        state.held -= 1


async def handle_websocket(state: MissionBrowser, ws: WebSocketRoute) -> None:
    """The context's web socket handler: typed text does not leave for a site nobody vouched for.

    See the module's docstring. Every other socket connects to its server as it would
    without the handler, messages forwarded both ways.
    """
    url = ws.url
    host = normalise_host(url) or url
    http_url = re.sub(r"(?i)^ws", "http", url)  # ws:// and wss:// as the allowlist reads them
    if is_vouched(state, host, http_url):
        ws.connect_to_server()
        return
    if typed_in(state, url):
        _note_once(
            state,
            f"A page script tried to open a web socket to {host} ({url}) carrying text you typed; "
            f"it was refused, because nobody vouched for {host}.",
        )
        await ws.close(code=1008, reason="Refused by the browser agent")
        return
    server = ws.connect_to_server()

    def forward(message: str | bytes) -> None:
        text = message if isinstance(message, str) else message.decode("utf-8", errors="replace")
        if typed_in(state, text):
            _note_once(
                state,
                f"A page script tried to send text you typed to {host} over a web socket ({url}); "
                f"the message was dropped, because nobody vouched for {host}.",
            )
            return
        server.send(message)

    ws.on_message(forward)


def _note_once(state: MissionBrowser, text: str) -> None:
    """Notes a sentence unless the model has not yet heard the same one (a page may retry often)."""
    if text not in state.notes:
        state.note(text)


def _cannot_ask(kind: HoldKind, method: str, url: str) -> str:
    """The note for a held request of a tool call that has no way to ask the person (a backend
    that cannot ask from inside a tool call): the model must not try it again."""
    host = normalise_host(url) or url
    what = f"Opening {url}, a site new to this mission," if kind == "browser_visit" else f"{method} {url}"
    return (
        f"{what} needs the person's approval, which cannot be asked for from inside a browser "
        f"action here; it was blocked and nothing was sent to {host}. Do not try it again: say in "
        "your answer that it needs the person."
    )


def _unasked(kind: HoldKind, method: str, url: str) -> str:
    """The note for a held request sent while no tool call ran, so that nobody could be asked."""
    host = normalise_host(url) or url
    if kind == "browser_visit":
        return (
            f"A page script tried to open {url} while none of your browser actions was running; it "
            f"was blocked, because {host} is a new site and nobody could approve it then. If it is "
            "needed, open it with browser_open."
        )
    if method in SAFE_METHODS:
        return (
            f"A page script tried to send text you typed to {host} ({method} {url}) while none of "
            "your browser actions was running; it was blocked, because nobody could approve it."
        )
    return (
        f"A page script sent {method} {url} while none of your browser actions was running; "
        "it was blocked, because nobody could approve it. If it is needed, do the action "
        "that sends it again."
    )


def _is_document(request: Request) -> bool:
    return request.is_navigation_request() or request.resource_type in ("document", "subdocument")


def _is_top_navigation(request: Request) -> bool:
    """Whether a request loads a tab's document (not a frame's, not a subresource)."""
    if not request.is_navigation_request():
        return False
    try:
        return request.frame.parent_frame is None
    except PlaywrightError:
        return False  # no frame: a service worker's request (they are blocked)


async def _refuse(route: Route, request: Request) -> None:
    """Stops a request before it leaves the browser, leaving the page as it was if it can."""
    if _is_top_navigation(request):
        # A 204 answer to a navigation keeps the current document: the form stays filled.
        await route.fulfill(status=204, body="")
    else:
        await route.abort("blockedbyclient")


# ---------------------------------------------------------------------------------------------
# Vouched sites, typed text
# ---------------------------------------------------------------------------------------------


def is_vouched(state: MissionBrowser, host: str, url: str = "", role: str = "site") -> bool:
    """Whether the person vouched for a host in this mission.

    Vouched: a host (or a parent domain of it) a person approved going to in this mission,
    one in the mission's allowed sites (when there are any), or one the gate vouches for.
    Between tool calls the latest call's hook answers for the gate.
    """
    if not host:
        return False
    if any(host_matches(host, approved) for approved in state.approved_hosts):
        return True
    if state.options.allowed_domains and state.options.allows(url or _host_url(host)):
        return True
    hook = state.active.vouches if state.active is not None else state.vouches
    return hook is not None and hook(Destination("host", host, role))


def _host_url(host: str) -> str:
    return f"http://[{host}]/" if ":" in host else f"http://{host}/"


def new_sites(state: MissionBrowser, url: str) -> list[str]:
    """The hosts a top-level navigation to ``url`` would bring the browser to that nobody vouched for.

    The site itself, and the hosts of absolute links in its query (``?next=https://…`` or
    ``?to=//…``), where a redirect, which is not routed, would lead. Empty: it may go.
    """
    if urlsplit(url).scheme in PASS_SCHEMES:
        return []
    host = normalise_host(url)
    if host is None:
        return [url]
    new = [] if is_vouched(state, host, url) else [host]
    for link in sorted(_redirect_hosts(url) - {host}):
        if not is_vouched(state, link, role="link"):
            new.append(link)
    return new


def _query(url: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(urlsplit(url).query, keep_blank_values=True)
    except ValueError:
        return []


def _redirect_hosts(url: str) -> set[str]:
    """Hosts of the absolute links in an address's query values."""
    found: set[str] = set()
    for _name, value in _query(url):
        if _ABSOLUTE_LINK.match(value):
            host = normalise_host(value)
            if host:
                found.add(host)
    return found


def _squash(text: str) -> str:
    """Lower case, every run of white space one space: how typed text and addresses are compared."""
    return " ".join(text.lower().split())


def typed_in(state: MissionBrowser, url: str) -> str | None:
    """The first text the agent typed in this mission that an address (or a message) carries, or None.

    Compared without regard to case or runs of white space, in the address as it is and
    URL-decoded (as a form encodes it, with ``+`` for a space, and as a script's
    ``encodeURIComponent`` does), once and twice.
    """
    if not state.typed:
        return None
    once = unquote(url)
    forms = {_squash(url), _squash(once), _squash(unquote_plus(url)), _squash(unquote(once))}
    for text in state.typed:
        needle = _squash(text)
        if needle and any(needle in form for form in forms):
            return text
    return None


def remember_approved(
    state: MissionBrowser, destinations: Sequence[Destination], approved: dict[str, Any], target: str
) -> None:
    """Keeps the hosts a person approved as vouched for the rest of the mission.

    As the gate does: a destination the person edited out is not kept. ``target`` is the
    address of an approved visit, whose host the person approved even if they typed it.
    """
    final = json.dumps(approved, ensure_ascii=False).lower()
    for destination in destinations:
        if destination.kind == "host" and destination.value in final:
            state.approved_hosts.add(destination.value)
    host = normalise_host(target) if target else None
    if host:
        state.approved_hosts.add(host)


# ---------------------------------------------------------------------------------------------
# Proposals
# ---------------------------------------------------------------------------------------------


def _secrets(state: MissionBrowser) -> tuple[set[str], set[str]]:
    """The page's password values and field names, read just before the action."""
    values = {p["value"] for p in state.passwords if p["value"]}
    names = {p["name"] for p in state.passwords if p["name"]}
    return values, names


def mask_url(state: MissionBrowser, url: str) -> str:
    """An address with the page's password values masked (a GET form with a password field)."""
    values, _names = _secrets(state)
    return _mask_text(url, values)


def visit_proposal(
    state: MissionBrowser,
    url: str,
    *,
    method: str = "GET",
    page_url: str = "",
    element: str = "",
    shot: bytes = b"",
) -> tuple[dict[str, Any], Preview, list[Destination]]:
    """The proposed ``browser_visit`` of an address: its arguments, preview and destinations.

    The destinations are the site (role ``site``) and the hosts of links in the query
    values (role ``link``); the card names those nobody vouched for.
    """
    values, names = _secrets(state)
    host = normalise_host(url) or url
    query = [
        [name, MASK if name in names or (value and value in values) else value] for name, value in _query(url)
    ]
    shown = _mask_text(url, values)
    arguments: dict[str, Any] = {
        "method": method,
        "url": shown,
        "query": query,
        "page_url": page_url,
        "element": element,
    }
    links: set[str] = set()
    for _name, value in query:
        links |= link_hosts(value)
    destinations = [Destination("host", host, "site")]
    destinations += [Destination("host", link, "link") for link in sorted(links - {host})]
    new = new_sites(state, url)
    if host in new or not new:
        summary = f"Visit a new site: {host}"
    else:
        summary = f"Open {host} with a link to a new site: {', '.join(new)}"
    lines = [summary, f"Address: {shown}"]
    if page_url:
        lines.append(f"From the page: {page_url}")
    if element:
        lines.append(f"Triggered by: {element}")
    if query:
        lines.append(f"Query parameters (sent to {host}):")
        lines += [f"  {name} = {value}" for name, value in query]
    else:
        lines.append("No query parameters.")
    detail = dict(arguments)
    # The request widget shows ``fields`` as a table: the query is what the visit sends.
    detail["fields"] = query
    detail["host"] = host
    detail["screenshot_png_base64"] = base64.b64encode(shot).decode() if shot else ""
    preview = Preview(summary=summary, detail=HttpRequestDetail.model_validate(detail), text="\n".join(lines))
    return arguments, preview, destinations


def request_destinations(url: str, arguments: dict[str, Any]) -> list[Destination]:
    """Where a held request's data goes: its site, and the hosts of links in its fields or body."""
    host = normalise_host(url)
    links: set[str] = set()
    for item in arguments.get("fields") or []:
        links |= link_hosts(str(item[1]))
    if arguments.get("body"):
        links |= link_hosts(str(arguments["body"]))
    destinations = [Destination("host", host, "site")] if host else []
    destinations += [Destination("host", link, "link") for link in sorted(links - {host or ""})]
    return destinations


def approved_url(url: str, proposed: dict[str, Any], approved: dict[str, Any], key: str) -> str | None:
    """The address to send a held GET to: as proposed, or as the person edited it.

    The person may edit the address itself, or the query parameters (``key``: ``query`` for a
    visit, ``fields`` for a request); masked values left masked keep their real value.

    Returns:
        The address, or None when the edit cannot be used (not a web address, or a masked
        password left inside an edited address).
    """
    if approved is proposed:
        return url
    new_url, new_query = approved.get("url"), approved.get(key)
    if new_url == proposed.get("url") and new_query == proposed.get(key):
        return url
    if new_url != proposed.get("url"):
        if not isinstance(new_url, str) or MASK in new_url or quote(MASK) in new_url:
            return None
        parts = urlsplit(new_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        return new_url.strip()
    if not isinstance(new_query, list):
        return None
    original = _query(url)
    pairs: list[tuple[str, str]] = []
    for index, item in enumerate(new_query):
        if not isinstance(item, list | tuple) or len(item) != 2:
            return None
        name, value = str(item[0]), str(item[1])
        if value == MASK and index < len(original) and original[index][0] == name:
            value = original[index][1]
        pairs.append((name, value))
    return urlunsplit(urlsplit(url)._replace(query=urlencode(pairs)))


async def _proposal(state: MissionBrowser, request: Request) -> tuple[dict[str, Any], Preview]:
    """Builds the proposed ``browser_request`` for one held request: its arguments and its preview."""
    page = _page_of(request)
    # The page cannot be asked now (a script would wait on the held navigation), so the
    # password fields are those read just before the action.
    secret_values, secret_names = _secrets(state)
    method = request.method.upper()
    content_type = request.headers.get("content-type", "").lower()
    raw = _body_text(request)
    # A GET sends its data in the query: those are its fields.
    fields = (
        [[k, v] for k, v in _query(request.url)] if method in SAFE_METHODS else _fields(raw, content_type)
    )
    masked_fields = [
        [name, MASK if name in secret_names or (value and value in secret_values) else value]
        for name, value in fields
    ]
    body = _mask_text(raw, secret_values)
    if len(body) > MAX_BODY_CHARS:
        body = body[:MAX_BODY_CHARS] + f"… ({len(raw):,} characters in all)"
    element = dict(state.element) if state.element else {}
    shown_url = _mask_text(request.url, secret_values)
    arguments: dict[str, Any] = {
        "method": method,
        "url": shown_url,
        "fields": masked_fields,
        "body": body if not masked_fields else "",
        "page_url": page.url if page is not None else "",
        "element": element.get("description", ""),
    }
    shot = state.before_shot if request.is_navigation_request() else await screenshot(page)
    shot = shot or state.before_shot
    detail = dict(arguments)
    detail["screenshot_png_base64"] = base64.b64encode(shot).decode() if shot else ""
    detail["content_type"] = content_type.split(";")[0]
    summary = f"Send {method} {_short(shown_url)}"
    if method in SAFE_METHODS:
        summary = (
            f"Send text you typed to {normalise_host(request.url) or shown_url}: {method} {_short(shown_url)}"
        )
    if element.get("description"):
        summary += f" (from {element['description']})"
    lines = [summary, f"Page: {arguments['page_url']}"]
    lines += [f"  {name} = {value}" for name, value in masked_fields]
    if arguments["body"]:
        lines.append(f"Body: {arguments['body']}")
    return arguments, Preview(
        summary=summary, detail=HttpRequestDetail.model_validate(detail), text="\n".join(lines)
    )


def _page_of(request: Request) -> Page | None:
    frame: Frame | None
    try:
        frame = request.frame
    except PlaywrightError:
        # A service worker's request has no frame; they are blocked, so this is defensive.
        return None
    return frame.page if frame is not None else None


async def password_fields(page: Page | None) -> list[dict[str, str]]:
    """The names and values of the page's password fields, read before an action."""
    if page is None:
        return []
    try:
        found = await page.main_frame.evaluate(_PASSWORDS_JS)
    except PlaywrightError:
        return []
    return [
        {"name": str(p.get("name", "")), "value": str(p.get("value", ""))}
        for p in found
        if isinstance(p, dict)
    ]


def _body_text(request: Request) -> str:
    try:
        data = request.post_data_buffer
    except PlaywrightError:
        return ""
    if not data:
        return ""
    return data.decode("utf-8", errors="replace")


def _fields(raw: str, content_type: str) -> list[list[str]]:
    """The named values of a form-encoded, multipart or flat JSON body, in order."""
    if not raw:
        return []
    if "application/x-www-form-urlencoded" in content_type:
        return [[k, v] for k, v in parse_qsl(raw, keep_blank_values=True)]
    if "multipart/form-data" in content_type:
        return _multipart_fields(raw)
    if "json" in content_type or raw.lstrip().startswith("{"):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            return []
        if isinstance(data, dict):
            return [
                [str(k), v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)]
                for k, v in data.items()
            ]
    return []


def _multipart_fields(raw: str) -> list[list[str]]:
    fields: list[list[str]] = []
    for part in raw.split("\r\n--"):
        head, sep, value = part.partition("\r\n\r\n")
        if not sep or 'name="' not in head:
            continue
        name = head.split('name="', 1)[1].split('"', 1)[0]
        if 'filename="' in head:
            filename = head.split('filename="', 1)[1].split('"', 1)[0]
            fields.append([name, f"(file {filename})"])
        else:
            fields.append([name, value.rstrip("\r\n-")])
    return fields


def _mask_text(text: str, secrets: set[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 1:
            text = text.replace(secret, MASK)
            encoded = urlencode({"": secret})[1:]
            if encoded != secret:
                text = text.replace(encoded, MASK)
    return text


def _edited_body(request: Request, proposed: dict[str, Any], approved: dict[str, Any]) -> str | None:
    """The body to send when the person edited a form-encoded body's fields; else None.

    Masked values the person left masked keep their real value.
    """
    edited = approved.get("fields")
    if approved is proposed or edited == proposed.get("fields") or not isinstance(edited, list):
        return None
    raw = _body_text(request)
    if not raw or "=" not in raw:
        return None
    try:
        original = parse_qsl(raw, keep_blank_values=True)
    except ValueError:
        return None
    pairs: list[tuple[str, str]] = []
    for index, item in enumerate(edited):
        if not isinstance(item, list | tuple) or len(item) != 2:
            return None
        name, value = str(item[0]), str(item[1])
        if value == MASK and index < len(original) and original[index][0] == name:
            value = original[index][1]
        pairs.append((name, value))
    return urlencode(pairs)


async def screenshot(page: Page | None) -> bytes:
    """A PNG of the page as it is, or nothing if it cannot be taken within a few seconds."""
    if page is None:
        return b""
    try:
        return await page.screenshot(timeout=3000, animations="disabled", caret="initial")
    except PlaywrightError:
        return b""


def _short(url: str) -> str:
    return url if len(url) <= 100 else url[:97] + "…"
