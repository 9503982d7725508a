"""A local job's environment is an allow-list; the gateway's secrets never pass, whatever is configured."""

from __future__ import annotations

import sys

from spark_gateway.backends.local.environment import job_environment
from spark_gateway.settings import Settings

GATEWAY_ENV = {
    "PATH": "/usr/bin",
    "HOME": "/home/gw",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "JAVA_HOME": "/usr/lib/jvm/17",
    "PYTHONPATH": "/srv/gateway/src",
    "DB_PASSWORD": "db-secret",
    "DB_USERNAME": "gateway",
    "PGPASSWORD": "pg-secret",
    "PGPASSFILE": "/home/gw/.pgpass",
    "SPARK_GATEWAY_DATABASE__PASSWORD": "settings-secret",
    "GW_TOKENS": "svc: tok",
    "GW_HTPASSWD": "alice:$2b$...",
    "AWS_SECRET_ACCESS_KEY": "cloud-secret",
    "SPARK_LOCAL_IP": "10.0.0.5",
}


def test_only_what_spark_needs_is_passed() -> None:
    env = job_environment(GATEWAY_ENV, spark_home="/opt/spark", java_home="/opt/java")
    assert env == {
        "PATH": "/usr/bin",
        "HOME": "/home/gw",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "JAVA_HOME": "/opt/java",
        "PYTHONPATH": "/srv/gateway/src",
        "SPARK_HOME": "/opt/spark",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }


def test_pass_environment_adds_names_but_never_the_gateways_secrets() -> None:
    env = job_environment(
        GATEWAY_ENV, passed=["AWS_*", "*"], secret_names=frozenset({"GW_TOKENS", "GW_HTPASSWD"})
    )
    assert env["AWS_SECRET_ACCESS_KEY"] == "cloud-secret"  # the operator asked for it
    for secret in (
        "DB_PASSWORD",
        "DB_USERNAME",
        "PGPASSWORD",
        "PGPASSFILE",
        "SPARK_GATEWAY_DATABASE__PASSWORD",
        "GW_TOKENS",
        "GW_HTPASSWD",
    ):
        assert secret not in env


def test_settings_name_the_variables_secrets_are_read_from() -> None:
    settings = Settings.load(
        None,
        gateway={
            "middleware": [
                {"type": "ServiceTokenAuthMiddleware", "conf": {"serviceTokenMapEnv": "GW_TOKENS"}},
                {"type": "BasicAuthMiddleware", "conf": {"htpasswdEnv": "GW_HTPASSWD"}},
                {"type": "BasicAuthMiddleware", "conf": {"htpasswdFile": "/run/${SECRET_DIR}/htpasswd"}},
            ]
        },
    )
    expected = {"GW_TOKENS", "GW_HTPASSWD", "SECRET_DIR", "SPARK_MANAGER_API_TOKEN"}
    assert settings.secret_env_names() == expected
