"""The mapping grids show the quantity rules in force: excluded accounts, services and
pairs with their reasons (excluded is not unmapped), and a service's or a pair's
overrides; the account grid reads a page's rules in one query."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from halosync.domain.rules import QuantityRule
from halosync.mapping.grid import account_mapping_grid, service_mapping_grid
from halosync.rules.service import RuleTarget, exclude, include, set_rule, today
from halosync.store.database import Database
from tests.rules.world import rules_workspace
from tests.schema_template import migrated

ACCOUNTS = 30


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    db = migrated(Database(f"sqlite:///{tmp_path / 'halosync.db'}"))
    yield db
    db.dispose()


@pytest.fixture
def ws(database: Database) -> int:
    return rules_workspace(
        database, accounts=[(f"A{n:02}", f"Client {n:02}") for n in range(ACCOUNTS)]
    )


def test_exclusions_and_overrides_show_in_both_grids(database: Database, ws: int) -> None:
    set_rule(
        database, ws, RuleTarget(service_ref="MAIL"), QuantityRule(minimum=25, free=3), actor="t"
    )
    exclude(database, ws, RuleTarget(service_ref="BKP"), "sold separately", actor="t")
    exclude(database, ws, RuleTarget(account_ref="A01"), "internal tenant", actor="t")
    include(database, ws, RuleTarget("A01", "MAIL"), override=True, actor="t")
    set_rule(database, ws, RuleTarget("A02", "MAIL"), QuantityRule(minimum=5), actor="t")
    exclude(database, ws, RuleTarget("A02", "BKP"), "own backup", actor="t")
    # A rule from a later day is not in force yet: not shown.
    later = today() + timedelta(days=2)
    exclude(database, ws, RuleTarget(account_ref="A03"), "leaving", valid_from=later, actor="t")
    with database.reading() as session:
        services = {row.service_ref: row for row in service_mapping_grid(session, ws)}
        rows = {row.account_ref: row for row in account_mapping_grid(session, ws).items}
    assert (services["MAIL"].rule, services["MAIL"].excluded) == ("free 3, minimum 25", None)
    assert (services["BKP"].rule, services["BKP"].excluded) == ("", "sold separately")
    assert not services["MAIL"].mapped  # excluded or not, the mapping status is its own
    assert rows["A01"].excluded == "internal tenant"
    assert rows["A01"].status == "unmapped"
    assert rows["A01"].service_rules == (("MAIL", "included over a broader exclusion"),)
    assert rows["A02"].excluded is None
    assert rows["A02"].service_rules == (("BKP", "excluded: own backup"), ("MAIL", "minimum 5"))
    assert (rows["A03"].excluded, rows["A03"].service_rules) == (None, ())


def test_a_page_reads_its_rules_in_one_query(database: Database, ws: int) -> None:
    for n in range(0, ACCOUNTS, 2):
        exclude(database, ws, RuleTarget(account_ref=f"A{n:02}"), f"reason {n}", actor="t")
        set_rule(database, ws, RuleTarget(f"A{n:02}", "MAIL"), QuantityRule(free=n), actor="t")
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    with database.reading() as session:
        event.listen(database.engine, "before_cursor_execute", count)
        try:
            page = account_mapping_grid(session, ws, page_size=20)
        finally:
            event.remove(database.engine, "before_cursor_execute", count)
    assert len(page.items) == 20
    assert sum(1 for row in page.items if row.excluded) == 10
    assert sum("quantity_rule" in text for text in statements) == 1


def test_the_excluded_filter_keeps_the_accounts_excluded_today(database: Database, ws: int) -> None:
    exclude(database, ws, RuleTarget(account_ref="A05"), "internal", actor="t")
    exclude(database, ws, RuleTarget("A07", "MAIL"), "own deal", actor="t")
    exclude(database, ws, RuleTarget(account_ref="A09"), "was internal", actor="t")
    include(database, ws, RuleTarget(account_ref="A09"), actor="t")
    later = today() + timedelta(days=1)
    exclude(database, ws, RuleTarget(account_ref="A11"), "leaving", valid_from=later, actor="t")
    set_rule(database, ws, RuleTarget("A13", "MAIL"), QuantityRule(minimum=3), actor="t")
    with database.reading() as session:
        first = account_mapping_grid(session, ws, excluded=True, page_size=1)
        second = account_mapping_grid(session, ws, excluded=True, page=2, page_size=1)
        both = account_mapping_grid(session, ws, excluded=True, search="Client 0")
        none = account_mapping_grid(session, ws, excluded=True, status="mapped")
    assert first.total == 2
    assert [row.account_ref for row in (*first.items, *second.items)] == ["A05", "A07"]
    assert [row.account_ref for row in both.items] == ["A05", "A07"]
    assert none.total == 0
