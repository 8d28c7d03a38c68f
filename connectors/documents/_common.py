"""Helpers the documents agent's parts share: paths as shown, file states, packages, diffs.

Each part of the package (files, Word, PDF, slides, images) is one module exporting ``TOOLS``
and ``PREVIEWS``; what more than one of them needs lives here:

- :func:`shown` and :func:`source_label` name a file for the model and for cards.
- :func:`path_state` is the fingerprint every write declares (equal to what
  :func:`~connectors.base.commit_file` reports for a file), so crash recovery can tell whether
  a change happened; :func:`quick_state` is a cheaper one for moves.
- :func:`check_package` refuses a zip-based document (.docx, .pptx, .odt) that is broken,
  something else under that name, or crafted to unpack to far more than it holds, with a
  sentence a person can act on.
- :func:`diff_preview` renders a change to a document's text as a unified diff card
  (:class:`~connectors.documents.previews.DocumentDiffDetail`).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.base import Preview, ToolError, sha256_file
from connectors.documents.previews import DocumentDiffDetail

if TYPE_CHECKING:
    from collections.abc import Sequence

    from connectors.base import ToolContext

MAX_DIFF_LINES = 400
"""The most lines a diff card holds; the counts still cover the whole change."""

MAX_UNPACKED_BYTES = 512 * 1024 * 1024
"""The most bytes a document package's parts may unpack to, in all."""

MAX_PART_RATIO = 200
"""The most a big part (over 16 MB unpacked) may be compressed, as unpacked / packed."""

_CFB_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
"""An OLE compound file: an old .doc/.ppt file, or an encrypted (password-protected) .docx."""


def dumps(payload: Any) -> str:
    """JSON text for a tool result, keeping non-ASCII characters readable."""
    return json.dumps(payload, ensure_ascii=False)


def plural(count: int, word: str, many: str | None = None) -> str:
    """``"1 file"``, ``"3 files"``; ``many`` for irregular plurals."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


def shown(ctx: ToolContext, path: Path) -> str:
    """A path as the model and the person read it: relative to its workspace folder if inside one.

    Args:
        ctx: The call's context (its workspaces).
        path: An absolute, resolved path.
    """
    for root in ctx.workspaces:
        base = Path(root).resolve()
        if path == base:
            return "."
        if path.is_relative_to(base):
            return path.relative_to(base).as_posix()
    return str(path)


def source_label(what: str, path: Path) -> str:
    """The ``source`` of an :func:`~connectors.base.untrusted` block: ``"document notes.docx"``."""
    return f"{what} {path.name}"


def path_state(path: Path) -> str:
    """What a path holds now, as a write's fingerprint.

    Returns:
        ``"absent"``; a file's SHA-256 hex digest (what
        :func:`~connectors.base.commit_file` reports, so the two agree); or for a folder
        ``"folder:"`` and a digest of the relative names, sizes and modification times of
        everything in it.
    """
    if not path.exists() and not path.is_symlink():
        return "absent"
    if path.is_dir() and not path.is_symlink():
        return "folder:" + _folder_digest(path)
    if path.is_symlink() and not path.exists():
        return "link:" + os.readlink(path)
    return sha256_file(path)


def _folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for top, dirs, files in os.walk(folder):
        dirs.sort()
        rel = os.path.relpath(top, folder)
        for name in sorted(files):
            try:
                info = os.lstat(os.path.join(top, name))
            except OSError:
                continue
            digest.update(f"{rel}/{name}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
        for name in dirs:
            digest.update(f"{rel}/{name}/\n".encode())
    return digest.hexdigest()


def quick_state(path: Path) -> str:
    """A cheap state of a path, without reading it: ``"absent"``, ``"folder"``, or
    ``"file:SIZE:MTIME_NS"``; a rename keeps a file's, so a moved file is recognised."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return "absent"
    if path.is_dir() and not path.is_symlink():
        return "folder"
    return f"file:{info.st_size}:{info.st_mtime_ns}"


def folder_size(folder: Path) -> tuple[int, int]:
    """A folder's files, counted: ``(how many, their bytes in all)``, links not followed."""
    count = total = 0
    for top, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(top, name)).st_size
            except OSError:
                continue
            count += 1
    return count, total


def _looks_like(head: bytes) -> str:
    """What a file that is not the package it claims to be seems to be, as a sentence."""
    if not head:
        return " The file is empty (0 bytes)."
    if head.startswith(_CFB_MAGIC):
        return (
            " It is an older Office file or a password-protected one; open it in Word or "
            "LibreOffice, remove the password if any, and save it in the newer format."
        )
    if head.startswith(b"%PDF"):
        return " It is really a PDF file."
    if head.lstrip()[:1] in (b"<", b"{"):
        return " It is really a text file (XML, HTML or JSON)."
    return ""


def check_package(path: Path, shown_path: str, what: str, required: Sequence[str] = ()) -> None:
    """Checks that a zip-based document can be opened safely, before a library opens it.

    Args:
        path: The file, absolute.
        shown_path: The path as the model gave it, for the message.
        what: The kind of document in words (``"Word document"``).
        required: Parts it must hold (``"[Content_Types].xml"``, ``"content.xml"``).

    Raises:
        ToolError: The file is not a zip archive (with a guess at what it is), is damaged,
            lacks a required part, or would unpack to more than :data:`MAX_UNPACKED_BYTES`
            (or holds a part compressed more than :data:`MAX_PART_RATIO` times).
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(2048)
    except OSError as exc:
        raise ToolError(f"'{shown_path}' could not be read: {exc.strerror or exc}.") from exc
    if not head.startswith(b"PK"):
        raise ToolError(f"'{shown_path}' is not a {what} (it is not a zip package).{_looks_like(head)}")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ToolError(
            f"'{shown_path}' is damaged: it is not a complete {what} ({exc}). It may have been cut "
            "short while copying or downloading; get the file again."
        ) from exc
    names = {info.filename for info in infos}
    missing = [part for part in required if part not in names]
    if missing:
        raise ToolError(
            f"'{shown_path}' is a zip archive but not a {what}: it has no {missing[0]}. It may be "
            "another kind of file renamed."
        )
    total = sum(info.file_size for info in infos)
    if total > MAX_UNPACKED_BYTES:
        raise ToolError(
            f"'{shown_path}' would unpack to {total / 2**20:,.0f} MB, more than the "
            f"{MAX_UNPACKED_BYTES / 2**20:,.0f} MB Ensemble reads from one {what}; it was not opened."
        )
    for info in infos:
        ratio = info.file_size // max(info.compress_size, 1)
        if info.file_size > 16 * 2**20 and ratio > MAX_PART_RATIO:
            raise ToolError(
                f"'{shown_path}' holds a part ({info.filename}) that unpacks {ratio:,} times larger than "
                "it is stored: it looks crafted to exhaust memory, so it was not opened."
            )


def diff_preview(
    summary: str,
    path: Path,
    before: Sequence[str],
    after: Sequence[str],
    *,
    created: bool = False,
    notes: Sequence[str] = (),
) -> Preview:
    """A card showing a change to a document's text as a unified diff.

    Args:
        summary: One sentence, e.g. ``"Edit report.docx: 2 replacements"``.
        path: The document, absolute.
        before: Its text lines now (empty when it is created).
        after: Its text lines after the change.
        created: Whether the document is new.
        notes: What else to know, in words.

    Returns:
        The preview, its detail a :class:`DocumentDiffDetail`.
    """
    diff = list(
        difflib.unified_diff(
            list(before), list(after), "before" if not created else "(new)", "after", n=2, lineterm=""
        )
    )
    added = sum(1 for line in diff if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in diff if line.startswith("-") and not line.startswith("---"))
    truncated = len(diff) > MAX_DIFF_LINES
    kept = diff[:MAX_DIFF_LINES]
    detail = DocumentDiffDetail(
        path=str(path),
        created=created,
        diff=kept,
        truncated=truncated,
        added=added,
        removed=removed,
        lines_before=len(before),
        lines_after=len(after),
        notes=list(notes),
    )
    text = [summary, f"{plural(added, 'line')} added, {plural(removed, 'line')} removed.", *kept]
    if truncated:
        text.append(f"… and {len(diff) - MAX_DIFF_LINES:,} more diff lines.")
    text.extend(f"Note: {note}" for note in notes)
    return Preview(summary=summary, detail=detail, text="\n".join(text))
