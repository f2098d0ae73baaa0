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
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, or_, select, text

from halosync.mapping.grid import (
    HALO_CLIENT_STATUSES,
    MAPPING_STATUSES,
    SORT_KEYS,
    AccountMappingRow,
    account_mapping_grid,
)
from halosync.rules.service import today
from halosync.store import account_grid
from halosync.store.account_grid import refresh_mapping_columns
from halosync.store.database import Database
from halosync.store.models import (
    Account,
    AccountMapping,
    HaloClient,
    HaloRecurringInvoice,
    QuantityRuleRow,
    Service,
    SyncRun,
)
from halosync.store.search import TRIGRAM_INDEX, contains
from halosync.store.workspaces import WorkspaceRepository
from tests.schema_template import migrated

ACCOUNTS = 40
# Excluded from billing today: themselves (R001, R004), in one of their services (R007),
# and R010 since yesterday over an older version that did not exclude it. Not excluded:
# R013 from tomorrow, R016 excluded last week and included again since, R019's service
# rule that excludes nothing, and the other workspace's R002.
EXCLUDED = {"R001", "R004", "R007", "R010"}


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'grid.db'}"
    else:
        url = request.getfixturevalue("pg_schema_url")
    db = migrated(Database(url))
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
        _exclusions(session, workspace.id, ids[workspace.id], other.id, ids[other.id])
        # Written around the mapping commands: the accounts' mapping columns follow here.
        refresh_mapping_columns(session, workspace.id)
        return workspace.id


def _exclusions(
    session: Any, workspace_id: int, ids: dict[str, int], other_id: int, other: dict[str, int]
) -> None:
    """The quantity rules behind :data:`EXCLUDED` (rows as the rules commands write them)."""
    day = today()
    service = Service(workspace_id=workspace_id, ref="MAIL", name="Mail")
    session.add(service)
    session.flush()
    versions = [
        ("R001", None, 0, "internal"),
        ("R004", None, -30, "trial"),
        ("R007", service.id, 0, "own deal"),
        ("R010", None, -7, None),
        ("R010", None, -1, "leaving"),
        ("R013", None, 1, "from tomorrow"),
        ("R016", None, -7, "was internal"),
        ("R016", None, -2, None),
        ("R019", service.id, 0, None),
    ]
    rows = [
        {
            "workspace_id": workspace_id,
            "scope": "account_service" if service_id else "account",
            "account_id": ids[ref],
            "service_id": service_id,
            "valid_from": day + timedelta(days=days),
            "excluded": reason,
            "minimum": None if reason else 1,
            "created_by": "test",
        }
        for ref, service_id, days, reason in versions
    ]
    rows.append(
        {
            "workspace_id": other_id,
            "scope": "account",
            "account_id": other["R002"],
            "service_id": None,
            "valid_from": day,
            "excluded": "other workspace",
            "minimum": None,
            "created_by": "test",
        }
    )
    session.execute(insert(QuantityRuleRow), rows)


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
        if filters.get("excluded") and row.account_ref not in EXCLUDED:
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


def _assert_plain_answers(
    database: Database,
    workspace_id: int,
    rows: list[AccountMappingRow],
    filter_sets: list[dict[str, Any]],
    sorts: tuple[str, ...] = SORT_KEYS,
) -> None:
    """Every page of each filter set in each sort, both directions, is the plain answer's."""
    for filters in filter_sets:
        for sort in sorts:
            for descending in (False, True):
                expected = _expected(rows, sort, descending, **filters)
                total, refs = _pages(database, workspace_id, sort, descending, **filters)
                assert (total, refs) == (len(expected), expected), (sort, descending, filters)


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
    filter_sets += [{"excluded": True}, {"excluded": True, "search": "r0", "status": "mapped"}]
    _assert_plain_answers(database, workspace_id, rows, filter_sets)


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
    sorts = ("account_name", "halo_client_name", "halo_client_id", "status")
    _assert_plain_answers(database, workspace_id, rows, filter_sets, sorts)


@pytest.mark.parametrize("limit", [2, 5000])
def test_the_excluded_filter_pages_through_the_plain_answer(
    database: Database, limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The accounts excluded from billing are read first and handed over as ids, or (more
    than the limit, and always on PostgreSQL) as the rules' own statement: either way the
    plain answer."""
    monkeypatch.setattr(account_grid, "SEARCH_LIST_LIMIT", limit)
    workspace_id = _build(database, "invoice_line")
    rows = _every_row(database, workspace_id)
    filter_sets: list[dict[str, Any]] = [
        {"excluded": True},
        {"excluded": True, "search": "r00"},
        {"excluded": True, "status": "mapped"},
        {"excluded": True, "search": "r01", "account_status": "active"},
    ]
    _assert_plain_answers(database, workspace_id, rows, filter_sets)


# Names with LIKE's wildcards, the escape character, quotes and letters outside ASCII.
SPECIAL_NAMES = [
    "50%_off Ltd",
    "50 percent off",
    "5000 off",
    "O'Brien & Sons",
    'The "Quoted" Co',
    "Back\\slash Ltd",
    "Müller GmbH",
    "MÜLLER AG",
    "under_score",
    "underXscore",
    "100% Pure",
]
SPECIAL_TERMS = [
    "%", "_", "50%_", "0%", "o'b", '"quoted"', "\\", "\\s", "müller", "under_s", "ller", "ltd",
    "nothing like it",
]  # fmt: skip


def _folds(database: Database, value: str) -> str:
    """A value as the database's search folds it: lower() on PostgreSQL (every letter),
    LIKE on SQLite (ASCII letters only)."""
    if database.dialect == "postgresql":
        return value.lower()
    return "".join(char.lower() if char.isascii() else char for char in value)


def test_a_search_takes_every_character_literally(database: Database) -> None:
    """%, _ and \\ match themselves only, quotes are plain text, and the case folds as the
    database folds it; on PostgreSQL the trigram index finds the same (sequential scans off
    and no workspace to narrow by, so the plan must read it)."""
    with database.session() as session:
        workspace_id = WorkspaceRepository(session).create("special").id
        session.execute(
            insert(Account),
            [
                {
                    "workspace_id": workspace_id,
                    "ref": f"S{n:02d}",
                    "name": name,
                    "status": "active",
                    "billed": True,
                }
                for n, name in enumerate(SPECIAL_NAMES)
            ],
        )
    by_ref = {f"S{n:02d}": name for n, name in enumerate(SPECIAL_NAMES)}
    if database.dialect == "postgresql":
        _filler(database)

    def found(term: str) -> list[str]:
        with database.session() as session:
            grid = account_mapping_grid(
                session, workspace_id, search=term, sort="account_ref", page_size=50
            )
        return [row.account_ref for row in grid.items]

    for term in SPECIAL_TERMS:
        expected = [
            ref
            for ref, name in by_ref.items()
            if _folds(database, term) in _folds(database, name) or term.lower() in ref.lower()
        ]
        assert found(term) == expected, term
        if database.dialect == "postgresql":
            assert _through_the_trigram_index(database, term) == expected, term
    assert found("%") == ["S00", "S10"]
    assert found("_") == ["S00", "S08"]


def _filler(database: Database) -> None:
    """Accounts enough (in another workspace, matching no term) that PostgreSQL plans a
    search with its indexes instead of reading the table, vacuumed and analysed."""
    with database.session() as session:
        other = WorkspaceRepository(session).create("filler").id
        session.execute(
            text(
                "INSERT INTO account (workspace_id, ref, name, status, billed, created_at,"
                " updated_at) SELECT :ws, 'F' || n, 'Qz' || n, 'active', true, now(), now()"
                " FROM generate_series(1, 3000) AS n"
            ),
            {"ws": other},
        )
    autocommit = database.engine.execution_options(isolation_level="AUTOCOMMIT")
    with autocommit.connect() as connection:  # the new entries out of GIN's pending list
        connection.exec_driver_sql("VACUUM ANALYZE account")


def _through_the_trigram_index(database: Database, term: str) -> list[str]:
    """The references whose name or reference contain ``term``, read through the trigram
    index (asserted from the plan when the term is a word of three letters or more)."""
    query = (
        select(Account.ref)
        .where(or_(contains(Account.name, term), contains(Account.ref, term)))
        .order_by(Account.ref)
    )
    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        sent.append((statement, parameters))

    with database.session() as session:
        session.execute(text("SET LOCAL enable_seqscan = off"))
        event.listen(database.engine, "before_cursor_execute", keep)
        try:
            refs = list(session.scalars(query))
        finally:
            event.remove(database.engine, "before_cursor_execute", keep)
        statement, parameters = sent[-1]
        plan = session.connection().exec_driver_sql(f"EXPLAIN {statement}", parameters)
        # Trigrams are of letters and digits ("%" has none to seek by); which terms are
        # worth the index is the planner's choice, but a plain word's certainly are.
        assert TRIGRAM_INDEX in "\n".join(plan.scalars()) or not re.fullmatch(r"\w{3,}", term)
    return refs
