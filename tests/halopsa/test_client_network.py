"""Real-socket failures: DNS, nothing listening, TLS against a plain-http port; metrics."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from halosync.halopsa.client import HaloApiClient
from halosync.halopsa.config import HaloConnectionConfig
from halosync.halopsa.errors import DnsResolutionError, HostUnreachableError, TlsError
from halosync.simulator import ApiApplication, SimulatorConfig, create_app
from halosync.simulator.server import serve_in_thread
from tests.halopsa.conftest import CLIENT_ID, CLIENT_SECRET, FAST_RETRY, LICENCE_SCOPES, Halo

pytestmark = pytest.mark.anyio


def _client(server_url: str) -> HaloApiClient:
    config = HaloConnectionConfig(
        server_url, CLIENT_ID, SecretStr(CLIENT_SECRET), scopes=LICENCE_SCOPES
    )
    return HaloApiClient(config, retry=FAST_RETRY, allow_private_networks=True, timeout_seconds=5)


@pytest.fixture(scope="module")
def plain_http_url() -> Iterator[str]:
    app = create_app(SimulatorConfig(applications=[ApiApplication(CLIENT_ID, CLIENT_SECRET)]))
    with serve_in_thread(app) as url:
        yield url


async def test_real_port_works(plain_http_url: str) -> None:
    async with _client(plain_http_url) as client:
        assert await client.items() == []


async def test_dns_failure_is_named() -> None:
    async with _client("https://halo-does-not-exist.invalid") as client:
        with pytest.raises(DnsResolutionError, match="does not resolve"):
            await client.get_token()


async def test_nothing_listening() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with _client(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(HostUnreachableError, match="Could not connect") as caught:
            await client.get_token()
    assert caught.value.kind == "configuration"


async def test_tls_failure_is_named(plain_http_url: str) -> None:
    async with _client(plain_http_url.replace("http://", "https://")) as client:
        with pytest.raises(TlsError, match="TLS"):
            await client.get_token()


async def test_metrics_count_requests_and_429s(halo: Halo) -> None:
    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before_ok = sample("halosync_halo_requests_total", method="GET", status="200")
    before_429 = sample("halosync_halo_rate_limited_total")
    async with halo.client() as client:
        await client.get_token()
        halo.app.state.faults.inject("rate_limit", path="/api/item", times=1)
        await client.items()
    assert sample("halosync_halo_requests_total", method="GET", status="200") == before_ok + 1
    assert sample("halosync_halo_rate_limited_total") == before_429 + 1
