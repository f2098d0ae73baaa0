"""halosync's own tables (SQLAlchemy 2 models).

Every row belongs to a workspace (``workspace_id``) except ``workspace`` itself and the
global ``halo_rate_slot``. Columns named ``halo_*_id`` / ``recurring_invoice_id`` hold
HaloPSA's own integer ids, not foreign keys: they must outlive a reset connection or a
record that vanished from Halo (the ledger is the audit of what was written where).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from halosync.domain.models import (
    ACCOUNT_STATUSES,
    ACTIONS,
    LEDGER_STATES,
    LEVELS,
    REVIEW_STATUSES,
    ROLES,
    RUN_KINDS,
    RUN_STATUSES,
    RUN_TRIGGERS,
    TARGETS,
)
from halosync.domain.rules import (
    PRICE_OWNERS,
    ROUNDINGS,
    RULE_SCOPES,
    TERMS_CHOICES,
    TERMS_PICKS,
)
from halosync.store import tables
from halosync.store.base import METADATA, Money, Quantity, UTCDateTime, utcnow
from halosync.store.tables import NAME_LENGTH as NAME_LENGTH
from halosync.store.tables import REF_LENGTH as REF_LENGTH
from halosync.store.tables import one_of, workspace_fk

ONE_ACTIVE_RUN_INDEX = "uq_sync_run_one_active_per_workspace"
# The subscription status an import writes when a snapshot no longer lists a subscription.
CANCELLED = "cancelled"


class Base(DeclarativeBase):
    """Base of every halosync model (their tables are on :data:`METADATA`)."""

    metadata = METADATA


class Workspace(Base):
    """One partner/seller organisation: owns a Halo connection, its data and settings."""

    __table__ = tables.workspace

    id: Mapped[int]
    name: Mapped[str]
    created_at: Mapped[datetime]
    target: Mapped[str]
    price_mode: Mapped[str]
    create_licence_on_mapping: Mapped[bool]
    adopt_existing_lines: Mapped[bool]
    """Take over the one existing line of a mapped item (off: "only lines halosync adds").
    The server default is the old one (migration 0009 says why); new rows get ``True``."""
    sync_cooldown_minutes: Mapped[int]
    log_retention_days: Mapped[int]
    notify_email: Mapped[str | None]
    notify_on_success: Mapped[bool]
    notify_on_failure: Mapped[bool]
    snapshot_cancel_limit_percent: Mapped[int]
    """A snapshot import may cancel at most this share of the active subscriptions unasked."""
    last_customers_sync_at: Mapped[datetime | None]
    last_usage_sync_at: Mapped[datetime | None]
    setup_finished_at: Mapped[datetime | None]
    """When the setup wizard's Finish was pressed: automatic syncs start only after it."""
    notify_state: Mapped[dict[str, str] | None]
    """Topic ("attention", "failure:usage"...) -> digest of what was last e-mailed about it."""


class HaloConnection(Base):
    """A workspace's HaloPSA connection; the client secret is stored encrypted."""

    __tablename__ = "halo_connection"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk(), unique=True)
    server_url: Mapped[str] = mapped_column(Text)
    auth_server_url: Mapped[str | None] = mapped_column(Text)
    tenant: Mapped[str | None] = mapped_column(Text)
    client_id: Mapped[str] = mapped_column(Text)
    client_secret_encrypted: Mapped[str] = mapped_column(Text)
    configured_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_successful_test_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_test_message: Mapped[str | None] = mapped_column(Text)
    line_write_path: Mapped[str] = mapped_column(
        String(16), default="invoice", server_default="invoice"
    )
    """How recurring-invoice lines are written: ``invoice`` (the whole line set posted
    back to the invoice) or ``update_lines`` (see ``docs/halopsa.md``)."""


class Account(Base):
    """A vendor-side customer."""

    __tablename__ = "account"
    __table_args__ = (
        UniqueConstraint("workspace_id", "ref"),
        # The mapping grid's sorts and filters (store/account_grid.py). The name's also
        # holds what the search box looks in, so a search reads it, not every account row.
        Index(
            "ix_account_name_and_search",
            *("workspace_id", "name", "ref", "mapped_client_name", "mapped_client_id"),
        ),
        Index(None, "workspace_id", "status", "ref"),
        Index(None, "workspace_id", "mapping_status", "ref"),
        # ...and what the other filters look at: a mapping status with another filter is
        # counted from the index alone.
        Index(
            "ix_account_mapping_status_name",
            *("workspace_id", "mapping_status", "name", "ref", "status", "mapped_client_status"),
        ),
        Index(None, "workspace_id", "mapped_client_name", "ref"),
        Index(None, "workspace_id", "mapped_client_id", "ref"),
        Index(None, "workspace_id", "mapped_client_status", "ref"),
        CheckConstraint(one_of("status", ACCOUNT_STATUSES), name="status"),
        Index(None, "workspace_id", "id", unique=True),  # what a subscription's key refers to
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    ref: Mapped[str] = mapped_column(String(REF_LENGTH))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    status: Mapped[str] = mapped_column(String(16))
    billed: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # What the account's mapping says, kept here for the mapping grid to filter, sort and
    # search on one table's indexes. Derived, never edited: store.account_grid.refresh_
    # mapping_columns sets them in the transaction of every write they follow (mapping,
    # unmapping, Sync Organizations, a target switch, a reset). A new account is unmapped.
    mapping_status: Mapped[str] = mapped_column(
        String(16), default="unmapped", server_default="unmapped"
    )
    mapped_client_id: Mapped[int | None] = mapped_column(Integer)  # the mapping's Halo client
    mapped_client_name: Mapped[str | None] = mapped_column(Text)  # None: unmapped or not pulled
    mapped_client_status: Mapped[str | None] = mapped_column(String(8))  # active/inactive/gone


class Service(Base):
    """A vendor-side product / SKU."""

    __tablename__ = "service"
    __table_args__ = (
        UniqueConstraint("workspace_id", "ref"),
        Index(None, "workspace_id", "id", unique=True),  # what a subscription's key refers to
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    ref: Mapped[str] = mapped_column(String(REF_LENGTH))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))


# A subscription's values, as an import gives them (after its account and service).
SUBSCRIPTION_VALUES = (
    "quantity",
    "start_date",
    "end_date",
    "billing_cycle",
    "term",
    "status",
    "cost_price",
    "customer_price",
)


class Subscription(Base):
    """Account × service in one term: the count (and optionally prices, as totals) to bill.

    The term is part of the key: the vendor may sell one service to one account monthly and
    annually at once, and neither may overwrite the other (the terms rule combines them).
    """

    __tablename__ = "subscription"
    __table_args__ = (
        UniqueConstraint("workspace_id", "account_id", "service_id", "term"),
        CheckConstraint("quantity >= 0", name="quantity"),
        Index(None, "account_id"),
        Index(None, "service_id"),
        # The account and the service are the workspace's own, and the workspace exists
        # because they do (gone with them, so with it): two checks a row where a workspace,
        # an account and a service key were three, a third of an import's 3,000,000 checks
        # of 1,000,000 new subscriptions on PostgreSQL (one trigger call each).
        ForeignKeyConstraint(
            ["workspace_id", "account_id"],
            ["account.workspace_id", "account.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["workspace_id", "service_id"],
            ["service.workspace_id", "service.id"],
            ondelete="CASCADE",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(Integer)
    account_id: Mapped[int] = mapped_column(Integer)
    service_id: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[Decimal] = mapped_column(Quantity())
    """Exact to 4 decimal places: some vendors count in fractions (12.4 GB)."""
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    billing_cycle: Mapped[str] = mapped_column(String(NAME_LENGTH))
    term: Mapped[str] = mapped_column(String(NAME_LENGTH))
    status: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    cost_price: Mapped[Decimal | None] = mapped_column(Money())
    customer_price: Mapped[Decimal | None] = mapped_column(Money())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    unlisted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    """Cancelled by a snapshot that left it out: the vendor no longer sends it (rather than
    sending it cancelled); cleared when an import lists it again."""

    account: Mapped[Account] = relationship(
        lazy="raise",
        primaryjoin="Subscription.account_id == Account.id",
        foreign_keys=[account_id],
    )
    service: Mapped[Service] = relationship(
        lazy="raise",
        primaryjoin="Subscription.service_id == Service.id",
        foreign_keys=[service_id],
    )


class HaloClient(Base):
    """A Halo client as last pulled; ``gone`` when it vanished from Halo."""

    __tablename__ = "halo_client"
    __table_args__ = (
        UniqueConstraint("workspace_id", "halo_id"),
        Index(None, "workspace_id", "name", "halo_id"),  # the grid's sort and search
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    halo_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Text)
    inactive: Mapped[bool] = mapped_column(Boolean, default=False)
    gone: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class HaloItem(Base):
    """A Halo item (product) as last pulled."""

    __tablename__ = "halo_item"
    __table_args__ = (UniqueConstraint("workspace_id", "halo_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    halo_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Text)
    inactive: Mapped[bool] = mapped_column(Boolean, default=False)
    gone: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class HaloRecurringInvoice(Base):
    """A Halo recurring invoice header as last pulled (``name``: reference/description)."""

    __tablename__ = "halo_recurring_invoice"
    __table_args__ = (
        UniqueConstraint("workspace_id", "halo_id"),
        Index(None, "workspace_id", "halo_client_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    halo_id: Mapped[int] = mapped_column(Integer)
    halo_client_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Text)
    inactive: Mapped[bool] = mapped_column(Boolean, default=False)
    gone: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AccountMapping(Base):
    """Account → Halo client (1:1), plus the recurring invoice for ``invoice_line``."""

    __tablename__ = "account_mapping"
    __table_args__ = (
        UniqueConstraint("workspace_id", "account_id"),
        UniqueConstraint("workspace_id", "halo_client_id"),
        # Each chunk of an invoice_line sync asks which accounts share its recurring
        # invoices: without it, a read of every mapping of the workspace per chunk.
        Index("ix_account_mapping_invoice", "workspace_id", "recurring_invoice_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    halo_client_id: Mapped[int] = mapped_column(Integer)
    recurring_invoice_id: Mapped[int | None] = mapped_column(Integer)
    mapped_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ServiceMapping(Base):
    """Service → Halo item."""

    __tablename__ = "service_mapping"
    __table_args__ = (UniqueConstraint("workspace_id", "service_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"))
    halo_item_id: Mapped[int] = mapped_column(Integer)
    mapped_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LedgerEntry(Base):
    """What was written where in Halo, per account × service × target × Halo client.

    ``marker`` is the stable tag written into the Halo record so that a create interrupted
    between Halo's answer and our commit can be found again instead of duplicated.
    """

    __tablename__ = "ledger_entry"
    __table_args__ = (
        UniqueConstraint(
            "workspace_id", "account_id", "service_id", "target", "halo_client_id", "apart_term"
        ),
        CheckConstraint(one_of("target", TARGETS), name="target"),
        CheckConstraint(one_of("state", LEDGER_STATES), name="state"),
        CheckConstraint("state = 'pending' OR halo_record_id IS NOT NULL", name="written_has_id"),
        # Pruning a run sets this to NULL: without an index, a scan of the ledger per run.
        Index(None, "last_run_id"),
        # Each chunk of a usage sync finds the rows naming its Halo records, and each run
        # reads the record ids in order: without it, a scan of the ledger per chunk.
        Index("ix_ledger_entry_record", "workspace_id", "target", "halo_record_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id"))
    target: Mapped[str] = mapped_column(String(16))
    halo_client_id: Mapped[int] = mapped_column(Integer)
    recurring_invoice_id: Mapped[int | None] = mapped_column(Integer)
    halo_record_id: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(8), default="pending")
    marker: Mapped[str] = mapped_column(Text)
    apart_term: Mapped[str] = mapped_column(
        String(NAME_LENGTH), default="", server_default=text("''")
    )
    """The term of a record kept apart (terms rule ``apart``); ``''``: the account × service
    as one record."""
    last_quantity: Mapped[Decimal | None] = mapped_column(Quantity())
    """As written: a licence's whole count, or an invoice line's ``qty_order`` (2.5)."""
    last_cost_price: Mapped[Decimal | None] = mapped_column(Money())
    last_price: Mapped[Decimal | None] = mapped_column(Money())
    last_written_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_run.id", ondelete="SET NULL"))
    unconfirmed: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The update sent for the record whose answer the row does not record yet (``run``,
    ``request``, ``before``, ``after``): set just before the POST, cleared when the row is
    written, so a run killed in between leaves what it sent for the next run to find."""


class SyncRun(Base):
    """One execution of a customers pull or a usage push.

    The partial unique index lets the database (not a check-then-set) refuse a second
    queued/running non-dry-run sync of the same workspace; ``schedule_key`` dedupes
    scheduled enqueues. ``halosync.sync.runs`` is the only writer of these rows.
    """

    __tablename__ = "sync_run"
    __table_args__ = (
        CheckConstraint(one_of("kind", RUN_KINDS), name="kind"),
        CheckConstraint(one_of("trigger", RUN_TRIGGERS), name="trigger"),
        CheckConstraint(one_of("status", RUN_STATUSES), name="status"),
        Index(
            ONE_ACTIVE_RUN_INDEX,
            "workspace_id",
            unique=True,
            sqlite_where=text("status IN ('queued', 'running') AND dry_run = false"),
            postgresql_where=text("status IN ('queued', 'running') AND dry_run = false"),
        ),
        Index(None, "workspace_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    kind: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"))
    # The reference outlives the account row: a run of a since-deleted account still says whose.
    account_ref: Mapped[str | None] = mapped_column(String(REF_LENGTH))
    trigger: Mapped[str] = mapped_column(String(16))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When the run was last handed to the job queue (a lost message is sent again).
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The process running it, so a run whose process died on this host is reaped at once.
    owner_host: Mapped[str | None] = mapped_column(String(255))
    owner_pid: Mapped[int | None] = mapped_column(Integer)
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    schedule_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    # How far the run has come (halosync.sync.progress.SyncProgress), kept with its heartbeat.
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class RunResult(Base):
    """The outcome of one account × service (or one account) in a run."""

    __tablename__ = "run_result"
    __table_args__ = (
        CheckConstraint(one_of("action", ACTIONS), name="action"),
        CheckConstraint(one_of("level", LEVELS), name="level"),
        Index(None, "run_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("sync_run.id", ondelete="CASCADE"))
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("service.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(16))
    halo_id: Mapped[int | None] = mapped_column(Integer)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(8), default="INFO")
    # The quantity rules' chain that produced the number ({"text", "steps"}; see
    # halosync.domain.rules.explain_document), None for an unmapped pair or an older run.
    explain: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuditEntry(Base):
    """One write made to Halo: which record, before and after, and Halo's request id.

    Its creates also tell a sync which Halo records halosync made (duplicates are found
    among those the ledger no longer names), hence the second index.
    """

    __tablename__ = "audit_entry"
    __table_args__ = (
        Index(None, "workspace_id", "at"),
        Index(None, "workspace_id", "entity", "operation", "halo_record_id"),
        Index(None, "run_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_run.id", ondelete="SET NULL"))
    entity: Mapped[str] = mapped_column(String(64))
    halo_record_id: Mapped[int | None] = mapped_column(Integer)
    operation: Mapped[str] = mapped_column(String(16))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Who took the step: a user or API token for a review decision; NULL for a sync's writes.
    actor: Mapped[str | None] = mapped_column(Text)


class ReviewPolicyRow(Base):
    """A workspace's review policy (``halosync.domain.review.ReviewPolicy``).

    No row means the defaults; NULL (or false) turns a rule off.
    """

    __tablename__ = "review_policy"
    __table_args__ = (
        CheckConstraint("change_above_units >= 0", name="change_above_units"),
        CheckConstraint("change_above_percent >= 0", name="change_above_percent"),
        CheckConstraint("new_above_units >= 0", name="new_above_units"),
    )

    workspace_id: Mapped[int] = mapped_column(workspace_fk(), primary_key=True)
    change_above_units: Mapped[int | None] = mapped_column(Integer)
    change_above_percent: Mapped[int | None] = mapped_column(Integer)
    new_above_units: Mapped[int | None] = mapped_column(Integer)
    any_price_change: Mapped[bool] = mapped_column(Boolean)
    drop_to_zero: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReviewItem(Base):
    """A planned write held for review, and the reviewer's decision on its value.

    One row per account × service × proposed value (``proposal_key``), so a rerun that
    plans the same write again finds its row instead of adding one, and a rejected value
    stays rejected. ``before``/``after`` are the Halo fields as planned when last seen.
    ``apart_term`` completes the change's identity as the ledger keeps it (the term of a
    record kept apart; ``''``: the pair's one record), so each term's hold is its own.
    An approval applies once: ``spent_run_id`` names the sync that wrote the approved
    change (NULL while it waits for one, also after a write that failed).
    """

    __tablename__ = "review_item"
    __table_args__ = (
        UniqueConstraint("workspace_id", "account_id", "service_id", "proposal_key"),
        CheckConstraint(one_of("status", REVIEW_STATUSES), name="status"),
        CheckConstraint(one_of("target", TARGETS), name="target"),
        CheckConstraint("action IN ('create', 'update')", name="action"),
        Index(None, "workspace_id", "status"),
        Index(None, "first_run_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"))
    apart_term: Mapped[str] = mapped_column(
        String(NAME_LENGTH), default="", server_default=text("''")
    )
    proposal_key: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    halo_client_id: Mapped[int | None] = mapped_column(Integer)
    recurring_invoice_id: Mapped[int | None] = mapped_column(Integer)
    halo_record_id: Mapped[int | None] = mapped_column(Integer)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any]] = mapped_column(JSON)
    reasons: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    first_run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_run.id", ondelete="SET NULL"))
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A number, not a reference: pruning the run's history must not arm the approval again.
    spent_run_id: Mapped[int | None] = mapped_column(Integer)


_RULE_SCOPE_KEYS = (
    "(scope = 'workspace' AND account_id IS NULL AND service_id IS NULL)"
    " OR (scope = 'service' AND account_id IS NULL AND service_id IS NOT NULL)"
    " OR (scope = 'account' AND account_id IS NOT NULL AND service_id IS NULL)"
    " OR (scope = 'account_service' AND account_id IS NOT NULL AND service_id IS NOT NULL)"
)


class QuantityRuleRow(Base):
    """One version of the quantity rule of one scope (``halosync.domain.rules.QuantityRule``).

    Versions are rows: a change inserts a row and nothing is updated in place, so the rule
    in force on day D for a scope is its row with the greatest ``valid_from`` <= D (ties:
    the latest id) and the past is never rewritten. A NULL field is "not set at this
    scope"; a row with every field NULL is a cleared rule. The scope's keys: none for
    ``workspace``, the service for ``service``, the account for ``account``, both for
    ``account_service``.
    """

    __tablename__ = "quantity_rule"
    __table_args__ = (
        CheckConstraint(one_of("scope", RULE_SCOPES), name="scope"),
        CheckConstraint(_RULE_SCOPE_KEYS, name="scope_keys"),
        CheckConstraint("minimum >= 0", name="minimum"),
        CheckConstraint("free >= 0", name="free"),
        CheckConstraint("ceiling >= 0", name="ceiling"),
        CheckConstraint("multiple >= 1", name="multiple"),
        CheckConstraint(one_of("rounding", ROUNDINGS), name="rounding"),
        CheckConstraint(one_of("terms", TERMS_CHOICES), name="terms"),
        CheckConstraint(one_of("terms_pick", TERMS_PICKS), name="terms_pick"),
        CheckConstraint(one_of("price_owner", PRICE_OWNERS), name="price_owner"),
        # The sync's look-up (every version up to a day) and one scope's history.
        Index(None, "workspace_id", "valid_from"),
        Index(None, "workspace_id", "scope", "account_id", "service_id"),
        # Deleting an account or a service cascades here without a scan.
        Index(None, "account_id"),
        Index(None, "service_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    scope: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    service_id: Mapped[int | None] = mapped_column(ForeignKey("service.id", ondelete="CASCADE"))
    valid_from: Mapped[date] = mapped_column(Date)
    minimum: Mapped[int | None] = mapped_column(Integer)
    free: Mapped[int | None] = mapped_column(Integer)
    ceiling: Mapped[int | None] = mapped_column(Integer)
    rounding: Mapped[str | None] = mapped_column(String(8))
    multiple: Mapped[int | None] = mapped_column(Integer)
    terms: Mapped[str | None] = mapped_column(String(8))
    terms_pick: Mapped[str | None] = mapped_column(String(8))
    price_owner: Mapped[str | None] = mapped_column(String(8))
    markup_percent: Mapped[Decimal | None] = mapped_column(Money())
    fixed_price: Mapped[Decimal | None] = mapped_column(Money())
    excluded: Mapped[str | None] = mapped_column(Text)
    """The reason an exclusion gives; set = excluded from billing."""
    included: Mapped[bool | None] = mapped_column(Boolean)
    """True = billed even though a broader scope excludes it (an override)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(Text)
    """Who made the change: a user, an API token or the command line."""


class LogEntry(Base):
    """A line of a workspace's activity log, shown in the UI and pruned after retention."""

    __table__ = tables.log_entry

    id: Mapped[int]
    workspace_id: Mapped[int]
    run_id: Mapped[int | None]
    level: Mapped[str]
    title: Mapped[str]
    details: Mapped[str | None]
    created_at: Mapped[datetime]


class ApiToken(Base):
    """A workspace API token; only its SHA-256 is kept, the token is shown once."""

    __tablename__ = "api_token"
    __table_args__ = (
        CheckConstraint(one_of("role", ROLES), name="role"),
        Index(None, "workspace_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IdempotencyRecord(Base):
    """The stored response of an API request made with an ``Idempotency-Key``."""

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class HaloRateSlot(Base):
    """One request made to a Halo instance: the sliding log that shares its rate budget."""

    __tablename__ = "halo_rate_slot"
    __table_args__ = (Index(None, "instance_key", "slot_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_key: Mapped[str] = mapped_column(Text)
    slot_at: Mapped[datetime] = mapped_column(UTCDateTime())


class User(Base):
    """A person who logs in to the web UI; only an argon2 hash of the password is kept."""

    __tablename__ = "app_user"  # "user" is reserved in PostgreSQL

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    password_hash: Mapped[str] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Membership(Base):
    """A user's role in one workspace: admin (may change anything) or viewer (read only)."""

    __tablename__ = "membership"
    __table_args__ = (
        UniqueConstraint("user_id", "workspace_id"),
        CheckConstraint(one_of("role", ROLES), name="role"),
        Index(None, "workspace_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    role: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SyncSchedule(Base):
    """When a workspace's customers pull or usage push runs by itself (absent = default).

    ``spec`` is the text form of :class:`halosync.domain.schedule.Schedule`;
    ``last_slot_at`` is the latest slot already enqueued, so a slot runs once.
    """

    __tablename__ = "sync_schedule"
    __table_args__ = (
        UniqueConstraint("workspace_id", "kind"),
        CheckConstraint(one_of("kind", RUN_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(workspace_fk())
    kind: Mapped[str] = mapped_column(String(16))
    spec: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    last_slot_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


SESSION_END_REASONS = ("logout", "password", "admin", "disabled", "idle", "expired")


class UserSession(Base):
    """A web UI log-in: the browser's cookie holds a random token, this row only its SHA-256.

    Ended sessions keep their row for a while (``ended_at``, ``end_reason``) so the log-in
    page can say why the user was sent back to it; idle and absolute expiry are worked out
    from ``last_seen_at`` and ``created_at`` with the settings in force.
    """

    __tablename__ = "user_session"
    __table_args__ = (
        CheckConstraint(one_of("end_reason", SESSION_END_REASONS), name="end_reason"),
        Index(None, "user_id"),
        Index(None, "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    flashes: Mapped[Any] = mapped_column(JSON, nullable=True)


class LoginFailure(Base):
    """One failed log-in, counted per account, per address and per both (see
    ``users/ratelimit.py``); keys are SHA-256 digests, never the typed email."""

    __tablename__ = "login_failure"
    __table_args__ = (
        Index(None, "account_key", "failed_at"),
        Index(None, "address_key", "failed_at"),
        Index(None, "failed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_key: Mapped[str] = mapped_column(String(64))
    address_key: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime())
