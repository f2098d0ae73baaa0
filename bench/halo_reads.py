"""Reading Halo's billing records through the typed models and the billing adapter.

    uv run python bench/halo_reads.py            # 10,000 and 100,000 of each

A usage sync reads every licence of the mapped clients (or every line of the mapped
recurring invoices) through ``halosync.halopsa.billing``: the JSON row is validated into
its pydantic model, then turned into the planner's frozen dataclass. This measures that
step alone (no HTTP), as time per record (untraced) and peak memory of the records kept
(a second, traced pass).
"""

from __future__ import annotations

import json
import time
import tracemalloc
from typing import Any

from halosync.halopsa.billing import invoice_lines, licence_from_halo


def _licence_rows(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": index + 1,
            "client_id": index % 5000 + 1,
            "client_name": "Acme",
            "name": f"Service {index % 7}",
            "type": 1,
            "count": index % 50,
            "item_id": 1,
            "site_id": -1,
            "price": 12.5,
            "purchase_price": 7.329999999999998,
            "start_date": "2024-01-01T00:00:00",
            "end_date": "1899-12-30T00:00:00",
            "billing_cycle": "Monthly",
            "term_duration": "Annual",
            "status": "Active",
            "deleted": False,
        }
        for index in range(count)
    ]


def _invoice_rows(count: int, lines_per_invoice: int = 10) -> list[dict[str, Any]]:
    return [
        {
            "id": -(invoice + 1),
            "client_id": invoice + 1,
            "lines": [
                {
                    "id": invoice * lines_per_invoice + line + 1,
                    "ihid": -(invoice + 1),
                    "_itemid": line + 1,
                    "qty_order": 14.0,
                    "unit_price": 10.329999999999998,
                    "unit_cost": 8.1,
                    "item_shortdescription": "Mail",
                    "startdate": "1899-12-30T00:00:00",
                    "recurring_invoice_quantity_type": 0,
                }
                for line in range(lines_per_invoice)
            ],
        }
        for invoice in range(count // lines_per_invoice)
    ]


def _measure(label: str, read: Any, rows: list[dict[str, Any]], records: int) -> dict[str, Any]:
    started = time.perf_counter()
    kept = read(rows)
    seconds = time.perf_counter() - started
    assert len(kept) == records
    del kept
    # Memory in a second pass: tracing slows the reading itself many times over.
    tracemalloc.start()
    kept = read(rows)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(kept) == records
    return {
        "what": label,
        "records": records,
        "seconds": round(seconds, 2),
        "us_per_record": round(seconds / records * 1e6, 1),
        "peak_mib": round(peak / 2**20, 1),
    }


def main() -> None:
    results = []
    for count in (10_000, 100_000):
        licences = _licence_rows(count)
        results.append(
            _measure("licences", lambda rows: [licence_from_halo(r) for r in rows], licences, count)
        )
        invoices = _invoice_rows(count)
        results.append(
            _measure(
                "invoice lines",
                lambda rows: [line for r in rows for line in invoice_lines(r)],
                invoices,
                count,
            )
        )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
