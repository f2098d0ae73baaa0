"""Writing recurring-invoice lines the way Halo integrations do: one invoice at a time.

For each invoice with planned line writes (``line_write_path`` ``invoice``, the default):

1. read it again, with its lines, just before writing (``GET /RecurringInvoice/{id}``);
2. if it changed since the plan read it (``last_modified``, or any line's item, quantity,
   prices or tag), plan its pairs again from what it holds now, so an edit made in Halo in
   between is not overwritten by a plan made before it, and screen that plan for review
   as the first one was (:func:`halosync.sync.review.review_plan`): what it holds waits in
   the review queue and is not written;
3. record the creates as ``pending`` (one transaction), then ``POST /RecurringInvoice``
   ``[{id, lines: [every line]}]``: every line as read, halosync's own lines with their
   new quantity and prices, its new lines appended; one POST per invoice;
4. commit the ledger rows, results and audit entries of the invoice in one transaction.

Halo has no conditional write: an edit between step 1 and the POST can still be lost,
but that window is one request long instead of the whole run. A refused POST fails only
the lines Halo named (in its own words) and the rest is written again; a POST Halo may or
may not have applied is settled by reading the invoice again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from halosync.domain.halo_values import same_value
from halosync.domain.markers import find_marker
from halosync.domain.models import HaloInvoiceLine, NewLine, PlannedChange
from halosync.domain.planner import plan_usage_sync
from halosync.halopsa.billing import INVOICE_ENTITY, INVOICE_LINE_MARKER_FIELD, invoice_lines
from halosync.halopsa.errors import (
    AmbiguousWriteError,
    HaloConfigurationError,
    HaloError,
    HaloFatalError,
    HaloRequestRejectedError,
    HaloServerError,
)
from halosync.halopsa.invoices import NewInvoiceLine, RecurringInvoiceLines, line_index_of
from halosync.logging import get_logger, redact_text
from halosync.sync.ledger import Written
from halosync.sync.review import changes_of, review_plan

if TYPE_CHECKING:
    from halosync.sync.execute import PlanExecutor

log = get_logger(__name__)

Pair = tuple[int, PlannedChange]
"""A change with its index in the plan (results come back in plan order)."""

_RETRIES = 3
"""How often one invoice is written again after Halo refused some of its lines."""


def _line_key(line: HaloInvoiceLine) -> tuple[Any, ...]:
    return (line.id, line.item_id, line.quantity, line.unit_price, line.unit_cost, line.marker)


def _written(line: Mapping[str, Any]) -> Written:
    return Written(
        int(line["id"]), line.get("qty_order"), line.get("unit_price"), line.get("unit_cost")
    )


class InvoiceLineWriter:
    """Writes one run's line changes invoice by invoice for a :class:`PlanExecutor`."""

    def __init__(
        self,
        executor: PlanExecutor,
        versions: Mapping[int, str | None],
        lines: Sequence[HaloInvoiceLine],
    ) -> None:
        self.executor = executor
        self.versions = versions
        self.read: dict[int, list[HaloInvoiceLine]] = {}
        for line in lines:
            self.read.setdefault(line.recurring_invoice_id, []).append(line)

    async def write(self, changes: Sequence[PlannedChange], batch_size: int) -> None:
        """Every write of the plan, one invoice (one POST) at a time, in plan order.

        The database work goes by batches of about ``batch_size`` pairs: the creates of a
        batch are recorded ``pending`` in one transaction before its first POST, and what
        its POSTs wrote is committed in one transaction after the last.
        """
        by_invoice: dict[int, list[Pair]] = {}
        for index, change in enumerate(changes):
            if change.is_write and change.recurring_invoice_id is not None:
                by_invoice.setdefault(change.recurring_invoice_id, []).append((index, change))
        batch: list[tuple[int, list[Pair]]] = []
        size = 0
        for invoice_id, pairs in by_invoice.items():
            if batch and size + len(pairs) > batch_size:
                await self._batch(batch)
                batch, size = [], 0
            batch.append((invoice_id, pairs))
            size += len(pairs)
        if batch:
            await self._batch(batch)

    async def _batch(self, invoices: list[tuple[int, list[Pair]]]) -> None:
        ex = self.executor
        creates = [c for _, pairs in invoices for _, c in pairs if c.action == "create"]
        if creates:
            ex.mark_pending(creates)
        self._pending = {c.marker for c in creates}
        self._done: list[Pair] = []
        self._saved: list[Mapping[str, Any]] = []
        self._requests: list[str] = []
        self._settled: list[tuple[int, PlannedChange, Written | None]] = []
        try:
            for invoice_id, pairs in invoices:
                await self._invoice(invoice_id, pairs, attempt=0)
                ex.progress.wrote(len(pairs))
        finally:
            # What was written is recorded even when a later invoice of the batch raised.
            ex.commit_batch(self._done, self._saved, self._requests, self._settled)

    # --- one invoice --------------------------------------------------------------------

    async def _invoice(self, invoice_id: int, pairs: list[Pair], *, attempt: int) -> None:
        ex = self.executor
        try:
            record = await ex.halo.get_record(INVOICE_ENTITY, invoice_id)
        except HaloConfigurationError:
            raise
        except HaloError as error:
            for index, change in pairs:
                ex.record_failure(
                    index,
                    change,
                    reason=f"recurring invoice {invoice_id} could not be read again before "
                    f"writing ({error.message}); nothing was written",
                    message=str(error),
                )
            return
        if record is None:
            for index, change in pairs:
                ex.record_failure(
                    index,
                    change,
                    reason=f"recurring invoice {invoice_id} was deleted in HaloPSA while the "
                    "sync ran; nothing was written",
                    message="404",
                )
            return
        current = RecurringInvoiceLines.from_halo(record)
        if attempt > 0 or self._changed(invoice_id, current):
            pairs = self._plan_again(invoice_id, current, pairs, attempt)
            if not pairs:
                return
        await self._post(invoice_id, current, pairs, attempt)

    def _changed(self, invoice_id: int, current: RecurringInvoiceLines) -> bool:
        """Whether the invoice is not what the plan read: its stamp, or its lines."""
        if current.last_modified != self.versions.get(invoice_id):
            return True
        before = sorted(_line_key(line) for line in self.read.get(invoice_id, []))
        now = sorted(_line_key(line) for line in self._lines(current))
        return before != now

    @staticmethod
    def _lines(current: RecurringInvoiceLines) -> list[HaloInvoiceLine]:
        return invoice_lines({"id": current.id, "lines": list(current.lines)})

    def _plan_again(
        self, invoice_id: int, current: RecurringInvoiceLines, pairs: list[Pair], attempt: int
    ) -> list[Pair]:
        """Plan the pairs again from the invoice as it is now; what no longer needs a write
        is recorded at once. Returns the writes left."""
        ex = self.executor
        inputs = ex.inputs
        # By identity, not pair: terms kept apart are one pair's several changes.
        keys = {change.identity for _, change in pairs}
        on_invoice = {
            ref
            for ref, target in inputs.account_targets.items()
            if target.recurring_invoice_id == invoice_id
        }
        plan = plan_usage_sync(
            [sub for sub in inputs.subscriptions if sub.account_ref in on_invoice],
            account_targets=inputs.account_targets,
            service_items=inputs.service_items,
            ledger=inputs.ledger,
            settings=inputs.settings,
            halo_invoice_lines=self._lines(current),
            rules=inputs.rules,
        )
        with ex.database.session() as session:
            # The same screening as the first plan: a value the review policy holds, or a
            # reviewer rejected, is not written because the invoice changed meanwhile.
            screening, new_holds = review_plan(
                session,
                ex.workspace_id,
                ex.run_id,
                # By identity, as the review queue keeps holds: another term's hold is
                # neither screened nor withdrawn here.
                changes_of(plan, keys),
                account_ids=inputs.account_ids,
                service_ids=inputs.service_ids,
                still_held=ex.still_held,
                approvals=ex.approvals,
            )
        ex.new_holds.extend(new_holds)
        held = {h.change.identity for h in screening.held}
        again = {c.identity: c for c in screening.plan.changes}
        if attempt == 0:
            log.info("recurring_invoice_changed_since_read", invoice=invoice_id, pairs=len(keys))
        note = (
            f"recurring invoice {invoice_id} changed in HaloPSA after it was read, so this was "
            "planned again from what it holds now: "
        )
        writes: list[Pair] = []
        settled: list[Pair] = []
        fresh = {int(line["id"]): line for line in current.lines if line.get("id")}
        for index, change in pairs:
            new = again[change.identity]
            if change.identity in held:
                ex.held_again.add(index)
            if attempt == 0:
                new = replace(new, reason=note + new.reason)
            (writes if new.is_write else settled).append((index, new))
        self._settled.extend(
            [
                (
                    index,
                    change,
                    _written(fresh[change.halo_id]) if change.halo_id in fresh else None,
                )
                for index, change in settled
            ]
        )
        return writes

    async def _post(
        self, invoice_id: int, current: RecurringInvoiceLines, pairs: list[Pair], attempt: int
    ) -> None:
        ex = self.executor
        late = [c for _, c in pairs if c.action == "create" and c.marker not in self._pending]
        if late:  # planned again into a create: its marker goes on record before the POST
            ex.mark_pending(late)
            self._pending.update(c.marker for c in late)
        updates = {
            change.halo_id: dict(change.after)
            for _, change in pairs
            if change.action == "update" and change.halo_id is not None
        }
        additions = [self._new_line(change) for _, change in pairs if change.action == "create"]
        body = current.post_body(updates, additions)
        request_id = ex.next_request_id()
        try:
            saved = await ex.halo.save_records(
                INVOICE_ENTITY, [body], batch_size=1, idempotent=not additions
            )
        except HaloConfigurationError:
            raise
        except HaloRequestRejectedError as refused:
            await self._refused(invoice_id, current, pairs, refused, attempt)
            return
        except (HaloFatalError, HaloServerError, AmbiguousWriteError) as error:
            await self._settle_unknown(invoice_id, current, pairs, error, request_id)
            return
        answer = saved[0] if saved else {}
        lines = answer.get("lines") if isinstance(answer, Mapping) else None
        if not isinstance(lines, list):
            # An answer without the lines: read them (the write itself was accepted).
            await self._settle_unknown(invoice_id, current, pairs, None, request_id, accepted=True)
            return
        self._commit(current, pairs, lines, request_id, error=None)

    def _new_line(self, change: PlannedChange) -> NewInvoiceLine:
        item = self.executor.inputs.service_items[change.service_ref]
        assert change.marker is not None
        return NewInvoiceLine(
            item_id=item,
            description=(
                change.write.description
                if isinstance(change.write, NewLine)
                else change.service_ref
            ),
            quantity=change.after["qty_order"],  # type: ignore[arg-type]
            marker_field=INVOICE_LINE_MARKER_FIELD,
            marker=change.marker,
            unit_price=change.after.get("unit_price"),  # type: ignore[arg-type]
            unit_cost=change.after.get("unit_cost"),  # type: ignore[arg-type]
        )

    # --- after the POST -------------------------------------------------------------------

    def _commit(
        self,
        current: RecurringInvoiceLines,
        pairs: list[Pair],
        lines: Sequence[Any],
        request_id: str,
        *,
        error: HaloError | None,
    ) -> None:
        """Ledger, results and audit of the lines Halo holds as planned, in one transaction;
        the rest fail (a create not found stays pending: the next run looks for its tag)."""
        ex = self.executor
        existing = set(current.line_ids)
        by_id = {
            int(line["id"]): line for line in lines if isinstance(line, dict) and line.get("id")
        }
        done: list[Pair] = []
        saved: list[Mapping[str, Any]] = []
        for index, change in pairs:
            line = self._find(change, by_id, existing)
            if line is not None and (error is None or self._holds(line, change)):
                done.append((index, change))
                saved.append(line)
                continue
            what = "did not confirm" if error is not None else "did not return"
            words = f" ({error.message})" if error is not None else ""
            ex.record_failure(
                index,
                change,
                reason=f"HaloPSA {what} the {change.action} of this line on recurring invoice "
                f"{current.id}{words}; the next sync checks it again",
                message=str(error) if error is not None else None,
            )
        self._done.extend(done)
        self._saved.extend(saved)
        self._requests.extend([request_id] * len(done))

    @staticmethod
    def _find(
        change: PlannedChange, by_id: Mapping[int, Mapping[str, Any]], existing: set[int]
    ) -> Mapping[str, Any] | None:
        if change.action == "update":
            return by_id.get(change.halo_id or 0)
        for line_id, line in by_id.items():
            if line_id in existing:
                continue
            if find_marker(str(line.get(INVOICE_LINE_MARKER_FIELD) or "")) == change.marker:
                return line
        return None

    @staticmethod
    def _holds(line: Mapping[str, Any], change: PlannedChange) -> bool:
        return all(
            same_value(line.get(name), value)
            for name, value in change.after.items()
            if name in ("qty_order", "unit_price", "unit_cost")
        )

    async def _settle_unknown(
        self,
        invoice_id: int,
        current: RecurringInvoiceLines,
        pairs: list[Pair],
        error: HaloError | None,
        request_id: str,
        *,
        accepted: bool = False,
    ) -> None:
        """Halo may or may not have applied the POST: what the invoice holds now decides."""
        ex = self.executor
        try:
            record = await ex.halo.get_record(INVOICE_ENTITY, invoice_id)
        except HaloConfigurationError:
            raise
        except HaloError as search_error:
            for index, change in pairs:
                ex.record_failure(
                    index,
                    change,
                    reason=(
                        f"HaloPSA did not confirm the write to recurring invoice {invoice_id}"
                        f"{f' ({error.message})' if error else ''} and could not be searched "
                        f"for it ({search_error.message}); nothing was sent again. The next "
                        "sync checks it (a new line by its tag) before writing"
                    ),
                    message=str(error or search_error),
                )
            return
        lines = list((record or {}).get("lines") or [])
        self._commit(current, pairs, lines, request_id, error=None if accepted else error)

    async def _refused(
        self,
        invoice_id: int,
        current: RecurringInvoiceLines,
        pairs: list[Pair],
        refused: HaloRequestRejectedError,
        attempt: int,
    ) -> None:
        """Fail the lines Halo named, in its words; write the others again (re-read first).
        When Halo named none of halosync's lines, every line of the invoice fails with its
        message: a line of someone else's, or the invoice itself, is what Halo refused."""
        ex = self.executor
        position: dict[int, Pair] = {}
        for pair in pairs:
            change = pair[1]
            if change.action == "update" and change.halo_id in current.line_ids:
                position[current.line_ids.index(change.halo_id)] = pair
        for offset, pair in enumerate(p for p in pairs if p[1].action == "create"):
            position[len(current.lines) + offset] = pair
        named: dict[int, list[str]] = {}
        for path, messages in refused.field_errors.items():
            found = line_index_of(path)
            if found is None or found[0] not in position:
                continue
            field = found[1]
            text = " ".join(messages)
            named.setdefault(found[0], []).append(f"{field}: {text}" if field else text)
        if not named:
            words = refused.row_message(0) or refused.message
            for index, change in pairs:
                ex.record_failure(
                    index,
                    change,
                    reason=f"HaloPSA refused the write to recurring invoice {invoice_id}: {words}",
                    message=str(refused),
                )
            return
        failed = {position[i][0] for i in named}
        for line_index, texts in named.items():
            index, change = position[line_index]
            ex.record_failure(
                index,
                change,
                reason=f"HaloPSA refused the {change.action}: {redact_text('; '.join(texts))}",
                message=str(refused),
            )
        rest = [pair for pair in pairs if pair[0] not in failed]
        if rest and attempt < _RETRIES:
            await self._invoice(invoice_id, rest, attempt=attempt + 1)
        elif rest:
            for index, change in rest:
                ex.record_failure(
                    index,
                    change,
                    reason=f"HaloPSA kept refusing writes to recurring invoice {invoice_id}",
                    message=str(refused),
                )
