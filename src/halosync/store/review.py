"""SQL on the review queue and the review policy (``review_item``, ``review_policy``)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from halosync.domain.models import ReviewStatus
from halosync.domain.review import DEFAULT_REVIEW_POLICY, ReviewPolicy
from halosync.store.models import Account, HaloClient, ReviewItem, ReviewPolicyRow, Service


@dataclass(frozen=True)
class ReviewRow:
    """A review item with its account's and service's references and names."""

    item: ReviewItem
    account_ref: str
    account_name: str
    service_ref: str
    service_name: str
    client_name: str | None = None
    """The Halo client's name as last pulled (None when it was never pulled)."""

    @property
    def identity(self) -> tuple[str, str, str]:
        """Its change's identity, as :attr:`halosync.domain.models.PlannedChange.identity`:
        the pair, and the term of a record kept apart."""
        return (self.account_ref, self.service_ref, self.item.apart_term)


class ReviewRepository:
    """One workspace's review queue and policy."""

    def __init__(self, session: Session, workspace_id: int) -> None:
        self.session = session
        self.workspace_id = workspace_id

    # --- the policy --------------------------------------------------------------------

    def policy(self) -> ReviewPolicy:
        """The workspace's policy; the defaults until it was changed."""
        row = self.session.get(ReviewPolicyRow, self.workspace_id)
        if row is None:
            return DEFAULT_REVIEW_POLICY
        return ReviewPolicy(
            change_above_units=row.change_above_units,
            change_above_percent=row.change_above_percent,
            new_above_units=row.new_above_units,
            any_price_change=row.any_price_change,
            drop_to_zero=row.drop_to_zero,
        )

    def save_policy(self, policy: ReviewPolicy, at: datetime) -> None:
        """Store ``policy`` as the workspace's."""
        row = self.session.get(ReviewPolicyRow, self.workspace_id)
        if row is None:
            row = ReviewPolicyRow(workspace_id=self.workspace_id)
            self.session.add(row)
        row.change_above_units = policy.change_above_units
        row.change_above_percent = policy.change_above_percent
        row.new_above_units = policy.new_above_units
        row.any_price_change = policy.any_price_change
        row.drop_to_zero = policy.drop_to_zero
        row.updated_at = at

    # --- the queue ---------------------------------------------------------------------

    def of_accounts(self, account_ids: Collection[int]) -> list[ReviewRow]:
        """Every item of these accounts, whatever its status: what one chunk of a sync
        screens against, read in one statement by the (workspace, account, ...) unique
        index, so a long queue costs a chunk only its own accounts' items (issue 15)."""
        if not account_ids:
            return []
        return self.rows(account_ids=account_ids)

    def rows(
        self,
        *,
        statuses: Collection[ReviewStatus] | None = None,
        ids: Collection[int] | None = None,
        account_ids: Collection[int] | None = None,
        first_run_id: int | None = None,
        waiting: bool = False,
    ) -> list[ReviewRow]:
        """Items (oldest first) with their account and service, filtered as asked;
        ``waiting``: only those a sync is still to act on (pending, or approved and not
        yet written)."""
        query = (
            select(
                ReviewItem, Account.ref, Account.name, Service.ref, Service.name, HaloClient.name
            )
            .join(Account, Account.id == ReviewItem.account_id)
            .join(Service, Service.id == ReviewItem.service_id)
            .outerjoin(
                HaloClient,
                (HaloClient.workspace_id == ReviewItem.workspace_id)
                & (HaloClient.halo_id == ReviewItem.halo_client_id),
            )
            .where(ReviewItem.workspace_id == self.workspace_id)
            .order_by(ReviewItem.first_seen_at, ReviewItem.id)
        )
        if statuses is not None:
            query = query.where(ReviewItem.status.in_(list(statuses)))
        if ids is not None:
            query = query.where(ReviewItem.id.in_(list(ids)))
        if account_ids is not None:
            query = query.where(ReviewItem.account_id.in_(list(account_ids)))
        if first_run_id is not None:
            query = query.where(ReviewItem.first_run_id == first_run_id)
        if waiting:
            query = query.where(
                ReviewItem.status.in_(["pending", "approved"]), ReviewItem.spent_run_id.is_(None)
            )
        return [ReviewRow(*row) for row in self.session.execute(query)]

    def spend(self, ids: Collection[int], run_id: int) -> None:
        """Approvals used by run ``run_id``: their change was written (or found written)."""
        if not ids:
            return
        self.session.execute(
            update(ReviewItem)
            .where(
                ReviewItem.workspace_id == self.workspace_id,
                ReviewItem.id.in_(list(ids)),
                ReviewItem.status == "approved",
                ReviewItem.spent_run_id.is_(None),
            )
            .values(spent_run_id=run_id)
            .execution_options(synchronize_session=False)
        )

    def count(self, status: ReviewStatus = "pending") -> int:
        """How many items have ``status``."""
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(ReviewItem)
                .where(ReviewItem.workspace_id == self.workspace_id, ReviewItem.status == status)
            )
            or 0
        )

    def add(self, item: ReviewItem) -> None:
        """A new item of this workspace."""
        item.workspace_id = self.workspace_id
        self.session.add(item)
        self.session.flush()

    def delete(self, items: Sequence[ReviewItem]) -> None:
        """Forget items withdrawn (pending, or approved and never written): the change is no
        longer planned, or its pair was excluded."""
        for item in items:
            self.session.delete(item)
