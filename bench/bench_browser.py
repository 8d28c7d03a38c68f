"""Benchmark of the browser tools: snapshot size against the page's HTML, and time per call.

Pages are made here and served from 127.0.0.1 (no network): a few shapes of office web app
(a price list, an order form, a CRM list with navigation, a long article, a data grid), with
the markup real apps carry (stylesheets, scripts, classes, data attributes).

Tokens are estimated as characters / 4 (the usual rule of thumb for English and markup), the
same for HTML and snapshot, so the ratio does not depend on the estimate.

For each page it prints the snapshot's tokens as a share of the page's tokens (its HTML text,
what a model reading the page raw would read: the goal's ratio) and, for reference, as a share
of the page's visible text (``innerText``: what a person reads; a snapshot adds the elements'
roles and refs to it, and shortens long or repeated text).

Run: ``.venv/bin/python bench/bench_browser.py [--json]``. The goal: a median snapshot at most
10% of the page's tokens on app-like pages (PASS or MISS).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors import browser
from connectors.base import Approval, Preview, ToolContext
from tests._webapp import WebApp

STYLE = (
    "<style>"
    + "".join(
        f".c{i}{{margin:{i}px;padding:{i % 7}px;color:#{i:03x};font-family:Inter,Arial,sans-serif}}"
        for i in range(300)
    )
    + "</style>"
)
SCRIPT = (
    "<script>"
    + "".join(
        f"function handler{i}(e){{window.__state=(window.__state||0)+{i};return e&&e.target;}}\n"
        for i in range(200)
    )
    + "</script>"
)
NAV = (
    "<nav class='c1 navbar'>"
    + "".join(
        f"<a class='c2 nav-link' data-track='nav-{i}' href='/section/{i}'>Section {i}</a>" for i in range(15)
    )
    + "</nav>"
)


def _page(title: str, body: str) -> str:
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>{STYLE}{SCRIPT}</head>"
        f"<body class='c0'>{NAV}<main class='c3 container'>{body}</main></body></html>"
    )


def _table(rows: int) -> str:
    head = (
        "<thead><tr>"
        + "".join(f"<th class='c4 col'>{h}</th>" for h in ("Item", "Code", "Price", "Stock"))
        + "</tr></thead>"
    )
    body = "".join(
        f"<tr class='c5 row' data-id='{i}'><td class='c6'><span class='c7'>Item {i}</span></td>"
        f"<td class='c6'>P-{i:04d}</td><td class='c6 num'>{i * 1.5:.2f}</td><td class='c6'>{i % 40}</td></tr>"
        for i in range(rows)
    )
    return f"<table class='c8 table table-striped' aria-label='Prices'>{head}<tbody>{body}</tbody></table>"


def _form() -> str:
    fields = "".join(
        f"<div class='c9 form-group'><label class='c10' for='f{i}'>Field {i}</label>"
        f"<input class='c11 form-control' id='f{i}' name='f{i}' data-validate='required'></div>"
        for i in range(12)
    )
    button = "<button class='c13 btn btn-primary'>Send</button>"
    return f"<form class='c12' method='post' action='/order'>{fields}{button}</form>"


def _crm(rows: int) -> str:
    cards = "".join(
        f"<div class='c14 card' data-contact='{i}'><div class='c15 card-body'>"
        f"<h3 class='c16'>Contact {i}</h3>"
        f"<p class='c17 muted'>contact{i}@example.com · +1 555 01{i:02d}</p>"
        f"<a class='c18 btn btn-link' href='/contact/{i}'>Open</a></div></div>"
        for i in range(rows)
    )
    return f"<h1>Contacts</h1>{cards}"


def _article() -> str:
    paragraph = "Payment terms are thirty days from the invoice date unless agreed otherwise in writing. "
    return (
        "<article class='c19'>"
        + "".join(f"<p class='c20'>{paragraph * 3}</p>" for _ in range(40))
        + "</article>"
    )


PAGES: dict[str, str] = {
    "/bench/prices": _page("Prices", "<h1>Price list</h1>" + _table(60)),
    "/bench/order": _page("Order", "<h1>Order</h1>" + _form()),
    "/bench/crm": _page("Contacts", _crm(40)),
    "/bench/article": _page("Terms", _article()),
    "/bench/grid": _page("Stock", _table(400)),
}


async def _approve(
    kind: str, effect: Any, arguments: dict[str, Any], preview: Preview, destinations: Any = ()
) -> Approval:
    return Approval("bench", True, arguments)


async def main(as_json: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, WebApp() as app:
        root = Path(tmp)
        (root / "ws").mkdir()
        for path, html in PAGES.items():
            app.extra_pages[path] = html
        ctx = ToolContext(
            workspaces=[root / "ws"],
            backup_dir=root / "backups",
            mission_id="bench",
            approve=_approve,
            vouches=lambda destination: destination.value == "127.0.0.1",
            extra={"browser": {"executable_path": "/usr/bin/chromium", "allowed_domains": ["127.0.0.1"]}},
        )
        tools = {t.name: t for t in browser.TOOLS}

        async def call(name: str, **arguments: Any) -> tuple[str, float]:
            tool = tools[name]
            t0 = time.perf_counter()
            output = await tool.run(ctx, tool.parse(arguments))
            return output.text, time.perf_counter() - t0

        timings: dict[str, list[float]] = {}
        _, first = await call("browser_open", url=app.url("/"))
        sizes = []
        for path, html in PAGES.items():
            _, seconds = await call("browser_open", url=app.url(path))
            timings.setdefault("browser_open", []).append(seconds)
            snapshot, seconds = await call("browser_snapshot")
            timings.setdefault("browser_snapshot", []).append(seconds)
            tree = snapshot.split("<external_content", 1)[1]
            visible, seconds = await call("browser_extract_text")
            timings.setdefault("browser_extract_text (whole page)", []).append(seconds)
            visible = visible.split(">", 1)[1].rsplit("</external_content>", 1)[0]
            sizes.append(
                {
                    "page": path,
                    "html_tokens": len(html) // 4,
                    "visible_text_tokens": len(visible) // 4,
                    "snapshot_tokens": len(tree) // 4,
                    "ratio": round(len(tree) / len(html), 4),
                    "ratio_to_visible_text": round(len(tree) / max(1, len(visible)), 4),
                }
            )
            _, seconds = await call("browser_extract_table")
            timings.setdefault("browser_extract_table", []).append(seconds)
        _, seconds = await call("browser_screenshot")
        timings.setdefault("browser_screenshot", []).append(seconds)
        form, _ = await call("browser_open", url=app.url("/order"))
        refs = dict(
            re.findall(r'- (?:textbox|spinbutton|button) "([^"]+)"[^\n]*\[ref=((?:f\d+)?e\d+)\]', form)
        )
        for _ in range(5):
            _, seconds = await call("browser_type", ref=refs["Item code"], text="T-200")
            timings.setdefault("browser_type", []).append(seconds)
        _, seconds = await call("browser_click", ref=refs["Place order"])
        timings.setdefault("browser_click (form post, approved at once)", []).append(seconds)
        await browser.shutdown()
    report = {
        "first_call_with_browser_launch_s": round(first, 3),
        "snapshot_vs_html": sizes,
        "median_ratio": statistics.median(s["ratio"] for s in sizes),
        "median_ratio_to_visible_text": statistics.median(s["ratio_to_visible_text"] for s in sizes),
        "seconds_per_call_median": {k: round(statistics.median(v), 3) for k, v in timings.items()},
    }
    if as_json:
        print(json.dumps(report, indent=1))
    else:
        print(f"First call (launches Chromium): {report['first_call_with_browser_launch_s']} s")
        print(f"{'page':<16}{'page tokens':>12}{'visible':>9}{'snapshot':>10}{'ratio':>8}{'/ visible':>11}")
        for s in sizes:
            print(
                f"{s['page']:<16}{s['html_tokens']:>12,}{s['visible_text_tokens']:>9,}"
                f"{s['snapshot_tokens']:>10,}{s['ratio']:>8.1%}{s['ratio_to_visible_text']:>11.1%}"
            )
        verdict = "PASS" if report["median_ratio"] <= 0.10 else "MISS"
        print(
            f"Median snapshot / page tokens: {report['median_ratio']:.1%} (goal: at most 10%) {verdict}; "
            f"/ visible text: {report['median_ratio_to_visible_text']:.1%} (reference)"
        )
        for name, value in report["seconds_per_call_median"].items():
            print(f"{name:<45}{value:>8.3f} s")
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    asyncio.run(main(parser.parse_args().json))
