"""What a SparkApplication may ask of Kubernetes: fields that change identity or reach the host.

Why: the native API passes a SparkApplication through as sent (every CRD field is allowed), and the
spark-operator creates the driver pod with the operator's rights. Without these rules any user could run
as another service account, mount the node's filesystem, run a privileged container, join the host's
network, call themselves someone else to Hadoop (`HADOOP_USER_NAME`), or name another application's pod
so the gateway serves that pod's log. The rules are pure (a dict in, violations out) so the Livy and
native paths apply the same ones and tests can cover them as a table.

Every violation carries a field path with list indices (`spec.volumes[0].hostPath`, to find it) and its
rule path without them (`spec.volumes.hostPath`, to allow it). An operator allows a rule for everyone with
`gateway.allowedSpecFields` (glob patterns over rule paths, e.g. `spec.*.hostNetwork`,
`spec.sparkConf.spark.kubernetes.driver.volumes.hostPath.*`); admins are never refused. Spark conf keys
are rule paths under `spec.sparkConf.` (Livy's `conf` becomes `spec.sparkConf`).

Deliberately allowed: scheduling (`nodeSelector`, `tolerations`, `affinity`, `priorityClassName`),
secrets and config maps of the namespace (a namespace's users share them), `proxyUser` (decided by
`domain.access`), resources. These rules stop the operator from building a dangerous pod on a user's
behalf; code running in a driver can still use the driver's service account, so Pod Security Admission
on the application namespaces remains necessary (see the README).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

# Environment variables that tell Hadoop or Spark who the user is.
IDENTITY_ENV = frozenset(
    {"HADOOP_USER_NAME", "HADOOP_PROXY_USER", "SPARK_USER", "HADOOP_TOKEN_FILE_LOCATION", "KRB5CCNAME"}
)
OPERATOR_LABEL_PREFIX = "sparkoperator.k8s.io/"  # labels by which the operator finds an app's pods
# Maps whose keys are user data (label names, env names, conf keys), not fields: never walked as fields.
_FREE_FORM = frozenset(
    {
        "annotations",
        "configMaps",
        "hadoopConf",
        "labels",
        "nodeSelector",
        "secrets",
        "serviceAnnotations",
        "serviceLabels",
        "sparkConf",
        "envVars",
        "envSecretKeyRefs",
        "arguments",
        "deps",
    }
)

_ROLE = r"(driver|executor)"
# Spark conf keys (regex, full match) and why they are refused.
CONF_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), reason)
    for pattern, reason in (
        (r"spark\.kubernetes\.driver\.pod\.name", "names the driver pod (it could be another's)"),
        (r"spark\.kubernetes\.executor\.podNamePrefix", "names the executor pods (they could be another's)"),
        (r"spark\.kubernetes\.authenticate\..+", "changes the Kubernetes identity"),
        (r"spark\.kubernetes\.context", "changes the Kubernetes identity"),
        (r"spark\.kubernetes\.namespace", "moves the application to another namespace"),
        (rf"spark\.kubernetes\.{_ROLE}\.podTemplateFile", "replaces the pod definition"),
        (rf"spark\.kubernetes\.{_ROLE}\.podTemplateContainerName", "replaces the pod definition"),
        (rf"spark\.kubernetes\.{_ROLE}\.podFeatureSteps", "runs code that rewrites the pod definition"),
        (rf"spark\.kubernetes\.{_ROLE}\.volumes\.hostPath\..+", "mounts the node's filesystem"),
        (rf"spark\.kubernetes\.{_ROLE}\.label\.sparkoperator\.k8s\.io/.+", "claims the operator's labels"),
        (r"spark\.kubernetes\.kerberos\..+", "changes the Kerberos identity"),
        (r"spark\.kerberos\..+", "changes the Kerberos identity"),
        (
            r"(spark\.kubernetes\.driverEnv|spark\.executorEnv|spark\.kubernetes\.(driver|executor)\.secretKeyRef)"
            rf"\.({'|'.join(sorted(IDENTITY_ENV))})",
            "sets the user name Hadoop or Spark trusts",
        ),
    )
)
_NOT_A_KEY = re.compile(r"[=\s]")
SERVICE_ACCOUNT_CONF = re.compile(rf"spark\.kubernetes\.authenticate\.{_ROLE}\.serviceAccountName")


@dataclass(frozen=True)
class Violation:
    path: str  # where, with list indices: spec.volumes[0].hostPath
    rule: str  # what to allow in gateway.allowedSpecFields: spec.volumes.hostPath
    reason: str

    def describe(self) -> str:
        allow = f"; allow it with gateway.allowedSpecFields: [{self.rule}]" if self.rule != self.path else ""
        return f"{self.path}: {self.reason}{allow}"


@dataclass(frozen=True)
class SpecPolicy:
    """The rules, with what the operator allows: `allowed` rule-path globs, `service_accounts` names."""

    allowed: tuple[str, ...] = ()
    service_accounts: frozenset[str] = frozenset()

    @classmethod
    def build(cls, allowed: Iterable[str] = (), service_accounts: Iterable[str] = ()) -> SpecPolicy:
        return cls(tuple(p.strip() for p in allowed if p.strip()), frozenset(service_accounts))

    def violations(self, app: dict[str, Any]) -> list[Violation]:
        """Everything in a SparkApplication (as a dict) that this policy does not allow."""
        found: list[Violation] = []
        for key in (app.get("metadata") or {}).get("labels") or {}:
            if str(key).startswith(OPERATOR_LABEL_PREFIX):
                found.append(_v(f"metadata.labels.{key}", "claims the operator's labels"))
        spec = app.get("spec") or {}
        if isinstance(spec, dict):
            if spec.get("mode") == "client":
                found.append(_v("spec.mode", "client mode runs the driver in the spark-operator's pod"))
            found += self._conf(spec.get("sparkConf") or {})
            found += self._walk(spec, ["spec"])
        return [v for v in found if not any(fnmatchcase(v.rule, p) for p in self.allowed)]

    # Spark conf ----------------------------------------------------------------------------------------

    def _conf(self, conf: dict[str, Any]) -> list[Violation]:
        found = []
        for key, value in conf.items():
            if _NOT_A_KEY.search(key):  # the operator passes `--conf key=value`: '=' would start the value
                found.append(_v(f"spec.sparkConf.{key}", "is not a Spark configuration key ('=' or blanks)"))
                continue
            if SERVICE_ACCOUNT_CONF.fullmatch(key) and str(value) in self.service_accounts:
                continue
            for pattern, reason in CONF_RULES:
                if pattern.fullmatch(key):
                    found.append(_v(f"spec.sparkConf.{key}", reason))
                    break
        return found

    # Fields, anywhere in the spec (driver, executor, sidecars, initContainers, pod templates) --------

    def _walk(self, node: Any, path: list[str]) -> list[Violation]:
        found: list[Violation] = []
        if isinstance(node, list):
            for i, item in enumerate(node):
                found += self._walk(item, [*path[:-1], f"{path[-1]}[{i}]"])
            return found
        if not isinstance(node, dict):
            return found
        for key, value in node.items():
            here = [*path, str(key)]
            found += self._field(key, value, here)
            if key not in _FREE_FORM:
                found += self._walk(value, here)
        return found

    def _field(self, key: str, value: Any, path: list[str]) -> list[Violation]:
        where = ".".join(path)
        if value is None or value is False:
            return []
        if key in ("hostPath", "gitRepo") and path[-2].startswith("volumes["):
            what = "mounts the node's filesystem" if key == "hostPath" else "runs git on the node"
            return [_v(where, what)]
        if key in ("hostNetwork", "hostPID", "hostIPC") and value is True:
            return [_v(where, "shares the node's namespaces")]
        if key in ("serviceAccount", "serviceAccountName") and isinstance(value, str):
            if value in self.service_accounts:
                return []
            return [
                _v(
                    where,
                    "changes the Kubernetes identity (gateway.allowedServiceAccounts lists those allowed)",
                )
            ]
        if key == "podName" and path[-2] in ("driver", "executor"):
            return [_v(where, "names the driver pod (it could be another's)")]
        if key == "labels" and isinstance(value, dict):
            return [
                _v(f"{where}.{label}", "claims the operator's labels")
                for label in value
                if str(label).startswith(OPERATOR_LABEL_PREFIX)
            ]
        if key in ("securityContext", "podSecurityContext") and isinstance(value, dict):
            return _security_context(value, where)
        if key == "env" and isinstance(value, list):
            names = [
                (i, e.get("name"))
                for i, e in enumerate(value)
                if isinstance(e, dict) and isinstance(e.get("name"), str)
            ]
            return [
                _v(f"{where}[{i}]", f"sets {n}, the user name Hadoop or Spark trusts")
                for i, n in names
                if n in IDENTITY_ENV
            ]
        if key in ("envVars", "envSecretKeyRefs") and isinstance(value, dict):
            return [
                _v(f"{where}.{n}", "sets the user name Hadoop or Spark trusts")
                for n in value
                if n in IDENTITY_ENV
            ]
        if key == "envFrom" and value:
            return [_v(where, "imports variables that could set HADOOP_USER_NAME or SPARK_USER")]
        return []


def _security_context(context: dict[str, Any], where: str) -> list[Violation]:
    found = []

    def refuse(field: str, reason: str) -> None:
        found.append(_v(f"{where}.{field}", reason))

    if context.get("privileged") is True:
        refuse("privileged", "a privileged container controls the node")
    if context.get("allowPrivilegeEscalation") is True:
        refuse("allowPrivilegeEscalation", "lets processes gain more privileges than their parent")
    if (
        ((context.get("capabilities") or {}).get("add"))
        if isinstance(context.get("capabilities"), dict)
        else False
    ):
        refuse("capabilities.add", "adds Linux capabilities")
    for field in ("runAsUser", "runAsGroup"):
        if context.get(field) == 0 and not isinstance(context.get(field), bool):
            refuse(field, "runs as root")
    if context.get("procMount") == "Unmasked":
        refuse("procMount", "unmasks the node's /proc")
    for field in ("seccompProfile", "appArmorProfile"):
        profile = context.get(field)
        if isinstance(profile, dict) and profile.get("type") == "Unconfined":
            refuse(f"{field}.type", "removes the kernel's confinement")
    if isinstance(context.get("windowsOptions"), dict) and context["windowsOptions"].get("hostProcess"):
        refuse("windowsOptions.hostProcess", "runs as a process of the node")
    if context.get("seLinuxOptions"):
        refuse("seLinuxOptions", "changes the SELinux identity")
    if context.get("sysctls"):
        refuse("sysctls", "changes the node's kernel settings")
    return found


def _v(path: str, reason: str) -> Violation:
    return Violation(path=path, rule=re.sub(r"\[\d+\]", "", path), reason=reason)
