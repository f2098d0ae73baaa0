"""Large imports: subscriptions spooled to disk, then staged and written set-based.

An import that stops half-way (here: the stream feeding ``COPY``/``executemany`` fails)
leaves nothing behind, not even its staging table, and the connection goes on working.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text

from halosync.sources.errors import ImportValidationError
from halosync.sources.importer import import_file
from halosync.store.database import Database
from halosync.store.models import Subscription
from halosync.store.spool import SubscriptionSpool
from halosync.store.staging import STAGING_TABLE
from halosync.store.usage import AccountRepository, ServiceRepository, SubscriptionRepository
from tests.sources.conftest import HEADER


def _csv(tmp_path: Path, rows: int, *, quantity: int = 1) -> Path:
    lines = [HEADER] + [
        f"A{i // 5},Account {i // 5},active,true,S{i % 5},Service {i % 5},{quantity},"
        "2024-01-01,,monthly,12 months,active,1.50,2.25"
        for i in range(rows)
    ]
    path = tmp_path / f"usage-{rows}-{quantity}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _counts(database: Database, workspace_id: int) -> tuple[int, int, int]:
    with database.session() as session:
        return (
            AccountRepository(session, workspace_id).count(),
            ServiceRepository(session, workspace_id).count(),
            SubscriptionRepository(session, workspace_id).count(),
        )


def _quantities(database: Database, workspace_id: int) -> set[Decimal]:
    with database.session() as session:
        return {s.quantity for s in SubscriptionRepository(session, workspace_id).all()}


def _connection_id(database: Database) -> Any:
    with database.session() as session:
        if database.dialect == "postgresql":
            return session.scalar(text("SELECT pg_backend_pid()"))
        return id(session.connection().connection.driver_connection)


class ReaderDied(Exception):
    """The stream of rows failed half-way (a disk error, a killed worker)."""


@pytest.fixture
def dies_half_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """The spool's rows stop with an error after 40 of them, while they are being copied."""
    rows = SubscriptionSpool.rows

    def failing(self: SubscriptionSpool, start: int = 0) -> Iterator[tuple[Any, ...]]:
        for count, row in enumerate(rows(self, start)):
            if count == 40:
                raise ReaderDied
            yield row

    monkeypatch.setattr(SubscriptionSpool, "rows", failing)


def test_an_import_abandoned_while_copying_leaves_nothing_and_the_connection_usable(
    database: Database,
    workspace_id: int,
    tmp_path: Path,
    dies_half_way: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = _connection_id(database)
    with pytest.raises(ReaderDied):
        import_file(database, workspace_id, _csv(tmp_path, 100))
    # Neither the accounts and services written before the copy nor any subscription.
    assert _counts(database, workspace_id) == (0, 0, 0)
    # The same connection, back in the pool, works and holds no staging table.
    assert _connection_id(database) == before
    with database.session() as session:
        if database.dialect == "postgresql":
            found = session.scalar(text(f"SELECT to_regclass('pg_temp.{STAGING_TABLE}')"))
        else:
            found = session.scalar(
                text("SELECT name FROM sqlite_temp_master WHERE name = :name"),
                {"name": STAGING_TABLE},
            )
    assert found is None
    monkeypatch.undo()
    report = import_file(database, workspace_id, _csv(tmp_path, 100))
    assert report.subscriptions.created == 100
    assert _counts(database, workspace_id) == (20, 5, 100)


def test_an_abandoned_reimport_keeps_the_previous_values(
    database: Database, workspace_id: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_file(database, workspace_id, _csv(tmp_path, 100))
    rows = SubscriptionSpool.rows

    def failing(self: SubscriptionSpool, start: int = 0) -> Iterator[tuple[Any, ...]]:
        yield from list(rows(self, start))[:60]
        raise ReaderDied

    monkeypatch.setattr(SubscriptionSpool, "rows", failing)
    with pytest.raises(ReaderDied):
        import_file(database, workspace_id, _csv(tmp_path, 100, quantity=9))
    assert _quantities(database, workspace_id) == {1}
    monkeypatch.undo()
    report = import_file(database, workspace_id, _csv(tmp_path, 100, quantity=9))
    assert (report.subscriptions.updated, report.subscriptions.unchanged) == (100, 0)
    assert _quantities(database, workspace_id) == {9}


def test_errors_anywhere_in_a_long_file_come_in_one_pass_capped_and_nothing_is_written(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    good = _csv(tmp_path, 3000).read_text(encoding="utf-8").splitlines()
    # Every other row from line 1,001 on has a bad quantity; the last row contradicts the
    # first one's subscription.
    lines = [
        line.replace(",1,2024", ",-1,2024") if number >= 1000 and number % 2 else line
        for number, line in enumerate(good)
    ]
    lines.append(good[1].replace(",1,2024", ",2,2024"))
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ImportValidationError) as caught:
        import_file(database, workspace_id, path)
    error = caught.value
    assert error.total == 1000 + 1
    assert len(error.errors) == 1000
    assert str(error.errors[0]).startswith("line 1002, column quantity: must be a number from 0")
    assert "and 981 more" in str(error)
    assert _counts(database, workspace_id) == (0, 0, 0)


FRACTIONS = ("12.4", "2.5", "0.0001", "7", "2147483647", "2147483646.9999", "19.99")


def _fractional_csv(tmp_path: Path, quantities: tuple[str, ...], name: str) -> Path:
    lines = [HEADER] + [
        f'A1,Acme,active,true,S{n},Service {n},"{quantity}",2024-01-01,,monthly,monthly,active,,'
        for n, quantity in enumerate(quantities)
    ]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _by_service(database: Database, workspace_id: int) -> dict[str, Decimal]:
    with database.session() as session:
        return {
            s.service.ref: s.quantity for s in SubscriptionRepository(session, workspace_id).all()
        }


def test_fractional_counts_are_staged_and_stored_exactly(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    """COPY (PostgreSQL) and executemany (SQLite) carry a fraction exactly, a whole count
    reads back whole, and importing the same counts again (written 12.40 or 12.4) changes
    nothing."""
    report = import_file(database, workspace_id, _fractional_csv(tmp_path, FRACTIONS, "a.csv"))
    assert report.subscriptions.created == len(FRACTIONS)
    stored = _by_service(database, workspace_id)
    assert stored == {f"S{n}": Decimal(q) for n, q in enumerate(FRACTIONS)}
    assert str(stored["S3"]) == "7"
    assert str(stored["S0"]) == "12.4"
    with database.session() as session:
        raw = session.scalars(select(Subscription.__table__.c.quantity)).all()
    assert sorted(Decimal(str(value)) for value in raw) == sorted(Decimal(q) for q in FRACTIONS)
    same = ("12.40", "2.5000", ".0001", "7.0", "+2147483647", "2147483646.9999", "19.990")
    again = import_file(database, workspace_id, _fractional_csv(tmp_path, same, "b.csv"))
    assert (again.subscriptions.updated, again.subscriptions.unchanged) == (0, len(FRACTIONS))
    moved = ("12.5", *FRACTIONS[1:])
    third = import_file(database, workspace_id, _fractional_csv(tmp_path, moved, "c.csv"))
    assert (third.subscriptions.updated, third.subscriptions.unchanged) == (1, 6)
    assert _by_service(database, workspace_id)["S0"] == Decimal("12.5")


@pytest.mark.parametrize(
    "quantity",
    ["2,5", "2.50001", "NaN", "inf", "-0.5", "1e3", "2147483648", "", "12 GB"],
)
def test_a_count_that_is_not_an_exact_decimal_is_refused_naming_row_and_field(
    database: Database, workspace_id: int, tmp_path: Path, quantity: str
) -> None:
    path = _fractional_csv(tmp_path, ("1", quantity), "bad.csv")
    with pytest.raises(ImportValidationError) as caught:
        import_file(database, workspace_id, path)
    (error,) = caught.value.errors
    shown = f'"{quantity}"'
    expected = (
        "line 3, column quantity: is required"
        if not quantity
        else "line 3, column quantity: must be a number from 0 to 2147483647 with at most 4 "
        f"decimal places, got {shown}"
    )
    assert str(error) == expected
    assert _counts(database, workspace_id) == (0, 0, 0)


def test_a_reimport_matches_each_staged_row_by_index_not_by_walking_the_others(
    tmp_path: Path, workspace_id: int, database: Database
) -> None:
    """Matching staged rows to stored subscriptions (terms in any letter case: lower() on
    both sides) must look each one up: a plan that walks one table per row of the other
    made a re-import of 10,000 rows take 7 times the first import, 100,000 minutes."""
    if database.dialect != "sqlite":
        pytest.skip("SQLite's query plan is read here; PostgreSQL plans by statistics")
    path = _csv(tmp_path, 50)
    import_file(database, workspace_id, path)
    nested_scans: list[list[str]] = []

    def explain(conn: Any, cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if STAGING_TABLE not in statement or statement.lstrip().upper().startswith(
            ("INSERT", "CREATE", "DROP")
        ):
            return
        plan = cursor.connection.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
        steps = [str(row[-1]) for row in plan.fetchall()]
        # The bad plan: every stored subscription of the workspace (SEARCH ... (workspace_id=?))
        # and, inside that loop, a walk of every staged row.
        outer = next((i for i, step in enumerate(steps) if " subscription " in f"{step} "), None)
        inner = next((i for i, step in enumerate(steps) if step == f"SCAN {STAGING_TABLE}"), None)
        if outer is not None and inner is not None and outer < inner:
            nested_scans.append(steps)

    event.listen(database.engine, "before_cursor_execute", explain)
    try:
        again = import_file(database, workspace_id, path)
    finally:
        event.remove(database.engine, "before_cursor_execute", explain)
    assert again.subscriptions.unchanged == 50
    assert nested_scans == []


def test_a_reimport_of_the_same_rows_only_stages_matches_and_compares(
    tmp_path: Path, workspace_id: int, database: Database
) -> None:
    """Nothing new: no pair can gain a term and nothing is inserted, so neither statement
    runs (on PostgreSQL the count of pairs gaining a term, planned on the staging table's
    statistics from before the match, was 9 s of the server's CPU at 1,000,000 rows)."""
    path = _csv(tmp_path, 40)
    import_file(database, workspace_id, path)
    statements: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(database.engine, "before_cursor_execute", note)
    try:
        again = import_file(database, workspace_id, path)
    finally:
        event.remove(database.engine, "before_cursor_execute", note)
    assert (again.subscriptions.unchanged, again.several_terms) == (40, 0)
    assert not [s for s in statements if s.startswith("INSERT INTO subscription")]
    assert not [s for s in statements if "SELECT DISTINCT" in s]
