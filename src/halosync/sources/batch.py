"""Collecting validated records into one batch, catching duplicates and contradictions.

Accounts and services are held in memory (one per reference); subscriptions, which may
number 1,000,000, go to a :class:`~halosync.store.spool.SubscriptionSpool` on disk as they
are validated, so memory does not grow with the rows of the file.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import ValidationError

from halosync.sources.errors import (
    MAX_KEPT_ERRORS,
    ImportValidationError,
    Location,
    UsageError,
    from_validation_error,
)
from halosync.sources.schemas import (
    CSV_COLUMNS,
    AccountIn,
    CsvRow,
    CsvValues,
    ServiceIn,
    SubscriptionData,
    SubscriptionIn,
    missing_of_new,
    parse_csv_row,
)
from halosync.store.base import stored_quantity
from halosync.store.spool import TERM_INDEX, SpooledRow, StoredValues, SubscriptionSpool
from halosync.store.staging import given_of

_ACCOUNT_FIELDS = {"name": "name", "status": "status", "billed": "billed"}
_CSV_ACCOUNT_FIELDS = {"name": "account_name", "status": "account_status", "billed": "billed"}


def _column_rank(loc: tuple[int | str, ...]) -> int:
    column = loc[0] if loc else "end_date"
    return CSV_COLUMNS.index(column) if column in CSV_COLUMNS else len(CSV_COLUMNS)


@dataclass
class UsageBatch:
    """Validated accounts, services and subscriptions, keyed by reference.

    ``subscriptions`` holds one row per ``(account_ref, service_ref, term)``, on disk, with the
    values as the database stores them (see :func:`stored_values`).
    """

    accounts: dict[str, AccountIn] = field(default_factory=dict)
    services: dict[str, ServiceIn] = field(default_factory=dict)
    subscriptions: SubscriptionSpool = field(default_factory=SubscriptionSpool)
    rows: int = 0


def stored_values(subscription: SubscriptionData, given: int) -> StoredValues:
    """A subscription's values as the database stores them: the quantity and amounts as
    decimal text with four places (so ``12`` and ``12.0`` are one value), dates as
    ``YYYY-MM-DD``, texts; then ``given``, which optional ones it gave (``given_of``)."""
    end, cost, price = subscription.end_date, subscription.cost_price, subscription.customer_price
    return (
        str(stored_quantity(subscription.quantity)),
        subscription.start_date.isoformat(),
        None if end is None else end.isoformat(),
        subscription.billing_cycle,
        subscription.term,
        subscription.status,
        None if cost is None else str(cost),
        None if price is None else str(price),
        given,
    )


def term_key(term: str | None) -> str:
    """What makes two terms one: their text without regard to letter case ("Annual" is
    "annual"), so a vendor's change of case never bills a second subscription."""
    return (term or "").lower()


def same_subscription(first: StoredValues, other: StoredValues) -> bool:
    """The same values and the same ones given, the term compared by :func:`term_key`."""
    return _keyed(first) == _keyed(other)


def _keyed(values: StoredValues) -> tuple[object, ...]:
    term = values[TERM_INDEX]
    return (*values[:TERM_INDEX], term_key(term), *values[TERM_INDEX + 1 :])


@dataclass
class HandOut:
    """Validated records given on before the reading ends (see
    :meth:`BatchBuilder.hand_out_to`): the accounts and services first given since the
    last hand-out, and the batch's next subscriptions in order."""

    accounts: list[tuple[str, AccountIn]]
    services: list[tuple[str, ServiceIn]]
    subscriptions: list[SpooledRow]


@dataclass(slots=True)
class ErrorList:
    """Problems found: the first :data:`MAX_KEPT_ERRORS` kept, all counted."""

    kept: list[UsageError] = field(default_factory=list)
    count: int = 0

    def add(self, location: str, message: str) -> None:
        """Record one problem."""
        self.count += 1
        if len(self.kept) < MAX_KEPT_ERRORS:
            self.kept.append(UsageError(location, message))

    def extend(self, other: ErrorList) -> None:
        """Record every problem of ``other`` after these."""
        room = MAX_KEPT_ERRORS - len(self.kept)
        self.kept.extend(other.kept[: max(room, 0)])
        self.count += other.count


class BatchBuilder:
    """Feeds records in one at a time; :meth:`build` returns the batch or raises every error.

    Every problem is collected in one pass: bad fields, contradictions between records and
    (through :meth:`check_references`) subscriptions naming an account or service that
    exists nowhere.
    """

    def __init__(self) -> None:
        self.batch = UsageBatch()
        # False once reading stopped early (bad syntax or header): what was not read is
        # not known, so references are not checked against it.
        self.complete = True
        self._errors = ErrorList()
        # Where problems go; a JSON document routes them per list (see errors_to).
        self._sink = self._errors
        self._account_seen: dict[str, Location] = {}
        self._service_seen: dict[str, Location] = {}
        # References of accounts and services given, but refused for a field: a
        # subscription naming one is not also reported as naming an unknown one.
        self._refused: dict[str, set[str]] = {"account": set(), "service": set()}
        # Handing out (see hand_out_to): where to, what was given since the last hand-out,
        # and whether a later part of the input took back something already handed out.
        self._hand_out: Callable[[HandOut], None] | None = None
        self._hand_out_rows = 0
        self._new_accounts: list[str] = []
        self._new_services: list[str] = []
        self._new_subscriptions: list[SpooledRow] = []
        self.handed_out_anything = False
        self.took_back_handed_out = False

    def hand_out_to(self, hand_out: Callable[[HandOut], None], rows: int) -> None:
        """Give validated records to ``hand_out`` while the reading goes on, each time
        ``rows`` new subscriptions have come, so they can be written meanwhile (in the
        import's one transaction: a problem found later still writes nothing). Stops for
        good at the first problem: what follows is only validated."""
        self._hand_out, self._hand_out_rows = hand_out, rows

    def _maybe_hand_out(self) -> None:
        if len(self._new_subscriptions) < self._hand_out_rows or self._hand_out is None:
            return
        if self._errors.count or self._sink.count:
            # Nothing will be written: validate the rest without writing more.
            self._stop_handing_out()
            return
        # An account or service that left fields out waits for the end: if it is new, the
        # batch is refused there (nothing stored to keep), and a later record may fill it in.
        accounts, self._new_accounts = _complete(self.batch.accounts, self._new_accounts)
        services, self._new_services = _complete(self.batch.services, self._new_services)
        out = HandOut(accounts, services, self._new_subscriptions)
        self._new_subscriptions = []
        self.handed_out_anything = True
        self._hand_out(out)

    def _stop_handing_out(self) -> None:
        self._hand_out = None
        self._new_subscriptions = []

    def rest(self) -> HandOut:
        """What was given since the last hand-out (all of it when nothing was handed out);
        the subscriptions only while handing out, :meth:`UsageBatch.subscriptions` holds
        them all."""
        accounts, services = self.batch.accounts, self.batch.services
        out = HandOut(
            [(ref, accounts[ref]) for ref in self._new_accounts],
            [(ref, services[ref]) for ref in self._new_services],
            self._new_subscriptions,
        )
        self._new_accounts, self._new_services, self._new_subscriptions = [], [], []
        return out

    def close(self) -> None:
        """Delete the spooled subscriptions (the batch cannot be written afterwards)."""
        self.batch.subscriptions.close()

    def __enter__(self) -> BatchBuilder:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def errors(self) -> list[UsageError]:
        """The problems kept so far."""
        return self._errors.kept

    @property
    def error_count(self) -> int:
        """How many problems were found so far."""
        return self._errors.count

    def error(self, location: str, message: str) -> None:
        """Record one problem."""
        self._sink.add(location, message)

    def stop(self, location: str, message: str) -> None:
        """Record a problem that ended the reading: the rest of the input is unknown."""
        self.complete = False
        self.error(location, message)

    def refused(self, kind: str, data: object) -> None:
        """An ``account`` or ``service`` record was refused; remember the reference it gave."""
        ref = data.get("ref") if isinstance(data, dict) else None
        if kind in self._refused and isinstance(ref, str) and ref.strip():
            self._refused[kind].add(ref.strip())

    def check_references(self, accounts: Container[str], services: Container[str]) -> None:
        """Name every subscription whose account or service is neither in this batch nor
        in ``accounts``/``services`` (the workspace's)."""
        if not self.complete:
            return
        self._check_new(accounts, services)
        spool = self.batch.subscriptions
        unknown = {
            what: {ref for ref in refs if ref not in given and ref not in known}
            - self._refused[what]
            for what, refs, given, known in (
                ("account", spool.account_refs(), self.batch.accounts, accounts),
                ("service", spool.service_refs(), self.batch.services, services),
            )
        }
        if not unknown["account"] and not unknown["service"]:
            return
        for account_ref, service_ref, base, style in spool.located():
            for ref, what in ((account_ref, "account"), (service_ref, "service")):
                if ref in unknown[what]:
                    self.error(
                        Location(base, style).at(f"{what}_ref"),
                        f"no {what} {ref!r} in this batch or in the workspace",
                    )

    def _check_new(self, accounts: Container[str], services: Container[str]) -> None:
        """Name every new account or service that left a field out: it has nothing
        stored to keep."""
        for what, given, known, seen in (
            ("account", self.batch.accounts, accounts, self._account_seen),
            ("service", self.batch.services, services, self._service_seen),
        ):
            for ref, record in given.items():
                missing = [] if ref in known else missing_of_new(record)
                if missing:
                    verb = "is" if len(missing) == 1 else "are"
                    self.error(
                        seen[ref].base,
                        f"{what} {ref!r} is new: {' and '.join(missing)} {verb} required",
                    )

    @contextmanager
    def errors_to(self, errors: ErrorList) -> Iterator[None]:
        """Send problems found inside the ``with`` block to ``errors`` instead."""
        previous, self._sink = self._sink, errors
        try:
            yield
        finally:
            self._sink = previous

    def add_errors(self, errors: ErrorList) -> None:
        """Record problems collected elsewhere."""
        self._errors.extend(errors)

    def errors_from(self, error: ValidationError, location: Location) -> None:
        """Record every problem pydantic found in one record."""
        for found in from_validation_error(error, location):
            self.error(found.location, found.message)

    def add_account(self, account: AccountIn, where: Location, *, fields: dict[str, str]) -> None:
        """Add an account; the same reference twice must agree on the fields both give."""
        if account.ref in self.batch.accounts:
            values = (account.name, account.status, account.billed)
            self._check_account(account.ref, values, where, fields)
            return
        self.batch.accounts[account.ref] = account
        self._account_seen[account.ref] = where
        self._new_accounts.append(account.ref)

    def _check_account(
        self,
        ref: str,
        values: tuple[str | None, str | None, bool | None],
        where: Location,
        fields: dict[str, str],
    ) -> None:
        known = self.batch.accounts[ref]
        if (known.name, known.status, known.billed) == values:
            return
        first = self._account_seen[ref].base
        added: dict[str, object] = {}
        for (attribute, column), value in zip(fields.items(), values, strict=True):
            stored = getattr(known, attribute)
            if value is None or stored == value:
                continue
            if stored is None:
                added[attribute] = value
                continue
            self.error(
                where.at(column),
                f"account {ref!r} has {attribute} {value!r} here but {stored!r} at {first}",
            )
        if added:
            self.batch.accounts[ref] = known.model_copy(update=added)

    def add_service(self, service: ServiceIn, where: Location, *, fields: dict[str, str]) -> None:
        """Add a service; the same reference twice must agree on the name when both give it."""
        if service.ref in self.batch.services:
            self._check_service(service.ref, service.name, where, fields["name"])
            return
        self.batch.services[service.ref] = service
        self._service_seen[service.ref] = where
        self._new_services.append(service.ref)

    def _check_service(self, ref: str, name: str | None, where: Location, column: str) -> None:
        known = self.batch.services[ref]
        if name is None or known.name == name:
            return
        if known.name is None:
            self.batch.services[ref] = known.model_copy(update={"name": name})
        else:
            self.error(
                where.at(column),
                f"service {ref!r} has name {name!r} here but {known.name!r} "
                f"at {self._service_seen[ref].base}",
            )

    def add_subscription(
        self, subscription: SubscriptionData, where: Location, *, given: int
    ) -> None:
        """Add a subscription that gave the optional values ``given`` (``given_of``); one
        per account, service and term (several terms of one account × service are several
        subscriptions, combined by the terms rule)."""
        account_ref, service_ref = subscription.account_ref, subscription.service_ref
        values = stored_values(subscription, given)
        first = self.batch.subscriptions.add(
            account_ref, service_ref, term_key(subscription.term), values, (where.base, where.style)
        )
        if first is None:
            if self._hand_out is not None:
                self._new_subscriptions.append((account_ref, service_ref, *values))
                self._maybe_hand_out()
            return
        if not same_subscription(first[0], values):
            self.error(
                where.base,
                f"a second, different subscription of account {account_ref!r} to service "
                f"{service_ref!r} in term {subscription.term!r} (the first is at "
                f"{first[1][0]}); one account × service may be sent once per term",
            )

    def add_csv_row(self, data: dict[str, str], where: Location) -> None:
        """Validate one CSV-style row (text cells) and add what it describes."""
        self.batch.rows += 1
        row: CsvRow | CsvValues | None = parse_csv_row(data)
        try:
            if row is None:
                row = CsvRow.model_validate(data, context={"text": True})
        except ValidationError as error:
            # Report a row's problems left to right, as the columns are documented.
            details = sorted(error.errors(), key=lambda d: _column_rank(d.get("loc", ())))
            for found in from_validation_error(details, where):
                self.error(found.location, found.message)
            return
        # The row's account and service repeat on every row; build them only once.
        if row.account_ref in self.batch.accounts:
            values = (row.account_name, row.account_status, row.billed)
            self._check_account(row.account_ref, values, where, _CSV_ACCOUNT_FIELDS)
        else:
            self.add_account(row.account(), where, fields=_CSV_ACCOUNT_FIELDS)
        if row.service_ref in self.batch.services:
            self._check_service(row.service_ref, row.service_name, where, "service_name")
        else:
            self.add_service(row.service(), where, fields={"name": "service_name"})
        # A column the row has (a blank cell too: it clears) is given; one it lacks is kept.
        self.add_subscription(row, where, given=given_of(data))

    def add_record(self, kind: str, data: object, where: Location) -> None:
        """Validate and add one record of ``kind`` (account, service, subscription, row, error)."""
        if kind == "error":
            message = data.get("message") if isinstance(data, dict) else None
            self.error(where.base, str(message or "the source reported an error"))
            return
        if kind == "row":
            if not isinstance(data, dict):
                self.error(where.base, "must be a mapping of column names to values")
                return
            self.add_csv_row(data, where)
            return
        model = RECORD_MODELS.get(kind)
        if model is None:
            self.error(where.base, f"unknown record kind {kind!r}")
            return
        self.batch.rows += 1
        try:
            item = model.model_validate(data)
        except ValidationError as error:
            self.errors_from(error, where)
            self.refused(kind, data)
            return
        self.add_item(item, where)

    def add_item(self, item: AccountIn | ServiceIn | SubscriptionIn, where: Location) -> None:
        """Add one validated account, service or subscription."""
        if isinstance(item, AccountIn):
            self.add_account(item, where, fields=_ACCOUNT_FIELDS)
        elif isinstance(item, ServiceIn):
            self.add_service(item, where, fields={"name": "name"})
        else:
            self.add_subscription(item, where, given=given_of(item.model_fields_set))

    def forget(self, kinds: Iterable[str]) -> None:
        """Drop everything added of these kinds (``account``, ``service``, ``subscription``)."""
        if self.handed_out_anything:
            # (A JSON member given twice: the last one counts.) What was handed out is
            # written already; the writer starts again from the batch.
            self.took_back_handed_out = True
        self._stop_handing_out()
        for kind in kinds:
            if kind == "account":
                self._new_accounts = []
                self.batch.accounts.clear()
                self._account_seen.clear()
            elif kind == "service":
                self._new_services = []
                self.batch.services.clear()
                self._service_seen.clear()
            if kind in self._refused:
                self._refused[kind].clear()
            elif kind == "subscription":
                self.batch.subscriptions.clear()

    def build(self) -> UsageBatch:
        """The batch, or :class:`ImportValidationError` with every problem found."""
        if self.error_count:
            raise ImportValidationError(self.errors, total=self.error_count)
        return self.batch


_Record = TypeVar("_Record", AccountIn, ServiceIn)


def _complete(
    records: dict[str, _Record], refs: list[str]
) -> tuple[list[tuple[str, _Record]], list[str]]:
    """Of ``refs``, the records that gave every field, and the references of the others."""
    complete: list[tuple[str, _Record]] = []
    waiting: list[str] = []
    for ref in refs:
        record = records[ref]
        if missing_of_new(record):
            waiting.append(ref)
        else:
            complete.append((ref, record))
    return complete, waiting


RECORD_MODELS: dict[str, type[AccountIn] | type[ServiceIn] | type[SubscriptionIn]] = {
    "account": AccountIn,
    "service": ServiceIn,
    "subscription": SubscriptionIn,
}
