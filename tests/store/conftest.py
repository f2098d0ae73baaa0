"""Store fixtures: a migrated database on SQLite and in a throwaway PostgreSQL schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from halosync.store.database import Database
from tests.schema_template import migrated


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file URL in the test's temporary directory."""
    return f"sqlite:///{tmp_path / 'halosync.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'halosync.db'}"
    else:
        url = request.getfixturevalue("pg_schema_url")
    db = migrated(Database(url))
    try:
        yield db
    finally:
        db.dispose()
