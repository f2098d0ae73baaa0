"""SQL on the quantity rules (``quantity_rule``): versions added, never updated in place.

The rule of a scope in force on day D is its version with the greatest ``valid_from`` on
or before D, ties going to the latest id; see :class:`halosync.store.models.QuantityRuleRow`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, Select, Subquery, func, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from halosync.domain.rules import RULE_FIELDS, RULE_SCOPES, QuantityRule
from halosync.store.models import Account, QuantityRuleRow, Service

RuleKey = tuple[str, int | None, int | None]
"""A scope and its keys: (scope, account_id, service_id)."""
ScopedRule = tuple[str, str | None, str | None, QuantityRule]
"""A rule in force and whose it is: (scope, account_ref, service_ref, rule)."""


@dataclass(frozen=True)
class RuleVersion:
    """One stored version with its account's and service's references and names."""

    row: QuantityRuleRow
    account_ref: str | None
    account_name: str | None
    service_ref: str | None
    service_name: str | None

    @property
    def key(self) -> RuleKey:
        """Which scope the version belongs to."""
        return (self.row.scope, self.row.account_id, self.row.service_id)


# First half of the two-int advisory lock key: "halosync quantity rules".
_LOCK_NAMESPACE = 0x48535152

_Account = aliased(Account)
_Service = aliased(Service)


_NEWEST_FIRST = (QuantityRuleRow.valid_from.desc(), QuantityRuleRow.id.desc())
"""The order of a scope's versions, the one in force first: the greatest ``valid_from``,
then the greatest id (the last set that day)."""


class RuleRepository:
    """One workspace's quantity rules."""

    def __init__(self, session: Session, workspace_id: int) -> None:
        self.session = session
        self.workspace_id = workspace_id

    def _query(self) -> Select[QuantityRuleRow, str, str, str, str]:
        return (
            select(QuantityRuleRow, _Account.ref, _Account.name, _Service.ref, _Service.name)
            .outerjoin(_Account, _Account.id == QuantityRuleRow.account_id)
            .outerjoin(_Service, _Service.id == QuantityRuleRow.service_id)
            .where(QuantityRuleRow.workspace_id == self.workspace_id)
        )

    def lock(self) -> None:
        """Hold the workspace's rule changes until this transaction ends: a change merges
        onto the version it reads, and versions are never updated, so no row lock would
        stop two changes from both reading the same one. PostgreSQL: a transaction-scoped
        advisory lock; SQLite: the store's ``BEGIN IMMEDIATE`` already is one."""
        connection = self.session.connection()
        if connection.dialect.name == "postgresql":
            self.session.execute(
                text("SELECT pg_advisory_xact_lock(:namespace, :key)"),
                {"namespace": _LOCK_NAMESPACE, "key": self.workspace_id},
            )

    def _latest(
        self,
        on_date: date,
        scopes: Collection[str] | None = None,
        account_ids: Collection[int] | None = None,
    ) -> Subquery:
        """The id of each scope's version in force on ``on_date`` (rank 1 of its scope by
        ``valid_from``, then id, newest first), so older versions never leave the database;
        ``scopes`` and ``account_ids`` keep those scopes / the scopes naming those accounts."""
        rank = (
            func.row_number()
            .over(
                partition_by=(
                    QuantityRuleRow.scope,
                    QuantityRuleRow.account_id,
                    QuantityRuleRow.service_id,
                ),
                order_by=_NEWEST_FIRST,
            )
            .label("rank")
        )
        where = [
            QuantityRuleRow.workspace_id == self.workspace_id,
            QuantityRuleRow.valid_from <= on_date,
        ]
        if scopes is not None:
            where.append(QuantityRuleRow.scope.in_(list(scopes)))
        if account_ids is not None:
            where.append(QuantityRuleRow.account_id.in_(list(account_ids)))
        ranked = select(QuantityRuleRow.id, rank).where(*where).subquery()
        return select(ranked.c.id).where(ranked.c.rank == 1).subquery()

    def excluded_accounts(self, on_date: date) -> Select[int | None]:
        """The ids of the accounts excluded from billing on ``on_date``, themselves or in
        one of their account × service rules: a statement, for the account grid's filter
        to use as a subquery (the grid stays one query per page)."""
        latest = self._latest(on_date, scopes=("account", "account_service"))
        return (
            select(QuantityRuleRow.account_id)
            .join(latest, latest.c.id == QuantityRuleRow.id)
            .where(QuantityRuleRow.excluded.is_not(None))
        )

    def in_force(
        self,
        on_date: date,
        *,
        scopes: Collection[str] | None = None,
        account_ids: Collection[int] | None = None,
    ) -> list[RuleVersion]:
        """The version in force on ``on_date`` of every scope that has one (cleared ones
        too: a version whose fields are all NULL), in scope order; ``scopes`` and
        ``account_ids`` narrow it (one query for a page of the account grid)."""
        latest = self._latest(on_date, scopes, account_ids)
        rows = self.session.execute(self._query().join(latest, latest.c.id == QuantityRuleRow.id))
        return sorted((RuleVersion(*row) for row in rows), key=_scope_order)

    def rules_in_force(self, on_date: date) -> list[ScopedRule]:
        """What :meth:`in_force` finds, as (scope, account_ref, service_ref, rule) only:
        the sync's look-up, without loading whole rows."""
        latest = self._latest(on_date)
        columns = [getattr(QuantityRuleRow, name) for name in RULE_FIELDS]
        rows = self.session.execute(
            select(QuantityRuleRow.scope, _Account.ref, _Service.ref, *columns)
            .join(latest, latest.c.id == QuantityRuleRow.id)
            .outerjoin(_Account, _Account.id == QuantityRuleRow.account_id)
            .outerjoin(_Service, _Service.id == QuantityRuleRow.service_id)
        )
        return [
            (scope, account, service, QuantityRule(**dict(zip(RULE_FIELDS, values, strict=True))))
            for scope, account, service, *values in rows
        ]

    def in_force_for(self, key: RuleKey, on_date: date) -> RuleVersion | None:
        """One scope's version in force on ``on_date`` (None: never set before it)."""
        row = self.session.execute(
            self._query()
            .where(*_of_scope(key), QuantityRuleRow.valid_from <= on_date)
            .order_by(*_NEWEST_FIRST)
            .limit(1)
        ).first()
        return RuleVersion(*row) if row is not None else None

    def later_versions(self, key: RuleKey, after: date) -> list[RuleVersion]:
        """One scope's versions valid from a day after ``after``, one per day (the one in
        force that day: the latest id), earliest day first."""
        rows = self.session.execute(
            self._query()
            .where(*_of_scope(key), QuantityRuleRow.valid_from > after)
            .order_by(QuantityRuleRow.valid_from, QuantityRuleRow.id)
        )
        by_day = {
            version.row.valid_from: version for version in (RuleVersion(*row) for row in rows)
        }
        return list(by_day.values())

    def later_days(self, after: date) -> list[date]:
        """Every day after ``after`` on which a stored version of any scope starts: the
        days the rule book can change on, earliest first."""
        return list(
            self.session.scalars(
                select(QuantityRuleRow.valid_from)
                .where(
                    QuantityRuleRow.workspace_id == self.workspace_id,
                    QuantityRuleRow.valid_from > after,
                )
                .distinct()
                .order_by(QuantityRuleRow.valid_from)
            )
        )

    def history(
        self,
        *,
        scopes: Collection[str] | None = None,
        account_id: int | None = None,
        service_id: int | None = None,
        limit: int | None = None,
    ) -> list[RuleVersion]:
        """Every version, newest ``valid_from`` first (then newest id), filtered as asked:
        ``account_id`` / ``service_id`` keep the versions whose scope names them."""
        query = self._query().order_by(*_NEWEST_FIRST)
        if scopes is not None:
            query = query.where(QuantityRuleRow.scope.in_(list(scopes)))
        if account_id is not None:
            query = query.where(QuantityRuleRow.account_id == account_id)
        if service_id is not None:
            query = query.where(QuantityRuleRow.service_id == service_id)
        if limit is not None:
            query = query.limit(limit)
        return [RuleVersion(*row) for row in self.session.execute(query)]

    def add(self, row: QuantityRuleRow) -> None:
        """A new version of this workspace (flushed, so its id is known)."""
        row.workspace_id = self.workspace_id
        self.session.add(row)
        self.session.flush()


def _is(column: InstrumentedAttribute[int | None], value: int | None) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


def _of_scope(key: RuleKey) -> tuple[ColumnElement[bool], ...]:
    """The conditions that keep one scope's versions (the workspace's is the query's)."""
    scope, account_id, service_id = key
    return (
        QuantityRuleRow.scope == scope,
        _is(QuantityRuleRow.account_id, account_id),
        _is(QuantityRuleRow.service_id, service_id),
    )


def _scope_order(version: RuleVersion) -> tuple[int, str, str]:
    """Workspace, services, accounts, pairs; each by reference."""
    return (
        RULE_SCOPES.index(version.row.scope),
        version.account_ref or "",
        version.service_ref or "",
    )
