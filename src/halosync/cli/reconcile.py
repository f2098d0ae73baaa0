"""``halosync reconcile``: vendor count vs. what halosync wrote vs. what Halo holds now,
HaloPSA compared with the count the quantity rules bill today."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from halosync.cli.app import app, emit_json, state
from halosync.cli.common import JsonOption, WorkspaceOption, open_database, resolve_workspace
from halosync.domain.terms import service_label
from halosync.store.crypto import SecretBox
from halosync.sync.reconcile import build_reconciliation, row_to_dict, write_csv


def _quantity(value: object) -> str:
    return "-" if value is None else str(value)


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
    drift = sum(1 for row in rows if row.drift)
    out_of_date = sum(1 for row in rows if row.out_of_date)
    duplicate = sum(1 for row in rows if row.duplicates)
    skipped = sum(1 for row in rows if row.status == "skipped")
    excluded = sum(1 for row in rows if row.status == "excluded")
    if as_json:
        emit_json(
            {
                "workspace": ws.name,
                "rows": [row_to_dict(row) for row in rows],
                "drift": drift,
                "out_of_date": out_of_date,
                "duplicate": duplicate,
                "skipped": skipped,
                "excluded": excluded,
            }
        )
        return
    typer.echo(
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
                ("DRIFT", row.drift),
                ("out-of-date", row.out_of_date),
                ("skipped", row.status == "skipped"),
            )
            if on
        )
        service = service_label(row.service_ref, row.term)
        typer.echo(
            f"{row.account_ref:<20} {service:<20} {_quantity(row.vendor_quantity):>8} "
            f"{_quantity(row.ruled_quantity):>8} {_quantity(row.ledger_quantity):>8} "
            f"{_quantity(row.halo_quantity):>8}  {flags}"
        )
        if row.why:
            typer.echo(f"{'':<20} why: {row.why}")
    typer.echo(
        f"{len(rows)} rows, {drift} with drift, {out_of_date} out of date, "
        f"{duplicate} with duplicate records in HaloPSA, {skipped} skipped on purpose, "
        f"{excluded} excluded from billing."
    )
    if csv_file is not None:
        typer.echo(f"CSV written to {csv_file}.")
