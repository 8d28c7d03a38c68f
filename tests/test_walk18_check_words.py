"""A check's audit line says what the check saw (its evidence), in words, so that the window's
audit and ``ensemble audit`` show each check with its evidence, not only in the raw data."""

from __future__ import annotations

from app.orchestrator._check import _evidence_words


def test_the_evidence_is_named_in_words() -> None:
    assert _evidence_words(["invoices.xlsx, Invoices!D2 = 42"]) == " Seen: invoices.xlsx, Invoices!D2 = 42."


def test_long_evidence_is_clipped_and_counted() -> None:
    said = _evidence_words([f"row {n}" for n in range(1, 9)] + ["x" * 300])
    assert said.startswith(" Seen: row 1; row 2; row 3; row 4; row 5; and 4 more.")
    assert len(_evidence_words(["y" * 300])) < 140


def test_no_evidence_says_nothing() -> None:
    assert _evidence_words([]) == ""
    assert _evidence_words(["  "]) == ""
