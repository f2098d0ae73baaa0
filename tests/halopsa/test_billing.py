"""The one adapter: Halo's billing records in, the planner's typed writes out as Halo objects."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from halosync.domain.markers import marker_for, marker_note
from halosync.domain.models import HaloLicence, LicenceChange, LicenceFields, NewLicence
from halosync.halopsa.billing import (
    LICENCE_ENTITY,
    entity_of,
    halo_body,
    halo_fields,
    licence_from_halo,
    licence_write,
)
from halosync.halopsa.errors import HaloResponseError
from halosync.halopsa.models import LicenceWrite

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
