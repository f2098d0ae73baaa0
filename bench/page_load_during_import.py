"""Page loads while a large usage file is imported through the web UI, over real HTTP.

    uv run python bench/page_load_during_import.py [--rows 120000] [--refused] [--repeat 1]

Starts ``halosync serve`` (web and embedded jobs, SQLite) in its own process on a local
port, logs in twice from this process, uploads a CSV of ``--rows`` subscriptions (valid,
or with ``--refused`` every row refused for a negative quantity) through the import page
while the other client loads the workspace's dashboard again and again, and prints the
page-load latency without an import and during it (p50 / p95 / max, in milliseconds), the
import's wall time, and the ten slowest page loads over 100 ms with when they were asked.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from halosync.store.database import Database
from halosync.store.workspaces import WorkspaceRepository

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.web.served import serving  # noqa: E402
from tests.web.ui.test_event_loop import page_loads_during_upload, usage_csv  # noqa: E402
from tests.web.ui.world import build_template  # noqa: E402


def _ms(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=120_000)
    parser.add_argument("--refused", action="store_true")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    payload = usage_csv(args.rows, refused=args.refused)
    kind = "refused" if args.refused else "valid"
    print(f"{args.rows:,} rows, {len(payload) / 2**20:.1f} MiB, {kind}")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        build_template(folder)
        database_url = f"sqlite:///{folder / 'ui.db'}"
        database = Database(database_url)
        with database.session() as session:
            alpha = WorkspaceRepository(session).resolve("Alpha").id
        database.dispose()
        with serving(folder, database_url) as url:
            for _ in range(args.repeat):
                quiet, during, took, answer, slow = page_loads_during_upload(url, alpha, payload)
                print(
                    f"import: {took:.2f} s, HTTP {answer.status_code}; page loads quiet: "
                    f"p50 {_ms(quiet, 0.5):.0f} / p95 {_ms(quiet, 0.95):.0f} ms; during the "
                    f"import ({len(during)}): p50 {_ms(during, 0.5):.0f} / p95 "
                    f"{_ms(during, 0.95):.0f} / max {1000 * max(during):.0f} ms, "
                    f"mean {1000 * statistics.fmean(during):.0f} ms"
                )
                slowest = sorted(slow, key=lambda load: -load[1])[:10]
                print(
                    f"  {len(slow)} loads over 100 ms; the slowest (asked at s: took ms):",
                    ", ".join(f"{at:.2f}: {1000 * waited:.0f}" for at, waited in slowest) or "-",
                )


if __name__ == "__main__":
    main()
