"""Jobs scaling: usage pushes of many workspaces executed by 1, 2 and 4 worker processes.

Distributed mode (Redis queue, PostgreSQL app database), each workspace pushing the
counts of its accounts (one licence per account, created on the first push) to one of
several simulator processes on real ports. For each worker count a fresh schema, fresh
queue and fresh simulators are used, every workspace's push is queued at once (as
``sync now`` / the API does), and the time from the first enqueue until the last run
finished gives runs per minute.

    uv run python bench/jobs_scaling.py [--workspaces 200] [--accounts 50]
        [--workers 1,2,4] [--simulators 4] [--postgres-url URL] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

from halosync.jobs import open_job_queue
from halosync.jobs.service import request_sync
from halosync.settings import Settings
from halosync.store.connections import ConnectionDetails, HaloConnectionRepository
from halosync.store.crypto import SecretBox
from halosync.store.database import Database
from halosync.store.models import (
    Account,
    AccountMapping,
    HaloClient,
    HaloItem,
    Service,
    ServiceMapping,
    Subscription,
    SyncRun,
    Workspace,
)

HALOSYNC = str(Path(sys.executable).parent / "halosync")
CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-secret-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_simulators(count: int, clients: int, workdir: Path) -> tuple[list[Any], list[str]]:
    seed = {
        "clients": [{"id": n, "name": f"Client {n}"} for n in range(1, clients + 1)],
        "items": [{"id": 1, "name": "Mail Protection", "baseprice": 3.0, "costprice": 1.0}],
    }
    seed_file = workdir / "seed.json"
    seed_file.write_text(json.dumps(seed))
    processes, urls = [], []
    for _ in range(count):
        port = free_port()
        processes.append(
            subprocess.Popen(
                [HALOSYNC, "simulator", "--host", "127.0.0.1", "--port", str(port),
                 "--app", f"{CLIENT_ID}:{CLIENT_SECRET}:all", "--rate-limit", "1000000",
                 "--seed", str(seed_file)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        urls.append(f"http://127.0.0.1:{port}")
    for url in urls:
        port = int(url.rsplit(":", 1)[1])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
    return processes, urls


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def prepare(settings: Settings, urls: list[str], workspaces: int, accounts: int) -> Database:
    """Workspaces with accounts mapped to their own Halo clients, one service, one item."""
    database = Database.from_settings(settings)
    database.migrate()
    box = SecretBox.from_settings(settings)
    per_sim = -(-workspaces // len(urls))
    for n in range(workspaces):
        url = urls[n % len(urls)]
        first_client = (n // len(urls)) * accounts + 1
        with database.session() as session:
            workspace = Workspace(name=f"bench-{n:04d}")
            session.add(workspace)
            session.flush()
            ws = workspace.id
            HaloConnectionRepository(session, ws, box).save(
                ConnectionDetails(url, None, None, CLIENT_ID, CLIENT_SECRET)
            )
            service = Service(workspace_id=ws, ref="MAIL", name="Mail Protection")
            session.add(service)
            session.add(HaloItem(workspace_id=ws, halo_id=1, name="Mail Protection"))
            session.flush()
            session.add(ServiceMapping(workspace_id=ws, service_id=service.id, halo_item_id=1))
            session.execute(
                insert(Account),
                [
                    {"workspace_id": ws, "ref": f"A{i}", "name": f"Account {i}",
                     "status": "active", "billed": True}
                    for i in range(accounts)
                ],
            )  # fmt: skip
            ids = session.scalars(
                select(Account.id).where(Account.workspace_id == ws).order_by(Account.id)
            ).all()
            session.execute(
                insert(HaloClient),
                [{"workspace_id": ws, "halo_id": first_client + i, "name": f"Client {i}"}
                 for i in range(accounts)],
            )  # fmt: skip
            session.execute(
                insert(AccountMapping),
                [{"workspace_id": ws, "account_id": aid, "halo_client_id": first_client + i}
                 for i, aid in enumerate(ids)],
            )  # fmt: skip
            session.execute(
                insert(Subscription),
                [{"workspace_id": ws, "account_id": aid, "service_id": service.id,
                  "quantity": 1 + i % 20, "start_date": date(2024, 1, 1),
                  "billing_cycle": "Monthly", "term": "Monthly"}
                 for i, aid in enumerate(ids)],
            )  # fmt: skip
    assert per_sim * accounts >= 1
    return database


def one_round(args: argparse.Namespace, workers: int, workdir: Path) -> dict[str, Any]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(args.postgres_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    parsed = make_url(args.postgres_url)
    url = parsed.set(query={**parsed.query, "options": f"-csearch_path={schema}"})
    queue_name = f"halosync-bench-{uuid.uuid4().hex[:8]}"
    per_sim_clients = -(-args.workspaces // args.simulators) * args.accounts
    sims, urls = start_simulators(args.simulators, per_sim_clients, workdir)
    (workdir / "data").mkdir(exist_ok=True)  # a named data directory must exist
    settings = Settings(
        data_dir=workdir / "data",
        database_url=url.render_as_string(hide_password=False),
        queue="redis",
        redis_url=args.redis_url,
        queue_name=queue_name,
        allow_private_networks=True,
        halo_rate_limit=1_000_000,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALOSYNC_")}
    env.update(
        {
            "HALOSYNC_DATA_DIR": str(settings.data_dir),
            "HALOSYNC_DATABASE_URL": settings.resolved_database_url,
            "HALOSYNC_QUEUE": "redis",
            "HALOSYNC_REDIS_URL": args.redis_url,
            "HALOSYNC_QUEUE_NAME": queue_name,
            "HALOSYNC_ALLOW_PRIVATE_NETWORKS": "true",
            "HALOSYNC_HALO_RATE_LIMIT": "1000000",
        }
    )
    procs: list[subprocess.Popen[bytes]] = []
    try:
        started = time.monotonic()
        database = prepare(settings, urls, args.workspaces, args.accounts)
        prepared = time.monotonic() - started
        procs = [
            subprocess.Popen(
                [HALOSYNC, "worker", "--workers", str(args.threads)],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]  # fmt: skip
        time.sleep(2)  # let the workers import and connect
        queue = open_job_queue(settings)
        with database.session() as session:
            workspace_ids = session.scalars(select(Workspace.id).order_by(Workspace.id)).all()
        began = time.monotonic()
        for ws in workspace_ids:
            request_sync(database, settings, queue, ws, kind="usage", trigger="api")
        queue.close()
        while True:
            with database.session() as session:
                active = session.scalar(
                    select(text("count(*)"))
                    .select_from(SyncRun)
                    .where(SyncRun.status.in_(("queued", "running")))
                )
            if not active:
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - began
        worker_cpu = sum(cpu_seconds(p.pid) for p in procs)
        simulator_cpu = sum(cpu_seconds(p.pid) for p in sims)
        with database.session() as session:
            statuses: dict[str, int] = {
                str(status): int(count)
                for status, count in session.execute(
                    text("SELECT status, count(*) FROM sync_run GROUP BY status")
                )
            }
            created = session.scalar(text("SELECT sum((counts->>'created')::int) FROM sync_run"))
        database.dispose()
        return {
            "workers": workers,
            "runs": len(workspace_ids),
            "seconds": round(elapsed, 1),
            "runs_per_minute": round(len(workspace_ids) / elapsed * 60, 1),
            "licences_created": int(created or 0),
            "statuses": statuses,
            "prepare_seconds": round(prepared, 1),
            "worker_cpu_seconds": round(worker_cpu, 1),
            "simulator_cpu_seconds": round(simulator_cpu, 1),
            "load_average": os.getloadavg()[0],
        }
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
        for sim in sims:
            sim.send_signal(signal.SIGTERM)
            sim.wait(timeout=30)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
        client = redis.Redis.from_url(args.redis_url)
        keys = list(client.scan_iter(match=f"*{queue_name}*"))
        if keys:
            client.delete(*keys)
        client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspaces", type=int, default=200)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--workers", default="1,2,4", help="Worker process counts to try.")
    parser.add_argument("--threads", type=int, default=1, help="Threads per worker process.")
    parser.add_argument("--simulators", type=int, default=4)
    parser.add_argument(
        "--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    results = []
    for workers in (int(w) for w in args.workers.split(",")):
        with tempfile.TemporaryDirectory() as workdir:
            result = one_round(args, workers, Path(workdir))
        print(json.dumps(result), flush=True)
        results.append(result)
    base = results[0]["runs_per_minute"]
    print(f"{'workers':>8} {'runs':>6} {'seconds':>8} {'runs/min':>9} {'speed-up':>9}")
    for r in results:
        speedup = r["runs_per_minute"] / base
        print(
            f"{r['workers']:>8} {r['runs']:>6} {r['seconds']:>8} "
            f"{r['runs_per_minute']:>9} {speedup:>8.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
