"""The shape of usage data as it comes in (JSON import, REST API, CSV rows, plug-ins).

Field rules live here once. Each rule names what is wrong in words a vendor can act on;
text input (CSV cells) is parsed under ``context={"text": True}``, JSON keeps its types.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, NamedTuple, Protocol, cast

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.functional_validators import PlainValidator
from pydantic.json_schema import WithJsonSchema
from pydantic_core import PydanticCustomError
from pydantic_core.core_schema import ValidationInfo

from halosync.domain.models import ACCOUNT_STATUSES
from halosync.domain.numbers import exact_count, parse_decimal
from halosync.domain.shown import shown
from halosync.domain.text import text_problem
from halosync.store.models import NAME_LENGTH, REF_LENGTH, SUBSCRIPTION_VALUES
from halosync.store.staging import OPTIONAL_VALUES

MAX_QUANTITY = 2_147_483_647
# Below 10^11 keeps 4 decimals exact on SQLite too (whose NUMERIC is a double).
MAX_MONEY = Decimal("99999999999.9999")
_FOUR_PLACES = Decimal("0.0001")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TRUE = {"true", "yes", "1", "y", "t"}
_FALSE = {"false", "no", "0", "n", "f"}


def _fail(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def _from_text(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("text"))


def _clean_text(value: Any, *, max_length: int, what: str) -> str:
    if not isinstance(value, str):
        raise _fail("text_type", f"must be {what}, got {shown(value)}")
    text = value.strip()
    if not text:
        raise _fail("text_empty", "must not be empty")
    if len(text) > max_length:
        raise _fail("text_too_long", f"is longer than {max_length} characters")
    problem = text_problem(text)
    if problem is not None:
        raise _fail("text_plain", problem)
    return text


def parse_ref(value: Any, _info: ValidationInfo) -> str:
    """A vendor reference: 1-255 characters of text."""
    return _clean_text(value, max_length=REF_LENGTH, what="a text reference")


def parse_name(value: Any, _info: ValidationInfo) -> str:
    """A name: 1-255 characters of text."""
    return _clean_text(value, max_length=NAME_LENGTH, what="text")


def parse_optional_text(value: Any, _info: ValidationInfo) -> str | None:
    """Optional free text; blank means absent."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _clean_text(value, max_length=NAME_LENGTH, what="text")


def parse_account_status(value: Any, _info: ValidationInfo) -> str:
    """One of the account statuses (case-insensitive)."""
    if isinstance(value, str) and value.strip().lower() in ACCOUNT_STATUSES:
        return value.strip().lower()
    raise _fail(
        "account_status", f"must be one of {', '.join(ACCOUNT_STATUSES)}, got {shown(value)}"
    )


def parse_billed(value: Any, info: ValidationInfo) -> bool:
    """true or false (text input also takes yes/no/1/0)."""
    if isinstance(value, bool):
        return value
    if _from_text(info) and isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise _fail("billed", f"must be true or false, got {shown(value)}")


def _number(value: Any, *, maximum: Decimal, what: str, kind: str) -> Decimal:
    """A number from 0 to ``maximum`` with at most 4 decimal places: a JSON number (a float
    by its shortest form, so 2.5 is 2.5) or text ("2.5", "12"; a point, never a comma).
    NaN, infinity, a negative number and a fifth decimal place are refused, never rounded."""
    number: Decimal | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        number = parse_decimal(value)
    if (
        number is None
        or not number.is_finite()
        or not 0 <= number <= maximum
        or number != number.quantize(_FOUR_PLACES)
    ):
        raise _fail(
            kind,
            f"must be {what} from 0 to {maximum} with at most 4 decimal places, got {shown(value)}",
        )
    return number


def parse_quantity(value: Any, _info: ValidationInfo) -> Decimal:
    """A count from 0 to 2,147,483,647 with at most 4 decimal places (12, 12.4)."""
    number = _number(value, maximum=Decimal(MAX_QUANTITY), what="a number", kind="quantity")
    return exact_count(number)


def _parse_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _fail("date", f"must be a date as YYYY-MM-DD, got {shown(value)}")


def parse_date(value: Any, _info: ValidationInfo) -> date:
    """A calendar date written YYYY-MM-DD."""
    return _parse_date(value)


def parse_optional_date(value: Any, _info: ValidationInfo) -> date | None:
    """An optional date; blank means absent."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _parse_date(value)


def parse_optional_money(value: Any, _info: ValidationInfo) -> Decimal | None:
    """An optional amount >= 0 with at most 4 decimal places; blank means absent."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    amount = _number(value, maximum=MAX_MONEY, what="a decimal amount", kind="money")
    return amount.quantize(_FOUR_PLACES)


# Per field, the answers remembered for text values (they repeat from row to row: an import
# of 1,000,000 rows has a few hundred distinct dates, prices and terms); cleared when full,
# so a field whose values rarely repeat (references, names) costs at most this many.
_REMEMBERED = 1 << 12
Parser = Callable[[Any, ValidationInfo], Any]


def remembered(parse: Parser, *, by_context: bool = False) -> Parser:
    """``parse``, answering a text value it has seen before (the same value, or the same
    error) without parsing it again; ``by_context`` when its answer depends on whether
    the input is text (:func:`_from_text`)."""
    answers: dict[tuple[str, bool], Any] = {}

    def parse_remembered(value: Any, info: ValidationInfo) -> Any:
        if type(value) is not str:
            return parse(value, info)
        key = (value, by_context and _from_text(info))
        answer = answers.get(key, answers)
        if answer is answers:
            try:
                answer = parse(value, info)
            except PydanticCustomError as error:
                answer = _Refusal(error.type, error.message_template)
            if len(answers) >= _REMEMBERED:
                answers.clear()
            answers[key] = answer
        if type(answer) is _Refusal:
            raise _fail(answer.kind, answer.message)
        return answer

    return parse_remembered


@dataclass(frozen=True, slots=True)
class _Refusal:
    kind: str
    message: str


_TEXT_SCHEMA = {"type": "string", "minLength": 1, "maxLength": NAME_LENGTH}
Ref = Annotated[
    str,
    PlainValidator(remembered(parse_ref)),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": REF_LENGTH}),
]
Name = Annotated[str, PlainValidator(remembered(parse_name)), WithJsonSchema(_TEXT_SCHEMA)]
# A field an upsert may leave out (then the stored value is kept) but never clear: null is
# refused by the same rule as any other value that is not text.
NameOrKept = Annotated[
    str | None, PlainValidator(remembered(parse_name)), WithJsonSchema(_TEXT_SCHEMA)
]
OptionalText = Annotated[
    str | None,
    PlainValidator(remembered(parse_optional_text)),
    WithJsonSchema({"anyOf": [{"type": "string", "maxLength": NAME_LENGTH}, {"type": "null"}]}),
]
AccountStatus = Annotated[
    str,
    PlainValidator(remembered(parse_account_status)),
    WithJsonSchema({"type": "string", "enum": list(ACCOUNT_STATUSES)}),
]
Billed = Annotated[
    bool,
    PlainValidator(remembered(parse_billed, by_context=True)),
    WithJsonSchema({"type": "boolean"}),
]
AccountStatusOrKept = Annotated[
    str | None,
    PlainValidator(remembered(parse_account_status)),
    WithJsonSchema({"type": "string", "enum": list(ACCOUNT_STATUSES)}),
]
BilledOrKept = Annotated[
    bool | None,
    PlainValidator(remembered(parse_billed, by_context=True)),
    WithJsonSchema({"type": "boolean"}),
]
_QUANTITY_PATTERN = r"^\s*\+?[0-9]{1,10}(\.[0-9]{0,4})?\s*$"
Quantity = Annotated[
    Decimal,
    PlainValidator(remembered(parse_quantity)),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": MAX_QUANTITY, "multipleOf": 0.0001},
                {"type": "string", "pattern": _QUANTITY_PATTERN},
            ]
        }
    ),
]
DateField = Annotated[
    date,
    PlainValidator(remembered(parse_date)),
    WithJsonSchema({"type": "string", "format": "date"}),
]
OptionalDate = Annotated[
    date | None,
    PlainValidator(remembered(parse_optional_date)),
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]}),
]
_MONEY_PATTERN = r"^\s*\+?[0-9]{1,11}(\.[0-9]{1,4})?\s*$"
OptionalMoney = Annotated[
    Decimal | None,
    PlainValidator(remembered(parse_optional_money)),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": float(MAX_MONEY), "multipleOf": 0.0001},
                {"type": "string", "pattern": _MONEY_PATTERN},
                {"type": "null"},
            ]
        }
    ),
]


class SubscriptionData(Protocol):
    """What a validated subscription offers, whichever input it came from."""

    @property
    def account_ref(self) -> str: ...

    @property
    def service_ref(self) -> str: ...

    @property
    def quantity(self) -> Decimal: ...

    @property
    def start_date(self) -> date: ...

    @property
    def end_date(self) -> date | None: ...

    @property
    def billing_cycle(self) -> str: ...

    @property
    def term(self) -> str: ...

    @property
    def status(self) -> str | None: ...

    @property
    def cost_price(self) -> Decimal | None: ...

    @property
    def customer_price(self) -> Decimal | None: ...


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountIn(_Strict):
    """A vendor-side customer. A field left out (``None``: null is refused) keeps what is
    stored; a new account gives every one (:func:`missing_of_new`)."""

    ref: Ref
    name: NameOrKept = None
    status: AccountStatusOrKept = None
    billed: BilledOrKept = None


class ServiceIn(_Strict):
    """A vendor-side product or SKU; its name left out keeps the stored one."""

    ref: Ref
    name: NameOrKept = None


def missing_of_new(record: AccountIn | ServiceIn) -> list[str]:
    """The fields a new account or service left out: it has nothing stored to keep."""
    return [name for name in type(record).model_fields if getattr(record, name) is None]


class _SubscriptionFields(_Strict):
    quantity: Quantity
    start_date: DateField
    end_date: OptionalDate = None
    billing_cycle: Name
    term: Name
    status: OptionalText = None
    cost_price: OptionalMoney = None
    customer_price: OptionalMoney = None

    @model_validator(mode="after")
    def _end_not_before_start(self) -> _SubscriptionFields:
        if self.end_date is not None and self.end_date < self.start_date:
            raise _fail(
                "date_order",
                f"end_date {self.end_date} is before start_date {self.start_date}",
            )
        return self


class SubscriptionIn(_SubscriptionFields):
    """An account's subscription to a service: counts and (optionally) prices as totals.
    An optional field left out keeps the stored value of an existing subscription; null
    clears it."""

    account_ref: Ref
    service_ref: Ref


# The values a subscription may leave out are the ones the store may clear (one rule).
assert {
    name for name in SUBSCRIPTION_VALUES if not SubscriptionIn.model_fields[name].is_required()
} == set(OPTIONAL_VALUES)


class UsagePayload(_Strict):
    """A batch of usage data: the JSON import file and the REST API body."""

    accounts: list[AccountIn] = Field(default_factory=list)
    services: list[ServiceIn] = Field(default_factory=list)
    subscriptions: list[SubscriptionIn] = Field(default_factory=list)


class _RowParties(Protocol):
    """What a CSV row, validated or as plain values, says of its account and service."""

    @property
    def account_ref(self) -> str: ...

    @property
    def account_name(self) -> str: ...

    @property
    def account_status(self) -> str: ...

    @property
    def billed(self) -> bool: ...

    @property
    def service_ref(self) -> str: ...

    @property
    def service_name(self) -> str: ...


def account_of_row(row: _RowParties) -> AccountIn:
    """The account a CSV row describes (one definition for :class:`CsvRow` and
    :class:`CsvValues`)."""
    return AccountIn.model_construct(
        ref=row.account_ref, name=row.account_name, status=row.account_status, billed=row.billed
    )


def service_of_row(row: _RowParties) -> ServiceIn:
    """The service a CSV row describes."""
    return ServiceIn.model_construct(ref=row.service_ref, name=row.service_name)


class CsvRow(_SubscriptionFields):
    """One CSV row: a subscription with its account and service."""

    account_ref: Ref
    account_name: Name
    account_status: AccountStatus
    billed: Billed
    service_ref: Ref
    service_name: Name

    def account(self) -> AccountIn:
        """The account this row describes."""
        return account_of_row(self)

    def service(self) -> ServiceIn:
        """The service this row describes."""
        return service_of_row(self)


# The documented order (the account, the service, then the subscription's values as they
# are stored); a file may use any order.
CSV_COLUMNS = (
    "account_ref",
    "account_name",
    "account_status",
    "billed",
    "service_ref",
    "service_name",
    *SUBSCRIPTION_VALUES,
)
assert set(CSV_COLUMNS) == set(CsvRow.model_fields)
REQUIRED_CSV_COLUMNS = tuple(
    name for name in CSV_COLUMNS if CsvRow.model_fields[name].is_required()
)


class CsvValues(NamedTuple):
    """A valid CSV row's values, as :class:`CsvRow` would hold them, without building it
    (in :data:`CSV_COLUMNS` order)."""

    account_ref: str
    account_name: str
    account_status: str
    billed: bool
    service_ref: str
    service_name: str
    quantity: Decimal
    start_date: date
    end_date: date | None
    billing_cycle: str
    term: str
    status: str | None
    cost_price: Decimal | None
    customer_price: Decimal | None

    def account(self) -> AccountIn:
        """The account this row describes."""
        return account_of_row(self)

    def service(self) -> ServiceIn:
        """The service this row describes."""
        return service_of_row(self)


class _TextInput:
    """What the field parsers read of pydantic's ``ValidationInfo`` for a CSV cell."""

    context = {"text": True}  # noqa: RUF012 (read only)


def _plain_parser(name: str) -> Parser:
    (validator,) = (m for m in CsvRow.model_fields[name].metadata if isinstance(m, PlainValidator))
    return cast(Parser, validator.func)


assert CsvValues._fields == CSV_COLUMNS
_TEXT_INFO = cast(ValidationInfo, _TextInput())
_REQUIRED_COUNT = len(REQUIRED_CSV_COLUMNS)
# Per column: its place in CsvValues, the very parser CsvRow's field runs (one rule each),
# the value each valid cell text gave it (cleared when full, as remembered()'s), and
# whether it is required.
_CSV_FIELDS: dict[str, tuple[int, Parser, dict[str, Any], bool]] = {
    name: (index, _plain_parser(name), {}, name in REQUIRED_CSV_COLUMNS)
    for index, name in enumerate(CSV_COLUMNS)
}
_NO_VALUES: list[Any] = [None] * len(CSV_COLUMNS)


def parse_csv_row(data: dict[str, Any]) -> CsvValues | None:
    """A CSV row's values when :class:`CsvRow` would accept it, else ``None``: then
    ``CsvRow.model_validate`` names every problem. The same field parsers and the same
    date-order rule, called directly, a cell's answer remembered per column (cells repeat
    from row to row): an import's rows are nearly all valid, and building a model through
    pydantic and :func:`remembered` for 14 cells a row was a third of an import's CPU."""
    values = _NO_VALUES.copy()
    required = 0
    for column, cell in data.items():
        found = _CSV_FIELDS.get(column)
        if found is None:
            return None  # not a column (a plug-in's row): CsvRow refuses it
        index, parse, answers, needed = found
        value = answers.get(cell, answers) if type(cell) is str else answers
        if value is answers:
            try:
                value = parse(cell, _TEXT_INFO)
            except PydanticCustomError:
                return None
            if type(cell) is str:
                if len(answers) >= _REMEMBERED:
                    answers.clear()
                answers[cell] = value
        values[index] = value
        required += needed
    if required != _REQUIRED_COUNT:
        return None  # a required column is missing
    row = CsvValues._make(values)
    if row.end_date is not None and row.end_date < row.start_date:
        return None
    return row
