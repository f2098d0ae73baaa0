"""What the command line prints reads as written: help paragraphs wrap to the terminal, not
at the docstring's own line ends, and ``settings show|set`` lines its values up."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_inprocess import home_env, run_cli

# Commands whose help has a paragraph written over several docstring lines.
WRAPPED = [("demo",), ("doctor",), ("settings", "set"), ("keys", "rotate"), ("db", "backup")]


def _paragraphs(help_text: str) -> list[list[str]]:
    """The description's paragraphs (between the usage line and the options), as lines."""
    lines = help_text.splitlines()
    start = next(i for i, line in enumerate(lines) if "Usage:" in line) + 1
    end = next(i for i, line in enumerate(lines) if line.lstrip().startswith("╭"))
    paragraphs: list[list[str]] = [[]]
    for line in lines[start:end]:
        if line.strip():
            paragraphs[-1].append(line.strip())
        elif paragraphs[-1]:
            paragraphs.append([])
    return [p for p in paragraphs if p]


@pytest.mark.parametrize("command", WRAPPED, ids=" ".join)
def test_help_paragraphs_wrap_to_the_terminal(tmp_path: Path, command: tuple[str, ...]) -> None:
    code, out, err = run_cli({**home_env(tmp_path), "COLUMNS": "80"}, *command, "--help")
    assert code == 0, err
    paragraphs = _paragraphs(out)
    assert len(paragraphs) >= 2, out
    for paragraph in paragraphs:
        # Only a paragraph's last line is short: none is cut where the docstring's was.
        assert all(len(line) > 50 for line in paragraph[:-1]), out
    assert "``" not in out


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


def test_help_wraps_when_the_command_was_loaded_before(tmp_path: Path) -> None:
    """A command whose module an earlier command already imported (the same process: the
    in-process test runner, a long-lived shell) is built with the root group, not loaded
    by it: its help must be unwrapped all the same."""
    env = {**home_env(tmp_path), "COLUMNS": "80"}
    assert run_cli(env, "doctor", "--help")[0] == 0
    code, out, _err = run_cli(env, "doctor", "--help")
    assert code == 0
    for paragraph in _paragraphs(out):
        assert all(len(line) > 50 for line in paragraph[:-1]), out
