"""Documents benchmark: reading a long Word document, and listing a large folder.

Builds its files in a temporary folder and prints, measured in the same run:

1. ``doc_read`` of a 200-page .docx (a cold read: the whole document parsed, its first page
   returned) against python-docx alone reading every paragraph's text and every table's
   cells: the ratio (goal <= 1.5). Also against python-docx reading the style names too, as
   doc_read does (python-docx looks each style up in the XML, which is slow), and the bare
   ``docx.Document()`` open for scale. Also the time to page through the whole
   document with ``next_start`` (parsed once, then served from doc_read's cache).
2. ``files_list`` of a folder of 10,000 files (100 folders of 100), whole tool call
   including the JSON of its first page: the time (goal <= 0.3 s) and the ratio to a plain
   ``os.walk`` that only collects the names.

Each figure is the best of several runs, to keep other processes' noise out.

Usage: python bench/bench_documents.py [--runs N] [--pages N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docx

from connectors.base import ToolContext, outside_text
from connectors.documents import TOOLS, _word

if TYPE_CHECKING:
    from collections.abc import Callable

TOOL = {tool.name: tool for tool in TOOLS}
WORDS = (
    "the invoice for march was paid late because the supplier sent it to the wrong address and "
    "accounts asked for a copy before approving the transfer to the new bank account"
).split()


def make_long_document(path: Path, pages: int) -> tuple[int, int]:
    """Writes a document of about ``pages`` pages: per page a heading every fifth page, eight
    paragraphs of about 60 words, and a 6 x 4 table every fourth page. Returns (paragraphs, tables)."""
    document = docx.Document()
    paragraphs = tables = 0
    for page in range(pages):
        if page % 5 == 0:
            document.add_heading(f"Chapter {page // 5 + 1}", level=1)
            paragraphs += 1
        for i in range(8):
            words = [WORDS[(page * 7 + i * 3 + k) % len(WORDS)] for k in range(60)]
            document.add_paragraph(
                " ".join(words).capitalize() + ".", style="List Bullet" if i == 7 else None
            )
            paragraphs += 1
        if page % 4 == 0:
            table = document.add_table(rows=6, cols=4)
            for r, row in enumerate(table.rows):
                for c, cell in enumerate(row.cells):
                    cell.text = f"R{r}C{c} {WORDS[(r + c + page) % len(WORDS)]}"
            tables += 1
    document.save(str(path))
    return paragraphs, tables


def python_docx_read(path: Path) -> int:
    """The same reading done with python-docx's own API: styles, texts, table cells."""
    document = docx.Document(str(path))
    count = 0
    for paragraph in document.paragraphs:
        _ = (paragraph.style.name if paragraph.style is not None else None, paragraph.text)
        count += 1
    for table in document.tables:
        for row in table.rows:
            _cells = [cell.text for cell in row.cells]
    return count


def python_docx_text(path: Path) -> int:
    """The least python-docx reading: texts only, no style names (which it looks up slowly)."""
    document = docx.Document(str(path))
    count = 0
    for paragraph in document.paragraphs:
        _ = paragraph.text
        count += 1
    for table in document.tables:
        for row in table.rows:
            _cells = [cell.text for cell in row.cells]
    return count


def best(runs: int, work: Callable[[], Any]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


async def tool_json(ctx: ToolContext, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    tool = TOOL[name]
    output = await tool.run(ctx, tool.parse(arguments))
    data: dict[str, Any] = json.loads(outside_text(output.text))
    return data


def main(runs: int, pages: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ctx = ToolContext(workspaces=[root], backup_dir=root / "backups")

        long_doc = root / "long.docx"
        paragraphs, tables = make_long_document(long_doc, pages)
        size = long_doc.stat().st_size

        def doc_read_cold() -> None:
            _word._CACHE.clear()  # A cold read: nothing parsed yet.
            asyncio.run(tool_json(ctx, "doc_read", {"path": "long.docx"}))

        def page_through() -> int:
            _word._CACHE.clear()
            start, calls = 0, 0
            while True:
                page = asyncio.run(tool_json(ctx, "doc_read", {"path": "long.docx", "start": start}))
                calls += 1
                if "next_start" not in page:
                    return calls
                start = page["next_start"]

        doc_read_cold()  # Warm up imports and the file cache.
        python_docx_read(long_doc)
        ours = best(runs, doc_read_cold)
        theirs = best(max(1, runs // 2), lambda: python_docx_read(long_doc))
        texts_only = best(runs, lambda: python_docx_text(long_doc))
        bare = best(runs, lambda: docx.Document(str(long_doc)))
        pages_calls = page_through()
        paging = best(max(1, runs // 2), page_through)

        folder = root / "many"
        folder.mkdir()
        for i in range(100):
            sub = folder / f"folder{i:03}"
            sub.mkdir()
            for j in range(100):
                (sub / f"file{j:03}.txt").write_bytes(b"x" * j)
        list_ctx = ToolContext(workspaces=[folder], backup_dir=root / "backups")

        def files_list() -> None:
            listing = asyncio.run(tool_json(list_ctx, "files_list", {}))
            assert listing["total"] == 10_100, listing["total"]

        def files_list_docs() -> None:
            asyncio.run(tool_json(list_ctx, "files_list", {"pattern": "*.txt", "limit": 1000}))

        def walk() -> None:
            names = []
            for _top, dirs, files in os.walk(folder):
                names.extend(dirs)
                names.extend(files)
            assert len(names) == 10_100

        files_list()
        listed = best(runs, files_list)
        listed_docs = best(runs, files_list_docs)
        walked = best(runs, walk)

    print(f"Best of {runs} runs each.")
    print(
        f"1. doc_read of a {pages}-page .docx ({paragraphs:,} paragraphs, {tables} tables, "
        f"{size / 1024:.0f} KB): "
        f"{ours * 1000:.0f} ms; python-docx alone, texts only {texts_only * 1000:.0f} ms: ratio "
        f"{ours / texts_only:.2f} (goal <= 1.5)"
    )
    print(
        f"   python-docx alone with style names too (what doc_read gives): {theirs * 1000:.0f} ms, "
        f"ratio {ours / theirs:.2f}"
    )
    print(
        f"   for scale: docx.Document() open alone {bare * 1000:.0f} ms "
        f"(doc_read / open = {ours / bare:.2f}); "
        f"paging through all of it: {pages_calls} calls, {paging * 1000:.0f} ms"
    )
    print(
        f"2. files_list of 10,000 files in 100 folders (first 200 entries): {listed * 1000:.0f} ms "
        "(goal <= 300 ms); "
        f"os.walk {walked * 1000:.0f} ms; ratio {listed / walked:.1f}"
    )
    print(f"   with pattern '*.txt' and a 1,000-entry page: {listed_docs * 1000:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (the best is kept)")
    parser.add_argument("--pages", type=int, default=200, help="pages of the long document")
    options = parser.parse_args()
    main(options.runs, options.pages)
