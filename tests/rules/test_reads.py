"""Reading the rules (the rules page, ``halosync rules list``, GET /rules) never waits for a
writer: an import holding SQLite's write lock for seconds does not hold up a page (on
PostgreSQL readers never wait for writers; the test runs there too)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import update

from halosync.rules.service import RuleTarget, effective_rule, exclude, list_rules, rule_history
from halosync.sources.importer import import_document
from halosync.store.database import Database
from halosync.store.models import Account
from halosync.workspaces import create_workspace


def _done_within(seconds: float, call: Callable[[], Any]) -> bool:
    finished = threading.Event()

    def run() -> None:
        call()
        finished.set()

    threading.Thread(target=run, daemon=True).start()
    return finished.wait(seconds)


def test_the_rules_are_read_while_a_writer_holds_the_lock(database: Database) -> None:
    ws = create_workspace(database, "acme").id
    import_document(
        database,
        ws,
        {
            "accounts": [{"ref": "A1", "name": "One", "status": "active", "billed": True}],
            "services": [{"ref": "MAIL", "name": "Mail"}],
            "subscriptions": [],
        },
    )
    exclude(database, ws, RuleTarget(account_ref="A1"), "internal", actor="t")
    with database.session() as writer:
        writer.execute(update(Account).values(name="Renamed"))  # the write lock is held
        assert _done_within(2, lambda: list_rules(database, ws))
        assert _done_within(2, lambda: rule_history(database, ws, account_ref="A1"))
        assert _done_within(2, lambda: effective_rule(database, ws, "A1", "MAIL"))
