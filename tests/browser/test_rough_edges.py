"""Issue 16's rough edges in Chromium: the target switch dialog, ..."""

from __future__ import annotations

import re

import httpx2
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from halosync.connection.service import ConnectionInput, ConnectionService
from halosync.demo.journey import DEMO_WORKSPACE
from halosync.demo.web import DemoSite
from halosync.mapping.grid import unmapped_halo_clients
from halosync.mapping.service import (
    accept_suggestions,
    map_service,
    suggest_account_mappings,
    unmap_account,
)
from halosync.simulator.admin import PREFIX as ADMIN_PREFIX
from halosync.store.crypto import SecretBox
from halosync.store.models import Account, AccountMapping, LedgerEntry, Service
from halosync.sync.customers import run_customers_sync
from halosync.sync.usage import run_usage_sync
from halosync.sync.workspace_settings import SyncSettingsChange, update_sync_settings
from tests.browser.conftest import ADMIN_PASSWORD, log_in, shoot
from tests.browser.test_controls import _in_thread

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def ready(site: DemoSite) -> DemoSite:
    """The demo connected, pulled and its accounts mapped through the services."""
    box = SecretBox.from_settings(site.settings)
    service = ConnectionService(site.database, site.settings, box=box)
    _in_thread(
        lambda: service.save(
            DEMO_WORKSPACE,
            ConnectionInput(site.halo_url, site.client_id, site.client_secret),
        )
    )
    _in_thread(lambda: run_customers_sync(site.database, box, site.settings, site.workspace_id))
    with site.database.session() as session:
        accept_suggestions(
            session, site.workspace_id, suggest_account_mappings(session, site.workspace_id)
        )
    return site


def _licences_written(site: DemoSite, how_many: int) -> None:
    """Ledger rows as a usage sync leaves them after writing ``how_many`` licences."""
    with site.database.session() as session:
        mappings = session.scalars(
            select(AccountMapping).where(AccountMapping.workspace_id == site.workspace_id)
        ).all()[:how_many]
        service = session.scalars(
            select(Service).where(Service.workspace_id == site.workspace_id)
        ).first()
        assert service is not None
        assert len(mappings) == how_many
        for n, mapping in enumerate(mappings):
            account = session.get(Account, mapping.account_id)
            assert account is not None
            session.add(
                LedgerEntry(
                    workspace_id=site.workspace_id,
                    account_id=account.id,
                    service_id=service.id,
                    target="licence",
                    halo_client_id=mapping.halo_client_id,
                    halo_record_id=900 + n,
                    state="written",
                    marker=f"[halosync:{n:016x}]",
                    last_quantity=5,
                )
            )


def test_switching_target_asks_and_explains_what_happens_to_written_records(
    page: Page, ready: DemoSite
) -> None:
    _licences_written(ready, 3)
    log_in(page, ready, ready.admin_email, ADMIN_PASSWORD)
    target = page.locator("#target")
    expect(target).to_have_value("licence")
    dialog = page.locator("#confirm-dialog")

    page.get_by_role("button", name="Save target").click()  # no change: nothing to confirm
    expect(page.get_by_text("Target set to licence.", exact=False)).to_be_visible()
    expect(dialog).to_be_hidden()

    target.select_option("invoice_line")
    page.get_by_role("button", name="Save target").click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(
        "Switching from software licences to recurring invoice lines: the 3 licences "
        "halosync already wrote stay in HaloPSA as they are and are no longer updated"
    )
    expect(dialog).to_contain_text("so customers are not billed twice")
    shoot(page, "21-target-dialog")
    page.locator("#confirm-cancel").click()
    expect(dialog).to_be_hidden()
    expect(target).to_have_value("licence")

    target.select_option("invoice_line")
    page.get_by_role("button", name="Save target").click()
    page.locator("#confirm-ok").click()
    expect(page.get_by_text("Target set to invoice_line.", exact=False)).to_be_visible()
    expect(page.locator("#target")).to_have_value("invoice_line")


def test_reconciliation_shows_deliberate_skips_as_skipped(page: Page, ready: DemoSite) -> None:
    log_in(page, ready, ready.admin_email, ADMIN_PASSWORD)
    page.goto(f"{ready.url}/ui/w/{ready.workspace_id}/reconcile")
    skipped = page.locator("#rec-skipped")
    expect(skipped).not_to_have_text("0")
    trial = page.locator("tr", has_text="trial account: usage is synced once it is billed").first
    expect(trial.locator(".badge")).to_have_text("Skipped")
    expect(page.locator("tr", has_text="is not mapped to a HaloPSA item").first).to_contain_text(
        "Skipped"
    )
    shoot(page, "22-reconciliation-skipped")
    page.get_by_role("link", name="Only what needs attention").click()
    expect(page.locator("tbody .badge", has_text="Skipped")).to_have_count(0)


def test_a_failed_customers_pull_marks_mappings_response_error(page: Page, ready: DemoSite) -> None:
    box = SecretBox.from_settings(ready.settings)
    faults = f"{ready.halo_url}{ADMIN_PREFIX}/faults"
    armed = httpx2.post(
        faults, json={"kind": "error", "method": "GET", "path": "/api/client*", "times": None}
    )
    assert armed.status_code == 201, armed.text
    try:
        _in_thread(
            lambda: run_customers_sync(ready.database, box, ready.settings, ready.workspace_id)
        )
        log_in(page, ready, ready.admin_email, ADMIN_PASSWORD)
        page.goto(f"{ready.url}/ui/w/{ready.workspace_id}/accounts")
        first_mapped = page.locator("tbody tr", has_text="Response Error").first
        expect(first_mapped).to_contain_text(
            "Please refresh the page in a few minutes and try again."
        )
        expect(page.locator("tbody .badge", has_text=re.compile("^Mapped$"))).to_have_count(0)
    finally:
        httpx2.delete(faults)
    _in_thread(lambda: run_customers_sync(ready.database, box, ready.settings, ready.workspace_id))
    page.reload()
    expect(page.locator("tbody .badge", has_text="Response Error")).to_have_count(0)


def test_schedules_wait_for_finish_and_the_dashboard_says_so(page: Page, ready: DemoSite) -> None:
    update_sync_settings(
        ready.database, ready.workspace_id, SyncSettingsChange(target="licence"), confirmed=True
    )
    with ready.database.session() as session:
        service = session.scalars(
            select(Service).where(Service.workspace_id == ready.workspace_id)
        ).first()
        assert service is not None
        map_service(session, ready.workspace_id, service.ref, 1)
    log_in(page, ready, ready.admin_email, ADMIN_PASSWORD)
    waiting = page.locator("#schedules-waiting")
    expect(waiting).to_contain_text("Automatic syncs start when setup is finished")
    expect(page.locator("#next-sync-countdown")).to_have_text("after Finish")
    shoot(page, "23-dashboard-before-finish")

    page.goto(f"{ready.url}/ui/w/{ready.workspace_id}/setup/summary")
    page.locator("#finish-setup").click()
    expect(page.get_by_text("Setup finished. Usage now syncs on schedule.")).to_be_visible()
    expect(waiting).to_have_count(0)
    expect(page.locator("#next-sync")).not_to_have_text("—")


def test_skips_are_one_expandable_entry_per_reason(page: Page, ready: DemoSite) -> None:
    box = SecretBox.from_settings(ready.settings)
    for _ in range(2):
        _in_thread(lambda: run_usage_sync(ready.database, box, ready.settings, ready.workspace_id))
    log_in(page, ready, ready.admin_email, ADMIN_PASSWORD)
    page.goto(f"{ready.url}/ui/w/{ready.workspace_id}/logs")
    services = page.locator("tbody tr", has_text="Services not mapped")
    expect(services).to_have_count(2)  # one per run: a WARNING, then unchanged
    expect(services.first.locator(".badge")).to_have_text("INFO")
    expect(services.first).to_contain_text("Unchanged since the last sync.")
    expect(services.nth(1).locator(".badge")).to_have_text("WARNING")
    expect(page.locator("tbody tr", has_text="Subscription skipped")).to_have_count(0)
    details = services.nth(1).locator("details")
    full = details.locator("div")
    expect(full).to_be_hidden()
    details.locator("summary").click()
    expect(full).to_be_visible()
    expect(full).to_contain_text("not mapped to a HaloPSA item are not billed")
    shoot(page, "24-logs-skips")


def test_results_are_paged_latest_run_first_and_filtered_by_outcome(
    page: Page, ready: DemoSite
) -> None:
    box = SecretBox.from_settings(ready.settings)
    _in_thread(lambda: run_usage_sync(ready.database, box, ready.settings, ready.workspace_id))
    log_in(page, ready, ready.admin_email, ADMIN_PASSWORD)
    page.goto(f"{ready.url}/ui/w/{ready.workspace_id}/results")
    latest = page.locator("#run option").first
    expect(page.locator("#run")).to_have_value(str(latest.get_attribute("value")))
    expect(page.locator("#result-range")).to_have_text(re.compile(r"^1 – 50 of \d+$"))
    page.locator("#result-size").select_option("20")
    expect(page.locator("#result-range")).to_have_text(re.compile(r"^1 – 20 of \d+$"))
    expect(page.locator("tbody tr")).to_have_count(20)
    page.locator("#result-next").click()
    expect(page.locator("#result-range")).to_have_text(re.compile(r"^21 – 40 of \d+$"))
    page.locator("#action").select_option("skip")
    expect(page.locator("#result-range")).to_have_text(re.compile(r"^1 – 20 of \d+$"))
    expect(page.locator("tbody .badge", has_text="skip")).to_have_count(20)
    expect(page.locator("#result-prev")).to_have_attribute("aria-disabled", "true")
    shoot(page, "25-results-paged")


def test_a_suggestion_row_can_take_another_client_before_saving(
    page: Page, ready: DemoSite
) -> None:
    update_sync_settings(  # an earlier test may have left the invoice_line target
        ready.database, ready.workspace_id, SyncSettingsChange(target="licence"), confirmed=True
    )
    with ready.database.session() as session:
        mapping = session.scalars(
            select(AccountMapping).where(AccountMapping.workspace_id == ready.workspace_id)
        ).first()
        assert mapping is not None
        account = session.get(Account, mapping.account_id)
        assert account is not None
        ref, name = account.ref, account.name
        unmap_account(session, ready.workspace_id, ref)
        free = [
            client
            for client in unmapped_halo_clients(session, ready.workspace_id, limit=500)
            if client.halo_id != mapping.halo_client_id
        ]
        other = free[0].halo_id, free[0].name
    log_in(page, ready, ready.admin_email, ADMIN_PASSWORD)
    page.goto(f"{ready.url}/ui/w/{ready.workspace_id}/accounts")
    page.locator("#suggest").click()
    row = page.locator("tbody tr", has_text=ref)
    picked = row.get_by_label(f"PSA Organization for {name}")
    expect(picked).to_have_value(re.compile(r"^\d+ — "))
    picked.fill(f"{other[0]} — {other[1]}")
    shoot(page, "26-suggestion-changed")
    page.locator("#accept-suggestions").click()
    expect(page.get_by_text("Saved ", exact=False).first).to_be_visible()
    with ready.database.session() as session:
        saved = session.scalars(
            select(AccountMapping).where(AccountMapping.account_id == mapping.account_id)
        ).one()
        assert saved.halo_client_id == other[0]
