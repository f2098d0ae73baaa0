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
from halosync.sources.batch import LOCATION, BatchBuilder, SubscriptionRow, UsageBatch
from halosync.sources.errors import MassCancelError
from halosync.sources.schemas import SUBSCRIPTION_FIELDS
from halosync.store.base import utcnow
from halosync.store.models import CANCELLED, Account, Service, Subscription, Workspace

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
    # (account_ref, service_ref) of subscriptions a snapshot cancelled because it lacked them.
    cancelled: list[tuple[str, str]] = field(default_factory=list)

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
            "cancelled": [
                {"account_ref": account, "service_ref": service}
                for account, service in self.cancelled
            ],
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
    :class:`MassCancelError` (before writing) unless ``allow_mass_cancel``.
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
    # Existing subscriptions are compared as they stream past, never all held at once;
    # they name only accounts and services that exist already.
    refs_by_account = {v: k for k, v in known_accounts.items()}
    refs_by_service = {v: k for k, v in known_services.items()}
    matched: set[tuple[str, str]] = set()
    updates: list[dict[str, Any]] = []
    cancels: list[dict[str, Any]] = []
    active = 0
    existing = session.execute(
        select(
            Subscription.id,
            Subscription.account_id,
            Subscription.service_id,
            *(getattr(Subscription, name) for name in SUBSCRIPTION_FIELDS),
        )
        .where(Subscription.workspace_id == workspace_id)
        .execution_options(yield_per=_CHUNK)
    )
    for row in existing:
        key = (refs_by_account[row.account_id], refs_by_service[row.service_id])
        is_active = (row.status or "").strip().lower() != CANCELLED
        active += is_active
        given = batch.subscriptions.get(key)
        if given is None:
            if snapshot and is_active:
                cancels.append({"id": row.id, "status": CANCELLED, "updated_at": now})
                report.cancelled.append(key)
            continue
        matched.add(key)
        if tuple(row[3:]) != given[:LOCATION]:
            updates.append({"id": row.id, "updated_at": now} | _values(given))
        else:
            report.subscriptions.unchanged += 1
    report.cancelled.sort()
    if snapshot and not allow_mass_cancel:
        _refuse_mass_cancel(session, workspace_id, report.cancelled, active, batch)
    account_ids = _upsert_accounts(session, workspace_id, batch, now, report.accounts)
    service_ids = _upsert_services(session, workspace_id, batch, report.services)
    inserts = (
        {
            "workspace_id": workspace_id,
            "account_id": account_ids[key[0]],
            "service_id": service_ids[key[1]],
            "updated_at": now,
        }
        | _values(subscription)
        for key, subscription in batch.subscriptions.items()
        if key not in matched
    )
    report.subscriptions.created = _bulk_insert(session, Subscription, inserts)
    _bulk_update(session, Subscription, updates)
    _bulk_update(session, Subscription, cancels)
    report.subscriptions.updated = len(updates)
    return report


def _refuse_mass_cancel(
    session: Session,
    workspace_id: int,
    cancelled: list[tuple[str, str]],
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


def _values(subscription: SubscriptionRow) -> dict[str, Any]:
    return dict(zip(SUBSCRIPTION_FIELDS, subscription, strict=False))
