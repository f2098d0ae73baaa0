"""Every UI route, one module per screen family."""

from __future__ import annotations

from fastapi import APIRouter

from halosync.web.ui.context import UiRoute
from halosync.web.ui.routes import activity, auth, dashboard, mapping, review, rules, setup

router = APIRouter(route_class=UiRoute, include_in_schema=False)
for module in (auth, dashboard, setup, mapping, activity, review, rules):
    router.include_router(module.router)
