"""Reading Halo's JSON records into the planner's types, with the same rules it writes by.

The sync engine gets ``Licence_List`` and ``InvoiceDetail`` objects from the HaloPSA
client; turning them into :class:`HaloLicence` / :class:`HaloInvoiceLine` here keeps the
field names, the date sentinels and the marker fields in one place with the planner.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from halosync.domain.halo_values import halo_decimal, parse_halo_date
from halosync.domain.markers import INVOICE_LINE_MARKER_FIELD, LICENCE_MARKER_FIELD, find_marker
from halosync.domain.models import HaloInvoiceLine, HaloLicence


def _optional_decimal(value: Any) -> Decimal | None:
    return None if value is None else halo_decimal(value)


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def licence_from_halo(record: Mapping[str, Any]) -> HaloLicence:
    """A ``Licence_List`` JSON object as a :class:`HaloLicence`."""
    return HaloLicence(
        id=int(record["id"]),
        client_id=int(record.get("client_id") or 0),
        name=str(record.get("name") or ""),
        count=int(record.get("count") or 0),
        price=_optional_decimal(record.get("price")),
        purchase_price=_optional_decimal(record.get("purchase_price")),
        start_date=parse_halo_date(record.get("start_date")),
        end_date=parse_halo_date(record.get("end_date")),
        billing_cycle=_optional_str(record.get("billing_cycle")),
        term_duration=_optional_str(record.get("term_duration")),
        status=_optional_str(record.get("status")),
        marker=find_marker(_optional_str(record.get(LICENCE_MARKER_FIELD))),
        deleted=bool(record.get("deleted") or False),
    )


def invoice_line_from_halo(record: Mapping[str, Any], recurring_invoice_id: int) -> HaloInvoiceLine:
    """An ``InvoiceDetail`` JSON object of recurring invoice ``recurring_invoice_id``."""
    return HaloInvoiceLine(
        id=int(record["id"]),
        recurring_invoice_id=recurring_invoice_id,
        item_id=int(record.get("_itemid") or 0),
        quantity=halo_decimal(record.get("qty_order") or 0),
        unit_price=_optional_decimal(record.get("unit_price")),
        unit_cost=_optional_decimal(record.get("unit_cost")),
        description=str(record.get("item_shortdescription") or ""),
        marker=find_marker(_optional_str(record.get(INVOICE_LINE_MARKER_FIELD))),
        inactive=bool(record.get("isinactive") or False),
        calculated=int(record.get("recurring_invoice_quantity_type") or 0) != 0,
    )
