"""Browser tests: Playwright driving Debian's Chromium against a live demo site.

Never ``playwright install``: the system Chromium at /usr/bin/chromium is used. Without it
the tests skip, except under ``CI=true`` where a missing browser is a failure
(scripts/test installs it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, sync_playwright

from halosync.demo.web import DemoSite, run_demo_site
from halosync.settings import Settings

CHROMIUM = Path(os.environ.get("HALOSYNC_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
REFRESH_SCREENSHOTS = "HALOSYNC_REFRESH_SCREENSHOTS"
""" "1" writes the screenshots into docs/screenshots; otherwise a test run leaves every
tracked file as it was and they go to a temporary folder."""
VIEWPORT: ViewportSize = {"width": 1366, "height": 860}
ADMIN_PASSWORD = "demo admin password"


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"Chromium is not at {CHROMIUM}; install it with: apt-get install -y chromium"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless system Chromium per test module."""
    _require_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    """The demo as a newcomer starts it: web UI, jobs, seeded simulator, sample data."""
    _require_chromium()
    data_dir = tmp_path_factory.mktemp("browser-site")
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'demo.db'}",
        allow_private_networks=True,
    )
    with run_demo_site(settings, clients=30, admin_password=ADMIN_PASSWORD, tick=False) as built:
        yield built


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile in Warsaw's time zone on a laptop-sized screen."""
    made = browser.new_context(viewport=VIEWPORT, timezone_id="Europe/Warsaw", locale="en-GB")
    made.set_default_timeout(15_000)
    yield made
    made.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A page of that profile."""
    return context.new_page()


def screenshot_folder_for(environment: Mapping[str, str], temporary: Path) -> Path:
    """docs/screenshots when asked to refresh them, else ``temporary``."""
    return DOCS_SCREENSHOTS if environment.get(REFRESH_SCREENSHOTS) == "1" else temporary


_screenshots: list[Path] = []


@pytest.fixture(scope="session", autouse=True)
def screenshot_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where :func:`shoot` writes during this test run."""
    folder = screenshot_folder_for(os.environ, tmp_path_factory.mktemp("screenshots"))
    _screenshots[:] = [folder]
    return folder


def shoot(page: Page, name: str) -> None:
    """Save a screenshot of the current screen (for docs/web.md when refreshing them)."""
    folder = _screenshots[0]
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=False)


def log_in(page: Page, site: DemoSite, email: str, password: str) -> None:
    """Log in through the form."""
    page.goto(f"{site.url}/ui/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{site.url}/ui/w/**")


def settled(page: Page) -> None:
    """Wait until htmx has no request in flight and has finished swapping and settling."""
    page.wait_for_function(
        "() => !document.querySelector("
        "'.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
    )
