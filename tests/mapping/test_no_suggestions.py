"""``map suggest`` with nothing to suggest says why, and what to do: before, a workspace
whose Sync Organizations never pulled a client (it halted on a plain-http address) heard
'every account is mapped, or no Halo client name is close'."""

from __future__ import annotations

from pathlib import Path

from tests.cli_inprocess import home_env, run_cli
from tests.sources.conftest import GOOD_CSV


def test_suggest_says_no_halo_clients_were_pulled_and_how_to_pull_them(tmp_path: Path) -> None:
    env = home_env(tmp_path)
    assert run_cli(env, "workspace", "create", "acme")[0] == 0
    (tmp_path / "usage.csv").write_text(GOOD_CSV)
    assert run_cli(env, "import", str(tmp_path / "usage.csv"))[0] == 0
    code, out, err = run_cli(env, "map", "suggest", "--accept")
    assert code == 0, err
    assert "no Halo clients have been pulled into this workspace yet" in out
    assert "halosync sync customers" in out
    assert "every account is mapped" not in out
