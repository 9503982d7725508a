"""Reading the driver's log: whole lines only (a partial line waits for its end), and the facts Spark
prints there (UI address, application id, the last exception)."""

from __future__ import annotations

from pathlib import Path

from spark_gateway.backends.local.driverlog import SparkFacts, last_exception, read_new_lines


def test_log_reading_keeps_partial_lines_for_later(tmp_path: Path) -> None:
    log = tmp_path / "driver.log"
    log.write_bytes(b"one\r\ntwo\nthr")
    chunk = read_new_lines(log, 0)
    assert chunk is not None and (chunk.lines, chunk.new_offset) == (["one", "two"], 9)
    with log.open("ab") as handle:
        handle.write(b"ee\nfour")
    chunk = read_new_lines(log, 9)
    assert chunk is not None and chunk.lines == ["three"]
    final = read_new_lines(log, chunk.new_offset, final=True)
    assert final is not None and (final.lines, final.at_eof) == (["four"], True)
    assert read_new_lines(tmp_path / "missing.log", 0) is None


def test_spark_log_facts() -> None:
    facts = SparkFacts()
    facts.scan(
        [
            "26/11/28 15:45:10 INFO SparkContext: Submitted application: PythonPi",
            "26/11/28 15:45:12 INFO JettyUtils: Start Jetty 127.0.0.1:4040 for SparkUI",
            "26/11/28 15:45:12 WARN Utils: Service 'SparkUI' could not bind on port 4040. Attempting 4041.",
            "26/11/28 15:45:12 INFO Utils: Successfully started service 'SparkUI' on port 4041.",
        ]
    )
    # Only a candidate port: the backend fetches it once the job's processes listen on it.
    assert (facts.started, facts.ui_ports, facts.ui_url, facts.app_id) == (True, [4041], None, None)
    spark35 = SparkFacts()
    spark35.scan(
        ["26/11/28 15:45:12 INFO SparkUI: Bound SparkUI to 0.0.0.0, and started at http://host:4040"]
    )
    assert (spark35.started, spark35.ui_ports) == (True, [4040])
    assert last_exception(["Traceback:", "RuntimeError: this batch fails on purpose", "INFO x: done"]) == (
        "RuntimeError: this batch fails on purpose"
    )
    assert last_exception(['Exception in thread "main" java.lang.ClassNotFoundException: Foo']) == (
        "java.lang.ClassNotFoundException: Foo"
    )
    assert last_exception(["26/11/28 15:45:12 ERROR SparkContext: Error initializing SparkContext."]) is None
