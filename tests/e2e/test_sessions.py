"""Livy sessions through a real gateway process with real Spark drivers running the statement runner.

One session serves the module where isolation is not the point (each costs a JVM and ~500 MiB).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.conftest import REPO, GatewayProcess, free_port
from tests.support.livy_sessions import run, start_session, submit, text, wait_session, wait_statement

pytestmark = [pytest.mark.spark, pytest.mark.e2e, pytest.mark.timeout(600)]


def gateway_process(tmp: Path, env: dict[str, str], port: int, name: str, **config: object) -> GatewayProcess:
    conf = {"dataDir": str(tmp / "data"), "sessions": {"reapIntervalSeconds": 1}, **config}
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(conf))
    return GatewayProcess(path, port, tmp / f"{name}.log", env)


@pytest.fixture(scope="module")
def env(spark_env: dict[str, str]) -> dict[str, str]:
    env = dict(spark_env)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("sessions")
    gw = gateway_process(tmp, env, free_port(), "gateway").start()
    yield gw
    with httpx.Client(base_url=gw.url, timeout=60) as client:
        for session in client.get("/api/livy/sessions").json()["sessions"]:
            client.delete(f"/api/livy/sessions/{session['id']}")
    gw.stop()


@pytest.fixture(scope="module")
def client(gateway: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def sid(client: httpx.Client) -> int:
    return start_session(client)


def test_session_reaches_idle_and_runs_python(client: httpx.Client, sid: int) -> None:
    session = client.get(f"/api/livy/sessions/{sid}").json()
    assert session["state"] == "idle" and session["kind"] == "pyspark"
    assert session["appId"].startswith("local-")
    assert text(run(client, sid, "1+1")) == "2"
    assert text(run(client, sid, "spark.range(10).count()")) == "10"
    assert text(run(client, sid, "x = 40\nprint('hello')\nx + 2")) == "hello\n42"
    assert run(client, sid, "x")["execution_count"] >= 3


def test_sql_statements_return_json_rows(client: httpx.Client, sid: int) -> None:
    output = run(client, sid, "SELECT 1 AS one, 'a' AS letter UNION ALL SELECT 2, NULL", kind="sql")
    table = output["data"]["application/json"]
    assert [f["name"] for f in table["schema"]["fields"]] == ["one", "letter"]
    assert table["schema"]["fields"][0]["type"] == "integer"
    assert table["data"] == [[1, "a"], [2, None]]
    failed = run(client, sid, "SELECT * FROM no_such_table", kind="sql")
    assert failed["status"] == "error" and failed["ename"] == "Error"


def test_errors_carry_name_value_and_traceback(client: httpx.Client, sid: int) -> None:
    output = run(client, sid, "def f():\n    return 1/0\nf()")
    assert output["status"] == "error"
    assert output["ename"] == "ZeroDivisionError" and output["evalue"] == "division by zero"
    assert output["traceback"][0] == "Traceback (most recent call last):\n"
    assert any('File "<stdin>", line 2, in f' in line for line in output["traceback"])
    assert "runner.py" not in "".join(output["traceback"])
    syntax = run(client, sid, "1 +")
    assert syntax["ename"] == "SyntaxError" and syntax["traceback"]
    assert text(run(client, sid, "1+1")) == "2"


def test_livy_magics(client: httpx.Client, sid: int) -> None:
    output = run(client, sid, "d = {'a': [1, 2]}\n%json d")
    assert output["data"] == {"application/json": {"a": [1, 2]}}
    table = run(client, sid, "%table [{'n': 1, 's': 'x'}]")["data"]["application/vnd.livy.table.v1+json"]
    assert table == {"headers": [{"name": "n", "type": "INT_TYPE"}, {"name": "s", "type": "STRING_TYPE"}],
                     "data": [[1, "x"]]}  # fmt: skip
    unknown = run(client, sid, "%nope 1")
    assert unknown["status"] == "error" and unknown["ename"] == "UnknownMagic"


def test_progress_and_cancel_of_a_spark_job(client: httpx.Client, sid: int) -> None:
    code = "import time\nsc.parallelize(range(40), 4).map(lambda x: time.sleep(0.5) or x).count()"
    stid = submit(client, sid, code)
    body = wait_statement(client, sid, stid, states={"running"})
    deadline = time.monotonic() + 60
    while body["progress"] == 0 and time.monotonic() < deadline:
        body = client.get(f"/api/livy/sessions/{sid}/statements/{stid}").json()
        time.sleep(0.2)
    assert 0 < body["progress"] < 1, body
    started = time.monotonic()
    assert client.post(f"/api/livy/sessions/{sid}/statements/{stid}/cancel").json() == {"msg": "canceled"}
    cancelled = wait_statement(client, sid, stid, timeout=30)
    assert cancelled["state"] == "cancelled", cancelled
    assert wait_session(client, sid, {"idle"}, timeout=15) == "idle"
    assert time.monotonic() - started < 15
    assert text(run(client, sid, "spark.range(3).count()")) == "3"


def test_cancel_interrupts_pure_python_code(client: httpx.Client, sid: int) -> None:
    stid = submit(client, sid, "import time\ntime.sleep(600)")
    wait_statement(client, sid, stid, states={"running"})
    client.post(f"/api/livy/sessions/{sid}/statements/{stid}/cancel")
    assert wait_statement(client, sid, stid, timeout=15)["state"] == "cancelled"
    assert text(run(client, sid, "'still here'")) == "'still here'"


def test_large_output_is_truncated(client: httpx.Client, sid: int) -> None:
    output = text(run(client, sid, "for i in range(200000): print('line %d' % i)"))
    assert len(output.encode()) < 300 * 1024
    assert output.endswith("more bytes]") and "output truncated by spark-gateway" in output


def test_two_sessions_never_see_each_others_variables(client: httpx.Client, sid: int) -> None:
    run(client, sid, "only_in_first = 1")
    other = start_session(client, idleTimeout="6s")
    output = run(client, other, "only_in_first")
    assert output["status"] == "error" and output["ename"] == "NameError"
    assert text(run(client, sid, "only_in_first")) == "1"
    # Left alone, the second one is reaped for idleness; the first one is untouched.
    assert wait_session(client, other, {"dead"}, timeout=60) == "dead"
    log = client.get(f"/api/livy/sessions/{other}/log", params={"size": 200}).json()["log"]
    assert any("session stopped: idle for" in line for line in log)
    assert client.get(f"/api/livy/sessions/{sid}/state").json()["state"] == "idle"
