"""Approving held changes writes them at once, through a usage sync of just those changes."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from halosync.domain.models import RunTrigger
from halosync.settings import Settings
from halosync.store.crypto import SecretBox
from halosync.store.database import Database
from halosync.sync.errors import SyncInProgressError
from halosync.sync.halo import HaloFactory
from halosync.sync.results import ChangeResult
from halosync.sync.review import ApprovalReport, approve_review
from halosync.sync.usage import run_usage_sync


async def approve_and_write(
    database: Database,
    box: SecretBox,
    settings: Settings,
    workspace_id: int,
    ids: Collection[int] | None,
    *,
    actor: str,
    trigger: RunTrigger = "manual",
    halo_factory: HaloFactory | None = None,
) -> ApprovalReport:
    """Approve the named pending items (all with ``ids=None``) and write them now.

    The write is an ordinary usage sync limited to the approved changes' identities (the
    pair, and the term of a record kept apart): it plans each again against Halo as it is
    now, so the ledger (pending before the POST), the audit trail and the
    one-sync-per-workspace rule apply as to any sync. If the vendor's value changed since
    the hold, the new value is held anew instead of written. When another sync is running
    the approval stands and that (or the next) sync writes it.
    """
    items = approve_review(database, workspace_id, ids, actor=actor)
    if not items:
        return ApprovalReport(())
    accounts = {item.account_ref for item in items}
    try:
        report = await run_usage_sync(
            database,
            box,
            settings,
            workspace_id,
            trigger=trigger,
            account_ref=next(iter(accounts)) if len(accounts) == 1 else None,
            halo_factory=halo_factory,
            identities={item.identity for item in items},
        )
    except SyncInProgressError as error:
        return ApprovalReport(
            tuple(items),
            error=f"{error.message} The approval stands: the next sync writes it.",
        )
    results = tuple(report.changes)  # only the approved pairs': few
    written = tuple(r for r in results if r.action in ("create", "update"))
    return ApprovalReport(
        tuple(items),
        run_id=report.run_id,
        written=written,
        others=tuple(_standing(r) for r in results if r not in written),
        error=f"{report.error} {STOPPED}" if report.error else None,
        results=results,
    )


STANDS = "the approval stands: the next sync that plans this change writes it"
STOPPED = "Approvals not written stand: the next sync that plans their change writes it."


def _standing(result: ChangeResult) -> ChangeResult:
    """A failed write's result, saying its approval was not used up."""
    if result.action != "fail":
        return result
    return replace(result, reason=f"{result.reason}; {STANDS}")
