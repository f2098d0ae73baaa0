"""Which Halo API permissions each target needs, named the way Halo's UI names them.

Halo's UI wording differs between its US and UK language packs (Clients vs Customers,
Items vs Assets, Client Contracts vs Customer Agreements); errors and docs give both so
an admin finds the tick-box whichever wording their instance shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Target = Literal["licence", "invoice_line"]
Access = Literal["read", "edit"]
TARGETS: tuple[Target, ...] = ("licence", "invoice_line")


@dataclass(frozen=True)
class PermissionArea:
    """One of Halo's permission areas (the part of a scope after the colon)."""

    key: str
    us_name: str
    uk_name: str


CUSTOMERS = PermissionArea("customers", "Clients", "Customers")
ITEMS = PermissionArea("items", "Items", "Assets")
INVOICES = PermissionArea("invoices", "Invoices", "Invoices")
CONTRACTS = PermissionArea("contracts", "Client Contracts", "Customer Agreements")
SOFTWARE_LICENSING = PermissionArea(
    "softwarelicensing", "Software Licensing / Subscriptions", "Software Licences / Subscriptions"
)

# Which area gates each entity (route names are case-insensitive in Halo).
_ENTITY_AREAS: dict[str, PermissionArea] = {
    "client": CUSTOMERS,
    "site": CUSTOMERS,
    "item": ITEMS,
    "invoice": INVOICES,
    "recurringinvoice": INVOICES,
    "clientcontract": CONTRACTS,
    "softwarelicence": SOFTWARE_LICENSING,
}


@dataclass(frozen=True)
class HaloPermission:
    """One scope (``read:customers``) with the words Halo's UI uses for it."""

    area: PermissionArea
    access: Access

    @property
    def scope(self) -> str:
        """The OAuth scope string, e.g. ``edit:softwarelicensing``."""
        return f"{self.access}:{self.area.key}"

    @property
    def us_wording(self) -> str:
        """E.g. ``Clients (read)``."""
        return f"{self.area.us_name} ({self._access_words})"

    @property
    def uk_wording(self) -> str:
        """E.g. ``Customers (read)``."""
        return f"{self.area.uk_name} ({self._access_words})"

    @property
    def _access_words(self) -> str:
        return "read" if self.access == "read" else "read and edit"

    def describe(self) -> str:
        """Both wordings and the scope, e.g. ``Clients / Customers (read) [read:customers]``."""
        if self.area.us_name == self.area.uk_name:
            names = self.area.us_name
        else:
            names = f"{self.area.us_name} (US) / {self.area.uk_name} (UK)"
        return f"{names}: {self._access_words} [{self.scope}]"


def entity_area(entity: str) -> PermissionArea | None:
    """The permission area gating an entity path such as ``SoftwareLicence/12``."""
    head = entity.strip("/").split("/", 1)[0].split("?", 1)[0].lower()
    return _ENTITY_AREAS.get(head)


def permission_for(entity: str, method: str) -> HaloPermission | None:
    """The permission a request needs: GET needs read, every other verb needs edit."""
    area = entity_area(entity)
    if area is None:
        return None
    return HaloPermission(area, "read" if method.upper() == "GET" else "edit")


@dataclass(frozen=True)
class TargetNeeds:
    """What one target reads and writes in Halo, hence exactly which permissions it needs."""

    target: Target
    reads: tuple[str, ...]
    writes: tuple[str, ...]

    @property
    def permissions(self) -> tuple[HaloPermission, ...]:
        """Least-privilege permissions: edit where the target writes, else read."""
        result: list[HaloPermission] = []
        for entity in self.writes:
            area = entity_area(entity)
            assert area is not None
            result.append(HaloPermission(area, "edit"))
        written = {p.area for p in result}
        for entity in self.reads:
            area = entity_area(entity)
            assert area is not None
            if area not in written and all(p.area != area for p in result):
                result.append(HaloPermission(area, "read"))
        return tuple(result)

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes to request in the token call (``edit:X`` implies ``read:X``)."""
        return tuple(p.scope for p in self.permissions)


TARGET_NEEDS: dict[Target, TargetNeeds] = {
    "licence": TargetNeeds(
        "licence", reads=("Client", "Item", "SoftwareLicence"), writes=("SoftwareLicence",)
    ),
    "invoice_line": TargetNeeds(
        "invoice_line", reads=("Client", "Item", "RecurringInvoice"), writes=("RecurringInvoice",)
    ),
}


def needs_for(target: str) -> TargetNeeds:
    """The needs of a target by name; raises ValueError naming the valid targets."""
    if target not in TARGET_NEEDS:
        raise ValueError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
    return TARGET_NEEDS[target]


def missing_permission_fix(permissions: tuple[HaloPermission, ...] | list[HaloPermission]) -> str:
    """The plain-words fix for missing permissions."""
    names = "; ".join(p.describe() for p in permissions)
    return (
        f"Give the API application these permissions: {names}. In Halo: Configuration > "
        "Integrations > HaloPSA API > View Applications > your application > Permissions; "
        "the agent the application logs in as needs them too."
    )
