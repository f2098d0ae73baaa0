"""Quantity rules: which count is billed, who owns the price, and why.

Pure and deterministic. A workspace keeps rules at four scopes (the workspace default, a
service mapping, an account, one account × service); :class:`RuleBook` holds those in force
on one date and :meth:`RuleBook.for_pair` resolves them for one pair, field by field, keeping
where each value came from. :func:`rule_quantity` applies them to the vendor's quantity in a
fixed order, each step explained:

    vendor quantity → (terms, combined before the planner) → minus free (never below 0)
    → rounding (to a whole number, or to a multiple of N) → minimum → ceiling check

An ended subscription (or a cancelled account) still goes to 0: the minimum does not apply.
A quantity above the ceiling is held for review, never written without approval. The rules
are written out for billing admins in ``docs/sync-rules.md``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any, Literal, get_args

from halosync.domain.halo_values import halo_decimal, json_value
from halosync.domain.models import (
    RELEASED_STEP,
    RULE_SCOPES,
    ExplainStep,
    RuleScope,
    chain_text,
    plain_number,
)
from halosync.domain.shown import shown
from halosync.domain.text import text_problem

Rounding = Literal["up", "down", "nearest"]
TermsChoice = Literal["sum", "apart", "pick"]
TermsPick = Literal["longest", "shortest", "largest"]
"""Which subscription "pick" keeps: the longest or shortest term, or the largest quantity
(ties broken by the term's text, so plans are deterministic)."""
PriceOwner = Literal["halosync", "halo", "markup"]
"""Who owns a service's prices: halosync (the workspace's price mode), Halo (never sent,
never compared) or a markup rule (cost from the vendor, sell from the rule)."""

ROUNDINGS: tuple[Rounding, ...] = get_args(Rounding)
TERMS_CHOICES: tuple[TermsChoice, ...] = get_args(TermsChoice)
TERMS_PICKS: tuple[TermsPick, ...] = get_args(TermsPick)
PRICE_OWNERS: tuple[PriceOwner, ...] = get_args(PriceOwner)

MAX_RULE_COUNT = 2**31 - 1
"""The largest count a rule may hold (a Halo licence count is an int32)."""

AMOUNT_PLACES = 4
MAX_RULE_AMOUNT = Decimal(10) ** 14
"""A markup percentage or fixed price is kept as money is (4 decimal places, 14 digits
before the point: ``Numeric(18, 4)``), so what is stored is exactly what was set."""

_ROUNDING_MODES: dict[Rounding, str] = {
    "up": ROUND_CEILING,
    "down": ROUND_FLOOR,
    "nearest": ROUND_HALF_UP,
}
_SCOPE_WORDS: dict[RuleScope, str] = {
    "workspace": "workspace",
    "service": "service",
    "account": "account",
    "account_service": "account \u00d7 service",
}


@dataclass(frozen=True, slots=True)
class QuantityRule:
    """The rule set at one scope; None = not set here, the wider scope's value applies."""

    minimum: int | None = None
    """Bill at least this many (unless the subscription ended)."""
    free: int | None = None
    """The first N are not billed."""
    ceiling: int | None = None
    """Never write more than this without a person's approval."""
    rounding: Rounding | None = None
    """How a fractional count becomes whole (or a multiple of ``multiple``)."""
    multiple: int | None = None
    """Round to a multiple of this (packs of 5); 1 when not set."""
    terms: TermsChoice | None = None
    terms_pick: TermsPick | None = None
    price_owner: PriceOwner | None = None
    markup_percent: Decimal | None = None
    """With ``price_owner`` markup: sell = cost × (1 + p/100) per unit."""
    fixed_price: Decimal | None = None
    """With ``price_owner`` markup: sell = this per unit."""
    excluded: str | None = None
    """Set = excluded from billing; the text is the reason."""
    included: bool | None = None
    """True = billed even though a broader scope excludes it: an account over its
    services' exclusions, one account × service over its account's or its service's."""

    @property
    def is_clear(self) -> bool:
        """True when nothing is set at this scope."""
        return all(getattr(self, name) is None for name in RULE_FIELDS)


RULE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(QuantityRule))
"""The rule's fields, in declaration order (the store's columns, the forms' inputs)."""
COUNT_FIELDS = ("minimum", "free", "ceiling", "multiple")
_MARKUP_FIELDS = ("markup_percent", "fixed_price")
EXCLUSION_FIELDS = ("excluded", "included")
"""The fields that say whether a pair is billed at all, resolved account × service, else
account, else service: the most specific scope that sets either decides."""
ACCOUNT_FIELDS = EXCLUSION_FIELDS
"""The only fields an account-scope rule may set: an account is excluded, included over its
services' exclusions, or neither; counts and prices are per service."""
INCLUDABLE_SCOPES: tuple[RuleScope, ...] = ("account", "account_service")
"""The scopes that have a broader exclusion to override (a service's only is the
workspace's, which cannot exclude)."""


@dataclass(frozen=True, slots=True)
class EffectiveRule(QuantityRule):
    """The rule of one account × service: each field from the most specific scope that sets
    it, and ``scopes`` saying which (for the explain text)."""

    overrides: str | None = None
    """The reason of the broader exclusion an include overrides (``scope_of("overrides")``
    says whose); None when nothing is overridden."""
    scopes: Mapping[str, RuleScope] = field(default_factory=dict)

    def scope_of(self, name: str) -> RuleScope | None:
        """Where the value of field ``name`` was set, None when no scope sets it."""
        return self.scopes.get(name)


EMPTY_EFFECTIVE_RULE = EffectiveRule()


@dataclass(frozen=True, slots=True)
class RuleBook:
    """The rules of one workspace in force on one date, indexed by scope keys."""

    workspace: QuantityRule = QuantityRule()
    services: Mapping[str, QuantityRule] = field(default_factory=dict)
    """By service_ref."""
    accounts: Mapping[str, QuantityRule] = field(default_factory=dict)
    """By account_ref (only ``excluded`` is set there)."""
    pairs: Mapping[tuple[str, str], QuantityRule] = field(default_factory=dict)
    """By (account_ref, service_ref)."""
    _workspace_clear: bool = field(init=False, repr=False, compare=False)
    _resolved: dict[tuple[int, int], EffectiveRule] = field(init=False, repr=False, compare=False)
    """Effective rules of pairs without a rule of their own, by (account rule, service rule):
    a sync resolves the same few combinations for every pair."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_workspace_clear", self.workspace.is_clear)
        object.__setattr__(self, "_resolved", {})

    @property
    def is_empty(self) -> bool:
        """No rule anywhere: plans are exactly as without rules."""
        return (
            self.workspace.is_clear
            and all(r.is_clear for r in self.services.values())
            and all(r.is_clear for r in self.accounts.values())
            and all(r.is_clear for r in self.pairs.values())
        )

    def for_pair(self, account_ref: str, service_ref: str) -> EffectiveRule:
        """The effective rule of one pair.

        Counts, rounding, terms and the price owner: account × service, else service, else
        workspace. Excluded or included: the most specific of account × service, account
        and service that sets either (an include overrides the broader exclusion, named in
        ``overrides``). The markup's
        amount (``markup_percent`` or ``fixed_price``) comes whole from the most specific
        scope that sets either, so a pair never ends up with both.
        """
        pair = self.pairs.get((account_ref, service_ref)) if self.pairs else None
        service = self.services.get(service_ref) if self.services else None
        account = self.accounts.get(account_ref) if self.accounts else None
        if pair is not None:
            return self._resolve(pair, account, service)
        if service is None and account is None and self._workspace_clear:
            return EMPTY_EFFECTIVE_RULE
        key = (id(account), id(service))
        found = self._resolved.get(key)
        if found is None:
            found = self._resolved[key] = self._resolve(None, account, service)
        return found

    def _resolve(
        self,
        pair: QuantityRule | None,
        account: QuantityRule | None,
        service: QuantityRule | None,
    ) -> EffectiveRule:
        usual = _present(
            ("account_service", pair), ("service", service), ("workspace", self.workspace)
        )
        exclusion = _present(("account_service", pair), ("account", account), ("service", service))
        values: dict[str, object] = {}
        scopes: dict[str, RuleScope] = {}
        for name in RULE_FIELDS:
            if name in _MARKUP_FIELDS or name in EXCLUSION_FIELDS:
                continue
            for scope, rule in usual:
                value = getattr(rule, name)
                if value is not None:
                    values[name] = value
                    scopes[name] = scope
                    break
        _resolve_exclusion(exclusion, values, scopes)
        for scope, rule in usual:
            if any(getattr(rule, name) is not None for name in _MARKUP_FIELDS):
                for name in _MARKUP_FIELDS:
                    values[name] = getattr(rule, name)
                    if values[name] is not None:
                        scopes[name] = scope
                break
        return EffectiveRule(**values, scopes=scopes)  # type: ignore[arg-type]


def _resolve_exclusion(
    exclusion: list[tuple[RuleScope, QuantityRule]],
    values: dict[str, object],
    scopes: dict[str, RuleScope],
) -> None:
    """Excluded or included, from the most specific scope that says either; an include
    names the nearest broader exclusion it overrides."""
    for at, (scope, rule) in enumerate(exclusion):
        if rule.excluded is not None:
            values["excluded"], scopes["excluded"] = rule.excluded, scope
            return
        if rule.included:
            values["included"], scopes["included"] = True, scope
            broader = next(((s, r) for s, r in exclusion[at + 1 :] if r.excluded is not None), None)
            if broader is not None:
                values["overrides"], scopes["overrides"] = broader[1].excluded, broader[0]
            return


def _present(
    *scoped: tuple[RuleScope, QuantityRule | None],
) -> list[tuple[RuleScope, QuantityRule]]:
    """The scopes that hold a rule, most specific first."""
    return [(scope, rule) for scope, rule in scoped if rule is not None]


EMPTY_RULE_BOOK = RuleBook()
"""No rules: the planner plans exactly as it did before rules existed."""


def scope_label(scope: RuleScope | None) -> str:
    """How a scope reads in the explain text and in errors: "service", "account × service"."""
    return _SCOPE_WORDS[scope] if scope is not None else "vendor"


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def rule_problems(scope: str, rule: QuantityRule) -> list[str]:
    """What is wrong with ``rule`` set at ``scope``, each naming the field and why; [] = fine.

    The one validator every entry point (CLI, REST, UI, store) calls before saving a rule.
    Checks across scopes (a ceiling below the minimum set elsewhere) are
    :func:`rule_book_problems`'.
    """
    if scope not in RULE_SCOPES:
        return [f"scope: '{scope}' is not one of {', '.join(RULE_SCOPES)}"]
    problems: list[str] = []
    if scope == "account":
        for name in RULE_FIELDS:
            if name not in ACCOUNT_FIELDS and getattr(rule, name) is not None:
                problems.append(
                    f"{name}: an account's rule can only exclude it from billing; set "
                    f"{name} for a service or for one account \u00d7 service"
                )
    for name in COUNT_FIELDS:
        value = getattr(rule, name)
        if value is None:
            continue
        least = 1 if name == "multiple" else 0
        if not _is_count(value) or not least <= value <= MAX_RULE_COUNT:
            problems.append(
                f"{name}: must be a whole number from {least} to {MAX_RULE_COUNT} "
                f"(got {shown(value)})"
            )
    for name, allowed in (
        ("rounding", ROUNDINGS),
        ("terms", TERMS_CHOICES),
        ("terms_pick", TERMS_PICKS),
        ("price_owner", PRICE_OWNERS),
    ):
        value = getattr(rule, name)
        if value is not None and value not in allowed:
            problems.append(f"{name}: must be one of {', '.join(allowed)} (got {shown(value)})")
    if (
        _is_count(rule.minimum)
        and _is_count(rule.ceiling)
        and rule.ceiling is not None
        and rule.minimum is not None
        and rule.ceiling < rule.minimum
    ):
        problems.append(
            f"ceiling: {rule.ceiling} is below the minimum {rule.minimum}; every write would "
            "wait for review"
        )
    for name in _MARKUP_FIELDS:
        value = getattr(rule, name)
        if value is None:
            continue
        if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
            problems.append(f"{name}: must be a number of 0 or more (got {shown(value)})")
        elif value >= MAX_RULE_AMOUNT or value != value.quantize(Decimal(1).scaleb(-AMOUNT_PLACES)):
            problems.append(
                f"{name}: must be below {MAX_RULE_AMOUNT:,} with at most {AMOUNT_PLACES} "
                f"decimal places (got {shown(value)})"
            )
        elif rule.price_owner not in (None, "markup"):
            problems.append(
                f"{name}: applies only when price_owner is markup (it is {rule.price_owner})"
            )
    if rule.markup_percent is not None and rule.fixed_price is not None:
        problems.append(
            "markup_percent: give either markup_percent or fixed_price, not both (fixed_price "
            "is set too)"
        )
    if rule.price_owner == "markup" and rule.markup_percent is None and rule.fixed_price is None:
        problems.append(
            "price_owner: markup needs markup_percent (sell = cost + p %) or fixed_price "
            "(sell per unit)"
        )
    if rule.excluded is not None and (
        not isinstance(rule.excluded, str) or not rule.excluded.strip()
    ):
        problems.append("excluded: give the reason the pair is not billed")
    elif rule.excluded is not None and (problem := text_problem(rule.excluded)):
        problems.append(f"excluded: the reason {problem}")
    if rule.excluded is not None and scope == "workspace":
        problems.append(
            "excluded: a workspace cannot be excluded; exclude an account, a service or one "
            "account \u00d7 service"
        )
    problems += _include_problems(scope, rule)
    return problems


def _include_problems(scope: str, rule: QuantityRule) -> list[str]:
    if rule.included is None:
        return []
    if rule.included is not True:
        return [
            f"included: true bills it over a broader exclusion; leave it unset otherwise "
            f"(got {shown(rule.included)})"
        ]
    if scope not in INCLUDABLE_SCOPES:
        return [
            f"included: a {scope}'s rule has no broader exclusion to override; include an "
            "account (over its services' exclusions) or one account \u00d7 service"
        ]
    if rule.excluded is not None:
        return ["included: a scope is either excluded or included over a broader exclusion"]
    return []


def markup_unused(rule: QuantityRule, price_mode: str) -> str | None:
    """Why a markup rule sends nothing: the workspace's price mode is off (quantities only),
    and the price mode stays the one switch that starts sending prices (changing it is
    confirmed). None when the rule sets no markup or prices are on."""
    if price_mode != "off":
        return None
    if rule.price_owner != "markup" and rule.markup_percent is None and rule.fixed_price is None:
        return None
    return (
        "the markup sends no price while the workspace's price mode is off (quantities "
        "only); it applies once the price mode is totals or unit (Settings, or halosync "
        "settings set --prices totals)"
    )


def markup_ignored(rule: EffectiveRule) -> str | None:
    """Why an effective rule's markup amount does nothing: its prices are owned by
    halosync or HaloPSA, not by the markup ("prices are owned by halosync (the default),
    not markup"). None when it has no amount or the markup owns the prices."""
    if rule.price_owner == "markup" or (rule.markup_percent is None and rule.fixed_price is None):
        return None
    owner = rule.price_owner or "halosync"
    where = scope_label(rule.scope_of("price_owner")) if rule.price_owner else "the default"
    return f"prices are owned by {owner} ({where}), not markup"


def _markup_notice(rule: EffectiveRule) -> str | None:
    """:func:`markup_ignored` as a sentence naming the amount and what to do."""
    ignored = markup_ignored(rule)
    if ignored is None:
        return None
    if rule.markup_percent is not None:
        amount = f"markup {plain_number(rule.markup_percent)} %"
        scope = rule.scope_of("markup_percent")
    else:
        amount = f"fixed price {plain_number(rule.fixed_price or 0)}"
        scope = rule.scope_of("fixed_price")
    return (
        f"the {amount} ({scope_label(scope)}) does not apply: {ignored}; set the price "
        "owner to markup (--price-owner markup) to apply it"
    )


def rule_book_notices(book: RuleBook) -> list[str]:
    """What the rules as they combine set but do not do (a markup amount whose prices
    another owner keeps), each prefixed by where, as :func:`rule_book_problems` places."""
    return [
        f"{where}: {ignored}"
        for where, rule in _places(book)
        if (ignored := _markup_notice(rule)) is not None
    ]


def effective_problems(rule: EffectiveRule) -> list[str]:
    """What is wrong with an effective rule as the scopes combine (a ceiling below a
    minimum set at another scope, rounding to a multiple with no rounding, a markup with
    no amount)."""
    problems: list[str] = []
    if rule.ceiling is not None and rule.minimum is not None and rule.ceiling < rule.minimum:
        problems.append(
            f"ceiling: {rule.ceiling} ({scope_label(rule.scope_of('ceiling'))}) is below the "
            f"minimum {rule.minimum} ({scope_label(rule.scope_of('minimum'))})"
        )
    if rule.multiple not in (None, 1) and rule.rounding is None:
        problems.append(
            f"multiple: rounding to a multiple of {rule.multiple} "
            f"({scope_label(rule.scope_of('multiple'))}) needs rounding (up, down or nearest)"
        )
    if rule.price_owner == "markup" and rule.markup_percent is None and rule.fixed_price is None:
        problems.append(
            f"price_owner: markup ({scope_label(rule.scope_of('price_owner'))}) needs "
            "markup_percent or fixed_price"
        )
    return problems


def rule_book_problems(book: RuleBook) -> list[str]:
    """What is wrong with the rules as they combine: the workspace default, every service
    and every account × service, each problem prefixed by where."""
    return [
        f"{where}: {problem}"
        for where, rule in _places(book)
        for problem in effective_problems(rule)
    ]


def _places(book: RuleBook) -> list[tuple[str, EffectiveRule]]:
    """The effective rules a rule book sets: the workspace default, every service and
    every account × service, each with where it is."""
    places: list[tuple[str, EffectiveRule]] = [("workspace", book.for_pair("", ""))]
    places += [(f"service {ref}", book.for_pair("", ref)) for ref in sorted(book.services)]
    places += [
        (f"account {account} \u00d7 service {service}", book.for_pair(account, service))
        for account, service in sorted(book.pairs)
    ]
    return places


@dataclass(frozen=True, slots=True)
class Ceiling:
    """A ceiling a ruled quantity went above, and where it was set."""

    limit: int
    scope: RuleScope

    @property
    def reason(self) -> str:
        """The review queue's reason: "above the ceiling of 50 (service)"."""
        return f"above the ceiling of {self.limit} ({scope_label(self.scope)})"


@dataclass(frozen=True, slots=True)
class RuledQuantity:
    """The quantity to bill after the rules, the chain that produced it, and the ceiling it
    is above (then the write waits for review)."""

    quantity: Decimal
    steps: tuple[ExplainStep, ...]
    above_ceiling: Ceiling | None = None

    @property
    def text(self) -> str:
        """The chain as one line ("vendor 23 → minus 3 free (service) → 20")."""
        return chain_text(self.steps)


@functools.lru_cache(maxsize=4096)
def vendor_step(quantity: Decimal) -> ExplainStep:
    """The first link of every chain: the vendor's own quantity.

    Cached: a sync plans the same few counts for most pairs, and formatting a Decimal was
    most of the cost the explain added to a plan (``bench/planner_rules.py``)."""
    return ExplainStep("vendor", f"vendor {plain_number(quantity)}", quantity)


@functools.lru_cache(maxsize=4096)
def _as_sent(vendor: Decimal) -> RuledQuantity:
    """The vendor's quantity with no rule: one shared result per count, since a plan of
    100k pairs otherwise allocates (and the garbage collector walks) one chain per pair."""
    return RuledQuantity(vendor, (vendor_step(vendor),))


def rule_quantity(
    vendor: Decimal,
    rule: EffectiveRule,
    *,
    ended: str | None = None,
    steps: tuple[ExplainStep, ...] = (),
) -> RuledQuantity:
    """Apply ``rule`` to the vendor's (finite, non-negative) quantity.

    ``ended`` says why billing stops (the subscription ended, the account was cancelled):
    then the quantity is 0 whatever the rules. ``steps`` are the links made before the
    planner (terms); without them the chain starts at "vendor N". A step is added only
    where a rule changes the quantity, so a pair without rules reads "vendor 23 → 23".
    """
    if rule is EMPTY_EFFECTIVE_RULE and ended is None and not steps:
        return _as_sent(vendor)
    chain = list(steps) if steps else [vendor_step(vendor)]
    if ended is not None and chain[-1].rule == RELEASED_STEP:
        # A record the terms rule bills nothing on: its chain already says why.
        return RuledQuantity(Decimal(0), tuple(chain))
    if rule.overrides is not None:
        chain.append(
            ExplainStep(
                "included", inclusion_text(rule), chain[-1].quantity, rule.scope_of("included")
            )
        )
    if ended is not None:
        why = f"{ended}: billing stops"
        if rule.minimum:
            why += f" (the minimum {rule.minimum} does not apply)"
        chain.append(ExplainStep("ended", why, Decimal(0)))
        return RuledQuantity(Decimal(0), tuple(chain))
    quantity = vendor
    if rule.free and quantity > 0:
        quantity = max(Decimal(0), quantity - rule.free)
        chain.append(
            ExplainStep(
                "free",
                f"minus {rule.free} free ({scope_label(rule.scope_of('free'))})",
                quantity,
                rule.scope_of("free"),
            )
        )
    if rule.rounding is not None:
        multiple = rule.multiple or 1
        rounded = (quantity / multiple).to_integral_value(_ROUNDING_MODES[rule.rounding]) * multiple
        if rounded != quantity:
            quantity = rounded
            scope = rule.scope_of("rounding")
            to = f" to a multiple of {multiple}" if multiple > 1 else ""
            chain.append(
                ExplainStep(
                    "rounding",
                    f"rounded {rule.rounding}{to} ({scope_label(scope)})",
                    quantity,
                    scope,
                )
            )
    if rule.minimum is not None and quantity < rule.minimum:
        quantity = Decimal(rule.minimum)
        scope = rule.scope_of("minimum")
        chain.append(
            ExplainStep(
                "minimum", f"minimum {rule.minimum} ({scope_label(scope)})", quantity, scope
            )
        )
    above: Ceiling | None = None
    if rule.ceiling is not None and quantity > rule.ceiling:
        above = Ceiling(rule.ceiling, rule.scope_of("ceiling") or "workspace")
        chain.append(
            ExplainStep(CEILING_STEP, f"{above.reason}{_CEILING_HELD}", quantity, above.scope)
        )
    return RuledQuantity(quantity, tuple(chain), above)


CEILING_STEP = "ceiling"
"""The ``rule`` of the step of a quantity above a ceiling."""
_CEILING_HELD = ": held for review"
_CEILING_APPROVED = ": approved under Review"
_CEILING_STANDS = ": HaloPSA already holds it, not changed"
_CEILING_REFUSED = (
    ": not held for review, since nothing is written for this pair until its reason is fixed"
)


def _ceiling_says(steps: tuple[ExplainStep, ...], outcome: str) -> tuple[ExplainStep, ...]:
    """``steps`` with the held ceiling step saying ``outcome`` instead of "held for review"."""
    return tuple(
        replace(step, text=step.text.removesuffix(_CEILING_HELD) + outcome)
        if step.rule == CEILING_STEP and step.text.endswith(_CEILING_HELD)
        else step
        for step in steps
    )


def approved_chain(steps: tuple[ExplainStep, ...]) -> tuple[ExplainStep, ...]:
    """The chain of a change a reviewer approved (it is written): its ceiling step says it
    was approved, so the chain of a written change never says "held for review"."""
    return _ceiling_says(steps, _CEILING_APPROVED)


def standing_chain(steps: tuple[ExplainStep, ...]) -> tuple[ExplainStep, ...]:
    """The chain of a change that leaves a count above the ceiling as HaloPSA holds it
    (approved earlier, or set there): nothing waits for review, and the step says so."""
    return _ceiling_says(steps, _CEILING_STANDS)


def refused_chain(steps: tuple[ExplainStep, ...]) -> tuple[ExplainStep, ...]:
    """The chain of a pair refused for another reason (a skip or a failure: nothing is
    written, so nothing waits for review): its ceiling step says so. ``steps`` itself when
    it has no ceiling step saying "held for review"."""
    if not any(step.rule == CEILING_STEP and step.text.endswith(_CEILING_HELD) for step in steps):
        return steps
    return _ceiling_says(steps, _CEILING_REFUSED)


def excluded_step(rule: EffectiveRule, quantity: Decimal) -> ExplainStep:
    """The last link of an excluded pair's chain: nothing is billed, and why."""
    scope = rule.scope_of("excluded")
    return ExplainStep(
        "excluded",
        f"excluded from billing: {rule.excluded} ({scope_label(scope)})",
        quantity,
        scope,
    )


def excluded_chain(
    vendor: Decimal, rule: EffectiveRule, steps: tuple[ExplainStep, ...] = ()
) -> tuple[ExplainStep, ...]:
    """An excluded pair's whole chain: the vendor's count (or the ``steps`` made before
    the planner), then the exclusion (the planner's skip, the reconciliation's row)."""
    return (*(steps or (vendor_step(vendor),)), excluded_step(rule, vendor))


def inclusion_text(rule: EffectiveRule) -> str:
    """How an include over a broader exclusion reads: "account excluded (internal), included
    by the account × service rule"; "" when the rule overrides nothing."""
    if rule.overrides is None:
        return ""
    return (
        f"{scope_label(rule.scope_of('overrides'))} excluded ({rule.overrides}), included by "
        f"the {scope_label(rule.scope_of('included'))} rule"
    )


def excluded_reason(rule: EffectiveRule) -> str:
    """The skip's reason for an excluded pair: "excluded from billing: internal (account)"."""
    return f"excluded from billing: {rule.excluded} ({scope_label(rule.scope_of('excluded'))})"


def markup_sell_price(cost: Decimal | None, rule: EffectiveRule) -> tuple[Decimal | None, str]:
    """The per-unit sell price of a markup rule from the per-unit ``cost``, and its explain
    text ("unit price: cost 4 + 25 % markup (service) → 5"); None when the cost is unknown
    and the markup is a percentage."""
    where = scope_label(rule.scope_of("markup_percent") or rule.scope_of("fixed_price"))
    if rule.fixed_price is not None:
        price = halo_decimal(rule.fixed_price)
        return price, f"unit price: fixed {plain_number(price)} ({where})"
    percent = rule.markup_percent or Decimal(0)
    if cost is None:
        return None, (
            f"unit price: no cost from the vendor, so the {plain_number(percent)} % markup "
            f"({where}) gives no price"
        )
    price = halo_decimal(cost * (1 + percent / 100))
    return price, (
        f"unit price: cost {plain_number(cost)} + {plain_number(percent)} % markup ({where}) "
        f"\u2192 {plain_number(price)}"
    )


def explain_document(steps: tuple[ExplainStep, ...]) -> dict[str, Any] | None:
    """The explain chain as JSON (``sync usage --json``, the REST API, a run's results):
    ``{"text": "vendor 23 → 23", "steps": [{"rule", "text", "quantity", "scope"}]}``; None
    for a change without a chain (an unmapped pair)."""
    if not steps:
        return None
    return {
        "text": chain_text(steps),
        "steps": [
            {
                "rule": step.rule,
                "text": step.text,
                "quantity": json_value(step.quantity),
                "scope": step.scope,
            }
            for step in steps
        ],
    }


def price_step(text: str, price: Decimal | None) -> ExplainStep:
    """A price link of the chain (shown after the quantity's)."""
    return ExplainStep("price", text, price if price is not None else Decimal(0))


__all__ = [
    "ACCOUNT_FIELDS",
    "AMOUNT_PLACES",
    "CEILING_STEP",
    "COUNT_FIELDS",
    "EMPTY_EFFECTIVE_RULE",
    "EMPTY_RULE_BOOK",
    "EXCLUSION_FIELDS",
    "INCLUDABLE_SCOPES",
    "MAX_RULE_AMOUNT",
    "MAX_RULE_COUNT",
    "PRICE_OWNERS",
    "ROUNDINGS",
    "RULE_FIELDS",
    "RULE_SCOPES",
    "TERMS_CHOICES",
    "TERMS_PICKS",
    "Ceiling",
    "EffectiveRule",
    "ExplainStep",
    "PriceOwner",
    "QuantityRule",
    "Rounding",
    "RuleBook",
    "RuleScope",
    "RuledQuantity",
    "TermsChoice",
    "TermsPick",
    "approved_chain",
    "chain_text",
    "effective_problems",
    "excluded_chain",
    "excluded_reason",
    "excluded_step",
    "explain_document",
    "inclusion_text",
    "markup_ignored",
    "markup_sell_price",
    "markup_unused",
    "price_step",
    "refused_chain",
    "rule_book_notices",
    "rule_book_problems",
    "rule_problems",
    "rule_quantity",
    "scope_label",
    "standing_chain",
    "vendor_step",
]
