"""429 and 5xx storms, dropped connections, unanswered creates, and a long run with no 429."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
from structlog.testing import capture_logs

from halosync.halopsa.client import HaloApiClient
from halosync.halopsa.errors import (
    AmbiguousWriteError,
    HaloServerError,
    HaloTimeoutError,
    HaloUnreadableAnswerError,
    RateLimitedError,
)
from halosync.halopsa.pacing import SlidingWindowPacer
from halosync.halopsa.retry import RetryPolicy
from halosync.simulator import generate_demo_seed
from tests.halopsa.conftest import Halo

pytestmark = pytest.mark.anyio


async def test_an_answer_that_trickles_ends_at_the_deadline(halo: Halo) -> None:
    # A byte every 50 ms never trips httpx's per-read timeout; the whole exchange has a
    # deadline, then the ordinary retries, then a clear error. A write is never re-sent.
    faults = halo.app.state.faults
    faults.inject("trickle", "GET", "/api/client", times=None, seconds=0.05)
    faults.inject("trickle", "POST", "/api/softwarelicence", times=None, seconds=0.05)
    async with halo.client(request_deadline_seconds=0.2) as client:
        await client.get_token()
        started = time.monotonic()
        with pytest.raises(HaloTimeoutError, match=r"answering GET /api/Client within 0\.2 s"):
            await client.list_records("Client")
        assert time.monotonic() - started < 5
        with pytest.raises(AmbiguousWriteError, match=r"within 0\.2 s"):
            await client.save_records("SoftwareLicence", [{"name": "Seats", "client_id": 1}])
    assert len(halo.requests("/api/Client")) == 4  # FAST_RETRY's attempts
    assert len(halo.requests("/api/SoftwareLicence", "POST")) == 1


async def test_a_maintenance_page_or_cut_json_is_retried_and_named(halo: Halo) -> None:
    faults = halo.app.state.faults
    faults.inject("maintenance", "GET", "/api/item")
    faults.inject("truncate", "GET", "/api/item")
    async with halo.client() as client:
        assert await client.items() == []  # the third answer is whole
        assert [e.fault for e in halo.requests("/api/Item")] == ["maintenance", "truncate", None]
        faults.inject("maintenance", "GET", "/api/item", times=None)
        with pytest.raises(HaloUnreadableAnswerError, match="titled 'Scheduled maintenance'"):
            await client.items()
        faults.clear()
        faults.inject("truncate", "GET", "/api/item", times=None)
        with pytest.raises(HaloUnreadableAnswerError, match=r"JSON cut off or malformed"):
            await client.items()


async def test_retries_are_told_in_plain_words_and_a_list_is_not_a_record(halo: Halo) -> None:
    faults = halo.app.state.faults
    async with halo.client() as client:
        await client.get_token()
        faults.inject("error", "GET", "/api/item", times=None)
        with capture_logs() as logs, pytest.raises(HaloServerError) as failed:
            await client.items()
        assert failed.value.fix is not None
        assert "the record" not in failed.value.fix  # a list read has no record to check
        assert "instance's health" in failed.value.fix
        retried = [entry for entry in logs if entry["event"] == "halo_request_retried"]
        assert len(retried) == 3  # FAST_RETRY: 4 attempts
        assert retried[0]["reason"].startswith("Halo answered 500 (Internal Server Error) to GET")
        assert not [entry for entry in logs if "_Transient" in repr(entry)]
        faults.clear()
        faults.inject("error", "GET", "/api/softwarelicence/7", times=None)
        with pytest.raises(HaloServerError) as one:
            await client.get_record("SoftwareLicence", 7)
        assert one.value.fix is not None
        assert "check the record in Halo" in one.value.fix


async def test_429_backs_off_for_the_window(halo: Halo) -> None:
    async with halo.client() as client:
        await client.get_token()
        halo.app.state.faults.inject("rate_limit", method="GET", path="/api/item", times=2)
        assert await client.items() == []
    assert halo.clock.slept >= 2 * 300
    assert [e.status for e in halo.requests("/api/Item")] == [429, 429, 200]


async def test_429_honours_retry_after_when_sent(make_halo: Callable[..., Halo]) -> None:
    halo = make_halo(rate_limit=5, rate_window_seconds=300, retry_after="auto")
    pacer = SlidingWindowPacer(1000, 300, clock=halo.clock)
    async with halo.client(pacer=pacer) as client:
        for _ in range(6):
            await client.items()
    assert [e.status for e in halo.requests("/api/Item")].count(429) == 1
    assert 0 < halo.clock.slept <= 300


async def test_persistent_429_gives_up_with_a_typed_error(halo: Halo) -> None:
    retry = RetryPolicy(attempts=2, timeout=5, wait_initial=0.001, rate_limit_waits=1)
    async with halo.client(retry=retry) as client:
        await client.get_token()
        halo.app.state.faults.inject("rate_limit", path="/api/item", times=None)
        with pytest.raises(RateLimitedError, match="Rate Limit Reached") as caught:
            await client.items()
    assert caught.value.retryable


async def test_5xx_storm_is_retried(halo: Halo) -> None:
    async with halo.client() as client:
        await client.get_token()
        halo.app.state.faults.inject("error", method="GET", path="/api/item", times=2)
        halo.app.state.faults.inject("html_error", method="GET", path="/api/item", times=1)
        assert await client.items() == []
    assert [e.status for e in halo.requests("/api/Item")] == [500, 500, 500, 200]


async def test_persistent_500_keeps_the_request(halo: Halo) -> None:
    async with halo.client() as client:
        await client.get_token()
        halo.app.state.faults.inject("error_plain", path="/api/item", times=None)
        with pytest.raises(HaloServerError, match="Internal Server Error") as caught:
            await client.items()
    assert caught.value.request is not None
    assert str(caught.value.request).startswith("GET /api/Item")
    assert len(halo.requests("/api/Item")) == 4


async def test_dropped_connections_are_retried_for_reads(halo: Halo) -> None:
    halo.app.state.seed(generate_demo_seed(clients=5))
    async with halo.client() as client:
        await client.get_token()
        halo.app.state.faults.inject("drop", method="GET", path="/api/client", times=3)
        assert len(await client.clients(include_inactive=True)) == 5


async def test_updates_are_replayed_after_a_drop(halo: Halo) -> None:
    halo.app.state.seed(generate_demo_seed(clients=3))
    halo.app.state.seed({"licences": [{**_new_licence(), "id": 4000}]})
    licence_id = 4000
    async with halo.client() as client:
        await client.get_token()
        halo.app.state.faults.inject("drop", method="POST", path="/api/softwarelicence", times=1)
        saved = await client.save_records("SoftwareLicence", [{"id": licence_id, "count": 9}])
    assert saved[0]["count"] == 9


def _new_licence() -> dict[str, Any]:
    return {"name": "Backup Seats", "client_id": 1, "count": 4, "item_id": 1}


async def test_unanswered_create_is_not_resent_blindly(halo: Halo) -> None:
    halo.app.state.seed(generate_demo_seed(clients=3))
    async with halo.client() as client:
        await client.get_token()
        halo.app.state.faults.inject("drop", method="POST", path="/api/softwarelicence", times=1)
        with pytest.raises(AmbiguousWriteError) as caught:
            await client.save_records("SoftwareLicence", [_new_licence()])
    assert caught.value.rows == [_new_licence()]
    assert len(halo.requests("/api/SoftwareLicence", "POST")) == 1


def _recovery(client: HaloApiClient) -> Any:
    async def find(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any] | None]:
        found: list[Mapping[str, Any] | None] = []
        for row in rows:
            licences = await client.list_records(
                "SoftwareLicence",
                params={"client_id": int(row["client_id"]), "includeinactive": True},
            )
            match = next((lic for lic in licences if lic["name"] == row["name"]), None)
            found.append(match)
        return found

    return find


@pytest.mark.parametrize("applied", [False, True])
async def test_recovery_finds_or_resends_an_unanswered_create(halo: Halo, applied: bool) -> None:
    halo.app.state.seed(generate_demo_seed(clients=3))
    if applied:
        # Halo saved it, then the answer was lost: "someone" sees it already there.
        halo.app.state.seed({"licences": [{**_new_licence(), "id": 5000}]})
    before = len(halo.app.state.records("SoftwareLicence"))
    async with halo.client() as client:
        await client.get_token()
        halo.app.state.faults.inject("drop", method="POST", path="/api/softwarelicence", times=1)
        saved = await client.save_records(
            "SoftwareLicence", [_new_licence()], recovery=_recovery(client)
        )
    assert saved[0]["name"] == "Backup Seats"
    names = [r["name"] for r in halo.app.state.records("SoftwareLicence")]
    assert names.count("Backup Seats") == 1
    assert len(halo.app.state.records("SoftwareLicence")) == before + (0 if applied else 1)


async def test_long_run_under_the_limit_sees_no_429(make_halo: Callable[..., Halo]) -> None:
    halo = make_halo(rate_limit=300, rate_window_seconds=300)
    async with halo.client() as client:

        async def worker() -> None:
            for _ in range(100):
                await client.items()

        await asyncio.gather(*(worker() for _ in range(10)))
    statuses = [e.status for e in halo.app.state.request_log]
    assert len(statuses) == 1001
    assert 429 not in statuses
    assert halo.clock.slept >= 3 * 300
    assert halo.clock.slept < 4 * 300
