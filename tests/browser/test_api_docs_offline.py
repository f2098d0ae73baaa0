"""``/docs`` renders the REST API's Swagger UI with every non-local request cut off.

On an offline or locked-down host a CDN-loaded Swagger UI stays blank; halosync serves
the assets itself. Chromium aborts every request that is not to 127.0.0.1, and the page
must still show the operations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Route

from halosync.demo.web import serve_web_in_thread
from halosync.settings import Settings
from halosync.web.app import create_app

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def web_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("api-docs")
    settings = Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'h.db'}")
    app = create_app(settings)
    with serve_web_in_thread(app) as url:
        yield url
    app.state.database.dispose()


def _cut_network(blocked: list[str]) -> Callable[[Route], None]:
    def handle(route: Route) -> None:
        host = urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
            return
        blocked.append(route.request.url)
        route.abort("internetdisconnected")

    return handle


def test_swagger_ui_renders_operations_with_the_network_cut(browser: Browser, web_url: str) -> None:
    context = browser.new_context()
    blocked: list[str] = []
    context.route("**/*", _cut_network(blocked))
    failed: list[str] = []
    page = context.new_page()
    page.on("requestfailed", lambda request: failed.append(request.url))
    try:
        page.goto(f"{web_url}/docs")
        # Swagger UI builds the page from /openapi.json: operations and tags appear only
        # once its script ran and fetched the document.
        usage = page.locator(
            ".opblock-summary-path", has_text="/api/v1/workspaces/{workspace}/usage"
        )
        usage.first.wait_for(state="visible", timeout=15_000)
        assert page.locator(".opblock").count() > 10
        assert page.locator(".swagger-ui .info .title").inner_text().startswith("halosync")
        # The style sheet applied: operation blocks are laid out, not bare text.
        assert page.locator(".opblock").first.evaluate(
            "el => getComputedStyle(el).borderRadius"
        ) not in ("", "0px")
    finally:
        context.close()
    assert blocked == [], f"/docs reached outside this host: {blocked}"
    assert failed == [], f"requests failed: {failed}"
