"""The app's route table as the tests walk it: every real route, whatever router holds it.

One walk for every test generated over the routes (roles, isolation, unknown URLs), so a
route added anywhere is in all of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.routing import BaseRoute, Mount, Route

UI_WORKSPACE = "/ui/w/{workspace_id}"
API_WORKSPACE = "/api/v1/workspaces/{workspace}"


@dataclass(frozen=True)
class RouteEntry:
    """One method of one route: its full path template and the route object."""

    method: str
    path: str
    route: BaseRoute


def flat_routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, BaseRoute]]:
    """(full path, route) of every route and mount, included routers followed."""
    for route in routes:
        # FastAPI keeps included routers as branches; follow them to the real routes.
        original = getattr(route, "original_router", None)
        if original is not None:
            context = getattr(route, "include_context")  # noqa: B009
            yield from flat_routes(original.routes, prefix + context.prefix)
        elif isinstance(route, Route | Mount):
            yield prefix + route.path, route


def route_table(app: FastAPI) -> list[RouteEntry]:
    """Every (method, path) the app answers; a mount is listed once, as GET."""
    entries: set[tuple[str, str]] = set()
    found: dict[str, BaseRoute] = {}
    for path, route in flat_routes(app.routes):
        # "{account_ref:path}" is "{account_ref}" in the OpenAPI document.
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", path)
        found[path] = route
        methods = (route.methods or set()) if isinstance(route, Route) else {"GET"}
        entries |= {(method, path) for method in methods if method != "HEAD"}
    return [RouteEntry(method, path, found[path]) for method, path in sorted(entries)]
