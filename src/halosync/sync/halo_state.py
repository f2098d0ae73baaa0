"""Reading Halo's current state for a usage sync in few requests, and finding lost creates.

Licences are read as one paged list (100 per request) for a full sync, or one client's
list for a per-account sync; recurring invoices come with their lines
(``includelines=true``). List rows may lack the notes field that carries halosync's
marker, so after an interrupted run the unclaimed licences of the affected clients are
read one by one to find records whose create was never recorded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from halosync.domain.halo_records import invoice_line_from_halo, licence_from_halo
from halosync.domain.markers import INVOICE_LINE_MARKER_FIELD, LICENCE_MARKER_FIELD, find_marker
from halosync.domain.models import (
    AccountTarget,
    HaloInvoiceLine,
    HaloLicence,
    LedgerRecord,
    Target,
)
from halosync.halopsa.client import HaloApiClient

LICENCE_ENTITY = "SoftwareLicence"
INVOICE_ENTITY = "RecurringInvoice"
LINES_ENTITY = "RecurringInvoice/updatelines"


@dataclass
class HaloState:
    """The Halo records a plan compares with (only those on mapped or ledgered clients)."""

    licences: list[HaloLicence]
    lines: list[HaloInvoiceLine]
    missing_invoices: set[int]

    def quantities(self, target: Target) -> dict[int, tuple[Any, Any, Any]]:
        """Record id -> (quantity, sell price, cost price) as Halo holds them now."""
        if target == "licence":
            return {
                lic.id: (lic.count, lic.price, lic.purchase_price)
                for lic in self.licences
                if not lic.deleted
            }
        return {line.id: (line.quantity, line.unit_price, line.unit_cost) for line in self.lines}


def _client_of_account(targets: Mapping[str, AccountTarget]) -> set[int]:
    return {target.halo_client_id for target in targets.values()}


async def read_licences(
    halo: HaloApiClient,
    *,
    targets: Mapping[str, AccountTarget],
    ledger: Sequence[LedgerRecord],
    one_client: int | None,
) -> list[HaloLicence]:
    """Licences on the mapped (and ledgered) clients, markers filled in where needed."""
    wanted = _client_of_account(targets) | {r.halo_client_id for r in ledger}
    params: dict[str, Any] = {"includeinactive": "true"}
    if one_client is not None:
        params["client_id"] = one_client
    licences: list[HaloLicence] = []
    has_notes = False
    async for page in halo.iter_pages(LICENCE_ENTITY, params=params):
        for row in page:
            if int(row.get("client_id") or 0) in wanted:
                has_notes = has_notes or LICENCE_MARKER_FIELD in row
                licences.append(licence_from_halo(row))
    pending = [r for r in ledger if r.state == "pending" and r.target == "licence"]
    if pending and not has_notes:
        licences = await _fill_markers(halo, licences, pending, ledger)
    return licences


async def _fill_markers(
    halo: HaloApiClient,
    licences: list[HaloLicence],
    pending: Sequence[LedgerRecord],
    ledger: Sequence[LedgerRecord],
) -> list[HaloLicence]:
    claimed = {r.halo_record_id for r in ledger if r.state == "written" and r.halo_record_id}
    clients = {r.halo_client_id for r in pending}
    result: list[HaloLicence] = []
    for licence in licences:
        if licence.client_id in clients and licence.id not in claimed and licence.marker is None:
            full = await halo.get_record(LICENCE_ENTITY, licence.id)
            if full is None:
                continue
            marker = find_marker(str(full.get(LICENCE_MARKER_FIELD) or ""))
            licence = replace(licence, marker=marker)
        result.append(licence)
    return result


async def read_invoice_lines(
    halo: HaloApiClient, *, invoice_ids: Iterable[int], one_invoice: bool
) -> tuple[list[HaloInvoiceLine], set[int]]:
    """Lines of the given recurring invoices, and the ids Halo no longer has."""
    wanted = set(invoice_ids)
    found: set[int] = set()
    lines: list[HaloInvoiceLine] = []
    if one_invoice:
        for invoice_id in wanted:
            record = await halo.get_record(INVOICE_ENTITY, invoice_id)
            if record is None:
                continue
            found.add(invoice_id)
            lines.extend(invoice_line_from_halo(line, invoice_id) for line in record["lines"])
    elif wanted:
        async for page in halo.iter_pages(INVOICE_ENTITY, params={"includelines": "true"}):
            for row in page:
                invoice_id = int(row["id"])
                if invoice_id not in wanted:
                    continue
                found.add(invoice_id)
                lines.extend(
                    invoice_line_from_halo(line, invoice_id) for line in row.get("lines") or []
                )
    return lines, wanted - found


class MarkerRecovery:
    """The client's :class:`~halosync.halopsa.client.CreateRecovery` for halosync's creates.

    After Halo left a create unanswered, looks in Halo for records carrying the rows'
    markers (licence notes, or the line comment), ignoring records that existed before.
    """

    def __init__(self, halo: HaloApiClient, target: Target, known_ids: set[int]) -> None:
        self.halo = halo
        self.target = target
        self.known_ids = known_ids

    async def __call__(
        self, rows: Sequence[Mapping[str, Any]]
    ) -> Sequence[Mapping[str, Any] | None]:
        if self.target == "licence":
            return await self._licences(rows)
        return await self._lines(rows)

    async def _licences(self, rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any] | None]:
        by_client: defaultdict[int, list[int]] = defaultdict(list)
        for index, row in enumerate(rows):
            by_client[int(row["client_id"])].append(index)
        found: list[Mapping[str, Any] | None] = [None] * len(rows)
        for client_id, indexes in by_client.items():
            markers = {find_marker(str(rows[i].get(LICENCE_MARKER_FIELD))): i for i in indexes}
            async for page in self.halo.iter_pages(
                LICENCE_ENTITY, params={"client_id": client_id, "includeinactive": "true"}
            ):
                for listed in page:
                    if int(listed["id"]) in self.known_ids:
                        continue
                    full = await self.halo.get_record(LICENCE_ENTITY, int(listed["id"]))
                    marker = find_marker(str((full or {}).get(LICENCE_MARKER_FIELD) or ""))
                    if full is not None and marker in markers and found[markers[marker]] is None:
                        found[markers[marker]] = full
        return found

    async def _lines(self, rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any] | None]:
        by_invoice: defaultdict[int, list[int]] = defaultdict(list)
        for index, row in enumerate(rows):
            by_invoice[int(row["ihid"])].append(index)
        found: list[Mapping[str, Any] | None] = [None] * len(rows)
        for invoice_id, indexes in by_invoice.items():
            record = await self.halo.get_record(INVOICE_ENTITY, invoice_id)
            if record is None:
                continue
            for line in record.get("lines") or []:
                marker = find_marker(str(line.get(INVOICE_LINE_MARKER_FIELD) or ""))
                for i in indexes:
                    if (
                        marker is not None
                        and marker == rows[i].get(INVOICE_LINE_MARKER_FIELD)
                        and int(line.get("_itemid") or 0) == int(rows[i]["_itemid"])
                        and found[i] is None
                    ):
                        found[i] = line
        return found
