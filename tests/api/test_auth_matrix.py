"""Every endpoint x every authentication middleware x every kind of caller, against the real gateway.

Each gateway is the real app (`create_app`, real database, real local backend without supervision) with
one `gateway.middleware` setup and `root` as the only admin. For every caller row, alice first creates a
fresh batch and application; then the caller hits every endpoint (deletes last) and the status of each
cell must be the one in MATRIX. Errors must use the envelope of their API (`{"msg"}` on Livy routes,
`{"error"}` elsewhere) and every 401 must carry WWW-Authenticate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import Gateway, GatewayFactory
from tests.api.security.helpers import basic, write_htpasswd

PI = str(Path(__file__).resolve().parents[2] / "examples" / "pi.py")
PASSWORDS = {"alice": "pw-alice", "bob": "pw-bob", "root": "pw-root", "mallory": "pw-mallory"}
TOKENS = {"alice": "tok-alice-0123456789", "bob": "tok-bob-0123456789", "root": "tok-root-0123456789"}
CALLERS = ("none", "wrong", "right", "other", "admin")  # right = alice (the owner), other = bob, admin = root

# Endpoint -> (method, path, JSON body). {batch} and {gid} are alice's fresh batch and application.
ENDPOINTS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "livy list": ("GET", "/api/livy/batches", None),
    "livy create": ("POST", "/api/livy/batches", {"file": PI}),
    "livy get": ("GET", "/api/livy/batches/{batch}", None),
    "livy state": ("GET", "/api/livy/batches/{batch}/state", None),
    "livy log": ("GET", "/api/livy/batches/{batch}/log", None),
    "livy version": ("GET", "/api/livy/version", None),
    "livy delete": ("DELETE", "/api/livy/batches/{batch}", None),
    "v1 list": ("GET", "/api/v1/applications", None),
    "v1 create": ("POST", "/api/v1/applications", None),  # body: spark_app()
    "v1 get": ("GET", "/api/v1/applications/{gid}", None),
    "v1 status": ("GET", "/api/v1/applications/{gid}/status", None),
    "v1 logs": ("GET", "/api/v1/applications/{gid}/logs", None),
    "v1 delete": ("DELETE", "/api/v1/applications/{gid}", None),
    "health": ("GET", "/health", None),
    "ready": ("GET", "/ready", None),
    "docs": ("GET", "/docs", None),
    "openapi": ("GET", "/openapi.json", None),
}

# The expected status of every cell, per middleware setup.
# Columns:        none  wrong right other admin
PROTECTED_READ = (401, 401, 200, 200, 200)  # lists and version: everyone authenticated, lists filtered
PROTECTED_CREATE = (401, 401, 201, 201, 201)
# alice's batch/application: the owner and admins only; for bob it does not exist (the same 404 as a
# missing one, so ids reveal nothing). Before the identity hardening this column was 403.
OWNED = (401, 401, 200, 404, 200)
OPEN = (200, 200, 200, 200, 200)
BASE_TABLE: dict[str, tuple[int, ...]] = {
    "livy list": PROTECTED_READ,
    "livy create": PROTECTED_CREATE,
    "livy get": OWNED,
    "livy state": OWNED,
    "livy log": OWNED,
    "livy version": PROTECTED_READ,
    "livy delete": OWNED,
    "v1 list": PROTECTED_READ,
    "v1 create": PROTECTED_CREATE,
    "v1 get": OWNED,
    "v1 status": OWNED,
    "v1 logs": OWNED,
    "v1 delete": OWNED,
    "health": OPEN,
    "ready": OPEN,
    "docs": OPEN,
    "openapi": OPEN,
}
# What "wrong credentials" means per setup, and the status it gets on every protected endpoint: a
# wrong password or token is 401; a name the regex lists refuse is 403 ('malice' contains 'alice' but
# does not match the whole of it).
WRONG = {
    "htpasswd": ("alice with a wrong password", 401),
    "regex-allow": ("'malice', not in the allow list", 403),
    "regex-deny": ("mallory, right password, on the deny list", 403),
    "header": ("an invalid user header value", 401),
    "service-token": ("alice with a wrong token", 401),
}


def _table(wrong_status: int) -> dict[str, tuple[int, ...]]:
    return {
        endpoint: row if row is OPEN else (row[0], wrong_status, *row[2:])
        for endpoint, row in BASE_TABLE.items()
    }


MATRIX: dict[str, dict[str, tuple[int, ...]]] = {kind: _table(status) for kind, (_, status) in WRONG.items()}
# Without any middleware the gateway is anonymous (like Livy without auth): credentials are ignored,
# everything is allowed.
MATRIX["anonymous"] = {
    endpoint: (201,) * 5 if "create" in endpoint else (200,) * 5 for endpoint in BASE_TABLE
}


def spark_app() -> dict[str, Any]:
    return {
        "metadata": {"namespace": "default", "name": "matrix-pi"},
        "spec": {"type": "Python", "sparkVersion": "4.0.0", "mainApplicationFile": PI},
    }


def middleware(kind: str, tmp_path: Path) -> list[dict[str, Any]]:
    htpasswd = str(write_htpasswd(tmp_path / "htpasswd", PASSWORDS))
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("".join(f'{name}: "{token}"\n' for name, token in TOKENS.items()))
    return {
        "anonymous": [],
        "htpasswd": [{"type": "BasicAuthMiddleware", "conf": {"htpasswdFile": htpasswd}}],
        # The lists and the header take a name only from a trusted proxy: the test client (127.0.0.1).
        "regex-allow": [
            {
                "type": "RegexBasicAuthAllowMiddleware",
                "conf": {"allow": ["alice", "bob", "root"], "trustedProxies": ["127.0.0.1/32"]},
            }
        ],
        "regex-deny": [
            {"type": "BasicAuthMiddleware", "conf": {"htpasswdFile": htpasswd}},
            {"type": "RegexBasicAuthDenyMiddleware", "conf": {"deny": ["mallory", "eve.*"]}},
        ],
        "header": [
            {
                "type": "HeaderAuthMiddleware",
                "conf": {
                    "headers": [{"key": "X-Forwarded-User", "validation": "[a-z]+"}],
                    "trustedProxies": ["127.0.0.1/32"],
                },
            }
        ],
        "service-token": [
            {"type": "ServiceTokenAuthMiddleware", "conf": {"serviceTokenMapFile": str(tokens)}}
        ],
    }[kind]


def credentials(kind: str, caller: str) -> dict[str, str]:
    """The headers `caller` sends to a gateway with middleware `kind`."""
    if caller == "none":
        return {}
    user = {"wrong": "alice", "right": "alice", "other": "bob", "admin": "root"}[caller]
    wrong = caller == "wrong"
    if kind in ("htpasswd", "anonymous"):
        return basic(user, "not-the-password" if wrong else PASSWORDS[user])
    if kind == "regex-allow":
        return basic("malice" if wrong else user, "regex lists never check passwords")
    if kind == "regex-deny":
        return basic("mallory", PASSWORDS["mallory"]) if wrong else basic(user, PASSWORDS[user])
    if kind == "header":
        return {"X-Forwarded-User": "Alice!" if wrong else user}
    token = "tok-guessed-0123456789" if wrong else TOKENS[user]
    # All three ways a service may present its token: headers, bearer, basic.
    if caller == "other":
        return {"X-Spark-Gateway-User": user, "Authorization": f"Bearer {token}"}
    if caller == "admin":
        return basic(user, token)
    return {"X-Spark-Gateway-User": user, "X-Spark-Gateway-Token": token}


async def alice_creates(gw: Gateway, kind: str) -> tuple[int, str]:
    alice = credentials(kind, "right")
    batch = await gw.client.post("/api/livy/batches", json={"file": PI, "name": "alice-etl"}, headers=alice)
    app = await gw.client.post("/api/v1/applications", json=spark_app(), headers=alice)
    assert batch.status_code == 201 and app.status_code == 201, (batch.text, app.text)
    batch_id = batch.json()["id"]
    gateway_id = app.json()["gatewayId"]
    await gw.runtime.sink.append_logs(batch.json()["appInfo"]["GatewayId"], ["alice's log line"])
    await gw.runtime.sink.append_logs(gateway_id, ["alice's log line"])
    return batch_id, gateway_id


def check_response_shape(endpoint: str, path: str, response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    envelope = "msg" if path.startswith("/api/livy") else "error"
    assert set(response.json()) == {envelope}, f"{endpoint}: {response.text}"
    assert response.json()[envelope], f"{endpoint}: empty error message"
    if status == 401:
        assert response.headers.get("www-authenticate"), f"{endpoint}: 401 without WWW-Authenticate"


def check_list_visibility(endpoint: str, caller: str, kind: str, body: Any, batch: int, gid: str) -> None:
    """Lists hold only what the caller may see: alice's items for alice and admins, not for bob."""
    if endpoint == "livy list":
        seen = batch in [s["id"] for s in body["sessions"]]
        assert body["total"] == len(body["sessions"])
    elif endpoint == "v1 list":
        seen = gid in [a["gatewayId"] for a in body]
    else:
        return
    expected = kind == "anonymous" or caller in ("right", "admin")
    assert seen == expected, f"{endpoint} as {caller}: alice's item {'missing' if expected else 'shown'}"


def render(table: dict[str, tuple[int, ...]]) -> str:
    lines = [f"{'':14}" + "".join(f"{c:>7}" for c in CALLERS)]
    lines += [f"{endpoint:14}" + "".join(f"{s:>7}" for s in row) for endpoint, row in table.items()]
    return "\n".join(lines)


@pytest.mark.parametrize("kind", list(MATRIX))
async def test_matrix(make_gateway: GatewayFactory, tmp_path: Path, kind: str) -> None:
    gw: Gateway = await make_gateway(
        gateway={"middleware": middleware(kind, tmp_path), "authorization": {"admins": ["root"]}}
    )
    observed: dict[str, list[int]] = {endpoint: [] for endpoint in ENDPOINTS}
    for caller in CALLERS:
        batch, gid = await alice_creates(gw, kind)
        headers = credentials(kind, caller)
        for endpoint, (method, template, body) in ENDPOINTS.items():
            path = template.format(batch=batch, gid=gid)
            payload = spark_app() if endpoint == "v1 create" else body
            response = await gw.client.request(method, path, json=payload, headers=headers)
            observed[endpoint].append(response.status_code)
            check_response_shape(endpoint, path, response)
            if response.status_code == 200 and endpoint.endswith("list"):
                check_list_visibility(endpoint, caller, kind, response.json(), batch, gid)
    actual = {endpoint: tuple(statuses) for endpoint, statuses in observed.items()}
    assert actual == MATRIX[kind], f"{kind}\nexpected:\n{render(MATRIX[kind])}\nactual:\n{render(actual)}"


@pytest.mark.parametrize("endpoint", ["health", "ready", "docs", "openapi"])
async def test_open_endpoints_can_be_protected(
    make_gateway: GatewayFactory, tmp_path: Path, endpoint: str
) -> None:
    flags = {"protectHealth": True, "protectDocs": True, "admins": ["root"]}
    gw: Gateway = await make_gateway(
        gateway={"middleware": middleware("htpasswd", tmp_path), "authorization": flags}
    )
    path = ENDPOINTS[endpoint][1]
    refused = await gw.client.get(path)
    assert refused.status_code == 401
    assert refused.json() == {"error": "authentication required"}
    assert refused.headers["www-authenticate"].startswith("Basic")
    assert (await gw.client.get(path, headers=credentials("htpasswd", "wrong"))).status_code == 401
    assert (await gw.client.get(path, headers=credentials("htpasswd", "other"))).status_code == 200


async def test_metrics_are_open_by_default_and_protected_on_request(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    open_gw: Gateway = await make_gateway(gateway={"middleware": middleware("htpasswd", tmp_path)})
    assert (await open_gw.client.get("/metrics")).status_code == 200
    closed: Gateway = await make_gateway(
        gateway={
            "middleware": middleware("htpasswd", tmp_path),
            "authorization": {"protectMetrics": True},
        }
    )
    assert (await closed.client.get("/metrics")).status_code == 401
    assert (await closed.client.get("/metrics", headers=credentials("htpasswd", "other"))).status_code == 200
