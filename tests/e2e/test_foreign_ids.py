"""Another user's batch or application does not exist for the caller: the real gateway answers the
very same 404 as for an id that was never used, on every read and on DELETE, and changes nothing."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.auth_setup import EXAMPLE_FILE, PASSWORDS, basic, basic_auth, gateway_config
from tests.e2e.conftest import GatewayStarter

pytestmark = pytest.mark.e2e
ALICE = basic("alice", PASSWORDS["alice"])
BOB = basic("bob", PASSWORDS["bob"])
MISSING_BATCH = 999_999


def spark_app(name: str) -> dict[str, object]:
    return {
        "metadata": {"namespace": "default", "name": name},
        "spec": {"type": "Python", "sparkVersion": "4.0.0", "mainApplicationFile": EXAMPLE_FILE},
    }


def test_foreign_ids_are_404_like_missing_ones(start_gateway: GatewayStarter, tmp_path: Path) -> None:
    gw = start_gateway(gateway_config(tmp_path, [basic_auth(tmp_path)]))
    with httpx.Client(base_url=gw.url, timeout=30) as http:
        batch = http.post("/api/livy/batches", json={"file": EXAMPLE_FILE, "name": "nightly"}, headers=ALICE)
        app = http.post("/api/v1/applications", json=spark_app("alices"), headers=ALICE)
        assert (batch.status_code, app.status_code) == (201, 201)
        batch_id, gid = batch.json()["id"], app.json()["gatewayId"]
        # A gateway id of the same shape that was never used: same cluster and namespace, other uuid.
        missing_gid = gid[: -len("000000000000")] + "000000000000"

        for suffix in ("", "/state", "/log"):
            for method in ("GET", "DELETE") if suffix == "" else ("GET",):
                foreign = http.request(method, f"/api/livy/batches/{batch_id}{suffix}", headers=BOB)
                missing = http.request(method, f"/api/livy/batches/{MISSING_BATCH}{suffix}", headers=BOB)
                assert foreign.status_code == missing.status_code == 404, (method, suffix)
                assert foreign.json() == {"msg": f"Session '{batch_id}' not found."}
                assert missing.json() == {"msg": f"Session '{MISSING_BATCH}' not found."}
                assert batch.json()["appInfo"]["GatewayId"] not in foreign.text
        # By name, too: Livy resolves a non-numeric reference among the caller's own batches.
        assert http.get("/api/livy/batches/nightly", headers=BOB).json() == {
            "msg": "Session 'nightly' not found."
        }

        for suffix in ("", "/status", "/logs"):
            for method in ("GET", "DELETE") if suffix == "" else ("GET",):
                foreign = http.request(method, f"/api/v1/applications/{gid}{suffix}", headers=BOB)
                missing = http.request(method, f"/api/v1/applications/{missing_gid}{suffix}", headers=BOB)
                assert foreign.status_code == missing.status_code == 404, (method, suffix)
                assert foreign.json() == {"error": f"application '{gid}' not found"}
                assert missing.json() == {"error": f"application '{missing_gid}' not found"}

        # Nothing changed for alice, and she (and an admin) still see both.
        assert http.get(f"/api/livy/batches/{batch_id}", headers=ALICE).status_code == 200
        assert http.get(f"/api/v1/applications/{gid}", headers=ALICE).json()["gatewayId"] == gid
        root = basic("root", PASSWORDS["root"])
        assert http.get(f"/api/v1/applications/{gid}/status", headers=root).status_code == 200
        assert http.delete(f"/api/livy/batches/{batch_id}", headers=ALICE).status_code == 200
