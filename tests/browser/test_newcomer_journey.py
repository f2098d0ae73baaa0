"""The newcomer's journey in a real browser, saving a screenshot of each screen.

log in → wizard (connect, test, Sync Organizations, suggest, pick a client, services,
summary, finish) → dry run → Apply → results → logs → reconciliation → import.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from halosync.demo.web import DemoSite
from tests.browser.conftest import ADMIN_PASSWORD, log_in, shoot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _reload_until(page: Page, ready: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"{page.url} never became ready")
        time.sleep(0.3)
        page.reload()


def test_newcomer_journey(page: Page, site: DemoSite) -> None:
    page.goto(f"{site.url}/ui/login")
    shoot(page, "01-login")
    log_in(page, site, site.admin_email, ADMIN_PASSWORD)
    expect(page.get_by_text("Configure your HaloPSA integration")).to_be_visible()
    shoot(page, "02-dashboard-not-configured")

    # Step 1: Connect. Test Connection waits for server, client ID and secret.
    page.get_by_role("link", name="Configure HaloPSA").click()
    test_button = page.locator("#test-connection")
    expect(test_button).to_be_disabled()
    page.locator("#server_url").fill(site.halo_url)
    page.locator("#client_id").fill(site.client_id)
    expect(test_button).to_be_disabled()
    page.locator("#client_secret").fill(site.client_secret)
    expect(test_button).to_be_enabled()
    test_button.click()
    expect(page.locator("#test-result")).to_have_text("Test is successful.")
    shoot(page, "03-wizard-connect")
    page.get_by_role("button", name="Save Settings").click()
    page.wait_for_url("**/setup/test")
    expect(page.locator("#test-result")).to_contain_text("Test is successful.")
    shoot(page, "04-wizard-test")
    page.get_by_role("button", name="Next").click()
    page.wait_for_url("**/setup/accounts")

    # Step 3: Account mapping. Nothing is listed before the first Sync Organizations.
    expect(page.locator("#no-halo-clients")).to_be_visible()
    page.locator("#sync-organizations").click()
    expect(page.get_by_text("Sync Organizations started.")).to_be_visible()
    _reload_until(page, lambda: page.locator("#no-halo-clients").count() == 0)
    shoot(page, "05-wizard-accounts")
    page.locator("#suggest").click()
    expect(page.get_by_role("heading", name="Suggested mappings")).to_be_visible()
    assert page.locator("input[name=accept]").count() > 5
    shoot(page, "06-suggestions")
    page.get_by_role("button", name="Save selected mappings").click()
    expect(page.get_by_text(re.compile(r"Saved \d+ of \d+ suggested mappings\."))).to_be_visible()
    page.wait_for_url("**/setup/accounts")  # back in the wizard, where Suggest was pressed

    # Pick a Halo client by hand for an unmapped account: name and ID fill each other.
    with page.expect_response(lambda response: "status=unmapped" in response.url):
        page.locator("#grid-status").select_option("unmapped")
    expect(page.locator("#grid tbody tr").first).to_contain_text("Unmapped")
    row = page.locator("#grid tbody tr").first
    with page.expect_response(lambda response: "/accounts/edit" in response.url):
        row.get_by_role("button", name="Click to select").first.click()
    row = page.locator("#grid tbody tr").first
    name_input = row.locator("input[name=client_name]")
    expect(name_input).to_be_visible()
    option = row.locator("[data-pick-client]").first
    for _attempt in range(4):
        # htmx binds the swapped-in row a moment after it appears; type again if early.
        name_input.fill("")
        name_input.press_sequentially("a", delay=60)
        try:
            option.wait_for(timeout=3000)
            break
        except PlaywrightTimeoutError:
            continue
    picked_id = option.get_attribute("data-id")
    option.click()
    expect(row.locator("input[name=client_id_search]")).to_have_value(picked_id or "")
    expect(row.locator("[data-row-status]")).to_have_text("Pending")
    shoot(page, "07-client-picker")
    row.get_by_role("button", name=re.compile("^Save mapping")).click()
    expect(page.locator(f"#grid tbody tr:has-text('{picked_id}')").first).to_contain_text("Mapped")

    # Step 4: Service mapping; Next is blocked until one service is mapped.
    page.locator("#next").click()
    page.wait_for_url("**/setup/services")
    expect(page.locator("#next")).to_be_disabled()
    for index in range(1, 4):
        select = page.locator(f"#svc-item-{index}")
        select.select_option(index=index)
        page.get_by_role("button", name="Save mapping of").nth(index - 1).click()
        page.wait_for_url("**/setup/services")
    expect(page.locator("#services-count")).to_contain_text("3 of")
    shoot(page, "08-wizard-services")
    page.locator("#next").click()
    page.wait_for_url("**/setup/summary")
    expect(page.locator("#summary-status")).to_have_text("Connected")
    expect(page.locator("#summary-services-mapped")).to_have_text("3")
    shoot(page, "09-wizard-summary")
    page.get_by_role("button", name="Finish setup").click()
    expect(page.get_by_text("Setup finished.")).to_be_visible()
    expect(page.locator("#client-secret")).to_have_text("********")
    shoot(page, "10-dashboard")

    # Dry run, then Apply (with a confirmation), then the results per account × service.
    page.get_by_role("link", name="Dry run").click()
    page.locator("#run-preview").click()
    expect(page.locator("[data-count=created]")).not_to_have_text("0")
    skipped = page.locator("#planned-changes tr.action-skip").first
    expect(skipped).to_be_visible()
    page.locator("#changes-only").check()
    expect(skipped).to_be_hidden()
    shoot(page, "11-dry-run")
    page.locator("#apply").click()
    expect(page.locator("#confirm-dialog")).to_be_visible()
    page.locator("#confirm-ok").click()
    page.wait_for_url("**/results")
    _reload_until(page, lambda: "succeeded" in (page.locator("#run-summary").text_content() or ""))
    expect(page.locator("#run-summary")).to_contain_text("created")
    shoot(page, "12-results")

    # The cooldown after a manual full sync.
    page.get_by_role("link", name="Integration").click()
    expect(page.locator("#sync-state")).to_contain_text("You can trigger the next sync in")
    expect(page.locator("#sync-now")).to_be_disabled()
    expect(page.locator("#tile-psa")).to_have_text("just now")

    page.get_by_role("link", name="Logs & Monitoring").click()
    expect(page.locator("#tile-zone")).to_contain_text("Europe/Warsaw")
    expect(page.locator("#log-range")).to_contain_text("1 – ")
    shoot(page, "13-logs")
    page.locator("#log-level").select_option("info")
    expect(page.get_by_text("Subscriptions sync completed").first).to_be_visible()

    page.get_by_role("link", name="Reconciliation").click()
    expect(page.locator("#rec-total")).not_to_have_text("0")
    with page.expect_download() as download:
        page.locator("#csv").click()
    assert download.value.suggested_filename == "reconciliation.csv"
    shoot(page, "14-reconciliation")

    page.get_by_role("link", name="Import").click()
    shoot(page, "15-import")
    assert site.client_secret not in page.content()
