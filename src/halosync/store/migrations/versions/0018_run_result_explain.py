"""A run's results keep the quantity rules' explain chain (issue 17).

``run_result.explain`` holds ``{"text": "vendor 23 → minus 3 free (service) → 20",
"steps": [...]}`` for each change of a mapped pair, so the results page and the REST API
show why Halo holds the number it holds. Older results have none (NULL). A plain ADD
COLUMN on both databases (no table copy).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 02:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("run_result", sa.Column("explain", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run_result") as batch:
        batch.drop_column("explain")
