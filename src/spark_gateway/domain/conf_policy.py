"""Which Spark configuration keys a submission may set: one pure rule set for every API and backend.

A request's `conf` (Livy) or `spec.sparkConf` / `spec.hadoopConf` (v1) reaches `spark-submit` as
`--conf key=value`, so each key is judged here before anything is stored:

* a key must look like a Spark key (letters, digits, `._-/`; no spaces, newlines or `=`);
* `spark.master` and `spark.submit.deployMode` are the gateway's: refused for everyone;
* keys matching `gateway.forbiddenSparkConf` (glob patterns) are refused for everyone, admins too;
* dangerous keys, those that run code outside the application (JVM options, class and library paths,
  interpreters, plugins, discovery scripts), set its environment, or change its authentication, ACLs
  and encryption, are refused unless the caller is an admin or `gateway.allowedSparkConf` re-allows them.

Keys that change a job's identity on Kubernetes or reach the host (service accounts, namespace, pod
templates, hostPath volumes, Kerberos) are judged by `domain.spec_policy` together with the spec fields
of the same effect (re-allowed with `gateway.allowedSpecFields`); both rule sets apply to every
submission.

Keys that name files (`spark.jars`, `spark.files`, ...) are listed in `FILE_CONF_KEYS`: the local
backend checks their values with the same directory rules as the `jars`/`files` fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from spark_gateway.domain.errors import BadRequest
from spark_gateway.domain.sparkapp import SparkApplication

# Set by the gateway, never by a request: where and how the driver runs.
RESERVED_KEYS = ("spark.master", "spark.submit.deployMode")

# Keys whose value is a comma-separated list of files, and the request field with the same meaning
# (whose rules they follow); `True`: a `#alias` suffix is allowed, as for --files/--archives.
FILE_CONF_KEYS: Mapping[str, tuple[str, bool]] = {
    "spark.jars": ("jars", False),
    "spark.submit.pyFiles": ("pyFiles", False),
    "spark.files": ("files", True),
    "spark.archives": ("archives", True),
}
# Keys that fetch code from Maven repositories, as `deps.packages` does.
PACKAGE_CONF_KEYS = ("spark.jars.packages", "spark.jars.repositories", "spark.jars.excludes")

DANGEROUS_PATTERNS: tuple[str, ...] = (
    # JVM options and paths: -javaagent, -XX:OnOutOfMemoryError=..., native libraries, foreign jars.
    "spark.driver.extraJavaOptions",
    "spark.executor.extraJavaOptions",
    "spark.driver.defaultJavaOptions",
    "spark.executor.defaultJavaOptions",
    "spark.*.extraClassPath",
    "spark.*.extraLibraryPath",
    "spark.sql.hive.metastore.jars*",
    # Ivy settings and cache are files on the submitting machine (the gateway's, or the operator's pod).
    "spark.jars.ivy",
    "spark.jars.ivySettings",
    # Other programs and modules than the application's.
    "spark.plugins",
    "spark.plugins.*",
    "spark.pyspark.*",
    "spark.python.daemon.module",
    "spark.python.worker.module",
    "spark.r.command",
    "spark.r.driver.command",
    "spark.r.shell.command",
    "spark.*.resource.*.discoveryScript",
    "spark.resources.discoveryPlugin",
    # The job's environment.
    "spark.executorEnv.*",
    "spark.kubernetes.driverEnv.*",
    "spark.yarn.*",
    # Who may talk to the job and read it, and with which credentials (Kubernetes identity, pod and
    # Kerberos keys are domain.spec_policy's: service accounts, namespace, pod templates, host paths).
    "spark.authenticate",
    "spark.authenticate.*",
    "spark.network.crypto.*",
    "spark.io.encryption.*",
    "spark.ssl.*",
    "spark.acls.enable",
    "spark.*.acls",
    "spark.*.acls.*",
    "spark.ui.filters",
    "spark.user.groups.mapping",
    "spark.redaction.*",
)

# Spec fields that set a dangerous key under another name (spark-operator maps them onto these keys).
JAVA_OPTIONS_FIELDS: Mapping[str, str] = {
    "driver": "spark.driver.extraJavaOptions",
    "executor": "spark.executor.extraJavaOptions",
}
# Spec fields that mount configuration the gateway never sees (spark-defaults.conf, core-site.xml).
CONFIG_MAP_FIELDS = ("sparkConfigMap", "hadoopConfigMap")

_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,511}")
_HADOOP_PREFIX = "spark.hadoop."


def key_problem(key: str) -> str | None:
    """Why `key` cannot be a Spark configuration key, or None."""
    if not _KEY.fullmatch(key):
        shown = key if len(key) <= 80 else key[:77] + "..."
        return (
            f"{shown!r} is not a valid Spark configuration key: use letters, digits and '._-/' only "
            "(no spaces, newlines or '='), at most 512 characters"
        )
    return None


def _matches(key: str, patterns: Iterable[str]) -> str | None:
    return next((p for p in patterns if fnmatchcase(key, p)), None)


def is_dangerous(key: str) -> bool:
    return _matches(key, DANGEROUS_PATTERNS) is not None


@dataclass(frozen=True)
class ConfPolicy:
    """The rules, built once from settings (`gateway.forbiddenSparkConf`, `gateway.allowedSparkConf`)."""

    forbidden: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()

    @classmethod
    def build(cls, *, forbidden: Iterable[str] = (), allowed: Iterable[str] = ()) -> ConfPolicy:
        return cls(
            forbidden=tuple(p.strip() for p in forbidden if p.strip()),
            allowed=tuple(p.strip() for p in allowed if p.strip()),
        )

    def refusal(self, key: str, *, privileged: bool) -> str | None:
        """Why `key` may not be set by this caller (`privileged`: an admin), or None."""
        if problem := key_problem(key):
            return problem
        if key in RESERVED_KEYS:
            return f"Spark configuration key '{key}' is controlled by the gateway: remove it"
        if pattern := _matches(key, self.forbidden):
            return (
                f"Spark configuration key '{key}' is forbidden on this gateway "
                f"(gateway.forbiddenSparkConf: '{pattern}'): remove it"
            )
        if privileged or not is_dangerous(key) or _matches(key, self.allowed):
            return None
        return (
            f"Spark configuration key '{key}' can run code outside the application or change its "
            "environment or identity, so only admins may set it: remove it, or ask an operator to "
            "add it to gateway.allowedSparkConf"
        )

    def check(self, conf: Mapping[str, str], *, privileged: bool, where: str = "") -> None:
        """Raise BadRequest naming the first refused key (in key order, so messages are stable)."""
        for key in sorted(conf):
            if reason := self.refusal(key, privileged=privileged):
                raise BadRequest(f"{where}: {reason}" if where else reason)

    def check_hadoop(self, hadoop_conf: Mapping[str, str], *, privileged: bool) -> None:
        """`spec.hadoopConf` keys become `spark.hadoop.<key>`: judged as such."""
        for key in sorted(hadoop_conf):
            if problem := key_problem(key):
                raise BadRequest(f"hadoopConf: {problem}")
            if reason := self.refusal(_HADOOP_PREFIX + key, privileged=privileged):
                raise BadRequest(f"hadoopConf key '{key}': {reason}")

    def check_application(self, app: SparkApplication, *, privileged: bool) -> None:
        """Every way a SparkApplication sets Spark or Hadoop configuration, judged by the same rules."""
        spec = app.spec
        self.check(spec.sparkConf or {}, privileged=privileged)
        extra = spec.model_extra or {}
        hadoop = extra.get("hadoopConf")
        if hadoop is not None:
            if not isinstance(hadoop, dict) or not all(isinstance(v, str) for v in hadoop.values()):
                raise BadRequest("hadoopConf: must be an object of string values")
            self.check_hadoop(hadoop, privileged=privileged)
        for role, key in JAVA_OPTIONS_FIELDS.items():
            options = (getattr(spec, role).model_extra or {}).get("javaOptions")
            if options is not None and (reason := self.refusal(key, privileged=privileged)):
                raise BadRequest(f"{role}.javaOptions sets {key}. {reason}")
        for name in CONFIG_MAP_FIELDS:
            if extra.get(name) is not None and not privileged:
                raise BadRequest(
                    f"{name}: configuration mounted from a ConfigMap bypasses the gateway's checks, so "
                    "only admins may use it: put the keys into sparkConf/hadoopConf instead"
                )
