"""The Workflows pane's dialogs: run a workflow (its parameter form), its schedule, its trigger,
edit it (or write one from scratch), and save a finished mission as a workflow.

Each dialog only shows and asks, and says what the person chose through a signal; the
Workflows controller (:mod:`ui.workflows`) makes the engine calls off the GUI thread. Every
dialog fits a small laptop screen: its form scrolls down, never sideways, and its words are a
person's (no JSON, no ids).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QDate, QDateTime, Qt, QTime, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from ui.widgets import FlowLayout, WrapLabel, button_row, muted, scrolling, wrapping_form

if TYPE_CHECKING:
    from app.api import ProposedParam, Schedule, Trigger, WorkflowParam, WorkflowSpec

TYPE_WORDS: dict[str, str] = {
    "text": "Text",
    "number": "Number",
    "date": "Date",
    "file": "File",
    "folder": "Folder",
    "email": "Email",
}
"""A parameter's type as the person reads it."""

DAY_WORDS = (
    ("mon", "Monday"),
    ("tue", "Tuesday"),
    ("wed", "Wednesday"),
    ("thu", "Thursday"),
    ("fri", "Friday"),
    ("sat", "Saturday"),
    ("sun", "Sunday"),
)

SCHEDULE_KINDS = (
    ("once", "Once"),
    ("hourly", "Every hour"),
    ("daily", "Every day"),
    ("weekdays", "Every weekday (Monday to Friday)"),
    ("weekly", "Every week, on the days chosen"),
    ("monthly", "Every month, on a day"),
    ("cron", "Advanced (a cron expression)"),
)

CATCH_UP_ONCE = "Run once when I'm back"
CATCH_UP_SKIP = "Skip the missed time"
DATE_FORMAT = "yyyy-MM-dd"


def param_label(name: str) -> str:
    """A parameter's name as a form's label: ``invoice_month`` → "Invoice month"."""
    words = name.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def param_name(text: str) -> str:
    """What a person typed as a parameter's name, as a name the template can hold:
    "Invoice month" → ``invoice_month``."""
    name = re.sub(r"[^a-z0-9_]+", "_", text.strip().lower()).strip("_")
    name = re.sub(r"_+", "_", name)
    if name and not name[0].isalpha():
        name = f"p_{name}"
    return name[:40]


def _error_label(name: str) -> WrapLabel:
    label = WrapLabel()
    label.setObjectName(name)
    label.setAccessibleName("Problem")
    label.setStyleSheet("color: #c92a2a; font-weight: 600;")
    label.hide()
    return label


def _frame(dialog: QDialog, *, spacing: int) -> tuple[QVBoxLayout, QWidget, QVBoxLayout]:
    """A dialog's layout: ``(outer, body, layout)``, where ``layout`` fills ``body``, which the
    dialog puts in :func:`~ui.widgets.scrolling` above its buttons."""
    outer = QVBoxLayout(dialog)
    outer.setContentsMargins(20, 16, 20, 14)
    outer.setSpacing(10)
    body = QWidget()
    layout = QVBoxLayout(body)
    layout.setContentsMargins(0, 0, 8, 0)
    layout.setSpacing(spacing)
    return outer, body, layout


def _fit_to_screen(dialog: QDialog, width: int, height: int) -> None:
    """Sizes a dialog to ``width`` by ``height``, or less on a small screen."""
    screen = dialog.screen()
    if screen is not None:
        available = screen.availableGeometry()
        width = min(width, available.width() - 40)
        height = min(height, available.height() - 60)
    dialog.resize(max(width, 320), max(height, 240))


def _buttons(dialog: QDialog, ok: str, *, name: str) -> tuple[QDialogButtonBox, QPushButton]:
    box = QDialogButtonBox()
    box.setObjectName(f"{name}Buttons")
    box.setAccessibleName(f"{ok.rstrip('…')} or cancel")
    accept = box.addButton(ok, QDialogButtonBox.ButtonRole.AcceptRole)
    accept.setObjectName(f"{name}OkButton")
    accept.setAccessibleName(ok.rstrip("…"))
    accept.setProperty("role", "accent")
    accept.setDefault(True)
    cancel = box.addButton(QDialogButtonBox.StandardButton.Cancel)
    cancel.setObjectName(f"{name}CancelButton")
    cancel.setAccessibleName("Cancel")
    box.rejected.connect(dialog.reject)
    return box, accept


# Running: the parameter form ----------------------------------------------------------------


class ParamField(QWidget):
    """One parameter's input, its widget chosen by its type: a date picker for a date, a
    number box for a number, a path and a Browse button for a file or folder, a line of text
    otherwise.

    Args:
        param: The parameter.
        value: The value to show first (its default when None).

    Signals:
        changed(): The value changed.
    """

    changed = Signal()

    def __init__(self, param: WorkflowParam, value: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.param = param
        self.setObjectName(f"param_{param.name}")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        start = value if value is not None else (param.default or "")
        label = param_label(param.name)
        self.input: QWidget
        self._decimals = 0
        if param.type == "date":
            edit = QDateEdit()
            edit.setCalendarPopup(True)
            edit.setDisplayFormat(DATE_FORMAT)
            date = QDate.fromString(start.strip(), DATE_FORMAT)
            edit.setDate(date if date.isValid() else QDate.currentDate())
            edit.dateChanged.connect(lambda _d: self.changed.emit())
            self.input = edit
        elif param.type == "number":
            spin = QDoubleSpinBox()
            number = _number(start)
            self._decimals = _decimals(start)
            spin.setDecimals(self._decimals)
            spin.setRange(-1e12, 1e12)
            spin.setValue(number or 0.0)
            spin.valueChanged.connect(lambda _v: self.changed.emit())
            self.input = spin
        else:
            line = QLineEdit(start)
            line.textChanged.connect(lambda _t: self.changed.emit())
            if param.type == "email":
                line.setPlaceholderText("An email address, or leave it to the trigger")
            self.input = line
        self.input.setObjectName(f"paramInput_{param.name}")
        self.input.setAccessibleName(label)
        if param.description:
            self.input.setToolTip(param.description)
        layout.addWidget(self.input, 1)
        self.browse_button: QPushButton | None = None
        if param.type in ("file", "folder"):
            browse = QPushButton("Browse…")
            browse.setObjectName(f"browse_{param.name}")
            browse.setAccessibleName(f"Choose the {param.type} for {label}")
            browse.clicked.connect(self.on_browse_clicked)
            layout.addWidget(browse)
            self.browse_button = browse

    def value(self) -> str:
        """The value as the workflow takes it (a date as YYYY-MM-DD)."""
        widget = self.input
        if isinstance(widget, QDateEdit):
            return widget.date().toString(DATE_FORMAT)
        if isinstance(widget, QDoubleSpinBox):
            number = widget.value()
            return str(round(number)) if self._decimals == 0 else f"{number:.{self._decimals}f}"
        assert isinstance(widget, QLineEdit)
        return widget.text().strip()

    def set_value(self, value: str) -> None:
        """Shows ``value`` in the input."""
        widget = self.input
        if isinstance(widget, QDateEdit):
            date = QDate.fromString(value, DATE_FORMAT)
            if date.isValid():
                widget.setDate(date)
        elif isinstance(widget, QDoubleSpinBox):
            widget.setValue(_number(value) or 0.0)
        elif isinstance(widget, QLineEdit):
            widget.setText(value)

    def on_browse_clicked(self) -> None:
        current = self.value()
        if self.param.type == "folder":
            chosen = QFileDialog.getExistingDirectory(self, param_label(self.param.name), current)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, param_label(self.param.name), current)
        if chosen:
            self.set_value(chosen)


def _number(text: str) -> float | None:
    try:
        return float(text.strip().replace(",", ""))
    except ValueError:
        return None


def _decimals(text: str) -> int:
    text = text.strip()
    if _number(text) is None or "." not in text:
        return 0
    return min(len(text.rsplit(".", 1)[1]), 6)


class RunDialog(QDialog):
    """Runs a workflow: one field per parameter (its description as help), defaults filled,
    and what the mission will be asked, with the values in place.

    Args:
        spec: The workflow.

    Signals:
        run_requested(dict): The values typed, by parameter name; start the run.
    """

    run_requested = Signal(dict)

    def __init__(self, spec: WorkflowSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.setObjectName("runWorkflowDialog")
        self.setWindowTitle(f"Run “{spec.name}”")
        self.setAccessibleName(f"Run the workflow {spec.name}")
        outer, body, layout = _frame(self, spacing=10)
        title = WrapLabel(f"Run “{spec.name}”")
        title.setObjectName("cardTitle")
        layout.addWidget(title)
        if spec.description:
            layout.addWidget(muted(spec.description))
        self.fields: dict[str, ParamField] = {}
        if spec.params:
            form = wrapping_form()
            form.setVerticalSpacing(4)
            for param in spec.params:
                field = ParamField(param)
                field.changed.connect(self.update_preview)
                self.fields[param.name] = field
                box = QVBoxLayout()
                box.setSpacing(2)
                box.addWidget(field)
                if param.description:
                    box.addWidget(muted(param.description, f"paramHelp_{param.name}"))
                form.addRow(f"{param_label(param.name)}:", box)
            layout.addLayout(form)
        else:
            layout.addWidget(muted("This workflow has no values to fill in: it runs as it was saved."))
        heading = QLabel("What the agents will be asked")
        heading.setObjectName("paneTitle")
        layout.addWidget(heading)
        self.preview = WrapLabel()
        self.preview.setObjectName("runPreview")
        self.preview.setAccessibleName("What the agents will be asked")
        self.preview.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.preview)
        plan = (
            f"It follows the plan saved from an earlier run ({len(spec.plan)} "
            f"task{'s' if len(spec.plan) != 1 else ''}); the lead agent plans again only if something "
            "does not fit."
            if spec.plan
            else "The lead agent plans it first, then asks you before changing anything."
        )
        layout.addWidget(muted(plan))
        layout.addStretch(1)
        outer.addWidget(scrolling(body), 1)
        self.error_label = _error_label("runError")
        outer.addWidget(self.error_label)
        buttons, self.run_button = _buttons(self, "Run", name="run")
        buttons.accepted.connect(self.on_run_clicked)
        outer.addWidget(buttons)
        self.update_preview()
        _fit_to_screen(self, 560, 520)
        first = next(iter(self.fields.values()), None)
        if first is not None:
            first.input.setFocus()

    def values(self) -> dict[str, str]:
        """The values typed, by parameter name."""
        return {name: field.value() for name, field in self.fields.items()}

    def update_preview(self) -> None:
        try:
            spec, _plan = self.spec.render(self.values())
            self.preview.setText(spec.instruction)
        except Exception:  # noqa: BLE001 - a value missing: the template as it is
            self.preview.setText(self.spec.instruction)

    def show_error(self, message: str) -> None:
        """Says why the run could not start; the dialog stays open."""
        self.error_label.setText(message)
        self.error_label.show()
        self.run_button.setEnabled(True)

    def on_run_clicked(self) -> None:
        missing = [param_label(name) for name, value in self.values().items() if not value]
        if missing:
            self.show_error(f"Fill in {', '.join(missing)} first.")
            return
        self.error_label.hide()
        self.run_button.setEnabled(False)
        self.run_requested.emit(self.values())


# The schedule --------------------------------------------------------------------------------


def next_run(schedule: Schedule, now: dt.datetime | None = None) -> dt.datetime | None:
    """When ``schedule`` runs next after ``now`` (timezone-aware, in its time zone), or None
    (a one-time schedule already past). Only for showing: the engine's schedules decide."""
    from zoneinfo import ZoneInfo

    import tzlocal

    zone = ZoneInfo(schedule.timezone) if schedule.timezone else tzlocal.get_localzone()
    now = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    if schedule.kind == "once":
        when = dt.datetime.fromisoformat(schedule.at or "")
        when = when.replace(tzinfo=zone) if when.tzinfo is None else when.astimezone(zone)
        return when if when > now else None
    if schedule.kind == "monthly":
        hour, minute = (int(x) for x in (schedule.at or "00:00").split(":"))
        year, month = now.year, now.month
        for _ in range(14):
            last = calendar.monthrange(year, month)[1]
            when = dt.datetime(year, month, min(schedule.day or 1, last), hour, minute, tzinfo=zone)
            if when > now:
                return when
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return None
    from apscheduler.triggers.cron import CronTrigger

    if schedule.kind == "cron":
        trigger = CronTrigger.from_crontab(schedule.cron or "", timezone=zone)
    elif schedule.kind == "hourly":
        minutes = (schedule.at or ":00").rpartition(":")[2] or "0"
        trigger = CronTrigger(minute=int(minutes), timezone=zone)
    else:
        hour, minute = (int(x) for x in (schedule.at or "00:00").split(":"))
        days = {"weekdays": "mon-fri", "weekly": ",".join(schedule.days)}.get(schedule.kind, "*")
        trigger = CronTrigger(day_of_week=days, hour=hour, minute=minute, timezone=zone)
    fire: dt.datetime | None = trigger.get_next_fire_time(None, now + dt.timedelta(seconds=1))
    return fire


def when_text(when: dt.datetime | None) -> str:
    """A time as the person reads it: "Monday 17 November 2026 at 09:00"."""
    if when is None:
        return "never"
    local = when.astimezone()
    return f"{local:%A %d %B %Y} at {local:%H:%M}"


class ScheduleDialog(QDialog):
    """When a workflow runs by itself: once, every hour, day, weekday, week (on chosen days) or
    month, or on a cron expression; at what time; and what happens after a missed time.

    Args:
        name: The workflow's name.
        schedule: Its schedule now, or None.

    Signals:
        saved(object): The new :class:`~app.api.Schedule`, or None to run only by hand.
    """

    saved = Signal(object)

    def __init__(self, name: str, schedule: Schedule | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("scheduleDialog")
        self.setWindowTitle(f"Schedule “{name}”")
        self.setAccessibleName(f"Schedule the workflow {name}")
        outer, body, layout = _frame(self, spacing=10)
        layout.addWidget(
            muted(
                "The workflow runs by itself at these times, with its default values, while "
                "Ensemble runs (in the window or the tray). Anything that needs your approval "
                "waits for you as a card, and you get a notification."
            )
        )
        form = wrapping_form()

        self.kind_input = QComboBox()
        self.kind_input.setObjectName("scheduleKind")
        self.kind_input.setAccessibleName("How often")
        for key, words in SCHEDULE_KINDS:
            self.kind_input.addItem(words, key)
        form.addRow("How often:", self.kind_input)

        # One page of details per kind; the time of day is shared.
        self.pages = QStackedWidget()
        self.pages.setObjectName("scheduleDetails")
        self.once_input = QDateTimeEdit(QDateTime.currentDateTime().addSecs(3600))
        self.once_input.setObjectName("scheduleOnce")
        self.once_input.setAccessibleName("Date and time")
        self.once_input.setCalendarPopup(True)
        self.once_input.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.minute_input = QSpinBox()
        self.minute_input.setObjectName("scheduleMinute")
        self.minute_input.setAccessibleName("Minutes past the hour")
        self.minute_input.setRange(0, 59)
        self.minute_input.setPrefix("at :")
        self.day_boxes: dict[str, QCheckBox] = {}
        days = QWidget()
        flow = FlowLayout(days)
        for key, words in DAY_WORDS:
            box = QCheckBox(words)
            box.setObjectName(f"day_{key}")
            box.setAccessibleName(words)
            box.toggled.connect(self.update_preview)
            self.day_boxes[key] = box
            flow.addWidget(box)
        self.month_day_input = QSpinBox()
        self.month_day_input.setObjectName("scheduleMonthDay")
        self.month_day_input.setAccessibleName("Day of the month")
        self.month_day_input.setRange(1, 31)
        self.month_day_input.setPrefix("on day ")
        self.cron_input = QLineEdit()
        self.cron_input.setObjectName("scheduleCron")
        self.cron_input.setAccessibleName("Cron expression")
        self.cron_input.setPlaceholderText("minute hour day month weekday, e.g. 30 8 * * 1-5")
        self._page: dict[str, int] = {}
        for key, widget in (
            ("once", self.once_input),
            ("hourly", self.minute_input),
            ("weekly", days),
            ("monthly", self.month_day_input),
            ("cron", self.cron_input),
        ):
            self._page[key] = self.pages.addWidget(widget)
        self._page["none"] = self.pages.addWidget(QWidget())
        self.details_label = QLabel("On:")
        form.addRow(self.details_label, self.pages)

        self.time_input = QTimeEdit(QTime(9, 0))
        self.time_input.setObjectName("scheduleTime")
        self.time_input.setAccessibleName("Time of day")
        self.time_input.setDisplayFormat("HH:mm")
        self.time_label = QLabel("At:")
        form.addRow(self.time_label, self.time_input)
        layout.addLayout(form)

        missed = QLabel("If the computer was asleep or off at that time:")
        layout.addWidget(missed)
        self.catch_up_once = QRadioButton(CATCH_UP_ONCE)
        self.catch_up_once.setObjectName("catchUpOnce")
        self.catch_up_once.setAccessibleName(CATCH_UP_ONCE)
        self.catch_up_skip = QRadioButton(CATCH_UP_SKIP)
        self.catch_up_skip.setObjectName("catchUpSkip")
        self.catch_up_skip.setAccessibleName(CATCH_UP_SKIP)
        group = QButtonGroup(self)
        group.addButton(self.catch_up_once)
        group.addButton(self.catch_up_skip)
        self.catch_up_once.setChecked(True)
        layout.addWidget(self.catch_up_once)
        layout.addWidget(self.catch_up_skip)
        layout.addWidget(muted("Never more than one catch-up run, however many times were missed."))

        self.preview = WrapLabel()
        self.preview.setObjectName("schedulePreview")
        self.preview.setAccessibleName("The schedule in words")
        self.preview.setStyleSheet("font-weight: 600;")
        layout.addWidget(self.preview)
        self.next_label = muted("", "scheduleNext")
        layout.addWidget(self.next_label)
        layout.addStretch(1)
        outer.addWidget(scrolling(body), 1)
        self.error_label = _error_label("scheduleError")
        outer.addWidget(self.error_label)
        buttons, self.save_button = _buttons(self, "Save schedule", name="schedule")
        buttons.accepted.connect(self.on_save_clicked)
        self.remove_button = buttons.addButton("No schedule", QDialogButtonBox.ButtonRole.DestructiveRole)
        self.remove_button.setObjectName("removeScheduleButton")
        self.remove_button.setAccessibleName("Run it only by hand")
        self.remove_button.setToolTip("Run it only by hand")
        self.remove_button.setVisible(schedule is not None)
        self.remove_button.clicked.connect(self.on_remove_clicked)
        outer.addWidget(buttons)

        if schedule is not None:
            self.set_schedule(schedule)
        for signal in (
            self.kind_input.currentIndexChanged,
            self.once_input.dateTimeChanged,
            self.minute_input.valueChanged,
            self.month_day_input.valueChanged,
            self.cron_input.textChanged,
            self.time_input.timeChanged,
            self.catch_up_once.toggled,
        ):
            signal.connect(self.update_preview)
        self.update_preview()
        _fit_to_screen(self, 560, 560)
        self.kind_input.setFocus()

    def set_schedule(self, schedule: Schedule) -> None:
        """Shows ``schedule`` in the form."""
        self.kind_input.setCurrentIndex(max(0, self.kind_input.findData(schedule.kind)))
        at = schedule.at or ""
        if schedule.kind == "once":
            when = dt.datetime.fromisoformat(at)
            self.once_input.setDateTime(
                QDateTime(QDate(when.year, when.month, when.day), QTime(when.hour, when.minute))
            )
        elif schedule.kind == "hourly":
            self.minute_input.setValue(int(at.rpartition(":")[2] or 0))
        elif ":" in at:
            hour, minute = at.split(":")
            self.time_input.setTime(QTime(int(hour), int(minute)))
        for key, box in self.day_boxes.items():
            box.setChecked(key in schedule.days)
        if schedule.day is not None:
            self.month_day_input.setValue(schedule.day)
        self.cron_input.setText(schedule.cron or "")
        (self.catch_up_skip if schedule.catch_up == "skip" else self.catch_up_once).setChecked(True)

    def kind(self) -> str:
        return str(self.kind_input.currentData())

    def schedule(self) -> Schedule:
        """The schedule as chosen.

        Raises:
            ValueError: It is not complete (no day chosen, a cron expression that is not one).
        """
        from app.api import Schedule

        kind = self.kind()
        time = self.time_input.time().toString("HH:mm")
        catch_up = "skip" if self.catch_up_skip.isChecked() else "once"
        data: dict[str, Any] = {"kind": kind, "catch_up": catch_up}
        if kind == "once":
            data["at"] = self.once_input.dateTime().toString("yyyy-MM-dd'T'HH:mm")
        elif kind == "hourly":
            data["at"] = f":{self.minute_input.value():02d}"
        elif kind == "cron":
            data["cron"] = " ".join(self.cron_input.text().split())
        else:
            data["at"] = time
        if kind == "weekly":
            data["days"] = [key for key, box in self.day_boxes.items() if box.isChecked()]
        if kind == "monthly":
            data["day"] = self.month_day_input.value()
        schedule = Schedule.model_validate(data)
        if kind == "cron":
            try:
                next_run(schedule)
            except ValueError as exc:
                raise ValueError(f"That is not a cron expression a computer can read ({exc}).") from exc
        return schedule

    def update_preview(self) -> None:
        kind = self.kind()
        page = kind if kind in self._page else "none"
        self.pages.setCurrentIndex(self._page[page])
        labels = {"once": "When:", "hourly": "Minutes:", "cron": "Expression:"}
        self.details_label.setText(labels.get(kind, "On:"))
        self.pages.setVisible(page != "none")
        self.details_label.setVisible(page != "none")
        timed = kind in ("daily", "weekdays", "weekly", "monthly")
        self.time_input.setVisible(timed)
        self.time_label.setVisible(timed)
        try:
            schedule = self.schedule()
        except ValueError as exc:
            self.preview.setText(_first_problem(exc))
            self.next_label.setText("")
            self.save_button.setEnabled(False)
            return
        self.save_button.setEnabled(True)
        self.preview.setText(schedule.describe())
        try:
            when = next_run(schedule)
        except ValueError:
            when = None
        self.next_label.setText(
            f"Next run: {when_text(when)}." if when else "That time has passed: choose a later one."
        )

    def on_save_clicked(self) -> None:
        try:
            schedule = self.schedule()
        except ValueError as exc:
            self.show_error(_first_problem(exc))
            return
        self.saved.emit(schedule)

    def on_remove_clicked(self) -> None:
        self.saved.emit(None)

    def show_error(self, message: str) -> None:
        """Says why the schedule could not be saved; the dialog stays open."""
        self.error_label.setText(message)
        self.error_label.show()


def _first_problem(exc: Exception) -> str:
    """A validation error's first message, as a sentence."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            found = errors()
            if found:
                message = str(found[0].get("msg", exc)).removeprefix("Value error, ")
                return message[:1].upper() + message[1:] + "."
        except Exception:  # noqa: BLE001 - fall back to the error's own text
            pass
    return str(exc)


# The trigger ---------------------------------------------------------------------------------


class TriggerDialog(QDialog):
    """What starts a workflow by itself: an email arriving in a folder (from a sender, with a
    subject like…), or a file added or changed in a folder (with a name like…).

    Args:
        spec: The workflow (its parameters: which one receives the email or file).

    Signals:
        saved(object): The new :class:`~app.api.Trigger`, or None for no trigger.
    """

    saved = Signal(object)

    def __init__(self, spec: WorkflowSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        trigger = spec.trigger
        self.setObjectName("triggerDialog")
        self.setWindowTitle(f"Start “{spec.name}” when something arrives")
        self.setAccessibleName(f"Trigger of the workflow {spec.name}")
        outer, body, layout = _frame(self, spacing=8)
        layout.addWidget(
            muted(
                "The workflow runs by itself when a new email or file arrives, with that email "
                "or file as one of its values. What the email or file says is treated as content "
                "from outside: it never decides where anything is sent."
            )
        )
        self.email_choice = QRadioButton("When an email arrives")
        self.email_choice.setObjectName("triggerEmail")
        self.email_choice.setAccessibleName("When an email arrives")
        self.file_choice = QRadioButton("When a file is added or changed in a folder")
        self.file_choice.setObjectName("triggerFile")
        self.file_choice.setAccessibleName("When a file is added or changed in a folder")
        group = QButtonGroup(self)
        group.addButton(self.email_choice)
        group.addButton(self.file_choice)
        layout.addWidget(self.email_choice)

        self.email_form = QWidget()
        email = QFormLayout(self.email_form)
        email.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        email.setContentsMargins(24, 0, 0, 0)
        self.mail_folder_input = QLineEdit(trigger.folder if trigger and trigger.kind == "email" else "INBOX")
        self.mail_folder_input.setObjectName("triggerMailFolder")
        self.mail_folder_input.setAccessibleName("Mail folder")
        email.addRow("Mail folder:", self.mail_folder_input)
        self.account_input = QLineEdit((trigger.account or "") if trigger else "")
        self.account_input.setObjectName("triggerAccount")
        self.account_input.setAccessibleName("Email account")
        self.account_input.setPlaceholderText("The default account")
        email.addRow("Account:", self.account_input)
        self.from_input = QLineEdit((trigger.from_glob or "") if trigger else "")
        self.from_input.setObjectName("triggerFrom")
        self.from_input.setAccessibleName("Only from")
        self.from_input.setPlaceholderText("Anyone; or e.g. *@supplier.com")
        email.addRow("Only from:", self.from_input)
        self.subject_input = QLineEdit((trigger.subject_glob or "") if trigger else "")
        self.subject_input.setObjectName("triggerSubject")
        self.subject_input.setAccessibleName("Subject like")
        self.subject_input.setPlaceholderText("Any subject; or e.g. *invoice*")
        email.addRow("Subject like:", self.subject_input)
        layout.addWidget(self.email_form)

        layout.addWidget(self.file_choice)
        self.file_form = QWidget()
        files = QFormLayout(self.file_form)
        files.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        files.setContentsMargins(24, 0, 0, 0)
        row = QHBoxLayout()
        self.folder_input = QLineEdit(trigger.folder if trigger and trigger.kind == "file" else "")
        self.folder_input.setObjectName("triggerFolder")
        self.folder_input.setAccessibleName("Folder to watch")
        row.addWidget(self.folder_input, 1)
        browse = QPushButton("Browse…")
        browse.setObjectName("triggerBrowse")
        browse.setAccessibleName("Choose the folder to watch")
        browse.clicked.connect(self.on_browse_clicked)
        row.addWidget(browse)
        files.addRow("Folder:", row)
        self.glob_input = QLineEdit((trigger.glob or "") if trigger else "")
        self.glob_input.setObjectName("triggerGlob")
        self.glob_input.setAccessibleName("Names like")
        self.glob_input.setPlaceholderText("Any file; or e.g. *.pdf")
        files.addRow("Names like:", self.glob_input)
        layout.addWidget(self.file_form)

        self.param_input = QComboBox()
        self.param_input.setObjectName("triggerParam")
        self.param_input.setAccessibleName("The value the email or file fills in")
        self.param_input.addItem("The first email or file value", None)
        for param in spec.params:
            self.param_input.addItem(param_label(param.name), param.name)
        if trigger is not None and trigger.param:
            self.param_input.setCurrentIndex(max(0, self.param_input.findData(trigger.param)))
        value_form = QFormLayout()
        value_form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        value_form.addRow("It fills in:", self.param_input)
        layout.addLayout(value_form)

        self.preview = WrapLabel()
        self.preview.setObjectName("triggerPreview")
        self.preview.setAccessibleName("The trigger in words")
        self.preview.setStyleSheet("font-weight: 600;")
        layout.addWidget(self.preview)
        layout.addStretch(1)
        outer.addWidget(scrolling(body), 1)
        self.error_label = _error_label("triggerError")
        outer.addWidget(self.error_label)
        buttons, self.save_button = _buttons(self, "Save trigger", name="trigger")
        buttons.accepted.connect(self.on_save_clicked)
        self.remove_button = buttons.addButton("No trigger", QDialogButtonBox.ButtonRole.DestructiveRole)
        self.remove_button.setObjectName("removeTriggerButton")
        self.remove_button.setAccessibleName("No trigger")
        self.remove_button.setVisible(trigger is not None)
        self.remove_button.clicked.connect(lambda: self.saved.emit(None))
        outer.addWidget(buttons)

        is_file = trigger is not None and trigger.kind == "file"
        (self.file_choice if is_file else self.email_choice).setChecked(True)
        for line in (
            self.mail_folder_input,
            self.account_input,
            self.from_input,
            self.subject_input,
            self.folder_input,
            self.glob_input,
        ):
            line.textChanged.connect(self.update_preview)
        self.email_choice.toggled.connect(self.update_preview)
        self.param_input.currentIndexChanged.connect(self.update_preview)
        self.update_preview()
        _fit_to_screen(self, 580, 560)

    def trigger(self) -> Trigger:
        """The trigger as chosen.

        Raises:
            ValueError: A folder is missing.
        """
        from app.api import Trigger

        def text(line: QLineEdit) -> str | None:
            return line.text().strip() or None

        param = self.param_input.currentData()
        if self.email_choice.isChecked():
            return Trigger(
                kind="email",
                folder=text(self.mail_folder_input) or "",
                account=text(self.account_input),
                from_glob=text(self.from_input),
                subject_glob=text(self.subject_input),
                param=param,
            )
        if not self.folder_input.text().strip():
            raise ValueError("Choose the folder to watch.")
        folder = self.folder_input.text().strip()
        return Trigger(kind="file", folder=folder, glob=text(self.glob_input), param=param)

    def update_preview(self) -> None:
        email = self.email_choice.isChecked()
        self.email_form.setEnabled(email)
        self.file_form.setEnabled(not email)
        try:
            self.preview.setText(self.trigger().describe() + ".")
            self.save_button.setEnabled(True)
        except ValueError as exc:
            self.preview.setText(_first_problem(exc))
            self.save_button.setEnabled(False)

    def on_browse_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "The folder to watch", self.folder_input.text())
        if folder:
            self.folder_input.setText(folder)

    def on_save_clicked(self) -> None:
        try:
            trigger = self.trigger()
        except ValueError as exc:
            self.show_error(_first_problem(exc))
            return
        self.saved.emit(trigger)

    def show_error(self, message: str) -> None:
        """Says why the trigger could not be saved; the dialog stays open."""
        self.error_label.setText(message)
        self.error_label.show()


# Parameters as a table -------------------------------------------------------------------------


class ParamsTable(QWidget):
    """A table of parameters a person edits: a row each, with Add and Remove below.

    Args:
        columns: The headers; the column named "Type" holds a list of types.
        hint: A sentence under the table.
    """

    def __init__(self, columns: list[str], hint: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.columns = columns
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.table = QTableWidget(0, len(columns))
        self.table.setObjectName("paramsTable")
        self.table.setAccessibleName("Values that change from one run to the next")
        self.table.setHorizontalHeaderLabels(columns)
        self.table.verticalHeader().hide()
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(True)
        self.table.setMinimumHeight(150)
        header = self.table.horizontalHeader()
        for index, column in enumerate(columns):
            if column == "Type":
                # As wide as its list of types needs (a cell widget's width is not its content).
                header.setSectionResizeMode(index, QHeaderView.ResizeMode.Fixed)
                self.table.setColumnWidth(index, self._type_combo("text").sizeHint().width() + 4)
            else:
                header.setSectionResizeMode(index, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.table)
        self.add_button = QPushButton("Add a value")
        self.add_button.setObjectName("addParamButton")
        self.add_button.setAccessibleName("Add a value that changes")
        self.add_button.clicked.connect(lambda: self.add_row())
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("removeParamButton")
        self.remove_button.setAccessibleName("Remove the selected value")
        self.remove_button.clicked.connect(self.remove_selected)
        layout.addWidget(button_row(self.add_button, self.remove_button))
        layout.addWidget(muted(hint))

    def add_row(self, values: dict[str, str] | None = None) -> int:
        """Adds a row, filled from ``values`` (by column header); returns its index."""
        values = values or {}
        row = self.table.rowCount()
        self.table.insertRow(row)
        for index, column in enumerate(self.columns):
            if column == "Type":
                self.table.setCellWidget(row, index, self._type_combo(values.get(column, "text")))
            else:
                self.table.setItem(row, index, QTableWidgetItem(values.get(column, "")))
        self.table.resizeRowsToContents()
        return row

    @staticmethod
    def _type_combo(current: str) -> QComboBox:
        combo = QComboBox()
        combo.setAccessibleName("Type")
        for key, words in TYPE_WORDS.items():
            combo.addItem(words, key)
        combo.setCurrentIndex(max(0, combo.findData(current)))
        return combo

    def remove_selected(self) -> None:
        rows = sorted({index.row() for index in self.table.selectedIndexes()}, reverse=True)
        if not rows and self.table.currentRow() >= 0:
            rows = [self.table.currentRow()]
        for row in rows:
            self.table.removeRow(row)

    def rows(self) -> list[dict[str, str]]:
        """Every row, by column header (a type by its key: ``date``)."""
        found: list[dict[str, str]] = []
        for row in range(self.table.rowCount()):
            values: dict[str, str] = {}
            for index, column in enumerate(self.columns):
                widget = self.table.cellWidget(row, index)
                if isinstance(widget, QComboBox):
                    values[column] = str(widget.currentData())
                else:
                    item = self.table.item(row, index)
                    values[column] = item.text().strip() if item is not None else ""
            found.append(values)
        return found

    def clear(self) -> None:
        self.table.setRowCount(0)


# Editing a workflow ----------------------------------------------------------------------------

NAME_COL, TYPE_COL, DEFAULT_COL, DESCRIPTION_COL, VALUE_COL = (
    "Name",
    "Type",
    "Default",
    "What it is",
    "Value in this mission",
)


class EditDialog(QDialog):
    """A workflow's name, description, instruction, folders and parameters; a new workflow
    when ``spec`` is None.

    Args:
        spec: The workflow to edit, or None to write one from scratch.
        folders: The folders to offer a new workflow (the window's).

    Signals:
        saved(object): The edited :class:`~app.api.WorkflowSpec` (its plan, rules, schedule
            and trigger as they were).
    """

    saved = Signal(object)

    def __init__(
        self, spec: WorkflowSpec | None, *, folders: list[str] | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.original = spec
        new = spec is None
        self.setObjectName("editWorkflowDialog")
        self.setWindowTitle("New workflow" if new else f"Edit “{spec.name}”")  # type: ignore[union-attr]
        self.setAccessibleName(self.windowTitle())
        outer, body, layout = _frame(self, spacing=8)
        form = wrapping_form()
        self.name_input = QLineEdit(spec.name if spec else "")
        self.name_input.setObjectName("workflowName")
        self.name_input.setAccessibleName("Name")
        self.name_input.setPlaceholderText("e.g. Chase overdue invoices")
        form.addRow("Name:", self.name_input)
        self.description_input = QLineEdit(spec.description if spec else "")
        self.description_input.setObjectName("workflowDescription")
        self.description_input.setAccessibleName("What it does")
        self.description_input.setPlaceholderText("One line on what it does")
        form.addRow("What it does:", self.description_input)
        layout.addLayout(form)
        layout.addWidget(QLabel("What the agents are asked:"))
        self.instruction_input = QPlainTextEdit(spec.instruction if spec else "")
        self.instruction_input.setObjectName("workflowInstruction")
        self.instruction_input.setAccessibleName("What the agents are asked")
        self.instruction_input.setPlaceholderText(
            "e.g. Find the invoices of {month} in invoices.xlsx that are still open and draft "
            "a reminder to each customer."
        )
        self.instruction_input.setMinimumHeight(90)
        self.instruction_input.setMaximumHeight(160)
        layout.addWidget(self.instruction_input)
        layout.addWidget(QLabel("Values that change from one run to the next:"))
        self.params = ParamsTable(
            [NAME_COL, TYPE_COL, DEFAULT_COL, DESCRIPTION_COL],
            "Write a value's name in braces in the instruction where it goes, e.g. {month}. "
            "A scheduled run uses the defaults.",
        )
        for param in spec.params if spec else []:
            self.params.add_row(
                {
                    NAME_COL: param.name,
                    TYPE_COL: param.type,
                    DEFAULT_COL: param.default or "",
                    DESCRIPTION_COL: param.description,
                }
            )
        layout.addWidget(self.params)
        layout.addWidget(QLabel("Folders the agents may use:"))
        self.folder_list = QListWidget()
        self.folder_list.setObjectName("workflowFolders")
        self.folder_list.setAccessibleName("Folders the agents may use")
        self.folder_list.setMaximumHeight(90)
        self.folder_list.setWordWrap(True)
        self.folder_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.folder_list.addItems(list(spec.workspaces) if spec else list(folders or []))
        layout.addWidget(self.folder_list)
        add = QPushButton("Add folder…")
        add.setObjectName("addWorkflowFolder")
        add.setAccessibleName("Add a folder")
        add.clicked.connect(self.on_add_folder_clicked)
        remove = QPushButton("Remove folder")
        remove.setObjectName("removeWorkflowFolder")
        remove.setAccessibleName("Remove the selected folder")
        remove.clicked.connect(self.on_remove_folder_clicked)
        layout.addWidget(button_row(add, remove))
        if spec is not None and spec.plan:
            layout.addWidget(
                muted(
                    f"Its saved plan ({len(spec.plan)} task{'s' if len(spec.plan) != 1 else ''}) is kept; "
                    "renaming a value renames it in the plan too."
                )
            )
        layout.addStretch(1)
        outer.addWidget(scrolling(body), 1)
        self.error_label = _error_label("editError")
        outer.addWidget(self.error_label)
        box, self.save_button = _buttons(self, "Save workflow", name="edit")
        box.accepted.connect(self.on_save_clicked)
        outer.addWidget(box)
        _fit_to_screen(self, 680, 640)
        self.name_input.setFocus()

    def on_add_folder_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A folder the agents may use")
        if folder:
            self.folder_list.addItem(folder)

    def on_remove_folder_clicked(self) -> None:
        for item in self.folder_list.selectedItems():
            self.folder_list.takeItem(self.folder_list.row(item))

    def spec(self) -> WorkflowSpec:
        """The workflow as edited.

        Raises:
            ValueError: Something is missing or not valid; the message says what.
        """
        from app.api import WorkflowParam, WorkflowSpec

        name = self.name_input.text().strip()
        if not name:
            raise ValueError("Give the workflow a name.")
        instruction = self.instruction_input.toPlainText().strip()
        if not instruction:
            raise ValueError("Say what the agents are asked to do.")
        params: list[WorkflowParam] = []
        renames: dict[str, str] = {}
        old = list(self.original.params) if self.original else []
        for index, row in enumerate(self.params.rows()):
            typed = row[NAME_COL]
            if not typed:
                raise ValueError("Every value needs a name (e.g. month).")
            pname = param_name(typed)
            params.append(
                WorkflowParam(
                    name=pname,
                    type=row[TYPE_COL],
                    default=row[DEFAULT_COL] or None,
                    description=row[DESCRIPTION_COL],
                )
            )
            if index < len(old) and old[index].name != pname:
                renames[old[index].name] = pname
        for before, after in renames.items():
            instruction = instruction.replace(f"{{{before}}}", f"{{{after}}}")
        folders = [self.folder_list.item(i).text() for i in range(self.folder_list.count())]
        update: dict[str, Any] = {
            "name": name,
            "description": self.description_input.text().strip(),
            "instruction": instruction,
            "params": params,
            "workspaces": folders,
        }
        if self.original is None:
            spec = WorkflowSpec.model_validate(update)
        else:
            plan = self.original.plan
            if plan is not None and renames:
                plan = [t.model_copy(update={"instructions": _rename(t.instructions, renames)}) for t in plan]
            trigger = self.original.trigger
            if trigger is not None and trigger.param in renames:
                trigger = trigger.model_copy(update={"param": renames[trigger.param or ""]})
            data = self.original.model_dump()
            data.update(update)
            data["plan"] = [t.model_dump() for t in plan] if plan is not None else None
            data["trigger"] = trigger.model_dump() if trigger is not None else None
            data["params"] = [p.model_dump() for p in params]
            spec = WorkflowSpec.model_validate(data)
        used = set(spec.placeholders())
        unused = [param_label(p.name) for p in spec.params if p.name not in used]
        if unused:
            raise ValueError(
                f"The instruction does not use {', '.join(unused)}: write "
                + ", ".join(f"{{{p.name}}}" for p in spec.params if p.name not in used)
                + " where the value goes, or remove it."
            )
        return spec

    def on_save_clicked(self) -> None:
        try:
            spec = self.spec()
        except ValueError as exc:
            self.show_error(_first_problem(exc))
            return
        self.error_label.hide()
        self.saved.emit(spec)

    def show_error(self, message: str) -> None:
        """Says why the workflow could not be saved; the dialog stays open."""
        self.error_label.setText(message)
        self.error_label.show()


def _rename(text: str, renames: dict[str, str]) -> str:
    for before, after in renames.items():
        text = text.replace(f"{{{before}}}", f"{{{after}}}")
    return text


# Saving a mission as a workflow ---------------------------------------------------------------


class SaveAsWorkflowDialog(QDialog):
    """Saves a finished mission as a workflow: the lead proposes what would change next time
    (asked in the background: the dialog shows it is busy meanwhile), and the person edits,
    removes or adds those values and names the workflow.

    Args:
        mission_id: The mission.
        title: The mission's title (the workflow's first name).
        instruction: What the mission was asked, to show (None: not known yet).

    Signals:
        save_requested(str, str, list): The workflow's name, description and the
            :class:`~app.api.ProposedParam` values to replace.
    """

    save_requested = Signal(str, str, list)

    def __init__(
        self, mission_id: str, title: str, instruction: str | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.mission_id = mission_id
        self.proposals: dict[str, ProposedParam] = {}
        self.setObjectName("saveAsWorkflowDialog")
        self.setWindowTitle("Save as workflow")
        self.setAccessibleName("Save the mission as a workflow")
        outer, body, layout = _frame(self, spacing=8)
        layout.addWidget(
            muted(
                "A workflow runs this mission again, by hand, on a schedule or when something "
                "arrives, following the same plan. Choose the values that change from one run to "
                "the next: each is replaced by a blank you fill in at every run."
            )
        )
        form = wrapping_form()
        self.name_input = QLineEdit(" ".join(title.split())[:80])
        self.name_input.setObjectName("workflowName")
        self.name_input.setAccessibleName("Workflow name")
        form.addRow("Name:", self.name_input)
        self.description_input = QLineEdit()
        self.description_input.setObjectName("workflowDescription")
        self.description_input.setAccessibleName("What it does")
        self.description_input.setPlaceholderText("One line on what it does (optional)")
        form.addRow("What it does:", self.description_input)
        layout.addLayout(form)
        layout.addWidget(QLabel("What the mission was asked:"))
        self.instruction_label = WrapLabel(instruction or "")
        self.instruction_label.setObjectName("missionInstruction")
        self.instruction_label.setAccessibleName("What the mission was asked")
        self.instruction_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.instruction_label)

        self.busy = QWidget()
        self.busy.setObjectName("proposingParams")
        busy = QHBoxLayout(self.busy)
        busy.setContentsMargins(0, 0, 0, 0)
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setMaximumWidth(120)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setAccessibleName("Working")
        busy.addWidget(self.busy_bar)
        self.busy_label = WrapLabel("The lead agent is suggesting which values could change next time…")
        self.busy_label.setAccessibleName("Suggesting values")
        busy.addWidget(self.busy_label, 1)
        layout.addWidget(self.busy)
        self.note = muted("", "proposalNote")
        self.note.hide()
        layout.addWidget(self.note)

        layout.addWidget(QLabel("Values that change from one run to the next:"))
        self.params = ParamsTable(
            [NAME_COL, VALUE_COL, TYPE_COL, DESCRIPTION_COL],
            "Each value in this mission is replaced by its name in braces, e.g. {month}, in the "
            "instruction and the saved plan. Its value here becomes the default.",
        )
        layout.addWidget(self.params)
        layout.addStretch(1)
        outer.addWidget(scrolling(body), 1)
        self.error_label = _error_label("saveAsError")
        outer.addWidget(self.error_label)
        box, self.save_button = _buttons(self, "Save workflow", name="saveAs")
        box.accepted.connect(self.on_save_clicked)
        outer.addWidget(box)
        _fit_to_screen(self, 700, 640)
        self.name_input.setFocus()
        self.name_input.selectAll()

    def set_instruction(self, instruction: str) -> None:
        """Shows what the mission was asked."""
        self.instruction_label.setText(instruction)

    def set_proposals(self, proposals: list[ProposedParam]) -> None:
        """Fills the table with the lead's proposals; the dialog is no longer busy."""
        self.busy.hide()
        self.proposals = {p.param.name: p for p in proposals}
        # The suggested name is the mission's title: its values would name every run after the
        # first one's ("… of 2026-11"), so they become blanks there too, unless the person typed.
        if not self.name_input.isModified():
            name = self.name_input.text()
            for proposal in proposals:
                if proposal.value:
                    name = name.replace(proposal.value, f"{{{proposal.param.name}}}")
            if name != self.name_input.text():
                self.name_input.setText(name)
                self.name_input.selectAll()
        for proposal in proposals:
            param = proposal.param
            self.params.add_row(
                {
                    NAME_COL: param.name,
                    VALUE_COL: proposal.value,
                    TYPE_COL: param.type,
                    DESCRIPTION_COL: param.description,
                }
            )
        if not proposals:
            self.note.setText(
                "The lead agent found nothing that would change; add a value yourself if one does."
            )
            self.note.show()

    def proposal_failed(self, message: str) -> None:
        """The lead could not propose values: the person adds them by hand."""
        self.busy.hide()
        self.note.setText(f"No suggestion this time ({message}). Add the values that change yourself.")
        self.note.show()

    def proposed(self) -> list[ProposedParam]:
        """The values as edited.

        Raises:
            ValueError: A row lacks a name or a value, or two rows have the same name.
        """
        from app.api import ProposedParam, WorkflowParam

        found: list[ProposedParam] = []
        for row in self.params.rows():
            name = param_name(row[NAME_COL])
            value = row[VALUE_COL]
            if not name or not value:
                raise ValueError("Every value needs a name and its value in this mission.")
            earlier = self.proposals.get(name)
            same = earlier is not None and earlier.value == value and earlier.param.default
            default = earlier.param.default if same and earlier is not None else value
            found.append(
                ProposedParam(
                    param=WorkflowParam(
                        name=name,
                        type=row[TYPE_COL],
                        default=default,
                        description=row[DESCRIPTION_COL],
                    ),
                    value=value,
                )
            )
        names = [p.param.name for p in found]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"Two values are named {', '.join(twice)}: give each its own name.")
        return found

    def on_save_clicked(self) -> None:
        name = " ".join(self.name_input.text().split())
        if not name:
            self.show_error("Give the workflow a name.")
            return
        try:
            params = self.proposed()
        except ValueError as exc:
            self.show_error(_first_problem(exc))
            return
        self.error_label.hide()
        self.save_button.setEnabled(False)
        self.save_requested.emit(name, self.description_input.text().strip(), params)

    def show_error(self, message: str) -> None:
        """Says why the workflow could not be saved; the dialog stays open."""
        self.error_label.setText(message)
        self.error_label.show()
        self.save_button.setEnabled(True)
