"""The fake Kubernetes API server behaves like the real one, over plain HTTP (no gateway code involved)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx

from tests.fakes.k8s_server import FakeKubernetes, apps_url, sample_app

pytest_plugins = ["tests.fakes.k8s_server"]

APPS = "/apis/sparkoperator.k8s.io/v1beta2"


async def watch_lines(url: str, params: dict[str, str], count: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=5) as client, client.stream("GET", url, params=params) as resp:
        async for line in resp.aiter_lines():
            events.append(json.loads(line))
            if len(events) == count:
                break
    return events


async def test_create_get_list_delete(fake_k8s: FakeKubernetes) -> None:
    body = sample_app("app1") | {"status": {"applicationState": {"state": "COMPLETED"}, "driverInfo": {}}}
    async with httpx.AsyncClient() as client:
        created = await client.post(apps_url(fake_k8s), json=body)
        assert created.status_code == 201
        obj = created.json()
        assert "status" not in obj  # a subresource: ignored on create
        assert obj["metadata"]["uid"] and obj["metadata"]["generation"] == 1
        assert (await client.get(f"{apps_url(fake_k8s)}/app1")).json() == obj
        listed = (await client.get(apps_url(fake_k8s))).json()
        assert listed["kind"] == "SparkApplicationList"
        assert listed["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]
        deleted = await client.delete(f"{apps_url(fake_k8s)}/app1")
        assert deleted.json()["status"] == "Success"
        missing = await client.get(f"{apps_url(fake_k8s)}/app1")
    assert missing.status_code == 404
    assert missing.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'sparkapplications.sparkoperator.k8s.io "app1" not found',
        "reason": "NotFound",
        "details": {"name": "app1", "group": "sparkoperator.k8s.io", "kind": "sparkapplications"},
        "code": 404,
    }


async def test_create_errors_are_real_status_bodies(fake_k8s: FakeKubernetes) -> None:
    url = apps_url(fake_k8s)
    async with httpx.AsyncClient() as client:
        await client.post(url, json=sample_app("dup"))
        conflict = await client.post(url, json=sample_app("dup"))
        invalid_body = sample_app("bad")
        del invalid_body["spec"]["sparkVersion"]
        invalid = await client.post(url, json=invalid_body)
        wrong_ns = await client.post(url, json=sample_app("x", namespace="other"))
        not_json = await client.post(url, content=b"{")
    assert (conflict.status_code, conflict.json()["reason"]) == (409, "AlreadyExists")
    assert conflict.json()["message"] == 'sparkapplications.sparkoperator.k8s.io "dup" already exists'
    assert (invalid.status_code, invalid.json()["reason"]) == (422, "Invalid")
    assert {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.sparkVersion"} in (
        invalid.json()["details"]["causes"]
    )
    assert [obj["metadata"]["name"] for obj, _ in fake_k8s.rejected] == ["bad"]
    assert (wrong_ns.status_code, not_json.status_code) == (400, 400)


async def test_unknown_fields_are_pruned_with_a_warning_or_rejected_when_strict(
    fake_k8s: FakeKubernetes,
) -> None:
    body = sample_app("extra", bogus=1)
    async with httpx.AsyncClient() as client:
        strict = await client.post(apps_url(fake_k8s), json=body, params={"fieldValidation": "Strict"})
        lenient = await client.post(apps_url(fake_k8s), json=body)
    assert strict.status_code == 400 and 'unknown field "spec.bogus"' in strict.json()["message"]
    assert lenient.status_code == 201 and "bogus" not in lenient.json()["spec"]
    assert lenient.headers["warning"] == '299 - "unknown field \\"spec.bogus\\""'


async def test_label_selectors(fake_k8s: FakeKubernetes) -> None:
    for name, labels in [("a", {"team": "x", "tier": "1"}), ("b", {"team": "y"}), ("c", {})]:
        body = sample_app(name)
        body["metadata"]["labels"] = labels
        await fake_k8s.call(fake_k8s.create_app, "default", body)
    cases = {"team=x": "a", "team==y": "b", "team!=x": "bc", "tier": "a", "!team": "c", "team in (x,y)": "ab"}
    async with httpx.AsyncClient() as client:
        for selector, expected in cases.items():
            listed = (await client.get(apps_url(fake_k8s), params={"labelSelector": selector})).json()
            assert "".join(item["metadata"]["name"] for item in listed["items"]) == expected, selector
        malformed = await client.get(apps_url(fake_k8s), params={"labelSelector": "=x"})
    assert (malformed.status_code, malformed.json()["reason"]) == (400, "BadRequest")


async def test_watch_streams_changes_after_a_resource_version(fake_k8s: FakeKubernetes) -> None:
    await fake_k8s.call(fake_k8s.create_app, "default", sample_app("w"))
    since = str(fake_k8s.rv)
    await fake_k8s.operator.step()  # SUBMITTED
    await fake_k8s.operator.step()  # RUNNING
    events = await watch_lines(apps_url(fake_k8s), {"watch": "true", "resourceVersion": since}, 2)
    states = [e["object"]["status"]["applicationState"]["state"] for e in events]
    assert [e["type"] for e in events] == ["MODIFIED", "MODIFIED"] and states == ["SUBMITTED", "RUNNING"]
    initial = await watch_lines(apps_url(fake_k8s), {"watch": "true"}, 1)
    assert (
        initial[0]["type"] == "ADDED"
        and initial[0]["object"]["status"]["applicationState"]["state"] == "RUNNING"
    )


async def test_watch_across_namespaces_with_bookmarks_and_deletion(fake_k8s: FakeKubernetes) -> None:
    fake_k8s.bookmark_interval = 0.05
    since = str(fake_k8s.rv)
    url = f"{fake_k8s.url}{APPS}/sparkapplications"
    params = {"watch": "true", "resourceVersion": since, "allowWatchBookmarks": "true"}
    watching = asyncio.create_task(watch_lines(url, params, 4))
    await fake_k8s.wait_for_watchers()
    await fake_k8s.call(fake_k8s.create_app, "ns1", sample_app("one", namespace="ns1"))
    await fake_k8s.call(fake_k8s.create_app, "ns2", sample_app("two", namespace="ns2"))
    await fake_k8s.delete_app("ns1", "one")
    events = await watching
    assert [(e["type"], e["object"]["metadata"].get("name")) for e in events[:3]] == [
        ("ADDED", "one"),
        ("ADDED", "two"),
        ("DELETED", "one"),
    ]
    assert events[3]["type"] == "BOOKMARK"
    assert events[3]["object"]["metadata"]["resourceVersion"] == str(fake_k8s.rv)


async def test_watch_from_a_compacted_version_gets_410_expired(fake_k8s: FakeKubernetes) -> None:
    since = str(fake_k8s.rv)
    await fake_k8s.call(fake_k8s.create_app, "default", sample_app("old"))
    await fake_k8s.compact()
    events = await watch_lines(apps_url(fake_k8s), {"watch": "true", "resourceVersion": since}, 1)
    assert events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"
    params = {"watch": "true", "resourceVersion": str(fake_k8s.rv), "timeoutSeconds": "0.2"}
    assert await watch_lines(apps_url(fake_k8s), params, 1) == []


async def test_watch_ends_after_timeout_seconds_and_history_is_bounded() -> None:
    fake = FakeKubernetes(history_limit=2).start()
    try:
        since = str(fake.rv)
        for name in ("h1", "h2", "h3"):
            await fake.call(fake.create_app, "default", sample_app(name))
        params = {"watch": "true", "resourceVersion": since, "timeoutSeconds": "0.2"}
        assert (await watch_lines(apps_url(fake), params, 5))[0]["object"]["code"] == 410
        params["resourceVersion"] = str(fake.rv - 2)
        events = await watch_lines(apps_url(fake), params, 5)  # ends by itself after 0.2 s
        assert [e["object"]["metadata"]["name"] for e in events] == ["h2", "h3"]
    finally:
        fake.stop()


async def test_pod_logs(fake_k8s: FakeKubernetes) -> None:
    fake_k8s.operator.driver_sidecars = ("istio-proxy",)
    await fake_k8s.call(fake_k8s.create_app, "default", sample_app("logs"))
    log_url = f"{fake_k8s.url}/api/v1/namespaces/default/pods/logs-driver/log"
    async with httpx.AsyncClient() as client:
        before = await client.get(log_url)
        await fake_k8s.operator.step()  # SUBMITTED: the pod exists, its container does not run yet
        waiting = await client.get(log_url, params={"container": "spark-kubernetes-driver"})
        await fake_k8s.operator.step()  # RUNNING
        no_container = await client.get(log_url)
        await fake_k8s.set_log("default", "logs-driver", [f"line {i}" for i in range(10)])
        tail = await client.get(log_url, params={"container": "spark-kubernetes-driver", "tailLines": "3"})
        zero = await client.get(log_url, params={"container": "spark-kubernetes-driver", "tailLines": "0"})
        wrong = await client.get(log_url, params={"container": "nope"})
    assert before.status_code == 404 and before.json()["message"] == 'pods "logs-driver" not found'
    assert waiting.status_code == 400
    assert waiting.json()["message"].endswith("is waiting to start: ContainerCreating")
    assert (
        no_container.status_code == 400
        and "a container name must be specified" in no_container.json()["message"]
    )
    assert tail.text == "line 7\nline 8\nline 9\n" and zero.text == ""
    assert wrong.status_code == 400


async def test_injected_failures_and_required_token() -> None:
    fake = FakeKubernetes(token="s3cret").start()
    try:
        async with httpx.AsyncClient() as client:
            anonymous = await client.get(apps_url(fake))
            headers = {"Authorization": "Bearer s3cret"}
            await fake.fail_requests(1, 503)
            failed = await client.get(apps_url(fake), headers=headers)
            ok = await client.get(apps_url(fake), headers=headers)
    finally:
        fake.stop()
    assert (anonymous.status_code, anonymous.json()["reason"]) == (401, "Unauthorized")
    assert (failed.status_code, failed.json()["reason"]) == (503, "ServiceUnavailable")
    assert ok.status_code == 200
    assert fake.requests[-1].authorization == "Bearer s3cret"


async def test_reachable_from_a_separate_process(fake_k8s: FakeKubernetes) -> None:
    await fake_k8s.call(fake_k8s.create_app, "default", sample_app("proc"))
    code = "import json, sys, urllib.request; body = json.load(urllib.request.urlopen(sys.argv[1]))\n"
    code += "print(body['items'][0]['metadata']['name'])"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, apps_url(fake_k8s), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert out.decode().strip() == "proc"


def test_usable_from_sync_code(fake_k8s: FakeKubernetes) -> None:
    fake_k8s.call_sync(fake_k8s.create_app, "default", sample_app("sync"))
    assert httpx.get(f"{apps_url(fake_k8s)}/sync").status_code == 200
