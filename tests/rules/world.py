"""The workspace the rules' tests set rules in: accounts and services, no subscriptions."""

from __future__ import annotations

from collections.abc import Sequence

from halosync.sources.importer import import_document
from halosync.store.database import Database
from halosync.workspaces import create_workspace

TWO_ACCOUNTS = (("A1", "Client 1"), ("A2", "Client 2"))
SERVICES = (("MAIL", "Mail"), ("BKP", "Backup"))


def rules_workspace(
    database: Database,
    name: str = "acme",
    accounts: Sequence[tuple[str, str]] = TWO_ACCOUNTS,
) -> int:
    """A workspace ``name`` with ``accounts`` (reference, name; active and billed) and the
    services MAIL and BKP; its id."""
    workspace = create_workspace(database, name)
    import_document(
        database,
        workspace.id,
        {
            "accounts": [
                {"ref": ref, "name": label, "status": "active", "billed": True}
                for ref, label in accounts
            ],
            "services": [{"ref": ref, "name": label} for ref, label in SERVICES],
            "subscriptions": [],
        },
    )
    return workspace.id
