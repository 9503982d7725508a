"""Faithful stand-ins for external systems (a Kubernetes API server with a spark-operator), over real HTTP."""
