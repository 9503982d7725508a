"""Which pod is an application's driver, and whether a pod really belongs to the application.

Why: the name the SparkManager reads a driver log from comes from the application itself
(`status.driverInfo.podName`, which the operator copies from `spec.driver.podName` or the Spark conf), so
an application could name another application's pod and have that pod's log served and stored as its
own. The gateway refuses such names at submission (`domain.spec_policy`), and the manager reads a log
only from a pod the application owns: an ownerReference to the SparkApplication's uid (which the
operator's webhook sets), or, on a pod without a SparkApplication owner, the operator's
`sparkoperator.k8s.io/app-name` label.
"""

from __future__ import annotations

from typing import Any

from spark_gateway.domain.status import status_of

APP_NAME_LABEL = "sparkoperator.k8s.io/app-name"
SUBMISSION_LABEL = "sparkoperator.k8s.io/submission-id"
APP_KIND = "SparkApplication"


def driver_pod_name(app: dict[str, Any]) -> str:
    """`status.driverInfo.podName`, else the operator's own rule for naming the driver pod."""
    spec = app.get("spec") or {}
    return (
        (status_of(app).get("driverInfo") or {}).get("podName")
        or (spec.get("driver") or {}).get("podName")
        or (spec.get("sparkConf") or {}).get("spark.kubernetes.driver.pod.name")
        or f"{app['metadata']['name']}-driver"
    )


def pod_belongs_to(pod: dict[str, Any], app: dict[str, Any]) -> bool:
    """Is `pod` one the operator created for `app` (same namespace assumed)?"""
    app_meta, pod_meta = app.get("metadata") or {}, pod.get("metadata") or {}
    owners = [r for r in pod_meta.get("ownerReferences") or [] if r.get("kind") == APP_KIND]
    if owners:
        uid = app_meta.get("uid")
        return bool(uid) and any(r.get("uid") == uid for r in owners)
    return (
        bool(app_meta.get("name")) and (pod_meta.get("labels") or {}).get(APP_NAME_LABEL) == app_meta["name"]
    )


def pod_of_submission(pod: dict[str, Any], submission: str) -> bool:
    """Was `pod` created by the submission attempt `submission`? A rerun gives its new driver pod the
    same name; the operator labels each with its attempt's submission id (a pod without the label,
    or an attempt without an id, cannot be told apart and counts as the attempt's own)."""
    label = ((pod.get("metadata") or {}).get("labels") or {}).get(SUBMISSION_LABEL)
    return not label or not submission or label == submission
