"""Suggest Mappings' page: a reload or a bookmark shows it again, and saving saves the rows
the admin ticked (by map_account's rules) without suggesting again."""

from __future__ import annotations

import re

from sqlalchemy import select, update
from starlette.testclient import TestClient

from halosync.domain.matching import Suggestion
from halosync.mapping.service import map_account, suggest_account_mappings
from halosync.store.models import Account, AccountMapping, HaloClient
from tests.web.ui.world import ADMIN, World, connect_and_pull, log_in


def _ready(world: World) -> tuple[TestClient, str, list[Suggestion]]:
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    connect_and_pull(client, world, token)
    with world.database.reading() as db:
        suggestions = suggest_account_mappings(db, world.alpha)
    assert len(suggestions) >= 2
    return client, token, suggestions


def _mapped_client(world: World, account_ref: str) -> int | None:
    with world.database.reading() as db:
        return db.scalar(
            select(AccountMapping.halo_client_id)
            .join(Account, Account.id == AccountMapping.account_id)
            .where(Account.workspace_id == world.alpha, Account.ref == account_ref)
        )


def _save(client: TestClient, world: World, token: str, rows: list[tuple[str, str]]) -> str:
    """Post the page's form with these (reference, client text) rows ticked; the page the
    redirect lands on."""
    data: dict[str, str | list[str]] = {"csrf_token": token, "accept": []}
    for index, (ref, client_text) in enumerate(rows, start=1):
        data[f"ref-{index}"] = ref
        data[f"client-{index}"] = client_text
        data["accept"] = [*data["accept"], str(index)]
    return client.post(f"/ui/w/{world.alpha}/accounts/suggest/accept", data=data).text


def test_a_reload_or_a_bookmark_of_the_suggestions_page_shows_it_again(world: World) -> None:
    """Suggest answered its POST with the page itself, so a reload (a GET of the same URL)
    or a bookmark answered 405 Method Not Allowed."""
    client, token, suggestions = _ready(world)
    w = f"/ui/w/{world.alpha}"
    posted = client.post(
        f"{w}/accounts/suggest",
        data={"csrf_token": token, "back": f"{w}/setup/accounts"},
        follow_redirects=False,
    )
    assert posted.status_code == 303
    location = posted.headers["location"]
    assert location.startswith(f"{w}/accounts/suggest?")
    for _reload in range(2):
        page = client.get(location)
        assert page.status_code == 200
        assert f"{len(suggestions)} suggestions." in page.text
        assert f'name="back" value="{w}/setup/accounts"' in page.text
    bookmark = client.get(f"{w}/accounts/suggest")
    assert bookmark.status_code == 200
    assert f'name="back" value="{w}/accounts"' in bookmark.text


def test_a_ticked_row_is_saved_as_ticked_though_no_longer_suggested(world: World) -> None:
    """Saving suggested every mapping again and dropped, without a word, a ticked row no
    longer among the suggestions (its client renamed since the page was drawn)."""
    client, token, (first, *_) = _ready(world)
    with world.database.session() as db:
        db.execute(
            update(HaloClient)
            .where(
                HaloClient.workspace_id == world.alpha,
                HaloClient.halo_id == first.halo_client_id,
            )
            .values(name="Qqq Zzz Xxx")
        )
    with world.database.reading() as db:
        now = {s.account_ref for s in suggest_account_mappings(db, world.alpha)}
    assert first.account_ref not in now
    page = _save(client, world, token, [(first.account_ref, f"{first.halo_client_id} — x")])
    assert "Saved 1 of 1 suggested mappings." in page
    assert _mapped_client(world, first.account_ref) == first.halo_client_id


def test_each_ticked_row_is_checked_by_the_mapping_rules(world: World) -> None:
    """A row mapped meanwhile says so and keeps its mapping; a client another account
    holds, or text that is no client, is refused with the reason; the rest are saved."""
    client, token, (first, second, *rest) = _ready(world)
    with world.database.session() as db:
        map_account(db, world.alpha, first.account_ref, second.halo_client_id)
    third_ref = rest[0].account_ref if rest else None
    rows = [
        (first.account_ref, str(first.halo_client_id)),
        (second.account_ref, f"{second.halo_client_id} — {second.halo_client_name}"),
    ]
    if third_ref is not None:
        rows.append((third_ref, "Zenith"))
    page = _save(client, world, token, rows)
    assert f"Saved 0 of {len(rows)} suggested mappings." in page
    assert f"{first.account_name}: already mapped; kept" in page
    assert re.search(
        rf"{re.escape(second.account_name)}: Halo client {second.halo_client_id} "
        rf".* is already mapped to account &#39;{re.escape(first.account_ref)}&#39;",
        page,
    )
    if third_ref is not None:
        assert "Zenith is not a HaloPSA client ID; pick one from the list." in page
    assert _mapped_client(world, first.account_ref) == second.halo_client_id
    assert _mapped_client(world, second.account_ref) is None


def test_an_unknown_account_saves_none_of_the_rows(world: World) -> None:
    client, token, (first, *_) = _ready(world)
    page = _save(
        client,
        world,
        token,
        [(first.account_ref, str(first.halo_client_id)), ("NO-SUCH-REF", "1")],
    )
    assert "No account with reference &#39;NO-SUCH-REF&#39; in this workspace." in page
    assert "Nothing was saved." in page
    assert _mapped_client(world, first.account_ref) is None
