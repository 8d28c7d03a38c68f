"""Typed previews: what a proposed action would do, as clients receive it.

A preview travels as ``{"summary", "kind", "detail", "text"}``. :class:`ActionPreview`
reads that form and gives ``detail`` the model its kind's agent declared (through the
connectors' registry); a kind nobody declared, or a detail that does not fit its model,
becomes a :class:`GenericDetail` that keeps every field, so a client always has something
to show and never drops a preview.

The concrete detail models are re-exported here so a client can name the kinds it draws
with a tailored widget; any other kind gets its generic view.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, model_validator

from connectors.base import GenericDetail, PreviewDetail, TextDetail
from connectors.registry import preview_model

if TYPE_CHECKING:
    from connectors.browser.previews import DownloadDetail, HttpRequestDetail
    from connectors.calendar.previews import EventDetail, InviteDetail
    from connectors.documents._deck import DeckOutlineDetail
    from connectors.documents._pdf import PdfDetail, PdfFormDetail
    from connectors.documents.previews import DocumentDiffDetail, FileOperationDetail
    from connectors.email.previews import AttachmentInfo, EmailDetail
    from connectors.spreadsheet.previews import (
        CellChange,
        CellsDetail,
        NewFileDetail,
        RowsDetail,
        StructureDetail,
    )

_LAZY = {
    "DeckOutlineDetail": "connectors.documents._deck",
    "DocumentDiffDetail": "connectors.documents.previews",
    "EventDetail": "connectors.calendar.previews",
    "FileOperationDetail": "connectors.documents.previews",
    "InviteDetail": "connectors.calendar.previews",
    "PdfDetail": "connectors.documents._pdf",
    "PdfFormDetail": "connectors.documents._pdf",
    "AttachmentInfo": "connectors.email.previews",
    "CellChange": "connectors.spreadsheet.previews",
    "CellsDetail": "connectors.spreadsheet.previews",
    "DownloadDetail": "connectors.browser.previews",
    "EmailDetail": "connectors.email.previews",
    "HttpRequestDetail": "connectors.browser.previews",
    "NewFileDetail": "connectors.spreadsheet.previews",
    "RowsDetail": "connectors.spreadsheet.previews",
    "StructureDetail": "connectors.spreadsheet.previews",
}
"""The agents' own models, imported on first use: a connector package loads its libraries
(a browser driver, a workbook reader), which a client that only lists missions never needs."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ActionPreview",
    "AttachmentInfo",
    "CellChange",
    "CellsDetail",
    "DeckOutlineDetail",
    "DocumentDiffDetail",
    "DownloadDetail",
    "EmailDetail",
    "EventDetail",
    "FileOperationDetail",
    "GenericDetail",
    "HttpRequestDetail",
    "InviteDetail",
    "NewFileDetail",
    "PdfDetail",
    "PdfFormDetail",
    "PreviewDetail",
    "RowsDetail",
    "StructureDetail",
    "TextDetail",
]


class ActionPreview(BaseModel):
    """A proposed action's preview, with its detail typed by its kind.

    Attributes:
        summary: One plain sentence: what the action does.
        kind: What ``detail`` holds (``"cells"``, ``"email"``…); a client maps it to a widget.
        detail: The typed detail (the agent's model for the kind, or :class:`GenericDetail`).
        text: The whole preview as plain text (the command line shows it).
    """

    model_config = ConfigDict(frozen=True)

    summary: str = ""
    kind: str = ""
    detail: SerializeAsAny[PreviewDetail] = Field(default_factory=GenericDetail)
    text: str = ""

    @model_validator(mode="before")
    @classmethod
    def _typed_detail(cls, data: Any) -> Any:
        if not isinstance(data, dict) or isinstance(data.get("detail"), PreviewDetail):
            return data
        raw = data.get("detail")
        if raw is None:
            raw = {}
        elif not isinstance(raw, dict):
            raw = {"detail": raw}
        model = preview_model(str(data.get("kind") or ""))
        try:
            detail: PreviewDetail = model.model_validate(raw)
        except ValidationError:
            # A detail that does not have its kind's shape is still shown, field by field.
            detail = GenericDetail.model_validate(raw)
        return {**data, "detail": detail}

    @property
    def typed(self) -> bool:
        """Whether the detail has its kind's own model (False: shown generically)."""
        return not isinstance(self.detail, GenericDetail) or self.kind == GenericDetail.kind
