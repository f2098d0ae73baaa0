"""The customers pull ("Sync Organizations"): Halo clients, items and recurring invoices.

Records are upserted by Halo id. A record Halo no longer has (its list read did not
return it, and a look-up by id answered 404) is marked ``gone`` (an inactive one
``inactive``) and kept, so mappings to it stay visible and are never silently dropped;
the mapping screens show the status instead.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from halosync.domain.models import RunTrigger
from halosync.halopsa.client import HaloApiClient
from halosync.halopsa.models import Client, Item, RecurringInvoice
from halosync.logging import get_logger
from halosync.settings import Settings
from halosync.store.account_grid import refresh_mapping_columns
from halosync.store.attention import mapped_to_dead_clients
from halosync.store.base import utcnow
from halosync.store.crypto import SecretBox
from halosync.store.database import Database
from halosync.store.halo_pull import PULLED_MODELS, PulledModel, cached_rows, live_ids, mark_gone
from halosync.store.models import HaloRecurringInvoice, Workspace
from halosync.store.scratch import SortedIds, Spill
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.activity import PROVIDER, add_log_entry
from halosync.sync.halo import HaloFactory, open_halo
from halosync.sync.progress import ProgressObserver
from halosync.sync.results import RunReport
from halosync.sync.runs import RunEnd, RunLifecycle, prune_history, start_run

log = get_logger(__name__)

CachedModel = PulledModel
_MODELS = PULLED_MODELS


@dataclass(frozen=True)
class Pulled:
    """One Halo record as the store caches it."""

    halo_id: int
    name: str
    inactive: bool
    halo_client_id: int | None = None


@dataclass
class PullCounts:
    """What an upsert of one kind of record changed."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    gone: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        """Counts by name."""
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "gone": self.gone,
            "failed": self.failed,
        }


def _upsert(
    session: Session, model: CachedModel, workspace_id: int, pulled: Spill[Pulled], repeated: int
) -> PullCounts:
    """Bring one kind's cache in step with what the pull read, a page of ids at a time;
    cached records it did not read are marked gone. ``repeated``: records read twice."""
    counts = PullCounts(failed=repeated)
    now = utcnow()
    for start in range(0, len(pulled), _PAGE):
        records = list(pulled.slice(start, start + _PAGE))
        existing = cached_rows(session, model, workspace_id, [r.halo_id for r in records])
        for record in records:
            row = existing.get(record.halo_id)
            if row is None:
                row = model(workspace_id=workspace_id, halo_id=record.halo_id)
                _assign(row, record)
                row.inactive, row.gone, row.last_seen_at = record.inactive, False, now
                session.add(row)
                counts.created += 1
                continue
            changed = (
                row.name != record.name
                or row.inactive != record.inactive
                or row.gone
                or (
                    isinstance(row, HaloRecurringInvoice)
                    and row.halo_client_id != record.halo_client_id
                )
            )
            _assign(row, record)
            row.inactive, row.gone, row.last_seen_at = record.inactive, False, now
            if changed:
                counts.updated += 1
            else:
                counts.unchanged += 1
        # Written out a page at a time, so the session holds one page of rows.
        session.flush()
        del existing, records
    gone = _not_read(live_ids(session, model, workspace_id), pulled)
    mark_gone(session, model, workspace_id, gone)
    counts.gone = len(gone)
    return counts


def _not_read(ids: Iterable[int], pulled: Spill[Pulled]) -> list[int]:
    """The ids of ``ids`` the pull did not read."""
    missing: list[int] = []
    part: list[int] = []
    for halo_id in ids:
        part.append(halo_id)
        if len(part) == _PAGE:
            missing += sorted(set(part) - pulled.present(part))
            part = []
    return missing + sorted(set(part) - pulled.present(part))


_PAGE = 2000
"""Records upserted together (one look-up of their cached rows, one flush)."""


def _assign(row: Any, record: Pulled) -> None:
    row.name = record.name
    if isinstance(row, HaloRecurringInvoice):
        row.halo_client_id = record.halo_client_id or 0


_PULLS: dict[str, tuple[str, dict[str, Any]]] = {
    "clients": ("Client", {"includeinactive": True, "includeactive": True}),
    "items": ("Item", {"includeinactive": True, "includeactive": True}),
    "recurring_invoices": ("RecurringInvoice", {"includelines": False}),
}
"""Kind -> the Halo list it is pulled from, and the list's query."""


def _pulled(kind: str, record: dict[str, Any]) -> Pulled:
    if kind == "clients":
        client = Client.model_validate(record)
        return Pulled(client.id, client.name, client.inactive)
    if kind == "items":
        item = Item.model_validate(record)
        return Pulled(item.id, item.name, item.inactive or (item.status not in (None, 0)))
    invoice = RecurringInvoice.model_validate(record)
    return Pulled(
        invoice.id,
        invoice.reference or f"Recurring invoice {invoice.id}",
        invoice.inactive or bool(getattr(invoice, "disabled", False)),
        invoice.client_id,
    )


async def _pull(
    halo: HaloApiClient, target: str, known: dict[str, Collection[int]]
) -> dict[str, tuple[Spill[Pulled], int]]:
    """Every client and item (and recurring invoice), as Halo holds them now, kept page by
    page on disk; with each kind, how many records were read twice.

    Halo's lists change while they are read, so a record cached here that a read did not
    return is looked up by id: only Halo's 404 marks it gone.
    """
    kinds = ["clients", "items"] + (["recurring_invoices"] if target == "invoice_line" else [])
    pulled: dict[str, tuple[Spill[Pulled], int]] = {}
    for kind in kinds:
        entity, params = _PULLS[kind]
        kept: Spill[Pulled] = Spill()
        repeated = 0
        async for page in halo.iter_pages(entity, params=params):
            records = [_pulled(kind, record) for record in page]
            repeated += len(records) - kept.add_new((r.halo_id, None, r) for r in records)
        unread = _not_read(known.get(kind, ()), kept)
        if unread:
            found = await halo.get_records(entity, unread)
            records = [_pulled(kind, record) for record in found.values() if record is not None]
            repeated += len(records) - kept.add_new((r.halo_id, None, r) for r in records)
        pulled[kind] = (kept, repeated)
    return pulled


def _cached_ids(session: Session, workspace_id: int) -> dict[str, Collection[int]]:
    """Halo ids of the cached records still taken to exist, per kind (sorted arrays)."""
    return {
        kind: SortedIds(live_ids(session, model, workspace_id)) for kind, model in _MODELS.items()
    }


def _mapped_attention(session: Session, workspace_id: int) -> list[str]:
    """Mapped accounts whose Halo client is now gone or inactive."""
    return [
        f"account {ref} is mapped to HaloPSA client '{name}' ({halo_id}), which "
        + ("no longer exists" if gone else "is inactive")
        for ref, name, halo_id, gone in mapped_to_dead_clients(session, workspace_id)
    ]


async def run_customers_sync(
    database: Database,
    box: SecretBox,
    settings: Settings,
    workspace_id: int,
    *,
    trigger: RunTrigger = "manual",
    halo_factory: HaloFactory | None = None,
    run_id: int | None = None,
    observers: Sequence[ProgressObserver] = (),
) -> RunReport:
    """Pull Halo clients, items (and recurring invoices for ``invoice_line``) into the store.

    ``run_id`` names a run queued earlier (by the jobs facade) to claim and execute;
    ``observers`` hear the run's progress (pages read, waits for Halo's rate limit).
    """
    started = time.monotonic()
    database.migrate()
    with database.session() as session:
        workspace = WorkspaceRepository(session).get(workspace_id)
        name, target, retention = workspace.name, workspace.target, workspace.log_retention_days
    run_id = start_run(
        database,
        workspace_id,
        kind="customers",
        trigger=trigger,
        stale_after_seconds=settings.sync_stale_run_seconds,
        run_id=run_id,
    )
    with database.session() as session:
        add_log_entry(
            session,
            workspace_id,
            "INFO",
            "Customers sync started",
            f"Workspace {name}, provider {PROVIDER}.",
            run_id=run_id,
        )
    details: dict[str, PullCounts] = {}
    attention: list[str] = []

    def counts() -> dict[str, int]:
        return {
            "created": sum(c.created for c in details.values()),
            "updated": sum(c.updated + c.gone for c in details.values()),
            "unchanged": sum(c.unchanged for c in details.values()),
            "failed": sum(c.failed for c in details.values()),
        }

    def close(session: Session, end: RunEnd) -> None:
        summary = ", ".join(f"{key} {value}" for key, value in end.counts.items())
        if end.status == "succeeded":
            add_log_entry(
                session,
                workspace_id,
                "INFO",
                "Customers sync completed",
                f"Workspace {name}, provider {PROVIDER}: {summary}, duration {end.duration_ms} ms.",
                run_id=run_id,
            )
            ws = session.get(Workspace, workspace_id)
            assert ws is not None
            ws.last_customers_sync_at = end.finished_at
        else:
            add_log_entry(
                session,
                workspace_id,
                "ERROR",
                "Customers sync halted" if end.status == "halted" else "Customers sync failed",
                f"Workspace {name}, provider {PROVIDER}: {end.error}",
                run_id=run_id,
            )
        for text in attention:
            add_log_entry(session, workspace_id, "WARNING", "Mapped client needs attention", text)
        prune_history(session, workspace_id, retention, now=end.finished_at)

    lifecycle = RunLifecycle(
        database,
        run_id,
        stale_after_seconds=settings.sync_stale_run_seconds,
        counts=counts,
        on_finish=close,
        started=started,
        observers=observers,
    )
    async with lifecycle:
        with database.session() as session:
            known = _cached_ids(session, workspace_id)
        async with open_halo(database, box, settings, workspace_id, halo_factory) as halo:
            halo.watch(lifecycle.progress)
            pulled = await _pull(halo, target, known)
        try:
            with database.session() as session:
                for kind, (records, repeated) in pulled.items():
                    details[kind] = _upsert(session, _MODELS[kind], workspace_id, records, repeated)
                refresh_mapping_columns(session, workspace_id)
                attention += _mapped_attention(session, workspace_id)
        finally:
            for records, _ in pulled.values():
                records.close()
    end = lifecycle.end
    log.info("customers_sync_finished", workspace=name, status=end.status, **end.counts)
    return RunReport(
        run_id=run_id,
        workspace=name,
        status=end.status,
        counts=end.counts,
        duration_ms=end.duration_ms,
        error=end.error,
        details={kind: c.as_dict() for kind, c in details.items()},
    )
