"""The full line set posted back to a recurring invoice: every line as read, ours changed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from halosync.halopsa.errors import HaloRequestRejectedError
from halosync.halopsa.invoices import NewInvoiceLine, RecurringInvoiceLines, line_index_of

FOREIGN: dict[str, Any] = {
    "id": 24001,
    "ihid": -1,
    "_itemid": 3,
    "qty_order": 2.0,
    "unit_price": 100.0,
    "item_longdescription": "Monthly consulting",
    "quantity_licences": [{"id": 7, "licence_id": 12, "pro_rata": 1}],
    "some_field_halosync_never_heard_of": {"nested": [1, 2]},
}
OURS: dict[str, Any] = {
    "id": 24002,
    "ihid": -1,
    "_itemid": 1,
    "qty_order": 10.0,
    "nominal_code": "4000",
}


def invoice() -> RecurringInvoiceLines:
    return RecurringInvoiceLines.from_halo(
        {"id": -1, "last_modified": "2026-12-05T10:00:00", "lines": [FOREIGN, OURS]}
    )


def test_every_line_goes_back_as_read_and_only_our_fields_change() -> None:
    added = NewInvoiceLine(
        item_id=2,
        description="Backup",
        quantity=Decimal("4.0000"),
        marker_field="comment_2",
        marker="hs:abc",
        unit_price=Decimal("2.5000"),
    )
    body = invoice().post_body({24002: {"qty_order": Decimal("12.0000")}}, [added])
    assert body["id"] == -1
    foreign, ours, new = body["lines"]
    assert foreign == FOREIGN
    assert ours == {**OURS, "qty_order": 12.0}
    assert new == {
        "_itemid": 2,
        "item_shortdescription": "Backup",
        "qty_order": 4.0,
        "comment_2": "hs:abc",
        "unit_price": 2.5,
    }


def test_a_change_to_a_line_not_on_the_invoice_or_a_field_not_ours_is_refused() -> None:
    with pytest.raises(ValueError, match="not on recurring invoice -1"):
        invoice().post_body({99: {"qty_order": 1}})
    with pytest.raises(ValueError, match="does not write"):
        invoice().post_body({24002: {"item_longdescription": "x"}})


@pytest.mark.parametrize(
    ("path", "found"),
    [
        ("[0].lines[3].qty_order", (3, "qty_order")),
        ("$[0].lines[12]._itemid", (12, "_itemid")),
        ("lines[0]", (0, "")),
        ("[0].id", None),
        ("[0].client_id", None),
    ],
)
def test_halos_field_paths_name_the_line(path: str, found: tuple[int, str] | None) -> None:
    assert line_index_of(path) == found


line_values = st.dictionaries(
    st.sampled_from(["qty_order", "unit_price", "unit_cost"]),
    st.decimals(min_value=0, max_value=10_000, places=4, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.text(min_size=1, max_size=12).filter(lambda k: k != "id"),
            st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
            max_size=6,
        ),
        min_size=1,
        max_size=6,
    ),
    st.data(),
)
def test_lines_not_changed_are_posted_exactly_as_read(
    lines: list[dict[str, Any]], data: st.DataObject
) -> None:
    read = [{**line, "id": 100 + n} for n, line in enumerate(lines)]
    current = RecurringInvoiceLines.from_halo({"id": -5, "lines": read})
    chosen = data.draw(st.sets(st.sampled_from(current.line_ids)))
    changes = {line_id: data.draw(line_values) for line_id in chosen}
    posted = current.post_body(changes)["lines"]
    assert [line["id"] for line in posted] == current.line_ids
    for before, after in zip(read, posted, strict=True):
        new_values = changes.get(before["id"]) or {}
        assert {k: v for k, v in after.items() if k not in new_values} == {
            k: v for k, v in before.items() if k not in new_values
        }
        assert {k: after[k] for k in new_values} == {k: float(v) for k, v in new_values.items()}


def test_a_refusal_names_the_invoice_of_a_batch_and_its_line() -> None:
    """``[3].lines[0]._itemid``: row 3 of the POST, its line 0, relative to the row."""
    refused = HaloRequestRejectedError(
        "refused",
        status=400,
        field_errors={"[3].lines[0]._itemid": ["_itemid 2 does not exist."], "$[1]": ["bad"]},
    )
    assert refused.named_rows(4) == [1, 3]
    assert refused.row_errors(3) == {"lines[0]._itemid": ("_itemid 2 does not exist.",)}
    assert refused.row_errors(1) == {"": ("bad",)}
    assert line_index_of("lines[0]._itemid") == (0, "_itemid")
    assert HaloRequestRejectedError("whole", status=400).named_rows(2) == []
