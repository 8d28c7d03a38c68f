"""A batch's one-line summary names actions whose own summaries are the same once, with how
many and where, instead of repeating them word for word (the demo's three workbook notes)."""

from __future__ import annotations

from datetime import UTC, datetime

from app.api import ActionInfo, batch_summary


def write(cell: str) -> ActionInfo:
    return ActionInfo(
        id=f"a{cell}",
        mission_id="m1",
        agent="spreadsheet",
        tool="sheet_write",
        title="Change a workbook",
        effect="local",
        status="pending",
        arguments={"path": "invoices.xlsx", "sheet": "Invoices", "range": cell, "values": [["x"]]},
        preview={"summary": "Write 1 cell in Invoices of invoices.xlsx", "kind": "table"},
        created_at=datetime.now(UTC),
    )


def test_alike_summaries_are_named_once_with_where() -> None:
    said = batch_summary([write("H8"), write("H10"), write("H12")])
    assert said == "Change a workbook (3): Write 1 cell in Invoices of invoices.xlsx, 3 times (H8, H10, H12)"


def test_many_alike_summaries_name_six_places_then_say_there_are_more() -> None:
    said = batch_summary([write(f"H{n}") for n in range(1, 10)])
    assert said.endswith("9 times (H1, H2, H3, H4, H5, H6, …)")
    assert "more" not in said
