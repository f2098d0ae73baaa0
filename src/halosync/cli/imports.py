"""``halosync import`` and ``halosync source list|run``: feeding usage into a workspace."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

from halosync.cli.app import app, echo, emit_json
from halosync.cli.common import JsonOption, WorkspaceOption, open_database, resolve_workspace
from halosync.domain.models import NO_LONGER_SENT
from halosync.errors import HalosyncError
from halosync.sources.apply import ImportReport, several_terms_text
from halosync.sources.errors import ImportValidationError, MassCancelError, cancelled_text
from halosync.sources.importer import import_file, import_records
from halosync.sources.plugins import list_sources, load_source

source_app = typer.Typer(help="Plug-in usage sources.", no_args_is_help=True)
app.add_typer(source_app, name="source")

SnapshotOption = Annotated[
    bool,
    typer.Option(
        "--snapshot",
        help="The input is the complete list: cancel subscriptions it does not contain.",
    ),
]
AllowMassCancelOption = Annotated[
    bool,
    typer.Option(
        "--allow-mass-cancel",
        help=(
            "With --snapshot: go ahead even when the input lists no subscriptions or would "
            "cancel more than the workspace's snapshot cancel limit (settings)."
        ),
    ),
]
MASS_CANCEL_FIX = (
    "If the vendor really ended them, run it again with --allow-mass-cancel; the limit is "
    "`halosync settings set --snapshot-cancel-limit PERCENT`."
)


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on a terminal; nothing when output is piped or captured."""
    if not sys.stderr.isatty():
        yield None
        return
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)


def _print_report(report: ImportReport, workspace: str, as_json: bool) -> None:
    if as_json:
        emit_json({"workspace": workspace} | report.as_dict())
        return
    echo(f"Imported {report.rows_read} into workspace {workspace!r}:")
    for label, counts in (
        ("accounts", report.accounts),
        ("services", report.services),
        ("subscriptions", report.subscriptions),
    ):
        echo(
            f"  {label:<14} {counts.created} created, {counts.updated} updated, "
            f"{counts.unchanged} unchanged"
        )
    if report.snapshot:
        echo(f"  cancelled      {len(report.cancelled)}: {NO_LONGER_SENT}")
        for cancelled in report.cancelled:
            echo(f"    {cancelled_text(cancelled)}")
    if report.several_terms:
        echo(f"  {several_terms_text(report.several_terms)}")


def _refuse(error: HalosyncError, as_json: bool) -> None:
    if isinstance(error, MassCancelError):
        error.fix = MASS_CANCEL_FIX
    if as_json and isinstance(error, ImportValidationError | MassCancelError):
        emit_json(error.as_dict())
    raise error


@app.command("import")
def import_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A .csv or .json usage file.")],
    workspace: WorkspaceOption = None,
    snapshot: SnapshotOption = False,
    allow_mass_cancel: AllowMassCancelOption = False,
    as_json: JsonOption = False,
) -> None:
    """Import accounts, services and subscriptions; a file with any bad row changes nothing."""
    database = open_database(ctx)
    target = resolve_workspace(database, workspace)
    size = file.stat().st_size if file.is_file() else 0
    try:
        with _progress(size, f"Importing {file.name}") as progress:
            report = import_file(
                database,
                target.id,
                file,
                snapshot=snapshot,
                allow_mass_cancel=allow_mass_cancel,
                progress=progress,
            )
    except HalosyncError as error:
        _refuse(error, as_json)
    _print_report(report, target.name, as_json)


@source_app.command("list")
def list_command(as_json: JsonOption = False) -> None:
    """List the installed usage sources (entry-point group halosync.sources)."""
    sources = list_sources()
    if as_json:
        emit_json([vars(s) for s in sources])
        return
    for source in sources:
        echo(f"{source.name}\t{source.target}\t{source.description}")


def _parse_options(pairs: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise HalosyncError(
                f"Option {pair!r} is not key=value.", fix="Write --option path=DIR."
            )
        options[key.strip()] = value
    return options


@source_app.command("run")
def run_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The source's name (see `source list`).")],
    workspace: WorkspaceOption = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="key=value passed to the source; repeatable."),
    ] = None,
    snapshot: SnapshotOption = False,
    allow_mass_cancel: AllowMassCancelOption = False,
    as_json: JsonOption = False,
) -> None:
    """Run a source like an import: validate everything, then write in one transaction."""
    database = open_database(ctx)
    target = resolve_workspace(database, workspace)
    source = load_source(name, _parse_options(option or []))
    try:
        report = import_records(
            database,
            target.id,
            source.records(),
            snapshot=snapshot,
            allow_mass_cancel=allow_mass_cancel,
        )
    except HalosyncError as error:
        _refuse(error, as_json)
    _print_report(report, target.name, as_json)
