"""The terms rule: several subscriptions of one account × service summed, picked or kept apart."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from halosync.domain.markers import marker_for
from halosync.domain.models import (
    NO_LONGER_SENT,
    DesiredSubscription,
    LedgerRecord,
    Plan,
    SyncSettings,
    chain_text,
)
from halosync.domain.planner import plan_usage_sync
from halosync.domain.reconcile import ReconcileRow, reconcile
from halosync.domain.rules import (
    EMPTY_EFFECTIVE_RULE,
    EMPTY_RULE_BOOK,
    QuantityRule,
    RuleBook,
    TermsChoice,
    rule_quantity,
)
from halosync.domain.terms import combine_terms, term_months

from .halo_state import HaloState
from .test_planner import ITEMS, TARGETS, WS, sub
from .test_planner_properties import ACCOUNTS, SERVICES, Scenario, quantities, scenarios

TERMS = ("monthly", "annual", "P3Y", "quarterly", "odd")
CHOICES: tuple[TermsChoice, ...] = ("sum", "apart", "pick")
TERM_PICKS = ("longest", "shortest", "largest")


@st.composite
def term_subscriptions(draw: st.DrawFn) -> list[DesiredSubscription]:
    """Subscriptions where one account × service may come in several terms."""
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(SERVICES), st.sampled_from(TERMS)),
            unique=True,
            max_size=8,
        )
    )
    subs: list[DesiredSubscription] = []
    for account, service, term in keys:
        status = draw(st.sampled_from(["active"] * 4 + ["cancelled", "suspended", "expired"]))
        subs.append(
            sub(
                account,
                service,
                term=term,
                quantity=str(draw(quantities)),
                start_date=draw(st.none() | st.dates(date(2020, 1, 1), date(2030, 1, 1))),
                status=status,
                cost_price=draw(st.none() | st.sampled_from([Decimal(10), Decimal("2.5")])),
                # A snapshot that left it out cancelled it: the vendor no longer sends it.
                unlisted=status == "cancelled" and draw(st.booleans()),
            )
        )
    return subs


def book(choice: TermsChoice | None, pick: str | None = None) -> RuleBook:
    return RuleBook(workspace=QuantityRule(terms=choice, terms_pick=pick))  # type: ignore[arg-type]


def _by_pair(subs: list[DesiredSubscription]) -> dict[tuple[str, str], list[DesiredSubscription]]:
    pairs: defaultdict[tuple[str, str], list[DesiredSubscription]] = defaultdict(list)
    for subscription in subs:
        pairs[subscription.key].append(subscription)
    return pairs


def _billed(subscription: DesiredSubscription) -> Decimal:
    return Decimal(0) if subscription.status in ("cancelled", "expired") else subscription.quantity


@settings(max_examples=200, deadline=None)
@given(term_subscriptions(), st.sampled_from((None, *CHOICES)), st.randoms())
def test_combining_keeps_every_quantity_and_is_deterministic(
    subs: list[DesiredSubscription], choice: TermsChoice | None, random: object
) -> None:
    combined = combine_terms(subs, book(choice))
    pairs, out = _by_pair(subs), _by_pair(combined)
    assert set(out) == set(pairs)
    for key, given_subs in pairs.items():
        result = out[key]
        if len(given_subs) == 1:
            # One subscription is exactly as it came, whatever the rule.
            assert result == given_subs
            continue
        if choice in (None, "sum"):
            (one,) = result
            billed = sum((_billed(s) for s in given_subs), Decimal(0))
            if any(_billed(s) or s.status not in ("cancelled", "expired") for s in given_subs):
                assert _billed(one) == billed  # nothing lost, nothing counted twice
            assert one.apart_term == ""
            assert one.explain[0].quantity == one.quantity
        elif choice == "pick":
            (one,) = result
            assert replace(one, explain=()) in given_subs  # exactly one, as the vendor sent it
            running = [s for s in given_subs if s.status not in ("cancelled", "expired")]
            if running:
                assert one.status not in ("cancelled", "expired")
        else:
            # Apart never merges: every term is billed on a record of its own.
            assert sorted(s.apart_term for s in result) == sorted(s.term or "" for s in given_subs)
            assert all(replace(s, apart_term="", explain=()) in given_subs for s in result)
    shuffled = list(subs)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    again = combine_terms(shuffled, book(choice))
    assert sorted(again, key=lambda s: s.identity) == sorted(combined, key=lambda s: s.identity)


def _run(
    scenario: Scenario, subs: list[DesiredSubscription], state: HaloState, rules: RuleBook
) -> Plan:
    return plan_usage_sync(
        subs,
        account_targets=scenario.targets,
        service_items=scenario.items,
        ledger=state.ledger,
        settings=SyncSettings(
            target=scenario.target,
            price_mode=scenario.prices,
            adopt_existing_lines=scenario.adopt,
            workspace_key=WS,
        ),
        halo_licences=state.halo_licences(),
        halo_invoice_lines=state.halo_lines(),
        rules=rules,
    )


@settings(max_examples=150, deadline=None)
@given(scenarios(), term_subscriptions(), st.sampled_from(CHOICES), st.sampled_from(CHOICES))
def test_any_terms_plan_once_then_write_nothing_and_never_plan_a_record_twice(
    scenario: Scenario,
    subs: list[DesiredSubscription],
    before: TermsChoice,
    after: TermsChoice,
) -> None:
    state = HaloState()
    state.apply(_run(scenario, subs, state, book(before)))
    first = _run(scenario, subs, state, book(after))
    written = [c.halo_id for c in first.writes if c.halo_id is not None]
    assert len(written) == len(set(written)), "two terms wrote one record"
    markers = [c.marker for c in first.writes if c.action == "create"]
    assert len(markers) == len(set(markers))
    state.apply(first)
    second = _run(scenario, subs, state, book(after))
    assert not second.writes, [c.reason for c in second.writes]


@settings(max_examples=100, deadline=None)
@given(scenarios(), st.sampled_from((None, *CHOICES)))
def test_pairs_of_one_subscription_plan_as_without_the_rule(
    scenario: Scenario, choice: TermsChoice | None
) -> None:
    state = HaloState()
    assert _run(scenario, scenario.now, state, book(choice)) == _run(
        scenario, scenario.now, state, EMPTY_RULE_BOOK
    )


MONTHLY = sub(term="monthly", quantity="10", cost_price=Decimal(20), customer_price=Decimal(30))
ANNUAL = sub(
    term="annual",
    quantity="5",
    start_date=date(2025, 3, 1),
    cost_price=Decimal(100),
    customer_price=Decimal(150),
)


def test_sum_is_the_default_and_says_what_it_added() -> None:
    (one,) = combine_terms([ANNUAL, MONTHLY])
    assert (one.quantity, one.cost_price, one.customer_price) == (
        Decimal(15),
        Decimal(120),
        Decimal(180),
    )
    assert (one.term, one.start_date, one.billing_cycle) == (None, date(2025, 1, 1), "Monthly")
    assert chain_text(one.explain) == "vendor 15 (annual 5 + monthly 10, summed) → 15"
    ended = replace(MONTHLY, status="cancelled")
    (one,) = combine_terms([ANNUAL, ended], book("sum"))
    assert chain_text(one.explain) == (
        "vendor 5 (annual 5 + monthly 10 (cancelled), summed by the workspace rule) → 5"
    )
    # A term without a price makes the sum's price unknown (left as it is in HaloPSA).
    (one,) = combine_terms([ANNUAL, replace(MONTHLY, cost_price=None)])
    assert (one.cost_price, one.customer_price) == (None, Decimal(180))


@pytest.mark.parametrize(
    ("pick", "kept", "text"),
    [
        ("longest", "annual", "vendor annual 5 (longest term, picked{}; monthly 10 not billed)"),
        ("shortest", "monthly", "vendor monthly 10 (shortest term, picked{}; annual 5 not billed)"),
        (
            "largest",
            "monthly",
            "vendor monthly 10 (largest quantity, picked{}; annual 5 not billed)",
        ),
    ],
)
def test_pick_keeps_one_and_names_the_others(pick: str, kept: str, text: str) -> None:
    (one,) = combine_terms([MONTHLY, ANNUAL], book("pick", pick))
    assert one.term == kept
    by = " by the workspace rule"
    assert chain_text(one.explain) == f"{text.format(by)} → {one.quantity}"


def test_pick_ties_by_term_text_and_unknown_lengths_come_last() -> None:
    a, b = sub(term="b-term", quantity="3"), sub(term="a-term", quantity="3")
    assert [s.term for s in combine_terms([a, b], book("pick", "largest"))] == ["a-term"]
    odd = sub(term="whenever", quantity="99")
    assert [s.term for s in combine_terms([odd, MONTHLY], book("pick", "longest"))] == ["monthly"]
    assert [s.term for s in combine_terms([odd, MONTHLY], book("pick", "shortest"))] == ["monthly"]


@pytest.mark.parametrize(
    ("text", "months"),
    [
        ("Monthly", 1),
        ("annual", 12),
        ("Yearly", 12),
        ("P1Y", 12),
        ("p3y", 36),
        ("P1M", 1),
        ("12 months", 12),
        ("3 years", 36),
        ("1y", 12),
        ("semi-annual", 6),
        ("whenever", None),
        (None, None),
    ],
)
def test_term_lengths(text: str | None, months: int | None) -> None:
    assert term_months(text) == (None if months is None else Decimal(months))


def _plan(
    subs: list[DesiredSubscription], state: HaloState, rules: RuleBook, target: str = "licence"
) -> Plan:
    return plan_usage_sync(
        subs,
        account_targets=TARGETS,
        service_items=ITEMS,
        ledger=state.ledger,
        settings=SyncSettings(
            target="licence" if target == "licence" else "invoice_line",
            price_mode="off",
            workspace_key=WS,
        ),
        halo_licences=state.halo_licences(),
        halo_invoice_lines=state.halo_lines(),
        rules=rules,
    )


@pytest.mark.parametrize("target", ["licence", "invoice_line"])
def test_apart_keeps_the_record_a_pair_was_billed_on_and_adds_one_per_new_term(
    target: str,
) -> None:
    """A pair billed on one record before its second term appeared: the first term keeps
    that record (same marker, same ledger row), the new term gets a record of its own."""
    state = HaloState()
    state.apply(_plan([MONTHLY], state, book("apart"), target))
    (record,) = state.ledger
    assert (record.marker, record.apart_term) == (marker_for(WS, "A1", "S1"), "")
    plan = _plan([MONTHLY, ANNUAL], state, book("apart"), target)
    by_term = {c.explain[0].text.split()[1]: c for c in plan.changes}
    assert by_term["monthly"].action == "unchanged"
    assert by_term["monthly"].halo_id == record.halo_record_id
    assert by_term["annual"].action == "create"
    assert by_term["annual"].apart_term == "annual"
    assert by_term["annual"].marker == marker_for(WS, "A1", "S1", "annual")
    assert by_term["annual"].explain_text == (
        "vendor annual 5 (kept apart from monthly by the workspace rule) → 5"
    )
    state.apply(plan)
    # A later term that started earlier does not take the record over.
    older = sub(term="P3Y", quantity="2", start_date=date(2020, 1, 1))
    again = _plan([MONTHLY, ANNUAL, older], state, book("apart"), target)
    assert {c.action for c in again.changes if c.explain[0].text.split()[1] != "P3Y"} == {
        "unchanged"
    }
    assert not _plan([MONTHLY, ANNUAL], state, book("apart"), target).writes


def test_switching_from_sum_to_apart_keeps_billing_the_summed_record_for_one_term() -> None:
    state = HaloState()
    state.apply(_plan([MONTHLY, ANNUAL], state, EMPTY_RULE_BOOK))
    (record,) = state.ledger
    assert state.licences[record.halo_record_id or 0]["count"] == 15
    plan = _plan([MONTHLY, ANNUAL], state, book("apart"))
    kept = next(c for c in plan.changes if c.halo_id == record.halo_record_id)
    assert (kept.action, kept.after) == ("update", {"count": 10, "term_duration": "monthly"})
    assert [c.action for c in plan.changes if c.halo_id is None] == ["create"]


def _reconcile(
    subs: list[DesiredSubscription], state: HaloState, rules: RuleBook
) -> list[ReconcileRow]:
    """The reconciliation of ``subs`` against the licences of ``state``."""
    return reconcile(
        subs,
        ledger=state.ledger,
        account_targets=TARGETS,
        service_items=ITEMS,
        target="licence",
        halo_licences=state.halo_licences(),
        rules=rules,
    )


def test_the_reconciliation_compares_halo_with_the_terms_as_billed() -> None:
    state = HaloState()
    subs = [MONTHLY, ANNUAL]
    state.apply(_plan(subs, state, EMPTY_RULE_BOOK))

    def rows(rules: RuleBook) -> list[tuple[str, Decimal | None, Decimal | None, str]]:
        return [
            (row.term, row.vendor_quantity, row.halo_quantity, row.status)
            for row in _reconcile(subs, state, rules)
        ]

    assert rows(EMPTY_RULE_BOOK) == [("", Decimal(15), Decimal(15), "in_step")]
    # Kept apart, before the next sync: the summed record is monthly's now, annual has none.
    assert rows(book("apart")) == [
        ("annual", Decimal(5), None, "out_of_date"),
        ("monthly", Decimal(10), Decimal(15), "out_of_date"),
    ]
    state.apply(_plan(subs, state, book("apart")))
    assert rows(book("apart")) == [
        ("annual", Decimal(5), Decimal(5), "in_step"),
        ("monthly", Decimal(10), Decimal(10), "in_step"),
    ]


@pytest.mark.parametrize("target", ["licence", "invoice_line"])
def test_changing_the_rule_moves_billing_and_never_bills_a_term_twice(target: str) -> None:
    state = HaloState()
    store = state.licences if target == "licence" else state.lines
    field = "count" if target == "licence" else "qty_order"

    def billed(rules: RuleBook) -> list[float]:
        plan = _plan([MONTHLY, ANNUAL], state, rules, target)
        state.apply(plan)
        assert not _plan([MONTHLY, ANNUAL], state, rules, target).writes
        return sorted(float(record[field]) for record in store.values())

    assert billed(EMPTY_RULE_BOOK) == [15]
    assert billed(book("apart")) == [5, 10]
    # Back to one record: the annual one bills, the monthly one goes to 0.
    assert billed(book("pick", "longest")) == [0, 5]
    assert billed(book("sum")) == [0, 15]
    assert billed(book("apart")) == [5, 10]


def test_apart_with_a_record_for_every_term_sets_the_pairs_old_record_to_zero() -> None:
    def row(term: str, record: int) -> LedgerRecord:
        return LedgerRecord(
            "A1", "S1", "licence", 10, None, record, "written", "", Decimal(1), {}, None, term
        )

    combined = combine_terms(
        [MONTHLY, ANNUAL], book("apart"), [row("", 1), row("monthly", 2), row("annual", 3)]
    )
    assert [(s.apart_term, s.takes_over, s.quantity, s.status) for s in combined] == [
        ("", None, Decimal(0), "cancelled"),
        ("annual", None, Decimal(5), "active"),
        ("monthly", None, Decimal(10), "active"),
    ]
    assert chain_text(combined[0].explain) == (
        "the pair's one record: the workspace rule keeps every term on a record of its own → 0"
    )


def _kept_apart(target: str = "licence") -> HaloState:
    """Monthly and annual billed on records of their own."""
    state = HaloState()
    state.apply(_plan([MONTHLY, ANNUAL], state, book("apart"), target))
    assert sorted(record.apart_term for record in state.ledger) == ["annual", "monthly"]
    return state


@pytest.mark.parametrize("target", ["licence", "invoice_line"])
def test_a_record_the_rule_no_longer_bills_says_what_happened_to_its_term(target: str) -> None:
    """Never "subscription cancelled" for a term the vendor still sends: the record of a
    term not picked, or summed onto the pair's one record, says so."""
    state = _kept_apart(target)

    def released(rules: RuleBook, subs: list[DesiredSubscription]) -> str:
        plan = _plan(subs, state, rules, target)
        (change,) = [c for c in plan.changes if c.explain[-1].quantity == 0]
        assert change.apart_term == "monthly"
        return change.explain_text

    picked = released(book("pick", "longest"), [MONTHLY, ANNUAL])
    assert picked == (
        "vendor monthly 10 \u2192 term monthly not picked: the workspace rule picks the "
        "longest term, annual \u2192 0"
    )
    summed = released(book("sum"), [MONTHLY, ANNUAL])
    assert summed == (
        "vendor monthly 10 \u2192 term monthly billed on the pair's one record now (the "
        "workspace rule sums the terms) \u2192 0"
    )
    # Only a term the vendor did cancel is said to be cancelled.
    ended = released(book("pick", "longest"), [replace(MONTHLY, status="cancelled"), ANNUAL])
    assert (
        ended
        == "vendor monthly 10 (cancelled) \u2192 term monthly cancelled: billing stops \u2192 0"
    )
    assert "cancelled" not in picked + summed


def test_a_record_of_a_term_the_vendor_no_longer_sends_says_so() -> None:
    def row(term: str, record: int) -> LedgerRecord:
        return LedgerRecord(
            "A1", "S1", "licence", 10, None, record, "written", "", Decimal(1), {}, None, term
        )

    ledger = [row("annual", 1), row("monthly", 2), row("weekly", 3)]
    combined = combine_terms([MONTHLY, ANNUAL], book("pick", "longest"), ledger)
    gone = [s for s in combined if s.apart_term == "weekly"]
    assert [(s.quantity, s.released, chain_text(s.explain)) for s in gone] == [
        (Decimal(0), True, f"term weekly {NO_LONGER_SENT} \u2192 0")
    ]


def test_the_reconciliation_shows_the_vendors_count_of_a_term_billed_nowhere() -> None:
    """Picked after being kept apart: monthly's record shows the vendor's 10 (it still
    sends it) and why the rules bill 0; the summed count is said once, as the vendor's."""
    state = _kept_apart()

    def rows(rules: RuleBook) -> list[tuple[str, Decimal | None, Decimal | None, str, str]]:
        return [
            (row.term, row.vendor_quantity, row.ruled_quantity, row.status, row.why)
            for row in _reconcile([MONTHLY, ANNUAL], state, rules)
        ]

    assert rows(book("pick", "longest")) == [
        ("", Decimal(5), Decimal(5), "in_step", ""),  # annual's record is the pair's now
        (
            "monthly",
            Decimal(10),
            Decimal(0),
            "out_of_date",
            "the rules bill 0 (vendor monthly 10 with term monthly not picked: the workspace "
            "rule picks the longest term, annual); HaloPSA holds 10",
        ),
    ]
    state.apply(_plan([MONTHLY, ANNUAL], state, book("pick", "longest")))
    assert rows(book("pick", "longest"))[1][1:] == (
        Decimal(10),
        Decimal(0),
        "in_step",
        "HaloPSA 0 = vendor monthly 10 with term monthly not picked: the workspace rule "
        "picks the longest term, annual",
    )
    summed = RuleBook(workspace=QuantityRule(minimum=20))
    state = HaloState()
    state.apply(_plan([MONTHLY, ANNUAL], state, summed))
    assert rows(summed) == [
        (
            "",
            Decimal(15),
            Decimal(20),
            "in_step",
            "HaloPSA 20 = vendor 15 (annual 5 + monthly 10, summed) with minimum 20 (workspace)",
        )
    ]
    state = HaloState()
    state.apply(_plan([MONTHLY, ANNUAL], state, EMPTY_RULE_BOOK))
    assert rows(EMPTY_RULE_BOOK) == [("", Decimal(15), Decimal(15), "in_step", "")]


def test_a_term_a_snapshot_left_out_is_said_to_be_no_longer_sent() -> None:
    """A snapshot that leaves monthly out cancels it: the vendor did not send "cancelled",
    so no chain says it was; the reconciliation shows no vendor count for it."""
    gone = replace(MONTHLY, status="cancelled", unlisted=True)
    state = _kept_apart()
    plan = _plan([gone, ANNUAL], state, book("apart"))
    (change,) = [c for c in plan.changes if c.apart_term == "monthly"]
    assert change.explain_text == (
        "vendor monthly 10 (no longer sent, kept apart from annual by the workspace rule) "
        f"\u2192 term monthly {NO_LONGER_SENT}: billing stops \u2192 0"
    )
    # A term still sent is kept apart from the terms still sent only.
    (kept,) = [c for c in plan.changes if c.apart_term == "annual"]
    assert "monthly" not in kept.explain_text
    # Written nowhere yet: the skip says why in the same words.
    (skip,) = [
        c
        for c in _plan([gone, ANNUAL], HaloState(), book("apart")).changes
        if c.apart_term == "monthly"
    ]
    assert skip.reason == f"term monthly {NO_LONGER_SENT} and HaloPSA has no licence for it"
    (summed,) = combine_terms([gone, ANNUAL])
    assert (
        chain_text(summed.explain)
        == "vendor 5 (annual 5 + monthly 10 (no longer sent), summed) → 5"
    )
    released = combine_terms([gone, ANNUAL], book("pick", "longest"), state.ledger)
    (record,) = [s for s in released if s.released]
    assert (
        chain_text(record.explain)
        == "term monthly no longer sent by the vendor (not in the snapshot) \u2192 0"
    )
    (row,) = [
        row for row in _reconcile([gone, ANNUAL], state, book("apart")) if row.term == "monthly"
    ]
    assert (row.vendor_quantity, row.ruled_quantity, row.halo_quantity, row.status) == (
        None,
        Decimal(0),
        Decimal(10),
        "out_of_date",
    )
    assert row.why == (
        "the rules bill 0 (vendor monthly 10 (no longer sent, kept apart from annual by the "
        "workspace rule) with term monthly no longer sent by the vendor (not in the snapshot): "
        "billing stops); "
        "HaloPSA holds 10"
    )
    assert "cancelled" not in change.explain_text + row.why


@st.composite
def kept_records(draw: st.DrawFn) -> list[LedgerRecord]:
    """Ledger rows of records the pairs already have: the pair's one record, records of
    terms kept apart, and of a term the vendor never sends ("gone")."""
    keys = draw(
        st.lists(
            st.tuples(
                st.sampled_from(ACCOUNTS),
                st.sampled_from(SERVICES),
                st.sampled_from(("", "gone", *TERMS)),
            ),
            unique=True,
            max_size=10,
        )
    )
    return [
        LedgerRecord(a, s, "licence", 10, None, n, "written", "", Decimal(1), {}, None, term)
        for n, (a, s, term) in enumerate(keys, start=1)
    ]


@settings(max_examples=300, deadline=None)
@given(term_subscriptions(), kept_records(), st.sampled_from(CHOICES), st.sampled_from(TERM_PICKS))
def test_a_record_billed_nowhere_says_cancelled_only_of_a_term_the_vendor_cancelled(
    subs: list[DesiredSubscription],
    ledger: list[LedgerRecord],
    choice: TermsChoice,
    pick: str,
) -> None:
    """Whatever the records, terms and rule: a record the terms rule bills nothing on
    bills 0, carries the vendor's count of its term (0 when it sends none) and says
    "cancelled" only when the vendor sent that term (or its account) cancelled."""
    sent = {(sub.account_ref, sub.service_ref, sub.term or ""): sub for sub in subs}
    rules = book(choice, pick)
    rows = {
        (row.account_ref, row.service_ref, row.term): row
        for row in reconcile(
            subs, ledger=ledger, account_targets={}, service_items={}, target="licence", rules=rules
        )
    }
    for record in combine_terms(subs, rules, ledger):
        if not record.released:
            continue
        vendor = sent.get(record.identity) if record.apart_term else None
        if vendor is not None and vendor.unlisted and vendor.status in ("cancelled", "expired"):
            vendor = None  # no longer sent
        text = chain_text(record.explain)
        assert record.quantity == (vendor.quantity if vendor is not None else 0), text
        ruled = rule_quantity(
            record.quantity, EMPTY_EFFECTIVE_RULE, ended=record.ended_reason, steps=record.explain
        )
        assert ruled.quantity == 0
        assert ruled.text == text
        if "cancelled" in text:
            assert vendor is not None, text
            assert "cancelled" in (vendor.status, vendor.account_status), text
        if vendor is None and record.apart_term:
            assert text == f"term {record.apart_term} {NO_LONGER_SENT} \u2192 0"
        # The reconciliation's vendor column: the term's count as the vendor sends it.
        row = rows[record.identity]
        assert row.ruled_quantity == 0
        if vendor is None:
            assert row.vendor_quantity is None
        else:
            ended = (
                vendor.status in ("cancelled", "expired") or vendor.account_status == "cancelled"
            )
            assert row.vendor_quantity == (0 if ended else vendor.quantity)
