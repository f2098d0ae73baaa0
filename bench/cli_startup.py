"""CPU time and peak memory of ``halosync --help`` and ``halosync logs``, each a fresh process.

    uv run python bench/cli_startup.py [--runs 3]

Each command runs ``--runs`` times in a fresh interpreter (its own HOME, data directory and
SQLite database, migrated and holding one workspace before the first timed run); the CPU
time is that process's user + system time from ``wait4`` and the memory its peak RSS.
Bytecode of halosync and of its dependencies is compiled first (as an installed package
has it; this machine sets PYTHONDONTWRITEBYTECODE, so nothing would otherwise ever be
cached), so the figures are of starting halosync, not of compiling it. For comparison, the
same is measured for an interpreter that only imports ``sqlalchemy.orm``, one that imports
the three dependencies ``halosync logs`` needs (the floor: the CLI framework, SQLAlchemy
Core and the settings reader), and one that does nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

HALOSYNC = str(Path(sys.executable).parent / "halosync")
ROOT = Path(__file__).resolve().parents[1]


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds, peak RSS MiB) of one run of ``argv``."""
    process = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {process.returncode}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    # Bytecode as an installed package has it (PYTHONDONTWRITEBYTECODE would otherwise
    # recompile every changed module on every start).
    subprocess.run(
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            str(ROOT / "src" / "halosync"),
            sysconfig.get_paths()["purelib"],
        ],
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    home = Path(tempfile.mkdtemp(prefix="halosync-cli-startup-"))
    (home / "data").mkdir()  # a named data directory must exist
    try:
        env = {
            key: value for key, value in os.environ.items() if not key.startswith("HALOSYNC_")
        } | {
            "HOME": str(home),
            "HALOSYNC_DATA_DIR": str(home / "data"),
            "HALOSYNC_DATABASE_URL": f"sqlite:///{home / 'halosync.db'}",
        }
        subprocess.run(
            [HALOSYNC, "workspace", "create", "acme"], env=env, check=True, capture_output=True
        )
        cases = {
            "halosync --help": [HALOSYNC, "--help"],
            "halosync logs": [HALOSYNC, "logs"],
            "python -c 'import sqlalchemy.orm'": [sys.executable, "-c", "import sqlalchemy.orm"],
            # The floor of `halosync logs`: the CLI framework, SQLAlchemy Core and the
            # settings reader, imported and nothing done (structlog waits for a first line
            # logged, the ORM for a first session).
            "python -c 'import typer, sqlalchemy, pydantic_settings'": [
                sys.executable,
                "-c",
                "import typer, sqlalchemy, pydantic_settings",
            ],
            "python -c pass": [sys.executable, "-c", "pass"],
        }
        load = os.getloadavg()[0]
        print(f"{options.runs} runs each; load average {load:.1f} on {os.cpu_count()} CPUs")
        print("| command | CPU s min / median / max | peak RSS MiB (median) |")
        print("|---|---|---|")
        for label, argv in cases.items():
            runs = [measure(argv, env) for _ in range(options.runs)]
            cpu = sorted(run[0] for run in runs)
            rss = statistics.median(run[1] for run in runs)
            print(
                f"| `{label}` | {cpu[0]:.2f} / {statistics.median(cpu):.2f} / {cpu[-1]:.2f} "
                f"| {rss:.0f} |"
            )
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
