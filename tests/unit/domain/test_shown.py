"""Values quoted in error messages read as the input spelled them, never as Python reprs."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from halosync.domain.rules import QuantityRule, rule_problems
from halosync.domain.shown import shown


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (1e-5, "1e-5"),
        (1e20, "1e20"),
        (2.5, "2.5"),
        (float("nan"), "NaN"),
        (float("-inf"), "-Infinity"),
        (7, "7"),
        (Decimal("-50"), "-50"),
        (Decimal("12.50"), "12.50"),
        ("yes", '"yes"'),
        ([1, None], "[1, null]"),
        ({"a": True}, '{"a": true}'),
        ("x" * 50, '"' + "x" * 37 + '..."'),
    ],
)
def test_a_value_is_shown_in_the_words_of_its_input(value: Any, expected: str) -> None:
    assert shown(value) == expected


@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers() | st.booleans())
def test_a_json_number_or_literal_reads_back_as_the_same_value(value: float | bool) -> None:
    text = shown(value)
    if len(text) <= 40:
        assert json.loads(text) == value


def test_a_rule_refusal_shows_the_number_as_typed() -> None:
    problems = rule_problems(
        "service", QuantityRule(price_owner="markup", markup_percent=Decimal("-50"))
    )
    assert "markup_percent: must be a number of 0 or more (got -50)" in problems
    assert any("(got true)" in p for p in rule_problems("service", QuantityRule(free=True)))
    assert any(
        p.endswith('(got "sideways")')
        for p in rule_problems("service", QuantityRule(rounding="sideways"))  # type: ignore[arg-type]
    )
