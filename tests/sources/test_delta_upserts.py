"""A delta upsert changes what it gives and keeps what it leaves out.

A vendor sending just the new count of a subscription (JSON, the REST API, a CSV without
the price columns) must not clear the price, the end date or the status an earlier
import stored; ``null`` (JSON) or a blank cell (a CSV column that is there) clears one.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from halosync.sources.errors import ImportValidationError, Location
from halosync.sources.importer import import_document, import_file, import_records
from halosync.sources.plugins import SourceRecord
from halosync.store.database import Database
from halosync.store.usage import AccountRepository, ServiceRepository, SubscriptionRepository
from tests.sources.conftest import HEADER

FULL: dict[str, Any] = {
    "account_ref": "A1",
    "service_ref": "S1",
    "quantity": 10,
    "start_date": "2024-01-01",
    "end_date": "2026-12-31",
    "billing_cycle": "monthly",
    "term": "monthly",
    "status": "suspended",
    "cost_price": "50.00",
    "customer_price": "80.00",
}
KEY_AND_REQUIRED = {
    name: FULL[name]
    for name in ("account_ref", "service_ref", "start_date", "billing_cycle", "term")
}
ACCOUNT = {"ref": "A1", "name": "Acme Ltd", "status": "suspended", "billed": True}
SERVICE = {"ref": "S1", "name": "Email Security"}
# Rules decided in Python before any SQL: one database is enough (the staged writes run on
# both).
SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
HERE = Location("record 1", "field")
KEPT = ("2026-12-31", "suspended", Decimal("50.0000"), Decimal("80.0000"))


def _document(*subscriptions: dict[str, Any]) -> dict[str, Any]:
    return {"accounts": [ACCOUNT], "services": [SERVICE], "subscriptions": list(subscriptions)}


def _stored(database: Database, workspace_id: int) -> tuple[Any, ...]:
    with database.session() as session:
        (subscription,) = SubscriptionRepository(session, workspace_id).all()
        end = subscription.end_date
        return (
            subscription.quantity,
            None if end is None else end.isoformat(),
            subscription.status,
            subscription.cost_price,
            subscription.customer_price,
        )


def test_a_json_subscription_leaving_fields_out_keeps_them_and_null_clears(
    database: Database, workspace_id: int
) -> None:
    import_document(database, workspace_id, _document(FULL))
    partial = KEY_AND_REQUIRED | {"quantity": 12}
    first = import_document(database, workspace_id, {"subscriptions": [partial]})
    assert first.subscriptions.__dict__ == {"created": 0, "updated": 1, "unchanged": 0}
    assert _stored(database, workspace_id) == (Decimal(12), *KEPT)
    again = import_document(database, workspace_id, {"subscriptions": [partial]})
    assert again.subscriptions.__dict__ == {"created": 0, "updated": 0, "unchanged": 1}
    assert not again.changed

    cleared = import_document(
        database, workspace_id, {"subscriptions": [partial | {"cost_price": None}]}
    )
    assert cleared.subscriptions.updated == 1
    assert _stored(database, workspace_id) == (
        Decimal(12),
        "2026-12-31",
        "suspended",
        None,
        Decimal("80.0000"),
    )


@SQLITE_ONLY
def test_a_new_subscription_leaving_fields_out_gets_the_defaults(
    database: Database, workspace_id: int
) -> None:
    report = import_document(database, workspace_id, _document(KEY_AND_REQUIRED | {"quantity": 3}))
    assert report.subscriptions.created == 1
    assert _stored(database, workspace_id) == (Decimal(3), None, None, None, None)


def test_a_json_file_and_a_snapshot_keep_what_they_leave_out(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    import_document(database, workspace_id, _document(FULL))
    path = tmp_path / "usage.json"
    path.write_text(json.dumps({"subscriptions": [KEY_AND_REQUIRED | {"quantity": 7}]}))
    report = import_file(database, workspace_id, path, snapshot=True)
    assert (report.cancelled, report.subscriptions.updated) == ([], 1)
    assert _stored(database, workspace_id) == (Decimal(7), *KEPT)


def _csv(tmp_path: Path, header: str, row: str) -> Path:
    path = tmp_path / "usage.csv"
    path.write_text(f"{header}\n{row}\n", encoding="utf-8")
    return path


def test_a_csv_without_a_column_keeps_it_and_a_blank_cell_clears_it(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    full = "A1,Acme Ltd,suspended,true,S1,Email Security,10,2024-01-01,2026-12-31,monthly,monthly"
    import_file(database, workspace_id, _csv(tmp_path, HEADER, f"{full},suspended,50,80"))
    assert _stored(database, workspace_id) == (Decimal(10), *KEPT)

    counts_only = (
        "account_ref,account_name,account_status,billed,service_ref,service_name,quantity,"
        "start_date,billing_cycle,term"
    )
    row = "A1,Acme Ltd,suspended,true,S1,Email Security,12,2024-01-01,monthly,monthly"
    path = _csv(tmp_path, counts_only, row)
    first = import_file(database, workspace_id, path)
    assert first.subscriptions.__dict__ == {"created": 0, "updated": 1, "unchanged": 0}
    assert _stored(database, workspace_id) == (Decimal(12), *KEPT)
    again = import_file(database, workspace_id, path)
    assert again.subscriptions.__dict__ == {"created": 0, "updated": 0, "unchanged": 1}

    blank_price = _csv(tmp_path, f"{counts_only},customer_price", f"{row},")
    assert import_file(database, workspace_id, blank_price).subscriptions.updated == 1
    assert _stored(database, workspace_id) == (
        Decimal(12),
        "2026-12-31",
        "suspended",
        Decimal("50.0000"),
        None,
    )


def test_a_plugin_row_keeps_the_columns_it_does_not_name(
    database: Database, workspace_id: int
) -> None:
    import_document(database, workspace_id, _document(FULL))
    row = {
        "account_ref": "A1",
        "account_name": "Acme Ltd",
        "account_status": "suspended",
        "billed": "true",
        "service_ref": "S1",
        "service_name": "Email Security",
        "quantity": "12",
        "start_date": "2024-01-01",
        "billing_cycle": "monthly",
        "term": "monthly",
    }
    report = import_records(database, workspace_id, [SourceRecord("row", row, HERE)])
    assert report.subscriptions.updated == 1
    assert _stored(database, workspace_id) == (Decimal(12), *KEPT)
    import_records(database, workspace_id, [SourceRecord("row", row | {"status": ""}, HERE)])
    assert _stored(database, workspace_id)[2] is None


@SQLITE_ONLY
def test_one_batch_giving_a_subscription_twice_must_give_the_same_fields(
    database: Database, workspace_id: int
) -> None:
    partial = KEY_AND_REQUIRED | {"quantity": 10}
    with pytest.raises(ImportValidationError, match="a second, different subscription"):
        import_document(database, workspace_id, _document(partial, partial | {"status": None}))
    import_document(database, workspace_id, _document(partial, partial))


def _account(database: Database, workspace_id: int) -> tuple[str, str, bool]:
    with database.session() as session:
        account = AccountRepository(session, workspace_id).get_by_ref("A1")
        assert account is not None
        return (account.name, account.status, account.billed)


@SQLITE_ONLY
def test_an_account_or_service_leaving_fields_out_keeps_them(
    database: Database, workspace_id: int
) -> None:
    import_document(database, workspace_id, _document(FULL))
    report = import_document(
        database,
        workspace_id,
        {"accounts": [{"ref": "A1", "status": "active"}], "services": [{"ref": "S1"}]},
    )
    assert report.accounts.__dict__ == {"created": 0, "updated": 1, "unchanged": 0}
    assert report.services.__dict__ == {"created": 0, "updated": 0, "unchanged": 1}
    assert _account(database, workspace_id) == ("Acme Ltd", "active", True)
    again = import_document(database, workspace_id, {"accounts": [{"ref": "A1", "billed": True}]})
    assert again.accounts.__dict__ == {"created": 0, "updated": 0, "unchanged": 1}
    with database.session() as session:
        assert [s.name for s in ServiceRepository(session, workspace_id).all()] == [
            "Email Security"
        ]


@SQLITE_ONLY
def test_a_new_account_or_service_must_give_every_field(
    database: Database, workspace_id: int
) -> None:
    with pytest.raises(ImportValidationError) as refused:
        import_document(
            database,
            workspace_id,
            {"accounts": [{"ref": "A9", "status": "active"}], "services": [{"ref": "S9"}]},
        )
    assert [(e.location, e.message) for e in refused.value.errors] == [
        ("$.accounts[0]", "account 'A9' is new: name and billed are required"),
        ("$.services[0]", "service 'S9' is new: name is required"),
    ]
    with database.session() as session:
        assert AccountRepository(session, workspace_id).count() == 0


@SQLITE_ONLY
def test_null_is_refused_where_a_field_cannot_be_cleared(
    database: Database, workspace_id: int
) -> None:
    with pytest.raises(ImportValidationError) as refused:
        import_document(database, workspace_id, {"accounts": [ACCOUNT | {"status": None}]})
    assert [e.location for e in refused.value.errors] == ["$.accounts[0].status"]


def test_a_subscription_a_snapshot_cancelled_sent_again_without_status_is_not_cancelled(
    database: Database, workspace_id: int
) -> None:
    """``cancelled`` was halosync's inference from the missing row, not the vendor's word:
    sent again with its status left out, it has none (as a new one), not ``cancelled``."""
    other = FULL | {"service_ref": "S2"}
    document = _document(FULL, other)
    document["services"].append({"ref": "S2", "name": "Backup"})
    import_document(database, workspace_id, document)
    import_document(database, workspace_id, {"subscriptions": [other]}, snapshot=True)
    with database.session() as session:
        (gone,) = [s for s in SubscriptionRepository(session, workspace_id).all() if s.unlisted]
        assert gone.status == "cancelled"
    report = import_document(
        database, workspace_id, {"subscriptions": [KEY_AND_REQUIRED | {"quantity": 12}]}
    )
    assert report.subscriptions.updated == 1
    with database.session() as session:
        back = next(
            s for s in SubscriptionRepository(session, workspace_id).all() if s.quantity == 12
        )
        assert (back.unlisted, back.status, back.cost_price) == (False, None, Decimal("50.0000"))
