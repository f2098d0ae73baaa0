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

from halosync.domain.halo_values import HALO_EMPTY_DATES, halo_date


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


def _date_only(value: Any) -> Any:
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


def _timestamp(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.date() in HALO_EMPTY_DATES:
            return None
        # Halo stores UTC and usually omits the offset.
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return value


def _decimal(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


HaloRef = Annotated[int | None, BeforeValidator(_reference)]
HaloDate = Annotated[date | None, BeforeValidator(_date_only)]
HaloTimestamp = Annotated[datetime | None, BeforeValidator(_timestamp)]
Money = Annotated[Decimal | None, BeforeValidator(_decimal)]


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


class Site(HaloModel):
    """A site of a Halo client."""

    id: int
    name: str = ""
    client_id: HaloRef = None
    client_name: str | None = None
    inactive: bool = False
    isinvoicesite: bool | None = None


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
    qty_free: Decimal | None = None
    minimum_qty: Decimal | None = None
    pro_rata: int | None = None
    use_linked_subscription_price: bool | None = None
    use_linked_subscription_cost: bool | None = None


class InvoiceLine(HaloModel):
    """One line of a (recurring) invoice; schema ``InvoiceDetail``. The item link is ``_itemid``."""

    id: int | None = None
    ihid: int | None = None
    item_id: HaloRef = Field(default=None, alias="_itemid")
    item_code: str | None = None
    item_shortdescription: str | None = None
    item_longdescription: str | None = None
    qty_order: Decimal = Decimal(0)
    unit_price: Money = None
    unit_cost: Money = None
    baseprice: Money = None
    isinactive: bool = False
    sequenceid: int | None = None
    startdate: HaloDate = None
    enddate: HaloDate = None
    recurring_invoice_quantity_type: int | None = None
    quantity_licences: list[LineQuantityLink] = Field(default_factory=list)
    quantity_subscriptions: list[LineQuantityLink] = Field(default_factory=list)


class RecurringInvoice(HaloModel):
    """A recurring invoice header (ids are negative in Halo). Lines only from a single GET or
    a list read with ``includelines=true``."""

    id: int
    client_id: HaloRef = None
    client_name: str | None = None
    reference: str | None = None
    contract_id: HaloRef = None
    inactive: bool = False
    nextcreationdate: HaloDate = None
    lines: list[InvoiceLine] = Field(default_factory=list)


class SoftwareLicence(HaloModel):
    """A Halo Software Licence / Subscription (schema ``Licence_List``)."""

    id: int
    name: str = ""
    type: int | None = None
    count: int = 0
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
    billing_cycle: str | None = None
    term_duration: str | None = None
    status: str | None = None
    is_active: bool | None = None
    deleted: bool | None = None
    vendor: str | None = None
    product_sku: str | None = None
    notes: str | None = None


class ClientContract(HaloModel):
    """A client contract (schema ``ContractHeader``)."""

    id: int
    client_id: HaloRef = None
    client_name: str | None = None
    ref: str | None = None
    start_date: HaloDate = None
    end_date: HaloDate = None
    active: bool | None = None
    expired: bool | None = None
    status: int | None = None
    contract_status: str | None = None
    billingperiod: int | None = None


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
