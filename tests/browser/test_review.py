"""The Review page in Chromium: a feed error is held, approved in the UI and written once;
a rejected value leaves HaloPSA as it was and is not asked about again."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from halosync.connection.service import ConnectionInput, ConnectionService
from halosync.demo.journey import DEMO_WORKSPACE, _map_services_by_name
from halosync.demo.web import DemoSite
from halosync.domain.review import ReviewPolicy
from halosync.mapping.service import accept_suggestions, suggest_account_mappings
from halosync.store.crypto import SecretBox
from halosync.store.models import Account, LedgerEntry, Service, Subscription
from halosync.sync.customers import run_customers_sync
from halosync.sync.results import UsageReport
from halosync.sync.review import set_review_policy
from halosync.sync.usage import run_usage_sync
from tests.browser.conftest import log_in, shoot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _in_thread(factory: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine to the end on a thread of its own (Playwright owns this one)."""
    outcome: list[Any] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(asyncio.run(factory()))
        except BaseException as error:
            failures.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    if failures:
        raise failures[0]
    return outcome[0] if outcome else None


@dataclass
class Pair:
    account: str
    service: str
    licence_id: int
    was: int
    feed_error: int


@dataclass
class Held:
    site: DemoSite
    approved: Pair
    rejected: Pair

    def usage(self) -> UsageReport:
        box = SecretBox.from_settings(self.site.settings)
        report: UsageReport = _in_thread(
            lambda: run_usage_sync(
                self.site.database, box, self.site.settings, self.site.workspace_id
            )
        )
        assert report.status == "succeeded", report.error
        return report

    def halo(self, method: str, path: str) -> Any:
        response = httpx2.request(method, f"{self.site.halo_url}/_simulator/{path}", timeout=10)
        response.raise_for_status()
        return response.json()

    def halo_writes(self) -> list[dict[str, Any]]:
        return [e for e in self.halo("GET", "requests?method=POST") if "/api/" in e["path"]]

    def count(self, pair: Pair) -> int:
        return int(self.halo("GET", f"records/SoftwareLicence/{pair.licence_id}")["count"])


@pytest.fixture(scope="module")
def held(site: DemoSite) -> Held:
    """The demo synced once with the recommended review policy, then two feed errors."""
    box = SecretBox.from_settings(site.settings)
    service = ConnectionService(site.database, site.settings, box=box)
    _in_thread(
        lambda: service.save(
            DEMO_WORKSPACE, ConnectionInput(site.halo_url, site.client_id, site.client_secret)
        )
    )
    _in_thread(lambda: run_customers_sync(site.database, box, site.settings, site.workspace_id))
    with site.database.session() as session:
        accept_suggestions(
            session, site.workspace_id, suggest_account_mappings(session, site.workspace_id)
        )
    _map_services_by_name(site.database, site.workspace_id)
    set_review_policy(site.database, site.workspace_id, ReviewPolicy(), actor="test setup")
    world = Held(site, *(Pair("", "", 0, 0, 0),) * 2)
    world.usage()
    with site.database.session() as session:
        rows = session.execute(
            select(Subscription, Account.ref, Service.ref, LedgerEntry.halo_record_id)
            .join(Account, Account.id == Subscription.account_id)
            .join(Service, Service.id == Subscription.service_id)
            .join(
                LedgerEntry,
                (LedgerEntry.account_id == Subscription.account_id)
                & (LedgerEntry.service_id == Subscription.service_id),
            )
            .where(
                Subscription.workspace_id == site.workspace_id,
                LedgerEntry.state == "written",
                LedgerEntry.last_quantity > 0,
            )
            .order_by(Account.ref, Service.ref)
            .limit(2)
        ).all()
        pairs = []
        for subscription, account, service_ref, licence_id in rows:
            pairs.append(
                Pair(
                    account,
                    service_ref,
                    int(licence_id or 0),
                    int(subscription.quantity),
                    int(subscription.quantity) * 100,
                )
            )
            subscription.quantity *= 100  # the vendor's feed goes wrong
    world.approved, world.rejected = pairs
    world.halo("DELETE", "requests")
    report = world.usage()
    assert sum(1 for change in report.changes if change.held) == 2
    assert world.halo_writes() == []  # nothing reached HaloPSA
    return world


def test_a_feed_error_is_held_approved_in_the_ui_and_written_once(page: Page, held: Held) -> None:
    site = held.site
    log_in(page, site, site.admin_email, site.admin_password)
    expect(page.locator("#tile-review")).to_have_text("2")
    page.locator("#tile-review a").click()
    page.wait_for_url(f"{site.url}/ui/w/{site.workspace_id}/review")
    rows = page.locator("table[aria-label='Changes waiting for review'] tbody tr")
    expect(rows).to_have_count(2)
    first = held.approved
    row = rows.filter(has_text=f"({first.account})").filter(has_text=f"({first.service})")
    expect(row.locator("td.change")).to_have_text(f"count {first.was} → {first.feed_error}")
    expect(row).to_contain_text("the quantity changes by +9,900 % (limit ± 50 %)")
    expect(row).to_contain_text(f"licence {first.licence_id} of HaloPSA client")
    shoot(page, "30-review")

    held.halo("DELETE", "requests")
    row.get_by_role("checkbox").check()
    page.locator("#approve-selected").click()
    expect(page.locator(".flash.success")).to_contain_text("1 written to HaloPSA")
    assert len(held.halo_writes()) == 1
    assert held.count(first) == first.feed_error
    expect(rows).to_have_count(1)

    second = held.rejected
    page.locator("#reject-all").click()
    expect(page.locator(".flash.success")).to_contain_text("HaloPSA was left as it is")
    expect(page.locator("#review-empty")).to_be_visible()
    assert held.count(second) == second.was

    held.halo("DELETE", "requests")
    report = held.usage()
    assert held.halo_writes() == []
    assert not any(change.held for change in report.changes)
    page.reload()
    expect(page.locator("#review-empty")).to_be_visible()
    page.locator("#toggle-decided").click()
    decisions = page.locator("#decisions tbody tr")
    expect(decisions).to_have_count(2)
    expect(decisions.first).to_contain_text(site.admin_email)
