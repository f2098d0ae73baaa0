"""The planner with quantity rules: the acceptance of issue 17 as properties, and examples."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import event, given, settings
from hypothesis import strategies as st

from halosync.domain.halo_values import halo_decimal
from halosync.domain.models import (
    AccountTarget,
    DesiredSubscription,
    ExplainStep,
    Plan,
    SyncSettings,
    plain_number,
)
from halosync.domain.planner import plan_usage_sync
from halosync.domain.review import REVIEW_OFF, screen_plan
from halosync.domain.rules import EMPTY_RULE_BOOK, QuantityRule, RuleBook, rule_quantity

from .halo_state import HaloState
from .test_planner import foreign_line, sub
from .test_planner_properties import (
    ACCOUNTS,
    SERVICES,
    WS,
    Scenario,
    prepared_state,
    run,
    scenarios,
)
from .test_rules import quantity_rules


@st.composite
def rule_books(draw: st.DrawFn) -> RuleBook:
    return RuleBook(
        workspace=replace(draw(quantity_rules()), excluded=None),
        services=draw(st.dictionaries(st.sampled_from(SERVICES), quantity_rules(), max_size=2)),
        accounts=draw(
            st.dictionaries(st.sampled_from(ACCOUNTS), quantity_rules(account=True), max_size=1)
        ),
        pairs=draw(
            st.dictionaries(
                st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(SERVICES)),
                quantity_rules(),
                max_size=2,
            )
        ),
    )


def _ended(subscription: DesiredSubscription) -> bool:
    return subscription.status in ("cancelled", "expired") or (
        subscription.account_status == "cancelled"
    )


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_no_rules_plan_exactly_as_before(scenario: Scenario) -> None:
    """Rules that set nothing (or nothing that changes a count) plan what no rules do, and
    without rules every mapped pair's chain is the vendor's quantity alone."""
    state, _foreign = prepared_state(scenario)
    plain = run(scenario, scenario.now, state)
    clear = RuleBook(
        workspace=QuantityRule(),
        services=dict.fromkeys(SERVICES, QuantityRule()),
        accounts=dict.fromkeys(ACCOUNTS, QuantityRule()),
        pairs={(a, s): QuantityRule() for a in ACCOUNTS for s in SERVICES},
    )
    neutral = RuleBook(
        workspace=QuantityRule(minimum=0, free=0, ceiling=10**6, price_owner="halosync")
    )
    assert run(scenario, scenario.now, state, clear) == plain
    assert run(scenario, scenario.now, state, neutral) == plain
    subs = {s.key: s for s in scenario.now}
    for change in plain.changes:
        assert not change.rule_holds
        if change.explain:
            vendor = subs[(change.account_ref, change.service_ref)].quantity
            assert change.explain[0] == ExplainStep("vendor", change.explain[0].text, vendor)
            assert {step.rule for step in change.explain} <= {"vendor", "ended"}
            assert change.quantity == vendor


@settings(max_examples=200, deadline=None)
@given(scenarios(), rule_books())
def test_rules_keep_the_acceptance(scenario: Scenario, rules: RuleBook) -> None:
    state, _foreign = prepared_state(scenario)
    plan = run(scenario, scenario.now, state, rules)
    assert plan == run(scenario, scenario.now, state, rules), "identical inputs, identical plans"
    subs = {s.key: s for s in scenario.now}
    field = "count" if scenario.target == "licence" else "qty_order"
    for change in plan.changes:
        rule = rules.for_pair(change.account_ref, change.service_ref)
        subscription = subs[(change.account_ref, change.service_ref)]
        mapped = change.account_ref in scenario.targets and change.service_ref in scenario.items
        assert bool(change.explain) == mapped or rule.excluded is not None
        if rule.excluded is not None:
            event("excluded")
            assert change.action == "skip"
            assert change.reason.startswith("excluded from billing: ")
            continue
        # A chain says "held for review" only on a change the rules hold: a count above
        # the ceiling that Halo already holds (unchanged, or a price-only update) is not,
        # nor a pair refused for another reason (a skip or a failure writes nothing).
        said_held = any(step.text.endswith(": held for review") for step in change.explain)
        assert said_held == bool(change.rule_holds), change
        if change.rule_holds:
            event("held by the rules")
        elif change.action in ("skip", "fail") and any(s.rule == "ceiling" for s in change.explain):
            event("refused above the ceiling")
        if not change.is_write or field not in change.after:
            continue
        written = change.after[field]
        assert isinstance(written, int | Decimal)
        assert written >= 0
        if scenario.target == "licence":
            assert isinstance(written, int)
        if _ended(subscription):
            assert written == 0
            continue
        event("a ruled write")
        if rule.minimum is not None:
            assert written >= rule.minimum
        assert change.explain[-1].quantity == written or change.explain[-1].rule == "price"
    # No write above a ceiling passes review, whatever the policy.
    for change in screen_plan(plan, REVIEW_OFF, {}).plan.writes:
        if field not in change.after:
            continue
        ceiling = rules.for_pair(change.account_ref, change.service_ref).ceiling
        value = change.after[field]
        assert ceiling is None or (isinstance(value, int | Decimal) and value <= ceiling)


fractions = st.decimals(
    min_value=0, max_value=60, places=4, allow_nan=False, allow_infinity=False
).filter(lambda q: q != q.to_integral_value())


@settings(max_examples=200, deadline=None)
@given(scenarios(), rule_books(), st.data())
def test_a_fractional_count_is_never_cut_and_repeats_write_nothing(
    scenario: Scenario, rules: RuleBook, data: st.DataObject
) -> None:
    """A fractional vendor count reaches a licence only through a rounding rule (else the
    pair is skipped with a WARNING naming the count), reaches an invoice line as it is (or
    as the rules make it), and once written, planning again writes nothing."""
    now = [replace(s, quantity=data.draw(fractions)) for s in scenario.now]
    state, _foreign = prepared_state(scenario)
    plan = run(scenario, now, state, rules)
    subs = {s.key: s for s in now}
    for change in plan.changes:
        subscription = subs[(change.account_ref, change.service_ref)]
        rule = rules.for_pair(change.account_ref, change.service_ref)
        if "is not a whole number" in change.reason:
            event("fractional licence skipped")
            assert scenario.target == "licence"
            assert rule.rounding is None
            assert (change.action, change.level, change.write) == ("skip", "WARNING", None)
            assert f"quantity {plain_number(subscription.quantity)} " in change.reason
            assert f"rounding rule for service {change.service_ref}" in change.reason
            continue
        if not change.is_write or _ended(subscription):
            continue
        if scenario.target == "licence" and "count" in change.after:
            event("fractional licence rounded")
            assert rule.rounding is not None
            assert isinstance(change.after["count"], int)
        if scenario.target == "invoice_line" and "qty_order" in change.after:
            ruled = rule_quantity(subscription.quantity, rule).quantity
            assert change.after["qty_order"] == halo_decimal(ruled)
            if ruled == subscription.quantity:
                event("fraction written as it is")
    state.apply(plan)
    again = run(scenario, now, state, rules)
    assert not [c for c in again.writes if not c.adopted], "a repeat sync writes nothing"


TARGETS = {"A1": AccountTarget(halo_client_id=10, recurring_invoice_id=-94)}


def _plan(
    subs: list[DesiredSubscription],
    rules: RuleBook,
    *,
    target: str = "licence",
    prices: str = "totals",
    state: HaloState | None = None,
) -> Plan:
    state = state or HaloState()
    return plan_usage_sync(
        subs,
        account_targets=TARGETS,
        service_items={"S1": 500},
        ledger=state.ledger,
        settings=SyncSettings(
            target="licence" if target == "licence" else "invoice_line",
            price_mode="totals" if prices == "totals" else "unit" if prices == "unit" else "off",
            workspace_key=WS,
        ),
        halo_licences=state.halo_licences(),
        halo_invoice_lines=state.halo_lines(),
        rules=rules,
    )


def test_free_and_minimum_set_the_count_and_rescale_the_totals() -> None:
    rules = RuleBook(workspace=QuantityRule(minimum=25), services={"S1": QuantityRule(free=3)})
    (change,) = _plan([sub(quantity="23")], rules).changes
    assert change.action == "create"
    assert change.after["count"] == 25
    # Totals are the vendor's unit prices (50 / 23, 30 / 23) times the quantity billed.
    assert change.after["price"] == Decimal("54.3478")
    assert change.after["purchase_price"] == Decimal("32.6087")
    assert change.explain_text.startswith(
        "vendor 23 \u2192 minus 3 free (service) \u2192 minimum 25 (workspace) \u2192 25; price:"
    )


def test_without_rules_the_chain_is_the_vendors_quantity() -> None:
    (change,) = _plan([sub(quantity="23")], EMPTY_RULE_BOOK).changes
    assert change.explain_text == "vendor 23 \u2192 23"
    assert change.after["price"] == Decimal(50)


def test_a_fractional_count_needs_a_rounding_rule_for_a_licence() -> None:
    """Never rounded or cut silently: skipped with a WARNING naming the count and the fix."""
    (skipped,) = _plan([sub(quantity="12.4")], EMPTY_RULE_BOOK).changes
    assert (skipped.action, skipped.level, skipped.write) == ("skip", "WARNING", None)
    assert skipped.reason == (
        "quantity 12.4 is not a whole number, and a HaloPSA licence count must be, so "
        "nothing was written; set a rounding rule for service S1 (or for account A1 "
        "\u00d7 service S1) under Quantity rules, e.g. halosync rules set --service S1 "
        "--rounding up"
    )
    assert skipped.explain_text == "vendor 12.4 \u2192 12.4"
    rules = RuleBook(services={"S1": QuantityRule(rounding="up")})
    (change,) = _plan([sub(quantity="12.4")], rules).changes
    assert change.after["count"] == 13
    assert change.explain_text.startswith("vendor 12.4 \u2192 rounded up (service) \u2192 13")
    packs = RuleBook(services={"S1": QuantityRule(rounding="up", multiple=5)})
    (change,) = _plan([sub(quantity="2.5")], packs).changes
    assert change.after["count"] == 5
    assert "rounded up to a multiple of 5 (service)" in change.explain_text


def test_a_fractional_count_goes_to_an_invoice_line_as_it_is() -> None:
    state = HaloState()
    (line,) = _plan([sub(quantity="2.5")], EMPTY_RULE_BOOK, target="invoice_line").changes
    assert (line.action, line.after["qty_order"]) == ("create", Decimal("2.5"))
    assert line.explain_text.startswith("vendor 2.5 \u2192 2.5")
    state.apply(_plan([sub(quantity="2.5")], EMPTY_RULE_BOOK, target="invoice_line"))
    # Halo keeps a double: 2.5000000001 (or 14.0 for 14) is the same quantity.
    (line_id,) = state.lines
    state.lines[line_id]["qty_order"] = 2.5000000001
    (again,) = _plan(
        [sub(quantity="2.5")], EMPTY_RULE_BOOK, target="invoice_line", state=state
    ).changes
    assert again.action == "unchanged"
    # Per-unit prices divide the vendor's totals by the fractional count: 50 / 2.5, 30 / 2.5.
    assert (line.after["unit_price"], line.after["unit_cost"]) == (Decimal(20), Decimal(12))
    nearest = RuleBook(services={"S1": QuantityRule(rounding="nearest")})
    (ruled,) = _plan([sub(quantity="2.5")], nearest, target="invoice_line").changes
    assert ruled.after["qty_order"] == Decimal(3)
    assert "rounded nearest (service)" in ruled.explain_text


def test_an_ended_subscription_goes_to_zero_whatever_the_minimum() -> None:
    state = HaloState()
    rules = RuleBook(workspace=QuantityRule(minimum=5))
    state.apply(_plan([sub(quantity="7")], rules, state=state))
    (change,) = _plan([sub(quantity="7", status="cancelled")], rules, state=state).changes
    assert change.action == "update"
    assert change.after["count"] == 0
    assert change.explain_text.endswith(
        "subscription cancelled: billing stops (the minimum 5 does not apply) \u2192 0"
    )


def test_above_the_ceiling_is_held_for_review_even_with_every_policy_rule_off() -> None:
    rules = RuleBook(services={"S1": QuantityRule(ceiling=20)})
    plan = _plan([sub(quantity="23")], rules)
    (change,) = plan.changes
    assert change.rule_holds == ("the quantity 23 is above the ceiling of 20 (service)",)
    screening = screen_plan(plan, REVIEW_OFF, {})
    (held,) = screening.held
    assert "above the ceiling of 20 (service)" in held.reasons[0]
    assert screening.plan.changes[0].action == "skip"
    # At or below the ceiling nothing is held.
    assert not screen_plan(_plan([sub(quantity="20")], rules), REVIEW_OFF, {}).held


def test_an_update_above_the_ceiling_is_held_too() -> None:
    state = HaloState()
    state.apply(_plan([sub(quantity="10")], EMPTY_RULE_BOOK, state=state))
    rules = RuleBook(pairs={("A1", "S1"): QuantityRule(ceiling=12)})
    plan = _plan([sub(quantity="13")], rules, state=state)
    assert plan.changes[0].action == "update"
    assert screen_plan(plan, REVIEW_OFF, {}).held[0].reasons == (
        "the quantity 13 is above the ceiling of 12 (account \u00d7 service)",
    )


def test_a_count_above_the_ceiling_that_halo_holds_is_not_held_nor_said_held() -> None:
    state = HaloState()
    state.apply(_plan([sub(quantity="23")], EMPTY_RULE_BOOK, state=state))
    rules = RuleBook(services={"S1": QuantityRule(ceiling=20)})
    (same,) = _plan([sub(quantity="23")], rules, state=state).changes
    assert (same.action, same.rule_holds) == ("unchanged", ())
    assert "above the ceiling of 20 (service): HaloPSA already holds it" in same.explain_text
    assert "held for review" not in same.explain_text
    # A new price on that count is written: the count is not changing.
    plan = _plan([sub(quantity="23", customer_price=Decimal(60))], rules, state=state)
    (priced,) = plan.changes
    assert (priced.action, priced.rule_holds) == ("update", ())
    assert "count" not in priced.after
    assert "held for review" not in priced.explain_text
    assert not screen_plan(plan, REVIEW_OFF, {}).held


def test_an_excluded_pair_is_skipped_with_its_reason() -> None:
    rules = RuleBook(accounts={"A1": QuantityRule(excluded="internal use")})
    (change,) = _plan([sub(quantity="4")], rules).changes
    assert (change.action, change.level) == ("skip", "INFO")
    assert change.reason == "excluded from billing: internal use (account)"
    assert change.explain_text == "vendor 4 \u2192 excluded from billing: internal use (account)"
    # Excluded is not unmapped: an unmapped excluded account reads as excluded.
    unmapped = plan_usage_sync(
        [sub(quantity="4")],
        account_targets={},
        service_items={},
        ledger=[],
        settings=SyncSettings(),
        rules=rules,
    )
    assert unmapped.changes[0].reason == change.reason


def test_excluding_a_pair_that_still_bills_names_the_record() -> None:
    state = HaloState()
    state.apply(_plan([sub(quantity="10")], EMPTY_RULE_BOOK, state=state))
    (licence_id,) = state.licences
    rules = RuleBook(pairs={("A1", "S1"): QuantityRule(excluded="moved to another MSP")})
    (change,) = _plan([sub(quantity="10")], rules, state=state).changes
    assert (change.action, change.level, change.write) == ("skip", "WARNING", None)
    assert f"licence {licence_id} still holds 10; set it to 0 in HaloPSA" in change.reason


def test_prices_owned_by_halo_are_never_sent() -> None:
    rules = RuleBook(services={"S1": QuantityRule(price_owner="halo")})
    (change,) = _plan([sub(quantity="5")], rules).changes
    assert "price" not in change.after
    assert "purchase_price" not in change.after
    assert "prices owned by HaloPSA (service): never sent" in change.explain_text


def test_a_markup_while_prices_are_off_sends_nothing_and_the_explain_says_so() -> None:
    rules = RuleBook(
        services={"S1": QuantityRule(price_owner="markup", markup_percent=Decimal(25))}
    )
    (change,) = _plan([sub(quantity="5")], rules, prices="off").changes
    assert "price" not in change.after
    assert "purchase_price" not in change.after
    assert change.explain_text == (
        "vendor 5 \u2192 5; the markup (service) sends no price while the workspace's price "
        "mode is off"
    )
    (plain,) = _plan([sub(quantity="5")], EMPTY_RULE_BOOK, prices="off").changes
    assert plain.explain_text == "vendor 5 \u2192 5"


def test_a_markup_sets_the_sell_price_from_the_vendors_cost() -> None:
    rules = RuleBook(
        services={"S1": QuantityRule(price_owner="markup", markup_percent=Decimal(25))}
    )
    (line,) = _plan([sub(quantity="5")], rules, target="invoice_line").changes
    # Cost 30 for 5 = 6 per unit; + 25 % = 7.50 per unit.
    assert (line.after["unit_cost"], line.after["unit_price"]) == (Decimal(6), Decimal("7.5"))
    assert "unit price: cost 6 + 25 % markup (service) \u2192 7.5" in line.explain_text
    fixed = RuleBook(services={"S1": QuantityRule(price_owner="markup", fixed_price=Decimal(9))})
    (licence,) = _plan([sub(quantity="5")], fixed).changes
    assert (licence.after["price"], licence.after["purchase_price"]) == (Decimal(45), Decimal(30))


def test_a_pair_refused_when_planned_above_the_ceiling_is_not_said_held() -> None:
    """A line halosync did not add (with 'only lines halosync adds' on) refuses the pair
    after the rules ran: nothing is held, and the ceiling step says so."""
    plan = plan_usage_sync(
        [sub(quantity="23")],
        account_targets=TARGETS,
        service_items={"S1": 500},
        ledger=(),
        settings=SyncSettings(target="invoice_line", adopt_existing_lines=False, workspace_key=WS),
        halo_invoice_lines=HaloState(lines={24967: foreign_line()}).halo_lines(),
        rules=RuleBook(services={"S1": QuantityRule(ceiling=20)}),
    )
    (change,) = plan.changes
    assert (change.action, change.rule_holds) == ("skip", ())
    assert "bill the customer twice" in change.reason
    assert change.explain_text == (
        "vendor 23 \u2192 above the ceiling of 20 (service): not held for review, since "
        "nothing is written for this pair until its reason is fixed \u2192 23"
    )
    assert not screen_plan(plan, REVIEW_OFF, {}).held
