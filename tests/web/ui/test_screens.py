"""The screens through HTTP: the wizard's rules, the grid, syncs, logs, import, masking."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient

from halosync.sources import upload
from halosync.store.account_grid import refresh_mapping_columns
from halosync.store.models import HaloClient, HaloRecurringInvoice, LogEntry, RunResult, SyncRun
from halosync.sync.progress import SyncProgress
from halosync.sync.runs import beat, start_run
from tests.web.ui.world import ADMIN, World, connect_and_pull, log_in
from tests.web.ui.world import connect_halo as _connect
from tests.web.ui.world import wait_idle as _wait_idle


def _flashes(page: str) -> list[str]:
    return [html.unescape(text) for text in re.findall(r'class="flash \w+">([^<]+)', page)]


def test_the_wizard_holds_each_step_until_its_rule_is_met(world: World) -> None:
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    w = f"/ui/w/{world.alpha}"
    page = client.get(f"{w}/setup/connect").text
    assert 'id="test-connection" disabled' in page
    assert 'data-needs-fields="server_url,client_id,client_secret"' in page
    blocked = client.post(f"{w}/setup/connect/next", data={"csrf_token": token})
    assert "Save the connection settings first." in _flashes(blocked.text)

    refused = _connect(client, world, token, secret="not-the-secret")
    assert "Invalid connection configuration." in refused
    assert "not-the-secret" not in refused
    assert "Save the connection settings first." in client.get(f"{w}/setup/connect").text

    tried = client.post(
        f"{w}/setup/test-input",
        data={
            "csrf_token": token,
            "server_url": world.halo_url,
            "client_id": world.application.client_id,
            "client_secret": world.application.client_secret,
            "target": "licence",
        },
    )
    assert "Test is successful." in tried.text
    wrong = client.post(
        f"{w}/setup/test-input",
        data={
            "csrf_token": token,
            "server_url": world.halo_url,
            "client_id": "nobody",
            "client_secret": "wrong",
        },
    )
    assert "Test is not successful." in wrong.text

    saved = _connect(client, world, token)
    assert "Connection saved. Test is successful." in _flashes(saved)
    assert world.application.client_secret not in saved
    summary = client.get(f"{w}/setup/summary").text
    assert 'id="summary-accounts-total">15<' in summary

    services = client.post(f"{w}/setup/services/next", data={"csrf_token": token})
    assert "Map at least one service to a Halo item." in _flashes(services.text)
    finish = client.post(f"{w}/setup/finish", data={"csrf_token": token})
    assert "Map at least one service to a Halo item." in _flashes(finish.text)

    client.post(f"{w}/sync-organizations", data={"csrf_token": token})
    _wait_idle(world)
    page = client.get(f"{w}/setup/services").text
    first_service = re.search(r'name="service_ref" value="([^"]+)"', page)
    first_item = re.search(r'<option value="(\d+)"', page)
    assert first_service
    assert first_item
    client.post(
        f"{w}/services/map",
        data={
            "csrf_token": token,
            "service_ref": html.unescape(first_service.group(1)),
            "halo_item_id": first_item.group(1),
        },
        headers={"Referer": f"http://testserver{w}/setup/services"},
    )
    moved = client.post(f"{w}/setup/services/next", data={"csrf_token": token})
    assert moved.url.path == f"{w}/setup/summary"
    done = client.post(f"{w}/setup/finish", data={"csrf_token": token})
    assert "Setup finished." in " ".join(_flashes(done.text))
    dashboard = done.text
    assert 'id="client-secret">********<' in dashboard
    assert world.application.client_secret not in dashboard


def test_grid_search_filter_sort_paging_and_the_client_picker(world: World) -> None:
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    w = f"/ui/w/{world.alpha}"
    empty = client.get(f"{w}/accounts").text
    assert 'id="no-halo-clients"' in empty
    assert 'id="not-connected"' in empty
    assert re.search(r'id="sync-organizations"[^>]*disabled', empty)
    connect_and_pull(client, world, token)

    grid = client.get(f"{w}/accounts", params={"size": "5"}).text
    assert 'id="grid-range">1 – 5 of 15<' in grid
    page3 = client.get(
        f"{w}/accounts",
        params={"size": "5", "page": "3"},
        headers={"HX-Request": "true", "HX-Target": "grid"},
    ).text
    assert page3.startswith('\n<div id="grid">') or '<div id="grid">' in page3[:200]
    assert "11 – 15 of 15" in page3
    beyond = client.get(f"{w}/accounts", params={"size": "5", "page": "99"}).text
    assert "11 – 15 of 15" in beyond
    desc = client.get(f"{w}/accounts", params={"sort": "account_ref", "desc": "1"}).text
    refs = re.findall(r'data-ref="([^"]+)"', desc)
    assert refs == sorted(refs, reverse=True)
    unmapped = client.get(f"{w}/accounts", params={"status": "unmapped"}).text
    assert "15 entries" in unmapped
    assert "0 entries" in client.get(f"{w}/accounts", params={"status": "mapped"}).text

    first_ref = html.unescape(refs[-1])
    edit = client.get(f"{w}/accounts/edit", params={"ref": first_ref}).text
    assert 'name="client_name"' in edit
    assert 'name="client_id_search"' in edit
    options = client.get(f"{w}/halo-clients", params={"q": ""}).text
    picks = re.findall(r'data-id="(\d+)" data-name="([^"]+)"', options)
    assert picks
    halo_id, halo_name = picks[0]
    by_id = client.get(f"{w}/halo-clients", params={"q": halo_id}).text
    assert f'data-id="{halo_id}"' in by_id

    saved = client.post(
        f"{w}/accounts/map",
        data={"csrf_token": token, "account_ref": first_ref, "halo_client_id": halo_id},
    ).text
    assert "Mapped" in saved
    assert html.unescape(halo_name) in html.unescape(saved)
    again = client.get(f"{w}/halo-clients", params={"q": halo_id}).text
    assert f'data-id="{halo_id}"' not in again  # only unmapped clients are offered
    taken = client.post(
        f"{w}/accounts/map",
        data={
            "csrf_token": token,
            "account_ref": html.unescape(refs[-2]),
            "halo_client_id": halo_id,
        },
    ).text
    assert "already mapped" in html.unescape(taken)
    searched = client.get(f"{w}/accounts", params={"q": halo_id}).text
    assert f'data-ref="{refs[-1]}"' in searched
    removed = client.post(
        f"{w}/accounts/unmap", data={"csrf_token": token, "account_ref": first_ref}
    ).text
    assert "Unmapped" in removed
    assert "data-row-sync disabled" in removed
    by_typed_id = client.post(
        f"{w}/accounts/map",
        data={"csrf_token": token, "account_ref": first_ref, "client_id_search": halo_id},
    ).text
    assert ">Mapped<" in by_typed_id


def test_sync_now_in_progress_and_cooldown_texts(world: World) -> None:
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    w = f"/ui/w/{world.alpha}"
    _connect(client, world, token)
    with world.database.session() as session:
        session.add(
            SyncRun(
                workspace_id=world.alpha,
                kind="customers",
                trigger="schedule",
                status="running",
                heartbeat_at=datetime.now(UTC),
                started_at=datetime.now(UTC),
                counts={},
            )
        )
    busy = client.get(w).text
    assert 'id="sync-state">Sync in progress<' in busy
    assert 'id="sync-now"' in busy
    assert re.search(r'id="sync-now"[^>]*disabled', busy)
    refused = client.post(f"{w}/sync-now", data={"csrf_token": token})
    assert any(text.startswith("Sync in progress") for text in _flashes(refused.text))
    with world.database.session() as session:
        session.query(SyncRun).delete()
        session.add(
            SyncRun(
                workspace_id=world.alpha,
                kind="usage",
                trigger="manual",
                status="succeeded",
                started_at=datetime.now(UTC) - timedelta(minutes=20),
                finished_at=datetime.now(UTC) - timedelta(minutes=15),
                counts={},
            )
        )
    cooling = client.get(w).text
    assert 'id="sync-state">You can trigger the next sync in 45 minutes<' in cooling
    refused = client.post(f"{w}/sync-now", data={"csrf_token": token})
    assert "You can trigger the next sync in 45 minutes" in _flashes(refused.text)


def test_a_running_syncs_progress_shows_on_the_dashboard_and_results(world: World) -> None:
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    w = f"/ui/w/{world.alpha}"
    _connect(client, world, token)
    run_id = start_run(world.database, world.alpha, kind="usage", trigger="schedule")
    beat(world.database, run_id, SyncProgress("reading", 2, 180))
    reading = client.get(w).text
    assert 'id="sync-progress-text">Reading HaloPSA: 2 pages, 180 records<' in reading
    assert "<progress" not in reading
    until = datetime(2026, 6, 2, 16, 7, tzinfo=UTC)
    beat(world.database, run_id, SyncProgress("writing", 3, 250, 100, 600, until))
    # The panel htmx polls, in the viewer's time zone (Warsaw: 18:07 for 16:07 UTC).
    client.cookies.set("halosync_tz", "Europe/Warsaw")
    for page in (f"{w}/sync-status", f"{w}/results"):
        shown = html.unescape(client.get(page).text)
        assert (
            'id="sync-progress-text">Writing to HaloPSA: 100 of 600 records; waiting for '
            "HaloPSA's rate limit until 18:07<"
        ) in shown
        assert re.search(r'<progress max="600" value="100"', shown)
    with world.database.session() as session:
        session.query(SyncRun).delete()
    assert 'id="sync-progress"' not in client.get(f"{w}/sync-status").text


def test_price_toggle_and_reset(world: World) -> None:
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    w = f"/ui/w/{world.alpha}"
    _connect(client, world, token)
    page = client.get(w).text
    assert "data-enable-text=" in page
    assert "data-disable-text=" in page
    unconfirmed = client.post(
        f"{w}/settings/prices", data={"csrf_token": token, "price_mode": "unit"}
    )
    assert "nothing was changed" in " ".join(_flashes(unconfirmed.text))
    assert 'id="price-mode">off<' in unconfirmed.text
    confirmed = client.post(
        f"{w}/settings/prices",
        data={"csrf_token": token, "price_mode": "totals", "confirmed": "yes"},
    )
    assert "Sync price setting updated." in _flashes(confirmed.text)
    assert 'id="price-mode">totals<' in confirmed.text
    reset = client.post(f"{w}/reset", data={"csrf_token": token})
    assert reset.url.path == f"{w}/setup/connect"
    assert "Integration reset" in " ".join(_flashes(reset.text))
    assert "Configure HaloPSA" in client.get(w).text


def test_logs_tiles_filter_and_paging(world: World) -> None:
    client = TestClient(world.app)
    log_in(client, ADMIN)
    now = datetime.now(UTC)
    long = " ".join(f"A{n}: MAIL;" for n in range(1, 60))  # 650 characters: shown folded
    with world.database.session() as session:
        for n in range(236):
            level = "ERROR" if n % 50 == 0 else ("WARNING" if n % 10 == 0 else "INFO")
            session.add(
                LogEntry(
                    workspace_id=world.alpha,
                    level=level,
                    title=f"Entry {n}",
                    details=long if n == 0 else "details",
                    created_at=now - timedelta(hours=9, minutes=n),
                )
            )
        session.add(
            LogEntry(workspace_id=world.beta, level="ERROR", title="Beta only", created_at=now)
        )
    w = f"/ui/w/{world.alpha}"
    client.cookies.set("halosync_tz", "Europe/Warsaw")
    page = client.get(f"{w}/logs").text
    assert 'id="log-range">1 – 20 of 236<' in page
    assert 'id="tile-total">236<' in page
    assert 'class="value red" id="tile-errors">5<' in page
    assert 'class="value orange" id="tile-warnings">19<' in page
    assert "9h ago" in page
    assert re.search(r"UTC\+0[12]:00 Europe/Warsaw", page)
    assert "Beta only" not in page
    stamp = (now - timedelta(hours=9)).astimezone(ZoneInfo("Europe/Warsaw"))
    assert stamp.strftime("%Y-%m-%d %H:%M") in page
    assert '<option value="all" selected>All</option>' in page
    assert f"<summary>{long[:200]}\u2026</summary><div>{long}</div>" in page
    errors = client.get(f"{w}/logs", params={"level": "error"}).text
    assert 'id="log-range">1 – 5 of 5<' in errors
    last = client.get(f"{w}/logs", params={"page": "12", "size": "20"}).text
    assert 'id="log-range">221 – 236 of 236<' in last
    bigger = client.get(f"{w}/logs", params={"size": "50", "page": "2"}).text
    assert 'id="log-range">51 – 100 of 236<' in bigger
    # Whatever is typed into the page box, the first page is shown rather than an error.
    for typed in ("²", "9" * 40, "-3", "x"):
        odd = client.get(f"{w}/logs", params={"page": typed, "size": typed})
        assert odd.status_code == 200, typed
        assert 'id="log-range">1 – 20 of 236<' in odd.text


@pytest.mark.parametrize("where", ["in place", "in a child process"])
def test_import_shows_the_clis_validation_messages_and_changes_nothing(
    world: World, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if where == "in a child process":  # as a large file is
        monkeypatch.setattr(upload, "INLINE_UPLOAD_BYTES", 0)
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    w = f"/ui/w/{world.alpha}"
    bad = (
        "account_ref,account_name,account_status,billed,service_ref,service_name,quantity,"
        "start_date,billing_cycle,term\n"
        "NEW-1,New Co,active,true,NEWSVC,New Service,-3,2024-01-01,Monthly,Monthly\n"
    )
    refused = client.post(
        f"{w}/import",
        data={"csrf_token": token},
        files={"file": ("usage.csv", bad.encode(), "text/csv")},
    )
    assert refused.status_code == 422
    assert "nothing was changed" in refused.text
    assert "line 2, column quantity" in refused.text
    good = bad.replace("-3", "7")
    accepted = client.post(
        f"{w}/import",
        data={"csrf_token": token},
        files={"file": ("usage.csv", good.encode(), "text/csv")},
    )
    assert accepted.status_code == 200
    assert "Imported 1 row from" in accepted.text
    wrong_type = client.post(
        f"{w}/import",
        data={"csrf_token": token},
        files={"file": ("usage.xlsx", b"xx", "application/octet-stream")},
    )
    assert "is not a .csv or .json file" in wrong_type.text


def test_invoice_line_picker_required_and_response_error(world: World) -> None:
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    w = f"/ui/w/{world.alpha}"
    client.post(
        f"{w}/setup/connect",
        data={
            "csrf_token": token,
            "server_url": world.halo_url,
            "client_id": world.application.client_id,
            "client_secret": world.application.client_secret,
            "target": "invoice_line",
        },
    )
    client.post(f"{w}/sync-organizations", data={"csrf_token": token})
    _wait_idle(world)
    with world.database.session() as session:
        invoiced = {
            invoice.halo_client_id: invoice.halo_id
            for invoice in session.query(HaloRecurringInvoice).filter_by(
                workspace_id=world.alpha, gone=False, inactive=False
            )
        }
        clients = [
            row.halo_id
            for row in session.query(HaloClient).filter_by(workspace_id=world.alpha, gone=False)
        ]
    with_invoice = next(halo_id for halo_id in clients if halo_id in invoiced)
    without_invoice = next(halo_id for halo_id in clients if halo_id not in invoiced)
    grid = client.get(f"{w}/accounts").text
    assert "Recurring invoice</th>" in grid
    refs = [html.unescape(ref) for ref in re.findall(r'data-ref="([^"]+)"', grid)]

    options = client.get(
        f"{w}/halo-clients/invoices", params={"halo_client_id": str(with_invoice)}
    ).text
    assert f'<option value="{invoiced[with_invoice]}">' in options
    none = client.get(
        f"{w}/halo-clients/invoices", params={"halo_client_id": str(without_invoice)}
    ).text
    assert "Required: no recurring invoice" in none

    refused = client.post(
        f"{w}/accounts/map",
        data={"csrf_token": token, "account_ref": refs[0], "halo_client_id": str(without_invoice)},
    ).text
    assert "Required: Halo client" in html.unescape(refused)
    assert 'name="client_name"' in refused  # still editing

    saved = client.post(
        f"{w}/accounts/map",
        data={
            "csrf_token": token,
            "account_ref": refs[0],
            "halo_client_id": str(with_invoice),
            "recurring_invoice_id": str(invoiced[with_invoice]),
        },
    ).text
    assert ">Mapped<" in saved
    assert f"({invoiced[with_invoice]})" in saved

    with world.database.session() as session:
        session.query(HaloRecurringInvoice).filter_by(
            workspace_id=world.alpha, halo_id=invoiced[with_invoice]
        ).update({"gone": True})
        refresh_mapping_columns(session, world.alpha)  # as Sync Organizations does after
    required = client.get(f"{w}/accounts", params={"status": "required"}).text
    assert ">Required<" in required
    assert "1 entries" in required
    blocked = client.post(f"{w}/setup/accounts/next", data={"csrf_token": token})
    assert "status Required" in " ".join(_flashes(blocked.text))

    with world.database.session() as session:
        session.query(HaloClient).filter_by(workspace_id=world.alpha, halo_id=with_invoice).delete()
        refresh_mapping_columns(session, world.alpha)
    broken = client.get(f"{w}/accounts", params={"status": "response_error"}).text
    assert ">Response Error<" in broken
    assert "Please refresh the page in a few minutes and try again." in broken


def test_schedules_daily_or_monthly_and_test_connection_refreshes_the_last_test(
    world: World,
) -> None:
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    w = f"/ui/w/{world.alpha}"
    _connect(client, world, token)
    page = client.get(w).text
    assert 'id="schedule-usage-text">Daily at 18:00 UTC<' in page
    assert 'id="schedule-customers-text">Daily at 08:00 UTC<' in page
    monthly = client.post(
        f"{w}/settings/schedule",
        data={
            "csrf_token": token,
            "kind": "usage",
            "frequency": "monthly",
            "day": "last",
            "at": "06:30",
            "enabled": "yes",
        },
    ).text
    assert "Subscriptions to HaloPSA: Monthly on the last day at 06:30 UTC." in _flashes(monthly)
    assert 'id="schedule-usage-text">Monthly on the last day at 06:30 UTC<' in monthly
    off = client.post(
        f"{w}/settings/schedule",
        data={"csrf_token": token, "kind": "customers", "frequency": "daily", "at": "07:15"},
    ).text
    assert "Organizations from HaloPSA: off." in _flashes(off)
    notice = client.get(f"{w}/accounts").text
    assert "Subscriptions are synced from the platform to HaloPSA: Monthly on the last" in notice
    bad = client.post(
        f"{w}/settings/schedule",
        data={"csrf_token": token, "kind": "usage", "frequency": "monthly", "day": "31", "at": "1"},
    ).text
    assert any(text.startswith("Schedule not changed:") for text in _flashes(bad))

    tested = client.post(f"{w}/connection/test", headers={"X-CSRF-Token": token}).text
    assert "Test is successful." in tested
    assert 'id="last-test" hx-swap-oob="true"' in tested


def test_notifications_retention_and_cooldown_are_checked_then_saved(world: World) -> None:
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    w = f"/ui/w/{world.alpha}"
    _connect(client, world, token)
    bad = client.post(
        f"{w}/settings/preferences",
        data={
            "csrf_token": token,
            "notify_email": "not an address",
            "notify_on_failure": "yes",
            "log_retention_days": "0",
            "cooldown_minutes": "ninety",
        },
    ).text
    message = " ".join(_flashes(bad))
    assert message.startswith("Settings not changed:")
    assert "cooldown 'ninety' is not a whole number" in message
    assert "not an e-mail address" in message
    assert 'value="30"' in bad  # retention unchanged
    no_address = client.post(
        f"{w}/settings/preferences",
        data={"csrf_token": token, "notify_email": " ", "notify_on_success": "yes"},
    ).text
    assert "notify_email is needed to send notifications" in " ".join(_flashes(no_address))
    good = client.post(
        f"{w}/settings/preferences",
        data={
            "csrf_token": token,
            "notify_email": "billing@msp.example",
            "notify_on_failure": "yes",
            "log_retention_days": "45",
            "cooldown_minutes": "90",
        },
    ).text
    assert "Notification and log settings saved." in _flashes(good)
    assert 'value="billing@msp.example"' in good
    assert re.search(r'id="log_retention_days"[^>]*value="45"', good)
    assert 'value="90"' in good


def test_a_runs_e_mail_link_shows_that_runs_log(world: World) -> None:
    from halosync.notify.messages import log_link

    client = TestClient(world.app)
    log_in(client, ADMIN)
    now = datetime.now(UTC)
    with world.database.session() as session:
        run = SyncRun(workspace_id=world.alpha, kind="usage", trigger="manual", status="succeeded")
        session.add(run)
        session.flush()
        run_id = run.id
        session.add(
            LogEntry(workspace_id=world.alpha, level="INFO", title="Other run", created_at=now)
        )
        for title in ("Subscriptions sync started", "Subscriptions sync completed"):
            session.add(
                LogEntry(
                    workspace_id=world.alpha,
                    run_id=run_id,
                    level="INFO",
                    title=title,
                    created_at=now,
                )
            )
    link = log_link("http://testserver", world.alpha, run_id)
    page = client.get(link.removeprefix("http://testserver")).text
    assert f"Showing the entries of run {run_id}" in page
    assert "Subscriptions sync completed" in page
    assert "Other run" not in page
    assert 'id="log-range">1 – 2 of 2<' in page


def test_suggest_from_the_wizard_returns_to_the_wizard(world: World) -> None:
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    w = f"/ui/w/{world.alpha}"
    connect_and_pull(client, world, token)
    step = client.get(f"{w}/setup/accounts").text
    assert f'name="back" value="{w}/setup/accounts"' in step
    page = client.post(
        f"{w}/accounts/suggest", data={"csrf_token": token, "back": f"{w}/setup/accounts"}
    ).text
    assert f'name="back" value="{w}/setup/accounts"' in page
    saved = client.post(
        f"{w}/accounts/suggest/accept",
        data={"csrf_token": token, "back": f"{w}/setup/accounts"},
        follow_redirects=False,
    )
    assert saved.headers["location"].endswith(f"{w}/setup/accounts")
    # Anywhere else (another workspace, another site) falls back to the mapping page.
    for hostile in (f"/ui/w/{world.beta}/accounts", "https://evil.example/", f"{w}//evil"):
        page = client.post(
            f"{w}/accounts/suggest", data={"csrf_token": token, "back": hostile}
        ).text
        assert f'name="back" value="{w}/accounts"' in page, hostile


def test_grid_filters_by_organization_and_psa_status(world: World) -> None:
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    w = f"/ui/w/{world.alpha}"
    connect_and_pull(client, world, token)
    page = client.get(f"{w}/accounts").text
    assert 'id="grid-org-status"' in page
    assert 'id="grid-psa-status"' in page
    everyone = client.get(f"{w}/accounts", params={"size": "100"}).text
    trial = client.get(f"{w}/accounts", params={"size": "100", "org_status": "trial"}).text
    rows = re.findall(r'data-ref="[^"]+"', everyone)
    trial_rows = re.findall(r'data-ref="[^"]+"', trial)
    assert len(trial_rows) < len(rows)
    assert '<option value="trial" selected>' in trial
    unmapped_in_halo = client.get(f"{w}/accounts", params={"psa_status": "active"}).text
    assert re.search(r'id="grid-range">0 of 0<', unmapped_in_halo)  # nothing mapped yet


def test_mapping_one_of_thousands_of_similar_accounts_shows_its_row(world: World) -> None:
    from halosync.sources.importer import import_document
    from halosync.sync.workspace_settings import SyncSettingsChange, update_sync_settings

    crowd = [
        {"ref": f"{n}7", "name": f"Crowd {n:05d}", "status": "active", "billed": True}
        for n in range(2_000)
    ]
    crowd.append({"ref": "7", "name": "Zulu Seven Ltd", "status": "active", "billed": True})
    subscription = {
        "account_ref": "7",
        "service_ref": "SEVEN",
        "quantity": 3,
        "start_date": "2024-01-01",
        "billing_cycle": "Monthly",
        "term": "Monthly",
    }
    import_document(
        world.database,
        world.alpha,
        {
            "accounts": crowd,
            "services": [{"ref": "SEVEN", "name": "Seven Service"}],
            "subscriptions": [subscription],
        },
    )
    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    w = f"/ui/w/{world.alpha}"
    connect_and_pull(client, world, token)
    update_sync_settings(
        world.database,
        world.alpha,
        SyncSettingsChange(create_licence_on_mapping=True),
        confirmed=True,
    )
    item_id = world.seed["items"][0]["id"]
    client.post(
        f"{w}/services/map",
        data={"csrf_token": token, "service_ref": "SEVEN", "halo_item_id": str(item_id)},
    )
    halo_client = world.seed["clients"][-1]
    saved = client.post(
        f"{w}/accounts/map",
        data={"csrf_token": token, "account_ref": "7", "halo_client_id": str(halo_client["id"])},
    )
    assert saved.status_code == 200, saved.text
    assert ">Mapped<" in saved.text
    assert "Creating the licences of 7 in HaloPSA" in saved.text
    _wait_idle(world)
    licences = [
        (licence["name"], licence["count"])
        for licence in world.simulator.state.records("SoftwareLicence")
        if licence["client_id"] == halo_client["id"]
    ]
    assert licences == [("Seven Service", 3)]
    row = client.get(f"{w}/accounts/row", params={"ref": "7"})
    assert row.status_code == 200
    assert 'data-ref="7"' in row.text
    synced = client.post(f"{w}/accounts/sync", data={"csrf_token": token, "account_ref": "7"})
    assert "Unmapped organizations cannot" not in " ".join(_flashes(synced.text))
    _wait_idle(world)


def test_results_of_a_run_older_than_the_listed_ones_are_found_by_its_id(world: World) -> None:
    client = TestClient(world.app)
    log_in(client, ADMIN)
    with world.database.session() as session:
        runs = [
            SyncRun(
                workspace_id=world.alpha,
                kind="usage",
                trigger="schedule",
                status="succeeded",
                counts={"created": n, "updated": 0, "unchanged": 0, "skipped": 0, "failed": 0},
            )
            for n in range(8)
        ]
        session.add_all(runs)
        session.flush()
        oldest = runs[0].id
    page = client.get(f"/ui/w/{world.alpha}/results", params={"run": str(oldest)}).text
    assert f"Run #{oldest} succeeded: 0 created" in page
    assert f'<option value="{oldest}" selected>' in page
    newest = client.get(f"/ui/w/{world.alpha}/results").text
    assert f"Run #{runs[-1].id} succeeded: 7 created" in newest


def test_setup_summary_says_which_line_the_first_sync_takes_over(world: World) -> None:
    """For invoice lines, the summary names the existing line of a mapped item that the
    first sync takes over, with its quantity before and after."""
    from sqlalchemy import select

    from halosync.mapping.service import map_account, map_service
    from halosync.store.models import Account, HaloItem, Service, Subscription

    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    w = f"/ui/w/{world.alpha}"
    _connect(client, world, token)
    client.post(f"{w}/settings/target", data={"csrf_token": token, "target": "invoice_line"})
    client.post(f"{w}/sync-organizations", data={"csrf_token": token})
    _wait_idle(world)
    with world.database.session() as db:
        account, service, quantity = db.execute(
            select(Account.ref, Service.ref, Subscription.quantity)
            .join(Subscription, Subscription.account_id == Account.id)
            .join(Service, Service.id == Subscription.service_id)
            .where(
                Account.workspace_id == world.alpha,
                Account.status == "active",
                Account.billed.is_(True),
                Subscription.status == "active",
                Subscription.quantity > 0,
            )
            .order_by(Account.ref, Service.ref)
            .limit(1)
        ).one()
        invoice_id, client_id = db.execute(
            select(HaloRecurringInvoice.halo_id, HaloRecurringInvoice.halo_client_id)
            .where(HaloRecurringInvoice.workspace_id == world.alpha)
            .order_by(HaloRecurringInvoice.halo_id.desc())
            .limit(1)
        ).one()
        invoice = world.simulator.state.record("RecurringInvoice", invoice_id)
        assert invoice is not None
        on_invoice = {line["_itemid"] for line in invoice["lines"]}
        item_id, item_name = db.execute(
            select(HaloItem.halo_id, HaloItem.name)
            .where(HaloItem.workspace_id == world.alpha, HaloItem.halo_id.not_in(on_invoice))
            .order_by(HaloItem.halo_id)
            .limit(1)
        ).one()
        map_account(db, world.alpha, account, client_id, recurring_invoice_id=invoice_id)
        map_service(db, world.alpha, service, item_id)
    kept = [{"id": line["id"]} for line in invoice["lines"]]
    world.simulator.state.edit_by_hand(
        "RecurringInvoice",
        invoice_id,
        # Halo's qty_order is a JSON double; the vendor's count is an exact decimal.
        lines=[*kept, {"_itemid": item_id, "qty_order": float(quantity + 2)}],
    )
    edited = world.simulator.state.record("RecurringInvoice", invoice_id)
    assert edited is not None
    line = edited["lines"][-1]
    page = client.get(f"{w}/setup/summary").text
    assert f'hx-post="{w}/setup/summary/lines"' in page
    summary = html.unescape(
        client.post(f"{w}/setup/summary/lines", headers={"X-CSRF-Token": token}).text
    )
    expected = (
        f"will take over line {line['id']} ({item_name}, qty {quantity + 2:g} \u2192 {quantity:g})"
    )
    assert expected in summary, summary


def test_only_lines_halosync_adds_is_an_opt_out_on_the_dashboard(world: World) -> None:
    from halosync.sync.workspace_settings import show_sync_settings

    client = TestClient(world.app)
    token = log_in(client, ADMIN)
    w = f"/ui/w/{world.alpha}"
    _connect(client, world, token)
    assert 'id="only_own_lines"' not in client.get(w).text  # licence target: not shown
    client.post(f"{w}/settings/target", data={"csrf_token": token, "target": "invoice_line"})
    page = client.get(w).text
    assert re.search(r'id="only_own_lines" name="only_own_lines" value="yes"\s+>', page)
    assert show_sync_settings(world.database, world.alpha).adopt_existing_lines is True
    form = {"csrf_token": token, "target": "invoice_line", "lines_choice": "shown"}
    client.post(f"{w}/settings/target", data={**form, "only_own_lines": "yes"})
    assert show_sync_settings(world.database, world.alpha).adopt_existing_lines is False
    assert 'value="yes" checked' in client.get(w).text
    client.post(f"{w}/settings/target", data=form)
    assert show_sync_settings(world.database, world.alpha).adopt_existing_lines is True


def test_the_results_page_says_why_each_quantity(world: World) -> None:
    """Each result shows the quantity rules' chain that produced its number."""
    client = TestClient(world.app)
    log_in(client, ADMIN)
    chain = "vendor 23 \u2192 minus 3 free (service) \u2192 minimum 25 (workspace) \u2192 25"
    with world.database.session() as session:
        run = SyncRun(
            workspace_id=world.alpha,
            kind="usage",
            trigger="manual",
            status="succeeded",
            counts={"created": 1, "updated": 0, "unchanged": 0, "skipped": 0, "failed": 0},
        )
        session.add(run)
        session.flush()
        session.add(
            RunResult(
                run_id=run.id,
                workspace_id=world.alpha,
                action="create",
                reason="no licence yet for this account and service; creating one",
                level="INFO",
                explain={"text": chain, "steps": []},
            )
        )
    page = client.get(f"/ui/w/{world.alpha}/results").text
    assert '<th scope="col">Why this quantity</th>' in page
    assert f'<td class="explain">{html.escape(chain)}</td>' in page


def test_pages_name_their_icon_so_the_browser_asks_for_no_missing_favicon(world: World) -> None:
    client = TestClient(world.app)
    assert client.get("/favicon.ico").status_code == 404
    assert '<link rel="icon" href="data:,">' in client.get("/ui/login").text
