"""The console's pages, in-process: what they list, filter, page through and show (no browser)."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest

from spark_gateway.backends.base import StatusUpdate
from spark_gateway.domain.states import AppState
from tests.api.conftest import Gateway, GatewayFactory

PI = str(Path(__file__).resolve().parents[3] / "examples" / "pi.py")
TWO_CLUSTERS: list[dict[str, Any]] = [
    {
        "name": "alpha",
        "id": "alpha",
        "namespaces": [{"name": "default", "id": "dflt"}, {"name": "etl", "id": "etl"}],
    },
    {"name": "beta", "id": "beta", "routingWeight": 0, "namespaces": [{"name": "etl", "id": "etl"}]},
]


async def livy_batch(gw: Gateway, name: str, namespace: str = "default", **fields: Any) -> dict[str, Any]:
    response = await gw.client.post(
        "/api/livy/batches",
        json={"file": PI, "name": name, **fields},
        headers={"X-Spark-Gateway-Livy-Namespace": namespace},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def v1_app(gw: Gateway, name: str, namespace: str = "default") -> str:
    body = {
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"type": "Python", "sparkVersion": "4.0.0", "mainApplicationFile": PI, "arguments": ["3"]},
    }
    response = await gw.client.post("/api/v1/applications", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["gatewayId"])


def listed_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-gateway-id="([^"]+)"', html)


async def test_one_table_of_batches_and_v1_applications_newest_first(gateway: Gateway) -> None:
    batch = await livy_batch(gateway, "nightly-etl")
    gid = await v1_app(gateway, "adhoc-report")
    page = await gateway.client.get("/ui/applications")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert listed_ids(page.text) == [gid, batch["appInfo"]["GatewayId"]]
    assert "nightly-etl" in page.text and "adhoc-report" in page.text
    assert f"batch {batch['id']}" in page.text
    assert 'class="badge waiting">NEW<' in page.text
    assert "2 applications" in page.text
    assert (await gateway.client.get("/ui")).headers["location"] == "/ui/applications"


async def test_filters_by_state_namespace_cluster_owner_and_name(make_gateway: GatewayFactory) -> None:
    gw: Gateway = await make_gateway(clusters=TWO_CLUSTERS)
    first = (await livy_batch(gw, "load-orders"))["appInfo"]["GatewayId"]
    second = (await livy_batch(gw, "load-customers", namespace="etl"))["appInfo"]["GatewayId"]
    third = await v1_app(gw, "report", namespace="etl")
    await gw.runtime.sink.update(StatusUpdate(first, AppState.SUBMITTED))
    await gw.runtime.sink.update(StatusUpdate(first, AppState.RUNNING))

    async def ids(**params: str) -> list[str]:
        response = await gw.client.get("/ui/applications", params=params)
        assert response.status_code == 200, response.text
        return listed_ids(response.text)

    assert await ids(state="RUNNING") == [first]
    assert await ids(state="NEW") == [third, second]
    assert await ids(namespace="etl") == [third, second]
    assert await ids(cluster="alpha") == [third, second, first]  # beta has weight 0: never chosen
    assert await ids(cluster="beta") == []
    assert await ids(q="LOAD") == [second, first]
    assert await ids(q="customers", namespace="etl") == [second]
    assert await ids(owner="nobody") == []
    assert await ids(q="%") == []  # LIKE wildcards are searched for literally
    fragment = await gw.client.get(
        "/ui/applications", params={"state": "RUNNING"}, headers={"HX-Request": "true"}
    )
    assert "<html" not in fragment.text and listed_ids(fragment.text) == [first]
    assert "1 application matches" in fragment.text


async def test_keyset_pages_cover_everything_once(gateway: Gateway) -> None:
    created = [await v1_app(gateway, f"job-{i}") for i in range(7)]
    seen: list[str] = []
    url = "/ui/applications?size=3"
    pages = 0
    while True:
        response = await gateway.client.get(url)
        assert response.status_code == 200
        seen += listed_ids(response.text)
        pages += 1
        older = re.search(r'<a href="\?([^"]+)" id="older">', response.text)
        if older is None:
            break
        url = "/ui/applications?" + older.group(1).replace("&amp;", "&")
        assert "7 applications" in response.text
    assert pages == 3
    assert seen == list(reversed(created))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"before": "yesterday"}, "invalid page cursor"),
        ({"state": "SLEEPING"}, "unknown state"),
        ({"cluster": "gamma"}, "cluster &#39;gamma&#39; is not configured"),
    ],
)
async def test_bad_filters_get_a_400_page(gateway: Gateway, params: dict[str, str], message: str) -> None:
    response = await gateway.client.get("/ui/applications", params=params)
    assert response.status_code == 400
    assert message in response.text


async def test_application_page_shows_timeline_request_and_error(gateway: Gateway) -> None:
    batch = await livy_batch(gateway, "pi-once", args=["5"], conf={"spark.executor.memory": "512m"})
    gid = batch["appInfo"]["GatewayId"]
    sink = gateway.runtime.sink
    await sink.update(StatusUpdate(gid, AppState.SUBMITTED))
    await sink.update(StatusUpdate(gid, AppState.RUNNING))
    await sink.update(StatusUpdate(gid, AppState.FAILED, error_message="ZeroDivisionError: division by zero"))
    page = await gateway.client.get(f"/ui/applications/{gid}")
    assert page.status_code == 200
    text = page.text
    assert "ZeroDivisionError: division by zero" in text
    assert text.count('class="reached"') == 4  # created, submitted, running, finished: all with times
    assert text.count(" UTC</span>") == 4
    assert PI in text and "<code>5</code>" in text and "spark.executor.memory=512m" in text
    assert 'id="kill"' not in text  # finished: nothing to kill
    assert f'href="/ui/submit?from={gid}"' in text
    missing = await gateway.client.get("/ui/applications/local-dflt-0190f0f0-0000-7000-8000-000000000000")
    assert missing.status_code == 404 and "not found" in missing.text


async def test_running_application_offers_kill_through_the_api(gateway: Gateway) -> None:
    gid = await v1_app(gateway, "long")
    text = (await gateway.client.get(f"/ui/applications/{gid}")).text
    assert f'data-url="/api/v1/applications/{gid}"' in text


async def test_log_endpoint_pages_the_stored_log_from_an_offset(gateway: Gateway) -> None:
    gid = await v1_app(gateway, "chatty")
    await gateway.runtime.sink.append_logs(gid, [f"line {i}" for i in range(5)])
    first = (await gateway.client.get(f"/ui/applications/{gid}/log")).json()
    assert [step["reached"] for step in first.pop("timeline")] == [True, False, False, False]
    assert first.pop("duration") == "—"  # not submitted: it has not run at all
    assert first == {
        "from": 0,
        "total": 5,
        "lines": [f"line {i}" for i in range(5)],
        "state": "NEW",
        "done": False,
    }
    await gateway.runtime.sink.append_logs(gid, ["line 5"])
    more = (await gateway.client.get(f"/ui/applications/{gid}/log", params={"from": 5})).json()
    assert more["lines"] == ["line 5"] and more["total"] == 6
    await gateway.runtime.sink.update(StatusUpdate(gid, AppState.FAILED, error_message="boom"))
    assert (await gateway.client.get(f"/ui/applications/{gid}/log", params={"from": 6})).json()[
        "done"
    ] is True


async def test_submit_page_prefills_from_an_application(gateway: Gateway) -> None:
    batch = await livy_batch(gateway, "again", args=["7", "8"], conf={"spark.x": "1"})
    page = await gateway.client.get("/ui/submit", params={"from": batch["appInfo"]["GatewayId"]})
    assert page.status_code == 200
    assert f'value="{PI}"' in page.text
    assert ">7\n8</textarea>" in page.text and ">spark.x=1</textarea>" in page.text
    assert 'value="again"' in page.text
    assert 'data-url="/api/livy/batches"' in page.text
    blank = await gateway.client.get("/ui/submit")
    assert blank.status_code == 200 and 'id="submit-form"' in blank.text


async def test_clusters_page_shows_counts_weights_and_choice(make_gateway: GatewayFactory) -> None:
    gw: Gateway = await make_gateway(clusters=TWO_CLUSTERS)
    gid = await v1_app(gw, "queued", namespace="etl")
    running = await v1_app(gw, "running")
    await gw.runtime.sink.update(StatusUpdate(running, AppState.SUBMITTED))
    page = await gw.client.get("/ui/clusters")
    assert page.status_code == 200
    alpha = page.text.split('data-cluster="alpha"')[1].split("</tr>")[0]
    assert '<td class="num running-count">1</td>' in alpha and '<td class="num queued-count">1</td>' in alpha
    assert gid.startswith("alpha-")
    choices = page.text.split('id="choices"')[1]
    assert "<td>etl</td><td>alpha</td>" in choices  # beta's routing weight is 0
    assert "weightBasedRandom" in page.text


async def test_pages_load_only_local_assets_under_the_csp(gateway: Gateway) -> None:
    page = await gateway.client.get("/ui/applications")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    scripts = re.findall(r"<script([^>]*)>", page.text)
    assert scripts and all('src="/ui/static/' in attrs for attrs in scripts)  # no inline script
    assert " style=" not in page.text
    for asset in ("htmx.min.js", "console.js", "console.css"):
        assert (await gateway.client.get(f"/ui/static/{asset}")).status_code == 200


async def test_console_can_be_disabled(make_gateway: GatewayFactory) -> None:
    gw: Gateway = await make_gateway(gateway={"enableConsole": False})
    for path in ("/ui", "/ui/applications", "/ui/static/console.js"):
        assert (await gw.client.get(path)).status_code == 404


async def test_clusters_page_shows_a_sparkmanager_that_is_not_ready(make_gateway: GatewayFactory) -> None:
    with socket.socket() as sock:  # a port nothing listens on: the SparkManager is down
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    kube = {
        "name": "kube",
        "id": "kube",
        "masterURL": "https://127.0.0.1:6443",
        "namespaces": [{"name": "etl", "id": "etl"}],
    }
    gw: Gateway = await make_gateway(
        clusters=[TWO_CLUSTERS[0], kube], debugPorts={"kube": {"sparkManagerPort": closed_port}}
    )
    page = await gw.client.get("/ui/clusters")
    assert page.status_code == 200
    row = page.text.split('data-cluster="kube"')[1].split("</tr>")[0]
    assert "<td>kubernetes</td>" in row and 'class="badge failed">not ready<' in row
    assert "<td>etl</td><td>alpha</td>" in page.text.split('id="choices"')[1]  # traffic avoids it


async def test_only_web_addresses_become_links(make_gateway: GatewayFactory) -> None:
    gw: Gateway = await make_gateway(gateway={"statusUrlTemplates": {"logsUI": "https://logs.example/all"}})
    gid = await v1_app(gw, "sneaky")
    driver = {"driverInfo": {"webUIAddress": "javascript:alert(1)"}}
    await gw.runtime.sink.update(StatusUpdate(gid, AppState.SUBMITTED, status=driver))
    page = (await gw.client.get(f"/ui/applications/{gid}")).text
    assert 'href="https://logs.example/all"' in page
    assert "javascript:" not in page and "Spark UI: not available" in page


async def test_run_time_comes_from_the_status_times_kubernetes_reports(gateway: Gateway) -> None:
    """The spark-operator's `lastSubmissionAttemptTime` and `terminationTime` (the local backend
    writes the same fields): the run time excludes the queue, and a rerun counts from its attempt."""
    gid = await v1_app(gateway, "on-kube")
    sink = gateway.runtime.sink
    submitted = {"lastSubmissionAttemptTime": "2026-01-01T10:00:00Z", "driverInfo": {"podName": "d"}}
    await sink.update(StatusUpdate(gid, AppState.SUBMITTED, status=submitted))
    await sink.update(StatusUpdate(gid, AppState.RUNNING))
    running = (await gateway.client.get(f"/ui/applications/{gid}/log")).json()["duration"]
    assert running.endswith("m") and "h " in running  # counting up since 10:00 that day
    ended = {"terminationTime": "2026-01-01T10:03:07Z"}
    await sink.update(StatusUpdate(gid, AppState.SUCCEEDING, status=ended))
    await sink.update(StatusUpdate(gid, AppState.COMPLETED, status=ended))
    table = (await gateway.client.get("/ui/applications")).text
    assert '<td class="time">3m 07s</td>' in table
    page = (await gateway.client.get(f"/ui/applications/{gid}")).text
    assert '<span id="duration">3m 07s</span>' in page
    assert (await gateway.client.get(f"/ui/applications/{gid}/log")).json()["duration"] == "3m 07s"
    queued = await v1_app(gateway, "queued")
    assert re.search(
        rf'data-gateway-id="{queued}".*?<td class="time">—</td>',
        (await gateway.client.get("/ui/applications")).text,
        re.S,
    )
