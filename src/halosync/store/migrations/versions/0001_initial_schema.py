"""Initial schema: workspaces, usage data, Halo mirror, mappings, ledger, runs, logs, tokens.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 05:05:54.370679
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "halo_rate_slot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_key", sa.Text(), nullable=False),
        sa.Column("slot_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_halo_rate_slot")),
    )
    op.create_index(
        op.f("ix_halo_rate_slot_instance_key_slot_at"),
        "halo_rate_slot",
        ["instance_key", "slot_at"],
        unique=False,
    )

    op.create_table(
        "workspace",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("target", sa.String(length=16), server_default="licence", nullable=False),
        sa.Column("price_mode", sa.String(length=8), server_default="off", nullable=False),
        sa.Column(
            "create_licence_on_mapping",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
        ),
        sa.Column(
            "adopt_existing_lines", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column(
            "sync_cooldown_minutes", sa.Integer(), server_default=sa.text("60"), nullable=False
        ),
        sa.Column("log_retention_days", sa.Integer(), server_default=sa.text("30"), nullable=False),
        sa.Column("notify_email", sa.Text(), nullable=True),
        sa.Column(
            "notify_on_success", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column(
            "notify_on_failure", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("last_customers_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_usage_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "price_mode IN ('off', 'totals', 'unit')", name=op.f("ck_workspace_price_mode")
        ),
        sa.CheckConstraint(
            "target IN ('licence', 'invoice_line')", name=op.f("ck_workspace_target")
        ),
        sa.CheckConstraint("log_retention_days >= 1", name=op.f("ck_workspace_log_retention_days")),
        sa.CheckConstraint(
            "sync_cooldown_minutes >= 0", name=op.f("ck_workspace_sync_cooldown_minutes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspace")),
        sa.UniqueConstraint("name", name=op.f("uq_workspace_name")),
    )
    op.create_table(
        "account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("billed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'trial', 'suspended', 'cancelled')",
            name=op.f("ck_account_status"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_account_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account")),
        sa.UniqueConstraint("workspace_id", "ref", name=op.f("uq_account_workspace_id_ref")),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('admin', 'viewer')", name=op.f("ck_api_token_role")),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_api_token_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    op.create_index(op.f("ix_api_token_workspace_id"), "api_token", ["workspace_id"], unique=False)

    op.create_table(
        "halo_client",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("halo_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("inactive", sa.Boolean(), nullable=False),
        sa.Column("gone", sa.Boolean(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_halo_client_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_halo_client")),
        sa.UniqueConstraint(
            "workspace_id", "halo_id", name=op.f("uq_halo_client_workspace_id_halo_id")
        ),
    )
    op.create_table(
        "halo_connection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("server_url", sa.Text(), nullable=False),
        sa.Column("auth_server_url", sa.Text(), nullable=True),
        sa.Column("tenant", sa.Text(), nullable=True),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("client_secret_encrypted", sa.Text(), nullable=False),
        sa.Column("configured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_successful_test_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_test_message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_halo_connection_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_halo_connection")),
        sa.UniqueConstraint("workspace_id", name=op.f("uq_halo_connection_workspace_id")),
    )
    op.create_table(
        "halo_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("halo_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("inactive", sa.Boolean(), nullable=False),
        sa.Column("gone", sa.Boolean(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_halo_item_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_halo_item")),
        sa.UniqueConstraint(
            "workspace_id", "halo_id", name=op.f("uq_halo_item_workspace_id_halo_id")
        ),
    )
    op.create_table(
        "halo_recurring_invoice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("halo_id", sa.Integer(), nullable=False),
        sa.Column("halo_client_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("inactive", sa.Boolean(), nullable=False),
        sa.Column("gone", sa.Boolean(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_halo_recurring_invoice_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_halo_recurring_invoice")),
        sa.UniqueConstraint(
            "workspace_id", "halo_id", name=op.f("uq_halo_recurring_invoice_workspace_id_halo_id")
        ),
    )
    op.create_index(
        op.f("ix_halo_recurring_invoice_workspace_id_halo_client_id"),
        "halo_recurring_invoice",
        ["workspace_id", "halo_client_id"],
        unique=False,
    )

    op.create_table(
        "idempotency_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_idempotency_record_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_record")),
        sa.UniqueConstraint(
            "workspace_id", "key", name=op.f("uq_idempotency_record_workspace_id_key")
        ),
    )
    op.create_table(
        "service",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_service_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service")),
        sa.UniqueConstraint("workspace_id", "ref", name=op.f("uq_service_workspace_id_ref")),
    )
    op.create_table(
        "account_mapping",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("halo_client_id", sa.Integer(), nullable=False),
        sa.Column("recurring_invoice_id", sa.Integer(), nullable=True),
        sa.Column("mapped_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_account_mapping_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_account_mapping_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_mapping")),
        sa.UniqueConstraint(
            "workspace_id", "account_id", name=op.f("uq_account_mapping_workspace_id_account_id")
        ),
        sa.UniqueConstraint(
            "workspace_id",
            "halo_client_id",
            name=op.f("uq_account_mapping_workspace_id_halo_client_id"),
        ),
    )
    op.create_table(
        "service_mapping",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("halo_item_id", sa.Integer(), nullable=False),
        sa.Column("mapped_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["service.id"],
            name=op.f("fk_service_mapping_service_id_service"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_service_mapping_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_mapping")),
        sa.UniqueConstraint(
            "workspace_id", "service_id", name=op.f("uq_service_mapping_workspace_id_service_id")
        ),
    )
    op.create_table(
        "subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("billing_cycle", sa.String(length=255), nullable=False),
        sa.Column("term", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=255), nullable=True),
        sa.Column("cost_price", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("customer_price", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_subscription_quantity")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_subscription_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["service.id"],
            name=op.f("fk_subscription_service_id_service"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_subscription_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription")),
        sa.UniqueConstraint(
            "workspace_id",
            "account_id",
            "service_id",
            name=op.f("uq_subscription_workspace_id_account_id_service_id"),
        ),
    )
    op.create_index(
        op.f("ix_subscription_account_id"), "subscription", ["account_id"], unique=False
    )
    op.create_index(
        op.f("ix_subscription_service_id"), "subscription", ["service_id"], unique=False
    )

    op.create_table(
        "sync_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("schedule_key", sa.String(length=255), nullable=True),
        sa.CheckConstraint("kind IN ('customers', 'usage')", name=op.f("ck_sync_run_kind")),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'halted')",
            name=op.f("ck_sync_run_status"),
        ),
        sa.CheckConstraint(
            "trigger IN ('manual', 'schedule', 'api')", name=op.f("ck_sync_run_trigger")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_sync_run_account_id_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_sync_run_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_run")),
        sa.UniqueConstraint("schedule_key", name=op.f("uq_sync_run_schedule_key")),
    )
    op.create_index(
        op.f("ix_sync_run_workspace_id_created_at"),
        "sync_run",
        ["workspace_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "uq_sync_run_one_active_per_workspace",
        "sync_run",
        ["workspace_id"],
        unique=True,
        sqlite_where=sa.text("status IN ('queued', 'running') AND dry_run = false"),
        postgresql_where=sa.text("status IN ('queued', 'running') AND dry_run = false"),
    )

    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("halo_record_id", sa.Integer(), nullable=True),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["sync_run.id"],
            name=op.f("fk_audit_entry_run_id_sync_run"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_audit_entry_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entry")),
    )
    op.create_index(
        op.f("ix_audit_entry_workspace_id_at"), "audit_entry", ["workspace_id", "at"], unique=False
    )

    op.create_table(
        "ledger_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("halo_client_id", sa.Integer(), nullable=False),
        sa.Column("recurring_invoice_id", sa.Integer(), nullable=True),
        sa.Column("halo_record_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("marker", sa.Text(), nullable=False),
        sa.Column("last_quantity", sa.Integer(), nullable=True),
        sa.Column("last_cost_price", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("last_price", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("last_written_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "state = 'pending' OR halo_record_id IS NOT NULL",
            name=op.f("ck_ledger_entry_written_has_id"),
        ),
        sa.CheckConstraint("state IN ('pending', 'written')", name=op.f("ck_ledger_entry_state")),
        sa.CheckConstraint(
            "target IN ('licence', 'invoice_line')", name=op.f("ck_ledger_entry_target")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_ledger_entry_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["last_run_id"],
            ["sync_run.id"],
            name=op.f("fk_ledger_entry_last_run_id_sync_run"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["service.id"], name=op.f("fk_ledger_entry_service_id_service")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_ledger_entry_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entry")),
        sa.UniqueConstraint(
            "workspace_id",
            "account_id",
            "service_id",
            "target",
            "halo_client_id",
            name=op.f("uq_ledger_entry_workspace_id_account_id_service_id_target_halo_client_id"),
        ),
    )
    op.create_table(
        "log_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "level IN ('INFO', 'WARNING', 'ERROR')", name=op.f("ck_log_entry_level")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["sync_run.id"],
            name=op.f("fk_log_entry_run_id_sync_run"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_log_entry_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_entry")),
    )
    op.create_index(
        op.f("ix_log_entry_workspace_id_created_at"),
        "log_entry",
        ["workspace_id", "created_at"],
        unique=False,
    )

    op.create_table(
        "run_result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("service_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("halo_id", sa.Integer(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "action IN ('create', 'update', 'unchanged', 'skip', 'fail')",
            name=op.f("ck_run_result_action"),
        ),
        sa.CheckConstraint(
            "level IN ('INFO', 'WARNING', 'ERROR')", name=op.f("ck_run_result_level")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_run_result_account_id_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["sync_run.id"],
            name=op.f("fk_run_result_run_id_sync_run"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["service.id"],
            name=op.f("fk_run_result_service_id_service"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_run_result_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_result")),
    )
    op.create_index(op.f("ix_run_result_run_id"), "run_result", ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_run_result_run_id"), table_name="run_result")

    op.drop_table("run_result")
    op.drop_index(op.f("ix_log_entry_workspace_id_created_at"), table_name="log_entry")

    op.drop_table("log_entry")
    op.drop_table("ledger_entry")
    op.drop_index(op.f("ix_audit_entry_workspace_id_at"), table_name="audit_entry")

    op.drop_table("audit_entry")
    op.drop_index(
        "uq_sync_run_one_active_per_workspace",
        table_name="sync_run",
        sqlite_where=sa.text("status IN ('queued', 'running') AND dry_run = false"),
        postgresql_where=sa.text("status IN ('queued', 'running') AND dry_run = false"),
    )
    op.drop_index(op.f("ix_sync_run_workspace_id_created_at"), table_name="sync_run")

    op.drop_table("sync_run")
    op.drop_index(op.f("ix_subscription_service_id"), table_name="subscription")
    op.drop_index(op.f("ix_subscription_account_id"), table_name="subscription")

    op.drop_table("subscription")
    op.drop_table("service_mapping")
    op.drop_table("account_mapping")
    op.drop_table("service")
    op.drop_table("idempotency_record")
    op.drop_index(
        op.f("ix_halo_recurring_invoice_workspace_id_halo_client_id"),
        table_name="halo_recurring_invoice",
    )

    op.drop_table("halo_recurring_invoice")
    op.drop_table("halo_item")
    op.drop_table("halo_connection")
    op.drop_table("halo_client")
    op.drop_index(op.f("ix_api_token_workspace_id"), table_name="api_token")

    op.drop_table("api_token")
    op.drop_table("account")
    op.drop_table("workspace")
    op.drop_index(op.f("ix_halo_rate_slot_instance_key_slot_at"), table_name="halo_rate_slot")

    op.drop_table("halo_rate_slot")
