"""Who sees and changes whose applications, through the real gateway (both APIs, both databases).

Users authenticate with a trusted-proxy header (the cheapest middleware; the matrix test covers all of
them). `root` is an admin, `vic` a viewer, everyone else an ordinary user who sees and changes only
what they own or what runs as them (their proxy user).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Gateway, GatewayFactory

PI = str(Path(__file__).resolve().parents[2] / "examples" / "pi.py")
HEADER = "X-Forwarded-User"
AUTH = {
    "middleware": [
        {
            "type": "HeaderAuthMiddleware",
            "conf": {"headers": [{"key": HEADER}], "trustedProxies": ["127.0.0.1/32"]},  # the test client
        }
    ],
    "authorization": {"admins": ["root"], "viewers": ["vic"]},
}


def gid(batch: dict[str, Any]) -> str:
    return str(batch["appInfo"]["GatewayId"])


def as_user(user: str) -> dict[str, str]:
    return {HEADER: user}


def spark_app(name: str = "pi", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "default", "name": name},
        "spec": {"type": "Python", "sparkVersion": "4.0.0", "mainApplicationFile": PI, **spec},
    }


@pytest.fixture
async def gw(make_gateway: GatewayFactory) -> Gateway:
    gateway: Gateway = await make_gateway(gateway=AUTH)
    return gateway


async def batch(gw: Gateway, user: str, **body: Any) -> dict[str, Any]:
    response = await gw.client.post("/api/livy/batches", json={"file": PI, **body}, headers=as_user(user))
    assert response.status_code == 201, response.text
    return response.json()


async def application(gw: Gateway, user: str, **spec: Any) -> dict[str, Any]:
    response = await gw.client.post("/api/v1/applications", json=spark_app(**spec), headers=as_user(user))
    assert response.status_code == 201, response.text
    return response.json()


async def livy_ids(gw: Gateway, user: str, **params: Any) -> tuple[int, list[int]]:
    response = await gw.client.get("/api/livy/batches", params=params, headers=as_user(user))
    assert response.status_code == 200, response.text
    body = response.json()
    return body["total"], [s["id"] for s in body["sessions"]]


async def v1_ids(gw: Gateway, user: str) -> list[str]:
    response = await gw.client.get("/api/v1/applications", headers=as_user(user))
    assert response.status_code == 200, response.text
    return sorted(a["gatewayId"] for a in response.json())


async def test_each_user_sees_and_counts_only_their_own(gw: Gateway) -> None:
    a0, a1 = await batch(gw, "alice"), await batch(gw, "alice")
    b2 = await batch(gw, "bob")
    app_a, app_b = await application(gw, "alice"), await application(gw, "bob")
    assert (a0["owner"], a0["proxyUser"]) == ("alice", "alice")
    assert (app_a["user"], app_a["sparkApplication"]["spec"]["proxyUser"]) == ("alice", "alice")

    assert await livy_ids(gw, "alice") == (2, [a0["id"], a1["id"]])
    assert await livy_ids(gw, "bob") == (1, [b2["id"]])
    assert await livy_ids(gw, "carol") == (0, [])
    for privileged in ("root", "vic"):
        assert await livy_ids(gw, privileged) == (3, [a0["id"], a1["id"], b2["id"]])
    # Paging works inside what the caller may see, and `total` counts only that.
    assert await livy_ids(gw, "alice", **{"from": 1, "size": 1}) == (2, [a1["id"]])
    assert await livy_ids(gw, "bob", **{"from": 1}) == (1, [])

    # The native list shows every application, Livy batches included.
    alices = sorted([gid(a0), gid(a1), app_a["gatewayId"]])
    bobs = sorted([gid(b2), app_b["gatewayId"]])
    assert await v1_ids(gw, "alice") == alices
    assert await v1_ids(gw, "bob") == bobs
    assert await v1_ids(gw, "carol") == []
    assert await v1_ids(gw, "root") == await v1_ids(gw, "vic") == sorted(alices + bobs)


async def test_a_users_pages_and_total_follow_creates_and_deletes_by_several_users(gw: Gateway) -> None:
    """Alice's Livy pages (`from`/`size`) and v1 pages (`limit`/`continue`) after others wrote around
    hers: only what she owns or runs as, in list order, each once, with her own total."""
    made = []
    for i in range(12):  # alice, bob and root (some as alice) interleaved
        user, body = [("alice", {}), ("bob", {}), ("root", {"proxyUser": "alice"}), ("root", {})][i % 4]
        made.append(await batch(gw, user, **body))
    apps = [await application(gw, user) for user in ("alice", "bob", "alice")]
    for victim, user in ((made[4], "alice"), (made[2], "root"), (made[1], "bob")):
        assert (
            await gw.client.delete(f"/api/livy/batches/{victim['id']}", headers=as_user(user))
        ).status_code == 200
    assert (
        await gw.client.delete(f"/api/v1/applications/{apps[0]['gatewayId']}", headers=as_user("alice"))
    ).status_code == 200
    alices = [b for i, b in enumerate(made) if i % 4 in (0, 2) and i not in (2, 4)]
    ids = [b["id"] for b in alices]
    assert await livy_ids(gw, "alice") == (len(ids), ids)
    for offset in range(len(ids) + 1):
        assert await livy_ids(gw, "alice", **{"from": offset, "size": 2}) == (
            len(ids),
            ids[offset : offset + 2],
        )
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 2}
    while True:
        body = (await gw.client.get("/api/v1/applications", params=params, headers=as_user("alice"))).json()
        seen += [a["gatewayId"] for a in body["items"]]
        if body["metadata"]["continue"] is None:
            break
        params = {"limit": 2, "continue": body["metadata"]["continue"]}
    assert seen == [apps[2]["gatewayId"], *(gid(b) for b in reversed(alices))]  # newest first, once each


async def test_other_users_get_the_404_of_a_missing_one_and_change_nothing(gw: Gateway) -> None:
    mine = await batch(gw, "alice", name="nightly")
    app = await application(gw, "alice")
    gid = app["gatewayId"]
    bob = as_user("bob")
    batch_paths = [f"/api/livy/batches/{mine['id']}" + suffix for suffix in ("", "/state", "/log")]
    for method, path in [*(("GET", p) for p in batch_paths), ("DELETE", batch_paths[0])]:
        response = await gw.client.request(method, path, headers=bob)
        assert (response.status_code, response.json()) == (404, {"msg": f"Session '{mine['id']}' not found."})
    app_paths = [f"/api/v1/applications/{gid}" + suffix for suffix in ("", "/status", "/logs")]
    for method, path in [*(("GET", p) for p in app_paths), ("DELETE", app_paths[0])]:
        response = await gw.client.request(method, path, headers=bob)
        assert (response.status_code, response.json()) == (404, {"error": f"application '{gid}' not found"})
    # Still there, unchanged, for alice.
    assert (await gw.client.get(f"/api/livy/batches/{mine['id']}", headers=as_user("alice"))).json() == mine
    assert (await gw.client.get(f"/api/v1/applications/{gid}", headers=as_user("alice"))).json() == app


async def test_viewers_read_everything_but_modify_nothing(gw: Gateway) -> None:
    mine = await batch(gw, "alice")
    app = await application(gw, "alice")
    await gw.runtime.sink.append_logs(mine["appInfo"]["GatewayId"], ["hello from alice"])
    vic = as_user("vic")
    log = await gw.client.get(f"/api/livy/batches/{mine['id']}/log", headers=vic)
    assert log.status_code == 200 and log.json()["log"] == ["hello from alice"]
    assert (
        await gw.client.get(f"/api/v1/applications/{app['gatewayId']}/status", headers=vic)
    ).status_code == 200
    assert (await gw.client.delete(f"/api/livy/batches/{mine['id']}", headers=vic)).status_code == 403
    assert (
        await gw.client.delete(f"/api/v1/applications/{app['gatewayId']}", headers=vic)
    ).status_code == 403
    assert await livy_ids(gw, "alice") == (1, [mine["id"]])
    assert await v1_ids(gw, "alice") == sorted([gid(mine), app["gatewayId"]])


async def test_admins_modify_anything(gw: Gateway) -> None:
    theirs = await batch(gw, "bob")
    app = await application(gw, "bob")
    root = as_user("root")
    assert (await gw.client.delete(f"/api/livy/batches/{theirs['id']}", headers=root)).json() == {
        "msg": "deleted"
    }
    assert (
        await gw.client.delete(f"/api/v1/applications/{app['gatewayId']}", headers=root)
    ).status_code == 200
    assert (
        await gw.client.get(f"/api/livy/batches/{theirs['id']}", headers=as_user("bob"))
    ).status_code == 404
    assert await v1_ids(gw, "bob") == []


async def test_ordinary_users_may_only_name_themselves_as_proxy_user(gw: Gateway) -> None:
    assert (await batch(gw, "alice", proxyUser="alice"))["proxyUser"] == "alice"
    for user in ("alice", "vic"):  # viewers cannot impersonate either
        response = await gw.client.post(
            "/api/livy/batches", json={"file": PI, "proxyUser": "bob"}, headers=as_user(user)
        )
        assert response.status_code == 403
        assert response.json() == {"msg": f"User '{user}' not allowed to impersonate 'bob'."}
        response = await gw.client.post(
            "/api/v1/applications", json=spark_app(proxyUser="bob"), headers=as_user(user)
        )
        assert response.status_code == 403
        assert response.json() == {"error": f"User '{user}' not allowed to impersonate 'bob'."}
    assert await livy_ids(gw, "root") == (1, [0])  # the refused submissions stored nothing
    assert len(await v1_ids(gw, "root")) == 1


async def test_admins_impersonate_and_the_application_then_runs_as_that_user(gw: Gateway) -> None:
    created = await batch(gw, "root", proxyUser="bob")
    assert (created["owner"], created["proxyUser"]) == ("root", "bob")
    app = await application(gw, "root", proxyUser="bob")
    assert app["user"] == "root" and app["sparkApplication"]["spec"]["proxyUser"] == "bob"
    # It runs as bob, so bob sees and may kill it (as Livy allows since LIVY-592); alice may not.
    assert await livy_ids(gw, "bob") == (1, [created["id"]])
    assert await v1_ids(gw, "bob") == sorted([gid(created), app["gatewayId"]])
    assert await livy_ids(gw, "alice") == (0, [])
    assert (
        await gw.client.get(f"/api/livy/batches/{created['id']}", headers=as_user("alice"))
    ).status_code == 404
    assert (
        await gw.client.delete(f"/api/livy/batches/{created['id']}", headers=as_user("bob"))
    ).status_code == 200


async def test_batch_names_resolve_among_the_callers_own_batches(gw: Gateway) -> None:
    """Livy looks up a non-numeric id as a name: another user's newer batch of the same name must
    neither hide the caller's own nor reveal itself."""
    bobs = await batch(gw, "bob", name="etl")
    alices = await batch(gw, "alice", name="etl")
    state = "/api/livy/batches/etl/state"
    assert (await gw.client.get(state, headers=as_user("bob"))).json() == {
        "id": bobs["id"],
        "state": "not_started",
    }
    assert (await gw.client.get(state, headers=as_user("alice"))).json()["id"] == alices["id"]
    assert (await gw.client.get(state, headers=as_user("root"))).json()["id"] == alices["id"]  # the newest
    carol = await gw.client.get(state, headers=as_user("carol"))
    assert carol.status_code == 404
    assert carol.json() == {"msg": "Session 'etl' not found."}
    # Deleting by name deletes the caller's own batch only.
    assert (await gw.client.delete("/api/livy/batches/etl", headers=as_user("bob"))).status_code == 200
    assert await livy_ids(gw, "root") == (1, [alices["id"]])


async def test_idempotency_keys_belong_to_their_user(gw: Gateway) -> None:
    key = {"Idempotency-Key": "nightly-2026-11-28"}
    first = await gw.client.post("/api/livy/batches", json={"file": PI}, headers={**as_user("alice"), **key})
    retry = await gw.client.post("/api/livy/batches", json={"file": PI}, headers={**as_user("alice"), **key})
    other = await gw.client.post("/api/livy/batches", json={"file": PI}, headers={**as_user("bob"), **key})
    assert first.status_code == retry.status_code == other.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
    # Bob's request with the same key is his own batch, not a view of alice's.
    assert other.json()["id"] != first.json()["id"] and other.json()["owner"] == "bob"


async def test_applications_created_anonymously_belong_to_nobody_once_auth_is_on(
    make_gateway: GatewayFactory,
) -> None:
    anonymous: Gateway = await make_gateway()
    created = await anonymous.client.post("/api/livy/batches", json={"file": PI})
    assert created.status_code == 201 and created.json()["owner"] is None
    secured: Gateway = await make_gateway(gateway=AUTH)
    batch_path = f"/api/livy/batches/{created.json()['id']}"
    assert await livy_ids(secured, "alice") == (0, [])
    assert (await secured.client.get(batch_path, headers=as_user("alice"))).status_code == 404
    assert (await secured.client.delete(batch_path, headers=as_user("alice"))).status_code == 404
    assert await livy_ids(secured, "vic") == (1, [created.json()["id"]])
    assert (await secured.client.get(batch_path)).status_code == 401
