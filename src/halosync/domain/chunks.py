"""Which Halo records and ledger rows one chunk of accounts is planned with.

A usage sync plans its accounts a chunk at a time so that its memory does not grow with
the workspace. A chunk holds whole Halo clients and recurring invoices (an account is
mapped to one client, 1:1, and accounts sharing a recurring invoice go in one chunk), so
every rule that spans a client's or an invoice's records (duplicates, the lines already
claimed, the foreign lines) sees all of them. The chunk is planned with:

- the Halo records of its clients (licences) or recurring invoices (lines), and the
  records its own ledger rows name wherever they are now (:func:`chunk_places`);
- its accounts' ledger rows, and the ledger rows of other accounts that name one of
  those records (an account remapped since: its old records keep its rows).

The plan of a chunk is then the whole plan's changes for the chunk's accounts
(``tests/unit/domain/test_chunked_plan.py`` holds it for generated inputs).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from halosync.domain.models import AccountTarget, LedgerRecord, Target


@dataclass(frozen=True)
class ChunkPlaces:
    """Where a chunk's Halo records are: its clients, its recurring invoices, and the
    records (of the sync's target) its ledger rows name."""

    clients: frozenset[int]
    invoices: frozenset[int]
    named: frozenset[int]


def chunk_places(
    targets: Iterable[AccountTarget], ledger: Iterable[LedgerRecord], target: Target
) -> ChunkPlaces:
    """The places of a chunk with these mappings and (its own accounts') ledger rows."""
    mapped = list(targets)
    return ChunkPlaces(
        clients=frozenset(t.halo_client_id for t in mapped),
        invoices=frozenset(
            t.recurring_invoice_id for t in mapped if t.recurring_invoice_id is not None
        ),
        named=frozenset(
            r.halo_record_id for r in ledger if r.target == target and r.halo_record_id
        ),
    )
