"""Reading and writing RFC 5322 messages: headers, readable body text, attachments.

Parsing uses the standard library's :mod:`email` package with ``policy.default``; a message
whose headers that policy cannot make sense of falls back, header by header, to the lenient
``compat32`` policy, so a malformed message is read as far as it can be rather than refused.
HTML bodies are turned into readable text with :mod:`html.parser` (no HTML library is a
dependency): block elements become line breaks, list items bullets, links ``text (url)``,
a table row with several cells one line of ``a | b | c``, and scripts and styles are
dropped. A message with both a plain and an HTML body gives the plain one, and the HTML's
text as well when it holds more (a table, links or words the plain text lacks).

Every part that is not the body is an attachment the agent can save: files, inline images,
forwarded messages (``message/rfc822``, as ``.eml``, also read in turn), Outlook's
``winmail.dat``, bounce reports.
"""

from __future__ import annotations

import contextlib
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
    "address article aside caption dd div dl dt fieldset figcaption figure footer form header hr li main "
    "nav section tbody thead tfoot tr".split()
)
"""Elements that start on a line of their own."""
_SKIP = frozenset({"script", "style", "head", "title", "noscript", "template"})
_CELL = frozenset({"td", "th"})
_LINK_SCHEMES = ("http:", "https:", "mailto:")


def _tidy(text: str) -> str:
    """Strips every line, and leaves at most one blank line in a row."""
    lines = [line.strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


@dataclass
class _Table:
    """A table being read: the cells of its current row, and whether a cell is open."""

    cells: list[str] = field(default_factory=list)
    in_cell: bool = False


@dataclass
class HtmlText:
    """What :func:`render_html` read from an HTML body.

    Attributes:
        text: The readable text (see :func:`html_to_text`).
        links: The ``http``/``https`` addresses of its links, in order.
        data_rows: How many table rows have two or more cells with text (a table of data, not
            a layout table that only places one block beside nothing).
    """

    text: str
    links: list[str]
    data_rows: int


class _TextExtractor(HTMLParser):
    """Turns HTML into text: each table cell is read into a buffer of its own, so that a row
    of short cells becomes one line (``a | b | c``) and a layout cell keeps its blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._buffers: list[list[str]] = [[]]
        self._tables: list[_Table] = []
        self._skip = 0
        self._pre = 0
        self._href: list[tuple[str | None, list[str], int]] = []
        self.links: list[str] = []
        self.data_rows = 0

    @property
    def parts(self) -> list[str]:
        """The buffer text goes to now: the open table cell's, or the document's."""
        return self._buffers[-1]

    def _break(self, lines: int) -> None:
        """Ends the current line, and leaves ``lines - 1`` blank lines, unless already there."""
        # Spaces left by the whitespace between tags do not count as text on the line.
        tail = "".join(self.parts[-4:]).rstrip(" ")
        have = len(tail) - len(tail.rstrip("\n")) if tail else lines
        if self.parts:
            self.parts.append("\n" * max(0, lines - have))

    # Tables ----------------------------------------------------------------------------------

    def _open_cell(self) -> None:
        table = self._tables[-1]
        self._close_cell()
        table.in_cell = True
        self._buffers.append([])

    def _close_cell(self) -> None:
        table = self._tables[-1]
        if table.in_cell:
            table.in_cell = False
            table.cells.append(_tidy("".join(self._buffers.pop())))

    def _close_row(self) -> None:
        self._close_cell()
        table = self._tables[-1]
        cells, table.cells = table.cells, []
        filled = [cell for cell in cells if cell]
        if not filled:
            return
        if len(filled) > 1 and not any("\n" in cell for cell in filled):
            # A row of data: one line, the cells in order (empty ones kept, so columns line up).
            self.data_rows += 1
            blocks = [" | ".join(cells)]
        else:
            # A layout row: each cell holds blocks of its own, set one under the other.
            blocks = filled
        for block in blocks:
            self._break(1)
            self.parts.append(block)
            self._break(1)

    def _close_table(self) -> None:
        self._close_row()
        self._tables.pop()

    # Parser callbacks ------------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
        elif tag == "pre":
            self._pre += 1
        if tag in _CELL and self._tables:
            self._open_cell()
            return
        if tag == "tr" and self._tables:
            self._close_row()
            return
        if tag == "br":
            self.parts.append("\n")
        elif tag in _PARAGRAPH:
            self._break(2)
        elif tag in _BLOCK:
            self._break(1)
        if tag == "table":
            self._tables.append(_Table())
        elif tag == "li":
            self.parts.append("- ")
        elif tag in _CELL:
            self.parts.append(" ")
        elif tag == "a":
            href = (dict(attrs).get("href") or "").strip()
            self._href.append((href or None, self.parts, len(self.parts)))
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt and alt.strip():
                self.parts.append(f"[{alt.strip()}]")

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
            self._end_link(*self._href.pop())
        if self._tables and tag in (*_CELL, "tr", "table"):
            {"td": self._close_cell, "th": self._close_cell, "tr": self._close_row}.get(
                tag, self._close_table
            )()
            if tag != "table":
                return
        if tag in _PARAGRAPH:
            self._break(2)
        elif tag in _BLOCK:
            self._break(1)

    def _end_link(self, href: str | None, buffer: list[str], start: int) -> None:
        if not href or not href.lower().startswith(_LINK_SCHEMES):
            return  # javascript:, cid: and page anchors lead nowhere a reader can go.
        shown = href[len("mailto:") :] if href.lower().startswith("mailto:") else href
        if not href.lower().startswith("mailto:"):
            self.links.append(href)
        text = " ".join("".join(buffer[start:]).split()) if buffer is self.parts else ""
        if text.rstrip("/") in (shown.rstrip("/"), href.rstrip("/")):
            return  # The link's text is its address already.
        self.parts.append(f" ({shown})")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.parts.append(data if self._pre else re.sub(r"\s+", " ", data))

    def finish(self) -> str:
        """Closes what the markup left open and returns the text."""
        while self._tables:
            self._close_table()
        return _tidy("".join(self._buffers[0]))


def render_html(markup: str) -> HtmlText:
    """Reads an HTML body: its readable text, its links and how many rows of data it has.

    Args:
        markup: The HTML document or fragment.

    Returns:
        The text (see :func:`html_to_text`), the links' addresses and the count of data rows.
    """
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
    except AssertionError:
        # html.parser asserts on some broken markup; keep what was read so far.
        pass
    return HtmlText(parser.finish(), parser.links, parser.data_rows)


def html_to_text(markup: str) -> str:
    """Turns an HTML body into readable plain text.

    Block elements start a line, list items are bullets, links read ``text (url)``, a table
    row with several cells is one line of ``|``-separated cells (a layout row's cells are
    blocks one under the other), scripts and styles are dropped and entities decoded.

    Args:
        markup: The HTML document or fragment.

    Returns:
        Its text, with a line break per block element and at most one blank line in a row.
    """
    return render_html(markup).text


_WORD = re.compile(r"\w{2,}")
_URL = re.compile(r"(?:https?|mailto):\S+", re.IGNORECASE)


def _words(text: str) -> set[str]:
    return set(_WORD.findall(_URL.sub(" ", text).lower()))


def html_adds_to(plain: str, html: HtmlText) -> bool:
    """Whether an HTML alternative holds more than the plain text beside it.

    It does when it has a table of data (the plain text loses its rows and columns), a link
    whose address the plain text lacks, or words the plain text lacks: at least two, and at
    least one in fifty of its distinct words (so a different greeting or footer is not enough
    in a long message, but a plain part cut short or left empty is).
    """
    if html.data_rows:
        return True
    if any(link not in plain and link.rstrip("/") not in plain for link in html.links):
        return True
    words = _words(html.text)
    missing = words - _words(plain)
    return len(missing) >= max(2, len(words) // 50)


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    """An attachment of a parsed message: its name, MIME type and decoded size in bytes.

    A forwarded message (``message/rfc822``) is an attachment too: its bytes are the whole
    message, to be saved as a ``.eml`` file.
    """

    name: str
    content_type: str
    size: int
    part: Message = field(repr=False, compare=False)

    def data(self) -> bytes:
        """The attachment's decoded bytes."""
        return _part_bytes(self.part)


@dataclass(frozen=True)
class ParsedMessage:
    """What :func:`parse_message` found in a message.

    Attributes:
        headers: The headers email_read shows (``from``, ``subject``, ...), as text.
        body: The plain-text body, or the HTML body as text when there is no plain one.
        body_truncated: Whether ``body`` was cut at the length limit.
        attachments: Every part that is not the body, including forwarded messages.
        problems: The parser's defect names, for the record.
        html_body: The HTML alternative as text, when it holds more than ``body`` (a table,
            links or words the plain text lacks); else None.
        html_body_truncated: Whether ``html_body`` was cut at the length limit.
        attached_messages: Forwarded messages, read in turn, each with the name it has in
            ``attachments``.
    """

    headers: dict[str, str]
    body: str
    body_truncated: bool
    attachments: list[Attachment]
    problems: list[str]
    html_body: str | None = None
    html_body_truncated: bool = False
    attached_messages: list[tuple[str, ParsedMessage]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Headers, body and attachments (names, types, sizes) as JSON-serialisable data.

        ``html_body`` is there only when the HTML holds more than the plain body, and
        ``attached_messages`` only when the message forwards others.
        """
        data: dict[str, Any] = {**self.headers, "body": self.body, "body_truncated": self.body_truncated}
        if self.html_body is not None:
            data["html_body"] = self.html_body
            data["html_body_truncated"] = self.html_body_truncated
        data["attachments"] = [
            {"name": a.name, "type": a.content_type, "size": a.size} for a in self.attachments
        ]
        if self.attached_messages:
            data["attached_messages"] = [
                {"attachment": name, **{k: v for k, v in inner.to_json().items() if v not in ("", [])}}
                for name, inner in self.attached_messages
            ]
        return data


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


def _part_bytes(part: Message) -> bytes:
    """A leaf's bytes: decoded content, or a forwarded message (or bounce report) as it reads."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return _payload_bytes(part)
    return b"\n".join(_message_bytes(p) for p in payload if isinstance(p, Message))


def _message_bytes(message: Message) -> bytes:
    """A parsed message written out again, as leniently as the parser read it."""
    try:
        return message.as_bytes(policy=policy.compat32)
    except (*_HEADER_ERRORS, RecursionError):
        return message.as_string(policy=policy.compat32).encode("utf-8", "surrogateescape")


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


_MAX_DEPTH = 50
"""How deep parts may nest; deeper is refused as a malformed (or hostile) message."""
_MAX_ATTACHED_MESSAGES = 20
"""How many forwarded messages one read opens in turn; the rest are only listed."""
_ATTACHED_DEPTH = 2
"""How many levels of forwarded messages are opened in turn (a forward inside a forward)."""
_TNEF = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})
"""Outlook's rich-text wrapper, which mail programs name winmail.dat."""
_EXTENSIONS = {"image/jpg": ".jpg", "image/pjpeg": ".jpg", "image/x-png": ".png", "text/calendar": ".ics"}
"""File endings for types that senders use but :mod:`mimetypes` does not know."""


@dataclass(frozen=True)
class _Leaf:
    """A part that is not a container: where it sits and what it is.

    Attributes:
        part: The part.
        alternative: The multipart/alternative it is one rendering in (an id), or None.
        nested: Whether it is inside a forwarded message (never the outer body then).
    """

    part: Message
    alternative: int | None
    nested: bool


def _is_message(part: Message) -> bool:
    return _content_type(part) == "message/rfc822"


def _walk(
    message: Message, alternative: int | None = None, nested: bool = False, depth: int = 0
) -> list[_Leaf]:
    """The message's leaves in order; a forwarded message is a leaf, then its own leaves follow."""
    if depth > _MAX_DEPTH:
        raise MessageError(f"The message nests its parts more than {_MAX_DEPTH} levels deep.")
    if not message.is_multipart():
        return [_Leaf(message, alternative, nested)]
    payload = message.get_payload()
    parts = [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []
    if _content_type(message) == "message/delivery-status":
        return [_Leaf(message, alternative, nested)]  # A bounce's report: one block of text.
    if _is_message(message):
        inner = [leaf for p in parts for leaf in _walk(p, None, True, depth + 1)]
        return [_Leaf(message, alternative, nested), *inner]
    if _content_type(message) == "multipart/alternative":
        alternative = id(message)
    return [leaf for p in parts for leaf in _walk(p, alternative, nested, depth + 1)]


def _inline_text(leaf: _Leaf, kind: str) -> bool:
    """Whether a leaf is (part of) the body in ``kind``: inline, unnamed, not forwarded."""
    part = leaf.part
    return (
        not leaf.nested
        and _content_type(part) == kind
        and _disposition(part) != "attachment"
        and _filename(part) is None
    )


def _body_parts(leaves: list[_Leaf], kind: str) -> list[Message]:
    """The body's parts in ``kind``: every inline one, but one per multipart/alternative."""
    found: list[Message] = []
    groups: set[int] = set()
    for leaf in leaves:
        if not _inline_text(leaf, kind):
            continue
        if leaf.alternative is not None:
            if leaf.alternative in groups:
                continue
            groups.add(leaf.alternative)
        found.append(leaf.part)
    return found


def _cut(text: str, limit: int) -> tuple[str, bool]:
    return (text[:limit], True) if len(text) > limit else (text, False)


def parse_message(raw: bytes, *, max_body_chars: int = MAX_BODY_CHARS, _depth: int = 0) -> ParsedMessage:
    """Reads a message: its headers, its body as plain text, and its attachments.

    The body is the message's inline text/plain parts (one per multipart/alternative), else
    its text/html parts turned into text. When both exist and the HTML holds more than the
    plain text (see :func:`html_adds_to`), the HTML's text is given too, as ``html_body``.
    Every other part is an attachment: files, inline images, parts of other text types,
    forwarded messages (``message/rfc822``, saved as ``.eml``), Outlook's ``winmail.dat``.
    Forwarded messages are also read in turn (``attached_messages``).

    Args:
        raw: The message's bytes (RFC 5322).
        max_body_chars: Longer body text is cut to this length (each of ``body`` and
            ``html_body``).

    Raises:
        MessageError: The bytes are not a readable message.
    """
    message = parse_bytes(raw)
    problems = [type(d).__name__ for d in getattr(message, "defects", [])]
    headers = {name.replace("-", "_"): header_text(message, name) for name in _READ_HEADERS}
    leaves = _walk(message)
    plain_parts = _body_parts(leaves, "text/plain")
    html_parts = _body_parts(leaves, "text/html")
    texts = [_part_text(p).replace("\r\n", "\n").strip() for p in plain_parts]
    plain = "\n\n".join(t for t in texts if t)
    html: HtmlText | None = None
    if html_parts:
        rendered = [render_html(_part_text(p)) for p in html_parts]
        html = HtmlText(
            "\n\n".join(r.text for r in rendered if r.text),
            [link for r in rendered for link in r.links],
            sum(r.data_rows for r in rendered),
        )
    html_body: str | None = None
    if not plain and html is not None:
        body = html.text
    else:
        body = plain
        if html is not None and html.text and html_adds_to(plain, html):
            html_body = html.text
    body, truncated = _cut(body, max_body_chars)
    html_truncated = False
    if html_body is not None:
        html_body, html_truncated = _cut(html_body, max_body_chars)
    body_parts = {id(p) for p in (*plain_parts, *html_parts)}
    attachments: list[Attachment] = []
    forwarded: list[Attachment] = []
    names: set[str] = set()
    for index, leaf in enumerate(leaves, start=1):
        part = leaf.part
        if id(part) in body_parts:
            continue
        kind = _content_type(part)
        if kind in ("text/plain", "text/html") and _disposition(part) != "attachment" and not _filename(part):
            # Another rendering of the body, or a forwarded message's body (read in turn below).
            continue
        name = _unique(_safe_name(_attachment_name(part, kind, index)), names)
        attachment = Attachment(name, kind, len(_part_bytes(part)), part)
        attachments.append(attachment)
        if _is_message(part) and not leaf.nested:
            forwarded.append(attachment)
    attached: list[tuple[str, ParsedMessage]] = []
    if _depth < _ATTACHED_DEPTH and forwarded:
        opened = forwarded[:_MAX_ATTACHED_MESSAGES]
        # Forwarded messages share a quarter of the body's budget, so a digest stays readable.
        limit = max(2_000, max_body_chars // (4 * len(opened)))
        for attachment in opened:
            with contextlib.suppress(MessageError):
                inner = parse_message(attachment.data(), max_body_chars=limit, _depth=_depth + 1)
                attached.append((attachment.name, inner))
    return ParsedMessage(headers, body, truncated, attachments, problems, html_body, html_truncated, attached)


def _attachment_name(part: Message, kind: str, index: int) -> str:
    """A part's file name; one made from its kind (or subject) when it has none."""
    name = _filename(part)
    if name:
        return name
    if kind in _TNEF:
        return "winmail.dat"
    if _is_message(part):
        inner = part.get_payload(0) if part.is_multipart() else None
        subject = header_text(inner, "subject") if isinstance(inner, Message) else ""
        return f"{subject[:80].strip() or f'message-{index}'}.eml"
    extension = mimetypes.guess_extension(kind) or _EXTENSIONS.get(kind)
    if extension is None:
        extension = ".txt" if kind.startswith(("text/", "message/")) else ".bin"
    return f"part-{index}{extension}"


def _safe_name(name: str) -> str:
    """A file name without folders, control characters or characters Windows refuses in names
    (``Fwd: offer`` becomes ``Fwd_ offer``), so it can be saved as it is anywhere."""
    name = re.sub(r'[\x00-\x1f/\\:*?"<>|]', "_", name).strip().strip(".")
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
