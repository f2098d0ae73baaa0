"""One HTTP exchange with Halo: pacing, 429 back-off and bounded retries.

Used for both the token endpoint and resource calls. Whether a status is resent or waited
out comes from the one status table (:mod:`halosync.halopsa.statuses`); what a final answer
means is decided by the caller from the same table. Waiting for Halo's rate window goes
through the pacer (so every coroutine, and with a shared pacer every process, holds back),
never through a short sleep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import httpx2
import stamina
from stamina.instrumentation import PrometheusOnRetryHook, RetryDetails, set_on_retry_hooks

from halosync.halopsa.activity import HaloActivity, NoActivity
from halosync.halopsa.clock import Clock
from halosync.halopsa.errors import (
    AmbiguousWriteError,
    HaloError,
    HaloTimeoutError,
    HaloUnreadableAnswerError,
    RateLimitedError,
    RequestSummary,
    RetryAfterTooLongError,
)
from halosync.halopsa.metrics import count_request
from halosync.halopsa.pacing import RequestPacer
from halosync.halopsa.retry import RateLimitWait, RetryPolicy, rate_limit_wait
from halosync.halopsa.statuses import Endpoint, Handling, handling
from halosync.halopsa.transport import classify_transport_error, halo_message, read_json
from halosync.logging import get_logger

log = get_logger(__name__)


class _Transient(Exception):
    """Raised inside a stamina attempt to ask for another try; ``reason`` says why in plain
    words (what the retry log line shows)."""

    def __init__(
        self, error: HaloError | None, response: httpx2.Response | None, reason: str = ""
    ) -> None:
        self.reason = reason or (error.message if error else "Halo failed to answer")
        super().__init__(self.reason)
        self.error = error
        self.response = response


def _log_retry(details: RetryDetails) -> None:
    """stamina's retry notice in plain words (its own shows internal exception reprs)."""
    cause = details.caused_by
    reason = cause.reason if isinstance(cause, _Transient) else str(cause) or type(cause).__name__
    log.warning(
        "halo_request_retried",
        reason=reason,
        retry=details.retry_num,
        wait_seconds=round(details.wait_for, 2),
    )


set_on_retry_hooks([_log_retry, PrometheusOnRetryHook])


class _RateLimited(Exception):
    def __init__(self, response: httpx2.Response) -> None:
        super().__init__("rate limited")
        self.response = response


class Exchanger:
    """Sends requests to one Halo instance within its rate budget, retrying what is safe."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        *,
        pacer: RequestPacer,
        clock: Clock,
        retry: RetryPolicy,
        rate_window_seconds: float,
        deadline_seconds: float,
    ) -> None:
        self._http = http
        self._deadline_seconds = deadline_seconds
        self._pacer = pacer
        self._clock = clock
        self._retry = retry
        self._rate_window_seconds = rate_window_seconds
        self.activity: HaloActivity = NoActivity()
        """Told when requests wait for the rate limit (the client's watcher)."""

    async def send(
        self,
        method: str,
        url: str,
        *,
        summary: RequestSummary,
        replay_safe: bool,
        endpoint: Endpoint,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        ambiguous_rows: Sequence[dict[str, Any]] = (),
    ) -> httpx2.Response:
        """The response to the request, after waiting out 429s and retrying transient failures.

        Returns any final response (including an exhausted 5xx) for the caller to interpret;
        raises typed errors for transport failures, for a request that may have been applied
        but cannot safely be re-sent (:class:`AmbiguousWriteError`), for a rate limit that
        persists after ``rate_limit_waits`` windows, and, without waiting at all, for a
        Retry-After longer than those windows (:class:`RetryAfterTooLongError`).
        """
        waits = 0
        while True:
            try:
                return await self._send_with_retries(
                    method,
                    url,
                    summary=summary,
                    replay_safe=replay_safe,
                    endpoint=endpoint,
                    params=params,
                    json=json,
                    data=data,
                    headers=headers,
                    ambiguous_rows=ambiguous_rows,
                )
            except _RateLimited as limited:
                now = self._clock.now()
                wait = self._rate_limit_wait(limited.response, summary, now, waits)
                log.warning(
                    "halo_rate_limited",
                    wait_seconds=round(wait.seconds, 1),
                    retry_after=None if wait.asked is None else round(wait.asked, 1),
                )
                await self._pacer.block_until(now + wait.seconds)
                waits += 1

    def _rate_limit_wait(
        self, response: httpx2.Response, summary: RequestSummary, now: float, waits: int
    ) -> RateLimitWait:
        """How long to hold after this 429, or the error that ends the request instead."""
        window = self._rate_window_seconds
        header = response.headers.get("retry-after")
        wait = rate_limit_wait(header, now, window=window)
        left = self._retry.rate_limit_waits - waits
        limited = f"Halo answered 429 (rate limit reached: {halo_message(response)!r}) to {summary}"
        if left <= 0:
            raise RateLimitedError(
                f"{limited} after halosync waited {waits} rate window(s).",
                fix="Another tool may be using the same Halo instance's API budget; lower "
                "HALOSYNC_HALO_RATE_LIMIT or run halosync when that tool is idle.",
                request=summary,
            )
        budget = left * window
        if wait.asked is not None and wait.asked > budget:
            raise RetryAfterTooLongError(
                f"{limited} and asked halosync to wait {_duration(wait.asked)} "
                f"(Retry-After: {(header or '').strip()[:60]}). This request may wait at most "
                f"{_duration(budget)} more for Halo's rate limit, so the sync stopped at once "
                "rather than hold this workspace, and every workspace on this Halo instance, "
                "for that long.",
                retry_after_seconds=wait.asked,
                fix="Nothing needs to change in halosync: the next scheduled sync tries again. "
                "If Halo keeps asking for such waits, another tool may be using up this "
                "instance's API budget; ask your Halo administrator.",
                request=summary,
            )
        return wait

    async def _send_with_retries(
        self,
        method: str,
        url: str,
        *,
        summary: RequestSummary,
        replay_safe: bool,
        endpoint: Endpoint,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        ambiguous_rows: Sequence[dict[str, Any]],
    ) -> httpx2.Response:
        policy = self._retry
        try:
            async for attempt in stamina.retry_context(
                on=_Transient,
                attempts=policy.attempts,
                timeout=policy.timeout,
                wait_initial=policy.wait_initial,
                wait_max=policy.wait_max,
                wait_jitter=policy.wait_jitter,
            ):
                with attempt:
                    return await self._attempt(
                        method,
                        url,
                        summary=summary,
                        replay_safe=replay_safe,
                        endpoint=endpoint,
                        params=params,
                        json=json,
                        data=data,
                        headers=headers,
                        ambiguous_rows=ambiguous_rows,
                    )
        except _Transient as exhausted:
            if exhausted.response is not None:
                return exhausted.response
            error = exhausted.error
            if error is None:  # pragma: no cover - _Transient carries one or the other
                raise
            error.request = summary
            raise error from None
        raise AssertionError("unreachable: stamina yields at least one attempt")

    async def _attempt(
        self,
        method: str,
        url: str,
        *,
        summary: RequestSummary,
        replay_safe: bool,
        endpoint: Endpoint,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        ambiguous_rows: Sequence[dict[str, Any]],
    ) -> httpx2.Response:
        await self._slot()
        try:
            # httpx's timeout is per read: an answer trickling a byte at a time never trips
            # it. The deadline covers the whole exchange (send, and reading every byte).
            async with asyncio.timeout(self._deadline_seconds):
                response = await self._http.request(
                    method, url, params=params, json=json, data=data, headers=headers
                )
        except TimeoutError as exc:
            count_request(method, "error")
            host = httpx2.URL(url).host
            slow = (
                f"Halo at {host} did not finish answering {summary} within "
                f"{self._deadline_seconds:g} s (its answer came too slowly)."
            )
            if not replay_safe:
                raise AmbiguousWriteError(
                    f"{slow} The records may or may not have been created.",
                    rows=ambiguous_rows,
                    fix="halosync looks for them before writing again; nothing is re-sent blindly.",
                    request=summary,
                ) from exc
            raise _Transient(
                HaloTimeoutError(
                    slow,
                    fix="Try again later; if it keeps happening, check the instance's health "
                    "and the network between halosync and Halo (a proxy holding answers back).",
                ),
                None,
            ) from exc
        except httpx2.TransportError as exc:
            count_request(method, "error")
            failure = classify_transport_error(exc, url)
            if failure.maybe_sent and not replay_safe:
                raise AmbiguousWriteError(
                    f"Halo did not confirm {summary}: {failure.error.message} The records "
                    "may or may not have been created.",
                    rows=ambiguous_rows,
                    fix="halosync looks for them before writing again; nothing is re-sent blindly.",
                    request=summary,
                ) from exc
            if failure.transient:
                raise _Transient(failure.error, None) from exc
            failure.error.request = summary
            raise failure.error from exc
        count_request(method, response.status_code)
        action = handling(response.status_code, endpoint)
        if action is Handling.WAIT:
            raise _RateLimited(response)
        if action is Handling.RESEND:
            if not replay_safe:
                raise AmbiguousWriteError(
                    f"Halo answered {response.status_code} "
                    f"({halo_message(response) or 'no message'}) to {summary}; the records "
                    "may or may not have been created.",
                    rows=ambiguous_rows,
                    status=response.status_code,
                    fix="halosync looks for them before writing again; nothing is re-sent blindly.",
                    request=summary,
                )
            raise _Transient(
                None,
                response,
                f"Halo answered {response.status_code} "
                f"({halo_message(response) or 'no message'}) to {summary}",
            )
        if action is Handling.SUCCESS and replay_safe and (instead := read_json(response)):
            # A proxy's maintenance page, or an answer cut short: a passing fault.
            raise _Transient(
                HaloUnreadableAnswerError(
                    f"Halo answered {summary} with {instead} instead of JSON.",
                    fix="Try again later: Halo, or a proxy in front of it, was not answering "
                    "normally. If it persists, check the instance's health.",
                ),
                None,
            )
        return response

    async def _slot(self) -> None:
        """Take a request slot from the pacer, telling the watcher while it holds us back."""
        activity = self.activity
        held = False

        def waiting(until: float) -> None:
            nonlocal held
            held = True
            activity.waiting(until)

        await self._pacer.acquire(waiting)
        if held:
            activity.waiting(None)


def _duration(seconds: float) -> str:
    """``86400 s (about 24 h)``: exact seconds, and a reading for long ones."""
    text = f"{seconds:.0f} s"
    if seconds >= 2 * 86400:
        return f"{text} (about {seconds / 86400:,.0f} days)"
    if seconds >= 2 * 3600:
        return f"{text} (about {seconds / 3600:.0f} h)"
    if seconds >= 120:
        return f"{text} (about {seconds / 60:.0f} min)"
    return text
