"""One SQLite file hammered from several processes and threads at once.

Two processes import vendor files (a large document, one transaction each), a third runs
usage syncs, a fourth reads logs and the reconciliation through the CLI, and threads in
this process read subscriptions in tight loops. Nothing may crash with "database is
locked"; every command exits 0; every read sees a whole import (never half of one); and
afterwards one clean sync leaves Halo and the ledger exactly right.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, text

from halosync.store.database import Database
from halosync.store.models import Account, Service, Subscription
from tests.e2e.cli import HALOSYNC
from tests.reliability.conftest import TALLY, reproducible, seeds
from tests.reliability.scenario import Scenario, VendorSub, open_scenario
from tests.reliability.test_sigkill_usage_sync import clean_rerun, cli_for

pytestmark = pytest.mark.reliability

EXTRA_ACCOUNTS = 300
IMPORTS_PER_PROCESS = 2
SYNCS = 2
READER_THREADS = 3


def _grow(scenario: Scenario) -> None:
    """Many unmapped accounts, so each import holds the write lock for a while."""
    for n in range(EXTRA_ACCOUNTS):
        ref = f"X{n:05d}"
        scenario.vendor.accounts[ref] = {
            "ref": ref,
            "name": f"Extra {n}",
            "status": "active",
            "billed": True,
        }
        scenario.vendor.subs[(ref, "S1")] = VendorSub(ref, "S1", 1, Decimal("1"), Decimal("2"))


def _documents(scenario: Scenario, folder: Path) -> tuple[Path, Path]:
    """Two versions of the vendor file that differ in every extra account's quantity."""
    first = scenario.vendor.document()
    second = json.loads(json.dumps(first))
    for row in second["subscriptions"]:
        if row["account_ref"].startswith("X"):
            row["quantity"] = 2
    paths = []
    for name, document in (("a.json", first), ("b.json", second)):
        path = folder / name
        path.write_text(json.dumps(document), encoding="utf-8")
        paths.append(path)
    return paths[0], paths[1]


def _run_all(cli_env: dict[str, str], commands: list[list[str]], errors: list[str]) -> None:
    for args in commands:
        done = subprocess.run(
            [*HALOSYNC, *args], env=cli_env, capture_output=True, text=True, timeout=180
        )
        TALLY[f"sqlite load: halosync {args[0]} {args[1] if len(args) > 1 else ''}"] += 1
        if done.returncode != 0 or "Traceback" in done.stderr or "locked" in done.stderr:
            errors.append(f"halosync {' '.join(args)} exited {done.returncode}:\n{done.stderr}")


def one_iteration(tmp_path: Path, seed: int) -> None:
    with open_scenario(tmp_path, seed, batch_size=5) as scenario:
        _grow(scenario)
        cli = cli_for(scenario)
        first, second = _documents(scenario, tmp_path)
        cli("import", str(first))
        errors: list[str] = []
        torn: list[str] = []
        stop = threading.Event()
        reads = [0]

        def reader() -> None:
            while not stop.is_set():
                try:
                    with scenario.database.session() as session:
                        quantities = session.scalars(
                            select(Subscription.quantity)
                            .join(Account, Account.id == Subscription.account_id)
                            .join(Service, Service.id == Subscription.service_id)
                            .where(Account.ref.like("X%"))
                        ).all()
                except Exception as error:
                    errors.append(f"reader: {type(error).__name__}: {error}")
                    return
                reads[0] += 1
                time.sleep(0.01)
                if len(quantities) != EXTRA_ACCOUNTS or len(set(quantities)) != 1:
                    torn.append(f"saw {len(quantities)} rows with quantities {set(quantities)}")

        workers = [
            threading.Thread(
                target=_run_all,
                args=(
                    cli.env,
                    [["import", str(p)] for p in [second, first] * (IMPORTS_PER_PROCESS // 2)],
                    errors,
                ),
            ),
            threading.Thread(
                target=_run_all,
                args=(
                    cli.env,
                    [["import", str(p)] for p in [first, second] * (IMPORTS_PER_PROCESS // 2)],
                    errors,
                ),
            ),
            threading.Thread(
                target=_run_all,
                args=(cli.env, [["sync", "usage", "--json"]] * SYNCS, errors),
            ),
            threading.Thread(
                target=_run_all,
                args=(cli.env, [["logs", "--json"], ["reconcile", "--json"]], errors),
            ),
        ]
        readers = [threading.Thread(target=reader) for _ in range(READER_THREADS)]
        started = time.monotonic()
        for thread in [*workers, *readers]:
            thread.start()
        for thread in workers:
            thread.join(timeout=240)
        stop.set()
        for thread in readers:
            thread.join(timeout=30)
        TALLY["sqlite load: in-process reads"] += reads[0]
        TALLY["sqlite load: seconds"] += round(time.monotonic() - started)
        assert not errors, "\n".join(errors)
        assert not torn, torn[:5]
        # Settle on a known vendor state, then one clean sync must be exact.
        cli("import", str(first))
        clean_rerun(cli)
        scenario.verify()
        TALLY["iterations (SQLite under concurrent load)"] += 1


@pytest.mark.parametrize("seed", seeds(1))
def test_sqlite_file_under_concurrent_imports_syncs_and_reads(tmp_path: Path, seed: int) -> None:
    with reproducible(seed, "SQLite under load"):
        one_iteration(tmp_path, seed)


def test_first_open_waits_for_a_lock_instead_of_failing(tmp_path: Path) -> None:
    """Switching a fresh file to WAL needs the whole file; a busy one must be waited for."""
    path = tmp_path / "fresh.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO t VALUES (1)")
    release = threading.Timer(0.5, holder.execute, args=("COMMIT",))
    release.start()
    database = Database(f"sqlite:///{path}")
    try:
        with database.session() as session:
            assert session.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
    finally:
        release.join()
        holder.close()
        database.dispose()
