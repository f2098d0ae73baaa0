"""Reading CSV and JSON usage files into a :class:`BatchBuilder`, streaming both."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from halosync.domain.text import UNDECODABLE, undecodable_byte
from halosync.errors import ValidationFailedError
from halosync.sources.batch import RECORD_MODELS, BatchBuilder, ErrorList
from halosync.sources.errors import (
    ImportValidationError,
    Location,
    UsageError,
    describe,
    from_validation_error,
)
from halosync.sources.json_stream import (
    MAX_DEPTH,
    JsonSyntaxError,
    JsonTooDeepError,
    NotUtf8Error,
    iter_document,
)
from halosync.sources.json_stream import load as load_json
from halosync.sources.schemas import CSV_COLUMNS, REQUIRED_CSV_COLUMNS

# Called with the number of bytes read so far (a progress bar's position).
Progress = Callable[[int], None]
_PROGRESS_EVERY = 2000
MAX_JSON_DEPTH = MAX_DEPTH
FILE_HINT = "save the file as UTF-8"
BODY_HINT = "send the body as UTF-8"
# A CSV is decoded with errors="surrogateescape": a byte that is not UTF-8 is found in the
# very row and cell it stands in, and reading goes on.
_UNDECODABLE = UNDECODABLE
_OPTIONAL_COLUMNS = frozenset(CSV_COLUMNS) - frozenset(REQUIRED_CSV_COLUMNS)
# The longest line a usage CSV may hold (a row of 14 cells of at most 255 characters
# takes under 30 KiB however it is written): a longer one is refused as soon as it is read
# this far, so a file of one 200 MB line takes no more memory than any other (it took
# 450 MiB, or 1.8 GiB for 200,000,000 commas). Documented in docs/importing.md.
MAX_CSV_LINE_BYTES = 65_536
# What the text layer asks for at once (its default is 8 KiB): the line check runs once a
# chunk, and a line within one chunk is shorter than the limit.
_CHUNK_BYTES = MAX_CSV_LINE_BYTES
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_QUOTE_FIX = 'add the closing quote, or write a quote that is part of a cell twice ("")'
_SEMICOLONS = (
    "the columns are separated by semicolons (;), as Excel writes a CSV where a comma is the "
    "decimal separator; halosync reads columns separated by commas (and numbers with a "
    "decimal point). Save the file with commas: in Windows' Control Panel > Region > "
    "Additional settings, set the List separator to , and the Decimal symbol to . and save "
    "from Excel again as CSV UTF-8; or in LibreOffice, save as Text CSV, tick Edit filter "
    "settings and choose , as the field delimiter"
)


def _not_utf8(text: str) -> str | None:
    byte = undecodable_byte(text)
    if byte is None:
        return None
    return f"is not UTF-8 text (byte 0x{byte:02X}); {FILE_HINT}"


class LineTooLongError(Exception):
    """A line of a CSV runs past :data:`MAX_CSV_LINE_BYTES`."""


class _CappedLines(io.BufferedIOBase):
    """``raw`` as the text layer reads it, chunk by chunk, refusing a line longer than
    :data:`MAX_CSV_LINE_BYTES` as soon as it is: the text layer would otherwise gather it
    whole before the CSV reader saw any of it. Costs a few scans of each chunk (64 KiB),
    never a step per line."""

    def __init__(self, raw: io.BufferedReader) -> None:
        super().__init__()
        self._raw = raw
        self._run = 0  # bytes since the last line end

    @property
    def name(self) -> str:
        return str(self._raw.name)

    def readable(self) -> bool:
        return True

    def read1(self, size: int = -1, /) -> bytes:
        chunk = self._raw.read1(size)
        last = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        if last < 0:
            self._run += len(chunk)
        else:
            ends = [at for at in (chunk.find(b"\n"), chunk.find(b"\r")) if at >= 0]
            if self._run + min(ends) > MAX_CSV_LINE_BYTES:
                raise LineTooLongError
            self._run = len(chunk) - last - 1
        if self._run > MAX_CSV_LINE_BYTES:
            raise LineTooLongError
        return chunk

    def read(self, size: int | None = -1, /) -> bytes:
        """Up to ``size`` bytes, all that is left when it is negative (as a buffered file
        answers; the text layer's ``read()`` asks for that), each chunk checked as read1's."""
        chunks: list[bytes] = []
        wanted = -1 if size is None else size
        while wanted != 0 and (chunk := self.read1(_CHUNK_BYTES if wanted < 0 else wanted)):
            chunks.append(chunk)
            wanted = wanted - len(chunk) if wanted > 0 else wanted
        return b"".join(chunks)


@contextmanager
def open_csv(path: Path) -> Iterator[tuple[IO[bytes], IO[str]]]:
    """``path`` as raw bytes (for progress) and as text for :func:`iter_csv_rows`, whose
    lines are at most :data:`MAX_CSV_LINE_BYTES` long (:class:`LineTooLongError`)."""
    with _open_binary(path) as raw:
        text = io.TextIOWrapper(
            _CappedLines(raw), encoding="utf-8-sig", errors="surrogateescape", newline=""
        )
        text._CHUNK_SIZE = _CHUNK_BYTES  # type: ignore[attr-defined]
        yield raw, text


def _line_breaks(text: str) -> int:
    return len(_LINE_BREAK.findall(text))


def _open_quote(cells: list[str], start: int, end: int, columns: int) -> tuple[int, str] | None:
    """What is wrong with a row read from lines ``start`` to ``end`` (a quoted cell held a
    line break) when a quote was left open: it runs to the end of the file (the last cell
    ends with the file's line end), or a later quote closed it and the row has the wrong
    number of cells: the line the quote opens on and what to say. None when it may be a
    cell that rightly holds a line break (its column then says what it makes of that)."""
    never_closed = cells[-1].endswith(("\n", "\r"))
    if not never_closed and len(cells) == columns:
        return None
    # The quote left open is the last cell's, or else the first that holds a line break.
    index = (
        len(cells) - 1
        if never_closed
        else next(i for i, c in enumerate(cells) if "\n" in c or "\r" in c)
    )
    opened = start + sum(_line_breaks(cell) for cell in cells[:index])
    said = 'the quote (") that opens a cell on this line '
    if never_closed:
        return opened, (
            f"{said}is never closed, so the rest of the file (lines {opened}-{end}) was read "
            f"as that one cell; {_QUOTE_FIX}"
        )
    closed = opened + _line_breaks(cells[index])
    return opened, (
        f"{said}is closed only on line {closed}, so lines {start}-{end} were read as one "
        f"row of {len(cells)} cells (the header has {columns} columns); {_QUOTE_FIX}"
    )


def _too_long() -> str:
    return (
        f"is longer than {MAX_CSV_LINE_BYTES:,} bytes, the most a line of a usage CSV may "
        "hold (a row takes a few hundred); nothing after it was read. Check that this is a "
        "usage CSV with one row per line"
    )


def _unreadable(error: Exception, line: int) -> str:
    if "field larger than field limit" in str(error):
        # Lines are shorter than the cell limit, so only a quoted cell over lines gets here.
        return (
            f'a quote (") opened in the row that starts on this line is not closed within '
            f"{csv.field_size_limit():,} characters (it runs past line {line}); {_QUOTE_FIX}"
        )
    return f"cannot be read as CSV: {error}"


def _by_semicolons(header: list[str]) -> bool:
    """Whether the header names the columns separated by semicolons (European Excel)."""
    names = [_normalise_header(part) for cell in header for part in cell.split(";")]
    return len(names) > len(header) and any(name in CSV_COLUMNS for name in names)


def _normalise_header(cell: str) -> str:
    return cell.strip().lstrip("\ufeff").strip().lower().replace(" ", "_")


def iter_csv_rows(
    handle: IO[str], builder: BatchBuilder, *, label: str = ""
) -> Iterator[tuple[dict[str, str], Location]]:
    """Yield each data row as ``{column: cell}`` with its location; header problems go to
    ``builder`` (and stop the file, since no row can be read without a good header).

    ``handle`` is opened by :func:`open_csv`: a byte that is not UTF-8 is named by the line
    and column it stands in, and that row is left out.
    """
    prefix = f"{label} " if label else ""
    reader = csv.reader(handle)
    try:
        header = next(reader, None)
    except LineTooLongError:
        builder.stop(f"{prefix}line 1", _too_long())
        return
    except (csv.Error, UnicodeDecodeError) as error:
        builder.stop(f"{prefix}line 1", f"cannot be read as CSV: {error}")
        return
    if header is None:
        builder.stop(f"{prefix}line 1", "the file is empty; a header row is required")
        return
    bad_text = _not_utf8("".join(header))
    if bad_text:
        builder.stop(f"{prefix}line 1 (header)", bad_text)
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
    if missing and _by_semicolons(header):
        builder.stop(f"{prefix}line 1 (header)", _SEMICOLONS)
        return
    if problems:
        builder.stop(
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
        except LineTooLongError:
            builder.stop(f"{prefix}line {reader.line_num + 1}", _too_long())
            return
        except (csv.Error, UnicodeDecodeError) as error:
            builder.stop(f"{prefix}line {start}", _unreadable(error, reader.line_num))
            return
        line = reader.line_num
        text = "".join(cells)
        if not text.strip():
            continue
        if line != start and (open_quote := _open_quote(cells, start, line, len(columns))):
            builder.batch.rows += 1
            builder.error(f"{prefix}line {open_quote[0]}", open_quote[1])
            continue
        where = Location(f"{prefix}line {start}", "column")
        if len(cells) != len(columns):
            builder.batch.rows += 1
            builder.error(
                where.base,
                f"has {len(cells)} {'cell' if len(cells) == 1 else 'cells'} but the header has "
                f"{len(columns)} columns",
            )
            continue
        if _UNDECODABLE.search(text):
            builder.batch.rows += 1
            for column, cell in zip(columns, cells, strict=True):
                if bad_text := _not_utf8(cell):
                    builder.error(where.at(column), bad_text)
            continue
        # A blank cell of a required column is absent (named as missing); of an optional
        # column it is kept: the column is given, empty, and clears what is stored.
        yield (
            {
                c: v
                for c, v in zip(columns, cells, strict=True)
                if c and ((v and not v.isspace()) or c in _OPTIONAL_COLUMNS)
            },
            where,
        )


def read_csv(
    path: Path, builder: BatchBuilder, *, progress: Progress | None = None, label: str = ""
) -> None:
    """Validate every row of a CSV file into ``builder``."""
    with open_csv(path) as (raw, text):
        for count, (data, where) in enumerate(iter_csv_rows(text, builder, label=label), 1):
            builder.add_csv_row(data, where)
            if progress is not None and count % _PROGRESS_EVERY == 0:
                progress(raw.tell())
        if progress is not None:
            progress(raw.tell())


_LISTS = {"accounts": "account", "services": "service", "subscriptions": "subscription"}
_NOT_AN_OBJECT = 'must be an object with "accounts", "services" and "subscriptions"'


class JsonDocument:
    """Validates a usage document member by member, with the same outcome and field errors,
    in the same order, as validating it whole as a :class:`UsagePayload`.

    Each list's problems are reported in item order (a bad field, or a contradiction with
    an earlier item, such as two different subscriptions of one account to one service),
    the lists in the order accounts, services, subscriptions, then unknown members. A
    repeated member replaces the earlier one, as ``json.loads`` would.
    """

    def __init__(self, builder: BatchBuilder) -> None:
        self._builder = builder
        self._root = Location("$", "path")
        self._errors = {key: ErrorList() for key in _LISTS}
        self._rows = dict.fromkeys(_LISTS, 0)
        self._unknown: dict[str, None] = {}
        self._started: set[str] = set()

    def start_list(self, key: str) -> None:
        """Member ``key`` (one of the lists) begins; it replaces any earlier one."""
        if key in self._started:
            self._builder.forget([_LISTS[key]])
            self._errors[key] = ErrorList()
            self._rows[key] = 0
        self._started.add(key)

    def member(self, key: str, value: object) -> None:
        """A whole member of the document."""
        if key not in _LISTS:
            self._unknown.setdefault(key)
            return
        self.start_list(key)
        if not isinstance(value, list):
            self._errors[key].add(self._root.at(key), describe("list_type", ""))
            return
        for index, item in enumerate(value):
            self.item(key, index, item)

    def item(self, key: str, index: int, value: object) -> None:
        """Element ``index`` of list member ``key``."""
        where = Location(f"$.{key}[{index}]", "path")
        kind = _LISTS[key]
        self._rows[key] += 1
        try:
            item = RECORD_MODELS[kind].model_validate(value)
        except ValidationError as error:
            for found in from_validation_error(error, where):
                self._errors[key].add(found.location, found.message)
            self._builder.refused(kind, value)
            return
        with self._builder.errors_to(self._errors[key]):
            self._builder.add_item(item, where)

    def finish(self) -> None:
        """Hand the problems found to the builder, in order."""
        for key in _LISTS:
            self._builder.add_errors(self._errors[key])
            self._builder.batch.rows += self._rows[key]
        unknown = ErrorList()
        for key in self._unknown:
            unknown.add(self._root.at(key), describe("extra_forbidden", ""))
        self._builder.add_errors(unknown)


def read_json(path: Path, builder: BatchBuilder, *, progress: Progress | None = None) -> None:
    """Validate a JSON usage file (``{"accounts", "services", "subscriptions"}``), streaming:
    list items are decoded and validated one at a time, never the whole file at once."""
    with _open_binary(path) as raw:
        read_json_stream(raw, builder, progress=progress)


def read_json_stream(
    raw: IO[bytes],
    builder: BatchBuilder,
    *,
    progress: Progress | None = None,
    hint: str = FILE_HINT,
) -> None:
    """Validate a JSON usage document read from ``raw`` (a file, or the REST API's body);
    ``hint`` says how to fix text that is not UTF-8."""
    document = JsonDocument(builder)
    try:
        for event in iter_document(raw, frozenset(_LISTS), progress=progress):
            if event.kind == "item":
                document.item(event.key, event.index, event.value)
            elif event.kind == "list":
                document.start_list(event.key)
            elif event.kind == "value":
                document.member(event.key, event.value)
            else:
                builder.stop("$", _NOT_AN_OBJECT)
                return
    except (NotUtf8Error, JsonSyntaxError) as error:
        problem = json_problem(error, hint=hint, needs="a usage document needs 3")
        builder.stop(problem.location, problem.message)
        return
    document.finish()


def json_problem(
    error: NotUtf8Error | JsonSyntaxError, *, hint: str, needs: str = ""
) -> UsageError:
    """Where and what is wrong with text that should be JSON: one wording for files and
    every request body; ``needs`` says how deep the document should go."""
    where = f"line {error.line}, column {error.column}"
    if isinstance(error, NotUtf8Error):
        what = f"is not UTF-8 text (byte 0x{error.value:02X} at offset {error.offset}); {hint}"
    elif isinstance(error, JsonTooDeepError):
        what = f"nested more than {MAX_DEPTH} levels deep, inside {error.path}"
        what += f" ({needs})" if needs else ""
    else:
        what = f"invalid JSON: {error.message}"
    return UsageError(where, what)


def read_json_body(body: bytes) -> Any:
    """A request body that is JSON, read by the same rules as a usage document (at most
    :data:`MAX_DEPTH` deep, UTF-8); :class:`ImportValidationError` names the line and column
    where it is not."""
    try:
        return load_json(io.BytesIO(body))
    except (NotUtf8Error, JsonSyntaxError) as error:
        raise ImportValidationError([json_problem(error, hint=BODY_HINT)]) from None


def read_document(document: object, builder: BatchBuilder) -> None:
    """Validate an already-parsed JSON document (also the REST API's body)."""
    if not isinstance(document, dict):
        builder.stop("$", _NOT_AN_OBJECT)
        return
    reader = JsonDocument(builder)
    for key, value in document.items():
        reader.member(str(key), value)
    reader.finish()


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


def _open_binary(path: Path) -> io.BufferedReader:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise ValidationFailedError(f"{path}: no such file.") from None
    except IsADirectoryError:
        raise ValidationFailedError(f"{path}: is a directory, not a file.") from None
    except PermissionError:
        raise ValidationFailedError(f"{path}: permission denied.") from None
