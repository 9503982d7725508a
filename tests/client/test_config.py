"""Credentials and base URL from arguments or the environment, and the headers each kind sends."""

from __future__ import annotations

import base64

import httpx
import pytest

from spark_gateway.client.calls import new_lines
from spark_gateway.client.config import DEFAULT_URL, Connection


def test_arguments_win_over_the_environment_and_credentials_come_from_one_source() -> None:
    env = {
        "SPARK_GATEWAY_URL": "https://gw.example/",
        "SPARK_GATEWAY_USER": "eve",
        "SPARK_GATEWAY_TOKEN": "t",
    }
    assert Connection.resolve(env=env) == Connection("https://gw.example", "eve", None, "t")
    given = Connection.resolve("http://other:1", user="bob", password="pw", env=env)
    assert given == Connection("http://other:1", "bob", "pw", None)
    assert Connection.resolve(env={}) == Connection(DEFAULT_URL)


def test_each_kind_of_credentials_becomes_its_headers() -> None:
    basic = Connection.resolve("http://gw", user="bob", password="pw", env={})
    request = next(basic.auth().auth_flow(httpx.Request("GET", "http://gw")))  # type: ignore[union-attr]
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"bob:pw").decode()
    service = Connection.resolve("http://gw", user="svc", token="tok", env={})
    assert service.auth() is None
    assert service.headers() == {"X-Spark-Gateway-User": "svc", "X-Spark-Gateway-Token": "tok"}
    assert Connection.resolve("http://gw", token="tok", env={}).headers() == {"Authorization": "Bearer tok"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"user": "u", "password": "p", "token": "t"}, "not both"),
        ({"password": "p"}, "needs a user name"),
        ({"url": "gw:8080"}, "must start with http"),
    ],
)
def test_contradictory_settings_are_refused_with_a_reason(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Connection.resolve(env={}, **kwargs)


def test_following_a_log_window_shows_each_line_once() -> None:
    assert new_lines([], ["a", "b"]) == ["a", "b"]
    assert new_lines(["a", "b", "c"], ["b", "c", "d", "e"]) == ["d", "e"]
    assert new_lines(["x", "x"], ["x", "x", "x"]) == ["x"]
    assert new_lines(["a", "b"], ["c", "d"]) == ["c", "d"]  # the window moved past everything seen
    assert new_lines(["a", "b"], ["a", "b"]) == []
