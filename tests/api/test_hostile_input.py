"""Hostile and malformed requests against the real gateway: each gets a clear 4xx and changes nothing.

Every refusal here is checked twice: the status and error envelope the client sees, and the stored
data (applications, batch ids, log lines, read straight from the database) before and after. One test
runs a real spark-submit to show that shell syntax in arguments, configuration and names is never
executed.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from spark_gateway.db.models import ApplicationRow, LivyBatchRow, LogLineRow
from spark_gateway.services.supervisor import ClusterSupervisor
from tests.api.conftest import Gateway, GatewayFactory

PI = str(Path(__file__).resolve().parents[2] / "examples" / "pi.py")
LIVY = "/api/livy/batches"
V1 = "/api/v1/applications"


def spark_app(main: str = PI, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "default", "name": "pi"},
        "spec": {"type": "Python", "sparkVersion": "4.0.0", "mainApplicationFile": main, **spec},
    }


def with_metadata(**metadata: Any) -> dict[str, Any]:
    app = spark_app()
    app["metadata"].update(metadata)
    return app


async def stored(gw: Gateway) -> tuple[Any, ...]:
    """Everything a request could have changed: every application row (deleted ones too), batch ids, logs."""
    async with gw.runtime.db.transaction() as session:
        rows = (await session.execute(select(ApplicationRow).order_by(ApplicationRow.gateway_id))).scalars()
        apps = [(r.gateway_id, r.owner, r.state, r.spec, r.deleted_at) for r in rows]
        batches = (await session.execute(select(func.count()).select_from(LivyBatchRow))).scalar_one()
        lines = (await session.execute(select(func.count()).select_from(LogLineRow))).scalar_one()
    return tuple(apps), batches, lines


async def refused(
    gw: Gateway,
    method: str,
    path: str,
    *,
    status: int,
    fragment: str,
    body: Any = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Send a request that must be refused with `status` and a message containing `fragment`."""
    before = await stored(gw)
    if content is None and body is not None:
        content = json.dumps(body).encode()
    response = await gw.client.request(method, path, content=content, headers=headers)
    assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
    envelope = "msg" if path.startswith("/api/livy") else "error"
    assert set(response.json()) == {envelope}, response.text
    assert fragment in response.json()[envelope], response.text
    assert await stored(gw) == before, f"{method} {path} was refused but changed stored data"
    return response


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


# Local files ----------------------------------------------------------------------------------------


@pytest.fixture
async def files_gw(make_gateway: GatewayFactory, tmp_path: Path) -> Gateway:
    """A gateway whose local cluster may read only `allowed/`; `outside/` holds a secret next to it."""
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    (allowed / "app.py").write_text("print('ok')\n")
    (outside / "secret.py").write_text("print('secret')\n")
    (allowed / "escape.py").symlink_to(outside / "secret.py")
    (allowed / "linked-dir").symlink_to(outside, target_is_directory=True)
    (allowed / "alias.py").symlink_to(allowed / "app.py")  # a link that stays inside is fine
    cluster = {
        "name": "local",
        "id": "local",
        "type": "local",
        "namespaces": [{"name": "default", "id": "dflt"}],
        "local": {"allowedDirs": [str(allowed)]},
    }
    gateway: Gateway = await make_gateway(clusters=[cluster])
    return gateway


def hostile_paths(tmp_path: Path) -> list[tuple[str, str]]:
    allowed = tmp_path / "allowed"
    return [
        ("/etc/passwd", "outside the directories"),
        (str(tmp_path / "outside" / "secret.py"), "outside the directories"),
        (f"{allowed}/../outside/secret.py", "outside the directories"),
        (f"{allowed}/./../../{tmp_path.name}/outside/secret.py", "outside the directories"),
        (str(allowed / "escape.py"), "outside the directories"),
        (str(allowed / "linked-dir" / "secret.py"), "outside the directories"),
        (f"file://{tmp_path}/outside/secret.py", "outside the directories"),
        (f"local://{allowed}/%2E%2E/outside/secret.py", "outside the directories"),
        ("file://evil.example/etc/passwd", "host 'evil.example'"),
        ("hdfs://namenode/jobs/app.py", "scheme 'hdfs://'"),
        ("app.py", "must be an absolute path"),
        (str(allowed / "missing.py"), "does not exist"),
        (str(allowed), "not a regular file"),
    ]


async def test_files_outside_the_allowed_dirs_are_400(files_gw: Gateway, tmp_path: Path) -> None:
    app_py = str(tmp_path / "allowed" / "app.py")
    for location, fragment in hostile_paths(tmp_path):
        await refused(files_gw, "POST", LIVY, body={"file": location}, status=400, fragment=fragment)
        await refused(files_gw, "POST", V1, body=spark_app(location), status=400, fragment=fragment)
        # The same checks apply to every dependency list.
        for field in ("jars", "pyFiles", "files", "archives"):
            body = {"file": app_py, field: [app_py, location]}
            await refused(files_gw, "POST", LIVY, body=body, status=400, fragment=fragment)
        deps = spark_app(app_py, deps={"pyFiles": [location]})
        await refused(files_gw, "POST", V1, body=deps, status=400, fragment=fragment)


async def test_files_inside_the_allowed_dirs_are_accepted(files_gw: Gateway, tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    for location in (str(allowed / "app.py"), str(allowed / "alias.py"), f"file://{allowed}/app.py"):
        response = await files_gw.client.post(LIVY, json={"file": location, "pyFiles": [location]})
        assert response.status_code == 201, response.text


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


# No shell, ever: a real spark-submit ----------------------------------------------------------------

# Prints its arguments; with "--conf" first, also starts Spark to print the configuration it was given.
ARGV_APP = """\
import json, sys

print("ARGV=" + json.dumps(sys.argv[1:]), flush=True)
if sys.argv[1] == "--conf":
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.getOrCreate()
    print("CONF=" + json.dumps(spark.conf.get("spark.hostile.value")), flush=True)
    spark.stop()
"""


@pytest.mark.spark
@pytest.mark.timeout(240)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the database plays no part here
async def test_shell_syntax_in_a_submission_is_never_executed(
    make_gateway: GatewayFactory, tmp_path: Path, spark_env: dict[str, str]
) -> None:
    allowed = tmp_path / "apps"
    allowed.mkdir()
    (allowed / "argv.py").write_text(ARGV_APP)
    victim = tmp_path / "victim"
    victim.mkdir()
    markers = [tmp_path / f"pwned{i}" for i in range(6)]
    hostile = [
        f"; rm -rf {victim}",
        f"$(touch {markers[0]})",
        f"`touch {markers[1]}`",
        f"&& touch {markers[2]}",
        f"| touch {markers[3]}",
        f"\ntouch {markers[4]}\n",
        "'\"${IFS}*?[]~!#%",
    ]
    cluster = {
        "name": "local",
        "id": "local",
        "type": "local",
        "namespaces": [{"name": "default", "id": "dflt"}],
        "local": {"allowedDirs": [str(allowed)], "maxConcurrentJobs": 2, "pollIntervalSeconds": 0.2},
    }
    gw: Gateway = await make_gateway(clusters=[cluster])
    conf_value = f"$(touch {markers[5]}); rm -rf {victim}"
    livy = await gw.client.post(
        LIVY,
        json={
            "file": str(allowed / "argv.py"),
            "args": ["--conf", *hostile],
            "conf": {"spark.hostile.value": conf_value},
            "name": f"etl; touch {markers[0]}",
            "driverMemory": "512m",
        },
    )
    assert livy.status_code == 201, livy.text
    native = await gw.client.post(
        V1,
        json={
            "metadata": {
                "namespace": "default",
                "name": "argv",
                "annotations": {"note": f"$(rm -rf {victim})"},
            },
            "spec": {
                "type": "Python",
                "sparkVersion": "4.0.0",
                "mainApplicationFile": str(allowed / "argv.py"),
                "arguments": hostile,
                "sparkConf": {"spark.hostile.value": conf_value},
            },
        },
    )
    assert native.status_code == 201, native.text

    supervisor = ClusterSupervisor(gw.runtime, gw.settings.clusters[0])
    assert await supervisor.admit_once() == 2
    batch_state = f"{LIVY}/{livy.json()['id']}/state"
    app_status = f"{V1}/{native.json()['gatewayId']}/status"
    started = time.monotonic()
    deadline = started + 180
    while time.monotonic() < deadline:
        await supervisor.run_once()
        livy_done = (await gw.client.get(batch_state)).json()["state"] in ("success", "error", "dead")
        native_state = (await gw.client.get(app_status)).json()["applicationState"]["state"]
        if livy_done and native_state in ("COMPLETED", "FAILED"):
            break
        await asyncio.sleep(0.5)
    else:
        pytest.fail("the jobs did not finish")
    print(f"both jobs finished after {time.monotonic() - started:.1f} s")

    expectations = [
        (f"{LIVY}/{livy.json()['id']}/log?size=-1", ["--conf", *hostile], [conf_value]),
        (f"{V1}/{native.json()['gatewayId']}/logs?lines=100000", hostile, []),
    ]
    for path, expected_argv, expected_conf in expectations:
        body = (await gw.client.get(path)).json()
        lines = body["log"] if isinstance(body, dict) else body.split("\n")
        text = "\n".join(lines)
        argv = [json.loads(line[5:]) for line in lines if line.startswith("ARGV=")]
        conf = [json.loads(line[5:]) for line in lines if line.startswith("CONF=")]
        # Each argument arrived as one literal argv entry, byte for byte; the conf value too.
        assert argv == [expected_argv], text[-3000:]
        assert conf == expected_conf, text[-3000:]
    assert (await gw.client.get(batch_state)).json()["state"] == "success"
    assert not [m for m in markers if m.exists()], "a command in a submission was executed"
    assert victim.is_dir()
    assert os.listdir(allowed) == ["argv.py"]
