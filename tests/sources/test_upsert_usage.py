"""The REST API's JSON upsert is the file importer: one owner, the same report and writes."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from halosync.sources.errors import ImportValidationError
from halosync.sources.importer import IdempotencyKeyReusedError, import_file, upsert_usage
from halosync.store.database import Database
from halosync.store.idempotency import IdempotencyRepository
from halosync.store.usage import SubscriptionRepository

DOCUMENT = {
    "accounts": [{"ref": "A1", "name": "Acme", "status": "active", "billed": True}],
    "services": [{"ref": "S1", "name": "Email"}],
    "subscriptions": [
        {
            "account_ref": "A1",
            "service_ref": "S1",
            "quantity": 5,
            "start_date": "2024-01-01",
            "billing_cycle": "monthly",
            "term": "monthly",
        }
    ],
}


def test_an_upsert_and_a_file_import_report_the_same(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    body = json.dumps(DOCUMENT).encode()
    first = upsert_usage(database, workspace_id, body)
    assert not first.replayed
    assert first.report["subscriptions"] == {"created": 1, "updated": 0, "unchanged": 0}
    path = tmp_path / "usage.json"
    path.write_bytes(body)
    assert import_file(database, workspace_id, path).as_dict() == first.report | {
        "accounts": {"created": 0, "updated": 0, "unchanged": 1},
        "services": {"created": 0, "updated": 0, "unchanged": 1},
        "subscriptions": {"created": 0, "updated": 0, "unchanged": 1},
    }


def test_the_key_is_stored_with_the_import_and_only_with_it(
    database: Database, workspace_id: int
) -> None:
    bad = dict(DOCUMENT, subscriptions=[{"account_ref": "A1"}])
    with pytest.raises(ImportValidationError):
        upsert_usage(database, workspace_id, json.dumps(bad).encode(), idempotency_key="k")
    with database.session() as session:
        assert IdempotencyRepository(session, workspace_id).get("k") is None

    body = json.dumps(DOCUMENT).encode()
    first = upsert_usage(database, workspace_id, body, idempotency_key="k")
    again = upsert_usage(database, workspace_id, body, idempotency_key="k")
    assert (again.replayed, again.report) == (True, first.report)
    with pytest.raises(IdempotencyKeyReusedError, match="'k' was already used"):
        upsert_usage(database, workspace_id, body, snapshot=True, idempotency_key="k")


def test_upserts_of_one_term_at_a_time_never_overwrite_another_term(
    database: Database, workspace_id: int
) -> None:
    """A vendor that sends each subscription on its own (a webhook per purchase): the annual
    one sent after the monthly one is a second subscription, not the monthly one changed."""
    monthly: dict[str, object] = {
        "account_ref": "A1",
        "service_ref": "S1",
        "quantity": 5,
        "start_date": "2024-01-01",
        "billing_cycle": "monthly",
        "term": "monthly",
    }
    annual = dict(monthly, term="annual", quantity=2, billing_cycle="annual")
    for subscription, created in ((monthly, 1), (annual, 1), (annual, 0)):
        body = json.dumps(dict(DOCUMENT, subscriptions=[subscription])).encode()
        report = upsert_usage(database, workspace_id, body).report
        assert report["subscriptions"]["created"] == created
    with database.session() as session:
        subs = SubscriptionRepository(session, workspace_id).all()
        assert sorted((s.term, s.quantity) for s in subs) == [
            ("annual", Decimal(2)),
            ("monthly", Decimal(5)),
        ]
