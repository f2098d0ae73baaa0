"""The ``halosync`` command line. See ``../shared/cli-contract.md`` for the contract."""

from __future__ import annotations

# Each import registers that topic's commands on the root app.
from halosync.cli import (
    connection as _connection,  # noqa: F401
)
from halosync.cli import (
    demo as _demo,  # noqa: F401
)
from halosync.cli import (
    imports as _imports,  # noqa: F401
)
from halosync.cli import (
    keys as _keys,  # noqa: F401
)
from halosync.cli import (
    logs as _logs,  # noqa: F401
)
from halosync.cli import (
    mapping as _mapping,  # noqa: F401
)
from halosync.cli import (
    reconcile as _reconcile,  # noqa: F401
)
from halosync.cli import (
    runs as _runs,  # noqa: F401
)
from halosync.cli import (
    schedule as _schedule,  # noqa: F401
)
from halosync.cli import (
    serve as _serve,  # noqa: F401
)
from halosync.cli import (
    settings_cmd as _settings_cmd,  # noqa: F401
)
from halosync.cli import (
    simulator as _simulator,  # noqa: F401
)
from halosync.cli import (
    sync as _sync,  # noqa: F401
)
from halosync.cli import (
    sync_now as _sync_now,  # noqa: F401
)
from halosync.cli import (
    tokens as _tokens,  # noqa: F401
)
from halosync.cli import (
    users as _users,  # noqa: F401
)
from halosync.cli import (
    version as _version,  # noqa: F401
)
from halosync.cli import (
    worker as _worker,  # noqa: F401
)
from halosync.cli import (
    workspace as _workspace,  # noqa: F401
)
from halosync.cli.app import app, run_app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    run_app()
