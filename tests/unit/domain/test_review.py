"""The review policy: which planned writes are held, over examples and generated plans."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from halosync.domain.markers import marker_for
from halosync.domain.models import (
    ACTIONS,
    REVIEW_STATUSES,
    TARGETS,
    AccountTarget,
    DesiredSubscription,
    HaloInvoiceLine,
    HaloLicence,
    HaloValue,
    HaloWrite,
    LedgerRecord,
    LicenceChange,
    LicenceFields,
    LineChange,
    LineFields,
    Plan,
    PlannedChange,
    SyncSettings,
    Target,
    chain_text,
)
from halosync.domain.planner import plan_usage_sync
from halosync.domain.review import (
    DEFAULT_REVIEW_POLICY,
    PRICE_FIELDS,
    QUANTITY_FIELD,
    ReviewPolicy,
    ReviewStatus,
    hold_reasons,
    proposal_key,
    screen_plan,
)

RECOMMENDED = ReviewPolicy()
OFF = ReviewPolicy(
    change_above_units=None,
    change_above_percent=None,
    new_above_units=None,
    any_price_change=False,
    drop_to_zero=False,
)


def _write(target: Target, halo_id: int, quantity: Decimal) -> HaloWrite:
    if target == "licence":
        return LicenceChange(halo_id, LicenceFields(count=int(quantity)))
    return LineChange(halo_id, -1, LineFields(qty_order=quantity))


def update(old: int, new: int, target: Target = "licence", **extra: Decimal) -> PlannedChange:
    field = QUANTITY_FIELD[target]
    after = {field: Decimal(new), **extra}
    return PlannedChange(
        account_ref="A1",
        service_ref="MAIL",
        action="update",
        reason="count changed",
        target=target,
        halo_id=17,
        halo_client_id=1,
        before={field: Decimal(old)},
        after=after,
        write=_write(target, 17, Decimal(new)),
    )


def create(quantity: int, target: Target = "licence") -> PlannedChange:
    after: dict[str, HaloValue] = {QUANTITY_FIELD[target]: Decimal(quantity), "name": "Mail"}
    return PlannedChange(
        account_ref="A2",
        service_ref="MAIL",
        action="create",
        reason="new",
        target=target,
        halo_client_id=2,
        after=after,
        write=_write(target, 0, Decimal(quantity)),
    )


@pytest.mark.parametrize("target", ["licence", "invoice_line"])
def test_the_recommended_rules_hold_a_feed_error_and_a_drop_to_zero_only(target: Target) -> None:
    assert hold_reasons(update(12, 1200, target), RECOMMENDED) == (
        "the quantity changes by +9,900 % (limit ± 50 %)",
    )
    assert hold_reasons(update(12, 0, target), RECOMMENDED) == (
        "the quantity drops from 12 to 0",
        "the quantity changes by -100 % (limit ± 50 %)",
    )
    assert hold_reasons(update(10, 15, target), RECOMMENDED) == ()
    assert hold_reasons(update(10, 16, target), RECOMMENDED) != ()
    assert hold_reasons(update(0, 1200, target), RECOMMENDED) == ()
    assert hold_reasons(create(1200, target), RECOMMENDED) == ()
    price = PRICE_FIELDS[target][0]
    assert hold_reasons(update(10, 10, target, **{price: Decimal(9)}), RECOMMENDED) == ()


def test_a_workspace_starts_with_the_recommended_rules() -> None:
    assert (
        DEFAULT_REVIEW_POLICY
        == RECOMMENDED
        == ReviewPolicy(
            change_above_units=None,
            change_above_percent=50,
            new_above_units=None,
            any_price_change=False,
            drop_to_zero=True,
        )
    )


def test_each_rule_when_turned_on() -> None:
    units = ReviewPolicy(change_above_units=5, change_above_percent=None, drop_to_zero=False)
    assert hold_reasons(update(10, 15, "licence"), units) == ()
    assert hold_reasons(update(10, 4, "licence"), units) == (
        "the quantity changes by -6 units (limit ± 5)",
    )
    new = ReviewPolicy(new_above_units=100)
    assert hold_reasons(create(100), new) == ()
    assert hold_reasons(create(101, "invoice_line"), new) == (
        "a new invoice line for 101 units (limit for new records 100)",
    )
    prices = ReviewPolicy(any_price_change=True)
    assert hold_reasons(update(3, 3, "invoice_line", unit_cost=Decimal("1.5")), prices) == (
        "the price changes (unit_cost)",
    )


def test_a_rejected_value_is_not_asked_again_and_an_approved_one_passes() -> None:
    feed_error = update(12, 1200)
    key = proposal_key(feed_error)
    plan = Plan((feed_error,))
    rejected = screen_plan(plan, RECOMMENDED, {("A1", "MAIL", key): "rejected"})
    assert rejected.held == ()
    assert [c.action for c in rejected.plan.changes] == ["skip"]
    assert rejected.plan.changes[0].level == "INFO"
    approved = screen_plan(plan, RECOMMENDED, {("A1", "MAIL", key): "approved"})
    assert approved.plan == plan
    other = screen_plan(Plan((update(12, 1300),)), RECOMMENDED, {("A1", "MAIL", key): "rejected"})
    assert len(other.held) == 1


def test_the_proposal_key_names_the_value() -> None:
    assert proposal_key(update(12, 1200)) == proposal_key(update(11, 1200))
    assert proposal_key(update(12, 1200)) != proposal_key(update(12, 1201))
    assert proposal_key(create(5)) != proposal_key(update(0, 5))


# --- properties over generated plans -------------------------------------------------

quantities = st.integers(min_value=0, max_value=5000)
thresholds = st.one_of(st.none(), st.integers(min_value=0, max_value=2000))
policies = st.builds(
    ReviewPolicy,
    change_above_units=thresholds,
    change_above_percent=thresholds,
    new_above_units=thresholds,
    any_price_change=st.booleans(),
    drop_to_zero=st.booleans(),
)
targets = st.sampled_from(TARGETS)


@st.composite
def changes(draw: st.DrawFn, index: int) -> PlannedChange:
    target: Target = draw(targets)
    field = QUANTITY_FIELD[target]
    action = draw(st.sampled_from(ACTIONS))
    base = PlannedChange(
        account_ref=f"A{index}",
        service_ref="S",
        action=action,
        reason="r",
        target=target,
        halo_client_id=1,
    )
    if action == "create":
        after = {field: Decimal(draw(quantities))}
        return replace(base, after=after, write=_write(target, 0, after[field]))
    if action == "update":
        before: dict[str, Decimal | None] = {field: Decimal(draw(quantities))}
        after2: dict[str, Decimal | None] = {field: Decimal(draw(quantities))}
        if draw(st.booleans()):
            price = draw(st.sampled_from(PRICE_FIELDS[target]))
            before[price] = None
            after2[price] = Decimal(draw(st.integers(0, 99)))
        return replace(base, halo_id=index, before=before, after=after2)
    return base


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    size = draw(st.integers(min_value=0, max_value=8))
    return Plan(tuple(draw(changes(i)) for i in range(size)))


decision_values: st.SearchStrategy[ReviewStatus] = st.sampled_from(REVIEW_STATUSES)


@given(plans(), policies, st.data())
def test_screening_keeps_order_and_holds_exactly_what_the_policy_names(
    plan: Plan, policy: ReviewPolicy, data: st.DataObject
) -> None:
    decisions: dict[tuple[str, str, str], ReviewStatus] = {}
    for change in plan.changes:
        if change.is_write and data.draw(st.booleans()):
            key = (change.account_ref, change.service_ref, proposal_key(change))
            decisions[key] = data.draw(decision_values)
    screened = screen_plan(plan, policy, decisions)
    assert len(screened.plan.changes) == len(plan.changes)
    # A key names a value, not a pair: two pairs may propose the same one.
    held_keys = {(h.change.account_ref, h.change.service_ref, h.key) for h in screened.held}
    for before, after in zip(plan.changes, screened.plan.changes, strict=True):
        assert (after.account_ref, after.service_ref) == (before.account_ref, before.service_ref)
        if not before.is_write:
            assert after == before
            continue
        decision = decisions.get((before.account_ref, before.service_ref, proposal_key(before)))
        reasons = hold_reasons(before, policy)
        if decision == "approved" or (decision != "rejected" and not reasons):
            assert after == before
        else:
            # Held or rejected: never written, Halo's before/after kept for the results.
            assert after.action == "skip"
            assert after.write is None
            assert (after.before, after.after) == (before.before, before.after)
            held_key = (before.account_ref, before.service_ref, proposal_key(before))
            assert (held_key in held_keys) == (decision != "rejected")


@given(plans(), policies)
def test_with_every_rule_off_nothing_is_held(plan: Plan, policy: ReviewPolicy) -> None:
    assert screen_plan(plan, OFF, {}).plan == plan
    # Only writes are ever held.
    assert all(h.change.is_write for h in screen_plan(plan, policy, {}).held)


@given(quantities, quantities, thresholds, thresholds)
def test_a_stricter_threshold_holds_at_least_as_much(
    old: int, new: int, first: int | None, second: int | None
) -> None:
    change = update(old, new)
    if first is None or second is None:
        return
    strict, loose = sorted((first, second))
    off = ReviewPolicy(change_above_units=None, change_above_percent=None, drop_to_zero=False)
    pairs = [
        (replace(off, change_above_units=strict), replace(off, change_above_units=loose)),
        (replace(off, change_above_percent=strict), replace(off, change_above_percent=loose)),
    ]
    for stricter, looser in pairs:
        assert bool(hold_reasons(change, looser)) <= bool(hold_reasons(change, stricter))


# --- applied to the planner's own output ---------------------------------------------


def _planned(target: Target, old: int, new: int) -> Plan:
    marker = marker_for("ws", "A", "S")
    ledger = LedgerRecord(
        account_ref="A",
        service_ref="S",
        target=target,
        halo_client_id=1,
        recurring_invoice_id=-1 if target == "invoice_line" else None,
        halo_record_id=7,
        state="written",
        marker=marker,
    )
    return plan_usage_sync(
        [DesiredSubscription("A", "Acme", "active", True, "S", "Seats", Decimal(new))],
        account_targets={"A": AccountTarget(1, recurring_invoice_id=-1)},
        service_items={"S": 1},
        ledger=[ledger],
        settings=SyncSettings(target=target, workspace_key="ws"),
        halo_licences=[HaloLicence(7, 1, "Seats", old, marker=marker, status="Active")],
        halo_invoice_lines=[HaloInvoiceLine(7, -1, 1, Decimal(old), marker=marker)],
    )


@given(targets, st.integers(min_value=0, max_value=10_000), quantities)
def test_the_defaults_on_the_planners_output_hold_big_moves_and_drops_only(
    target: Target, old: int, new: int
) -> None:
    plan = _planned(target, old, new)
    assert len(plan.changes) == 1
    screened = screen_plan(plan, RECOMMENDED, {})
    moved = new != old
    # From 0 there is no base for a percentage: only the absolute rule (off) applies.
    expected = moved and old > 0 and (new == 0 or abs(new - old) * 100 > 50 * old)
    assert bool(screened.held) == expected
    assert (screened.plan.writes == ()) == (expected or not plan.writes)
    if expected:
        # Nothing of the held write reaches the executor; the results keep before/after.
        [change] = screened.plan.changes
        assert change.action == "skip"
        assert change.after[QUANTITY_FIELD[target]] == Decimal(new)


@given(plans(), st.data())
def test_a_change_that_passes_never_says_held_for_review(plan: Plan, data: st.DataObject) -> None:
    """Every write carries a ceiling's chain ("...: held for review"); what passes the
    screening (approved, or not held) is written, so its chain never says held."""
    from halosync.domain.rules import QuantityRule, RuleBook, rule_quantity

    rule = RuleBook(workspace=QuantityRule(ceiling=0)).for_pair("A", "S")
    ceiling = rule_quantity(Decimal(1), rule).steps
    assert "held for review" in chain_text(ceiling)
    holds = ("the quantity 1 is above the ceiling of 0 (workspace)",)
    plan = Plan(
        tuple(
            replace(c, explain=ceiling, rule_holds=holds) if c.is_write else c for c in plan.changes
        )
    )
    decisions: dict[tuple[str, str, str], ReviewStatus] = {}
    for change in plan.writes:
        if data.draw(st.booleans()):
            key = (change.account_ref, change.service_ref, proposal_key(change))
            decisions[key] = data.draw(decision_values)
    screened = screen_plan(plan, RECOMMENDED, decisions)
    for change in screened.plan.writes:
        assert "held for review" not in chain_text(change.explain)
    approved = [
        index
        for index, change in enumerate(plan.changes)
        if change.is_write
        and decisions.get((change.account_ref, change.service_ref, proposal_key(change)))
        == "approved"
    ]
    assert [passed.index for passed in screened.approved] == approved
    for passed in screened.approved:
        assert "approved under Review" in chain_text(screened.plan.changes[passed.index].explain)
