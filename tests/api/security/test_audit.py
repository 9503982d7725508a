"""The audit log: one JSON line per mutating request, with who, what, which ids and how it ended."""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from spark_gateway.api.security.audit import AuditLog, AuditMiddleware, classify
from spark_gateway.settings import Settings
from tests.api.security.helpers import (
    GATEWAY_ID,
    audit_lines,
    basic,
    call_asgi,
    client,
    make_settings,
    secured,
    write_htpasswd,
)


def auth_settings(tmp_path: Path, **gateway: object) -> Settings:
    htpasswd = write_htpasswd(tmp_path / "htpasswd", {"alice": "pw-a", "bob": "pw-b"})
    middleware = [{"type": "BasicAuthMiddleware", "conf": {"htpasswdFile": str(htpasswd)}}]
    return make_settings(tmp_path, middleware, authorization={"admins": ["root"]}, **gateway)


async def test_livy_batch_create_and_delete(tmp_path: Path) -> None:
    settings = auth_settings(tmp_path)
    async with client(secured(settings)) as http:
        assert (
            await http.post("/api/livy/batches", json={"file": "x"}, headers=basic("alice", "pw-a"))
        ).status_code == 201
        assert (await http.get("/whoami", headers=basic("alice", "pw-a"))).status_code == 200  # not audited
        assert (await http.delete("/api/livy/batches/7", headers=basic("alice", "pw-a"))).status_code == 200
    create, delete = audit_lines(settings)
    assert datetime.fromisoformat(create.pop("time").replace("Z", "+00:00")).tzinfo is not None
    assert create.pop("duration_ms") >= 0
    assert create == {
        "action": "livy.batch.create",
        "outcome": "ok",
        "status": 201,
        "user": "alice",
        "auth_method": "htpasswd",
        "source": "127.0.0.1",
        "method": "POST",
        "path": "/api/livy/batches",
        "gateway_id": GATEWAY_ID,
        "batch_id": 7,
    }
    assert delete["action"] == "livy.batch.delete"
    assert (delete["batch_id"], delete["gateway_id"], delete["outcome"]) == (7, None, "ok")


async def test_application_create_and_denied_delete(tmp_path: Path) -> None:
    settings = auth_settings(tmp_path)
    async with client(secured(settings)) as http:
        await http.post("/api/v1/applications", json={}, headers=basic("bob", "pw-b"))
        await http.delete(
            f"/api/v1/applications/{GATEWAY_ID}", headers=basic("bob", "pw-b")
        )  # owned by alice
    create, delete = audit_lines(settings)
    assert (create["action"], create["gateway_id"], create["outcome"]) == (
        "application.create",
        GATEWAY_ID,
        "ok",
    )
    assert delete["action"] == "application.delete"
    assert (delete["gateway_id"], delete["outcome"], delete["status"], delete["user"]) == (
        GATEWAY_ID,
        "denied",
        403,
        "bob",
    )


async def test_unauthenticated_and_oversized_requests_are_recorded(tmp_path: Path) -> None:
    settings = auth_settings(tmp_path, maxRequestBodyBytes=1024)
    async with client(secured(settings)) as http:
        await http.post("/api/livy/batches", json={})
        await http.post(
            "/api/livy/batches",
            content=b"x" * 2048,
            headers={**basic("alice", "pw-a"), "Content-Type": "application/json"},
        )
    unauthenticated, oversized = audit_lines(settings)
    assert (unauthenticated["outcome"], unauthenticated["status"], unauthenticated["user"]) == (
        "denied",
        401,
        None,
    )
    assert (oversized["outcome"], oversized["status"], oversized["user"]) == ("error", 413, "alice")
    assert oversized["batch_id"] is None


async def test_route_notes_and_errors(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with client(secured(settings), raise_app_exceptions=False) as http:
        await http.post("/api/v1/noted")
        assert (await http.post("/api/v1/boom")).status_code == 500
    noted, boom = audit_lines(settings)
    assert (noted["action"], noted["gateway_id"], noted["proxy_user"]) == (
        "custom.action",
        "from-route",
        "bob",
    )
    assert (noted["user"], noted["auth_method"]) == (None, "anonymous")
    assert (boom["action"], boom["outcome"], boom["status"]) == ("http.post", "error", 500)


async def test_exception_reaching_the_middleware_is_recorded_and_raised(tmp_path: Path) -> None:
    async def failing(scope: object, receive: object, send: object) -> None:
        raise RuntimeError("boom")

    audit = AuditLog(tmp_path / "a" / "audit.log")
    scope = {"type": "http", "method": "DELETE", "path": "/api/livy/batches/3", "headers": []}
    with pytest.raises(RuntimeError):
        await call_asgi(AuditMiddleware(failing, audit), scope)
    audit.flush()
    line = (tmp_path / "a" / "audit.log").read_text()
    assert '"action":"livy.batch.delete"' in line
    assert '"status":500' in line
    assert '"batch_id":3' in line


async def test_audit_does_not_reach_the_app_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = make_settings(tmp_path)
    async with client(secured(settings)) as http:
        await http.post("/api/livy/batches", json={})
    assert len(audit_lines(settings)) == 1
    assert "livy.batch.create" not in caplog.text


async def test_hostile_values_stay_on_one_line(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with client(secured(settings)) as http:
        await http.post("/api/v1/echo-body%0a%7B%22forged%22%3A1%7D")
    assert audit_lines(settings)[0]["path"] == '/api/v1/echo-body\n{"forged":1}'
    assert len(settings.audit_log_path().read_text().splitlines()) == 1


def test_close_and_reopen(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.log")
    audit.write({"n": 1})
    audit.close()
    audit.write({"n": 2})
    audit.close()
    assert (tmp_path / "audit.log").read_text().splitlines() == ['{"n":1}', '{"n":2}']


def test_follows_external_rotation(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.log")
    audit.write({"n": 1})
    audit.write({"n": 2})
    audit.flush()
    (tmp_path / "audit.log").rename(tmp_path / "audit.log.1")
    audit.write({"n": 3})
    audit.close()
    assert (tmp_path / "audit.log.1").read_text().splitlines() == ['{"n":1}', '{"n":2}']
    assert (tmp_path / "audit.log").read_text().splitlines() == ['{"n":3}']


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/api/livy/batches", {"action": "livy.batch.create"}),
        ("POST", "/api/livy/batches/", {"action": "livy.batch.create"}),
        ("DELETE", "/api/livy/batches/12", {"action": "livy.batch.delete", "batch_id": 12}),
        ("DELETE", "/api/livy/batches/my-name", {"action": "livy.batch.delete", "batch_id": "my-name"}),
        ("POST", "/api/v1/applications", {"action": "application.create"}),
        (
            "DELETE",
            f"/api/v1/applications/{GATEWAY_ID}",
            {"action": "application.delete", "gateway_id": GATEWAY_ID},
        ),
        ("POST", "/api/livy/sessions", {"action": "http.post"}),  # no such route: no named action
        ("PUT", "/api/v1/applications", {"action": "http.put"}),
    ],
)
def test_classify(method: str, path: str, expected: dict[str, object]) -> None:
    assert classify(method, path) == expected


async def test_a_slow_disk_never_blocks_the_event_loop(tmp_path: Path) -> None:
    """The file is written by a thread: a request finishes while the writer is stuck."""
    audit = AuditLog(tmp_path / "audit.log")
    stuck, release = threading.Event(), threading.Event()
    original_emit = audit.handler.emit

    def slow_emit(record: logging.LogRecord) -> None:
        stuck.set()
        release.wait(30)
        original_emit(record)

    audit.handler.emit = slow_emit  # type: ignore[method-assign]

    async def ok(scope: object, receive: object, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    scope = {"type": "http", "method": "DELETE", "path": "/api/livy/batches/1", "headers": []}
    for _ in range(3):
        sent = await call_asgi(AuditMiddleware(ok, audit), scope)
        assert sent[0]["status"] == 204
    assert stuck.wait(10)  # the writer is blocked on the first line, and the requests went on
    release.set()
    audit.close()
    assert len((tmp_path / "audit.log").read_text().splitlines()) == 3
