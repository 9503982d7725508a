"""The `spark-gateway` command: `serve` runs the gateway, `manager` a per-cluster SparkManager."""

from __future__ import annotations

import gc
import logging
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer

from spark_gateway.client.cli import register as register_client_commands
from spark_gateway.domain.errors import ConfigError
from spark_gateway.settings import Settings

app = typer.Typer(help="Spark Gateway: one REST front door for Spark applications.", no_args_is_help=True)
register_client_commands(app)  # `batch …` and `app …`: the HTTP client as commands

ConfOption = Annotated[
    Path | None, typer.Option("--conf", "-c", help="YAML configuration file (reference gateway keys).")
]


def load_settings(conf: Path | None, **overrides: object) -> Settings:
    try:
        return Settings.load(conf, **{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        typer.echo(f"spark-gateway: {exc}", err=True)
        raise typer.Exit(code=2) from exc


def escape_controls(text: str) -> str:
    """Control characters as escapes (`\\n`, `\\x1b`): a request path or header value that holds
    them (`%0a` in a URL) cannot start a forged line or send terminal codes."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class OneLineFormatter(logging.Formatter):
    """Escapes control characters in every message (tracebacks stay as they are)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler])


@app.command()
def serve(
    conf: ConfOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8080).")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the gateway (Livy API at /api/livy, native API at /api/v1) with its configured clusters."""
    import uvicorn

    from spark_gateway.api.app import create_app

    gateway: dict[str, object] = {}
    if host is not None:
        gateway["host"] = host
    if port is not None:
        gateway["gatewayPort"] = port
    settings = load_settings(conf, gateway=gateway or None)
    setup_logging(log_level)
    for warning in settings.warnings():
        logging.getLogger("spark_gateway").warning("configuration: %s", warning)
    try:
        settings.manager_api_token()  # an unreadable token file stops start-up with one line
        gateway_app = create_app(settings)
    except ConfigError as exc:
        typer.echo(f"spark-gateway: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    uvicorn.run(
        gateway_app,
        host=settings.gateway.host,
        port=settings.gateway.gatewayPort,
        log_level=log_level,
        log_config=None,  # uvicorn's records (the access log too) go through setup_logging's formatter
        timeout_graceful_shutdown=15,
        proxy_headers=False,
    )


@app.command()
def manager(
    cluster: Annotated[str, typer.Option("--cluster", help="The cluster's name (clusters[].name).")],
    conf: ConfOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (sparkManager.host).")] = None,
    port: Annotated[int | None, typer.Option(help="API port (default: the configured one).")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the SparkManager of one Kubernetes cluster: its REST API, watch, and Prometheus metrics."""
    import uvicorn
    from starlette.types import ASGIApp

    from spark_gateway.api.manager import create_manager_app, kubernetes_cluster, metrics_port_only
    from spark_gateway.backends.kubernetes.manager_client import (
        SERVER_KEEP_ALIVE_SECONDS,
        manager_port,
        metrics_port,
    )

    settings = load_settings(conf)
    setup_logging(log_level)
    try:
        config = kubernetes_cluster(settings, cluster)
        manager_app = create_manager_app(settings, cluster)
    except ConfigError as exc:
        typer.echo(f"spark-gateway: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    listen = host or settings.sparkManager.host
    api_port = port if port is not None else manager_port(settings, config)
    sockets = [_bind(listen, api_port)]
    served: ASGIApp = manager_app
    extra_port = metrics_port(settings, config)
    if extra_port != api_port:
        sockets.append(_bind(listen, extra_port))
        served = metrics_port_only(manager_app, extra_port, settings.sparkManager.metricsServer.endpoint)
    server = uvicorn.Server(
        uvicorn.Config(
            served,
            log_level=log_level,
            timeout_graceful_shutdown=15,
            proxy_headers=False,
            timeout_keep_alive=SERVER_KEEP_ALIVE_SECONDS,
        )
    )
    # What is alive now (modules, settings, the app) lives as long as the process; frozen, the
    # collector's full passes, which stop the event loop while they run, no longer walk it.
    gc.collect()
    gc.freeze()
    server.run(sockets=sockets)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: only then does asyncio set TCP_NODELAY on accepted connections
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        typer.echo(f"spark-gateway: cannot listen on {host}:{port}: {exc.strerror}", err=True)
        raise typer.Exit(code=1) from exc
    sock.set_inheritable(True)
    return sock


@app.command()
def check_config(conf: ConfOption = None) -> None:
    """Validate a configuration file (everything `serve` checks) and print the clusters it defines."""
    from spark_gateway.api.security import check_security

    settings = load_settings(conf)
    try:
        check_security(settings)
    except ConfigError as exc:
        typer.echo(f"spark-gateway: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    for warning in settings.warnings():
        typer.echo(f"spark-gateway: warning: {warning}", err=True)
    for cluster in settings.clusters:
        namespaces = ", ".join(f"{ns.name} ({ns.id})" for ns in cluster.namespaces)
        typer.echo(f"{cluster.name} [{cluster.id}, {cluster.type}]: {namespaces}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
