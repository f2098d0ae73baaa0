"""Properties of the planner over generated vendor data, Halo hand edits and crashes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from hypothesis import event, given, settings
from hypothesis import strategies as st

from halosync.domain.duplicates import licence_duplicates, line_duplicates
from halosync.domain.markers import marker_for
from halosync.domain.models import (
    AccountTarget,
    DesiredSubscription,
    LineChange,
    Plan,
    PriceMode,
    SyncSettings,
    Target,
)
from halosync.domain.planner import plan_usage_sync
from halosync.domain.rules import EMPTY_RULE_BOOK, RuleBook

from .halo_state import HaloState

ACCOUNTS = ("A0", "A1", "A2")
SERVICES = ("S0", "S1", "S2")
WS = "ws"


@dataclass
class Scenario:
    target: Target
    prices: PriceMode
    adopt: bool
    targets: dict[str, AccountTarget]
    items: dict[str, int]
    earlier: list[DesiredSubscription]
    now: list[DesiredSubscription]
    foreign_items: list[int]
    deletions: list[int]
    edits: list[tuple[int, int]]
    lose_ledger: list[int]


quantities = st.one_of(
    st.integers(min_value=0, max_value=50).map(Decimal),
    st.decimals(min_value=0, max_value=50, places=3, allow_nan=False, allow_infinity=False),
)
prices = st.one_of(
    st.none(),
    st.decimals(min_value=0, max_value=1000, places=2, allow_nan=False, allow_infinity=False),
)


@st.composite
def subscriptions(draw: st.DrawFn) -> list[DesiredSubscription]:
    pairs = draw(
        st.lists(st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(SERVICES)), unique=True)
    )
    result = []
    for account, service in pairs:
        result.append(
            DesiredSubscription(
                account_ref=account,
                account_name=f"Account {account}",
                account_status=draw(st.sampled_from(["active"] * 4 + ["trial", "cancelled"])),
                billed=draw(st.sampled_from([True, True, True, False])),
                service_ref=service,
                service_name=f"Service {service}",
                quantity=draw(quantities),
                start_date=draw(st.none() | st.dates(date(2020, 1, 1), date(2030, 1, 1))),
                billing_cycle=draw(st.sampled_from([None, "Monthly", "Annual"])),
                term=draw(st.sampled_from([None, "Monthly", "Annual"])),
                status=draw(st.sampled_from(["active"] * 4 + ["cancelled", "suspended"])),
                cost_price=draw(prices),
                customer_price=draw(prices),
            )
        )
    return result


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    mapped = [a for a in ACCOUNTS if draw(st.sampled_from([True, True, True, False]))]
    targets = {
        account: AccountTarget(
            halo_client_id=10 + ACCOUNTS.index(account) + draw(st.sampled_from([0, 0, 5])),
            recurring_invoice_id=-(1 + ACCOUNTS.index(account)),
            client_active=draw(st.sampled_from([True, True, True, False])),
        )
        for account in mapped
    }
    items = {
        service: draw(st.sampled_from([500, 501, 502]))
        for service in SERVICES
        if draw(st.sampled_from([True, True, True, False]))
    }
    return Scenario(
        target=draw(st.sampled_from(["licence", "invoice_line"])),
        prices=draw(st.sampled_from(["off", "totals", "unit"])),
        adopt=draw(st.booleans()),
        targets=targets,
        items=items,
        earlier=draw(subscriptions()),
        now=draw(subscriptions()),
        foreign_items=draw(st.lists(st.sampled_from([500, 501, 502, 777]), max_size=3)),
        deletions=draw(st.lists(st.integers(0, 8), max_size=2)),
        edits=draw(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 99)), max_size=2)),
        lose_ledger=draw(st.lists(st.integers(0, 8), max_size=4)),
    )


def run(
    scenario: Scenario,
    subs: list[DesiredSubscription],
    state: HaloState,
    rules: RuleBook = EMPTY_RULE_BOOK,
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


def prepared_state(scenario: Scenario) -> tuple[HaloState, set[int]]:
    """Halo after an earlier run, foreign lines, hand edits, deletions and a lost ledger."""
    state = HaloState()
    foreign: set[int] = set()
    for n, item in enumerate(scenario.foreign_items):
        line_id = 90 + n
        invoice = -(1 + n % 2)  # lines 90 and 92 share an invoice: several for one item
        state.lines[line_id] = {"id": line_id, "ihid": invoice, "_itemid": item, "qty_order": 3.0}
        foreign.add(line_id)
    state.apply(run(scenario, scenario.earlier, state))
    store = state.licences if scenario.target == "licence" else state.lines
    ours = sorted(set(store) - foreign)
    for index, value in scenario.edits:
        if ours:
            record = store[ours[index % len(ours)]]
            record["count" if scenario.target == "licence" else "qty_order"] = value
    for index in scenario.deletions:
        if ours:
            store.pop(ours[index % len(ours)], None)
    for index in scenario.lose_ledger:
        if state.ledger:
            del state.ledger[index % len(state.ledger)]
    return state, foreign


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_applying_a_plan_then_replanning_writes_nothing(scenario: Scenario) -> None:
    state, _foreign = prepared_state(scenario)
    first = run(scenario, scenario.now, state)
    state.apply(first)
    second = run(scenario, scenario.now, state)
    assert not second.writes, [c.reason for c in second.writes]
    assert {c.action for c in second.changes} <= {"unchanged", "skip", "fail"}


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_never_creates_when_a_live_record_is_known(scenario: Scenario) -> None:
    state, foreign = prepared_state(scenario)
    live_licences = state.halo_licences()
    live_lines = {line.id: line for line in state.halo_lines()}
    plan = run(scenario, scenario.now, state)
    # A line another service (mapped to the same item) takes over in this plan is its own.
    claimed = {c.halo_id for c in plan.changes if c.halo_id is not None}
    for change in plan.changes:
        if change.action != "create":
            continue
        marker = marker_for(WS, change.account_ref, change.service_ref)
        if scenario.target == "licence":
            assert not [
                lic
                for lic in live_licences
                if lic.client_id == change.halo_client_id and lic.marker == marker
            ]
            known = {
                row.halo_record_id
                for row in state.ledger
                if (row.account_ref, row.service_ref) == (change.account_ref, change.service_ref)
                and row.halo_client_id == change.halo_client_id
            }
            assert not known & {lic.id for lic in live_licences}
        else:
            item = scenario.items[change.service_ref]
            same_item = [
                line
                for line in live_lines.values()
                if line.recurring_invoice_id == change.recurring_invoice_id and line.item_id == item
            ]
            assert not [line for line in same_item if line.marker == marker]
            # A line nobody owns (no ledger row, no marker) would be billed twice. A line that
            # was foreign once but that the ledger now gives to another pair (adopted by an
            # earlier run) is owned: that pair's service has its own line.
            ledger_ids = {row.halo_record_id for row in state.ledger}
            assert not [
                line
                for line in same_item
                if line.id not in claimed
                and line.id not in ledger_ids
                and (line.id in foreign or line.marker is None)
            ]


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_never_touches_a_foreign_line_unless_adopting(scenario: Scenario) -> None:
    state, foreign = prepared_state(scenario)
    if scenario.adopt:
        return
    touched = {c.halo_id for c in run(scenario, scenario.now, state).writes}
    assert not touched & foreign


@settings(max_examples=200, deadline=None)
@given(subscriptions(), st.sampled_from(["off", "totals", "unit"]))
def test_unit_price_maths_never_divides_by_zero(
    subs: list[DesiredSubscription], mode: PriceMode
) -> None:
    targets = {a: AccountTarget(halo_client_id=1, recurring_invoice_id=-1) for a in ACCOUNTS}
    items = dict.fromkeys(SERVICES, 500)
    for target in ("licence", "invoice_line"):
        plan = plan_usage_sync(
            subs,
            account_targets=targets,
            service_items=items,
            ledger=[],
            settings=SyncSettings(target=target, price_mode=mode),
        )
        per_unit = {"unit_price", "unit_cost"}
        if target == "licence" and mode == "unit":
            per_unit |= {"price", "purchase_price"}
        for change in plan.changes:
            if change.quantity == 0 and change.is_write:
                assert not per_unit & set(change.after)
        keys = [(c.account_ref, c.service_ref) for c in plan.changes]
        assert keys == sorted(keys)


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.lists(st.integers(0, 8), min_size=1, max_size=3))
def test_records_sharing_a_marker_are_flagged_and_only_one_is_written(
    scenario: Scenario, copies: list[int]
) -> None:
    """Someone copies halosync's records in Halo (tag included): every copy is named in a
    WARNING, never written, and the record the ledger names is the one kept in step."""
    state, foreign = prepared_state(scenario)
    store = state.licences if scenario.target == "licence" else state.lines
    ours = sorted(set(store) - foreign)
    made: set[int] = set()
    for index in copies:
        if ours:
            state.next_id += 1
            store[state.next_id] = {**store[ours[index % len(ours)]], "id": state.next_id}
            made.add(state.next_id)
    groups = (
        licence_duplicates(state.halo_licences(), state.ledger)
        if scenario.target == "licence"
        else line_duplicates(state.halo_lines(), state.ledger)
    )
    others = {i for group in groups.values() for i in group.others}
    named = {r.halo_record_id for r in state.ledger if r.target == scenario.target}
    # Re-plan the pairs that made the records, so that most copies have a pair to flag them.
    plan = run(scenario, scenario.earlier, state)
    event("a pair reports duplicates" if any(c.duplicates for c in plan.changes) else "none")
    assert not {c.halo_id for c in plan.writes} & others
    for group in groups.values():
        assert group.kept not in group.others
        assert not (set(group.ids) & named) or group.kept in named
    for change in plan.changes:
        if change.duplicates:
            assert change.level == "WARNING"
            assert change.halo_id not in change.duplicates
            assert all(str(i) in change.reason for i in (change.halo_id, *change.duplicates))
    # A pair that keeps a record in step reports every other record carrying its marker.
    for change in plan.changes:
        if change.halo_id is None or change.marker is None:
            continue
        place = (
            change.halo_client_id if scenario.target == "licence" else change.recurring_invoice_id
        )
        found = groups.get((place or 0, change.marker))
        if found is not None and found.kept == change.halo_id:
            assert change.duplicates == found.others


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_a_foreign_line_is_taken_over_only_when_it_is_its_items_only_one(
    scenario: Scenario,
) -> None:
    """Adopting (the default) writes a line halosync did not add only when it is the one
    line of the pair's item on the pair's invoice, and then only its quantity and prices;
    several such lines mean nothing is written for the pair."""
    state, foreign = prepared_state(scenario)
    plan = run(scenario, scenario.now, state)
    lines = {line.id: line for line in state.halo_lines()}
    for change in plan.writes:
        if change.halo_id not in foreign:
            continue
        assert scenario.adopt
        line = lines[change.halo_id]
        assert line.recurring_invoice_id == change.recurring_invoice_id
        assert line.item_id == scenario.items[change.service_ref]
        # Only the line's quantity and prices: a LineChange carries nothing else.
        assert isinstance(change.write, LineChange)
        assert (change.write.line_id, change.write.recurring_invoice_id) == (
            line.id,
            line.recurring_invoice_id,
        )
        siblings = [
            other
            for other in foreign
            if other in lines
            and lines[other].recurring_invoice_id == line.recurring_invoice_id
            and lines[other].item_id == line.item_id
        ]
        assert siblings == [line.id]
    for change in plan.changes:
        event("several lines" if "has several lines" in change.reason else "not several")
        if "has several lines for this item" in change.reason:
            assert change.action == "skip"
            assert change.level == "WARNING"
            assert change.write is None


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.lists(st.integers(0, 8), min_size=1, max_size=3), st.integers(30, 32))
def test_a_record_moved_to_another_client_is_never_written_as_the_pairs(
    scenario: Scenario, moves: list[int], elsewhere: int
) -> None:
    """Someone in Halo moves a licence halosync keeps (or a mapped recurring invoice) to
    another client: the pair it belonged to writes nothing (no update there, no second
    record), says so in a WARNING naming the record, and a per-account plan agrees."""
    state, foreign = prepared_state(scenario)
    moved_records: set[int] = set()
    moved_invoices: set[int] = set()
    if scenario.target == "licence":
        named = sorted(
            r.halo_record_id
            for r in state.ledger
            if r.halo_record_id in state.licences and r.target == "licence"
        )
        for index in moves:
            if named:
                record = named[index % len(named)]
                state.licences[record]["client_id"] = elsewhere
                moved_records.add(record)
    else:
        for index in moves:
            invoice = -(1 + index % len(ACCOUNTS))
            state.invoice_clients[invoice] = elsewhere
            moved_invoices.add(invoice)
        for target in scenario.targets.values():
            if target.recurring_invoice_id not in moved_invoices:
                assert target.recurring_invoice_id is not None
                state.invoice_clients[target.recurring_invoice_id] = target.halo_client_id
        # The moved invoices' lines must say whose they are: give each one a line.
        for invoice in moved_invoices:
            state.next_id += 1
            state.lines[state.next_id] = {"id": state.next_id, "ihid": invoice, "_itemid": 777}
    plan = run(scenario, scenario.now, state)
    owners = {
        (r.account_ref, r.service_ref)
        for r in state.ledger
        if r.halo_record_id in moved_records
        and scenario.targets.get(r.account_ref) is not None
        and scenario.targets[r.account_ref].halo_client_id == r.halo_client_id
    }
    event(f"moved: {bool(moved_records or moved_invoices)}")
    for change in plan.changes:
        assert change.halo_id not in moved_records or not change.is_write
        on_moved_invoice = (
            scenario.target == "invoice_line"
            and change.account_ref in scenario.targets
            and scenario.targets[change.account_ref].recurring_invoice_id in moved_invoices
        )
        assert not (on_moved_invoice and change.is_write), change.reason
        if "was moved to client" in change.reason:
            assert change.action == "skip"
            assert change.level == "WARNING"
            # The client is named by client_label: "'Name' (30)", or "30" when the read
            # brought no name (as here for a record moved to an unseen client).
            assert f"({elsewhere})" in change.reason or f"client {elsewhere} " in change.reason
        if (change.account_ref, change.service_ref) in owners and change.action not in (
            "skip",
            "fail",
        ):
            raise AssertionError(f"the owner of a moved licence planned {change.action}")
    # A per-account plan (an approval's, a single-account sync's) decides alike.
    for account in scenario.targets:
        alone = plan_usage_sync(
            scenario.now,
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
            accounts={account},
        )
        assert alone.changes == tuple(c for c in plan.changes if c.account_ref == account)
    assert foreign is not None


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.lists(st.integers(0, 8), min_size=1, max_size=3))
def test_a_licence_made_inactive_in_halo_is_written_only_to_stop_billing(
    scenario: Scenario, deactivate: list[int]
) -> None:
    """An inactive licence bills nothing whatever its count: while its pair bills, nothing
    is written to it and no second one is created (a WARNING says how to bill or exclude
    it); once billing stops, its 0 may still be written."""
    scenario.target = "licence"
    state, _foreign = prepared_state(scenario)
    ours = sorted(state.licences)
    inactive: set[int] = set()
    for index in deactivate:
        if ours:
            record = ours[index % len(ours)]
            state.licences[record]["is_active"] = False
            inactive.add(record)
    plan = run(scenario, scenario.now, state)
    event(f"inactive: {bool(inactive)}")
    ended = {sub.identity for sub in scenario.now if sub.ended_reason is not None}
    for change in plan.changes:
        if change.halo_id in inactive and change.is_write:
            assert change.after.get("count") == 0 or change.identity in ended
        if "is inactive in HaloPSA" in change.reason:
            assert (change.action, change.level) == ("skip", "WARNING")
            assert change.halo_id in inactive
    # Re-planning after applying never flips an inactive licence's pair into a create.
    state.apply(plan)
    again = run(scenario, scenario.now, state)
    assert not again.writes, [c.reason for c in again.writes]
