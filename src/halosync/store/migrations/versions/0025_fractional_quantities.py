"""Vendor counts may be fractional (12.4 GB, 2.5 seats): quantities become exact decimals.

``subscription.quantity`` (the vendor's count) and ``ledger_entry.last_quantity`` (what
halosync last wrote: a licence's whole count, or an invoice line's ``qty_order``, which
Halo keeps as a decimal) become ``NUMERIC(14, 4)``: four decimal places, as Halo keeps
them, and room for a licence count's int32. Every stored whole number keeps its value.

Halo's licence ``count`` stays an int (a fraction reaches it only through a rounding rule),
and the review queue's and run results' before/after are JSON numbers already.

The downgrade refuses while a fractional quantity is stored: cutting it to a whole number
would change what is billed.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (("subscription", "quantity", False), ("ledger_entry", "last_quantity", True))
_DECIMAL = sa.Numeric(14, 4)


def upgrade() -> None:
    for table, column, nullable in _COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column,
                existing_type=sa.Integer(),
                type_=_DECIMAL,
                existing_nullable=nullable,
                postgresql_using=f"{column}::numeric(14, 4)",
            )


def downgrade() -> None:
    connection = op.get_bind()
    for table, column, _nullable in _COLUMNS:
        # Built from the constant names above only.
        fractional = connection.execute(
            sa.text(f"SELECT count(*) FROM {table} WHERE {column} <> round({column})")  # noqa: S608
        ).scalar()
        if fractional:
            raise RuntimeError(
                f"{fractional} row(s) of {table}.{column} hold a fractional quantity; an "
                "integer column cannot keep it. Round them first (or keep this version)."
            )
    for table, column, nullable in _COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column,
                existing_type=_DECIMAL,
                type_=sa.Integer(),
                existing_nullable=nullable,
                postgresql_using=f"{column}::integer",
            )
