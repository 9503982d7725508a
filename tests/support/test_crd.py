"""The CRD validator (tests/support/crd.py) rejects what a real API server rejects, with its messages."""

from __future__ import annotations

import copy
import re

import pytest

from tests.fakes.k8s_server import sample_app
from tests.support.crd import CRDValidationError, validate_spark_application


def test_crd_validator_rejects_missing_spark_version_and_accepts_a_minimal_app() -> None:
    minimal = {
        "apiVersion": "sparkoperator.k8s.io/v1beta2",
        "kind": "SparkApplication",
        "metadata": {"name": "m", "namespace": "default"},
        "spec": {
            "type": "Scala",
            "sparkVersion": "4.0.0",
            "mainApplicationFile": "x.jar",
            "driver": {},
            "executor": {},
        },
    }
    validate_spark_application(minimal)
    broken = copy.deepcopy(minimal)
    del broken["spec"]["sparkVersion"]
    broken["spec"]["type"] = "Go"
    broken["spec"]["driver"]["cores"] = "two"
    with pytest.raises(CRDValidationError) as caught:
        validate_spark_application(broken)
    message = str(caught.value)
    assert "spec.sparkVersion: Required value" in message
    assert 'spec.type: Unsupported value: "Go"' in message
    assert re.search(r"spec\.driver\.cores: Invalid value: \"two\": must be of type integer", message)


def test_crd_validator_knows_int_or_string_and_unknown_fields() -> None:
    app = sample_app("q")
    app["spec"]["driver"]["memoryOverhead"] = "1g"
    app["spec"]["volumes"] = [{"name": "v", "emptyDir": {"sizeLimit": 1024}}]  # int-or-string: an int
    validate_spark_application(app)
    app["spec"]["volumes"][0]["emptyDir"]["sizeLimit"] = "1Gi"
    validate_spark_application(app)
    app["spec"]["volumes"][0]["emptyDir"]["sizeLimit"] = "lots"  # the quantity pattern applies
    with pytest.raises(CRDValidationError, match="sizeLimit"):
        validate_spark_application(app)
    app["spec"]["volumes"][0]["emptyDir"]["sizeLimit"] = "1Gi"
    app["spec"]["driver"]["podTemplate"] = {
        "anything": {"goes": True}
    }  # x-kubernetes-preserve-unknown-fields
    app["spec"]["driverr"] = {}
    with pytest.raises(CRDValidationError, match=r"spec\.driverr: unknown field"):
        validate_spark_application(app)
    validate_spark_application(app, allow_unknown_fields=True)
    app["metadata"]["labels"]["spark-gateway/user"] = "alice@example.com"
    with pytest.raises(CRDValidationError, match=r"metadata\.labels"):
        validate_spark_application(app, allow_unknown_fields=True)
