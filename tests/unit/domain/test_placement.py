"""A licence or recurring invoice moved to another client in HaloPSA: one rule, one wording."""

from __future__ import annotations

from decimal import Decimal

from halosync.domain.models import AccountTarget, HaloInvoiceLine, HaloLicence
from halosync.domain.placement import moved_invoice, moved_licence

TARGET = AccountTarget(halo_client_id=12, recurring_invoice_id=-1, halo_client_name="Gamma")


def test_a_moved_licence_names_both_clients_what_it_holds_and_the_fixes() -> None:
    licence = HaloLicence(id=504, client_id=11, name="Mail", count=9, client_name="Beta")
    assert moved_licence(licence, TARGET, "A3") == (
        "licence 504 was moved to client 'Beta' (11) in HaloPSA, but account A3 is mapped to "
        "client 'Gamma' (12); nothing was written, since that would bill client 'Beta' (11) "
        "for this account's usage (it still holds 9 there). In HaloPSA, move it back to "
        "client 'Gamma' (12), or delete it if client 'Beta' (11) should not be billed "
        "(halosync then creates a new licence on client 'Gamma' (12))"
    )
    home = HaloLicence(id=504, client_id=12, name="Mail", count=9)
    assert moved_licence(home, TARGET, "A3") is None


def test_a_moved_recurring_invoice_is_said_as_a_moved_licence_is() -> None:
    line = HaloInvoiceLine(
        id=1, recurring_invoice_id=-1, item_id=3, quantity=Decimal(9), client_id=11
    )
    assert moved_invoice([line], TARGET, "A3") == (
        "recurring invoice -1 was moved to client 11 in HaloPSA, but account A3 is mapped to "
        "client 'Gamma' (12); nothing was written, since that would bill client 11 for this "
        "account's usage. In HaloPSA, move it back to client 'Gamma' (12), or map the account "
        "to a recurring invoice of its client"
    )
    unread = HaloInvoiceLine(id=1, recurring_invoice_id=-1, item_id=3, quantity=Decimal(9))
    assert moved_invoice([unread], TARGET, "A3") is None
