"""The previews the browser agent's tools render: one typed model per kind."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from connectors.base import PreviewDetail


class HttpRequestDetail(PreviewDetail):
    """A request that sends data to a site (a form, a visit with a query, a script's call).

    Attributes:
        method: ``GET``, ``POST``…
        url: The address, with secrets masked.
        fields: The data sent, as ``[name, value]`` pairs (passwords masked), or by name.
        body: The raw body when it has no fields.
        page_url: The page it was sent from.
        element: What was clicked or submitted, described.
        host: The host it goes to.
        content_type: The body's media type.
        screenshot_png_base64: The page just before, as a base64 PNG ("" when none).
    """

    kind: ClassVar[str] = "http_request"

    method: str = "GET"
    url: str = ""
    fields: list[list[Any]] | dict[str, Any] = Field(default_factory=list)
    body: str = ""
    page_url: str = ""
    element: str = ""
    host: str = ""
    content_type: str = ""
    screenshot_png_base64: str = ""


class DownloadDetail(PreviewDetail):
    """A file downloaded from a page into the workspace.

    Attributes:
        ref: The page element the download is behind.
        element: That element, described.
        save_as: The workspace path it is saved as, or None for the file's own name.
        page_url: The page it is on.
    """

    kind: ClassVar[str] = "download"

    ref: str = ""
    element: str = ""
    save_as: str | None = None
    page_url: str = ""


PREVIEWS: tuple[type[PreviewDetail], ...] = (HttpRequestDetail, DownloadDetail)
"""Every preview kind of the browser agent."""
