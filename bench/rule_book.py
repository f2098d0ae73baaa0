"""The rule book a usage sync loads: CPU time at 10k and 100k stored rule versions.

    uv run python bench/rule_book.py [--versions 10000,100000] [--repeat 5]
                                     [--database-url postgresql+psycopg://...]

Each size gets a fresh workspace with one account per two versions and one service: every
account × service has an old version (valid from 60 days ago) and a newer one (from
yesterday), so half the rows are history the look-up must pass over. Prints, per size,
min / median of the CPU time (process time, so the neighbours' load does not count) and
the wall time of ``rule_book(session, workspace, today)``, and the growth ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from halosync.rules.service import rule_book, today
from halosync.store.database import Database
from halosync.store.models import Account, QuantityRuleRow, Service
from halosync.workspaces import create_workspace


def _fill(database: Database, versions: int) -> int:
    ws = create_workspace(database, f"bench-{versions}-{time.time_ns()}").id
    pairs = versions // 2
    now = datetime.now(UTC)
    with database.session() as session:
        session.execute(
            insert(Account),
            [
                {"workspace_id": ws, "ref": f"A{n}", "name": f"Account {n}", "status": "active",
                 "billed": True, "created_at": now, "updated_at": now}
                for n in range(pairs)
            ],
        )  # fmt: skip
        session.execute(insert(Service), [{"workspace_id": ws, "ref": "MAIL", "name": "Mail"}])
        service_id = session.scalar(select(Service.id).where(Service.workspace_id == ws))
        account_ids = list(session.scalars(select(Account.id).where(Account.workspace_id == ws)))
        rows = [
            {"workspace_id": ws, "scope": "account_service", "account_id": account_id,
             "service_id": service_id, "valid_from": today() - timedelta(days=days),
             "minimum": minimum, "created_at": now, "created_by": "bench"}
            for account_id in account_ids
            for days, minimum in ((60, 1), (1, 2))
        ]  # fmt: skip
        for start in range(0, len(rows), 5000):
            session.execute(insert(QuantityRuleRow), rows[start : start + 5000])
    return ws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", default="10000,100000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        database = Database(url)
        database.migrate()
        cpu_medians: list[float] = []
        for versions in (int(v) for v in args.versions.split(",")):
            ws = _fill(database, versions)
            cpu: list[float] = []
            wall: list[float] = []
            for _ in range(args.repeat):
                started, started_cpu = time.perf_counter(), time.process_time()
                with database.session() as session:
                    book = rule_book(session, ws, today())
                cpu.append(time.process_time() - started_cpu)
                wall.append(time.perf_counter() - started)
            assert len(book.pairs) == versions // 2
            assert all(rule.minimum == 2 for rule in book.pairs.values())
            cpu_medians.append(statistics.median(cpu))
            print(
                f"{versions:>7,} versions: CPU min {min(cpu):.3f} s, median "
                f"{statistics.median(cpu):.3f} s; wall median {statistics.median(wall):.3f} s"
            )
        if len(cpu_medians) == 2:
            print(f"growth (CPU median): {cpu_medians[1] / cpu_medians[0]:.1f}x")
        database.dispose()


if __name__ == "__main__":
    main()
