"""Quantity rules set with ``halosync rules`` change what a usage sync writes to HaloPSA:
the licence count or the invoice line's quantity, on both targets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import Cli, cli_against_simulator, write_usage_csv
from tests.sync.world import seed

ROWS = [
    {"account_ref": "A1", "account_name": "Client 1 Ltd", "service_ref": "MAIL",
     "service_name": "Mail Protection", "quantity": 3},
    {"account_ref": "A2", "account_name": "Client 2 Ltd", "service_ref": "MAIL",
     "service_name": "Mail Protection", "quantity": 30},
]  # fmt: skip


def billed(cli: Cli, target: str) -> dict[int, Any]:
    """What HaloPSA bills for item 1 (Mail Protection), by client."""
    if target == "licence":
        return {lic["client_id"]: lic["count"] for lic in cli.sim.state.records("SoftwareLicence")}
    quantities: dict[int, Any] = {}
    for client in (1, 2):
        invoice = cli.sim.state.record("RecurringInvoice", -client)
        assert invoice is not None
        for line in invoice["lines"]:
            if line.get("_itemid") == 1:
                quantities[client] = line["qty_order"]
    return quantities


def mail_mapped(
    cli: Cli, tmp_path: Path, target: str, rows: list[dict[str, Any]] | None = None
) -> None:
    """``rows`` (ROWS by default) imported, A1 → client 1 and A2 → client 2 (their
    recurring invoices on the invoice_line target), MAIL → item 1."""
    cli.connect(target)
    cli.ok("import", str(write_usage_csv(tmp_path / "u.csv", ROWS if rows is None else rows)))
    cli.ok("sync", "customers")
    invoice = target == "invoice_line"
    cli.ok("map", "account", "A1", "1", *(["--invoice", "-1"] if invoice else []))
    cli.ok("map", "account", "A2", "2", *(["--invoice", "-2"] if invoice else []))
    cli.ok("map", "service", "MAIL", "1")


@pytest.mark.parametrize("target", ["licence", "invoice_line"])
def test_a_minimum_set_with_the_cli_is_what_the_sync_writes(tmp_path: Path, target: str) -> None:
    with cli_against_simulator(tmp_path, seed(3, with_invoices=True)) as cli:
        mail_mapped(cli, tmp_path, target)
        cli.ok("rules", "set", "--service", "MAIL", "--minimum", "10")
        later = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()
        cli.ok("rules", "set", "--service", "MAIL", "--minimum", "50", "--from", later)

        preview = cli.json("sync", "usage", "--dry-run")
        planned = {c["account_ref"]: c for c in preview["changes"]}
        quantity = "count" if target == "licence" else "qty_order"
        assert planned["A1"]["after"][quantity] == 10
        assert planned["A2"]["after"][quantity] == 30
        assert billed(cli, target) == {}

        report = cli.json("sync", "usage")
        assert report["counts"]["created"] == 2, report
        assert billed(cli, target) == {1: 10, 2: 30}

        # An exclusion: the pair is skipped with its reason, and Halo is left as it is.
        cli.ok("rules", "exclude", "--account", "A2", "--reason", "internal use")
        cli.ok(
            "import",
            str(write_usage_csv(tmp_path / "u.csv", [ROWS[0], {**ROWS[1], "quantity": 31}])),
        )
        again = {c["account_ref"]: c for c in cli.json("sync", "usage")["changes"]}
        assert again["A2"]["action"] == "skip"
        assert "excluded from billing: internal use (account)" in again["A2"]["reason"]
        assert again["A1"]["action"] == "unchanged"
        assert billed(cli, target) == {1: 10, 2: 30}


@pytest.mark.parametrize("target", ["licence", "invoice_line"])
def test_one_pair_of_an_excluded_account_is_billed_when_included_over_it(
    tmp_path: Path, target: str
) -> None:
    with cli_against_simulator(tmp_path, seed(3, with_invoices=True)) as cli:
        mail_mapped(cli, tmp_path, target)
        cli.ok("rules", "exclude", "--account", "A2", "--reason", "internal use")
        cli.ok("rules", "set", "--account", "A2", "--service", "MAIL", "--minimum", "40")
        # A plain include of the pair ends nothing: the account's exclusion is named.
        done = cli.in_process("rules", "include", "--account", "A2", "--service", "MAIL")
        assert done.returncode == 1
        assert "the account A2 excludes it (internal use)" in done.stderr
        assert "--override" in done.stderr
        skipped = {c["account_ref"]: c for c in cli.json("sync", "usage", "--dry-run")["changes"]}
        assert skipped["A2"]["action"] == "skip"

        cli.ok("rules", "include", "--account", "A2", "--service", "MAIL", "--override")
        preview = {c["account_ref"]: c for c in cli.json("sync", "usage", "--dry-run")["changes"]}
        assert preview["A2"]["action"] == "create"
        assert preview["A2"]["explain"]["text"] == (
            "vendor 30 \u2192 account excluded (internal use), included by the account \u00d7 "
            "service rule \u2192 minimum 40 (account \u00d7 service) \u2192 40"
        )
        report = cli.json("sync", "usage")
        assert report["counts"]["created"] == 2, report
        assert billed(cli, target) == {1: 3, 2: 40}
