"""Cell values in and out: what the model is shown of a cell, and what it sends to write.

Out: numbers, ISO dates, times and durations, text, or null (:func:`_json_value`), and a CSV
field read as a number where it plainly is one (:func:`_csv_value`). In: a value the model
sends, classified as text, a number, a formula or a date (:func:`_classify`), with the
conventions :data:`CellInput` describes to it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from contextlib import suppress
from dataclasses import dataclass
from typing import Annotated, Literal, TypeAlias

from openpyxl.formula.tokenizer import Tokenizer, TokenizerError
from pydantic import Field, FiniteFloat, StrictBool, StrictInt, StrictStr

from connectors.base import ToolError
from connectors.spreadsheet._a1 import EXCEL_MAX_TEXT

CellValue: TypeAlias = str | int | float | bool | None
"""A cell's value as these tools hand it to the model (dates as ISO text)."""

CellInput = Annotated[
    StrictBool | StrictInt | FiniteFloat | StrictStr | None,
    Field(
        description=(
            "A cell value: text, a number, true/false, or null for an empty cell. Text starting "
            "with '=' is a formula (e.g. '=SUM(B2:B9)'); text in ISO form ('2024-05-31' or "
            "'2024-05-31T14:30:00') is stored as a date. Start text with an apostrophe to store "
            'it exactly as written, e.g. "\'=not a formula" or "\'2024-05-31".'
        )
    ),
]


_MAX_EXACT_INT = 2**53
"""Floats beyond this are not shown as ints: a double cannot hold every integer past it."""


def _iso_duration(value: dt.timedelta) -> str:
    """Renders a duration as ISO 8601 in hours, as Excel's [h]:mm:ss shows it: PT255H10M10S."""
    micros = round(value.total_seconds() * 1_000_000)
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    hours, micros = divmod(micros, 3_600_000_000)
    minutes, micros = divmod(micros, 60_000_000)
    seconds, micros = divmod(micros, 1_000_000)
    second_text = f"{seconds}.{micros:06d}".rstrip("0") if micros else str(seconds)
    return f"{sign}PT{hours}H{minutes}M{second_text}S"


def _number(value: float) -> int | float | str:
    if not math.isfinite(value):
        return str(value)
    if value.is_integer() and abs(value) < _MAX_EXACT_INT:
        return int(value)
    return value


def _json_value(value: object) -> CellValue:
    """Turns a value from python-calamine or openpyxl into what the model is shown.

    Integral numbers become ints, dates and times ISO text, an empty string null (calamine
    reads an empty cell as ""), and anything else its text.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _iso_duration(value)
    return str(value)


_CSV_INT_RE = re.compile(r"^-?(?:0|[1-9][0-9]*)$")
_CSV_FLOAT_RE = re.compile(r"^-?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")


def _csv_value(text: str) -> CellValue:
    """Reads a CSV field: numbers become numbers, "" null, anything else stays text.

    Text with leading zeros ("007"), spaces, a plus sign or thousands separators stays text,
    so codes and identifiers are not mangled.
    """
    if text == "":
        return None
    if _CSV_INT_RE.match(text):
        return int(text)
    if _CSV_FLOAT_RE.match(text):
        with suppress(OverflowError):
            return _number(float(text))
    return text


_ISO_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_ISO_DATETIME_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?$")

_InputKind = Literal["empty", "bool", "number", "text", "formula", "date"]


@dataclass(frozen=True)
class _Input:
    """One value to write, classified.

    Attributes:
        kind: What it is.
        value: What to store: the formula text with its "=", text without a marking
            apostrophe, a number, a bool, a date or datetime, or None.
        shown: How the preview shows it: what the model sent.
    """

    kind: _InputKind
    value: str | int | float | bool | dt.date | dt.datetime | None
    shown: CellValue


def _classify(raw: CellValue) -> _Input:
    """Classifies a value the model sent; see :data:`CellInput` for the conventions.

    Raises:
        ToolError: The text is longer than a cell holds, or a formula is malformed.
    """
    if raw is None or raw == "":
        return _Input("empty", None, None)
    if isinstance(raw, bool):
        return _Input("bool", raw, raw)
    if isinstance(raw, int | float):
        return _Input("number", raw, raw)
    if len(raw) > EXCEL_MAX_TEXT:
        raise ToolError(f"A value is {len(raw):,} characters long; a cell holds at most {EXCEL_MAX_TEXT:,}.")
    if raw.startswith("'"):
        return _Input("text", raw[1:], raw)
    if raw.startswith("=") and len(raw) > 1:
        _check_formula(raw)
        return _Input("formula", raw, raw)
    if _ISO_DATE_RE.match(raw):
        with suppress(ValueError):
            return _Input("date", dt.date.fromisoformat(raw), raw)
    if _ISO_DATETIME_RE.match(raw):
        with suppress(ValueError):
            return _Input("date", dt.datetime.fromisoformat(raw), raw)
    return _Input("text", raw, raw)


def _check_formula(formula: str) -> None:
    """Refuses a formula that Excel would reject when opening the file.

    Raises:
        ToolError: Unbalanced brackets or quotes, or a formula ending in an operator.
    """
    problem = f"The formula {formula} is not valid"
    try:
        tokens = Tokenizer(formula).items
    except (TokenizerError, IndexError) as exc:
        # openpyxl's tokenizer raises TokenizerError for unclosed quotes and brackets, and
        # IndexError (popping its bracket stack) for a closing bracket that has no opening.
        raise ToolError(f"{problem}: {exc}. Check its quotes and brackets.") from exc
    depth = 0
    for token in tokens:
        if token.subtype == "OPEN":
            depth += 1
        elif token.subtype == "CLOSE":
            depth -= 1
    if depth:
        raise ToolError(f"{problem}: its brackets do not balance.")
    if tokens and tokens[-1].type == "OPERATOR-INFIX":
        raise ToolError(f"{problem}: it ends with the operator '{tokens[-1].value}'.")


def _shown(value: CellValue) -> str:
    """A value as the plain-text preview prints it."""
    if value is None:
        return "(empty)"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return str(value)
