"""The `spark-submit` argument list for one SparkApplication on the local backend.

Kept free of I/O except the file checks in `paths`, so every mapping rule (which spec field becomes
which option, which configuration wins, what is refused) is testable without starting Spark. The result
is an argv list for `exec`, never a shell string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from spark_gateway.backends.local.paths import AllowedDirs
from spark_gateway.domain.conf_policy import FILE_CONF_KEYS, PACKAGE_CONF_KEYS, RESERVED_KEYS, key_problem
from spark_gateway.domain.errors import BadRequest
from spark_gateway.domain.sparkapp import SparkApplication

RESERVED_CONF = RESERVED_KEYS
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


def checked_user_conf(conf: Mapping[str, str], allowed: AllowedDirs) -> dict[str, str]:
    """The request's configuration with every file it names checked like the matching field (and
    replaced by its real path); keys that fetch code from Maven are refused like `deps.packages`."""
    result = dict(conf)
    for key in PACKAGE_CONF_KEYS:
        if key in result:
            raise BadRequest(
                f"sparkConf '{key}' (Maven packages) is not supported by the local backend: "
                "put the jars under an allowed directory and name them in jars instead"
            )
    for key, (field, fragments) in FILE_CONF_KEYS.items():
        if key not in result:
            continue
        entries = [entry.strip() for entry in result[key].split(",") if entry.strip()]
        what = f"sparkConf '{key}' (like {field})"
        result[key] = ",".join(allowed.resolve(e, what=what, allow_fragment=fragments) for e in entries)
    return result


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

    Configuration precedence (later wins): the request's `sparkConf` (then its `hadoopConf` as
    `spark.hadoop.*`), values derived from spec fields (`executor.instances`), the cluster's
    `local.sparkConf`, then `FORCED_CONF`. Files named in configuration follow the field rules.
    """
    spec = app.spec
    name = app.metadata.name
    if not name:
        raise BadRequest("metadata.name is required")
    user_conf = dict(spec.sparkConf or {})
    check_reserved_conf(user_conf, where="sparkConf")
    for key in user_conf:
        if problem := key_problem(key):
            raise BadRequest(problem)
    hadoop_conf = (spec.model_extra or {}).get("hadoopConf") or {}
    if not isinstance(hadoop_conf, dict):
        raise BadRequest("hadoopConf: must be an object of string values")
    for key, value in hadoop_conf.items():
        if problem := key_problem(key):
            raise BadRequest(f"hadoopConf: {problem}")
        user_conf.setdefault(f"spark.hadoop.{key}", str(value))
    user_conf = checked_user_conf(user_conf, allowed)

    argv = [spark_submit, "--master", master, "--deploy-mode", "client", "--name", name]
    if spec.mainClass:
        argv += ["--class", spec.mainClass]

    deps = spec.deps
    if deps is not None:
        if deps.packages:
            raise BadRequest("deps.packages (Maven coordinates) is not supported by the local backend")
        if (deps.model_extra or {}).get("repositories"):
            raise BadRequest("deps.repositories (Maven repositories) is not supported by the local backend")
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
        argv += ["--conf", f"{key}={value}"]

    argv.append(allowed.resolve(spec.mainApplicationFile, what="mainApplicationFile"))
    argv += list(spec.arguments or [])

    for arg in argv:
        if "\x00" in arg:
            raise BadRequest(f"argument '{arg[:40]!r}' contains a NUL character")
    return SubmitCommand(argv=argv, ignored_proxy_user=ignored_proxy_user)
