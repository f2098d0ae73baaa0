"""The one adapter between Halo's billing records and the planner's domain types.

Reads: a ``Licence_List`` object (typed as :class:`~halosync.halopsa.models.SoftwareLicence`)
becomes a :class:`~halosync.domain.models.HaloLicence`, a recurring invoice's lines
(:class:`~halosync.halopsa.models.InvoiceLine`) :class:`~halosync.domain.models.HaloInvoiceLine`.
Writes: the planner's typed :data:`~halosync.domain.models.HaloWrite` becomes the typed Halo
object to POST (:class:`~halosync.halopsa.models.LicenceWrite`,
:class:`~halosync.halopsa.models.InvoiceLineWrite`) and its JSON body. Halo's field names
(``ihid``, ``_itemid``), the fields markers live in and the licence type halosync creates
are written here only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from halosync.domain.markers import find_marker, marker_note
from halosync.domain.models import (
    HaloInvoiceLine,
    HaloLicence,
    HaloValue,
    HaloWrite,
    LicenceChange,
    LicenceFields,
    LineChange,
    LineFields,
    NewLicence,
    NewLine,
)
from halosync.halopsa.errors import HaloResponseError, InvoiceLinesUnknownError
from halosync.halopsa.models import (
    HaloModel,
    InvoiceLine,
    InvoiceLineWrite,
    LicenceWrite,
    RecurringInvoice,
    SoftwareLicence,
)

LICENCE_ENTITY = "SoftwareLicence"
"""The Halo entity of licences (read and written)."""

LICENCE_MARKER_FIELD = "notes"
"""The ``Licence_List`` field the marker is written to on create."""

HALO_SUBSCRIPTION_TYPE = 1
"""``Licence_List.type`` of the licences halosync creates: the value vendor-seat syncs use
for a subscription. Sent explicitly, since Halo's default for an omitted type is not known
to be a subscription (see ``docs/halopsa.md``)."""


M = TypeVar("M", bound=HaloModel)


def _validated(model: type[M], record: Mapping[str, Any]) -> M:
    try:
        return model.model_validate(record)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'record'}: {problem['msg']}"
            for problem in error.errors()[:3]
        )
        raise HaloResponseError(
            f"Halo answered a {model.__name__} halosync cannot read (id "
            f"{record.get('id')!r}): {problems}."
        ) from error


def id_of(record: Mapping[str, Any]) -> int | None:
    """The id a record of Halo's answer carries; None when it has none (missing, null, 0 or
    no number). Such a record can be neither read again nor written by id, so it is never
    one halosync knows or looks for."""
    value = record.get("id")
    if isinstance(value, bool):
        return None
    try:
        return int(value or 0) or None
    except (TypeError, ValueError):
        return None


# --- licences ---------------------------------------------------------------------------


def read_licence(record: Mapping[str, Any]) -> SoftwareLicence:
    """A ``Licence_List`` JSON object, typed; :class:`HaloResponseError` if it is not one."""
    return _validated(SoftwareLicence, record)


def licence_marker(licence: SoftwareLicence) -> str | None:
    """The halosync marker the licence carries (None when its notes were not read)."""
    return find_marker(licence.notes)


def has_marker_field(record: Mapping[str, Any]) -> bool:
    """Whether a licence list row carries the field markers live in (some lists omit it)."""
    return LICENCE_MARKER_FIELD in record


def licence_from_halo(record: SoftwareLicence | Mapping[str, Any]) -> HaloLicence:
    """A Halo licence as the planner sees it."""
    licence = record if isinstance(record, SoftwareLicence) else read_licence(record)
    return HaloLicence(
        id=licence.id,
        client_id=licence.client_id or 0,
        name=licence.name or "",
        count=licence.count,
        price=licence.price,
        purchase_price=licence.purchase_price,
        start_date=licence.start_date,
        end_date=licence.end_date,
        billing_cycle=licence.billing_cycle,
        term_duration=licence.term_duration,
        status=licence.status,
        marker=licence_marker(licence),
        deleted=licence.deleted,
        client_name=licence.client_name or "",
        active=licence.is_active is not False,
    )


def _licence_values(fields: LicenceFields) -> dict[str, Any]:
    return {
        "count": fields.count,
        "price": fields.price,
        "purchase_price": fields.purchase_price,
        "start_date": fields.start_date,
        "end_date": fields.end_date,
        "billing_cycle": fields.billing_cycle,
        "term_duration": fields.term_duration,
        "status": fields.status,
    }


def licence_write(write: NewLicence | LicenceChange) -> LicenceWrite:
    """The ``Licence_List`` object that carries out ``write``: a whole new licence (with its
    type and marker note), or the changed fields of an existing one."""
    if isinstance(write, LicenceChange):
        return LicenceWrite(id=write.licence_id, **_licence_values(write.fields))
    return LicenceWrite(
        client_id=write.client_id,
        name=write.name,
        type=HALO_SUBSCRIPTION_TYPE,
        item_id=write.item_id,
        **_licence_values(write.fields),
        notes=marker_note(write.marker),
    )


# --- recurring invoices and their lines ---------------------------------------------------

INVOICE_ENTITY = "RecurringInvoice"
"""The Halo entity of recurring invoices (read with their lines)."""

LINES_ENTITY = "RecurringInvoice/updatelines"
"""Where lines are added to and changed on a recurring invoice."""

INVOICE_LINE_MARKER_FIELD = "comment_2"
"""The ``InvoiceDetail`` field the marker is written to when halosync adds a line."""


def read_invoice(record: Mapping[str, Any]) -> RecurringInvoice:
    """A recurring invoice JSON object (with its lines, if read), typed."""
    return _validated(RecurringInvoice, record)


def read_invoice_line(record: Mapping[str, Any]) -> InvoiceLine:
    """An ``InvoiceDetail`` JSON object, typed."""
    return _validated(InvoiceLine, record)


def line_marker(line: InvoiceLine) -> str | None:
    """The halosync marker an invoice line carries."""
    return find_marker(line.comment_2)


def invoice_line_from_halo(
    line: InvoiceLine, recurring_invoice_id: int, invoice: RecurringInvoice | None = None
) -> HaloInvoiceLine:
    """One line of recurring invoice ``recurring_invoice_id`` as the planner sees it (with
    the client ``invoice`` belongs to, when given)."""
    if line.id is None:
        raise HaloResponseError(
            f"Halo answered a line of recurring invoice {recurring_invoice_id} without an id."
        )
    return HaloInvoiceLine(
        id=line.id,
        recurring_invoice_id=recurring_invoice_id,
        item_id=line.item_id or 0,
        quantity=line.qty_order,
        unit_price=line.unit_price,
        unit_cost=line.unit_cost,
        description=line.item_shortdescription or "",
        marker=line_marker(line),
        inactive=line.isinactive,
        calculated=(line.recurring_invoice_quantity_type or 0) != 0,
        client_id=invoice.client_id if invoice is not None else None,
        client_name=(invoice.client_name or "") if invoice is not None else "",
    )


def invoice_lines(record: RecurringInvoice | Mapping[str, Any]) -> list[HaloInvoiceLine]:
    """The lines of a recurring invoice as the planner sees them;
    :class:`InvoiceLinesUnknownError` when Halo did not answer them (missing or null)."""
    invoice = record if isinstance(record, RecurringInvoice) else read_invoice(record)
    if invoice.lines is None:
        raise InvoiceLinesUnknownError(invoice.id)
    return [invoice_line_from_halo(line, invoice.id, invoice) for line in invoice.lines]


def _line_values(fields: LineFields) -> dict[str, Any]:
    return {
        "qty_order": fields.qty_order,
        "unit_price": fields.unit_price,
        "unit_cost": fields.unit_cost,
    }


def line_write(write: NewLine | LineChange) -> InvoiceLineWrite:
    """The ``InvoiceDetail`` object that carries out ``write``: a new line of the item on the
    invoice, stamped with the marker, or the changed fields of an existing line."""
    if isinstance(write, LineChange):
        return InvoiceLineWrite(
            id=write.line_id, ihid=write.recurring_invoice_id, **_line_values(write.fields)
        )
    return InvoiceLineWrite(
        ihid=write.recurring_invoice_id,
        item_id=write.item_id,
        item_shortdescription=write.description,
        **_line_values(write.fields),
        comment_2=write.marker,
    )


def created_line_matches(body: Mapping[str, Any], line: InvoiceLine) -> bool:
    """Whether ``line`` (read from Halo) is the one the create ``body`` asked for: the same
    item and marker."""
    marker = line_marker(line)
    return (
        marker is not None
        and marker == body.get(INVOICE_LINE_MARKER_FIELD)
        and (line.item_id or 0) == int(body["_itemid"])
    )


def invoice_of(body: Mapping[str, Any]) -> int:
    """The recurring invoice a line body is for."""
    return int(body["ihid"])


def created_licence_marker(body: Mapping[str, Any]) -> str | None:
    """The marker a licence create ``body`` stamps."""
    return find_marker(str(body.get(LICENCE_MARKER_FIELD) or ""))


# --- any write --------------------------------------------------------------------------


def halo_object(write: HaloWrite) -> LicenceWrite | InvoiceLineWrite:
    """The typed Halo object that carries out ``write``."""
    if isinstance(write, NewLicence | LicenceChange):
        return licence_write(write)
    return line_write(write)


def halo_body(write: HaloWrite) -> dict[str, Any]:
    """``write`` as the JSON object POSTed to Halo."""
    return halo_object(write).body()


def halo_fields(write: HaloWrite) -> dict[str, HaloValue]:
    """``write`` by Halo field name, values as the planner holds them (for run results)."""
    return halo_object(write).fields()


def entity_of(write: HaloWrite) -> str:
    """The Halo entity ``write`` is POSTed to."""
    return LICENCE_ENTITY if isinstance(write, NewLicence | LicenceChange) else LINES_ENTITY
