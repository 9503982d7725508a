"""Credentials and chains for the end-to-end security tests (a real `spark-gateway serve` per chain).

The gateway process listens on 127.0.0.1 and the tests connect from there, so `LOCALHOST` as
`trustedProxies` makes the test client the authenticating proxy, and `ELSEWHERE` makes it an ordinary,
untrusted client.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.api.security.helpers import basic, write_htpasswd

# carol has a password but is on no allow list; svc-shadow is a person whose name looks like a service.
PASSWORDS = {
    "alice": "pw-alice",
    "bob": "pw-bob",
    "root": "pw-root",
    "carol": "pw-carol",
    "svc-shadow": "pw-s",
}
TOKENS = {"svc-airflow": "tok-airflow-0123456789", "svc-spark": "tok-spark-0123456789"}
LOCALHOST = ["127.0.0.1/32"]
ELSEWHERE = ["10.0.0.0/8"]
EXAMPLE_FILE = str(Path(__file__).resolve().parents[2] / "examples" / "pi.py")
FAKE_SPARK_SUBMIT = """#!/bin/sh
echo "fake driver: $*"
sleep 1
"""

__all__ = ["basic"]


def basic_auth(tmp_path: Path) -> dict[str, Any]:
    htpasswd = write_htpasswd(tmp_path / "htpasswd", PASSWORDS)
    return {"type": "BasicAuthMiddleware", "conf": {"htpasswdFile": str(htpasswd)}}


def service_tokens(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "service-tokens.yaml"
    path.write_text("".join(f'{name}: "{token}"\n' for name, token in TOKENS.items()))
    return {"type": "ServiceTokenAuthMiddleware", "conf": {"serviceTokenMapFile": str(path)}}


def allow(*patterns: str, trusted: list[str] | None = None) -> dict[str, Any]:
    conf: dict[str, Any] = {"allow": list(patterns)}
    if trusted is not None:
        conf["trustedProxies"] = trusted
    return {"type": "RegexBasicAuthAllowMiddleware", "conf": conf}


def header_auth(trusted: list[str]) -> dict[str, Any]:
    return {
        "type": "HeaderAuthMiddleware",
        "conf": {"headers": [{"key": "X-Forwarded-User"}], "trustedProxies": trusted},
    }


def readme_chain(tmp_path: Path) -> list[dict[str, Any]]:
    """The README's chain: passwords, service tokens, then the allow list."""
    return [basic_auth(tmp_path), service_tokens(tmp_path), allow("alice", "bob", "root", "svc-[a-z]+")]


def gateway_config(tmp_path: Path, middleware: list[dict[str, Any]], **gateway: Any) -> dict[str, Any]:
    """A gateway whose local cluster runs a stand-in spark-submit (jobs start and keep running)."""
    script = tmp_path / "fake-spark-submit"
    script.write_text(FAKE_SPARK_SUBMIT)
    script.chmod(0o755)
    return {
        "gateway": {"middleware": middleware, "authorization": {"admins": ["root"]}, **gateway},
        "clusters": [
            {
                "name": "local",
                "id": "local",
                "type": "local",
                "namespaces": [{"name": "default", "id": "dflt"}],
                "local": {"sparkSubmit": str(script), "killGracePeriodSeconds": 1},
            }
        ],
    }


def create_batch(http: Any, headers: dict[str, str]) -> Any:
    """POST a batch as whoever `headers` prove; the answer's `owner` shows whom the gateway believed."""
    return http.post("/api/livy/batches", json={"file": EXAMPLE_FILE}, headers=headers)
