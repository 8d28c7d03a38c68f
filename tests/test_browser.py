"""The browser tools on real Chromium against pages served from 127.0.0.1.

Tool calls are made directly here, with an approval hook that records each proposal and
answers it as the test says; the engine end to end is in ``test_browser_mission.py``. The
web app's own request log proves what reached the server.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import TYPE_CHECKING, Any

import pytest

from connectors import browser
from connectors.base import Approval, Destination, Preview, ToolContext, ToolError, ToolOutput, host_matches
from tests._webapp import WebApp, miniwob_root

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, Sequence
    from pathlib import Path

    from connectors.base import Effect

pytestmark = pytest.mark.slow


@pytest.fixture
def webapp() -> Iterator[WebApp]:
    with WebApp() as app:
        yield app


@pytest.fixture
async def _browser_session() -> AsyncIterator[None]:
    yield
    await browser.shutdown()


class Person:
    """An approval hook that answers each proposal from a list, and keeps what it was shown."""

    def __init__(self, *answers: bool | str | dict[str, Any]) -> None:
        self.answers = list(answers)
        self.proposals: list[tuple[str, Effect, dict[str, Any], Preview]] = []
        self.destinations: list[list[Destination]] = []

    async def __call__(
        self,
        kind: str,
        effect: Effect,
        arguments: dict[str, Any],
        preview: Preview,
        destinations: Sequence[Destination] = (),
    ) -> Approval:
        self.proposals.append((kind, effect, arguments, preview))
        self.destinations.append(list(destinations))
        answer = self.answers.pop(0) if self.answers else False
        if isinstance(answer, dict):
            return Approval(f"a{len(self.proposals)}", True, answer)
        if answer is True:
            return Approval(f"a{len(self.proposals)}", True, arguments)
        return Approval(f"a{len(self.proposals)}", False, arguments, answer or "no")


def context(
    tmp_path: Path,
    person: Person | None = None,
    mission: str = "m1",
    vouched: Sequence[str] = ("127.0.0.1",),
    **options: Any,
) -> ToolContext:
    """A tool context as the gate makes it: the person vouched for the hosts in ``vouched``
    (the web app's, unless a test says otherwise), as if the mission had named them."""
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    return ToolContext(
        workspaces=[workspace],
        backup_dir=tmp_path / "backups",
        mission_id=mission,
        approve=person,
        extra={"browser": {"executable_path": "/usr/bin/chromium", **options}},
        vouches=lambda d: any(host_matches(d.value, v) for v in vouched),
    )


async def call(ctx: ToolContext, name: str, **arguments: Any) -> ToolOutput:
    tool = next(t for t in browser.TOOLS if t.name == name)
    return await tool.run(ctx, tool.parse(arguments))


def ref(snapshot: str, role: str, name: str) -> str:
    """The ref of the element with this role and accessible name in a snapshot."""
    match = re.search(rf'- {role} "{re.escape(name)}"[^\n]*\[ref=((?:f\d+)?e\d+)\]', snapshot)
    assert match, f"no {role} {name!r} in:\n{snapshot}"
    return match.group(1)


async def fill_order(ctx: ToolContext, webapp: WebApp, code: str = "T-200") -> str:
    page = (await call(ctx, "browser_open", url=webapp.url("/order"))).text
    await call(ctx, "browser_type", ref=ref(page, "textbox", "Item code"), text=code)
    await call(ctx, "browser_type", ref=ref(page, "spinbutton", "Quantity"), text="3")
    await call(ctx, "browser_type", ref=ref(page, "textbox", "Unit price"), text="59.90")
    await call(ctx, "browser_select", ref=ref(page, "combobox", "Delivery"), values=["Express"])
    return page


@pytest.mark.usefixtures("_browser_session")
async def test_read_a_table_then_an_approved_form_post_arrives_once(tmp_path: Path, webapp: WebApp) -> None:
    person = Person(True)
    ctx = context(tmp_path, person, allowed_domains=["127.0.0.1"])

    page = (await call(ctx, "browser_open", url=webapp.url("/prices"))).text
    assert "URL: " + webapp.url("/prices") in page
    assert '<external_content source="' + webapp.url("/prices") in page
    tables = (await call(ctx, "browser_extract_table", ref=ref(page, "table", "Price list"))).text
    data = json.loads(tables.split("\n", 1)[1].rsplit("\n", 1)[0])
    assert data["tables"][0]["header"] == ["Item", "Code", "Price"]
    assert data["tables"][0]["rows"][1] == ["Toner black", "T-200", "59.90"]

    page = await fill_order(ctx, webapp)
    assert webapp.posts("/order") == []
    result = await call(ctx, "browser_click", ref=ref(page, "button", "Place order"))

    assert "approved" in result.text
    assert "Order received" in result.text
    [hit] = webapp.posts("/order")
    assert hit.fields == {"code": "T-200", "quantity": "3", "price": "59.90", "delivery": "express"}
    [(kind, effect, arguments, preview)] = person.proposals
    assert (kind, effect, arguments["method"]) == ("browser_request", "external", "POST")
    assert arguments["url"] == webapp.url("/order")
    assert ["code", "T-200"] in arguments["fields"]
    assert arguments["page_url"] == webapp.url("/order")
    assert "Place order" in arguments["element"]
    assert preview.kind == "http_request"
    assert preview.detail.to_json()["screenshot_png_base64"].startswith("iVBOR")


@pytest.mark.usefixtures("_browser_session")
async def test_a_rejected_form_post_never_reaches_the_server_and_the_form_stays(
    tmp_path: Path, webapp: WebApp
) -> None:
    person = Person("wrong supplier")
    ctx = context(tmp_path, person)
    page = await fill_order(ctx, webapp)

    result = await call(ctx, "browser_click", ref=ref(page, "button", "Place order"))

    assert "REJECTED (wrong supplier)" in result.text
    assert "never reached the server" in result.text
    assert webapp.posts("/order") == []
    assert "URL: " + webapp.url("/order") in result.text  # still on the filled form
    assert len(person.proposals) == 1


@pytest.mark.usefixtures("_browser_session")
async def test_an_edited_approval_sends_the_edited_fields(tmp_path: Path, webapp: WebApp) -> None:
    def edit(arguments: dict[str, Any]) -> dict[str, Any]:
        fields = [[k, "1" if k == "quantity" else v] for k, v in arguments["fields"]]
        return {**arguments, "fields": fields}

    class Editor(Person):
        async def __call__(
            self,
            kind: str,
            effect: Effect,
            arguments: dict[str, Any],
            preview: Preview,
            destinations: Sequence[Destination] = (),
        ) -> Approval:
            self.proposals.append((kind, effect, arguments, preview))
            return Approval("a1", True, edit(arguments))

    ctx = context(tmp_path, Editor())
    page = await fill_order(ctx, webapp)
    result = await call(ctx, "browser_click", ref=ref(page, "button", "Place order"))
    assert "edited" in result.text
    [hit] = webapp.posts("/order")
    assert hit.fields["quantity"] == "1"


@pytest.mark.usefixtures("_browser_session")
async def test_login_password_is_masked_in_the_proposal(tmp_path: Path, webapp: WebApp) -> None:
    person = Person(True)
    ctx = context(tmp_path, person)
    page = (await call(ctx, "browser_open", url=webapp.url("/login"))).text
    await call(ctx, "browser_type", ref=ref(page, "textbox", "User name"), text="ada")
    await call(ctx, "browser_type", ref=ref(page, "textbox", "Password"), text="s3cret-Pa55")
    result = await call(ctx, "browser_click", ref=ref(page, "button", "Sign in"))

    assert "Welcome ada" in result.text
    [hit] = webapp.posts("/login")
    assert hit.fields == {"user": "ada", "secret": "s3cret-Pa55"}
    [(_kind, _effect, arguments, preview)] = person.proposals
    assert arguments["fields"] == [["user", "ada"], ["secret", "••••••"]]
    everything = json.dumps(arguments) + preview.text + json.dumps(preview.detail.to_json())
    assert "s3cret" not in everything


@pytest.mark.usefixtures("_browser_session")
async def test_spa_fetch_post_is_held_approved_then_rejected(tmp_path: Path, webapp: WebApp) -> None:
    person = Person(True, "not now")
    ctx = context(tmp_path, person)
    page = (await call(ctx, "browser_open", url=webapp.url("/spa"))).text
    await call(ctx, "browser_type", ref=ref(page, "textbox", "Note"), text="call Bob")

    first = await call(ctx, "browser_click", ref=ref(page, "button", "Save note"))
    assert "Saved: 1" in first.text
    assert [h.body for h in webapp.posts("/api/notes")] == ['{"note":"call Bob"}']
    assert person.proposals[0][2]["fields"] == [["note", "call Bob"]]

    second = await call(ctx, "browser_click", ref=ref(first.text, "button", "Save note"))
    assert "REJECTED (not now)" in second.text
    assert "Save failed" in second.text  # the script saw its request fail
    assert len(webapp.posts("/api/notes")) == 1


@pytest.mark.usefixtures("_browser_session")
async def test_a_post_sent_when_no_call_runs_is_blocked_and_reported(tmp_path: Path, webapp: WebApp) -> None:
    person = Person(*([False] * 100))
    ctx = context(tmp_path, person, settle_timeout=1)
    await call(ctx, "browser_open", url=webapp.url("/ticker"))
    state = browser.SESSION.states()["m1"]
    # Wait for the page's own timer to fire while no tool call runs.
    await state.noted.wait()
    result = await call(ctx, "browser_snapshot")
    assert "while none of your browser actions was running; it was blocked" in result.text
    assert webapp.posts("/api/tick") == []


@pytest.mark.usefixtures("_browser_session")
async def test_allowlist_refuses_other_sites(tmp_path: Path, webapp: WebApp) -> None:
    ctx = context(tmp_path, Person(), allowed_domains=["127.0.0.1"])
    with pytest.raises(ToolError, match="localhost is not among the sites this mission may visit"):
        await call(ctx, "browser_open", url=webapp.url("/prices").replace("127.0.0.1", "localhost"))
    page = (await call(ctx, "browser_open", url=webapp.url("/offsite"))).text
    result = await call(ctx, "browser_click", ref=ref(page, "link", "Elsewhere"))
    assert "not among this mission's allowed sites (127.0.0.1)" in result.text
    assert "URL: " + webapp.url("/offsite") in result.text
    assert not [h for h in webapp.hits if h.path == "/prices"]
    with pytest.raises(ToolError, match="not a web address"):
        await call(ctx, "browser_open", url="file:///etc/passwd")


@pytest.mark.usefixtures("_browser_session")
async def test_dialogs_are_answered_and_reported(tmp_path: Path, webapp: WebApp) -> None:
    ctx = context(tmp_path, Person())
    page = (await call(ctx, "browser_open", url=webapp.url("/dialogs"))).text
    alert = await call(ctx, "browser_click", ref=ref(page, "button", "Alert"))
    assert "alert dialog saying 'Hello from the page'; it was accepted" in alert.text
    confirm = await call(ctx, "browser_click", ref=ref(page, "button", "Delete"))
    assert "confirm dialog saying 'Delete the record?'" in confirm.text
    assert "deleted" in confirm.text
    ask = await call(ctx, "browser_click", ref=ref(page, "button", "Ask"))
    assert "it was dismissed" in ask.text
    assert "no name" in ask.text


@pytest.mark.usefixtures("_browser_session")
async def test_popups_become_the_current_tab_and_back_closes_them(tmp_path: Path, webapp: WebApp) -> None:
    ctx = context(tmp_path, Person())
    page = (await call(ctx, "browser_open", url=webapp.url("/popup"))).text
    opened = await call(ctx, "browser_click", ref=ref(page, "link", "Prices in a new tab"))
    assert "opened a new tab" in opened.text
    assert "URL: " + webapp.url("/prices") in opened.text
    assert "Price list" in opened.text
    back = await call(ctx, "browser_back")
    assert "Closed the tab" in back.text
    assert "URL: " + webapp.url("/popup") in back.text
    window = await call(ctx, "browser_click", ref=ref(back.text, "button", "Open order window"))
    assert "URL: " + webapp.url("/order") in window.text


@pytest.mark.usefixtures("_browser_session")
async def test_pages_that_never_load_and_redirect_loops_fail_clearly(tmp_path: Path, webapp: WebApp) -> None:
    ctx = context(tmp_path, Person(), nav_timeout=2)
    with pytest.raises(ToolError, match="did not load within 2 seconds"):
        await call(ctx, "browser_open", url=webapp.url("/never"))
    with pytest.raises(ToolError, match="redirects in a loop"):
        await call(ctx, "browser_open", url=webapp.url("/loop"))
    with pytest.raises(ToolError, match="cannot be reached"):
        await call(ctx, "browser_open", url="http://127.0.0.1:1/")
    page = await call(ctx, "browser_open", url=webapp.url("/prices"))
    assert "Supplier prices" in page.text


@pytest.mark.usefixtures("_browser_session")
async def test_a_huge_page_snapshot_is_capped(tmp_path: Path, webapp: WebApp) -> None:
    ctx = context(tmp_path, Person())
    page = (await call(ctx, "browser_open", url=webapp.url("/huge"))).text
    assert len(page) < 30_000
    assert "[snapshot cut:" in page
    first_link = ref(page, "link", "open")
    result = await call(ctx, "browser_click", ref=first_link)
    assert "URL: " + webapp.url("/item/0") in result.text


@pytest.mark.usefixtures("_browser_session")
async def test_stale_refs_and_bad_keys_are_clear_errors(tmp_path: Path, webapp: WebApp) -> None:
    ctx = context(tmp_path, Person())
    await call(ctx, "browser_open", url=webapp.url("/prices"))
    with pytest.raises(ToolError, match="There is no element e999"):
        await call(ctx, "browser_click", ref="e999")
    with pytest.raises(ToolError, match="not a key name"):
        await call(ctx, "browser_press", key="NoSuchKey")


@pytest.mark.usefixtures("_browser_session")
async def test_screenshot_is_an_image(tmp_path: Path, webapp: WebApp) -> None:
    ctx = context(tmp_path, Person())
    await call(ctx, "browser_open", url=webapp.url("/prices"))
    result = await call(ctx, "browser_screenshot")
    [(media, data)] = result.images
    assert media == "image/png"
    assert data.startswith(b"\x89PNG")
    saved = json.loads(result.text)["saved_to"]
    assert saved
    assert (tmp_path / "backups").as_posix() in saved


@pytest.mark.usefixtures("_browser_session")
async def test_download_saves_into_the_workspace_and_a_stray_download_is_refused(
    tmp_path: Path, webapp: WebApp
) -> None:
    ctx = context(tmp_path, Person())
    page = (await call(ctx, "browser_open", url=webapp.url("/downloads"))).text
    link = ref(page, "link", "Monthly report")
    stray = await call(ctx, "browser_click", ref=link)
    assert "started a download of 'report.csv'; it was not saved" in stray.text
    assert not (tmp_path / "workspace" / "report.csv").exists()
    tool = next(t for t in browser.TOOLS if t.name == "browser_download")
    args = tool.parse({"ref": link})
    preview = await tool.render_preview(ctx, args)
    assert "Monthly report" in preview.text
    result = await tool.run(ctx, args)
    assert (tmp_path / "workspace" / "report.csv").read_text() == "month,total\njan,10\n"
    assert result.backup is not None
    assert result.backup.backup_path is None
    again = await tool.run(ctx, args)
    assert json.loads(again.text)["saved"].endswith("report (2).csv")


@pytest.mark.usefixtures("_browser_session")
async def test_a_crashed_browser_is_restarted_and_the_model_told(tmp_path: Path, webapp: WebApp) -> None:
    ctx = context(tmp_path, Person())
    await call(ctx, "browser_open", url=webapp.url("/prices"))
    state = browser.SESSION.states()["m1"]
    assert state.context.browser is not None
    await state.context.browser.close()  # as if it had crashed
    result = await call(ctx, "browser_open", url=webapp.url("/order"))
    assert "The browser stopped unexpectedly" in result.text
    assert "Order" in result.text


@pytest.mark.usefixtures("_browser_session")
async def test_missions_have_separate_contexts_closed_at_their_end(tmp_path: Path, webapp: WebApp) -> None:
    one, two = context(tmp_path, Person(), mission="m1"), context(tmp_path, Person(), mission="m2")
    await call(one, "browser_open", url=webapp.url("/prices"))
    await call(two, "browser_open", url=webapp.url("/order"))
    states = browser.SESSION.states()
    assert states["m1"].context is not states["m2"].context
    await browser.close_mission("m1")
    assert "m1" not in browser.SESSION.states()
    assert "Order" in (await call(two, "browser_snapshot")).text


MINIWOB = miniwob_root()


@pytest.mark.skipif(MINIWOB is None, reason="the miniwob package (MiniWoB++ tasks) is not installed")
@pytest.mark.usefixtures("_browser_session")
@pytest.mark.parametrize("task", ["login-user", "enter-text"])
async def test_miniwob_form_tasks(tmp_path: Path, webapp: WebApp, task: str) -> None:
    ctx = context(tmp_path, Person())
    page = (await call(ctx, "browser_open", url=webapp.url(f"/miniwob/miniwob/{task}.html"))).text
    start = re.search(r"- generic \[ref=((?:f\d+)?e\d+)\]: START", page)
    assert start, page
    page = (await call(ctx, "browser_click", ref=start.group(1))).text
    if task == "login-user":
        match = re.search(r'username "?([^" ]+)"? and the password "?([^" ]+)"', page)
        assert match, page
        user, password = match.groups()
        boxes = re.findall(r"- textbox[^\n]*\[ref=((?:f\d+)?e\d+)\]", page)
        await call(ctx, "browser_type", ref=boxes[0], text=user)
        await call(ctx, "browser_type", ref=boxes[1], text=password)
        await call(ctx, "browser_click", ref=ref(page, "button", "Login"))
    else:
        match = re.search(r'Enter "?([^"]+?)"? into the text field', page)
        assert match, page
        [box] = re.findall(r"- textbox[^\n]*\[ref=((?:f\d+)?e\d+)\]", page)
        await call(ctx, "browser_type", ref=box, text=match.group(1))
        await call(ctx, "browser_click", ref=ref(page, "button", "Submit"))
    state = browser.SESSION.states()["m1"]
    reward = await state.page.evaluate("() => WOB_RAW_REWARD_GLOBAL")
    assert reward == 1


@pytest.mark.usefixtures("_browser_session")
async def test_a_persistent_profile_keeps_its_folder_and_serves_one_mission_at_a_time(
    tmp_path: Path, webapp: WebApp
) -> None:
    profile = tmp_path / "profile"
    one = context(tmp_path, Person(), mission="m1", profile_dir=str(profile))
    two = context(tmp_path, Person(), mission="m2", profile_dir=str(profile))
    await call(one, "browser_open", url=webapp.url("/prices"))
    assert (profile / "Default").is_dir()
    with pytest.raises(ToolError, match="profile is in use by another mission"):
        await call(two, "browser_open", url=webapp.url("/prices"))
    await browser.close_mission("m1")
    assert "Order" in (await call(two, "browser_open", url=webapp.url("/order"))).text


# ---------------------------------------------------------------------------------------------
# Sites nobody vouched for (the web app on 127.0.0.1 is vouched for; 127.0.0.2 is not)
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def other() -> Iterator[WebApp]:
    """A second site, on 127.0.0.2, that nobody vouched for."""
    with WebApp(host="127.0.0.2") as app:
        yield app


def _document(body: str) -> str:
    head = '<!DOCTYPE html><html><head><meta charset="utf-8"><title>T</title></head>'
    return f"{head}<body>{body}</body></html>"


@pytest.mark.usefixtures("_browser_session")
async def test_opening_a_new_site_asks_first_and_an_approval_holds_for_the_mission(
    tmp_path: Path, webapp: WebApp, other: WebApp
) -> None:
    person = Person("I do not know it", True)
    ctx = context(tmp_path, person)
    page = (await call(ctx, "browser_open", url=webapp.url("/prices"))).text
    assert person.proposals == []  # the vouched site opens at once
    # The page's address and title are inside the outside-content marker, with its text.
    assert page.startswith('<external_content source="' + webapp.url("/prices") + '">\nURL: ')

    secret_url = other.url("/collect?acct=4417&next=https://evil.example/x")
    with pytest.raises(ToolError, match=r"did not allow opening .* Do not try to open it again"):
        await call(ctx, "browser_open", url=secret_url)
    assert other.hits == []
    [(kind, effect, arguments, preview)] = person.proposals
    assert (kind, effect) == ("browser_visit", "external")
    assert arguments["query"] == [["acct", "4417"], ["next", "https://evil.example/x"]]
    assert arguments["page_url"] == webapp.url("/prices")
    assert preview.summary == "Visit a new site: 127.0.0.2"
    assert preview.kind == "http_request"
    assert secret_url in preview.text
    assert "acct = 4417" in preview.text
    assert person.destinations[0] == [
        Destination("host", "127.0.0.2", "site"),
        Destination("host", "evil.example", "link"),
    ]

    opened = await call(ctx, "browser_open", url=other.url("/prices"))
    assert "stays allowed for the rest of the mission" in opened.text
    assert "Price list" in opened.text
    again = await call(ctx, "browser_open", url=other.url("/order"))
    assert "Order" in again.text
    assert len(person.proposals) == 2  # the site approved once needs no second card
    assert [h.path for h in other.gets("/prices")] == ["/prices"]


@pytest.mark.usefixtures("_browser_session")
async def test_links_and_get_forms_to_a_new_site_are_held_and_an_edit_is_what_is_sent(
    tmp_path: Path, webapp: WebApp, other: WebApp
) -> None:
    webapp.extra_pages["/out"] = _document(
        f'<a href="{other.url("/collect?acct=4417&ref=x")}">Verify</a>'
        f'<form method="get" action="{other.url("/search")}"><label>Query <input name="q"></label>'
        "<button>Search</button></form>"
    )

    def without_acct(arguments: dict[str, Any]) -> dict[str, Any]:
        return {**arguments, "query": [q for q in arguments["query"] if q[0] != "acct"]}

    person = Person("no")
    ctx = context(tmp_path, person)
    page = (await call(ctx, "browser_open", url=webapp.url("/out"))).text
    await call(ctx, "browser_type", ref=ref(page, "textbox", "Query"), text="invoices 2026")
    rejected = await call(ctx, "browser_click", ref=ref(page, "button", "Search"))
    assert "the person REJECTED it (no)" in rejected.text
    assert "URL: " + webapp.url("/out") in rejected.text  # the page stayed
    assert other.hits == []
    assert person.proposals[0][2]["query"] == [["q", "invoices 2026"]]
    assert person.proposals[0][2]["element"].endswith('button "Search"')

    class Editor(Person):
        async def __call__(
            self,
            kind: str,
            effect: Effect,
            arguments: dict[str, Any],
            preview: Preview,
            destinations: Sequence[Destination] = (),
        ) -> Approval:
            self.proposals.append((kind, effect, arguments, preview))
            return Approval("a1", True, without_acct(arguments))

    editor = Editor()
    ctx = context(tmp_path, editor)
    page = (await call(ctx, "browser_open", url=webapp.url("/out"))).text
    result = await call(ctx, "browser_click", ref=ref(page, "link", "Verify"))
    assert "as the person edited it" in result.text
    assert [h.path for h in other.hits] == ["/collect?ref=x"]  # never the account number
    assert "URL: " + other.url("/collect?ref=x") in result.text


@pytest.mark.usefixtures("_browser_session")
async def test_a_vouched_site_whose_query_leads_to_a_new_site_is_held(
    tmp_path: Path, webapp: WebApp, other: WebApp
) -> None:
    # Redirects are not routed: an open redirect on a vouched site would lead anywhere unasked.
    person = Person("not there")
    ctx = context(tmp_path, person)
    target = other.url("/collect?acct=4417")
    with pytest.raises(ToolError, match="did not allow"):
        await call(ctx, "browser_open", url=webapp.url("/redirect?to=") + target)
    [(kind, _effect, _arguments, preview)] = person.proposals
    assert kind == "browser_visit"
    assert preview.summary == "Open 127.0.0.1 with a link to a new site: 127.0.0.2"
    assert other.hits == []
    assert not [h for h in webapp.hits if h.path.startswith("/redirect")]


@pytest.mark.usefixtures("_browser_session")
async def test_a_request_carrying_typed_text_to_a_new_site_is_held_and_others_pass(
    tmp_path: Path, webapp: WebApp, other: WebApp
) -> None:
    webapp.extra_pages["/typed"] = _document(
        f'<img src="{other.url("/logo.png")}" alt="logo">'
        '<label>Note <input id="note"></label>'
        "<button onclick=\"const v = encodeURIComponent(document.getElementById('note').value);"
        f"fetch('/api/echo?text=' + v).then(() => fetch('{other.url('/track')}?t=' + v))"
        ".then(() => document.title = 'sent', () => document.title = 'failed')\">Save</button>"
    )
    person = Person("that is my note")
    ctx = context(tmp_path, person)
    page = (await call(ctx, "browser_open", url=webapp.url("/typed"))).text
    assert [h.path for h in other.hits] == ["/logo.png"]  # a subresource carrying nothing typed
    await call(ctx, "browser_type", ref=ref(page, "textbox", "Note"), text="Call Bob about the Toner")
    result = await call(ctx, "browser_click", ref=ref(page, "button", "Save"))

    assert "REJECTED (that is my note)" in result.text
    assert "Title: failed" in result.text
    assert [h.path for h in webapp.gets("/api/echo")] == ["/api/echo?text=Call%20Bob%20about%20the%20Toner"]
    assert [h.path for h in other.hits] == ["/logo.png"]
    [(kind, effect, arguments, preview)] = person.proposals
    assert (kind, effect, arguments["method"]) == ("browser_request", "external", "GET")
    assert arguments["fields"] == [["t", "Call Bob about the Toner"]]
    assert preview.summary.startswith("Send text you typed to 127.0.0.2")
    assert person.destinations == [[Destination("host", "127.0.0.2", "site")]]


@pytest.mark.usefixtures("_browser_session")
async def test_a_post_to_a_new_site_names_it_and_the_links_in_its_fields(
    tmp_path: Path, webapp: WebApp, other: WebApp
) -> None:
    webapp.extra_pages["/share"] = _document(
        f'<form method="post" action="{other.url("/share")}"><label>Text <input name="text"></label>'
        "<button>Share</button></form>"
    )
    person = Person("no")
    ctx = context(tmp_path, person)
    page = (await call(ctx, "browser_open", url=webapp.url("/share"))).text
    await call(ctx, "browser_type", ref=ref(page, "textbox", "Text"), text="see https://files.example/a")
    await call(ctx, "browser_click", ref=ref(page, "button", "Share"))
    assert other.hits == []
    assert person.destinations == [
        [Destination("host", "127.0.0.2", "site"), Destination("host", "files.example", "link")]
    ]


@pytest.mark.usefixtures("_browser_session")
async def test_a_page_timer_cannot_go_to_a_new_site_between_calls(
    tmp_path: Path, webapp: WebApp, other: WebApp
) -> None:
    webapp.extra_pages["/timer"] = _document(
        # Well after the page has settled and the call has returned.
        f"<script>setTimeout(() => {{ location.href = '{other.url('/collect?x=1')}'; }}, 1500);</script>"
    )
    person = Person()
    ctx = context(tmp_path, person)
    await call(ctx, "browser_open", url=webapp.url("/timer"))
    state = browser.SESSION.states()["m1"]
    await asyncio.wait_for(state.noted.wait(), 30)  # the timer fired while no call ran
    assert person.proposals == []
    result = await call(ctx, "browser_snapshot")
    assert "tried to open" in result.text
    assert "it was blocked, because 127.0.0.2 is a new site" in result.text
    assert "URL: " + webapp.url("/timer") in result.text
    assert other.hits == []


@pytest.mark.usefixtures("_browser_session")
async def test_a_web_socket_to_a_new_site_never_carries_typed_text(
    tmp_path: Path, webapp: WebApp, other: WebApp
) -> None:
    socket_url = other.url("/socket").replace("http://", "ws://")
    webapp.extra_pages["/chat"] = _document(
        f"<script>const ws = new WebSocket('{socket_url}');"
        "ws.onopen = () => ws.send('hello');"
        "ws.onmessage = (e) => { document.getElementById('log').textContent += e.data + ';'; };"
        "</script><p id=log></p><label>Message <input id=m></label>"
        "<button onclick=\"ws.send(document.getElementById('m').value); ws.send('ping')\">Send</button>"
    )
    ctx = context(tmp_path, Person())
    page = (await call(ctx, "browser_open", url=webapp.url("/chat"))).text
    await call(ctx, "browser_type", ref=ref(page, "textbox", "Message"), text="my IBAN DE44 5001")
    result = await call(ctx, "browser_click", ref=ref(page, "button", "Send"))
    assert "over a web socket" in result.text
    assert "the message was dropped" in result.text
    assert other.messages == ["hello", "ping"]  # what carries nothing typed passes
    assert "hello;ping;" in result.text


@pytest.mark.usefixtures("_browser_session")
async def test_a_slow_decision_on_a_new_site_is_not_a_load_timeout(
    tmp_path: Path, webapp: WebApp, other: WebApp
) -> None:
    class SlowPerson(Person):
        async def __call__(
            self,
            kind: str,
            effect: Effect,
            arguments: dict[str, Any],
            preview: Preview,
            destinations: Sequence[Destination] = (),
        ) -> Approval:
            # The person reads the card for longer than the page may take to load.
            await asyncio.sleep(2.5)
            return await super().__call__(kind, effect, arguments, preview, destinations)

    webapp.extra_pages["/away"] = _document(f'<a href="{other.url("/prices")}">Prices elsewhere</a>')
    person = SlowPerson(True, True)
    ctx = context(tmp_path, person, action_timeout=1, nav_timeout=2, settle_timeout=1)
    opened = await call(ctx, "browser_open", url=other.url("/order"))
    assert "Order" in opened.text
    page = (await call(ctx, "browser_open", url=webapp.url("/away"))).text
    clicked = await call(ctx, "browser_click", ref=ref(page, "link", "Prices elsewhere"))
    assert "Price list" in clicked.text
    assert len(person.proposals) == 1  # the site approved by browser_open needed no second card

    other_ctx = context(tmp_path, SlowPerson(True), mission="m2", action_timeout=1, nav_timeout=2)
    page = (await call(other_ctx, "browser_open", url=webapp.url("/away"))).text
    clicked = await call(other_ctx, "browser_click", ref=ref(page, "link", "Prices elsewhere"))
    assert "the person approved it" in clicked.text
    assert "Price list" in clicked.text


# Snapshots: what the model reads of a page ---------------------------------------------------

LONG_TERMS = " ".join(f"clause{n}" for n in range(90))


def test_a_snapshot_keeps_every_element_one_can_act_on_and_drops_decoration() -> None:
    from connectors.browser import _snapshot

    raw = "\n".join(
        [
            "- generic [active] [ref=e1]:",
            "  - navigation [ref=e2]:",
            '    - link "Home" [ref=e3] [cursor=pointer]:',
            "      - /url: /home",
            "  - main [ref=e4]:",
            "    - img [ref=e5]",
            '    - img "Company logo" [ref=e6]',
            "    - separator [ref=e7]",
            "    - text: ·",
            "    - paragraph [ref=e8]: Short and kept.",
            '    - button "Open" [ref=e9] [cursor=pointer]',
            '    - button "Open" [ref=e10] [cursor=pointer]',
            '    - generic "Clickable card" [ref=e11] [cursor=pointer]',
        ]
    )
    text = _snapshot.compact(raw)
    for kept in ("e3", "e9", "e10", "e11"):
        assert f"[ref={kept}]" in text
    assert '- link "Home" [ref=e3] → /home' in text
    assert "/url:" not in text
    assert '- img "Company logo"' in text
    assert "- img\n" not in text + "\n"
    assert "separator" not in text
    assert "·" not in text
    assert "- paragraph: Short and kept." in text
    assert "[ref=e8]" not in text  # nothing to act on: its ref goes


def test_a_long_text_keeps_its_first_words_and_points_to_the_rest() -> None:
    from connectors.browser import _snapshot

    raw = "\n".join(
        [
            "- main [ref=e1]:",
            f"  - paragraph [ref=e7]: {LONG_TERMS}",
            "  - generic [ref=e8]:",
            f"    - text: {LONG_TERMS}",
        ]
    )
    lines = _snapshot.compact(raw).splitlines()
    more = 90 - _snapshot.SUMMARY_WORDS
    assert lines[1] == (
        f"  - paragraph: {' '.join(LONG_TERMS.split()[: _snapshot.SUMMARY_WORDS])} … "
        f"[{more} more words: browser_extract_text ref=e7]"
    )
    # A text node has no ref of its own: the pointer names the element around it.
    assert lines[-1].endswith(f"[{more} more words: browser_extract_text ref=e8]")
    assert "clause89" not in "\n".join(lines)


def test_repeated_text_is_shown_once_with_its_count() -> None:
    from connectors.browser import _snapshot

    raw = "\n".join(
        ["- list [ref=e1]:"]
        + [f"  - listitem [ref=e{n}]: Offer ends soon" for n in range(2, 7)]
        + ["  - listitem [ref=e7]: Something else", "  - listitem [ref=e8]: Offer ends soon"]
    )
    assert _snapshot.compact(raw).splitlines() == [
        "- list:",
        "  - listitem: Offer ends soon [the same 4 more times]",
        "  - listitem: Something else",
        "  - listitem: Offer ends soon",
    ]


def test_a_long_table_shows_its_first_rows_and_every_row_one_can_act_on() -> None:
    from connectors.browser import _snapshot

    rows = [f'    - row "Item {n} {n}":\n      - cell "Item {n}"\n      - cell "{n}"' for n in range(100)]
    rows[70] = (
        '    - row "Item 70":\n      - cell "Item 70"\n      - cell:\n        - button "Edit" [ref=e999]'
    )
    raw = '- table "Stock" [ref=e5]:\n  - rowgroup:\n' + "\n".join(rows)
    lines = _snapshot.compact(raw).splitlines()
    plain = [line for line in lines if line.lstrip().startswith("- row: ")]
    assert len(plain) == _snapshot.SNAPSHOT_ROWS
    assert plain[0] == '  - row: "Item 0" | "0"'
    assert '- button "Edit" [ref=e999]' in "\n".join(lines)
    hidden = [line.strip() for line in lines if "more rows" in line]
    assert hidden == [
        f"- … [{70 - _snapshot.SNAPSHOT_ROWS} more rows: browser_extract_table ref=e5]",
        "- … [29 more rows: browser_extract_table ref=e5]",
    ]


@pytest.mark.usefixtures("_browser_session")
async def test_a_shortened_text_is_read_whole_with_browser_extract_text(
    tmp_path: Path, webapp: WebApp
) -> None:
    webapp.extra_pages["/terms"] = _document(
        f"<h1>Terms</h1><p>{LONG_TERMS}</p><ul>{'<li>Same notice</li>' * 12}</ul><a href='/prices'>Prices</a>"
    )
    ctx = context(tmp_path, Person())
    page = (await call(ctx, "browser_open", url=webapp.url("/terms"))).text
    assert "clause89" not in page
    assert "- listitem: Same notice [the same 11 more times]" in page
    ref(page, "link", "Prices")
    pointer = re.search(r"\[(\d+) more words: browser_extract_text ref=((?:f\d+)?e\d+)\]", page)
    assert pointer is not None, page
    assert any(t.name == "browser_extract_text" for t in browser.TOOLS)
    whole = (await call(ctx, "browser_extract_text", ref=pointer.group(2))).text
    assert LONG_TERMS in whole
    assert "<external_content" in whole  # page text is data, marked as such
    assert "Same notice" not in whole  # the paragraph's text, not the page's
