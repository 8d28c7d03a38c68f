"""A small web app on 127.0.0.1 for the browser tests, which logs every request it receives.

Its log is the proof the tests rely on: a rejected submission never appears in it, an
approved one appears exactly once. A second one on another loopback address (``127.0.0.2``)
plays a site nobody vouched for, such as an attacker's collection point.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import struct
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
"""The constant of RFC 6455 a web socket handshake's answer is computed with."""


@dataclass(frozen=True)
class Hit:
    """One request the server received."""

    method: str
    path: str
    body: str

    @property
    def fields(self) -> dict[str, str]:
        return dict(parse_qsl(self.body, keep_blank_values=True))


PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body>{body}</body></html>"""

PRICES = """<h1>Supplier prices</h1>
<table id="prices"><caption>Price list</caption>
<thead><tr><th>Item</th><th>Code</th><th>Price</th></tr></thead>
<tbody><tr><td>Paper A4</td><td>P-100</td><td>4.20</td></tr>
<tr><td>Toner black</td><td>T-200</td><td>59.90</td></tr>
<tr><td>Stapler</td><td>S-300</td><td>12.50</td></tr></tbody></table>
<p><a href="/order">Order form</a></p>"""

ORDER = """<h1>Order</h1>
<form method="post" action="/order">
<label>Item code <input name="code"></label>
<label>Quantity <input name="quantity" type="number"></label>
<label>Unit price <input name="price"></label>
<label>Delivery <select name="delivery"><option value="std">Standard</option>
<option value="express">Express</option></select></label>
<button type="submit">Place order</button>
</form>"""

LOGIN = """<h1>Sign in</h1>
<form method="post" action="/login">
<label>User name <input name="user" autocomplete="username"></label>
<label>Password <input name="secret" type="password"></label>
<button>Sign in</button></form>"""

SPA = """<h1>Notes</h1>
<label>Note <input id="note"></label>
<button id="save" onclick="save()">Save note</button>
<p id="status">Not saved</p>
<script>
async function save() {
  const text = document.getElementById('note').value;
  try {
    const r = await fetch('/api/notes', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                         body: JSON.stringify({note: text})});
    document.getElementById('status').textContent = 'Saved: ' + (await r.json()).id;
  } catch (e) {
    document.getElementById('status').textContent = 'Save failed';
  }
}
</script>"""

DIALOGS = """<h1>Dialogs</h1>
<button onclick="alert('Hello from the page')">Alert</button>
<button onclick="if (confirm('Delete the record?')) {document.getElementById('out').textContent='deleted'}
 else {document.getElementById('out').textContent='kept'}">Delete</button>
<button onclick="document.getElementById('out').textContent = prompt('Your name?') ?? 'no name'">Ask</button>
<p id="out">nothing yet</p>"""

POPUP = """<h1>Popup</h1>
<a href="/prices" target="_blank">Prices in a new tab</a>
<button onclick="window.open('/order')">Open order window</button>"""

TICKER = """<h1>Ticker</h1><p>This page posts by itself every 50 ms.</p>
<script>setInterval(() => fetch('/api/tick', {method: 'POST', body: 'x'}).catch(() => {}), 50);</script>"""

DOWNLOADS = """<h1>Reports</h1><a href="/report.csv">Monthly report</a>"""


def _huge(rows: int) -> str:
    items = "".join(
        f'<div class="row" data-i="{i}"><span>Item {i}</span> <a href="/item/{i}">open</a></div>'
        for i in range(rows)
    )
    return f"<h1>Huge</h1>{items}"


def miniwob_root() -> Path | None:
    """The HTML tasks of the ``miniwob`` package, found without importing it (it needs gymnasium)."""
    spec = importlib.util.find_spec("miniwob")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations))) / "html"
    return root if (root / "miniwob").is_dir() else None


class WebApp:
    """The server, in a thread; use as a context manager.

    Args:
        host: The loopback address to serve on; another one than 127.0.0.1 is another site
            to the browser (and to the gate).

    Attributes:
        hits: Every request received, in order (a web socket's handshake is a GET).
        messages: Every web socket message received, in order; each is echoed back.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.hits: list[Hit] = []
        self.messages: list[str] = []
        self.extra_pages: dict[str, str] = {}  # whole documents by path, for the benchmark
        self._lock = threading.Lock()
        self._stop = threading.Event()
        app = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _record(self) -> str:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
                with app._lock:
                    app.hits.append(Hit(self.command, self.path, body))
                return body

            def do_GET(self) -> None:
                self._record()
                if self.headers.get("Upgrade", "").lower() == "websocket":
                    app._websocket(self)
                    return
                app._get(self)

            def do_POST(self) -> None:
                body = self._record()
                app._post(self, body)

            def do_PUT(self) -> None:
                self._record()
                app._send(self, 200, "application/json", b"{}")

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="webapp", daemon=True)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def gets(self, path: str) -> list[Hit]:
        """The GET requests received for a path."""
        with self._lock:
            return [h for h in self.hits if h.method == "GET" and urlsplit(h.path).path == path]

    def posts(self, path: str) -> list[Hit]:
        """The POST requests received for a path."""
        with self._lock:
            return [h for h in self.hits if h.method == "POST" and urlsplit(h.path).path == path]

    def __enter__(self) -> WebApp:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    # Responses ---------------------------------------------------------------------------

    def _send(self, h: BaseHTTPRequestHandler, status: int, ctype: str, data: bytes, **headers: str) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            h.send_header(name.replace("_", "-"), value)
        h.end_headers()
        h.wfile.write(data)

    def _page(self, h: BaseHTTPRequestHandler, title: str, body: str, status: int = 200) -> None:
        self._send(h, status, "text/html; charset=utf-8", PAGE.format(title=title, body=body).encode())

    def _websocket(self, h: BaseHTTPRequestHandler) -> None:
        """Serves one web socket (RFC 6455, text frames): logs each message and echoes it."""
        key = h.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
        h.send_response(101, "Switching Protocols")
        h.send_header("Upgrade", "websocket")
        h.send_header("Connection", "Upgrade")
        h.send_header("Sec-WebSocket-Accept", accept)
        h.end_headers()
        h.wfile.flush()
        h.close_connection = True
        while True:
            head = h.rfile.read(2)
            if len(head) < 2:
                return
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                (length,) = struct.unpack(">H", h.rfile.read(2))
            elif length == 127:
                (length,) = struct.unpack(">Q", h.rfile.read(8))
            mask = h.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(h.rfile.read(length)))
            if opcode == 0x8:  # close
                return
            if opcode == 0x1:
                with self._lock:
                    self.messages.append(payload.decode("utf-8", errors="replace"))
                if len(payload) < 126:
                    h.wfile.write(bytes([0x81, len(payload)]) + payload)
                    h.wfile.flush()

    def _get(self, h: BaseHTTPRequestHandler) -> None:
        path = urlsplit(h.path).path
        pages = {
            "/": ("Home", '<h1>Home</h1><a href="/prices">Prices</a>'),
            "/prices": ("Prices", PRICES),
            "/order": ("Order", ORDER),
            "/login": ("Sign in", LOGIN),
            "/spa": ("Notes", SPA),
            "/dialogs": ("Dialogs", DIALOGS),
            "/popup": ("Popup", POPUP),
            "/ticker": ("Ticker", TICKER),
            "/downloads": ("Reports", DOWNLOADS),
            "/huge": ("Huge", _huge(5_000)),
        }
        if path in self.extra_pages:
            self._send(h, 200, "text/html; charset=utf-8", self.extra_pages[path].encode())
        elif path in pages:
            self._page(h, *pages[path])
        elif path == "/offsite":
            other = self.base.replace("127.0.0.1", "localhost")
            self._page(h, "Offsite", f'<a href="{other}/prices">Elsewhere</a>')
        elif path == "/redirect":
            # An open redirect: wherever ``to`` says.
            target = dict(parse_qsl(urlsplit(h.path).query)).get("to", "/")
            self._send(h, 302, "text/plain", b"", Location=target)
        elif path == "/loop":
            self._send(h, 302, "text/plain", b"", Location="/loop")
        elif path == "/never":
            # A page that never answers: hold the connection until the test ends.
            self._stop.wait(60)
        elif path == "/report.csv":
            self._send(
                h,
                200,
                "text/csv",
                b"month,total\njan,10\n",
                Content_Disposition='attachment; filename="report.csv"',
            )
        elif path.startswith("/miniwob/") and (root := miniwob_root()) is not None:
            file = (root / path.removeprefix("/miniwob/")).resolve()
            if file.is_file() and file.is_relative_to(root.resolve()):
                kind = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}.get(
                    file.suffix, "application/octet-stream"
                )
                self._send(h, 200, kind, file.read_bytes())
            else:
                self._page(h, "Not found", "<h1>Not found</h1>", 404)
        else:
            self._page(h, "Not found", "<h1>Not found</h1>", 404)

    def _post(self, h: BaseHTTPRequestHandler, body: str) -> None:
        path = urlsplit(h.path).path
        fields = dict(parse_qsl(body, keep_blank_values=True))
        if path == "/order":
            self._page(
                h,
                "Thank you",
                f"<h1>Order received</h1><p>Order for {fields.get('code', '?')} is placed.</p>",
            )
        elif path == "/login":
            self._page(h, "Welcome", f"<h1>Welcome {fields.get('user', '')}</h1>")
        elif path == "/api/notes":
            self._send(h, 200, "application/json", json.dumps({"id": len(self.posts(path))}).encode())
        else:
            self._send(h, 200, "application/json", b"{}")
