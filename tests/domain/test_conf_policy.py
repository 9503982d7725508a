"""The Spark configuration rules as a table: which keys pass, which are refused, and for whom."""

from __future__ import annotations

from typing import Any

import pytest

from spark_gateway.domain.conf_policy import ConfPolicy, is_dangerous, key_problem
from spark_gateway.domain.errors import BadRequest
from spark_gateway.domain.sparkapp import SparkApplication

HONEST = [
    "spark.executor.memory",
    "spark.driver.memory",
    "spark.executor.instances",
    "spark.sql.shuffle.partitions",
    "spark.sql.adaptive.enabled",
    "spark.sql.extensions",
    "spark.eventLog.enabled",
    "spark.hadoop.fs.s3a.endpoint",
    "spark.hadoop.fs.s3a.bucket.my-bucket.endpoint",
    "spark.kubernetes.driver.label.example.com/team",
    "spark.ui.showConsoleProgress",
    "spark.dynamicAllocation.enabled",
    "spark.python.worker.memory",
]
DANGEROUS = [
    "spark.driver.extraJavaOptions",
    "spark.executor.extraJavaOptions",
    "spark.driver.defaultJavaOptions",
    "spark.driver.extraClassPath",
    "spark.executor.extraClassPath",
    "spark.driver.extraLibraryPath",
    "spark.plugins",
    "spark.pyspark.python",
    "spark.pyspark.driver.python",
    "spark.python.worker.module",
    "spark.executorEnv.AWS_SECRET_ACCESS_KEY",
    "spark.kubernetes.driverEnv.PATH",
    "spark.yarn.appMasterEnv.X",
    "spark.yarn.keytab",
    "spark.authenticate",
    "spark.authenticate.secret",
    "spark.ui.view.acls",
    "spark.admin.acls.groups",
    "spark.ui.filters",
    "spark.driver.resource.gpu.discoveryScript",
    "spark.executor.resource.gpu.discoveryScript",
    "spark.sql.hive.metastore.jars",
    "spark.jars.ivySettings",
    "spark.redaction.regex",
]


@pytest.mark.parametrize("key", HONEST)
def test_honest_keys_pass_for_everyone(key: str) -> None:
    assert ConfPolicy().refusal(key, privileged=False) is None


@pytest.mark.parametrize("key", DANGEROUS)
def test_dangerous_keys_are_for_admins_only(key: str) -> None:
    policy = ConfPolicy()
    reason = policy.refusal(key, privileged=False)
    assert reason is not None and f"'{key}'" in reason
    assert "only admins may set it" in reason and "gateway.allowedSparkConf" in reason
    assert policy.refusal(key, privileged=True) is None


def test_keys_are_case_sensitive_like_spark() -> None:
    """Spark ignores `Spark.Driver.ExtraJavaOptions` (not a Spark key), so it is nothing dangerous."""
    assert not is_dangerous("Spark.Driver.ExtraJavaOptions")
    assert is_dangerous("spark.driver.extraJavaOptions")


@pytest.mark.parametrize("key", ["spark.master", "spark.submit.deployMode"])
def test_reserved_keys_are_refused_even_for_admins_and_allow_lists(key: str) -> None:
    policy = ConfPolicy.build(allowed=["*"])
    for privileged in (False, True):
        reason = policy.refusal(key, privileged=privileged)
        assert reason is not None and "controlled by the gateway" in reason


def test_allowed_spark_conf_reallows_named_keys_and_globs_only() -> None:
    policy = ConfPolicy.build(allowed=["spark.executorEnv.*", "spark.plugins", " "])
    assert policy.refusal("spark.executorEnv.TZ", privileged=False) is None
    assert policy.refusal("spark.plugins", privileged=False) is None
    assert policy.refusal("spark.plugins.defaultList", privileged=False) is not None
    assert policy.refusal("spark.driver.extraJavaOptions", privileged=False) is not None


def test_forbidden_globs_refuse_everyone_and_win_over_allowed() -> None:
    policy = ConfPolicy.build(
        forbidden=["spark.sql.*", "spark.executorEnv.*"], allowed=["spark.executorEnv.*"]
    )
    for privileged in (False, True):
        reason = policy.refusal("spark.sql.warehouse.dir", privileged=privileged)
        assert reason is not None and "gateway.forbiddenSparkConf: 'spark.sql.*'" in reason
        assert policy.refusal("spark.executorEnv.TZ", privileged=privileged) is not None
    assert policy.refusal("spark.executor.memory", privileged=False) is None


@pytest.mark.parametrize(
    "key",
    ["", "spark.x y", "spark.x\ny", "spark.x=1", " spark.x", "spark.x\t", "spark.ü", "s" * 513, ".spark"],
)
def test_keys_must_look_like_spark_keys(key: str) -> None:
    problem = key_problem(key)
    assert problem is not None and "not a valid Spark configuration key" in problem
    assert ConfPolicy().refusal(key, privileged=True) == problem


def test_check_names_the_first_refused_key_in_order() -> None:
    conf = {
        "spark.pyspark.python": "/bin/sh",
        "spark.executor.memory": "1g",
        "spark.driver.extraClassPath": "/",
    }
    with pytest.raises(BadRequest, match=r"'spark\.driver\.extraClassPath'"):
        ConfPolicy().check(conf, privileged=False)
    ConfPolicy().check(conf, privileged=True)


def app(**spec: Any) -> SparkApplication:
    return SparkApplication.model_validate(
        {"spec": {"type": "Python", "sparkVersion": "4", "mainApplicationFile": "/a.py", **spec}}
    )


def test_every_way_a_spec_sets_configuration_is_judged() -> None:
    policy = ConfPolicy()
    refused = [
        (app(sparkConf={"spark.plugins": "x.Y"}), "'spark.plugins'"),
        (app(hadoopConf={"fs s3a": "x"}), "hadoopConf: 'fs s3a' is not a valid"),
        (app(hadoopConf={"fs.x": 1}), "hadoopConf: must be an object of string values"),
        (
            app(driver={"javaOptions": "-javaagent:/tmp/a.jar"}),
            "driver.javaOptions sets spark.driver.extraJavaOptions",
        ),
        (app(executor={"javaOptions": "-Dx=1"}), "executor.javaOptions sets spark.executor.extraJavaOptions"),
        (app(sparkConfigMap="defaults"), "sparkConfigMap: configuration mounted from a ConfigMap"),
        (app(hadoopConfigMap="core-site"), "hadoopConfigMap"),
    ]
    for application, fragment in refused:
        with pytest.raises(BadRequest, match=fragment.replace(".", r"\.")):
            policy.check_application(application, privileged=False)
    policy.check_application(app(hadoopConf={"fs.s3a.endpoint": "http://minio:9000"}), privileged=False)
    policy.check_application(app(driver={"javaOptions": "-Dx=1"}, sparkConfigMap="d"), privileged=True)


def test_hadoop_conf_is_judged_as_spark_hadoop_keys() -> None:
    policy = ConfPolicy.build(forbidden=["spark.hadoop.fs.s3a.*"])
    with pytest.raises(BadRequest, match=r"hadoopConf key 'fs\.s3a\.access\.key'"):
        policy.check_application(app(hadoopConf={"fs.s3a.access.key": "k"}), privileged=True)
