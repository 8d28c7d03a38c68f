"""The standing rules: every active rule as its sentence, with its scope, and a way to add one.

A new rule is written as a sentence with blanks to fill: "[Always allow] [sending an email]
when [the recipients] [are anyone at] [example.com] in [all missions]". The action is chosen
by what it does (its title, "Send an email"), the condition by the name of a field in words
("the recipients"); what the engine stores is the same rule as ``ensemble rules add`` makes
(a tool, argument patterns such as ``{"to": "*@example.com"}``, a scope), with the sentence
as its description. With "always" there is nothing to compare: the comparison and the value
are greyed out and a note says why.

The dialog only shows and asks; the window makes the engine calls (off the GUI thread) and
hands the dialog the rules again when they change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
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

from ui.widgets import FlowLayout, WrapLabel, button_row

if TYPE_CHECKING:
    from app.api import ActionKindInfo, RuleInfo

ANY_TOOL = "any"
"""What the command line calls "every action" (``ensemble rules add --allow any``)."""
ANY_ACTION = "any action"
ALL_MISSIONS = "All missions"
THIS_MISSION = "This mission"
OTHER_MISSION = "Another mission"

FIELD_WORDS = {
    "to": "the recipients",
    "cc": "the copy recipients",
    "bcc": "the hidden copy recipients",
    "subject": "the subject",
    "body": "the message",
    "attachments": "the attachments",
    "path": "the file",
    "sheet": "the sheet",
    "sheets": "the sheets",
    "range": "the cells",
    "url": "the address",
    "method": "the kind of request (GET, POST…)",
    "folder": "the folder",
    "save_as": "the file name",
    "name": "the attachment's name",
}
"""A rule's condition names an argument in words; any other argument is its name in words."""

HIDDEN_FIELDS = frozenset({"message_id", "date", "in_reply_to", "references", "id", "ref"})
"""Arguments a person never matches on: ids Ensemble or the mail server set."""

Match = Literal["is", "anyone_at", "ends", "starts", "contains", "pattern"]
MATCHES: tuple[tuple[Match, str, str], ...] = (
    ("is", "is", "are"),
    ("anyone_at", "is anyone at", "are anyone at"),
    ("ends", "ends with", "end with"),
    ("starts", "starts with", "start with"),
    ("contains", "contains", "contain"),
    ("pattern", "matches the pattern", "match the pattern"),
)
"""How a condition compares: its key, then its words for one value and for several."""

_PLURAL_FIELDS = frozenset({"to", "cc", "bcc", "attachments", "sheets"})
_ADDRESS_FIELDS = frozenset({"to", "cc", "bcc"})
"""Fields holding email addresses: the only ones "is anyone at" makes sense for."""
EXAMPLES = {
    "to": "e.g. example.com",
    "cc": "e.g. example.com",
    "bcc": "e.g. example.com",
    "subject": "e.g. Invoice",
    "body": "e.g. unsubscribe",
    "attachments": "e.g. .pdf",
    "path": "e.g. invoices.xlsx",
    "sheet": "e.g. Invoices",
    "sheets": "e.g. Invoices",
    "range": "e.g. E2:E40",
    "url": "e.g. example.com",
    "method": "e.g. POST",
    "folder": "e.g. Archive",
    "save_as": "e.g. report.pdf",
    "name": "e.g. report.pdf",
}
"""What to type for a field, as the value field's placeholder."""
NO_VALUE = "No value needed"
"""The value field's placeholder while the condition is "always"."""
_GERUNDS = {"submit": "submitting", "visit": "visiting", "open": "opening", "get": "getting"}


def field_words(name: str) -> str:
    """An argument as a rule's sentence names it (``"to"`` → "the recipients")."""
    return FIELD_WORDS.get(name) or f"the {name.replace('_', ' ')}"


def gerund(title: str) -> str:
    """A title as the object of "allow" ("Send an email" → "sending an email")."""
    verb, _, rest = title.partition(" ")
    low = verb.lower()
    if low in _GERUNDS:
        ing = _GERUNDS[low]
    elif low.endswith("e") and not low.endswith("ee"):
        ing = low[:-1] + "ing"
    else:
        ing = low + "ing"
    return f"{ing} {rest}".strip()


def pattern_for(match: Match, value: str) -> str:
    """The shell-style pattern the engine matches, from a comparison and the value typed."""
    value = value.strip()
    match match:
        case "anyone_at":
            return f"*@{value.lstrip('@')}"
        case "ends":
            return f"*{value}"
        case "starts":
            return f"{value}*"
        case "contains":
            return f"*{value}*"
        case _:
            return value


def sentence(
    kind: str, title: str | None, field: str | None, match: Match, value: str, *, this_mission: bool
) -> str:
    """A rule as the person reads it, e.g. "Always allow sending an email when the recipients
    are anyone at example.com".

    Args:
        kind: ``approve_all`` or ``reject_all``.
        title: The action's title, or None for any action.
        field: The argument the condition is about, or None for no condition.
        match: How it compares.
        value: What was typed.
        this_mission: Whether the rule is limited to one mission.
    """
    verb = "Never allow" if kind == "reject_all" else "Always allow"
    text = f"{verb} {gerund(title) if title else ANY_ACTION}"
    if field is not None and value.strip():
        words = next(w for key, *w in MATCHES if key == match)
        compare = words[1] if field in _PLURAL_FIELDS else words[0]
        text += f" when {field_words(field)} {compare} {value.strip()}"
    return text + (" in this mission" if this_mission else "")


class ToolCombo(QComboBox):
    """The actions a rule can name, shown by their titles ("Send an email").

    :meth:`findText` also finds an action by the name the command line gives it
    (``email_send``, or ``any`` for every action), so a rule typed elsewhere can be picked.
    """

    def findText(self, text: str, flags: Qt.MatchFlag = Qt.MatchFlag.MatchExactly) -> int:
        found = super().findText(text, flags)
        if found >= 0:
            return found
        if text == ANY_TOOL:
            return self.findData(None)
        return self.findData(text)


class RulesDialog(QDialog):
    """Lists the active rules; removes them and adds new ones.

    Args:
        mission_id: The mission selected in the window (None: none), for "this mission".
        mission_title: Its title, shown in the scope choice.

    Signals:
        remove_requested(str): Remove the rule with this id.
        add_requested(str, object, object, object): Kind (``approve_all``/``reject_all``),
            tool (None: any), conditions (None: none), mission id (None: every mission); its
            sentence is :attr:`new_rule_sentence`.
    """

    remove_requested = Signal(str)
    add_requested = Signal(str, object, object, object)

    def __init__(
        self, *, mission_id: str | None, mission_title: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        from app.api import action_kinds

        self.setObjectName("rulesDialog")
        self.setWindowTitle("Rules")
        self.setAccessibleName("Rules")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self._fit_screen(parent)
        self.mission_id = mission_id
        self.rules: list[RuleInfo] = []
        self.kinds: dict[str, ActionKindInfo] = {k.name: k for k in action_kinds()}
        self.new_rule_sentence = ""

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

        box = QGroupBox("Add a rule")
        box.setObjectName("addRuleBox")
        box_layout = QVBoxLayout(box)
        # The rule is a sentence with blanks; the blanks flow onto more lines when narrow.
        blanks = QWidget()
        blanks.setObjectName("ruleBlanks")
        flow = FlowLayout(blanks)
        self.kind_combo = QComboBox()
        self.kind_combo.setObjectName("ruleKindCombo")
        self.kind_combo.setAccessibleName("Allow or deny")
        self.kind_combo.addItem("Always allow", "approve_all")
        self.kind_combo.addItem("Never allow", "reject_all")
        self.tool_combo = ToolCombo()
        self.tool_combo.setObjectName("ruleToolCombo")
        self.tool_combo.setAccessibleName("Which action")
        for kind in self.kinds.values():
            self.tool_combo.addItem(gerund(kind.title), kind.name)
            self.tool_combo.setItemData(self.tool_combo.count() - 1, kind.title, Qt.ItemDataRole.ToolTipRole)
        self.tool_combo.addItem(ANY_ACTION, None)
        when = QLabel("when")
        when.setAccessibleName("when")
        # Level with the lists beside it (the flow lines its widgets up at the top).
        when.setMinimumHeight(self.kind_combo.sizeHint().height())
        when.setAlignment(Qt.AlignmentFlag.AlignVCenter)
        self.field_combo = QComboBox()
        self.field_combo.setObjectName("ruleFieldCombo")
        self.field_combo.setAccessibleName("Only when this part of the action")
        self.match_combo = QComboBox()
        self.match_combo.setObjectName("ruleMatchCombo")
        self.match_combo.setAccessibleName("Compares how")
        for key, one, _several in MATCHES:
            self.match_combo.addItem(one, key)
        self.condition_input = QLineEdit()
        self.condition_input.setObjectName("ruleConditionInput")
        self.condition_input.setAccessibleName("Value")
        self.condition_input.setPlaceholderText("e.g. example.com")
        self.condition_input.setMinimumWidth(160)
        self.condition_input.setMaximumWidth(360)
        self.scope_combo = QComboBox()
        self.scope_combo.setObjectName("ruleScopeCombo")
        self.scope_combo.setAccessibleName("Applies to")
        self.scope_combo.addItem("in all missions", None)
        if mission_id is not None:
            label = f"in this mission: {mission_title}" if mission_title else "in this mission"
            self.scope_combo.addItem(label, mission_id)
        else:
            # One choice is no choice: greyed out, with the way to the other one.
            self.scope_combo.setEnabled(False)
            self.scope_combo.setToolTip("Select a mission in the window first to limit a rule to it")
        flow.add_widgets(
            [
                self.kind_combo,
                self.tool_combo,
                when,
                self.field_combo,
                self.match_combo,
                self.condition_input,
                self.scope_combo,
            ]
        )
        box_layout.addWidget(blanks)
        # Why the comparison and the value are greyed out, while they are.
        self.no_condition_note = WrapLabel(
            "With “always”, the rule needs no value: it applies every time. Choose a part of the "
            "action (the recipients, the file…) in the list after “when” to limit it."
        )
        self.no_condition_note.setObjectName("ruleNoConditionNote")
        self.no_condition_note.setAccessibleName("Why there is no value to type")
        self.no_condition_note.setProperty("muted", True)
        box_layout.addWidget(self.no_condition_note)
        self.sentence_label = QLabel()
        self.sentence_label.setObjectName("ruleSentence")
        self.sentence_label.setAccessibleName("The rule as it will read")
        self.sentence_label.setWordWrap(True)
        self.sentence_label.setTextFormat(Qt.TextFormat.PlainText)
        box_layout.addWidget(self.sentence_label)
        self.add_error = QLabel()
        self.add_error.setObjectName("ruleAddError")
        self.add_error.setAccessibleName("Problem with the rule")
        self.add_error.setWordWrap(True)
        self.add_error.hide()
        box_layout.addWidget(self.add_error)
        self.add_button = QPushButton("Add rule")
        self.add_button.setObjectName("addRuleButton")
        self.add_button.setAccessibleName("Add rule")
        self.add_button.clicked.connect(self.on_add_clicked)
        box_layout.addWidget(button_row(self.add_button))
        layout.addWidget(box)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

        self.tool_combo.currentIndexChanged.connect(self.on_tool_changed)
        self.field_combo.currentIndexChanged.connect(self.on_field_changed)
        for combo in (self.kind_combo, self.match_combo, self.scope_combo):
            combo.currentIndexChanged.connect(self.on_rule_changed)
        self.condition_input.textChanged.connect(self.on_rule_changed)
        self.on_tool_changed()

    def _fit_screen(self, parent: QWidget | None) -> None:
        """760 by 520, or less on a small screen (the table of rules shrinks first)."""
        screen = parent.screen() if parent is not None else QGuiApplication.primaryScreen()
        width, height = 760, 520
        if screen is not None:
            room = screen.availableGeometry()
            width, height = min(width, room.width() - 40), min(height, room.height() - 60)
        self.resize(max(width, 320), max(height, 280))

    # The sentence being written ------------------------------------------------------------

    def on_tool_changed(self, *_args: object) -> None:
        """Offers the fields of the chosen action (in words) for the condition."""
        kind = self.kinds.get(str(self.tool_combo.currentData() or ""))
        fields = [f for f in (kind.fields if kind else []) if f not in HIDDEN_FIELDS]
        self.field_combo.blockSignals(True)
        self.field_combo.clear()
        self.field_combo.addItem("always (no condition)", None)
        for name in fields:
            self.field_combo.addItem(field_words(name), name)
        self.field_combo.blockSignals(False)
        # "Any action" has no parts to choose: its only condition is "always".
        self.field_combo.setEnabled(self.field_combo.count() > 1)
        self.field_combo.setToolTip(
            "" if self.field_combo.count() > 1 else "Choose an action first to limit the rule to some of them"
        )
        self.on_field_changed()

    def on_field_changed(self, *_args: object) -> None:
        """Offers the comparisons that make sense for the chosen part of the action."""
        field = self.field_combo.currentData()
        address = field in _ADDRESS_FIELDS
        model = self.match_combo.model()
        anyone_at = self.match_combo.findData("anyone_at")
        item = model.item(anyone_at) if isinstance(model, QStandardItemModel) else None
        if item is not None:
            item.setEnabled(address)  # "the file is anyone at…" means nothing
        if address:
            self.match_combo.setCurrentIndex(anyone_at)
        elif self.match_combo.currentIndex() == anyone_at:
            self.match_combo.setCurrentIndex(self.match_combo.findData("is"))
        if isinstance(field, str):
            self.condition_input.setPlaceholderText(EXAMPLES.get(field, "the value to match"))
        self.on_rule_changed()

    def _match(self) -> Match:
        key = str(self.match_combo.currentData() or "is")
        return next((k for k, *_ in MATCHES if k == key), "is")

    def on_rule_changed(self, *_args: object) -> None:
        """Reads the rule back as the sentence it will be."""
        self.add_error.hide()  # the problem was with the rule as it was
        field = self.field_combo.currentData()
        has_field = isinstance(field, str)
        # "Always" compares nothing: no comparison and no value to type, and a note says why.
        self.match_combo.setEnabled(has_field)
        self.condition_input.setEnabled(has_field)
        self.no_condition_note.setVisible(not has_field)
        if has_field:
            self.condition_input.setToolTip(f"What {field_words(field)} should match")
            if self.condition_input.placeholderText() == NO_VALUE:
                self.condition_input.setPlaceholderText(EXAMPLES.get(field, "the value to match"))
        else:
            self.condition_input.setToolTip("No value needed: with “always” the rule applies every time")
            self.condition_input.setPlaceholderText(NO_VALUE)
        self.sentence_label.setText(self._sentence())

    def _sentence(self) -> str:
        kind = self.kinds.get(str(self.tool_combo.currentData() or ""))
        field = self.field_combo.currentData()
        return sentence(
            str(self.kind_combo.currentData()),
            kind.title if kind else None,
            field if isinstance(field, str) else None,
            self._match(),
            self.condition_input.text(),
            this_mission=self.scope_combo.currentData() is not None,
        )

    # The rules -----------------------------------------------------------------------------

    def set_rules(self, rules: list[RuleInfo]) -> None:
        """Shows these rules (the active ones), oldest first."""
        self.rules = list(rules)
        self.table.setRowCount(len(self.rules))
        for row, rule in enumerate(self.rules):
            text = QTableWidgetItem(rule.description)
            text.setToolTip(rule.description)
            self.table.setItem(row, 0, text)
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
        return OTHER_MISSION  # never its id: a person knows a mission by its title

    def _remove(self, rule_id: str) -> None:
        for row in range(self.table.rowCount()):
            widget = self.table.cellWidget(row, 2)
            if widget is not None:
                widget.setEnabled(False)
        self.remove_requested.emit(rule_id)

    def on_add_clicked(self) -> None:
        field = self.field_combo.currentData()
        value = self.condition_input.text().strip()
        where: dict[str, str] | None = None
        if isinstance(field, str):
            if not value:
                self.show_add_error(f"Type what {field_words(field)} should match, or choose “always”.")
                return
            where = {field: pattern_for(self._match(), value)}
        description = self._sentence()  # "always" ignores a value typed before it was chosen
        self.add_error.hide()
        self.add_button.setEnabled(False)
        self.new_rule_sentence = description
        kind_name, tool = self.kind_combo.currentData(), self.tool_combo.currentData()
        self.add_requested.emit(kind_name, tool, where, self.scope_combo.currentData())

    def on_added(self) -> None:
        """The rule was added: ready for another."""
        self.condition_input.clear()
        self.add_button.setEnabled(True)

    def show_add_error(self, message: str) -> None:
        self.add_error.setText(message)
        self.add_error.show()
        self.add_button.setEnabled(True)
