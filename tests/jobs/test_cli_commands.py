"""``halosync schedule``, ``runs`` and ``sync now`` in-process: output, JSON and errors."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_inprocess import home_env, run_cli


def _cli(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    return run_cli(home_env(tmp_path), *args)


def test_schedule_show_and_set(tmp_path: Path) -> None:
    assert _cli(tmp_path, "workspace", "create", "acme")[0] == 0
    code, out, _ = _cli(tmp_path, "schedule", "show", "--json")
    shown = json.loads(out)["schedules"]
    assert code == 0
    assert [(s["kind"], s["schedule"], s["default"]) for s in shown] == [
        ("customers", "daily 08:00", True),
        ("usage", "daily 18:00", True),
    ]
    code, out, _ = _cli(
        tmp_path, "schedule", "set", "--kind", "usage", "--monthly", "last", "--at", "18:30"
    )
    assert code == 0
    # A workspace whose setup is not finished runs nothing yet: said, not a next run that
    # never comes (the overview and GET /schedules say null alike).
    assert (
        "Monthly on the last day at 18:30 UTC; it runs once the workspace's setup is finished"
        in out
    )
    code, out, _ = _cli(tmp_path, "schedule", "show")
    assert "Monthly on the last day at 18:30 UTC" in out
    assert "next run none until the workspace's setup is finished" in out
    assert "Daily at 08:00 UTC" in out


def test_schedule_errors_name_the_problem(tmp_path: Path) -> None:
    _cli(tmp_path, "workspace", "create", "acme")
    cases = [
        (["--kind", "usage", "--daily", "25:00"], "schedule time 25:00 is not a time of day"),
        (["--kind", "usage", "--daily", "6pm"], "--daily '6pm' is not a time"),
        (["--kind", "usage", "--monthly", "31"], "monthly schedule day 31 is not allowed"),
        (["--kind", "usage"], "Say either --daily HH:MM or --monthly N|last"),
        (["--kind", "orders", "--daily", "06:00"], "Sync kind 'orders' is not valid"),
    ]
    for args, message in cases:
        code, _out, err = _cli(tmp_path, "schedule", "set", *args)
        assert code == 1, args
        assert message in err, (args, err)
    _code, out, _ = _cli(tmp_path, "schedule", "show", "--json")
    assert all(s["default"] for s in json.loads(out)["schedules"])


def test_sync_now_waits_and_runs_lists_the_outcome(tmp_path: Path) -> None:
    _cli(tmp_path, "workspace", "create", "acme")
    code, _out, err = _cli(tmp_path, "sync", "now", "--wait")
    # No Halo connection yet: the run halts and says what to do.
    assert code == 1
    assert "error: sync halted: Workspace 'acme' has no Halo connection." in err
    code, out, _ = _cli(tmp_path, "runs", "--json")
    runs = json.loads(out)["runs"]
    assert [(r["kind"], r["trigger"], r["status"]) for r in runs] == [("usage", "manual", "halted")]
    code, _out, err = _cli(tmp_path, "sync", "now", "--kind", "customers", "--account", "A1")
    assert code == 1
    assert "Only a usage sync can be limited to one account." in err
    code, out, _ = _cli(tmp_path, "runs")
    assert "usage     manual   halted" in out
