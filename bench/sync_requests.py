"""Request economy and scale of the usage push, against the HaloPSA simulator.

    uv run python bench/sync_requests.py small     # 600 new licences, then a repeat
    uv run python bench/sync_requests.py large     # 10,000 pairs (5,000 accounts), real port
    uv run python bench/sync_requests.py small --target invoice_line   # 600 new lines
    uv run python bench/sync_requests.py large --target invoice_line [--rate-limit 3000]

``--target invoice_line`` gives every client one recurring invoice (with a line halosync
does not own) and writes the counts as lines on it by the default ``invoice`` path.
``--rate-limit`` sets the simulator's limit per 5 minutes and halosync's own pacer for
``large`` (default: Halo's 300, and halosync's default budget below it).

``small`` runs in-process (ASGI transport) and counts every request Halo receives.
``large`` starts ``halosync simulator`` on a local port with Halo's default limit (300
requests per rolling 5 minutes), prepares the workspace in this process, then runs
``halosync sync customers`` and ``halosync sync usage`` (twice) as subprocesses and
reports wall time, requests, 429s and each sync process's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.sync.world import (  # noqa: E402
    CLIENT_ID,
    CLIENT_SECRET,
    accounts,
    make_world,
    seed,
    usage_document,
)

HALOSYNC = str(Path(sys.executable).parent / "halosync")


def _usage(count: int, services: int) -> dict[str, Any]:
    """Accounts A1..An, each buying MAIL (and BKP when ``services`` is 2)."""
    refs = ["MAIL", "BKP"][:services]
    subscriptions = [
        {"account_ref": f"A{n}", "service_ref": ref, "quantity": (n * s) % 50 + 1}
        for n in range(1, count + 1)
        for s, ref in enumerate(refs, start=1)
    ]
    return usage_document(accounts(count), subscriptions)


def _by_kind(log: list[Any]) -> dict[str, int]:
    """Halo requests by method and entity, e.g. ``GET RecurringInvoice`` (a list read),
    ``GET RecurringInvoice/{id}``, ``POST RecurringInvoice``."""
    kinds: dict[str, int] = {}
    for entry in log:
        method, path = (
            (entry["method"], entry["path"])
            if isinstance(entry, dict)
            else (entry.method, entry.path)
        )
        parts = path.split("/")
        if len(parts) < 3 or parts[1].lower() != "api":
            kind = f"{method} {path}"
        else:
            kind = f"{method} {parts[2]}" + ("/{id}" if len(parts) > 3 else "")
        kinds[kind] = kinds.get(kind, 0) + 1
    return dict(sorted(kinds.items()))


def small(target: str = "licence") -> dict[str, Any]:
    """600 new records (300 accounts × 2 services), then a repeat with nothing changed."""
    with tempfile.TemporaryDirectory() as tmp:
        invoices = target == "invoice_line"
        world = make_world(Path(tmp), target=target, document=seed(300, with_invoices=invoices))
        world.import_usage(_usage(300, 2))
        asyncio.run(world.customers())
        world.map_each(300, invoices=invoices)
        log = world.sim.state.request_log
        log.clear()
        first = asyncio.run(world.usage())
        first_requests = len(log)
        first_kinds = _by_kind(log.entries())
        log.clear()
        repeat = asyncio.run(world.usage())
        return {
            "target": target,
            "created": first.counts["created"],
            "first_requests": first_requests,
            "first_requests_by_kind": first_kinds,
            "repeat_requests_by_kind": _by_kind(log.entries()),
            "repeat_unchanged": repeat.counts["unchanged"],
            "repeat_requests": len(log),
            "repeat_writes": sum(1 for e in log if e.method == "POST" and "/api/" in e.path),
        }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _timed(args: list[str], env: dict[str, str]) -> tuple[float, int, dict[str, Any]]:
    """Run one halosync command; (seconds, peak RSS MiB of that process, JSON output)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    done = subprocess.run([HALOSYNC, *args, "--json"], env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode != 0:
        raise SystemExit(f"{args} failed:\n{done.stderr[-2000:]}")
    # ru_maxrss of children is the largest child so far; commands run in growing order.
    return elapsed, max(peak, before) // 1024, json.loads(done.stdout)


def large(
    count: int = 5000, services: int = 2, target: str = "licence", rate_limit: int = 300
) -> dict[str, Any]:
    """10,000 account × service pairs against Halo's rate limit, on a real port."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        seed_file = root / "seed.json"
        invoices = target == "invoice_line"
        seed_file.write_text(json.dumps(seed(count, with_invoices=invoices)), encoding="utf-8")
        port = _free_port()
        simulator = subprocess.Popen(
            [
                HALOSYNC,
                "simulator",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--app",
                f"{CLIENT_ID}:{CLIENT_SECRET}:all",
                "--seed",
                str(seed_file),
                "--rate-limit",
                str(rate_limit),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    httpx2.get(f"{url}/_simulator/health", timeout=1)
                    break
                except httpx2.TransportError:
                    time.sleep(0.05)
            world = make_world(root, target=target, document={})
            world.connect(url)
            world.import_usage(_usage(count, services))
            env = {k: v for k, v in os.environ.items() if not k.startswith("HALOSYNC_")} | {
                "HALOSYNC_DATA_DIR": str(root / "data"),
                "HALOSYNC_DATABASE_URL": world.settings.resolved_database_url,
                "HALOSYNC_ALLOW_PRIVATE_NETWORKS": "true",
                "HALOSYNC_LOG_LEVEL": "warning",
            }
            if rate_limit != 300:
                env["HALOSYNC_HALO_RATE_LIMIT"] = str(rate_limit * 9 // 10)
            pull_s, pull_mb, _pulled = _timed(["sync", "customers"], env)
            world.map_each(count, invoices=invoices)
            httpx2.delete(f"{url}/_simulator/requests")
            first_s, first_mb, first = _timed(["sync", "usage"], env)
            first_log = httpx2.get(f"{url}/_simulator/requests").json()
            httpx2.delete(f"{url}/_simulator/requests")
            repeat_s, repeat_mb, repeat = _timed(["sync", "usage"], env)
            repeat_log = httpx2.get(f"{url}/_simulator/requests").json()
        finally:
            simulator.terminate()
            simulator.wait(timeout=10)
        return {
            "target": target,
            "rate_limit": rate_limit,
            "pairs": count * services,
            "customers_pull_seconds": round(pull_s, 1),
            "customers_pull_peak_rss_mib": pull_mb,
            "first_sync_seconds": round(first_s, 1),
            "first_sync_counts": first["counts"],
            "first_sync_requests": len(first_log),
            "first_sync_requests_by_kind": _by_kind(first_log),
            "first_sync_429s": sum(1 for e in first_log if e["status"] == 429),
            "first_sync_peak_rss_mib": first_mb,
            "repeat_seconds": round(repeat_s, 1),
            "repeat_counts": repeat["counts"],
            "repeat_requests": len(repeat_log),
            "repeat_requests_by_kind": _by_kind(repeat_log),
            "repeat_429s": sum(1 for e in repeat_log if e["status"] == 429),
            "repeat_peak_rss_mib": repeat_mb,
        }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=["small", "large"], nargs="?", default="small")
    parser.add_argument("--target", choices=["licence", "invoice_line"], default="licence")
    parser.add_argument("--rate-limit", type=int, default=300)
    args = parser.parse_args()
    result = (
        small(args.target)
        if args.which == "small"
        else large(target=args.target, rate_limit=args.rate_limit)
    )
    print(json.dumps(result, indent=2))
