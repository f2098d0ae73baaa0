"""'Create licences on mapping': mapping an account from the CLI creates its licences at once,
through the same queued sync as the API and the UI (one-sync-per-workspace, cooldown)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.cli import cli_against_simulator, write_usage_csv
from tests.e2e.test_cli_sync import ROWS
from tests.sync.world import seed


def test_mapping_an_account_creates_its_licences_when_the_setting_is_on(tmp_path: Path) -> None:
    with cli_against_simulator(tmp_path, seed(3)) as cli:
        cli.connect("licence")
        cli.ok("import", str(write_usage_csv(tmp_path / "usage.csv", ROWS)))
        cli.ok("sync", "customers")
        cli.ok("map", "service", "MAIL", "1")
        cli.ok("map", "service", "BKP", "2")

        off = cli.in_process("map", "account", "A2", "2", check=True)
        assert "Created licences" not in off.stdout
        assert cli.sim.state.records("SoftwareLicence") == []

        cli.ok("settings", "set", "--create-licence-on-mapping", "true")
        on = cli.in_process("map", "account", "A1", "1", "--json", check=True)
        assert json.loads(on.stdout)["halo_client_id"] == 1  # stdout stays one JSON document
        assert "Created licences on mapping" in on.stderr
        made = cli.sim.state.records("SoftwareLicence")
        assert made
        assert {lic["client_id"] for lic in made} == {1}  # only the account just mapped

        (follow_up,) = [run for run in cli.json("runs")["runs"] if run["account_ref"] == "A1"]
        assert (follow_up["trigger"], follow_up["status"]) == ("manual", "succeeded")

        # Within the cooldown of a manual full sync, accepting several suggestions (a full
        # sync) is refused like Sync Now; the mappings are saved all the same.
        cli.ok("settings", "set", "--cooldown-minutes", "60")
        assert cli.json("sync", "now", "--wait")["status"] == "succeeded"
        cli.ok("map", "unmap-account", "A2")
        accepted = cli.in_process("map", "suggest", "--accept", "--min-score", "0", check=True)
        assert "You can trigger the next sync in" in accepted.stderr
        assert "will be created by the next sync" in accepted.stderr
        assert "Saved 2 of 2" in accepted.stdout
