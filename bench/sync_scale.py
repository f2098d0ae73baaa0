"""How the cost of a usage sync and a customers pull grows with the number of pairs.

    uv run python bench/sync_scale.py --pairs 10000 --target licence [--runs 3] [--preview]
    uv run python bench/sync_scale.py --pairs 100000 --target invoice_line \
        [--line-write-path invoice|update_lines]

Starts ``halosync simulator`` on a local port with its rate limit out of the way (the
point is halosync's own CPU and memory, not Halo's limit), seeds one Halo client per
account (and, for ``invoice_line``, one recurring invoice per client), imports
``pairs / 2`` accounts × 2 services, then runs as separate processes: ``sync customers``,
``sync usage`` (first: every record created) and ``sync usage`` again (repeat: nothing
changes). For each process it reports wall time, CPU time (user + system, from the
child's own rusage) and peak RSS (the child's own ``VmHWM``, read by the child as it exits;
interpreter included).
With ``--runs N`` the whole scenario runs N times from scratch and each figure is given
as min / median / max. ``--preview`` then runs ``sync usage --dry-run`` (the CLI's dry
run) and asks ``halosync serve`` on a local port for the REST API's dry-run preview
(``POST /syncs/usage/preview``, streamed), reporting the server's CPU for it (start-up
excluded) and its peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.sync.world import CLIENT_ID, CLIENT_SECRET, make_world  # noqa: E402

from halosync.domain.models import LineWritePath  # noqa: E402
from halosync.mapping.service import map_service  # noqa: E402
from halosync.store.connections import ConnectionDetails, HaloConnectionRepository  # noqa: E402
from halosync.store.models import (  # noqa: E402
    Account,
    AccountMapping,
    HaloRecurringInvoice,
)
from halosync.store.tokens import ApiTokenRepository  # noqa: E402

HALOSYNC = str(Path(sys.executable).parent / "halosync")
SERVICES = 2


def _seed(accounts: int, invoices: bool) -> dict[str, Any]:
    document: dict[str, Any] = {
        "clients": [{"id": n, "name": f"Client {n}"} for n in range(1, accounts + 1)],
        "items": [
            {"id": 1, "name": "Mail Protection", "baseprice": 3.0, "costprice": 1.0},
            {"id": 2, "name": "Backup", "baseprice": 5.0, "costprice": 2.0},
            {"id": 3, "name": "Consulting", "baseprice": 100.0, "costprice": 0.0},
        ],
    }
    if invoices:
        document["recurring_invoices"] = [
            {
                "id": -n,  # the simulator's recurring invoice ids are negative, as Halo's
                "client_id": n,
                "reference": f"Monthly {n}",
                "lines": [{"_itemid": 3, "qty_order": 1, "item_shortdescription": "Consulting"}],
            }
            for n in range(1, accounts + 1)
        ]
    return document


def _usage(accounts: int) -> dict[str, Any]:
    return {
        "accounts": [
            {"ref": f"A{n:06d}", "name": f"Client {n}", "status": "active", "billed": True}
            for n in range(1, accounts + 1)
        ],
        "services": [{"ref": "S1", "name": "Mail Protection"}, {"ref": "S2", "name": "Backup"}],
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PROFILE_DIR: Path | None = None
"""With ``--profile DIR``, each command runs under cProfile, writing DIR/<step>.prof."""


_PEAK_WRAPPER = r"""
import atexit, os, sys
path = sys.argv[1]
sys.argv = ["halosync", *sys.argv[2:]]

def peak():
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                with open(path, "w", encoding="ascii") as out:
                    out.write(line.split()[1])

atexit.register(peak)
if os.environ.get("SYNC_SCALE_TRACE"):
    # Samples the resident size every 50 ms and keeps the main thread's stack at its peak.
    import threading, time, traceback

    main_id = threading.get_ident()
    top = [0, ""]

    def sample():
        while True:
            with open("/proc/self/status", encoding="ascii") as status:
                rss = next(int(l.split()[1]) for l in status if l.startswith("VmRSS:"))
            if rss > top[0]:
                frame = sys._current_frames().get(main_id)
                top[:] = [rss, "".join(traceback.format_stack(frame)) if frame else ""]
            time.sleep(0.05)

    threading.Thread(target=sample, daemon=True).start()

    def trace():
        with open(path + ".trace", "w", encoding="utf-8") as out:
            out.write(f"peak VmRSS {top[0]} KiB at:\n{top[1]}")

    atexit.register(trace)
from halosync.cli import main
main()
"""
"""Runs halosync and, as it exits, writes its own peak RSS (``VmHWM``, KiB) to a file: the
``ru_maxrss`` a parent reads is at least the parent's own peak (Linux carries it across the
exec of a vfork'ed child), and this script holds the whole seeded world."""


def _measured(args: list[str], env: dict[str, str], step: str) -> dict[str, Any]:
    """Run one halosync command as a child; its wall time, CPU time and peak RSS."""
    peak_file = Path(tempfile.mkstemp(prefix="halosync-peak-")[1])
    command = [sys.executable, "-c", _PEAK_WRAPPER, str(peak_file), *args, "--json"]
    if PROFILE_DIR is not None:
        profile = PROFILE_DIR / f"{step}.prof"
        command = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "halosync"]
        command += [*args, "--json"]
    started = time.monotonic()
    child = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # Read the pipes to the end first (a large --json output would otherwise block the
    # child), then reap it with wait4 to get its own resource usage.
    out, err = child.stdout.read(), child.stderr.read()  # type: ignore[union-attr]
    _pid, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - started
    if child.returncode != 0:
        raise SystemExit(f"{args} failed:\n{err.decode()[-3000:]}")
    report = json.loads(out)
    peak_kib = int(peak_file.read_text(encoding="ascii") or 0) if PROFILE_DIR is None else 0
    peak_file.unlink()
    traced = Path(f"{peak_file}.trace")
    if traced.exists():
        traced.rename(Path(tempfile.gettempdir()) / f"halosync-{step}.trace")
    return {
        "seconds": round(elapsed, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mib": round((peak_kib or usage.ru_maxrss) / 1024),
        "counts": report.get("counts"),
    }


def _wait_until_up(process: subprocess.Popen[bytes], health: str, name: str) -> None:
    """Wait (up to about a minute) until ``health`` answers; stop if ``process`` ended."""
    for _ in range(600):
        if process.poll() is not None:
            raise SystemExit(f"{name} stopped (exit {process.returncode})")
        try:
            httpx2.get(health, timeout=1)
            return
        except httpx2.TransportError:
            time.sleep(0.1)


def _process_figures(pid: int) -> tuple[float, int]:
    """A running process's CPU seconds (user + system) and peak RSS (``VmHWM``, KiB)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return cpu, peak


def _preview(world: Any, env: dict[str, str]) -> dict[str, Any]:
    """``POST /syncs/usage/preview`` to ``halosync serve`` on a local port, its body read to
    the end as it streams; the server's CPU and peak RSS (its whole life, start included)."""
    with world.database.session() as session:
        token = ApiTokenRepository(session, world.workspace_id).create("bench").token
    port = _free_port()
    server = subprocess.Popen(
        [HALOSYNC, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-jobs"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(server, f"{base}/healthz", "halosync serve")
        cpu_before, _ = _process_figures(server.pid)
        started = time.monotonic()
        size = 0
        with httpx2.stream(
            "POST",
            f"{base}/api/v1/workspaces/acme/syncs/usage/preview",
            headers={"Authorization": f"Bearer {token}"},
            timeout=None,
        ) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes():
                size += len(chunk)
        elapsed = time.monotonic() - started
        cpu_after, peak_kib = _process_figures(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "seconds": round(elapsed, 2),
        "cpu_seconds": round(cpu_after - cpu_before, 2),
        "peak_rss_mib": round(peak_kib / 1024),
        "counts": {"body_mib": round(size / 2**20, 1)},
    }


def _map_everything(world: Any, accounts: int, invoices: bool) -> None:
    """Map account n to client n (and its invoice) and both services, set-based."""
    with world.database.session() as session:
        ws = world.workspace_id
        invoice_of = (
            dict(
                session.execute(
                    select(HaloRecurringInvoice.halo_client_id, HaloRecurringInvoice.halo_id).where(
                        HaloRecurringInvoice.workspace_id == ws
                    )
                ).all()
            )
            if invoices
            else {}
        )
        rows = [
            {
                "workspace_id": ws,
                "account_id": account_id,
                "halo_client_id": int(ref[1:]),
                "recurring_invoice_id": invoice_of.get(int(ref[1:])),
            }
            for account_id, ref in session.execute(
                select(Account.id, Account.ref).where(Account.workspace_id == ws)
            )
        ]
        session.execute(insert(AccountMapping), rows)
        for s in range(1, SERVICES + 1):
            map_service(session, ws, f"S{s}", s)


def scenario(
    pairs: int,
    target: str,
    database_url: str | None,
    write_path: LineWritePath = "invoice",
    preview: bool = False,
) -> dict[str, Any]:
    accounts = pairs // SERVICES
    invoices = target == "invoice_line"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        seed_file = root / "seed.json"
        seed_file.write_text(json.dumps(_seed(accounts, invoices)), encoding="utf-8")
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
                "100000000",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # a bad seed shows as its exit (_wait_until_up)
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(simulator, f"{url}/_simulator/health", "the simulator")
            # The target first: the customers pull reads recurring invoices only for
            # invoice_line (set after it, no account had an invoice and every pair skipped).
            world = make_world(root, target=target, document={}, database_url=database_url)
            with world.database.session() as session:
                HaloConnectionRepository(session, world.workspace_id, world.box).save(
                    ConnectionDetails(
                        url, None, None, CLIENT_ID, CLIENT_SECRET, line_write_path=write_path
                    )
                )
            world.import_usage(_usage(accounts))
            env = {k: v for k, v in os.environ.items() if not k.startswith("HALOSYNC_")} | {
                "HALOSYNC_DATA_DIR": str(root / "data"),
                "HALOSYNC_DATABASE_URL": world.settings.resolved_database_url,
                "HALOSYNC_ALLOW_PRIVATE_NETWORKS": "true",
                "HALOSYNC_LOG_LEVEL": "warning",
                "HALOSYNC_HALO_RATE_LIMIT": "100000000",
            }
            pull = _measured(["sync", "customers"], env, "customers_pull")
            _map_everything(world, accounts, invoices)
            first = _measured(["sync", "usage"], env, "first_sync")
            repeat = _measured(["sync", "usage"], env, "repeat_sync")
            steps = {"customers_pull": pull, "first_sync": first, "repeat_sync": repeat}
            if preview:
                # The same dry run through the CLI (`sync usage --dry-run --json`), then the
                # REST preview: the difference between the two is the web layer's.
                steps["dry_run"] = _measured(["sync", "usage", "--dry-run"], env, "dry_run")
                steps["preview"] = _preview(world, env)
            world.database.dispose()
        finally:
            simulator.terminate()
            simulator.wait(timeout=30)
    return steps


def _spread(values: list[float]) -> str:
    return f"{min(values)} / {statistics.median(values)} / {max(values)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--target", choices=("licence", "invoice_line"), default="licence")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--line-write-path",
        choices=("invoice", "update_lines"),
        default="invoice",
        help="how invoice_line writes (invoice: one read and one POST per batch, the default)",
    )
    parser.add_argument(
        "--preview",
        action="store_true",
        help="then POST the REST API's dry-run preview to `halosync serve` (streamed)",
    )
    parser.add_argument("--profile", type=Path, default=None, help="write cProfile files here")
    args = parser.parse_args()
    global PROFILE_DIR
    PROFILE_DIR = args.profile
    runs = []
    for number in range(1, args.runs + 1):
        runs.append(
            scenario(args.pairs, args.target, args.database_url, args.line_write_path, args.preview)
        )
        # Each run's figures as it ends (a 100k run takes minutes): on stderr, so that
        # stdout stays the one summary document.
        print(f"run {number}: {json.dumps(runs[-1])}", file=sys.stderr, flush=True)
    summary: dict[str, Any] = {"pairs": args.pairs, "target": args.target, "runs": args.runs}
    if args.target == "invoice_line":
        summary["line_write_path"] = args.line_write_path
    for step in runs[-1]:
        summary[step] = {
            figure: _spread([run[step][figure] for run in runs])
            for figure in ("seconds", "cpu_seconds", "peak_rss_mib")
        } | {"counts": runs[-1][step]["counts"]}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
