"""The SQL of the mapping screens' read side beyond the account grid
(:mod:`halosync.store.account_grid`): the service rows, the unmapped Halo clients, the
totals."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from halosync.store.models import (
    Account,
    AccountMapping,
    HaloClient,
    HaloItem,
    Service,
    ServiceMapping,
)
from halosync.store.search import name_or_halo_id

MAX_PICKER_ROWS = 500


def service_rows(
    session: Session, workspace_id: int, *, service_ref: str | None = None
) -> list[tuple[str, str, int | None, str | None]]:
    """(ref, name, Halo item id, Halo item name) of every service (or one), by name."""
    query = (
        select(Service.ref, Service.name, ServiceMapping.halo_item_id, HaloItem.name)
        .select_from(Service)
        .outerjoin(
            ServiceMapping,
            and_(
                ServiceMapping.service_id == Service.id,
                ServiceMapping.workspace_id == workspace_id,
            ),
        )
        .outerjoin(
            HaloItem,
            and_(
                HaloItem.workspace_id == workspace_id,
                HaloItem.halo_id == ServiceMapping.halo_item_id,
            ),
        )
        .where(Service.workspace_id == workspace_id)
    )
    if service_ref is not None:
        query = query.where(Service.ref == service_ref)
    return [
        (ref, name, item_id, item_name)
        for ref, name, item_id, item_name in session.execute(
            query.order_by(Service.name, Service.ref)
        )
    ]


def unmapped_halo_clients(
    session: Session,
    workspace_id: int,
    *,
    search: str | None = None,
    limit: int = 50,
    ids: Collection[int] | None = None,
) -> Sequence[HaloClient]:
    """Halo clients still in Halo that no account is mapped to, by name (or found by id);
    with ``ids``, those of them that are free (all of them, whatever ``limit``).

    NOT EXISTS, not an outer join's missing row: PostgreSQL estimates the clients an
    anti-join keeps (a quarter of 100,000 here) and walks the name index for the first
    twenty, where for the outer join it guessed one and sorted every client (0.5-0.9 s)."""
    mapped = select(AccountMapping.id).where(
        AccountMapping.workspace_id == workspace_id,
        AccountMapping.halo_client_id == HaloClient.halo_id,
    )
    query = select(HaloClient).where(
        HaloClient.workspace_id == workspace_id,
        HaloClient.gone.is_(False),
        ~mapped.exists(),
    )
    if search and search.strip():
        query = query.where(name_or_halo_id(HaloClient.name, HaloClient.halo_id, search.strip()))
    if ids is not None:
        return session.scalars(query.where(HaloClient.halo_id.in_(sorted(set(ids))))).all()
    return session.scalars(
        query.order_by(HaloClient.name).limit(min(max(limit, 1), MAX_PICKER_ROWS))
    ).all()


def mapping_totals(session: Session, workspace_id: int) -> tuple[int, int, int, int]:
    """(accounts, mapped accounts, services, mapped services) of the workspace."""

    def count(query: Select[int]) -> int:
        return session.scalar(query) or 0

    return (
        count(
            select(func.count()).select_from(Account).where(Account.workspace_id == workspace_id)
        ),
        count(
            select(func.count())
            .select_from(AccountMapping)
            .where(AccountMapping.workspace_id == workspace_id)
        ),
        count(
            select(func.count()).select_from(Service).where(Service.workspace_id == workspace_id)
        ),
        count(
            select(func.count())
            .select_from(ServiceMapping)
            .where(ServiceMapping.workspace_id == workspace_id)
        ),
    )
