"""A workspace wired to an in-process simulated HaloPSA, for sync tests.

Everything real except the network: the store is a SQLite file, HaloPSA is the simulator
reached over HTTP through an ASGI transport.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from halosync.domain.models import LineWritePath
from halosync.domain.reconcile import ReconcileRow
from halosync.domain.review import REVIEW_OFF
from halosync.halopsa.client import HaloApiClient
from halosync.halopsa.config import HaloConnectionConfig
from halosync.halopsa.retry import RetryPolicy
from halosync.mapping.service import map_account, map_service
from halosync.settings import Settings
from halosync.simulator import ApiApplication, Simulator, SimulatorConfig, create_app
from halosync.simulator.server import serve_in_thread
from halosync.sources.importer import import_document
from halosync.store.connections import ConnectionDetails, HaloConnectionRepository
from halosync.store.crypto import SecretBox
from halosync.store.database import Database
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.customers import run_customers_sync
from halosync.sync.reconcile import build_reconciliation
from halosync.sync.results import RunReport, UsageReport
from halosync.sync.review import set_review_policy
from halosync.sync.usage import run_usage_sync
from tests.cli_inprocess import data_folder
from tests.schema_template import migrated

CLIENT_ID = "5c3b8b4e-1f0c-4a55-9a43-0b6b2f0e9d11"
CLIENT_SECRET = "0f8e2d4c-6b1a-4e3f-8d7c-9a5b3c1d2e4f-7a6b5c4d-3e2f-1a0b-9c8d-7e6f5a4b3c2d"
SERVER = "http://halo.test"
FAST_RETRY = RetryPolicy(
    attempts=3, timeout=5.0, wait_initial=0.001, wait_max=0.01, wait_jitter=0.0
)


def seed(clients: int = 3, *, with_invoices: bool = False) -> dict[str, Any]:
    """Clients 1..n, items 1 (Mail Protection) and 2 (Backup), optionally an invoice each."""
    document: dict[str, Any] = {
        "clients": [{"id": n, "name": f"Client {n} Ltd"} for n in range(1, clients + 1)],
        "items": [
            {"id": 1, "name": "Mail Protection", "baseprice": 3.0, "costprice": 1.0},
            {"id": 2, "name": "Backup", "baseprice": 5.0, "costprice": 2.0},
            {"id": 3, "name": "Consulting", "baseprice": 100.0, "costprice": 0.0},
        ],
    }
    if with_invoices:
        document["recurring_invoices"] = [
            {
                "id": -n,
                "client_id": n,
                "reference": f"Monthly {n}",
                "lines": [{"_itemid": 3, "qty_order": 1, "item_shortdescription": "Consulting"}],
            }
            for n in range(1, clients + 1)
        ]
    return document


def accounts(count: int) -> list[dict[str, Any]]:
    """Accounts A1..An, active and billed, named as :func:`seed`'s clients 1..n."""
    return [
        {"ref": f"A{n}", "name": f"Client {n} Ltd", "status": "active", "billed": True}
        for n in range(1, count + 1)
    ]


def usage_document(
    accounts: list[dict[str, Any]], subscriptions: list[dict[str, Any]]
) -> dict[str, Any]:
    """An import document with the two test services (MAIL and BKP, :func:`seed`'s items 1
    and 2)."""
    return {
        "accounts": accounts,
        "services": [{"ref": "MAIL", "name": "Mail Protection"}, {"ref": "BKP", "name": "Backup"}],
        "subscriptions": [
            {
                "start_date": "2024-01-01",
                "billing_cycle": "Monthly",
                "term": "Monthly",
                **sub,
            }
            for sub in subscriptions
        ],
    }


@dataclass
class World:
    """One workspace, its database, and the simulated Halo it is connected to."""

    database: Database
    box: SecretBox
    settings: Settings
    sim: Simulator
    workspace_id: int
    base_url: str = SERVER
    """Where the simulator answers: in-process (the default) or a real port (``serve``)."""

    def factory(self, config: HaloConnectionConfig) -> HaloApiClient:
        in_process = self.base_url == SERVER
        return HaloApiClient(
            config,
            transport=httpx2.ASGITransport(app=self.sim) if in_process else None,
            retry=FAST_RETRY,
            allow_private_networks=True,
        )

    def control(self) -> httpx2.AsyncClient:
        """A client for the simulator's ``/_simulator`` controls, wherever it answers."""
        if self.base_url == SERVER:
            transport = httpx2.ASGITransport(app=self.sim)
            return httpx2.AsyncClient(transport=transport, base_url=SERVER)
        return httpx2.AsyncClient(base_url=self.base_url, timeout=10)

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Serve the simulator on a real local port and point the connection at it."""
        with serve_in_thread(self.sim) as url:
            self.connect(url)
            try:
                yield url
            finally:
                self.connect(SERVER)

    def connect(self, url: str, *, line_write_path: LineWritePath | None = None) -> None:
        """Point the workspace's connection at a simulator answering at ``url`` (and, when
        given, set how invoice lines are written; left out, the stored way is kept)."""
        with self.database.session() as session:
            connections = HaloConnectionRepository(session, self.workspace_id, self.box)
            stored = connections.details()
            if line_write_path is None:
                line_write_path = stored.line_write_path if stored else "invoice"
            connections.save(
                ConnectionDetails(
                    url, None, None, CLIENT_ID, CLIENT_SECRET, line_write_path=line_write_path
                )
            )
        self.base_url = url

    async def reconciliation(self) -> list[ReconcileRow]:
        return await build_reconciliation(
            self.database, self.box, self.settings, self.workspace_id, halo_factory=self.factory
        )

    async def customers(self) -> RunReport:
        return await run_customers_sync(
            self.database, self.box, self.settings, self.workspace_id, halo_factory=self.factory
        )

    async def usage(self, **options: Any) -> UsageReport:
        return await run_usage_sync(
            self.database,
            self.box,
            self.settings,
            self.workspace_id,
            halo_factory=self.factory,
            **options,
        )

    def import_usage(self, document: dict[str, Any]) -> None:
        import_document(self.database, self.workspace_id, document)

    def ready_one_account(self, quantity: int = 5) -> None:
        """A1 with MAIL x ``quantity`` imported, Halo pulled, A1 -> client 1, MAIL -> item 1."""
        self.import_usage(
            usage_document(
                accounts(1), [{"account_ref": "A1", "service_ref": "MAIL", "quantity": quantity}]
            )
        )
        pulled = asyncio.run(self.customers())
        assert pulled.status == "succeeded", pulled.error
        self.map_account("A1", 1)
        self.map_service("MAIL", 1)

    def map_each(self, count: int, *, invoices: bool = False) -> None:
        """Accounts A1..An to clients 1..n (and each to its recurring invoice -n), MAIL to
        item 1 and BKP to item 2, in one transaction (5,000 accounts in seconds)."""
        with self.database.session() as session:
            for n in range(1, count + 1):
                invoice = -n if invoices else None
                map_account(session, self.workspace_id, f"A{n}", n, recurring_invoice_id=invoice)
            map_service(session, self.workspace_id, "MAIL", 1)
            map_service(session, self.workspace_id, "BKP", 2)

    def map_account(self, ref: str, client_id: int, invoice: int | None = None) -> None:
        with self.database.session() as session:
            map_account(session, self.workspace_id, ref, client_id, recurring_invoice_id=invoice)

    def map_service(self, ref: str, item_id: int) -> None:
        with self.database.session() as session:
            map_service(session, self.workspace_id, ref, item_id)

    def review_off(self) -> None:
        """Every review rule off, for tests about something else that move counts freely."""
        set_review_policy(self.database, self.workspace_id, REVIEW_OFF, actor="test")

    def set(self, **fields: Any) -> None:
        with self.database.session() as session:
            workspace = WorkspaceRepository(session).get(self.workspace_id)
            for name, value in fields.items():
                setattr(workspace, name, value)

    def licences(self) -> list[dict[str, Any]]:
        return self.sim.state.records("SoftwareLicence")

    def invoice(self, invoice_id: int) -> dict[str, Any]:
        record = self.sim.state.record("RecurringInvoice", invoice_id)
        assert record is not None
        return record

    def writes(self) -> list[Any]:
        return [e for e in self.sim.state.request_log if e.method == "POST" and "/api/" in e.path]

    def api_requests(self) -> list[Any]:
        return [e for e in self.sim.state.request_log if e.path.lower().startswith("/api/")]


def make_world(
    tmp_path: Path,
    *,
    target: str = "licence",
    document: dict[str, Any] | None = None,
    database_url: str | None = None,
    **config: Any,
) -> World:
    """A fresh workspace connected to a freshly seeded simulator."""
    settings = Settings(
        data_dir=data_folder(tmp_path),
        database_url=database_url or f"sqlite:///{tmp_path / 'halosync.db'}",
        allow_private_networks=True,
    )
    database = migrated(Database.from_settings(settings))
    box = SecretBox.from_settings(settings)
    sim = create_app(
        SimulatorConfig(applications=[ApiApplication(CLIENT_ID, CLIENT_SECRET, ("all",))], **config)
    )
    sim.state.seed(document if document is not None else seed())
    with database.session() as session:
        workspace = WorkspaceRepository(session).create("acme")
        workspace.target = target
        HaloConnectionRepository(session, workspace.id, box).save(
            ConnectionDetails(SERVER, None, None, CLIENT_ID, CLIENT_SECRET)
        )
        workspace_id = workspace.id
    return World(database, box, settings, sim, workspace_id)


WorldFactory = Callable[..., World]
