"""An import written a chunk at a time while it is still being read.

Whatever the chunk size, the database ends as it would with the import written whole, the
report counts the same, and a problem anywhere (a bad row after chunks were written, a
snapshot cancelling too much, the reading failing) writes nothing at all.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from halosync.sources.batch import BatchBuilder
from halosync.sources.errors import ImportValidationError, Location, MassCancelError
from halosync.sources.importer import import_document, import_file, write_batch
from halosync.store import staging
from halosync.store.database import Database
from halosync.store.models import Account, Service, Subscription
from halosync.store.workspaces import WorkspaceRepository
from tests.sources.conftest import HEADER

_ACCOUNT = {"ref": "A1", "name": "Account 1", "status": "active", "billed": True}


def _line(
    account: int, service: int, quantity: int, term: str = "monthly", status: str = ""
) -> str:
    return (
        f"A{account},Account {account},active,true,S{service},Service {service},{quantity},"
        f"2024-01-01,,monthly,{term},{status},1.50,2.25"
    )


def _csv(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def _files(tmp_path: Path) -> list[tuple[Path, bool]]:
    """Three imports in a row: everything new; changes, new terms beside stored ones (one
    in another letter case, so the same subscription) and new pairs; a snapshot leaving
    some out."""
    first = [_line(a, s, a + s) for a in range(8) for s in range(4)]
    second = (
        [_line(a, s, a + s + (a % 2)) for a in range(8) for s in range(4)]
        + [_line(a, 0, 9, term="annual") for a in range(0, 8, 3)]
        + [_line(a, 7, 2) for a in range(8, 12)]
        + [_line(9, 8, 1, term="annual"), _line(9, 8, 1, term="monthly")]
    )
    third = [_line(a, s, a + s) for a in range(0, 12) for s in range(3)]
    return [
        (_csv(tmp_path, "first.csv", first), False),
        (_csv(tmp_path, "second.csv", second), False),
        (_csv(tmp_path, "third.csv", third), True),
    ]


def _state(database: Database, workspace_id: int) -> list[tuple[Any, ...]]:
    subscription = Subscription.__table__.c
    with database.session() as session:
        rows = session.execute(
            select(
                Account.ref,
                Service.ref,
                subscription.term,
                subscription.quantity,
                subscription.status,
                subscription.unlisted,
                subscription.customer_price,
            )
            .join(Account, Account.id == subscription.account_id)
            .join(Service, Service.id == subscription.service_id)
            .where(subscription.workspace_id == workspace_id)
            .order_by(Account.ref, Service.ref, subscription.term)
        )
        return [tuple(row) for row in rows]


def _new_workspace(database: Database, name: str) -> int:
    with database.session() as session:
        return WorkspaceRepository(session).create(name).id


@pytest.mark.parametrize("chunk", [1, 3, 7])
def test_chunks_of_any_size_write_what_the_whole_import_writes(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    files = _files(tmp_path)
    whole = _new_workspace(database, "whole")
    reports_whole = [
        import_file(database, whole, path, snapshot=snapshot, allow_mass_cancel=True).as_dict()
        for path, snapshot in files
    ]
    monkeypatch.setattr(staging, "CHUNK_ROWS", chunk)
    chunked = _new_workspace(database, "chunked")
    reports_chunked = [
        import_file(database, chunked, path, snapshot=snapshot, allow_mass_cancel=True).as_dict()
        for path, snapshot in files
    ]
    assert reports_chunked == reports_whole
    assert _state(database, chunked) == _state(database, whole)
    # The second import gave three stored pairs a second term (9 x S8 was new whole).
    assert reports_whole[1]["several_terms"] == 3
    # The snapshot cancelled exactly what it did not list, and nothing it created.
    listed = {(f"A{a}", f"S{s}", "monthly") for a in range(12) for s in range(3)}
    state = _state(database, chunked)
    assert {row[:3] for row in state if not row[5]} == listed
    assert all(row[4] == "cancelled" for row in state if row[5])
    assert len(reports_chunked[2]["cancelled"]) == len(state) - len(listed)


def _no_staging_left(database: Database) -> None:
    with database.session() as session:
        for table in (staging.STAGING_TABLE, staging.SEEN_TABLE, staging.PAIRS_TABLE):
            if database.dialect == "postgresql":
                found = session.scalar(text(f"SELECT to_regclass('pg_temp.{table}')"))
            else:
                found = session.scalar(
                    text("SELECT name FROM sqlite_temp_master WHERE name = :name"),
                    {"name": table},
                )
            assert found is None, table


def test_a_bad_last_row_after_chunks_were_written_writes_nothing(
    database: Database, workspace_id: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staging, "CHUNK_ROWS", 5)
    lines = [_line(a, s, 1) for a in range(10) for s in range(3)]
    lines.append(_line(99, 0, -1))
    with pytest.raises(ImportValidationError) as caught:
        import_file(database, workspace_id, _csv(tmp_path, "bad.csv", lines))
    assert [str(error) for error in caught.value.errors] == [
        "line 32, column quantity: must be a number from 0 to 2147483647 with at most 4 "
        'decimal places, got "-1"'
    ]
    assert _state(database, workspace_id) == []
    with database.session() as session:
        assert (
            session.scalar(select(Account.id).where(Account.workspace_id == workspace_id)) is None
        )
    _no_staging_left(database)


def test_a_snapshot_refused_after_its_chunks_were_written_changes_nothing(
    database: Database, workspace_id: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    everything = [_line(a, s, 1) for a in range(10) for s in range(3)]
    import_file(database, workspace_id, _csv(tmp_path, "all.csv", everything))
    before = _state(database, workspace_id)
    monkeypatch.setattr(staging, "CHUNK_ROWS", 2)
    # Changes two counts and adds a pair, but lists only 7 of 30: most would be cancelled.
    few = [_line(0, 0, 5), _line(0, 1, 6), *everything[2:7], _line(50, 0, 1)]
    with pytest.raises(MassCancelError):
        import_file(database, workspace_id, _csv(tmp_path, "few.csv", few), snapshot=True)
    assert _state(database, workspace_id) == before
    _no_staging_left(database)


def test_reading_that_fails_after_chunks_were_written_leaves_nothing(
    database: Database, workspace_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staging, "CHUNK_ROWS", 4)

    class DiskGone(Exception):
        """The input stopped half-way (a disk error, a dropped upload)."""

    def dying(builder: BatchBuilder) -> None:
        columns = HEADER.split(",")
        for number in range(40):
            if number == 30:
                raise DiskGone
            cells = _line(number, 0, 1).split(",")
            builder.add_csv_row(
                dict(zip(columns, cells, strict=True)), Location(f"line {number}", "line")
            )

    with pytest.raises(DiskGone):
        write_batch(database, workspace_id, dying)
    assert _state(database, workspace_id) == []
    _no_staging_left(database)
    report = import_document(database, workspace_id, {"accounts": [_ACCOUNT]})
    assert report.accounts.created == 1


def test_subscriptions_before_their_accounts_wait_for_them(
    database: Database, workspace_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JSON document may list the subscriptions first: the ones naming an account given
    later are written at the end."""
    monkeypatch.setattr(staging, "CHUNK_ROWS", 2)
    subscriptions = [
        {
            "account_ref": f"A{a}",
            "service_ref": "S1",
            "quantity": a,
            "start_date": "2024-01-01",
            "billing_cycle": "monthly",
            "term": "monthly",
        }
        for a in range(6)
    ]
    document = {
        "services": [{"ref": "S1", "name": "One"}],
        "subscriptions": subscriptions,
        "accounts": [_ACCOUNT | {"ref": f"A{a}"} for a in range(6)],
    }
    report = import_document(database, workspace_id, document)
    assert report.subscriptions.created == 6
    assert [row[3] for row in _state(database, workspace_id)] == list(range(6))


def test_a_list_given_again_replaces_what_was_written_of_the_first(
    database: Database, workspace_id: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JSON's last member wins (as json.loads): chunks of the first ``subscriptions``
    written already are taken back."""
    monkeypatch.setattr(staging, "CHUNK_ROWS", 2)

    def subscription(account: int, quantity: int) -> dict[str, Any]:
        return {
            "account_ref": f"A{account}",
            "service_ref": "S1",
            "quantity": quantity,
            "start_date": "2024-01-01",
            "billing_cycle": "monthly",
            "term": "monthly",
        }

    accounts = json.dumps([_ACCOUNT | {"ref": f"A{a}"} for a in range(6)])
    first = json.dumps([subscription(a, 1) for a in range(6)])
    second = json.dumps([subscription(a, 2) for a in range(3)])
    path = tmp_path / "twice.json"
    path.write_text(
        f'{{"accounts": {accounts}, "services": [{{"ref": "S1", "name": "One"}}], '
        f'"subscriptions": {first}, "subscriptions": {second}}}',
        encoding="utf-8",
    )
    report = import_file(database, workspace_id, path)
    assert (report.subscriptions.created, report.accounts.created) == (3, 6)
    assert [(row[0], row[3]) for row in _state(database, workspace_id)] == [
        ("A0", 2),
        ("A1", 2),
        ("A2", 2),
    ]


def _subscriptions(account: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            "account_ref": account,
            "service_ref": f"S{number}",
            "quantity": number,
            "start_date": "2024-01-01",
            "billing_cycle": "monthly",
            "term": "monthly",
        }
        for number in range(count)
    ]


def test_a_new_account_leaving_fields_out_is_refused_by_name_not_written_half(
    database: Database, workspace_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks are written before the end; an account that is new and left fields out is
    not among them: the batch is refused for it, as when written whole."""
    monkeypatch.setattr(staging, "CHUNK_ROWS", 2)
    document = {
        "accounts": [{"ref": "A9", "name": "Nine"}],
        "services": [{"ref": f"S{number}", "name": f"Service {number}"} for number in range(6)],
        "subscriptions": _subscriptions("A9", 6),
    }
    with pytest.raises(ImportValidationError) as caught:
        import_document(database, workspace_id, document)
    assert [str(error) for error in caught.value.errors] == [
        "$.accounts[0]: account 'A9' is new: status and billed are required"
    ]
    assert _state(database, workspace_id) == []


def test_an_account_filled_in_by_a_later_record_is_written_whole(
    database: Database, workspace_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staging, "CHUNK_ROWS", 2)
    document = {
        "services": [{"ref": f"S{number}", "name": f"Service {number}"} for number in range(6)],
        "subscriptions": _subscriptions("A1", 6),
        "accounts": [
            {"ref": "A1", "name": "One"},
            {"ref": "A1", "status": "active", "billed": False},
        ],
    }
    report = import_document(database, workspace_id, document)
    assert (report.accounts.created, report.subscriptions.created) == (1, 6)
    with database.session() as session:
        account = session.execute(
            select(Account.name, Account.status, Account.billed).where(
                Account.workspace_id == workspace_id
            )
        ).one()
    assert tuple(account) == ("One", "active", False)


def test_the_reading_waits_for_a_slower_database_one_chunk_ahead_at_most(
    database: Database, workspace_id: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory holds two chunks however slowly the database writes: the reading hands out
    the next chunk only once the last is written, and waits meanwhile."""
    monkeypatch.setattr(staging, "CHUNK_ROWS", 10)
    read = 0
    add_csv_row = BatchBuilder.add_csv_row

    def counted(builder: BatchBuilder, data: dict[str, str], where: Location) -> None:
        nonlocal read
        read += 1
        add_csv_row(builder, data, where)

    load = staging.SubscriptionStaging.load
    read_by_chunk_end: list[tuple[int, int]] = []

    def slow(self: staging.SubscriptionStaging, rows: Any, first_seq: int) -> None:
        load(self, rows, first_seq)
        time.sleep(0.03)
        read_by_chunk_end.append((first_seq, read))

    monkeypatch.setattr(BatchBuilder, "add_csv_row", counted)
    monkeypatch.setattr(staging.SubscriptionStaging, "load", slow)
    lines = [_line(a, 0, 1) for a in range(100)]
    report = import_file(database, workspace_id, _csv(tmp_path, "usage.csv", lines))
    assert report.subscriptions.created == 100
    assert [first for first, _ in read_by_chunk_end] == list(range(0, 100, 10))
    # While chunk k (rows k*10 .. k*10+9) was written, at most chunk k+1 was read.
    assert all(rows <= first + 20 for first, rows in read_by_chunk_end), read_by_chunk_end


def test_a_last_subscription_naming_no_account_after_chunks_were_written_writes_nothing(
    database: Database, workspace_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staging, "CHUNK_ROWS", 3)
    accounts = [
        {"ref": f"A{a}", "name": f"Account {a}", "status": "active", "billed": True}
        for a in range(10)
    ]
    subscriptions = [
        {
            "account_ref": f"A{a}",
            "service_ref": "S1",
            "quantity": 1,
            "start_date": "2024-01-01",
            "billing_cycle": "monthly",
            "term": "monthly",
        }
        for a in [*range(10), 404]
    ]
    document = {
        "accounts": accounts,
        "services": [{"ref": "S1", "name": "Service 1"}],
        "subscriptions": subscriptions,
    }
    written: list[int] = []
    load = staging.SubscriptionStaging.load

    def noted(self: staging.SubscriptionStaging, rows: Any, first_seq: int) -> None:
        written.append(first_seq)
        load(self, rows, first_seq)

    monkeypatch.setattr(staging.SubscriptionStaging, "load", noted)
    with pytest.raises(ImportValidationError) as caught:
        import_document(database, workspace_id, document)
    assert written[:3] == [0, 3, 6]  # chunks were written before the last one came
    assert [str(error) for error in caught.value.errors] == [
        "$.subscriptions[10].account_ref: no account 'A404' in this batch or in the workspace"
    ]
    assert _state(database, workspace_id) == []
    with database.session() as session:
        assert session.scalar(select(Account.id)) is None
    _no_staging_left(database)
