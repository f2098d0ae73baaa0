"""The sync commands of the CLI contract, end to end against a simulator on a real port."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.e2e.cli import cli_against_simulator, write_usage_csv
from tests.sync.world import seed

ROWS = [
    {
        "account_ref": "A1",
        "account_name": "Client 1 Ltd",
        "service_ref": "MAIL",
        "service_name": "Mail Protection",
        "quantity": 10,
        "cost_price": "10",
        "customer_price": "30",
    },
    {
        "account_ref": "A1",
        "account_name": "Client 1 Ltd",
        "service_ref": "BKP",
        "service_name": "Backup",
        "quantity": 4,
    },
    {
        "account_ref": "A2",
        "account_name": "Client 2 Ltd",
        "service_ref": "MAIL",
        "service_name": "Mail Protection",
        "quantity": 7,
    },
    {
        "account_ref": "T3",
        "account_name": "Client 3 Ltd",
        "account_status": "trial",
        "billed": "false",
        "service_ref": "MAIL",
        "service_name": "Mail Protection",
        "quantity": 2,
    },
]


def _licence_posts(sim: object) -> int:
    from halosync.simulator import Simulator

    assert isinstance(sim, Simulator)
    return len(
        [e for e in sim.state.request_log if e.method == "POST" and e.path.startswith("/api/")]
    )


def test_licence_target_through_the_cli(tmp_path: Path) -> None:
    with cli_against_simulator(tmp_path, seed(3)) as cli:
        cli.connect("licence")
        cli.ok("import", str(write_usage_csv(tmp_path / "usage.csv", ROWS)))
        pulled = cli.json("sync", "customers")
        assert pulled["status"] == "succeeded"
        assert pulled["counts"]["created"] == 6  # 3 clients and 3 items
        for ref, client in (("A1", "1"), ("A2", "2"), ("T3", "3")):
            cli.ok("map", "account", ref, client)
        cli.ok("map", "service", "MAIL", "1")
        cli.ok("map", "service", "BKP", "2")

        cli.sim.state.request_log.clear()
        preview = cli.json("sync", "usage", "--dry-run")
        assert preview["dry_run"] is True
        assert preview["counts"]["created"] == 3
        assert _licence_posts(cli.sim) == 0
        assert cli.sim.state.records("SoftwareLicence") == []
        first = preview["changes"][0]
        assert set(first) >= {
            "account_ref",
            "service_ref",
            "action",
            "halo_id",
            "before",
            "after",
            "reason",
        }

        done = cli.json("sync", "usage")
        assert done["dry_run"] is False
        assert done["counts"] == {
            "created": 3,
            "updated": 0,
            "unchanged": 0,
            "skipped": 1,
            "failed": 0,
        }
        assert len(cli.sim.state.records("SoftwareLicence")) == 3

        cli.sim.state.request_log.clear()
        again = cli.json("sync", "usage")
        assert again["counts"]["unchanged"] == 3
        assert _licence_posts(cli.sim) == 0

        # Someone changes a count by hand in Halo: the report flags drift.
        licence = next(
            lic for lic in cli.sim.state.records("SoftwareLicence") if lic["client_id"] == 2
        )
        cli.sim.state.edit_by_hand("SoftwareLicence", licence["id"], count=9)
        report = cli.json("reconcile", "--csv", str(tmp_path / "rec.csv"))
        drifted = [row for row in report["rows"] if row["drift"]]
        assert [(r["account_ref"], r["halo_quantity"], r["ledger_quantity"]) for r in drifted] == [
            ("A2", 9, 7)
        ]
        with (tmp_path / "rec.csv").open(encoding="utf-8") as handle:
            table = list(csv.reader(handle))
        assert table[0][0] == "account_ref"
        assert len(table) == 1 + len(report["rows"])

        # The next sync puts the vendor's count back.
        fixed = cli.json("sync", "usage", "--account", "A2")
        assert fixed["counts"]["updated"] == 1
        assert [c["account_ref"] for c in fixed["changes"]] == ["A2"]

        logs = cli.json("logs")
        titles = [entry["title"] for entry in logs["entries"]]
        assert "Subscriptions sync completed" in titles
        assert "Customers sync completed" in titles
        assert "Subscriptions sync started" in titles
        completed = next(e for e in logs["entries"] if e["title"] == "Subscriptions sync completed")
        assert "HALO" in completed["details"]
        assert "ms" in completed["details"]
        skipped = next(e for e in logs["entries"] if e["title"] == "Subscriptions skipped")
        assert skipped["level"] == "INFO"
        assert "trial account" in skipped["details"]
        assert "T3" in skipped["details"]
        warnings = cli.json("logs", "--level", "warning")
        assert all(entry["level"] == "WARNING" for entry in warnings["entries"])

        # A script names the mode explicitly: that is its confirmation, announced on stderr.
        changed = cli.in_process("settings", "set", "--prices", "unit", check=True)
        assert "applies from the next sync" in changed.stderr
        assert cli.json("settings", "show")["price_mode"] == "unit"
        cli.ok("settings", "set", "--prices", "unit", "--yes")
        priced = cli.json("sync", "usage")
        update = next(c for c in priced["changes"] if c["action"] == "update")
        assert update["after"] == {"price": 3, "purchase_price": 1}

        # Its client was removed in Halo after it was mapped: Halo's refusal of the create
        # is the documented skip (reactivate or remap), in Halo's own words.
        cli.sim.state.seed({"clients": [{"id": 4, "name": "Client 4 Ltd"}]})
        row = {**ROWS[2], "account_ref": "A4", "account_name": "Client 4 Ltd"}
        cli.ok("import", str(write_usage_csv(tmp_path / "a4.csv", [row])))
        cli.ok("sync", "customers")
        cli.ok("map", "account", "A4", "4")
        cli.sim.state.delete_by_hand("Client", 4)
        refused = cli.json("sync", "usage", "--account", "A4")
        assert (refused["counts"]["failed"], refused["counts"]["skipped"]) == (0, 1)
        (change,) = refused["changes"]
        assert (change["action"], change["level"]) == ("skip", "WARNING")
        assert change["reason"].startswith(
            "HaloPSA client 'Client 4 Ltd' (4) no longer exists; reactivate it in HaloPSA or "
            "map the account to another client (HaloPSA refused the create: client_id: "
            "client_id 4 does not exist.)"
        )


def test_invoice_line_target_through_the_cli(tmp_path: Path) -> None:
    with cli_against_simulator(tmp_path, seed(3, with_invoices=True)) as cli:
        cli.connect("invoice_line")
        cli.ok("import", str(write_usage_csv(tmp_path / "usage.csv", ROWS)))
        assert cli.json("sync", "customers")["status"] == "succeeded"
        cli.ok("map", "account", "A1", "1", "--invoice", "-1")
        cli.ok("map", "account", "A2", "2", "--invoice", "-2")
        cli.ok("map", "service", "MAIL", "1")
        cli.ok("map", "service", "BKP", "2")
        done = cli.json("sync", "usage")
        assert done["counts"]["created"] == 3
        assert done["counts"]["failed"] == 0
        invoice = cli.sim.state.record("RecurringInvoice", -1)
        assert invoice is not None
        by_item = {line["_itemid"]: line for line in invoice["lines"]}
        assert by_item[1]["qty_order"] == 10
        assert by_item[2]["qty_order"] == 4
        assert by_item[3]["qty_order"] == 1  # the line halosync did not add is untouched
        cli.sim.state.request_log.clear()
        again = cli.json("sync", "usage")
        assert again["counts"]["unchanged"] == 3
        assert _licence_posts(cli.sim) == 0

        # The contract: exit 0 on success, non-zero with a clear message on stderr
        # otherwise. A run in which records failed did not bill what it was asked to, and a
        # script (cron, CI) must see it; the JSON document is printed whole all the same,
        # and a dry run exits as the real run would. Invoice -1 never shows its lines: A1's
        # two pairs fail, A2's is unchanged.
        faults = cli.sim.state.faults
        lines = "invoices[].lines"
        faults.inject("omit_field", "GET", "/api/recurringinvoice", times=None, field=lines)
        faults.inject("omit_field", "GET", "/api/recurringinvoice/-1", times=None, field="lines")
        for dry_run in (["--dry-run"], []):
            done = cli.in_process("sync", "usage", *dry_run, "--json")
            assert done.returncode == 1, done.stderr
            document = json.loads(done.stdout)
            assert document["status"] == "succeeded"
            assert (document["counts"]["failed"], document["counts"]["unchanged"]) == (2, 1)
            would = "would fail" if dry_run else "failed"
            assert done.stderr.splitlines()[-1].startswith(f"error: 2 record(s) {would};")
        cli.ok("settings", "set", "--cooldown-minutes", "0")
        queued = cli.in_process("sync", "now", "--wait")
        assert queued.returncode == 1
        assert queued.stderr.splitlines()[-1].startswith("error: 2 record(s) failed;")
        faults.clear()
        assert cli.in_process("sync", "usage").returncode == 0
