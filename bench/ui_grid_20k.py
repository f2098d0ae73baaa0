"""Account mapping grid at 20,000 accounts: time of each page the UI serves.

    uv run python bench/ui_grid_20k.py [--accounts N] [--repeat R]

Builds a SQLite workspace with N accounts, N Halo clients and three quarters of the
accounts mapped, logs in through the web UI (TestClient) and times the grid requests a
user makes: first page, a later page, search, status filter, sort, and the client picker.
Prints the median and the worst of R requests each, in milliseconds.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from starlette.testclient import TestClient

from halosync.settings import Settings
from halosync.store.database import Database
from halosync.store.models import Account, AccountMapping, HaloClient
from halosync.store.workspaces import WorkspaceRepository
from halosync.users import create_user
from halosync.web.app import create_app

PASSWORD = "benchmark password"


def build(database: Database, accounts: int) -> int:
    """A workspace with ``accounts`` accounts, as many Halo clients, 3/4 mapped."""
    database.migrate()
    with database.session() as session:
        workspace = WorkspaceRepository(session).create("Bench")
        create_user(
            session, email="bench@example.com", name="Bench", password=PASSWORD, workspace=workspace
        )
        workspace_id = workspace.id
    with database.session() as session:
        session.bulk_insert_mappings(
            Account,
            [
                {
                    "workspace_id": workspace_id,
                    "ref": f"ACC-{n:06d}",
                    "name": f"Customer {n:06d} Holdings Ltd",
                    "status": "active" if n % 7 else "trial",
                    "billed": n % 7 != 0,
                }
                for n in range(accounts)
            ],
        )
        session.bulk_insert_mappings(
            HaloClient,
            [
                {
                    "workspace_id": workspace_id,
                    "halo_id": 1000 + n,
                    "name": f"Customer {n:06d} Holdings Limited",
                    "inactive": False,
                    "gone": False,
                }
                for n in range(accounts)
            ],
        )
    with database.session() as session:
        ids = dict(session.query(Account.ref, Account.id).filter_by(workspace_id=workspace_id))
        session.bulk_insert_mappings(
            AccountMapping,
            [
                {
                    "workspace_id": workspace_id,
                    "account_id": ids[f"ACC-{n:06d}"],
                    "halo_client_id": 1000 + n,
                }
                for n in range(accounts)
                if n % 4
            ],
        )
    return workspace_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(data_dir=Path(folder), database_url=f"sqlite:///{folder}/bench.db")
        database = Database(settings.resolved_database_url)
        started = time.perf_counter()
        workspace_id = build(database, options.accounts)
        print(f"built {options.accounts} accounts in {time.perf_counter() - started:.1f} s")
        client = TestClient(create_app(settings, database=database))
        page = client.get("/ui/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        client.post(
            "/ui/login",
            data={"email": "bench@example.com", "password": PASSWORD, "csrf_token": token[1]},
        )
        base = f"/ui/w/{workspace_id}"
        grid = {"HX-Request": "true", "HX-Target": "grid"}
        cases = {
            "full page, first 20": (f"{base}/accounts", {}, {}),
            "grid, page 500": (f"{base}/accounts", {"page": "500"}, grid),
            "grid, search name": (f"{base}/accounts", {"q": "012345"}, grid),
            "grid, search client id": (f"{base}/accounts", {"q": "13345"}, grid),
            "grid, status unmapped": (f"{base}/accounts", {"status": "unmapped"}, grid),
            "grid, sort client name desc": (
                f"{base}/accounts",
                {"sort": "halo_client_name", "desc": "1"},
                grid,
            ),
            "grid, sort status, last page": (
                f"{base}/accounts",
                {"sort": "status", "page": "1000"},
                grid,
            ),
            "picker, unmapped clients 'holdings'": (f"{base}/halo-clients", {"q": "holdings"}, {}),
        }
        print(f"{'request':<38} {'median ms':>10} {'worst ms':>10}")
        for label, (url, params, headers) in cases.items():
            times = []
            for _ in range(options.repeat):
                began = time.perf_counter()
                response = client.get(url, params=params, headers=headers)
                times.append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200, (label, response.status_code)
            print(f"{label:<38} {statistics.median(times):>10.1f} {max(times):>10.1f}")
        database.dispose()


if __name__ == "__main__":
    main()
