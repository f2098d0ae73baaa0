"""``halosync keys generate|rotate``: the keys that encrypt secrets at rest."""

from __future__ import annotations

import typer

from halosync.cli.app import app, echo, emit_json, state
from halosync.cli.common import JsonOption, open_database
from halosync.store.crypto import generate_key, rotate_keys

keys_app = typer.Typer(help="Manage the keys that encrypt stored secrets.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("generate")
def generate() -> None:
    """Print a new random key (put it first in HALOSYNC_SECRET_KEYS, then rotate)."""
    echo(generate_key())


@keys_app.command("rotate")
def rotate(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Re-encrypt every stored secret with the first key, in one transaction.

    With HALOSYNC_SECRET_KEYS: put the new key first and keep the old ones after it, run
    this, then drop the old keys. With the key file in the data directory, a new key is
    made and the old one retired automatically.
    """
    database = open_database(ctx)
    report = rotate_keys(state(ctx).settings, database.session)
    if as_json:
        emit_json(
            {
                "secrets_reencrypted": report.secrets,
                "key_source": report.key_source,
                "new_key": report.new_key,
            }
        )
        return
    echo(f"Re-encrypted {report.secrets} secret(s) with the first key of {report.key_source}.")
    if not report.new_key:
        echo("Old keys may now be removed from HALOSYNC_SECRET_KEYS.")
