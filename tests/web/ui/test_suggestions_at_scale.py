"""Saving Suggest Mappings' page at the size of a real MSP: thousands of rows, and a client
picked by hand anywhere in a long list of free ones."""

from __future__ import annotations

from urllib.parse import urlencode

from sqlalchemy import insert, select
from starlette.testclient import TestClient

from halosync.mapping.service import suggest_account_mappings
from halosync.store.models import AccountMapping, HaloClient
from tests.web.ui.world import ADMIN, World, connect_and_pull, log_in


def test_a_page_of_thousands_of_suggestions_is_saved(world: World) -> None:
    """The page posts three fields a row; 18,716 rows were refused 'Too many fields.
    Maximum number of fields is 1000.' (a 400 page): nothing was saved."""
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    connect_and_pull(client, world, token)
    with world.database.reading() as db:
        (first, *_) = suggest_account_mappings(db, world.alpha)
    rows: list[tuple[str, str]] = [("csrf_token", token), ("accept", "0")]
    rows += [("ref-0", first.account_ref), ("client-0", str(first.halo_client_id))]
    for index in range(1, 2000):  # the unticked rows a long page posts too
        rows += [(f"ref-{index}", f"NOT-TICKED-{index}"), (f"client-{index}", "1")]
    saved = client.post(
        f"/ui/w/{world.alpha}/accounts/suggest/accept",
        content=urlencode(rows),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert saved.status_code == 200, saved.text[-500:]
    assert "Saved 1 of 1 suggested mappings." in saved.text


def test_a_client_picked_by_hand_far_down_the_free_list_is_saved(world: World) -> None:
    """A client the admin typed in a suggestion's row was looked for among the first 500
    free clients by name only: at 20,000 clients 'Zenith' was 'not a HaloPSA client free
    to map'."""
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    connect_and_pull(client, world, token)
    with world.database.session() as db:
        db.execute(
            insert(HaloClient),
            [
                {"workspace_id": world.alpha, "halo_id": 100_000 + n, "name": f"Aaa {n:04}"}
                for n in range(600)
            ]
            + [{"workspace_id": world.alpha, "halo_id": 999_999, "name": "Zenith Ltd"}],
        )
    with world.database.reading() as db:
        (first, *_) = suggest_account_mappings(db, world.alpha)
    saved = client.post(
        f"/ui/w/{world.alpha}/accounts/suggest/accept",
        data={
            "csrf_token": token,
            "accept": "0",
            "ref-0": first.account_ref,
            "client-0": "999999 — Zenith Ltd",
        },
    )
    assert "is not a HaloPSA client free to map" not in saved.text
    with world.database.reading() as db:
        mapped = db.scalar(
            select(AccountMapping.halo_client_id).where(
                AccountMapping.workspace_id == world.alpha,
                AccountMapping.halo_client_id == 999_999,
            )
        )
    assert mapped == 999_999
