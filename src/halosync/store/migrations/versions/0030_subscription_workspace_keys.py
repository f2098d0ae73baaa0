"""A subscription refers to its workspace's account and service by two keys, not three.

``subscription`` had a foreign key to each of ``workspace``, ``account`` and ``service``:
PostgreSQL checks each new row's keys one trigger call each, and an import of 1,000,000
new subscriptions spent most of its insert in those 3,000,000 calls. ``(workspace_id,
account_id)`` now refers to ``account (workspace_id, id)`` and ``(workspace_id,
service_id)`` to ``service (workspace_id, id)``: two checks a row, which also hold what
the three did not (the account and the service are the subscription's workspace's own);
the workspace exists because they do, and a subscription still goes with its workspace
(through its account and service, ``ON DELETE CASCADE``).

SQLite changes foreign keys by copying the table (batch mode); nothing refers to
``subscription``, so nothing cascades.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06 09:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PARENTS = ("account", "service")


def upgrade() -> None:
    # Unique indexes, not constraints: SQLite would copy the table for a constraint, and
    # dropping the old account table would take every row referring to it along.
    for parent in _PARENTS:
        op.create_index(
            op.f(f"ix_{parent}_workspace_id_id"), parent, ["workspace_id", "id"], unique=True
        )
    with op.batch_alter_table("subscription") as batch:
        batch.drop_constraint(op.f("fk_subscription_workspace_id_workspace"), type_="foreignkey")
        for parent in _PARENTS:
            batch.drop_constraint(op.f(f"fk_subscription_{parent}_id_{parent}"), type_="foreignkey")
            batch.create_foreign_key(
                op.f(f"fk_subscription_workspace_id_{parent}"),
                parent,
                ["workspace_id", f"{parent}_id"],
                ["workspace_id", "id"],
                ondelete="CASCADE",
            )


def downgrade() -> None:
    with op.batch_alter_table("subscription") as batch:
        for parent in _PARENTS:
            batch.drop_constraint(
                op.f(f"fk_subscription_workspace_id_{parent}"), type_="foreignkey"
            )
            batch.create_foreign_key(
                op.f(f"fk_subscription_{parent}_id_{parent}"),
                parent,
                [f"{parent}_id"],
                ["id"],
                ondelete="CASCADE",
            )
        batch.create_foreign_key(
            op.f("fk_subscription_workspace_id_workspace"),
            "workspace",
            ["workspace_id"],
            ["id"],
            ondelete="CASCADE",
        )
    for parent in _PARENTS:
        op.drop_index(op.f(f"ix_{parent}_workspace_id_id"), table_name=parent)
