"""Quantity rules: resolving scopes, validating, applying, explaining (pure, property-tested)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from halosync.domain.rules import (
    EMPTY_EFFECTIVE_RULE,
    EMPTY_RULE_BOOK,
    PRICE_OWNERS,
    ROUNDINGS,
    RULE_SCOPES,
    TERMS_CHOICES,
    TERMS_PICKS,
    EffectiveRule,
    ExplainStep,
    QuantityRule,
    RuleBook,
    effective_problems,
    markup_sell_price,
    rule_book_problems,
    rule_problems,
    rule_quantity,
)

counts = st.none() | st.integers(min_value=0, max_value=200)


@st.composite
def quantity_rules(
    draw: st.DrawFn, *, account: bool = False, includable: bool = False
) -> QuantityRule:
    """A valid rule for a scope (an account's sets only ``excluded`` or ``included``; only
    an account's or an account × service's may be ``included``)."""
    excluded = draw(st.none() | st.sampled_from(["internal", "free of charge"]))
    included = None
    if includable and excluded is None:
        included = draw(st.sampled_from([None, True]))
    if account:
        return QuantityRule(excluded=excluded, included=included)
    minimum, ceiling = draw(counts), draw(counts)
    if minimum is not None and ceiling is not None and ceiling < minimum:
        minimum, ceiling = ceiling, minimum
    owner = draw(st.none() | st.sampled_from(PRICE_OWNERS))
    percent = fixed = None
    if owner == "markup":
        amount = draw(st.decimals(min_value=0, max_value=300, places=2))
        percent, fixed = (amount, None) if draw(st.booleans()) else (None, amount)
    return QuantityRule(
        minimum=minimum,
        free=draw(counts),
        ceiling=ceiling,
        rounding=draw(st.none() | st.sampled_from(ROUNDINGS)),
        multiple=draw(st.none() | st.integers(min_value=1, max_value=12)),
        terms=draw(st.none() | st.sampled_from(TERMS_CHOICES)),
        terms_pick=draw(st.none() | st.sampled_from(TERMS_PICKS)),
        price_owner=owner,
        markup_percent=percent,
        fixed_price=fixed,
        excluded=excluded,
        included=included,
    )


@st.composite
def rule_books(draw: st.DrawFn) -> RuleBook:
    workspace = draw(quantity_rules())
    return RuleBook(
        workspace=replace(workspace, excluded=None),
        services=draw(st.dictionaries(st.sampled_from(["S0", "S1"]), quantity_rules())),
        accounts=draw(
            st.dictionaries(
                st.sampled_from(["A0", "A1"]), quantity_rules(account=True, includable=True)
            )
        ),
        pairs=draw(
            st.dictionaries(
                st.tuples(st.sampled_from(["A0", "A1"]), st.sampled_from(["S0", "S1"])),
                quantity_rules(includable=True),
            )
        ),
    )


vendor_quantities = st.one_of(
    st.integers(min_value=0, max_value=500).map(Decimal),
    st.decimals(min_value=0, max_value=500, places=3, allow_nan=False, allow_infinity=False),
)


def test_the_chain_reads_like_the_issue() -> None:
    book = RuleBook(workspace=QuantityRule(minimum=25), services={"S1": QuantityRule(free=3)})
    ruled = rule_quantity(Decimal(23), book.for_pair("A1", "S1"))
    assert ruled.quantity == 25
    assert (
        ruled.text
        == "vendor 23 \u2192 minus 3 free (service) \u2192 minimum 25 (workspace) \u2192 25"
    )
    assert [s.rule for s in ruled.steps] == ["vendor", "free", "minimum"]
    assert rule_quantity(Decimal(23), EMPTY_EFFECTIVE_RULE).text == "vendor 23 \u2192 23"


def test_rounding_to_packs_and_the_ceiling() -> None:
    rule = RuleBook(services={"S1": QuantityRule(rounding="up", multiple=5, ceiling=8)}).for_pair(
        "A1", "S1"
    )
    ruled = rule_quantity(Decimal(7), rule)
    assert ruled.quantity == 10
    assert ruled.above_ceiling is not None
    assert ruled.above_ceiling.reason == "above the ceiling of 8 (service)"
    assert "rounded up to a multiple of 5 (service)" in ruled.text
    assert (
        rule_quantity(
            Decimal("2.5"), RuleBook(workspace=QuantityRule(rounding="nearest")).for_pair("A", "S")
        ).quantity
        == 3
    )
    assert (
        rule_quantity(
            Decimal("2.5"), RuleBook(workspace=QuantityRule(rounding="down")).for_pair("A", "S")
        ).quantity
        == 2
    )


def test_ended_goes_to_zero_and_says_the_minimum_does_not_apply() -> None:
    rule = RuleBook(workspace=QuantityRule(minimum=5)).for_pair("A", "S")
    ruled = rule_quantity(Decimal(7), rule, ended="subscription cancelled")
    assert ruled.quantity == 0
    assert ruled.text.endswith("(the minimum 5 does not apply) \u2192 0")


def test_steps_made_before_the_planner_start_the_chain() -> None:
    terms = (ExplainStep("terms", "monthly 10 + annual 5", Decimal(15)),)
    rule = RuleBook(workspace=QuantityRule(free=2)).for_pair("A", "S")
    ruled = rule_quantity(Decimal(15), rule, steps=terms)
    assert ruled.text == "monthly 10 + annual 5 \u2192 minus 2 free (workspace) \u2192 13"


def test_each_field_comes_from_the_most_specific_scope_that_sets_it() -> None:
    book = RuleBook(
        workspace=QuantityRule(minimum=1, free=1, ceiling=100),
        services={"S": QuantityRule(free=2, excluded="resold elsewhere")},
        accounts={"A": QuantityRule(excluded="internal")},
        pairs={("A", "S"): QuantityRule(minimum=3)},
    )
    rule = book.for_pair("A", "S")
    assert (rule.minimum, rule.free, rule.ceiling) == (3, 2, 100)
    assert rule.scope_of("minimum") == "account_service"
    assert rule.scope_of("free") == "service"
    assert rule.scope_of("ceiling") == "workspace"
    assert (rule.excluded, rule.scope_of("excluded")) == ("internal", "account")
    other = book.for_pair("B", "S")
    assert (other.excluded, other.scope_of("excluded")) == ("resold elsewhere", "service")
    assert book.for_pair("B", "T").excluded is None
    assert EMPTY_RULE_BOOK.for_pair("A", "S") == EMPTY_EFFECTIVE_RULE


def test_an_include_overrides_a_broader_exclusion_and_says_which() -> None:
    book = RuleBook(
        services={"S": QuantityRule(excluded="resold elsewhere"), "T": QuantityRule()},
        accounts={"A": QuantityRule(excluded="internal"), "B": QuantityRule(included=True)},
        pairs={
            ("A", "T"): QuantityRule(included=True, minimum=2),
            ("A", "S"): QuantityRule(included=True),
            ("B", "T"): QuantityRule(excluded="trial seats"),
        },
    )
    pair = book.for_pair("A", "T")
    assert (pair.excluded, pair.included, pair.scope_of("included")) == (
        None,
        True,
        "account_service",
    )
    assert (pair.overrides, pair.scope_of("overrides")) == ("internal", "account")
    assert rule_quantity(Decimal(1), pair).text == (
        "vendor 1 \u2192 account excluded (internal), included by the account \u00d7 service "
        "rule \u2192 minimum 2 (account \u00d7 service) \u2192 2"
    )
    # The nearest broader exclusion is the one named: the account's before the service's.
    assert book.for_pair("A", "S").overrides == "internal"
    # Only the pair's own include beats the account's exclusion.
    assert book.for_pair("A", "U").excluded == "internal"
    # An account's include beats its service's exclusion, a pair's exclusion beats both.
    other = book.for_pair("B", "S")
    assert (other.excluded, other.overrides, other.scope_of("overrides")) == (
        None,
        "resold elsewhere",
        "service",
    )
    assert book.for_pair("B", "T").excluded == "trial seats"
    # An include with nothing broader to override changes nothing, and says nothing.
    assert book.for_pair("B", "U").overrides is None
    assert [step.rule for step in rule_quantity(Decimal(3), book.for_pair("B", "U")).steps] == [
        "vendor"
    ]


@settings(max_examples=300, deadline=None)
@given(rule_books(), st.sampled_from(["A0", "A1", "A2"]), st.sampled_from(["S0", "S1", "S2"]))
def test_the_most_specific_exclusion_or_include_decides(
    book: RuleBook, account: str, service: str
) -> None:
    scoped = [book.pairs.get((account, service)), book.accounts.get(account)]
    scoped.append(book.services.get(service))
    deciding = next(
        (r for r in scoped if r is not None and (r.excluded or r.included)), QuantityRule()
    )
    rule = book.for_pair(account, service)
    assert rule.excluded == deciding.excluded
    assert (rule.overrides is not None) <= bool(deciding.included)


def test_a_markup_amount_comes_whole_from_one_scope() -> None:
    book = RuleBook(
        services={"S": QuantityRule(price_owner="markup", markup_percent=Decimal(25))},
        pairs={("A", "S"): QuantityRule(fixed_price=Decimal(9))},
    )
    rule = book.for_pair("A", "S")
    assert (rule.markup_percent, rule.fixed_price) == (None, Decimal(9))
    assert markup_sell_price(Decimal(4), book.for_pair("B", "S")) == (
        Decimal("5.0000"),
        "unit price: cost 4 + 25 % markup (service) \u2192 5",
    )
    assert markup_sell_price(Decimal(4), rule)[0] == Decimal(9)
    assert markup_sell_price(None, book.for_pair("B", "S"))[0] is None


@pytest.mark.parametrize(
    ("scope", "rule", "field"),
    [
        ("galaxy", QuantityRule(), "scope"),
        ("account", QuantityRule(minimum=1), "minimum"),
        ("service", QuantityRule(minimum=-1), "minimum"),
        ("service", QuantityRule(free=True), "free"),
        ("service", QuantityRule(multiple=0), "multiple"),
        ("service", QuantityRule(rounding="sideways"), "rounding"),  # type: ignore[arg-type]
        ("service", QuantityRule(minimum=5, ceiling=4), "ceiling"),
        ("service", QuantityRule(price_owner="markup"), "price_owner"),
        (
            "service",
            QuantityRule(price_owner="markup", markup_percent=Decimal(1), fixed_price=Decimal(2)),
            "markup_percent",
        ),
        ("service", QuantityRule(price_owner="halo", fixed_price=Decimal(2)), "fixed_price"),
        ("service", QuantityRule(markup_percent=Decimal(-1)), "markup_percent"),
        # What the store keeps: 4 decimal places, 14 digits before the point.
        ("service", QuantityRule(markup_percent=Decimal("12.34567")), "markup_percent"),
        ("service", QuantityRule(fixed_price=Decimal(10) ** 14), "fixed_price"),
        ("service", QuantityRule(excluded="  "), "excluded"),
        ("workspace", QuantityRule(excluded="all"), "excluded"),
        ("service", QuantityRule(included=True), "included"),
        ("workspace", QuantityRule(included=True), "included"),
        ("account", QuantityRule(included=False), "included"),
        ("account_service", QuantityRule(included=True, excluded="trial"), "included"),
    ],
)
def test_rule_problems_name_the_field(scope: str, rule: QuantityRule, field: str) -> None:
    problems = rule_problems(scope, rule)
    assert problems
    assert any(problem.startswith(f"{field}: ") for problem in problems), problems


@settings(max_examples=100, deadline=None)
@given(
    st.text(min_size=1).filter(str.strip),
    st.characters(categories=["Cc", "Cs"], exclude_characters="\t"),
    st.integers(min_value=0, max_value=20),
)
def test_a_reason_with_a_control_character_is_refused(text: str, control: str, at: int) -> None:
    # PostgreSQL refuses a NUL in text (a 500 instead of a 422); no grid shows the others;
    # a lone surrogate cannot be encoded at all. A tab is text (domain.text's one rule).
    reason = text[:at] + control + text[at:]
    problems = rule_problems("service", QuantityRule(excluded=reason))
    assert any(problem.startswith("excluded: ") for problem in problems), problems


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=["Cc", "Cs"])).filter(str.strip))
def test_a_reason_of_printable_text_is_kept(reason: str) -> None:
    assert rule_problems("account", QuantityRule(excluded=reason)) == []


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(RULE_SCOPES), st.data())
def test_generated_valid_rules_have_no_problems(scope: str, data: st.DataObject) -> None:
    includable = scope in ("account", "account_service")
    rule = data.draw(quantity_rules(account=scope == "account", includable=includable))
    if scope == "workspace":
        rule = replace(rule, excluded=None)
    assert rule_problems(scope, rule) == []


def test_problems_across_scopes_say_where() -> None:
    book = RuleBook(
        workspace=QuantityRule(minimum=10),
        services={"S": QuantityRule(ceiling=5, multiple=5)},
    )
    problems = rule_book_problems(book)
    assert any(
        p.startswith("service S: ceiling: 5 (service) is below the minimum 10") for p in problems
    )
    assert any(p.startswith("service S: multiple:") for p in problems)
    assert rule_book_problems(EMPTY_RULE_BOOK) == []
    assert effective_problems(EffectiveRule(price_owner="markup")) != []


@settings(max_examples=400, deadline=None)
@given(
    rule_books(),
    vendor_quantities,
    st.booleans(),
    st.sampled_from(["A0", "A1", "A2"]),
    st.sampled_from(["S0", "S1", "S2"]),
)
def test_applying_rules_keeps_the_acceptance(
    book: RuleBook, vendor: Decimal, ended: bool, account: str, service: str
) -> None:
    rule = book.for_pair(account, service)
    ruled = rule_quantity(vendor, rule, ended="subscription expired" if ended else None)
    assert ruled.quantity >= 0
    assert ruled.steps[0].text.startswith("vendor ")
    assert ruled.steps[-1].quantity == ruled.quantity
    assert ruled.text.endswith(f"\u2192 {format(ruled.quantity.normalize(), 'f')}")
    if ended:
        assert ruled.quantity == 0
        assert ruled.above_ceiling is None
        return
    if rule.rounding is not None or vendor == vendor.to_integral_value():
        assert ruled.quantity == ruled.quantity.to_integral_value()
    if rule.rounding is not None and rule.multiple and ruled.quantity != rule.minimum:
        assert ruled.quantity % rule.multiple == 0
    if rule.minimum is not None:
        assert ruled.quantity >= rule.minimum
    if rule.free is not None and rule.minimum is None and rule.rounding is None:
        assert ruled.quantity == max(Decimal(0), vendor - rule.free)
    if rule.ceiling is not None:
        assert (ruled.quantity > rule.ceiling) == (ruled.above_ceiling is not None)
    # Identical inputs give identical results.
    assert rule_quantity(vendor, book.for_pair(account, service)) == rule_quantity(vendor, rule)


@settings(max_examples=200, deadline=None)
@given(vendor_quantities)
def test_no_rules_leave_the_vendor_quantity_alone(vendor: Decimal) -> None:
    for rule in (
        EMPTY_EFFECTIVE_RULE,
        RuleBook(
            workspace=QuantityRule(),
            services={"S": QuantityRule()},
            pairs={("A", "S"): QuantityRule()},
        ).for_pair("A", "S"),
    ):
        ruled = rule_quantity(vendor, rule)
        assert ruled.quantity == vendor
        assert ruled.above_ceiling is None
        assert [s.rule for s in ruled.steps] == ["vendor"]
