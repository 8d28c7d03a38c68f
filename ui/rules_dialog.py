"""The standing rules: every active rule as its sentence, with its scope, and a way to add one.

The dialog only shows and asks; the window makes the engine calls (off the GUI thread) and
hands the dialog the rules again when they change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from app.api import RuleInfo

TOOLS = [
    "sheet_write",
    "sheet_append_rows",
    "sheet_create",
    "email_send",
    "email_draft",
    "email_move",
    "email_mark",
    "email_save_attachment",
    "browser_request",
    "browser_visit",
    "browser_download",
]
ANY_TOOL = "any"
ALL_MISSIONS = "All missions"
THIS_MISSION = "This mission"


def parse_condition(text: str) -> dict[str, str] | None:
    """``ARG=pattern`` → ``{ARG: pattern}``; empty → None.

    Raises:
        ValueError: The text is not of that form.
    """
    text = text.strip()
    if not text:
        return None
    name, sep, pattern = text.partition("=")
    name, pattern = name.strip(), pattern.strip()
    if not sep or not name or not pattern:
        raise ValueError("Write the condition as ARGUMENT=pattern, e.g. to=*@example.com")
    return {name: pattern}


class RulesDialog(QDialog):
    """Lists the active rules; removes them and adds new ones.

    Args:
        mission_id: The mission selected in the window (None: none), for "this mission".
        mission_title: Its title, shown in the scope choice.

    Signals:
        remove_requested(str): Remove the rule with this id.
        add_requested(str, object, object, object): Kind (``approve_all``/``reject_all``),
            tool (None: any), conditions (None: none), mission id (None: every mission).
    """

    remove_requested = Signal(str)
    add_requested = Signal(str, object, object, object)

    def __init__(
        self, *, mission_id: str | None, mission_title: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("rulesDialog")
        self.setWindowTitle("Rules")
        self.setAccessibleName("Rules")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.resize(720, 480)
        self.mission_id = mission_id
        self.rules: list[RuleInfo] = []

        layout = QVBoxLayout(self)
        intro = QLabel("Standing decisions: actions they match are approved or rejected without asking you.")
        intro.setWordWrap(True)
        intro.setProperty("muted", True)
        layout.addWidget(intro)

        self.table = QTableWidget(0, 3)
        self.table.setObjectName("rulesTable")
        self.table.setAccessibleName("Active rules")
        self.table.setHorizontalHeaderLabels(["Rule", "Applies to", ""])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.table, 1)
        self.empty_label = QLabel("No rules yet: every action waits for your approval.")
        self.empty_label.setObjectName("rulesEmpty")
        self.empty_label.setProperty("muted", True)
        layout.addWidget(self.empty_label)

        box = QGroupBox("Add rule…")
        box.setObjectName("addRuleBox")
        form = QFormLayout(box)
        self.kind_combo = QComboBox()
        self.kind_combo.setObjectName("ruleKindCombo")
        self.kind_combo.setAccessibleName("Allow or deny")
        self.kind_combo.addItem("Allow", "approve_all")
        self.kind_combo.addItem("Deny", "reject_all")
        form.addRow("Decision", self.kind_combo)
        self.tool_combo = QComboBox()
        self.tool_combo.setObjectName("ruleToolCombo")
        self.tool_combo.setAccessibleName("Tool")
        for tool in TOOLS:
            self.tool_combo.addItem(tool, tool)
        self.tool_combo.addItem(ANY_TOOL, None)
        form.addRow("Tool", self.tool_combo)
        self.condition_input = QLineEdit()
        self.condition_input.setObjectName("ruleConditionInput")
        self.condition_input.setAccessibleName("Condition")
        self.condition_input.setPlaceholderText("Optional: ARGUMENT=pattern, e.g. to=*@example.com")
        form.addRow("Only when", self.condition_input)
        self.scope_combo = QComboBox()
        self.scope_combo.setObjectName("ruleScopeCombo")
        self.scope_combo.setAccessibleName("Applies to")
        self.scope_combo.addItem(ALL_MISSIONS, None)
        if mission_id is not None:
            label = f"{THIS_MISSION}: {mission_title}" if mission_title else THIS_MISSION
            self.scope_combo.addItem(label, mission_id)
        form.addRow("Applies to", self.scope_combo)
        self.add_error = QLabel()
        self.add_error.setObjectName("ruleAddError")
        self.add_error.setAccessibleName("Problem with the rule")
        self.add_error.setWordWrap(True)
        self.add_error.hide()
        form.addRow(self.add_error)
        self.add_button = QPushButton("Add rule")
        self.add_button.setObjectName("addRuleButton")
        self.add_button.setAccessibleName("Add rule")
        self.add_button.clicked.connect(self.on_add_clicked)
        form.addRow(self.add_button)
        layout.addWidget(box)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def set_rules(self, rules: list[RuleInfo]) -> None:
        """Shows these rules (the active ones), oldest first."""
        self.rules = list(rules)
        self.table.setRowCount(len(self.rules))
        for row, rule in enumerate(self.rules):
            sentence = QTableWidgetItem(rule.description)
            sentence.setToolTip(rule.description)
            self.table.setItem(row, 0, sentence)
            self.table.setItem(row, 1, QTableWidgetItem(self.scope_text(rule)))
            remove = QPushButton("Remove")
            remove.setObjectName("removeRuleButton")
            remove.setAccessibleName(f"Remove rule: {rule.description}")
            remove.clicked.connect(lambda _checked=False, rid=rule.id: self._remove(rid))
            self.table.setCellWidget(row, 2, remove)
        self.table.resizeRowsToContents()
        self.empty_label.setVisible(not self.rules)

    def scope_text(self, rule: RuleInfo) -> str:
        if rule.mission_id is None:
            return ALL_MISSIONS
        if rule.mission_id == self.mission_id:
            return THIS_MISSION
        return f"Mission {rule.mission_id[:8]}"

    def _remove(self, rule_id: str) -> None:
        for row in range(self.table.rowCount()):
            widget = self.table.cellWidget(row, 2)
            if widget is not None:
                widget.setEnabled(False)
        self.remove_requested.emit(rule_id)

    def on_add_clicked(self) -> None:
        try:
            where = parse_condition(self.condition_input.text())
        except ValueError as exc:
            self.show_add_error(str(exc))
            return
        self.add_error.hide()
        self.add_button.setEnabled(False)
        kind, tool = self.kind_combo.currentData(), self.tool_combo.currentData()
        self.add_requested.emit(kind, tool, where, self.scope_combo.currentData())

    def on_added(self) -> None:
        """The rule was added: ready for another."""
        self.condition_input.clear()
        self.add_button.setEnabled(True)

    def show_add_error(self, message: str) -> None:
        self.add_error.setText(message)
        self.add_error.show()
        self.add_button.setEnabled(True)
