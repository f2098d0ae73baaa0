"""The account grid's statements timed by PostgreSQL itself, for each request of ui_grid_20k.

    uv run python bench/ui_grid_server_time.py --database-url URL [--accounts N]

Builds the workspace of ``ui_grid_20k.py`` in an empty PostgreSQL database or schema,
runs ``VACUUM ANALYZE`` on the grid's tables, then for each grid request (without HTTP:
``account_mapping_grid``) runs every SELECT it sent again under ``EXPLAIN ANALYZE`` and
adds up planning and execution time: what the server spends, without the client's wait
in its queue. Prints min / median / max of 3 per request.
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

from sqlalchemy import event, select

from halosync.mapping.grid import SORT_KEYS, account_mapping_grid
from halosync.store.database import Database
from halosync.store.models import Workspace
from ui_grid_20k import GRID_TABLES, build


def requests(accounts: int) -> dict[str, dict[str, Any]]:
    """The grid requests of ui_grid_20k (but the full page and the picker), as arguments."""
    last, middle = -(-accounts // 20), -(-accounts // 40)
    found: dict[str, dict[str, Any]] = {}
    for sort in SORT_KEYS:
        found |= _sorts(sort, last, middle)
    for status in ("mapped", "unmapped", "required", "response_error"):
        found[f"status {status}"] = {"status": status}
        found[f"status {status}, last page"] = {"status": status, "page": last}
    found["billing excluded"] = {"excluded": True}
    found["billing excluded, last page"] = {"excluded": True, "page": last}
    for status in ("active", "trial"):
        found[f"organization status {status}"] = {"account_status": status}
    for status in ("active", "inactive", "gone"):
        found[f"PSA status {status}"] = {"halo_client_status": status}
    number = f"{accounts // 2:06d}"
    searches = {
        "name": number,
        "reference": f"ACC-{number}",
        "client name": f"{number} holdings limited",
        "client id": str(1000 + accounts // 3),
        "nothing": "no such organization",
        "every row": "holdings",
    }
    for what, term in searches.items():
        found[f"search {what}"] = {"search": term}
    found["search every row, sort status desc, last page"] = {
        "search": "holdings",
        "sort": "status",
        "descending": True,
        "page": last,
    }
    found["unmapped, trial, sort client name"] = {
        "status": "unmapped",
        "account_status": "trial",
        "sort": "halo_client_name",
    }
    return found


def _sorts(sort: str, last: int, middle: int) -> dict[str, dict[str, Any]]:
    return {
        f"sort {sort}{' desc' if descending else ''}, {where} page": {
            "sort": sort,
            "descending": descending,
            "page": page,
        }
        for descending in (False, True)
        for where, page in (("first", 1), ("middle", middle), ("last", last))
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--database-url", required=True)
    options = parser.parse_args()
    database = Database(options.database_url)
    build(database, options.accounts)
    with database.engine.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
        for table in GRID_TABLES:
            connection.exec_driver_sql(f"VACUUM ANALYZE {table}")
    with database.session() as session:
        workspace_id = session.scalar(select(Workspace.id).where(Workspace.name == "Bench"))
    assert workspace_id is not None
    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", keep)
    raw = database.engine.raw_connection()
    medians: dict[str, float] = {}
    print(f"{'request':<52} {'min ms':>8} {'median':>8} {'max ms':>8}")
    for label, arguments in requests(options.accounts).items():
        times = []
        for _ in range(3):
            sent.clear()
            with database.session() as session:
                account_mapping_grid(session, workspace_id, page_size=20, **arguments)
            cursor = raw.cursor()
            spent = 0.0
            for statement, parameters in list(sent):
                cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters)
                row = cursor.fetchone()
                assert row is not None
                plan = row[0] if isinstance(row[0], list) else json.loads(row[0])
                spent += plan[0]["Execution Time"] + plan[0].get("Planning Time", 0.0)
            raw.rollback()
            times.append(spent)
        medians[label] = statistics.median(times)
        print(f"{label:<52} {min(times):>8.1f} {medians[label]:>8.1f} {max(times):>8.1f}")
    fast = sum(value < 150 for value in medians.values())
    print(
        f"server: {fast} / {len(medians)} medians under 150 ms, geometric mean"
        f" {statistics.geometric_mean(medians.values()):.1f} ms,"
        f" slowest {max(medians.values()):.1f} ms"
    )
    raw.close()
    database.dispose()


if __name__ == "__main__":
    main()
