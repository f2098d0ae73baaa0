"""A record halosync keeps in step that someone moved to another HaloPSA client by hand.

Writing it as if it were still the pair's would bill the other customer for this account's
usage, and creating a second one would bill the pair twice: the full sync, a per-account
sync (as an approval runs) and the reconciliation all refuse it and name the fix.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from halosync.store.models import HaloClient
from tests.sync.world import World, accounts, make_world, seed, usage_document


def _subs(a1: int) -> list[dict[str, object]]:
    return [
        {"account_ref": "A1", "service_ref": "MAIL", "quantity": a1},
        {"account_ref": "A2", "service_ref": "MAIL", "quantity": 7},
    ]


def _world(tmp_path: Path, target: str = "licence") -> World:
    """A1 (client 1) and A2 (client 2) buy Mail, synced once (A1 9, A2 7); then A1's count
    is 10. Clients 3 and 4 are not mapped; with ``invoice_line`` each client has its
    recurring invoice (-n), mapped with it."""
    world = make_world(tmp_path, target=target, document=seed(4, with_invoices=True))
    world.import_usage(usage_document(accounts(2), _subs(9)))
    assert asyncio.run(world.customers()).status == "succeeded"
    world.map_each(2, invoices=target == "invoice_line")
    first = asyncio.run(world.usage())
    assert first.status == "succeeded", first.error
    world.import_usage(usage_document(accounts(2), _subs(10)))
    return world


def _a1_licence(world: World) -> dict[str, object]:
    return next(lic for lic in world.licences() if lic["client_id"] == 1)


def test_a_licence_moved_to_another_mapped_client_is_never_written_as_the_pairs(
    tmp_path: Path,
) -> None:
    world = _world(tmp_path)
    licence = _a1_licence(world)
    world.sim.state.edit_by_hand("SoftwareLicence", int(str(licence["id"])), client_id=2)
    for options in ({}, {"account_ref": "A1"}):
        report = asyncio.run(world.usage(**options))
        assert report.status == "succeeded", report.error
        change = next(c for c in report.changes if c.account_ref == "A1")
        assert change.action == "skip", change.reason
        assert change.level == "WARNING"
        assert f"licence {licence['id']} was moved to client 'Client 2 Ltd' (2)" in change.reason
        assert "'Client 1 Ltd' (1)" in change.reason
        assert "move it back" in change.reason
        # Nothing written to the other customer's licence, and no second licence created.
        moved = world.sim.state.record("SoftwareLicence", int(str(licence["id"])))
        assert moved is not None
        assert moved["count"] == 9
        assert len(world.licences()) == 2
    rows = asyncio.run(world.reconciliation())
    row = next(r for r in rows if r.account_ref == "A1")
    assert row.status == "blocked"
    assert row.blocked is not None
    assert "was moved to client 'Client 2 Ltd' (2)" in row.blocked
    assert not row.out_of_date


def test_a_licence_moved_to_an_unmapped_client_is_not_recreated_by_a_per_account_sync(
    tmp_path: Path,
) -> None:
    """The per-account sync (an approval's) reads one client; the licence the ledger names
    is looked up by id and found elsewhere: moved, not deleted."""
    world = _world(tmp_path)
    licence = _a1_licence(world)
    world.sim.state.edit_by_hand("SoftwareLicence", int(str(licence["id"])), client_id=4)
    for options in ({"account_ref": "A1"}, {}):
        report = asyncio.run(world.usage(**options))
        change = next(c for c in report.changes if c.account_ref == "A1")
        assert change.action == "skip", change.reason
        assert "was moved to client 'Client 4 Ltd' (4)" in change.reason
        assert len(world.licences()) == 2


def test_an_invoice_line_on_a_recurring_invoice_moved_to_another_client_is_not_written(
    tmp_path: Path,
) -> None:
    world = _world(tmp_path, target="invoice_line")
    world.sim.state.edit_by_hand("RecurringInvoice", -1, client_id=3)
    for options in ({}, {"account_ref": "A1"}):
        report = asyncio.run(world.usage(**options))
        change = next(c for c in report.changes if c.account_ref == "A1")
        assert change.action == "skip", change.reason
        assert change.level == "WARNING"
        assert "recurring invoice -1 was moved to client 'Client 3 Ltd' (3)" in change.reason
        ours = [line for line in world.invoice(-1)["lines"] if line.get("_itemid") == 1]
        assert [line["qty_order"] for line in ours] == [9]
    rows = asyncio.run(world.reconciliation())
    row = next(r for r in rows if r.account_ref == "A1")
    assert row.status == "blocked"


def test_a_licence_made_inactive_in_halo_is_not_written_and_reconcile_says_so(
    tmp_path: Path,
) -> None:
    world = _world(tmp_path)
    licence = _a1_licence(world)
    world.sim.state.edit_by_hand("SoftwareLicence", int(str(licence["id"])), is_active=False)
    for options in ({}, {"account_ref": "A1"}):
        report = asyncio.run(world.usage(**options))
        change = next(c for c in report.changes if c.account_ref == "A1")
        assert change.action == "skip", change.reason
        assert change.level == "WARNING"
        assert f"licence {licence['id']} is inactive in HaloPSA" in change.reason
        assert "reactivate it" in change.reason
        assert "halosync rules exclude --account A1 --service MAIL" in change.reason
        kept = world.sim.state.record("SoftwareLicence", int(str(licence["id"])))
        assert kept is not None
        assert (kept["count"], kept["is_active"]) == (9, False)
        assert len(world.licences()) == 2
    rows = asyncio.run(world.reconciliation())
    row = next(r for r in rows if r.account_ref == "A1")
    assert row.status == "blocked"
    assert row.blocked is not None
    assert "is inactive in HaloPSA" in row.blocked


@pytest.mark.parametrize(
    ("target", "refused"),
    [("licence", "the create"), ("invoice_line", "the write to recurring invoice -3")],
)
def test_a_client_deleted_in_halo_after_the_pull_is_a_documented_skip(
    tmp_path: Path, target: str, refused: str
) -> None:
    """The customers pull may be hours old: Halo's refusal of a write naming client_id (a
    licence create, or a write to the client's recurring invoice) is the documented skip
    (WARNING, reactivate or remap), not a failure; the other clients are written in the same
    run, and the client is marked gone so the next run skips it without asking Halo."""
    world = make_world(tmp_path, target=target, document=seed(4, with_invoices=True))
    subs = [{"account_ref": f"A{n}", "service_ref": "MAIL", "quantity": n} for n in (1, 2, 3)]
    world.import_usage(usage_document(accounts(3), subs))
    assert asyncio.run(world.customers()).status == "succeeded"
    world.map_each(3, invoices=target == "invoice_line")
    world.sim.state.delete_by_hand("Client", 3)
    report = asyncio.run(world.usage())
    assert report.status == "succeeded", report.error
    changes = {c.account_ref: c for c in report.changes}
    assert [changes[ref].action for ref in ("A1", "A2")] == ["create", "create"]
    change = changes["A3"]
    assert (change.action, change.level) == ("skip", "WARNING"), change.reason
    assert change.reason == (
        "HaloPSA client 'Client 3 Ltd' (3) no longer exists; reactivate it in HaloPSA or map "
        f"the account to another client (HaloPSA refused {refused}: client_id: client_id 3 "
        "does not exist.); it counts as gone until the next Sync Organizations"
    )
    world.sim.state.request_log.clear()
    again = asyncio.run(world.usage())
    change = next(c for c in again.changes if c.account_ref == "A3")
    assert change.action == "skip"
    assert change.reason.endswith(
        "no longer exists; reactivate it in HaloPSA or map the account to another client"
    )
    assert world.writes() == []


@pytest.mark.parametrize("target", ["licence", "invoice_line"])
def test_a_client_made_inactive_after_the_pull_is_skipped_by_the_next_sync(
    tmp_path: Path, target: str
) -> None:
    """HaloPSA accepts a licence or a line for an inactive client, so the usage sync asks
    HaloPSA which clients are inactive now (one short list read) instead of trusting a pull
    that may be hours old: the client's pairs are the documented skip, nothing is written
    for it, the other clients are written, and the cache says inactive from then on."""
    world = make_world(tmp_path, target=target, document=seed(3, with_invoices=True))
    subs = [{"account_ref": f"A{n}", "service_ref": "MAIL", "quantity": n} for n in (1, 2, 3)]
    world.import_usage(usage_document(accounts(3), subs))
    assert asyncio.run(world.customers()).status == "succeeded"
    world.map_each(3, invoices=target == "invoice_line")
    lines_before = world.invoice(-2)["lines"]
    world.sim.state.edit_by_hand("Client", 2, inactive=True)
    world.sim.state.request_log.clear()
    report = asyncio.run(world.usage())
    assert report.status == "succeeded", report.error
    changes = {c.account_ref: c for c in report.changes}
    assert [changes[ref].action for ref in ("A1", "A3")] == ["create", "create"]
    change = changes["A2"]
    assert (change.action, change.level, change.reason) == (
        "skip",
        "WARNING",
        "HaloPSA client 'Client 2 Ltd' (2) is inactive; reactivate it in HaloPSA or remap "
        "the account",
    )
    assert [lic["client_id"] for lic in world.licences()] == ([1, 3] if target == "licence" else [])
    assert world.invoice(-2)["lines"] == lines_before
    client_reads = [e for e in world.api_requests() if e.path.lower() == "/api/client"]
    assert len(client_reads) == 1
    assert "includeactive=false" in client_reads[0].query
    with world.database.session() as session:
        cached = session.scalars(select(HaloClient).where(HaloClient.halo_id == 2)).one()
        assert cached.inactive
