"""Structural spreadsheet edits: rows and columns inserted or deleted, and rows sorted.

Run through the tools as the engine runs them, on workbooks from Excel (tests/data/xlsx,
copied into tmp_path) and on small ones built here with openpyxl.
"""

from __future__ import annotations

import json
import shutil
import warnings
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Font, PatternFill
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from connectors.base import Preview, ToolContext, ToolError, ToolOutput, outside_text, restore
from connectors.spreadsheet import TOOLS
from connectors.spreadsheet._shift import Edit, shift_formula
from connectors.spreadsheet.previews import PREVIEWS, StructureDetail

TOOL = {tool.name: tool for tool in TOOLS}
STRUCTURE_TOOLS = (
    "sheet_insert_rows",
    "sheet_delete_rows",
    "sheet_insert_columns",
    "sheet_delete_columns",
    "sheet_sort",
)


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(workspaces=[tmp_path], backup_dir=tmp_path / "backups")


async def run(ctx: ToolContext, name: str, args: dict[str, Any]) -> ToolOutput:
    tool = TOOL[name]
    return await tool.run(ctx, tool.parse(args))


async def preview(ctx: ToolContext, name: str, args: dict[str, Any]) -> Preview:
    tool = TOOL[name]
    return await tool.render_preview(ctx, tool.parse(args))


async def run_checked(ctx: ToolContext, name: str, args: dict[str, Any]) -> tuple[Preview, dict[str, Any]]:
    """Renders the preview, runs the tool, checks that undo restores the bytes, then redoes it.

    Returns:
        The preview and the parsed result; the file is left as the tool wrote it.
    """
    path = Path(ctx.workspaces[0]) / args["path"]
    before = path.read_bytes()
    shown = await preview(ctx, name, args)
    assert path.read_bytes() == before, "a preview must not write"
    output = await run(ctx, name, args)
    assert output.backup is not None
    after = path.read_bytes()
    assert after != before
    restore(output.backup)
    assert path.read_bytes() == before
    output = await run(ctx, name, args)
    assert path.read_bytes() != before
    result = json.loads(outside_text(output.text) if output.text.startswith("<") else output.text)
    assert isinstance(result, dict)
    return shown, result


def load(path: Path) -> openpyxl.Workbook:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return openpyxl.load_workbook(path)


def sheet(book: openpyxl.Workbook, name: str) -> Worksheet:
    ws = book[name]
    assert isinstance(ws, Worksheet)
    return ws


def copy_in(testdata: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copyfile(testdata / "xlsx" / name, target)
    return target


def ledger(path: Path) -> Path:
    """A sheet of amounts with a total, per-row formulas, formats, a merge, rules and a name,
    and a second sheet that refers to it."""
    book = openpyxl.Workbook()
    ws = book.active
    assert isinstance(ws, Worksheet)
    ws.title = "Data"
    ws.append(["Name", "Amount", "Double"])
    for row in range(2, 11):
        ws.cell(row, 1, f"n{row}")
        ws.cell(row, 2, row * 10)
        ws.cell(row, 3, f"=B{row}*2")
    ws["B11"] = "=SUM(B2:B10)"
    ws["B11"].font = Font(bold=True)
    ws["B5"].fill = PatternFill("solid", fgColor="FFFF00")
    ws.row_dimensions[5].height = 30
    ws.merge_cells("A13:B13")
    ws["A13"] = "merged note"
    ws.conditional_formatting.add(
        "B2:B10",
        CellIsRule(  # type: ignore[no-untyped-call]
            operator="greaterThan", formula=["$B$5"], fill=PatternFill("solid", fgColor="FF0000")
        ),
    )
    validation = DataValidation(type="whole", formula1="0", formula2="1000")
    validation.add("B2:B10")
    ws.add_data_validation(validation)
    book.defined_names["Amounts"] = DefinedName("Amounts", attr_text="Data!$B$2:$B$10")
    summary = book.create_sheet("Summary")
    summary["A1"] = "=Data!B11"
    summary["A2"] = "=SUM(Data!B2:B10)"
    summary["A3"] = "=Data!B5"
    summary["A4"] = "=Summary!B1+1"
    book.save(path)
    return path


async def read_rows(ctx: ToolContext, path: str, sheet_name: str, cells: str) -> list[list[Any]]:
    output = await run(ctx, "sheet_read", {"path": path, "sheet": sheet_name, "range": cells})
    rows = json.loads(outside_text(output.text))["rows"]
    assert isinstance(rows, list)
    return rows


# --- declarations -------------------------------------------------------------------------------


def test_structure_tools_are_local_titled_previewed_and_fingerprinted() -> None:
    assert StructureDetail in PREVIEWS
    assert StructureDetail.kind == "sheet_structure"
    for name in STRUCTURE_TOOLS:
        tool = TOOL[name]
        assert tool.effect == "local"
        assert tool.title
        assert tool.preview is not None
        assert tool.fingerprint is not None
        properties = tool.to_api()["input_schema"]["properties"]
        assert all(p.get("description") for p in properties.values()), name


# --- references -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("formula", "edit", "expected"),
    [
        ("=SUM(B2:B10)", Edit("Data", "row", 5, 1, delete=False), "=SUM(B2:B11)"),
        ("=SUM(B2:B10)", Edit("Data", "row", 11, 1, delete=False), "=SUM(B2:B10)"),
        ("=SUM(B2:B10)", Edit("Data", "row", 2, 3, delete=False), "=SUM(B5:B13)"),
        ("=$B$5*B$6+$C7", Edit("Data", "row", 5, 2, delete=False), "=$B$7*B$8+$C9"),
        ("=SUM(B:B)+SUM(3:4)", Edit("Data", "row", 1, 1, delete=False), "=SUM(B:B)+SUM(4:5)"),
        ("=Other!B5+B5", Edit("Data", "row", 1, 1, delete=False), "=Other!B5+B6"),
        ("='Data'!B5+'My data'!B5", Edit("Data", "row", 1, 1, delete=False), "='Data'!B6+'My data'!B5"),
        ("=B5", Edit("Data", "row", 5, 1, delete=True), "=#REF!"),
        ("=Data!B5+1", Edit("Data", "row", 4, 2, delete=True), "=Data!#REF!+1"),
        ("=SUM(B2:B10)", Edit("Data", "row", 5, 2, delete=True), "=SUM(B2:B8)"),
        ("=SUM(B2:B10)", Edit("Data", "row", 1, 3, delete=True), "=SUM(B1:B7)"),
        ("=SUM(B2:B10)", Edit("Data", "row", 2, 9, delete=True), "=SUM(#REF!)"),
        ("=SUM(B2:D2)", Edit("Data", "column", 3, 1, delete=True), "=SUM(B2:C2)"),
        ("=SUM(A:C)*$E$1", Edit("Data", "column", 2, 1, delete=False), "=SUM(A:D)*$F$1"),
        (
            '=IF(A1="B5",Table1[Qty],name1)',
            Edit("Data", "row", 1, 1, delete=False),
            '=IF(A2="B5",Table1[Qty],name1)',
        ),
        ("=[1]Data!B5", Edit("Data", "row", 1, 1, delete=False), "=[1]Data!B5"),
    ],
)
def test_references_shift_as_a_spreadsheet_program_shifts_them(
    formula: str, edit: Edit, expected: str
) -> None:
    assert shift_formula(formula, "Data", edit) == expected


# --- inserting and deleting rows ---------------------------------------------------------------


async def test_inserting_rows_moves_cells_formulas_formats_merges_rules_and_names(
    ctx: ToolContext, tmp_path: Path
) -> None:
    ledger(tmp_path / "book.xlsx")
    shown, result = await run_checked(
        ctx, "sheet_insert_rows", {"path": "book.xlsx", "sheet": "data", "before_row": 5, "count": 2}
    )
    assert result["rows_inserted"] == 2
    assert result["formulas_updated"] == 10

    book = load(tmp_path / "book.xlsx")
    data, summary = sheet(book, "Data"), sheet(book, "Summary")
    assert [data.cell(r, 2).value for r in range(2, 14)] == [
        20,
        30,
        40,
        None,
        None,
        50,
        60,
        70,
        80,
        90,
        100,
        "=SUM(B2:B12)",
    ]
    assert data["C7"].value == "=B7*2"
    assert data["C4"].value == "=B4*2"
    assert data["B13"].font.b
    assert data["B7"].fill.fgColor.rgb == "00FFFF00"
    assert data.row_dimensions[7].height == 30
    assert not data.row_dimensions[5].height
    assert [str(r) for r in data.merged_cells.ranges] == ["A15:B15"]
    assert data["A15"].value == "merged note"
    assert [(str(cf.sqref), cf.rules[0].formula) for cf in data.conditional_formatting] == [
        ("B2:B12", ["$B$7"])
    ]
    assert [str(v.sqref) for v in data.data_validations.dataValidation] == ["B2:B12"]
    assert book.defined_names["Amounts"].attr_text == "Data!$B$2:$B$12"
    assert [summary[f"A{r}"].value for r in range(1, 5)] == [
        "=Data!B13",
        "=SUM(Data!B2:B12)",
        "=Data!B7",
        "=Summary!B1+1",
    ]

    detail = shown.detail
    assert isinstance(detail, StructureDetail)
    assert (detail.operation, detail.sheet, detail.where, detail.count) == ("insert_rows", "Data", "5", 2)
    assert detail.before[0].values == ["n5", 50, "=B5*2"]
    assert {"cell": "Summary!A3", "old": "=Data!B5", "new": "=Data!B7"} in [
        f.model_dump() for f in detail.formulas
    ]
    assert "The merged cells A13:B13 are now A15:B15." in detail.changes
    assert "Insert 2 rows before row 5 of Data in book.xlsx" in shown.text
    # The preview's after lines are what the file holds now.
    for line in detail.after:
        row = int(line.label.removeprefix("Row "))
        assert (await read_rows(ctx, "book.xlsx", "Data", f"A{row}:C{row}"))[0] == line.values


async def test_deleting_rows_shrinks_ranges_and_turns_references_to_them_into_ref_errors(
    ctx: ToolContext, tmp_path: Path
) -> None:
    ledger(tmp_path / "book.xlsx")
    shown, result = await run_checked(
        ctx, "sheet_delete_rows", {"path": "book.xlsx", "sheet": "Data", "rows": "5:6"}
    )
    assert result["rows_deleted"] == 2

    book = load(tmp_path / "book.xlsx")
    data, summary = sheet(book, "Data"), sheet(book, "Summary")
    assert [data.cell(r, 2).value for r in range(2, 10)] == [20, 30, 40, 70, 80, 90, 100, "=SUM(B2:B8)"]
    assert data["C5"].value == "=B5*2"
    assert data["B5"].fill.fill_type is None
    assert not data.row_dimensions[5].height
    assert summary["A3"].value == "=Data!#REF!"
    assert summary["A1"].value == "=Data!B9"
    assert [(str(cf.sqref), cf.rules[0].formula) for cf in data.conditional_formatting] == [
        ("B2:B8", ["#REF!"])
    ]
    assert [str(r) for r in data.merged_cells.ranges] == ["A11:B11"]

    detail = shown.detail
    assert isinstance(detail, StructureDetail)
    assert [line.label for line in detail.before] == ["Row 5", "Row 6"]
    assert detail.before[1].values == ["n6", 60, "=B6*2"]
    assert detail.after[0].values == ["n7", 70, "=B5*2"]
    assert {"cell": "Summary!A3", "old": "=Data!B5", "new": "=Data!#REF!"} in [
        f.model_dump() for f in detail.formulas
    ]


async def test_shared_formulas_from_excel_are_shifted(
    ctx: ToolContext, testdata: Path, tmp_path: Path
) -> None:
    copy_in(testdata, tmp_path, "shared_formula_simple.xlsx")
    await run_checked(
        ctx, "sheet_insert_rows", {"path": "shared_formula_simple.xlsx", "sheet": "Sheet1", "before_row": 2}
    )
    ws = sheet(load(tmp_path / "shared_formula_simple.xlsx"), "Sheet1")
    assert [(ws.cell(r, 1).value, ws.cell(r, 2).value) for r in range(1, 5)] == [
        (1, "=A1*2"),
        (None, None),
        (2, "=A3*2"),
        (3, "=A4*2"),
    ]


async def test_merged_areas_from_excel_grow_shrink_or_go(
    ctx: ToolContext, testdata: Path, tmp_path: Path
) -> None:
    copy_in(testdata, tmp_path, "merge_cells.xlsx")
    await run_checked(
        ctx, "sheet_insert_rows", {"path": "merge_cells.xlsx", "sheet": "Sheet1", "before_row": 3}
    )
    ws = sheet(load(tmp_path / "merge_cells.xlsx"), "Sheet1")
    assert sorted(str(r) for r in ws.merged_cells.ranges) == ["A1:B1", "A2:A5", "B2:D5"]
    assert (ws["A2"].value, ws["B2"].value) == ("Column Merge", "Chunk Merged")

    shown, _ = await run_checked(
        ctx, "sheet_delete_columns", {"path": "merge_cells.xlsx", "sheet": "Sheet1", "columns": "B:C"}
    )
    ws = sheet(load(tmp_path / "merge_cells.xlsx"), "Sheet1")
    # B2:D5 loses two of its three columns; A1:B1 loses its second.
    assert sorted(str(r) for r in ws.merged_cells.ranges) == ["A2:A5", "B2:B5"]
    assert (ws["A1"].value, ws["B1"].value) == ("Row Merge", None)  # C1, "Not Merged", is gone.
    assert isinstance(shown.detail, StructureDetail)
    assert "The merged cells A1:B1 are no longer merged." in shown.detail.changes


async def test_deleting_a_column_turns_references_to_it_into_ref_errors(
    ctx: ToolContext, testdata: Path, tmp_path: Path
) -> None:
    copy_in(testdata, tmp_path, "formula.issue.xlsx")
    _, result = await run_checked(
        ctx, "sheet_delete_columns", {"path": "formula.issue.xlsx", "sheet": "Sheet1", "columns": "C"}
    )
    assert result["columns_deleted"] == 1
    ws = sheet(load(tmp_path / "formula.issue.xlsx"), "Sheet1")
    assert ws["A1"].value == "=#REF!+D5"
    assert ws["I14"].value == '=IF(OR(P22="",P22="United States"),"US","Foreign")'
    assert ws["F13"].value == "=SUM(1+1)"


async def test_inserting_columns_moves_widths_and_formulas_on_other_sheets(
    ctx: ToolContext, tmp_path: Path
) -> None:
    ledger(tmp_path / "book.xlsx")
    book = load(tmp_path / "book.xlsx")
    sheet(book, "Data").column_dimensions["B"].width = 25
    book.save(tmp_path / "book.xlsx")
    shown, _ = await run_checked(
        ctx, "sheet_insert_columns", {"path": "book.xlsx", "sheet": "Data", "before_column": "B"}
    )
    book = load(tmp_path / "book.xlsx")
    data, summary = sheet(book, "Data"), sheet(book, "Summary")
    assert [data.cell(1, c).value for c in range(1, 5)] == ["Name", None, "Amount", "Double"]
    assert data["D2"].value == "=C2*2"
    assert data.column_dimensions["C"].width == 25
    assert summary["A2"].value == "=SUM(Data!C2:C10)"
    assert book.defined_names["Amounts"].attr_text == "Data!$C$2:$C$10"
    assert isinstance(shown.detail, StructureDetail)
    assert shown.detail.before[0].label == "Column B"
    assert shown.detail.after[1].values[:2] == ["Amount", 20]


async def test_a_table_grows_with_rows_inserted_inside_it_and_guards_its_header(
    ctx: ToolContext, testdata: Path, tmp_path: Path
) -> None:
    path = copy_in(testdata, tmp_path, "inventory-table.xlsx")
    original = path.read_bytes()
    with pytest.raises(ToolError, match="header of the table 'Table1'"):
        await run(ctx, "sheet_delete_rows", {"path": "inventory-table.xlsx", "sheet": "Sheet1", "rows": "1"})
    with pytest.raises(ToolError, match="columns cannot be inserted or deleted"):
        await run(
            ctx,
            "sheet_insert_columns",
            {"path": "inventory-table.xlsx", "sheet": "Sheet1", "before_column": "B"},
        )
    assert path.read_bytes() == original

    await run_checked(
        ctx, "sheet_insert_rows", {"path": "inventory-table.xlsx", "sheet": "Sheet1", "before_row": 3}
    )
    ws = sheet(load(path), "Sheet1")
    assert ws.tables["Table1"].ref == "A1:C6"
    assert ws["B4"].value == "Banana"

    shown, _ = await run_checked(
        ctx, "sheet_delete_rows", {"path": "inventory-table.xlsx", "sheet": "Sheet1", "rows": "1:6"}
    )
    assert isinstance(shown.detail, StructureDetail)
    assert "The table 'Table1' is deleted with its rows." in shown.detail.changes
    assert not sheet(load(path), "Sheet1").tables


async def test_hyperlinks_move_with_their_cells_and_links_into_the_sheet_follow(
    ctx: ToolContext, testdata: Path, tmp_path: Path
) -> None:
    copy_in(testdata, tmp_path, "hyperlinks.xlsx")
    await run_checked(
        ctx, "sheet_insert_rows", {"path": "hyperlinks.xlsx", "sheet": "Sheet2", "before_row": 2}
    )
    await run_checked(
        ctx, "sheet_insert_rows", {"path": "hyperlinks.xlsx", "sheet": "Links", "before_row": 2}
    )
    ws = sheet(load(tmp_path / "hyperlinks.xlsx"), "Links")
    links = {c.coordinate: c.hyperlink for row in ws.iter_rows() for c in row if c.hyperlink is not None}
    assert sorted(links) == ["A1", "A3", "A4", "A5", "A6", "A7", "A8", "A9", "B1"]
    assert all(link.ref == coordinate for coordinate, link in links.items())
    assert links["A3"].target == "https://www.rust-lang.org/"
    assert links["A4"].location == "'Sheet2'!B6"
    assert links["A9"].location == "'Sales Data'!A1:G5"  # In another workbook: left alone.
    assert sheet(load(tmp_path / "hyperlinks.xlsx"), "Sheet2")["B6"].value == "target cell"


async def test_a_macro_workbook_keeps_its_macros(ctx: ToolContext, testdata: Path, tmp_path: Path) -> None:
    path = copy_in(testdata, tmp_path, "vba.xlsm")
    shown, _ = await run_checked(
        ctx, "sheet_insert_rows", {"path": "vba.xlsm", "sheet": "Sheet1", "before_row": 1}
    )
    assert isinstance(shown.detail, StructureDetail)
    assert shown.detail.notes == []
    with zipfile.ZipFile(path) as archive:
        assert "xl/vbaProject.bin" in archive.namelist()


async def test_refusals_are_clear_and_change_nothing(ctx: ToolContext, tmp_path: Path) -> None:
    path = ledger(tmp_path / "book.xlsx")
    original = path.read_bytes()
    with pytest.raises(ToolError, match="not a row number"):
        await run(ctx, "sheet_delete_rows", {"path": "book.xlsx", "sheet": "Data", "rows": "B5"})
    with pytest.raises(ToolError, match="not a column"):
        await run(ctx, "sheet_insert_columns", {"path": "book.xlsx", "sheet": "Data", "before_column": "5"})
    with pytest.raises(ToolError, match=r"has no sheet named 'Nope'\. Its sheets are: 'Data', 'Summary'"):
        await run(ctx, "sheet_insert_rows", {"path": "book.xlsx", "sheet": "Nope", "before_row": 1})
    book = load(path)
    sheet(book, "Data")["A1048576"] = "last"
    book.save(path)
    original = path.read_bytes()
    with pytest.raises(ToolError, match="off the end of the sheet"):
        await run(ctx, "sheet_insert_rows", {"path": "book.xlsx", "sheet": "Data", "before_row": 3})
    assert path.read_bytes() == original


async def test_csv_rows_and_columns_are_inserted_and_deleted(ctx: ToolContext, tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(b"name,qty\r\npear,3\r\napple,10\r\n")
    await run_checked(ctx, "sheet_insert_rows", {"path": "list.csv", "sheet": "list", "before_row": 2})
    assert path.read_bytes() == b"name,qty\r\n\r\npear,3\r\napple,10\r\n"
    await run(ctx, "sheet_delete_rows", {"path": "list.csv", "sheet": "list", "rows": "2"})
    await run(ctx, "sheet_insert_columns", {"path": "list.csv", "sheet": "list", "before_column": "B"})
    assert path.read_bytes() == b"name,,qty\r\npear,,3\r\napple,,10\r\n"
    await run(ctx, "sheet_delete_columns", {"path": "list.csv", "sheet": "list", "columns": "A:B"})
    assert path.read_bytes() == b"qty\r\n3\r\n10\r\n"


async def test_the_preview_names_what_the_saved_file_loses(
    ctx: ToolContext, testdata: Path, tmp_path: Path
) -> None:
    copy_in(testdata, tmp_path, "any_sheets.xlsx")
    shown = await preview(
        ctx, "sheet_insert_rows", {"path": "any_sheets.xlsx", "sheet": "Visible", "before_row": 1}
    )
    assert isinstance(shown.detail, StructureDetail)
    assert any("no longer has: 1 chart colour scheme, 1 chart style" in n for n in shown.detail.notes)
    assert "Note: The saved file no longer has" in shown.text
    with pytest.raises(ToolError, match="chart sheet"):
        await run(ctx, "sheet_insert_rows", {"path": "any_sheets.xlsx", "sheet": "Chart", "before_row": 1})


# --- sorting -----------------------------------------------------------------------------------


def people(path: Path, extra: dict[str, Any] | None = None) -> Path:
    book = openpyxl.Workbook()
    ws = book.active
    assert isinstance(ws, Worksheet)
    ws.title = "People"
    ws.append(["Name", "Score", "Team"])
    rows = [
        ("dora", 5, "b"),
        ("Bob", None, "a"),
        ("carl", "n/a", "a"),
        ("Anna", 5, "a"),
        ("eve", 12, "b"),
        ("finn", 1.5, "B"),
    ]
    for row in rows:
        ws.append(row)
    ws["A5"].font = Font(italic=True)  # Anna's row
    for cell, value in (extra or {}).items():
        ws[cell] = value
    book.save(path)
    return path


async def test_sorting_orders_numbers_then_text_with_blanks_last_and_keeps_formats(
    ctx: ToolContext, tmp_path: Path
) -> None:
    people(tmp_path / "p.xlsx")
    shown, result = await run_checked(
        ctx, "sheet_sort", {"path": "p.xlsx", "sheet": "People", "range": "A2:C7", "by": [{"column": "B"}]}
    )
    assert result["rows_sorted"] == 6
    ws = sheet(load(tmp_path / "p.xlsx"), "People")
    assert [ws.cell(r, 1).value for r in range(2, 8)] == ["finn", "dora", "Anna", "eve", "carl", "Bob"]
    assert ws["A4"].font.i  # Anna's formatting moved with her row.
    assert not ws["A5"].font.i
    assert ws["A1"].value == "Name"

    detail = shown.detail
    assert isinstance(detail, StructureDetail)
    assert (detail.operation, detail.where, detail.count) == ("sort", "A2:C7", 6)
    assert [line.values[0] for line in detail.before] == ["dora", "Bob", "carl", "Anna", "eve", "finn"]
    assert [line.values[0] for line in detail.after] == ["finn", "dora", "Anna", "eve", "carl", "Bob"]
    assert await read_rows(ctx, "p.xlsx", "People", "A2:C7") == [line.values for line in detail.after]


async def test_sorting_descending_keeps_blanks_last_and_ties_in_order(
    ctx: ToolContext, tmp_path: Path
) -> None:
    people(tmp_path / "p.xlsx")
    await run(
        ctx,
        "sheet_sort",
        {"path": "p.xlsx", "sheet": "People", "range": "A2:C7", "by": [{"column": "B", "descending": True}]},
    )
    ws = sheet(load(tmp_path / "p.xlsx"), "People")
    assert [ws.cell(r, 1).value for r in range(2, 8)] == ["carl", "eve", "dora", "Anna", "finn", "Bob"]


async def test_sorting_by_two_columns_ignores_case_and_is_stable(ctx: ToolContext, tmp_path: Path) -> None:
    people(tmp_path / "p.xlsx")
    await run(
        ctx,
        "sheet_sort",
        {
            "path": "p.xlsx",
            "sheet": "People",
            "range": "A2:C7",
            "by": [{"column": "C"}, {"column": "A", "descending": True}],
        },
    )
    ws = sheet(load(tmp_path / "p.xlsx"), "People")
    assert [ws.cell(r, 1).value for r in range(2, 8)] == ["carl", "Bob", "Anna", "finn", "eve", "dora"]
    # Team alone: ties keep the order they had.
    await run(
        ctx,
        "sheet_sort",
        {"path": "p.xlsx", "sheet": "People", "range": "A2:C7", "by": [{"column": "C", "descending": True}]},
    )
    ws = sheet(load(tmp_path / "p.xlsx"), "People")
    assert [ws.cell(r, 1).value for r in range(2, 8)] == ["finn", "eve", "dora", "carl", "Bob", "Anna"]


async def test_sorting_moves_formulas_that_use_their_own_row_and_a_fixed_total(
    ctx: ToolContext, testdata: Path, tmp_path: Path
) -> None:
    copy_in(testdata, tmp_path, "shared_formula_simple.xlsx")
    await run_checked(
        ctx,
        "sheet_sort",
        {
            "path": "shared_formula_simple.xlsx",
            "sheet": "Sheet1",
            "range": "A1:B3",
            "by": [{"column": "A", "descending": True}],
        },
    )
    ws = sheet(load(tmp_path / "shared_formula_simple.xlsx"), "Sheet1")
    assert [(ws.cell(r, 1).value, ws.cell(r, 2).value) for r in range(1, 4)] == [
        (3, "=A1*2"),
        (2, "=A2*2"),
        (1, "=A3*2"),
    ]

    book = openpyxl.Workbook()
    made = book.active
    assert isinstance(made, Worksheet)
    for row, value in enumerate([3, 1, 2], start=1):
        made.cell(row, 1, value)
        made.cell(row, 2, f"=A{row}/SUM($A$1:$A$3)+$D$9")
    book.save(tmp_path / "share.xlsx")
    await run(
        ctx, "sheet_sort", {"path": "share.xlsx", "sheet": "Sheet", "range": "A1:B3", "by": [{"column": "A"}]}
    )
    ws = sheet(load(tmp_path / "share.xlsx"), "Sheet")
    assert [ws.cell(r, 1).value for r in range(1, 4)] == [1, 2, 3]
    assert ws["B1"].value == "=A1/SUM($A$1:$A$3)+$D$9"


async def test_sorting_refuses_formulas_that_refer_to_other_rows_of_the_range(
    ctx: ToolContext, tmp_path: Path
) -> None:
    path = people(tmp_path / "p.xlsx", {"D2": 0, "D3": "=D2+1", "D4": "=D3+1"})
    original = path.read_bytes()
    args = {"path": "p.xlsx", "sheet": "People", "range": "A2:D7", "by": [{"column": "A"}]}
    with pytest.raises(
        ToolError, match=r"D3 on 'People' refers to D2, which reaches other rows of the range A2:D7"
    ):
        await preview(ctx, "sheet_sort", args)
    with pytest.raises(ToolError, match="sorting would break it"):
        await run(ctx, "sheet_sort", args)
    assert path.read_bytes() == original


async def test_sorting_refuses_merged_cells_and_keys_outside_the_range(
    ctx: ToolContext, testdata: Path, tmp_path: Path
) -> None:
    copy_in(testdata, tmp_path, "merged_range.xlsx")
    with pytest.raises(ToolError, match="merged cells"):
        await run(
            ctx,
            "sheet_sort",
            {"path": "merged_range.xlsx", "sheet": "Sheet1", "range": "A1:H4", "by": [{"column": "A"}]},
        )
    people(tmp_path / "p.xlsx")
    with pytest.raises(ToolError, match="outside the range A2:C7"):
        await run(
            ctx,
            "sheet_sort",
            {"path": "p.xlsx", "sheet": "People", "range": "A2:C7", "by": [{"column": "E"}]},
        )


async def test_sorting_a_csv_file(ctx: ToolContext, tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(b"name;qty\nzed;10\namy;9\nbo;\nal;x\n")
    await run_checked(
        ctx, "sheet_sort", {"path": "list.csv", "sheet": "list", "range": "A2:B5", "by": [{"column": "B"}]}
    )
    assert path.read_bytes() == b"name;qty\namy;9\nzed;10\nal;x\nbo;\n"
