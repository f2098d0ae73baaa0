"""'Create licences on mapping': mapping an account from the CLI creates its licences at once."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.cli import cli_against_simulator, write_usage_csv
from tests.e2e.test_cli_sync import ROWS
from tests.sync.world import seed


def test_mapping_an_account_creates_its_licences_when_the_setting_is_on(tmp_path: Path) -> None:
    with cli_against_simulator(tmp_path, seed(3)) as cli:
        cli.connect("licence")
        cli("import", str(write_usage_csv(tmp_path / "usage.csv", ROWS)))
        cli("sync", "customers")
        cli("map", "service", "MAIL", "1")
        cli("map", "service", "BKP", "2")

        off = cli("map", "account", "A2", "2")
        assert "Created licences" not in off.stdout
        assert cli.sim.state.records("SoftwareLicence") == []

        cli("settings", "set", "--create-licence-on-mapping", "true")
        on = cli("map", "account", "A1", "1", "--json")
        assert json.loads(on.stdout)["halo_client_id"] == 1  # stdout stays one JSON document
        assert "Created licences on mapping" in on.stderr
        made = cli.sim.state.records("SoftwareLicence")
        assert made
        assert {lic["client_id"] for lic in made} == {1}  # only the account just mapped
