"""Copying driver logs from the driver pod into the database, so they outlive the pod.

The spark-operator keeps a finished driver pod only until the SparkApplication is deleted (by a user, a
gateway DELETE or `timeToLiveSeconds`), and a rerun deletes the previous attempt's pod; the seed gateway
then has nothing to show. The SparkManager therefore copies each driver's log into `application_logs`:
every `logCaptureSeconds` while the driver runs, and completely once the driver has finished, before the
terminal state is written. How far a pod's log has been copied is kept in the row's `backend_ref`
(`driverLog: {submission, lines, complete}`), updated in the same transaction as the lines, so a
restarted SparkManager neither loses nor duplicates lines. A rerun (new `submissionID`) starts a new
section of the stored log. The copier remembers the progress it stored (read from the row only the
first time, or after another writer moved on), and a copy that finds nothing new writes nothing: a
round over thousands of quiet drivers then costs the database nothing.

A rerun gives the new driver pod the old one's name, and the operator deletes the failed driver as soon
as its retry is due (often at once), so the manager may see the failure only after the new attempt's
pod exists, or not at all. A pod is read only for the attempt whose `submission-id` label it carries,
so one attempt's lines are never stored as another's (or twice); what could not be read before the
pod went is said in the stored log (`spark-gateway: ...` lines) rather than silently missing: the
last lines of an attempt whose pod was gone, and attempts never seen at all (`executionAttempts`).

A copy reads only what is new, as a stream, so a driver printing gigabytes costs the manager a bounded
amount of memory: lines are read with their kubelet timestamps (`timestamps=true`) from the second of
the last copied line (`sinceTime`, which has whole seconds), lines up to and including the last copied
one (its time, and how many lines carried exactly that time) are skipped, and the new ones are stored in
batches of at most `BATCH_BYTES` (`BATCH_LINES`), each with the progress in one transaction. A running
driver's round copies at most `ROUND_BYTES`; the final copy reads to the end. Lines are cut at
`MAX_LINE_BYTES`.
Stored lines are trimmed to `retention.logLines` as for every backend.
"""

from __future__ import annotations

import logging
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from spark_gateway.backends.kubernetes.driver_pod import driver_pod_name, pod_of_submission
from spark_gateway.backends.kubernetes.k8s_api import K8sApi
from spark_gateway.db import repository as repo
from spark_gateway.db.engine import Database
from spark_gateway.domain.errors import NotFound

log = logging.getLogger(__name__)

REF_KEY = "driverLog"
PREFIX = "spark-gateway: "  # lines of the gateway's own in a stored log


BATCH_BYTES = 1 << 20  # new lines held before they are stored (at most BATCH_LINES of them)
BATCH_LINES = 2000
ROUND_BYTES = 64 << 20  # copied per round while the driver runs; the rest in the next round
MAX_LINE_BYTES = 64 << 10  # a longer line is cut


def timestamp_ns(stamp: str) -> int | None:
    """Nanoseconds since the epoch of a kubelet log timestamp (RFC3339Nano), None if it is not one."""
    seconds, _, rest = stamp.partition(".")
    fraction = rest.removesuffix("Z") if rest else ""
    if fraction and not fraction.isdigit():
        return None
    try:
        base = datetime.fromisoformat(seconds.removesuffix("Z") + "+00:00")
    except ValueError:
        return None
    return int(base.timestamp()) * 10**9 + int((fraction or "0").ljust(9, "0")[:9])


def since_second(ns: int) -> str:
    return datetime.fromtimestamp(ns // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Cursor:
    """Where a copy stands in one pod's log: the last copied line's time, how many lines carried it."""

    at: int | None = None
    at_count: int = 0
    skip: int = 0  # lines to skip from the start (progress stored before cursors existed)
    _seen_at: int = 0  # lines read this round with time == `at` as it was when the round started

    def feed(self, line: str) -> str | None:
        """The line's text when it is new (the cursor moves past it), else None."""
        stamp, _, content = line.partition(" ")
        ns = timestamp_ns(stamp)
        if ns is None:
            return line  # not timestamped (an odd runtime): kept as it is
        if self.at is not None and ns < self.at:
            return None
        if ns == self.at:
            self._seen_at += 1
            if self._seen_at <= self.at_count:
                return None
            self.at_count += 1
            self._seen_at = self.at_count
            return content
        self.at, self.at_count, self._seen_at = ns, 1, 1
        if self.skip > 0:
            self.skip -= 1
            return None
        return content

    def state(self) -> dict[str, Any]:
        return {"since": self.at, "atSince": self.at_count}


def _lost(progress: dict[str, Any], attempt: int) -> list[str]:
    """Notes for what earlier attempts left uncopied, before attempt `attempt`'s lines start."""
    notes = []
    previous = progress.get("submission")
    if previous and not progress.get("complete"):
        notes.append(
            f"{PREFIX}the driver log of submission {previous} may lack its last lines: "
            "its pod was gone before they were copied"
        )
    copied = int(progress.get("attempt", attempt - 1)) if previous else 0
    if attempt - 1 - copied > 0:
        notes.append(
            f"{PREFIX}the driver log of {attempt - 1 - copied} earlier attempt(s) was not copied: "
            "the pods were gone before the SparkManager saw them"
        )
    return notes


class DriverLogCopier:
    """Copies new driver log lines of one cluster's applications into the database."""

    def __init__(self, k8s: K8sApi, db: Database, *, keep: int, round_bytes: int = ROUND_BYTES) -> None:
        self.k8s = k8s
        self.db = db
        self.keep = keep
        self.round_bytes = round_bytes
        self.lines_copied = 0
        self.stores = 0  # transactions that stored lines or progress
        self._stored: dict[str, dict[str, Any]] = {}  # the progress this copier last read or stored

    async def _progress(self, gateway_id: str) -> dict[str, Any] | None:
        if (known := self._stored.get(gateway_id)) is not None:
            return known
        async with self.db.transaction() as session:
            row = await repo.get_application(session, gateway_id, include_deleted=True)
            if row is None:
                return None
            progress = self._stored[gateway_id] = dict((row.backend_ref or {}).get(REF_KEY) or {})
            return progress

    def forget(self, gateway_id: str) -> None:
        """The application is gone: its progress need not be remembered any more."""
        self._stored.pop(gateway_id, None)

    async def copy(self, gateway_id: str, app: dict[str, Any], *, final: bool) -> bool:
        """Copy what is new; `final` once the driver has finished. True when nothing is left to copy."""
        status = app.get("status") or {}
        submission = str(status.get("submissionID") or "")
        progress = await self._progress(gateway_id)
        if progress is None:
            return True  # not an application of this gateway's database
        if progress.get("submission") == submission and progress.get("complete"):
            return True
        pod = await self.k8s.driver_pod(app)  # Unavailable propagates: the caller retries later
        if pod is not None and not pod_of_submission(pod, submission):
            pod = None  # the next attempt's driver under the same name: this attempt's pod is gone
        uid = str(((pod or {}).get("metadata") or {}).get("uid") or "") if pod else progress.get("pod")
        same = progress.get("submission") == submission
        attempt = int(status.get("executionAttempts") or 1)
        notes: list[str] = [] if same else _lost(progress, attempt)
        if not same and (progress.get("lines") or notes):
            attempt = status.get("submissionAttempts", "?")
            notes.append(f"{PREFIX}--- driver log of submission attempt {attempt} ({submission}) ---")
        restarted = same and pod is not None and progress.get("pod") not in (None, uid)
        if restarted:  # a different pod under the same submission: its log from the start
            notes.append(f"{PREFIX}--- the driver log restarted ---")
        if same and not restarted:
            legacy = progress.get("lines") and "pod" not in progress  # stored before cursors existed
            cursor = Cursor(progress.get("since"), int(progress.get("atSince", 0)))
            cursor.skip = int(progress.get("lines", 0)) if legacy else 0
        else:
            cursor = Cursor()
        total = int(progress.get("lines", 0)) if same else 0
        expected = progress  # what a batch finds stored, else another writer moved on: stop
        if pod is None:
            if same and not final and not notes:
                return False  # no pod (yet, or any more): nothing to copy, nothing to record
            if final and total == 0:
                notes.append(
                    f"{PREFIX}the driver log is not available (pod {driver_pod_name(app)} has no log)"
                )
            elif final:
                notes.append(
                    f"{PREFIX}the driver log may lack its last lines: "
                    "its pod was gone before they were copied"
                )
            stored = await self._store(
                gateway_id, expected, notes, (submission, attempt), total, cursor, uid, final
            )
            return stored is not None and final
        since = since_second(cursor.at) if cursor.at is not None else None
        batch, size, read, more = notes, 0, 0, False
        lines = self.k8s.pod_log_stream(
            app["metadata"]["namespace"],
            driver_pod_name(app),
            since_time=since,
            max_line_bytes=MAX_LINE_BYTES,
        )
        async with aclosing(lines):
            async for line in lines:
                text = cursor.feed(line)
                if text is None:
                    continue  # copied before (skipping costs reading, never memory)
                batch.append(text)
                size += len(text)
                read += len(text)
                total += 1
                if size >= BATCH_BYTES or len(batch) >= BATCH_LINES:
                    stored = await self._store(
                        gateway_id, expected, batch, (submission, attempt), total, cursor, uid, False
                    )
                    if stored is None:
                        return False
                    expected, batch, size = stored, [], 0
                if not final and read >= self.round_bytes:
                    more = True
                    break
        done = final and not more
        stored = await self._store(
            gateway_id, expected, batch, (submission, attempt), total, cursor, uid, done
        )
        return stored is not None and done

    async def _store(
        self,
        gateway_id: str,
        expected: dict[str, Any],
        lines: list[str],
        run: tuple[str, int],  # (submission id, execution attempt)
        total: int,
        cursor: Cursor,
        uid: str | None,
        complete: bool,
    ) -> dict[str, Any] | None:
        """Store lines with the progress they reach, if the stored progress is still `expected`; the new
        progress, or None when another writer moved on (or the application is gone). Nothing new (no
        line, the same progress): nothing to write."""
        progress = {"submission": run[0], "attempt": run[1], "lines": total, "complete": complete, "pod": uid}
        progress |= cursor.state()
        if not lines and progress == expected:
            return progress
        self._stored.pop(gateway_id, None)  # known again once this transaction has committed
        async with self.db.transaction() as session:
            row = await repo.get_application(session, gateway_id, include_deleted=True, for_update=True)
            if row is None:
                return None
            ref = dict(row.backend_ref or {})
            if dict(ref.get(REF_KEY) or {}) != expected:
                log.info("driver log of %s was copied meanwhile by another writer", gateway_id)
                return None
            await repo.append_log_lines(session, gateway_id, lines, keep=self.keep)
            ref[REF_KEY] = progress
            await repo.save(session, row, backend_ref=ref)
        self._stored[gateway_id] = progress
        self.lines_copied += len(lines)
        self.stores += 1
        return progress

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
