"""Email benchmark: search plus headers of a 10,000-message folder, ours against raw imapclient.

Starts a private Dovecot on 127.0.0.1 (as the tests do), fills one folder with 10,000
messages (over IMAP APPEND, with MULTIAPPEND-free single appends on one connection), then
times, each the best of ``--repeat`` runs on a warm connection, ours and raw alternating:

1. ``email_search`` as the model calls it: SEARCH for every message from a sender (all of
   them match), and the summaries of one page of 200 (the tool's largest page).
2. Our store's search with the summaries of all 10,000 matches (no page limit).
3. Raw imapclient doing the same: ``UID SEARCH`` and batched ``UID FETCH`` of the same items
   (the same batch size), without parsing anything.

and prints the ratio ours / raw for (1) and (2) (goal <= 1.3).

Usage: python bench/bench_email.py [--messages N] [--repeat N]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
from imapclient import IMAPClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _dovecot import MailServer

from connectors.base import ToolContext
from connectors.email import KEYRING_SERVICE, TOOLS, close_mission, keyring_entry
from connectors.email._imap import FETCH_BATCH, SUMMARY_ITEMS
from connectors.email._store import Criteria

USERS = {"alice": "alice-pw"}


class _MemoryKeyring(keyring.backend.KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.secrets.pop((service, username), None)


def fill(server: MailServer, count: int) -> None:
    client = IMAPClient("127.0.0.1", port=server.imap_port, ssl=False)
    client.login("alice", USERS["alice"])
    for n in range(count):
        body = f"Message number {n}. " * 20
        raw = (
            f"From: Bob <bob@example.test>\r\nTo: alice@example.test\r\nSubject: Report {n}\r\n"
            f"Date: Mon, 02 Nov 2026 10:00:00 +0000\r\nMessage-ID: <m{n}@example.test>\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        ).encode()
        client.append("INBOX", raw)
    client.logout()


def raw_search(client: IMAPClient, limit: int | None) -> int:
    uids = sorted(client.search(["FROM", "bob@example.test"]), reverse=True)
    page = uids if limit is None else uids[:limit]
    fetched = 0
    for start in range(0, len(page), FETCH_BATCH):
        fetched += len(client.fetch(page[start : start + FETCH_BATCH], SUMMARY_ITEMS))
    return fetched


def timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


async def main(count: int, repeat: int) -> None:
    keyring.set_keyring(_MemoryKeyring())
    with MailServer(USERS) as server:
        t0 = time.perf_counter()
        fill(server, count)
        print(f"Filled INBOX with {count:,} messages in {time.perf_counter() - t0:.1f} s")
        keyring.set_password(KEYRING_SERVICE, keyring_entry("alice"), USERS["alice"])
        account = {
            "name": "alice",
            "address": "alice@example.test",
            "user": "alice",
            "imap_host": "127.0.0.1",
            "imap_port": server.imap_port,
            "smtp_host": "127.0.0.1",
            "smtp_port": server.smtp_port,
            "security": "none",
        }
        with tempfile.TemporaryDirectory() as tmp:
            ctx = ToolContext(
                workspaces=[Path(tmp)],
                backup_dir=Path(tmp) / "b",
                mission_id="bench",
                extra={"email": {"account": account}},
            )
            search = next(t for t in TOOLS if t.name == "email_search")
            args = search.parse({"from_": "bob@example.test", "limit": 200})
            client = IMAPClient("127.0.0.1", port=server.imap_port, ssl=False)
            client.login("alice", USERS["alice"])
            client.select_folder("INBOX")  # both sides keep the folder selected between searches
            # Warm both up (log in, and let Dovecot build its cache of the fetched fields), then
            # alternate ours and raw so that neither profits from running second.
            await search.run(ctx, args)
            raw_search(client, None)
            store = next(iter(_stores().values()))
            ours_page, raw_page, ours_full, raw_full = [], [], [], []
            for _ in range(repeat):
                t = time.perf_counter()
                await search.run(ctx, args)
                ours_page.append(time.perf_counter() - t)
                raw_page.append(timed(lambda: raw_search(client, 200)))
                ours_full.append(
                    timed(lambda: store.search("INBOX", Criteria(from_="bob@example.test"), 0, count))
                )
                raw_full.append(timed(lambda: raw_search(client, None)))
            client.logout()
            await close_mission("bench")

    for what, ours, raw in (
        (f"email_search, a page of 200 of {count:,} matches", ours_page, raw_page),
        (f"search + summaries of all {count:,} matches", ours_full, raw_full),
    ):
        best_ours, best_raw = min(ours), min(raw)
        print(
            f"{what}: ours {best_ours * 1000:.0f} ms, raw imapclient {best_raw * 1000:.0f} ms, "
            f"ratio {best_ours / best_raw:.2f} (goal <= 1.3; best of {repeat})"
        )


def _stores() -> dict[Any, Any]:
    from connectors import email

    return email._stores  # type: ignore[attr-defined]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    asyncio.run(main(options.messages, options.repeat))
