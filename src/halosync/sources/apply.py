"""Writing a validated batch into a workspace: bulk upserts that touch only what changed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from halosync.domain.snapshot import DEFAULT_CANCEL_LIMIT_PERCENT, mass_cancel
from halosync.sources.batch import BatchBuilder, UsageBatch
from halosync.sources.errors import MassCancelError, cancelled_dict
from halosync.store.base import utcnow
from halosync.store.models import Account, Service, Workspace
from halosync.store.staging import SubscriptionStaging

_CHUNK = 5000


def batched(items: Iterable[dict[str, Any]], size: int) -> Iterator[tuple[dict[str, Any], ...]]:
    """``items`` in tuples of ``size`` (the last may be shorter)."""
    iterator = iter(items)
    while chunk := tuple(islice(iterator, size)):
        yield chunk


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
        }


def _bulk_insert(session: Session, model: type[Any], rows: Iterable[dict[str, Any]]) -> int:
    """Insert ``rows`` a chunk at a time (so they never all exist at once); how many."""
    count = 0
    for chunk in batched(rows, _CHUNK):
        session.execute(insert(model), list(chunk))
        count += len(chunk)
    return count


def _bulk_update(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _CHUNK):
        session.execute(update(model), rows[start : start + _CHUNK])


def _upsert_accounts(
    session: Session, workspace_id: int, batch: UsageBatch, now: datetime, counts: EntityCounts
) -> dict[str, int]:
    existing = {
        row.ref: row
        for row in session.execute(
            select(Account.id, Account.ref, Account.name, Account.status, Account.billed).where(
                Account.workspace_id == workspace_id
            )
        )
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for ref, account in batch.accounts.items():
        row = existing.get(ref)
        values = {"name": account.name, "status": account.status, "billed": account.billed}
        if row is None:
            inserts.append(
                {"workspace_id": workspace_id, "ref": ref, "created_at": now, "updated_at": now}
                | values
            )
        elif (row.name, row.status, row.billed) != (account.name, account.status, account.billed):
            updates.append({"id": row.id, "updated_at": now} | values)
        else:
            counts.unchanged += 1
    _bulk_insert(session, Account, inserts)
    _bulk_update(session, Account, updates)
    counts.created += len(inserts)
    counts.updated += len(updates)
    ids = {row.ref: row.id for row in existing.values()}
    if inserts:
        ids.update(
            session.execute(
                select(Account.ref, Account.id).where(Account.workspace_id == workspace_id)
            ).all()
        )
    return ids


def _upsert_services(
    session: Session, workspace_id: int, batch: UsageBatch, counts: EntityCounts
) -> dict[str, int]:
    existing = {
        row.ref: row
        for row in session.execute(
            select(Service.id, Service.ref, Service.name).where(
                Service.workspace_id == workspace_id
            )
        )
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for ref, service in batch.services.items():
        row = existing.get(ref)
        if row is None:
            inserts.append({"workspace_id": workspace_id, "ref": ref, "name": service.name})
        elif row.name != service.name:
            updates.append({"id": row.id, "name": service.name})
        else:
            counts.unchanged += 1
    _bulk_insert(session, Service, inserts)
    _bulk_update(session, Service, updates)
    counts.created += len(inserts)
    counts.updated += len(updates)
    ids = {row.ref: row.id for row in existing.values()}
    if inserts:
        ids.update(
            session.execute(
                select(Service.ref, Service.id).where(Service.workspace_id == workspace_id)
            ).all()
        )
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
    known_accounts = dict(
        session.execute(
            select(Account.ref, Account.id).where(Account.workspace_id == workspace_id)
        ).all()
    )
    known_services = dict(
        session.execute(
            select(Service.ref, Service.id).where(Service.workspace_id == workspace_id)
        ).all()
    )
    builder.check_references(known_accounts, known_services)
    batch = builder.build()
    report = ImportReport(rows=batch.rows, snapshot=snapshot)
    account_ids = _upsert_accounts(session, workspace_id, batch, now, report.accounts)
    service_ids = _upsert_services(session, workspace_id, batch, report.services)
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
    # (PostgreSQL reports no row count for INSERT ... SELECT through SQLAlchemy.)
    staging.insert_new(now)
    report.subscriptions.created = len(batch.subscriptions) - matched
    staging.drop()
    return report


def _refuse_mass_cancel(
    session: Session,
    workspace_id: int,
    cancelled: list[tuple[str, str, str]],
    active: int,
    batch: UsageBatch,
) -> None:
    limit = session.scalar(
        select(Workspace.snapshot_cancel_limit_percent).where(Workspace.id == workspace_id)
    )
    refusal = mass_cancel(
        would_cancel=len(cancelled),
        active=active,
        listed=len(batch.subscriptions),
        limit_percent=DEFAULT_CANCEL_LIMIT_PERCENT if limit is None else limit,
    )
    if refusal is not None:
        raise MassCancelError(refusal, cancelled)
