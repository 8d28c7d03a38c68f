"""The previews the documents agent's file and Word tools render: one typed model per kind."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from connectors.base import PreviewDetail

FileOperation = Literal["write_text", "make_folder", "copy", "move", "rename", "trash"]
"""What a file tool does to the file system, as its card names it."""


class DocumentDiffDetail(PreviewDetail):
    """A change to a document's text, shown as a unified diff of its lines.

    A document's "lines" are its text as a reader sees it, one line per paragraph (a heading
    marked with ``#`` signs, a list item with ``- ``, a table row as ``| a | b |``), so that a
    person can check a Word edit the way they would read a text diff.

    Attributes:
        path: The document, absolute.
        created: Whether the document is new (every line is added).
        diff: The unified diff, line by line (``"--- before"``, ``"+++ after"``, ``"@@ ... @@"``
            hunk headers, then lines starting with ``" "``, ``"-"`` or ``"+"``), at most
            :data:`~connectors.documents._common.MAX_DIFF_LINES` lines.
        truncated: Whether the diff was cut to that many lines.
        added: How many lines the change adds.
        removed: How many lines it removes.
        lines_before: How many lines the document has now (0 when created).
        lines_after: How many lines it will have.
        notes: What else the change does or cannot keep, in words.
    """

    kind: ClassVar[str] = "document_diff"

    path: str
    created: bool = False
    diff: list[str] = Field(default_factory=list)
    truncated: bool = False
    added: int = 0
    removed: int = 0
    lines_before: int = 0
    lines_after: int = 0
    notes: list[str] = Field(default_factory=list)


class FileOperationDetail(PreviewDetail):
    """A file or folder made, copied, moved, renamed or sent to the trash.

    Attributes:
        operation: What happens (see :data:`FileOperation`).
        source: The file or folder acted on, absolute (None when making a folder).
        target: Where it goes, absolute (None for the trash).
        is_folder: Whether the source (or the folder made) is a folder.
        size: The bytes involved: the file's size, or a folder's files in all.
        files: For a folder, how many files it holds.
        overwrite: Whether an existing file at the target will be replaced.
        overwritten_size: The size of the file replaced, when one is.
        notes: Anything else to know, in words (how it can be undone).
    """

    kind: ClassVar[str] = "file_operation"

    operation: FileOperation
    source: str | None = None
    target: str | None = None
    is_folder: bool = False
    size: int | None = None
    files: int | None = None
    overwrite: bool = False
    overwritten_size: int | None = None
    notes: list[str] = Field(default_factory=list)


PREVIEWS: tuple[type[PreviewDetail], ...] = (DocumentDiffDetail, FileOperationDetail)
"""The preview kinds of the file and Word tools."""
