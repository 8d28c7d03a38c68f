"""Fixes from a newcomer's walk through the window (issue 17), offscreen with the real engine.

After "Add and test", everything that belonged to the account just added leaves the form (its
name, address, login name, password, mail folder), so the form does not look half filled in
for the next account; the servers stay, for a second account at the same provider.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from typing import TYPE_CHECKING

import pytest
from _dovecot import MailServer
from test_ui import click, keys
from test_ui_settings_pages import maildir, open_settings, status_settles, stored_accounts, window

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from conftest import MemoryKeyring
    from pytestqt.qtbot import QtBot

    from ui.main_window import MainWindow

__all__ = ["window"]  # the fixture, shared with the settings pages' tests


@pytest.fixture
def mail() -> Iterator[MailServer]:
    with MailServer({"alice": "secret"}) as server:
        yield server


def test_an_account_typed_with_other_servers_is_added_for_real_and_its_fields_leave_the_form(
    qtbot: QtBot, window: MainWindow, mail: MailServer, memory_keyring: MemoryKeyring
) -> None:
    dialog = open_settings(qtbot, window)
    page = dialog.accounts_page
    dialog.tabs.setCurrentIndex(1)
    page.choose_provider("Other (type the servers)")
    keys(qtbot, page.email_name_input, "work")
    keys(qtbot, page.address_input, "alice@example.test")
    keys(qtbot, page.user_input, "alice")
    keys(qtbot, page.password_input, "secret")
    keys(qtbot, page.imap_host_input, "127.0.0.1")
    page.imap_port_input.setValue(mail.imap_port)
    page.imap_security_input.setCurrentIndex(page.imap_security_input.findData("none"))
    keys(qtbot, page.smtp_host_input, "127.0.0.1")
    page.smtp_port_input.setValue(mail.smtp_port)
    page.smtp_security_input.setCurrentIndex(page.smtp_security_input.findData("none"))
    click(qtbot, page.add_email_button)

    text = status_settles(qtbot, dialog)
    assert "The test worked" in text, text
    assert stored_accounts()["work"]["user"] == "alice"
    assert memory_keyring.secrets[("ensemble", "account:work")] == "secret"
    for field in (page.email_name_input, page.address_input, page.user_input, page.password_input):
        assert field.text() == "", field.objectName()
    assert page.imap_host_input.text() == "127.0.0.1", "the servers stay for a second account"
    assert page.imap_port_input.value() == mail.imap_port


def test_a_mail_folder_added_leaves_the_form_empty(qtbot: QtBot, window: MainWindow, tmp_path: Path) -> None:
    home = maildir(tmp_path / "Mail")
    dialog = open_settings(qtbot, window)
    page = dialog.accounts_page
    dialog.tabs.setCurrentIndex(1)
    page.choose_provider("A folder on this computer (Maildir or mbox)")
    keys(qtbot, page.email_name_input, "home")
    keys(qtbot, page.address_input, "ada@example.org")
    keys(qtbot, page.local_path_input, str(home))
    click(qtbot, page.add_email_button)

    assert "The test worked" in status_settles(qtbot, dialog)
    assert "home" in stored_accounts()
    assert page.local_path_input.text() == ""
    assert page.email_name_input.text() == ""
