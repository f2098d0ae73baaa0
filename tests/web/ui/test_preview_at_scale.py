"""The dry run page at the size of a real MSP: 20,000 accounts planned 47,719 changes, and
the page drew every one (9 MB of text, minutes in Chromium); it shows the writes first, a
bounded number, and links to every change page by page."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from halosync.store.models import Account, HaloClient, HaloItem, Service
from halosync.web.ui.routes import activity
from tests.web.ui.world import ADMIN, World, connect_and_pull, log_in


def test_the_dry_run_page_shows_the_writes_first_and_links_to_every_change(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(activity, "PREVIEW_ROWS", 3)
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    connect_and_pull(client, world, token)
    w = f"/ui/w/{world.alpha}"
    with world.database.reading() as db:
        refs = db.scalars(
            select(Account.ref).where(Account.workspace_id == world.alpha).order_by(Account.ref)
        ).all()
        services = db.scalars(
            select(Service.ref).where(Service.workspace_id == world.alpha).order_by(Service.ref)
        ).all()
        halo_client = db.scalar(
            select(HaloClient.halo_id).where(HaloClient.workspace_id == world.alpha)
        )
        items = db.scalars(
            select(HaloItem.halo_id).where(HaloItem.workspace_id == world.alpha)
        ).all()
    last = refs[-1]  # planned last by reference: shown first only because it writes
    client.post(
        f"{w}/accounts/map",
        data={"csrf_token": token, "account_ref": last, "halo_client_id": str(halo_client)},
    )
    for ref, item in zip(services, items, strict=False):
        client.post(
            f"{w}/services/map",
            data={"csrf_token": token, "service_ref": ref, "halo_item_id": str(item)},
        )
    page = client.post(f"{w}/preview", data={"csrf_token": token})
    assert page.status_code == 200, page.text[-400:]
    text = html.unescape(page.text)
    rows = re.findall(r'<tr class="action-(\w+)"><td>([^<]+)</td>', page.text)
    assert len(rows) == 3
    assert rows[0] == ("create", last)
    total = int(re.search(r'data-count="skipped">(\d+)<', page.text).group(1))  # type: ignore[union-attr]
    found = re.search(r"Showing the first 3 of ([\d,]+) planned changes", text)
    assert found is not None, text[-3000:]
    assert int(found.group(1).replace(",", "")) > total
    link = re.search(rf'href="({w}/results\?run=(\d+))"', page.text)
    assert link is not None
    results = html.unescape(client.get(link.group(1)).text)
    assert f"#{link.group(2)} " in results
    assert "dry run" in results


def test_the_reconciliation_page_shows_what_needs_attention_first_and_a_bounded_number(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 20,000 accounts the page drew 47,719 rows (7.7 MB of text); the CSV has them all."""
    monkeypatch.setattr(activity, "RECONCILE_ROWS", 2)
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    connect_and_pull(client, world, token)
    page = client.get(f"/ui/w/{world.alpha}/reconcile")
    assert page.status_code == 200
    total = int(re.search(r'id="rec-total">(\d+)<', page.text).group(1))  # type: ignore[union-attr]
    assert total > 2
    assert page.text.count("<tr class=") == 2
    assert f"Showing the first 2 of {total:,} rows" in html.unescape(page.text)
    exported = client.get(f"/ui/w/{world.alpha}/reconcile.csv").text
    assert len(exported.strip().splitlines()) == total + 1
