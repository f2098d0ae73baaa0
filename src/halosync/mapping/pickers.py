"""What the mapping screens offer to choose from: one read model for the API and the UI."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from halosync.store.halo_items import HaloItemRepository
from halosync.store.models import HaloItem


def halo_items(
    session: Session, workspace_id: int, *, search: str | None = None, limit: int | None = None
) -> Sequence[HaloItem]:
    """Halo items still in Halo, for the service mapping picker (by name or by id); all of
    them unless ``limit`` (1 to 500) says otherwise."""
    return HaloItemRepository(session, workspace_id).live(search=search, limit=limit)
