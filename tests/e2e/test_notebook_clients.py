"""pylivy's LivySession and sparkmagic's %%spark / %%sql flow, installed from PyPI, run unchanged
against a real gateway with real Spark drivers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, GatewayProcess, free_port

livy = pytest.importorskip("livy", reason="pylivy is not installed (pip install livy)")
pytest.importorskip("sparkmagic", reason="sparkmagic is not installed (pip install sparkmagic)")
pytestmark = [pytest.mark.spark, pytest.mark.e2e, pytest.mark.timeout(600)]

FLOW = Path(__file__).resolve().parents[1] / "support" / "sparkmagic_flow.py"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, spark_env: dict[str, str]) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("notebooks")
    env = dict(spark_env)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    conf = tmp / "gateway.yaml"
    conf.write_text(f"dataDir: {tmp / 'data'}\n")
    gw = GatewayProcess(conf, free_port(), tmp / "gateway.log", env).start()
    yield gw
    gw.stop()


def test_pylivy_session(gateway: GatewayProcess) -> None:
    import pandas
    from livy import LivySession, SessionKind, SessionState

    url = f"{gateway.url}/api/livy"
    with LivySession.create(url, kind=SessionKind.PYSPARK, echo=False) as session:
        assert session.state == SessionState.IDLE
        assert session.run("1 + 2").text == "3"
        session.run("frame = spark.range(4).selectExpr('id', 'id * id AS square')")
        assert session.download("frame").to_dict(orient="list") == {
            "id": [0, 1, 2, 3],
            "square": [0, 1, 4, 9],
        }
        session.upload("uploaded", pandas.DataFrame({"name": ["a", "b"], "n": [1, 2]}))
        assert session.run("uploaded.count()").text == "2"
        with pytest.raises(livy.SparkRuntimeError) as failure:
            session.run("1/0")
        assert failure.value.ename == "ZeroDivisionError"
    with LivySession.create(url, kind=SessionKind.SQL, echo=False) as sql:
        frame = sql.download_sql("SELECT 1 AS one, 'x' AS letter")
        assert frame.to_dict(orient="list") == {"one": [1], "letter": ["x"]}


def test_sparkmagic_spark_and_sql_cells(gateway: GatewayProcess, tmp_path: Path) -> None:
    conf_dir = tmp_path / "sparkmagic"
    conf_dir.mkdir()
    (conf_dir / "config.json").write_text(json.dumps({"livy_session_startup_timeout_seconds": 240}))
    env = dict(os.environ, SPARKMAGIC_CONF_DIR=str(conf_dir))
    done = subprocess.run(
        [sys.executable, str(FLOW), f"{gateway.url}/api/livy"],
        capture_output=True,
        text=True,
        env=env,
        timeout=540,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULTS ")]
    assert lines, f"sparkmagic flow failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    results = json.loads(lines[-1].removeprefix("RESULTS "))
    assert results["spark_cell"].strip() == "42"
    assert "ZeroDivisionError" in results["error_cell"]
    assert results["frame"] == {"id": [0, 1, 2], "twice": [0, 2, 4]}
    assert results["sql"] == {"one": [1, 2], "letter": ["é", None]}
