"""Every request a mission's pages send passes through here, and state-changing ones wait here.

A request whose method can change something on a server (anything but GET, HEAD and
OPTIONS: a form post, a fetch or XHR post, a PUT, a DELETE) is held with Playwright's routing
and proposed to the person through the running tool call's approval hook
(:attr:`connectors.base.ToolContext.approve`): its URL and method, its form fields or body
with password values masked, the page and the element that caused it, and a screenshot.

- Approved: that very request continues (with the person's edited fields, for a
  form-encoded body).
- Rejected: it never leaves the browser. A page navigation (a classic form post) is
  answered with ``204 No Content``, which leaves the page as it was, form filled; a script's
  request is aborted, so the script sees a network error as it would for a blocked request.
- Sent while no tool call of the mission is running (a timer in a page script): there is
  nobody to ask within a call, so it is aborted and the model hears of it in its next tool
  result. Everything a page sends because of an agent's action is asked about inside that
  action's call, because the tools wait for the page to settle before returning.

Requests to hosts outside the mission's allowlist are refused before anyone is asked:
navigations (of the page or of a frame) are blocked, and state-changing requests too.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from playwright.async_api import Error as PlaywrightError

from connectors.base import Preview

if TYPE_CHECKING:
    from playwright.async_api import Frame, Page, Request, Route

    from connectors.browser._session import MissionBrowser

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that do not change state on a server; every other one is held for approval."""
MASK = "••••••"
"""What a password value is replaced with in previews, arguments and the journal."""
MAX_BODY_CHARS = 4000
"""The most characters of a request body a preview shows."""

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


async def handle(state: MissionBrowser, route: Route, request: Request) -> None:
    """The context's routing handler: lets a request through, refuses it, or asks about it."""
    try:
        await _handle(state, route, request)
    except PlaywrightError as exc:
        # The page or the browser went away while the request was held: nothing to continue.
        log.debug("A routed request ended with its page: %s", exc)


async def _handle(state: MissionBrowser, route: Route, request: Request) -> None:
    method = request.method.upper()
    url = request.url
    if not state.options.allows(url) and (method not in SAFE_METHODS or _is_document(request)):
        host = urlsplit(url).hostname or url
        allowed = ", ".join(state.options.allowed_domains)
        state.note(
            f"The page tried to {'open' if method in SAFE_METHODS else 'send ' + method + ' to'} {url}; "
            f"it was refused because {host} is not among this mission's allowed sites ({allowed})."
        )
        await _refuse(route, request)
        return
    if method in SAFE_METHODS:
        await route.fallback()
        return
    ctx = state.active
    if ctx is None or ctx.approve is None:
        state.note(
            f"A page script sent {method} {url} while none of your browser actions was running; "
            "it was blocked, because nobody could approve it. If it is needed, do the action "
            "that sends it again."
        )
        await _refuse(route, request)
        return
    state.held += 1
    try:
        arguments, preview = await _proposal(state, request)
        state.asking += 1
        try:
            approval = await ctx.approve("browser_request", "external", arguments, preview)
        finally:
            state.asking -= 1
        record: dict[str, Any] = {"method": method, "url": url, "action_id": approval.action_id}
        if not approval.approved:
            record.update(status="rejected", reason=approval.reason)
            state.requests.append(record)
            await _refuse(route, request)
            return
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


def _is_document(request: Request) -> bool:
    return request.is_navigation_request() or request.resource_type in ("document", "subdocument")


async def _refuse(route: Route, request: Request) -> None:
    """Stops a request before it leaves the browser, leaving the page as it was if it can."""
    if request.is_navigation_request() and request.frame.parent_frame is None:
        # A 204 answer to a navigation keeps the current document: the form stays filled.
        await route.fulfill(status=204, body="")
    else:
        await route.abort("blockedbyclient")


async def _proposal(state: MissionBrowser, request: Request) -> tuple[dict[str, Any], Preview]:
    """Builds the proposed action for one held request: its arguments and its preview."""
    page = _page_of(request)
    # The page cannot be asked now (a script would wait on the held navigation), so the
    # password fields are those read just before the action.
    secret_values = {p["value"] for p in state.passwords if p["value"]}
    secret_names = {p["name"] for p in state.passwords if p["name"]}
    content_type = request.headers.get("content-type", "").lower()
    raw = _body_text(request)
    fields = _fields(raw, content_type)
    masked_fields = [
        [name, MASK if name in secret_names or (value and value in secret_values) else value]
        for name, value in fields
    ]
    body = _mask_text(raw, secret_values)
    if len(body) > MAX_BODY_CHARS:
        body = body[:MAX_BODY_CHARS] + f"… ({len(raw):,} characters in all)"
    element = dict(state.element) if state.element else {}
    arguments: dict[str, Any] = {
        "method": request.method.upper(),
        "url": request.url,
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
    summary = f"Send {arguments['method']} {_short(request.url)}"
    if element.get("description"):
        summary += f" (from {element['description']})"
    lines = [summary, f"Page: {arguments['page_url']}"]
    lines += [f"  {name} = {value}" for name, value in masked_fields]
    if arguments["body"]:
        lines.append(f"Body: {arguments['body']}")
    return arguments, Preview(summary=summary, kind="http_request", detail=detail, text="\n".join(lines))


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
