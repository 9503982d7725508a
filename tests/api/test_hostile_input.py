"""Hostile and malformed requests against the real gateway: each gets a clear 4xx and changes nothing.

Every refusal here is checked twice (tests/api/refusals.py): the status and error envelope the client
sees, and the stored data before and after. Local files and shell syntax in submissions are in
test_hostile_submissions.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.api.conftest import Gateway, GatewayFactory
from tests.api.refusals import LIVY, PI, V1, refused, spark_app, stored, with_metadata

__all__ = ["LIVY", "PI", "V1", "refused", "spark_app", "stored", "with_metadata"]  # imported from here too


@pytest.fixture
async def gw(make_gateway: GatewayFactory) -> AsyncIterator[Gateway]:
    gateway: Gateway = await make_gateway(
        gateway={"maxRequestBodyBytes": 4096, "forbiddenSparkConf": ["spark.driver.extraJavaOptions"]}
    )
    # Something to lose: a batch and an application that every refused request must leave alone.
    assert (await gateway.client.post(LIVY, json={"file": PI, "name": "keep"})).status_code == 201
    assert (await gateway.client.post(V1, json=spark_app())).status_code == 201
    yield gateway


# Body size -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [LIVY, V1])
async def test_bodies_above_the_limit_are_413(gw: Gateway, path: str) -> None:
    big = {"file": PI, "args": ["x" * 5000]} if path == LIVY else spark_app(arguments=["x" * 5000])
    await refused(gw, "POST", path, body=big, status=413, fragment="exceeds the limit of 4096 bytes")


@pytest.mark.parametrize("path", [LIVY, V1])
async def test_streamed_bodies_above_the_limit_are_413(gw: Gateway, path: str) -> None:
    """A chunked upload declares no length: the limit applies to the bytes as they arrive."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"file": "' + PI.encode() + b'", "args": ["'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"]}'

    before = await stored(gw)
    response = await gw.client.post(path, content=chunks())
    assert response.status_code == 413
    assert "exceeds the limit" in response.text
    assert await stored(gw) == before


# Configuration the gateway controls ------------------------------------------------------------------


async def test_controlled_spark_conf_is_400_on_both_apis(gw: Gateway) -> None:
    for key in ("spark.master", "spark.submit.deployMode", "spark.driver.extraJavaOptions"):
        await refused(gw, "POST", LIVY, body={"file": PI, "conf": {key: "x"}}, status=400, fragment=key)
        await refused(gw, "POST", V1, body=spark_app(sparkConf={key: "x"}), status=400, fragment=key)


# What Kubernetes would reject ------------------------------------------------------------------------

KUBERNETES_WOULD_REJECT: list[tuple[dict[str, Any], str]] = [
    (with_metadata(namespace="Default"), "namespace 'Default'"),
    (with_metadata(namespace="ns_1"), "namespace 'ns_1'"),
    (with_metadata(namespace="n" * 64), "not a valid Kubernetes namespace name"),
    (with_metadata(labels={"team": "data science"}), "label 'team' has value 'data science'"),
    (with_metadata(labels={"team": "x" * 64}), "Kubernetes would reject"),
    (with_metadata(labels={"-team": "data"}), "label key '-team'"),
    (with_metadata(labels={"Example.COM/team": "data"}), "invalid prefix"),
    (with_metadata(labels={"a/b/c": "data"}), "label key 'a/b/c'"),
    (with_metadata(annotations={"bad key": "v"}), "annotation key 'bad key'"),
    (with_metadata(name="n" * 254), "metadata.name: longer than 253 characters"),
]


async def test_metadata_kubernetes_would_reject_is_400_before_any_cluster(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = gw.runtime.backends["local"]

    def touched(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the cluster backend was consulted")

    monkeypatch.setattr(backend, "validate", touched)
    monkeypatch.setattr(backend, "submit", touched)
    for body, fragment in KUBERNETES_WOULD_REJECT:
        await refused(gw, "POST", V1, body=body, status=400, fragment=fragment)


async def test_annotations_above_the_kubernetes_limit_are_400(make_gateway: GatewayFactory) -> None:
    gw: Gateway = await make_gateway()
    body = with_metadata(annotations={f"note{i}": "n" * 60_000 for i in range(5)})
    await refused(gw, "POST", V1, body=body, status=400, fragment="Kubernetes accepts at most 262144")


async def test_livy_namespace_header_kubernetes_would_reject_is_400(gw: Gateway) -> None:
    for namespace in ("Default", "ns_1", "-ns", "n" * 64, "a.b"):
        headers = {"X-Spark-Gateway-Livy-Namespace": namespace}
        fragment = f"namespace '{namespace}'"
        await refused(gw, "POST", LIVY, body={"file": PI}, headers=headers, status=400, fragment=fragment)


# Malformed bodies and ids ---------------------------------------------------------------------------

PI_JSON = json.dumps(PI).encode()
MALFORMED_LIVY: list[tuple[bytes, str]] = [
    (b"{oops", "not valid JSON"),
    (b'{"file": ' + PI_JSON + b', "args": ' + b"[" * 70 + b"]" * 70 + b"}", "nested more than 64 levels"),
    (b'{"file": ' + PI_JSON + b', "args": ["a\\u0000b"]}', "args[0]: NUL characters are not allowed"),
    (b'{"file": ' + PI_JSON + b', "args": ["\\ud800"]}', "args[0]: invalid Unicode"),
    (b'{"file": ' + PI_JSON + b', "conf": {"spark.x": NaN}}', "NaN is not a JSON value"),
    (b'{"file": ' + PI_JSON + b', "conf": {"spark.x": 1e999}}', "number 1e999 is out of range"),
    (b'{"file": ' + PI_JSON + b', "name": "' + b"n" * 254 + b'"}', "longer than 253 characters"),
    (b'{"file": ' + PI_JSON + b', "proxyUser": "' + b"u" * 254 + b'"}', "longer than 253 characters"),
]
MALFORMED_V1: list[tuple[bytes, str]] = [
    (json.dumps(with_metadata(labels={"a\u0000": "b"})).encode(), "NUL characters are not allowed in keys"),
    (json.dumps(spark_app(arguments=["\u0000"])).encode(), "spec.arguments[0]: NUL"),
    (json.dumps(spark_app(proxyUser="u" * 254)).encode(), "spec.proxyUser: longer than 253"),
]


async def test_malformed_bodies_are_400(gw: Gateway) -> None:
    for content, fragment in MALFORMED_LIVY:
        await refused(gw, "POST", LIVY, content=content, status=400, fragment=fragment)
    for content, fragment in MALFORMED_V1:
        await refused(gw, "POST", V1, content=content, status=400, fragment=fragment)


async def test_deep_nesting_is_400_not_a_crash(make_gateway: GatewayFactory) -> None:
    """200 KB of brackets, within the default size limit, would exhaust the JSON decoder's recursion."""
    gw: Gateway = await make_gateway()
    content = b"[" * 100_000 + b"]" * 100_000
    for path in (LIVY, V1):
        await refused(gw, "POST", path, content=content, status=400, fragment="nested more than 64")


HOSTILE_IDS = [
    ("GET", "/api/livy/batches/99999999999999999999", 404),  # beyond the id column: cannot exist
    ("DELETE", "/api/livy/batches/99999999999999999999", 404),
    ("GET", "/api/livy/batches/%C2%B9", 404),  # '¹' is a digit to str.isdigit, not a batch id
    ("DELETE", "/api/livy/batches/%C2%B9", 404),
    ("GET", "/api/livy/batches/%C2%B9/state", 404),
    ("GET", "/api/livy/batches/" + "n" * 300 + "/log", 404),  # longer than any stored name
    ("GET", "/api/livy/batches/0/log?from=99999999999999999999&size=99999999999999999999", 200),
    ("GET", "/api/livy/batches?from=99999999999999999999&size=99999999999999999999", 200),
    ("GET", "/api/livy/batches?size=-99999999999999999999", 200),
    ("GET", "/api/v1/applications?namespace=%00", 400),
    ("GET", "/api/v1/applications?namespace=Not_A_Namespace", 400),
    ("GET", "/api/v1/applications/local-dflt-0190f0f0-0000-7000-8000-00000000000%C2%B9", 400),
    ("DELETE", "/api/v1/applications/local-dflt-0190f0f0-0000-7000-8000-00000000000%C2%B9", 400),
]


async def test_hostile_ids_and_paging_never_crash(gw: Gateway) -> None:
    for method, path, status in HOSTILE_IDS:
        before = await stored(gw)
        response = await gw.client.request(method, path)
        assert response.status_code == status, f"{method} {path}: {response.text}"
        assert await stored(gw) == before, f"{method} {path} changed stored data"


async def test_long_user_names_and_idempotency_keys_are_stored(make_gateway: GatewayFactory) -> None:
    """The longest user name the auth chain accepts plus the longest key still deduplicates."""
    gw: Gateway = await make_gateway(
        gateway={
            "middleware": [
                {
                    "type": "HeaderAuthMiddleware",
                    "conf": {"headers": [{"key": "X-User"}], "trustedProxies": ["127.0.0.1/32"]},
                }
            ]
        }
    )
    headers = {"X-User": "u" * 253, "Idempotency-Key": "k" * 200}
    first = await gw.client.post(LIVY, json={"file": PI}, headers=headers)
    again = await gw.client.post(LIVY, json={"file": PI}, headers=headers)
    assert first.status_code == again.status_code == 201, first.text
    assert again.json()["id"] == first.json()["id"]
    other_key = await gw.client.post(
        LIVY, json={"file": PI}, headers={**headers, "Idempotency-Key": "k" * 199}
    )
    assert other_key.json()["id"] != first.json()["id"]


# CSRF -----------------------------------------------------------------------------------------------


async def test_csrf_protection_refuses_state_changes_without_x_requested_by(
    make_gateway: GatewayFactory,
) -> None:
    gw: Gateway = await make_gateway(livy={"csrfProtection": True})
    csrf = {"X-Requested-By": "sparkmagic"}
    batch = (await gw.client.post(LIVY, json={"file": PI}, headers=csrf)).json()
    app = (await gw.client.post(V1, json=spark_app(), headers=csrf)).json()
    livy_message = "Missing Required Header for CSRF protection."
    await refused(gw, "POST", LIVY, body={"file": PI}, status=400, fragment=livy_message)
    await refused(gw, "DELETE", f"{LIVY}/{batch['id']}", status=400, fragment=livy_message)
    await refused(gw, "POST", V1, body=spark_app(), status=400, fragment=livy_message)
    await refused(gw, "DELETE", f"{V1}/{app['gatewayId']}", status=400, fragment=livy_message)
    # Reading needs no header; any value (even empty) lets a change through.
    assert (await gw.client.get(f"{LIVY}/{batch['id']}")).status_code == 200
    assert (await gw.client.get(V1)).status_code == 200
    deleted = await gw.client.delete(f"{LIVY}/{batch['id']}", headers={"X-Requested-By": ""})
    assert deleted.status_code == 200


async def test_csrf_protection_is_off_by_default(gw: Gateway) -> None:
    assert (await gw.client.post(LIVY, json={"file": PI})).status_code == 201
