"""The email agent: searches and reads mail, saves attachments, drafts and sends messages."""

from __future__ import annotations

from app.agents import AgentKind
from connectors import email

AGENT = AgentKind(
    name="email",
    description=(
        "Works in the person's mailbox over IMAP and SMTP (or local mail files): lists folders, "
        "searches and reads messages, saves attachments into the workspace, writes drafts, sends "
        "messages and replies (each shown to the person first), moves and flags messages."
    ),
    prompt="email.md",
    tools=tuple(email.TOOLS),
    on_mission_end=email.close_mission,
)
