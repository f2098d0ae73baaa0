"""The outbound-address guard: a tenant cannot point halosync at internal services.

Halo server addresses must be http(s); loopback, private, link-local, shared (CGNAT),
metadata and other non-public addresses are refused unless the operator sets
``HALOSYNC_ALLOW_PRIVATE_NETWORKS``, in every spelling of an address, at save time and
again at use time (connecting only to the address checked: no DNS rebinding), and
redirects are never followed.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx2
import pytest
from pydantic import SecretStr

from halosync.connection.service import ConnectionInput, ConnectionService
from halosync.errors import ValidationFailedError
from halosync.halopsa.client import HaloApiClient
from halosync.halopsa.config import HaloConnectionConfig, check_outbound_url
from halosync.halopsa.errors import (
    AddressNotAllowedError,
    DnsResolutionError,
    HaloConfigurationError,
    HaloError,
    InvalidServerUrlError,
)
from halosync.halopsa.pinned import CheckedAddressTransport
from halosync.settings import Settings
from halosync.simulator import ApiApplication, Simulator, SimulatorConfig
from halosync.simulator.app import Receive, Scope, Send
from halosync.simulator.server import serve_in_thread
from halosync.store.connections import ConnectionDetails, HaloConnectionRepository
from halosync.store.crypto import SecretBox
from halosync.store.database import Database
from halosync.store.models import HaloConnection
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.usage import run_usage_sync
from tests.cli_inprocess import data_folder
from tests.e2e.cli import HALOSYNC
from tests.schema_template import migrated
from tests.sync.world import CLIENT_ID, CLIENT_SECRET

NOT_HTTP = [
    "ftp://acme.halopsa.com",
    "file:///etc/passwd",
    "gopher://acme.halopsa.com:70/_x",
    "javascript:alert(1)",
    "ldap://acme.halopsa.com",
    "acme.halopsa.com",
    "//acme.halopsa.com",
    "https://",
]

INTERNAL = [
    "https://127.0.0.1",
    "https://127.9.8.7:8443",
    "https://10.1.2.3",
    "https://172.16.0.1",
    "https://192.168.1.10",
    "https://169.254.169.254",  # cloud metadata (AWS, GCP, Azure)
    "https://100.100.100.200",  # Alibaba Cloud metadata, in the shared 100.64/10 range
    "https://100.64.0.1",
    "https://0.0.0.0",
    "https://[::1]",
    "https://[fe80::1]",
    "https://[fd00:ec2::254]",  # AWS metadata over IPv6
    "https://[::ffff:127.0.0.1]",
    "https://[::ffff:169.254.169.254]",
    "https://localhost",
    "https://LOCALHOST.",
    "https://api.localhost",
    "https://metadata.google.internal",
    "https://printer.local",
]

# Numeric spellings only the resolver turns into 127.0.0.1: caught when the client connects.
OBFUSCATED_LOOPBACK = [
    "https://2130706433",
    "https://0x7f000001",
    "https://0177.0.0.1",
    "https://127.1",
]


@pytest.mark.parametrize("url", NOT_HTTP)
def test_only_http_and_https_even_when_private_networks_are_allowed(url: str) -> None:
    for allowed in (False, True):
        with pytest.raises(InvalidServerUrlError) as refused:
            check_outbound_url(url, allow_private_networks=allowed)
        assert "server address" in refused.value.message
        assert refused.value.fix


@pytest.mark.parametrize("url", INTERNAL)
def test_internal_addresses_are_refused_by_default(url: str) -> None:
    with pytest.raises(AddressNotAllowedError) as refused:
        check_outbound_url(url, allow_private_networks=False)
    assert url.rstrip("/") in refused.value.message
    assert "HALOSYNC_ALLOW_PRIVATE_NETWORKS" in (refused.value.fix or "")
    check_outbound_url(url, allow_private_networks=True)


def test_plain_http_to_a_public_host_is_refused_by_default() -> None:
    with pytest.raises(AddressNotAllowedError, match="plain http"):
        check_outbound_url("http://acme.halopsa.com", allow_private_networks=False)
    check_outbound_url("https://acme.halopsa.com", allow_private_networks=False)


@pytest.mark.parametrize("url", OBFUSCATED_LOOPBACK)
def test_numeric_spellings_of_loopback_are_refused_before_any_request(url: str) -> None:
    async def token() -> None:
        async with HaloApiClient(HaloConnectionConfig(url, CLIENT_ID, _secret())) as client:
            await client.get_token()

    with pytest.raises(HaloConfigurationError) as refused:
        asyncio.run(token())
    assert isinstance(refused.value, AddressNotAllowedError | InvalidServerUrlError)
    assert "127.0.0.1" in refused.value.message or "not a valid" in refused.value.message


def test_a_host_name_that_resolves_to_loopback_is_refused() -> None:
    name = socket.gethostname()
    config = HaloConnectionConfig(f"https://{name}", CLIENT_ID, _secret())

    async def token() -> None:
        async with HaloApiClient(config) as client:
            await client.get_token()

    with pytest.raises(AddressNotAllowedError, match="loopback or private"):
        asyncio.run(token())


def _secret() -> SecretStr:
    return SecretStr(CLIENT_SECRET)


def _service(tmp_path: Path, *, allowed: bool) -> tuple[ConnectionService, Database]:
    settings = Settings(data_dir=data_folder(tmp_path), allow_private_networks=allowed)
    database = migrated(Database(f"sqlite:///{tmp_path / 'halosync.db'}"))
    with database.session() as session:
        if WorkspaceRepository(session).find("acme") is None:
            WorkspaceRepository(session).create("acme")
    return ConnectionService(database, settings), database


@pytest.mark.parametrize("url", ["https://169.254.169.254", "https://100.100.100.200/api"])
def test_saving_a_connection_to_an_internal_address_stores_nothing(
    tmp_path: Path, url: str
) -> None:
    service, database = _service(tmp_path, allowed=False)
    with pytest.raises(ValidationFailedError) as refused:
        asyncio.run(service.save("acme", ConnectionInput(url, CLIENT_ID, CLIENT_SECRET)))
    assert "loopback or private" in str(refused.value) or "points at" in str(refused.value)
    with database.session() as session:
        assert session.query(HaloConnection).count() == 0


def test_test_connection_names_the_refused_address(tmp_path: Path) -> None:
    service, _ = _service(tmp_path, allowed=False)
    outcome = asyncio.run(
        service.test_input(
            ConnectionInput("https://0x7f000001", CLIENT_ID, CLIENT_SECRET), "licence"
        )
    )
    assert not outcome.success
    assert "127.0.0.1" in (outcome.cause or "")


def test_a_connection_stored_while_allowed_is_refused_once_the_operator_forbids_it(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=data_folder(tmp_path), allow_private_networks=False)
    database = migrated(Database(f"sqlite:///{tmp_path / 'halosync.db'}"))
    box = SecretBox.from_settings(settings)
    with database.session() as session:
        workspace = WorkspaceRepository(session).create("acme")
        HaloConnectionRepository(session, workspace.id, box).save(
            ConnectionDetails("http://127.0.0.1:9", None, None, CLIENT_ID, CLIENT_SECRET)
        )
        workspace_id = workspace.id
    report = asyncio.run(run_usage_sync(database, box, settings, workspace_id))
    assert report.status == "halted"
    assert "127.0.0.1" in (report.error or "")
    assert "HALOSYNC_ALLOW_PRIVATE_NETWORKS" in (report.error or "")


class _Redirector(Simulator):
    """Answers every request with a redirect to ``target`` (an internal service)."""

    target = ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await receive()
        location = f"{self.target}{scope['path']}".encode()
        await send(
            {"type": "http.response.start", "status": 307, "headers": [(b"location", location)]}
        )
        await send({"type": "http.response.body", "body": b""})


def test_redirects_are_never_followed(tmp_path: Path) -> None:
    internal = Simulator(
        SimulatorConfig(applications=[ApiApplication(CLIENT_ID, CLIENT_SECRET, ("all",))])
    )
    redirector = _Redirector(SimulatorConfig())
    with serve_in_thread(internal) as internal_url, serve_in_thread(redirector) as outer_url:
        redirector.target = internal_url
        config = HaloConnectionConfig(outer_url, CLIENT_ID, _secret())

        async def token() -> None:
            async with HaloApiClient(config, allow_private_networks=True) as client:
                await client.get_token()

        with pytest.raises(HaloError):
            asyncio.run(token())
    assert len(internal.state.request_log) == 0


def test_cli_refuses_a_loopback_server_unless_the_operator_allows_it(tmp_path: Path) -> None:
    sim = Simulator(
        SimulatorConfig(applications=[ApiApplication(CLIENT_ID, CLIENT_SECRET, ("all",))])
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALOSYNC_")}
    env |= {
        "HOME": str(tmp_path / "home"),
        "HALOSYNC_DATA_DIR": str(data_folder(tmp_path)),
        "HALOSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'halosync.db'}",
    }

    def halosync(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*HALOSYNC, *args], env=env | extra, capture_output=True, text=True, timeout=120
        )

    with serve_in_thread(sim) as url:
        assert halosync("workspace", "create", "acme").returncode == 0
        connect = ("connection", "set", "--server", url, "--client-id", CLIENT_ID)
        refused = halosync(*connect, "--client-secret", CLIENT_SECRET)
        assert refused.returncode == 1
        assert "HALOSYNC_ALLOW_PRIVATE_NETWORKS" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert halosync("connection", "show").returncode == 1
        assert len(sim.state.request_log) == 0
        allowed = halosync(
            *connect, "--client-secret", CLIENT_SECRET, HALOSYNC_ALLOW_PRIVATE_NETWORKS="true"
        )
        assert allowed.returncode == 0, allowed.stderr


class _Listener:
    """A TCP port on loopback that counts who connects to it (and hangs up at once)."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.05)
        self.port = self.socket.getsockname()[1]
        self.connections = 0

    def drain(self) -> int:
        while True:
            try:
                peer, _ = self.socket.accept()
            except TimeoutError:
                return self.connections
            self.connections += 1
            peer.close()


def test_a_name_that_answers_loopback_only_when_connecting_is_refused_before_connecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: the name's first answers (the checks') are public, the next one
    (the connection's) is loopback. halosync connects only to the address it checked."""
    listener = _Listener()
    # Public for the check of the server address and of the token address, then loopback.
    answers = iter(["93.184.216.34"] * 2)
    real_getaddrinfo = socket.getaddrinfo

    def rebinding(host: object, *args: Any, **kwargs: Any) -> Any:
        if host not in ("rebind.example", b"rebind.example"):
            return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]
        address = next(answers, "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, listener.port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    config = HaloConnectionConfig(f"https://rebind.example:{listener.port}", CLIENT_ID, _secret())

    async def token() -> None:
        async with HaloApiClient(config, timeout_seconds=1) as client:
            await client.get_token()

    try:
        with pytest.raises(AddressNotAllowedError, match=r"resolves to 127\.0\.0\.1"):
            asyncio.run(token())
        assert listener.drain() == 0
    finally:
        listener.socket.close()


def test_every_request_goes_to_the_address_checked_first_under_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The name is resolved once per client; later answers change nothing, and the name
    stays the Host header and the TLS server name (certificate checked against it)."""
    answers = iter(["93.184.216.34"])
    real_getaddrinfo = socket.getaddrinfo

    def resolver(host: object, *args: Any, **kwargs: Any) -> Any:
        if host not in ("halo.example", b"halo.example"):
            return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]
        address = next(answers, "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 443))]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    seen: list[httpx2.Request] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200)

    async def two_requests() -> None:
        transport = CheckedAddressTransport(httpx2.MockTransport(answer))
        async with httpx2.AsyncClient(transport=transport) as client:
            await client.get("https://halo.example/api/Client")
            await client.get("https://halo.example/auth/token")

    asyncio.run(two_requests())
    assert [request.url.host for request in seen] == ["93.184.216.34", "93.184.216.34"]
    assert {request.headers["host"] for request in seen} == {"halo.example"}
    assert {request.extensions["sni_hostname"] for request in seen} == {"halo.example"}


def test_a_name_that_does_not_resolve_is_still_named_as_a_dns_failure() -> None:
    """The transport's own look-up fails as the connection's did: the same plain words."""
    config = HaloConnectionConfig("https://no-such-halo.invalid", CLIENT_ID, _secret())

    async def token() -> None:
        async with HaloApiClient(config) as client:
            await client.get_token()

    with pytest.raises(DnsResolutionError, match=r"'no-such-halo\.invalid' does not resolve"):
        asyncio.run(token())
