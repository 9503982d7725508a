"""Spark configuration through the real gateway: dangerous keys, admins, allow and deny lists, files.

Every refusal is a 400 naming the key and changing nothing stored (`refused` checks the database
before and after); honest configuration keeps working. The rules run before a cluster is chosen, so
they hold for Kubernetes clusters too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Gateway, GatewayFactory
from tests.api.test_hostile_input import LIVY, PI, V1, refused, spark_app

HEADER = "X-User"
AUTH = {
    "middleware": [
        {
            "type": "HeaderAuthMiddleware",
            "conf": {"headers": [{"key": HEADER}], "trustedProxies": ["127.0.0.1/32"]},  # the test client
        }
    ],
    "authorization": {"admins": ["root"]},
}
DANGEROUS = {
    "spark.driver.extraJavaOptions": "-javaagent:/tmp/agent.jar",
    "spark.executor.extraClassPath": "/home/gateway",
    "spark.plugins": "com.example.Plugin",
    "spark.pyspark.python": "/bin/sh",
    "spark.executorEnv.LD_PRELOAD": "/tmp/x.so",
    "spark.kubernetes.driverEnv.PATH": "/tmp",
    "spark.yarn.keytab": "/etc/krb5.keytab",
    "spark.authenticate.secret": "x",
}
HONEST = {
    "spark.executor.memory": "1g",
    "spark.driver.memory": "1g",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.adaptive.enabled": "true",
}


def user(name: str) -> dict[str, str]:
    # With authentication on, the gateway takes JSON bodies only (`refused` sends raw bytes).
    return {HEADER: name, "Content-Type": "application/json"}


async def create(gw: Gateway, path: str, body: dict[str, Any], name: str | None = None) -> int:
    response = await gw.client.post(path, json=body, headers=user(name) if name else None)
    return response.status_code


@pytest.fixture
async def gw(make_gateway: GatewayFactory) -> Gateway:
    gateway: Gateway = await make_gateway(
        gateway={
            **AUTH,
            "forbiddenSparkConf": ["spark.sql.warehouse.*"],
            "allowedSparkConf": ["spark.plugins"],
        }
    )
    return gateway


async def test_dangerous_keys_are_400_for_users_and_fine_for_admins(gw: Gateway) -> None:
    for key, value in DANGEROUS.items():
        if key == "spark.plugins":
            continue  # re-allowed by this gateway's allowedSparkConf
        fragment = f"'{key}' can run code outside the application"
        livy, v1 = {"file": PI, "conf": {key: value}}, spark_app(sparkConf={key: value})
        await refused(gw, "POST", LIVY, body=livy, status=400, fragment=fragment, headers=user("bob"))
        await refused(gw, "POST", V1, body=v1, status=400, fragment=fragment, headers=user("bob"))
        response = await gw.client.post(LIVY, json=livy, headers=user("bob"))
        assert "gateway.allowedSparkConf" in response.json()["msg"]
        assert await create(gw, LIVY, livy, "root") == 201
        assert await create(gw, V1, v1, "root") == 201


async def test_spec_fields_that_set_dangerous_keys_are_judged_alike(gw: Gateway) -> None:
    bodies = [
        (spark_app(driver={"javaOptions": "-javaagent:/tmp/a.jar"}), "driver.javaOptions sets"),
        (spark_app(hadoopConf={"fs.s3a.endpoint": "x", "bad key": "y"}), "hadoopConf: 'bad key'"),
        (spark_app(sparkConfigMap="defaults"), "sparkConfigMap: configuration mounted from a ConfigMap"),
    ]
    for body, fragment in bodies:
        await refused(gw, "POST", V1, body=body, status=400, fragment=fragment, headers=user("bob"))
        assert await create(gw, V1, body if "bad key" not in str(body) else spark_app(), "root") == 201


async def test_allowed_spark_conf_reallows_a_key_for_everyone(gw: Gateway) -> None:
    assert await create(gw, LIVY, {"file": PI, "conf": {"spark.plugins": "com.example.P"}}, "bob") == 201


async def test_forbidden_globs_refuse_admins_too(gw: Gateway) -> None:
    for name in ("bob", "root"):
        body = {"file": PI, "conf": {"spark.sql.warehouse.dir": "/tmp/w"}}
        await refused(
            gw, "POST", LIVY, body=body, status=400, fragment="gateway.forbiddenSparkConf", headers=user(name)
        )


async def test_honest_configuration_keeps_working(gw: Gateway) -> None:
    assert (
        await create(gw, LIVY, {"file": PI, "conf": {**HONEST, "spark.executor.instances": 2}}, "bob") == 201
    )
    assert (
        await create(gw, V1, spark_app(sparkConf=HONEST, hadoopConf={"fs.s3a.endpoint": "x"}), "bob") == 201
    )


async def test_keys_that_do_not_look_like_spark_keys_are_400(gw: Gateway) -> None:
    for key in ("spark.x y", "spark.x\nINFO SparkUI: Bound SparkUI to", "spark.x=1"):
        for path, body in ((LIVY, {"file": PI, "conf": {key: "1"}}), (V1, spark_app(sparkConf={key: "1"}))):
            await refused(
                gw,
                "POST",
                path,
                body=body,
                status=400,
                fragment="not a valid Spark configuration key",
                headers=user("root"),
            )


async def test_without_authentication_nobody_is_admin(make_gateway: GatewayFactory) -> None:
    gw: Gateway = await make_gateway()
    body = {"file": PI, "conf": {"spark.driver.extraJavaOptions": "-Dx=1"}}
    await refused(gw, "POST", LIVY, body=body, status=400, fragment="only admins may set it")


async def test_files_named_in_conf_follow_the_allowed_dirs(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw: Gateway = await make_gateway()
    inside = str(Path(PI).parent / "pi.py")
    for key in ("spark.jars", "spark.submit.pyFiles", "spark.files", "spark.archives"):
        for value, fragment in (
            ("/etc/passwd", "outside the directories"),
            ("https://evil.example/x.jar", "scheme 'https://'"),
            (str(tmp_path / "data" / "spark-gateway.db"), "inside the gateway's data directory"),
        ):
            livy = {"file": PI, "conf": {key: value}}
            await refused(gw, "POST", LIVY, body=livy, status=400, fragment=f"sparkConf '{key}'")
            await refused(
                gw, "POST", V1, body=spark_app(sparkConf={key: value}), status=400, fragment=fragment
            )
        assert await create(gw, LIVY, {"file": PI, "conf": {key: inside}}) == 201
    for key in ("spark.jars.packages", "spark.jars.repositories"):
        await refused(gw, "POST", LIVY, body={"file": PI, "conf": {key: "x"}}, status=400, fragment=key)


async def test_the_data_directory_is_not_an_allowed_directory(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    gw: Gateway = await make_gateway()
    job_log = tmp_path / "data" / "jobs" / "x" / "driver.log"
    job_log.parent.mkdir(parents=True)
    job_log.write_text("print('secret')\n")
    for location in (str(tmp_path / "data" / "spark-gateway.db"), str(job_log)):
        for path, body in ((LIVY, {"file": location}), (V1, spark_app(location))):
            await refused(gw, "POST", path, body=body, status=400, fragment="data directory")


async def test_kubernetes_clusters_apply_the_same_key_rules(make_gateway: GatewayFactory) -> None:
    """Refused before any cluster is chosen or contacted (this SparkManager does not even exist)."""
    cluster = {
        "name": "k8s",
        "id": "k8s",
        "masterURL": "https://127.0.0.1:1",
        "namespaces": [{"name": "default", "id": "dflt"}],
    }
    gw: Gateway = await make_gateway(clusters=[cluster], gateway=AUTH)
    app = spark_app("local:///opt/app.py", sparkConf={"spark.driver.extraJavaOptions": "-javaagent:/a.jar"})
    await refused(gw, "POST", V1, body=app, status=400, fragment="only admins", headers=user("bob"))
    body = {"file": "local:///opt/app.py", "conf": {"spark.executorEnv.LD_PRELOAD": "/tmp/x.so"}}
    await refused(gw, "POST", LIVY, body=body, status=400, fragment="only admins", headers=user("bob"))
    # No path rules there: files are inside the image.
    body = {"file": "local:///opt/app.py", "conf": {"spark.jars": "local:///opt/lib/x.jar"}}
    response = await gw.client.post(LIVY, json=body, headers=user("bob"))
    assert "spark.jars" not in response.text, response.text
