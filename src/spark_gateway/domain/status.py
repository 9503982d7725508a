"""The parts of a SparkApplication's `status` the gateway reads (the spark-operator's field names).

Typed views, not a schema: the operator may add fields, and the gateway keeps whatever it is given.
"""

from __future__ import annotations

from typing import Any, TypedDict, cast

from spark_gateway.domain.states import AppState


class ApplicationStateInfo(TypedDict, total=False):
    state: str  # an `AppState` value; "" while New
    errorMessage: str


class DriverInfo(TypedDict, total=False):
    podName: str
    webUIAddress: str
    webUIPort: int
    webUIServiceName: str
    webUIIngressName: str
    webUIIngressAddress: str


class SparkApplicationStatus(TypedDict, total=False):
    applicationState: ApplicationStateInfo
    driverInfo: DriverInfo
    sparkApplicationId: str
    submissionID: str
    submissionAttempts: int
    executionAttempts: int
    lastSubmissionAttemptTime: str
    terminationTime: str
    executorState: dict[str, str]


def status_of(obj: dict[str, Any]) -> SparkApplicationStatus:
    """The `status` of a SparkApplication object as Kubernetes returns it (empty when it has none)."""
    return cast(SparkApplicationStatus, obj.get("status") or {})


def state_of(obj: dict[str, Any]) -> AppState:
    """The operator state of a SparkApplication object (New when it has none yet)."""
    return AppState.parse((status_of(obj).get("applicationState") or {}).get("state"))
