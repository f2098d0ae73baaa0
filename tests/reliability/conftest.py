"""Iteration counts and seeds for the reliability suite.

``HALOSYNC_RELIABILITY_ITERATIONS`` scales every seeded loop (CI runs the small default);
``HALOSYNC_RELIABILITY_SEED`` picks the first seed, so a failure printed as "seed N"
replays with ``HALOSYNC_RELIABILITY_SEED=N HALOSYNC_RELIABILITY_ITERATIONS=1``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

DEFAULT_BASE_SEED = 1000
TALLY_PROPERTY = "reliability_tally"


def iterations(default: int) -> int:
    """How many seeded iterations a test runs (the env var overrides ``default``)."""
    value = os.environ.get("HALOSYNC_RELIABILITY_ITERATIONS")
    if not value:
        return default
    count = int(value)
    if count < 1:
        raise ValueError(f"HALOSYNC_RELIABILITY_ITERATIONS must be >= 1, got {value!r}")
    return count


def seeds(default_iterations: int) -> list[int]:
    """The seeds of this run: consecutive from the base seed."""
    base = int(os.environ.get("HALOSYNC_RELIABILITY_SEED", DEFAULT_BASE_SEED))
    return [base + n for n in range(iterations(default_iterations))]


@contextmanager
def reproducible(seed: int, what: str) -> Iterator[None]:
    """Turn any failure inside into one that names the seed that reproduces it."""
    try:
        yield
    except BaseException as failure:
        if isinstance(failure, KeyboardInterrupt | pytest.skip.Exception):
            raise
        hint = (
            f"{what} failed at seed {seed}; replay it with HALOSYNC_RELIABILITY_SEED={seed} "
            "HALOSYNC_RELIABILITY_ITERATIONS=1"
        )
        print(hint)
        raise AssertionError(f"{hint}\n{type(failure).__name__}: {failure}") from failure


TALLY: Counter[str] = Counter()
"""What this process injected and saw; reported per test, printed at the end (``-rA`` not
needed) by the root conftest, which also adds up the tallies of xdist workers."""
_REPORTED: Counter[str] = Counter()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Hand this test's share of the tally to the report (it travels back from workers)."""
    outcome = yield
    if call.when != "teardown":
        return
    delta = TALLY - _REPORTED
    if delta:
        _REPORTED.update(delta)
        outcome.get_result().user_properties.append((TALLY_PROPERTY, dict(delta)))  # type: ignore[attr-defined]
