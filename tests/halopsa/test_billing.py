"""The one adapter: Halo's billing records in, the planner's typed writes out as Halo objects."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from halosync.domain.markers import marker_for, marker_note
from halosync.domain.models import (
    HaloInvoiceLine,
    HaloLicence,
    LicenceChange,
    LicenceFields,
    LineChange,
    LineFields,
    NewLicence,
    NewLine,
)
from halosync.halopsa.billing import (
    LICENCE_ENTITY,
    LINES_ENTITY,
    created_line_matches,
    entity_of,
    halo_body,
    halo_fields,
    invoice_lines,
    licence_from_halo,
    licence_write,
    line_write,
    read_invoice_line,
)
from halosync.halopsa.errors import HaloResponseError, InvoiceLinesUnknownError
from halosync.halopsa.models import InvoiceLineWrite, LicenceWrite

MARKER = marker_for("ws", "A1", "S1")


def test_a_new_licence_is_posted_whole_with_its_type_and_marker_note() -> None:
    write = NewLicence(
        client_id=10,
        name="Seats",
        item_id=500,
        fields=LicenceFields(
            count=5,
            price=Decimal("50.0000"),
            start_date=date(2025, 1, 1),
            status="Active",
        ),
        marker=MARKER,
    )
    assert isinstance(licence_write(write), LicenceWrite)
    assert entity_of(write) == LICENCE_ENTITY
    assert halo_body(write) == {
        "client_id": 10,
        "name": "Seats",
        "type": 1,
        "item_id": 500,
        "count": 5,
        "price": 50.0,
        "start_date": "2025-01-01T00:00:00",
        "status": "Active",
        "notes": marker_note(MARKER),
    }
    assert halo_fields(write)["price"] == Decimal("50.0000")
    assert halo_fields(write)["start_date"] == date(2025, 1, 1)


def test_a_licence_update_sends_its_id_and_the_changed_fields_only() -> None:
    write = LicenceChange(7, LicenceFields(count=0, status="Cancelled"))
    assert halo_body(write) == {"id": 7, "count": 0, "status": "Cancelled"}


def test_a_licence_is_read_with_halos_sentinels_marker_and_rounding() -> None:
    licence = licence_from_halo(
        {
            "id": 7,
            "client_id": "12",
            "name": None,
            "count": None,
            "price": 10.329999999999998,
            "start_date": "2025-01-01T05:30:00",
            "end_date": "1899-12-30T00:00:00",
            "status": "Active",
            "notes": f"kept by halosync {MARKER}",
            "deleted": None,
        }
    )
    assert licence == HaloLicence(
        id=7,
        client_id=12,
        name="",
        count=0,
        price=Decimal("10.3300"),
        start_date=date(2025, 1, 1),
        status="Active",
        marker=MARKER,
    )


def test_a_licence_halosync_cannot_read_is_a_halo_response_error_naming_it() -> None:
    with pytest.raises(HaloResponseError, match=r"SoftwareLicence.*7.*count"):
        licence_from_halo({"id": 7, "count": "many"})


def test_a_new_line_names_its_invoice_item_and_marker_as_halo_spells_them() -> None:
    write = NewLine(
        recurring_invoice_id=-94,
        item_id=500,
        description="Mail",
        fields=LineFields(qty_order=Decimal("4.0000"), unit_price=Decimal("12.5000")),
        marker=MARKER,
    )
    assert isinstance(line_write(write), InvoiceLineWrite)
    assert entity_of(write) == LINES_ENTITY
    body = halo_body(write)
    assert body == {
        "ihid": -94,
        "_itemid": 500,
        "item_shortdescription": "Mail",
        "qty_order": 4.0,
        "unit_price": 12.5,
        "comment_2": MARKER,
    }
    line = read_invoice_line({"id": 9, **body})
    assert created_line_matches(body, line)
    assert not created_line_matches({**body, "_itemid": 501}, line)


def test_a_line_update_sends_its_id_its_invoice_and_the_changed_fields_only() -> None:
    write = LineChange(24967, -94, LineFields(qty_order=Decimal("8.0000")))
    assert halo_body(write) == {"id": 24967, "ihid": -94, "qty_order": 8.0}
    assert halo_fields(write)["qty_order"] == Decimal("8.0000")


def test_an_invoices_lines_are_read_with_rounding_marker_and_calculated_quantities() -> None:
    lines = invoice_lines(
        {
            "id": -94,
            "lines": [
                {
                    "id": 1,
                    "_itemid": 500,
                    "qty_order": 14.000000001,
                    "unit_price": None,
                    "comment_2": MARKER,
                    "item_shortdescription": "Mail",
                },
                {"id": 2, "_itemid": -1, "recurring_invoice_quantity_type": 1, "isinactive": None},
            ],
        }
    )
    assert lines == [
        HaloInvoiceLine(
            id=1,
            recurring_invoice_id=-94,
            item_id=500,
            quantity=Decimal("14.0000"),
            description="Mail",
            marker=MARKER,
        ),
        HaloInvoiceLine(
            id=2, recurring_invoice_id=-94, item_id=0, quantity=Decimal(0), calculated=True
        ),
    ]
    # Lines missing or null are unknown, never "no lines" (a header POST from them would
    # delete every line on the invoice).
    for unread in ({"id": -95, "lines": None}, {"id": -95}):
        with pytest.raises(InvoiceLinesUnknownError, match="recurring invoice -95 without"):
            invoice_lines(unread)
