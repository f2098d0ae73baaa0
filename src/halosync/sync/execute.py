"""Carrying out a plan's writes: batched POSTs, each batch committed with its ledger rows.

Creates and updates go in separate batches so that a batch of updates may be retried
safely. For a batch of creates the ledger rows are committed as ``pending`` (with the
marker) before the POST, and as ``written`` with Halo's ids, the run results and the
audit entries in one transaction after it. In a batch Halo refuses, the records it named
fail in its words and the others are sent again together (a refusal naming no record:
record by record), so one bad record fails alone; a batch Halo may or may not have applied
is first searched for by marker, and only what is not found is sent again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from halosync.domain.halo_values import json_fields
from halosync.domain.models import LineWritePath, Plan, PlannedChange, Target
from halosync.domain.placement import client_gone_reason
from halosync.domain.review import ReviewedChange
from halosync.domain.rules import explain_document
from halosync.halopsa.billing import (
    LICENCE_ENTITY,
    LINES_ENTITY,
    halo_body,
    halo_fields,
    id_of,
    read_invoice_line,
    read_licence,
)
from halosync.halopsa.client import HaloApiClient
from halosync.halopsa.errors import (
    ANSWER_LOST,
    WRITE_FAILURES,
    AmbiguousWriteError,
    HaloConfigurationError,
    HaloError,
    HaloRecordNotFoundError,
    HaloRequestRejectedError,
    HaloResponseError,
    HaloServerError,
)
from halosync.logging import get_logger
from halosync.store.account_grid import refresh_mapping_columns
from halosync.store.base import utcnow
from halosync.store.batch_records import add_audit_entries, add_run_results
from halosync.store.database import Database
from halosync.store.halo_pull import mark_gone
from halosync.store.models import HaloClient
from halosync.sync.gather import SyncInputs
from halosync.sync.halo_state import HaloState, MarkerRecovery
from halosync.sync.invoice_writes import InvoiceLineWriter
from halosync.sync.ledger import AUDIT_ENTITY, LedgerBook, Written
from halosync.sync.progress import ProgressTracker
from halosync.sync.results import ChangeResult
from halosync.sync.review import Approvals, spend_approvals

log = get_logger(__name__)

_SERVER_FAILURES = (HaloServerError, AmbiguousWriteError, *ANSWER_LOST)
"""A write Halo failed, not refused: a 5xx after the retries, or no (readable) answer."""
SERVER_FAILURES_TO_STOP = 3
"""Records written alone that Halo failed in a row before a run sends it no more writes:
a batch it failed goes again a record at a time to find a record it cannot take, which
against a Halo failing every write is one more request (and its retries) per record."""
# Only a 4xx refusal proves Halo applied nothing; any other failed create may have landed.
_REFUSED = (HaloRequestRejectedError, HaloRecordNotFoundError)


def _written(target: Target, record: Mapping[str, Any]) -> Written:
    if target == "licence":
        licence = read_licence(record)
        return Written(licence.id, licence.count, licence.price, licence.purchase_price)
    line = read_invoice_line(record)
    if line.id is None:
        raise HaloResponseError("Halo answered a saved recurring-invoice line without an id.")
    return Written(line.id, line.qty_order, line.unit_price, line.unit_cost)


def _body(change: PlannedChange) -> dict[str, Any]:
    """The JSON object Halo is sent for one planned write."""
    assert change.write is not None, "only creates and updates are written"
    return halo_body(change.write)


def _refusal(error: HaloError, row: int = 0) -> str:
    """Why Halo refused one record (row ``row`` of the POST; 0 when it was POSTed alone),
    in its own words when it named the fields; the full error otherwise."""
    if isinstance(error, HaloRequestRejectedError):
        words = error.row_message(row)
        if words:
            return words
    return error.message


class PlanExecutor:
    """Executes one plan for one run; results come back in plan order."""

    def __init__(
        self,
        database: Database,
        halo: HaloApiClient,
        inputs: SyncInputs,
        state: HaloState,
        *,
        workspace_id: int,
        run_id: int,
        batch_size: int,
        progress: ProgressTracker | None = None,
        line_write_path: LineWritePath = "invoice",
        posts: int = 0,
        failing: HaloError | None = None,
        still_held: set[int] | None = None,
        approvals: Approvals | None = None,
    ) -> None:
        self.database = database
        self.halo = halo
        self.inputs = inputs
        self.target: Target = inputs.settings.target
        self.workspace_id = workspace_id
        self.run_id = run_id
        self.batch_size = batch_size
        self.entity = LICENCE_ENTITY if self.target == "licence" else LINES_ENTITY
        self.current = state.quantities(self.target)
        self.book = LedgerBook(
            workspace_id, self.target, inputs.ledger_ids, inputs.account_ids, inputs.service_ids
        )
        self.recovery = MarkerRecovery(halo, self.target, set(self.current))
        self.results: dict[int, ChangeResult] = {}
        self._posts = posts
        self._server_failures = 0
        """Records written alone that Halo failed in a row (a success starts again)."""
        self._failing = failing
        """Set once that reaches SERVER_FAILURES_TO_STOP: the last such failure (an earlier
        chunk's executor of the run hands it on)."""
        self.progress = progress or ProgressTracker()
        self.still_held = still_held
        """The run's review items held so far (a plan made again before a write adds its
        holds, so that the end of a whole-workspace run does not withdraw them)."""
        self.approvals: Approvals = approvals if approvals is not None else {}
        """The approvals the run's screenings passed: each is spent in the transaction that
        records its change written, so a write that fails leaves it armed."""
        self.held_again: set[int] = set()
        """Plan indexes held for review when planned again just before the write."""
        self.new_holds: list[ReviewedChange] = []
        """The holds new to the queue among those."""
        self.lines_by_invoice = (
            InvoiceLineWriter(self, state.invoice_versions, state.lines)
            if self.target == "invoice_line" and line_write_path == "invoice"
            else None
        )

    @property
    def failing(self) -> HaloError | None:
        """Why the run sends Halo no more writes, once it does not (its next chunk too)."""
        return self._failing

    @property
    def posts(self) -> int:
        """How many POSTs the run has numbered so far (a run's next chunk goes on from it)."""
        return self._posts

    async def run(self, plan: Plan) -> list[ChangeResult]:
        """Execute every write of ``plan``; record the rest as they are."""
        changes = list(plan.changes)
        self._record_non_writes(changes)
        if self.lines_by_invoice is not None:
            self.progress.planned(sum(1 for change in changes if change.is_write))
            await self.lines_by_invoice.write(changes, self.batch_size)
            return [self.results[i] for i in range(len(changes))]
        creates = [i for i, change in enumerate(changes) if change.action == "create"]
        updates = [i for i, change in enumerate(changes) if change.action == "update"]
        self.progress.planned(len(creates) + len(updates))
        for indexes in (updates, creates):
            for start in range(0, len(indexes), self.batch_size):
                chunk = [(i, changes[i]) for i in indexes[start : start + self.batch_size]]
                await self._write(chunk)
                self.progress.wrote(len(chunk))
        return [self.results[i] for i in range(len(changes))]

    # --- what needs no write ----------------------------------------------------------

    def _record_non_writes(self, changes: Sequence[PlannedChange]) -> None:
        now = utcnow()
        rows: list[dict[str, Any]] = []
        refresh: list[tuple[PlannedChange, Written]] = []
        audits: list[dict[str, Any]] = []
        for index, change in enumerate(changes):
            if change.is_write:
                continue
            result = ChangeResult.planned(change)
            self.results[index] = result
            rows.append(self._result_row(result, now))
            if change.action == "unchanged" and change.halo_id in self.current:
                quantity, price, cost = self.current[change.halo_id]
                written = Written(change.halo_id, quantity, price, cost)
                if change.adopted or self.book.needs_refresh(
                    change, written, self.inputs.ledger_known
                ):
                    refresh.append((change, written))
                    # Recorded with its ledger row (a held change records neither).
                    audits += self._interrupted_audit(change, now)
        with self.database.session() as session:
            self.book.mark_written(session, refresh, self.run_id, now)
            add_run_results(session, rows)
            add_audit_entries(session, audits)

    def mark_pending(
        self,
        creates: Sequence[PlannedChange],
        updates: Sequence[PlannedChange] = (),
        request_id: str | None = None,
    ) -> None:
        """Before a POST: the markers of its creates and what its updates send (POST
        ``request_id``), in one transaction."""
        with self.database.session() as session:
            self.book.mark_pending(session, creates, self.run_id)
            self.book.mark_sending(session, updates, self.run_id, request_id)

    def next_request_id(self) -> str:
        """The id of the next POST (the audit entries name it)."""
        self._posts += 1
        return f"run-{self.run_id}-post-{self._posts}"

    def record_failure(
        self, index: int, change: PlannedChange, *, reason: str, message: str | None
    ) -> None:
        """One change failed: its result (ERROR), at once."""
        self._record_failure(index, change, reason=reason, message=message or "")

    def commit_batch(
        self,
        chunk: Sequence[tuple[int, PlannedChange]],
        saved: Sequence[Mapping[str, Any]],
        request_ids: Sequence[str],
        settled: Sequence[tuple[int, PlannedChange, Written | None]] = (),
    ) -> None:
        """One transaction for a batch: the ledger rows, results and audit entries of the
        records written (each with the POST that wrote it), and the results of changes that
        turned out to need no write when planned again (the ledger brought in step with the
        record each keeps)."""
        now = utcnow()
        writes: list[tuple[PlannedChange, Written]] = []
        results: list[dict[str, Any]] = []
        audits: list[dict[str, Any]] = []
        for (index, change), record, request_id in zip(chunk, saved, request_ids, strict=True):
            written = _written(self.target, record)
            writes.append((change, written))
            result = ChangeResult.planned(change, halo_id=written.halo_id)
            self.results[index] = result
            results.append(self._result_row(result, now))
            audits += self._interrupted_audit(change, now)
            audits.append(self._audit(change, result, request_id, now))
        for index, change, kept in settled:
            result = ChangeResult.planned(change)
            self.results[index] = result
            results.append(self._result_row(result, now))
            if change.action == "unchanged" and kept is not None:
                writes.append((change, kept))
                audits += self._interrupted_audit(change, now)
        if not writes and not results:
            return
        with self.database.session() as session:
            self.book.mark_written(session, writes, self.run_id, now)
            add_run_results(session, results)
            add_audit_entries(session, audits)
            spend_approvals(
                session,
                self.workspace_id,
                self.run_id,
                self.approvals,
                [change for change, _ in writes],
            )

    # --- writes -------------------------------------------------------------------------

    async def _write(self, chunk: list[tuple[int, PlannedChange]]) -> None:
        if self._failing is not None:
            self._not_sent(chunk, self._failing)
            return
        creating = chunk[0][1].action == "create"
        payloads = [_body(change) for _, change in chunk]
        self._posts += 1
        request_id = f"run-{self.run_id}-post-{self._posts}"
        with self.database.session() as session:
            if creating:
                self.book.mark_pending(session, [change for _, change in chunk], self.run_id)
            else:
                self.book.mark_sending(
                    session, [change for _, change in chunk], self.run_id, request_id
                )
        try:
            saved = await self.halo.save_records(
                self.entity,
                payloads,
                batch_size=len(payloads),
                recovery=self.recovery if creating else None,
            )
        except HaloConfigurationError:
            raise
        except WRITE_FAILURES as error:
            await self._after_failure(chunk, payloads, error)
            return
        answered = [k for k, record in enumerate(saved) if id_of(record) is not None]
        if len(answered) < len(chunk):
            await self._without_id(
                [chunk[k] for k in range(len(chunk)) if k not in answered],
                [payloads[k] for k in range(len(chunk)) if k not in answered],
                request_id,
            )
        self._commit([chunk[k] for k in answered], [saved[k] for k in answered], request_id)

    async def _without_id(
        self,
        chunk: list[tuple[int, PlannedChange]],
        payloads: list[dict[str, Any]],
        request_id: str,
    ) -> None:
        """Halo accepted these writes but answered them without the record's id. A create is
        looked for by its tag, as an unanswered one is, and never sent again (the ledger
        keeps it pending until the next sync finds it); an update fails, and the next sync
        reads the record again. The rest of the run goes on."""
        log.warning("halo_write_answered_without_id", entity=self.entity, rows=len(chunk))
        if chunk[0][1].action != "create":
            self._record_failures(
                (
                    (
                        index,
                        change,
                        f"HaloPSA accepted the update of record {change.halo_id} but "
                        "answered without its id, so what it holds now is not known; the "
                        "next sync reads it again",
                    )
                    for index, change in chunk
                ),
                message="",
            )
            return
        unsaid = (
            "HaloPSA accepted the create but answered without the record's id, and it was not "
            "found by its tag"
        )
        try:
            found = await self.recovery(payloads)
        except HaloConfigurationError:
            raise
        except HaloError as search_error:
            found = [None] * len(chunk)
            unsaid = (
                "HaloPSA accepted the create but answered without the record's id, and "
                f"searching for it by its tag failed ({search_error.message})"
            )
        made = [(pair, record) for pair, record in zip(chunk, found, strict=True) if record]
        if made:
            self._commit([pair for pair, _ in made], [dict(r) for _, r in made], request_id)
        for (index, change), record in zip(chunk, found, strict=True):
            if not record:
                self._record_failure(
                    index,
                    change,
                    reason=f"{unsaid}; it was not sent again. The next sync looks for it by "
                    "its tag before creating anything",
                    message="",
                )

    async def _after_failure(
        self,
        chunk: list[tuple[int, PlannedChange]],
        payloads: list[dict[str, Any]],
        error: HaloError,
    ) -> None:
        remaining = chunk
        if chunk[0][1].action == "update" and isinstance(error, ANSWER_LOST):
            self._answer_lost(chunk, error)
            return
        if len(chunk) == 1 and isinstance(error, _SERVER_FAILURES):
            self._server_failures += 1
            if self._server_failures >= SERVER_FAILURES_TO_STOP:
                self._failing = error
        if isinstance(error, AmbiguousWriteError) and error.search_error is not None:
            # The client already searched for this batch and could not: searching again now
            # would only fail the same way.
            self._fail_unknown(chunk, error, error.search_error)
            return
        if chunk[0][1].action == "create" and not isinstance(error, _REFUSED):
            # Halo may have created some rows after all (an unanswered POST, a 5xx, an answer
            # we could not read): take those and resend only the rest, never blindly.
            try:
                found = await self.recovery(payloads)
            except HaloConfigurationError:
                raise
            except HaloError as search_error:
                self._fail_unknown(chunk, error, search_error)
                return
            made = [(pair, record) for pair, record in zip(chunk, found, strict=True) if record]
            if made:
                self._commit([pair for pair, _ in made], [dict(r) for _, r in made], "recovered")
            remaining = [pair for pair, record in zip(chunk, found, strict=True) if not record]
        if not remaining:
            return
        # Halo refused the batch (and so applied none of it): the rows it named fail and the
        # others go again together; when it named none, each goes again alone.
        named = (
            error.named_rows(len(remaining))
            if isinstance(error, HaloRequestRejectedError) and len(remaining) > 1
            else []
        )
        if named:
            for row in named:
                self._refused(remaining[row], error, row)
            rest = [pair for row, pair in enumerate(remaining) if row not in named]
            if rest:
                await self._write(rest)
            return
        if len(remaining) > 1:
            for position, pair in enumerate(remaining):
                if self._failing is not None:
                    # Halo fails every write: what is left of the batch fails together.
                    self._not_sent(remaining[position:], self._failing)
                    break
                await self._write([pair])
            return
        self._refused(remaining[0], error, 0)

    def _answer_lost(self, chunk: list[tuple[int, PlannedChange]], error: HaloError) -> None:
        """Halo gave a batch of updates no readable answer after the retries: it may have
        applied them. Sending them again alone would only ask the same silent Halo once
        more per record, so they fail together, their ledger rows keeping what was sent
        (marked before the POST): the next sync reads the records back and records an
        update Halo holds as this run's, or sends it again. A lost batch counts as one
        failure towards ``SERVER_FAILURES_TO_STOP``."""
        self._server_failures += 1
        if self._server_failures >= SERVER_FAILURES_TO_STOP:
            self._failing = error
        log.warning("halo_write_answer_lost", rows=len(chunk), error=str(error))
        reason = (
            f"HaloPSA's answer was lost ({error.message.rstrip('.')}); the next sync reads "
            "them back"
        )
        self._record_failures(
            ((index, change, reason) for index, change in chunk), message=str(error)
        )

    def _refused(self, pair: tuple[int, PlannedChange], error: HaloError, row: int) -> None:
        index, change = pair
        if self.client_refused([pair], error, row, f"the {change.action}"):
            return
        log.warning(
            "halo_write_failed",
            account=change.account_ref,
            service=change.service_ref,
            error=str(error),
        )
        self._record_failure(
            index,
            change,
            # A 5xx or no answer is Halo failing, not refusing the record.
            reason=f"HaloPSA {'failed' if isinstance(error, _SERVER_FAILURES) else 'refused'} "
            f"the {change.action}: {_refusal(error, row)}",
            message=str(error),
        )

    def client_refused(
        self,
        pairs: Sequence[tuple[int, PlannedChange]],
        error: HaloError,
        row: int,
        refused: str,
        errors: Mapping[str, Sequence[str]] | None = None,
    ) -> bool:
        """Halo refused writing ``pairs`` (row ``row`` of the POST: a licence, or the
        recurring invoice the pairs' lines are on) naming its ``client_id`` (``errors``: the
        row's field errors, when not the row's own): the client was deleted after the
        customers pull. That is the documented skip (WARNING, reactivate it or remap the
        account), not a failure, for either target; the client is marked gone until the next
        pull, so later runs skip it without asking Halo. ``refused``: what Halo refused, as
        the reason says it ("the create")."""
        clients = {change.halo_client_id for _, change in pairs}
        if (
            not isinstance(error, HaloRequestRejectedError)
            or "client_id" not in (error.row_errors(row) if errors is None else errors)
            or len(clients) != 1
            or None in clients
        ):
            return False
        client_id = next(iter(clients))
        assert client_id is not None
        now = utcnow()
        rows: list[dict[str, Any]] = []
        account_ids: set[int] = set()
        for index, change in pairs:
            target = self.inputs.account_targets.get(change.account_ref)
            reason = (
                f"{client_gone_reason(target) if target else 'HaloPSA client no longer exists'} "
                f"(HaloPSA refused {refused}: {_refusal(error, row)}); it counts as gone "
                "until the next Sync Organizations"
            )
            result = ChangeResult.planned(
                change, action="skip", level="WARNING", reason=reason, message=str(error)
            )
            self.results[index] = result
            rows.append(self._result_row(result, now))
            account_id = self.inputs.account_ids.get(change.account_ref)
            if account_id is not None:
                account_ids.add(account_id)
        with self.database.session() as session:
            add_run_results(session, rows)
            mark_gone(session, HaloClient, self.workspace_id, [client_id])
            refresh_mapping_columns(session, self.workspace_id, sorted(account_ids))
        log.warning(
            "halo_client_gone_on_write",
            accounts=sorted({change.account_ref for _, change in pairs}),
            client=client_id,
        )
        return True

    def _fail_unknown(
        self, chunk: list[tuple[int, PlannedChange]], error: HaloError, search_error: HaloError
    ) -> None:
        """Creates whose fate is unknown stay pending: the next run finds them by marker."""
        log.warning(
            "halo_create_unconfirmed",
            rows=len(chunk),
            error=str(error),
            search_error=str(search_error),
        )
        reason = (
            f"HaloPSA did not confirm the create ({error.message}) and could not be "
            f"searched for it ({search_error.message}); it was not sent again. The "
            "next sync looks for it by its tag before creating anything"
        )
        self._record_failures(
            ((index, change, reason) for index, change in chunk), message=str(error)
        )

    def _record_failure(
        self, index: int, change: PlannedChange, *, reason: str, message: str
    ) -> None:
        self._record_failures([(index, change, reason)], message=message)

    def _record_failures(
        self, failed: Iterable[tuple[int, PlannedChange, str]], *, message: str
    ) -> None:
        """Fail these records (index, change, reason) with one INSERT of their results: a
        run that stops writing fails every record left, and one transaction a record made
        that a thousand-fold slower."""
        now = utcnow()
        rows: list[dict[str, Any]] = []
        for index, change, reason in failed:
            result = ChangeResult.planned(
                change, action="fail", level="ERROR", reason=reason, message=message
            )
            self.results[index] = result
            rows.append(self._result_row(result, now))
        if rows:
            with self.database.session() as session:
                add_run_results(session, rows)

    def _commit(
        self,
        chunk: list[tuple[int, PlannedChange]],
        saved: Sequence[Mapping[str, Any]],
        request_id: str,
    ) -> None:
        self._server_failures = 0
        self.commit_batch(chunk, saved, [request_id] * len(chunk))

    def _not_sent(self, chunk: list[tuple[int, PlannedChange]], error: HaloError) -> None:
        """Halo failed the last writes (see ``SERVER_FAILURES_TO_STOP``): these are not
        sent, nothing is marked pending, and the next sync writes them."""
        log.warning("halo_writes_stopped", rows=len(chunk), error=str(error))
        reason = (
            f"not sent: HaloPSA failed the last {SERVER_FAILURES_TO_STOP} writes (a server "
            f"error or no answer), so this run sent it no more ({error.message}); the next "
            "sync tries again"
        )
        self._record_failures(
            ((index, change, reason) for index, change in chunk), message=str(error)
        )

    # --- rows -----------------------------------------------------------------------------

    def _result_row(self, result: ChangeResult, at: datetime) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "workspace_id": self.workspace_id,
            "account_id": self.inputs.account_ids.get(result.account_ref),
            "service_id": self.inputs.service_ids.get(result.service_ref),
            "action": result.action,
            "halo_id": result.halo_id,
            "before": json_fields(result.before) if result.before else None,
            "after": json_fields(result.after) if result.after else None,
            "reason": result.reason,
            "message": result.message,
            "level": result.level,
            "explain": explain_document(result.explain),
            "at": at,
        }

    def _audit(
        self, change: PlannedChange, result: ChangeResult, request_id: str, at: datetime
    ) -> dict[str, Any]:
        return {
            "workspace_id": self.workspace_id,
            "run_id": self.run_id,
            "entity": AUDIT_ENTITY[self.target],
            "halo_record_id": result.halo_id,
            "operation": change.action,
            "before": json_fields(result.before) if result.before else None,
            "after": json_fields(result.after),
            "request_id": request_id,
            "at": at,
        }

    def _interrupted_audit(self, change: PlannedChange, at: datetime) -> list[dict[str, Any]]:
        """The audit entry of the interrupted run's write ``change`` found (none when it
        found none): that run's (a create as HaloPSA holds the record, an update as it was
        sent), and which run confirmed it."""
        found = change.interrupted
        if found is None:
            return []
        by = f"confirmed-by-run-{self.run_id}"
        before: dict[str, Any] | None = None
        if found.created is not None:
            after = json_fields(halo_fields(found.created))
            request_id = by if found.run_id is None else f"run-{found.run_id}-{by}"
        else:
            assert found.updated is not None
            before, after = dict(found.updated.before), dict(found.updated.after)
            request_id = f"{found.updated.request_id or f'run-{found.updated.run_id}'}-{by}"
        return [
            {
                "workspace_id": self.workspace_id,
                "run_id": found.run_id,
                "entity": AUDIT_ENTITY[self.target],
                "halo_record_id": change.halo_id,
                "operation": found.operation,
                "before": before,
                "after": after,
                "request_id": request_id,
                "at": at,
            }
        ]


def record_planned(
    session: Session,
    changes: Sequence[PlannedChange],
    *,
    run_id: int,
    workspace_id: int,
    inputs: SyncInputs,
) -> list[ChangeResult]:
    """A dry run's results: the plan as it stands, stored against the (dry) run."""
    now = utcnow()
    results = [ChangeResult.planned(change) for change in changes]
    rows = [
        {
            "run_id": run_id,
            "workspace_id": workspace_id,
            "account_id": inputs.account_ids.get(r.account_ref),
            "service_id": inputs.service_ids.get(r.service_ref),
            "action": r.action,
            "halo_id": r.halo_id,
            "before": json_fields(r.before) if r.before else None,
            "after": json_fields(r.after) if r.after else None,
            "reason": r.reason,
            "message": None,
            "level": r.level,
            "explain": explain_document(r.explain),
            "at": now,
        }
        for r in results
    ]
    add_run_results(session, rows)
    return results
