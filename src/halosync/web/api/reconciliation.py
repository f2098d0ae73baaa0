"""``/reconciliation``: vendor count vs. ledger vs. what Halo holds now, as JSON or CSV."""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, Field

from halosync.domain.reconcile import ReconcileRow, ReconcileSummary, RowStatus, csv_rows
from halosync.settings import Settings
from halosync.store.crypto import SecretBox
from halosync.store.database import Database
from halosync.sync.halo import HaloFactory
from halosync.sync.reconcile import build_reconciliation, row_to_dict
from halosync.web.api.auth import Caller, get_database, reconciler
from halosync.web.api.deps import PREFIX, JsonCount, get_box, get_halo_factory, get_settings
from halosync.web.api.errors import ERROR_RESPONSES
from halosync.web.api.json_body import JsonBodyRoute

router = APIRouter(prefix=PREFIX, tags=["reconciliation"], route_class=JsonBodyRoute)


class ReconcileRowOut(BaseModel):
    """One account × service: the three counts side by side and what differs."""

    account_ref: str
    account_name: str
    service_ref: str
    service_name: str
    halo_client_id: int | None
    halo_record_id: int | None
    vendor_quantity: JsonCount | None = Field(
        description="The vendor's count as billed: several terms of the pair combined by the "
        "terms rule (their sum, the term picked, or this record's term when kept apart); 0 once "
        "ended; for a record the terms rule bills nothing on, the count of its term the vendor "
        "still sends. Null when the vendor sends none (a snapshot left it out)."
    )
    ledger_quantity: JsonCount | None
    halo_quantity: JsonCount | None
    drift: bool
    out_of_date: bool
    duplicates: list[int]
    """Other HaloPSA records carrying this pair's halosync tag (billed twice until removed)."""
    skipped: str | None = Field(
        description="Why halosync leaves the pair alone on purpose (trial, not billed, "
        "account or service not mapped); such a row is not out of date."
    )
    ruled_quantity: JsonCount | None = Field(
        description="The count the quantity rules in force today bill (the vendor's when no "
        "rule changes it); HaloPSA is compared with it. Null for an excluded pair."
    )
    explain: str = Field(
        description="The chain from the vendor's count to the ruled one, e.g. "
        "'vendor 23 → minimum 25 (service) → 25', 'vendor 15 (annual 5 + monthly 10, summed) "
        "→ 15', 'vendor monthly 10 → term monthly not picked: the service rule picks the "
        "longest term, annual → 0'."
    )
    excluded: str | None = Field(
        description="Why the pair is excluded from billing (then halosync leaves it alone)."
    )
    why: str = Field(
        description="Which rule explains a difference between the vendor's count and "
        "HaloPSA's, e.g. 'HaloPSA 25 = vendor 23 with minimum 25 (service)'; empty when no "
        "rule changes the count."
    )
    term: str = Field(
        description="The term of a record kept apart (terms rule apart: one licence / line "
        "per term); blank for the account × service's one record."
    )
    blocked: str | None = Field(
        default=None,
        description="Why halosync will not write the pair's record until an admin acts in "
        "HaloPSA, and the fix, e.g. 'licence 504 was moved to client 'Beta' (11) in HaloPSA, "
        "but account A3 is mapped to client 'Gamma' (12); ...'. Null otherwise.",
    )
    unread: str | None = Field(
        default=None,
        description="Why what HaloPSA holds for the pair is unknown this time: it answered "
        "the pair's licence or recurring invoice without its id (or the invoice without its "
        "lines); neither drift nor out of date, read again next time. Null otherwise.",
    )
    status: RowStatus


class ReconciliationOut(BaseModel):
    """The report and its totals."""

    rows: list[ReconcileRowOut]
    total: int
    drift: int
    out_of_date: int
    duplicate: int
    skipped: int
    excluded: int
    blocked: int
    unread: int


def _rows(
    database: Database,
    box: SecretBox,
    settings: Settings,
    caller: Caller,
    factory: HaloFactory | None,
) -> list[ReconcileRow]:
    return asyncio.run(
        build_reconciliation(database, box, settings, caller.workspace_id, halo_factory=factory)
    )


Deps = tuple[Database, SecretBox, Settings, HaloFactory | None]


def _deps(
    database: Annotated[Database, Depends(get_database)],
    box: Annotated[SecretBox, Depends(get_box)],
    settings: Annotated[Settings, Depends(get_settings)],
    factory: Annotated[HaloFactory | None, Depends(get_halo_factory)],
) -> Deps:
    return database, box, settings, factory


@router.get("/reconciliation", response_model=ReconciliationOut, responses=ERROR_RESPONSES)
def reconciliation(
    caller: Annotated[Caller, Depends(reconciler)], deps: Annotated[Deps, Depends(_deps)]
) -> Any:
    """Read live from Halo: per account × service, drift (changed in Halo) flagged.

    Admin tokens only: the read spends the rate budget the workspace's syncs share."""
    database, box, settings, factory = deps
    rows = _rows(database, box, settings, caller, factory)
    return ReconciliationOut(
        rows=[ReconcileRowOut.model_validate(row_to_dict(row)) for row in rows],
        **asdict(ReconcileSummary.of(rows)),
    )


@router.get(
    "/reconciliation.csv",
    response_class=Response,
    responses={
        **ERROR_RESPONSES,
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV."},
    },
)
def reconciliation_csv(
    caller: Annotated[Caller, Depends(reconciler)], deps: Annotated[Deps, Depends(_deps)]
) -> Response:
    """The report as CSV; cells a spreadsheet would run as formulas are defused."""
    database, box, settings, factory = deps
    rows = _rows(database, box, settings, caller, factory)
    buffer = io.StringIO()
    csv.writer(buffer).writerows(csv_rows(rows))
    filename = f"reconciliation-{caller.workspace_id}.csv"
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
