"""A usage sync plans its accounts in chunks: the chunks' plans are the whole plan.

Each chunk is planned with what :func:`halosync.domain.chunks.chunk_places` says it needs
(its clients' and invoices' records, the records its ledger rows name, and the ledger
rows of other accounts naming one of those), as ``sync/usage.py`` reads it from the
store and from the spilled Halo state. Accounts are remapped between the earlier run and
this one (so ledger rows name records on other clients), records are copied (duplicates)
and lines are foreign, as in ``test_planner_properties``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from halosync.domain.chunks import chunk_places
from halosync.domain.models import (
    AccountTarget,
    DesiredSubscription,
    LedgerRecord,
    PlannedChange,
    SyncSettings,
)
from halosync.domain.planner import plan_usage_sync

from .halo_state import HaloState
from .test_planner_properties import (
    ACCOUNTS,
    WS,
    Scenario,
    prepared_state,
    scenarios,
)


def _settings(scenario: Scenario) -> SyncSettings:
    return SyncSettings(
        target=scenario.target,
        price_mode=scenario.prices,
        adopt_existing_lines=scenario.adopt,
        workspace_key=WS,
    )


def _whole(
    scenario: Scenario,
    targets: dict[str, AccountTarget],
    state: HaloState,
    accounts: Collection[str] | None = None,
) -> list[PlannedChange]:
    return list(
        plan_usage_sync(
            scenario.now,
            account_targets=targets,
            service_items=scenario.items,
            ledger=state.ledger,
            settings=_settings(scenario),
            halo_licences=state.halo_licences(),
            halo_invoice_lines=state.halo_lines(),
            accounts=accounts,
        ).changes
    )


def _chunk(
    scenario: Scenario,
    targets: dict[str, AccountTarget],
    state: HaloState,
    group: Collection[str],
) -> list[PlannedChange]:
    """One chunk's plan, from only what the sync reads for it."""
    target = scenario.target
    ledger: list[LedgerRecord] = list(state.ledger)
    own = [r for r in ledger if r.account_ref in group]
    mapped = {a: t for a, t in targets.items() if a in group}
    places = chunk_places(mapped.values(), own, target)
    licences = [
        lic
        for lic in state.halo_licences()
        if lic.client_id in places.clients or lic.id in places.named
    ]
    lines = [
        line
        for line in state.halo_lines()
        if line.recurring_invoice_id in places.invoices or line.id in places.named
    ]
    records = {lic.id for lic in licences} if target == "licence" else {ln.id for ln in lines}
    naming = [
        r
        for r in ledger
        if r.account_ref not in group and r.target == target and r.halo_record_id in records
    ]
    subs: list[DesiredSubscription] = [s for s in scenario.now if s.account_ref in group]
    return list(
        plan_usage_sync(
            subs,
            account_targets=mapped,
            service_items=scenario.items,
            ledger=own + naming,
            settings=_settings(scenario),
            halo_licences=licences,
            halo_invoice_lines=lines,
        ).changes
    )


@st.composite
def remapped(draw: st.DrawFn, scenario: Scenario) -> dict[str, AccountTarget]:
    """The mappings of this run: accounts moved to a new client, or to the client (1:1
    kept) or recurring invoice another account had (so the ledger rows of one chunk name
    records in another), or sharing another account's invoice (one chunk then)."""
    targets = dict(scenario.targets)
    for account in sorted(targets):
        move = draw(st.sampled_from(["keep", "new", "take client", "take invoice", "share"]))
        mine = targets[account]
        if move == "new":
            index = ACCOUNTS.index(account)
            targets[account] = replace(
                mine, halo_client_id=40 + index, recurring_invoice_id=-(40 + index)
            )
            continue
        other = draw(st.sampled_from(sorted(scenario.targets)))
        theirs = scenario.targets[other]
        in_use = {t.halo_client_id for a, t in targets.items() if a != account}
        if move == "take client" and theirs.halo_client_id not in in_use:
            targets[account] = replace(mine, halo_client_id=theirs.halo_client_id)
        elif move == "take invoice":
            targets[account] = replace(mine, recurring_invoice_id=theirs.recurring_invoice_id)
        elif move == "share":
            targets[account] = replace(
                mine, recurring_invoice_id=targets[other].recurring_invoice_id
            )
    return targets


def _places(targets: dict[str, AccountTarget], account: str) -> set[tuple[str, int | None]]:
    if account not in targets:
        return set()
    target = targets[account]
    return {("client", target.halo_client_id), ("invoice", target.recurring_invoice_id)}


def _groups(data: st.DataObject, targets: dict[str, AccountTarget]) -> list[set[str]]:
    """A random partition of the accounts, accounts sharing a client or invoice together."""
    groups: list[set[str]] = []
    for account in ACCOUNTS:
        index = data.draw(st.integers(0, len(groups)))
        if index == len(groups):
            groups.append({account})
        else:
            groups[index].add(account)
    merged = True
    while merged:
        merged = False
        for first in groups:
            here = {p for a in first for p in _places(targets, a)}
            other = next(
                (
                    g
                    for g in groups
                    if g is not first and here & {p for a in g for p in _places(targets, a)}
                ),
                None,
            )
            if other is not None:
                first |= other
                groups.remove(other)
                merged = True
                break
    return groups


def _key(change: PlannedChange) -> tuple[str, str]:
    return (change.account_ref, change.service_ref)


@settings(max_examples=200, deadline=None)
@given(st.data(), scenarios(), st.lists(st.integers(0, 8), max_size=3))
def test_the_plans_of_the_chunks_are_the_whole_plan(
    data: st.DataObject, scenario: Scenario, copies: list[int]
) -> None:
    state, foreign = prepared_state(scenario)
    store = state.licences if scenario.target == "licence" else state.lines
    ours = sorted(set(store) - foreign)
    for index in copies:
        if ours:
            state.next_id += 1
            store[state.next_id] = {**store[ours[index % len(ours)]], "id": state.next_id}
    targets = data.draw(remapped(scenario))
    groups = _groups(data, targets)
    whole = _whole(scenario, targets, state)
    chunked = sorted(
        (change for group in groups for change in _chunk(scenario, targets, state, group)),
        key=_key,
    )
    assert chunked == whole
    # A per-account sync is a chunk of one account: the whole plan's changes for it, when
    # the account shares no recurring invoice with another.
    for account in ACCOUNTS:
        sharing = any(
            _places(targets, account) & _places(targets, other)
            for other in ACCOUNTS
            if other != account
        )
        if not sharing:
            alone = _chunk(scenario, targets, state, {account})
            assert alone == [c for c in whole if c.account_ref == account]


def test_a_line_an_account_took_over_before_it_was_remapped_stays_its_own() -> None:
    """A0 took over line 90 on invoice -1, then was remapped; A1 now bills to invoice -1.
    A1's chunk must see A0's ledger row naming line 90 (a chunk of its own otherwise), or
    it would take the line over a second time."""
    scenario = Scenario(
        target="invoice_line",
        prices="off",
        adopt=True,
        targets={},
        items={"S0": 500},
        earlier=[],
        now=[
            DesiredSubscription(
                account_ref="A1",
                account_name="A1",
                account_status="active",
                billed=True,
                service_ref="S0",
                service_name="S0",
                quantity=Decimal(5),
            )
        ],
        foreign_items=[],
        deletions=[],
        edits=[],
        lose_ledger=[],
    )
    targets = {
        "A0": AccountTarget(halo_client_id=40, recurring_invoice_id=-40),
        "A1": AccountTarget(halo_client_id=11, recurring_invoice_id=-1),
    }
    state = HaloState()
    state.lines[90] = {"id": 90, "ihid": -1, "_itemid": 500, "qty_order": 3.0}
    state.ledger.append(
        LedgerRecord(
            account_ref="A0",
            service_ref="S0",
            target="invoice_line",
            halo_client_id=10,
            recurring_invoice_id=-1,
            halo_record_id=90,
            state="written",
            marker="",
        )
    )
    whole = _whole(scenario, targets, state)
    assert [c.action for c in whole] == ["create"]
    assert _chunk(scenario, targets, state, {"A1"}) == whole
