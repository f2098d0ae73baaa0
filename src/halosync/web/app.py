"""The FastAPI application factory. Routers are added here, one line each."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from halosync.settings import Settings
from halosync.store.database import Database
from halosync.web.api import (
    connection,
    health,
    imports,
    logs,
    mappings,
    metrics,
    reconciliation,
    review,
    rules,
    sync_settings,
    syncs,
    tokens,
    usage,
)
from halosync.web.api.errors import install_error_handlers
from halosync.web.api.limits import install_body_limit
from halosync.web.api_docs import install_api_docs
from halosync.web.headers import install_security_headers
from halosync.web.ui import install_ui


def create_app(settings: Settings, *, database: Database | None = None) -> FastAPI:
    """The web app over ``settings``' database (migrated on creation)."""
    if database is None:
        database = Database.from_settings(settings)
    database.migrate()
    app = FastAPI(
        title="halosync",
        summary="Keeps HaloPSA billing in step with a vendor's usage data.",
        version="1",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.database = database
    install_error_handlers(app)
    install_body_limit(app, settings)
    install_security_headers(app)
    install_api_docs(app)
    app.include_router(usage.router)
    install_ui(app, settings, database)
    app.include_router(imports.router)
    app.include_router(connection.router)
    app.include_router(sync_settings.router)
    app.include_router(mappings.router)
    app.include_router(syncs.router)
    app.include_router(logs.router)
    app.include_router(reconciliation.router)
    app.include_router(review.router)
    app.include_router(rules.router)
    app.include_router(tokens.router)
    app.include_router(metrics.router)
    app.include_router(health.router)
    _add_schemas(app, usage.usage_schemas())
    return app


def _add_schemas(app: FastAPI, schemas: dict[str, Any]) -> None:
    """Put ``schemas`` in the OpenAPI document's components (for bodies read by hand)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            document.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
