"""The Halo items picker, a read model no service offers yet (runs live in
``halosync.sync.runs``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from halosync.store.models import HaloItem
from halosync.store.search import name_or_halo_id


def halo_items(
    session: Session, workspace_id: int, *, search: str | None = None, limit: int = 50
) -> Sequence[HaloItem]:
    """Halo items still in Halo, for the service mapping picker (by name or by id)."""
    query = select(HaloItem).where(HaloItem.workspace_id == workspace_id, HaloItem.gone.is_(False))
    if search and search.strip():
        query = query.where(name_or_halo_id(HaloItem.name, HaloItem.halo_id, search.strip()))
    return session.scalars(query.order_by(HaloItem.name).limit(min(max(limit, 1), 500))).all()
