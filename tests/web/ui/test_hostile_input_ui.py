"""The UI reads numbers and references by the same rules as the CLI and the REST API."""

from __future__ import annotations

import html
import json
import re

from starlette.testclient import TestClient

from halosync.sources.importer import import_document
from halosync.store.models import HaloClient
from tests.busy_database import locked
from tests.web.ui.world import ADMIN, World, connect_halo, log_in, wait_idle


def _flashes(page: str) -> list[str]:
    return [html.unescape(text) for text in re.findall(r'class="flash \w+">([^<]+)', page)]


def _pulled(client: TestClient, world: World, token: str) -> None:
    """Connected to the simulator and its clients pulled (Sync Organizations)."""
    connect_halo(client, world, token)
    client.post(f"/ui/w/{world.alpha}/sync-organizations", data={"csrf_token": token})
    wait_idle(world)


def test_look_alike_digits_are_not_a_page_size_a_day_or_a_time(world: World) -> None:
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    w = f"/ui/w/{world.alpha}"
    _pulled(client, world, token)
    assert 'id="grid-range">1 – 5 of 15<' in client.get(f"{w}/accounts?size=5").text
    # "５" is not 5: the default page size (20) is used, as for any other non-number.
    assert 'id="grid-range">1 – 15 of 15<' in client.get(f"{w}/accounts?size=５").text
    for day, at in (("٣", "18:00"), ("3", "１８:００"), ("²", "06:30")):
        page = client.post(
            f"{w}/settings/schedule",
            data={
                "csrf_token": token,
                "kind": "usage",
                "frequency": "monthly",
                "day": day,
                "at": at,
                "enabled": "yes",
            },
        ).text
        assert any(text.startswith("Schedule not changed:") for text in _flashes(page)), day
    assert 'id="schedule-usage-text">Daily at 18:00 UTC<' in client.get(w).text


def test_an_account_row_is_found_by_its_exact_reference_among_many_alike(world: World) -> None:
    # 120 accounts whose references contain "x1" and whose names sort first: a search for
    # "x1" finds them all, so the row shown after mapping must be looked up exactly.
    accounts = [
        {"ref": f"x1-{n:03}", "name": f"Aardvark {n:03}", "status": "active", "billed": True}
        for n in range(120)
    ]
    accounts.append({"ref": "x1", "name": "Zulu 50%_off", "status": "active", "billed": True})
    import_document(world.database, world.alpha, {"accounts": accounts})
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    w = f"/ui/w/{world.alpha}"
    _pulled(client, world, token)
    with world.database.session() as session:
        halo_client = session.query(HaloClient).filter_by(workspace_id=world.alpha).first()
        assert halo_client is not None
        halo_id = str(halo_client.halo_id)
    saved = client.post(
        f"{w}/accounts/map",
        data={"csrf_token": token, "account_ref": "x1", "halo_client_id": halo_id},
    )
    assert saved.status_code == 200, saved.text
    assert 'data-ref="x1"' in saved.text
    assert ">Mapped<" in saved.text
    row = client.get(f"{w}/accounts/row", params={"ref": "x1"})
    assert row.status_code == 200
    assert "Zulu 50%_off" in html.unescape(row.text)


def test_an_import_with_a_lone_surrogate_is_refused_on_the_page_not_a_500(world: World) -> None:
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    account = {"ref": "A1", "name": "a\ud800b", "status": "active", "billed": True}
    refused = client.post(
        f"/ui/w/{world.alpha}/import",
        data={"csrf_token": token},
        files={"file": ("usage.json", json.dumps({"accounts": [account]}).encode(), "text/json")},
    )
    assert refused.status_code == 422
    assert "$.accounts[0].name" in refused.text
    assert "half of a UTF-16 surrogate pair" in refused.text


def test_a_locked_database_is_a_503_page_with_retry_after(world: World) -> None:
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    w = f"/ui/w/{world.alpha}"
    account = {"ref": "A1", "name": "Acme", "status": "active", "billed": True}
    with locked(world.database):
        imported = client.post(
            f"{w}/import",
            data={"csrf_token": token},
            files={"file": ("usage.json", json.dumps({"accounts": [account]}), "text/json")},
        )
        saved = client.post(
            f"{w}/settings/preferences",
            data={"csrf_token": token, "cooldown_minutes": "5"},
            follow_redirects=False,
        )
    for busy in (imported, saved):
        assert busy.status_code == 503, busy.text
        assert busy.headers["Retry-After"] == "10"
        assert "The database stayed locked by another halosync process" in busy.text
        assert busy.headers["content-type"].startswith("text/html")


def test_two_files_in_one_import_are_refused_on_the_page(world: World) -> None:
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    w = f"/ui/w/{world.alpha}"
    account = {"ref": "TWO-1", "name": "Two Files", "status": "active", "billed": True}
    document = json.dumps({"accounts": [account]})
    refused = client.post(
        f"{w}/import",
        data={"csrf_token": token},
        files=[
            ("file", ("a.json", document, "text/json")),
            ("file", ("b.json", document, "text/json")),
        ],
    )
    assert refused.status_code == 422
    assert "2 files were sent (a.json, b.json); send one file per request" in refused.text
    assert "TWO-1" not in client.get(f"{w}/accounts", params={"search": "TWO-1"}).text
