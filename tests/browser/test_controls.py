"""Confirmation dialogs, sync texts, a viewer's read-only UI, paging and filters, in Chromium."""

from __future__ import annotations

import asyncio
import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from halosync.connection.service import ConnectionInput, ConnectionService
from halosync.demo.journey import DEMO_WORKSPACE
from halosync.demo.web import DemoSite
from halosync.mapping.service import accept_suggestions, suggest_account_mappings
from halosync.store.crypto import SecretBox
from halosync.store.models import LogEntry, SyncRun
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.customers import run_customers_sync
from halosync.sync.progress import SyncProgress
from halosync.sync.runs import beat
from halosync.users import create_user
from tests.browser.conftest import ADMIN_PASSWORD, VIEWPORT, log_in, settled, shoot

pytestmark = [pytest.mark.browser, pytest.mark.slow]
VIEWER_EMAIL = "viewer@example.com"
VIEWER_PASSWORD = "viewer password 1"


def _in_thread(coroutine_factory: object) -> None:
    """Run a coroutine to the end on a thread of its own (Playwright owns this one)."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coroutine_factory())  # type: ignore[operator]
        except BaseException as error:
            failures.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    if failures:
        raise failures[0]


@pytest.fixture(scope="module")
def ready(site: DemoSite) -> DemoSite:
    """The demo connected, pulled and mapped through the services, plus a viewer."""
    box = SecretBox.from_settings(site.settings)
    service = ConnectionService(site.database, site.settings, box=box)
    _in_thread(
        lambda: service.save(
            DEMO_WORKSPACE,
            ConnectionInput(site.halo_url, site.client_id, site.client_secret),
        )
    )
    _in_thread(lambda: run_customers_sync(site.database, box, site.settings, site.workspace_id))
    now = datetime.now(UTC)
    with site.database.session() as session:
        accept_suggestions(
            session, site.workspace_id, suggest_account_mappings(session, site.workspace_id)
        )
        create_user(
            session,
            email=VIEWER_EMAIL,
            name="Val Viewer",
            password=VIEWER_PASSWORD,
            workspace=WorkspaceRepository(session).get(site.workspace_id),
            role="viewer",
        )
        for n in range(230):
            level = "ERROR" if n % 46 == 0 else ("WARNING" if n % 10 == 0 else "INFO")
            session.add(
                LogEntry(
                    workspace_id=site.workspace_id,
                    level=level,
                    title=f"Subscriptions sync completed #{n}",
                    details="Workspace Demo MSP, provider HALO: 1 created, 0 failed, 12 ms.",
                    created_at=now - timedelta(hours=9, minutes=n),
                )
            )
    return site


def test_price_toggle_dialogs_differ_and_cancel_restores(page: Page, ready: DemoSite) -> None:
    log_in(page, ready, ready.admin_email, ADMIN_PASSWORD)
    prices = page.locator("#toggle-prices")
    expect(prices).not_to_be_checked()
    prices.click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Enable price sync?")
    shoot(page, "16-price-dialog")
    page.locator("#confirm-cancel").click()
    expect(dialog).to_be_hidden()
    expect(prices).not_to_be_checked()
    expect(page.locator("#price-mode")).to_have_text("off")

    prices.click()
    page.locator("#confirm-ok").click()
    expect(page.get_by_text("Sync price setting updated.")).to_be_visible()
    expect(page.locator("#price-mode")).to_have_text("totals")
    unit = page.locator("#toggle-unit")
    unit.click()
    expect(dialog).to_contain_text("Sync unit prices?")
    page.locator("#confirm-cancel").click()
    expect(unit).not_to_be_checked()
    page.locator("#toggle-prices").click()
    expect(dialog).to_contain_text("Disable price sync?")
    page.locator("#confirm-ok").click()
    expect(page.locator("#price-mode")).to_have_text("off")

    page.locator("#reset").click()
    expect(dialog).to_contain_text("Reset the HaloPSA integration?")
    page.locator("#confirm-cancel").click()
    expect(page.locator("#client-secret")).to_have_text("********")


def test_sync_in_progress_text_and_disabled_buttons(page: Page, ready: DemoSite) -> None:
    with ready.database.session() as session:
        run = SyncRun(
            workspace_id=ready.workspace_id,
            kind="customers",
            trigger="schedule",
            status="running",
            started_at=datetime.now(UTC),
            heartbeat_at=datetime.now(UTC),
            counts={},
        )
        session.add(run)
        session.flush()
        run_id = run.id
    try:
        log_in(page, ready, ready.admin_email, ADMIN_PASSWORD)
        expect(page.locator("#sync-state")).to_have_text("Sync in progress")
        expect(page.locator("#sync-now")).to_be_disabled()
        expect(page.locator("#sync-organizations")).to_be_disabled()
        page.get_by_role("link", name="Account mapping").click()
        expect(page.locator("#sync-state")).to_have_text("Sync in progress")
        expect(page.locator("[data-row-sync]").first).to_be_disabled()
        shoot(page, "17-sync-in-progress")
    finally:
        with ready.database.session() as session:
            finished = session.get(SyncRun, run_id)
            assert finished is not None
            finished.status, finished.finished_at = "succeeded", datetime.now(UTC)


def test_a_running_syncs_progress_updates_live_on_the_dashboard(
    page: Page, ready: DemoSite
) -> None:
    with ready.database.session() as session:
        run = SyncRun(
            workspace_id=ready.workspace_id,
            kind="usage",
            trigger="schedule",
            status="running",
            started_at=datetime.now(UTC),
            heartbeat_at=datetime.now(UTC),
            counts={},
        )
        session.add(run)
        session.flush()
        run_id = run.id
    beat(ready.database, run_id, SyncProgress("reading", 1, 100))
    try:
        log_in(page, ready, ready.admin_email, ADMIN_PASSWORD)
        text = page.locator("#sync-progress-text")
        expect(text).to_have_text("Reading HaloPSA: 1 page, 100 records")
        # The sync goes on, then meets Halo's rate limit: htmx polling shows it, no reload.
        until = datetime(2026, 6, 2, 16, 7, tzinfo=UTC)  # 18:07 in the viewer's Warsaw
        beat(ready.database, run_id, SyncProgress("writing", 3, 250, 100, 600, until))
        expect(text).to_have_text(
            "Writing to HaloPSA: 100 of 600 records; waiting for HaloPSA's rate limit until 18:07",
            timeout=10_000,
        )
        expect(page.locator("#sync-progress progress")).to_have_attribute("value", "100")
        with ready.database.session() as session:
            finished = session.get(SyncRun, run_id)
            assert finished is not None
            finished.status, finished.finished_at = "succeeded", datetime.now(UTC)
        expect(page.locator("#sync-progress")).to_have_count(0, timeout=10_000)
    finally:
        with ready.database.session() as session:
            left = session.get(SyncRun, run_id)
            assert left is not None
            if left.status == "running":
                left.status, left.finished_at = "succeeded", datetime.now(UTC)


def test_a_viewer_sees_everything_and_can_change_nothing(browser: Browser, ready: DemoSite) -> None:
    context = browser.new_context(viewport=VIEWPORT, timezone_id="UTC")
    page = context.new_page()
    try:
        log_in(page, ready, VIEWER_EMAIL, VIEWER_PASSWORD)
        for button in ("#test-connection", "#sync-now", "#reset", "#toggle-prices"):
            expect(page.locator(button)).to_be_disabled()
        page.get_by_role("link", name="Account mapping").click()
        expect(page.get_by_role("button", name="Click to select")).to_have_count(0)
        expect(page.locator("#suggest")).to_be_disabled()
        expect(page.get_by_role("button", name="Edit mapping of").first).to_be_disabled()
        shoot(page, "18-viewer-accounts")
        status = page.evaluate(
            """async (url) => {
                const token = document.querySelector('input[name=csrf_token]').value;
                const body = new URLSearchParams({csrf_token: token});
                const response = await fetch(url, {method: 'POST', body});
                return response.status;
            }""",
            f"/ui/w/{ready.workspace_id}/sync-now",
        )
        assert status == 403
    finally:
        context.close()


def test_log_paging_and_level_filter(page: Page, ready: DemoSite) -> None:
    log_in(page, ready, ready.admin_email, ADMIN_PASSWORD)
    page.goto(f"{ready.url}/ui/w/{ready.workspace_id}/logs")
    total = int(page.locator("#log-total").text_content().split()[0])  # type: ignore[union-attr]
    assert total >= 230
    expect(page.locator("#log-range")).to_have_text(f"1 – 20 of {total}")
    settled(page)
    expect(page.locator("#tile-errors")).to_have_class("value red")
    expect(page.locator("#tile-warnings")).to_have_class("value orange")
    expect(page.locator("#tile-last-update")).to_contain_text(re.compile(r"ago|just now"))
    page.get_by_role("button", name="Next page").click()
    expect(page.locator("#log-range")).to_have_text(f"21 – 40 of {total}")
    settled(page)
    page.locator("#log-page").fill("3")
    page.locator("#log-page").press("Enter")
    page.locator("#log-page").blur()
    expect(page.locator("#log-range")).to_have_text(f"41 – 60 of {total}")
    settled(page)
    page.locator("#log-size").select_option("50")
    expect(page.locator("#log-range")).to_have_text(f"1 – 50 of {total}")
    settled(page)
    page.locator("#log-level").select_option("error")
    expect(page.locator("#log-range")).to_have_text("1 – 5 of 5")
    settled(page)
    expect(page.locator("td .badge").first).to_have_text("ERROR")
    shoot(page, "19-logs-filtered")


def test_account_grid_search_status_and_paging(page: Page, ready: DemoSite) -> None:
    log_in(page, ready, ready.admin_email, ADMIN_PASSWORD)
    page.get_by_role("link", name="Account mapping").click()
    expect(page.locator("#grid-range")).to_contain_text("1 – 20 of ")
    settled(page)
    total = int(page.locator("#grid-total").text_content().split()[0])  # type: ignore[union-attr]
    page.get_by_role("button", name="Next page").click()
    expect(page.locator("#grid-range")).to_have_text(f"21 – {total} of {total}")
    settled(page)
    first_name = page.locator("#grid tbody tr td").first.text_content() or ""
    page.locator("#grid-search").fill(first_name[:8])
    expect(page.locator("#grid-range")).not_to_contain_text(f"of {total}")
    settled(page)
    expect(page.locator("#grid tbody tr").first).to_contain_text(first_name[:8])
    settled(page)
    page.locator("#grid-search").fill("")
    page.locator("#grid-status").select_option("mapped")
    expect(page.locator("#grid tbody tr").first).to_contain_text("Mapped")
    settled(page)
    page.locator("[data-sort=account_name]").click()
    expect(page.locator("th[aria-sort]")).to_have_attribute("aria-sort", "descending")
    settled(page)
    page.locator("[data-sort=account_ref]").click()
    expect(page.locator("th[aria-sort]")).to_have_attribute("aria-sort", "ascending")
    settled(page)
    expect(page.locator("th[aria-sort] [data-sort]")).to_have_attribute("data-sort", "account_ref")
    shoot(page, "20-accounts-filtered")
