"""`livy.rootPaths: true`: the Livy API at the root too, so Livy clients only change the host name."""

from __future__ import annotations

from pathlib import Path

import bcrypt
import httpx
import pytest

from spark_gateway.client import AsyncSparkGatewayClient, NotFound
from tests.api.conftest import GatewayFactory

PI = str(Path(__file__).resolve().parents[2] / "examples" / "pi.py")


async def test_batches_at_the_root_behave_as_under_api_livy(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(livy={"rootPaths": True})
    created = await gw.client.post("/batches", json={"file": PI, "name": "root"})
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"/batches/{created.json()['id']}"
    batch_id = created.json()["id"]
    assert (await gw.client.get(f"/batches/{batch_id}")).json()["name"] == "root"
    assert (await gw.client.get(f"/batches/{batch_id}/state")).json() == {
        "id": batch_id,
        "state": "not_started",
    }
    assert (await gw.client.get(f"/batches/{batch_id}/log")).json()["log"] == []
    assert (await gw.client.get("/api/livy/batches")).json() == (await gw.client.get("/batches")).json()
    assert (await gw.client.get("/version")).json()["version"].startswith("0.9")
    missing = await gw.client.get("/batches/4242")
    assert missing.status_code == 404 and missing.json() == {"msg": "Session '4242' not found."}
    bad = await gw.client.post("/batches", content=b"{not json")
    assert bad.status_code == 400 and "msg" in bad.json()
    assert (await gw.client.delete(f"/batches/{batch_id}")).json() == {"msg": "deleted"}
    assert (await gw.client.get("/api/livy/batches")).json()["total"] == 0
    assert (await gw.client.get("/health")).status_code == 200  # other root paths are untouched


async def test_root_paths_are_off_by_default(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway()
    assert (await gw.client.get("/batches")).status_code == 404
    assert (await gw.client.post("/batches", json={"file": PI})).status_code in (404, 405)
    assert (await gw.client.get("/api/livy/batches")).json()["total"] == 0


async def test_authentication_and_livy_error_shape_apply_at_the_root(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"alice:{bcrypt.hashpw(b'pw', bcrypt.gensalt(4)).decode()}\n")
    gw = await make_gateway(
        livy={"rootPaths": True},
        gateway={"middleware": [{"type": "BasicAuthMiddleware", "conf": {"htpasswdFile": str(htpasswd)}}]},
    )
    refused = await gw.client.get("/batches")
    assert refused.status_code == 401 and set(refused.json()) == {"msg"}
    allowed = await gw.client.post("/batches", json={"file": PI}, auth=("alice", "pw"))
    assert allowed.status_code == 201 and allowed.json()["owner"] == "alice"


async def test_a_client_configured_for_apache_livy_paths_works(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(livy={"rootPaths": True})
    transport = httpx.ASGITransport(app=gw.app)
    async with AsyncSparkGatewayClient("http://gateway", livy_prefix="", transport=transport) as client:
        batch = await client.batches.submit(PI, ["1"], name="like-livy")
        assert (await client.batches.get(batch.id)).name == "like-livy"
        assert [b.id for b in (await client.batches.list()).batches] == [batch.id]
        await client.batches.kill(batch.id)
        with pytest.raises(NotFound) as gone:
            await client.batches.state(batch.id)
        assert gone.value.message == f"Session '{batch.id}' not found."
