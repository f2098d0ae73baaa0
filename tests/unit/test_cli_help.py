"""What the command line prints reads as written: ``settings show|set`` lines its values up."""

from __future__ import annotations

from pathlib import Path

from tests.cli_inprocess import home_env, run_cli


def test_settings_are_shown_lined_up_as_they_are_typed(tmp_path: Path) -> None:
    env = home_env(tmp_path)
    assert run_cli(env, "workspace", "create", "acme")[0] == 0
    code, out, err = run_cli(env, "settings", "set", "--cooldown-minutes", "5")
    assert code == 0, err
    assert out == (
        "Workspace:                      acme\n"
        "Target:                         licence\n"
        "Price mode:                     off\n"
        "Adopt existing lines:           true\n"
        "Cooldown minutes:               5\n"
        "Create licence on mapping:      false\n"
        "Snapshot cancel limit percent:  50\n"
    )
    assert run_cli(env, "settings", "show")[1] == out
