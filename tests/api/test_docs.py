"""`/docs` and `/redoc` load every script and style from the gateway itself (no CDN)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.api.conftest import Gateway, GatewayFactory
from tests.api.security.helpers import basic, write_htpasswd

ASSETS = {
    "swagger-ui-bundle.js": "javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "javascript",
    "favicon.png": "image/png",
}


def referenced_urls(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""", html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_pages_reference_only_gateway_assets(gateway: Gateway, page: str) -> None:
    response = await gateway.client.get(page)
    assert response.status_code == 200
    urls = [u for pair in referenced_urls(response.text) for u in pair if u]
    assert urls, response.text
    assert all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert "cdn" not in response.text.lower() and "fonts.googleapis" not in response.text
    for url in urls:
        if url.startswith("/docs/assets/"):
            assert (await gateway.client.get(url)).status_code == 200, url


async def test_assets_are_served_with_their_types(gateway: Gateway) -> None:
    for name, kind in ASSETS.items():
        response = await gateway.client.get(f"/docs/assets/{name}")
        assert response.status_code == 200, name
        assert kind in response.headers["content-type"], (name, response.headers["content-type"])
        assert len(response.content) > 1000
    assert "SwaggerUIBundle" in (await gateway.client.get("/docs/assets/swagger-ui-bundle.js")).text
    unknown = await gateway.client.get("/docs/assets/secret.txt")
    assert unknown.status_code == 404 and "error" in unknown.json()


async def test_disabled_swagger_ui_serves_no_docs(make_gateway: GatewayFactory) -> None:
    gw: Gateway = await make_gateway(gateway={"enableSwaggerUI": False})
    for path in ("/docs", "/redoc", "/openapi.json", "/docs/assets/swagger-ui.css"):
        assert (await gw.client.get(path)).status_code == 404, path


async def test_protected_docs_protect_their_assets_too(make_gateway: GatewayFactory, tmp_path: Path) -> None:
    htpasswd = write_htpasswd(tmp_path / "htpasswd", {"alice": "pw-alice"})
    gw: Gateway = await make_gateway(
        gateway={
            "middleware": [{"type": "BasicAuthMiddleware", "conf": {"htpasswdFile": str(htpasswd)}}],
            "authorization": {"protectDocs": True},
        }
    )
    for path in ("/docs", "/redoc", "/docs/assets/swagger-ui-bundle.js"):
        assert (await gw.client.get(path)).status_code == 401, path
        assert (await gw.client.get(path, headers=basic("alice", "pw-alice"))).status_code == 200, path


async def test_open_docs_assets_need_no_credentials(make_gateway: GatewayFactory, tmp_path: Path) -> None:
    htpasswd = write_htpasswd(tmp_path / "htpasswd", {"alice": "pw-alice"})
    gw: Gateway = await make_gateway(
        gateway={"middleware": [{"type": "BasicAuthMiddleware", "conf": {"htpasswdFile": str(htpasswd)}}]}
    )
    assert (await gw.client.get("/docs/assets/redoc.standalone.js")).status_code == 200
    assert (await gw.client.get("/api/livy/batches")).status_code == 401
