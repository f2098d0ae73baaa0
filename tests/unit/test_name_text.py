"""One text rule for every name: no control characters (a line break would reach an e-mail
Subject, a NUL breaks PostgreSQL text) and no bidirectional controls (U+202E shows
``Acme\u202eLTD`` as ``AcmeDTL``: a name reads as something it is not in the UI, the CLI and
CSV exports)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from halosync.errors import ValidationFailedError
from halosync.sources.schemas import AccountIn, ServiceIn
from halosync.store.database import Database
from halosync.store.tokens import ApiTokenRepository
from halosync.store.workspaces import WorkspaceRepository
from halosync.users import create_user
from tests.cli_inprocess import home_env, run_cli
from tests.schema_template import migrated

LINE_BREAK = "evil\r\nBcc: x@y.z"
OVERRIDE = "Acme\u202eDTL"
BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
CONTROL_WORDS = "contains control characters (such as a line break or NUL)"


def _bidi_words(char: str) -> str:
    return re.escape(f"contains the bidirectional control U+{ord(char):04X}")


def test_a_workspace_name_with_a_line_break_is_refused_by_the_cli(tmp_path: Path) -> None:
    code, _out, err = run_cli(home_env(tmp_path), "workspace", "create", LINE_BREAK)
    assert code == 1
    assert CONTROL_WORDS in err
    assert "Bcc: x@y.z'" in err  # quoted with its escapes, never a raw line break
    code, _out, _err = run_cli(home_env(tmp_path), "workspace", "list")
    assert "Bcc" not in _out


@pytest.fixture
def database(tmp_path: Path) -> Database:
    return migrated(Database(f"sqlite:///{tmp_path / 'halosync.db'}"))


@pytest.mark.parametrize("char", BIDI)
def test_names_refuse_bidirectional_controls_everywhere(database: Database, char: str) -> None:
    name = f"Acme{char}DTL"
    with database.session() as session:
        workspaces = WorkspaceRepository(session)
        with pytest.raises(ValidationFailedError, match=_bidi_words(char)):
            workspaces.create(name)
        workspace = workspaces.create("acme")
        with pytest.raises(ValidationFailedError, match=_bidi_words(char)):
            ApiTokenRepository(session, workspace.id).create(name)
        with pytest.raises(ValidationFailedError, match=_bidi_words(char)):
            create_user(session, email="a@example.com", name=name, password="x" * 16)
    for model, data in (
        (AccountIn, {"ref": "A1", "name": name, "status": "active", "billed": True}),
        (ServiceIn, {"ref": "S1", "name": name}),
        (ServiceIn, {"ref": f"S{char}1", "name": "Mail"}),
    ):
        with pytest.raises(ValidationError, match=_bidi_words(char)):
            model.model_validate(data)


def test_token_and_user_names_refuse_control_characters(database: Database) -> None:
    with database.session() as session:
        workspace = WorkspaceRepository(session).create("acme")
        with pytest.raises(ValidationFailedError, match=r"contains control characters"):
            ApiTokenRepository(session, workspace.id).create(LINE_BREAK)
        with pytest.raises(ValidationFailedError, match=r"contains control characters"):
            create_user(session, email="a@example.com", name="A\x85B", password="x" * 16)
    with pytest.raises(ValidationError, match=r"contains control characters"):
        AccountIn.model_validate({"ref": "A1", "name": "A\x85B", "status": "active", "billed": 1})


def test_names_stored_before_the_rule_are_shown_escaped_by_the_cli(tmp_path: Path) -> None:
    """A workspace, token or user name kept from before 7a4da6d, with a line break, an
    override or a terminal escape, can neither forge a line of a listing nor reorder it."""
    env = home_env(tmp_path)
    assert run_cli(env, "workspace", "create", "acme")[0] == 0
    database = Database(env["HALOSYNC_DATABASE_URL"])
    with database.session() as session:
        workspace = WorkspaceRepository(session).resolve("acme")
        ApiTokenRepository(session, workspace.id).create("feed")
        create_user(
            session, email="a@example.com", name="Ada", password="x" * 16, workspace=workspace
        )
        session.execute(text("UPDATE workspace SET name = :name"), {"name": f"{LINE_BREAK}\x1b[2J"})
        session.execute(text("UPDATE api_token SET name = :name"), {"name": OVERRIDE})
        session.execute(text("UPDATE app_user SET name = :name"), {"name": "Ada\u2028error: x"})
    database.dispose()
    shown = ""
    for command in (("workspace", "list"), ("token", "list"), ("user", "list")):
        code, out, err = run_cli(env, *command)
        assert code == 0, (command, err)
        shown += out
        assert not any(line.startswith(("Bcc", "error")) for line in out.splitlines()), out
    assert "evil\\r\\nBcc: x@y.z\\u001b[2J" in shown
    assert "Acme\\u202eDTL" in shown
    assert "Ada\\u2028error: x" in shown
    assert not any(char in shown for char in ("\r", "\x1b", "\u202e", "\u2028"))
