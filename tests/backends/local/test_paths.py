"""Which files the local backend may hand to spark-submit: only existing files inside allowed dirs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spark_gateway.backends.local.paths import AllowedDirs
from spark_gateway.domain.errors import BadRequest


@pytest.fixture
def layout(tmp_path: Path) -> tuple[AllowedDirs, Path, Path]:
    allowed = tmp_path / "allowed"
    outside = tmp_path / "outside"
    (allowed / "sub").mkdir(parents=True)
    outside.mkdir()
    (allowed / "job.py").write_text("print('hi')\n")
    (allowed / "sub" / "dep.zip").write_bytes(b"PK")
    (outside / "secret.py").write_text("print('no')\n")
    return AllowedDirs([allowed]), allowed, outside


def test_plain_file_and_local_uris_resolve_to_the_real_path(layout: tuple[AllowedDirs, Path, Path]) -> None:
    dirs, allowed, _ = layout
    real = os.path.realpath(allowed / "job.py")
    assert dirs.resolve(str(allowed / "job.py"), what="f") == real
    assert dirs.resolve(f"file://{allowed}/job.py", what="f") == real
    assert dirs.resolve(f"local://{allowed}/job.py", what="f") == real
    assert dirs.resolve(f"file://localhost{allowed}/job.py", what="f") == real
    assert dirs.resolve(f"{allowed}/sub/../job.py", what="f") == real  # `..` that stays inside is fine


def test_percent_encoded_file_uri(tmp_path: Path) -> None:
    (tmp_path / "a b.py").write_text("")
    assert AllowedDirs([tmp_path]).resolve(f"file://{tmp_path}/a%20b.py", what="f").endswith("/a b.py")


def test_file_outside_allowed_dirs_is_refused(layout: tuple[AllowedDirs, Path, Path]) -> None:
    dirs, _, outside = layout
    with pytest.raises(BadRequest, match=r"mainApplicationFile '.*secret\.py' is outside the directories"):
        dirs.resolve(str(outside / "secret.py"), what="mainApplicationFile")


def test_dotdot_escape_is_refused(layout: tuple[AllowedDirs, Path, Path]) -> None:
    dirs, allowed, _ = layout
    with pytest.raises(BadRequest, match="is outside the directories"):
        dirs.resolve(f"{allowed}/../outside/secret.py", what="f")
    with pytest.raises(BadRequest, match="is outside the directories"):
        dirs.resolve(f"file://{allowed}/sub/../../outside/secret.py", what="f")


def test_symlink_pointing_outside_is_refused(layout: tuple[AllowedDirs, Path, Path]) -> None:
    dirs, allowed, outside = layout
    (allowed / "link.py").symlink_to(outside / "secret.py")
    (allowed / "linkdir").symlink_to(outside, target_is_directory=True)
    with pytest.raises(BadRequest, match=r"'.*link\.py' is outside"):
        dirs.resolve(str(allowed / "link.py"), what="f")
    with pytest.raises(BadRequest, match="is outside"):
        dirs.resolve(str(allowed / "linkdir" / "secret.py"), what="f")


def test_symlinked_allowed_dir_still_works(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.py").write_text("")
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    dirs = AllowedDirs([tmp_path / "alias"])
    real = os.path.realpath(tmp_path / "real" / "a.py")
    assert dirs.resolve(str(tmp_path / "alias" / "a.py"), what="f") == real


def test_missing_file_and_directory_are_refused(layout: tuple[AllowedDirs, Path, Path]) -> None:
    dirs, allowed, _ = layout
    with pytest.raises(BadRequest, match=r"deps\.pyFiles '.*nope\.py' does not exist"):
        dirs.resolve(str(allowed / "nope.py"), what="deps.pyFiles")
    with pytest.raises(BadRequest, match="is not a regular file"):
        dirs.resolve(str(allowed / "sub"), what="f")


@pytest.mark.parametrize("relative", ["job.py", "./job.py", "sub/dep.zip", "file:job.py", "local:job.py"])
def test_relative_paths_are_refused(layout: tuple[AllowedDirs, Path, Path], relative: str) -> None:
    dirs, _, _ = layout
    with pytest.raises(BadRequest, match="must be an absolute path"):
        dirs.resolve(relative, what="f")


@pytest.mark.parametrize(
    "uri",
    ["http://example.com/job.py", "https://example.com/a.jar", "s3a://bucket/job.py", "hdfs:///x/job.py"],
)
def test_remote_schemes_are_not_supported(layout: tuple[AllowedDirs, Path, Path], uri: str) -> None:
    dirs, _, _ = layout
    with pytest.raises(BadRequest, match="not supported by the local backend"):
        dirs.resolve(uri, what="mainApplicationFile")


def test_file_uri_with_a_remote_host_is_refused(layout: tuple[AllowedDirs, Path, Path]) -> None:
    dirs, allowed, _ = layout
    with pytest.raises(BadRequest, match="host 'otherhost' is not supported"):
        dirs.resolve(f"file://otherhost{allowed}/job.py", what="f")


def test_fragment_alias_is_kept_when_allowed(layout: tuple[AllowedDirs, Path, Path]) -> None:
    dirs, allowed, _ = layout
    resolved = dirs.resolve(f"{allowed}/sub/dep.zip#deps", what="deps.archives", allow_fragment=True)
    assert resolved == os.path.realpath(allowed / "sub" / "dep.zip") + "#deps"
    with pytest.raises(BadRequest, match="invalid '#' alias"):
        dirs.resolve(f"{allowed}/sub/dep.zip#../x", what="deps.archives", allow_fragment=True)
    with pytest.raises(BadRequest, match="does not exist"):  # without the option '#' is part of the name
        dirs.resolve(f"{allowed}/sub/dep.zip#deps", what="deps.jars")


def test_nul_and_empty_names_are_refused(layout: tuple[AllowedDirs, Path, Path]) -> None:
    dirs, allowed, _ = layout
    with pytest.raises(BadRequest, match="NUL"):
        dirs.resolve(f"{allowed}/job.py\x00.txt", what="f")
    with pytest.raises(BadRequest, match="NUL"):
        dirs.resolve(f"file://{allowed}/job.py%00", what="f")
    with pytest.raises(BadRequest, match="empty file name"):
        dirs.resolve("", what="f")


def test_no_allowed_dirs_refuses_everything(layout: tuple[AllowedDirs, Path, Path]) -> None:
    _, allowed, _ = layout
    with pytest.raises(BadRequest, match=r"\(none configured\)"):
        AllowedDirs([]).resolve(str(allowed / "job.py"), what="f")
