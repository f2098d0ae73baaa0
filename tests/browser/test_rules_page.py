"""The Quantity rules page in Chromium: an admin sets a service's rule, sees a refusal next
to its field, excludes an account with a reason, follows the service grid's link back to
the rule and clears it after the confirmation dialog; a viewer only reads."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from halosync.demo.web import DemoSite
from halosync.store.models import Account
from tests.browser.conftest import ADMIN_PASSWORD, log_in, shoot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SERVICE = "M365-BP"


def _an_account(site: DemoSite) -> str:
    with site.database.session() as session:
        ref = session.scalar(
            select(Account.ref)
            .where(Account.workspace_id == site.workspace_id)
            .order_by(Account.ref)
        )
    assert ref is not None
    return ref


def test_an_admin_sets_refuses_excludes_and_clears_rules(page: Page, site: DemoSite) -> None:
    account = _an_account(site)
    log_in(page, site, site.admin_email, ADMIN_PASSWORD)
    page.get_by_role("link", name="Quantity rules").click()
    expect(page.get_by_role("heading", name="Quantity rules", level=1)).to_be_visible()
    expect(page.locator("#no-rules")).to_be_visible()

    # One service's rule, from today.
    page.get_by_label("Service reference").fill(SERVICE)
    page.get_by_role("button", name="Open").click()
    expect(page.get_by_role("heading", name=f"Service {SERVICE}", exact=True)).to_be_visible()
    page.get_by_label("Free (the first N are not billed)").fill("3")
    page.get_by_label("Minimum (bill at least N)").fill("25")
    page.get_by_label("Rounding of fractional counts").select_option("up")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator(".flash.success")).to_contain_text(f"Rule of the service {SERVICE} saved")
    in_force = page.get_by_role("table", name="Rules in force today")
    expect(in_force).to_contain_text("free 3, round up, minimum 25")
    expect(page.get_by_role("table", name="History of this scope")).to_contain_text("minimum 25")

    # A ceiling below the minimum: refused next to the field, what was typed kept.
    ceiling = page.get_by_label("Ceiling (more than N waits for review)")
    ceiling.fill("10")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator("#ceiling-error")).to_contain_text("below the minimum 25")
    expect(ceiling).to_have_value("10")
    expect(ceiling).to_be_focused()  # the first field refused has the focus, so it is seen
    shoot(page, "32-rules-refused")

    # An account excluded with its reason.
    page.get_by_label("Service reference").fill("")
    page.get_by_label("Account reference").fill(account)
    page.get_by_role("button", name="Open").click()
    expect(page.locator("#rule-form")).to_have_count(0)  # an account alone: exclusion only
    page.get_by_label("Reason (shown in the grids and the dry run)").fill("internal tenant")
    page.get_by_role("button", name="Exclude from billing").click()
    expect(page.locator(".flash.success")).to_contain_text("is excluded from billing")
    expect(page.get_by_role("table", name="Exclusions in force today")).to_contain_text(
        "internal tenant"
    )
    page.goto(f"{site.url}/ui/w/{site.workspace_id}/rules")
    shoot(page, "31-rules")

    # The service grid shows the override and links back to the rule.
    page.get_by_role("link", name="Service mapping").click()
    row = page.get_by_role("row").filter(has_text=SERVICE)
    expect(row).to_contain_text("free 3, round up, minimum 25")
    row.locator("[data-service-rule] a").click()
    expect(page.get_by_label("Minimum (bill at least N)")).to_have_value("25")

    # Clear asks first; cancelling keeps the rule, confirming clears it.
    page.get_by_role("button", name="Clear this scope's rule").click()
    page.locator("#confirm-cancel").click()
    expect(page.get_by_label("Minimum (bill at least N)")).to_have_value("25")
    page.get_by_role("button", name="Clear this scope's rule").click()
    page.locator("#confirm-ok").click()
    expect(page.locator(".flash.success")).to_contain_text(f"Rule of the service {SERVICE} cleared")
    expect(page.get_by_label("Minimum (bill at least N)")).to_have_value("")


def test_an_admin_bills_one_service_of_an_excluded_account_anyway(
    page: Page, site: DemoSite
) -> None:
    account = _an_account(site)  # (the site is shared: another test may have excluded it)
    log_in(page, site, site.admin_email, ADMIN_PASSWORD)
    page.goto(f"{site.url}/ui/w/{site.workspace_id}/rules?account={account}#edit")
    page.get_by_label("Reason (shown in the grids and the dry run)").fill("own use")
    page.get_by_role("button", name="Exclude from billing").click()
    expect(page.locator(".flash.success")).to_contain_text("is excluded from billing")

    # The pair: excluded by its account, said so, and billed anyway on request.
    page.get_by_label("Service reference").fill(SERVICE)
    page.get_by_role("button", name="Open").click()
    expect(page.locator("#excluded-by")).to_contain_text(
        f"Not billed: the account {account} excludes it (own use)."
    )
    expect(page.locator("#include-scope")).to_have_count(0)  # nothing of its own to end
    page.get_by_role("button", name="Bill it anyway").click()
    expect(page.locator(".flash.success")).to_contain_text(
        f"The account {account} × service {SERVICE} is billed again"
    )
    expect(page.locator("#scope-included")).to_contain_text("Billed over a broader exclusion")
    expect(page.locator("#excluded-by")).to_have_count(0)
    expect(page.get_by_role("table", name="Exclusions in force today")).to_contain_text(
        "billed over a broader exclusion"
    )

    # Ended: the account's exclusion applies to the pair again.
    page.get_by_role("button", name="Stop billing it over the exclusion").click()
    expect(page.locator(".flash.success")).to_contain_text("follows the broader exclusion again")
    expect(page.locator("#excluded-by")).to_be_visible()
