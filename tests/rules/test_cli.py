"""``halosync rules``: set, clear, exclude, include, list, show and history on the command line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.cli import Cli, cli_environment, write_usage_csv


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    cli = Cli(cli_environment(tmp_path))
    cli.ok("workspace", "create", "acme")
    rows = [
        {"account_ref": ref, "account_name": f"Client {ref}", "service_ref": svc,
         "service_name": name, "quantity": 3}
        for ref in ("A1", "A2")
        for svc, name in (("MAIL", "Mail Protection"), ("BKP", "Backup"))
    ]  # fmt: skip
    cli.ok("import", str(write_usage_csv(tmp_path / "u.csv", rows)))
    return cli


def refused(cli: Cli, *args: str) -> str:
    done = cli.in_process(*args)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stdout == ""
    return done.stderr


def test_set_list_show_and_history(cli: Cli) -> None:
    said = cli.ok("rules", "set", "--minimum", "5", "--rounding", "up")
    assert "Rule of the workspace from" in said
    assert "minimum 5" in said
    cli.ok("rules", "set", "--service", "MAIL", "--free", "2", "--multiple", "5")
    change = cli.json("rules", "set", "--account", "A2", "--service", "MAIL", "--minimum", "25")
    assert change["changed"] is True
    assert change["scope"] == "account_service"
    assert change["after"]["minimum"] == 25
    assert change["version"]["created_by"].endswith("(command line)")

    listed = cli.json("rules", "list")
    assert [(r["scope"], r["account_ref"], r["service_ref"]) for r in listed["rules"]] == [
        ("workspace", None, None),
        ("service", None, "MAIL"),
        ("account_service", "A2", "MAIL"),
    ]
    text = cli.ok("rules", "list")
    assert "3 rule(s) in force" in text
    assert "service MAIL (Mail Protection): free 2" in text

    shown = cli.json("rules", "show", "A2", "MAIL")
    assert shown["rule"]["minimum"] == {"value": 25, "scope": "account_service"}
    assert shown["rule"]["free"] == {"value": 2, "scope": "service"}
    assert shown["rule"]["rounding"] == {"value": "up", "scope": "workspace"}
    assert shown["rule"]["ceiling"] == {"value": None, "scope": None}
    assert "minimum         25  (account × service)" in cli.ok("rules", "show", "A2", "MAIL")

    cli.ok("rules", "set", "--service", "MAIL", "--free", "none")
    history = cli.json("rules", "history", "--service", "MAIL")["versions"]
    assert [v["rule"]["free"] for v in history if v["scope"] == "service"] == [None, 2]
    assert "version(s), newest first" in cli.ok("rules", "history")


def test_the_same_set_again_says_no_change(cli: Cli) -> None:
    cli.ok("rules", "set", "--service", "BKP", "--ceiling", "40")
    again = cli.ok("rules", "set", "--service", "BKP", "--ceiling", "40")
    assert again.startswith("No change")
    assert len(cli.json("rules", "history")["versions"]) == 1


def test_exclude_include_and_clear(cli: Cli) -> None:
    cli.ok("rules", "exclude", "--account", "A1", "--reason", "our own office")
    shown = cli.json("rules", "show", "A1", "BKP")["rule"]["excluded"]
    assert shown == {"value": "our own office", "scope": "account"}
    assert not cli.json("rules", "include", "--account", "A2")["changed"]
    cli.ok("rules", "include", "--account", "A1")
    assert cli.json("rules", "show", "A1", "BKP")["rule"]["excluded"]["value"] is None
    cli.ok("rules", "set", "--service", "MAIL", "--minimum", "3")
    cleared = cli.json("rules", "clear", "--service", "MAIL")
    assert cleared["operation"] == "clear"
    assert cleared["after"]["minimum"] is None
    assert cli.json("rules", "list")["rules"] == []


def test_include_over_an_account_exclusion_needs_override_and_says_so(cli: Cli) -> None:
    cli.ok("rules", "exclude", "--account", "A1", "--reason", "internal use")
    error = refused(cli, "rules", "include", "--account", "A1", "--service", "MAIL")
    assert "The account A1 × service MAIL has no exclusion of its own" in error
    assert "the account A1 excludes it (internal use)" in error
    assert "halosync rules include --account A1 --service MAIL --override" in error
    assert cli.json("rules", "history")["versions"][0]["scope"] == "account"

    said = cli.ok("rules", "include", "--account", "A1", "--service", "MAIL", "--override")
    assert "included over a broader exclusion" in said
    shown = cli.json("rules", "show", "A1", "MAIL")
    assert shown["rule"]["excluded"]["value"] is None
    assert shown["rule"]["included"] == {"value": True, "scope": "account_service"}
    assert shown["rule"]["overrides"] == {"value": "internal use", "scope": "account"}
    assert (
        shown["text"] == "account excluded (internal use), included by the account × service rule"
    )
    assert "account excluded (internal use), included by the account × service rule" in cli.ok(
        "rules", "show", "A1", "MAIL"
    )
    assert cli.json("rules", "show", "A1", "BKP")["rule"]["excluded"]["value"] == "internal use"

    # A pair's own exclusion ended while the account's still applies: said, exit 0.
    cli.ok("rules", "exclude", "--account", "A1", "--service", "BKP", "--reason", "trial")
    said = cli.ok("rules", "include", "--account", "A1", "--service", "BKP")
    assert "Still not billed: the account A1 excludes it (internal use)" in said
    assert "--override" in said
    assert "--included: a service's rule has no broader exclusion" in refused(
        cli, "rules", "include", "--service", "MAIL", "--override"
    )
    # Ended: the account's exclusion applies to the pair again.
    cli.ok("rules", "set", "--account", "A1", "--service", "MAIL", "--included", "none")
    assert cli.json("rules", "show", "A1", "MAIL")["rule"]["excluded"]["value"] == "internal use"


def test_a_markup_while_prices_are_off_is_set_with_a_warning(cli: Cli) -> None:
    done = cli.in_process(
        "rules", "set", "--service", "MAIL", "--price-owner", "markup", "--markup-percent", "20"
    )
    assert done.returncode == 0, done.stderr
    assert "Rule of the service MAIL" in done.stdout
    warning = "Warning: service MAIL: the markup sends no price while the workspace's price mode"
    assert warning in done.stderr


def test_a_markup_amount_no_price_owner_uses_is_set_with_a_warning(cli: Cli) -> None:
    done = cli.in_process("rules", "set", "--service", "BKP", "--markup-percent", "25")
    assert done.returncode == 0, done.stderr
    assert (
        "Warning: service BKP: the markup 25 % (service) does not apply: prices are owned by "
        "halosync (the default), not markup; set the price owner to markup" in done.stderr
    )
    shown = cli.json("rules", "show", "A1", "BKP")["text"]
    assert shown == (
        "markup 25 % (not applied: prices are owned by halosync (the default), not markup)"
    )
    # The markup owns the service's prices: it applies, nothing to warn about.
    owned = cli.in_process("rules", "set", "--service", "BKP", "--price-owner", "markup")
    assert owned.returncode == 0, owned.stderr
    assert "does not apply" not in owned.stderr
    assert "not applied" not in cli.json("rules", "show", "A1", "BKP")["text"]
    # A pair whose prices HaloPSA owns keeps the service's markup unused: said where.
    pair = cli.in_process(
        "rules", "set", "--account", "A1", "--service", "BKP", "--price-owner", "halo"
    )
    assert (
        "Warning: account A1 \u00d7 service BKP: the markup 25 % (service) does not apply: "
        "prices are owned by halo (account \u00d7 service), not markup" in pair.stderr
    )


def test_a_later_day_and_an_earlier_one(cli: Cli) -> None:
    later = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    cli.ok("rules", "set", "--minimum", "9", "--from", later)
    assert cli.json("rules", "list")["rules"] == []
    on = cli.json("rules", "list", "--date", later)["rules"]
    assert [r["rule"]["minimum"] for r in on] == [9]
    error = refused(cli, "rules", "set", "--minimum", "9", "--from", "2020-01-01")
    assert "--from: 2020-01-01 is in the past" in error


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--minimum", "-1"), "--minimum: must be a whole number"),
        (("--minimum", "five"), "--minimum 'five' is not a whole number"),
        (("--rounding", "sideways"), "--rounding 'sideways' is not one of up, down, nearest"),
        (("--markup-percent", "1e3"), "--markup-percent '1e3' is not a number"),
        (
            ("--price-owner", "markup", "--markup-percent", "-50"),
            "--markup-percent: must be a number of 0 or more (got -50)",
        ),
        (("--price-owner", "markup"), "--price-owner: markup needs markup_percent"),
        (("--minimum", "10", "--ceiling", "5"), "--ceiling: 5 is below the minimum 10"),
        (("--account", "A1", "--minimum", "1"), "--minimum: an account's rule can only exclude"),
        (("--from", "soon", "--minimum", "1"), "--from 'soon' is not a date"),
        (("--service", "NOPE", "--minimum", "1"), "No service with reference 'NOPE'"),
        ((), "Name at least one rule to set"),
    ],
)
def test_refusals_name_the_flag_and_change_nothing(
    cli: Cli, args: tuple[str, ...], named: str
) -> None:
    assert named in refused(cli, "rules", "set", *args)
    assert cli.json("rules", "history")["versions"] == []


def test_exclusion_refusals_name_what_is_missing(cli: Cli) -> None:
    assert "Name what to exclude" in refused(cli, "rules", "exclude", "--reason", "x")
    assert "--reason is empty" in refused(
        cli, "rules", "exclude", "--account", "A1", "--reason", " "
    )
    assert "No account with reference 'ZZ'" in refused(cli, "rules", "show", "ZZ", "MAIL")


def test_a_change_today_says_it_is_carried_into_a_later_version(cli: Cli) -> None:
    later = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()
    cli.ok("rules", "set", "--service", "MAIL", "--minimum", "50", "--from", later)
    said = cli.ok("rules", "set", "--service", "MAIL", "--free", "2")
    assert f"also applied to the version from {later}" in said
    shown = cli.json("rules", "show", "A1", "MAIL", "--date", later)
    assert shown["rule"]["free"]["value"] == 2
    assert shown["rule"]["minimum"]["value"] == 50
