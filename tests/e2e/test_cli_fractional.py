"""Fractional vendor counts end to end (issue 17, rounding): imported exactly, never cut
for a licence without a rounding rule, rounded when one says how, written as they are to
an invoice line; a repeat sync writes nothing. Against the simulator, on SQLite and (the
import's COPY staging) PostgreSQL."""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli import Cli, cli_against_simulator
from tests.e2e.test_cli_rules import billed, mail_mapped
from tests.e2e.test_cli_terms import _web
from tests.sync.world import seed
from tests.web.ui.world import log_in

ROWS = [
    {"account_ref": "A1", "account_name": "Client 1 Ltd", "service_ref": "MAIL",
     "service_name": "Mail Protection", "quantity": "12.4"},
    {"account_ref": "A2", "account_name": "Client 2 Ltd", "service_ref": "MAIL",
     "service_name": "Mail Protection", "quantity": "2.5"},
]  # fmt: skip


def _changes(report: dict[str, Any]) -> dict[str, Any]:
    return {change["account_ref"]: change for change in report["changes"]}


@contextmanager
def _mapped(
    request: pytest.FixtureRequest, tmp_path: Path, database: str, target: str
) -> Iterator[Cli]:
    """ROWS imported into ``database`` (sqlite, or postgresql: a throwaway schema) and
    mapped to clients 1 and 2 and item 1 on ``target``."""
    env = {}
    if database == "postgresql":
        env["HALOSYNC_DATABASE_URL"] = request.getfixturevalue("pg_schema_url")
    with cli_against_simulator(tmp_path, seed(3, with_invoices=True), **env) as cli:
        mail_mapped(cli, tmp_path, target, ROWS)
        yield cli


DATABASES = pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)


@DATABASES
def test_a_fractional_licence_count_waits_for_a_rounding_rule(
    tmp_path: Path, request: pytest.FixtureRequest, database: str
) -> None:
    with _mapped(request, tmp_path, database, "licence") as cli:
        stored = {r["account_ref"]: r["vendor_quantity"] for r in cli.json("reconcile")["rows"]}
        assert stored == {"A1": 12.4, "A2": 2.5}  # stored exactly

        # No rounding rule: skipped with a WARNING naming the count and the fix; nothing written.
        first = cli.json("sync", "usage")
        skipped = _changes(first)
        assert first["counts"]["skipped"] == 2, first
        assert skipped["A1"]["level"] == "WARNING"
        assert skipped["A1"]["reason"].startswith(
            "quantity 12.4 is not a whole number, and a HaloPSA licence count must be, so "
            "nothing was written; set a rounding rule for service MAIL (or for account A1 "
            "\u00d7 service MAIL)"
        )
        assert billed(cli, "licence") == {}
        rows = {row["account_ref"]: row for row in cli.json("reconcile")["rows"]}
        assert rows["A1"]["status"] == "skipped"
        assert rows["A1"]["skipped"] == skipped["A1"]["reason"]
        # The log says it once for the run, with the fix; not once per pair.
        warnings = cli.json("logs", "--level", "warning")["entries"]
        assert [(e["title"], e["details"][:3]) for e in warnings] == [
            ("Counts without a rounding rule", "2 s")
        ]
        assert warnings[0]["details"].endswith("--service MAIL --rounding up. MAIL: A1, A2.")

        # Rounding up for the service: 12.4 → 13, 2.5 → 3, and the chain says so.
        cli.ok("rules", "set", "--service", "MAIL", "--rounding", "up")
        preview = _changes(cli.json("sync", "usage", "--dry-run"))
        assert (
            preview["A1"]["explain"]["text"] == "vendor 12.4 \u2192 rounded up (service) \u2192 13"
        )
        steps = preview["A1"]["explain"]["steps"]
        assert [(s["rule"], s["quantity"]) for s in steps] == [("vendor", 12.4), ("rounding", 13)]
        assert "why: vendor 12.4 \u2192 rounded up (service) \u2192 13" in cli.ok(
            "sync", "usage", "--dry-run"
        )
        second = cli.json("sync", "usage")
        assert second["counts"]["created"] == 2, second
        assert billed(cli, "licence") == {1: 13, 2: 3}
        rows = {row["account_ref"]: row for row in cli.json("reconcile")["rows"]}
        assert (rows["A1"]["vendor_quantity"], rows["A1"]["ruled_quantity"]) == (12.4, 13)
        assert rows["A1"]["status"] == "in_step"

        # A repeat sync writes nothing.
        again = cli.json("sync", "usage")
        assert again["counts"]["unchanged"] == 2, again
        assert billed(cli, "licence") == {1: 13, 2: 3}


@DATABASES
def test_an_invoice_line_takes_the_fraction_as_it_is(
    tmp_path: Path, request: pytest.FixtureRequest, database: str
) -> None:
    with _mapped(request, tmp_path, database, "invoice_line") as cli:
        if database == "sqlite":
            # The UI's dry run and reconciliation write the fraction as people do.
            with _web(tmp_path) as (client, _api, workspace):
                token = log_in(client, "ada@acme.test")
                page = client.post(f"/ui/w/{workspace}/preview", data={"csrf_token": token}).text
                assert "qty_order: 2.5\n" in page
                assert html.escape("vendor 2.5 \u2192 2.5") in page
                assert "<td>12.4</td>" in client.get(f"/ui/w/{workspace}/reconcile").text
        first = cli.json("sync", "usage")
        assert first["counts"]["created"] == 2, first
        assert billed(cli, "invoice_line") == {1: 12.4, 2: 2.5}
        created = _changes(first)
        assert created["A2"]["explain"]["text"] == "vendor 2.5 \u2192 2.5"

        # Halo's doubles (2.5000000001, 12.4 as 12.399999999) are the same quantity: a
        # repeat sync writes nothing.
        for client_id, noisy in ((1, 12.399999999), (2, 2.5000000001)):
            invoice = cli.sim.state.record("RecurringInvoice", -client_id)
            assert invoice is not None
            for line in invoice["lines"]:
                if line.get("_itemid") == 1:
                    line["qty_order"] = noisy
        again = cli.json("sync", "usage")
        assert again["counts"]["unchanged"] == 2, again
        rows = {row["account_ref"]: row for row in cli.json("reconcile")["rows"]}
        assert (rows["A2"]["vendor_quantity"], rows["A2"]["halo_quantity"]) == (2.5, 2.5)
        assert rows["A2"]["status"] == "in_step"

        # A rounding rule applies to a line too.
        cli.ok("rules", "set", "--service", "MAIL", "--rounding", "nearest")
        ruled = _changes(cli.json("sync", "usage"))
        assert ruled["A2"]["after"]["qty_order"] == 3
        assert (
            ruled["A2"]["explain"]["text"] == "vendor 2.5 \u2192 rounded nearest (service) \u2192 3"
        )
        assert billed(cli, "invoice_line") == {1: 12, 2: 3}
