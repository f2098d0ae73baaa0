"""The executor's database work grows with batches, not with pairs.

A batch of writes costs a bounded number of SQL statements (one look-up of the batch's
ledger rows, one insert each for pending rows, results and audit entries, one update of
the written rows): a per-pair ``session.get`` and flush made a 20,000-pair first sync
spend most of its CPU in the ledger (issue 15).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update

from halosync.store.models import HaloConnection
from tests.sync.world import World, make_world, seed, usage_document

ACCOUNTS = 150
BATCH = 50


@contextmanager
def _listening(world: World, listener: Any) -> Iterator[None]:
    """``listener`` hears every statement the world's database runs meanwhile."""
    event.listen(world.database.engine, "before_cursor_execute", listener)
    try:
        yield
    finally:
        event.remove(world.database.engine, "before_cursor_execute", listener)


@contextmanager
def counted_statements(world: World) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    with _listening(world, count):
        yield statements


def _feed(world: World, accounts: int, scale: int = 1) -> None:
    """Accounts A1..An, each with MAIL and BKP (``scale`` times n % 7 + 1)."""
    world.import_usage(
        usage_document(
            [
                {"ref": f"A{n}", "name": f"Client {n} Ltd", "status": "active", "billed": True}
                for n in range(1, accounts + 1)
            ],
            [
                {"account_ref": f"A{n}", "service_ref": ref, "quantity": (n % 7 + 1) * scale}
                for n in range(1, accounts + 1)
                for ref in ("MAIL", "BKP")
            ],
        )
    )


def _world(tmp_path: Path, target: str, accounts: int = ACCOUNTS) -> World:
    world = make_world(tmp_path, target=target, document=seed(accounts, with_invoices=True))
    world.settings = world.settings.model_copy(update={"sync_batch_size": BATCH})
    _feed(world, accounts)
    assert asyncio.run(world.customers()).status == "succeeded"
    invoices = {r["client_id"]: r["id"] for r in world.sim.state.records("RecurringInvoice")}
    for n in range(1, accounts + 1):
        world.map_account(f"A{n}", n, invoices[n] if target == "invoice_line" else None)
    world.map_service("MAIL", 1)
    world.map_service("BKP", 2)
    return world


@pytest.mark.parametrize(
    ("target", "path", "accounts"),
    [
        ("licence", "invoice", ACCOUNTS),
        ("invoice_line", "update_lines", ACCOUNTS),
        # One invoice per POST, each read again first: two requests per invoice, so fewer
        # invoices keep the run inside Halo's request budget.
        ("invoice_line", "invoice", 60),
    ],
)
def test_a_first_sync_costs_statements_per_batch_not_per_pair(
    tmp_path: Path, target: str, path: str, accounts: int
) -> None:
    world = _world(tmp_path, target, accounts)
    if path != "invoice":
        with world.database.session() as session:
            session.execute(update(HaloConnection).values(line_write_path=path))
    if accounts < ACCOUNTS:
        world.settings = world.settings.model_copy(update={"sync_batch_size": 20})
    with counted_statements(world) as statements:
        report = asyncio.run(world.usage())
    assert report.status == "succeeded", report.error
    assert report.counts["created"] == 2 * accounts
    # Pairs in batches: a handful of statements per batch plus the run's own bookkeeping
    # (inputs, run row, log entries), never one or more per pair.
    assert len(statements) < 2 * accounts, len(statements)


def test_a_repeat_after_halo_recounted_everything_updates_per_batch(tmp_path: Path) -> None:
    world = _world(tmp_path, "licence")
    world.review_off()  # putting 999 back to the vendor's counts would be held for review
    assert asyncio.run(world.usage()).counts["created"] == 2 * ACCOUNTS
    for licence in world.licences():
        world.sim.state.edit_by_hand("SoftwareLicence", licence["id"], count=999)
    with counted_statements(world) as statements:
        report = asyncio.run(world.usage())
    assert report.counts["updated"] == 2 * ACCOUNTS
    assert len(statements) < 2 * ACCOUNTS, len(statements)


@contextmanager
def whole_table_reads(world: World, table: str, *searches: str) -> Iterator[list[str]]:
    """The statements that read ``table`` whole for the workspace (SQLite's query plan: a
    scan, or a search by ``searches``, e.g. ``(workspace_id=?)``)."""
    scans: list[str] = []

    def explain(conn: Any, cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith("SELECT") or table not in statement:
            return
        plan = cursor.connection.execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()
        steps = [str(row[-1]) for row in plan]
        if any(
            step.startswith(f"SCAN {table}")
            or (step.startswith(f"SEARCH {table}") and step.endswith(searches))
            for step in steps
        ):
            scans.append(statement)

    with _listening(world, explain):
        yield scans


def ledger_scans(world: World) -> AbstractContextManager[list[str]]:
    """The statements that read the workspace's whole ledger."""
    return whole_table_reads(world, "ledger_entry", "(workspace_id=?)")


@pytest.mark.parametrize("target", ["licence", "invoice_line"])
def test_no_chunk_reads_the_whole_ledger(tmp_path: Path, target: str) -> None:
    """Each chunk finds its accounts' rows and those naming its Halo records by index: a
    read of the workspace's whole ledger per chunk made a sync's CPU grow with the square
    of its pairs (issue 15). The run reads every row's places once, before its chunks."""
    world = _world(tmp_path, target, accounts=30)
    assert asyncio.run(world.usage()).counts["created"] == 60
    with ledger_scans(world) as scans:
        report = asyncio.run(world.usage(chunk_accounts=5))
    assert report.counts["unchanged"] == 60
    assert len(scans) <= 1, scans


def test_no_chunk_reads_the_whole_review_queue(tmp_path: Path) -> None:
    """Each chunk screens against, and keeps in step, its own accounts' review items, read
    by index: a read of the workspace's whole queue per chunk made a long queue cost every
    chunk of a 100,000-pair sync (issue 15). The end of the run reads what still waits once
    (to withdraw what no chunk planned)."""
    world = _world(tmp_path, "licence", accounts=30)
    assert asyncio.run(world.usage()).counts["created"] == 60
    _feed(world, 30, scale=100)
    first = asyncio.run(world.usage(chunk_accounts=5))
    assert first.counts["skipped"] == 60  # every change held: a queue of 60
    by_workspace = ("(workspace_id=?)", "(workspace_id=? AND status=?)")
    with whole_table_reads(world, "review_item", *by_workspace) as scans:
        report = asyncio.run(world.usage(chunk_accounts=5))
    assert report.counts["skipped"] == 60
    assert len(scans) <= 1, scans


def test_no_chunk_reads_every_account_mapping(tmp_path: Path) -> None:
    """For ``invoice_line`` each chunk asks which other accounts share its recurring
    invoices, by index: a read of every account mapping of the workspace per chunk made a
    100,000-pair sync read 50 × 50,000 mappings (issue 15). The run reads every mapping's
    places once, before its chunks."""
    world = _world(tmp_path, "invoice_line", accounts=30)
    assert asyncio.run(world.usage()).counts["created"] == 60
    with whole_table_reads(world, "account_mapping", "(workspace_id=?)") as scans:
        report = asyncio.run(world.usage(chunk_accounts=5))
    assert report.counts["unchanged"] == 60
    assert len(scans) <= 1, scans


def test_a_run_that_stops_writing_fails_what_is_left_per_batch_not_per_pair(
    tmp_path: Path,
) -> None:
    """A Halo failing every write stops the run's writes after three failures; the records
    left fail with their results written a batch at a time, not one transaction each."""
    world = _world(tmp_path, "licence")
    world.sim.state.faults.inject("error", "POST", "/api/softwarelicence", times=None)
    with counted_statements(world) as statements:
        report = asyncio.run(world.usage())
    assert report.status == "succeeded", report.error
    assert report.counts["failed"] == 2 * ACCOUNTS, report.counts
    results = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO RUN_RESULT")]
    assert len(results) < 2 * ACCOUNTS / BATCH + 10, len(results)
