"""Livy requests become SparkApplications that the real CRD schema accepts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from spark_gateway.domain.livy import LivyBatchRequest, to_spark_application
from spark_gateway.domain.sparkapp import (
    ANNOTATION_APPLICATION_NAME,
    LABEL_CLUSTER,
    LABEL_LIVY_BATCH_ID,
    LABEL_USER,
    SparkApplication,
    metadata_problems,
    stamp,
)
from tests.support.crd import validate_spark_application

FULL = {
    "file": "local:///opt/app/main.py",
    "proxyUser": "alice",
    "className": "org.example.Main",
    "args": ["--n", "10"],
    "jars": ["local:///a.jar"],
    "pyFiles": ["local:///b.py"],
    "files": ["local:///c.txt"],
    "archives": ["local:///d.zip"],
    "driverMemory": "1g",
    "driverCores": 2,
    "executorMemory": "2g",
    "executorCores": 3,
    "numExecutors": 4,
    "queue": "etl",
    "name": "nightly",
    "conf": {"spark.sql.shuffle.partitions": 1000000, "spark.x.enabled": True, "spark.y": "z"},
}


def build(payload: dict, batch_id: int | None = 7) -> SparkApplication:
    app = to_spark_application(
        LivyBatchRequest.model_validate(payload), namespace="default", spark_version="4.0.0"
    )
    return stamp(
        app,
        gateway_id="local-dflt-0190f0f0-0000-7000-8000-000000000000",
        cluster_name="local",
        user="alice",
        proxy_user=payload.get("proxyUser"),
        selector=("spark-gateway/managed-by", "spark-gateway"),
        livy_batch_id=batch_id,
    )


def test_full_request_maps_every_field_and_validates_against_the_crd() -> None:
    app = build(FULL)
    body = app.to_k8s()
    validate_spark_application(body)
    spec = body["spec"]
    assert spec["type"] == "Python" and spec["mode"] == "cluster"
    assert spec["mainApplicationFile"] == FULL["file"]
    assert spec["mainClass"] == "org.example.Main"
    assert spec["arguments"] == ["--n", "10"]
    assert spec["sparkConf"] == {
        "spark.sql.shuffle.partitions": "1000000",
        "spark.x.enabled": "true",
        "spark.y": "z",
    }
    assert spec["driver"] == {"cores": 2, "coreLimit": "2", "memory": "1g"}
    assert spec["executor"] == {"cores": 3, "coreLimit": "3", "memory": "2g", "instances": 4}
    assert spec["deps"] == {
        "jars": ["local:///a.jar"],
        "files": ["local:///c.txt"],
        "pyFiles": ["local:///b.py"],
        "archives": ["local:///d.zip"],
    }
    assert spec["proxyUser"] == "alice"
    assert spec["batchSchedulerOptions"] == {"queue": "etl"}
    meta = body["metadata"]
    assert meta["name"] == "local-dflt-0190f0f0-0000-7000-8000-000000000000"
    assert meta["annotations"] == {ANNOTATION_APPLICATION_NAME: "nightly"}
    assert meta["labels"][LABEL_CLUSTER] == "local"
    assert meta["labels"][LABEL_USER] == "alice"
    assert meta["labels"][LABEL_LIVY_BATCH_ID] == "7"
    assert meta["labels"]["spark-gateway/managed-by"] == "spark-gateway"


def test_minimal_request_leaves_resources_unset_and_validates() -> None:
    body = build({"file": "/jobs/app.jar"}, batch_id=None).to_k8s()
    validate_spark_application(body)
    assert body["spec"]["type"] == "Java"
    assert body["spec"]["driver"] == {} and body["spec"]["executor"] == {}
    assert "sparkConf" not in body["spec"] and "deps" not in body["spec"]
    assert LABEL_LIVY_BATCH_ID not in body["metadata"]["labels"]


@pytest.mark.parametrize(
    "payload",
    [
        {"file": "x.py", "ttl": "5m"},
        {"file": 3},
        {"file": "x.py", "driverCores": "2"},
        {"file": "x.py", "numExecutors": 0},
        {"file": "x.py", "args": "not-a-list"},
        {"file": "x.py", "conf": {"k": {"nested": 1}}},
    ],
)
def test_livy_rejects_what_livy_rejects(payload: dict) -> None:
    with pytest.raises(ValidationError):
        LivyBatchRequest.model_validate(payload)


def test_user_labels_kubernetes_would_reject_are_found() -> None:
    app = SparkApplication.model_validate(
        {
            "metadata": {"namespace": "Bad_NS", "labels": {"ok": "fine", "bad key!": "v", "k": "x" * 64}},
            "spec": {"type": "Python", "sparkVersion": "4", "mainApplicationFile": "/a.py"},
        }
    )
    problems = metadata_problems(app)
    assert len(problems) == 3
