"""``halosync map ...``: account and service mappings, suggestions and the mapping grid."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from halosync.cli.app import app, echo, emit_json, name, state
from halosync.cli.common import JsonOption, WorkspaceOption, open_database, resolve_workspace
from halosync.cli.runs import wait_for_run
from halosync.domain.matching import DEFAULT_MIN_SCORE
from halosync.jobs import open_job_queue
from halosync.jobs.queue import JobQueue
from halosync.mapping.follow_up import FollowUp, accept_and_follow_up, map_account_and_follow_up
from halosync.mapping.grid import (
    MAPPING_STATUSES,
    SORT_KEYS,
    STATUS_LABELS,
    MappingStatus,
    account_mapping_grid,
    mapping_counts,
    service_mapping_grid,
    unmapped_halo_clients,
)
from halosync.mapping.service import (
    map_service,
    suggest_account_mappings,
    unmap_account,
    unmap_service,
    why_no_suggestions,
)

FOLLOW_UP_TIMEOUT_SECONDS = 3600.0


@contextmanager
def _job_queue(ctx: typer.Context) -> Iterator[JobQueue]:
    queue = open_job_queue(state(ctx).settings)
    try:
        yield queue
    finally:
        queue.close()


def _report_follow_up(
    ctx: typer.Context, workspace_id: int, follow_up: FollowUp | None, *, quiet_stdout: bool
) -> None:
    """Say what mapping started. The licences are created by a queued sync, as from the API
    and the UI; with the embedded queue no server may be running beside the CLI, so this
    process consumes that run itself and reports how it ended."""
    if follow_up is None:
        return
    settings = state(ctx).settings
    # With --json, stdout holds one JSON document only.
    if follow_up.run_id is None or settings.queue != "embedded":
        echo(follow_up.text, err=quiet_stdout or follow_up.run_id is None)
        return
    from halosync.jobs.embedded import EmbeddedJobs  # the consumer only when it is needed

    database = open_database(ctx)
    with EmbeddedJobs(settings, database, workers=1, tick=False):
        run = wait_for_run(database, workspace_id, follow_up.run_id, FOLLOW_UP_TIMEOUT_SECONDS)
    counts = ", ".join(f"{value} {key}" for key, value in run.counts.items())
    echo(f"Created licences on mapping (run {run.id}, {run.status}): {counts}.", err=quiet_stdout)


map_app = typer.Typer(
    help="Map vendor accounts to Halo clients and services to Halo items.", no_args_is_help=True
)
app.add_typer(map_app, name="map")


@map_app.command("suggest")
def suggest(
    ctx: typer.Context,
    workspace: WorkspaceOption = None,
    accept: Annotated[
        bool, typer.Option("--accept", help="Save every suggestion at or above --min-score.")
    ] = False,
    min_score: Annotated[
        int, typer.Option("--min-score", min=0, max=100, help="Lowest score to suggest (0-100).")
    ] = DEFAULT_MIN_SCORE,
    as_json: JsonOption = False,
) -> None:
    """Suggest account → Halo client mappings by fuzzy name match (never over saved ones)."""
    database = open_database(ctx)
    ws = resolve_workspace(database, workspace)
    with database.session() as session:
        suggestions = suggest_account_mappings(session, ws.id, min_score=min_score)
    outcomes = None
    if accept:
        with _job_queue(ctx) as queue:
            accepted = accept_and_follow_up(
                database, state(ctx).settings, queue, ws.id, suggestions
            )
        outcomes = accepted.outcomes
        _report_follow_up(ctx, ws.id, accepted.follow_up, quiet_stdout=as_json)
    saved_refs = [o.suggestion.account_ref for o in outcomes or () if o.saved]
    rows: list[dict[str, Any]] = []
    for index, suggestion in enumerate(suggestions):
        row: dict[str, Any] = {
            "account_ref": suggestion.account_ref,
            "account_name": suggestion.account_name,
            "halo_client_id": suggestion.halo_client_id,
            "halo_client_name": suggestion.halo_client_name,
            "score": suggestion.score,
            "exact": suggestion.exact,
            "tied_with": list(suggestion.tied_with),
        }
        if outcomes is not None:
            outcome = outcomes[index]
            row |= {
                "saved": outcome.saved,
                "recurring_invoice_id": outcome.recurring_invoice_id,
                "note": outcome.note,
            }
        rows.append(row)
    if as_json:
        emit_json({"workspace": ws.name, "accepted": accept, "suggestions": rows})
        return
    if not rows:
        with database.session() as session:
            echo(str(why_no_suggestions(session, ws.id, min_score=min_score)))
        return
    for suggestion, row in zip(suggestions, rows, strict=True):
        line = (
            f"{row['score']:>3}  {row['account_ref']} ({row['account_name']}) → "
            f"{row['halo_client_id']} ({row['halo_client_name']})"
        )
        if suggestion.tie and not accept:
            line += f"  [TIE: {suggestion.tie_note}; --accept skips it]"
        if accept:
            line += f"  [{row['note']}]"
        echo(line)
    if accept:
        echo(f"Saved {len(saved_refs)} of {len(rows)} suggestion(s).")
    else:
        echo(f"{len(rows)} suggestion(s). Re-run with --accept to save them.")


@map_app.command("account")
def account(
    ctx: typer.Context,
    account_ref: Annotated[str, typer.Argument(help="The vendor's account reference.")],
    halo_client_id: Annotated[int, typer.Argument(help="The Halo client id.")],
    workspace: WorkspaceOption = None,
    invoice: Annotated[
        int | None,
        typer.Option(
            "--invoice",
            help="Recurring invoice id (invoice_line target); chosen when the client has one.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Map an account to a Halo client (1:1); remapping sends future writes there."""
    database = open_database(ctx)
    ws = resolve_workspace(database, workspace)
    with _job_queue(ctx) as queue:
        mapped = map_account_and_follow_up(
            database,
            state(ctx).settings,
            queue,
            ws.id,
            account_ref,
            halo_client_id,
            recurring_invoice_id=invoice,
        )
    document = {
        "account_ref": account_ref,
        "halo_client_id": mapped.row.halo_client_id,
        "recurring_invoice_id": mapped.row.recurring_invoice_id,
    }
    if as_json:
        emit_json(document)
        _report_follow_up(ctx, ws.id, mapped.follow_up, quiet_stdout=True)
        return
    suffix = (
        f" (recurring invoice {document['recurring_invoice_id']})"
        if document["recurring_invoice_id"] is not None
        else ""
    )
    echo(f"Mapped account {account_ref} → Halo client {halo_client_id}{suffix}.")
    _report_follow_up(ctx, ws.id, mapped.follow_up, quiet_stdout=False)


@map_app.command("service")
def service(
    ctx: typer.Context,
    service_ref: Annotated[str, typer.Argument(help="The vendor's service reference.")],
    halo_item_id: Annotated[int, typer.Argument(help="The Halo item id.")],
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Map a service to a Halo item."""
    database = open_database(ctx)
    ws = resolve_workspace(database, workspace)
    with database.session() as session:
        map_service(session, ws.id, service_ref, halo_item_id)
    if as_json:
        emit_json({"service_ref": service_ref, "halo_item_id": halo_item_id})
        return
    echo(f"Mapped service {service_ref} → Halo item {halo_item_id}.")


@map_app.command("unmap-account")
def unmap_account_command(
    ctx: typer.Context,
    account_ref: Annotated[str, typer.Argument(help="The vendor's account reference.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Remove an account's mapping. What was written in Halo stays untouched."""
    database = open_database(ctx)
    ws = resolve_workspace(database, workspace)
    with database.session() as session:
        removed = unmap_account(session, ws.id, account_ref)
    echo(
        f"Unmapped account {account_ref}; its records in HaloPSA are left as they are."
        if removed
        else f"Account {account_ref} was not mapped."
    )


@map_app.command("unmap-service")
def unmap_service_command(
    ctx: typer.Context,
    service_ref: Annotated[str, typer.Argument(help="The vendor's service reference.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Remove a service's mapping. What was written in Halo stays untouched."""
    database = open_database(ctx)
    ws = resolve_workspace(database, workspace)
    with database.session() as session:
        removed = unmap_service(session, ws.id, service_ref)
    echo(
        f"Unmapped service {service_ref}." if removed else f"Service {service_ref} was not mapped."
    )


@map_app.command("list")
def list_accounts(
    ctx: typer.Context,
    workspace: WorkspaceOption = None,
    search: Annotated[
        str | None,
        typer.Option(help="Matches account name, reference, Halo client name or id."),
    ] = None,
    status: Annotated[
        str | None, typer.Option(help=f"One of: {', '.join(MAPPING_STATUSES)}.")
    ] = None,
    sort: Annotated[str, typer.Option(help=f"One of: {', '.join(SORT_KEYS)}.")] = "account_name",
    descending: Annotated[bool, typer.Option("--desc", help="Sort descending.")] = False,
    page: Annotated[int, typer.Option(min=1)] = 1,
    page_size: Annotated[int, typer.Option(min=1, max=500)] = 20,
    as_json: JsonOption = False,
) -> None:
    """The account mapping grid: accounts, their Halo clients and mapping status."""
    database = open_database(ctx)
    ws = resolve_workspace(database, workspace)
    chosen: MappingStatus | None = None
    if status is not None:
        lowered = status.strip().lower().replace(" ", "_")
        chosen = lowered if lowered in MAPPING_STATUSES else status  # type: ignore[assignment]
    with database.session() as session:
        grid = account_mapping_grid(
            session,
            ws.id,
            search=search,
            status=chosen,
            sort=sort,
            descending=descending,
            page=page,
            page_size=page_size,
        )
        counts = mapping_counts(session, ws.id)
    rows = [
        {
            "account_ref": row.account_ref,
            "account_name": row.account_name,
            "account_status": row.account_status,
            "halo_client_id": row.halo_client_id,
            "halo_client_name": row.halo_client_name,
            "halo_client_status": row.halo_client_status,
            "recurring_invoice_id": row.recurring_invoice_id,
            "status": row.status_label,
            "attention": list(row.attention),
        }
        for row in grid.items
    ]
    if as_json:
        emit_json(
            {
                "total": grid.total,
                "page": grid.page,
                "page_size": grid.page_size,
                "accounts_total": counts.accounts_total,
                "accounts_mapped": counts.accounts_mapped,
                "rows": rows,
            }
        )
        return
    first = (grid.page - 1) * grid.page_size + 1 if grid.total else 0
    last = min(grid.page * grid.page_size, grid.total)
    for row, grid_row in zip(rows, grid.items, strict=True):
        client = (
            f"{row['halo_client_id']} {row['halo_client_name'] or ''}".strip()
            if row["halo_client_id"] is not None
            else "-"
        )
        echo(f"{row['status']:<15} {row['account_ref']:<20} {row['account_name']:<40} {client}")
        for note in grid_row.attention:
            echo(f"{'':<15} needs attention: {note}")
    echo(
        f"{first} – {last} of {grid.total} · mapped {counts.accounts_mapped} of "
        f"{counts.accounts_total} accounts"
    )


@map_app.command("services")
def list_services(
    ctx: typer.Context, workspace: WorkspaceOption = None, as_json: JsonOption = False
) -> None:
    """The service mapping grid."""
    database = open_database(ctx)
    ws = resolve_workspace(database, workspace)
    with database.session() as session:
        rows = service_mapping_grid(session, ws.id)
    documents = [
        {
            "service_ref": row.service_ref,
            "service_name": row.service_name,
            "halo_item_id": row.halo_item_id,
            "halo_item_name": row.halo_item_name,
            "status": STATUS_LABELS["mapped" if row.mapped else "unmapped"],
        }
        for row in rows
    ]
    if as_json:
        emit_json(documents)
        return
    for doc in documents:
        item = (
            f"{doc['halo_item_id']} {doc['halo_item_name'] or ''}" if doc["halo_item_id"] else "-"
        )
        echo(f"{doc['status']:<9} {doc['service_ref']:<20} {name(doc['service_name']):<40} {item}")


@map_app.command("clients")
def list_unmapped_clients(
    ctx: typer.Context,
    workspace: WorkspaceOption = None,
    search: Annotated[str | None, typer.Option(help="Part of the name, or the id.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    as_json: JsonOption = False,
) -> None:
    """Halo clients no account is mapped to (the ones a mapping may still pick)."""
    database = open_database(ctx)
    ws = resolve_workspace(database, workspace)
    with database.session() as session:
        clients = [
            {"halo_client_id": c.halo_id, "name": c.name, "inactive": c.inactive}
            for c in unmapped_halo_clients(session, ws.id, search=search, limit=limit)
        ]
    if as_json:
        emit_json(clients)
        return
    for client in clients:
        flag = " (inactive)" if client["inactive"] else ""
        echo(f"{client['halo_client_id']:>8}  {name(client['name'])}{flag}")
