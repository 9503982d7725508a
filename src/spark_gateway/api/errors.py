"""The one place gateway exceptions become HTTP responses (routes, handlers and security middlewares).

Livy routes answer `{"msg": ...}` (Livy's shape), every other route `{"error": ...}`. Request
validation failures are 400 (never FastAPI's default 422 with its own shape), a database that cannot
serve right now (down, restarting, out of connections, statement timeout) is 503 with `Retry-After`,
and an unexpected exception is logged and answered with a JSON 500 that leaks nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from spark_gateway.db.availability import RETRY_AFTER_SECONDS, describe, is_unavailable
from spark_gateway.domain import errors as e

log = logging.getLogger(__name__)

STATUS: dict[type[e.GatewayError], int] = {
    e.BadRequest: 400,
    e.Unauthorized: 401,
    e.Forbidden: 403,
    e.NotFound: 404,
    e.Conflict: 409,
    e.PayloadTooLarge: 413,
    e.UnsupportedMediaType: 415,
    e.Invalid: 422,
    e.Unavailable: 503,
}
LIVY_PREFIX = "/api/livy"


def status_of(exc: e.GatewayError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def app_path(scope: Scope) -> str:
    """The request path without the mount prefix (`root_path`), as routes see it."""
    path: str = scope.get("path", "") or "/"
    root: str = scope.get("root_path", "") or ""
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    return path


def error_body(path: str, message: str) -> dict[str, str]:
    """Livy's `{"msg"}` under /api/livy, the reference gateway's `{"error"}` everywhere else."""
    is_livy = path == LIVY_PREFIX or path.startswith(LIVY_PREFIX + "/")
    return {"msg": message} if is_livy else {"error": message}


def json_error(
    scope: Scope, status: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    response = JSONResponse(error_body(app_path(scope), message), status_code=status, headers=headers)
    response.headers["Cache-Control"] = "no-store"
    return response


def render_error(scope: Scope, exc: e.GatewayError) -> JSONResponse:
    """THE rendering of a gateway error, for routes and the security middlewares alike."""
    response = json_error(scope, status_of(exc), exc.message)
    if isinstance(exc, e.Unauthorized):
        for challenge in exc.challenges:
            response.headers.append("WWW-Authenticate", challenge)
    if isinstance(exc, e.Unavailable):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _gateway_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, e.GatewayError)
    return render_error(request.scope, exc)


def describe_request_error(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        where = ".".join(loc) or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return render_error(request.scope, e.BadRequest(describe_request_error(exc)))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    return json_error(request.scope, exc.status_code, message, exc.headers)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, describe(exc))
    return render_error(
        request.scope, e.Unavailable("database unavailable, retry later", retry_after=RETRY_AFTER_SECONDS)
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return json_error(request.scope, 500, "internal error")


async def _maybe_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """Driver, socket and timeout errors: 503 when they mean the database is unavailable, else 500."""
    if is_unavailable(exc):
        return await _database_unavailable(request, exc)
    return await _unexpected(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(e.GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Database failures: SQLAlchemy's wrappers, and what asyncpg raises unwrapped while connecting
    # (refused or timed-out sockets, "the database system is starting up"). Each is 503 + Retry-After
    # when it means "unavailable now", else an ordinary 500.
    for exc_class in (
        DBAPIError,
        PoolTimeout,
        DisconnectionError,
        OSError,  # ConnectionError, TimeoutError (asyncio's too) and socket errors
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
    ):
        app.add_exception_handler(exc_class, _maybe_unavailable)
    app.add_exception_handler(Exception, _unexpected)
