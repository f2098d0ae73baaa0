"""The quantity rules service: validated whole, one transaction, versions by day, audited."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from halosync.domain.rules import EMPTY_RULE_BOOK, QuantityRule
from halosync.errors import NotFoundError
from halosync.rules.service import (
    RULE_ENTITY,
    RuleProblemsError,
    RuleTarget,
    StillExcludedError,
    clear_rule,
    effective_rule,
    exclude,
    include,
    list_rules,
    rule_book,
    rule_history,
    set_rule,
    today,
    update_rule,
)
from halosync.store.base import utcnow
from halosync.store.database import Database
from halosync.store.models import AuditEntry, LogEntry, QuantityRuleRow
from halosync.store.rules import RuleRepository
from halosync.sync.workspace_settings import SyncSettingsChange, update_sync_settings
from tests.rules.world import rules_workspace

WORKSPACE = RuleTarget()
MAIL = RuleTarget(service_ref="MAIL")
A1 = RuleTarget(account_ref="A1")
A1_MAIL = RuleTarget("A1", "MAIL")


@pytest.fixture
def ws(database: Database) -> int:
    return rules_workspace(database)


def _count(database: Database, model: type[object]) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _rule_audits(database: Database) -> list[tuple[str, str | None]]:
    with database.session() as session:
        return [
            (operation, actor)
            for operation, actor in session.execute(
                select(AuditEntry.operation, AuditEntry.actor)
                .where(AuditEntry.entity == RULE_ENTITY)
                .order_by(AuditEntry.id)
            )
        ]


def test_no_rule_is_the_empty_rule_book(database: Database, ws: int) -> None:
    assert rule_book(database, ws, today()) is EMPTY_RULE_BOOK
    assert list_rules(database, ws) == []


def test_rules_at_every_scope_make_the_book_the_sync_plans_with(
    database: Database, ws: int
) -> None:
    set_rule(database, ws, WORKSPACE, QuantityRule(minimum=5, rounding="up"), actor="ann")
    set_rule(database, ws, MAIL, QuantityRule(free=2, multiple=5), actor="ann")
    exclude(database, ws, A1, "internal use", actor="ann")
    set_rule(database, ws, RuleTarget("A2", "MAIL"), QuantityRule(minimum=25), actor="ann")
    book = rule_book(database, ws, today())
    assert book.workspace == QuantityRule(minimum=5, rounding="up")
    assert book.services == {"MAIL": QuantityRule(free=2, multiple=5)}
    assert book.accounts == {"A1": QuantityRule(excluded="internal use")}
    assert book.pairs == {("A2", "MAIL"): QuantityRule(minimum=25)}
    shown = [(v.scope, v.target.label(), v.created_by) for v in list_rules(database, ws)]
    assert shown == [
        ("workspace", "workspace", "ann"),
        ("service", "service MAIL", "ann"),
        ("account", "account A1", "ann"),
        ("account_service", "account A2 × service MAIL", "ann"),
    ]
    pair = effective_rule(database, ws, "A2", "MAIL")
    assert (pair.minimum, pair.scope_of("minimum")) == (25, "account_service")
    assert (pair.free, pair.scope_of("free")) == (2, "service")
    assert (pair.rounding, pair.scope_of("rounding")) == ("up", "workspace")
    assert effective_rule(database, ws, "A1", "BKP").excluded == "internal use"


def test_update_changes_the_fields_given_and_none_unsets_one(database: Database, ws: int) -> None:
    update_rule(database, ws, MAIL, {"minimum": 10, "free": 1}, actor="ann")
    update_rule(database, ws, MAIL, {"free": None, "ceiling": 40}, actor="ann")
    assert rule_book(database, ws, today()).services["MAIL"] == QuantityRule(minimum=10, ceiling=40)
    assert len(rule_history(database, ws, service_ref="MAIL")) == 2


def test_the_same_rule_again_stores_nothing(database: Database, ws: int) -> None:
    first = set_rule(database, ws, MAIL, QuantityRule(minimum=3), actor="ann")
    again = set_rule(database, ws, MAIL, QuantityRule(minimum=3), actor="ann")
    assert first.changed
    assert not again.changed
    assert include(database, ws, A1, actor="ann").changed is False
    assert _count(database, QuantityRuleRow) == 1
    assert _rule_audits(database) == [("set", "ann")]


def test_a_clear_is_a_new_version_and_the_wider_scope_applies_again(
    database: Database, ws: int
) -> None:
    set_rule(database, ws, WORKSPACE, QuantityRule(minimum=5), actor="ann")
    set_rule(database, ws, MAIL, QuantityRule(minimum=9), actor="ann")
    cleared = clear_rule(database, ws, MAIL, actor="bob")
    assert cleared.before == QuantityRule(minimum=9)
    assert cleared.after.is_clear
    assert effective_rule(database, ws, "A1", "MAIL").minimum == 5
    assert [v.scope for v in list_rules(database, ws)] == ["workspace"]
    history = rule_history(database, ws, service_ref="MAIL")
    assert [v.cleared for v in history] == [True, False]
    assert _rule_audits(database) == [("set", "ann"), ("set", "ann"), ("clear", "bob")]


def test_exclude_and_include_keep_the_other_fields(database: Database, ws: int) -> None:
    set_rule(database, ws, A1_MAIL, QuantityRule(minimum=2), actor="ann")
    exclude(database, ws, A1_MAIL, "  free of charge  ", actor="ann")
    assert rule_book(database, ws, today()).pairs[("A1", "MAIL")] == QuantityRule(
        minimum=2, excluded="free of charge"
    )
    include(database, ws, A1_MAIL, actor="ann")
    assert rule_book(database, ws, today()).pairs[("A1", "MAIL")] == QuantityRule(minimum=2)
    assert [op for op, _ in _rule_audits(database)] == ["set", "exclude", "include"]
    with database.session() as session:
        titles = list(session.scalars(select(LogEntry.title).order_by(LogEntry.id)))
    assert titles == ["Quantity rule changed", "Excluded from billing", "Included in billing again"]


def test_include_of_a_pair_its_account_excludes_says_so_and_how_to_override(
    database: Database, ws: int
) -> None:
    exclude(database, ws, A1, "internal use", actor="ann")
    with pytest.raises(StillExcludedError) as refused:
        include(database, ws, A1_MAIL, actor="ann")
    text = str(refused.value)
    assert "The account A1 × service MAIL has no exclusion of its own" in text
    assert "the account A1 excludes it (internal use)" in text
    assert "halosync rules include --account A1 --service MAIL --override" in text
    assert "override=true" in refused.value.text_for("api")
    assert _count(database, QuantityRuleRow) == 1
    # Its own exclusion ended, the account's still applies: stored, and said.
    exclude(database, ws, A1_MAIL, "trial seats", actor="ann")
    ended = include(database, ws, A1_MAIL, actor="ann")
    assert ended.changed
    assert ended.still_excluded == "the account A1 excludes it (internal use)"
    assert ended.to_dict()["still_excluded"] == ended.still_excluded
    assert effective_rule(database, ws, "A1", "MAIL").excluded == "internal use"


def test_an_include_with_override_bills_one_pair_of_an_excluded_account(
    database: Database, ws: int
) -> None:
    exclude(database, ws, A1, "internal use", actor="ann")
    set_rule(database, ws, A1_MAIL, QuantityRule(minimum=2), actor="ann")
    tomorrow = today() + timedelta(days=1)
    change = include(database, ws, A1_MAIL, override=True, valid_from=tomorrow, actor="ann")
    assert change.changed
    assert change.still_excluded is None
    assert change.after == QuantityRule(minimum=2, included=True)
    assert "included over a broader exclusion" in change.to_dict()["text"]
    # Never the past: today's plans still exclude it; from tomorrow it is billed.
    assert rule_book(database, ws, today()).for_pair("A1", "MAIL").excluded == "internal use"
    pair = effective_rule(database, ws, "A1", "MAIL", on_date=tomorrow)
    assert (pair.excluded, pair.overrides, pair.scope_of("overrides")) == (
        None,
        "internal use",
        "account",
    )
    assert effective_rule(database, ws, "A1", "BKP", on_date=tomorrow).excluded == "internal use"
    assert not include(
        database, ws, A1_MAIL, override=True, valid_from=tomorrow, actor="ann"
    ).changed
    assert [
        v.rule.included for v in rule_history(database, ws, account_ref="A1", service_ref="MAIL")
    ] == [True, None]
    # An exclusion of the pair itself ends its override.
    exclude(database, ws, A1_MAIL, "trial seats", valid_from=tomorrow, actor="ann")
    after = effective_rule(database, ws, "A1", "MAIL", on_date=tomorrow)
    assert (after.excluded, after.included) == ("trial seats", None)


def test_an_account_include_overrides_its_services_exclusions(database: Database, ws: int) -> None:
    exclude(database, ws, MAIL, "resold elsewhere", actor="ann")
    include(database, ws, A1, override=True, actor="ann")
    assert effective_rule(database, ws, "A1", "MAIL").overrides == "resold elsewhere"
    assert effective_rule(database, ws, "A2", "MAIL").excluded == "resold elsewhere"
    with pytest.raises(RuleProblemsError) as refused:
        include(database, ws, MAIL, override=True, actor="ann")
    assert [name for name, _ in refused.value.problems] == ["included"]


def test_a_markup_while_prices_are_off_is_stored_with_a_warning(
    database: Database, ws: int
) -> None:
    markup = {"price_owner": "markup", "markup_percent": Decimal(20)}
    change = update_rule(database, ws, MAIL, markup, actor="ann")
    assert change.changed
    [warning] = change.warnings
    assert "the workspace's price mode is off" in warning
    assert "halosync settings set --prices" in warning
    assert change.to_dict()["warnings"] == [warning]
    assert update_rule(database, ws, MAIL, {"minimum": 1}, actor="ann").warnings == (warning,)
    update_sync_settings(database, ws, SyncSettingsChange(price_mode="totals"), confirmed=True)
    assert update_rule(database, ws, MAIL, {"minimum": 2}, actor="ann").warnings == ()
    assert exclude(database, ws, A1, "internal", actor="ann").warnings == ()


def test_a_later_valid_from_applies_from_that_day_and_the_past_is_refused(
    database: Database, ws: int
) -> None:
    day = today()
    set_rule(database, ws, MAIL, QuantityRule(minimum=1), actor="ann")
    set_rule(
        database, ws, MAIL, QuantityRule(minimum=8), valid_from=day + timedelta(days=7), actor="ann"
    )
    assert rule_book(database, ws, day).services["MAIL"].minimum == 1
    assert rule_book(database, ws, day + timedelta(days=7)).services["MAIL"].minimum == 8
    assert [v.rule.minimum for v in list_rules(database, ws)] == [1]
    assert [v.valid_from for v in rule_history(database, ws)] == [day + timedelta(days=7), day]
    with pytest.raises(RuleProblemsError) as refused:
        set_rule(
            database, ws, MAIL, QuantityRule(minimum=2), valid_from=date(2020, 1, 1), actor="ann"
        )
    assert refused.value.problems[0][0] == "valid_from"
    assert "in the past" in str(refused.value)


def test_unknown_references_are_named_and_nothing_is_written(database: Database, ws: int) -> None:
    with pytest.raises(NotFoundError) as unknown:
        set_rule(database, ws, RuleTarget("NOPE", "GONE"), QuantityRule(minimum=1), actor="ann")
    message = str(unknown.value)
    assert "'NOPE'" in message
    assert "'GONE'" in message
    with pytest.raises(NotFoundError):
        effective_rule(database, ws, "A1", "GONE")
    assert _count(database, QuantityRuleRow) == 0


@pytest.mark.parametrize(
    ("target", "rule", "field"),
    [
        (MAIL, QuantityRule(minimum=-1), "minimum"),
        (MAIL, QuantityRule(multiple=0), "multiple"),
        (MAIL, QuantityRule(minimum=10, ceiling=5), "ceiling"),
        (A1, QuantityRule(minimum=3), "minimum"),
        (WORKSPACE, QuantityRule(excluded="all of it"), "excluded"),
        (MAIL, QuantityRule(price_owner="markup"), "price_owner"),
    ],
)
def test_a_bad_rule_names_its_field_and_changes_nothing(
    database: Database, ws: int, target: RuleTarget, rule: QuantityRule, field: str
) -> None:
    with pytest.raises(RuleProblemsError) as refused:
        set_rule(database, ws, target, rule, actor="ann")
    assert field in [name for name, _why in refused.value.problems]
    assert "Nothing was changed" in str(refused.value)
    assert _count(database, QuantityRuleRow) == 0
    assert _count(database, AuditEntry) == 0


def test_a_ceiling_below_a_minimum_set_at_another_scope_is_refused(
    database: Database, ws: int
) -> None:
    set_rule(database, ws, WORKSPACE, QuantityRule(minimum=25), actor="ann")
    with pytest.raises(RuleProblemsError) as refused:
        set_rule(database, ws, MAIL, QuantityRule(ceiling=10), actor="ann")
    assert refused.value.problems[0][0] == "ceiling"
    assert "minimum 25" in str(refused.value)
    assert len(rule_history(database, ws)) == 1


def test_exclusions_need_a_reason_and_an_account_or_service(database: Database, ws: int) -> None:
    with pytest.raises(RuleProblemsError):
        exclude(database, ws, A1, "   ", actor="ann")
    with pytest.raises(RuleProblemsError):
        exclude(database, ws, WORKSPACE, "everything", actor="ann")
    with pytest.raises(RuleProblemsError) as unknown:
        update_rule(database, ws, MAIL, {"maximum": 3}, actor="ann")
    assert unknown.value.problems == [("maximum", "is not a rule field")]
    assert _count(database, QuantityRuleRow) == 0


def test_a_reason_with_a_nul_is_refused_on_every_database(database: Database, ws: int) -> None:
    # PostgreSQL cannot store a NUL in text: refused by the validator, never a DataError.
    with pytest.raises(RuleProblemsError) as refused:
        exclude(database, ws, A1, "x\x00y", actor="ann")
    assert [name for name, _ in refused.value.problems] == ["excluded"]
    with pytest.raises(RuleProblemsError) as refused:
        set_rule(database, ws, MAIL, QuantityRule(excluded="a\x00b"), actor="ann")
    assert [name for name, _ in refused.value.problems] == ["excluded"]
    assert _count(database, QuantityRuleRow) == 0


def test_every_change_is_audited_with_before_and_after(database: Database, ws: int) -> None:
    set_rule(
        database,
        ws,
        MAIL,
        QuantityRule(markup_percent=Decimal("12.5"), price_owner="markup"),
        actor="ann",
    )
    with database.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.entity == RULE_ENTITY)).one()
        assert entry.before is not None
        assert entry.after is not None
        assert entry.before["markup_percent"] is None
        assert entry.after["markup_percent"] == "12.5"
        assert entry.after["service_ref"] == "MAIL"
        assert entry.after["scope"] == "service"
        assert entry.request_id is not None
        assert entry.request_id.startswith("rule-")
        details = session.scalars(select(LogEntry.details)).one()
    assert details is not None
    assert details.startswith("ann: service MAIL: ")
    assert "markup_percent (not set) -> 12.5" in details


def test_concurrent_changes_of_one_scope_both_stand(database: Database, ws: int) -> None:
    """A change merges onto the version it read: a second change waits for the first to
    commit, so neither is lost (versions are never updated, so no row lock does this)."""
    first = threading.Event()
    done: list[object] = []
    with database.session() as session:
        rules = RuleRepository(session, ws)
        rules.lock()
        session.add(
            QuantityRuleRow(
                workspace_id=ws,
                scope="workspace",
                valid_from=today(),
                minimum=5,
                created_at=utcnow(),
                created_by="first",
            )
        )
        session.flush()

        def second() -> None:
            first.set()
            done.append(update_rule(database, ws, WORKSPACE, {"free": 2}, actor="second"))

        thread = threading.Thread(target=second)
        thread.start()
        first.wait(5)
        time.sleep(0.5)  # the second change is waiting for the first's transaction
        assert done == []
    thread.join(10)
    assert rule_book(database, ws, today()).workspace == QuantityRule(minimum=5, free=2)


def test_a_change_today_is_carried_into_a_later_version_of_the_scope(
    database: Database, ws: int
) -> None:
    later = today() + timedelta(days=3)
    update_rule(database, ws, MAIL, {"minimum": 50}, valid_from=later, actor="ann")
    change = update_rule(database, ws, MAIL, {"free": 2}, actor="ann")
    assert [v.valid_from for v in change.carried] == [later]
    assert rule_book(database, ws, today()).services["MAIL"] == QuantityRule(free=2)
    assert rule_book(database, ws, later).services["MAIL"] == QuantityRule(free=2, minimum=50)
    # A field the later version changes itself stays as planned; a planned clear clears.
    update_rule(database, ws, MAIL, {"minimum": 10}, actor="ann")
    assert rule_book(database, ws, later).services["MAIL"].minimum == 50
    clear_rule(database, ws, MAIL, valid_from=later + timedelta(days=1), actor="ann")
    assert (
        update_rule(database, ws, MAIL, {"rounding": "up"}, actor="ann").carried[0].valid_from
        == later
    )
    assert "MAIL" not in rule_book(database, ws, later + timedelta(days=1)).services
    assert len(_rule_audits(database)) == len(rule_history(database, ws))


def test_a_change_that_breaks_a_later_version_is_refused_naming_its_day(
    database: Database, ws: int
) -> None:
    later = today() + timedelta(days=3)
    update_rule(database, ws, MAIL, {"minimum": 50}, valid_from=later, actor="ann")
    with pytest.raises(RuleProblemsError) as refused:
        update_rule(database, ws, MAIL, {"ceiling": 20}, actor="ann")
    assert f"from {later.isoformat()}" in str(refused.value)
    assert refused.value.problems[0][0] == "ceiling"
    assert len(rule_history(database, ws)) == 1


def test_a_conflict_across_scopes_on_a_later_day_is_refused(database: Database, ws: int) -> None:
    later = today() + timedelta(days=3)
    update_rule(database, ws, MAIL, {"minimum": 50}, valid_from=later, actor="ann")
    with pytest.raises(RuleProblemsError) as refused:
        update_rule(database, ws, WORKSPACE, {"ceiling": 20}, actor="ann")
    assert refused.value.problems[0][0] == "ceiling"
    assert f"from {later.isoformat()}" in str(refused.value)
    assert "minimum 50" in str(refused.value)
    assert len(rule_history(database, ws)) == 1
