"""The glossary as frozen value types: what the planner reads and what it returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, get_args

AccountStatus = Literal["active", "trial", "suspended", "cancelled"]
SubscriptionStatus = Literal["active", "pending", "suspended", "cancelled", "expired"]
Target = Literal["licence", "invoice_line"]
LineWritePath = Literal["invoice", "update_lines"]
"""How a connection writes recurring-invoice lines: ``invoice`` (read the invoice, post its
whole line set back; the default) or ``update_lines`` (post the changed lines alone to the
lines endpoint). See ``docs/halopsa.md``."""
PriceMode = Literal["off", "totals", "unit"]
Action = Literal["create", "update", "unchanged", "skip", "fail"]
Level = Literal["INFO", "WARNING", "ERROR"]
SkipKind = Literal[
    "trial",
    "not_billed",
    "account_unmapped",
    "service_unmapped",
    "client_gone",
    "client_inactive",
    "invoice_unmapped",
    "invoice_gone",
    "fractional",
]
"""Why a pair is left alone before HaloPSA's records are looked at (domain.skips)."""
LedgerState = Literal["pending", "written"]
Role = Literal["admin", "viewer"]
"""A user's or an API token's role in a workspace: admin may change things, viewer reads."""
RunKind = Literal["customers", "usage"]
"""A sync run pulls Halo's customers or pushes usage."""
RunTrigger = Literal["manual", "schedule", "api"]
RunStatus = Literal["queued", "running", "succeeded", "failed", "halted"]
ReviewStatus = Literal["pending", "approved", "rejected"]
"""A change held for review waits (``pending``) until a reviewer approves or rejects its value."""
FinalRunStatus = Literal["succeeded", "failed", "halted"]
"""How a run ends; ``halted`` when a configuration the user must fix stopped it."""
RuleScope = Literal["workspace", "service", "account", "account_service"]
"""Where a quantity rule is set: the workspace default, a service mapping, an account (only
to exclude it) or one account × service. See ``halosync.domain.rules``."""

ACCOUNT_STATUSES: tuple[AccountStatus, ...] = get_args(AccountStatus)
SUBSCRIPTION_STATUSES: tuple[SubscriptionStatus, ...] = get_args(SubscriptionStatus)
TARGETS: tuple[Target, ...] = get_args(Target)
LINE_WRITE_PATHS: tuple[LineWritePath, ...] = get_args(LineWritePath)
PRICE_MODES: tuple[PriceMode, ...] = get_args(PriceMode)
ACTIONS: tuple[Action, ...] = get_args(Action)
LEVELS: tuple[Level, ...] = get_args(Level)
LEDGER_STATES: tuple[LedgerState, ...] = get_args(LedgerState)
ROLES: tuple[Role, ...] = get_args(Role)
RUN_KINDS: tuple[RunKind, ...] = get_args(RunKind)
RUN_TRIGGERS: tuple[RunTrigger, ...] = get_args(RunTrigger)
RUN_STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)
REVIEW_STATUSES: tuple[ReviewStatus, ...] = get_args(ReviewStatus)
RULE_SCOPES: tuple[RuleScope, ...] = get_args(RuleScope)
ACTIVE_RUN_STATUSES: tuple[RunStatus, ...] = RUN_STATUSES[:2]
"""Queued or running: the statuses the one-sync-per-workspace index covers."""

# Subscription statuses that mean "stop billing": the Halo quantity is driven to 0.
ENDED_SUBSCRIPTION_STATUSES: frozenset[SubscriptionStatus] = frozenset({"cancelled", "expired"})

HaloValue = str | int | Decimal | bool | date | None
"""A Halo field value as the planner sees it; ``Decimal`` for money and quantities."""

HaloFields = Mapping[str, HaloValue]


@dataclass(frozen=True, slots=True)
class ExplainStep:
    """One link of the chain that produced a planned quantity or price.

    ``rule`` names the rule (``vendor``, ``terms``, ``released``, ``free``, ``rounding``,
    ``minimum``, ``ceiling``, ``ended``, ``excluded``, ``price``), ``text`` is what the
    billing admin reads, ``quantity`` the quantity after this step and ``scope`` where the
    rule was set (None for the vendor's own figures).
    """

    rule: str
    text: str
    quantity: Decimal
    scope: RuleScope | None = None


PRICE_STEP = "price"
"""The ``rule`` of a step that explains a price rather than the quantity."""
EXCLUDED_STEP = "excluded"
"""The ``rule`` of the step that ends a chain with nothing billed."""
RELEASED_STEP = "released"
# What became of a subscription a snapshot left out (or a term the vendor sends no more),
# in the words of every output: import report, explain chain, skip reason, reconciliation.
NO_LONGER_SENT = "no longer sent by the vendor (not in the snapshot)"
"""The ``rule`` of the step that ends the chain of a record the terms rule bills nothing on
any more, saying why: its term is billed on another record, was not picked, or is no
longer sent by the vendor (:mod:`halosync.domain.terms`)."""


def plain_number(value: Decimal | int) -> str:
    """A quantity or price as people write it: 10 rather than 10.0000 or 1E+1."""
    return format(Decimal(value).normalize(), "f")


def chain_text(steps: tuple[ExplainStep, ...]) -> str:
    """The chain as one line: "vendor 23 → minus 3 free (service) → minimum 25 (workspace)
    → 25", then any price steps after a semicolon; "" for no steps."""
    links = [step for step in steps if step.rule != PRICE_STEP]
    prices = [step.text for step in steps if step.rule == PRICE_STEP]
    text = " \u2192 ".join(step.text for step in links)
    if links and links[-1].rule != EXCLUDED_STEP:
        text += f" \u2192 {plain_number(links[-1].quantity)}"
    return "; ".join([text, *prices] if text else prices)


class _KeptByIdentity:
    """What a wanted subscription and a planned change share: the Halo record they are kept
    by (the pair, and the term when kept apart; one pair can have one per term) and whether
    the terms rule released it."""

    __slots__ = ()
    account_ref: str
    service_ref: str
    apart_term: str
    explain: tuple[ExplainStep, ...]

    @property
    def released(self) -> bool:
        """A record the terms rule bills nothing on any more (its term is billed on another
        record, was not picked, or is no longer sent): its chain ends saying so."""
        return bool(self.explain) and self.explain[-1].rule == RELEASED_STEP

    @property
    def identity(self) -> tuple[str, str, str]:
        """What its Halo record is kept by: the pair, and the term when kept apart."""
        return (self.account_ref, self.service_ref, self.apart_term)


@dataclass(frozen=True, slots=True)
class DesiredSubscription(_KeptByIdentity):
    """What the vendor says one account holds of one service (prices are totals)."""

    account_ref: str
    account_name: str
    account_status: AccountStatus
    billed: bool
    service_ref: str
    service_name: str
    quantity: Decimal
    start_date: date | None = None
    end_date: date | None = None
    billing_cycle: str | None = None
    term: str | None = None
    status: SubscriptionStatus = "active"
    cost_price: Decimal | None = None
    customer_price: Decimal | None = None
    explain: tuple[ExplainStep, ...] = ()
    """How the vendor's figures became this one subscription before planning (several terms
    summed or one picked); empty = the vendor's quantity as sent."""
    apart_term: str = ""
    """The term of a subscription billed on a record of its own (terms rule ``apart``,
    :mod:`halosync.domain.terms`); ``""``: the account × service's one record, as always."""
    takes_over: str | None = None
    """The ``apart_term`` of this pair's ledger row whose record it bills from now on, when
    the terms rule changed how the pair is billed (the row is then kept under
    ``apart_term``); None: its own row."""
    unlisted: bool = False
    """Cancelled because a snapshot import left it out: the vendor no longer sends it."""

    @property
    def key(self) -> tuple[str, str]:
        """The (account_ref, service_ref) pair it belongs to."""
        return (self.account_ref, self.service_ref)

    @property
    def ended_reason(self) -> str | None:
        """Why billing stops (the account was cancelled, the subscription ended, the terms
        rule bills nothing on this record any more), in the explain chain's words; None
        while it goes on. The planner and the reconciliation both bill 0 then, whatever the
        rules."""
        if self.released:
            return self.explain[-1].text
        if self.account_status == "cancelled":
            return "account cancelled"
        if self.status in ENDED_SUBSCRIPTION_STATUSES:
            if self.unlisted:
                what = f"term {self.term}" if self.term else "subscription"
                return f"{what} {NO_LONGER_SENT}"
            return f"subscription {self.status}"
        return None

    @property
    def ledger_key(self) -> tuple[str, str, str]:
        """The ledger rows it is planned against: its own, or the ones it takes over."""
        term = self.apart_term if self.takes_over is None else self.takes_over
        return (self.account_ref, self.service_ref, term)


@dataclass(frozen=True, slots=True)
class AccountTarget:
    """Where an account's counts go in Halo: its mapped client (and recurring invoice)."""

    halo_client_id: int
    recurring_invoice_id: int | None = None
    client_active: bool = True
    client_gone: bool = False
    recurring_invoice_gone: bool = False
    recurring_invoice_unread: bool = False
    """Halo answered the recurring invoice without its lines: nothing is planned on it."""
    halo_client_name: str = ""


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    """What halosync wrote for one account × service on one Halo client (or invoice).

    ``state`` is ``pending`` between deciding to create a record and learning its id, so an
    interrupted create is found again by its ``marker`` instead of being created twice.
    ``fields`` holds the halosync-owned Halo fields as last written.
    """

    account_ref: str
    service_ref: str
    target: Target
    halo_client_id: int
    recurring_invoice_id: int | None
    halo_record_id: int | None
    state: LedgerState
    marker: str
    quantity: Decimal | None = None
    fields: HaloFields = field(default_factory=dict)
    written_at: datetime | None = None
    apart_term: str = ""
    """The term of a record kept apart (terms rule ``apart``); ``""``: the pair's record."""
    run_id: int | None = None
    """The run that last wrote the row; of a ``pending`` row, the run whose create it is
    (None once that run is pruned)."""
    unconfirmed: SentUpdate | None = None
    """The update sent for the record whose answer was never recorded (the run died)."""


@dataclass(frozen=True, slots=True)
class SentUpdate:
    """An update halosync sent for a ledger row's record, kept from just before its POST
    until the row records the answer. ``before``/``after`` are JSON values
    (:func:`halosync.domain.halo_values.json_fields`)."""

    run_id: int
    request_id: str | None
    before: Mapping[str, Any]
    after: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class HaloLicence:
    """A Halo Software Licence / Subscription as it is now (``Licence_List``)."""

    id: int
    client_id: int
    name: str
    count: int
    price: Decimal | None = None
    purchase_price: Decimal | None = None
    start_date: date | None = None
    end_date: date | None = None
    billing_cycle: str | None = None
    term_duration: str | None = None
    status: str | None = None
    marker: str | None = None
    deleted: bool = False
    client_name: str = ""
    """The name of the client it is on, as HaloPSA answers (for messages only)."""
    active: bool = True
    """False once someone made it inactive in HaloPSA (``is_active``): it bills nothing."""


@dataclass(frozen=True, slots=True)
class HaloInvoiceLine:
    """One line of a Halo recurring invoice as it is now (``InvoiceDetail``).

    ``calculated`` is true when Halo computes the quantity itself (from licence, user or
    asset counts), so writing ``qty_order`` would be pointless.
    """

    id: int
    recurring_invoice_id: int
    item_id: int
    quantity: Decimal
    unit_price: Decimal | None = None
    unit_cost: Decimal | None = None
    description: str = ""
    marker: str | None = None
    inactive: bool = False
    calculated: bool = False
    client_id: int | None = None
    """The client its recurring invoice belongs to in HaloPSA now (None: not read)."""
    client_name: str = ""


@dataclass(frozen=True, slots=True)
class LicenceFields:
    """The licence fields halosync owns, as a plan sets them; None leaves a field as it is."""

    count: int | None = None
    price: Decimal | None = None
    purchase_price: Decimal | None = None
    start_date: date | None = None
    end_date: date | None = None
    billing_cycle: str | None = None
    term_duration: str | None = None
    status: str | None = None


@dataclass(frozen=True, slots=True)
class NewLicence:
    """A licence to create on ``client_id`` for ``item_id``, stamped with ``marker``."""

    client_id: int
    name: str
    item_id: int
    fields: LicenceFields
    marker: str


@dataclass(frozen=True, slots=True)
class LicenceChange:
    """New values for some owned fields of licence ``licence_id``."""

    licence_id: int
    fields: LicenceFields


@dataclass(frozen=True, slots=True)
class LineFields:
    """The recurring-invoice line fields halosync owns, as a plan sets them (per-unit
    prices); None leaves a field as it is."""

    qty_order: Decimal | None = None
    unit_price: Decimal | None = None
    unit_cost: Decimal | None = None


@dataclass(frozen=True, slots=True)
class NewLine:
    """A line to add to recurring invoice ``recurring_invoice_id`` for ``item_id``, described
    as ``description`` and stamped with ``marker``."""

    recurring_invoice_id: int
    item_id: int
    description: str
    fields: LineFields
    marker: str


@dataclass(frozen=True, slots=True)
class LineChange:
    """New values for some owned fields of line ``line_id`` of a recurring invoice."""

    line_id: int
    recurring_invoice_id: int
    fields: LineFields


HaloWrite = NewLicence | LicenceChange | NewLine | LineChange
"""What a create or update asks of Halo, in the planner's terms; ``halosync.halopsa.billing``
turns it into Halo's object."""


@dataclass(frozen=True, slots=True)
class InterruptedWrite:
    """A write HaloPSA applied for a run that stopped before recording it (killed between
    Halo's answer and its commit): the run that finds it records it, in the audit trail as
    the interrupted run's and in its own results as created or updated, never unchanged."""

    run_id: int | None
    """The interrupted run (None once it is pruned)."""
    created: NewLicence | NewLine | None = None
    """The record it created, as HaloPSA holds it when found; None for an update."""
    updated: SentUpdate | None = None
    """The update it sent, which HaloPSA holds; None for a create."""

    @property
    def operation(self) -> Literal["create", "update"]:
        """The audit trail's ``operation`` of the write."""
        return "create" if self.created is not None else "update"


@dataclass(frozen=True, slots=True)
class SyncSettings:
    """The workspace settings that change what the planner writes."""

    target: Target = "licence"
    price_mode: PriceMode = "off"
    adopt_existing_lines: bool = True
    """Take over the one line of a mapped item that halosync did not add (the account and
    service mappings are the admin's consent); off = "only lines halosync adds"."""
    workspace_key: str = ""


@dataclass(frozen=True, slots=True)
class PlannedChange(_KeptByIdentity):
    """One decision for one account × service, readable as a dry-run line and executable.

    ``before``/``after`` hold only the owned fields that change (``after`` alone for a
    create); ``write`` is what to ask of Halo (a typed create or update), None unless the
    action is create or update. ``marker`` is what the create stamps into the record.
    """

    account_ref: str
    service_ref: str
    action: Action
    reason: str
    level: Level = "INFO"
    target: Target | None = None
    halo_id: int | None = None
    halo_client_id: int | None = None
    recurring_invoice_id: int | None = None
    before: HaloFields = field(default_factory=dict)
    after: HaloFields = field(default_factory=dict)
    write: HaloWrite | None = None
    marker: str | None = None
    quantity: Decimal | None = None
    adopted: bool = False
    duplicates: tuple[int, ...] = ()
    """Other Halo records carrying this pair's marker in the same place (never written)."""
    explain: tuple[ExplainStep, ...] = ()
    """The chain of rules that produced the quantity (and prices) of a mapped pair."""
    rule_holds: tuple[str, ...] = ()
    """Why the quantity rules hold this write for review whatever the workspace's review
    policy (a quantity above a ceiling)."""
    apart_term: str = ""
    """The term whose own record this change writes (terms rule ``apart``); ``""``: the
    account × service's one record."""
    takes_over: str | None = None
    """The ``apart_term`` of the ledger row this change's record was kept under until now
    (re-kept under ``apart_term`` when written); None: the row is its own."""
    skip: SkipKind | None = None
    """Why a skip is by design (domain.skips), so that a run's log summarises it; None for
    any other change."""
    interrupted: InterruptedWrite | None = None
    """The create of an interrupted run this change found in HaloPSA (its ledger row still
    pending): recorded when the change is, whatever else the change writes."""

    @property
    def explain_text(self) -> str:
        """The explain chain as one line ("vendor 23 → 23"); "" when there is none."""
        return chain_text(self.explain)

    @property
    def is_write(self) -> bool:
        """True when executing it means a POST to Halo."""
        return self.action in ("create", "update")


COUNT_KEYS: dict[Action, str] = {
    "create": "created",
    "update": "updated",
    "unchanged": "unchanged",
    "skip": "skipped",
    "fail": "failed",
}


@dataclass(frozen=True, slots=True)
class Plan:
    """The ordered changes of one usage sync, with counts by action."""

    changes: tuple[PlannedChange, ...]

    @property
    def counts(self) -> dict[str, int]:
        """``{"created", "updated", "unchanged", "skipped", "failed"}`` -> number."""
        result = dict.fromkeys(COUNT_KEYS.values(), 0)
        for change in self.changes:
            result[COUNT_KEYS[change.action]] += 1
        return result

    @property
    def writes(self) -> tuple[PlannedChange, ...]:
        """The changes that need a POST to Halo, in plan order."""
        return tuple(change for change in self.changes if change.is_write)


_STATUS_ALIASES: dict[str, SubscriptionStatus] = {
    "canceled": "cancelled",
    "terminated": "cancelled",
    "ended": "expired",
}


# Every text (lowered, stripped) that subscription_status reads as ended: what SQL compares
# against when it must agree with the planner (the import's "still active?").
ENDED_STATUS_TEXTS: frozenset[str] = frozenset(
    set(ENDED_SUBSCRIPTION_STATUSES)
    | {text for text, status in _STATUS_ALIASES.items() if status in ENDED_SUBSCRIPTION_STATUSES}
)


def subscription_status(text: str | None) -> SubscriptionStatus:
    """The vendor's free-text status as a :data:`SubscriptionStatus`.

    Blank and unknown values count as ``active``: the vendor still lists the subscription
    with a quantity, and dropping it would silently stop billing it.
    """
    value = (text or "").strip().lower()
    for status in SUBSCRIPTION_STATUSES:
        if value == status:
            return status
    return _STATUS_ALIASES.get(value, "active")
