"""The deck tools, on real decks saved by PowerPoint and on decks made here.

Test data is read in place; anything to be written is copied into tmp_path first.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from pptx import Presentation
from pptx.enum.shapes import MSO_SHAPE_TYPE

from connectors.base import Preview, ToolContext, ToolError, ToolOutput, outside_text, restore, sha256_file
from connectors.documents._deck import PREVIEWS, TOOLS, DeckOutlineDetail, find_soffice

TOOL = {tool.name: tool for tool in TOOLS}
PPTX_DIR = Path(__file__).resolve().parent / "data" / "pptx"
IMAGES_DIR = Path(__file__).resolve().parent / "data" / "images"
DECKS = sorted(p.name for p in PPTX_DIR.glob("*.pptx"))


# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(workspaces=[tmp_path], backup_dir=tmp_path / "backups")


@pytest.fixture
def data_ctx(testdata: Path, tmp_path: Path) -> ToolContext:
    return ToolContext(workspaces=[testdata / "pptx"], backup_dir=tmp_path / "backups")


def copy_in(tmp_path: Path, name: str, as_name: str | None = None, folder: Path = PPTX_DIR) -> Path:
    target = tmp_path / (as_name or name)
    shutil.copyfile(folder / name, target)
    return target


async def run(ctx: ToolContext, name: str, args: dict[str, Any]) -> ToolOutput:
    tool = TOOL[name]
    return await tool.run(ctx, tool.parse(args))


async def preview(ctx: ToolContext, name: str, args: dict[str, Any]) -> Preview:
    tool = TOOL[name]
    return await tool.render_preview(ctx, tool.parse(args))


async def read_deck(ctx: ToolContext, path: str, **extra: Any) -> dict[str, Any]:
    output = await run(ctx, "deck_read", {"path": path, **extra})
    assert output.backup is None
    assert output.text.startswith(f'<external_content source="deck {Path(path).name}">\n')
    data = json.loads(outside_text(output.text))
    assert isinstance(data, dict)
    return data


def folder_state(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "backups" not in p.parts
    }


def thumbnails_as_expected(detail: dict[str, Any]) -> None:
    """Pictures of each slide where LibreOffice is installed; a clear note, and none, where not."""
    if find_soffice() is None:
        assert detail["thumbnails"] == []
        assert any("LibreOffice (soffice) is not installed" in n for n in detail["notes"])
    else:
        assert len(detail["thumbnails"]) == len(detail["slides"])


OUTLINE: list[dict[str, Any]] = [
    {"title": "Quarterly review", "subtitle": "Q3 2026 — Zürich office"},
    {
        "title": "Highlights",
        "bullets": ["Revenue up 12 %", {"text": "EMEA strongest", "level": 1}, "Two new hires"],
        "notes": "Mention the hires by name.",
    },
    {
        "title": "Sales by region",
        "table": [["Region", "Sales"], ["EMEA", 120], ["APAC", 95.5], ["Other", None]],
    },
    {"title": "The team", "bullets": ["Left column"], "image": "monty-truth.png"},
    {"title": "Questions?"},
]


# --- the declarations ----------------------------------------------------------------------------


def test_tools_are_declared_with_effects_and_described_arguments() -> None:
    assert {t.name: t.effect for t in TOOLS} == {
        "deck_read": "read",
        "deck_create": "local",
        "deck_edit": "local",
    }
    for tool in TOOLS:
        api = tool.to_api()
        assert len(api["description"]) > 80
        for name, prop in api["input_schema"]["properties"].items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
        if tool.effect == "local":
            assert tool.preview is not None
            assert tool.fingerprint is not None
    assert [m.kind for m in PREVIEWS] == ["deck_outline"]


# --- reading -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DECKS)
async def test_every_test_deck_is_read(data_ctx: ToolContext, name: str) -> None:
    deck = await read_deck(data_ctx, name)
    expected = Presentation(str(PPTX_DIR / name))
    assert deck["slide_count"] == len(expected.slides)
    assert [s["slide"] for s in deck["slides"]] == list(range(1, len(expected.slides) + 1))
    assert deck["layouts"] == [layout.name for layout in expected.slide_layouts]
    for entry, slide in zip(deck["slides"], expected.slides, strict=True):
        assert entry["layout"] == slide.slide_layout.name
        pictures = sum(1 for s in slide.shapes if s.shape_type == MSO_SHAPE_TYPE.PICTURE)
        assert entry.get("pictures", 0) >= pictures


async def test_titles_text_tables_pictures_and_notes_are_read(data_ctx: ToolContext) -> None:
    title = await read_deck(data_ctx, "test.pptx")
    assert title["slides"] == [
        {"slide": 1, "layout": "Title Slide", "title": "Presentation Title Text", "text": ["Subtitle Text"]}
    ]
    notes = await read_deck(data_ctx, "sld-notes.pptx")
    assert notes["slides"][0]["notes"] == "Notes"
    table = await read_deck(data_ctx, "tbl-cell.pptx", slides="1")
    [rows] = table["slides"][0]["tables"]
    assert rows[0][0] == "having custom margins"
    assert rows[1][0] == "unladen swallows"
    pictures = await read_deck(data_ctx, "shp-picture.pptx")
    assert [s["pictures"] for s in pictures["slides"]] == [2, 2]
    assert title["slide_size_inches"] == [10.0, 7.5]


async def test_slide_ranges_and_errors(data_ctx: ToolContext, tmp_path: Path) -> None:
    some = await read_deck(data_ctx, "sld-slides.pptx", slides="2-")
    assert [s["slide"] for s in some["slides"]] == [2, 3]
    with pytest.raises(ToolError, match=r"^Slide 4 is out of range: sld-slides\.pptx has 3 slides\.$"):
        await run(data_ctx, "deck_read", {"path": "sld-slides.pptx", "slides": "4"})
    ctx = ToolContext(workspaces=[tmp_path], backup_dir=tmp_path / "backups")
    (tmp_path / "old.pptx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    (tmp_path / "text.pptx").write_text("not a deck")
    (tmp_path / "empty.pptx").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ToolError, match=r"'old\.pptx' is not a PowerPoint deck .* an older Office file"):
        await run(ctx, "deck_read", {"path": "old.pptx"})
    with pytest.raises(ToolError, match=r"'text\.pptx' is not a PowerPoint deck \(it is not a zip package\)"):
        await run(ctx, "deck_read", {"path": "text.pptx"})
    with pytest.raises(ToolError, match=r"'empty\.pptx' is not a PowerPoint deck .* empty \(0 bytes\)"):
        await run(ctx, "deck_read", {"path": "empty.pptx"})
    with zipfile.ZipFile(tmp_path / "other.pptx", "w") as archive:
        archive.writestr("readme.txt", "a zip, but not a deck")
    with pytest.raises(ToolError, match=r"'other\.pptx' is a zip archive but not a PowerPoint deck"):
        await run(ctx, "deck_read", {"path": "other.pptx"})
    (tmp_path / "cut.pptx").write_bytes((PPTX_DIR / "test.pptx").read_bytes()[:20000])
    with pytest.raises(ToolError, match=r"'cut\.pptx' is damaged"):
        await run(ctx, "deck_read", {"path": "cut.pptx"})
    with pytest.raises(ToolError, match=r"'notes\.txt' is not a \.pptx file"):
        await run(ctx, "deck_read", {"path": "notes.txt"})


# --- deck_create ---------------------------------------------------------------------------------


async def test_deck_create_shows_the_outline_then_writes_it_and_undoes(
    ctx: ToolContext, tmp_path: Path
) -> None:
    copy_in(tmp_path, "monty-truth.png", folder=IMAGES_DIR)
    args = {"path": "review.pptx", "slides": OUTLINE}
    shown = await preview(ctx, "deck_create", args)
    assert isinstance(shown.detail, DeckOutlineDetail)
    assert shown.summary == "Create review.pptx: 5 slides"
    detail = shown.to_json()["detail"]
    assert detail["path"] == str(tmp_path / "review.pptx")
    assert detail["template"] is None
    slides = detail["slides"]
    assert [(s["number"], s["status"], s["layout"], s["title"]) for s in slides] == [
        (1, "new", "Title Slide", "Quarterly review"),
        (2, "new", "Title and Content", "Highlights"),
        (3, "new", "Title and Content", "Sales by region"),
        (4, "new", "Title and Content", "The team"),
        (5, "new", "Title Only", "Questions?"),
    ]
    assert slides[0]["bullets"] == ["Q3 2026 — Zürich office"]
    assert slides[1]["bullets"] == ["Revenue up 12 %", "  EMEA strongest", "Two new hires"]
    assert slides[1]["notes"] == "Mention the hires by name."
    assert slides[2]["table"] == [["Region", "Sales"], ["EMEA", "120"], ["APAC", "95.5"], ["Other", ""]]
    assert slides[3]["images"] == 1
    thumbnails_as_expected(detail)
    assert "2. Highlights — Title and Content" in shown.text
    assert not (tmp_path / "review.pptx").exists()

    checkpoints: list[str] = []
    ctx.checkpoint = checkpoints.append
    output = await run(ctx, "deck_create", args)
    assert checkpoints == ["absent"]
    path = tmp_path / "review.pptx"
    assert output.backup is not None
    assert output.backup.sha256_after == sha256_file(path)
    deck = Presentation(str(path))
    written = list(deck.slides)
    assert [s.shapes.title.text_frame.text if s.shapes.title else None for s in written] == [
        "Quarterly review",
        "Highlights",
        "Sales by region",
        "The team",
        "Questions?",
    ]
    body = next(s for s in written[1].placeholders if s.placeholder_format.idx == 1)
    assert [(p.text, p.level) for p in body.text_frame.paragraphs] == [
        ("Revenue up 12 %", 0),
        ("EMEA strongest", 1),
        ("Two new hires", 0),
    ]
    assert written[1].notes_slide.notes_text_frame is not None
    assert written[1].notes_slide.notes_text_frame.text == "Mention the hires by name."
    [table] = [s for s in written[2].shapes if s.has_table]
    assert table.table.cell(2, 1).text == "95.5"
    [picture] = [s for s in written[3].shapes if s.shape_type == MSO_SHAPE_TYPE.PICTURE]
    assert picture.image.blob == (tmp_path / "monty-truth.png").read_bytes()
    # The picture keeps its proportions (150 by 214 pixels).
    assert abs(picture.width / picture.height - 150 / 214) < 0.01
    # Unused placeholders are not left behind to show "Click to add text".
    assert all(ph.has_text_frame and ph.text_frame.text for s in written for ph in s.placeholders)

    restore(output.backup)
    assert not path.exists()


async def test_deck_create_uses_a_templates_layouts_but_not_its_slides(
    ctx: ToolContext, tmp_path: Path
) -> None:
    copy_in(tmp_path, "shp-embedded-pptx.pptx", "brand.pptx")
    template = Presentation(str(tmp_path / "brand.pptx"))
    assert len(template.slides) == 1
    args = {
        "path": "talk.pptx",
        "template": "brand.pptx",
        "slides": [
            {"title": "Hello", "subtitle": "World"},
            {"title": "Plan", "bullets": ["a", "b"], "layout": "two content"},
        ],
    }
    shown = await preview(ctx, "deck_create", args)
    detail = shown.to_json()["detail"]
    assert detail["template"] == str(tmp_path / "brand.pptx")
    assert [(s["layout"], s["title"]) for s in detail["slides"]] == [
        ("Title Slide", "Hello"),
        ("Two Content", "Plan"),
    ]
    await run(ctx, "deck_create", args)
    deck = Presentation(str(tmp_path / "talk.pptx"))
    assert len(deck.slides) == 2
    assert [layout.name for layout in deck.slide_layouts] == [
        layout.name for layout in template.slide_layouts
    ]
    assert (deck.slide_width, deck.slide_height) == (template.slide_width, template.slide_height)


async def test_deck_create_takes_a_potx_template(ctx: ToolContext, tmp_path: Path) -> None:
    # A .potx is a .pptx whose main part has the template content type.
    source = zipfile.ZipFile(PPTX_DIR / "test.pptx")
    with zipfile.ZipFile(tmp_path / "design.potx", "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "[Content_Types].xml":
                content = content.replace(
                    b"presentationml.presentation.main+xml", b"presentationml.template.main+xml"
                )
            target.writestr(item, content)
    with pytest.raises(ValueError, match="not a PowerPoint file"):
        Presentation(str(tmp_path / "design.potx"))
    await run(
        ctx,
        "deck_create",
        {"path": "from-potx.pptx", "template": "design.potx", "slides": [{"title": "One"}]},
    )
    deck = Presentation(str(tmp_path / "from-potx.pptx"))
    assert [s.shapes.title.text_frame.text for s in deck.slides if s.shapes.title] == ["One"]


async def test_deck_create_refuses_before_writing(ctx: ToolContext, tmp_path: Path) -> None:
    copy_in(tmp_path, "test.pptx")
    (tmp_path / "notes.txt").write_text("not a picture")
    before = folder_state(tmp_path)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"path": "test.pptx", "slides": [{"title": "x"}]}, "already exists"),
        ({"path": "new.key", "slides": [{"title": "x"}]}, r"not a \.pptx file"),
        (
            {"path": "new.pptx", "slides": [{"title": "x", "layout": "Fancy"}]},
            "There is no layout named 'Fancy'; the layouts are: 'Title Slide'",
        ),
        ({"path": "new.pptx", "slides": [{"table": [["a", "b"], ["c"]]}]}, "as many cells as its header row"),
        ({"path": "new.pptx", "slides": [{"image": "missing.png"}]}, "no file 'missing.png'"),
        ({"path": "new.pptx", "slides": [{"image": "notes.txt"}]}, "not a picture a slide can show"),
        (
            {"path": "new.pptx", "template": "notes.txt", "slides": [{"title": "x"}]},
            r"'notes\.txt' is not a \.pptx file",
        ),
    ]
    for args, message in cases:
        with pytest.raises(ToolError, match=message):
            await preview(ctx, "deck_create", args)
        with pytest.raises(ToolError, match=message):
            await run(ctx, "deck_create", args)
    assert folder_state(tmp_path) == before


# --- deck_edit -----------------------------------------------------------------------------------


async def test_deck_edit_marks_each_slide_and_undoes_byte_for_byte(ctx: ToolContext, tmp_path: Path) -> None:
    path = copy_in(tmp_path, "test.pptx")
    original = path.read_bytes()
    args = {
        "path": "test.pptx",
        "edits": [
            {
                "op": "add",
                "at": 1,
                "slide": {"title": "Agenda", "bullets": ["Why", "How"], "notes": "Keep it short."},
            },
            {"op": "update", "number": 2, "title": "Our plan", "notes": "Start with the numbers."},
            {"op": "add", "slide": {"title": "Thanks"}},
        ],
    }
    shown = await preview(ctx, "deck_edit", args)
    assert shown.summary == "Change test.pptx: 3 slides (2 new, 1 changed)"
    detail = shown.to_json()["detail"]
    assert [(s["number"], s["status"], s["title"]) for s in detail["slides"]] == [
        (1, "new", "Agenda"),
        (2, "changed", "Our plan"),
        (3, "new", "Thanks"),
    ]
    assert detail["slides"][1]["bullets"] == ["Subtitle Text"]
    assert detail["slides"][1]["notes"] == "Start with the numbers."
    assert detail["removed"] == []
    thumbnails_as_expected(detail)
    assert path.read_bytes() == original

    checkpoints: list[str] = []
    ctx.checkpoint = checkpoints.append
    output = await run(ctx, "deck_edit", args)
    assert checkpoints == [hashlib.sha256(original).hexdigest()]
    assert json.loads(output.text)["new"] == [1, 3]
    deck = await read_deck(ctx, "test.pptx")
    assert [(s["title"], s["text"], s.get("notes")) for s in deck["slides"]] == [
        ("Agenda", ["Why", "How"], "Keep it short."),
        ("Our plan", ["Subtitle Text"], "Start with the numbers."),
        ("Thanks", [], None),
    ]
    assert output.backup is not None
    restore(output.backup)
    assert path.read_bytes() == original


async def test_deck_edit_deletes_and_moves_slides(ctx: ToolContext, tmp_path: Path) -> None:
    path = copy_in(tmp_path, "sld-slides.pptx")
    ids = [s.slide_id for s in Presentation(str(path)).slides]
    args = {
        "path": "sld-slides.pptx",
        "edits": [{"op": "delete", "number": 2}, {"op": "move", "number": 2, "to": 1}],
    }
    shown = await preview(ctx, "deck_edit", args)
    detail = shown.to_json()["detail"]
    assert detail["removed"] == ["slide 2"]
    assert [s["status"] for s in detail["slides"]] == ["changed", "unchanged"]
    await run(ctx, "deck_edit", args)
    deck = Presentation(str(path))
    assert [s.slide_id for s in deck.slides] == [ids[2], ids[0]]
    with zipfile.ZipFile(path) as package:
        assert len([n for n in package.namelist() if n.startswith("ppt/slides/slide")]) == 2


async def test_deck_edit_refuses_before_writing(ctx: ToolContext, tmp_path: Path) -> None:
    copy_in(tmp_path, "sld-slides.pptx")
    copy_in(tmp_path, "test.pptx")
    before = folder_state(tmp_path)
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"path": "sld-slides.pptx", "edits": [{"op": "delete", "number": 4}]},
            "Slide 4 is out of range: the deck has 3 slides",
        ),
        (
            {"path": "sld-slides.pptx", "edits": [{"op": "move", "number": 1, "to": 9}]},
            "Slide position 9 is out of range",
        ),
        (
            {"path": "sld-slides.pptx", "edits": [{"op": "add", "at": 6, "slide": {"title": "x"}}]},
            "cannot be number 6",
        ),
        (
            {"path": "sld-slides.pptx", "edits": [{"op": "update", "number": 1, "title": "x"}]},
            "has no title placeholder",
        ),
        (
            {"path": "test.pptx", "edits": [{"op": "update", "number": 1, "bullets": ["x"]}]},
            "has no body placeholder",
        ),
        ({"path": "missing.pptx", "edits": [{"op": "delete", "number": 1}]}, "no file 'missing.pptx'"),
    ]
    for args, message in cases:
        with pytest.raises(ToolError, match=message):
            await run(ctx, "deck_edit", args)
    with pytest.raises(ToolError, match=r"Wrong arguments for deck_edit: edits\.0"):
        TOOL["deck_edit"].parse({"path": "test.pptx", "edits": [{"op": "recolour", "number": 1}]})
    assert folder_state(tmp_path) == before


async def test_a_deck_made_here_reads_back_the_same_through_deck_read(
    ctx: ToolContext, tmp_path: Path
) -> None:
    copy_in(tmp_path, "monty-truth.png", folder=IMAGES_DIR)
    shown = await preview(ctx, "deck_create", {"path": "r.pptx", "slides": OUTLINE})
    await run(ctx, "deck_create", {"path": "r.pptx", "slides": OUTLINE})
    deck = await read_deck(ctx, "r.pptx")
    outline = shown.to_json()["detail"]["slides"]
    assert [s["title"] for s in deck["slides"]] == [s["title"] for s in outline]
    assert [s["text"] for s in deck["slides"]] == [s["bullets"] for s in outline]
    data = io.BytesIO((tmp_path / "r.pptx").read_bytes())
    assert len(Presentation(data).slides) == 5
