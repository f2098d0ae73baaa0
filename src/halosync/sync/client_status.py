"""Clients made inactive in HaloPSA after the last customers pull, found by the usage sync.

HaloPSA accepts a licence or a recurring-invoice line for an inactive client, so a pull
hours old would let the usage sync bill a customer the MSP has just made inactive. Before
it plans, the usage sync reads the list of HaloPSA's inactive clients only
(``includeactive=false``: a page for most MSPs, whatever the number of clients, where
re-reading every client would cost one request per 100 of them) and marks the mapped ones
among them inactive in the cache, so the planner skips their pairs with the documented
WARNING (:func:`halosync.domain.skips.target_skip`) and the account grid shows it.

Only this direction is taken from the read: a client reactivated in HaloPSA stays
inactive here until the next Sync Organizations, since a list that left out the inactive
clients (a Halo ignoring ``includeinactive``) must never make one billable.
"""

from __future__ import annotations

from halosync.halopsa.billing import id_of
from halosync.halopsa.client import HaloApiClient
from halosync.halopsa.models import Client
from halosync.logging import get_logger
from halosync.store.account_grid import refresh_mapping_columns
from halosync.store.database import Database
from halosync.store.halo_pull import mark_inactive
from halosync.store.mappings import MappingRepository

log = get_logger(__name__)

CLIENT_ENTITY = "Client"
INACTIVE_ONLY = {"includeactive": "false", "includeinactive": "true"}
"""The client list's filter for the inactive ones alone."""


async def inactive_clients(halo: HaloApiClient) -> set[int]:
    """The ids of the clients HaloPSA holds inactive now (each row's own ``inactive`` is
    what counts, should Halo answer active ones too)."""
    found: set[int] = set()
    async for page in halo.iter_pages(CLIENT_ENTITY, params=INACTIVE_ONLY):
        for row in page:
            if id_of(row) is None:
                continue  # it cannot be a client any account is mapped to
            client = Client.model_validate(row)
            if client.inactive:
                found.add(client.id)
    return found


async def note_inactive_clients(database: Database, workspace_id: int, halo: HaloApiClient) -> None:
    """Mark the cached clients HaloPSA made inactive since the last pull inactive (and the
    accounts mapped to them), before the usage sync plans."""
    inactive = await inactive_clients(halo)
    if not inactive:
        return
    with database.session() as session:
        changed = mark_inactive(session, workspace_id, inactive)
        if changed:
            accounts = MappingRepository(session, workspace_id).accounts_of_clients(changed)
            refresh_mapping_columns(session, workspace_id, accounts)
    if changed:
        log.warning("halo_clients_inactive_since_pull", clients=changed)
