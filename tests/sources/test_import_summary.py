"""An import's summary counts in words: "1 error", "3 errors", "1 row", "3 rows", "1 cell"."""

from __future__ import annotations

from pathlib import Path

from halosync.sources.batch import BatchBuilder
from halosync.sources.errors import ImportValidationError, UsageError
from halosync.sources.readers import read_csv
from tests.cli_inprocess import home_env, run_cli
from tests.sources.conftest import GOOD_CSV, HEADER


def _refused(count: int) -> ImportValidationError:
    return ImportValidationError([UsageError(f"line {n + 2}", "is wrong") for n in range(count)])


def test_the_refusal_counts_its_errors_in_words_everywhere_it_is_said() -> None:
    one, three = _refused(1), _refused(3)
    assert one.summary == "The input has 1 error; nothing was changed."
    assert three.summary == "The input has 3 errors; nothing was changed."
    for refused in (one, three):
        assert str(refused).splitlines()[0] == refused.summary
        assert refused.as_dict()["detail"] == refused.summary


def test_the_cli_says_how_many_rows_it_imported_in_words(tmp_path: Path) -> None:
    env = home_env(tmp_path)
    assert run_cli(env, "workspace", "create", "acme")[0] == 0
    three = tmp_path / "three.csv"
    three.write_text(GOOD_CSV, encoding="utf-8")
    one = tmp_path / "one.csv"
    one.write_text("\n".join(GOOD_CSV.splitlines()[:2]) + "\n", encoding="utf-8")
    assert "Imported 3 rows into workspace 'acme':" in run_cli(env, "import", str(three))[1]
    assert "Imported 1 row into workspace 'acme':" in run_cli(env, "import", str(one))[1]


def test_a_row_of_one_cell_is_said_so(tmp_path: Path) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(f"{HEADER}\nA1\n", encoding="utf-8")
    with BatchBuilder() as builder:
        read_csv(path, builder)
        assert [str(e) for e in builder.errors] == [
            "line 2: has 1 cell but the header has 14 columns"
        ]
