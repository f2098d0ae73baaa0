"""Typed errors of the HaloPSA client, each with the fix a billing admin can act on.

Three families decide what a caller does next: :class:`HaloConfigurationError` (halt the
run; a person must change the connection or Halo's set-up), :class:`HaloRetryableError`
(try again later; nothing is wrong with the set-up) and :class:`HaloFatalError` (this one
request or record is refused; report it and carry on with the rest). Which family an HTTP
status belongs to is decided in one place, :mod:`halosync.halopsa.statuses`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from halosync.errors import HalosyncError
from halosync.logging import redact_text

if TYPE_CHECKING:
    from halosync.halopsa.permissions import HaloPermission

ErrorKind = Literal["configuration", "retryable", "fatal"]

_BODY_SUMMARY_LIMIT = 300
_ROW_MESSAGE_LIMIT = 500


@dataclass(frozen=True)
class RequestSummary:
    """What request caused an error: method, path and a short, redacted body summary."""

    method: str
    path: str
    body_summary: str | None = None

    @classmethod
    def of(cls, method: str, path: str, body: Any = None) -> RequestSummary:
        """Summarise a request; secrets are masked and the body is cut to a few hundred chars."""
        summary: str | None = None
        if body is not None:
            text = json.dumps(body, default=str, separators=(",", ":"))
            if isinstance(body, list):
                text = f"{len(body)} row(s): {text}"
            text = redact_text(text)
            if len(text) > _BODY_SUMMARY_LIMIT:
                text = text[: _BODY_SUMMARY_LIMIT - 3] + "..."
            summary = text
        return cls(method=method.upper(), path=redact_text(path), body_summary=summary)

    def __str__(self) -> str:
        if self.body_summary:
            return f"{self.method} {self.path} with {self.body_summary}"
        return f"{self.method} {self.path}"


class HaloError(HalosyncError):
    """Base of every error the HaloPSA client raises."""

    kind: ClassVar[ErrorKind] = "fatal"

    def __init__(
        self, message: str, *, fix: str | None = None, request: RequestSummary | None = None
    ) -> None:
        super().__init__(redact_text(message), fix=redact_text(fix) if fix else None)
        self.request = request

    @property
    def retryable(self) -> bool:
        """Whether the same call may succeed later without anyone changing anything."""
        return self.kind == "retryable"


# --- configuration: a person must change something -------------------------------------


class HaloConfigurationError(HaloError):
    """The connection or Halo's set-up is wrong; the run should halt until it is fixed."""

    kind: ClassVar[ErrorKind] = "configuration"


class InvalidServerUrlError(HaloConfigurationError):
    """The server or authorisation server address is not a usable http(s) URL."""


class AddressNotAllowedError(HaloConfigurationError):
    """The address is on a loopback/private network or plain http, and that is not allowed."""


class HostUnreachableError(HaloConfigurationError):
    """Nothing answered at the Halo address (connection refused, timed out, no route)."""


class DnsResolutionError(HostUnreachableError):
    """The host name of the Halo address does not resolve."""


class TlsError(HaloConfigurationError):
    """The TLS handshake with Halo failed (certificate not trusted, expired, wrong name)."""


class BadCredentialsError(HaloConfigurationError):
    """Halo refused the client ID / client secret, or refused a fresh token."""


class TokenEndpointError(HaloConfigurationError):
    """The token endpoint failed in a way Halo does not explain (an HTML 500 page)."""


class InvalidScopeError(HaloConfigurationError):
    """Halo refused the permission scopes halosync asked for."""


class MissingPermissionError(HaloConfigurationError):
    """Halo answered 403: the API application (or its login agent) lacks a permission."""

    def __init__(
        self,
        message: str,
        *,
        permissions: Sequence[HaloPermission],
        fix: str | None = None,
        request: RequestSummary | None = None,
    ) -> None:
        super().__init__(message, fix=fix, request=request)
        self.permissions = tuple(permissions)


class RetryAfterTooLongError(HaloConfigurationError):
    """Halo answered 429 asking for a longer wait than a run may spend on its rate limit.

    In the configuration family so that a run halts at once, naming the wait, instead of
    holding its workspace and the shared rate budget for hours. Nothing in halosync needs
    fixing, so its kind is retryable: the next scheduled run tries again.
    """

    kind: ClassVar[ErrorKind] = "retryable"

    def __init__(
        self,
        message: str,
        *,
        retry_after_seconds: float,
        fix: str | None = None,
        request: RequestSummary | None = None,
    ) -> None:
        super().__init__(message, fix=fix, request=request)
        self.retry_after_seconds = retry_after_seconds


# --- retryable: nothing to fix, try again later ------------------------------------------


class HaloRetryableError(HaloError):
    """A transient failure; the same call may succeed later."""

    kind: ClassVar[ErrorKind] = "retryable"


class RateLimitedError(HaloRetryableError):
    """Halo kept answering 429 (rate limit reached) after halosync backed off."""


class HaloServerError(HaloRetryableError):
    """Halo answered 5xx (often just "Internal Server Error") or 408 after the allowed retries."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        fix: str | None = None,
        request: RequestSummary | None = None,
    ) -> None:
        super().__init__(message, fix=fix, request=request)
        self.status = status


class HaloTimeoutError(HaloRetryableError):
    """Halo did not answer in time, or dropped the connection, after the allowed retries."""


class HaloUnreadableAnswerError(HaloRetryableError):
    """Halo answered 200 with something that is not the record asked for (an object without
    an id, say): a passing fault to retry later, never a sign the record is gone."""


class PagingInconsistentError(HaloRetryableError):
    """A list changed or came back short while it was being paged; read it again."""


class AmbiguousWriteError(HaloRetryableError):
    """A write that creates records failed after it was sent: it may or may not have applied.

    Never blindly re-sent (that could create duplicates). ``rows`` are the rows whose fate is
    unknown; the caller searches Halo for them (see ``CreateRecovery``) before writing again.
    ``search_error`` is set when that search failed too: the write's own failure stays the
    error reported, and the search's is its second cause.
    """

    def __init__(
        self,
        message: str,
        *,
        rows: Sequence[dict[str, Any]],
        status: int | None = None,
        fix: str | None = None,
        request: RequestSummary | None = None,
    ) -> None:
        super().__init__(message, fix=fix, request=request)
        self.rows = list(rows)
        self.status = status
        self.search_error: HaloError | None = None


# --- fatal: this request is refused --------------------------------------------------


class HaloFatalError(HaloError):
    """Halo refused this request for a reason retrying will not change."""

    kind: ClassVar[ErrorKind] = "fatal"


class HaloRequestRejectedError(HaloFatalError):
    """Halo answered 400 (or another 4xx) with its reason.

    ``field_errors`` are Halo's messages per field path of the request body
    (``{"[1].client_id": ("...",)}``), when it named fields.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        halo_message: str | None = None,
        field_errors: Mapping[str, Sequence[str]] | None = None,
        fix: str | None = None,
        request: RequestSummary | None = None,
    ) -> None:
        super().__init__(message, fix=fix, request=request)
        self.status = status
        self.halo_message = halo_message
        self.field_errors = {path: tuple(texts) for path, texts in (field_errors or {}).items()}

    def row_errors(self, index: int) -> dict[str, tuple[str, ...]]:
        """Halo's messages on row ``index`` of the POSTed array, by path relative to the row
        (``[3].lines[0]._itemid`` -> ``lines[0]._itemid``; the row itself -> ``""``)."""
        own: dict[str, tuple[str, ...]] = {}
        for path, texts in self.field_errors.items():
            for row in (f"[{index}]", f"$[{index}]"):
                if path == row or path.startswith((row + ".", row + "[")):
                    own[path[len(row) :].lstrip(".")] = texts
                    break
        return own

    def named_rows(self, count: int) -> list[int]:
        """The rows of a POST of ``count`` rows whose fields Halo named, in order; empty when
        it named none of them (a refusal of the whole request, or paths it does not number).

        How a refused batch goes on, for every batched write: the rows named fail in Halo's
        words and the others are sent again together; when none is named, each row goes
        again alone, so that the one Halo refuses fails by itself."""
        return [index for index in range(count) if self.row_errors(index)]

    def row_message(self, index: int) -> str | None:
        """What Halo said about row ``index`` of the POSTed array, paths relative to the row
        (``client_id: ...``); Halo's whole message when it named no field of that row."""
        own = [
            f"{field}: {' '.join(texts)}" if field else " ".join(texts)
            for field, texts in self.row_errors(index).items()
        ]
        words = "; ".join(own) if own else self.halo_message
        return redact_text(words[:_ROW_MESSAGE_LIMIT]) if words else None


class HaloRecordNotFoundError(HaloFatalError):
    """The record does not exist in Halo (404), e.g. someone deleted it there."""


class HaloResponseError(HaloFatalError):
    """Halo's answer does not have a shape halosync understands."""


class HaloRecordWithoutIdError(HaloResponseError):
    """Halo answered the read of one record by id with an object without an id: what that
    record holds is unknown (never "gone"). Where a read of several goes on without it,
    only the work on that record stops (see ``HaloApiClient.read_records``)."""


ANSWER_LOST = (HaloTimeoutError, HaloUnreadableAnswerError)
"""How a replay-safe write (updates only) ends when Halo gave it no readable answer after
the retries: it may have been applied, so only reading the records back settles it."""
WRITE_FAILURES = (HaloFatalError, HaloServerError, AmbiguousWriteError, *ANSWER_LOST)
"""What a batched write can fail with that fails its records, not the run (a
:class:`HaloConfigurationError` halts the run): every write path catches these."""


class InvoiceLinesUnknownError(HaloResponseError):
    """Halo answered a recurring invoice without its line set (``lines`` missing or null).

    That set is unknown, never empty: a header POST replaces the line set, so writing to
    the invoice from it would delete every line halosync does not own.
    """

    def __init__(self, invoice_id: Any, *, request: RequestSummary | None = None) -> None:
        super().__init__(
            f"HaloPSA answered recurring invoice {invoice_id} without its lines (the line "
            "set was missing or null, so it is unknown, not empty)",
            fix="Nothing was written to the invoice; the next sync reads it again. If it "
            "persists, open the invoice in HaloPSA and check that its lines load.",
            request=request,
        )
        self.invoice_id = invoice_id
