"""Review before billing: the queue of held changes, and a reviewer's approve or reject.

A usage sync screens its plan (:func:`screen`) between the planner and the executor: held
writes reach nowhere, and :func:`remember_holds` keeps the queue in step (new holds added
once per identity and value, holds the vendor corrected since withdrawn). A held change's
identity is the ledger's and the marker's (:attr:`PlannedChange.identity`: the pair, and
the term of a record kept apart), so each term's change is held, approved and withdrawn on
its own. Approving writes the held value at once through an ordinary usage sync limited to
the approved changes' identities, so the ledger, audit and idempotency rules are a sync's
own; rejecting leaves Halo as it is and the same value is never asked about again. Every
step is an audit entry naming who took it, and a log entry.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from halosync.domain.halo_values import json_fields
from halosync.domain.models import EXCLUDED_STEP, Plan, PlannedChange, ReviewStatus
from halosync.domain.review import (
    Decisions,
    ReviewedChange,
    ReviewPolicy,
    Screening,
    proposal_key,
    screen_plan,
)
from halosync.domain.terms import service_label
from halosync.errors import NotFoundError, ValidationFailedError
from halosync.logging import get_logger
from halosync.store.base import utcnow
from halosync.store.database import Database
from halosync.store.models import AuditEntry, ReviewItem
from halosync.store.review import ReviewRepository, ReviewRow
from halosync.sync.activity import add_log_entry
from halosync.sync.results import ChangeResult

log = get_logger(__name__)

REVIEW_ENTITY = "ReviewItem"
"""The ``entity`` of the audit entries of review steps (hold, approve, reject, withdraw)."""
HELD_TITLE = "Change held for review"
_PENDING: tuple[ReviewStatus, ...] = ("pending",)
MAX_NAMED = 20


# --- inside a usage sync ------------------------------------------------------------------


Approvals = dict[tuple[str, str, str], int]
"""(account_ref, service_ref, proposal key) -> the id of the approval a run's screening
passed: the executor spends it in the transaction that records its change written."""


@dataclass(frozen=True)
class QueueSlice:
    """The review items of the accounts one plan covers, read once (one statement, by
    index) for its screening and for keeping the queue in step with it."""

    rows: tuple[ReviewRow, ...]

    @classmethod
    def read(
        cls, session: Session, workspace_id: int, plan: Plan, account_ids: Mapping[str, int]
    ) -> QueueSlice:
        """The items of the accounts ``plan`` names (``account_ids``: their ids by ref)."""
        refs = {change.account_ref for change in plan.changes}
        wanted = {account_ids[ref] for ref in refs if ref in account_ids}
        return cls(tuple(ReviewRepository(session, workspace_id).of_accounts(wanted)))

    def decisions(self, run_id: int | None) -> Decisions:
        """Each item's status by (account_ref, service_ref, proposal key); an approval only
        while it is not used (its change not yet written), or run ``run_id`` used it."""
        return {
            (row.account_ref, row.service_ref, row.item.proposal_key): row.item.status  # type: ignore[misc]
            for row in self.rows
            if row.item.status != "approved" or row.item.spent_run_id in (None, run_id)
        }

    def find(self, account_id: int, service_id: int, key: str) -> ReviewItem | None:
        """The item of one pair and proposed value (the key names the term kept apart)."""
        return self._by_key.get((account_id, service_id, key))

    @functools.cached_property
    def _by_key(self) -> dict[tuple[int, int, str], ReviewItem]:
        return {
            (row.item.account_id, row.item.service_id, row.item.proposal_key): row.item
            for row in self.rows
        }

    def waiting(self) -> list[ReviewRow]:
        """Its items a sync is still to act on: pending, or approved and not yet written."""
        return [
            row
            for row in self.rows
            if row.item.status == "pending"
            or (row.item.status == "approved" and row.item.spent_run_id is None)
        ]


def screen(
    session: Session, workspace_id: int, plan: Plan, queue: QueueSlice, run_id: int | None = None
) -> Screening:
    """The plan after the workspace's review policy and its reviewers' earlier decisions
    (``queue``: the plan's accounts' items; approvals not yet used, or used by ``run_id``:
    an approval applies once)."""
    policy = ReviewRepository(session, workspace_id).policy()
    return screen_plan(plan, policy, queue.decisions(run_id))


@dataclass(frozen=True)
class HoldScope:
    """Which waiting items (pending, or approved and not yet written) a screening speaks
    for: the identities its plan planned (account, service and the term of a record kept
    apart, :attr:`PlannedChange.identity`)."""

    identities: frozenset[tuple[str, str, str]] = frozenset()


def remember_holds(
    session: Session,
    workspace_id: int,
    run_id: int,
    screening: Screening,
    scope: HoldScope,
    *,
    account_ids: Mapping[str, int],
    service_ids: Mapping[str, int],
    queue: QueueSlice,
    still_held: set[int] | None = None,
    approvals: Approvals | None = None,
) -> list[ReviewedChange]:
    """Keep the queue in step with one screening of run ``run_id``; returns the new holds.

    Holds are added once per identity and value (a value approved and written by an earlier
    sync is asked about again: an approval applies once). An approval the screening passed
    goes into ``approvals``, for the executor to spend when the change is written (a write
    that fails leaves it armed for the next sync that plans the same change); one whose
    change a sync finds already written by an interrupted earlier run (the record it
    created, found by its tag) is spent now. Every other waiting item of ``scope`` is
    withdrawn: the run plans something else for its identity (the vendor's data changed,
    or the pair is excluded, which withdraws holds and approvals alike), and says why.
    ``queue`` holds the items of the plan's accounts (:meth:`QueueSlice.read`).

    ``still_held``, when given, gets the ids of the items this screening holds or passed
    approved (a run planned in chunks withdraws, at its end, what none of them held or
    planned: see :func:`withdraw_unplanned`)."""
    now = utcnow()
    reviews = ReviewRepository(session, workspace_id)
    added: list[ReviewedChange] = []
    kept: set[int] = set()
    for held in screening.held:
        change = held.change
        account_id = account_ids[change.account_ref]
        service_id = service_ids[change.service_ref]
        item = queue.find(account_id, service_id, held.key)
        if item is None or _spent(item, run_id):
            if item is None:
                item = _new_item(held, account_id, service_id, run_id, now)
                reviews.add(item)
            else:
                _ask_again(item, held, run_id, now)
            added.append(held)
            session.add(_audit(workspace_id, item, "hold", None, now, run_id))
        else:
            item.last_seen_at = now
            item.reasons = "; ".join(held.reasons)
            item.before = json_fields(change.before) if change.before else None
            # A row from before review items knew their term: its key already did.
            item.apart_term = change.apart_term
        kept.add(item.id)
    for passed in screening.approved:
        change = passed.change
        item = queue.find(
            account_ids[change.account_ref], service_ids[change.service_ref], passed.key
        )
        if item is not None:
            kept.add(item.id)
            if approvals is not None:
                approvals[(change.account_ref, change.service_ref, passed.key)] = item.id
    planned = {change.identity: change for change in screening.plan.changes}
    waiting = [
        row
        for row in queue.waiting()
        if row.item.id not in kept and row.identity in scope.identities
    ]
    found = [row for row in waiting if _found_written(row.item, planned.get(row.identity))]
    for row in found:
        row.item.spent_run_id = run_id
        kept.add(row.item.id)
    if still_held is not None:
        still_held |= kept
    gone = [row for row in waiting if row.item.id not in kept]
    _withdraw(session, workspace_id, run_id, gone, planned)
    if added:
        log.warning("changes_held_for_review", run_id=run_id, held=len(added))
    return added


def review_plan(
    session: Session,
    workspace_id: int,
    run_id: int,
    plan: Plan,
    *,
    account_ids: Mapping[str, int],
    service_ids: Mapping[str, int],
    still_held: set[int] | None,
    approvals: Approvals | None = None,
    remember: bool = True,
) -> tuple[Screening, list[ReviewedChange]]:
    """Between a planner and the writes: the one screening every plan goes through, the
    first plan of a run and a plan made again just before a write alike, so that no write
    reaches HaloPSA unscreened. Returns what may go, what is held and what was rejected,
    and the holds new to the queue; with ``remember`` (not in a dry run) the queue is
    kept in step for the plan's identities (:func:`remember_holds`). The queue is read
    once, for the plan's accounts only."""
    queue = QueueSlice.read(session, workspace_id, plan, account_ids)
    screening = screen(session, workspace_id, plan, queue, run_id)
    if not remember:
        return screening, []
    added = remember_holds(
        session,
        workspace_id,
        run_id,
        screening,
        HoldScope(frozenset(change.identity for change in plan.changes)),
        account_ids=account_ids,
        service_ids=service_ids,
        queue=queue,
        still_held=still_held,
        approvals=approvals,
    )
    return screening, added


def withdraw_unplanned(session: Session, workspace_id: int, run_id: int, keep: set[int]) -> None:
    """At the end of a whole-workspace run planned in chunks: withdraw the waiting items
    (pending, or approved and not yet written) none of its chunks held or planned
    (``keep``: those they held or planned), such as a pair whose subscription is gone."""
    waiting = ReviewRepository(session, workspace_id).rows(waiting=True)
    _withdraw(session, workspace_id, run_id, [row for row in waiting if row.item.id not in keep])


def spend_approvals(
    session: Session,
    workspace_id: int,
    run_id: int,
    approvals: Mapping[tuple[str, str, str], int],
    written: Iterable[PlannedChange],
) -> None:
    """In the transaction that records ``written`` in the ledger: the approvals of those
    changes are used by run ``run_id`` (each applies once, and only once written)."""
    if not approvals:
        return
    keys = [(change.account_ref, change.service_ref, proposal_key(change)) for change in written]
    ids = [approvals[key] for key in keys if key in approvals]
    ReviewRepository(session, workspace_id).spend(ids, run_id)


def _found_written(item: ReviewItem, change: PlannedChange | None) -> bool:
    """An approved change an interrupted earlier run wrote: the sync found the record it
    created by its tag (the ledger's pending row), holding what the sync plans."""
    return (
        item.status == "approved"
        and change is not None
        and change.action == "unchanged"
        and change.adopted
    )


def _spent(item: ReviewItem, run_id: int) -> bool:
    """An approval an earlier sync used (its change written): it does not apply again."""
    return item.status == "approved" and item.spent_run_id not in (None, run_id)


def _ask_again(item: ReviewItem, held: ReviewedChange, run_id: int, now: datetime) -> None:
    """A value approved once and planned again later waits for review anew (the earlier
    approval stays in the audit trail)."""
    fresh = _new_item(held, item.account_id, item.service_id, run_id, now)
    for name in ("before", "after", "reasons", "status", "first_seen_at", "last_seen_at"):
        setattr(item, name, getattr(fresh, name))
    item.first_run_id = run_id
    item.apart_term = fresh.apart_term
    item.decided_by = item.decided_at = item.spent_run_id = None


def _why_withdrawn(item: ReviewItem, change: PlannedChange | None) -> str:
    """Why a waiting item leaves the queue, given what the run planned for its identity."""
    last = change.explain[-1] if change is not None and change.explain else None
    if last is not None and last.rule == EXCLUDED_STEP:
        return (
            f"{last.text}; an exclusion withdraws what waits for review, approvals not yet "
            "written included, and once included again the change is screened again"
        )
    if item.status == "approved" and change is not None and change.action == "unchanged":
        return "HaloPSA already holds what the sync plans, so there is nothing to write"
    if item.status == "approved":
        return (
            "the sync planned another change since the approval (the vendor's data or "
            "HaloPSA changed): an approval applies only to the exact change approved"
        )
    return "it is no longer planned (the vendor's data changed since)"


def _withdraw(
    session: Session,
    workspace_id: int,
    run_id: int,
    gone: list[ReviewRow],
    planned: Mapping[tuple[str, str, str], PlannedChange] | None = None,
) -> None:
    """Withdraw waiting items: an audit entry and a log entry each, saying why."""
    now = utcnow()
    for row in gone:
        item = row.item
        why = _why_withdrawn(item, (planned or {}).get(row.identity))
        entry = _audit(workspace_id, item, "withdraw", None, now, run_id)
        entry.before = {
            "status": item.status,
            "account_ref": row.account_ref,
            "service_ref": row.service_ref,
            "term": item.apart_term,
            "before": item.before,
            "after": item.after,
            "decided_by": item.decided_by,
        }
        entry.after = {"status": "withdrawn", "why": why}
        session.add(entry)
        where = f"Account {row.account_ref}, service {_service(row)}"
        if item.status == "approved":
            title = "Approval withdrawn"
            details = (
                f"{where}: {item.decided_by}'s approval of {_change_text(item)} was "
                f"withdrawn before it was written: {why}."
            )
        else:
            title = "Held change withdrawn"
            details = f"{where}: {_change_text(item)} left the review queue: {why}."
        add_log_entry(session, workspace_id, "INFO", title, details, run_id=run_id)
    ReviewRepository(session, workspace_id).delete([row.item for row in gone])


def log_still_waiting(
    session: Session, workspace_id: int, run_id: int, waiting: list[ChangeResult]
) -> None:
    """One INFO entry for the changes held by earlier runs and held again by this one: they
    were announced (a WARNING and an e-mail) when first held, not on every run."""
    if not waiting:
        return
    changes = sorted({f"{r.account_ref} / {service_label(r.service_ref, r.term)}" for r in waiting})
    named = ", ".join(changes[:MAX_NAMED])
    more = f" and {len(changes) - MAX_NAMED} more" if len(changes) > MAX_NAMED else ""
    add_log_entry(
        session,
        workspace_id,
        "INFO",
        "Changes still waiting for review",
        f"{len(changes)} change(s) held earlier are still waiting for review and were not "
        f"written: {named}{more}.",
        run_id=run_id,
    )


def mark_held(
    results: list[ChangeResult], screening: Screening, held_again: Collection[int] = ()
) -> list[ChangeResult]:
    """The executor's results (in plan order) with the held ones flagged: those the
    screening held, and ``held_again`` (the indexes held when planned again before a
    write)."""
    held = {reviewed.index for reviewed in screening.held} | set(held_again)
    return [_flagged(result) if index in held else result for index, result in enumerate(results)]


def _flagged(result: ChangeResult) -> ChangeResult:
    return replace(result, held=True)


def _new_item(
    held: ReviewedChange, account_id: int, service_id: int, run_id: int, now: datetime
) -> ReviewItem:
    change = held.change
    assert change.target is not None
    return ReviewItem(
        account_id=account_id,
        service_id=service_id,
        apart_term=change.apart_term,
        proposal_key=held.key,
        target=change.target,
        action=change.action,
        halo_client_id=change.halo_client_id,
        recurring_invoice_id=change.recurring_invoice_id,
        halo_record_id=change.halo_id,
        before=json_fields(change.before) if change.before else None,
        after=json_fields(change.after),
        reasons="; ".join(held.reasons),
        status="pending",
        first_seen_at=now,
        last_seen_at=now,
        first_run_id=run_id,
    )


def _audit(
    workspace_id: int,
    item: ReviewItem,
    operation: str,
    actor: str | None,
    at: datetime,
    run_id: int | None = None,
) -> AuditEntry:
    return AuditEntry(
        workspace_id=workspace_id,
        run_id=run_id,
        entity=REVIEW_ENTITY,
        halo_record_id=item.halo_record_id,
        operation=operation,
        before=item.before,
        after=item.after,
        request_id=f"review-{item.id}",
        actor=actor,
        at=at,
    )


# --- what a reviewer sees ---------------------------------------------------------------


def _halo_record(item: ReviewItem, client_name: str | None = None) -> str:
    client = f"HaloPSA client {item.halo_client_id}"
    if client_name:
        client = f"HaloPSA client '{client_name}' ({item.halo_client_id})"
    if item.target == "licence":
        if item.action == "create":
            return f"new licence for {client}"
        return f"licence {item.halo_record_id} of {client}"
    if item.action == "create":
        return f"new line on recurring invoice {item.recurring_invoice_id}"
    return f"line {item.halo_record_id} on recurring invoice {item.recurring_invoice_id}"


def _service(row: ReviewRow) -> str:
    """The service as the log names a held change's: "MAIL", or "MAIL (annual)"."""
    return service_label(row.service_ref, row.item.apart_term)


def _value(value: Any) -> str:
    return "(none)" if value is None else str(value)


def _change_text(item: ReviewItem) -> str:
    """``count 12 → 1200`` (the fields an update changes; a create's quantity fields)."""
    before = item.before or {}
    after = item.after or {}
    names = list(after) if item.action == "update" else [n for n in after if n in _NUMBERS]
    parts = []
    for name in names:
        if item.action == "update":
            parts.append(f"{name} {_value(before.get(name))} → {_value(after.get(name))}")
        else:
            parts.append(f"{name} {_value(after.get(name))}")
    prefix = "new record: " if item.action == "create" else ""
    return prefix + ", ".join(parts)


_NUMBERS = ("count", "qty_order", "price", "purchase_price", "unit_price", "unit_cost")


@dataclass(frozen=True)
class ReviewView:
    """One review item as the queue shows it."""

    id: int
    account_ref: str
    account_name: str
    service_ref: str
    service_name: str
    term: str
    """The term of a record kept apart (terms rule ``apart``); "" for the pair's one."""
    target: str
    action: str
    halo_record: str
    halo_record_id: int | None
    before: dict[str, Any]
    after: dict[str, Any]
    change: str
    why: str
    status: str
    first_seen_at: datetime
    last_seen_at: datetime
    decided_by: str | None
    decided_at: datetime | None

    @property
    def identity(self) -> tuple[str, str, str]:
        """Its change's identity, as :attr:`PlannedChange.identity`."""
        return (self.account_ref, self.service_ref, self.term)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` / REST shape (timestamps in ISO 8601 UTC)."""
        return {
            "id": self.id,
            "account_ref": self.account_ref,
            "account_name": self.account_name,
            "service_ref": self.service_ref,
            "service_name": self.service_name,
            "term": self.term,
            "target": self.target,
            "action": self.action,
            "halo_record": self.halo_record,
            "halo_record_id": self.halo_record_id,
            "before": self.before,
            "after": self.after,
            "change": self.change,
            "why": self.why,
            "status": self.status,
            "first_seen_at": self.first_seen_at.isoformat(),
            "last_seen_at": self.last_seen_at.isoformat(),
            "decided_by": self.decided_by,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
        }


def _view(row: ReviewRow) -> ReviewView:
    item = row.item
    return ReviewView(
        id=item.id,
        account_ref=row.account_ref,
        account_name=row.account_name,
        service_ref=row.service_ref,
        service_name=row.service_name,
        term=item.apart_term,
        target=item.target,
        action=item.action,
        halo_record=_halo_record(item, row.client_name),
        halo_record_id=item.halo_record_id,
        before=dict(item.before or {}),
        after=dict(item.after),
        change=_change_text(item),
        why=item.reasons,
        status=item.status,
        first_seen_at=item.first_seen_at,
        last_seen_at=item.last_seen_at,
        decided_by=item.decided_by,
        decided_at=item.decided_at,
    )


def list_review(
    database: Database, workspace_id: int, *, status: ReviewStatus | None = "pending"
) -> list[ReviewView]:
    """The queue (pending items, oldest first), or the items of another status (or all)."""
    with database.reading() as session:
        rows = ReviewRepository(session, workspace_id).rows(
            statuses=None if status is None else (status,)
        )
        return [_view(row) for row in rows]


def held_in_run(session: Session, workspace_id: int, run_id: int) -> list[ReviewView]:
    """The pending items a run held first (for the notification)."""
    rows = ReviewRepository(session, workspace_id).rows(statuses=_PENDING, first_run_id=run_id)
    return [_view(row) for row in rows]


def pending_count(session: Session, workspace_id: int) -> int:
    """The queue's size, for the dashboard."""
    return ReviewRepository(session, workspace_id).count("pending")


# --- deciding -------------------------------------------------------------------------------


def _pending_rows(
    session: Session, workspace_id: int, ids: Collection[int] | None
) -> list[ReviewRow]:
    """The pending items named (all pending when ``ids`` is None); names what is not."""
    reviews = ReviewRepository(session, workspace_id)
    if ids is None:
        return reviews.rows(statuses=_PENDING)
    wanted = sorted(set(ids))
    rows = reviews.rows(ids=wanted)
    found = {row.item.id: row for row in rows}
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise NotFoundError(
            f"No review item {', '.join(missing)} in this workspace.",
            fix="List the queue to see the items waiting for review.",
        )
    decided = [f"{row.item.id} ({row.item.status})" for row in rows if row.item.status != "pending"]
    if decided:
        raise ValidationFailedError(
            f"Review item {', '.join(decided)} was already decided; nothing was changed.",
            fix="List the queue to see the items still waiting for review.",
        )
    return rows


def _decide(
    database: Database,
    workspace_id: int,
    ids: Collection[int] | None,
    status: ReviewStatus,
    actor: str,
) -> list[ReviewView]:
    now = utcnow()
    with database.session() as session:
        rows = _pending_rows(session, workspace_id, ids)
        verb = "approved" if status == "approved" else "rejected"
        for row in rows:
            row.item.status = status
            row.item.decided_by = actor
            row.item.decided_at = now
            operation = "approve" if status == "approved" else "reject"
            session.add(_audit(workspace_id, row.item, operation, actor, now))
            add_log_entry(
                session,
                workspace_id,
                "INFO",
                f"Held change {verb}",
                f"{actor} {verb} account {row.account_ref}, service {_service(row)}, "
                f"{_halo_record(row.item, row.client_name)}: {_change_text(row.item)}"
                + (
                    "; HaloPSA is left as it is, and this value is not asked about again."
                    if status == "rejected"
                    else "."
                ),
                at=now,
            )
        return [_view(row) for row in rows]


def reject_review(
    database: Database, workspace_id: int, ids: Collection[int] | None, *, actor: str
) -> list[ReviewView]:
    """Reject the named pending items (all with ``ids=None``): Halo stays as it is and a
    later run that plans the same value skips it without asking again."""
    return _decide(database, workspace_id, ids, "rejected", actor)


@dataclass(frozen=True)
class ApprovalReport:
    """What an approval did: the items approved and the run that wrote them."""

    items: tuple[ReviewView, ...]
    run_id: int | None = None
    written: tuple[ChangeResult, ...] = ()
    others: tuple[ChangeResult, ...] = ()
    """The approved pairs' results that are not writes (a changed value held anew, a
    failure)."""
    error: str | None = None
    results: tuple[ChangeResult, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` / REST shape."""
        return {
            "approved": [item.to_dict() for item in self.items],
            "run_id": self.run_id,
            "written": len(self.written),
            "error": self.error,
            "results": [result.to_dict() for result in self.results],
        }


def approve_review(
    database: Database, workspace_id: int, ids: Collection[int] | None, *, actor: str
) -> list[ReviewView]:
    """Approve the named pending items (all with ``ids=None``): their values may be written.

    The write itself is :func:`halosync.sync.usage.approve_and_write`'s sync run.
    """
    return _decide(database, workspace_id, ids, "approved", actor)


def set_review_policy(
    database: Database, workspace_id: int, policy: ReviewPolicy, *, actor: str
) -> ReviewPolicy:
    """Validate and store the workspace's review policy, and log what changed."""
    problems = [
        f"{name} {value} (use a whole number of 0 or more, or leave it empty to turn it off)"
        for name, value in (
            ("change_above_units", policy.change_above_units),
            ("change_above_percent", policy.change_above_percent),
            ("new_above_units", policy.new_above_units),
        )
        if value is not None and value < 0
    ]
    if problems:
        raise ValidationFailedError("Invalid review policy: " + "; ".join(problems) + ".")
    with database.session() as session:
        reviews = ReviewRepository(session, workspace_id)
        before = reviews.policy()
        reviews.save_policy(policy, utcnow())
        changed = [
            f"{name}: {getattr(before, name)} -> {getattr(policy, name)}"
            for name in ReviewPolicy.__dataclass_fields__
            if getattr(before, name) != getattr(policy, name)
        ]
        if changed:
            add_log_entry(
                session,
                workspace_id,
                "INFO",
                "Review policy changed",
                f"{actor}: " + "; ".join(changed) + " (applies from the next sync).",
            )
    return policy


def review_policy(database: Database, workspace_id: int) -> ReviewPolicy:
    """The workspace's review policy (the defaults until changed)."""
    with database.reading() as session:
        return ReviewRepository(session, workspace_id).policy()


def changes_of(plan: Plan, identities: Collection[tuple[str, str, str]]) -> Plan:
    """``plan`` limited to the changes of ``identities`` (:attr:`PlannedChange.identity`):
    an approval writes only what was approved, not another term of the same pair."""
    wanted = set(identities)
    return Plan(tuple(c for c in plan.changes if c.identity in wanted))


def policy_dict(policy: ReviewPolicy) -> dict[str, Any]:
    """The ``--json`` / REST shape of a policy."""
    return {name: getattr(policy, name) for name in ReviewPolicy.__dataclass_fields__}


__all__ = [
    "HELD_TITLE",
    "ApprovalReport",
    "Approvals",
    "HoldScope",
    "QueueSlice",
    "ReviewView",
    "approve_review",
    "changes_of",
    "list_review",
    "mark_held",
    "pending_count",
    "policy_dict",
    "reject_review",
    "remember_holds",
    "review_plan",
    "review_policy",
    "screen",
    "set_review_policy",
    "spend_approvals",
    "withdraw_unplanned",
]
