"""Fixtures for feeding usage in: a migrated database with one workspace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from halosync.store.database import Database
from halosync.store.workspaces import WorkspaceRepository
from tests.schema_template import migrated

HEADER = (
    "account_ref,account_name,account_status,billed,service_ref,service_name,quantity,"
    "start_date,end_date,billing_cycle,term,status,cost_price,customer_price"
)
GOOD_CSV = f"""{HEADER}
A1,Acme Ltd,active,true,S1,Email Security,10,2024-01-01,,monthly,12 months,active,50.00,80.00
A1,Acme Ltd,active,true,S2,Backup,3,2024-01-01,,monthly,12 months,,,
A2,Beta Inc,trial,false,S1,Email Security,5,2024-02-01,2025-01-31,monthly,12 months,,,
"""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated database, once on SQLite and once in a throwaway PostgreSQL schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'halosync.db'}"
    else:
        url = request.getfixturevalue("pg_schema_url")
    db = migrated(Database(url))
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def workspace_id(database: Database) -> int:
    """The id of a fresh workspace called ``acme``."""
    with database.session() as session:
        return WorkspaceRepository(session).create("acme").id
