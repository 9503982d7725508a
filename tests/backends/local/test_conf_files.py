"""Files named in configuration follow the rules of the matching field on the local backend.

`spark.jars` is `jars` under another name: the same allowed directories, the same refusal of remote
schemes, the same real-path rewriting; Maven keys are refused like `deps.packages`; the data directory
is never readable, even when an allowed directory contains it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spark_gateway.backends.local import LocalBackend
from spark_gateway.backends.local.paths import AllowedDirs
from spark_gateway.domain.errors import BadRequest
from tests.backends.local.test_command import appdir, build, cluster, conf_of, make_app

__all__ = ["appdir"]  # the fixture, shared with test_command

FILE_KEYS = ["spark.jars", "spark.submit.pyFiles", "spark.files", "spark.archives"]


@pytest.mark.parametrize("key", FILE_KEYS)
def test_files_in_conf_outside_the_allowed_dirs_are_refused(
    appdir: Path, key: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "evil.jar").write_text("x")
    for value, fragment in [
        ("/etc/passwd", "outside the directories"),
        (f"{appdir}/lib.jar,{elsewhere}/evil.jar", "outside the directories"),
        (f"{appdir}/../{elsewhere.name}/evil.jar", "outside the directories"),
        ("hdfs://namenode/evil.jar", "scheme 'hdfs://'"),
        ("https://evil.example/evil.jar", "scheme 'https://'"),
        ("lib.jar", "must be an absolute path"),
        (f"{appdir}/missing.jar", "does not exist"),
    ]:
        with pytest.raises(BadRequest, match=rf"sparkConf '{key}' \(like \w+\) '.*'.*{fragment}"):
            build(appdir, make_app(appdir, sparkConf={key: value}))


def test_files_in_conf_inside_the_allowed_dirs_reach_spark_submit_as_real_paths(appdir: Path) -> None:
    (appdir / "link.jar").symlink_to(appdir / "lib.jar")
    argv = build(
        appdir,
        make_app(
            appdir,
            sparkConf={
                "spark.jars": f"file://{appdir}/link.jar, {appdir}/lib.jar",
                "spark.submit.pyFiles": f"local://{appdir}/util.py",
                "spark.files": f"{appdir}/data.csv#input.csv",
                "spark.archives": f"{appdir}/env.tar.gz#env",
            },
        ),
    )
    conf = conf_of(argv)
    assert conf["spark.jars"] == f"{appdir}/lib.jar,{appdir}/lib.jar"
    assert conf["spark.submit.pyFiles"] == f"{appdir}/util.py"
    assert conf["spark.files"] == f"{appdir}/data.csv#input.csv"
    assert conf["spark.archives"] == f"{appdir}/env.tar.gz#env"


@pytest.mark.parametrize("key", ["spark.jars.packages", "spark.jars.repositories", "spark.jars.excludes"])
def test_maven_keys_are_refused_like_deps_packages(appdir: Path, key: str) -> None:
    with pytest.raises(BadRequest, match=rf"sparkConf '{key}' \(Maven packages\) is not supported"):
        build(appdir, make_app(appdir, sparkConf={key: "org.example:lib:1.0"}))
    with pytest.raises(BadRequest, match=r"deps\.repositories .* not supported"):
        build(appdir, make_app(appdir, deps={"repositories": ["https://repo.example/maven"]}))


def test_hadoop_conf_reaches_spark_submit_as_spark_hadoop_keys(appdir: Path) -> None:
    conf = conf_of(build(appdir, make_app(appdir, hadoopConf={"fs.s3a.endpoint": "http://minio:9000"})))
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://minio:9000"
    with pytest.raises(BadRequest, match="hadoopConf: 'fs s3a' is not a valid Spark configuration key"):
        build(appdir, make_app(appdir, hadoopConf={"fs s3a": "x"}))


def test_the_data_directory_is_never_readable(appdir: Path) -> None:
    """Even when an operator's allowed directory contains it (here: the data dir inside the app dir)."""
    data = appdir / "data"
    (data / "jobs" / "other").mkdir(parents=True)
    (data / "spark-gateway.db").write_text("x")
    (data / "jobs" / "other" / "driver.log").write_text("x")
    allowed = AllowedDirs([appdir], denied=[data])
    for location in (str(data / "spark-gateway.db"), f"{appdir}/./data/jobs/other/driver.log"):
        for app in (
            make_app(appdir, mainApplicationFile=location),
            make_app(appdir, deps={"files": [location]}),
            make_app(appdir, sparkConf={"spark.files": location}),
        ):
            with pytest.raises(BadRequest, match="inside the gateway's data directory"):
                build(appdir, app, allowed=allowed)
    build(appdir, make_app(appdir), allowed=allowed)  # the rest of the directory stays usable


def test_backend_denies_its_data_directory_even_when_allowed(appdir: Path) -> None:
    data = appdir / "data"
    data.mkdir()
    (data / "audit.log").write_text("x")
    backend = LocalBackend(cluster(allowedDirs=[appdir]), data)
    assert backend.allowed_dirs.denied == (Path(os.path.realpath(data)),)
    with pytest.raises(BadRequest, match="inside the gateway's data directory"):
        backend.validate(make_app(appdir, mainApplicationFile=str(data / "audit.log")))
