"""The environment a local job starts with: an allow-list, never a copy of the gateway's own.

A job runs the submitter's code as the gateway's OS user, so whatever the gateway process holds in its
environment (the database password, `PGPASSWORD`, the variables service tokens or htpasswd lines are
read from, cloud credentials) would be one `os.environ` away. Only what Spark and the JVM need to run
is passed, plus the names an operator lists in `local.passEnvironment`; the gateway's own secrets are
removed even when such a pattern matches them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase

# What spark-submit, the JVM and the Python driver need, and nothing that usually holds a secret.
PASSED = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "TMPDIR",
    "HOSTNAME",
    "JAVA_HOME",
    "LD_LIBRARY_PATH",
    "PYTHONPATH",
    "PYTHONHOME",
    "VIRTUAL_ENV",
    "SPARK_HOME",
    "SPARK_CONF_DIR",
    "SPARK_LOCAL_DIRS",
    "SPARK_LOCAL_HOSTNAME",
    "SPARK_SCALA_VERSION",
    "HADOOP_HOME",
    "HADOOP_CONF_DIR",
)
# The gateway's own secrets and settings: never passed, whatever `passEnvironment` says.
NEVER_PASSED = ("DB_USERNAME", "DB_PASSWORD", "PG*", "SPARK_GATEWAY_*")


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(name, p) for p in patterns)


def job_environment(
    source: Mapping[str, str],
    *,
    passed: Iterable[str] = (),
    secret_names: Iterable[str] = (),
    spark_home: str | None = None,
    java_home: str | None = None,
) -> dict[str, str]:
    """The environment for one job, built from the gateway's (`source`).

    `passed`: the operator's extra names or glob patterns; `secret_names`: variables the configuration
    reads secrets from (`Settings.secret_env_names`).
    """
    allowed = (*PASSED, *passed)
    denied = (*NEVER_PASSED, *secret_names)
    env = {k: v for k, v in source.items() if _matches(k, allowed) and not _matches(k, denied)}
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    # The driver and workers use the gateway's own interpreter (the one with pyspark installed).
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    if spark_home:
        env["SPARK_HOME"] = spark_home
    if java_home:
        env["JAVA_HOME"] = java_home
    return env
