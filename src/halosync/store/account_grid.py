"""The account mapping grid's SQL: one page of rows at 100,000 accounts without a full pass.

The grid is every account of a workspace with its Halo client, recurring invoice and
mapping status. A page is found in two steps: first the ids of its accounts, then their
rows. The ids come from indexes wherever they can (``account (workspace_id, name, ref)``,
``(workspace_id, status, ref)``, ``(workspace_id, ref)``, ``account_mapping (workspace_id,
halo_client_id)``, ``halo_client (workspace_id, name, halo_id)``), never from sorting every
row:

* A sort key with ties (a name, a status) is read a group of equal keys at a time: the
  key at the page's first position is read from its index, the rows before its group
  are counted, and the group is read in reference order from there. So a page costs
  the same on page 1 as on page 5,000, ascending or descending, and ties stay in
  ascending reference order either way.
* A sort on what the mapping says (mapping status, Halo client name or id) is a few
  segments, each of which an index orders (the unmapped accounts by reference, then the
  mapped ones by client id...); the rows each segment holds are counted in one query.
* The search box's matches are found in the account and Halo client tables first (an
  index scan of each), then joined.

The order is the same on SQLite and PostgreSQL: an empty Halo client name or id (an
unmapped account) comes first ascending and last descending, as SQLite always did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    String,
    and_,
    case,
    cast,
    false,
    func,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from halosync.store.models import (
    Account,
    AccountMapping,
    HaloClient,
    HaloRecurringInvoice,
    SyncRun,
)
from halosync.store.search import contains

# Sort keys the grid offers.
ACCOUNT_SORTS = ("account_name", "account_ref", "account_status")
MAPPING_SORTS = ("halo_client_name", "halo_client_id", "status")


# How far a query joins: the account alone, its mapping, the mapping's Halo client, the
# mapping's recurring invoice (each on a unique key, so no join adds rows).
ACCOUNT, MAPPING, CLIENT, INVOICE = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class GridFilters:
    """What narrows the grid (None: no narrowing)."""

    search: str | None = None
    account_ref: str | None = None
    status: str | None = None
    account_status: str | None = None
    halo_client_status: str | None = None


@dataclass(frozen=True, slots=True)
class _Segment:
    """Rows of one kind, in one order: ``key`` (ties by reference), or by reference alone."""

    condition: ColumnElement[bool]
    depth: int
    key: Any | None = None
    unique: bool = False
    # Rows of this segment all have a mapping (MAPPING) or a known client (CLIENT); the
    # one segment without (ACCOUNT) is counted as what the others leave.
    inner: int = ACCOUNT


def last_customers_pull_failed(session: Session, workspace_id: int) -> bool:
    """True when the workspace's latest finished Sync Organizations failed or halted: what
    halosync knows of Halo's clients may be stale, so no mapping can be vouched for."""
    latest = session.scalar(
        select(SyncRun.status)
        .where(
            SyncRun.workspace_id == workspace_id,
            SyncRun.kind == "customers",
            SyncRun.dry_run.is_(False),
            SyncRun.status.in_(("succeeded", "failed", "halted")),
        )
        .order_by(SyncRun.finished_at.desc(), SyncRun.id.desc())
        .limit(1)
    )
    return latest in ("failed", "halted")


def _status_conditions(target: str, pull_failed: bool = False) -> dict[str, ColumnElement[bool]]:
    """Each mapping status as a condition on the joined row (exactly one holds).

    Response Error marks a mapping whose Halo client the last Sync Organizations did not
    see, and every mapping while the last Sync Organizations failed (``pull_failed``)."""
    mapped = AccountMapping.id.is_not(None)
    known = HaloClient.id.is_not(None)
    if pull_failed:
        return {
            "unmapped": AccountMapping.id.is_(None),
            "response_error": mapped,
            "required": false(),
            "mapped": false(),
        }
    conditions: dict[str, ColumnElement[bool]] = {
        "unmapped": AccountMapping.id.is_(None),
        "response_error": and_(mapped, HaloClient.id.is_(None)),
    }
    if target == "invoice_line":
        invoice_missing = or_(
            AccountMapping.recurring_invoice_id.is_(None),
            HaloRecurringInvoice.id.is_(None),
            HaloRecurringInvoice.gone.is_(True),
        )
        conditions["required"] = and_(mapped, known, invoice_missing)
        conditions["mapped"] = and_(mapped, known, not_(invoice_missing))
    else:
        conditions["required"] = false()
        conditions["mapped"] = and_(mapped, known)
    return conditions


def status_expression(target: str, pull_failed: bool = False) -> Any:
    """SQL for a row's mapping status ("mapped", "unmapped", "required", "response_error")."""
    conditions = _status_conditions(target, pull_failed)
    return case(
        (conditions["unmapped"], "unmapped"),
        (conditions["response_error"], "response_error"),
        (conditions["required"], "required"),
        else_="mapped",
    )


def _joined(
    workspace_id: int,
    depth: int,
    *columns: Any,
    inner: int = ACCOUNT,
    among: Select[Any] | None = None,
) -> Select[Any]:
    """``columns`` over every account of the workspace, joined as far as ``depth``.

    Joins up to ``inner`` are inner joins (rows with a mapping, or with a known Halo
    client), which lets the database start from the mapping or client table's index.
    ``among`` (a query of account ids) starts from those accounts instead of all.
    """
    query = select(*columns)
    if among is None:
        query = query.select_from(Account)
    else:
        # LIMIT keeps the databases from merging it into this query: it is read first.
        chosen = among.limit(MAX_GROUP).subquery()
        query = query.select_from(chosen).join(Account, Account.id == chosen.c.id)
    if depth >= MAPPING:
        query = query.join(
            isouter=inner < MAPPING,
            target=AccountMapping,
            onclause=and_(
                AccountMapping.workspace_id == workspace_id,
                AccountMapping.account_id == Account.id,
            ),
        )
    if depth >= CLIENT:
        query = query.join(
            isouter=inner < CLIENT,
            target=HaloClient,
            onclause=and_(
                HaloClient.workspace_id == workspace_id,
                HaloClient.halo_id == AccountMapping.halo_client_id,
            ),
        )
    if depth >= INVOICE:
        query = query.outerjoin(
            HaloRecurringInvoice,
            and_(
                HaloRecurringInvoice.workspace_id == workspace_id,
                HaloRecurringInvoice.halo_id == AccountMapping.recurring_invoice_id,
            ),
        )
    return query.where(Account.workspace_id == workspace_id)


def _mapping_joined(
    workspace_id: int, depth: int, *columns: Any, inner: int = MAPPING
) -> Select[Any]:
    """``columns`` over the workspace's mappings, joined as far as ``depth``: what
    ``_joined`` reads of mapped accounts when no condition is on the account itself,
    without reading the account table."""
    query = select(*columns).select_from(AccountMapping)
    if depth >= CLIENT:
        query = query.join(
            HaloClient,
            and_(
                HaloClient.workspace_id == workspace_id,
                HaloClient.halo_id == AccountMapping.halo_client_id,
            ),
            isouter=inner < CLIENT,
        )
    if depth >= INVOICE:
        query = query.outerjoin(
            HaloRecurringInvoice,
            and_(
                HaloRecurringInvoice.workspace_id == workspace_id,
                HaloRecurringInvoice.halo_id == AccountMapping.recurring_invoice_id,
            ),
        )
    return query.where(AccountMapping.workspace_id == workspace_id)


def _status_depth(target: str) -> int:
    return INVOICE if target == "invoice_line" else CLIENT


# More accounts than any workspace has (a bound that keeps a subquery read first).
MAX_GROUP = 2**31 - 1
# Up to this many matches, a search's accounts are handed to the page's queries as a list
# of ids; beyond it (a term most rows contain) the queries repeat the search themselves.
SEARCH_LIST_LIMIT = 5000


def _search(session: Session, workspace_id: int, term: str) -> tuple[ColumnElement[bool], int]:
    """The search box: account name or reference, Halo client name or id, contain ``term``.

    The matches are read first, from the account and Halo client tables alone (an index
    scan each), so the queries of the page need no search of their own. Returns the
    condition and how far it needs the rows joined.
    """
    by_account = select(Account.id).where(
        Account.workspace_id == workspace_id,
        or_(contains(Account.name, term), contains(Account.ref, term)),
    )
    by_client = select(HaloClient.halo_id).where(
        HaloClient.workspace_id == workspace_id, contains(HaloClient.name, term)
    )
    mapping_match: ColumnElement[bool] = AccountMapping.halo_client_id.in_(by_client)
    if term.isdigit():  # the mapped client's id, pulled from Halo or not
        mapping_match = or_(
            mapping_match, contains(cast(AccountMapping.halo_client_id, String), term)
        )
    by_mapping = select(AccountMapping.account_id).where(
        AccountMapping.workspace_id == workspace_id, mapping_match
    )
    found = set(session.scalars(by_account.limit(SEARCH_LIST_LIMIT + 1)))
    if len(found) <= SEARCH_LIST_LIMIT:
        found.update(session.scalars(by_mapping.limit(SEARCH_LIST_LIMIT + 1)))
    if len(found) <= SEARCH_LIST_LIMIT:
        return Account.id.in_(sorted(found)), ACCOUNT
    return or_(Account.id.in_(by_account), mapping_match), MAPPING


@dataclass(frozen=True, slots=True)
class _Where:
    """The filters as conditions on the joined row, and what they need of it."""

    conditions: list[ColumnElement[bool]]
    depth: int  # how far the rows must be joined
    inner: int  # every row they keep has a mapping (MAPPING) or a known client (CLIENT)
    on_account: bool  # a condition reads the account table


def _filters(
    session: Session, workspace_id: int, target: str, filters: GridFilters, pull_failed: bool
) -> _Where:
    where: list[ColumnElement[bool]] = []
    depth = inner = ACCOUNT
    on_account = False
    if filters.search and filters.search.strip():
        condition, depth = _search(session, workspace_id, filters.search.strip())
        where.append(condition)
        on_account = True
    if filters.account_ref is not None:
        where.append(Account.ref == filters.account_ref)
        on_account = True
    if filters.status is not None:
        where.append(_status_conditions(target, pull_failed)[filters.status])
        depth = max(depth, _status_depth(target))
        inner = {"unmapped": ACCOUNT, "response_error": MAPPING}.get(filters.status, CLIENT)
    if filters.account_status is not None:
        where.append(Account.status == filters.account_status)
        on_account = True
    if filters.halo_client_status == "gone":
        where.append(HaloClient.gone.is_(True))
    elif filters.halo_client_status is not None:
        where.append(HaloClient.id.is_not(None))
        where.append(HaloClient.gone.is_(False))
        where.append(HaloClient.inactive.is_(filters.halo_client_status == "inactive"))
    if filters.halo_client_status is not None:
        depth = max(depth, CLIENT)
        inner = CLIENT
    return _Where(where, depth, inner, on_account)


def _segments(sort: str, target: str, pull_failed: bool) -> list[_Segment]:
    """The sort as segments in ascending order."""
    if sort == "status":
        conditions = _status_conditions(target, pull_failed)
        depth = _status_depth(target)
        # Alphabetical, as sorting the status text did.
        segments = [_Segment(conditions["mapped"], depth, inner=CLIENT)]
        if target == "invoice_line":
            segments.append(_Segment(conditions["required"], depth, inner=CLIENT))
        segments.append(_Segment(conditions["response_error"], depth, inner=MAPPING))
        segments.append(_Segment(conditions["unmapped"], MAPPING))
        return segments
    if sort == "halo_client_id":
        mapped = AccountMapping.id.is_not(None)
        return [
            _Segment(AccountMapping.id.is_(None), MAPPING),
            _Segment(mapped, MAPPING, AccountMapping.halo_client_id, unique=True, inner=MAPPING),
        ]
    if sort == "halo_client_name":
        return [
            _Segment(HaloClient.id.is_(None), CLIENT),
            _Segment(HaloClient.id.is_not(None), CLIENT, HaloClient.name, inner=CLIENT),
        ]
    if sort == "account_ref":
        return [_Segment(true(), ACCOUNT, Account.ref, unique=True)]
    key = {"account_name": Account.name, "account_status": Account.status}[sort]
    return [_Segment(true(), ACCOUNT, key)]


def _ids(session: Session, query: Select[Any]) -> list[int]:
    return list(session.scalars(query))


def _page_of_segment(
    session: Session,
    workspace_id: int,
    found: _Where,
    segment: _Segment,
    descending: bool,
    offset: int,
    limit: int,
) -> list[int]:
    """``limit`` account ids from ``offset`` of one segment, in its order."""
    depth = max(found.depth, segment.depth)
    inner = max(found.inner, segment.inner)  # the rows both keep
    where = found.conditions

    def query(*columns: Any) -> Select[Any]:
        joined = _joined(workspace_id, depth, *columns, inner=inner)
        return joined.where(*where, segment.condition)

    if segment.key is None:  # a segment of equal keys: by reference, either direction
        return _ids(session, query(Account.id).order_by(Account.ref).offset(offset).limit(limit))
    if segment.unique:
        ordering = segment.key.desc() if descending else segment.key.asc()
        return _ids(session, query(Account.id).order_by(ordering).offset(offset).limit(limit))
    key = segment.key
    order = key.desc() if descending else key.asc()
    # The keys of the page's rows (ties in any order: only the values matter), and the
    # one just before the page, from the key's index; then each group of equal keys is
    # read in reference order.
    start = max(offset - 1, 0)
    keys_query = (
        _mapping_joined(workspace_id, depth, key, inner=inner).where(*where, segment.condition)
        if not found.on_account and segment.inner > ACCOUNT  # the key is on the mapping side
        else query(key)
    )
    keys = list(
        session.scalars(keys_query.order_by(order).offset(start).limit(limit + offset - start))
    )
    before = keys.pop(0) if offset > 0 and keys else None
    if not keys:
        return []
    skip = 0
    if before is not None and before == keys[0]:
        # The page starts inside a group: count what comes before the group.
        ahead = key > keys[0] if descending else key < keys[0]
        skip = offset - (session.scalar(query(func.count()).where(ahead)) or 0)

    runs = [(value, len(list(run))) for value, run in groupby(keys)]
    ids: list[int] = []
    if key is Account.status:  # a few large groups, each read in order from its index
        for value, wanted in runs:
            by_ref = query(Account.id).where(key == value).order_by(Account.ref)
            ids += _ids(session, by_ref.offset(skip).limit(wanted))
            skip = 0
        return ids
    # Names: groups of a few rows, all the page's read at once through the name's index
    # and put in order here (ordering in SQL could walk every account by reference).
    values = [value for value, _wanted in runs]
    if key is Account.name:
        named = select(Account.id).where(
            Account.workspace_id == workspace_id, Account.name.in_(values)
        )
    else:
        named = (
            select(AccountMapping.account_id.label("id"))
            .join(
                HaloClient,
                and_(
                    HaloClient.workspace_id == workspace_id,
                    HaloClient.halo_id == AccountMapping.halo_client_id,
                ),
            )
            .where(AccountMapping.workspace_id == workspace_id, HaloClient.name.in_(values))
        )
    grouped = _joined(workspace_id, depth, key, Account.ref, Account.id, inner=inner, among=named)
    groups: dict[Any, list[tuple[str, int]]] = {}
    for value, ref, account_id in session.execute(grouped.where(*where, segment.condition)):
        groups.setdefault(value, []).append((ref, account_id))
    for value, wanted in runs:
        rows = sorted(groups.get(value, []))
        ids += [account_id for _ref, account_id in rows[skip : skip + wanted]]
        skip = 0
    return ids


def grid_page_ids(
    session: Session,
    workspace_id: int,
    target: str,
    filters: GridFilters,
    *,
    sort: str,
    descending: bool,
    offset: int,
    limit: int,
    pull_failed: bool = False,
) -> tuple[int, list[int]]:
    """The number of rows the filters leave, and the ids of the accounts at ``offset``."""
    found = _filters(session, workspace_id, target, filters, pull_failed)
    where = found.conditions

    def counting(depth: int, inner: int, *columns: Any) -> Select[Any]:
        """Rows the filters keep; from the mapping table alone where that is enough."""
        if inner > ACCOUNT and not found.on_account:
            return _mapping_joined(workspace_id, depth, *columns, inner=inner).where(*where)
        return _joined(workspace_id, depth, *columns, inner=inner).where(*where)

    segments = _segments(sort, target, pull_failed)
    total = session.scalar(counting(found.depth, found.inner, func.count())) or 0
    # The segments with a mapping, counted in one pass from the mapping table; the one
    # without holds the rest.
    counted_segments = [segment for segment in segments if segment.inner > ACCOUNT]
    counted: dict[int, int] = {}
    if counted_segments:
        which = case(
            *((segment.condition, index) for index, segment in enumerate(segments)),
            else_=len(segments),
        ).label("segment")
        deepest = max(found.depth, *(segment.depth for segment in counted_segments))
        inner = max(found.inner, min(segment.inner for segment in counted_segments))
        grouped = counting(deepest, inner, which, func.count()).group_by(which)
        counted = dict(session.execute(grouped).all())
    rest = total - sum(counted.get(index, 0) for index in range(len(segments)))
    sizes = [
        counted.get(index, 0) if segment.inner > ACCOUNT else rest
        for index, segment in enumerate(segments)
    ]
    if descending:
        segments.reverse()
        sizes.reverse()
    ids: list[int] = []
    start = 0
    for segment, size in zip(segments, sizes, strict=True):
        if len(ids) < limit and offset < start + size:
            ids += _page_of_segment(
                session,
                workspace_id,
                found,
                segment,
                descending,
                max(offset - start, 0),
                limit - len(ids),
            )
        start += size
    return total, ids


def grid_rows(
    session: Session,
    workspace_id: int,
    target: str,
    ids: Sequence[int],
    pull_failed: bool = False,
) -> list[Row[Any]]:
    """The grid rows of ``ids`` (in that order)."""
    if not ids:
        return []
    rows = session.execute(
        _joined(
            workspace_id,
            INVOICE,
            Account.id,
            Account.ref,
            Account.name,
            Account.status,
            Account.billed,
            AccountMapping.halo_client_id,
            HaloClient.name,
            HaloClient.inactive,
            HaloClient.gone,
            AccountMapping.recurring_invoice_id,
            HaloRecurringInvoice.name,
            status_expression(target, pull_failed),
            AccountMapping.mapped_at,
        ).where(Account.id.in_(list(ids)))
    ).all()
    position = {account_id: index for index, account_id in enumerate(ids)}
    return sorted(rows, key=lambda row: position[row[0]])
