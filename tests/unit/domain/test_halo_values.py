"""Dates as halosync writes them to Halo and reads them back in Halo's form."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from halosync.domain.halo_values import halo_date, halo_decimal
from halosync.halopsa.models import InvoiceLine, SoftwareLicence, halo_day, halo_json


@given(st.dates(min_value=date(1902, 1, 1), max_value=date(9999, 12, 31)))
def test_a_written_date_reads_back_as_itself(day: date) -> None:
    assert halo_day(halo_date(day)) == day
    assert halo_json(day) == halo_date(day)


@pytest.mark.parametrize(
    ("answered", "day"),
    [
        ("2025-03-20T18:50:25.057", date(2025, 3, 20)),
        ("2023-07-22T13:54:46.32", date(2023, 7, 22)),
        ("2026-08-05T05:32:44.99+00:00", date(2026, 8, 5)),
        ("2024-04-30T23:00:00", date(2024, 4, 30)),
    ],
)
def test_halos_datetime_forms_read_as_their_date(answered: str, day: date) -> None:
    assert halo_day(answered) == day
    assert SoftwareLicence.model_validate({"id": 1, "start_date": answered}).start_date == day


@pytest.mark.parametrize(
    "sentinel",
    ["1899-12-30T00:00:00", "1900-01-01T00:00:00", "1901-01-01T00:00:00", "0001-01-01T00:00:00"],
)
def test_halos_no_date_sentinels_are_no_date_on_both_read_paths(sentinel: str) -> None:
    assert halo_day(sentinel) is None
    licence = SoftwareLicence.model_validate({"id": 1, "end_date": sentinel})
    assert licence.end_date is None
    assert InvoiceLine.model_validate({"startdate": sentinel}).startdate is None


@pytest.mark.parametrize(
    ("answered", "read"),
    [
        (10.329999999999998, Decimal("10.3300")),
        ("2.00005", Decimal("2.0001")),
        (3, Decimal("3.0000")),
        (Decimal("0.12344"), Decimal("0.1234")),
    ],
)
def test_money_and_quantities_read_by_the_one_decimal_rule(answered: object, read: Decimal) -> None:
    """What Halo answers is rounded like what halosync writes (``halo_decimal``)."""
    assert halo_decimal(answered) == read  # type: ignore[arg-type]
    line = InvoiceLine.model_validate({"qty_order": answered, "unit_price": answered})
    assert (line.qty_order, line.unit_price) == (read, read)
    assert SoftwareLicence.model_validate({"id": 1, "price": answered}).price == read
