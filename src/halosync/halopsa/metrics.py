"""Prometheus counters of HaloPSA traffic (exposed on ``/metrics`` by the web app)."""

from __future__ import annotations

from prometheus_client import Counter

HALO_REQUESTS = Counter(
    "halosync_halo_requests",
    "HTTP requests sent to HaloPSA, by method and response status ('error' = no response).",
    ["method", "status"],
)
HALO_RATE_LIMITED = Counter(
    "halosync_halo_rate_limited",
    "429 (rate limit reached) answers received from HaloPSA.",
)
HALO_TOKEN_REQUESTS = Counter(
    "halosync_halo_token_requests",
    "OAuth token requests sent to HaloPSA's authorisation server, by outcome.",
    ["outcome"],
)


def count_request(method: str, status: int | str) -> None:
    """Count one request by method and status."""
    HALO_REQUESTS.labels(method=method.upper(), status=str(status)).inc()
    if status == 429:
        HALO_RATE_LIMITED.inc()
