"""An empty or truncated snapshot cannot cancel every subscription (and so zero every bill).

``import --snapshot`` of a header-only file would cancel every subscription, and the next
sync would set every count in HaloPSA to 0. It is refused, as is any snapshot that would
cancel more than the workspace's limit, unless the operator says so explicitly; the
refusal says what it would have done and changes nothing.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from halosync.sources.errors import MassCancelError
from halosync.sources.importer import import_document, import_file
from halosync.store.database import Database
from halosync.store.usage import SubscriptionRepository
from halosync.store.workspaces import WorkspaceRepository
from halosync.sync.workspace_settings import SyncSettingsChange, update_sync_settings
from tests.cli_inprocess import home_env, run_cli
from tests.sources.conftest import HEADER

ROW = "A{n},Account {n},active,true,S1,Mail,{q},2024-01-01,,monthly,12 months,,,\n"


def _csv(tmp_path: Path, name: str, accounts: range, quantity: int = 5) -> Path:
    path = tmp_path / name
    path.write_text(
        HEADER + "\n" + "".join(ROW.format(n=n, q=quantity) for n in accounts), encoding="utf-8"
    )
    return path


def _statuses(database: Database, workspace_id: int) -> dict[str, str | None]:
    with database.session() as session:
        return {
            s.account.ref: s.status for s in SubscriptionRepository(session, workspace_id).all()
        }


@pytest.mark.parametrize("empty", ["header.csv", "empty.json", "lists.json"])
def test_an_empty_snapshot_is_refused_says_what_it_would_do_and_changes_nothing(
    database: Database, workspace_id: int, tmp_path: Path, empty: str
) -> None:
    import_file(database, workspace_id, _csv(tmp_path, "full.csv", range(12)))
    before = _statuses(database, workspace_id)
    path = tmp_path / empty
    path.write_text(
        {
            "header.csv": HEADER + "\n",
            "empty.json": "{}",
            "lists.json": '{"accounts": [], "services": [], "subscriptions": []}',
        }[empty],
        encoding="utf-8",
    )
    with pytest.raises(MassCancelError) as caught:
        import_file(database, workspace_id, path, snapshot=True)
    message = str(caught.value)
    assert message.startswith(
        "The snapshot lists no subscriptions, so it would cancel 12 of 12 subscriptions "
        "(every active one) and the next sync would set their counts in HaloPSA to 0. "
        "Nothing was changed. It would cancel: A0 / S1 (12 months), A1 / S1 (12 months), "
        "A10 / S1 (12 months), A11 / S1 (12 months), A2 / S1 (12 months), "
        "A3 / S1 (12 months), A4 / S1 (12 months), A5 / S1 (12 months), "
        "A6 / S1 (12 months), A7 / S1 (12 months) and 2 more."
    )
    assert caught.value.as_dict()["would_cancel"] == 12
    assert _statuses(database, workspace_id) == before
    # Without --snapshot an empty file is harmless, and with the override it is obeyed.
    assert not import_file(database, workspace_id, path).changed
    report = import_file(database, workspace_id, path, snapshot=True, allow_mass_cancel=True)
    assert len(report.cancelled) == 12
    assert set(_statuses(database, workspace_id).values()) == {"cancelled"}


def test_a_snapshot_cancelling_more_than_the_limit_is_refused_with_the_numbers(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    import_file(database, workspace_id, _csv(tmp_path, "full.csv", range(1240)))
    # A truncated export: only the first 6 of 1,240 accounts.
    truncated = _csv(tmp_path, "cut.csv", range(6), quantity=7)
    with pytest.raises(MassCancelError) as caught:
        import_file(database, workspace_id, truncated, snapshot=True)
    assert str(caught.value).startswith(
        "The snapshot would cancel 1,234 of 1,240 subscriptions (99.5 % of the workspace's "
        "active ones), more than its limit of 50 %. Nothing was changed."
    )
    with database.session() as session:
        quantities = {s.quantity for s in SubscriptionRepository(session, workspace_id).all()}
        statuses = {s.status for s in SubscriptionRepository(session, workspace_id).all()}
    assert (quantities, statuses) == ({Decimal(5)}, {None})  # not even the 6 updates were written


def test_the_limit_is_a_workspace_setting_and_normal_churn_passes(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    import_file(database, workspace_id, _csv(tmp_path, "full.csv", range(10)))
    # Half the accounts gone: at the default limit (50 %) exactly half may go.
    report = import_file(database, workspace_id, _csv(tmp_path, "h.csv", range(5)), snapshot=True)
    assert len(report.cancelled) == 5
    import_file(database, workspace_id, _csv(tmp_path, "full.csv", range(10)))  # back again
    update_sync_settings(
        database, workspace_id, SyncSettingsChange(snapshot_cancel_limit_percent=20), confirmed=True
    )
    with pytest.raises(MassCancelError, match=r"would cancel 3 of 10 .* limit of 20 %"):
        import_file(database, workspace_id, _csv(tmp_path, "s.csv", range(7)), snapshot=True)
    update_sync_settings(
        database,
        workspace_id,
        SyncSettingsChange(snapshot_cancel_limit_percent=100),
        confirmed=True,
    )
    report = import_file(database, workspace_id, _csv(tmp_path, "one.csv", range(1)), snapshot=True)
    assert len(report.cancelled) == 9
    # Even with no limit an empty list is not the vendor's word.
    with pytest.raises(MassCancelError, match="lists no subscriptions"):
        import_document(database, workspace_id, {}, snapshot=True)


def test_already_cancelled_subscriptions_do_not_count(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    import_file(database, workspace_id, _csv(tmp_path, "full.csv", range(10)))
    import_file(
        database,
        workspace_id,
        _csv(tmp_path, "two.csv", range(2)),
        snapshot=True,
        allow_mass_cancel=True,
    )
    # 2 active, 8 cancelled: a snapshot of one of the two cancels 1 of 2 (50 %): allowed.
    report = import_file(database, workspace_id, _csv(tmp_path, "a.csv", range(1)), snapshot=True)
    assert report.cancelled == [("A1", "S1", "12 months")]


def _cli(home: Path, *args: str) -> tuple[int, str, str]:
    return run_cli(home_env(home), *args)


def _cli_statuses(home: Path) -> dict[str, str | None]:
    database = Database(f"sqlite:///{home / 'halosync.db'}")
    try:
        with database.session() as session:
            workspace_id = WorkspaceRepository(session).resolve(None).id
        return _statuses(database, workspace_id)
    finally:
        database.dispose()


def test_cli_import_snapshot_refuses_then_obeys_the_override(tmp_path: Path) -> None:
    assert _cli(tmp_path, "workspace", "create", "acme")[0] == 0
    assert _cli(tmp_path, "import", str(_csv(tmp_path, "full.csv", range(3))))[0] == 0
    header_only = tmp_path / "header.csv"
    header_only.write_text(HEADER + "\n", encoding="utf-8")
    code, out, err = _cli(tmp_path, "import", "--snapshot", str(header_only))
    assert code == 1
    assert "would cancel 3 of 3 subscriptions" in err
    assert "run it again with --allow-mass-cancel" in err
    assert "Traceback" not in err
    code, out, _ = _cli(tmp_path, "import", "--snapshot", str(header_only), "--json")
    refused: dict[str, Any] = json.loads(out)
    assert (code, refused["reason"], refused["would_cancel"], refused["active"]) == (
        1,
        "empty",
        3,
        3,
    )
    assert refused["cancelled"][0] == {
        "account_ref": "A0",
        "service_ref": "S1",
        "term": "12 months",
    }
    assert set(_cli_statuses(tmp_path).values()) == {None}

    code, out, _ = _cli(tmp_path, "settings", "set", "--snapshot-cancel-limit", "101")
    assert code == 1
    code, out, _ = _cli(tmp_path, "settings", "set", "--snapshot-cancel-limit", "100", "--json")
    assert json.loads(out)["snapshot_cancel_limit_percent"] == 100
    # A limit of 100 % still holds back a list with nothing in it.
    assert _cli(tmp_path, "import", "--snapshot", str(header_only))[0] == 1

    code, out, _ = _cli(tmp_path, "import", "--snapshot", "--allow-mass-cancel", str(header_only))
    assert code == 0
    # The words the explain and the reconciliation use for such a subscription.
    assert "  cancelled      3: no longer sent by the vendor (not in the snapshot)\n" in out
    assert set(_cli_statuses(tmp_path).values()) == {"cancelled"}


def test_cli_source_run_snapshot_is_guarded_the_same_way(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    assert _cli(tmp_path, "workspace", "create", "acme")[0] == 0
    assert _cli(tmp_path, "import", str(_csv(tmp_path, "full.csv", range(4))))[0] == 0
    _csv(folder, "part.csv", range(1))
    run = ["source", "run", "csv-directory", "--option", f"path={folder}", "--snapshot"]
    code, _, err = _cli(tmp_path, *run)
    assert code == 1
    assert "would cancel 3 of 4 subscriptions (75.0 %" in err
    assert _cli(tmp_path, *run, "--allow-mass-cancel")[0] == 0
