"""Reading and writing RFC 5322 messages: headers, readable body text, attachments.

Parsing uses the standard library's :mod:`email` package with ``policy.default``; a message
whose headers that policy cannot make sense of falls back, header by header, to the lenient
``compat32`` policy, so a malformed message is read as far as it can be rather than refused.
HTML bodies are turned into readable text with :mod:`html.parser` (no HTML library is a
dependency): block elements become line breaks, list items bullets, links ``text (url)``,
and scripts and styles are dropped.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass, field
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from html.parser import HTMLParser
from typing import Any

MAX_BODY_CHARS = 100_000
"""The most characters of body text one email_read returns; longer bodies are cut and say so."""

_HEADER_ERRORS = (ValueError, TypeError, LookupError, IndexError, AttributeError, UnicodeError)
"""What the stdlib's header and payload decoding raises on malformed input."""


class MessageError(Exception):
    """A message that cannot be read at all; the message says why."""


# ---------------------------------------------------------------------------------------------
# HTML to text
# ---------------------------------------------------------------------------------------------

_PARAGRAPH = frozenset("blockquote h1 h2 h3 h4 h5 h6 ol p pre table ul".split())
"""Elements set apart by a blank line."""
_BLOCK = frozenset(
    "address article aside dd div dl dt fieldset figcaption figure footer form header hr li main nav "
    "section tbody thead tfoot tr".split()
)
"""Elements that start on a line of their own."""
_SKIP = frozenset({"script", "style", "head", "title", "noscript", "template"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._pre = 0
        self._href: list[str | None] = []

    def _break(self, lines: int) -> None:
        """Ends the current line, and leaves ``lines - 1`` blank lines, unless already there."""
        tail = "".join(self.parts[-4:])
        have = len(tail) - len(tail.rstrip("\n")) if tail.strip(" ") else lines
        if self.parts:
            self.parts.append("\n" * max(0, lines - have))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
        elif tag == "pre":
            self._pre += 1
        if tag == "br":
            self.parts.append("\n")
        elif tag in _PARAGRAPH:
            self._break(2)
        elif tag in _BLOCK:
            self._break(1)
        if tag == "li":
            self.parts.append("- ")
        elif tag in ("td", "th"):
            self.parts.append(" ")
        elif tag == "a":
            self._href.append(dict(attrs).get("href"))
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.parts.append(f"[{alt}]")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "hr", "img"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
        elif tag == "a" and self._href:
            href = self._href.pop()
            if href and href.startswith(("http:", "https:", "mailto:")):
                self.parts.append(f" ({href.removeprefix('mailto:')})")
        if tag in _PARAGRAPH:
            self._break(2)
        elif tag in _BLOCK:
            self._break(1)

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.parts.append(data if self._pre else re.sub(r"\s+", " ", data))


def html_to_text(markup: str) -> str:
    """Turns an HTML body into readable plain text.

    Args:
        markup: The HTML document or fragment.

    Returns:
        Its text, with a line break per block element and at most one blank line in a row.
    """
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
    except AssertionError:
        # html.parser asserts on some broken markup; keep what was read so far.
        pass
    lines = [line.strip() for line in "".join(parser.parts).splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    """An attachment of a parsed message: its name, MIME type and decoded size in bytes."""

    name: str
    content_type: str
    size: int
    part: Message = field(repr=False, compare=False)

    def data(self) -> bytes:
        """The attachment's decoded bytes."""
        return _payload_bytes(self.part)


@dataclass(frozen=True)
class ParsedMessage:
    """What :func:`parse_message` found in a message."""

    headers: dict[str, str]
    body: str
    body_truncated: bool
    attachments: list[Attachment]
    problems: list[str]

    def to_json(self) -> dict[str, Any]:
        """Headers, body and attachments (names, types, sizes) as JSON-serialisable data."""
        return {
            **self.headers,
            "body": self.body,
            "body_truncated": self.body_truncated,
            "attachments": [
                {"name": a.name, "type": a.content_type, "size": a.size} for a in self.attachments
            ],
        }


_READ_HEADERS = ("from", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references", "reply-to")


def header_text(message: Message, name: str) -> str:
    """A header's value as readable text, whatever its encoding; empty when absent or unreadable.

    Several occurrences of the same header are joined with ``, ``.
    """
    try:
        values = message.get_all(name) or []
        texts = [str(v) for v in values]
    except _HEADER_ERRORS:
        texts = []
        try:
            raw_values = message.get_all(name, failobj=[]) or []
        except _HEADER_ERRORS:
            raw_values = []
        for raw in raw_values:
            texts.append(_decode_raw_header(raw))
    return ", ".join(" ".join(t.split()) for t in texts if t)


def _decode_raw_header(raw: object) -> str:
    value = raw if isinstance(raw, str) else str(raw)
    try:
        return str(make_header(decode_header(value)))
    except _HEADER_ERRORS:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def parse_bytes(raw: bytes) -> Message:
    """Parses a message's bytes with ``policy.default``.

    Raises:
        MessageError: The bytes are not a message at all.
    """
    if not raw.strip():
        raise MessageError("The message is empty.")
    try:
        return BytesParser(policy=policy.default).parsebytes(raw)
    except (*_HEADER_ERRORS, RecursionError) as exc:
        raise MessageError(f"The message cannot be parsed: {type(exc).__name__}: {exc}") from exc


def _charset(part: Message) -> str:
    try:
        charset = part.get_content_charset() or "utf-8"
    except _HEADER_ERRORS:
        charset = "utf-8"
    try:
        "".encode(charset)
    except LookupError:
        # ks_c_5601-1987 and friends are aliases Python does not know by that name.
        return {"ks_c_5601-1987": "cp949"}.get(charset.lower(), "utf-8")
    return charset


def _payload_bytes(part: Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except _HEADER_ERRORS:
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def _part_text(part: Message) -> str:
    if isinstance(part, EmailMessage):
        try:
            content = part.get_content()
        except (*_HEADER_ERRORS, KeyError, AssertionError):
            content = None
        if isinstance(content, str):
            return content
    return _payload_bytes(part).decode(_charset(part), "replace")


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except _HEADER_ERRORS:
        return "application/octet-stream"


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except _HEADER_ERRORS:
        name = None
    if name is None:
        return None
    return _decode_raw_header(name) if "=?" in name else name


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except _HEADER_ERRORS:
        return None


def _leaves(message: Message, depth: int = 0) -> list[Message]:
    if depth > 50:
        raise MessageError("The message nests its parts more than 50 levels deep.")
    if message.is_multipart():
        payload = message.get_payload()
        parts = payload if isinstance(payload, list) else []
        return [leaf for part in parts if isinstance(part, Message) for leaf in _leaves(part, depth + 1)]
    return [message]


def parse_message(raw: bytes, *, max_body_chars: int = MAX_BODY_CHARS) -> ParsedMessage:
    """Reads a message: its headers, its body as plain text, and its attachments.

    The body is the first text/plain part that is not an attachment, else the first
    text/html part turned into text. Every other part with a file name, or marked as an
    attachment, or not text, is an attachment.

    Args:
        raw: The message's bytes (RFC 5322).
        max_body_chars: Longer body text is cut to this length.

    Raises:
        MessageError: The bytes are not a readable message.
    """
    message = parse_bytes(raw)
    problems = [type(d).__name__ for d in getattr(message, "defects", [])]
    headers = {name.replace("-", "_"): header_text(message, name) for name in _READ_HEADERS}
    leaves = _leaves(message)
    body_part: Message | None = None
    for wanted in ("text/plain", "text/html"):
        body_part = next(
            (
                p
                for p in leaves
                if _content_type(p) == wanted and _disposition(p) != "attachment" and _filename(p) is None
            ),
            None,
        )
        if body_part is not None:
            break
    body = ""
    if body_part is not None:
        body = _part_text(body_part)
        if _content_type(body_part) == "text/html":
            body = html_to_text(body)
        body = body.replace("\r\n", "\n").strip()
    truncated = len(body) > max_body_chars
    if truncated:
        body = body[:max_body_chars]
    attachments: list[Attachment] = []
    names: set[str] = set()
    for index, part in enumerate(leaves, start=1):
        if part is body_part:
            continue
        kind = _content_type(part)
        name = _filename(part)
        if name is None and _disposition(part) != "attachment" and kind.startswith("text/"):
            continue  # An alternative rendering of the body, not an attachment.
        if name is None:
            name = f"part-{index}{mimetypes.guess_extension(kind) or '.bin'}"
        name = _unique(_safe_name(name), names)
        attachments.append(Attachment(name, kind, len(_payload_bytes(part)), part))
    return ParsedMessage(headers, body, truncated, attachments, problems)


def _safe_name(name: str) -> str:
    """A file name without folders or control characters, so it can be saved as it is."""
    name = re.sub(r"[\x00-\x1f/\\]", "_", name).strip().strip(".")
    return name or "attachment"


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        stem, dot, ext = name.rpartition(".")
        candidate = f"{stem} ({n}).{ext}" if dot and stem else f"{name} ({n})"
    taken.add(candidate)
    return candidate


def snippet(headers_and_text: bytes, size: int = 200) -> str:
    """The start of a message's body as one line of text, from its headers and first bytes.

    The search fetches only the headers and the first few kilobytes of the text; parsing them
    together as a (truncated) message finds the first text part even inside a multipart.
    """
    try:
        message = BytesParser(policy=policy.compat32).parsebytes(headers_and_text)
        leaves = _leaves(message)
    except (*_HEADER_ERRORS, RecursionError, MessageError):
        return ""
    for wanted in ("text/plain", "text/html"):
        for part in leaves:
            if _content_type(part) == wanted and _filename(part) is None:
                text = _payload_bytes(part).decode(_charset(part), "replace")
                if wanted == "text/html":
                    text = html_to_text(text)
                text = " ".join(text.split())
                return text[:size]
    return ""


def clean_message_id(value: str) -> str | None:
    """The first ``<...>`` Message-ID in a header value, or None."""
    found = re.search(r"<[^<>\s]+>", value)
    return found.group(0) if found else None


_CHARSET = re.compile(r"""charset\s*=\s*["']?([^"';\s]+)""", re.IGNORECASE)


def quick_headers(head: bytes) -> dict[str, str]:
    """A header block's fields (lower-case names) as readable text, without the email package.

    Search results show a few headers of many messages, and the standard library's header
    registry takes about a millisecond per message; this unfolds and decodes the fields
    directly (RFC 2047 encoded words through :func:`email.header.decode_header`).
    """
    fields: dict[str, str] = {}
    text = head.decode("utf-8", "replace")
    for line in re.split(r"\r?\n(?![ \t])", text):
        name, sep, value = line.partition(":")
        if not sep or not name or " " in name.strip():
            continue
        key = name.strip().lower()
        value = " ".join(value.split())
        if "=?" in value:
            value = " ".join(_decode_raw_header(value).split())
        fields[key] = f"{fields[key]}, {value}" if key in fields and value else value or fields.get(key, "")
    return fields


def quick_snippet(fields: dict[str, str], head: bytes, text: bytes, size: int = 200) -> str:
    """The start of a message's body as one line, from its headers and first bytes of text.

    A plain single-part message (the common case) is decoded directly; anything else goes
    through :func:`snippet`.
    """
    kind = fields.get("content-type", "text/plain").lower()
    encoding = fields.get("content-transfer-encoding", "7bit").lower().strip()
    if kind.startswith("text/plain") and encoding in ("7bit", "8bit", "binary", ""):
        found = _CHARSET.search(kind)
        charset = found.group(1) if found else "utf-8"
        try:
            decoded = text[: size * 8].decode(charset, "replace")
        except LookupError:
            decoded = text[: size * 8].decode("utf-8", "replace")
        return " ".join(decoded.split())[:size]
    return snippet(head + text, size)
