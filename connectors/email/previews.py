"""The previews the email agent's tools render: one typed model per kind."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from connectors.base import PreviewDetail


class AttachmentInfo(BaseModel):
    """A file attached to an outgoing message.

    Attributes:
        name: Its file name.
        size: Its size in bytes.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    size: int = 0


class EmailDetail(PreviewDetail):
    """A message to send, or to save as a draft, exactly as it will go.

    Attributes:
        sender: The account's address (``"from"`` in JSON).
        to: The recipients.
        cc: Copy recipients.
        bcc: Blind copy recipients.
        subject: The subject line.
        body: The plain-text body.
        attachments: The files attached.
        in_reply_to: The id of the message it answers, if any.
        message_id: The Message-ID it will carry (fixed before approval, so a retry after a
            crash is recognised).
    """

    kind: ClassVar[str] = "email"

    sender: str = Field(default="", alias="from")
    to: list[str] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    bcc: list[str] = Field(default_factory=list)
    subject: str = ""
    body: str = ""
    attachments: list[AttachmentInfo] = Field(default_factory=list)
    in_reply_to: str | None = None
    message_id: str | None = None


PREVIEWS: tuple[type[PreviewDetail], ...] = (EmailDetail,)
"""Every preview kind of the email agent besides plain text."""
