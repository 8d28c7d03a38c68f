"""Undo this mission…: what undoing a whole mission will do, in words, then what it did.

The dialog reads the engine's plan (:meth:`app.engine.Engine.rollback_plan`) off the GUI
thread and shows it in three parts: what will be undone (newest first), the files changed
since the mission wrote them with what undoing them anyway would lose, and what cannot be
undone at all (an email sent, a form submitted). "Undo" takes back everything that is safe;
"Undo anyway" also restores the changed files (their later version goes to the trash). The
rollback runs on the engine's loop (:meth:`app.engine.Engine.undo_mission`) through the
bridge; its report is shown in words, and the plan is read again, so a second "Undo" only
does what is left.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QGroupBox,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ui.bridge import error_text
from ui.widgets import WrapLabel, button_row

if TYPE_CHECKING:
    from app.api import RollbackPlan, RollbackReport
    from ui.bridge import Bridge

READING_TEXT = "Reading what this mission changed…"
UNDOING_TEXT = "Undoing… each change is taken back in turn, newest first."


_OUTCOME_WORDS = {"undone": "Undone", "refused": "Left alone", "failed": "Could not undo"}


def report_text(report: RollbackReport) -> str:
    """What a rollback did, one line per change; what cannot be undone is not repeated (the
    dialog's own section lists it)."""
    lines = [f"• {_OUTCOME_WORDS.get(r.outcome, r.outcome)}: {r.message}" for r in report.results]
    if report.of_outcome("refused"):
        lines.append("Undo anyway to restore the changed files too (their changes since go to the trash).")
    if report.of_outcome("failed"):
        lines.append("Undo again later: only what is left is tried again.")
    return "\n".join(lines) or report.summary


class RollbackDialog(QDialog):
    """Shows a mission's rollback plan, runs it, and shows the result.

    Args:
        bridge: The engine.
        mission_id: The mission to undo.
        title: Its title, for the heading.
        parent: The window.

    Signals:
        rolled_back(object): The rollback ran; its :class:`~app.api.RollbackReport`.
    """

    rolled_back = Signal(object)

    def __init__(
        self, bridge: Bridge, mission_id: str, title: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self.mission_id = mission_id
        self.plan: RollbackPlan | None = None
        self.report: RollbackReport | None = None
        self._busy = False
        self.setObjectName("rollbackDialog")
        self.setWindowTitle("Undo this mission")
        self._fit_screen(parent)
        layout = QVBoxLayout(self)

        self.heading = WrapLabel(f"Undo “{title}”?" if title else "Undo this mission?")
        self.heading.setObjectName("rollbackHeading")
        self.heading.setProperty("role", "heading")
        layout.addWidget(self.heading)
        self.status = WrapLabel(READING_TEXT)
        self.status.setObjectName("rollbackStatus")
        self.status.setAccessibleName("What undoing this mission does")
        layout.addWidget(self.status)

        body = QWidget()
        self._body = QVBoxLayout(body)
        self._body.setContentsMargins(0, 0, 0, 0)
        self.steps_box, self.steps_text = self._section("What will be undone", "rollbackSteps")
        self.changed_box, self.changed_text = self._section(
            "Changed since the mission wrote them: left alone unless you undo anyway", "rollbackChanged"
        )
        self.limits_box, self.limits_text = self._section("What cannot be undone", "rollbackCannotUndo")
        self.result_box, self.result_text = self._section("What was done", "rollbackResult")
        self._body.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(body)
        layout.addWidget(scroll, 1)

        self.undo_button = QPushButton("Undo")
        self.undo_button.setObjectName("rollbackUndoButton")
        self.undo_button.setProperty("role", "accent")
        self.undo_button.setToolTip("Take back every change that is safe to take back")
        self.undo_button.clicked.connect(lambda: self.run(force=False))
        self.anyway_button = QPushButton("Undo anyway")
        self.anyway_button.setObjectName("rollbackAnywayButton")
        self.anyway_button.setToolTip(
            "Also restore the files changed since: what is listed as lost goes (their later version "
            "goes to the trash)"
        )
        self.anyway_button.clicked.connect(lambda: self.run(force=True))
        self.close_button = QPushButton("Close")
        self.close_button.setObjectName("rollbackCloseButton")
        self.close_button.clicked.connect(self.reject)
        layout.addWidget(button_row(self.undo_button, self.anyway_button, self.close_button))
        for box in (self.steps_box, self.changed_box, self.limits_box, self.result_box):
            box.hide()
        self.undo_button.setEnabled(False)
        self.anyway_button.hide()
        self.load()

    def _fit_screen(self, parent: QWidget | None) -> None:
        """680 by 520, or less on a small or scaled screen: the sections scroll, the buttons stay."""
        screen = parent.screen() if parent is not None else QGuiApplication.primaryScreen()
        width, height, least = 680, 520, 560
        if screen is not None:
            room = screen.availableGeometry()
            width, height = min(width, room.width() - 40), min(height, room.height() - 60)
            least = min(least, room.width() - 40)
        self.setMinimumWidth(max(least, 320))
        self.resize(max(width, 320), max(height, 280))

    def _section(self, title: str, name: str) -> tuple[QGroupBox, WrapLabel]:
        box = QGroupBox(title)
        box.setObjectName(f"{name}Box")
        inner = QVBoxLayout(box)
        label = WrapLabel()
        label.setObjectName(name)
        label.setAccessibleName(title)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        inner.addWidget(label)
        self._body.addWidget(box)
        return box, label

    def load(self) -> None:
        """Reads the plan again (off the GUI thread) and shows it."""
        self._bridge.call(
            lambda engine: asyncio.to_thread(engine.rollback_plan, self.mission_id),
            self.show_plan,
            what="read what undoing the mission does",
            on_error=self._failed,
        )

    def show_plan(self, plan: RollbackPlan) -> None:
        """Shows a plan: the steps, the files changed since with what would be lost, the limits."""
        self.plan = plan
        undone = self.report is not None and plan.nothing_to_do and not plan.refusal
        self.heading.setText(f"“{plan.title}” is undone" if undone else f"Undo “{plan.title}”?")
        if plan.refusal:
            self.status.setText(plan.refusal)
        elif plan.nothing_to_do:
            self.status.setText(plan.lines()[0])
        else:
            safe = len(plan.steps) - len(plan.changed)
            said = f"{safe} change{'s' if safe != 1 else ''} will be taken back, newest first."
            if plan.changed:
                many = len(plan.changed)
                said += f" {many} file{'s were' if many != 1 else ' was'} changed since the mission wrote it."
            self.status.setText(said)
        if self.report is not None:  # after a rollback: what it did, then what is left
            left = "" if plan.nothing_to_do else f" Still to undo: {len(plan.steps)}."
            self.status.setText(self.report.summary + left)
        steps = [] if plan.refusal else plan.steps
        self.steps_text.setText("\n".join(f"• {s.undo}" for s in steps if not s.changed_since))
        self.steps_box.setVisible(any(not s.changed_since for s in steps))
        changed: list[str] = []
        for step in plan.changed:
            changed.append(f"• {step.undo}. Undoing anyway loses what is in it now and not before:")
            changed += [f"    {line}" for line in step.would_lose]
        self.changed_text.setText("\n".join(changed))
        self.changed_box.setVisible(bool(changed))
        self.limits_text.setText("\n".join(f"• {limit.what}: {limit.why}" for limit in plan.cannot_undo))
        self.limits_box.setVisible(bool(plan.cannot_undo))
        self._set_buttons()

    def _set_buttons(self) -> None:
        plan = self.plan
        can = plan is not None and not plan.refusal and not self._busy
        safe = 0 if plan is None else len(plan.steps) - len(plan.changed)
        self.undo_button.setEnabled(can and safe > 0)
        self.undo_button.setText(f"Undo {safe} change{'s' if safe != 1 else ''}" if safe else "Undo")
        self.anyway_button.setVisible(plan is not None and bool(plan.changed))
        self.anyway_button.setEnabled(can and plan is not None and bool(plan.changed))
        self.close_button.setEnabled(not self._busy)

    def run(self, *, force: bool) -> None:
        """Undoes the mission on the engine's loop; the report comes back to :meth:`show_report`."""
        if self._busy or self.plan is None or self.plan.refusal:
            return
        self._busy = True
        self.status.setText(UNDOING_TEXT)
        self._set_buttons()
        self._bridge.call(
            lambda engine: engine.undo_mission(self.mission_id, force=force),
            self.show_report,
            what="undo the mission",
            on_error=self._failed,
        )

    def show_report(self, report: RollbackReport) -> None:
        """Shows what the rollback did, in words, and reads the plan again for what is left."""
        self._busy = False
        self.report = report
        self.result_text.setText(report_text(report))
        self.result_box.show()
        self.status.setText(report.summary)
        self.rolled_back.emit(report)
        self.load()

    def _failed(self, error: BaseException) -> None:
        self._busy = False
        self.status.setText(error_text(error))
        self._set_buttons()
