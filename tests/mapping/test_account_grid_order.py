"""The account grid's pages, whatever the sort, filter or search, are the plain answer's.

The grid reads pages through indexes, segments and groups of equal keys
(store/account_grid.py); here every combination is checked against the plain rule,
worked out in Python from every row: filter, then sort by the key (an empty Halo client
name or id first ascending, last descending), ties by reference ascending, then cut into
pages. Data with ties (shared names, statuses), every mapping status and client status,
on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from halosync.mapping.grid import (
    HALO_CLIENT_STATUSES,
    MAPPING_STATUSES,
    SORT_KEYS,
    AccountMappingRow,
    account_mapping_grid,
)
from halosync.store import account_grid
from halosync.store.account_grid import refresh_mapping_columns
from halosync.store.database import Database
from halosync.store.models import (
    Account,
    AccountMapping,
    HaloClient,
    HaloRecurringInvoice,
    SyncRun,
)
from halosync.store.workspaces import WorkspaceRepository

ACCOUNTS = 40


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'grid.db'}"
    else:
        url = request.getfixturevalue("pg_schema_url")
    db = Database(url)
    db.migrate()
    yield db
    db.dispose()


def _build(database: Database, target: str) -> int:
    pick = random.Random(15)
    with database.session() as session:
        # Another workspace with the same references and ids first: nothing of it shows.
        other = WorkspaceRepository(session).create("other")
        workspace = WorkspaceRepository(session).create("grid")
        workspace.target = target
        ids = {}
        for workspace_id in (other.id, workspace.id):
            session.execute(
                insert(Account),
                [
                    {
                        "workspace_id": workspace_id,
                        "ref": f"R{n:03d}",
                        # few names and statuses: many ties (names ordered alike by every collation)
                        "name": pick.choice(["Acme", "Bright", "Contoso", "Zeta"]),
                        "status": pick.choice(["active", "active", "trial", "suspended"]),
                        "billed": True,
                    }
                    for n in range(ACCOUNTS)
                ],
            )
            session.execute(
                insert(HaloClient),
                [
                    {
                        "workspace_id": workspace_id,
                        "halo_id": 100 + n,
                        "name": pick.choice(["Alpha", "Bravo", "Charlie", "Acmeco"]),
                        "inactive": n % 5 == 0,
                        "gone": n % 7 == 0,
                    }
                    for n in range(ACCOUNTS)
                ],
            )
            session.execute(
                insert(HaloRecurringInvoice),
                [
                    {
                        "workspace_id": workspace_id,
                        "halo_id": 900 + n,
                        "halo_client_id": 100 + n,
                        "name": f"Monthly {n}",
                        "gone": n % 9 == 0,
                    }
                    for n in range(0, ACCOUNTS, 2)
                ],
            )
            ids[workspace_id] = dict(
                session.execute(
                    select(Account.ref, Account.id).where(Account.workspace_id == workspace_id)
                ).all()
            )
        clients = list(range(ACCOUNTS))
        pick.shuffle(clients)
        session.execute(
            insert(AccountMapping),
            [
                {
                    "workspace_id": workspace.id,
                    "account_id": ids[workspace.id][f"R{n:03d}"],
                    # a few mapped to clients halosync never pulled (Response Error)
                    "halo_client_id": 100 + clients[n] if n % 10 else 5000 + n,
                    "recurring_invoice_id": 900 + clients[n] if n % 3 else None,
                }
                for n in range(ACCOUNTS)
                if n % 4
            ],
        )
        # Written around the mapping commands: the accounts' mapping columns follow here.
        refresh_mapping_columns(session, workspace.id)
        return workspace.id


def _every_row(database: Database, workspace_id: int) -> list[AccountMappingRow]:
    with database.session() as session:
        grid = account_mapping_grid(session, workspace_id, sort="account_ref", page_size=500)
    assert grid.total == ACCOUNTS
    return list(grid.items)


def _expected(
    rows: list[AccountMappingRow], sort: str, descending: bool, **filters: Any
) -> list[str]:
    def keep(row: AccountMappingRow) -> bool:
        term = filters.get("search")
        if term is not None and not any(
            term.lower() in (value or "").lower()
            for value in (
                row.account_name,
                row.account_ref,
                row.halo_client_name,
                str(row.halo_client_id) if row.halo_client_id is not None else None,
            )
        ):
            return False
        if filters.get("status") not in (None, row.status):
            return False
        if filters.get("account_status") not in (None, row.account_status):
            return False
        wanted = filters.get("halo_client_status")
        return wanted is None or (row.halo_client_status or "").lower() == wanted

    kept = sorted((row for row in rows if keep(row)), key=lambda row: row.account_ref)
    key = {
        "account_name": lambda row: (0, row.account_name),
        "account_ref": lambda row: (0, row.account_ref),
        "account_status": lambda row: (0, row.account_status),
        "halo_client_name": lambda row: (
            (0, "") if row.halo_client_name is None else (1, row.halo_client_name)
        ),
        "halo_client_id": lambda row: (
            (0, 0) if row.halo_client_id is None else (1, row.halo_client_id)
        ),
        "status": lambda row: (0, row.status),
    }[sort]
    # Python's sort is stable: sorting by key keeps the reference order of ties.
    return [row.account_ref for row in sorted(kept, key=key, reverse=descending)]


def _pages(
    database: Database, workspace_id: int, sort: str, descending: bool, **filters: Any
) -> tuple[int, list[str]]:
    refs: list[str] = []
    total = -1
    with database.session() as session:
        for page in range(1, 40):
            grid = account_mapping_grid(
                session,
                workspace_id,
                sort=sort,
                descending=descending,
                page=page,
                page_size=9,
                **filters,
            )
            total = grid.total
            refs += [row.account_ref for row in grid.items]
            if not grid.items:
                break
    return total, refs


@pytest.mark.parametrize("target", ["licence", "invoice_line"])
def test_every_sort_and_filter_pages_through_the_plain_answer(
    database: Database, target: str
) -> None:
    workspace_id = _build(database, target)
    rows = _every_row(database, workspace_id)
    assert {row.status for row in rows} >= {"mapped", "unmapped", "response_error"}
    filter_sets: list[dict[str, Any]] = [{}]
    filter_sets += [{"status": status} for status in MAPPING_STATUSES]
    filter_sets += [{"halo_client_status": status} for status in HALO_CLIENT_STATUSES]
    filter_sets += [{"account_status": "trial"}, {"search": "acme"}, {"search": "10"}]
    filter_sets += [{"search": "co", "status": "mapped", "account_status": "active"}]
    for filters in filter_sets:
        for sort in SORT_KEYS:
            for descending in (False, True):
                expected = _expected(rows, sort, descending, **filters)
                total, refs = _pages(database, workspace_id, sort, descending, **filters)
                assert (total, refs) == (len(expected), expected), (sort, descending, filters)


@pytest.mark.parametrize("pull_failed", [False, True])
def test_searches_and_a_failed_pull_page_through_the_plain_answer(
    database: Database, pull_failed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A search hands the page its matches as ids when few match, the ids it does not
    match when few do not, else repeats itself: each way gives the plain answer. While
    the last Sync Organizations failed, every mapping is a Response Error."""
    monkeypatch.setattr(account_grid, "SEARCH_LIST_LIMIT", 6)
    workspace_id = _build(database, "invoice_line")
    if pull_failed:
        with database.session() as session:
            now = datetime.now(UTC)
            session.add(
                SyncRun(
                    workspace_id=workspace_id,
                    kind="customers",
                    trigger="manual",
                    status="failed",
                    started_at=now,
                    finished_at=now,
                    counts={},
                )
            )
    rows = _every_row(database, workspace_id)
    every_status = {"unmapped", "response_error"} if pull_failed else set(MAPPING_STATUSES)
    assert {row.status for row in rows} == every_status
    # One match (ids), 10 of 40 (the search repeated), every row (the ids it misses), many.
    searches = ("r001", "r03", "r0", "a", "1")
    filter_sets: list[dict[str, Any]] = [{"search": term} for term in searches]
    filter_sets += [{"status": status} for status in MAPPING_STATUSES]
    filter_sets += [{"search": "a", "status": "response_error"}]
    for filters in filter_sets:
        for sort in ("account_name", "halo_client_name", "halo_client_id", "status"):
            for descending in (False, True):
                expected = _expected(rows, sort, descending, **filters)
                total, refs = _pages(database, workspace_id, sort, descending, **filters)
                assert (total, refs) == (len(expected), expected), (sort, descending, filters)
