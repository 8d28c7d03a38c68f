"""The approval pane: one queue of the actions waiting for a person, across all missions.

Each :class:`ApprovalCard` says who proposes what, in which mission, in plain words, and
shows the preview of its real effect. The card only asks: the window turns its signals into
engine calls and removes the card when the engine reports the action decided (by the
person, by a rule, or by Stop), so the pane always shows what the engine really waits for.

A card is built one way, from an :class:`app.api.ActionInfo`: the engine's list of waiting
actions gives those, and a live ``ActionProposed`` event becomes one through
:meth:`ActionInfo.proposed <app.api.ActionInfo.proposed>`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ui.previews import ArgumentsEditor, EditError, preview_widget
from ui.widgets import ReasonRow, WrapLabel, button_row

if TYPE_CHECKING:
    from collections.abc import Callable

    from app.api import ActionInfo

EFFECT_WORDS = {
    "local": "Changes something on this computer · nothing leaves it",
    "external": "Reaches outside · cannot be taken back",
}


_SUBJECT = "_ensembleCardSubject"
"""The property holding a control's own accessible name, before its card's subject was added."""


def _own_name(widget: QWidget, labels: list[QLabel]) -> str:
    """What names a control by itself: its accessible name, a button's text, or the label of
    its form row (its buddy, among ``labels``)."""
    kept = widget.property(_SUBJECT)
    if isinstance(kept, str) and kept:
        return kept
    name = widget.accessibleName().strip()
    if name:
        return name
    if isinstance(widget, QAbstractButton):
        return widget.text().replace("&", "").strip()
    for label in labels:
        if label.buddy() is widget and label.text().strip():
            return label.text().replace("&", "").strip().rstrip(":")
    return ""


def _name_within(root: QWidget, subject: str) -> None:
    """Adds a card's subject to the accessible name of ``root`` and of every control in it that
    takes the keyboard or holds a table or a text ("Subject (Send an email to bob@example.com)"),
    once, however often it is called."""
    kinds = (QAbstractButton, QAbstractScrollArea, QComboBox, QLineEdit, QAbstractSpinBox)
    labels = root.findChildren(QLabel)
    for widget in (root, *root.findChildren(QWidget)):
        if widget is not root and not isinstance(widget, kinds):
            continue
        if isinstance(widget.parentWidget(), (QAbstractSpinBox, QComboBox)):
            continue  # an editable box's line edit speaks for its owner
        own = _own_name(widget, labels)
        if not own or subject in own:
            continue
        widget.setProperty(_SUBJECT, own)
        widget.setAccessibleName(f"{own} ({subject})")


class ApprovalCard(QFrame):
    """One proposed action, with Approve, Edit and Reject.

    Args:
        action: The proposed action: who proposes what, its arguments, its preview
            (``{summary, kind, detail, text}``) and why the person is asked (its notice,
            shown above the preview), if a rule might otherwise have decided.
        mission_title: The mission's title, for the person.

    Signals:
        approved(str): Approve as proposed.
        edited(str, dict): Approve with these arguments instead.
        rejected(str, object): Reject, with a reason or None.
        approve_all_requested(str): Approve this and every action like it in this mission.
    """

    approved = Signal(str)
    edited = Signal(str, dict)
    rejected = Signal(str, object)
    approve_all_requested = Signal(str)

    def __init__(self, action: ActionInfo, *, mission_title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.action_id = action.id
        self.mission_id = action.mission_id
        self.tool = action.tool
        self.effect = action.effect
        self.info = action  # the action as proposed (a batch card sums up its members)
        self.title = action.title or action.tool
        self.arguments: dict[str, Any] = dict(action.arguments)
        self.preview = action.preview
        agent, tool, effect, preview, notice = (
            action.agent,
            action.tool,
            action.effect,
            self.preview,
            action.notice,
        )
        self._editor: ArgumentsEditor | None = None
        self.setObjectName("approvalCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        # As wide as the pane, never wider: the pane scrolls down, never sideways, so every
        # part of the card wraps or flows to the width it is given.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        summary = preview.summary or self.title
        self.summary = summary
        self.setAccessibleName(f"Proposed action: {self.title}: {summary}")
        # What a screen reader says after the name: the whole card in one sentence or three.
        self.setAccessibleDescription(
            " ".join(
                part
                for part in (
                    f"{summary}.",
                    f"Proposed by the {agent} agent in the mission {mission_title}.",
                    f"{EFFECT_WORDS.get(effect, effect)}.",
                    notice or "",
                )
                if part
            )
        )

        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 12, 14, 12)
        layout.setSpacing(8)

        badge = WrapLabel(EFFECT_WORDS.get(effect, effect))
        badge.setObjectName("effectBadge")
        badge.setProperty("effect", effect)
        badge.setAccessibleName(f"Effect: {EFFECT_WORDS.get(effect, effect)}")
        top = QHBoxLayout()
        top.addWidget(badge)
        top.addStretch(1)
        layout.addLayout(top)

        heading = QLabel(self.title)
        heading.setObjectName("cardTitle")
        heading.setAccessibleName("Action")
        heading.setWordWrap(True)
        heading.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(heading)

        title = WrapLabel(summary)
        title.setObjectName("cardSummary")
        title.setAccessibleName("What it will do")
        layout.addWidget(title)

        who = WrapLabel(f"Proposed by the {agent} agent · {mission_title}")
        who.setObjectName("cardOrigin")
        who.setAccessibleName("Proposed by")
        who.setToolTip(f"Mission: {mission_title}")
        who.setProperty("muted", True)
        layout.addWidget(who)

        # Why the person is asked although a rule might have decided, or a warning after a
        # restart: the card must say it before anything else about the effect.
        self.notice_label = WrapLabel(notice or "")
        self.notice_label.setObjectName("cardNotice")
        self.notice_label.setAccessibleName("Why you are asked")
        self.notice_label.setStyleSheet(
            "QLabel#cardNotice { background: #fff3cd; color: #5c3c00; border-radius: 4px; padding: 6px; }"
        )
        self.notice_label.setVisible(bool(notice))
        layout.addWidget(self.notice_label)

        self.preview_view = preview_widget(preview)
        layout.addWidget(self.preview_view)

        self.error_label = QLabel()
        self.error_label.setObjectName("cardError")
        self.error_label.setAccessibleName("Problem")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        layout.addWidget(self.error_label)

        # Rejecting asks for an optional reason first; it goes back to the agent.
        self.reason_row = ReasonRow(
            names=("rejectReasonInput", "confirmRejectButton", "cancelRejectButton"),
            accessible=("Reason for rejecting (optional)", "Confirm reject", "Cancel reject"),
            confirm_text="Reject",
            on_confirm=self.on_confirm_reject_clicked,
            on_cancel=self.on_cancel_reject_clicked,
        )
        self.reason_row.setObjectName("rejectReasonRow")
        self.reason_input = self.reason_row.reason_input
        self.confirm_reject_button = self.reason_row.confirm_button
        self.cancel_reject_button = self.reason_row.cancel_button
        layout.addWidget(self.reason_row)

        # Approving a visit to a new site lets the agent use that site for the rest of the
        # mission (the engine vouches for it), so the button says so.
        self._approve_text = "Allow for this mission" if tool == "browser_visit" else "Approve"
        self.approve_button = QPushButton(self._approve_text)
        self.approve_button.setObjectName("approveButton")
        self.approve_button.setAccessibleName(self._approve_text)
        self.approve_button.setProperty("role", "primary")
        self.approve_button.setToolTip(
            "Open this site, and let the agent use it for the rest of this mission"
            if tool == "browser_visit"
            else "Let the agent do this (Ctrl+Shift+A approves the first card)"
        )
        self.approve_button.clicked.connect(self.on_approve_clicked)
        self.edit_button = QPushButton("Edit")
        self.edit_button.setObjectName("editButton")
        self.edit_button.setAccessibleName("Edit")
        self.edit_button.setToolTip("Change what will be done, then approve")
        self.edit_button.clicked.connect(self.on_edit_clicked)
        self.reject_button = QPushButton("Reject")
        self.reject_button.setObjectName("rejectButton")
        self.reject_button.setAccessibleName("Reject")
        self.reject_button.setToolTip("Do not do this (Ctrl+Shift+R rejects the first card)")
        self.reject_button.clicked.connect(self.on_reject_clicked)
        self.approve_all_button = QPushButton("Approve all like this")
        self.approve_all_button.setObjectName("approveAllLikeThisButton")
        self.approve_all_button.setAccessibleName("Approve all like this in this mission")
        self.approve_all_button.setToolTip(
            f"Approve this and every later “{self.title}” in this mission without asking"
        )
        self.approve_all_button.setFlat(True)
        self.approve_all_button.setProperty("role", "link")
        self.approve_all_button.clicked.connect(self.on_approve_all_clicked)
        # One line when the pane is wide enough, two when it is not; never a cut-off word.
        self.button_row = button_row(
            self.approve_button,
            self.edit_button,
            self.reject_button,
            self.approve_all_button,
            name="cardButtons",
        )
        layout.addWidget(self.button_row)
        self._name_controls()

    # Actions -------------------------------------------------------------------------------

    @property
    def editor(self) -> ArgumentsEditor | None:
        """The arguments editor, while editing."""
        return self._editor

    def on_approve_clicked(self) -> None:
        if self._editor is None:
            self.set_busy(True)
            self.approved.emit(self.action_id)
            return
        try:
            arguments = self._editor.arguments()
        except EditError as exc:
            self.show_error(str(exc))
            return
        self.set_busy(True)
        if arguments == self.arguments:
            self.approved.emit(self.action_id)
        else:
            self.edited.emit(self.action_id, arguments)

    def on_edit_clicked(self) -> None:
        if self._editor is not None:
            self._close_editor()
            return
        self._editor = ArgumentsEditor(self.arguments, self.preview)
        layout = self.layout()
        assert isinstance(layout, QVBoxLayout)
        layout.insertWidget(layout.indexOf(self.preview_view) + 1, self._editor)
        self.preview_view.hide()
        self._editor.show()
        self.approve_button.setText("Approve with edits")
        self.edit_button.setText("Cancel edit")
        self.approve_all_button.setEnabled(False)
        self._name_controls()
        focus = self._editor.cell_editor() or self._editor
        focus.setFocus()

    def _close_editor(self) -> None:
        if self._editor is not None:
            # Gone from the card now, not only once the event loop deletes it.
            self._editor.hide()
            layout = self.layout()
            if layout is not None:
                layout.removeWidget(self._editor)
            self._editor.deleteLater()
            self._editor = None
        self.preview_view.show()
        self.approve_button.setText(self._approve_text)
        self.edit_button.setText("Edit")
        self.approve_all_button.setEnabled(True)
        self.error_label.hide()
        self._name_controls()

    def _name_controls(self) -> None:
        """Names every control of the card after what the card is about, so that a screen
        reader tells this card's "Approve" from the next one's ("Approve: Send an email to
        bob@example.com"); the visible texts stay short."""
        subject = self.summary
        for button in (self.approve_button, self.edit_button):
            button.setAccessibleName(f"{button.text()}: {subject}")
        self.reject_button.setAccessibleName(f"Reject: {subject}")
        self.approve_all_button.setAccessibleName(f"Approve all like this in this mission: {subject}")
        self.confirm_reject_button.setAccessibleName(f"Confirm reject: {subject}")
        self.cancel_reject_button.setAccessibleName(f"Cancel reject: {subject}")
        self.reason_input.setAccessibleName(f"Reason for rejecting (optional): {subject}")
        for part in (self.preview_view, self._editor):
            if part is not None:
                _name_within(part, subject)

    def on_reject_clicked(self) -> None:
        self.reason_row.show()
        self.reason_input.setFocus()

    def on_confirm_reject_clicked(self) -> None:
        reason = self.reason_input.text().strip() or None
        self.set_busy(True)
        self.rejected.emit(self.action_id, reason)

    def on_cancel_reject_clicked(self) -> None:
        # The keyboard goes back to Reject, where the person started (not lost with the row).
        had_focus = self.holds_focus()
        self.reason_row.hide()
        self.reason_input.clear()
        if had_focus:
            self.reject_button.setFocus(Qt.FocusReason.OtherFocusReason)

    def on_approve_all_clicked(self) -> None:
        self.set_busy(True)
        self.approve_all_requested.emit(self.action_id)

    # State ---------------------------------------------------------------------------------

    def holds_focus(self) -> bool:
        """Whether the keyboard focus is on this card or inside it."""
        focused = self.window().focusWidget() if self.window() is not None else None
        return focused is not None and (focused is self or self.isAncestorOf(focused))

    def focus_primary(self) -> None:
        """Puts the keyboard focus on the card's first enabled button (Approve, usually)."""
        for button in (self.approve_button, self.edit_button, self.reject_button):
            if button.isEnabled() and button.isVisibleTo(self):
                button.setFocus(Qt.FocusReason.TabFocusReason)
                return
        self.setFocus(Qt.FocusReason.OtherFocusReason)

    def set_focus_within(self, within: bool) -> None:
        """Shows the focus ring around the whole card (the style sheet's ``focusWithin``)."""
        if bool(self.property("focusWithin")) == within:
            return
        self.setProperty("focusWithin", within)
        self.style().unpolish(self)
        self.style().polish(self)

    def set_busy(self, busy: bool) -> None:
        """Disables the buttons while a decision is on its way to the engine.

        The keyboard focus, if it was on the card, stays on the card itself (a disabled button
        would hand it to whatever comes next), so that the pane can move it on to the next
        card once this one is decided, or back to its buttons if the decision fails.
        """
        if busy and self.holds_focus():
            self.setFocus(Qt.FocusReason.OtherFocusReason)
        for button in (
            self.approve_button,
            self.edit_button,
            self.reject_button,
            self.confirm_reject_button,
            self.approve_all_button,
        ):
            button.setEnabled(not busy)
        if not busy and self._editor is not None:
            self.approve_all_button.setEnabled(False)
        if not busy and self.hasFocus():
            self.focus_primary()

    def show_error(self, message: str) -> None:
        """Shows why the last decision did not go through; the card stays."""
        self.set_busy(False)
        self.error_label.setText(message)
        self.error_label.show()


class ApprovalPane(QWidget):
    """Every pending action, oldest first, as cards.

    Args:
        mission_title: Gives a mission's title from its id.

    Signals:
        count_changed(int): How many cards are waiting now.
        card_added(ApprovalCard): A card was added (and is visible if the pane is).
        last_card_left(): The card that had the keyboard focus went, and no card is left:
            the window puts the focus somewhere sensible (the composer).
    """

    count_changed = Signal(int)
    card_added = Signal(object)
    last_card_left = Signal()

    def __init__(self, mission_title: Callable[[str], str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("approvalPane")
        self.setAccessibleName("Waiting for your approval")
        self._mission_title = mission_title
        self._cards: dict[str, ApprovalCard] = {}

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        header = QHBoxLayout()
        header.setContentsMargins(12, 10, 12, 8)
        title = QLabel("Waiting for you")
        title.setObjectName("paneTitle")
        title.setAccessibleName("Waiting for you")
        header.addWidget(title)
        header.addStretch(1)
        self.count_badge = QLabel("0")
        self.count_badge.setObjectName("countBadge")
        self.count_badge.setAccessibleName("Number of actions waiting")
        self.count_badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        header.addWidget(self.count_badge)
        layout.addLayout(header)

        self._scroll = QScrollArea()
        self._scroll.setObjectName("approvalScroll")
        self._scroll.setAccessibleName("Approval cards")
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        inner = QWidget()
        inner.setObjectName("approvalList")
        self._list = QVBoxLayout(inner)
        self._list.setContentsMargins(12, 4, 12, 12)
        self._list.setSpacing(12)
        self.empty_label = QLabel(
            "Nothing is waiting for you.\n\nWhen an agent wants to change a file or reach "
            "outside, it asks here first, with a preview of exactly what will change."
        )
        self.empty_label.setObjectName("approvalEmpty")
        self.empty_label.setAccessibleName("No actions waiting")
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setProperty("muted", True)
        self._list.addWidget(self.empty_label)
        self._list.addStretch(1)
        self._scroll.setWidget(inner)
        layout.addWidget(self._scroll, 1)
        self._update_count()
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusChanged.connect(self.on_focus_changed)

    def on_focus_changed(self, old: QWidget | None, new: QWidget | None) -> None:
        """Rings the card the keyboard focus is in (and unrings the one it left)."""
        for widget, within in ((old, False), (new, True)):
            card = self._card_of(widget)
            if card is not None:
                card.set_focus_within(within)

    def _card_of(self, widget: QWidget | None) -> ApprovalCard | None:
        while widget is not None:
            if isinstance(widget, ApprovalCard):
                return widget if self._cards.get(widget.action_id) is widget else None
            widget = widget.parentWidget()
        return None

    @property
    def cards(self) -> list[ApprovalCard]:
        """The cards, oldest first."""
        return list(self._cards.values())

    def card(self, action_id: str) -> ApprovalCard | None:
        """The card of an action, if it is waiting."""
        return self._cards.get(action_id)

    def add(self, action: ActionInfo) -> ApprovalCard | None:
        """Adds a card for a pending action (once); returns it."""
        if action.id in self._cards:
            return None
        card = ApprovalCard(action, mission_title=self._mission_title(action.mission_id))
        self._cards[action.id] = card
        from ui.batch_card import place

        place(self._list, card)  # into its batch, if similar cards wait (ui/batch_card.py)
        self._update_count()
        self.card_added.emit(card)
        return card

    def remove(self, action_id: str) -> None:
        """Removes an action's card, if there is one."""
        if action_id not in self._cards:
            return
        # The card the person just decided leaves the focus to the next card (or the one
        # before it), never to whatever the window's focus chain happens to reach.
        order = list(self._cards)
        index = order.index(action_id)
        card = self._cards.pop(action_id)
        had_focus = card.holds_focus()
        following = order[index + 1 :] + order[:index][::-1]
        from ui.batch_card import leave

        leave(card)
        self._list.removeWidget(card)
        card.hide()
        card.deleteLater()
        self._update_count()
        if not had_focus:
            return
        if following:
            self.focus_card(self._cards[following[0]])
        else:
            self.last_card_left.emit()

    def focus_card(self, card: ApprovalCard) -> None:
        """Scrolls to a card and puts the keyboard focus on its first button."""
        card.focus_primary()
        self._scroll.ensureWidgetVisible(card, 0, 12)

    def _update_count(self) -> None:
        count = len(self._cards)
        self.count_badge.setText(str(count))
        self.count_badge.setProperty("active", count > 0)
        self.count_badge.style().unpolish(self.count_badge)
        self.count_badge.style().polish(self.count_badge)
        self.empty_label.setVisible(count == 0)
        self.count_changed.emit(count)
