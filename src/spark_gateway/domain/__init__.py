"""Pure models and rules of the gateway: ids, SparkApplication, states, Livy mapping.

Nothing here performs I/O or imports FastAPI or SQLAlchemy, so every rule can be tested in isolation.
"""
