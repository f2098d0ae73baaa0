"""The usage data a workspace holds (accounts, services, subscriptions), page by page: the
read model behind the REST API's lists, whose items it answers as they are. Writes come
through :mod:`halosync.sources.importer`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from halosync.domain.numbers import json_count
from halosync.store.database import Database
from halosync.store.models import SUBSCRIPTION_VALUES
from halosync.store.usage import (
    MAX_PAGE_SIZE,
    AccountRepository,
    Page,
    ServiceRepository,
    SubscriptionRepository,
)

__all__ = ["MAX_PAGE_SIZE", "Page", "list_accounts", "list_services", "list_subscriptions"]


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class AccountView(_View):
    """An account."""

    ref: str
    name: str
    status: str
    billed: bool


class ServiceView(_View):
    """A service."""

    ref: str
    name: str


class SubscriptionView(_View):
    """A subscription, prices as totals."""

    account_ref: str
    service_ref: str
    # A count in JSON: 7 for a whole one (never 7.0), 12.4 for a fraction.
    quantity: Annotated[
        Decimal, PlainSerializer(json_count, return_type=int | float, when_used="json")
    ] = Field(
        description="The vendor's count: a whole number, or a fraction with up to 4 decimal "
        "places (12.4)."
    )
    start_date: date
    end_date: date | None
    billing_cycle: str
    term: str
    status: str | None
    cost_price: Decimal | None
    customer_price: Decimal | None


# The stored values, after the two references that name the account and the service.
assert tuple(SubscriptionView.model_fields)[2:] == SUBSCRIPTION_VALUES


def list_accounts(
    database: Database, workspace_id: int, page: int = 1, page_size: int = 50
) -> Page[AccountView]:
    """One page of the workspace's accounts, by reference."""
    with database.session() as session:
        found = AccountRepository(session, workspace_id).page(page, page_size)
        items = [AccountView.model_validate(a, from_attributes=True) for a in found.items]
    return Page(items=items, total=found.total, page=found.page, page_size=found.page_size)


def list_services(
    database: Database, workspace_id: int, page: int = 1, page_size: int = 50
) -> Page[ServiceView]:
    """One page of the workspace's services, by reference."""
    with database.session() as session:
        found = ServiceRepository(session, workspace_id).page(page, page_size)
        items = [ServiceView.model_validate(s, from_attributes=True) for s in found.items]
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
                **{name: getattr(s, name) for name in SUBSCRIPTION_VALUES},
            )
            for s in found.items
        ]
    return Page(items=items, total=found.total, page=found.page, page_size=found.page_size)
