"""Test Connection: get a token, then probe exactly the permissions a target needs.

Reads are probed with a one-row page; writes with ``POST /api/<Entity>`` and an empty
array, which Halo checks for permission (403) before looking at the body and which
creates and changes nothing. Every probe runs, so all missing permissions are named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from halosync.halopsa.client import HaloApiClient
from halosync.halopsa.errors import HaloError, MissingPermissionError
from halosync.halopsa.permissions import (
    HaloPermission,
    TargetNeeds,
    entity_area,
    missing_permission_fix,
)
from halosync.logging import redact_text

SUCCESS = "Test is successful."
FAILURE = "Test is not successful."


@dataclass(frozen=True)
class TestOutcome:
    """What Test Connection found: success, or the cause and the missing permissions."""

    __test__ = False  # not a pytest test class, despite the name

    success: bool
    cause: str | None = None
    missing_permissions: tuple[HaloPermission, ...] = ()
    tested_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    error_kind: str | None = None

    @property
    def message(self) -> str:
        """ "Test is successful." or "Test is not successful."."""
        return SUCCESS if self.success else FAILURE

    def text(self) -> str:
        """The message with its cause, as shown to the user."""
        if self.success:
            return SUCCESS
        lines = [FAILURE]
        if self.cause:
            lines.append(self.cause)
        return redact_text("\n".join(lines))

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` / API shape."""
        return {
            "success": self.success,
            "message": self.message,
            "cause": redact_text(self.cause) if self.cause else None,
            "missing_permissions": [
                {
                    "scope": p.scope,
                    "us": p.us_wording,
                    "uk": p.uk_wording,
                }
                for p in self.missing_permissions
            ],
            "tested_at": self.tested_at.isoformat(),
        }


def _probes(needs: TargetNeeds) -> list[tuple[HaloPermission, str, str]]:
    """(permission, method, entity) for every permission the target needs."""
    probes: list[tuple[HaloPermission, str, str]] = []
    for permission in needs.permissions:
        pool = needs.writes if permission.access == "edit" else needs.reads
        entity = next(e for e in pool if entity_area(e) == permission.area)
        probes.append((HaloPermission(permission.area, "read"), "GET", entity))
        if permission.access == "edit":
            probes.append((permission, "POST", entity))
    return probes


async def probe_connection(client: HaloApiClient, needs: TargetNeeds) -> TestOutcome:
    """Run Test Connection with ``client`` (whose scopes must be ``needs.scopes``)."""
    try:
        await client.get_token()
    except HaloError as error:
        return TestOutcome(False, cause=str(error), error_kind=error.kind)
    missing: list[HaloPermission] = []
    for permission, method, entity in _probes(needs):
        if permission in missing:
            continue
        try:
            if method == "GET":
                await client.request(
                    method, entity, params={"pageinate": "true", "page_size": "1", "page_no": "1"}
                )
            else:
                await client.request(method, entity, json=[], replay_safe=True)
        except MissingPermissionError:
            if permission.access == "read":
                # Without read, edit cannot be there either.
                edit = HaloPermission(permission.area, "edit")
                if edit in needs.permissions:
                    permission = edit
            if permission not in missing:
                missing.append(permission)
        except HaloError as error:
            return TestOutcome(False, cause=str(error), error_kind=error.kind)
    if missing:
        names = "\n".join(f"- {p.describe()}" for p in missing)
        cause = (
            f"The API application lacks {len(missing)} permission(s) the "
            f"'{needs.target}' target needs:\n{names}\n{missing_permission_fix(missing)}"
        )
        return TestOutcome(
            False, cause=cause, missing_permissions=tuple(missing), error_kind="configuration"
        )
    return TestOutcome(True)
