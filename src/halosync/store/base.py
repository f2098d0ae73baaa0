"""The metadata and the column types every table shares (SQLAlchemy Core only: the ORM's
declarative base is in :mod:`halosync.store.models`).

Constraint names follow one convention so that migrations are deterministic and can be
dropped by name on both SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, MetaData, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from halosync.domain.numbers import exact_count

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
METADATA = MetaData(naming_convention=NAMING_CONVENTION)
"""Every halosync table, whether declared by an ORM model or in :mod:`halosync.store.tables`."""


IN_CHUNK = 500  # values bound per IN (...) list: well inside SQLite's and PostgreSQL's limits
BULK_IN_CHUNK = 2000
"""Values per IN (...) list on the paths that read or write 100,000 rows (a sync's inputs,
a pull of Halo's records): fewer statements, still under every database's limit."""


def in_chunks(values: Iterable[Any], size: int = IN_CHUNK) -> Iterator[list[Any]]:
    """``values`` without duplicates, sorted, in lists of ``size`` for one IN (...) each."""
    ordered = sorted(set(values))
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (the only kind the store keeps)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    SQLite keeps no zone, so values are normalised to UTC on the way in and tagged UTC on
    the way out; naive datetimes are refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps timezone-aware UTC only")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """An amount with four decimals, always returned as ``Decimal``."""

    impl = Numeric(18, 4, asdecimal=True)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return Decimal(value).quantize(Decimal("0.0001"))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)).quantize(Decimal("0.0001"))


QUANTITY_PLACES = 4
"""Decimal places a vendor count keeps (12.4 GB, 2.5 seats): Halo's own 4 places."""
_QUANTITY_STEP = Decimal(1).scaleb(-QUANTITY_PLACES)


def stored_quantity(value: Decimal | int) -> Decimal:
    """``value`` as a quantity column keeps it: exact at :data:`QUANTITY_PLACES` places.

    More places are refused, never rounded or cut (the import refuses them first, naming
    the row and field; this guards every other writer)."""
    exact = Decimal(value)
    kept = exact.quantize(_QUANTITY_STEP)
    if kept != exact:
        raise ValueError(
            f"quantity {exact} has more than {QUANTITY_PLACES} decimal places; it is stored "
            "exactly or not at all"
        )
    return kept


def read_quantity(value: Any) -> Decimal:
    """A stored quantity as a ``Decimal``: 12 (not 12.0000) for a whole count, 12.4 for a
    fraction. SQLite hands back a float or an int, PostgreSQL a Decimal."""
    return exact_count(Decimal(str(value)).quantize(_QUANTITY_STEP))


class Quantity(TypeDecorator[Decimal]):
    """A vendor count (or one written to Halo): exact to four decimal places, returned as
    ``Decimal``. Below 10^10 with four places stays exact on SQLite too (a double)."""

    impl = Numeric(14, QUANTITY_PLACES, asdecimal=True)
    cache_ok = True

    def process_bind_param(self, value: Decimal | int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return stored_quantity(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return read_quantity(value)
