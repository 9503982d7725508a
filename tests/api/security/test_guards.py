"""Body size limit, CSRF, and security headers (the JSON-only rule: tests/e2e/test_cross_site_forms.py)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from pydantic import BaseModel

from spark_gateway.api.security import install_security
from tests.api.security.helpers import (
    Calls,
    call_asgi,
    chunks,
    client,
    http_scope,
    make_settings,
    secured,
    write_htpasswd,
)

LIMIT = 1024


class Payload(BaseModel):
    text: str


async def test_declared_length_over_limit_is_413_before_the_app_runs(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, maxRequestBodyBytes=LIMIT)
    calls = Calls()
    async with client(secured(settings, calls)) as http:
        response = await http.post("/api/livy/echo-body", content=b"x" * (LIMIT + 1))
        assert response.status_code == 413
        assert response.json() == {"msg": f"request body exceeds the limit of {LIMIT} bytes"}
        assert calls.count == 0
        v1 = await http.post("/api/v1/echo-body", content=b"x" * (LIMIT + 1))
        assert v1.json() == {"error": f"request body exceeds the limit of {LIMIT} bytes"}
        ok = await http.post("/api/v1/echo-body", content=b"x" * LIMIT)
        assert (ok.status_code, ok.json()) == (200, {"received": LIMIT})


async def test_chunked_body_over_limit_is_413(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, maxRequestBodyBytes=LIMIT)
    calls = Calls()
    async with client(secured(settings, calls)) as http:
        response = await http.post("/api/v1/echo-body", content=chunks(b"a" * 600, b"b" * 600, b"c" * 600))
        assert "content-length" not in response.request.headers
        assert response.status_code == 413
        assert response.json() == {"error": f"request body exceeds the limit of {LIMIT} bytes"}
        assert response.headers["x-content-type-options"] == "nosniff"
        assert calls.count == 1  # the route started reading; the guard cut it off
        ok = await http.post("/api/v1/echo-body", content=chunks(b"a" * 500, b"b" * 500))
        assert (ok.status_code, ok.json()) == (200, {"received": 1000})


async def test_chunked_body_over_limit_in_fastapi_with_install_security(tmp_path: Path) -> None:
    # FastAPI turns errors while reading the body into its own 400; the guard must still answer 413.
    settings = make_settings(tmp_path, maxRequestBodyBytes=LIMIT)
    app = FastAPI()

    @app.post("/api/livy/batches")
    async def create(payload: Payload) -> dict[str, int]:
        return {"length": len(payload.text)}

    assert install_security(app, settings) is app
    async with client(app) as http:
        big = b'{"text": "' + b"x" * 2000 + b'"}'
        response = await http.post("/api/livy/batches", content=chunks(big[:700], big[700:]))
        assert (response.status_code, response.json()) == (
            413,
            {"msg": f"request body exceeds the limit of {LIMIT} bytes"},
        )
        small = await http.post("/api/livy/batches", json={"text": "hello"})
        assert (small.status_code, small.json()) == (200, {"length": 5})


async def test_invalid_content_length_is_400(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, maxRequestBodyBytes=LIMIT)
    app = secured(settings)
    for values in ([b"abc"], [b"-1"], [b"10", b"20"]):
        scope = http_scope("POST", "/api/v1/echo-body", [(b"content-length", v) for v in values])
        sent = await call_asgi(app, scope, [b"x" * 10])
        assert sent[0]["status"] == 400, values


async def test_csrf_protection(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, livy={"csrfProtection": True})
    async with client(secured(settings)) as http:
        livy = await http.post("/api/livy/batches", json={})
        assert (livy.status_code, livy.json()) == (
            400,
            {"msg": "Missing Required Header for CSRF protection."},
        )
        assert livy.headers["content-type"] == "application/json"
        v1 = await http.delete("/api/v1/applications/x")
        assert (v1.status_code, v1.json()) == (400, {"error": "Missing Required Header for CSRF protection."})
        assert (
            await http.post("/api/livy/batches", json={}, headers={"X-Requested-By": "livy"})
        ).status_code == 201
        assert (
            await http.post("/api/livy/batches", json={}, headers={"X-Requested-By": ""})
        ).status_code == 201
        assert (await http.get("/whoami")).status_code == 200
        assert (await http.head("/whoami")).status_code == 200


async def test_csrf_off_by_default(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with client(secured(settings)) as http:
        assert (await http.post("/api/livy/batches", json={})).status_code == 201


async def test_security_headers(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with client(secured(settings)) as http:
        api = await http.get("/whoami")
        assert api.headers["x-content-type-options"] == "nosniff"
        assert api.headers["x-frame-options"] == "SAMEORIGIN"
        assert "default-src 'self'" in api.headers["content-security-policy"]
        assert "strict-transport-security" not in api.headers
        docs = await http.get("/docs")
        assert "content-security-policy" not in docs.headers  # Swagger UI starts with an inline script
        assert docs.headers["x-frame-options"] == "SAMEORIGIN"
        assert (await http.get("/api/v1/own-headers")).headers.get_list("x-frame-options") == ["DENY"]
        assert (await http.get("/nowhere")).headers["x-content-type-options"] == "nosniff"
    async with client(secured(settings), https=True) as http:
        assert (await http.get("/whoami")).headers["strict-transport-security"].startswith("max-age=")


async def test_security_headers_on_rejections(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    settings = make_settings(
        tmp_path,
        [
            {
                "type": "BasicAuthMiddleware",
                "conf": {"htpasswdFile": str(write_htpasswd(htpasswd, {"a": "b"}))},
            }
        ],
        livy={"csrfProtection": True},
    )
    async with client(secured(settings)) as http:
        for response in [await http.get("/whoami"), await http.post("/whoami")]:
            assert response.status_code == 401
            assert response.headers["x-frame-options"] == "SAMEORIGIN"
