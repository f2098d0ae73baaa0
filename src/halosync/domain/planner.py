"""The usage-sync planner: desired state + Halo's state + the ledger -> the exact writes.

Pure and deterministic: the same inputs give the same plan in the same order (by account
reference, then service reference). A dry run shows the plan; a real run executes its
writes. The rules are written out for billing admins in ``docs/sync-rules.md``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Container, Iterable, Mapping
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from dataclasses import fields as dataclass_fields
from decimal import Decimal
from typing import Literal, TypeVar

from halosync.domain.duplicates import (
    DuplicateIndex,
    Duplicates,
    duplicates_note,
    licence_duplicates,
    line_duplicates,
)
from halosync.domain.halo_values import halo_decimal, json_fields, same_value
from halosync.domain.markers import marker_for
from halosync.domain.models import (
    AccountTarget,
    DesiredSubscription,
    ExplainStep,
    HaloInvoiceLine,
    HaloLicence,
    HaloValue,
    InterruptedWrite,
    LedgerRecord,
    Level,
    LicenceChange,
    LicenceFields,
    LineChange,
    LineFields,
    NewLicence,
    NewLine,
    Plan,
    PlannedChange,
    SkipKind,
    SubscriptionStatus,
    SyncSettings,
)
from halosync.domain.placement import (
    inactive_licence,
    mapped_client,
    moved_invoice,
    moved_licence,
)
from halosync.domain.rules import (
    EMPTY_RULE_BOOK,
    EffectiveRule,
    RuleBook,
    RuledQuantity,
    excluded_chain,
    excluded_reason,
    markup_sell_price,
    price_step,
    refused_chain,
    rule_quantity,
    scope_label,
    standing_chain,
    vendor_step,
)
from halosync.domain.skips import deliberate_skip, fractional_skip, target_skip
from halosync.domain.terms import combine_terms

HALO_LICENCE_STATUS: dict[SubscriptionStatus, str] = {
    "active": "Active",
    "pending": "Pending",
    "suspended": "Suspended",
    "cancelled": "Cancelled",
    "expired": "Expired",
}
"""Vendor subscription status -> the text written to a licence's ``status``."""

_MAX_LICENCE_COUNT = 2**31 - 1  # Licence_List.count is an int32

TAKE_OVER_NOTE = "will take over"
"""How a plan says it adopts the one existing line for a mapped item (see ``_takeover_note``)."""
SEVERAL_LINES_NOTE = "has several lines for this item"
"""Part of the reason of a pair skipped because its item has several lines on the invoice;
the mapping grid finds those pairs by it."""


@dataclass(frozen=True, slots=True)
class _Context:
    settings: SyncSettings
    account_targets: Mapping[str, AccountTarget]
    service_items: Mapping[str, int]
    ledger: Mapping[tuple[str, str, str], list[LedgerRecord]]
    licences_by_id: Mapping[int, HaloLicence]
    licences_by_marker: Mapping[tuple[int, str], list[HaloLicence]]
    lines_by_id: Mapping[int, HaloInvoiceLine]
    lines_by_invoice: Mapping[int, list[HaloInvoiceLine]]
    ledger_line_ids: frozenset[int]
    ledger_record_ids: frozenset[int]
    """Every record of the target being planned that a ledger row names."""
    claimed_lines: set[int]
    duplicates: DuplicateIndex
    rules: RuleBook
    created_earlier: Container[int] = frozenset()
    """Records halosync created (per the audit trail) that no ledger row names."""
    unread_records: Mapping[int, str] = dataclass_field(default_factory=dict)
    """Records HaloPSA answered by id without their id (licences a ledger row names, or
    recurring invoices) -> what it said: unknown, never deleted (creating them again would
    bill twice)."""


@dataclass(frozen=True, slots=True)
class _Ruling:
    """One pair's quantity rules applied: the vendor's quantity, the effective rule and
    what it made of the quantity (the chain, a ceiling gone above)."""

    vendor: Decimal
    rule: EffectiveRule
    ruled: RuledQuantity

    @property
    def changed(self) -> bool:
        """The rules bill another quantity than the vendor's (then totals are rescaled)."""
        return self.ruled.quantity != self.vendor


class _Refusal(Exception):
    """Ends planning of one pair early with a skip or fail."""

    def __init__(self, change: PlannedChange) -> None:
        super().__init__(change.reason)
        self.change = change


def plan_usage_sync(
    subscriptions: Iterable[DesiredSubscription],
    *,
    account_targets: Mapping[str, AccountTarget],
    service_items: Mapping[str, int],
    ledger: Iterable[LedgerRecord],
    settings: SyncSettings,
    halo_licences: Iterable[HaloLicence] = (),
    halo_invoice_lines: Iterable[HaloInvoiceLine] = (),
    accounts: Collection[str] | None = None,
    rules: RuleBook = EMPTY_RULE_BOOK,
    created_earlier: Container[int] = frozenset(),
    unread_records: Mapping[int, str] | None = None,
) -> Plan:
    """Plan one usage sync.

    ``account_targets`` maps account_ref -> its mapped Halo client (missing = unmapped);
    ``service_items`` maps service_ref -> Halo item id (missing = unmapped). Pass the
    licences of the mapped clients (``licence`` target) or the lines of the mapped
    recurring invoices (``invoice_line`` target). ``accounts`` limits the plan to those
    account refs (a per-account sync). ``rules`` are the quantity rules in force on the
    run's date (:mod:`halosync.domain.rules`); without them the vendor's quantities are
    billed as they are. ``created_earlier``: records halosync created (per the audit trail)
    that no ledger row names; one found by a pending row's marker is not that row's create.
    ``unread_records``: records HaloPSA answered by id without their id (licences the
    ledger names, or recurring invoices; record id -> what it answered); the pairs on them
    fail alone, nothing written.
    """
    ledger = list(ledger)
    context = _build_context(
        settings, account_targets, service_items, ledger, halo_licences, halo_invoice_lines
    )
    context = replace(
        context,
        rules=rules,
        created_earlier=created_earlier,
        unread_records=unread_records or {},
    )
    # Several terms of one pair become what is billed first (summed, picked or kept apart).
    combined = combine_terms(
        subscriptions, rules, [r for r in ledger if r.target == settings.target]
    )
    ordered = sorted(combined, key=lambda sub: sub.identity)
    changes: list[PlannedChange] = []
    seen: set[tuple[str, str, str]] = set()
    for sub in ordered:
        if accounts is not None and sub.account_ref not in accounts:
            continue
        if sub.identity in seen:
            changes.append(
                _refuse(
                    sub,
                    "fail",
                    "ERROR",
                    "the vendor data holds this account and service twice in one term; "
                    "only the first was planned, so fix the duplicate at the source",
                ).change
            )
            continue
        seen.add(sub.identity)
        try:
            change = _plan_one(sub, context)
        except _Refusal as refusal:
            change = refusal.change
        mapped = sub.account_ref in account_targets and sub.service_ref in service_items
        if not change.explain and mapped:
            # Every change of a mapped pair says where its number came from.
            change = replace(change, explain=_chain_of_refused(sub, context))
        if change.action in ("skip", "fail"):
            # Nothing is written for it, so nothing waits for review whatever its count.
            chain = refused_chain(change.explain)
            if chain is not change.explain:
                change = replace(change, explain=chain)
        changes.append(change)
    return Plan(changes=tuple(changes))


def _build_context(
    settings: SyncSettings,
    account_targets: Mapping[str, AccountTarget],
    service_items: Mapping[str, int],
    ledger: Iterable[LedgerRecord],
    halo_licences: Iterable[HaloLicence],
    halo_invoice_lines: Iterable[HaloInvoiceLine],
) -> _Context:
    ledger = list(ledger)
    halo_licences = list(halo_licences)
    halo_invoice_lines = list(halo_invoice_lines)
    ledger_index: defaultdict[tuple[str, str, str], list[LedgerRecord]] = defaultdict(list)
    ledger_line_ids: set[int] = set()
    for record in ledger:
        ledger_index[(record.account_ref, record.service_ref, record.apart_term)].append(record)
        if record.target == "invoice_line" and record.halo_record_id is not None:
            ledger_line_ids.add(record.halo_record_id)
    licences_by_id: dict[int, HaloLicence] = {}
    licences_by_marker: defaultdict[tuple[int, str], list[HaloLicence]] = defaultdict(list)
    for licence in sorted(halo_licences, key=lambda lic: lic.id):
        if licence.deleted:
            continue
        licences_by_id[licence.id] = licence
        if licence.marker:
            licences_by_marker[(licence.client_id, licence.marker)].append(licence)
    lines_by_id: dict[int, HaloInvoiceLine] = {}
    lines_by_invoice: defaultdict[int, list[HaloInvoiceLine]] = defaultdict(list)
    for line in sorted(halo_invoice_lines, key=lambda ln: ln.id):
        lines_by_id[line.id] = line
        lines_by_invoice[line.recurring_invoice_id].append(line)
    return _Context(
        settings=settings,
        account_targets=account_targets,
        service_items=service_items,
        ledger=ledger_index,
        licences_by_id=licences_by_id,
        licences_by_marker=licences_by_marker,
        lines_by_id=lines_by_id,
        lines_by_invoice=lines_by_invoice,
        ledger_line_ids=frozenset(ledger_line_ids),
        ledger_record_ids=frozenset(
            record.halo_record_id
            for record in ledger
            if record.target == settings.target and record.halo_record_id is not None
        ),
        claimed_lines=set(),
        duplicates=(
            licence_duplicates(halo_licences, ledger)
            if settings.target == "licence"
            else line_duplicates(halo_invoice_lines, ledger)
        ),
        rules=EMPTY_RULE_BOOK,
    )


def _refuse(
    sub: DesiredSubscription,
    action: Literal["skip", "fail"],
    level: Level,
    reason: str,
    target: AccountTarget | None = None,
    settings: SyncSettings | None = None,
    *,
    skip: SkipKind | None = None,
) -> _Refusal:
    return _Refusal(
        PlannedChange(
            account_ref=sub.account_ref,
            service_ref=sub.service_ref,
            apart_term=sub.apart_term,
            takes_over=sub.takes_over,
            action=action,
            level=level,
            reason=reason,
            target=settings.target if settings else None,
            halo_client_id=target.halo_client_id if target else None,
            recurring_invoice_id=target.recurring_invoice_id if target else None,
            quantity=sub.quantity,
            skip=skip,
        )
    )


def _plan_one(sub: DesiredSubscription, context: _Context) -> PlannedChange:
    settings = context.settings
    rule = context.rules.for_pair(sub.account_ref, sub.service_ref)
    if rule.excluded is not None:
        return _excluded(sub, rule, context)
    skip = deliberate_skip(sub, context.account_targets, context.service_items)
    if skip is not None:
        mapped = context.account_targets.get(sub.account_ref)
        known = skip.kind == "service_unmapped"  # the account's client is known then
        raise _refuse(
            sub,
            "skip",
            skip.level,
            skip.reason,
            mapped if known else None,
            settings if known else None,
            skip=skip.kind,
        )
    target = context.account_targets[sub.account_ref]
    item_id = context.service_items[sub.service_ref]
    skip = target_skip(target, settings.target)
    if skip is not None:
        raise _refuse(sub, "skip", skip.level, skip.reason, target, settings, skip=skip.kind)
    invoice = target.recurring_invoice_id
    if settings.target == "invoice_line" and invoice in context.unread_records:
        assert invoice is not None
        raise _unread(sub, context.unread_records[invoice], target, settings)
    if settings.target == "invoice_line" and target.recurring_invoice_unread:
        raise _refuse(
            sub,
            "fail",
            "ERROR",
            f"HaloPSA answered recurring invoice {target.recurring_invoice_id} of client "
            f"{mapped_client(target)} without its lines (missing or null: unknown, not empty), "
            "so nothing was written to it; the next sync reads it again. If it persists, "
            "open the invoice in HaloPSA and check that its lines load",
            target,
            settings,
        )
    _check_quantity(sub, target, settings, rule)
    ruled = rule_quantity(sub.quantity, rule, ended=sub.ended_reason, steps=sub.explain)
    ruling = _Ruling(sub.quantity, rule, ruled)
    if not _ended(sub) and ruling.changed:
        # The rules bill another quantity; the vendor's stays in ``ruling`` for unit prices.
        sub = replace(sub, quantity=ruled.quantity)
    if ruling.changed:
        _check_licence_count(sub, target, settings)
    try:
        if settings.target == "licence":
            change = _plan_licence(sub, target, item_id, context, ruling)
        else:
            change = _plan_invoice_line(sub, target, item_id, context, ruling)
    except _Refusal as refusal:
        raise _Refusal(replace(refusal.change, explain=ruled.steps)) from None
    return _with_ruling(change, ruling, settings)


def _chain_of_refused(sub: DesiredSubscription, context: _Context) -> tuple[ExplainStep, ...]:
    """The chain of a mapped pair refused before the rules ran: what they make of its count
    (the vendor's count alone when it is no number or negative)."""
    quantity = sub.quantity
    if not quantity.is_finite() or quantity < 0:
        return sub.explain or (vendor_step(quantity),)
    rule = context.rules.for_pair(sub.account_ref, sub.service_ref)
    return rule_quantity(quantity, rule, ended=sub.ended_reason, steps=sub.explain).steps


def _with_ruling(change: PlannedChange, ruling: _Ruling, settings: SyncSettings) -> PlannedChange:
    """The change held for review when it writes a quantity above the ceiling (a create, or
    an update that changes the quantity); its explain chain is set where it is planned.

    A change that leaves such a count as HaloPSA holds it (unchanged, or a price-only
    update) is not held, and its chain says so rather than "held for review"."""
    above = ruling.ruled.above_ceiling
    if above is None:
        return change
    field = "count" if settings.target == "licence" else "qty_order"
    if change.is_write and field in change.after:
        quantity = _plain(change.after[field])
        return replace(change, rule_holds=(f"the quantity {quantity} is {above.reason}",))
    if change.action in ("update", "unchanged"):
        return replace(change, explain=standing_chain(change.explain))
    return change


def _excluded(sub: DesiredSubscription, rule: EffectiveRule, context: _Context) -> PlannedChange:
    """An excluded pair: nothing written. A record halosync wrote that still bills in Halo
    is named in a WARNING: the admin decides, halosync never touches what they excluded."""
    settings = context.settings
    target = context.account_targets.get(sub.account_ref)
    steps = excluded_chain(sub.quantity, rule, sub.explain)
    reason = excluded_reason(rule)
    level: Level = "INFO"
    billing = _still_billing(sub, context)
    halo_id = None
    if billing is not None:
        halo_id, label, quantity = billing
        level = "WARNING"
        reason = (
            f"{reason}; {label} still holds {_plain(quantity)}; set it to 0 in HaloPSA if the "
            "exclusion should stop billing"
        )
    return PlannedChange(
        account_ref=sub.account_ref,
        service_ref=sub.service_ref,
        apart_term=sub.apart_term,
        takes_over=sub.takes_over,
        action="skip",
        level=level,
        reason=reason,
        target=settings.target if target else None,
        halo_id=halo_id,
        halo_client_id=target.halo_client_id if target else None,
        recurring_invoice_id=target.recurring_invoice_id if target else None,
        quantity=sub.quantity,
        explain=steps,
    )


def _still_billing(
    sub: DesiredSubscription, context: _Context
) -> tuple[int, str, HaloValue] | None:
    """The record halosync wrote for this pair that Halo still bills (quantity above 0):
    its id, how to name it and its quantity; as Halo holds it when read, else as written."""
    for record in context.ledger.get(sub.ledger_key, []):
        if (
            record.target != context.settings.target
            or record.state != "written"
            or record.halo_record_id is None
        ):
            continue
        halo_id = record.halo_record_id
        quantity: HaloValue = record.quantity
        if record.target == "licence":
            label = f"licence {halo_id}"
            licence = context.licences_by_id.get(halo_id)
            if licence is not None:
                quantity = licence.count
        else:
            label = f"line {halo_id} on recurring invoice {record.recurring_invoice_id}"
            line = context.lines_by_id.get(halo_id)
            if line is not None:
                quantity = line.quantity
        if isinstance(quantity, int | Decimal) and quantity > 0:
            return halo_id, label, quantity
    return None


def _check_quantity(
    sub: DesiredSubscription, target: AccountTarget, settings: SyncSettings, rule: EffectiveRule
) -> None:
    """The vendor's quantity is a number, not negative, and (for a licence) whole or made
    whole by a rounding rule: a fraction is never rounded or cut without one."""
    quantity = sub.quantity
    if not quantity.is_finite():
        raise _refuse(
            sub, "fail", "ERROR", f"quantity {quantity} is not a number", target, settings
        )
    if quantity < 0:
        raise _refuse(sub, "fail", "ERROR", f"quantity {quantity} is negative", target, settings)
    skip = fractional_skip(sub, settings.target, rule.rounding)
    if skip is not None:
        raise _refuse(sub, "skip", skip.level, skip.reason, target, settings, skip=skip.kind)
    _check_licence_count(sub, target, settings)


def _check_licence_count(
    sub: DesiredSubscription, target: AccountTarget, settings: SyncSettings
) -> None:
    """A licence's count (the vendor's, or as the rules make it) fits Halo's int32."""
    if settings.target == "licence" and not _ended(sub) and sub.quantity > _MAX_LICENCE_COUNT:
        raise _refuse(
            sub,
            "fail",
            "ERROR",
            f"quantity {sub.quantity} is larger than a HaloPSA licence count can hold",
            target,
            settings,
        )


def _ended(sub: DesiredSubscription) -> bool:
    """Billing must stop: the subscription ended, or the billed account was cancelled."""
    return sub.ended_reason is not None


def _ending(sub: DesiredSubscription) -> str:
    """An ended subscription's end as a skip says it: a term a snapshot left out in the
    explain's words ("term monthly no longer sent by the vendor (not in the snapshot)"),
    any other "subscription ended"."""
    return (sub.ended_reason or "") if sub.unlisted else "subscription ended"


def _unit_prices_needed(sub: DesiredSubscription, settings: SyncSettings) -> bool:
    if settings.price_mode == "off":
        return False
    # An invoice line carries per-unit prices whatever the mode; a licence only in "unit".
    return settings.price_mode == "unit" or settings.target == "invoice_line"


def _prices(
    sub: DesiredSubscription, settings: SyncSettings, target: AccountTarget, ruling: _Ruling
) -> tuple[dict[str, Decimal], tuple[ExplainStep, ...]]:
    """The price fields to write ({} when prices are off or the subscription ended) and the
    price links of the explain chain (none while the vendor's prices go as they are).

    ``sub.quantity`` is the quantity billed; unit prices come from the vendor's totals ÷
    the vendor's quantity (``ruling.vendor``).
    """
    if _ended(sub):
        return {}, ()
    owner = ruling.rule.price_owner or "halosync"
    if settings.price_mode == "off":
        if owner != "markup":
            return {}, ()
        where = scope_label(ruling.rule.scope_of("price_owner"))
        text = f"the markup ({where}) sends no price while the workspace's price mode is off"
        return {}, (price_step(text, None),)
    if owner == "halo":
        where = scope_label(ruling.rule.scope_of("price_owner"))
        return {}, (price_step(f"prices owned by HaloPSA ({where}): never sent", None),)
    sell_field, cost_field = (
        ("price", "purchase_price") if settings.target == "licence" else ("unit_price", "unit_cost")
    )
    per_unit = _unit_prices_needed(sub, settings)
    if owner == "markup":
        return _markup_prices(sub, ruling, per_unit, sell_field, cost_field)
    totals = {sell_field: sub.customer_price, cost_field: sub.cost_price}
    if not ruling.changed:
        return _vendor_prices(sub, settings, target, totals, per_unit), ()
    if ruling.vendor == 0:
        if any(v is not None for v in totals.values()):
            return {}, (
                price_step(
                    "prices: the vendor's quantity is 0, so no unit price can be worked out; "
                    "HaloPSA's prices were left as they are",
                    None,
                ),
            )
        return {}, ()
    result: dict[str, Decimal] = {}
    steps: list[ExplainStep] = []
    for name, total in totals.items():
        if total is None:
            continue
        unit = total / ruling.vendor
        value = halo_decimal(unit if per_unit else unit * sub.quantity)
        result[name] = value
        if not per_unit:
            steps.append(
                price_step(
                    f"{name}: {_plain(halo_decimal(total))} \u00f7 vendor "
                    f"{_plain(ruling.vendor)} \u00d7 {_plain(sub.quantity)} \u2192 {_plain(value)}",
                    value,
                )
            )
    return result, tuple(steps)


def _vendor_prices(
    sub: DesiredSubscription,
    settings: SyncSettings,
    target: AccountTarget,
    totals: Mapping[str, Decimal | None],
    per_unit: bool,
) -> dict[str, Decimal]:
    """The vendor's prices as the workspace's price mode writes them (no rule in play)."""
    if per_unit and sub.quantity == 0 and any(v is not None for v in totals.values()):
        raise _refuse(
            sub,
            "skip",
            "WARNING",
            "quantity is 0, so unit prices (total ÷ quantity) cannot be worked out; HaloPSA "
            "was left as it is. Check the subscription, or turn price sync off",
            target,
            settings,
        )
    result: dict[str, Decimal] = {}
    for name, total in totals.items():
        if total is None:
            continue
        result[name] = halo_decimal(total / sub.quantity) if per_unit else halo_decimal(total)
    return result


def _markup_prices(
    sub: DesiredSubscription, ruling: _Ruling, per_unit: bool, sell_field: str, cost_field: str
) -> tuple[dict[str, Decimal], tuple[ExplainStep, ...]]:
    """Cost from the vendor, sell from the markup rule; per unit, or × the quantity billed
    where the price mode writes totals."""
    cost_unit = (
        sub.cost_price / ruling.vendor
        if sub.cost_price is not None and ruling.vendor != 0
        else None
    )
    if cost_unit is not None:
        cost_unit = halo_decimal(cost_unit)
    sell_unit, text = markup_sell_price(cost_unit, ruling.rule)
    result: dict[str, Decimal] = {}
    for name, unit in ((sell_field, sell_unit), (cost_field, cost_unit)):
        if unit is not None:
            result[name] = unit if per_unit else halo_decimal(unit * sub.quantity)
    steps = [price_step(text, sell_unit)]
    if not per_unit and sell_unit is not None:
        steps.append(
            price_step(
                f"{sell_field}: {_plain(sell_unit)} \u00d7 {_plain(sub.quantity)} \u2192 "
                f"{_plain(result[sell_field])}",
                result[sell_field],
            )
        )
    return result, tuple(steps)


def _licence_fields(
    sub: DesiredSubscription, settings: SyncSettings, target: AccountTarget, ruling: _Ruling
) -> tuple[LicenceFields, tuple[ExplainStep, ...]]:
    """The licence fields halosync owns (blank vendor values are not owned), and the
    explain chain's price links."""
    ended = _ended(sub)
    status: SubscriptionStatus = "cancelled" if sub.account_status == "cancelled" else sub.status
    prices, steps = _prices(sub, settings, target, ruling)
    fields = LicenceFields(
        count=0 if ended else int(sub.quantity),
        price=prices.get("price"),
        purchase_price=prices.get("purchase_price"),
        start_date=sub.start_date,
        end_date=sub.end_date,
        billing_cycle=sub.billing_cycle or None,
        term_duration=sub.term or None,
        status=HALO_LICENCE_STATUS[status],
    )
    return fields, steps


def _owned(values: LicenceFields | LineFields) -> dict[str, HaloValue]:
    """The fields ``values`` sets, by name, in declaration order."""
    named = ((field.name, getattr(values, field.name)) for field in dataclass_fields(values))
    return {name: value for name, value in named if value is not None}


_Fields = TypeVar("_Fields", LicenceFields, LineFields)


def _only(values: _Fields, names: Iterable[str]) -> _Fields:
    """``values`` with only the fields ``names`` set."""
    return type(values)(**{name: getattr(values, name) for name in names})


def _licence_current(licence: HaloLicence) -> dict[str, HaloValue]:
    held = _licence_held(licence)
    return {field.name: getattr(held, field.name) for field in dataclass_fields(held)}


def _licence_held(licence: HaloLicence) -> LicenceFields:
    """The owned fields as ``licence`` holds them."""
    return LicenceFields(
        count=licence.count,
        price=licence.price,
        purchase_price=licence.purchase_price,
        start_date=licence.start_date,
        end_date=licence.end_date,
        billing_cycle=licence.billing_cycle,
        term_duration=licence.term_duration,
        status=licence.status,
    )


def _line_fields(
    sub: DesiredSubscription, settings: SyncSettings, target: AccountTarget, ruling: _Ruling
) -> tuple[LineFields, tuple[ExplainStep, ...]]:
    prices, steps = _prices(sub, settings, target, ruling)
    fields = LineFields(
        qty_order=Decimal(0) if _ended(sub) else halo_decimal(sub.quantity),
        unit_price=prices.get("unit_price"),
        unit_cost=prices.get("unit_cost"),
    )
    return fields, steps


def _line_current(line: HaloInvoiceLine) -> dict[str, HaloValue]:
    return {"qty_order": line.quantity, "unit_price": line.unit_price, "unit_cost": line.unit_cost}


def _diff(
    current: Mapping[str, HaloValue], desired: Mapping[str, HaloValue]
) -> tuple[dict[str, HaloValue], dict[str, HaloValue]]:
    before: dict[str, HaloValue] = {}
    after: dict[str, HaloValue] = {}
    for name, value in desired.items():
        if not same_value(current.get(name), value):
            before[name] = current.get(name)
            after[name] = value
    return before, after


def _ledger_rows(
    sub: DesiredSubscription, context: _Context, target: AccountTarget
) -> tuple[list[LedgerRecord], list[LedgerRecord]]:
    """This pair's ledger rows for the current mapping, and those for earlier mappings."""
    settings = context.settings
    current: list[LedgerRecord] = []
    earlier: list[LedgerRecord] = []
    for record in context.ledger.get(sub.ledger_key, []):
        same_place = (
            record.target == settings.target and record.halo_client_id == target.halo_client_id
        )
        if settings.target == "invoice_line":
            same_place = same_place and record.recurring_invoice_id == target.recurring_invoice_id
        (current if same_place else earlier).append(record)
    return current, earlier


def _marker(sub: DesiredSubscription, settings: SyncSettings, rows: list[LedgerRecord]) -> str:
    """The marker its record carries: the pair's, or its term's when kept apart; a record
    taken over (the terms rule changed) keeps the marker it was created with."""
    if sub.takes_over is not None and rows:
        return rows[0].marker
    return marker_for(settings.workspace_key, sub.account_ref, sub.service_ref, sub.apart_term)


def _unread(
    sub: DesiredSubscription, answered: str, target: AccountTarget, settings: SyncSettings
) -> _Refusal:
    """The pair's failure when HaloPSA answered the record it is on (its licence, or its
    recurring invoice) without the record's id: what it holds is unknown, so nothing is
    written (a create would bill twice)."""
    return _refuse(
        sub,
        "fail",
        "ERROR",
        f"{answered.rstrip('.')}; nothing was written for this pair; the next sync reads it again",
        target,
        settings,
    )


def _plan_licence(
    sub: DesiredSubscription,
    target: AccountTarget,
    item_id: int,
    context: _Context,
    ruling: _Ruling,
) -> PlannedChange:
    settings = context.settings
    wanted, price_steps = _licence_fields(sub, settings, target, ruling)
    desired = _owned(wanted)
    rows, earlier = _ledger_rows(sub, context, target)
    marker = _marker(sub, settings, rows)
    base = PlannedChange(
        account_ref=sub.account_ref,
        service_ref=sub.service_ref,
        apart_term=sub.apart_term,
        takes_over=sub.takes_over,
        action="unchanged",
        reason="",
        target="licence",
        halo_client_id=target.halo_client_id,
        marker=marker,
        quantity=sub.quantity,
        explain=ruling.ruled.steps + price_steps if price_steps else ruling.ruled.steps,
    )
    twins = context.duplicates.get((target.halo_client_id, marker))
    for record in rows:
        if record.halo_record_id is not None and record.halo_record_id in context.licences_by_id:
            licence = context.licences_by_id[record.halo_record_id]
            refused = _not_writable(base, licence, target, sub)
            if refused is not None:
                return refused
            change = _update_licence(base, licence, wanted)
            change = _sent_update(change, record, _licence_current(licence), "licence")
            return _flag_duplicates(change, twins, "licence")
    unknown = [
        r.halo_record_id
        for r in rows
        if r.state == "written" and r.halo_record_id in context.unread_records
    ]
    if unknown and unknown[-1] is not None:
        raise _unread(sub, context.unread_records[unknown[-1]], target, settings)
    adoptable = [
        licence
        for licence in context.licences_by_marker.get((target.halo_client_id, marker), [])
        # A record the ledger keeps for another term is never taken over by its marker.
        if licence.id not in context.ledger_record_ids
    ]
    if adoptable:
        licence = adoptable[0]
        refused = _not_writable(base, licence, target, sub)
        if refused is not None:
            return refused
        change = _update_licence(base, licence, wanted)
        found = NewLicence(
            client_id=licence.client_id,
            name=licence.name,
            item_id=item_id,
            fields=_licence_held(licence),
            marker=marker,
        )
        change = _adopted(change, f"licence {licence.id}", rows, found, context)
        return _flag_duplicates(change, twins, "licence")
    if _ended(sub):
        reason = f"{_ending(sub)} and HaloPSA has no licence for it"
        return replace(base, action="skip", reason=reason)
    write = NewLicence(
        client_id=target.halo_client_id,
        name=sub.service_name,
        item_id=item_id,
        fields=wanted,
        marker=marker,
    )
    reason = "no licence yet for this account and service; creating one"
    level: Level = "INFO"
    gone = [r for r in rows if r.state == "written" and r.halo_record_id is not None]
    if gone:
        reason = f"licence {gone[-1].halo_record_id} was deleted in HaloPSA; recreating"
        level = "WARNING"
    elif earlier:
        old = ", ".join(
            f"client {r.halo_client_id}" for r in earlier if r.halo_record_id is not None
        )
        if old:
            reason = (
                f"account now mapped to client {target.halo_client_id}; creating a licence "
                f"there (earlier records on {old} are left as they are)"
            )
    return replace(base, action="create", reason=reason, level=level, after=desired, write=write)


def _adopted(
    change: PlannedChange,
    label: str,
    rows: Iterable[LedgerRecord],
    found: NewLicence | NewLine,
    context: _Context,
) -> PlannedChange:
    """``change`` takes over the record ``label`` that carries the pair's tag but no ledger
    row names. With the pair's row pending it is the create of the run that left it so,
    which stopped before recording it: that create is recorded now (``interrupted``)."""
    assert change.halo_id is not None
    pending = next((r for r in rows if r.state == "pending"), None)
    if pending is None or change.halo_id in context.created_earlier:
        note = f"found {label} created by an interrupted earlier run; adopting it"
        return replace(change, reason=f"{note}; {change.reason}", adopted=True)
    run = "an earlier run" if pending.run_id is None else f"run {pending.run_id}"
    note = (
        f"{label} was created by {run}, which stopped before recording it; found in HaloPSA "
        "by its tag and recorded now"
    )
    return replace(
        change,
        reason=f"{note}; {change.reason}",
        adopted=True,
        interrupted=InterruptedWrite(pending.run_id, created=found),
    )


def _sent_update(
    change: PlannedChange, record: LedgerRecord, held: Mapping[str, HaloValue], noun: str
) -> PlannedChange:
    """``change`` of the record ``record`` names, which holds ``held``. When an update sent
    for it was never recorded (the run died) and the record holds what it sent, that update
    is recorded now, as the interrupted run's; otherwise it is as if never sent (this plan
    writes what is still wanted)."""
    sent = record.unconfirmed
    if sent is None or not sent.after:
        return change
    if json_fields({name: held.get(name) for name in sent.after}) != dict(sent.after):
        return change
    note = (
        f"{noun} {change.halo_id} was updated by run {sent.run_id} "
        f"({', '.join(sent.after)}), which stopped before recording it; found in HaloPSA "
        "and recorded now"
    )
    return replace(
        change,
        reason=f"{note}; {change.reason}",
        interrupted=InterruptedWrite(record.run_id, updated=sent),
    )


def _not_writable(
    base: PlannedChange, licence: HaloLicence, target: AccountTarget, sub: DesiredSubscription
) -> PlannedChange | None:
    """The pair's skip when its licence must not be written (:mod:`halosync.domain.placement`):
    moved to another client, or inactive in HaloPSA; None when it may be."""
    moved = moved_licence(licence, target, sub.account_ref)
    if moved is not None:
        return replace(base, action="skip", level="WARNING", reason=moved, halo_id=licence.id)
    inactive = inactive_licence(licence, sub)
    if inactive is not None:
        return replace(base, action="skip", level="WARNING", reason=inactive, halo_id=licence.id)
    return None


def _update_licence(
    base: PlannedChange, licence: HaloLicence, wanted: LicenceFields
) -> PlannedChange:
    label = f"licence {licence.id}"
    change = _update_or_unchanged(
        base, licence.id, _licence_current(licence), _owned(wanted), label
    )
    if change.action != "update":
        return change
    return replace(change, write=LicenceChange(licence.id, _only(wanted, change.after)))


def _plan_invoice_line(
    sub: DesiredSubscription,
    target: AccountTarget,
    item_id: int,
    context: _Context,
    ruling: _Ruling,
) -> PlannedChange:
    settings = context.settings
    invoice_id = target.recurring_invoice_id
    assert invoice_id is not None
    desired, price_steps = _line_fields(sub, settings, target, ruling)
    rows, _earlier = _ledger_rows(sub, context, target)
    marker = _marker(sub, settings, rows)
    lines = context.lines_by_invoice.get(invoice_id, [])
    base = PlannedChange(
        account_ref=sub.account_ref,
        service_ref=sub.service_ref,
        apart_term=sub.apart_term,
        takes_over=sub.takes_over,
        action="unchanged",
        reason="",
        target="invoice_line",
        halo_client_id=target.halo_client_id,
        recurring_invoice_id=invoice_id,
        marker=marker,
        quantity=sub.quantity,
        explain=ruling.ruled.steps + price_steps if price_steps else ruling.ruled.steps,
    )
    moved = moved_invoice(lines, target, sub.account_ref)
    if moved is not None:
        raise _refuse(sub, "skip", "WARNING", moved, target, settings)
    where = f"on recurring invoice {invoice_id}"
    twins = context.duplicates.get((invoice_id, marker))
    for record in rows:
        line = context.lines_by_id.get(record.halo_record_id or 0)
        if line is not None and line.recurring_invoice_id == invoice_id and line.item_id == item_id:
            change = _update_line(
                base, line, desired, f"line {line.id} {where}", sub, target, settings
            )
            change = _sent_update(change, record, _line_current(line), "line")
            return _flag_duplicates(change, twins, "line")
    ours = [
        ln
        for ln in lines
        if ln.marker == marker and ln.item_id == item_id and ln.id not in context.ledger_line_ids
    ]
    if ours:
        line = ours[0]
        change = _update_line(base, line, desired, f"line {line.id} {where}", sub, target, settings)
        found = NewLine(
            recurring_invoice_id=invoice_id,
            item_id=line.item_id,
            description=line.description,
            fields=LineFields(line.quantity, line.unit_price, line.unit_cost),
            marker=marker,
        )
        change = _adopted(change, f"line {line.id} {where}", rows, found, context)
        return _flag_duplicates(change, twins, "line")
    foreign = [
        ln
        for ln in lines
        if ln.item_id == item_id
        and ln.marker is None
        and ln.id not in context.ledger_line_ids
        and ln.id not in context.claimed_lines
    ]
    if foreign:
        ids = ", ".join(str(ln.id) for ln in foreign)
        if len(foreign) > 1:
            raise _refuse(
                sub,
                "skip",
                "WARNING",
                f"recurring invoice {invoice_id} {SEVERAL_LINES_NOTE} that halosync did not "
                f"add (lines {ids}); nothing was written for this subscription, since halosync "
                "cannot tell which one bills it. Keep one of them in HaloPSA (halosync then "
                "takes it over)",
                target,
                settings,
            )
        if not settings.adopt_existing_lines:
            raise _refuse(
                sub,
                "skip",
                "WARNING",
                f"recurring invoice {invoice_id} already has a line for this item (line {ids}) "
                "that halosync did not add; it was left alone, since 'only lines halosync "
                "adds' is on and adding a second line would bill the customer twice. Remove "
                "that line in HaloPSA, or turn 'only lines halosync adds' off to let halosync "
                "take it over",
                target,
                settings,
            )
        line = foreign[0]
        # Another service mapped to the same item must not take over the same line.
        context.claimed_lines.add(line.id)
        change = _update_line(base, line, desired, f"line {line.id} {where}", sub, target, settings)
        note = f"{_takeover_note(line, change, sub)} {where}"
        if change.action == "update":
            reason = f"{note}; {change.reason}"
        else:
            reason = f"{note}; it already holds these values"
        return replace(change, reason=reason, adopted=True)
    if _ended(sub):
        return replace(base, action="skip", reason=f"{_ending(sub)} and there is no line {where}")
    write = NewLine(
        recurring_invoice_id=invoice_id,
        item_id=item_id,
        description=sub.service_name,
        fields=desired,
        marker=marker,
    )
    reason = f"no line for this item {where}; adding one"
    level: Level = "INFO"
    gone = [r for r in rows if r.state == "written" and r.halo_record_id is not None]
    if gone:
        reason = (
            f"line {gone[-1].halo_record_id} was deleted from recurring invoice {invoice_id} in "
            "HaloPSA; adding it again"
        )
        level = "WARNING"
    return replace(
        base, action="create", reason=reason, level=level, after=_owned(desired), write=write
    )


def _takeover_note(line: HaloInvoiceLine, change: PlannedChange, sub: DesiredSubscription) -> str:
    """ "will take over line 24002 (M365 Business Premium, qty 10 → 12)": what the admin
    reads in the dry run and the setup summary before the line is adopted."""
    name = line.description or sub.service_name
    parts = [f"qty {_plain(line.quantity)}"]
    if "qty_order" in change.after:
        parts[0] += f" \u2192 {_plain(change.after['qty_order'])}"
    for field, label in (("unit_price", "unit price"), ("unit_cost", "unit cost")):
        if field in change.after:
            parts.append(
                f"{label} {_plain(change.before.get(field))} \u2192 {_plain(change.after[field])}"
            )
    return f"{TAKE_OVER_NOTE} line {line.id} ({name}, {', '.join(parts)})"


def _plain(value: HaloValue) -> str:
    """A quantity or price as people write it: 10 rather than 10.0000."""
    if value is None:
        return "none"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def _update_line(
    base: PlannedChange,
    line: HaloInvoiceLine,
    desired: LineFields,
    label: str,
    sub: DesiredSubscription,
    target: AccountTarget,
    settings: SyncSettings,
) -> PlannedChange:
    if line.calculated:
        raise _refuse(
            sub,
            "skip",
            "WARNING",
            f"{label} takes its quantity from HaloPSA licence/user/asset counts, so halosync "
            "cannot set it; use the licence target, or set the line's quantity to fixed",
            target,
            settings,
        )
    change = _update_or_unchanged(base, line.id, _line_current(line), _owned(desired), label)
    if change.action != "update":
        return change
    fields = _only(desired, change.after)
    return replace(change, write=LineChange(line.id, line.recurring_invoice_id, fields))


def _flag_duplicates(change: PlannedChange, twins: Duplicates | None, noun: str) -> PlannedChange:
    """A WARNING naming every record that carries the pair's marker, when there are several.

    Only ``twins.kept`` is ever written: the planner chose it (the ledger's record, or the
    oldest), so the others stay exactly as they are for an admin to remove.
    """
    if twins is None or change.halo_id != twins.kept:
        return change
    return replace(
        change,
        level="WARNING",
        reason=f"{duplicates_note(twins, noun)}; {change.reason}",
        duplicates=twins.others,
    )


def _update_or_unchanged(
    base: PlannedChange,
    halo_id: int,
    current: Mapping[str, HaloValue],
    desired: Mapping[str, HaloValue],
    label: str,
) -> PlannedChange:
    before, after = _diff(current, desired)
    if not after:
        return replace(base, halo_id=halo_id, reason=f"{label} already holds these values")
    return replace(
        base,
        action="update",
        halo_id=halo_id,
        reason=f"{label}: {', '.join(after)} changed",
        before=before,
        after=after,
    )


__all__ = [
    "HALO_LICENCE_STATUS",
    "SEVERAL_LINES_NOTE",
    "TAKE_OVER_NOTE",
    "plan_usage_sync",
]
