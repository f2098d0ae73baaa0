"""Pydantic models of the Halo entities halosync reads, tolerant of Halo's quirks.

Halo objects are huge (hundreds of fields) and noisy: unknown fields are kept but not
declared; ``-1``/``0`` references mean "none"; ``1899-12-30`` and ``1901-01-01`` dates
mean "no date"; date-only fields sometimes carry an odd time, so only the date part counts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from halosync.domain.halo_values import halo_date, halo_decimal


def _reference(value: Any) -> Any:
    """-1, 0, blank and other non-positive ids are Halo's "no reference"."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return value
    try:
        number = int(float(value))
    except (TypeError, ValueError):
        return value
    return number if number > 0 else None


HALO_EMPTY_DATES = frozenset(
    {date(1899, 12, 30), date(1900, 1, 1), date(1901, 1, 1), date(1, 1, 1)}
)
"""Halo's "no date" values: the OLE zero date it answers, the 1900/1901 values scripts
write, and .NET's ``DateTime.MinValue``."""


def halo_day(value: Any) -> Any:
    """The date a Halo date or date-time value stands for; None for blank and for Halo's
    "no date" sentinels (:data:`HALO_EMPTY_DATES`).

    The one reading of Halo's dates: only the date part counts (date-only fields sometimes
    carry an odd time or offset). What is not a date is handed back for the model to refuse.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        value = value.date()
    elif isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip()[:10])
        except ValueError:
            return value
    if isinstance(value, date) and value in HALO_EMPTY_DATES:
        return None
    return value


def _decimal(value: Any) -> Any:
    """Halo's money and quantities by the one rule (:func:`halo_decimal`); None for blank."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, Decimal | float | int | str):
        return value
    try:
        return halo_decimal(value)
    except ArithmeticError:
        return value


def _quantity(value: Any) -> Any:
    """A quantity Halo left blank is 0."""
    return Decimal(0) if value is None or value == "" else _decimal(value)


def _count(value: Any) -> Any:
    """A licence count Halo left blank is 0."""
    return 0 if value is None or value == "" else value


def _text(value: Any) -> Any:
    """Free text as a string (Halo sometimes answers a number where text is documented)."""
    if isinstance(value, bool):
        return value
    return str(value) if isinstance(value, int | float | Decimal) else value


def _flag(value: Any) -> Any:
    """A flag Halo left blank is false."""
    return False if value is None else value


HaloRef = Annotated[int | None, BeforeValidator(_reference)]
HaloDate = Annotated[date | None, BeforeValidator(halo_day)]
Money = Annotated[Decimal | None, BeforeValidator(_decimal)]
"""Money or a quantity: rounded half-up to Halo's 4 places (:func:`halo_decimal`)."""
Quantity = Annotated[Decimal, BeforeValidator(_quantity)]
Count = Annotated[int, BeforeValidator(_count)]
Text = Annotated[str | None, BeforeValidator(_text)]
Flag = Annotated[bool, BeforeValidator(_flag)]


class HaloModel(BaseModel):
    """Base: extra fields kept, names as Halo spells them (aliases where Python cannot)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=False)


class Client(HaloModel):
    """A Halo client (customer); schema ``Area``."""

    id: int
    name: str = ""
    inactive: bool = False
    toplevel_id: HaloRef = None
    toplevel_name: str | None = None
    main_site_id: HaloRef = None
    accountsid: str | None = None
    ref: str | None = None


class Item(HaloModel):
    """A Halo item (product/service in the catalogue)."""

    id: int
    name: str = ""
    description: str | None = None
    baseprice: Money = None
    costprice: Money = None
    recurringprice: Money = None
    recurringcost: Money = None
    isrecurringitem: bool | None = None
    status: int | None = None
    inactive: bool = False
    internalreference: str | None = None
    externalreference: str | None = None
    accountsid: str | None = None


class LineQuantityLink(HaloModel):
    """A recurring-invoice line's link to a licence/subscription whose count sets its quantity."""

    id: int | None = None
    invoice_line_id: int | None = None
    kind: int | None = None
    licence_id: HaloRef = None
    licence_name: str | None = None
    assigned_licences: bool | None = None
    qty_free: Money = None
    minimum_qty: Money = None
    pro_rata: int | None = None
    use_linked_subscription_price: bool | None = None
    use_linked_subscription_cost: bool | None = None


class InvoiceLine(HaloModel):
    """One line of a (recurring) invoice; schema ``InvoiceDetail``. The item link is ``_itemid``."""

    id: int | None = None
    ihid: int | None = None
    item_id: HaloRef = Field(default=None, alias="_itemid")
    item_code: str | None = None
    item_shortdescription: Text = None
    item_longdescription: Text = None
    qty_order: Quantity = Decimal(0)
    unit_price: Money = None
    unit_cost: Money = None
    baseprice: Money = None
    isinactive: Flag = False
    comment_2: Text = None
    """Where halosync writes the marker of a line it adds."""
    sequenceid: int | None = None
    startdate: HaloDate = None
    enddate: HaloDate = None
    recurring_invoice_quantity_type: int | None = None
    quantity_licences: list[LineQuantityLink] = Field(default_factory=list)
    quantity_subscriptions: list[LineQuantityLink] = Field(default_factory=list)


class RecurringInvoice(HaloModel):
    """A recurring invoice header (ids are negative in Halo). Lines only from a single GET or
    a list read with ``includelines=true``; ``lines`` None means Halo did not answer them
    (missing or null): unknown, never empty."""

    id: int
    client_id: HaloRef = None
    client_name: str | None = None
    reference: str | None = None
    contract_id: HaloRef = None
    inactive: bool = False
    nextcreationdate: HaloDate = None
    lines: list[InvoiceLine] | None = None


class SoftwareLicence(HaloModel):
    """A Halo Software Licence / Subscription (schema ``Licence_List``)."""

    id: int
    name: Text = None
    type: int | None = None
    count: Count = 0
    client_id: HaloRef = None
    client_name: str | None = None
    site_id: HaloRef = None
    item_id: HaloRef = None
    price: Money = None
    purchase_price: Money = None
    monthly_price: Money = None
    monthly_cost: Money = None
    start_date: HaloDate = None
    end_date: HaloDate = None
    billing_cycle: Text = None
    term_duration: Text = None
    status: Text = None
    is_active: bool | None = None
    deleted: Flag = False
    vendor: str | None = None
    product_sku: str | None = None
    notes: Text = None
    """Where halosync writes the marker of a licence it creates (list rows may lack it)."""


class HaloWriteModel(BaseModel):
    """Base of the objects halosync POSTs: only declared fields; unset (None) ones not sent."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def fields(self) -> dict[str, Any]:
        """The fields set, by Halo's names, values as held (Decimals, dates)."""
        return self.model_dump(by_alias=True, exclude_none=True)

    def body(self) -> dict[str, Any]:
        """The JSON object Halo is sent (:func:`halo_json`)."""
        body: dict[str, Any] = halo_json(self.fields())
        return body


class LicenceWrite(HaloWriteModel):
    """A ``Licence_List`` object to POST: without ``id`` a new licence, with it only the
    fields to change."""

    id: int | None = None
    client_id: int | None = None
    name: str | None = None
    type: int | None = None
    item_id: int | None = None
    count: int | None = None
    price: Decimal | None = None
    purchase_price: Decimal | None = None
    start_date: date | None = None
    end_date: date | None = None
    billing_cycle: str | None = None
    term_duration: str | None = None
    status: str | None = None
    notes: str | None = None


class InvoiceLineWrite(HaloWriteModel):
    """An ``InvoiceDetail`` object to POST: without ``id`` a new line of recurring invoice
    ``ihid``, with it only the fields to change (``ihid`` still names the invoice)."""

    id: int | None = None
    ihid: int | None = None
    item_id: int | None = Field(default=None, alias="_itemid")
    item_shortdescription: str | None = None
    qty_order: Decimal | None = None
    unit_price: Decimal | None = None
    unit_cost: Decimal | None = None
    comment_2: str | None = None


def halo_json(value: Any) -> Any:
    """A value as Halo takes it in a POST body: Decimals as numbers, dates as midnight UTC."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
    if isinstance(value, date):
        return halo_date(value)
    if isinstance(value, dict):
        return {k: halo_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [halo_json(v) for v in value]
    return value
