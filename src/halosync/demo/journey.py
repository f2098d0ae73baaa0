"""The newcomer's journey, end to end, against the bundled simulator.

connect → test → import vendor data → Sync Organizations → suggest and save mappings →
dry run → usage sync → a repeat that writes nothing → logs and reconciliation. Every
step calls the same service functions as the CLI, the REST API and the jobs do.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from halosync.connection.service import ConnectionInput, ConnectionService
from halosync.demo.sample_data import sample_vendor_data
from halosync.domain.matching import AccountName, ClientName, suggest_mappings
from halosync.domain.reconcile import ReconcileSummary
from halosync.halopsa.permissions import needs_for
from halosync.mapping.grid import mapping_counts, service_mapping_grid
from halosync.mapping.pickers import halo_items
from halosync.mapping.service import accept_suggestions, map_service, suggest_account_mappings
from halosync.settings import Settings
from halosync.simulator import ApiApplication
from halosync.sources.importer import import_document
from halosync.store.crypto import SecretBox
from halosync.store.database import Database
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.activity import list_log_entries
from halosync.sync.customers import run_customers_sync
from halosync.sync.reconcile import build_reconciliation
from halosync.sync.usage import run_usage_sync

DEMO_WORKSPACE = "Demo MSP"
SERVICE_MATCH_MIN_SCORE = 70


def demo_application() -> ApiApplication:
    """The simulator's API application for the demo, with least-privilege scopes."""
    scopes = sorted(
        {scope for target in ("licence", "invoice_line") for scope in needs_for(target).scopes}
    )
    return ApiApplication(
        client_id=f"demo-{secrets.token_hex(4)}",
        client_secret=secrets.token_urlsafe(24),
        scopes=tuple(scopes),
    )


@dataclass
class JourneySummary:
    """What the journey did, step by step, for the closing screen and the tests."""

    workspace_id: int = 0
    steps: list[tuple[str, str]] = field(default_factory=list)
    usage_counts: dict[str, int] = field(default_factory=dict)
    repeat_counts: dict[str, int] = field(default_factory=dict)


def _map_services_by_name(database: Database, workspace_id: int) -> int:
    """Map each service to the Halo item whose name matches best (the demo's shortcut)."""
    with database.session() as session:
        services = [
            AccountName(account_ref=row.service_ref, name=row.service_name)
            for row in service_mapping_grid(session, workspace_id)
        ]
        items = [
            ClientName(halo_client_id=item.halo_id, name=item.name)
            for item in halo_items(session, workspace_id)
        ]
        matches = suggest_mappings(services, items, {}, min_score=SERVICE_MATCH_MIN_SCORE)
        for match in matches:
            map_service(session, workspace_id, match.account_ref, match.halo_client_id)
    return len(matches)


async def run_journey(
    database: Database,
    box: SecretBox,
    settings: Settings,
    *,
    server_url: str,
    application: ApiApplication,
    halo_seed: dict[str, Any],
    target: str = "licence",
    say: Callable[[str, str], None] = lambda step, text: None,
) -> JourneySummary:
    """Walk the whole journey once; ``say(step, text)`` reports each step as it ends."""
    summary = JourneySummary()

    def report(step: str, text: str) -> None:
        summary.steps.append((step, text))
        say(step, text)

    database.migrate()
    with database.session() as session:
        repository = WorkspaceRepository(session)
        workspace = repository.find(DEMO_WORKSPACE) or repository.create(DEMO_WORKSPACE)
        repository.set_target(workspace, target)
        workspace.price_mode = "totals"
        workspace_id = summary.workspace_id = workspace.id
    connection = ConnectionService(database, settings, box=box)
    _view, outcome = await connection.save(
        DEMO_WORKSPACE,
        ConnectionInput(
            server_url=server_url,
            client_id=application.client_id,
            client_secret=application.client_secret,
            target=target,
        ),
    )
    report("Connect", outcome.message if outcome is not None else "saved")

    imported = import_document(database, workspace_id, sample_vendor_data(halo_seed))
    report(
        "Import",
        f"{imported.accounts.created} accounts, {imported.services.created} services, "
        f"{imported.subscriptions.created} subscriptions from the vendor",
    )

    pulled = await run_customers_sync(database, box, settings, workspace_id)
    report(
        "Sync Organizations",
        f"{pulled.status}: {pulled.counts.get('created', 0)} Halo records pulled "
        f"in {pulled.duration_ms} ms",
    )

    with database.session() as session:
        outcomes = accept_suggestions(
            session, workspace_id, suggest_account_mappings(session, workspace_id)
        )
    saved = sum(1 for outcome in outcomes if outcome.saved)
    services = _map_services_by_name(database, workspace_id)
    with database.session() as session:
        counts = mapping_counts(session, workspace_id)
    report(
        "Mapping",
        f"Suggest Mappings saved {saved} of {len(outcomes)} suggestions; "
        f"accounts mapped {counts.accounts_mapped}/{counts.accounts_total}, "
        f"services mapped {services}/{counts.services_total}",
    )

    preview = await run_usage_sync(database, box, settings, workspace_id, dry_run=True)
    report("Dry run", _counts_text(preview.counts) + " (nothing written)")

    pushed = await run_usage_sync(database, box, settings, workspace_id)
    summary.usage_counts = dict(pushed.counts)
    report("Usage sync", f"{pushed.status}: {_counts_text(pushed.counts)}")

    repeat = await run_usage_sync(database, box, settings, workspace_id)
    summary.repeat_counts = dict(repeat.counts)
    report("Repeat", f"{_counts_text(repeat.counts)} — nothing changed, nothing written")

    reconciled = ReconcileSummary.of(
        await build_reconciliation(database, box, settings, workspace_id)
    )
    report(
        "Reconcile",
        f"{reconciled.total} account × service rows, {reconciled.drift} drifted in Halo",
    )

    page = list_log_entries(database, workspace_id, page_size=5)
    titles = "; ".join(line.title for line in page.entries)
    report("Logs", f"{page.total} entries, latest: {titles}")
    return summary


def _counts_text(counts: dict[str, int] | Any) -> str:
    return ", ".join(f"{counts.get(key, 0)} {key}" for key in _COUNT_ORDER)


_COUNT_ORDER = ("created", "updated", "unchanged", "skipped", "failed")
