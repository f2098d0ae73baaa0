"""Halo items as Sync Organizations last saw them (the cache the service pickers read)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from halosync.store.models import HaloItem
from halosync.store.search import name_or_halo_id

MAX_PICKER_ROWS = 500


class HaloItemRepository:
    """One workspace's cached Halo items."""

    def __init__(self, session: Session, workspace_id: int) -> None:
        self.session = session
        self.workspace_id = workspace_id

    def live(self, *, search: str | None = None, limit: int | None = None) -> Sequence[HaloItem]:
        """Items still in Halo by name, matching ``search`` (name or id) when given; at most
        ``limit`` (1 to 500) of them, or all."""
        query = select(HaloItem).where(
            HaloItem.workspace_id == self.workspace_id, HaloItem.gone.is_(False)
        )
        if search and search.strip():
            query = query.where(name_or_halo_id(HaloItem.name, HaloItem.halo_id, search.strip()))
        query = query.order_by(HaloItem.name, HaloItem.halo_id)
        if limit is not None:
            query = query.limit(min(max(limit, 1), MAX_PICKER_ROWS))
        return self.session.scalars(query).all()
