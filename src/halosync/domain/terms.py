"""The terms rule: one account × service sold in several terms at once (monthly and annual).

The vendor data may hold several subscriptions of one account × service, one per term;
none may overwrite another. Before the planner, :func:`combine_terms` turns each such pair
into what is billed, per the pair's effective ``terms`` rule (:mod:`halosync.domain.rules`):

- ``sum`` (the default): one record billing every term's quantity added up ("vendor 15
  (annual 5 + monthly 10, summed) → 15"); an ended term adds nothing.
- ``pick``: one record billing one term, chosen by ``terms_pick`` (the longest or shortest
  term, or the largest quantity; ties by term text); the others are named as not billed.
- ``apart``: one record per term. The term joins the record's identity (its marker and its
  ledger row, :attr:`DesiredSubscription.apart_term`). The record the pair was billed on
  before (its one record, marker and ledger row of the pair) goes on billing one term —
  the first to start of those without a record of their own — and is kept under that
  term from then on (``takes_over``); the other terms get records of their own.

Switching back to ``sum`` or ``pick`` moves billing onto the record of the term billed (or
the first term's); the pair's other records go to 0, each explained by what happened to its
term (billed on the pair's one record now, not picked, no longer sent, ended), never as a
cancelled subscription when the vendor did not cancel it. A pair with one subscription is
returned exactly as it came, whatever the rule (unless its term has a record of its own
from being kept apart: it stays on it), so existing markers and ledgers stay valid. Pure
and deterministic: the same subscriptions, rules and ledger give the same result.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import replace
from datetime import date
from decimal import Decimal

from halosync.domain.models import (
    ENDED_SUBSCRIPTION_STATUSES,
    NO_LONGER_SENT,
    RELEASED_STEP,
    DesiredSubscription,
    ExplainStep,
    LedgerRecord,
    RuleScope,
    SubscriptionStatus,
    plain_number,
)
from halosync.domain.rules import (
    EMPTY_RULE_BOOK,
    RuleBook,
    TermsChoice,
    TermsPick,
    scope_label,
)

TERMS_STEP = "terms"
"""The ``rule`` of the explain step that says how a pair's terms were combined."""

DEFAULT_TERMS: TermsChoice = "sum"
DEFAULT_PICK: TermsPick = "longest"

_MONTHS_PER = {"y": Decimal(12), "m": Decimal(1), "w": Decimal(12) / 52, "d": Decimal(12) / 365}
_WORDS = {
    "monthly": Decimal(1),
    "month": Decimal(1),
    "quarterly": Decimal(3),
    "quarter": Decimal(3),
    "semiannual": Decimal(6),
    "semiannually": Decimal(6),
    "halfyearly": Decimal(6),
    "biannual": Decimal(6),
    "annual": Decimal(12),
    "annually": Decimal(12),
    "yearly": Decimal(12),
    "year": Decimal(12),
    "biennial": Decimal(24),
    "triennial": Decimal(36),
}
_UNKNOWN_LENGTH = Decimal("Infinity")
_ISO = re.compile(r"^p(\d+)([ymwd])$")
_COUNTED = re.compile(r"^(\d+)\s*(years?|yrs?|y|months?|mos?|m|weeks?|wks?|w|days?|d)$")


def term_months(term: str | None) -> Decimal | None:
    """How long a term is, in months, when its text says so: ``monthly``, ``annual``,
    ``P1Y``, ``12 months``, ``3 years``, ``1y``; None for text that does not."""
    text = (term or "").strip().lower()
    word = re.sub(r"[\s_\-]", "", text)
    if word in _WORDS:
        return _WORDS[word]
    match = _ISO.match(word) or _COUNTED.match(text)
    if match is None:
        return None
    return Decimal(match.group(1)) * _MONTHS_PER[match.group(2)[0]]


def service_label(service_ref: str, term: str) -> str:
    """A service as a result or report line names it: "MAIL", or "MAIL (annual)" for the
    record of a term kept apart."""
    return f"{service_ref} ({term})" if term else service_ref


def combine_terms(
    subscriptions: Iterable[DesiredSubscription],
    rules: RuleBook = EMPTY_RULE_BOOK,
    ledger: Iterable[LedgerRecord] = (),
    *,
    choice: TermsChoice | None = None,
) -> list[DesiredSubscription]:
    """What is billed of each account × service: its subscriptions combined per the terms
    rule, in the order the pairs first appear.

    ``ledger`` (the rows of the target being planned) says which records the pair has:
    its one record (``apart_term`` ``""``) and records of terms kept apart, so a change of
    the rule moves billing onto a record the pair already has (``takes_over``) instead of
    creating another. ``choice`` overrides every pair's rule (tests).
    """
    pairs: defaultdict[tuple[str, str], list[DesiredSubscription]] = defaultdict(list)
    for sub in subscriptions:
        pairs[sub.key].append(sub)
    rows: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
    for record in ledger:
        rows[(record.account_ref, record.service_ref)].add(record.apart_term)
    combined: list[DesiredSubscription] = []
    for key, subs in pairs.items():
        kept = rows.get(key, set())
        if len(subs) == 1:
            combined.append(_single(subs[0], kept))
            continue
        if len({sub.term for sub in subs}) < len(subs):
            # One term twice is not several terms: the planner refuses the second.
            combined.extend(subs)
            continue
        rule = rules.for_pair(*key)
        chosen = choice or rule.terms or DEFAULT_TERMS
        scope = None if choice or rule.terms is None else rule.scope_of("terms")
        ordered = sorted(subs, key=_term_order)
        if chosen == "apart":
            combined.extend(_apart(ordered, kept, scope))
            continue
        if chosen == "sum":
            one = _summed(ordered, scope)
            why = f"billed on the pair's one record now ({_the_rule(scope)} sums the terms)"
        else:
            pick = rule.terms_pick or DEFAULT_PICK
            pick_scope = scope if rule.terms_pick is None else rule.scope_of("terms_pick")
            one = _picked(ordered, pick, pick_scope)
            why = (
                f"not picked: {_the_rule(pick_scope)} picks the {_PICK_WORDS[pick]}, "
                f"{one.term or 'no term'}"
            )
        one = _one_record(one, kept)
        combined.append(one)
        used = one.apart_term if one.takes_over is None else one.takes_over
        others = [term for term in kept if term != used]
        combined.extend(_released(one, others, ordered, why))
    return combined


def _single(sub: DesiredSubscription, kept: Collection[str]) -> DesiredSubscription:
    """A pair's only subscription: as it came, unless its term was kept apart before (it
    then stays on the record of its own)."""
    if sub.term and sub.term in kept:
        return replace(sub, apart_term=sub.term)
    return sub


def _one_record(sub: DesiredSubscription, kept: Collection[str]) -> DesiredSubscription:
    """Summed or picked: the pair's one record; when its terms were kept apart until now,
    the record of the term billed (or the first) becomes it."""
    if "" in kept or not kept:
        return sub
    term = sub.term if sub.term in kept else min(kept)
    return replace(sub, takes_over=term)


def _released(
    like: DesiredSubscription,
    terms: Iterable[str],
    subs: Iterable[DesiredSubscription],
    why: str,
) -> list[DesiredSubscription]:
    """Records of the pair no term is billed on any more (the terms rule changed): each
    goes to 0 (as an ended subscription does), so no term is billed twice. Only the
    quantity (and status) is written; prices and dates stay as they are.

    Each chain says what happened to the record's term, never that the subscription was
    cancelled when it was not: ``why`` (billed on the pair's one record now, not picked,
    every term on its own record), or that the vendor no longer sends the term, or that
    the term ended. The quantity is the term's as the vendor sends it (the
    reconciliation's vendor count), 0 when it sends none."""
    sent = {sub.term or "": sub for sub in subs}
    released: list[DesiredSubscription] = []
    for term in sorted(terms):
        vendor = sent.get(term) if term else None
        if vendor is not None and _unlisted(vendor):
            vendor = None  # a snapshot left it out: the vendor no longer sends it
        steps: tuple[ExplainStep, ...]
        if not term:
            steps = (ExplainStep(RELEASED_STEP, f"the pair's one record: {why}", Decimal(0)),)
        elif vendor is None:
            steps = (ExplainStep(RELEASED_STEP, f"term {term} {NO_LONGER_SENT}", Decimal(0)),)
        else:
            stop = f"term {term} {why}"
            if _ended(vendor):
                stop = f"term {term} {vendor.status}: billing stops"
            if vendor.account_status == "cancelled":
                stop = "account cancelled: billing stops"
            steps = (
                ExplainStep(TERMS_STEP, f"vendor {_label(vendor)}", vendor.quantity),
                ExplainStep(RELEASED_STEP, stop, Decimal(0)),
            )
        released.append(
            replace(
                like,
                apart_term=term,
                takes_over=None,
                quantity=vendor.quantity if vendor is not None else Decimal(0),
                status="cancelled",
                start_date=None,
                end_date=None,
                billing_cycle=None,
                term=None,
                cost_price=None,
                customer_price=None,
                explain=steps,
            )
        )
    return released


def _term_order(sub: DesiredSubscription) -> tuple[str, date, Decimal]:
    return (sub.term or "", sub.start_date or date.min, sub.quantity)


def _ended(sub: DesiredSubscription) -> bool:
    return sub.status in ENDED_SUBSCRIPTION_STATUSES


def _unlisted(sub: DesiredSubscription) -> bool:
    """A snapshot left it out: the vendor no longer sends it."""
    return sub.unlisted and _ended(sub)


def _end(sub: DesiredSubscription) -> str:
    """How an ended term ended, as its label says it: "cancelled", "no longer sent" (a
    snapshot left it out); "" while it runs."""
    if not _ended(sub):
        return ""
    return "no longer sent" if sub.unlisted else sub.status


def _label(sub: DesiredSubscription) -> str:
    """A term as the explain text names it: "annual 5", "monthly 10 (cancelled)",
    "monthly 10 (no longer sent)"."""
    text = f"{sub.term or 'no term'} {plain_number(sub.quantity)}"
    return f"{text} ({_end(sub)})" if _ended(sub) else text


def _vendor(sub: DesiredSubscription, how: str) -> str:
    """One term as the chain's first link says it: "annual 5 (kept apart from monthly)",
    "monthly 10 (cancelled, kept apart from annual)"."""
    ended = f"{_end(sub)}, " if _ended(sub) else ""
    return f"{sub.term or 'no term'} {plain_number(sub.quantity)} ({ended}{how})"


def _by(scope: RuleScope | None) -> str:
    """Where the terms rule was set, as the explain says it: " by the service rule"; ""
    for the default (sum)."""
    return f" by the {scope_label(scope)} rule" if scope is not None else ""


def _the_rule(scope: RuleScope | None) -> str:
    return f"the {scope_label(scope)} rule" if scope is not None else "the terms rule"


def _step(text: str, quantity: Decimal, scope: RuleScope | None) -> tuple[ExplainStep, ...]:
    """The chain's first link: the vendor's count as the terms rule bills it, and how."""
    return (ExplainStep(TERMS_STEP, f"vendor {text}", quantity, scope),)


def _same(values: Iterable[str | None]) -> str | None:
    """The one value every term has, else None (the field is then not owned)."""
    found = set(values)
    return found.pop() if len(found) == 1 else None


def _total(values: list[Decimal | None]) -> Decimal | None:
    """Totals added up; None when a term has none (a partial sum would be a wrong price)."""
    if any(value is None for value in values):
        return None
    return sum((value for value in values if value is not None), Decimal(0))


def _summed(subs: list[DesiredSubscription], scope: RuleScope | None) -> DesiredSubscription:
    billed = [sub for sub in subs if not _ended(sub)]
    counted = billed or subs  # every term ended: billing stops, as for one ended term
    quantity = sum((sub.quantity for sub in counted), Decimal(0))
    status: SubscriptionStatus = _combined_status(billed) if billed else counted[0].status
    ends = [sub.end_date for sub in counted]
    starts = [sub.start_date for sub in counted if sub.start_date is not None]
    terms = " + ".join(_label(sub) for sub in subs)
    text = f"{plain_number(quantity)} ({terms}, summed{_by(scope)})"
    return replace(
        subs[0],
        quantity=quantity,
        start_date=min(starts) if starts else None,
        end_date=None if None in ends else max(end for end in ends if end is not None),
        billing_cycle=_same(sub.billing_cycle for sub in counted),
        term=_same(sub.term for sub in counted),
        status=status,
        cost_price=_total([sub.cost_price for sub in counted]),
        customer_price=_total([sub.customer_price for sub in counted]),
        explain=_step(text, quantity, scope),
    )


def _combined_status(billed: list[DesiredSubscription]) -> SubscriptionStatus:
    statuses = {sub.status for sub in billed}
    return "active" if "active" in statuses else billed[0].status


def _pick_key(pick: TermsPick) -> Callable[[DesiredSubscription], tuple[Decimal, str]]:
    """Sort key of the term ``pick`` keeps (the smallest); ties by term text."""

    def key(sub: DesiredSubscription) -> tuple[Decimal, str]:
        months = term_months(sub.term)
        if pick == "largest":
            return (-sub.quantity, sub.term or "")
        if months is None:
            # A term whose length is unknown is never the longest or the shortest.
            return (_UNKNOWN_LENGTH, sub.term or "")
        return (-months if pick == "longest" else months, sub.term or "")

    return key


_PICK_WORDS: Mapping[TermsPick, str] = {
    "longest": "longest term",
    "shortest": "shortest term",
    "largest": "largest quantity",
}


def _picked(
    subs: list[DesiredSubscription], pick: TermsPick, scope: RuleScope | None
) -> DesiredSubscription:
    # An ended term is picked only when every term ended (billing then stops).
    candidates = [sub for sub in subs if not _ended(sub)] or subs
    chosen = min(candidates, key=_pick_key(pick))
    dropped = ", ".join(_label(sub) for sub in subs if sub is not chosen)
    text = _vendor(chosen, f"{_PICK_WORDS[pick]}, picked{_by(scope)}; {dropped} not billed")
    return replace(chosen, explain=_step(text, chosen.quantity, scope))


def _apart(
    subs: list[DesiredSubscription], kept: Collection[str], scope: RuleScope | None
) -> list[DesiredSubscription]:
    """One subscription per term, each on a record of its own (see the module)."""
    terms = [sub.term or "" for sub in subs]
    # The pair's one record, if it has one, goes on billing the first term without a
    # record of its own (a blank term keeps it anyway), and is kept under that term.
    keeper: DesiredSubscription | None = None
    if "" in kept and "" not in terms:
        without = [sub for sub in subs if (sub.term or "") not in kept]
        if without:
            keeper = min(without, key=lambda sub: (sub.start_date or date.min, sub.term or ""))
    result: list[DesiredSubscription] = []
    if "" in kept and "" not in terms and keeper is None:
        # Every term has a record of its own: the pair's one record bills none of them.
        why = f"{_the_rule(scope)} keeps every term on a record of its own"
        result.extend(_released(subs[0], [""], subs, why))
    # A term the vendor no longer sends is kept apart from nothing: only terms still sent
    # are named as the ones a term is kept apart from.
    sent = [sub for sub in subs if not _unlisted(sub)]
    for sub in subs:
        others = ", ".join(other.term or "no term" for other in sent if other is not sub)
        apart = f"kept apart from {others}" if others else "kept apart"
        text = _vendor(sub, f"{apart}{_by(scope)}")
        result.append(
            replace(
                sub,
                apart_term=sub.term or "",
                takes_over="" if sub is keeper else None,
                explain=_step(text, sub.quantity, scope),
            )
        )
    return result


__all__ = [
    "DEFAULT_PICK",
    "DEFAULT_TERMS",
    "TERMS_STEP",
    "combine_terms",
    "service_label",
    "term_months",
]
