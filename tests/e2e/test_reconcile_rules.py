"""``halosync reconcile`` compares HaloPSA with the count the quantity rules bill and names
the rule that explains a difference from the vendor's count; an excluded pair is shown as
excluded with its reason. Both targets, against the simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import cli_against_simulator
from tests.e2e.test_cli_rules import mail_mapped
from tests.sync.world import seed


@pytest.mark.parametrize("target", ["licence", "invoice_line"])
def test_reconciliation_names_the_rule_and_shows_exclusions(tmp_path: Path, target: str) -> None:
    with cli_against_simulator(tmp_path, seed(3, with_invoices=True)) as cli:
        mail_mapped(cli, tmp_path, target)
        cli.ok("rules", "set", "--service", "MAIL", "--minimum", "10")

        def rows() -> dict[str, Any]:
            report = cli.json("reconcile")
            return {row["account_ref"]: row for row in report["rows"]} | {"": report}

        before = rows()
        assert before["A1"]["status"] == "out_of_date"
        assert before["A1"]["ruled_quantity"] == 10
        assert before["A1"]["why"] == (
            "the rules bill 10 (vendor 3 with minimum 10 (service)); HaloPSA holds nothing"
        )
        cli.ok("sync", "usage")
        after = rows()
        a1, a2 = after["A1"], after["A2"]
        assert (a1["vendor_quantity"], a1["ruled_quantity"], a1["halo_quantity"]) == (3, 10, 10)
        assert a1["status"] == "in_step"
        assert a1["why"] == "HaloPSA 10 = vendor 3 with minimum 10 (service)"
        assert a1["explain"] == "vendor 3 \u2192 minimum 10 (service) \u2192 10"
        assert (a2["status"], a2["why"]) == ("in_step", "")  # 30 is above the minimum

        cli.ok("rules", "exclude", "--account", "A2", "--reason", "internal use")
        excluded = rows()
        assert excluded["A2"]["status"] == "excluded"
        assert excluded["A2"]["excluded"] == "excluded from billing: internal use (account)"
        assert excluded["A2"]["halo_quantity"] == 30  # halosync left HaloPSA as it was
        assert excluded[""]["excluded"] == 1
        text = cli.ok("reconcile")
        assert "why: HaloPSA 10 = vendor 3 with minimum 10 (service)" in text
        assert "why: excluded from billing: internal use (account)" in text
        assert "1 excluded from billing." in text
