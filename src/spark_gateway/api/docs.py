"""Swagger UI (`/docs`) and ReDoc (`/redoc`) pages whose scripts and styles the gateway serves itself.

FastAPI's default pages load Swagger UI and ReDoc from a CDN, so they stay blank where the gateway's
users cannot reach the internet (common in data centres). The assets come from the `fastapi-offline`
package, which ships the Swagger UI and ReDoc bundles; nothing is copied into this repository. The
pages and assets are open like `/openapi.json` unless `gateway.authorization.protectDocs` is set.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse

from spark_gateway.api.security.scope_info import DOCS_ASSETS, DOCS_ASSETS_PREFIX
from spark_gateway.domain.errors import NotFound

ONE_DAY = "public, max-age=86400"


def assets_dir() -> Path:
    """fastapi-offline's `static` folder (swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js)."""
    return Path(str(files("fastapi_offline") / "static"))


def install_docs(app: FastAPI) -> None:
    """Add `/docs`, `/docs/oauth2-redirect`, `/redoc` and their assets (call only with the UI enabled)."""
    folder = assets_dir()
    missing = [name for name in DOCS_ASSETS if not (folder / name).is_file()]
    if missing:
        raise RuntimeError(f"fastapi-offline is installed without {', '.join(missing)} in {folder}")
    title = app.title

    def asset(request: Request, name: str) -> str:
        return f"{request.scope.get('root_path', '')}{DOCS_ASSETS_PREFIX}{name}"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{request.scope.get('root_path', '')}/openapi.json",
            title=f"{title} - Swagger UI",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=asset(request, "swagger-ui-bundle.js"),
            swagger_css_url=asset(request, "swagger-ui.css"),
            swagger_favicon_url=asset(request, "favicon.png"),
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=f"{request.scope.get('root_path', '')}/openapi.json",
            title=f"{title} - ReDoc",
            redoc_js_url=asset(request, "redoc.standalone.js"),
            redoc_favicon_url=asset(request, "favicon.png"),
            with_google_fonts=False,
        )

    @app.get(DOCS_ASSETS_PREFIX + "{name}", include_in_schema=False)
    async def docs_asset(name: str) -> FileResponse:
        if name not in DOCS_ASSETS:
            raise NotFound(f"no documentation asset '{name}'")
        return FileResponse(folder / name, headers={"Cache-Control": ONE_DAY})
