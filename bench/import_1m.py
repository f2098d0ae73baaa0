"""Import N subscriptions (1,000,000 by default) from CSV and JSON; time and peak memory.

    uv run python bench/import_1m.py [--rows 1000000] [--repeat 3] [--formats csv,json]
                                     [--database-url URL]

The file is generated as a stream (never held whole here): accounts of 20 services each
(1,000,000 rows: 50,000 accounts × 20 services). Each format is imported ``--repeat``
times into a fresh workspace (from empty: everything created) and the same number of
times again into the last one (everything unchanged). Each import runs in a fresh child
process: the time is the import alone (reading and validating every row, then the one
transaction; wall clock and this process's CPU, which a busy machine disturbs less; on a
PostgreSQL server of this machine also the CPU its backends spent for the import, read
from /proc), the memory that process's peak RSS (``VmHWM``), interpreter and libraries
included. Printed: min / median / max of each figure of each kind.

With a PostgreSQL ``--database-url`` the benchmark works in a throwaway schema of that
database (created and dropped here); without one, in a SQLite file in a temporary
directory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from halosync.sources.importer import import_file
from halosync.sources.schemas import CSV_COLUMNS
from halosync.store.database import Database
from halosync.store.workspaces import WorkspaceRepository

SERVICES = 20


def _rows(count: int) -> Iterator[dict[str, str]]:
    start = date(2024, 1, 1)
    for index in range(count):
        account, service = divmod(index, SERVICES)
        yield {
            "account_ref": f"ACC-{account:07}",
            "account_name": f"Customer {account} Ltd",
            "account_status": ("active", "trial", "suspended")[account % 3],
            "billed": "true" if account % 3 != 1 else "false",
            "service_ref": f"SKU-{service:04}",
            "service_name": f"Service {service}",
            "quantity": str((index * 7) % 500),
            "start_date": str(start + timedelta(days=index % 365)),
            "end_date": "",
            "billing_cycle": "monthly",
            "term": "12 months",
            "status": "active",
            "cost_price": f"{(index % 1000) / 4:.2f}",
            "customer_price": f"{(index % 1000) / 3:.2f}",
        }


def _csv_cell(value: str) -> str:
    return f'"{value}"' if "," in value else value


def write_csv(path: Path, count: int) -> None:
    """``count`` rows as an import CSV, written as they are made."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write(",".join(CSV_COLUMNS) + "\n")
        for row in _rows(count):
            handle.write(",".join(_csv_cell(row[c]) for c in CSV_COLUMNS) + "\n")


def write_json(path: Path, count: int) -> None:
    """``count`` rows as an import JSON document, written as they are made."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write('{"accounts": [')
        for number in range((count + SERVICES - 1) // SERVICES):
            account = {
                "ref": f"ACC-{number:07}",
                "name": f"Customer {number} Ltd",
                "status": ("active", "trial", "suspended")[number % 3],
                "billed": number % 3 != 1,
            }
            handle.write(("," if number else "") + json.dumps(account))
        handle.write('],\n"services": [')
        for number in range(min(SERVICES, count)):
            service = {"ref": f"SKU-{number:04}", "name": f"Service {number}"}
            handle.write(("," if number else "") + json.dumps(service))
        handle.write('],\n"subscriptions": [')
        for index, r in enumerate(_rows(count)):
            item = {
                "account_ref": r["account_ref"],
                "service_ref": r["service_ref"],
                "quantity": int(r["quantity"]),
                "start_date": r["start_date"],
                "billing_cycle": r["billing_cycle"],
                "term": r["term"],
                "status": r["status"],
                "cost_price": r["cost_price"],
                "customer_price": r["customer_price"],
            }
            handle.write(("," if index else "") + "\n" + json.dumps(item))
        handle.write("]}\n")


def _child(database_url: str, workspace: str, path: Path) -> None:
    """Run one import and print its duration and this process's peak RSS as JSON."""
    database = Database(database_url)
    backends: list[int] = []
    if database.dialect == "postgresql":

        @event.listens_for(database.engine, "connect")
        def _note_backend(connection: Any, _record: Any) -> None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backends.append(int(cursor.fetchone()[0]))

    with database.session() as session:
        workspace_id = WorkspaceRepository(session).resolve(workspace).id
    server = _server_cpu(backends)
    threads = _ThreadCpu()
    started, cpu = time.perf_counter(), time.process_time()
    report = import_file(database, workspace_id, path)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    reading, writing = threads.stop()
    server_after = _server_cpu(backends)
    database.dispose()
    figures = {
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "reading_cpu_seconds": reading,
        "writing_cpu_seconds": writing,
        "peak_mib": _peak_rss_mib(),
    }
    if server is not None and server_after is not None:
        figures["server_cpu_seconds"] = server_after - server
    print(json.dumps(figures | report.as_dict()))


class _ThreadCpu:
    """CPU seconds of this process's threads during the import, read from /proc (Linux):
    the reading thread (this one) and the others (the import's writing thread), sampled
    while they run, since a thread's figures go with it when it ends."""

    def __init__(self) -> None:
        self._seen: dict[int, float] = {}
        self._start = self._sample()
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._run, daemon=True)
        self._sampler.start()

    def _sample(self) -> dict[int, float]:
        ticks = os.sysconf("SC_CLK_TCK")
        found: dict[int, float] = {}
        for task in Path("/proc/self/task").iterdir():
            try:
                fields = (task / "stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
            except OSError:
                continue
            found[int(task.name)] = (int(fields[11]) + int(fields[12])) / ticks
        return found

    def _run(self) -> None:
        me = threading.get_native_id()
        while not self._done.wait(0.1):
            for tid, seconds in self._sample().items():
                if tid != me:
                    self._seen[tid] = max(seconds, self._seen.get(tid, 0.0))

    def stop(self) -> tuple[float, float]:
        """(reading thread, other threads) CPU seconds since this was made."""
        self._done.set()
        self._sampler.join()
        main = threading.get_native_id()  # (stop() runs in the main thread)
        for tid, seconds in self._sample().items():
            self._seen[tid] = max(seconds, self._seen.get(tid, 0.0))
        reading = self._seen.get(main, 0.0) - self._start.get(main, 0.0)
        others = sum(
            seconds - self._start.get(tid, 0.0)
            for tid, seconds in self._seen.items()
            if tid != main and tid != self._sampler.native_id
        )
        return reading, others


def _server_cpu(backends: list[int]) -> float | None:
    """CPU seconds the PostgreSQL backends of this process's connections have used (read
    from /proc: a server on this machine), or None when there are none to read (SQLite)."""
    if not backends:
        return None
    total = 0.0
    try:
        for pid in backends:
            fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1]
            user, system = fields.split()[11:13]
            total += (int(user) + int(system)) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return None
    return total


def _peak_rss_mib() -> float:
    """This process's peak resident set size (Linux), or ``ru_maxrss`` elsewhere."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def _run(database_url: str, workspace: str, path: Path) -> dict[str, object]:
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            str(path),
            "--database-url",
            database_url,
            "--workspace",
            workspace,
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HALOSYNC_LOG_LEVEL": "warning"},
    )
    if done.returncode:
        sys.exit(f"the import failed:\n{done.stderr[-3000:]}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _spread(values: list[float], unit: str, digits: int = 1) -> str:
    low, middle, high = min(values), statistics.median(values), max(values)
    return f"{low:.{digits}f} / {middle:.{digits}f} / {high:.{digits}f} {unit}"


def _create_workspace(database: Database, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    with database.session() as session:
        WorkspaceRepository(session).create(name)
    return name


def _bench(url: str, path: Path, repeat: int, label: str) -> None:
    database = Database(url)
    database.migrate()
    firsts: list[dict[str, object]] = []
    workspace = ""
    for _ in range(repeat):
        workspace = _create_workspace(database, "bench")
        firsts.append(_run(url, workspace, path))
    agains = [_run(url, workspace, path) for _ in range(repeat)]
    database.dispose()
    for kind, results in (("first", firsts), ("again", agains)):
        counts = results[-1]["subscriptions"]
        seconds = [float(str(r["seconds"])) for r in results]
        cpu = [float(str(r["cpu_seconds"])) for r in results]
        peaks = [float(str(r["peak_mib"])) for r in results]
        server = [float(str(r["server_cpu_seconds"])) for r in results if "server_cpu_seconds" in r]
        on_server = f"  server CPU {_spread(server, 's', 2)}" if server else ""
        reading = [float(str(r["reading_cpu_seconds"])) for r in results]
        writing = [float(str(r["writing_cpu_seconds"])) for r in results]
        print(
            f"{label} {kind:<5}  time {_spread(seconds, 's', 2)}  CPU {_spread(cpu, 's', 2)}"
            f" (reading thread {_spread(reading, 's', 2)}, writing thread"
            f" {_spread(writing, 's', 2)}){on_server}  peak RSS {_spread(peaks, 'MiB')}"
            f"  subscriptions {counts}",
            flush=True,
        )


def _schema_url(url: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    parsed = make_url(url)
    scoped = parsed.set(query={**parsed.query, "options": f"-csearch_path={schema}"})
    return scoped.render_as_string(hide_password=False), schema


def _drop_schema(url: str, schema: str) -> None:
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--formats", default="csv,json")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workspace", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.database_url, args.workspace, args.child)
        return
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        url, schema = args.database_url, None
        if url is None:
            url = f"sqlite:///{root / 'bench.db'}"
        elif make_url(url).get_backend_name() == "postgresql":
            url, schema = _schema_url(args.database_url)
        print(f"database: {Database(url)!r}, {args.rows:,} rows, {args.repeat} of each")
        try:
            for kind in args.formats.split(","):
                path = root / f"usage.{kind}"
                (write_csv if kind == "csv" else write_json)(path, args.rows)
                print(f"{path.name}: {path.stat().st_size / 2**20:.1f} MiB", flush=True)
                _bench(url, path, args.repeat, f"{kind:<4}")
                path.unlink()
        finally:
            if schema is not None:
                _drop_schema(args.database_url, schema)


if __name__ == "__main__":
    main()
