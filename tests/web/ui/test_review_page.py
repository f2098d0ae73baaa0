"""The Review page without a browser: what a viewer sees, and what an admin may change."""

from __future__ import annotations

from starlette.testclient import TestClient

from halosync.sync.review import review_policy
from tests.web.ui.world import ADMIN, VIEWER, World, csrf_of, log_in


def test_a_viewer_reads_the_queue_and_policy_but_cannot_decide(world: World) -> None:
    client = TestClient(world.app)
    token = log_in(client, VIEWER)
    page = client.get(f"/ui/w/{world.alpha}/review")
    assert page.status_code == 200
    assert "Nothing is waiting for review." in page.text
    assert 'id="save-policy"' not in page.text
    for action in ("approve", "reject", "policy"):
        refused = client.post(
            f"/ui/w/{world.alpha}/review/{action}", data={"csrf_token": token, "scope": "all"}
        )
        assert refused.status_code == 403


def test_an_admin_changes_the_policy_and_bad_numbers_change_nothing(world: World) -> None:
    client = TestClient(world.app)
    log_in(client, ADMIN)
    page = client.get(f"/ui/w/{world.alpha}/review")
    token = csrf_of(page.text)
    url = f"/ui/w/{world.alpha}/review/policy"
    saved = client.post(
        url,
        data={"csrf_token": token, "change_above_percent": "40", "drop_to_zero": "on"},
    )
    assert "Review policy saved" in saved.text
    policy = review_policy(world.database, world.alpha)
    assert (policy.change_above_percent, policy.drop_to_zero, policy.any_price_change) == (
        40,
        True,
        False,
    )
    bad = client.post(url, data={"csrf_token": token, "change_above_units": "-5"})
    assert "was not changed" in bad.text
    assert review_policy(world.database, world.alpha) == policy
    nothing = client.post(
        f"/ui/w/{world.alpha}/review/approve", data={"csrf_token": token, "scope": "selected"}
    )
    assert "Tick the changes to approve first." in nothing.text
    missing = client.post(
        f"/ui/w/{world.alpha}/review/reject",
        data={"csrf_token": token, "scope": "selected", "item": "77"},
    )
    assert "No review item 77" in missing.text
    dashboard = client.get(f"/ui/w/{world.alpha}")
    assert dashboard.status_code == 200
