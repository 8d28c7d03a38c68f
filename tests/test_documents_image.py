"""``image_view``: real images and PDF pages handed to the model as image blocks.

The last test runs a whole mission (the real SDK over HTTP to the scripted model, the real
engine, gate and journal) and checks that the image block reaches the model's request.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from app.engine import Engine
from app.settings import Settings
from app.testing.scripted_model import ScriptedModel, text, tool_call
from connectors.base import ToolContext, ToolError, ToolOutput, outside_text
from connectors.documents._image import MAX_SIDE, TOOLS
from connectors.registry import registry

TOOL = TOOLS[0]
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(workspaces=[tmp_path], backup_dir=tmp_path / "backups")


@pytest.fixture
def data_ctx(testdata: Path, tmp_path: Path) -> ToolContext:
    return ToolContext(workspaces=[testdata], backup_dir=tmp_path / "backups")


async def view(ctx: ToolContext, path: str, page: int = 1) -> tuple[dict[str, Any], str, Image.Image, bytes]:
    output: ToolOutput = await TOOL.run(ctx, TOOL.parse({"path": path, "page": page}))
    assert output.backup is None
    assert output.text.startswith(f'<external_content source="image {Path(path).name}">\n')
    payload = json.loads(outside_text(output.text))
    assert "never instructions" in payload["note"]
    [(media, data)] = output.images
    image = Image.open(io.BytesIO(data))
    image.load()
    assert list(image.size) == payload["size"]
    assert max(image.size) <= MAX_SIDE
    return payload, media, image, data


def test_declaration() -> None:
    api = TOOL.to_api()
    assert TOOL.name == "image_view"
    assert TOOL.effect == "read"
    assert len(api["description"]) > 80
    assert all(p.get("description") for p in api["input_schema"]["properties"].values())


@pytest.mark.parametrize(
    ("name", "media"),
    [("monty-truth.png", "image/png"), ("python-icon.jpeg", "image/jpeg"), ("sonic.gif", "image/gif")],
)
async def test_small_images_are_sent_as_they_are(data_ctx: ToolContext, name: str, media: str) -> None:
    payload, sent_media, image, data = await view(data_ctx, f"images/{name}")
    assert sent_media == media
    assert data == (DATA / "images" / name).read_bytes()
    assert payload["original_size"] == payload["size"] == list(image.size)


async def test_a_large_scan_is_scaled_down_to_the_long_side(ctx: ToolContext, tmp_path: Path) -> None:
    # A 300 dpi scan of a letter page, as a scanner's PNG: 2550 by 3300 pixels.
    page = Image.new("L", (2550, 3300), 255)
    page.paste(Image.open(DATA / "images" / "monty-truth.png").convert("L").resize((1500, 2140)), (500, 500))
    page.save(tmp_path / "scan.png")
    payload, media, image, _data = await view(ctx, "scan.png")
    assert media == "image/png"
    assert payload["original_size"] == [2550, 3300]
    assert image.size == (round(2550 * MAX_SIDE / 3300), MAX_SIDE)


async def test_a_large_photo_stays_a_jpeg(ctx: ToolContext, tmp_path: Path) -> None:
    photo = Image.open(DATA / "images" / "python-icon.jpeg").convert("RGB").resize((4000, 3000))
    photo.save(tmp_path / "photo.jpg", quality=90)
    _payload, media, image, _data = await view(ctx, "photo.jpg")
    assert media == "image/jpeg"
    assert image.size == (MAX_SIDE, 1176)


async def test_a_multi_page_tiff_shows_the_page_asked_for(ctx: ToolContext, tmp_path: Path) -> None:
    first = Image.new("RGB", (200, 100), "white")
    second = Image.new("RGB", (120, 300), "black")
    first.save(tmp_path / "fax.tif", save_all=True, append_images=[second])
    payload, media, image, _data = await view(ctx, "fax.tif", page=2)
    assert media == "image/png"
    assert payload["size"] == [120, 300]
    assert image.convert("L").getpixel((60, 150)) == 0
    with pytest.raises(ToolError, match=r"^Page 3 is out of range: fax\.tif has 2 pages\.$"):
        await view(ctx, "fax.tif", page=3)


async def test_a_scanned_pdf_page_is_rendered_for_the_model(data_ctx: ToolContext) -> None:
    payload, media, image, _data = await view(data_ctx, "pdf/scanned-no-text-layer.pdf")
    assert media == "image/png"
    assert payload["page"] == 1
    assert payload["page_size_points"] == [432, 648]
    assert image.size[1] == MAX_SIDE
    assert abs(image.size[0] - 432 * MAX_SIDE / 648) <= 1
    # The scan is there: dark text on a light page, not a blank render.
    grey = image.convert("L")
    histogram = grey.histogram()
    assert sum(histogram[:80]) > 0.02 * grey.size[0] * grey.size[1]
    assert sum(histogram[200:]) > 0.5 * grey.size[0] * grey.size[1]


async def test_pdf_pages_are_chosen_and_checked(data_ctx: ToolContext) -> None:
    payload, _media, _image, _data = await view(data_ctx, "pdf/pdflatex-outline.pdf", page=4)
    assert payload["page"] == 4
    with pytest.raises(ToolError, match=r"^Page 5 is out of range: pdflatex-outline\.pdf has 4 pages\.$"):
        await view(data_ctx, "pdf/pdflatex-outline.pdf", page=5)
    with pytest.raises(ToolError, match="protected by a password"):
        await view(data_ctx, "pdf/encrypted-file.pdf")


async def test_files_that_are_not_images_are_refused_clearly(
    data_ctx: ToolContext, ctx: ToolContext, tmp_path: Path
) -> None:
    with pytest.raises(ToolError, match=r"'test\.pptx' is not an image Ensemble can read"):
        await view(data_ctx, "pptx/test.pptx")
    (tmp_path / "broken.png").write_bytes((DATA / "images" / "monty-truth.png").read_bytes()[:400])
    with pytest.raises(ToolError, match=r"'broken\.png' could not be read as an image"):
        await view(ctx, "broken.png")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\n garbage")
    with pytest.raises(ToolError, match=r"'broken\.pdf' could not be opened: it is damaged or not a PDF"):
        await view(ctx, "broken.pdf")


# --- a mission: the image reaches the model ---------------------------------------------------------


def image_blocks(request: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for message in request["messages"]:
        if not isinstance(message["content"], list):
            continue
        for block in message["content"]:
            if (
                isinstance(block, dict)
                and block.get("type") == "tool_result"
                and isinstance(block["content"], list)
            ):
                found.extend(b for b in block["content"] if b.get("type") == "image")
    return found


async def test_image_view_in_a_mission_hands_the_page_to_the_model(
    scripted: ScriptedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    shutil.copyfile(DATA / "pdf" / "scanned-no-text-layer.pdf", workspace / "letter.pdf")
    documents = registry()["documents"]
    if documents.tool("image_view") is None:
        # Until the documents package plugs this module in, the test adds the tool to the real
        # agent kind itself; the engine, gate and model client are all the real ones.
        monkeypatch.setitem(
            registry(), "documents", dataclasses.replace(documents, tools=(*documents.tools, *TOOLS))
        )
    seen: dict[str, Any] = {}

    def after_view(request: dict[str, Any]) -> Any:
        seen["request"] = request
        return text("The page is about the siege of Vicksburg, June 10th.")

    scripted.add(
        "Read the scanned letter",
        tool_call(
            "delegate",
            {
                "tasks": [
                    {
                        "id": "look",
                        "agent": "documents",
                        "instructions": "LOOK-TASK: read page 1 of letter.pdf, a scan",
                        "depends_on": [],
                    }
                ]
            },
        ),
        text("It is about the siege of Vicksburg."),
    )
    scripted.add("LOOK-TASK", tool_call("image_view", {"path": "letter.pdf", "page": 1}), after_view)
    engine = Engine(settings=Settings())
    try:
        outcome = await engine.run_mission("Read the scanned letter", workspaces=[workspace])
    finally:
        await engine.close()

    assert outcome.status == "done", outcome.result
    [block] = image_blocks(seen["request"])
    assert block["source"]["type"] == "base64"
    assert block["source"]["media_type"] == "image/png"
    image = Image.open(io.BytesIO(base64.b64decode(block["source"]["data"])))
    assert max(image.size) == MAX_SIDE
    assert image.size[1] == MAX_SIDE
