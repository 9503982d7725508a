"""The audit trail: one JSON line per mutating request (POST/PUT/PATCH/DELETE), in its own file.

Operators need to answer "who created or killed this job, from where, and did it work" without digging
through the application log, so every state-changing request is written to `settings.audit_log_path()`
by a dedicated logger that does not propagate to the app log. Denied requests (401/403/413/CSRF) are
recorded too: the middleware sits outside the authentication chain.

A line: {"time", "action", "outcome", "status", "user", "auth_method", "source", "method", "path",
"gateway_id", "batch_id", "duration_ms", ...}. Ids come from the path, from the JSON response (e.g. the
created batch) and, with the last word, from `scope["state"]["audit"]`, a dict a route may fill.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import queue
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spark_gateway.api.errors import app_path
from spark_gateway.api.security.scope_info import client_address, request_state
from spark_gateway.domain.errors import ConfigError

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_CAPTURED_BODY = 64 * 1024
MAX_PATH_LENGTH = 1024
AUDIT_STATE_KEY = "audit"

_ID = r"(?P<{}>[^/]+)"
_ACTIONS: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (method, re.compile(pattern), action)
    for method, pattern, action in (
        ("POST", r"/api/livy/batches/?", "livy.batch.create"),
        ("DELETE", r"/api/livy/batches/" + _ID.format("batch_id") + "/?", "livy.batch.delete"),
        ("POST", r"/api/v1/applications/?", "application.create"),
        ("DELETE", r"/api/v1/applications/" + _ID.format("gateway_id") + "/?", "application.delete"),
    )
)


def classify(method: str, path: str) -> dict[str, Any]:
    """The action name and the ids the path reveals, e.g. `livy.batch.delete` with `batch_id` 3."""
    for action_method, pattern, action in _ACTIONS:
        match = pattern.fullmatch(path) if method == action_method else None
        if match:
            ids = {key: _as_int(value) for key, value in match.groupdict().items()}
            return {"action": action, **ids}
    return {"action": f"http.{method.lower()}"}


def outcome_of(status: int) -> str:
    if status in (401, 403):
        return "denied"
    return "ok" if status < 400 else "error"


def check_writable(path: Path, *, create: bool = True) -> None:
    """ConfigError unless the audit file can be written; creates it (and its directory) if `create`."""
    if not create:
        if path.exists():
            writable = path.is_file() and os.access(path, os.W_OK)
        else:
            parent = path.parent
            while not parent.exists() and parent != parent.parent:
                parent = parent.parent
            writable = parent.is_dir() and os.access(parent, os.W_OK | os.X_OK)
        if not writable:
            raise ConfigError(f"gateway.auditLogFile: cannot write {path}")
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640))
    except OSError as exc:
        raise ConfigError(f"gateway.auditLogFile: cannot write {path}: {exc.strerror}") from exc


class AuditLog:
    """A JSON-lines file written by a thread: requests only put the line on a queue.

    The file is written through a private `logging.Logger` (outside the logging tree, so no app logging
    configuration can redirect or silence it) whose handler is a `QueueHandler`; a `QueueListener`
    thread writes to a `WatchedFileHandler` (after an external logrotate moves the file, the next record
    opens a new one). A slow disk therefore never blocks the event loop.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        check_writable(path)
        self._queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self.logger = logging.Logger("spark_gateway.audit", logging.INFO)
        self.logger.propagate = False
        self.logger.addHandler(logging.handlers.QueueHandler(self._queue))
        self.handler = logging.handlers.WatchedFileHandler(path, encoding="utf-8", delay=True)
        self.handler.setFormatter(logging.Formatter("%(message)s"))
        self._listener: logging.handlers.QueueListener | None = None

    def write(self, record: dict[str, Any]) -> None:
        if self._listener is None:
            self._listener = logging.handlers.QueueListener(self._queue, self.handler)
            self._listener.start()
        self.logger.info(json.dumps(record, default=str, separators=(",", ":")))

    def flush(self) -> None:
        """Wait until every queued line is in the file (the writer thread restarts on the next line)."""
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        self.handler.flush()

    def close(self) -> None:
        """Write what is queued and close the file (it is reopened if another record arrives)."""
        self.flush()
        self.handler.close()


class AuditMiddleware:
    def __init__(self, app: ASGIApp, audit_log: AuditLog) -> None:
        self.app = app
        self.audit_log = audit_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._closing_on_shutdown(send))
            return
        if scope["type"] != "http" or scope["method"] not in MUTATING_METHODS:
            await self.app(scope, receive, send)
            return

        state = request_state(scope)
        started = time.monotonic()
        status: int | None = None
        capture = False
        body = bytearray()

        async def recording_send(message: Message) -> None:
            nonlocal status, capture
            if message["type"] == "http.response.start":
                status = int(message["status"])
                content_type = Headers(raw=message.get("headers", [])).get("content-type", "")
                capture = content_type.startswith("application/json")
            elif message["type"] == "http.response.body" and capture:
                chunk = message.get("body", b"")
                if len(body) + len(chunk) <= MAX_CAPTURED_BODY:
                    body.extend(chunk)
                else:
                    capture = False
                    body.clear()
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        except BaseException:
            self._write(scope, state, status or 500, None, started)
            raise
        self._write(scope, state, status or 500, bytes(body) if capture else None, started)

    def _write(
        self, scope: Scope, state: dict[str, Any], status: int, body: bytes | None, started: float
    ) -> None:
        path = app_path(scope)
        method = str(scope["method"])
        details: dict[str, Any] = {"gateway_id": None, "batch_id": None, **classify(method, path)}
        if body and status < 400:
            details.update(_ids_from_response(details["action"], body))
        route_notes = state.get(AUDIT_STATE_KEY)
        if isinstance(route_notes, dict):
            details.update({str(key): value for key, value in route_notes.items()})
        record: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "action": details.pop("action"),
            "outcome": outcome_of(status),
            "status": status,
            "user": state.get("user"),
            "auth_method": state.get("auth_method"),
            "source": client_address(scope),
            "method": method,
            "path": path[:MAX_PATH_LENGTH],
        }
        record.update({key: value for key, value in details.items() if key not in record})
        record["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        self.audit_log.write(record)

    def _closing_on_shutdown(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            await send(message)
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                self.audit_log.close()

        return wrapped


def _ids_from_response(action: str, body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    ids: dict[str, Any] = {}
    app_info = data.get("appInfo")
    if not isinstance(app_info, dict):
        app_info = {}
    gateway_id = data.get("gatewayId") or app_info.get("gatewayId") or app_info.get("GatewayId")
    if isinstance(gateway_id, str):
        ids["gateway_id"] = gateway_id
    if action == "livy.batch.create" and isinstance(data.get("id"), int):
        ids["batch_id"] = data["id"]
    return ids


def _as_int(value: str) -> int | str:
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else value
