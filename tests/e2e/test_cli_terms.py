"""Several terms of one account × service (monthly and annual), against the simulator over
HTTP on both targets: summed, kept apart or one picked, as ``halosync rules`` says; a
repeated sync writes nothing, and changing the rule never bills a term twice."""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from halosync.settings import Settings
from halosync.store.database import Database
from halosync.store.tokens import ApiTokenRepository
from halosync.store.workspaces import WorkspaceRepository
from halosync.users import create_user
from halosync.web.app import create_app
from tests.cli_inprocess import data_folder
from tests.e2e.cli import Cli, cli_against_simulator, write_usage_csv
from tests.sync.world import seed
from tests.web.ui.world import PASSWORD, log_in

ROWS = [
    {"account_ref": "A1", "account_name": "Client 1 Ltd", "service_ref": "MAIL",
     "service_name": "Mail Protection", "quantity": 10, "term": "monthly"},
    {"account_ref": "A1", "account_name": "Client 1 Ltd", "service_ref": "MAIL",
     "service_name": "Mail Protection", "quantity": 5, "term": "annual",
     "start_date": "2024-03-01"},
]  # fmt: skip


MONTHLY_NOT_PICKED = (
    "vendor monthly 10 → term monthly not picked: the service rule picks the longest term, "
    "annual → 0"
)
"""The chain of monthly's record once annual is picked: the vendor still sends monthly."""
WHY_NOT_PICKED = (
    "the rules bill 0 (vendor monthly 10 with term monthly not picked: the service rule "
    "picks the longest term, annual); HaloPSA holds 10"
)


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
    report: dict[str, Any] = cli.json("sync", "usage")
    again = cli.json("sync", "usage")
    assert again["counts"]["created"] == again["counts"]["updated"] == 0, again
    return report


@pytest.mark.parametrize("target", ["licence", "invoice_line"])
def test_monthly_and_annual_summed_kept_apart_or_picked(tmp_path: Path, target: str) -> None:
    with cli_against_simulator(tmp_path, seed(1, with_invoices=True)) as cli:
        cli.connect(target)
        report = cli.json("import", str(write_usage_csv(tmp_path / "u.csv", ROWS)))
        assert report["subscriptions"]["created"] == 2
        cli.ok("sync", "customers")
        invoice = ["--invoice", "-1"] if target == "invoice_line" else []
        cli.ok("map", "account", "A1", "1", *invoice)
        cli.ok("map", "service", "MAIL", "1")

        # No rule: the terms are summed, on one record, and the dry run says so.
        preview = cli.json("sync", "usage", "--dry-run")
        (change,) = preview["changes"]
        assert change["explain"]["text"] == "vendor 15 (annual 5 + monthly 10, summed) → 15"
        assert change["term"] == ""
        summed = sync(cli)
        assert summed["counts"]["created"] == 1
        assert billed(cli, target) == [15]

        # Kept apart: the summed record bills monthly from now on, annual gets its own.
        cli.ok("rules", "set", "--service", "MAIL", "--terms", "apart")
        apart = sync(cli)
        assert (apart["counts"]["created"], apart["counts"]["updated"]) == (1, 1)
        assert sorted(c["term"] for c in apart["changes"]) == ["annual", "monthly"]
        assert billed(cli, target) == [5, 10]
        rows = cli.json("reconcile")["rows"]
        assert [(r["term"], r["halo_quantity"], r["status"]) for r in rows] == [
            ("annual", 5, "in_step"),
            ("monthly", 10, "in_step"),
        ]
        text = cli.ok("reconcile")
        assert "MAIL (annual)" in text
        assert ".0000" not in text  # an invoice line's 10.0000 reads 10, as the vendor's

        # One picked: the annual record bills it; monthly's goes to 0 once approved
        # (a drop to 0 waits for review by default), never billed twice.
        cli.ok("rules", "set", "--service", "MAIL", "--terms", "pick", "--terms-pick", "longest")
        picked = cli.json("sync", "usage")
        reasons = [c["explain"]["text"] for c in picked["changes"]]
        assert (
            "vendor annual 5 (longest term, picked by the service rule; monthly 10 not billed)"
            " → 5" in reasons
        )
        assert MONTHLY_NOT_PICKED in reasons
        held = cli.json("review", "list")
        # The held change is monthly's record's: the review queue names its term.
        assert [item["term"] for item in held["items"]] == ["monthly"]
        assert "Mail Protection), term monthly · " in cli.ok("review", "list")
        for item in held["items"]:
            cli.ok("review", "approve", str(item["id"]))
        assert billed(cli, target) == [0, 5]
        again = cli.json("sync", "usage")
        assert again["counts"]["created"] == again["counts"]["updated"] == 0, again

        # Kept apart again, then a snapshot without monthly: the vendor no longer sends it,
        # and no output says the vendor cancelled it.
        cli.ok("rules", "set", "--service", "MAIL", "--terms", "apart")
        cli.json("sync", "usage")
        for item in cli.json("review", "list")["items"]:
            cli.ok("review", "approve", str(item["id"]))
        assert billed(cli, target) == [5, 10]
        annual = write_usage_csv(tmp_path / "annual.csv", ROWS[1:])
        snapshot = cli.json("import", str(annual), "--snapshot")
        assert snapshot["cancelled"] == [
            {"account_ref": "A1", "service_ref": "MAIL", "term": "monthly"}
        ]
        gone = cli.json("sync", "usage", "--dry-run")["changes"]
        (stops,) = [c for c in gone if c["term"] == "monthly"]
        assert stops["explain"]["text"] == (
            "vendor monthly 10 (no longer sent, kept apart from annual by the service rule) "
            "→ term monthly no longer sent by the vendor (not in the snapshot): billing stops → 0"
        )
        (annual_change,) = [c for c in gone if c["term"] == "annual"]
        assert "monthly" not in annual_change["explain"]["text"]
        rows = {row["term"]: row for row in cli.json("reconcile")["rows"]}
        assert (rows["monthly"]["vendor_quantity"], rows["monthly"]["ruled_quantity"]) == (None, 0)
        assert (
            "term monthly no longer sent by the vendor (not in the snapshot)"
            in rows["monthly"]["why"]
        )
        assert "cancelled" not in stops["explain"]["text"] + rows["monthly"]["why"]


def test_terms_kept_apart_planned_again_after_a_hand_edit_each_keep_their_line(
    tmp_path: Path,
) -> None:
    """Monthly and annual kept apart bill two lines of one invoice. The invoice is edited
    by hand between read and write, so both changes are planned again: each term is matched
    to its own re-planned change (the term is part of its identity), so monthly's line gets
    monthly's new quantity and annual's line annual's, never one term's value on both."""
    import json
    import threading
    import time

    with cli_against_simulator(tmp_path, seed(1, with_invoices=True)) as cli:
        cli.connect("invoice_line")
        cli.json("import", str(write_usage_csv(tmp_path / "u.csv", ROWS)))
        cli.ok("sync", "customers")
        cli.ok("map", "account", "A1", "1", "--invoice", "-1")
        cli.ok("map", "service", "MAIL", "1")
        cli.ok("rules", "set", "--service", "MAIL", "--terms", "apart")
        first = sync(cli)
        lines = {c["term"]: c["halo_id"] for c in first["changes"]}
        assert billed(cli, "invoice_line") == [5, 10]

        grown = [{**ROWS[0], "quantity": 12}, {**ROWS[1], "quantity": 7}]
        cli.json("import", str(write_usage_csv(tmp_path / "u2.csv", grown)))
        # Halo's GET of the invoice just before the write waits while someone edits it.
        hold = cli.sim.state.faults.inject("hold", "GET", "/api/recurringinvoice/-1", seconds=20)
        outcome: dict[str, Any] = {}
        run = threading.Thread(
            target=lambda: outcome.update(done=cli.in_process("sync", "usage", "--json"))
        )
        run.start()
        deadline = time.monotonic() + 30
        while not hold.holding and time.monotonic() < deadline:
            time.sleep(0.01)
        assert hold.holding, "the sync never read the invoice again before writing"
        edited = [{"id": lines["monthly"], "qty_order": 11}]
        cli.sim.state.edit_by_hand("RecurringInvoice", -1, add_lines=edited)
        cli.sim.state.faults.release(hold.id)
        run.join(timeout=60)
        done = json.loads(outcome["done"].stdout)
        changes = {c["term"]: c for c in done["changes"]}
        assert set(changes) == {"monthly", "annual"}, done["changes"]
        for term, qty in (("monthly", 12), ("annual", 7)):
            assert changes[term]["halo_id"] == lines[term], changes[term]
            assert changes[term]["after"] == {"qty_order": qty}, changes[term]
            assert "changed in HaloPSA after it was read" in changes[term]["reason"]
        assert changes["monthly"]["before"] == {"qty_order": 11.0}
        invoice = cli.sim.state.record("RecurringInvoice", -1)
        assert invoice is not None
        final = {int(line["id"]): line["qty_order"] for line in invoice["lines"]}
        assert (final[lines["monthly"]], final[lines["annual"]]) == (12, 7)


@pytest.mark.parametrize("target", ["licence", "invoice_line"])
def test_a_term_not_picked_is_explained_as_such_on_every_surface(
    tmp_path: Path, target: str
) -> None:
    """Kept apart, then annual picked: monthly's record goes to 0, and the dry run, the
    REST preview, the UI's preview, the sync's --json, the run's results (REST and UI) and
    the reconciliation (CLI, REST, UI) all say monthly was not picked (never that it was
    cancelled), and the reconciliation shows the vendor's 10 for it, not 0."""
    with cli_against_simulator(tmp_path, seed(1, with_invoices=True)) as cli:
        cli.connect(target)
        cli.json("import", str(write_usage_csv(tmp_path / "u.csv", ROWS)))
        cli.ok("sync", "customers")
        invoice = ["--invoice", "-1"] if target == "invoice_line" else []
        cli.ok("map", "account", "A1", "1", *invoice)
        cli.ok("map", "service", "MAIL", "1")
        cli.ok("rules", "set", "--service", "MAIL", "--terms", "apart")
        sync(cli)
        cli.ok("rules", "set", "--service", "MAIL", "--terms", "pick", "--terms-pick", "longest")

        def monthly(changes: list[dict[str, Any]]) -> dict[str, Any]:
            (change,) = [c for c in changes if c["term"] == "monthly"]
            return change

        preview = cli.json("sync", "usage", "--dry-run")
        assert monthly(preview["changes"])["explain"]["text"] == MONTHLY_NOT_PICKED
        report = cli.json("sync", "usage")  # the drop to 0 waits for review
        held = monthly(report["changes"])
        assert (held["explain"]["text"], held["held"]) == (MONTHLY_NOT_PICKED, True)
        rows = {row["term"]: row for row in cli.json("reconcile")["rows"]}
        row = rows["monthly"]
        assert (row["vendor_quantity"], row["ruled_quantity"], row["halo_quantity"]) == (10, 0, 10)
        assert (row["status"], row["why"]) == ("out_of_date", WHY_NOT_PICKED)
        assert "cancelled" not in row["explain"]
        assert f"why: {WHY_NOT_PICKED}" in cli.ok("reconcile")

        with _web(tmp_path) as (client, api, workspace):
            done = api.post(f"/api/v1/workspaces/{workspace}/syncs/usage/preview")
            assert done.status_code == 200, done.text
            assert monthly(done.json()["changes"])["explain"]["text"] == MONTHLY_NOT_PICKED
            run = api.get(f"/api/v1/workspaces/{workspace}/runs/{report['run_id']}")
            assert run.status_code == 200, run.text
            texts = [r["explain"]["text"] for r in run.json()["results"] if r["explain"]]
            assert MONTHLY_NOT_PICKED in texts
            recon = api.get(f"/api/v1/workspaces/{workspace}/reconciliation").json()
            (row,) = [r for r in recon["rows"] if r["term"] == "monthly"]
            assert (row["vendor_quantity"], row["why"]) == (10, WHY_NOT_PICKED)
            token = log_in(client, "ada@acme.test")
            w = f"/ui/w/{workspace}"
            page = client.post(f"{w}/preview", data={"csrf_token": token}).text
            assert html.escape(MONTHLY_NOT_PICKED) in page
            page = client.get(f"{w}/results", params={"run": report["run_id"]}).text
            assert html.escape(MONTHLY_NOT_PICKED) in page
            page = client.get(f"{w}/reconcile").text
            assert html.escape(WHY_NOT_PICKED) in page
            assert ".0000" not in page
            for page in (client.get(f"{w}/reconcile").text, client.get(f"{w}/results").text):
                assert "subscription cancelled" not in page


@contextmanager
def _web(tmp_path: Path) -> Iterator[tuple[TestClient, TestClient, int]]:
    """The web app on the CLI's database: a client for the UI (user ada@acme.test) and one
    for the REST API (an admin token), and the workspace's id."""
    settings = Settings(
        data_dir=data_folder(tmp_path),
        database_url=f"sqlite:///{tmp_path / 'halosync.db'}",
        allow_private_networks=True,
    )
    database = Database.from_settings(settings)
    with database.session() as session:
        workspace = WorkspaceRepository(session).resolve("acme")
        token = ApiTokenRepository(session, workspace.id).create("ci").token
        create_user(
            session, email="ada@acme.test", name="Ada", password=PASSWORD, workspace=workspace
        )
        workspace_id = workspace.id
    app = create_app(settings, database=database)
    try:
        with TestClient(app) as client, TestClient(app) as api:
            api.headers["Authorization"] = f"Bearer {token}"
            yield client, api, workspace_id
    finally:
        database.dispose()
