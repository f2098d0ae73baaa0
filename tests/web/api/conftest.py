"""An API under test: create_app on a SQLite file, HaloPSA as the in-process simulator.

Requests go through httpx2's ASGITransport; the app reaches the simulator through the
transport and client factory it is handed on ``app.state``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI

from halosync.halopsa.client import HaloApiClient
from halosync.halopsa.config import HaloConnectionConfig
from halosync.halopsa.retry import RetryPolicy
from halosync.jobs import open_job_queue
from halosync.settings import Settings
from halosync.simulator import ApiApplication, Simulator, SimulatorConfig
from halosync.simulator import create_app as create_simulator
from halosync.store.crypto import SecretBox
from halosync.store.database import Database
from halosync.store.tokens import ApiTokenRepository
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.customers import run_customers_sync
from halosync.sync.results import UsageReport
from halosync.sync.usage import run_usage_sync
from halosync.web.app import create_app
from tests.cli_inprocess import data_folder
from tests.schema_template import migrated

CLIENT_ID = "7d1f0c2a-3b4e-4f5a-8b6c-1d2e3f4a5b6c"
CLIENT_SECRET = "s3cr3t-9a8b7c6d-5e4f-3a2b-1c0d-e9f8a7b6c5d4-halo-api-secret"
SERVER = "http://halo.test"
READONLY_ID = "readonly-app"
READONLY_SECRET = "ro-secret-4f5a8b6c1d2e"
FAST_RETRY = RetryPolicy(attempts=2, timeout=5.0, wait_initial=0.001, wait_max=0.01)

USAGE: dict[str, Any] = {
    "accounts": [
        {"ref": "A1", "name": "Client 1 Ltd", "status": "active", "billed": True},
        {"ref": "A2", "name": "Client Two Inc", "status": "active", "billed": True},
        {"ref": "T3", "name": "Trial Three", "status": "trial", "billed": False},
    ],
    "services": [{"ref": "MAIL", "name": "Mail Protection"}, {"ref": "BKP", "name": "Backup"}],
    "subscriptions": [
        {
            "account_ref": "A1",
            "service_ref": "MAIL",
            "quantity": 10,
            "start_date": "2024-01-01",
            "billing_cycle": "Monthly",
            "term": "Monthly",
        },
        {
            "account_ref": "A2",
            "service_ref": "MAIL",
            "quantity": 4,
            "start_date": "2024-01-01",
            "billing_cycle": "Monthly",
            "term": "Monthly",
        },
    ],
}


def halo_seed() -> dict[str, Any]:
    """Three clients with one recurring invoice each, three items."""
    return {
        "clients": [
            {"id": 1, "name": "Client 1 Ltd"},
            {"id": 2, "name": "Client Two"},
            {"id": 3, "name": "Unrelated Co"},
        ],
        "items": [
            {"id": 1, "name": "Mail Protection", "baseprice": 3.0, "costprice": 1.0},
            {"id": 2, "name": "Backup", "baseprice": 5.0, "costprice": 2.0},
            {"id": 3, "name": "Consulting", "baseprice": 100.0, "costprice": 0.0},
        ],
        "recurring_invoices": [
            {
                "id": -n,
                "client_id": n,
                "reference": f"Monthly {n}",
                "lines": [{"_itemid": 3, "qty_order": 1, "item_shortdescription": "Consulting"}],
            }
            for n in (1, 2, 3)
        ],
    }


class Api:
    """The app, the simulator and tokens of two workspaces: acme (admin, viewer) and other."""

    def __init__(self, tmp_path: Path, database_url: str | None = None) -> None:
        self.settings = Settings(
            data_dir=data_folder(tmp_path),
            database_url=database_url or f"sqlite:///{tmp_path / 'halosync.db'}",
            allow_private_networks=True,
            max_upload_mb=1,
        )
        self.database = migrated(Database.from_settings(self.settings))
        self.sim: Simulator = create_simulator(
            SimulatorConfig(
                applications=[
                    ApiApplication(CLIENT_ID, CLIENT_SECRET, ("all",)),
                    ApiApplication(READONLY_ID, READONLY_SECRET, ("read:customers",)),
                ]
            )
        )
        self.sim.state.seed(halo_seed())
        self.app: FastAPI = create_app(self.settings, database=self.database)
        self.app.state.halo_transport = httpx2.ASGITransport(app=self.sim)
        self.app.state.halo_factory = self.halo_factory
        self.queue = open_job_queue(self.settings)
        self.app.state.job_queue = self.queue
        with self.database.session() as session:
            repo = WorkspaceRepository(session)
            self.acme = repo.create("acme").id
            self.other = repo.create("other").id
            self.admin = ApiTokenRepository(session, self.acme).create("ci").token
            self.viewer = ApiTokenRepository(session, self.acme).create("ro", "viewer").token
            self.other_admin = ApiTokenRepository(session, self.other).create("x").token

    def post_scope(self, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
        """The ASGI scope of an admin's POST to acme's ``path``, for tests that drive the app
        message by message (a body cut off, a streamed answer)."""
        url = f"/api/v1/workspaces/acme/{path}"
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": url,
            "raw_path": url.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"api.test"),
                (b"authorization", f"Bearer {self.admin}".encode()),
                *headers,
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("api.test", 80),
        }

    def halo_factory(self, config: HaloConnectionConfig) -> HaloApiClient:
        """A Halo client talking to the in-process simulator."""
        return HaloApiClient(
            config,
            transport=httpx2.ASGITransport(app=self.sim),
            retry=FAST_RETRY,
            allow_private_networks=True,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        workspace: str = "acme",
        **kwargs: Any,
    ) -> httpx2.Response:
        """One request to ``/api/v1/workspaces/<workspace>/<path>`` (absolute paths as is)."""
        url = path if path.startswith("/") else f"/api/v1/workspaces/{workspace}/{path}"
        headers = dict(kwargs.pop("headers", {}))
        if token != "":
            headers.setdefault("Authorization", f"Bearer {token or self.admin}")

        async def send() -> httpx2.Response:
            transport = httpx2.ASGITransport(app=self.app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://api.test") as c:
                response = await c.request(method, url, headers=headers, **kwargs)
                await response.aread()
                return response

        return asyncio.run(send())

    def get(self, path: str, **kwargs: Any) -> httpx2.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx2.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx2.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx2.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx2.Response:
        return self.request("DELETE", path, **kwargs)

    def connect(self, **overrides: Any) -> httpx2.Response:
        """Save the simulator's connection through the API."""
        body = {"server_url": SERVER, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        return self.put("connection", json=body | overrides)

    def import_usage(self) -> None:
        response = self.post("usage", json=USAGE)
        assert response.status_code == 200, response.text

    def sync_usage(self) -> UsageReport:
        """A usage sync inline (the queued route is tested on its own); it must succeed."""
        report = asyncio.run(run_usage_sync(*self._sync_args(), halo_factory=self.halo_factory))
        assert report.status == "succeeded", report.error
        return report

    def pull_customers(self) -> None:
        """Sync Organizations inline (the queued route is tested on its own)."""
        report = asyncio.run(run_customers_sync(*self._sync_args(), halo_factory=self.halo_factory))
        assert report.status == "succeeded", report.error

    def _sync_args(self) -> tuple[Database, SecretBox, Settings, int]:
        return self.database, SecretBox.from_settings(self.settings), self.settings, self.acme


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_database_api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    """An Api on SQLite, and again on the real PostgreSQL (a throwaway schema)."""
    url = request.getfixturevalue("pg_schema_url") if request.param == "postgresql" else None
    world = Api(tmp_path, database_url=url)
    yield world
    world.queue.close()
    world.database.dispose()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    world = Api(tmp_path)
    yield world
    world.queue.close()
    world.database.dispose()


@pytest.fixture
def ready(api: Api) -> Api:
    """Connected, usage imported, Halo clients and items pulled."""
    assert api.connect().status_code == 200
    api.import_usage()
    api.pull_customers()
    return api
