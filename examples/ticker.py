"""A batch that prints a numbered line every half second (default for 120 s): a log to watch grow."""

import sys
import time

from pyspark.sql import SparkSession

if __name__ == "__main__":
    spark = SparkSession.builder.appName("Ticker").getOrCreate()
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 120.0
    spark.sparkContext.parallelize(range(2), 1).count()
    deadline = time.monotonic() + seconds
    tick = 0
    while time.monotonic() < deadline:
        tick += 1
        print(f"tick {tick}", flush=True)
        time.sleep(0.5)
    spark.stop()
