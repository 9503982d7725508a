"""The statement runner: the main program of a Livy session's Spark driver (`spark-submit runner.py`).

It runs inside the driver (standard library and pyspark only), creates the session's SparkSession
once, and then only ever calls out to the gateway, so it works wherever the driver can reach the
gateway even if the gateway cannot reach the driver:

- the main thread long-polls for the next statement, runs it in one persistent namespace (every
  statement in its own Spark job group), and posts the result until the gateway has it;
- a heartbeat thread reports liveness and the running statement's progress (from Spark's status
  tracker); the replies say which statement to cancel (cancelJobGroup, then SIGINT for code that is
  not waiting on Spark) and when to shut down.

The session's secret comes in the environment (`SPARK_GATEWAY_SESSION_SECRET`), never on the command
line. If the gateway stays unreachable for `--gateway-timeout` seconds the runner stops its Spark and
exits instead of holding the cluster.
"""

from __future__ import annotations

import argparse
import ast
import base64
import io
import json
import os
import signal
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
import warnings
from typing import Any, TextIO

SECRET_ENV = "SPARK_GATEWAY_SESSION_SECRET"
PATH = "/api/livy/internal/session-runner"
TRUNCATED = "\n...[output truncated by spark-gateway: {n} more bytes]"


class GatewayGone(Exception):
    """The gateway refused this runner (session removed or secret replaced): stop for good."""


class Gateway:
    """JSON over HTTP to the gateway, retried with back-off while it is unreachable."""

    def __init__(self, url: str, session_id: int, secret: str, timeout: float) -> None:
        self.url = url.rstrip("/") + PATH
        self.headers = {
            "Content-Type": "application/json",
            "X-Spark-Gateway-Session": str(session_id),
            "X-Spark-Gateway-Session-Secret": secret,
            "X-Requested-By": "spark-gateway-session-runner",
        }
        self.timeout = timeout
        self.last_contact = time.monotonic()
        self.lock = threading.Lock()

    def call(self, method: str, name: str, body: Any = None, *, query: str = "", wait: float = 0.0) -> Any:
        data = None if body is None else json.dumps(body).encode("utf-8")
        delay = 0.5
        while True:
            request = urllib.request.Request(
                f"{self.url}/{name}{query}", data=data, method=method, headers=self.headers
            )
            try:
                with urllib.request.urlopen(request, timeout=wait + 30) as response:
                    answer = json.loads(response.read() or b"null")
                with self.lock:
                    self.last_contact = time.monotonic()
                return answer
            except urllib.error.HTTPError as exc:
                if exc.code in (401, 404):
                    raise GatewayGone(f"gateway answered {exc.code} to {name}") from exc
                if exc.code == 413 and name == "result":
                    return {"too_large": True}
                if 400 <= exc.code < 500:
                    raise GatewayGone(f"gateway refused {name}: {exc.code} {exc.read()[:200]!r}") from exc
                problem = f"HTTP {exc.code}"
            except (OSError, ValueError) as exc:
                problem = str(exc)
            if self.gone_for() > self.timeout:
                raise GatewayGone(f"gateway unreachable for {self.gone_for():.0f}s ({problem})")
            log(f"gateway call {name} failed ({problem}); retrying in {delay:.1f}s")
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def gone_for(self) -> float:
        with self.lock:
            return time.monotonic() - self.last_contact


def log(message: str) -> None:
    print(f"spark-gateway session runner: {message}", file=sys.__stderr__, flush=True)


class BoundedWriter(io.TextIOBase):
    """Collects what a statement prints, keeping at most `limit` bytes and counting the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        encoded = len(text.encode("utf-8", "replace"))
        room = self.limit - self.size
        if encoded <= room:
            self.parts.append(text)
            self.size += encoded
        else:
            if room > 0:
                kept = text.encode("utf-8", "replace")[:room].decode("utf-8", "ignore")
                self.parts.append(kept)
                self.size += room
                encoded -= room
            self.dropped += encoded
        return len(text)

    def value(self) -> str:
        text = "".join(self.parts).rstrip()
        return text + TRUNCATED.format(n=self.dropped) if self.dropped else text


class Interpreter:
    """One persistent Python namespace plus SQL, with Livy's output shapes."""

    def __init__(self, spark: Any, max_output: int, sql_max_rows: int) -> None:
        self.spark = spark
        self.sc = spark.sparkContext
        self.max_output = max_output
        self.sql_max_rows = sql_max_rows
        self.namespace: dict[str, Any] = {"__name__": "__main__", "spark": spark, "sc": self.sc}
        try:
            from pyspark.sql import SQLContext

            self.namespace["sqlContext"] = SQLContext(self.sc, spark)
        except Exception as exc:  # SQLContext is deprecated; sessions work without it
            log(f"no sqlContext: {exc}")

    def run(self, statement_id: int, code: str, kind: str) -> dict[str, Any]:
        self.sc.setJobGroup(str(statement_id), f"Livy statement {statement_id}", True)
        if kind == "sql":
            return self._sql(code)
        return self._python(code)

    def _python(self, code: str) -> dict[str, Any]:
        out = BoundedWriter(self.max_output)
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = out
        data: dict[str, Any] = {}
        try:
            for chunk, magic in _chunks(code):
                if magic is None:
                    self._exec(chunk)
                else:
                    data.update(self._magic(magic, chunk))
        except BaseException as exc:
            if isinstance(exc, SystemExit | GatewayGone):
                raise
            return self._error(exc)
        finally:
            sys.stdout, sys.stderr = saved
        text = out.value()
        if text or not data:  # Livy drops an empty text/plain when a magic produced another type
            data["text/plain"] = text
        return {"status": "ok", "data": data}

    def _exec(self, code: str) -> None:
        tree = ast.parse(code, "<stdin>", "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Interactive([tree.body.pop()])
        exec(compile(tree, "<stdin>", "exec"), self.namespace)
        if last is not None:
            exec(compile(last, "<stdin>", "single"), self.namespace)

    def _magic(self, name: str, expression: str) -> dict[str, Any]:
        """Livy's `%json`, `%table` and `%matplot` magics."""
        if name not in ("json", "table", "matplot"):
            raise UnknownMagic(f"unknown magic command '{name}'")
        value = eval(compile(expression or "None", "<stdin>", "eval"), self.namespace)
        if name == "json":
            json.dumps(value)  # refuse what is not JSON now, not when the result is posted
            return {"application/json": value}
        if name == "table":
            return {"application/vnd.livy.table.v1+json": _table(value)}
        figure = io.BytesIO()
        value.gcf().savefig(figure, format="png")
        return {"image/png": base64.b64encode(figure.getvalue()).decode("ascii")}

    def _sql(self, code: str) -> dict[str, Any]:
        try:
            frame = self.spark.sql(code)
            schema = frame.schema.jsonValue()
            names = [f["name"] for f in schema["fields"]]
            rows = [json.loads(r) for r in frame.toJSON().take(self.sql_max_rows)]
            data = [[row.get(name) for name in names] for row in rows]
        except BaseException as exc:
            if isinstance(exc, SystemExit | GatewayGone):
                raise
            return self._error(exc, ename="Error")
        result = {"status": "ok", "data": {"application/json": {"schema": schema, "data": data}}}
        if len(json.dumps(result)) > self.max_output:
            return self._error(ValueError(f"SQL result larger than {self.max_output} bytes; add a LIMIT"))
        return result

    def _error(self, exc: BaseException, ename: str | None = None) -> dict[str, Any]:
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != "<stdin>":
            tb = tb.tb_next  # drop the runner's own frames, keep the user's
        if isinstance(exc, SyntaxError) or tb is None:
            lines = traceback.format_exception_only(type(exc), exc)
        else:
            lines = traceback.format_exception(type(exc), exc, tb)
        evalue = str(exc)
        if len(evalue) > self.max_output:
            evalue = evalue[: self.max_output] + TRUNCATED.format(n=len(evalue) - self.max_output)
        budget, kept = self.max_output, list[str]()
        for line in lines:
            if budget - len(line) < 0:
                rest = sum(len(x) for x in lines[len(kept) :])
                kept.append(TRUNCATED.format(n=rest).lstrip("\n"))
                break
            kept.append(line)
            budget -= len(line)
        return {"status": "error", "ename": ename or type(exc).__name__, "evalue": evalue, "traceback": kept}


class Runner:
    def __init__(self, args: argparse.Namespace, secret: str) -> None:
        self.args = args
        self.gateway = Gateway(args.gateway, args.session, secret, args.gateway_timeout)
        self.lock = threading.Lock()
        self.current: int | None = None  # the statement the main thread is running
        self.cancel_requested: dict[int, float] = {}
        self.stopping = threading.Event()
        self.main_thread = threading.get_ident()
        self.interpreter: Interpreter | None = None

    def start(self) -> None:
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.getOrCreate()
        # Warnings go to the driver log, not into outputs: clients parse printed lines (sparkmagic's
        # %%sql, pylivy's download) and a warning line among them breaks the parse.
        warnings.showwarning = _warning_to_log
        # Cancel sends SIGINT to this thread: it becomes a KeyboardInterrupt in the statement.
        signal.signal(signal.SIGINT, _raise_keyboard_interrupt)
        self.interpreter = Interpreter(spark, self.args.max_output, self.args.sql_max_rows)
        answer = self.gateway.call("POST", "register", {"appId": spark.sparkContext.applicationId})
        log(f"registered session {self.args.session} ({spark.sparkContext.applicationId})")
        if answer.get("shutdown"):
            raise GatewayGone("the session was stopped before its driver was up")

    def serve(self) -> None:
        threading.Thread(target=self._heartbeats, name="heartbeat", daemon=True).start()
        while not self.stopping.is_set():
            try:
                answer = self.gateway.call("GET", "next", query="?wait=20", wait=20)
                if answer.get("shutdown"):
                    log("the gateway ended the session")
                    return
                statement = answer.get("statement")
                if statement:
                    self._execute(statement)
            except KeyboardInterrupt:
                log("late interrupt ignored")

    def _execute(self, statement: dict[str, Any]) -> None:
        statement_id = int(statement["id"])
        assert self.interpreter is not None
        with self.lock:
            self.current = statement_id
        cancelled = False
        try:
            output = self.interpreter.run(statement_id, statement["code"], statement.get("kind", "pyspark"))
        except KeyboardInterrupt:
            output = {
                "status": "error",
                "ename": "KeyboardInterrupt",
                "evalue": "statement cancelled",
                "traceback": [],
            }
        finally:
            with self.lock:
                self.current = None
                cancelled = self.cancel_requested.pop(statement_id, None) is not None
        body = {"id": statement_id, "output": output, "cancelled": cancelled}
        if len(json.dumps(body)) > self.args.max_body:
            body["output"] = _too_large(self.args.max_body)
        answer = self.gateway.call("POST", "result", body)
        if isinstance(answer, dict) and answer.get("too_large"):
            self.gateway.call("POST", "result", {**body, "output": _too_large(self.args.max_body)})

    def _heartbeats(self) -> None:
        while not self.stopping.is_set():
            with self.lock:
                current = self.current
            try:
                body = {"statement": current, "progress": self._progress(current)}
                answer = self.gateway.call("POST", "heartbeat", body)
            except GatewayGone as exc:
                log(f"stopping: {exc}")
                self.shutdown(exit_code=3)
                return
            if answer.get("shutdown"):
                log("the gateway ended the session")
                self.shutdown(exit_code=0)
                return
            for statement_id in answer.get("cancel") or []:
                self._cancel(int(statement_id))
            time.sleep(0.5 if current is not None else 3.0)

    def _progress(self, statement_id: int | None) -> float | None:
        if statement_id is None or self.interpreter is None:
            return None
        try:
            tracker = self.interpreter.sc.statusTracker()
            total = done = 0
            for job_id in tracker.getJobIdsForGroup(str(statement_id)):
                job = tracker.getJobInfo(job_id)
                for stage_id in job.stageIds if job is not None else []:
                    stage = tracker.getStageInfo(stage_id)
                    if stage is not None:
                        total += stage.numTasks
                        done += stage.numCompletedTasks
            return done / total if total else 0.0
        except Exception as exc:
            log(f"progress unavailable: {exc}")
            return None

    def _cancel(self, statement_id: int) -> None:
        assert self.interpreter is not None
        with self.lock:
            if self.current != statement_id:
                return
            first = self.cancel_requested.setdefault(statement_id, time.monotonic())
        self.interpreter.sc.cancelJobGroup(str(statement_id))
        if time.monotonic() - first >= 1.0:
            with self.lock:
                if self.current == statement_id:  # still running: interrupt pure-Python code too
                    signal.pthread_kill(self.main_thread, signal.SIGINT)

    def shutdown(self, exit_code: int) -> None:
        self.stopping.set()
        if self.interpreter is not None:
            try:
                self.interpreter.spark.stop()
            except Exception as exc:
                log(f"stopping Spark failed: {exc}")
        os._exit(exit_code)


class UnknownMagic(Exception):
    pass


def _chunks(code: str) -> list[tuple[str, str | None]]:
    """Code as Python blocks and `%magic expression` lines; magics only when the whole is not Python."""
    try:
        ast.parse(code, "<stdin>", "exec")
        return [(code, None)]
    except SyntaxError:
        if not any(line.startswith("%") for line in code.splitlines()):
            raise
    chunks: list[tuple[str, str | None]] = []
    block: list[str] = []
    for line in code.splitlines():
        if line.startswith("%"):
            if block:
                chunks.append(("\n".join(block), None))
                block = []
            name, _, expression = line[1:].partition(" ")
            chunks.append((expression.strip(), name))
        else:
            block.append(line)
    if block:
        chunks.append(("\n".join(block), None))
    return chunks


_TABLE_TYPES = [(bool, "BOOLEAN_TYPE"), (int, "INT_TYPE"), (float, "DOUBLE_TYPE"), (str, "STRING_TYPE")]


def _table(value: Any) -> dict[str, Any]:
    """Livy's table shape from a list of dicts (columns by key) or of lists (columns by position)."""
    rows = list(value)
    if rows and all(isinstance(r, dict) for r in rows):
        names = list(dict.fromkeys(k for r in rows for k in r))
        data = [[r.get(n) for n in names] for r in rows]
    else:
        data = [list(r) for r in rows]
        names = [str(i) for i in range(max((len(r) for r in data), default=0))]
    headers = []
    for index, name in enumerate(names):
        sample = next((r[index] for r in data if index < len(r) and r[index] is not None), None)
        kind = next((t for cls, t in _TABLE_TYPES if isinstance(sample, cls)), "STRING_TYPE")
        headers.append({"name": str(name), "type": "NULL_TYPE" if sample is None else kind})
    json.dumps(data)
    return {"headers": headers, "data": data}


def _too_large(limit: int) -> dict[str, Any]:
    return {
        "status": "error",
        "ename": "OutputTooLarge",
        "evalue": f"the statement's output exceeds the gateway's request limit ({limit} bytes)",
        "traceback": [],
    }


def _warning_to_log(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    log(warnings.formatwarning(message, category, filename, lineno).rstrip())


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--session", type=int, required=True)
    parser.add_argument("--max-output", type=int, default=256 * 1024)
    parser.add_argument("--max-body", type=int, default=1024 * 1024)
    parser.add_argument("--sql-max-rows", type=int, default=1000)
    parser.add_argument("--gateway-timeout", type=float, default=600.0)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    secret = os.environ.pop(SECRET_ENV, "")
    if not secret:
        log(f"{SECRET_ENV} is not set")
        return 2
    runner = Runner(args, secret)
    try:
        runner.start()
        runner.serve()
    except GatewayGone as exc:
        log(f"stopping: {exc}")
        runner.shutdown(exit_code=3)
    runner.shutdown(exit_code=0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
