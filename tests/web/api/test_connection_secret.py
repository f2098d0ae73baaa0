"""The REST API keeps the stored client secret by the UI's rule: only for the same place."""

from __future__ import annotations

from tests.web.api.conftest import CLIENT_ID, SERVER, Api


def _token_requests(api: Api) -> int:
    return len(api.sim.state.request_log.filter(method="POST", path="*/token"))


def test_a_left_out_secret_is_kept_for_the_same_destination_only(api: Api) -> None:
    assert api.connect().status_code == 200
    # Same server, spelt with a trailing slash and /api; same client: the stored secret.
    same = {"server_url": SERVER + "/api/", "client_id": CLIENT_ID, "target": "licence"}
    kept = api.put("connection", json=same)
    assert kept.status_code == 200, kept.text
    assert kept.json()["test"]["message"] == "Test is successful."
    tested = api.post("connection/test", json=same | {"client_secret": ""})
    assert tested.status_code == 200, tested.text
    assert tested.json()["success"] is True

    before = _token_requests(api)
    for changed in (
        {"server_url": "http://elsewhere.test"},
        {"auth_server_url": "http://elsewhere.test/auth"},
        {"client_id": "another-application"},
    ):
        for method, path in (("PUT", "connection"), ("POST", "connection/test")):
            refused = api.request(method, path, json=same | changed)
            assert refused.status_code == 422, (method, changed, refused.text)
            body = refused.json()
            assert body["detail"].startswith("Enter the client secret"), body
            assert body["errors"][0]["location"] == "$.client_secret"
    assert _token_requests(api) == before, "a token request went out with the stored secret"
    assert api.get("connection").json()["server_url"] == SERVER + "/api/"


def test_no_stored_connection_means_the_secret_is_required(api: Api) -> None:
    refused = api.put("connection", json={"server_url": SERVER, "client_id": CLIENT_ID})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["location"] == "$.client_secret"
    assert api.get("connection").status_code == 404
