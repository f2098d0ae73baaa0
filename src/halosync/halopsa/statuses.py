"""What each HTTP status from Halo means, in one table: send again, wait, or which error.

The exchanger reads it to decide whether to resend or wait, the client and the token
provider read it to decide which family of error a final answer is (configuration: halt
the run; retryable: try again later; fatal: this request is refused). Nothing else in
halosync decides what a status means. ``docs/halopsa.md`` shows the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

from halosync.halopsa.errors import ErrorKind

Endpoint = Literal["resource", "token", "first_token"]
TokenRefusal = Literal["credentials", "address", "failed", "no_token"]
"""Which part of the set-up a token endpoint's final refusal points at: the client ID and
secret, the authorisation server's address, the endpoint failing, or an answer that is no
token."""
ResourceRefusal = Literal["not_found", "rejected"]
"""A resource call's fatal refusal: the record is gone, or Halo refused the request."""
"""Who answered: a resource call, the token endpoint, or the token endpoint of a connection
that has never been issued a token (whose 500 is Halo's way of saying "check the set-up")."""


class Handling(Enum):
    """What halosync does with one status."""

    SUCCESS = "success"
    RESEND = "resend"  # transient: send the same request again, with back-off
    WAIT = "wait"  # 429: hold every request for Halo's window, then send again
    REFRESH = "refresh"  # 401 on a resource: once with a fresh token, then a permission problem
    RETRYABLE = "retryable"  # not now, but the next run may succeed; nothing to fix
    CONFIGURATION = "configuration"  # halt: a person must change the connection or Halo
    FATAL = "fatal"  # this request is refused; report it and carry on

    @property
    def kind(self) -> ErrorKind | None:
        """The error family when this is the final answer (None for success)."""
        return _KINDS[self]


_KINDS: dict[Handling, ErrorKind | None] = {
    Handling.SUCCESS: None,
    Handling.RESEND: "retryable",
    Handling.WAIT: "retryable",
    Handling.REFRESH: "configuration",
    Handling.RETRYABLE: "retryable",
    Handling.CONFIGURATION: "configuration",
    Handling.FATAL: "fatal",
}


@dataclass(frozen=True)
class StatusRule:
    """How one status is handled from a resource call, a token request and a first one."""

    resource: Handling
    token: Handling
    first_token: Handling

    def on(self, endpoint: Endpoint) -> Handling:
        """The handling for one kind of endpoint."""
        if endpoint == "resource":
            return self.resource
        return self.token if endpoint == "token" else self.first_token


_H = Handling
STATUS_RULES: dict[int, StatusRule] = {
    # A refused token request is always the set-up (credentials, scopes, tenant, URL).
    400: StatusRule(_H.FATAL, _H.CONFIGURATION, _H.CONFIGURATION),
    # Real Halo also answers 401 for a missing module permission on detail endpoints.
    401: StatusRule(_H.REFRESH, _H.CONFIGURATION, _H.CONFIGURATION),
    403: StatusRule(_H.CONFIGURATION, _H.CONFIGURATION, _H.CONFIGURATION),
    404: StatusRule(_H.FATAL, _H.CONFIGURATION, _H.CONFIGURATION),
    408: StatusRule(_H.RESEND, _H.RESEND, _H.RESEND),
    429: StatusRule(_H.WAIT, _H.WAIT, _H.WAIT),
    # Halo's vague catch-all, resent like any 5xx. Only a connection that has never been
    # issued a token reads the token endpoint's (HTML) 500 as set-up advice: Halo answers
    # an unknown client, no login agent or a missing tenant that way.
    500: StatusRule(_H.RESEND, _H.RESEND, _H.CONFIGURATION),
    502: StatusRule(_H.RESEND, _H.RESEND, _H.RESEND),
    503: StatusRule(_H.RESEND, _H.RESEND, _H.RESEND),
    504: StatusRule(_H.RESEND, _H.RESEND, _H.RESEND),
}
_SUCCESS = StatusRule(_H.SUCCESS, _H.SUCCESS, _H.SUCCESS)
_OTHER_4XX = StatusRule(_H.FATAL, _H.CONFIGURATION, _H.CONFIGURATION)
_OTHER_5XX = StatusRule(_H.RETRYABLE, _H.RETRYABLE, _H.CONFIGURATION)
# Redirects are never followed: a resource that redirects is refused, a token endpoint
# that does is the wrong address.
_OTHER = StatusRule(_H.FATAL, _H.CONFIGURATION, _H.CONFIGURATION)


def status_rule(status: int) -> StatusRule:
    """The rule for any status code."""
    if status in STATUS_RULES:
        return STATUS_RULES[status]
    if 200 <= status < 300:
        return _SUCCESS
    if 400 <= status < 500:
        return _OTHER_4XX
    if 500 <= status < 600:
        return _OTHER_5XX
    return _OTHER


def handling(status: int, endpoint: Endpoint) -> Handling:
    """What to do with ``status`` from ``endpoint``."""
    return status_rule(status).on(endpoint)


def token_refusal(status: int, *, html: bool) -> TokenRefusal:
    """What a refused token request (a configuration problem) points at, by its status;
    ``html`` when Halo answered a web page instead of JSON."""
    if status in (400, 401):
        return "credentials"
    if status == 404 or (status == 405 and html):
        return "address"
    if status >= 500 or html:
        return "failed"
    return "no_token"


def resource_refusal(status: int) -> ResourceRefusal:
    """What a fatal answer to a resource call means: 404 is a record Halo no longer has."""
    return "not_found" if status == 404 else "rejected"
