"""The statement runner's parts that need no Spark: gateway calls, bounded capture, error outputs."""

from __future__ import annotations

import socket
import time

import pytest

from spark_gateway.session_runner import runner


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_gateway_gone_longer_than_the_timeout_stops_the_runner() -> None:
    gateway = runner.Gateway(f"http://127.0.0.1:{closed_port()}", 0, "secret", timeout=1.0)
    began = time.monotonic()
    with pytest.raises(runner.GatewayGone, match="unreachable"):
        gateway.call("POST", "heartbeat", {})
    assert 1.0 <= time.monotonic() - began < 10


def test_captured_output_is_bounded_with_a_marker() -> None:
    out = runner.BoundedWriter(limit=10)
    for _ in range(1000):
        out.write("abcdef\n")
    text = out.value()
    assert text.startswith("abcdef\nabc")
    assert text.endswith(f"[output truncated by spark-gateway: {7000 - 10} more bytes]")


def test_error_outputs_keep_only_the_users_frames() -> None:
    interpreter = object.__new__(runner.Interpreter)
    interpreter.max_output = 10_000
    namespace: dict[str, object] = {}
    try:
        exec(compile("def f():\n    return 1/0\nf()", "<stdin>", "exec"), namespace)
    except ZeroDivisionError as exc:
        output = interpreter._error(exc)
    assert output["ename"] == "ZeroDivisionError" and output["evalue"] == "division by zero"
    assert output["traceback"][0] == "Traceback (most recent call last):\n"
    assert 'File "<stdin>", line 2, in f' in "".join(output["traceback"])
    assert "test_runner.py" not in "".join(output["traceback"])


def test_magics_are_lines_only_when_the_code_is_not_python() -> None:
    assert runner._chunks("x = 1\n%json x") == [("x = 1", None), ("x", "json")]
    assert runner._chunks("a = 5 % 3") == [("a = 5 % 3", None)]
    with pytest.raises(SyntaxError):
        runner._chunks("1 +")


def test_tables_take_columns_from_dicts_or_positions() -> None:
    assert runner._table([{"a": 1, "b": "x"}, {"a": 2, "b": None}]) == {
        "headers": [{"name": "a", "type": "INT_TYPE"}, {"name": "b", "type": "STRING_TYPE"}],
        "data": [[1, "x"], [2, None]],
    }
    assert runner._table([[True, 1.5]])["headers"] == [
        {"name": "0", "type": "BOOLEAN_TYPE"},
        {"name": "1", "type": "DOUBLE_TYPE"},
    ]
