"""Spark Gateway: a Livy-compatible and native REST front door for Spark applications."""
