"""The chat of one mission: the person's messages, the lead's answers and questions, in markdown.

Like the plan, the chat is built from the mission's events, so that replaying the journal
and watching live give the same page.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QTextCursor
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QTextBrowser, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from app.api import AnyEvent


class ChatInput(QPlainTextEdit):
    """The message box: Enter sends, Shift+Enter starts a new line.

    Signals:
        submitted: The person pressed Enter.
    """

    submitted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatInput")
        self.setAccessibleName("Message")
        self.setTabChangesFocus(True)
        self.setFixedHeight(76)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        ):
            self.submitted.emit()
            return
        super().keyPressEvent(event)


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines() or [""])


class ChatView(QWidget):
    """The messages of the mission shown, rendered as markdown, with the lead's text as it streams."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Conversation")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.browser = QTextBrowser()
        self.browser.setObjectName("chatView")
        self.browser.setAccessibleName("Conversation with the lead agent")
        self.browser.setOpenExternalLinks(True)
        self.browser.document().setDocumentMargin(16)
        layout.addWidget(self.browser, 1)
        self.streaming = QLabel()
        self.streaming.setObjectName("streamingLabel")
        self.streaming.setAccessibleName("The lead is writing")
        self.streaming.setContentsMargins(16, 4, 16, 6)
        # Always there, with a fixed height: showing streamed text must never resize the
        # conversation above it, which would lay the whole document out again.
        self.streaming.setFixedHeight(self.streaming.fontMetrics().height() + 12)
        layout.addWidget(self.streaming)
        self._parts: list[str] = []
        # The person's message each part shows (None for the rest), to put a note after it.
        self._keys: list[str | None] = []
        # Notes of this session, by the person's message they follow (see add_note).
        self._notes: dict[str, str] = {}
        self._draft = ""
        self._dirty = False
        # Re-rendering markdown on every streamed token would stall the GUI; at most ten
        # times a second is enough for a person to read along.
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(100)
        self._render_timer.timeout.connect(self.on_render_due)
        self._placeholder = ""
        self.set_placeholder(
            "### Welcome to Ensemble\n\nTell the agents what you want done, in plain words, in the box "
            "below. For example:\n\n*Mark every invoice in invoices.xlsx that is past due as overdue.*\n\n"
            "Nothing changes without you: every change is shown to you first, on the right, and "
            "waits for your approval."
        )

    def set_placeholder(self, markdown: str) -> None:
        """What the chat shows when no mission is selected."""
        self._placeholder = markdown
        if not self._parts:
            self.browser.setMarkdown(markdown)

    def clear(self) -> None:
        """Shows no mission."""
        self._parts = []
        self._keys = []
        self._draft = ""
        self.streaming.clear()
        self.browser.setMarkdown(self._placeholder)

    @property
    def messages(self) -> list[str]:
        """The rendered messages, as markdown, in order (for tests and accessibility tools)."""
        return list(self._parts)

    def apply(self, events: Iterable[AnyEvent]) -> None:
        """Applies events of the mission shown, in order."""
        from app import api

        changed = False
        for event in events:
            match event:
                case api.TextDelta(task_id=None):  # the lead's text, as it streams
                    self._draft = (self._draft + event.text)[-600:]
                    self._dirty = True
                    continue
                case api.TextDelta():
                    continue
                case api.ModelCallMade() | api.ToolCalled():
                    self._draft = ""
                    self._dirty = True
            part = self._part(event)
            if part is not None:
                key = _said(event)
                self._parts.append(part)
                self._keys.append(key)
                note = self._notes.get(key) if key is not None else None
                if note is not None:
                    self._parts.append(_note(note))
                    self._keys.append(None)
                self._draft = ""
                changed = True
        if changed:
            self._render()
        if self._dirty and not self._render_timer.isActive():
            self._render_timer.start()

    def add_note(self, message: str, note: str) -> None:
        """Shows ``note`` (what was done with the attached files) right after the person's
        ``message``, now if it is shown, else as soon as it is (for the rest of the session)."""
        key = message.strip()
        self._notes[key] = note
        if key not in self._keys:
            return
        index = len(self._keys) - 1 - self._keys[::-1].index(key)
        part = _note(note)
        if index + 1 < len(self._parts) and self._parts[index + 1] == part:
            return
        self._parts.insert(index + 1, part)
        self._keys.insert(index + 1, None)
        self._render()

    def _part(self, event: AnyEvent) -> str | None:
        """The chat's entry for an event, in markdown; None for an event the chat does not show."""
        from app import api

        at = _time(event.at)
        match event:
            case api.MissionStarted():
                return f"**You** · {at}\n\n{_file_names(event.text or event.summary)}"
            case api.ChatMessageEvent(role="user"):
                return f"**You** · {at}\n\n{_file_names(event.text)}"
            case api.ChatMessageEvent():
                return f"**Lead agent** · {at}\n\n{event.text}"
            case api.QuestionAsked():
                return f"**Lead agent asks** · {at}\n\n{_quote(event.question or event.summary)}"
            case api.QuestionAnswered():
                return f"**You answered** · {at}\n\n{event.answer or event.summary}"
            case api.MissionFinished(status="done"):
                return f"*✓ Mission done · {at}*"
            case api.MissionFinished():
                words = {"cancelled": "Mission stopped", "failed": "Mission failed"}.get(
                    event.status, "Mission ended"
                )
                reason = event.error or ""
                return f"*■ {words} · {at}*" + (f"\n\n{_quote(reason)}" if reason else "")
        return None

    def on_render_due(self) -> None:
        self._dirty = False
        line = " ".join(self._draft.split())
        text = f"Lead agent is writing… {line}" if line else ""
        metrics = self.streaming.fontMetrics()
        width = max(100, self.streaming.width() - 32)
        self.streaming.setText(metrics.elidedText(text, Qt.TextElideMode.ElideLeft, width))

    def _render(self) -> None:
        bar = self.browser.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() - 4
        self.browser.setMarkdown("\n\n---\n\n".join(self._parts) if self._parts else self._placeholder)
        if at_end:
            self.browser.moveCursor(QTextCursor.MoveOperation.End)
            bar.setValue(bar.maximum())


def _said(event: AnyEvent) -> str | None:
    """The person's words an event shows (their mission, message or answer), else None."""
    from app import api

    match event:
        case api.MissionStarted():
            return (event.text or event.summary).strip()
        case api.ChatMessageEvent(role="user"):
            return event.text.strip()
        case api.QuestionAnswered():
            return (event.answer or event.summary).strip()
    return None


_MARKDOWN = re.compile(r"([\\`*_\[\]<>#|~])")


def _note(text: str) -> str:
    """A note of the window's (not the agents') about attached files, in markdown: each line in
    italics ("Added the folder …", "Copied … into …")."""
    lines = [_MARKDOWN.sub(r"\\\1", line) for line in text.splitlines() if line.strip()]
    return "\n\n".join(f"*{line}*" for line in lines)


def _file_names(text: str) -> str:
    """The person's message as the chat shows it: each "Attached: /full/path" line the window
    added for the agents (ui/attachments.py ``message_text``) shows the file's name alone, in
    italics on a line of its own; the agents still get the whole path."""
    lines = []
    for line in text.splitlines():
        if line.startswith("Attached: "):
            name = PurePath(line.removeprefix("Attached: ").strip()).name
            escaped = _MARKDOWN.sub(r"\\\1", name)
            lines.append(f"\n*Attached: {escaped}*\n")
        else:
            lines.append(line)
    return "\n".join(lines)


def _time(at: datetime) -> str:
    return at.astimezone().strftime("%H:%M")
