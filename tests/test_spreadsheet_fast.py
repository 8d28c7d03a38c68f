"""The spreadsheet tools' fast paths: the parsed-sheet cache, reads that look only at the rows
they return, writes that edit only the parts they touch, formulas calculated again, and the
limits that refuse a workbook made to exhaust memory.

Workbooks are written here as Excel lays them out (raw XML with saved formula values), so
each test knows every byte it starts from.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import warnings
import zipfile
from typing import TYPE_CHECKING, Any

import openpyxl
import pytest

from connectors.base import ToolContext, ToolError, ToolOutput, outside_text, restore
from connectors.spreadsheet import MAX_SHEET_CELLS, TOOLS
from connectors.spreadsheet._cache import CACHE

if TYPE_CHECKING:
    from pathlib import Path

TOOL = {tool.name: tool for tool in TOOLS}
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def workbook(path: Path, sheets: dict[str, str], *, stored: bool = False, dimension: str = "A1") -> Path:
    """Writes an .xlsx whose sheets hold the given ``<sheetData>`` XML, as Excel would."""
    names = list(sheets)
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            + "".join(
                f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
                'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                for i in range(1, len(names) + 1)
            )
            + '<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{RELS}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<workbook xmlns="{MAIN}" xmlns:r="{RELS}"><sheets>'
            + "".join(
                f'<sheet name="{name}" sheetId="{i}" r:id="rId{i}"/>' for i, name in enumerate(names, start=1)
            )
            + "</sheets></workbook>"
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + "".join(
                f'<Relationship Id="rId{i}" Type="{RELS}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                for i in range(1, len(names) + 1)
            )
            + f'<Relationship Id="rId{len(names) + 1}" Type="{RELS}/styles" Target="styles.xml"/>'
            "</Relationships>"
        ),
        "xl/styles.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<styleSheet xmlns="{MAIN}">'
            '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
            '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
            "</styleSheet>"
        ),
    }
    for i, data in enumerate(sheets.values(), start=1):
        files[f"xl/worksheets/sheet{i}.xml"] = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<worksheet xmlns="{MAIN}" xmlns:r="{RELS}"><dimension ref="{dimension}"/>'
            f"<sheetData>{data}</sheetData></worksheet>"
        )
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    CACHE.clear()
    return ToolContext(workspaces=[tmp_path], backup_dir=tmp_path / "backups")


async def run(ctx: ToolContext, name: str, args: dict[str, Any]) -> ToolOutput:
    tool = TOOL[name]
    return await tool.run(ctx, tool.parse(args))


async def read(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(outside_text((await run(ctx, "sheet_read", args)).text))
    return data


def stored_parts(path: Path) -> dict[str, bytes]:
    """Each member's bytes exactly as stored in the zip: local header and compressed data."""
    data = path.read_bytes()
    parts = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            start = info.header_offset
            name_length, extra_length = struct.unpack("<HH", data[start + 26 : start + 30])
            parts[info.filename] = data[start : start + 30 + name_length + extra_length + info.compress_size]
    return parts


def sheet_xml(path: Path, part: str) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read(part)


# --- writes keep what they do not touch -------------------------------------------------------


async def test_a_write_keeps_every_untouched_part_byte_for_byte_and_undoes_exactly(
    ctx: ToolContext, testdata: Path, tmp_path: Path
) -> None:
    path = tmp_path / "issues.xlsx"
    shutil.copyfile(testdata / "xlsx" / "issues.xlsx", path)
    original = path.read_bytes()
    before = stored_parts(path)
    listing = json.loads(outside_text((await run(ctx, "sheet_list", {"path": "issues.xlsx"})).text))
    sheet = listing["sheets"][0]["name"]
    output = await run(
        ctx, "sheet_write", {"path": "issues.xlsx", "sheet": sheet, "range": "Z1", "values": [[42]]}
    )
    after = stored_parts(path)
    assert set(after) == set(before)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"xl/worksheets/sheet1.xml"}
    assert (await read(ctx, {"path": "issues.xlsx", "sheet": sheet, "range": "Z1"}))["rows"] == [[42]]
    assert output.backup is not None
    restore(output.backup)
    assert path.read_bytes() == original


async def test_formulas_a_write_does_not_affect_keep_their_saved_values(
    ctx: ToolContext, testdata: Path, tmp_path: Path
) -> None:
    path = tmp_path / "formula.xlsx"
    shutil.copyfile(testdata / "xlsx" / "formula.issue.xlsx", path)
    untouched = [
        b'<c r="A1"><f>C1+E5</f><v>23</v></c>',
        b'<c r="G13"><f>SUM(1+1)</f><v>2</v></c>',
        b'<c r="J14" t="str"><f>IF(OR(Q22="",Q22="United States"),"US","Foreign")</f><v>US</v></c>',
    ]
    assert all(cell in sheet_xml(path, "xl/worksheets/sheet1.xml") for cell in untouched)
    await run(
        ctx, "sheet_write", {"path": "formula.xlsx", "sheet": "Sheet1", "range": "B2", "values": [["x"]]}
    )
    xml = sheet_xml(path, "xl/worksheets/sheet1.xml")
    assert all(cell in xml for cell in untouched)
    page = await read(ctx, {"path": "formula.xlsx", "range": "A1:C2"})
    assert page["rows"] == [[23, None, 23], [None, "x", None]]


# --- formulas are calculated again -------------------------------------------------------------


async def test_formulas_a_write_affects_are_calculated_again_and_read_back(
    ctx: ToolContext, tmp_path: Path
) -> None:
    data = (
        '<row r="1"><c r="A1"><v>2</v></c><c r="B1"><f t="shared" ref="B1:B3" si="0">A1*10</f><v>20</v></c>'
        '<c r="D1"><f>7*6</f><v>42</v></c></row>'
        '<row r="2"><c r="A2"><v>3</v></c><c r="B2"><f t="shared" si="0"/><v>30</v></c></row>'
        '<row r="3"><c r="A3"><f>SUM(A1:A2)</f><v>5</v></c>'
        '<c r="B3"><f t="shared" si="0"/><v>50</v></c></row>'
    )
    summary = '<row r="1"><c r="A1"><f>Data!A3*2</f><v>10</v></c><c r="B1"><f>A1+1</f><v>11</v></c></row>'
    path = workbook(tmp_path / "calc.xlsx", {"Data": data, "Summary": summary})
    await run(ctx, "sheet_write", {"path": "calc.xlsx", "sheet": "Data", "range": "A1", "values": [[7]]})
    # The range, the shared formula's copy that reads A1, the other sheet, and what reads that.
    assert (await read(ctx, {"path": "calc.xlsx", "sheet": "Data"}))["rows"] == [
        [7, 70, None, 42],
        [3, 30, None, None],
        [10, 100, None, None],
    ]
    summary_page = await read(ctx, {"path": "calc.xlsx", "sheet": "Summary"})
    assert summary_page == {"sheet": "Summary", "range": "A1:B1", "rows": [[20, 21]]}
    xml = sheet_xml(path, "xl/worksheets/sheet1.xml")
    # Copies of the shared formula that do not read A1 keep their bytes, as does D1.
    assert b'<c r="B2"><f t="shared" si="0"/><v>30</v></c>' in xml
    assert b'<c r="D1"><f>7*6</f><v>42</v></c>' in xml
    # A formula written is saved with its value too.
    output = await run(
        ctx, "sheet_write", {"path": "calc.xlsx", "sheet": "Data", "range": "C1", "values": [["=A1+A2"]]}
    )
    assert "note" not in json.loads(output.text)
    assert (await read(ctx, {"path": "calc.xlsx", "sheet": "Data", "range": "C1"}))["rows"] == [[10]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no default style": these test workbooks have none.
        book = openpyxl.load_workbook(path, data_only=True)
    assert book["Data"]["C1"].value == 10
    assert book["Summary"]["B1"].value == 21


async def test_the_preview_shows_old_values_from_the_sheet_without_changing_it(
    ctx: ToolContext, tmp_path: Path
) -> None:
    data = '<row r="1"><c r="A1"><v>2.5</v></c><c r="B1"><f>A1*2</f><v>5</v></c></row>'
    path = workbook(tmp_path / "p.xlsx", {"Data": data})
    original = path.read_bytes()
    tool = TOOL["sheet_write"]
    args = tool.parse({"path": "p.xlsx", "sheet": "Data", "range": "A1:C1", "values": [[1, 2, "t"]]})
    shown = await tool.render_preview(ctx, args)
    assert shown.detail.to_json()["cells"] == [
        {"cell": "A1", "old": 2.5, "new": 1},
        {"cell": "B1", "old": "=A1*2", "new": 2},
        {"cell": "C1", "old": None, "new": "t"},
    ]
    assert path.read_bytes() == original


# --- limits -------------------------------------------------------------------------------------


@pytest.mark.parametrize("tool", ["sheet_list", "sheet_read", "sheet_append_rows"])
async def test_a_sheet_whose_cells_lie_far_apart_is_refused(
    ctx: ToolContext, tmp_path: Path, tool: str
) -> None:
    """Two cells at A1 and XFD1048576: a few hundred bytes that the reader would lay out as
    seventeen billion cells (python-calamine aborted the process on it)."""
    data = '<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="XFD1048576"><v>2</v></c></row>'
    path = workbook(tmp_path / "far.xlsx", {"Data": data})
    assert path.stat().st_size < 4096
    arguments: dict[str, Any] = {"path": "far.xlsx"}
    if tool == "sheet_read":
        arguments["sheet"] = "Data"
    if tool == "sheet_append_rows":
        arguments |= {"sheet": "Data", "rows": [[1]]}
    with pytest.raises(
        ToolError, match=f"more than the {MAX_SHEET_CELLS:,} cells Ensemble reads from one sheet"
    ):
        await run(ctx, tool, arguments)


# --- the cache ----------------------------------------------------------------------------------


def _one_cell(path: Path, value: str) -> Path:
    return workbook(path, {"Data": f'<row r="1"><c r="A1"><v>{value}</v></c></row>'}, stored=True)


async def test_the_cache_sees_a_file_changed_to_the_same_size_with_a_new_time(
    ctx: ToolContext, tmp_path: Path
) -> None:
    path = _one_cell(tmp_path / "c.xlsx", "1")
    assert (await read(ctx, {"path": "c.xlsx"}))["rows"] == [[1]]
    info = path.stat()
    replacement = _one_cell(tmp_path / "nine.xlsx", "9")
    with path.open("r+b") as handle:  # In place: same size, same inode.
        handle.write(replacement.read_bytes())
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert path.stat().st_size == info.st_size
    # Nothing in the key changed, so the parsed sheet is served: the cache is really in use.
    assert (await read(ctx, {"path": "c.xlsx"}))["rows"] == [[1]]
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000))
    assert (await read(ctx, {"path": "c.xlsx"}))["rows"] == [[9]]


async def test_the_cache_sees_a_file_changed_to_a_new_size_with_the_same_time(
    ctx: ToolContext, tmp_path: Path
) -> None:
    path = _one_cell(tmp_path / "c.xlsx", "1")
    assert (await read(ctx, {"path": "c.xlsx"}))["rows"] == [[1]]
    info = path.stat()
    replacement = _one_cell(tmp_path / "other.xlsx", "12345")
    with path.open("r+b") as handle:
        handle.write(replacement.read_bytes())
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert path.stat().st_size != info.st_size
    assert path.stat().st_mtime_ns == info.st_mtime_ns
    assert (await read(ctx, {"path": "c.xlsx"}))["rows"] == [[12345]]


async def test_a_page_looks_only_at_its_rows(ctx: ToolContext, tmp_path: Path) -> None:
    rows = "".join(
        f'<row r="{r}"><c r="A{r}"><v>{r}</v></c>'
        + ("" if r % 7 else f'<c r="B{r}" t="e"><v>#N/A</v></c>')
        + "</row>"
        for r in range(1, 50_001)
    )
    path = workbook(tmp_path / "long.xlsx", {"Data": rows}, dimension="A1:B50000")
    first = await read(ctx, {"path": "long.xlsx"})
    assert first["rows"][6] == [7, "#N/A"]
    book = CACHE.book(path)
    assert book is not None
    sheet = book.sheets["Data"]
    assert sheet.scan is not None
    # The error cells were looked for in the first rows only, and only those became Python.
    assert sheet.scan.reached < 10_000
    assert len(sheet.rows) < 10_000
    second = await read(ctx, {"path": "long.xlsx", "range": first["next_range"]})
    assert second["rows"][0] == [201, None]
    assert second["rows"][9] == [210, "#N/A"]
