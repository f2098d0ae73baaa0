"""Log-in lock-out: failed log-ins counted in the database, per account and per address.

Three counters over a sliding window, each with its own limit:

- one account from one address (tight): stops guessing one password from one place
  without locking the account's owner out from elsewhere;
- one account from anywhere: stops guessing spread over many addresses;
- one address for any account (loose, since an office or a VPN puts many people behind
  one address): stops one address spraying passwords over many accounts.

The failures live in ``login_failure``, so every web process (and every machine sharing
the database) sees the same counts. Keys are SHA-256 digests: nothing a person typed into
the email field (sometimes a password) is stored.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from halosync.settings import Settings
from halosync.store.base import utcnow
from halosync.store.database import Database
from halosync.store.login_failures import LoginFailureRepository
from halosync.users.service import normalise_email

_TOO_MANY = {
    "pair": "Too many failed log-ins for this account from your address.",
    "account": "Too many failed log-ins for this account.",
    "address": "Too many failed log-ins from your address.",
}


@dataclass(frozen=True)
class LoginLimits:
    """How many failures each counter allows within ``window``."""

    per_pair: int = 5
    per_account: int = 20
    per_address: int = 100
    window: timedelta = timedelta(minutes=15)

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginLimits:
        """``HALOSYNC_LOGIN_*``."""
        return cls(
            per_pair=settings.login_max_failures,
            per_account=settings.login_max_failures_per_account,
            per_address=settings.login_max_failures_per_address,
            window=timedelta(minutes=settings.login_window_minutes),
        )


@dataclass(frozen=True)
class Lockout:
    """Log-ins are paused for ``seconds`` by the counter named ``scope``."""

    scope: str
    seconds: int

    def message(self) -> str:
        """What the log-in form says."""
        minutes = max(1, math.ceil(self.seconds / 60))
        unit = "minute" if minutes == 1 else "minutes"
        return f"{_TOO_MANY[self.scope]} Try again in {minutes} {unit}."


def account_key(email: str) -> str:
    """The digest failures of ``email`` are counted under: one per account, so by the rule
    log-in finds the account with (:func:`~halosync.users.service.normalise_email`)."""
    return _digest("account", normalise_email(email))


def address_key(address: str) -> str:
    """The digest failures from ``address`` are counted under; IPv6 counts per /64, the
    block one subscriber (and so one attacker) usually holds."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return _digest("address", address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return _digest("address", str(ip.ipv4_mapped))
        return _digest("address", str(ipaddress.ip_network(f"{ip}/64", strict=False)))
    return _digest("address", str(ip))


def _digest(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


class LoginThrottle:
    """Counts failed log-ins in the database and says when a log-in must wait."""

    def __init__(
        self,
        database: Database,
        limits: LoginLimits | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database = database
        self.limits = limits or LoginLimits()
        self._clock = clock

    def lockout(self, email: str, address: str) -> Lockout | None:
        """The longest pause in force for this account and address, or None."""
        return self._longest(account_key(email), address_key(address), self._clock())

    def attempt(self, email: str, address: str) -> Lockout | None:
        """Count this log-in as failed before its password is checked; or, when a pause is
        in force, leave it uncounted and say how long it must wait.

        Counted first, so attempts checked at the same moment (threads of one process, or
        many processes) see each other: each counts in a transaction after its own is
        committed, so of any number sent at once no more than the limit get a password
        check. Checking, then counting after the (slow) password check let every attempt
        of a burst through (19 guesses in one burst of 100 on PostgreSQL, limit 5). The
        right password then forgets the pair's failures (:meth:`succeeded`).
        """
        now = self._clock()
        account, where = account_key(email), address_key(address)
        with self.database.session() as db:
            failures = LoginFailureRepository(db)
            failures.forget_until(now - self.limits.window)
            attempt_id = failures.add(account, where, now)
        paused = self._longest(account, where, now, counted=1)
        if paused is not None:
            with self.database.session() as db:
                LoginFailureRepository(db).forget(attempt_id)
        return paused

    def _longest(
        self, account: str, where: str, now: datetime, *, counted: int = 0
    ) -> Lockout | None:
        """The longest pause in force; ``counted`` attempts already in the counts (this
        one) are allowed over each limit."""
        limits = {
            "pair": self.limits.per_pair + counted,
            "account": self.limits.per_account + counted,
            "address": self.limits.per_address + counted,
        }
        longest: Lockout | None = None
        with self.database.session() as db:
            failures = LoginFailureRepository(db)
            for scope, limit in limits.items():
                until = self._paused_until(failures, scope, account, where, limit, now)
                if until is not None and until > now:
                    seconds = math.ceil((until - now).total_seconds())
                    if longest is None or seconds > longest.seconds:
                        longest = Lockout(scope, seconds)
        return longest

    def _paused_until(
        self,
        failures: LoginFailureRepository,
        scope: str,
        account: str,
        address: str,
        limit: int,
        now: datetime,
    ) -> datetime | None:
        """When the counter drops below ``limit`` again (None: it is below already)."""
        # The failure whose ageing out brings the count back under the limit: the
        # limit-th newest (none: the count is under the limit already).
        pivot = failures.newest_since(scope, account, address, now - self.limits.window, limit)
        return pivot + self.limits.window if pivot is not None else None

    def failed(self, email: str, address: str) -> None:
        """Count one failed log-in (and forget failures older than the window)."""
        now = self._clock()
        with self.database.session() as db:
            failures = LoginFailureRepository(db)
            failures.forget_until(now - self.limits.window)
            failures.add(account_key(email), address_key(address), now)

    def succeeded(self, email: str, address: str) -> None:
        """Forget the failures of this account from this address (the right password came
        from here); failures from elsewhere keep counting."""
        with self.database.session() as db:
            LoginFailureRepository(db).forget_pair(account_key(email), address_key(address))
