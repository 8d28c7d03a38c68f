"""The demo: a mission that touches all three agents, for a newcomer without an API key.

Everything here says it is a demo. :class:`Demo` lays out a fresh demo workspace (an invoices
workbook and a local Maildir of customer emails), serves a small supplier portal on
127.0.0.1, and starts a scripted model that plays the lead and the agents. The mission then
runs through the real engine, the real connectors and the real approval gate: the reminder
drafts, the portal note and the workbook update are real proposed actions.
"""

from __future__ import annotations

import datetime as dt
import email
import email.message
import email.policy
import html
import json
import mailbox
import os
import re
import shutil
import string
import threading
import urllib.parse
from dataclasses import dataclass
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import TYPE_CHECKING, Any

import openpyxl
from openpyxl.utils import get_column_letter

from app.api.spec import ApprovalPolicy, MissionSpec
from app.errors import EngineError
from app.testing.scripted_model import Reply, ScriptedModel, check_verdict, text, tool_call, tool_calls

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable
    from pathlib import Path
    from types import TracebackType

    from app.engine import Engine

MISSION = (
    "[Demo] Chase every overdue invoice in invoices.xlsx: find each customer's contact on the "
    "supplier portal, draft a reminder email to them, and note in the workbook that a reminder "
    "was drafted."
)
ADDRESS = "accounts@northwind.demo.example"
SIGNATURE = "Northwind Accounts (Ensemble demo)"
"""How the demo's reminder drafts are signed."""
REMEMBER = f"Sign reminder emails as {SIGNATURE}"
"""What the demo's lead proposes to remember, once: the person decides (see :mod:`app.memory`)."""
MODEL = "ensemble-demo"
"""The model name the demo's missions record: the scripted model, at no cost."""

TEMPLATE_DATE = dt.date(2026, 11, 22)
"""The day ``resources/demo/invoices.xlsx`` was written as of; dates shift from it to today."""

SHEET = "Invoices"
COLUMNS = {
    "invoice": 1,
    "customer": 2,
    "issued": 3,
    "due": 4,
    "amount": 5,
    "status": 6,
    "paid": 7,
    "reminder": 8,
}
"""The invoices sheet's columns (1-based), as in the template."""


@dataclass(frozen=True)
class Invoice:
    """One row of the demo's invoices sheet."""

    row: int
    invoice: str
    customer: str
    due: dt.date
    amount: float
    status: str


@dataclass(frozen=True)
class Contact:
    """One customer contact on the demo's supplier portal."""

    customer: str
    contact: str
    email: str
    phone: str


def _demo_file(*parts: str) -> Traversable:
    return resources.files("resources").joinpath("demo", *parts)


def contacts() -> list[Contact]:
    """The supplier portal's customer contacts, from ``resources/demo/portal/contacts.json``."""
    entries = json.loads(_demo_file("portal", "contacts.json").read_text("utf-8"))
    return [Contact(**entry) for entry in entries]


def invoices(workbook: Path) -> list[Invoice]:
    """The invoices in a demo workbook (the template or a built workspace's copy)."""
    book = openpyxl.load_workbook(workbook, read_only=True)
    try:
        found = []
        for index, row in enumerate(book[SHEET].iter_rows(min_row=3, values_only=True), start=3):
            number = row[COLUMNS["invoice"] - 1]
            if not isinstance(number, str) or not number.startswith("INV-"):
                continue
            due, amount = row[COLUMNS["due"] - 1], row[COLUMNS["amount"] - 1]
            if not isinstance(due, dt.datetime | dt.date) or not isinstance(amount, int | float):
                raise TypeError(f"Row {index} of the demo workbook has no due date or amount.")
            found.append(
                Invoice(
                    row=index,
                    invoice=number,
                    customer=str(row[COLUMNS["customer"] - 1]),
                    due=due.date() if isinstance(due, dt.datetime) else due,
                    amount=float(amount),
                    status=str(row[COLUMNS["status"] - 1]),
                )
            )
        return found
    finally:
        book.close()


def overdue(workbook: Path, today: dt.date) -> list[Invoice]:
    """The open invoices of a demo workbook whose due date is before ``today``."""
    return [i for i in invoices(workbook) if i.status == "Open" and i.due < today]


def build_workspace(folder: Path, today: dt.date) -> None:
    """Lays out the demo workspace from ``resources/demo``: ``invoices.xlsx`` and a Maildir ``mail/``.

    The workbook's dates move by the days between :data:`TEMPLATE_DATE` and ``today``, so
    the same invoices are overdue by the same number of days whatever day the demo runs; the
    emails' dates move to the last few days.

    Args:
        folder: Where the workspace goes; anything there is replaced.
        today: The date the workbook's dates are counted from.
    """
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shift = today - TEMPLATE_DATE
    with resources.as_file(_demo_file("invoices.xlsx")) as template:
        book = openpyxl.load_workbook(template)
    sheet = book[SHEET]
    for column in ("issued", "due", "paid"):
        for (cell,) in sheet.iter_rows(min_row=3, min_col=COLUMNS[column], max_col=COLUMNS[column]):
            if isinstance(cell.value, dt.datetime | dt.date):
                cell.value = cell.value + shift
    book.save(folder / "invoices.xlsx")

    box = mailbox.Maildir(folder / "mail", create=True)
    for name in ("Drafts", "Sent"):
        box.add_folder(name)
    emails = sorted(
        (f for f in _demo_file("mail").iterdir() if f.name.endswith(".eml")), key=lambda f: f.name
    )
    now = dt.datetime.now(dt.UTC)
    for age, source in enumerate(reversed(emails), start=1):
        message = email.message_from_bytes(source.read_bytes(), policy=email.policy.default)
        del message["Date"]
        message["Date"] = format_datetime(now - dt.timedelta(days=age, hours=age * 3))
        box.add(mailbox.MaildirMessage(message))
    # The accounts team has invoiced every customer before: the Sent folder holds those
    # messages, so the customers are people the person already writes to (see app.vouch).
    sent = box.get_folder("Sent")
    for age, contact in enumerate(contacts(), start=30):
        invoice = email.message.EmailMessage(policy=email.policy.SMTP)
        invoice["From"] = f"Northwind Accounts <{ADDRESS}>"
        invoice["To"] = f"{contact.contact} <{contact.email}>"
        invoice["Subject"] = f"Your invoice from Northwind Supplies (DEMO) - {contact.customer}"
        invoice["Date"] = format_datetime(now - dt.timedelta(days=age))
        invoice["Message-ID"] = f"<demo-sent-{age}@northwind.demo.example>"
        invoice.set_content(
            f"Dear {contact.contact},\n\nplease find this month's invoice attached.\n\n"
            "Northwind Accounts (DEMO message: made-up data)\n"
        )
        sent_message = mailbox.MaildirMessage(invoice)
        sent_message.set_flags("S")
        sent_message.set_subdir("cur")
        sent.add(sent_message)
    sent.close()
    box.close()


class _PortalHandler(BaseHTTPRequestHandler):
    server: SupplierPortal

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the portal's visits are in its own log, not on the terminal."""

    def _page(self, title: str, body: str, status: int = 200) -> None:
        page = self.server.template.substitute(title=html.escape(title), body=body)
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
                "<tr>"
                + "".join(f"<td>{html.escape(v)}</td>" for v in (c.customer, c.contact, c.email, c.phone))
                + "</tr>"
                for c in self.server.contacts
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
        self.contacts = contacts()
        self.template = string.Template(_demo_file("portal", "page.html").read_text("utf-8"))
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
        if self._thread.is_alive():
            self.shutdown()
            self._thread.join(timeout=5)
        self.server_close()


def demo_model(portal: str, workbook: Path, today: dt.date) -> ScriptedModel:
    """The scripted model that plays the lead and the agents in the demo mission.

    Args:
        portal: The supplier portal's address.
        workbook: The demo workspace's ``invoices.xlsx``, whose overdue invoices the script
            names.
        today: The demo's today.
    """
    late = overdue(workbook, today)
    people = {c.customer: c for c in contacts()}
    model = ScriptedModel(delay=0.4)

    def delegate(request: dict[str, Any]) -> Reply:
        # The lead reads the person's memory (its system prompt) and passes the signature on.
        remembered = remembered_signature(request)
        signature = remembered or SIGNATURE
        return tool_call(
            "delegate",
            {
                "tasks": [
                    {
                        "id": "overdue",
                        "agent": "spreadsheet",
                        "instructions": "Demo step 1: list the overdue open invoices in invoices.xlsx.",
                    },
                    {
                        "id": "contacts",
                        "agent": "browser",
                        "instructions": f"Demo step 2: read the customer contacts at {portal}/contacts.",
                    },
                    {
                        "id": "drafts",
                        "agent": "email",
                        "depends_on": ["overdue", "contacts"],
                        "instructions": (
                            "Demo step 3: draft a polite reminder to each overdue customer's contact, "
                            f"signed “{signature}”."
                        ),
                    },
                    {
                        "id": "mark",
                        "agent": "spreadsheet",
                        "depends_on": ["drafts"],
                        "instructions": "Demo step 4: note in invoices.xlsx that a reminder was drafted.",
                    },
                ]
            },
            text=(
                "I'll read the workbook and the portal at the same time, then draft the reminders"
                + (f", signed “{remembered}” as you asked me to remember." if remembered else ".")
            ),
        )

    model.add(
        "[Demo] Chase every overdue invoice",
        delegate,
        lambda request: _remember_or_report(request, late),
        lambda request: _remember_or_report(request, late),
    )
    model.add(
        "Demo step 1:",
        tool_call("sheet_read", {"path": "invoices.xlsx", "sheet": SHEET}),
        text(
            "Overdue and open: "
            + "; ".join(f"{i.invoice} {i.customer}, due {i.due.isoformat()}, {i.amount:,.2f}" for i in late)
        ),
    )
    model.add(
        "Demo step 2:",
        tool_call("browser_open", {"url": f"{portal}/contacts"}),
        tool_call("browser_extract_table", {}),
        text("Contacts: " + "; ".join(f"{c.customer}: {c.contact} <{c.email}>" for c in people.values())),
    )

    def drafts(request: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        # Signed as the lead's instructions say (the person's memory, or the demo's default).
        found = re.search(r"signed “([^”]+)”", _first_user_text(request))
        signature = found.group(1) if found else SIGNATURE
        return [
            (
                "email_draft",
                {
                    "to": [people[i.customer].email],
                    "subject": f"Reminder: invoice {i.invoice} is overdue",
                    "body": (
                        f"Dear {people[i.customer].contact},\n\nOur records show that invoice {i.invoice} "
                        f"of EUR {i.amount:,.2f}, due on {i.due.isoformat()}, is still open. "
                        f"Could you let us know when we can expect payment?\n\nKind regards,\n{signature}"
                    ),
                },
            )
            for i in late
        ]

    # One turn drafts every reminder: the person sees them as one batch card and decides once.
    model.add(
        "Demo step 3:",
        lambda request: tool_calls(*drafts(request)),
        lambda request: text(
            _step_report(request, "Drafted", "reminder", len(late))
            + f" Reminders drafted for: {', '.join(_succeeded(request, 'email_draft')) or 'none'}."
        ),
    )
    reminder = get_column_letter(COLUMNS["reminder"])

    def marks(request: dict[str, Any]) -> Reply:
        # Only the invoices whose reminder was really drafted get the note.
        first = json.dumps(request["messages"][0]["content"])
        drafted = first.split("Reminders drafted for:", 1)[-1] if "Reminders drafted for:" in first else ""
        writes = [
            (
                "sheet_write",
                {
                    "path": "invoices.xlsx",
                    "sheet": SHEET,
                    "range": f"{reminder}{i.row}",
                    "values": [[f"Reminder drafted {today.isoformat()}"]],
                },
            )
            for i in late
            if i.invoice in drafted
        ]
        return (
            tool_calls(*writes) if writes else text("No reminder was drafted, so there is nothing to note.")
        )

    model.add(
        "Demo step 4:",
        marks,
        lambda request: text(
            _step_report(request, f"Noted in column {reminder}", "drafted reminder", len(late))
        ),
    )
    _add_checks(model, late, reminder)
    return model


def _add_checks(model: ScriptedModel, late: list[Invoice], column: str) -> None:
    """The lead's checks of the two steps that change something: each reads back what its step
    did (the Drafts folder, the workbook's reminder column) and judges from what it read."""

    def read_back(request: dict[str, Any]) -> str:
        results = _tool_results(request)
        return results[-1][1] if results else ""

    def task(request: dict[str, Any]) -> str:
        """The check's prompt: the step's instructions, its recorded changes, its report."""
        return json.dumps(request["messages"][0]["content"])

    def drafts(request: dict[str, Any]) -> Reply:
        # What the step reports it drafted (a rejected draft is not among them) must be there.
        reported = task(request).split("Reminders drafted for:", 1)[-1]
        seen = read_back(request)
        found = [i.invoice for i in late if i.invoice in reported and i.invoice in seen]
        missing = [i.invoice for i in late if i.invoice in reported and i.invoice not in seen]
        evidence = [f"Drafts folder: the reminder about {invoice}" for invoice in found]
        if missing:
            return check_verdict(False, f"No reminder about {', '.join(missing)} is in Drafts.", evidence)
        return check_verdict(True, f"The {len(found)} reminders are in the Drafts folder.", evidence)

    first, last = min((i.row for i in late), default=2), max((i.row for i in late), default=2)

    def marks(request: dict[str, Any]) -> Reply:
        # The rows of the step's writes that ran must hold the note; no other row may.
        rows = sorted(
            {
                int(row)
                for line in task(request).split("\\n")
                if "executed" in line
                for row in re.findall(rf'range\\?": ?\\?"{column}(\d+)', line)
            }
        )
        seen = read_back(request)
        try:
            values = json.loads(seen.split("\n", 1)[1].rsplit("\n", 1)[0])["rows"]
        except (IndexError, KeyError, ValueError):
            values = []
        noted = {first + n: row[0] for n, row in enumerate(values) if row and row[0]}
        evidence = [f"invoices.xlsx, {SHEET}!{column}{r} = {v}" for r, v in noted.items()]
        if sorted(noted) != rows:
            return check_verdict(
                False, f"Column {column} is noted on rows {sorted(noted)}, not {rows}.", evidence
            )
        return check_verdict(
            True, f"Column {column} notes the reminder on the {len(rows)} rows written.", evidence
        )

    model.add_check(
        "Demo step 3:", tool_call("email_search", {"folder": "Drafts", "subject": "Reminder"}), drafts
    )
    model.add_check(
        "Demo step 4:",
        tool_call(
            "sheet_read",
            {"path": "invoices.xlsx", "sheet": SHEET, "range": f"{column}{first}:{column}{last}"},
        ),
        marks,
    )


def _succeeded(request: dict[str, Any], tool: str) -> list[str]:
    """The invoice numbers in the subjects of an agent's calls of ``tool`` that succeeded."""
    calls: dict[str, str] = {}
    done: list[str] = []
    for message in request.get("messages", []):
        for block in message.get("content") if isinstance(message.get("content"), list) else []:
            if block.get("type") == "tool_use" and block.get("name") == tool:
                calls[str(block.get("id"))] = json.dumps(block.get("input"))
            elif block.get("type") == "tool_result" and not block.get("is_error"):
                arguments = calls.get(str(block.get("tool_use_id")), "")
                done += [word.strip('.",') for word in arguments.split() if word.startswith("INV-")][:1]
    return done


def _tool_results(request: dict[str, Any]) -> list[tuple[bool, str]]:
    """Every tool result of an agent's conversation so far: ``(is_error, text)``, in order."""
    found = []
    for message in request.get("messages", []):
        content = message.get("content")
        if message.get("role") != "user" or not isinstance(content, list):
            continue
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                body = block.get("content")
                words = (
                    body if isinstance(body, str) else " ".join(str(b.get("text", "")) for b in body or [])
                )
                found.append((bool(block.get("is_error")), words))
    return found


def _step_report(request: dict[str, Any], verb: str, thing: str, planned: int) -> str:
    """A sub-agent's report from what its tool calls really did, not from its plan."""
    results = _tool_results(request)
    done = sum(1 for is_error, _ in results if not is_error)
    failed = [words.split(". ")[0] for is_error, words in results if is_error]
    report = f"{verb} {done} of {planned} {thing}{'s' if planned != 1 else ''}."
    if failed:
        report += " Not done: " + "; ".join(failed) + "."
    return report


def _remember_or_report(request: dict[str, Any], late: list[Invoice]) -> Reply:
    """The lead's turn after its tasks: it proposes remembering the signature its drafts use,
    unless the person's memory already gives one (its system prompt says so) or it has just
    asked; then it reports, saying where the signature came from."""
    asked = any(
        block.get("type") == "tool_use" and block.get("name") == "remember"
        for message in request.get("messages", [])
        if isinstance(message.get("content"), list)
        for block in message["content"]
        if isinstance(block, dict)
    )
    remembered = remembered_signature(request)
    if remembered is None and not asked:
        return tool_call(
            "remember",
            {"text": REMEMBER, "scope": "everywhere"},
            text="The drafts are signed as the accounts team; I'd like to remember that for next time.",
        )
    summary = _lead_summary(request, late)
    if asked:
        results = _tool_results(request)
        failed, said = results[-1] if results else (True, "")
        # The person may have edited the card: what was kept is in the result, not the proposal.
        found = re.search(r"Remembered \(.*?\): (.+)", said)
        kept = found.group(1).strip() if found else REMEMBER
        signature = remembered_signature({"system": f"- {kept}"})
        what = f"to sign reminders as {signature}" if signature else f"“{kept}”"
        summary += (
            f" I will remember {what} in your next missions (see it, change it or remove it under Memory)."
            if not failed
            else " I will not remember the signature, as you decided."
        )
    elif remembered is not None:
        summary += f" The reminders are signed “{remembered}”, as you asked me to remember."
    return text(summary)


_SIGNATURE_MEMORY = re.compile(
    r"^- Sign (?:the )?(?:reminder )?(?:e-?mails|reminders) as (.+?)\.?(?: \(for [^()]*\))?\s*$",
    re.IGNORECASE | re.MULTILINE,
)


def remembered_signature(request: dict[str, Any]) -> str | None:
    """The signature the person's memory gives ("Sign reminder emails as Ana"), as the lead's
    system prompt lists what applies (the nearest and newest first), or None."""
    system = request.get("system", "")
    if isinstance(system, list):
        system = "\n".join(str(b.get("text", "")) for b in system if isinstance(b, dict))
    found = _SIGNATURE_MEMORY.search(str(system))
    if found is None:
        return None
    return found.group(1).strip().strip("\"“”'") or None


def _first_user_text(request: dict[str, Any]) -> str:
    """The text of a request's first user message (an agent's task instructions)."""
    messages = request.get("messages") or [{}]
    content = messages[0].get("content", "")
    if isinstance(content, list):
        return "\n".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return str(content)


def _lead_summary(request: dict[str, Any], late: list[Invoice]) -> str:
    """The demo's last message, from the tasks' real outcomes: what each step did and what its
    check verified, a paragraph each."""
    outcomes: dict[str, dict[str, Any]] = {}
    for _is_error, words in _tool_results(request):
        try:
            data = json.loads(words)
        except ValueError:
            continue
        for task in data.get("tasks", []) if isinstance(data, dict) else []:
            outcomes[str(task.get("id"))] = task
    overdue_list = ", ".join(f"{i.invoice} ({i.customer})" for i in late)
    lines = [f"Done (demo). {len(late)} invoices are overdue: {overdue_list}."]
    for key, what in (("drafts", "Reminders"), ("mark", "Workbook notes")):
        task = outcomes.get(key, {})
        if task.get("status") == "done":
            check = task.get("check") or {}
            verified = f" Verified: {check.get('findings', '')}" if check.get("verdict") == "passed" else ""
            lines.append(f"{what}: {task.get('result', '')}{verified}")
        else:
            reason = task.get("reason") or task.get("result") or "it did not run"
            lines.append(f"{what}: not done ({task.get('status', 'unknown')}: {reason}).")
    lines.append("Nothing was sent: you can review the drafts in your Drafts folder before sending them.")
    return "\n\n".join(lines)  # a paragraph each: what was found, each step and its check, what is left


def start_demo(engine: Engine, *, approve: ApprovalPolicy = "ask") -> str:
    """Starts the demo mission on an engine, with its servers attached to it.

    The supplier portal and the scripted model start with the first demo and stop when the
    engine closes; each run gets a fresh workspace.

    Args:
        engine: The engine (call on its loop).
        approve: How its cards are decided; the window asks the person.

    Returns:
        The demo mission's id.

    Raises:
        EngineError: The demo mission is already running, here or in another process (they
            would share its workspace).
    """
    demo = engine.service("demo")
    running = getattr(demo, "mission_id", None)
    if running is not None and engine.is_running(running):
        raise EngineError("The demo mission is already running: see it in the missions list.")
    engine.journal.interrupt_running()  # missions of processes that are gone
    elsewhere = [
        m
        for m in engine.journal.missions(limit=50)
        if m.status == "running"
        and json.loads(m.options_json).get("label") == "demo"
        and m.owner_pid != os.getpid()
    ]
    if elsewhere:
        raise EngineError(
            "The demo is already running in another Ensemble window or terminal (process "
            f"{elsewhere[0].owner_pid}); it uses the same demo folder. Finish it there first."
        )
    if not isinstance(demo, Demo):
        demo = Demo(engine.paths.data_dir / "demo-workspace")
        demo.start()
        engine.attach("demo", demo)
    else:
        demo.reset()
    demo.mission_id = engine.start(demo.spec(approve))
    return demo.mission_id


class Demo:
    """The demo's moving parts: its workspace, its supplier portal and its scripted model.

    Start it with :meth:`start` (or as a context manager) and stop it with :meth:`stop`. The
    demo mission is an ordinary :class:`~app.api.MissionSpec` (:meth:`spec`) whose options name
    the scripted model as its model endpoint, so other missions in the same process still use
    the API; the engine has no demo of its own, only a service attached to it (:func:`start_demo`).

    Args:
        folder: Where the demo workspace is laid out (replaced on each start and reset).
        today: The date the due dates are counted from (default: today).
    """

    def __init__(self, folder: Path, today: dt.date | None = None) -> None:
        self.folder = folder
        self.today = today or dt.date.today()
        self.portal = SupplierPortal()
        self.model = ScriptedModel()
        self.mission_id: str | None = None
        """The demo mission last started with these servers."""

    @property
    def mission(self) -> str:
        """The demo mission's text."""
        return MISSION

    @property
    def endpoint_url(self) -> str:
        """Where the demo's scripted model listens (the engine matches resumed missions to it)."""
        return self.model.base_url

    def options(self) -> dict[str, Any]:
        """The mission options: the demo's local mailbox, the portal as the only site, and the
        scripted model as the model endpoint."""
        account = {"name": "demo", "kind": "maildir", "address": ADDRESS, "path": str(self.folder / "mail")}
        return {
            "email": {"account": account},
            "browser": {"allowed_domains": [f"127.0.0.1:{self.portal.server_address[1]}"]},
            "endpoint": {
                "base_url": self.model.base_url,
                "model": MODEL,
                "api_key": "demo",
                "max_retries": 0,
                "timeout": 30.0,
                "ephemeral": True,
                "when_gone": (
                    "A demo mission cannot be resumed once the app that ran it has stopped: its scripted "
                    "model and supplier portal went with it. Start the demo again (it takes a minute)."
                ),
            },
            "label": "demo",
        }

    def spec(self, approve: ApprovalPolicy = "ask") -> MissionSpec:
        """The demo mission, as data."""
        return MissionSpec(
            instruction=MISSION, workspaces=[str(self.folder)], approval=approve, options=self.options()
        )

    def start(self) -> None:
        """Lays out the workspace and starts the portal and the scripted model."""
        build_workspace(self.folder, self.today)
        self.model = demo_model(self.portal.url, self.folder / "invoices.xlsx", self.today)
        self.portal.start()
        self.model.start()

    def reset(self) -> None:
        """Lays out a fresh workspace for another run (the servers keep running)."""
        build_workspace(self.folder, self.today)

    def stop(self) -> None:
        """Stops the portal and the scripted model."""
        self.model.stop()
        self.portal.stop()

    def __enter__(self) -> Demo:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
