"""The webhook sender in-process: real database (SQLite and PostgreSQL), real API, requests captured.

Applications are driven to their end through the same status sink the supervisors use; the sender's
HTTP client goes to a capturing transport, so each test sees exactly what a receiver would get.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from spark_gateway.backends.base import StatusUpdate
from spark_gateway.domain.states import AppState
from spark_gateway.services.webhooks.sender import WebhookSender
from tests.api.conftest import Gateway, GatewayFactory

PI = str(Path(__file__).resolve().parents[3] / "examples" / "pi.py")
SECRET = "hook-secret"
HOOK = "http://127.0.0.1:9/hook"


def webhooks(**extra: Any) -> dict[str, Any]:
    return {
        "secret": SECRET,
        "allowedHosts": ["127.0.0.1"],
        "initialBackoffSeconds": 0.05,
        "maxBackoffSeconds": 0.1,
        **extra,
    }


class Receiver:
    """Answers with `statuses` in turn (then 200) and keeps every request."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


def sender_for(gw: Gateway, receiver: Receiver) -> WebhookSender:
    return WebhookSender(gw.runtime, http=httpx.AsyncClient(transport=httpx.MockTransport(receiver.handle)))


async def finish(gw: Gateway, gateway_id: str, state: AppState = AppState.COMPLETED) -> None:
    for step in (AppState.SUBMITTED, AppState.RUNNING, state):
        await gw.runtime.sink.update(StatusUpdate(gateway_id, step, spark_app_id="local-123"))


async def submit(gw: Gateway, callback: str | None = HOOK, **body: Any) -> dict[str, Any]:
    headers = {"X-Spark-Gateway-Callback": callback} if callback else {}
    response = await gw.client.post("/api/livy/batches", json={"file": PI, **body}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def until(sender: WebhookSender, done: Callable[[], bool], rounds: int = 100) -> None:
    for _ in range(rounds):
        await sender.run_once()
        if done():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never met")


async def test_an_ended_batch_is_posted_once_signed_with_its_final_state(
    make_gateway: GatewayFactory,
) -> None:
    gw = await make_gateway(webhooks=webhooks())
    batch = await submit(gw, name="signed")
    receiver = Receiver()
    sender = sender_for(gw, receiver)
    assert await sender.run_once() == 0 and receiver.requests == []  # nothing has ended yet
    await finish(gw, batch["appInfo"]["GatewayId"])
    await sender.run_once()
    await sender.run_once()
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), request.content, hashlib.sha256).hexdigest()
    assert request.headers["X-Spark-Gateway-Signature"] == expected
    assert request.headers["X-Spark-Gateway-Event"] == "application.completed"
    body = json.loads(request.content)
    app = body["application"]
    assert body["event"] == "application.completed"
    assert (app["batchId"], app["name"], app["state"], app["livyState"]) == (
        batch["id"],
        "signed",
        "COMPLETED",
        "success",
    )
    assert app["sparkAppId"] == "local-123" and app["terminatedAt"] and app["createdAt"]
    assert set(app["appInfo"]) == {"sparkUiUrl", "sparkHistoryUrl", "driverLogUrl"}
    metrics = (await gw.client.get("/metrics")).text
    assert 'spark_gateway_webhook_deliveries{outcome="sent"} 1.0' in metrics


async def test_failures_are_retried_with_backoff_then_given_up(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(webhooks=webhooks(maxAttempts=3))
    receiver = Receiver(503, 500)
    sender = sender_for(gw, receiver)
    retried = await submit(gw)
    await finish(gw, retried["appInfo"]["GatewayId"], AppState.FAILED)
    await until(sender, lambda: len(receiver.requests) == 3)
    assert [json.loads(r.content)["event"] for r in receiver.requests] == ["application.failed"] * 3
    assert len({r.headers["X-Spark-Gateway-Delivery"] for r in receiver.requests}) == 1

    receiver.statuses = [503, 503, 503]
    doomed = await submit(gw)
    await finish(gw, doomed["appInfo"]["GatewayId"])
    await until(sender, lambda: len(receiver.requests) == 6)
    for _ in range(5):
        await sender.run_once()
        await asyncio.sleep(0.05)
    assert len(receiver.requests) == 6  # three attempts, then given up
    metrics = (await gw.client.get("/metrics")).text
    assert 'spark_gateway_webhook_deliveries{outcome="failed"} 1.0' in metrics
    assert 'spark_gateway_webhook_deliveries{outcome="sent"} 1.0' in metrics
    assert 'spark_gateway_webhook_deliveries{outcome="pending"} 0.0' in metrics


async def test_subscribers_get_what_their_filters_match_in_their_format(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(
        webhooks=webhooks(
            subscribers=[
                {"name": "failures", "url": "http://127.0.0.1:9/failures", "events": ["failed", "killed"]},
                {"name": "alice", "url": "http://127.0.0.1:9/alice", "owners": ["alice"]},
                {
                    "name": "chat",
                    "url": "http://127.0.0.1:9/slack",
                    "format": "slack",
                    "namespaces": ["default"],
                },
            ]
        )
    )
    receiver = Receiver()
    sender = sender_for(gw, receiver)
    ok = await submit(gw, callback=None, name="quiet")
    await finish(gw, ok["appInfo"]["GatewayId"])
    killed = await submit(gw, callback=None, name="doomed")
    await finish(gw, killed["appInfo"]["GatewayId"], AppState.RUNNING)
    assert (await gw.client.delete(f"/api/livy/batches/{killed['id']}")).status_code == 200
    await until(sender, lambda: len(receiver.requests) == 3)
    for _ in range(3):
        await sender.run_once()
    got = sorted((r.url.path, r.content.decode()) for r in receiver.requests)
    assert [path for path, _ in got] == ["/failures", "/slack", "/slack"]
    assert json.loads(got[0][1])["event"] == "application.killed"
    texts = sorted(json.loads(body)["text"] for path, body in got if path == "/slack")
    assert "(quiet)" in texts[0] and " completed: COMPLETED" in texts[0]
    assert "(doomed)" in texts[1] and " killed: FAILED" in texts[1] and "killed by user" in texts[1]


async def test_forbidden_targets_are_refused_at_submission_and_never_called(
    make_gateway: GatewayFactory,
) -> None:
    gw = await make_gateway(
        webhooks=webhooks(subscribers=[{"name": "internal", "url": "http://10.20.30.40/hook"}])
    )
    for url, reason in [
        ("http://169.254.169.254/latest/meta-data", "does not call"),
        ("http://127.0.0.2:8080/", "does not call"),
        ("http://[::1]/", "does not call"),
        ("ftp://example.com/x", "http:// or https://"),
        ("http://user:pw@example.com/", "credentials"),
    ]:
        response = await gw.client.post(
            "/api/livy/batches", json={"file": PI}, headers={"X-Spark-Gateway-Callback": url}
        )
        assert response.status_code == 400 and reason in response.json()["msg"], (url, response.text)
    v1 = {
        "metadata": {"namespace": "default"},
        "spec": {"type": "Python", "sparkVersion": "4.0.0", "mainApplicationFile": PI},
        "callbackUrl": "http://10.0.0.1/",
    }
    refused = await gw.client.post("/api/v1/applications", json=v1)
    assert refused.status_code == 400 and "does not call" in refused.json()["error"]
    accepted = await gw.client.post("/api/v1/applications", json={**v1, "callbackUrl": HOOK})
    assert accepted.status_code == 201 and "callbackUrl" not in accepted.json()["sparkApplication"]
    receiver = Receiver()
    sender = sender_for(gw, receiver)
    await finish(gw, accepted.json()["gatewayId"])
    for _ in range(3):
        await sender.run_once()
    assert [r.url.path for r in receiver.requests] == ["/hook"]  # the subscriber in 10/8 was not called
    metrics = (await gw.client.get("/metrics")).text
    assert 'spark_gateway_webhook_deliveries{outcome="failed"} 1.0' in metrics


async def test_callbacks_are_refused_when_webhooks_are_disabled(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(webhooks={"enable": False})
    response = await gw.client.post(
        "/api/livy/batches", json={"file": PI}, headers={"X-Spark-Gateway-Callback": "https://example.com/"}
    )
    assert response.status_code == 400 and "webhooks.enable" in response.json()["msg"]
