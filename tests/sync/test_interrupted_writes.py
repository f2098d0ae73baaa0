"""A write HaloPSA applied whose run died before recording it: the run that finds it records
it in the audit trail and its results as what it was, never as "unchanged".

The run dies in process between Halo's answer and the commit that records it (as a
``kill -9`` during the POST leaves it: the ledger row pending, the record in Halo, no audit
entry); HaloPSA is the simulator, reached over HTTP.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from halosync.domain.models import LineWritePath
from halosync.store.models import AuditEntry, LedgerEntry
from halosync.sync.execute import PlanExecutor
from tests.sync.world import World, accounts, make_world, seed, usage_document

ENTITY = {"licence": "SoftwareLicence", "invoice_line": "RecurringInvoiceLine"}
WRITES = [("licence", "invoice"), ("invoice_line", "invoice"), ("invoice_line", "update_lines")]
"""Each target, and for invoice lines each write path (the invoice back whole, or updatelines)."""


class _Died(RuntimeError):
    """The run's process died here (in process: the run ends failed, as the reaper would)."""


@pytest.fixture
def dying_commits(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """While ``armed[0]``, every batch's recording commit dies before it is made."""
    armed = [False]
    commit = PlanExecutor.commit_batch

    def dies(self: PlanExecutor, *args: Any, **kwargs: Any) -> None:
        if armed[0]:
            raise _Died("killed between Halo's answer and the commit")
        commit(self, *args, **kwargs)

    monkeypatch.setattr(PlanExecutor, "commit_batch", dies)
    return armed


def _world(
    tmp_path: Path,
    target: str,
    quantities: tuple[int, ...] = (5, 6, 7),
    *,
    review: bool = False,
    database_url: str | None = None,
    line_write_path: LineWritePath = "invoice",
) -> World:
    lines = target == "invoice_line"
    world = make_world(
        tmp_path, target=target, document=seed(3, with_invoices=lines), database_url=database_url
    )
    if line_write_path != "invoice":
        world.connect(world.base_url, line_write_path=line_write_path)
    subs = [
        {"account_ref": f"A{n}", "service_ref": "MAIL", "quantity": q}
        for n, q in enumerate(quantities, start=1)
    ]
    world.import_usage(usage_document(accounts(3), subs))
    assert asyncio.run(world.customers()).status == "succeeded"
    world.map_each(3, invoices=lines)
    if not review:
        world.review_off()
    return world


def _ours(world: World, target: str) -> dict[int, dict[str, Any]]:
    """halosync's records in Halo by id (licences, or the MAIL lines of the invoices)."""
    if target == "licence":
        return {lic["id"]: lic for lic in world.licences()}
    return {
        line["id"]: line
        for n in (1, 2, 3)
        for line in world.invoice(-n)["lines"]
        if line["_itemid"] == 1
    }


def _audit(world: World, target: str) -> list[AuditEntry]:
    with world.database.session() as session:
        return list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.entity == ENTITY[target])
                .order_by(AuditEntry.id)
            )
        )


def _interrupted(world: World, armed: list[bool]) -> int:
    """A usage sync that dies after Halo applied its writes; its run id."""
    armed[0] = True
    try:
        died = asyncio.run(world.usage())
    finally:
        armed[0] = False
    assert died.status == "failed", died
    return died.run_id


@pytest.mark.parametrize(("target", "path"), WRITES)
def test_creates_of_an_interrupted_run_are_recorded_as_created_by_it(
    tmp_path: Path, target: str, path: LineWritePath, dying_commits: list[bool]
) -> None:
    world = _world(tmp_path, target, line_write_path=path)
    killed = _interrupted(world, dying_commits)
    updatelines = [e for e in world.writes() if e.path.lower().endswith("/updatelines")]
    assert bool(updatelines) == (path == "update_lines")
    made = _ours(world, target)
    assert len(made) == 3
    assert _audit(world, target) == []

    preview = asyncio.run(world.usage(dry_run=True))
    assert preview.counts["created"] == 3, preview.counts

    report = asyncio.run(world.usage())
    assert report.status == "succeeded", report.error
    assert (report.counts["created"], report.counts["unchanged"]) == (3, 0), report.counts
    assert sorted(c.halo_id or 0 for c in report.changes if c.action == "create") == sorted(made)
    for change in report.changes:
        assert f"created by run {killed}" in change.reason, change.reason
        assert change.after, change
    entries = _audit(world, target)
    assert sorted(e.halo_record_id or 0 for e in entries) == sorted(made)
    quantity = "count" if target == "licence" else "qty_order"
    for entry in entries:
        held = made[entry.halo_record_id or 0]
        assert (entry.operation, entry.run_id) == ("create", killed)
        assert entry.request_id == f"run-{killed}-confirmed-by-run-{report.run_id}"
        assert entry.after is not None
        assert entry.after[quantity] == held[quantity]
    assert len(_ours(world, target)) == 3  # nothing sent twice
    with world.database.session() as session:
        ledger = session.scalars(select(LedgerEntry)).all()
    assert {(row.state, row.halo_record_id) for row in ledger} == {("written", i) for i in made}

    again = asyncio.run(world.usage())
    assert again.counts["unchanged"] == 3, again.counts
    assert len(_audit(world, target)) == 3


@pytest.mark.parametrize("target", ["licence", "invoice_line"])
def test_a_create_found_then_changed_is_recorded_created_then_updated(
    tmp_path: Path, target: str, dying_commits: list[bool]
) -> None:
    world = _world(tmp_path, target, quantities=(5,))
    killed = _interrupted(world, dying_commits)
    world.import_usage(
        usage_document(accounts(1), [{"account_ref": "A1", "service_ref": "MAIL", "quantity": 8}])
    )
    report = asyncio.run(world.usage())
    assert report.status == "succeeded", report.error
    (change,) = report.changes
    assert change.action == "update"
    entries = _audit(world, target)
    quantity = "count" if target == "licence" else "qty_order"
    assert [(e.operation, e.run_id) for e in entries] == [
        ("create", killed),
        ("update", report.run_id),
    ]
    assert float(entries[0].after[quantity]) == 5  # type: ignore[index]
    assert float(entries[1].after[quantity]) == 8  # type: ignore[index]


def test_a_found_create_whose_change_is_held_for_review_is_recorded_once_written(
    tmp_path: Path, dying_commits: list[bool]
) -> None:
    """Held for review, nothing of the pair is recorded (the ledger row stays pending); the
    run that writes the approved change records the create and the update, once."""
    world = _world(tmp_path, "licence", quantities=(5,), review=True)
    killed = _interrupted(world, dying_commits)
    world.import_usage(
        usage_document(accounts(1), [{"account_ref": "A1", "service_ref": "MAIL", "quantity": 500}])
    )
    for _ in range(2):
        held = asyncio.run(world.usage())
        assert [(c.action, c.held) for c in held.changes] == [("skip", True)], held.changes
    assert _audit(world, "licence") == []
    world.review_off()
    report = asyncio.run(world.usage())
    assert [c.action for c in report.changes] == ["update"], report.changes
    assert [(e.operation, e.run_id) for e in _audit(world, "licence")] == [
        ("create", killed),
        ("update", report.run_id),
    ]


def test_a_licence_taken_over_after_a_kill_is_still_found_as_a_duplicate(
    tmp_path: Path, dying_commits: list[bool]
) -> None:
    """Licence list rows carry no notes, so a second licence with a pair's tag is seen only
    among those halosync created per the audit trail: a licence taken over after a kill
    must be among them, or restoring it from Halo's recycle bin bills the customer twice
    unflagged."""
    world = _world(tmp_path, "licence", quantities=(5,))
    _interrupted(world, dying_commits)
    (first,) = _ours(world, "licence")
    assert asyncio.run(world.usage()).status == "succeeded"
    world.sim.state.edit_by_hand("SoftwareLicence", first, deleted=True)
    recreated = asyncio.run(world.usage())
    assert recreated.counts["created"] == 1, recreated.counts
    second = recreated.changes[0].halo_id
    world.sim.state.edit_by_hand("SoftwareLicence", first, deleted=False)

    report = asyncio.run(world.usage())
    (change,) = report.changes
    assert (change.halo_id, change.duplicates) == (second, (first,)), change
    assert change.level == "WARNING"


def _recount_a1(world: World, quantity: int) -> None:
    world.import_usage(
        usage_document(
            accounts(1), [{"account_ref": "A1", "service_ref": "MAIL", "quantity": quantity}]
        )
    )


def _a1(world: World, target: str) -> dict[str, Any]:
    licence_or_line = _ours(world, target)
    if target == "licence":
        return next(r for r in licence_or_line.values() if r["client_id"] == 1)
    return next(r for r in world.invoice(-1)["lines"] if r["_itemid"] == 1)


@pytest.mark.parametrize(("target", "path"), WRITES)
def test_an_update_of_an_interrupted_run_is_recorded_as_its_update(
    tmp_path: Path, target: str, path: LineWritePath, dying_commits: list[bool]
) -> None:
    _update_recorded(_world(tmp_path, target, line_write_path=path), target, dying_commits)


@pytest.mark.postgres
def test_an_update_of_an_interrupted_run_is_recorded_on_postgres(
    tmp_path: Path, pg_schema_url: str, dying_commits: list[bool]
) -> None:
    world = _world(tmp_path, "licence", database_url=pg_schema_url)
    try:
        _update_recorded(world, "licence", dying_commits)
    finally:
        world.database.dispose()


def _update_recorded(world: World, target: str, dying_commits: list[bool]) -> None:
    """A recount whose update Halo applied for a run that died: recorded by the next run."""
    assert asyncio.run(world.usage()).counts["created"] == 3
    _recount_a1(world, 9)
    killed = _interrupted(world, dying_commits)
    quantity = "count" if target == "licence" else "qty_order"
    assert float(_a1(world, target)[quantity]) == 9  # Halo applied it; nothing recorded it

    report = asyncio.run(world.usage())
    assert report.status == "succeeded", report.error
    assert (report.counts["updated"], report.counts["unchanged"]) == (1, 2), report.counts
    (change,) = [c for c in report.changes if c.action == "update"]
    assert f"updated by run {killed}" in change.reason, change.reason
    assert (dict(change.before), dict(change.after)) == ({quantity: 5}, {quantity: 9})
    updates = [e for e in _audit(world, target) if e.operation == "update"]
    assert [(e.run_id, e.before, e.after) for e in updates] == [
        (killed, {quantity: 5}, {quantity: 9})
    ]
    assert updates[0].request_id is not None
    assert updates[0].request_id.endswith(f"confirmed-by-run-{report.run_id}")

    again = asyncio.run(world.usage())
    assert again.counts["unchanged"] == 3, again.counts
    assert len([e for e in _audit(world, target) if e.operation == "update"]) == 1


def test_an_update_not_found_in_halo_is_sent_again(
    tmp_path: Path, dying_commits: list[bool]
) -> None:
    """The killed run's update is not what Halo holds (undone by hand since): the next run
    writes it as its own, and the killed run's is not recorded."""
    world = _world(tmp_path, "licence")
    assert asyncio.run(world.usage()).counts["created"] == 3
    _recount_a1(world, 9)
    _interrupted(world, dying_commits)
    world.sim.state.edit_by_hand("SoftwareLicence", _a1(world, "licence")["id"], count=5)
    report = asyncio.run(world.usage())
    (change,) = [c for c in report.changes if c.action == "update"]
    assert "by run" not in change.reason, change.reason
    updates = [e for e in _audit(world, "licence") if e.operation == "update"]
    assert [(e.run_id, e.before, e.after) for e in updates] == [
        (report.run_id, {"count": 5}, {"count": 9})
    ]
    assert _a1(world, "licence")["count"] == 9


@pytest.mark.parametrize(("target", "path"), WRITES)
def test_an_interrupted_update_that_restored_what_the_ledger_holds_is_recorded_once(
    tmp_path: Path, target: str, path: LineWritePath, dying_commits: list[bool]
) -> None:
    """Halo was recounted by hand (5 -> 16), the killed run's update set it back to the 5
    the ledger already held: the next run records that update as the killed run's, once.
    It was reported again by every later run ('updated by run 4 ... recorded now', counted
    updated, a repeat sync never all unchanged) and never reached the audit trail: Halo
    and the ledger agreed, so the row, and the update it kept, was never written."""
    world = _world(tmp_path, target, line_write_path=path)
    assert asyncio.run(world.usage()).counts["created"] == 3
    quantity = "count" if target == "licence" else "qty_order"
    record = _a1(world, target)
    entity = "SoftwareLicence" if target == "licence" else "RecurringInvoice"
    if target == "licence":
        world.sim.state.edit_by_hand(entity, record["id"], count=16)
    else:
        lines = [
            {**line, "qty_order": 16} if line["id"] == record["id"] else line
            for line in world.invoice(-1)["lines"]
        ]
        world.sim.state.edit_by_hand(entity, -1, lines=lines)
    assert float(_a1(world, target)[quantity]) == 16
    killed = _interrupted(world, dying_commits)
    assert float(_a1(world, target)[quantity]) == 5  # Halo applied it; nothing recorded it

    report = asyncio.run(world.usage())
    assert report.status == "succeeded", report.error
    assert (report.counts["updated"], report.counts["unchanged"]) == (1, 2), report.counts
    (change,) = [c for c in report.changes if c.action == "update"]
    assert f"updated by run {killed}" in change.reason, change.reason
    updates = [e for e in _audit(world, target) if e.operation == "update"]
    assert [(e.run_id, e.before, e.after) for e in updates] == [
        (killed, {quantity: 16}, {quantity: 5})
    ]

    again = asyncio.run(world.usage())
    assert again.counts["unchanged"] == 3, [c.reason for c in again.changes]
    assert len([e for e in _audit(world, target) if e.operation == "update"]) == 1


POSTED = {"invoice": "/api/recurringinvoice", "update_lines": "/api/recurringinvoice/updatelines"}
"""Where each write path POSTs invoice lines (licences: /api/softwarelicence)."""


def _recount_all(world: World, more: int) -> None:
    subs = [
        {"account_ref": f"A{n}", "service_ref": "MAIL", "quantity": q + more}
        for n, q in enumerate((5, 6, 7), start=1)
    ]
    world.import_usage(usage_document(accounts(3), subs))


def _quantities(world: World, target: str) -> list[float]:
    quantity = "count" if target == "licence" else "qty_order"
    return sorted(float(record[quantity]) for record in _ours(world, target).values())


@pytest.mark.parametrize("fault", ["truncate", "drop"])
@pytest.mark.parametrize(("target", "path"), WRITES)
def test_an_update_batch_whose_answer_is_lost_fails_its_records_not_the_run(
    tmp_path: Path, target: str, path: LineWritePath, fault: str
) -> None:
    """Halo's answer to a batch of updates stays unreadable (cut off: Halo applied it) or
    never comes (the connection dropped: it did not) after every retry. Its records fail,
    the run goes on, and the next sync reads them back: an update Halo applied is recorded
    as that run's, one it did not is sent again; nothing is created twice, none is lost.
    The whole run failed with every count 0 before."""
    world = _world(tmp_path, target, line_write_path=path)
    assert asyncio.run(world.usage()).counts["created"] == 3
    _recount_all(world, 10)
    entity = "/api/softwarelicence" if target == "licence" else POSTED[path]
    world.sim.state.faults.inject(fault, "POST", entity, times=None)
    report = asyncio.run(world.usage())
    assert report.status == "succeeded", report.error
    applied = fault == "truncate"
    assert _quantities(world, target) == ([15, 16, 17] if applied else [5, 6, 7])
    if path == "invoice" and target == "invoice_line":
        # The invoice path reads the invoices back at once: Halo's lines settle it.
        counts = (3, 0) if applied else (0, 3)
        assert (report.counts["updated"], report.counts["failed"]) == counts, report.counts
    else:
        assert report.counts["failed"] == 3, report.counts
        for change in report.changes:
            assert change.reason.startswith("HaloPSA's answer was lost ("), change.reason
            assert change.reason.endswith("; the next sync reads them back"), change.reason
    world.sim.state.faults.clear()

    again = asyncio.run(world.usage())
    assert again.status == "succeeded", again.error
    assert _quantities(world, target) == [15, 16, 17]
    assert len(_ours(world, target)) == 3  # nothing created twice
    updated = {e.halo_record_id for e in _audit(world, target) if e.operation == "update"}
    assert updated == set(_ours(world, target))  # each update recorded once
    assert len([e for e in _audit(world, target) if e.operation == "update"]) == 3
    last = asyncio.run(world.usage())
    assert last.counts["unchanged"] == 3, [c.reason for c in last.changes]
