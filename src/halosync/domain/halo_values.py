"""How halosync rounds, compares and formats values the way HaloPSA stores them.

Halo keeps money and invoice quantities as doubles backed by 4-decimal money columns, and
answers with float noise (``10.329999999999998``). Every value halosync reads from Halo or
writes to it is rounded half-up to 4 places by :func:`halo_decimal` (the one decimal rule:
the planner and ``halopsa.models`` both call it), and two values are "the same" when they
are equal at 4 places, so a repeat run with nothing changed writes nothing. Reading Halo's
dates (and its "no date" sentinels) is ``halosync.halopsa.models.halo_day``'s job.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from halosync.domain.models import HaloValue
from halosync.domain.numbers import json_count

HALO_DECIMAL_PLACES = 4
_QUANTUM = Decimal(1).scaleb(-HALO_DECIMAL_PLACES)


def halo_decimal(value: Decimal | float | int | str) -> Decimal:
    """``value`` rounded half-up to Halo's 4 decimal places (floats via their repr)."""
    as_decimal = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return as_decimal.quantize(_QUANTUM, rounding=ROUND_HALF_UP)


def same_value(left: HaloValue, right: HaloValue) -> bool:
    """Equality as Halo sees it: numbers equal at 4 places, everything else exactly."""
    if isinstance(left, bool) or isinstance(right, bool):
        return left == right
    if isinstance(left, Decimal | int) and isinstance(right, Decimal | int):
        return halo_decimal(left) == halo_decimal(right)
    return left == right


def halo_date(value: date) -> str:
    """A date in the form Halo's billing objects use: ``YYYY-MM-DDT00:00:00``."""
    return f"{value.isoformat()}T00:00:00"


def json_value(value: HaloValue) -> str | int | float | bool | None:
    """A value fit for JSON: whole Decimals as int, others as float (4 places); dates as
    Halo shows them (:func:`halo_date`)."""
    if isinstance(value, Decimal):
        return json_count(value)
    if isinstance(value, date):
        return halo_date(value)
    return value


def json_fields(fields: Mapping[str, HaloValue]) -> dict[str, str | int | float | bool | None]:
    """``fields`` with every value passed through :func:`json_value`."""
    return {name: json_value(value) for name, value in fields.items()}
