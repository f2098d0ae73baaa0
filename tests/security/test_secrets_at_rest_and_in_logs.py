"""Client secrets and access tokens: encrypted at rest, never in any output of a full run.

A whole journey runs through the command line against a simulator on a real port, with
debug JSON logs and faults that put requests into error messages (500s, an HTML 500 from
the token endpoint, a revoked token). Then every byte the run left behind is searched
for the client secret and every access token Halo issued: stdout and stderr of every
command, the raw SQLite files (database and write-ahead log), every text column of every
table (``log_entry``, run results, audit...), and the CSV export.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, select, text

from halosync.settings import Settings
from halosync.simulator import ApiApplication, Simulator, SimulatorConfig
from halosync.simulator.server import serve_in_thread
from halosync.store.connections import ConnectionDetails, HaloConnectionRepository
from halosync.store.crypto import SecretBox
from halosync.store.database import Database
from halosync.store.models import HaloConnection
from halosync.store.workspaces import WorkspaceRepository
from tests.cli_inprocess import data_folder
from tests.e2e.cli import HALOSYNC, write_usage_csv
from tests.sync.world import CLIENT_ID, seed

SECRET = "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6-0a9b8c7d-6e5f-4a3b-2c1d-e0f9a8b7c6d5"


class _Recorder:
    """Keeps every access token and id token the simulator issues."""

    def __init__(self, sim: Simulator) -> None:
        self.tokens: list[str] = []
        issue = sim.state.tokens.issue

        def recording(*args: Any, **kwargs: Any) -> Any:
            access, grant, id_token = issue(*args, **kwargs)
            self.tokens.extend([access, id_token])
            return access, grant, id_token

        sim.state.tokens.issue = recording  # type: ignore[method-assign]


def _leaks(blob: str, needles: list[str]) -> list[str]:
    found = []
    for needle in needles:
        # Whole tokens, and enough of one that a reader could use or recognise it.
        for piece in {needle, needle[:24], needle[-24:]}:
            if piece in blob:
                found.append(piece[:12] + "...")
    return found


def _journey(tmp_path: Path, sim: Simulator, url: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALOSYNC_")}
    env |= {
        "HOME": str(tmp_path / "home"),
        "HALOSYNC_DATA_DIR": str(data_folder(tmp_path)),
        "HALOSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'halosync.db'}",
        "HALOSYNC_ALLOW_PRIVATE_NETWORKS": "true",
        "HALOSYNC_LOG_LEVEL": "debug",
        "HALOSYNC_LOG_FORMAT": "json",
        "HALOSYNC_SYNC_BATCH_SIZE": "2",
    }
    outputs: list[str] = []

    def halosync(*args: str, ok: bool = True, **extra: str) -> str:
        done = subprocess.run(
            [*HALOSYNC, *args], env=env | extra, capture_output=True, text=True, timeout=120
        )
        # What halosync printed, and nothing of the command line the test itself typed.
        outputs.append(f"$ halosync {' '.join(args[:2])}\n{done.stdout}\n{done.stderr}")
        if ok:
            assert done.returncode == 0, outputs[-1]
        return done.stdout

    usage = write_usage_csv(
        tmp_path / "usage.csv",
        [
            {
                "account_ref": f"A{n}",
                "account_name": f"Client {n} Ltd",
                "service_ref": "MAIL",
                "service_name": "Mail Protection",
                "quantity": n,
                "cost_price": "2.50",
                "customer_price": "4.00",
            }
            for n in range(1, 3)
        ],
    )
    halosync("workspace", "create", "acme")
    # A wrong secret first: the refusal must not echo what was typed.
    halosync(
        "connection",
        "set",
        "--server",
        url,
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        SECRET[::-1],
        ok=False,
    )
    halosync(
        "connection", "set", "--server", url, "--client-id", CLIENT_ID, "--client-secret", SECRET
    )
    halosync("connection", "show", "--json")
    sim.state.faults.inject("html_error", "POST", "/auth/token", times=1)
    halosync("connection", "test", ok=False)
    halosync("connection", "test")
    halosync("import", str(usage))
    halosync("sync", "customers")
    for n in range(1, 3):
        halosync("map", "account", f"A{n}", str(n))
    halosync("map", "service", "MAIL", "1")
    halosync("settings", "set", "--prices", "totals", "--yes")
    sim.state.faults.inject("error", "POST", "/api/softwarelicence", times=2)
    sim.state.faults.inject("drop", "GET", "/api/softwarelicence*", times=1)
    halosync("sync", "usage", "--json", ok=False)
    sim.state.revoke_tokens()
    halosync("sync", "usage")
    halosync("reconcile", "--json", "--csv", str(tmp_path / "report.csv"))
    halosync("logs", "--json")
    return outputs


def test_a_full_run_never_shows_or_stores_a_secret_in_clear(tmp_path: Path) -> None:
    sim = Simulator(SimulatorConfig(applications=[ApiApplication(CLIENT_ID, SECRET, ("all",))]))
    sim.state.seed(seed(2))
    recorder = _Recorder(sim)
    with serve_in_thread(sim) as url:
        outputs = _journey(tmp_path, sim, url)
    assert len(recorder.tokens) >= 4, "the journey should have fetched several tokens"
    needles = [SECRET, SECRET[::-1], *recorder.tokens]

    shown = "\n".join(outputs)
    assert "********" in shown, "the secret should be shown masked"
    assert not _leaks(shown, needles), "a secret or token reached the CLI output"

    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "secret.key"]
    for path in files:
        raw = path.read_bytes().decode("latin-1")
        assert not _leaks(raw, needles), f"a secret or token is stored in clear in {path}"

    engine = create_engine(f"sqlite:///{tmp_path / 'halosync.db'}")
    try:
        cells = _every_text_cell(engine)
    finally:
        engine.dispose()
    assert any("Subscriptions sync completed" in cell for cell in cells)
    assert not _leaks("\n".join(cells), needles), "a secret or token is in a table"

    database = Database(f"sqlite:///{tmp_path / 'halosync.db'}")
    try:
        with database.session() as session:
            stored = session.scalars(select(HaloConnection)).one()
            assert stored.client_secret_encrypted.startswith("gAAAAA")  # a Fernet token
    finally:
        database.dispose()


def _every_text_cell(engine: Any) -> list[str]:
    cells: list[str] = []
    with engine.connect() as connection:
        for table in inspect(engine).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                cells.extend(str(value) for value in row if value is not None)
    return cells


@pytest.mark.postgres
def test_secret_is_encrypted_at_rest_on_postgres(tmp_path: Path, pg_schema_url: str) -> None:
    settings = Settings(data_dir=data_folder(tmp_path), database_url=pg_schema_url)
    database = Database(pg_schema_url)
    database.migrate()
    box = SecretBox.from_settings(settings)
    with database.session() as session:
        workspace = WorkspaceRepository(session).create("acme")
        HaloConnectionRepository(session, workspace.id, box).save(
            ConnectionDetails("https://acme.halopsa.com", None, None, CLIENT_ID, SECRET)
        )
        workspace_id = workspace.id
    engine = create_engine(pg_schema_url)
    try:
        cells = _every_text_cell(engine)
    finally:
        engine.dispose()
    assert not _leaks("\n".join(cells), [SECRET])
    with database.session() as session:
        details = HaloConnectionRepository(session, workspace_id, box).details()
        assert details is not None
        assert details.client_secret == SECRET, "the stored secret must still decrypt"
    database.dispose()
    assert json.dumps(cells).count("gAAAAA") >= 1, "expected a Fernet token at rest"
