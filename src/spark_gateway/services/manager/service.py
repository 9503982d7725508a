"""The SparkManager: one per Kubernetes cluster, the only component that talks to that cluster.

It serves the gateway's create/get/list/delete/logs calls straight from the Kubernetes API (consistent
reads; nothing waits for the database), and follows every SparkApplication carrying
`selectorKey=selectorValue` with a `SparkAppWatch` (list, watch from the resourceVersion, relist on 410,
bounded backoff). The watch only updates `cache` (the newest object per application, which also feeds
the metrics) and marks the application in a keyed work queue (`queue`); `statusWorkers` writers
take keys off it, one worker per key at a time, so a slow database never stalls the watch and never
reorders one application's updates. A writer takes every ready key (up to `STATUS_BATCH`) and records
their statuses in one transaction, so the slower the database, the more each commit carries; it goes
through the state machine (`status`), walking through states the watch could not see (a relist after
410, or updates coalesced while the database was slow); once a driver has finished it first copies the
rest of its log (`logs`). Failures requeue the key with backoff; the cache keeps the newest object, so
no change is lost.

Copying running drivers' logs every `logCaptureSeconds` touches every running application, so it has
a keyed queue and `logWorkers` workers of its own, paced to `logCopiesPerSecond` copies a second
together (each copy asks the API server for the pod and its log; the kubelet serves the log): with
thousands of running drivers a round takes longer than the interval (N / logCopiesPerSecond seconds;
the next round follows, as a driver's key is queued once), and the manager's event loop, the API server
and the database keep their time for status changes. A per-key lock keeps a log copy and a status
write's final copy of one application apart. Status writes come first: while more changes wait
than one batch takes, no running-log copy starts.

One thing cannot wait for a writer: an event showing that a driver has ended starts the final copy of
its log at once (a named task, at most `statusWorkers` at a time), because the operator deletes a
failed driver pod as soon as its retry is due, and a writer may only get to the key after the rerun.
The key's writer waits for that copy before anything else, so an attempt's lines precede the next's.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from spark_gateway.backends.kubernetes.k8s_api import K8sApi
from spark_gateway.backends.kubernetes.watch import SparkAppWatch
from spark_gateway.db import repository as repo
from spark_gateway.db.availability import is_unavailable
from spark_gateway.db.engine import Database
from spark_gateway.domain.errors import BadRequest, NotFound, Unavailable
from spark_gateway.domain.ids import parse_gateway_id
from spark_gateway.domain.status import state_of
from spark_gateway.services.manager.logs import DriverLogCopier
from spark_gateway.services.manager.objects import (
    DRIVER_DONE,
    DRIVER_RUNNING,
    FINAL_COPY,
    Key,
    fingerprint,
    key_of,
    strip,
    version,
)
from spark_gateway.services.manager.queue import KeyedLocks, KeyedWorkers, Pace
from spark_gateway.services.manager.status import DELETED_MESSAGE, KILLED_MESSAGE, StatusRecorder
from spark_gateway.services.supervision.loops import Periodic
from spark_gateway.settings import ClusterConfig, Settings

log = logging.getLogger(__name__)

MAX_PERMANENT_FAILURES = 5
STATUS_BATCH = 100  # status changes written in one transaction, when that many are waiting


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, Unavailable) or is_unavailable(exc)


class ManagerService:
    def __init__(self, settings: Settings, cluster: ClusterConfig, k8s: K8sApi, db: Database) -> None:
        conf = settings.sparkManager
        self.settings, self.cluster, self.k8s, self.db = settings, cluster, k8s, db
        selector = settings.selector()
        self.label_selector = f"{selector[0]}={selector[1]}" if selector else None
        self.watch = SparkAppWatch(
            k8s,
            on_event=self.on_event,
            on_snapshot=self.on_snapshot,
            label_selector=self.label_selector,
            watch_timeout_seconds=conf.watchTimeoutSeconds,
            name=f"watch:{cluster.name}",
        )
        self.logs = DriverLogCopier(k8s, db, keep=settings.retention.log_lines)
        self.status = StatusRecorder(db, cluster.id, keep=settings.retention.log_lines)
        self.cache: dict[Key, dict[str, Any]] = {}
        self.synced = False  # a first list has been received
        name = cluster.name
        self.work: KeyedWorkers[Key] = KeyedWorkers(
            self.process,
            transient=_transient,
            name=f"status-writer:{name}",
            count=conf.statusWorkers,
            batch=STATUS_BATCH,
        )
        self.work.queue.short = STATUS_BATCH  # more waiting: status writes are behind (log copies wait)
        self.log_work: KeyedWorkers[Key] = KeyedWorkers(
            self.copy_running_logs, transient=_transient, name=f"log-copier:{name}", count=conf.logWorkers
        )
        self.log_pace = Pace(conf.logCopiesPerSecond)
        self._exclusive: KeyedLocks[Key] = KeyedLocks()
        self._gone: dict[Key, dict[str, Any]] = {}  # deleted from the cluster, not yet recorded
        self._written: dict[Key, str] = {}
        self._log_complete: dict[Key, str] = {}
        self._deleting: set[Key] = set()  # deleted through the API, not yet recorded
        self._finals: dict[Key, asyncio.Task[None]] = {}  # final log copies started by the watch
        self._final_slots = asyncio.Semaphore(conf.statusWorkers)
        self._periodic: list[Periodic] = []

    # The REST API's operations ---------------------------------------------------------------------

    def _check_namespace(self, namespace: str) -> None:
        if self.cluster.namespace_by_name(namespace) is None:
            raise BadRequest(f"namespace '{namespace}' is not configured for cluster '{self.cluster.name}'")

    async def create(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check_namespace(namespace)
        meta = dict(body.get("metadata") or {})
        if meta.setdefault("namespace", namespace) != namespace or meta.setdefault("name", name) != name:
            raise BadRequest("metadata.namespace and metadata.name must match the request path")
        labels = dict(meta.get("labels") or {})
        if selector := self.settings.selector():  # without it the watch would never see the application
            labels[selector[0]] = selector[1]
        created = await self.k8s.create_app(namespace, {**body, "metadata": {**meta, "labels": labels}})
        if not created.get("status"):  # the gateway has stored it as New already: nothing to write
            self._written.setdefault((namespace, name), fingerprint({}))
        await self.on_event("ADDED", created)  # metrics count it at once
        return created

    async def get(self, namespace: str, name: str) -> dict[str, Any]:
        obj = await self.k8s.get_app(namespace, name)
        obj.get("metadata", {}).pop("managedFields", None)
        return obj

    async def list_apps(self, namespace: str) -> list[dict[str, Any]]:
        return (await self.k8s.list_apps(namespace, self.label_selector)).items

    async def delete(self, namespace: str, name: str) -> None:
        """Delete the object; its row is settled as "killed by user" (by the gateway or the writer,
        whichever comes first, with the same words), never as "deleted from the cluster"."""
        key = (namespace, name)
        self._deleting.add(key)
        try:
            await self.k8s.delete_app(namespace, name)
        except BaseException:
            self._deleting.discard(key)
            raise
        await self.on_event("DELETED", {"metadata": {"namespace": namespace, "name": name}})

    async def driver_log(self, namespace: str, name: str, lines: int) -> list[str]:
        return await self.logs.read(namespace, name, lines)

    # Following the cluster -------------------------------------------------------------------------

    async def on_event(self, event_type: str, obj: dict[str, Any]) -> None:
        key = key_of(obj)
        strip(obj)
        if event_type == "DELETED":
            self.cache.pop(key, None)
            self._gone[key] = obj
        else:
            cached = self.cache.get(key)
            if cached is None or version(obj) >= version(cached):
                self.cache[key] = obj
                self._start_final_copy(key, obj)
        self.work.add(key)

    def _start_final_copy(self, key: Key, obj: dict[str, Any]) -> None:
        submission = str((obj.get("status") or {}).get("submissionID") or "")
        if (
            state_of(obj) not in DRIVER_DONE
            or key in self._finals
            or self._log_complete.get(key) == submission
            or not self._is_ours(key[1])
        ):
            return
        name = f"final-log-copy:{key[1]}"
        self._finals[key] = asyncio.create_task(self._final_copy(key, obj, submission), name=name)

    async def _final_copy(self, key: Key, obj: dict[str, Any], submission: str) -> None:
        async with self._final_slots:
            try:
                await self._copy_final(key, obj, submission)
            except Exception as exc:  # the key's writer copies again, with its retries
                log.warning("final copy of the driver log of %s failed: %s", key[1], exc)

    async def _copy_final(self, key: Key, obj: dict[str, Any], submission: str) -> None:
        """Copy the rest of an ended attempt's driver log; once complete, not again for `submission`."""
        async with self._exclusive.hold(key):
            if await self.logs.copy(key[1], obj, final=True):
                self._log_complete[key] = submission

    async def on_snapshot(self, items: list[dict[str, Any]]) -> None:
        fresh = {key_of(strip(obj)): obj for obj in items}
        for key, obj in self.cache.items():
            if key not in fresh:
                self._gone[key] = obj
        self.cache = fresh
        self.synced = True
        for key in [*self._gone, *fresh]:
            self.work.add(key)
        # Rows this cluster left running while no one watched, whose object has disappeared since.
        try:
            async with self.db.transaction() as session:
                rows = await repo.active_applications(session, self.cluster.id)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("database unavailable; vanished applications are looked for at the next list")
            return
        for key in [(r.namespace, r.gateway_id) for r in rows if (r.namespace, r.gateway_id) not in fresh]:
            self._gone.setdefault(key, {"metadata": {"namespace": key[0], "name": key[1]}})
            self.work.add(key)

    def _is_ours(self, name: str) -> bool:
        try:
            return parse_gateway_id(name).cluster_id == self.cluster.id
        except BadRequest:
            return False  # carries the label, but was not created through the gateway

    async def process(self, keys: list[Key]) -> None:
        """Bring the database up to date with these applications (a status writer's unit of work):
        their status changes in one transaction."""
        due: list[tuple[Key, dict[str, Any], str]] = []
        for key in keys:
            obj = await self._prepare(key)
            written = fingerprint((obj or {}).get("status") or {})
            if obj is not None and self._written.get(key) != written:
                due.append((key, obj, written))
        if due:
            await self.status.observed_many([(key[1], obj) for key, obj, _ in due])
        for key, _, written in due:
            self._written[key] = written

    async def _prepare(self, key: Key) -> dict[str, Any] | None:
        """The object whose status is to be recorded, once its finished driver's log is saved; None
        when there is nothing to record (not ours, or gone: recorded here)."""
        if not self._is_ours(key[1]):
            self._gone.pop(key, None)
            self._deleting.discard(key)
            return None
        if (started := self._finals.pop(key, None)) is not None:
            await started  # the ended attempt's last lines go before anything newer
        obj = self.cache.get(key)
        if obj is None:
            if key not in self._gone:
                return None
            try:  # a list can miss an object created while it ran: ask before declaring it gone
                obj = await self.k8s.get_app(*key)
            except NotFound:
                self._gone.pop(key, None)
                await self._record_gone(key)
                return None
            self._gone.pop(key, None)
            await self.on_event("MODIFIED", obj)
        status = obj.get("status") or {}
        submission = str(status.get("submissionID") or "")
        if state_of(obj) in FINAL_COPY and self._log_complete.get(key) != submission:
            await self._copy_final(key, obj, submission)
        return obj

    async def _record_gone(self, key: Key) -> None:
        """Deleted from the cluster (kubectl, the operator's TTL, a DELETE through this API)."""
        reason = KILLED_MESSAGE if key in self._deleting else DELETED_MESSAGE
        async with self._exclusive.hold(key):  # after a running-log copy in flight: the reason is last
            await self.status.gone(key[1], reason)
        self._deleting.discard(key)
        self._written.pop(key, None)
        self._log_complete.pop(key, None)
        self.logs.forget(key[1])

    # Workers and lifecycle ---------------------------------------------------------------------------

    async def copy_running_logs(self, keys: list[Key]) -> None:
        """Copy what running drivers printed since their last copy (a log worker's unit of work)."""
        for key in keys:
            obj = self.cache.get(key)
            if obj is None or state_of(obj) not in DRIVER_RUNNING or not self._is_ours(key[1]):
                continue
            await self.work.queue.wait_short()
            await self.log_pace.take()
            async with self._exclusive.hold(key):
                await self.logs.copy(key[1], obj, final=False)

    def mark_logs_due(self) -> None:
        for key, obj in list(self.cache.items()):
            if state_of(obj) in DRIVER_RUNNING and key not in self.log_work.failures:  # else: in backoff
                self.log_work.add(key)

    async def run_once(self) -> None:
        """Bounded mode for tests: one watch round (a list first), then every pending key, inline."""
        await self.watch.run(max_rounds=1)
        await self.drain_inline()

    async def drain_inline(self) -> None:
        await self.work.drain_inline()
        await self.log_work.drain_inline()

    async def start(self) -> None:
        conf = self.settings.sparkManager
        name, resync, logs = self.cluster.name, conf.watchResyncSeconds, conf.logCaptureSeconds
        self.work.start()
        self.log_work.start()
        self._periodic = [Periodic(f"resync:{name}", resync, self.watch.request_relist, initial_delay=resync)]
        if logs > 0:
            self._periodic.append(
                Periodic(f"log-ticker:{name}", logs, self.mark_logs_due, initial_delay=logs)
            )
        for periodic in self._periodic:
            periodic.start()
        self.watch.start()

    async def stop(self, timeout: float | None = None) -> None:
        """Stop watching, give pending writes `shutdownSeconds` to finish, then cancel the rest."""
        await self.watch.stop()
        for periodic in self._periodic:
            await periodic.stop(timeout=1.0)
        await self.work.stop(self.settings.sparkManager.shutdownSeconds if timeout is None else timeout)
        await self.log_work.stop(0)  # a running driver's copy resumes where it stopped, next time
        finals, self._finals = list(self._finals.values()), {}
        for task in finals:
            task.cancel()
        await asyncio.gather(*finals, return_exceptions=True)
