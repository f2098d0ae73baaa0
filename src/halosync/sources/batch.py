"""Collecting validated records into one batch, catching duplicates and contradictions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from halosync.sources.errors import (
    ImportValidationError,
    Location,
    UsageError,
    from_validation_error,
)
from halosync.sources.schemas import (
    CSV_COLUMNS,
    AccountIn,
    CsvRow,
    ServiceIn,
    SubscriptionData,
    SubscriptionIn,
    UsagePayload,
    subscription_values,
)

_ACCOUNT_FIELDS = {"name": "name", "status": "status", "billed": "billed"}
_CSV_ACCOUNT_FIELDS = {"name": "account_name", "status": "account_status", "billed": "billed"}


def _column_rank(loc: tuple[int | str, ...]) -> int:
    column = loc[0] if loc else "end_date"
    return CSV_COLUMNS.index(column) if column in CSV_COLUMNS else len(CSV_COLUMNS)


@dataclass
class UsageBatch:
    """Validated accounts, services and subscriptions, keyed by reference."""

    accounts: dict[str, AccountIn] = field(default_factory=dict)
    services: dict[str, ServiceIn] = field(default_factory=dict)
    subscriptions: dict[tuple[str, str], SubscriptionData] = field(default_factory=dict)
    # Where each subscription came from, to name it if its account/service is unknown.
    subscription_locations: dict[tuple[str, str], Location] = field(default_factory=dict)
    rows: int = 0


class BatchBuilder:
    """Feeds records in one at a time; :meth:`build` returns the batch or raises every error."""

    def __init__(self) -> None:
        self.batch = UsageBatch()
        self.errors: list[UsageError] = []
        self.error_count = 0
        self._account_seen: dict[str, Location] = {}
        self._service_seen: dict[str, Location] = {}
        self._subscription_seen: dict[tuple[str, str], Location] = {}

    def error(self, location: str, message: str) -> None:
        """Record one problem."""
        self.error_count += 1
        if len(self.errors) < 1000:
            self.errors.append(UsageError(location, message))

    def errors_from(self, error: ValidationError, location: Location) -> None:
        """Record every problem pydantic found in one record."""
        for found in from_validation_error(error, location):
            self.error(found.location, found.message)

    def add_account(self, account: AccountIn, where: Location, *, fields: dict[str, str]) -> None:
        """Add an account; the same reference twice must agree."""
        if account.ref in self.batch.accounts:
            values = (account.name, account.status, account.billed)
            self._check_account(account.ref, values, where, fields)
            return
        self.batch.accounts[account.ref] = account
        self._account_seen[account.ref] = where

    def _check_account(
        self,
        ref: str,
        values: tuple[str, str, bool],
        where: Location,
        fields: dict[str, str],
    ) -> None:
        known = self.batch.accounts[ref]
        if (known.name, known.status, known.billed) == values:
            return
        first = self._account_seen[ref].base
        for (attribute, column), value in zip(fields.items(), values, strict=True):
            if getattr(known, attribute) != value:
                self.error(
                    where.at(column),
                    f"account {ref!r} has {attribute} {value!r} "
                    f"here but {getattr(known, attribute)!r} at {first}",
                )

    def add_service(self, service: ServiceIn, where: Location, *, fields: dict[str, str]) -> None:
        """Add a service; the same reference twice must agree."""
        if service.ref in self.batch.services:
            self._check_service(service.ref, service.name, where, fields["name"])
            return
        self.batch.services[service.ref] = service
        self._service_seen[service.ref] = where

    def _check_service(self, ref: str, name: str, where: Location, column: str) -> None:
        known = self.batch.services[ref]
        if known.name != name:
            self.error(
                where.at(column),
                f"service {ref!r} has name {name!r} here but {known.name!r} "
                f"at {self._service_seen[ref].base}",
            )

    def add_subscription(self, subscription: SubscriptionData, where: Location) -> None:
        """Add a subscription; one per account and service."""
        key = (subscription.account_ref, subscription.service_ref)
        known = self.batch.subscriptions.get(key)
        if known is None:
            self.batch.subscriptions[key] = subscription
            self.batch.subscription_locations[key] = where
            return
        if subscription_values(known) != subscription_values(subscription):
            self.error(
                where.base,
                f"a second, different subscription of account {key[0]!r} to service "
                f"{key[1]!r} (the first is at {self.batch.subscription_locations[key].base})",
            )

    def add_csv_row(self, data: dict[str, str], where: Location) -> None:
        """Validate one CSV-style row (text cells) and add what it describes."""
        self.batch.rows += 1
        try:
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
        self.add_subscription(row, where)

    def add_payload(self, payload: UsagePayload, where: Location) -> None:
        """Add a whole validated JSON payload, items located by JSON path."""
        groups: tuple[tuple[str, Sequence[AccountIn | ServiceIn | SubscriptionIn]], ...] = (
            ("accounts", payload.accounts),
            ("services", payload.services),
            ("subscriptions", payload.subscriptions),
        )
        for kind, items in groups:
            for index, item in enumerate(items):
                item_where = Location(f"{where.at(kind)}[{index}]", "path")
                self.batch.rows += 1
                self._add_item(item, item_where)

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
        models: dict[str, type[AccountIn] | type[ServiceIn] | type[SubscriptionIn]] = {
            "account": AccountIn,
            "service": ServiceIn,
            "subscription": SubscriptionIn,
        }
        model = models.get(kind)
        if model is None:
            self.error(where.base, f"unknown record kind {kind!r}")
            return
        self.batch.rows += 1
        try:
            item = model.model_validate(data)
        except ValidationError as error:
            self.errors_from(error, where)
            return
        self._add_item(item, where)

    def _add_item(self, item: AccountIn | ServiceIn | SubscriptionIn, where: Location) -> None:
        if isinstance(item, AccountIn):
            self.add_account(item, where, fields=_ACCOUNT_FIELDS)
        elif isinstance(item, ServiceIn):
            self.add_service(item, where, fields={"name": "name"})
        else:
            self.add_subscription(item, where)

    def build(self) -> UsageBatch:
        """The batch, or :class:`ImportValidationError` with every problem found."""
        if self.error_count:
            raise ImportValidationError(self.errors, total=self.error_count)
        return self.batch
