"""The Quantity rules page without a browser: viewers read, admins change; the service's
refusals are shown next to the field they name and change nothing."""

from __future__ import annotations

import html
from datetime import timedelta

from sqlalchemy import func, select
from starlette.testclient import TestClient

from halosync.rules.service import (
    RuleTarget,
    exclude,
    list_rules,
    rule_history,
    today,
    update_rule,
)
from halosync.store.models import Account, QuantityRuleRow
from tests.web.ui.world import ADMIN, VIEWER, World, connect_halo, csrf_of, log_in

SERVICE = "M365-BP"


def _account(world: World) -> str:
    with world.database.session() as session:
        ref = session.scalar(
            select(Account.ref).where(Account.workspace_id == world.alpha).order_by(Account.ref)
        )
    assert ref is not None
    return ref


def _versions(world: World) -> int:
    with world.database.session() as session:
        return session.scalar(select(func.count()).select_from(QuantityRuleRow)) or 0


def _error_of(page: str, name: str) -> str:
    start = page.index(f'id="{name}-error"')
    text = page[page.index(">", start) + 1 : page.index("</p>", start)]
    return html.unescape(text)


def test_an_admin_sets_the_default_and_a_service_rule_and_sees_their_history(
    world: World,
) -> None:
    client = TestClient(world.app)
    log_in(client, ADMIN)
    page = client.get(f"/ui/w/{world.alpha}/rules")
    assert page.status_code == 200
    assert "No rules: HaloPSA gets the vendor" in page.text
    token = csrf_of(page.text)
    saved = client.post(
        f"/ui/w/{world.alpha}/rules/set",
        data={"csrf_token": token, "minimum": "5", "rounding": "up"},
    )
    assert "Rule of the workspace saved" in saved.text
    assert "round up, minimum 5" in saved.text
    later = (today() + timedelta(days=3)).isoformat()
    service = client.post(
        f"/ui/w/{world.alpha}/rules/set",
        data={
            "csrf_token": token,
            "service_ref": SERVICE,
            "minimum": "25",
            "free": "3",
            "price_owner": "markup",
            "markup_percent": "12.5",
            "valid_from": later,
        },
    )
    assert f"Rule of the service {SERVICE} saved from {later}" in service.text
    assert "Warning: service M365-BP: the markup sends no price while the workspace" in (
        html.unescape(service.text)
    )
    # In force later, not today: today's list has the default only; the history has both.
    assert [view.target for view in list_rules(world.database, world.alpha)] == [RuleTarget()]
    history = rule_history(world.database, world.alpha, service_ref=SERVICE)
    assert history[0].valid_from.isoformat() == later
    assert history[0].rule.markup_percent is not None
    assert f'id="scope-service" name="service" value="{SERVICE}"' in service.text
    assert "free 3, minimum 25, prices owned by markup, markup 12.5 %" in service.text


def test_a_refused_rule_names_the_field_next_to_it_and_stores_nothing(world: World) -> None:
    client = TestClient(world.app)
    log_in(client, ADMIN)
    token = csrf_of(client.get(f"/ui/w/{world.alpha}/rules").text)
    url = f"/ui/w/{world.alpha}/rules/set"
    refused = client.post(
        url,
        data={
            "csrf_token": token,
            "service_ref": SERVICE,
            "minimum": "10",
            "ceiling": "4",
            "free": "three",
            "markup_percent": "5",
        },
    )
    assert refused.status_code == 422
    assert "must be a whole number" in _error_of(refused.text, "free")
    assert '"three"' in _error_of(refused.text, "free")
    assert "below the minimum 10" in _error_of(refused.text, "ceiling")
    # What was typed stays in the form.
    assert 'name="free" value="three"' in refused.text
    past = client.post(url, data={"csrf_token": token, "minimum": "1", "valid_from": "2001-01-01"})
    assert past.status_code == 422
    assert "is in the past" in _error_of(past.text, "valid_from")
    unknown = client.post(url, data={"csrf_token": token, "service_ref": "NOPE", "minimum": "1"})
    assert unknown.status_code == 422
    assert "No service with reference 'NOPE'" in _error_of(unknown.text, "scope")
    assert _versions(world) == 0


def test_exclusions_show_with_their_reason_and_end_from_a_day(world: World) -> None:
    account = _account(world)
    client = TestClient(world.app)
    log_in(client, ADMIN)
    token = csrf_of(client.get(f"/ui/w/{world.alpha}/rules?account={account}").text)
    blank = client.post(
        f"/ui/w/{world.alpha}/rules/exclude",
        data={"csrf_token": token, "account_ref": account, "reason": "  "},
    )
    assert blank.status_code == 422
    assert "give the reason" in _error_of(blank.text, "excluded")
    excluded = client.post(
        f"/ui/w/{world.alpha}/rules/exclude",
        data={"csrf_token": token, "account_ref": account, "reason": "internal tenant"},
    )
    assert f"The account {account} is excluded from billing" in excluded.text
    assert 'id="include-scope"' in excluded.text
    # An account alone has no count form: only its exclusion.
    assert 'id="rule-form"' not in excluded.text
    listing = client.get(f"/ui/w/{world.alpha}/rules").text
    table = listing[listing.index('id="exclusions"') :]
    assert "internal tenant" in table[: table.index("</table>")]
    included = client.post(
        f"/ui/w/{world.alpha}/rules/include", data={"csrf_token": token, "account_ref": account}
    )
    assert f"The account {account} is billed again" in included.text
    assert "Nothing is excluded." in included.text
    assert _versions(world) == 2


def test_one_service_of_an_excluded_account_is_billed_anyway(world: World) -> None:
    account = _account(world)
    exclude(world.database, world.alpha, RuleTarget(account_ref=account), "internal", actor="t")
    update_rule(
        world.database, world.alpha, RuleTarget(account, SERVICE), {"minimum": 2}, actor="t"
    )
    client = TestClient(world.app)
    log_in(client, ADMIN)
    pair = client.get(f"/ui/w/{world.alpha}/rules?account={account}&service={SERVICE}").text
    assert f"Not billed: the account {account} excludes it (internal)." in html.unescape(pair)
    assert 'id="include-override"' in pair
    assert 'id="include-scope"' not in pair  # nothing of its own to end
    form = {"csrf_token": csrf_of(pair), "account_ref": account, "service_ref": SERVICE}
    plain = client.post(f"/ui/w/{world.alpha}/rules/include", data=form)
    assert plain.status_code == 422
    said = _error_of(plain.text, "excluded")
    assert f"has no exclusion of its own: the account {account} excludes it (internal)" in said
    assert "Bill it anyway" in said
    assert _versions(world) == 2

    anyway = client.post(f"/ui/w/{world.alpha}/rules/include", data={**form, "override": "1"})
    assert f"The account {account} × service {SERVICE} is billed again" in anyway.text
    assert 'id="scope-included"' in anyway.text
    assert 'id="excluded-by"' not in anyway.text
    assert 'id="end-override"' in anyway.text
    # Saving the pair's counts keeps its include.
    client.post(f"/ui/w/{world.alpha}/rules/set", data={**form, "minimum": "3"})
    [pair_rule] = [
        v.rule for v in list_rules(world.database, world.alpha) if v.scope == "account_service"
    ]
    assert (pair_rule.minimum, pair_rule.included) == (3, True)
    listing = client.get(f"/ui/w/{world.alpha}/rules").text
    table = listing[listing.index('id="exclusions"') :]
    assert "billed over a broader exclusion" in table[: table.index("</table>")]

    ended = client.post(f"/ui/w/{world.alpha}/rules/end-override", data=form)
    assert "follows the broader exclusion again" in ended.text
    assert 'id="excluded-by"' in ended.text
    assert client.post(f"/ui/w/{world.alpha}/rules/nothing", data=form).status_code == 404


def test_a_viewer_reads_the_rules_but_cannot_change_them(world: World) -> None:
    client = TestClient(world.app)
    token = log_in(client, VIEWER)
    page = client.get(f"/ui/w/{world.alpha}/rules?service={SERVICE}")
    assert page.status_code == 200
    assert 'id="save-rule"' not in page.text
    assert 'id="exclude-form"' not in page.text
    for action in ("set", "clear", "exclude", "include", "end-override"):
        refused = client.post(
            f"/ui/w/{world.alpha}/rules/{action}",
            data={"csrf_token": token, "service_ref": SERVICE, "minimum": "1", "reason": "x"},
        )
        assert refused.status_code == 403
    assert _versions(world) == 0


def test_the_reconciliation_shows_the_ruled_count_and_excluded_rows(world: World) -> None:
    account = _account(world)
    exclude(
        world.database,
        world.alpha,
        RuleTarget(account_ref=account),
        "internal tenant",
        actor="test",
    )
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    connect_halo(client, world, token)
    page = client.get(f"/ui/w/{world.alpha}/reconcile")
    assert page.status_code == 200
    assert '<th scope="col">Ruled</th>' in page.text
    assert "excluded from billing: internal tenant (account)" in page.text
    excluded = page.text[page.text.index('id="rec-excluded"') :]
    assert excluded[excluded.index(">") + 1 : excluded.index("<")] != "0"
    calm = client.get(f"/ui/w/{world.alpha}/reconcile?drift=1")
    assert "internal tenant" not in calm.text  # excluded rows need no attention


def test_the_grids_show_exclusions_and_overrides_with_a_link_to_edit(world: World) -> None:
    account = _account(world)
    update_rule(
        world.database,
        world.alpha,
        RuleTarget(service_ref=SERVICE),
        {"minimum": 25, "free": 3},
        actor="test",
    )
    exclude(world.database, world.alpha, RuleTarget(account_ref=account), "internal", actor="t")
    exclude(world.database, world.alpha, RuleTarget(account, SERVICE), "own deal", actor="t")
    client = TestClient(world.app)
    log_in(client, VIEWER)
    services = client.get(f"/ui/w/{world.alpha}/services").text
    assert "free 3, minimum 25" in services
    assert f'href="/ui/w/{world.alpha}/rules?service={SERVICE}#edit"' in services
    accounts = client.get(f"/ui/w/{world.alpha}/accounts", params={"q": account}).text
    row = accounts[accounts.index(f'data-ref="{account}"') :]
    row = row[: row.index("</tr>")]
    assert 'class="badge badge-unmapped"' in row  # excluded is not unmapped: both shown
    assert 'Excluded</span> <span class="muted">internal</span>' in row
    assert f"{SERVICE}: excluded: own deal" in row
    assert f"rules?account={account}&amp;service={SERVICE}#edit" in row
    only = client.get(f"/ui/w/{world.alpha}/accounts", params={"billing": "excluded"}).text
    assert '<span id="grid-total">1 entries</span>' in only
    assert f'data-ref="{account}"' in only
    assert '<option value="excluded" selected>' in only
