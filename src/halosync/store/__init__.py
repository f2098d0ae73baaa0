"""halosync's own data: models, the database handle, repositories and secret encryption."""

from __future__ import annotations

from halosync.store.database import Database

__all__ = ["Database"]
