"""What the `batch` and `app` commands print: tables on a terminal, JSON in a pipe, live progress.

Results go to stdout (a table, or JSON for scripts); progress and errors go to stderr, so
`spark-gateway batch submit --wait ... | jq` shows the live display on the terminal and pipes clean JSON.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from spark_gateway.client.errors import WaitTimeout
from spark_gateway.client.models import Application, Batch

# Exit codes: the final state of a waited-for job, or why the command could not do its work.
EXIT_SUCCESS = 0
EXIT_FAILED = 1  # Livy error, v1 FAILED
EXIT_USAGE = 2  # bad arguments (typer's own code)
EXIT_DEAD = 3
EXIT_KILLED = 4
EXIT_TIMEOUT = 5
EXIT_REFUSED = 6  # the gateway answered with an error (not found, forbidden, bad request, ...)
EXIT_UNREACHABLE = 7
EXIT_CODES = {"success": 0, "finished": 0, "COMPLETED": 0, "error": 1, "FAILED": 1, "dead": 3, "killed": 4}

Job = Batch | Application


def output_format(choice: str | None) -> str:
    if choice is not None:
        return str(choice)
    return "table" if sys.stdout.isatty() else "json"


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
    sys.stdout.flush()


def job_fields(job: Job) -> dict[str, Any]:
    if isinstance(job, Batch):
        return {
            "id": job.id,
            "name": job.name,
            "state": job.state,
            "owner": job.owner,
            "app id": job.app_id,
            "cluster": job.cluster,
            "gateway id": job.gateway_id,
            "Spark UI": job.spark_ui_url,
        }
    return {
        "gateway id": job.gateway_id,
        "state": job.state or "NEW",
        "namespace": job.namespace,
        "user": job.user,
        "app id": job.spark_app_id,
        "cluster": job.cluster,
        "Spark UI": job.spark_ui_url,
    }


def show_job(job: Job, fmt: str) -> None:
    if fmt == "json":
        print_json(job.raw)
        return
    table = Table(show_header=False, box=None)
    for key, value in job_fields(job).items():
        table.add_row(Text(key, style="bold"), Text("" if value is None else str(value)))
    Console().print(table)


LIST_COLUMNS = {
    "batch": ("id", "name", "state", "owner", "app id", "cluster"),
    "app": ("gateway id", "state", "namespace", "user", "app id", "cluster"),
}


def show_jobs(jobs: Sequence[Job], fmt: str, kind: str) -> None:
    if fmt == "json":
        print_json([job.raw for job in jobs])
        return
    table = Table(*LIST_COLUMNS[kind])
    for job in jobs:
        fields = job_fields(job)
        table.add_row(*("" if fields[c] is None else str(fields[c]) for c in LIST_COLUMNS[kind]))
    Console().print(table)


def print_lines(lines: Iterable[str]) -> None:
    for line in lines:
        sys.stdout.write(line + "\n")
    sys.stdout.flush()


@dataclass
class Progress:
    """The live line `⠋ batch 7 running 0:12 app local-… UI http://…` while a job is watched."""

    label: str
    started: float

    def render(self, job: Job | None, final: bool = False) -> Group | Text:
        line = Text()
        line.append(self.label, style="bold")
        if job is not None:
            state = job.state or "NEW"
            line.append(f"  {state}", style=_state_style(state, final))
        line.append(f"  {elapsed(time.monotonic() - self.started)}")
        if job is not None:
            app_id = job.app_id if isinstance(job, Batch) else job.spark_app_id
            if app_id:
                line.append(f"  app {app_id}")
            if job.spark_ui_url:
                line.append("  Spark UI ")
                line.append(job.spark_ui_url, style=f"link {job.spark_ui_url}")
        if final:
            return line
        return Group(Spinner("dots", text=line))


def _state_style(state: str, final: bool) -> str:
    if not final:
        return "cyan"
    return "green" if EXIT_CODES.get(state) == 0 else "red"


def elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def watch(
    label: str,
    fetch: Callable[[], Job],
    new_lines: Callable[[], list[str]] | None,
    poll: float,
    timeout: float | None,
) -> Job:
    """Poll `fetch` until the job ends (printing new log lines when `new_lines` is given), with a live
    progress line on a terminal and a line per state change otherwise. Returns the final job."""
    err = Console(stderr=True)
    progress = Progress(label, time.monotonic())
    deadline = None if timeout is None else progress.started + timeout
    live = Live(console=err, refresh_per_second=8, transient=True, redirect_stdout=sys.stdout.isatty())
    shown_state: str | None = None
    job: Job | None = None
    with live if err.is_terminal else nullcontext():
        while True:
            job = fetch()
            if new_lines is not None:
                print_lines(new_lines())
            if err.is_terminal:
                live.update(progress.render(job))
            elif job.state != shown_state:
                err.print(progress.render(job, final=True), soft_wrap=True)
                shown_state = job.state
            if job.is_final:
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(label, job.state, timeout or 0)
            time.sleep(poll)
    if err.is_terminal:
        err.print(progress.render(job, final=True), soft_wrap=True)
    return job
