"""An upload imported by a child process answers exactly as one imported in place."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from halosync.domain.snapshot import MassCancel
from halosync.sources.errors import ImportValidationError, MassCancelError
from halosync.sources.importer import IdempotencyKeyReusedError, import_file
from halosync.sources.upload import import_upload, upsert_upload
from halosync.store.database import Database
from halosync.store.usage import SubscriptionRepository
from halosync.store.workspaces import WorkspaceRepository
from tests.sources.conftest import GOOD_CSV, HEADER

BAD_CSV = f"""{HEADER}
A1,Acme Ltd,activ,true,S1,Email Security,10,2024-01-01,,monthly,12 months,,,
A2,Beta Inc,active,maybe,S1,Email Security,-5,2024-02-01,,monthly,12 months,,,
"""


def _spooled(tmp_path: Path, name: str, content: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    path = folder / "upload.csv"
    path.write_text(content, encoding="utf-8")
    return path


def test_a_bad_file_is_refused_with_the_same_rows_and_fields_named(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    with pytest.raises(ImportValidationError) as here:
        import_file(database, workspace_id, _spooled(tmp_path, "here", BAD_CSV))
    with pytest.raises(ImportValidationError) as child:
        import_upload(database, workspace_id, _spooled(tmp_path, "child", BAD_CSV), inline_limit=0)
    assert child.value.errors == here.value.errors
    assert child.value.total == here.value.total == 3
    assert str(child.value) == str(here.value)
    assert "line 2, column account_status" in str(child.value)


def test_a_good_file_is_written_once_and_reported(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    report = import_upload(
        database, workspace_id, _spooled(tmp_path, "first", GOOD_CSV), inline_limit=0
    )
    assert report.rows == 3
    assert (report.accounts.created, report.subscriptions.created) == (2, 3)
    with database.reading() as session:
        assert SubscriptionRepository(session, workspace_id).count() == 3
    again = import_upload(
        database, workspace_id, _spooled(tmp_path, "again", GOOD_CSV), inline_limit=0
    )
    assert not again.changed


def test_a_refusal_crosses_the_process_boundary_whole() -> None:
    """Every attribute a caller reads survives the child's answer (pickled)."""
    refusal = MassCancel(reason="share", would_cancel=3, active=4, limit_percent=50)
    error = MassCancelError(refusal, [("A1", "S1", "Monthly")])
    error.fix = "Send allow_mass_cancel=true."
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 (made here)
    assert type(copy) is MassCancelError
    assert (copy.refusal, copy.cancelled, copy.fix, str(copy)) == (
        refusal,
        [("A1", "S1", "Monthly")],
        error.fix,
        str(error),
    )


def test_an_in_memory_database_is_imported_in_place(tmp_path: Path) -> None:
    database = Database("sqlite:///:memory:")
    try:
        assert not database.shared_by_processes
        database.migrate()
        with database.session() as session:
            workspace_id = WorkspaceRepository(session).create("acme").id
        path = _spooled(tmp_path, "memory", GOOD_CSV)
        assert import_upload(database, workspace_id, path, inline_limit=0).rows == 3
    finally:
        database.dispose()


# On SQLite only: a child writing into the right PostgreSQL schema (the URL and its options
# handed over on stdin) is checked by the good file's test above, the key kept on PostgreSQL
# by tests/sources/test_upsert_usage.py; four more children here would add neither.
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_json_upsert_in_a_child_keeps_its_paths_and_its_idempotency_key(
    database: Database, workspace_id: int
) -> None:
    bad = json.dumps({"accounts": [{"ref": "J1", "name": "Json", "status": "activ"}]}).encode()
    with pytest.raises(ImportValidationError) as refused:
        upsert_upload(database, workspace_id, bad, inline_limit=0)
    assert "$.accounts[0].status" in str(refused.value)
    good = json.dumps(
        {"accounts": [{"ref": "J1", "name": "Json", "status": "active", "billed": True}]}
    ).encode()
    first = upsert_upload(database, workspace_id, good, idempotency_key="k1", inline_limit=0)
    assert (first.replayed, first.report["accounts"]["created"]) == (False, 1)
    again = upsert_upload(database, workspace_id, good, idempotency_key="k1", inline_limit=0)
    assert again.replayed
    assert again.report == first.report
    with pytest.raises(IdempotencyKeyReusedError):
        upsert_upload(database, workspace_id, bad, idempotency_key="k1", inline_limit=0)
