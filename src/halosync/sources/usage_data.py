"""The usage data a workspace holds (accounts, services, subscriptions), page by page: the
read model behind the REST API's lists. Writes come through
:mod:`halosync.sources.importer`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from halosync.store.database import Database
from halosync.store.usage import (
    MAX_PAGE_SIZE,
    AccountRepository,
    Page,
    ServiceRepository,
    SubscriptionRepository,
)

__all__ = ["MAX_PAGE_SIZE", "Page", "list_accounts", "list_services", "list_subscriptions"]


@dataclass(frozen=True, slots=True)
class AccountView:
    """An account."""

    ref: str
    name: str
    status: str
    billed: bool


@dataclass(frozen=True, slots=True)
class ServiceView:
    """A service."""

    ref: str
    name: str


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    """A subscription, prices as totals."""

    account_ref: str
    service_ref: str
    quantity: Decimal
    """Exact to 4 decimal places (12, 12.4)."""
    start_date: date
    end_date: date | None
    billing_cycle: str
    term: str
    status: str | None
    cost_price: Decimal | None
    customer_price: Decimal | None


def list_accounts(
    database: Database, workspace_id: int, page: int = 1, page_size: int = 50
) -> Page[AccountView]:
    """One page of the workspace's accounts, by reference."""
    with database.session() as session:
        found = AccountRepository(session, workspace_id).page(page, page_size)
        items = [AccountView(a.ref, a.name, a.status, a.billed) for a in found.items]
    return Page(items=items, total=found.total, page=found.page, page_size=found.page_size)


def list_services(
    database: Database, workspace_id: int, page: int = 1, page_size: int = 50
) -> Page[ServiceView]:
    """One page of the workspace's services, by reference."""
    with database.session() as session:
        found = ServiceRepository(session, workspace_id).page(page, page_size)
        items = [ServiceView(s.ref, s.name) for s in found.items]
    return Page(items=items, total=found.total, page=found.page, page_size=found.page_size)


def list_subscriptions(
    database: Database,
    workspace_id: int,
    page: int = 1,
    page_size: int = 50,
    *,
    account_ref: str | None = None,
) -> Page[SubscriptionView]:
    """One page of the workspace's subscriptions (of one account when given), by account
    then service reference."""
    with database.session() as session:
        found = SubscriptionRepository(session, workspace_id).page(
            page, page_size, account_ref=account_ref
        )
        items = [
            SubscriptionView(
                account_ref=s.account.ref,
                service_ref=s.service.ref,
                quantity=s.quantity,
                start_date=s.start_date,
                end_date=s.end_date,
                billing_cycle=s.billing_cycle,
                term=s.term,
                status=s.status,
                cost_price=s.cost_price,
                customer_price=s.customer_price,
            )
            for s in found.items
        ]
    return Page(items=items, total=found.total, page=found.page, page_size=found.page_size)
