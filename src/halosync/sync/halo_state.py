"""Reading Halo's current state for a usage sync in few requests, and finding lost creates.

Licences are read as one paged list (100 per request) for a full sync, or one client's
list for a per-account sync; recurring invoices come with their lines
(``includelines=true``). A live Halo changes while it is read, so a record the ledger
names that a list read did not return is looked up by id before anything is concluded.
List rows may lack the notes field that carries halosync's marker, so after an
interrupted run the unclaimed licences of the affected clients are read one by one to
find records whose create was never recorded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from halosync.domain.models import (
    AccountTarget,
    HaloInvoiceLine,
    HaloLicence,
    LedgerRecord,
    Target,
)
from halosync.halopsa.billing import (
    INVOICE_ENTITY,
    LICENCE_ENTITY,
    created_licence_marker,
    created_line_matches,
    has_marker_field,
    invoice_lines,
    invoice_of,
    licence_from_halo,
    licence_marker,
    read_invoice,
    read_licence,
)
from halosync.halopsa.client import HaloApiClient
from halosync.logging import get_logger

log = get_logger(__name__)


@dataclass
class HaloState:
    """The Halo records a plan compares with (only those on mapped or ledgered clients)."""

    licences: list[HaloLicence]
    lines: list[HaloInvoiceLine]
    missing_invoices: set[int]
    invoice_versions: dict[int, str | None] = field(default_factory=dict)
    """Recurring invoice id -> its ``last_modified`` as read for the plan."""

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
    earlier_records: Collection[int] = frozenset(),
) -> list[HaloLicence]:
    """Licences on the mapped (and ledgered) clients, markers filled in where needed.

    Halo's list may change while it is read, so a licence the ledger names that the read
    did not return is looked up by id: only Halo's 404 makes it "deleted". The clients of
    interrupted creates are read whole again when the list moved. ``earlier_records`` are
    licences halosync created that the ledger no longer names; any still in Halo has its
    marker read, so a second record carrying a pair's marker is seen (see ``duplicates``).
    """
    if one_client is not None:
        scope = {one_client}
    else:
        scope = _client_of_account(targets) | {r.halo_client_id for r in ledger}
    params: dict[str, Any] = {"includeinactive": "true"}
    if one_client is not None:
        params["client_id"] = one_client
    licences: dict[int, HaloLicence] = {}
    has_notes = False
    reading = halo.read_list(LICENCE_ENTITY, params=params)
    async for page in reading:
        for row in page:
            record = read_licence(row)
            if (record.client_id or 0) in scope:
                has_notes = has_notes or has_marker_field(row)
                licence = licence_from_halo(record)
                licences[licence.id] = licence
    ours = [r for r in ledger if r.target == "licence" and r.halo_client_id in scope]
    await _confirm_by_id(halo, licences, ours, scope)
    pending_clients = {r.halo_client_id for r in ours if r.state == "pending"}
    if pending_clients and not reading.report.settled:
        # A create whose record is unknown is found by its marker, so its client's licences
        # must all be seen: read those clients again, each on its own (one page, usually).
        for client_id in sorted(pending_clients):
            rows = await halo.list_whole(
                LICENCE_ENTITY, params={"client_id": client_id, "includeinactive": "true"}
            )
            for row in rows:
                licence = licence_from_halo(row)
                licences.setdefault(licence.id, licence)
    if not has_notes:
        claimed = {r.halo_record_id for r in ledger if r.target == "licence" and r.halo_record_id}
        unknown = [
            lic.id
            for lic in licences.values()
            if lic.marker is None
            and lic.id not in claimed
            and (lic.client_id in pending_clients or lic.id in earlier_records)
        ]
        await _fill_markers(halo, licences, unknown)
    return list(licences.values())


async def _confirm_by_id(
    halo: HaloApiClient,
    licences: dict[int, HaloLicence],
    ours: Sequence[LedgerRecord],
    scope: set[int],
) -> None:
    """Look up by id the licences the ledger names that the list read did not return."""
    missing = sorted(
        {r.halo_record_id for r in ours if r.state == "written" and r.halo_record_id}
        - set(licences)
    )
    if not missing:
        return
    found = await halo.get_records(LICENCE_ENTITY, missing)
    for record_id, record in found.items():
        if record is None:
            continue
        licence = licence_from_halo(record)
        if licence.client_id in scope:
            licences[record_id] = licence
    gone = [record_id for record_id, record in found.items() if record is None]
    log.info(
        "halo_records_confirmed_by_id",
        entity=LICENCE_ENTITY,
        missing_from_list=len(missing),
        gone=len(gone),
    )


async def _fill_markers(
    halo: HaloApiClient, licences: dict[int, HaloLicence], ids: Sequence[int]
) -> None:
    """Read the notes (and so the marker) of licences whose list rows lack them."""
    if not ids:
        return
    for record_id, full in (await halo.get_records(LICENCE_ENTITY, ids)).items():
        if full is None:
            del licences[record_id]
            continue
        marker = licence_marker(read_licence(full))
        licences[record_id] = replace(licences[record_id], marker=marker)


async def read_invoice_lines(
    halo: HaloApiClient,
    *,
    invoice_ids: Iterable[int],
    one_invoice: bool,
    versions: dict[int, str | None] | None = None,
) -> tuple[list[HaloInvoiceLine], set[int]]:
    """Lines of the given recurring invoices, and the ids Halo no longer has; ``versions``
    (when given) gets each invoice's ``last_modified`` as read.

    An invoice the list read did not return is looked up by id before it is called gone
    (a live Halo's list changes while it is read); a per-account sync only does that.
    """
    wanted = set(invoice_ids)
    found: set[int] = set()
    lines: list[HaloInvoiceLine] = []
    if not one_invoice and wanted:
        async for page in halo.iter_pages(INVOICE_ENTITY, params={"includelines": "true"}):
            for row in page:
                invoice = read_invoice(row)
                if invoice.id not in wanted:
                    continue
                found.add(invoice.id)
                lines.extend(invoice_lines(invoice))
                if versions is not None:
                    versions[invoice.id] = _stamp(row)
    unread = sorted(wanted - found)
    if unread:
        for invoice_id, record in (await halo.get_records(INVOICE_ENTITY, unread)).items():
            if record is None:
                continue
            found.add(invoice_id)
            lines.extend(invoice_lines(record))
            if versions is not None:
                versions[invoice_id] = _stamp(record)
    return lines, wanted - found


def _stamp(record: Mapping[str, Any]) -> str | None:
    stamp = record.get("last_modified")
    return None if stamp is None else str(stamp)


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
            markers = {created_licence_marker(rows[i]): i for i in indexes}
            # "Not found" must be true here (else the create is sent again), so the
            # client's list is read until it held still while it was read.
            listed = await self.halo.list_whole(
                LICENCE_ENTITY, params={"client_id": client_id, "includeinactive": "true"}
            )
            for listed_row in listed:
                listed_id = read_licence(listed_row).id
                if listed_id in self.known_ids:
                    continue
                full = await self.halo.get_record(LICENCE_ENTITY, listed_id)
                if full is None:
                    continue
                marker = licence_marker(read_licence(full))
                if marker in markers and found[markers[marker]] is None:
                    found[markers[marker]] = full
        return found

    async def _lines(self, rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any] | None]:
        by_invoice: defaultdict[int, list[int]] = defaultdict(list)
        for index, row in enumerate(rows):
            by_invoice[invoice_of(row)].append(index)
        found: list[Mapping[str, Any] | None] = [None] * len(rows)
        for invoice_id, indexes in by_invoice.items():
            record = await self.halo.get_record(INVOICE_ENTITY, invoice_id)
            if record is None:
                continue
            for raw, line in zip(
                record.get("lines") or [], read_invoice(record).lines, strict=True
            ):
                for i in indexes:
                    if found[i] is None and created_line_matches(rows[i], line):
                        found[i] = raw
        return found
