"""K8sApi against the fake API server over real HTTP: CRUD, error mapping, logs, watch, configuration."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from spark_gateway.backends.kubernetes.k8s_api import (
    K8sApi,
    ResourceVersionExpired,
    error_from_status,
    load_cluster_config,
)
from spark_gateway.domain.errors import BadRequest, ConfigError, Conflict, Invalid, NotFound, Unavailable
from spark_gateway.domain.livy import LivyBatchRequest, to_spark_application
from spark_gateway.domain.sparkapp import stamp
from spark_gateway.settings import ClusterConfig, NamespaceConfig
from tests.fakes.k8s_server import FakeKubernetes, sample_app

pytest_plugins = ["tests.fakes.k8s_server"]


@pytest.fixture
async def api(fake_k8s: FakeKubernetes) -> AsyncIterator[K8sApi]:
    async with K8sApi.from_url(fake_k8s.url, timeout=5) as client:
        yield client


def cluster(name: str = "fake-cluster", **kwargs: object) -> ClusterConfig:
    return ClusterConfig(
        name=name, id="c1", type="kubernetes", namespaces=[NamespaceConfig(name="default", id="d")], **kwargs
    )


async def test_crud(api: K8sApi, fake_k8s: FakeKubernetes) -> None:
    body = sample_app("one") | {"status": {"applicationState": {"state": "RUNNING"}, "driverInfo": {}}}
    created = await api.create_app("default", body)
    assert created["metadata"]["name"] == "one" and "status" not in created
    assert (await api.get_app("default", "one"))["metadata"]["uid"] == created["metadata"]["uid"]
    other = sample_app("two", namespace="other")
    other["metadata"]["labels"] = {"owner": "someone-else"}
    await api.create_app("other", other)

    mine = await api.list_apps("default", "spark-gateway/managed-by=spark-gateway")
    assert [o["metadata"]["name"] for o in mine.items] == ["one"]
    everywhere = await api.list_apps()
    assert [o["metadata"]["name"] for o in everywhere.items] == ["one", "two"]
    assert everywhere.resource_version == str(fake_k8s.rv)

    await api.delete_app("default", "one")
    with pytest.raises(NotFound):
        await api.get_app("default", "one")
    with pytest.raises(NotFound):
        await api.delete_app("default", "one")


async def test_error_mapping(api: K8sApi, fake_k8s: FakeKubernetes) -> None:
    await api.create_app("default", sample_app("dup"))
    with pytest.raises(Conflict, match="already exists"):
        await api.create_app("default", sample_app("dup"))
    invalid = sample_app("invalid")
    del invalid["spec"]["sparkVersion"]
    with pytest.raises(Invalid, match=r"spec\.sparkVersion: Required value"):
        await api.create_app("default", invalid)
    with pytest.raises(BadRequest, match=r'unknown field "spec\.sparkVerison"'):
        await api.create_app("default", sample_app("typo", sparkVerison="3"))
    with pytest.raises(BadRequest, match="unable to parse requirement"):
        await api.list_apps("default", "=oops")
    await fake_k8s.fail_requests(2, 503)
    with pytest.raises(Unavailable, match="503"):
        await api.get_app("default", "dup")
    with pytest.raises(Unavailable):
        await api.list_apps()
    await fake_k8s.fail_requests(1, 500)
    with pytest.raises(Unavailable, match="500"):
        await api.create_app("default", sample_app("later"))
    assert [obj["metadata"]["name"] for obj, _ in fake_k8s.rejected] == ["invalid"]


async def test_unreachable_server_is_unavailable(api: K8sApi, fake_k8s: FakeKubernetes) -> None:
    await fake_k8s.server_down()
    with pytest.raises(Unavailable, match="cannot reach"):
        await api.list_apps()
    with pytest.raises(Unavailable):
        async for _ in api.watch_apps("1"):
            pass
    await fake_k8s.server_up()
    assert (await api.list_apps()).items == []


def test_status_mapping_covers_what_the_fake_cannot_send() -> None:
    assert isinstance(error_from_status(410, {"reason": "Gone", "message": "gone"}), ResourceVersionExpired)
    assert isinstance(error_from_status(403, {"message": "forbidden"}), Unavailable)
    limited = error_from_status(429, None, retry_after="7")
    assert isinstance(limited, Unavailable) and limited.retry_after == 7


async def test_rejected_credentials_are_unavailable() -> None:
    fake = FakeKubernetes(token="right").start()
    try:
        async with (
            K8sApi.from_url(fake.url, token="wrong") as wrong,
            K8sApi.from_url(fake.url, token="right") as ok,
        ):
            with pytest.raises(Unavailable, match="credentials"):
                await wrong.list_apps()
            assert (await ok.list_apps()).items == []
    finally:
        fake.stop()


async def test_driver_logs(api: K8sApi, fake_k8s: FakeKubernetes) -> None:
    fake_k8s.operator.driver_sidecars = ("istio-proxy",)  # a bare log request would be a 400 now
    created = await api.create_app("default", sample_app("logs", driver={"podName": "custom-driver"}))
    assert await api.driver_log(created, 10) is None  # not submitted: no pod
    await fake_k8s.operator.advance("default", "logs")
    submitted = await api.get_app("default", "logs")
    assert submitted["status"]["driverInfo"]["podName"] == "custom-driver"
    assert await api.driver_log(submitted, 10) is None  # ContainerCreating
    await fake_k8s.operator.advance("default", "logs")
    await fake_k8s.set_log("default", "custom-driver", [f"line {i}" for i in range(5)])
    assert await api.driver_log(await api.get_app("default", "logs"), 2) == ["line 3", "line 4"]
    assert await api.driver_log(created) == [f"line {i}" for i in range(5)]  # spec.driver.podName rule
    log_request = fake_k8s.requests[-1]
    assert log_request.path == "/api/v1/namespaces/default/pods/custom-driver/log"
    assert log_request.query == {"container": "spark-kubernetes-driver"}


async def test_watch_yields_events_bookmarks_and_expiry(api: K8sApi, fake_k8s: FakeKubernetes) -> None:
    fake_k8s.bookmark_interval = 0.05
    since = (await api.list_apps()).resource_version
    await api.create_app("default", sample_app("w"))
    await fake_k8s.operator.step()
    seen = []
    async for event_type, obj in api.watch_apps(since, namespace="default", timeout_seconds=1):
        seen.append((event_type, (obj.get("status") or {}).get("applicationState", {}).get("state")))
        if event_type == "BOOKMARK":
            assert obj["metadata"]["resourceVersion"] == str(fake_k8s.rv)
            break
    assert seen == [("ADDED", None), ("MODIFIED", "SUBMITTED"), ("BOOKMARK", None)]
    await fake_k8s.compact()
    with pytest.raises(ResourceVersionExpired, match="too old resource version"):
        async for _ in api.watch_apps(since):
            pass


async def test_a_livy_batch_as_the_gateway_builds_it_is_accepted(
    api: K8sApi, fake_k8s: FakeKubernetes
) -> None:
    request = LivyBatchRequest(file="local:///opt/pi.py", args=["10"], conf={"spark.executor.instances": 2})
    app = to_spark_application(request, namespace="default", spark_version="4.0.0")
    stamped = stamp(
        app,
        gateway_id="c1-d-01234567-89ab-7def-8123-456789abcdef",
        cluster_name="fake-cluster",
        user="alice",
        proxy_user="alice",
        selector=("spark-gateway/managed-by", "spark-gateway"),
    )
    await api.create_app("default", stamped.to_k8s())
    fake_k8s.assert_no_rejections()
    assert not fake_k8s.warnings


async def test_for_cluster_uses_the_kubeconfig_context_named_like_the_cluster(
    fake_kubeconfig: Path, fake_k8s: FakeKubernetes
) -> None:
    async with K8sApi.for_cluster(cluster(), "kubeconfig") as api:
        assert (await api.list_apps()).items == []
    assert fake_k8s.requests[-1].authorization == "Bearer fake-token"
    with pytest.raises(ConfigError, match="not found"):
        load_cluster_config(cluster("no-such-context"), "kubeconfig")


def test_kubeconfig_path_list_merges_first_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def kubeconfig(server: str, ca: str) -> dict[str, object]:
        return {
            "clusters": [{"name": "k", "cluster": {"server": server, "certificate-authority": ca}}],
            "contexts": [{"name": "k", "context": {"cluster": "k", "user": "u"}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
        }

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "config").write_text(yaml.safe_dump(kubeconfig("https://first:6443", "ca.pem")))
    (tmp_path / "b").write_text(yaml.safe_dump(kubeconfig("https://second:6443", "other.pem")))
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{tmp_path / 'a' / 'config'}:{tmp_path / 'b'}")
    config = load_cluster_config(cluster("k"), "kubeconfig")
    assert config.cluster.server == "https://first:6443"
    assert config.cluster.certificate_auth == str(tmp_path / "a" / "ca.pem")  # relative to its own file
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="no kubeconfig"):
        load_cluster_config(cluster("k"), "kubeconfig")


def test_serviceaccount_modes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca_file = tmp_path / "ca.b64"
    ca_file.write_text(base64.b64encode(b"-----BEGIN CERTIFICATE-----").decode())
    eks = load_cluster_config(
        cluster("eks-prod", masterURL="https://eks.example:443", certificateAuthorityB64File=str(ca_file)),
        "serviceaccount",
    )
    assert eks.cluster.server == "https://eks.example:443"
    assert eks.cluster.certificate_auth_data == ca_file.read_text()
    assert eks.user is not None and eks.user.exec is not None
    assert eks.user.exec.args == ["eks", "get-token", "--cluster-name", "eks-prod"]
    insecure = load_cluster_config(
        cluster(masterURL="https://eks.example:443", certificateAuthorityB64File="INSECURE"), "serviceaccount"
    )
    assert insecure.cluster.insecure
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError):  # not running in a pod
        load_cluster_config(cluster(certificateAuthorityB64File="incluster"), "serviceaccount")
    with pytest.raises(ConfigError, match="masterURL"):
        load_cluster_config(cluster(certificateAuthorityB64File=str(ca_file)), "serviceaccount")
