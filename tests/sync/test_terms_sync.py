"""Several terms of one account × service through the real executor and ledger, on SQLite
and PostgreSQL: kept apart, the pair's record is re-kept under a term (one ledger row per
record), and a rule change back to one record sets the other to 0."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from halosync.domain.rules import QuantityRule
from halosync.rules.service import RuleTarget, set_rule
from halosync.store.models import LedgerEntry
from tests.sync.world import World, make_world, seed, usage_document

TERMS = usage_document(
    [{"ref": "A1", "name": "Client 1 Ltd", "status": "active", "billed": True}],
    [
        {"account_ref": "A1", "service_ref": "MAIL", "quantity": 10, "term": "quarterly"},
        {"account_ref": "A1", "service_ref": "MAIL", "quantity": 5, "term": "annual",
         "start_date": "2024-03-01"},
    ],
)  # fmt: skip


def _ledger(world: World) -> list[tuple[str, int | None, Decimal | int | None]]:
    with world.database.session() as session:
        return sorted(
            (entry.apart_term, entry.halo_record_id, entry.last_quantity)
            for entry in session.query(LedgerEntry).all()
        )


def _counts(world: World) -> dict[int, int]:
    return {lic["id"]: lic["count"] for lic in world.licences()}


def _sync(world: World, terms: str) -> None:
    set_rule(
        world.database,
        world.workspace_id,
        RuleTarget(service_ref="MAIL"),
        QuantityRule(terms=terms),  # type: ignore[arg-type]
        actor="t",
    )
    report = asyncio.run(world.usage())
    assert report.status == "succeeded", report.error
    again = asyncio.run(world.usage())
    assert again.counts["created"] == again.counts["updated"] == 0, again.changes


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_the_ledger_follows_the_terms_rule(
    tmp_path: Path, request: pytest.FixtureRequest, database: str
) -> None:
    url = request.getfixturevalue("pg_schema_url") if database == "postgresql" else None
    world = make_world(tmp_path, document=seed(1), database_url=url)
    world.review_off()
    world.ready_one_account(3)
    # quarterly and annual beside the first import's "Monthly" ("monthly" would be that term:
    # terms are one in any letter case since 0c0d553)
    world.import_usage(TERMS)
    _sync(world, "sum")
    ((summed, count),) = _counts(world).items()
    assert count == 18
    assert _ledger(world) == [("", summed, 18)]

    _sync(world, "apart")
    counts = _counts(world)
    assert counts[summed] == 3  # "Monthly" started first (2024-01-01, then by term text)
    assert sorted(counts.values()) == [3, 5, 10]
    assert [term for term, _, _ in _ledger(world)] == ["Monthly", "annual", "quarterly"]
    assert {record for _, record, _ in _ledger(world)} == set(counts)

    _sync(world, "sum")
    assert sorted(_counts(world).values()) == [0, 0, 18]
    assert len(_ledger(world)) == 3
    world.database.dispose()
