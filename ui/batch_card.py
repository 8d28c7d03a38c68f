"""The batch card: similar waiting actions of one mission shown and decided as one.

A mission that drafts twelve emails in one turn proposes twelve actions with the same tool.
The approval pane puts them in one :class:`BatchCard` (see :func:`place`): a heading with
how many and a one-line summary of what the batch does, each action's own card inside it
(its preview, and Approve, Edit, Reject for that one alone), and for the whole batch
*Approve all* and *Reject all*. Approve all is one decision over every card left in the
batch: a card whose Edit form is open is approved with the edits, a card whose Reject reason
is open is rejected with that reason, the rest are approved as shown.

Cards and batches are placed by consequence: what reaches outside (cannot be taken back)
before what changes files here (can be undone).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from ui.approval import EFFECT_WORDS, ApprovalCard
from ui.previews import EditError
from ui.widgets import ReasonRow, WrapLabel, button_row

BatchItem = tuple[str, str, dict[str, Any] | None, str | None]
"""One action's part of a batch decision: ``(action id, "approve" | "edit" | "reject",
edited arguments or None, reason or None)``."""


def _rank(card: QWidget) -> int:
    from app.api import consequence_rank

    if isinstance(card, BatchCard):
        return card.rank
    if isinstance(card, ApprovalCard):
        return consequence_rank(card.effect)
    return 99


def batch_of(card: ApprovalCard) -> BatchCard | None:
    """The batch a card is in, if any."""
    parent = card.parentWidget()
    while parent is not None:
        if isinstance(parent, BatchCard):
            return parent
        parent = parent.parentWidget()
    return None


def place(layout: QVBoxLayout, card: ApprovalCard) -> None:
    """Puts a new card into the pane's list: into its mission's batch for the same tool (made
    when a second such card arrives), else by consequence, after the cards of its rank.

    Args:
        layout: The pane's list: its widgets, then one stretch at the end.
        card: The new card, not yet in a layout.
    """
    items = [layout.itemAt(i) for i in range(layout.count())]
    widgets = [w for item in items if item is not None and (w := item.widget()) is not None]
    key = (card.mission_id, card.tool)
    for widget in widgets:
        if isinstance(widget, BatchCard) and widget.key == key:
            widget.add(card)
            return
        if isinstance(widget, ApprovalCard) and (widget.mission_id, widget.tool) == key:
            batch = BatchCard(layout, widget.effect, key)
            layout.insertWidget(layout.indexOf(widget), batch)
            batch.add(widget)
            batch.add(card)
            batch.show()
            return
    rank = _rank(card)
    index = layout.count() - 1  # before the stretch
    for widget in widgets:
        if isinstance(widget, (ApprovalCard, BatchCard)) and _rank(widget) > rank:
            index = layout.indexOf(widget)
            break
    layout.insertWidget(index, card)


def leave(card: ApprovalCard) -> None:
    """Takes a decided card out of its batch, if it is in one (the pane deletes the card)."""
    batch = batch_of(card)
    if batch is not None:
        batch.discard(card)


class BatchCard(QFrame):
    """Similar waiting actions of one mission (one tool), as one card.

    Args:
        outer: The pane's list the batch is in (a batch of one gives its card back to it).
        effect: The actions' effect (``local`` or ``external``).
        key: ``(mission id, tool)``.

    Signals:
        decided(list): One decision over the batch: a list of :data:`BatchItem`.
    """

    decided = Signal(list)

    def __init__(self, outer: QVBoxLayout, effect: str, key: tuple[str, str]) -> None:
        from app.api import consequence_rank

        super().__init__()
        self._outer = outer
        self.key = key
        self.effect = effect
        self.rank = consequence_rank(effect)
        self._members: list[ApprovalCard] = []
        self.setObjectName("batchCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(8)
        badge = WrapLabel(EFFECT_WORDS.get(effect, effect))
        badge.setObjectName("effectBadge")
        badge.setProperty("effect", effect)
        badge.setAccessibleName(f"Effect: {EFFECT_WORDS.get(effect, effect)}")
        layout.addWidget(badge)
        self.heading = QLabel()
        self.heading.setObjectName("cardTitle")
        self.heading.setAccessibleName("Batch")
        self.heading.setWordWrap(True)
        self.heading.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.heading)
        self.summary_label = WrapLabel("")
        self.summary_label.setObjectName("batchSummary")
        self.summary_label.setAccessibleName("What the batch does")
        layout.addWidget(self.summary_label)
        hint = WrapLabel(
            "Approve all approves every action below as shown. To change one first, open its "
            "Edit; to leave one out, open its Reject and say why: Approve all then takes your "
            "edits and your reasons with it. Each card's own buttons decide that one alone."
        )
        hint.setProperty("muted", True)
        hint.setObjectName("batchHint")
        layout.addWidget(hint)

        self.error_label = QLabel()
        self.error_label.setObjectName("cardError")
        self.error_label.setAccessibleName("Problem")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        layout.addWidget(self.error_label)

        self.approve_all_button = QPushButton("Approve all")
        self.approve_all_button.setObjectName("batchApproveAllButton")
        self.approve_all_button.setProperty("role", "primary")
        self.approve_all_button.clicked.connect(self.on_approve_all_clicked)
        self.reject_all_button = QPushButton("Reject all")
        self.reject_all_button.setObjectName("batchRejectAllButton")
        self.reject_all_button.setAccessibleName("Reject all in this batch")
        self.reject_all_button.clicked.connect(self.on_reject_all_clicked)
        layout.addWidget(button_row(self.approve_all_button, self.reject_all_button, name="batchButtons"))

        self.reason_row = ReasonRow(
            names=("batchRejectReasonInput", "batchConfirmRejectButton", "batchCancelRejectButton"),
            accessible=(
                "Reason for rejecting them all (optional)",
                "Confirm reject all",
                "Cancel reject all",
            ),
            confirm_text="Reject all",
            on_confirm=self.on_confirm_reject_all_clicked,
            on_cancel=lambda: self.reason_row.hide(),
        )
        self.reason_input = self.reason_row.reason_input
        self.confirm_reject_button = self.reason_row.confirm_button
        layout.addWidget(self.reason_row)

        self._items = QVBoxLayout()
        self._items.setSpacing(8)
        layout.addLayout(self._items)
        self._update()

    # Members -------------------------------------------------------------------------------

    @property
    def members(self) -> list[ApprovalCard]:
        """The batch's cards, in the order they were proposed (the order they run in)."""
        return list(self._members)

    def add(self, card: ApprovalCard) -> None:
        """Adds a card to the batch (taking it from the pane's list if it was there)."""
        self._outer.removeWidget(card)
        self._members.append(card)
        self._items.addWidget(card)
        card.show()
        self._update()

    def discard(self, card: ApprovalCard) -> None:
        """Takes a decided card out; a batch of one gives its card back to the pane's list."""
        if card not in self._members:
            return
        self._members.remove(card)
        self._items.removeWidget(card)
        if len(self._members) > 1:
            self._update()
            return
        index = self._outer.indexOf(self)
        for last in self._members:
            self._items.removeWidget(last)
            self._outer.insertWidget(index, last)
            last.show()
        self._members.clear()
        self._outer.removeWidget(self)
        self.hide()
        self.deleteLater()

    def _update(self) -> None:
        from app.api import batch_summary

        count = len(self._members)
        title = self._members[0].title if self._members else ""
        self.heading.setText(f"{count} similar actions: {title}")
        self.summary = batch_summary([card.info for card in self._members])
        self.summary_label.setText(self.summary)
        self.setAccessibleName(f"Batch of {count} proposed actions: {self.summary}")
        self.approve_all_button.setText(f"Approve all {count}")
        self.approve_all_button.setAccessibleName(f"Approve all {count} in this batch")
        self.reject_all_button.setText(f"Reject all {count}")

    # Decisions -----------------------------------------------------------------------------

    def choices(self) -> list[BatchItem]:
        """What Approve all decides for each card: its open edits, its open reason, or approve.

        Raises:
            EditError: A card's edited values cannot be read (its card shows why).
        """
        items: list[BatchItem] = []
        for card in self._members:
            if card.reason_row.isVisibleTo(card):
                items.append((card.action_id, "reject", None, card.reason_input.text().strip() or None))
            elif card.editor is not None:
                try:
                    arguments = card.editor.arguments()
                except EditError as exc:
                    card.show_error(str(exc))
                    raise
                if arguments == card.arguments:
                    items.append((card.action_id, "approve", None, None))
                else:
                    items.append((card.action_id, "edit", arguments, None))
            else:
                items.append((card.action_id, "approve", None, None))
        return items

    def on_approve_all_clicked(self) -> None:
        try:
            items = self.choices()
        except EditError:
            return
        self._send(items)

    def on_reject_all_clicked(self) -> None:
        self.reason_row.show()
        self.reason_input.setFocus()

    def on_confirm_reject_all_clicked(self) -> None:
        reason = self.reason_input.text().strip() or None
        self._send([(card.action_id, "reject", None, reason) for card in self._members])

    def _send(self, items: list[BatchItem]) -> None:
        if not items:
            return
        self.set_busy(True)
        self.decided.emit(items)

    def set_busy(self, busy: bool) -> None:
        """Disables the batch's and its cards' buttons while its decision is on its way."""
        for button in (self.approve_all_button, self.reject_all_button, self.confirm_reject_button):
            button.setEnabled(not busy)
        for card in self._members:
            card.set_busy(busy)

    def show_error(self, message: str) -> None:
        """Shows why the batch decision did not go through; the cards stay."""
        self.set_busy(False)
        self.error_label.setText(message)
        self.error_label.show()


class RuleSuggestionBar(QFrame):
    """A non-modal bar offering a rule after identical approvals ("Always allow ...?").

    Nothing happens unless the person clicks *Always allow*; *Not now* closes the bar.

    Args:
        text: The question, in words.

    Signals:
        accepted(): The person said yes.
    """

    accepted = Signal()

    def __init__(self, text: str) -> None:
        super().__init__()
        self.setObjectName("ruleSuggestionBar")
        self.setAccessibleName("Suggested rule")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        self.label = WrapLabel(text)
        self.label.setObjectName("ruleSuggestionText")
        self.label.setAccessibleName("Suggested rule")
        layout.addWidget(self.label)
        self.allow_button = QPushButton("Always allow")
        self.allow_button.setObjectName("ruleSuggestionAllowButton")
        self.allow_button.setAccessibleName("Always allow this in this mission")
        self.allow_button.clicked.connect(self.on_allow_clicked)
        self.dismiss_button = QPushButton("Not now")
        self.dismiss_button.setObjectName("ruleSuggestionDismissButton")
        self.dismiss_button.setAccessibleName("Not now: keep asking")
        self.dismiss_button.clicked.connect(self.close_bar)
        layout.addWidget(button_row(self.allow_button, self.dismiss_button))

    def on_allow_clicked(self) -> None:
        self.accepted.emit()
        self.close_bar()

    def close_bar(self) -> None:
        """Hides the bar and lets it go."""
        self.hide()
        self.deleteLater()
