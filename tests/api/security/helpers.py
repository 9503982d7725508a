"""A tiny Starlette app that shows what the security chain did, and helpers to build and call it."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import bcrypt
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Scope

from spark_gateway.api.security import SecurityChain, access_policy, audit_note, current_user
from spark_gateway.api.security.audit import AuditLog
from spark_gateway.settings import Settings

GATEWAY_ID = "c1-ns1-0190a0a0-0000-7000-8000-000000000001"
APP_OWNER = "alice"


class Calls:
    """Counts how often the inner app ran (to prove a guard answered before it)."""

    def __init__(self) -> None:
        self.count = 0


def echo_app(settings: Settings, calls: Calls | None = None) -> Starlette:
    policy = access_policy(settings)

    async def whoami(request: Request) -> Response:
        if calls is not None:
            calls.count += 1
        return JSONResponse({"user": current_user(request), "auth_method": request.state.auth_method})

    async def create_app(request: Request) -> Response:
        await request.body()
        return JSONResponse({"gatewayId": GATEWAY_ID, "user": current_user(request)}, status_code=201)

    async def delete_app(request: Request) -> Response:
        user = current_user(request)
        if not policy.can_modify(user, APP_OWNER, None):
            return JSONResponse({"error": f"user '{user}' may not modify this"}, status_code=403)
        return JSONResponse({"status": "success", "user": user})

    async def create_batch(request: Request) -> Response:
        await request.body()
        return JSONResponse({"id": 7, "appInfo": {"GatewayId": GATEWAY_ID}, "state": "starting"}, 201)

    async def delete_batch(request: Request) -> Response:
        return JSONResponse({"msg": "deleted"})

    async def echo_body(request: Request) -> Response:
        if calls is not None:
            calls.count += 1
        body = await request.body()
        return JSONResponse({"received": len(body)})

    async def noted(request: Request) -> Response:
        audit_note(request, gateway_id="from-route", proxy_user="bob", action="custom.action")
        return JSONResponse({"ok": True})

    async def boom(request: Request) -> Response:
        raise RuntimeError("boom")

    async def docs(request: Request) -> Response:
        return HTMLResponse("<html>swagger</html>")

    async def own_headers(request: Request) -> Response:
        return JSONResponse({}, headers={"x-frame-options": "DENY"})

    routes = [
        Route("/whoami", whoami, methods=["GET", "POST"]),
        Route("/api/livy/whoami", whoami, methods=["GET", "POST"]),
        Route("/api/v1/applications", create_app, methods=["POST"]),
        Route("/api/v1/applications/{gateway_id}", delete_app, methods=["DELETE"]),
        Route("/api/livy/batches", create_batch, methods=["POST"]),
        Route("/api/livy/batches/{batch_id}", delete_batch, methods=["DELETE"]),
        Route("/api/v1/echo-body", echo_body, methods=["POST", "PUT"]),
        Route("/api/livy/echo-body", echo_body, methods=["POST"]),
        Route("/api/v1/noted", noted, methods=["POST"]),
        Route("/api/v1/boom", boom, methods=["POST"]),
        Route("/api/v1/own-headers", own_headers),
        Route("/health", lambda r: JSONResponse({"status": "OK"})),
        Route("/health/deep", lambda r: JSONResponse({"status": "OK"})),
        Route("/metrics", lambda r: PlainTextResponse("up 1\n")),
        Route("/docs", docs),
        Route("/openapi.json", lambda r: JSONResponse({"openapi": "3.1.0"})),
    ]
    return Starlette(routes=routes)


def make_settings(tmp_path: Path, middleware: list[dict[str, Any]] | None = None, **gateway: Any) -> Settings:
    gateway.setdefault("auditLogFile", str(tmp_path / "audit.log"))
    livy = gateway.pop("livy", {})
    return Settings.load(
        None, dataDir=str(tmp_path / "data"), gateway={"middleware": middleware or [], **gateway}, livy=livy
    )


_AUDIT_LOGS: dict[Path, AuditLog] = {}  # by file, so that audit_lines can wait for the writer thread


def secured(settings: Settings, calls: Calls | None = None) -> ASGIApp:
    chain = SecurityChain.from_settings(settings)
    _AUDIT_LOGS[settings.audit_log_path()] = chain.audit_log
    return chain.wrap(echo_app(settings, calls))


def client(app: ASGIApp, *, https: bool = False, raise_app_exceptions: bool = True) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url=("https" if https else "http") + "://testserver")


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def htpasswd_line(user: str, password: str, prefix: str = "$2y$") -> str:
    """An `htpasswd -B` line; Apache writes `$2y$`, so that is the default."""
    hashed = bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(rounds=4)).decode("ascii")
    return f"{user}:{prefix}{hashed[4:]}"


def write_htpasswd(path: Path, users: dict[str, str]) -> Path:
    path.write_text("# users\n" + "\n".join(htpasswd_line(u, p) for u, p in users.items()) + "\n")
    return path


def audit_lines(settings: Settings) -> list[dict[str, Any]]:
    path = settings.audit_log_path()
    if path in _AUDIT_LOGS:
        _AUDIT_LOGS[path].flush()
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def call_asgi(app: ASGIApp, scope: Scope, chunks: list[bytes] | None = None) -> list[Message]:
    """Drive an ASGI app by hand (for headers httpx will not send, and websockets)."""
    sent: list[Message] = []
    pending = list(chunks or [b""])

    async def receive() -> Message:
        if scope["type"] == "websocket":
            return {"type": "websocket.connect"}
        if pending:
            body = pending.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(pending)}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def http_scope(method: str, path: str, headers: list[tuple[bytes, bytes]] | None = None) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers or [],
        "client": ("10.0.0.1", 5000),
        "server": ("testserver", 80),
    }


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
