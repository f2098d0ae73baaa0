"""Numbers people type are ASCII digits: one parser, and every entry point uses it.

"１２" (fullwidth), "١٢" (Arabic-Indic), "१२" (Devanagari) and "²" are digits to Python's
``int()``, ``Decimal()`` or ``str.isdigit``; none of them is a count, a price, a Halo id, a
day or a time anywhere in halosync.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from halosync.domain.numbers import json_count, parse_decimal, parse_integer
from halosync.domain.schedule import Schedule, parse_month_day, parse_time_of_day
from halosync.errors import ValidationFailedError
from halosync.web.ui.forms import whole_number
from tests.cli_inprocess import home_env, run_cli

LOOK_ALIKES = ["１２", "١٢", "१२", "²", "1２", "１.５", "٣٫٥", "12\u0660", "⑫", "1_000", "1e2"]
_NON_ASCII_DIGIT = st.characters(categories=["Nd", "No"]).filter(lambda c: not c.isascii())


@given(st.integers(-(10**30), 10**30), st.sampled_from(["", " ", "\t"]))
def test_ascii_integers_read_back(number: int, pad: str) -> None:
    assert parse_integer(f"{pad}{number}{pad}") == number
    assert parse_integer(f"+{abs(number)}") == abs(number)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=4))
def test_ascii_decimals_read_back(number: Decimal) -> None:
    assert parse_decimal(f"{number:f}") == number


@given(st.text(alphabet="0123456789.+-", max_size=6), _NON_ASCII_DIGIT, st.data())
def test_a_non_ascii_digit_anywhere_is_not_a_number(
    ascii_part: str, digit: str, data: st.DataObject
) -> None:
    at = data.draw(st.integers(0, len(ascii_part)))
    text = ascii_part[:at] + digit + ascii_part[at:]
    assert parse_integer(text) is None
    assert parse_decimal(text) is None
    assert whole_number(text) is None


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_are_refused_by_every_parser(text: str) -> None:
    assert parse_integer(text) is None
    assert parse_decimal(text) is None
    assert whole_number(text) is None
    assert parse_time_of_day(f"{text}:00") is None
    assert parse_month_day(text) is None
    with pytest.raises(ValidationFailedError):
        Schedule.parse(f"monthly {text} 18:00")
    with pytest.raises(ValidationFailedError):
        Schedule.parse(f"daily {text}:00")


def test_bounds_huge_and_odd_spellings() -> None:
    assert whole_number("2147483648") is None
    assert whole_number("9" * 5000) is None  # never handed to int(): no ValueError
    assert parse_integer("00012", minimum=1, maximum=12) == 12
    assert parse_decimal("NaN") is None
    assert parse_decimal("Infinity") is None
    assert parse_decimal(".5") == Decimal("0.5")
    assert parse_decimal("5.") == Decimal("5")


def _cli(home: Path, *args: str) -> tuple[int, str]:
    code, _, err = run_cli(home_env(home), *args)
    return code, err


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory and database with one workspace, shared by the CLI cases."""
    home = tmp_path_factory.mktemp("numbers-cli")
    assert _cli(home, "workspace", "create", "acme")[0] == 0
    return home


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--daily", "１８:００"], "--daily '１８:００' is not a time"),
        (["--daily", "١٨:٠٠"], "--daily '١٨:٠٠' is not a time"),
        (["--monthly", "²", "--at", "18:00"], "--monthly '²' is not a day"),
        (["--monthly", "٣", "--at", "18:00"], "--monthly '٣' is not a day"),
        (["--monthly", "3", "--at", "１８:00"], "--at '１８:00' is not a time"),
    ],
)
def test_cli_schedule_refuses_look_alike_digits_without_a_traceback(
    cli_home: Path, args: list[str], message: str
) -> None:
    code, err = _cli(cli_home, "schedule", "set", "--kind", "usage", *args)
    assert (code, "Traceback" in err) == (1, False), err
    assert message in err


@given(st.decimals(min_value=0, max_value=10**9, places=4, allow_nan=False))
def test_a_json_count_is_whole_when_the_count_is_and_keeps_its_value(count: Decimal) -> None:
    number = json_count(count)
    assert Decimal(repr(number)) == count
    assert isinstance(number, int) == (count == count.to_integral_value())
