"""A submission whose hand-over to the SparkManager got no answer, though the SparkApplication was created.

Found by the fault harness (tests/chaos, `kill_manager`): the SparkManager created the SparkApplication
and died before answering, the gateway recorded the application as failed and deleted it, the client's
retry with the same Idempotency-Key was answered with that deleted application (404 afterwards), and
the SparkApplication ran on in the cluster, unknown to every API. Here the fake API server stores the
object and answers 504 Timeout, as a real one may: the manager cannot tell either, and answers 503.
"""

from __future__ import annotations

import pytest

from tests.api.test_applications import spark_app
from tests.backends.kubernetes.harness import KubeEnvFactory, wait_for
from tests.backends.kubernetes.harness import kube_env as kube_env  # the fixture


def body() -> dict:
    app = spark_app()
    app["spec"]["mainApplicationFile"] = "local:///opt/spark/examples/src/main/python/pi.py"
    return app


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_created_application_whose_answer_was_lost_is_the_retrys_answer(
    kube_env: KubeEnvFactory,
) -> None:
    env = await kube_env()
    gw = await env.gateway()
    fake = env.clusters[0].fake
    await fake.lose_create_answers(1)
    key = {"Idempotency-Key": "lost-answer-1"}
    first = await gw.client.post("/api/v1/applications", json=body(), headers=key)
    assert first.status_code == 503, first.text
    assert first.headers.get("Retry-After")
    [created] = await fake.all_apps()  # it exists on the cluster all the same
    gateway_id = created["metadata"]["name"]

    retry = await gw.client.post("/api/v1/applications", json=body(), headers=key)
    assert retry.status_code in (200, 201), retry.text
    assert retry.json()["gatewayId"] == gateway_id
    assert len(await fake.all_apps()) == 1  # sent again, refused as a duplicate: still one

    await fake.operator.start_ticker(0.05)

    async def completed() -> bool:
        response = await gw.client.get(f"/api/v1/applications/{gateway_id}/status")
        assert response.status_code == 200, response.text
        return response.json()["applicationState"]["state"] == "COMPLETED"

    await wait_for(completed, 20, "the application to complete")
    listed = (await gw.client.get("/api/v1/applications", params={"limit": 10})).json()["items"]
    assert [a["gatewayId"] for a in listed] == [gateway_id]
