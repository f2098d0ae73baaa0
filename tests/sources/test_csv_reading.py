"""A CSV file that is not quite what halosync reads: each problem named where it starts, with
what to do about it (an unclosed quote, semicolons for commas, a line of megabytes)."""

from __future__ import annotations

from pathlib import Path

from halosync.sources.batch import BatchBuilder
from halosync.sources.readers import MAX_CSV_LINE_BYTES, open_csv, read_csv
from tests.sources.conftest import HEADER

ROW = "{ref},Name {ref},active,true,S1,Mail,1,2024-01-01,,monthly,1y,,,\n"
QUOTE_FIX = 'add the closing quote, or write a quote that is part of a cell twice ("")'


def _errors(tmp_path: Path, content: str | bytes) -> list[str]:
    path = tmp_path / "usage.csv"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    with BatchBuilder() as builder:
        read_csv(path, builder)
        return [str(error) for error in builder.errors]


def test_a_quote_never_closed_is_named_on_the_line_it_opens(tmp_path: Path) -> None:
    content = (
        f"{HEADER}\n"
        + ROW.format(ref="A1")
        + 'A2,"Name A2,active,true,S1,Mail,1,2024-01-01,,monthly,1y,,,\n'
        + ROW.format(ref="A3")
        + ROW.format(ref="A4")
    )
    assert _errors(tmp_path, content) == [
        'line 3: the quote (") that opens a cell on this line is never closed, so the rest '
        f"of the file (lines 3-5) was read as that one cell; {QUOTE_FIX}"
    ]


def test_a_quote_opened_on_a_later_line_of_a_row_is_named_on_its_own_line(
    tmp_path: Path,
) -> None:
    """A row whose quoted cell rightly holds a line break, then a quote left open."""
    content = f'{HEADER}\nA1,"Multi\nline",active,"true,S1,Mail\n' + ROW.format(ref="A2")
    assert _errors(tmp_path, content)[0].startswith(
        'line 3: the quote (") that opens a cell on this line is never closed, so the rest '
        "of the file (lines 3-4) was read as that one cell"
    )


def test_a_stray_quote_closed_by_the_next_one_names_both_lines(tmp_path: Path) -> None:
    content = (
        f"{HEADER}\n"
        + 'A1,"Acme,active,true,S1,Mail,1,2024-01-01,,monthly,1y,,,\n'
        + 'A2,Beta,active,true,S1,"Mail",1,2024-01-01,,monthly,1y,,,\n'
        + ROW.format(ref="A3")
    )
    assert _errors(tmp_path, content) == [
        'line 2: the quote (") that opens a cell on this line is closed only on line 3, so '
        "lines 2-3 were read as one row of 10 cells (the header has 14 columns); "
        f"{QUOTE_FIX}"
    ]


def test_a_quote_never_closed_in_a_big_file_is_named_not_called_a_field_limit(
    tmp_path: Path,
) -> None:
    rows = "".join(ROW.format(ref=f"A{n}") for n in range(3, 3000))
    content = f'{HEADER}\n{ROW.format(ref="A1")}A2,"Name A2,active,true\n{rows}'
    (error,) = _errors(tmp_path, content)
    assert error.startswith(
        'line 3: a quote (") opened in the row that starts on this line is not closed within '
        "131,072 characters (it runs past line "
    )
    assert error.endswith(f"); {QUOTE_FIX}")


def test_a_file_separated_by_semicolons_is_told_how_to_save_it_with_commas(
    tmp_path: Path,
) -> None:
    content = HEADER.replace(",", ";") + "\n" + ROW.format(ref="A1").replace(",", ";")
    (error,) = _errors(tmp_path, content)
    assert error.startswith(
        "line 1 (header): the columns are separated by semicolons (;), as Excel writes a CSV "
        "where a comma is the decimal separator; halosync reads columns separated by commas "
        "(and numbers with a decimal point). Save the file with commas: "
    )
    assert "set the List separator to ," in error
    assert "choose , as the field delimiter" in error
    assert "Known columns" not in error


def test_a_line_longer_than_the_limit_is_named_and_not_read_whole(tmp_path: Path) -> None:
    long_name = "x" * (MAX_CSV_LINE_BYTES + 10)
    content = f"{HEADER}\n{ROW.format(ref='A1')}A2,{long_name},active\n{ROW.format(ref='A3')}"
    assert _errors(tmp_path, content) == [
        f"line 3: is longer than {MAX_CSV_LINE_BYTES:,} bytes, the most a line of a usage "
        "CSV may hold (a row takes a few hundred); nothing after it was read. Check that "
        "this is a usage CSV with one row per line"
    ]


def test_a_line_just_under_the_limit_is_read_as_a_row(tmp_path: Path) -> None:
    name = "x" * (MAX_CSV_LINE_BYTES - 100)
    content = f"{HEADER}\nA1,{name},active,true,S1,Mail,1,2024-01-01,,monthly,1y,,,\n"
    assert _errors(tmp_path, content) == [
        "line 2, column account_name: is longer than 255 characters"
    ]


def test_a_file_with_old_mac_line_ends_is_not_one_long_line(tmp_path: Path) -> None:
    rows = "".join(ROW.format(ref=f"A{n}") for n in range(1, 2000))
    content = f"{HEADER}\n{rows}".replace("\n", "\r")
    assert len(content) > MAX_CSV_LINE_BYTES
    assert _errors(tmp_path, content) == []


def test_the_capped_text_reads_whole_as_a_file_does(tmp_path: Path) -> None:
    rows = "".join(ROW.format(ref=f"A{n}") for n in range(1, 2000))
    path = tmp_path / "usage.csv"
    path.write_text(f"{HEADER}\n{rows}", encoding="utf-8")
    with open_csv(path) as (_raw, text):
        assert text.read() == f"{HEADER}\n{rows}"
