"""The `spark-submit` argument list for one SparkApplication on the local backend.

Kept free of I/O except the file checks in `paths`, so every mapping rule (which spec field becomes
which option, which configuration wins, what is refused) is testable without starting Spark. The result
is an argv list for `exec`, never a shell string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from spark_gateway.backends.local.paths import AllowedDirs
from spark_gateway.domain.errors import BadRequest
from spark_gateway.domain.sparkapp import SparkApplication

# Set by the gateway, never by a request: where and how the driver runs.
RESERVED_CONF = ("spark.master", "spark.submit.deployMode")
# Always applied last: a progress bar only garbles a log file.
FORCED_CONF: Mapping[str, str] = {"spark.ui.showConsoleProgress": "false"}


@dataclass(frozen=True)
class SubmitCommand:
    argv: list[str]
    # The requested proxy user when it was recorded but not passed to spark-submit.
    ignored_proxy_user: str | None = None


def check_reserved_conf(conf: Mapping[str, str], *, where: str) -> None:
    for key in RESERVED_CONF:
        if key in conf:
            raise BadRequest(f"{where} may not set '{key}': the gateway controls it")


def build_command(
    app: SparkApplication,
    *,
    spark_submit: str,
    master: str,
    allowed: AllowedDirs,
    cluster_conf: Mapping[str, str] | None = None,
    pass_proxy_user: bool = False,
) -> SubmitCommand:
    """Map the spec onto spark-submit options; BadRequest names the first field that cannot be used.

    Configuration precedence (later wins): the request's `sparkConf`, values derived from spec fields
    (`executor.instances`), the cluster's `local.sparkConf`, then `FORCED_CONF`.
    """
    spec = app.spec
    name = app.metadata.name
    if not name:
        raise BadRequest("metadata.name is required")
    user_conf = dict(spec.sparkConf or {})
    check_reserved_conf(user_conf, where="sparkConf")

    argv = [spark_submit, "--master", master, "--deploy-mode", "client", "--name", name]
    if spec.mainClass:
        argv += ["--class", spec.mainClass]

    deps = spec.deps
    if deps is not None:
        if deps.packages:
            raise BadRequest("deps.packages (Maven coordinates) is not supported by the local backend")
        for option, field, values, fragments in (
            ("--jars", "deps.jars", deps.jars, False),
            ("--py-files", "deps.pyFiles", deps.pyFiles, False),
            ("--files", "deps.files", deps.files, True),
            ("--archives", "deps.archives", deps.archives, True),
        ):
            if values:
                resolved = [allowed.resolve(v, what=field, allow_fragment=fragments) for v in values]
                if any("," in r for r in resolved):
                    raise BadRequest(f"{field}: file names may not contain ','")
                argv += [option, ",".join(resolved)]

    for option, value in (
        ("--driver-memory", spec.driver.memory),
        ("--driver-cores", spec.driver.cores),
        ("--executor-memory", spec.executor.memory),
        ("--executor-cores", spec.executor.cores),
    ):
        if value is not None:
            argv += [option, str(value)]

    ignored_proxy_user = None
    if spec.proxyUser:
        if pass_proxy_user:
            argv += ["--proxy-user", spec.proxyUser]
        else:
            ignored_proxy_user = spec.proxyUser

    conf = user_conf
    if spec.executor.instances is not None:
        conf["spark.executor.instances"] = str(spec.executor.instances)
    conf.update(cluster_conf or {})
    conf.update(FORCED_CONF)
    for key, value in conf.items():
        if not key or "=" in key or key != key.strip():
            raise BadRequest(f"sparkConf key '{key}' is not a valid Spark configuration key")
        argv += ["--conf", f"{key}={value}"]

    argv.append(allowed.resolve(spec.mainApplicationFile, what="mainApplicationFile"))
    argv += list(spec.arguments or [])

    for arg in argv:
        if "\x00" in arg:
            raise BadRequest(f"argument '{arg[:40]!r}' contains a NUL character")
    return SubmitCommand(argv=argv, ignored_proxy_user=ignored_proxy_user)
