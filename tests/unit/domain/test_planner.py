from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from halosync.domain.markers import marker_for, marker_note
from halosync.domain.models import (
    AccountTarget,
    DesiredSubscription,
    HaloValue,
    LedgerRecord,
    LicenceChange,
    LicenceFields,
    LineChange,
    LineFields,
    NewLicence,
    NewLine,
    Plan,
    PlannedChange,
    PriceMode,
    SyncSettings,
    subscription_status,
)
from halosync.domain.planner import plan_usage_sync
from halosync.halopsa.billing import halo_fields

from .halo_state import HaloState

WS = "ws-1"


def sub(
    account: str = "A1",
    service: str = "S1",
    quantity: str = "5",
    **overrides: object,
) -> DesiredSubscription:
    base = DesiredSubscription(
        account_ref=account,
        account_name=f"Account {account}",
        account_status="active",
        billed=True,
        service_ref=service,
        service_name=f"Service {service}",
        quantity=Decimal(quantity),
        start_date=date(2025, 1, 1),
        billing_cycle="Monthly",
        term="Annual",
        cost_price=Decimal("30"),
        customer_price=Decimal("50"),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


TARGETS = {"A1": AccountTarget(halo_client_id=10, recurring_invoice_id=-94)}
ITEMS = {"S1": 500}


def plan(
    subs: list[DesiredSubscription],
    state: HaloState,
    *,
    target: str = "licence",
    prices: PriceMode = "totals",
    adopt: bool = True,
    targets: dict[str, AccountTarget] | None = None,
    items: dict[str, int] | None = None,
) -> Plan:
    return plan_usage_sync(
        subs,
        account_targets=TARGETS if targets is None else targets,
        service_items=ITEMS if items is None else items,
        ledger=state.ledger,
        settings=SyncSettings(
            target="licence" if target == "licence" else "invoice_line",
            price_mode=prices,
            adopt_existing_lines=adopt,
            workspace_key=WS,
        ),
        halo_licences=state.halo_licences(),
        halo_invoice_lines=state.halo_lines(),
    )


def sent(change: PlannedChange) -> dict[str, HaloValue]:
    """The fields a planned write sends to Halo, by Halo's names."""
    assert change.write is not None
    return halo_fields(change.write)


def test_first_sync_creates_a_licence_named_after_the_service_then_nothing() -> None:
    state = HaloState()
    first = plan([sub()], state)
    (change,) = first.changes
    assert change.action == "create"
    owned = LicenceFields(
        count=5,
        price=Decimal("50.0000"),
        purchase_price=Decimal("30.0000"),
        start_date=date(2025, 1, 1),
        billing_cycle="Monthly",
        term_duration="Annual",
        status="Active",
    )
    marker = marker_for(WS, "A1", "S1")
    assert change.write == NewLicence(
        client_id=10, name="Service S1", item_id=500, fields=owned, marker=marker
    )
    assert change.after == {
        "count": 5,
        "price": Decimal("50.0000"),
        "purchase_price": Decimal("30.0000"),
        "start_date": date(2025, 1, 1),
        "billing_cycle": "Monthly",
        "term_duration": "Annual",
        "status": "Active",
    }
    state.apply(first)
    second = plan([sub()], state)
    assert second.counts == {
        "created": 0,
        "updated": 0,
        "unchanged": 1,
        "skipped": 0,
        "failed": 0,
    }


def test_changed_quantity_updates_only_the_changed_fields() -> None:
    state = HaloState()
    state.apply(plan([sub()], state))
    (change,) = plan([sub(quantity="7")], state).changes
    assert change.action == "update"
    assert change.before == {"count": 5}
    assert change.after == {"count": 7}
    assert change.write == LicenceChange(change.halo_id or 0, LicenceFields(count=7))


def test_rename_in_halo_is_harmless() -> None:
    state = HaloState()
    state.apply(plan([sub()], state))
    (record,) = state.licences.values()
    record["name"] = "Renamed by someone"
    (change,) = plan([sub()], state).changes
    assert change.action == "unchanged"


@given(st.sampled_from(["1", "5", "7"]), st.text(min_size=1, max_size=40))
def test_a_licence_halo_answered_without_its_id_is_never_created_again(
    quantity: str, answered: str
) -> None:
    """Unknown is not deleted: the pair fails with what Halo answered, nothing written."""
    state = HaloState()
    state.apply(plan([sub()], state))
    (licence_id,) = list(state.licences)
    del state.licences[licence_id]
    (change,) = plan_usage_sync(
        [sub(quantity=quantity)],
        account_targets=TARGETS,
        service_items=ITEMS,
        ledger=state.ledger,
        settings=SyncSettings(target="licence", workspace_key=WS),
        halo_licences=state.halo_licences(),
        unread_records={licence_id: answered},
    ).changes
    assert (change.action, change.level, change.write) == ("fail", "ERROR", None)
    assert change.reason.startswith(answered.rstrip("."))
    assert change.reason.endswith("nothing was written for this pair; the next sync reads it again")


def test_licence_deleted_in_halo_is_recreated_with_a_warning() -> None:
    state = HaloState()
    state.apply(plan([sub()], state))
    (licence_id,) = list(state.licences)
    del state.licences[licence_id]
    (change,) = plan([sub()], state).changes
    assert change.action == "create"
    assert change.level == "WARNING"
    assert change.reason == f"licence {licence_id} was deleted in HaloPSA; recreating"


def test_interrupted_create_is_adopted_by_its_marker_not_created_again() -> None:
    state = HaloState()
    state.apply(plan([sub()], state), record_ledger=False)
    (change,) = plan([sub()], state).changes
    assert change.action == "unchanged"
    assert change.adopted
    assert "interrupted" in change.reason
    assert change.halo_id == next(iter(state.licences))


def test_remap_writes_to_the_new_client_and_leaves_the_old_record_alone() -> None:
    state = HaloState()
    state.apply(plan([sub()], state))
    old = dict(next(iter(state.licences.values())))
    moved = {"A1": AccountTarget(halo_client_id=11)}
    (change,) = plan([sub(quantity="9")], state, targets=moved).changes
    assert change.action == "create"
    assert sent(change)["client_id"] == 11
    assert "left as they are" in change.reason
    state.apply(plan([sub(quantity="9")], state, targets=moved))
    assert state.licences[old["id"]] == old


@pytest.mark.parametrize(
    ("subscription", "targets", "items", "reason", "level"),
    [
        (sub(account_status="trial"), None, None, "trial account", "INFO"),
        (sub(billed=False), None, None, "not billed", "INFO"),
        (sub(account="A9"), None, None, "not mapped to a HaloPSA client", "WARNING"),
        (sub(service="S9"), None, None, "not mapped to a HaloPSA item", "WARNING"),
        (sub(), {"A1": AccountTarget(10, client_active=False)}, None, "inactive", "WARNING"),
        (sub(), {"A1": AccountTarget(10, client_gone=True)}, None, "no longer exists", "WARNING"),
    ],
)
def test_skips_say_why(
    subscription: DesiredSubscription,
    targets: dict[str, AccountTarget] | None,
    items: dict[str, int] | None,
    reason: str,
    level: str,
) -> None:
    (change,) = plan([subscription], HaloState(), targets=targets, items=items).changes
    assert change.action == "skip"
    assert reason in change.reason
    assert change.level == level
    assert change.write is None


def test_unit_prices_divide_totals_by_quantity_rounded_to_four_places() -> None:
    subscription = sub(quantity="3", customer_price=Decimal("100"), cost_price=Decimal("10"))
    (change,) = plan([subscription], HaloState(), prices="unit").changes
    assert sent(change)["price"] == Decimal("33.3333")
    assert sent(change)["purchase_price"] == Decimal("3.3333")


def test_quantity_zero_with_unit_prices_is_skipped_with_a_warning() -> None:
    (change,) = plan([sub(quantity="0")], HaloState(), prices="unit").changes
    assert change.action == "skip"
    assert change.level == "WARNING"
    assert "quantity is 0" in change.reason


def test_prices_off_never_touches_prices() -> None:
    state = HaloState()
    state.apply(plan([sub()], state, prices="off"))
    (record,) = state.licences.values()
    assert "price" not in record
    record["price"] = 999.0
    (change,) = plan([sub()], state, prices="off").changes
    assert change.action == "unchanged"


def test_float_noise_from_halo_is_not_a_change() -> None:
    state = HaloState()
    state.apply(plan([sub(customer_price=Decimal("10.33"))], state))
    (record,) = state.licences.values()
    record["price"] = 10.329999999999998
    (change,) = plan([sub(customer_price=Decimal("10.33"))], state).changes
    assert change.action == "unchanged"


def test_cancelled_subscription_drives_the_count_to_zero_and_keeps_prices() -> None:
    state = HaloState()
    state.apply(plan([sub()], state))
    (change,) = plan([sub(status="cancelled")], state, prices="unit").changes
    assert change.action == "update"
    assert change.after == {"count": 0, "status": "Cancelled"}


def test_cancelled_account_stops_billing_too() -> None:
    state = HaloState()
    state.apply(plan([sub()], state))
    (change,) = plan([sub(account_status="cancelled")], state).changes
    assert change.after == {"count": 0, "status": "Cancelled"}


def test_cancelled_subscription_with_nothing_in_halo_creates_nothing() -> None:
    (change,) = plan([sub(status="cancelled")], HaloState()).changes
    assert change.action == "skip"


def test_fractional_quantity_is_skipped_for_licences_without_a_rounding_rule() -> None:
    (change,) = plan([sub(quantity="2.5")], HaloState()).changes
    assert (change.action, change.level, change.write) == ("skip", "WARNING", None)
    assert "quantity 2.5 is not a whole number" in change.reason
    assert "set a rounding rule for service S1" in change.reason


def test_duplicate_subscription_fails_instead_of_writing_twice() -> None:
    changes = plan([sub(), sub()], HaloState()).changes
    assert [c.action for c in changes] == ["create", "fail"]


def test_per_account_scope() -> None:
    targets = {**TARGETS, "A2": AccountTarget(20)}
    result = plan_usage_sync(
        [sub(), sub(account="A2")],
        account_targets=targets,
        service_items=ITEMS,
        ledger=[],
        settings=SyncSettings(),
        accounts={"A2"},
    )
    assert [c.account_ref for c in result.changes] == ["A2"]


# ---- invoice_line target ---------------------------------------------------------------


def foreign_line(line_id: int = 24967, item: int = 500, qty: float = 14.0) -> dict[str, object]:
    return {"id": line_id, "ihid": -94, "_itemid": item, "qty_order": qty, "unit_price": 10.32}


def test_missing_line_is_added_with_unit_prices_then_nothing() -> None:
    state = HaloState()
    first = plan([sub(quantity="4")], state, target="invoice_line", prices="totals")
    (change,) = first.changes
    assert change.action == "create"
    assert change.write == NewLine(
        recurring_invoice_id=-94,
        item_id=500,
        description="Service S1",
        fields=LineFields(
            qty_order=Decimal("4.0000"),
            unit_price=Decimal("12.5000"),
            unit_cost=Decimal("7.5000"),
        ),
        marker=marker_for(WS, "A1", "S1"),
    )
    assert sent(change)["ihid"] == -94
    assert sent(change)["_itemid"] == 500
    state.apply(first)
    again = plan([sub(quantity="4")], state, target="invoice_line", prices="totals")
    assert again.counts["unchanged"] == 1


@given(st.booleans(), st.text(min_size=1, max_size=40))
def test_a_recurring_invoice_halo_answered_without_its_id_gets_no_line(
    written: bool, answered: str
) -> None:
    """What the invoice holds is unknown: its pair fails with Halo's words, never a create
    on it (a line already there would bill twice), whether or not a line was written."""
    state = HaloState()
    if written:
        state.apply(plan([sub()], state, target="invoice_line"))
    (change,) = plan_usage_sync(
        [sub(quantity="9")],
        account_targets=TARGETS,
        service_items=ITEMS,
        ledger=state.ledger,
        settings=SyncSettings(target="invoice_line", workspace_key=WS),
        halo_invoice_lines=[],
        unread_records={-94: answered},
    ).changes
    assert (change.action, change.level, change.write) == ("fail", "ERROR", None)
    assert change.reason.startswith(answered.rstrip("."))
    assert change.reason.endswith("nothing was written for this pair; the next sync reads it again")


def test_our_line_gets_the_new_quantity() -> None:
    state = HaloState()
    state.apply(plan([sub()], state, target="invoice_line", prices="off"))
    (change,) = plan([sub(quantity="8")], state, target="invoice_line", prices="off").changes
    assert change.action == "update"
    assert change.before == {"qty_order": Decimal("5.0000")}
    assert change.write == LineChange(change.halo_id or 0, -94, LineFields(Decimal("8.0000")))
    assert sent(change) == {"id": change.halo_id, "ihid": -94, "qty_order": Decimal("8.0000")}


def test_with_only_lines_halosync_adds_a_line_it_did_not_add_is_never_touched() -> None:
    state = HaloState(lines={24967: foreign_line()})
    (change,) = plan([sub()], state, target="invoice_line", adopt=False).changes
    assert change.action == "skip"
    assert change.level == "WARNING"
    assert "bill the customer twice" in change.reason
    assert "only lines halosync adds" in change.reason
    assert "24967" in change.reason


def test_the_one_existing_line_of_the_mapped_item_is_taken_over_by_default() -> None:
    state = HaloState(
        lines={
            24002: {**foreign_line(24002, qty=10), "item_shortdescription": "M365 Business Premium"}
        }
    )
    (change,) = plan([sub(quantity="12")], state, target="invoice_line", prices="off").changes
    assert change.action == "update"
    assert change.halo_id == 24002
    assert change.adopted
    assert change.after == {"qty_order": Decimal("12.0000")}
    assert change.write == LineChange(24002, -94, LineFields(qty_order=Decimal("12.0000")))
    assert sent(change) == {"id": 24002, "ihid": -94, "qty_order": Decimal("12.0000")}
    assert change.reason.startswith(
        "will take over line 24002 (M365 Business Premium, qty 10 \u2192 12) on recurring "
        "invoice -94"
    )
    # Taken over, it is halosync's line from then on: the next plan finds it in the ledger.
    state.apply(plan([sub(quantity="12")], state, target="invoice_line", prices="off"))
    (again,) = plan([sub(quantity="13")], state, target="invoice_line", prices="off").changes
    assert (again.action, again.halo_id, again.adopted) == ("update", 24002, False)


def test_taking_over_names_the_price_changes_and_an_unchanged_line() -> None:
    state = HaloState(lines={24967: foreign_line(qty=5)})
    (change,) = plan([sub()], state, target="invoice_line", prices="totals").changes
    assert "qty 5, unit price 10.32 \u2192 10, unit cost none \u2192 6" in change.reason
    state = HaloState(lines={24967: foreign_line(qty=5)})
    (same,) = plan([sub()], state, target="invoice_line", prices="off").changes
    assert (same.action, same.adopted) == ("unchanged", True)
    assert same.reason.startswith("will take over line 24967 (Service S1, qty 5) on")


def test_several_lines_of_the_item_means_nothing_is_written_for_the_pair() -> None:
    state = HaloState(lines={24002: foreign_line(24002), 24005: foreign_line(24005)})
    for adopt in (True, False):
        (change,) = plan([sub()], state, target="invoice_line", adopt=adopt).changes
        assert (change.action, change.level) == ("skip", "WARNING")
        assert "lines 24002, 24005" in change.reason
        assert "has several lines for this item" in change.reason
        assert change.write is None


def test_lines_of_other_items_are_never_in_the_plan() -> None:
    state = HaloState(lines={1: foreign_line(1, item=777)})
    (change,) = plan([sub()], state, target="invoice_line").changes
    assert change.action == "create"
    assert change.halo_id is None


def test_calculated_line_is_not_written() -> None:
    line = {**foreign_line(), "recurring_invoice_quantity_type": 1}
    state = HaloState(lines={24967: line})
    (change,) = plan([sub()], state, target="invoice_line", adopt=True).changes
    assert change.action == "skip"
    assert "licence/user/asset counts" in change.reason


def test_missing_recurring_invoice_is_skipped() -> None:
    targets = {"A1": AccountTarget(halo_client_id=10)}
    (change,) = plan([sub()], HaloState(), target="invoice_line", targets=targets).changes
    assert change.action == "skip"
    assert "Required" in change.reason


def test_deleted_line_is_added_again_with_a_warning() -> None:
    state = HaloState()
    state.apply(plan([sub()], state, target="invoice_line"))
    (line_id,) = list(state.lines)
    del state.lines[line_id]
    (change,) = plan([sub()], state, target="invoice_line").changes
    assert change.action == "create"
    assert change.level == "WARNING"
    assert str(line_id) in change.reason


def test_licence_carries_the_marker_note_on_create() -> None:
    (change,) = plan([sub()], HaloState()).changes
    assert sent(change)["notes"] == marker_note(marker_for(WS, "A1", "S1"))


def test_ledger_row_for_a_live_licence_wins_over_a_marker() -> None:
    state = HaloState()
    state.apply(plan([sub()], state))
    (licence_id,) = list(state.licences)
    state.licences[5] = {"id": 5, "client_id": 10, "count": 1, "notes": marker_for(WS, "A1", "S1")}
    (change,) = plan([sub()], state).changes
    assert change.halo_id == licence_id
    assert isinstance(state.ledger[0], LedgerRecord)


def test_two_services_on_one_item_never_take_over_the_same_line() -> None:
    state = HaloState(lines={24967: foreign_line()})
    items = {"S1": 500, "S2": 500}
    changes = plan(
        [sub(), sub(service="S2")], state, target="invoice_line", adopt=True, items=items
    ).changes
    assert [(c.action, c.halo_id) for c in changes] == [("update", 24967), ("create", None)]


@pytest.mark.parametrize(
    ("text", "status"),
    [(None, "active"), ("Cancelled", "cancelled"), ("canceled", "cancelled"), ("odd", "active")],
)
def test_subscription_status_from_vendor_text(text: str | None, status: str) -> None:
    assert subscription_status(text) == status
