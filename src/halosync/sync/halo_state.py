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

from array import array
from collections import defaultdict
from collections.abc import Collection, Container, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from halosync.domain.chunks import ChunkPlaces
from halosync.domain.models import (
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
    id_of,
    invoice_lines,
    invoice_of,
    licence_from_halo,
    licence_marker,
    read_invoice,
    read_licence,
)
from halosync.halopsa.client import HaloApiClient
from halosync.halopsa.errors import InvoiceLinesUnknownError
from halosync.halopsa.models import RecurringInvoice
from halosync.logging import get_logger
from halosync.store.scratch import SortedIds, Spill

log = get_logger(__name__)


@dataclass
class HaloState:
    """The Halo records one plan (one chunk of accounts) compares with, in memory."""

    licences: list[HaloLicence]
    lines: list[HaloInvoiceLine]
    missing_invoices: set[int]
    invoice_versions: dict[int, str | None] = field(default_factory=dict)
    """Recurring invoice id -> its ``last_modified`` as read for the plan."""
    unread_invoices: set[int] = field(default_factory=set)
    """Recurring invoices Halo answered without their lines (unknown, not empty)."""
    unread_records: dict[int, str] = field(default_factory=dict)
    """Records read by id that Halo answered without their id (licences the ledger names,
    or recurring invoices) -> what Halo answered: unknown, never deleted."""

    def quantities(self, target: Target) -> dict[int, tuple[Any, Any, Any]]:
        """Record id -> (quantity, sell price, cost price) as Halo holds them now."""
        if target == "licence":
            return {
                lic.id: (lic.count, lic.price, lic.purchase_price)
                for lic in self.licences
                if not lic.deleted
            }
        return {line.id: (line.quantity, line.unit_price, line.unit_cost) for line in self.lines}


@dataclass
class SpilledHaloState:
    """The Halo records of a whole run, read page by page onto disk (:class:`Spill`) and
    taken back one chunk of accounts at a time: licences by client, lines by recurring
    invoice, either by id."""

    licences: Spill[HaloLicence] = field(default_factory=Spill)
    lines: Spill[HaloInvoiceLine] = field(default_factory=Spill)
    invoice_versions: Spill[str | None] = field(default_factory=Spill)
    missing_invoices: set[int] = field(default_factory=set)
    unread_invoices: set[int] = field(default_factory=set)
    """Recurring invoices Halo answered without their lines, even read by id."""
    unread_records: dict[int, str] = field(default_factory=dict)
    """Records read by id that Halo answered without their id (licences the ledger names,
    or recurring invoices) -> what Halo answered."""

    def chunk(self, places: ChunkPlaces) -> HaloState:
        """The records of one chunk's places (see :mod:`halosync.domain.chunks`)."""
        licences = {lic.id: lic for lic in self.licences.in_places(places.clients)}
        lines = {line.id: line for line in self.lines.in_places(places.invoices)}
        named = set(places.named)
        licences |= self.licences.by_ids(named - set(licences))
        lines |= self.lines.by_ids(named - set(lines))
        return HaloState(
            list(licences.values()),
            list(lines.values()),
            self.missing_invoices & places.invoices,
            self.invoice_versions.by_ids(places.invoices),
            self.unread_invoices & places.invoices,
            self.unread_records,
        )

    def close(self) -> None:
        """Delete the spilled records."""
        for spill in (self.licences, self.lines, self.invoice_versions):
            spill.close()


@dataclass(frozen=True)
class LedgerFacts:
    """What reading the licences needs of the ledger's ``licence`` rows."""

    written: Collection[int]
    """Record ids of the written rows on the clients read (looked up when not listed)."""
    named: Collection[int]
    """Record ids of every row (licences halosync already knows)."""
    pending_clients: frozenset[int]
    """Clients read with a create whose record is unknown."""

    @classmethod
    def of(
        cls, rows: Iterable[tuple[int, int | None, str]], scope: Container[int] | None
    ) -> LedgerFacts:
        """From ``(halo_client_id, halo_record_id, state)`` rows; ``scope``: the clients
        read (None: every row's)."""
        written: array[int] = array("q")
        named: array[int] = array("q")
        pending: set[int] = set()
        for client_id, record_id, state in rows:
            if record_id:
                named.append(record_id)
            if scope is not None and client_id not in scope:
                continue
            if state == "written" and record_id:
                written.append(record_id)
            elif state == "pending":
                pending.add(client_id)
        return cls(SortedIds(written), SortedIds(named), frozenset(pending))

    @classmethod
    def of_records(cls, ledger: Iterable[LedgerRecord], scope: Container[int]) -> LedgerFacts:
        """From the planner's ledger records (the ``licence`` ones count)."""
        return cls.of(
            (
                (r.halo_client_id, r.halo_record_id, r.state)
                for r in ledger
                if r.target == "licence"
            ),
            scope,
        )


async def read_licences(
    halo: HaloApiClient,
    *,
    scope: Container[int],
    ledger: LedgerFacts,
    one_client: int | None,
    earlier_records: Collection[int] = frozenset(),
    into: Spill[HaloLicence] | None = None,
    unread: MutableMapping[int, str] | None = None,
) -> Spill[HaloLicence]:
    """Licences on the clients of ``scope`` (or ``one_client``), markers filled in where
    needed, kept page by page in a :class:`Spill` (``into``, or a new one).

    Halo's list may change while it is read, so a licence the ledger names that the read
    did not return is looked up by id: only Halo's 404 makes it "deleted". One answered
    there without its id is unknown: put in ``unread`` (id -> why) for its pair alone to
    fail, or, without ``unread``, the read fails. The clients of
    interrupted creates are read whole again when the list moved. ``earlier_records`` are
    licences halosync created that the ledger no longer names; any still in Halo has its
    marker read, so a second record carrying a pair's marker is seen (see ``duplicates``).
    """
    if one_client is not None:
        scope = {one_client}
    licences: Spill[HaloLicence] = Spill() if into is None else into
    params: dict[str, Any] = {"includeinactive": "true"}
    if one_client is not None:
        params["client_id"] = one_client
    has_notes = False
    without_id = 0
    reading = halo.read_list(LICENCE_ENTITY, params=params)
    async for page in reading:
        kept: list[tuple[int | None, int | None, HaloLicence]] = []
        for row in page:
            if id_of(row) is None:
                without_id += 1
                continue
            record = read_licence(row)
            if (record.client_id or 0) in scope:
                has_notes = has_notes or has_marker_field(row)
                licence = licence_from_halo(record)
                kept.append((licence.id, licence.client_id, licence))
        licences.add(kept)
    log_rows_without_id(LICENCE_ENTITY, without_id)
    await _confirm_by_id(halo, licences, ledger.written, unread)
    pending_clients = ledger.pending_clients
    if pending_clients and not reading.report.settled:
        # A create whose record is unknown is found by its marker, so its client's licences
        # must all be seen: read those clients again, each on its own (one page, usually).
        for client_id in sorted(pending_clients):
            rows = await halo.list_whole(
                LICENCE_ENTITY, params={"client_id": client_id, "includeinactive": "true"}
            )
            found = [licence_from_halo(row) for row in rows]
            licences.add_new((lic.id, lic.client_id, lic) for lic in found)
    if not has_notes:
        candidates = [
            *licences.in_places(pending_clients),
            *licences.by_ids(earlier_records).values(),
        ]
        unknown = sorted(
            {
                lic.id
                for lic in candidates
                if lic.marker is None
                and lic.id not in ledger.named
                and (lic.client_id in pending_clients or lic.id in earlier_records)
            }
        )
        await _fill_markers(halo, licences, unknown)
    return licences


def log_rows_without_id(entity: str, rows: int, **where: Any) -> None:
    """Once per read: rows of Halo's answer that carried no id were passed over (none can be
    a record halosync knows or looks for; see :func:`~halosync.halopsa.billing.record_id`)."""
    if rows:
        log.warning("halo_rows_without_id_skipped", entity=entity, rows=rows, **where)


async def _confirm_by_id(
    halo: HaloApiClient,
    licences: Spill[HaloLicence],
    written: Collection[int],
    unread: MutableMapping[int, str] | None,
) -> None:
    """Look up by id the licences the ledger names that the list read did not return;
    those answered without an id go in ``unread`` (none given: the first fails the read)."""
    missing: list[int] = []
    part: list[int] = []
    for record_id in sorted(written):
        part.append(record_id)
        if len(part) == 2000:
            missing += sorted(set(part) - licences.present(part))
            part = []
    missing += sorted(set(part) - licences.present(part))
    if not missing:
        return
    if unread is None:
        found = await halo.get_records(LICENCE_ENTITY, missing)
    else:
        read = await halo.read_records(LICENCE_ENTITY, missing)
        found = read.found
        unread.update({record_id: odd.message for record_id, odd in read.without_id.items()})
    kept: list[tuple[int | None, int | None, HaloLicence]] = []
    for record_id, record in found.items():
        if record is None:
            continue
        # Kept wherever it is now: a licence moved to another client by hand is not
        # deleted, and the planner must see where it went (domain.placement).
        licence = licence_from_halo(record)
        kept.append((record_id, licence.client_id, licence))
    licences.add(kept)
    gone = [record_id for record_id, record in found.items() if record is None]
    log.info(
        "halo_records_confirmed_by_id",
        entity=LICENCE_ENTITY,
        missing_from_list=len(missing),
        gone=len(gone),
    )


async def _fill_markers(
    halo: HaloApiClient, licences: Spill[HaloLicence], ids: Sequence[int]
) -> None:
    """Read the notes (and so the marker) of licences whose list rows lack them."""
    if not ids:
        return
    kept = licences.by_ids(ids)
    gone: list[int] = []
    filled: list[tuple[int | None, int | None, HaloLicence]] = []
    for record_id, full in (await halo.get_records(LICENCE_ENTITY, ids)).items():
        if full is None:
            gone.append(record_id)
            continue
        marker = licence_marker(read_licence(full))
        licence = replace(kept[record_id], marker=marker)
        filled.append((record_id, licence.client_id, licence))
    licences.remove(gone)
    licences.add(filled)


async def read_invoice_lines(
    halo: HaloApiClient,
    *,
    invoice_ids: Collection[int],
    one_invoice: bool,
    into: SpilledHaloState | None = None,
) -> SpilledHaloState:
    """Lines of the given recurring invoices, each invoice's ``last_modified`` as read, and
    the ids Halo no longer has (``missing_invoices``), kept page by page on disk.

    An invoice the list read did not return is looked up by id before it is called gone
    (a live Halo's list changes while it is read); a per-account sync only does that. So
    is a list row without its lines (missing or null: unknown, never empty); an invoice
    whose lines the single GET does not answer either is ``unread_invoices``, one it
    answers without its id ``unread_records`` (id -> what Halo answered). A list row without
    an id is passed over (it cannot be the invoice looked for).
    """
    state = SpilledHaloState() if into is None else into
    if not one_invoice and invoice_ids:
        without_id = 0
        async for page in halo.iter_pages(INVOICE_ENTITY, params={"includelines": "true"}):
            listed = [row for row in page if id_of(row) is not None]
            without_id += len(page) - len(listed)
            typed = ((row, read_invoice(row)) for row in listed)
            _keep_invoices(
                state,
                (
                    (row, inv)
                    for row, inv in typed
                    if inv.id in invoice_ids and inv.lines is not None
                ),
            )
        log_rows_without_id(INVOICE_ENTITY, without_id)
    unread: list[int] = []
    ids = sorted(invoice_ids)
    for start in range(0, len(ids), 2000):
        part = ids[start : start + 2000]
        unread += sorted(set(part) - state.invoice_versions.present(part))
    if unread:
        read = await halo.read_records(INVOICE_ENTITY, unread)
        found = read.found
        state.unread_records.update(
            {invoice_id: odd.message for invoice_id, odd in read.without_id.items()}
        )
        if read.without_id:
            log.warning("halo_invoices_without_id", invoices=sorted(read.without_id))
        by_id = [(record, read_invoice(record)) for record in found.values() if record is not None]
        _keep_invoices(state, ((row, inv) for row, inv in by_id if inv.lines is not None))
        state.unread_invoices.update(inv.id for _, inv in by_id if inv.lines is None)
        if state.unread_invoices:
            log.warning("halo_invoices_without_lines", invoices=sorted(state.unread_invoices))
        state.missing_invoices.update(
            invoice_id for invoice_id, record in found.items() if record is None
        )
    return state


def _keep_invoices(
    state: SpilledHaloState, records: Iterable[tuple[Mapping[str, Any], RecurringInvoice]]
) -> None:
    lines: list[tuple[int | None, int | None, HaloInvoiceLine]] = []
    versions: list[tuple[int | None, int | None, str | None]] = []
    for record, invoice in records:
        lines += [(line.id, line.recurring_invoice_id, line) for line in invoice_lines(invoice)]
        versions.append((invoice.id, None, _stamp(record)))
    state.lines.add(lines)
    state.invoice_versions.add(versions)


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
            without_id = 0
            for listed_row in listed:
                listed_id = id_of(listed_row)
                if listed_id is None:
                    without_id += 1
                    continue
                if listed_id in self.known_ids:
                    continue
                full = await self.halo.get_record(LICENCE_ENTITY, listed_id)
                if full is None:
                    continue
                marker = licence_marker(read_licence(full))
                if marker in markers and found[markers[marker]] is None:
                    found[markers[marker]] = full
            log_rows_without_id(LICENCE_ENTITY, without_id, client=client_id)
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
            invoice = read_invoice(record)
            if invoice.lines is None:
                # "Not found" would send the create again: the lines must be seen.
                raise InvoiceLinesUnknownError(invoice_id)
            for raw, line in zip(record["lines"], invoice.lines, strict=True):
                if not line.id:
                    continue  # it cannot be recorded, nor written again: not the one
                for i in indexes:
                    if found[i] is None and created_line_matches(rows[i], line):
                        found[i] = raw
        return found
