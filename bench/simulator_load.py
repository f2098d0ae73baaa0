"""Benchmark: the simulator with 10,000+ records under ~1,000 requests.

Run: ``uv run python bench/simulator_load.py [--clients N] [--real-port]``. Prints seed
time, per-phase request rates and peak memory; exits non-zero if a list read is
quadratic (the last page costs much more than the first).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from typing import Any

import httpx2

from halosync.simulator import ApiApplication, SimulatorConfig, create_app, generate_demo_seed
from halosync.simulator.server import serve_in_thread

CLIENT_ID, SECRET = "bench", "bench-secret"


async def run(http: httpx2.AsyncClient) -> dict[str, Any]:
    token = await http.post(
        "/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "scope": "all",
        },
    )
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    results: dict[str, Any] = {}

    async def page_all(entity: str, key: str, **params: Any) -> tuple[int, int, list[float]]:
        rows = requests = 0
        timings: list[float] = []
        page_no = 1
        while True:
            started = time.perf_counter()
            body = (
                await http.get(
                    f"/api/{entity}",
                    params={"pageinate": "true", "page_size": 100, "page_no": page_no, **params},
                    headers=headers,
                )
            ).json()
            timings.append(time.perf_counter() - started)
            requests += 1
            rows += len(body[key])
            if rows >= body["record_count"] or not body[key]:
                return rows, requests, timings
            page_no += 1

    for entity, key, params in (
        ("Client", "clients", {}),
        ("Site", "sites", {}),
        ("SoftwareLicence", "licences", {}),
        ("RecurringInvoice", "invoices", {"includelines": "true"}),
    ):
        started = time.perf_counter()
        rows, requests, timings = await page_all(entity, key, **params)
        elapsed = time.perf_counter() - started
        first, last = timings[0], timings[-1]
        results[entity] = {
            "rows": rows,
            "requests": requests,
            "seconds": round(elapsed, 3),
            "ms_per_request": round(elapsed / requests * 1000, 2),
            "first_page_ms": round(first * 1000, 2),
            "last_page_ms": round(last * 1000, 2),
        }

    started = time.perf_counter()
    ids: list[int] = []
    for batch in range(300):
        body = [
            {"name": f"Licence {batch}-{n}", "client_id": 1 + (batch * 3 + n) % 50, "count": n}
            for n in range(3)
        ]
        saved = (await http.post("/api/SoftwareLicence", json=body, headers=headers)).json()
        ids.extend(row["id"] for row in saved)
    for record_id in ids[:300]:
        await http.post(
            "/api/SoftwareLicence", json=[{"id": record_id, "count": 99}], headers=headers
        )
    elapsed = time.perf_counter() - started
    results["writes"] = {
        "requests": 600,
        "seconds": round(elapsed, 3),
        "ms_per_request": round(elapsed / 600 * 1000, 2),
    }
    started = time.perf_counter()
    for client_id in range(1, 101):
        await http.get("/api/RecurringInvoice", params={"client_id": client_id}, headers=headers)
    elapsed = time.perf_counter() - started
    results["filtered_reads"] = {"requests": 100, "ms_per_request": round(elapsed * 10, 2)}
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--real-port", action="store_true")
    args = parser.parse_args()
    app = create_app(
        SimulatorConfig(
            applications=[ApiApplication(CLIENT_ID, SECRET, ("all",))], rate_limit=1_000_000
        )
    )
    started = time.perf_counter()
    document = generate_demo_seed(clients=args.clients, seed=1)
    counts = app.state.seed(document)
    print(
        f"seeded {sum(counts.values())} records {counts} in {time.perf_counter() - started:.2f} s"
    )

    async def drive(base_url: str | None) -> dict[str, Any]:
        if base_url is None:
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(transport=transport, base_url="http://halo.test") as http:
                return await run(http)
        async with httpx2.AsyncClient(base_url=base_url) as http:
            return await run(http)

    started = time.perf_counter()
    if args.real_port:
        with serve_in_thread(app) as url:
            results = asyncio.run(drive(url))
    else:
        results = asyncio.run(drive(None))
    total = time.perf_counter() - started
    requests = len(app.state.request_log)
    for phase, numbers in results.items():
        print(f"{phase:18} {numbers}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{requests} requests in {total:.2f} s ({requests / total:.0f} req/s); "
        f"peak RSS {peak_mb:.0f} MB"
    )
    worst = max(
        r["last_page_ms"] / max(r["first_page_ms"], 0.01)
        for k, r in results.items()
        if "last_page_ms" in r
    )
    if worst > 5:
        print(f"list paging looks super-linear: last page {worst:.1f}x the first")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
