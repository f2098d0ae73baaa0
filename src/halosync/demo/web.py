"""The demo as a newcomer meets it: the web UI, the job consumer and the simulator at once.

One process on SQLite: a seeded HaloPSA simulator, sample vendor data already imported, a
first admin, the embedded job consumer and schedules, and the web UI. The newcomer pastes
the simulator's URL, client ID and secret into the setup wizard and goes on from there.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

from halosync.demo.journey import DEMO_WORKSPACE, demo_application
from halosync.demo.sample_data import sample_vendor_data
from halosync.jobs.embedded import EmbeddedJobs
from halosync.logging import register_secret
from halosync.ops.listen import bind_port
from halosync.settings import Settings
from halosync.simulator import SimulatorConfig, create_app, generate_demo_seed
from halosync.simulator.server import serve_in_thread
from halosync.sources.importer import import_document
from halosync.store.database import Database
from halosync.store.users import UserRepository
from halosync.store.workspaces import WorkspaceRepository
from halosync.users import create_user, grant
from halosync.users.service import normalise_email
from halosync.web.app import create_app as create_web_app

DEMO_ADMIN_EMAIL = "admin@example.com"
DEMO_ADMIN_NAME = "Demo Admin"


@dataclass(frozen=True)
class DemoSite:
    """Where the running demo is and how to get in."""

    url: str
    admin_email: str
    admin_password: str
    halo_url: str
    client_id: str
    client_secret: str
    workspace_id: int
    database: Database
    settings: Settings


def prepare_demo_data(
    database: Database,
    *,
    halo_seed: dict[str, Any],
    target: str,
    admin_email: str,
    admin_password: str,
) -> int:
    """Create the demo workspace, import the sample vendor data and the first admin."""
    database.migrate()
    with database.session() as session:
        repository = WorkspaceRepository(session)
        workspace = repository.find(DEMO_WORKSPACE) or repository.create(DEMO_WORKSPACE)
        repository.set_target(workspace, target)
        workspace_id = workspace.id
    import_document(database, workspace_id, sample_vendor_data(halo_seed))
    with database.session() as session:
        workspace = WorkspaceRepository(session).get(workspace_id)
        exists = UserRepository(session).by_email(normalise_email(admin_email))
        if exists is None:
            create_user(
                session,
                email=admin_email,
                name=DEMO_ADMIN_NAME,
                password=admin_password,
                workspace=workspace,
                role="admin",
            )
        else:
            grant(session, admin_email, workspace, "admin")
    return workspace_id


@contextmanager
def serve_web_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a background thread; yield its base URL."""
    sock = bind_port(host, port, option="--web-port")
    bound = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        host=host,
        port=bound,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=run, name=f"halosync-web-{bound}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if failure or not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"the web UI did not start on {host}:{bound}: {failure}")
        time.sleep(0.01)
    display = f"[{host}]" if ":" in host else host
    try:
        yield f"http://{display}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def run_demo_site(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    halo_port: int = 0,
    web_port: int = 0,
    clients: int = 25,
    target: str = "licence",
    admin_password: str | None = None,
    tick: bool = True,
) -> Iterator[DemoSite]:
    """Start the simulator, the jobs and the web UI; stop them all when the block ends."""
    password = admin_password or secrets.token_urlsafe(12)
    register_secret(password, keep=True)
    application = demo_application()
    seed = generate_demo_seed(clients=clients, seed=0)
    simulator = create_app(SimulatorConfig(applications=[application]))
    simulator.state.seed(seed)
    database = Database(settings.resolved_database_url)
    try:
        workspace_id = prepare_demo_data(
            database,
            halo_seed=seed,
            target=target,
            admin_email=DEMO_ADMIN_EMAIL,
            admin_password=password,
        )
        app = create_web_app(settings, database=database)
        with (
            serve_in_thread(simulator, host=host, port=halo_port) as halo_url,
            EmbeddedJobs(settings, database, tick=tick) as jobs,
        ):
            app.state.job_queue = jobs.queue
            with serve_web_in_thread(app, host=host, port=web_port) as url:
                yield DemoSite(
                    url=url,
                    admin_email=DEMO_ADMIN_EMAIL,
                    admin_password=password,
                    halo_url=halo_url,
                    client_id=application.client_id,
                    client_secret=application.client_secret,
                    workspace_id=workspace_id,
                    database=database,
                    settings=settings,
                )
    finally:
        database.dispose()
