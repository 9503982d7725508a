"""The web console under `/ui`: server-rendered pages (Jinja2 templates, htmx) over the API's services.

Every page goes through the same authentication middleware as the API and reads through the same
service functions with the same caller, so a person sees in the console exactly what the API would
show them. The console adds no state-changing endpoint: Kill and Submit are `fetch` calls from the
page's script to the API itself (JSON bodies, `X-Requested-By`), under the API's own CSRF rules.
All assets ship in the package (`static/`; htmx is vendored, see `static/VENDORED.md`).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request

from spark_gateway.api.console import applications, clusters, sessions, submit
from spark_gateway.api.console.rendering import CONSOLE_PREFIX, STATIC_DIR


def install_console(app: FastAPI) -> None:
    """Add the console's pages and assets (call only when `gateway.enableConsole` is on)."""

    @app.get(CONSOLE_PREFIX, include_in_schema=False)
    async def console_home(request: Request) -> RedirectResponse:
        return RedirectResponse(f"{request.scope.get('root_path', '')}{CONSOLE_PREFIX}/applications")

    app.include_router(applications.router)
    app.include_router(sessions.router)
    app.include_router(submit.router)
    app.include_router(clusters.router)
    app.mount(f"{CONSOLE_PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="console-static")
