"""Quantity rules (issue 17): minimum, free quantity, ceiling, rounding, terms, price
ownership and exclusions, per workspace, service, account or account × service.

Versions are rows: a change inserts a row, nothing is updated in place, so the rule in
force on a day is the row of its scope with the greatest ``valid_from`` on or before it
(ties: the latest id) and the past is never rewritten. A cleared rule is a row with every
field NULL. A new table only.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 02:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SCOPE_KEYS = (
    "(scope = 'workspace' AND account_id IS NULL AND service_id IS NULL)"
    " OR (scope = 'service' AND account_id IS NULL AND service_id IS NOT NULL)"
    " OR (scope = 'account' AND account_id IS NOT NULL AND service_id IS NULL)"
    " OR (scope = 'account_service' AND account_id IS NOT NULL AND service_id IS NOT NULL)"
)
_CHECKS = {
    "scope": "scope IN ('workspace', 'service', 'account', 'account_service')",
    "scope_keys": _SCOPE_KEYS,
    "minimum": "minimum >= 0",
    "free": "free >= 0",
    "ceiling": "ceiling >= 0",
    "multiple": "multiple >= 1",
    "rounding": "rounding IN ('up', 'down', 'nearest')",
    "terms": "terms IN ('sum', 'apart', 'pick')",
    "terms_pick": "terms_pick IN ('longest', 'shortest', 'largest')",
    "price_owner": "price_owner IN ('halosync', 'halo', 'markup')",
}


def upgrade() -> None:
    op.create_table(
        "quantity_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("service_id", sa.Integer(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("minimum", sa.Integer(), nullable=True),
        sa.Column("free", sa.Integer(), nullable=True),
        sa.Column("ceiling", sa.Integer(), nullable=True),
        sa.Column("rounding", sa.String(length=8), nullable=True),
        sa.Column("multiple", sa.Integer(), nullable=True),
        sa.Column("terms", sa.String(length=8), nullable=True),
        sa.Column("terms_pick", sa.String(length=8), nullable=True),
        sa.Column("price_owner", sa.String(length=8), nullable=True),
        sa.Column("markup_percent", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("fixed_price", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("excluded", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        *(
            sa.CheckConstraint(check, name=op.f(f"ck_quantity_rule_{name}"))
            for name, check in _CHECKS.items()
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_quantity_rule_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["service.id"],
            name=op.f("fk_quantity_rule_service_id_service"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_quantity_rule_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quantity_rule")),
    )
    op.create_index(
        op.f("ix_quantity_rule_workspace_id_valid_from"),
        "quantity_rule",
        ["workspace_id", "valid_from"],
        unique=False,
    )
    op.create_index(
        op.f("ix_quantity_rule_workspace_id_scope_account_id_service_id"),
        "quantity_rule",
        ["workspace_id", "scope", "account_id", "service_id"],
        unique=False,
    )
    op.create_index(op.f("ix_quantity_rule_account_id"), "quantity_rule", ["account_id"])
    op.create_index(op.f("ix_quantity_rule_service_id"), "quantity_rule", ["service_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_quantity_rule_service_id"), table_name="quantity_rule")
    op.drop_index(op.f("ix_quantity_rule_account_id"), table_name="quantity_rule")
    op.drop_index(
        op.f("ix_quantity_rule_workspace_id_scope_account_id_service_id"),
        table_name="quantity_rule",
    )
    op.drop_index(op.f("ix_quantity_rule_workspace_id_valid_from"), table_name="quantity_rule")
    op.drop_table("quantity_rule")
