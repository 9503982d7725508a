"""`LocalBackend`: each SparkApplication runs as a `spark-submit` child process on this machine.

Jobs are started detached (own session, output to `<data_dir>/jobs/<gateway_id>/driver.log`, exit code
written by `runner`), so they survive the gateway process: whichever process holds the cluster's lease
re-attaches from the stored `backend_ref` and goes on reporting through its `StatusSink`.

Kill contract: `kill()` returns once no process of the job's group remains; the FAILED "killed by user"
update is reported by the next `poll` round (or `reattach`) of the instance tracking the job.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from spark_gateway.backends.base import StatusSink, StatusUpdate, SubmitResult, TrackedApplication
from spark_gateway.backends.local import jobs, launch, procs
from spark_gateway.backends.local.command import SubmitCommand, build_command, check_reserved_conf
from spark_gateway.backends.local.driverlog import query_app_id, tail_lines
from spark_gateway.backends.local.paths import AllowedDirs
from spark_gateway.domain.errors import BadRequest, ConfigError, Unavailable
from spark_gateway.domain.sessions import SECRET_ENV, secret_from_env
from spark_gateway.domain.sparkapp import SparkApplication
from spark_gateway.domain.states import AppState
from spark_gateway.domain.status import DriverInfo, SparkApplicationStatus
from spark_gateway.settings import ClusterConfig

log = logging.getLogger(__name__)

SESSION_RUNNER_FILE = Path(__file__).resolve().parents[2] / "session_runner" / "runner.py"

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_APP_ID_LOOKUP_SECONDS = 120.0  # how long after its start a job's UI is asked for the app id
_APP_ID_LOOKUP_SPACING = 0.5  # at most one UI REST request per job this often


def _default_examples_dir() -> Path | None:
    """The repository's examples/ folder when running from a checkout (or an editable install)."""
    candidate = Path(__file__).resolve().parents[4] / "examples"
    return candidate if candidate.is_dir() else None


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LocalBackend:
    """Runs applications with the local `spark-submit` (master `local[*]` or a standalone master)."""

    kind = "local"

    def __init__(
        self,
        cluster: ClusterConfig,
        data_dir: Path,
        *,
        examples_dir: Path | None = None,
        pass_proxy_user: bool = False,
        checkpoint_seconds: float = 5.0,
        secret_env: frozenset[str] = frozenset(),
    ) -> None:
        """`pass_proxy_user`: give `--proxy-user` to spark-submit (only useful with Hadoop security);
        otherwise it is recorded in `backend_ref`. `checkpoint_seconds`: how often a job's advancing
        log offset is persisted through a same-state update. `secret_env`: environment variables the
        gateway reads secrets from, never passed to a job (see `launch.job_environment`)."""
        self._cluster = cluster
        self._conf = cluster.local
        try:
            check_reserved_conf(self._conf.sparkConf, where=f"cluster '{cluster.name}' local.sparkConf")
        except BadRequest as exc:
            raise ConfigError(exc.message) from exc
        self._data_dir = Path(data_dir).resolve()
        self._jobs_root = self._data_dir / "jobs"
        if self._conf.allowedDirs:
            dirs = list(self._conf.allowedDirs)
        else:
            examples = examples_dir if examples_dir is not None else _default_examples_dir()
            dirs = [examples] if examples is not None else []
        # The database, job logs and job records are never a job's input, whatever allowedDirs says.
        self.allowed_dirs = AllowedDirs(dirs, denied=[self._data_dir])
        # Livy sessions run the gateway's own statement runner as their main file.
        self._session_dirs = AllowedDirs([*dirs, SESSION_RUNNER_FILE.parent], denied=[self._data_dir])
        self._pass_proxy_user = pass_proxy_user
        self._checkpoint_seconds = checkpoint_seconds
        self._jobs: dict[str, jobs.TrackedJob] = {}
        self._launcher = launch.Launcher(self._conf, self._jobs_root, secret_env=secret_env)
        self._http: httpx.AsyncClient | None = None
        self._closed = False

    # Submitting ---------------------------------------------------------------------------------

    def _command(self, app: SparkApplication, spark_submit: str) -> SubmitCommand:
        gateway_id = app.metadata.name or ""
        if not _SAFE_NAME.fullmatch(gateway_id):
            raise BadRequest(f"metadata.name '{gateway_id}' cannot name a local job directory")
        return build_command(
            app,
            spark_submit=spark_submit,
            master=self._conf.sparkMaster,
            allowed=self._session_dirs
            if app.spec.mainApplicationFile == str(SESSION_RUNNER_FILE)
            else self.allowed_dirs,
            cluster_conf=self._conf.sparkConf,
            pass_proxy_user=self._pass_proxy_user,
        )

    def validate(self, app: SparkApplication) -> None:
        """Everything `submit` checks about the request itself (files, configuration), without running it."""
        self._command(app, "spark-submit")

    async def submit(self, app: SparkApplication) -> SubmitResult:
        """Launch now. Submitting an id whose job was already launched (a crash before the launch was
        recorded) adopts that job instead of starting a second one."""
        if self._closed:
            raise Unavailable("the local backend is shut down")
        spark_submit, spark_home = self._launcher.spark_submit()
        command = self._command(app, spark_submit)
        gateway_id = app.metadata.name or ""
        now = datetime.now(UTC)
        existing = self._jobs.get(gateway_id)
        if existing is not None and not existing.done:
            # Launched by this process, but the launch was never recorded (say the database went away
            # right after): report it again instead of failing it; the watch re-reports what follows.
            log.warning("local job %s is already running: reporting it again", gateway_id)
            existing.reported = AppState.SUBMITTED
            return SubmitResult(
                backend_ref=existing.ref.to_dict(),
                update=StatusUpdate(
                    gateway_id=gateway_id,
                    state=AppState.SUBMITTED,
                    status={"submissionAttempts": 1, "lastSubmissionAttemptTime": _rfc3339(now)},
                    backend_ref=existing.ref.to_dict(),
                    observed_at=now,
                ),
            )
        extra: dict[str, Any] = {
            "master": self._conf.sparkMaster,
            "command": command.argv,
            "submitted_at": _rfc3339(now),
        }
        if command.ignored_proxy_user:
            extra["proxy_user_not_applied"] = command.ignored_proxy_user
        job_dir = self._jobs_root / gateway_id
        ref = await asyncio.to_thread(self._launcher.adopt, job_dir)
        if ref is None:
            env = self._launcher.environment(spark_home)
            if (secret := secret_from_env(app)) is not None:
                env[SECRET_ENV] = secret  # a session's driver: its secret, never on the command line
            ref = await asyncio.to_thread(self._launcher.launch, job_dir, command.argv, env, extra)
            log.info("local job %s started: pid %d, log %s", gateway_id, ref.pid, ref.log_path)
        else:
            log.warning("local job %s was launched before (pid %d): adopting it", gateway_id, ref.pid)
        self._jobs[gateway_id] = jobs.TrackedJob.from_ref(gateway_id, ref, AppState.SUBMITTED)
        update = StatusUpdate(
            gateway_id=gateway_id,
            state=AppState.SUBMITTED,
            status={"submissionAttempts": 1, "lastSubmissionAttemptTime": _rfc3339(now)},
            backend_ref=ref.to_dict(),
            observed_at=now,
        )
        return SubmitResult(backend_ref=ref.to_dict(), update=update)

    # Watching -----------------------------------------------------------------------------------

    async def running_count(self) -> int:
        return sum(1 for job in self._jobs.values() if not job.done)

    async def poll(self, sink: StatusSink) -> None:
        """One round over every job this instance tracks (the supervisor calls it every
        `pollIntervalSeconds`)."""
        if self._closed:
            return
        self._launcher.reap_all()
        pending = [job for job in self._jobs.values() if not job.done]
        if not pending:
            return
        snapshot = await asyncio.to_thread(procs.snapshot)
        for job in pending:
            try:
                await self._poll(job, sink, snapshot)
            except asyncio.CancelledError:
                raise
            except Exception:
                # One job's trouble (a full disk, the sink failing) must not stop the others.
                log.exception("local backend: polling job %s failed", job.gateway_id)
        for gateway_id in [gid for gid, job in self._jobs.items() if job.done]:
            del self._jobs[gateway_id]

    async def _poll(
        self, job: jobs.TrackedJob, sink: StatusSink, snapshot: dict[int, list[procs.ProcInfo]]
    ) -> None:
        async with job.lock:
            if job.done:
                return
            obs = await asyncio.to_thread(jobs.observe, job.ref, snapshot)
            if obs.lines:  # the lines and how far they reach, in one transaction (no repeat on takeover)
                await sink.append_logs(job.gateway_id, obs.lines, ref_update={"log_offset": obs.new_offset})
                job.persisted_offset = obs.new_offset
            job.ref.log_offset = obs.new_offset
            job.facts.scan(obs.lines)
            if obs.ended:
                await self._finish(job, sink, obs)
                return
            facts = job.facts
            if facts.started:
                if job.started_seen_at is None:
                    job.started_seen_at = time.monotonic()
                if facts.app_id is None and facts.ui_ports:
                    await self._lookup_app_id(job)
            if facts.started and job.reported != AppState.RUNNING:
                await self._report(job, sink, AppState.RUNNING)  # at once; the app id follows later
            elif job.reported == AppState.RUNNING and facts.changed:
                await self._report(job, sink, AppState.RUNNING)  # the UI or app id became known
            elif (
                job.ref.log_offset != job.persisted_offset
                and time.monotonic() - job.last_checkpoint >= self._checkpoint_seconds
            ):
                await self._report(job, sink, job.reported)  # persist the offset only

    async def _lookup_app_id(self, job: jobs.TrackedJob) -> None:
        """The app id from the driver's UI REST API (a local master's `local-…` id is logged nowhere).

        Only a UI the job's own processes listen on is ever fetched: a port read from the log is a
        candidate until /proc shows one of the job's processes listening on it."""
        now = time.monotonic()
        if now - job.last_lookup < _APP_ID_LOOKUP_SPACING:
            return
        if job.started_seen_at is not None and now - job.started_seen_at > _APP_ID_LOOKUP_SECONDS:
            return
        job.last_lookup = now
        if job.verified_ui is None:
            found = await asyncio.to_thread(self._own_ui, job)
            if found is None:
                return
            job.verified_ui, port = found
            job.facts.ui_url, job.facts.ui_port, job.facts.changed = job.verified_ui, port, True
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=1.0, trust_env=False, follow_redirects=False)
        app_id = await query_app_id(self._http, job.verified_ui)
        if app_id is not None:
            job.facts.app_id = app_id
            job.facts.changed = True

    @staticmethod
    def _own_ui(job: jobs.TrackedJob) -> tuple[str, int] | None:
        pids = [member.pid for member in job.ref.identity().members()]
        for port in job.facts.ui_ports:
            host = procs.listening_host(pids, port)
            if host is not None:
                return f"http://{host}:{port}", port
        return None

    def _status_extras(self, job: jobs.TrackedJob) -> SparkApplicationStatus:
        if not job.facts.ui_url:
            return {}
        driver: DriverInfo = {"webUIAddress": job.facts.ui_url}
        if job.facts.ui_port is not None:
            driver["webUIPort"] = job.facts.ui_port
        return {"driverInfo": driver}

    async def _report(
        self,
        job: jobs.TrackedJob,
        sink: StatusSink,
        state: AppState,
        *,
        error: str | None = None,
        status: SparkApplicationStatus | None = None,
    ) -> None:
        merged = self._status_extras(job)
        merged.update(status or {})
        job.ref.started = job.facts.started
        job.ref.ui_url = job.facts.ui_url
        job.ref.spark_app_id = job.facts.app_id
        await sink.update(
            StatusUpdate(
                gateway_id=job.gateway_id,
                state=state,
                error_message=error,
                spark_app_id=job.facts.app_id,
                status=merged,
                backend_ref=job.ref.to_dict(),
                observed_at=datetime.now(UTC),
            )
        )
        job.reported = state
        job.facts.changed = False
        job.persisted_offset = job.ref.log_offset
        job.last_checkpoint = time.monotonic()

    async def _finish(self, job: jobs.TrackedJob, sink: StatusSink, obs: jobs.Observation) -> None:
        message = jobs.outcome_message(obs)
        if message is not None and obs.exit_code is None and not obs.killed:
            # Nothing in the driver's own log says why it stopped; the services log a kill themselves.
            await sink.append_logs(job.gateway_id, [f"spark-gateway: {message}"])
        job.ref.exit_code = obs.exit_code
        ended_at = obs.ended_at or datetime.now(UTC)
        state = AppState.COMPLETED if message is None else AppState.FAILED
        await self._report(job, sink, state, error=message, status={"terminationTime": _rfc3339(ended_at)})
        job.done = True
        self._launcher.reap(job.ref.pid)
        log.info("local job %s ended: %s", job.gateway_id, message or "completed")

    # Re-attaching, killing, logs ----------------------------------------------------------------

    async def reattach(self, tracked: TrackedApplication, sink: StatusSink) -> None:
        gateway_id = tracked.gateway_id
        if tracked.state.is_terminal or tracked.state == AppState.NEW or gateway_id in self._jobs:
            return
        try:
            ref = jobs.JobRef.from_dict(tracked.backend_ref)
        except ValueError as exc:
            message = f"cannot re-attach to the job: {exc}"
            await sink.append_logs(gateway_id, [f"spark-gateway: {message}"])
            await sink.update(
                StatusUpdate(gateway_id, AppState.FAILED, message, observed_at=datetime.now(UTC))
            )
            return
        job = jobs.TrackedJob.from_ref(gateway_id, ref, tracked.state)
        self._jobs[gateway_id] = job
        log.info("local job %s: re-attached (pid %d, log offset %d)", gateway_id, ref.pid, ref.log_offset)
        try:
            await self._poll(job, sink, await asyncio.to_thread(procs.snapshot))
        except Exception:
            # The job is tracked now: the watch loop retries, so this is no reason to fail it.
            log.exception("local job %s: first poll after re-attaching failed", gateway_id)

    async def kill(self, tracked: TrackedApplication) -> None:
        job = self._jobs.get(tracked.gateway_id)
        if job is not None:
            ref = job.ref
        else:
            try:
                ref = jobs.JobRef.from_dict(tracked.backend_ref)
            except ValueError:
                log.warning("local job %s: nothing to kill (no process recorded)", tracked.gateway_id)
                return
        if jobs.read_exit_code(Path(ref.exit_path)) is None:
            await asyncio.to_thread(jobs.write_killed_marker, ref)
        await self._launcher.terminate(tracked.gateway_id, ref)
        if job is None and not tracked.state.is_terminal:
            self._jobs[tracked.gateway_id] = jobs.TrackedJob.from_ref(tracked.gateway_id, ref, tracked.state)

    async def logs(self, tracked: TrackedApplication, lines: int) -> list[str] | None:
        job = self._jobs.get(tracked.gateway_id)
        path = job.ref.log_path if job is not None else (tracked.backend_ref or {}).get("log_path")
        if not isinstance(path, str):
            return None
        return await asyncio.to_thread(tail_lines, Path(path), lines)

    async def close(self) -> None:
        """Stop watching; the jobs keep running for the next process to re-attach."""
        self._closed = True
        self._launcher.reap_all()
        if self._http is not None:
            try:
                await self._http.aclose()
            except Exception as exc:
                log.debug("local backend: closing the driver UI client failed: %s", exc)
            self._http = None
