"""The quantity rules' versions on SQLite and PostgreSQL: added, never updated, looked up by day."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy.exc import IntegrityError

from halosync.store.database import Database
from halosync.store.models import QuantityRuleRow
from halosync.store.rules import RuleRepository
from halosync.store.usage import AccountRepository, ServiceRepository
from tests.rules.world import rules_workspace

DAY = date(2026, 12, 1)


def _workspace(
    database: Database, name: str = "acme"
) -> tuple[int, dict[str, int], dict[str, int]]:
    ws = rules_workspace(database, name)
    with database.session() as session:
        accounts = {a.ref: a.id for a in AccountRepository(session, ws).all()}
        services = {s.ref: s.id for s in ServiceRepository(session, ws).all()}
    return ws, accounts, services


def _row(scope: str, valid_from: date, **fields: object) -> QuantityRuleRow:
    return QuantityRuleRow(
        scope=scope,
        valid_from=valid_from,
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
        created_by="test",
        **fields,
    )


def test_the_version_in_force_is_the_latest_valid_from_on_or_before_the_day(
    database: Database,
) -> None:
    ws, _accounts, services = _workspace(database)
    with database.session() as session:
        rules = RuleRepository(session, ws)
        rules.add(_row("workspace", date(2026, 11, 1), minimum=5))
        rules.add(_row("workspace", date(2026, 12, 10), minimum=10))
        rules.add(_row("service", date(2026, 11, 1), service_id=services["MAIL"], free=2))
        rules.add(_row("service", date(2026, 11, 1), service_id=services["MAIL"], free=3))
    with database.session() as session:
        rules = RuleRepository(session, ws)
        assert rules.in_force(date(2026, 10, 31)) == []
        before = {(v.row.scope, v.service_ref): v.row for v in rules.in_force(DAY)}
        assert before[("workspace", None)].minimum == 5
        # Same valid_from: the later change wins.
        assert before[("service", "MAIL")].free == 3
        later = {(v.row.scope, v.service_ref): v.row for v in rules.in_force(date(2026, 12, 10))}
        assert later[("workspace", None)].minimum == 10
        one = rules.in_force_for(("service", None, services["MAIL"]), DAY)
        assert one is not None
        assert one.row.free == 3
        assert one.service_name == "Mail"
        assert rules.in_force_for(("service", None, services["BKP"]), DAY) is None


def test_in_force_lists_scopes_in_order_with_their_references(database: Database) -> None:
    ws, accounts, services = _workspace(database)
    with database.session() as session:
        rules = RuleRepository(session, ws)
        rules.add(
            _row(
                "account_service",
                DAY,
                account_id=accounts["A2"],
                service_id=services["MAIL"],
                minimum=1,
            )
        )
        rules.add(_row("account", DAY, account_id=accounts["A1"], excluded="internal"))
        rules.add(_row("service", DAY, service_id=services["MAIL"], ceiling=50))
        rules.add(_row("workspace", DAY, rounding="up"))
    with database.session() as session:
        found = [
            (v.row.scope, v.account_ref, v.service_ref)
            for v in RuleRepository(session, ws).in_force(DAY)
        ]
    assert found == [
        ("workspace", None, None),
        ("service", None, "MAIL"),
        ("account", "A1", None),
        ("account_service", "A2", "MAIL"),
    ]


def test_history_is_newest_first_and_filtered_by_account_or_service(database: Database) -> None:
    ws, accounts, services = _workspace(database)
    with database.session() as session:
        rules = RuleRepository(session, ws)
        rules.add(_row("service", date(2026, 11, 1), service_id=services["MAIL"], free=1))
        rules.add(_row("service", date(2026, 12, 1), service_id=services["MAIL"], free=2))
        rules.add(_row("account", date(2026, 11, 5), account_id=accounts["A1"], excluded="x"))
        rules.add(_row("workspace", date(2026, 11, 1), minimum=1))
    with database.session() as session:
        rules = RuleRepository(session, ws)
        every = [(v.row.scope, v.row.valid_from) for v in rules.history()]
        assert every[0] == ("service", date(2026, 12, 1))
        assert [v.row.free for v in rules.history(service_id=services["MAIL"])] == [2, 1]
        assert [v.row.scope for v in rules.history(account_id=accounts["A1"])] == ["account"]
        assert len(rules.history(limit=2)) == 2


def test_workspaces_do_not_see_each_others_rules(database: Database) -> None:
    ws, _a, _s = _workspace(database)
    other, _a2, _s2 = _workspace(database, "other")
    with database.session() as session:
        RuleRepository(session, ws).add(_row("workspace", DAY, minimum=3))
    with database.session() as session:
        assert RuleRepository(session, other).in_force(DAY) == []
        assert RuleRepository(session, other).history() == []


@pytest.mark.parametrize(
    ("scope", "keys", "fields"),
    [
        ("workspace", ("A1", None), {}),  # a workspace rule names no account
        ("service", (None, None), {}),  # a service rule names its service
        ("account", (None, "MAIL"), {}),
        ("account_service", ("A1", None), {}),
        ("workspace", (None, None), {"minimum": -1}),
        ("workspace", (None, None), {"multiple": 0}),
        ("workspace", (None, None), {"rounding": "sideways"}),
        ("elsewhere", (None, None), {}),
    ],
)
def test_the_database_refuses_a_malformed_version(
    database: Database, scope: str, keys: tuple[str | None, str | None], fields: dict[str, object]
) -> None:
    ws, accounts, services = _workspace(database)
    account, service = keys
    with pytest.raises(IntegrityError), database.session() as session:
        RuleRepository(session, ws).add(
            _row(
                scope,
                DAY,
                account_id=accounts[account] if account else None,
                service_id=services[service] if service else None,
                **fields,
            )
        )
