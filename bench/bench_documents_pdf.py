"""PDF reading benchmark: ``pdf_read`` of a 200-page PDF against pypdf alone, in the same run.

Makes a 200-page PDF in a private temporary folder (about 2,400 characters of text a page,
laid out by fpdf2 in DejaVu Sans, as ``pdf_create`` does), then times, alternately:

1. pypdf alone: open the file and extract the text of every page.
2. The tool: ``pdf_read`` called the way the model calls it, following ``next_pages`` until
   the whole document is read, with JSON and the ``<external_content>`` marker included. It
   starts cold each time (the parsed PDF that ``pdf_read`` keeps between calls is dropped).

It prints each one's median wall time and their ratio (goal <= 1.5), and, for scale, the first
reply alone (what the model gets on its first call).

Usage: python bench/bench_documents_pdf.py [--pages N] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

import pypdf

from connectors.base import ToolContext, outside_text
from connectors.documents import _pdf
from connectors.documents._pdf import TOOLS, PdfCreateArgs, _blocks, _render_pdf

GOAL = 1.5
TOOL = {tool.name: tool for tool in TOOLS}["pdf_read"]

PARAGRAPH = (
    "The committee met on Tuesday to review the quarterly figures. Revenue rose in every region "
    "except the north, where two large orders slipped into the next quarter. Costs stayed within "
    "the budget agreed in March; travel was lower than planned and licences slightly higher. "
)


def make_pdf(folder: Path, pages: int) -> Path:
    """A PDF of ``pages`` pages of plain paragraphs, one heading a page."""
    content = "\n---\n".join(
        f"# Section {n}\n\n" + "\n\n".join([PARAGRAPH * 2] * 4) for n in range(1, pages + 1)
    )
    args = PdfCreateArgs(path="bench.pdf", content=content)
    rendered = _render_pdf(_blocks(args.content), "Benchmark", args.page_size)
    path = folder / "bench.pdf"
    path.write_bytes(rendered.data)
    count = len(pypdf.PdfReader(path).pages)
    if count != pages:
        raise SystemExit(f"The benchmark PDF has {count} pages, not {pages}; adjust the text per page.")
    return path


def pypdf_alone(path: Path) -> int:
    reader = pypdf.PdfReader(io.BytesIO(path.read_bytes()))
    return sum(len(page.extract_text() or "") for page in reader.pages)


async def tool_whole(ctx: ToolContext) -> tuple[int, int]:
    """Reads the whole PDF through pdf_read, from cold; returns (characters, replies)."""
    # pdf_read keeps the parsed PDF between the calls of one read-through; a new read-through
    # starts without it, as when the model reads a PDF it has not opened before.
    _pdf._READERS.clear()
    args: dict[str, str] = {"path": "bench.pdf"}
    characters = replies = 0
    while True:
        output = await TOOL.run(ctx, TOOL.parse(args))
        replies += 1
        payload = json.loads(outside_text(output.text))
        characters += sum(len(p["text"]) for p in payload["pages"])
        if not payload.get("truncated"):
            return characters, replies
        args = {"path": "bench.pdf", "pages": payload["next_pages"]}


async def tool_first_reply(ctx: ToolContext) -> None:
    _pdf._READERS.clear()
    await TOOL.run(ctx, TOOL.parse({"path": "bench.pdf"}))


async def main(pages: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="ensemble-bench-pdf-") as folder:
        root = Path(folder)
        t0 = time.perf_counter()
        path = make_pdf(root, pages)
        made = time.perf_counter() - t0
        ctx = ToolContext(workspaces=[root], backup_dir=root / "backups")
        print(f"PDF: {pages} pages, {path.stat().st_size / 1e6:.2f} MB, made in {made:.1f} s")

        baseline: list[float] = []
        ours: list[float] = []
        first: list[float] = []
        expected = pypdf_alone(path)  # warm-up: imports, font caches, the file in the page cache
        characters, replies = await tool_whole(ctx)
        for _ in range(rounds):
            t0 = time.perf_counter()
            pypdf_alone(path)
            baseline.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            await tool_whole(ctx)
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            await tool_first_reply(ctx)
            first.append(time.perf_counter() - t0)

        base, tool, one = statistics.median(baseline), statistics.median(ours), statistics.median(first)
        ratio = tool / base
        print(f"1. pypdf alone, every page text:   median {base * 1000:8.1f} ms ({expected:,} characters)")
        print(
            f"2. pdf_read, whole document:       median {tool * 1000:8.1f} ms "
            f"({characters:,} characters in {replies} replies)"
        )
        print(f"   pdf_read, first reply only:     median {one * 1000:8.1f} ms")
        verdict = "OK" if ratio <= GOAL else "MISS"
        print(f"3. Ratio pdf_read / pypdf: {ratio:.2f} (goal <= {GOAL}) {verdict}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=200, help="pages in the benchmark PDF")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds of each")
    options = parser.parse_args()
    asyncio.run(main(options.pages, options.rounds))
