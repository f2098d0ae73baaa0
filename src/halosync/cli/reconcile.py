"""``halosync reconcile``: vendor count vs. what halosync wrote vs. what Halo holds now,
HaloPSA compared with the count the quantity rules bill today."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from halosync.cli.app import app, echo, emit_json, state
from halosync.cli.common import JsonOption, WorkspaceOption, open_database, resolve_workspace
from halosync.domain.models import plain_number
from halosync.domain.reconcile import ReconcileSummary
from halosync.domain.terms import service_label
from halosync.store.crypto import SecretBox
from halosync.sync.reconcile import build_reconciliation, row_to_dict, write_csv


def _quantity(value: Decimal | None) -> str:
    """A count as people write it (an invoice line's 10.0000 reads 10); "-" for none."""
    return "-" if value is None else plain_number(value)


@app.command("reconcile")
def reconcile(
    ctx: typer.Context,
    workspace: WorkspaceOption = None,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Also write the report to this CSV file.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Per account × service: vendor, ruled, ledger and Halo quantities; drift flagged, the
    rule that explains a difference named, excluded pairs shown with their reason."""
    database = open_database(ctx)
    settings = state(ctx).settings
    ws = resolve_workspace(database, workspace)
    rows = asyncio.run(
        build_reconciliation(database, SecretBox.from_settings(settings), settings, ws.id)
    )
    if csv_file is not None:
        write_csv(rows, csv_file)
    summary = ReconcileSummary.of(rows)
    if as_json:
        emit_json(
            {
                "workspace": ws.name,
                "rows": [row_to_dict(row) for row in rows],
                "drift": summary.drift,
                "out_of_date": summary.out_of_date,
                "duplicate": summary.duplicate,
                "skipped": summary.skipped,
                "excluded": summary.excluded,
                "blocked": summary.blocked,
                "unread": summary.unread,
            }
        )
        return
    echo(
        f"{'account':<20} {'service':<20} {'vendor':>8} {'ruled':>8} {'ledger':>8} {'halo':>8}"
        "  flags"
    )
    for row in rows:
        twins = "DUPLICATE of " + ",".join(map(str, row.duplicates))
        flags = " ".join(
            flag
            for flag, on in (
                (twins, row.duplicates),
                ("excluded", row.status == "excluded"),
                ("BLOCKED", row.status == "blocked"),
                ("UNREAD", row.status == "unread"),
                ("DRIFT", row.drift),
                ("out-of-date", row.out_of_date),
                ("skipped", row.status == "skipped"),
            )
            if on
        )
        service = service_label(row.service_ref, row.term)
        echo(
            f"{row.account_ref:<20} {service:<20} {_quantity(row.vendor_quantity):>8} "
            f"{_quantity(row.ruled_quantity):>8} {_quantity(row.ledger_quantity):>8} "
            f"{_quantity(row.halo_quantity):>8}  {flags}"
        )
        if row.why:
            echo(f"{'':<20} why: {row.why}")
        if row.blocked:
            echo(f"{'':<20} blocked: {row.blocked}")
        if row.unread:
            echo(f"{'':<20} unread: {row.unread}")
    blocked = f", {summary.blocked} blocked until fixed in HaloPSA" if summary.blocked else ""
    if summary.unread:
        blocked += f", {summary.unread} unknown (HaloPSA's answer could not be read)"
    echo(
        f"{summary.total} rows, {summary.drift} with drift, {summary.out_of_date} out of date, "
        f"{summary.duplicate} with duplicate records in HaloPSA, {summary.skipped} skipped on "
        f"purpose, {summary.excluded} excluded from billing{blocked}."
    )
    if csv_file is not None:
        echo(f"CSV written to {csv_file}.")
