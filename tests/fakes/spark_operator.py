"""A simulated kubeflow spark-operator for the fake API server: the operator's real state machine.

The gateway must follow what the operator writes, so this reproduces its reconcile loop
(reference/spark-operator.md §2-§4): submission (submissionID, driverInfo.podName, attempts), a driver pod
with the operator's labels and an ownerReference, RUNNING with the Spark app id from the pod's
`spark-app-selector` label and the web UI fields, SUCCEEDING/FAILING with the operator's messages, the
restart policies via PENDING_RERUN (and the status reset that goes with it), "driver pod not found",
a submission that fails when another pod already has the driver pod's name (spark-submit's AlreadyExists),
and deletion after `timeToLiveSeconds`. Retry intervals and the pod-creation grace period are not
waited for: tests decide when the next reconcile happens (`step`, `advance`, or a ticker).

Outcomes per submission attempt come from `script(ns, name, ...)` or the annotation
`spark-gateway.test/outcomes` ("fail,success"): `success`, `fail`, `submission-fail`, `hang`.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tests.fakes.k8s_store import API_VERSION, DRIVER_CONTAINER, KIND, Key, now_rfc3339

if TYPE_CHECKING:
    from tests.fakes.k8s_server import FakeKubernetes

OUTCOMES_ANNOTATION = "spark-gateway.test/outcomes"
OUTCOMES = frozenset({"success", "fail", "submission-fail", "hang"})
FAILED_DRIVER = "driver container failed with ExitCode: 1, Reason: Error"


def driver_pod_name(app: dict[str, Any]) -> str:
    """The operator's GetDriverPodName: spec.driver.podName, the Spark conf, then `<name>-driver`."""
    spec = app.get("spec", {})
    conf = spec.get("sparkConf") or {}
    return (
        (spec.get("driver") or {}).get("podName")
        or conf.get("spark.kubernetes.driver.pod.name")
        or f"{app['metadata']['name']}-driver"
    )


def _resource_name(name: str, suffix: str) -> str:
    """Service/Ingress names over 63 characters are shortened with a hash, as the operator does."""
    if len(name) + len(suffix) <= 63:
        return name + suffix
    return f"{name[: 63 - len(suffix) - 10]}-{hashlib.md5(name.encode()).hexdigest()[:8]}{suffix}"


def _log(level: str, source: str, message: str) -> str:
    return f"26/01/01 00:00:00 {level} {source}: {message}"


class FakeSparkOperator:
    def __init__(
        self,
        server: FakeKubernetes,
        *,
        default_outcome: str = "success",
        ingress_url_format: str | None = None,
        driver_sidecars: tuple[str, ...] = (),
    ) -> None:
        self.server = server
        self.default_outcome = default_outcome
        self.ingress_url_format = ingress_url_format  # like the operator's --ingress-url-format
        self.driver_sidecars = driver_sidecars  # extra containers: log calls must name the driver's
        self.scripts: dict[Key, list[str]] = {}
        self._ticker: asyncio.Task[None] | None = None

    # Test API (async, from any loop) ---------------------------------------------------------------------

    async def step(self) -> int:
        """One reconcile of every application; returns how many changed."""
        return int(await self.server.call(self._step_all))

    async def advance(self, namespace: str, name: str, steps: int = 1) -> dict[str, Any]:
        """Reconcile one application `steps` times; returns its status."""
        for _ in range(steps):
            await self.server.call(self.reconcile, (namespace, name))
        app = await self.server.get_app(namespace, name)
        return (app or {}).get("status") or {}

    async def run_until(self, namespace: str, name: str, state: str, max_steps: int = 20) -> dict[str, Any]:
        for _ in range(max_steps):
            status = await self.advance(namespace, name, 0)
            if status.get("applicationState", {}).get("state") == state:
                return status
            await self.advance(namespace, name)
        raise AssertionError(f"{namespace}/{name} did not reach {state} in {max_steps} steps")

    async def script(self, namespace: str, name: str, *outcomes: str) -> None:
        """Outcomes of the next submission attempts, in order (the last one repeats)."""
        assert outcomes and set(outcomes) <= OUTCOMES, f"outcomes must be among {sorted(OUTCOMES)}"
        await self.server.call(self.scripts.__setitem__, (namespace, name), list(outcomes))

    async def start_ticker(self, interval: float = 0.05) -> None:
        """Reconcile everything every `interval` seconds in the background, like the real operator."""
        await self.server.call(self._start_ticker, interval)

    async def stop_ticker(self) -> None:
        await self.server.call(self.cancel_ticker)

    def cancel_ticker(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    # Reconcile (on the server loop) -----------------------------------------------------------------

    def _start_ticker(self, interval: float) -> None:
        async def tick() -> None:
            while True:
                self._step_all()
                await asyncio.sleep(interval)

        self.cancel_ticker()
        self._ticker = asyncio.get_running_loop().create_task(tick(), name="fake-spark-operator")

    def _step_all(self) -> int:
        return sum(self.reconcile(key) for key in sorted(self.server.apps))

    def _outcome(self, key: Key, app: dict[str, Any], attempt: int) -> str:
        annotation = (app["metadata"].get("annotations") or {}).get(OUTCOMES_ANNOTATION, "")
        outcomes = self.scripts.get(key) or [o.strip() for o in annotation.split(",") if o.strip()]
        outcomes = outcomes or [self.default_outcome]
        return outcomes[min(attempt - 1, len(outcomes) - 1)]

    @staticmethod
    def _should_retry(app: dict[str, Any], status: dict[str, Any], *, submission: bool) -> bool:
        policy = app["spec"].get("restartPolicy") or {}
        if policy.get("type") == "Always":
            return True
        if policy.get("type") != "OnFailure":
            return False
        if submission:
            limit, attempts = policy.get("onSubmissionFailureRetries"), status.get("submissionAttempts", 0)
        else:
            limit, attempts = policy.get("onFailureRetries"), status.get("executionAttempts", 0)
        return limit is not None and attempts <= limit

    def reconcile(self, key: Key) -> bool:
        """One pass of the operator's reconcile for one application; True if it wrote anything."""
        app = self.server.apps.get(key)
        if app is None:
            return False
        status = copy.deepcopy(app.get("status") or {})
        state = status.get("applicationState", {}).get("state", "")
        pod_key = (key[0], driver_pod_name(app))
        pod = self.server.pods.get(pod_key)
        if state in ("", "PENDING_RERUN"):
            return self._submit(key, app, status)
        if state == "SUBMISSION_FAILED":
            if self._should_retry(app, status, submission=True):
                return self._submit(key, app, status)
            status["terminationTime"] = now_rfc3339()
            return self._write(key, status, "FAILED", status["applicationState"].get("errorMessage"))
        if state in ("SUBMITTED", "RUNNING", "UNKNOWN"):
            if pod is None:
                status["terminationTime"] = now_rfc3339()
                return self._write(key, status, "FAILING", "driver pod not found")
            if pod["status"]["phase"] == "Pending":
                return self._start_driver(key, app, status, pod)
            return self._finish_driver(key, app, status, pod)
        if state == "SUCCEEDING" and (app["spec"].get("restartPolicy") or {}).get("type") != "Always":
            return self._write(key, status, "COMPLETED")
        if state == "FAILING" and not self._should_retry(app, status, submission=False):
            return self._write(key, status, "FAILED", status["applicationState"].get("errorMessage"))
        if state in ("SUCCEEDING", "FAILING"):  # restart: delete the driver and reset the status
            if pod is not None:
                self.server.remove_pod(pod_key)
            for field in ("sparkApplicationId", "terminationTime", "executorState"):
                status.pop(field, None)
            status["driverInfo"] = {}
            return self._write(key, status, "PENDING_RERUN")
        ttl = app["spec"].get("timeToLiveSeconds")
        if state in ("COMPLETED", "FAILED") and ttl is not None and status.get("terminationTime"):
            ended = datetime.strptime(status["terminationTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            if (datetime.now(UTC) - ended).total_seconds() >= ttl:
                self.server.remove_app(key)
                return True
        return False

    def _write(self, key: Key, status: dict[str, Any], state: str, error: str | None = None) -> bool:
        status["applicationState"] = {"state": state} | ({"errorMessage": error} if error else {})
        status.setdefault("driverInfo", {})
        self.server.write_status(key, status)
        return True

    def _submit(self, key: Key, app: dict[str, Any], status: dict[str, Any]) -> bool:
        attempt = status.get("submissionAttempts", 0) + 1
        pod_name = driver_pod_name(app)
        status.update(
            submissionID=str(uuid.uuid4()),
            lastSubmissionAttemptTime=now_rfc3339(),
            submissionAttempts=attempt,
            driverInfo={"podName": pod_name},
        )
        if self._outcome(key, app, attempt) == "submission-fail":
            return self._write(key, status, "SUBMISSION_FAILED", "failed to run spark-submit: exit status 1")
        meta = app["metadata"]
        existing = self.server.pods.get((key[0], pod_name))
        if existing is not None and not any(
            ref.get("uid") == meta["uid"] for ref in existing["metadata"].get("ownerReferences", [])
        ):  # spark-submit cannot create the driver pod: another pod has its name
            message = f'failed to run spark-submit: pods "{pod_name}" already exists'
            return self._write(key, status, "SUBMISSION_FAILED", message)
        labels = dict(meta.get("labels") or {}) | {
            "sparkoperator.k8s.io/app-name": meta["name"],
            "sparkoperator.k8s.io/launched-by-spark-operator": "true",
            "sparkoperator.k8s.io/submission-id": status["submissionID"],
            "spark-role": "driver",
            "spark-app-selector": f"spark-{uuid.uuid4().hex}",
        }
        owner = {"apiVersion": API_VERSION, "kind": KIND, "name": meta["name"], "uid": meta["uid"]}
        names = (DRIVER_CONTAINER, *self.driver_sidecars)
        containers = [{"name": name, "image": "spark:4.0.0"} for name in names]
        waiting = {"waiting": {"reason": "ContainerCreating"}}
        self.server.put_pod(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": pod_name,
                    "namespace": key[0],
                    "labels": labels,
                    "ownerReferences": [owner | {"controller": True}],
                },
                "spec": {"containers": containers},
                "status": {
                    "phase": "Pending",
                    "containerStatuses": [{"name": c["name"], "state": waiting} for c in containers],
                },
            }
        )
        status["executionAttempts"] = status.get("executionAttempts", 0) + 1
        return self._write(key, status, "SUBMITTED")

    def _start_driver(
        self, key: Key, app: dict[str, Any], status: dict[str, Any], pod: dict[str, Any]
    ) -> bool:
        app_id = pod["metadata"]["labels"]["spark-app-selector"]
        pod["status"] = {
            "phase": "Running",
            "containerStatuses": [
                {"name": c["name"], "state": {"running": {"startedAt": now_rfc3339()}}}
                for c in pod["spec"]["containers"]
            ],
        }
        self.server.put_pod(pod)
        name = app["metadata"]["name"]
        self.server.logs[(key[0], pod["metadata"]["name"])] = [
            _log("INFO", "SparkContext", f"Running Spark version {app['spec'].get('sparkVersion')}"),
            _log("INFO", "SparkContext", f"Submitted application: {name}"),
            _log("INFO", "Utils", "Successfully started service 'SparkUI' on port 4040."),
        ]
        driver_info: dict[str, Any] = {
            "podName": pod["metadata"]["name"],
            "webUIServiceName": _resource_name(name, "-ui-svc"),
            "webUIPort": 4040,
            "webUIAddress": f"10.96.{len(name) % 250}.{sum(map(ord, name)) % 250}:4040",
        }
        if self.ingress_url_format:
            address = self.ingress_url_format.replace("{{$appName}}", name)
            address = address.replace("{{$appNamespace}}", key[0]).replace("{{$appId}}", app_id)
            driver_info["webUIIngressName"] = _resource_name(name, "-ui-ingress")
            driver_info["webUIIngressAddress"] = address if "://" in address else f"http://{address}"
        status.update(sparkApplicationId=app_id, driverInfo=driver_info)
        status["executorState"] = {f"{name}-exec-1": "RUNNING"}
        return self._write(key, status, "RUNNING")

    def _finish_driver(
        self, key: Key, app: dict[str, Any], status: dict[str, Any], pod: dict[str, Any]
    ) -> bool:
        outcome = self._outcome(key, app, status.get("submissionAttempts", 1))
        if pod["status"]["phase"] != "Running" or outcome == "hang":
            return False
        failed = outcome == "fail"
        exit_code, reason = (1, "Error") if failed else (0, "Completed")
        terminated = {"terminated": {"exitCode": exit_code, "reason": reason, "finishedAt": now_rfc3339()}}
        driver = {"name": DRIVER_CONTAINER, "state": terminated}
        pod["status"] = {"phase": "Failed" if failed else "Succeeded", "containerStatuses": [driver]}
        self.server.put_pod(pod)
        lines = self.server.logs.setdefault((key[0], pod["metadata"]["name"]), [])
        if failed:
            lines += [_log("ERROR", "SparkContext", "Error running job."), "java.lang.Exception: boom"]
        else:
            lines.append(_log("INFO", "SparkContext", "Successfully stopped SparkContext"))
        status["terminationTime"] = now_rfc3339()
        executor_state = "FAILED" if failed else "COMPLETED"
        status["executorState"] = dict.fromkeys(status.get("executorState", {}), executor_state)
        if failed:
            return self._write(key, status, "FAILING", FAILED_DRIVER)
        return self._write(key, status, "SUCCEEDING")
