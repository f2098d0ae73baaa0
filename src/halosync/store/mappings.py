"""Rows of ``account_mapping`` and ``service_mapping``: where each account's and service's
writes go in Halo. The rules (1:1, the recurring invoice an ``invoice_line`` mapping needs)
live in :mod:`halosync.mapping.service`; the grids' read model in
:mod:`halosync.store.account_grid` and :mod:`halosync.store.mapping_views`; this is only
the commands' SQL."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import UniqueConstraint, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from halosync.store.base import METADATA, in_chunks
from halosync.store.constraints import violated_unique
from halosync.store.models import Account, AccountMapping, ServiceMapping

T = TypeVar("T")
# What a mapping another transaction committed first can break: one mapping per account
# and per service, one account per Halo client.
_MAPPING_UNIQUES = frozenset(
    str(constraint.name)
    for model in (AccountMapping, ServiceMapping)
    for constraint in METADATA.tables[model.__tablename__].constraints
    if isinstance(constraint, UniqueConstraint)
)
# Each retry reads at least one more committed mapping, so three are plenty.
_ATTEMPTS = 3


def as_if_one_at_a_time(session: Session, write: Callable[[], T]) -> T:
    """``write()`` (a mapping write that checks the mapping rules first) in a savepoint.

    On PostgreSQL two writes at once each check before either commits; the unique
    constraints stop the second, and it runs again, now reading what the first committed:
    its caller gets the answer it would have got after the first (the same mapping is
    kept, a client mapped to another account is refused by the rules), never the
    constraint's error. SQLite runs write transactions one at a time already.
    """
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with session.begin_nested():
                return write()
        except IntegrityError as error:
            if attempt == _ATTEMPTS or violated_unique(error) not in _MAPPING_UNIQUES:
                raise
    raise AssertionError("unreachable: the last attempt returns or raises")


class MappingRepository:
    """One workspace's account and service mappings."""

    def __init__(self, session: Session, workspace_id: int) -> None:
        self.session = session
        self.workspace_id = workspace_id

    def of_account(self, account_id: int) -> AccountMapping | None:
        """The account's mapping, if it has one."""
        return self.session.scalar(
            select(AccountMapping).where(
                AccountMapping.workspace_id == self.workspace_id,
                AccountMapping.account_id == account_id,
            )
        )

    def of_service(self, service_id: int) -> ServiceMapping | None:
        """The service's mapping, if it has one."""
        return self.session.scalar(
            select(ServiceMapping).where(
                ServiceMapping.workspace_id == self.workspace_id,
                ServiceMapping.service_id == service_id,
            )
        )

    def add(self, mapping: AccountMapping | ServiceMapping) -> None:
        """Store a new mapping."""
        self.session.add(mapping)

    def remove(self, mapping: AccountMapping | ServiceMapping) -> None:
        """Delete a mapping now (flushed)."""
        self.session.delete(mapping)
        self.session.flush()

    def holder(self, halo_client_id: int, *, other_than: int) -> str | None:
        """The reference of the account other than ``other_than`` mapped to the client."""
        return self.session.scalar(
            select(Account.ref)
            .join(AccountMapping, AccountMapping.account_id == Account.id)
            .where(
                AccountMapping.workspace_id == self.workspace_id,
                AccountMapping.halo_client_id == halo_client_id,
                AccountMapping.account_id != other_than,
            )
        )

    def holders(self, halo_client_ids: Iterable[int]) -> dict[int, str]:
        """Halo client id -> reference of the account mapped to it, among ``halo_client_ids``."""
        found: dict[int, str] = {}
        for chunk in in_chunks(halo_client_ids):
            found.update(
                self.session.execute(
                    select(AccountMapping.halo_client_id, Account.ref)
                    .join(Account, Account.id == AccountMapping.account_id)
                    .where(
                        AccountMapping.workspace_id == self.workspace_id,
                        AccountMapping.halo_client_id.in_(chunk),
                    )
                ).all()
            )
        return found

    def accounts_of_clients(self, halo_client_ids: Iterable[int]) -> list[int]:
        """The ids of the accounts mapped to any of ``halo_client_ids``."""
        found: list[int] = []
        for chunk in in_chunks(halo_client_ids):
            found += self.session.scalars(
                select(AccountMapping.account_id).where(
                    AccountMapping.workspace_id == self.workspace_id,
                    AccountMapping.halo_client_id.in_(chunk),
                )
            )
        return sorted(found)

    def clients_by_account_ref(self) -> dict[str, int]:
        """Account reference -> Halo client id of every mapped account."""
        return dict(
            self.session.execute(
                select(Account.ref, AccountMapping.halo_client_id)
                .join(AccountMapping, AccountMapping.account_id == Account.id)
                .where(AccountMapping.workspace_id == self.workspace_id)
            ).all()
        )

    def mapped_account_ids(self, account_ids: Iterable[int]) -> set[int]:
        """Those of ``account_ids`` that have a mapping."""
        found: set[int] = set()
        for chunk in in_chunks(account_ids):
            found.update(
                self.session.scalars(
                    select(AccountMapping.account_id).where(
                        AccountMapping.workspace_id == self.workspace_id,
                        AccountMapping.account_id.in_(chunk),
                    )
                )
            )
        return found

    def insert_account_mappings(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store many new account mappings in one INSERT (``rows`` are column -> value)."""
        if rows:
            self.session.execute(insert(AccountMapping), list(rows))

    def count(self) -> tuple[int, int]:
        """(account mappings, service mappings) of the workspace."""
        return self._count(AccountMapping), self._count(ServiceMapping)

    def _count(self, model: type[AccountMapping] | type[ServiceMapping]) -> int:
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(model)
                .where(model.workspace_id == self.workspace_id)
            )
            or 0
        )

    def delete_all(self) -> tuple[int, int]:
        """Remove every mapping (the connection's reset); (accounts, services) removed."""
        removed = []
        for model in (AccountMapping, ServiceMapping):
            result = self.session.execute(
                delete(model).where(model.workspace_id == self.workspace_id)
            )
            removed.append(int(getattr(result, "rowcount", 0) or 0))
        return removed[0], removed[1]
