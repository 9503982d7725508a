"""A batch that runs for a while (default 300 s): for testing kill and restart behaviour."""

import sys
import time

from pyspark.sql import SparkSession

if __name__ == "__main__":
    spark = SparkSession.builder.appName("Sleeper").getOrCreate()
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 300.0
    spark.sparkContext.parallelize(range(4), 2).count()
    print("sleeper started", flush=True)
    time.sleep(seconds)
    print("sleeper done", flush=True)
    spark.stop()
