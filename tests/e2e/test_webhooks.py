"""Completion webhooks from real gateway processes to a real local receiver.

Every event is delivered once per target across a `kill -9` of the gateway and a receiver that is down
for a while; every body carries a valid signature; a target in a forbidden network is never called.
Jobs use a stand-in `spark-submit` (prints, sleeps, exits with a chosen code) so no JVM is needed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.client.conftest import FAKE_SPARK_SUBMIT
from tests.e2e.conftest import GatewayStarter, free_port, wait_for_state
from tests.e2e.local_replicas import batch_body, replica_config

pytestmark = pytest.mark.e2e
PI = str(Path(__file__).resolve().parents[2] / "examples" / "pi.py")
SECRET = "e2e-webhook-secret"


class Receiver:
    """An HTTP server on `host:port` that records every POST; `stop()` and `start()` take it down and up."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host, self.port = host, port or free_port()
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.server: ThreadingHTTPServer | None = None
        self.lock = threading.Lock()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def start(self) -> Receiver:
        received, lock = self.received, self.lock

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    received.append((self.path, dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((self.host, self.port), Handler)
        threading.Thread(target=self.server.serve_forever, name=f"receiver:{self.port}", daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def paths(self) -> list[str]:
        with self.lock:
            return [path for path, _, _ in self.received]


def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def metric(gateway_url: str, name: str) -> float:
    for line in httpx.get(f"{gateway_url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


def pending(gateway_url: str) -> float:
    return metric(gateway_url, 'spark_gateway_webhook_deliveries{outcome="pending"}') + metric(
        gateway_url, "spark_gateway_webhook_events_pending"
    )


@pytest.fixture
def receivers() -> Any:
    main, internal = Receiver().start(), Receiver("127.0.0.3").start()
    yield main, internal
    main.stop()
    internal.stop()


def test_each_end_is_delivered_once_across_kill_9_and_a_receiver_outage(
    start_gateway: GatewayStarter, tmp_path: Path, receivers: tuple[Receiver, Receiver]
) -> None:
    receiver, internal = receivers
    fake = tmp_path / "fake-spark-submit"
    fake.write_text(FAKE_SPARK_SUBMIT)
    fake.chmod(0o755)
    config = {
        "clusters": [
            {
                "name": "local",
                "id": "local",
                "type": "local",
                "namespaces": [{"name": "default", "id": "dflt"}],
                "local": {"sparkSubmit": str(fake), "pollIntervalSeconds": 0.2},
            }
        ],
        "lease": {"ttlSeconds": 3, "renewIntervalSeconds": 1},
        "webhooks": {
            "secret": SECRET,
            "allowedHosts": ["127.0.0.1"],
            "initialBackoffSeconds": 0.3,
            "maxBackoffSeconds": 1,
            "pollIntervalSeconds": 0.2,
            "subscribers": [
                {"name": "ops", "url": receiver.url("/ops"), "events": ["failed"]},
                {"name": "internal", "url": internal.url("/internal")},
            ],
        },
    }
    gw = start_gateway(config)
    http = httpx.Client(base_url=gw.url, timeout=30)

    def submit(args: list[str], hook: str) -> int:
        headers = {"X-Spark-Gateway-Callback": receiver.url(hook)}
        response = http.post("/api/livy/batches", json={"file": PI, "args": args}, headers=headers)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    refused = http.post(
        "/api/livy/batches", json={"file": PI}, headers={"X-Spark-Gateway-Callback": "http://127.0.0.2:9/x"}
    )
    assert refused.status_code == 400 and "webhooks.allowedHosts" in refused.json()["msg"]

    first = submit(["lines=1"], "/first")
    assert wait_for_state(http, first, {"success"}, timeout=60)[-1] == "success"
    until(lambda: "/first" in receiver.paths(), 30, "the first webhook")

    receiver.stop()  # the receiver is down from here ...
    failed = submit(["exit=1", "lines=1"], "/failed")
    assert wait_for_state(http, failed, {"error"}, timeout=60)[-1] == "error"
    until(lambda: "failed (attempt 2)" in gw.log_path.read_text(), 30, "retries against the downed receiver")
    sleeper = submit(["sleep=4", "lines=1"], "/sleeper")
    wait_for_state(http, sleeper, {"running"}, timeout=60)
    assert pending(gw.url) >= 2  # /failed and /ops wait for the receiver
    http.close()
    gw.stop(signal.SIGKILL)  # ... the gateway dies while deliveries are pending and a job runs ...

    restarted = start_gateway(config, port=gw.port)  # the sleeper ended meanwhile: recorded now
    receiver.start()  # ... and the receiver comes back
    with httpx.Client(base_url=restarted.url, timeout=30) as http:
        assert wait_for_state(http, sleeper, {"success", "error"}, timeout=60)[-1] == "success"
    until(lambda: pending(restarted.url) == 0, 60, "every delivery to finish")

    deliveries = [(path, headers, body) for path, headers, body in receiver.received]
    assert sorted(p for p, _, _ in deliveries) == ["/failed", "/first", "/ops", "/sleeper"]
    by_path = {p: json.loads(b) for p, _, b in deliveries}
    assert by_path["/first"]["application"]["batchId"] == first
    assert by_path["/failed"]["event"] == by_path["/ops"]["event"] == "application.failed"
    assert by_path["/ops"]["application"]["batchId"] == failed
    assert by_path["/sleeper"]["application"]["livyState"] == "success"
    for _, headers, body in deliveries:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Spark-Gateway-Signature"] == expected
    assert internal.received == []  # 127.0.0.3 is not among the allowed hosts: never called
    assert metric(restarted.url, 'spark_gateway_webhook_deliveries{outcome="failed"}') == 3
    assert metric(restarted.url, 'spark_gateway_webhook_deliveries{outcome="sent"}') == 4


@pytest.mark.postgres
def test_two_replicas_on_one_database_send_each_webhook_once(
    fresh_db: str, start_gateway: GatewayStarter, tmp_path: Path
) -> None:
    receiver = Receiver().start()
    try:
        config = replica_config(fresh_db, tmp_path)
        config["webhooks"] = {
            "allowedHosts": ["127.0.0.1"],
            "pollIntervalSeconds": 0.2,
            "subscribers": [{"name": "all", "url": receiver.url("/all")}],
        }
        replicas = [start_gateway(config), start_gateway(config)]
        ids = []
        for n in range(6):
            with httpx.Client(base_url=replicas[n % 2].url, timeout=30) as http:
                response = http.post(
                    "/api/livy/batches",
                    json=batch_body(0.2),
                    headers={"X-Spark-Gateway-Callback": receiver.url(f"/cb/{n}")},
                )
                assert response.status_code == 201, response.text
                ids.append(response.json()["id"])
        until(lambda: len(receiver.paths()) >= 12, 90, "a webhook per batch and target")
        until(lambda: all(pending(r.url) == 0 for r in replicas), 30, "every delivery to finish")
        assert sorted(receiver.paths()) == sorted([f"/cb/{n}" for n in range(6)] + ["/all"] * 6)
        delivered = sorted(
            json.loads(body)["application"]["batchId"] for p, _, body in receiver.received if p == "/all"
        )
        assert delivered == sorted(ids)
    finally:
        receiver.stop()
