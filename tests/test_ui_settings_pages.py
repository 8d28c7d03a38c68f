"""The settings' Accounts, Browser and Model pages, in the real window with the real engine.

Accounts are added as a person would (a provider chosen, the address and password typed, "Add
and test" clicked) and land in ``settings.json`` with the provider's servers, their password
in the keyring (the tests' in-memory one); a local Maildir is tested for real, a CalDAV
account against a real Radicale on 127.0.0.1. The browser's sites and program, and the model
page, go through Save to the file and come back in a new dialog. Every page fits 1024x700 and
the same screen at 150 % (683x467 logical pixels), and every control has a name a screen
reader can say.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json
import shutil
from typing import TYPE_CHECKING, Any

import keyring
import keyring.backends.fail
import pytest
from _radicale import CalDavServer
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QTabBar,
    QWidget,
)
from test_ui import WAIT, click, keys, open_window
from test_ui_layout import layout_problems

from app.paths import Paths
from app.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from conftest import MemoryKeyring
    from pytestqt.qtbot import QtBot

    from app.testing.scripted_model import ScriptedModel
    from ui.main_window import MainWindow
    from ui.settings_dialog import SettingsDialog

START = 90_000  # ms: the engine's first start imports the SDK, slow on a busy machine


@pytest.fixture
def window(qtbot: QtBot, scripted: ScriptedModel, workspace: Path) -> Iterator[MainWindow]:
    win = open_window(qtbot, [workspace])
    qtbot.waitUntil(lambda: win.bridge.engine is not None and win._engine_ready, timeout=START)
    # The window reads the settings once the engine is up: the settings dialog starts from them.
    qtbot.waitUntil(lambda: win.view.settings is not None, timeout=WAIT)
    yield win
    win.close()


def open_settings(qtbot: QtBot, window: MainWindow) -> SettingsDialog:
    with qtbot.waitSignal(window.settings_opened, timeout=WAIT) as opened:
        window.open_settings(first_run=False, key=None)
    dialog: SettingsDialog = opened.args[0]
    return dialog


def stored() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Paths.default().settings.read_text(encoding="utf-8"))
    return data


def stored_accounts() -> dict[str, dict[str, Any]]:
    path = Paths.default().settings
    if not path.exists():
        return {}
    return {a["name"]: a for a in stored().get("accounts", [])}


def status_settles(qtbot: QtBot, dialog: SettingsDialog) -> str:
    page = dialog.accounts_page
    qtbot.waitUntil(lambda: not page.busy.isVisibleTo(page) and page.status.text() != "", timeout=WAIT)
    text: str = page.status.text()
    return text


def save(qtbot: QtBot, dialog: SettingsDialog) -> Settings:
    with qtbot.waitSignal(dialog.saved, timeout=WAIT) as saved:
        click(qtbot, dialog.findChild(QAbstractButton, "saveSettingsButton"))
    settings: Settings = saved.args[0]
    written = json.loads(settings.model_dump_json())
    qtbot.waitUntil(lambda: Paths.default().settings.exists() and stored() == written, timeout=WAIT)
    return settings


def ancestors(widget: QWidget) -> list[QWidget]:
    found = []
    parent = widget.parentWidget()
    while parent is not None:
        found.append(parent)
        parent = parent.parentWidget()
    return found


def maildir(root: Path) -> Path:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


# Accounts -------------------------------------------------------------------------------------


def test_an_email_account_from_a_preset_is_saved_with_its_servers_and_its_password_in_the_keyring(
    qtbot: QtBot, window: MainWindow, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    import connectors.email

    # Tests never leave 127.0.0.1: Gmail's answer to the login is played here.
    logins: list[tuple[str, str]] = []

    def check(account: Any, password: str) -> list[str]:
        logins.append((account.imap_host, password))
        return [f"IMAP {account.imap_host}:993: logged in; folders INBOX.", "SMTP: logged in."]

    monkeypatch.setattr(connectors.email, "check_account", check)
    dialog = open_settings(qtbot, window)
    page = dialog.accounts_page
    dialog.tabs.setCurrentIndex(1)
    page.choose_provider("Gmail")
    assert page.imap_host_input.text() == "imap.gmail.com"
    assert page.smtp_host_input.text() == "smtp.gmail.com"
    assert page.smtp_port_input.value() == 465
    assert "app password" in page.preset_note.text()
    assert page.password_input.echoMode() == QLineEdit.EchoMode.Password
    keys(qtbot, page.email_name_input, "Work mail")
    keys(qtbot, page.address_input, "ada@gmail.com")
    keys(qtbot, page.password_input, "abcd efgh ijkl mnop")
    click(qtbot, page.add_email_button)

    text = status_settles(qtbot, dialog)
    assert "Added the email account 'Work-mail' (ada@gmail.com)" in text
    assert "The test worked" in text
    assert logins == [("imap.gmail.com", "abcd efgh ijkl mnop")]
    account = stored_accounts()["Work-mail"]
    assert account["default"] is True
    assert {k: account[k] for k in ("kind", "user", "imap_host", "imap_port", "smtp_host", "smtp_port")} == {
        "kind": "imap",
        "user": "ada@gmail.com",
        "imap_host": "imap.gmail.com",
        "imap_port": 993,
        "smtp_host": "smtp.gmail.com",
        "smtp_port": 465,
    }
    assert account["security"] == "tls"
    assert account["smtp_security"] is None
    assert "abcd efgh" not in Paths.default().settings.read_text(encoding="utf-8")
    assert memory_keyring.secrets[("ensemble", "account:Work-mail")] == "abcd efgh ijkl mnop"
    assert page.password_input.text() == "", "the typed password does not linger in the form"
    qtbot.waitUntil(lambda: page.account_list.count() == 1)
    assert "Work-mail — ada@gmail.com (email, used by default" in page.account_list.item(0).text()

    # Outlook's outgoing server wants STARTTLS while its incoming one is TLS from the start.
    page.choose_provider("Outlook or Microsoft 365")
    keys(qtbot, page.address_input, "ada@contoso.com")
    keys(qtbot, page.password_input, "secret")
    fields, _password = page.email_fields()
    assert (fields["imap_host"], fields["imap_port"], fields["security"]) == (
        "outlook.office365.com",
        993,
        "tls",
    )
    assert (fields["smtp_host"], fields["smtp_port"], fields["smtp_security"]) == (
        "smtp.office365.com",
        587,
        "starttls",
    )
    page.choose_provider("iCloud Mail")
    fields, _password = page.email_fields()
    assert (fields["imap_host"], fields["smtp_host"], fields["smtp_security"]) == (
        "imap.mail.me.com",
        "smtp.mail.me.com",
        "starttls",
    )

    # Saving the other pages keeps the account added on this one.
    assert "Work-mail" in [a.name for a in save(qtbot, dialog).accounts]
    assert "Work-mail" in stored_accounts()


def test_a_local_maildir_is_added_and_tested_for_real_then_made_default_and_removed(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    home = maildir(tmp_path / "Mail")
    archive = maildir(tmp_path / "Archive")
    dialog = open_settings(qtbot, window)
    page = dialog.accounts_page
    dialog.tabs.setCurrentIndex(1)
    page.choose_provider("A folder on this computer (Maildir or mbox)")
    assert not page.password_input.isVisibleTo(page)
    assert not page.servers.isVisibleTo(page)
    assert page.local_path_input.isVisibleTo(page)
    keys(qtbot, page.email_name_input, "home")
    keys(qtbot, page.address_input, "ada@example.org")
    keys(qtbot, page.local_path_input, str(home))
    click(qtbot, page.add_email_button)
    text = status_settles(qtbot, dialog)
    assert "The test worked" in text, text
    assert "maildir" in text
    account = stored_accounts()["home"]
    assert (account["kind"], account["path"], account["default"]) == ("maildir", str(home.resolve()), True)

    keys(qtbot, page.email_name_input, "archive")
    keys(qtbot, page.address_input, "ada@example.org")
    page.local_path_input.setText(str(archive))
    click(qtbot, page.add_email_button)
    assert "The test worked" in status_settles(qtbot, dialog)
    qtbot.waitUntil(lambda: page.account_list.count() == 2)
    assert stored_accounts()["archive"]["default"] is False

    page.select("archive")
    assert page.default_button.isEnabled()
    click(qtbot, page.default_button)
    qtbot.waitUntil(lambda: stored_accounts()["archive"]["default"] is True, timeout=WAIT)
    assert stored_accounts()["home"]["default"] is False
    qtbot.waitUntil(lambda: "used by default" in page.account_list.currentItem().text(), timeout=WAIT)

    # A name that is already taken is refused in words.
    keys(qtbot, page.email_name_input, "home")
    keys(qtbot, page.address_input, "ada@example.org")
    page.local_path_input.setText(str(home))
    click(qtbot, page.add_email_button)
    assert "already" in status_settles(qtbot, dialog)

    page.select("home")
    click(qtbot, page.remove_button)
    box = page.confirm_box
    assert box is not None
    assert box.isVisible()
    assert "home" in box.text()
    confirm = box.findChild(QAbstractButton, "confirmRemoveAccountButton")
    assert confirm is not None
    assert confirm.text() == "Remove"
    click(qtbot, confirm)
    qtbot.waitUntil(lambda: "home" not in stored_accounts(), timeout=WAIT)
    qtbot.waitUntil(lambda: page.account_list.count() == 1, timeout=WAIT)
    assert "Removed the account 'home'" in status_settles(qtbot, dialog)
    assert [a.name for a in save(qtbot, dialog).accounts] == ["archive"]


def test_a_calendar_account_logs_in_to_a_real_caldav_server_and_a_wrong_password_is_said_in_words(
    qtbot: QtBot, window: MainWindow, memory_keyring: MemoryKeyring
) -> None:
    with CalDavServer({"ada": "right-password"}) as server:
        dialog = open_settings(qtbot, window)
        page = dialog.accounts_page
        dialog.tabs.setCurrentIndex(1)
        keys(qtbot, page.calendar_name_input, "home")
        keys(qtbot, page.calendar_url_input, server.url)
        keys(qtbot, page.calendar_user_input, "ada")
        keys(qtbot, page.calendar_password_input, "right-password")
        assert page.calendar_password_input.echoMode() == QLineEdit.EchoMode.Password
        click(qtbot, page.add_calendar_button)
        text = status_settles(qtbot, dialog)
        assert "Added the calendar account 'home'" in text
        assert "The test worked" in text, text
        assert "logged in" in text
        account = stored_accounts()["home"]
        assert (account["kind"], account["url"], account["user"]) == ("caldav", server.url, "ada")
        assert memory_keyring.secrets[("ensemble", "account:home")] == "right-password"

        keys(qtbot, page.calendar_name_input, "wrong")
        assert page.calendar_url_input.text() == server.url, "kept for the next calendar"
        page.calendar_user_input.setText("ada")
        keys(qtbot, page.calendar_password_input, "not-the-password")
        click(qtbot, page.add_calendar_button)
        text = status_settles(qtbot, dialog)
        assert "The test did not work" in text, text
        assert "Traceback" not in text
        assert "{" not in text

        assert "password" in text
        # Missing details are said before anything is stored.
        page.calendar_url_input.clear()
        click(qtbot, page.add_calendar_button)
        assert "address" in page.status.text()
        page.calendar_url_input.setText(server.url)
        page.calendar_user_input.setText("ada")
        click(qtbot, page.add_calendar_button)
        assert "password" in page.status.text()


def test_without_a_password_store_the_problem_is_said_in_words(qtbot: QtBot, window: MainWindow) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())  # the conftest fixture puts its own back
    dialog = open_settings(qtbot, window)
    page = dialog.accounts_page
    dialog.tabs.setCurrentIndex(1)
    page.choose_provider("Fastmail")
    keys(qtbot, page.email_name_input, "work")
    keys(qtbot, page.address_input, "ada@fastmail.com")
    keys(qtbot, page.password_input, "app-password")
    click(qtbot, page.add_email_button)
    text = status_settles(qtbot, dialog)
    assert "could not reach your system's password store" in text
    assert "GNOME Keyring" in text
    for jargon in ("pypi", "http", "keyrings.alt", "backend", "Error", "package"):
        assert jargon not in text, text
    assert "work" not in stored_accounts(), "nothing is added when the password cannot be kept"
    assert window.error_banner.isHidden(), "the problem is said on the page, not as a failure"


def test_the_accounts_the_engine_has_are_shown_and_kept_even_if_the_window_s_copy_is_older(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    engine = window.bridge.engine
    assert engine is not None
    home = maildir(tmp_path / "Mail")
    done: list[str] = []
    window.bridge.call(
        lambda e: e.add_account(
            {"name": "home", "kind": "maildir", "address": "a@example.org", "path": str(home)}, None
        ),
        done.append,
        what="test",
    )
    qtbot.waitUntil(lambda: done != [], timeout=WAIT)
    dialog = open_settings(qtbot, window)  # the window's copy of the settings has no account
    qtbot.waitUntil(lambda: dialog.accounts_page.account_list.count() == 1, timeout=WAIT)
    assert [a.name for a in save(qtbot, dialog).accounts] == ["home"]
    assert "home" in stored_accounts()


# Browser --------------------------------------------------------------------------------------


def test_allowed_sites_the_browser_program_and_its_profile_round_trip(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    program = tmp_path / "chromium"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    dialog = open_settings(qtbot, window)
    page = dialog.browser_page
    dialog.tabs.setCurrentIndex(2)

    keys(qtbot, page.site_input, "https://Portal.Example.com/login?next=/invoices")
    click(qtbot, dialog.findChild(QAbstractButton, "addSiteButton"))
    assert page.sites() == ["portal.example.com"]
    assert "Kept the site's name, portal.example.com" in page.site_note.text()
    for bad, said in (
        ("bob@example.com", "email address"),
        ("not a site", "spaces"),
        ("ftp://files.example.com", "not a web site"),
        ("intranet", "not a site's name"),
    ):
        page.site_input.setText(bad)
        click(qtbot, dialog.findChild(QAbstractButton, "addSiteButton"))
        assert said in page.site_note.text(), (bad, page.site_note.text())
    assert page.sites() == ["portal.example.com"]
    page.site_input.setText("example.org")
    click(qtbot, dialog.findChild(QAbstractButton, "addSiteButton"))
    page.site_input.setText("127.0.0.1:8000")
    page.on_add_site_clicked()
    assert page.sites() == ["portal.example.com", "example.org", "127.0.0.1:8000"]
    page.site_list.setCurrentRow(1)
    click(qtbot, dialog.findChild(QAbstractButton, "removeSiteButton"))
    page.site_input.setText("docs.example.net")  # typed, not added: Save adds it

    page.path_input.setText(str(tmp_path / "nowhere" / "chrome"))
    click(qtbot, dialog.findChild(QAbstractButton, "saveSettingsButton"))
    assert dialog.isVisible()
    assert "does not exist" in dialog.error_label.text()
    assert dialog.tabs.currentIndex() == 2

    page.path_input.setText(str(program))
    page.profile_input.setChecked(True)
    page.show_input.setChecked(True)
    save(qtbot, dialog)
    browser = stored()["sections"]["browser"]
    assert browser["allowed_domains"] == ["portal.example.com", "127.0.0.1:8000", "docs.example.net"]
    assert browser["executable_path"] == str(program)
    assert browser["profile_dir"] == str(Paths.default().data_dir / "browser-profile")
    assert browser["headless"] is False
    # The browser connector reads the section as its own model.
    section = Settings.load(Paths.default().settings).section("browser")
    assert getattr(section, "allowed_domains", None) == browser["allowed_domains"]

    again = open_settings(qtbot, window)
    assert again is not dialog
    assert again.browser_page.sites() == browser["allowed_domains"]
    assert again.browser_page.path_input.text() == str(program)
    assert again.browser_page.profile_input.isChecked()
    assert again.browser_page.show_input.isChecked()
    again.browser_page.profile_input.setChecked(False)
    again.browser_page.path_input.clear()
    save(qtbot, again)
    assert stored()["sections"]["browser"]["profile_dir"] is None
    assert stored()["sections"]["browser"]["executable_path"] is None


def test_find_it_fills_the_browser_program_in_or_says_none_was_found(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_which = shutil.which
    found = {"chromium-browser": "/opt/test/chromium-browser"}
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: found.get(name) if name in found else None)
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "no-browsers"))
    dialog = open_settings(qtbot, window)
    page = dialog.browser_page
    dialog.tabs.setCurrentIndex(2)
    click(qtbot, page.find_button)
    qtbot.waitUntil(lambda: page.path_input.text() == "/opt/test/chromium-browser", timeout=WAIT)
    assert "Found /opt/test/chromium-browser" in page.path_note.text()
    qtbot.waitUntil(page.find_button.isEnabled, timeout=WAIT)

    found.clear()
    page.path_input.clear()
    click(qtbot, page.find_button)
    qtbot.waitUntil(lambda: "No Chrome or Chromium was found" in page.path_note.text(), timeout=WAIT)
    assert page.path_input.text() == ""
    monkeypatch.setattr(shutil, "which", real_which)


def test_no_message_tells_the_person_to_set_a_settings_key() -> None:
    from pathlib import Path as P

    root = P(__file__).resolve().parents[1]
    for folder in ("connectors", "app"):
        for source in (root / folder).rglob("*.py"):
            text = source.read_text(encoding="utf-8")
            for key in ("browser_executable_path", "executable_path in the settings", "pypi.org"):
                assert key not in text, f"{source} still says {key}"


# Model ----------------------------------------------------------------------------------------


def test_the_model_page_round_trip(qtbot: QtBot, window: MainWindow) -> None:
    dialog = open_settings(qtbot, window)
    page = dialog.model_page
    dialog.tabs.setCurrentIndex(3)
    names = [page.model_input.itemText(i) for i in range(page.model_input.count())]
    assert {"claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"} <= set(names)
    page.model_input.setCurrentText("claude-haiku-4-5")
    assert "fastest" in page.model_note.text()
    page.budget_input.setValue(500)
    page.concurrency_input.setValue(3)
    settings = save(qtbot, dialog)
    assert (settings.model, settings.token_budget, settings.max_concurrency) == (
        "claude-haiku-4-5",
        500_000,
        3,
    )
    assert (stored()["model"], stored()["token_budget"], stored()["max_concurrency"]) == (
        "claude-haiku-4-5",
        500_000,
        3,
    )
    engine = window.bridge.engine
    assert engine is not None
    qtbot.waitUntil(lambda: engine.settings.model == "claude-haiku-4-5", timeout=WAIT)

    again = open_settings(qtbot, window)
    assert again.model_page.model() == "claude-haiku-4-5"
    assert again.model_page.budget_input.value() == 500
    again.model_page.model_input.setCurrentText("claude-sonnet-4-5-20250929")
    assert "typed" in again.model_page.model_note.text()
    assert save(qtbot, again).model == "claude-sonnet-4-5-20250929"


def test_a_budget_left_alone_keeps_its_exact_value(qtbot: QtBot) -> None:
    from ui.app import create_application
    from ui.settings_dialog import SettingsDialog

    create_application()
    dialog = SettingsDialog(Settings(token_budget=1_234_567), key_hint=None)
    qtbot.addWidget(dialog)
    assert dialog.budget_input.value() == 1235
    assert dialog.settings().token_budget == 1_234_567
    dialog.budget_input.setValue(2000)
    assert dialog.settings().token_budget == 2_000_000
    # Without the engine, what needs it says so instead of failing.
    assert not dialog.accounts_page.add_email_button.isEnabled()
    assert "once Ensemble has started" in dialog.accounts_page.status.text()


def test_the_team_page_chooses_a_temporal_cluster_and_refuses_an_address_without_a_port(
    qtbot: QtBot,
) -> None:
    from ui.app import create_application
    from ui.settings_dialog import SettingsDialog

    create_application()
    dialog = SettingsDialog(Settings(), key_hint="…1234")
    qtbot.addWidget(dialog)
    page = dialog.team_page
    assert page.backend_input.currentData() == "embedded"
    assert not page.address_input.isEnabled()  # nothing to set while missions run here
    page.backend_input.setCurrentIndex(1)
    assert page.address_input.isEnabled()
    page.address_input.setText("temporal.example.com")
    saved: list[Settings] = []
    dialog.saved.connect(lambda settings, _key: saved.append(settings))
    dialog.on_save_clicked()
    assert saved == []
    assert "host and port" in dialog.error_label.text()
    assert dialog.tabs.tabText(dialog.tabs.currentIndex()) == "Team"
    page.address_input.setText("temporal.example.com:7233")
    page.namespace_input.setText("finance")
    page.tls_input.setChecked(True)
    dialog.on_save_clicked()
    assert len(saved) == 1
    assert saved[0].backend == "temporal"
    assert saved[0].temporal.model_dump() == {
        "address": "temporal.example.com:7233",
        "namespace": "finance",
        "task_queue": "ensemble",
        "tls": True,
    }


# Fitting and naming ---------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(1024, 700), (683, 467)])
def test_every_page_fits_a_small_screen_and_every_control_has_a_name(
    qtbot: QtBot, window: MainWindow, width: int, height: int, tmp_path: Path
) -> None:
    """683x467 is 1024x700 at 150 %: what the dialog gets on such a screen."""
    dialog = open_settings(qtbot, window)
    dialog.resize(width - 40, height - 40)
    problems: list[str] = []
    for index in range(dialog.tabs.count()):
        dialog.tabs.setCurrentIndex(index)
        page = dialog.tabs.widget(index)
        qtbot.waitUntil(page.isVisible)
        content = page.widget()  # type: ignore[attr-defined]
        where = f"{width}x{height} {dialog.tabs.tabText(index)}"
        QApplication.processEvents()
        problems += layout_problems(content, where)
        if index == 1:
            dialog.accounts_page.choose_provider("A folder on this computer (Maildir or mbox)")
            QApplication.processEvents()
            problems += layout_problems(content, where + " (local mail)")
            dialog.accounts_page.choose_provider("Gmail")
    for button in dialog.findChildren(QAbstractButton):
        if button.isVisible() and not isinstance(button.parentWidget(), QTabBar):
            if button.sizeHint().width() > button.width():
                problems.append(f"{button.objectName()} is narrower than its text")
    assert dialog.width() <= width
    assert dialog.height() <= height
    assert problems == []

    unnamed = []
    for widget in dialog.findChildren(QWidget):
        if not isinstance(
            widget, (QAbstractButton, QLineEdit, QComboBox, QAbstractSpinBox, QAbstractItemView)
        ):
            continue
        if any(isinstance(a, (QComboBox, QAbstractSpinBox, QTabBar)) for a in ancestors(widget)):
            continue  # a combo box's own text field and list, a spin box's field, the tab bar's arrows
        if not widget.accessibleName():
            unnamed.append(f"{type(widget).__name__} {widget.objectName()}")
    assert unnamed == []
