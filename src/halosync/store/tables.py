"""The tables a command reads without the ORM, declared with SQLAlchemy Core.

``halosync logs`` finds its workspace and reads its log page with Core statements on these
tables, so it loads neither ``sqlalchemy.orm`` nor the ORM models (declaring them is most of
a start-up's own CPU). Their models in :mod:`halosync.store.models` map these same tables.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)

from halosync.domain.models import LEVELS, PRICE_MODES, TARGETS
from halosync.store.base import METADATA, UTCDateTime, utcnow

REF_LENGTH = 255
NAME_LENGTH = 255


def one_of(column: str, values: tuple[str, ...]) -> str:
    """A CHECK constraint's text: ``column`` holds one of ``values``."""
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


def workspace_fk() -> Any:
    """The foreign key of a row that belongs to a workspace (gone with its workspace)."""
    return ForeignKey("workspace.id", ondelete="CASCADE")


workspace = Table(
    "workspace",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("name", String(NAME_LENGTH), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False, default=utcnow),
    Column("target", String(16), nullable=False, default="licence", server_default="licence"),
    Column("price_mode", String(8), nullable=False, default="off", server_default="off"),
    Column(
        "create_licence_on_mapping",
        Boolean,
        nullable=False,
        default=False,
        server_default=text("false"),
    ),
    # The server default is the old one (migration 0009 says why); new rows get True.
    Column(
        "adopt_existing_lines", Boolean, nullable=False, default=True, server_default=text("false")
    ),
    Column("sync_cooldown_minutes", Integer, nullable=False, default=60, server_default=text("60")),
    Column("log_retention_days", Integer, nullable=False, default=30, server_default=text("30")),
    Column("notify_email", Text),
    Column(
        "notify_on_success", Boolean, nullable=False, default=False, server_default=text("false")
    ),
    Column(
        "notify_on_failure", Boolean, nullable=False, default=False, server_default=text("false")
    ),
    Column(
        "snapshot_cancel_limit_percent",
        Integer,
        nullable=False,
        default=50,
        server_default=text("50"),
    ),
    Column("last_customers_sync_at", UTCDateTime()),
    Column("last_usage_sync_at", UTCDateTime()),
    Column("setup_finished_at", UTCDateTime()),
    Column("notify_state", JSON),
    CheckConstraint(one_of("target", TARGETS), name="target"),
    CheckConstraint(one_of("price_mode", PRICE_MODES), name="price_mode"),
    CheckConstraint("sync_cooldown_minutes >= 0", name="sync_cooldown_minutes"),
    CheckConstraint("log_retention_days >= 1", name="log_retention_days"),
    CheckConstraint(
        "snapshot_cancel_limit_percent BETWEEN 0 AND 100", name="snapshot_cancel_limit_percent"
    ),
)

log_entry = Table(
    "log_entry",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", Integer, workspace_fk(), nullable=False),
    Column("run_id", Integer, ForeignKey("sync_run.id", ondelete="SET NULL")),
    Column("level", String(8), nullable=False),
    Column("title", Text, nullable=False),
    Column("details", Text),
    Column("created_at", UTCDateTime(), nullable=False, default=utcnow),
    CheckConstraint(one_of("level", LEVELS), name="level"),
    Index(None, "workspace_id", "created_at"),
    Index(None, "run_id"),
)
