"""A Python client for Spark Gateway (and any Livy server): blocking and asyncio, on httpx only.

Importable without the server's dependencies (FastAPI, SQLAlchemy, ...): this package imports httpx and
the standard library (the `spark-gateway batch|app` commands in `cli` add typer and rich).
"""

from spark_gateway.client.aio import AsyncSparkGatewayClient
from spark_gateway.client.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    GatewayError,
    GatewayUnreachable,
    NotFound,
    Unauthorized,
    Unavailable,
    WaitTimeout,
)
from spark_gateway.client.models import (
    APP_FINAL_STATES,
    LIVY_FINAL_STATES,
    Application,
    Batch,
    BatchPage,
    LogPage,
)
from spark_gateway.client.sync import SparkGatewayClient

__all__ = [
    "APP_FINAL_STATES",
    "LIVY_FINAL_STATES",
    "Application",
    "AsyncSparkGatewayClient",
    "BadRequest",
    "Batch",
    "BatchPage",
    "Conflict",
    "Forbidden",
    "GatewayError",
    "GatewayUnreachable",
    "LogPage",
    "NotFound",
    "SparkGatewayClient",
    "Unauthorized",
    "Unavailable",
    "WaitTimeout",
]
