"""Copying driver logs from the driver pod into the database, so they outlive the pod.

The spark-operator keeps a finished driver pod only until the SparkApplication is deleted (by a user, a
gateway DELETE or `timeToLiveSeconds`), and a rerun deletes the previous attempt's pod; the seed gateway
then has nothing to show. The SparkManager therefore copies each driver's log into `application_logs`:
every `logCaptureSeconds` while the driver runs, and completely once the driver has finished, before the
terminal state is written. How far a pod's log has been copied is kept in the row's `backend_ref`
(`driverLog: {submission, lines, complete}`), updated in the same transaction as the lines, so a
restarted SparkManager neither loses nor duplicates lines. A rerun (new `submissionID`) starts a new
section of the stored log.

A copy reads the pod's whole log (the API offers no offset); stored lines are trimmed to
`logRetentionLines` as for every backend.
"""

from __future__ import annotations

import logging
from typing import Any

from spark_gateway.backends.kubernetes.driver_pod import driver_pod_name
from spark_gateway.backends.kubernetes.k8s_api import K8sApi
from spark_gateway.db import repository as repo
from spark_gateway.db.engine import Database
from spark_gateway.domain.errors import NotFound

log = logging.getLogger(__name__)

REF_KEY = "driverLog"
PREFIX = "spark-gateway: "  # lines of the gateway's own in a stored log


class DriverLogCopier:
    """Copies new driver log lines of one cluster's applications into the database."""

    def __init__(self, k8s: K8sApi, db: Database, *, keep: int) -> None:
        self.k8s = k8s
        self.db = db
        self.keep = keep
        self.lines_copied = 0

    async def _progress(self, gateway_id: str) -> dict[str, Any] | None:
        async with self.db.transaction() as session:
            row = await repo.get_application(session, gateway_id, include_deleted=True)
            if row is None:
                return None
            return dict((row.backend_ref or {}).get(REF_KEY) or {})

    async def copy(self, gateway_id: str, app: dict[str, Any], *, final: bool) -> bool:
        """Copy what is new; `final` once the driver has finished. True when nothing is left to copy."""
        status = app.get("status") or {}
        submission = str(status.get("submissionID") or "")
        progress = await self._progress(gateway_id)
        if progress is None:
            return True  # not an application of this gateway's database
        if progress.get("submission") == submission and progress.get("complete"):
            return True
        lines = await self.k8s.driver_log(app)  # Unavailable propagates: the caller retries later
        async with self.db.transaction() as session:
            row = await repo.get_application(session, gateway_id, include_deleted=True, for_update=True)
            if row is None:
                return True
            ref = dict(row.backend_ref or {})
            progress = dict(ref.get(REF_KEY) or {})
            if progress.get("submission") == submission and progress.get("complete"):
                return True  # another writer finished it meanwhile
            same = progress.get("submission") == submission
            start = int(progress.get("lines", 0)) if same else 0
            new: list[str] = []
            if not same and progress.get("lines"):
                attempt = status.get("submissionAttempts", "?")
                new.append(f"{PREFIX}--- driver log of submission attempt {attempt} ({submission}) ---")
            if lines is None:
                if final and start == 0:
                    pod = driver_pod_name(app)
                    new.append(f"{PREFIX}the driver log is not available (pod {pod} has no log)")
                total = start
            else:
                if len(lines) < start:  # a different log under the same submission: copy it again
                    new.append(f"{PREFIX}--- the driver log restarted ---")
                    start = 0
                new += lines[start:]
                total = len(lines)
            await repo.append_log_lines(session, gateway_id, new, keep=self.keep)
            ref[REF_KEY] = {"submission": submission, "lines": total, "complete": final}
            await repo.save(session, row, backend_ref=ref)
        self.lines_copied += len(new)
        return final

    async def read(self, namespace: str, name: str, lines: int) -> list[str]:
        """The last `lines` lines: live from the driver pod, else as saved; 404 if neither knows it."""
        try:
            app: dict[str, Any] | None = await self.k8s.get_app(namespace, name)
        except NotFound:
            app = None
        if app is not None and lines > 0:
            live = await self.k8s.driver_log(app, lines)
            if live is not None:
                return live
        stored = await self.stored_tail(name, lines)
        if stored is None and app is None:
            raise NotFound(f'sparkapplications.sparkoperator.k8s.io "{name}" not found')
        return stored or []

    async def stored_tail(self, gateway_id: str, lines: int) -> list[str] | None:
        """The last `lines` stored lines, or None when the database does not know the application."""
        async with self.db.transaction() as session:
            if await repo.get_application(session, gateway_id, include_deleted=True) is None:
                return None
            total = await repo.count_log_lines(session, gateway_id)
            return await repo.read_log(session, gateway_id, offset=max(0, total - lines), size=lines)
