"""The PDF tools, on real PDFs from many producers and on files made here.

Test data is read in place; anything to be written is copied into tmp_path first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pypdf
import pytest

from app.engine import Engine
from app.gate import Decision
from app.settings import Settings
from app.testing.scripted_model import ScriptedModel, text, tool_call
from connectors.base import Preview, ToolContext, ToolError, ToolOutput, outside_text, restore, sha256_file
from connectors.documents import _pdf
from connectors.documents._pdf import PREVIEWS, TOOLS, PdfDetail, PdfFormDetail
from connectors.registry import registry

TOOL = {tool.name: tool for tool in TOOLS}
PDF_DIR = Path(__file__).resolve().parent / "data" / "pdf"
PDFS = sorted(p.name for p in PDF_DIR.glob("*.pdf"))

EXPECTED_REFUSED = {
    "encrypted-file.pdf": "password",
    "libreoffice-writer-password.pdf": "password",
}
"""Test PDFs that must be refused, with a phrase their message must contain."""

SCANNED = {"scanned-no-text-layer.pdf": [1], "git.pdf": [1]}
"""Test PDFs with pages that have no text layer (a scan; a Word page holding only a picture)."""


# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(workspaces=[tmp_path], backup_dir=tmp_path / "backups")


@pytest.fixture
def data_ctx(testdata: Path, tmp_path: Path) -> ToolContext:
    """Reads the test PDFs in place (the read tools never write)."""
    return ToolContext(workspaces=[testdata / "pdf"], backup_dir=tmp_path / "backups")


def copy_in(tmp_path: Path, name: str, as_name: str | None = None) -> Path:
    target = tmp_path / (as_name or name)
    shutil.copyfile(PDF_DIR / name, target)
    return target


async def run(ctx: ToolContext, name: str, args: dict[str, Any]) -> ToolOutput:
    tool = TOOL[name]
    return await tool.run(ctx, tool.parse(args))


async def preview(ctx: ToolContext, name: str, args: dict[str, Any]) -> Preview:
    tool = TOOL[name]
    return await tool.render_preview(ctx, tool.parse(args))


async def read_json(ctx: ToolContext, name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Runs a read tool, checks its result is outside content from the file, and parses it."""
    output = await run(ctx, name, args)
    assert output.backup is None
    assert output.text.startswith(f'<external_content source="PDF {Path(args["path"]).name}">\n')
    assert output.text.endswith("\n</external_content>")
    data = json.loads(outside_text(output.text))
    assert isinstance(data, dict)
    return data


def pypdf_text(path: Path) -> list[str]:
    return [(page.extract_text() or "").strip() for page in pypdf.PdfReader(path).pages]


def folder_state(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "backups" not in p.parts
    }


# --- the declarations ----------------------------------------------------------------------------


def test_tools_are_declared_with_effects_and_described_arguments() -> None:
    assert {t.name: t.effect for t in TOOLS} == {
        "pdf_read": "read",
        "pdf_create": "local",
        "pdf_merge": "local",
        "pdf_split": "local",
        "pdf_form_fields": "read",
        "pdf_fill_form": "local",
    }
    for tool in TOOLS:
        api = tool.to_api()
        assert len(api["description"]) > 80
        for name, prop in api["input_schema"]["properties"].items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
        if tool.effect == "local":
            assert tool.preview is not None
            assert tool.fingerprint is not None or tool.confirm_outcome is not None
    assert {m.kind for m in PREVIEWS} == {"pdf", "pdf_form"}


# --- every test PDF is read or refused -------------------------------------------------------------


def test_the_test_pdfs_come_from_many_producers() -> None:
    producers = set()
    for name in PDFS:
        if name in EXPECTED_REFUSED:
            continue
        metadata = pypdf.PdfReader(PDF_DIR / name).metadata
        producers.add(str(metadata.producer if metadata else None).split(" ")[0])
    assert len(producers) >= 8, producers
    assert set(EXPECTED_REFUSED) | set(SCANNED) <= set(PDFS)


@pytest.mark.parametrize("name", PDFS)
async def test_every_test_pdf_is_read_or_refused_clearly(data_ctx: ToolContext, name: str) -> None:
    if name in EXPECTED_REFUSED:
        with pytest.raises(ToolError, match=EXPECTED_REFUSED[name]) as info:
            await run(data_ctx, "pdf_read", {"path": name})
        assert name in str(info.value)
        assert "Traceback" not in str(info.value)
        return
    page = await read_json(data_ctx, "pdf_read", {"path": name})
    expected = pypdf_text(PDF_DIR / name)
    assert page["page_count"] == len(expected)
    assert [p["page"] for p in page["pages"]] == list(range(1, len(expected) + 1))
    assert [p["text"] for p in page["pages"]] == expected
    empty = [p["page"] for p in page["pages"] if not p["text"]]
    assert all("image_view" in p["note"] for p in page["pages"] if not p["text"])
    if name in SCANNED:
        assert empty == SCANNED[name]
        assert "scan" in page["pages"][0]["note"]


async def test_a_scanned_page_points_to_image_view(data_ctx: ToolContext) -> None:
    page = await read_json(data_ctx, "pdf_read", {"path": "scanned-no-text-layer.pdf"})
    [only] = page["pages"]
    assert only["text"] == ""
    assert "No text layer" in only["note"]
    assert "image_view" in only["note"]


async def test_page_ranges(data_ctx: ToolContext) -> None:
    expected = pypdf_text(PDF_DIR / "pdflatex-outline.pdf")
    some = await read_json(data_ctx, "pdf_read", {"path": "pdflatex-outline.pdf", "pages": "2-3"})
    assert [p["page"] for p in some["pages"]] == [2, 3]
    assert [p["text"] for p in some["pages"]] == expected[1:3]
    tail = await read_json(data_ctx, "pdf_read", {"path": "pdflatex-outline.pdf", "pages": "1, 4-"})
    assert [p["page"] for p in tail["pages"]] == [1, 4]
    with pytest.raises(ToolError, match=r"^Page 5 is out of range: pdflatex-outline.pdf has 4 pages\.$"):
        await run(data_ctx, "pdf_read", {"path": "pdflatex-outline.pdf", "pages": "2-5"})
    with pytest.raises(ToolError, match="not a page selection"):
        await run(data_ctx, "pdf_read", {"path": "pdflatex-outline.pdf", "pages": "two"})
    with pytest.raises(ToolError, match="runs backwards"):
        await run(data_ctx, "pdf_read", {"path": "pdflatex-outline.pdf", "pages": "3-1"})


async def test_layout_keeps_the_columns_of_a_table(data_ctx: ToolContext) -> None:
    # An Excel sheet printed to PDF by Acrobat PDFMaker: codes, quantities and names in columns.
    plain = await read_json(data_ctx, "pdf_read", {"path": "issue-914-xmp-data.pdf"})
    laid_out = await read_json(data_ctx, "pdf_read", {"path": "issue-914-xmp-data.pdf", "layout": True})
    page = pypdf.PdfReader(PDF_DIR / "issue-914-xmp-data.pdf").pages[0]
    expected = "\n".join(
        line.rstrip() for line in page.extract_text(extraction_mode="layout").strip("\n").split("\n")
    )
    [text] = [p["text"] for p in laid_out["pages"]]
    assert text == expected
    assert text != plain["pages"][0]["text"]
    rows = [line for line in text.split("\n") if line.startswith("30200000")]
    assert len(rows) >= 3
    # Each row splits into its columns at the runs of spaces between them.
    assert all(len([c for c in row.split("  ") if c.strip()]) >= 4 for row in rows)
    scanned = await read_json(data_ctx, "pdf_read", {"path": "scanned-no-text-layer.pdf", "layout": True})
    assert scanned["pages"][0]["text"] == ""
    assert "image_view" in scanned["pages"][0]["note"]


async def test_a_long_read_comes_in_pages_that_cover_everything_once(
    data_ctx: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_pdf, "MAX_READ_CHARS", 4500)
    expected = pypdf_text(PDF_DIR / "Seige_of_Vicksburg_Sample_OCR.pdf")
    seen: list[int] = []
    texts: list[str] = []
    args: dict[str, Any] = {"path": "Seige_of_Vicksburg_Sample_OCR.pdf"}
    replies = 0
    while True:
        reply = await read_json(data_ctx, "pdf_read", args)
        replies += 1
        seen.extend(p["page"] for p in reply["pages"])
        texts.extend(p["text"] for p in reply["pages"])
        assert sum(len(t) for t in (p["text"] for p in reply["pages"])) <= 4500 or len(reply["pages"]) == 1
        if not reply.get("truncated"):
            break
        assert reply["next_pages"] in reply["note"]
        args["pages"] = reply["next_pages"]
    assert replies > 2
    assert seen == list(range(1, 7))
    assert texts == expected


async def test_a_pdf_changed_between_reads_is_read_afresh(ctx: ToolContext, tmp_path: Path) -> None:
    path = copy_in(tmp_path, "crazyones.pdf", "doc.pdf")
    first = await read_json(ctx, "pdf_read", {"path": "doc.pdf"})
    assert first["pages"][0]["text"] == pypdf_text(PDF_DIR / "crazyones.pdf")[0]
    shutil.copyfile(PDF_DIR / "pdflatex-outline.pdf", path)
    second = await read_json(ctx, "pdf_read", {"path": "doc.pdf"})
    assert second["page_count"] == 4
    assert [p["text"] for p in second["pages"]] == pypdf_text(PDF_DIR / "pdflatex-outline.pdf")


async def test_broken_and_empty_files_are_refused_clearly(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "empty.pdf").write_bytes(b"")
    (tmp_path / "notes.pdf").write_text("These are not the pages you are looking for.\n" * 20)
    with pytest.raises(ToolError, match=r"'empty.pdf' is empty \(0 bytes\)"):
        await run(ctx, "pdf_read", {"path": "empty.pdf"})
    with pytest.raises(
        ToolError, match=r"'notes.pdf' could not be read as a PDF: it is damaged or not a PDF"
    ):
        await run(ctx, "pdf_read", {"path": "notes.pdf"})
    with pytest.raises(ToolError, match="outside the workspace"):
        await run(ctx, "pdf_read", {"path": str(PDF_DIR / "crazyones.pdf")})


# --- pdf_create ------------------------------------------------------------------------------------

LETTER = """# Grüße aus Zürich

Dear Ms Δημητρίου,
Flat 2, 14 Rue de l'Église

## What we agreed
- Delivery on 1 March — 300 units
  - Packed in crates of 25
- Invoice in €, net 30 days
1. Sign the contract
2. Return a copy

Спасибо и до свидания.
---
### Appendix
The second page.
"""


async def test_pdf_create_shows_its_outline_then_writes_unicode_text_and_undoes(
    ctx: ToolContext, tmp_path: Path
) -> None:
    args = {"path": "letter.pdf", "content": LETTER, "title": "Letter"}
    shown = await preview(ctx, "pdf_create", args)
    assert isinstance(shown.detail, PdfDetail)
    detail = shown.to_json()["detail"]
    assert detail["operation"] == "create"
    [planned] = detail["files"]
    assert planned["path"] == str(tmp_path / "letter.pdf")
    assert planned["pages"] == 2
    assert planned["outline"][0] == "# Grüße aus Zürich"
    assert "## What we agreed" in planned["outline"]
    assert "  - Packed in crates of 25" in planned["outline"]
    assert "(new page)" in planned["outline"]
    assert detail["font"] == "DejaVu Sans"
    assert detail["notes"] == []
    assert not (tmp_path / "letter.pdf").exists()

    checkpoints: list[str] = []
    ctx.checkpoint = checkpoints.append
    output = await run(ctx, "pdf_create", args)
    assert checkpoints == ["absent"]
    path = tmp_path / "letter.pdf"
    assert output.backup is not None
    assert output.backup.backup_path is None
    assert output.backup.sha256_after == sha256_file(path)
    reader = pypdf.PdfReader(path)
    assert len(reader.pages) == planned["pages"]
    assert reader.metadata is not None
    assert reader.metadata.title == "Letter"
    first = reader.pages[0].extract_text()
    for words in (
        "Grüße aus Zürich",
        "Δημητρίου",
        "Église",
        "Delivery on 1 March — 300 units",
        "€",
        "Спасибо",
    ):
        assert words in first, words
    assert "The second page." in reader.pages[1].extract_text()
    assert "The second page." not in first

    restore(output.backup)
    assert not path.exists()


async def test_pdf_create_says_which_characters_its_font_cannot_show(ctx: ToolContext) -> None:
    shown = await preview(ctx, "pdf_create", {"path": "tokyo.pdf", "content": "Office in 東京"})
    [note] = shown.to_json()["detail"]["notes"]
    assert "no glyph for 2 character(s)" in note
    assert "東" in note


async def test_pdf_create_falls_back_to_helvetica_and_says_so(
    ctx: ToolContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A machine with no Unicode font anywhere: no known paths, no matplotlib, no fontconfig.
    monkeypatch.setattr(_pdf, "_FONT_CANDIDATES", ())
    monkeypatch.setattr(_pdf.importlib.util, "find_spec", lambda _name: None)
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs"))
    _pdf.find_unicode_font.cache_clear()
    try:
        args = {"path": "plain.pdf", "content": "Zürich Straße — Ωmega"}
        shown = await preview(ctx, "pdf_create", args)
        output = await run(ctx, "pdf_create", args)
    finally:
        _pdf.find_unicode_font.cache_clear()
    detail = shown.to_json()["detail"]
    assert detail["font"] == "Helvetica"
    [note] = detail["notes"]
    assert "No Unicode font" in note
    assert "fonts-dejavu-core" in note
    assert "2 character(s) outside Latin-1" in note
    assert json.loads(output.text)["note"] == note
    text = pypdf.PdfReader(tmp_path / "plain.pdf").pages[0].extract_text()
    assert "Zürich Straße ? ?mega" in text


async def test_pdf_create_refuses_before_writing(ctx: ToolContext, tmp_path: Path) -> None:
    copy_in(tmp_path, "crazyones.pdf")
    before = folder_state(tmp_path)
    with pytest.raises(ToolError, match="already exists"):
        await run(ctx, "pdf_create", {"path": "crazyones.pdf", "content": "x"})
    with pytest.raises(ToolError, match=r"does not end in \.pdf"):
        await run(ctx, "pdf_create", {"path": "letter.docx", "content": "x"})
    with pytest.raises(ToolError, match=r"folder of 'missing/letter\.pdf' does not exist"):
        await run(ctx, "pdf_create", {"path": "missing/letter.pdf", "content": "x"})
    with pytest.raises(ToolError, match="no text"):
        await run(ctx, "pdf_create", {"path": "blank.pdf", "content": "\n---\n\n"})
    assert folder_state(tmp_path) == before


# --- pdf_merge and pdf_split ------------------------------------------------------------------------


async def test_pdf_merge_joins_the_chosen_pages_and_undoes(ctx: ToolContext, tmp_path: Path) -> None:
    copy_in(tmp_path, "crazyones.pdf")
    copy_in(tmp_path, "pdflatex-outline.pdf")
    copy_in(tmp_path, "libreoffice-form.pdf")
    args = {
        "inputs": [
            {"path": "crazyones.pdf"},
            {"path": "pdflatex-outline.pdf", "pages": "3,2"},
            {"path": "libreoffice-form.pdf"},
        ],
        "output": "bundle.pdf",
    }
    shown = await preview(ctx, "pdf_merge", args)
    [planned] = shown.to_json()["detail"]["files"]
    assert planned["pages"] == 4
    assert planned["sources"] == [
        "crazyones.pdf (all 1 page)",
        "pdflatex-outline.pdf pages 3,2",
        "libreoffice-form.pdf (all 1 page)",
    ]
    output = await run(ctx, "pdf_merge", args)
    merged = pypdf_text(tmp_path / "bundle.pdf")
    outline = pypdf_text(tmp_path / "pdflatex-outline.pdf")
    assert merged == [
        *pypdf_text(tmp_path / "crazyones.pdf"),
        outline[2],
        outline[1],
        *pypdf_text(tmp_path / "libreoffice-form.pdf"),
    ]
    assert output.backup is not None
    restore(output.backup)
    assert not (tmp_path / "bundle.pdf").exists()


async def test_pdf_merge_refuses_a_protected_input_before_writing(ctx: ToolContext, tmp_path: Path) -> None:
    copy_in(tmp_path, "crazyones.pdf")
    copy_in(tmp_path, "encrypted-file.pdf")
    before = folder_state(tmp_path)
    args = {"inputs": [{"path": "crazyones.pdf"}, {"path": "encrypted-file.pdf"}], "output": "both.pdf"}
    with pytest.raises(ToolError, match=r"'encrypted-file\.pdf' is protected by a password"):
        await preview(ctx, "pdf_merge", args)
    with pytest.raises(ToolError, match=r"'encrypted-file\.pdf' is protected by a password"):
        await run(ctx, "pdf_merge", args)
    assert folder_state(tmp_path) == before


async def test_pdf_split_makes_each_part_and_one_undo_removes_them(ctx: ToolContext, tmp_path: Path) -> None:
    source = copy_in(tmp_path, "Seige_of_Vicksburg_Sample_OCR.pdf", "siege.pdf")
    original = source.read_bytes()
    (tmp_path / "parts").mkdir()
    args = {
        "path": "siege.pdf",
        "parts": [{"pages": "1-2", "output": "parts/a.pdf"}, {"pages": "3-", "output": "parts/b.pdf"}],
    }
    shown = await preview(ctx, "pdf_split", args)
    files = shown.to_json()["detail"]["files"]
    assert [(Path(f["path"]).name, f["pages"], f["sources"]) for f in files] == [
        ("a.pdf", 2, ["siege.pdf pages 1-2"]),
        ("b.pdf", 4, ["siege.pdf pages 3-6"]),
    ]
    tool = TOOL["pdf_split"]
    assert tool.confirm_outcome is not None
    assert await tool.confirm_outcome(ctx, tool.parse(args)) is False

    checkpoints: list[str] = []
    ctx.checkpoint = checkpoints.append
    output = await run(ctx, "pdf_split", args)
    assert checkpoints == ["absent"]
    expected = pypdf_text(source)
    assert pypdf_text(tmp_path / "parts" / "a.pdf") == expected[:2]
    assert pypdf_text(tmp_path / "parts" / "b.pdf") == expected[2:]
    assert source.read_bytes() == original
    assert await tool.confirm_outcome(ctx, tool.parse(args)) is True
    assert output.backup is None
    assert output.undo is not None

    assert tool.undo is not None
    message = await tool.undo(ctx, json.loads(json.dumps(output.undo)))
    assert "a.pdf" in message
    assert sorted(p.name for p in (tmp_path / "parts").iterdir()) == []


async def test_pdf_split_undo_refuses_when_a_part_changed(ctx: ToolContext, tmp_path: Path) -> None:
    copy_in(tmp_path, "pdflatex-outline.pdf")
    args = {
        "path": "pdflatex-outline.pdf",
        "parts": [{"pages": "1", "output": "one.pdf"}, {"pages": "2-", "output": "rest.pdf"}],
    }
    output = await run(ctx, "pdf_split", args)
    (tmp_path / "rest.pdf").write_bytes(b"%PDF-1.4 edited by the person")
    tool = TOOL["pdf_split"]
    assert tool.undo is not None
    assert output.undo is not None
    with pytest.raises(ToolError, match=r"rest\.pdf changed since the split"):
        await tool.undo(ctx, output.undo)
    assert (tmp_path / "one.pdf").exists()
    assert (tmp_path / "rest.pdf").read_bytes() == b"%PDF-1.4 edited by the person"


async def test_pdf_split_refuses_before_writing_anything(ctx: ToolContext, tmp_path: Path) -> None:
    copy_in(tmp_path, "pdflatex-outline.pdf")
    (tmp_path / "taken.pdf").write_bytes(b"mine")
    before = folder_state(tmp_path)
    for parts, message in [
        (
            [{"pages": "1", "output": "new.pdf"}, {"pages": "2", "output": "taken.pdf"}],
            "'taken.pdf' already exists",
        ),
        ([{"pages": "1", "output": "new.pdf"}, {"pages": "7", "output": "b.pdf"}], "Page 7 is out of range"),
        ([{"pages": "1", "output": "new.pdf"}, {"pages": "2", "output": "new.pdf"}], "named for two parts"),
    ]:
        with pytest.raises(ToolError, match=message):
            await run(ctx, "pdf_split", {"path": "pdflatex-outline.pdf", "parts": parts})
        assert folder_state(tmp_path) == before


# --- forms -----------------------------------------------------------------------------------------


async def test_form_fields_from_libreoffice_and_acrobat(data_ctx: ToolContext) -> None:
    form = await read_json(data_ctx, "pdf_form_fields", {"path": "libreoffice-form.pdf"})
    fields = {f["name"]: f for f in form["fields"]}
    assert fields["First Name"] == {"name": "First Name", "type": "text", "value": "Alice"}
    assert fields["Last Name"]["value"] == ""
    assert fields["gdpr"] == {"name": "gdpr", "type": "checkbox", "value": False}
    assert fields["female"]["type"] == "radio"
    assert fields["female"]["options"] == ["1", "2"]
    assert fields["Nationality"]["type"] == "choice"
    assert "German" in fields["Nationality"]["options"]
    assert fields["First Name_2"]["multiline"] is True

    acrobat = await read_json(data_ctx, "pdf_form_fields", {"path": "form_acrobatReader.pdf"})
    assert acrobat["fields"] == [{"name": "foo", "type": "text", "value": "Bar"}]

    openoffice = await read_json(data_ctx, "pdf_form_fields", {"path": "FormTestFromOo.pdf"})
    types = {f["name"]: f["type"] for f in openoffice["fields"]}
    assert types["CheckBox1"] == "checkbox"
    assert types["RadioGroup1"] == "radio"

    none = await read_json(data_ctx, "pdf_form_fields", {"path": "crazyones.pdf"})
    assert none["fields"] == []
    assert "no fillable form fields" in none["note"]


async def test_fill_form_in_place_shows_old_and_new_and_undoes_byte_for_byte(
    ctx: ToolContext, tmp_path: Path
) -> None:
    path = copy_in(tmp_path, "libreoffice-form.pdf", "form.pdf")
    original = path.read_bytes()
    args = {
        "path": "form.pdf",
        "values": {"Last Name": "Müller", "gdpr": True, "Nationality": "German", "female": "2"},
    }
    shown = await preview(ctx, "pdf_fill_form", args)
    assert isinstance(shown.detail, PdfFormDetail)
    detail = shown.to_json()["detail"]
    assert detail["output"] is None
    assert detail["fields"] == [
        {"name": "Last Name", "type": "text", "old": "", "new": "Müller"},
        {"name": "gdpr", "type": "checkbox", "old": False, "new": True},
        {"name": "Nationality", "type": "choice", "old": "", "new": "German"},
        {"name": "female", "type": "radio", "old": None, "new": "2"},
    ]
    assert path.read_bytes() == original

    checkpoints: list[str] = []
    ctx.checkpoint = checkpoints.append
    output = await run(ctx, "pdf_fill_form", args)
    assert checkpoints == [hashlib.sha256(original).hexdigest()]
    values = {k: v.get("/V") for k, v in (pypdf.PdfReader(path).get_fields() or {}).items()}
    assert values["Last Name"] == "Müller"
    assert values["gdpr"] == "/Yes"
    assert values["Nationality"] == "German"
    assert values["female"] == "/2"
    assert values["First Name"] == "Alice"
    after = await read_json(ctx, "pdf_form_fields", {"path": "form.pdf"})
    assert {f["name"]: f["value"] for f in after["fields"]}["gdpr"] is True

    assert output.backup is not None
    restore(output.backup)
    assert path.read_bytes() == original


async def test_fill_form_into_a_new_file_leaves_the_original(ctx: ToolContext, tmp_path: Path) -> None:
    path = copy_in(tmp_path, "form_acrobatReader.pdf", "form.pdf")
    original = path.read_bytes()
    output = await run(
        ctx, "pdf_fill_form", {"path": "form.pdf", "values": {"foo": "Änderung"}, "output": "filled.pdf"}
    )
    assert path.read_bytes() == original
    filled = pypdf.PdfReader(tmp_path / "filled.pdf").get_fields() or {}
    assert filled["foo"].get("/V") == "Änderung"
    assert output.backup is not None
    assert output.backup.backup_path is None
    restore(output.backup)
    assert not (tmp_path / "filled.pdf").exists()


async def test_fill_form_refuses_wrong_values_before_writing(ctx: ToolContext, tmp_path: Path) -> None:
    copy_in(tmp_path, "libreoffice-form.pdf", "form.pdf")
    copy_in(tmp_path, "crazyones.pdf")
    before = folder_state(tmp_path)
    cases = [
        ({"Surname": "x"}, r"no field named 'Surname'. Its fields are: 'First Name', 'Last Name'"),
        ({"gdpr": "yes"}, "is a checkbox: give true or false"),
        ({"female": "3"}, r"'3' is not an option of the radio group 'female'"),
        ({"Nationality": "Martian"}, "'Martian' is not an option of 'Nationality'"),
        ({"Last Name": True}, "is a text field: give text"),
    ]
    for values, message in cases:
        with pytest.raises(ToolError, match=message):
            await run(ctx, "pdf_fill_form", {"path": "form.pdf", "values": values})
    with pytest.raises(ToolError, match="has no fillable form fields"):
        await run(ctx, "pdf_fill_form", {"path": "crazyones.pdf", "values": {"a": "b"}})
    assert folder_state(tmp_path) == before


# --- through the engine: the card, the approval, the undo from the audit -------------------------


def with_pdf_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    """Makes sure the documents agent kind offers the PDF tools.

    Until the documents package plugs this module in, the test adds the tools to the real agent
    kind itself; the engine, gate, journal and model client are all the real ones.
    """
    documents = registry()["documents"]
    missing = tuple(t for t in TOOLS if documents.tool(t.name) is None)
    if missing:
        previews = (*documents.previews, *(m for m in PREVIEWS if m not in documents.previews))
        changed = dataclasses.replace(documents, tools=(*documents.tools, *missing), previews=previews)
        monkeypatch.setitem(registry(), "documents", changed)


def delegate(instructions: str) -> Any:
    task = {"id": "t", "agent": "documents", "instructions": instructions, "depends_on": []}
    return tool_call("delegate", {"tasks": [task]})


async def test_a_form_filled_in_a_mission_waits_for_approval_and_undoes_from_the_audit(
    scripted: ScriptedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_pdf_tools(monkeypatch)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    form = copy_in(workspace, "libreoffice-form.pdf", "form.pdf")
    original = form.read_bytes()
    scripted.add("Fill in the form", delegate("FILL-TASK: tick gdpr in form.pdf"), text("Ticked."))
    scripted.add(
        "FILL-TASK",
        tool_call("pdf_fill_form", {"path": "form.pdf", "values": {"gdpr": True, "Last Name": "Lovelace"}}),
        text("Filled."),
    )
    engine = Engine(settings=Settings())
    proposals: list[Any] = []
    while_waiting: list[bytes] = []
    loop = asyncio.get_running_loop()

    def on_event(event: Any) -> None:
        if event.kind == "action_proposed":
            proposals.append(event)
            while_waiting.append(form.read_bytes())
            loop.call_soon(engine.decide, event.data["action_id"], Decision.approve())

    engine.subscribe(on_event)
    try:
        outcome = await engine.run_mission("Fill in the form", workspaces=[workspace])
        assert outcome.status == "done", outcome.result
        [proposal] = proposals
        assert while_waiting == [original]  # nothing was written while the card waited
        card = proposal.data["preview"]
        assert card["kind"] == "pdf_form"
        assert card["detail"]["fields"] == [
            {"name": "gdpr", "type": "checkbox", "old": False, "new": True},
            {"name": "Last Name", "type": "text", "old": "", "new": "Lovelace"},
        ]
        assert (pypdf.PdfReader(form).get_fields() or {})["Last Name"].get("/V") == "Lovelace"
        [action] = engine.journal.actions(outcome.mission_id)
        assert action.pre_state == hashlib.sha256(original).hexdigest()
        message = await engine.undo(action.id)
    finally:
        await engine.close()
    assert "Restored" in message
    assert form.read_bytes() == original


async def test_a_split_in_a_mission_is_undone_from_the_audit(
    scripted: ScriptedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_pdf_tools(monkeypatch)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    copy_in(workspace, "pdflatex-outline.pdf", "paper.pdf")
    parts = [{"pages": "1", "output": "cover.pdf"}, {"pages": "2-", "output": "body.pdf"}]
    scripted.add("Split the paper", delegate("SPLIT-TASK: split paper.pdf"), text("Split."))
    scripted.add("SPLIT-TASK", tool_call("pdf_split", {"path": "paper.pdf", "parts": parts}), text("Done."))
    engine = Engine(settings=Settings())
    loop = asyncio.get_running_loop()
    kinds: list[str] = []

    def on_event(event: Any) -> None:
        if event.kind == "action_proposed":
            kinds.append(event.data["preview"]["kind"])
            loop.call_soon(engine.decide, event.data["action_id"], Decision.approve())

    engine.subscribe(on_event)
    try:
        outcome = await engine.run_mission("Split the paper", workspaces=[workspace])
        assert outcome.status == "done", outcome.result
        assert kinds == ["pdf"]
        assert len(pypdf.PdfReader(workspace / "body.pdf").pages) == 3
        [action] = engine.journal.actions(outcome.mission_id)
        message = await engine.undo(action.id)
    finally:
        await engine.close()
    assert "cover.pdf" in message
    assert sorted(p.name for p in workspace.iterdir()) == ["paper.pdf"]
