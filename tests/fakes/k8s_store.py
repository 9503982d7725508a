"""The fake API server's state and rules, without HTTP: objects, resourceVersions, watch history, errors.

Kept apart from the HTTP layer (`k8s_server.py`) so the rules read like the API server's: one global
resourceVersion bumped by every write, a bounded event history (older resourceVersions answer 410
Expired), status stripped on create and written only through `write_status`, SparkApplications checked
against the real CRD, and pods garbage-collected with their owner. Everything here runs on the server's
event loop; nothing awaits, so each method is atomic with respect to watch streams.
"""

from __future__ import annotations

import asyncio
import copy
import re
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.support.crd import CRDValidationError, unknown_fields, validate_spark_application

GROUP, VERSION, KIND, PLURAL = "sparkoperator.k8s.io", "v1beta2", "SparkApplication", "sparkapplications"
API_VERSION = f"{GROUP}/{VERSION}"
DRIVER_CONTAINER = "spark-kubernetes-driver"
DROP, CLOSE = object(), object()  # watch-queue sentinels: break the stream / end it cleanly

Key = tuple[str, str]
_REQUIREMENT = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[A-Za-z0-9][-A-Za-z0-9_./]*)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<val>[-A-Za-z0-9_.]*)|\s(?P<setop>in|notin)\s*\((?P<vals>[^()]*)\))?\s*$"
)


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_nano(ns: int) -> str:
    """Go's RFC3339Nano, as the kubelet stamps log lines: nanoseconds, trailing zeros dropped."""
    seconds, fraction = divmod(ns, 10**9)
    base = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{fraction:09d}".rstrip("0")
    return f"{base}.{digits}Z" if digits else f"{base}Z"


class K8sError(Exception):
    """An API error, rendered as a `Status` body."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict[str, Any]:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
        body |= {"message": self.message, "reason": self.reason, "code": self.code}
        return body | ({"details": self.details} if self.details else {})


def not_found(name: str, plural: str = PLURAL, group: str = GROUP) -> K8sError:
    qualified = f"{plural}.{group}" if group else plural
    details = {"name": name, "kind": plural} | ({"group": group} if group else {})
    return K8sError(404, "NotFound", f'{qualified} "{name}" not found', details)


Requirement = tuple[str, str, frozenset[str]]


def parse_selector(text: str) -> list[Requirement]:
    """Equality- and set-based label selectors (`a=b,c!=d,e,!f,g in (h,i)`), 400 when malformed."""
    requirements: list[Requirement] = []
    for part in re.split(r",(?![^()]*\))", text) if text.strip() else []:
        match = _REQUIREMENT.match(part)
        if match is None or (match["neg"] and (match["op"] or match["setop"])):
            raise K8sError(400, "BadRequest", f"unable to parse requirement: found '{part}'")
        if match["op"]:
            op, values = ("!=" if match["op"] == "!=" else "="), frozenset({match["val"]})
        elif match["setop"]:
            op, values = match["setop"], frozenset(v.strip() for v in match["vals"].split(","))
        else:
            op, values = ("!" if match["neg"] else "exists"), frozenset()
        requirements.append((match["key"], op, values))
    return requirements


def selector_matches(requirements: list[Requirement], labels: dict[str, str]) -> bool:
    for key, op, values in requirements:
        value = labels.get(key)
        ok = {
            "=": value in values,
            "!=": value not in values,
            "in": value in values,
            "notin": value not in values,
            "exists": key in labels,
            "!": key not in labels,
        }[op]
        if not ok:
            return False
    return True


@dataclass(eq=False)
class Watcher:
    namespace: str | None
    selector: list[Requirement]
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)

    def matches(self, obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata", {})
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        return selector_matches(self.selector, meta.get("labels") or {})


class K8sStore:
    def __init__(
        self,
        *,
        history_limit: int = 1000,
        bookmark_interval: float = 1.0,
        namespaces: set[str] | None = None,
        token: str | None = None,
    ) -> None:
        self.history_limit, self.bookmark_interval = history_limit, bookmark_interval
        self.namespaces = namespaces  # None: every namespace exists
        self.token = token  # when set, requests need `Authorization: Bearer <token>`
        self.apps: dict[Key, dict[str, Any]] = {}
        self.pods: dict[Key, dict[str, Any]] = {}
        self.logs: dict[Key, list[str]] = {}
        self.log_times: dict[Key, list[int]] = {}  # ns since the epoch per line, given when first served
        self.rv = 1000
        self.history: deque[tuple[int, str, dict[str, Any]]] = deque()
        self.compacted_rv = self.rv  # a watch from an older resourceVersion gets 410 Expired
        self.watchers: set[Watcher] = set()
        self.rejected: list[tuple[dict[str, Any], str]] = []
        self.warnings: list[str] = []
        self.failures: tuple[int, int] = (0, 503)  # (how many requests to fail, with which code)
        self.lost_creates = 0  # how many creates to store and then answer 504 (the answer is lost)

    def next_rv(self) -> str:
        self.rv += 1
        return str(self.rv)

    def emit(self, event_type: str, obj: dict[str, Any]) -> None:
        snapshot = copy.deepcopy(obj)
        self.history.append((self.rv, event_type, snapshot))
        while len(self.history) > self.history_limit:
            self.compacted_rv = self.history.popleft()[0]
        for watcher in list(self.watchers):
            if watcher.matches(snapshot):
                watcher.queue.put_nowait((event_type, snapshot))

    # SparkApplications -----------------------------------------------------------------------------

    def create_app(
        self, namespace: str, body: Any, *, strict: bool = False
    ) -> tuple[dict[str, Any], list[str]]:
        """POST: returns the stored object and the API server's warnings (pruned unknown fields)."""
        if not isinstance(body, dict) or body.get("apiVersion") != API_VERSION or body.get("kind") != KIND:
            got = body.get("apiVersion") if isinstance(body, dict) else None
            message = f"the API version in the data ({got}) does not match the expected API version "
            message += f"({API_VERSION})"
            raise K8sError(400, "BadRequest", message)
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if (meta.get("namespace") or namespace) != namespace:
            message = "the namespace of the provided object does not match the namespace sent on the request"
            raise K8sError(400, "BadRequest", message)
        if self.namespaces is not None and namespace not in self.namespaces:
            raise not_found(namespace, "namespaces", "")
        meta["namespace"] = namespace
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        obj.pop("status", None)  # a subresource: ignored on create
        pruned = unknown_fields(obj, prune=True)
        if strict and pruned:
            message = "strict decoding error: " + ", ".join(f'unknown field "{path}"' for path in pruned)
            raise K8sError(400, "BadRequest", message)
        self.check(obj, name_required=True)
        key = (namespace, meta["name"])
        if key in self.apps:
            details = {"name": key[1], "group": GROUP, "kind": PLURAL}
            raise K8sError(409, "AlreadyExists", f'{PLURAL}.{GROUP} "{key[1]}" already exists', details)
        meta.update(uid=str(uuid.uuid4()), resourceVersion=self.next_rv(), generation=1)
        meta["creationTimestamp"] = now_rfc3339()
        self.apps[key] = obj
        self.emit("ADDED", obj)
        warnings = [f'unknown field "{path}"' for path in pruned]
        self.warnings += warnings
        return copy.deepcopy(obj), warnings

    def check(self, obj: dict[str, Any], *, name_required: bool = False) -> None:
        name = obj.get("metadata", {}).get("name")
        try:
            if name_required and not name:
                raise CRDValidationError("", [("metadata.name", "FieldValueRequired", "Required value")])
            validate_spark_application(obj, allow_unknown_fields=True)
        except CRDValidationError as exc:
            self.rejected.append((copy.deepcopy(obj), str(exc)))
            causes = [{"reason": r, "message": m, "field": f} for f, r, m in exc.problems]
            details = {"name": name or "", "group": GROUP, "kind": KIND, "causes": causes}
            raise K8sError(422, "Invalid", str(exc), details) from exc

    def write_status(self, key: Key, status: dict[str, Any]) -> dict[str, Any]:
        """What the operator's status update does; an invalid status is a bug in the caller."""
        if key not in self.apps:
            raise not_found(key[1])
        obj = copy.deepcopy(self.apps[key])
        obj["status"] = copy.deepcopy(status)
        self.check(obj)
        obj["metadata"]["resourceVersion"] = self.next_rv()
        self.apps[key] = obj
        self.emit("MODIFIED", obj)
        return copy.deepcopy(obj)

    def remove_app(self, key: Key) -> dict[str, Any]:
        obj = self.apps.pop(key, None)
        if obj is None:
            raise not_found(key[1])
        obj["metadata"]["resourceVersion"] = self.next_rv()
        self.emit("DELETED", obj)
        uid = obj["metadata"]["uid"]
        for pod_key, pod in list(self.pods.items()):
            if any(ref.get("uid") == uid for ref in pod["metadata"].get("ownerReferences", [])):
                self.remove_pod(pod_key)
        return obj

    # Pods -------------------------------------------------------------------------------------------

    def put_pod(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        meta["resourceVersion"] = self.next_rv()
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now_rfc3339())
        self.pods[(meta["namespace"], meta["name"])] = pod

    def remove_pod(self, key: Key) -> dict[str, Any]:
        pod = self.pods.pop(key, None)
        if pod is None:
            raise not_found(key[1], "pods", "")
        self.logs.pop(key, None)
        self.log_times.pop(key, None)
        self.next_rv()
        return pod

    # Test controls (sync, on the server loop) ---------------------------------------------------------

    def compact_history(self) -> None:
        self.history.clear()
        self.compacted_rv = self.rv

    def break_watches(self, abrupt: bool = True) -> None:
        for watcher in list(self.watchers):
            watcher.queue.put_nowait(DROP if abrupt else CLOSE)

    def inject_failures(self, count: int, code: int) -> None:
        self.failures = (count, code)
