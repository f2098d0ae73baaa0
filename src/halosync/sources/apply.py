"""Writing a validated batch into a workspace: bulk upserts that touch only what changed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from itertools import islice
from typing import Any

from sqlalchemy.orm import Session

from halosync.domain.snapshot import DEFAULT_CANCEL_LIMIT_PERCENT, mass_cancel
from halosync.sources.batch import BatchBuilder, UsageBatch
from halosync.sources.errors import MassCancelError, cancelled_dict
from halosync.sources.schemas import AccountIn, ServiceIn
from halosync.store import staging as staging_tables
from halosync.store.base import utcnow
from halosync.store.models import Account, Service
from halosync.store.spool import SpooledRow
from halosync.store.staging import StagedRow, SubscriptionStaging
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


class UsageApplier:
    """Writes one import into a workspace inside the caller's transaction, in pieces:
    accounts and services as they are first given, subscriptions a chunk at a time
    (:data:`~halosync.store.staging.CHUNK_ROWS`), each chunk set-based through
    :class:`~halosync.store.staging.SubscriptionStaging`, never one statement per row.

    Whoever feeds it has validated what it gives; what needs the whole import (a
    snapshot's cancellations and their mass-cancel guard, the pairs given a new term) is
    done by :meth:`finish`. Anything raised on the way leaves the transaction to be rolled
    back: nothing is half-imported.
    """

    def __init__(self, session: Session, workspace_id: int, *, snapshot: bool) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self.now = utcnow()
        self.report = ImportReport(snapshot=snapshot)
        self._writer = UsageWriter(session, workspace_id)
        # Before reading anything: another import into the workspace commits first.
        self._writer.take_turn()
        self._accounts = self._writer.accounts()
        self._services = self._writer.services()
        self.account_ids = {ref: row.id for ref, row in self._accounts.items()}
        self.service_ids = {ref: row.id for ref, row in self._services.items()}
        self._staging = SubscriptionStaging(session, workspace_id, snapshot=snapshot)
        # What a snapshot's guard weighs its cancellations against: the active
        # subscriptions before this import wrote any.
        self._active_before = self._staging.count_active() if snapshot else 0
        self.subscriptions_written = 0

    def write_accounts(self, accounts: Iterable[tuple[str, AccountIn]]) -> None:
        """Insert the new accounts and update the ones that changed. A field left out
        (None) keeps the stored value; a new account gives them all (the builder refuses
        one that does not: see :meth:`BatchBuilder.check_references`)."""
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        counts = self.report.accounts
        for ref, account in accounts:
            row = self._accounts.get(ref)
            values = {
                name: value
                for name in _ACCOUNT_VALUES
                if (value := getattr(account, name)) is not None
            }
            if row is None:
                inserts.append(
                    {"workspace_id": self.workspace_id, "ref": ref}
                    | {"created_at": self.now, "updated_at": self.now}
                    | values
                )
            elif any(getattr(row, name) != value for name, value in values.items()):
                updates.append({"id": row.id, "updated_at": self.now} | values)
            else:
                counts.unchanged += 1
        self.account_ids.update(self._writer.insert(Account, inserts))
        self._writer.update(Account, updates)
        counts.created += len(inserts)
        counts.updated += len(updates)

    def write_services(self, services: Iterable[tuple[str, ServiceIn]]) -> None:
        """Insert the new services and rename the ones renamed (a name left out keeps
        the stored one)."""
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        counts = self.report.services
        for ref, service in services:
            row = self._services.get(ref)
            if row is None:
                inserts.append(
                    {"workspace_id": self.workspace_id, "ref": ref, "name": service.name}
                )
            elif service.name is not None and row.name != service.name:
                updates.append({"id": row.id, "name": service.name})
            else:
                counts.unchanged += 1
        self.service_ids.update(self._writer.insert(Service, inserts))
        self._writer.update(Service, updates)
        counts.created += len(inserts)
        counts.updated += len(updates)

    def resolves(self, subscriptions: Iterable[SpooledRow]) -> bool:
        """Whether every account and service these subscriptions name is written."""
        accounts, services = self.account_ids, self.service_ids
        return all(row[0] in accounts and row[1] in services for row in subscriptions)

    def write_subscriptions(self, subscriptions: Iterable[SpooledRow]) -> None:
        """Write subscriptions (``(account_ref, service_ref, *values)``, the batch's next
        ones in order), a chunk at a time; their accounts and services are written."""
        accounts, services = self.account_ids, self.service_ids
        staged = (
            (accounts[account_ref], services[service_ref], *values)
            for account_ref, service_ref, *values in subscriptions
        )
        while chunk := list(islice(staged, staging_tables.CHUNK_ROWS)):
            self._write_chunk(chunk)

    def _write_chunk(self, chunk: list[StagedRow]) -> None:
        staging, counts, now = self._staging, self.report.subscriptions, self.now
        staging.load(chunk, self.subscriptions_written)
        self.subscriptions_written += len(chunk)
        matched = staging.match()
        updated = staging.update_changed(now) if matched else 0
        counts.updated += updated
        counts.unchanged += matched - updated
        counts.created += len(chunk) - matched
        if len(chunk) > matched:
            staging.note_pairs_gaining_a_term()
            staging.insert_new(now)
        staging.note_seen(created=len(chunk) > matched)

    def finish(self, batch: UsageBatch, *, allow_mass_cancel: bool) -> ImportReport:
        """After the last subscription: a snapshot's cancellations (refused when they are
        too many, unless ``allow_mass_cancel``), the report."""
        report, staging = self.report, self._staging
        report.rows = batch.rows
        if report.snapshot:
            report.cancelled = sorted(staging.unlisted_active())
            if not allow_mass_cancel:
                _refuse_mass_cancel(
                    self.session, self.workspace_id, report.cancelled, self._active_before, batch
                )
            staging.cancel_unlisted(self.now)
        report.several_terms = staging.count_pairs_gaining_a_term()
        staging.drop()
        return report


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
    """
    applier = UsageApplier(session, workspace_id, snapshot=snapshot)
    builder.check_references(applier.account_ids, applier.service_ids)
    batch = builder.build()
    applier.write_accounts(batch.accounts.items())
    applier.write_services(batch.services.items())
    applier.write_subscriptions(batch.subscriptions.rows())
    return applier.finish(batch, allow_mass_cancel=allow_mass_cancel)


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
