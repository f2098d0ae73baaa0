"""Reading CSV and JSON usage files into a :class:`BatchBuilder`, streaming CSV row by row."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from halosync.errors import ValidationFailedError
from halosync.sources.batch import BatchBuilder
from halosync.sources.errors import Location
from halosync.sources.schemas import CSV_COLUMNS, REQUIRED_CSV_COLUMNS, UsagePayload

# Called with the number of bytes read so far (a progress bar's position).
Progress = Callable[[int], None]
_PROGRESS_EVERY = 2000


def _normalise_header(cell: str) -> str:
    return cell.strip().lstrip("\ufeff").strip().lower().replace(" ", "_")


def iter_csv_rows(
    handle: IO[str], builder: BatchBuilder, *, label: str = ""
) -> Iterator[tuple[dict[str, str], Location]]:
    """Yield each data row as ``{column: cell}`` with its location; header problems go to
    ``builder`` (and stop the file, since no row can be read without a good header)."""
    prefix = f"{label} " if label else ""
    reader = csv.reader(handle)
    try:
        header = next(reader, None)
    except (csv.Error, UnicodeDecodeError) as error:
        builder.error(f"{prefix}line 1", f"cannot be read as CSV: {error}")
        return
    if header is None:
        builder.error(f"{prefix}line 1", "the file is empty; a header row is required")
        return
    columns = [_normalise_header(cell) for cell in header]
    problems = []
    duplicates = sorted({c for c in columns if columns.count(c) > 1 and c})
    if duplicates:
        problems.append(f"duplicate column(s): {', '.join(duplicates)}")
    unknown = [c for c in columns if c and c not in CSV_COLUMNS]
    if unknown:
        problems.append(f"unknown column(s): {', '.join(unknown)}")
    missing = [c for c in REQUIRED_CSV_COLUMNS if c not in columns]
    if missing:
        problems.append(f"missing required column(s): {', '.join(missing)}")
    if problems:
        builder.error(
            f"{prefix}line 1 (header)",
            "; ".join(problems) + f". Known columns: {', '.join(CSV_COLUMNS)}",
        )
        return
    line = reader.line_num
    while True:
        start = line + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as error:
            builder.error(f"{prefix}line {start}", f"cannot be read as CSV: {error}")
            return
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        where = Location(f"{prefix}line {start}", "column")
        if len(cells) != len(columns):
            builder.batch.rows += 1
            builder.error(
                where.base, f"has {len(cells)} cells but the header has {len(columns)} columns"
            )
            continue
        # Blank cells count as absent, so optional columns may be left empty.
        yield {c: v for c, v in zip(columns, cells, strict=True) if c and v.strip()}, where


def read_csv(
    path: Path, builder: BatchBuilder, *, progress: Progress | None = None, label: str = ""
) -> None:
    """Validate every row of a CSV file into ``builder``."""
    with _open_binary(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        for count, (data, where) in enumerate(iter_csv_rows(text, builder, label=label), 1):
            builder.add_csv_row(data, where)
            if progress is not None and count % _PROGRESS_EVERY == 0:
                progress(raw.tell())
        if progress is not None:
            progress(raw.tell())


def read_json(path: Path, builder: BatchBuilder, *, progress: Progress | None = None) -> None:
    """Validate a JSON usage file (``{"accounts", "services", "subscriptions"}``)."""
    with _open_binary(path) as raw:
        content = raw.read()
    if progress is not None:
        progress(len(content))
    try:
        document = json.loads(content.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        builder.error("$", f"the file is not UTF-8 text (byte {error.start})")
        return
    except json.JSONDecodeError as error:
        builder.error(f"line {error.lineno}, column {error.colno}", f"invalid JSON: {error.msg}")
        return
    read_document(document, builder)


def read_document(document: object, builder: BatchBuilder) -> None:
    """Validate an already-parsed JSON document (also the REST API's body)."""
    root = Location("$", "path")
    if not isinstance(document, dict):
        builder.error("$", 'must be an object with "accounts", "services" and "subscriptions"')
        return
    try:
        payload = UsagePayload.model_validate(document)
    except ValidationError as error:
        builder.errors_from(error, root)
        return
    builder.add_payload(payload, root)


def read_file(path: Path, builder: BatchBuilder, *, progress: Progress | None = None) -> None:
    """Validate a .csv or .json usage file into ``builder``."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        read_csv(path, builder, progress=progress)
    elif suffix == ".json":
        read_json(path, builder, progress=progress)
    else:
        raise ValidationFailedError(
            f"{path}: unknown file type {suffix or '(none)'!r}.",
            fix="Import a .csv or a .json file.",
        )


def _open_binary(path: Path) -> IO[bytes]:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise ValidationFailedError(f"{path}: no such file.") from None
    except IsADirectoryError:
        raise ValidationFailedError(f"{path}: is a directory, not a file.") from None
    except PermissionError:
        raise ValidationFailedError(f"{path}: permission denied.") from None
