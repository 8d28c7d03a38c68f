"""Documents tools: files and folders, text files, Word documents (and PDF, slides, images).

The agent kind is assembled from parts, one module each, every part exporting ``TOOLS`` (its
tools) and ``PREVIEWS`` (the preview models they render):

- :mod:`._files`: list folders, read and write text files, make folders, copy, move, trash.
- :mod:`._word`: read .docx and .odt documents, create and edit .docx documents.
- :mod:`._pdf`: read PDFs, create them from text, merge, split, list and fill form fields.
- :mod:`._deck`: read, create and edit slide decks (.pptx).
- :mod:`._image`: show an image or a PDF page to the model, which reads it (scanned pages).

Adding a part is one line in :data:`_PARTS`. Helpers the parts share live in
:mod:`._common`; the preview models of these parts in :mod:`.previews`.

Everything read from a file reaches the model wrapped by :func:`~connectors.base.untrusted`;
every change is held by the approval gate, declares a fingerprint for crash recovery, and
can be undone from the audit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.documents import _deck, _files, _image, _pdf, _word
from connectors.registry import AgentKind

if TYPE_CHECKING:
    from types import ModuleType

    from connectors.base import PreviewDetail, Tool

__all__ = ["AGENT", "PREVIEWS", "TOOLS"]

_PARTS: tuple[ModuleType, ...] = (_files, _word, _pdf, _deck, _image)
"""The modules whose tools and previews make up the agent kind, in the order the model sees them."""


def _tools(parts: tuple[ModuleType, ...]) -> list[Tool[Any]]:
    tools: list[Tool[Any]] = []
    for part in parts:
        tools.extend(part.TOOLS)
    names = [t.name for t in tools]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise RuntimeError(f"Two documents parts declare the same tools: {', '.join(duplicates)}.")
    return tools


def _previews(parts: tuple[ModuleType, ...]) -> tuple[type[PreviewDetail], ...]:
    found: dict[str, type[PreviewDetail]] = {}
    for part in parts:
        for model in part.PREVIEWS:
            found.setdefault(model.kind, model)
    return tuple(found.values())


TOOLS: list[Tool[Any]] = _tools(_PARTS)
"""Every documents tool, for the engine's tool registry."""

PREVIEWS: tuple[type[PreviewDetail], ...] = _previews(_PARTS)
"""Every preview kind the documents tools render."""

AGENT = AgentKind(
    name="documents",
    description=(
        "Works with files and documents in the workspace: lists folders, reads text files and "
        "Word (.docx) or OpenDocument (.odt) documents, PDFs (scanned pages as images) and slide "
        "decks, looks at images, and proposes changes: writing text files, creating and editing "
        "Word documents and slide decks, creating, merging, splitting PDFs and filling their "
        "forms, making folders, copying, moving, renaming and trashing files."
    ),
    prompt="documents.md",
    tools=tuple(TOOLS),
    previews=PREVIEWS,
)
"""The documents agent kind (see :mod:`connectors.registry`)."""
