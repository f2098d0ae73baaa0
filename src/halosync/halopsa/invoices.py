"""Recurring-invoice lines on the wire: the invoice as read, and the line set posted back.

Halo has two ways to write a recurring invoice's lines (``docs/halopsa.md``):

- ``POST /RecurringInvoice`` with ``[{id, lines: [every line]}]``: the header's ``lines``
  replace its line set, so every line must go back with its id and every field as read
  (the path the public integrations use, and halosync's default);
- ``POST /RecurringInvoice/updatelines`` with the changed lines alone, naming their
  invoice by ``ihid`` (kept as a per-connection alternative).

:class:`RecurringInvoiceLines` is one invoice as a single GET returned it, its lines kept
whole (Halo's line objects hold far more fields than halosync knows; a field dropped on the
way back would be reset). :meth:`RecurringInvoiceLines.post_body` builds the full line set
from it: the lines halosync changes get only their new values, the lines it adds
(:class:`NewInvoiceLine`) are appended, and every other line goes back as it came.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from halosync.halopsa.errors import HaloResponseError, InvoiceLinesUnknownError
from halosync.halopsa.models import halo_json

LINE_LIMIT = 1_000
"""More lines than this on one recurring invoice is not a billing template halosync writes."""

OWNED_LINE_FIELDS = frozenset({"qty_order", "unit_price", "unit_cost"})
"""The fields of a line halosync may change; nothing else of a line is ever altered."""

_LINE_PATH = re.compile(r"^\$?(?:\[0\]\.?)?lines\[(\d+)\](?:\.(.+))?$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class NewInvoiceLine:
    """A line halosync adds: the item, its quantity and prices, and the tag that makes it
    halosync's (``marker_field`` holds the marker, e.g. ``comment_2``)."""

    item_id: int
    description: str
    quantity: Decimal
    marker_field: str
    marker: str
    unit_price: Decimal | None = None
    unit_cost: Decimal | None = None

    def to_halo(self) -> dict[str, Any]:
        """The ``InvoiceDetail`` object Halo takes for a new line (no id: Halo assigns it)."""
        line: dict[str, Any] = {
            "_itemid": self.item_id,
            "item_shortdescription": self.description,
            "qty_order": self.quantity,
            self.marker_field: self.marker,
        }
        if self.unit_price is not None:
            line["unit_price"] = self.unit_price
        if self.unit_cost is not None:
            line["unit_cost"] = self.unit_cost
        posted: dict[str, Any] = halo_json(line)
        return posted


@dataclass(frozen=True, slots=True)
class RecurringInvoiceLines:
    """One recurring invoice as Halo answered ``GET /RecurringInvoice/{id}``."""

    id: int
    last_modified: str | None
    lines: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)
    owner: Mapping[str, Any] = field(default_factory=dict)
    """The client it belongs to as read (``client_id``, ``client_name``), so that a plan
    made from it sees an invoice moved to another client."""

    @classmethod
    def from_halo(cls, record: Mapping[str, Any]) -> RecurringInvoiceLines:
        """The invoice's id, version stamp and its lines exactly as read.

        Lines missing or null are unknown, not empty (:class:`InvoiceLinesUnknownError`):
        posting the header from them would delete every line on the invoice."""
        lines = record.get("lines")
        if lines is None:
            raise InvoiceLinesUnknownError(record.get("id"))
        if not isinstance(lines, list) or not all(isinstance(line, dict) for line in lines):
            raise HaloResponseError(
                f"HaloPSA answered recurring invoice {record.get('id')} with lines that are "
                "not a list of lines"
            )
        stamp = record.get("last_modified")
        return cls(
            id=int(record["id"]),
            last_modified=None if stamp is None else str(stamp),
            lines=tuple(dict(line) for line in lines),
            owner={key: record[key] for key in ("client_id", "client_name") if key in record},
        )

    @property
    def line_ids(self) -> list[int]:
        """The ids of its lines, in Halo's order."""
        return [int(line["id"]) for line in self.lines if line.get("id")]

    def post_body(
        self,
        changes: Mapping[int, Mapping[str, Any]],
        additions: Sequence[NewInvoiceLine] = (),
    ) -> dict[str, Any]:
        """``{id, lines}`` for ``POST /RecurringInvoice``: every line as read, with
        ``changes`` (line id -> new values of :data:`OWNED_LINE_FIELDS`) applied and
        ``additions`` appended. A change naming a line that is not on the invoice, or a field
        halosync does not own, is refused: it would mean planning against another version."""
        known = set(self.line_ids)
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"lines {unknown} are not on recurring invoice {self.id}")
        lines: list[dict[str, Any]] = []
        for line in self.lines:
            posted = dict(line)
            new_values = changes.get(int(line.get("id") or 0))
            if new_values:
                foreign = set(new_values) - OWNED_LINE_FIELDS
                if foreign:
                    raise ValueError(f"halosync does not write {sorted(foreign)} of a line")
                posted.update(halo_json(dict(new_values)))
            lines.append(posted)
        lines.extend(addition.to_halo() for addition in additions)
        if len(lines) > LINE_LIMIT:
            raise ValueError(f"recurring invoice {self.id} would have {len(lines)} lines")
        return {"id": self.id, "lines": lines}


def line_index_of(path: str) -> tuple[int, str] | None:
    """``(line index, field)`` of a field path Halo named in a 400 for an invoice POST:
    ``[0].lines[3].qty_order`` (or ``lines[3].qty_order``, ``$[0].lines[3]``) -> ``(3,
    "qty_order")``; None when the path is not about one line."""
    found = _LINE_PATH.match(path.strip())
    if found is None:
        return None
    return int(found.group(1)), found.group(2) or ""


__all__ = [
    "LINE_LIMIT",
    "OWNED_LINE_FIELDS",
    "NewInvoiceLine",
    "RecurringInvoiceLines",
    "line_index_of",
]
