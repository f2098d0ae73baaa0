"""A usage sync plans and writes a chunk of accounts at a time, and keeps its results on disk.

Memory must not grow with the workspace (issue 15): Halo's records are read page by page
onto disk, each chunk of accounts is read from the store on its own, and the report's
changes are read back from disk. The outcome is the one a single chunk gives.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Collection, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

import halosync.sync.gather as gather
from halosync.store.models import Subscription
from halosync.sync.results import UsageReport
from tests.sync.world import World, make_world, seed, usage_document

T = TypeVar("T")
ACCOUNTS = 7


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _world(tmp_path: Path, target: str) -> World:
    tmp_path.mkdir(exist_ok=True)  # a database URL whose folder is missing is refused
    invoices = target == "invoice_line"
    world = make_world(tmp_path, target=target, document=seed(ACCOUNTS, with_invoices=invoices))
    world.import_usage(
        usage_document(
            [
                {"ref": f"A{n}", "name": f"Client {n} Ltd", "status": "active", "billed": True}
                for n in range(1, ACCOUNTS + 1)
            ]
            + [{"ref": "A9", "name": "Unmapped Ltd", "status": "active", "billed": True}],
            [
                {"account_ref": f"A{n}", "service_ref": service, "quantity": n + len(service)}
                for n in [*range(1, ACCOUNTS + 1), 9]
                for service in ("MAIL", "BKP")
            ],
        )
    )
    assert run(world.customers()).status == "succeeded"
    for n in range(1, ACCOUNTS + 1):
        world.map_account(f"A{n}", n, -n if invoices else None)
    world.map_service("MAIL", 1)
    world.map_service("BKP", 2)
    world.review_off()
    return world


def _outcome(report: UsageReport) -> list[tuple[str, str, str, str]]:
    return [(c.account_ref, c.service_ref, c.action, c.level) for c in report.changes]


def _fields(report: UsageReport) -> list[dict[str, Any]]:
    return [{k: v for k, v in c.to_dict().items() if k != "after"} for c in report.changes]


@pytest.mark.parametrize("target", ["licence", "invoice_line"])
def test_a_sync_in_chunks_of_three_accounts_does_what_one_chunk_does(
    tmp_path: Path, target: str
) -> None:
    whole, chunked = _world(tmp_path / "whole", target), _world(tmp_path / "chunked", target)
    for _ in ("first", "repeat"):
        one = run(whole.usage())
        three = run(chunked.usage(chunk_accounts=3))
        assert one.status == three.status == "succeeded", (one.error, three.error)
        assert three.counts == one.counts
        assert _outcome(three) == _outcome(one)
        # Every field but the records' tags (a workspace's own: the two differ).
        assert _fields(three) == _fields(one)
    assert one.counts["unchanged"] == ACCOUNTS * 2  # the repeat wrote nothing
    # Chunk boundaries cost at most a partial batch each.
    assert len(chunked.writes()) <= len(whole.writes()) + 2 * 3
    dry = run(chunked.usage(dry_run=True, chunk_accounts=2))
    assert _outcome(dry) == _outcome(one)


def test_the_sync_never_reads_more_than_one_chunk_of_subscriptions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = _world(tmp_path, "licence")
    read: list[int] = []
    original = gather.subscriptions_of  # type: ignore[attr-defined]

    def counted(session: Any, workspace_id: int, accounts: Collection[int]) -> list[Subscription]:
        rows = original(session, workspace_id, accounts)
        read.append(len(rows))
        return rows

    monkeypatch.setattr(gather, "subscriptions_of", counted)
    report = run(world.usage(chunk_accounts=3))
    assert report.status == "succeeded", report.error
    assert sum(read) == (ACCOUNTS + 1) * 2
    assert max(read) <= 3 * 2


def test_the_json_document_is_written_a_change_at_a_time_as_one_document(
    tmp_path: Path,
) -> None:
    world = _world(tmp_path, "licence")
    for report in (run(world.usage(dry_run=True)), run(world.usage(account_ref="A9"))):
        out = io.StringIO()
        report.write_json(out)
        expected = json.dumps(report.to_dict(), indent=2, sort_keys=False, default=str) + "\n"
        assert out.getvalue() == expected
    empty = UsageReport(1, "acme", True, "succeeded", "licence", {}, (), 0)
    out = io.StringIO()
    empty.write_json(out)
    assert out.getvalue() == json.dumps(empty.to_dict(), indent=2, default=str) + "\n"
