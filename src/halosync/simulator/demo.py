"""Realistic demo data for the simulator: an MSP's clients, sites, items, invoices, licences.

The data is a pure function of ``(clients, seed)`` so demos, tests and benchmarks see the
same Halo every time.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

_PREFIXES = (
    "Northwind", "Bluebell", "Harbour", "Crescent", "Summit", "Riverside", "Oakridge",
    "Kestrel", "Granite", "Meridian", "Lighthouse", "Ashford", "Cobalt", "Willow", "Beacon",
    "Falcon", "Juniper", "Redwood", "Sterling", "Thistle", "Evergreen", "Pinnacle", "Marlow",
    "Aurora", "Brightwater", "Cedar", "Fairview", "Highgate", "Ironbridge", "Lakeside",
)  # fmt: skip
_NOUNS = (
    "Dental", "Logistics", "Accountants", "Engineering", "Legal", "Architects", "Veterinary",
    "Property", "Consulting", "Manufacturing", "Estates", "Pharmacy", "Solicitors", "Media",
    "Hospitality", "Recruitment", "Construction", "Foods", "Healthcare", "Marine", "Surveyors",
    "Opticians", "Insurance", "Wealth", "Print", "Motors", "Travel", "Interiors",
)  # fmt: skip
_SUFFIXES = ("Ltd", "Limited", "Inc", "LLC", "GmbH", "Pty Ltd", "LLP", "plc", "Corp", "Group Ltd")
_DOMAINS = ("co.uk", "com", "de", "com.au", "net")

# name, sell price, cost price: a typical MSP price list.
_VENDOR_ITEMS = (
    ("Microsoft 365 Business Premium", 22.00, 18.70),
    ("Microsoft 365 Business Basic", 6.00, 5.10),
    ("Microsoft 365 Apps for Business", 10.32, 8.77),
    ("Exchange Online (Plan 1)", 4.00, 3.40),
    ("Endpoint Protection", 4.50, 2.10),
    ("Email Security Gateway", 2.75, 1.20),
    ("Security Awareness Training", 2.00, 0.95),
    ("Managed Detection and Response", 9.50, 6.00),
    ("Cloud Backup - per device", 6.50, 3.25),
    ("Microsoft Teams Essentials", 3.96, 3.37),
)
# Lines halosync does not own ("foreign" lines): services, domains, hardware leases.
_FOREIGN_ITEMS = (
    ("Managed Services - Gold Infrastructure", 825.00, 0.0),
    ("Managed Services - Per User", 45.00, 0.0),
    ("Domain Name Renewal (.co.uk)", 12.00, 7.99),
    ("Azure Backup Storage (1TB)", 39.00, 27.50),
    ("Firewall Lease", 60.00, 35.00),
)
_SITE_NAMES = ("Head Office", "Warehouse", "Branch Office", "Clinic", "Studio")


def _company_names(count: int, rng: random.Random) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        name = f"{rng.choice(_PREFIXES)} {rng.choice(_NOUNS)} {rng.choice(_SUFFIXES)}"
        if name in seen:
            name = f"{name.rsplit(' ', 1)[0]} {len(names) + 1} {name.rsplit(' ', 1)[1]}"
            if name in seen:
                continue
        seen.add(name)
        names.append(name)
    return names


def _slug(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())[:24]


def _halo_date(day: date) -> str:
    return f"{day.isoformat()}T00:00:00"


def generate_demo_seed(clients: int = 25, seed: int = 0) -> dict[str, Any]:
    """A seed document with ``clients`` clients and everything around them.

    About 5% of clients are inactive and about 15% of the active ones have no recurring
    invoice; each recurring invoice has vendor lines and foreign lines, and some vendor
    lines take their quantity from a linked licence.
    """
    if clients < 0:
        raise ValueError(f"clients must not be negative, got {clients}")
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []
    for index, (name, price, cost) in enumerate(_VENDOR_ITEMS + _FOREIGN_ITEMS, start=1):
        items.append(
            {
                "id": index,
                "name": name,
                "description": name,
                "baseprice": price,
                "costprice": cost,
                "recurringprice": price,
                "recurringcost": cost,
                "isrecurringitem": True,
                "internalreference": f"SKU-{index:04d}",
                "nominalcode": "4000" if index <= len(_VENDOR_ITEMS) else "4100",
            }
        )
    vendor_item_ids = list(range(1, len(_VENDOR_ITEMS) + 1))
    foreign_item_ids = list(range(len(_VENDOR_ITEMS) + 1, len(items) + 1))
    document: dict[str, Any] = {
        "clients": [],
        "sites": [],
        "items": items,
        "contracts": [],
        "licences": [],
        "recurring_invoices": [],
        "invoices": [],
    }
    site_id = licence_id = contract_id = 0
    invoice_id = 1000
    recurring_id = 0
    inactive_every = 20 if clients >= 20 else max(clients, 1) + 1
    start = date(2024, 1, 1)
    for index, name in enumerate(_company_names(clients, rng), start=1):
        inactive = index % inactive_every == 0
        slug = _slug(name)
        domain = f"{slug}.{rng.choice(_DOMAINS)}"
        client_sites = []
        for site_name in _SITE_NAMES[: rng.choice((1, 1, 1, 2, 3))]:
            site_id += 1
            client_sites.append(site_id)
            document["sites"].append(
                {
                    "id": site_id,
                    "name": site_name,
                    "client_id": index,
                    "isinvoicesite": len(client_sites) == 1,
                    "phonenumber": f"0{rng.randint(1000, 9999)} {rng.randint(100000, 999999)}",
                    "timezone": "GMT Standard Time",
                }
            )
        document["clients"].append(
            {
                "id": index,
                "name": name,
                "inactive": inactive,
                "accountsid": f"C-{index:05d}",
                "ref": f"CUST{index:05d}",
                "website": f"https://www.{domain}/",
                "domain": domain,
                "accountsemailaddress": f"accounts@{domain}",
                "main_site_id": client_sites[0],
                "datecreated": _halo_date(start + timedelta(days=rng.randint(0, 365))),
            }
        )
        if inactive or rng.random() < 0.15:
            continue
        contract_id += 1
        document["contracts"].append(
            {
                "id": contract_id,
                "client_id": index,
                "ref": f"MSA-{index:05d}",
                "start_date": _halo_date(start + timedelta(days=rng.randint(0, 90))),
                "periodchargeamount": float(rng.choice((250, 500, 825, 1200))),
            }
        )
        lines: list[dict[str, Any]] = []
        for foreign in rng.sample(foreign_item_ids, rng.randint(1, 2)):
            lines.append({"_itemid": foreign, "qty_order": float(rng.choice((1, 1, 2)))})
        for vendor in rng.sample(vendor_item_ids, rng.randint(1, 4)):
            users = rng.randint(3, 120)
            if rng.random() < 0.3:
                licence_id += 1
                vendor_name = _VENDOR_ITEMS[vendor - 1][0]
                document["licences"].append(
                    {
                        "id": licence_id,
                        "name": vendor_name,
                        "client_id": index,
                        "item_id": vendor,
                        "count": users,
                        "price": _VENDOR_ITEMS[vendor - 1][1],
                        "purchase_price": _VENDOR_ITEMS[vendor - 1][2],
                        "billing_cycle": "Monthly",
                        "term_duration": "Annual",
                        "status": "Active",
                        "vendor": "Microsoft" if "Microsoft" in vendor_name else "Vendor",
                        "start_date": _halo_date(start),
                    }
                )
                lines.append(
                    {
                        "_itemid": vendor,
                        "recurring_invoice_quantity_type": 1,
                        "quantity_licences": [{"licence_id": licence_id, "kind": 1}],
                    }
                )
            else:
                lines.append({"_itemid": vendor, "qty_order": float(users)})
        recurring_id -= 1
        document["recurring_invoices"].append(
            {
                "id": recurring_id,
                "client_id": index,
                "reference": "Monthly Billing",
                "notes_1": f"{name} IT Support",
                "contract_id": contract_id,
                "lastcreated": "2025-01-31T00:00:00",
                "nextcreationdate": "2025-02-28T00:00:00",
                "period_start_date": "2025-02-01T00:00:00",
                "period_end_date": "2025-02-28T00:00:00",
                "lines": lines,
            }
        )
        if -recurring_id % 5 == 1:
            invoice_id += 1
            document["invoices"].append(
                {
                    "id": invoice_id,
                    "client_id": index,
                    "reference": "Monthly Billing",
                    "invoice_date": "2025-01-31T00:00:00",
                    "posted": True,
                    "recurring_invoice_id": recurring_id,
                    "lines": [{"_itemid": line["_itemid"], "qty_order": 1.0} for line in lines[:2]],
                }
            )
    return document
