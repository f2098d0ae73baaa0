"""The reconciliation report: vendor count vs. what halosync wrote vs. what Halo holds now.

HaloPSA is compared with the *ruled* count: the vendor's count after the quantity rules in
force today (free, rounding, minimum: :func:`halosync.domain.rules.rule_quantity`, the
planner's rule), and a row says which rule explains a difference between the vendor's count
and HaloPSA's ("HaloPSA 25 = vendor 23 with minimum 25 (service)"). Excluded means the
admin took the pair out of billing (its reason shown): halosync leaves it alone, so it is
neither drift nor out of date.

Drift means someone changed the count in HaloPSA after halosync wrote it; skipped means
halosync leaves the pair alone (trial, not billed, account or service not mapped, the
client gone or inactive, the recurring invoice missing, a fractional count for a licence
with no rounding rule: :mod:`halosync.domain.skips`, the planner's rule), so its count is
never held for review; out of date means HaloPSA does not hold the ruled (billable) count,
which the next sync fixes;
duplicate means more than one HaloPSA record carries the pair's halosync tag, so the
customer may be billed twice until an admin removes the others; blocked means halosync
will not write the pair's record until an admin acts in HaloPSA (it was moved to another
client, or made inactive: :mod:`halosync.domain.placement`, the planner's rule).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Literal

from halosync.domain.duplicates import licence_duplicates, line_duplicates
from halosync.domain.halo_values import same_value
from halosync.domain.models import (
    ENDED_SUBSCRIPTION_STATUSES,
    PRICE_STEP,
    AccountTarget,
    DesiredSubscription,
    HaloInvoiceLine,
    HaloLicence,
    LedgerRecord,
    Target,
    chain_text,
    plain_number,
)
from halosync.domain.placement import inactive_licence, moved_invoice, moved_licence
from halosync.domain.rules import (
    CEILING_STEP,
    EMPTY_RULE_BOOK,
    EffectiveRule,
    RuleBook,
    RuledQuantity,
    excluded_chain,
    excluded_reason,
    refused_chain,
    rule_quantity,
)
from halosync.domain.skips import skip_of
from halosync.domain.terms import TERMS_STEP, combine_terms
from halosync.domain.text import escaped

SortKey = Literal[
    "account_ref", "service_ref", "vendor_quantity", "ledger_quantity", "halo_quantity", "drift"
]
RowStatus = Literal[
    "duplicate", "excluded", "blocked", "unread", "drift", "skipped", "out_of_date", "in_step"
]
"""A row's state, the most urgent first: several records billed, excluded from billing by
a rule, not written until an admin acts in Halo, what Halo holds unknown this time (its
answer unreadable), changed in Halo, left alone on purpose, stale."""
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class ReconcileRow:
    """One account × service: the three counts side by side and what differs."""

    account_ref: str
    account_name: str
    service_ref: str
    service_name: str
    halo_client_id: int | None
    halo_record_id: int | None
    vendor_quantity: Decimal | None
    """The vendor's count as billed: several terms combined by the terms rule (their sum,
    the term picked, or this record's term when kept apart), 0 once ended; for a record the
    terms rule bills nothing on, the count of its term the vendor still sends. None when
    the vendor sends none (a snapshot left it out, or no subscription is behind the row)."""
    ledger_quantity: Decimal | None
    halo_quantity: Decimal | None
    drift: bool
    out_of_date: bool
    duplicates: tuple[int, ...] = ()
    """Other HaloPSA records carrying this pair's halosync tag beside ``halo_record_id``."""
    skipped: str | None = None
    """Why halosync leaves the pair alone on purpose (then it is not out of date)."""
    ruled_quantity: Decimal | None = None
    """The count the rules in force today bill (the vendor's when no rule changes it);
    None for an excluded pair or a row with no subscription behind it (a ledger row only)."""
    explain: str = ""
    """The chain from the vendor's count to the ruled one ("vendor 23 → minimum 25
    (service) → 25"); empty without a subscription."""
    excluded: str | None = None
    """Why the pair is excluded from billing ("excluded from billing: internal (account)")."""
    why: str = ""
    """Which rule explains a difference between the vendor's count and HaloPSA's
    ("HaloPSA 25 = vendor 23 with minimum 25 (service)"); the exclusion's reason for an
    excluded pair; empty when no rule changes the count."""
    term: str = ""
    """The term of a record kept apart (terms rule ``apart``); blank for the pair's one
    record (its terms summed or one picked, as the sync bills them)."""
    blocked: str | None = None
    """Why halosync will not write the pair's record until an admin acts in HaloPSA (it was
    moved to another client, or made inactive), and the fix; the sync skips it with the
    same words."""
    unread: str | None = None
    """Why what HaloPSA holds for the pair is unknown this time: it answered the pair's
    licence or recurring invoice, read by id, without its id (or the invoice without its
    lines). Neither drift nor out of date; the next reconciliation reads it again."""

    @property
    def status(self) -> RowStatus:
        """The row's state, the most urgent first."""
        if self.duplicates:
            return "duplicate"
        if self.excluded is not None:
            return "excluded"
        if self.blocked is not None:
            return "blocked"
        if self.unread is not None:
            return "unread"
        if self.drift:
            return "drift"
        if self.skipped is not None:
            return "skipped"
        return "out_of_date" if self.out_of_date else "in_step"


@dataclass(frozen=True, slots=True)
class ReconcileSummary:
    """The report's totals, as every surface shows them (CLI, REST API, web UI, demo).

    A row counts once in ``total`` and once in each flag it carries (a drifted row is also
    out of date when HaloPSA does not hold the ruled count); ``skipped`` and ``excluded``
    count rows of that :attr:`ReconcileRow.status` (a duplicate row is neither)."""

    total: int = 0
    drift: int = 0
    out_of_date: int = 0
    duplicate: int = 0
    skipped: int = 0
    excluded: int = 0
    blocked: int = 0
    unread: int = 0

    @classmethod
    def of(cls, rows: Iterable[ReconcileRow]) -> ReconcileSummary:
        """The totals of ``rows``."""
        total = drift = out_of_date = duplicate = skipped = excluded = blocked = unread = 0
        for row in rows:
            total += 1
            drift += row.drift
            out_of_date += row.out_of_date
            duplicate += bool(row.duplicates)
            status = row.status
            skipped += status == "skipped"
            excluded += status == "excluded"
            blocked += status == "blocked"
            unread += status == "unread"
        return cls(total, drift, out_of_date, duplicate, skipped, excluded, blocked, unread)


def reconcile(
    subscriptions: Iterable[DesiredSubscription],
    *,
    ledger: Iterable[LedgerRecord],
    account_targets: Mapping[str, AccountTarget],
    service_items: Mapping[str, int],
    target: Target,
    halo_licences: Iterable[HaloLicence] = (),
    halo_invoice_lines: Iterable[HaloInvoiceLine] = (),
    rules: RuleBook = EMPTY_RULE_BOOK,
    unread: Mapping[int, str] | None = None,
) -> list[ReconcileRow]:
    """Rows for every subscription and every ledger record, ordered by account, service.

    The vendor quantity is the billable one (0 for an ended subscription or a cancelled
    account); HaloPSA is compared with it after ``rules`` (the rule book in force today,
    as the sync plans with); a record deleted in Halo has no Halo quantity and counts as
    drift. ``unread``: records HaloPSA answered unreadably (licence id, or recurring invoice
    id for ``invoice_line``) -> why; the rows on them are marked, neither drift nor stale.
    """
    unread = unread or {}
    ledger = list(ledger)
    subscriptions = list(subscriptions)
    # Several terms of one pair as the sync bills them (summed, picked or kept apart).
    ours = [record for record in ledger if record.target == target]
    subs = {sub.identity: sub for sub in combine_terms(subscriptions, rules, ours)}
    # What the vendor sends of each term, for a record the terms rule bills nothing on.
    sent = {(sub.account_ref, sub.service_ref, sub.term or ""): sub for sub in subscriptions}
    # A record taken over by another term is that term's now.
    moved = {
        (sub.account_ref, sub.service_ref, sub.takes_over): sub.identity
        for sub in subs.values()
        if sub.takes_over is not None
    }
    halo_licences = list(halo_licences)
    halo_invoice_lines = list(halo_invoice_lines)
    live = {lic.id: lic for lic in halo_licences if not lic.deleted}
    licences = {lic.id: Decimal(lic.count) for lic in live.values()}
    lines = {line.id: line.quantity for line in halo_invoice_lines}
    on_invoice: dict[int, list[HaloInvoiceLine]] = {}
    for line in halo_invoice_lines:
        on_invoice.setdefault(line.recurring_invoice_id, []).append(line)
    halo_quantities = licences if target == "licence" else lines
    twins = (
        licence_duplicates(halo_licences, ledger)
        if target == "licence"
        else line_duplicates(halo_invoice_lines, ledger)
    )
    ledger_by_pair: dict[tuple[str, str, str], LedgerRecord] = {}
    for record in ours:
        mapped = account_targets.get(record.account_ref)
        key = (record.account_ref, record.service_ref, record.apart_term)
        key = moved.get(key, key)
        current = mapped is not None and mapped.halo_client_id == record.halo_client_id
        if current or key not in ledger_by_pair:
            ledger_by_pair[key] = record
    rows: list[ReconcileRow] = []
    for key in sorted(set(subs) | set(ledger_by_pair)):
        sub = subs.get(key)
        found = ledger_by_pair.get(key)
        mapped = account_targets.get(key[0])
        vendor = _billable(sent.get(key) if sub is not None and sub.released else sub)
        rule = rules.for_pair(key[0], key[1])
        record_id = found.halo_record_id if found else None
        halo = halo_quantities.get(record_id) if record_id is not None else None
        ledger_quantity = found.quantity if found and found.state == "written" else None
        skip = None
        if sub is not None:
            skip = skip_of(sub, account_targets, service_items, target, rule.rounding)
        blocked = None
        if skip is None and rule.excluded is None and mapped is not None:
            blocked = _blocked(found, mapped, key, sub, target, live, on_invoice)
        ruling = _Ruling.of(sub, rule, halo, refused=skip is not None or blocked is not None)
        unknown = _unread_reason(found, mapped, target, unread)
        # An excluded pair is neither drift nor out of date: halosync leaves it alone, and an
        # admin setting its record to 0 (as the dry run advises) is not a change to undo.
        drift = (
            ruling.excluded is None
            and unknown is None
            and ledger_quantity is not None
            and (halo is None or not same_value(halo, ledger_quantity))
        )
        ruled = ruling.quantity
        out_of_date = (
            skip is None
            and blocked is None
            and unknown is None
            and ruled is not None
            and (
                (halo is None and ruled != 0) or (halo is not None and not same_value(halo, ruled))
            )
        )
        group = None
        if found is not None and record_id is not None:
            place = found.halo_client_id if target == "licence" else found.recurring_invoice_id
            group = twins.get((place or 0, found.marker))
        rows.append(
            ReconcileRow(
                account_ref=key[0],
                account_name=sub.account_name if sub else "",
                service_ref=key[1],
                service_name=sub.service_name if sub else "",
                halo_client_id=found.halo_client_id
                if found
                else (mapped.halo_client_id if mapped else None),
                halo_record_id=record_id,
                vendor_quantity=vendor,
                ledger_quantity=ledger_quantity,
                halo_quantity=halo,
                drift=drift,
                out_of_date=out_of_date,
                duplicates=group.others if group and group.kept == record_id else (),
                skipped=skip.reason if skip else None,
                ruled_quantity=ruled,
                explain=ruling.explain,
                excluded=ruling.excluded,
                # A pair left alone on purpose is explained by its skip, not by the rules.
                why=ruling.why if skip is None or ruling.excluded else "",
                term=key[2],
                blocked=blocked,
                unread=unknown,
            )
        )
    return rows


def _unread_reason(
    found: LedgerRecord | None,
    mapped: AccountTarget | None,
    target: Target,
    unread: Mapping[int, str],
) -> str | None:
    """Why what HaloPSA holds for the pair is unknown (``unread``: by licence id, or by
    recurring invoice id for ``invoice_line``), or None when it was read."""
    if target == "licence":
        record = found.halo_record_id if found is not None else None
        return unread.get(record) if record is not None else None
    invoices = [found.recurring_invoice_id if found is not None else None]
    invoices.append(mapped.recurring_invoice_id if mapped is not None else None)
    return next((unread[i] for i in invoices if i is not None and i in unread), None)


def _blocked(
    found: LedgerRecord | None,
    mapped: AccountTarget,
    key: tuple[str, str, str],
    sub: DesiredSubscription | None,
    target: Target,
    licences: Mapping[int, HaloLicence],
    on_invoice: Mapping[int, list[HaloInvoiceLine]],
) -> str | None:
    """Why the sync will not write the pair's record (the planner's rule, from
    :mod:`halosync.domain.placement`): the record its ledger row keeps on the mapped client
    is on another client now, or the mapped recurring invoice is; or the licence is
    inactive in HaloPSA while the pair still bills."""
    account_ref = key[0]
    if target == "invoice_line":
        if mapped.recurring_invoice_id is None:
            return None
        return moved_invoice(on_invoice.get(mapped.recurring_invoice_id, ()), mapped, account_ref)
    if found is None or found.halo_client_id != mapped.halo_client_id:
        return None
    licence = licences.get(found.halo_record_id or 0)
    if licence is None:
        return None
    moved = moved_licence(licence, mapped, account_ref)
    if moved is not None or sub is None:
        return moved
    return inactive_licence(licence, sub)


def _billable(sub: DesiredSubscription | None) -> Decimal | None:
    """The vendor's count as billable (0 once ended); None when the vendor sends none (a
    snapshot left it out)."""
    if sub is None or (sub.unlisted and sub.status in ENDED_SUBSCRIPTION_STATUSES):
        return None
    return Decimal(0) if sub.ended_reason is not None else sub.quantity


@dataclass(frozen=True, slots=True)
class _Ruling:
    """One pair's count after the rules, as the planner rules it, and the words for it."""

    quantity: Decimal | None = None
    explain: str = ""
    excluded: str | None = None
    why: str = ""

    @classmethod
    def of(
        cls,
        sub: DesiredSubscription | None,
        rule: EffectiveRule,
        halo: Decimal | None,
        *,
        refused: bool = False,
    ) -> _Ruling:
        """``refused``: the sync leaves the pair alone (a skip), so its count is never held
        for review and its chain says so."""
        if rule.excluded is not None:
            reason = excluded_reason(rule)
            if sub is None:
                return cls(excluded=reason, why=reason)
            steps = excluded_chain(sub.quantity, rule, sub.explain)
            return cls(explain=chain_text(steps), excluded=reason, why=reason)
        if sub is None:
            return cls()
        ruled = rule_quantity(sub.quantity, rule, ended=sub.ended_reason, steps=sub.explain)
        if refused:
            return cls(ruled.quantity, chain_text(refused_chain(ruled.steps)))
        return cls(ruled.quantity, ruled.text, None, _why(ruled, halo))


def _why(ruled: RuledQuantity, halo: Decimal | None) -> str:
    """Which rules make the ruled count differ from the vendor's, and whether HaloPSA holds
    it: "HaloPSA 25 = vendor 23 with minimum 25 (service)", "HaloPSA 20 = vendor 15 (annual
    5 + monthly 10, summed) with minimum 20 (workspace)"; "" when no rule changes it.

    The chain's first link is the vendor's count (several terms as the terms rule combined
    them), so it is said once, as the vendor column shows it; a record the terms rule
    bills nothing on says what happened to its term."""
    steps = ruled.steps
    first = steps[0] if steps and steps[0].rule in ("vendor", TERMS_STEP) else None
    vendor = first.text if first is not None else ""
    applied = ", ".join(
        step.text
        for step in steps[1 if first is not None else 0 :]
        if step.rule not in (CEILING_STEP, PRICE_STEP)
    )
    if halo is not None and same_value(halo, ruled.quantity):
        if not applied:
            return ""
        return f"HaloPSA {plain_number(halo)} = {vendor + ' with ' if vendor else ''}{applied}"
    if not applied and ruled.above_ceiling is None:
        return ""
    said = vendor
    if applied:
        said = (
            f"the rules bill {plain_number(ruled.quantity)} "
            f"({vendor + ' with ' if vendor else ''}{applied})"
        )
    if ruled.above_ceiling is not None:
        said += f" is {ruled.above_ceiling.reason}: held for review"
    return f"{said}; HaloPSA holds {'nothing' if halo is None else plain_number(halo)}"


def sort_rows(
    rows: Sequence[ReconcileRow], key: SortKey, *, descending: bool = False
) -> list[ReconcileRow]:
    """``rows`` ordered by ``key``; blanks always last, ties by account then service."""
    present = [row for row in rows if getattr(row, key) is not None]
    blank = [row for row in rows if getattr(row, key) is None]
    tie = sorted(present, key=lambda row: (row.account_ref, row.service_ref, row.term))
    ordered = sorted(tie, key=lambda row: getattr(row, key), reverse=descending)
    return ordered + sorted(blank, key=lambda row: (row.account_ref, row.service_ref, row.term))


def csv_safe(value: object) -> str:
    """A cell a spreadsheet will not run as a formula (leading ``'`` when it could), its
    controls escaped (:func:`~halosync.domain.text.escaped`): a name stored with U+202E
    would read reversed in the spreadsheet."""
    text = "" if value is None else escaped(str(value))
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


CSV_HEADER: tuple[str, ...] = (*(f.name for f in fields(ReconcileRow)), "status")


def csv_rows(rows: Iterable[ReconcileRow]) -> list[list[str]]:
    """The header and one list of safe cells per row, ready for ``csv.writer``."""
    table = [list(CSV_HEADER)]
    for row in rows:
        table.append([csv_safe(_cell(getattr(row, name))) for name in CSV_HEADER])
    return table


def _cell(value: object) -> object:
    if isinstance(value, tuple):
        return " ".join(str(item) for item in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value
