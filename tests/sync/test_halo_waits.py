"""A sync against a Halo that asks for long waits, flaps its token endpoint or answers 401.

Every run here talks HTTP to the in-process simulator; the shared SQL pacer and a manual
clock (moved only by sleeping) stand in for several halosync processes and real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx2
from sqlalchemy import func, select

from halosync.halopsa.client import HaloApiClient
from halosync.halopsa.clock import Clock
from halosync.halopsa.config import HaloConnectionConfig
from halosync.halopsa.pacing import SharedSlidingLogPacer
from halosync.mapping.service import map_account, map_service
from halosync.simulator import ApiApplication
from halosync.sources.importer import import_document
from halosync.store.connections import ConnectionDetails, HaloConnectionRepository
from halosync.store.models import HaloRateSlot
from halosync.store.rate_slots import SqlRateSlotLog
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.activity import list_log_entries
from halosync.sync.customers import run_customers_sync
from halosync.sync.halo import HaloFactory
from halosync.sync.results import UsageReport
from halosync.sync.usage import run_usage_sync
from tests.halopsa.manual_clock import ManualClock
from tests.sync.world import (
    CLIENT_ID,
    CLIENT_SECRET,
    FAST_RETRY,
    SERVER,
    World,
    make_world,
    seed,
    usage_document,
)

T = TypeVar("T")
START = datetime(2025, 6, 2, 18, 0, tzinfo=UTC)
WINDOW = 300.0
ACCOUNTS = [
    {"ref": "A1", "name": "Client 1 Ltd", "status": "active", "billed": True},
    {"ref": "A2", "name": "Client 2 Ltd", "status": "active", "billed": True},
]
SUBS = [
    {"account_ref": "A1", "service_ref": "MAIL", "quantity": 10},
    {"account_ref": "A2", "service_ref": "BKP", "quantity": 3},
]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def paced(world: World, clock: Clock) -> HaloFactory:
    """Clients the way production builds them: the rate budget shared in the database."""

    def factory(config: HaloConnectionConfig) -> HaloApiClient:
        return HaloApiClient(
            config,
            transport=httpx2.ASGITransport(app=world.sim),
            pacer=SharedSlidingLogPacer(
                SqlRateSlotLog(world.database), config.instance_key, 270, WINDOW, clock=clock
            ),
            clock=clock,
            retry=FAST_RETRY,
            allow_private_networks=True,
            rate_window_seconds=WINDOW,
        )

    return factory


def usage(world: World, workspace_id: int, factory: HaloFactory, **options: Any) -> Any:
    return run_usage_sync(
        world.database,
        world.box,
        world.settings,
        workspace_id,
        halo_factory=factory,
        **options,
    )


def set_up(world: World, workspace_id: int) -> None:
    import_document(world.database, workspace_id, usage_document(ACCOUNTS, SUBS))
    pulled = run(
        run_customers_sync(
            world.database, world.box, world.settings, workspace_id, halo_factory=world.factory
        )
    )
    assert pulled.status == "succeeded", pulled.error
    invoice_line = world.sim.state.record("RecurringInvoice", -1) is not None
    with world.database.session() as session:
        map_account(
            session, workspace_id, "A1", 1, recurring_invoice_id=-1 if invoice_line else None
        )
        map_account(
            session, workspace_id, "A2", 2, recurring_invoice_id=-2 if invoice_line else None
        )
        map_service(session, workspace_id, "MAIL", 1)
        map_service(session, workspace_id, "BKP", 2)


def second_workspace(world: World, name: str) -> int:
    """Another workspace of the same installation, connected to the same Halo instance."""
    with world.database.session() as session:
        workspace = WorkspaceRepository(session).create(name)
        HaloConnectionRepository(session, workspace.id, world.box).save(
            ConnectionDetails(SERVER, None, None, CLIENT_ID, CLIENT_SECRET)
        )
        workspace_id = workspace.id
    set_up(world, workspace_id)
    return workspace_id


def latest_slot(world: World) -> float:
    with world.database.session() as session:
        latest = session.scalar(select(func.max(HaloRateSlot.slot_at)))
    return latest.timestamp() if isinstance(latest, datetime) else 0.0


def test_short_retry_after_is_honoured_and_a_day_long_one_halts_the_run(tmp_path: Path) -> None:
    world = make_world(tmp_path, start_time=START)
    set_up(world, world.workspace_id)
    clock = ManualClock(world.sim.state.clock)
    factory = paced(world, clock)
    faults = world.sim.state.faults

    world.sim.state.configure({"retry_after": 30})
    faults.inject("rate_limit", method="GET", path="/api/softwarelicence")
    report: UsageReport = run(usage(world, world.workspace_id, factory))
    assert report.status == "succeeded", report.error
    assert report.counts["created"] == 2
    assert clock.slept == 30

    world.sim.state.configure({"retry_after": 86400})
    faults.inject("rate_limit", method="GET", path="/api/softwarelicence", times=None)
    before = clock.now()
    halted: UsageReport = run(usage(world, world.workspace_id, factory))
    assert halted.status == "halted"
    assert halted.error is not None
    assert "429" in halted.error
    assert "86400" in halted.error
    assert clock.now() - before < 1  # promptly: no simulated waiting at all
    assert latest_slot(world) <= clock.now()
    entry = list_log_entries(world.database, world.workspace_id, level="ERROR").entries[0]
    assert entry.title == "Subscriptions sync halted"
    assert "86400" in (entry.details or "")

    # The next run (scheduled or by hand) tries again and, Halo willing, succeeds.
    faults.clear()
    again: UsageReport = run(usage(world, world.workspace_id, factory))
    assert again.status == "succeeded", again.error
    assert again.counts["unchanged"] == 2


class HeldClock(ManualClock):
    """The clock of a process that really waits: a sleep of any length never ends here."""

    def __init__(self, base: Any) -> None:
        super().__init__(base)
        self.waiting = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        self.slept += seconds
        self.waiting.set()
        await asyncio.Event().wait()


def test_a_second_workspace_on_the_same_halo_is_not_delayed(tmp_path: Path) -> None:
    world = make_world(tmp_path, start_time=START)
    set_up(world, world.workspace_id)
    beta = second_workspace(world, "beta")
    world.sim.state.configure({"retry_after": 86400})
    world.sim.state.faults.inject("rate_limit", method="GET", path="/api/softwarelicence")

    async def scenario() -> tuple[UsageReport | None, UsageReport, float]:
        held = HeldClock(world.sim.state.clock)
        first = asyncio.create_task(usage(world, world.workspace_id, paced(world, held)))
        for _ in range(1000):  # until the first run has met the 429 and halted, or waits
            if first.done() or held.waiting.is_set():
                break
            await asyncio.sleep(0.01)
        assert first.done() or held.waiting.is_set()
        clock = ManualClock(world.sim.state.clock)
        second = await usage(world, beta, paced(world, clock))
        if not first.done():
            first.cancel()
            return None, second, clock.slept
        return first.result(), second, clock.slept

    first, second, second_waited = run(scenario())
    assert second.status == "succeeded", second.error
    assert second.counts["created"] == 2
    assert second_waited == 0
    assert first is not None
    assert first.status == "halted"


def test_token_html_500_halts_only_a_connection_that_never_had_a_token(tmp_path: Path) -> None:
    world = make_world(tmp_path, start_time=START)
    set_up(world, world.workspace_id)
    factory = paced(world, ManualClock(world.sim.state.clock))
    faults = world.sim.state.faults

    # Never tested: Halo's HTML 500 on the first token request is set-up advice.
    faults.inject("html_error", method="POST", path="/auth/token")
    world.sim.state.request_log.clear()
    halted: UsageReport = run(usage(world, world.workspace_id, factory))
    assert halted.status == "halted"
    assert halted.error is not None
    assert "check the tenant" in halted.error.lower()
    assert len([e for e in world.sim.state.request_log if e.path == "/auth/token"]) == 1

    # Once the connection has been issued a token (its test passed), the same 500 is a
    # passing fault: retried like any 5xx, and the sync completes.
    with world.database.session() as session:
        HaloConnectionRepository(session, world.workspace_id, world.box).record_test(
            success=True, message="Test is successful."
        )
    faults.inject("html_error", method="POST", path="/auth/token")
    world.sim.state.request_log.clear()
    report: UsageReport = run(usage(world, world.workspace_id, factory))
    assert report.status == "succeeded", report.error
    assert [e.status for e in world.sim.state.request_log if e.path == "/auth/token"] == [500, 200]


NARROW_ID = "7d1c2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e"
NARROW_SECRET = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b-5a4f3e2d-1c0b-4a9f-8e7d-6c5b4a3f2e1d"


def test_401_after_a_fresh_token_halts_naming_the_missing_permission(tmp_path: Path) -> None:
    world = make_world(tmp_path, target="invoice_line", document=seed(3, with_invoices=True))
    set_up(world, world.workspace_id)
    # The admin swaps in an API application without the Invoices permission, on a Halo
    # whose detail endpoints answer that with 401 (as real Halo does), not 403.
    world.sim.state.config.applications.append(
        ApiApplication(NARROW_ID, NARROW_SECRET, ("read:customers", "read:items"))
    )
    with world.database.session() as session:
        HaloConnectionRepository(session, world.workspace_id, world.box).save(
            ConnectionDetails(SERVER, None, None, NARROW_ID, NARROW_SECRET)
        )
    world.sim.state.configure({"detail_permission_status": 401})
    world.sim.state.request_log.clear()

    report = run(world.usage(account_ref="A1"))
    assert report.status == "halted"
    assert report.error is not None
    assert "read:invoices" in report.error
    assert "Configuration > Integrations" in report.error
    assert "refused a freshly issued token" not in report.error  # the token is not blamed
    # The read of Halo's inactive clients (read:customers) passes; the invoice read does not.
    assert [e.status for e in world.sim.state.request_log if e.path.startswith("/api/")] == [
        200,
        401,
        401,
    ]
    # One fresh token, no loop.
    assert len([e for e in world.sim.state.request_log if e.path == "/auth/token"]) == 2
