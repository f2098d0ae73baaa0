"""An index over the audit trail's creates, to find records halosync made.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 19:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_audit_entry_workspace_id_entity_operation_halo_record_id"


def upgrade() -> None:
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f(_INDEX),
            ["workspace_id", "entity", "operation", "halo_record_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f(_INDEX))
