"""Plug-in usage sources: a :class:`UsageSource` protocol discovered through entry points.

A package registers a source in its ``pyproject.toml``::

    [project.entry-points."halosync.sources"]
    my-vendor = "my_package.module:MyVendorSource"

The class is called with the ``--option key=value`` pairs as keyword arguments (strings)
and must yield :class:`SourceRecord` s; halosync validates them exactly like a file import.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Literal, Protocol, runtime_checkable

from halosync.errors import HalosyncError, NotFoundError
from halosync.sources.errors import Location

ENTRY_POINT_GROUP = "halosync.sources"
RecordKind = Literal["account", "service", "subscription", "row", "error"]


@dataclass(frozen=True)
class SourceRecord:
    """One record from a source.

    ``kind`` ``row`` is a CSV-style row (account, service and subscription columns, values
    as text); ``error`` reports a problem the source found itself (``data["message"]``);
    the others use the JSON import's fields. ``location`` says where it came
    from, so errors can point at it.
    """

    kind: RecordKind
    data: Mapping[str, Any]
    location: Location


@runtime_checkable
class UsageSource(Protocol):
    """A vendor source: yields accounts, services and subscriptions."""

    def records(self) -> Iterator[SourceRecord]:
        """Every record the source has, in any order."""
        ...


@dataclass(frozen=True)
class SourceInfo:
    """A discovered source: its name, where it lives and its one-line description."""

    name: str
    target: str
    description: str


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def list_sources() -> list[SourceInfo]:
    """Every installed source, by name."""
    found: list[SourceInfo] = []
    for name, entry_point in sorted(_entry_points().items()):
        try:
            loaded = entry_point.load()
            doc = (loaded.__doc__ or "").strip().splitlines()
            description = doc[0] if doc else ""
        except Exception as error:  # a broken plug-in must not hide the others
            description = f"(cannot be loaded: {error})"
        found.append(SourceInfo(name=name, target=entry_point.value, description=description))
    return found


def load_source(name: str, options: Mapping[str, str]) -> UsageSource:
    """Instantiate the source called ``name`` with ``options``."""
    entry_point = _entry_points().get(name)
    if entry_point is None:
        known = ", ".join(sorted(_entry_points())) or "none"
        raise NotFoundError(f"No usage source named {name!r} (installed: {known}).")
    factory = entry_point.load()
    try:
        source = factory(**options)
    except TypeError as error:
        raise HalosyncError(f"Source {name!r} does not accept these options: {error}.") from None
    if not isinstance(source, UsageSource):
        raise HalosyncError(f"Source {name!r} ({entry_point.value}) has no records() method.")
    return source
