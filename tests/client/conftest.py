"""One real gateway process per test module, with Basic and service-token auth and two clusters.

`local` (namespace `default`) runs real Spark; `quick` (namespace `quick`) runs a stand-in
`spark-submit` that behaves like a short driver (announces its start, prints lines, exits with a
chosen code), so most client and CLI calls cost no JVM.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from tests.e2e.conftest import REPO, GatewayProcess, free_port

EXAMPLES = REPO / "examples"
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw"}
SERVICE_TOKENS = {"svc-ci": "ci-token-123"}

# Arguments `lines=N` (printed `gap=S` apart, default 0.2 s), `sleep=S` (before exiting), `exit=C`,
# `gate=PATH` (print the lines only once PATH exists, at most 120 s on: a test's signal to go on).
FAKE_SPARK_SUBMIT = """#!/bin/sh
lines=3; gap=0.2; pause=0; code=0; gate=
for arg; do
  case "$arg" in
    lines=*) lines="${arg#lines=}";; gap=*) gap="${arg#gap=}";;
    sleep=*) pause="${arg#sleep=}";; exit=*) code="${arg#exit=}";; gate=*) gate="${arg#gate=}";;
  esac
done
echo "$(date +'%y/%m/%d %H:%M:%S') INFO SparkContext: Submitted application: fake"
n=0
while [ -n "$gate" ] && [ ! -e "$gate" ] && [ "$n" -lt 1200 ]; do sleep 0.1; n=$((n + 1)); done
i=1
while [ "$i" -le "$lines" ]; do echo "fake line $i"; i=$((i + 1)); sleep "$gap"; done
sleep "$pause"
echo "fake driver exits with $code"
exit "$code"
"""


@dataclass
class Gateway:
    process: GatewayProcess
    env: dict[str, str]

    @property
    def url(self) -> str:
        return self.process.url

    def log_tail(self) -> str:
        return self.process.log_path.read_text()[-3000:]


def gateway_config(tmp: Path, **extra: Any) -> dict[str, Any]:
    htpasswd = tmp / "htpasswd"
    htpasswd.write_text(
        "".join(
            f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(4)).decode()}\n" for u, p in PASSWORDS.items()
        )
    )
    tokens = tmp / "service-tokens.yaml"
    tokens.write_text(yaml.safe_dump(SERVICE_TOKENS))
    fake = tmp / "fake-spark-submit"
    fake.write_text(FAKE_SPARK_SUBMIT)
    fake.chmod(0o755)
    return {
        "dataDir": str(tmp / "data"),
        "clusters": [
            {
                "name": "local",
                "id": "local",
                "type": "local",
                "namespaces": [{"name": "default", "id": "dflt"}],
                "local": {"pollIntervalSeconds": 0.2},
            },
            {
                "name": "quick",
                "id": "quick",
                "type": "local",
                "namespaces": [{"name": "quick", "id": "qk"}],
                "local": {"sparkSubmit": str(fake), "pollIntervalSeconds": 0.2, "maxConcurrentJobs": 8},
            },
        ],
        "gateway": {
            "middleware": [
                {"type": "BasicAuthMiddleware", "conf": {"htpasswdFile": str(htpasswd)}},
                {"type": "ServiceTokenAuthMiddleware", "conf": {"serviceTokenMapFile": str(tokens)}},
            ]
        },
        **extra,
    }


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, spark_env: dict[str, str]) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("gateway")
    conf = tmp / "gateway.yaml"
    conf.write_text(yaml.safe_dump(gateway_config(tmp)))
    env = dict(spark_env)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    for key in [k for k in env if k.startswith("SPARK_GATEWAY_")]:
        del env[key]
    process = GatewayProcess(conf, free_port(), tmp / "gateway.log", env).start()
    try:
        yield Gateway(process, env)
    finally:
        process.stop()
