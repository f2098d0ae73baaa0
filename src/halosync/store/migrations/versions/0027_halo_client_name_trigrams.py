"""PostgreSQL: a trigram index of the Halo clients' names, for the mapping picker's search.

The picker lists the unmapped Halo clients whose name contains a term, by name. Without
statistics on ``lower(name)`` PostgreSQL guessed a term matches a handful of clients and
read and sorted every client (0.5-0.9 s at 100,000 clients) where the name index reads
twenty; the index gives it those statistics, and a seek for a term few names contain.
Made only where pg_trgm is installed (migration 0022 creates it when it may); without it,
nothing, and ``halosync doctor`` says how to add both. SQLite: nothing.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 06:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_halo_client_name_trigrams"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema = bind.scalar(
        text(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
            " WHERE e.extname = 'pg_trgm'"
        )
    )
    if schema is not None:
        op.execute(
            f'CREATE INDEX {INDEX} ON halo_client USING gin ((lower(name)) "{schema}".gin_trgm_ops)'
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")
