"""Account mapping grid at N accounts: time of each page the UI serves, through HTTP.

    uv run python bench/ui_grid_20k.py [--accounts N] [--repeat R] [--target licence|invoice_line]
                                       [--database-url URL] [--exclude-every N]

Builds a workspace with N accounts (names in another order than references, one in seven
on trial, one in ``--exclude-every`` (50) excluded from billing by a quantity rule), N Halo
clients (one in eleven inactive, one in thirteen gone, every other one
with a recurring invoice) and three quarters of the accounts mapped (one in a hundred of
those to a client halosync never pulled: Response Error), logs in through the web UI
(TestClient, in process) and times the grid requests a user makes: the first, a middle
and the last page of every sort in both directions, every filter, searches (by name,
reference, client name, client id, one that matches nothing and one that matches every
row) and the client picker. Prints min / median / max of R requests each, in
milliseconds, with the median CPU time of the process (the app runs in it: on a shared
machine wall time waits for other processes, CPU time does not), the slowest median and
how many medians are under 150 ms. SQLite in a temporary folder unless
``--database-url`` names an empty PostgreSQL database or schema.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from halosync.mapping.grid import SORT_KEYS
from halosync.settings import Settings
from halosync.store.account_grid import refresh_mapping_columns
from halosync.store.database import Database
from halosync.store.models import (
    Account,
    AccountMapping,
    HaloClient,
    HaloRecurringInvoice,
    QuantityRuleRow,
)
from halosync.store.workspaces import WorkspaceRepository
from halosync.users import create_user
from halosync.web.app import create_app

PASSWORD = "benchmark password"
GRID_TABLES = (
    "account",
    "account_mapping",
    "halo_client",
    "halo_recurring_invoice",
    "quantity_rule",
)
"""What a grid request reads: vacuumed and analysed on PostgreSQL after building."""


def build(
    database: Database, accounts: int, target: str = "licence", exclude_every: int = 50
) -> int:
    """A workspace with ``accounts`` accounts, as many Halo clients, 3/4 mapped, one in
    ``exclude_every`` excluded from billing (0: none)."""
    database.migrate()
    with database.session() as session:
        workspace = WorkspaceRepository(session).create("Bench")
        workspace.target = target
        create_user(
            session, email="bench@example.com", name="Bench", password=PASSWORD, workspace=workspace
        )
        workspace_id = workspace.id
    scramble = 7919  # a prime: names in another order than references
    with _timed(database, f"inserted {accounts} accounts") as session:
        session.execute(
            insert(Account),
            [
                {
                    "workspace_id": workspace_id,
                    "ref": f"ACC-{n:06d}",
                    "name": f"Customer {(n * scramble) % accounts:06d} Holdings Ltd",
                    "status": "active" if n % 7 else "trial",
                    "billed": n % 7 != 0,
                }
                for n in range(accounts)
            ],
        )
        session.execute(
            insert(HaloClient),
            [
                {
                    "workspace_id": workspace_id,
                    "halo_id": 1000 + n,
                    "name": f"Customer {(n * scramble) % accounts:06d} Holdings Limited",
                    "inactive": n % 11 == 0,
                    "gone": n % 13 == 0,
                }
                for n in range(accounts)
            ],
        )
        session.execute(
            insert(HaloRecurringInvoice),
            [
                {
                    "workspace_id": workspace_id,
                    "halo_id": 500_000 + n,
                    "halo_client_id": 1000 + n,
                    "name": f"Monthly {n}",
                }
                for n in range(0, accounts, 2)
            ],
        )
    with database.session() as session:
        ids = dict(session.execute(select(Account.ref, Account.id)).all())
        session.execute(
            insert(AccountMapping),
            [
                {
                    "workspace_id": workspace_id,
                    "account_id": ids[f"ACC-{n:06d}"],
                    # one in a hundred mapped to a client halosync never pulled
                    "halo_client_id": 1000 + n if n % 100 != 1 else 9_000_000 + n,
                    "recurring_invoice_id": 500_000 + n if n % 2 == 0 else None,
                }
                for n in range(accounts)
                if n % 4
            ],
        )
    if exclude_every:
        with database.session() as session:
            session.execute(
                insert(QuantityRuleRow),
                [
                    {
                        "workspace_id": workspace_id,
                        "scope": "account",
                        "account_id": ids[f"ACC-{n:06d}"],
                        "valid_from": date(2026, 1, 1),
                        "excluded": "internal",
                        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
                        "created_by": "bench",
                    }
                    for n in range(0, accounts, exclude_every)
                ],
            )
    # Written around the mapping commands: the accounts' mapping columns follow, as after a
    # Sync Organizations (which refreshes every account of the workspace).
    with _timed(database, "refreshed the mapping columns") as session:
        print(f"{refresh_mapping_columns(session, workspace_id)} accounts changed")
    with _timed(database, "refreshed them again (no change)") as session:
        refresh_mapping_columns(session, workspace_id)
    return workspace_id


@contextmanager
def _timed(database: Database, label: str) -> Iterator[Session]:
    """A session whose block's wall and CPU time (its commit included) are printed, with on
    a local PostgreSQL the CPU time of the server process that ran it (from /proc)."""
    began, began_cpu = time.perf_counter(), time.process_time()
    with database.session() as session:
        pid = _backend_pid(session)
        server = _process_cpu(pid)
        yield session
    spent = _process_cpu(pid)  # the backend outlives the session, in the pool
    on_server = "" if server is None or spent is None else f", {spent - server:.2f} s on the server"
    print(
        f"{label} in {time.perf_counter() - began:.2f} s"
        f" ({time.process_time() - began_cpu:.2f} s CPU here{on_server})"
    )


def _backend_pid(session: Session) -> int | None:
    if session.get_bind().dialect.name != "postgresql":
        return None
    pid: int = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    return pid


def _process_cpu(pid: int | None) -> float | None:
    """CPU seconds of process ``pid`` so far (None: no pid, or not on this machine)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cases(accounts: int, base: str) -> dict[str, tuple[str, dict[str, str], dict[str, str]]]:
    """Every request to time: (url, query, headers) by label."""
    grid = {"HX-Request": "true", "HX-Target": "grid"}
    url = f"{base}/accounts"
    last = str(-(-accounts // 20))
    middle = str(-(-accounts // 40))
    found: dict[str, tuple[str, dict[str, str], dict[str, str]]] = {
        "full page, first 20": (url, {}, {}),
    }
    for sort in SORT_KEYS:
        for descending in (False, True):
            for where, page in (("first", "1"), ("middle", middle), ("last", last)):
                label = f"sort {sort}{' desc' if descending else ''}, {where} page"
                query = {"sort": sort, "page": page} | ({"desc": "1"} if descending else {})
                found[label] = (url, query, grid)
    for status in ("mapped", "unmapped", "required", "response_error"):
        found[f"status {status}"] = (url, {"status": status}, grid)
        found[f"status {status}, last page"] = (url, {"status": status, "page": last}, grid)
    found["billing excluded"] = (url, {"billing": "excluded"}, grid)
    found["billing excluded, last page"] = (url, {"billing": "excluded", "page": last}, grid)
    for status in ("active", "trial"):
        found[f"organization status {status}"] = (url, {"org_status": status}, grid)
    for status in ("active", "inactive", "gone"):
        found[f"PSA status {status}"] = (url, {"psa_status": status}, grid)
    number = f"{accounts // 2:06d}"
    searches = {
        "name": number,
        "reference": f"ACC-{number}",
        "client name": f"{number} holdings limited",
        "client id": str(1000 + accounts // 3),
        "nothing": "no such organization",
        "every row": "holdings",
    }
    for what, term in searches.items():
        found[f"search {what}"] = (url, {"q": term}, grid)
    found["search every row, sort status desc, last page"] = (
        url,
        {"q": "holdings", "sort": "status", "desc": "1", "page": last},
        grid,
    )
    found["unmapped, trial, sort client name"] = (
        url,
        {"status": "unmapped", "org_status": "trial", "sort": "halo_client_name"},
        grid,
    )
    found["picker, unmapped clients 'holdings'"] = (f"{base}/halo-clients", {"q": "holdings"}, {})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--target", choices=("licence", "invoice_line"), default="licence")
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--exclude-every", type=int, default=50, help="one account in N excluded (0: none)"
    )
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = options.database_url or f"sqlite:///{folder}/bench.db"
        settings = Settings(data_dir=Path(folder), database_url=url)
        database = Database(settings.resolved_database_url)
        started = time.perf_counter()
        workspace_id = build(database, options.accounts, options.target, options.exclude_every)
        if database.dialect == "postgresql":
            # What autovacuum would have done a minute later: without statistics PostgreSQL
            # plans for empty tables, and without the visibility map an index-only scan
            # reads every row it skips.
            autocommit = database.engine.execution_options(isolation_level="AUTOCOMMIT")
            with autocommit.connect() as connection:
                for table in GRID_TABLES:
                    connection.exec_driver_sql(f"VACUUM ANALYZE {table}")
        print(f"built {options.accounts} accounts in {time.perf_counter() - started:.1f} s")
        client = TestClient(create_app(settings, database=database))
        page = client.get("/ui/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        client.post(
            "/ui/login",
            data={"email": "bench@example.com", "password": PASSWORD, "csrf_token": token[1]},
        )
        print(f"{'request':<52} {'min ms':>8} {'median':>8} {'max ms':>8} {'CPU ms':>8}")
        medians: dict[str, float] = {}
        cpu_medians: dict[str, float] = {}
        for label, (path, params, headers) in cases(
            options.accounts, f"/ui/w/{workspace_id}"
        ).items():
            times = []
            cpu = []
            for _ in range(options.repeat):
                began, began_cpu = time.perf_counter(), time.process_time()
                response = client.get(path, params=params, headers=headers)
                times.append((time.perf_counter() - began) * 1000)
                cpu.append((time.process_time() - began_cpu) * 1000)
                assert response.status_code == 200, (label, response.status_code)
            medians[label] = statistics.median(times)
            cpu_medians[label] = statistics.median(cpu)
            print(
                f"{label:<52} {min(times):>8.1f} {medians[label]:>8.1f} {max(times):>8.1f}"
                f" {cpu_medians[label]:>8.1f}"
            )
        slowest = max(medians, key=lambda label: medians[label])
        print(f"slowest median: {medians[slowest]:.1f} ms ({slowest})")
        for name, values in (("wall", medians), ("CPU", cpu_medians)):
            fast = sum(value < 150 for value in values.values())
            mean = statistics.geometric_mean(values.values())
            print(
                f"{name}: {fast} / {len(values)} medians under 150 ms, geometric mean"
                f" {mean:.1f} ms, slowest {max(values.values()):.1f} ms"
            )
        database.dispose()


if __name__ == "__main__":
    main()
