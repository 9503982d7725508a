"""The `spark-gateway` command: `serve` runs the gateway, `manager` a per-cluster SparkManager."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from spark_gateway.domain.errors import ConfigError
from spark_gateway.settings import Settings

app = typer.Typer(help="Spark Gateway: one REST front door for Spark applications.", no_args_is_help=True)

ConfOption = Annotated[
    Path | None, typer.Option("--conf", "-c", help="YAML configuration file (reference gateway keys).")
]


def load_settings(conf: Path | None, **overrides: object) -> Settings:
    try:
        return Settings.load(conf, **{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        typer.echo(f"spark-gateway: {exc}", err=True)
        raise typer.Exit(code=2) from exc


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


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
    uvicorn.run(
        create_app(settings),
        host=settings.gateway.host,
        port=settings.gateway.gatewayPort,
        log_level=log_level,
        timeout_graceful_shutdown=15,
        proxy_headers=False,
    )


@app.command()
def check_config(conf: ConfOption = None) -> None:
    """Validate a configuration file and print the clusters it defines."""
    settings = load_settings(conf)
    for cluster in settings.clusters:
        namespaces = ", ".join(f"{ns.name} ({ns.id})" for ns in cluster.namespaces)
        typer.echo(f"{cluster.name} [{cluster.id}, {cluster.type}]: {namespaces}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
