"""The SparkApplication fields that change identity or reach the host, as a table (domain.spec_policy)."""

from __future__ import annotations

from typing import Any

import pytest

from spark_gateway.domain.spec_policy import SpecPolicy


def app(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "a", "labels": {"team": "data"}}, "spec": {"type": "Python", **spec}}


def refused(body: dict[str, Any], policy: SpecPolicy | None = None) -> list[str]:
    return [v.path for v in (policy or SpecPolicy.build()).violations(body)]


ROOT_CONTAINER = {"privileged": True, "runAsUser": 0, "capabilities": {"add": ["SYS_ADMIN"]}}


@pytest.mark.parametrize(
    ("spec", "paths"),
    [
        (
            {"volumes": [{"name": "d", "emptyDir": {}}, {"name": "h", "hostPath": {"path": "/"}}]},
            ["spec.volumes[1].hostPath"],
        ),
        ({"volumes": [{"name": "g", "gitRepo": {"repository": "x"}}]}, ["spec.volumes[0].gitRepo"]),
        ({"driver": {"serviceAccount": "admin"}}, ["spec.driver.serviceAccount"]),
        ({"executor": {"serviceAccount": "admin"}}, ["spec.executor.serviceAccount"]),
        ({"driver": {"podName": "bobs-driver"}}, ["spec.driver.podName"]),
        ({"driver": {"hostNetwork": True}, "executor": {"hostNetwork": False}}, ["spec.driver.hostNetwork"]),
        (
            {"executor": {"securityContext": ROOT_CONTAINER}},
            [
                "spec.executor.securityContext.privileged",
                "spec.executor.securityContext.capabilities.add",
                "spec.executor.securityContext.runAsUser",
            ],
        ),
        (
            {"driver": {"securityContext": {"allowPrivilegeEscalation": True}}},
            ["spec.driver.securityContext.allowPrivilegeEscalation"],
        ),
        (
            {"driver": {"podSecurityContext": {"runAsUser": 0, "runAsGroup": 0}}},
            ["spec.driver.podSecurityContext.runAsUser", "spec.driver.podSecurityContext.runAsGroup"],
        ),
        (
            {"driver": {"podSecurityContext": {"sysctls": [{"name": "kernel.x", "value": "1"}]}}},
            ["spec.driver.podSecurityContext.sysctls"],
        ),
        (
            {"driver": {"securityContext": {"seccompProfile": {"type": "Unconfined"}}}},
            ["spec.driver.securityContext.seccompProfile.type"],
        ),
        (
            {"driver": {"env": [{"name": "A", "value": "1"}, {"name": "HADOOP_USER_NAME", "value": "hdfs"}]}},
            ["spec.driver.env[1]"],
        ),
        ({"executor": {"envVars": {"SPARK_USER": "root"}}}, ["spec.executor.envVars.SPARK_USER"]),
        (
            {"driver": {"envSecretKeyRefs": {"HADOOP_PROXY_USER": {"name": "s", "key": "k"}}}},
            ["spec.driver.envSecretKeyRefs.HADOOP_PROXY_USER"],
        ),
        ({"driver": {"envFrom": [{"configMapRef": {"name": "c"}}]}}, ["spec.driver.envFrom"]),
        (
            {
                "driver": {
                    "sidecars": [{"name": "s", "securityContext": {"privileged": True}}],
                    "initContainers": [{"name": "i", "env": [{"name": "SPARK_USER", "value": "x"}]}],
                }
            },
            ["spec.driver.sidecars[0].securityContext.privileged", "spec.driver.initContainers[0].env[0]"],
        ),
        (
            {
                "executor": {
                    "template": {
                        "spec": {
                            "hostPID": True,
                            "serviceAccountName": "x",
                            "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
                        }
                    }
                }
            },
            [
                "spec.executor.template.spec.hostPID",
                "spec.executor.template.spec.serviceAccountName",
                "spec.executor.template.spec.volumes[0].hostPath",
            ],
        ),
        (
            {"driver": {"labels": {"sparkoperator.k8s.io/app-name": "bobs"}}},
            ["spec.driver.labels.sparkoperator.k8s.io/app-name"],
        ),
        ({"mode": "client"}, ["spec.mode"]),
        (
            {
                "sparkConf": {
                    "spark.kubernetes.driver.pod.name": "x",
                    "spark.kubernetes.executor.podNamePrefix": "x",
                    "spark.kubernetes.authenticate.driver.serviceAccountName": "admin",
                    "spark.kubernetes.authenticate.oauthToken": "t",
                    "spark.kubernetes.namespace": "kube-system",
                    "spark.kubernetes.driver.podTemplateFile": "/t.yaml",
                    "spark.kubernetes.executor.podTemplateContainerName": "c",
                    "spark.kubernetes.executor.podFeatureSteps": "x.Y",
                    "spark.kubernetes.driver.volumes.hostPath.h.mount.path": "/host",
                    "spark.kubernetes.driverEnv.HADOOP_USER_NAME": "hdfs",
                    "spark.executorEnv.SPARK_USER": "root",
                    "spark.kubernetes.executor.secretKeyRef.HADOOP_USER_NAME": "s:k",
                    "spark.kubernetes.executor.label.sparkoperator.k8s.io/app-name": "bobs",
                    "spark.kerberos.principal": "hdfs",
                    "spark.kubernetes.kerberos.tokenSecret.name": "bobs",
                    "spark.executor.memory": "1g",
                    "spark.kubernetes.driverEnv.TZ": "UTC",
                }
            },
            [
                "spec.sparkConf.spark.kubernetes.driver.pod.name",
                "spec.sparkConf.spark.kubernetes.executor.podNamePrefix",
                "spec.sparkConf.spark.kubernetes.authenticate.driver.serviceAccountName",
                "spec.sparkConf.spark.kubernetes.authenticate.oauthToken",
                "spec.sparkConf.spark.kubernetes.namespace",
                "spec.sparkConf.spark.kubernetes.driver.podTemplateFile",
                "spec.sparkConf.spark.kubernetes.executor.podTemplateContainerName",
                "spec.sparkConf.spark.kubernetes.executor.podFeatureSteps",
                "spec.sparkConf.spark.kubernetes.driver.volumes.hostPath.h.mount.path",
                "spec.sparkConf.spark.kubernetes.driverEnv.HADOOP_USER_NAME",
                "spec.sparkConf.spark.executorEnv.SPARK_USER",
                "spec.sparkConf.spark.kubernetes.executor.secretKeyRef.HADOOP_USER_NAME",
                "spec.sparkConf.spark.kubernetes.executor.label.sparkoperator.k8s.io/app-name",
                "spec.sparkConf.spark.kerberos.principal",
                "spec.sparkConf.spark.kubernetes.kerberos.tokenSecret.name",
            ],
        ),
    ],
)
def test_refused_fields(spec: dict[str, Any], paths: list[str]) -> None:
    assert refused(app(**spec)) == paths


def test_what_stays_allowed() -> None:
    honest = app(
        mode="cluster",
        nodeSelector={"pool": "spark"},
        volumes=[{"name": "d", "emptyDir": {}}, {"name": "c", "configMap": {"name": "conf"}}],
        sparkConf={"spark.executor.memory": "1g", "spark.kubernetes.driverEnv.TZ": "UTC"},
        driver={
            "tolerations": [{"key": "spark", "operator": "Exists"}],
            "affinity": {"nodeAffinity": {}},
            "labels": {"serviceAccount": "a label, not a field", "hostPath": "x"},
            "securityContext": {"runAsUser": 185, "runAsNonRoot": True, "privileged": False},
            "env": [{"name": "TZ", "value": "UTC"}],
            "secrets": [{"name": "s3", "path": "/mnt/s3", "secretType": "Generic"}],
            "hostNetwork": False,
        },
    )
    assert refused(honest) == []
    assert refused({"metadata": {"labels": {"sparkoperator.k8s.io/app-name": "b"}}, "spec": {}}) == [
        "metadata.labels.sparkoperator.k8s.io/app-name"
    ]


def test_the_operator_allows_rules_by_glob_and_service_accounts_by_name() -> None:
    body = app(
        volumes=[{"name": "h", "hostPath": {"path": "/data"}}],
        driver={"hostNetwork": True, "serviceAccount": "spark", "securityContext": {"privileged": True}},
        executor={"hostNetwork": True, "serviceAccount": "admin"},
        sparkConf={
            "spark.kubernetes.authenticate.driver.serviceAccountName": "spark",
            "spark.kubernetes.driver.volumes.hostPath.h.mount.path": "/data",
        },
    )
    policy = SpecPolicy.build(
        [
            "spec.volumes.hostPath",
            "spec.*.hostNetwork",
            "spec.sparkConf.spark.kubernetes.*.volumes.hostPath.*",
        ],
        service_accounts=["spark"],
    )
    assert refused(body, policy) == ["spec.driver.securityContext.privileged", "spec.executor.serviceAccount"]
    (violation,) = SpecPolicy.build().violations(app(volumes=[{"name": "h", "hostPath": {"path": "/"}}]))
    assert violation.rule == "spec.volumes.hostPath"
    assert "gateway.allowedSpecFields: [spec.volumes.hostPath]" in violation.describe()


def test_odd_shapes_are_judged_not_crashed_on() -> None:
    odd = app(
        driver={
            "env": [{"name": ["HADOOP_USER_NAME"]}, "x", {"value": 1}],
            "serviceAccount": 7,
            "securityContext": [],
        },
        executor={"securityContext": {"capabilities": "ALL", "runAsUser": False, "windowsOptions": "x"}},
        volumes={"hostPath": {"path": "/"}},
    )
    assert refused(odd) == []  # shapes the CRD refuses (the API server answers 422)


def test_conf_keys_cannot_smuggle_a_value() -> None:
    # The operator runs spark-submit --conf "key=value": a key holding '=' would set another key.
    body = app(sparkConf={"spark.kubernetes.namespace=kube-system": "", "spark.app.name ": "x"})
    assert refused(body) == [
        "spec.sparkConf.spark.kubernetes.namespace=kube-system",
        "spec.sparkConf.spark.app.name ",
    ]
