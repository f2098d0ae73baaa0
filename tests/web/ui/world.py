"""A running halosync web app (TestClient) next to a simulated HaloPSA on a real port.

Workspace "Alpha" has sample vendor data imported; "Beta" is another tenant's. Users:
admin and viewer of Alpha, admin of Beta.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from fastapi import FastAPI
from starlette.testclient import TestClient

from halosync.demo.journey import demo_application
from halosync.demo.sample_data import sample_vendor_data
from halosync.jobs.embedded import EmbeddedJobs
from halosync.settings import Settings
from halosync.simulator import (
    ApiApplication,
    Simulator,
    SimulatorConfig,
    create_app,
    generate_demo_seed,
)
from halosync.simulator.server import serve_in_thread
from halosync.sources.importer import import_document
from halosync.store.database import Database
from halosync.store.models import SyncRun
from halosync.store.workspaces import WorkspaceRepository
from halosync.users import create_user
from halosync.web.app import create_app as create_web_app

PASSWORD = "correct horse battery staple"
ADMIN = "admin@alpha.test"
VIEWER = "viewer@alpha.test"
OTHER = "admin@beta.test"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class World:
    """Everything a UI test needs."""

    settings: Settings
    database: Database
    app: FastAPI
    halo_url: str
    application: ApiApplication
    seed: dict[str, Any]
    alpha: int
    beta: int
    simulator: Simulator


def _settings(folder: Path) -> Settings:
    return Settings(
        data_dir=folder,
        database_url=f"sqlite:///{folder / 'ui.db'}",
        allow_private_networks=True,
    )


def build_template(folder: Path, *, clients: int = 12) -> None:
    """Workspaces, users and imported vendor data in ``folder`` (copied by each test)."""
    settings = _settings(folder)
    database = Database(settings.resolved_database_url)
    database.migrate()
    seed = generate_demo_seed(clients=clients, seed=0)
    with database.session() as session:
        repository = WorkspaceRepository(session)
        alpha = repository.create("Alpha")
        beta = repository.create("Beta")
        create_user(session, email=ADMIN, name="Ada Admin", password=PASSWORD, workspace=alpha)
        create_user(
            session,
            email=VIEWER,
            name="Vic Viewer",
            password=PASSWORD,
            workspace=alpha,
            role="viewer",
        )
        create_user(session, email=OTHER, name="Bea Beta", password=PASSWORD, workspace=beta)
        alpha_id, beta_id = alpha.id, beta.id
    import_document(database, alpha_id, sample_vendor_data(seed))
    import_document(database, beta_id, sample_vendor_data(seed))
    # Closing the last connection checkpoints the WAL into the file the tests copy.
    database.dispose()


@contextmanager
def running_world(tmp_path: Path, template: Path, *, clients: int = 12) -> Iterator[World]:
    """Copy the template, start the simulator and the job consumer, build the app."""
    for item in template.iterdir():
        if item.is_file():
            shutil.copy2(item, tmp_path / item.name)
    settings = _settings(tmp_path)
    database = Database(settings.resolved_database_url)
    application = demo_application()
    seed = generate_demo_seed(clients=clients, seed=0)
    simulator = create_app(SimulatorConfig(applications=[application]))
    simulator.state.seed(seed)
    with database.session() as session:
        repository = WorkspaceRepository(session)
        alpha_id = repository.resolve("Alpha").id
        beta_id = repository.resolve("Beta").id
    app = create_web_app(settings, database=database)
    try:
        with (
            serve_in_thread(simulator) as halo_url,
            EmbeddedJobs(settings, database, tick=False, workers=1) as jobs,
        ):
            app.state.job_queue = jobs.queue
            yield World(
                settings, database, app, halo_url, application, seed, alpha_id, beta_id, simulator
            )
    finally:
        database.dispose()


def csrf_of(html: str) -> str:
    """The CSRF token a page embeds in its forms."""
    found = _CSRF.search(html)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


def log_in(client: httpx2.Client, email: str, password: str = PASSWORD) -> str:
    """Log in through the form (a TestClient, or a client of a real port); returns the
    session's CSRF token."""
    page = client.get("/ui/login")
    response = client.post(
        "/ui/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/ui", follow_redirects=True).text)


def connect_halo(client: TestClient, world: World, token: str, secret: str | None = None) -> str:
    """Save the simulator's connection through the setup form; the page it answers."""
    response = client.post(
        f"/ui/w/{world.alpha}/setup/connect",
        data={
            "csrf_token": token,
            "server_url": world.halo_url,
            "client_id": world.application.client_id,
            "client_secret": secret or world.application.client_secret,
            "target": "licence",
        },
    )
    return response.text


def connect_and_pull(client: TestClient, world: World, token: str) -> None:
    """Save the simulator's connection, then Sync Organizations and wait for it."""
    connect_halo(client, world, token)
    client.post(f"/ui/w/{world.alpha}/sync-organizations", data={"csrf_token": token})
    wait_idle(world)


def wait_idle(world: World, timeout: float = 20) -> None:
    """Wait until no sync of any workspace is queued or running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with world.database.session() as session:
            busy = session.query(SyncRun).filter(SyncRun.status.in_(("queued", "running"))).count()
        if not busy:
            return
        time.sleep(0.05)
    raise AssertionError("the sync did not finish")
