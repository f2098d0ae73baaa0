"""The example plug-in source: every ``*.csv`` file in a directory, in the import's columns."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from halosync.errors import ValidationFailedError
from halosync.sources.batch import BatchBuilder
from halosync.sources.errors import Location
from halosync.sources.plugins import SourceRecord
from halosync.sources.readers import iter_csv_rows, open_csv


class CsvDirectorySource:
    """Reads every *.csv in a directory (option: path=DIR), same columns as `halosync import`."""

    def __init__(self, path: str = ".", pattern: str = "*.csv") -> None:
        self.path = Path(path)
        self.pattern = pattern

    def records(self) -> Iterator[SourceRecord]:
        """One ``row`` record per data row of each file, files in name order."""
        if not self.path.is_dir():
            raise ValidationFailedError(
                f"{self.path}: not a directory.",
                fix="Pass --option path=DIR.",
                fixes={
                    "api": "Set the source's path option.",
                    "ui": "Set the source's path option.",
                },
            )
        files = sorted(p for p in self.path.glob(self.pattern) if p.is_file())
        if not files:
            raise ValidationFailedError(f"{self.path}: no files match {self.pattern!r}.")
        for file in files:
            header_check = BatchBuilder()
            with open_csv(file) as (_raw, handle):
                for data, where in iter_csv_rows(handle, header_check, label=file.name):
                    yield SourceRecord("row", data, where)
            for error in header_check.errors:
                yield SourceRecord("error", {"message": error.message}, Location(error.location))
