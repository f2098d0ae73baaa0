"""What a usage sync's write batch leaves besides the ledger: its run results and its audit
entries, each table in one INSERT (executemany) per batch, never one per row. The rows are
made by :mod:`halosync.sync.execute`; this is only their SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from halosync.store.models import AuditEntry, RunResult


def add_run_results(session: Session, rows: list[dict[str, Any]]) -> None:
    """Store a batch's run results (``run_result`` columns -> values) in one statement."""
    if rows:
        session.execute(insert(RunResult), rows)


def add_audit_entries(session: Session, rows: list[dict[str, Any]]) -> None:
    """Store a batch's audit entries (``audit_entry`` columns -> values) in one statement."""
    if rows:
        session.execute(insert(AuditEntry), rows)
