"""Import 100,000 subscriptions from CSV and from JSON; print time and peak memory.

    uv run python bench/import_100k.py [--rows N] [--database-url URL]

Each format is imported twice into its own fresh workspace: once from empty (everything
created) and once again (everything unchanged). Each import runs in a fresh child process,
so its peak memory is that process's maximum RSS (``VmHWM`` in ``/proc/self/status``),
start-up included; tracemalloc is not used because it slows the import several-fold.
(``getrusage``'s ``ru_maxrss`` is not used either: Linux carries it over from the parent
across ``exec``, so a child would report at least this script's own size.)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from halosync.sources.importer import import_file
from halosync.sources.schemas import CSV_COLUMNS
from halosync.store.database import Database
from halosync.store.workspaces import WorkspaceRepository

ACCOUNTS_PER_SERVICE = 20


def _rows(count: int) -> list[dict[str, str]]:
    services = max(count // (count // ACCOUNTS_PER_SERVICE or 1), 1)
    rows = []
    for index in range(count):
        account, service = divmod(index, services)
        rows.append(
            {
                "account_ref": f"ACC-{account:06}",
                "account_name": f"Customer {account} Ltd",
                "account_status": ("active", "trial", "suspended")[account % 3],
                "billed": "true" if account % 3 != 1 else "false",
                "service_ref": f"SKU-{service:04}",
                "service_name": f"Service {service}",
                "quantity": str((index * 7) % 500),
                "start_date": str(date(2024, 1, 1) + timedelta(days=index % 365)),
                "end_date": "",
                "billing_cycle": "monthly",
                "term": "12 months",
                "status": "active",
                "cost_price": f"{(index % 1000) / 4:.2f}",
                "customer_price": f"{(index % 1000) / 3:.2f}",
            }
        )
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    """The rows as an import CSV."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(CSV_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)


def write_json(path: Path, rows: list[dict[str, str]]) -> None:
    """The rows as an import JSON document."""
    accounts = {
        r["account_ref"]: {
            "ref": r["account_ref"],
            "name": r["account_name"],
            "status": r["account_status"],
            "billed": r["billed"] == "true",
        }
        for r in rows
    }
    services = {
        r["service_ref"]: {"ref": r["service_ref"], "name": r["service_name"]} for r in rows
    }
    subscriptions = [
        {
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
        for r in rows
    ]
    document = {
        "accounts": list(accounts.values()),
        "services": list(services.values()),
        "subscriptions": subscriptions,
    }
    path.write_text(json.dumps(document), encoding="utf-8")


def _child(database_url: str, workspace: str, path: Path) -> None:
    """Run one import and print its duration and this process's peak RSS as JSON."""
    database = Database(database_url)
    with database.session() as session:
        workspace_id = WorkspaceRepository(session).resolve(workspace).id
    started = time.perf_counter()
    report = import_file(database, workspace_id, path)
    elapsed = time.perf_counter() - started
    database.dispose()
    print(json.dumps({"seconds": elapsed, "peak_mib": _peak_rss_mib()} | report.as_dict()))


def _peak_rss_mib() -> float:
    """This process's peak resident set size (Linux), or ``ru_maxrss`` elsewhere."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def _measure(database_url: str, workspace: str, path: Path, label: str) -> None:
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
        check=True,
        env={**os.environ, "HALOSYNC_LOG_LEVEL": "warning"},
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    counts = result["subscriptions"]
    print(
        f"{label:<22} {result['seconds']:6.2f} s  peak RSS {result['peak_mib']:6.1f} MiB  "
        f"subscriptions created={counts['created']} updated={counts['updated']} "
        f"unchanged={counts['unchanged']}"
    )


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workspace", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.database_url, args.workspace, args.child)
        return
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        rows = _rows(args.rows)
        write_csv(root / "usage.csv", rows)
        write_json(root / "usage.json", rows)
        del rows
        for name in ("usage.csv", "usage.json"):
            size = (root / name).stat().st_size
            print(f"{name}: {args.rows} subscriptions, {size / 2**20:.1f} MiB")
        url = args.database_url or f"sqlite:///{root / 'bench.db'}"
        database = Database(url)
        database.migrate()
        print(f"database: {database!r}")
        for name in ("usage.csv", "usage.json"):
            workspace = f"bench-{name}-{time.time():.0f}"
            with database.session() as session:
                WorkspaceRepository(session).create(workspace)
            _measure(url, workspace, root / name, f"{name} (first)")
            _measure(url, workspace, root / name, f"{name} (again)")
        database.dispose()


if __name__ == "__main__":
    main()
