"""``halosync review``: list, approve and reject held changes, and the policy, via the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.cli import Cli, cli_against_simulator, write_usage_csv
from tests.sync.world import seed


def rows(a1: int, a2: int) -> list[dict[str, Any]]:
    return [
        {
            "account_ref": ref,
            "account_name": name,
            "service_ref": "MAIL",
            "service_name": "Mail Protection",
            "quantity": quantity,
        }
        for ref, name, quantity in (("A1", "Client 1 Ltd", a1), ("A2", "Client 2 Ltd", a2))
    ]


def posts(cli: Cli) -> int:
    return len([e for e in cli.sim.state.request_log if e.method == "POST" and "/api/" in e.path])


def counts(cli: Cli) -> dict[int, int]:
    return {lic["client_id"]: lic["count"] for lic in cli.sim.state.records("SoftwareLicence")}


def test_review_list_approve_reject_through_the_cli(tmp_path: Path) -> None:
    with cli_against_simulator(tmp_path, seed(3)) as cli:
        cli.connect("licence")
        cli.ok("import", str(write_usage_csv(tmp_path / "u.csv", rows(12, 7))))
        cli.ok("sync", "customers")
        cli.ok("map", "account", "A1", "1")
        cli.ok("map", "account", "A2", "2")
        cli.ok("map", "service", "MAIL", "1")
        cli.ok("review", "policy", "--change-above-percent", "50", "--drop-to-zero")
        assert cli.json("sync", "usage")["counts"]["created"] == 2

        # A feed error on both accounts: held, and the contract's document still holds.
        cli.ok("import", str(write_usage_csv(tmp_path / "u.csv", rows(1200, 0))))
        cli.sim.state.request_log.clear()
        preview = cli.ok("sync", "usage", "--dry-run")
        assert "2 change(s) held for review and not written" in preview
        report = cli.json("sync", "usage")
        assert report["counts"]["skipped"] == 2
        assert {c["action"] for c in report["changes"]} == {"skip"}
        assert all(c["held"] for c in report["changes"])
        assert posts(cli) == 0

        queue = cli.json("review", "list")["items"]
        assert [(i["account_ref"], i["change"]) for i in queue] == [
            ("A1", "count 12 → 1200"),
            ("A2", "count 7 → 0"),
        ]
        assert {"halo_record", "why", "first_seen_at", "service_ref"} <= set(queue[0])
        assert queue[0]["term"] == ""  # the pair's one record: no term kept apart
        text = cli.ok("review", "list")
        assert "2 change(s) waiting for review" in text
        assert "held because the quantity drops from 7 to 0" in text

        wrong = cli.in_process("review", "approve")
        assert wrong.returncode != 0
        assert "--all" in wrong.stderr
        missing = cli.in_process("review", "reject", "999")
        assert missing.returncode != 0
        assert "No review item 999" in missing.stderr

        approved = cli.json("review", "approve", str(queue[0]["id"]))
        assert approved["written"] == 1
        assert approved["approved"][0]["decided_by"].endswith("(command line)")
        assert posts(cli) == 1
        assert counts(cli) == {1: 1200, 2: 7}

        assert "Rejected 1 change(s)" in cli.ok("review", "reject", "--all")
        assert cli.json("review", "list")["items"] == []
        assert len(cli.json("review", "list", "--status", "all")["items"]) == 2

        cli.sim.state.request_log.clear()
        again = cli.json("sync", "usage")
        assert posts(cli) == 0
        assert [c["action"] for c in again["changes"]] == ["unchanged", "skip"]
        assert cli.json("review", "list")["items"] == []
        assert counts(cli) == {1: 1200, 2: 7}


def test_review_policy_through_the_cli(tmp_path: Path) -> None:
    with cli_against_simulator(tmp_path, seed(1)) as cli:
        cli.ok("workspace", "create", "acme")
        assert cli.json("review", "policy") == {
            "workspace": "acme",
            "change_above_units": None,
            "change_above_percent": 50,
            "new_above_units": None,
            "any_price_change": False,
            "drop_to_zero": True,
        }
        changed = cli.json(
            "review",
            "policy",
            "--change-above-percent",
            "off",
            "--new-above-units",
            "100",
            "--price-changes",
            "--drop-to-zero",
        )
        assert changed["change_above_percent"] is None
        assert changed["new_above_units"] == 100
        assert changed["any_price_change"] is True
        assert "drop to zero:         on" in cli.ok("review", "policy")
        bad = cli.in_process("review", "policy", "--change-above-units", "-3")
        assert bad.returncode != 0
        assert "--change-above-units" in bad.stderr
        logs = cli.json("logs")["entries"]
        assert any(e["title"] == "Review policy changed" for e in logs)
