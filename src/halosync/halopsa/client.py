"""The one door to HaloPSA: authenticated, paced, retried reads and writes.

Reads page with ``pageinate=true`` until ``record_count`` rows are in, and raise rather than
return a truncated list. Writes POST arrays in batches and map results back to inputs by
order. A write that creates records is never re-sent blindly after an unanswered attempt:
see :class:`CreateRecovery` and ``docs/halopsa.md``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import httpx2
from pydantic import BaseModel

from halosync.halopsa.activity import HaloActivity
from halosync.halopsa.auth import TokenProvider
from halosync.halopsa.clock import Clock, SystemClock
from halosync.halopsa.config import HaloConnectionConfig, check_outbound_url, resolve_host
from halosync.halopsa.errors import (
    AmbiguousWriteError,
    HaloConfigurationError,
    HaloError,
    HaloRecordNotFoundError,
    HaloRecordWithoutIdError,
    HaloRequestRejectedError,
    HaloResponseError,
    HaloServerError,
    HaloUnreadableAnswerError,
    MissingPermissionError,
    PagingInconsistentError,
    RequestSummary,
)
from halosync.halopsa.exchange import Exchanger
from halosync.halopsa.models import Client, Item
from halosync.halopsa.pacing import (
    DEFAULT_RATE_LIMIT,
    DEFAULT_RATE_WINDOW_SECONDS,
    RequestPacer,
    SlidingWindowPacer,
)
from halosync.halopsa.paging import (
    DEFAULT_PAGE_SIZE,
    PageTracker,
    PagingReport,
    list_key,
    unwrap_list,
    unwrap_written,
)
from halosync.halopsa.permissions import missing_permission_fix, permission_for
from halosync.halopsa.pinned import CheckedAddressTransport
from halosync.halopsa.retry import RetryPolicy
from halosync.halopsa.statuses import Handling, handling, resource_refusal
from halosync.halopsa.transport import PARSED_JSON, halo_field_errors, halo_message, read_json
from halosync.logging import get_logger

DEFAULT_BATCH_SIZE = 50
DEFAULT_TIMEOUT_SECONDS = 30.0
"""httpx's timeout: for connecting, and for each read (not for a whole answer)."""
REQUEST_DEADLINE_FACTOR = 2
"""One exchange (send and the whole answer) may take this many ``timeout_seconds``."""
CONFIRM_CONCURRENCY = 4
"""Records looked up by id at once (the pacer still spaces them within Halo's budget)."""
WHOLE_LIST_ATTEMPTS = 3
M = TypeVar("M", bound=BaseModel)
log = get_logger(__name__)


class CreateRecovery(Protocol):
    """Finds records a create may have made after Halo left the create unanswered.

    Called with the rows whose create went unanswered (no ``id``); returns, in the same
    order, the record Halo now holds for each row (found by a marker the caller chose, such
    as client + licence name) or None when it was not created. Rows found are not sent again.
    """

    async def __call__(
        self, rows: Sequence[Mapping[str, Any]]
    ) -> Sequence[Mapping[str, Any] | None]: ...


def is_update(row: Mapping[str, Any]) -> bool:
    """Halo updates when ``id`` names a record (recurring-invoice ids are negative) and
    creates when it is missing or 0."""
    return row.get("id") not in (None, 0, "", "0")


class HaloApiClient:
    """Talks to one Halo instance. Use as ``async with HaloApiClient(config, ...) as halo``."""

    def __init__(
        self,
        config: HaloConnectionConfig,
        *,
        http: httpx2.AsyncClient | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        pacer: RequestPacer | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        allow_private_networks: bool = False,
        page_size: int = DEFAULT_PAGE_SIZE,
        batch_size: int = DEFAULT_BATCH_SIZE,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        rate_window_seconds: float = DEFAULT_RATE_WINDOW_SECONDS,
        refresh_margin_seconds: float | None = None,
        request_deadline_seconds: float | None = None,
    ) -> None:
        check_outbound_url(config.base_url, allow_private_networks=allow_private_networks)
        check_outbound_url(config.token_url, allow_private_networks=allow_private_networks)
        if page_size < 1 or batch_size < 1:
            raise ValueError("page_size and batch_size must be at least 1")
        self.config = config
        self.page_size = page_size
        self.batch_size = batch_size
        self._allow_private = allow_private_networks
        self._addresses_checked = allow_private_networks
        self._clock = clock or SystemClock()
        self._owns_http = http is None
        if http is None and transport is None and not allow_private_networks:
            transport = CheckedAddressTransport()
        self._http = http or httpx2.AsyncClient(
            transport=transport, timeout=timeout_seconds, follow_redirects=False
        )
        self.pacer: RequestPacer = pacer or SlidingWindowPacer(
            DEFAULT_RATE_LIMIT, rate_window_seconds, clock=self._clock
        )
        self._exchanger = Exchanger(
            self._http,
            pacer=self.pacer,
            clock=self._clock,
            retry=retry or RetryPolicy(),
            rate_window_seconds=rate_window_seconds,
            deadline_seconds=request_deadline_seconds or timeout_seconds * REQUEST_DEADLINE_FACTOR,
        )
        margin = (
            {}
            if refresh_margin_seconds is None
            else {"refresh_margin_seconds": refresh_margin_seconds}
        )
        self.auth = TokenProvider(config, self._exchanger, self._clock, **margin)

    @property
    def activity(self) -> HaloActivity:
        """Who hears of pages read and rate-limit waits (nobody unless :meth:`watch` ed)."""
        return self._exchanger.activity

    def watch(self, activity: HaloActivity) -> None:
        """Report pages read and waits for Halo's rate limit to ``activity`` from now on."""
        self._exchanger.activity = activity

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            await self._http.aclose()

    async def _check_addresses(self) -> None:
        # Resolve once per client: refuse names that point into private networks (SSRF).
        if self._addresses_checked:
            return
        for url in (self.config.base_url, self.config.token_url):
            host = httpx2.URL(url).host
            addresses = await asyncio.to_thread(resolve_host, host)
            check_outbound_url(url, allow_private_networks=False, addresses=addresses)
        self._addresses_checked = True

    async def get_token(self) -> str:
        """A valid access token (fetches one if needed); used by Test Connection."""
        await self._check_addresses()
        return await self.auth.token()

    # --- the core request -------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        replay_safe: bool | None = None,
        ambiguous_rows: Sequence[dict[str, Any]] = (),
    ) -> Any:
        """Send one authenticated request to ``/api/<path>`` and return its JSON (None if empty).

        ``replay_safe`` defaults to True for GET/DELETE and False for POST: only replay-safe
        requests are re-sent after a 5xx or an unanswered attempt.
        """
        await self._check_addresses()
        method = method.upper()
        if replay_safe is None:
            replay_safe = method in ("GET", "DELETE", "HEAD")
        url = f"{self.config.api_url}/{path.lstrip('/')}"
        summary = RequestSummary.of(method, "/api/" + path.lstrip("/"), json)
        token = await self.auth.token()
        for attempt in range(2):
            response = await self._exchanger.send(
                method,
                url,
                summary=summary,
                replay_safe=replay_safe,
                endpoint="resource",
                params=params,
                json=json,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                ambiguous_rows=ambiguous_rows,
            )
            if handling(response.status_code, "resource") is not Handling.REFRESH:
                break
            if attempt == 0:
                # The token expired or was revoked: exactly one retry with a fresh one. A
                # second 401 is a permission problem, never a loop of fresh tokens.
                token = await self.auth.refresh(token)
        return self._interpret(response, method, path, summary)

    def _interpret(
        self, response: httpx2.Response, method: str, path: str, summary: RequestSummary
    ) -> Any:
        status = response.status_code
        action = handling(status, "resource")
        if action is Handling.SUCCESS:
            if not response.content.strip():
                return None
            if PARSED_JSON in response.extensions:  # read by the exchange
                return response.extensions[PARSED_JSON]
            instead = read_json(response)
            if instead is not None:
                raise HaloResponseError(f"Halo answered {summary} with {instead}.", request=summary)
            return response.extensions[PARSED_JSON]
        message = halo_message(response)
        if action in (Handling.REFRESH, Handling.CONFIGURATION):
            raise _permission_error(response.status_code, message, method, path, summary)
        if action.kind == "retryable":
            # Only a request about one record can point at that record.
            what = "the record in Halo" if _names_record(path) else "the Halo instance's health"
            raise HaloServerError(
                f"Halo answered {status} ({message or 'no message'}) to {summary}.",
                status=status,
                fix=f"Retrying later may help; if it persists, check {what}.",
                request=summary,
            )
        if resource_refusal(status) == "not_found":
            raise HaloRecordNotFoundError(
                f"Halo has no record at {summary.path} (it may have been deleted in Halo).",
                request=summary,
            )
        reason = message or "no reason given"
        raise HaloRequestRejectedError(
            f"Halo refused {summary} with HTTP {status}: {reason.rstrip('.')}.",
            status=status,
            halo_message=message,
            field_errors=halo_field_errors(response) if status == 400 else None,
            request=summary,
        )

    # --- reads ---------------------------------------------------------------------

    def read_list(self, entity: str, *, params: Mapping[str, Any] | None = None) -> ListReading:
        """An entity's list, read tolerantly page by page (``pageinate=true``).

        Iterate it for each page's records not seen before; its ``report`` then says
        whether Halo's list changed while it was read. See :class:`PageTracker`.
        """
        return ListReading(self, entity, params or {})

    async def iter_pages(
        self, entity: str, *, params: Mapping[str, Any] | None = None
    ) -> AsyncGenerator[list[dict[str, Any]]]:
        """Yield an entity's list page by page, each record once (see :meth:`read_list`)."""
        async for page in self.read_list(entity, params=params):
            yield page

    async def list_records(
        self, entity: str, *, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Every record of an entity's list (slim list rows, not full objects)."""
        rows: list[dict[str, Any]] = []
        async for page in self.iter_pages(entity, params=params):
            rows.extend(page)
        return rows

    async def list_whole(
        self,
        entity: str,
        *,
        params: Mapping[str, Any] | None = None,
        attempts: int = WHOLE_LIST_ATTEMPTS,
    ) -> list[dict[str, Any]]:
        """Every record of a (small) list, read until it held still while it was read.

        For searches whose "not found" must be true, such as looking for a create Halo may
        have applied; raises :class:`PagingInconsistentError` when it never held still.
        """
        report: PagingReport | None = None
        for _ in range(attempts):
            reading = self.read_list(entity, params=params)
            rows = [row async for page in reading for row in page]
            report = reading.report
            if report.settled:
                return rows
        assert report is not None
        raise PagingInconsistentError(
            f"The {entity} list kept changing while it was read ({attempts} attempts; Halo "
            f"reported {report.first_count} records, then {report.last_count}).",
            fix="Nothing was concluded from it; the next sync reads it again.",
        )

    async def get_record(
        self, entity: str, record_id: int, *, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """The full record by id, or None when Halo has no such record: only a 404 or an
        empty object (or body) means that. Any other object without an id raises
        :class:`HaloUnreadableAnswerError` (reading it as "gone" would create it again)."""
        body = await self._fetch_record(entity, record_id, params)
        if body is not None and not body.get("id"):
            odd = _without_id(entity, record_id, body)
            raise HaloUnreadableAnswerError(odd.message, fix=odd.fix, request=odd.request)
        return body

    async def _fetch_record(
        self, entity: str, record_id: int, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """The object Halo answers for the record (None: it has none); its id unchecked."""
        path = f"{entity}/{record_id}"
        try:
            body = await self.request("GET", path, params=_query(params or {}) or None)
        except HaloRecordNotFoundError:
            return None
        if body is None or body == {}:
            return None
        if not isinstance(body, dict):
            raise HaloResponseError(f"Halo answered GET /api/{path} with a non-object.")
        return body

    async def get_records(
        self,
        entity: str,
        record_ids: Iterable[int],
        *,
        concurrency: int = CONFIRM_CONCURRENCY,
    ) -> dict[int, dict[str, Any] | None]:
        """Full records by id, a few requests at a time; None for each Halo no longer has.

        How a record missing from a list read is confirmed: only a 404 (or an empty
        object) means it is gone; any other failure raises, and nothing is concluded.
        """
        read = await self.read_records(entity, record_ids, concurrency=concurrency)
        if read.without_id:
            first = next(iter(read.without_id.values()))
            raise HaloUnreadableAnswerError(first.message, fix=first.fix, request=first.request)
        return read.found

    async def read_records(
        self,
        entity: str,
        record_ids: Iterable[int],
        *,
        concurrency: int = CONFIRM_CONCURRENCY,
    ) -> RecordsRead:
        """As :meth:`get_records`, but a record Halo answers with an object without an id
        is that record's :class:`HaloRecordWithoutIdError` (``without_id``) while the others
        are read: one odd answer need not stop the work on every other record."""
        pending = list(dict.fromkeys(record_ids))
        queue = iter(pending)
        found: dict[int, dict[str, Any] | None] = {}
        without_id: dict[int, HaloRecordWithoutIdError] = {}

        async def worker() -> None:
            for record_id in queue:
                body = await self._fetch_record(entity, record_id)
                if body is not None and not body.get("id"):
                    without_id[record_id] = _without_id(entity, record_id, body)
                else:
                    found[record_id] = body

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(concurrency, len(pending))):
                    group.create_task(worker())
        except* HaloError as failures:
            raise _first(failures) from None
        return RecordsRead(
            {record_id: found[record_id] for record_id in pending if record_id in found},
            {record_id: without_id[record_id] for record_id in pending if record_id in without_id},
        )

    # --- writes ------------------------------------------------------------------

    async def save_records(
        self,
        entity: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        batch_size: int | None = None,
        idempotent: bool | None = None,
        recovery: CreateRecovery | None = None,
    ) -> list[dict[str, Any]]:
        """POST rows (create without id, update with id) in batches; results in input order.

        ``idempotent`` overrides the default rule (a batch is replay-safe when every row is an
        update). A batch that creates and goes unanswered raises :class:`AmbiguousWriteError`
        unless ``recovery`` finds what was created; rows it cannot find are sent once more.
        """
        size = batch_size or self.batch_size
        results: list[dict[str, Any]] = []
        for start in range(0, len(rows), size):
            chunk = [dict(row) for row in rows[start : start + size]]
            results.extend(await self._save_chunk(entity, chunk, idempotent, recovery))
        return results

    async def _save_chunk(
        self,
        entity: str,
        chunk: list[dict[str, Any]],
        idempotent: bool | None,
        recovery: CreateRecovery | None,
    ) -> list[dict[str, Any]]:
        replay_safe = idempotent if idempotent is not None else all(map(is_update, chunk))
        try:
            return await self._post(entity, chunk, replay_safe)
        except AmbiguousWriteError as unknown:
            if recovery is None:
                raise
            creates = [i for i, row in enumerate(chunk) if not is_update(row)]
            try:
                found = list(await recovery([chunk[i] for i in creates]))
            except HaloConfigurationError:
                raise
            except HaloError as search_error:
                # The write's failure is what went wrong; the failed search only means its
                # outcome is still unknown. Raise the write's error, carrying the search's.
                unknown.search_error = search_error
                raise unknown from search_error
            if len(found) != len(creates):
                raise HaloResponseError(
                    "The create-recovery hook answered for a different number of rows."
                ) from unknown
            results: list[dict[str, Any] | None] = [None] * len(chunk)
            for index, record in zip(creates, found, strict=True):
                if record is not None:
                    results[index] = dict(record)
            resend = [i for i, result in enumerate(results) if result is None]
            if resend:
                again = await self._post(
                    entity, [chunk[i] for i in resend], all(is_update(chunk[i]) for i in resend)
                )
                for index, record in zip(resend, again, strict=True):
                    results[index] = record
            return [r for r in results if r is not None]

    async def _post(
        self, entity: str, chunk: list[dict[str, Any]], replay_safe: bool
    ) -> list[dict[str, Any]]:
        body = await self.request(
            "POST",
            entity,
            json=chunk,
            replay_safe=replay_safe,
            ambiguous_rows=[row for row in chunk if not is_update(row)],
        )
        return unwrap_written(body, list_key(entity), len(chunk))

    # --- typed reads (licences and recurring invoices: see halosync.halopsa.billing) -----

    async def clients(self, *, include_inactive: bool = False) -> list[Client]:
        """Every Halo client (slim list rows)."""
        params = {"includeinactive": include_inactive, "includeactive": True}
        return _parse(Client, await self.list_records("Client", params=params))

    async def items(self, *, include_inactive: bool = False) -> list[Item]:
        """Every Halo item."""
        params = {"includeinactive": include_inactive, "includeactive": True}
        return _parse(Item, await self.list_records("Item", params=params))


@dataclass(frozen=True)
class RecordsRead:
    """Records read by id (:meth:`HaloApiClient.read_records`)."""

    found: dict[int, dict[str, Any] | None]
    """Each record read: its object, or None when Halo no longer has it (404)."""
    without_id: dict[int, HaloRecordWithoutIdError]
    """Records Halo answered with an object without an id: unknown, never gone."""


def _without_id(entity: str, record_id: int, body: Mapping[str, Any]) -> HaloRecordWithoutIdError:
    path = f"/api/{entity}/{record_id}"
    fields = ", ".join(sorted(map(str, body))[:8])
    return HaloRecordWithoutIdError(
        f"Halo answered GET {path} with an object without an id (fields: {fields}); "
        "halosync cannot tell what it holds, so nothing was concluded from it.",
        fix="Nothing needs to change: the next sync reads it again. If it persists, check "
        "the record in Halo.",
        request=RequestSummary.of("GET", path),
    )


class ListReading:
    """One tolerant read of a list: iterate it for new records per page, then ``report``."""

    def __init__(self, halo: HaloApiClient, entity: str, params: Mapping[str, Any]) -> None:
        self._halo = halo
        self._entity = entity
        self._params = params
        self._report: PagingReport | None = None

    @property
    def report(self) -> PagingReport:
        """How the read went; available once every page has been read."""
        if self._report is None:
            raise RuntimeError(f"the {self._entity} list has not been read to its end yet")
        return self._report

    def __aiter__(self) -> AsyncIterator[list[dict[str, Any]]]:
        return self._pages()

    async def _pages(self) -> AsyncIterator[list[dict[str, Any]]]:
        halo = self._halo
        tracker = PageTracker(self._entity, halo.page_size)
        key = list_key(self._entity)
        while (page_no := tracker.next_page) is not None:
            query = {
                **_query(self._params),
                "pageinate": "true",
                "page_size": str(halo.page_size),
                "page_no": str(page_no),
            }
            body = await halo.request("GET", self._entity, params=query)
            rows, record_count = unwrap_list(body, key)
            fresh = tracker.add(rows, record_count)
            halo.activity.page_read(self._entity, len(fresh))
            if fresh:
                yield fresh
        self._report = report = tracker.report()
        if not report.settled:
            log.info(
                "halo_list_changed_while_read",
                entity=self._entity,
                first_count=report.first_count,
                last_count=report.last_count,
                records=report.records,
                requests=report.requests,
                rereads=report.rereads,
                truncated=report.truncated,
            )


def _first(failures: BaseExceptionGroup[HaloError]) -> HaloError:
    """The first error of a task group's failures (they do not nest here)."""
    first = failures.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first


def _permission_error(
    status: int, message: str | None, method: str, path: str, summary: RequestSummary
) -> MissingPermissionError:
    """A refusal that only the API application's permissions explain: 403, or a 401 that a
    freshly issued token still gets (real Halo's answer on detail endpoints)."""
    needed = permission_for(path, method)
    permissions = [needed] if needed else []
    what = needed.describe() if needed else f"access to {path}"
    if status == 403:
        text = f"Halo refused {summary}: the API application lacks {what}."
    else:
        text = (
            f"Halo refused {summary} with HTTP {status} ({message or 'no reason given'}) "
            "even with a freshly issued token; Halo answers so when the API application, "
            f"or the agent it logs in as, lacks {what}."
        )
    fix = missing_permission_fix(permissions) if permissions else None
    if status != 403:
        extra = (
            "If the permission is already there, check that the application and its agent "
            "are still enabled (Configuration > Integrations > HaloPSA API > View Applications)."
        )
        fix = f"{fix} {extra}" if fix else extra
    return MissingPermissionError(text, permissions=permissions, fix=fix, request=summary)


def _names_record(path: str) -> bool:
    """Whether ``path`` is one record's (``SoftwareLicence/12``, ``RecurringInvoice/-3``)."""
    last = path.strip("/").rsplit("/", 1)[-1]
    return last.lstrip("-").isdigit()


def _query(params: Mapping[str, Any]) -> dict[str, str]:
    """Query values as Halo reads them: booleans lower-case, None left out."""
    query: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        query[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return query


def _parse(model: type[M], rows: Sequence[Mapping[str, Any]]) -> list[M]:
    return [model.model_validate(row) for row in rows]
