"""What the lead sees of the mission's folders before it plans: a short listing of each.

So that "the budget file" resolves to ``reports/budget-2026.xlsx`` without a question, the
lead's first prompt carries each workspace folder's entries (names, kinds, sizes, dates),
breadth first and capped; a sub-agent lists more with ``files_list``. File names are
written by whoever made the files, so the listing is marked as outside content.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

from connectors.base import TEMP_SUFFIX, untrusted

if TYPE_CHECKING:
    from collections.abc import Sequence

MAX_ENTRIES = 60
"""The most entries listed per folder; the rest are counted."""

MAX_DEPTH = 3
"""How deep below a workspace folder the listing goes."""

_KINDS = {
    ".xlsx": "spreadsheet",
    ".xlsm": "spreadsheet",
    ".xls": "spreadsheet",
    ".ods": "spreadsheet",
    ".csv": "table",
    ".docx": "Word document",
    ".odt": "document",
    ".pdf": "PDF",
    ".pptx": "slide deck",
    ".odp": "slide deck",
    ".txt": "text",
    ".md": "text",
    ".json": "data",
    ".ics": "calendar",
    ".eml": "email",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".gif": "image",
    ".webp": "image",
}


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    size = float(n)
    for unit in ("KB", "MB", "GB"):
        size /= 1024
        if size < 1024 or unit == "GB":
            break
    return f"{size:.1f} {unit}"


def _hidden(name: str) -> bool:
    return name.startswith((".", "~$")) or name.endswith(TEMP_SUFFIX)


def listing(folder: Path, *, limit: int = MAX_ENTRIES, depth: int = MAX_DEPTH) -> str:
    """A compact listing of a folder, breadth first: one line per entry, capped.

    Args:
        folder: A workspace folder (absolute).
        limit: The most entries shown; a last line counts the others.
        depth: How many levels below ``folder`` are listed.

    Returns:
        Lines such as ``"reports/budget.xlsx (spreadsheet, 24.1 KB, 2026-11-30)"``, or a
        sentence saying the folder is empty or cannot be read. Hidden files, Office lock
        files and Ensemble's temporary files are left out.
    """
    lines: list[str] = []
    more = 0
    queue: deque[tuple[Path, int]] = deque([(folder, 0)])
    while queue:
        current, level = queue.popleft()
        try:
            with os.scandir(current) as scan:
                entries = sorted((e for e in scan if not _hidden(e.name)), key=lambda e: e.name.casefold())
        except OSError:
            if current == folder:
                return "(this folder cannot be read)"
            continue
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            relative = Path(entry.path).relative_to(folder).as_posix()
            if len(lines) >= limit:
                more += 1
                continue
            if is_dir:
                lines.append(f"{relative}/")
                if level + 1 < depth:
                    queue.append((Path(entry.path), level + 1))
                continue
            kind = _KINDS.get(os.path.splitext(entry.name)[1].lower(), "file")
            day = dt.datetime.fromtimestamp(info.st_mtime).date().isoformat()
            lines.append(f"{relative} ({kind}, {_size(info.st_size)}, {day})")
    if not lines:
        return "(empty)"
    if more:
        lines.append(f"…and {more} more entries (a sub-agent can list them with files_list).")
    return "\n".join(lines)


def workspace_overview(workspaces: Sequence[Path]) -> str:
    """Every workspace folder with its listing, marked as outside content for the model.

    Args:
        workspaces: The mission's folders (absolute).
    """
    parts = [f"{folder}:\n{listing(folder)}" for folder in workspaces]
    if not parts:
        return "(no folders were granted)"
    return untrusted("\n\n".join(parts), "the names of the files in the workspace folders")
