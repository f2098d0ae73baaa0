"""Writing recurring-invoice lines the way Halo integrations do, a batch of invoices at a time.

For each batch of invoices with planned line writes (``line_write_path`` ``invoice``, the
default; at most ``HALOSYNC_SYNC_BATCH_SIZE`` pairs, so at most that many invoices, the
size of a licence batch):

1. read them again, with their lines, just before writing: one list read filtered to the
   batch's clients (``GET /RecurringInvoice?client_ids=...&includelines=true``, paged); an
   invoice that read did not return is looked up by id (``GET /RecurringInvoice/{id}``)
   before anything concludes it is gone (a batch of one invoice is read by id at once);
2. each invoice that changed since its pairs were planned (``last_modified``, or any line's
   item, quantity, prices or tag) has its pairs planned again from what it holds now, so an
   edit made in Halo in between is not overwritten by a plan made before it, and that plan
   is screened for review as the first one was (:func:`halosync.sync.review.review_plan`):
   what it holds waits in the review queue and is not written;
3. record the creates as ``pending`` (one transaction), then one ``POST /RecurringInvoice``
   ``[{id, lines: [every line]}, ...]`` with every invoice of the batch: every line as
   read, halosync's own lines with their new quantity and prices, its new lines appended;
   Halo's answer is mapped back to the invoices by order (bare object, array or wrapped);
4. commit the ledger rows, results and audit entries of the batch in one transaction.

Halo has no conditional write: an edit between step 1 and the POST can still be lost, but
that window is the batch's read (its pages after the invoice's) and re-planning, not the
whole run. A refused POST (400) fails only
the lines Halo named (``[3].lines[0]...``: invoice 3 of the batch, in its own words); the
other invoices, and that invoice's other lines, are read and written again together
(:meth:`~halosync.halopsa.errors.HaloRequestRejectedError.named_rows`, the rule licence
batches follow too). A POST Halo may or may not have applied is settled by reading the
batch again, never by sending it again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from halosync.domain.halo_values import same_value
from halosync.domain.markers import find_marker
from halosync.domain.models import HaloInvoiceLine, NewLine, PlannedChange
from halosync.domain.planner import plan_usage_sync
from halosync.halopsa.billing import (
    INVOICE_ENTITY,
    INVOICE_LINE_MARKER_FIELD,
    id_of,
    invoice_lines,
)
from halosync.halopsa.client import RecordsRead
from halosync.halopsa.errors import (
    WRITE_FAILURES,
    HaloConfigurationError,
    HaloError,
    HaloRequestRejectedError,
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

Invoices = list[tuple[int, list[Pair]]]
"""Invoice id -> its pairs to write, in plan order."""

_RETRIES = 3
"""How often one invoice is written again after Halo refused some of its lines."""


def _line_key(line: HaloInvoiceLine) -> tuple[Any, ...]:
    return (
        line.id,
        line.item_id,
        line.quantity,
        line.unit_price,
        line.unit_cost,
        line.marker,
        line.client_id,
    )


def _written(line: Mapping[str, Any]) -> Written:
    return Written(
        int(line["id"]), line.get("qty_order"), line.get("unit_price"), line.get("unit_cost")
    )


def _client_of(row: Mapping[str, Any]) -> int | None:
    return _number(row.get("client_id"))


def _number(value: Any) -> int | None:
    try:
        return int(value or 0) or None
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class _Post:
    """One invoice of a batch POST: as read just before it, and the pairs it writes."""

    invoice_id: int
    current: RecurringInvoiceLines
    pairs: list[Pair]


class InvoiceLineWriter:
    """Writes one run's line changes a batch of invoices at a time for a :class:`PlanExecutor`."""

    def __init__(
        self,
        executor: PlanExecutor,
        versions: Mapping[int, str | None],
        lines: Sequence[HaloInvoiceLine],
    ) -> None:
        self.executor = executor
        self.versions: dict[int, str | None] = dict(versions)
        """Invoice id -> the ``last_modified`` its pairs were (last) planned from."""
        self.read: dict[int, list[HaloInvoiceLine]] = {}
        for line in lines:
            self.read.setdefault(line.recurring_invoice_id, []).append(line)
        self.clients: dict[int, int] = {
            target.recurring_invoice_id: target.halo_client_id
            for target in executor.inputs.account_targets.values()
            if target.recurring_invoice_id is not None
        }
        """Invoice id -> the client it is mapped with (what the batch's read filters by)."""
        self.filtered = True
        """Whether Halo honours the list's ``client_ids`` filter (so far)."""

    async def write(self, changes: Sequence[PlannedChange], batch_size: int) -> None:
        """Every write of the plan, a batch of invoices (one POST) at a time, in plan order.

        A batch holds about ``batch_size`` pairs (one invoice with more goes alone): the
        creates of a batch are recorded ``pending`` in one transaction before its POST, and
        what it wrote is committed in one transaction after it.
        """
        by_invoice: dict[int, list[Pair]] = {}
        for index, change in enumerate(changes):
            if change.is_write and change.recurring_invoice_id is not None:
                by_invoice.setdefault(change.recurring_invoice_id, []).append((index, change))
        batch: Invoices = []
        size = 0
        for invoice_id, pairs in by_invoice.items():
            if batch and size + len(pairs) > batch_size:
                await self._batch(batch)
                batch, size = [], 0
            batch.append((invoice_id, pairs))
            size += len(pairs)
        if batch:
            await self._batch(batch)

    async def _batch(self, invoices: Invoices) -> None:
        ex = self.executor
        creates = [c for _, pairs in invoices for _, c in pairs if c.action == "create"]
        if creates:
            ex.mark_pending(creates)
        self._pending = {c.marker for c in creates}
        self._done: list[Pair] = []
        self._saved: list[Mapping[str, Any]] = []
        self._requests: list[str] = []
        self._settled: list[tuple[int, PlannedChange, Written | None]] = []
        self._refusals: dict[int, int] = {}
        try:
            await self._invoices(invoices)
            ex.progress.wrote(sum(len(pairs) for _, pairs in invoices))
        finally:
            # What was written is recorded even when a later request of the batch raised.
            ex.commit_batch(self._done, self._saved, self._requests, self._settled)

    # --- a batch of invoices --------------------------------------------------------------

    async def _invoices(self, invoices: Invoices) -> None:
        """Read the invoices again, plan again those that changed, POST them together; after
        a refusal, the same again for what is left to write."""
        while invoices:
            read = await self._read_before_writing(invoices)
            if read is None:
                return
            posts: list[_Post] = []
            for invoice_id, pairs in invoices:
                odd = read.without_id.get(invoice_id)
                if odd is not None:
                    # What it holds is unknown: its own pairs fail, the others are written.
                    self._fail(
                        pairs,
                        f"recurring invoice {invoice_id} could not be read again before "
                        f"writing ({odd.message.rstrip('.')}); nothing was written",
                        str(odd),
                    )
                    continue
                record = read.found.get(invoice_id)
                if record is None:
                    self._fail(
                        pairs,
                        f"recurring invoice {invoice_id} was deleted in HaloPSA while the sync "
                        "ran; nothing was written",
                        "404",
                    )
                    continue
                try:
                    # Lines missing or null raise: the header POST would delete what they hold.
                    current = RecurringInvoiceLines.from_halo(record)
                except HaloError as error:
                    self._fail(
                        pairs,
                        f"recurring invoice {invoice_id} could not be read again before "
                        f"writing ({error.message}); nothing was written",
                        str(error),
                    )
                    continue
                changed = self._changed(invoice_id, current)
                if changed or self._refusals.get(invoice_id, 0) > 0:
                    pairs = self._plan_again(invoice_id, current, pairs, changed=changed)
                    if not pairs:
                        continue
                posts.append(_Post(invoice_id, current, pairs))
            if not posts:
                return
            invoices = await self._post(posts)

    async def _read_before_writing(self, invoices: Invoices) -> RecordsRead | None:
        """The invoices as Halo holds them now (None for one it no longer has; one answered
        without its id in ``without_id``); None, with every pair failed, when they could not
        be read."""
        ids = [invoice_id for invoice_id, _ in invoices]
        try:
            return await self._read_again(ids)
        except HaloConfigurationError:
            raise
        except HaloError as error:
            for invoice_id, pairs in invoices:
                self._fail(
                    pairs,
                    f"recurring invoice {invoice_id} could not be read again before writing "
                    f"({error.message}); nothing was written",
                    str(error),
                )
            return None

    async def _read_again(self, ids: Sequence[int]) -> RecordsRead:
        """One list read of the invoices' clients with their lines (one invoice: by id);
        an invoice the list did not return is looked up by id, so only Halo's 404 makes
        it gone (a live Halo's list changes while it is read, and an invoice may have moved
        to another client), and one answered there without its id is unknown."""
        halo = self.executor.halo
        wanted = set(ids)
        found: dict[int, dict[str, Any] | None] = {}
        clients = sorted({self.clients[i] for i in ids if i in self.clients})
        if len(ids) > 1 and clients and self.filtered:
            asked = set(clients)
            params = {"client_ids": ",".join(map(str, clients)), "includelines": "true"}
            async with aclosing(halo.iter_pages(INVOICE_ENTITY, params=params)) as pages:
                async for page in pages:
                    for row in page:
                        row_id = id_of(row)
                        # A row without its lines is looked up by id (unknown, not empty).
                        if row_id in wanted and row.get("lines") is not None:
                            found[row_id] = row
                    if any(_client_of(row) not in (None, *asked) for row in page):
                        # Halo ignored the filter: reading on would read every invoice for
                        # each batch. The rest goes by id, as it did before batches.
                        self.filtered = False
                        log.warning("recurring_invoice_client_filter_ignored", clients=len(asked))
                        break
        missing = [invoice_id for invoice_id in ids if invoice_id not in found]
        if not missing:
            return RecordsRead(found, {})
        by_id = await halo.read_records(INVOICE_ENTITY, missing)
        return RecordsRead(found | by_id.found, by_id.without_id)

    def _fail(self, pairs: Sequence[Pair], reason: str, message: str | None) -> None:
        for index, change in pairs:
            self.executor.record_failure(index, change, reason=reason, message=message)

    def _changed(self, invoice_id: int, current: RecurringInvoiceLines) -> bool:
        """Whether the invoice is not what the plan read: its stamp, or its lines."""
        if current.last_modified != self.versions.get(invoice_id):
            return True
        before = sorted(_line_key(line) for line in self.read.get(invoice_id, []))
        now = sorted(_line_key(line) for line in self._lines(current))
        return before != now

    @staticmethod
    def _lines(current: RecurringInvoiceLines) -> list[HaloInvoiceLine]:
        return invoice_lines({**current.owner, "id": current.id, "lines": list(current.lines)})

    def _plan_again(
        self, invoice_id: int, current: RecurringInvoiceLines, pairs: list[Pair], *, changed: bool
    ) -> list[Pair]:
        """Plan the pairs again from the invoice as it is now (``changed``: since they were
        planned, which their reasons say); what no longer needs a write is recorded at once.
        Returns the writes left."""
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
            created_earlier=inputs.earlier_records,
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
        # From now on the pairs are planned from this version of the invoice.
        self.versions[invoice_id] = current.last_modified
        self.read[invoice_id] = self._lines(current)
        if changed:
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
            if changed:
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

    async def _post(self, posts: list[_Post]) -> Invoices:
        """One POST of every invoice of ``posts``, each with its whole line set; returns
        what is left to write again after Halo refused some of it."""
        ex = self.executor
        late = [
            c
            for post in posts
            for _, c in post.pairs
            if c.action == "create" and c.marker not in self._pending
        ]
        bodies: list[dict[str, Any]] = []
        adds = False
        for post in posts:
            updates = {
                change.halo_id: dict(change.after)
                for _, change in post.pairs
                if change.action == "update" and change.halo_id is not None
            }
            additions = [self._new_line(c) for _, c in post.pairs if c.action == "create"]
            adds = adds or bool(additions)
            bodies.append(post.current.post_body(updates, additions))
        request_id = ex.next_request_id()
        sending = [c for post in posts for _, c in post.pairs if c.action == "update"]
        if late or sending:
            # Before the POST: the marker of a create planned again into one, and what each
            # update sends (as planned last), so a kill before the answer loses neither.
            ex.mark_pending(late, sending, request_id)
            self._pending.update(c.marker for c in late)
        try:
            saved = await ex.halo.save_records(
                INVOICE_ENTITY, bodies, batch_size=len(bodies), idempotent=not adds
            )
        except HaloConfigurationError:
            raise
        except HaloRequestRejectedError as refused:
            return await self._refused(posts, refused)
        except WRITE_FAILURES as error:
            await self._settle_unknown(posts, error, request_id)
            return []
        unanswered: list[_Post] = []
        for post, answer in zip(posts, saved, strict=True):
            lines = answer.get("lines") if isinstance(answer, Mapping) else None
            if isinstance(lines, list):
                self._commit(post, lines, request_id, error=None)
            else:
                unanswered.append(post)
        if unanswered:
            # An answer without the lines: read them (the write itself was accepted).
            await self._settle_unknown(unanswered, None, request_id, accepted=True)
        return []

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
        self, post: _Post, lines: Sequence[Any], request_id: str, *, error: HaloError | None
    ) -> None:
        """Ledger, results and audit of the lines Halo holds as planned (committed with the
        batch); the rest fail (a create not found stays pending: the next run looks for its
        tag)."""
        ex = self.executor
        current, pairs = post.current, post.pairs
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
        posts: list[_Post],
        error: HaloError | None,
        request_id: str,
        *,
        accepted: bool = False,
    ) -> None:
        """Halo may or may not have applied the POST: what the invoices hold now decides
        (read again as a batch); nothing is sent again."""
        try:
            records = await self._read_again([post.invoice_id for post in posts])
        except HaloConfigurationError:
            raise
        except HaloError as search_error:
            for post in posts:
                self._fail(
                    post.pairs,
                    f"HaloPSA did not confirm the write to recurring invoice {post.invoice_id}"
                    f"{f' ({error.message})' if error else ''} and could not be searched "
                    f"for it ({search_error.message}); nothing was sent again. The next "
                    "sync checks it (a new line by its tag) before writing",
                    str(error or search_error),
                )
            return
        for post in posts:
            lines = list((records.found.get(post.invoice_id) or {}).get("lines") or [])
            self._commit(post, lines, request_id, error=None if accepted else error)

    async def _refused(self, posts: list[_Post], refused: HaloRequestRejectedError) -> Invoices:
        """Halo refused the POST (and so applied none of it): the invoices it named fail the
        lines it named, in its words, and the rest of the batch is written again together
        (read again first). When it named no invoice of several, each goes again alone, as a
        licence batch does, so that the one Halo refuses fails by itself."""
        named = [0] if len(posts) == 1 else refused.named_rows(len(posts))
        if not named:
            for post in posts:
                await self._invoices([(post.invoice_id, post.pairs)])
            return []
        again: Invoices = []
        for row, post in enumerate(posts):
            if row not in named:
                again.append((post.invoice_id, post.pairs))
                continue
            # One invoice alone: Halo may name its lines without the row ("lines[3]...").
            errors = refused.row_errors(row) or (refused.field_errors if len(posts) == 1 else {})
            invoice = f"the write to recurring invoice {post.invoice_id}"
            if self.executor.client_refused(post.pairs, refused, row, invoice, errors):
                continue
            rest = self._refused_lines(post, refused, row, errors)
            tries = self._refusals[post.invoice_id] = self._refusals.get(post.invoice_id, 0) + 1
            if rest and tries <= _RETRIES:
                again.append((post.invoice_id, rest))
            elif rest:
                self._fail(
                    rest,
                    f"HaloPSA kept refusing writes to recurring invoice {post.invoice_id}",
                    str(refused),
                )
        return again

    def _refused_lines(
        self,
        post: _Post,
        refused: HaloRequestRejectedError,
        row: int,
        errors: Mapping[str, Sequence[str]],
    ) -> list[Pair]:
        """Fail the lines of ``post`` (row ``row`` of the POST) Halo named in ``errors``
        (paths relative to the row), in its words;
        returns the other pairs. When Halo named none of halosync's lines, every line of the
        invoice fails with its message: a line of someone else's, or the invoice itself, is
        what Halo refused."""
        current, pairs = post.current, post.pairs
        position: dict[int, Pair] = {}
        for pair in pairs:
            change = pair[1]
            if change.action == "update" and change.halo_id in current.line_ids:
                position[current.line_ids.index(change.halo_id)] = pair
        for offset, pair in enumerate(p for p in pairs if p[1].action == "create"):
            position[len(current.lines) + offset] = pair
        named: dict[int, list[str]] = {}
        for path, messages in errors.items():
            found = line_index_of(path)
            if found is None or found[0] not in position:
                continue
            field = found[1]
            text = " ".join(messages)
            named.setdefault(found[0], []).append(f"{field}: {text}" if field else text)
        if not named:
            words = refused.row_message(row) or refused.message
            self._fail(
                pairs,
                f"HaloPSA refused the write to recurring invoice {post.invoice_id}: {words}",
                str(refused),
            )
            return []
        failed = {position[i][0] for i in named}
        for line_index, texts in named.items():
            index, change = position[line_index]
            self.executor.record_failure(
                index,
                change,
                reason=f"HaloPSA refused the {change.action}: {redact_text('; '.join(texts))}",
                message=str(refused),
            )
        return [pair for pair in pairs if pair[0] not in failed]
