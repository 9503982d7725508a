"""The console shows each person what the API would show them, behind the same authentication."""

from __future__ import annotations

import re
from pathlib import Path

from tests.api.conftest import Gateway, GatewayFactory
from tests.api.security.helpers import basic, write_htpasswd

PI = str(Path(__file__).resolve().parents[3] / "examples" / "pi.py")
PASSWORDS = {"alice": "pw-alice", "bob": "pw-bob", "vic": "pw-vic", "root": "pw-root"}


async def secured(make_gateway: GatewayFactory, tmp_path: Path) -> Gateway:
    htpasswd = write_htpasswd(tmp_path / "htpasswd", PASSWORDS)
    gw: Gateway = await make_gateway(
        gateway={
            "middleware": [{"type": "BasicAuthMiddleware", "conf": {"htpasswdFile": str(htpasswd)}}],
            "authorization": {"admins": ["root"], "viewers": ["vic"]},
        }
    )
    return gw


def as_user(user: str) -> dict[str, str]:
    return basic(user, PASSWORDS[user])


async def batch_of(gw: Gateway, user: str, name: str) -> str:
    response = await gw.client.post(
        "/api/livy/batches", json={"file": PI, "name": name}, headers=as_user(user)
    )
    assert response.status_code == 201, response.text
    return str(response.json()["appInfo"]["GatewayId"])


def listed(html: str) -> list[str]:
    return re.findall(r'<tr data-gateway-id="([^"]+)"', html)


async def test_browser_gets_a_basic_prompt(make_gateway: GatewayFactory, tmp_path: Path) -> None:
    gw = await secured(make_gateway, tmp_path)
    for path in ("/ui", "/ui/applications", "/ui/clusters", "/ui/static/console.js"):
        response = await gw.client.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"].startswith("Basic"), path
    wrong = await gw.client.get("/ui/applications", headers=basic("alice", "guess"))
    assert wrong.status_code == 401


async def test_users_see_only_their_own_applications(make_gateway: GatewayFactory, tmp_path: Path) -> None:
    gw = await secured(make_gateway, tmp_path)
    alices = await batch_of(gw, "alice", "alice-job")
    bobs = await batch_of(gw, "bob", "bob-job")

    async def ids(user: str, **params: str) -> list[str]:
        response = await gw.client.get("/ui/applications", params=params, headers=as_user(user))
        assert response.status_code == 200
        return listed(response.text)

    assert await ids("alice") == [alices]
    assert await ids("alice", owner="bob") == []  # a filter narrows, never widens
    assert await ids("bob") == [bobs]
    assert await ids("vic") == [bobs, alices]
    assert await ids("root", owner="alice") == [alices]

    denied = await gw.client.get(f"/ui/applications/{bobs}", headers=as_user("alice"))
    # Like the API: another user's application does not exist for alice.
    assert denied.status_code == 404 and "not found" in denied.text and "bob-job" not in denied.text
    log = await gw.client.get(f"/ui/applications/{bobs}/log", headers=as_user("alice"))
    assert log.status_code == 404
    prefill = await gw.client.get("/ui/submit", params={"from": bobs}, headers=as_user("alice"))
    assert prefill.status_code == 404


async def test_kill_is_offered_only_where_delete_is_allowed(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw = await secured(make_gateway, tmp_path)
    alices = await batch_of(gw, "alice", "alice-job")
    for user, offered in (("alice", True), ("vic", False), ("root", True)):
        page = await gw.client.get(f"/ui/applications/{alices}", headers=as_user(user))
        assert page.status_code == 200
        assert ('id="kill"' in page.text) is offered, user
        delete = await gw.client.delete(f"/api/v1/applications/{alices}", headers=as_user("vic"))
        assert delete.status_code == 403  # what the hidden button would have met


async def test_pages_name_the_signed_in_user(make_gateway: GatewayFactory, tmp_path: Path) -> None:
    gw = await secured(make_gateway, tmp_path)
    page = await gw.client.get("/ui/clusters", headers=as_user("bob"))
    assert page.status_code == 200
    assert '<span class="who" id="who">bob</span>' in page.text
