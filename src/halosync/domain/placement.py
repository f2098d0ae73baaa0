"""A record halosync keeps in step that someone changed in HaloPSA so that writing it
would bill the wrong customer, or nothing: moved to another client, or made inactive.

Someone in HaloPSA moved a licence halosync created to another client, or gave the mapped
recurring invoice to another client. Writing it as the pair's record would bill that other
customer for this account's usage, and creating a second record would bill the pair twice
once the first is moved back; so the pair is skipped with a WARNING naming both clients and
the fix, and the reconciliation report marks the row *blocked*. A licence made inactive
bills nothing whatever its count: it is not written either, and the admin is told how to
bill the usage again (reactivate it) or stop (exclude the pair). The planner and the report
both ask here (one rule); the rule is written out in ``docs/sync-rules.md``.
"""

from __future__ import annotations

from collections.abc import Iterable

from halosync.domain.models import (
    AccountTarget,
    DesiredSubscription,
    HaloInvoiceLine,
    HaloLicence,
)


def client_label(client_id: int, name: str = "") -> str:
    """A HaloPSA client as messages name it: "'Alpha Ltd' (10)", or its id alone."""
    return f"'{name}' ({client_id})" if name else str(client_id)


def mapped_client(target: AccountTarget) -> str:
    """The account's mapped client, named."""
    return client_label(target.halo_client_id, target.halo_client_name)


def client_gone_reason(target: AccountTarget) -> str:
    """Why nothing is written for an account whose mapped client HaloPSA no longer has."""
    return (
        f"HaloPSA client {mapped_client(target)} no longer exists; reactivate it in HaloPSA "
        "or map the account to another client"
    )


def _moved_record(
    record: str,
    there: str,
    target: AccountTarget,
    account_ref: str,
    *,
    still_there: str = "",
    otherwise: str,
) -> str:
    """Why the pair's ``record`` (its licence, or the mapped recurring invoice) is not
    written: HaloPSA puts it on client ``there`` now, not on the mapped client. One wording
    for both records; ``otherwise`` is the fix besides moving it back."""
    home = mapped_client(target)
    return (
        f"{record} was moved to client {there} in HaloPSA, but account {account_ref} is "
        f"mapped to client {home}; nothing was written, since that would bill client "
        f"{there} for this account's usage{still_there}. In HaloPSA, move it back to client "
        f"{home}, or {otherwise}"
    )


def moved_licence(licence: HaloLicence, target: AccountTarget, account_ref: str) -> str | None:
    """Why ``licence`` (the one the ledger keeps for a pair of ``account_ref``, mapped to
    ``target``) is not written: it is on another client now; None while it is on the
    mapped client."""
    if licence.client_id == target.halo_client_id:
        return None
    there = client_label(licence.client_id, licence.client_name)
    return _moved_record(
        f"licence {licence.id}",
        there,
        target,
        account_ref,
        still_there=f" (it still holds {licence.count} there)",
        otherwise=f"delete it if client {there} should not be billed (halosync then creates "
        f"a new licence on client {mapped_client(target)})",
    )


def inactive_licence(licence: HaloLicence, sub: DesiredSubscription) -> str | None:
    """Why the pair's ``licence`` is not written: someone made it inactive in HaloPSA, so it
    bills nothing whatever its count; None while it is active, or once the pair's billing
    stops (then writing 0 and the ended status to it is harmless and keeps it true)."""
    if licence.active or sub.ended_reason is not None:
        return None
    account, service = sub.account_ref, sub.service_ref
    return (
        f"licence {licence.id} is inactive in HaloPSA, so it bills nothing whatever its count, "
        f"and halosync does not write an inactive licence; nothing was written. To bill "
        f"account {account}'s usage, reactivate it in HaloPSA; if it should not be billed, "
        f"exclude it: halosync rules exclude --account {account} --service {service} "
        "--reason TEXT"
    )


def moved_invoice(
    lines: Iterable[HaloInvoiceLine], target: AccountTarget, account_ref: str
) -> str | None:
    """Why nothing is written on the mapped recurring invoice (``lines``: its lines as read):
    HaloPSA says it belongs to another client now; None while it is the mapped client's, or
    when no line says whose it is (an invoice read without lines)."""
    owner = next((line for line in lines if line.client_id is not None), None)
    if owner is None or owner.client_id == target.halo_client_id:
        return None
    assert owner.client_id is not None
    return _moved_record(
        f"recurring invoice {target.recurring_invoice_id}",
        client_label(owner.client_id, owner.client_name),
        target,
        account_ref,
        otherwise="map the account to a recurring invoice of its client",
    )


__all__ = [
    "client_gone_reason",
    "client_label",
    "inactive_licence",
    "mapped_client",
    "moved_invoice",
    "moved_licence",
]
