"""Errors the REST API and the web UI show are said in their callers' terms.

A service function is shared by the CLI, the REST API and the web UI. Its error's
``message`` goes to all three, so it names no CLI flag or command; a ``fix`` in the CLI's
terms (``--invoice``, ``halosync connection set``) comes with ``fixes`` for the API and
the UI. This walks every error raised outside the CLI and checks that.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import halosync
from halosync.errors import HalosyncError

PACKAGE = Path(halosync.__file__).parent
CLI_ONLY = ("cli", "ops", "simulator", "demo")
CLI_TERMS = re.compile(r"(?<![\w-])--[a-z]|`halosync ")


def _literal_text(node: ast.AST) -> str:
    """The string constants in ``node`` (f-strings and concatenations included)."""
    return " ".join(
        part.value
        for part in ast.walk(node)
        if isinstance(part, ast.Constant) and isinstance(part.value, str)
    )


def _error_calls() -> list[tuple[str, int, ast.Call]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in CLI_ONLY:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id.endswith("Error")
            ):
                found.append((str(relative), node.lineno, node))
    return found


def test_messages_name_no_cli_flag() -> None:
    offenders = [
        f"{where}:{line}"
        for where, line, call in _error_calls()
        for argument in call.args[:1]
        if CLI_TERMS.search(_literal_text(argument))
    ]
    assert offenders == []


def test_a_fix_in_cli_terms_is_also_said_for_the_api_and_the_ui() -> None:
    offenders = []
    for where, line, call in _error_calls():
        keywords = {keyword.arg: keyword.value for keyword in call.keywords}
        fix = keywords.get("fix")
        if fix is None or not CLI_TERMS.search(_literal_text(fix)):
            continue
        fixes = keywords.get("fixes")
        if isinstance(fixes, ast.Call):  # a helper saying it for both (pull_fixes...)
            continue
        said_for = (
            {key.value for key in fixes.keys if isinstance(key, ast.Constant)}
            if isinstance(fixes, ast.Dict)
            else set()
        )
        if said_for != {"api", "ui"}:
            offenders.append(f"{where}:{line}")
    assert offenders == []


def test_text_for_uses_the_audiences_fix() -> None:
    error = HalosyncError(
        "Pick one.", fix="Pass --invoice.", fixes={"api": "Send recurring_invoice_id."}
    )
    assert str(error) == "Pick one. Pass --invoice."
    assert error.text_for("api") == "Pick one. Send recurring_invoice_id."
    assert error.text_for("ui") == "Pick one. Pass --invoice."
