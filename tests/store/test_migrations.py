"""Every migration, applied from empty, yields exactly the models; and they all undo."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from halosync.store.database import Database, head_revision
from halosync.store.migrations import SCHEMA_HEAD, include_object
from halosync.store.models import Base
from tests.busy_database import locked


def _diff(db: Database) -> list[Any]:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_object": include_object,
            },
        )
        return list(compare_metadata(context, Base.metadata))


def _upgrade_downgrade_roundtrip(url: str) -> None:
    db = Database(url)
    try:
        db.migrate()
        assert _diff(db) == []
        tables = set(inspect(db.engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        db.downgrade("base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.migrate()
        assert _diff(db) == []
    finally:
        db.dispose()


def test_migrations_match_models_on_sqlite(sqlite_url: str) -> None:
    _upgrade_downgrade_roundtrip(sqlite_url)


@pytest.mark.postgres
def test_migrations_match_models_on_postgresql(pg_empty_schema_url: str) -> None:
    _upgrade_downgrade_roundtrip(pg_empty_schema_url)


def test_migrate_is_cheap_when_up_to_date(sqlite_url: str) -> None:
    first = Database(sqlite_url)
    first.migrate()
    first.dispose()
    second = Database(sqlite_url)
    statements: list[str] = []

    from sqlalchemy import event

    event.listen(
        second.engine,
        "before_cursor_execute",
        lambda *args: statements.append(str(args[2])),
    )
    second.migrate()
    second.migrate()
    second.dispose()
    assert not any(s.lstrip().upper().startswith(("CREATE", "ALTER")) for s in statements)
    assert len(statements) <= 3


def test_the_head_known_without_alembic_is_alembics_head() -> None:
    assert head_revision() == SCHEMA_HEAD, (
        "A migration was added: set SCHEMA_HEAD in src/halosync/store/migrations/__init__.py "
        f"to {head_revision()!r} (start-ups compare the stored revision with it)."
    )


def test_a_database_behind_the_known_head_is_migrated_by_alembic(sqlite_url: str) -> None:
    behind = Database(sqlite_url)
    _upgrade_to(behind, "0008")
    assert behind.stored_revision() == "0008"
    behind.dispose()
    again = Database(sqlite_url)
    again.migrate()
    assert again.stored_revision() == SCHEMA_HEAD
    assert again.schema_state().is_current
    again.dispose()
    assert Database(f"{sqlite_url}-fresh").stored_revision() is None


def _upgrade_to(db: Database, revision: str) -> None:
    from alembic import command

    from halosync.store.database import alembic_config

    with db.engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


_OLD_RUN_COLUMNS = (
    "id, workspace_id, kind, account_id, trigger, dry_run, status, created_at, counts"
)


def _runs_written_the_old_way(url: str) -> None:
    """Runs as 0006 left them (owner, enqueue time and reference inside ``counts``) come
    out of 0007 with those values in their own columns and only numbers in ``counts``;
    the downgrade puts them back."""
    import json
    from datetime import UTC, datetime

    from sqlalchemy import DateTime, bindparam, text

    # Bound through SQLAlchemy's DateTime, not sqlite3's default adapter (deprecated since
    # Python 3.12, an error under filterwarnings=error).
    at_param = bindparam("at", type_=DateTime())

    db = Database(url)
    try:
        _upgrade_to(db, "0006")
        queued_at = "2026-03-01T08:00:00.123456+00:00"
        old_runs = [
            # Queued by request_sync: enqueue time and the account's reference.
            (1, 1, "queued", {"enqueued_at": queued_at, "account_ref": "A1"}),
            # Claimed by a worker that was then killed: owner and enqueue time.
            (
                2,
                None,
                "failed",
                {"owner": {"host": "web-1", "pid": 4242}, "enqueued_at": queued_at},
            ),
            # Finished: counts only, but of an account known by id alone.
            (3, 1, "succeeded", {"created": 2, "updated": 0, "skipped": 1}),
            # A dry run going on inline: owner next to nothing else.
            (4, None, "running", {"owner": {"host": "cli", "pid": 7}}),
        ]
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO workspace (id, name, created_at) VALUES (1, 'acme', :at)"
                ).bindparams(at_param),
                {"at": datetime(2026, 1, 1)},
            )
            connection.execute(
                text(
                    "INSERT INTO account (id, workspace_id, ref, name, status, billed, "
                    "created_at, updated_at) VALUES (1, 1, 'A1', 'Acme', 'active', true, :at, :at)"
                ).bindparams(at_param),
                {"at": datetime(2026, 1, 1)},
            )
            for run_id, account_id, status, counts in old_runs:
                connection.execute(
                    text(
                        f"INSERT INTO sync_run ({_OLD_RUN_COLUMNS}) VALUES (:id, 1, 'usage', "
                        ":account_id, 'manual', :dry, :status, :at, :counts)"
                    ).bindparams(at_param),
                    {
                        "id": run_id,
                        "account_id": account_id,
                        "dry": run_id == 4,
                        "status": status,
                        "at": datetime(2026, 3, 1),
                        "counts": json.dumps(counts),
                    },
                )
        db.migrate()
        with db.session() as session:
            from halosync.store.models import SyncRun

            runs = {run.id: run for run in session.query(SyncRun)}
            moved = {
                run_id: (
                    run.account_ref,
                    run.owner_host,
                    run.owner_pid,
                    run.enqueued_at,
                    run.counts,
                )
                for run_id, run in runs.items()
            }
        at = datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=UTC)
        assert moved == {
            1: ("A1", None, None, at, {}),
            2: (None, "web-1", 4242, at, {}),
            3: ("A1", None, None, None, {"created": 2, "updated": 0, "skipped": 1}),
            4: (None, "cli", 7, None, {}),
        }
        db.downgrade("0006")
        with db.engine.connect() as connection:
            restored = {
                run_id: json.loads(counts) if isinstance(counts, str) else counts
                for run_id, counts in connection.execute(text("SELECT id, counts FROM sync_run"))
            }
        assert restored[1] == {"enqueued_at": queued_at, "account_ref": "A1"}
        assert restored[2] == {"owner": {"host": "web-1", "pid": 4242}, "enqueued_at": queued_at}
        assert restored[3] == {"created": 2, "updated": 0, "skipped": 1, "account_ref": "A1"}
        assert restored[4] == {"owner": {"host": "cli", "pid": 7}}
    finally:
        db.dispose()


def test_runs_written_the_old_way_move_to_columns_on_sqlite(sqlite_url: str) -> None:
    _runs_written_the_old_way(sqlite_url)


@pytest.mark.postgres
def test_runs_written_the_old_way_move_to_columns_on_postgresql(pg_empty_schema_url: str) -> None:
    _runs_written_the_old_way(pg_empty_schema_url)


def test_the_one_active_run_index_stays_partial_on_sqlite(sqlite_url: str) -> None:
    """Adding the run columns must not lose the index's WHERE clause (a batch copy could)."""
    from sqlalchemy import text

    db = Database(sqlite_url)
    try:
        db.migrate()
        with db.engine.connect() as connection:
            sql = connection.execute(
                text("SELECT sql FROM sqlite_master WHERE name = :name"),
                {"name": "uq_sync_run_one_active_per_workspace"},
            ).scalar_one()
        assert "WHERE status IN ('queued', 'running') AND dry_run = false" in sql
    finally:
        db.dispose()


def test_existing_workspaces_take_over_existing_lines_from_0009(sqlite_url: str) -> None:
    """0009 gives existing workspaces the new default (false was never a choice before);
    an invoice_line workspace is told in its activity log, and nothing else is touched."""
    from datetime import datetime

    from sqlalchemy import DateTime, bindparam, text

    at_param = bindparam("at", type_=DateTime())
    db = Database(sqlite_url)
    try:
        _upgrade_to(db, "0008")
        with db.engine.begin() as connection:
            for ws_id, target in ((1, "invoice_line"), (2, "licence")):
                connection.execute(
                    text(
                        "INSERT INTO workspace (id, name, created_at, target) "
                        "VALUES (:id, :name, :at, :target)"
                    ).bindparams(at_param),
                    {
                        "id": ws_id,
                        "name": f"ws{ws_id}",
                        "at": datetime(2026, 1, 1),
                        "target": target,
                    },
                )
            connection.execute(
                text(
                    "INSERT INTO account (id, workspace_id, ref, name, status, billed, "
                    "created_at, updated_at) VALUES (1, 1, 'A1', 'Acme', 'active', true, :at, :at)"
                ).bindparams(at_param),
                {"at": datetime(2026, 1, 1)},
            )
        db.migrate()
        with db.engine.connect() as connection:
            adopt = {
                row[0]: bool(row[1])
                for row in connection.execute(
                    text("SELECT id, adopt_existing_lines FROM workspace")
                )
            }
            logs = connection.execute(
                text("SELECT workspace_id, title, details FROM log_entry")
            ).all()
            accounts = connection.execute(text("SELECT count(*) FROM account")).scalar_one()
        assert adopt == {1: True, 2: True}
        assert [(row[0], row[1]) for row in logs] == [(1, "Sync settings changed")]
        assert "only lines halosync adds" in logs[0][2]
        assert accounts == 1
    finally:
        db.dispose()


def test_upgrading_keeps_every_workspace_row_on_sqlite(sqlite_url: str) -> None:
    """No migration rebuilds a table others cascade from: on SQLite, with foreign keys on,
    dropping the old ``workspace`` table in a batch copy deleted every account (0006 did)."""
    from datetime import datetime

    from sqlalchemy import DateTime, bindparam, text

    at = bindparam("at", type_=DateTime())
    db = Database(sqlite_url)
    try:
        _upgrade_to(db, "0001")
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO workspace (id, name, created_at) VALUES (1, 'acme', :at)"
                ).bindparams(at),
                {"at": datetime(2026, 1, 1)},
            )
            connection.execute(
                text(
                    "INSERT INTO account (id, workspace_id, ref, name, status, billed, "
                    "created_at, updated_at) VALUES (1, 1, 'A1', 'Acme', 'active', true, :at, :at)"
                ).bindparams(at),
                {"at": datetime(2026, 1, 1)},
            )
        db.migrate()
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT ref FROM account")).scalars().all() == ["A1"]
            limit = connection.execute(text("SELECT snapshot_cancel_limit_percent FROM workspace"))
            assert limit.scalar() == 50
    finally:
        db.dispose()


def test_workspaces_already_set_up_keep_their_schedules_from_0013(sqlite_url: str) -> None:
    """0013 gates the schedules on Finish; a workspace with a connection, a mapped account
    and a mapped service was already set up, so it counts as finished (and is told so); a
    workspace mid-setup is not."""
    from datetime import datetime

    from sqlalchemy import DateTime, bindparam, text

    at_param = bindparam("at", type_=DateTime())
    db = Database(sqlite_url)
    try:
        _upgrade_to(db, "0012")
        statements = [
            "INSERT INTO workspace (id, name, created_at) VALUES (1, 'done', :at)",
            "INSERT INTO workspace (id, name, created_at) VALUES (2, 'midway', :at)",
            *(
                "INSERT INTO halo_connection (workspace_id, server_url, client_id, "
                f"client_secret_encrypted, configured_at) VALUES ({ws}, 'https://h', 'c', "
                "'x', :at)"
                for ws in (1, 2)
            ),
            *(
                "INSERT INTO account (id, workspace_id, ref, name, status, billed, created_at, "
                f"updated_at) VALUES ({ws}, {ws}, 'A', 'Acme', 'active', true, :at, :at)"
                for ws in (1, 2)
            ),
            *(
                "INSERT INTO account_mapping (workspace_id, account_id, halo_client_id, "
                f"mapped_at) VALUES ({ws}, {ws}, 7, :at)"
                for ws in (1, 2)
            ),
            "INSERT INTO service (id, workspace_id, ref, name) VALUES (1, 1, 'S', 'Mail')",
            "INSERT INTO service_mapping (workspace_id, service_id, halo_item_id, mapped_at) "
            "VALUES (1, 1, 3, :at)",
        ]
        with db.engine.begin() as connection:
            for statement in statements:
                query = text(statement)
                if ":at" in statement:
                    query = query.bindparams(at_param)
                connection.execute(query, {"at": datetime(2026, 1, 1)})
        db.migrate()
        with db.engine.connect() as connection:
            finished = {
                row[0]: row[1] is not None
                for row in connection.execute(text("SELECT id, setup_finished_at FROM workspace"))
            }
            logs = connection.execute(text("SELECT workspace_id, title FROM log_entry")).all()
        assert finished == {1: True, 2: False}
        assert [tuple(row) for row in logs] == [(1, "Setup finished")]
    finally:
        db.dispose()


def _quantities_become_decimals(url: str) -> None:
    """0025: a stored count keeps its value, a fraction is stored exactly from then on, a
    negative one is still refused, and the downgrade refuses to cut a fraction."""
    from datetime import datetime

    from sqlalchemy import DateTime, bindparam, text
    from sqlalchemy.exc import IntegrityError

    at = bindparam("at", type_=DateTime())
    db = Database(url)
    try:
        _upgrade_to(db, "0024")
        with db.engine.begin() as connection:
            for statement in (
                "INSERT INTO workspace (id, name, created_at) VALUES (1, 'acme', :at)",
                "INSERT INTO account (id, workspace_id, ref, name, status, billed, created_at, "
                "updated_at) VALUES (1, 1, 'A1', 'Acme', 'active', true, :at, :at)",
                "INSERT INTO service (id, workspace_id, ref, name) VALUES (1, 1, 'S1', 'Mail')",
                "INSERT INTO subscription (workspace_id, account_id, service_id, quantity, "
                "start_date, billing_cycle, term, updated_at) VALUES (1, 1, 1, 2147483647, "
                "'2026-01-01', 'Monthly', 'Monthly', :at)",
                "INSERT INTO ledger_entry (workspace_id, account_id, service_id, target, "
                "halo_client_id, state, marker, apart_term, last_quantity) VALUES (1, 1, 1, "
                "'licence', 7, 'pending', 'm', '', 12)",
            ):
                query = text(statement).bindparams(at) if ":at" in statement else text(statement)
                connection.execute(query, {"at": datetime(2026, 1, 1)})
        db.migrate()
        read = "SELECT quantity FROM subscription UNION ALL SELECT last_quantity FROM ledger_entry"
        with db.engine.begin() as connection:
            assert [Decimal(str(v)) for v in connection.execute(text(read)).scalars()] == [
                2147483647,
                12,
            ]
            connection.execute(text("UPDATE subscription SET quantity = 12.4"))
            connection.execute(text("UPDATE ledger_entry SET last_quantity = 2.5"))
            assert [Decimal(str(v)) for v in connection.execute(text(read)).scalars()] == [
                Decimal("12.4"),
                Decimal("2.5"),
            ]
        with pytest.raises(IntegrityError), db.engine.begin() as connection:
            connection.execute(text("UPDATE subscription SET quantity = -0.5"))
        with pytest.raises(RuntimeError, match=r"subscription.quantity hold a fractional"):
            db.downgrade("0024")
        with db.engine.begin() as connection:
            connection.execute(text("UPDATE subscription SET quantity = 13"))
            connection.execute(text("UPDATE ledger_entry SET last_quantity = 3"))
        db.downgrade("0024")
        with db.engine.connect() as connection:
            assert list(connection.execute(text(read)).scalars()) == [13, 3]
    finally:
        db.dispose()


def test_quantities_become_decimals_on_sqlite(sqlite_url: str) -> None:
    _quantities_become_decimals(sqlite_url)


@pytest.mark.postgres
def test_quantities_become_decimals_on_postgresql(pg_empty_schema_url: str) -> None:
    _quantities_become_decimals(pg_empty_schema_url)


def test_approvals_made_before_0023_are_taken_as_used(sqlite_url: str) -> None:
    """An approval from before approvals recorded the run that used them does not apply
    again (spent), so the next sync neither writes its value unasked nor withdraws it;
    a pending item waits as before."""
    from datetime import datetime

    from sqlalchemy import DateTime, bindparam, text

    at = bindparam("at", type_=DateTime())
    db = Database(sqlite_url)
    try:
        _upgrade_to(db, "0022")
        with db.engine.begin() as connection:
            for statement in (
                "INSERT INTO workspace (id, name, created_at) VALUES (1, 'acme', :at)",
                "INSERT INTO account (id, workspace_id, ref, name, status, billed, created_at, "
                "updated_at) VALUES (1, 1, 'A1', 'Acme', 'active', true, :at, :at)",
                "INSERT INTO service (id, workspace_id, ref, name) VALUES (1, 1, 'MAIL', 'Mail')",
            ):
                bound = text(statement).bindparams(at) if ":at" in statement else text(statement)
                connection.execute(bound, {"at": datetime(2026, 1, 1)})
            for item_id, status in ((1, "approved"), (2, "pending"), (3, "rejected")):
                connection.execute(
                    text(
                        "INSERT INTO review_item (id, workspace_id, account_id, service_id, "
                        "proposal_key, target, action, after, reasons, status, first_seen_at, "
                        "last_seen_at) VALUES (:id, 1, 1, 1, :key, 'licence', 'update', '{}', "
                        "'r', :status, :at, :at)"
                    ).bindparams(at),
                    {
                        "id": item_id,
                        "key": f"k{item_id}",
                        "status": status,
                        "at": datetime(2026, 1, 1),
                    },
                )
        db.migrate()
        with db.engine.connect() as connection:
            rows = connection.execute(text("SELECT id, spent_run_id FROM review_item"))
            spent: dict[int, int | None] = dict(rows.all())
        assert spent == {1: 0, 2: None, 3: None}
    finally:
        db.dispose()


def test_the_schema_check_reads_without_waiting_for_a_writer(sqlite_url: str) -> None:
    """Every command checks the schema first (``open_database``): while another process
    held SQLite's write lock (an import holds it as long as it takes: 24 s for 1,000,000
    rows), even ``halosync logs`` and ``workspace list`` waited for it, and after the busy
    timeout failed with a raw 'database is locked' traceback (64 s: two waits)."""
    first = Database(sqlite_url)
    first.migrate()
    first.dispose()
    checking = Database(sqlite_url)
    with locked(checking):  # halosync's connections would wait no time at all
        checking.migrate()
        assert checking.schema_state().is_current
        assert checking.stored_revision() == SCHEMA_HEAD
    checking.dispose()
