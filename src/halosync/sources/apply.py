"""Writing a validated batch into a workspace: bulk upserts that touch only what changed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from halosync.domain.snapshot import DEFAULT_CANCEL_LIMIT_PERCENT, mass_cancel
from halosync.sources.batch import BatchBuilder, UsageBatch
from halosync.sources.errors import MassCancelError, cancelled_dict
from halosync.store.base import utcnow
from halosync.store.models import Account, Service
from halosync.store.staging import SubscriptionStaging
from halosync.store.usage_writes import UsageWriter
from halosync.store.workspaces import WorkspaceRepository


@dataclass
class EntityCounts:
    """How many records of one kind were created, updated, or already as given."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class ImportReport:
    """What an import did."""

    rows: int = 0
    accounts: EntityCounts = field(default_factory=EntityCounts)
    services: EntityCounts = field(default_factory=EntityCounts)
    subscriptions: EntityCounts = field(default_factory=EntityCounts)
    snapshot: bool = False
    # (account_ref, service_ref, term) of subscriptions a snapshot cancelled because it
    # lacked them.
    cancelled: list[tuple[str, str, str]] = field(default_factory=list)
    several_terms: int = 0
    """Account × service pairs this import gave a new term beside one already stored: the
    terms rule combines them (summed by default) where the new one used to replace the old."""

    @property
    def rows_read(self) -> str:
        """How many rows were read, in words: "1 row", "12 rows"."""
        return f"{self.rows} row" if self.rows == 1 else f"{self.rows} rows"

    @property
    def changed(self) -> bool:
        """Whether anything was written."""
        return bool(
            self.cancelled
            or any(
                c.created or c.updated for c in (self.accounts, self.services, self.subscriptions)
            )
        )

    def as_dict(self) -> dict[str, Any]:
        """The report as ``--json`` and the API show it."""
        return {
            "rows": self.rows,
            "accounts": asdict(self.accounts),
            "services": asdict(self.services),
            "subscriptions": asdict(self.subscriptions),
            "snapshot": self.snapshot,
            "cancelled": [cancelled_dict(cancelled) for cancelled in self.cancelled],
            "several_terms": self.several_terms,
        }


def several_terms_text(pairs: int) -> str:
    """The import summary's line for :attr:`ImportReport.several_terms`."""
    return (
        f"{pairs} account \u00d7 service pair(s) now have several terms: the new term is "
        "billed with the one already there (summed by default; see the terms rule), where "
        "before terms it replaced it"
    )


_ACCOUNT_VALUES = ("name", "status", "billed")


def _upsert_accounts(
    writer: UsageWriter, batch: UsageBatch, now: datetime, counts: EntityCounts
) -> dict[str, int]:
    workspace_id = writer.workspace_id
    existing = writer.accounts()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for ref, account in batch.accounts.items():
        row = existing.get(ref)
        # A field left out (None) keeps the stored value; a new account gave them all
        # (BatchBuilder.check_references).
        values = {
            name: value for name in _ACCOUNT_VALUES if (value := getattr(account, name)) is not None
        }
        if row is None:
            inserts.append(
                {"workspace_id": workspace_id, "ref": ref, "created_at": now, "updated_at": now}
                | values
            )
        elif any(getattr(row, name) != value for name, value in values.items()):
            updates.append({"id": row.id, "updated_at": now} | values)
        else:
            counts.unchanged += 1
    writer.insert(Account, inserts)
    writer.update(Account, updates)
    counts.created += len(inserts)
    counts.updated += len(updates)
    ids = {row.ref: row.id for row in existing.values()}
    if inserts:
        ids.update(writer.account_ids())
    return ids


def _upsert_services(
    writer: UsageWriter, batch: UsageBatch, counts: EntityCounts
) -> dict[str, int]:
    workspace_id = writer.workspace_id
    existing = writer.services()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for ref, service in batch.services.items():
        row = existing.get(ref)
        if row is None:
            inserts.append({"workspace_id": workspace_id, "ref": ref, "name": service.name})
        elif service.name is not None and row.name != service.name:
            updates.append({"id": row.id, "name": service.name})
        else:
            counts.unchanged += 1
    writer.insert(Service, inserts)
    writer.update(Service, updates)
    counts.created += len(inserts)
    counts.updated += len(updates)
    ids = {row.ref: row.id for row in existing.values()}
    if inserts:
        ids.update(writer.service_ids())
    return ids


def apply_batch(
    session: Session,
    workspace_id: int,
    builder: BatchBuilder,
    *,
    snapshot: bool = False,
    allow_mass_cancel: bool = False,
) -> ImportReport:
    """Upsert what ``builder`` collected into the workspace inside the caller's transaction.

    Raises :class:`ImportValidationError` with every problem at once (the builder's, and
    subscriptions naming an account or service that exists nowhere) before writing.

    With ``snapshot`` the batch is the vendor's full list: subscriptions it lacks are
    cancelled (status ``cancelled``) and listed in the report; otherwise nothing is ever
    inferred from a missing row. A snapshot that lists nothing, or would cancel more than
    the workspace's ``snapshot_cancel_limit_percent`` of its active subscriptions, raises
    :class:`MassCancelError` (and the caller's transaction is rolled back) unless
    ``allow_mass_cancel``.

    Subscriptions are written set-based through a staging table (see
    :class:`~halosync.store.staging.SubscriptionStaging`), never one statement per row.
    """
    now = utcnow()
    writer = UsageWriter(session, workspace_id)
    builder.check_references(writer.account_ids(), writer.service_ids())
    batch = builder.build()
    report = ImportReport(rows=batch.rows, snapshot=snapshot)
    account_ids = _upsert_accounts(writer, batch, now, report.accounts)
    service_ids = _upsert_services(writer, batch, report.services)
    staging = SubscriptionStaging(session, workspace_id)
    staging.load(
        (seq, account_ids[account_ref], service_ids[service_ref], *values)
        for seq, (account_ref, service_ref, *values) in enumerate(batch.subscriptions.rows())
    )
    matched = staging.match()
    if snapshot:
        active = staging.count_active()
        report.cancelled = sorted(staging.unlisted_active())
        if not allow_mass_cancel:
            _refuse_mass_cancel(session, workspace_id, report.cancelled, active, batch)
        staging.cancel_unlisted(now)
    report.subscriptions.updated = staging.update_changed(now)
    report.subscriptions.unchanged = matched - report.subscriptions.updated
    report.subscriptions.created = len(batch.subscriptions) - matched
    if report.subscriptions.created:
        # (A re-import gives no pair a new term: nothing to count.)
        report.several_terms = staging.count_pairs_gaining_a_term()
        # (PostgreSQL reports no row count for INSERT ... SELECT through SQLAlchemy.)
        staging.insert_new(now)
    staging.drop()
    return report


def _refuse_mass_cancel(
    session: Session,
    workspace_id: int,
    cancelled: list[tuple[str, str, str]],
    active: int,
    batch: UsageBatch,
) -> None:
    limit = WorkspaceRepository(session).get(workspace_id).snapshot_cancel_limit_percent
    refusal = mass_cancel(
        would_cancel=len(cancelled),
        active=active,
        listed=len(batch.subscriptions),
        limit_percent=DEFAULT_CANCEL_LIMIT_PERCENT if limit is None else limit,
    )
    if refusal is not None:
        raise MassCancelError(refusal, cancelled)
