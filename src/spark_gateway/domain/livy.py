"""Livy batch requests and how they become SparkApplications.

Field names, defaults and validation follow Apache Livy's `CreateBatchRequest` (unknown fields are
rejected, `file` is required); the mapping follows the seed gateway but fixes its number rendering
(`1000000`, never `1e+06`) and leaves unset resources unset.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from spark_gateway.domain.sparkapp import (
    BatchSchedulerOptions,
    Dependencies,
    ExecutorSpec,
    ObjectMeta,
    PodSpec,
    SparkApplication,
    SparkApplicationSpec,
)

ConfValue = StrictStr | StrictInt | StrictFloat | StrictBool
PositiveInt = Annotated[StrictInt, Field(ge=1)]


class LivyRequestFields(BaseModel):
    """The fields batch and session requests share; each request lists its own first (a base class
    listed later comes earlier), so both keep Livy's field order in schemas and validation messages."""

    jars: list[StrictStr] = Field(default_factory=list)
    pyFiles: list[StrictStr] = Field(default_factory=list)
    files: list[StrictStr] = Field(default_factory=list)
    archives: list[StrictStr] = Field(default_factory=list)
    driverMemory: StrictStr | None = None
    driverCores: PositiveInt | None = None
    executorMemory: StrictStr | None = None
    executorCores: PositiveInt | None = None
    numExecutors: PositiveInt | None = None
    queue: StrictStr | None = None
    name: StrictStr | None = None
    conf: dict[str, ConfValue] = Field(default_factory=dict)


class _BatchFields(BaseModel):
    file: StrictStr | None = None
    proxyUser: StrictStr | None = None
    className: StrictStr | None = None
    args: list[StrictStr] = Field(default_factory=list)


class LivyBatchRequest(LivyRequestFields, _BatchFields):
    model_config = ConfigDict(extra="forbid")


def conf_value_to_str(value: Any) -> str:
    """Spark conf values are strings; JSON numbers and booleans get their JSON spelling."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value)


def application_type(file: str) -> str:
    lowered = file.lower()
    if lowered.endswith(".py"):
        return "Python"
    if lowered.endswith(".r"):
        return "R"
    return "Java"


def to_spark_application(
    request: LivyBatchRequest, *, namespace: str, spark_version: str
) -> SparkApplication:
    if not request.file:
        raise ValueError("File is required.")
    return spark_application(
        request,
        namespace=namespace,
        spark_version=spark_version,
        app_type=application_type(request.file),
        main_file=request.file,
        main_class=request.className,
        arguments=list(request.args) or None,
        proxy_user=request.proxyUser,
    )


def spark_application(
    request: LivyRequestFields,
    *,
    namespace: str,
    spark_version: str,
    app_type: str,
    main_file: str,
    main_class: str | None,
    arguments: list[str] | None,
    proxy_user: str | None,
) -> SparkApplication:
    """The SparkApplication a batch or session request asks for (resources, dependencies, conf)."""
    deps = Dependencies(
        jars=request.jars or None,
        files=request.files or None,
        pyFiles=request.pyFiles or None,
        archives=request.archives or None,
    )
    spec = SparkApplicationSpec(
        type=app_type,  # type: ignore[arg-type]
        mode="cluster",
        sparkVersion=spark_version,
        mainApplicationFile=main_file,
        mainClass=main_class,
        arguments=arguments,
        sparkConf={k: conf_value_to_str(v) for k, v in request.conf.items()} or None,
        deps=deps if deps.model_dump(exclude_none=True) else None,
        driver=PodSpec(
            cores=request.driverCores,
            coreLimit=str(request.driverCores) if request.driverCores else None,
            memory=request.driverMemory,
        ),
        executor=ExecutorSpec(
            cores=request.executorCores,
            coreLimit=str(request.executorCores) if request.executorCores else None,
            memory=request.executorMemory,
            instances=request.numExecutors,
        ),
        proxyUser=proxy_user,
        pythonVersion="3" if app_type == "Python" else None,
        batchSchedulerOptions=BatchSchedulerOptions(queue=request.queue) if request.queue else None,
    )
    return SparkApplication(metadata=ObjectMeta(name=request.name, namespace=namespace), spec=spec)
