"""Process-wide settings, read once from ``HALOSYNC_*`` environment variables.

One ``Settings`` object is built at start-up and passed down explicitly; nothing reads the
environment after that. The embedded default needs no configuration: the data directory,
the SQLite file and the encryption key are created on first use.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from halosync.database_url import sqlite_url
from halosync.errors import HalosyncError
from halosync.files import FolderMissingError, refuse_missing_folder

DEFAULT_DATABASE_FILE = "halosync.db"


def default_data_dir() -> Path:
    """Where the embedded default keeps its files: ``$XDG_DATA_HOME/halosync``."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "halosync"


class Settings(BaseSettings):
    """Everything an operator can set. Field ``x`` is read from ``HALOSYNC_X``."""

    model_config = SettingsConfigDict(env_prefix="HALOSYNC_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; defaults to a SQLite file in the data directory.",
    )
    auto_migrate: bool = Field(
        default=True,
        description=(
            "Migrate the database schema when a process starts. Off in production: "
            "run `halosync db upgrade` before starting new code."
        ),
    )
    secret_keys: SecretStr | None = Field(
        default=None,
        description=(
            "Comma-separated Fernet keys for secrets at rest; the first encrypts, all "
            "decrypt. Defaults to a key file created in the data directory."
        ),
    )
    allow_private_networks: bool = Field(
        default=False,
        description="Allow Halo server addresses on loopback/private networks and plain http.",
    )
    halo_rate_limit: int = Field(
        default=270,
        ge=1,
        description="Requests per rolling window halosync allows itself per Halo instance.",
    )
    halo_rate_window_seconds: float = Field(
        default=300.0, gt=0, description="Length of Halo's rolling rate-limit window."
    )
    sync_stale_run_seconds: float = Field(
        default=120.0,
        gt=0,
        description="A running sync whose heartbeat is older than this is taken as dead.",
    )
    sync_batch_size: int = Field(
        default=100, ge=1, le=500, description="Records per POST when the sync writes to Halo."
    )
    max_upload_mb: int = Field(
        default=20, ge=1, le=4096, description="Largest request body the web app accepts (MB)."
    )
    queue: Literal["embedded", "redis"] = Field(
        default="embedded",
        description="Job queue: 'embedded' (SQLite file, runs inside halosync serve) or 'redis'.",
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0", description="Redis broker of the 'redis' queue."
    )
    queue_name: str = Field(
        default="halosync", description="Queue name (Redis key prefix); one per installation."
    )
    jobs_tick_seconds: float = Field(
        default=60.0, gt=0, description="How often every worker looks for due scheduled runs."
    )
    jobs_requeue_seconds: float = Field(
        default=600.0, gt=0, description="A run queued this long untaken is sent again."
    )
    jobs_clock_offset_seconds: float = Field(
        default=0.0, description="Shifts the schedule clock (drills and tests of schedules)."
    )
    smtp_host: str | None = Field(default=None, description="SMTP server for sync emails.")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = Field(default="halosync@localhost", description="Sender of sync emails.")
    smtp_starttls: bool = Field(default=False, description="Upgrade the SMTP link with STARTTLS.")
    public_url: str = Field(
        default="http://127.0.0.1:8000", description="Base URL of the web UI, for email links."
    )
    session_idle_minutes: int = Field(
        default=60,
        ge=1,
        le=7 * 24 * 60,
        description="A web UI session unused this long ends (log in again).",
    )
    session_max_hours: int = Field(
        default=12,
        ge=1,
        le=30 * 24,
        description="A web UI session ends this long after its log-in, however busy.",
    )
    login_window_minutes: int = Field(
        default=15, ge=1, le=24 * 60, description="How long a failed log-in is counted."
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        description="Failed log-ins for one account from one address before that pair pauses.",
    )
    login_max_failures_per_account: int = Field(
        default=20,
        ge=1,
        description="Failed log-ins for one account, from any address, before it pauses.",
    )
    login_max_failures_per_address: int = Field(
        default=100,
        ge=1,
        description="Failed log-ins from one address (an IPv6 /64), for any account, before "
        "it pauses: high, since offices share one address.",
    )
    log_format: Literal["console", "json"] = "console"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        # Said and used as one place whatever the working directory of the process (a
        # service's is /), and ~ as the shell would read it (systemd's EnvironmentFile does
        # not).
        with contextlib.suppress(RuntimeError):  # no home to expand ~ to: as written
            value = value.expanduser()
        return value.absolute()

    @property
    def data_dir_named(self) -> bool:
        """``HALOSYNC_DATA_DIR`` (or the caller) named the data directory: not the default."""
        return "data_dir" in self.model_fields_set

    def data_dir_problem(self) -> FolderMissingError | None:
        """Why the data directory cannot be used as named (it is missing), or None."""
        if not self.data_dir_named:
            return None
        try:
            refuse_missing_folder(
                self.data_dir,
                f"The data directory {self.data_dir} named by HALOSYNC_DATA_DIR "
                + ("is not a folder." if self.data_dir.exists() else "does not exist."),
                setting="HALOSYNC_DATA_DIR",
            )
        except FolderMissingError as error:
            return error
        return None

    def ensure_data_dir(self) -> Path:
        """The data directory; the default one is created (owner-only) if it is missing,
        one named by ``HALOSYNC_DATA_DIR`` must exist (see ``refuse_missing_folder``)."""
        problem = self.data_dir_problem()
        if problem is not None:
            raise problem
        if self.data_dir_named:
            return self.data_dir
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as error:
            raise HalosyncError(
                f"Cannot create the default data directory {self.data_dir}: "
                f"{error.strerror or error}.",
                fix="Set HALOSYNC_DATA_DIR to an existing folder halosync may write (or "
                "XDG_DATA_HOME to one where it may create halosync/).",
            ) from None
        return self.data_dir

    @property
    def default_database_url(self) -> str:
        """The URL of ``<data_dir>/halosync.db`` (nothing is created)."""
        return sqlite_url(self.data_dir / DEFAULT_DATABASE_FILE)

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to ``<data_dir>/halosync.db``."""
        if self.database_url:
            return self.database_url
        self.ensure_data_dir()
        return self.default_database_url


def describe_settings_error(error: ValidationError) -> str:
    """Each invalid setting by its variable name, without the value (it may be a secret)."""
    problems = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "settings"
        problems.append(f"HALOSYNC_{field.upper()}: {item['msg']}")
    return "; ".join(problems)
