"""A job cannot make the gateway believe or fetch what it prints: only the driver's own UI is asked.

The job prints, before and after its SparkContext starts, lines that look exactly like Spark's own
("SparkUI started on port N", "Bound SparkUI to ... http://127.0.0.1:N", "app ID app-fake"), all
pointing at an HTTP listener of this test that counts every request. The gateway must report the real
`local-…` id and UI, and the listener must never be hit.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import GatewayStarter, wait_for_state

pytestmark = pytest.mark.spark

FAKE_LINES_JOB = """\
import sys, time
from pyspark.sql import SparkSession
port = sys.argv[1]
def lie():
    ts = time.strftime("%y/%m/%d %H:%M:%S")
    print(f"{ts} INFO Utils: Successfully started service 'SparkUI' on port {port}.", flush=True)
    print(f"{ts} INFO SparkUI: Bound SparkUI to 0.0.0.0, and started at http://127.0.0.1:{port}", flush=True)
    print(f"{ts} INFO StandaloneSchedulerBackend: Connected to Spark cluster with app ID app-fake-0001", flush=True)
lie()
spark = SparkSession.builder.getOrCreate()
lie()
spark.range(10).count()
time.sleep(4)
lie()
spark.stop()
"""


class CountingListener:
    def __init__(self) -> None:
        self.hits: list[str] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                listener.hits.append(self.path)
                body = b'[{"id": "app-fake-0001"}]'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, name="evil-listener", daemon=True)


@pytest.fixture
def evil() -> Iterator[CountingListener]:
    listener = CountingListener()
    listener.thread.start()
    yield listener
    listener.server.shutdown()
    listener.server.server_close()


def test_printed_spark_lines_are_neither_believed_nor_fetched(
    start_gateway: GatewayStarter, tmp_path: Path, evil: CountingListener
) -> None:
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "liar.py").write_text(FAKE_LINES_JOB)
    local = {"allowedDirs": [str(apps)], "pollIntervalSeconds": 0.2}
    cluster = {
        "name": "local",
        "id": "local",
        "type": "local",
        "namespaces": [{"name": "default", "id": "dflt"}],
    }
    gw = start_gateway({"clusters": [{**cluster, "local": local}]})
    with httpx.Client(base_url=gw.url, timeout=30) as client:
        response = client.post(
            "/api/livy/batches", json={"file": str(apps / "liar.py"), "args": [str(evil.port)]}
        )
        assert response.status_code == 201, response.text
        batch = response.json()
        seen = wait_for_state(client, batch["id"], {"success", "error", "dead"})
        assert seen[-1] == "success", gw.log_path.read_text()[-3000:]
        view = client.get(f"/api/livy/batches/{batch['id']}").json()
        app = client.get(f"/api/v1/applications/{batch['appInfo']['GatewayId']}").json()
        log = client.get(f"/api/livy/batches/{batch['id']}/log", params={"size": -1}).json()["log"]

    assert sum("app-fake-0001" in line for line in log) == 3  # the lies were really in the log
    assert evil.hits == [], f"the gateway fetched the job's fake UI: {evil.hits}"
    assert view["appId"].startswith("local-"), view
    ui = app["sparkApplication"]["status"]["driverInfo"].get("webUIAddress")
    assert ui is not None and ui.startswith("http://127.0.0.1:") and not ui.endswith(f":{evil.port}")
    assert view["appInfo"]["sparkUiUrl"] == ui
