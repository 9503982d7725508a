"""Submissions that reach the machine: files outside the local cluster's allowed directories are refused
(400, nothing stored), and a real spark-submit shows that shell syntax in arguments, configuration and
names is never executed.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from spark_gateway.services.supervision.supervisor import ClusterSupervisor
from tests.api.conftest import Gateway, GatewayFactory
from tests.api.refusals import LIVY, V1, refused, spark_app

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
