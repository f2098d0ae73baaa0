"""Streaming JSON import: same outcome and errors as parsing whole, positions, bounded memory."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import halosync.sources.json_stream as json_stream
from halosync.sources.batch import BatchBuilder
from halosync.sources.errors import ImportValidationError, Location, from_validation_error
from halosync.sources.importer import import_file
from halosync.sources.readers import read_document, read_json
from halosync.sources.schemas import UsagePayload
from halosync.store.database import Database
from halosync.store.usage import SubscriptionRepository


def _subscription(index: int, **changes: Any) -> dict[str, Any]:
    return {
        "account_ref": "A1",
        "service_ref": f"S{index}",
        "quantity": index,
        "start_date": "2024-01-01",
        "billing_cycle": "monthly",
        "term": "12 months",
        "cost_price": "1.50",
    } | changes


def _document(subscriptions: int) -> dict[str, Any]:
    return {
        "accounts": [{"ref": "A1", "name": "Acme", "status": "active", "billed": True}],
        "services": [{"ref": f"S{i}", "name": f"Service {i}"} for i in range(subscriptions)],
        "subscriptions": [_subscription(i) for i in range(subscriptions)],
    }


@pytest.fixture
def small_chunks() -> Iterator[None]:
    """Read a few characters at a time, so every value meets a chunk boundary."""
    saved = json_stream.CHUNK
    json_stream.CHUNK = 5
    try:
        yield
    finally:
        json_stream.CHUNK = saved


def _outcome(builder: BatchBuilder) -> Any:
    try:
        batch = builder.build()
    except ImportValidationError as error:
        return [str(e) for e in error.errors], error.total
    subscriptions = {(a, s): tuple(values) for a, s, *values in batch.subscriptions.rows()}
    return batch.rows, batch.accounts, batch.services, subscriptions


def _streamed(path: Path) -> Any:
    builder = BatchBuilder()
    read_json(path, builder)
    return _outcome(builder)


def _whole(text: str) -> Any:
    builder = BatchBuilder()
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        return [f"line {error.lineno}, column {error.colno}: invalid JSON: {error.msg}"], 1
    read_document(document, builder)
    return _outcome(builder)


def _write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "usage.json"
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


def test_a_large_file_imports_and_reimports(
    database: Database, workspace_id: int, tmp_path: Path, small_chunks: None
) -> None:
    json_stream.CHUNK = 4096
    path = _write(tmp_path, json.dumps(_document(300), indent=2))
    report = import_file(database, workspace_id, path)
    assert (report.rows, report.subscriptions.created) == (302 + 300 - 1, 300)
    assert not import_file(database, workspace_id, path).changed
    with database.session() as session:
        assert SubscriptionRepository(session, workspace_id).count() == 300


def test_truncated_file_names_the_position_and_changes_nothing(
    database: Database, workspace_id: int, tmp_path: Path, small_chunks: None
) -> None:
    text = json.dumps(_document(40), indent=1)
    cut = text[: len(text) * 2 // 3]
    with pytest.raises(ImportValidationError) as caught:
        import_file(database, workspace_id, _write(tmp_path, cut))
    (error,) = caught.value.errors
    lines = cut.splitlines()
    # Where json.loads itself would stop: the end of the text.
    assert error.location == f"line {len(lines)}, column {len(lines[-1]) + 1}"
    assert error.message.startswith("invalid JSON: ")
    with database.session() as session:
        assert SubscriptionRepository(session, workspace_id).count() == 0


def test_malformed_item_in_the_middle_names_line_and_column(
    tmp_path: Path, small_chunks: None
) -> None:
    text = json.dumps(_document(30), indent=2).replace('"quantity": 17,', '"quantity": 17', 1)
    (message,), total = _streamed(_write(tmp_path, text))
    line = next(n for n, row in enumerate(text.splitlines(), 1) if '"quantity": 17' in row)
    assert message == f"line {line + 1}, column 7: invalid JSON: Expecting ',' delimiter"
    assert total == 1


def test_bad_items_are_all_named_by_json_path_even_when_later_items_are_good(
    tmp_path: Path, small_chunks: None
) -> None:
    document = _document(5)
    document["subscriptions"][1]["quantity"] = -1
    document["subscriptions"][3]["start_date"] = "soon"
    document["services"].append({"ref": "S0", "name": "Other name"})
    errors, _ = _streamed(_write(tmp_path, json.dumps(document)))
    # Field problems and contradictions between items come in one pass, list by list.
    assert errors == [
        "$.services[5].name: service 'S0' has name 'Other name' here but 'Service 0' at "
        "$.services[0]",
        "$.subscriptions[1].quantity: must be a number from 0 to 2147483647 with at most 4 "
        "decimal places, got -1",
        '$.subscriptions[3].start_date: must be a date as YYYY-MM-DD, got "soon"',
    ]


def test_a_repeated_member_replaces_the_earlier_one_as_json_loads_does(
    tmp_path: Path, small_chunks: None
) -> None:
    bad = json.dumps([_subscription(0, quantity="many")])
    good = json.dumps([_subscription(0), _subscription(0)])
    services = json.dumps([{"ref": "S0", "name": "Mail"}])
    text = (
        f'{{"subscriptions": {bad}, "colour": 1, "services": {services}, "colour": [], '
        f'"subscriptions": {good}}}'
    )
    errors, _ = _streamed(_write(tmp_path, text))
    assert errors == ["$.colour: is not a known field"]
    assert _streamed(_write(tmp_path, text)) == _whole(text)


def test_not_utf8_names_the_byte_even_after_a_syntax_error(tmp_path: Path) -> None:
    text = b'\xef\xbb\xbf{"accounts": [}' + b" " * 5000 + b"\xff"
    assert _streamed(_write(tmp_path, text)) == (
        [
            "line 1, column 5016: is not UTF-8 text (byte 0xFF at offset 5018); "
            "save the file as UTF-8"
        ],
        1,
    )
    assert _streamed(_write(tmp_path, b'\xef\xbb\xbf{"accounts": []}')) == (0, {}, {}, {})


def test_a_document_that_is_not_an_object(tmp_path: Path) -> None:
    assert _streamed(_write(tmp_path, "[1, 2]")) == (
        ['$: must be an object with "accounts", "services" and "subscriptions"'],
        1,
    )
    assert _streamed(_write(tmp_path, "  ")) == (
        ["line 1, column 3: invalid JSON: Expecting value"],
        1,
    )
    assert _streamed(_write(tmp_path, "{} {}")) == (
        ["line 1, column 4: invalid JSON: Extra data"],
        1,
    )


def test_a_large_file_is_never_held_whole(tmp_path: Path) -> None:
    # 2,000 items padded to ~10 MiB: what is held is a window of the text plus the batch.
    pad = " " * 5000 + "\n"
    items = ("," + pad).join(json.dumps(_subscription(i % 50)) for i in range(2000))
    text = '{"subscriptions": [' + items + "]}"
    path = _write(tmp_path, text)
    size = path.stat().st_size
    assert size > 10_000_000
    tracemalloc.start()
    try:
        builder = BatchBuilder()
        read_json(path, builder)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(builder.build().subscriptions) == 50
    # Reading whole would hold the bytes and the text at once (2 × size); this holds
    # about two chunks of text.
    assert peak < 4 * json_stream.CHUNK < size / 2, peak


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
_ITEM = st.fixed_dictionaries(
    {
        "account_ref": st.sampled_from(["A1", "A2"]),
        "service_ref": st.sampled_from(["S1", "S2"]),
        "quantity": st.one_of(st.integers(-1, 3), st.floats(0, 3)),
        "start_date": st.sampled_from(["2024-01-01", "2024-02-30"]),
        "billing_cycle": st.just("monthly"),
        "term": st.just("1y"),
    },
    optional={
        "cost_price": st.one_of(st.sampled_from(["1.5", "1.00001", 2]), st.floats()),
        "ref": st.sampled_from(["A1", "S1"]),
        "name": st.sampled_from(["Acme", "Mail", "Beta"]),
        "status": st.sampled_from(["active", "trial", "paused"]),
        "billed": st.booleans(),
    },
).map(
    lambda d: (
        d if "ref" not in d else {k: d[k] for k in ("ref", "name", "status", "billed") if k in d}
    )
)
_MEMBERS = st.lists(
    st.tuples(
        st.sampled_from(["accounts", "services", "subscriptions", "extra"]),
        st.one_of(st.lists(st.one_of(_ITEM, _JSON), max_size=4), _JSON),
    ),
    max_size=5,
)


def _text(members: list[tuple[str, Any]], indent: int | None) -> str:
    parts = [f"{json.dumps(k)}: {json.dumps(v, indent=indent)}" for k, v in members]
    return "{" + (",\n" if indent else ", ").join(parts) + "}"


_SETTINGS = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_SETTINGS
@given(
    members=_MEMBERS,
    indent=st.sampled_from([None, 1]),
    damage=st.none() | st.tuples(st.floats(0, 1), st.sampled_from(["", ",", "]", "}", '"', "x"])),
    keep_tail=st.booleans(),
    chunk=st.sampled_from([1, 3, 40, 1 << 20]),
)
def test_streaming_matches_parsing_whole(
    tmp_path: Path,
    members: list[tuple[str, Any]],
    indent: int | None,
    damage: tuple[float, str] | None,
    keep_tail: bool,
    chunk: int,
) -> None:
    text = _text(members, indent)
    if damage is not None:
        at = int(damage[0] * len(text))
        text = text[:at] + damage[1] + (text[at:] if keep_tail else "")
    saved = json_stream.CHUNK
    json_stream.CHUNK = chunk
    try:
        assert _streamed(_write(tmp_path, text)) == _whole(text)
    finally:
        json_stream.CHUNK = saved


@_SETTINGS
@given(members=_MEMBERS)
def test_field_errors_are_exactly_those_of_the_whole_payload_model(
    members: list[tuple[str, Any]],
) -> None:
    document = dict(members)
    builder = BatchBuilder()
    read_document(document, builder)
    try:
        UsagePayload.model_validate(document)
    except ValidationError as error:
        expected = from_validation_error(error, Location("$", "path"))
        fields = [e for e in builder.errors if not _contradiction(e.message)]
        assert fields == expected[:1000]
        return
    # A valid payload: at most contradictions between items, never a field problem.
    assert all(_contradiction(e.message) for e in builder.errors)


def _contradiction(message: str) -> bool:
    return "second, different" in message or "here but" in message
