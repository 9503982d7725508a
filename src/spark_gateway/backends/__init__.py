"""Cluster backends: one module per cluster kind behind the small interface in `base`."""
