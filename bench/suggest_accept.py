"""``halosync map suggest --accept`` at N accounts: time of the command, and of its two halves.

    uv run python bench/suggest_accept.py [--accounts 5000,20000] [--rounds 3]

For each count N builds one SQLite workspace with N accounts and N Halo clients whose
names differ as real ones do (70 % the same name with another legal suffix and case,
15 % one letter off, 15 % unrelated) and 5 % of the accounts already mapped by hand. Each
round copies that database and runs ``halosync map suggest --accept --json`` on the copy
as its own process (interpreter start-up included), then, in this process on another
copy, times ``suggest_account_mappings`` and ``accept_suggestions`` alone. Prints
min / median / max of the rounds, the count saved, and the growth from the smallest N to
the largest.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, select

from halosync.mapping.service import accept_suggestions, suggest_account_mappings
from halosync.store.database import Database
from halosync.store.models import Account, AccountMapping, HaloClient
from halosync.store.workspaces import WorkspaceRepository

HALOSYNC = str(Path(sys.executable).parent / "halosync")
SYLLABLES = [a + b for a in "bdfgklmnprstvz" for b in ("a", "e", "i", "o", "u", "an", "or")]
SUFFIXES = ["Ltd", "Limited", "Inc", "LLC", "GmbH", "Pty Ltd", "Co", "Corp", "PLC"]
WORDS = ["Holdings", "Dental", "Legal", "Group", "Partners", "Services", "Systems", "Labs"]


def _name(pick: random.Random) -> str:
    word = "".join(pick.choice(SYLLABLES) for _ in range(pick.randint(2, 4)))
    return f"{word.capitalize()} {pick.choice(WORDS)}"


def _typo(pick: random.Random, name: str) -> str:
    at = pick.randrange(1, len(name.split()[0]))
    return name[:at] + pick.choice("aeiou") + name[at + 1 :]


def build(path: Path, accounts: int) -> None:
    """One workspace "Bench" with ``accounts`` accounts and as many Halo clients."""
    pick = random.Random(accounts)
    database = Database(f"sqlite:///{path}")
    database.migrate()
    with database.session() as session:
        workspace_id = WorkspaceRepository(session).create("Bench").id
    names = [_name(pick) for _ in range(accounts)]
    client_names = []
    for n, name in enumerate(names):
        kind = n % 20
        if kind < 14:
            client_names.append(f"{name} {pick.choice(SUFFIXES)}".upper())
        elif kind < 17:
            client_names.append(_typo(pick, name))
        else:
            client_names.append(_name(pick) + " Unrelated")
    with database.session() as session:
        session.execute(
            insert(Account),
            [
                {
                    "workspace_id": workspace_id,
                    "ref": f"ACC-{n:06d}",
                    "name": f"{name} {pick.choice(SUFFIXES)}",
                    "status": "active",
                    "billed": True,
                }
                for n, name in enumerate(names)
            ],
        )
        session.execute(
            insert(HaloClient),
            [
                {"workspace_id": workspace_id, "halo_id": 1000 + n, "name": name}
                for n, name in enumerate(client_names)
            ],
        )
    with database.session() as session:
        ids = dict(session.execute(select(Account.ref, Account.id)).all())
        session.execute(
            insert(AccountMapping),
            [  # mapped by hand, crosswise (never the best name match)
                {
                    "workspace_id": workspace_id,
                    "account_id": ids[f"ACC-{n:06d}"],
                    "halo_client_id": 1000 + (n + 1) % accounts,
                }
                for n in range(0, accounts, 20)
            ],
        )
    database.dispose()


def _summary(values: list[float]) -> str:
    return f"{min(values):7.2f} {statistics.median(values):7.2f} {max(values):7.2f}"


def measure(template: Path, folder: Path, rounds: int) -> dict[str, list[float]]:
    """Seconds per round: the whole command, then suggest and accept in this process."""
    times: dict[str, list[float]] = {"command": [], "suggest": [], "accept": []}
    saved: set[int] = set()
    (folder / "data").mkdir(exist_ok=True)  # a named data directory must exist
    for round_number in range(rounds):
        copy = folder / f"round-{round_number}.db"
        shutil.copy(template, copy)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HALOSYNC_")} | {
            "HALOSYNC_DATA_DIR": str(folder / "data"),
            "HALOSYNC_DATABASE_URL": f"sqlite:///{copy}",
            "HALOSYNC_LOG_LEVEL": "warning",
        }
        command = [HALOSYNC, "map", "suggest", "--workspace", "Bench", "--accept", "--json"]
        began = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        times["command"].append(time.perf_counter() - began)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
        saved.add(sum(1 for row in json.loads(done.stdout)["suggestions"] if row["saved"]))
        shutil.copy(template, copy)
        database = Database(f"sqlite:///{copy}")
        with database.session() as session:
            began = time.perf_counter()
            suggestions = suggest_account_mappings(session, 1)
            times["suggest"].append(time.perf_counter() - began)
            began = time.perf_counter()
            outcomes = accept_suggestions(session, 1, suggestions)
            session.flush()
            times["accept"].append(time.perf_counter() - began)
        saved.add(sum(1 for outcome in outcomes if outcome.saved))
        database.dispose()
    print(f"  saved {sorted(saved)}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", default="5000,20000", help="comma-separated counts")
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    counts = [int(text) for text in options.accounts.split(",")]
    results: dict[int, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        for count in counts:
            template = folder / f"template-{count}.db"
            began = time.perf_counter()
            build(template, count)
            print(f"{count} accounts built in {time.perf_counter() - began:.1f} s")
            results[count] = measure(template, folder, options.rounds)
    print(f"{'accounts':>8} {'part':<8} {'min s':>7} {'median':>7} {'max s':>7}")
    for count, times in results.items():
        for part, values in times.items():
            print(f"{count:>8} {part:<8} {_summary(values)}")
    if len(counts) > 1:
        low, high = results[counts[0]], results[counts[-1]]
        for part in ("command", "suggest", "accept"):
            ratio = statistics.median(high[part]) / statistics.median(low[part])
            print(f"growth {counts[0]} → {counts[-1]} ({part}, medians): {ratio:.2f}×")


if __name__ == "__main__":
    main()
