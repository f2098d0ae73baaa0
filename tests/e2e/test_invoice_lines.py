"""Recurring-invoice lines as MSPs already have them, end to end (CLI and REST) against the
simulator over HTTP: the one existing line of a mapped item is taken over (same id, new
quantity), several lines for the item mean nothing is written for the pair, "only lines
halosync adds" is the opt-out, and lines halosync does not own stay exactly as they were."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from halosync.simulator import Simulator
from tests.e2e.cli import Cli, cli_against_simulator, write_usage_csv
from tests.sync.world import CLIENT_ID, CLIENT_SECRET
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


def _ready(
    cli: Cli, tmp_path: Path, *, rows: list[dict[str, Any]] = ROWS, path: str = "invoice"
) -> None:
    cli.connect("invoice_line")
    if path != "invoice":
        cli.in_process(
            "connection", "set", "--server", cli.url, "--client-id", CLIENT_ID,
            "--client-secret", CLIENT_SECRET, "--line-write-path", path,
        )  # fmt: skip
    for args in (
        ("import", str(write_usage_csv(tmp_path / "usage.csv", rows))),
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
        assert "why: vendor 12 \u2192 12" in preview.stdout  # the quantity rules' chain
        assert invoices(cli.sim) == before

        done = json.loads(cli.in_process("sync", "usage", "--json").stdout)
        changes = {c["account_ref"]: c for c in done["changes"]}
        assert changes["ACME"]["action"] == "update"
        assert changes["ACME"]["halo_id"] == 24002
        assert changes["ACME"]["reason"].startswith("will take over line 24002")
        assert changes["ACME"]["explain"] == {
            "text": "vendor 12 \u2192 12",
            "steps": [{"rule": "vendor", "text": "vendor 12", "quantity": 12, "scope": None}],
        }
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


def _api_ready(api: Api, *, line_write_path: str = "invoice", backup: bool = False) -> None:
    api.sim.state.seed(invoice_seed())  # over the fixture's clients 1, 2 and invoices -1, -2
    connected = api.connect(target="invoice_line", line_write_path=line_write_path)
    assert connected.status_code == 200, connected.text
    assert api.patch("settings", json={"cooldown_minutes": 0}).status_code == 200
    rows = [(r["account_ref"], "M365", r["quantity"]) for r in ROWS]
    if backup:
        rows.append(("ACME", "BKP", 3))
    usage = {
        "accounts": [
            {"ref": "ACME", "name": "Acme", "status": "active", "billed": True},
            {"ref": "BETA", "name": "Beta", "status": "active", "billed": True},
        ],
        "services": [{"ref": "M365", "name": M365}, {"ref": "BKP", "name": "Backup"}],
        "subscriptions": [
            {
                "account_ref": account,
                "service_ref": service,
                "quantity": quantity,
                "start_date": "2024-01-01",
                "billing_cycle": "Monthly",
                "term": "Monthly",
            }
            for account, service, quantity in rows
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
    if backup:
        assert api.put("mappings/services/BKP", json={"halo_item_id": 2}).status_code == 200


def _api_sync(api: Api, *, by_pair: bool = False) -> dict[Any, Any]:
    """Sync Now through the REST API, the queued run executed by a worker; the run's
    results by account."""
    from halosync.jobs.execute import RunExecutor

    queued = api.post("syncs/usage")
    assert queued.status_code == 202, queued.text
    run_id = int(queued.json()["run_id"])
    RunExecutor(api.database, api.settings, halo_factory=api.halo_factory).execute(run_id)
    run = api.get(f"runs/{run_id}").json()
    assert run["status"] == "succeeded", run
    if by_pair:
        return {(r["account_ref"], r["service_ref"]): r for r in run["results"]}
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


# --- how lines are written: the whole line set per invoice, or updatelines -------------


def _posts(sim: Simulator) -> list[str]:
    return [
        e.path
        for e in sim.state.request_log
        if e.method == "POST" and e.path.lower().startswith("/api/recurringinvoice")
    ]


def _backup_too(tmp_path: Path) -> list[dict[str, Any]]:
    """Acme also buys Backup (item 2), which has no line yet: a line to add."""
    return [
        *ROWS,
        {
            "account_ref": "ACME",
            "account_name": "Acme",
            "service_ref": "BKP",
            "service_name": "Backup",
            "quantity": 3,
        },
    ]


def _seed_with_backup() -> dict[str, Any]:
    seed = invoice_seed()
    seed["items"].append({"id": 2, "name": "Backup", "baseprice": 5.0, "costprice": 2.0})
    return seed


@pytest.mark.parametrize("path", ["invoice", "update_lines"])
def test_cli_both_write_paths_take_over_and_add_leaving_other_lines_as_they_were(
    tmp_path: Path, path: str
) -> None:
    import json

    with cli_against_simulator(tmp_path, _seed_with_backup()) as cli:
        _ready(cli, tmp_path, rows=_backup_too(tmp_path), path=path)
        cli.in_process("map", "service", "BKP", "2")
        shown = json.loads(cli.in_process("connection", "show", "--json").stdout)
        assert shown["line_write_path"] == path
        before = invoices(cli.sim)
        cli.sim.state.request_log.clear()
        done = json.loads(cli.in_process("sync", "usage", "--json").stdout)
        changes = {(c["account_ref"], c["service_ref"]): c for c in done["changes"]}
        assert changes[("ACME", "M365")]["halo_id"] == 24002
        assert changes[("ACME", "BKP")]["action"] == "create"
        if path == "invoice":
            # One POST for the invoice, both of halosync's lines in it.
            assert _posts(cli.sim) == ["/api/RecurringInvoice"]
        else:
            assert set(_posts(cli.sim)) == {"/api/RecurringInvoice/updatelines"}
        after = invoices(cli.sim)
        new_line = changes[("ACME", "BKP")]["halo_id"]
        assert lines_of(after[-1])[new_line]["qty_order"] == 3
        del after[-1]["lines"][[line["id"] for line in after[-1]["lines"]].index(new_line)]
        assert_untouched_except(before, after, {24002: 12})
        # Nothing changed since: a repeat sync posts nothing on either path.
        cli.sim.state.request_log.clear()
        again = json.loads(cli.in_process("sync", "usage", "--json").stdout)
        assert again["counts"]["updated"] == again["counts"]["created"] == 0
        assert _posts(cli.sim) == []


def test_cli_a_hand_edit_between_read_and_write_is_not_lost(tmp_path: Path) -> None:
    """Someone edits the invoice in Halo after halosync read it for the plan and before it
    writes: the invoice is read again just before the POST, the pair planned again from
    what it holds, and the edit (to halosync's line and to a line of someone else's)
    survives."""
    import json
    import threading
    import time

    with _cli(tmp_path) as cli:
        _ready(cli, tmp_path)
        # Halo's single GET of the invoice, which comes just before the write, waits.
        hold = cli.sim.state.faults.inject("hold", "GET", "/api/recurringinvoice/-1", seconds=20)
        outcome: dict[str, Any] = {}
        sync = threading.Thread(
            target=lambda: outcome.update(done=cli.in_process("sync", "usage", "--json"))
        )
        sync.start()
        deadline = time.monotonic() + 30
        while not hold.holding and time.monotonic() < deadline:
            time.sleep(0.01)
        assert hold.holding, "the sync never read the invoice again before writing"
        invoice = invoices(cli.sim)[-1]
        edited = [
            {"id": 24001, "qty_order": 3},  # the consulting line: someone else's
            {"id": 24002, "qty_order": 11},  # the M365 line halosync is about to take over
        ]
        cli.sim.state.edit_by_hand("RecurringInvoice", -1, add_lines=edited)
        between = lines_of(invoices(cli.sim)[-1])
        cli.sim.state.faults.release(hold.id)
        sync.join(timeout=60)
        done = json.loads(outcome["done"].stdout)
        acme = next(c for c in done["changes"] if c["account_ref"] == "ACME")
        assert (acme["action"], acme["halo_id"]) == ("update", 24002)
        assert "changed in HaloPSA after it was read" in acme["reason"]
        assert acme["before"] == {"qty_order": 11.0}
        final = lines_of(invoices(cli.sim)[-1])
        assert final[24001] == between[24001] != lines_of(invoice)[24001]
        assert final[24002]["qty_order"] == 12


@pytest.mark.parametrize("path", ["invoice", "update_lines"])
def test_rest_both_paths_show_halos_field_message_for_a_refused_line(
    tmp_path: Path, path: str
) -> None:
    """Through the REST API on each write path: the line Halo refuses fails alone with
    Halo's own field message in the run's results, the other line on the same invoice is
    written, and the connection says which path it uses."""
    api = Api(tmp_path)
    try:
        _api_ready(api, line_write_path=path, backup=True)
        assert api.get("connection").json()["line_write_path"] == path
        api.sim.state.delete_by_hand("Item", 2)  # Backup's item is gone from Halo
        api.sim.state.request_log.clear()
        results = _api_sync(api, by_pair=True)
        refused = results[("ACME", "BKP")]
        assert (refused["action"], refused["level"]) == ("fail", "ERROR")
        assert "_itemid: _itemid 2 does not exist." in refused["reason"], refused
        taken = results[("ACME", "M365")]
        assert (taken["action"], taken["halo_id"]) == ("update", 24002)
        assert lines_of(invoices(api.sim)[-1])[24002]["qty_order"] == 12
        posts = _posts(api.sim)
        if path == "invoice":
            # The invoice's POST was refused for the new line; the rest went again.
            assert posts == ["/api/RecurringInvoice", "/api/RecurringInvoice"]
        else:
            assert set(posts) == {"/api/RecurringInvoice/updatelines"}
    finally:
        api.queue.close()
        api.database.dispose()


def test_cli_a_change_planned_again_after_a_hand_edit_is_screened_for_review(
    tmp_path: Path,
) -> None:
    """The invoice changed between read and write, so its pairs are planned again: the
    re-planned changes go through the review policy like the first plan. Acme's M365 line
    read at 25 (25 -> 30 passes ± 50 %) is edited to 10 by hand, next to someone else's
    line: 10 -> 30 is held (in the queue, nothing written to that line) while the Backup
    line of the same invoice is still added."""
    import json
    import threading
    import time

    seed = _seed_with_backup()
    seed["recurring_invoices"][0]["lines"][1]["qty_order"] = 25
    rows = [{**row, "quantity": 30} if row["account_ref"] == "ACME" else row for row in ROWS]
    with cli_against_simulator(tmp_path, seed) as cli:
        _ready(cli, tmp_path, rows=[*rows, _backup_too(tmp_path)[-1]])
        cli.in_process("map", "service", "BKP", "2")
        policy = cli.in_process("review", "policy", "--change-above-percent", "50")
        assert policy.returncode == 0, policy.stderr
        hold = cli.sim.state.faults.inject("hold", "GET", "/api/recurringinvoice/-1", seconds=20)
        outcome: dict[str, Any] = {}
        sync = threading.Thread(
            target=lambda: outcome.update(done=cli.in_process("sync", "usage", "--json"))
        )
        sync.start()
        deadline = time.monotonic() + 30
        while not hold.holding and time.monotonic() < deadline:
            time.sleep(0.01)
        assert hold.holding, "the sync never read the invoice again before writing"
        edited = [{"id": 24001, "qty_order": 3}, {"id": 24002, "qty_order": 10}]
        cli.sim.state.edit_by_hand("RecurringInvoice", -1, add_lines=edited)
        cli.sim.state.faults.release(hold.id)
        sync.join(timeout=60)
        done = json.loads(outcome["done"].stdout)
        changes = {(c["account_ref"], c["service_ref"]): c for c in done["changes"]}
        m365 = changes[("ACME", "M365")]
        assert (m365["action"], m365["held"]) == ("skip", True), m365
        assert "changed in HaloPSA after it was read" in m365["reason"]
        assert "held for review" in m365["reason"]
        assert "+200 %" in m365["reason"]
        final = lines_of(invoices(cli.sim)[-1])
        assert final[24002]["qty_order"] == 10  # the hand edit, not the held 30
        assert final[24001]["qty_order"] == 3
        backup = changes[("ACME", "BKP")]
        assert backup["action"] == "create"
        assert final[backup["halo_id"]]["qty_order"] == 3
        queue = json.loads(cli.in_process("review", "list", "--json").stdout)
        items = queue["items"] if isinstance(queue, dict) else queue
        held = [i for i in items if (i["account_ref"], i["service_ref"]) == ("ACME", "M365")]
        assert [(i["halo_record_id"], i["after"]["qty_order"]) for i in held] == [(24002, 30)]
