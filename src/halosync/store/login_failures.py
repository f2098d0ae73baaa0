"""Rows of ``login_failure``: failed log-ins counted per account, address and pair, under
digests (never the email or the address itself).

The limits and what a lockout says live in :mod:`halosync.users.ratelimit`; this is only
their SQL.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from halosync.store.models import LoginFailure


def _counter(scope: str, account: str, address: str) -> ColumnElement[bool]:
    if scope == "pair":
        return and_(LoginFailure.account_key == account, LoginFailure.address_key == address)
    if scope == "account":
        return LoginFailure.account_key == account
    return LoginFailure.address_key == address


class LoginFailureRepository:
    """Failed log-ins of every account and address."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def newest_since(
        self, scope: str, account: str, address: str, since: datetime, rank: int
    ) -> datetime | None:
        """When the ``rank``-th newest (1 = the newest) failure after ``since`` counted by
        ``scope`` (pair, account or address) happened; None when there are fewer.

        One statement, so one moment: a count and then a look-up by position in a second
        statement let a failure deleted between them (an attempt refused and forgotten)
        turn "at the limit" into "no pivot, so not paused"."""
        condition = _counter(scope, account, address)
        return self.session.scalar(
            select(LoginFailure.failed_at)
            .where(condition, LoginFailure.failed_at > since)
            .order_by(LoginFailure.failed_at.desc())
            .offset(rank - 1)
            .limit(1)
        )

    def add(self, account: str, address: str, at: datetime) -> int:
        """Count one failure; its row's id."""
        row = LoginFailure(account_key=account, address_key=address, failed_at=at)
        self.session.add(row)
        self.session.flush()
        return row.id

    def forget(self, failure_id: int) -> None:
        """Drop one failure (an attempt refused before its password was checked)."""
        self.session.execute(delete(LoginFailure).where(LoginFailure.id == failure_id))

    def forget_until(self, moment: datetime) -> None:
        """Drop failures at or before ``moment`` (aged out of every window)."""
        self.session.execute(delete(LoginFailure).where(LoginFailure.failed_at <= moment))

    def forget_pair(self, account: str, address: str) -> None:
        """Drop the failures of this account from this address."""
        self.session.execute(
            delete(LoginFailure).where(
                LoginFailure.account_key == account, LoginFailure.address_key == address
            )
        )
