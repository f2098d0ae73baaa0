"""The one status table: every status has one meaning per endpoint, and the rules hold."""

from __future__ import annotations

from typing import get_args

from hypothesis import given
from hypothesis import strategies as st

from halosync.halopsa.statuses import (
    Endpoint,
    Handling,
    handling,
    resource_refusal,
    token_refusal,
)

ENDPOINTS: tuple[Endpoint, ...] = get_args(Endpoint)
statuses = st.integers(min_value=100, max_value=599)


@given(statuses)
def test_every_status_has_one_meaning_and_a_family(status: int) -> None:
    for endpoint in ENDPOINTS:
        action = handling(status, endpoint)
        assert (action is Handling.SUCCESS) == (200 <= status < 300)
        assert (action.kind is None) == (action is Handling.SUCCESS)
        # Only 408, 429 and the 5xx that say "not now" are ever sent again.
        if action in (Handling.RESEND, Handling.WAIT):
            assert status in (408, 429, 500, 502, 503, 504)
        if status == 429:
            assert action is Handling.WAIT


@given(statuses)
def test_a_refused_token_request_is_never_blamed_on_one_record(status: int) -> None:
    for endpoint in ("token", "first_token"):
        action = handling(status, endpoint)
        assert action not in (Handling.FATAL, Handling.REFRESH)


@given(statuses)
def test_only_a_connection_never_issued_a_token_reads_a_5xx_as_set_up_advice(status: int) -> None:
    first, later = handling(status, "first_token"), handling(status, "token")
    if first is not later:
        assert 500 <= status < 600
        assert first is Handling.CONFIGURATION
        assert later.kind == "retryable"
    assert handling(500, "token") is Handling.RESEND
    assert handling(500, "first_token") is Handling.CONFIGURATION


def test_a_401_on_a_resource_gets_one_fresh_token_then_is_a_set_up_problem() -> None:
    assert handling(401, "resource") is Handling.REFRESH
    assert Handling.REFRESH.kind == "configuration"
    assert handling(403, "resource").kind == "configuration"
    assert handling(404, "resource").kind == "fatal"
    assert handling(408, "resource").kind == "retryable"


@given(statuses, st.booleans())
def test_a_token_refusal_names_one_part_of_the_set_up(status: int, html: bool) -> None:
    refusal = token_refusal(status, html=html)
    assert (refusal == "credentials") == (status in (400, 401))
    if status == 404:
        assert refusal == "address"
    if refusal == "failed":
        assert status >= 500 or html


@given(statuses)
def test_only_a_404_says_a_record_is_gone(status: int) -> None:
    assert (resource_refusal(status) == "not_found") == (status == 404)
