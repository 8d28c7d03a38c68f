"""The documents agent's Word tools, on real .docx files written by Word and .odt files written by
OpenOffice and LibreOffice (tests/data/documents, see its README), and on broken files.

Test data is read in place; anything to be written is copied into tmp_path first. Writes go
through the real gate on a real journal, and one mission runs end to end with the scripted
model.
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import docx
import pytest
from docx.oxml.ns import qn

from app.engine import Engine
from app.gate import ApprovalGate, CallSite, Decision, ToolResult
from app.journal import Event, Journal, Mission, ProposedAction
from app.settings import Settings
from app.testing.scripted_model import ScriptedModel, text, tool_call
from connectors.base import Backup, ToolContext, ToolError, ToolOutput, outside_text, restore, sha256_file
from connectors.documents import TOOLS

DATA = Path(__file__).resolve().parent / "data" / "documents"
DOCX = sorted(p.name for p in DATA.glob("*.docx"))
ODT = sorted(p.name for p in DATA.glob("*.odt"))
TOOL = {tool.name: tool for tool in TOOLS}


# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def data_ctx(tmp_path: Path) -> ToolContext:
    """Reads the test documents in place (the read tools never write)."""
    return ToolContext(workspaces=[DATA], backup_dir=tmp_path / "backups")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "ws"
    folder.mkdir()
    return folder


@pytest.fixture
def ctx(workspace: Path, tmp_path: Path) -> ToolContext:
    return ToolContext(workspaces=[workspace], backup_dir=tmp_path / "backups")


def copy_in(workspace: Path, name: str) -> Path:
    target = workspace / name
    shutil.copyfile(DATA / name, target)
    return target


async def run(ctx: ToolContext, name: str, **arguments: Any) -> ToolOutput:
    tool = TOOL[name]
    return await tool.run(ctx, tool.parse(arguments))


async def read(ctx: ToolContext, path: str, start: int = 0) -> dict[str, Any]:
    """doc_read's reply, which must be one outside-content block of JSON."""
    output = await run(ctx, "doc_read", path=path, start=start)
    assert output.text.startswith(f'<external_content source="document {Path(path).name}">\n')
    assert output.text.count("<external_content") == 1
    data = json.loads(outside_text(output.text))
    assert isinstance(data, dict)
    return data


def paragraphs(reply: dict[str, Any]) -> list[tuple[int, str, str]]:
    return [(b["paragraph"], b["style"], b["text"]) for b in reply["blocks"] if b["type"] == "paragraph"]


class Gate:
    """The real approval gate on a real journal; every proposal is decided as it arrives."""

    def __init__(self, tmp_path: Path, ctx: ToolContext, decision: Decision | None = None) -> None:
        self.journal = Journal(tmp_path / "journal.sqlite3")
        self.journal.add(Mission(id="m", title="t", text="t"))
        self.gate = ApprovalGate(self.journal)
        self.ctx = ctx
        self.decision = decision or Decision.approve()
        self.proposals: list[Event] = []
        self.calls = 0
        loop = asyncio.get_running_loop()

        def on_event(event: Event) -> None:
            if event.kind == "action_proposed":
                self.proposals.append(event)
                loop.call_soon(self.gate.decide, event.data["action_id"], self.decision)

        self.journal.subscribe(on_event)

    async def call(self, name: str, **arguments: Any) -> tuple[ToolResult, ProposedAction | None]:
        self.calls += 1
        site = CallSite("m", None, "documents")
        result = await self.gate.call(TOOL[name], f"tu{self.calls}", arguments, self.ctx, site)
        actions = self.journal.actions("m")
        return result, (actions[-1] if actions and self.proposals else None)


@pytest.fixture
async def gate(tmp_path: Path, ctx: ToolContext) -> Any:
    g = Gate(tmp_path, ctx)
    yield g
    g.journal.close()


def make_docx(path: Path, build: Any) -> Path:
    document = docx.Document()
    build(document)
    document.save(str(path))
    return path


# --- reading real documents ----------------------------------------------------------------------


def test_the_test_documents_are_there() -> None:
    assert len(DOCX) >= 10
    assert len(ODT) >= 6
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for name in DOCX + ODT:
        assert name in readme, f"{name} has no origin in the README"


@pytest.mark.parametrize("name", DOCX + ODT)
async def test_every_test_document_reads(data_ctx: ToolContext, name: str) -> None:
    reply = await read(data_ctx, name)
    assert reply["format"] == name.rsplit(".", 1)[1]
    assert reply["blocks"], name
    for block in reply["blocks"]:
        if block["type"] == "paragraph":
            assert isinstance(block["text"], str)
            assert isinstance(block["style"], str | None)
        else:
            assert block["type"] == "table"
            assert all(isinstance(c, str) for row in block["rows"] for c in row)


async def test_styles_headings_and_hyperlink_text(data_ctx: ToolContext) -> None:
    known = await read(data_ctx, "par-known-paragraphs.docx")
    assert known["blocks"][0] == {
        "type": "paragraph",
        "paragraph": 0,
        "style": "Heading 1",
        "text": "Heading Paragraph",
        "level": 1,
    }
    custom = await read(data_ctx, "sty-known-styles.docx")
    assert [(s, t) for _, s, t in paragraphs(custom)] == [
        ("Normal", "Normal Paragraph."),
        ("Base", "Base Paragraph."),
        ("Citation", "Citation Paragraph."),
    ]
    links = await read(data_ctx, "par-hyperlinks.docx")
    assert paragraphs(links)[2][2] == "Three hyperlinks: the first one here, the second one, and the third."


async def test_tables_come_as_rows_in_reading_order(data_ctx: ToolContext) -> None:
    reply = await read(data_ctx, "blk-paras-and-tables.docx")
    kinds = [(b["type"], b.get("paragraph", b.get("table"))) for b in reply["blocks"]]
    # The last paragraph is empty, so it is left out.
    assert kinds == [("table", 0), ("paragraph", 0), ("table", 1), ("paragraph", 1), ("table", 2)]
    assert reply["paragraphs"] == 3
    assert reply["blocks"][2]["rows"] == [["Text before\nText after"]]
    odt = await read(data_ctx, "simpletable.odt")
    assert odt["blocks"][0] == {
        "type": "table",
        "table": 0,
        "rows": [["Cell 1", "Cell 2"], ["Cell 3 (bold)", "Cell 4 (italic)"]],
    }


async def test_headers_footers_and_comments(data_ctx: ToolContext) -> None:
    hdr = await read(data_ctx, "hdr-header-footer.docx")
    assert hdr["headers_footers"] == [
        {"section": 0, "kind": "header", "text": "Header for section-1"},
        {"section": 0, "kind": "footer", "text": "Footer for section 1"},
    ]
    odd_even = await read(data_ctx, "doc-odd-even-hdrs.docx")
    assert {"section": 0, "kind": "even_page_header", "text": "Even page header."} in odd_even[
        "headers_footers"
    ]
    comments = await read(data_ctx, "comments-rich-para.docx")
    first = comments["comments"][0]
    assert first == {
        "id": 0,
        "author": "Steve Canny",
        "date": "2025-06-07T11:20:00+00:00",
        "text": "Text with hyperlink https://google.com embedded.",
        "paragraph": 2,
    }
    assert paragraphs(comments)[1] == (2, "Normal", "Some text worthy of note.")
    odt = await read(data_ctx, "headerfooter.odt")
    assert odt["headers_footers"] == [
        {"section": "Standard", "kind": "header", "text": "Header\t1\tTest"},
        {"section": "Standard", "kind": "footer", "text": "Footer\t1\tBottom"},
    ]


async def test_odt_lists_headings_and_spacing(data_ctx: ToolContext) -> None:
    lists = await read(data_ctx, "twolevellist.odt")
    assert [(b["text"], b.get("list_level")) for b in lists["blocks"]] == [
        ("Line 1", None),
        ("Item A", 1),
        ("Item B", 1),
        ("Subitem B.1", 2),
        ("Subitem B.2 (bold)", 2),
        ("Item C", 1),
        ("Line 4", None),
    ]
    heading = await read(data_ctx, "headerfooter.odt")
    assert heading["blocks"][0] == {
        "type": "paragraph",
        "paragraph": 0,
        "style": "Heading 1",
        "text": "Lorem ipsum",
        "level": 1,
    }
    poem = await read(data_ctx, "serious_poem.odt")
    assert poem["blocks"][0]["text"].startswith(
        "The boy stood    on the burning deck,\n\tWhence all\tbut\t\thim"
    )


async def test_odt_comments_are_set_apart_from_the_text(ctx: ToolContext, workspace: Path) -> None:
    from odf.dc import Creator, Date  # type: ignore[import-untyped]
    from odf.office import Annotation  # type: ignore[import-untyped]
    from odf.opendocument import OpenDocumentText  # type: ignore[import-untyped]
    from odf.text import P  # type: ignore[import-untyped]

    document = OpenDocumentText()
    document.text.addElement(P(text="Intro."))
    paragraph = P(text="Pay the invoice ")
    note = Annotation()
    note.addElement(Creator(text="Ann"))
    note.addElement(Date(text="2026-03-01T10:00:00"))
    note.addElement(P(text="Which one?"))
    paragraph.addElement(note)
    paragraph.addText("by Friday.")
    document.text.addElement(paragraph)
    document.save(str(workspace / "noted.odt"))

    reply = await read(ctx, "noted.odt")
    assert [b["text"] for b in reply["blocks"]] == ["Intro.", "Pay the invoice by Friday."]
    assert reply["comments"] == [
        {"author": "Ann", "date": "2026-03-01T10:00:00", "text": "Which one?", "paragraph": 1}
    ]


async def test_a_long_document_comes_in_pages(ctx: ToolContext, workspace: Path) -> None:
    def build(document: Any) -> None:
        for i in range(1500):
            document.add_paragraph(f"Paragraph {i} " + "word " * 30)

    make_docx(workspace / "long.docx", build)
    seen: list[int] = []
    start = 0
    calls = 0
    while True:
        reply = await read(ctx, "long.docx", start)
        calls += 1
        seen.extend(b["paragraph"] for b in reply["blocks"])
        if "next_start" not in reply:
            break
        assert f"start {reply['next_start']}" in reply["note"]
        start = reply["next_start"]
    assert calls >= 3
    assert seen == list(range(1500))
    with pytest.raises(ToolError, match="past its end"):
        await run(ctx, "doc_read", path="long.docx", start=5000)


# --- broken and odd files ------------------------------------------------------------------------


async def test_broken_and_disguised_files_give_clear_errors(ctx: ToolContext, workspace: Path) -> None:
    real = (DATA / "par-known-paragraphs.docx").read_bytes()
    (workspace / "truncated.docx").write_bytes(real[: len(real) // 2])
    with zipfile.ZipFile(workspace / "notes-zip.docx", "w") as archive:
        archive.writestr("notes.txt", "just some text")
    with zipfile.ZipFile(io.BytesIO(), "w") as _:
        pass
    sheet = io.BytesIO()
    with zipfile.ZipFile(sheet, "w") as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>',
        )
        archive.writestr(
            "_rels/.rels",
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook/>')
    (workspace / "workbook.docx").write_bytes(sheet.getvalue())
    (workspace / "empty.docx").write_bytes(b"")
    (workspace / "old.doc").write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + bytes(512))
    (workspace / "encrypted.docx").write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + bytes(512))
    (workspace / "page.docx").write_text("<html><body>not a document</body></html>", encoding="utf-8")
    odt = (DATA / "simplelist.odt").read_bytes()
    (workspace / "cut.odt").write_bytes(odt[:2000])
    expected = {
        "truncated.docx": "is damaged: it is not a complete Word document",
        "notes-zip.docx": "is a zip archive but not a Word document: it has no [Content_Types].xml",
        "workbook.docx": "is not a Word document: it is another Office file",
        "empty.docx": "The file is empty (0 bytes)",
        "old.doc": "save it as .docx",
        "encrypted.docx": "password-protected",
        "page.docx": "It is really a text file",
        "cut.odt": "is damaged",
        "missing.docx": "There is no file 'missing.docx'",
    }
    for name, message in expected.items():
        with pytest.raises(ToolError) as info:
            await run(ctx, "doc_read", path=name)
        assert message in str(info.value), (name, str(info.value))
        assert "Traceback" not in str(info.value)
    with pytest.raises(ToolError, match="is damaged"):
        await run(
            ctx,
            "doc_edit",
            path="truncated.docx",
            operations=[{"op": "replace", "find": "a", "replace": "b"}],
        )
    assert (workspace / "truncated.docx").read_bytes() == real[: len(real) // 2]


# --- doc_create ----------------------------------------------------------------------------------


async def test_doc_create_writes_headings_lists_tables_and_is_undone(gate: Gate, workspace: Path) -> None:
    blocks = [
        {"type": "heading", "text": "Weekly summary", "level": 0},
        {"type": "heading", "text": "Done", "level": 1},
        {"type": "paragraph", "text": "Three invoices were paid.\nOne is late."},
        {"type": "bullets", "items": ["INV-1 paid", "INV-2 paid"]},
        {"type": "bullets", "items": ["Call Acme"], "numbered": True},
        {"type": "table", "rows": [["Invoice", "Amount"], ["INV-1", "1,200.50"]]},
        {"type": "page_break"},
        {"type": "paragraph", "text": "Quoted.", "style": "Quote"},
    ]
    result, action = await gate.call("doc_create", path="summary.docx", blocks=blocks, title="Summary")
    assert not result.is_error, result.text
    preview = gate.proposals[0].data["preview"]
    assert preview["kind"] == "document_diff"
    assert preview["detail"]["created"] is True
    assert preview["detail"]["diff"][3:] == [
        "+# Weekly summary",
        "+# Done",
        "+Three invoices were paid. / One is late.",
        "+- INV-1 paid",
        "+- INV-2 paid",
        "+- Call Acme",
        "+| Invoice | Amount |",
        "+| INV-1 | 1,200.50 |",
        "+",
        "+Quoted.",
    ]
    document = docx.Document(str(workspace / "summary.docx"))
    assert document.core_properties.title == "Summary"
    assert [(p.style.name if p.style else None, p.text) for p in document.paragraphs[:6]] == [
        ("Title", "Weekly summary"),
        ("Heading 1", "Done"),
        ("Normal", "Three invoices were paid.\nOne is late."),
        ("List Bullet", "INV-1 paid"),
        ("List Bullet", "INV-2 paid"),
        ("List Number", "Call Acme"),
    ]
    table = document.tables[0]
    assert [[c.text for c in row.cells] for row in table.rows] == [
        ["Invoice", "Amount"],
        ["INV-1", "1,200.50"],
    ]
    assert table.rows[0].cells[0].paragraphs[0].runs[0].bold is True
    assert document.paragraphs[-1].style is not None
    assert document.paragraphs[-1].style.name == "Quote"

    assert action is not None
    assert action.pre_state == "absent"
    restore(Backup.from_json(json.loads(action.backup_json or "{}")))
    assert not (workspace / "summary.docx").exists()


async def test_doc_create_refuses_clearly(gate: Gate, workspace: Path) -> None:
    (workspace / "exists.docx").write_bytes(b"x")
    cases = [
        ({"path": "exists.docx", "blocks": [{"type": "page_break"}]}, "already exists"),
        ({"path": "notes.txt", "blocks": [{"type": "page_break"}]}, "must end in .docx"),
        (
            {"path": "a.docx", "blocks": [{"type": "paragraph", "text": "x", "style": "Fancy"}]},
            "no paragraph style 'Fancy'",
        ),
        ({"path": "a.docx", "blocks": [{"type": "chart"}]}, "Wrong arguments for doc_create"),
        ({"path": "../a.docx", "blocks": [{"type": "page_break"}]}, "outside the workspace"),
    ]
    for arguments, message in cases:
        result, _ = await gate.call("doc_create", **arguments)
        assert result.is_error, arguments
        assert message in result.text, (arguments, result.text)
    assert sorted(p.name for p in workspace.iterdir()) == ["exists.docx"]


# --- doc_edit ------------------------------------------------------------------------------------


def runs_of(path: Path, paragraph: int = 0) -> list[tuple[str, str | None]]:
    document = docx.Document(str(path))
    return [(r.text, r.style.name if r.style else None) for r in document.paragraphs[paragraph].runs]


async def test_replace_inside_a_run_keeps_its_format(gate: Gate, workspace: Path) -> None:
    path = copy_in(workspace, "run-char-style.docx")
    result, _ = await gate.call(
        "doc_edit",
        path="run-char-style.docx",
        operations=[{"op": "replace", "find": "Emphasis", "replace": "Italic"}],
    )
    assert not result.is_error, result.text
    assert json.loads(result.text)["replacements"] == 1
    assert runs_of(path) == [
        ("First run having no directly-applied character style. ", "Default Paragraph Font"),
        ("Next run having Italic character style. ", "Emphasis"),
        ("Last run having Strong style.", "Strong"),
    ]
    diff = gate.proposals[0].data["preview"]["detail"]
    assert [line for line in diff["diff"] if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        "-First run having no directly-applied character style. Next run having Emphasis character style. "
        "Last run having Strong style.",
        "+First run having no directly-applied character style. Next run having Italic character style. "
        "Last run having Strong style.",
    ]
    assert (diff["added"], diff["removed"]) == (1, 1)


async def test_replace_across_runs_goes_into_the_first_run(gate: Gate, workspace: Path) -> None:
    path = copy_in(workspace, "run-char-style.docx")
    result, _ = await gate.call(
        "doc_edit",
        path="run-char-style.docx",
        operations=[{"op": "replace", "find": "style. Next run", "replace": "style; the next run"}],
    )
    assert not result.is_error, result.text
    assert runs_of(path) == [
        ("First run having no directly-applied character style; the next run", "Default Paragraph Font"),
        (" having Emphasis character style. ", "Emphasis"),
        ("Last run having Strong style.", "Strong"),
    ]


async def test_replace_keeps_tabs_and_breaks_and_never_matches_across_them(
    ctx: ToolContext, workspace: Path
) -> None:
    def build(document: Any) -> None:
        run = document.add_paragraph().add_run("Total:")
        run.add_tab()
        run.add_text("42")
        run.add_break()
        run.add_text("Due soon")
        run.bold = True

    path = make_docx(workspace / "tabs.docx", build)
    with pytest.raises(ToolError, match="'Total:42' is not in the document"):
        await run(
            ctx,
            "doc_edit",
            path="tabs.docx",
            operations=[{"op": "replace", "find": "Total:42", "replace": "x"}],
        )
    await run(
        ctx,
        "doc_edit",
        path="tabs.docx",
        operations=[
            {"op": "replace", "find": "Total:", "replace": "Sum:"},
            {"op": "replace", "find": "o", "replace": "0"},
        ],
    )
    paragraph = docx.Document(str(path)).paragraphs[0]
    assert paragraph.text == "Sum:\t42\nDue s00n"
    assert paragraph.runs[0].bold is True
    assert [c.tag for c in paragraph.runs[0]._r if c.tag != qn("w:rPr")] == [
        qn("w:t"),
        qn("w:tab"),
        qn("w:t"),
        qn("w:br"),
        qn("w:t"),
    ]


async def test_insert_delete_and_cells_use_the_numbers_doc_read_gave(
    gate: Gate, ctx: ToolContext, workspace: Path
) -> None:
    copy_in(workspace, "blk-paras-and-tables.docx")
    before = await read(ctx, "blk-paras-and-tables.docx")
    assert [t for _, _, t in paragraphs(before)] == [
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit.",
        "Donec semper facilisis metus finibus malesuada.",
    ]
    result, _ = await gate.call(
        "doc_edit",
        path="blk-paras-and-tables.docx",
        operations=[
            {"op": "delete_paragraph", "paragraph": 0},
            {"op": "insert_paragraph", "after": 1, "text": "Inserted after 1.", "style": "Heading 2"},
            {"op": "insert_paragraph", "after": 1, "text": "Then this."},
            {"op": "insert_paragraph", "before": 2, "text": "Before 2."},
            {"op": "set_cell", "table": 0, "row": 1, "column": 1, "text": "B2\nsecond line"},
            {"op": "set_cell", "table": 1, "row": 0, "column": 0, "text": "Only text"},
        ],
    )
    assert not result.is_error, result.text
    assert json.loads(result.text) == {
        "path": "blk-paras-and-tables.docx",
        "replacements": 0,
        "paragraphs_inserted": 3,
        "paragraphs_deleted": 1,
        "cells_set": 2,
        # Word stores only the styles a document uses: a built-in one comes from Word's defaults.
        "note": "The style 'Heading 2' was added to the document from Word's defaults.",
    }
    assert gate.proposals[0].data["preview"]["detail"]["notes"] == [json.loads(result.text)["note"]]
    after = await read(ctx, "blk-paras-and-tables.docx")
    assert [(s, t) for _, s, t in paragraphs(after)] == [
        ("Normal", "Donec semper facilisis metus finibus malesuada."),
        ("Heading 2", "Inserted after 1."),
        ("Normal", "Then this."),
        ("Normal", "Before 2."),
    ]
    assert after["paragraphs"] == 5
    tables = [b["rows"] for b in after["blocks"] if b["type"] == "table"]
    assert tables[0] == [["", ""], ["", "B2\nsecond line"]]
    assert tables[1] == [["Only text"]]


async def test_a_failing_operation_writes_nothing(gate: Gate, workspace: Path) -> None:
    path = copy_in(workspace, "blk-paras-and-tables.docx")
    original = path.read_bytes()
    cases = [
        ([{"op": "replace", "find": "nowhere to be found", "replace": "x"}], "is not in the document"),
        ([{"op": "delete_paragraph", "paragraph": 99}], "there is no paragraph 99"),
        (
            [{"op": "delete_paragraph", "paragraph": 1}, {"op": "insert_paragraph", "after": 1, "text": "x"}],
            "paragraph 1 is deleted by an earlier operation",
        ),
        ([{"op": "set_cell", "table": 0, "row": 5, "column": 0, "text": "x"}], "there is no row 5"),
        ([{"op": "set_cell", "table": 7, "row": 0, "column": 0, "text": "x"}], "there is no table 7"),
        (
            [{"op": "insert_paragraph", "after": 0, "text": "x", "style": "Nope"}],
            "no paragraph style 'Nope', and Word",
        ),
        ([{"op": "insert_paragraph", "text": "x"}], "give exactly one of after or before"),
        ([{"op": "replace", "find": "a\nb", "replace": "x"}], "within one paragraph"),
    ]
    for operations, message in cases:
        result, _ = await gate.call("doc_edit", path="blk-paras-and-tables.docx", operations=operations)
        assert result.is_error, operations
        assert message in result.text, (operations, result.text)
    assert gate.proposals == []
    assert path.read_bytes() == original
    odt = copy_in(gate.ctx.workspaces[0], "simplelist.odt")
    result, _ = await gate.call(
        "doc_edit", path="simplelist.odt", operations=[{"op": "delete_paragraph", "paragraph": 0}]
    )
    assert result.is_error
    assert "only read" in result.text
    assert odt.read_bytes() == (DATA / "simplelist.odt").read_bytes()


async def test_an_approved_edit_is_undone_byte_for_byte_and_checkpointed(gate: Gate, workspace: Path) -> None:
    path = copy_in(workspace, "comments-rich-para.docx")
    original = path.read_bytes()
    result, action = await gate.call(
        "doc_edit",
        path="comments-rich-para.docx",
        operations=[{"op": "replace", "find": "worthy of note", "replace": "to remember"}],
    )
    assert not result.is_error, result.text
    assert json.loads(result.text)["replacements"] == 2
    assert action is not None
    assert action.status == "executed"
    assert action.pre_state == sha256_file(DATA / "comments-rich-para.docx")
    edited = docx.Document(str(path))
    assert len(list(edited.comments)) == 4  # Comments survive the edit.
    assert restore(Backup.from_json(json.loads(action.backup_json or "{}"))).startswith("Restored")
    assert path.read_bytes() == original


# --- a mission, end to end -----------------------------------------------------------------------


async def test_summarise_notes_into_a_word_document_and_undo_everything(
    scripted: ScriptedModel, tmp_path: Path
) -> None:
    workspace = tmp_path / "mission-ws"
    workspace.mkdir()
    (workspace / "notes.txt").write_text(
        "Meeting 3 March\n- Acme paid INV-1\n- Globex is late with INV-2\n", encoding="utf-8"
    )
    report = copy_in(workspace, "par-known-paragraphs.docx")
    report_bytes = report.read_bytes()
    seen: dict[str, Any] = {}

    def write_summary(request: dict[str, Any]) -> Any:
        last = request["messages"][-1]["content"]
        seen["notes"] = next(b["content"] for b in last if b.get("type") == "tool_result")
        return tool_call(
            "doc_create",
            {
                "path": "summary.docx",
                "blocks": [
                    {"type": "heading", "text": "Meeting 3 March", "level": 1},
                    {"type": "bullets", "items": ["Acme paid INV-1", "Globex is late with INV-2"]},
                ],
            },
        )

    scripted.add(
        "Summarise notes.txt",
        tool_call(
            "delegate",
            {
                "tasks": [
                    {"id": "s", "agent": "documents", "instructions": "SUMMARY-TASK: summarise notes.txt"}
                ]
            },
        ),
        text("The summary is in summary.docx."),
    )
    scripted.add(
        "SUMMARY-TASK",
        tool_call("files_read_text", {"path": "notes.txt"}),
        write_summary,
        tool_call(
            "doc_edit",
            {
                "path": "par-known-paragraphs.docx",
                "operations": [{"op": "insert_paragraph", "after": 1, "text": "See summary.docx."}],
            },
        ),
        text("Wrote summary.docx and pointed the report at it."),
    )
    engine = Engine(settings=Settings())
    loop = asyncio.get_running_loop()
    cards: list[dict[str, Any]] = []

    def on_event(event: Event) -> None:
        if event.kind == "action_proposed":
            cards.append(event.data["preview"])
            loop.call_soon(engine.decide, event.data["action_id"], Decision.approve())

    engine.subscribe(on_event)
    try:
        outcome = await engine.run_mission("Summarise notes.txt into a Word document", workspaces=[workspace])
        assert outcome.status == "done", outcome.result
        assert '<external_content source="file notes.txt">' in seen["notes"]
        assert [c["kind"] for c in cards] == ["document_diff", "document_diff"]
        assert cards[0]["detail"]["diff"][-2:] == ["+- Acme paid INV-1", "+- Globex is late with INV-2"]
        assert "+See summary.docx." in cards[1]["detail"]["diff"]
        summary = docx.Document(str(workspace / "summary.docx"))
        assert [p.text for p in summary.paragraphs] == [
            "Meeting 3 March",
            "Acme paid INV-1",
            "Globex is late with INV-2",
        ]
        assert docx.Document(str(report)).paragraphs[2].text == "See summary.docx."
        actions = engine.journal.actions(outcome.mission_id)
        assert [a.tool for a in actions] == ["doc_create", "doc_edit"]
        for action in reversed(actions):
            await engine.undo(action.id)
    finally:
        await engine.close()
    assert report.read_bytes() == report_bytes
    assert not (workspace / "summary.docx").exists()
    assert sorted(p.name for p in workspace.iterdir()) == ["notes.txt", "par-known-paragraphs.docx"]
