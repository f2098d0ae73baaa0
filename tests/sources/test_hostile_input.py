"""Files a real vendor export (or an attacker) produces: each is a clear error naming where.

Deep nesting, bytes that are not UTF-8, look-alike digits, and files whose field errors
and unknown references must all be reported in one pass. Nothing is ever half-written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from halosync.sources.errors import ImportValidationError
from halosync.sources.importer import import_document, import_file
from halosync.sources.readers import MAX_JSON_DEPTH
from halosync.store.database import Database
from halosync.store.usage import AccountRepository, SubscriptionRepository
from tests.cli_inprocess import home_env, run_cli
from tests.schema_template import migrated
from tests.sources.conftest import GOOD_CSV, HEADER

DEEP = 1200  # 2.4 KB of brackets: enough to exhaust Python's recursion limit


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """SQLite only: what is tested here is reading, before any database is involved (the
    reference check runs on both databases in test_file_import.py)."""
    db = migrated(Database(f"sqlite:///{tmp_path / 'halosync.db'}"))
    try:
        yield db
    finally:
        db.dispose()


def _errors(database: Database, workspace_id: int, path: Path) -> list[str]:
    with pytest.raises(ImportValidationError) as caught:
        import_file(database, workspace_id, path)
    return [str(error) for error in caught.value.errors]


def _subscription(account: str = "A1", service: str = "S1", **changes: Any) -> dict[str, Any]:
    return {
        "account_ref": account,
        "service_ref": service,
        "quantity": 1,
        "start_date": "2024-01-01",
        "billing_cycle": "monthly",
        "term": "12 months",
    } | changes


def _deep_at(prefix: str) -> tuple[str, int]:
    """``prefix`` followed by DEEP nested lists; the 1-based column of the list that opens
    level MAX_JSON_DEPTH + 1, counting the levels ``prefix`` leaves open."""
    open_levels = prefix.count("{") + prefix.count("[") - prefix.count("}") - prefix.count("]")
    column = len(prefix) + (MAX_JSON_DEPTH + 1 - open_levels)
    return prefix + "[" * DEEP + "]" * DEEP, column


@pytest.mark.parametrize(
    ("prefix", "suffix", "inside"),
    [
        ('{"subscriptions": {"x": ', "}}", "$.subscriptions"),
        ('{"subscriptions": ', "}", "$.subscriptions[0]"),
        ('{"subscriptions": [', "]}", "$.subscriptions[0]"),
        ('{"subscriptions": [{"account_ref": ', "}]}", "$.subscriptions[0]"),
        ('{"accounts": [], "colour": ', "}", "$.colour"),
        ("", "", "$"),
    ],
)
def test_deeply_nested_json_is_one_clear_error_naming_where(
    database: Database, workspace_id: int, tmp_path: Path, prefix: str, suffix: str, inside: str
) -> None:
    text, column = _deep_at(prefix)
    path = tmp_path / "deep.json"
    path.write_text(text + suffix, encoding="utf-8")
    assert path.stat().st_size < 3000
    assert _errors(database, workspace_id, path) == [
        f"line 1, column {column}: nested more than {MAX_JSON_DEPTH} levels deep, inside "
        f"{inside} (a usage document needs 3)"
    ]
    with database.session() as session:
        assert AccountRepository(session, workspace_id).count() == 0


def test_nesting_just_under_the_recursion_limit_is_refused_too(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    # Deep enough to be absurd, shallow enough that json decodes it: still refused, so
    # nothing later (pydantic, repr, json.dumps) ever meets a deep value.
    depth = 200
    path = tmp_path / "deep.json"
    subscription = json.dumps(_subscription())[:-1] + ', "term": ' + "[" * depth + "]" * depth
    path.write_text('{"subscriptions": [\n' + subscription + "}]}", encoding="utf-8")
    column = len(subscription) - 2 * depth + (MAX_JSON_DEPTH + 1 - 3)
    assert _errors(database, workspace_id, path) == [
        f"line 2, column {column}: nested more than {MAX_JSON_DEPTH} levels deep, inside "
        f"$.subscriptions[0] (a usage document needs 3)"
    ]


def _cli(home: Path, *args: str) -> tuple[int, str, str]:
    return run_cli(home_env(home), *args)


def test_cli_import_of_deep_json_exits_1_with_the_error_not_a_traceback(tmp_path: Path) -> None:
    text, column = _deep_at('{"subscriptions": ')
    path = tmp_path / "deep.json"
    path.write_text(text + "}", encoding="utf-8")
    assert _cli(tmp_path, "workspace", "create", "acme")[0] == 0
    code, out, err = _cli(tmp_path, "import", str(path))
    assert code == 1, err
    assert "Traceback" not in err
    assert "RecursionError" not in err
    assert f"line 1, column {column}: nested more than" in err
    code, out, _ = _cli(tmp_path, "import", str(path), "--json")
    assert code == 1
    assert json.loads(out)["errors"][0]["location"] == f"line 1, column {column}"


def _csv_with_bad_byte(line: int, rows: int = 500) -> bytes:
    """A CSV whose data row on ``line`` has byte 0xFF in its account name."""
    body = [
        f"A{i},Acme {i},active,true,S1,Mail,10,2024-01-01,,monthly,12 months,,,\n".encode()
        for i in range(rows)
    ]
    body[line - 2] = body[line - 2].replace(b"Acme", b"Ac\xffme")
    return HEADER.encode() + b"\n" + b"".join(body)


@pytest.mark.parametrize("line", [2, 302, 501])
def test_a_byte_that_is_not_utf8_is_named_at_its_true_line_in_csv(
    database: Database, workspace_id: int, tmp_path: Path, line: int
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(_csv_with_bad_byte(line))
    assert _errors(database, workspace_id, path) == [
        f"line {line}, column account_name: is not UTF-8 text (byte 0xFF); save the file as UTF-8"
    ]


def test_every_bad_csv_row_is_named_and_quoted_line_breaks_keep_the_count(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    content = (
        HEADER.encode()
        + b'\nA1,"Acme\nLtd",active,true,S1,Mail,1,2024-01-01,,monthly,1y,,,\n'
        + b"A2,Beta,active,true,S1,M\xe9il,1,2024-01-01,,monthly,1y,,,\n"
        + b"A3,Gamma,active,true,S1,Mail,\xff1,2024-01-01,,monthly,1y,,,\n"
    )
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    assert _errors(database, workspace_id, path) == [
        "line 2, column account_name: contains control characters (such as a line break or NUL)",
        "line 4, column service_name: is not UTF-8 text (byte 0xE9); save the file as UTF-8",
        "line 5, column quantity: is not UTF-8 text (byte 0xFF); save the file as UTF-8",
    ]


def test_a_bad_byte_in_the_csv_header_is_named(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(HEADER.replace("term", "t\xe9rm").encode("latin-1") + b"\n")
    assert _errors(database, workspace_id, path) == [
        "line 1 (header): is not UTF-8 text (byte 0xE9); save the file as UTF-8"
    ]


@pytest.mark.parametrize("line", [2, 302, 501])
def test_a_byte_that_is_not_utf8_is_named_at_its_true_line_in_json(
    database: Database, workspace_id: int, tmp_path: Path, line: int
) -> None:
    items = [json.dumps(_subscription(f"A{i}")) for i in range(500)]
    lines = ['{"subscriptions": [', *(item + "," for item in items[:-1]), items[-1], "]}"]
    column = lines[line - 1].index(f'"A{line - 2}"') + 3
    raw = [text.encode() for text in lines]
    raw[line - 1] = raw[line - 1].replace(
        f'"A{line - 2}"'.encode(), f'"A\xff{line - 2}"'.encode("latin-1")
    )
    path = tmp_path / "bad.json"
    path.write_bytes(b"\n".join(raw))
    offset = path.read_bytes().index(b"\xff")
    assert _errors(database, workspace_id, path) == [
        f"line {line}, column {column}: is not UTF-8 text (byte 0xFF at offset {offset}); "
        "save the file as UTF-8"
    ]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("quantity", "１０"),
        ("quantity", "٣"),
        ("quantity", "²"),
        ("cost_price", "１２.５"),
        ("customer_price", "١٢"),
        ("start_date", "２０２４-０１-０１"),
    ],
)
def test_look_alike_digits_in_a_csv_are_not_numbers(
    database: Database, workspace_id: int, tmp_path: Path, column: str, value: str
) -> None:
    cells = dict(zip(HEADER.split(","), GOOD_CSV.splitlines()[1].split(","), strict=True))
    cells[column] = value
    path = tmp_path / "digits.csv"
    path.write_text(f"{HEADER}\n{','.join(cells.values())}\n", encoding="utf-8")
    errors = _errors(database, workspace_id, path)
    assert len(errors) == 1
    assert errors[0].startswith(f"line 2, column {column}: must be ")
    assert f'got "{value}"' in errors[0]


@pytest.mark.parametrize("field", ["cost_price", "customer_price", "quantity"])
@pytest.mark.parametrize("value", ["１２", "٣", "1２.5"])
def test_look_alike_digits_in_json_strings_are_not_numbers(
    database: Database, workspace_id: int, field: str, value: str
) -> None:
    document = {
        "accounts": [{"ref": "A1", "name": "Acme", "status": "active", "billed": True}],
        "services": [{"ref": "S1", "name": "Mail"}],
        "subscriptions": [_subscription(**{field: value})],
    }
    with pytest.raises(ImportValidationError) as caught:
        import_document(database, workspace_id, document)
    assert [e.location for e in caught.value.errors] == [f"$.subscriptions[0].{field}"]


def test_field_errors_contradictions_and_unknown_references_come_in_one_pass(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    import_file(database, workspace_id, _write(tmp_path, "seed.csv", GOOD_CSV))
    document = {
        "accounts": [
            {"ref": "N1", "name": "New", "status": "active", "billed": True},
            {"ref": "N1", "name": "Other name", "status": "active", "billed": True},
            {"ref": "BAD", "name": "Broken", "status": "gone", "billed": True},
        ],
        "services": [{"ref": "S9", "name": "Nine"}],
        "subscriptions": [
            _subscription("N1", "S9", quantity=-1),
            _subscription("NOPE", "S9"),
            _subscription("A1", "S404"),
            _subscription("BAD", "S1"),  # its account is there, only wrong: no second error
            _subscription("A2", "S2"),  # A2 and S2 exist in the workspace already
        ],
    }
    path = _write(tmp_path, "u.json", json.dumps(document))
    assert _errors(database, workspace_id, path) == [
        "$.accounts[1].name: account 'N1' has name 'Other name' here but 'New' at $.accounts[0]",
        '$.accounts[2].status: must be one of active, trial, suspended, cancelled, got "gone"',
        "$.subscriptions[0].quantity: must be a number from 0 to 2147483647 with at most 4 "
        "decimal places, got -1",
        "$.subscriptions[1].account_ref: no account 'NOPE' in this batch or in the workspace",
        "$.subscriptions[2].service_ref: no service 'S404' in this batch or in the workspace",
    ]
    with database.session() as session:
        assert SubscriptionRepository(session, workspace_id).count() == 3


def test_unknown_references_are_not_guessed_from_a_file_cut_short(
    database: Database, workspace_id: int, tmp_path: Path
) -> None:
    # The account comes after the syntax error; reporting "no account 'LATE'" would be
    # a guess about text that was never read.
    document = json.dumps(
        {
            "subscriptions": [_subscription("LATE", "S1")],
            "services": [{"ref": "S1", "name": "Mail"}],
            "accounts": [{"ref": "LATE", "name": "Late", "status": "active", "billed": True}],
        }
    )
    cut = document.replace('"services": [', '"services": [,')
    errors = _errors(database, workspace_id, _write(tmp_path, "cut.json", cut))
    assert len(errors) == 1
    assert "invalid JSON" in errors[0]


def _write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_cli_import_of_a_lone_surrogate_names_the_field_not_a_traceback(tmp_path: Path) -> None:
    account = {"ref": "A1", "name": "a\ud800b", "status": "active", "billed": True}
    path = tmp_path / "usage.json"
    path.write_text(json.dumps({"accounts": [account]}), encoding="ascii")  # "a\\ud800b"
    assert _cli(tmp_path, "workspace", "create", "acme")[0] == 0
    code, _, err = _cli(tmp_path, "import", str(path))
    assert code == 1, err
    assert "Traceback" not in err
    assert "$.accounts[0].name: contains half of a UTF-16 surrogate pair" in " ".join(err.split())
