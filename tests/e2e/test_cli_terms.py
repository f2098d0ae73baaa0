"""Several terms of one account × service (monthly and annual), against the simulator over
HTTP on both targets: summed, kept apart or one picked, as ``halosync rules`` says; a
repeated sync writes nothing, and changing the rule never bills a term twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import Cli, cli_against_simulator, write_usage_csv
from tests.e2e.test_cli_rules import json_of, ok
from tests.sync.world import seed

ROWS = [
    {"account_ref": "A1", "account_name": "Client 1 Ltd", "service_ref": "MAIL",
     "service_name": "Mail Protection", "quantity": 10, "term": "monthly"},
    {"account_ref": "A1", "account_name": "Client 1 Ltd", "service_ref": "MAIL",
     "service_name": "Mail Protection", "quantity": 5, "term": "annual",
     "start_date": "2024-03-01"},
]  # fmt: skip


def billed(cli: Cli, target: str) -> list[Any]:
    """What HaloPSA holds for client 1's Mail Protection: each record's quantity."""
    if target == "licence":
        return sorted(
            lic["count"]
            for lic in cli.sim.state.records("SoftwareLicence")
            if lic["client_id"] == 1
        )
    invoice = cli.sim.state.record("RecurringInvoice", -1)
    assert invoice is not None
    return sorted(line["qty_order"] for line in invoice["lines"] if line.get("_itemid") == 1)


def sync(cli: Cli) -> dict[str, Any]:
    report: dict[str, Any] = json_of(cli, "sync", "usage")
    again = json_of(cli, "sync", "usage")
    assert again["counts"]["created"] == again["counts"]["updated"] == 0, again
    return report


@pytest.mark.parametrize("target", ["licence", "invoice_line"])
def test_monthly_and_annual_summed_kept_apart_or_picked(tmp_path: Path, target: str) -> None:
    with cli_against_simulator(tmp_path, seed(1, with_invoices=True)) as cli:
        cli.connect(target)
        report = json_of(cli, "import", str(write_usage_csv(tmp_path / "u.csv", ROWS)))
        assert report["subscriptions"]["created"] == 2
        ok(cli, "sync", "customers")
        invoice = ["--invoice", "-1"] if target == "invoice_line" else []
        ok(cli, "map", "account", "A1", "1", *invoice)
        ok(cli, "map", "service", "MAIL", "1")

        # No rule: the terms are summed, on one record, and the dry run says so.
        preview = json_of(cli, "sync", "usage", "--dry-run")
        (change,) = preview["changes"]
        assert change["explain"]["text"] == "vendor annual 5 + monthly 10, summed → 15"
        assert change["term"] == ""
        summed = sync(cli)
        assert summed["counts"]["created"] == 1
        assert billed(cli, target) == [15]

        # Kept apart: the summed record bills monthly from now on, annual gets its own.
        ok(cli, "rules", "set", "--service", "MAIL", "--terms", "apart")
        apart = sync(cli)
        assert (apart["counts"]["created"], apart["counts"]["updated"]) == (1, 1)
        assert sorted(c["term"] for c in apart["changes"]) == ["annual", "monthly"]
        assert billed(cli, target) == [5, 10]
        rows = json_of(cli, "reconcile")["rows"]
        assert [(r["term"], r["halo_quantity"], r["status"]) for r in rows] == [
            ("annual", 5, "in_step"),
            ("monthly", 10, "in_step"),
        ]
        assert "MAIL (annual)" in ok(cli, "reconcile")

        # One picked: the annual record bills it; monthly's goes to 0 once approved
        # (a drop to 0 waits for review by default), never billed twice.
        ok(cli, "rules", "set", "--service", "MAIL", "--terms", "pick", "--terms-pick", "longest")
        picked = json_of(cli, "sync", "usage")
        reasons = [c["explain"]["text"] for c in picked["changes"]]
        assert "vendor annual 5, picked (longest term); monthly 10 not billed (service) → 5" in (
            reasons
        )
        held = json_of(cli, "review", "list")
        for item in held["items"]:
            ok(cli, "review", "approve", str(item["id"]))
        assert billed(cli, target) == [0, 5]
        again = json_of(cli, "sync", "usage")
        assert again["counts"]["created"] == again["counts"]["updated"] == 0, again
