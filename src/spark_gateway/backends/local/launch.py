"""Starting and stopping local jobs as detached process groups.

Each job is `runner` (leader of a new session) → `spark-submit` JVM → Python driver (and its workers),
all in one process group, with its output in `driver.log` and nothing tied to the gateway process. The
`Launcher` also keeps the runners it started reaped, so a finished job does not linger as a zombie of
the gateway, and stops a group with SIGTERM, then SIGKILL, until no member is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from spark_gateway.backends.local import jobs, procs
from spark_gateway.backends.local.environment import job_environment
from spark_gateway.domain.errors import Conflict, Unavailable
from spark_gateway.settings import LocalBackendConfig

log = logging.getLogger(__name__)

_AFTER_SIGKILL_SECONDS = 5.0
# Not imported: `python -m spark_gateway.backends.local.runner` warns when the module is already loaded.
_RUNNER = str(Path(__file__).with_name("runner.py"))


class Launcher:
    def __init__(
        self, conf: LocalBackendConfig, jobs_root: Path, *, secret_env: frozenset[str] = frozenset()
    ) -> None:
        self._conf = conf
        self._secret_env = secret_env
        self.jobs_root = jobs_root
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def spark_submit(self) -> tuple[str, str | None]:
        """The spark-submit to run and the SPARK_HOME to give it (configured, else pyspark's own)."""
        home = self._conf.sparkHome
        if self._conf.sparkSubmit:
            submit = self._conf.sparkSubmit
        else:
            if home is None:
                spec = importlib.util.find_spec("pyspark")
                if spec is None or spec.origin is None:
                    raise Unavailable("pyspark is not installed and local.sparkSubmit is not configured")
                home = str(Path(spec.origin).parent)
            submit = str(Path(home) / "bin" / "spark-submit")
        if not os.access(submit, os.X_OK):
            raise Unavailable(f"spark-submit not found or not executable at {submit}")
        return submit, home

    def environment(self, spark_home: str | None) -> dict[str, str]:
        """The job's environment: an allow-list of the gateway's (see `environment`)."""
        return job_environment(
            os.environ,
            passed=self._conf.passEnvironment,
            secret_names=self._secret_env,
            spark_home=spark_home,
            java_home=self._conf.javaHome,
        )

    def adopt(self, job_dir: Path) -> jobs.JobRef | None:
        """The job already launched in `job_dir` (its job.json), or None if there is none."""
        try:
            return jobs.JobRef.from_dict(json.loads((job_dir / jobs.REF_FILE).read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise Conflict(
                f"job directory {job_dir} exists, but its {jobs.REF_FILE} is unusable: {exc}"
            ) from exc

    def launch(
        self, job_dir: Path, argv: list[str], env: dict[str, str], extra: dict[str, Any]
    ) -> jobs.JobRef:
        """Start `argv` under the runner in a new session; blocking (run it in a thread)."""
        self.jobs_root.mkdir(parents=True, exist_ok=True)
        log_path, exit_path = job_dir / jobs.LOG_FILE, job_dir / jobs.EXIT_FILE
        try:
            job_dir.mkdir(mode=0o750)
        except FileExistsError:
            # An earlier launch was interrupted before it wrote job.json: adopt its process if it
            # started, else start afresh in the same directory (nothing of it ran).
            found = self._interrupted(job_dir, extra)
            if found is not None:
                return found
            if exit_path.exists():
                raise Conflict(
                    f"job directory {job_dir} holds a job that ran and ended without {jobs.REF_FILE}: "
                    "remove the directory to run the application again"
                ) from None
            log.warning("job directory %s was left by an interrupted launch: launching again", job_dir)
        # By file path and isolated (-I): the runner needs only the standard library.
        wrapper = [sys.executable, "-I", _RUNNER, "--exit-file", str(exit_path), "--", *argv]
        try:
            with log_path.open("ab") as log_file:
                child = subprocess.Popen(
                    wrapper,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    cwd=job_dir,
                    env=env,
                    start_new_session=True,  # survives the gateway; stopped as one group
                )
        except OSError as exc:
            shutil.rmtree(job_dir, ignore_errors=True)
            raise Unavailable(f"cannot start spark-submit: {exc}") from exc
        self._children[child.pid] = child
        info = procs.proc_info(child.pid)
        ref = jobs.JobRef(
            pid=child.pid,
            pgid=child.pid,
            start_time=info.start_time if info else None,
            boot_id=procs.boot_id(),
            job_dir=str(job_dir),
            log_path=str(log_path),
            exit_path=str(exit_path),
            extra=extra,
        )
        jobs.write_ref_file(ref)
        return ref

    def _interrupted(self, job_dir: Path, extra: dict[str, Any]) -> jobs.JobRef | None:
        """The runner an interrupted launch started in `job_dir` (a group leader working there), now
        recorded in its job.json; None when no such process is alive."""
        target = str(job_dir.resolve())
        for leaders in procs.snapshot().values():
            for info in leaders:
                if info.pid != info.pgid:
                    continue
                try:
                    cwd = os.readlink(f"/proc/{info.pid}/cwd")
                except OSError:
                    continue
                if cwd == target:
                    ref = jobs.JobRef(
                        pid=info.pid,
                        pgid=info.pgid,
                        start_time=info.start_time,
                        boot_id=procs.boot_id(),
                        job_dir=str(job_dir),
                        log_path=str(job_dir / jobs.LOG_FILE),
                        exit_path=str(job_dir / jobs.EXIT_FILE),
                        extra=extra,
                    )
                    jobs.write_ref_file(ref)
                    log.warning("job %s: adopting pid %d from an interrupted launch", job_dir.name, info.pid)
                    return ref
        return None

    async def terminate(self, gateway_id: str, ref: jobs.JobRef) -> None:
        """SIGTERM the group, SIGKILL what is left after the grace period; return once none is left."""
        identity = ref.identity()
        if not identity.signal(signal.SIGTERM):
            self.reap(ref.pid)
            return
        log.info("local job %s: sent SIGTERM to process group %d", gateway_id, ref.pgid)
        if await self._wait_gone(identity, ref.pid, self._conf.killGracePeriodSeconds):
            return
        log.warning("local job %s: still running after the grace period, sending SIGKILL", gateway_id)
        # Everything but the runner first: it then reaps the orphans and records the exit code itself.
        for member in identity.members():
            if member.pid != ref.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(member.pid, signal.SIGKILL)
        if await self._wait_gone(identity, ref.pid, _AFTER_SIGKILL_SECONDS):
            return
        identity.signal(signal.SIGKILL)
        if await self._wait_gone(identity, ref.pid, _AFTER_SIGKILL_SECONDS):
            return
        left = [p.pid for p in identity.members()]
        raise Unavailable(f"could not stop application {gateway_id}: processes {left} survived SIGKILL")

    async def _wait_gone(self, identity: procs.GroupIdentity, pid: int, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while True:
            self.reap(pid)
            if not await asyncio.to_thread(identity.members):
                self.reap(pid)  # the runner may have died since the first call: no zombie left behind
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.1)

    def reap(self, pid: int) -> None:
        child = self._children.get(pid)
        if child is None:
            procs.reap(pid)  # a runner started by another LocalBackend in this same process
        elif child.poll() is not None:
            del self._children[pid]

    def reap_all(self) -> None:
        for pid in list(self._children):
            self.reap(pid)
