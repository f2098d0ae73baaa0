"""Measure the HaloPSA client against the in-process simulator.

- paging: wall time and requests to read N clients (page size 100);
- batch writes: which POST batch sizes the simulator accepts and the time per record;
- pacing: a burst of requests under a 300/5 min simulator limit with the default budget
  (270) on a simulated clock: 429s received (must be 0) and simulated time taken.

Run: ``uv run python bench/client_throughput.py [--clients 10000]``; prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx2
from pydantic import SecretStr

from halosync.halopsa.client import HaloApiClient
from halosync.halopsa.config import HaloConnectionConfig
from halosync.halopsa.errors import HaloError
from halosync.halopsa.permissions import needs_for
from halosync.simulator import ApiApplication, SimulatorConfig, create_app, generate_demo_seed

CLIENT_ID, SECRET = "bench", "bench-secret-0123456789"


class SimClock:
    """Sleeping moves the simulator's clock instead of waiting."""

    def __init__(self, base: Any) -> None:
        self.base = base

    def now(self) -> float:
        return float(self.base.now())

    async def sleep(self, seconds: float) -> None:
        wake = self.base.now() + max(0.0, seconds)
        await asyncio.sleep(0)
        if wake > self.base.now():
            self.base.advance(wake - self.base.now())


def make(clients: int, **config: Any) -> tuple[Any, HaloApiClient]:
    app = create_app(
        SimulatorConfig(
            applications=[ApiApplication(CLIENT_ID, SECRET, ("all",))],
            start_time=datetime(2025, 1, 1, tzinfo=UTC),
            **config,
        )
    )
    if clients:
        app.state.seed(generate_demo_seed(clients=clients))
    client = HaloApiClient(
        HaloConnectionConfig(
            "http://halo.bench", CLIENT_ID, SecretStr(SECRET), scopes=needs_for("licence").scopes
        ),
        transport=httpx2.ASGITransport(app=app),
        clock=SimClock(app.state.clock),
        allow_private_networks=True,
    )
    return app, client


async def paging(clients: int) -> dict[str, Any]:
    app, client = make(clients, rate_limit=10**6)
    async with client:
        started = time.perf_counter()
        rows = await client.clients(include_inactive=True)
        elapsed = time.perf_counter() - started
    return {
        "clients": len(rows),
        "requests": len(app.state.request_log),
        "seconds": round(elapsed, 3),
        "rows_per_second": round(len(rows) / elapsed),
    }


async def batches() -> list[dict[str, Any]]:
    results = []
    for size in (1, 50, 100, 250, 500, 1000, 2000):
        _app, client = make(3, rate_limit=10**6)
        rows = [{"name": f"Seats {i}", "client_id": 1, "count": i} for i in range(size)]
        async with client:
            await client.get_token()
            started = time.perf_counter()
            try:
                await client.save_records("SoftwareLicence", rows, batch_size=size)
                outcome = "accepted"
            except HaloError as error:
                outcome = f"refused: {error.message[:80]}"
            elapsed = time.perf_counter() - started
        results.append(
            {
                "batch_size": size,
                "outcome": outcome,
                "ms_per_record": round(elapsed * 1000 / size, 3),
            }
        )
    return results


async def pacing(requests: int) -> dict[str, Any]:
    app, client = make(0, rate_limit=300, rate_window_seconds=300)
    async with client:
        start = app.state.clock.now()
        wall = time.perf_counter()

        async def worker(n: int) -> None:
            for _ in range(n):
                await client.items()

        await asyncio.gather(*(worker(requests // 10) for _ in range(10)))
        simulated = app.state.clock.now() - start
    statuses = [entry.status for entry in app.state.request_log]
    return {
        "requests": len(statuses),
        "status_429": statuses.count(429),
        "simulated_minutes": round(simulated / 60, 1),
        "wall_seconds": round(time.perf_counter() - wall, 2),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2_000)
    args = parser.parse_args()
    report = {
        "paging": await paging(args.clients),
        "batch_writes": await batches(),
        "pacing": await pacing(args.requests),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
