"""Writing a validated batch into a workspace: bulk upserts that touch only what changed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from halosync.sources.batch import LOCATION, SubscriptionRow, UsageBatch
from halosync.sources.errors import MAX_KEPT_ERRORS, ImportValidationError, Location, UsageError
from halosync.sources.schemas import SUBSCRIPTION_FIELDS
from halosync.store.base import utcnow
from halosync.store.models import CANCELLED, Account, Service, Subscription

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


def _check_references(
    batch: UsageBatch, account_ids: dict[str, int], service_ids: dict[str, int]
) -> None:
    errors: list[UsageError] = []
    total = 0
    for (account_ref, service_ref), subscription in batch.subscriptions.items():
        location: Location = subscription[LOCATION]
        for ref, known, what, column in (
            (account_ref, account_ids, "account", "account_ref"),
            (service_ref, service_ids, "service", "service_ref"),
        ):
            if ref not in known:
                total += 1
                if len(errors) < MAX_KEPT_ERRORS:
                    errors.append(
                        UsageError(
                            location.at(column),
                            f"no {what} {ref!r} in this batch or in the workspace",
                        )
                    )
    if total:
        raise ImportValidationError(errors, total=total)


def apply_batch(
    session: Session, workspace_id: int, batch: UsageBatch, *, snapshot: bool = False
) -> ImportReport:
    """Upsert ``batch`` into the workspace inside the caller's transaction.

    With ``snapshot`` the batch is the vendor's full list: subscriptions it lacks are
    cancelled (status ``cancelled``) and listed in the report; otherwise nothing is ever
    inferred from a missing row. Raises :class:`ImportValidationError` (before writing)
    when a subscription names an account or service that exists nowhere.
    """
    now = utcnow()
    report = ImportReport(rows=batch.rows, snapshot=snapshot)
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
    _check_references(
        batch,
        {**known_accounts, **dict.fromkeys(batch.accounts, 0)},
        {**known_services, **dict.fromkeys(batch.services, 0)},
    )
    account_ids = _upsert_accounts(session, workspace_id, batch, now, report.accounts)
    service_ids = _upsert_services(session, workspace_id, batch, report.services)
    # Existing subscriptions are compared as they stream past, never all held at once.
    refs_by_account = {v: k for k, v in account_ids.items()}
    refs_by_service = {v: k for k, v in service_ids.items()}
    matched: set[tuple[str, str]] = set()
    updates: list[dict[str, Any]] = []
    cancels: list[dict[str, Any]] = []
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
        given = batch.subscriptions.get(key)
        if given is None:
            if snapshot and (row.status or "").strip().lower() != CANCELLED:
                cancels.append({"id": row.id, "status": CANCELLED, "updated_at": now})
                report.cancelled.append(key)
            continue
        matched.add(key)
        if tuple(row[3:]) != given[:LOCATION]:
            updates.append({"id": row.id, "updated_at": now} | _values(given))
        else:
            report.subscriptions.unchanged += 1
    report.cancelled.sort()
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


def _values(subscription: SubscriptionRow) -> dict[str, Any]:
    return dict(zip(SUBSCRIPTION_FIELDS, subscription, strict=False))
