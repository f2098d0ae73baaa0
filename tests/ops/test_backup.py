"""``halosync db backup``: an online, consistent, owner-only copy of a live SQLite database."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

from sqlalchemy import select

from halosync.ops.backup import backup_sqlite
from halosync.store.database import Database
from halosync.store.models import Workspace
from halosync.store.workspaces import WorkspaceRepository
from tests.e2e.cli import Cli, cli_environment
from tests.schema_template import migrated


def _names(url: str) -> list[str]:
    database = Database(url)
    try:
        with database.session() as session:
            return list(session.scalars(select(Workspace.name).order_by(Workspace.name)))
    finally:
        database.dispose()


def test_backup_copies_a_live_database_without_uncommitted_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    database = migrated(Database(url))
    with database.session() as session:
        WorkspaceRepository(session).create("committed")
    # A writer is mid-transaction while the backup runs (WAL lets both go on).
    writer = sqlite3.connect(tmp_path / "live.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute(
        "INSERT INTO workspace (name, target, created_at) "
        "SELECT 'uncommitted', target, created_at FROM workspace LIMIT 1"
    )
    try:
        report = backup_sqlite(url, tmp_path / "copy.db")
    finally:
        writer.execute("COMMIT")
        writer.close()
    assert report.destination == tmp_path / "copy.db"
    assert stat.S_IMODE((tmp_path / "copy.db").stat().st_mode) == 0o600
    assert not (tmp_path / "copy.db-wal").exists()
    assert _names(f"sqlite:///{tmp_path / 'copy.db'}") == ["committed"]
    assert _names(url) == ["committed", "uncommitted"]
    database.dispose()


def test_backup_command_refuses_to_overwrite_and_refuses_postgres(tmp_path: Path) -> None:
    cli = Cli(cli_environment(tmp_path))
    assert cli.in_process("workspace", "create", "acme").returncode == 0
    target = tmp_path / "backups" / "halosync-1.db"
    target.parent.mkdir()
    done = cli.in_process("db", "backup", str(target), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["backup"] == str(target)
    assert _names(f"sqlite:///{target}") == ["acme"]

    again = cli.in_process("db", "backup", str(target))
    assert again.returncode == 1
    assert f"{target} already exists" in again.stderr
    assert "--overwrite" in again.stderr
    assert cli.in_process("db", "backup", str(target), "--overwrite").returncode == 0
    assert not list(target.parent.glob(".*partial"))

    cli.env["HALOSYNC_DATABASE_URL"] = "postgresql+psycopg://halosync:pg-pw-hidden@db:5432/halo"
    refused = cli.in_process("db", "backup", str(tmp_path / "pg.db"))
    assert refused.returncode == 1
    assert "pg_dump --format=custom" in refused.stderr
    assert "postgresql://halosync:***@db:5432/halo" in refused.stderr
    assert "pg-pw-hidden" not in refused.stderr


def test_db_status_and_upgrade(tmp_path: Path) -> None:
    cli = Cli(cli_environment(tmp_path))
    empty = cli.in_process("db", "status", "--json")
    assert empty.returncode == 1
    assert json.loads(empty.stdout)["current"] is None
    assert "halosync db upgrade" in empty.stderr
    upgraded = cli.in_process("db", "upgrade", "--json")
    assert json.loads(upgraded.stdout)["changed"] is True
    assert cli.in_process("db", "status").returncode == 0
    assert "already current" in cli.in_process("db", "upgrade").stdout
