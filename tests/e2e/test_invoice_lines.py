"""Recurring-invoice lines as MSPs already have them, end to end (CLI and REST) against the
simulator over HTTP: the one existing line of a mapped item is taken over (same id, new
quantity), several lines for the item mean nothing is written for the pair, "only lines
halosync adds" is the opt-out, and lines halosync does not own stay exactly as they were."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from halosync.simulator import Simulator
from tests.e2e.cli import Cli, cli_against_simulator, write_usage_csv
from tests.web.api.conftest import Api

M365 = "M365 Business Premium"
TOTALS = ("net_amount", "net_total", "tax_amount", "total_price", "total_tax")
"""What Halo works out from a line's quantity and prices."""


def invoice_seed() -> dict[str, Any]:
    """Acme's invoice bills M365 on line 24002 (qty 10) next to a consulting line halosync
    does not own; Beta's invoice has two M365 lines (24010 and 24011)."""
    consulting = {
        "_itemid": 3,
        "qty_order": 2,
        "unit_price": 100.0,
        "unit_cost": 40.0,
        "item_shortdescription": "Consulting",
        "item_longdescription": "Monthly consulting, 2 days",
        "nominal_code": "4000",
    }
    return {
        "clients": [{"id": 1, "name": "Acme"}, {"id": 2, "name": "Beta"}],
        "items": [
            {"id": 1, "name": M365, "baseprice": 20.0, "costprice": 15.0},
            {"id": 3, "name": "Consulting", "baseprice": 100.0, "costprice": 40.0},
        ],
        "recurring_invoices": [
            {
                "id": -1,
                "client_id": 1,
                "reference": "Acme - monthly",
                "lines": [
                    {"id": 24001, **consulting},
                    {
                        "id": 24002,
                        "_itemid": 1,
                        "qty_order": 10,
                        "unit_price": 20.0,
                        "item_shortdescription": M365,
                    },
                ],
            },
            {
                "id": -2,
                "client_id": 2,
                "reference": "Beta - monthly",
                "lines": [
                    {"id": 24010, "_itemid": 1, "qty_order": 3, "item_shortdescription": M365},
                    {"id": 24011, "_itemid": 1, "qty_order": 4, "item_shortdescription": M365},
                    {"id": 24012, **consulting},
                ],
            },
        ],
    }


ROWS = [
    {
        "account_ref": ref,
        "account_name": name,
        "service_ref": "M365",
        "service_name": M365,
        "quantity": qty,
    }
    for ref, name, qty in (("ACME", "Acme", 12), ("BETA", "Beta", 5))
]


def invoices(sim: Simulator) -> dict[int, dict[str, Any]]:
    return {inv: copy.deepcopy(sim.state.record("RecurringInvoice", inv) or {}) for inv in (-1, -2)}


def lines_of(invoice: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {int(line["id"]): line for line in invoice["lines"]}


def assert_untouched_except(
    before: dict[int, dict[str, Any]], after: dict[int, dict[str, Any]], ours: dict[int, Any]
) -> None:
    """Every line but ``ours`` (line id -> expected qty) has every field as it was."""
    for invoice_id, invoice in before.items():
        old, new = lines_of(invoice), lines_of(after[invoice_id])
        assert set(new) == set(old), f"invoice {invoice_id} gained or lost lines"
        for line_id, line in old.items():
            if line_id in ours:
                assert new[line_id]["qty_order"] == ours[line_id]
                changed = {k for k in line if line[k] != new[line_id].get(k)}
                assert changed <= {"qty_order", "unit_price", "unit_cost", *TOTALS}, changed
            else:
                assert new[line_id] == line, f"line {line_id} was altered"


def _cli(tmp_path: Path) -> Any:
    return cli_against_simulator(tmp_path, invoice_seed())


def _ready(cli: Cli, tmp_path: Path) -> None:
    cli.connect("invoice_line")
    for args in (
        ("import", str(write_usage_csv(tmp_path / "usage.csv", ROWS))),
        ("sync", "customers"),
        ("map", "account", "ACME", "1", "--invoice", "-1"),
        ("map", "account", "BETA", "2", "--invoice", "-2"),
        ("map", "service", "M365", "1"),
    ):
        done = cli.in_process(*args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)


def test_cli_takes_over_the_line_and_leaves_several_lines_alone(tmp_path: Path) -> None:
    import json

    with _cli(tmp_path) as cli:
        _ready(cli, tmp_path)
        before = invoices(cli.sim)

        preview = cli.in_process("sync", "usage", "--dry-run")
        assert preview.returncode == 0, preview.stderr
        assert f"will take over line 24002 ({M365}, qty 10 \u2192 12)" in preview.stdout
        assert invoices(cli.sim) == before

        done = json.loads(cli.in_process("sync", "usage", "--json").stdout)
        changes = {c["account_ref"]: c for c in done["changes"]}
        assert changes["ACME"]["action"] == "update"
        assert changes["ACME"]["halo_id"] == 24002
        assert changes["ACME"]["reason"].startswith("will take over line 24002")
        several = changes["BETA"]
        assert (several["action"], several["level"]) == ("skip", "WARNING")
        assert "lines 24010, 24011" in several["reason"]
        after = invoices(cli.sim)
        assert_untouched_except(before, after, {24002: 12})

        # The grid shows Beta as needing attention; the activity log has the WARNING.
        grid = json.loads(cli.in_process("map", "list", "--json").stdout)
        attention = {row["account_ref"]: row["attention"] for row in grid["rows"]}
        assert attention["ACME"] == []
        assert "24010, 24011" in attention["BETA"][0]
        logs = cli.in_process("logs", "--level", "WARNING")
        assert "24010, 24011" in logs.stdout

        # Taken over, the line is halosync's: a new count goes to the same line.
        write_usage_csv(tmp_path / "usage.csv", [{**ROWS[0], "quantity": 14}, ROWS[1]])
        cli.in_process("import", str(tmp_path / "usage.csv"))
        again = json.loads(cli.in_process("sync", "usage", "--json").stdout)
        acme = next(c for c in again["changes"] if c["account_ref"] == "ACME")
        assert (acme["action"], acme["halo_id"]) == ("update", 24002)
        assert_untouched_except(before, invoices(cli.sim), {24002: 14})


def test_cli_only_lines_halosync_adds_writes_nothing_to_an_existing_line(tmp_path: Path) -> None:
    import json

    with _cli(tmp_path) as cli:
        _ready(cli, tmp_path)
        shown = json.loads(cli.in_process("settings", "show", "--json").stdout)
        assert shown["adopt_existing_lines"] is True
        cli.in_process("settings", "set", "--adopt-existing-lines", "false")
        before = invoices(cli.sim)
        done = json.loads(cli.in_process("sync", "usage", "--json").stdout)
        acme = next(c for c in done["changes"] if c["account_ref"] == "ACME")
        assert (acme["action"], acme["level"]) == ("skip", "WARNING")
        assert "only lines halosync adds" in acme["reason"]
        assert invoices(cli.sim) == before


def _api_ready(api: Api) -> None:
    api.sim.state.seed(invoice_seed())  # over the fixture's clients 1, 2 and invoices -1, -2
    assert api.connect(target="invoice_line").status_code == 200
    assert api.patch("settings", json={"cooldown_minutes": 0}).status_code == 200
    usage = {
        "accounts": [
            {"ref": "ACME", "name": "Acme", "status": "active", "billed": True},
            {"ref": "BETA", "name": "Beta", "status": "active", "billed": True},
        ],
        "services": [{"ref": "M365", "name": M365}],
        "subscriptions": [
            {
                "account_ref": r["account_ref"],
                "service_ref": "M365",
                "quantity": r["quantity"],
                "start_date": "2024-01-01",
                "billing_cycle": "Monthly",
                "term": "Monthly",
            }
            for r in ROWS
        ],
    }
    imported = api.post("usage", json=usage)
    assert imported.status_code == 200, imported.text
    api.pull_customers()
    for ref, client, invoice in (("ACME", 1, -1), ("BETA", 2, -2)):
        body = {"halo_client_id": client, "recurring_invoice_id": invoice}
        response = api.put(f"mappings/accounts/{ref}", json=body)
        assert response.status_code == 200, response.text
    assert api.put("mappings/services/M365", json={"halo_item_id": 1}).status_code == 200


def _api_sync(api: Api) -> dict[str, Any]:
    """Sync Now through the REST API, the queued run executed by a worker; the run's
    results by account."""
    from halosync.jobs.execute import RunExecutor

    queued = api.post("syncs/usage")
    assert queued.status_code == 202, queued.text
    run_id = int(queued.json()["run_id"])
    RunExecutor(api.database, api.settings, halo_factory=api.halo_factory).execute(run_id)
    run = api.get(f"runs/{run_id}").json()
    assert run["status"] == "succeeded", run
    return {r["account_ref"]: r for r in run["results"]}


def test_rest_takes_over_the_line_flags_several_and_honours_the_opt_out(tmp_path: Path) -> None:
    api = Api(tmp_path)
    try:
        _api_ready(api)
        before = invoices(api.sim)
        preview = api.post("syncs/usage/preview")
        assert preview.status_code == 200, preview.text
        planned = {c["account_ref"]: c for c in preview.json()["changes"]}
        assert planned["ACME"]["reason"].startswith(
            f"will take over line 24002 ({M365}, qty 10 \u2192 12)"
        )
        assert "lines 24010, 24011" in planned["BETA"]["reason"]
        assert invoices(api.sim) == before

        rows = api.get("mappings/accounts").json()["items"]
        assert "24010, 24011" in next(r for r in rows if r["account_ref"] == "BETA")["attention"][0]

        assert api.patch("settings", json={"adopt_existing_lines": False}).status_code == 200
        opted_out = _api_sync(api)
        assert opted_out["ACME"]["action"] == "skip"
        assert "only lines halosync adds" in opted_out["ACME"]["reason"]
        assert invoices(api.sim) == before

        assert api.patch("settings", json={"adopt_existing_lines": True}).status_code == 200
        results = _api_sync(api)
        assert (results["ACME"]["action"], results["ACME"]["halo_id"]) == ("update", 24002)
        assert (results["BETA"]["action"], results["BETA"]["level"]) == ("skip", "WARNING")
        assert_untouched_except(before, invoices(api.sim), {24002: 12})
    finally:
        api.queue.close()
        api.database.dispose()
