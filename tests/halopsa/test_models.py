"""Models accept Halo's sentinels, extra fields and odd date-times."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from halosync.halopsa.models import (
    Client,
    InvoiceLine,
    RecurringInvoice,
    SoftwareLicence,
    halo_json,
)


def test_recurring_invoice_from_a_real_shape() -> None:
    invoice = RecurringInvoice.model_validate(
        {
            "id": -94,
            "client_id": 12,
            "contract_id": 0,
            "reference": "Monthly Billing",
            "nextcreationdate": "2024-04-30T23:00:00",
            "schedule": {"id": 150},
            "lines": [
                {
                    "id": 24967,
                    "ihid": -94,
                    "_itemid": 1000,
                    "qty_order": 14.0,
                    "unit_price": 10.32,
                    "unit_cost": 8.1,
                    "startdate": "1899-12-30T00:00:00",
                    "asset_id": -1,
                    "recurring_invoice_quantity_type": 1,
                    "quantity_licences": [{"id": 288, "licence_id": 507, "kind": 1}],
                },
                {"id": 24968, "ihid": -94, "_itemid": -1, "qty_order": 1},
            ],
        }
    )
    assert invoice.id == -94
    assert invoice.contract_id is None
    assert invoice.nextcreationdate == date(2024, 4, 30)
    assert invoice.lines is not None
    first, second = invoice.lines
    assert first.item_id == 1000
    assert first.qty_order == Decimal("14.0")
    assert first.unit_price == Decimal("10.32")
    assert first.startdate is None
    assert first.quantity_licences[0].licence_id == 507
    assert second.item_id is None
    assert invoice.model_extra is not None
    assert invoice.model_extra["schedule"] == {"id": 150}
    assert first.model_dump(by_alias=True)["_itemid"] == 1000


def test_licence_sentinels_and_string_ids() -> None:
    licence = SoftwareLicence.model_validate(
        {
            "id": 7,
            "name": "Seats",
            "count": 3,
            "client_id": "12",
            "site_id": -1,
            "item_id": "1000",
            "end_date": "1901-01-01T00:00:00",
            "start_date": "2025-01-01T05:30:00",
            "price": 12.5,
        }
    )
    assert licence.client_id == 12
    assert licence.site_id is None
    assert licence.item_id == 1000
    assert licence.end_date is None
    assert licence.start_date == date(2025, 1, 1)
    assert licence.price == Decimal("12.5")


def test_client_tolerates_extra_fields() -> None:
    client = Client.model_validate({"id": 3, "name": "Acme", "toplevel_id": -1, "colour": "#fff"})
    assert client.toplevel_id is None
    assert client.model_extra == {"colour": "#fff"}


def test_line_defaults() -> None:
    assert InvoiceLine.model_validate({}).qty_order == Decimal(0)


def test_halo_json_converts_for_post_bodies() -> None:
    assert halo_json(
        {
            "price": Decimal("1.50"),
            "start_date": date(2025, 2, 1),
            "when": datetime(2025, 2, 1, 10, 0, tzinfo=UTC),
            "lines": [Decimal(2)],
        }
    ) == {
        "price": 1.5,
        "start_date": "2025-02-01T00:00:00",
        "when": "2025-02-01T10:00:00",
        "lines": [2.0],
    }
