"""The production recipe of docs/deploy.md, run for real on this machine.

PostgreSQL (a throwaway schema), Redis (a unique queue name), ``halosync db upgrade``,
then one ``halosync serve --no-jobs`` web process, two ``halosync worker --no-schedule``
processes and one ``halosync scheduler``: each a real process on real ports, started with
the command line of its unit in ``deploy/systemd`` and the settings of
``deploy/halosync.env.example`` (addresses and keys of this machine filled in); HaloPSA is
the simulator on a real port.
A usage sync is driven through the REST API to the simulator, then a scheduled one
(the scheduler enqueues, a worker executes). Every process is stopped with SIGTERM and
must exit cleanly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest

from halosync.simulator import ApiApplication, Simulator, SimulatorConfig, create_app
from halosync.simulator.server import serve_in_thread
from halosync.store.crypto import generate_key
from halosync.store.database import Database
from halosync.store.tokens import ApiTokenRepository
from halosync.store.workspaces import WorkspaceRepository
from tests.cli_inprocess import data_folder
from tests.conftest import free_port
from tests.deploy.units import HALOSYNC, env_example, exec_start, with_option
from tests.sync.world import CLIENT_ID, CLIENT_SECRET, seed, usage_document

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

# The scheduler's clock runs two hours ahead, so a slot saved for "in an hour" is due
# for it at once (and for nobody else: the workers do not tick).
SCHEDULER_CLOCK_AHEAD = 7200


@pytest.fixture
def halo() -> Iterator[tuple[Simulator, str]]:
    app = create_app(
        SimulatorConfig(applications=[ApiApplication(CLIENT_ID, CLIENT_SECRET, ("all",))])
    )
    app.state.seed(seed(3))
    with serve_in_thread(app) as url:
        yield app, url


@dataclass
class Topology:
    """The processes of one installation; stops them all, whatever happened."""

    env: dict[str, str]
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{' '.join(argv)}: {done.stdout}{done.stderr}"
        return done

    def start(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            argv,
            env={**self.env, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def alive(self) -> None:
        dead = {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}
        assert not dead, f"exited early: {dead}\n{self.tail()}"

    def tail(self) -> str:
        return "\n".join(
            f"--- {name}\n{(self.logs / f'{name}.log').read_text(errors='replace')[-3000:]}"
            for name in self.processes
        )

    def stop(self) -> dict[str, int]:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes: dict[str, int] = {}
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                codes[name] = process.wait()
        return codes


def _workspace_with_token(database_url: str) -> str:
    """Workspace acme and an admin API token (`halosync workspace create`, `token create`)."""
    database = Database(database_url, auto_migrate=False)
    try:
        with database.session() as session:
            workspace = WorkspaceRepository(session).create("acme")
            issued = ApiTokenRepository(session, workspace.id).create("ops", "admin")
        return issued.token
    finally:
        database.dispose()


def _wait(check: Callable[[], Any], timeout: float, what: str, topology: Topology) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        topology.alive()
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{topology.tail()}")


def test_web_two_workers_and_the_scheduler_sync_usage_to_halo(
    tmp_path: Path,
    pg_empty_schema_url: str,
    redis_url: str,
    queue_name: str,
    halo: tuple[Simulator, str],
) -> None:
    simulator, halo_url = halo
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALOSYNC_")}
    env.update(env_example(commented=False))
    env.update(
        {
            "HALOSYNC_DATABASE_URL": pg_empty_schema_url,
            "HALOSYNC_REDIS_URL": redis_url,
            "HALOSYNC_QUEUE_NAME": queue_name,
            "HALOSYNC_SECRET_KEYS": generate_key(),
            "HALOSYNC_DATA_DIR": str(data_folder(tmp_path)),
            # The simulator listens on loopback over plain http.
            "HALOSYNC_ALLOW_PRIVATE_NETWORKS": "true",
            "HALOSYNC_JOBS_TICK_SECONDS": "1",
        }
    )
    topology = Topology(env, tmp_path)
    web_port = free_port()
    base = f"http://127.0.0.1:{web_port}"
    try:
        # Upgrades: the schema first, then the code (processes refuse an old schema).
        migrated = topology.run(exec_start("halosync-migrate.service"))
        assert "Upgraded the database schema" in migrated.stdout
        web = exec_start("halosync-web.service")
        topology.start("web", with_option(web, "--port", str(web_port)))
        topology.start("worker-1", exec_start("halosync-worker@.service"))
        topology.start("worker-2", exec_start("halosync-worker@.service"))
        topology.start(
            "scheduler",
            exec_start("halosync-scheduler.service"),
            extra_env={"HALOSYNC_JOBS_CLOCK_OFFSET_SECONDS": str(SCHEDULER_CLOCK_AHEAD)},
        )
        http = httpx2.Client(base_url=base, timeout=10)

        def ready() -> bool:
            try:
                return http.get("/readyz").status_code == 200
            except httpx2.TransportError:
                return False

        _wait(ready, 60, "/readyz", topology)
        assert http.get("/healthz").json() == {"status": "ok"}

        http.headers["Authorization"] = f"Bearer {_workspace_with_token(pg_empty_schema_url)}"
        api = "/api/v1/workspaces/acme"
        # No automatic run before the test asks for one.
        for kind in ("customers", "usage"):
            off = http.put(
                f"{api}/schedules/{kind}", json={"schedule": "daily 08:00", "enabled": False}
            )
            assert off.status_code == 200, off.text
        connected = http.put(
            f"{api}/connection",
            json={"server_url": halo_url, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        )
        assert connected.status_code == 200, connected.text
        fed = http.post(
            f"{api}/usage",
            json=usage_document(
                [{"ref": "A1", "name": "Client 1 Ltd", "status": "active", "billed": True}],
                [{"account_ref": "A1", "service_ref": "MAIL", "quantity": 7}],
            ),
        )
        assert fed.status_code == 200, fed.text

        def finished(run_id: int) -> Callable[[], dict[str, Any] | None]:
            def check() -> dict[str, Any] | None:
                run: dict[str, Any] = http.get(f"{api}/runs/{run_id}").json()
                return run if run["status"] in ("succeeded", "failed") else None

            return check

        pulled = http.post(f"{api}/syncs/customers")
        assert pulled.status_code == 202, pulled.text
        run = _wait(finished(pulled.json()["run_id"]), 60, "the customers pull", topology)
        assert run["status"] == "succeeded", run
        assert http.put(f"{api}/mappings/accounts/A1", json={"halo_client_id": 1}).is_success
        assert http.put(f"{api}/mappings/services/MAIL", json={"halo_item_id": 1}).is_success

        pushed = http.post(f"{api}/syncs/usage")
        assert pushed.status_code == 202, pushed.text
        run = _wait(finished(pushed.json()["run_id"]), 60, "the usage push", topology)
        assert run["status"] == "succeeded", run
        assert run["counts"]["created"] == 1
        licences = simulator.state.records("SoftwareLicence")
        assert [(lic["client_id"], lic["count"]) for lic in licences] == [(1, 7)]

        # Schedules start at the setup's Finish; then the scheduler (and only it) enqueues
        # a due slot and a worker executes it.
        assert http.post(f"{api}/setup/finish").is_success
        soon = (datetime.now(UTC) + timedelta(hours=1)).strftime("%H:%M")
        scheduled = http.put(f"{api}/schedules/usage", json={"schedule": f"daily {soon}"})
        assert scheduled.status_code == 200, scheduled.text

        def scheduled_run() -> dict[str, Any] | None:
            runs = http.get(f"{api}/runs", params={"kind": "usage"}).json()["items"]
            done = [r for r in runs if r["trigger"] == "schedule" and r["finished_at"]]
            return done[0] if done else None

        run = _wait(scheduled_run, 60, "the scheduled usage push", topology)
        assert run["status"] == "succeeded", run
        assert run["counts"]["unchanged"] == 1
        assert len(simulator.state.records("SoftwareLicence")) == 1

        doctor = topology.run([HALOSYNC, "doctor"])
        assert doctor.stdout.strip().endswith("All checks passed."), doctor.stdout
        topology.alive()
        http.close()
    finally:
        codes = topology.stop()
    assert codes == dict.fromkeys(topology.processes, 0), topology.tail()
    # The workers never ticked: every log line about enqueuing a slot is the scheduler's.
    for name in ("worker-1", "worker-2"):
        assert "not ticking" in (tmp_path / f"{name}.log").read_text()
