"""What the SparkManager reads from a SparkApplication object: its key, the part of its status worth a
database write, its version, and the states that decide its driver log's copies.

Why a module of its own: the watch cache, the status writers and the log copies all judge objects by
these same rules, kept apart from the service that schedules them.
"""

from __future__ import annotations

import json
from typing import Any

from spark_gateway.domain.states import AppState

Key = tuple[str, str]  # (namespace, name)
# Fields whose change is worth a database write (executorState is not: large and noisy).
TRACKED_FIELDS = (
    "applicationState",
    "driverInfo",
    "executionAttempts",
    "lastSubmissionAttemptTime",
    "sparkApplicationId",
    "submissionAttempts",
    "submissionID",
    "terminationTime",
)
DRIVER_RUNNING = frozenset({AppState.RUNNING, AppState.UNKNOWN})
DRIVER_DONE = frozenset({AppState.SUCCEEDING, AppState.FAILING, AppState.COMPLETED, AppState.FAILED})
# PENDING_RERUN keeps the ended attempt's submissionID: its copy is final too (if the pod is still there).
FINAL_COPY = DRIVER_DONE | {AppState.PENDING_RERUN}


def key_of(obj: dict[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))


def fingerprint(status: dict[str, Any]) -> str:
    return json.dumps({k: status.get(k) for k in TRACKED_FIELDS}, sort_keys=True, default=str)


def strip(obj: dict[str, Any]) -> dict[str, Any]:
    """Without `metadata.managedFields` (as client-go's informers strip them): nothing here reads them,
    and in the cache they would be most of each object (memory, and the garbage collector's work)."""
    (obj.get("metadata") or {}).pop("managedFields", None)
    return obj


def version(obj: dict[str, Any]) -> int:
    value = str((obj.get("metadata") or {}).get("resourceVersion") or "0")
    return int(value) if value.isdigit() else 0
