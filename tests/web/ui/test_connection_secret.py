"""The stored client secret goes only where it was configured.

A blank secret field means "keep the stored secret" — but only while the server address,
the authorisation server and the client ID are those it was saved with. Otherwise an admin
(or whoever holds an admin's session) could send it to any host by editing the server
address and pressing Test Connection.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from halosync.simulator import Simulator, SimulatorConfig, create_app
from halosync.simulator.server import serve_in_thread
from halosync.store.models import HaloConnection
from tests.web.ui.world import ADMIN, World, log_in


@pytest.fixture
def elsewhere(world: World) -> Iterator[tuple[str, Simulator]]:
    """Another host that would accept the same credentials (and so learns the secret)."""
    other = create_app(SimulatorConfig(applications=[world.application]))
    with serve_in_thread(other) as url:
        yield url, other


def _form(world: World, token: str, **fields: str) -> dict[str, str]:
    form = {
        "csrf_token": token,
        "server_url": world.halo_url,
        "auth_server_url": "",
        "tenant": "",
        "client_id": world.application.client_id,
        "client_secret": "",
        "target": "licence",
    }
    return form | fields


def _connected(world: World) -> tuple[TestClient, str]:
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    saved = client.post(
        f"/ui/w/{world.alpha}/setup/connect",
        data=_form(world, token, client_secret=world.application.client_secret),
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    return client, token


def _stored_server(world: World) -> str:
    with world.database.session() as session:
        row = session.query(HaloConnection).one()
        return row.server_url


def test_a_blank_secret_is_not_sent_to_another_host(
    world: World, elsewhere: tuple[str, Simulator]
) -> None:
    other_url, other = elsewhere
    client, token = _connected(world)
    test_url = f"/ui/w/{world.alpha}/setup/test-input"
    hx = {"HX-Request": "true"}
    for changed in (
        {"server_url": other_url},
        {"auth_server_url": f"{other_url}/auth"},
        {"server_url": other_url, "auth_server_url": f"{world.halo_url}/auth"},
        {"client_id": "another-client-id"},
    ):
        tested = client.post(test_url, data=_form(world, token, **changed), headers=hx)
        assert tested.status_code == 200
        assert "Test is successful." not in tested.text, changed
        assert "Enter the client secret" in tested.text, changed
        # The field itself says what is wrong (an out-of-band swap next to the input).
        assert re.search(r'id="client_secret-error"[^>]*hx-swap-oob', tested.text)
        saved = client.post(
            f"/ui/w/{world.alpha}/setup/connect", data=_form(world, token, **changed)
        )
        assert saved.status_code == 422, changed
        assert re.search(r'<input id="client_secret"[^>]*aria-invalid="true"', saved.text)
        assert 'id="client_secret-error"' in saved.text
        assert "Enter the client secret" in saved.text
    assert other.state.request_log.entries() == [], "the other host heard from halosync"
    assert _stored_server(world) == world.halo_url


def test_the_stored_secret_is_reused_for_the_same_destination(world: World) -> None:
    client, token = _connected(world)
    # The same server spelt differently (trailing slash, /api, capitals) is the same place.
    spelt = "HTTP://" + world.halo_url.removeprefix("http://") + "/api/"
    same = _form(world, token, server_url=spelt, auth_server_url=world.halo_url + "/auth/")
    tested = client.post(f"/ui/w/{world.alpha}/setup/test-input", data=same)
    assert "Test is successful." in tested.text, tested.text
    saved = client.post(f"/ui/w/{world.alpha}/setup/connect", data=same, follow_redirects=False)
    assert saved.status_code == 303, saved.text


def test_a_typed_secret_may_go_to_a_new_host(
    world: World, elsewhere: tuple[str, Simulator]
) -> None:
    other_url, other = elsewhere
    client, token = _connected(world)
    moved = _form(world, token, server_url=other_url, client_secret=world.application.client_secret)
    tested = client.post(f"/ui/w/{world.alpha}/setup/test-input", data=moved)
    assert "Test is successful." in tested.text, tested.text
    assert other.state.request_log.entries()
