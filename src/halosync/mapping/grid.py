"""The mapping grids' read model: the account grid (filtered, searched, sorted and paged in
the database), one row found by its key, the service grid, the Halo client picker and the
totals. The commands that change mappings live in :mod:`halosync.mapping.service`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from halosync.domain.models import ACCOUNT_STATUSES
from halosync.domain.rules import QuantityRule
from halosync.errors import ValidationFailedError
from halosync.rules.service import account_rules, rule_text, service_rules, today
from halosync.store import mapping_views
from halosync.store.account_grid import (
    GridFilters,
    grid_page_ids,
    grid_rows,
    last_customers_pull_failed,
)
from halosync.store.models import HaloClient
from halosync.store.usage import Page as Page
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.runs import pairs_needing_attention

MappingStatus = Literal["mapped", "unmapped", "required", "response_error"]
MAPPING_STATUSES: tuple[MappingStatus, ...] = ("mapped", "unmapped", "required", "response_error")
STATUS_LABELS: dict[str, str] = {
    "mapped": "Mapped",
    "unmapped": "Unmapped",
    "pending": "Pending",
    "required": "Required",
    "response_error": "Response Error",
}
HaloClientStatus = Literal["active", "inactive", "gone"]
HALO_CLIENT_STATUSES: tuple[HaloClientStatus, ...] = ("active", "inactive", "gone")
RESPONSE_ERROR_TEXT = "Please refresh the page in a few minutes and try again."
SORT_KEYS = (
    "account_name",
    "account_ref",
    "account_status",
    "halo_client_name",
    "halo_client_id",
    "status",
)
MAX_PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class AccountMappingRow:
    """One row of the account mapping grid."""

    account_ref: str
    account_name: str
    account_status: str
    billed: bool
    halo_client_id: int | None
    halo_client_name: str | None
    halo_client_status: str | None
    recurring_invoice_id: int | None
    recurring_invoice_name: str | None
    status: MappingStatus
    mapped_at: datetime | None
    attention: tuple[str, ...] = ()
    """What needs an admin about this account's services (from the latest sync of each
    pair), e.g. an item with several lines on the recurring invoice."""
    excluded: str | None = None
    """Why the account is excluded from billing (a quantity rule), None when it is billed.
    Excluded is not unmapped: the mapping and its status stay."""
    service_rules: tuple[tuple[str, str], ...] = ()
    """This account's own rules per service in force today (service reference, the rule
    as people read it: "minimum 25", "excluded: trial seats")."""

    @property
    def status_label(self) -> str:
        """The status as the grid shows it ("Mapped", "Required"...)."""
        return STATUS_LABELS[self.status]


@dataclass(frozen=True, slots=True)
class ServiceMappingRow:
    """One row of the service mapping grid."""

    service_ref: str
    service_name: str
    halo_item_id: int | None
    halo_item_name: str | None
    mapped: bool
    rule: str = ""
    """The service's own quantity rule in force today ("free 3, minimum 25"), "" when the
    workspace default applies unchanged."""
    excluded: str | None = None
    """Why the service is excluded from billing, None when it is billed."""


@dataclass(frozen=True, slots=True)
class MappingCounts:
    """Totals for the setup summary and the integration dashboard."""

    accounts_total: int
    accounts_mapped: int
    services_total: int
    services_mapped: int

    @property
    def accounts_unmapped(self) -> int:
        """Accounts without a Halo client."""
        return self.accounts_total - self.accounts_mapped

    @property
    def services_unmapped(self) -> int:
        """Services without a Halo item."""
        return self.services_total - self.services_mapped


def _client_status(inactive: bool | None, gone: bool | None, known: bool) -> str | None:
    if not known:
        return None
    if gone:
        return "Gone"
    return "Inactive" if inactive else "Active"


def account_mapping_grid(
    session: Session,
    workspace_id: int,
    *,
    search: str | None = None,
    account_ref: str | None = None,
    status: MappingStatus | None = None,
    account_status: str | None = None,
    halo_client_status: HaloClientStatus | None = None,
    excluded: bool = False,
    sort: str = "account_name",
    descending: bool = False,
    page: int = 1,
    page_size: int = 20,
) -> Page[AccountMappingRow]:
    """One page of the account mapping grid, filtered, searched and sorted in SQL.

    The search box matches account name, reference, Halo client name and Halo client id;
    the filters are the mapping status, the account's status and the Halo client's status,
    ``excluded`` keeps the accounts excluded from billing today (themselves or one of their
    services; excluded is not a mapping status), and ``account_ref`` picks one account's
    row by its exact reference.
    """
    if sort not in SORT_KEYS:
        raise ValidationFailedError(
            f"Cannot sort by {sort!r}.", fix=f"Sort by one of: {', '.join(SORT_KEYS)}."
        )
    if status is not None and status not in MAPPING_STATUSES:
        raise ValidationFailedError(
            f"Unknown mapping status {status!r}.",
            fix=f"Filter by one of: {', '.join(MAPPING_STATUSES)}.",
        )
    if account_status is not None and account_status not in ACCOUNT_STATUSES:
        raise ValidationFailedError(
            f"Unknown account status {account_status!r}.",
            fix=f"Filter by one of: {', '.join(ACCOUNT_STATUSES)}.",
        )
    if halo_client_status is not None and halo_client_status not in HALO_CLIENT_STATUSES:
        raise ValidationFailedError(
            f"Unknown Halo client status {halo_client_status!r}.",
            fix=f"Filter by one of: {', '.join(HALO_CLIENT_STATUSES)}.",
        )
    workspace = WorkspaceRepository(session).get(workspace_id)
    page = max(page, 1)
    page_size = min(max(page_size, 1), MAX_PAGE_SIZE)
    filters = GridFilters(
        search=search,
        account_ref=account_ref,
        status=status,
        account_status=account_status,
        halo_client_status=halo_client_status,
        excluded_on=today() if excluded else None,
    )
    pull_failed = last_customers_pull_failed(session, workspace_id)
    total, ids = grid_page_ids(
        session,
        workspace_id,
        filters,
        sort=sort,
        descending=descending,
        offset=(page - 1) * page_size,
        limit=page_size,
        pull_failed=pull_failed,
    )
    rows = grid_rows(session, workspace_id, workspace.target, ids, pull_failed)
    items = _with_rules(session, workspace_id, {row[0]: _grid_row(row[1:]) for row in rows})
    if workspace.target == "invoice_line" and items:
        attention = pairs_needing_attention(
            session, workspace_id, [item.account_ref for item in items]
        )
        items = [
            replace(item, attention=tuple(attention.get(item.account_ref, ()))) for item in items
        ]
    return Page(items=items, total=total, page=page, page_size=page_size)


def _with_rules(
    session: Session, workspace_id: int, rows: dict[int, AccountMappingRow]
) -> list[AccountMappingRow]:
    """The page's rows with their exclusions and per-service rules (one query a page)."""
    found = account_rules(
        session, workspace_id, {key: row.account_ref for key, row in rows.items()}
    )
    items = list(rows.values())
    if not found:
        return items
    return [
        replace(
            item,
            excluded=rules.excluded,
            service_rules=tuple((service, rule_text(rule)) for service, rule in rules.pairs),
        )
        if (rules := found.get(item.account_ref)) is not None
        else item
        for item in items
    ]


def account_mapping_row(
    session: Session, workspace_id: int, account_ref: str
) -> AccountMappingRow | None:
    """One account's grid row, found by its exact reference, never by searching the grid
    (None if there is no such account)."""
    found = account_mapping_grid(session, workspace_id, account_ref=account_ref, page_size=1)
    return found.items[0] if found.items else None


def _grid_row(row: Sequence[object]) -> AccountMappingRow:
    (
        ref,
        name,
        account_status,
        billed,
        halo_client_id,
        client_name,
        inactive,
        gone,
        invoice_id,
        invoice_name,
        status,
        mapped_at,
    ) = row
    return AccountMappingRow(
        account_ref=str(ref),
        account_name=str(name),
        account_status=str(account_status),
        billed=bool(billed),
        halo_client_id=halo_client_id if isinstance(halo_client_id, int) else None,
        halo_client_name=client_name if isinstance(client_name, str) else None,
        halo_client_status=_client_status(
            inactive if isinstance(inactive, bool) else None,
            gone if isinstance(gone, bool) else None,
            isinstance(client_name, str),
        ),
        recurring_invoice_id=invoice_id if isinstance(invoice_id, int) else None,
        recurring_invoice_name=invoice_name if isinstance(invoice_name, str) else None,
        status=status,  # type: ignore[arg-type]
        mapped_at=mapped_at if isinstance(mapped_at, datetime) else None,
    )


def _service_rows(
    session: Session, workspace_id: int, *, service_ref: str | None = None
) -> list[ServiceMappingRow]:
    rules = service_rules(session, workspace_id)
    return [
        _service_rule(
            ServiceMappingRow(
                service_ref=ref,
                service_name=name,
                halo_item_id=item_id,
                halo_item_name=item_name,
                mapped=item_id is not None,
            ),
            rules.get(ref),
        )
        for ref, name, item_id, item_name in mapping_views.service_rows(
            session, workspace_id, service_ref=service_ref
        )
    ]


def _service_rule(row: ServiceMappingRow, rule: QuantityRule | None) -> ServiceMappingRow:
    """The row with its service's rule: the overrides as text, the exclusion apart."""
    if rule is None:
        return row
    overrides = replace(rule, excluded=None)
    text = "" if overrides.is_clear else rule_text(overrides)
    return replace(row, rule=text, excluded=rule.excluded)


def service_mapping_grid(session: Session, workspace_id: int) -> list[ServiceMappingRow]:
    """Every service with its Halo item, by name."""
    return _service_rows(session, workspace_id)


def service_mapping_row(
    session: Session, workspace_id: int, service_ref: str
) -> ServiceMappingRow | None:
    """One service's row, found by its reference (None if there is no such service)."""
    found = _service_rows(session, workspace_id, service_ref=service_ref)
    return found[0] if found else None


def unmapped_halo_clients(
    session: Session,
    workspace_id: int,
    *,
    search: str | None = None,
    limit: int = 50,
    ids: Collection[int] | None = None,
) -> Sequence[HaloClient]:
    """Halo clients that no account is mapped to, for the picker (by name or by id); with
    ``ids``, which of those clients are free."""
    return mapping_views.unmapped_halo_clients(
        session, workspace_id, search=search, limit=limit, ids=ids
    )


def mapping_counts(session: Session, workspace_id: int) -> MappingCounts:
    """Total and mapped accounts and services."""
    return MappingCounts(*mapping_views.mapping_totals(session, workspace_id))


def mapping_target(session: Session, workspace_id: int) -> str:
    """Where the workspace's counts land (``licence`` or ``invoice_line``): it decides
    whether a mapping needs a recurring invoice (status Required)."""
    return WorkspaceRepository(session).get(workspace_id).target
