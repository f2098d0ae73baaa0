"""Database size after repeat usage syncs, with and without pruning past the log retention.

    uv run python bench/db_growth.py [--pairs 1000] [--runs 50] [--retention 3650,30,7]
                                     [--database-url URL]

For each retention (days; 3650 stands for "never pruned" within the benchmark), a fresh
workspace gets ``--pairs`` account × service pairs, mapped and pushed once to an
in-process HaloPSA simulator, then ``--runs`` repeat usage syncs that change nothing.
Runs are made a day apart: before each one, every run, result and log entry so far is
moved a day into the past, as a daily schedule would leave them. Every repeat run still
records one result per pair (about 250 bytes each), so without pruning the database grows
by the same amount every run; with a retention of N days it stops growing after N runs.

Printed after every 10 runs: run rows, result rows, and the database size: for SQLite the
bytes in use (pages minus free pages; the file keeps freed pages for reuse) and the
file's size; for PostgreSQL the total size of the schema's tables and indexes (moving
rows into the past leaves dead row versions, so the benchmark vacuums the moved tables
after each move; halosync itself relies on autovacuum).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.sync.world import World, make_world  # noqa: E402

from halosync.logging import configure_logging  # noqa: E402
from halosync.mapping.service import map_account, map_service  # noqa: E402
from halosync.store.database import Database  # noqa: E402
from halosync.store.models import RunResult, SyncRun  # noqa: E402

SERVICES = 2
_SHIFTED = {
    "sync_run": ("created_at", "enqueued_at", "started_at", "finished_at", "heartbeat_at"),
    "run_result": ("at",),
    "log_entry": ("created_at",),
}


def _usage(accounts: int) -> dict[str, Any]:
    return {
        "accounts": [
            {"ref": f"A{n:06d}", "name": f"Client {n}", "status": "active", "billed": True}
            for n in range(1, accounts + 1)
        ],
        "services": [{"ref": f"S{s}", "name": f"Service {s}"} for s in range(1, SERVICES + 1)],
        "subscriptions": [
            {
                "account_ref": f"A{n:06d}",
                "service_ref": f"S{s}",
                "quantity": (n * s) % 50 + 1,
                "start_date": "2024-01-01",
                "billing_cycle": "Monthly",
                "term": "Monthly",
            }
            for n in range(1, accounts + 1)
            for s in range(1, SERVICES + 1)
        ],
    }


def _seed(clients: int) -> dict[str, Any]:
    return {
        "clients": [{"id": n, "name": f"Client {n}"} for n in range(1, clients + 1)],
        "items": [{"id": s, "name": f"Service {s}"} for s in range(1, SERVICES + 1)],
    }


def _a_day_earlier(database: Database) -> None:
    with database.session() as session:
        for table, columns in _SHIFTED.items():
            if database.dialect == "sqlite":
                moved = ", ".join(f"{c} = datetime({c}, '-1 day')" for c in columns)
            else:
                moved = ", ".join(f"{c} = {c} - interval '1 day'" for c in columns)
            session.execute(text(f"UPDATE {table} SET {moved}"))  # noqa: S608 (constants)
    if database.dialect == "postgresql":
        # Moving every row leaves a dead copy of each (MVCC), which is the benchmark's doing,
        # not halosync's: vacuum them away so the size is that of what is kept.
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql(f"VACUUM {', '.join(_SHIFTED)}")


def _size(database: Database) -> str:
    with database.session() as session:
        if database.dialect == "sqlite":
            page = session.scalar(text("PRAGMA page_size")) or 0
            pages = session.scalar(text("PRAGMA page_count")) or 0
            free = session.scalar(text("PRAGMA freelist_count")) or 0
            used = (pages - free) * page / 2**20
            return f"{used:7.1f} MiB in use, file {pages * page / 2**20:7.1f} MiB"
        total = session.scalar(
            text(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind = 'r'"
            )
        )
        return f"{int(total or 0) / 2**20:7.1f} MiB (tables and indexes)"


def _rows(database: Database) -> tuple[int, int]:
    with database.session() as session:
        runs = session.scalar(select(func.count()).select_from(SyncRun)) or 0
        results = session.scalar(select(func.count()).select_from(RunResult)) or 0
    return runs, results


def _world(root: Path, accounts: int, url: str | None) -> World:
    # Neither Halo's rate limit nor halosync's pacing is what is measured here.
    os.environ["HALOSYNC_HALO_RATE_LIMIT"] = str(10**9)
    world = make_world(root, document=_seed(accounts), database_url=url, rate_limit=10**9)
    world.import_usage(_usage(accounts))
    asyncio.run(world.customers())
    with world.database.session() as session:
        for n in range(1, accounts + 1):
            map_account(session, world.workspace_id, f"A{n:06d}", n)
        for s in range(1, SERVICES + 1):
            map_service(session, world.workspace_id, f"S{s}", s)
    first = asyncio.run(world.usage())
    assert first.status == "succeeded", first.error
    return world


def _scenario(root: Path, pairs: int, runs: int, retention: int, url: str | None) -> None:
    world = _world(root, pairs // SERVICES, url)
    world.set(log_retention_days=retention)
    print(f"retention {retention} days, {pairs} pairs", flush=True)
    for number in range(1, runs + 1):
        _a_day_earlier(world.database)
        report = asyncio.run(world.usage())
        assert report.status == "succeeded", report.error
        assert report.counts["unchanged"] == pairs, report.counts
        if number % 10 == 0:
            if world.database.dialect == "sqlite":
                raw = world.database.engine.raw_connection()
                try:
                    raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
                finally:
                    raw.close()
            run_rows, result_rows = _rows(world.database)
            print(
                f"  after {number:3} runs: {run_rows:4} runs, {result_rows:7} results, "
                f"{_size(world.database)}",
                flush=True,
            )
    world.database.dispose()


def _schema(url: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    parsed = make_url(url)
    scoped = parsed.set(query={**parsed.query, "options": f"-csearch_path={schema}"})
    return scoped.render_as_string(hide_password=False), schema


def _drop(url: str, schema: str) -> None:
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--retention", default="3650,30,7")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    configure_logging(level="warning")
    for retention in (int(days) for days in args.retention.split(",")):
        with tempfile.TemporaryDirectory() as directory:
            url, schema = None, None
            if args.database_url:
                url, schema = _schema(args.database_url)
            try:
                _scenario(Path(directory), args.pairs, args.runs, retention, url)
            finally:
                if schema is not None:
                    _drop(args.database_url, schema)


if __name__ == "__main__":
    main()
