"""The approval pane's controller: cards in from the engine, the person's decisions out to it.

A card comes from an action the engine lists as waiting (:meth:`app.engine.Engine.waiting`) or
from a live ``ActionProposed`` event, both as an :class:`app.api.ActionInfo`; it goes away when
the engine reports the action decided (by the person, by a rule, or by Stop).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QVBoxLayout

from ui.approval import ApprovalCard, ApprovalPane
from ui.batch_card import batch_of
from ui.bridge import error_text

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from app.api import ActionInfo, AnyEvent, RuleSuggested
    from app.engine import Decision
    from ui.batch_card import BatchCard, BatchItem, RuleSuggestionBar
    from ui.bridge import Bridge
    from ui.main_window import MainWindow


class ApprovalController(QObject):
    """Keeps the approval pane (:attr:`pane`) equal to what the engine waits for.

    Args:
        window: The main window, for its problem banner, status bar and notifications.
        bridge: The engine.
        mission_title: Gives a mission's title from its id, for the cards.

    Signals:
        card_shown(str): An action's card was added (its id).
    """

    card_shown = Signal(str)

    def __init__(self, window: MainWindow, bridge: Bridge, mission_title: Callable[[str], str]) -> None:
        super().__init__(window)
        self._window = window
        self._bridge = bridge
        self._decided: set[str] = set()  # so that a stale list of waiting actions adds no card back
        self.pane = ApprovalPane(mission_title)
        self.pane.card_added.connect(self.on_card_added)
        self.pane.last_card_left.connect(self.on_last_card_left)

    def waiting_missions(self) -> dict[str, int]:
        """How many cards wait in each mission that has some."""
        counts: dict[str, int] = {}
        for card in self.pane.cards:
            counts[card.mission_id] = counts.get(card.mission_id, 0) + 1
        return counts

    # In from the engine -------------------------------------------------------------------------

    def load(self, actions: Iterable[ActionInfo]) -> None:
        """Adds a card for each action the engine listed as waiting for the person."""
        for action in actions:
            if action.id not in self._decided:
                self.pane.add(action)

    def apply(self, events: Iterable[AnyEvent]) -> None:
        """Adds the cards of proposed actions and removes those of decided ones."""
        from app import api

        events = list(events)
        decided = {event.action_id for event in events if isinstance(event, api.ActionDecided)}
        self._decided |= decided
        for event in events:
            match event:
                case api.ActionProposed() if event.action_id not in decided:
                    self.pane.add(api.ActionInfo.proposed(event))
                case api.ActionDecided():
                    self.pane.remove(event.action_id)
                case api.RuleSuggested():
                    self.suggest_rule(event)

    def suggest_rule(self, event: RuleSuggested) -> RuleSuggestionBar:
        """Shows a suggested rule above the cards (a bar, never a dialog); only its yes adds it."""
        from ui.batch_card import RuleSuggestionBar

        bar = RuleSuggestionBar(event.summary)
        mission_id, tool, where, description = (
            event.mission_id,
            event.tool,
            dict(event.where),
            event.description,
        )
        bar.accepted.connect(
            lambda: self._bridge.call(
                lambda e: e.add_rule(
                    "approve_all", mission_id=mission_id, tool=tool, where=where, description=description
                ),
                lambda _rule: self._window.statusBar().showMessage(f"Rule added: {description}.", 6000),
                what="add the rule",
            )
        )
        layout = self.pane.layout()
        if isinstance(layout, QVBoxLayout):
            layout.insertWidget(1, bar)  # under the pane's heading, above the cards
        return bar

    def on_card_added(self, card: ApprovalCard) -> None:
        card.approved.connect(self.on_approved)
        card.edited.connect(self.on_edited)
        card.rejected.connect(self.on_rejected)
        card.approve_all_requested.connect(self.on_approve_all)
        batch = batch_of(card)
        if batch is not None and not batch.property("wired"):
            batch.setProperty("wired", True)
            batch.decided.connect(lambda items, b=batch: self.on_batch_decided(b, items))
        self.card_shown.emit(card.action_id)
        if batch is None:  # one notification per batch: its first card's
            self._window.notify_waiting(card.mission_id, card.preview.summary or card.title)

    def on_last_card_left(self) -> None:
        """The last card was decided from the keyboard: the focus goes to the message box (or
        the missions, when the mission shown takes no message)."""
        view = self._window.view
        for target in (view.chat_input, self._window.mission_list):
            if target.isEnabled() and target.isVisible():
                target.setFocus(Qt.FocusReason.OtherFocusReason)
                return

    # Out to the engine ----------------------------------------------------------------------------

    def _decide(self, action_id: str, decision: Decision, what: str) -> None:
        if self.pane.card(action_id) is None:
            return
        self._window.clear_error()
        self._bridge.call(
            lambda e: e.decide(action_id, decision),
            None,
            what=what,
            on_error=lambda error: self._card_failed(action_id, error),
        )

    def _card_failed(self, action_id: str, error: BaseException) -> None:
        card = self.pane.card(action_id)
        if card is not None:
            card.show_error(error_text(error))

    def on_approved(self, action_id: str) -> None:
        from app.engine import Decision

        self._decide(action_id, Decision.approve(), "approve the action")

    def on_edited(self, action_id: str, arguments: dict[str, Any]) -> None:
        from app.engine import Decision

        self._decide(action_id, Decision.edit(arguments), "approve the edited action")

    def on_rejected(self, action_id: str, reason: str | None) -> None:
        from app.engine import Decision

        self._decide(action_id, Decision.reject(reason), "reject the action")

    def on_batch_decided(self, batch: BatchCard, items: list[BatchItem]) -> None:
        """One decision over a batch card's actions (see :mod:`ui.batch_card`)."""
        from app.engine import Decision

        decisions = [
            (
                action_id,
                Decision.edit(arguments or {})
                if kind == "edit"
                else Decision.reject(reason)
                if kind == "reject"
                else Decision.approve(),
            )
            for action_id, kind, arguments, reason in items
        ]
        self._window.clear_error()
        self._bridge.call(
            lambda e: e.decide_batch(decisions),
            None,
            what="decide the batch",
            on_error=lambda error: batch.show_error(error_text(error)),
        )

    def on_approve_all(self, action_id: str) -> None:
        card = self.pane.card(action_id)
        if card is None:
            return
        from ui.rules_dialog import sentence

        mission_id, tool = card.mission_id, card.tool
        description = sentence("approve_all", card.title, None, "is", "", this_mission=True)
        self._bridge.call(
            lambda e: e.add_rule("approve_all", mission_id=mission_id, tool=tool, description=description),
            lambda _rule: self._window.statusBar().showMessage(f"Rule added: {description}.", 6000),
            what="add the rule",
            on_error=lambda error: self._card_failed(action_id, error),
        )

    def approve_first(self) -> None:
        """Approves the oldest card (Ctrl+Shift+A)."""
        cards = self.pane.cards
        if cards:
            cards[0].on_approve_clicked()

    def reject_first(self) -> None:
        """Asks for the reason to reject the oldest card, then rejects it (Ctrl+Shift+R)."""
        cards = self.pane.cards
        if not cards:
            return
        card = cards[0]
        if card.reason_row.isVisible():
            card.on_confirm_reject_clicked()
        else:
            card.on_reject_clicked()
