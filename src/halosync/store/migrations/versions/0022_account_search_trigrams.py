"""PostgreSQL: a trigram index for the account grid's search box (pg_trgm).

The search box finds the accounts whose name, reference, Halo client name or Halo client
id contain a term, ignoring case (``lower(column) LIKE '%term%'``): no B-tree can seek a
substring, so every search read every account of the workspace (200-600 ms at 100,000
accounts). A GIN index of the trigrams of those four lowered columns lets PostgreSQL read
only the accounts that hold every trigram of the term. The queries do not change: the
index serves them when it is there.

pg_trgm ships with PostgreSQL but is an extension: it is created here when the database
lets this user (a trusted extension needs CREATE on the database), where it already lives
when it is installed. When it cannot be, the migration goes on without the index, logs a
warning, and ``halosync doctor`` says what to run (searches still work, reading every row).
SQLite: nothing (a search there reads one narrow index, under 30 ms at 100,000).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 05:30:00
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from alembic import op
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_account_search_trigrams"
_COLUMNS = ("lower(name)", "lower(ref)", "lower(mapped_client_name)")
_CLIENT_ID = "lower(CAST(mapped_client_id AS VARCHAR))"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    find = text(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'pg_trgm'"
    )
    schema = bind.scalar(find)
    if schema is None:
        try:
            with bind.begin_nested():
                bind.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        except DBAPIError as error:  # not installed on the server, or not allowed
            logging.getLogger("halosync.migrations").warning(
                "pg_trgm is not available (%s): the account grid's search reads every"
                " account; `halosync doctor` says how to add the index",
                str(error).splitlines()[0],
            )
            return
        schema = bind.scalar(find)
    # The operator class by its schema: a search_path without it (another schema's) works.
    ops = f'"{schema}".gin_trgm_ops'
    columns = ", ".join(f"({column}) {ops}" for column in (*_COLUMNS, _CLIENT_ID))
    op.execute(f"CREATE INDEX {INDEX} ON account USING gin ({columns})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # The extension stays: other schemas of the database may use it.
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")
