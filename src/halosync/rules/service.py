"""The quantity rules service: the one place rules are changed, listed and looked up.

Every entry point (CLI ``halosync rules``, REST ``/rules``, the web UI) and the usage sync
call these functions; none keeps a copy of their rules.

- A rule belongs to a *scope*, named by a :class:`RuleTarget`: the workspace (the default
  of every pair), a service, an account (exclusions only) or an account × service.
- Versions are rows: every change stores a new version valid from a day (today unless a
  later day is given; never an earlier one, so the past is never rewritten). The version
  of a scope in force on day D is its latest ``valid_from`` on or before D. A change that
  would store what is already in force on that day stores nothing (``RuleChange.changed``
  is false), so repeating a request is harmless. A change is carried into the scope's
  versions already stored for later days (stored anew, :func:`_carried`), and checked on
  every later day a version of any scope starts.
- A change is validated whole first (unknown account or service references named,
  :func:`halosync.domain.rules.rule_problems` for the rule itself), then written in one
  transaction with its audit entry (entity ``QuantityRule``, the actor, before and after)
  and a log entry.
- :func:`rule_book` is what a usage sync plans with: every rule in force on the run's day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from sqlalchemy.orm import Session

from halosync.domain.models import plain_number
from halosync.domain.rules import (
    EMPTY_RULE_BOOK,
    RULE_FIELDS,
    EffectiveRule,
    QuantityRule,
    RuleBook,
    RuleScope,
    inclusion_text,
    markup_ignored,
    markup_unused,
    rule_book_notices,
    rule_book_problems,
    rule_problems,
)
from halosync.errors import NotFoundError, ValidationFailedError
from halosync.store.base import utcnow
from halosync.store.database import Database
from halosync.store.models import AuditEntry, QuantityRuleRow
from halosync.store.rules import RuleRepository, RuleVersion, ScopedRule
from halosync.store.usage import AccountRepository, ServiceRepository
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.activity import add_log_entry

RULE_ENTITY = "QuantityRule"
"""The ``entity`` of the audit entries of rule changes (set, clear, exclude, include)."""
EMPTY_RULE = QuantityRule()
RuleOperation = Literal["set", "clear", "exclude", "include"]


@dataclass(frozen=True)
class RuleTarget:
    """Which scope a rule is set at; the scope follows from the references given."""

    account_ref: str | None = None
    service_ref: str | None = None

    @property
    def scope(self) -> RuleScope:
        """``workspace`` (neither), ``service``, ``account`` or ``account_service`` (both)."""
        if self.account_ref is not None and self.service_ref is not None:
            return "account_service"
        if self.account_ref is not None:
            return "account"
        if self.service_ref is not None:
            return "service"
        return "workspace"

    def label(self) -> str:
        """``workspace``, ``service MAIL``, ``account A1``, ``account A1 × service MAIL``."""
        parts = []
        if self.account_ref is not None:
            parts.append(f"account {self.account_ref}")
        if self.service_ref is not None:
            parts.append(f"service {self.service_ref}")
        return " × ".join(parts) or "workspace"


class RuleProblemsError(ValidationFailedError):
    """A rule refused before anything was written; ``problems`` are (field, why) pairs so
    each entry point can name the field its own way (``--minimum``, ``$.minimum``)."""

    def __init__(self, target: RuleTarget, problems: list[tuple[str, str]]) -> None:
        text = "; ".join(
            f"{name}: {why}" if name and f"{name}: " not in why else why for name, why in problems
        )
        super().__init__(f"Invalid rule for the {target.label()}: {text}. Nothing was changed.")
        self.target = target
        self.problems = problems


class StillExcludedError(ValidationFailedError):
    """An include of a scope with no exclusion of its own that a broader scope excludes:
    nothing to end; the way to bill it anyway is an include over that exclusion."""

    def __init__(self, target: RuleTarget, by: str) -> None:
        super().__init__(
            f"The {target.label()} has no exclusion of its own: {by}. Nothing was changed.",
            fix=(
                "To bill it anyway, include it over that exclusion: halosync rules include "
                f"{_flags(target)} --override."
            ),
            fixes={
                "api": "To bill it anyway, include it over that exclusion: DELETE "
                "/rules/exclusion with override=true.",
                "ui": "To bill it anyway, include it over that exclusion: Bill it anyway.",
            },
        )
        self.target = target
        self.by = by


def _flags(target: RuleTarget) -> str:
    """The CLI's options naming ``target``."""
    parts = [f"--account {target.account_ref}"] if target.account_ref is not None else []
    if target.service_ref is not None:
        parts.append(f"--service {target.service_ref}")
    return " ".join(parts)


# --- the shapes callers get -------------------------------------------------------------


def rule_dict(rule: QuantityRule) -> dict[str, Any]:
    """A rule's ``--json`` / REST / audit shape: every field, None where not set (amounts
    as decimal strings, so no float rounding)."""
    return {name: _json_value(getattr(rule, name)) for name in RULE_FIELDS}


def _json_value(value: Any) -> Any:
    return plain_number(value) if isinstance(value, Decimal) else value


def rule_text(rule: QuantityRule) -> str:
    """The fields set, as people read them: ``minimum 25, free 3, round up to 5``."""
    parts: list[str] = []
    if rule.excluded is not None:
        parts.append(f"excluded: {rule.excluded}")
    if isinstance(rule, EffectiveRule) and rule.overrides is not None:
        parts.append(inclusion_text(rule))
    elif rule.included:
        parts.append("included over a broader exclusion")
    if rule.free is not None:
        parts.append(f"free {rule.free}")
    if rule.rounding is not None:
        multiple = f" to a multiple of {rule.multiple}" if (rule.multiple or 1) > 1 else ""
        parts.append(f"round {rule.rounding}{multiple}")
    elif rule.multiple is not None:
        parts.append(f"multiple {rule.multiple}")
    if rule.minimum is not None:
        parts.append(f"minimum {rule.minimum}")
    if rule.ceiling is not None:
        parts.append(f"ceiling {rule.ceiling}")
    if rule.terms is not None:
        pick = f" ({rule.terms_pick})" if rule.terms == "pick" and rule.terms_pick else ""
        parts.append(f"terms {rule.terms}{pick}")
    elif rule.terms_pick is not None:
        parts.append(f"terms pick {rule.terms_pick}")
    if rule.price_owner is not None:
        parts.append(f"prices owned by {rule.price_owner}")
    ignored = markup_ignored(rule) if isinstance(rule, EffectiveRule) else None
    unused = f" (not applied: {ignored})" if ignored else ""
    if rule.markup_percent is not None:
        parts.append(f"markup {_json_value(rule.markup_percent)} %{unused}")
    if rule.fixed_price is not None:
        parts.append(f"fixed price {_json_value(rule.fixed_price)}{unused}")
    return ", ".join(parts) or "no rule"


def effective_dict(rule: EffectiveRule) -> dict[str, Any]:
    """An effective rule's ``--json`` / REST shape: per field its value and the scope it
    came from (both None where no scope sets it), and ``overrides``: the broader exclusion
    an include overrides."""
    values = rule_dict(rule) | {"overrides": rule.overrides}
    return {name: {"value": values[name], "scope": rule.scope_of(name)} for name in values}


@dataclass(frozen=True)
class RuleView:
    """One stored version of a scope's rule, as the lists and the history show it."""

    id: int
    target: RuleTarget
    account_name: str | None
    service_name: str | None
    valid_from: date
    rule: QuantityRule
    created_at: datetime
    created_by: str

    @property
    def scope(self) -> RuleScope:
        """The scope the version belongs to."""
        return self.target.scope

    @property
    def cleared(self) -> bool:
        """A version that sets nothing (the scope's rule was cleared)."""
        return self.rule.is_clear

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` / REST shape (dates ISO 8601, timestamps in UTC)."""
        return {
            "id": self.id,
            "scope": self.scope,
            "account_ref": self.target.account_ref,
            "account_name": self.account_name,
            "service_ref": self.target.service_ref,
            "service_name": self.service_name,
            "valid_from": self.valid_from.isoformat(),
            "rule": rule_dict(self.rule),
            "text": rule_text(self.rule),
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
        }


@dataclass(frozen=True)
class RuleChange:
    """What a change did: the rule in force on ``valid_from`` before and after it, the
    version stored (None when the same rule was already in force: nothing was stored) and
    the scope's later versions it was carried into."""

    operation: RuleOperation
    target: RuleTarget
    valid_from: date
    before: QuantityRule
    after: QuantityRule
    version: RuleView | None
    carried: tuple[RuleView, ...] = ()
    """The scope's later versions the change was also applied to (stored anew)."""
    still_excluded: str | None = None
    """An include that ended the scope's own exclusion while a broader one still applies:
    which, and why ("the account A1 excludes it (internal use)")."""
    warnings: tuple[str, ...] = ()
    """What the rule does not do as set (a markup while prices are off), each naming the
    scope; the rule is stored all the same."""

    @property
    def changed(self) -> bool:
        """Whether a version was stored."""
        return self.version is not None

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` / REST shape."""
        return {
            "operation": self.operation,
            "scope": self.target.scope,
            "account_ref": self.target.account_ref,
            "service_ref": self.target.service_ref,
            "valid_from": self.valid_from.isoformat(),
            "changed": self.changed,
            "before": rule_dict(self.before),
            "after": rule_dict(self.after),
            "text": rule_text(self.after),
            "version": self.version.to_dict() if self.version else None,
            "also_applied": [view.to_dict() for view in self.carried],
            "still_excluded": self.still_excluded,
            "warnings": list(self.warnings),
        }


def _rule_of(row: QuantityRuleRow) -> QuantityRule:
    return QuantityRule(**{name: getattr(row, name) for name in RULE_FIELDS})


def _view(version: RuleVersion) -> RuleView:
    row = version.row
    return RuleView(
        id=row.id,
        target=RuleTarget(version.account_ref, version.service_ref),
        account_name=version.account_name,
        service_name=version.service_name,
        valid_from=row.valid_from,
        rule=_rule_of(row),
        created_at=row.created_at,
        created_by=row.created_by,
    )


# --- reading -----------------------------------------------------------------------------


def today() -> date:
    """The day (UTC) a change made now takes effect and a sync made now plans with."""
    return utcnow().date()


def rule_book(source: Session | Database, workspace_id: int, on_date: date) -> RuleBook:
    """Every rule of the workspace in force on ``on_date``: what a usage sync plans with
    (``plan_usage_sync(..., rules=...)``). No rule stored: :data:`EMPTY_RULE_BOOK`."""
    if isinstance(source, Database):
        with source.session() as session:
            return rule_book(session, workspace_id, on_date)
    return _book(RuleRepository(source, workspace_id).rules_in_force(on_date))


def _book(rules: Iterable[ScopedRule]) -> RuleBook:
    workspace = EMPTY_RULE
    services: dict[str, QuantityRule] = {}
    accounts: dict[str, QuantityRule] = {}
    pairs: dict[tuple[str, str], QuantityRule] = {}
    for scope, account, service, rule in rules:
        if rule.is_clear:
            continue
        if scope == "workspace":
            workspace = rule
        elif account is not None and service is not None:
            pairs[(account, service)] = rule
        elif service is not None:
            services[service] = rule
        elif account is not None:
            accounts[account] = rule
    if workspace.is_clear and not (services or accounts or pairs):
        return EMPTY_RULE_BOOK
    return RuleBook(workspace=workspace, services=services, accounts=accounts, pairs=pairs)


@dataclass(frozen=True)
class AccountRules:
    """What the account grid shows of one account's rules in force: its own exclusion
    and its account × service rules (overrides and exclusions), by service reference."""

    excluded: str | None = None
    pairs: tuple[tuple[str, QuantityRule], ...] = ()


def account_rules(
    session: Session,
    workspace_id: int,
    account_ids: Mapping[int, str],
    *,
    on_date: date | None = None,
) -> dict[str, AccountRules]:
    """The rules in force of a page of accounts (``account_ids``: id -> reference), read
    in one query; accounts without any are left out."""
    if not account_ids:
        return {}
    versions = RuleRepository(session, workspace_id).in_force(
        on_date or today(), scopes=("account", "account_service"), account_ids=list(account_ids)
    )
    excluded: dict[str, str] = {}
    pairs: dict[str, list[tuple[str, QuantityRule]]] = {}
    for version in versions:
        rule = _rule_of(version.row)
        if rule.is_clear or version.account_ref is None:
            continue
        if version.service_ref is None:
            if rule.excluded is not None:
                excluded[version.account_ref] = rule.excluded
        else:
            pairs.setdefault(version.account_ref, []).append((version.service_ref, rule))
    return {
        ref: AccountRules(excluded.get(ref), tuple(pairs.get(ref, ())))
        for ref in sorted(set(excluded) | set(pairs))
    }


def service_rules(
    session: Session, workspace_id: int, *, on_date: date | None = None
) -> dict[str, QuantityRule]:
    """Every service's own rule in force (overrides of the default, exclusions), by
    reference: what the service grid shows beside each service."""
    versions = RuleRepository(session, workspace_id).in_force(
        on_date or today(), scopes=("service",)
    )
    return {
        version.service_ref: rule
        for version in versions
        if version.service_ref is not None and not (rule := _rule_of(version.row)).is_clear
    }


def effective_rule(
    database: Database,
    workspace_id: int,
    account_ref: str,
    service_ref: str,
    *,
    on_date: date | None = None,
) -> EffectiveRule:
    """The rule one account × service is billed by on ``on_date`` (today by default): each
    field from the most specific scope that sets it, ``scope_of(field)`` saying which.
    Unknown references are named (``NotFoundError``)."""
    with database.reading() as session:
        _refs(session, workspace_id, RuleTarget(account_ref, service_ref))
        book = rule_book(session, workspace_id, on_date or today())
    return book.for_pair(account_ref, service_ref)


def list_rules(
    database: Database, workspace_id: int, *, on_date: date | None = None
) -> list[RuleView]:
    """The rules in force on ``on_date`` (today by default), one per scope that sets
    anything: the workspace's, then services', accounts' and pairs' by reference."""
    with database.reading() as session:
        versions = RuleRepository(session, workspace_id).in_force(on_date or today())
        return [view for view in map(_view, versions) if not view.cleared]


def rule_history(
    database: Database,
    workspace_id: int,
    *,
    account_ref: str | None = None,
    service_ref: str | None = None,
    limit: int | None = None,
) -> list[RuleView]:
    """Every version stored, newest first (later ``valid_from`` first, then the newest
    change), including future ones and clears. ``account_ref`` / ``service_ref`` keep the
    versions of the scopes that name that account / service (both: that pair only)."""
    with database.reading() as session:
        refs = _refs(session, workspace_id, RuleTarget(account_ref, service_ref))
        both = refs.account_id is not None and refs.service_id is not None
        versions = RuleRepository(session, workspace_id).history(
            scopes=["account_service"] if both else None,
            account_id=refs.account_id,
            service_id=refs.service_id,
            limit=limit,
        )
        return [_view(version) for version in versions]


# --- changing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Refs:
    """A target's account and service as stored (None where the scope names none)."""

    account_id: int | None = None
    account_name: str | None = None
    service_id: int | None = None
    service_name: str | None = None


def _refs(session: Session, workspace_id: int, target: RuleTarget) -> _Refs:
    """The target's account and service; an unknown reference is named."""
    account = service = None
    missing: list[str] = []
    if target.account_ref is not None:
        account = AccountRepository(session, workspace_id).get_by_ref(target.account_ref)
        if account is None:
            missing.append(f"no account with reference {target.account_ref!r}")
    if target.service_ref is not None:
        service = ServiceRepository(session, workspace_id).get_by_ref(target.service_ref)
        if service is None:
            missing.append(f"no service with reference {target.service_ref!r}")
    if missing:
        text = " and ".join(missing)
        raise NotFoundError(
            f"{text[0].upper()}{text[1:]} in this workspace; nothing was changed.",
            fix="Import the vendor's data first, or check the reference.",
        )
    return _Refs(
        account.id if account else None,
        account.name if account else None,
        service.id if service else None,
        service.name if service else None,
    )


def _problems(texts: list[str]) -> list[tuple[str, str]]:
    """Problems as (field, why): the field each names first (after where, if it says)."""
    found: list[tuple[str, str]] = []
    for text in texts:
        name = next((n for n in _LONGEST_FIRST if f"{n}: " in f" {text}"), "")
        if name and text.startswith(f"{name}: "):
            text = text[len(name) + 2 :]
        found.append((name, text))
    return found


_LONGEST_FIRST = sorted(RULE_FIELDS, key=len, reverse=True)


def _combined_problems(
    rules: RuleRepository, target: RuleTarget, timeline: list[tuple[date, QuantityRule]]
) -> list[tuple[str, str]]:
    """What goes wrong once the scope's rules of ``timeline`` (its rule from each day on,
    earliest first) join the other scopes' rules (a ceiling below a minimum set
    elsewhere), checked on the change's day and on every later day a stored version of any
    scope starts, as the rule book can change on each. Only problems the change brings,
    so a change elsewhere is never refused for one already there."""
    first = timeline[0][0]
    key = (target.scope, target.account_ref, target.service_ref)
    found: list[str] = []
    for day in [first, *rules.later_days(first)]:
        rule = next(rule for start, rule in reversed(timeline) if start <= day)
        scoped = rules.rules_in_force(day)
        known = set(rule_book_problems(_book(scoped)))
        after = _book([*(r for r in scoped if r[:3] != key), (*key, rule)])
        found += [_on(day, first, p) for p in rule_book_problems(after) if p not in known]
    return _problems(found)


def _on(day: date, first: date, problem: str) -> str:
    """A problem found on a later day than the change's says from which day."""
    return problem if day == first else f"from {day.isoformat()}: {problem}"


def _carried(
    before: QuantityRule, after: QuantityRule, later: list[RuleVersion]
) -> list[tuple[RuleVersion, QuantityRule]]:
    """The scope's later versions with the fields the change sets carried into them (each
    was built from the rule before it, so without the change it would drop them): a
    field goes on until a version that sets it itself, and nothing passes a version that
    clears the scope (a planned clear still clears)."""
    fields = {name for name in RULE_FIELDS if getattr(before, name) != getattr(after, name)}
    previous = before
    carried: list[tuple[RuleVersion, QuantityRule]] = []
    for version in later:
        rule = _rule_of(version.row)
        fields = {name for name in fields if getattr(rule, name) == getattr(previous, name)}
        if rule.is_clear or not fields:
            break
        carried.append((version, replace(rule, **{n: getattr(after, n) for n in fields})))
        previous = rule
    return carried


def _check_day(target: RuleTarget, valid_from: date | None) -> date:
    first = today()
    if valid_from is None:
        return first
    if valid_from < first:
        raise RuleProblemsError(
            target,
            [
                (
                    "valid_from",
                    f"{valid_from.isoformat()} is in the past; a rule applies from today "
                    f"({first.isoformat()}) or a later day (the past is never rewritten)",
                )
            ],
        )
    return valid_from


class Change(Protocol):
    """A change of the rules (:func:`set_rule`, :func:`include`, ...) as the entry points
    call it: at ``target`` from ``valid_from`` by ``actor``, the rest bound by ``partial``."""

    def __call__(
        self,
        database: Database,
        workspace_id: int,
        target: RuleTarget,
        *,
        valid_from: date | None,
        actor: str,
    ) -> RuleChange: ...


def _change(
    database: Database,
    workspace_id: int,
    target: RuleTarget,
    operation: RuleOperation,
    new_rule: Any,
    *,
    valid_from: date | None,
    actor: str,
) -> RuleChange:
    """Validate, then store ``new_rule(before)`` as the scope's version from ``valid_from``
    (carried into the scope's later versions, see :func:`_carried`) with its audit and log
    entries, in one transaction."""
    day = _check_day(target, valid_from)
    with database.session() as session:
        refs = _refs(session, workspace_id, target)
        rules = RuleRepository(session, workspace_id)
        rules.lock()
        key = (target.scope, refs.account_id, refs.service_id)
        current = rules.in_force_for(key, day)
        before = _rule_of(current.row) if current is not None else EMPTY_RULE
        after: QuantityRule = new_rule(before)
        still = _excluded_by(rules, target, day, after) if operation == "include" else None
        warnings = _warnings(session, workspace_id, target, after)
        warnings += _ignored(rules, target, day, after)
        if after == before:
            if still is not None:
                raise StillExcludedError(target, still)
            return RuleChange(operation, target, day, before, after, None, warnings=warnings)
        carried = _carried(before, after, rules.later_versions(key, day))
        problems = _problems(rule_problems(target.scope, after))
        for version, rule in carried:
            problems += _problems(
                [_on(version.row.valid_from, day, p) for p in rule_problems(target.scope, rule)]
            )
        if not problems:
            timeline = [(day, after), *((v.row.valid_from, rule) for v, rule in carried)]
            problems = _combined_problems(rules, target, timeline)
        if problems:
            raise RuleProblemsError(target, problems)
        now = utcnow()
        stored = [_store(session, rules, target, refs, operation, (before, after), day, actor, now)]
        for version, rule in carried:
            old = (_rule_of(version.row), rule)
            start = version.row.valid_from
            stored.append(_store(session, rules, target, refs, operation, old, start, actor, now))
        also = "".join(f"; also applied to the version from {v.valid_from}" for v in stored[1:])
        add_log_entry(
            session,
            workspace_id,
            "INFO",
            _LOG_TITLES[operation],
            f"{actor}: {target.label()}: {_difference(before, after)} (from "
            f"{day.isoformat()}{also}; applies from the next sync on or after that day).",
            at=now,
        )
        return RuleChange(
            operation, target, day, before, after, stored[0], tuple(stored[1:]), still, warnings
        )


def _warnings(
    session: Session, workspace_id: int, target: RuleTarget, rule: QuantityRule
) -> tuple[str, ...]:
    """What the scope's rule does not do as set, each naming the scope."""
    unused = markup_unused(rule, WorkspaceRepository(session).get(workspace_id).price_mode)
    return (f"{target.label()}: {unused}",) if unused else ()


def _ignored(
    rules: RuleRepository, target: RuleTarget, day: date, rule: QuantityRule
) -> tuple[str, ...]:
    """What the rules set but do not do once the target's rule is ``rule`` on ``day`` (a
    markup amount whose prices another owner keeps), only what this change brings."""
    key = (target.scope, target.account_ref, target.service_ref)
    scoped = rules.rules_in_force(day)
    known = set(rule_book_notices(_book(scoped)))
    after = _book([*(r for r in scoped if r[:3] != key), (*key, rule)])
    return tuple(notice for notice in rule_book_notices(after) if notice not in known)


def _excluded_by(
    rules: RuleRepository, target: RuleTarget, day: date, rule: QuantityRule
) -> str | None:
    """:func:`_broader_exclusion` once the target's rule is ``rule`` on ``day``."""
    key = (target.scope, target.account_ref, target.service_ref)
    scoped = [r for r in rules.rules_in_force(day) if r[:3] != key]
    return _broader_exclusion(_book([*scoped, (*key, rule)]), target)


def _broader_exclusion(book: RuleBook, target: RuleTarget) -> str | None:
    """Which broader scope excludes an account × service by ``book``, and why ("the
    account A1 excludes it (internal use)"); None when it is billed, excluded by its own
    rule, or the target is no one account × service."""
    if target.account_ref is None or target.service_ref is None:
        return None
    effective = book.for_pair(target.account_ref, target.service_ref)
    scope = effective.scope_of("excluded")
    if effective.excluded is None or scope == "account_service":
        return None
    broader = RuleTarget(
        target.account_ref if scope == "account" else None,
        target.service_ref if scope == "service" else None,
    )
    return f"the {broader.label()} excludes it ({effective.excluded})"


def excluded_by(
    database: Database, workspace_id: int, target: RuleTarget, *, on_date: date | None = None
) -> str | None:
    """Which broader scope excludes the account × service ``target`` on ``on_date`` (today
    by default), and why; None when nothing broader does (what the rules page offers to
    override). Unknown references are named (``NotFoundError``)."""
    with database.reading() as session:
        _refs(session, workspace_id, target)
        return _broader_exclusion(rule_book(session, workspace_id, on_date or today()), target)


def _store(
    session: Session,
    rules: RuleRepository,
    target: RuleTarget,
    refs: _Refs,
    operation: RuleOperation,
    change: tuple[QuantityRule, QuantityRule],
    day: date,
    actor: str,
    now: datetime,
) -> RuleView:
    """Add the scope's version ``change[1]`` from ``day`` and its audit entry."""
    row = QuantityRuleRow(
        scope=target.scope,
        account_id=refs.account_id,
        service_id=refs.service_id,
        valid_from=day,
        created_at=now,
        created_by=actor,
        **{name: getattr(change[1], name) for name in RULE_FIELDS},
    )
    rules.add(row)
    session.add(_audit(rules.workspace_id, row.id, target, operation, change, day, actor))
    return _view(
        RuleVersion(
            row, target.account_ref, refs.account_name, target.service_ref, refs.service_name
        )
    )


_LOG_TITLES: dict[RuleOperation, str] = {
    "set": "Quantity rule changed",
    "clear": "Quantity rule cleared",
    "exclude": "Excluded from billing",
    "include": "Included in billing again",
}


def _difference(before: QuantityRule, after: QuantityRule) -> str:
    changed = [
        f"{name} {_shown(getattr(before, name))} -> {_shown(getattr(after, name))}"
        for name in RULE_FIELDS
        if getattr(before, name) != getattr(after, name)
    ]
    return "; ".join(changed)


def _shown(value: Any) -> str:
    return "(not set)" if value is None else str(_json_value(value))


def _audit(
    workspace_id: int,
    version_id: int,
    target: RuleTarget,
    operation: RuleOperation,
    rules: tuple[QuantityRule, QuantityRule],
    day: date,
    actor: str,
) -> AuditEntry:
    where = {
        "scope": target.scope,
        "account_ref": target.account_ref,
        "service_ref": target.service_ref,
        "valid_from": day.isoformat(),
    }
    before, after = rules
    return AuditEntry(
        workspace_id=workspace_id,
        entity=RULE_ENTITY,
        operation=operation,
        before=where | rule_dict(before),
        after=where | rule_dict(after),
        request_id=f"rule-{version_id}",
        actor=actor,
        at=utcnow(),
    )


def set_rule(
    database: Database,
    workspace_id: int,
    target: RuleTarget,
    rule: QuantityRule,
    *,
    valid_from: date | None = None,
    actor: str,
) -> RuleChange:
    """Make ``rule`` the scope's whole rule from ``valid_from`` (today by default): fields
    it leaves None are not set at this scope (the wider scope's value applies). REST
    ``PUT /rules/...`` semantics; see :func:`update_rule` to change some fields only."""
    return _change(
        database, workspace_id, target, "set", lambda _: rule, valid_from=valid_from, actor=actor
    )


def update_rule(
    database: Database,
    workspace_id: int,
    target: RuleTarget,
    changes: Mapping[str, Any],
    *,
    valid_from: date | None = None,
    actor: str,
) -> RuleChange:
    """Change the fields named in ``changes`` (a None value unsets that field) on top of
    the scope's rule in force on ``valid_from``; the others stay. ``halosync rules set``."""
    unknown = sorted(set(changes) - set(RULE_FIELDS))
    if unknown:
        raise RuleProblemsError(target, [(name, "is not a rule field") for name in unknown])
    return _change(
        database,
        workspace_id,
        target,
        "set",
        lambda before: replace(before, **changes),
        valid_from=valid_from,
        actor=actor,
    )


def clear_rule(
    database: Database,
    workspace_id: int,
    target: RuleTarget,
    *,
    valid_from: date | None = None,
    actor: str,
) -> RuleChange:
    """Unset every field of the scope's rule (its exclusion too) from ``valid_from``: the
    wider scopes' rules apply again. Stored as a version that sets nothing."""
    return _change(
        database,
        workspace_id,
        target,
        "clear",
        lambda _: EMPTY_RULE,
        valid_from=valid_from,
        actor=actor,
    )


def exclude(
    database: Database,
    workspace_id: int,
    target: RuleTarget,
    reason: str,
    *,
    valid_from: date | None = None,
    actor: str,
) -> RuleChange:
    """Exclude an account, a service or an account × service from billing from
    ``valid_from``, with the reason shown in the grids, the dry run and the results (an
    include over a broader exclusion at this scope ends)."""
    # rule_problems refuses a blank reason and the workspace scope, as for any rule.
    exclusion = {"excluded": reason.strip(), "included": None}
    return _exclusion(database, workspace_id, target, "exclude", exclusion, valid_from, actor)


def include(
    database: Database,
    workspace_id: int,
    target: RuleTarget,
    *,
    override: bool = False,
    valid_from: date | None = None,
    actor: str,
) -> RuleChange:
    """End the scope's exclusion from ``valid_from``; its other fields stay.

    ``override``: also bill it over a broader scope's exclusion (an account over its
    services', one account × service over its account's or service's). Without it, an
    account × service that a broader scope still excludes is said so: in
    ``RuleChange.still_excluded`` when its own exclusion ended, as
    :class:`StillExcludedError` when it had none (nothing is stored). Neither excluded nor
    overridden: nothing is stored (``changed`` false)."""
    inclusion = {"excluded": None} | ({"included": True} if override else {})
    return _exclusion(database, workspace_id, target, "include", inclusion, valid_from, actor)


def _exclusion(
    database: Database,
    workspace_id: int,
    target: RuleTarget,
    operation: RuleOperation,
    fields: Mapping[str, Any],
    valid_from: date | None,
    actor: str,
) -> RuleChange:
    """Change the scope's exclusion ``fields`` only (exclude, include)."""
    return _change(
        database,
        workspace_id,
        target,
        operation,
        lambda before: replace(before, **fields),
        valid_from=valid_from,
        actor=actor,
    )


__all__ = [
    "RULE_ENTITY",
    "AccountRules",
    "Change",
    "RuleChange",
    "RuleProblemsError",
    "RuleTarget",
    "RuleView",
    "StillExcludedError",
    "account_rules",
    "clear_rule",
    "effective_dict",
    "effective_rule",
    "exclude",
    "excluded_by",
    "include",
    "list_rules",
    "rule_book",
    "rule_dict",
    "rule_history",
    "rule_text",
    "service_rules",
    "set_rule",
    "today",
    "update_rule",
]
