"""Property tests: no input makes an import crash or half-apply."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select

from halosync.sources import batch as batch_module
from halosync.sources.batch import BatchBuilder
from halosync.sources.errors import ImportValidationError, Location, MassCancelError
from halosync.sources.importer import import_document, import_file
from halosync.sources.schemas import CSV_COLUMNS, MAX_QUANTITY, CsvRow, Quantity, parse_csv_row
from halosync.store.database import Database
from halosync.store.models import Account, Service, Subscription
from halosync.store.workspaces import WorkspaceRepository
from tests.sources.conftest import GOOD_CSV

_VALID: dict[str, st.SearchStrategy[str]] = {
    "account_ref": st.sampled_from(["A1", "A2", "A3"]),
    "account_name": st.sampled_from(["Acme Ltd", "Beta Inc"]),
    "account_status": st.sampled_from(["active", "trial", "suspended", "cancelled", "ACTIVE"]),
    "billed": st.sampled_from(["true", "false", "yes", "0"]),
    "service_ref": st.sampled_from(["S1", "S2", "S3"]),
    "service_name": st.sampled_from(["Email Security", "Backup"]),
    "quantity": st.one_of(
        st.integers(0, 3_000_000_000).map(str),
        st.decimals(allow_nan=True, allow_infinity=True, places=5).map(str),
    ),
    "start_date": st.dates().map(str),
    "end_date": st.one_of(st.just(""), st.dates().map(str)),
    "billing_cycle": st.just("monthly"),
    "term": st.just("12 months"),
    "status": st.sampled_from(["", "active", "cancelled"]),
    "cost_price": st.one_of(
        st.just(""), st.decimals(allow_nan=True, allow_infinity=True, places=5).map(str)
    ),
    "customer_price": st.one_of(st.just(""), st.floats().map(str)),
}
_ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=300)


_VALID_ROW = st.fixed_dictionaries(_VALID)
# Mostly plausible rows, some with one cell replaced by arbitrary text.
_ROW = st.builds(
    lambda row, damage: row if damage is None else {**row, damage[0]: damage[1]},
    _VALID_ROW,
    st.none() | st.tuples(st.sampled_from(CSV_COLUMNS), _ANY_TEXT),
)


def _to_csv(rows: list[dict[str, str]], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    return buffer.getvalue()


def _state(db: Database, workspace_id: int) -> list[Any]:
    with db.session() as session:
        found: list[Any] = []
        for model in (Account, Service, Subscription):
            rows = session.scalars(
                select(model).where(model.workspace_id == workspace_id).order_by(model.id)
            ).all()
            found.extend(tuple(getattr(r, c.key) for c in model.__table__.columns) for r in rows)
        return found


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[Database, int, Path]]:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        db = Database(f"sqlite:///{root / 'p.db'}")
        db.migrate()
        with db.session() as session:
            workspace_id = WorkspaceRepository(session).create("props").id
        seed = root / "seed.csv"
        seed.write_text(GOOD_CSV, encoding="utf-8")
        import_file(db, workspace_id, seed)
        yield db, workspace_id, root
        db.dispose()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(_ROW, max_size=6),
    drop=st.sets(st.sampled_from(CSV_COLUMNS), max_size=2),
    snapshot=st.booleans(),
)
def test_csv_import_applies_fully_or_not_at_all(
    seeded: tuple[Database, int, Path], rows: list[dict[str, str]], drop: set[str], snapshot: bool
) -> None:
    db, workspace_id, root = seeded
    columns = [c for c in CSV_COLUMNS if c not in drop]
    path = root / "input.csv"
    path.write_text(_to_csv(rows, columns), encoding="utf-8")
    before = _state(db, workspace_id)
    refused: ImportValidationError | MassCancelError | None = None
    try:
        import_file(db, workspace_id, path, snapshot=snapshot)
    except (ImportValidationError, MassCancelError) as error:
        refused = error
    if refused is not None:
        event(f"refused: {type(refused).__name__}")
        if isinstance(refused, ImportValidationError):
            assert refused.errors
            assert all(e.location.startswith("line ") for e in refused.errors)
        assert _state(db, workspace_id) == before
        return
    event("imported")
    # What was accepted is stored exactly: importing it again changes nothing.
    assert not import_file(db, workspace_id, path, snapshot=snapshot).changed
    # Put the seed back so the next example starts from the same state.
    import_file(db, workspace_id, root / "seed.csv", snapshot=True, allow_mass_cancel=True)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_SUBSCRIPTION = st.fixed_dictionaries(
    {
        "account_ref": st.one_of(st.sampled_from(["A1", "A2", "ZZ"]), _JSON),
        "service_ref": st.one_of(st.sampled_from(["S1", "S2"]), _JSON),
        "quantity": st.one_of(st.integers(-5, 2**40), _JSON),
        "start_date": st.one_of(st.dates().map(str), _JSON),
        "billing_cycle": st.one_of(st.just("monthly"), _JSON),
        "term": st.one_of(st.just("1y"), _JSON),
    },
    optional={
        "cost_price": st.one_of(st.decimals(places=6).map(str), st.floats(), _JSON),
        "end_date": st.one_of(st.dates().map(str), _JSON),
    },
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    document=st.one_of(
        _JSON,
        st.fixed_dictionaries(
            {"subscriptions": st.lists(_SUBSCRIPTION, max_size=4)},
            optional={"accounts": _JSON, "services": _JSON, "extra": _JSON},
        ),
    )
)
def test_json_import_never_crashes_or_half_applies(
    seeded: tuple[Database, int, Path], document: Any
) -> None:
    db, workspace_id, root = seeded
    before = _state(db, workspace_id)
    refused: ImportValidationError | None = None
    try:
        report = import_document(db, workspace_id, document)
    except ImportValidationError as error:
        refused = error
    if refused is not None:
        event("refused")
        assert all(e.location.startswith("$") for e in refused.errors)
        assert _state(db, workspace_id) == before
        return
    event("imported")
    assert report.rows >= 0
    import_file(db, workspace_id, root / "seed.csv", snapshot=True, allow_mass_cancel=True)


_QUANTITY = TypeAdapter(Quantity)


@settings(max_examples=300, deadline=None)
@given(st.decimals(min_value=0, max_value=MAX_QUANTITY, places=4))
def test_a_count_with_at_most_4_decimal_places_reads_back_exactly(count: Decimal) -> None:
    """As text, as a Decimal and (where the float says the same number) as a JSON float."""
    forms: list[Any] = [str(count), format(count, "f"), count]
    if Decimal(repr(float(count))) == count:
        forms.append(float(count))
    for form in forms:
        read = _QUANTITY.validate_python(form)
        assert read == count
        assert read == read.to_integral_value() or read == read.quantize(Decimal("0.0001"))


@given(
    st.decimals(min_value=0, max_value=MAX_QUANTITY, places=5).filter(
        lambda d: d != d.quantize(Decimal("0.0001"))
    )
)
def test_a_fifth_decimal_place_is_refused_never_rounded(count: Decimal) -> None:
    for form in (str(count), count):
        with pytest.raises(ValidationError, match="at most 4 decimal places"):
            _QUANTITY.validate_python(form)


# A row as the CSV reader hands it over (blank cells left out), or as a plug-in's "row"
# record may give it (any key, any JSON value).
_ROW_GIVEN = st.one_of(
    _ROW.map(lambda row: {c: v for c, v in row.items() if v and not v.isspace()}),
    st.builds(
        lambda row, drop, extra: {k: v for k, v in row.items() if k not in drop} | extra,
        _ROW,
        st.sets(st.sampled_from(CSV_COLUMNS), max_size=3),
        st.dictionaries(st.sampled_from([*CSV_COLUMNS, "extra"]), _JSON, max_size=2),
    ),
)


def _through(rows: list[dict[str, Any]], *, fast: bool) -> tuple[Any, ...]:
    """What a builder makes of ``rows``: its errors, accounts, services and spooled rows."""
    with BatchBuilder() as builder:
        with pytest.MonkeyPatch.context() as patch:
            if not fast:
                patch.setattr(batch_module, "parse_csv_row", lambda _data: None)
            for number, row in enumerate(rows, 2):
                builder.add_csv_row(row, Location(f"line {number}"))
        return (
            [(e.location, e.message) for e in builder.errors],
            {ref: a.model_dump() for ref, a in builder.batch.accounts.items()},
            {ref: s.model_dump() for ref, s in builder.batch.services.items()},
            list(builder.batch.subscriptions.rows()),
        )


@settings(max_examples=150, deadline=None)
@given(st.lists(_ROW_GIVEN, max_size=5))
def test_the_fast_csv_row_path_accepts_refuses_and_stores_as_pydantic_does(
    rows: list[dict[str, Any]],
) -> None:
    """parse_csv_row (the field parsers called directly) against CsvRow.model_validate: the
    same rows accepted with the same values, the same refused with the same messages."""
    for row in rows:
        fast = parse_csv_row(row)
        try:
            model = CsvRow.model_validate(row, context={"text": True})
        except ValidationError:
            assert fast is None
            event("refused")
            continue
        event("accepted")
        assert fast == tuple(getattr(model, column) for column in CSV_COLUMNS)
    assert _through(rows, fast=True) == _through(rows, fast=False)
