"""The term joins the keys of subscriptions and ledger rows (issue 17, terms).

A vendor may sell one service to one account in several terms at once (monthly and annual):
``subscription`` is unique per workspace, account, service **and term**, so one term no
longer overwrites another. ``ledger_entry.apart_term`` names the term of a record kept
apart (one licence / line per term, the terms rule ``apart``); ``''`` — every existing
row — is the account × service as one record, as before, so existing ledgers and markers
stay valid.

SQLite changes a unique constraint by copying the table (batch mode); neither table is
referenced by a foreign key, so nothing cascades.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SUBSCRIPTION_KEY = ["workspace_id", "account_id", "service_id"]
_LEDGER_KEY = ["workspace_id", "account_id", "service_id", "target", "halo_client_id"]


def _name(table: str, columns: list[str]) -> str:
    # op.f: the naming convention's name, shortened as SQLAlchemy shortens it where
    # PostgreSQL's 63 characters are too few (the ledger's key already is).
    return op.f(f"uq_{table}_{'_'.join(columns)}")


def upgrade() -> None:
    with op.batch_alter_table("subscription") as batch:
        batch.drop_constraint(_name("subscription", _SUBSCRIPTION_KEY), type_="unique")
        batch.create_unique_constraint(
            _name("subscription", [*_SUBSCRIPTION_KEY, "term"]), [*_SUBSCRIPTION_KEY, "term"]
        )
    with op.batch_alter_table("ledger_entry") as batch:
        batch.add_column(
            sa.Column(
                "apart_term", sa.String(length=255), server_default=sa.text("''"), nullable=False
            )
        )
        batch.drop_constraint(_name("ledger_entry", _LEDGER_KEY), type_="unique")
        batch.create_unique_constraint(
            _name("ledger_entry", [*_LEDGER_KEY, "apart_term"]), [*_LEDGER_KEY, "apart_term"]
        )


def downgrade() -> None:
    # Only possible while no account × service has several terms (or records kept apart).
    with op.batch_alter_table("ledger_entry") as batch:
        batch.drop_constraint(_name("ledger_entry", [*_LEDGER_KEY, "apart_term"]), type_="unique")
        batch.create_unique_constraint(_name("ledger_entry", _LEDGER_KEY), _LEDGER_KEY)
        batch.drop_column("apart_term")
    with op.batch_alter_table("subscription") as batch:
        batch.drop_constraint(_name("subscription", [*_SUBSCRIPTION_KEY, "term"]), type_="unique")
        batch.create_unique_constraint(_name("subscription", _SUBSCRIPTION_KEY), _SUBSCRIPTION_KEY)
