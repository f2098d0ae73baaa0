"""Sample vendor data for the demo, drawn from the simulator's Halo so that they fit.

Real vendor names never quite equal Halo's: suffixes differ ("Ltd" vs "Limited"), case
and punctuation differ, some customers exist on one side only. The sample reproduces
that, plus trial and not-yet-billed accounts and a cancelled subscription, so every
path of a sync shows up in the demo. A pure function of its inputs.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

# Vendor-side product names and SKUs for the simulator's vendor items (same order).
_VENDOR_SERVICES = (
    ("M365-BP", "Microsoft 365 Business Premium (NCE)"),
    ("M365-BB", "Microsoft 365 Business Basic"),
    ("M365-APPS", "Microsoft 365 Apps for business"),
    ("EXO-P1", "Exchange Online Plan 1"),
    ("EDR", "Endpoint Protection"),
    ("ESG", "Email Security Gateway"),
    ("SAT", "Security Awareness Training"),
    ("MDR", "Managed Detection & Response"),
    ("BACKUP-DEV", "Cloud Backup per device"),
    ("TEAMS-ESS", "Microsoft Teams Essentials"),
)
_SUFFIX_SWAPS = {
    "Ltd": "Limited",
    "Limited": "Ltd.",
    "Inc": "Incorporated",
    "LLC": "L.L.C.",
    "GmbH": "GmbH",
    "Pty Ltd": "Pty. Limited",
    "LLP": "LLP",
    "plc": "PLC",
    "Corp": "Corporation",
    "Group Ltd": "Group",
}
_EXTRA_ACCOUNTS = ("Quayside Opticians Ltd", "Wrenfield Surveyors LLP", "Moorgate Print Inc")


def _vendor_name(halo_name: str, rng: random.Random) -> str:
    """The same company as the vendor spells it."""
    for suffix, replacement in sorted(_SUFFIX_SWAPS.items(), key=lambda kv: -len(kv[0])):
        if halo_name.endswith(" " + suffix):
            base = halo_name[: -len(suffix) - 1]
            style = rng.random()
            if style < 0.3:
                return f"{base} {replacement}"
            if style < 0.5:
                return base.upper()
            if style < 0.7:
                return base
            return f"{base}, {suffix}"
    return halo_name


def _money(value: float) -> str:
    return str(Decimal(str(value)).quantize(Decimal("0.01")))


def sample_vendor_data(halo_seed: dict[str, Any], *, seed: int = 0) -> dict[str, Any]:
    """A JSON import document of accounts, services and subscriptions for ``halo_seed``."""
    rng = random.Random(seed)
    items = halo_seed.get("items", [])
    prices = {
        index: (float(item.get("baseprice", 0)), float(item.get("costprice", 0)))
        for index, item in enumerate(items[: len(_VENDOR_SERVICES)])
    }
    services = [{"ref": ref, "name": name} for ref, name in _VENDOR_SERVICES[: len(prices)]]
    accounts: list[dict[str, Any]] = []
    subscriptions: list[dict[str, Any]] = []
    names = [client["name"] for client in halo_seed.get("clients", []) if not client["inactive"]]
    names += list(_EXTRA_ACCOUNTS)
    for number, halo_name in enumerate(names, start=1):
        ref = f"ACC-{number:04d}"
        roll = rng.random()
        status, billed = "active", True
        if roll < 0.08:
            status, billed = "trial", False
        elif roll < 0.12:
            billed = False
        accounts.append(
            {"ref": ref, "name": _vendor_name(halo_name, rng), "status": status, "billed": billed}
        )
        for index in rng.sample(sorted(prices), rng.randint(1, min(4, len(prices)))):
            quantity = 0 if rng.random() < 0.04 else rng.randint(1, 150)
            sell, cost = prices[index]
            subscriptions.append(
                {
                    "account_ref": ref,
                    "service_ref": services[index]["ref"],
                    "quantity": quantity,
                    "start_date": "2025-01-01",
                    "end_date": None,
                    "billing_cycle": "Monthly",
                    "term": "Annual" if rng.random() < 0.7 else "Monthly",
                    "status": "cancelled" if rng.random() < 0.03 else "active",
                    "cost_price": _money(cost * quantity),
                    "customer_price": _money(sell * quantity),
                }
            )
    return {"accounts": accounts, "services": services, "subscriptions": subscriptions}
