"""The local backend: SparkApplications run as `spark-submit` processes on the gateway's machine."""

from spark_gateway.backends.local.backend import LocalBackend

__all__ = ["LocalBackend"]
