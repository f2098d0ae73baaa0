"""The reconciliation report service: vendor count vs. ledger vs. what Halo holds now,
compared after the quantity rules in force today (the rule book the sync plans with)."""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from halosync.domain.models import HaloInvoiceLine, HaloLicence
from halosync.domain.numbers import json_count
from halosync.domain.reconcile import ReconcileRow, csv_rows, reconcile
from halosync.errors import HalosyncError
from halosync.halopsa.errors import InvoiceLinesUnknownError
from halosync.settings import Settings
from halosync.store.crypto import SecretBox
from halosync.store.database import Database
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.gather import load_inputs
from halosync.sync.halo import HaloFactory, open_halo
from halosync.sync.halo_state import LedgerFacts, read_invoice_lines, read_licences


async def build_reconciliation(
    database: Database,
    box: SecretBox,
    settings: Settings,
    workspace_id: int,
    *,
    halo_factory: HaloFactory | None = None,
) -> list[ReconcileRow]:
    """One row per account × service (subscriptions and ledger rows), read live from Halo."""
    database.migrate()
    with database.session() as session:
        ws = WorkspaceRepository(session).get(workspace_id)
        inputs = load_inputs(session, ws, None)
    target = inputs.settings.target
    async with open_halo(database, box, settings, workspace_id, halo_factory) as halo:
        licences: list[HaloLicence] = []
        lines: list[HaloInvoiceLine] = []
        # Records Halo answered unreadably -> why: the rows on them say so (what it holds
        # is unknown, so neither "not in HaloPSA" nor drift), and the rest is reported.
        unread: dict[int, str] = {}
        if target == "licence":
            scope = {t.halo_client_id for t in inputs.account_targets.values()} | {
                r.halo_client_id for r in inputs.ledger
            }
            read = await read_licences(
                halo,
                scope=scope,
                ledger=LedgerFacts.of_records(inputs.ledger, scope),
                one_client=None,
                earlier_records=inputs.earlier_records,
                unread=unread,
            )
            licences = list(read)
            read.close()
        else:
            invoice_ids = {
                r.recurring_invoice_id for r in inputs.ledger if r.recurring_invoice_id
            } | {
                t.recurring_invoice_id
                for t in inputs.account_targets.values()
                if t.recurring_invoice_id
            }
            state = await read_invoice_lines(halo, invoice_ids=invoice_ids, one_invoice=False)
            lines = list(state.lines)
            state.close()
            unread.update(state.unread_records)
            unread.update({i: InvoiceLinesUnknownError(i).message for i in state.unread_invoices})
    return reconcile(
        inputs.subscriptions,
        ledger=inputs.ledger,
        account_targets=inputs.account_targets,
        service_items=inputs.service_items,
        target=target,
        halo_licences=licences,
        halo_invoice_lines=lines,
        rules=inputs.rules,
        unread=unread,
    )


def row_to_dict(row: ReconcileRow) -> dict[str, Any]:
    """A row for JSON: decimals as numbers, its status named."""
    data = asdict(row)
    data["duplicates"] = list(row.duplicates)
    data["status"] = row.status
    for key in ("vendor_quantity", "ledger_quantity", "halo_quantity", "ruled_quantity"):
        value = data[key]
        if value is not None:
            data[key] = json_count(value)
    return data


def write_csv(rows: list[ReconcileRow], path: Path) -> None:
    """Export the report as CSV (cells a spreadsheet could run as formulas are defused).

    Written to a temporary file beside ``path`` and renamed over it, so the file is the
    whole report or (on any failure) left as it was; failures say which path and why.
    """
    temporary: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(
            "w",
            newline="",
            encoding="utf-8",
            dir=path.parent,
            prefix=f".{path.name}.",
            suffix=".tmp",
            delete=False,
        ) as handle:
            temporary = Path(handle.name)
            csv.writer(handle).writerows(csv_rows(rows))
        os.replace(temporary, path)
    except OSError as error:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        reason = error.strerror or type(error).__name__
        raise HalosyncError(
            f"Cannot write the CSV report to {path}: {reason}.",
            fix="Give a file name in an existing folder you can write to.",
        ) from None
