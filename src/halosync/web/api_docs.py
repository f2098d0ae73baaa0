"""``/docs``: the REST API's Swagger UI, served from installed files (no CDN).

FastAPI's default page loads Swagger UI from a CDN, so on an offline or locked-down host it
stays blank. The assets come from the ``fastapi-offline`` package (Swagger UI's
``swagger-ui-dist`` build, see THIRD_PARTY_NOTICES.md) and are served from
``/docs/assets/``.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

DOCS_PATH = "/docs"
ASSETS_PATH = f"{DOCS_PATH}/assets"
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png")


def swagger_assets_dir() -> Path:
    """The folder of the installed Swagger UI files."""
    # A regular installed package: its resources are files on disk.
    return Path(str(files("fastapi_offline") / "static"))


def install_api_docs(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` over ``app``'s OpenAPI document, assets included."""
    folder = swagger_assets_dir()
    missing = [name for name in SWAGGER_FILES if not (folder / name).is_file()]
    if missing:
        raise RuntimeError(f"Swagger UI files missing from {folder}: {', '.join(missing)}")
    app.mount(ASSETS_PATH, StaticFiles(directory=folder), name="api-docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        # root_path keeps the page working behind a reverse proxy that mounts halosync
        # under a prefix (uvicorn --root-path / X-Forwarded-Prefix).
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} REST API",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            oauth2_redirect_url=None,
            swagger_ui_parameters=app.swagger_ui_parameters,
        )
