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
    """
    out: list[str] = []
    dropped: list[int] = []  # indents of removed wrappers whose children move up
    for line in text.splitlines():
        match = _LINE.match(line)
        if match is None:
            indent = len(line) - len(line.lstrip(" "))
            while dropped and indent <= dropped[-1]:
                dropped.pop()
            out.append(line[2 * len(dropped) :] if dropped else line)
            continue
        indent, role, rest = len(match["indent"]), match["role"], match["rest"]
        while dropped and indent <= dropped[-1]:
            dropped.pop()
        pointer = _POINTER in rest
        rest = rest.replace(_POINTER, "")
        if role not in ACTIONABLE_ROLES and not pointer:
            rest = _REF.sub("", rest)
        if role == "row" and rest.endswith(":"):
            rest = _ROW_NAME.sub("", rest)
        if role in ("generic", "rowgroup") and rest == ":":
            dropped.append(indent)
            continue
        out.append(" " * (indent - 2 * len(dropped)) + "- " + role + rest)
    return "\n".join(_flat_rows(out))


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
