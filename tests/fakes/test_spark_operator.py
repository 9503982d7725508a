"""The simulated spark-operator in the fake Kubernetes server: the application states a real operator goes
through (success, failure, submission retries, a deleted driver pod), pods and TTL deletion, its ticker."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx

from tests.fakes.k8s_server import FakeKubernetes, apps_url, sample_app
from tests.support.crd import validate_spark_application

pytest_plugins = ["tests.fakes.k8s_server"]


def state_of(status: dict[str, Any]) -> str:
    return str(status.get("applicationState", {}).get("state", ""))


async def create(fake: FakeKubernetes, name: str, **spec: Any) -> None:
    await fake.call(fake.create_app, "default", sample_app(name, **spec))


async def test_operator_success_path(fake_k8s: FakeKubernetes) -> None:
    await create(fake_k8s, "ok")
    submitted = await fake_k8s.operator.advance("default", "ok")
    assert state_of(submitted) == "SUBMITTED"
    assert submitted["driverInfo"] == {"podName": "ok-driver"}
    assert (submitted["submissionAttempts"], submitted["executionAttempts"]) == (1, 1)
    assert (
        re.fullmatch(r"[0-9a-f-]{36}", submitted["submissionID"]) and submitted["lastSubmissionAttemptTime"]
    )
    assert "sparkApplicationId" not in submitted
    pod = await fake_k8s.get_pod("default", "ok-driver")
    assert pod is not None
    assert pod["metadata"]["labels"]["sparkoperator.k8s.io/submission-id"] == submitted["submissionID"]
    assert pod["metadata"]["labels"]["spark-gateway/managed-by"] == "spark-gateway"  # app labels propagate
    app = await fake_k8s.get_app("default", "ok")
    assert app is not None and pod["metadata"]["ownerReferences"][0]["uid"] == app["metadata"]["uid"]

    running = await fake_k8s.operator.advance("default", "ok")
    assert state_of(running) == "RUNNING"
    assert re.fullmatch(r"spark-[0-9a-f]{32}", running["sparkApplicationId"])
    assert (
        running["driverInfo"]["webUIServiceName"] == "ok-ui-svc"
        and running["driverInfo"]["webUIPort"] == 4040
    )
    assert state_of(await fake_k8s.operator.advance("default", "ok")) == "SUCCEEDING"
    completed = await fake_k8s.operator.advance("default", "ok")
    assert state_of(completed) == "COMPLETED" and completed["terminationTime"]
    assert "errorMessage" not in completed["applicationState"]
    assert await fake_k8s.operator.step() == 0  # terminal: nothing more happens
    pod = await fake_k8s.get_pod("default", "ok-driver")
    assert pod is not None and pod["status"]["phase"] == "Succeeded"  # kept for post-mortem logs
    final = await fake_k8s.get_app("default", "ok")
    assert final is not None
    validate_spark_application(final)
    fake_k8s.assert_no_rejections()


async def test_operator_failure_path(fake_k8s: FakeKubernetes) -> None:
    await create(fake_k8s, "bad")
    await fake_k8s.operator.script("default", "bad", "fail")
    failing = await fake_k8s.operator.run_until("default", "bad", "FAILING")
    assert (
        failing["applicationState"]["errorMessage"]
        == "driver container failed with ExitCode: 1, Reason: Error"
    )
    failed = await fake_k8s.operator.advance("default", "bad")
    assert failed["applicationState"] == failing["applicationState"] | {"state": "FAILED"}
    assert failed["terminationTime"] == failing["terminationTime"]


async def test_operator_submission_failure_with_and_without_retry(fake_k8s: FakeKubernetes) -> None:
    retry = {"type": "OnFailure", "onSubmissionFailureRetries": 1}
    await create(fake_k8s, "retried", restartPolicy=retry)
    body = sample_app("final")
    body["metadata"]["annotations"] = {"spark-gateway.test/outcomes": "submission-fail"}
    await fake_k8s.call(fake_k8s.create_app, "default", body)
    await fake_k8s.operator.script("default", "retried", "submission-fail", "success")
    await fake_k8s.operator.step()
    first = await fake_k8s.operator.advance("default", "retried", 0)
    assert state_of(first) == "SUBMISSION_FAILED" and first["submissionAttempts"] == 1
    assert first["applicationState"]["errorMessage"].startswith("failed to run spark-submit")
    assert await fake_k8s.get_pod("default", "retried-driver") is None
    await fake_k8s.operator.step()
    second = await fake_k8s.operator.advance("default", "retried", 0)
    assert state_of(second) == "SUBMITTED" and (
        second["submissionAttempts"],
        second["executionAttempts"],
    ) == (2, 1)
    final = await fake_k8s.operator.advance("default", "final", 0)
    assert state_of(final) == "FAILED" and final["terminationTime"]
    assert final["applicationState"]["errorMessage"].startswith("failed to run spark-submit")


async def test_operator_on_failure_retry_goes_through_pending_rerun(fake_k8s: FakeKubernetes) -> None:
    await create(fake_k8s, "rerun", restartPolicy={"type": "OnFailure", "onFailureRetries": 1})
    await fake_k8s.operator.script("default", "rerun", "fail", "success")
    failing = await fake_k8s.operator.run_until("default", "rerun", "FAILING")
    rerun = await fake_k8s.operator.advance("default", "rerun")
    assert state_of(rerun) == "PENDING_RERUN" and "errorMessage" not in rerun["applicationState"]
    for cleared in ("sparkApplicationId", "terminationTime", "executorState"):
        assert cleared not in rerun
    assert rerun["driverInfo"] == {} and rerun["submissionID"] == failing["submissionID"]
    assert await fake_k8s.get_pod("default", "rerun-driver") is None
    again = await fake_k8s.operator.advance("default", "rerun")
    assert state_of(again) == "SUBMITTED" and again["submissionID"] != failing["submissionID"]
    assert (again["submissionAttempts"], again["executionAttempts"]) == (2, 2)
    done = await fake_k8s.operator.run_until("default", "rerun", "COMPLETED")
    assert done["executionAttempts"] == 2


async def test_operator_driver_pod_deleted(fake_k8s: FakeKubernetes) -> None:
    await create(fake_k8s, "gone")
    await fake_k8s.operator.run_until("default", "gone", "RUNNING")
    await fake_k8s.delete_pod("default", "gone-driver")
    failing = await fake_k8s.operator.advance("default", "gone")
    assert (
        state_of(failing) == "FAILING"
        and failing["applicationState"]["errorMessage"] == "driver pod not found"
    )
    assert state_of(await fake_k8s.operator.advance("default", "gone")) == "FAILED"


async def test_deleting_an_app_deletes_its_pod_and_ttl_deletes_finished_apps(
    fake_k8s: FakeKubernetes,
) -> None:
    await create(fake_k8s, "del")
    await fake_k8s.operator.run_until("default", "del", "RUNNING")
    async with httpx.AsyncClient() as client:
        assert (await client.delete(f"{apps_url(fake_k8s)}/del")).status_code == 200
    assert await fake_k8s.get_pod("default", "del-driver") is None
    await create(fake_k8s, "ttl", timeToLiveSeconds=0)
    await fake_k8s.operator.run_until("default", "ttl", "COMPLETED")
    await fake_k8s.operator.step()
    assert await fake_k8s.get_app("default", "ttl") is None


async def test_ticker_and_operator_options(fake_k8s: FakeKubernetes) -> None:
    fake_k8s.operator.ingress_url_format = "spark.example.com/{{$appNamespace}}/{{$appName}}"
    name = "c1-ns1-01234567-89ab-7def-8123-456789abcdef"  # a gateway id: too long for "-ui-svc"
    await create(fake_k8s, name)
    await fake_k8s.operator.start_ticker(0.01)
    for _ in range(200):
        app = await fake_k8s.get_app("default", name)
        if app and state_of(app.get("status") or {}) == "COMPLETED":
            break
        await asyncio.sleep(0.01)
    await fake_k8s.operator.stop_ticker()
    assert app is not None and state_of(app["status"]) == "COMPLETED"
    info = app["status"]["driverInfo"]
    assert len(info["webUIServiceName"]) <= 63 and info["webUIServiceName"].endswith("-ui-svc")
    assert info["webUIIngressAddress"] == f"http://spark.example.com/default/{name}"
