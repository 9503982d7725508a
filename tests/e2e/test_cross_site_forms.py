"""A cross-site HTML form (or a `fetch` without preflight) cannot create or delete anything.

A browser that holds the user's Basic credentials sends them to the gateway with any request another
site makes it send. Without a CORS preflight such a request can only be GET/HEAD/POST with
`application/x-www-form-urlencoded`, `multipart/form-data` or `text/plain` (or no body type at all); with
authentication configured the real gateway answers every such POST with 415 before any route runs.
Everything else (JSON, DELETE, PUT) needs a preflight, and the gateway grants none.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.auth_setup import EXAMPLE_FILE, PASSWORDS, basic, basic_auth, gateway_config
from tests.e2e.conftest import GatewayProcess, GatewayStarter

pytestmark = pytest.mark.e2e
ALICE = basic("alice", PASSWORDS["alice"])
BATCH = f'{{"file": "{EXAMPLE_FILE}"}}'
APPLICATION = (
    '{"metadata": {"namespace": "default", "name": "form"}, "spec": {"type": "Python", '
    f'"sparkVersion": "4.0.0", "mainApplicationFile": "{EXAMPLE_FILE}"}}}}'
)
FORM_TYPES = [
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "text/plain",
    "text/plain; charset=utf-8",
    "application/jsonp",
    None,
]


@pytest.fixture
def gw(start_gateway: GatewayStarter, tmp_path: Path) -> GatewayProcess:
    return start_gateway(gateway_config(tmp_path, [basic_auth(tmp_path)]))


def count(http: httpx.Client) -> tuple[int, int]:
    batches = http.get("/api/livy/batches", headers=ALICE).json()["total"]
    return batches, len(http.get("/api/v1/applications", headers=ALICE).json())


def test_form_bodies_are_415_and_create_nothing_while_json_passes(gw: GatewayProcess) -> None:
    with httpx.Client(base_url=gw.url, timeout=30) as http:
        before = count(http)
        for content_type in FORM_TYPES:
            headers = {**ALICE, **({"Content-Type": content_type} if content_type else {})}
            livy = http.post("/api/livy/batches", content=BATCH, headers=headers)
            v1 = http.post("/api/v1/applications", content=APPLICATION, headers=headers)
            assert (livy.status_code, v1.status_code) == (415, 415), content_type
            assert "Content-Type: application/json" in livy.json()["msg"]
            assert "Content-Type: application/json" in v1.json()["error"]
        assert count(http) == before
        for content_type in ["application/json", "application/json; charset=utf-8", "Application/JSON"]:
            headers = {**ALICE, "Content-Type": content_type}
            assert http.post("/api/livy/batches", content=BATCH, headers=headers).status_code == 201
            assert http.post("/api/v1/applications", content=APPLICATION, headers=headers).status_code == 201
        assert count(http) == (before[0] + 3, before[1] + 6)  # a Livy batch is an application too


def test_no_cors_preflight_is_ever_granted(gw: GatewayProcess) -> None:
    """DELETE (which has no body) and JSON POSTs from another origin need a preflight: it fails."""
    with httpx.Client(base_url=gw.url, timeout=30) as http:
        # Without credentials a form post is refused as unauthenticated first.
        assert http.post("/api/livy/batches", data={"file": EXAMPLE_FILE}).status_code == 401
        created = http.post("/api/livy/batches", json={"file": EXAMPLE_FILE}, headers=ALICE)
        path = f"/api/livy/batches/{created.json()['id']}"
        for method, request_headers in [("DELETE", ""), ("POST", "content-type")]:
            preflight = http.options(
                path if method == "DELETE" else "/api/livy/batches",
                headers={
                    "Origin": "https://evil.example",
                    "Access-Control-Request-Method": method,
                    "Access-Control-Request-Headers": request_headers,
                    **ALICE,
                },
            )
            assert preflight.status_code >= 400
            assert not any(h.startswith("access-control-") for h in preflight.headers)
        # A same-origin client (curl, pylivy, sparkmagic) deletes as before: DELETE needs no body type.
        assert http.delete(path, headers=ALICE).status_code == 200


def test_anonymous_gateways_keep_reading_any_body_as_json(
    start_gateway: GatewayStarter, tmp_path: Path
) -> None:
    """Without authentication there is no user to impersonate: Livy's lenient parsing stays."""
    gw = start_gateway(gateway_config(tmp_path, []))
    with httpx.Client(base_url=gw.url, timeout=30) as http:
        response = http.post("/api/livy/batches", content=BATCH)  # curl -d sends form-urlencoded
        assert response.status_code == 201
