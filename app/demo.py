"""The demo: a mission that touches all three agents, for a newcomer without an API key.

Everything here says it is a demo. :class:`Demo` lays out a fresh demo workspace (an invoices
workbook and a local Maildir of customer emails), serves a small supplier portal on
127.0.0.1, and starts a scripted model that plays the lead and the agents. The mission then
runs through the real engine, the real connectors and the real approval gate: the reminder
drafts, the portal note and the workbook update are real proposed actions.
"""

from __future__ import annotations

import datetime as dt
import html
import mailbox
import os
import shutil
import threading
import urllib.parse
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import openpyxl
from openpyxl.styles import Font, PatternFill

from app.scripted_model import Reply, ScriptedModel, text, tool_call

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType

MISSION = (
    "[Demo] Chase every overdue invoice in invoices.xlsx: find each customer's contact on the "
    "supplier portal, draft a reminder email to them, and note in the workbook that a reminder "
    "was drafted."
)
ADDRESS = "accounts@demo.example"

CUSTOMERS = [
    # customer, contact, email, phone, invoice, days overdue (negative: not due yet), amount
    ("Acme Tools", "Ana Ruiz", "ana.ruiz@acme.demo.example", "+1 555 0101", "INV-1041", 34, 1240.00),
    ("Globex Foods", "Ben Okafor", "ben.okafor@globex.demo.example", "+1 555 0102", "INV-1042", -12, 310.50),
    (
        "Initech Office",
        "Carla Jensen",
        "c.jensen@initech.demo.example",
        "+1 555 0103",
        "INV-1043",
        12,
        780.25,
    ),
    ("Umbrella Labs", "Dev Patel", "dev.patel@umbrella.demo.example", "+1 555 0104", "INV-1044", 0, 95.00),
    ("Stark Parts", "Eve Larsen", "eve.larsen@stark.demo.example", "+1 555 0105", "INV-1045", 61, 2015.75),
]


def overdue(today: dt.date) -> list[tuple[str, str, str, str, dt.date, float, int]]:
    """The demo's overdue invoices: (invoice, customer, contact, email, due, amount, row)."""
    rows = []
    for row, (customer, contact, email, _phone, invoice, late, amount) in enumerate(CUSTOMERS, start=3):
        if late > 0:
            rows.append((invoice, customer, contact, email, today - dt.timedelta(days=late), amount, row))
    return rows


def build_workspace(folder: Path, today: dt.date) -> None:
    """Writes the demo workspace: ``invoices.xlsx`` and the Maildir ``mail/``.

    Args:
        folder: An empty or missing folder; it is replaced.
        today: The date the demo's due dates are counted from.
    """
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Invoices"
    sheet["A1"] = "DEMO DATA: invoices of a made-up company"
    sheet["A1"].font = Font(bold=True, color="9C2A00")
    sheet.append(["Invoice", "Customer", "Due", "Amount", "Status", "Reminder"])
    for cell in sheet[2]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDE6F0")
    for customer, _contact, _email, _phone, invoice, late, amount in CUSTOMERS:
        sheet.append([invoice, customer, today - dt.timedelta(days=late), amount, "open", None])
    for row in sheet.iter_rows(min_row=3, min_col=3, max_col=4):
        row[0].number_format = "yyyy-mm-dd"
        row[1].number_format = "#,##0.00"
    for column, width in zip("ABCDEF", (12, 18, 12, 12, 10, 22), strict=True):
        sheet.column_dimensions[column].width = width
    book.save(folder / "invoices.xlsx")

    box = mailbox.Maildir(folder / "mail", create=True)
    for name in ("Drafts", "Sent"):
        box.add_folder(name)
    notes = [
        (
            "Ana Ruiz",
            "ana.ruiz@acme.demo.example",
            "Question about INV-1041",
            "Hello,\n\nCould you send INV-1041 again? We cannot find it.\n\nAna (DEMO message)",
        ),
        (
            "Ben Okafor",
            "ben.okafor@globex.demo.example",
            "New delivery address",
            "Hi,\n\nPlease note our new delivery address from next month.\n\nBen (DEMO message)",
        ),
        (
            "Portal robot",
            "noreply@portal.demo.example",
            "Your supplier portal digest",
            "3 customers updated their contact details this week. (DEMO message)",
        ),
    ]
    for days, (name, sender, subject, body) in enumerate(notes):
        message = EmailMessage()
        message["From"] = f"{name} <{sender}>"
        message["To"] = ADDRESS
        message["Subject"] = subject
        message["Date"] = format_datetime(dt.datetime.now(dt.UTC) - dt.timedelta(days=days + 1))
        message["Message-ID"] = make_msgid(domain="demo.example")
        message.set_content(body)
        box.add(mailbox.MaildirMessage(message))
    box.close()


class _PortalHandler(BaseHTTPRequestHandler):
    server: SupplierPortal

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the portal's visits are in its own log, not on the terminal."""

    def _page(self, title: str, body: str, status: int = 200) -> None:
        page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:50em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #bbb;padding:.3em .6em}}.demo{{background:#fff3cd;padding:.5em}}</style>
</head><body><p class="demo">DEMO: a made-up supplier portal served by Ensemble on this computer.</p>
<h1>{html.escape(title)}</h1>{body}</body></html>"""
        data = page.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path == "/":
            self._page("Northwind Supplier Portal", '<p><a href="/contacts">Customer contacts</a></p>')
        elif path == "/contacts":
            rows = "".join(
                f"<tr><td>{html.escape(c)}</td><td>{html.escape(n)}</td><td>{html.escape(e)}</td>"
                f"<td>{html.escape(p)}</td></tr>"
                for c, n, e, p, *_ in CUSTOMERS
            )
            form = """<h2>Log a reminder</h2><form method="post" action="/notes">
<label>Customer <input name="customer"></label> <label>Note <input name="note"></label>
<button type="submit">Save note</button></form>"""
            self._page(
                "Customer contacts",
                f'<table aria-label="Customer contacts"><tr><th>Customer</th><th>Contact</th>'
                f"<th>Email</th><th>Phone</th></tr>{rows}</table>{form}",
            )
        else:
            self._page("Not found", "<p>No such page.</p>", 404)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        fields = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        with self.server.lock:
            self.server.notes.append({k: v[0] for k, v in fields.items()})
        self._page("Note saved", "<p>Your note was saved.</p>")


class SupplierPortal(ThreadingHTTPServer):
    """The demo's supplier portal on 127.0.0.1; ``notes`` holds what was submitted."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _PortalHandler)
        self.lock = threading.Lock()
        self.notes: list[dict[str, str]] = []
        self._thread = threading.Thread(target=self.serve_forever, name="demo-portal", daemon=True)

    @property
    def url(self) -> str:
        """The portal's address."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> None:
        """Serves in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stops serving and closes the socket."""
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


def demo_model(portal: str, today: dt.date) -> ScriptedModel:
    """The scripted model that plays the lead and the agents in the demo mission."""
    late = overdue(today)
    model = ScriptedModel(delay=0.4)
    model.add(
        "[Demo] Chase every overdue invoice",
        tool_call(
            "delegate",
            {
                "tasks": [
                    {
                        "id": "overdue",
                        "agent": "spreadsheet",
                        "instructions": "DEMO-SHEET: list the overdue open invoices in invoices.xlsx.",
                    },
                    {
                        "id": "contacts",
                        "agent": "browser",
                        "instructions": f"DEMO-PORTAL: read the customer contacts at {portal}/contacts.",
                    },
                    {
                        "id": "drafts",
                        "agent": "email",
                        "depends_on": ["overdue", "contacts"],
                        "instructions": (
                            "DEMO-EMAIL: draft a polite reminder to each overdue customer's contact."
                        ),
                    },
                    {
                        "id": "mark",
                        "agent": "spreadsheet",
                        "depends_on": ["drafts"],
                        "instructions": "DEMO-MARK: note in invoices.xlsx that a reminder was drafted.",
                    },
                ]
            },
            text="I'll read the workbook and the portal at the same time, then draft the reminders.",
        ),
        text(
            f"Done (demo). {len(late)} invoices are overdue: "
            + ", ".join(f"{inv} ({cust})" for inv, cust, *_ in late)
            + ". A reminder to each customer's contact is in your Drafts folder, and the workbook "
            "notes it. Nothing was sent: you can review the drafts before sending them."
        ),
    )
    model.add(
        "DEMO-SHEET",
        tool_call("sheet_read", {"path": "invoices.xlsx", "sheet": "Invoices"}),
        text(
            "Overdue and open: "
            + "; ".join(
                f"{inv} {cust}, due {due.isoformat()}, {amount:,.2f}"
                for inv, cust, _c, _e, due, amount, _r in late
            )
        ),
    )
    model.add(
        "DEMO-PORTAL",
        tool_call("browser_open", {"url": f"{portal}/contacts"}),
        tool_call("browser_extract_table", {}),
        text("Contacts: " + "; ".join(f"{c}: {n} <{e}>" for c, n, e, *_ in CUSTOMERS)),
    )
    drafts: list[Reply] = [
        tool_call(
            "email_draft",
            {
                "to": [email],
                "subject": f"Reminder: invoice {invoice} is overdue",
                "body": (
                    f"Dear {contact},\n\nOur records show that invoice {invoice} of {amount:,.2f}, due on "
                    f"{due.isoformat()}, is still open. Could you let us know when we can expect "
                    "payment?\n\nKind regards,\nAccounts (Ensemble demo)"
                ),
            },
        )
        for invoice, _customer, contact, email, due, amount, _row in late
    ]
    model.add("DEMO-EMAIL", *drafts, text(f"Drafted {len(drafts)} reminders."))
    marks = [
        tool_call(
            "sheet_write",
            {
                "path": "invoices.xlsx",
                "sheet": "Invoices",
                "range": f"F{row}",
                "values": [[f"Reminder drafted {today.isoformat()}"]],
            },
        )
        for *_rest, row in late
    ]
    model.add("DEMO-MARK", *marks, text("Noted the reminders in column F."))
    return model


class Demo:
    """The demo's moving parts, started together and stopped together.

    Use as a context manager. While it runs, ``ANTHROPIC_BASE_URL`` and ``ANTHROPIC_API_KEY``
    in this process point at the scripted model (they are put back afterwards), so the engine
    runs unchanged.

    Args:
        folder: Where the demo workspace is laid out (replaced each time).
        today: The date the due dates are counted from (default: today).
    """

    def __init__(self, folder: Path, today: dt.date | None = None) -> None:
        self.folder = folder
        self.today = today or dt.date.today()
        self.portal = SupplierPortal()
        self.model = demo_model(self.portal.url, self.today)
        self._saved_env: dict[str, str | None] = {}

    @property
    def mission(self) -> str:
        """The demo mission's text."""
        return MISSION

    def options(self) -> dict[str, Any]:
        """The mission options: the demo's local mailbox, and the portal as the only site."""
        account = {"name": "demo", "kind": "maildir", "address": ADDRESS, "path": str(self.folder / "mail")}
        return {"email": {"account": account}, "browser": {"allowed_domains": ["127.0.0.1"]}}

    def __enter__(self) -> Demo:
        build_workspace(self.folder, self.today)
        self.portal.start()
        self.model.start()
        for name, value in (("ANTHROPIC_BASE_URL", self.model.base_url), ("ANTHROPIC_API_KEY", "demo")):
            self._saved_env[name] = os.environ.get(name)
            os.environ[name] = value
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self.model.stop()
        self.portal.stop()
