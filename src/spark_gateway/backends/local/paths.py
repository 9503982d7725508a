"""Which application files the local backend may hand to `spark-submit`.

A local job reads files from the gateway's own machine, so every path a request names must resolve
(after following symlinks and `..`) inside one of the configured directories, and outside every denied
one (the gateway's data directory: its database, job logs and job records are never a job's input, even
when an allowed directory contains it). Remote schemes are refused outright: the local backend has no
credentials or clients for them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from spark_gateway.domain.errors import BadRequest

_LOCAL_SCHEMES = frozenset({"", "file", "local"})


class AllowedDirs:
    """A fixed set of directories (minus denied ones), each stored as its real path."""

    def __init__(self, dirs: Iterable[Path], denied: Iterable[Path] = ()) -> None:
        self.dirs: tuple[Path, ...] = tuple(dict.fromkeys(Path(os.path.realpath(d)) for d in dirs))
        self.denied: tuple[Path, ...] = tuple(dict.fromkeys(Path(os.path.realpath(d)) for d in denied))

    def __repr__(self) -> str:
        return f"AllowedDirs({[str(d) for d in self.dirs]}, denied={[str(d) for d in self.denied]})"

    def contains(self, real_path: Path) -> bool:
        if any(real_path == d or real_path.is_relative_to(d) for d in self.denied):
            return False
        return any(real_path == d or real_path.is_relative_to(d) for d in self.dirs)

    def resolve(self, location: str, *, what: str, allow_fragment: bool = False) -> str:
        """The real local path `spark-submit` should get for `location`; BadRequest explains a refusal.

        `what` names the field in messages ("mainApplicationFile", "deps.jars", ...). With
        `allow_fragment`, a `#alias` suffix (Spark's rename syntax for --files/--archives) is checked
        separately and kept on the result.
        """
        fragment = ""
        target = location
        if allow_fragment and "#" in location:
            target, _, alias = location.partition("#")
            if not alias or "/" in alias or alias in {".", ".."}:
                raise BadRequest(f"{what} '{location}': invalid '#' alias")
            fragment = "#" + alias
        path = self._local_path(target, location, what)
        real = Path(os.path.realpath(path))
        if any(real == d or real.is_relative_to(d) for d in self.denied):
            raise BadRequest(
                f"{what} '{location}' is inside the gateway's data directory, which jobs may not read"
            )
        if not self.contains(real):
            allowed = ", ".join(str(d) for d in self.dirs) or "(none configured)"
            raise BadRequest(
                f"{what} '{location}' is outside the directories the local backend may read ({allowed})"
            )
        if not real.exists():
            raise BadRequest(f"{what} '{location}' does not exist")
        if not real.is_file():
            raise BadRequest(f"{what} '{location}' is not a regular file")
        return str(real) + fragment

    @staticmethod
    def _local_path(target: str, location: str, what: str) -> str:
        if not target:
            raise BadRequest(f"{what}: empty file name")
        parts = urlsplit(target)
        # A one-letter "scheme" would be a Windows drive; there are none here, so it is just unknown.
        scheme = parts.scheme.lower()
        if scheme not in _LOCAL_SCHEMES:
            raise BadRequest(
                f"{what} '{location}': scheme '{scheme}://' is not supported by the local backend "
                "(use a local path, file:// or local://)"
            )
        if scheme:
            if parts.netloc not in ("", "localhost"):
                raise BadRequest(
                    f"{what} '{location}': host '{parts.netloc}' is not supported by the local backend"
                )
            if parts.query or parts.fragment:
                raise BadRequest(f"{what} '{location}': query strings and fragments are not allowed")
            path = unquote(parts.path)
        else:
            path = target
        if "\x00" in path:
            raise BadRequest(f"{what} '{location}' contains a NUL character")
        if not path.startswith("/"):
            raise BadRequest(f"{what} '{location}' must be an absolute path")
        return path
