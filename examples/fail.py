"""A batch that fails on purpose: its traceback must reach the gateway's log."""

from pyspark.sql import SparkSession

if __name__ == "__main__":
    spark = SparkSession.builder.appName("FailOnPurpose").getOrCreate()
    spark.sparkContext.parallelize(range(10), 2).count()
    raise RuntimeError("this batch fails on purpose")
