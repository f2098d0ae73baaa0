"""Halo's API permission scopes and which of them each entity and verb needs."""

from __future__ import annotations

from collections.abc import Iterable

# The scope names Halo's token endpoint knows (HaloAPI's validated set plus two seen live).
KNOWN_SCOPES: frozenset[str] = frozenset(
    {
        "all",
        "all:standard",
        "all:teams",
        "admin",
        "offline_access",
        "read:tickets",
        "edit:tickets",
        "read:calendar",
        "edit:calendar",
        "read:customers",
        "edit:customers",
        "read:crm",
        "edit:crm",
        "editMine:timesheets",
        "read:timesheets",
        "edit:timesheets",
        "read:contracts",
        "edit:contracts",
        "read:suppliers",
        "edit:suppliers",
        "read:items",
        "edit:items",
        "read:projects",
        "edit:projects",
        "read:sales",
        "edit:sales",
        "read:quotes",
        "edit:quotes",
        "read:sos",
        "edit:sos",
        "read:pos",
        "edit:pos",
        "read:invoices",
        "edit:invoices",
        "read:reporting",
        "edit:reporting",
        "read:software",
        "edit:software",
        "read:softwarelicensing",
        "edit:softwarelicensing",
        "read:kb",
        "edit:kb",
        "read:assets",
        "edit:assets",
        "access:chat",
        "access:adpasswordreset",
    }
)


def unknown_scopes(scopes: Iterable[str]) -> list[str]:
    """The names in ``scopes`` that Halo would reject with ``invalid_scope``."""
    return [scope for scope in scopes if scope not in KNOWN_SCOPES]


def effective_permissions(scopes: Iterable[str]) -> frozenset[str]:
    """Expand granted scopes: ``edit:X`` also grants ``read:X``."""
    granted: set[str] = set()
    for scope in scopes:
        granted.add(scope)
        if scope.startswith("edit:"):
            granted.add("read:" + scope.removeprefix("edit:"))
    return frozenset(granted)


def required_permission(resource: str, method: str) -> str:
    """The permission a request needs: GET reads, anything else edits."""
    verb = "read" if method in ("GET", "HEAD") else "edit"
    return f"{verb}:{resource}"


def allows(permissions: frozenset[str], needed: str) -> bool:
    """Whether a token holding ``permissions`` may do what ``needed`` names."""
    return "all" in permissions or needed in permissions


def parse_scope_field(value: str | None) -> list[str]:
    """Split the OAuth ``scope`` form field (space separated; commas tolerated)."""
    if not value:
        return []
    return [part for part in value.replace(",", " ").split() if part]
