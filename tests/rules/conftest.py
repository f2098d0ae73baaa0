"""The rules' tests run on SQLite and PostgreSQL, as the store's do."""

from __future__ import annotations

from tests.store.conftest import database

__all__ = ["database"]
