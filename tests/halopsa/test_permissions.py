"""Least-privilege permissions per target, named in US and UK wording."""

from __future__ import annotations

import pytest

from halosync.halopsa.permissions import (
    TARGET_NEEDS,
    missing_permission_fix,
    needs_for,
    permission_for,
)


def test_licence_target_scopes() -> None:
    assert set(needs_for("licence").scopes) == {
        "edit:softwarelicensing",
        "read:customers",
        "read:items",
    }


def test_invoice_line_target_scopes() -> None:
    assert set(needs_for("invoice_line").scopes) == {
        "edit:invoices",
        "read:customers",
        "read:items",
    }


def test_no_target_asks_for_all() -> None:
    for needs in TARGET_NEEDS.values():
        assert all(not scope.startswith(("all", "admin")) for scope in needs.scopes)


def test_wording_names_both_languages() -> None:
    perm = permission_for("SoftwareLicence", "POST")
    assert perm is not None
    assert perm.scope == "edit:softwarelicensing"
    assert "Software Licensing / Subscriptions" in perm.describe()
    client = permission_for("client/12", "GET")
    assert client is not None
    assert client.describe() == "Clients (US) / Customers (UK): read [read:customers]"
    item = permission_for("Item", "GET")
    assert item is not None
    assert "Items (US) / Assets (UK)" in item.describe()
    contract = permission_for("ClientContract", "GET")
    assert contract is not None
    assert "Customer Agreements" in contract.describe()
    assert permission_for("Tickets", "GET") is None
    assert "Configuration > Integrations" in missing_permission_fix([perm])


def test_unknown_target_is_named() -> None:
    with pytest.raises(ValueError, match="unknown target 'invoice'"):
        needs_for("invoice")
