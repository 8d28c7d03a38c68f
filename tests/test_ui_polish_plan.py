"""The plan, the mission's status line, the panes and attached files, as a person sees them.

- the plan shows each tool call by what it does and on what ("Change a workbook ·
  invoices.xlsx (Invoices)"), never the tool's name or its arguments as code; its tooltip
  says the arguments in words;
- at 1024x700 the plan fits its pane (no sideways scroll bar), the task's text elides with
  its whole text in the tooltip, and the columns that do not fit give way;
- the status line under the mission's title wraps instead of being cut, its whole text also
  its tooltip and accessible description;
- the panes' sizes are kept per screen, and never restored narrower than a pane's minimum;
- attached files show a drawn paper clip, not an emoji that shows as a box without an
  emoji font.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PySide6.QtCore import QPoint, QSettings
from PySide6.QtWidgets import QApplication, QTreeWidgetItem

from app import api
from ui.app import create_application
from ui.attachments import AttachmentsRow, DropOverlay, attach_icon
from ui.bridge import Bridge
from ui.chat import ChatView
from ui.layout_memory import SplitterMemory, fit_sizes, pane_minimum, screen_key
from ui.main_window import MainWindow
from ui.plan import COL_TASK, PlanView, call_status

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pytestqt.qtbot import QtBot

    from app.testing.scripted_model import ScriptedModel

START = 90_000  # ms: the engine's first start imports the SDK, slow on a busy machine
LONG_TASK = (
    "Read every invoice in invoices.xlsx, find the ones past their due date, and mark each of "
    "them as overdue in the Status column, keeping a note of what was changed"
)

CALLS: list[tuple[str, dict[str, Any], str]] = [
    (
        "sheet_write",
        {"path": "/home/ada/work/invoices.xlsx", "sheet": "Invoices", "range": "E2", "values": [["overdue"]]},
        "Change a workbook · invoices.xlsx (Invoices)",
    ),
    ("sheet_read", {"path": "invoices.xlsx", "sheet": "Invoices", "range": "A1:E5"}, "Read a workbook"),
    (
        "email_send",
        {"to": ["ann@example.com", "bob@example.com", "cy@example.com"], "subject": "Reminder", "body": "Hi"},
        "Send an email · to ann@example.com, bob@example.com and 1 more · “Reminder”",
    ),
    ("browser_open", {"url": "https://portal.example.com/customers?id=3"}, "portal.example.com"),
]


def plan_events(long_task: bool = False) -> list[Any]:
    """A task of the spreadsheet agent with the calls above (the last one failed), as the journal
    gives them."""
    at = datetime.now(UTC)
    events: list[Any] = [
        api.typed("mission_started", "m1", {"text": "Mark the overdue invoices"}, at=at),
        api.typed(
            "task_started",
            "m1",
            {"key": "mark", "agent": "spreadsheet", "instructions": LONG_TASK if long_task else "Mark them"},
            task_id="t1",
            at=at,
        ),
    ]
    for n, (tool, arguments, _label) in enumerate(CALLS):
        call = {"tool": tool, "tool_call_id": f"c{n}", "agent": "spreadsheet"}
        events.append(
            api.typed(
                "tool_called", "m1", {**call, "arguments": arguments, "effect": "read"}, task_id="t1", at=at
            )
        )
        failed = n == len(CALLS) - 1
        result = "The site did not answer." if failed else '{"rows": [[1, 2]]}'
        events.append(
            api.typed(
                "tool_result", "m1", {**call, "result": result, "is_error": failed}, task_id="t1", at=at
            )
        )
    events.append(api.typed("text_delta", "m1", {"text": "Looking at row 4 now"}, task_id="t1", at=at))
    return events


def calls_of(plan: PlanView) -> list[QTreeWidgetItem]:
    task = plan.task_item("t1")
    assert task is not None
    rows = [task.child(i) for i in range(task.childCount())]
    return [row for row in rows if row is not None]


# The plan's words ---------------------------------------------------------------------------------


def test_plan_rows_show_what_each_call_does_and_on_what_never_the_tool_id(qtbot: QtBot) -> None:
    plan = PlanView()
    qtbot.addWidget(plan)
    plan.resize(700, 400)
    plan.show()
    plan.apply(plan_events())
    rows = calls_of(plan)
    assert len(rows) == len(CALLS)
    tools = [tool for tool, _args, _label in CALLS]
    for row, (_tool, _arguments, label) in zip(rows, CALLS, strict=True):
        text = row.text(COL_TASK)
        assert label in text, text
        tip = plan.tooltip_for(row)
        for shown in (text, tip, str(row.data(COL_TASK, 0))):
            assert not any(t in shown for t in tools), shown
            assert not re.search(r"\w\(\w+=", shown), shown
            assert "{" not in shown
    # The object in words, the arguments as "Key: value" lines in the tooltip.
    write_tip = plan.tooltip_for(rows[0])
    assert "File: /home/ada/work/invoices.xlsx" in write_tip
    assert "Sheet: Invoices" in write_tip
    assert "Values: 1 row" in write_tip
    assert "To: ann@example.com, bob@example.com, cy@example.com" in plan.tooltip_for(rows[2])
    # A result given as JSON stays out of the tooltip; a failure says why, in the tool's words.
    assert "rows" not in plan.tooltip_for(rows[1])
    assert call_status(rows[3]) == "error"
    assert "It failed: The site did not answer." in plan.tooltip_for(rows[3])
    assert rows[3].text(COL_TASK).startswith("✕ Error · Open a web page · portal.example.com")

    # The line of what the agents write names the agent, not a task id or a tool.
    plan.on_activity_due()
    assert plan.activity.text().startswith("Spreadsheet agent is writing")
    assert "mark" not in plan.activity.text().split(":", 1)[0]


def test_a_call_without_a_known_object_shows_its_title_alone(qtbot: QtBot) -> None:
    from ui.plan import arguments_text, call_label, call_object

    assert call_label("Click on a page", {"ref": "e12"}) == "Click on a page"
    assert call_object({"tasks": [{}, {}, {}]}) == "3 tasks"
    assert call_object(["not", "a", "dict"]) == ""
    assert arguments_text({"ref": "e12", "seen": True, "cc": None}) == "Element on the page: e12\nSeen: yes"
    long = arguments_text({"body": "word " * 200})
    assert long.startswith("Body: word")
    assert long.endswith("…")
    assert len(long) < 140
    # An event journaled before titles were recorded gets one from its tool.
    event = api.typed("tool_called", "m1", {"tool": "sheet_write", "tool_call_id": "c", "arguments": {}})
    assert isinstance(event, api.ToolCalled)
    assert event.title == "Change a workbook"


# Fitting 1024x700 ----------------------------------------------------------------------------------


def open_window(qtbot: QtBot, workspace: Path) -> MainWindow:
    create_application()
    window = MainWindow(Bridge(), workspaces=[workspace], check_key=False)
    qtbot.addWidget(window)
    window.resize(1024, 700)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window._engine_ready, timeout=START)
    return window


@pytest.fixture(autouse=True)
def wide_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the four-pane layout: kept whatever screen the offscreen platform
    gave this process (run alone, a small one would switch to the narrow layout)."""
    monkeypatch.setattr("ui.main_window.COMPACT_BELOW", 0)


@pytest.fixture
def window(qtbot: QtBot, scripted: ScriptedModel, workspace: Path) -> Iterator[MainWindow]:
    win = open_window(qtbot, workspace)
    yield win
    win.close()


def test_the_plan_fits_its_pane_at_1024x700_without_a_sideways_scroll(
    qtbot: QtBot, window: MainWindow
) -> None:
    plan = window.plan_view
    plan.apply(plan_events(long_task=True))
    window.resize(1024, 700)
    QApplication.processEvents()
    tree = plan.tree
    assert tree.isVisible()
    qtbot.waitUntil(lambda: tree.viewport().width() > 0)
    assert not tree.horizontalScrollBar().isVisible()
    assert tree.header().length() <= tree.viewport().width()
    # The task's text has room and elides; its whole text is in the tooltip.
    assert tree.columnWidth(COL_TASK) >= 20 * tree.fontMetrics().averageCharWidth()
    task = plan.task_item("t1")
    assert task is not None
    tip = plan.tooltip_for(task)
    assert LONG_TASK in tip
    assert "Latest: Looking at row 4 now" in tip
    # What a column given way would have shown is in the task's tooltip.
    if "Agent" in plan.hidden_columns():
        assert "Spreadsheet agent" in tip or "spreadsheet agent" in tip

    # Narrow (the pane's least width) or wide: never a sideways scroll, the task first.
    for width, hidden in ((230, {"Tokens", "Agent", "Time"}), (900, set())):
        plan.resize(width, 400)
        QApplication.processEvents()
        assert tree.header().length() <= tree.viewport().width(), width
        assert not tree.horizontalScrollBar().isVisible()
        assert set(plan.hidden_columns()) == hidden, width

    # A tooltip event over a call row shows the call's words.
    plan.resize(700, 400)
    QApplication.processEvents()
    row = calls_of(plan)[0]
    rect = tree.visualItemRect(row)
    assert rect.isValid()
    assert "Change a workbook" in plan.tooltip_for(row)
    assert tree.itemAt(QPoint(rect.center())) is row


def test_the_status_line_wraps_instead_of_being_cut_and_says_it_all(qtbot: QtBot, window: MainWindow) -> None:
    view = window.view
    text = (
        "? Question for you · Archived · Running · 03 Dec 14:05 · 1,234,567 tokens · 12.34 USD "
        "· waiting for your answer on the supplier portal's login page"
    )
    view.set_status_line(text)
    QApplication.processEvents()
    status = view.status
    assert status.text() == text
    assert status.toolTip() == text
    assert status.accessibleDescription() == text
    assert status.isVisible()
    # Not cut: as tall as its wrapped text needs, and inside its pane.
    qtbot.waitUntil(lambda: status.height() >= status.heightForWidth(status.width()), timeout=2_000)
    pane = view.centre
    right = status.mapTo(pane, status.rect().topRight()).x()
    assert right <= pane.width()
    assert status.fontMetrics().horizontalAdvance(text) > status.width()  # it had to wrap


# The panes' sizes, per screen -------------------------------------------------------------------


def test_fitted_sizes_keep_every_pane_at_least_its_minimum() -> None:
    minimums = [170, 280, 220, 260]
    # Saved on a big monitor, restored on a laptop's window.
    fitted = fit_sizes([600, 900, 900, 700], minimums, 1000)
    assert sum(fitted) == 1000
    assert all(f >= m for f, m in zip(fitted, minimums, strict=True))
    # Proportions kept where there is room.
    assert fit_sizes([100, 200, 300, 400], [0, 0, 0, 0], 2000) == [200, 400, 600, 800]
    # Narrower than the minimums: the minimums.
    assert fit_sizes([100, 100, 100, 100], minimums, 500) == minimums
    # Not laid out yet: only the minimums apply.
    assert fit_sizes([10, 400, 10, 400], minimums, None) == [170, 400, 220, 400]


def test_splitter_sizes_round_trip_per_screen(qtbot: QtBot, window: MainWindow) -> None:
    splitter = window.splitter
    current = {"key": "laptop"}
    memory = SplitterMemory(window, [splitter], window.window_settings, key=lambda: current["key"])
    total = sum(splitter.sizes())
    laptop = [170, 300, total - 170 - 300 - 280, 280]
    splitter.setSizes(laptop)
    QApplication.processEvents()
    laptop = splitter.sizes()
    memory.save()
    current["key"] = "monitor"
    monitor = [260, 280, 220, total - 260 - 280 - 220]
    splitter.setSizes(monitor)
    QApplication.processEvents()
    monitor = splitter.sizes()
    assert monitor != laptop
    memory.save()

    assert memory.saved("laptop") == {"mainSplitter": laptop}
    assert memory.saved("monitor") == {"mainSplitter": monitor}
    assert memory.restore("laptop")
    assert splitter.sizes() == laptop
    assert memory.restore("monitor")
    assert splitter.sizes() == monitor
    assert not memory.restore("a projector")  # nothing saved there: left as it is
    assert splitter.sizes() == monitor

    # Kept in the window's own settings file, under ENSEMBLE_HOME.
    store = window.window_settings()
    assert Path(store.fileName()).is_relative_to(Path(os.environ["ENSEMBLE_HOME"]))
    assert store.value("splitters/laptop/mainSplitter")

    # Sizes from a far wider screen fit this window, no pane under its minimum.
    QSettings(store.fileName(), QSettings.Format.IniFormat).setValue(
        "splitters/wide/mainSplitter", "900,1400,1600,1200"
    )
    assert memory.restore("wide")
    QApplication.processEvents()
    sizes = splitter.sizes()
    panes = [splitter.widget(i) for i in range(splitter.count())]
    for size, pane in zip(sizes, panes, strict=True):
        assert pane is not None
        assert size >= pane_minimum(pane, splitter.orientation())
    assert sum(sizes) <= splitter.width()


def test_the_window_saves_its_panes_for_its_screen_and_restores_them(
    qtbot: QtBot, scripted: ScriptedModel, workspace: Path
) -> None:
    first = open_window(qtbot, workspace)
    key = screen_key(first.screen())
    assert key == first.layout_memory.key()
    assert "@" in key
    assert "/" not in key
    total = sum(first.splitter.sizes())
    first.splitter.setSizes([200, 300, total - 200 - 300 - 270, 270])
    QApplication.processEvents()
    chosen = first.splitter.sizes()
    first.close()
    assert first.layout_memory.saved(key) == {"mainSplitter": chosen}

    second = open_window(qtbot, workspace)
    qtbot.waitUntil(lambda: second.splitter.sizes() == chosen, timeout=5_000)
    second.close()


# Attached files -----------------------------------------------------------------------------------


def test_chips_and_the_drop_hint_show_a_drawn_icon_not_an_emoji(qtbot: QtBot, tmp_path: Path) -> None:
    create_application()
    assert not attach_icon().isNull()
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4 x")
    row = AttachmentsRow()
    qtbot.addWidget(row)
    row.add_files([report])
    row.show()
    (chip,) = row._items
    assert chip.label.full_text() == "report.pdf · 10 bytes"
    assert "📎" not in chip.label.text()
    assert "📎" not in chip.accessibleName()
    pixmap = chip.icon.pixmap()
    assert not pixmap.isNull()
    assert pixmap.toImage().pixelColor(pixmap.width() // 2, pixmap.height() // 2).alpha() >= 0

    parent = ChatView()
    qtbot.addWidget(parent)
    overlay = DropOverlay(parent)
    assert "📎" not in overlay.text()
    assert overlay.text().startswith("Drop the files here")
    assert not overlay.icon.pixmap().isNull()

    # The chat's note about the files says so in words.
    parent.apply([api.typed("mission_started", "m1", {"text": "Check the report"})])
    parent.add_note("Check the report", "Copied report.pdf into ~/work")
    note = parent.messages[-1]
    assert "📎" not in note
    assert note == "*Copied report.pdf into \\~/work*"


def test_the_icon_is_packaged_with_the_resources() -> None:
    root = Path(__file__).resolve().parents[1]
    assert (root / "resources" / "icons" / "attach.svg").is_file()
    spec = (root / "packaging" / "ensemble.spec").read_text(encoding="utf-8")
    assert '(str(root / "resources"), "resources")' in spec
