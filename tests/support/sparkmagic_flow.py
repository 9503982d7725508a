"""Drive sparkmagic's magics in an IPython shell (no browser, no kernel) against a Livy URL.

Run as a script in its own process (sparkmagic keeps global state): `python sparkmagic_flow.py URL`.
Prints one JSON object with what the notebook user would have seen.
"""

from __future__ import annotations

import json
import sys

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output


def main(url: str) -> None:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "sparkmagic.magics")
    results: dict[str, object] = {}
    with capture_output() as added:
        shell.run_line_magic("spark", f"add -s demo -l python -u {url} -t None")
    results["add"] = added.stdout + added.stderr
    with capture_output() as cell:  # a %%spark cell
        shell.run_cell_magic("spark", "", "x = 21\nprint(x * 2)")
    results["spark_cell"] = cell.stdout
    with capture_output() as failed:
        shell.run_cell_magic("spark", "", "1/0")
    results["error_cell"] = failed.stdout + failed.stderr
    with capture_output():  # %%spark -o: a Spark DataFrame comes back as pandas
        shell.run_cell_magic(
            "spark", "-o frame", "frame = spark.range(3).selectExpr('id', 'id * 2 AS twice')"
        )
    results["frame"] = shell.user_ns["frame"].to_dict(orient="list")
    with capture_output():  # a %%sql cell (sparkmagic's -c sql on a pyspark session)
        shell.run_cell_magic(
            "spark", "-c sql -o rows", "SELECT 1 AS one, 'é' AS letter UNION ALL SELECT 2, NULL"
        )
    results["sql"] = (
        shell.user_ns["rows"].astype(object).where(shell.user_ns["rows"].notna(), None).to_dict(orient="list")
    )
    with capture_output() as cleaned:
        shell.run_line_magic("spark", "cleanup")
    results["cleanup"] = cleaned.stdout + cleaned.stderr
    print("RESULTS " + json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1])
