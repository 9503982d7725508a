"""The SparkApplication model (`sparkoperator.k8s.io/v1beta2`) and how the gateway stamps it.

Only the fields the gateway reads or writes are typed; every other CRD field passes through untouched
(`extra="allow"`), so a native submission keeps everything the operator understands.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

API_VERSION = "sparkoperator.k8s.io/v1beta2"
KIND = "SparkApplication"

LABEL_CLUSTER = "spark-gateway/cluster"
LABEL_USER = "spark-gateway/user"
LABEL_LIVY_BATCH_ID = "spark-gateway/livy-batch-id"
ANNOTATION_APPLICATION_NAME = "applicationName"

# Kubernetes label rules: an optional DNS-subdomain prefix and a name of at most 63 characters.
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def label_key_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and not _DNS_SUBDOMAIN.fullmatch(prefix):
        return f"label key '{key}' has an invalid prefix"
    if not name or not _LABEL_NAME.fullmatch(name):
        return f"label key '{key}' is not a valid Kubernetes label name"
    return None


def label_value_problem(key: str, value: str) -> str | None:
    if not _LABEL_NAME.fullmatch(value):
        return f"label '{key}' has value '{value}', which Kubernetes would reject"
    return None


def namespace_problem(namespace: str) -> str | None:
    if not _DNS_LABEL.fullmatch(namespace):
        return f"namespace '{namespace}' is not a valid Kubernetes namespace name"
    return None


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ObjectMeta(_Open):
    name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class PodSpec(_Open):
    cores: int | None = Field(default=None, ge=1)
    coreLimit: str | None = None
    memory: str | None = None


class ExecutorSpec(PodSpec):
    instances: int | None = Field(default=None, ge=1)


class Dependencies(_Open):
    jars: list[str] | None = None
    files: list[str] | None = None
    pyFiles: list[str] | None = None
    archives: list[str] | None = None
    packages: list[str] | None = None


class BatchSchedulerOptions(_Open):
    queue: str | None = None


class SparkApplicationSpec(_Open):
    type: Literal["Java", "Python", "Scala", "R"]
    mode: Literal["cluster", "client"] | None = "cluster"
    sparkVersion: str
    mainApplicationFile: str
    mainClass: str | None = None
    arguments: list[str] | None = None
    sparkConf: dict[str, str] | None = None
    deps: Dependencies | None = None
    driver: PodSpec = Field(default_factory=PodSpec)
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)
    proxyUser: str | None = None
    image: str | None = None
    pythonVersion: Literal["2", "3"] | None = None
    batchSchedulerOptions: BatchSchedulerOptions | None = None
    timeToLiveSeconds: int | None = None


class SparkApplication(_Open):
    apiVersion: str = API_VERSION
    kind: str = KIND
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: SparkApplicationSpec
    status: dict[str, Any] | None = None

    def to_k8s(self) -> dict[str, Any]:
        """The object as the Kubernetes API expects it: no nulls, no status (a subresource)."""
        body = self.model_dump(mode="json", exclude_none=True, exclude={"status"})
        body["apiVersion"] = API_VERSION
        body["kind"] = KIND
        return body


def stamp(
    app: SparkApplication,
    *,
    gateway_id: str,
    cluster_name: str,
    user: str | None,
    proxy_user: str | None,
    selector: tuple[str, str] | None,
    livy_batch_id: int | None = None,
) -> SparkApplication:
    """Return the application as the gateway submits it: its id as name, its own labels and annotations.

    Gateway keys win over user-supplied ones; the submitted name is kept as the `applicationName`
    annotation; every other metadata field (uid, resourceVersion, ...) is dropped.
    """
    labels = dict(app.metadata.labels)
    annotations = dict(app.metadata.annotations)
    if selector is not None:
        labels[selector[0]] = selector[1]
    labels[LABEL_CLUSTER] = cluster_name
    if user:
        labels[LABEL_USER] = user
    if livy_batch_id is not None:
        labels[LABEL_LIVY_BATCH_ID] = str(livy_batch_id)
    if app.metadata.name:
        annotations[ANNOTATION_APPLICATION_NAME] = app.metadata.name
    spec = app.spec.model_copy(update={"proxyUser": proxy_user} if proxy_user else {})
    return SparkApplication(
        metadata=ObjectMeta(
            name=gateway_id, namespace=app.metadata.namespace, labels=labels, annotations=annotations
        ),
        spec=spec,
    )


def metadata_problems(app: SparkApplication) -> list[str]:
    """What Kubernetes would reject in the metadata, found before any cluster is touched."""
    problems: list[str] = []
    if app.metadata.namespace is not None and (msg := namespace_problem(app.metadata.namespace)):
        problems.append(msg)
    for key, value in app.metadata.labels.items():
        if msg := label_key_problem(key) or label_value_problem(key, value):
            problems.append(msg)
    for key in app.metadata.annotations:
        if msg := label_key_problem(key):
            problems.append(msg.replace("label", "annotation"))
    return problems
