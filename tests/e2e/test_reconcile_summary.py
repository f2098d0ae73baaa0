"""The reconciliation's totals are the same wherever they are read: ``halosync reconcile``
(text and ``--json``), the REST API and the web UI, over one workspace holding a row of
every state (in step, drift, out of date, skipped, excluded, duplicate), against the
simulator on a real port."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from starlette.testclient import TestClient

from halosync.rules.service import RuleTarget, exclude
from halosync.store.tokens import ApiTokenRepository
from halosync.store.workspaces import WorkspaceRepository
from halosync.users import create_user
from halosync.web.app import create_app
from tests.cli_inprocess import run_cli
from tests.e2e.cli import cli_environment
from tests.sync.test_lists_that_change_while_read import small_world
from tests.sync.world import usage_document
from tests.web.ui.world import PASSWORD, log_in

TOTALS = {"total": 5, "drift": 1, "out_of_date": 2, "duplicate": 1, "skipped": 1, "excluded": 1}
"""A drifted row is out of date as well (HaloPSA holds 3, the rules bill 10)."""


def _tile(page: str, tile: str) -> int:
    found = re.search(rf'id="{tile}">(\d+)<', page)
    assert found is not None, f"no tile {tile}"
    return int(found.group(1))


def test_every_surface_counts_the_same_rows(tmp_path: Path) -> None:
    world = small_world(tmp_path)  # A001, A002 × MAIL, BKP: 10 each, synced
    state = world.sim.state
    licences = {(lic["client_id"], lic["name"]): lic for lic in world.licences()}
    # drift: A001's Backup recounted in Halo by hand
    state.edit_by_hand("SoftwareLicence", licences[(1, "Backup")]["id"], count=3)
    # duplicate: A001's Mail Protection deleted in Halo and recreated by a sync, then the
    # deleted one restored from Halo's recycle bin: two licences carry its tag
    mail = licences[(1, "Mail Protection")]["id"]
    state.edit_by_hand("SoftwareLicence", mail, deleted=True)
    assert asyncio.run(world.usage()).counts["created"] == 1
    state.edit_by_hand("SoftwareLicence", mail, deleted=False)
    # out of date: the vendor counts 12 of A002's Mail Protection, not synced yet;
    # skipped: a trial account, not mapped
    world.import_usage(
        usage_document(
            [{"ref": "T3", "name": "Trial Three", "status": "trial", "billed": False}],
            [
                {"account_ref": "A002", "service_ref": "MAIL", "quantity": 12},
                {"account_ref": "T3", "service_ref": "MAIL", "quantity": 2},
            ],
        )
    )
    # excluded: A002's Backup
    exclude(world.database, world.workspace_id, RuleTarget("A002", "BKP"), "own deal", actor="t")
    with world.database.session() as session:
        workspace = WorkspaceRepository(session).get(world.workspace_id)
        token = ApiTokenRepository(session, world.workspace_id).create("ci").token
        create_user(
            session, email="ada@acme.test", name="Ada", password=PASSWORD, workspace=workspace
        )

    with world.serve():
        env = cli_environment(tmp_path)
        code, text, err = run_cli(env, "reconcile")
        assert code == 0, err
        code, out, err = run_cli(env, "reconcile", "--json")
        assert code == 0, err
        report = json.loads(out)
        app = create_app(world.settings, database=world.database)
        with TestClient(app) as client:
            api = client.get(
                f"/api/v1/workspaces/{world.workspace_id}/reconciliation",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert api.status_code == 200, api.text
            log_in(client, "ada@acme.test")
            page = client.get(f"/ui/w/{world.workspace_id}/reconcile").text
    world.database.dispose()

    statuses = sorted(row["status"] for row in report["rows"])
    assert statuses == ["drift", "duplicate", "excluded", "out_of_date", "skipped"]
    assert text.splitlines()[-1] == (
        "5 rows, 1 with drift, 2 out of date, 1 with duplicate records in HaloPSA, "
        "1 skipped on purpose, 1 excluded from billing."
    )
    assert {key: report.get(key, len(report["rows"])) for key in TOTALS} == TOTALS
    body = api.json()
    assert {key: body[key] for key in TOTALS} == TOTALS
    tiles = {
        "total": "rec-total",
        "drift": "rec-drift",
        "out_of_date": "rec-stale",
        "duplicate": "rec-duplicate",
        "skipped": "rec-skipped",
        "excluded": "rec-excluded",
    }
    assert {key: _tile(page, tile) for key, tile in tiles.items()} == TOTALS
