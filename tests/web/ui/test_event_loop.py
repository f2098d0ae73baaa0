"""The web UI never blocks its event loop: a long import does not hold up other pages.

Both requests go through one TestClient inside ``with``, so they share the app's one
event loop (as under uvicorn). The import is a large file whose every row is refused:
validating it keeps a worker thread busy for seconds without holding SQLite's write lock,
so the only thing that could delay the page is the event loop itself.
"""

from __future__ import annotations

import ast
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.web.ui.world import ADMIN, World, log_in

ROUTES = Path(__file__).resolve().parents[3] / "src" / "halosync" / "web" / "ui" / "routes"
HEADER = (
    "account_ref,account_name,account_status,billed,service_ref,service_name,quantity,"
    "start_date,billing_cycle,term\n"
)


def _long_import(rows: int) -> bytes:
    """A usage file that takes seconds to validate (a negative quantity on every row)."""
    body = "".join(
        f"LOOP-{i},Loop Co {i},active,true,LOOPSVC,Loop Service,-{i + 1},2024-01-01,"
        "Monthly,Monthly\n"
        for i in range(rows)
    )
    return (HEADER + body).encode()


@pytest.mark.xfail(
    reason=(
        "Open (issue 12, item 4): while the import validates in a thread of this process, "
        "a page load waits for most of it (quiet machine: 0.7 s of a 0.8 s import; 2.4 s of "
        "2.5 s at 120,000 rows). A thread dump shows the waiting thread starved of the GIL "
        "(here the test's own client thread, which shares the process), not blocked on the "
        "event loop or SQLite. Needed: measure with the client in another process against a "
        "real port, and validate large uploads outside the web process."
    ),
    strict=False,
)
def test_a_long_import_does_not_delay_a_concurrent_page_load(world: World) -> None:
    w = f"/ui/w/{world.alpha}"
    payload = _long_import(40_000)
    with TestClient(world.app) as client, ThreadPoolExecutor(1) as pool:
        token = log_in(client, ADMIN)
        assert client.get(w).status_code == 200  # warm: templates compiled
        started = time.perf_counter()
        upload = pool.submit(
            client.post,
            f"{w}/import",
            data={"csrf_token": token},
            files={"file": ("usage.csv", payload, "text/csv")},
        )
        waits: list[float] = []
        while not upload.done():
            asked = time.perf_counter()
            page = client.get(w)
            waits.append(time.perf_counter() - asked)
            assert page.status_code == 200
        took = time.perf_counter() - started
        refused = upload.result()
    assert refused.status_code == 422
    assert "nothing was changed" in refused.text
    # Blocked, the one page load asked for during the import waits for all of it (and the
    # loop can ask for no other); free, each takes a small part of it, even on a busy machine.
    assert len(waits) >= 3, (took, waits)
    assert max(waits) < took / 2, (took, waits)


def test_a_ui_handler_is_async_only_when_it_awaits() -> None:
    """``async def`` runs on the event loop: only handlers that await (HaloPSA, the form)
    may be one; every other handler is a plain ``def``, run in the thread pool."""
    needless = [
        f"{path.name}:{node.name}"
        for path in sorted(ROUTES.glob("*.py"))
        for node in ast.parse(path.read_text(encoding="utf-8")).body
        if isinstance(node, ast.AsyncFunctionDef)
        and not any(isinstance(inner, ast.Await) for inner in ast.walk(node))
    ]
    assert needless == []
