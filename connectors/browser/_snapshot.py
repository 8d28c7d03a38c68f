"""What the model reads of a page: its accessibility tree as compact text, and its tables.

The tree is Playwright's AI snapshot (``page.aria_snapshot(mode="ai")``), the form its MCP
server uses: one element a line, indented by nesting, each element the page lets one act on
carrying ``[ref=eN]``. The ref is what the action tools take; Playwright resolves it with its
``aria-ref=eN`` selector against the page's latest AI snapshot, so no other snapshot may be
taken in between (a default-mode snapshot would replace it).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from connectors.base import ToolError

if TYPE_CHECKING:
    from playwright.async_api import Locator

MAX_SNAPSHOT_CHARS = 24_000
"""The most characters of tree one reply holds (about 6,000 tokens); the rest is cut."""
SNAPSHOT_TIMEOUT = 30
"""Seconds a snapshot may take: about 10 for a page of 60,000 elements on a small machine."""
MAX_TABLE_ROWS = 500
"""The most rows one table in a browser_extract_table reply holds."""
MAX_TABLES = 10
"""The most tables one browser_extract_table reply holds."""
LONG_TEXT_WORDS = 60
"""A text block longer than this many words is summarised in a snapshot (its first words and a
pointer to :data:`FULL_TEXT_TOOL`)."""
SUMMARY_WORDS = 25
"""How many words of a long text block a snapshot keeps."""
SNAPSHOT_ROWS = 30
"""The most plain rows (no element to act on) of one table a snapshot shows; the others are
counted, with a pointer to browser_extract_table. A row one can act on is always shown."""
FULL_TEXT_TOOL = "browser_extract_text"
"""The tool a summarised text block points to for its whole text."""
MAX_TEXT_CHARS = 40_000
"""The most characters of text one browser_extract_text reply holds."""

ACTIONABLE_ROLES = frozenset(
    {
        "button", "link", "textbox", "searchbox", "combobox", "listbox", "checkbox", "radio",
        "switch", "slider", "spinbutton", "menuitem", "menuitemcheckbox", "menuitemradio", "tab",
        "treeitem", "option", "table", "grid", "treegrid", "iframe", "columnheader", "dialog",
        "form", "summary",
    }
)  # fmt: skip
"""Roles whose elements keep their ref: what one can act on, and tables (to extract them)."""

_LINE = re.compile(r"^(?P<indent> *)- (?P<role>[a-z]+)(?P<rest>.*)$")
_REF = re.compile(r" \[ref=(?:f\d+)?e\d+\]")
_REF_ID = re.compile(r" \[ref=((?:f\d+)?e\d+)\]")
_HEAD_AND_TEXT = re.compile(r'^(?P<head>(?: "(?:[^"\\]|\\.)*")?(?: \[[^\]]*\])*): (?P<text>.+)$')
_WORDLESS = re.compile(r"^[\W_]*$")
_DECORATIVE_ROLES = frozenset({"img", "separator", "presentation", "none"})
"""Roles that say nothing without a name: a nameless image, a rule between sections."""
_POINTER = " [cursor=pointer]"
_ROW_NAME = re.compile(r'^ "(?:[^"\\]|\\.)*"')


async def tree(page: Page) -> str:
    """The page's AI snapshot, compacted and capped at :data:`MAX_SNAPSHOT_CHARS`."""
    try:
        text = await page.aria_snapshot(mode="ai", timeout=SNAPSHOT_TIMEOUT * 1000)
    except PlaywrightTimeoutError as exc:
        raise ToolError(
            f"The page is too large to read within {SNAPSHOT_TIMEOUT} seconds. Use "
            "browser_extract_table for its tables, or open a smaller page (a search, a filter)."
        ) from exc
    return cap(compact(text))


def compact(text: str) -> str:
    """Drops what costs tokens and serves no action, keeping every ref one can act on.

    - Refs stay on elements one can act on (by role, or because the page gives them a
      pointer cursor, as a clickable ``div`` has) and on tables; other refs go.
    - A table row's name repeats its cells' text: it goes when the row lists its cells.
    - A nameless ``generic`` wrapper with nothing but children goes, its children moving up.
    - Decoration goes: a nameless image or separator, text with no letter or digit (a "·").
    - A text block longer than :data:`LONG_TEXT_WORDS` words keeps its first words and says
      how many more there are and how to read them:
      ``[n more words: browser_extract_text ref=eN]``.
    - The same text repeated line after line (a list of identical notices) is shown once,
      with how many more times it comes.
    - A link's address goes on its line: ``- link "Open" [ref=e5] → /contact/5``.
    - A table shows at most :data:`SNAPSHOT_ROWS` plain rows; the others are counted, with a
      pointer to ``browser_extract_table``. Rows one can act on are all kept.
    """
    out: list[str] = []
    dropped: list[int] = []  # indents of removed wrappers whose children move up
    refs: list[tuple[int, str]] = []  # (indent, ref) of the elements around the current line
    repeat: tuple[int, str] | None = None  # the last leaf line shown, to fold its repeats
    repeats = 0
    for line in text.splitlines():
        match = _LINE.match(line)
        if match is None:
            indent = len(line) - len(line.lstrip(" "))
            while dropped and indent <= dropped[-1]:
                dropped.pop()
            repeats = _end_repeat(out, repeats)
            repeat = None
            out.append(line[2 * len(dropped) :] if dropped else line)
            continue
        indent, role, rest = len(match["indent"]), match["role"], match["rest"]
        while dropped and indent <= dropped[-1]:
            dropped.pop()
        while refs and indent <= refs[-1][0]:
            refs.pop()
        own = _REF_ID.search(rest)
        if own is not None:
            refs.append((indent, own.group(1)))
        pointer = _POINTER in rest
        rest = rest.replace(_POINTER, "")
        actionable = role in ACTIONABLE_ROLES or pointer
        if not actionable:
            rest = _REF.sub("", rest)
        if role == "row" and rest.endswith(":"):
            rest = _ROW_NAME.sub("", rest)
        if role in ("generic", "rowgroup") and rest == ":":
            dropped.append(indent)
            continue
        if not actionable and _decorative(role, rest):
            continue
        key = (indent, role + rest)
        if not rest.endswith(":") and key == repeat:
            repeats += 1
            continue
        repeats = _end_repeat(out, repeats)
        repeat = key if not rest.endswith(":") else None
        if not actionable:
            rest = _summarised(rest, refs[-1][1] if refs else None)
        out.append(" " * (indent - 2 * len(dropped)) + "- " + role + rest)
    _end_repeat(out, repeats)
    return "\n".join(_fewer_rows(_flat_rows(_inline_urls(out))))


def _decorative(role: str, rest: str) -> bool:
    """Whether a line (one cannot act on) only decorates: a nameless image or separator, or
    text without a letter or a digit."""
    if rest.endswith(":"):
        return False
    if role in _DECORATIVE_ROLES and not rest.startswith(' "'):
        return True
    match = _HEAD_AND_TEXT.match(rest)
    return match is not None and not match["head"] and _WORDLESS.match(match["text"]) is not None


def _end_repeat(out: list[str], repeats: int) -> int:
    """Says on the last line shown how many more times it came; returns 0 (no run open)."""
    if repeats:
        out[-1] += f" [the same {repeats} more time{'s' if repeats > 1 else ''}]"
    return 0


def _summarised(rest: str, ref: str | None) -> str:
    """A line's text, its first :data:`SUMMARY_WORDS` words if it is long (and a ref says
    where the rest is); the line as it was otherwise."""
    if ref is None:
        return rest
    match = _HEAD_AND_TEXT.match(rest)
    if match is None:
        return rest
    words = match["text"].split()
    if len(words) <= LONG_TEXT_WORDS:
        return rest
    kept = " ".join(words[:SUMMARY_WORDS])
    more = len(words) - SUMMARY_WORDS
    return f"{match['head']}: {kept} … [{more} more words: {FULL_TEXT_TOOL} ref={ref}]"


_URL = re.compile(r"^(?P<indent> *)- /url: (?P<url>.+)$")


def _inline_urls(lines: list[str]) -> list[str]:
    """Puts a link's address on its line when the address is its only child."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.endswith(":") and i + 1 < len(lines):
            indent = len(line) - len(line.lstrip(" "))
            url = _URL.match(lines[i + 1])
            ends = i + 2 >= len(lines) or len(lines[i + 2]) - len(lines[i + 2].lstrip(" ")) <= indent
            if url is not None and len(url["indent"]) == indent + 2 and ends:
                out.append(f"{line[:-1]} → {url['url']}")
                i += 2
                continue
        out.append(line)
        i += 1
    return out


_TABLE_ROLES = ("- table", "- grid", "- treegrid")


def _fewer_rows(lines: list[str]) -> list[str]:
    """Keeps a table's first :data:`SNAPSHOT_ROWS` plain rows and counts the others.

    A plain row is one line (``- row: "a" | "b"``, see :func:`_flat_rows`) with nothing to act
    on. The rows left out are said in their place, with the table's ref for
    ``browser_extract_table``; a row that carries a ref is always kept.
    """
    out: list[str] = []
    table_ref = ""
    shown = 0  # plain rows shown at this table
    hidden = 0  # plain rows left out since the last line shown
    row_indent = -1
    for line in lines:
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        plain_row = stripped.startswith("- row: ") and _REF.search(stripped) is None
        if hidden and not (plain_row and indent == row_indent):
            out.append(" " * row_indent + _rows_left_out(hidden, table_ref))
            hidden = 0
        if stripped.startswith(_TABLE_ROLES):
            own = _REF_ID.search(stripped)
            table_ref, shown, row_indent = (own.group(1) if own else ""), 0, -1
        if plain_row:
            if row_indent != indent:
                row_indent = indent
            if shown >= SNAPSHOT_ROWS:
                hidden += 1
                continue
            shown += 1
        out.append(line)
    if hidden:
        out.append(" " * row_indent + _rows_left_out(hidden, table_ref))
    return out


def _rows_left_out(count: int, table_ref: str) -> str:
    where = f" ref={table_ref}" if table_ref else ""
    return f"- … [{count:,} more row{'s' if count > 1 else ''}: browser_extract_table{where}]"


_CELL = re.compile(r'^(?P<indent> *)- (?:cell|gridcell|rowheader)(?: (?P<name>"(?:[^"\\]|\\.)*"))?$')


def _flat_rows(lines: list[str]) -> list[str]:
    """Writes a table row whose cells are plain text on one line: ``- row: "a" | "b"``."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip(" ")
        if stripped == "- row:":
            indent = len(line) - len(stripped)
            cells: list[str] = []
            j = i + 1
            while j < len(lines):
                match = _CELL.match(lines[j])
                if match is None or len(match["indent"]) != indent + 2:
                    break
                cells.append(match["name"] or '""')
                j += 1
            ends = j >= len(lines) or len(lines[j]) - len(lines[j].lstrip(" ")) <= indent
            if cells and ends:
                out.append(" " * indent + "- row: " + " | ".join(cells))
                i = j
                continue
        out.append(line)
        i += 1
    return out


def cap(text: str, limit: int = MAX_SNAPSHOT_CHARS) -> str:
    """Cuts a snapshot at a line boundary, saying how much was left out."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit)
    cut = cut if cut > 0 else limit
    rest = text[cut:].count("\n") + 1
    return (
        text[:cut] + f"\n… [snapshot cut: {rest:,} more lines. The page is very large: use "
        "browser_extract_table for tables, or act on what is shown and snapshot again.]"
    )


_TABLES_JS = """(root, limits) => {
  const [maxTables, maxRows] = limits;
  const CELLS = '[role=cell],[role=gridcell],[role=columnheader],[role=rowheader]';
  const text = (el) => (el.innerText ?? el.textContent ?? '').replace(/\\s+/g, ' ').trim();
  let tables;
  if (root.tagName === 'TABLE') tables = [root];
  else if (root.closest && root.closest('table')) tables = [root.closest('table')];
  else tables = Array.from(root.querySelectorAll('table'));
  const grids = Array.from(root.querySelectorAll ? root.querySelectorAll('[role=grid],[role=table]') : [])
    .filter((g) => g.tagName !== 'TABLE');
  const out = [];
  for (const table of tables.slice(0, maxTables)) {
    const rows = Array.from(table.rows);
    let header = null;
    const body = [];
    for (const row of rows) {
      const cells = Array.from(row.cells).map(text);
      const isHead = row.parentElement && row.parentElement.tagName === 'THEAD'
        || (header === null && body.length === 0 && Array.from(row.cells).every((c) => c.tagName === 'TH'));
      if (isHead && header === null) header = cells;
      else body.push(cells);
    }
    const caption = table.caption ? text(table.caption) : (table.getAttribute('aria-label') || '');
    out.push({caption, header, rows: body.slice(0, maxRows), total_rows: body.length});
  }
  for (const grid of grids.slice(0, Math.max(0, maxTables - out.length))) {
    const rows = Array.from(grid.querySelectorAll('[role=row]'));
    let header = null;
    const body = [];
    for (const row of rows) {
      const heads = row.querySelectorAll('[role=columnheader]');
      const cells = Array.from(row.querySelectorAll(CELLS)).map(text);
      if (heads.length && header === null && body.length === 0) header = cells; else body.push(cells);
    }
    const caption = grid.getAttribute('aria-label') || '';
    out.push({caption, header, rows: body.slice(0, maxRows), total_rows: body.length});
  }
  return {tables: out, total_tables: tables.length + grids.length};
}"""


async def tables(target: Page | Locator) -> dict[str, Any]:
    """The tables in a page, or the one table at (or around) an element.

    Returns:
        ``{"tables": [{"caption", "header", "rows", "total_rows"}], "total_tables"}``, each
        row a list of cell texts; ``header`` is None when the table has no header row.
    """
    limits = [MAX_TABLES, MAX_TABLE_ROWS]
    if _is_page(target):
        result = await target.locator("html").evaluate(_TABLES_JS, limits)
    else:
        result = await target.evaluate(_TABLES_JS, limits)
    return result if isinstance(result, dict) else {"tables": [], "total_tables": 0}


def _is_page(target: Page | Locator) -> bool:
    return isinstance(target, Page)


_TEXT_JS = """(el) => (el.innerText ?? el.textContent ?? '').replace(/[ \\t]+/g, ' ')
  .replace(/\\n\\s*\\n+/g, '\\n\\n').trim()"""


async def text_of(target: Page | Locator) -> str:
    """The whole text of an element (or of the page), as the page shows it, capped at
    :data:`MAX_TEXT_CHARS`: what a summarised block of a snapshot points to."""
    if _is_page(target):
        value = await target.locator("body").evaluate(_TEXT_JS)
    else:
        value = await target.evaluate(_TEXT_JS)
    text = str(value or "")
    if len(text) > MAX_TEXT_CHARS:
        more = len(text[MAX_TEXT_CHARS:].split())
        text = text[:MAX_TEXT_CHARS] + f" … [cut: {more:,} more words]"
    return text


_DESCRIBE_JS = """(el) => {
  const tag = el.tagName.toLowerCase();
  const label = (el.getAttribute('aria-label') || el.innerText || el.value || el.name || el.id || '')
    .replace(/\\s+/g, ' ').trim().slice(0, 80);
  const type = el.getAttribute('type');
  return tag + (type ? '[type=' + type + ']' : '') + (label ? ' "' + label + '"' : '');
}"""


async def describe(locator: Locator) -> str:
    """A short description of an element, e.g. ``button "Send"``, for previews."""
    try:
        text = await locator.evaluate(_DESCRIBE_JS, timeout=2000)
    except PlaywrightError:
        return ""
    return str(text)
