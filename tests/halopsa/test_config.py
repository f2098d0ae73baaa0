"""Address normalisation, token URL forms, tenant spellings and the outbound-address guard."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from halosync.halopsa.config import (
    HaloConnectionConfig,
    check_outbound_url,
    normalise_server_url,
    normalise_tenant,
    token_url_for,
)
from halosync.halopsa.errors import AddressNotAllowedError, InvalidServerUrlError


@pytest.mark.parametrize(
    ("server", "auth", "expected"),
    [
        ("https://acme.halopsa.com", None, "https://acme.halopsa.com/auth/token"),
        ("https://acme.halopsa.com/", "", "https://acme.halopsa.com/auth/token"),
        ("https://acme.halopsa.com/api/", None, "https://acme.halopsa.com/auth/token"),
        (
            "https://acme.halopsa.com",
            "https://acme.halopsa.com/auth/",
            "https://acme.halopsa.com/auth/token",
        ),
        (
            "https://acme.halopsa.com",
            "https://auth.haloservicedesk.com",
            "https://auth.haloservicedesk.com/token",
        ),
        (
            "https://acme.halopsa.com",
            "https://uk-trial.halopsa.com/",
            "https://uk-trial.halopsa.com/token",
        ),
        (
            "https://acme.halopsa.com",
            "https://acme.halopsa.com/auth/token",
            "https://acme.halopsa.com/auth/token",
        ),
        ("https://halo.example.com/halo/", None, "https://halo.example.com/halo/auth/token"),
    ],
)
def test_token_url_forms(server: str, auth: str | None, expected: str) -> None:
    assert token_url_for(server, auth) == expected


@given(
    slashes=st.integers(0, 3),
    api=st.booleans(),
    auth=st.sampled_from([None, "", "https://a.example.com/auth", "https://a.example.com"]),
    auth_slashes=st.integers(0, 3),
)
@settings(max_examples=60)
def test_token_url_never_has_double_slash(
    slashes: int, api: bool, auth: str | None, auth_slashes: int
) -> None:
    server = "https://acme.halopsa.com" + ("/api" if api else "") + "/" * slashes
    auth_url = auth + "/" * auth_slashes if auth else auth
    url = token_url_for(server, auth_url)
    assert "//" not in url.removeprefix("https://")
    assert url.endswith("/token")
    assert normalise_server_url(server) == "https://acme.halopsa.com"


@pytest.mark.parametrize("tenant", [None, "", "  ", "Not set", "not SET", "None", "none"])
def test_tenant_spellings_meaning_unset(tenant: str | None) -> None:
    assert normalise_tenant(tenant) is None


def test_tenant_is_trimmed() -> None:
    assert normalise_tenant(" acme ") == "acme"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("acme.halopsa.com", "no protocol"),
        ("ftp://acme.halopsa.com", "protocol 'ftp'"),
        ("https://", "no host"),
        ("", "empty"),
        ("https://acme.halopsa.com/?x=1", "query"),
    ],
)
def test_bad_server_urls_are_named(url: str, words: str) -> None:
    with pytest.raises(InvalidServerUrlError, match=words):
        normalise_server_url(url)


def test_config_validates_and_hides_secret() -> None:
    config = HaloConnectionConfig(
        server_url="https://acme.halopsa.com/",
        client_id="abc",
        client_secret=SecretStr("s3cret-value-1"),
        tenant="Not set",
    )
    assert config.api_url == "https://acme.halopsa.com/api"
    assert config.effective_tenant is None
    assert "s3cret" not in repr(config)
    with pytest.raises(InvalidServerUrlError, match="client ID"):
        HaloConnectionConfig("https://acme.halopsa.com", " ", SecretStr("x"))


@pytest.mark.parametrize(
    "url",
    [
        "http://acme.halopsa.com",
        "https://localhost:8443",
        "https://127.0.0.1",
        "https://10.1.2.3",
        "https://192.168.0.10/",
        "https://169.254.169.254",
        "https://[::1]",
        "https://[::ffff:10.0.0.1]",
        "https://halo.local",
    ],
)
def test_guard_refuses_private_and_plain_http(url: str) -> None:
    with pytest.raises(AddressNotAllowedError, match="HALOSYNC_ALLOW_PRIVATE_NETWORKS"):
        check_outbound_url(url, allow_private_networks=False)
    check_outbound_url(url, allow_private_networks=True)


def test_guard_checks_resolved_addresses() -> None:
    with pytest.raises(AddressNotAllowedError, match=r"10\.0\.0\.5"):
        check_outbound_url(
            "https://acme.halopsa.com", allow_private_networks=False, addresses=["10.0.0.5"]
        )
    check_outbound_url(
        "https://acme.halopsa.com", allow_private_networks=False, addresses=["93.184.216.34"]
    )


def test_guard_still_rejects_bad_protocol_when_private_allowed() -> None:
    with pytest.raises(InvalidServerUrlError):
        check_outbound_url("file:///etc/passwd", allow_private_networks=True)
