"""Review before billing: the workspace's review policy, the review queue, audit actors.

``review_policy`` holds a workspace's policy once it was changed (no row: the defaults,
see ``docs/sync-rules.md``); ``review_item`` holds each held change once per account ×
service × proposed value; ``audit_entry.actor`` names who took a review step. New tables
and a plain ADD COLUMN only: a batch copy of ``workspace`` on SQLite would cascade.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 22:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHECKS = ("change_above_units", "change_above_percent", "new_above_units")


def upgrade() -> None:
    op.create_table(
        "review_policy",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("change_above_units", sa.Integer(), nullable=True),
        sa.Column("change_above_percent", sa.Integer(), nullable=True),
        sa.Column("new_above_units", sa.Integer(), nullable=True),
        sa.Column("any_price_change", sa.Boolean(), nullable=False),
        sa.Column("drop_to_zero", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        *(
            sa.CheckConstraint(f"{name} >= 0", name=op.f(f"ck_review_policy_{name}"))
            for name in _CHECKS
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_review_policy_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_review_policy")),
    )
    op.add_column("audit_entry", sa.Column("actor", sa.Text(), nullable=True))
    op.create_table(
        "review_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("proposal_key", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("halo_client_id", sa.Integer(), nullable=True),
        sa.Column("recurring_invoice_id", sa.Integer(), nullable=True),
        sa.Column("halo_record_id", sa.Integer(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_run_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected')", name=op.f("ck_review_item_status")
        ),
        sa.CheckConstraint(
            "target IN ('licence', 'invoice_line')", name=op.f("ck_review_item_target")
        ),
        sa.CheckConstraint("action IN ('create', 'update')", name=op.f("ck_review_item_action")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_review_item_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["service.id"],
            name=op.f("fk_review_item_service_id_service"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["first_run_id"],
            ["sync_run.id"],
            name=op.f("fk_review_item_first_run_id_sync_run"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_review_item_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_item")),
        sa.UniqueConstraint(
            "workspace_id",
            "account_id",
            "service_id",
            "proposal_key",
            name=op.f("uq_review_item_workspace_id_account_id_service_id_proposal_key"),
        ),
    )
    op.create_index(
        op.f("ix_review_item_workspace_id_status"),
        "review_item",
        ["workspace_id", "status"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_review_item_workspace_id_status"), table_name="review_item")
    op.drop_table("review_item")
    op.drop_column("audit_entry", "actor")
    op.drop_table("review_policy")
