"""Reading OpenDocument text files (.odt, LibreOffice's format) with odfpy.

Only reading: the text body's headings, paragraphs, list items and tables in order, the
master pages' headers and footers, and comments (annotations). Blocks come out in the same
shape as a Word document's (see :mod:`connectors.documents._word`), so ``doc_read`` answers
alike for both.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from xml.parsers.expat import ExpatError

from odf import opendocument  # type: ignore[import-untyped]  # odfpy ships no type information.
from odf.element import Node  # type: ignore[import-untyped]
from odf.namespaces import DCNS, OFFICENS, STYLENS, TABLENS, TEXTNS  # type: ignore[import-untyped]

from connectors.base import ToolError
from connectors.documents._common import check_package

if TYPE_CHECKING:
    from pathlib import Path

MAX_REPEATED_CELLS = 64
"""The most copies of one repeated table cell shown (LibreOffice repeats empty cells to the edge)."""


@dataclass
class OdtContent:
    """What ``doc_read`` shows of an .odt file.

    Attributes:
        blocks: Paragraphs (``{"type": "paragraph", "paragraph": i, "style", "text"}``, headings
            with ``"level"``, list items with ``"list_level"``) and tables (``{"type":
            "table", "table": k, "rows": [[cell text]]}``), in reading order.
        headers: ``{"section": page style, "kind": "header"|"footer", "text"}`` entries.
        comments: ``{"author", "date", "text", "paragraph"}`` entries.
    """

    blocks: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)


class _Reader:
    def __init__(self, document: Any) -> None:
        self.content = OdtContent()
        self.paragraphs = 0
        self.tables = 0
        self.parents: dict[str, str] = {}
        self.display: dict[str, str] = {}
        for container in (document.automaticstyles, document.styles):
            for style in container.childNodes:
                if style.qname != (STYLENS, "style"):
                    continue
                name = style.getAttrNS(STYLENS, "name")
                parent = style.getAttrNS(STYLENS, "parent-style-name")
                display = style.getAttrNS(STYLENS, "display-name")
                if container is document.automaticstyles and parent:
                    self.parents[name] = parent
                if display:
                    self.display[name] = display

    def style_name(self, element: Any) -> str | None:
        name = element.getAttrNS(TEXTNS, "style-name")
        if not name:
            return None
        name = self.parents.get(name, name)
        return str(self.display.get(name, name.replace("_20_", " ")))

    def text(self, element: Any, *, in_paragraph: int | None = None) -> str:
        """The text of an element: spaces, tabs and line breaks as written; comments set aside."""
        parts: list[str] = []
        for child in element.childNodes:
            if child.nodeType == Node.TEXT_NODE:
                parts.append(child.data)
                continue
            if child.nodeType != Node.ELEMENT_NODE:
                continue
            qname = child.qname
            if qname == (TEXTNS, "s"):
                parts.append(" " * int(child.getAttrNS(TEXTNS, "c") or 1))
            elif qname == (TEXTNS, "tab"):
                parts.append("\t")
            elif qname == (TEXTNS, "line-break"):
                parts.append("\n")
            elif qname == (OFFICENS, "annotation"):
                self.comment(child, in_paragraph)
            elif qname in ((OFFICENS, "annotation-end"), (TEXTNS, "note")):
                continue  # A comment's end mark, or a footnote's body (not part of the line).
            else:
                parts.append(self.text(child, in_paragraph=in_paragraph))
        return "".join(parts)

    def comment(self, annotation: Any, paragraph: int | None) -> None:
        author = date = ""
        lines = []
        for child in annotation.childNodes:
            if child.qname == (DCNS, "creator"):
                author = self.text(child)
            elif child.qname == (DCNS, "date"):
                date = self.text(child)
            elif child.qname in ((TEXTNS, "p"), (TEXTNS, "h")):
                lines.append(self.text(child))
        self.content.comments.append(
            {"author": author, "date": date, "text": "\n".join(lines), "paragraph": paragraph}
        )

    def walk(self, parent: Any, list_level: int = 0) -> None:
        for child in parent.childNodes:
            if child.nodeType != Node.ELEMENT_NODE:
                continue
            qname = child.qname
            if qname in ((TEXTNS, "p"), (TEXTNS, "h")):
                index = self.paragraphs
                self.paragraphs += 1
                block: dict[str, Any] = {
                    "type": "paragraph",
                    "paragraph": index,
                    "style": self.style_name(child),
                    "text": self.text(child, in_paragraph=index),
                }
                if qname == (TEXTNS, "h"):
                    block["level"] = int(child.getAttrNS(TEXTNS, "outline-level") or 1)
                if list_level:
                    block["list_level"] = list_level
                self.content.blocks.append(block)
            elif qname == (TEXTNS, "list"):
                for item in child.childNodes:
                    if item.nodeType == Node.ELEMENT_NODE:
                        self.walk(item, list_level + 1)
            elif qname == (TABLENS, "table"):
                rows: list[list[str]] = []
                self.rows(child, rows)
                self.content.blocks.append({"type": "table", "table": self.tables, "rows": rows})
                self.tables += 1
            elif qname in ((TEXTNS, "section"), (TEXTNS, "index-body")) or qname[1].endswith("-index"):
                self.walk(child, list_level)

    def rows(self, parent: Any, rows: list[list[str]]) -> None:
        for child in parent.childNodes:
            if child.nodeType != Node.ELEMENT_NODE:
                continue
            if child.qname == (TABLENS, "table-row"):
                cells: list[str] = []
                for cell in child.childNodes:
                    if cell.nodeType != Node.ELEMENT_NODE or cell.qname[0] != TABLENS:
                        continue
                    if cell.qname[1] not in ("table-cell", "covered-table-cell"):
                        continue
                    text = "\n".join(
                        self.text(p) for p in cell.childNodes if p.qname in ((TEXTNS, "p"), (TEXTNS, "h"))
                    )
                    repeat = int(cell.getAttrNS(TABLENS, "number-columns-repeated") or 1)
                    cells.extend([text] * min(repeat, MAX_REPEATED_CELLS))
                while cells and not cells[-1]:
                    cells.pop()
                rows.append(cells)
            elif child.qname[0] == TABLENS and child.qname[1] in (
                "table-header-rows",
                "table-rows",
                "table-row-group",
            ):
                self.rows(child, rows)

    def headers(self, document: Any) -> None:
        for page in document.masterstyles.childNodes:
            if page.qname != (STYLENS, "master-page"):
                continue
            name = page.getAttrNS(STYLENS, "display-name") or page.getAttrNS(STYLENS, "name")
            for part in page.childNodes:
                if part.nodeType != Node.ELEMENT_NODE or part.qname[0] != STYLENS:
                    continue
                kind = part.qname[1]  # header, footer, header-left, footer-left, header-first, …
                if not kind.startswith(("header", "footer")):
                    continue
                text = "\n".join(
                    self.text(p) for p in part.childNodes if p.qname in ((TEXTNS, "p"), (TEXTNS, "h"))
                ).strip()
                if text:
                    self.content.headers.append({"section": name, "kind": kind, "text": text})


def read_odt(path: Path, given: str) -> OdtContent:
    """Reads an .odt file's headings, paragraphs, lists, tables, headers, footers and comments.

    Args:
        path: The file, absolute.
        given: The path as the model gave it, for messages.

    Returns:
        Its content in reading order.

    Raises:
        ToolError: The file is not an OpenDocument text file, or is damaged.
    """
    check_package(path, given, "OpenDocument text file", ["content.xml"])
    try:
        document = opendocument.load(str(path))
    except (ExpatError, zipfile.BadZipFile, KeyError, ValueError, AttributeError) as exc:
        raise ToolError(
            f"'{given}' could not be read as an OpenDocument text file: it is damaged ({exc})."
        ) from exc
    if document.mimetype not in (
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.text-template",
    ):
        raise ToolError(
            f"'{given}' is not an OpenDocument text file (it is {document.mimetype or 'of no known type'})."
        )
    reader = _Reader(document)
    reader.walk(document.text)
    reader.headers(document)
    return reader.content
