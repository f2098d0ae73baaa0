"""The account mapping grid's SQL: one page of rows at 100,000 accounts without a full pass.

The grid is every account of a workspace with its Halo client, recurring invoice and
mapping status. What the grid filters, sorts and searches on is all on the account row:
its own name, reference and status, and what its mapping says (``mapping_status``,
``mapped_client_id``, ``mapped_client_name``, ``mapped_client_status``), which
:func:`refresh_mapping_columns` keeps equal to the mapping, Halo client and recurring
invoice in the transaction of every write that changes them. So a page is found on the
account table's indexes alone, in two steps: first the ids of its accounts, then their
rows (joined, as they stand now).

* A sort key with ties (a name, a status) is read a group of equal keys at a time: the
  key at the page's first position is read from its index, the rows before its group
  are counted, and the group is read in reference order from there. So a page costs
  the same on page 1 as on page 5,000, ascending or descending, and ties stay in
  ascending reference order either way.
* An empty Halo client name or id (an unmapped account) is a segment of its own, read
  by reference, first ascending and last descending, as SQLite always ordered it.
* The search box's matches are found first, in one pass over the account table.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
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
    text,
    true,
    update,
)
from sqlalchemy.orm import Session

from halosync.store.models import (
    Account,
    AccountMapping,
    HaloClient,
    HaloRecurringInvoice,
    SyncRun,
    Workspace,
)
from halosync.store.rules import RuleRepository
from halosync.store.search import contains

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
    excluded_on: date | None = None
    """Only the accounts excluded from billing on this day (themselves or one of their
    services): quantity rules, not a mapping status."""


@dataclass(frozen=True, slots=True)
class _Segment:
    """Rows of one kind, in one order: ``key`` (ties by reference), or by reference alone."""

    condition: ColumnElement[bool]
    key: Any | None = None
    unique: bool = False


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


def _among(workspace_id: int, ids: Sequence[int]) -> ColumnElement[bool]:
    """Accounts ``ids`` of the workspace, found by their keys. (``+ 0`` keeps SQLite, which
    has no statistics to tell, from reading every account of the workspace from an index
    on ``workspace_id`` and checking each id instead.)"""
    return and_(Account.id.in_(ids), (Account.workspace_id + 0) == workspace_id)


def _joined(
    workspace_id: int, depth: int, *columns: Any, ids: Sequence[int] | None = None
) -> Select[Any]:
    """``columns`` over every account of the workspace (or accounts ``ids`` of it), joined
    as far as ``depth``."""
    query = select(*columns).select_from(Account)
    if depth >= MAPPING:
        query = query.outerjoin(
            AccountMapping,
            and_(
                AccountMapping.workspace_id == workspace_id,
                AccountMapping.account_id == Account.id,
            ),
        )
    if depth >= CLIENT:
        query = query.outerjoin(
            HaloClient,
            and_(
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
    if ids is not None:
        return query.where(_among(workspace_id, ids))
    return query.where(Account.workspace_id == workspace_id)


def _client_status() -> Any:
    """SQL for the mapped Halo client's status (None: unmapped, or a client never pulled)."""
    return case(
        (HaloClient.id.is_(None), None),
        (HaloClient.gone.is_(True), "gone"),
        (HaloClient.inactive.is_(True), "inactive"),
        else_="active",
    )


# First half of the two-int advisory lock key: "halosync account grid".
_LOCK_NAMESPACE = zlib.crc32(b"halosync account grid") - 2**31
_CHUNK = 500  # ids bound per IN (...) list: well inside SQLite's and PostgreSQL's limits


def refresh_mapping_columns(
    session: Session, workspace_id: int, account_ids: Iterable[int] | None = None
) -> int:
    """Set the accounts' mapping columns to what their mapping, Halo client and recurring
    invoice say now (every account of the workspace when ``account_ids`` is None), in the
    caller's transaction. Returns how many accounts changed.

    Every write those columns follow calls this after its own writes: mapping, unmapping
    and accepting suggestions, Sync Organizations, a target switch, a reset. On PostgreSQL
    the refreshes of one workspace take turns (a transaction-scoped advisory lock), and
    each reads what the others committed, so two writes at once (a mapping while Sync
    Organizations renames its client) leave the columns equal to what both committed; on
    SQLite a write transaction holds the database already.
    """
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:namespace, :key)"),
            {"namespace": _LOCK_NAMESPACE, "key": workspace_id},
        )
    target = session.scalar(select(Workspace.target).where(Workspace.id == workspace_id))
    stored = (
        Account.mapping_status,
        Account.mapped_client_id,
        Account.mapped_client_name,
        Account.mapped_client_status,
    )
    columns = (
        Account.id,
        *stored,
        status_expression(str(target)),
        AccountMapping.halo_client_id,
        HaloClient.name,
        _client_status(),
    )
    if account_ids is None:
        queries = [_joined(workspace_id, INVOICE, *columns)]
    else:
        wanted = sorted(set(account_ids))
        queries = [
            _joined(workspace_id, INVOICE, *columns, ids=wanted[start : start + _CHUNK])
            for start in range(0, len(wanted), _CHUNK)
        ]
    changed = [
        {
            "id": row[0],
            "mapping_status": row[5],
            "mapped_client_id": row[6],
            "mapped_client_name": row[7],
            "mapped_client_status": row[8],
        }
        for query in queries
        for row in session.execute(query)
        if tuple(row[1:5]) != tuple(row[5:9])
    ]
    if changed:
        session.execute(update(Account), changed)
    return len(changed)


# Up to this many accounts, a search's matches (or the accounts it does not match) are
# handed to the page's queries as a list of ids; beyond it (a term half the accounts
# contain) the queries repeat the search themselves.
SEARCH_LIST_LIMIT = 5000


def _search(session: Session, workspace_id: int, term: str) -> ColumnElement[bool]:
    """The accounts of the workspace whose name or reference, or Halo client's name or id,
    contain ``term`` (the search box).

    The matches are read first, in one pass over the account table, so the queries of the
    page need no search of their own: the matching accounts' ids when there are few, else
    the ids of the accounts that do not match when those are few (a term nearly every
    name contains).
    """
    matches = or_(
        contains(Account.name, term),
        contains(Account.ref, term),
        contains(Account.mapped_client_name, term),
    )
    if term.isdigit():  # the mapped client's id, pulled from Halo or not
        matches = or_(matches, contains(cast(Account.mapped_client_id, String), term))
    in_workspace = Account.workspace_id == workspace_id

    def few(condition: ColumnElement[bool]) -> list[int] | None:
        query = select(Account.id).where(in_workspace, condition)
        found = list(session.scalars(query.limit(SEARCH_LIST_LIMIT + 1)))
        return sorted(found) if len(found) <= SEARCH_LIST_LIMIT else None

    found = few(matches)
    if found is not None:
        return _among(workspace_id, found)
    others = few(matches.is_not(true()))  # an empty client name matches nothing
    if others is not None:
        return and_(in_workspace, Account.id.not_in(others)) if others else in_workspace
    return and_(in_workspace, matches)


def _status_filter(status: str, pull_failed: bool) -> ColumnElement[bool]:
    """The accounts with mapping status ``status``. While the last Sync Organizations
    failed every mapping is a Response Error (the stored status is kept for when it
    succeeds again)."""
    if not pull_failed:
        return Account.mapping_status == status
    unmapped = Account.mapping_status == "unmapped"
    return {"unmapped": unmapped, "response_error": not_(unmapped)}.get(status, false())


def _filters(
    session: Session, workspace_id: int, filters: GridFilters, pull_failed: bool
) -> list[ColumnElement[bool]]:
    """The filters as conditions on the account row, the first of which keeps the
    workspace's accounts (or the search's, or those excluded from billing: read first,
    as ids, which the workspace's own condition would make a walk of every account)."""
    where: list[ColumnElement[bool]] = []
    if filters.search and filters.search.strip():
        where.append(_search(session, workspace_id, filters.search.strip()))
    if filters.excluded_on is not None:
        where.append(_excluded(session, workspace_id, filters.excluded_on))
    if not where:
        where.append(Account.workspace_id == workspace_id)
    if filters.account_ref is not None:
        where.append(Account.ref == filters.account_ref)
    if filters.status is not None:
        where.append(_status_filter(filters.status, pull_failed))
    if filters.account_status is not None:
        where.append(Account.status == filters.account_status)
    if filters.halo_client_status is not None:
        where.append(Account.mapped_client_status == filters.halo_client_status)
    return where


def _excluded(session: Session, workspace_id: int, on_date: date) -> ColumnElement[bool]:
    """The accounts excluded from billing on ``on_date``.

    SQLite: read first and handed to the page's queries as ids (as a search's matches
    are), the rules' own statement when there are more than :data:`SEARCH_LIST_LIMIT`:
    with the statement each count and page walked the workspace's accounts testing each
    against it (the count alone 119-164 ms at 100,000). PostgreSQL: the statement, which
    it joins to the accounts by key, where it would filter a list of 2,000 ids in a
    sequential scan (server time 62 / 24 ms for the first and last page against 148 / 42
    ms with the ids, ui_grid_server_time.py at 100,000).
    """
    excluded = RuleRepository(session, workspace_id).excluded_accounts(on_date)
    if session.get_bind().dialect.name == "postgresql":
        return and_(Account.workspace_id == workspace_id, Account.id.in_(excluded))
    rows = session.scalars(excluded.limit(SEARCH_LIST_LIMIT + 1))
    found = {account_id for account_id in rows if account_id is not None}
    if len(found) <= SEARCH_LIST_LIMIT:
        return _among(workspace_id, sorted(found))
    return Account.id.in_(excluded)


def _segments(sort: str, pull_failed: bool) -> list[_Segment]:
    """The sort as segments in ascending order."""
    if sort == "status":
        if pull_failed:  # Response Error, then Unmapped: alphabetical, as the text sorts
            unmapped = Account.mapping_status == "unmapped"
            return [_Segment(not_(unmapped)), _Segment(unmapped)]
        return [_Segment(true(), Account.mapping_status)]
    if sort == "halo_client_id":
        return [
            _Segment(Account.mapped_client_id.is_(None)),
            _Segment(Account.mapped_client_id.is_not(None), Account.mapped_client_id, unique=True),
        ]
    if sort == "halo_client_name":
        return [
            _Segment(Account.mapped_client_name.is_(None)),
            _Segment(Account.mapped_client_name.is_not(None), Account.mapped_client_name),
        ]
    if sort == "account_ref":
        return [_Segment(true(), Account.ref, unique=True)]
    key = {"account_name": Account.name, "account_status": Account.status}[sort]
    return [_Segment(true(), key)]


# Keys with a few large groups, each read in order from its index; the others (names)
# have groups of a few rows.
_FEW_GROUPS = ("status", "mapping_status")


# More accounts than any workspace has (a bound that keeps a subquery read first).
MAX_GROUP = 2**31 - 1


def _ids(session: Session, query: Select[Any]) -> list[int]:
    return list(session.scalars(query))


def _page_of_segment(
    session: Session,
    workspace_id: int,
    where: list[ColumnElement[bool]],
    segment: _Segment,
    descending: bool,
    offset: int,
    limit: int,
    ties_descending: bool = False,
) -> list[int]:
    """``limit`` account ids from ``offset`` of one segment, in its order: by its key
    (``descending`` or not), ties by reference ascending (or ``ties_descending``: the
    reverse of the opposite direction's order, to read a page from the segment's end)."""
    by_ref = Account.ref.desc() if ties_descending else Account.ref.asc()

    def query(*columns: Any) -> Select[Any]:
        return select(*columns).where(*where, segment.condition)

    if segment.key is None:  # a segment of equal keys: by reference, either direction
        return _ids(session, query(Account.id).order_by(by_ref).offset(offset).limit(limit))
    key = segment.key
    order = key.desc() if descending else key.asc()
    if segment.unique:
        return _ids(session, query(Account.id).order_by(order).offset(offset).limit(limit))
    # The keys of the page's rows (ties in any order: only the values matter), and the
    # one just before the page, from the key's index; then each group of equal keys is
    # read in reference order.
    start = max(offset - 1, 0)
    keys = list(
        session.scalars(query(key).order_by(order).offset(start).limit(limit + offset - start))
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
    if key.key in _FEW_GROUPS:
        for value, wanted in runs:
            group = query(Account.id).where(key == value).order_by(by_ref)
            ids += _ids(session, group.offset(skip).limit(wanted))
            skip = 0
        return ids
    # Names: groups of a few rows, all the page's read at once through the name's index
    # and put in order here (ordering in SQL could walk every account by reference).
    values = [value for value, _wanted in runs]
    # LIMIT keeps the databases from merging the names' look-up into the query (and from
    # reading the rows of another filter's index instead): it is read first.
    named = (
        select(Account.id)
        .where(Account.workspace_id == workspace_id, key.in_(values))
        .limit(MAX_GROUP)
        .subquery()
    )
    grouped = query(key, Account.ref, Account.id).join_from(
        named, Account, Account.id == named.c.id
    )
    groups: dict[Any, list[tuple[str, int]]] = {}
    for value, ref, account_id in session.execute(grouped):
        groups.setdefault(value, []).append((ref, account_id))
    for value, wanted in runs:
        rows = sorted(groups.get(value, []), reverse=ties_descending)
        ids += [account_id for _ref, account_id in rows[skip : skip + wanted]]
        skip = 0
    return ids


def grid_page_ids(
    session: Session,
    workspace_id: int,
    filters: GridFilters,
    *,
    sort: str,
    descending: bool,
    offset: int,
    limit: int,
    pull_failed: bool = False,
) -> tuple[int, list[int]]:
    """The number of rows the filters leave, and the ids of the accounts at ``offset``."""
    where = _filters(session, workspace_id, filters, pull_failed)
    segments = _segments(sort, pull_failed)
    total = session.scalar(select(func.count()).select_from(Account).where(*where)) or 0
    # Each segment counted but the last, which holds the rest.
    sizes = [
        session.scalar(select(func.count()).select_from(Account).where(*where, s.condition)) or 0
        for s in segments[:-1]
    ]
    sizes.append(total - sum(sizes))
    if descending:
        segments.reverse()
        sizes.reverse()
    ids: list[int] = []
    start = 0
    for segment, size in zip(segments, sizes, strict=True):
        if len(ids) < limit and offset < start + size:
            ids += _nearer_end(
                session,
                workspace_id,
                where,
                segment,
                size,
                descending,
                max(offset - start, 0),
                limit - len(ids),
            )
        start += size
    return total, ids


def _nearer_end(
    session: Session,
    workspace_id: int,
    where: list[ColumnElement[bool]],
    segment: _Segment,
    size: int,
    descending: bool,
    offset: int,
    limit: int,
) -> list[int]:
    """The ids at ``offset`` of a segment of ``size`` rows, read from whichever end is
    nearer: an index is walked to an offset entry by entry, so the last page read
    backwards costs what the first does (a middle page, half of a walk of every row)."""
    backwards, start, count = nearer_end(size, offset, limit)
    if not backwards:
        return _page_of_segment(session, workspace_id, where, segment, descending, start, count)
    ids = _page_of_segment(
        session, workspace_id, where, segment, not descending, start, count, ties_descending=True
    )
    return ids[::-1]


def nearer_end(size: int, offset: int, limit: int) -> tuple[bool, int, int]:
    """How to read rows ``offset`` to ``offset + limit`` of ``size`` rows in order with the
    shorter walk: (backwards, offset, limit) in that direction, the rows then reversed
    when backwards."""
    end = min(offset + limit, size)
    if offset <= size - end:
        return False, offset, limit
    return True, size - end, end - offset


def grid_rows(
    session: Session,
    workspace_id: int,
    target: str,
    ids: Sequence[int],
    pull_failed: bool = False,
) -> list[Row[Any]]:
    """The grid rows of ``ids`` (in that order), as the mappings stand now."""
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
            ids=ids,
        )
    ).all()
    position = {account_id: index for index, account_id in enumerate(ids)}
    return sorted(rows, key=lambda row: position[row[0]])
