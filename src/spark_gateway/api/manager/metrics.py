"""The SparkManager's Prometheus metrics, computed from its watch cache at each scrape.

`spark_application_count` and `cpu_allocated` are the seed gateway's gauges, so its
`weightBased` router and dashboards keep working: per configured namespace, plus a cluster-level series
with `namespace=""` counting every application the manager follows; only active applications count (not
COMPLETED, FAILED or SUBMISSION_FAILED). CPU per application is driver cores + executor cores * executors
(requests before cores, the spec before Spark conf, dynamic allocation counting its maximum).
`spark_application_state_count` breaks the applications down by state (a separate family, so the
routing gauges keep exactly one series per namespace); the `spark_manager_*` series show whether the
watch and the database writers keep up. A registry per app: several managers can share one process.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from spark_gateway.domain.states import AppState
from spark_gateway.domain.status import state_of
from spark_gateway.services.manager.service import ManagerService
from spark_gateway.settings import ClusterConfig

INACTIVE = frozenset({AppState.COMPLETED, AppState.FAILED, AppState.SUBMISSION_FAILED})
DEFAULT_MAX_EXECUTORS = 1000


def kube_cpu(value: Any) -> float | None:
    """A Kubernetes CPU quantity (`2`, `1.5`, `500m`) in cores; None when absent or unreadable."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    try:
        return float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        return None


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def _cores(role: str, spec: dict[str, Any], conf: dict[str, Any]) -> float:
    pod = spec.get(role) or {}
    found = _first(
        kube_cpu(pod.get("coreRequest")),
        kube_cpu(conf.get(f"spark.kubernetes.{role}.request.cores")),
        kube_cpu(pod.get("cores")),
        kube_cpu(conf.get(f"spark.{role}.cores")),
    )
    return 1.0 if found is None else found


def executor_count(spec: dict[str, Any], conf: dict[str, Any]) -> float:
    dynamic = spec.get("dynamicAllocation") or {}
    enabled = dynamic.get("enabled") is True
    enabled = enabled or str(conf.get("spark.dynamicAllocation.enabled", "")).lower() == "true"
    if enabled:
        found = _first(
            kube_cpu(dynamic.get("maxExecutors")), kube_cpu(conf.get("spark.dynamicAllocation.maxExecutors"))
        )
        return DEFAULT_MAX_EXECUTORS if found is None else found
    instances = (spec.get("executor") or {}).get("instances")
    found = _first(kube_cpu(instances), kube_cpu(conf.get("spark.executor.instances")))
    return 1.0 if found is None else found


def cpu_estimate(app: dict[str, Any]) -> float:
    spec = app.get("spec") or {}
    conf = spec.get("sparkConf") or {}
    return _cores("driver", spec, conf) + _cores("executor", spec, conf) * executor_count(spec, conf)


Key = tuple[str, str]
Summary = tuple[dict[str, Any], str, str, bool, float]  # (object, namespace, state, active, cores)


class ManagerCollector(Collector):
    def __init__(self, cluster: ClusterConfig, service: Callable[[], ManagerService | None]) -> None:
        self.cluster = cluster
        self.service = service
        self._seen: dict[Key, Summary] = {}

    def summarize(self, svc: ManagerService | None) -> tuple[Counter[str], dict[str, float], Counter[Key]]:
        """Active applications and their cores per namespace, and applications per (namespace, state).

        What an application adds is worked out once per version of its object (the watch replaces the
        cached object on every change): a scrape of thousands costs lookups, not spec parsing.
        """
        active: Counter[str] = Counter()
        cores: dict[str, float] = defaultdict(float)
        states: Counter[Key] = Counter()
        seen: dict[Key, Summary] = {}
        for key, obj in (svc.cache if svc is not None else {}).items():
            summary = self._seen.get(key)
            if summary is None or summary[0] is not obj:
                state = state_of(obj)
                live = state not in INACTIVE
                cpu = cpu_estimate(obj) if live else 0.0
                summary = (obj, _namespace(obj), state.value or "NEW", live, cpu)
            seen[key] = summary
            _, namespace, state_name, live, cpu = summary
            states[(namespace, state_name)] += 1
            if live:
                active[namespace] += 1
                cores[namespace] += cpu
        self._seen = seen
        return active, cores, states

    def collect(self) -> Iterator[Metric]:
        name = self.cluster.name
        svc = self.service()
        active, cores, states = self.summarize(svc)
        namespaces = [ns.name for ns in self.cluster.namespaces]
        count = GaugeMetricFamily(
            "spark_application_count", "Active SparkApplications", labels=["cluster", "namespace"]
        )
        cpu = GaugeMetricFamily(
            "cpu_allocated", "CPU cores of active SparkApplications", labels=["cluster", "namespace"]
        )
        by_state = GaugeMetricFamily(
            "spark_application_state_count",
            "SparkApplications by state (NEW: not yet seen by the operator)",
            labels=["cluster", "namespace", "state"],
        )
        count.add_metric([name, ""], sum(active.values()))
        cpu.add_metric([name, ""], sum(cores.values()))
        for namespace in namespaces:
            count.add_metric([name, namespace], active[namespace])
            cpu.add_metric([name, namespace], cores[namespace])
        for (namespace, state), n in sorted(states.items()):
            by_state.add_metric([name, namespace, state], n)
        yield from (count, cpu, by_state)
        if svc is None:
            return
        labels = ["cluster"]
        gauges = {
            "spark_manager_watch_synced": ("1 once the first list has been received", float(svc.synced)),
            "spark_manager_watch_failures": ("Consecutive failed watch rounds", svc.watch.failures),
            "spark_manager_pending_updates": (
                "Applications awaiting a database write",
                svc.work.queue.pending(),
            ),
            "spark_manager_pending_log_copies": (
                "Running drivers whose log copy is due",
                svc.log_work.queue.pending(),
            ),
        }
        for metric, (doc, value) in gauges.items():
            gauge = GaugeMetricFamily(metric, doc, labels=labels)
            gauge.add_metric([name], value)
            yield gauge
        counters = {
            "spark_manager_status_writes": ("Status changes written to the database", svc.status.writes),
            "spark_manager_write_failures": ("Failed database updates (retried)", svc.work.errors),
            "spark_manager_log_lines_copied": ("Driver log lines saved", svc.logs.lines_copied),
        }
        for metric, (doc, value) in counters.items():
            family = CounterMetricFamily(metric, doc, labels=labels)
            family.add_metric([name], value)
            yield family


def _namespace(app: dict[str, Any]) -> str:
    return str((app.get("metadata") or {}).get("namespace", ""))


def build_registry(cluster: ClusterConfig, service: Callable[[], ManagerService | None]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ManagerCollector(cluster, service))
    return registry
