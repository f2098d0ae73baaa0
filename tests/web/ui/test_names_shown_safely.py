"""Names stored before they were refused (CR/LF, bidirectional controls), and HaloPSA's own
names, which halosync never refuses, are shown escaped on every page, never as they would
render: ``Acme\\u202eDTL`` would read as ``AcmeLTD``."""

from __future__ import annotations

import html

from sqlalchemy import update
from starlette.testclient import TestClient

from halosync.store.models import Account, HaloClient, User, Workspace
from tests.web.ui.world import ADMIN, World, connect_and_pull, log_in

OVERRIDE = "\u202e"
RAW = (OVERRIDE, "\u2066", "\u2028")


def test_stored_names_with_controls_are_shown_escaped_on_every_page(world: World) -> None:
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    connect_and_pull(client, world, token)
    with world.database.session() as db:
        db.execute(
            update(Workspace).where(Workspace.id == world.alpha).values(name="Alpha\r\nBcc: x")
        )
        db.execute(update(User).where(User.email == ADMIN).values(name=f"Ada{OVERRIDE}nimda"))
        db.execute(
            update(Account)
            .where(Account.workspace_id == world.alpha)
            .values(name=f"Acme{OVERRIDE}DTL")
        )
        db.execute(
            update(HaloClient)
            .where(HaloClient.workspace_id == world.alpha)
            .values(name="Client\u2066X\u2028Y")
        )
    w = f"/ui/w/{world.alpha}"
    for path in ("", "/accounts", "/setup/summary", "/logs", "/results", "/services"):
        page = client.get(w + path)
        assert page.status_code == 200, path
        assert not any(char in page.text for char in RAW), path
    accounts = html.unescape(client.get(f"{w}/accounts").text)
    assert "Acme\\u202eDTL" in accounts
    picker = client.get(f"{w}/halo-clients", params={"q": "Client"}).text
    assert "Client\\u2066X\\u2028Y" in html.unescape(picker)
    assert "Ada\\u202enimda" in html.unescape(client.get(w).text)
