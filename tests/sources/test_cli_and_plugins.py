"""The commands that feed usage in, run as a user runs them, and the plug-in sources."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from halosync.errors import NotFoundError
from halosync.sources.csv_directory import CsvDirectorySource
from halosync.sources.errors import ImportValidationError, Location
from halosync.sources.importer import import_records
from halosync.sources.plugins import SourceRecord, UsageSource, list_sources, load_source
from halosync.store.database import Database
from halosync.store.usage import SubscriptionRepository
from tests.cli_inprocess import data_folder, home_env, run_cli
from tests.sources.conftest import GOOD_CSV, HEADER


def test_workspace_import_and_tokens_through_the_cli(tmp_path: Path) -> None:
    data = data_folder(tmp_path)
    usage = tmp_path / "usage.csv"
    usage.write_text(GOOD_CSV, encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{HEADER}\nA1,Acme,active,nope,S1,Mail,1,2024-01-01,,m,t,,,\n", "utf-8")
    # In this process (tests/unit/test_cli_exit_status.py runs the real one): the database
    # is the data directory's default.
    env = {"HALOSYNC_DATA_DIR": str(data), "HOME": str(tmp_path)}
    errors: list[str] = []

    def halosync(*args: str, status: int = 0) -> Any:
        code, out, err = run_cli(env, *args, "--json")
        errors.append(err)
        assert code == status, err
        return json.loads(out)

    assert halosync("workspace", "create", "acme")["name"] == "acme"
    created = halosync("import", str(usage))  # --workspace left out: only one exists
    assert created["subscriptions"]["created"] == 3
    again = halosync("import", "--workspace", "acme", str(usage))
    assert again["subscriptions"] == {"created": 0, "updated": 0, "unchanged": 3}
    refused = halosync("import", "--workspace", "acme", str(bad), status=1)
    assert refused["errors"] == [
        {"location": "line 2, column billed", "message": 'must be true or false, got "nope"'}
    ]
    assert "line 2, column billed" in errors[-1]
    token = halosync("token", "create", "--workspace", "acme", "--name", "ci", "--role", "viewer")
    assert token["role"] == "viewer"
    assert token["token"].startswith("hs_")
    listed = halosync("workspace", "list")
    assert [w["name"] for w in listed] == ["acme"]
    rotation = halosync("keys", "rotate")
    assert rotation["new_key"] is True
    assert (data / "secret.key").exists()
    assert token["token"] not in "".join(errors)


def test_missing_workspace_is_a_clear_error(tmp_path: Path) -> None:
    code, _out, err = run_cli(home_env(tmp_path), "import", str(tmp_path / "x.csv"))
    assert code == 1
    assert "There is no workspace yet" in err


def test_csv_directory_is_discovered_through_its_entry_point() -> None:
    names = {source.name: source for source in list_sources()}
    assert "csv-directory" in names
    assert names["csv-directory"].target == "halosync.sources.csv_directory:CsvDirectorySource"
    with pytest.raises(NotFoundError, match="No usage source named 'nope'"):
        load_source("nope", {})


def test_csv_directory_runs_like_an_import(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    lines = GOOD_CSV.splitlines()
    (exports / "a.csv").write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    (exports / "b.csv").write_text("\n".join([lines[0], lines[3]]) + "\n", encoding="utf-8")
    (exports / "notes.txt").write_text("ignored", encoding="utf-8")
    source = load_source("csv-directory", {"path": str(exports)})
    assert isinstance(source, UsageSource)
    report = import_records(database, workspace_id, source.records())
    assert (report.accounts.created, report.subscriptions.created) == (2, 3)


def test_csv_directory_errors_name_the_file(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    (tmp_path / "good.csv").write_text(GOOD_CSV, encoding="utf-8")
    (tmp_path / "headerless.csv").write_text("just,some,columns\n", encoding="utf-8")
    (tmp_path / "rows.csv").write_text(
        f"{HEADER}\nA1,Acme Ltd,active,true,S1,Email Security,x,2024-01-01,,m,t,,,\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportValidationError) as caught:
        import_records(database, workspace_id, CsvDirectorySource(str(tmp_path)).records())
    locations = [e.location for e in caught.value.errors]
    assert locations == ["headerless.csv line 1 (header)", "rows.csv line 2, column quantity"]


def test_a_plug_in_source_sends_fractional_counts_through_the_same_parser(
    database: Database, workspace_id: int
) -> None:
    """A plug-in's subscription record (JSON-typed: a float, a Decimal or text) and its
    CSV-style row (text) are read like an import: exactly, or refused naming the field."""
    account = {"ref": "A1", "name": "Acme", "status": "active", "billed": True}
    subscription = {
        "account_ref": "A1",
        "service_ref": "GB",
        "start_date": "2024-01-01",
        "billing_cycle": "monthly",
    }
    records = [
        SourceRecord("account", account, Location("$.a")),
        SourceRecord("service", {"ref": "GB", "name": "Storage GB"}, Location("$.s")),
        SourceRecord(
            "subscription", {**subscription, "term": "m", "quantity": 12.4}, Location("$.1")
        ),
        SourceRecord(
            "subscription",
            {**subscription, "term": "y", "quantity": Decimal("2.5")},
            Location("$.2"),
        ),
        SourceRecord(
            "subscription", {**subscription, "term": "w", "quantity": "0.0001"}, Location("$.3")
        ),
    ]
    report = import_records(database, workspace_id, iter(records))
    assert report.subscriptions.created == 3
    with database.session() as session:
        stored = {s.term: s.quantity for s in SubscriptionRepository(session, workspace_id).all()}
    assert stored == {"m": Decimal("12.4"), "y": Decimal("2.5"), "w": Decimal("0.0001")}
    bad = SourceRecord(
        "subscription", {**subscription, "term": "d", "quantity": 1.00001}, Location("$.4", "path")
    )
    with pytest.raises(ImportValidationError) as caught:
        import_records(database, workspace_id, iter([bad]))
    assert [str(e) for e in caught.value.errors] == [
        "$.4.quantity: must be a number from 0 to 2147483647 with at most 4 decimal places, "
        "got 1.00001"
    ]
