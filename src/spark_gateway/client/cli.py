"""`spark-gateway batch …` and `spark-gateway app …`: the client as a command, over HTTP only.

Connection options go before the sub-command (`spark-gateway batch --url … list`) or come from
`SPARK_GATEWAY_URL`, `SPARK_GATEWAY_USER`, `SPARK_GATEWAY_PASSWORD` / `SPARK_GATEWAY_TOKEN`. Errors
are one line on stderr with an exit code (see `cli_output`), never a traceback.
"""

import functools
import inspect
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer

from spark_gateway.client import cli_output as out
from spark_gateway.client.calls import new_lines
from spark_gateway.client.errors import GatewayError, GatewayUnreachable, NotFound, WaitTimeout
from spark_gateway.client.models import Application, Batch
from spark_gateway.client.sync import Applications, Batches, SparkGatewayClient

P = ParamSpec("P")
R = TypeVar("R")

batch_app = typer.Typer(
    name="batch", help="Livy batches through a gateway (HTTP only).", no_args_is_help=True
)
app_app = typer.Typer(
    name="app", help="Native (v1) SparkApplications through a gateway (HTTP only).", no_args_is_help=True
)


class Format(StrEnum):
    table = "table"
    json = "json"


Output = Annotated[
    Format | None,
    typer.Option("--output", "-o", help="Default: a table on a terminal, JSON in a pipe."),
]
Wait = Annotated[
    bool, typer.Option("--wait", "-w", help="Show progress until it ends; exit code from its state.")
]
Follow = Annotated[bool, typer.Option("--follow", "-f", help="Stream the driver log until it ends.")]
Timeout = Annotated[float | None, typer.Option(help="Give up waiting after this many seconds (exit 5).")]
Poll = Annotated[float, typer.Option(help="Seconds between polls.", min=0.05)]
Conf = Annotated[list[str] | None, typer.Option("--conf", "-c", help="Spark configuration k=v (repeatable).")]


def connection_callback(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(envvar="SPARK_GATEWAY_URL", help="Gateway base URL.")] = None,
    user: Annotated[str | None, typer.Option(envvar="SPARK_GATEWAY_USER")] = None,
    password: Annotated[
        str | None, typer.Option(envvar="SPARK_GATEWAY_PASSWORD", help="Basic auth password.")
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="SPARK_GATEWAY_TOKEN", help="Service token (Bearer without --user).")
    ] = None,
) -> None:
    ctx.obj = {"url": url, "user": user, "password": password, "token": token}


batch_app.callback()(connection_callback)
app_app.callback()(connection_callback)


def client(ctx: typer.Context) -> SparkGatewayClient:
    try:
        return SparkGatewayClient(**ctx.obj)
    except ValueError as exc:
        fail(str(exc), out.EXIT_USAGE)


def fail(message: str, code: int) -> NoReturn:
    typer.echo(f"spark-gateway: {message}", err=True)
    raise typer.Exit(code)


def one_line_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Gateway refusals, unreachable gateways and time-outs as one line on stderr and an exit code."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except GatewayUnreachable as exc:
            fail(str(exc), out.EXIT_UNREACHABLE)
        except GatewayError as exc:
            fail(str(exc), out.EXIT_REFUSED)
        except WaitTimeout as exc:
            fail(str(exc), out.EXIT_TIMEOUT)
        except KeyboardInterrupt:
            fail("interrupted (the job keeps running)", 130)

    return run


def parse_conf(pairs: list[str] | None) -> dict[str, str]:
    conf: dict[str, str] = {}
    for pair in pairs or []:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            fail(f"--conf wants key=value, got {pair!r}", out.EXIT_USAGE)
        conf[key] = value
    return conf


def finish(job: Batch | Application) -> None:
    """Exit with the code of the final state (0 for success)."""
    code = out.EXIT_CODES.get(job.state, out.EXIT_FAILED)
    if code:
        raise typer.Exit(code)


@dataclass(frozen=True)
class Kind:
    """What the commands of `batch` and of `app` differ in, besides their own options."""

    noun: str  # in messages: "batch 3 killed and deleted"
    article: str  # "a" / "an"
    metavar: str
    list_kind: str  # the columns of `list` (cli_output.LIST_COLUMNS)
    resource: Callable[[SparkGatewayClient], Batches | Applications]
    #: (client, id) -> a function returning the driver log lines that are new since its last call
    log_reader: Callable[[SparkGatewayClient, str], Callable[[], list[str]]]


@dataclass(frozen=True)
class Delivery:
    """The options both submit commands end with: what to do once the job is submitted."""

    wait: bool
    follow: bool
    timeout: float | None
    poll: float
    output: Format | None


def delivery_options(
    wait: Wait = False,
    follow: Follow = False,
    timeout: Timeout = None,
    poll: Poll = 1.0,
    output: Output = None,
) -> Delivery:
    return Delivery(wait, follow, timeout, poll, output)


def with_delivery(submit: Callable[..., None]) -> Callable[..., None]:
    """A submit command: the options of `submit`, then those of `delivery_options` (given to it as one
    `delivery` argument). Typer reads the parameters from the command's signature."""
    shared = inspect.signature(delivery_options).parameters
    own = [p for name, p in inspect.signature(submit).parameters.items() if name != "delivery"]

    @functools.wraps(submit)
    def command(**options: Any) -> None:
        delivery = delivery_options(**{name: options.pop(name) for name in shared})
        submit(**options, delivery=delivery)

    command.__signature__ = inspect.Signature([*own, *shared.values()])  # type: ignore[attr-defined]
    return command


def deliver(gw: SparkGatewayClient, kind: Kind, job: Batch | Application, job_id: str, how: Delivery) -> None:
    """After a submit: show the job, or with --wait/--follow stay until it ends and exit with its state."""
    fmt = out.output_format(how.output)
    if not (how.wait or how.follow):
        out.show_job(job, fmt)
        return
    final = watch(gw, kind, job_id, follow=how.follow, poll=how.poll, timeout=how.timeout)
    if not how.follow:
        out.show_job(final, fmt)
    finish(final)


def watch(
    gw: SparkGatewayClient, kind: Kind, job_id: str, *, follow: bool, poll: float, timeout: float | None
) -> Batch | Application:
    def fetch() -> Batch | Application:
        try:
            return kind.resource(gw).get(job_id)
        except NotFound:
            fail(f"{kind.noun} {job_id} was deleted (killed) while it was watched", out.EXIT_KILLED)

    read = kind.log_reader(gw, job_id) if follow else None
    job = out.watch(f"{kind.noun} {job_id}", fetch, read, poll, timeout)
    assert isinstance(job, Batch | Application)
    return job


def show_newest(
    jobs: Sequence[Batch | Application], kind: Kind, state: str | None, all_: bool, limit: int, output: Output
) -> None:
    """`list`: the jobs in `state` (all without), only the newest `limit` unless --all."""
    chosen = [job for job in jobs if state is None or job.state == state]
    out.show_jobs(chosen if all_ else chosen[-limit:], out.output_format(output), kind.list_kind)


def add_commands(
    cli: typer.Typer,
    kind: Kind,
    submit: Callable[..., None],
    list_: Callable[..., None],
    logs: Callable[..., None],
) -> None:
    """One kind's commands in the order `--help` lists them; `get` and `kill` are the same for both."""
    JobId = Annotated[str, typer.Argument(metavar=kind.metavar)]

    def get(ctx: typer.Context, job_id: JobId, output: Output = None) -> None:
        with client(ctx) as gw:
            out.show_job(kind.resource(gw).get(job_id), out.output_format(output))

    def kill(ctx: typer.Context, job_id: JobId) -> None:
        with client(ctx) as gw:
            kind.resource(gw).kill(job_id)
        typer.echo(f"{kind.noun} {job_id} killed and deleted", err=True)

    get.__doc__ = f"Show one {kind.noun}."
    kill.__doc__ = f"Kill {kind.article} {kind.noun} (if it runs) and remove it."
    for name, command in (("submit", submit), ("list", list_), ("get", get), ("logs", logs), ("kill", kill)):
        cli.command(name)(one_line_errors(command))


# Livy batches ------------------------------------------------------------------------------------


def batch_submit(
    ctx: typer.Context,
    file: Annotated[
        str,
        typer.Argument(help="The application file as the cluster sees it (made absolute if it exists here)."),
    ],
    args: Annotated[list[str] | None, typer.Argument(help="Arguments for the application.")] = None,
    conf: Conf = None,
    name: Annotated[str | None, typer.Option(help="Batch name.")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="Gateway namespace.")] = None,
    class_name: Annotated[str | None, typer.Option("--class", help="Main class (JVM applications).")] = None,
    *,
    delivery: Delivery,
) -> None:
    """Submit a batch; with --wait or --follow, stay until it ends."""
    extra = {"className": class_name} if class_name else {}
    with client(ctx) as gw:
        path = str(Path(file).resolve()) if Path(file).exists() else file
        batch = gw.batches.submit(
            path, args or [], conf=parse_conf(conf), name=name, namespace=namespace, **extra
        )
        deliver(gw, BATCH, batch, str(batch.id), delivery)


def batch_log_reader(gw: SparkGatewayClient, batch_id: str) -> Callable[[], list[str]]:
    position = {"offset": 0}

    def read() -> list[str]:
        lines: list[str] = []
        while page := gw.batches.logs(batch_id, position["offset"], 1000).lines:
            lines += page
            position["offset"] += len(page)
        return lines

    return read


def batch_list(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option(help="Only batches in this state.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every batch, not only the newest --limit.")] = False,
    limit: Annotated[int, typer.Option(help="How many of the newest batches.", min=1)] = 20,
    output: Output = None,
) -> None:
    """List batches (the newest, oldest first)."""
    with client(ctx) as gw:
        show_newest(list(gw.batches.iter_all()), BATCH, state, all_, limit, output)


def batch_logs(
    ctx: typer.Context,
    batch_id: Annotated[str, typer.Argument(metavar="ID")],
    follow: Follow = False,
    from_: Annotated[int | None, typer.Option("--from", help="First line (0 = oldest kept).", min=0)] = None,
    size: Annotated[int, typer.Option(help="How many lines (the last ones without --from).", min=0)] = 100,
    poll: Poll = 1.0,
    output: Output = None,
) -> None:
    """Print a batch's driver log; -f keeps printing new lines until the batch ends."""
    with client(ctx) as gw:
        page = gw.batches.logs(batch_id, from_, size)
        if follow:
            out.print_lines(page.lines)
            for line in gw.batches.follow(page.id, offset=page.offset + len(page.lines), poll=poll):
                out.print_lines([line])
        elif out.output_format(output) == "json":
            out.print_json({"id": page.id, "from": page.offset, "total": page.total, "log": page.lines})
        else:
            out.print_lines(page.lines)


# Native applications -----------------------------------------------------------------------------

MANIFEST_SUFFIXES = (".json", ".yaml", ".yml")


def application_body(
    file: str,
    args: list[str],
    conf: dict[str, str],
    namespace: str | None,
    class_name: str | None,
    spark_version: str,
) -> dict[str, Any]:
    """A SparkApplication from a manifest file (JSON or YAML), or one built around a main file."""
    if file.endswith(MANIFEST_SUFFIXES) and Path(file).is_file():
        manifest = load_manifest(Path(file))
        if namespace:
            manifest.setdefault("metadata", {})["namespace"] = namespace
        return manifest
    path = str(Path(file).resolve()) if Path(file).exists() else file
    spec: dict[str, Any] = {
        "type": "Python" if file.endswith(".py") else ("R" if file.endswith(".R") else "Scala"),
        "sparkVersion": spark_version,
        "mainApplicationFile": path,
    }
    if class_name:
        spec["mainClass"] = class_name
    if args:
        spec["arguments"] = args
    if conf:
        spec["sparkConf"] = conf
    return {"metadata": {"namespace": namespace or "default"}, "spec": spec}


def load_manifest(path: Path) -> dict[str, Any]:
    text = path.read_text()
    if path.suffix == ".json":
        data = json.loads(text)
    else:
        try:
            import yaml
        except ImportError:
            fail("reading a YAML manifest needs PyYAML (pip install pyyaml), or give JSON", out.EXIT_USAGE)
        data = yaml.safe_load(text)
    if not isinstance(data, dict):
        fail(f"{path}: not a SparkApplication object", out.EXIT_USAGE)
    return data


def app_submit(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="A SparkApplication manifest (.yaml/.json) or a main file.")],
    args: Annotated[list[str] | None, typer.Argument(help="Arguments for the application.")] = None,
    conf: Conf = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="Namespace (default: default).")
    ] = None,
    class_name: Annotated[str | None, typer.Option("--class", help="Main class (JVM applications).")] = None,
    spark_version: Annotated[str, typer.Option(help="spec.sparkVersion for a main file.")] = "4.0.0",
    *,
    delivery: Delivery,
) -> None:
    """Submit a SparkApplication; with --wait or --follow, stay until it ends."""
    body = application_body(file, args or [], parse_conf(conf), namespace, class_name, spark_version)
    with client(ctx) as gw:
        app = gw.applications.submit(body)
        deliver(gw, APP, app, app.gateway_id, delivery)


def app_log_reader(gw: SparkGatewayClient, gateway_id: str) -> Callable[[], list[str]]:
    seen: dict[str, list[str]] = {"lines": []}

    def read() -> list[str]:
        current = gw.applications.logs(gateway_id, 500)
        fresh = new_lines(seen["lines"], current)
        seen["lines"] = current
        return fresh

    return read


def app_list(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option(help="Only applications in this state (e.g. RUNNING).")] = None,
    cluster: Annotated[str | None, typer.Option(help="Cluster name or id.")] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n")] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every application, not only the newest --limit.")
    ] = False,
    limit: Annotated[int, typer.Option(help="How many of the newest applications.", min=1)] = 20,
    output: Output = None,
) -> None:
    """List applications."""
    with client(ctx) as gw:
        show_newest(gw.applications.list(cluster, namespace), APP, state, all_, limit, output)


def app_logs(
    ctx: typer.Context,
    gateway_id: Annotated[str, typer.Argument(metavar="GATEWAY_ID")],
    follow: Follow = False,
    lines: Annotated[int | None, typer.Option(help="How many of the last lines.", min=0)] = None,
    poll: Poll = 1.0,
    output: Output = None,
) -> None:
    """Print an application's last driver log lines; -f keeps printing new ones until it ends."""
    with client(ctx) as gw:
        if follow:
            for line in gw.applications.follow(gateway_id, poll=poll, window=lines or 500):
                out.print_lines([line])
            return
        text = gw.applications.logs(gateway_id, lines)
        if out.output_format(output) == "json":
            out.print_json(text)
        else:
            out.print_lines(text)


BATCH = Kind("batch", "a", "ID", "batch", lambda gw: gw.batches, batch_log_reader)
APP = Kind("application", "an", "GATEWAY_ID", "app", lambda gw: gw.applications, app_log_reader)
add_commands(batch_app, BATCH, with_delivery(batch_submit), batch_list, batch_logs)
add_commands(app_app, APP, with_delivery(app_submit), app_list, app_logs)


def register(cli: typer.Typer) -> None:
    """Add `batch` and `app` to the `spark-gateway` command."""
    cli.add_typer(batch_app)
    cli.add_typer(app_app)


if __name__ == "__main__":  # pragma: no cover - `python -m spark_gateway.client.cli batch …`
    root = typer.Typer(no_args_is_help=True)
    register(root)
    root(prog_name="spark-gateway", args=sys.argv[1:])
