"""Usage push to the licence target, end to end against the in-process simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.sync.world import World, accounts, make_world, seed, usage_document

ACCOUNTS = [
    {"ref": "A1", "name": "Client 1 Ltd", "status": "active", "billed": True},
    {"ref": "A2", "name": "Client 2 Ltd", "status": "active", "billed": True},
    {"ref": "T3", "name": "Client 3 Ltd", "status": "trial", "billed": False},
]
SUBS = [
    {
        "account_ref": "A1",
        "service_ref": "MAIL",
        "quantity": 10,
        "customer_price": "30.00",
        "cost_price": "10.00",
    },
    {"account_ref": "A1", "service_ref": "BKP", "quantity": 4},
    {"account_ref": "A2", "service_ref": "MAIL", "quantity": 7},
    {"account_ref": "T3", "service_ref": "MAIL", "quantity": 3},
]


T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_world(tmp_path)
    w.import_usage(usage_document(ACCOUNTS, SUBS))
    report = run(w.customers())
    assert report.status == "succeeded", report.error
    w.map_account("A1", 1)
    w.map_account("A2", 2)
    w.map_account("T3", 3)
    w.map_service("MAIL", 1)
    w.map_service("BKP", 2)
    return w


def test_first_sync_creates_one_licence_per_pair_and_repeat_writes_nothing(world: World) -> None:
    report = run(world.usage())
    assert report.status == "succeeded", report.error
    assert report.counts == {"created": 3, "updated": 0, "unchanged": 0, "skipped": 1, "failed": 0}
    licences = world.licences()
    assert sorted((lic["client_id"], lic["name"], lic["count"]) for lic in licences) == [
        (1, "Backup", 4),
        (1, "Mail Protection", 10),
        (2, "Mail Protection", 7),
    ]
    assert all(lic["item_id"] in (1, 2) for lic in licences)
    # Sent explicitly (Halo's default type when omitted is not a subscription).
    assert all(lic["type"] == 1 for lic in licences)
    assert all(lic["start_date"] == "2024-01-01T00:00:00" for lic in licences)
    skip = next(c for c in report.changes if c.action == "skip")
    assert skip.account_ref == "T3"
    assert "trial" in skip.reason

    world.sim.state.request_log.clear()
    again = run(world.usage())
    assert again.counts["unchanged"] == 3
    assert again.counts["created"] == 0
    assert world.writes() == []
    assert len(world.licences()) == 3


def test_dry_run_writes_nothing_to_halo_or_ledger(world: World) -> None:
    preview = run(world.usage(dry_run=True))
    assert preview.dry_run
    assert preview.counts["created"] == 3
    assert world.writes() == []
    assert world.licences() == []
    real = run(world.usage())
    assert real.counts["created"] == 3


def test_quantity_change_updates_and_rename_in_halo_is_harmless(world: World) -> None:
    run(world.usage())
    mail = next(lic for lic in world.licences() if lic["client_id"] == 1 and lic["count"] == 10)
    world.sim.state.edit_by_hand("SoftwareLicence", mail["id"], name="Renamed by hand")
    subs = [dict(s) for s in SUBS]
    subs[0]["quantity"] = 12
    world.import_usage(usage_document(ACCOUNTS, subs))
    report = run(world.usage())
    assert report.counts["updated"] == 1
    assert report.counts["created"] == 0
    change = next(c for c in report.changes if c.action == "update")
    assert change.halo_id == mail["id"]
    assert change.before == {"count": 10}
    assert change.after == {"count": 12}
    after = world.sim.state.record("SoftwareLicence", mail["id"])
    assert after is not None
    assert after["count"] == 12
    assert after["name"] == "Renamed by hand"
    assert len(world.licences()) == 3


def test_licence_deleted_in_halo_is_recreated_with_warning(world: World) -> None:
    run(world.usage())
    victim = next(lic for lic in world.licences() if lic["client_id"] == 2)
    world.sim.state.delete_by_hand("SoftwareLicence", victim["id"])
    report = run(world.usage())
    created = next(c for c in report.changes if c.action == "create")
    assert created.level == "WARNING"
    assert "deleted" in created.reason
    assert len(world.licences()) == 3


def test_per_account_sync_touches_only_that_account(world: World) -> None:
    report = run(world.usage(account_ref="A2"))
    assert {c.account_ref for c in report.changes} == {"A2"}
    assert [lic["client_id"] for lic in world.licences()] == [2]


def test_internal_server_error_fails_that_record_only(world: World) -> None:
    world.sim.state.faults.inject("error", method="POST", path="/api/softwarelicence", times=50)
    report = run(world.usage())
    assert report.status == "succeeded"
    assert report.counts["failed"] == 3
    failed = [c for c in report.changes if c.action == "fail"]
    assert all("Internal Server Error" in (c.message or "") for c in failed)
    assert all("POST /api/SoftwareLicence" in (c.message or "") for c in failed)
    world.sim.state.faults.clear()
    report = run(world.usage())
    assert report.counts["created"] == 3
    assert len(world.licences()) == 3


def test_a_record_halo_refuses_fails_alone_with_halos_own_words(world: World) -> None:
    world.sim.state.delete_by_hand("Client", 2)  # someone removed the mapped client in Halo
    report = run(world.usage())
    assert report.status == "succeeded"
    assert (report.counts["created"], report.counts["failed"]) == (2, 0)
    # A client deleted after the pull is the documented skip, in Halo's words.
    failed = next(c for c in report.changes if c.account_ref == "A2")
    assert (failed.action, failed.level) == ("skip", "WARNING")
    assert "(HaloPSA refused the create: client_id: client_id 2 does not exist.)" in failed.reason
    # The batch's refusal, which named A2's row: the other two went again together.
    assert "[2].client_id: client_id 2 does not exist." in (failed.message or "")
    assert len(world.writes()) == 2
    assert "One or more validation errors" not in (failed.message or "")


@pytest.mark.parametrize("action", ["update", "create"])
def test_a_halo_failing_every_write_is_not_asked_again_for_each_record_alone(
    tmp_path: Path, action: str
) -> None:
    """A batch HaloPSA failed with a 500 goes again a record at a time (to find a record
    Halo cannot take), but once three records in a row fail so, the run sends no more:
    40 updates in batches of 10 took 132 POSTs (each batch, then each record, 3 attempts
    apiece; 88 POSTs and 162 GETs for 40 creates, now 8 and 28), at the defaults 505 POSTs per batch
    of 100 updates, so a 10,000-pair sync held the workspace, and the Halo instance's rate
    budget, for about 16 hours."""
    world = make_world(tmp_path, document=seed(40))
    world.settings = world.settings.model_copy(update={"sync_batch_size": 10})

    def counts(more: int) -> list[dict[str, Any]]:
        return [
            {"account_ref": f"A{n}", "service_ref": "MAIL", "quantity": n + more}
            for n in range(1, 41)
        ]

    world.import_usage(usage_document(accounts(40), counts(0)))
    assert run(world.customers()).status == "succeeded"
    world.map_each(40)
    world.review_off()
    if action == "update":
        assert run(world.usage()).counts["created"] == 40
        world.import_usage(usage_document(accounts(40), counts(1)))
    world.sim.state.request_log.clear()
    world.sim.state.faults.inject("error", "POST", "/api/softwarelicence", times=None)
    # In chunks of 10 accounts: the run's later chunks send nothing either.
    report = run(world.usage(chunk_accounts=10))
    assert report.status == "succeeded", report.error
    assert report.counts["failed"] == 40, report.counts
    # The first batch, then its first three records alone: an update is sent 3 times (the
    # test client's attempts), a create twice (again once a search did not find it).
    sends = 3 if action == "update" else 2
    assert len(world.writes()) == sends + 3 * sends
    reasons = [c.reason for c in report.changes]
    stopped = [r for r in reasons if r.startswith("not sent:")]
    assert len(stopped) == 37
    assert all("500 (Internal Server Error)" in r for r in reasons)
    if action == "update":  # Halo failed them: it refused nothing
        assert (
            sum(r.startswith("HaloPSA failed the update: Halo answered 500") for r in reasons) == 3
        )
    assert stopped[0] == (
        "not sent: HaloPSA failed the last 3 writes (a server error or no answer), so this run "
        "sent it no more (Halo answered 500 (Internal Server Error) to POST /api/SoftwareLicence "
        f"with 1 row(s): {stopped[0].split('with 1 row(s): ', 1)[1]}"
    )
    assert all(r.endswith("the next sync tries again") for r in stopped)
    world.sim.state.faults.clear()
    again = run(world.usage())
    assert again.counts[f"{action}d"] == 40, again.counts
    assert len(world.licences()) == 40


def test_a_halo_losing_every_answer_is_sent_no_more_after_three_batches(tmp_path: Path) -> None:
    """Every update batch's answer cut off (Halo applied each): a lost batch fails its
    records without going again record by record, and after three in a row the run sends
    no more. The next sync records the 9 applied updates as that run's and sends the 3
    never sent: 12 updated, 12 licences."""
    world = make_world(tmp_path, document=seed(12))
    world.settings = world.settings.model_copy(update={"sync_batch_size": 3})

    def counts(more: int) -> list[dict[str, Any]]:
        return [
            {"account_ref": f"A{n}", "service_ref": "MAIL", "quantity": n + more}
            for n in range(1, 13)
        ]

    world.import_usage(usage_document(accounts(12), counts(0)))
    assert run(world.customers()).status == "succeeded"
    world.map_each(12)
    world.review_off()
    assert run(world.usage()).counts["created"] == 12
    world.import_usage(usage_document(accounts(12), counts(1)))
    world.sim.state.request_log.clear()
    world.sim.state.faults.inject("truncate", "POST", "/api/softwarelicence", times=None)
    report = run(world.usage())
    assert report.status == "succeeded", report.error
    assert report.counts["failed"] == 12, report.counts
    assert len(world.writes()) == 3 * 3  # three batches, the test client's 3 attempts each
    reasons = [c.reason for c in report.changes]
    assert sum(r.startswith("HaloPSA's answer was lost (") for r in reasons) == 9, reasons
    assert sum(r.startswith("not sent: HaloPSA failed the last 3 writes") for r in reasons) == 3
    world.sim.state.faults.clear()
    again = run(world.usage())
    assert again.counts["updated"] == 12, again.counts
    found = [c for c in again.changes if f"updated by run {report.run_id}" in c.reason]
    assert len(found) == 9
    assert sorted(lic["count"] for lic in world.licences()) == list(range(2, 14))
