"""Reading a workspace's accounts, services and subscriptions (the vendor's usage data).

Writes come through :mod:`halosync.sources.apply`, which validates a whole batch first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, contains_eager

from halosync.store.base import in_chunks
from halosync.store.models import Account, Service, Subscription

T = TypeVar("T")
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, with the total the list has."""

    items: Sequence[T]
    total: int
    page: int
    page_size: int


def _page(session: Session, query: Select[T], page: int, page_size: int) -> Page[T]:
    page = max(page, 1)
    page_size = min(max(page_size, 1), MAX_PAGE_SIZE)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    items = session.scalars(query.offset((page - 1) * page_size).limit(page_size)).all()
    return Page(items=items, total=total, page=page, page_size=page_size)


class AccountRepository:
    """Accounts of one workspace."""

    def __init__(self, session: Session, workspace_id: int) -> None:
        self.session = session
        self.workspace_id = workspace_id

    def _query(self) -> Select[Account]:
        return select(Account).where(Account.workspace_id == self.workspace_id)

    def get(self, account_id: int) -> Account | None:
        """An account by its id, if it belongs to this workspace."""
        return self.session.scalar(self._query().where(Account.id == account_id))

    def get_by_ref(self, ref: str) -> Account | None:
        """An account by the vendor's reference."""
        return self.session.scalar(self._query().where(Account.ref == ref))

    def all(self) -> Sequence[Account]:
        """Every account, by reference."""
        return self.session.scalars(self._query().order_by(Account.ref)).all()

    def id_by_ref(self, ref: str) -> int | None:
        """The id of the account with the vendor's reference ``ref``, if any."""
        return self.session.scalar(
            select(Account.id).where(Account.workspace_id == self.workspace_id, Account.ref == ref)
        )

    def ids_and_names_by_ref(self, refs: Iterable[str]) -> dict[str, tuple[int, str]]:
        """Reference -> (id, name) of the accounts among ``refs`` (unknown ones are missing)."""
        found: dict[str, tuple[int, str]] = {}
        for chunk in in_chunks(refs):
            for ref, account_id, name in self.session.execute(
                select(Account.ref, Account.id, Account.name).where(
                    Account.workspace_id == self.workspace_id, Account.ref.in_(chunk)
                )
            ):
                found[ref] = (account_id, name)
        return found

    def names(self) -> list[tuple[str, str]]:
        """(reference, name) of every account."""
        return [
            (ref, name)
            for ref, name in self.session.execute(
                select(Account.ref, Account.name).where(Account.workspace_id == self.workspace_id)
            )
        ]

    def page(
        self, page: int = 1, page_size: int = 50, *, status: str | None = None
    ) -> Page[Account]:
        """One page of accounts by reference, optionally only those with ``status``."""
        query = self._query().order_by(Account.ref, Account.id)
        if status is not None:
            query = query.where(Account.status == status)
        return _page(self.session, query, page, page_size)

    def count(self) -> int:
        """How many accounts the workspace has."""
        return (
            self.session.scalar(
                select(func.count()).where(Account.workspace_id == self.workspace_id)
            )
            or 0
        )


class ServiceRepository:
    """Services of one workspace."""

    def __init__(self, session: Session, workspace_id: int) -> None:
        self.session = session
        self.workspace_id = workspace_id

    def _query(self) -> Select[Service]:
        return select(Service).where(Service.workspace_id == self.workspace_id)

    def get(self, service_id: int) -> Service | None:
        """A service by its id, if it belongs to this workspace."""
        return self.session.scalar(self._query().where(Service.id == service_id))

    def get_by_ref(self, ref: str) -> Service | None:
        """A service by the vendor's reference."""
        return self.session.scalar(self._query().where(Service.ref == ref))

    def all(self) -> Sequence[Service]:
        """Every service, by reference."""
        return self.session.scalars(self._query().order_by(Service.ref)).all()

    def page(self, page: int = 1, page_size: int = 50) -> Page[Service]:
        """One page of services by reference."""
        return _page(self.session, self._query().order_by(Service.ref, Service.id), page, page_size)

    def count(self) -> int:
        """How many services the workspace has."""
        return (
            self.session.scalar(
                select(func.count()).where(Service.workspace_id == self.workspace_id)
            )
            or 0
        )


class SubscriptionRepository:
    """Subscriptions of one workspace, loaded with their account and service."""

    def __init__(self, session: Session, workspace_id: int) -> None:
        self.session = session
        self.workspace_id = workspace_id

    def _query(self) -> Select[Subscription]:
        return (
            select(Subscription)
            .join(Subscription.account)
            .join(Subscription.service)
            .options(contains_eager(Subscription.account), contains_eager(Subscription.service))
            .where(Subscription.workspace_id == self.workspace_id)
        )

    def all(
        self, *, account_id: int | None = None, account_ids: Sequence[int] | None = None
    ) -> Sequence[Subscription]:
        """Every subscription (of one account, or of some, when given), by account ref,
        service ref, then term."""
        query = self._query().order_by(Account.ref, Service.ref, Subscription.term)
        if account_id is not None:
            query = query.where(Subscription.account_id == account_id)
        if account_ids is not None:
            query = query.where(Subscription.account_id.in_(account_ids))
        return self.session.scalars(query).all()

    def get(self, account_id: int, service_id: int, term: str) -> Subscription | None:
        """The subscription of an account to a service in one term, if any."""
        return self.session.scalar(
            self._query().where(
                Subscription.account_id == account_id,
                Subscription.service_id == service_id,
                Subscription.term == term,
            )
        )

    def page(
        self, page: int = 1, page_size: int = 50, *, account_ref: str | None = None
    ) -> Page[Subscription]:
        """One page of subscriptions by account reference, service reference, then term."""
        query = self._query().order_by(Account.ref, Service.ref, Subscription.term, Subscription.id)
        if account_ref is not None:
            query = query.where(Account.ref == account_ref)
        return _page(self.session, query, page, page_size)

    def count(self) -> int:
        """How many subscriptions the workspace has."""
        return (
            self.session.scalar(
                select(func.count()).where(Subscription.workspace_id == self.workspace_id)
            )
            or 0
        )
