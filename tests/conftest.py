"""Fixtures shared by every test: no real model endpoint, an in-memory keyring, a private home."""

from __future__ import annotations

import datetime
import ipaddress
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keyring
import keyring.backend
import openpyxl
import openpyxl.styles
import pytest

from app.testing.scripted_model import ScriptedModel

if TYPE_CHECKING:
    from collections.abc import Iterator

TESTDATA = Path(__file__).resolve().parent / "data"
"""Real files from other programs (with their licences), read in place and never written."""


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A real keyring backend that keeps secrets in memory, for machines with no Secret Service."""

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


_real_connect = socket.socket.connect


def _loopback_only_connect(self: socket.socket, address: Any) -> Any:
    """Refuses, loudly, any connection that is not to this machine: tests never reach out."""
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise RuntimeError(f"A test tried to connect to {address!r}; tests never leave 127.0.0.1.")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _loopback_only_connect)


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def ensemble_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private data directory, and no real API: the default endpoint is a closed local port."""
    home = tmp_path / "ensemble-home"
    monkeypatch.setenv("ENSEMBLE_HOME", str(home))
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    return home


@pytest.fixture
def testdata() -> Path:
    """The folder of real files from other programs (tests/data)."""
    if not TESTDATA.is_dir():
        pytest.fail(f"The test data is missing at {TESTDATA}.")
    return TESTDATA


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedModel]:
    """A scripted model on 127.0.0.1, with the SDK's environment pointing at it."""
    model = ScriptedModel(api_key="sk-ant-test")
    with model:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", model.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        yield model


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A workspace folder with a real workbook, ``invoices.xlsx``, written by openpyxl.

    Sheet ``Invoices``: a header row, four invoices (A2:D5), a total formula in D6, a bold
    header and a currency format on column D.
    """
    folder = tmp_path / "workspace"
    folder.mkdir()
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Invoices"
    sheet.append(["Invoice", "Customer", "Due", "Amount", "Status"])
    rows = [
        ("INV-1", "Acme", datetime.date(2026, 9, 1), 1200.5, "open"),
        ("INV-2", "Globex", datetime.date(2026, 12, 1), 300, "open"),
        ("INV-3", "Initech", datetime.date(2026, 10, 15), 75.25, "paid"),
        ("INV-4", "Umbrella", datetime.date(2026, 8, 20), 990, "open"),
    ]
    for row in rows:
        sheet.append(list(row))
    sheet["D6"] = "=SUM(D2:D5)"
    for cell in sheet[1]:
        cell.font = openpyxl.styles.Font(bold=True)
    for row_cells in sheet["D2:D6"]:
        for cell in row_cells:
            cell.number_format = "#,##0.00 €"
    book.create_sheet("Notes")["A1"] = "Keep this note"
    book.save(folder / "invoices.xlsx")
    return folder


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One Temporal dev server (``temporal server start-dev``, SQLite in a temporary folder) for
    the session's Temporal tests; each test uses its own task queue. See tests/_temporal.py."""
    from _temporal import dev_server

    with dev_server(tmp_path_factory.mktemp("temporal")) as server:
        yield server
