"""Halo records that carry the same halosync marker in one place: a customer billed twice.

A marker names one account × service, so two records with it on one client (licences) or
one recurring invoice (lines) bill the same usage twice. halosync keeps writing the one
its ledger names (or, with no ledger record, the oldest) and leaves the others for an
admin to remove; the planner and the reconciliation report both flag them from here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from halosync.domain.models import HaloInvoiceLine, HaloLicence, LedgerRecord, Target


@dataclass(frozen=True, slots=True)
class Duplicates:
    """Records in one place carrying one marker: ``kept`` is written, ``others`` never."""

    place: int
    marker: str
    kept: int
    others: tuple[int, ...]

    @property
    def ids(self) -> tuple[int, ...]:
        """Every record of the group, the kept one first."""
        return (self.kept, *self.others)


DuplicateIndex = Mapping[tuple[int, str], Duplicates]
"""(client id or recurring invoice id, marker) -> the group, for groups of two or more."""


def licence_duplicates(
    licences: Iterable[HaloLicence], ledger: Iterable[LedgerRecord]
) -> dict[tuple[int, str], Duplicates]:
    """Groups of live licences on one client carrying one pair's marker."""
    return _groups(
        ((lic.id, lic.client_id, lic.marker) for lic in licences if not lic.deleted),
        _named(ledger, "licence"),
    )


def line_duplicates(
    lines: Iterable[HaloInvoiceLine], ledger: Iterable[LedgerRecord]
) -> dict[tuple[int, str], Duplicates]:
    """Groups of lines on one recurring invoice carrying one pair's marker."""
    return _groups(
        ((line.id, line.recurring_invoice_id, line.marker) for line in lines),
        _named(ledger, "invoice_line"),
    )


def _named(ledger: Iterable[LedgerRecord], target: Target) -> dict[int, str]:
    """Record id -> marker, for the records the ledger names (as written)."""
    return {
        record.halo_record_id: record.marker
        for record in ledger
        if record.target == target and record.state == "written" and record.halo_record_id
    }


def _groups(
    records: Iterable[tuple[int, int, str | None]], named: Mapping[int, str]
) -> dict[tuple[int, str], Duplicates]:
    members: defaultdict[tuple[int, str], set[int]] = defaultdict(set)
    for record_id, place, marker in records:
        # A record the ledger names carries its marker even when Halo's list omits it.
        marker = marker or named.get(record_id)
        if marker:
            members[(place, marker)].add(record_id)
    groups: dict[tuple[int, str], Duplicates] = {}
    for (place, marker), ids in members.items():
        if len(ids) < 2:
            continue
        ledgers = sorted(i for i in ids if named.get(i) == marker)
        kept = ledgers[0] if ledgers else min(ids)
        others = tuple(sorted(ids - {kept}))
        groups[(place, marker)] = Duplicates(place, marker, kept, others)
    return groups


def duplicates_note(group: Duplicates, noun: str) -> str:
    """The warning a result or report gives for a group (``noun``: "licence" or "line")."""
    others = ", ".join(str(i) for i in group.others)
    return (
        f"HaloPSA has {len(group.ids)} {noun}s carrying this subscription's halosync tag "
        f"({noun} {group.kept} and {others}), so the customer may be billed twice; halosync "
        f"writes only {noun} {group.kept} and leaves {others} as they are: remove the "
        "duplicate in HaloPSA"
    )
