"""How a SparkApplication becomes the spark-submit argv of the local backend."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from spark_gateway.backends.local import LocalBackend
from spark_gateway.backends.local.command import build_command
from spark_gateway.backends.local.paths import AllowedDirs
from spark_gateway.domain.errors import BadRequest, ConfigError
from spark_gateway.domain.sparkapp import SparkApplication
from spark_gateway.settings import ClusterConfig, LocalBackendConfig, NamespaceConfig

GATEWAY_ID = "local-dflt-0190f0f0-0000-7000-8000-000000000000"


@pytest.fixture
def appdir(tmp_path: Path) -> Path:
    for name in ("main.py", "util.py", "lib.jar", "data.csv", "env.tar.gz"):
        (tmp_path / name).write_text("x")
    return Path(os.path.realpath(tmp_path))


def make_app(appdir: Path, **spec: Any) -> SparkApplication:
    body: dict[str, Any] = {
        "type": "Python",
        "sparkVersion": "4.0.0",
        "mainApplicationFile": f"local://{appdir}/main.py",
    }
    body.update(spec)
    return SparkApplication.model_validate({"metadata": {"name": GATEWAY_ID}, "spec": body})


def build(appdir: Path, app: SparkApplication, **kwargs: Any) -> list[str]:
    kwargs.setdefault("spark_submit", "/opt/spark/bin/spark-submit")
    kwargs.setdefault("master", "local[*]")
    kwargs.setdefault("allowed", AllowedDirs([appdir]))
    return build_command(app, **kwargs).argv


def conf_of(argv: list[str]) -> dict[str, str]:
    pairs = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--conf"]
    return dict(pair.split("=", 1) for pair in pairs)


def test_minimal_python_app(appdir: Path) -> None:
    argv = build(appdir, make_app(appdir))
    assert argv == [
        "/opt/spark/bin/spark-submit",
        "--master",
        "local[*]",
        "--deploy-mode",
        "client",
        "--name",
        GATEWAY_ID,
        "--conf",
        "spark.ui.showConsoleProgress=false",
        f"{appdir}/main.py",
    ]


def test_full_spec_maps_every_option(appdir: Path) -> None:
    app = make_app(
        appdir,
        type="Java",
        mode="cluster",  # the local backend always runs the driver in client mode
        mainClass="org.example.Main",
        mainApplicationFile=f"{appdir}/lib.jar",
        arguments=["--input", "a b", "$(rm -rf /)", "x;y"],
        sparkConf={"spark.sql.shuffle.partitions": "4", "spark.eventLog.enabled": "true"},
        deps={
            "jars": [f"{appdir}/lib.jar"],
            "pyFiles": [f"file://{appdir}/util.py"],
            "files": [f"{appdir}/data.csv", f"{appdir}/main.py#renamed.py"],
            "archives": [f"{appdir}/env.tar.gz#environment"],
        },
        driver={"cores": 2, "memory": "1g"},
        executor={"cores": 3, "memory": "2g", "instances": 4},
    )
    argv = build(appdir, app, master="spark://127.0.0.1:7077")
    assert argv[:9] == [
        "/opt/spark/bin/spark-submit",
        "--master",
        "spark://127.0.0.1:7077",
        "--deploy-mode",
        "client",
        "--name",
        GATEWAY_ID,
        "--class",
        "org.example.Main",
    ]

    def value(option: str) -> str:
        return argv[argv.index(option) + 1]

    assert value("--jars") == f"{appdir}/lib.jar"
    assert value("--py-files") == f"{appdir}/util.py"
    assert value("--files") == f"{appdir}/data.csv,{appdir}/main.py#renamed.py"
    assert value("--archives") == f"{appdir}/env.tar.gz#environment"
    assert value("--driver-memory") == "1g"
    assert value("--driver-cores") == "2"
    assert value("--executor-memory") == "2g"
    assert value("--executor-cores") == "3"
    assert conf_of(argv) == {
        "spark.sql.shuffle.partitions": "4",
        "spark.eventLog.enabled": "true",
        "spark.executor.instances": "4",
        "spark.ui.showConsoleProgress": "false",
    }
    # The main file, then the arguments untouched (an argv list: no shell ever sees them).
    assert argv[-5:] == [f"{appdir}/lib.jar", "--input", "a b", "$(rm -rf /)", "x;y"]


def test_configuration_precedence(appdir: Path) -> None:
    app = make_app(
        appdir,
        sparkConf={
            "a": "user",
            "b": "user",
            "spark.executor.instances": "9",
            "spark.ui.showConsoleProgress": "true",
        },
        executor={"instances": 2},
    )
    argv = build(appdir, app, cluster_conf={"b": "cluster", "c": "cluster"})
    assert conf_of(argv) == {
        "a": "user",
        "b": "cluster",
        "spark.executor.instances": "2",
        "spark.ui.showConsoleProgress": "false",
        "c": "cluster",
    }
    assert sum(arg.startswith("b=") for arg in argv) == 1


@pytest.mark.parametrize("key", ["spark.master", "spark.submit.deployMode"])
def test_master_and_deploy_mode_cannot_be_set_by_the_request(appdir: Path, key: str) -> None:
    with pytest.raises(BadRequest, match=f"sparkConf may not set '{key}'"):
        build(appdir, make_app(appdir, sparkConf={key: "yarn"}))


@pytest.mark.parametrize("key", ["", "a=b", " spark.x"])
def test_malformed_conf_keys_are_refused(appdir: Path, key: str) -> None:
    with pytest.raises(BadRequest, match="not a valid Spark configuration key"):
        build(appdir, make_app(appdir, sparkConf={key: "1"}))


def test_proxy_user_is_recorded_not_passed_by_default(appdir: Path) -> None:
    app = make_app(appdir, proxyUser="alice")
    command = build_command(
        app, spark_submit="spark-submit", master="local[*]", allowed=AllowedDirs([appdir])
    )
    assert "--proxy-user" not in command.argv
    assert command.ignored_proxy_user == "alice"
    passed = build_command(
        app,
        spark_submit="spark-submit",
        master="local[*]",
        allowed=AllowedDirs([appdir]),
        pass_proxy_user=True,
    )
    assert passed.argv[passed.argv.index("--proxy-user") + 1] == "alice"
    assert passed.ignored_proxy_user is None


def test_files_are_checked(appdir: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "x.py").write_text("")
    with pytest.raises(BadRequest, match=r"mainApplicationFile '.*x\.py' is outside"):
        build(appdir, make_app(appdir, mainApplicationFile=str(elsewhere / "x.py")))
    with pytest.raises(BadRequest, match=r"deps\.jars '.*missing\.jar' does not exist"):
        build(appdir, make_app(appdir, deps={"jars": [f"{appdir}/missing.jar"]}))
    with pytest.raises(BadRequest, match="not supported by the local backend"):
        build(appdir, make_app(appdir, deps={"pyFiles": ["s3a://bucket/util.py"]}))
    with pytest.raises(BadRequest, match="must be an absolute path"):
        build(appdir, make_app(appdir, mainApplicationFile="main.py"))
    with pytest.raises(BadRequest, match=r"deps\.packages .* not supported"):
        build(appdir, make_app(appdir, deps={"packages": ["org.example:lib:1.0"]}))


def test_nul_in_an_argument_is_refused(appdir: Path) -> None:
    with pytest.raises(BadRequest, match="NUL"):
        build(appdir, make_app(appdir, arguments=["a\x00b"]))


def cluster(**local: Any) -> ClusterConfig:
    return ClusterConfig(
        name="local",
        id="local",
        type="local",
        namespaces=[NamespaceConfig(name="default", id="dflt")],
        local=LocalBackendConfig(**local),
    )


def test_backend_validate_uses_the_same_rules(appdir: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    data_dir = tmp_path_factory.mktemp("data")
    backend = LocalBackend(cluster(allowedDirs=[appdir]), data_dir)
    backend.validate(make_app(appdir))
    with pytest.raises(BadRequest, match=r"sparkConf may not set 'spark\.master'"):
        backend.validate(make_app(appdir, sparkConf={"spark.master": "local[1]"}))
    bad_name = make_app(appdir)
    bad_name.metadata.name = "../escape"
    with pytest.raises(BadRequest, match="cannot name a local job directory"):
        backend.validate(bad_name)


def test_default_allowed_dirs_are_examples_only(tmp_path: Path, examples_dir: Path) -> None:
    backend = LocalBackend(cluster(), tmp_path, examples_dir=examples_dir)
    assert backend.allowed_dirs.dirs == (Path(os.path.realpath(examples_dir)),)
    assert backend.allowed_dirs.denied == (Path(os.path.realpath(tmp_path)),)
    configured = LocalBackend(cluster(allowedDirs=[tmp_path / "only"]), tmp_path, examples_dir=examples_dir)
    assert configured.allowed_dirs.dirs == (Path(os.path.realpath(tmp_path / "only")),)


def test_cluster_conf_may_not_set_master(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"local\.sparkConf may not set 'spark\.master'"):
        LocalBackend(cluster(sparkConf={"spark.master": "yarn"}), tmp_path)
